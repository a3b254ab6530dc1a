"""The bird's-eye view (core.visualize.draw_birdseye): cones where they are, in their type's
colour, with their 1-sigma ellipse; sources, ground truth and field of view drawn; the optical
and the body frame give the same picture; the debug image's header says what it counts."""
import numpy as np
import pytest

from yolo_stereo_trt.core.classes import COLOURS_BGR, CONE_TYPES, FSOCO_NAMES, ClassMap
from yolo_stereo_trt.core.frames import RigidTransform
from yolo_stereo_trt.core.stereo import Cones
from yolo_stereo_trt.core.visualize import (BEV_SIZE, draw_birdseye, ground_plane, pair_caption,
                                            with_panel)
from yolo_stereo_trt.data.synthetic_world import default_camera

CLASSES = ClassMap(FSOCO_NAMES)
BLUE, YELLOW = CONE_TYPES.index("blue"), CONE_TYPES.index("yellow")


def cones_at(xyz, class_ids, sigma=(0.0, 0.0, 0.0)) -> Cones:
    xyz = np.asarray(xyz, np.float32).reshape(-1, 3)
    cov = np.zeros((len(xyz), 3, 3), np.float32)
    cov[:, [0, 1, 2], [0, 1, 2]] = np.square(sigma)
    return Cones(xyz=xyz, class_ids=np.asarray(class_ids, np.int64),
                 confidence=np.ones(len(xyz), np.float32), covariance=cov)


def pixels_of(image, colour, tolerance: int = 48) -> np.ndarray:
    """(k, 2) u, v of the pixels of ``colour`` (BGR; anti-aliased edges within ``tolerance``)."""
    diff = np.abs(image.astype(np.int16) - np.asarray(colour, np.int16)).max(axis=2)
    v, u = np.nonzero(diff <= tolerance)
    return np.stack([u, v], 1).astype(np.float64)


def test_cones_sit_at_their_range_and_side_in_their_type_colour():
    # blue straight ahead at 10 m and 20 m, yellow 3 m to the right at 10 m
    blue = draw_birdseye(cones_at([[0, 0, 10], [0, 0, 20]], [0, 0]), CLASSES)
    c10, c20 = sorted((c for c in _blobs(pixels_of(blue, COLOURS_BGR[BLUE]))),
                      key=lambda c: -c[1])
    origin = 2 * c10 - c20  # range is linear in the picture: the car's origin
    scale = (c10[1] - c20[1]) / 10.0  # px per metre
    assert abs(c10[0] - BEV_SIZE[0] / 2) < 1 and abs(c20[0] - c10[0]) < 1  # straight ahead
    assert origin[1] > BEV_SIZE[1] * 0.85  # the car at the bottom
    assert 30 * scale < origin[1] < BEV_SIZE[1] and 12 < scale < 16  # 30 m fit above it
    yellow = draw_birdseye(cones_at([[3, 0, 10]], [1]), CLASSES)
    (c,) = _blobs(pixels_of(yellow, COLOURS_BGR[YELLOW]))
    np.testing.assert_allclose(c, origin + [3 * scale, -10 * scale], atol=1.0)
    assert len(pixels_of(yellow, COLOURS_BGR[BLUE])) == 0


def _blobs(points: np.ndarray) -> list[np.ndarray]:
    """Centroids of the groups of points more than 5 px apart (one per drawn cone)."""
    groups: list[list[np.ndarray]] = []
    for p in points:
        for g in groups:
            if np.linalg.norm(g[0] - p) < 12:
                g.append(p)
                break
        else:
            groups.append([p])
    return [np.mean(g, axis=0) for g in groups]


def test_the_one_sigma_ellipse_follows_the_covariance_in_the_ground_plane():
    # 1 m of depth sigma, 5 cm laterally: a vertical ellipse of +-1 m around the disc
    sharp = draw_birdseye(cones_at([[0, 0, 15]], [1]), CLASSES)
    long = draw_birdseye(cones_at([[0, 0, 15]], [1], sigma=(0.05, 0.3, 1.0)), CLASSES)
    disc, drawn = pixels_of(sharp, COLOURS_BGR[YELLOW]), pixels_of(long, COLOURS_BGR[YELLOW])
    scale = _scale()
    extent = lambda p, axis: p[:, axis].max() - p[:, axis].min()  # noqa: E731
    assert extent(drawn, 1) == pytest.approx(2 * 1.0 * scale, abs=3)  # forward: 2 sigma
    assert extent(drawn, 0) == pytest.approx(extent(disc, 0), abs=1)  # across: the disc's
    # the optical y (height) variance is not in the ground plane
    tall = draw_birdseye(cones_at([[0, 0, 15]], [1], sigma=(0.0, 5.0, 0.0)), CLASSES)
    assert len(pixels_of(tall, COLOURS_BGR[YELLOW])) == len(disc)


