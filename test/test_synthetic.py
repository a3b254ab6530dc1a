"""The synthetic world's ground truth, the YOLO dataset and the rosbag2 files it writes."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

from yolo_stereo_trt.data.synthetic import (CAMERA_HEIGHT, CONE_SIZES, default_camera,
                                       projection_matrices, render_pair)
from yolo_stereo_trt.tools.make_synthetic import main as make_synthetic

SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def many():
    return [render_pair(s) for s in range(10)]


@pytest.fixture(scope="module")
def scenes(many):
    return many[:len(SEEDS)]


def test_rendering_is_deterministic_by_seed(scenes):
    again = render_pair(SEEDS[0])
    np.testing.assert_array_equal(again.left, scenes[0].left)
    np.testing.assert_array_equal(again.xyz, scenes[0].xyz)
    assert not np.array_equal(scenes[1].left, scenes[0].left)


def test_projected_cones_lie_inside_their_boxes(scenes):
    for scene in scenes:
        cam = scene.camera
        x, y, z = scene.xyz.T
        heights = np.array([CONE_SIZES[int(c)][1] for c in scene.class_ids])
        assert np.allclose(y, CAMERA_HEIGHT - heights / 2)  # on the ground, at half height
        for view, boxes, offset in ((0, scene.boxes_left, 0.0),
                                    (1, scene.boxes_right, scene.row_offset)):
            u = cam.cx + cam.fx * (x - view * cam.baseline) / z
            v = cam.cy + offset + cam.fy * y / z
            inside = (u >= cam.width * 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
            b = boxes[inside]
            assert ((b[:, 0] <= u[inside]) & (u[inside] <= b[:, 2]) & (b[:, 1] <= v[inside])
                    & (v[inside] <= b[:, 3])).all()
            # visible parts lie inside the whole boxes
            vis = (scene.visible_left, scene.visible_right)[view]
            seen = scene.visibility[:, view] > 0
            assert (vis[seen, :2] >= boxes[seen, :2] - 1).all()
            assert (vis[seen, 2:] <= boxes[seen, 2:] + 1).all()


def test_disparity_equals_fx_b_over_z(scenes):
    for scene in scenes:
        cam = scene.camera
        both = (scene.visibility > 0.99).all(1)  # whole in both views: box edges are exact
        assert both.sum() >= 3
        d_box = ((scene.boxes_left[both, 0] + scene.boxes_left[both, 2]) -
                 (scene.boxes_right[both, 0] + scene.boxes_right[both, 2])) / 2
        z = scene.xyz[both, 2]
        expected = cam.fx * cam.baseline / z
        # beyond 5 m the silhouette shifts as a whole; nearer, the base plate's corners are seen
        # from two viewpoints (a 3D object, not a sprite) and move the box centre a little
        far = z > 5
        np.testing.assert_allclose(d_box[far], expected[far], atol=0.05)
        np.testing.assert_allclose(d_box, expected, rtol=0.04)
        # the rendered pixels: the cone's patch is found in the right image at that disparity
        gl = cv2.cvtColor(scene.left, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gr = cv2.cvtColor(scene.right, cv2.COLOR_BGR2GRAY).astype(np.float32)
        for (x1, y1, x2, y2), d in zip(scene.boxes_left[both], expected):
            if x2 - x1 < 8:
                continue
            y0, y1_, x0, x1_ = int(y1), int(np.ceil(y2)), int(x1), int(np.ceil(x2))
            patch = gl[y0:y1_, x0:x1_]
            lo = max(x0 - int(d) - 6, 0)
            strip = gr[y0:y1_, lo:x1_ - int(d) + 6]
            score = cv2.matchTemplate(strip, patch, cv2.TM_CCOEFF_NORMED)[0]
            assert abs((x0 - (lo + int(score.argmax()))) - d) <= 1.0


def test_scenes_cover_the_classes_ranges_and_residual(many):
    classes, ranges, offsets = set(), [], []
    for s in many:
        classes |= set(s.class_ids.tolist())
        ranges += s.xyz[:, 2].tolist()
        offsets.append(s.row_offset)
    assert classes == {0, 1, 2, 3, 4}
    assert min(ranges) < 4 and max(ranges) > 25
    assert 0 < max(abs(o) for o in offsets) <= 0.3


def test_occluded_cones_have_smaller_visible_boxes(many):
    partly = 0
    for s in many:
        occluded = (s.visibility[:, 0] > 0) & (s.visibility[:, 0] < 0.9)
        area_vis = np.prod(s.visible_left[occluded, 2:] - s.visible_left[occluded, :2], 1)
        area_all = np.prod(s.boxes_left[occluded, 2:] - s.boxes_left[occluded, :2], 1)
        w = s.boxes_left[occluded, 2:] - s.boxes_left[occluded, :2]
        assert (area_vis <= np.prod(w + 2, 1)).all()  # pixel extents vs exact projections
        half = s.visibility[occluded, 0] < 0.5
        assert (area_vis[half] < area_all[half]).all()
        partly += int(occluded.sum())
    assert partly > 0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert make_synthetic(["--out", str(out), "--pairs", "3", "--seed", "40", "--split", "val",
                           "--bag", "mcap,sqlite3", "--workers", "1", "--rate", "5"]) == 0
    return out


def test_yolo_dataset_labels_match_the_ground_truth(dataset):
    data = yaml.safe_load((dataset / "data.yaml").read_text())
    assert data["val"] == "images/val" and data["names"][3] == "large_orange_cone"
    gt = json.loads((dataset / "ground_truth_val.json").read_text())
    assert len(gt["pairs"]) == 3 and gt["camera"]["baseline"] == pytest.approx(0.12)
    scene = render_pair(40)
    for view, name in ((0, "left"), (1, "right")):
        img = cv2.imread(str(dataset / "images" / "val" / f"00000_{name}.jpg"))
        assert img.shape == (720, 1280, 3)
        assert np.abs(img.astype(int) - (scene.left, scene.right)[view]).mean() < 6  # JPEG
        labels = np.loadtxt(dataset / "labels" / "val" / f"00000_{name}.txt", ndmin=2)
        cls, boxes = scene.labels(view)
        assert labels.shape == (len(cls), 5)
        np.testing.assert_array_equal(labels[:, 0], cls)
        np.testing.assert_allclose(labels[:, 1] * 1280, (boxes[:, 0] + boxes[:, 2]) / 2,
                                   atol=1e-3)
        np.testing.assert_allclose(labels[:, 4] * 720, boxes[:, 3] - boxes[:, 1], atol=1e-3)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_reads_back_with_types_and_stamps(dataset, storage):
    from yolo_stereo_trt.data.bags import FRAME_IDS, read_bag
    gt = json.loads((dataset / "ground_truth_val.json").read_text())
    stamps = [p["stamp_ns"] for p in gt["pairs"]]
    assert np.allclose(np.diff(stamps), 0.2e9)
    seen: dict[str, list[int]] = {}
    cam = default_camera()
    p_left, p_right = projection_matrices(cam)
    scene = render_pair(40)
    for item in read_bag(dataset / f"val_{storage}"):
        seen.setdefault(item.topic, []).append(item.stamp_ns)
        header = item.msg.header
        assert header.stamp.sec * 10**9 + header.stamp.nanosec == item.stamp_ns
        side = 0 if item.topic.startswith("left") else 1
        assert header.frame_id == FRAME_IDS[side]
        if item.msgtype == "sensor_msgs/msg/Image":
            assert item.msg.encoding == "bgr8" and item.msg.step == 1280 * 3
            if item.stamp_ns == stamps[0]:
                img = item.msg.data.reshape(720, 1280, 3)
                np.testing.assert_array_equal(img, (scene.left, scene.right)[side])
        elif item.msgtype == "sensor_msgs/msg/CameraInfo":
            np.testing.assert_allclose(item.msg.p, (p_left, p_right)[side])
            assert (item.msg.width, item.msg.height) == (1280, 720)
        else:
            assert item.msgtype == "sensor_msgs/msg/CompressedImage"
            img = cv2.imdecode(item.msg.data, cv2.IMREAD_COLOR)
            assert img.shape == (720, 1280, 3)
    assert set(seen) == {"left/image_raw", "right/image_raw", "left/camera_info",
                         "right/camera_info", "left/image_raw/compressed",
                         "right/image_raw/compressed"}
    assert all(v == stamps for v in seen.values())


def test_refuses_to_overwrite_a_bag(dataset, capsys):
    assert make_synthetic(["--out", str(dataset), "--pairs", "1", "--split", "val",
                           "--bag", "mcap", "--no-images"]) == 2
    assert "exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_synthetic(["--out", str(dataset), "--bag", "rosbag1"])


def test_evaluation_of_the_ground_truth_itself_is_perfect(dataset):
    """evaluate's library path: labels fed back as detections score mAP 1 in every bucket that
    has cones; dropping the far ones lowers recall only there."""
    from yolo_stereo_trt.data.evaluation import coco_evaluate, load_split
    from yolo_stereo_trt.core.classes import FSOCO_NAMES
    from yolo_stereo_trt.core.postprocess import Detections
    items, fy = load_split(dataset / "data.yaml", "val")
    assert len(items) == 6 and fy == pytest.approx(640.0)
    assert all(i.ranges is not None and (i.ranges > 0).all() for i in items if len(i.boxes))
    perfect = [Detections(i.boxes, np.ones(len(i.boxes), np.float32), i.class_ids) for i in items]
    result = coco_evaluate(items, perfect, FSOCO_NAMES, fy)
    assert result.map50 == pytest.approx(1.0) and result.instances == sum(len(i.boxes) for i in items)
    assert [r["range"] for r in result.per_range][0] == "0-5 m"
    near = [Detections(i.boxes[i.ranges < 10], np.ones(int((i.ranges < 10).sum()), np.float32),
                       i.class_ids[i.ranges < 10]) for i in items]
    partial = coco_evaluate(items, near, FSOCO_NAMES, fy)
    by_range = {r["range"]: r for r in partial.per_range}
    assert by_range["0-5 m"]["recall50"] == pytest.approx(1.0)
    assert by_range["20-25 m"]["recall50"] == pytest.approx(0.0)
    assert partial.map50 < 1.0


def test_per_class_rows_follow_the_class_names_and_a_class_without_labels_gets_its_own_empty_row(
        dataset):
    """A split that lacks a class (here: every yellow label removed): faster-coco-eval's per-class
    list leaves that class out, so rows taken by position would shift onto the next class. Each
    class keeps its own count and metrics; the class without labels reads 0 and n/a."""
    from yolo_stereo_trt.core.classes import FSOCO_NAMES
    from yolo_stereo_trt.core.postprocess import Detections
    from yolo_stereo_trt.data.evaluation import coco_evaluate, format_result, load_split
    items, fy = load_split(dataset / "data.yaml", "val")
    yellow = FSOCO_NAMES.index("yellow_cone")
    for item in items:
        keep = item.class_ids != yellow
        item.class_ids, item.boxes = item.class_ids[keep], item.boxes[keep]
        item.ranges = item.ranges[keep] if item.ranges is not None else None
    counts = np.bincount(np.concatenate([i.class_ids for i in items]), minlength=5)
    assert counts[yellow] == 0 and (counts[:yellow] > 0).any() and (counts[yellow + 1:] > 0).any()
    # detections: every label found, plus a false yellow detection where there is no yellow label
    dets = [Detections(np.vstack([i.boxes, [[0, 0, 10, 10]]]).astype(np.float32),
                       np.ones(len(i.boxes) + 1, np.float32), np.append(i.class_ids, yellow))
            for i in items]
    result = coco_evaluate(items, dets, FSOCO_NAMES, fy)
    rows = {r["class"]: r for r in result.per_class}
    assert [r["class"] for r in result.per_class] == list(FSOCO_NAMES)  # no "all", no shift
    assert [rows[n]["instances"] for n in FSOCO_NAMES] == counts.tolist()
    assert rows["yellow_cone"]["instances"] == 0
    assert all(np.isnan(rows["yellow_cone"][k]) for k in ("map50", "map50_95", "precision", "recall"))
    for name, n in zip(FSOCO_NAMES, counts):
        if n:
            assert rows[name]["map50"] == pytest.approx(1.0) and rows[name]["recall"] == 1.0, name
    table = format_result(result)
    assert "| yellow_cone | 0 | n/a | n/a | n/a | n/a |" in table
