"""Output frame (camera_pose -> rigid transform), ground and size gates, self-mask.

Synthetic pairs have exact ground truth: the camera is CAMERA_HEIGHT above flat ground with a
level optical axis, so the pose of its body frame in a ground frame is [0, 0, h, 0, 0, 0].
"""
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from yolo_stereo_trt.core.frames import (OPTICAL_TO_BODY, PoseError, RigidTransform,
                                         quaternion_to_matrix, rpy_to_matrix,
                                         validate_camera_pose)
from yolo_stereo_trt.core.gates import (GateConfig, GateConfigError, MaskError, SelfMask,
                                        apply_gates, ground_gate, size_gate)
from yolo_stereo_trt.core.postprocess import Detections
from yolo_stereo_trt.core.stereo import StereoConfig, locate_cones
from yolo_stereo_trt.core.classes import FSOCO_NAMES, ClassMap
from yolo_stereo_trt.data.synthetic import CAMERA_HEIGHT, render_pair

SEEDS = range(700100, 700112)
GROUND_POSE = [0.0, 0.0, CAMERA_HEIGHT, 0.0, 0.0, 0.0]
REAL = Path(__file__).resolve().parents[2] / "shared" / "real_cones"


def heights_of(class_ids):
    """Real cone heights by type (the synthetic world's classes are FSOCO names)."""
    return ClassMap(FSOCO_NAMES).heights_of(np.asarray(class_ids, np.int64))


# --- frames ------------------------------------------------------------------------------

def test_documented_example_pitched_camera_maps_point_ahead_below_camera_height():
    # forward camera 1.0 m above base_link, 1.5 m ahead of it, pitched 5 degrees down
    transform = RigidTransform.from_camera_pose([1.5, 0.0, 1.0, 0.0, 0.087, 0.0])
    p = transform.apply(np.array([[0.0, 0.0, 10.0]]))[0]  # optical: straight ahead, 10 m
    assert p[0] == pytest.approx(1.5 + 10 * np.cos(0.087), abs=1e-9)
    assert p[1] == pytest.approx(0.0, abs=1e-12)
    assert p[2] == pytest.approx(1.0 - 10 * np.sin(0.087), abs=1e-9)  # 0.13 m: 0.87 m lower
    assert p[2] < 1.0 - 0.8


def test_level_camera_maps_optical_axes_to_body_axes():
    transform = RigidTransform.from_camera_pose([0.2, -0.1, 1.2, 0.0, 0.0, 0.0])
    pts = np.array([[0.0, 0.0, 5.0],    # ahead -> +x
                    [1.0, 0.0, 0.0],    # right -> -y
                    [0.0, 1.0, 0.0]])   # down  -> -z
    np.testing.assert_allclose(transform.apply(pts), [[5.2, -0.1, 1.2], [0.2, -1.1, 1.2],
                                                      [0.2, -0.1, 0.2]], atol=1e-12)
    np.testing.assert_allclose(OPTICAL_TO_BODY @ OPTICAL_TO_BODY.T, np.eye(3))
    assert np.linalg.det(OPTICAL_TO_BODY) == pytest.approx(1.0)


def test_yaw_turns_forward_axis_left_and_roll_turns_left_axis_up():
    yawed = RigidTransform.from_camera_pose([0, 0, 0, 0, 0, np.pi / 2])
    np.testing.assert_allclose(yawed.apply(np.array([[0.0, 0.0, 1.0]])), [[0, 1, 0]], atol=1e-12)
    rolled = RigidTransform.from_camera_pose([0, 0, 0, np.pi / 2, 0, 0])
    # optical -x is body +y (left); rolled +90 deg about x, left becomes up
    np.testing.assert_allclose(rolled.apply(np.array([[-1.0, 0.0, 0.0]])), [[0, 0, 1]],
                               atol=1e-12)


