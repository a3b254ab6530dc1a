"""Start the node, let stereo pairs flow, SIGINT it; again and again: how often does it not exit 0?

Each cycle starts the real stereo_detector process (real rclpy and Fast DDS, the test suite's
transport profile and its own domain), waits until it is active, lets pairs flow at 20 Hz for
0.5-2 s (the node infers them), sends SIGINT and waits for the exit. A cycle fails on an exit
status other than 0 or a traceback in the node's output; the failing cycles' output is printed
(with faulthandler's stacks where the node crashed).

    .venv/bin/python scripts/sigint_cycles.py [--cycles 300] [--model MODEL.onnx]

About 4.5 s a cycle on 2 cores. The shipped model matters: its inference keeps the cores busy
while the node tears down (a constant stand-in model, which infers in no time, did not show the
SIGSEGV the shipped one showed once in 100 cycles before the teardown joined rclpy's signal
thread).
"""
from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

import conftest  # noqa: E402,F401  (the transport profile and the domain, as the tests')
import rclpy  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_helpers import Harness, NodeProcess, stamp_of  # noqa: E402
from tqdm import tqdm  # noqa: E402

from yolo_stereo_trt.data.synthetic import render_pair  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--model", default=str(ROOT / "models" / "yolo12n_synthetic_cones.onnx"))
    ap.add_argument("--seed", type=int, default=0, help="of the SIGINT moments")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    scene = render_pair(4)
    rclpy.init()
    harness = Harness("/cycles/", image_qos=QoSProfile(depth=5,
                                                        reliability=ReliabilityPolicy.RELIABLE))
    stop = threading.Event()

    def camera() -> None:  # pairs flow all the time, at 20 Hz
        while not stop.is_set():
            stamp = stamp_of(time.time())
            harness.publish_infos(scene, stamp)
            harness.publish_pair(scene.left, scene.right, stamp)
            time.sleep(0.05)
    threading.Thread(target=camera, daemon=True).start()
    failures = 0
    try:
        for cycle in tqdm(range(args.cycles), desc="start / SIGINT cycles", unit="cycle"):
            proc = NodeProcess({"model_path": args.model, "image_qos": "reliable"},
                               namespace="/cycles")
            end = time.monotonic() + 60
            while "active:" not in proc.output() and proc.proc.poll() is None \
                    and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.5, 2.0))
            proc.proc.send_signal(signal.SIGINT)
            try:
                code: int | str = proc.proc.wait(20)
            except subprocess.TimeoutExpired:
                code = "hung"
                proc.stop()
            proc.log.close()
            out = proc.output()
            if code != 0 or "Traceback" in out:
                failures += 1
                tqdm.write(f"cycle {cycle}: exit {code}\n{out[-6000:]}")
    finally:
        stop.set()
        harness.destroy_node()
        rclpy.try_shutdown()
    print(f"{failures} of {args.cycles} cycles did not exit 0 cleanly")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
