"""stereo_demo: the main job on a machine without a GPU or a camera.

Starts the real stereo_detector node (ONNX Runtime on the CPU, the shipped demo model unless
--model), plays rendered synthetic stereo pairs with camera_info into it over DDS, prints a
per-frame summary of what came back on ``cones``, and writes a contact sheet of the node's
``debug_image`` to --out. Sets FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA for itself and the node
(large images over best-effort QoS need it in both processes).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stereo_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=12, help="stereo pairs to play (12)")
    parser.add_argument("--rate", type=float, default=4.0, help="pairs per second (4)")
    parser.add_argument("--model", default="", help="model file (default: the shipped demo model)")
    parser.add_argument("--out", default="demo_output", help="folder for the contact sheet")
    parser.add_argument("--seed", type=int, default=1000, help="first scene seed")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.rate <= 0:
        parser.error("--frames must be >= 1 and --rate > 0")

    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)  # LOCALHOST blocks LARGE_DATA here
    import cv2
    import numpy as np
    import rclpy
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from ..images import array_to_image_fields
    from ..metadata import FSOCO_NAMES
    from ..ros_messages import pointcloud2_to_array
    from ..synthetic import projection_matrices, render_pair

    exe = Path(sys.executable).parent / "stereo_detector"
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "yolo_stereo_trt.node"])
    cmd += ["--ros-args", "-r", "__ns:=/demo", "-p", "publish_debug_image:=true"]
    if args.model:
        cmd += ["-p", f"model_path:={args.model}"]
    print(f"rendering {args.frames} synthetic stereo pairs (1280x720, baseline 0.12 m) ...", flush=True)
    scenes = [render_pair(args.seed + i) for i in range(args.frames)]
    print("starting the stereo_detector node:", " ".join(cmd), flush=True)
    node_proc = subprocess.Popen(cmd)
    rclpy.init()
    node = Node("stereo_demo_player")
    pubs = [node.create_publisher(Image, f"/demo/{s}/image_raw", qos_profile_sensor_data) for s in ("left", "right")]
    info_pubs = [node.create_publisher(CameraInfo, f"/demo/{s}/camera_info", 10) for s in ("left", "right")]
    cones_msgs: dict[int, tuple[float, PointCloud2]] = {}
    debug: dict[int, np.ndarray] = {}
    diag: list = []

    def stamp_ns(msg) -> int:
        return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec

    node.create_subscription(PointCloud2, "/demo/cones",
                             lambda m: cones_msgs.setdefault(stamp_ns(m), (time.monotonic(), m)), 10)
    node.create_subscription(Image, "/demo/debug_image", lambda m: debug.setdefault(stamp_ns(m), np.frombuffer(
        bytes(m.data), np.uint8).reshape(m.height, m.width, 3)), 1)
    node.create_subscription(DiagnosticArray, "/diagnostics", diag.append, 10)

    def spin_for(seconds: float, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            rclpy.spin_once(node, timeout_sec=0.02)
        return until()

    exit_code = 0
    try:
        if not spin_for(60.0, lambda: all(p.get_subscription_count() > 0 for p in pubs)
                        and node.count_publishers("/demo/debug_image") > 0):
            print("the node did not come up within 60 s", file=sys.stderr)
            return 1
        spin_for(1.0)
        print(f"\nplaying {args.frames} pairs at {args.rate:g} Hz\n")
        print(f"{'frame':>5} {'cones':>5}  {'per class':<44} {'nearest':>8} {'latency':>8}")
        sent: dict[int, float] = {}
        for i, scene in enumerate(scenes):
            stamp = Time(sec=1000 + i, nanosec=0)
            for pub, p in zip(info_pubs, projection_matrices(scene.camera)):
                info = CameraInfo(width=scene.camera.width, height=scene.camera.height, p=p)
                info.header.stamp, info.header.frame_id = stamp, "stereo_left_optical"
                pub.publish(info)
            for pub, frame in zip(pubs, (scene.left, scene.right)):
                msg = Image(**array_to_image_fields(frame))
                msg.header.stamp, msg.header.frame_id = stamp, "stereo_left_optical"
                pub.publish(msg)
            key = (1000 + i) * 10**9
            sent[key] = time.monotonic()
            got = spin_for(max(1.0 / args.rate, 3.0), lambda: key in cones_msgs)
            if not got:
                print(f"{i:>5}  (no result: pair lost or dropped)")
                continue
            received, msg = cones_msgs[key]
            cones = pointcloud2_to_array(msg)
            per_class = Counter(FSOCO_NAMES[int(c)] for c in cones[:, 3])
            nearest = f"{cones[:, 2].min():.1f} m" if len(cones) else "-"
            text = ", ".join(f"{n.replace('_cone', '')} {k}" for n, k in sorted(per_class.items()))
            print(f"{i:>5} {len(cones):>5}  {text:<44} {nearest:>8} {1e3 * (received - sent[key]):6.0f} ms")
            spin_for(max(0.0, 1.0 / args.rate - (time.monotonic() - sent[key])))
        spin_for(1.5)
        done = len([k for k in sent if k in cones_msgs])
        print(f"\n{done}/{len(sent)} pairs came back as cones")
        if diag:
            values = {kv.key: kv.value for kv in diag[-1].status[0].values}
            print("node diagnostics: backend {backend} ({device}), median latency: preprocess "
                  "{latency_preprocess_ms_p50} ms, inference {latency_inference_ms_p50} ms, decode "
                  "{latency_decode_ms_p50} ms, stereo {latency_stereo_ms_p50} ms, total "
                  "{latency_total_ms_p50} ms".format_map(dict({k: "?" for k in (
                      "backend", "device", "latency_preprocess_ms_p50", "latency_inference_ms_p50",
                      "latency_decode_ms_p50", "latency_stereo_ms_p50", "latency_total_ms_p50")}, **values)))
        if debug:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            tiles = [cv2.resize(debug[k], (1280, 360)) for k in sorted(debug)[:6]]
            sheet = np.vstack(tiles)
            path = out / "contact_sheet.jpg"
            cv2.imwrite(str(path), sheet)
            print(f"contact sheet of the node's debug_image ({len(tiles)} pairs): {path}")
        exit_code = 0 if done > 0 else 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        node_proc.send_signal(signal.SIGINT)
        try:
            node_proc.wait(15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
