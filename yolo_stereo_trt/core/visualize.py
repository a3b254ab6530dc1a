"""Annotated images: boxes in class colours with scores, for debug_image and the demo."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .classes import ClassMap
from .postprocess import Detections


def draw_detections(frame: np.ndarray, dets: Detections, classes: ClassMap | Sequence[str],
                    depths: dict[int, float] | None = None) -> np.ndarray:
    """Draw boxes on a BGR copy of ``frame`` in their cone type's colour (by class NAME, see
    core.classes; pass the pipeline's ``class_map`` so ``class_types`` overrides apply);
    ``depths`` maps detection index -> metres."""
    class_map = classes if isinstance(classes, ClassMap) else ClassMap(classes)
    out = np.ascontiguousarray(frame).copy()
    colours = class_map.colours_of(dets.class_ids).tolist()
    for i, (box, score, cls, colour) in enumerate(zip(dets.boxes.astype(int), dets.scores,
                                                      dets.class_ids.tolist(), colours)):
        colour = tuple(colour)
        cv2.rectangle(out, (box[0], box[1]), (box[2], box[3]), colour, 2)
        name = class_map.name(cls)
        label = f"{name} {score:.2f}" + (f" {depths[i]:.1f}m" if depths and i in depths else "")
        cv2.putText(out, label, (box[0], max(box[1] - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    colour, 1, cv2.LINE_AA)
    return out


def side_by_side(left: np.ndarray, right: np.ndarray, caption: str = "") -> np.ndarray:
    h = max(left.shape[0], right.shape[0])
    pad = lambda im: cv2.copyMakeBorder(im, 0, h - im.shape[0], 0, 0, cv2.BORDER_CONSTANT)  # noqa: E731
    out = np.hstack([pad(left), pad(right)])
    if caption:
        cv2.putText(out, caption, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return out
