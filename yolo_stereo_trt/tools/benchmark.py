"""benchmark: speed and accuracy of models side by side (FP32 vs FP16 vs INT8, ONNX vs engine).

  benchmark --models model.onnx model_int8.onnx [model.engine] --data data.yaml

For each model (.onnx through ONNX Runtime, .engine/.plan through TensorRT):
  - latency of the batch-2 inference alone and of the whole pipeline (letterbox both frames,
    ONE batch-2 inference, decode + NMS, stereo), p50/p90/p99 over --runs after --warmup;
  - accuracy on a YOLO-format split (mAP50, mAP50-95 via faster-coco-eval, Ultralytics' val
    settings), and agreement with the first model's detections at conf 0.25 (same class
    NAME, IoU >= 0.5: the fraction found again and their mean IoU). Every model's classes are
    matched by name to the dataset's (data.yaml names, else the first model's), so models
    that number their classes differently compare as they should.
A comparison table (speed-up and mAP50 retention against the first model) is printed as
Markdown and written as Markdown and JSON with --out.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.evaluation import (VAL_CONFIG, coco_evaluate, dataset_names, load_split,
                               match_classes, run_detections)
from ..core.cli import guarded, non_negative_int, output_prefix, positive_int, prepare_output
from ..core.postprocess import DecodeConfig, Detections, box_iou


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_ms, np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": int(a.size)}


def agreement(reference: Sequence[Detections], other: Sequence[Detections],
              conf: float = 0.25) -> dict[str, float]:
    """Fraction of the reference's confident detections that `other` finds again (same class,
    IoU >= 0.5, greedy by IoU) and their mean IoU. Both in the same class ids: remap each
    model's detections to the dataset's first (``match_classes(...).remap``)."""
    found, total, ious = 0, 0, []
    for ref, oth in zip(reference, other):
        r = ref.scores >= conf
        o = oth.scores >= conf
        rb, rc, ob, oc = ref.boxes[r], ref.class_ids[r], oth.boxes[o], oth.class_ids[o]
        total += len(rb)
        if not len(rb) or not len(ob):
            continue
        iou = box_iou(rb, ob) * (rc[:, None] == oc[None, :])
        from scipy.optimize import linear_sum_assignment
        rows, cols = linear_sum_assignment(-iou)
        ok = iou[rows, cols] >= 0.5
        found += int(ok.sum())
        ious += iou[rows, cols][ok].tolist()
    return {"found": found / total if total else float("nan"),
            "mean_iou": float(np.mean(ious)) if ious else float("nan"), "reference": total}


def time_model(pipeline: Any, left: np.ndarray, right: np.ndarray, runs: int, warmup: int,
               camera: Any) -> tuple[dict[str, float], dict[str, float]]:
    config = DecodeConfig()
    batch, _ = pipeline.preprocess([left, right])  # (the backend's own pinned input, if any)
    for _ in range(warmup):
        pipeline.infer(batch)
    infer_ms = []
    for _ in range(runs):
        t = time.perf_counter()
        pipeline.infer(batch)
        infer_ms.append((time.perf_counter() - t) * 1e3)
    for _ in range(max(warmup // 2, 1)):
        pipeline.process(left, right, config, camera)
    total_ms = []
    for _ in range(runs):
        t = time.perf_counter()
        pipeline.process(left, right, config, camera)
        total_ms.append((time.perf_counter() - t) * 1e3)
    return percentiles(infer_ms), percentiles(total_ms)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | backend / device | precision | inference p50 / p90 / p99 (ms) | "
             "pipeline p50 (ms) | speed-up | mAP50 | mAP50-95 | mAP50 retention | "
             "boxes found again (IoU) |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        i = r["inference_ms"]
        acc = r.get("accuracy")
        agree = r.get("agreement")
        lines.append(
            f"| {Path(r['model']).name} | {r['backend']} / {r['device']} | {r['precision']} | "
            f"{i['p50']:.2f} / {i['p90']:.2f} / {i['p99']:.2f} | {r['pipeline_ms']['p50']:.2f} | "
            f"{r['speedup']:.2f}x | "
            + (f"{acc['map50']:.4f} | {acc['map50_95']:.4f} | {r['map50_retention'] * 100:.1f}% | "
               if acc else "- | - | - | ")
            + (f"{agree['found'] * 100:.1f}% ({agree['mean_iou']:.3f}) |" if agree else "- |"))
    return "\n".join(lines)


@guarded("benchmark")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmark", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, nargs="+", required=True,
                    help="models to compare; the first is the reference (e.g. FP32)")
    ap.add_argument("--data", type=Path, help="YOLO data.yaml or images folder for accuracy")
    ap.add_argument("--split", default="val", help="data.yaml split for accuracy (val)")
    ap.add_argument("--max-images", type=positive_int, help="accuracy on the first N images only")
    ap.add_argument("--runs", type=positive_int, default=100, help="timed runs per model (100)")
    ap.add_argument("--warmup", type=non_negative_int, default=10, help="untimed runs first (10)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="ONNX Runtime device (auto)")
    ap.add_argument("--out", type=output_prefix, help="write OUT.md and OUT.json")
    args = ap.parse_args(argv)
    if missing := [str(m) for m in args.models if not m.is_file()]:
        print(f"benchmark: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    from ..backends import ModelLoadError, load_backend
    from ..core.pipeline import StereoPipeline
    from ..data.synthetic import render_pair

    scene = render_pair(4)
    try:
        items, fy = load_split(args.data, args.split) if args.data else ([], None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
    if args.max_images:
        items = items[:args.max_images]
    rows: list[dict[str, Any]] = []
    reference_dets = None
    names: list[str] | None = dataset_names(args.data) if args.data else None
    for model in args.models:
        print(f"== {model}", flush=True)
        try:
            backend = load_backend(model, device=args.device)
        except (ModelLoadError, ValueError) as exc:
            print(f"benchmark: {exc}", file=sys.stderr)
            return 2
        try:
            try:
                pipeline = StereoPipeline(backend)
                # classes by name: against the dataset's names, else the first model's
                match = match_classes(pipeline.class_names, names) if items else None
            except ValueError as exc:
                print(f"benchmark: {model}: {exc}", file=sys.stderr)
                return 2
            names = names or list(pipeline.class_names)
            infer_ms, total_ms = time_model(pipeline, scene.left, scene.right, args.runs,
                                            args.warmup, scene.camera)
            row: dict[str, Any] = {"model": str(model), "backend": backend.name,
                                   "device": backend.device, "precision": backend.info.precision,
                                   "input": list(pipeline.preprocess.batch.shape),
                                   "input_dtype": str(pipeline.preprocess.batch.dtype),
                                   "inference_ms": infer_ms, "pipeline_ms": total_ms}
            print(f"   inference p50 {infer_ms['p50']:.2f} ms, pipeline p50 "
                  f"{total_ms['p50']:.2f} ms", flush=True)
            if items and match is not None:
                print("   classes: " + "; ".join(match.lines), flush=True)
                dets = match.remap(run_detections(
                    lambda a, b, p=pipeline: p.detect(a, b, VAL_CONFIG)[0], items))
                acc = coco_evaluate(items, dets, names, fy)
                row["accuracy"] = acc.as_dict()
                row["classes"] = match.lines
                if reference_dets is None:
                    reference_dets = dets
                else:
                    row["agreement"] = agreement(reference_dets, dets)
                print(f"   mAP50 {acc.map50:.4f}, mAP50-95 {acc.map50_95:.4f}", flush=True)
            rows.append(row)
        finally:
            backend.close()
    ref = rows[0]
    for r in rows:
        r["speedup"] = ref["inference_ms"]["p50"] / r["inference_ms"]["p50"]
        if "accuracy" in r and "accuracy" in ref and ref["accuracy"]["map50"] > 0:
            r["map50_retention"] = r["accuracy"]["map50"] / ref["accuracy"]["map50"]
    table = markdown(rows)
    print()
    print(table)
    if args.out:
        prepare_output(args.out).with_suffix(".md").write_text(table + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
        print(f"\nwrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
