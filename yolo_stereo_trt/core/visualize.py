"""Pictures of a result: boxes in class colours with scores (debug_image, the demo) and the
bird's-eye view of the located cones (``draw_birdseye``)."""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from .classes import COLOURS_BGR, CONE_TYPES, ClassMap
from .frames import RigidTransform
from .postprocess import Detections
from .stereo import Cones, StereoCamera


def draw_detections(frame: np.ndarray, dets: Detections, classes: ClassMap | Sequence[str],
                    depths: dict[int, float] | None = None) -> np.ndarray:
    """Draw boxes on a BGR copy of ``frame`` in their cone type's colour (by class NAME, see
    core.classes; pass the pipeline's ``class_map`` so ``class_types`` overrides apply);
    ``depths`` maps detection index -> metres."""
    class_map = classes if isinstance(classes, ClassMap) else ClassMap(classes)
    out = np.ascontiguousarray(frame).copy()
    colours = class_map.colours_of(dets.class_ids).tolist()
    for i, (box, score, cls, colour) in enumerate(zip(dets.boxes.astype(int), dets.scores,
                                                      dets.class_ids.tolist(), colours)):
        colour = tuple(colour)
        cv2.rectangle(out, (box[0], box[1]), (box[2], box[3]), colour, 2)
        name = class_map.name(cls)
        label = f"{name} {score:.2f}" + (f" {depths[i]:.1f}m" if depths and i in depths else "")
        cv2.putText(out, label, (box[0], max(box[1] - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    colour, 1, cv2.LINE_AA)
    return out


def side_by_side(left: np.ndarray, right: np.ndarray, caption: str = "") -> np.ndarray:
    h = max(left.shape[0], right.shape[0])
    pad = lambda im: cv2.copyMakeBorder(im, 0, h - im.shape[0], 0, 0, cv2.BORDER_CONSTANT)  # noqa: E731
    out = np.hstack([pad(left), pad(right)])
    if caption:
        cv2.putText(out, caption, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def pair_caption(n_left: int, n_right: int, n_cones: int | None,
                 total_ms: float | None = None) -> str:
    """The debug image's header: what each number counts ("det L 21 / R 20, 17 cones")."""
    text = f"det L {n_left} / R {n_right}, " + (
        f"{n_cones} cones" if n_cones is not None else "no stereo calibration: no cones")
    return text + (f", {total_ms:.1f} ms" if total_ms is not None else "")


def with_panel(image: np.ndarray, panel: np.ndarray) -> np.ndarray:
    """``panel`` to the right of ``image`` (the shorter one padded black at the bottom)."""
    h = max(image.shape[0], panel.shape[0])
    pad = lambda im: cv2.copyMakeBorder(im, 0, h - im.shape[0], 0, 0, cv2.BORDER_CONSTANT)  # noqa: E731
    return np.hstack([pad(image), pad(panel)])


# ---------------------------------------------------------------------------- bird's-eye view
BEV_SIZE = (640, 480)  # width, height (px): a 90 deg field of view fits to 30 m
BEV_RING_M = 5.0  # range rings every 5 m
SOURCE_MATCHED, SOURCE_EPIPOLAR, SOURCE_BORDER = 0, 1, 2  # core.stereo.Cones.source
SOURCE_LABELS = ("matched L+R", "epipolar search", "cut by border")
_BACKGROUND, _GRID, _TEXT, _FOV = (32, 32, 32), (78, 78, 78), (170, 170, 170), (62, 62, 54)
_CAR = (200, 200, 200)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# unit glyphs (x right, y down in pixels, radius 1) for the sources drawn as polygons
_DIAMOND = np.array([[0.0, -1.3], [1.3, 0.0], [0.0, 1.3], [-1.3, 0.0]])
_TRIANGLE = np.array([[0.0, -1.35], [1.2, 0.85], [-1.2, 0.85]])
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 25)), np.sin(np.linspace(0, 2 * np.pi, 25))])


