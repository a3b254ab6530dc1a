"""Decoding of YOLO detection heads into boxes in original image pixels.

Matches Ultralytics 8.4 ``non_max_suppression`` (multi_label=False) followed by
``scale_boxes``: best-class confidence filter (strictly greater than the threshold),
class-aware NMS by offsetting boxes by ``class * 7680``, greedy suppression of IoU strictly
greater than the threshold, at most ``max_det`` kept, boxes mapped back through the exact
inverse of the letterbox and clipped to the image.

Heads understood (decided once, at load, by ``decide_head``):
  * Ultralytics raw ``[B, 4+nc, N]`` (v8, 11, 12): cx, cy, w, h in input pixels then nc sigmoid
    class scores, N = sum over strides s of (H/s)(W/s);
  * YOLOv5 ``[B, N, 5+nc]``: cx, cy, w, h, objectness, class scores, N = 3 anchors per cell
    (or 1, anchor-free objectness heads): confidence = objectness x class score (YOLOv5's
    ``non_max_suppression``: objectness above the threshold first), then the same NMS;
  * end-to-end ``[B, K, 6]``: x1, y1, x2, y2, score, class (already suppressed), only when the
    metadata says ``end2end`` or ``head_format`` does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from . import jit
from .metadata import ModelConfigError
from .preprocess import LetterboxGeometry

MAX_WH = 7680.0  # Ultralytics' class offset for class-aware NMS
MAX_NMS = 30000  # Ultralytics' cap on boxes entering NMS


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


HEAD_FORMATS = ("auto", "ultralytics", "end2end", "yolov5")
_LABEL = {"ultralytics": "Ultralytics", "yolov5": "YOLOv5", "end2end": "end-to-end"}


@dataclass(frozen=True)
class HeadLayout:
    """How to read the model's output, decided once at load."""

    format: str  # "ultralytics", "end2end" or "yolov5"
    num_classes: int
    shape: tuple[int, ...]  # the output shape seen at load (batch included)

    def describe(self) -> str:
        return f"{self.format} head {list(self.shape)}, {self.num_classes} classes"


def model_strides(max_stride: object = None) -> tuple[int, ...]:
    """Detection strides from the metadata's ``stride`` (the largest): 32 -> (8, 16, 32),
    64 -> (8, 16, 32, 64); 32 when absent."""
    try:
        top = int(str(max_stride)) if max_stride is not None else 32
    except ValueError:
        top = 32
    if top < 8 or top & (top - 1):
        top = 32
    return tuple(2 ** k for k in range(3, top.bit_length()))


