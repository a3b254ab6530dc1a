"""The randomized synthetic world (issue 14, and the orange and skirts switches of issue 22):
labels and stereo ground truth stay exact, every switch acts and is seeded, and the default
world (and every switch combination without the new switches) is untouched."""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolo_stereo_trt.data.synthetic import CONE_SIZES, default_camera, render_pair
from yolo_stereo_trt.data.synthetic_orange import orange_style
from yolo_stereo_trt.data.synthetic_randomize import SWITCHES, Randomize, render_randomized
from yolo_stereo_trt.data.synthetic_scenery import _box, Item, person
from yolo_stereo_trt.tools.make_synthetic import main as make_synthetic

SMALL = default_camera(320, 180)  # switch tests at 1/16 of the pixels
NONE = Randomize.parse("none")

# The plain world as it was before the randomized world existed (OpenCV 5.0.0 and 5.1.0 render it
# identically), per seed: the scene description (cone positions, classes, full boxes: NumPy
# geometry only) as an exact digest, and for what OpenCV draws a reference file
# (test/data/plain_world_reference.npz: both views at 160x90, INTER_AREA; the visible boxes and
# visibility), compared with a tolerance so that another OpenCV build does not fail it while a
# changed world does. Regenerate with `python test/test_synthetic_randomized.py` (only when the
# plain world is meant to change).
REFERENCE = Path(__file__).resolve().parent / "data" / "plain_world_reference.npz"


def _description(sc) -> str:
    return hashlib.sha256(sc.xyz.tobytes() + sc.class_ids.astype(np.int64).tobytes()
                          + sc.boxes_left.tobytes() + sc.boxes_right.tobytes()).hexdigest()


def _thumbnails(sc) -> dict[str, np.ndarray]:
    return {v: cv2.resize(getattr(sc, v), (160, 90), interpolation=cv2.INTER_AREA)
            for v in ("left", "right")}


def _write_reference() -> None:
    out = {}
    for seed in (0, 7):
        sc = render_pair(seed)
        out[f"{seed}_description"] = np.array(_description(sc))
        out.update({f"{seed}_{v}": img for v, img in _thumbnails(sc).items()})
        out[f"{seed}_visible"] = np.stack([sc.visible_left, sc.visible_right])
        out[f"{seed}_visibility"] = sc.visibility
    np.savez_compressed(REFERENCE, **out)


@pytest.mark.parametrize("seed", [0, 7])
def test_the_plain_world_is_the_one_before_the_randomized_world(seed):
    ref = np.load(REFERENCE)
    sc = render_pair(seed)
    assert _description(sc) == str(ref[f"{seed}_description"])  # geometry: exact
    assert _description(render_pair(seed, randomize=False)) == _description(sc)
    for view, img in _thumbnails(sc).items():  # pixels: within what another OpenCV may change
        diff = np.abs(img.astype(np.int16) - ref[f"{seed}_{view}"])
        # another build's rounding moves a level or two; a cone 10 levels darker shows as 8-16
        assert diff.max() <= 3 and diff.mean() <= 0.25, (view, int(diff.max()), float(diff.mean()))
    visible = np.stack([sc.visible_left, sc.visible_right])
    assert np.abs(visible - ref[f"{seed}_visible"]).max() <= 1.0
    assert np.abs(sc.visibility - ref[f"{seed}_visibility"]).max() <= 0.02


