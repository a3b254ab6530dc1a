"""What the launch files pass to the node, as a pure function (tested without `launch`).

A launch argument becomes a node parameter only when the user gave it (a non-empty value):
``params_file`` values are never silently replaced by a launch default.
"""
from __future__ import annotations

from typing import Any

# launch argument -> (description); all default to "" = not given
NODE_PARAMETER_ARGUMENTS = {
    "model_path": ".engine/.plan (TensorRT) or .onnx model; not given: params_file's",
    "image_transport": "raw or compressed; not given: params_file's",
    "use_sim_time": "true when replaying a bag with --clock; not given: params_file's (false)",
}
OTHER_ARGUMENTS = {
    "params_file": "parameters file (default: the package's config/params.yaml)",
    "namespace": "node namespace",
    "camera": "namespace of the camera driver's topics (left/image_raw, right/image_raw, "
              "left/camera_info, right/camera_info below it)",
}
CAMERA_DEFAULT = "/stereo"


def _typed(name: str, text: str) -> Any:
    if name == "use_sim_time":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"use_sim_time must be true or false, got {text!r}")
        return text.lower() == "true"
    return text


def node_parameters(params_file: str, given: dict[str, str]) -> list[Any]:
    """The ``parameters`` list of the launch_ros Node: the params file, then only the arguments
    that were given (later entries override earlier ones, as in launch_ros)."""
    overrides = {name: _typed(name, value) for name, value in given.items()
                 if name in NODE_PARAMETER_ARGUMENTS and value != ""}
    return [params_file] + ([overrides] if overrides else [])


def remappings(camera: str) -> list[tuple[str, str]]:
    camera = camera.rstrip("/")
    return [(f"{side}/{topic}", f"{camera}/{side}/{topic}") for side in ("left", "right")
            for topic in ("image_raw", "image_raw/compressed", "camera_info")]