def ground_plane(xyz: np.ndarray, covariance: np.ndarray | None, frame: str = "optical"
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions (n,3) and covariances (n,3,3) -> ground-plane (right, forward) metres (n,2)
    and their 2x2 covariances (n,2,2). ``frame`` "optical": the left optical frame (x right,
    y down, z forward: the ground plane is x-z); "body": a base_link-like output frame (x
    forward, y left, z up)."""
    p = np.asarray(xyz, np.float64).reshape(-1, 3)
    if frame == "optical":
        J = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    elif frame == "body":
        J = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    else:
        raise ValueError(f"frame must be optical or body, got {frame!r}")
    ground = p @ J.T
    cov = None
    if covariance is not None:
        c = np.asarray(covariance, np.float64).reshape(-1, 3, 3)
        cov = J @ c @ J.T if len(c) == len(p) else None
    return ground, cov


def _fov_rays(camera: StereoCamera, frame: str, pose: RigidTransform | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """The camera's position (right, forward) and the (2,2) ground directions of its left and
    right image edges, in the view's frame."""
    edges = np.array([[(-0.5 - camera.cx) / camera.fx, 0.0, 1.0],
                      [(camera.width - 0.5 - camera.cx) / camera.fx, 0.0, 1.0]])
    origin = np.zeros(3)
    if frame == "body" and pose is not None:
        edges, origin = edges @ pose.R.T, pose.t
    elif frame == "body":  # a body frame without a pose: the camera at its origin, facing x
        edges = edges @ np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]).T
    apex, _ = ground_plane(origin[None], None, frame)
    dirs, _ = ground_plane(edges, None, frame)
    dirs /= np.maximum(np.linalg.norm(dirs, axis=1, keepdims=True), 1e-9)
    return apex[0], dirs


