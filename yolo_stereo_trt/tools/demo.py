"""stereo_demo: the main job on a machine without a GPU or a camera.

Makes the demo rosbag (synthetic stereo track scenes, MCAP, deterministic by --seed; kept in
--out and reused), starts the real stereo_detector node (ONNX Runtime on the CPU, the shipped
model unless --model), replays the bag into it with the bag player, and prints per frame the
cones that came back on `cones` (per class, nearest, depth error against the bag's ground
truth, end-to-end latency). Writes the node's debug_image as a contact sheet (each pair's left
and right views beside its bird's-eye view, the ground truth as hollow circles) and a video,
and the last pair's bird's-eye view as birdseye.png.
Points Fast DDS at the package's large-image profile (config/fastdds_shm.xml) for itself and
the node, unless transports were exported (large images over best-effort QoS need a large-data
transport in every process).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ..core.cli import guarded, output_folder, positive_float, positive_int


def ensure_demo_bag(out: Path, pairs: int, seed: int, bag_hz: float) -> tuple[Path, dict]:
    """The demo bag and its ground truth, generated once per (pairs, seed, rate)."""
    from .make_synthetic import main as make_synthetic
    bag, gt_path = out / "demo_mcap", out / "ground_truth_demo.json"
    if bag.is_dir() and gt_path.is_file():
        gt = json.loads(gt_path.read_text())
        p = gt["pairs"]
        if len(p) == pairs and p[0]["seed"] == seed and \
                (len(p) < 2 or abs((p[1]["stamp_ns"] - p[0]["stamp_ns"]) - 1e9 / bag_hz) < 1e3):
            print(f"reusing the demo bag {bag}: written by an earlier run for the same --frames "
                  f"{pairs}, --seed {seed} and --bag-hz {bag_hz:g} (the scenes are deterministic; "
                  f"delete it to write it again)", flush=True)
            return bag, gt
    shutil.rmtree(bag, ignore_errors=True)
    print(f"writing the demo bag: {pairs} synthetic stereo pairs (1280x720, baseline 0.12 m) at "
          f"{bag_hz:g} Hz -> {bag}", flush=True)
    code = make_synthetic(["--out", str(out), "--pairs", str(pairs), "--seed", str(seed),
                           "--split", "demo", "--no-images", "--bag", "mcap", "--rate",
                           str(bag_hz), "--workers", "2"])
    if code == 130:  # Ctrl-C while rendering (make_synthetic said so): the demo stops too
        raise KeyboardInterrupt
    if code != 0:
        raise RuntimeError(f"make_synthetic failed (exit status {code})")
    return bag, json.loads(gt_path.read_text())


def model_class_map(model: str):
    """The model's classes (names -> cone types) from its metadata, as the node reads them."""
    from ..backends import load_backend
    from ..core.classes import ClassMap
    from ..core.paths import demo_model_path, resolve_package_path
    backend = load_backend(resolve_package_path(model) if model else demo_model_path())
    try:
        return ClassMap(backend.info.names)
    finally:
        backend.close()


def depth_errors(cones, truth: list[dict], classes):
    """Relative depth error of each located cone against the nearest true cone of its cone
    type (the model's class ids through ``classes``, the bag's through FSOCO_NAMES)."""
    import numpy as np

    from ..core.classes import FSOCO_NAMES, ClassMap
    if not len(cones) or not truth:
        return np.zeros(0)
    xyz = np.array([c["xyz"] for c in truth], np.float32)
    truth_types = ClassMap(FSOCO_NAMES).type_ids_of([c["class_id"] for c in truth])
    cone_types = classes.type_ids_of(cones[:, 3].astype(np.int64))
    errors = []
    for (x, _y, z), t in zip(cones[:, :3], cone_types):
        same = truth_types == t
        if not same.any():
            continue
        d = np.linalg.norm(xyz[same][:, [0, 2]] - [x, z], axis=1)
        k = int(d.argmin())
        if d[k] < 1.0 + 0.1 * xyz[same][k, 2]:
            errors.append(abs(z - xyz[same][k, 2]) / xyz[same][k, 2])
    return np.array(errors)