def test_rpy_is_fixed_axis_as_tf2_and_matches_the_quaternion_path():
    rng = np.random.default_rng(3)
    for roll, pitch, yaw in rng.uniform(-3, 3, (20, 3)):
        R = rpy_to_matrix(roll, pitch, yaw)
        # extrinsic x-y-z (scipy lowercase) = Rz(yaw) Ry(pitch) Rx(roll) = tf2 setRPY
        np.testing.assert_allclose(R, Rotation.from_euler("xyz", [roll, pitch, yaw]).as_matrix(),
                                   atol=1e-12)
        # tf2's Quaternion::setRPY, written out
        cr, sr = np.cos(roll / 2), np.sin(roll / 2)
        cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
        cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
        q = [sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
             cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy]
        np.testing.assert_allclose(quaternion_to_matrix(q), R, atol=1e-12)


def test_tf_path_takes_the_optical_frame_transform_as_given():
    pose = [1.5, 0.1, 1.0, 0.02, 0.087, -0.1]
    from_param = RigidTransform.from_camera_pose(pose)
    q = Rotation.from_matrix(from_param.R).as_quat()  # x, y, z, w
    from_tf = RigidTransform.from_translation_quaternion(pose[:3], q)
    pts = np.random.default_rng(0).uniform(-5, 20, (10, 3))
    np.testing.assert_allclose(from_tf.apply(pts), from_param.apply(pts), atol=1e-9)
    with pytest.raises(PoseError, match="unit length"):
        RigidTransform.from_translation_quaternion([0, 0, 0], [0, 0, 0, 2.0])


def test_identity_transform_keeps_points_and_their_dtype():
    transform = RigidTransform.identity()
    pts = np.array([[1.0, 2.0, 3.0]], np.float32)
    out = transform.apply(pts)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, pts)


def test_covariance_rotation_keeps_eigenvalues_and_rotates_axes():
    transform = RigidTransform.from_camera_pose([1.0, 0.0, 1.0, 0.05, 0.087, 0.3])
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + 0.01 * np.eye(3)
    out = transform.apply_covariance(cov)
    np.testing.assert_allclose(np.linalg.eigvalsh(out), np.linalg.eigvalsh(cov), rtol=1e-9)
    np.testing.assert_allclose(out, out.transpose(0, 2, 1), atol=1e-12)
    # a depth-only uncertainty (optical z) of a level camera becomes an x-only one
    level = RigidTransform.from_camera_pose([0, 0, 1.0, 0, 0, 0])
    depth_only = np.diag([0.0, 0.0, 0.25])[None].astype(np.float32)
    rotated = level.apply_covariance(depth_only)
    assert rotated.dtype == np.float32
    np.testing.assert_allclose(rotated[0], np.diag([0.25, 0.0, 0.0]), atol=1e-7)


@pytest.mark.parametrize("pose, reason", [
    ([0.0, 0.0, 1.0], "6 numbers"),
    ([0.0] * 7, "6 numbers"),
    ([0.0, 0.0, float("nan"), 0.0, 0.0, 0.0], "finite"),
    ([0.0, 0.0, 1.0, float("inf"), 0.0, 0.0], "finite"),
    (["a", 0, 0, 0, 0, 0], "6 numbers"),
])
def test_invalid_camera_pose_is_refused_with_a_one_line_reason(pose, reason):
    with pytest.raises(PoseError, match=reason) as info:
        RigidTransform.from_camera_pose(pose)
    assert "\n" not in str(info.value)
    assert validate_camera_pose([1, 2, 3, 0, 0, 0]).dtype == np.float64


# --- gates, unit ---------------------------------------------------------------------------

def test_ground_gate_rejects_bases_beyond_the_offset_either_way():
    centres = np.array([[5.0, 0.0, 0.1625], [5.0, 0.0, 0.1625 + 0.2], [5.0, 0.0, 0.1625 + 0.3],
                        [5.0, 0.0, 0.1625 - 0.3], [8.0, 0.0, 0.2525]])
    heights = np.array([0.325, 0.325, 0.325, 0.325, 0.505])
    keep, base = ground_gate(centres, heights, 0.25)
    np.testing.assert_allclose(base, [0.0, 0.2, 0.3, -0.3, 0.0], atol=1e-12)
    assert keep.tolist() == [True, True, False, False, True]
    # a slope tolerance widens the band with range (0.3 m at 5 m passes at tan = 0.02)
    keep, _ = ground_gate(centres, heights, 0.25, max_ground_slope=0.02)
    assert keep.tolist() == [True, True, True, True, True]


