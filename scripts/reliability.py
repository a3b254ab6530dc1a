#!/usr/bin/env python3
"""Reliability of the live node, measured (issue 10, section 2): bad input, faults, a soak and an
overload, each on a real stereo_detector process over real DDS; prints a Markdown table.

soak:     the near-free stand-in model (the demo model's recorded output, whatever the input:
          the node's own work is all that runs). After a warm-up: every kind of bad input
          (unsupported encodings, bad sizes, long data, size change, stale and looped stamps, bad
          camera_info, invalid parameter values), then faults (a camera silent for 3 s, the camera
          driver restarting as a new DDS participant, a bag loop), then SOAK_PAIRS good pairs at
          --hz. Memory (VmRSS), threads and open fds from /proc before and after.
overload: the shipped demo model (a real network on this machine's CPU); its throughput is read
          from the node's own latency after a warm-up, then pairs go in at twice that rate.

Both: stamp -> cones latency p50/p99 over the first and the last tenth of the pairs, and dropped
pairs, which must equal paired - processed exactly (the node keeps only the newest pair). Exit
status 1 when a process crashed, exited non-zero on SIGINT, or the accounting does not add up.

    .venv/bin/python scripts/reliability.py --soak-pairs 10000 --overload-seconds 60
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

ROOT = Path(__file__).resolve().parent.parent
NS = "/benchmark"  # the benchmark harness's namespace


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB), threads and open file descriptors of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_kib": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


class Subject:
    """One stereo_detector process wired to the harness."""

    def __init__(self, name: str, model: Path, harness: Any, env: dict[str, str],
                 params: dict[str, str]) -> None:
        from yolo_stereo_trt.tools.benchmark_node import node_command
        self.name, self.harness = name, harness
        cmd = node_command() + ["--ros-args", "-r", f"__ns:={NS}", "-p",
                                f"model_path:={model.resolve()}", "-p", "image_qos:=reliable"]
        for key, value in params.items():
            cmd += ["-p", f"{key}:={value}"]
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"reliability_{name}_", suffix=".log",
                                               delete=False)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + 60
        while not harness.ready():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"{name} did not start: {self.tail()}")
            time.sleep(0.1)
        self.diag_count = 0

    def tail(self) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-20:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def diag(self, fresh: bool = True, timeout: float = 10.0) -> dict[str, Any]:
        """The node's latest diagnostics (a new message when ``fresh``)."""
        h = self.harness
        end = time.monotonic() + timeout
        with h.lock:
            last = h.diagnostics[-1] if h.diagnostics else None
        while fresh and time.monotonic() < end:
            with h.lock:
                if h.diagnostics and h.diagnostics[-1] is not last \
                        and h.diagnostics[-1].status[0].hardware_id == f"{NS}/stereo_detector":
                    break
            time.sleep(0.05)
        with h.lock:  # this node's (other nodes may share the domain's /diagnostics)
            mine = [a.status[0] for a in h.diagnostics
                    if a.status[0].hardware_id == f"{NS}/stereo_detector"]
            del h.diagnostics[:-50]
        if not mine:
            return {}
        status = mine[-1]
        values: dict[str, Any] = {kv.key: kv.value for kv in status.values}
        values["_level"], values["_message"] = int.from_bytes(status.level, "little") \
            if isinstance(status.level, bytes) else int(status.level), status.message
        return values

    def counters(self) -> dict[str, int]:
        """The counters once the node is idle (two diagnostics in a row without change)."""
        keys = ("count_paired", "count_processed", "count_dropped_pairs", "errors_total")
        last: tuple = ()
        for _ in range(40):
            d = self.diag()
            now = tuple(int(d.get(k, 0)) for k in keys)
            if now == last:
                return dict(zip(keys, now))
            last = now
        return dict(zip(keys, last))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        end = time.monotonic() + 15  # until the graph forgets it (the next subject starts clean)
        while self.harness.ready() and time.monotonic() < end:
            time.sleep(0.1)
        text = Path(self.log.name).read_text(errors="replace")
        self.traceback = "Traceback" in text
        return self.proc.returncode


