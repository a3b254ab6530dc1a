"""camera_pose_source: tf — the left camera's pose in output_frame from TF (the car's tf2_ros).

Kept thin: one lookup per change of the image's frame id or of output_frame (the transform is
static); a failed lookup returns None and the caller reports it (no cones until TF has it).
"""
from __future__ import annotations

from typing import Any

from ..core.frames import RigidTransform


class TfPose:
    def __init__(self, node: Any) -> None:
        import tf2_ros  # type: ignore[import-not-found]  # the car's ROS distribution
        self.buffer = tf2_ros.Buffer()
        self.listener = tf2_ros.TransformListener(self.buffer, node)
        self.frames: tuple[str, str] | None = None  # (output frame, source frame) of transform
        self.transform: RigidTransform | None = None
        self.error = ""

    def lookup(self, source_frame: str, output_frame: str) -> RigidTransform | None:
        """The optical frame ``source_frame`` -> ``output_frame``, or None (``error`` says why)."""
        if self.frames == (output_frame, source_frame) and self.transform is not None:
            return self.transform
        from rclpy.time import Time
        try:
            t = self.buffer.lookup_transform(output_frame, source_frame, Time()).transform
        except Exception as exc:  # tf2 raises LookupException, ConnectivityException, ...
            self.error = (f"TF has no transform {output_frame} <- {source_frame}: "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())}")
            return None
        self.transform = RigidTransform.from_translation_quaternion(
            (t.translation.x, t.translation.y, t.translation.z),
            (t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w))
        self.frames, self.error = (output_frame, source_frame), ""
        return self.transform


def tf_available() -> bool:
    try:
        import tf2_ros  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True
