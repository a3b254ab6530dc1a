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

import cv2
import numpy as np

from ..core.stereo import StereoCamera
from .synthetic_randomize import Randomize, render_randomized
# the shared parts, also importable from here (the tools and tests do)
from .synthetic_world import (BASE_PLATE, CAMERA_HEIGHT, CONE_SIZES, CONE_STYLES, STRIPES,  # noqa: F401
                              TOP_RATIO, _SS, StereoScene, _World, _make_world, _unknown_colours,
                              default_camera, projection_matrices, track_cones)


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



def render_pair(seed: int, camera: StereoCamera | None = None, noise: float | None = None,
                max_range: float = 30.0, row_offset: float | None = None,
                randomize=None) -> StereoScene:
    """Render one rectified stereo pair of a track section, deterministically by seed.

    ``randomize`` (a data.synthetic_randomize.Randomize, or True for all switches at full
    strength) renders the randomized world of issue 14 instead; None / False (the default) is
    the plain world, unchanged."""
    if randomize:
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
