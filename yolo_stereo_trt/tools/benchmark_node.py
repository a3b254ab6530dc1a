"""benchmark_node: what the node costs on this machine, against the floor any Python subscriber pays.

  benchmark_node --model M [--hz 20] [--seconds 30] [--size 1280x720] [--compressed] [--json]

Starts the real stereo_detector node (this installation's console script, in its own process)
and then a minimal rclpy relay (its own process: subscribes to both image topics and publishes
an empty PointCloud2 on `cones` per pair, the floor any Python subscriber pays for two frames of
that size over DDS), one after the other, and feeds each the same stereo pairs (synthetic frames
rendered once) at --hz, with camera_info, every message stamped at publish time. After a
warm-up it measures for --seconds and prints for both: pairs out / in, stamp -> `cones` latency
p50/p90/p99, CPU time of the process per pair in (ms, from /proc), and the node/relay ratios;
plus the node's per-stage medians from /diagnostics (latency_<stage>_ms_p50, its last 100
pairs) and its host work (total - inference). Markdown, or one JSON object with --json.

Transports are the deployment's choice and are set in every process started here: an exported
FASTDDS_BUILTIN_TRANSPORTS or FASTDDS_/FASTRTPS_DEFAULT_PROFILES_FILE is kept; otherwise the package's
shared-memory profile config/fastdds_shm.xml when it exists, else
FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (docs/car.md, transports). Each run uses its own DDS domain
(random unless --domain-id), so it disturbs nothing else on the machine.

With --compressed the relay does not decode the JPEGs (the floor is receiving them); the node's
`convert` stage shows what decoding costs it. For the node's own cost, give it a nearly free model: `make_demo_model --constant-from
models/yolo12n_synthetic_cones.onnx --out constant.onnx` replays the shipped model's output on
the first pair published here (17 cones), whatever the input.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..core.cli import (guarded, input_file_of, non_negative_float, non_negative_int,
                        positive_float, positive_int)

NAMESPACE = "/benchmark"
STAGES = ("convert", "preprocess", "inference", "decode", "stereo", "publish", "total")


class BenchmarkError(RuntimeError):
    """A subject did not start or did not answer: the report names which and why."""


# ----------------------------------------------------------------------------- environment
def transport_env() -> tuple[dict[str, str], str]:
    """The Fast DDS transport settings every process gets, and a description of them."""
    env = dict(os.environ)
    env.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)  # LOCALHOST stops LARGE_DATA images here
    from ..core.paths import use_large_image_transport
    chosen = use_large_image_transport(env)
    return env, (f"shared-memory profile {chosen}" if Path(chosen).is_file() else chosen)


def _stat_cpu_s(stat: Path) -> float:
    """User + system CPU seconds from a /proc .../stat file (OSError, IndexError, ValueError)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; psutil elsewhere)."""
    try:
        return _stat_cpu_s(Path(f"/proc/{pid}/stat"))
    except (OSError, IndexError, ValueError):
        pass
    try:
        import psutil  # type: ignore[import-untyped]
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except Exception:  # no psutil, or the process is gone
        return None


def thread_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """Per thread of a process: (its OS name, user + system CPU seconds so far); {} off Linux."""
    out: dict[int, tuple[str, float]] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out[int(task.name)] = ((task / "comm").read_text().strip(),
                                   _stat_cpu_s(task / "stat"))
        except (OSError, IndexError, ValueError):
            continue  # the thread ended meanwhile
    return out


def cpu_by_thread(pid: int, before: dict[int, tuple[str, float]],
                  after: dict[int, tuple[str, float]], pairs: int) -> dict[str, float]:
    """CPU ms per pair over the window, by role: the process's main thread (the executor), the
    node's named threads (inputs; the worker, with the OpenCV pool threads it started: Linux
    threads inherit their creator's name), Fast DDS's (dds.*), everything else."""
    from ..ros.inputs import INPUTS_THREAD
    from ..ros.worker import WORKER_THREAD
    roles: dict[str, float] = {}
    for tid, (name, cpu) in after.items():
        role = ("executor (main thread)" if tid == pid else "inputs" if name == INPUTS_THREAD
                else "worker (+ OpenCV pool)" if name == WORKER_THREAD
                else "DDS" if name.startswith("dds.") else "other")
        roles[role] = roles.get(role, 0.0) + cpu - before.get(tid, (name, 0.0))[1]
    return {role: round(1e3 * cpu / pairs, 2) for role, cpu in sorted(roles.items())} if pairs \
        else {}


def percentiles(values: list[float]) -> dict[str, float | None]:
    import numpy as np
    if not values:
        return {"p50": None, "p90": None, "p99": None}
    p = np.percentile(np.asarray(values), [50, 90, 99])
    return {"p50": round(float(p[0]), 2), "p90": round(float(p[1]), 2), "p99": round(float(p[2]), 2)}


# ----------------------------------------------------------------------------- the relay
def relay_main(compressed: bool, namespace: str) -> int:
    """The floor: receive both images of each pair, publish an empty PointCloud2 on `cones`."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image, PointCloud2

    from ..ros.process import keep_image_buffers_in_the_heap
    keep_image_buffers_in_the_heap()  # as the node: else glibc's trimming sets the floor
    rclpy.init(args=["benchmark_relay", "--ros-args", "-r", f"__ns:={namespace}"])
    node = Node("benchmark_relay")
    pub = node.create_publisher(PointCloud2, "cones", 10)
    pending: list[dict[int, Any]] = [{}, {}]
    msg_type = CompressedImage if compressed else Image
    suffix = "/compressed" if compressed else ""

    def on_image(side: int, msg: Any) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        other = pending[1 - side].pop(stamp, None)
        if other is None:
            pending[side][stamp] = msg
            while len(pending[side]) > 10:
                pending[side].pop(next(iter(pending[side])))
            return
        left = msg if side == 0 else other
        pub.publish(PointCloud2(header=left.header, height=1, width=0, is_dense=True))

    for side, name in enumerate(("left", "right")):
        node.create_subscription(msg_type, f"{name}/image_raw{suffix}",
                                 lambda m, s=side: on_image(s, m), qos_profile_sensor_data)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