def test_size_gate_rejects_boxes_too_big_or_too_small_for_their_depth():
    fy, z = 700.0, np.full(4, 10.0)
    expected = fy * 0.325 / 10.0  # 22.75 px
    hs = np.array([1.0, 1.55, 1.7, 0.55]) * expected
    boxes = np.stack([np.full(4, 600.0), 300 - hs / 2, np.full(4, 610.0), 300 + hs / 2], 1)
    keep, ratio = size_gate(boxes, z, np.full(4, 0.325), fy, 1.6)
    np.testing.assert_allclose(ratio, [1.0, 1.55, 1.7, 0.55], rtol=1e-9)
    assert keep.tolist() == [True, True, False, False]
    # cut by the image's bottom border: too small is no evidence, too big still is
    cut = np.array([[600, 712, 610, 720], [600, 500, 700, 720]], np.float64)
    keep, _ = size_gate(cut, np.full(2, 10.0), np.full(2, 0.325), fy, 1.6, image_height=720)
    assert keep.tolist() == [True, False]
    keep, _ = size_gate(cut, np.full(2, 10.0), np.full(2, 0.325), fy, 1.6)
    assert keep.tolist() == [False, False]


def test_size_gate_slack_keeps_a_far_cone_whose_box_is_a_few_pixels_too_tall():
    # a cone 28 m away at fy 640 is 7.4 px tall; the detector's box for it is 12-14 px
    fy, z = 640.0, np.full(3, 28.0)
    expected = fy * 0.325 / 28.0
    hs = np.array([13.5, expected * 1.6 + 3.5, expected / 1.6 - 3.5])
    boxes = np.stack([np.full(3, 600.0), 370 - hs, np.full(3, 606.0), np.full(3, 370.0)], 1)
    assert size_gate(boxes, z, np.full(3, 0.325), fy, 1.6)[0].tolist() == [False, False, False]
    keep, ratio = size_gate(boxes, z, np.full(3, 0.325), fy, 1.6, slack_px=3.0)
    assert keep.tolist() == [True, False, False]  # 3.5 px beyond either bound: rejected
    assert ratio[0] == pytest.approx(13.5 / expected)
    assert GateConfig().size_slack_px == 3.0
    with pytest.raises(GateConfigError, match="size_slack_px"):
        GateConfig(size_slack_px=-1.0)