def anchor_count(input_hw: tuple[int, int], strides: Sequence[int] = (8, 16, 32)) -> int:
    """Grid cells over all strides: 8400 at 640x640 with strides 8, 16, 32."""
    h, w = input_hw
    return int(sum(-(-h // s) * -(-w // s) for s in strides))


def decide_head(shape: Sequence[int], input_hw: tuple[int, int], num_names: int, *,
                end2end: bool = False, head_format: str = "auto",
                strides: Sequence[int] = (8, 16, 32)) -> HeadLayout:
    """The head layout of an output ``shape`` for a model of input ``input_hw`` with
    ``num_names`` class names, from shapes and metadata; ``head_format`` settles it.

    Raises ModelConfigError naming the shape and what it could be when the layout is unknown
    or ambiguous, or when its class count disagrees with the names.
    """
    if head_format not in HEAD_FORMATS:
        raise ModelConfigError(f"head_format must be one of {', '.join(HEAD_FORMATS)}, got "
                               f"{head_format!r}")
    shape = tuple(int(d) for d in shape)
    h, w = input_hw
    n = anchor_count(input_hw, strides)
    where = (f"model output {list(shape)} (input {h}x{w}, strides "
             f"{'/'.join(map(str, strides))}: {n} grid cells)")
    if len(shape) != 3:
        raise ModelConfigError(f"{where} is not 3-D: expected Ultralytics [B, 4+nc, N], YOLOv5 "
                               f"[B, N, 5+nc] or end-to-end [B, K, 6]")
    _, a, b = shape
    shapes_of = {"ultralytics": a > 4, "yolov5": b > 5, "end2end": b == 6}
    classes_of = {"ultralytics": a - 4, "yolov5": b - 5, "end2end": num_names}
    layouts = {"ultralytics": "[B, 4+nc, N]", "yolov5": "[B, N, 5+nc]", "end2end": "[B, K, 6]"}
    if head_format != "auto":
        if not shapes_of[head_format]:
            raise ModelConfigError(f"{where} cannot be read as {head_format} "
                                   f"{layouts[head_format]}")
        fmt = head_format
    elif end2end:
        if not shapes_of["end2end"]:
            raise ModelConfigError(f"{where}: the metadata says end2end but the output is not "
                                   f"[B, K, 6]; set head_format to ultralytics or yolov5")
        fmt = "end2end"
    else:
        fits = [f for f, ok in (("ultralytics", a > 4 and b == n),
                                ("yolov5", b > 5 and a in (n, 3 * n))) if ok]
        if len(fits) != 1:
            shaped = [f for f, ok in shapes_of.items() if ok and f in (fits or shapes_of)]
            counted = [f for f in shaped if classes_of[f] == num_names]  # the names agree
            could = [f"{_LABEL[f]} {layouts[f]}" + (f" with {classes_of[f]} classes"
                                                     if f != "end2end" else f" (K = {a})")
                     for f in (counted or shaped)]
            what = "is ambiguous" if fits else "fits no known head layout"
            hint = f"it could be {' or '.join(could)}" if could else "no layout this decoder reads"
            raise ModelConfigError(
                f"{where} {what} (Ultralytics [B, 4+nc, {n}], YOLOv5 [B, {3 * n}, 5+nc], "
                f"end-to-end [B, K, 6] with end2end metadata): {hint}; set head_format "
                f"({'|'.join(HEAD_FORMATS)}) to settle it")
        fmt = fits[0]
    nc = classes_of[fmt]
    if nc != num_names:
        raise ModelConfigError(f"{where} read as {_LABEL[fmt]} {layouts[fmt]} has {nc} "
                               f"class{'es' if nc != 1 else ''} but {num_names} class names are "
                               f"given: fix class_names (or head_format)")
    return HeadLayout(fmt, nc, shape)


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
    """Pairwise IoU (len(a), len(b)) of xyxy boxes, as torchvision computes it (the same
    elementwise operations, on (len(a), len(b)) arrays only: no (n, m, 2) temporaries)."""
    ax1, ay1, ax2, ay2 = np.asarray(a).T
    bx1, by1, bx2, by2 = np.asarray(b).T
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    inter = np.minimum.outer(ax2, bx2)
    inter -= np.maximum.outer(ax1, bx1)
    np.maximum(inter, 0, out=inter)
    h = np.minimum.outer(ay2, by2)
    h -= np.maximum.outer(ay1, by1)
    np.maximum(h, 0, out=h)
    inter *= h
    union = np.add.outer(area_a, area_b)
    union -= inter
    return np.divide(inter, union, out=union)


@jit.inline
def _greedy_nms(boxes, groups, iou_threshold, max_keep, keep):
    """Greedy NMS over ``boxes`` (n, 4) float32 xyxy already in descending score order: box i
    is kept unless a kept box of its group overlaps it by IoU > ``iou_threshold`` (as
    torchvision's kernel: the IoU in float32, compared in float64), at most ``max_keep`` per
    group; sets ``keep``. ``groups``: ids 0..n-1."""
    n = boxes.shape[0]
    kept_in = np.zeros(int(groups.max()) + 1 if n else 1, np.int64)
    suppressed = np.zeros(n, np.bool_)
    for i in range(n):
        g = groups[i]
        if suppressed[i] or kept_in[g] >= max_keep:
            continue
        keep[i] = True
        kept_in[g] += 1
        x1, y1, x2, y2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        area = (x2 - x1) * (y2 - y1)
        for j in range(i + 1, n):
            if suppressed[j] or groups[j] != g:
                continue
            w = min(x2, boxes[j, 2]) - max(x1, boxes[j, 0])
            h = min(y2, boxes[j, 3]) - max(y1, boxes[j, 1])
            inter = max(w, np.float32(0)) * max(h, np.float32(0))
            union = area + (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1]) - inter
            if inter / union > iou_threshold:
                suppressed[j] = True


_greedy_nms_compiled = jit.Kernel(jit.python(_greedy_nms), lambda t: t.void(
    t.Array(t.float32, 2, "C", readonly=True), t.Array(t.int64, 1, "C", readonly=True),
    t.float64, t.int64, t.boolean[::1]))


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int,
        groups: np.ndarray | None = None) -> np.ndarray:
    """Greedy NMS; returns kept indices in descending score order (at most ``max_keep``).
    ``groups`` (one id per box, e.g. the image of a batch): boxes of different groups never
    suppress each other and ``max_keep`` holds per group, exactly as one call per group.
    One compiled pass (core.jit) over the boxes in score order (a stable sort, as torch's)."""
    order = np.argsort(-scores, kind="stable")
    keep = np.zeros(order.size, bool)
    if order.size:
        ordered_groups = (np.zeros(order.size, np.int64) if groups is None
                          else np.ascontiguousarray(groups[order], np.int64))
        if ordered_groups.min() < 0 or ordered_groups.max() >= order.size:  # ids 0..n-1
            ordered_groups = np.unique(ordered_groups, return_inverse=True)[1].astype(np.int64)
        _greedy_nms_compiled(np.ascontiguousarray(boxes[order], np.float32), ordered_groups,
                             float(iou_threshold), int(max_keep), keep)
    return order[keep]


def _thresholds(config: DecodeConfig, num_classes: int) -> np.ndarray | float:
    if not config.class_conf_thresholds:
        return config.conf_threshold
    if len(config.class_conf_thresholds) != num_classes:
        raise ValueError(f"{len(config.class_conf_thresholds)} per-class thresholds for "
                         f"{num_classes} classes")
    return np.asarray(config.class_conf_thresholds, dtype=np.float32)


def _select(xywh: np.ndarray, class_scores: np.ndarray, config: DecodeConfig,
            scores: np.ndarray | None = None, groups: np.ndarray | None = None
            ) -> tuple[Detections, np.ndarray | None]:
    """Candidates (n,4) xywh with (n,nc) class confidences -> best class, thresholds, NMS.
    ``scores``: the best class confidences when the caller has them already; ``groups``: the
    image of each candidate when several images are decoded together (NMS and max_detections
    per image; at most MAX_NMS candidates in all). Returns the detections and their groups."""
    class_ids = class_scores.argmax(axis=1)
    if scores is None:
        scores = np.take_along_axis(class_scores, class_ids[:, None], axis=1)[:, 0]
    thresholds = _thresholds(config, class_scores.shape[1])
    ok = scores > (thresholds[class_ids] if isinstance(thresholds, np.ndarray) else thresholds)
    if not ok.all():
        xywh, class_ids, scores = xywh[ok], class_ids[ok], scores[ok]
        groups = groups[ok] if groups is not None else None
    return _suppress(xywh, class_ids, scores, config, groups)


def _suppress(xywh: np.ndarray, class_ids: np.ndarray, scores: np.ndarray,
              config: DecodeConfig, groups: np.ndarray | None = None
              ) -> tuple[Detections, np.ndarray | None]:
    """Thresholded candidates -> at most MAX_NMS by score, xyxy, class-aware (or agnostic) NMS,
    at most max_detections (per group)."""
    if scores.shape[0] > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        xywh, class_ids, scores = xywh[top], class_ids[top], scores[top]
        groups = groups[top] if groups is not None else None
    half = xywh[:, 2:] / 2
    boxes = np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)  # xyxy
    if config.agnostic:
        keep = nms(boxes, scores, config.iou_threshold, config.max_detections, groups)
    else:
        offsets = class_ids.astype(boxes.dtype)[:, None] * boxes.dtype.type(MAX_WH)
        keep = nms(boxes + offsets, scores, config.iou_threshold, config.max_detections, groups)
    return (Detections(boxes[keep].astype(np.float32, copy=False),
                       scores[keep].astype(np.float32, copy=False),
                       class_ids[keep].astype(np.int64, copy=False)),
            groups[keep] if groups is not None else None)


