"""The worker thread: the one owner of the pipeline (the model and its pinned buffers).

It takes the newest pair from the slot and hands it to the pair handler; ``close`` stops the
thread, and releases the pipeline only once the thread has joined, so no inference can run on
freed memory: a worker that does not stop in time keeps the buffers (and says so), and the
process exit releases them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import threading
import time
from typing import Any, Callable

from ..core.camera_info import camera_for_pair
from ..core.gates import MaskError
from ..core.images import ImageDecodeError, compressed_to_array, image_to_array
from ..core.pairing import LatestSlot
from ..core.pipeline import StereoPipeline
from ..core.postprocess import HeadFormatError
from .process import name_this_thread
from .parameters import car_geometry, decode_config, stereo_config

WORKER_THREAD = "stereo_worker"  # its OS name (top -H, benchmark_node's CPU by thread)


@dataclass(frozen=True)
class Settings:
    """What the worker reads once per pair; replaced whole on a parameter change."""

    decode: Any  # core.postprocess.DecodeConfig
    stereo: Any  # core.stereo.StereoConfig
    marker_lifetime: float
    publish_debug_image: bool
    max_image_pixels: int
    geometry: Any  # core.pipeline.CarGeometry: self-mask, gates, output frame
    output_frame: str
    debug_birdseye: bool = False

    @classmethod
    def from_values(cls, v: dict[str, Any]) -> "Settings":
        """ConfigError when the mask file or the pose cannot be used."""
        return cls(decode_config(v), stereo_config(v), v["marker_lifetime"],
                   v["publish_debug_image"], v["max_image_pixels"], car_geometry(v),
                   v["output_frame"], v["debug_birdseye"])


class Worker:
    """Owns the pipeline from configure to cleanup; runs a thread while the node is active."""

    def __init__(self, pipeline: StereoPipeline, name: str = "stereo_detector_worker") -> None:
        self.pipeline: StereoPipeline | None = pipeline
        self.name = name
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.slot: LatestSlot | None = None

    def start(self, handle: Callable[[Any], None]) -> LatestSlot:
        """Start taking pairs (activate); returns the slot the inputs put pairs into."""
        if self.running:
            raise RuntimeError("the worker is already running")
        if self.pipeline is None:
            raise RuntimeError("the worker's pipeline was released")
        self._stop = threading.Event()
        self.slot = LatestSlot()
        self._thread = threading.Thread(target=self._run, args=(self.slot, self._stop, handle),
                                        name=self.name, daemon=True)
        self._thread.start()
        return self.slot

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @staticmethod
    def _run(slot: LatestSlot, stop: threading.Event, handle: Callable[[Any], None]) -> None:
        name_this_thread(WORKER_THREAD)
        while not stop.is_set():
            pair = slot.take(timeout=0.2)
            if pair is None or stop.is_set():
                continue
            handle(pair)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop taking pairs and drop a queued one (deactivate); True once the thread ended."""
        self._stop.set()
        if self.slot is not None:
            self.slot.close()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        return not self.running

    def close(self, timeout: float = 5.0) -> bool:
        """Stop, then release the pipeline; False (nothing freed) while the thread still runs."""
        if not self.stop(timeout):
            return False
        if self.pipeline is not None:
            pipeline, self.pipeline = self.pipeline, None
            pipeline.close()
        return True