def test_apply_gates_counts_each_reason_and_skips_ground_without_a_pose():
    # optical frame, level camera 1.0 m up: a cone centre on the ground is 1.0 - 0.1625 m down
    boxes = np.array([[0, 100, 10, 122.75], [0, 100, 10, 200], [0, 100, 10, 122.75],
                      [0, 100, 10, 200]], float)
    xyz = np.array([[0, 0.8375, 10], [0, 0.8375, 10], [0, -1.0, 10], [0, -1.0, 10]])
    pose = RigidTransform.from_camera_pose([0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    result = apply_gates(xyz, boxes, np.full(4, 0.325), 700.0, pose)
    np.testing.assert_allclose(result.base_height, [0, 0, 1.8375, 1.8375], atol=1e-9)
    assert result.keep.tolist() == [True, False, False, False]
    assert result.counts() == {"rejected_ground": 2, "rejected_size": 2}  # one fails both
    assert result.reasons() == ["", "size", "ground", "ground+size"]
    no_pose = apply_gates(xyz, boxes, np.full(4, 0.325), 700.0)
    assert no_pose.counts() == {"rejected_ground": 0, "rejected_size": 2}
    assert np.isnan(no_pose.base_height).all()
    empty = apply_gates(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros(0), 700.0, pose)
    assert empty.keep.shape == (0,) and empty.counts() == {"rejected_ground": 0,
                                                           "rejected_size": 0}


@pytest.mark.parametrize("kwargs, reason", [({"max_ground_offset": 0.0}, "max_ground_offset"),
                                            ({"max_ground_offset": float("nan")}, "max_ground"),
                                            ({"max_size_ratio": 1.0}, "max_size_ratio"),
                                            ({"max_ground_slope": -0.1}, "max_ground_slope")])
def test_invalid_gate_thresholds_are_refused(kwargs, reason):
    with pytest.raises(GateConfigError, match=reason):
        GateConfig(**kwargs)


# --- gates on synthetic pairs --------------------------------------------------------------

def _gt_detections(scene, idx):
    ones = np.ones(len(idx), np.float32)
    return (Detections(scene.visible_left[idx], ones, scene.class_ids[idx]),
            Detections(scene.visible_right[idx], ones, scene.class_ids[idx]))


def _gate(scene, left, cones, transform):
    return apply_gates(cones.xyz, left.boxes[cones.left_index],
                       heights_of(left.class_ids[cones.left_index]), scene.camera.fy, transform,
                       image_height=scene.camera.height)


def test_no_true_synthetic_cone_up_to_25m_is_rejected_by_either_gate():
    transform = RigidTransform.from_camera_pose(GROUND_POSE)
    checked = whole = 0
    ranges = []
    for seed in SEEDS:
        scene = render_pair(seed)
        idx = np.flatnonzero((scene.visibility >= 0.5).all(1) & (scene.xyz[:, 2] <= 25.0))
        left, right = _gt_detections(scene, idx)
        cones = locate_cones(left, right, scene.camera, StereoConfig(),
                             images=(scene.left, scene.right))
        result = _gate(scene, left, cones, transform)
        truth = scene.xyz[idx[cones.left_index]]
        visibility = scene.visibility[idx[cones.left_index]].min(1)
        # every cone the stereo located (depth within 10 %) passes; so does every cone seen
        # whole in both views, whatever its depth error
        located = np.abs(cones.xyz[:, 2] - truth[:, 2]) <= 0.1 * truth[:, 2]
        must_keep = located | (visibility > 0.99)
        assert result.keep[must_keep].all(), (
            seed, truth[must_keep & ~result.keep], result.base_height[must_keep & ~result.keep],
            result.size_ratio[must_keep & ~result.keep])
        # the ground truth agrees: bases within a few cm, box heights within 25 %
        assert np.abs(result.base_height[located]).max() < 0.15
        assert np.abs(np.log(result.size_ratio[located])).max() < np.log(1.25)
        checked += int(must_keep.sum())
        whole += int((visibility > 0.99).sum())
        ranges.append(truth[must_keep, 2])
        assert located.mean() >= 0.9
    # the loop checked real cones at every range, up to 25 m
    per_bucket = np.histogram(np.concatenate(ranges), [0, 5, 10, 15, 20, 25.01])[0]
    assert checked >= 140 and whole >= 120 and per_bucket.min() >= 15, per_bucket


def test_the_pipeline_locates_cones_with_the_camera_height_its_pose_gives(colour_model):
    """The camera pose's z (the camera's height above the ground of the output frame) sets
    how far below a cone's axis its box centre lies (the base plate seen from above): the
    pipeline's cones with a pose 1.4 m up are locate_cones' with camera_height 1.4 (rows
    moved, nothing else), without a pose and with one that puts the camera below the ground
    the config's own (0.9 m)."""
    from yolo_stereo_trt.backends import load_backend
    from yolo_stereo_trt.core.pipeline import CarGeometry, StereoPipeline
    from yolo_stereo_trt.core.postprocess import DecodeConfig
    scene = render_pair(7)
    backend = load_backend(colour_model, device="cpu")
    try:
        pipeline = StereoPipeline(backend)
        located = {}
        for name, pose in (("none", None), ("up", [0.5, 0.0, 1.4, 0.0, 0.05, 0.0]),
                           ("below", [0.0, 0.0, -0.2, 0.0, 0.0, 0.0])):
            geometry = CarGeometry(RigidTransform.from_camera_pose(pose) if pose else None)
            located[name] = pipeline.process(scene.left, scene.right, DecodeConfig(),
                                             scene.camera, StereoConfig(),
                                             geometry=geometry).located
        left, right = pipeline.detect(scene.left, scene.right, DecodeConfig())[0]
    finally:
        backend.close()
    expect = {h: locate_cones(left, right, scene.camera, StereoConfig(camera_height=h),
                              images=(scene.left, scene.right), classes=pipeline.class_map)
              for h in (0.9, 1.4)}
    assert len(expect[1.4]) >= 5
    np.testing.assert_array_equal(located["up"].xyz, expect[1.4].xyz)
    np.testing.assert_array_equal(located["none"].xyz, expect[0.9].xyz)
    np.testing.assert_array_equal(located["below"].xyz, expect[0.9].xyz)
    moved = located["up"].xyz - located["none"].xyz  # lifted only (a box cut at the bottom
    # border is placed from its top, with no offset: not moved)
    assert (moved[:, 1] <= 0).all() and (moved[:, 1] < 0).mean() > 0.5
    assert np.abs(moved[:, [0, 2]]).max() < 1e-6


def test_planted_floating_cone_is_rejected_by_the_ground_gate_only():
    """A real cone's pixels copied 1 m higher in both views: a cone-looking object at the same
    depth with texture for the sub-pixel matcher, floating in the air (a lamp, a sign)."""
    scene = render_pair(SEEDS[0])
    idx = np.flatnonzero((scene.visibility > 0.99).all(1) & (scene.xyz[:, 2] > 6)
                         & (scene.xyz[:, 2] < 12))
    i = int(idx[0])
    z = float(scene.xyz[i, 2])
    shift = int(round(scene.camera.fy * 1.0 / z))  # 1 m higher at this depth
    left, right = scene.left.copy(), scene.right.copy()
    planted = []
    for image, box in ((left, scene.boxes_left[i]), (right, scene.boxes_right[i])):
        x0, y0, x1, y1 = (int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])),
                          int(np.ceil(box[3])))
        image[y0 - shift:y1 - shift, x0:x1] = image[y0:y1, x0:x1]
        planted.append(box - [0, shift, 0, shift])
    keep = np.flatnonzero((scene.visibility >= 0.5).all(1) & (scene.xyz[:, 2] <= 25.0))
    boxes_l = np.vstack([scene.visible_left[keep], planted[0]])
    boxes_r = np.vstack([scene.visible_right[keep], planted[1]])
    classes = np.append(scene.class_ids[keep], scene.class_ids[i])
    ones = np.ones(len(classes), np.float32)
    dl, dr = Detections(boxes_l, ones, classes), Detections(boxes_r, ones, classes)
    cones = locate_cones(dl, dr, scene.camera, StereoConfig(), images=(left, right))
    planted_k = np.flatnonzero(cones.left_index == len(keep))
    assert planted_k.size == 1, "the planted object must be located (matched in both views)"
    assert cones.refined[planted_k[0]] and abs(cones.xyz[planted_k[0], 2] - z) < 0.05 * z
    result = _gate(scene, dl, cones, RigidTransform.from_camera_pose(GROUND_POSE))
    k = planted_k[0]
    assert not result.ground_ok[k] and result.size_ok[k]
    assert 0.8 < result.base_height[k] < 1.2
    assert result.counts()["rejected_ground"] == 1  # nothing else


