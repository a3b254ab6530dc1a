"""Stereo geometry: calibration checks, triangulation, matching under clutter."""
import numpy as np
import pytest

from yolo_stereo_trt.core.postprocess import Detections
from scipy.optimize import linear_sum_assignment

from yolo_stereo_trt.core.stereo import (CalibrationError, Cones, StereoCamera, StereoConfig,
                                         locate_cones, match_detections, refine_disparity)
from yolo_stereo_trt.data.synthetic import projection_matrices, render_pair

CAM = StereoCamera(fx=700.0, fy=700.0, cx=640.0, cy=360.0, baseline=0.12, width=1280, height=720)


# The stereo stage written plainly in NumPy: the definitions core.stereo_kernel is held to.

def triangulate(u, v, disparity, camera):
    """Left pixel (u, v) with pixel disparity d -> (n,3) points in the left optical frame."""
    z = camera.fx * camera.baseline / (disparity - camera.doffs)
    x = (u - camera.cx) * z / camera.fx - camera.x_offset
    y = (v - camera.cy) * z / camera.fy
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def position_covariance(xyz, disparity, sigma_u, sigma_v, sigma_d, camera):
    """J diag(su^2, sv^2, sd^2) J^T, J the Jacobian of (X, Y, Z) in (u, v, d), as a product."""
    p = xyz.astype(np.float64)
    z = p[:, 2]
    dd = np.asarray(disparity, np.float64) - camera.doffs
    jac = np.zeros((len(p), 3, 3))
    jac[:, 0, 0], jac[:, 1, 1] = z / camera.fx, z / camera.fy
    jac[:, 0, 2] = -(p[:, 0] + camera.x_offset) / dd
    jac[:, 1, 2], jac[:, 2, 2] = -p[:, 1] / dd, -z / dd
    sigma = np.stack([sigma_u, sigma_v, sigma_d], -1) ** 2
    return np.einsum("nij,nj,nkj->nik", jac, sigma, jac).astype(np.float32)


def numpy_match(left, right, camera, config):
    lb, rb = left.boxes.astype(np.float64), right.boxes.astype(np.float64)
    l_cy, r_cy = (lb[:, 1] + lb[:, 3]) / 2, (rb[:, 1] + rb[:, 3]) / 2
    l_h, r_h = np.maximum(lb[:, 3] - lb[:, 1], 1e-3), np.maximum(rb[:, 3] - rb[:, 1], 1e-3)
    disparity = (lb[:, 0] + lb[:, 2])[:, None] / 2 - (rb[:, 0] + rb[:, 2])[None, :] / 2
    d_min, d_max = camera.disparity_range(config.min_depth, config.max_depth)
    tolerance = config.row_tolerance_px + 0.1 * np.minimum(l_h[:, None], r_h[None, :])
    row_error = np.abs(l_cy[:, None] - r_cy[None, :]) / tolerance
    size_error = np.abs(np.log(l_h[:, None] / r_h[None, :]))
    feasible = ((left.class_ids[:, None] == right.class_ids[None, :])
                & (row_error <= 1.0) & (disparity >= d_min) & (disparity <= d_max)
                & (size_error <= np.log(config.max_height_ratio)))
    li, ri = linear_sum_assignment(np.where(feasible, row_error + size_error, 1e6))
    ok = feasible[li, ri]
    return li[ok], ri[ok]