class OutputListener:
    """What the node sends back, by stamp: cones (with the time they arrived), debug images,
    diagnostics; spun by its own executor (``spin``)."""

    def __init__(self, node, namespace: str = "/demo") -> None:
        import numpy as np
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image, PointCloud2

        self.node = node
        self.cones: dict[int, tuple[float, PointCloud2]] = {}
        self.debug: dict[int, np.ndarray] = {}
        self.diag: list = []
        node.create_subscription(PointCloud2, f"{namespace}/cones", lambda m: self.cones.setdefault(
            _stamp_ns(m), (time.monotonic(), m)), 10)
        node.create_subscription(Image, f"{namespace}/debug_image", lambda m: self.debug.setdefault(
            _stamp_ns(m), np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.width, 3)), 5)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diag.append, 10)
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)

    def spin(self, seconds: float) -> None:
        self.executor.spin_once(timeout_sec=seconds)

    def spin_for(self, seconds: float, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            self.spin(0.02)
        return until()

    def wait_for_outputs(self, sent, timeout: float) -> list[int]:
        """Spin until every pair ``sent`` (stamps) came back as cones and each of those has its
        debug_image too (the node publishes it right after the cones: stopping at the last
        cones loses the last image), at most ``timeout`` s (a pair the node skipped never
        comes back). Returns the stamps that came back as cones without a debug_image."""
        sent = list(sent)

        def done() -> bool:
            return all(k in self.cones for k in sent) and self.missing_debug(sent) == []
        self.spin_for(timeout, done)
        return self.missing_debug(sent)

    def missing_debug(self, sent) -> list[int]:
        return sorted(k for k in sent if k in self.cones and k not in self.debug)

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.executor.shutdown()


def _stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def birdseye_of(cloud, classes, camera, truth: list[dict], size: tuple[int, int], caption: str):
    """The bird's-eye view of one cones message (the optical frame: the demo sets no
    output_frame) with the bag's ground truth for that pair (make_synthetic's records, ids in
    FSOCO_NAMES order)."""
    import numpy as np

    from ..core.classes import FSOCO_NAMES, ClassMap
    from ..core.cloud import covariances_from_array
    from ..core.stereo import Cones
    from ..core.visualize import draw_birdseye
    from ..ros.messages import pointcloud2_to_array
    cones = None
    if cloud is not None:
        a = pointcloud2_to_array(cloud)
        cones = Cones(xyz=a[:, :3].copy(), class_ids=a[:, 3].astype(np.int64),
                      confidence=a[:, 4].copy(), covariance=covariances_from_array(a))
    true_xyz = np.array([c["xyz"] for c in truth], np.float64).reshape(-1, 3)
    true_types = ClassMap(FSOCO_NAMES).type_ids_of([c["class_id"] for c in truth])
    return draw_birdseye(cones, classes, camera, truth=(true_xyz, true_types), size=size,
                         caption=caption)


def _terminated(signum, frame) -> None:
    raise SystemExit(143)  # 128 + SIGTERM, through every finally on the way out


@guarded("stereo_demo")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stereo_demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=positive_int, default=12,
                        help="stereo pairs in the bag (12)")
    parser.add_argument("--bag-hz", type=positive_float, default=10.0,
                        help="camera rate in the bag (10)")
    parser.add_argument("--rate", type=positive_float, default=0.2,
                        help="playback speed factor (0.2: 2 pairs/s, what a CPU keeps up with)")
    parser.add_argument("--model", default="models/yolo12n_synthetic_cones.onnx",
                        help="model file (default: the shipped synthetic demo model)")
    parser.add_argument("--out", type=output_folder, default=Path("demo_output"),
                        help="folder for the bag and the images")
    parser.add_argument("--seed", type=int, default=1000, help="first scene seed (1000)")
    args = parser.parse_args(argv)
    try:  # an unusable model is refused before the bag is rendered
        classes = model_class_map(args.model)
    except (RuntimeError, ValueError) as exc:
        print(f"stereo_demo: {exc}", file=sys.stderr)
        return 2

    from ..core.paths import use_large_image_transport
    print(f"transports: {use_large_image_transport(os.environ)}", flush=True)
    os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)  # LOCALHOST blocks large images here
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    bag, gt = ensure_demo_bag(out, args.frames, args.seed, args.bag_hz)
    truth = {p["stamp_ns"]: p["cones"] for p in gt["pairs"]}

    import cv2
    import numpy as np
    import rclpy
    from rclpy.node import Node

    from ..core.stereo import StereoCamera
    from ..ros.messages import pointcloud2_to_array
    from .play_bag import BagPlayer

    cam = gt["camera"]
    camera = StereoCamera.from_projections(cam["p_left"], cam["p_right"],
                                           (cam["height"], cam["width"]),
                                           (cam["height"], cam["width"]))

    exe = Path(sys.executable).parent / "stereo_detector"
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "yolo_stereo_trt.ros.entry"])
    cmd += ["--ros-args", "-r", "__ns:=/demo", "-p", "publish_debug_image:=true",
            "-p", f"model_path:={args.model}"]
    print("starting the stereo_detector node:", " ".join(cmd), flush=True)
    # SIGTERM from here on ends the demo through its cleanup (the node it started is stopped),
    # not at once with the node left running; rclpy's own handler passes it on
    signal.signal(signal.SIGTERM, _terminated)
    node_proc = subprocess.Popen(cmd)
    node = listener = None
    sent: dict[int, float] = {}
    printed: set[int] = set()
    all_errors: list = []
    header = f"{'frame':>5} {'cones':>5}  {'per class':<40} {'nearest':>8} {'depth err':>9} " \
             f"{'latency':>8}"

    def report() -> None:
        for key in sorted(cones_msgs):
            if key in printed or key not in sent:
                continue
            received, msg = cones_msgs[key]
            printed.add(key)
            cones = pointcloud2_to_array(msg)
            per_class = Counter(classes.name(int(c)) for c in cones[:, 3])
            nearest = f"{cones[:, 2].min():.1f} m" if len(cones) else "-"
            errors = depth_errors(cones, truth.get(key, []), classes)
            all_errors.extend(errors.tolist())
            err = f"{100 * np.median(errors):.1f} %" if len(errors) else "-"
            text = ", ".join(f"{n.replace('_cone', '')} {k}" for n, k in sorted(per_class.items()))
            frame = sorted(truth).index(key) if key in truth else -1
            print(f"{frame:>5} {len(cones):>5}  {text:<40} {nearest:>8} {err:>9} "
                  f"{1e3 * (received - sent[key]):6.0f} ms", flush=True)

    def on_message(topic: str, stamp: int, _msg) -> None:
        if topic.endswith("right/image_raw"):
            sent[stamp] = time.monotonic()
        report()

    exit_code = 0
    try:
        rclpy.init()
        node = Node("stereo_demo")
        listener = OutputListener(node, "/demo")
        cones_msgs, debug, diag = listener.cones, listener.debug, listener.diag
        spin, spin_for = listener.spin, listener.spin_for
        player = BagPlayer(node, bag, prefix="/demo", rate=args.rate)
        if not spin_for(60.0, lambda: node.count_publishers("/demo/cones") > 0
                        or node_proc.poll() is not None) or node_proc.poll() is not None:
            print(f"the node did not come up (exit status {node_proc.poll()})", file=sys.stderr)
            return 1
        if not player.wait_for_subscribers(["left/image_raw", "right/image_raw"], 30.0, spin):
            print("the node does not subscribe to the images", file=sys.stderr)
            return 1
        spin_for(1.0)
        print(f"\nplaying {bag} ({args.frames} pairs recorded at {args.bag_hz:g} Hz) at rate "
              f"{args.rate:g}, {args.bag_hz * args.rate:g} pairs/s: ONNX Runtime on a CPU takes "
              f"~0.3 s per pair, and a node that falls behind skips pairs (it always takes the "
              f"newest); --rate 1 plays in real time\n\n{header}", flush=True)
        player.play(spin, on_message)
        missing_debug = listener.wait_for_outputs(sent, 5.0)
        report()
        done = len([k for k in sent if k in cones_msgs])
        print(f"\n{done}/{len(sent)} pairs came back as cones (the node skips pairs it cannot "
              f"keep up with: it always takes the newest)")
        if all_errors:
            print(f"depth error against the bag's ground truth: median "
                  f"{100 * np.median(all_errors):.1f} % over {len(all_errors)} cones")
        if diag:
            values = {kv.key: kv.value for kv in diag[-1].status[0].values}
            print("node diagnostics: backend {backend} ({device}), median latency: preprocess "
                  "{latency_preprocess_ms_p50} ms, inference {latency_inference_ms_p50} ms, decode "
                  "{latency_decode_ms_p50} ms, stereo {latency_stereo_ms_p50} ms, total "
                  "{latency_total_ms_p50} ms".format_map(dict({k: "?" for k in (
                      "backend", "device", "latency_preprocess_ms_p50", "latency_inference_ms_p50",
                      "latency_decode_ms_p50", "latency_stereo_ms_p50", "latency_total_ms_p50")},
                      **values)))
        stamps = sorted(truth)

        def bev(key: int, size: tuple[int, int]) -> np.ndarray:
            return birdseye_of(cones_msgs[key][1] if key in cones_msgs else None, classes, camera,
                               truth.get(key, []), size,
                               f"frame {stamps.index(key) if key in truth else -1}")
        if debug:
            keys = sorted(debug)
            frames = [debug[k] for k in keys]
            tiles = [np.hstack([cv2.resize(debug[k], (1280, 360)), bev(k, (480, 360))])
                     for k in keys[:6]]
            sheet_path = out / "contact_sheet.jpg"
            cv2.imwrite(str(sheet_path), np.vstack(tiles))
            video_path = out / "debug_image.avi"
            h, w = frames[0].shape[:2]
            writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"MJPG"),
                                     max(1.0, args.bag_hz * args.rate), (w, h))
            for f in frames:
                writer.write(cv2.resize(f, (w, h)))
            writer.release()
            print(f"the node's debug_image: contact sheet {sheet_path} ({len(tiles)} pairs: left, "
                  f"right, from above), video {video_path} ({len(frames)} frames)")
        if missing_debug:
            print(f"no debug_image within 5 s for {len(missing_debug)} pair(s) that came back "
                  f"as cones (frames {', '.join(str(stamps.index(k) if k in truth else k) for k in missing_debug)})")
        last = max((k for k in cones_msgs if k in sent), default=None)
        if last is not None:
            birdseye_path = out / "birdseye.png"
            cv2.imwrite(str(birdseye_path), bev(last, (640, 480)))
            print(f"bird's-eye view of the last pair: {birdseye_path} (cones as discs with their "
                  f"1-sigma ellipses, the ground truth as hollow circles)")
        exit_code = 0 if done > 0 else 1
    except Exception:  # noqa: BLE001
        if rclpy.ok():  # a real error; else Ctrl-C: rclpy's handler shut the context down under
            raise  # the spin (ExternalShutdownException) or the player's publish (RCLError)
        print("stereo_demo: interrupted", file=sys.stderr)
        exit_code = 130  # (SIGTERM: _terminated's SystemExit, 143)
    finally:
        if listener is not None:
            listener.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        node_proc.send_signal(signal.SIGINT)
        try:
            node_code = node_proc.wait(15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
            node_code = -9
        if node_code != 0 and exit_code == 0:  # a node that crashed or hung is a failed demo
            print(f"the node exited with status {node_code}", file=sys.stderr)
            exit_code = 1
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