@jit.inline
def _raw_candidates(output, n_images, thresholds):
    """The Ultralytics raw head's candidates over the first ``n_images`` of ``output``
    (B, 4+nc, N): per anchor the best class (the first on ties) and its score; a candidate is
    an anchor whose best score exceeds the lowest threshold (its box must be finite) and its
    class's threshold (float32 comparisons, as NumPy makes them). Returns (status, image,
    class, score, xywh): status -1 when a class score is NaN or a best score is +-Inf (NaN
    would propagate through NumPy's max), -2 when a candidate's box is, else the number of
    candidates."""
    nc, n_anchors = output.shape[1] - 4, output.shape[2]
    lowest = thresholds.min()
    size = n_images * n_anchors
    image, cls = np.empty(size, np.int64), np.empty(size, np.int64)
    score, xywh = np.empty(size, np.float32), np.empty((size, 4), np.float32)
    best = np.empty(n_anchors, np.float32)
    count = 0
    for b in range(n_images):
        # the best score of every anchor, one class row at a time (contiguous: SIMD)
        nan = 0
        for a in range(n_anchors):
            best[a] = output[b, 4, a]
        for c in range(nc):
            row = output[b, 4 + c]
            for a in range(n_anchors):
                v = row[a]
                nan += v != v
                best[a] = v if v > best[a] else best[a]
        infinite = 0
        for a in range(n_anchors):
            infinite += abs(best[a]) == np.inf
        if nan or infinite:
            return -1, image[:0], cls[:0], score[:0], xywh[:0]
        for a in range(n_anchors):
            top = best[a]
            if top <= lowest:
                continue
            for k in range(4):
                if not math.isfinite(output[b, k, a]):
                    return -2, image[:0], cls[:0], score[:0], xywh[:0]
            c = 0
            while output[b, 4 + c, a] != top:  # the first class with the best score
                c += 1
            if top > thresholds[c]:
                image[count], cls[count], score[count] = b, c, top
                for k in range(4):
                    xywh[count, k] = output[b, k, a]
                count += 1
    return count, image[:count], cls[:count], score[:count], xywh[:count]


