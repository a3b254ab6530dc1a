"""The cones point cloud's layout, in one place (ROS-free): the node's PointCloud2 and the bag
evaluation's recorded PointCloud2 are filled from ``cone_points``."""
from __future__ import annotations

import numpy as np

from .stereo import Cones

# every field FLOAT32, in this order: position (m), class id, confidence, position covariance (m^2)
CONE_FIELDS = ("x", "y", "z", "class_id", "confidence",
               "cov_xx", "cov_xy", "cov_xz", "cov_yy", "cov_yz", "cov_zz")
_COV_INDEX = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def cone_points(cones: Cones) -> np.ndarray:
    """(n, len(CONE_FIELDS)) little-endian float32 rows, ready to be a PointCloud2's data.

    The covariance comes from ``cones.covariance`` ((n,3,3), left optical frame); zeros where
    the result carries none."""
    points = np.zeros((len(cones), len(CONE_FIELDS)), dtype="<f4")
    points[:, 0:3] = cones.xyz
    points[:, 3] = cones.class_ids
    points[:, 4] = cones.confidence
    covariance = getattr(cones, "covariance", None)
    if covariance is not None and len(cones):
        cov = np.asarray(covariance, np.float32).reshape(len(cones), 3, 3)
        rows, cols = zip(*_COV_INDEX)
        points[:, 5:] = cov[:, rows, cols]
    return points
