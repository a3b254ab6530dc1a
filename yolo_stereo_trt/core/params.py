"""The node's parameters, in one table, and the one set of rules that validates them (ROS-free:
the bag evaluation applies the same rules to a params file; ros/parameters.py declares them).

The node declares exactly these (with descriptions, ranges, choices, read-only flags);
config/params.yaml lists them; ``validate`` checks a whole set of values, at start (configure)
and for every run-time change, so a params file and ``ros2 param set`` meet the same rules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


class ConfigError(ValueError):
    """A configuration that cannot work: the node refuses to start (one-line reason)."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False  # set at start (launch / params file) only
    type_name: str = ""  # for empty-list defaults: "string_array" or "double_array"


DEMO_MODEL_HINT = ("name a model file: ros2 launch ... model_path:=/path/to/model.engine, or "
                   "--ros-args -p model_path:=models/yolo12n_synthetic_cones.onnx (the synthetic "
                   "demo model)")

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "", "Model file (required): .onnx runs on ONNX Runtime, .engine/.plan "
              "on TensorRT. Relative paths resolve against the package share directory "
              "(models/yolo12n_synthetic_cones.onnx is the synthetic demo model).", read_only=True),
    ParamSpec("device", "auto", "ONNX Runtime device: auto (CUDA when available), cpu or cuda.",
              choices=("auto", "cpu", "cuda"), read_only=True),
    ParamSpec("ort_threads", 0, "ONNX Runtime intra-op threads (0: its default, one per core); "
              "idle threads never spin between pairs. TensorRT ignores it.", (0, 256),
              read_only=True),
    ParamSpec("conf_threshold", 0.25, "Minimum class confidence of a detection.", (0.0, 1.0)),
    ParamSpec("iou_threshold", 0.7, "NMS: a box overlapping a better one by more IoU than this is "
              "suppressed.", (0.0, 1.0)),
    ParamSpec("max_detections", 300, "Most detections kept per image.", (1, 10000)),
    ParamSpec("agnostic_nms", False, "NMS across classes instead of per class."),
    ParamSpec("class_names", [], "Class names overriding the model's metadata (empty: the model's).",
              read_only=True, type_name="string_array"),
    ParamSpec("class_types", [], "Cone type per class when the names are unusual: 'name:type' "
              "entries (name or class id) or one type per class; types blue, yellow, orange, "
              "large_orange, unknown (empty: by class name).", read_only=True,
              type_name="string_array"),
    ParamSpec("head_format", "auto", "Model output layout: auto (from its shape and metadata), "
              "ultralytics [B,4+nc,N], end2end [B,K,6] or yolov5 [B,N,5+nc].",
              choices=("auto", "ultralytics", "end2end", "yolov5"), read_only=True),
    ParamSpec("class_conf_thresholds", [], "Per-class confidence thresholds in [0, 1], one per "
              "class (empty: conf_threshold for all).", type_name="double_array"),
    ParamSpec("image_transport", "raw", "raw: sensor_msgs/Image on */image_raw; compressed: "
              "sensor_msgs/CompressedImage on */image_raw/compressed.",
              choices=("raw", "compressed"), read_only=True),
    ParamSpec("image_qos", "sensor_data", "Image subscription QoS: sensor_data (best effort) or "
              "reliable.", choices=("sensor_data", "reliable"), read_only=True),
    ParamSpec("sync_slop", 0.01, "Largest stamp difference (s) of a left/right pair.", (0.0, 1.0),
              read_only=True),
    ParamSpec("sync_queue_size", 10, "Messages kept per side while pairing.", (1, 100), read_only=True),
    ParamSpec("max_image_pixels", 4096 * 4096, "Largest image accepted per side (width x height): "
              "bigger declared sizes (a JPEG/PNG header is read before decoding) are refused and "
              "counted.", (1, 1 << 31)),
    ParamSpec("publish_debug_image", False, "Publish debug_image (only while someone subscribes)."),
    ParamSpec("debug_birdseye", False, "Add a bird's-eye view of the located cones (range rings, "
              "field of view, 1-sigma ellipses) to the right of debug_image."),
    ParamSpec("min_depth", 1.0, "Nearest cone depth (m) accepted by stereo matching.", (0.1, 100.0)),
    ParamSpec("max_depth", 40.0, "Farthest cone depth (m) accepted by stereo matching.", (0.5, 300.0)),
    ParamSpec("row_tolerance_px", 3.0, "Stereo matching: largest row difference (px) of a left/right "
              "pair, plus a tenth of the box height.", (0.0, 100.0)),
    ParamSpec("row_search_px", 4, "Sub-pixel refinement searches this many rows up and down as "
              "well as the columns (a right camera knocked up or down keeps its depths); 0: rows "
              "as rectified.", (0, 16)),
    ParamSpec("stereo_search", True, "A left detection without its right detection is searched for "
              "along the epipolar line of the right image (over the disparities its box height "
              "makes plausible) and located where the match is unique (cones' source 1)."),
    ParamSpec("rig_reference", "", "A rig reference (check_stereo_rig --save-reference, recorded "
              "on a drive just after calibrating): the 'stereo rig' diagnostics judge the disparity "
              "scale and offset against it (empty: the vertical offset only).", read_only=True),
    ParamSpec("rig_window", 600, "Matched cones the rig figures are fitted on (the latest).",
              (10, 100000), read_only=True),
    ParamSpec("rig_min_cones", 100, "Matched cones needed before the rig diagnostics state a "
              "verdict.", (3, 100000)),
    ParamSpec("rig_warn_vertical_px", 1.0, "Rig WARN at this vertical offset (px, |right - left| "
              "rows of the same cones).", (0.0, 100.0)),
    ParamSpec("rig_error_vertical_px", 2.0, "Rig ERROR at this vertical offset (px).", (0.0, 100.0)),
    ParamSpec("rig_warn_scale", 0.05, "Rig WARN at this depth scale against the reference "
              "(|scale - 1|).", (0.0, 10.0)),
    ParamSpec("rig_error_scale", 0.10, "Rig ERROR at this depth scale against the reference.",
              (0.0, 10.0)),
    ParamSpec("rig_warn_offset_px", 0.5, "Rig WARN at this disparity offset against the reference "
              "(px).", (0.0, 100.0)),
    ParamSpec("rig_error_offset_px", 1.0, "Rig ERROR at this disparity offset against the "
              "reference (px).", (0.0, 100.0)),
    ParamSpec("min_baseline", 0.01, "Smallest plausible stereo baseline (m): camera_info pairs "
              "outside [min_baseline, max_baseline] are refused (no cones, counted).", (0.0, 10.0)),
    ParamSpec("max_baseline", 2.0, "Largest plausible stereo baseline (m).", (0.0, 10.0)),
    ParamSpec("output_frame", "", "Frame of cones and cone_markers, e.g. base_link (z up, ground "
              "at z = 0); empty: the left camera's optical frame (the image header's)."),
    ParamSpec("camera_pose", [], "Pose of the left camera's body frame (REP-103 camera_link: x "
              "forward, y left, z up) in output_frame: x, y, z (m), roll, pitch, yaw (rad, "
              "fixed-axis as tf2). E.g. [0.0, 0.0, 1.0, 0.0, 0.087, 0.0]: 1 m up, 5 deg down. "
              "Its z (or TF's), the camera's height above the ground, also sets how far below a "
              "cone's axis its box centre lies (the base plate seen from above). Empty, or z <= 0: "
              "the offset for a camera 0.9 m up; empty: no ground check.",
              type_name="double_array"),
    ParamSpec("camera_pose_source", "parameter", "Where the camera pose comes from: parameter "
              "(camera_pose) or tf (output_frame <- the image's frame, looked up once per change; "
              "needs tf2_ros).", choices=("parameter", "tf"), read_only=True),
    ParamSpec("max_ground_offset", 0.25, "Ground check: a cone whose base lies further than this "
              "(m) above or below the ground plane (z = 0 in output_frame) is dropped.",
              (0.01, 10.0)),
    ParamSpec("max_ground_slope", 0.0, "Ground check: the tolerance grows by tan(this) per metre "
              "of range (rad; pitch under braking, uneven ground). 0: fixed.", (0.0, 0.7)),
    ParamSpec("max_size_ratio", 1.6, "Size check: a cone whose box height differs from its type's "
              "real height at the stereo range by more than this factor (and 3 px beyond it: "
              "the detector's box precision on far cones) is dropped.",
              (1.01, 100.0)),
    ParamSpec("ignore_mask", "", "Self-mask: a PNG of the left image size, white = ignore (the "
              "car's nose, wheels); detections centred there are neither published nor located. "
              "Relative paths: package share directory."),
    ParamSpec("ignore_below_row", -1, "Self-mask: detections centred below this left-image row "
              "are ignored (-1: off).", (-1, 100000)),
    ParamSpec("marker_lifetime", 0.5, "Lifetime (s) of cone_markers, so stale cones vanish.",
              (0.0, 60.0)),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages (also the window "
              "the health level is judged over).", (0.1, 60.0), read_only=True),
    ParamSpec("autostart", True, "Walk the lifecycle to active at start (configure + activate); "
              "false: wait for the state machine's lifecycle_msgs transitions.", read_only=True),
)

