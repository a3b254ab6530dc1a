"""The stereo_detector node: a thin ROS shell over StereoPipeline.

Executor thread: callbacks convert nothing; they count, pair left/right by stamp and put the
newest pair into a one-item slot. Worker thread: takes the pair, converts, runs the pipeline
(ONE batch-2 inference), publishes. A pair superseded in the slot is dropped and counted, so
latency never grows with a queue.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from . import messages as ros_messages
from ..backends import ModelLoadError, load_backend
from ..core.paths import demo_model_path as default_model_path
from ..core.images import ImageDecodeError, array_to_image_fields, compressed_to_array, image_to_array
from .parameters import BY_NAME, PARAMS, validate_change
from ..core.pipeline import StereoPipeline
from ..core.postprocess import DecodeConfig, HeadFormatError
from ..core.stats import NodeStats
from ..core.stereo import CalibrationError, StereoCamera, StereoConfig
from ..core.pairing import LatestSlot, PairSynchronizer
from ..core.visualize import draw_detections, side_by_side

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks  # type: ignore[no-redef]

try:  # Jazzy and newer; Humble returns None for a typed parameter without a value
    from rclpy.exceptions import ParameterUninitializedException
except ImportError:
    class ParameterUninitializedException(Exception):  # type: ignore[no-redef]
        pass

try:  # the car's ROS distribution; not in the PyPI wheels
    import message_filters  # type: ignore[import-not-found]
except ImportError:
    message_filters = None

_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
          str: Parameter.Type.STRING}
_ARRAY_TYPES = {"string_array": Parameter.Type.STRING_ARRAY,
                "double_array": Parameter.Type.DOUBLE_ARRAY}


def _stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class StereoDetectorNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("stereo_detector", **kwargs)
        self.stats = NodeStats()
        for spec in PARAMS:
            self._declare(spec)
        self.values = {spec.name: self._get(spec.name) for spec in PARAMS}
        self.decode_config, self.stereo_config = self._configs(self.values)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.pipeline: StereoPipeline | None = None
        self.model_error = ""
        self._load_model()

        self._camera_lock = threading.Lock()
        self._infos: list[CameraInfo | None] = [None, None]
        self._camera: StereoCamera | None = None
        self._camera_key: tuple | None = None
        self._calibration_error = ""

        # Outputs
        self.pub_cones = self.create_publisher(PointCloud2, "cones", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "cone_markers", 10)
        self.pub_debug = self.create_publisher(Image, "debug_image", 1)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_vision = None
        if ros_messages.vision_msgs is not None:
            det_type = ros_messages.vision_msgs.Detection2DArray
            self.pub_vision = (self.create_publisher(det_type, "detections/left", 10),
                               self.create_publisher(det_type, "detections/right", 10))
        else:
            self.get_logger().info("vision_msgs is not installed: detections/left and "
                                   "detections/right are not published (cones still are)")

        # Inputs
        self.create_subscription(CameraInfo, "left/camera_info", lambda m: self._on_info(0, m), 10)
        self.create_subscription(CameraInfo, "right/camera_info", lambda m: self._on_info(1, m), 10)
        self._slot: LatestSlot[tuple[Any, Any]] = LatestSlot()
        self._subscribe_images()

        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="stereo_detector_worker", daemon=True)
        self._worker.start()
        self.create_timer(self.values["diagnostics_period"], self._publish_diagnostics)
        self.get_logger().info(
            f"stereo_detector ready: {self._describe_model()}, transport "
            f"{self.values['image_transport']}, QoS {self.values['image_qos']}, "
            f"pairing {'message_filters' if message_filters else 'built-in'} "
            f"(slop {self.values['sync_slop']} s)")

    # ---------------------------------------------------------------- parameters
    def _declare(self, spec) -> None:
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if spec.choices:
            descriptor.additional_constraints = "one of: " + ", ".join(spec.choices)
        if spec.range is not None:
            if isinstance(spec.default, int) and not isinstance(spec.default, bool):
                descriptor.integer_range = [IntegerRange(from_value=int(spec.range[0]),
                                                         to_value=int(spec.range[1]), step=1)]
            else:
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
        value = _ARRAY_TYPES[spec.type_name] if spec.type_name else spec.default
        self.declare_parameter(spec.name, value, descriptor)

    def _get(self, name: str) -> Any:
        try:
            value = self.get_parameter(name).value
        except ParameterUninitializedException:  # a typed parameter declared without a value
            value = None  # (Humble returns None instead of raising)
        if BY_NAME[name].type_name:
            return list(value) if value is not None else []
        return value

    @staticmethod
    def _configs(values: dict[str, Any]) -> tuple[DecodeConfig, StereoConfig]:
        return (DecodeConfig(conf_threshold=values["conf_threshold"],
                             iou_threshold=values["iou_threshold"],
                             max_detections=values["max_detections"],
                             agnostic=values["agnostic_nms"],
                             class_conf_thresholds=tuple(values["class_conf_thresholds"])),
                StereoConfig(min_depth=values["min_depth"], max_depth=values["max_depth"],
                             row_tolerance_px=values["row_tolerance_px"]))

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        values = dict(self.values)
        for p in params:
            spec = BY_NAME.get(p.name)
            if spec is None:
                continue  # use_sim_time and other rclpy parameters
            value = list(p.value) if spec.type_name and p.value is not None else p.value
            if spec.choices and value not in spec.choices:
                return SetParametersResult(successful=False,
                                           reason=f"{p.name} must be one of {spec.choices}, got {value!r}")
            values[p.name] = value if value is not None else []
        reason = validate_change(values)
        if reason is None and self.pipeline is not None and values["class_conf_thresholds"]:
            n = len(self.pipeline.class_names)
            if len(values["class_conf_thresholds"]) != n:
                reason = (f"class_conf_thresholds needs one value per class ({n}: "
                          f"{', '.join(self.pipeline.class_names)})")
        if reason is not None:
            self.get_logger().warning(f"parameter change refused: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        # Applied from the next pair: the worker reads these immutable configs once per pair.
        self.values = values
        self.decode_config, self.stereo_config = self._configs(values)
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------- model
    def _load_model(self) -> None:
        path = self.values["model_path"] or str(default_model_path())
        try:
            backend = load_backend(path, device=self.values["device"])
            self.pipeline = StereoPipeline(backend, self.values["class_names"])
        except (ModelLoadError, ValueError) as exc:
            self.model_error = str(exc)
            self.stats.error("model_load")
            self.get_logger().error(f"no model, detection disabled: {exc}")

    def _describe_model(self) -> str:
        if self.pipeline is None:
            return f"NO MODEL ({self.model_error})"
        b = self.pipeline.backend
        return (f"{Path(self.values['model_path'] or default_model_path()).name} on {b.name} "
                f"({b.device}, {b.info.precision}), input {b.input.batch or 'dynamic'}x"
                f"{b.input.hw[0]}x{b.input.hw[1]}, classes {self.pipeline.class_names}")

    # ---------------------------------------------------------------- inputs
    def _subscribe_images(self) -> None:
        compressed = self.values["image_transport"] == "compressed"
        msg_type = CompressedImage if compressed else Image
        suffix = "/compressed" if compressed else ""
        if self.values["image_qos"] == "reliable":
            qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                             history=HistoryPolicy.KEEP_LAST)
        else:
            qos = qos_profile_sensor_data
        topics = (f"left/image_raw{suffix}", f"right/image_raw{suffix}")
        events = [SubscriptionEventCallbacks(incompatible_qos=lambda e, t=t: self._on_incompatible_qos(t, e))
                  for t in topics]
        slop, queue = self.values["sync_slop"], self.values["sync_queue_size"]
        if message_filters is not None:
            subs = [message_filters.Subscriber(self, msg_type, t, qos_profile=qos, event_callbacks=e)
                    for t, e in zip(topics, events)]
            for side, sub in enumerate(subs):
                sub.registerCallback(lambda m, s=side: self.stats.tick(("input_left", "input_right")[s]))
            self._sync = message_filters.ApproximateTimeSynchronizer(subs, queue, slop)
            self._sync.registerCallback(self._on_pair)
            self._subs = subs
        else:
            self._sync = PairSynchronizer(int(slop * 1e9), queue, self._on_pair)
            self._subs = [self.create_subscription(msg_type, t, lambda m, s=side: self._on_image(s, m),
                                                   qos, event_callbacks=e)
                          for side, (t, e) in enumerate(zip(topics, events))]

    def _on_incompatible_qos(self, topic: str, event: Any) -> None:
        self.stats.error("incompatible_qos")
        self.get_logger().error(
            f"incompatible QoS on {topic}: the publisher cannot serve this subscription "
            f"(policy {event.last_policy_kind}); images will not arrive. Set image_qos to match the "
            f"camera driver (a best-effort publisher needs image_qos: sensor_data).")

    def _on_image(self, side: int, msg: Any) -> None:
        self.stats.tick(("input_left", "input_right")[side])
        self._sync.add(side, _stamp_ns(msg), msg)

    def _on_pair(self, left: Any, right: Any) -> None:
        self.stats.tick("paired")
        if self._slot.put((left, right)):
            self.stats.count("dropped_pairs")

    def _on_info(self, side: int, msg: CameraInfo) -> None:
        with self._camera_lock:
            self._infos[side] = msg

    def _current_camera(self) -> StereoCamera | None:
        with self._camera_lock:
            left, right = self._infos
        if left is None or right is None:
            if self.stats.error("no_calibration"):
                self.get_logger().warning("no camera_info on left/camera_info and right/camera_info "
                                          "yet: publishing 2D only, no cones")
            return None
        key = (tuple(left.p), tuple(right.p), left.height, left.width, right.height, right.width)
        if key != self._camera_key:
            self._camera_key = key
            try:
                self._camera = StereoCamera.from_projections(
                    left.p, right.p, (left.height, left.width), (right.height, right.width))
                self.get_logger().info(f"stereo calibration: fx {self._camera.fx:.1f}, baseline "
                                       f"{self._camera.baseline:.3f} m, {left.width}x{left.height}")
            except CalibrationError as exc:
                self._camera = None
                self._calibration_error = str(exc)
        if self._camera is None and self.stats.error("bad_calibration"):
            self.get_logger().warning(f"invalid stereo calibration, no cones: {self._calibration_error}")
        return self._camera

    # ---------------------------------------------------------------- worker
    def _to_frame(self, msg: Any) -> tuple[np.ndarray, str]:
        if isinstance(msg, CompressedImage):
            return compressed_to_array(msg.format, msg.data)
        return image_to_array(msg.encoding, msg.height, msg.width, msg.step, msg.data)

    def _report(self, kind: str, message: str) -> None:
        if self.stats.error(kind):
            self.get_logger().warning(f"{message} [{kind}: {self.stats.errors[kind]} so far]")

    def _work(self) -> None:
        while not self._stop.is_set():
            pair = self._slot.take(timeout=0.2)
            if pair is None or self._stop.is_set():
                continue
            try:
                self._process(*pair)
            except ImageDecodeError as exc:
                self._report(exc.kind, f"bad image: {exc}")
            except FloatingPointError as exc:
                self._report("nan_output", f"model output rejected: {exc}")
            except HeadFormatError as exc:
                self._report("bad_output", f"cannot decode model output: {exc}")
            except Exception as exc:  # never let data kill the worker
                self._report("processing", f"pair skipped: {type(exc).__name__}: {exc}")

    def _process(self, left_msg: Any, right_msg: Any) -> None:
        if self.pipeline is None:
            self._report("model_load", f"no model loaded: {self.model_error}")
            return
        t0 = time.perf_counter()
        left, left_order = self._to_frame(left_msg)
        right, right_order = self._to_frame(right_msg)
        t1 = time.perf_counter()
        camera = None
        if left.shape != right.shape:
            self._report("size_mismatch", f"left {left.shape[1]}x{left.shape[0]} and right "
                         f"{right.shape[1]}x{right.shape[0]} differ: 2D only, no cones")
        else:
            camera = self._current_camera()
            if camera is not None and (camera.width, camera.height) != (left.shape[1], left.shape[0]):
                self._report("calibration_size_mismatch", f"images {left.shape[1]}x{left.shape[0]} "
                             f"but camera_info {camera.width}x{camera.height}: no cones")
                camera = None
        result = self.pipeline.process(left, right, self.decode_config, camera, self.stereo_config,
                                       (left_order, right_order))
        t2 = time.perf_counter()
        header = left_msg.header
        if self.pub_vision is not None:
            names = self.pipeline.class_names
            self.pub_vision[0].publish(ros_messages.detections_to_vision_msgs(result.left, names, header))
            self.pub_vision[1].publish(ros_messages.detections_to_vision_msgs(result.right, names,
                                                                              right_msg.header))
        if result.cones is not None:
            self.pub_cones.publish(ros_messages.cones_to_pointcloud2(result.cones, header))
            self.pub_markers.publish(ros_messages.cones_to_markers(result.cones, header,
                                                                   self.values["marker_lifetime"]))
        t3 = time.perf_counter()
        timings = dict(result.timings_ms, convert=(t1 - t0) * 1e3, publish=(t3 - t2) * 1e3,
                       total=(t3 - t0) * 1e3)
        self.stats.add_latency(timings)
        self.stats.tick("processed")
        self.stats.count("detections_left", len(result.left))
        self.stats.count("detections_right", len(result.right))
        self.stats.count("cones", len(result.cones) if result.cones is not None else 0)
        if self.values["publish_debug_image"] and self.pub_debug.get_subscription_count() > 0:
            self._publish_debug(left, right, (left_order, right_order), result, header, timings)

    def _publish_debug(self, left, right, orders, result, header, timings) -> None:
        frames = [f if o == "bgr" else f[..., ::-1] for f, o in zip((left, right), orders)]
        depths = {}
        if result.cones is not None:
            depths = dict(zip(result.cones.left_index.tolist(), result.cones.xyz[:, 2].tolist()))
        names = self.pipeline.class_names
        image = side_by_side(draw_detections(frames[0], result.left, names, depths),
                             draw_detections(frames[1], result.right, names),
                             f"{len(result.left)}/{len(result.right)} det, "
                             f"{len(result.cones) if result.cones is not None else 0} cones, "
                             f"{timings['total']:.1f} ms")
        msg = Image(header=header, **array_to_image_fields(image))
        self.pub_debug.publish(msg)

    # ---------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        values: dict[str, Any] = {}
        if self.pipeline is not None:
            b = self.pipeline.backend
            values.update(backend=b.name, device=b.device, precision=b.info.precision,
                          input_shape=f"{b.input.batch or 'dynamic'}x{b.input.hw[0]}x{b.input.hw[1]}")
        values.update(model=self.values["model_path"] or str(default_model_path()),
                      pairing="message_filters" if message_filters else "built-in")
        snap = self.stats.snapshot()
        if isinstance(self._sync, PairSynchronizer):
            snap["count_unpaired_dropped"] = self._sync.unpaired_dropped
        values.update(snap)
        if self.pipeline is None:
            level, message = DiagnosticStatus.ERROR, f"no model: {self.model_error}"
        elif snap["rate_input_left_hz"] == 0 and snap["rate_input_right_hz"] == 0:
            level, message = DiagnosticStatus.WARN, "no images arriving"
        elif snap["rate_paired_hz"] == 0:
            level, message = DiagnosticStatus.WARN, "images arrive but do not pair (stamps / sync_slop?)"
        elif snap["errors_total"]:
            level, message = DiagnosticStatus.WARN, f"{snap['errors_total']} errors so far"
        else:
            level, message = DiagnosticStatus.OK, f"{snap['rate_processed_hz']:.1f} pairs/s"
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [ros_messages.diagnostic_status(
            f"{self.get_name()}: stereo detection", self.get_fully_qualified_name(), level, message,
            values)]
        self.pub_diag.publish(array)

    def destroy_node(self) -> None:
        self._stop.set()
        self._slot.close()
        self._worker.join(timeout=5.0)
        if self.pipeline is not None:
            self.pipeline.backend.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = StereoDetectorNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if rclpy.ok():
            node.get_logger().info("shutting down")
        else:  # SIGINT already shut the context down: rosout is gone
            print(f"[{node.get_fully_qualified_name()}] shutting down", flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