def latency(harness: Any, stamps: list[int]) -> dict[str, Any]:
    """stamp -> cones p50/p99 (ms) over the first and the last tenth of ``stamps``."""
    from yolo_stereo_trt.tools.benchmark_node import percentiles
    time.sleep(1.0)  # the last replies
    with harness.lock:
        got = [(harness.received[s] - s) / 1e6 for s in stamps if s in harness.received]
        harness.received.clear()
    tenth = max(len(got) // 10, 1)
    return {"start": percentiles(got[:tenth]), "end": percentiles(got[-tenth:]),
            "replies": len(got)}


def publish_n(harness: Any, n: int, hz: float, start: int) -> list[int]:
    """Exactly ``n`` pairs at ``hz`` (no bursts to catch up when late); their stamps (ns)."""
    period, stamps = 1.0 / hz, []
    next_t = time.monotonic()
    for k in range(n):
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -period:
            next_t = time.monotonic()
        stamps.append(harness.publish_pair(start + k))
        next_t += period
    return stamps


def accounting(before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
    d = {k: after[k] - before[k] for k in before}
    return {"paired": d["count_paired"], "processed": d["count_processed"],
            "dropped": d["count_dropped_pairs"], "errors": d["errors_total"],
            "exact": d["count_dropped_pairs"] == d["count_paired"] - d["count_processed"]
            - d["errors_total"]}


# ----------------------------------------------------------------------------- bad input
def bad_inputs(subject: Subject, size: tuple[int, int]) -> int:
    """Every kind of bad input once (several encodings); returns how many were sent."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image

    from yolo_stereo_trt.core.images import array_to_image_fields
    h = subject.harness
    w, ht = size
    good_left, good_right = h.frames[0]
    stamp_ns = [time.time_ns()]

    def stamp(offset_s: float = 0.0) -> Time:
        stamp_ns[0] = max(stamp_ns[0] + 50_000_000, time.time_ns())
        ns = stamp_ns[0] + int(offset_s * 1e9)
        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def pair(left: Any, right: Any = None, at: Time | None = None) -> None:
        at = at or stamp()
        for pub, msg in zip(h.pub_images, (left, right or good_right)):
            msg.header.stamp, msg.header.frame_id = at, "stereo_left_optical"
            pub.publish(msg)
        time.sleep(0.1)

    def img(**fields: Any) -> Any:
        msg = Image(height=good_left.height, width=good_left.width, encoding="bgr8",
                    step=good_left.step, data=good_left.data)
        for k, v in fields.items():
            setattr(msg, k, v)
        return msg
    sent = 0
    for enc in ("16UC1", "32FC1", "mono16", "bgr16", "yuv422", "bayer_rggb16", "8UC4", "",
                "nonsense"):
        pair(Image(height=4, width=4, step=16, encoding=enc, data=bytes(64)))
        sent += 1
    for fields in ({"data": bytes(100)}, {"step": w * 3 - 1}, {"width": 0, "height": 0, "step": 0,
                   "data": b""}, {"width": 100_000, "height": 100_000, "step": 300_000,
                   "data": bytes(16)}, {"width": 4000, "height": 4000, "step": 12000,
                   "data": bytes(16)}, {"data": bytes(good_left.data) + bytes(1000)}):
        pair(img(**fields))
        sent += 1
    import numpy as np
    half = np.zeros((ht // 2, w // 2, 3), np.uint8)
    pair(img(), Image(**array_to_image_fields(half)))  # a resolution change on one side
    sent += 1
    at = stamp()
    pair(img(), None, at)
    pair(img(), None, at)  # a duplicate
    pair(img(), None, stamp(-0.5))  # backwards
    pair(img(), None, stamp(-30.0))  # a loop
    sent += 3
    infos = h.infos
    for p_left, p_right in (([0.0] * 12, [0.0] * 12), ([float("nan")] * 12, list(infos[1].p)),
                            (list(infos[0].p), [v if i != 3 else -v
                                                for i, v in enumerate(infos[1].p)])):
        for pub, p, info in zip(h.pub_infos, (p_left, p_right), infos):
            pub.publish(CameraInfo(header=info.header, width=info.width, height=info.height,
                                   p=p))
        time.sleep(0.2)
        pair(img())  # 2D only while the calibration is bad
        sent += 1
    for pub, info in zip(h.pub_infos, infos):
        pub.publish(info)
    sent += set_invalid_parameters(h)
    time.sleep(0.5)
    return sent


def set_invalid_parameters(h: Any) -> int:
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter
    client = h.sub_node.create_client(SetParameters, f"{NS}/stereo_detector/set_parameters")
    if not client.wait_for_service(timeout_sec=10.0):
        raise RuntimeError("the node's set_parameters service did not appear")
    sent = 0
    for name, value in (("conf_threshold", 1.5), ("min_depth", 45.0), ("camera_pose", [1.0]),
                        ("max_image_pixels", 0), ("ignore_mask", "/nonexistent.png"),
                        ("iou_threshold", "high")):
        future = client.call_async(SetParameters.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg()]))
        end = time.monotonic() + 10
        while not future.done() and time.monotonic() < end:
            time.sleep(0.02)
        result = future.result()
        if result is None or result.results[0].successful:
            raise RuntimeError(f"invalid parameter {name}={value!r} was not refused")
        sent += 1
    h.sub_node.destroy_client(client)
    return sent


# ----------------------------------------------------------------------------- faults
def faults(subject: Subject, hz: float, seconds: float) -> tuple[int, int, list[str]]:
    """(tried, survived, notes): a silent camera, the driver restarting, a bag loop."""
    h = subject.harness
    tried, survived, notes = 0, 0, []

    def processing() -> bool:
        before = int(subject.diag().get("count_processed", 0))
        h.publish_for(max(seconds * 0.7, 1.0), hz)
        return subject.alive() and int(subject.diag().get("count_processed", 0)) > before

    # 1. the right camera goes silent for 3 s: WARN, then OK again when it returns
    tried += 1
    processing()
    right = h.pub_images[1]
    h.pub_images[1] = _Null()
    warned = _publish_watch(subject, seconds, hz, lambda d: "silent" in d.get("_message", ""))
    h.pub_images[1] = right
    ok_again = _publish_watch(subject, seconds + 1.0, hz, lambda d: d.get("_level") == 0)
    if warned and ok_again and processing():
        survived += 1
    else:
        notes.append(f"silent camera: WARN seen {warned}, OK again {ok_again}")

    # 2. the camera driver restarts: a new DDS participant publishes the same topics
    tried += 1
    if _restarted_driver(h, hz, seconds) and processing():
        survived += 1
    else:
        notes.append("driver restart: no pairs processed afterwards")

    # 3. a bag loop: stamps jump back a minute, the pairing resets
    tried += 1
    resets = int(subject.diag().get("count_pairing_resets", 0))
    h.stamp_offset_ns = -60_000_000_000
    ok = processing()
    h.stamp_offset_ns = 0
    ok = processing() and ok
    if ok and int(subject.diag().get("count_pairing_resets", 0)) > resets:
        survived += 1
    else:
        notes.append("bag loop: no reset or no pairs afterwards")
    return tried, survived, notes


class _Null:
    def publish(self, msg: Any) -> None:
        pass


def _publish_watch(subject: Subject, seconds: float, hz: float, seen: Any) -> bool:
    found = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if seen(subject.diag(fresh=True, timeout=1.0)):
                found.append(True)
                return
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    subject.harness.publish_for(seconds, hz)
    stop.set()
    thread.join()
    return bool(found)


def _restarted_driver(h: Any, hz: float, seconds: float) -> bool:
    """Publish for ``seconds`` from a fresh context (a new participant: a driver process restarting)."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("camera_driver_restarted", namespace=NS, context=ctx)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    old = h.pub_images, h.pub_infos
    try:
        h.pub_images = [node.create_publisher(Image, f"{s}/image_raw", qos) for s in ("left", "right")]
        h.pub_infos = [node.create_publisher(CameraInfo, f"{s}/camera_info", 10)
                       for s in ("left", "right")]
        end = time.monotonic() + 20
        while not all(p.get_subscription_count() > 0 for p in h.pub_images):
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        stamps = h.publish_for(max(seconds * 0.7, 1.0), hz)
        time.sleep(0.5)
        with h.lock:
            return any(s in h.received for s in stamps)
    finally:
        h.pub_images, h.pub_infos = old
        node.destroy_node()
        rclpy.shutdown(context=ctx)


# ----------------------------------------------------------------------------- runs
def soak(model: Path, harness: Any, env: dict[str, str], pairs: int, hz: float,
         size: tuple[int, int], fault_s: float) -> dict[str, Any]:
    s = Subject("soak", model, harness, env, {"diagnostics_period": "0.5"})
    try:
        harness.publish_for(fault_s, hz)  # warm-up
        latency(harness, [])
        before = proc_status(s.proc.pid)
        tried = bad_inputs(s, size)
        fault_tried, fault_ok, notes = faults(s, hz, fault_s)
        latency(harness, [])
        c0 = s.counters()
        soak_start = proc_status(s.proc.pid)
        stamps: list[int] = []
        # VmRSS sampled every 0.2 s; per tenth of the soak its median: a single reading swings
        # by the pairs in flight at that instant (a 1280x720 pair is 5.5 MB), a median does not
        tenths: list[list[int]] = [[] for _ in range(10)]
        tenth, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                try:
                    tenths[tenth[0]].append(proc_status(s.proc.pid)["rss_kib"])
                except (OSError, KeyError):
                    return
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for k in range(10):
            tenth[0] = k
            stamps += publish_n(harness, pairs * (k + 1) // 10 - len(stamps), hz, len(stamps))
            if not tenths[k]:  # a tenth shorter than the sampling period (short runs)
                tenths[k].append(proc_status(s.proc.pid)["rss_kib"])
        done.set()
        sampler.join()
        rss_samples = [int(sorted(t)[len(t) // 2]) for t in tenths]
        lat = latency(harness, stamps)
        c1 = s.counters()
        after = proc_status(s.proc.pid)
        crashed = not s.alive()
    finally:
        code = s.stop()
    warm = rss_samples[1]  # the first tenth is the warm-up
    return {"model": f"stand-in (constant, {model.name})", "hz": hz, "pairs_pushed": len(stamps),
            "soak_rss_kib": [soak_start["rss_kib"]] + rss_samples,
            "soak_growth_after_warmup_pct": round(100 * (rss_samples[-1] / warm - 1), 2),
            "soak_rss_range_after_warmup_pct": round(
                100 * (max(rss_samples[1:]) - min(rss_samples[1:])) / warm, 2),
            "bad_inputs": tried, "faults_tried": fault_tried, "faults_survived": fault_ok,
            "fault_notes": notes, "crashes": int(crashed), "exit_code": code,
            "traceback": s.traceback, "before": before, "after": after,
            "memory_growth_pct": round(100 * (after["rss_kib"] / before["rss_kib"] - 1), 2),
            "latency_ms": lat, "accounting": accounting(c0, c1)}


def overload(model: Path, harness: Any, env: dict[str, str], seconds: float) -> dict[str, Any]:
    s = Subject("overload", model, harness, env, {"diagnostics_period": "1.0"})
    try:
        harness.publish_for(4.0, 2.0)  # warm-up, well below the throughput
        d = s.diag()
        total_ms = float(d.get("latency_total_ms_p50", 100.0))
        throughput = 1000.0 / max(total_ms, 1.0)
        hz = min(2 * throughput, 100.0)
        latency(harness, [])
        before = proc_status(s.proc.pid)
        c0 = s.counters()
        stamps = publish_n(harness, max(int(seconds * hz), 1), hz, 0)
        lat = latency(harness, stamps)
        c1 = s.counters()
        after = proc_status(s.proc.pid)
        crashed = not s.alive()
    finally:
        code = s.stop()
    return {"model": model.name, "hz": round(hz, 1), "throughput_hz": round(throughput, 1),
            "pairs_pushed": len(stamps), "bad_inputs": 0, "faults_tried": 0, "faults_survived": 0,
            "crashes": int(crashed), "exit_code": code, "traceback": s.traceback,
            "before": before, "after": after,
            "memory_growth_pct": round(100 * (after["rss_kib"] / before["rss_kib"] - 1), 2),
            "latency_ms": lat, "accounting": accounting(c0, c1)}


def markdown(runs: dict[str, dict[str, Any]]) -> str:
    names = list(runs)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, f: Any) -> None:
        rows.append((label, [f(runs[n]) for n in names]))

    def lat(r: dict[str, Any], part: str) -> str:
        p = r["latency_ms"][part]
        return "n/a" if p["p50"] is None else f"{p['p50']:.1f} / {p['p99']:.1f}"
    row("model", lambda r: r["model"])
    row("input rate (Hz)", lambda r: f"{r['hz']:g}" + (f" (2 x {r['throughput_hz']:g})"
                                                         if "throughput_hz" in r else ""))
    row("pairs pushed", lambda r: str(r["pairs_pushed"]))
    row("faults survived", lambda r: f"{r['faults_survived']} of {r['faults_tried']}")
    row("bad inputs tried", lambda r: str(r["bad_inputs"]))
    row("crashes", lambda r: str(r["crashes"]))
    row("exit status on SIGINT", lambda r: str(r["exit_code"])
        + (" (traceback!)" if r["traceback"] else ""))
    row("memory VmRSS before -> after (MB)", lambda r: f"{r['before']['rss_kib'] / 1024:.1f} -> "
        f"{r['after']['rss_kib'] / 1024:.1f}")
    row("memory growth, whole run (after warm-up -> end)",
        lambda r: f"{r['memory_growth_pct']:+.2f} %")
    row("memory growth over the soak after warm-up (median VmRSS, last vs second tenth)",
        lambda r: f"{r['soak_growth_after_warmup_pct']:+.2f} % (medians within "
        f"{r['soak_rss_range_after_warmup_pct']:.2f} %)"
        if "soak_growth_after_warmup_pct" in r else "-")
    row("VmRSS at the soak's start, then the median of each tenth (MB)",
        lambda r: " ".join(f"{v / 1024:.0f}" for v in r["soak_rss_kib"])
        if "soak_rss_kib" in r else "-")
    row("threads before / after", lambda r: f"{r['before']['threads']} / {r['after']['threads']}")
    row("open fds before / after", lambda r: f"{r['before']['fds']} / {r['after']['fds']}")
    row("latency p50 / p99 at start (ms)", lambda r: lat(r, "start"))
    row("latency p50 / p99 at end (ms)", lambda r: lat(r, "end"))
    row("paired / processed", lambda r: f"{r['accounting']['paired']} / "
        f"{r['accounting']['processed']}")
    row("dropped (= paired - processed)", lambda r: f"{r['accounting']['dropped']} ("
        + ("exact" if r["accounting"]["exact"] else "MISMATCH") + ")")
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--soak-pairs", type=int, default=10_000, help="good pairs in the soak (10000)")
    ap.add_argument("--hz", type=float, default=20.0, help="soak rate (20)")
    ap.add_argument("--overload-seconds", type=float, default=60.0,
                    help="seconds of input at twice the throughput (60); 0: skip")
    ap.add_argument("--fault-seconds", type=float, default=3.0,
                    help="how long each fault lasts, and the warm-up (3)")
    ap.add_argument("--size", default="1280x720", help="image size WIDTHxHEIGHT (1280x720)")
    ap.add_argument("--overload-model", default=str(ROOT / "models/yolo12n_synthetic_cones.onnx"))
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = ap.parse_args(argv)
    from yolo_stereo_trt.tools.benchmark_node import Harness, make_messages, parse_size, \
        transport_env
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        print(f"reliability: {exc}", file=sys.stderr)
        return 2
    if args.soak_pairs < 1 or args.hz <= 0 or args.overload_seconds < 0 or args.fault_seconds < 1:
        print("reliability: --soak-pairs >= 1, --hz > 0, --overload-seconds >= 0, --fault-seconds >= 1", file=sys.stderr)
        return 2
    env, transports = transport_env()
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(110, 200)))
    os.environ.clear()
    os.environ.update(env)

    import onnx

    from yolo_stereo_trt.data.standin_model import build_constant_model, recorded_output
    workdir = Path(tempfile.mkdtemp(prefix="reliability_"))
    standin = workdir / "constant.onnx"
    output, hw, names = recorded_output(ROOT / "models/yolo12n_synthetic_cones.onnx", 700)
    onnx.save(build_constant_model(output, hw, names), str(standin))
    frames, infos = make_messages(size, 4, False)
    harness = Harness(frames, infos, compressed=False, reliable=True)
    harness.stamp_offset_ns = 0
    _offset_stamps(harness)
    runs: dict[str, dict[str, Any]] = {}
    try:
        if not args.json:
            print(f"transports: {transports}; ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}; "
                  f"{size[0]}x{size[1]} pairs", flush=True)
        runs[f"soak ({args.soak_pairs} pairs)"] = soak(standin, harness, env, args.soak_pairs,
                                                       args.hz, size, args.fault_seconds)
        if args.overload_seconds > 0:
            runs[f"overload ({args.overload_seconds:g} s)"] = overload(
                Path(args.overload_model), harness, env, args.overload_seconds)
    finally:
        harness.close()
    print(json.dumps(runs, indent=1) if args.json else markdown(runs))
    bad = [n for n, r in runs.items() if r["crashes"] or r["exit_code"] != 0 or r["traceback"]
           or not r["accounting"]["exact"] or not r["latency_ms"]["replies"]
           or r["faults_survived"] != r["faults_tried"]]
    if bad:
        print(f"reliability: FAILED in {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


def _offset_stamps(harness: Any) -> None:
    """Let a fault shift the harness's stamps (a bag loop) without touching its class."""
    publish = harness.publish_pair

    def publish_pair(k: int) -> int:
        if not harness.stamp_offset_ns:
            return publish(k)
        from builtin_interfaces.msg import Time
        now = time.time_ns() + harness.stamp_offset_ns
        stamp = Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000)
        for pub, msg in zip(harness.pub_infos, harness.infos):
            msg.header.stamp = stamp
            pub.publish(msg)
        for pub, msg in zip(harness.pub_images, harness.frames[k % len(harness.frames)]):
            msg.header.stamp = stamp
            pub.publish(msg)
        return now
    harness.publish_pair = publish_pair


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
