"""The stereo detection pipeline: letterbox both frames -> ONE batch-2 inference -> decode ->
original pixels -> stereo matching and triangulation. ROS-free; the node and the tools share it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .metadata import resolve_class_names
from .postprocess import DecodeConfig, Detections, decode
from .preprocess import Preprocessor
from .stereo import Cones, StereoCamera, StereoConfig, locate_cones

if TYPE_CHECKING:  # the interface lives with the backends, which build on the core
    from ..backends.base import Backend


@dataclass
class StereoResult:
    left: Detections
    right: Detections
    cones: Cones | None  # None when there is no valid calibration
    timings_ms: dict[str, float] = field(default_factory=dict)


class StereoPipeline:
    def __init__(self, backend: "Backend", class_names: Sequence[str] = ()) -> None:
        self.backend = backend
        spec = backend.input
        if spec.batch not in (None, 1, 2):
            raise ValueError(f"model batch {spec.batch} cannot take a stereo pair: export it with "
                             f"batch 2 (or 1, or dynamic)")
        # a backend with its own (pinned) input memory gets the letterboxed pair written there
        buffer = getattr(backend, "input_buffer", None) if spec.batch == 2 else None
        self.preprocess = Preprocessor(spec.hw, batch=2, layout=spec.layout, buffer=buffer)
        self.num_classes = len(backend.info.names) or None
        self.class_names = resolve_class_names(backend.info.names, class_names, self.num_classes)

    def close(self) -> None:
        """Release the model and its buffers: the preprocessor's view of the backend's (pinned)
        input goes first, so no array outlives the memory it points into."""
        self.preprocess = None  # type: ignore[assignment]
        self.backend.close()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The stereo batch through the model: one call for batch-2/dynamic models, two for batch 1."""
        if self.backend.input.batch == 1:
            return np.concatenate([self.backend.infer(batch[i:i + 1]) for i in range(batch.shape[0])])
        return self.backend.infer(batch)

    def detect(self, left: np.ndarray, right: np.ndarray, config: DecodeConfig,
               orders: tuple[str, str] = ("bgr", "bgr")) -> tuple[list[Detections], dict[str, float]]:
        t0 = time.perf_counter()
        batch, geometries = self.preprocess([left, right], orders)
        t1 = time.perf_counter()
        output = self.infer(batch)
        t2 = time.perf_counter()
        if self.num_classes is None and output.ndim == 3 and output.shape[2] != 6:
            self.num_classes = output.shape[1] - 4
            self.class_names = resolve_class_names(self.class_names, (), self.num_classes)
        detections = decode(output, geometries, config, self.num_classes)
        t3 = time.perf_counter()
        return detections, {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                            "decode": (t3 - t2) * 1e3}

    def process(self, left: np.ndarray, right: np.ndarray, config: DecodeConfig,
                camera: StereoCamera | None = None, stereo: StereoConfig = StereoConfig(),
                orders: tuple[str, str] = ("bgr", "bgr")) -> StereoResult:
        (dl, dr), timings = self.detect(left, right, config, orders)
        cones = None
        if camera is not None:
            t0 = time.perf_counter()
            frames = tuple(f if o == "bgr" else np.ascontiguousarray(f[..., ::-1])
                           for f, o in zip((left, right), orders))
            cones = locate_cones(dl, dr, camera, stereo, images=frames)
            timings["stereo"] = (time.perf_counter() - t0) * 1e3
        return StereoResult(dl, dr, cones, timings)
