"""The node's parameters, in one table: name, default, description, range, run-time change.

The node declares exactly these; config/params.yaml lists them; the tests check both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False  # set at start (launch / params file) only
    type_name: str = ""  # for empty-list defaults: "string_array" or "double_array"


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "", "Model file: .onnx runs on ONNX Runtime, .engine/.plan on TensorRT. "
              "Empty: the shipped demo model.", read_only=True),
    ParamSpec("device", "auto", "ONNX Runtime device: auto (CUDA when available), cpu or cuda.",
              choices=("auto", "cpu", "cuda"), read_only=True),
    ParamSpec("conf_threshold", 0.25, "Minimum class confidence of a detection.", (0.0, 1.0)),
    ParamSpec("iou_threshold", 0.7, "NMS: a box overlapping a better one by more IoU than this is "
              "suppressed.", (0.0, 1.0)),
    ParamSpec("max_detections", 300, "Most detections kept per image.", (1, 10000)),
    ParamSpec("agnostic_nms", False, "NMS across classes instead of per class."),
    ParamSpec("class_names", [], "Class names overriding the model's metadata (empty: the model's).",
              read_only=True, type_name="string_array"),
    ParamSpec("class_conf_thresholds", [], "Per-class confidence thresholds, one per class "
              "(empty: conf_threshold for all).", type_name="double_array"),
    ParamSpec("image_transport", "raw", "raw: sensor_msgs/Image on */image_raw; compressed: "
              "sensor_msgs/CompressedImage on */image_raw/compressed.",
              choices=("raw", "compressed"), read_only=True),
    ParamSpec("image_qos", "sensor_data", "Image subscription QoS: sensor_data (best effort) or "
              "reliable.", choices=("sensor_data", "reliable"), read_only=True),
    ParamSpec("sync_slop", 0.01, "Largest stamp difference (s) of a left/right pair.", (0.0, 1.0),
              read_only=True),
    ParamSpec("sync_queue_size", 10, "Messages kept per side while pairing.", (1, 100), read_only=True),
    ParamSpec("publish_debug_image", False, "Publish debug_image (only while someone subscribes)."),
    ParamSpec("min_depth", 1.0, "Nearest cone depth (m) accepted by stereo matching.", (0.1, 100.0)),
    ParamSpec("max_depth", 40.0, "Farthest cone depth (m) accepted by stereo matching.", (0.5, 300.0)),
    ParamSpec("row_tolerance_px", 3.0, "Stereo matching: largest row difference (px) of a left/right "
              "pair, plus a tenth of the box height.", (0.0, 100.0)),
    ParamSpec("marker_lifetime", 0.5, "Lifetime (s) of cone_markers, so stale cones vanish.",
              (0.0, 60.0)),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", (0.1, 60.0),
              read_only=True),
)

BY_NAME = {p.name: p for p in PARAMS}


def validate_change(values: dict[str, Any]) -> str | None:
    """Cross-parameter checks for a set of new values merged over the current ones; a reason or None."""
    if values["min_depth"] >= values["max_depth"]:
        return f"min_depth ({values['min_depth']}) must be below max_depth ({values['max_depth']})"
    thresholds = values["class_conf_thresholds"]
    if any(not 0.0 <= t <= 1.0 for t in thresholds):
        return f"class_conf_thresholds must lie in [0, 1], got {list(thresholds)}"
    return None
