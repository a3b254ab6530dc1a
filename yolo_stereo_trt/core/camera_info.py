"""Small helpers shared by the command-line tools."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from .stereo import CalibrationError, StereoCamera


def load_camera_info_yaml(path: str | Path) -> dict:
    """A camera_info YAML as ROS camera_calibration writes it -> {width, height, P (12 floats)}."""
    with open(path) as f:
        data = yaml.safe_load(f)
    try:
        p = data["projection_matrix"]["data"]
        return {"width": int(data["image_width"]), "height": int(data["image_height"]),
                "P": [float(v) for v in p]}
    except (KeyError, TypeError) as exc:
        raise CalibrationError(f"{path}: not a camera_info YAML (needs image_width, image_height, "
                               f"projection_matrix.data): missing {exc}") from exc


def camera_from_yaml_pair(left: str | Path, right: str | Path) -> StereoCamera:
    li, ri = load_camera_info_yaml(left), load_camera_info_yaml(right)
    return StereoCamera.from_projections(li["P"], ri["P"], (li["height"], li["width"]),
                                         (ri["height"], ri["width"]))


def camera_info_yaml(camera: StereoCamera, side: str, name: str = "stereo") -> str:
    """The inverse of load_camera_info_yaml, for the demo data and tests."""
    p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    if side == "right":
        p[3] = -camera.fx * camera.baseline
    k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    doc = {"image_width": camera.width, "image_height": camera.height, "camera_name": f"{name}_{side}",
           "camera_matrix": {"rows": 3, "cols": 3, "data": k},
           "distortion_model": "plumb_bob",
           "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5},
           "rectification_matrix": {"rows": 3, "cols": 3, "data": np.eye(3).ravel().tolist()},
           "projection_matrix": {"rows": 3, "cols": 4, "data": p}}
    return yaml.safe_dump(doc, sort_keys=False)
