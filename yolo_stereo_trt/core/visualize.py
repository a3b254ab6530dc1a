"""Annotated images: boxes in class colours with scores, for debug_image and the demo."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .postprocess import Detections

# BGR per FSOCO class: blue, yellow, orange, large orange, unknown; further classes grey
CLASS_COLOURS_BGR = ((255, 80, 0), (0, 220, 255), (0, 128, 255), (0, 60, 255), (160, 160, 160))


def class_colour(class_id: int) -> tuple[int, int, int]:
    if 0 <= class_id < len(CLASS_COLOURS_BGR):
        return CLASS_COLOURS_BGR[class_id]
    return (200, 200, 200)


def draw_detections(frame: np.ndarray, dets: Detections, names: Sequence[str],
                    depths: dict[int, float] | None = None) -> np.ndarray:
    """Draw boxes on a BGR copy of ``frame``; ``depths`` maps detection index -> metres."""
    out = np.ascontiguousarray(frame).copy()
    for i, (box, score, cls) in enumerate(zip(dets.boxes.astype(int), dets.scores, dets.class_ids)):
        colour = class_colour(int(cls))
        cv2.rectangle(out, (box[0], box[1]), (box[2], box[3]), colour, 2)
        name = names[cls] if 0 <= cls < len(names) else str(cls)
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
