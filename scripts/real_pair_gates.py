#!/usr/bin/env python3
"""The ground and size gates (and optionally the self-mask) on the real ZED pair.

  .venv/bin/python scripts/real_pair_gates.py [--dir ../shared/real_cones] [--pose 0 0 1.2 0 0 0]
      [--max-ground-offset 0.25] [--max-size-ratio 1.6] [--ignore-below-row ROW] [--markdown]

Runs the shipped model through the node's pipeline (core.pipeline.StereoPipeline, ONNX Runtime
on the CPU, conf 0.25) on chalmers_zed_hd_{left,right}_rect.png with their rectified camera_info
YAMLs, transforms the located cones into a ground frame by ``--pose`` (the pose of the left
camera's body frame, x forward, y left, z up: x y z roll pitch yaw; default: 1.2 m above the
ground, level) and prints every located object with its position, base height, size ratio and
the gate that rejects it. Evaluation only: nothing here is tuned on this pair.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolo_stereo_trt.backends import ModelLoadError, load_backend  # noqa: E402
from yolo_stereo_trt.core.camera_info import camera_from_yaml_pair  # noqa: E402
from yolo_stereo_trt.core.frames import PoseError, RigidTransform  # noqa: E402
from yolo_stereo_trt.core.gates import (GateConfig, GateConfigError, MaskError,  # noqa: E402
                                        SelfMask, apply_gates)
from yolo_stereo_trt.core.paths import demo_model_path  # noqa: E402
from yolo_stereo_trt.core.pipeline import StereoPipeline  # noqa: E402
from yolo_stereo_trt.core.postprocess import DecodeConfig  # noqa: E402
from yolo_stereo_trt.core.stereo import CalibrationError  # noqa: E402

def run(folder: Path, model: Path, pose: list[float], gates: GateConfig,
        ignore_below_row: int | None, conf: float) -> dict:
    left = cv2.imread(str(folder / "chalmers_zed_hd_left_rect.png"), cv2.IMREAD_COLOR)
    right = cv2.imread(str(folder / "chalmers_zed_hd_right_rect.png"), cv2.IMREAD_COLOR)
    if left is None or right is None:
        raise FileNotFoundError(f"{folder}: chalmers_zed_hd_{{left,right}}_rect.png not readable")
    camera = camera_from_yaml_pair(folder / "chalmers_zed_hd_left.yaml",
                                   folder / "chalmers_zed_hd_right.yaml")
    transform = RigidTransform.from_camera_pose(pose)
    pipeline = StereoPipeline(load_backend(model, "cpu"))
    names = list(pipeline.class_names)
    result = pipeline.process(left, right, DecodeConfig(conf_threshold=conf), camera)
    cones = result.cones
    assert cones is not None
    xyz = transform.apply(cones.xyz)
    heights = pipeline.class_map.heights_of(cones.class_ids)  # by cone type
    boxes = result.left.boxes[cones.left_index]
    verdict = apply_gates(cones.xyz, boxes, heights, camera.fy, transform, gates, camera.height)
    masked = np.zeros(len(cones), bool)
    if ignore_below_row is not None:
        mask = SelfMask(below_row=ignore_below_row)
        mask.validate(camera.width, camera.height)
        masked = ~mask.keep(boxes)
    rows = []
    for i in np.argsort(xyz[:, 0]):
        reason = verdict.reasons()[i]
        if masked[i]:
            reason = "masked" + (f" (and {reason})" if reason else "")
        rows.append({"class": names[cones.class_ids[i]], "confidence": float(cones.confidence[i]),
                     "box": [float(v) for v in boxes[i]], "xyz": [float(v) for v in xyz[i]],
                     "range": float(np.linalg.norm(cones.xyz[i])),
                     "base": float(verdict.base_height[i]), "ratio": float(verdict.size_ratio[i]),
                     "kept": bool(verdict.keep[i] and not masked[i]), "reason": reason or "kept"})
    return {"rows": rows, "detections": (len(result.left), len(result.right)),
            "counts": verdict.counts(), "masked": int(masked.sum()),
            "kept": int((verdict.keep & ~masked).sum())}


# A located object is that ground-truth cone when its left box overlaps the cone's visible box
# at IoU >= 0.3: the detector's boxes on far cones (under ~15 px) are 4-6 px too tall, IoU 0.4-0.5
# with a correct position; at 0.5 they would count as false positives.
MATCH_IOU = 0.3


def synthetic(pairs: int, seed: int, model: Path, gates: GateConfig, conf: float) -> dict:
    """The same gates on held-out synthetic pairs (exact pose: the camera CAMERA_HEIGHT above
    flat ground, level): located objects by kind (true cone within 10 % depth, true cone
    mislocated, no cone) and what the gates did with them."""
    from yolo_stereo_trt.core.postprocess import box_iou
    from yolo_stereo_trt.data.synthetic import CAMERA_HEIGHT, render_pair
    transform = RigidTransform.from_camera_pose([0.0, 0.0, CAMERA_HEIGHT, 0.0, 0.0, 0.0])
    pipeline = StereoPipeline(load_backend(model, "cpu"))
    table = {k: {"located": 0, "kept": 0, "ground": 0, "size": 0}
             for k in ("true cone, depth within 10%", "true cone, depth off by > 10%",
                       "no cone (no ground-truth box at IoU 0.3)")}
    for k in range(pairs):
        scene = render_pair(seed + k)
        result = pipeline.process(scene.left, scene.right, DecodeConfig(conf_threshold=conf),
                                  scene.camera)
        cones = result.cones
        if cones is None or len(cones) == 0:
            continue
        boxes = result.left.boxes[cones.left_index]
        heights = pipeline.class_map.heights_of(cones.class_ids)
        verdict = apply_gates(cones.xyz, boxes, heights, scene.camera.fy, transform, gates,
                              scene.camera.height)
        gt = np.flatnonzero(scene.visibility.max(1) > 0)
        iou = box_iou(boxes, scene.visible_left[gt]) if len(gt) else np.zeros((len(boxes), 0))
        hit = iou.max(1, initial=0.0) >= MATCH_IOU
        truth_z = scene.xyz[gt[iou.argmax(1)], 2] if len(gt) else np.zeros(len(boxes))
        good = hit & (np.abs(cones.xyz[:, 2] - truth_z) <= 0.1 * truth_z)
        for name, sel in zip(table, (good, hit & ~good, ~hit)):
            row = table[name]
            row["located"] += int(sel.sum())
            row["kept"] += int((sel & verdict.keep).sum())
            row["ground"] += int((sel & ~verdict.ground_ok).sum())
            row["size"] += int((sel & ~verdict.size_ok).sum())
    return table


def synthetic_markdown(table: dict, pairs: int, seed: int) -> str:
    lines = [f"{pairs} held-out synthetic pairs (seeds {seed}..{seed + pairs - 1}), the shipped "
             f"model, exact camera pose:", "",
             "| located object | located | kept | rejected: ground | rejected: size |",
             "|---|---:|---:|---:|---:|"]
    for name, r in table.items():
        lines.append(f"| {name} | {r['located']} | {r['kept']} | {r['ground']} | {r['size']} |")
    return "\n".join(lines)


def markdown(report: dict, pose: list[float], gates: GateConfig) -> str:
    rows = report["rows"]
    lines = [f"Pose {pose} (camera body frame in a ground frame, z = 0 on the ground), "
             f"max_ground_offset {gates.max_ground_offset:g} m, max_size_ratio "
             f"{gates.max_size_ratio:g}, max_ground_slope {gates.max_ground_slope:g} rad. Detections left/right: {report['detections'][0]}/"
             f"{report['detections'][1]}; located: {len(rows)}; kept: {report['kept']}; "
             f"rejected ground {report['counts']['rejected_ground']}, size "
             f"{report['counts']['rejected_size']} (a cone failing both counts in both), "
             f"masked {report['masked']}.", "",
             "| class | conf | left box (px) | x fwd, y left, z up (m) | base z (m) | "
             "box/expected height | verdict |", "|---|---:|---|---|---:|---:|---|"]
    for r in rows:
        b, p = r["box"], r["xyz"]
        lines.append(f"| {r['class']} | {r['confidence']:.2f} | {b[0]:.0f},{b[1]:.0f},{b[2]:.0f},"
                     f"{b[3]:.0f} | {p[0]:.2f}, {p[1]:.2f}, {p[2]:.2f} | {r['base']:+.2f} | "
                     f"{r['ratio']:.2f} | {r['reason']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=ROOT.parent / "shared" / "real_cones",
                    help="folder with the chalmers_zed_hd_* files (../shared/real_cones)")
    ap.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    ap.add_argument("--pose", type=float, nargs=6, default=[0.0, 0.0, 1.2, 0.0, 0.0, 0.0],
                    metavar=("X", "Y", "Z", "ROLL", "PITCH", "YAW"))
    ap.add_argument("--max-ground-offset", type=float, default=0.25)
    ap.add_argument("--max-size-ratio", type=float, default=1.6)
    ap.add_argument("--max-ground-slope", type=float, default=0.0,
                    help="rad: ground tolerance growth per metre of range (0)")
    ap.add_argument("--ignore-below-row", type=int, default=None)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--synthetic", type=int, default=0, metavar="PAIRS",
                    help="also run the gates on this many held-out synthetic pairs")
    ap.add_argument("--seed", type=int, default=500000, help="first synthetic seed (500000)")
    args = ap.parse_args(argv)
    if not args.dir.is_dir():
        print(f"real_pair_gates: {args.dir}: no such folder (the real pair is not shipped)",
              file=sys.stderr)
        return 2
    try:
        gates = GateConfig(args.max_ground_offset, args.max_size_ratio, args.max_ground_slope)
        report = run(args.dir, args.model or demo_model_path(), args.pose, gates,
                     args.ignore_below_row, args.conf)
    except (PoseError, GateConfigError, MaskError, CalibrationError, ModelLoadError,
            FileNotFoundError) as exc:
        print(f"real_pair_gates: {exc}", file=sys.stderr)
        return 2
    print(markdown(report, args.pose, gates))
    if args.synthetic > 0:
        table = synthetic(args.synthetic, args.seed, args.model or demo_model_path(), gates,
                          args.conf)
        print()
        print(synthetic_markdown(table, args.synthetic, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
