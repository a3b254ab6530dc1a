"""detect_images: run the stereo pipeline (the node's, unchanged) on a left and a right image file.

Prints the detections per image, in original image pixels; with --json one JSON object
{"left": [...], "right": [...]} (and "cones" when both camera_info YAMLs are given: x, y, z in
the left optical frame, class_id, confidence and the 3x3 position covariance, m^2, row-major).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from ..backends import ModelLoadError, load_backend
from ..core import jit
from ..core.cli import guarded
from ..core.paths import demo_model_path as default_model_path
from ..core.pipeline import StereoPipeline
from ..core.postprocess import HEAD_FORMATS, DecodeConfig, Detections
from ..core.stereo import CalibrationError, StereoConfig
from ..core.camera_info import camera_from_yaml_pair


def detections_json(dets: Detections, names: list[str]) -> list[dict]:
    return [{"class_id": int(c), "class_name": names[c] if c < len(names) else str(c),
             "score": round(float(s), 5), "box": [round(float(v), 2) for v in box]}
            for box, s, c in zip(dets.boxes, dets.scores, dets.class_ids)]


@guarded("detect_images")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="detect_images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model file (.onnx, .engine, .plan); "
                        "default: the shipped demo model")
    parser.add_argument("--left", required=True, help="left image file")
    parser.add_argument("--right", required=True, help="right image file")
    parser.add_argument("--conf", type=float, default=0.25, help="confidence threshold (0.25)")
    parser.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (0.7)")
    parser.add_argument("--max-det", type=int, default=300, help="most detections per image (300)")
    parser.add_argument("--left-info", help="left camera_info YAML (rectified) for 3D cones")
    parser.add_argument("--right-info", help="right camera_info YAML (rectified) for 3D cones")
    parser.add_argument("--class-names", nargs="+", default=(),
                        help="class names in id order (overrides the model's metadata; needed "
                             "when the model has none)")
    parser.add_argument("--class-types", nargs="+", default=(),
                        help="cone type per class: 'name:type' entries or one type per class "
                             "(blue, yellow, orange, large_orange, unknown)")
    parser.add_argument("--head-format", default="auto", choices=HEAD_FORMATS,
                        help="the model's output layout (auto: from its shape and metadata)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not (0 <= args.conf <= 1 and 0 <= args.iou <= 1):
        parser.error("--conf and --iou must lie in [0, 1]")
    if args.max_det < 1:
        parser.error("--max-det must be >= 1")
    if bool(args.left_info) != bool(args.right_info):
        parser.error("--left-info and --right-info go together")
    frames = []
    for path in (args.left, args.right):
        frame = cv2.imread(path, cv2.IMREAD_COLOR) if Path(path).is_file() else None
        if frame is None:  # (checked first: OpenCV's own warning is a second line)
            print(f"detect_images: cannot read image {path}", file=sys.stderr)
            return 2
        frames.append(frame)
    try:
        camera = camera_from_yaml_pair(args.left_info, args.right_info) if args.left_info else None
        if camera is not None:  # the node's rule: calibration of these very images, or no 3D
            sizes = {(f.shape[1], f.shape[0]) for f in frames} | {(camera.width, camera.height)}
            if len(sizes) > 1:
                raise CalibrationError(
                    f"images {frames[0].shape[1]}x{frames[0].shape[0]} / {frames[1].shape[1]}x"
                    f"{frames[1].shape[0]} but camera_info {camera.width}x{camera.height}: the "
                    f"camera_info YAMLs must describe these rectified images")
        pipeline = StereoPipeline(load_backend(args.model or default_model_path()),
                                  args.class_names, args.class_types, args.head_format)
        # compiled (or loaded) before the pair: the stage timings below are the pair's own
        kernels = jit.prepare(lambda line: print(line, file=sys.stderr))
        if "plain Python" in kernels:
            print(kernels, file=sys.stderr)
        result = pipeline.process(frames[0], frames[1],
                                  DecodeConfig(args.conf, args.iou, args.max_det), camera,
                                  StereoConfig())
    except (ModelLoadError, CalibrationError, OSError, ValueError, FloatingPointError,
            RuntimeError) as exc:  # model errors (ModelConfigError, HeadFormatError, ...)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"detect_images: {reason}", file=sys.stderr)
        return 2
    names = pipeline.class_names
    if args.json:
        out = {"left": detections_json(result.left, names), "right": detections_json(result.right, names)}
        if result.cones is not None:
            cones = result.cones
            out["cones"] = [{"x": round(float(x), 4), "y": round(float(y), 4), "z": round(float(z), 4),
                             "class_id": int(c), "confidence": round(float(s), 5),
                             "covariance": [float(f"{v:.6g}") for v in cov.ravel()]}  # m^2, row-major
                            for (x, y, z), c, s, cov in zip(cones.xyz, cones.class_ids,
                                                            cones.confidence, cones.covariance)]
        print(json.dumps(out))
        return 0
    for side, dets, frame in (("left", result.left, frames[0]), ("right", result.right, frames[1])):
        print(f"{side}: {Path(getattr(args, side)).name} {frame.shape[1]}x{frame.shape[0]}, "
              f"{len(dets)} detections")
        for d in detections_json(dets, names):
            x1, y1, x2, y2 = d["box"]
            print(f"  {d['class_name']:<18} {d['score']:.2f}  [{x1:7.1f} {y1:7.1f} {x2:7.1f} {y2:7.1f}]")
    if result.cones is not None:
        print(f"cones: {len(result.cones)} located in 3D (left optical frame, metres)")
        for (x, y, z), c, s in zip(result.cones.xyz, result.cones.class_ids, result.cones.confidence):
            print(f"  {names[c]:<18} {s:.2f}  x {x:6.2f}  y {y:6.2f}  z {z:6.2f}")
    print("timings (ms, the kernels compiled before): "
          + ", ".join(f"{k} {v:.1f}" for k, v in result.timings_ms.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
