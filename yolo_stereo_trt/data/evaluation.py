"""Detection accuracy against ground truth through faster-coco-eval (COCO's AP, not ours).

Images come from a YOLO-format split (`images/...` with `labels/...` beside it), run through
the node's pipeline two at a time (left + right of a synthetic pair, or consecutive images of
any other set) as one batch-2 inference. Ultralytics' validation settings by default (conf
0.001, IoU 0.7, 300 detections), so the figures compare with `yolo val`.

Range buckets (synthetic sets, whose ground_truth_SPLIT.json gives every cone's depth) use
COCO's area-range machinery with the range in metres in place of the area: a ground-truth box
carries its cone's true depth, a detection the depth its box height implies for its class
(fy * cone height / box height), so each bucket's AP counts the detections of that range only.

Classes match BY NAME: the model's class ids are remapped to the dataset's (data.yaml
``names``) through ``match_classes``, exactly by name, else by cone type where the spellings
differ (``big_orange`` = ``large_orange_cone``); a model and its renumbered twin give identical
figures, and a model that shares no class with the dataset is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..core.classes import ClassMap, type_of_name
from ..core.metadata import parse_names
from ..core.postprocess import DecodeConfig, Detections

RANGE_BUCKETS = ((0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.0),
                 (25.0, 30.0))
VAL_CONFIG = DecodeConfig(conf_threshold=0.001, iou_threshold=0.7, max_detections=300)


@dataclass
class EvalImage:
    path: Path
    class_ids: np.ndarray  # (n,)
    boxes: np.ndarray  # (n,4) xyxy pixels
    ranges: np.ndarray | None = None  # (n,) metres, synthetic sets only


@dataclass
class EvalResult:
    map50: float
    map50_95: float
    precision: float
    recall: float
    per_class: list[dict[str, Any]] = field(default_factory=list)
    per_range: list[dict[str, Any]] = field(default_factory=list)
    images: int = 0
    instances: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ClassMatchError(ValueError):
    """No model class matches a dataset class by name or cone type."""


@dataclass
class ClassMatch:
    """Model class id -> dataset class id (-1: not in the dataset), and how each was matched."""

    model_to_dataset: np.ndarray  # (model classes,) int64
    lines: list[str]

    def remap(self, detections: Sequence[Detections]) -> list[Detections]:
        """Detections in the dataset's class ids; those of unmatched model classes dropped."""
        out = []
        lut = np.append(self.model_to_dataset, -1)
        for det in detections:
            ids = np.asarray(det.class_ids, np.int64)
            ids = lut[np.where((ids >= 0) & (ids < lut.size - 1), ids, lut.size - 1)]
            keep = ids >= 0
            out.append(Detections(det.boxes[keep], det.scores[keep], ids[keep]))
        return out


