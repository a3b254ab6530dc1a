"""The cones point cloud's layout, in one place (ROS-free): the node's PointCloud2 and the bag
evaluation's recorded PointCloud2 are filled from ``cone_points``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classes import BASES_M, CONE_TYPE_TABLE, CONE_TYPES, HEIGHTS_M, ClassMap
from .stereo import Cones

# every field FLOAT32, in this order: position (m), class id, confidence, position covariance
# (m^2), and how the stereo stage found the disparity (``source``: 0 the left and right boxes
# matched, 1 the left box searched for along the epipolar line of the right image, 2 a cone cut
# by an image border, located from its uncut edges; core.stereo.SOURCES)
CONE_FIELDS = ("x", "y", "z", "class_id", "confidence",
               "cov_xx", "cov_xy", "cov_xz", "cov_yy", "cov_yz", "cov_zz", "source")
_COV_INDEX = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def cone_points(cones: Cones) -> np.ndarray:
    """(n, len(CONE_FIELDS)) little-endian float32 rows, ready to be a PointCloud2's data.

    The covariance comes from ``cones.covariance`` ((n,3,3), left optical frame); zeros where
    the result carries none."""
    points = np.zeros((len(cones), len(CONE_FIELDS)), dtype="<f4")
    points[:, 0:3] = cones.xyz
    points[:, 3] = cones.class_ids
    points[:, 4] = cones.confidence
    cov = np.asarray(getattr(cones, "covariance", np.zeros((0, 3, 3))), np.float32)
    if len(cones) and cov.shape == (len(cones), 3, 3):
        rows, cols = zip(*_COV_INDEX)
        points[:, 5:11] = cov[:, rows, cols]
    source = np.asarray(getattr(cones, "source", ()))
    if source.shape == (len(cones),):
        points[:, 11] = source
    return points


def covariances_from_array(points: np.ndarray) -> np.ndarray:
    """(n, 3, 3) covariance matrices from the cov_* columns of cone rows (the inverse)."""
    cov = np.zeros((len(points), 3, 3), np.float32)
    for k, (i, j) in enumerate(_COV_INDEX):
        cov[:, i, j] = cov[:, j, i] = points[:, 5 + k]
    return cov


@dataclass(frozen=True)
class MarkerGroup:
    """The cones of one cone type, drawn as one CUBE_LIST marker (id = the type's index)."""

    type_id: int
    name: str
    rgba: tuple[float, float, float, float]
    scale: tuple[float, float, float]  # cube size along the frame's x, y, z (m)
    xyz: np.ndarray  # (k, 3)


def marker_groups(xyz: np.ndarray, class_ids: np.ndarray, classes: ClassMap,
                  vertical_axis: int = 1) -> list[MarkerGroup]:
    """Cones grouped by cone TYPE (by name, never by id) at the type's real size and colour.
    ``vertical_axis``: 1 in an optical frame (y down), 2 in a body frame (z up)."""
    type_ids = classes.type_ids_of(np.asarray(class_ids, np.int64))
    groups = []
    for t in np.unique(type_ids).tolist():
        style = CONE_TYPE_TABLE[t]
        b, g, r = style.colour_bgr
        scale = [float(BASES_M[t])] * 3
        scale[vertical_axis] = float(HEIGHTS_M[t])
        groups.append(MarkerGroup(int(t), CONE_TYPES[t], (r / 255.0, g / 255.0, b / 255.0,
                                                          style.marker_alpha),
                                  (scale[0], scale[1], scale[2]),
                                  np.asarray(xyz, np.float64)[type_ids == t]))
    return groups
