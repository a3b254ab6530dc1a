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
from .classes import SIZES_M, UNKNOWN, ClassMap
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
    row_search_px: int = 4  # refinement searches this many rows up and down (0: rows as rectified)
    # The size prior: a cone of real height H whose left box is h px tall is at about
    # Z = fy H / h, so its disparity is about fx B h / (fy H) (+ doffs). A box pair whose
    # disparity lies outside that times / over ``size_prior_ratio`` (+- ``size_prior_slack_px``)
    # is not one cone (cones partly hidden or cut by the top or bottom border have shorter
    # boxes: their range is open upwards); ``size_prior_sigma`` (relative) weighs the distance
    # from it in the pairing cost.
    size_prior_ratio: float = 1.6
    size_prior_slack_px: float = 1.5
    size_prior_sigma: float = 0.15
    # a pairing whose cost is within this of another feasible pairing of the same box with a
    # different disparity is ambiguous: no cone from it (counted)
    ambiguity_margin: float = 1.0
    search: bool = True  # a left box without its right box is searched for (needs the images)
    min_search_correlation: float = 0.7
    min_search_margin: float = 0.1  # the peak over the highest other local maximum
    # a cone found by the search whose left box overlaps an already located cone's (IoU >= this)
    # at the same disparity (within duplicate_sigmas x their combined sigma) is that cone seen
    # twice by the detector (two boxes NMS kept): no second cone (counted as duplicate)
    duplicate_iou: float = 0.3
    duplicate_sigmas: float = 3.0
    # Uncertainty model of the published covariance (pixels), fitted on synthetic pairs against
    # ground truth by scripts/fit_stereo_sigmas.py (seeds 600000-602199 of the plain world and
    # 610000-610499 of the randomized one, the shipped model: `--pairs 2200 --randomized 500`;
    # the centre terms and the searched cones' spread scale on the plain world's alone);
    # stereo_accuracy reports the fraction inside the 1/2-sigma ellipsoids on held-out seeds
    # (`--randomize`: the randomized world's). The centre terms as the fit prints them with
    # the right box's term in place; the disparity terms' tail scales (disparity_sigma_spread,
    # disparity_sigma_overlap, search_sigma_factor and _slope) as fitted before the left-right
    # check: fitted over it, they come out narrower (0.323, 0.00186, 1.05, 0.00465) and put 11
    # more of the fitting seeds' cones wrong (docs/stereo_history.md, "The right box's second
    # look").
    # Box centre sigma: hypot(u_px, u x width, u2 x width^2 / 100, small x 10 / width) in u,
    # likewise in v. The box centre lies centre_bias_px + centre_bias_plate x camera_height x
    # fy x base width / Z^2 below the cone's axis: the base plate's near edge, seen from above,
    # reaches below the axis's foot by camera height x base width / 2 x fy / Z^2, the centre
    # by half that, so the plate factor is about a quarter (fitted on seeds 600000-602199,
    # whose camera is 0.9 m up). It is the plate's reach, set by the depth, the plate and the
    # camera's height, not by the cone's height: as a term in the box height (fitted on all
    # cones, most of them small) it put a large orange cone's centre 2 px too high at 0-5 m;
    # with the plain world's height fixed into it, a camera 1.3-1.5 m up (the randomized
    # world's are 0.5-1.5 m) put cones under 5 m 1.6-1.8 px too low.
    # A box whose height differs from a cone's of its type at its depth (beyond that, and
    # beyond its two edges' own noise: 2 x the box's own centre sigma in v, before the score,
    # overlap and search factors, core.stereo_kernel.EXCESS_NOISE) adds centre_sigma_excess x
    # the rest (px) in v: a padded or partly hidden box. (Counted from 0 px it also widened
    # every near box, whose height errs by a few pixels: 0-5 m came out 83 % inside 2 sigma,
    # 25-30 m 13 % inside 1.)
    centre_sigma_u_px: float = 0.237
    centre_sigma_u: float = 0.0
    centre_sigma_u2: float = 0.03
    centre_sigma_v_px: float = 0.236
    centre_sigma_v: float = 0.0
    centre_sigma_v2: float = 0.0039
    centre_sigma_small: float = 0.00263  # x 10 / box width (u), x 10 / box height (v)
    # a box pair's centre sigmas above x (1 + score_u (v) x (score_below - its left detection's
    # score)) where the score is below score_below: a box the detector is less sure of is looser
    # (at score 0.3-0.5 its centre errs 2-3 x as far as at 0.8-0.9); a sure one keeps the fitted
    # sigmas; a searched cone has its own terms (fitted on searched cones: their lower scores)
    centre_sigma_score_below: float = 0.9
    centre_sigma_score_u: float = 8.32
    centre_sigma_score_v: float = 3.15
    # a box pair whose left box another left detection's box partly covers (box_overlap: the
    # largest share): its edges may follow the other cone's; in quadrature, x share x box width
    # (height); fitted on such pairs on top of the terms above (a search has its own terms)
    centre_sigma_overlap: float = 0.0224
    centre_sigma_excess: float = 0.343
    centre_bias_px: float = 0.306
    centre_bias_plate: float = 0.219  # x camera_height x fy x base width / Z^2: px
    # The right box, a second look at the centre: a box pair's right box centre, moved by its
    # disparity (and the rows its match found), lands on its left box's within the two boxes'
    # own noise. Its sigma in u (v) gets, in quadrature, centre_sigma_pair_u (_v) x how far
    # apart they lie (not along an axis a border cuts in either view: the cut terms there).
    # Boxes that disagree (one padded, one cut short by blur or by another cone) say the centre
    # is less sure; boxes that agree add little, and the fitted terms above, fitted with this
    # one in place, are narrower for them. The two boxes' errors are correlated (0.6-0.8): a
    # detector whose views agree more than the shipped model's (the perfect boxes of
    # stereo_accuracy's "gt boxes") comes out over-confident. Set, not fitted, on the fitting
    # seeds: docs/stereo_history.md, "The right box's second look, and the camera's height".
    centre_sigma_pair_u: float = 0.2
    centre_sigma_pair_v: float = 0.9
    # The left camera's optical centre above the ground (m), for the base plate's offset: the
    # node takes it from the camera pose where it has one (camera_pose or TF: its z in
    # output_frame, whose z = 0 is the ground); without one, the synthetic worlds' 0.9 m.
    camera_height: float = 0.9
    disparity_sigma_box: float = 2.0  # disparity from box centres (or edges)
    # refined: hypot(constant, slope x d, small x 10 / box height)
    disparity_sigma_refined: float = 0.024
    disparity_sigma_slope: float = 0.00383
    disparity_sigma_small: float = 0.0411
    # in quadrature, x the match's ambiguity ^ 1.5 (core.stereo_kernel._refine_one, px: how far
    # it may slide for the mismatch it has; large where blur flattens a patch along the row;
    # it holds the correlation peak's deficit: no (1 - peak) term besides it)
    disparity_sigma_ambiguity: float = 0.0799
    # in quadrature, x the left frame's JPEG blockiness (core.stereo_kernel._blockiness: about
    # 0.03 for a frame never JPEG-coded; 0.5-1.3 at quality 80, 2-4 at 30, by content), px
    # per unit
    disparity_sigma_blockiness: float = 0.0793
    # an overlapped box's patch holds part of the other cone too, at another depth: the match
    # lands between the two disparities; in quadrature, x share x box width (before a search's
    # factor)
    disparity_sigma_overlap: float = 0.0042
    # a refined box pair whose left box is shorter than disparity_spread_below_px (a small
    # cone farther than about 9 m at fy 640): its patch's top and bottom halves
    # (core.stereo_kernel._half_spread, by rows: each matched on its own from the patch's
    # disparity): one surface gives both halves its disparity; a patch that also holds the
    # background beside the cone's narrow top, a cone no box marks, or the blur that smeared
    # them in, gives each half its own mix, and the match lands between them (the correlation
    # does not show it; top and bottom ranked the tail more sharply than left and right on
    # the fitting seeds: 10.5 / 13.2 % beyond 3 sigma at 5 sigma of spread or more, against
    # 7.5 / 9.5 %). In quadrature, x the spread beyond what the sigma itself gives two
    # halves (2 x sigma), after the terms above; one scale, set on top of them so that those
    # pairs' disparity errors lie inside 2 sigma as often as a Gaussian's (95.4 %; both
    # worlds' fitting seeds: scripts/fit_stereo_sigmas.py). Taller boxes keep their sigma: on
    # the fitting seeds the term on every box pair thinned the near ones' tail (plain 0-10 m:
    # 1.5 -> 1.0 % beyond the 99.9 % gate) but put them 32 % inside 1 sigma, out of the band
    # (28 % with these; docs/results.md; measured with the left and right halves).
    disparity_sigma_spread: float = 0.962
    disparity_spread_below_px: float = 24.0
    # a taller refined box pair (a near cone): its patch's top and bottom and its left and right
    # halves, each free to move a fifth of the box width (core.stereo_kernel.TALL_HALF_SHIFT);
    # a near cone's own relief (its round body, the ground at its foot) puts them up to a
    # pixel or so apart (median 0.2-0.4 px, 95th percentile 1.2-1.8 px on the fitting seeds);
    # a patch that also holds a nearer surface (a cone in front that no box marks as such, a
    # person, a post) puts them pixels apart and the match may follow either surface. From
    # disparity_tall_spread_gate_px on, the disparity sigma gets, in quadrature,
    # disparity_sigma_tall_spread x the spread; below it nothing (a term on every tall pair
    # put the near cones over the 1-sigma band, docs/stereo_history.md). Set, not fitted, on
    # the fitting seeds (plain 600000+, randomized 610000+) over the terms above:
    # docs/stereo_history.md, "Near cones with another surface in the patch".
    disparity_sigma_tall_spread: float = 1.0
    disparity_tall_spread_gate_px: float = 2.0
    # a search (the right detector missed these cones: more of them are partly hidden):
    # disparity hypot(refined x factor, slope x d), centre hypot(x factor, size x box width/height)
    search_sigma_factor: float = 1.0
    search_sigma_slope: float = 0.00964
    search_centre_factor: float = 1.0
    search_centre_size: float = 0.0883
    # a searched cone's left box search_large_px or taller (a near cone: its patch holds
    # hundreds of pixels, enough for each of its left and right halves to find its own
    # disparity; a shorter one's top and bottom halves: below): the halves of a
    # patch of one surface agree; a patch that also holds another surface (part of another
    # cone, or the background, at another disparity) gives each half its own mix of the two,
    # and the whole patch's match lands between them. ``Cones.spread`` is how far apart the
    # halves' disparities lie; the disparity sigma gets, in quadrature, search_sigma_spread x
    # the spread beyond what the sigma itself gives two halves (2 x sigma: each half's sigma
    # is sqrt 2 x the patch's). One scale, set on such cones on top of the terms above to
    # their 3-D share inside 2 sigma (scripts/fit_stereo_sigmas.py, the plain world's seeds
    # above: its one camera, as the centre terms): the least of the values tried that, with
    # the residuals taken with it in place (the duplicate rule depends on it: a wider sigma
    # drops more mixed searches as a cone found again), puts at least 73.9 % of them inside
    # (with the halves of _half_spread's two Gauss-Newton steps (at most two since a step
    # under HALF_CONVERGED ends them: spreads 0.004 px apart at most) on a 96-pixel grid: 0.836,
    # the value for the earlier three Lucas-Kanade iterations on 256, and 0.921 72.9 %; 1.09:
    # 74.7 %). A shorter searched cone (a far one) has its top and bottom halves matched, as a
    # short box pair, and gets the box pairs' term (disparity_sigma_spread) on top of the
    # search's: a far cone's patch mixes the background beside its narrow top as a box pair's
    # does (held out, from 10 m: its 99.9 % gate 4.6 -> 2.1 % of the plain world's searched
    # cones at 10-20 m, 5.1 -> 2.4 % of the randomized world's at 20-30 m; docs/results.md).
    search_large_px: float = 16.0
    search_sigma_spread: float = 1.09
    # every refined cone, box pair, cut or searched: its patch matched from the left image into
    # the right and back (core.stereo_kernel._consistency: the left-right check, px; the green
    # channel, three Gauss-Newton steps each way). One surface gives both directions its
    # disparity; a patch that also holds another surface at another disparity (the background
    # beside a far cone smeared into its patch by motion blur along the rows, the ground at a
    # near cone's foot, a cone beside it) holds a different mix of the two in each view, and
    # the directions land apart while the correlation stays high. Beyond
    # disparity_consistency_gate x the disparity (the directions' own noise), the disparity
    # sigma gets, in quadrature, disparity_sigma_consistency x the excess. Set, not fitted, on
    # the fitting seeds (plain 600000+, randomized 610000+) over the terms above, from a 3 x 3
    # grid: docs/stereo_history.md, "The left-right check". 0: not measured (NaN); a right
    # patch that would leave the image is not measured either.
    disparity_sigma_consistency: float = 8.0
    disparity_consistency_gate: float = 0.01
    cut_sigma_factor: float = 0.25  # a cut cone's position sigma: x its expected width / height
    cut_disparity_sigma: float = 0.6  # px, added to a cut cone's (its edges' disparity, a narrow
    # patch)

    def sigmas(self) -> tuple[float, ...]:
        """The uncertainty model as core.stereo_kernel.locate takes it."""
        return tuple(map(float, (
            self.centre_sigma_u_px, self.centre_sigma_u, self.centre_sigma_u2,
            self.centre_sigma_v_px, self.centre_sigma_v, self.centre_sigma_v2,
            self.centre_sigma_small, self.centre_sigma_score_below, self.centre_sigma_score_u,
            self.centre_sigma_score_v, self.centre_sigma_overlap,
            self.centre_sigma_excess, self.centre_sigma_pair_u, self.centre_sigma_pair_v,
            self.centre_bias_px, self.centre_bias_plate * self.camera_height,
            self.disparity_sigma_box, self.disparity_sigma_refined, self.disparity_sigma_slope,
            self.disparity_sigma_small, self.disparity_sigma_ambiguity,
            self.disparity_sigma_blockiness,
            self.disparity_sigma_overlap, self.disparity_sigma_spread,
            self.disparity_spread_below_px, self.disparity_sigma_tall_spread,
            self.disparity_tall_spread_gate_px,
            self.search_sigma_factor, self.search_sigma_slope, self.search_centre_factor,
            self.search_centre_size, self.search_large_px, self.search_sigma_spread,
            self.disparity_sigma_consistency, self.disparity_consistency_gate,
            self.cut_sigma_factor, self.cut_disparity_sigma)))


