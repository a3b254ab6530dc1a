"""camera_info: the ROS YAML files of a calibrated pair, and the latest pair of messages as a
validated StereoCamera (the node and the bag evaluation share the tracker)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .stereo import CalibrationError, StereoCamera


def load_camera_info_yaml(path: str | Path) -> dict:
    """A camera_info YAML as ROS camera_calibration writes it -> {width, height, P (12 floats)}."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationError(f"{path}: cannot read a camera_info YAML: "
                               f"{' '.join(str(exc).split())}") from exc
    needs = "needs image_width, image_height, projection_matrix.data"
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: not a camera_info YAML ({needs}): "
                               + (f"a {type(data).__name__}, not a mapping" if data is not None
                                  else "empty"))
    try:
        p = data["projection_matrix"]["data"]
        return {"width": int(data["image_width"]), "height": int(data["image_height"]),
                "P": [float(v) for v in p]}
    except KeyError as exc:
        raise CalibrationError(f"{path}: not a camera_info YAML ({needs}): missing "
                               f"{exc}") from exc
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"{path}: not a camera_info YAML ({needs}): "
                               f"{' '.join(str(exc).split())}") from exc


def camera_from_yaml_pair(left: str | Path, right: str | Path) -> StereoCamera:
    li, ri = load_camera_info_yaml(left), load_camera_info_yaml(right)
    return StereoCamera.from_projections(li["P"], ri["P"], (li["height"], li["width"]),
                                         (ri["height"], ri["width"]))


def camera_info_yaml(camera: StereoCamera, side: str, name: str = "stereo") -> str:
    """The inverse of load_camera_info_yaml, for the demo data and tests."""
    p = [camera.fx, 0.0, camera.cx, camera.fx * camera.x_offset, 0.0, camera.fy, camera.cy, 0.0,
         0.0, 0.0, 1.0, 0.0]
    if side == "right":  # the full stereo model: the right eye's principal point and Tx
        p[2] = camera.cx - camera.doffs
        p[3] = camera.fx * (camera.x_offset - camera.baseline)
    k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    doc = {"image_width": camera.width, "image_height": camera.height, "camera_name": f"{name}_{side}",
           "camera_matrix": {"rows": 3, "cols": 3, "data": k},
           "distortion_model": "plumb_bob",
           "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5},
           "rectification_matrix": {"rows": 3, "cols": 3, "data": np.eye(3).ravel().tolist()},
           "projection_matrix": {"rows": 3, "cols": 4, "data": p}}
    return yaml.safe_dump(doc, sort_keys=False)


class CalibrationTracker:
    """camera_info of both eyes -> a validated StereoCamera, or the reason there is none."""

    def __init__(self, baseline_range: tuple[float, float]) -> None:
        self.baseline_range = baseline_range
        self._lock = threading.Lock()
        self._infos: list[Any] = [None, None]
        self._key: tuple | None = None
        self._camera: StereoCamera | None = None
        self._reason = ""

    def update(self, side: int, msg: Any) -> None:
        with self._lock:
            self._infos[side] = msg

    def camera(self) -> tuple[StereoCamera | None, str]:
        """The current camera, or None and why (missing, or refused with the reason). Only
        sensor_msgs/CameraInfo's p, width and height are read (any message type with them)."""
        with self._lock:
            left, right = self._infos
        if left is None or right is None:
            if self._key is not None:
                return None, "camera_info missing"
            missing = [side for side, info in (("left", left), ("right", right)) if info is None]
            return None, (f"no camera_info from the {' and '.join(missing)} camera"
                          f"{'s' if len(missing) == 2 else ''} yet")
        key = (tuple(left.p), tuple(right.p), left.height, left.width, right.height, right.width,
               self.baseline_range)
        if key != self._key:
            self._key = key
            try:
                self._camera = StereoCamera.from_projections(
                    left.p, right.p, (left.height, left.width), (right.height, right.width),
                    baseline_range=self.baseline_range)
                self._reason = ""
            except CalibrationError as exc:
                self._camera, self._reason = None, f"invalid stereo calibration: {exc}"
        return self._camera, self._reason


def camera_for_pair(left_shape: tuple[int, ...], right_shape: tuple[int, ...],
                    calibration: CalibrationTracker) -> tuple[StereoCamera | None, str, str]:
    """The camera a pair of frames can be located with (the node's and the bag evaluation's one
    rule): (camera, "", "") or (None, error kind, message) when there is none for this pair."""
    if tuple(left_shape[:2]) != tuple(right_shape[:2]):
        return None, "size_mismatch", (f"left {left_shape[1]}x{left_shape[0]} and right "
                                       f"{right_shape[1]}x{right_shape[0]} differ: 2D only, no cones")
    camera, reason = calibration.camera()
    if camera is None:
        kind = "no_calibration" if reason.startswith("no camera_info") else "bad_calibration"
        return None, kind, f"{reason}: publishing 2D only, no cones"
    if (camera.width, camera.height) != (left_shape[1], left_shape[0]):
        return None, "calibration_size_mismatch", (
            f"images {left_shape[1]}x{left_shape[0]} but camera_info {camera.width}x"
            f"{camera.height}: no cones")
    return camera, "", ""