def _decode_raw_images(output, n_images, thresholds, agnostic, iou_threshold, max_det, scale,
                       counts, boxes_out, scores_out, cls_out):
    """The Ultralytics raw head of ``n_images`` images, whole: candidates (``_raw_candidates``),
    per image the MAX_NMS best by score (a stable sort), xyxy boxes offset by class * MAX_WH
    unless ``agnostic``, greedy NMS (``_greedy_nms``) keeping at most ``max_det``, and the kept
    boxes mapped to original pixels as ``scale_boxes`` does: ``scale`` (n_images, 6) float32
    rows of pad x, pad y, gain x, gain y, width, height. All arithmetic in float32 as the NumPy
    path. Writes the detections of the images in order, each in descending score order, into
    ``boxes_out``, ``scores_out``, ``cls_out`` (room for n_images x max_det) and their number
    per image into ``counts``; returns how many in all, or the status (< 0) of
    ``_raw_candidates``."""
    status, image, cls, score, xywh = _raw_candidates(output, n_images, thresholds)
    if status < 0:
        return status
    two, zero, max_wh = np.float32(2), np.float32(0), np.float32(MAX_WH)
    k, start = 0, 0
    for b in range(n_images):
        counts[b] = 0
        end = start
        while end < status and image[end] == b:
            end += 1
        order = np.argsort(-score[start:end], kind="mergesort")[:MAX_NMS] + start
        boxes = np.empty((order.size, 4), np.float32)  # offset by class for the NMS
        for r in range(order.size):
            i = order[r]
            off = zero if agnostic else np.float32(cls[i]) * max_wh
            hw, hh = xywh[i, 2] / two, xywh[i, 3] / two
            boxes[r, 0], boxes[r, 1] = xywh[i, 0] - hw + off, xywh[i, 1] - hh + off
            boxes[r, 2], boxes[r, 3] = xywh[i, 0] + hw + off, xywh[i, 1] + hh + off
        keep = np.zeros(order.size, np.bool_)
        _greedy_nms(boxes, np.zeros(order.size, np.int64), iou_threshold, max_det, keep)
        pad_x, pad_y, gain_x, gain_y, w0, h0 = (scale[b, 0], scale[b, 1], scale[b, 2],
                                                scale[b, 3], scale[b, 4], scale[b, 5])
        for r in range(order.size):
            if not keep[r]:
                continue
            i = order[r]
            hw, hh = xywh[i, 2] / two, xywh[i, 3] / two
            boxes_out[k, 0] = min(max((xywh[i, 0] - hw - pad_x) / gain_x, zero), w0)
            boxes_out[k, 1] = min(max((xywh[i, 1] - hh - pad_y) / gain_y, zero), h0)
            boxes_out[k, 2] = min(max((xywh[i, 0] + hw - pad_x) / gain_x, zero), w0)
            boxes_out[k, 3] = min(max((xywh[i, 1] + hh - pad_y) / gain_y, zero), h0)
            scores_out[k], cls_out[k] = score[i], cls[i]
            counts[b] += 1
            k += 1
        start = end
    return k