# ----------------------------------------------------------------------------- the harness
class Harness:
    """Publishes the pairs (from the calling thread) and records what comes back (a receiver
    node spun by its own executor thread, so a reply is timed when it arrives)."""

    def __init__(self, frames: list, infos: list, compressed: bool, reliable: bool) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

        self.rclpy = rclpy
        rclpy.init()
        self.pub_node = Node("benchmark_publisher", namespace=NAMESPACE)
        self.sub_node = Node("benchmark_receiver", namespace=NAMESPACE)
        msg_type = CompressedImage if compressed else Image
        suffix = "/compressed" if compressed else ""
        image_qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE) if reliable \
            else qos_profile_sensor_data
        self.pub_images = [self.pub_node.create_publisher(msg_type, f"{s}/image_raw{suffix}",
                                                          image_qos) for s in ("left", "right")]
        self.pub_infos = [self.pub_node.create_publisher(CameraInfo, f"{s}/camera_info", 10)
                          for s in ("left", "right")]
        self.frames, self.infos = frames, infos
        self.cones_topic = f"{NAMESPACE}/cones"
        self.received: dict[int, int] = {}
        self.diagnostics: list[Any] = []
        self.lock = threading.Lock()
        self.sub_node.create_subscription(PointCloud2, "cones", self._on_cones, 50)
        self.sub_node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.sub_node)
        self.spinner = threading.Thread(target=self._spin, daemon=True)
        self.spinner.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException
        try:
            self.executor.spin()
        except ExternalShutdownException:  # Ctrl-C shut the context down under the spin
            pass

    def _on_cones(self, msg: Any) -> None:
        now = time.time_ns()
        with self.lock:
            self.received.setdefault(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec,
                                     now)

    def _on_diag(self, msg: Any) -> None:
        if any("stereo detection" in s.name for s in msg.status):
            with self.lock:
                self.diagnostics.append(msg)

    def ready(self) -> bool:
        return (all(p.get_subscription_count() > 0 for p in self.pub_images)
                and self.sub_node.count_publishers(self.cones_topic) > 0)

    def publish_pair(self, k: int) -> int:
        from builtin_interfaces.msg import Time
        now = time.time_ns()
        stamp = Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000)
        frames = self.frames[k % len(self.frames)]
        for pub, msg in zip(self.pub_infos, self.infos):
            msg.header.stamp = stamp
            pub.publish(msg)
        for pub, msg in zip(self.pub_images, frames):
            msg.header.stamp = stamp
            pub.publish(msg)
        return now

    def publish_for(self, seconds: float, hz: float, start: int = 0) -> list[int]:
        """Pairs at ``hz`` for ``seconds``; returns their stamps (ns)."""
        period, stamps = 1.0 / hz, []
        next_t = time.monotonic()
        end = next_t + seconds
        while next_t < end:
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period:  # fell behind by a whole period: do not burst to catch up
                next_t = time.monotonic()
            stamps.append(self.publish_pair(start + len(stamps)))
            next_t += period
        return stamps

    def close(self) -> None:
        self.executor.shutdown()
        self.pub_node.destroy_node()
        self.sub_node.destroy_node()
        self.rclpy.try_shutdown()
        self.spinner.join(timeout=5.0)


