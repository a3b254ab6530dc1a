"""Stereo geometry: calibration from the rectified pair, left/right matching, triangulation,
position covariance.

Rectified pair, the full ROS stereo model (ARCHITECTURE section 5): P = [fx' 0 cx' Tx; 0 fy' cy'
Ty; 0 0 1 0] per eye. From the left P: fx, fy, cx_l, cy, Tx_l; from the right P: cx_r, Tx_r;
baseline B = -(Tx_r - Tx_l) / fx. A cone seen at left pixel (u, v) and right pixel (u - d, v)
lies at Z = fx B / (d - doffs) with doffs = cx_l - cx_r, X = ((u - cx_l) Z - Tx_l) / fx,
Y = (v - cy) Z / fy, in the left camera's optical frame (x right, y down, z forward).
Pairs rectified without CALIB_ZERO_DISPARITY have doffs != 0: ignoring it is a depth error that
grows with range (with fx B = 84 px m and doffs = 10.9 px, a cone at 20 m reads 5.55 m).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import stereo_kernel
from .postprocess import Detections


class CalibrationError(ValueError):
    """The camera_info pair does not describe a usable rectified stereo pair."""


@dataclass(frozen=True)
class StereoCamera:
    fx: float
    fy: float
    cx: float
    cy: float
    baseline: float  # metres
    width: int
    height: int
    doffs: float = 0.0  # cx_left - cx_right (px): 0 for pairs rectified with zero disparity
    x_offset: float = 0.0  # Tx_left / fx (m): the left P's own translation, usually 0

    @classmethod
    def from_projections(cls, p_left: Sequence[float], p_right: Sequence[float],
                         size_left: tuple[int, int], size_right: tuple[int, int],
                         rel_tol: float = 1e-3,
                         baseline_range: tuple[float, float] = (0.01, 2.0)) -> "StereoCamera":
        """Validate a rectified horizontal pair from both 3x4 projection matrices (row-major,
        12 values each); ``baseline_range`` (m) bounds a plausible stereo rig."""
        pl = np.asarray(p_left, dtype=np.float64).reshape(3, 4)
        pr = np.asarray(p_right, dtype=np.float64).reshape(3, 4)
        if not (np.isfinite(pl).all() and np.isfinite(pr).all()):
            raise CalibrationError("projection matrices contain NaN/Inf")
        fx, fy, cx, cy = pl[0, 0], pl[1, 1], pl[0, 2], pl[1, 2]
        if fx <= 0 or fy <= 0:
            raise CalibrationError(f"left P has no focal length (fx={fx:g}, fy={fy:g}): is the "
                                   f"camera calibrated?")
        for name, a, b in (("fx", fx, pr[0, 0]), ("fy", fy, pr[1, 1]), ("cy", cy, pr[1, 2])):
            if abs(a - b) > rel_tol * max(abs(a), 1.0):
                raise CalibrationError(f"not a rectified pair: {name} differs (left {a:g}, "
                                       f"right {b:g})")
        for side, p in (("left", pl), ("right", pr)):
            if abs(p[1, 3]) > 1e-6 * max(fx, 1.0):
                raise CalibrationError(f"not a horizontal pair: the {side} P has Ty = "
                                       f"{p[1, 3]:g} (a vertical baseline)")
        baseline = -(pr[0, 3] - pl[0, 3]) / fx
        if not baseline > 0:
            raise CalibrationError(f"baseline must be positive, got {baseline:g} m from Tx_left "
                                   f"{pl[0, 3]:g}, Tx_right {pr[0, 3]:g} (left and right swapped?)")
        lo, hi = baseline_range
        if not lo <= baseline <= hi:
            raise CalibrationError(f"baseline {baseline:g} m is outside the plausible range "
                                   f"[{lo:g}, {hi:g}] m (Tx in pixels*metres? see min_baseline / "
                                   f"max_baseline)")
        if tuple(size_left) != tuple(size_right):
            raise CalibrationError(f"left and right sizes differ: {size_left} vs {size_right}")
        return cls(float(fx), float(fy), float(cx), float(cy), float(baseline),
                   int(size_left[1]), int(size_left[0]), float(cx - pr[0, 2]),
                   float(pl[0, 3] / fx))

    def disparity_range(self, min_depth: float, max_depth: float) -> tuple[float, float]:
        """Pixel disparities (u_left - u_right) of the depth range."""
        fb = self.fx * self.baseline
        return fb / max_depth + self.doffs, fb / min_depth + self.doffs


@dataclass(frozen=True)
class StereoConfig:
    min_depth: float = 1.0  # metres
    max_depth: float = 40.0
    row_tolerance_px: float = 3.0  # plus a tenth of the box height
    max_height_ratio: float = 1.5  # boxes of one cone in both views have similar heights
    refine: bool = True  # sub-pixel disparity from the image content (needs the images)
    min_correlation: float = 0.6  # below this the box disparity is kept
    min_texture: float = 4.0  # grey-level standard deviation a patch needs to be matched
    # Uncertainty model of the published covariance (pixels), calibrated on synthetic pairs
    # against ground truth (stereo_accuracy reports the fraction inside the 1/2-sigma ellipsoids)
    # (seeds 600000-600029, the shipped model; reported on the held-out 500000+):
    # box centre sigma = hypot(centre_sigma_px, fraction x box width / height) in u / v
    centre_sigma_px: float = 0.45
    centre_sigma_u: float = 0.025  # x box width
    centre_sigma_v: float = 0.04  # x box height (the box centre sits a little below the axis)
    disparity_sigma_box: float = 2.0  # disparity from box centres
    # NCC sub-pixel disparity: this + 0.3 x (1 - peak correlation) + disparity_sigma_slope x d
    # (near cones: larger patches, more perspective difference between the views)
    disparity_sigma_refined: float = 0.05
    disparity_sigma_slope: float = 0.003


@dataclass
class Cones:
    """Cones located in 3D: xyz (n,3) metres and their covariance (n,3,3) in the left optical
    frame (or the output frame once ``transformed``), class ids, confidence, stereo depth."""

    xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    disparity: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    refined: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))
    depth_sigma: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # metres
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3), np.float32))  # m^2
    left_index: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    right_index: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    depth: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # optical z (m)

    def __len__(self) -> int:
        return int(self.class_ids.shape[0])

    def select(self, keep: np.ndarray) -> "Cones":
        """The cones where ``keep`` (a boolean mask or indices) holds, every field alike."""
        return Cones(**{name: getattr(self, name)[keep] for name in self.__dataclass_fields__})


def match_detections(left: Detections, right: Detections, camera: StereoCamera,
                     config: StereoConfig) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one left/right pairs: same class, same rows, plausible disparity, similar size.

    Returns (left indices, right indices), chosen by a global assignment that minimises the
    row misalignment and size difference over all feasible pairs (the costs:
    core.stereo_kernel.match_costs).
    """
    if len(left) == 0 or len(right) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cost = np.empty((len(left), len(right)))
    stereo_kernel.match_costs_compiled(
        _boxes(left), _boxes(right), np.asarray(left.class_ids, np.int64),
        np.asarray(right.class_ids, np.int64),
        *_floats(*camera.disparity_range(config.min_depth, config.max_depth)),
        float(config.row_tolerance_px), math.log(config.max_height_ratio), cost)
    li, ri = linear_sum_assignment(cost)
    ok = cost[li, ri] < stereo_kernel.INFEASIBLE
    return li[ok].astype(np.int64), ri[ok].astype(np.int64)