def test_planted_box_far_too_big_for_its_depth_is_rejected_by_the_size_gate_only():
    """A bodywork-like blob: a box three times a cone's height, standing on the ground at 6 m."""
    scene = render_pair(SEEDS[1])
    cam = scene.camera
    z, x = 6.0, -1.0
    d = cam.fx * cam.baseline / z
    h = 3 * cam.fy * 0.325 / z
    u = cam.cx + cam.fx * x / z
    v = cam.cy + cam.fy * (CAMERA_HEIGHT - 0.1625) / z  # centre where a cone's centre would be
    box_l = np.array([[u - h / 4, v - h / 2, u + h / 4, v + h / 2]], np.float32)
    box_r = box_l - np.array([d, 0, d, 0], np.float32)
    ones = np.ones(1, np.float32)
    dl, dr = Detections(box_l, ones, np.zeros(1, np.int64)), Detections(box_r, ones,
                                                                         np.zeros(1, np.int64))
    cones = locate_cones(dl, dr, cam, StereoConfig(refine=False))
    assert len(cones) == 1 and cones.xyz[0, 2] == pytest.approx(z, rel=1e-4)
    result = _gate(scene, dl, cones, RigidTransform.from_camera_pose(GROUND_POSE))
    assert result.ground_ok.tolist() == [True] and result.size_ok.tolist() == [False]
    assert result.size_ratio[0] == pytest.approx(3.0, rel=1e-3)


# --- self-mask -----------------------------------------------------------------------------

