"""Letterbox preprocessing, exactly as Ultralytics 8.4 does it for a fixed-shape model.

One implementation serves the node, the detect_images tool, the benchmarks and (later) the
engine calibrator, so that what is measured offline is what runs on the car.

Ultralytics ``LetterBox(auto=False, center=True)``::

    r = min(H / h, W / w)
    new_unpad = (max(round(w * r), 1), max(round(h * r), 1))   # Python round (banker's)
    dw, dh = (W - new_unpad[0]) / 2, (H - new_unpad[1]) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    resize INTER_LINEAR (only if the size changes), pad with 114

then BGR -> RGB, HWC -> CHW, float32 / 255.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxGeometry:
    """Where an original image of ``src_hw`` lands inside the model input of ``dst_hw``."""

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    resized_hw: tuple[int, int]  # (nh, nw)
    top: int
    left: int

    @classmethod
    def compute(cls, src_hw: Sequence[int], dst_hw: Sequence[int]) -> "LetterboxGeometry":
        h, w = int(src_hw[0]), int(src_hw[1])
        dh_total, dw_total = int(dst_hw[0]), int(dst_hw[1])
        if h <= 0 or w <= 0:
            raise ValueError(f"image size must be positive, got {w}x{h}")
        r = min(dh_total / h, dw_total / w)
        nw, nh = max(int(round(w * r)), 1), max(int(round(h * r)), 1)
        dw, dh = (dw_total - nw) / 2, (dh_total - nh) / 2
        return cls((h, w), (dh_total, dw_total), (nh, nw), int(round(dh - 0.1)), int(round(dw - 0.1)))


def letterbox_into(image: np.ndarray, geometry: LetterboxGeometry, canvas: np.ndarray,
                   order: str = "bgr", pad: bool = True) -> None:
    """Letterbox ``image`` (HxWx3 uint8) into ``canvas`` (dst HxWx3 uint8, BGR), padding with
    114. The resize writes straight into the canvas (no intermediate image); ``order="rgb"``
    frames are converted to BGR on the way. ``pad=False`` leaves the padding bands as they are
    (the caller knows they already hold 114 for this geometry)."""
    nh, nw = geometry.resized_hw
    top, left = geometry.top, geometry.left
    region = canvas[top:top + nh, left:left + nw]
    same_size = (image.shape[0], image.shape[1]) == (nh, nw)
    if order == "bgr":
        if same_size:
            region[...] = image
        elif cv2.resize(image, (nw, nh), dst=region, interpolation=cv2.INTER_LINEAR) \
                is not region:  # pragma: no cover - OpenCV reallocated: copy it in
            region[...] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    elif order == "rgb":
        resized = image if same_size else cv2.resize(image, (nw, nh),
                                                     interpolation=cv2.INTER_LINEAR)
        if cv2.cvtColor(resized, cv2.COLOR_RGB2BGR, dst=region) is not region:  # pragma: no cover
            region[...] = resized[..., ::-1]
    else:
        raise ValueError(f"unknown channel order {order!r}")
    if pad:
        canvas[:top] = PAD_VALUE
        canvas[top + nh:] = PAD_VALUE
        canvas[top:top + nh, :left] = PAD_VALUE
        canvas[top:top + nh, left + nw:] = PAD_VALUE


class Preprocessor:
    """Letterboxes a stereo pair (or any number of frames) into one preallocated model input.

    ``layout="nchw_float"`` (the Ultralytics export): float32 (B,3,H,W) RGB in [0, 1].
    ``layout="nhwc_uint8"`` (the default of build_engine and of the ONNX Runtime backend): uint8
    (B,H,W,3) BGR, the network converts; the frames are resized straight into the batch (a
    backend's own input memory when given as ``buffer``), nothing else runs on the host.
    Frames come in BGR (``"bgr"``) or RGB (``"rgb"``) channel order, HxWx3 uint8.
    """

    def __init__(self, input_hw: Sequence[int], batch: int = 2, layout: str = "nchw_float",
                 buffer: np.ndarray | None = None) -> None:
        """``buffer``: write the model input there (e.g. a backend's pinned host memory):
        (batch,3,H,W) float32/float16 for nchw_float, (batch,H,W,3) uint8 for nhwc_uint8."""
        if layout not in ("nchw_float", "nhwc_uint8"):
            raise ValueError(f"unknown input layout {layout!r}")
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self.layout = layout
        h, w = self.input_hw
        shape = (batch, 3, h, w) if layout == "nchw_float" else (batch, h, w, 3)
        if buffer is not None and (buffer.shape != shape or (buffer.dtype == np.uint8) !=
                                   (layout == "nhwc_uint8")):
            raise ValueError(f"input buffer {buffer.shape} {buffer.dtype} does not fit {layout} "
                             f"{shape}")
        if layout == "nchw_float":
            self.canvas = np.full((batch, h, w, 3), PAD_VALUE, dtype=np.uint8)
            self.batch = buffer if buffer is not None else np.zeros(shape, dtype=np.float32)
        else:
            self.canvas = buffer if buffer is not None else np.full(shape, PAD_VALUE, np.uint8)
            self.batch = self.canvas  # the network takes the letterboxed frames as they are
        self._geometry_cache: dict[tuple[int, int], LetterboxGeometry] = {}
        # the geometry each canvas slot was last padded for: its bands only change with it
        self._padded: list[LetterboxGeometry | None] = [None] * batch

    def geometry(self, src_hw: tuple[int, int]) -> LetterboxGeometry:
        geometry = self._geometry_cache.get(src_hw)
        if geometry is None:
            geometry = LetterboxGeometry.compute(src_hw, self.input_hw)
            self._geometry_cache[src_hw] = geometry
        return geometry

    def __call__(self, frames: Sequence[np.ndarray], orders: Sequence[str] | None = None
                 ) -> tuple[np.ndarray, list[LetterboxGeometry]]:
        """Fill the model input from ``frames``; returns (input array, geometry per frame)."""
        if len(frames) > self.canvas.shape[0]:
            raise ValueError(f"{len(frames)} frames for an input batch of {self.canvas.shape[0]}")
        orders = orders or ["bgr"] * len(frames)
        geometries = []
        for i, (frame, order) in enumerate(zip(frames, orders)):
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ValueError(f"frame {i} must be HxWx3 uint8, got {frame.shape} {frame.dtype}")
            geometry = self.geometry((frame.shape[0], frame.shape[1]))
            canvas = self.canvas[i]
            if self.layout == "nchw_float":
                letterbox_into(frame, geometry, canvas, "bgr", pad=self._padded[i] != geometry)
                self._padded[i] = geometry
                # contiguous planes first: dividing them is ~2x faster than a strided CHW view
                planes = cv2.split(canvas)
                if order == "bgr":
                    planes = planes[::-1]  # BGR -> RGB
                elif order != "rgb":
                    raise ValueError(f"unknown channel order {order!r}")
                for c, plane in enumerate(planes):
                    np.divide(plane, np.float32(255.0), out=self.batch[i, c],
                              casting="same_kind")
            else:  # the network takes the letterboxed BGR frame as it is
                letterbox_into(frame, geometry, canvas, order, pad=self._padded[i] != geometry)
                self._padded[i] = geometry
            geometries.append(geometry)
        return self.batch, geometries
