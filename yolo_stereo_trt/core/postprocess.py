"""Decoding of YOLO detection heads into boxes in original image pixels.

Matches Ultralytics 8.4 ``non_max_suppression`` (multi_label=False) followed by
``scale_boxes``: best-class confidence filter (strictly greater than the threshold),
class-aware NMS by offsetting boxes by ``class * 7680``, greedy suppression of IoU strictly
greater than the threshold, at most ``max_det`` kept, boxes mapped back through the exact
inverse of the letterbox and clipped to the image.

Heads understood:
  * raw ``[B, 4+nc, N]``: cx, cy, w, h in input pixels then nc sigmoid class scores;
  * end-to-end ``[B, K, 6]``: x1, y1, x2, y2, score, class (already suppressed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .preprocess import LetterboxGeometry

MAX_WH = 7680.0  # Ultralytics' class offset for class-aware NMS
MAX_NMS = 30000  # Ultralytics' cap on boxes entering NMS
_MATRIX_NMS_LIMIT = 2048  # above this many candidates the O(n^2) IoU matrix gets too big


@dataclass(frozen=True)
class DecodeConfig:
    conf_threshold: float = 0.25
    iou_threshold: float = 0.7
    max_detections: int = 300
    agnostic: bool = False
    # Per-class confidence thresholds; empty = conf_threshold for every class.
    class_conf_thresholds: tuple[float, ...] = ()


@dataclass
class Detections:
    """Detections of one image: xyxy boxes (n,4) float32, scores (n,), class ids (n,) int64."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))

    def __len__(self) -> int:
        return int(self.scores.shape[0])


class HeadFormatError(ValueError):
    """The model output has a layout this decoder does not understand."""


def head_kind(shape: Sequence[int], num_classes: int | None = None) -> str:
    """'raw' for [B, 4+nc, N], 'end2end' for [B, K, 6]; raises HeadFormatError otherwise."""
    if len(shape) != 3:
        raise HeadFormatError(f"expected a 3-D output [B, C, N], got shape {tuple(shape)}")
    if num_classes is not None and shape[1] == 4 + num_classes:
        return "raw"
    if shape[2] == 6 and (num_classes is None or shape[1] != 4 + num_classes):
        return "end2end"
    if shape[1] > 4 and num_classes is None:
        return "raw"
    raise HeadFormatError(
        f"cannot decode output of shape {tuple(shape)} for {num_classes} classes: expected "
        f"[B, 4+nc, N] or end-to-end [B, K, 6]")


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    out = np.empty_like(xywh)
    half_w = xywh[:, 2] / 2
    half_h = xywh[:, 3] / 2
    out[:, 0] = xywh[:, 0] - half_w
    out[:, 1] = xywh[:, 1] - half_h
    out[:, 2] = xywh[:, 0] + half_w
    out[:, 3] = xywh[:, 1] + half_h
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU (len(a), len(b)) of xyxy boxes, as torchvision computes it."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """Greedy NMS; returns kept indices in descending score order (at most ``max_keep``).

    Small inputs use the IoU matrix and a vectorized fixpoint: ``keep[i]`` is true when no
    kept higher-scored box overlaps box i by more than the threshold; each sweep settles at
    least one more position of the score order, and it stops when nothing changes, which is
    exactly greedy NMS. Large inputs (low thresholds in evaluation) use the classic loop over
    kept boxes, which stops after ``max_keep`` of them.
    """
    order = np.argsort(-scores, kind="stable")
    boxes = boxes[order]
    n = boxes.shape[0]
    if n <= _MATRIX_NMS_LIMIT:
        suppresses = np.triu(box_iou(boxes, boxes) > iou_threshold, k=1)
        keep = np.ones(n, dtype=bool)
        while True:
            new_keep = ~(keep @ suppresses)
            if np.array_equal(new_keep, keep):
                break
            keep = new_keep
        return order[np.flatnonzero(keep)[:max_keep]]
    alive = np.ones(n, dtype=bool)
    kept: list[int] = []
    for i in range(n):
        if not alive[i]:
            continue
        kept.append(i)
        if len(kept) >= max_keep:
            break
        rest = np.flatnonzero(alive[i + 1:]) + i + 1
        alive[rest[box_iou(boxes[i:i + 1], boxes[rest])[0] > iou_threshold]] = False
    return order[np.asarray(kept, dtype=np.int64)]


def _thresholds(config: DecodeConfig, num_classes: int) -> np.ndarray | float:
    if not config.class_conf_thresholds:
        return config.conf_threshold
    if len(config.class_conf_thresholds) != num_classes:
        raise ValueError(f"{len(config.class_conf_thresholds)} per-class thresholds for "
                         f"{num_classes} classes")
    return np.asarray(config.class_conf_thresholds, dtype=np.float32)


def decode_raw(pred: np.ndarray, config: DecodeConfig) -> Detections:
    """One image's raw head ``[4+nc, N]`` -> detections in model-input pixels."""
    num_classes = pred.shape[0] - 4
    class_scores = pred[4:]
    best = class_scores.max(axis=0)
    lowest = min(config.class_conf_thresholds) if config.class_conf_thresholds else config.conf_threshold
    candidates = np.flatnonzero(best > lowest)
    if candidates.size == 0:
        return Detections()
    cand = pred[:, candidates].T  # (n, 4+nc)
    class_ids = cand[:, 4:].argmax(axis=1)
    scores = cand[np.arange(cand.shape[0]), 4 + class_ids]
    thresholds = _thresholds(config, num_classes)
    if isinstance(thresholds, np.ndarray):
        ok = scores > thresholds[class_ids]
        cand, class_ids, scores = cand[ok], class_ids[ok], scores[ok]
    if cand.shape[0] > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        cand, class_ids, scores = cand[top], class_ids[top], scores[top]
    boxes = xywh_to_xyxy(cand[:, :4])
    offsets = 0.0 if config.agnostic else class_ids.astype(boxes.dtype)[:, None] * boxes.dtype.type(MAX_WH)
    keep = nms(boxes + offsets, scores, config.iou_threshold, config.max_detections)
    return Detections(boxes[keep].astype(np.float32), scores[keep].astype(np.float32),
                      class_ids[keep].astype(np.int64))


