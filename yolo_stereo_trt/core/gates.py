"""Plausibility gates for located cones, and the self-mask for the car's own bodywork.

- Ground gate (needs a known camera pose): a cone stands on the ground. The published point is
  the cone's axis at half height, so its base is that point minus half the class's real height
  along the output frame's z; a base more than ``max_ground_offset`` above or below the ground
  plane z = 0 of the output frame is not a cone (a lamp head, a sign, a reflection).
- Size gate: a cone of real height H at stereo depth Z spans about fy * H / Z pixels; a left box
  whose height differs from that by more than a factor ``max_size_ratio`` either way, and by more
  than ``size_slack_px`` beyond it, is not that cone at that range (a false match, bodywork close
  to the lens). The slack is the detector's box precision: on cones under ~15 px (beyond ~25 m at
  fy 640) its boxes are 4-6 px taller than the cone, twice the height of a far cone at worst.
  Measured on the fit seeds (600000-600059, the shipped model, 994 correctly located cones): no
  slack rejects 41 of them, all beyond 22 m; 3 px rejects 2. A box cut by the top or bottom
  image border only gives a lower bound on the cone's height: it is only rejected as too big.
- Self-mask: detections whose box centre lies in an ignored area (a PNG of the left image size,
  white = ignore, e.g. the car's nose and wheels, and/or every row from ``ignore_below_row``
  down) are dropped before stereo matching.

Everything is vectorized over the cones; the gates return keep masks and per-reason counts (a
cone failing both gates is counted under both). The real heights per cone come from the class
table (the caller looks them up by class name).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .frames import RigidTransform
from .paths import resolve_package_path


class GateConfigError(ValueError):
    """Gate thresholds that cannot be used."""


class MaskError(ValueError):
    """A self-mask that cannot be used (missing file, unreadable, wrong size)."""


@dataclass(frozen=True)
class GateConfig:
    max_ground_offset: float = 0.25  # metres; math.inf = ground gate off
    max_size_ratio: float = 1.6  # > 1; math.inf = size gate off
    # radians: the tolerance grows by tan(slope) per metre of ground range, for the pitch the car
    # takes under braking and acceleration and for ground that is not quite flat (0 = fixed)
    max_ground_slope: float = 0.0
    size_slack_px: float = 3.0  # box-height pixels allowed beyond max_size_ratio either way

    def __post_init__(self) -> None:
        if not self.max_ground_offset > 0:  # also refuses NaN
            raise GateConfigError(f"max_ground_offset must be > 0 m, got {self.max_ground_offset}")
        if not 0 <= self.max_ground_slope < math.pi / 4:
            raise GateConfigError(f"max_ground_slope must lie in [0, 0.785) rad, got "
                                  f"{self.max_ground_slope}")
        if not self.max_size_ratio > 1:
            raise GateConfigError(f"max_size_ratio must be > 1, got {self.max_size_ratio}")
        if not self.size_slack_px >= 0:
            raise GateConfigError(f"size_slack_px must be >= 0, got {self.size_slack_px}")


@dataclass
class GateResult:
    """Per cone: keep (passes every gate that ran), each gate's verdict and its measure."""

    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    ground_ok: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    size_ok: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    base_height: np.ndarray = field(default_factory=lambda: np.zeros(0))  # m; NaN: no pose
    size_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))  # box / expected height

    @property
    def rejected_ground(self) -> int:
        return int((~self.ground_ok).sum())

    @property
    def rejected_size(self) -> int:
        return int((~self.size_ok).sum())

    def counts(self) -> dict[str, int]:
        return {"rejected_ground": self.rejected_ground, "rejected_size": self.rejected_size}

    def reasons(self) -> list[str]:
        """Per cone: '' when kept, else 'ground' / 'size' / 'ground+size' (reports, logs)."""
        g = np.where(self.ground_ok, "", "ground").astype(object)
        s = np.where(self.size_ok, "", "size").astype(object)
        return [("+".join(p for p in (a, b) if p)) for a, b in zip(g, s)]


def ground_gate(xyz_out: np.ndarray, heights: np.ndarray, max_ground_offset: float,
                max_ground_slope: float = 0.0, origin_xy: tuple[float, float] = (0.0, 0.0)
                ) -> tuple[np.ndarray, np.ndarray]:
    """Cone centres (n,3) in the output frame (ground plane z = 0) and real heights (n,) ->
    (keep (n,), base height above the ground (n,)). The tolerance is max_ground_offset plus
    tan(max_ground_slope) times the horizontal distance from ``origin_xy`` (the camera)."""
    p = np.asarray(xyz_out, np.float64)
    base = p[:, 2] - 0.5 * np.asarray(heights, np.float64)
    tolerance = max_ground_offset + math.tan(max_ground_slope) * np.hypot(
        p[:, 0] - origin_xy[0], p[:, 1] - origin_xy[1])
    return np.abs(base) <= tolerance, base


