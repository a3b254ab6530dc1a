"""A model on the real labelled FEB photos in ../shared/real_cones (evaluation only).

    .venv/bin/python scripts/eval_real_photos.py --model models/yolo12n_synthetic_cones.onnx

The photos are never copied into the project: a temporary folder of links to feb_* images and
their YOLO labels (0 blue, 1 yellow, 2 orange: SOURCES.md) is evaluated through the node's
pipeline. The model's classes count by cone TYPE: blue, yellow, and orange = small or large
orange (the labels do not split them); unknown cones never match. Prints AP50 per class and
their mean (faster-coco-eval, conf 0.001), precision and recall at conf 0.25 (greedy by score,
IoU 0.5, class-aware) and the threshold of the best F1.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yolo_stereo_trt.backends import load_pipeline  # noqa: E402
from yolo_stereo_trt.core.postprocess import DecodeConfig, Detections, box_iou  # noqa: E402
from yolo_stereo_trt.data.evaluation import coco_evaluate, load_split, run_detections  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "real_cones"
DATASET = ["blue", "yellow", "orange"]
TYPE_TO_DATASET = {"blue": 0, "yellow": 1, "orange": 2, "large_orange": 2}


def by_type(dets: list[Detections], types: list[str]) -> list[Detections]:
    lut = np.array([TYPE_TO_DATASET.get(t, -1) for t in types] + [-1])
    out = []
    for d in dets:
        ids = lut[np.clip(d.class_ids, 0, len(types))]
        keep = ids >= 0
        out.append(Detections(d.boxes[keep], d.scores[keep], ids[keep]))
    return out


def precision_recall(items, dets, conf: float) -> tuple[float, float]:
    tp = fp = 0
    n_gt = sum(len(i.boxes) for i in items)
    for item, d in zip(items, dets):
        keep = d.scores >= conf
        boxes, scores, ids = d.boxes[keep], d.scores[keep], d.class_ids[keep]
        used = np.zeros(len(item.boxes), bool)
        iou = box_iou(boxes, item.boxes) if len(boxes) and len(item.boxes) else \
            np.zeros((len(boxes), len(item.boxes)))
        for k in np.argsort(-scores):
            cand = np.flatnonzero((iou[k] >= 0.5) & ~used & (item.class_ids == ids[k]))
            if cand.size:
                used[cand[np.argmax(iou[k, cand])]] = True
                tp += 1
            else:
                fp += 1
    return tp / max(tp + fp, 1), tp / max(n_gt, 1)


def write_sheet(path: Path, items, dets: list[Detections], classes, n: int = 12) -> None:
    import cv2

    from yolo_stereo_trt.core.visualize import draw_detections
    tiles = []
    for item, d in list(zip(items, dets))[:n]:
        keep = d.scores >= 0.25
        img = draw_detections(cv2.imread(str(item.path)),
                              Detections(d.boxes[keep], d.scores[keep], d.class_ids[keep]), classes)
        tiles.append(cv2.resize(img, (480, 320)))
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 3)
    rows = [np.hstack(tiles[k:k + 3]) for k in range(0, len(tiles), 3)]
    cv2.imwrite(str(path), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"contact sheet: {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--real", type=Path, default=REAL)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sheet", type=Path, help="write a contact sheet of the photos with the "
                    "model's boxes at conf 0.25 here (keep it outside the project: the photos' "
                    "licences allow internal evaluation only)")
    args = ap.parse_args()
    photos = sorted(p for p in args.real.glob("feb_*") if p.suffix.lower() != ".txt"
                    and p.with_suffix(".txt").is_file())
    if not photos:
        print(f"no labelled feb_* photos in {args.real}", file=sys.stderr)
        return 2
    pipeline, summary = load_pipeline(args.model, "cpu")
    types = list(pipeline.class_map.types)
    with tempfile.TemporaryDirectory() as tmp:
        for p in photos:  # links only: the photos stay in shared/
            (Path(tmp) / p.name).symlink_to(p)
            (Path(tmp) / p.with_suffix(".txt").name).symlink_to(p.with_suffix(".txt"))
        items, _ = load_split(tmp, "test")
        config = DecodeConfig(conf_threshold=0.001, iou_threshold=0.7, max_detections=300)
        raw = run_detections(lambda a, b: pipeline.detect(a, b, config)[0], items)
        if args.sheet:
            write_sheet(args.sheet, items, raw, pipeline.class_map)
    dets = by_type(raw, types)
    result = coco_evaluate(items, dets, DATASET)
    per_class = {c["class"]: round(float(c["map50"]), 3) for c in result.per_class
                 if c["class"] != "all"}
    p25, r25 = precision_recall(items, dets, 0.25)
    f1 = []
    for conf in np.arange(0.05, 0.95, 0.05):
        p, r = precision_recall(items, dets, float(conf))
        f1.append((2 * p * r / max(p + r, 1e-9), float(conf), p, r))
    best = max(f1)
    report = {"model": summary, "images": len(items), "cones": int(sum(len(i.boxes) for i in items)),
              "ap50_per_class": per_class,
              "ap50_mean_blue_yellow_orange": round(float(np.mean(list(per_class.values()))), 3),
              "precision_at_0.25": round(p25, 3), "recall_at_0.25": round(r25, 3),
              "best_f1": {"f1": round(best[0], 3), "conf": round(best[1], 2),
                          "precision": round(best[2], 3), "recall": round(best[3], 3)}}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