def _mask_png(path, size=(640, 480)):
    w, h = size
    img = np.zeros((h, w), np.uint8)
    img[400:, 200:440] = 255  # the car's nose
    cv2.imwrite(str(path), img)
    return path


def test_mask_drops_boxes_whose_centre_is_white(tmp_path):
    mask = SelfMask.from_params(str(_mask_png(tmp_path / "nose.png")))
    mask.validate(640, 480)
    boxes = np.array([[250, 380, 350, 470],   # centre (300, 425): on the nose
                      [150, 380, 250, 470],   # centre (200, 425): on the nose's left edge
                      [100, 380, 180, 470],   # beside it
                      [250, 300, 350, 390],   # above it
                      [630, 470, 700, 500]])  # centre outside the image: clamped, kept
    assert mask.keep(boxes).tolist() == [False, False, True, True, True]
    assert mask.keep(np.zeros((0, 4))).shape == (0,)


def test_ignore_below_row_drops_boxes_centred_on_or_below_it():
    mask = SelfMask.from_params("", 400)
    mask.validate(640, 480)
    boxes = np.array([[0, 350, 10, 449], [0, 350, 10, 451], [0, 0, 10, 10]], float)
    assert mask.keep(boxes).tolist() == [True, False, True]
    assert SelfMask.from_params("", None) is None and SelfMask.from_params("", -1) is None
    with pytest.raises(MaskError, match="outside"):
        mask.validate(640, 360)


def test_mask_and_row_combine(tmp_path):
    mask = SelfMask.from_params(str(_mask_png(tmp_path / "nose.png")), 460)
    boxes = np.array([[250, 380, 350, 470], [0, 460, 20, 470], [0, 380, 20, 420]], float)
    assert mask.keep(boxes).tolist() == [False, False, True]


def test_mask_of_another_size_or_missing_is_a_one_line_error(tmp_path, monkeypatch):
    mask = SelfMask.from_params(str(_mask_png(tmp_path / "nose.png", (1280, 720))))
    with pytest.raises(MaskError, match="1280x720, the left image is 640x480") as info:
        mask.validate(640, 480)
    assert "\n" not in str(info.value)
    with pytest.raises(MaskError, match="no such file"):
        SelfMask.from_params("masks/absent_nose.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(MaskError, match="not a readable image"):
        SelfMask.from_params(str(tmp_path / "text.png"))
    # a relative path resolves (here from the working directory)
    monkeypatch.chdir(tmp_path)
    assert SelfMask.from_params("nose.png").ignore.shape == (720, 1280)


def test_colour_mask_with_alpha_reads_white_as_ignore(tmp_path):
    img = np.zeros((48, 64, 4), np.uint8)
    img[..., 3] = 255
    img[:, 32:, :3] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), img)
    mask = SelfMask.from_params(str(tmp_path / "rgba.png"))
    assert mask.keep(np.array([[0, 0, 10, 10], [40, 0, 50, 10]], float)).tolist() == [True, False]


# --- the real ZED pair ---------------------------------------------------------------------

@pytest.mark.skipif(not (REAL / "chalmers_zed_hd_left_rect.png").is_file(),
                    reason=f"real pair not present ({REAL}): evaluation data, not shipped")
def test_real_zed_pair_gates_reject_objects_off_the_ground_and_keep_the_near_cones():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "real_pair_gates", Path(__file__).resolve().parents[1] / "scripts" / "real_pair_gates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.run(REAL, module.demo_model_path(), [0.0, 0.0, 1.2, 0.0, 0.0, 0.0],
                        GateConfig(), None, 0.05)  # low threshold: the model's clutter too
    rows = report["rows"]
    # objects whose base floats half a metre or more above the ground: rejected, whatever the
    # model (the first demo model put four "cones" on the car's nose, the second one on a
    # lamp; the shipped one puts none there)
    high = [r for r in rows if r["base"] > 0.5]
    assert not any(r["kept"] for r in high)
    assert all(not r["kept"] for r in rows if r["xyz"][0] < 1.5 or r["xyz"][2] > 1.0)
    # the clearly visible cones at 5-12 m on the ground: kept
    near = [r for r in rows if 5.0 < r["xyz"][0] < 12.0 and r["confidence"] >= 0.5]
    assert near and all(r["kept"] for r in near)