def size_gate(boxes: np.ndarray, depth: np.ndarray, heights: np.ndarray, fy: float,
              max_size_ratio: float, image_height: int | None = None, slack_px: float = 0.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Left boxes (n,4) xyxy px, stereo depths (n,) m (optical z), real heights (n,) m ->
    (keep (n,), ratio of the box height to fy * H / Z (n,)). A box is kept when its height lies
    within [expected / max_size_ratio - slack_px, expected x max_size_ratio + slack_px]. With
    ``image_height``, a box that touches the top or bottom border is cut: only rejected when too
    big."""
    b = np.asarray(boxes, np.float64)
    z = np.asarray(depth, np.float64)
    expected = fy * np.asarray(heights, np.float64) / np.maximum(z, 1e-6)
    height = b[:, 3] - b[:, 1]
    ratio = np.maximum(height, 1e-6) / np.maximum(expected, 1e-6)
    too_small = height < expected / max_size_ratio - slack_px
    if image_height is not None:
        too_small &= ~((b[:, 1] <= 1.0) | (b[:, 3] >= image_height - 1.0))
    return ~(too_small | (height > expected * max_size_ratio + slack_px)), ratio


def apply_gates(xyz_optical: np.ndarray, boxes: np.ndarray, heights: np.ndarray, fy: float,
                transform: RigidTransform | None = None, config: GateConfig = GateConfig(),
                image_height: int | None = None) -> GateResult:
    """Both gates over n located cones.

    xyz_optical: (n,3) cone centres in the left optical frame (``Cones.xyz``; z is the stereo
    depth); boxes: (n,4) their left boxes (``left.boxes[cones.left_index]``); heights: (n,) real
    cone heights (m); fy: the rectified focal length (px); transform: optical frame -> a frame
    whose z = 0 is the ground (``output_frame``), or None when the pose is not known (the ground
    gate then passes everything); image_height: the left image's rows (cut boxes).
    """
    p = np.asarray(xyz_optical, np.float64).reshape(-1, 3)
    h = np.asarray(heights, np.float64)
    n = len(p)
    if transform is None:
        ground_ok, base = np.ones(n, bool), np.full(n, np.nan)
    elif math.isinf(config.max_ground_offset):
        ground_ok, base = np.ones(n, bool), transform.apply(p)[:, 2] - 0.5 * h
    else:
        ground_ok, base = ground_gate(transform.apply(p), h, config.max_ground_offset,
                                      config.max_ground_slope, (transform.t[0], transform.t[1]))
    size_ok, ratio = size_gate(boxes, p[:, 2], h, fy, config.max_size_ratio, image_height,
                               config.size_slack_px)
    return GateResult(ground_ok & size_ok, ground_ok, size_ok, base, ratio)


class SelfMask:
    """Ignored image area: ``ignore`` (H,W) bool (True = ignore) and/or every row from
    ``below_row`` down. ``keep(boxes)`` tests each box centre."""

    def __init__(self, ignore: np.ndarray | None = None, below_row: int | None = None,
                 source: str = "") -> None:
        self.ignore = None if ignore is None else np.ascontiguousarray(ignore, dtype=bool)
        if self.ignore is not None and self.ignore.ndim != 2:
            raise MaskError(f"ignore mask must be a 2-D image, got shape {self.ignore.shape}")
        if below_row is not None and below_row < 0:
            raise MaskError(f"ignore_below_row must be >= 0 (or unset), got {below_row}")
        self.below_row = below_row
        self.source = source

    @classmethod
    def from_params(cls, ignore_mask: str = "", ignore_below_row: int | None = None
                    ) -> "SelfMask | None":
        """The parameters -> a SelfMask, or None when neither is set (empty path, row None or
        negative). A relative path resolves like model_path (the package share directory, then
        the source tree, then the working directory: core.paths). Raises MaskError with a
        one-line reason."""
        row = None if ignore_below_row is None or ignore_below_row < 0 else int(ignore_below_row)
        if not ignore_mask and row is None:
            return None
        ignore = None
        source = ""
        if ignore_mask:
            path = resolve_package_path(ignore_mask)
            if not path.is_file():
                raise MaskError(f"ignore_mask {ignore_mask!r}: no such file (relative paths "
                                f"resolve against the package share directory)")
            ignore = load_mask_png(path)
            source = str(path)
        return cls(ignore, row, source)

    def validate(self, width: int, height: int) -> None:
        """The left image size: a mask of another size, or a row outside the image, is a
        configuration for another camera mode -> MaskError."""
        if self.ignore is not None and self.ignore.shape != (height, width):
            h, w = self.ignore.shape
            raise MaskError(f"ignore_mask {self.source or ''} is {w}x{h}, the left image is "
                            f"{width}x{height}: make it the left image's size")
        if self.below_row is not None and self.below_row >= height:
            raise MaskError(f"ignore_below_row {self.below_row} is outside the {height}-row "
                            f"left image")

    def keep(self, boxes: np.ndarray) -> np.ndarray:
        """(n,4) xyxy boxes in left image pixels -> (n,) True where the box centre is not
        ignored. Centres outside the image are clamped to its border."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        u = (b[:, 0] + b[:, 2]) * 0.5
        v = (b[:, 1] + b[:, 3]) * 0.5
        keep = np.ones(len(b), bool)
        if self.below_row is not None:
            keep &= v < self.below_row
        if self.ignore is not None and len(b):
            h, w = self.ignore.shape
            col = np.clip(np.floor(u), 0, w - 1).astype(np.intp)
            row = np.clip(np.floor(v), 0, h - 1).astype(np.intp)
            keep &= ~self.ignore[row, col]
        return keep


def load_mask_png(path: str | Path) -> np.ndarray:
    """A mask image -> (H,W) bool, True where white (grey level > 127; colour images by their
    grey level, an alpha channel ignored). MaskError when unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MaskError(f"ignore_mask {path}: not a readable image")
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)
    if image.dtype == np.uint16:  # 16-bit PNGs: the same threshold on their scale
        return image > 32767
    return image > 127
