#!/usr/bin/env python3
"""Every object the stereo stage locates on the real ZED pair, against an independent check.

  .venv/bin/python scripts/real_pair_depths.py [--dir ../shared/real_cones] [--model M] [--json F]

Runs the shipped model and the node's stereo stage (core.pipeline.StereoPipeline, ONNX Runtime
on the CPU, conf 0.25) on chalmers_zed_hd_{left,right}_rect.png with their rectified
camera_info YAMLs. For each located object it prints how the stereo stage found its disparity
(box pair, epipolar search, cut by a border), its disparity and depth, and an INDEPENDENT
disparity: OpenCV's normalized cross-correlation of the whole left box (grey) along the same
rows of the right image over every disparity of the depth range (1-40 m), with a parabolic peak
- none of the package's matching, windows or sub-pixel steps. Evaluation only: nothing is tuned
on this pair (its licence allows internal testing only; nothing of it is committed).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolo_stereo_trt.backends import load_backend  # noqa: E402
from yolo_stereo_trt.core.camera_info import camera_from_yaml_pair  # noqa: E402
from yolo_stereo_trt.core.paths import demo_model_path  # noqa: E402
from yolo_stereo_trt.core.pipeline import StereoPipeline  # noqa: E402
from yolo_stereo_trt.core.postprocess import DecodeConfig  # noqa: E402
from yolo_stereo_trt.core.stereo import SOURCES, StereoConfig  # noqa: E402


def independent_disparity(left_grey: np.ndarray, right_grey: np.ndarray, box: np.ndarray,
                          d_range: tuple[float, float]) -> tuple[float, float]:
    """(disparity, peak correlation) of the whole box along its rows; NaN where no search fits."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, left_grey.shape[1]), min(y2, left_grey.shape[0])
    lo, hi = int(np.floor(d_range[0])), int(np.ceil(d_range[1]))
    s0, s1 = max(x1 - hi, 0), min(x2 - lo, right_grey.shape[1])
    if x2 - x1 < 4 or y2 - y1 < 4 or s1 - s0 < x2 - x1 + 2:
        return float("nan"), float("nan")
    scores = cv2.matchTemplate(right_grey[y1:y2, s0:s1], left_grey[y1:y2, x1:x2],
                               cv2.TM_CCOEFF_NORMED)[0]
    k = int(np.argmax(scores))
    offset = 0.0
    if 0 < k < len(scores) - 1:
        a, b, c = scores[k - 1], scores[k], scores[k + 1]
        offset = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    return float(x1 - (s0 + k + offset)), float(scores[k])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=ROOT.parent / "shared" / "real_cones")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    left = cv2.imread(str(args.dir / "chalmers_zed_hd_left_rect.png"), cv2.IMREAD_COLOR)
    right = cv2.imread(str(args.dir / "chalmers_zed_hd_right_rect.png"), cv2.IMREAD_COLOR)
    if left is None or right is None:
        print(f"real_pair_depths: the ZED pair is not in {args.dir}", file=sys.stderr)
        return 2
    camera = camera_from_yaml_pair(args.dir / "chalmers_zed_hd_left.yaml",
                                   args.dir / "chalmers_zed_hd_right.yaml")
    pipeline = StereoPipeline(load_backend(args.model or demo_model_path(), "cpu"))
    config = StereoConfig()
    result = pipeline.process(left, right, DecodeConfig(), camera, config)
    cones = result.cones
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in (left, right)]
    d_range = camera.disparity_range(config.min_depth, config.max_depth)
    rows = []
    for k in range(len(cones)):
        box = result.left.boxes[cones.left_index[k]]
        d_ncc, peak = independent_disparity(*grey, box, d_range)
        z_ncc = camera.fx * camera.baseline / (d_ncc - camera.doffs) if np.isfinite(d_ncc) \
            else float("nan")
        rows.append({"class": pipeline.class_names[cones.class_ids[k]],
                     "source": SOURCES[int(cones.source[k])],
                     "box": [round(float(v), 1) for v in box],
                     "disparity": round(float(cones.disparity[k]), 2),
                     "depth_m": round(float(cones.xyz[k, 2]), 2),
                     "depth_sigma_m": round(float(cones.depth_sigma[k]), 2),
                     "independent_disparity": round(d_ncc, 2),
                     "independent_peak": round(peak, 3),
                     "independent_depth_m": round(z_ncc, 2)})
    print(f"{len(result.left)} left / {len(result.right)} right detections, {len(cones)} located "
          f"({cones.counts}); fx {camera.fx:.1f}, baseline {camera.baseline:.3f} m, doffs "
          f"{camera.doffs:.2f} px")
    print("| class | found by | depth (m) | sigma (m) | independent NCC depth (m) | peak | "
          "difference |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        diff = (r["depth_m"] - r["independent_depth_m"]) / r["independent_depth_m"] \
            if np.isfinite(r["independent_depth_m"]) else float("nan")
        print(f"| {r['class']} | {r['source']} | {r['depth_m']:.2f} | {r['depth_sigma_m']:.2f} | "
              f"{r['independent_depth_m']:.2f} | {r['independent_peak']:.2f} | "
              f"{100 * diff:+.1f} % |")
    if args.json:
        args.json.write_text(json.dumps({"counts": cones.counts, "cones": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
