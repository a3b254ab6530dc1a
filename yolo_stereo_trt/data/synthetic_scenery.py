"""Scenery of the randomized synthetic world: a posed camera, ground materials, track-side
clutter and the car's own bodywork, all as 3D geometry.

World frame: x right, y down, z forward, origin at the left camera's centre, the ground the plane
y = height. The rig is rotated by pitch and roll (camera frame = R @ world); the right eye sits at
x = baseline in the camera frame. Every object is a list of convex 3D parts projected into each
view through the same pose, so it lands at its true disparity in both views. A part whose
coverage of a pixel is >= 0.5 marks that pixel as occluded (ids = -2), exactly like a nearer cone
does, so the visible-part boxes of the cones stay exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from ..core.stereo import StereoCamera
from .synthetic_world import CONE_STYLES

OCCLUDER = -2  # ids value of pixels covered by scenery


def rotation(pitch: float, roll: float) -> np.ndarray:
    """World -> camera rotation: pitch (rad, positive looks down), then roll about the axis."""
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx


@dataclass
class View:
    camera: StereoCamera
    rot: np.ndarray  # (3,3) world -> camera
    eye: float  # this eye's x in the camera frame (0 left, baseline right)
    cy: float  # this eye's principal row (the right one carries the rectification residual)
    height: float  # camera height above the ground (m)

    def to_camera(self, pts: np.ndarray) -> np.ndarray:
        return pts @ self.rot.T

    def uv(self, pc: np.ndarray) -> np.ndarray:
        """Camera-frame points -> pixels of this eye."""
        z = np.maximum(pc[:, 2], 1e-3)
        c = self.camera
        return np.stack([c.cx + c.fx * (pc[:, 0] - self.eye) / z, self.cy + c.fy * pc[:, 1] / z], 1)


# --- ground ------------------------------------------------------------------------------

@dataclass
class Ground:
    track: np.ndarray  # (T,T,3) float32, 2 cm per texel
    verge: np.ndarray
    detail: np.ndarray  # (T,T) float32 fine texture, 5 mm per texel (sharp near the camera)
    detail_track: float  # its amplitude on each surface
    detail_verge: float
    joints: float  # concrete slab size (m), 0: none
    wet: float  # rain-dark asphalt: sky reflection strength
    puddles: np.ndarray  # (T,T) float32


def _material(rng: np.random.Generator, kind: str, n: np.ndarray) -> tuple[np.ndarray, float]:
    """A 512x512 texture at 2 cm per texel from noise n, and the amplitude of its fine detail."""
    if kind == "asphalt":
        grey = rng.uniform(60, 130)
        tex = grey + 14 * n[..., None] + np.float32([0, 2, 4]) * rng.uniform(-1, 1)
        return tex, rng.uniform(10, 25)
    if kind == "concrete":
        grey = rng.uniform(135, 190)
        tex = grey + 10 * n[..., None] + np.float32([-4, 0, 4]) * rng.uniform(0, 1.5)
        return tex, rng.uniform(5, 12)
    if kind == "gravel":
        base = np.float32([110, 125, 135]) * rng.uniform(0.7, 1.15)
        return base + 22 * n[..., None], rng.uniform(35, 60)
    if kind == "dry_grass":
        return np.float32([70, 150, 165]) * rng.uniform(0.7, 1.05) + 25 * n[..., None], \
            rng.uniform(20, 35)
    # grass
    return np.float32([60, 125, 85]) * rng.uniform(0.6, 1.15) + 25 * n[..., None], \
        rng.uniform(18, 35)


def make_ground(rng: np.random.Generator, strength: float, world) -> Ground:
    """Materials for the track and beside it; their noise is the world's asphalt and grass
    noise (no extra FFTs), the fine detail blurred white noise."""
    n_track = (world.asphalt[..., 0] - world.asphalt[..., 0].mean()) / 14.0
    n_verge = (world.grass[..., 1] - world.grass[..., 1].mean()) / 25.0
    if rng.uniform() < 0.5:
        n_track, n_verge = n_verge.T, n_track.T
    track_kind = rng.choice(["asphalt", "concrete"], p=[0.75, 0.25])
    verge_kind = rng.choice(["grass", "dry_grass", "gravel", "asphalt", "concrete"],
                            p=[0.35, 0.15, 0.25, 0.15, 0.10])
    track, amp_t = _material(rng, str(track_kind), n_track)
    verge, amp_v = _material(rng, str(verge_kind), n_verge)
    wet = 0.0
    if track_kind == "asphalt" and rng.uniform() < 0.3 * strength:  # rain-dark asphalt
        track = track * rng.uniform(0.4, 0.65)
        wet = rng.uniform(0.3, 0.8)
    # fine detail: stones, cracks, blades at 5 mm per texel; heavier tails for gravel
    d = cv2.GaussianBlur(rng.standard_normal((512, 512), dtype=np.float32), (0, 0),
                         float(rng.uniform(0.6, 1.2)))
    d = np.clip(d / (d.std() + 1e-6) / 2.0, -1, 1)
    return Ground(track.astype(np.float32), verge.astype(np.float32), d.astype(np.float32),
                  float(amp_t * strength), float(amp_v * strength),
                  float(rng.uniform(2.0, 4.0)) if track_kind == "concrete" else 0.0,
                  float(wet), world.clouds)


def tiled_maps(mx: np.ndarray, my: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Float texel maps (|values| < 32768) -> OpenCV fixed-point maps wrapped into a size x size
    tile (size a power of two): remap's fast path, no modulo over float arrays."""
    m1, m2 = cv2.convertMaps(mx.astype(np.float32), my.astype(np.float32), cv2.CV_16SC2)
    return np.bitwise_and(m1, np.int16(size - 1)), m2