# Cones.source: how the disparity was found
SOURCES = {stereo_kernel.BOX_PAIR: "box pair", stereo_kernel.EPIPOLAR_SEARCH: "epipolar search",
           stereo_kernel.BORDER_CUT: "cut by the image border"}


@dataclass
class Cones:
    """Cones located in 3D: xyz (n,3) metres and their covariance (n,3,3) in the left optical
    frame (or the output frame once ``transformed``), class ids, confidence, stereo depth; how
    each was found (``source``: core.stereo_kernel BOX_PAIR, EPIPOLAR_SEARCH, BORDER_CUT), the
    row offset the refinement found (right minus left, px; NaN where not refined), the peak
    correlation, and the disparity its left box height predicts (fx B h / (fy H), px, without
    doffs; NaN for boxes cut by the top or bottom border); the share of its left box another
    left box covers (``box_overlap``: its covariance widens with it); how far apart the
    disparities of its patch's halves lie (``spread``, px: top and bottom for a refined box
    pair whose left box is shorter than disparity_spread_below_px and for a cone found by the
    search from a shorter left box than search_large_px, left and right for a searched one
    from a taller box, the larger of both for a taller refined box pair (not measured where
    disparity_sigma_tall_spread is 0); NaN where not measured: its covariance widens with it);
    how far its refined match may slide for the mismatch it has (``ambiguity``, px,
    core.stereo_kernel._refine_one; NaN where not refined: its covariance widens with it); how
    blocky the left frame is, as JPEG coding makes it (``blockiness``,
    core.stereo_kernel._blockiness, the same for every cone of the pair: the refined cones'
    covariance widens with it); how far apart its patch's disparities lie matched from the
    left image into the right and back (``consistency``, px, core.stereo_kernel._consistency;
    NaN where not refined or not measured: its covariance widens with it).
    ``counts``: the stereo stage's counters for the pair (not per cone)."""

    xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    disparity: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    refined: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))
    depth_sigma: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # metres
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3), np.float32))  # m^2
    left_index: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    right_index: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))  # -1: search
    depth: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # optical z (m)
    source: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.uint8))
    row_offset: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    peak: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    size_disparity: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    overlap: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    spread: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    ambiguity: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    blockiness: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    consistency: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    counts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.class_ids.shape[0])

    def select(self, keep: np.ndarray) -> "Cones":
        """The cones where ``keep`` (a boolean mask or indices) holds, every field alike."""
        return Cones(**{name: getattr(self, name)[keep] for name in self.__dataclass_fields__
                        if name != "counts"}, counts=dict(self.counts))