def match_classes(model_names: Sequence[str], dataset_names: Sequence[str] | None) -> ClassMatch:
    """Match the model's classes to the dataset's by name (case-insensitive), then by cone type
    (core.classes) where that type is unique among the still unmatched classes on both sides.
    ``dataset_names`` None (an images folder without data.yaml): the label ids are taken as
    the model's. Raises ClassMatchError when no class matches."""
    model_names = [str(n) for n in model_names]
    if dataset_names is None:
        return ClassMatch(np.arange(len(model_names), dtype=np.int64),
                          ["the dataset names no classes: its label ids are read as the "
                           "model's (" + ", ".join(f"{i} {n}" for i, n in enumerate(model_names))
                           + ")"])
    dataset_names = [str(n) for n in dataset_names]
    mapping = np.full(len(model_names), -1, np.int64)
    how: dict[int, str] = {}
    by_name = {n.strip().lower(): j for j, n in reversed(list(enumerate(dataset_names)))}
    for i, n in enumerate(model_names):
        j = by_name.get(n.strip().lower())
        if j is not None and j not in mapping:
            mapping[i], how[i] = j, "name"
    free_m = [i for i in range(len(model_names)) if mapping[i] < 0]
    free_d = [j for j in range(len(dataset_names)) if j not in mapping]
    types_m = {i: type_of_name(model_names[i]) for i in free_m}
    types_d = {j: type_of_name(dataset_names[j]) for j in free_d}
    for i, t in types_m.items():
        same_m = [k for k, u in types_m.items() if u == t]
        same_d = [k for k, u in types_d.items() if u == t]
        if t is not None and len(same_m) == 1 and len(same_d) == 1:
            mapping[i], how[i] = same_d[0], f"type {t}"
    if not (mapping >= 0).any():
        raise ClassMatchError(
            f"no model class matches a dataset class by name or cone type: model "
            f"{', '.join(model_names)}; dataset {', '.join(dataset_names)} (rename the classes "
            f"or fix data.yaml names)")
    lines = [f"model {i} {model_names[i]} = dataset {mapping[i]} {dataset_names[mapping[i]]} "
             f"(by {how[i]})" for i in range(len(model_names)) if mapping[i] >= 0]
    if (mapping < 0).any():
        lines.append("model classes not in the dataset (their detections are left out): "
                     + ", ".join(n for n, m in zip(model_names, mapping) if m < 0))
    missing = [n for j, n in enumerate(dataset_names) if j not in mapping]
    if missing:
        lines.append("dataset classes no model class matches (their labels count as missed): "
                     + ", ".join(missing))
    return ClassMatch(mapping, lines)


def dataset_names(source: str | Path) -> list[str] | None:
    """The class names of a YOLO data.yaml (``names``: list or {id: name}); None for an images
    folder or a data.yaml without names."""
    source = Path(source)
    if not (source.is_file() and source.suffix in (".yaml", ".yml")):
        return None
    import yaml
    data = yaml.safe_load(source.read_text()) or {}
    return parse_names(data["names"]) if data.get("names") else None


def load_split(source: str | Path, split: str = "val") -> tuple[list[EvalImage], float | None]:
    """A YOLO split (data.yaml or an images folder) with its labels, in pixels, and the
    camera's fy. Cone ranges and fy only when a synthetic ground_truth_SPLIT.json sits beside
    the data.yaml (else fy is None and there are no range buckets)."""
    from ..engine.calibration import list_calibration_images
    source = Path(source)
    images = list_calibration_images(source, None, split)
    items = []
    for path in images:
        parts = list(path.parts)
        idx = len(parts) - 1 - parts[::-1].index("images") if "images" in parts else None
        label = Path(*parts[:idx], "labels", *parts[idx + 1:]).with_suffix(".txt") \
            if idx is not None else path.with_suffix(".txt")
        h, w = _image_size(path)
        lab = np.loadtxt(label, ndmin=2) if label.is_file() and label.stat().st_size else \
            np.zeros((0, 5))
        boxes = np.stack([(lab[:, 1] - lab[:, 3] / 2) * w, (lab[:, 2] - lab[:, 4] / 2) * h,
                          (lab[:, 1] + lab[:, 3] / 2) * w, (lab[:, 2] + lab[:, 4] / 2) * h], 1)
        items.append(EvalImage(path, lab[:, 0].astype(np.int64), boxes.astype(np.float32)))
    root = source.parent if source.is_file() else source
    gt_file = root / f"ground_truth_{split}.json"
    if not gt_file.is_file():
        return items, None
    gt = json.loads(gt_file.read_text())
    attach_ranges(items, gt)
    return items, float(gt["camera"]["fy"])


def _image_size(path: Path) -> tuple[int, int]:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return img.shape[0], img.shape[1]


