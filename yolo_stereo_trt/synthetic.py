"""A small synthetic stereo cone world: rectified pairs rendered from one 3D scene.

Both views come from the same cone positions, so the disparity of every cone is exactly
fx * B / Z. Cones are drawn as flat silhouettes (a trapezoid with stripes) facing the camera,
far to near so that nearer cones occlude farther ones. Ground truth: per cone its 3D position
in the left optical frame (x right, y down, z forward), class, and its box in each view.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .stereo import StereoCamera

# BGR body colour, stripe colour, base width, height (m) per FSOCO class id
CONE_STYLES = {
    0: ((190, 64, 13), (245, 245, 245), 0.228, 0.325),   # blue, white stripe
    1: ((25, 217, 242), (20, 20, 20), 0.228, 0.325),     # yellow, black stripe
    2: ((13, 115, 255), (245, 245, 245), 0.228, 0.325),  # small orange, white stripes
    3: ((10, 100, 235), (245, 245, 245), 0.285, 0.505),  # large orange
    4: ((120, 150, 110), (90, 90, 90), 0.228, 0.325),    # unknown colour
}
CAMERA_HEIGHT = 0.9  # metres above the ground


@dataclass
class StereoScene:
    left: np.ndarray
    right: np.ndarray
    camera: StereoCamera
    xyz: np.ndarray  # (n,3) cone base centres in the left optical frame... at half height
    class_ids: np.ndarray
    boxes_left: np.ndarray  # (n,4) xyxy, clipped to the image
    boxes_right: np.ndarray


def default_camera(width: int = 1280, height: int = 720, baseline: float = 0.12,
                   hfov_deg: float = 90.0) -> StereoCamera:
    fx = float(width / 2 / np.tan(np.radians(hfov_deg) / 2))
    return StereoCamera(fx, fx, width / 2 - 0.5, height / 2 - 0.5, baseline, width, height)


def projection_matrices(camera: StereoCamera) -> tuple[list[float], list[float]]:
    """Row-major 3x4 P of the left and right camera, as camera_info carries them."""
    k = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    right = list(k)
    right[3] = -camera.fx * camera.baseline
    return k, right


def track_cones(rng: np.random.Generator, n_pairs: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A gently curving track: blue cones on the left, yellow on the right, orange at the start."""
    curvature = rng.uniform(-0.03, 0.03)
    z = np.linspace(rng.uniform(3.0, 5.0), rng.uniform(18.0, 25.0), n_pairs)
    centre_x = curvature * z ** 2 + rng.uniform(-0.5, 0.5)
    half_width = rng.uniform(1.5, 2.0)
    xs = np.concatenate([centre_x - half_width, centre_x + half_width])
    zs = np.concatenate([z, z])
    classes = np.concatenate([np.zeros(n_pairs, np.int64), np.ones(n_pairs, np.int64)])
    if rng.uniform() < 0.5:  # a start area: large orange cones up front, small orange beside
        xs = np.concatenate([xs, [centre_x[0] - half_width - 0.6, centre_x[0] + half_width + 0.6]])
        zs = np.concatenate([zs, [z[0] + 1.0, z[0] + 1.0]])
        classes = np.concatenate([classes, [3, 2]])
    return np.stack([xs, zs], 1), classes


def _background(camera: StereoCamera, rng: np.random.Generator) -> np.ndarray:
    h, w = camera.height, camera.width
    rows = np.arange(h, dtype=np.float32)[:, None]
    horizon = camera.cy
    sky = np.array([225, 212, 198], np.float32)  # light blue-grey (BGR)
    ground = np.array([105, 108, 110], np.float32) * rng.uniform(0.85, 1.15)
    t = np.clip((rows - horizon) / 6.0 + 0.5, 0, 1)[..., None]
    img = (1 - t) * sky + t * ground
    img = np.broadcast_to(img, (h, w, 3)).copy()
    img += rng.normal(0, 4.0, (h, w, 1)).astype(np.float32)
    return img


def render_pair(seed: int, camera: StereoCamera | None = None, noise: float = 3.0) -> StereoScene:
    """Render one rectified stereo pair of a track section, deterministically by seed."""
    rng = np.random.default_rng(seed)
    camera = camera or default_camera()
    xz, classes = track_cones(rng)
    background = _background(camera, rng)
    # The right view sees the ground shifted by its own disparity: a ground row v lies at depth
    # Z = fy * h / (v - cy), disparity fx * B / Z; the sky is at infinity (no shift).
    rows = np.arange(camera.height, dtype=np.float32)
    ground_disparity = np.clip(camera.fx * camera.baseline * (rows - camera.cy) /
                               (camera.fy * CAMERA_HEIGHT), 0, None)
    map_x = np.arange(camera.width, dtype=np.float32)[None, :] + ground_disparity[:, None]
    map_y = np.repeat(rows[:, None], camera.width, axis=1)
    right_background = cv2.remap(background, map_x, map_y, cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
    views = [background.copy(), right_background]
    boxes = np.zeros((2, len(classes), 4), np.float32)
    order = np.argsort(-xz[:, 1])  # far to near: nearer cones are drawn over farther ones
    for i in order:
        x, z = xz[i]
        body, stripe, width, height = CONE_STYLES[int(classes[i])]
        for view, x_cam in ((0, x), (1, x - camera.baseline)):
            u = camera.cx + camera.fx * x_cam / z
            v_base = camera.cy + camera.fy * CAMERA_HEIGHT / z
            half_base = camera.fx * width / 2 / z
            px_h = camera.fy * height / z
            top_half = half_base * 0.22
            poly = np.array([[u - half_base, v_base], [u + half_base, v_base],
                             [u + top_half, v_base - px_h], [u - top_half, v_base - px_h]])
            cv2.fillPoly(views[view], [np.round(poly * 16).astype(np.int32)], body, cv2.LINE_AA, 4)
            for lo, hi in ((0.45, 0.62),) if classes[i] != 3 else ((0.35, 0.47), (0.6, 0.72)):
                y0, y1 = v_base - px_h * lo, v_base - px_h * hi
                w0 = half_base - (half_base - top_half) * lo
                w1 = half_base - (half_base - top_half) * hi
                band = np.array([[u - w0, y0], [u + w0, y0], [u + w1, y1], [u - w1, y1]])
                cv2.fillPoly(views[view], [np.round(band * 16).astype(np.int32)], stripe,
                             cv2.LINE_AA, 4)
            boxes[view, i] = [u - half_base, v_base - px_h, u + half_base, v_base]
    images = []
    for view in views:
        view += rng.normal(0, noise, view.shape).astype(np.float32)
        images.append(np.clip(view, 0, 255).astype(np.uint8))
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, camera.width)
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, camera.height)
    heights = np.array([CONE_STYLES[int(c)][3] for c in classes])
    xyz = np.stack([xz[:, 0], CAMERA_HEIGHT - heights / 2, xz[:, 1]], 1).astype(np.float32)
    return StereoScene(images[0], images[1], camera, xyz, classes, boxes[0], boxes[1])