def remap_tiled(tex: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return cv2.remap(tex, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def render_background(world, ground: Ground, view: View, line_tree: cKDTree,
                      half_width: float, tree_top: float) -> np.ndarray:
    """Sky, tree wall and ground of one eye, every pixel from its ray through the posed camera."""
    c = view.camera
    h, w = c.height, c.width
    rt = view.rot.T.astype(np.float32)  # camera -> world (float32 keeps the arrays float32)
    rx = ((np.arange(w, dtype=np.float32) - c.cx) / c.fx)[None, :]
    ry = ((np.arange(h, dtype=np.float32) - view.cy) / c.fy)[:, None]
    dx = rt[0, 0] * rx + rt[0, 1] * ry + rt[0, 2]
    dy = rt[1, 0] * rx + rt[1, 1] * ry + rt[1, 2]
    dz = rt[2, 0] * rx + rt[2, 1] * ry + rt[2, 2]
    ox, oy, oz = (float(v) for v in rt[:, 0] * view.eye)
    depth = world.tree_depth
    img = np.empty((h, w, 3), np.float32)
    # ground: the plane y = height, in front of the tree wall
    tg = (view.height - oy) / np.where(dy > 1e-5, dy, 1e-5)  # = depth along the optical axis
    gz = oz + tg * dz
    on = (dy > 1e-5) & (gz < depth)
    any_on, all_on = on.any(1), on.all(1)
    r0 = int(np.argmax(any_on)) if any_on.any() else h  # first row with ground
    r1 = int(np.argmax(all_on)) if all_on.any() else h  # first row that is all ground
    if r1 > 0:  # sky and tree wall above r1
        sdx, sdy, sdz = dx[:r1], dy[:r1], dz[:r1]
        el = -sdy / np.sqrt(sdx * sdx + sdy * sdy + sdz * sdz)  # elevation, up positive
        t = np.clip(1 - el / 0.55, 0, 1)[..., None]
        sky = (1 - t) * world.sky_top + t * world.sky_horizon
        up = np.maximum(el, 0.02)
        cloud = remap_tiled(world.clouds, tiled_maps(np.clip(sdx / up * 40, -30000, 30000),
                                                      np.minimum(sdz / up * 40, 30000), 256))
        sky += (np.clip(cloud, 0, 1) * 40)[..., None] * (1 - t)
        # tree wall: a vertical plane at z = D, so it has its true disparity
        tw = (depth - oz) / np.where(sdz > 1e-4, sdz, 1e-4)
        xw, yw = ox + tw * sdx, oy + tw * sdy
        top = -(tree_top + 1.2 * np.sin(xw / 3.1) + 0.7 * np.sin(xw / 1.3 + 1.0))
        tree = (sdz > 1e-4) & (yw >= top) & (yw <= view.height)
        trees = remap_tiled(world.trees, tiled_maps(np.clip(xw / 0.05, -30000, 30000),
                                                    np.clip(yw / 0.05, -30000, 30000), 512))
        img[:r1] = np.where(tree[..., None], trees, sky)
    if r0 >= h:
        return img
    gx, gz, tg, on = ox + tg[r0:] * dx[r0:], gz[r0:], tg[r0:], on[r0:]
    # texel maps need no modulo: BORDER_WRAP tiles (remap keeps |coordinates| < 32768)
    gx = np.where(on, np.clip(gx, -150, 150), 0).astype(np.float32)
    gz = np.where(on, gz, 0).astype(np.float32)
    mx, mz = gx * np.float32(50), gz * np.float32(50)
    maps = tiled_maps(mx, mz, 512)
    track = remap_tiled(ground.track, maps)
    verge = remap_tiled(ground.verge, maps)
    footprint = np.maximum(tg, 0.01) / c.fx  # metres per pixel
    xs, zs = gx[::4, ::4], gz[::4, ::4]
    dist, _ = line_tree.query(np.stack([xs.ravel(), zs.ravel()], 1),
                              distance_upper_bound=half_width + 3.0)
    dist = np.minimum(dist.reshape(xs.shape), 100.0).astype(np.float32)
    dist = cv2.resize(dist, (gx.shape[1], gx.shape[0]), interpolation=cv2.INTER_LINEAR)
    verge_w = np.clip((dist - half_width - 1.0) / 0.3, 0, 1)
    if ground.detail_track or ground.detail_verge:
        detail = remap_tiled(ground.detail, tiled_maps(mx * np.float32(4), mz * np.float32(4),
                                                       512))
        fine = np.clip(0.008 / footprint, 0, 1) * detail  # sharp near, fading with range
        amp = ground.detail_track + (ground.detail_verge - ground.detail_track) * verge_w
        fine3 = (amp * fine)[..., None]
        track += fine3
        verge += fine3
    if ground.joints > 0:
        joint = ((gx % ground.joints) < 0.012) | ((gz % ground.joints) < 0.012)
        track *= np.where(joint & (footprint < 0.012), 0.7, 1.0).astype(np.float32)[..., None]
    if ground.wet > 0:
        puddle = remap_tiled(ground.puddles, tiled_maps(gx * np.float32(10),
                                                        gz * np.float32(10), 256))
        gdx, gdy, gdz = dx[r0:], dy[r0:], dz[r0:]
        down = gdy / np.sqrt(gdx * gdx + gdy * gdy + gdz * gdz)
        f = (ground.wet * np.clip(1 - down / 0.6, 0, 1) ** 2 * np.clip(0.5 + puddle, 0, 1))
        track += f[..., None] * (world.sky_horizon * 0.85 - track)
    surface = track + verge_w[..., None] * (verge - track)
    haze = np.clip(tg / 120.0, 0, 0.7)[..., None]
    surface += haze * (world.sky_horizon - surface)
    img[r0:] = np.where(on[..., None], surface, img[r0:]) if r1 > r0 else surface
    return img


# --- 3D parts ----------------------------------------------------------------------------

@dataclass
class Part:
    pts: np.ndarray  # (k,3) world points; the part is their convex hull
    colour: np.ndarray  # BGR float32
    opacity: float = 1.0


@dataclass
class Item:
    parts: list[Part]
    centre: np.ndarray  # world point used for the far-to-near order


def fill_parts(img: np.ndarray, ids: np.ndarray, parts: list[Part], view: View,
               ss: int = 2) -> None:
    """Composite convex parts (supersampled) into img; mark the pixels they hide in ids."""
    h, w = img.shape[:2]
    for part in parts:
        pc = view.to_camera(part.pts)
        if pc[:, 2].min() < 0.08:
            continue
        hull = cv2.convexHull(view.uv(pc).astype(np.float32))[:, 0]
        x0, y0 = np.floor(hull.min(0)).astype(int) - 1
        x1, y1 = np.ceil(hull.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
        local = (hull - [x0, y0]) * ss
        cv2.fillPoly(mask, [np.round(local * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
        a = cv2.resize(mask.astype(np.float32) / 255, (x1 - x0, y1 - y0),
                       interpolation=cv2.INTER_AREA) * part.opacity
        region = img[y0:y1, x0:x1]
        region[:] = region * (1 - a[..., None]) + part.colour * a[..., None]
        ids[y0:y1, x0:x1][a >= 0.5] = OCCLUDER


def _box(x: float, z: float, ground: float, size: tuple[float, float, float], yaw: float,
         colour, lift: float = 0.0) -> list[Part]:
    """A cuboid (width, depth, height) standing on the ground: silhouette then lit faces."""
    wx, dz, hy = size
    c, s = np.cos(yaw), np.sin(yaw)
    corners = np.array([[sx * wx / 2, sz * dz / 2] for sx, sz in
                        ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    xz = corners @ np.array([[c, -s], [s, c]]) + [x, z]
    bottom = np.column_stack([xz[:, 0], np.full(4, ground - lift), xz[:, 1]])
    top = np.column_stack([xz[:, 0], np.full(4, ground - lift - hy), xz[:, 1]])
    colour = np.float32(colour)
    parts = [Part(np.vstack([bottom, top]), colour * 0.75)]
    # the faces that look at the camera (origin), brighter the more they face up / the sun side
    for i in range(4):
        j = (i + 1) % 4
        mid = (xz[i] + xz[j]) / 2
        normal = mid - [x, z]
        if normal @ mid < 0:  # facing the camera
            parts.append(Part(np.vstack([bottom[[i, j]], top[[i, j]]]),
                              colour * (0.8 + 0.15 * (i % 2))))
    if ground - lift - hy > 0:  # the camera looks down on the top face
        parts.append(Part(top, colour))
    return parts


def _cylinder(x: float, z: float, y_bottom: float, y_top: float, radius: float, colour,
              top_colour=None, n: int = 16) -> list[Part]:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([x + radius * np.cos(a), np.zeros(n), z + radius * np.sin(a)], 1)
    lo, hi = ring.copy(), ring.copy()
    lo[:, 1], hi[:, 1] = y_bottom, y_top
    parts = [Part(np.vstack([lo, hi]), np.float32(colour))]
    if top_colour is not None and y_top > 0:
        parts.append(Part(hi, np.float32(top_colour)))
    return parts


def _wheel(x: float, z: float, ground: float, radius: float, width: float, side: float
           ) -> list[Part]:
    """A wheel with its axis along x (side: +1 right, -1 left): tyre, then the rim facing in."""
    a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    yc = ground - radius
    ring = np.stack([np.zeros(16), yc + radius * np.sin(a), z + radius * np.cos(a)], 1)
    inner, outer = ring.copy(), ring.copy()
    inner[:, 0], outer[:, 0] = x - side * width / 2, x + side * width / 2
    rim = ring.copy()
    rim[:, 1] = yc + 0.55 * radius * np.sin(a)
    rim[:, 2] = z + 0.55 * radius * np.cos(a)
    rim[:, 0] = x - side * width / 2 - 0.001 * side
    return [Part(np.vstack([inner, outer]), np.float32([22, 22, 24])),
            Part(rim, np.float32([120, 120, 125]))]


def _billboard(x: float, z: float, ground: float, quads: list[tuple[np.ndarray, object]]
               ) -> list[Part]:
    """Flat parts in the vertical plane through (x, z) facing the camera; quads in (lateral,
    up) metres."""
    d = np.array([x, z]) / max(np.hypot(x, z), 1e-6)
    side = np.array([d[1], -d[0]])  # horizontal, perpendicular to the line of sight
    parts = []
    for q, colour in quads:
        px = x + q[:, 0] * side[0]
        pz = z + q[:, 0] * side[1]
        parts.append(Part(np.column_stack([px, ground - q[:, 1], pz]), np.float32(colour)))
    return parts


def _rect(a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    return np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]], float)


_SKIN = ((80, 110, 160), (60, 90, 140), (100, 140, 190), (40, 60, 90))
_CLOTHES = ((40, 40, 40), (200, 200, 200), (160, 60, 20), (30, 200, 240), (20, 110, 250),
            (60, 60, 160), (90, 90, 60), (120, 40, 40), (20, 20, 200), (190, 64, 13))


def person(rng: np.random.Generator, x: float, z: float, ground: float,
           scale: float = 1.0, simple: bool = False) -> Item:
    """A standing person as a flat silhouette of legs, torso, arms and head."""
    hgt = rng.uniform(1.5, 1.9) * scale
    shirt = _CLOTHES[int(rng.integers(len(_CLOTHES)))]
    trousers = _CLOTHES[int(rng.integers(len(_CLOTHES)))]
    skin = _SKIN[int(rng.integers(len(_SKIN)))]
    lw = 0.09 * hgt
    stance = rng.uniform(0.0, 0.08) * hgt
    hip, shoulder = 0.5 * hgt, 0.82 * hgt
    half = rng.uniform(0.11, 0.15) * hgt
    quads = []
    if not simple:
        quads += [(np.array([[-stance - lw, 0], [-stance + 0.01, 0], [0.0, hip], [-lw * 1.5, hip]]),
                   trousers),
                  (np.array([[stance - 0.01, 0], [stance + lw, 0], [lw * 1.5, hip], [0.0, hip]]),
                   trousers)]
    quads.append((_rect(-half, half, hip - 0.03 * hgt, shoulder), shirt))
    if not simple:
        arm = rng.uniform(-0.1, 0.25) * hgt
        for sgn in (-1, 1):
            quads.append((np.array([[sgn * half, shoulder], [sgn * (half + 0.06 * hgt), shoulder],
                                    [sgn * (half + 0.05 * hgt + arm), hip - 0.05 * hgt],
                                    [sgn * (half - 0.01 * hgt + arm), hip - 0.05 * hgt]]),
                          shirt))
    a = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    r = 0.065 * hgt
    head = np.stack([r * np.cos(a), shoulder + 0.03 * hgt + r + r * 1.15 * np.sin(a)], 1)
    quads.append((head, skin))
    if rng.uniform() < 0.3:  # a cap
        quads.append((_rect(-r * 1.1, r * 1.1, shoulder + 0.03 * hgt + 1.7 * r,
                            shoulder + 0.03 * hgt + 2.25 * r), shirt))
    return Item(_billboard(x, z, ground, quads), np.array([x, ground - hgt / 2, z]))


CONE_COLOURS = [np.float32(CONE_STYLES[i][0]) for i in (0, 1, 2)]  # blue, yellow, orange


def coloured_object(rng: np.random.Generator, x: float, z: float, ground: float) -> Item:
    """A blue, yellow or orange thing that is not a cone: crate, barrel, flag, bag, bucket."""
    colour = CONE_COLOURS[int(rng.integers(3))] * rng.uniform(0.75, 1.15)
    kind = rng.choice(["crate", "barrel", "flag", "bag", "bucket"])
    if kind == "crate":
        s = rng.uniform(0.25, 0.7)
        parts = _box(x, z, ground, (s, s * rng.uniform(0.6, 1.2), s * rng.uniform(0.5, 1.1)),
                     rng.uniform(0, np.pi), colour)
    elif kind == "barrel":
        r, hh = rng.uniform(0.2, 0.3), rng.uniform(0.6, 0.95)
        parts = _cylinder(x, z, ground, ground - hh, r, colour, colour * 1.1)
        band = rng.uniform(0.2, 0.7) * hh
        parts += _cylinder(x, z, ground - band, ground - band - 0.06, r + 0.005,
                           colour * 0.6)
    elif kind == "flag":
        pole = rng.uniform(1.2, 2.5)
        parts = _box(x, z, ground, (0.03, 0.03, pole), 0.0, (150, 150, 150))
        w, hh = rng.uniform(0.4, 1.0), rng.uniform(0.3, 0.7)
        cloth = np.array([[x, ground - pole, z], [x + w, ground - pole + hh * 0.1, z + 0.05],
                          [x + w * 0.95, ground - pole + hh, z + 0.05], [x, ground - pole + hh, z]])
        parts.append(Part(cloth, colour))
    elif kind == "bag":
        r = rng.uniform(0.15, 0.3)
        d = rng.normal(0, 1, (14, 3))
        pts = d / np.linalg.norm(d, axis=1, keepdims=True) * [r, r * 0.8, r * 0.7]
        pts[:, 1] = np.minimum(pts[:, 1] - r * 0.5, 0) + ground
        parts = [Part(pts + [x, 0, z], colour)]
    else:
        r, hh = rng.uniform(0.12, 0.2), rng.uniform(0.2, 0.35)
        parts = _cylinder(x, z, ground, ground - hh, r, colour, colour * 0.5)
    return Item(parts, np.array([x, ground - 0.3, z]))


def track_side_item(rng: np.random.Generator, kind: str, x: float, z: float, ground: float
                    ) -> Item:
    """Larger clutter: tyre stack, parked car, tent, sign, barrier block."""
    yaw = rng.uniform(0, np.pi)
    if kind == "tyres":
        parts = []
        n = int(rng.integers(2, 6))
        for k in range(n):
            parts += _cylinder(x, z, ground - k * 0.2, ground - (k + 1) * 0.2 + 0.01,
                               0.3, (25, 25, 28), (45, 45, 48) if k == n - 1 else None)
        return Item(parts, np.array([x, ground - 0.4, z]))
    if kind == "car":
        colour = np.float32(_CLOTHES[int(rng.integers(len(_CLOTHES)))]) * rng.uniform(0.8, 1.2)
        parts = _box(x, z, ground, (1.8, 4.3, 0.8), yaw, colour, lift=0.25)
        parts += _box(x, z, ground, (1.6, 2.2, 0.55), yaw, colour * 0.5 + 20, lift=1.05)
        c, s = np.cos(yaw), np.sin(yaw)
        for lx, lz in ((-0.85, -1.35), (0.85, -1.35), (-0.85, 1.35), (0.85, 1.35)):
            wx, wz = x + lx * c - lz * s, z + lx * s + lz * c
            parts += _cylinder(wx, wz, ground, ground - 0.62, 0.3, (20, 20, 22))[:1]
        return Item(parts, np.array([x, ground - 0.8, z]))
    if kind == "tent":
        colour = np.float32([(240, 240, 240), (190, 64, 13), (13, 115, 255), (25, 217, 242),
                             (40, 40, 200), (60, 60, 60)][int(rng.integers(6))])
        w, hh = rng.uniform(2.5, 4.0), rng.uniform(1.9, 2.3)
        parts = []
        for lx in (-w / 2, w / 2):
            for lz in (-w / 2, w / 2):
                parts += _box(x + lx, z + lz, ground, (0.05, 0.05, hh), 0.0, (160, 160, 160))
        roof = np.array([[x - w / 2, ground - hh, z - w / 2], [x + w / 2, ground - hh, z - w / 2],
                         [x + w / 2, ground - hh, z + w / 2], [x - w / 2, ground - hh, z + w / 2],
                         [x, ground - hh - 0.8, z],
                         [x - w / 2, ground - hh + 0.25, z - w / 2],
                         [x + w / 2, ground - hh + 0.25, z - w / 2]])
        parts.append(Part(roof, colour))
        if rng.uniform() < 0.5:  # a back wall
            parts = parts[:-1] + _box(x, z + w / 2, ground, (w, 0.03, hh), 0.0, colour * 0.8) \
                + parts[-1:]
        return Item(parts, np.array([x, ground - 1.2, z]))
    if kind == "sign":
        w, hh = rng.uniform(0.6, 2.0), rng.uniform(0.4, 1.0)
        lift = rng.uniform(0.3, 1.2)
        colour = np.float32([(240, 240, 240), (190, 64, 13), (25, 217, 242), (13, 115, 255),
                             (30, 30, 200), (30, 120, 30)][int(rng.integers(6))])
        parts = _box(x - w / 2 + 0.05, z, ground, (0.05, 0.05, lift + hh), 0.0, (140, 140, 140))
        parts += _box(x + w / 2 - 0.05, z, ground, (0.05, 0.05, lift + hh), 0.0, (140, 140, 140))
        parts += _box(x, z - 0.05, ground, (w, 0.03, hh), 0.0, colour, lift=lift)
        for _ in range(int(rng.integers(1, 4))):  # lettering
            a = rng.uniform(-w / 2 + 0.05, w / 2 - 0.3)
            b = ground - lift - rng.uniform(0.1, hh - 0.05)
            parts.append(Part(np.array([[x + a, b, z - 0.09], [x + a + rng.uniform(0.1, 0.3), b,
                                                               z - 0.09],
                                        [x + a + 0.2, b - 0.06, z - 0.09],
                                        [x + a, b - 0.06, z - 0.09]]),
                              np.float32([20, 20, 20]) if colour.mean() > 120 else
                              np.float32([240, 240, 240])))
        return Item(parts, np.array([x, ground - lift, z]))
    # barrier block: concrete, or red / white plastic
    colour = [(150, 150, 150), (40, 40, 210), (235, 235, 235)][int(rng.integers(3))]
    parts = _box(x, z, ground, (rng.uniform(1.0, 2.0), 0.5, rng.uniform(0.6, 0.9)), yaw, colour)
    return Item(parts, np.array([x, ground - 0.4, z]))


def fence(p0: np.ndarray, p1: np.ndarray, ground: float, rng: np.random.Generator
          ) -> list[Item]:
    """A fence or barrier line from p0 to p1 (x, z), one item per section (so the far-to-near
    order holds along it)."""
    length = float(np.linalg.norm(p1 - p0))
    n = max(1, int(np.ceil(length / 2.5)))
    kind = rng.choice(["mesh", "banner", "rail", "barrier"])
    colour = np.float32([(190, 64, 13), (235, 235, 235), (30, 30, 200), (30, 110, 30),
                         (25, 217, 242), (60, 60, 60)][int(rng.integers(6))])
    hh = {"mesh": 1.8, "banner": 1.1, "rail": 1.0, "barrier": 0.8}[kind] * rng.uniform(0.85, 1.2)
    items = []
    for k in range(n):
        a, b = p0 + (p1 - p0) * k / n, p0 + (p1 - p0) * (k + 1) / n
        panel = np.array([[a[0], ground - 0.05, a[1]], [b[0], ground - 0.05, b[1]],
                          [b[0], ground - hh, b[1]], [a[0], ground - hh, a[1]]])
        parts = []
        if kind == "barrier":
            stripe = np.float32([40, 40, 210]) if k % 2 else np.float32([235, 235, 235])
            parts.append(Part(np.vstack([panel, panel + [0, 0, 0.3]]), stripe))
        else:
            parts += _box(a[0], a[1], ground, (0.06, 0.06, hh + 0.05), 0.0, (130, 130, 130))
            if kind == "mesh":
                parts.append(Part(panel, np.float32([120, 125, 125]), rng.uniform(0.25, 0.45)))
            elif kind == "banner":
                parts.append(Part(panel, colour * rng.uniform(0.8, 1.1)))
            rail = panel.copy()
            rail[2:, 1] = ground - hh
            rail[:2, 1] = ground - hh + 0.06
            parts.append(Part(rail, np.float32([150, 150, 150])))
        items.append(Item(parts, np.array([(a[0] + b[0]) / 2, ground - hh / 2,
                                           (a[1] + b[1]) / 2])))
    return items


def grandstand(rng: np.random.Generator, x: float, z: float, ground: float) -> list[Item]:
    """Stepped stand with a crowd, far away (items far to near: stand, then the people)."""
    w = rng.uniform(8, 25)
    steps = int(rng.integers(3, 7))
    colour = np.float32([(150, 150, 150), (120, 120, 130), (190, 64, 13), (200, 200, 200)][
        int(rng.integers(4))])
    parts = []
    for k in range(steps):
        parts += _box(x, z + (steps - k) * 0.8, ground, (w, 0.8, 0.5 * (steps - k) + 0.4), 0.0,
                      colour * (0.8 + 0.04 * k))
    items = [Item(parts, np.array([x, ground - 1, z + steps * 0.8]))]
    for k in range(steps):
        n = int(rng.integers(0, int(w * 1.2)))
        for px in rng.uniform(x - w / 2 + 0.3, x + w / 2 - 0.3, n):
            pz = z + (steps - k) * 0.8 - 0.2
            it = person(rng, float(px), float(pz), ground - 0.5 * (steps - k) - 0.4,
                        scale=0.6, simple=True)
            items.append(it)
    return items


def bodywork(rng: np.random.Generator, ground: float) -> list[Part]:
    """The car's own nose (and sometimes front wheels and suspension) below and ahead of a
    camera on the main hoop or above the driver."""
    colour = np.float32([(190, 64, 13), (150, 50, 10), (25, 25, 28), (235, 235, 235),
                         (30, 30, 200)][int(rng.integers(5))]) * rng.uniform(0.8, 1.15)
    z0, z1 = rng.uniform(0.35, 0.6), rng.uniform(1.0, 2.2)
    w0, w1 = rng.uniform(0.45, 0.7), rng.uniform(0.15, 0.35)
    top0 = ground - rng.uniform(0.4, 0.6)
    top1 = ground - rng.uniform(0.2, 0.32)
    x0 = rng.uniform(-0.15, 0.15)  # camera not on the car's axis
    nose = np.array([[x0 - w0 / 2, top0, z0], [x0 + w0 / 2, top0, z0],
                     [x0 - w1 / 2, top1, z1], [x0 + w1 / 2, top1, z1],
                     [x0 - w0 / 2, ground - 0.1, z0], [x0 + w0 / 2, ground - 0.1, z0],
                     [x0 - w1 / 2, ground - 0.08, z1], [x0 + w1 / 2, ground - 0.08, z1]])
    parts = [Part(nose, colour * 0.8), Part(nose[:4], colour)]
    if rng.uniform() < 0.6:  # a sticker / number field on the top
        t = rng.uniform(0.2, 0.6)
        a, b = nose[0] + (nose[2] - nose[0]) * t, nose[1] + (nose[3] - nose[1]) * t
        c2 = nose[0] + (nose[2] - nose[0]) * (t + 0.2)
        d2 = nose[1] + (nose[3] - nose[1]) * (t + 0.2)
        mid = (a + b) / 2
        parts.append(Part(np.array([mid + (a - mid) * 0.7, mid + (b - mid) * 0.7,
                                    (c2 + d2) / 2 + (d2 - c2) * 0.3,
                                    (c2 + d2) / 2 - (d2 - c2) * 0.3]) - [0, 0.005, 0],
                          np.float32([(240, 240, 240), (25, 217, 242), (20, 20, 20)][
                              int(rng.integers(3))])))
    if rng.uniform() < 0.6:  # front wheels and wishbones
        wz = rng.uniform(max(z0, 0.45), 1.1)
        track = rng.uniform(0.55, 0.7)
        for side in (-1.0, 1.0):
            hub = np.array([x0 + side * track, ground - 0.23, wz])
            body = np.array([x0 + side * 0.15, ground - 0.25, wz])
            for dy, dz in ((-0.08, -0.1), (0.06, 0.1)):
                arm = np.array([body + [0, dy, dz], body + [0, dy - 0.02, dz],
                                hub + [0, dy - 0.02, 0], hub + [0, dy, 0]])
                parts.append(Part(arm, np.float32([40, 40, 45])))
            parts += _wheel(x0 + side * (track + 0.1), wz, ground, 0.23, 0.2, side)
    return parts


def free_spots(rng: np.random.Generator, n: int, line_tree: cKDTree, cone_tree: cKDTree | None,
               half_width: float, off_track: tuple[float, float], z_range: tuple[float, float],
               clearance: float) -> np.ndarray:
    """Up to n ground positions (x, z) beside the track: off_track metres beyond its edge, at
    least clearance from every cone."""
    if n <= 0:
        return np.zeros((0, 2))
    cand = np.column_stack([rng.uniform(-30, 30, 20 * n), rng.uniform(*z_range, 20 * n)])
    d_line, _ = line_tree.query(cand)
    ok = (d_line > half_width + off_track[0]) & (d_line < half_width + off_track[1])
    if cone_tree is not None:
        d_cone, _ = cone_tree.query(cand)
        ok &= d_cone > clearance
    ok &= np.abs(cand[:, 0]) < cand[:, 1] * 1.3  # roughly in view
    return cand[ok][:n]