def draw_birdseye(cones: Cones | None, classes: ClassMap | Sequence[str],
                  camera: StereoCamera | None = None, *,
                  source: np.ndarray | None = None,
                  truth: tuple[np.ndarray, np.ndarray] | None = None,
                  frame: str = "optical", pose: RigidTransform | None = None,
                  size: tuple[int, int] = BEV_SIZE, max_range_m: float = 30.0,
                  caption: str = "") -> np.ndarray:
    """One pair's located cones seen from above, as a BGR image of ``size`` (width, height).

    The car at the bottom (forward is up), range rings every 5 m to ``max_range_m`` (labelled),
    the camera's horizontal field of view (from ``camera``; none when None), each cone as a disc
    in its type's colour (``classes``: the pipeline's ClassMap) with its 1-sigma ellipse (the
    published covariance projected onto the ground plane). ``source`` (n,) per cone
    (core.stereo.Cones.source when the cones carry it, else all 0): 0 matched in both views
    (disc), 1 found by searching the right image along the epipolar line (diamond), 2 cut by an
    image border (triangle). ``truth``: (xyz (m,3) in the same frame, cone TYPE ids (m,) into
    core.classes.CONE_TYPES), drawn as hollow circles a cone sits in when it is right.
    ``frame``: "optical" (the left optical frame, x right, z forward) or "body" (the node's
    output_frame, x forward, y left); ``pose``: the optical -> body transform the cones went
    through, which places the camera's field of view. ``cones`` None: no calibration.
    """
    class_map = classes if isinstance(classes, ClassMap) else ClassMap(classes)
    w, h = int(size[0]), int(size[1])
    img = np.empty((h, w, 3), np.uint8)
    img[:] = _BACKGROUND
    bottom = max(int(0.09 * h), 24)  # room for the car below its origin
    scale = (h - bottom - max(int(0.03 * h), 10)) / max_range_m  # px per metre
    origin = np.array([w / 2.0, h - bottom])
    lw = 1 if h < 900 else 2

    def to_px(ground: np.ndarray) -> np.ndarray:  # (right, forward) metres -> (u, v) pixels
        px = origin + np.asarray(ground, np.float64) * [scale, -scale]
        return np.clip(np.nan_to_num(px, nan=-1e4), -1e4, 1e4)  # far off the image: not drawn

    # field of view (filled, faint) and its edges
    if camera is not None:
        apex, dirs = _fov_rays(camera, frame, pose)
        far = 3.0 * max_range_m
        poly = to_px(np.array([apex, apex + far * dirs[0], apex + far * dirs[1]]))
        fov = img.copy()
        cv2.fillPoly(fov, [np.round(poly).astype(np.int32)], _FOV, cv2.LINE_AA)
        cv2.addWeighted(fov, 0.6, img, 0.4, 0, img)
        for k in (1, 2):
            cv2.line(img, _pt(poly[0]), _pt(poly[k]), _GRID, lw, cv2.LINE_AA)
        hfov = math.degrees(math.acos(float(np.clip(dirs[0] @ dirs[1], -1, 1))))
    # range rings, labelled on the centre line
    font = 0.32 * h / 480
    for r in np.arange(BEV_RING_M, max_range_m + 1e-6, BEV_RING_M):
        cv2.circle(img, _pt(origin), int(round(r * scale)), _GRID, 1, cv2.LINE_AA)
        label = f"{r:g} m"
        (tw, _), _ = cv2.getTextSize(label, _FONT, font, 1)
        cv2.putText(img, label, (int(origin[0]) - tw - 3, int(origin[1] - r * scale) - 3),
                    _FONT, font, _TEXT, 1, cv2.LINE_AA)
    # the car: its body behind the origin, the sensor as a notch at the origin
    car_w, car_l = 1.4 * scale, 2.6 * scale
    x0, y0 = origin
    cv2.rectangle(img, (int(x0 - car_w / 2), int(y0 + 3)), (int(x0 + car_w / 2), int(y0 + car_l)),
                  _CAR, lw, cv2.LINE_AA)
    cv2.fillPoly(img, [np.round(origin + np.array([[0, 0], [-4, 7], [4, 7]]) * h / 480
                                ).astype(np.int32)], _CAR, cv2.LINE_AA)

    radius = max(3.0, 4.0 * h / 480)
    outside = 0
    if truth is not None and len(truth[0]):
        t_ground, _ = ground_plane(truth[0], None, frame)
        t_px = to_px(t_ground)
        t_colours = COLOURS_BGR[np.asarray(truth[1], np.int64)].tolist()
        for (u, v), colour in zip(t_px.tolist(), t_colours):
            cv2.circle(img, (int(round(u)), int(round(v))), int(round(radius + 3.0)),
                       tuple(colour), 1, cv2.LINE_AA)
    if cones is not None and len(cones):
        ground, cov = ground_plane(cones.xyz, cones.covariance, frame)
        px = to_px(ground)
        colours = class_map.colours_of(cones.class_ids)
        src = source if source is not None else getattr(cones, "source", None)
        src = np.asarray(src if src is not None else (), np.int64)
        if src.shape != (len(cones),):  # cones made without it: all matched in both views
            src = np.zeros(len(cones), np.int64)
        inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
        outside = int((~inside).sum())
        if cov is not None:
            _draw_ellipses(img, px, cov * scale * scale, colours, lw)
        large = class_map.type_ids_of(cones.class_ids) == CONE_TYPES.index("large_orange")
        for (u, v), colour, s, big in zip(px.tolist(), colours.tolist(), src.tolist(),
                                          large.tolist()):
            _glyph(img, (u, v), radius + (1.5 if big else 0.0), s, tuple(colour))
    # header: what is drawn, then the legend
    lines = [caption] if caption else []
    if cones is None:
        lines.append("no stereo calibration: no cones")
    else:
        lines.append(f"{len(cones)} cones" + (f" ({outside} outside the view)" if outside else ""))
    y = int(13 * h / 480)
    for line in lines:
        cv2.putText(img, line, (6, y), _FONT, 1.25 * font, (235, 235, 235), 1, cv2.LINE_AA)
        y += int(15 * h / 480)
    legend = [(s, SOURCE_LABELS[s]) for s in range(3)] + ([(-1, "ground truth")] if truth is not None else [])
    for s, text in legend:
        centre = (10.0 * h / 480, y - 3.5 * h / 480)
        if s < 0:
            cv2.circle(img, _pt(centre), int(round(radius + 1)), _TEXT, 1, cv2.LINE_AA)
        else:
            _glyph(img, centre, radius * 0.8, s, _TEXT)
        cv2.putText(img, text, (int(20 * h / 480), y), _FONT, font, _TEXT, 1, cv2.LINE_AA)
        y += int(12 * h / 480)
    notes = "ellipses: 1 sigma" + (f", fov {hfov:.0f} deg" if camera is not None else "")
    (tw, _), _ = cv2.getTextSize(notes, _FONT, font, 1)
    cv2.putText(img, notes, (w - tw - 6, int(13 * h / 480)), _FONT, font, _TEXT, 1, cv2.LINE_AA)
    return img