_decode_raw_compiled = jit.Kernel(_decode_raw_images, lambda t: t.int64(
    t.Array(t.float32, 3, "A", readonly=True), t.int64,
    t.Array(t.float32, 1, "C", readonly=True), t.boolean, t.float64, t.int64,
    t.Array(t.float32, 2, "C", readonly=True), t.int64[::1], t.float32[:, ::1], t.float32[::1],
    t.int64[::1]))


def _scale_rows(geometries: Sequence[LetterboxGeometry]) -> np.ndarray:
    """Per image the float32 pad x, pad y, gain x, gain y, width, height of ``scale_boxes``."""
    return np.array([[g.left, g.top, g.resized_hw[1] / g.src_hw[1], g.resized_hw[0] / g.src_hw[0],
                      g.src_hw[1], g.src_hw[0]] for g in geometries], np.float32)


def _decode_ultralytics(output: np.ndarray, geometries: Sequence[LetterboxGeometry],
                        config: DecodeConfig) -> list[Detections]:
    """The raw head of every image in one compiled pass (core.jit): candidates to scaled boxes."""
    n, nc = len(geometries), output.shape[1] - 4
    thresholds = _thresholds(config, nc)
    if not isinstance(thresholds, np.ndarray):
        thresholds = np.full(nc, thresholds, np.float32)
    room = n * max(int(config.max_detections), 0)
    counts, boxes = np.empty(n, np.int64), np.empty((room, 4), np.float32)
    scores, class_ids = np.empty(room, np.float32), np.empty(room, np.int64)
    if _decode_raw_compiled(output, n, thresholds, bool(config.agnostic),
                            float(config.iou_threshold), int(config.max_detections),
                            _scale_rows(geometries), counts, boxes, scores, class_ids) < 0:
        raise FloatingPointError("model output contains NaN or Inf")
    detections, start = [], 0
    for count in counts.tolist():
        end = start + count
        detections.append(Detections(boxes[start:end], scores[start:end], class_ids[start:end]))
        start = end
    return detections


def _lowest(config: DecodeConfig) -> float:
    return min(config.class_conf_thresholds) if config.class_conf_thresholds else config.conf_threshold


def decode_yolov5(pred: np.ndarray, config: DecodeConfig) -> Detections:
    """One image's YOLOv5 head ``[N, 5+nc]`` -> detections in model-input pixels: objectness
    above the threshold, then confidence = objectness x class score and the same NMS."""
    candidates = np.flatnonzero(pred[:, 4] > _lowest(config))
    if candidates.size == 0:
        return Detections()
    cand = pred[candidates]
    return _select(cand[:, :4], cand[:, 5:] * cand[:, 4:5], config)[0]


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
    pad = np.array([geometry.left, geometry.top] * 2, np.float32)
    gain = np.array([nw / w0, nh / h0] * 2, np.float32)
    out = np.subtract(boxes, pad, dtype=np.float32)
    out /= gain
    np.clip(out, 0, np.array([w0, h0] * 2, np.float32), out=out)
    return out


def decode(output: np.ndarray, geometries: Sequence[LetterboxGeometry], config: DecodeConfig,
           num_classes: int | None = None, layout: HeadLayout | None = None) -> list[Detections]:
    """Decode a batch output into per-image detections in original image pixels.

    ``layout`` (decided at load) says how to read it; without one the shape decides between
    Ultralytics raw and end-to-end (``head_kind``)."""
    output = np.asarray(output)
    if layout is None:
        kind = "ultralytics" if head_kind(output.shape, num_classes) == "raw" else "end2end"
    elif output.ndim != 3 or output.shape[1:] != layout.shape[1:]:
        raise HeadFormatError(f"model output {list(output.shape)} differs from the "
                              f"{layout.describe()} decided at load")
    else:
        kind = layout.format
    if output.shape[0] < len(geometries):
        raise HeadFormatError(f"output batch {output.shape[0]} < {len(geometries)} images")
    n = len(geometries)
    if output.dtype != np.float32:
        output = output[:n].astype(np.float32)
    if kind == "ultralytics":
        return _decode_ultralytics(output, geometries, config)
    if not np.isfinite(output[:n]).all():
        raise FloatingPointError("model output contains NaN or Inf")
    decoder = {"yolov5": decode_yolov5, "end2end": decode_end2end}[kind]
    return [_scaled(decoder(output[i], config), geometry) for i, geometry in enumerate(geometries)]


def _scaled(dets: Detections, geometry: LetterboxGeometry) -> Detections:
    dets.boxes = scale_boxes(dets.boxes, geometry)
    return dets
