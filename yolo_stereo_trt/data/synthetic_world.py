"""The synthetic world's shared parts: cone styles and sizes, the scene record, the camera,
the track layout and the world textures. Both renderers build on it: data/synthetic.py (the
plain world) and data/synthetic_randomize.py (the randomized one); it imports neither."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial import cKDTree

from ..core.classes import FSOCO_NAMES, cone_size, type_of_name
from ..core.stereo import StereoCamera

# The synthetic world's class ids are FSOCO_NAMES' order (its data.yaml says so).
# Rendering detail: BGR body colour, stripe colour per class id
CONE_STYLES = {
    0: ((190, 64, 13), (245, 245, 245)),   # blue, white stripe
    1: ((25, 217, 242), (20, 20, 20)),     # yellow, black stripe
    2: ((13, 115, 255), (245, 245, 245)),  # small orange, white stripes
    3: ((10, 100, 235), (245, 245, 245)),  # large orange
    4: ((120, 150, 110), (90, 90, 90)),    # unknown colour (redrawn per cone)
}
# (base width, height) in metres per class id: from the one cone-type table, by name
CONE_SIZES = {i: cone_size(type_of_name(name) or "unknown") for i, name in enumerate(FSOCO_NAMES)}
# stripes as (from, to) fractions of the height
STRIPES = {0: ((0.45, 0.62),), 1: ((0.45, 0.62),), 2: ((0.38, 0.5), (0.62, 0.72)),
           3: ((0.35, 0.47), (0.6, 0.72)), 4: ((0.45, 0.62),)}
CAMERA_HEIGHT = 0.9  # metres above the ground
BASE_PLATE = 0.03  # height of the black base plate (m)
TOP_RATIO = 0.18  # top radius / bottom radius of the frustum
_SS = 4  # supersampling of cone silhouettes


@dataclass
class StereoScene:
    left: np.ndarray
    right: np.ndarray
    camera: StereoCamera
    xyz: np.ndarray  # (n,3) cone axis at half height, left optical frame (x right, y down, z fwd)
    class_ids: np.ndarray
    boxes_left: np.ndarray  # (n,4) xyxy of the whole cone, clipped to the image
    boxes_right: np.ndarray
    visible_left: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    visible_right: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    visibility: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    row_offset: float = 0.0  # rectification residual of the right view (px, down)
    # the rig's pose over the ground (randomized worlds vary it): height (m) and the world ->
    # left optical frame rotation (pitch, roll); world y is down, the ground is y = height
    camera_height: float = CAMERA_HEIGHT
    camera_rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def labels(self, view: int, min_visible: float = 0.25, min_size: float = 2.0
               ) -> tuple[np.ndarray, np.ndarray]:
        """(class ids, visible-part boxes) of the cones a detector should find in a view."""
        boxes = (self.visible_left, self.visible_right)[view]
        size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = (self.visibility[:, view] >= min_visible) & (size >= min_size)
        return self.class_ids[keep], boxes[keep]


def default_camera(width: int = 1280, height: int = 720, baseline: float = 0.12,
                   hfov_deg: float = 90.0) -> StereoCamera:
    fx = float(width / 2 / np.tan(np.radians(hfov_deg) / 2))
    return StereoCamera(fx, fx, width / 2 - 0.5, height / 2 - 0.5, baseline, width, height)


def projection_matrices(camera: StereoCamera) -> tuple[list[float], list[float]]:
    """Row-major 3x4 P of the left and right camera, as camera_info carries them."""
    k = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    right = list(k)
    right[2] = camera.cx - camera.doffs  # per-eye principal points (0 offset when rectified
    right[3] = -camera.fx * camera.baseline  # with zero disparity, as the renderer does)
    return k, right


# --- the track ---------------------------------------------------------------------------

def _centreline(rng: np.random.Generator, length: float) -> np.ndarray:
    """(m,2) points (x, z) every 0.25 m of a straight, a curve or an S seen from the car."""
    s = np.arange(-4.0, length, 0.25)
    kind = rng.choice(["straight", "curve", "s"], p=[0.3, 0.45, 0.25])
    radius = rng.uniform(9.0, 35.0) * rng.choice([-1, 1])
    start = rng.uniform(0.0, 8.0)
    curvature = np.zeros_like(s)
    if kind != "straight":
        curvature[s > start] = 1.0 / radius
    if kind == "s":
        curvature[s > start + rng.uniform(8.0, 16.0)] *= -1
    heading = np.cumsum(curvature) * 0.25 + rng.normal(0, 0.06)  # the car is not exactly aligned
    points = np.cumsum(np.stack([np.sin(heading), np.cos(heading)], 1) * 0.25, 0)
    points += [rng.uniform(-0.6, 0.6), -4.0 - points[16, 1]]  # s = 0 at the car (z = 0)
    return points


def track_cones(rng: np.random.Generator, max_range: float = 30.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cones along a track section: blue on the left, yellow on the right, a start area with
    large orange cones sometimes, a few orange and unknown ones. Returns (xz (n,2), class ids,
    centreline)."""
    line = _centreline(rng, max_range * 1.6)
    tangent = np.gradient(line, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal_left = np.stack([-tangent[:, 1], tangent[:, 0]], 1)  # x right, z forward: left is -x
    spacing = rng.uniform(2.5, 5.0)
    half_width = rng.uniform(1.5, 2.0)
    idx = np.arange(int(rng.uniform(2, 6) / 0.25), len(line), int(spacing / 0.25))
    xz, cls = [], []
    for side, class_id in ((1.0, 0), (-1.0, 1)):
        pts = line[idx] + side * half_width * normal_left[idx]
        pts += rng.normal(0, 0.05, pts.shape)  # cones are placed by hand
        xz.append(pts)
        cls.append(np.full(len(pts), class_id))
    xz, cls = np.concatenate(xz), np.concatenate(cls)
    if rng.uniform() < 0.35:  # start/finish area: pairs of large orange cones across the track
        k = idx[rng.integers(0, min(4, len(idx)))]
        for offset in (-0.6, 0.6):
            j = min(len(line) - 1, k + int(offset / 0.25))
            for side in (1.0, -1.0):
                xz = np.vstack([xz, line[j] + side * (half_width + 0.3) * normal_left[j]])
                cls = np.append(cls, 3)
    n_extra = rng.integers(0, 4)  # loose small orange / unknown cones beside the track
    for _ in range(n_extra):
        j = rng.integers(8, len(line))
        side = rng.choice([-1.0, 1.0])
        xz = np.vstack([xz, line[j] + side * rng.uniform(half_width + 0.5, half_width + 4.0)
                        * normal_left[j]])
        cls = np.append(cls, rng.choice([2, 4], p=[0.6, 0.4]))
    keep = (xz[:, 1] > 1.8) & (xz[:, 1] < max_range)
    # no two cones within 40 cm of each other (the start area may collide with the track)
    xz, cls = xz[keep], cls[keep]
    if len(xz) > 1:
        close = cKDTree(xz).query_pairs(0.4, output_type="ndarray")
        xz, cls = np.delete(xz, close[:, 1], 0), np.delete(cls, close[:, 1])
    return xz, cls.astype(np.int64), line


# --- textures ----------------------------------------------------------------------------

def _noise(rng: np.random.Generator, size: int, scales: tuple[float, ...]) -> np.ndarray:
    """Multi-octave smooth noise in [-1, 1], tileable (filtered in the frequency domain)."""
    f = np.fft.fftfreq(size)
    f2 = f[:, None] ** 2 + f[None, :] ** 2
    out = np.zeros((size, size), np.float32)
    for i, sigma in enumerate(scales):
        spectrum = np.fft.fft2(rng.normal(0, 1, (size, size))) * np.exp(-2 * (np.pi * sigma) ** 2 * f2)
        layer = np.fft.ifft2(spectrum).real.astype(np.float32)
        out += layer / (layer.std() + 1e-6) / (i + 1)
    return np.clip(out / 2.0, -1, 1)


@dataclass
class _World:
    asphalt: np.ndarray  # (T,T,3) float32 BGR, 2 cm per texel
    grass: np.ndarray
    line_tree: cKDTree
    half_width: float
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    clouds: np.ndarray
    trees: np.ndarray  # (H_tree, W_tree, 3) band
    tree_depth: float
    sun_azimuth: float  # radians, world (0 = along +z, positive towards +x)
    sun_elevation: float


def _make_world(rng: np.random.Generator, line: np.ndarray, half_width: float) -> _World:
    n = _noise(rng, 512, (1.0, 4.0, 16.0))
    grey = rng.uniform(85, 125)
    asphalt = grey + 14 * n[..., None] + np.array([0, 2, 4], np.float32) * rng.uniform(-1, 1)
    g = _noise(rng, 512, (1.5, 6.0, 24.0))
    grass = np.array([60, 125, 85], np.float32) * rng.uniform(0.7, 1.1) + 25 * g[..., None]
    clouds = _noise(rng, 256, (8.0, 24.0))
    tree_noise = _noise(rng, 512, (2.0, 8.0))
    trees = (np.array([45, 80, 50], np.float32) * rng.uniform(0.6, 1.2)
             + 25 * tree_noise[..., None])
    return _World(asphalt.astype(np.float32), grass.astype(np.float32), cKDTree(line),
                  half_width, np.array([200, 150, 110], np.float32) * rng.uniform(0.9, 1.15),
                  np.array([235, 225, 215], np.float32) * rng.uniform(0.9, 1.05), clouds,
                  trees.astype(np.float32), rng.uniform(40.0, 90.0),
                  rng.uniform(-np.pi, np.pi), rng.uniform(np.radians(20), np.radians(65)))



def _unknown_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    hue = rng.uniform(0, 180)
    body = cv2.cvtColor(np.uint8([[[hue, rng.uniform(20, 90), rng.uniform(50, 140)]]]),
                        cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    return body, body * rng.uniform(0.5, 1.4)