def numpy_locate(left, right, camera, config, images=None):
    li, ri = numpy_match(left, right, camera, config)
    lb, rb = left.boxes[li].astype(np.float64), right.boxes[ri].astype(np.float64)
    u, v = (lb[:, 0] + lb[:, 2]) / 2, (lb[:, 1] + lb[:, 3]) / 2
    disparity = u - (rb[:, 0] + rb[:, 2]) / 2
    refined = np.zeros(li.size, bool)
    sigma_d = np.full(li.size, config.disparity_sigma_box)
    if images is not None and config.refine:
        disparity, refined, peaks = refine_disparity(images[0], images[1], lb, disparity, config)
        sigma_d = np.where(refined, config.disparity_sigma_refined + 0.3 * (1.0 - peaks)
                           + config.disparity_sigma_slope * np.abs(disparity), sigma_d)
        disparity = np.clip(disparity, *camera.disparity_range(config.min_depth,
                                                                config.max_depth))
    xyz = triangulate(u, v, disparity, camera)
    sigma_u = np.hypot(config.centre_sigma_px, config.centre_sigma_u * (lb[:, 2] - lb[:, 0]))
    sigma_v = np.hypot(config.centre_sigma_px, config.centre_sigma_v * (lb[:, 3] - lb[:, 1]))
    covariance = position_covariance(xyz, disparity, sigma_u, sigma_v, sigma_d, camera)
    return Cones(xyz=xyz, class_ids=left.class_ids[li], disparity=disparity.astype(np.float32),
                 refined=refined, covariance=covariance, left_index=li, right_index=ri,
                 confidence=np.sqrt(left.scores[li] * right.scores[ri]))


