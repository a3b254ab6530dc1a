"""A synthetic stereo world of Formula Student track scenes, with exact ground truth.

One 3D scene per pair, rendered into both views of a rectified pinhole rig, so the disparity of
every point is exactly fx * B / Z. The camera looks along the ground (optical frame: x right,
y down, z forward) at CAMERA_HEIGHT above it; the horizon is row cy.

- Cones are frustums on a dark square base plate at the competition sizes, in the five FSOCO
  classes, each shaded by a sun at a random azimuth/elevation and casting a shadow on the ground.
  Their silhouettes are projected from 3D circles (4x supersampled), far to near, so nearer
  cones occlude farther ones; the visible part of each cone gives its YOLO box.
- The ground is a world texture (asphalt on the track, grass beside it) sampled per pixel at its
  3D position, so it has the right disparity in the right view; a tree line at a finite
  distance, a sky with clouds at infinity.
- Then exposure, white balance, blur, sensor noise, and a rectification residual: the right view
  is rendered with its principal point a few tenths of a pixel lower (camera_info still says
  rectified), so stereo code is not tested on perfect data.

Deterministic by seed. Ground truth per cone: 3D position (axis at half height, left optical
frame), class, its full box in each view and the box of its visible part.
"""
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


def _render_background(world: _World, camera: StereoCamera, cam_x: float, cy: float,
                       rng_tree: np.random.Generator) -> np.ndarray:
    """Sky, tree line and ground for a camera at lateral offset cam_x (right view: +B)."""
    h, w = camera.height, camera.width
    v = np.arange(h, dtype=np.float32)[:, None]  # pixel centres at integer rows
    u = np.arange(w, dtype=np.float32)[None, :]
    t = np.clip(v / max(cy, 1.0), 0, 1)[..., None]
    img = np.broadcast_to((1 - t) * world.sky_top + t * world.sky_horizon, (h, w, 3)).copy()
    cloud = cv2.resize(world.clouds, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    img += np.clip(cloud, 0, 1) * 40 * (1 - t)
    # tree line at a finite depth: shifted in the right view by its disparity
    shift = camera.fx * cam_x / world.tree_depth
    tu = ((u - shift) * 0.5) % world.trees.shape[1]
    top = cy - camera.fy * rng_tree.uniform(4.0, 9.0) / world.tree_depth
    ridge = top + 8 * np.sin(tu / 37.0) + 5 * np.sin(tu / 11.0 + 1.0)
    tree_mask = (v >= ridge) & (v < cy + 1)
    tv = np.broadcast_to((v * 0.5) % world.trees.shape[0], (h, w))
    trees = cv2.remap(world.trees, np.broadcast_to(tu, (h, w)).astype(np.float32),
                      tv.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    img = np.where(tree_mask[..., None], trees, img)
    # ground: every row below the horizon at its depth, every pixel at its world (x, z)
    rows = np.arange(h)
    ground_rows = rows[rows > cy + 0.5]
    vv = ground_rows.astype(np.float32)[:, None]
    z = camera.fy * CAMERA_HEIGHT / (vv - cy)
    x = (u - camera.cx) * z / camera.fx + cam_x
    z = np.broadcast_to(z, x.shape)
    tex = world.asphalt.shape[0]
    mx = (x / 0.02) % tex
    mz = (z / 0.02) % tex
    asphalt = cv2.remap(world.asphalt, mx.astype(np.float32), mz.astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    grass = cv2.remap(world.grass, mx.astype(np.float32), mz.astype(np.float32),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    # distance to the centreline on a coarse grid (the verge is smooth), then upsampled
    xs, zs = x[::4, ::4], z[::4, ::4]
    dist, _ = world.line_tree.query(np.stack([xs.ravel(), zs.ravel()], 1),
                                    distance_upper_bound=world.half_width + 3.0)
    dist = np.minimum(dist.reshape(xs.shape), 100.0).astype(np.float32)
    dist = cv2.resize(dist, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_LINEAR)
    verge = np.clip((dist - world.half_width - 1.0) / 0.3, 0, 1)[..., None]
    ground = (1 - verge) * asphalt + verge * grass
    haze = np.clip(z / 120.0, 0, 0.7)[..., None]
    img[ground_rows] = (1 - haze) * ground + haze * world.sky_horizon
    return img


# --- cones -------------------------------------------------------------------------------

def _circle(x: float, z: float, radius: float, y: float, n: int = 24) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([x + radius * np.cos(a), np.full(n, y), z + radius * np.sin(a)], 1)


def _square(x: float, z: float, half: float, y: float) -> np.ndarray:
    return np.array([[x - half, y, z - half], [x + half, y, z - half], [x + half, y, z + half],
                     [x - half, y, z + half]])


def _project(points: np.ndarray, camera: StereoCamera, cam_x: float, cy: float) -> np.ndarray:
    z = np.maximum(points[:, 2], 1e-3)
    return np.stack([camera.cx + camera.fx * (points[:, 0] - cam_x) / z,
                     cy + camera.fy * points[:, 1] / z], 1)


def _cone_layers(x: float, z: float, class_id: int, camera: StereoCamera, cam_x: float, cy: float
                 ) -> list[tuple[np.ndarray, str]]:
    """Convex 2D polygons (image px) of a cone, back to front: base plate, body, stripes."""
    width, height = CONE_SIZES[class_id]
    r0 = width * 0.42
    r1 = r0 * TOP_RATIO
    ground = CAMERA_HEIGHT

    def band(lo: float, hi: float) -> np.ndarray:
        h_lo = BASE_PLATE + (height - BASE_PLATE) * lo
        h_hi = BASE_PLATE + (height - BASE_PLATE) * hi
        r_lo = r0 + (r1 - r0) * lo
        r_hi = r0 + (r1 - r0) * hi
        pts = np.vstack([_circle(x, z, r_lo, ground - h_lo), _circle(x, z, r_hi, ground - h_hi)])
        return cv2.convexHull(_project(pts, camera, cam_x, cy).astype(np.float32))[:, 0]

    plate = np.vstack([_square(x, z, width / 2, ground), _square(x, z, width / 2,
                                                                  ground - BASE_PLATE)])
    layers = [(cv2.convexHull(_project(plate, camera, cam_x, cy).astype(np.float32))[:, 0],
               "plate"), (band(0.0, 1.0), "body")]
    layers += [(band(lo, hi), "stripe") for lo, hi in STRIPES[class_id]]
    return layers


def _draw_cone(img: np.ndarray, ids: np.ndarray, index: int, x: float, z: float, class_id: int,
               colours: dict[str, np.ndarray], camera: StereoCamera, cam_x: float, cy: float,
               sun_azimuth: float) -> tuple[np.ndarray, int]:
    """Composite one cone (4x supersampled, shaded) into img; mark its pixels in ids.
    Returns its full box (xyxy, unclipped) and its pixel count if nothing occluded it."""
    layers = _cone_layers(x, z, class_id, camera, cam_x, cy)
    allpts = np.vstack([p for p, _ in layers])
    x0, y0 = np.floor(allpts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(allpts.max(0)).astype(int) + 1
    box = np.array([*allpts.min(0), *allpts.max(0)], np.float32)
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, camera.width), min(y1, camera.height)
    if cx1 <= cx0 or cy1 <= cy0:
        return box, 0
    pw, ph = (cx1 - cx0) * _SS, (cy1 - cy0) * _SS
    colour = np.zeros((ph, pw, 3), np.float32)
    alpha = np.zeros((ph, pw), np.float32)
    for pts, kind in layers:
        mask = np.zeros((ph, pw), np.uint8)
        local = (pts - [cx0, cy0]) * _SS
        cv2.fillPoly(mask, [np.round(local * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        m = mask.astype(bool)
        colour[m] = colours[kind]
        alpha[m] = 1.0
    # Lambert shading by the horizontal angle of the surface normal at each pixel
    us = (np.arange(pw, dtype=np.float32) + 0.5) / _SS + cx0 - 0.5
    axis_u = camera.cx + camera.fx * (x - cam_x) / z
    vs = (np.arange(ph, dtype=np.float32) + 0.5) / _SS + cy0 - 0.5
    h_at_v = np.clip(CAMERA_HEIGHT - (vs - cy) * z / camera.fy, 0, None)
    width, height = CONE_SIZES[class_id]
    r0 = width * 0.42
    radius = np.clip(r0 + (r0 * TOP_RATIO - r0) * h_at_v / height, r0 * TOP_RATIO, r0)
    s = np.clip((us[None, :] - axis_u) / (radius[:, None] * camera.fx / z), -1, 1)
    normal_azimuth = np.arcsin(s) + np.arctan2(x - cam_x, z) + np.pi  # facing the camera
    shade = 0.55 + 0.6 * np.maximum(0, np.cos(normal_azimuth - sun_azimuth))
    colour *= shade[..., None]
    a = cv2.resize(alpha, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_AREA)
    c = cv2.resize(colour, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_AREA)
    region = img[cy0:cy1, cx0:cx1]
    region[:] = region * (1 - a[..., None]) + c
    ids[cy0:cy1, cx0:cx1][a > 0.5] = index
    return box, int((a > 0.5).sum())


def _draw_shadows(img: np.ndarray, xz: np.ndarray, classes: np.ndarray, camera: StereoCamera,
                  cam_x: float, cy: float, world: _World) -> None:
    """Darken the ground where the cones' shadows fall (one mask for all cones)."""
    mask = np.zeros(img.shape[:2], np.uint8)
    for (x, z), class_id in zip(xz, classes):
        width, height = CONE_SIZES[int(class_id)]
        length = height / np.tan(world.sun_elevation)
        tip = np.array([[x - np.sin(world.sun_azimuth) * length, CAMERA_HEIGHT,
                         z - np.cos(world.sun_azimuth) * length]])
        pts = np.vstack([_circle(x, z, width * 0.42, CAMERA_HEIGHT, 12), tip])
        if pts[:, 2].min() < 0.5:
            continue
        hull = cv2.convexHull(_project(pts, camera, cam_x, cy).astype(np.float32))[:, 0]
        cv2.fillPoly(mask, [np.round(hull * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    ys, xs = np.nonzero(mask)
    if len(ys):
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        img[y0:y1, x0:x1] *= 1 - 0.45 * (mask[y0:y1, x0:x1, None].astype(np.float32) / 255)


def _unknown_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    hue = rng.uniform(0, 180)
    body = cv2.cvtColor(np.uint8([[[hue, rng.uniform(20, 90), rng.uniform(50, 140)]]]),
                        cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    return body, body * rng.uniform(0.5, 1.4)


def render_pair(seed: int, camera: StereoCamera | None = None, noise: float | None = None,
                max_range: float = 30.0, row_offset: float | None = None,
                randomize=None) -> StereoScene:
    """Render one rectified stereo pair of a track section, deterministically by seed.

    ``randomize`` (a data.synthetic_randomize.Randomize, or True for all switches at full
    strength) renders the randomized world of issue 14 instead; None / False (the default) is
    the plain world, unchanged."""
    if randomize:
        from .synthetic_randomize import Randomize, render_randomized
        opts = randomize if isinstance(randomize, Randomize) else Randomize()
        return render_randomized(seed, camera, noise, max_range, row_offset, opts)
    rng = np.random.default_rng(seed)
    camera = camera or default_camera()
    xz, classes, line = track_cones(rng, max_range)
    half_width = float(np.median(np.abs(xz[classes < 2, 0] - np.interp(
        xz[classes < 2, 1], line[:, 1], line[:, 0])))) if (classes < 2).any() else 1.75
    world = _make_world(rng, line, half_width)
    if row_offset is None:
        row_offset = float(rng.uniform(-0.3, 0.3))
    gain = rng.uniform(0.65, 1.3)
    white = rng.uniform(0.92, 1.08, 3)
    blur = rng.uniform(0.0, 1.0)
    sigma = rng.uniform(1.0, 5.0) if noise is None else noise
    per_cone = {}
    for i, c in enumerate(classes):
        body, stripe = (np.float32(CONE_STYLES[int(c)][0]), np.float32(CONE_STYLES[int(c)][1]))
        if c == 4:
            body, stripe = _unknown_colours(rng)
        tint = rng.uniform(0.85, 1.1)  # dirt, fading
        per_cone[i] = {"plate": np.float32([25, 25, 28]), "body": body * tint,
                       "stripe": stripe * tint}
    tree_seed = int(rng.integers(1 << 31))
    n = len(classes)
    boxes = np.zeros((2, n, 4), np.float32)
    visible = np.zeros((2, n, 4), np.float32)
    visibility = np.zeros((n, 2), np.float32)
    images = []
    order = np.argsort(-xz[:, 1])  # far to near
    for view, (cam_x, cy) in enumerate(((0.0, camera.cy), (camera.baseline,
                                                           camera.cy + row_offset))):
        img = _render_background(world, camera, cam_x, cy, np.random.default_rng(tree_seed))
        _draw_shadows(img, xz, classes, camera, cam_x, cy, world)
        ids = np.full((camera.height, camera.width), -1, np.int32)
        full_pixels = np.zeros(n)
        for i in order:
            boxes[view, i], full_pixels[i] = _draw_cone(
                img, ids, int(i), xz[i, 0], xz[i, 1], int(classes[i]), per_cone[int(i)], camera,
                cam_x, cy, world.sun_azimuth)
        for i in range(n):  # the visible part of each cone after occlusion
            b = boxes[view, i]
            x0, y0 = max(int(np.floor(b[0])), 0), max(int(np.floor(b[1])), 0)
            x1 = min(int(np.ceil(b[2])) + 1, camera.width)
            y1 = min(int(np.ceil(b[3])) + 1, camera.height)
            ys, xs = np.nonzero(ids[y0:y1, x0:x1] == i) if x1 > x0 and y1 > y0 else ((), ())
            if len(xs):
                visible[view, i] = [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1,
                                    y0 + ys.max() + 1]
                visibility[i, view] = len(xs) / max(full_pixels[i], 1)
            # the whole cone as the camera would see it with nothing in front, clipped
            w = (b[2] - b[0]) * (b[3] - b[1])
            inside = (min(b[2], camera.width) - max(b[0], 0)) * (min(b[3], camera.height) -
                                                                  max(b[1], 0))
            if w > 0 and visibility[i, view] > 0:
                visibility[i, view] *= max(inside, 0) / w
        img = img * gain * white
        if blur > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), blur)
        img += rng.normal(0, sigma, img.shape).astype(np.float32)
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, camera.width)
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, camera.height)
    heights = np.array([CONE_SIZES[int(c)][1] for c in classes])
    xyz = np.stack([xz[:, 0], CAMERA_HEIGHT - heights / 2, xz[:, 1]], 1).astype(np.float32)
    return StereoScene(images[0], images[1], camera, xyz, classes, boxes[0], boxes[1],
                       visible[0], visible[1], visibility, row_offset)