def _kernel_frames(left: np.ndarray, right: np.ndarray, orders: tuple[str, str]
                   ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The frames as the refinement kernel reads them (HxWxC views) and their channel codes;
    ValueError for frames it cannot read: it has no bounds checks of its own beyond the left
    frame's, so both must be uint8 of one size, grey or 3 channels."""
    if any(o not in stereo_kernel.CODES for o in orders):
        raise ValueError(f"unknown channel orders {orders}: bgr or rgb")
    frames = [f if f.ndim == 3 else f[:, :, None] for f in (left, right)]
    if (frames[0].shape[:2] != frames[1].shape[:2]
            or any(f.ndim != 3 or f.shape[2] not in (1, 3) or f.dtype != np.uint8 for f in frames)):
        raise ValueError(f"refinement needs two uint8 frames of one size, grey or 3 channels: "
                         f"got {left.shape} {left.dtype} and {right.shape} {right.dtype}")
    codes = [stereo_kernel.GREY if f.shape[2] == 1 else stereo_kernel.CODES[o]
             for f, o in zip(frames, orders)]
    return frames[0], frames[1], codes[0], codes[1]


def refine_disparity(left: np.ndarray, right: np.ndarray, boxes: np.ndarray,
                     disparity: np.ndarray, config: StereoConfig,
                     orders: tuple[str, str] = ("bgr", "bgr")
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-pixel disparity by normalized cross-correlation along the epipolar line
    (core.stereo_kernel.refine: the window, grey, texture, correlation and peak of each cone).

    ``left``/``right``: the rectified frames, grey (HxW) or colour (HxWx3 in channel ``orders``,
    "bgr" or "rgb"): only the patches and strips are converted to grey, so pass the frames as
    they came rather than converting them whole. ``boxes``: the left boxes (n, 4) xyxy,
    ``disparity``: their box-centre disparities. Returns (disparity, refined mask, peak
    correlation); where the patch has too little texture, the peak lies on the search border
    or correlates below ``min_correlation``, the box disparity is kept (peak 0 where no search
    ran).
    """
    frames = _kernel_frames(left, right, orders)
    box_disparity = np.asarray(disparity, np.float64).reshape(-1)
    out = box_disparity.copy()
    n = out.size
    refined, peaks = np.zeros(n, bool), np.zeros(n, np.float32)
    if n:
        stereo_kernel.refine_compiled(*frames, np.asarray(boxes, np.float64).reshape(n, 4),
                                      box_disparity, stereo_kernel.MAX_PATCH_ROWS,
                                      float(config.min_texture), float(config.min_correlation),
                                      out, refined, peaks)
    return out, refined, peaks


_NO_FRAME = np.zeros((1, 1, 1), np.uint8)  # what the kernel gets when it refines nothing


def _boxes(dets: Detections) -> np.ndarray:
    return np.asarray(dets.boxes, np.float32).reshape(-1, 4)  # float32 already: no copy


def _floats(*values: float) -> tuple[float, ...]:
    return tuple(map(float, values))  # the kernels take tuples of float64


def locate_cones(left: Detections, right: Detections, camera: StereoCamera, config: StereoConfig,
                 images: tuple[np.ndarray, np.ndarray] | None = None,
                 orders: tuple[str, str] = ("bgr", "bgr")) -> Cones:
    """Matched detections -> 3D cones at the centre of the left box, with their covariance.

    Depth from the box-centre disparity, refined to sub-pixel precision from the image content
    when ``images`` (the rectified left and right frames, channel ``orders``, or grey) are given
    and ``config.refine``. All of it per cone in core.stereo_kernel.locate (boxes read as
    float32, as the decoders give them).
    """
    li, ri = match_detections(left, right, camera, config)
    if li.size == 0:
        return Cones()
    refine = images is not None and config.refine
    frames = _kernel_frames(*images, orders) if refine else (_NO_FRAME, _NO_FRAME, 0, 0)
    n = li.size
    xyz, covariance = np.empty((n, 3), np.float32), np.empty((n, 3, 3), np.float32)
    disparity, refined = np.empty(n, np.float32), np.empty(n, bool)
    stereo_kernel.locate_compiled(
        *frames, _boxes(left), _boxes(right), li, ri,
        _floats(camera.fx, camera.fy, camera.cx, camera.cy, camera.fx * camera.baseline,
                camera.doffs, camera.x_offset),
        _floats(*camera.disparity_range(config.min_depth, config.max_depth)), refine,
        float(config.min_texture), float(config.min_correlation),
        _floats(config.centre_sigma_px, config.centre_sigma_u, config.centre_sigma_v,
                config.disparity_sigma_box, config.disparity_sigma_refined,
                config.disparity_sigma_slope), xyz, covariance, disparity, refined)
    return Cones(xyz=xyz, class_ids=left.class_ids[li],
                 confidence=np.sqrt(left.scores[li] * right.scores[ri]).astype(np.float32,
                                                                               copy=False),
                 disparity=disparity, refined=refined,
                 depth_sigma=np.sqrt(covariance[:, 2, 2]), covariance=covariance,
                 left_index=li, right_index=ri, depth=xyz[:, 2].copy())