def _pt(p: Sequence[float] | np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _glyph(img: np.ndarray, centre: tuple[float, float], radius: float, source: int,
           colour: tuple[int, ...]) -> None:
    """A located cone's marker: disc (matched), diamond (epipolar search), triangle (border)."""
    if source == SOURCE_EPIPOLAR or source == SOURCE_BORDER:
        shape = _DIAMOND if source == SOURCE_EPIPOLAR else _TRIANGLE
        poly = np.round(np.asarray(centre) + shape * radius).astype(np.int32)
        cv2.fillPoly(img, [poly], colour, cv2.LINE_AA)
        cv2.polylines(img, [poly], True, (255, 255, 255), 1, cv2.LINE_AA)
    else:
        cv2.circle(img, _pt(centre), int(round(radius)), colour, -1, cv2.LINE_AA)


def _draw_ellipses(img: np.ndarray, centres: np.ndarray, cov_px: np.ndarray, colours: np.ndarray,
                   thickness: int) -> None:
    """1-sigma ellipses of (n,2,2) pixel-space covariances (right, forward axes), all at once:
    the points of every ellipse from one eigen-decomposition, one polylines call per colour."""
    ok = np.isfinite(cov_px).all(axis=(1, 2)) & np.isfinite(centres).all(axis=1)
    if not ok.any():
        return
    values, vectors = np.linalg.eigh(cov_px[ok])  # (k,2), (k,2,2)
    axes = vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]  # columns scaled by sigma
    pts = np.einsum("kij,jt->kti", axes, _CIRCLE)  # (k, 25, 2) offsets (right, forward)
    pts[..., 1] *= -1.0  # forward is up in the image
    polys = np.round(np.clip(centres[ok][:, None, :] + pts, -1e4, 1e4)).astype(np.int32)
    cols = colours[ok]
    for colour in np.unique(cols, axis=0):
        same = (cols == colour).all(axis=1)
        cv2.polylines(img, list(polys[same]), True, tuple(int(c) for c in colour), thickness,
                      cv2.LINE_AA)


def birdseye_panel(cones: Cones | None, classes: ClassMap | Sequence[str],
                   camera: StereoCamera | None, geometry: object | None, height: int,
                   truth: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``draw_birdseye`` at ``height`` (4:3; 240 px at least: a panel beside a view a few rows
    high had no room for its rings, and OpenCV refused their negative radii) in the frame the
    cones are in: the output frame when ``geometry`` (a core.pipeline.CarGeometry) moved them
    there, else the optical frame."""
    height = max(int(height), 240)
    transform = getattr(geometry, "transform", None)
    body = transform is not None and bool(getattr(geometry, "publish_in_output_frame", False))
    return draw_birdseye(cones, classes, camera, truth=truth,
                         frame="body" if body else "optical", pose=transform if body else None,
                         size=(int(round(height * 4 / 3)), int(height)))