def test_the_same_seed_renders_the_same_pair_twice():
    a, b = render_pair(3), render_pair(3)
    for name in ("left", "right", "xyz", "class_ids", "visible_left", "visible_right",
                 "visibility"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    c = render_pair(3, randomize=Randomize())
    d = render_pair(3, randomize=Randomize())
    assert np.array_equal(c.left, d.left) and np.array_equal(c.right, d.right)


def test_parse_switches_and_refuse_unknown_ones():
    assert Randomize.parse("all").active() == list(SWITCHES)
    assert Randomize().active() == list(SWITCHES)
    assert Randomize.parse("all,-overlays").active() == [s for s in SWITCHES if s != "overlays"]
    assert Randomize.parse("ground,camera", 0.5) == Randomize(0.5, ground=True, clutter=False,
                                                              people=False, bodywork=False,
                                                              cones=False, camera=True,
                                                              optics=False, overlays=False,
                                                              orange=False, skirts=False)
    assert Randomize.parse("all,-orange,-skirts") == Randomize(orange=False, skirts=False)
    assert NONE.active() == []
    with pytest.raises(ValueError, match="unknown randomization switch 'fog'"):
        Randomize.parse("ground,fog")
    with pytest.raises(ValueError, match="strength"):
        Randomize.parse("all", 1.5)


@pytest.mark.parametrize("switch", SWITCHES)
def test_each_switch_changes_the_image_and_is_reproducible_by_seed(switch):
    opts = Randomize.only(switch)
    for seed in range(8):  # bodywork and overlays appear on some frames only
        a = render_pair(seed, SMALL, randomize=opts)
        base = render_pair(seed, SMALL, randomize=NONE)
        if not np.array_equal(a.left, base.left):
            break
    else:
        pytest.fail(f"switch {switch} changed no image in 8 seeds")
    again = render_pair(seed, SMALL, randomize=opts)
    np.testing.assert_array_equal(again.left, a.left)
    np.testing.assert_array_equal(again.right, a.right)
    np.testing.assert_array_equal(again.visible_left, a.visible_left)
    other = render_pair(seed + 100, SMALL, randomize=opts)
    assert not np.array_equal(other.left, a.left)


def _nearest_whole_cone(scene) -> int:
    whole = np.nonzero((scene.visibility > 0.99).all(1))[0]
    assert len(whole)
    return int(whole[np.argmin(scene.xyz[whole, 2])])


def test_a_person_in_front_of_a_cone_shrinks_its_visible_box_and_a_wall_unlabels_it():
    seed = 3
    plain = render_randomized(seed, None, None, 30.0, None, NONE)
    k = _nearest_whole_cone(plain)
    x, _, z = plain.xyz[k]
    ground = plain.camera_height
    # a person 0.8 m nearer the camera, 0.2 m to the side: hides part of the cone
    walker = person(np.random.default_rng(1), float(x) + 0.2, float(z) - 0.8, ground)
    hidden = render_randomized(seed, None, None, 30.0, None, NONE, extra=(walker,))
    np.testing.assert_array_equal(hidden.boxes_left, plain.boxes_left)  # geometry unchanged
    for view, vis_a, vis_b in ((0, plain.visible_left, hidden.visible_left),
                               (1, plain.visible_right, hidden.visible_right)):
        assert hidden.visibility[k, view] < plain.visibility[k, view] - 0.05
        area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
        assert area(vis_b[k]) < area(vis_a[k])
        assert (vis_b[k, :2] >= vis_a[k, :2]).all() and (vis_b[k, 2:] <= vis_a[k, 2:]).all()
        cls, boxes = hidden.labels(view)
        if hidden.visibility[k, view] >= 0.25:  # still labelled: with its visible-part box
            assert any(np.array_equal(b, vis_b[k]) for b in boxes)
    # a wall 1 m in front of the cone: the cone is drawn behind it and not labelled
    wall = Item(_box(float(x), float(z) - 1.0, ground, (1.5, 0.1, 1.5), 0.0, (90, 90, 90)),
                np.array([x, ground - 0.7, z - 1.0]))
    gone = render_randomized(seed, None, None, 30.0, None, NONE, extra=(wall,))
    assert (gone.visibility[k] == 0).all()
    for view in (0, 1):
        cls, boxes = gone.labels(view)
        full = (gone.boxes_left, gone.boxes_right)[view][k]
        assert not any(np.allclose(b, full, atol=1) for b in boxes)
        assert len(boxes) < len(plain.labels(view)[1])


@pytest.fixture(scope="module")
def randomized():
    return [render_pair(s, randomize=Randomize()) for s in (11, 12, 13)]


def test_stereo_ground_truth_is_exact_with_randomization(randomized):
    checked = 0
    for scene in randomized:
        cam = scene.camera
        x, y, z = scene.xyz.T
        for view, boxes, offset in ((0, scene.boxes_left, 0.0),
                                    (1, scene.boxes_right, scene.row_offset)):
            u = cam.cx + cam.fx * (x - view * cam.baseline) / z
            v = cam.cy + offset + cam.fy * y / z
            inside = (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height) & (z > 0.5)
            b = boxes[inside]
            assert ((b[:, 0] <= u[inside]) & (u[inside] <= b[:, 2]) & (b[:, 1] <= v[inside])
                    & (v[inside] <= b[:, 3])).all()
        both = (scene.visibility > 0.99).all(1)
        d_box = ((scene.boxes_left[both, 0] + scene.boxes_left[both, 2]) -
                 (scene.boxes_right[both, 0] + scene.boxes_right[both, 2])) / 2
        expected = cam.fx * cam.baseline / z[both]
        np.testing.assert_allclose(d_box, expected, rtol=0.05, atol=0.05)
        checked += int(both.sum())
    assert checked >= 5


def test_drawn_cones_sit_at_their_true_disparity_in_the_pixels():
    """Geometry switches on, 2D effects off: each whole cone's patch is found in the right
    image at fx B / Z."""
    scene = render_pair(21, randomize=Randomize.parse("all,-optics,-overlays"))
    cam = scene.camera
    gl = cv2.cvtColor(scene.left, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gr = cv2.cvtColor(scene.right, cv2.COLOR_BGR2GRAY).astype(np.float32)
    both = (scene.visibility > 0.99).all(1)
    n = 0
    for (x1, y1, x2, y2), zz in zip(scene.boxes_left[both], scene.xyz[both, 2]):
        if x2 - x1 < 8:
            continue
        d = cam.fx * cam.baseline / zz
        y0, y1_, x0, x1_ = int(y1), int(np.ceil(y2)), int(x1), int(np.ceil(x2))
        patch = gl[y0:y1_, x0:x1_]
        lo = max(x0 - int(d) - 6, 0)
        strip = gr[y0:y1_, lo:x1_ - int(d) + 6]
        score = cv2.matchTemplate(strip, patch, cv2.TM_CCOEFF_NORMED)[0]
        assert abs((x0 - (lo + int(score.argmax()))) - d) <= 1.0
        n += 1
    assert n >= 2


def test_camera_height_and_pitch_vary_and_cones_stay_on_the_ground():
    heights, pitches = [], []
    for seed in range(6):
        scene = render_pair(seed, SMALL, randomize=Randomize.only("camera"))
        rot = scene.camera_rotation
        world = scene.xyz.astype(np.float64) @ rot  # camera -> world (rot is orthonormal)
        cone_h = np.array([CONE_SIZES[int(c)][1] for c in scene.class_ids])
        np.testing.assert_allclose(world[:, 1], scene.camera_height - cone_h / 2, atol=1e-5)
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
        heights.append(scene.camera_height)
        pitches.append(np.degrees(np.arcsin(rot[2, 1])))
        # the cone's ground contact point projects onto the bottom of its box
        cam = scene.camera
        base = np.column_stack([world[:, 0], np.full(len(world), scene.camera_height),
                                world[:, 2]]) @ rot.T
        v = cam.cy + cam.fy * base[:, 1] / base[:, 2]
        seen = (scene.visibility[:, 0] > 0.99) & (v < cam.height - 1)
        assert (np.abs(scene.boxes_left[seen, 3] - v[seen]) < 0.12 * (
            scene.boxes_left[seen, 3] - scene.boxes_left[seen, 1]) + 1.5).all()
    assert 0.5 <= min(heights) and max(heights) <= 1.5 and max(heights) - min(heights) > 0.2
    assert max(pitches) - min(pitches) > 1.0


def test_make_synthetic_randomize_writes_the_randomized_labels(tmp_path):
    import json
    out = tmp_path / "rand"
    assert make_synthetic(["--out", str(out), "--pairs", "2", "--seed", "5", "--split", "train",
                           "--no-bag", "--randomize", "--workers", "2", "--width", "320",
                           "--height", "180"]) == 0
    gt = json.loads((out / "ground_truth_train.json").read_text())
    assert gt["randomize"]["switches"] == list(SWITCHES)
    scene = render_pair(6, SMALL, randomize=Randomize())
    assert gt["pairs"][1]["camera"]["fx"] == pytest.approx(scene.camera.fx)
    labels = np.loadtxt(out / "labels" / "train" / "00001_left.txt", ndmin=2)
    cls, boxes = scene.labels(0)
    assert labels.shape == (len(cls), 5)
    np.testing.assert_array_equal(labels[:, 0], cls)
    np.testing.assert_allclose(labels[:, 1] * 320, (boxes[:, 0] + boxes[:, 2]) / 2, atol=1e-3)
    with pytest.raises(SystemExit):
        make_synthetic(["--out", str(out), "--randomize", "--bag", "mcap"])
    with pytest.raises(SystemExit):
        make_synthetic(["--out", str(out), "--randomize", "ground,fog"])


# --- issue 22: the orange and skirts switches ----------------------------------------------

ISSUE14 = Randomize.parse("all,-orange,-skirts")
# The randomized world as it was before the orange and skirts switches existed, per
# (switch, seed) at 320x180: the scene description digest and grey 160x90 views, the visible
# boxes and visibility, rendered by the code before those switches
# (test/data/randomized_world_reference.npz); compared as the plain world's reference is.
RANDOMIZED_REFERENCE = Path(__file__).resolve().parent / "data" / "randomized_world_reference.npz"


@pytest.mark.parametrize("switch,seed", [("all", 0), ("all", 1), ("cones", 0), ("camera", 0)])
def test_without_orange_and_skirts_every_switch_renders_as_before_they_existed(switch, seed):
    ref = np.load(RANDOMIZED_REFERENCE)
    key = f"{switch}_{seed}"
    opts = ISSUE14 if switch == "all" else Randomize.only(switch)
    sc = render_pair(seed, SMALL, randomize=opts)
    assert _description(sc) == str(ref[f"{key}_description"])
    for view in ("left", "right"):
        grey = cv2.cvtColor(cv2.resize(getattr(sc, view), (160, 90), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2GRAY)
        diff = np.abs(grey.astype(np.int16) - ref[f"{key}_{view}"])
        assert diff.max() <= 3 and diff.mean() <= 0.25, (key, view, int(diff.max()))
    visible = np.stack([sc.visible_left, sc.visible_right])
    assert np.abs(visible - ref[f"{key}_visible"]).max() <= 1.0
    assert np.abs(sc.visibility - ref[f"{key}_visibility"]).max() <= 0.02


def _orange_labels(opts, seeds) -> tuple[float, float]:
    """Mean labelled small + large orange cones per view, and mean labelled large orange cones
    beyond 10 m per frame (left view)."""
    per_view, far = 0, 0
    for seed in seeds:
        sc = render_pair(seed, SMALL, randomize=opts)
        for view in (0, 1):
            cls, _ = sc.labels(view)
            per_view += int(np.isin(cls, (2, 3)).sum())
        labelled = (sc.visibility[:, 0] >= 0.25)
        far += int(((sc.class_ids == 3) & labelled & (sc.xyz[:, 2] > 10)).sum())
    return per_view / (2 * len(seeds)), far / len(seeds)


def test_the_orange_switch_labels_more_orange_cones_and_large_ones_far_away():
    seeds = range(16)
    off, far_off = _orange_labels(NONE, seeds)
    on, far_on = _orange_labels(Randomize.only("orange"), seeds)
    assert on >= off + 1.5 and on >= 2 * off
    assert far_on >= 1.0 and far_on > 3 * far_off  # the issue-14 world hardly had any
    # the track itself is the same: every cone of the plain layout is still there, in place
    plain = render_pair(3, SMALL, randomize=NONE)
    more = render_pair(3, SMALL, randomize=Randomize.only("orange"))
    n = len(plain.class_ids)
    np.testing.assert_array_equal(more.xyz[:n, [0, 2]], plain.xyz[:, [0, 2]])
    assert len(more.class_ids) >= n


def test_orange_cones_keep_exact_labels_and_their_class_height():
    """Slimmer bodies and new stripes change no geometry the labels carry: each whole orange
    cone's box holds its projected axis point in both views, sits at its true disparity, and is
    as tall as the class's height at its depth."""
    checked = 0
    for seed in range(6):
        sc = render_pair(seed, randomize=Randomize.only("orange"))
        cam = sc.camera
        x, y, z = sc.xyz.T
        whole = (sc.visibility > 0.99).all(1) & np.isin(sc.class_ids, (2, 3)) & (z > 4)
        for view, boxes, offset in ((0, sc.boxes_left, 0.0), (1, sc.boxes_right, sc.row_offset)):
            u = cam.cx + cam.fx * (x - view * cam.baseline) / z
            v = cam.cy + offset + cam.fy * y / z
            b = boxes[whole]
            assert ((b[:, 0] <= u[whole]) & (u[whole] <= b[:, 2]) & (b[:, 1] <= v[whole])
                    & (v[whole] <= b[:, 3])).all()
        d_box = ((sc.boxes_left[whole, 0] + sc.boxes_left[whole, 2])
                 - (sc.boxes_right[whole, 0] + sc.boxes_right[whole, 2])) / 2
        np.testing.assert_allclose(d_box, cam.fx * cam.baseline / z[whole], rtol=0.05, atol=0.05)
        height = np.array([CONE_SIZES[int(c)][1] for c in sc.class_ids[whole]])
        h_box = sc.boxes_left[whole, 3] - sc.boxes_left[whole, 1]
        np.testing.assert_allclose(h_box, cam.fy * height / z[whole], rtol=0.12, atol=1.5)
        # the visible box of an unoccluded cone is its whole box
        np.testing.assert_allclose(sc.visible_left[whole], sc.boxes_left[whole], atol=1.5)
        checked += int(whole.sum())
    assert checked >= 8


def test_orange_styles_span_red_to_yellow_orange_never_yellow_with_one_or_two_bands():
    rng = np.random.default_rng(0)
    styles = [orange_style(rng, c, 1.0) for c in (2, 3) * 150]
    hues = []
    for st in styles:
        bgr = np.clip(st.body / max(st.body.max(), 1) * 255, 0, 255).astype(np.uint8)
        hues.append(2.0 * cv2.cvtColor(bgr[None, None], cv2.COLOR_BGR2HSV)[0, 0, 0])
    hues = np.array(hues)
    assert hues.min() < 10 and hues.max() > 24 and hues.max() <= 34  # yellow cones are ~53 deg
    assert {len(st.stripes) for st in styles} == {1, 2}
    assert {st.kind for st in styles} == {"fsg", "two_stripes", "traffic"}
    traffic = [st for st in styles if st.kind == "traffic"]
    assert max(st.radius for st in traffic) < 0.42  # slimmer than the issue-14 body
    dark = [st for st in styles if st.body.max() < 0.8 * 215]  # in shade
    assert 0.1 < len(dark) / len(styles) < 0.5
    for st in styles:
        assert all(0 < lo < hi < 1 for lo, hi in st.stripes)


def test_skirts_recolour_the_base_and_leave_every_label_unchanged():
    brighter = 0
    for seed in range(4):
        plain = render_pair(seed, randomize=NONE)
        skirt = render_pair(seed, randomize=Randomize.only("skirts"))
        for a, b in ((plain.visible_left, skirt.visible_left), (plain.visibility,
                                                                 skirt.visibility),
                     (plain.xyz, skirt.xyz), (plain.class_ids, skirt.class_ids)):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(plain.left, skirt.left)
        whole = np.flatnonzero((plain.visibility[:, 0] > 0.99)
                               & (plain.boxes_left[:, 3] - plain.boxes_left[:, 1] > 24))
        for i in whole:  # the bottom rows of the box: the base plate
            x1, y1, x2, y2 = plain.boxes_left[i].astype(int)
            rows = slice(y2 - max(2, (y2 - y1) // 12), y2)
            cols = slice((x1 + x2) // 2 - 2, (x1 + x2) // 2 + 3)
            if skirt.left[rows, cols].mean() > plain.left[rows, cols].mean() + 25:
                brighter += 1
    assert brighter >= 2


if __name__ == "__main__":
    _write_reference()
