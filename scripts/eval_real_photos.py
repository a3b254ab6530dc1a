"""A model on the real labelled FEB photos in ../shared/real_cones (evaluation only).

    .venv/bin/python scripts/eval_real_photos.py --model models/yolo12n_synthetic_cones.onnx

The photos are never copied into the project: a temporary folder of links to feb_* images and
their YOLO labels (0 blue, 1 yellow, 2 orange: SOURCES.md) is evaluated through the node's
pipeline. The model's classes count by cone TYPE: blue, yellow, and orange = small or large
orange (the labels do not split them); unknown cones never match. Prints AP50 per class and
their mean (faster-coco-eval, conf 0.001), precision and recall at conf 0.25 (greedy by score,
IoU 0.5, class-aware) and the threshold of the best F1.

``--analysis [PNG]`` says why cones are missed, per class, at conf 0.25: every labelled cone
is found (a box of its type at IoU >= 0.5, the same greedy matching as the recall), confused
(a box of another model class at IoU >= 0.5: which one), loose (a box at IoU 0.3-0.5 only),
low score (its type at IoU >= 0.5 only below conf 0.25) or missed (nothing); with the cones'
heights in the model's 640x640 input, and a confusion-matrix picture (matplotlib; rows: the
labelled types and the unmatched boxes, columns: the model's five classes and "missed").
The picture holds counts only, no photo pixels.
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
from yolo_stereo_trt.data.evaluation import (_image_size, coco_evaluate, load_split,  # noqa: E402
                                             run_detections)

REAL = Path(__file__).resolve().parents[2] / "shared" / "real_cones"
DATASET = ["blue", "yellow", "orange"]
TYPE_TO_DATASET = {"blue": 0, "yellow": 1, "orange": 2, "large_orange": 2}
OUTCOMES = ("found", "confused", "loose", "low score", "missed")
HEIGHT_BINS = (0, 8, 16, 32, 64, 10_000)  # cone box height in the model's input (px)


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


def classify_cones(items, raw: list[Detections], types: list[str], sizes: list[tuple[int, int]],
                   input_hw: tuple[int, int], conf: float = 0.25) -> tuple[list[dict], np.ndarray]:
    """What became of every labelled cone at ``conf`` (OUTCOMES), and the unmatched boxes.

    ``raw``: the model's own classes at conf 0.001; ``sizes``: each image's (h, w). Returns
    one record per labelled cone (dataset class, outcome, the model class that found or
    confused it (-1: none), IoU, score, box height in image and model-input pixels, aspect
    h/w) and the count of boxes >= conf that explain no cone, per model class."""
    lut = np.array([TYPE_TO_DATASET.get(t, -1) for t in types] + [-1])
    records, background = [], np.zeros(len(types), np.int64)
    for item, d, (h_img, w_img) in zip(items, raw, sizes):
        scale = min(input_hw[0] / h_img, input_hw[1] / w_img)
        hi = d.scores >= conf
        boxes, scores, ids = d.boxes[hi], d.scores[hi], d.class_ids[hi]
        same = lut[np.clip(ids, 0, len(types))]
        n_gt = len(item.boxes)
        iou = box_iou(boxes, item.boxes) if len(boxes) and n_gt else np.zeros((len(boxes), n_gt))
        used_gt, used_det = np.zeros(n_gt, bool), np.zeros(len(boxes), bool)
        outcome, by, best_iou, best_score = ["missed"] * n_gt, [-1] * n_gt, [0.0] * n_gt, \
            [0.0] * n_gt
        for k in np.argsort(-scores):  # the recall's own matching: class-aware, greedy by score
            cand = np.flatnonzero((iou[k] >= 0.5) & ~used_gt & (item.class_ids == same[k]))
            if cand.size:
                j = cand[np.argmax(iou[k, cand])]
                used_gt[j], used_det[k] = True, True
                outcome[j], by[j], best_iou[j], best_score[j] = "found", int(ids[k]), \
                    float(iou[k, j]), float(scores[k])
        for j in np.flatnonzero(~used_gt):
            free = ~used_det
            other = free & (iou[:, j] >= 0.5) & (same != item.class_ids[j])
            loose = free & (iou[:, j] >= 0.3) & (iou[:, j] < 0.5)
            if other.any():
                k = int(np.flatnonzero(other)[np.argmax(iou[other, j])])
                used_det[k] = True
                outcome[j], by[j], best_iou[j], best_score[j] = "confused", int(ids[k]), \
                    float(iou[k, j]), float(scores[k])
            elif loose.any():
                k = int(np.flatnonzero(loose)[np.argmax(iou[loose, j])])
                outcome[j], by[j], best_iou[j], best_score[j] = "loose", int(ids[k]), \
                    float(iou[k, j]), float(scores[k])
            else:  # below the threshold: the best box of its type at IoU >= 0.5
                low = d.scores < conf
                if low.any():
                    iou_low = box_iou(d.boxes[low], item.boxes[j:j + 1])[:, 0]
                    ok = (iou_low >= 0.5) & (lut[np.clip(d.class_ids[low], 0, len(types))]
                                             == item.class_ids[j])
                    if ok.any():
                        k = int(np.flatnonzero(ok)[np.argmax(d.scores[low][ok])])
                        outcome[j], by[j] = "low score", int(d.class_ids[low][k])
                        best_iou[j], best_score[j] = float(iou_low[k]), \
                            float(d.scores[low][k])
        np.add.at(background, ids[~used_det], 1)
        for j in range(n_gt):
            x1, y1, x2, y2 = item.boxes[j]
            records.append({"image": item.path.name, "cls": int(item.class_ids[j]),
                            "outcome": outcome[j], "by": by[j], "iou": round(best_iou[j], 3),
                            "score": round(best_score[j], 3), "h_px": float(y2 - y1),
                            "h_input": float((y2 - y1) * scale),
                            "aspect": float((y2 - y1) / max(x2 - x1, 1e-6))})
    return records, background


def confusion_matrix(records: list[dict], background: np.ndarray, n_model: int) -> np.ndarray:
    """Rows: DATASET types + unmatched boxes; columns: the model's classes + missed. A cone
    that was found or confused sits in the column of the class that boxed it; loose, low-score
    and missed cones in "missed" (no box at IoU >= 0.5 and conf >= 0.25)."""
    m = np.zeros((len(DATASET) + 1, n_model + 1), np.int64)
    for r in records:
        col = r["by"] if r["outcome"] in ("found", "confused") else n_model
        m[r["cls"], col] += 1
    m[len(DATASET), :n_model] = background
    return m


def analysis_tables(records: list[dict], background: np.ndarray, types: list[str]) -> str:
    names = list(types)
    lines = ["What became of each labelled cone at conf 0.25 (heights in the model's input px):",
             "", "| class | cones | " + " | ".join(OUTCOMES) + " | confused as | loose as |",
             "|---|---:|" + "---:|" * len(OUTCOMES) + "---|---|"]
    for c, cname in enumerate(DATASET):
        rs = [r for r in records if r["cls"] == c]
        counts = [sum(r["outcome"] == o for r in rs) for o in OUTCOMES]
        conf_as = _tally([names[r["by"]] for r in rs if r["outcome"] == "confused"])
        loose_as = _tally([names[r["by"]] for r in rs if r["outcome"] == "loose"])
        lines.append(f"| {cname} | {len(rs)} | " + " | ".join(map(str, counts))
                     + f" | {conf_as} | {loose_as} |")
    lines += ["", "Cone height (model-input px) by outcome: median [quartiles]; count per "
              "height bin " + ", ".join(f"{a}-{b}" if b < 10_000 else f">={a}"
                                        for a, b in zip(HEIGHT_BINS[:-1], HEIGHT_BINS[1:])),
              "", "| class | outcome | cones | height median [q1, q3] | per height bin |",
              "|---|---|---:|---|---|"]
    for c, cname in enumerate(DATASET):
        for o in OUTCOMES:
            h = np.array([r["h_input"] for r in records if r["cls"] == c and r["outcome"] == o])
            if not h.size:
                continue
            q1, med, q3 = np.percentile(h, [25, 50, 75])
            hist = np.histogram(h, HEIGHT_BINS)[0]
            lines.append(f"| {cname} | {o} | {h.size} | {med:.1f} [{q1:.1f}, {q3:.1f}] | "
                         + " / ".join(map(str, hist)) + " |")
    lines += ["", "Recall at conf 0.25 per height bin (found / cones):", "",
              "| class | " + " | ".join(f"{a}-{b} px" if b < 10_000 else f">={a} px"
                                       for a, b in zip(HEIGHT_BINS[:-1], HEIGHT_BINS[1:]))
              + " |", "|---|" + "---:|" * (len(HEIGHT_BINS) - 1)]
    for c, cname in enumerate(DATASET):
        h = np.array([r["h_input"] for r in records if r["cls"] == c])
        f = np.array([r["outcome"] == "found" for r in records if r["cls"] == c])
        idx = np.digitize(h, HEIGHT_BINS[1:-1])
        cells = [f"{int(f[idx == b].sum())}/{int((idx == b).sum())}"
                 for b in range(len(HEIGHT_BINS) - 1)]
        lines.append(f"| {cname} | " + " | ".join(cells) + " |")
    orange = [r for r in records if r["cls"] == DATASET.index("orange")]
    if orange:
        a = np.array([r["aspect"] for r in orange])
        by_large = _tally([names[r["by"]] for r in orange if r["outcome"] == "found"])
        lines += ["", f"Orange labels: box aspect h/w median {np.median(a):.2f} (a small cone "
                  f"with its base is ~1.4, a large one ~1.8; {int((a >= 1.6).sum())} of "
                  f"{a.size} at >= 1.6); found as: {by_large or 'none'}"]
    lines += ["", "Boxes at conf >= 0.25 that explain no labelled cone, per model class: "
              + ", ".join(f"{n} {int(b)}" for n, b in zip(names, background))]
    return "\n".join(lines)


def _tally(values: list[str]) -> str:
    if not values:
        return ""
    keys, counts = np.unique(values, return_counts=True)
    return ", ".join(f"{k} {int(n)}" for k, n in zip(keys, counts))


def plot_confusion(path: Path, matrix: np.ndarray, types: list[str], title: str) -> bool:
    """The confusion matrix as a picture (counts, colours normalised per row); False without
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--analysis: matplotlib is not installed, so no confusion-matrix picture was "
              "written (the tables above are complete); install it into this venv for the "
              "picture: .venv/bin/pip install matplotlib", file=sys.stderr)
        return False
    rows = [f"{n} (labelled)" for n in DATASET] + ["no labelled cone"]
    cols = list(types) + ["missed"]
    norm = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8.5, 4.2), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j] or j == matrix.shape[1] - 1 and i < len(DATASET):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                        color="white" if norm[i, j] > 0.55 else "black", fontsize=10)
    ax.set_xticks(range(len(cols)), [c.replace("_cone", "") for c in cols], rotation=20)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("model's class (box at IoU >= 0.5, conf >= 0.25)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"confusion matrix: {path}")
    return True


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
    ap.add_argument("--analysis", type=Path, nargs="?", const=Path("confusion_real_photos.png"),
                    metavar="PNG", help="why cones are missed, per class at conf 0.25 (found, "
                    "confused, loose, low score, missed; heights), and the confusion matrix "
                    "as a picture (default confusion_real_photos.png; needs matplotlib)")
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
        sizes = [_image_size(i.path) for i in items]
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
    if args.analysis:
        h_in, w_in = pipeline.backend.input.hw
        records, background = classify_cones(items, raw, types, sizes, (h_in, w_in))
        print(analysis_tables(records, background, types))
        matrix = confusion_matrix(records, background, len(types))
        plot_confusion(args.analysis, matrix, types,
                       f"{Path(args.model).name} on {len(items)} labelled photos "
                       f"(rows: labels; colour: share of the row)")
        report["analysis"] = {"matrix": matrix.tolist(), "rows": DATASET + ["background"],
                              "columns": types + ["missed"], "cones": records}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