def decode_end2end(pred: np.ndarray, config: DecodeConfig) -> Detections:
    """One image's end-to-end head ``[K, 6]`` -> detections in model-input pixels."""
    class_ids = pred[:, 5].astype(np.int64)
    scores = pred[:, 4]
    if config.class_conf_thresholds:
        thr = np.asarray(config.class_conf_thresholds, dtype=np.float32)
        ok = (class_ids >= 0) & (class_ids < thr.size)
        ok[ok] = scores[ok] > thr[class_ids[ok]]
    else:
        ok = scores > config.conf_threshold
    idx = np.flatnonzero(ok)[:config.max_detections]  # the model already ranked them
    return Detections(pred[idx, :4].astype(np.float32), scores[idx].astype(np.float32),
                      class_ids[idx])


def scale_boxes(boxes: np.ndarray, geometry: LetterboxGeometry) -> np.ndarray:
    """Model-input xyxy boxes -> original image pixels (Ultralytics 8.4 ``scale_boxes``).

    The exact inverse of the letterbox: subtract the pad, divide x by nw/w and y by nh/h
    (the rounded resize), clip to the image.
    """
    (h0, w0), (nh, nw) = geometry.src_hw, geometry.resized_hw
    out = boxes.astype(np.float32, copy=True)
    out[:, [0, 2]] -= geometry.left
    out[:, [1, 3]] -= geometry.top
    out[:, [0, 2]] /= np.float32(nw / w0)
    out[:, [1, 3]] /= np.float32(nh / h0)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w0)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h0)
    return out


def decode(output: np.ndarray, geometries: Sequence[LetterboxGeometry], config: DecodeConfig,
           num_classes: int | None = None) -> list[Detections]:
    """Decode a batch output into per-image detections in original image pixels."""
    output = np.asarray(output)
    kind = head_kind(output.shape, num_classes)
    if output.shape[0] < len(geometries):
        raise HeadFormatError(f"output batch {output.shape[0]} < {len(geometries)} images")
    if not np.isfinite(output[:len(geometries)]).all():
        raise FloatingPointError("model output contains NaN or Inf")
    if output.dtype != np.float32:
        output = output.astype(np.float32)
    results = []
    for i, geometry in enumerate(geometries):
        dets = decode_raw(output[i], config) if kind == "raw" else decode_end2end(output[i], config)
        dets.boxes = scale_boxes(dets.boxes, geometry)
        results.append(dets)
    return results
