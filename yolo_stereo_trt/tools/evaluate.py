"""evaluate: detection accuracy of a model on a YOLO-format split, through the node's pipeline.

  evaluate --model models/yolo12n_synthetic_cones.onnx --data data/synth/data.yaml --split val

Prints mAP50, mAP50-95, precision and recall (faster-coco-eval), per class, and per range
bucket when the split is synthetic (make_synthetic's ground_truth_SPLIT.json beside data.yaml).
Images run two at a time as one batch-2 inference, preprocessed exactly as on the car.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..core.cli import fraction, guarded, output_file, positive_int, prepare_output
from ..data.evaluation import (VAL_CONFIG, EvalResult, coco_evaluate, dataset_names,
                               format_result, load_split, match_classes)


def evaluate_model(model: Path, data: Path, split: str = "val", conf: float = 0.001,
                   iou: float = 0.7, max_images: int | None = None, progress: bool = True,
                   device: str = "auto", class_names: Sequence[str] = (),
                   head_format: str = "auto") -> tuple[EvalResult, dict[str, Any]]:
    """Figures by class NAME: the model's classes are matched to data.yaml's ``names``
    (``info["classes"]`` says how); raises ValueError (ClassMatchError, ModelConfigError) when
    the model cannot be used or shares no class with the dataset."""
    from ..backends import load_backend
    from ..core.pipeline import StereoPipeline
    from ..data.evaluation import run_detections
    from ..core.postprocess import DecodeConfig
    items, fy = load_split(data, split)
    if max_images:
        items = items[:max_images]
    names = dataset_names(data)
    backend = load_backend(model, device=device)
    try:
        pipeline = StereoPipeline(backend, class_names, head_format=head_format)
        match = match_classes(pipeline.class_names, names)
        config = DecodeConfig(conf_threshold=conf, iou_threshold=iou,
                              max_detections=VAL_CONFIG.max_detections)
        start = time.perf_counter()
        detections = run_detections(lambda a, b: pipeline.detect(a, b, config)[0], items,
                                    progress)
        seconds = time.perf_counter() - start
        result = coco_evaluate(items, match.remap(detections), names or pipeline.class_names, fy)
        info = {"model": str(model), "backend": backend.name, "device": backend.device,
                "precision": backend.info.precision, "seconds": round(seconds, 2),
                "data": str(data), "split": split, "conf": conf, "iou": iou,
                "classes": match.lines}
        return result, info
    finally:
        backend.close()


@guarded("evaluate")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help=".onnx or .engine")
    ap.add_argument("--data", type=Path, required=True, help="data.yaml or an images folder")
    ap.add_argument("--split", default="val", help="data.yaml split (val)")
    ap.add_argument("--conf", type=fraction, default=0.001, help="(Ultralytics val: 0.001)")
    ap.add_argument("--iou", type=fraction, default=0.7, help="NMS IoU (Ultralytics val: 0.7)")
    ap.add_argument("--max-images", type=positive_int, help="evaluate the first N images only")
    ap.add_argument("--class-names", nargs="+", default=(),
                    help="the model's class names, in id order (models without names metadata)")
    ap.add_argument("--head-format", default="auto",
                    choices=("auto", "ultralytics", "end2end", "yolov5"),
                    help="the model's output layout (auto: from its shape and metadata)")
    ap.add_argument("--json", type=output_file, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    try:
        result, info = evaluate_model(args.model, args.data, args.split, args.conf, args.iou,
                                      args.max_images, class_names=args.class_names,
                                      head_format=args.head_format)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"{info['model']} ({info['backend']}, {info['device']}) on {info['data']} "
          f"[{info['split']}], {info['seconds']:.0f} s")
    print("classes: " + "; ".join(info["classes"]))
    print(format_result(result))
    if args.json:
        prepare_output(args.json).write_text(json.dumps({**info, **result.as_dict()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
