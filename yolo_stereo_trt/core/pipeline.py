"""The stereo detection pipeline: letterbox both frames -> ONE batch-2 inference -> decode ->
original pixels -> stereo matching and triangulation. ROS-free; the node and the tools share it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from .backend import Backend
from .classes import ClassMap
from .frames import RigidTransform
from .gates import GateConfig, SelfMask, apply_gates
from .metadata import ModelConfigError, resolve_class_names
from .postprocess import DecodeConfig, Detections, HeadLayout, decode, decide_head, model_strides
from .preprocess import Preprocessor
from .stereo import Cones, StereoCamera, StereoConfig, locate_cones


@dataclass(frozen=True)
class CarGeometry:
    """What the car's geometry does with located cones: the self-mask drops left detections
    (the car's nose, wheels) before stereo; the ground and size gates drop implausible cones;
    the transform (left optical frame -> output frame, z up, ground z = 0) moves positions and
    covariances. ``transform`` None: cones stay in the optical frame and the ground gate is off;
    ``publish_in_output_frame`` False: the transform only serves the ground gate; ``gates``
    None: no gate (the default, for tools that measure the detector and the stereo alone)."""

    transform: RigidTransform | None = None
    publish_in_output_frame: bool = False
    gates: GateConfig | None = None
    mask: SelfMask | None = None


@dataclass
class StereoResult:
    left: Detections
    right: Detections
    cones: Cones | None  # None when there is no valid calibration
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # masked, rejected_ground, rejected_size
    # every cone the stereo stage located, before the gates and the output frame: what the rig
    # monitor fits (the gates judge sizes with the calibration the rig monitor checks)
    located: Cones | None = None


class StereoPipeline:
    """``class_names`` overrides the model's names, ``class_types`` maps classes to cone types
    (see core.classes), ``head_format`` (auto|ultralytics|end2end|yolov5) settles the head
    layout. Anything that makes the model unusable raises ModelConfigError (a ValueError) here,
    at load, with a one-line reason."""

    def __init__(self, backend: Backend, class_names: Sequence[str] = (),
                 class_types: Sequence[str] = (), head_format: str = "auto") -> None:
        self.backend = backend
        spec = backend.input
        if spec.batch not in (None, 1, 2):
            raise ValueError(f"model batch {spec.batch} cannot take a stereo pair: export it with "
                             f"batch 2 (or 1, or dynamic)")
        # a backend with its own (pinned) input memory gets the letterboxed pair written there
        buffer = getattr(backend, "input_buffer", None) if spec.batch == 2 else None
        self.preprocess = Preprocessor(spec.hw, batch=2, layout=spec.layout, buffer=buffer)
        self.class_names = resolve_class_names(backend.info.names, class_names)
        self.head = self._decide_head(head_format)
        self.num_classes = self.head.num_classes
        self.class_map = ClassMap(self.class_names, class_types)
        # the stereo config with the camera's height from the pose, kept for the next pair
        self._placed: tuple[StereoConfig, float, StereoConfig] | None = None

    def _decide_head(self, head_format: str) -> HeadLayout:
        """The head layout, once: from the declared output shape, or from a warm-up inference
        on a blank batch where that shape is dynamic."""
        shape = getattr(self.backend, "output_shape", None)
        if shape is None or any(d is None or d < 0 for d in shape[1:]):  # batch may vary
            blank = np.zeros(self.preprocess.batch.shape, self.preprocess.batch.dtype)
            try:
                shape = self.infer(blank).shape
            except Exception as exc:  # noqa: BLE001 - any runtime failure means an unusable model
                raise ModelConfigError(f"the model fails on a blank batch: {type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
        info = self.backend.info
        return decide_head(shape, self.backend.input.hw, len(self.class_names),
                           end2end=info.end2end, head_format=head_format,
                           strides=model_strides(info.extra.get("stride")))

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
        detections = decode(output, geometries, config, layout=self.head)
        t3 = time.perf_counter()
        return detections, {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                            "decode": (t3 - t2) * 1e3}

    def process(self, left: np.ndarray, right: np.ndarray, config: DecodeConfig,
                camera: StereoCamera | None = None, stereo: StereoConfig = StereoConfig(),
                orders: tuple[str, str] = ("bgr", "bgr"),
                geometry: CarGeometry = CarGeometry()) -> StereoResult:
        (dl, dr), timings = self.detect(left, right, config, orders)
        counts: dict[str, int] = {}
        if geometry.mask is not None:  # the car's own body: the same pixels in both views
            geometry.mask.validate(left.shape[1], left.shape[0])
            keep_l, keep_r = geometry.mask.keep(dl.boxes), geometry.mask.keep(dr.boxes)
            counts["masked"] = int((~keep_l).sum() + (~keep_r).sum())
            dl = Detections(dl.boxes[keep_l], dl.scores[keep_l], dl.class_ids[keep_l])
            dr = Detections(dr.boxes[keep_r], dr.scores[keep_r], dr.class_ids[keep_r])
        cones = located = None
        if camera is not None:
            t0 = time.perf_counter()
            located = locate_cones(dl, dr, camera, self._placed_config(stereo, geometry),
                                   images=(left, right), orders=orders, classes=self.class_map)
            counts.update({f"stereo_{k}": v for k, v in located.counts.items()})
            cones, counts = self._apply_geometry(located, dl, camera, geometry, counts)
            timings["stereo"] = (time.perf_counter() - t0) * 1e3
        return StereoResult(dl, dr, cones, timings, counts, located)

    def _placed_config(self, stereo: StereoConfig, geometry: CarGeometry) -> StereoConfig:
        """``stereo`` with the camera's height above the ground from the geometry's pose (its z
        in the output frame, whose z = 0 is the ground: the base plate's offset below a cone's
        axis grows with it), where the geometry has a pose that puts the camera above the
        ground; ``stereo`` as it is otherwise."""
        if geometry.transform is None or not geometry.transform.t[2] > 0:
            return stereo
        height = float(geometry.transform.t[2])
        placed = self._placed
        if placed is None or placed[0] is not stereo or placed[1] != height:
            placed = self._placed = (stereo, height, replace(stereo, camera_height=height))
        return placed[2]

    def _apply_geometry(self, cones: Cones, left: Detections, camera: StereoCamera,
                        geometry: CarGeometry, counts: dict[str, int]
                        ) -> tuple[Cones, dict[str, int]]:
        """The ground and size gates (heights by cone type), then the output frame."""
        if geometry.gates is None:
            pass
        elif len(cones):
            gates = apply_gates(cones.xyz, left.boxes[cones.left_index],
                                self.class_map.heights_of(cones.class_ids), camera.fy,
                                geometry.transform, geometry.gates, camera.height)
            counts.update(gates.counts())
            if not gates.keep.all():
                cones = cones.select(gates.keep)
        else:
            counts.update(rejected_ground=0, rejected_size=0)
        if geometry.transform is not None and geometry.publish_in_output_frame:
            cones = replace(cones, xyz=geometry.transform.apply(cones.xyz).astype(np.float32),
                            covariance=geometry.transform.apply_covariance(
                                cones.covariance).astype(np.float32))
        return cones, counts