@dataclass
class SizePrior:
    """Per left box: the disparity range its height makes plausible [lo, hi], the predicted
    disparity and its sigma (the pairing cost), and the prediction without doffs (NaN for a box
    cut by the top or bottom border: its height is only a lower bound)."""

    lo: np.ndarray
    hi: np.ndarray
    centre: np.ndarray
    sigma: np.ndarray
    size_disparity: np.ndarray

    @classmethod
    def none(cls, n: int) -> "SizePrior":
        inf = np.full(n, np.inf)
        return cls(-inf, inf, np.zeros(n), inf, np.full(n, np.nan))


def size_prior(boxes: np.ndarray, heights: np.ndarray, camera: StereoCamera,
               config: StereoConfig) -> SizePrior:
    """The size prior of left boxes (n, 4) of cones of real heights (n,) m (StereoConfig)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h_box = boxes[:, 3] - boxes[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        pure = camera.fx * camera.baseline * h_box / (camera.fy * np.asarray(heights, np.float64))
    cut = (boxes[:, 1] <= stereo_kernel.BORDER_PX) | \
        (boxes[:, 3] >= camera.height - stereo_kernel.BORDER_PX)
    ratio, slack = config.size_prior_ratio, config.size_prior_slack_px
    lo = pure / ratio + camera.doffs - slack
    hi = np.where(cut, np.inf, pure * ratio + camera.doffs + slack)
    ok = np.isfinite(pure) & (pure > 0)  # else no prior for that box
    return SizePrior(np.where(ok, lo, -np.inf), np.where(ok, hi, np.inf),
                     np.where(ok, pure + camera.doffs, 0.0),
                     np.where(ok, np.hypot(config.size_prior_sigma * pure, 0.5), np.inf),
                     np.where(ok & ~cut, pure, np.nan))


def match_detections(left: Detections, right: Detections, camera: StereoCamera,
                     config: StereoConfig, prior: SizePrior | None = None
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, int], np.ndarray]:
    """One-to-one left/right pairs: same class, same rows, plausible disparity (the depth range
    and, with ``prior``, the left box's size prior), similar size; chosen by a global
    assignment that minimises the cost (core.stereo_kernel.match_costs). A pairing of a box
    with a size prior that has an alternative as cheap (within ``ambiguity_margin``) at a
    different disparity is dropped.

    Returns (left indices, right indices, counts: ``ambiguous`` pairings dropped,
    ``implausible`` left boxes whose only candidates contradicted their size prior, the left
    indices of the ambiguous pairings: no cone for them, not even by a search)."""
    counts = {"ambiguous": 0, "implausible": 0}
    none = np.zeros(0, np.int64)
    if len(left) == 0 or len(right) == 0:
        return none, none, counts, none
    prior = prior or SizePrior.none(len(left))
    shape = (len(left), len(right))
    cost, disparity = np.empty(shape), np.empty(shape)
    stereo_kernel.match_costs_compiled(
        _boxes(left), _boxes(right), np.asarray(left.class_ids, np.int64),
        np.asarray(right.class_ids, np.int64), prior.lo, prior.hi, prior.centre, prior.sigma,
        *_floats(*camera.disparity_range(config.min_depth, config.max_depth)),
        float(config.row_tolerance_px), math.log(config.max_height_ratio), float(camera.width),
        cost, disparity)
    li, ri = linear_sum_assignment(cost)
    ok = cost[li, ri] < stereo_kernel.INFEASIBLE
    li, ri = li[ok].astype(np.int64), ri[ok].astype(np.int64)
    dropped = none
    if li.size:  # another feasible partner of either box, as cheap, at another disparity
        # (only a box with a size prior can be judged: without one every candidate on the rows
        # is about as cheap, and the assignment alone decides, as before the prior)
        ambiguous = np.empty(li.size, bool)
        stereo_kernel.ambiguous_compiled(cost, disparity, li, ri, float(config.ambiguity_margin),
                                         np.isfinite(prior.sigma), ambiguous)
        counts["ambiguous"] = int(ambiguous.sum())
        if counts["ambiguous"]:
            dropped = li[ambiguous]
            li, ri = li[~ambiguous], ri[~ambiguous]
    unmatched = np.ones(len(left), bool)
    unmatched[li] = False
    unmatched[dropped] = False  # counted once: as ambiguous
    counts["implausible"] = int(((cost == stereo_kernel.IMPLAUSIBLE).any(1) & unmatched).sum())
    return li, ri, counts, dropped

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
                     orders: tuple[str, str] = ("bgr", "bgr"), radius: np.ndarray | None = None
                     ) -> tuple[np.ndarray, ...]:
    """Sub-pixel disparity by normalized cross-correlation along the epipolar line, rows
    searched too, then Lucas-Kanade (core.stereo_kernel.refine: the window, grey, texture,
    correlation, rows, peak and sub-pixel step of each cone).

    ``left``/``right``: the rectified frames, grey (HxW) or colour (HxWx3 in channel ``orders``,
    "bgr" or "rgb"): only the patches and strips are read, so pass the frames as they came.
    ``boxes``: the left boxes (n, 4) xyxy; the disparities d +- ``radius`` are searched
    (default: the box width, at least 8 px, at most max(32 px, a quarter of the width)).
    Returns (disparity, refined mask, peak correlation, row offset, margin, ambiguity (px: how
    far the match may slide for its mismatch; NaN where not refined)); where the patch has
    too little texture, the peak lies on the search border or correlates below
    ``min_correlation``, the given disparity is kept (peak 0 where no search ran)."""
    frames = _kernel_frames(left, right, orders)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    given = np.asarray(disparity, np.float64).reshape(-1)
    n = given.size
    if radius is None:
        width = boxes[:, 2] - boxes[:, 0]
        radius = np.maximum(np.maximum(np.minimum(width, stereo_kernel.FULL_WIDTH_SEARCH_UP_TO),
                                       stereo_kernel.SEARCH_RADIUS * width),
                            stereo_kernel.MIN_SEARCH_RADIUS)
    status = np.zeros(n, np.int8)
    out, rows = given.copy(), np.full(n, np.nan)
    peaks, margins = np.zeros(n, np.float32), np.zeros(n, np.float32)
    ambiguity = np.full(n, stereo_kernel.AMBIGUITY_MAX, np.float32)
    if n:
        stereo_kernel.refine_compiled(*frames, boxes, given - radius, given + radius,
                                      stereo_kernel.MAX_PATCH_ROWS, int(config.row_search_px),
                                      float(config.min_texture), status, out, rows, peaks,
                                      margins, ambiguity)
    refined = (status == stereo_kernel.ACCEPTED) & (peaks >= config.min_correlation)
    return (np.where(refined, out, given), refined, peaks, np.where(refined, rows, np.nan),
            margins, np.where(refined, ambiguity, np.nan))


_NO_FRAME = np.zeros((1, 1, 1), np.uint8)  # what the kernel gets when it refines nothing


def search_duplicates(boxes: np.ndarray, disparity: np.ndarray, sigma_d: np.ndarray,
                      searched: np.ndarray, located: np.ndarray, config: StereoConfig
                      ) -> np.ndarray:
    """Which cones (left ``boxes`` (n, 4), ``disparity`` and its sigma (n,), in locate order:
    the box pairs first) are a cone found by the epipolar search (``searched``) that is an
    earlier ``located`` cone seen twice: its left box overlaps the earlier one's (IoU >=
    duplicate_iou) and the two disparities agree within duplicate_sigmas x their combined sigma. Two cones cannot
    overlap in the image at one depth: a second left box there is the detector's duplicate (or
    the part of the cone in front that a partly hidden cone's box holds), and searching it finds
    the first cone again."""
    out = np.zeros(len(disparity), bool)
    if searched.any():  # core.stereo_kernel.duplicates (one call; its NumPy definition:
        # test/test_stereo.py)
        stereo_kernel.duplicates_compiled(
            np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(disparity, np.float64),
            np.asarray(sigma_d, np.float64), np.asarray(searched, bool),
            np.asarray(located, bool), float(config.duplicate_iou),
            float(config.duplicate_sigmas), out)
    return out


def box_overlap(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per box of ``boxes`` (n, 4) xyxy: the largest share of its area that one other box
    covers (0: none overlaps it, or an empty or non-finite box; 1: another box holds it
    whole), and that box's index (-1: none): the definition core.stereo_kernel.locate's
    per-cone share (``Cones.overlap``, which its sigmas widen with) is held to."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(b)
    if n < 2:
        return np.zeros(n), np.full(n, -1, np.int64)
    finite = np.isfinite(b).all(1)
    with np.errstate(all="ignore"):  # non-finite or huge boxes: no share (0), no warning
        w = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        h = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        inter = np.where((w > 0) & (h > 0) & finite[:, None] & finite[None, :], w * h, 0.0)
        np.fill_diagonal(inter, 0.0)
        other = inter.argmax(1)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        share = np.where(finite & (area > 0) & np.isfinite(area),
                         np.minimum(inter[np.arange(n), other] / area, 1.0), 0.0)
    share = np.where(np.isfinite(share), share, 0.0)
    return share, np.where(share > 0, other, -1).astype(np.int64)


def _boxes(dets: Detections) -> np.ndarray:
    return np.asarray(dets.boxes, np.float32).reshape(-1, 4)  # float32 already: no copy


def _floats(*values: float) -> tuple[float, ...]:
    return tuple(map(float, values))  # the kernels take tuples of float64


def locate_cones(left: Detections, right: Detections, camera: StereoCamera, config: StereoConfig,
                 images: tuple[np.ndarray, np.ndarray] | None = None,
                 orders: tuple[str, str] = ("bgr", "bgr"),
                 classes: ClassMap | None = None) -> Cones:
    """Left detections -> 3D cones (the cone's axis at half height), with their covariance.

    Pairs of left and right detections (``match_detections``; with ``classes``, the cone
    types' real sizes give each left box its size prior), located from their box disparity,
    refined to sub-pixel precision from the image content when ``images`` (the rectified left
    and right frames, channel ``orders``, or grey) are given and ``config.refine``; with
    ``classes``, images and ``config.search``, every left detection left without a partner is
    searched for along the epipolar line over the disparities its size makes plausible, and
    located where the match is unique (``source`` EPIPOLAR_SEARCH). Cones cut by an image
    border are located from their uncut edges (``source`` BORDER_CUT). All of it per cone in
    core.stereo_kernel.locate (boxes read as float32, as the decoders give them).
    A cone the search finds again where a located cone already is (``search_duplicates``) is
    dropped. ``Cones.counts``: pairs, ambiguous, implausible, searched, found_by_search (not
    duplicates), duplicate, border_cut. Without ``classes`` no size prior and no search; each
    cone's geometry (its box's offset below the axis, a cut cone's edges) is the "unknown"
    type's, a small cone's."""
    sizes = classes.sizes_of(left.class_ids) if classes is not None and len(left) \
        else np.tile(SIZES_M[UNKNOWN], (len(left), 1))
    prior = size_prior(_boxes(left), sizes[:, 1], camera, config) if classes is not None \
        else SizePrior.none(len(left))
    li, ri, counts, ambiguous = match_detections(left, right, camera, config, prior)
    counts["pairs"] = int(li.size)
    refine = images is not None and config.refine
    search = refine and classes is not None and config.search
    # searched: left boxes without a partner, but not those whose pairing was ambiguous (a
    # search would pick one of the same candidates: a guess)
    lonely = np.zeros(0, np.int64)
    if search:
        partnerless = np.ones(len(left), bool)
        partnerless[li] = False
        partnerless[ambiguous] = False
        lonely = np.flatnonzero(partnerless)
    d_min, d_max = camera.disparity_range(config.min_depth, config.max_depth)
    lo = np.maximum(prior.lo[lonely], d_min)
    hi = np.minimum(prior.hi[lonely], d_max)
    lonely = lonely[lo < hi]  # no prior, or none inside the depth range: nothing to search
    counts["searched"] = int(lonely.size)
    index_l = np.concatenate([li, lonely]).astype(np.int64)
    index_r = np.concatenate([ri, np.full(lonely.size, -1)]).astype(np.int64)
    window_lo = np.maximum(prior.lo[index_l], d_min)  # box pairs: their refinement's bounds
    window_hi = np.minimum(prior.hi[index_l], d_max)
    n = index_l.size
    if n == 0:
        return Cones(counts={**counts, "found_by_search": 0, "duplicate": 0, "border_cut": 0})
    frames = _kernel_frames(*images, orders) if refine else (_NO_FRAME, _NO_FRAME, 0, 0)
    xyz, covariance = np.empty((n, 3), np.float32), np.empty((n, 3, 3), np.float32)
    disparity, row_offset = np.empty(n, np.float32), np.empty(n, np.float32)
    peak, source = np.empty(n, np.float32), np.empty(n, np.uint8)
    refined, valid, overlap = np.empty(n, bool), np.empty(n, bool), np.empty(n, np.float32)
    spread, ambiguity = np.empty(n, np.float32), np.empty(n, np.float32)
    blockiness, consistency = np.empty(n, np.float32), np.empty(n, np.float32)
    stereo_kernel.locate_compiled(
        *frames, _boxes(left), _boxes(right), index_l, index_r, window_lo, window_hi,
        np.ascontiguousarray(sizes[index_l], np.float64),
        np.ascontiguousarray(left.scores[index_l], np.float64),
        _floats(camera.fx, camera.fy, camera.cx, camera.cy, camera.fx * camera.baseline,
                camera.doffs, camera.x_offset), _floats(camera.width, camera.height),
        _floats(d_min, d_max), refine, stereo_kernel.MAX_PATCH_ROWS, int(config.row_search_px),
        _floats(config.min_texture, config.min_correlation, config.min_search_correlation,
                config.min_search_margin), config.sigmas(), xyz, covariance, disparity,
        row_offset, peak, source, refined, valid, overlap, spread, ambiguity, blockiness,
        consistency)
    score_r = np.where(index_r >= 0, right.scores[np.maximum(index_r, 0)] if len(right)
                       else 1.0, 1.0)
    confidence = np.sqrt(left.scores[index_l] * score_r).astype(np.float32, copy=False)
    searched = np.arange(n) >= li.size
    searched &= valid
    if searched.any():  # the disparity's sigma: var(Z) = (Z^2 / fx B)^2 var(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma_d = np.sqrt(covariance[:, 2, 2]) * (camera.fx * camera.baseline) / xyz[:, 2] ** 2
        duplicate = search_duplicates(_boxes(left)[index_l], disparity.astype(np.float64),
                                      sigma_d.astype(np.float64), searched, valid, config)
        valid &= ~duplicate
        counts["duplicate"] = int(duplicate.sum())
    else:
        counts["duplicate"] = 0
    counts["found_by_search"] = int(valid[li.size:].sum())
    keep = valid if not valid.all() else slice(None)
    cones = Cones(xyz=xyz[keep], class_ids=left.class_ids[index_l][keep],
                  confidence=confidence[keep], disparity=disparity[keep], refined=refined[keep],
                  depth_sigma=np.sqrt(covariance[keep][:, 2, 2]), covariance=covariance[keep],
                  left_index=index_l[keep], right_index=index_r[keep], depth=xyz[keep][:, 2].copy(),
                  source=source[keep], row_offset=row_offset[keep], peak=peak[keep],
                  size_disparity=prior.size_disparity[index_l][keep].astype(np.float32),
                  overlap=overlap[keep], spread=spread[keep], ambiguity=ambiguity[keep],
                  blockiness=blockiness[keep], consistency=consistency[keep],
                  counts=counts)
    counts["border_cut"] = int((cones.source == stereo_kernel.BORDER_CUT).sum())
    return cones
