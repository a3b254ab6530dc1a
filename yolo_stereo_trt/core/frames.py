"""Frames: cones from the left camera's optical frame into the frame the rest of the car uses.

The stereo code works in the left camera's optical frame (x right, y down, z forward). The
parameter ``camera_pose`` = [x, y, z, roll, pitch, yaw] is the pose of the left camera's BODY
frame (REP-103 ``camera_link`` axes: x forward, y left, z up) in ``output_frame`` (metres,
radians; fixed-axis roll-pitch-yaw as tf2 uses: R = Rz(yaw) Ry(pitch) Rx(roll)). The fixed
optical-to-body rotation is applied here, so users give the pose they would measure on the car:
a forward camera 1.0 m above ``base_link``, pitched 5 degrees down, is ``[x, 0.0, 1.0, 0.0,
0.087, 0.0]`` (positive pitch turns x towards -z).

From TF (on the car), ``lookup_transform(output_frame, <left optical frame>)`` already maps
optical-frame points into ``output_frame``: ``RigidTransform.from_translation_quaternion`` takes
it as it is (no optical-to-body rotation there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# columns = the optical axes (x right, y down, z forward) expressed in the body frame
# (x forward, y left, z up): optical x -> body -y, optical y -> body -z, optical z -> body x
OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0],
                            [-1.0, 0.0, 0.0],
                            [0.0, -1.0, 0.0]])


class PoseError(ValueError):
    """A camera pose that cannot be used (wrong length, NaN/Inf, not a rotation)."""


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Fixed-axis roll, pitch, yaw (about x, then y, then z of the parent) -> 3x3 rotation,
    R = Rz(yaw) @ Ry(pitch) @ Rx(roll), as tf2's Quaternion.setRPY and Matrix3x3.setRPY."""
    cr, sr = np.cos(roll), np.sin(roll)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def quaternion_to_matrix(q: Sequence[float] | np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w), geometry_msgs order -> 3x3 rotation."""
    x, y, z, w = (float(v) for v in q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def validate_camera_pose(pose: Sequence[float]) -> np.ndarray:
    """The 6 values of ``camera_pose`` as float64, or PoseError with a one-line reason."""
    try:
        values = np.asarray(pose, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise PoseError(f"camera_pose must be 6 numbers [x, y, z, roll, pitch, yaw], got {pose!r}"
                        ) from None
    if values.size != 6:
        raise PoseError(f"camera_pose must be 6 numbers [x, y, z, roll, pitch, yaw] (metres, "
                        f"radians), got {values.size}")
    if not np.isfinite(values).all():
        raise PoseError(f"camera_pose must be finite, got {values.tolist()}")
    return values


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """p_out = R @ p_in + t, for points given in the left optical frame."""

    R: np.ndarray  # (3,3)
    t: np.ndarray  # (3,)

    def __post_init__(self) -> None:
        R = np.asarray(self.R, dtype=np.float64)
        t = np.asarray(self.t, dtype=np.float64).reshape(-1)
        if R.shape != (3, 3) or t.shape != (3,):
            raise PoseError(f"a rigid transform needs R (3,3) and t (3,), got {R.shape}, {t.shape}")
        if not (np.isfinite(R).all() and np.isfinite(t).all()):
            raise PoseError("transform contains NaN/Inf")
        if not (np.allclose(R @ R.T, np.eye(3), atol=1e-6) and np.linalg.det(R) > 0):
            raise PoseError("transform rotation is not a rotation matrix (orthonormal, det +1)")
        R.setflags(write=False)
        t.setflags(write=False)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)

    @classmethod
    def identity(cls) -> "RigidTransform":
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_camera_pose(cls, pose: Sequence[float]) -> "RigidTransform":
        """``camera_pose`` [x, y, z, roll, pitch, yaw] of the camera BODY frame in output_frame
        -> the transform of optical-frame points into output_frame."""
        x, y, z, roll, pitch, yaw = validate_camera_pose(pose)
        return cls(rpy_to_matrix(roll, pitch, yaw) @ OPTICAL_TO_BODY, np.array([x, y, z]))

    @classmethod
    def from_translation_quaternion(cls, t: Sequence[float], q: Sequence[float]
                                    ) -> "RigidTransform":
        """A TF transform (translation, quaternion x, y, z, w) of the OPTICAL frame in
        output_frame, as ``lookup_transform(output_frame, optical_frame)`` returns it."""
        qv = np.asarray(q, dtype=np.float64).ravel()
        tv = np.asarray(t, dtype=np.float64).ravel()
        if qv.size != 4 or tv.size != 3 or not (np.isfinite(qv).all() and np.isfinite(tv).all()):
            raise PoseError(f"transform needs a finite translation (3) and quaternion (4), got "
                            f"{tv.tolist()}, {qv.tolist()}")
        norm = float(np.linalg.norm(qv))
        if abs(norm - 1.0) > 1e-3:
            raise PoseError(f"transform quaternion is not unit length (|q| = {norm:.4g})")
        return cls(quaternion_to_matrix(qv / norm), tv)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(n,3) points -> (n,3) in the output frame (float32 in, float32 out)."""
        p = np.asarray(points)
        out = p.astype(np.float64) @ self.R.T + self.t
        return out.astype(p.dtype if p.dtype.kind == "f" else np.float64)

    def apply_covariance(self, cov: np.ndarray) -> np.ndarray:
        """(n,3,3) position covariances -> R cov R^T (translation does not change them)."""
        c = np.asarray(cov)
        out = self.R @ c.astype(np.float64) @ self.R.T
        return out.astype(c.dtype if c.dtype.kind == "f" else np.float64)