BY_NAME = {p.name: p for p in PARAMS}
DEFAULTS = {p.name: p.default for p in PARAMS}


def _type_error(spec: ParamSpec, value: Any) -> str | None:
    if spec.type_name == "string_array":
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    elif spec.type_name == "double_array":
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    elif isinstance(spec.default, bool):
        ok = isinstance(value, bool)
    elif isinstance(spec.default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(spec.default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    expected = spec.type_name or type(spec.default).__name__
    return None if ok else f"{spec.name} must be {expected}, got {value!r}"


def validate(values: Mapping[str, Any], num_classes: int | None = None) -> str | None:
    """Every rule for a complete set of parameter values; the first violation's reason, or None.

    ``num_classes`` (the loaded model's) adds the per-class rules.
    """
    for spec in PARAMS:
        value = values[spec.name]
        reason = _type_error(spec, value)
        if reason:
            return reason
        if spec.range is not None:
            lo, hi = spec.range
            if not (math.isfinite(float(value)) and lo <= value <= hi):
                return f"{spec.name} must lie in [{lo:g}, {hi:g}], got {value!r}"
        if spec.choices and value not in spec.choices:
            return f"{spec.name} must be one of {', '.join(spec.choices)}; got {value!r}"
    if not values["model_path"].strip():
        return f"model_path is empty: {DEMO_MODEL_HINT}"
    for low, high in (("min_depth", "max_depth"), ("min_baseline", "max_baseline"),
                      ("rig_warn_vertical_px", "rig_error_vertical_px"),
                      ("rig_warn_scale", "rig_error_scale"),
                      ("rig_warn_offset_px", "rig_error_offset_px")):
        if values[low] >= values[high]:
            return f"{low} ({values[low]:g}) must be below {high} ({values[high]:g})"
    for name in ("rig_warn_vertical_px", "rig_warn_scale", "rig_warn_offset_px"):
        if not values[name] > 0:
            return f"{name} must be > 0, got {values[name]:g}"
    if values["rig_min_cones"] > values["rig_window"]:
        return (f"rig_min_cones ({values['rig_min_cones']}) must not exceed rig_window "
                f"({values['rig_window']}): the rig would never get a verdict")
    pose = values["camera_pose"]
    if pose and (len(pose) != 6 or not all(math.isfinite(float(v)) for v in pose)):
        return f"camera_pose needs 6 finite values (x, y, z, roll, pitch, yaw), got {list(pose)}"
    if values["output_frame"] and values["camera_pose_source"] == "parameter" and not pose:
        return (f"output_frame {values['output_frame']!r} needs camera_pose (6 values) or "
                f"camera_pose_source: tf")
    if values["camera_pose_source"] == "tf" and not values["output_frame"]:
        return "camera_pose_source tf needs output_frame (the frame TF gives the pose in)"
    thresholds: Sequence[float] = values["class_conf_thresholds"]
    bad = [t for t in thresholds if not 0.0 <= t <= 1.0]
    if bad:
        return f"class_conf_thresholds must lie in [0, 1], got {list(thresholds)}"
    if num_classes is not None:
        for name in ("class_conf_thresholds", "class_names"):
            if values[name] and len(values[name]) != num_classes:
                return (f"{name} needs one value per class: the model has {num_classes} classes, "
                        f"{name} has {len(values[name])}")
    return None


def decode_config(values: Mapping[str, Any]) -> Any:
    """The detection thresholds of a set of parameter values (node and evaluate_bag alike)."""
    from ..core.postprocess import DecodeConfig
    return DecodeConfig(values["conf_threshold"], values["iou_threshold"],
                        values["max_detections"], values["agnostic_nms"],
                        tuple(values["class_conf_thresholds"]))


def stereo_config(values: Mapping[str, Any]) -> Any:
    from ..core.stereo import StereoConfig
    return StereoConfig(min_depth=values["min_depth"], max_depth=values["max_depth"],
                        row_tolerance_px=values["row_tolerance_px"],
                        row_search_px=int(values["row_search_px"]),
                        search=bool(values["stereo_search"]))


def rig_thresholds(values: Mapping[str, Any]) -> Any:
    """The rig verdict's thresholds of a set of parameter values (node and evaluate_bag)."""
    from ..core.rig import RigThresholds
    return RigThresholds(values["rig_warn_vertical_px"], values["rig_error_vertical_px"],
                         values["rig_warn_scale"], values["rig_error_scale"],
                         values["rig_warn_offset_px"], values["rig_error_offset_px"],
                         int(values["rig_min_cones"]))


def rig_reference(values: Mapping[str, Any]) -> Any:
    """The rig reference the values name (None when none), ConfigError when unusable."""
    from ..core.paths import resolve_package_path
    from ..core.rig import RigReferenceError, load_reference
    if not values["rig_reference"]:
        return None
    try:
        return load_reference(resolve_package_path(values["rig_reference"]))
    except RigReferenceError as exc:
        raise ConfigError(str(exc)) from None


def car_geometry(values: Mapping[str, Any], tf_transform: Any = None) -> Any:
    """Mask, gates and output frame of a set of parameter values (ConfigError when a mask file
    or the pose cannot be used). ``tf_transform``: the pose from TF (camera_pose_source tf)."""
    from ..core.frames import PoseError, RigidTransform
    from ..core.gates import GateConfig, GateConfigError, MaskError, SelfMask
    from ..core.pipeline import CarGeometry
    try:
        if values["camera_pose_source"] == "tf":
            transform = tf_transform
        else:
            pose = values["camera_pose"]
            transform = RigidTransform.from_camera_pose(pose) if pose else None
        row = values["ignore_below_row"]
        mask = SelfMask.from_params(values["ignore_mask"], row if row >= 0 else None)
        gates = GateConfig(values["max_ground_offset"], values["max_size_ratio"],
                           values["max_ground_slope"])
    except (PoseError, MaskError, GateConfigError) as exc:
        raise ConfigError(str(exc)) from exc
    return CarGeometry(transform, bool(values["output_frame"]), gates, mask)


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The values a request would produce: ``changes`` over ``current`` (our parameters only)."""
    out = dict(current)
    for name, value in changes.items():
        if name in BY_NAME:
            spec = BY_NAME[name]
            out[name] = list(value) if spec.type_name and value is not None else value
    return out


def unknown_parameters(given: Sequence[str]) -> list[str]:
    """Names in a params file / command line that are no parameter of the node (a typo is a
    silent wrong configuration): each with the closest declared name."""
    import difflib
    out = []
    for name in given:
        if name in BY_NAME or name == "use_sim_time":
            continue
        if name.startswith("qos_overrides."):  # rclpy's QoS overrides: this node's
            # subscriptions do not take them (they were accepted and did nothing)
            out.append(f"{name!r} (QoS overrides are not read here: the images' QoS is "
                       f"image_qos, sensor_data or reliable)")
            continue
        close = difflib.get_close_matches(name, list(BY_NAME), n=1)
        out.append(f"{name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    return out