class PairProcessor:
    """One stereo pair: messages -> arrays -> the pipeline (ONE batch-2 inference) -> outputs.

    Bad data raises nothing: each fault is counted by kind in ``stats`` and logged once per kind
    per throttle period by ``report``; the next pair is processed as usual.
    """

    def __init__(self, pipeline: StereoPipeline, stats: Any, calibration: Any,
                 outputs: Any, report: Callable[[str, str], None],
                 settings: Callable[[], Any], tf: Any = None, rig: Any = None,
                 closing: Callable[[], bool] = lambda: False) -> None:
        self.pipeline, self.stats, self.calibration = pipeline, stats, calibration
        self.outputs, self.report, self.settings, self.tf = outputs, report, settings, tf
        self.rig = rig  # core.rig.RigMonitor: the matched cones testify about the rig
        self.closing = closing  # the node's context is shutting down (Ctrl-C, SIGTERM)

    def __call__(self, pair: tuple[Any, Any]) -> None:
        """One pair; a pair that fails is counted (``failed_pairs``: the health's ERROR when
        every pair fails) and reported by kind."""
        try:
            self.process(*pair)
            return
        except ImageDecodeError as exc:
            kind, message = exc.kind, f"bad image: {exc}"
        except MaskError as exc:
            kind, message = "bad_mask", f"pair skipped: {exc}"
        except FloatingPointError as exc:
            kind, message = "nan_output", f"model output rejected: {exc}"
        except HeadFormatError as exc:
            kind, message = "bad_output", f"cannot decode model output: {exc}"
        except Exception as exc:  # never let data kill the worker
            if self.closing():  # a publish on the shut-down context (Ctrl-C while a pair
                return  # was in flight): the pair is not lost to data, say nothing
            kind, message = "processing", f"pair skipped: {type(exc).__name__}: {exc}"
        self.stats.count("failed_pairs")
        self.report(kind, message)

    def process(self, left_msg: Any, right_msg: Any) -> None:
        settings = self.settings()
        t0 = time.perf_counter()
        limit = settings.max_image_pixels
        (left, left_order), (right, right_order) = (
            compressed_to_array(m.format, m.data, limit) if hasattr(m, "format")
            else image_to_array(m.encoding, m.height, m.width, m.step, m.data, limit,
                                warn=self.report)
            for m in (left_msg, right_msg))
        t1 = time.perf_counter()
        camera, kind, message = camera_for_pair(left.shape, right.shape, self.calibration)
        if kind:
            self.report(kind, message)
        geometry = settings.geometry
        if self.tf is not None:  # camera_pose_source tf: the pose once TF has it
            transform = self.tf.lookup(left_msg.header.frame_id, settings.output_frame)
            if transform is None and camera is not None:
                self.report("no_tf", f"{self.tf.error}: no cones until TF has it")
                camera = None
            geometry = dataclasses.replace(geometry, transform=transform)
        orders = (left_order, right_order)
        result = self.pipeline.process(left, right, settings.decode, camera, settings.stereo,
                                       orders, geometry)
        top = max(float(result.left.scores.max(initial=0.0)),
                  float(result.right.scores.max(initial=0.0)))
        if top > 1.01:  # probabilities (FP16 and INT8 rounding inside), or no threshold holds
            self.report("score_range", f"detection scores up to {top:.3g}: the model's class "
                                       f"scores are not probabilities (exported without the "
                                       f"sigmoid?), so conf_threshold does not filter them")
        t2 = time.perf_counter()
        self.outputs.publish(result, left_msg.header, right_msg.header, settings)
        t3 = time.perf_counter()
        timings = dict(result.timings_ms, convert=(t1 - t0) * 1e3, publish=(t3 - t2) * 1e3,
                       total=(t3 - t0) * 1e3)
        self.stats.add_latency(timings)
        self.stats.tick("processed")
        self.stats.count("detections_left", len(result.left))
        self.stats.count("detections_right", len(result.right))
        self.stats.count("cones", len(result.cones) if result.cones is not None else 0)
        for name, n in result.counts.items():  # masked, rejected_*, stereo_*
            self.stats.count(name, n)
        if result.located is not None and len(result.located) and result.located.refined.any():
            # the left frame's JPEG blockiness (the same for every cone of the pair): a bag
            # recorded as `compressed` shows here, and its cones' disparity sigmas widen with it
            self.stats.add_measurement("frame_blockiness", float(result.located.blockiness[0]))
        if self.rig is not None:
            self.rig.add(result.located, camera)
        if settings.publish_debug_image and self.outputs.debug_wanted():
            try:  # the pair's results are out: a drawing that fails costs the picture only
                self.outputs.publish_debug((left, right), orders, result, left_msg.header,
                                           timings, camera, geometry, settings.debug_birdseye)
            except Exception as exc:  # noqa: BLE001 - never the pair's results
                if not self.closing():
                    self.report("debug_image", f"debug image not drawn: "
                                               f"{type(exc).__name__}: {exc}")