def attach_ranges(items: list[EvalImage], gt: dict[str, Any]) -> None:
    """Give each label of a synthetic image its cone's depth (matched by box, IoU > 0.9)."""
    from ..core.postprocess import box_iou
    by_stem = {}
    for rec in gt["pairs"]:
        for view in ("left", "right"):
            boxes = np.array([c[f"visible_{view}"] for c in rec["cones"]], np.float32)
            z = np.array([c["xyz"][2] for c in rec["cones"]], np.float32)
            by_stem[f"{rec['index']:05d}_{view}"] = (boxes.reshape(-1, 4), z)
    for item in items:
        entry = by_stem.get(item.path.stem)
        if entry is None or not len(item.boxes):
            continue
        iou = box_iou(item.boxes, entry[0]) if len(entry[0]) else np.zeros((len(item.boxes), 0))
        best = iou.argmax(1) if iou.shape[1] else np.zeros(len(item.boxes), int)
        ok = iou[np.arange(len(best)), best] > 0.9 if iou.shape[1] else np.zeros(len(best), bool)
        # a label without its cone (should not happen) counts in "all" but in no range bucket
        item.ranges = np.where(ok, entry[1][best] if len(entry[1]) else 0, -0.5)


def run_detections(detect_pair: Callable[[np.ndarray, np.ndarray], Sequence[Detections]],
                   items: Sequence[EvalImage], progress: bool = True) -> list[Detections]:
    """Detections per image, two images per batch-2 call (the last one paired with itself)."""
    from tqdm import tqdm
    out: list[Detections] = []
    for k in tqdm(range(0, len(items), 2), desc="evaluating pairs", unit="pair",
                  disable=not progress):
        a = cv2.imread(str(items[k].path))
        b = cv2.imread(str(items[k + 1].path)) if k + 1 < len(items) else a
        if a is None or b is None:
            raise ValueError(f"cannot read {items[k].path} or its partner")
        dets = detect_pair(a, b)
        out += list(dets[:2] if k + 1 < len(items) else dets[:1])
    return out


def coco_evaluate(items: Sequence[EvalImage], detections: Sequence[Detections],
                  names: Sequence[str], fy: float | None = None) -> EvalResult:
    """mAP50, mAP50-95, precision, recall, per class (and per range bucket with `fy`)."""
    from faster_coco_eval import COCO, COCOeval_faster

    classes = ClassMap(names)  # cone heights by the dataset's class names
    with_ranges = fy is not None and \
        all(i.ranges is not None or not len(i.boxes) for i in items)
    images, anns, dets = [], [], []
    for img_id, (item, det) in enumerate(zip(items, detections), start=1):
        images.append({"id": img_id, "file_name": str(item.path), "width": 0, "height": 0})
        for j, (c, b) in enumerate(zip(item.class_ids, item.boxes)):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            rng = float(item.ranges[j]) if with_ranges and item.ranges is not None else w * h
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": int(c),
                         "bbox": [float(b[0]), float(b[1]), w, h], "area": rng,
                         "iscrowd": 0})
        for c, b, s in zip(det.class_ids, det.boxes, det.scores):
            dets.append({"image_id": img_id, "category_id": int(c), "score": float(s),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                  float(b[3] - b[1])]})
    cats = [{"id": i, "name": n} for i, n in enumerate(names)]
    coco_gt = COCO({"images": images, "annotations": anns, "categories": cats})
    coco_dt = coco_gt.loadRes(dets) if dets else COCO({"images": images, "annotations": [],
                                                        "categories": cats})
    if with_ranges and dets:
        assert fy is not None
        dt_anns = coco_dt.dataset["annotations"]
        heights = classes.heights_of([d["category_id"] for d in dt_anns]).astype(np.float64)
        for d, height in zip(dt_anns, heights.tolist()):
            d["area"] = fy * height / max(d["bbox"][3], 1e-3)
        coco_dt.createIndex()
    ev = COCOeval_faster(coco_gt, coco_dt, "bbox", extra_calc=True, print_function=lambda *_: None)
    ev.params.maxDets = [1, 10, 300]
    buckets = RANGE_BUCKETS if with_ranges else ()
    ev.params.areaRng = [[-1.0, 1e10], *[list(b) for b in buckets]]
    ev.params.areaRngLbl = ["all", *[f"{a:g}-{b:g} m" for a, b in buckets]]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    precision = ev.eval["precision"]  # [T, R, K, A, M]

    def ap(t: slice | int, k: slice | int, a: int) -> float:
        p = precision[t, :, k, a, -1]
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    ext = ev.extended_metrics
    per_class = per_class_rows(names, [a["category_id"] for a in anns],
                               [d["category_id"] for d in dets], ext["class_map"],
                               lambda k: (ap(0, k, 0), ap(slice(None), k, 0)))
    recall = ev.eval.get("recall")  # [T, K, A, M]
    per_range = []
    for a, (lo, hi) in enumerate(buckets, start=1):
        n = sum(1 for x in anns if lo <= x["area"] < hi)
        r = recall[0, :, a, -1] if recall is not None else np.array([])
        r = r[r > -1]
        per_range.append({"range": f"{lo:g}-{hi:g} m", "instances": n,
                          "map50": ap(0, slice(None), a), "map50_95": ap(slice(None),
                                                                         slice(None), a),
                          "recall50": float(r.mean()) if r.size else float("nan")})
    return EvalResult(ap(0, slice(None), 0), ap(slice(None), slice(None), 0),
                      float(ext["precision"]), float(ext["recall"]), per_class, per_range,
                      len(items), len(anns))