def dets(boxes, classes, scores=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    return Detections(boxes, scores, np.asarray(classes, np.int64))


def test_calibration_from_projection_matrices():
    pl, pr = projection_matrices(CAM)
    cam = StereoCamera.from_projections(pl, pr, (720, 1280), (720, 1280))
    assert cam.baseline == pytest.approx(0.12) and cam.fx == 700.0
    bad = list(pr)
    bad[3] = +84.0  # baseline sign wrong (right/left swapped)
    with pytest.raises(CalibrationError, match="positive"):
        StereoCamera.from_projections(pl, bad, (720, 1280), (720, 1280))
    bad = list(pr)
    bad[6] = 300.0  # cy differs: not rectified
    with pytest.raises(CalibrationError, match="cy"):
        StereoCamera.from_projections(pl, bad, (720, 1280), (720, 1280))
    with pytest.raises(CalibrationError, match="focal"):
        StereoCamera.from_projections([0.0] * 12, pr, (720, 1280), (720, 1280))
    with pytest.raises(CalibrationError, match="sizes"):
        StereoCamera.from_projections(pl, pr, (720, 1280), (360, 640))


@pytest.mark.parametrize("name, edit, match", [
    ("Ty in the right P", {7: 5.0}, "horizontal"),
    ("fy differs", {5: 710.0}, "fy"),
    ("zero baseline", {3: 0.0}, "positive"),
    ("a 1e-9 m baseline", {3: -700.0 * 1e-9}, "plausible"),
    ("a 1e6 m baseline", {3: -700.0 * 1e6}, "plausible"),
    ("NaN", {0: float("nan")}, "NaN"),
])
def test_calibration_that_is_not_a_plausible_horizontal_pair_is_refused(name, edit, match):
    pl, pr = projection_matrices(CAM)
    pr = list(pr)
    for i, value in edit.items():
        pr[i] = value
    with pytest.raises(CalibrationError, match=match):
        StereoCamera.from_projections(pl, pr, (720, 1280), (720, 1280))


def test_baseline_bounds_are_a_parameter():
    pl, pr = projection_matrices(CAM)
    with pytest.raises(CalibrationError, match="plausible"):
        StereoCamera.from_projections(pl, pr, (720, 1280), (720, 1280), baseline_range=(0.2, 2.0))
    assert StereoCamera.from_projections(pl, pr, (720, 1280), (720, 1280),
                                         baseline_range=(0.05, 0.5)).baseline == pytest.approx(0.12)


@pytest.mark.parametrize("cx_left, cx_right, tx_left", [
    (640.0, 610.0, 0.0), (610.0, 640.0, 0.0), (640.0, 640.0, 0.0), (655.0, 600.0, -30.0)])
def test_triangulation_uses_both_principal_points_and_both_tx(cx_left, cx_right, tx_left):
    """Project points with the full ROS stereo model (per-eye cx, Tx in both P) and triangulate
    them back: the depth is exact whichever eye has the larger principal point."""
    fx, fy, cy, b = 700.0, 700.0, 360.0, 0.12
    pl = [fx, 0, cx_left, tx_left, 0, fy, cy, 0, 0, 0, 1, 0]
    pr = [fx, 0, cx_right, tx_left - fx * b, 0, fy, cy, 0, 0, 0, 1, 0]
    cam = StereoCamera.from_projections(pl, pr, (720, 1280), (720, 1280))
    assert cam.baseline == pytest.approx(b)
    xyz = np.array([[1.0, 0.5, 5.0], [-2.0, 0.8, 20.0], [0.3, 0.4, 35.0]])
    P_l, P_r = np.array(pl).reshape(3, 4), np.array(pr).reshape(3, 4)
    hom = np.c_[xyz, np.ones(3)]
    ul, vl = (P_l @ hom.T)[:2] / (P_l @ hom.T)[2]
    ur = (P_r @ hom.T)[0] / (P_r @ hom.T)[2]
    np.testing.assert_allclose(triangulate(ul, vl, ul - ur, cam), xyz, rtol=1e-5, atol=1e-5)
    half = np.array([-8.0, -20.0, 8.0, 20.0])  # boxes centred on the projections
    left = dets(np.c_[ul, vl, ul, vl] + half, [0, 0, 0])
    right = dets(np.c_[ur, vl, ur, vl] + half, [0, 0, 0])
    cones = locate_cones(left, right, cam, StereoConfig(refine=False))
    assert cones.left_index.tolist() == [0, 1, 2]
    np.testing.assert_allclose(cones.xyz, xyz, rtol=1e-4, atol=1e-3)  # float32 boxes


@pytest.mark.parametrize("shift", [-24, 24])
def test_cones_in_a_pair_with_unequal_principal_points_are_at_their_true_depth(shift):
    """The right view shifted by ``shift`` px is the same scene with cx_right = cx + shift (a
    pair rectified without CALIB_ZERO_DISPARITY): located cones stay at the true depth."""
    scene = render_pair(22)
    visible = (scene.visibility > 0.99).all(1)
    right_img = np.full_like(scene.right, 114)
    if shift > 0:
        right_img[:, shift:] = scene.right[:, :-shift]
    else:
        right_img[:, :shift] = scene.right[:, -shift:]
    cam = scene.camera
    pl, pr = projection_matrices(cam)
    pr = list(pr)
    pr[2] = cam.cx + shift
    shifted = StereoCamera.from_projections(pl, pr, (cam.height, cam.width), (cam.height, cam.width))
    assert shifted.doffs == -shift
    rb = scene.boxes_right[visible] + np.array([shift, 0, shift, 0], np.float32)
    left = dets(scene.boxes_left[visible], scene.class_ids[visible])
    right = dets(rb, scene.class_ids[visible])
    cones = locate_cones(left, right, shifted, StereoConfig(), images=(scene.left, right_img))
    truth = scene.xyz[visible][cones.left_index]
    assert len(cones) >= visible.sum() - 2
    np.testing.assert_allclose(cones.xyz[:, 2], truth[:, 2], rtol=0.03)


def test_covariance_is_the_jacobian_propagation_of_the_pixel_sigmas():
    """Numerical Jacobian of triangulate() against the covariance definition: symmetric, positive
    definite, depth variance = (Z^2 sd / (fx B))^2, and it grows with the square of range."""
    u, v, d = np.array([700.0, 650.0]), np.array([400.0, 380.0]), np.array([16.8, 4.2])
    su, sv, sd = np.array([0.5, 0.3]), np.array([0.4, 0.2]), np.array([0.2, 0.2])
    xyz = triangulate(u, v, d, CAM).astype(np.float64)
    cov = position_covariance(xyz, d, su, sv, sd, CAM)
    eps = 1e-4
    for k in range(2):
        jac = np.stack([(triangulate(u + eps * (i == 0), v + eps * (i == 1), d + eps * (i == 2),
                                     CAM)[k].astype(np.float64) - xyz[k]) / eps for i in range(3)], 1)
        expected = jac @ np.diag([su[k] ** 2, sv[k] ** 2, sd[k] ** 2]) @ jac.T
        np.testing.assert_allclose(cov[k], expected, rtol=2e-2, atol=1e-7)
        assert np.allclose(cov[k], cov[k].T) and (np.linalg.eigvalsh(cov[k]) > 0).all()
    z = xyz[:, 2]
    np.testing.assert_allclose(np.sqrt(cov[:, 2, 2]), z ** 2 * sd / (CAM.fx * CAM.baseline), rtol=1e-3)
    assert np.sqrt(cov[1, 2, 2]) > 10 * np.sqrt(cov[0, 2, 2])  # 4x the range, 16x the sigma


def test_triangulation_analytic():
    # a point at (1.0, 0.5, 10.0): u = 640 + 700*0.1, v = 360 + 700*0.05, d = 700*0.12/10
    xyz = triangulate(np.array([710.0]), np.array([395.0]), np.array([8.4]), CAM)
    np.testing.assert_allclose(xyz[0], [1.0, 0.5, 10.0], rtol=1e-6)
    cones = locate_cones(dets([[700, 380, 720, 410]], [0]), dets([[691.6, 380, 711.6, 410]], [0]),
                         CAM, StereoConfig())
    np.testing.assert_allclose(cones.xyz[0], [1.0, 0.5, 10.0], rtol=1e-5)


@pytest.mark.parametrize("refine", [True, False])
def test_the_compiled_stereo_stage_equals_the_numpy_definition(refine):
    """Matching, refinement, sigma, triangulation and covariance of core.stereo_kernel against
    the plain NumPy above on synthetic scenes with detector-like box noise and clutter: the same
    pairs and refinements, the same positions and disparities (float32), covariances within
    float32 rounding; with a principal-point offset and a left Tx."""
    rng = np.random.default_rng(11)
    config = StereoConfig(refine=refine)
    compared = 0
    for seed in (40, 41, 42, 43):
        scene = render_pair(seed)
        camera = scene.camera
        if seed % 2:  # the full model: doffs and a left Tx
            camera = StereoCamera(camera.fx, camera.fy, camera.cx, camera.cy, camera.baseline,
                                  camera.width, camera.height, doffs=6.5, x_offset=0.05)
        seen = scene.boxes_left[:, 2] - scene.boxes_left[:, 0] > 4
        n = int(seen.sum())
        noise = lambda: rng.normal(0, 1.5, (n, 4)).astype(np.float32)  # noqa: E731
        left = dets(scene.boxes_left[seen] + noise(), scene.class_ids[seen],
                    rng.uniform(0.3, 1, n))
        right = dets(np.r_[scene.boxes_right[seen] + noise(), [[100, 300, 120, 330]]],
                     np.r_[scene.class_ids[seen], [0]], rng.uniform(0.3, 1, n + 1))
        want = numpy_locate(left, right, camera, config, (scene.left, scene.right))
        got = locate_cones(left, right, camera, config, images=(scene.left, scene.right))
        np.testing.assert_array_equal(got.left_index, want.left_index)
        np.testing.assert_array_equal(got.right_index, want.right_index)
        np.testing.assert_array_equal(got.refined, want.refined)
        for name in ("xyz", "disparity", "confidence", "class_ids"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        np.testing.assert_allclose(got.covariance, want.covariance, rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(got.depth_sigma, np.sqrt(want.covariance[:, 2, 2]), rtol=1e-5)
        np.testing.assert_array_equal(got.depth, got.xyz[:, 2])
        compared += len(got)
        assert got.refined.sum() > 0.5 * len(got) if refine else not got.refined.any()
    assert compared > 30


def test_matching_under_clutter():
    # five blue cones on nearly the same rows, one missing on the right, a false positive
    z = np.array([5.0, 6.0, 7.0, 8.0, 9.0])
    x = np.array([-2.0, -1.9, -1.8, -1.7, -1.6])
    u = CAM.cx + CAM.fx * x / z
    d = CAM.fx * CAM.baseline / z
    v = CAM.cy + CAM.fy * 0.7 / z
    h = CAM.fy * 0.325 / z
    left = dets([[uu - h / 3, vv - h, uu + h / 3, vv] for uu, vv, h in zip(u, v, h)], [0] * 5)
    right_boxes = [[uu - dd - h / 3, vv - h + 0.5, uu - dd + h / 3, vv + 0.5]
                   for uu, vv, dd, h in zip(u, v, d, h)]
    del right_boxes[2]  # occluded on the right
    right_boxes.append([100, 300, 120, 330])  # a false positive far away
    right = dets(right_boxes, [0] * 5)
    li, ri = match_detections(left, right, CAM, StereoConfig())
    assert sorted(zip(li.tolist(), ri.tolist())) == [(0, 0), (1, 1), (3, 2), (4, 3)]
    cones = locate_cones(left, right, CAM, StereoConfig())
    np.testing.assert_allclose(np.sort(cones.xyz[:, 2]), z[[0, 1, 3, 4]], rtol=1e-4)


def test_matching_respects_class_and_depth_range():
    left = dets([[600, 400, 620, 430]], [0])
    right = dets([[590, 400, 610, 430], [590, 400, 610, 430]], [1, 0])
    li, ri = match_detections(left, right, CAM, StereoConfig())
    assert ri.tolist() == [1]
    # disparity 10 px = 8.4 m: outside a 1..5 m range
    assert match_detections(left, right, CAM, StereoConfig(max_depth=5.0))[0].size == 0
    # zero / negative disparity never matches
    assert match_detections(left, dets([[610, 400, 630, 430]], [0]), CAM, StereoConfig())[0].size == 0


def test_ground_truth_boxes_locate_synthetic_cones():
    scene = render_pair(21)
    visible = (scene.visibility > 0.99).all(1)  # whole and unoccluded in both views
    left = dets(scene.boxes_left[visible], scene.class_ids[visible])
    right = dets(scene.boxes_right[visible], scene.class_ids[visible])
    cones = locate_cones(left, right, scene.camera, StereoConfig())
    assert len(cones) >= visible.sum() - 2
    truth = scene.xyz[visible][cones.left_index]
    np.testing.assert_allclose(cones.xyz[:, 2], truth[:, 2], rtol=0.03)
    np.testing.assert_allclose(cones.xyz[:, 0], truth[:, 0], atol=0.1)


def test_subpixel_refinement_recovers_depth_from_coarse_boxes():
    """Boxes off by a few pixels (as a detector's are): refinement from the image content fixes
    the depth that the box-centre disparity gets wrong."""
    rng = np.random.default_rng(3)
    box_err, ref_err = [], []
    for seed in (30, 31, 32):
        scene = render_pair(seed)
        visible = scene.boxes_left[:, 2] - scene.boxes_left[:, 0] > 6
        lb = scene.boxes_left[visible]
        rb = scene.boxes_right[visible] + rng.uniform(-2.5, 2.5, (visible.sum(), 1)).astype(np.float32)
        left, right = dets(lb, scene.class_ids[visible]), dets(rb, scene.class_ids[visible])
        truth_z = scene.xyz[visible][:, 2]
        coarse = locate_cones(left, right, scene.camera, StereoConfig(refine=False))
        fine = locate_cones(left, right, scene.camera, StereoConfig(), images=(scene.left, scene.right))
        assert fine.refined.mean() > 0.8
        box_err += list(np.abs(coarse.xyz[:, 2] - truth_z[coarse.left_index]) / truth_z[coarse.left_index])
        ref_err += list(np.abs(fine.xyz[:, 2] - truth_z[fine.left_index]) / truth_z[fine.left_index])
        assert (fine.depth_sigma > 0).all()
    assert np.median(ref_err) < 0.05
    assert np.median(ref_err) < 0.5 * np.median(box_err)


def _refine_one_cone_at_a_time(left_gray, right_gray, boxes, disparity, config):
    """The refinement written plainly, one cone at a time (the definition the fast one keeps):
    patch = central 60% x 70% of the box, rows averaged in bands of k = rows // 16 from 32 rows
    on (the last rows % k rows left out); search over
    the box disparity +- the box width (>= 8 px, <= max(32 px, a quarter of the width)))."""
    import cv2
    out, refined = disparity.astype(np.float64).copy(), np.zeros(len(disparity), bool)
    peaks = np.zeros(len(disparity), np.float32)
    h_img, w_img = left_gray.shape
    for i, ((x1, y1, x2, y2), d0) in enumerate(zip(boxes.tolist(), disparity.tolist())):
        cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        px0, px1 = int(round(cx - 0.3 * bw)), int(round(cx + 0.3 * bw))
        py0, py1 = int(round(cy - 0.35 * bh)), int(round(cy + 0.35 * bh))
        if px1 - px0 < 4 or py1 - py0 < 4 or px0 < 0 or py0 < 0 or px1 > w_img or py1 > h_img:
            continue
        def rows16(a):
            k = a.shape[0] // 16
            return a if k < 2 else a[:a.shape[0] // k * k].reshape(-1, k, a.shape[1]).mean(1)
        patch = np.rint(rows16(left_gray[py0:py1, px0:px1])).astype(np.uint8)  # as INTER_AREA
        if patch.std() < config.min_texture:
            continue
        radius = max(min(bw, 32.0), 0.25 * bw, 8.0)
        sx0 = max(int(np.floor(px0 - d0 - radius)), 0)
        sx1 = min(int(np.ceil(px1 - d0 + radius)), w_img)
        if sx1 - sx0 < patch.shape[1] + 2:
            continue
        strip = np.rint(rows16(right_gray[py0:py1, sx0:sx1])).astype(np.uint8)
        scores = cv2.matchTemplate(strip, patch, cv2.TM_CCOEFF_NORMED)[0]
        k = int(np.argmax(scores))
        peaks[i] = scores[k]
        if not 0 < k < scores.size - 1 or scores[k] < config.min_correlation:
            continue
        a, b, c = float(scores[k - 1]), float(scores[k]), float(scores[k + 1])
        denom = a - 2 * b + c
        out[i] = px0 - (sx0 + k + (0.5 * (a - c) / denom if denom < 0 else 0.0))
        refined[i] = True
    return out, refined, peaks


def test_compiled_refinement_equals_the_opencv_per_cone_definition_on_bgr_rgb_and_grey_frames():
    """The kernel correlates in float64, OpenCV's matchTemplate in float32: peak correlations
    agree to 2e-4, sub-pixel disparities to 2e-3 px (a thousandth of the refinement's error)."""
    import cv2
    from yolo_stereo_trt.core.stereo import refine_disparity
    rng = np.random.default_rng(5)
    scene = render_pair(107)
    boxes = np.vstack([scene.visible_left, [[-20, 300, 10, 340], [600, 700, 640, 730],
                                            [100, 100, 102, 130], [0, 0, 40, 10]]])
    disparity = np.concatenate([
        (scene.visible_left[:, 0] + scene.visible_left[:, 2]) / 2
        - (scene.visible_right[:, 0] + scene.visible_right[:, 2]) / 2
        + rng.uniform(-2, 2, len(scene.visible_left)), [10.0, 5.0, 3.0, 300.0]])
    left = scene.left.copy()
    left[200:260, 300:360] = 90  # a flat patch: too little texture to refine
    boxes = np.vstack([boxes, [[290, 190, 370, 270]]])
    disparity = np.append(disparity, 20.0)
    grey = (cv2.cvtColor(left, cv2.COLOR_BGR2GRAY), cv2.cvtColor(scene.right, cv2.COLOR_BGR2GRAY))
    want = _refine_one_cone_at_a_time(*grey, boxes, disparity, StereoConfig())
    assert want[1].sum() >= 10 and not want[1][-5:].any() and want[2][-1] == 0
    rgb = (np.ascontiguousarray(left[..., ::-1]), np.ascontiguousarray(scene.right[..., ::-1]))
    for frames, orders in (((left, scene.right), ("bgr", "bgr")), (grey, ("bgr", "bgr")),
                           (rgb, ("rgb", "rgb"))):
        got = refine_disparity(*frames, boxes, disparity, StereoConfig(), orders=orders)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], atol=2e-3)
        np.testing.assert_allclose(got[2], want[2], atol=2e-4)
    empty = refine_disparity(left, scene.right, np.zeros((0, 4)), np.zeros(0), StereoConfig())
    assert [a.shape for a in empty] == [(0,), (0,), (0,)]
