"""Files named relative to the package: the shipped demo model, masks, configs.

A relative path resolves against the package's share directory (``share/yolo_stereo_trt`` of a
colcon install), else against the source tree (a ``pip install -e .`` venv), else against the
working directory: ``models/yolo12n_synthetic_cones.onnx`` names the demo model in both.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "yolo_stereo_trt"
DEMO_MODEL = "models/yolo12n_synthetic_cones.onnx"
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def package_roots() -> list[Path]:
    """Where package files live: the installed share directory (if any), then the source tree."""
    roots = []
    try:
        from ament_index_python.packages import get_package_share_directory
        roots.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # not installed with colcon (pip/venv), or ament_index is absent
        pass
    roots.append(SOURCE_ROOT)
    return roots


def resolve_package_path(path: str | Path) -> Path:
    """``path`` as given when absolute, else the first package root that has it, else relative
    to the working directory; unresolvable paths come back as given (the caller reports)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    for root in package_roots():
        if (root / p).exists():
            return root / p
    return p


def demo_model_path() -> Path:
    return resolve_package_path(DEMO_MODEL)


LARGE_IMAGE_PROFILE = "config/fastdds_shm.xml"
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def profile_variable(environ: dict | None = None) -> str:
    """The environment variable the installed Fast DDS reads its XML profile from: Fast DDS 3
    (Kilted, Rolling; PyPI's ros-fastdds 3.x) reads FASTDDS_DEFAULT_PROFILES_FILE and warns when
    the old name is set too; Fast DDS 2 (Humble 2.6, Jazzy 2.14) reads only
    FASTRTPS_DEFAULT_PROFILES_FILE (measured with Jazzy's wheels: the new name alone is ignored).
    Set the one, never both."""
    from importlib import metadata
    environ = os.environ if environ is None else environ
    major = 2 if environ.get("ROS_DISTRO", "") in ("humble", "iron", "jazzy") else 3
    for wheel in ("ros-fastdds", "ros-fastrtps"):  # PyPI's wheels: 3.x (Kilted), 2.x (Jazzy)
        try:
            major = int(metadata.version(wheel).split(".")[0])
            break
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return PROFILE_VARIABLES[0] if major >= 3 else PROFILE_VARIABLES[1]


def use_large_image_transport(environ: dict) -> str:
    """Point Fast DDS at the package's large-image profile (shared memory + UDP discovery) in
    ``environ`` (for this process and the ones it starts), unless the user chose transports;
    LARGE_DATA where the profile is not installed. Returns what the processes get: the
    profile's path when it was set here, else a description."""
    for name in PROFILE_VARIABLES:
        if environ.get(name):
            return f"profile {environ[name]} (exported)"
    if environ.get("FASTDDS_BUILTIN_TRANSPORTS"):
        return f"FASTDDS_BUILTIN_TRANSPORTS={environ['FASTDDS_BUILTIN_TRANSPORTS']} (exported)"
    profile = resolve_package_path(LARGE_IMAGE_PROFILE)
    if not profile.is_file():
        environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
        return f"FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA ({profile} is not installed)"
    environ[profile_variable(environ)] = str(profile.resolve())
    return str(profile.resolve())
