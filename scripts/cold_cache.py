"""How much slower the same per-pair work runs after a pause, on this machine.

At 20 Hz the node waits ~48 ms between pairs; on a shared VM other tenants have the caches in
the meantime, and every pair starts cold. This times two pieces of the node's work, back to
back and after pauses (sleeping, or spinning so the CPU never idles):

- convert: the node's message -> array step for a stereo pair (two calls of pure Python that
  wrap the message buffers; code-bound);
- letterbox: both 1280x720 frames resized into the model input (memory-bound).

    .venv/bin/python scripts/cold_cache.py [--runs 200]

Prints a markdown table of medians (us). Run it on the ASU: where its pause columns stay near
the back-to-back one, benchmark_node's stage figures will too.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from yolo_stereo_trt.core.images import image_to_array
from yolo_stereo_trt.core.preprocess import Preprocessor
from yolo_stereo_trt.tools.benchmark_node import make_messages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="pairs per cell (default 200)")
    args = ap.parse_args()
    pairs, _ = make_messages((1280, 720), 4, False)
    frames = [[image_to_array(m.encoding, m.height, m.width, m.step, m.data)[0] for m in p]
              for p in pairs]
    preprocess = Preprocessor((640, 640), 2, "nhwc_uint8")
    work = {
        "convert": lambda k: [image_to_array(m.encoding, m.height, m.width, m.step, m.data)
                              for m in pairs[k % 4]],
        "letterbox": lambda k: preprocess(frames[k % 4]),
    }
    pauses = (0.0, 0.001, 0.005, 0.02, 0.05)
    print("| work | " + " | ".join(f"{p * 1e3:g} ms pause, {how}" for p in pauses[1:]
                                   for how in ("sleep", "spin")) + " | back to back |")
    print("|---|" + "---:|" * (2 * len(pauses) - 1))
    for name, fn in work.items():
        cells = []
        for pause in pauses[1:]:
            for spin in (False, True):
                cells.append(_median_us(fn, args.runs, pause, spin))
        cells.append(_median_us(fn, args.runs, 0.0, False))
        print(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


def _median_us(fn, runs: int, pause: float, spin: bool) -> float:
    times = []
    for k in range(runs):
        t0 = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t0)
        if spin:
            end = time.perf_counter() + pause
            while time.perf_counter() < end:
                pass
        elif pause:
            time.sleep(pause)
    return float(np.median(times)) * 1e6


if __name__ == "__main__":
    main()