def make_messages(size: tuple[int, int], pairs: int, compressed: bool) -> tuple[list, list]:
    """Pre-rendered synthetic stereo pairs as image messages, and the camera_info pair."""
    import cv2
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from ..core.images import array_to_image_fields
    from ..data.synthetic import default_camera, projection_matrices, render_pair
    camera = default_camera(*size)
    frames = []
    for k in range(pairs):
        scene = render_pair(700 + k, camera=camera)
        if compressed:
            frames.append([CompressedImage(format="jpeg", data=cv2.imencode(
                ".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
                for f in (scene.left, scene.right)])
        else:
            frames.append([Image(**array_to_image_fields(f)) for f in (scene.left, scene.right)])
        for msg in frames[-1]:
            msg.header.frame_id = "stereo_left_optical"
    infos = []
    for side, p in zip(("left", "right"), projection_matrices(camera)):
        info = CameraInfo(width=size[0], height=size[1], p=p)
        info.header.frame_id = f"stereo_{side}_optical"
        infos.append(info)
    return frames, infos


def run_subject(name: str, cmd: list[str], env: dict[str, str], harness: Harness, hz: float,
                seconds: float, warmup: float, startup_timeout: float) -> dict[str, Any]:
    """Start one subject, wait until it is wired, warm it up, measure, stop it."""
    log = tempfile.NamedTemporaryFile("w+", prefix=f"benchmark_{name}_", suffix=".log",
                                      delete=False)
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def log_tail() -> str:
        log.flush()
        lines = Path(log.name).read_text(errors="replace").strip().splitlines()
        return "\n".join(lines[-15:]) or "(no output)"
    try:
        while not harness.ready():
            if proc.poll() is not None:
                raise BenchmarkError(f"{name} exited with code {proc.returncode} before it was "
                                     f"wired; its log ({log.name}):\n{log_tail()}")
            if time.monotonic() - t_start > startup_timeout:
                raise BenchmarkError(f"{name} did not subscribe to the images and publish "
                                     f"`cones` within {startup_timeout:g} s; its log "
                                     f"({log.name}):\n{log_tail()}")
            time.sleep(0.1)
        startup_s = time.monotonic() - t_start
        harness.publish_for(warmup, hz)
        cpu0, threads0 = process_cpu_s(proc.pid), thread_cpu_s(proc.pid)
        t0 = time.monotonic()
        stamps = harness.publish_for(seconds, hz, start=10_000)
        window_s = time.monotonic() - t0
        cpu1, threads1 = process_cpu_s(proc.pid), thread_cpu_s(proc.pid)
        deadline = time.monotonic() + 2.0  # replies still on their way
        while time.monotonic() < deadline:
            with harness.lock:
                if all(s in harness.received for s in stamps[-3:]):
                    break
            time.sleep(0.05)
        time.sleep(0.2)
        with harness.lock:
            latencies = [(harness.received[s] - s) / 1e6 for s in stamps if s in harness.received]
            diagnostics = harness.diagnostics[-1] if harness.diagnostics else None
            harness.received.clear()
            harness.diagnostics.clear()
        if proc.poll() is not None:
            raise BenchmarkError(f"{name} exited with code {proc.returncode} during the run; its "
                                 f"log ({log.name}):\n{log_tail()}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    cpu_s = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    result: dict[str, Any] = {
        "pairs_in": len(stamps), "pairs_out": len(latencies),
        "latency_ms": percentiles(latencies),
        "cpu_ms_per_pair": round(1e3 * cpu_s / len(stamps), 2) if cpu_s is not None and stamps
        else None,
        "cpu_percent_of_a_core": round(100 * cpu_s / window_s, 1) if cpu_s is not None else None,
        "cpu_ms_per_pair_by_thread": cpu_by_thread(proc.pid, threads0, threads1, len(stamps)),
        "startup_s": round(startup_s, 1)}
    Path(log.name).unlink(missing_ok=True)  # kept only when the subject failed
    if diagnostics is not None:
        values = {kv.key: kv.value for kv in diagnostics.status[0].values}
        stages = {}
        for stage in STAGES:
            try:
                stages[stage] = float(values[f"latency_{stage}_ms_p50"])
            except (KeyError, ValueError):
                continue
        result["stages_ms_p50"] = stages
        if "total" in stages and "inference" in stages:
            result["host_ms_p50"] = round(stages["total"] - stages["inference"], 3)
        result["diagnostics"] = {k: values[k] for k in ("backend", "device", "precision",
                                                        "input_shape") if k in values}
        result["diagnostics_message"] = diagnostics.status[0].message
    return result


def ratios(node: dict[str, Any], relay: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None
    out = {f"latency_{p}": ratio(node["latency_ms"][p], relay["latency_ms"][p])
           for p in ("p50", "p90", "p99")}
    out["cpu_per_pair"] = ratio(node["cpu_ms_per_pair"], relay["cpu_ms_per_pair"])
    return out


def markdown(report: dict[str, Any]) -> str:
    c = report["config"]

    def f(v: Any, unit: str = "") -> str:
        return "-" if v is None else f"{v:g}{unit}"
    lines = [f"benchmark_node: {c['size']} {'JPEG' if c['compressed'] else 'raw bgr8'} pairs at "
             f"{c['hz']:g} Hz, {c['seconds']:g} s measured after {c['warmup']:g} s warm-up, one "
             f"process at a time; model {c['model']}; transports: {c['transports']}; "
             f"publisher QoS {c['publisher_qos']}", "",
             "| process | pairs out / in | latency p50 (ms) | p90 | p99 | CPU per pair (ms) | "
             "CPU (% of a core) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for key, label in (("relay", "minimal rclpy relay (floor)"), ("node", "stereo_detector")):
        r = report[key]
        lat = r["latency_ms"]
        lines.append(f"| {label} | {r['pairs_out']} / {r['pairs_in']} | {f(lat['p50'])} | "
                     f"{f(lat['p90'])} | {f(lat['p99'])} | {f(r['cpu_ms_per_pair'])} | "
                     f"{f(r['cpu_percent_of_a_core'])} |")
    q = report["ratios"]
    lines.append(f"| **node / relay** | | **{f(q['latency_p50'], 'x')}** | {f(q['latency_p90'], 'x')} | "
                 f"{f(q['latency_p99'], 'x')} | **{f(q['cpu_per_pair'], 'x')}** | |")
    by_thread = {key: report[key].get("cpu_ms_per_pair_by_thread") for key in ("relay", "node")}
    if any(by_thread.values()):
        lines.append("")
        lines += [f"- {key}: CPU per pair by thread (ms): "
                  + ", ".join(f"{role} {ms:g}" for role, ms in roles.items())
                  for key, roles in by_thread.items() if roles]
    node = report["node"]
    if node.get("stages_ms_p50"):
        d = node.get("diagnostics", {})
        lines += ["", f"node stages, p50 of its last 100 pairs (/diagnostics; {d.get('backend', '?')} "
                  f"{d.get('device', '')}, {d.get('precision', '')}, input {d.get('input_shape', '?')}):",
                  "", "| " + " | ".join(node["stages_ms_p50"]) + " | **host (total - inference)** |",
                  "|" + "---:|" * (len(node["stages_ms_p50"]) + 1),
                  "| " + " | ".join(f"{v:g}" for v in node["stages_ms_p50"].values())
                  + f" | **{f(node.get('host_ms_p50'))}** |"]
    return "\n".join(lines)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT, got {text!r}") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise ValueError(f"--size must be at least 64x64 and even, got {text!r}")
    return w, h


def domain_id(text: str) -> int:
    """argparse's type for --domain-id: a ROS_DOMAIN_ID Fast DDS takes (0-232)."""
    value = non_negative_int(text)
    if value > 232:
        raise argparse.ArgumentTypeError(f"must lie in 0-232, not {text}")
    return value


def size_argument(text: str) -> tuple[int, int]:
    """argparse's type for --size: parse_size's rule, refused with the usage."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--size ", "")) from None


def node_command() -> list[str]:
    exe = Path(sys.executable).parent / "stereo_detector"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "yolo_stereo_trt.ros.entry"]


@guarded("benchmark_node")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmark_node", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=input_file_of(".onnx", ".engine", ".plan"),
                    help="model_path for the node (.onnx / .engine); required")
    ap.add_argument("--hz", type=positive_float, default=20.0,
                    help="stereo pairs per second (20)")
    ap.add_argument("--seconds", type=positive_float, default=30.0,
                    help="measured seconds per process (30)")
    ap.add_argument("--warmup", type=non_negative_float, default=3.0,
                    help="seconds of pairs before (3)")
    ap.add_argument("--size", default="1280x720", type=size_argument,
                    help="image size WIDTHxHEIGHT, even, 64x64 or more (1280x720)")
    ap.add_argument("--compressed", action="store_true",
                    help="JPEG CompressedImage on */image_raw/compressed (the node decodes)")
    ap.add_argument("--best-effort", action="store_true",
                    help="publish the images best effort (default: reliable, as most drivers)")
    ap.add_argument("--node-param", action="append", default=[], metavar="NAME:=VALUE",
                    help="extra node parameter (repeatable), e.g. ort_threads:=2")
    ap.add_argument("--domain-id", type=domain_id,
                    help="ROS_DOMAIN_ID for the run, 0-232 (default: random)")
    ap.add_argument("--startup-timeout", type=positive_float, default=60.0,
                    help="seconds a process may take to be wired (60)")
    ap.add_argument("--pairs", type=positive_int, default=4,
                    help="distinct synthetic pairs cycled (4)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    ap.add_argument("--relay", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--namespace", default=NAMESPACE, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.relay:
        return relay_main(args.compressed, args.namespace)

    if args.model is None:
        ap.error("--model is required (the node has no default model)")
    model, size = args.model, args.size
    for p in args.node_param:
        if ":=" not in p:
            ap.error(f"--node-param takes NAME:=VALUE, got {p!r}")

    env, transports = transport_env()
    env["ROS_DOMAIN_ID"] = str(args.domain_id if args.domain_id is not None
                               else random.randint(110, 200))
    os.environ.clear()
    os.environ.update(env)  # this process talks over the same transports and domain

    node_cmd = node_command() + ["--ros-args", "-r", f"__ns:={NAMESPACE}", "-p",
                                 f"model_path:={model.resolve()}", "-p",
                                 f"image_transport:={'compressed' if args.compressed else 'raw'}",
                                 "-p", "publish_debug_image:=false"]
    for p in args.node_param:
        node_cmd += ["-p", p]
    relay_cmd = [sys.executable, "-m", "yolo_stereo_trt.tools.benchmark_node", "--relay",
                 "--namespace", NAMESPACE] + (["--compressed"] if args.compressed else [])
    if not args.json:
        print(f"rendering {args.pairs} synthetic {size[0]}x{size[1]} stereo pairs; transports: "
              f"{transports}; ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}", flush=True)
    frames, infos = make_messages(size, args.pairs, args.compressed)
    harness = Harness(frames, infos, args.compressed, reliable=not args.best_effort)
    results: dict[str, Any] = {}
    try:
        for name, cmd in (("node", node_cmd), ("relay", relay_cmd)):
            if not args.json:
                print(f"{name}: {' '.join(cmd)}", flush=True)
            results[name] = run_subject(name, cmd, env, harness, args.hz, args.seconds,
                                        args.warmup, args.startup_timeout)
    except BenchmarkError as exc:
        print(f"benchmark_node: {exc}", file=sys.stderr)
        return 1
    finally:
        harness.close()
    report = {"config": {"model": str(model), "size": f"{size[0]}x{size[1]}", "hz": args.hz,
                         "seconds": args.seconds, "warmup": args.warmup,
                         "compressed": args.compressed, "transports": transports,
                         "publisher_qos": "best_effort" if args.best_effort else "reliable",
                         "node_params": args.node_param, "domain_id": int(env["ROS_DOMAIN_ID"])},
              "node": results["node"], "relay": results["relay"],
              "ratios": ratios(results["node"], results["relay"])}
    print(json.dumps(report, indent=1) if args.json else "\n" + markdown(report))
    return 0 if results["node"]["pairs_out"] and results["relay"]["pairs_out"] else 1


if __name__ == "__main__":
    sys.exit(main())
