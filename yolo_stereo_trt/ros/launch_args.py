"""What the launch files pass to the node, as a pure function (tested without `launch`).

A launch argument becomes a node parameter only when the user gave it (a non-empty value):
``params_file`` values are never silently replaced by a launch default.
"""
from __future__ import annotations

from typing import Any

from .inputs import IMAGE_TOPICS
from .outputs import PUBLISHED_TOPICS

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
    "rviz": "true: also start RViz2 with the package's config/stereo_detector.rviz "
            "(rviz2 must be installed)",
}
CAMERA_DEFAULT = "/stereo"
RVIZ_CONFIG = "stereo_detector.rviz"  # in the package's share/config


def _boolean(name: str, text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, got {text!r}")
    return text.lower() == "true"


def _typed(name: str, text: str) -> Any:
    return _boolean(name, text) if name == "use_sim_time" else text


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


def rviz_node(rviz: str, share_dir: str, use_sim_time: str = "", namespace: str = "",
              camera: str = CAMERA_DEFAULT) -> dict[str, Any] | None:
    """The launch_ros Node keywords of RViz2 with the package's config when ``rviz`` is true,
    None when it is false. The config names the node's topics in the root namespace and the
    camera's under CAMERA_DEFAULT: RViz's subscriptions are remapped to the ``namespace`` and
    ``camera`` of this launch; ``use_sim_time`` (when given) reaches RViz as it reaches the node."""
    if not _boolean("rviz", rviz or "false"):
        return None
    ns, camera = namespace.strip("/"), camera.rstrip("/")
    remaps = [(f"/{t}", f"/{ns}/{t}") for t in PUBLISHED_TOPICS if ns and not t.startswith("/")]
    if camera != CAMERA_DEFAULT:
        remaps += [(f"{CAMERA_DEFAULT}/{t}", f"{camera}/{t}") for t in IMAGE_TOPICS]
    parameters = [{"use_sim_time": _boolean("use_sim_time", use_sim_time)}] if use_sim_time else []
    return {"package": "rviz2", "executable": "rviz2", "name": "rviz2", "output": "screen",
            "arguments": ["-d", f"{share_dir.rstrip('/')}/config/{RVIZ_CONFIG}"],
            "parameters": parameters, "remappings": remaps}