def per_class_rows(names: Sequence[str], label_ids: Sequence[int], detection_ids: Sequence[int],
                   class_map: Sequence[dict[str, Any]], ap_of: Callable[[int], tuple[float, float]]
                   ) -> list[dict[str, Any]]:
    """One row per dataset class, matched BY NAME to faster-coco-eval's ``class_map`` (which
    leaves out classes it has no numbers for, so its rows cannot be taken by position; its last
    row is "all"). A class without labels gets its own row with 0 instances and no metrics
    (NaN: n/a), never another class's; a class with labels but no detections has AP 0, recall 0
    and no precision. ``ap_of(k)``: (AP50, AP50-95) of category k."""
    rows = {r["class"]: r for r in list(class_map)[:-1]}
    labels = np.bincount(np.asarray(label_ids, np.int64), minlength=len(names))
    detected = np.bincount(np.asarray(detection_ids, np.int64), minlength=len(names))
    out = []
    for k, name in enumerate(names):
        nan = float("nan")
        if labels[k] == 0:
            out.append({"class": name, "instances": 0, "map50": nan, "map50_95": nan,
                        "precision": nan, "recall": nan})
            continue
        map50, map50_95 = ap_of(k)
        row = rows.get(name, {})
        out.append({"class": name, "instances": int(labels[k]), "map50": map50,
                    "map50_95": map50_95, "precision": float(row.get("precision", nan)),
                    "recall": float(row.get("recall", nan if detected[k] else 0.0))})
    return out


def _metric(x: float) -> str:
    return f"{x:.3f}" if np.isfinite(x) else "n/a"


def format_result(result: EvalResult, title: str = "") -> str:
    lines = [f"{title}{result.images} images, {result.instances} labelled cones: "
             f"mAP50 {result.map50:.4f}  mAP50-95 {result.map50_95:.4f}  "
             f"P {result.precision:.3f}  R {result.recall:.3f}",
             "| class | cones | mAP50 | mAP50-95 | P | R |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {c['class']} | {c['instances']} | {_metric(c['map50'])} | "
              f"{_metric(c['map50_95'])} | {_metric(c['precision'])} | {_metric(c['recall'])} |"
              for c in result.per_class]
    if result.per_range:
        lines += ["", "| range | cones | mAP50 | mAP50-95 | recall (IoU 0.5) |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['range']} | {r['instances']} | {r['map50']:.3f} | "
                  f"{r['map50_95']:.3f} | {r['recall50']:.3f} |" for r in result.per_range]
    return "\n".join(lines)