def _scale() -> float:
    image = draw_birdseye(cones_at([[0, 0, 10], [0, 0, 20]], [0, 0]), CLASSES)
    c = sorted(_blobs(pixels_of(image, COLOURS_BGR[BLUE])), key=lambda c: c[1])
    return (c[1][1] - c[0][1]) / 10.0


def test_each_source_has_its_own_glyph_and_none_means_matched():
    cones = cones_at([[0, 0, 10]], [0])
    drawn = [draw_birdseye(cones, CLASSES, source=np.array([s])) for s in (0, 1, 2)]
    counts = [len(pixels_of(d, COLOURS_BGR[BLUE])) for d in drawn]
    assert len(set(counts)) == 3 and min(counts) > 10
    assert (draw_birdseye(cones, CLASSES) == drawn[0]).all()
    cones.source = np.array([2], np.uint8)  # the field the lead adds to Cones: read when present
    assert (draw_birdseye(cones, CLASSES) == drawn[2]).all()


def test_ground_truth_is_a_hollow_ring_a_correct_cone_sits_in():
    truth = (np.array([[2.0, 0.5, 12.0]]), np.array([YELLOW]))
    only_truth = draw_birdseye(cones_at(np.zeros((0, 3)), []), CLASSES, truth=truth)
    ring = pixels_of(only_truth, COLOURS_BGR[YELLOW])
    centre = ring.mean(axis=0)
    assert len(ring) > 20 and np.linalg.norm(ring - centre, axis=1).min() > 4  # hollow
    with_cone = draw_birdseye(cones_at([[2.0, 0.5, 12.0]], [1]), CLASSES, truth=truth)
    disc = pixels_of(with_cone, COLOURS_BGR[YELLOW])
    inside = np.linalg.norm(disc - centre, axis=1) < 3
    assert inside.sum() > 10  # the located cone fills the ring's centre


def test_the_field_of_view_comes_from_the_camera():
    empty = cones_at(np.zeros((0, 3)), [])
    wide = draw_birdseye(empty, CLASSES, default_camera(hfov_deg=90))
    narrow = draw_birdseye(empty, CLASSES, default_camera(hfov_deg=50))
    none = draw_birdseye(empty, CLASSES)
    row = int(BEV_SIZE[1] * 0.4)  # a row well ahead of the car, inside both fields of view
    background = none[row, 1]
    lit = lambda im: int((im[row] != background).any(axis=1).sum())  # noqa: E731
    assert lit(wide) > lit(narrow) > 0.2 * BEV_SIZE[0]
    assert (none[row] == background).all(axis=1).mean() > 0.95  # rings only


def test_the_body_frame_gives_the_optical_frames_picture():
    """A camera at the origin of a body frame (x forward, y left, z up): the cones and their
    covariances moved there are drawn where the optical frame draws them."""
    cones = cones_at([[0.0, 0.2, 8.0], [-3.0, 0.1, 14.0], [4.0, 0.3, 21.0]], [0, 1, 2],
                     sigma=(0.1, 0.05, 0.6))
    pose = RigidTransform.from_camera_pose([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    body = Cones(xyz=pose.apply(cones.xyz), class_ids=cones.class_ids,
                 confidence=cones.confidence,
                 covariance=pose.apply_covariance(cones.covariance))
    g_opt, c_opt = ground_plane(cones.xyz, cones.covariance, "optical")
    g_body, c_body = ground_plane(body.xyz, body.covariance, "body")
    np.testing.assert_allclose(g_body, g_opt, atol=1e-6)
    np.testing.assert_allclose(c_body, c_opt, atol=1e-6)
    camera = default_camera()
    assert (draw_birdseye(body, CLASSES, camera, frame="body", pose=pose)
            == draw_birdseye(cones, CLASSES, camera)).all()


def test_no_calibration_draws_the_view_and_says_why():
    image = draw_birdseye(None, CLASSES, size=(320, 240))
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8


def test_the_debug_header_says_what_it_counts():
    assert pair_caption(21, 20, 17, 12.34) == "det L 21 / R 20, 17 cones, 12.3 ms"
    assert pair_caption(3, 0, None) == "det L 3 / R 0, no stereo calibration: no cones"
    panel = with_panel(np.zeros((720, 100, 3), np.uint8), np.zeros((360, 50, 3), np.uint8))
    assert panel.shape == (720, 150, 3)


@pytest.mark.parametrize("height", [1, 2, 10])
def test_the_birdseye_panel_beside_a_view_a_few_rows_high_is_drawn_at_240_rows(height):
    """debug_birdseye beside a 1- or 2-row view (a camera sending degenerate frames): the panel
    keeps 240 rows (OpenCV refused the rings' negative radii and the debug image failed)."""
    from yolo_stereo_trt.core.visualize import birdseye_panel
    panel = birdseye_panel(None, FSOCO_NAMES, default_camera(), None, height)
    assert panel.shape == (240, 320, 3)
    assert with_panel(np.zeros((height, 8, 3), np.uint8), panel).shape == (240, 328, 3)
