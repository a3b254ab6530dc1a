"""Class meaning by NAME (one cone-type table), and every common YOLO head decided at load.

Renumbered twins are real ONNX graph changes: a Gather picks output0's class rows in another
order and the names metadata is rewritten (what a model trained on another data.yaml order
gives). YOLOv5-layout stand-ins are graph changes of the generated stand-in model: transpose
to [B, N, ...], an objectness column, padding to 3 anchors per cell, YOLOv5's metadata.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from std_msgs.msg import Header

from yolo_stereo_trt.backends import load_backend
from yolo_stereo_trt.core.classes import (CONE_TYPE_TABLE, CONE_TYPES, FSOCO_NAMES, ClassMap,
                                          type_of_name)
from yolo_stereo_trt.core.metadata import ModelConfigError
from yolo_stereo_trt.core.pipeline import StereoPipeline
from yolo_stereo_trt.core.postprocess import (DecodeConfig, anchor_count, decide_head, decode,
                                              model_strides)
from yolo_stereo_trt.core.preprocess import LetterboxGeometry
from yolo_stereo_trt.core.visualize import draw_detections
from yolo_stereo_trt.data.evaluation import ClassMatchError, match_classes
from yolo_stereo_trt.data.synthetic import render_pair
from yolo_stereo_trt.ros.messages import cones_to_markers

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "yolo12n_synthetic_cones.onnx"
CONVERTER = ["yellow_cone", "blue_cone", "orange_cone", "large_orange_cone", "unknown_cone"]
ALPHABETICAL = sorted(FSOCO_NAMES)
TEN = ["seg_orange_cone", "seg_large_orange_cone", "seg_yellow_cone", "seg_unknown_cone",
       "seg_blue_cone", "orange_cone", "large_orange_cone", "blue_cone", "yellow_cone",
       "unknown_cone"]
BLUE = CONE_TYPE_TABLE[CONE_TYPES.index("blue")].colour_bgr


# --- graph changes -------------------------------------------------------------------------

def _detach_output(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str, str]:
    """A copy whose graph computes the old output0 as 'output0_orig' (output0 to be rebuilt)."""
    m = copy.deepcopy(model)
    out = m.graph.output[0].name
    old = f"{out}_before{len(m.graph.node)}"  # unique when graph changes are chained
    for node in m.graph.node:
        node.output[:] = [old if o == out else o for o in node.output]
        node.input[:] = [old if i == out else i for i in node.input]
    return m, out, old


def _set_meta(m: onnx.ModelProto, meta: dict[str, str] | None) -> None:
    del m.metadata_props[:]
    for key, value in (meta or {}).items():
        m.metadata_props.add(key=key, value=value)


def gather_classes(model: onnx.ModelProto, rows: list[int], names: list[str]
                   ) -> onnx.ModelProto:
    """output0 [B, 4+nc, N] -> [B, 4+len(rows), N]: new class k = old class rows[k]."""
    m, out, old = _detach_output(model)
    idx = np.array([0, 1, 2, 3] + [4 + r for r in rows], np.int64)
    rows_name = f"class_rows{len(m.graph.node)}"
    m.graph.initializer.append(numpy_helper.from_array(idx, rows_name))
    m.graph.node.append(helper.make_node("Gather", [old, rows_name], [out], axis=1))
    m.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 4 + len(rows)
    meta = {p.key: p.value for p in model.metadata_props}
    meta["names"] = str(dict(enumerate(names)))
    _set_meta(m, meta)
    return m


def renumbered(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """The same detector with its classes in the order of ``names``."""
    own = [p.value for p in model.metadata_props if p.key == "names"][0]
    own_names = list(eval(own).values())  # noqa: S307 - our own test metadata
    return gather_classes(model, [own_names.index(n) for n in names], names)


def to_yolov5(model: onnx.ModelProto, meta: dict[str, str] | None) -> onnx.ModelProto:
    """Ultralytics [B, 4+nc, N] -> YOLOv5 [B, 3N, 5+nc]: objectness 0.5 and class scores x2
    (their product is the original score, exactly), 2N anchors that never fire appended."""
    m, out, old = _detach_output(model)
    dims = m.graph.output[0].type.tensor_type.shape.dim
    b, c, n = (d.dim_value for d in dims)
    inits = {"v5_b0": [0], "v5_b1": [4], "v5_c0": [4], "v5_c1": [c], "v5_ax": [2]}
    for name, value in inits.items():
        m.graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    m.graph.initializer.extend([
        numpy_helper.from_array(np.array(2.0, np.float32), "v5_two"),
        numpy_helper.from_array(np.full((b, n, 1), 0.5, np.float32), "v5_obj"),
        numpy_helper.from_array(np.zeros((b, 2 * n, c + 1), np.float32), "v5_pad")])
    m.graph.node.extend([
        helper.make_node("Transpose", [old], ["v5_t"], perm=[0, 2, 1]),
        helper.make_node("Slice", ["v5_t", "v5_b0", "v5_b1", "v5_ax"], ["v5_box"]),
        helper.make_node("Slice", ["v5_t", "v5_c0", "v5_c1", "v5_ax"], ["v5_cls"]),
        helper.make_node("Mul", ["v5_cls", "v5_two"], ["v5_cls2"]),
        helper.make_node("Concat", ["v5_box", "v5_obj", "v5_cls2"], ["v5_rows"], axis=2),
        helper.make_node("Concat", ["v5_rows", "v5_pad"], [out], axis=1)])
    dims[1].dim_value, dims[2].dim_value = 3 * n, c + 1
    _set_meta(m, meta)
    onnx.checker.check_model(m)
    return m


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> onnx.ModelProto:
    from yolo_stereo_trt.data.standin_model import build_demo_model
    return build_demo_model((640, 640), 2)


@pytest.fixture(scope="module")
def scene():
    return render_pair(7)


def run(path: Path, scene, config: DecodeConfig = DecodeConfig(), **kwargs):
    backend = load_backend(path, device="cpu")
    try:
        pipeline = StereoPipeline(backend, **kwargs)
        return pipeline, pipeline.process(scene.left, scene.right, config, scene.camera)
    finally:
        backend.close()


def assert_same_detections(a, b):
    for da, db in zip(a, b):
        np.testing.assert_array_equal(da.boxes, db.boxes)
        np.testing.assert_array_equal(da.scores, db.scores)
        np.testing.assert_array_equal(da.class_ids, db.class_ids)


# --- the cone-type table and names ---------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("blue_cone", "blue"), ("Blue", "blue"), ("seg_blue_cone", "blue"), ("BLUE-CONE", "blue"),
    ("yellow", "yellow"), ("orange_cone", "orange"), ("orange", "orange"),
    ("large_orange_cone", "large_orange"), ("big_orange", "large_orange"),
    ("orange_big", "large_orange"), ("Large_Orange", "large_orange"),
    ("seg_large_orange_cone", "large_orange"), ("unknown_cone", "unknown"),
    ("traffic_sign", None), ("cone", None)])
def test_class_names_map_to_cone_types_whatever_the_spelling(name, expected):
    assert type_of_name(name) == expected


@pytest.mark.parametrize("names", [list(FSOCO_NAMES), CONVERTER, ALPHABETICAL, TEN])
def test_every_class_order_gives_each_class_its_named_type_colour_and_height(names):
    classes = ClassMap(names)
    ids = np.arange(len(names))
    expected = [type_of_name(n) for n in names]
    assert classes.types_of(ids).tolist() == expected
    blue = names.index("blue_cone")
    assert tuple(classes.colours_of([blue])[0]) == BLUE
    large = names.index("large_orange_cone")
    assert classes.heights_of([large])[0] == pytest.approx(0.505)
    assert classes.heights_of([blue])[0] == pytest.approx(0.325)
    assert classes.types_of([len(names), -1]).tolist() == ["unknown", "unknown"]  # out of range


def test_class_types_override_by_name_by_id_or_one_per_class_and_refuses_mistakes():
    names = ["cone_b", "cone_y", "marker", "orange_cone"]
    assert ClassMap(names).types == ("unknown",) * 3 + ("orange",)
    assert ClassMap(names).unmapped == ("cone_b", "cone_y", "marker")
    fixed = ClassMap(names, ["cone_b:blue", "CONE_Y:yellow", "2:big_orange"])
    assert fixed.types == ("blue", "yellow", "large_orange", "orange") and not fixed.unmapped
    per_class = ClassMap(names, ["blue", "yellow", "unknown", "orange"])
    assert per_class.types == ("blue", "yellow", "unknown", "orange")
    for bad in (["cone_x:blue"], ["cone_b:purple"], ["blue", "yellow"], ["cone_b:blue", "blue"],
                ["9:blue"]):
        with pytest.raises(ModelConfigError):
            ClassMap(names, bad)


def test_describe_gives_id_name_type_lines_and_lists_unmapped_names_once():
    lines = ClassMap(["yellow_cone", "blue_cone", "sign", "sign2"]).describe()
    assert lines[:2] == ["class 0 -> yellow_cone -> yellow", "class 1 -> blue_cone -> blue"]
    assert lines[2] == "class 2 -> sign -> unknown" and len(lines) == 5
    assert "sign, sign2" in lines[4] and "class_types" in lines[4]


# --- renumbered twins of the shipped model --------------------------------------------------

@pytest.fixture(scope="module")
def shipped_twins(tmp_path_factory):
    if not SHIPPED.is_file():
        pytest.skip(f"{SHIPPED} is absent")
    out = tmp_path_factory.mktemp("twins")
    model = onnx.load(str(SHIPPED))
    return {"package": SHIPPED,
            "converter": save(renumbered(model, CONVERTER), out / "converter.onnx"),
            "alphabetical": save(renumbered(model, ALPHABETICAL), out / "alphabetical.onnx")}


def _markers(cones, classes):
    return [(m.id, m.text, round(m.color.r, 6), round(m.color.g, 6), round(m.color.b, 6),
             m.scale.x, m.scale.y, [(p.x, p.y, p.z) for p in m.points])
            for m in cones_to_markers(cones, Header(frame_id="left"), 0.5, classes).markers]


def test_shipped_model_renumbered_gives_identical_cones_colours_markers_and_debug_image(
        shipped_twins, scene):
    ref_pipe, ref = run(shipped_twins["package"], scene)
    assert len(ref.cones) > 3 and {"blue", "yellow"} <= set(
        ref_pipe.class_map.types_of(ref.cones.class_ids).tolist())
    ref_image = draw_detections(scene.left, ref.left, ref_pipe.class_map)
    for order in ("converter", "alphabetical"):
        pipe, res = run(shipped_twins[order], scene)
        assert pipe.class_names == (CONVERTER if order == "converter" else ALPHABETICAL)
        np.testing.assert_array_equal(res.cones.xyz, ref.cones.xyz)
        assert [pipe.class_names[c] for c in res.cones.class_ids] == \
            [ref_pipe.class_names[c] for c in ref.cones.class_ids]
        assert not np.array_equal(res.cones.class_ids, ref.cones.class_ids)  # other ids
        np.testing.assert_array_equal(pipe.class_map.colours_of(res.cones.class_ids),
                                      ref_pipe.class_map.colours_of(ref.cones.class_ids))
        assert _markers(res.cones, pipe.class_map) == _markers(ref.cones, ref_pipe.class_map)
        np.testing.assert_array_equal(draw_detections(scene.left, res.left, pipe.class_map),
                                      ref_image)


@pytest.fixture(scope="module")
def synth_val(tmp_path_factory):
    from yolo_stereo_trt.tools.make_synthetic import main as make_synthetic
    out = tmp_path_factory.mktemp("synth_val")
    assert make_synthetic(["--out", str(out), "--pairs", "2", "--seed", "300", "--split", "val",
                           "--workers", "1"]) == 0
    return out / "data.yaml"


def test_evaluate_by_name_gives_identical_figures_for_renumbered_twins(shipped_twins, synth_val):
    from yolo_stereo_trt.tools.evaluate import evaluate_model
    ref, info = evaluate_model(shipped_twins["package"], synth_val, progress=False, device="cpu")
    assert ref.map50 > 0.2 and ref.per_range  # the synthetic split's range buckets too
    assert all("(by name)" in line for line in info["classes"])
    for order in ("converter", "alphabetical"):
        result, info = evaluate_model(shipped_twins[order], synth_val, progress=False,
                                      device="cpu")
        assert repr(result.as_dict()) == repr(ref.as_dict()), order  # (nan == nan here)
        assert "model 0 yellow_cone = dataset 1 yellow_cone (by name)" in info["classes"] \
            or order != "converter"


def test_class_matching_by_name_then_type_reports_and_refuses_when_nothing_matches():
    match = match_classes(CONVERTER, FSOCO_NAMES)
    assert match.model_to_dataset.tolist() == [1, 0, 2, 3, 4]
    spelled = match_classes(["Yellow", "seg_blue_cone", "big_orange", "sign"], FSOCO_NAMES)
    assert spelled.model_to_dataset.tolist() == [1, 0, 3, -1]
    assert any("big_orange = dataset 3 large_orange_cone (by type large_orange)" in line
               for line in spelled.lines)
    assert any("not in the dataset" in line and "sign" in line for line in spelled.lines)
    assert any("no model class matches" in line and "orange_cone" in line
               for line in spelled.lines)
    from yolo_stereo_trt.core.postprocess import Detections
    dets = Detections(np.zeros((3, 4), np.float32), np.ones(3, np.float32), np.array([3, 0, 2]))
    remapped = spelled.remap([dets])[0]
    assert remapped.class_ids.tolist() == [1, 3] and len(remapped.boxes) == 2  # 'sign' dropped
    with pytest.raises(ClassMatchError, match="no model class matches"):
        match_classes(["a", "b"], FSOCO_NAMES)


def test_evaluate_refuses_a_model_that_shares_no_class_with_the_dataset(
        standin, synth_val, tmp_path, capsys):
    from yolo_stereo_trt.tools.evaluate import main as evaluate
    path = save(gather_classes(standin, [0, 1, 2, 3, 4], ["a", "b", "c", "d", "e"]),
                tmp_path / "abc.onnx")
    assert evaluate(["--model", str(path), "--data", str(synth_val)]) == 2
    err = capsys.readouterr().err
    assert "no model class matches" in err and "Traceback" not in err


def test_benchmark_finds_every_box_again_in_a_renumbered_twin(standin, synth_val, tmp_path):
    import json

    from yolo_stereo_trt.tools.benchmark import main as benchmark
    ref = save(standin, tmp_path / "standin.onnx")
    twin = save(renumbered(standin, CONVERTER), tmp_path / "standin_converter.onnx")
    assert benchmark(["--models", str(ref), str(twin), "--data", str(synth_val), "--runs", "1",
                      "--warmup", "1", "--device", "cpu", "--out", str(tmp_path / "b")]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())
    assert rows[1]["agreement"]["found"] == 1.0 and rows[1]["agreement"]["reference"] > 0
    assert repr(rows[1]["accuracy"]) == repr(rows[0]["accuracy"])


# --- the 10-class layout ---------------------------------------------------------------------

def test_ten_class_layout_with_blue_cone_7_colours_blue_cones_blue(standin, scene, tmp_path):
    own = list(FSOCO_NAMES)
    # rows: each named class from the stand-in's same-named class; seg_* from large orange
    # (a row that never fires)
    rows = [own.index(n) if n in own else own.index("large_orange_cone") for n in TEN]
    path = save(gather_classes(standin, rows, TEN), tmp_path / "ten.onnx")
    ref_pipe, ref = run(save(standin, tmp_path / "five.onnx"), scene)
    pipe, res = run(path, scene)
    assert pipe.class_names[7] == "blue_cone" and pipe.num_classes == 10
    blue = res.left.class_ids == 7
    assert blue.sum() == (ref.left.class_ids == 0).sum() > 0
    from yolo_stereo_trt.core.postprocess import Detections
    only_blue = Detections(res.left.boxes[blue], res.left.scores[blue], res.left.class_ids[blue])
    drawn = draw_detections(np.zeros_like(scene.left), only_blue, pipe.class_map)
    pixels = drawn.reshape(-1, 3)[drawn.reshape(-1, 3).any(1)].astype(int)
    values, counts = np.unique(pixels, axis=0, return_counts=True)
    assert tuple(values[counts.argmax()]) == BLUE  # the boxes; the anti-aliased text shades it
    assert (pixels[:, 2] == 0).all() and (pixels[:, 0] >= pixels[:, 1]).all()  # no red, no yellow
    markers = cones_to_markers(res.cones, Header(frame_id="left"), 0.5, pipe.class_map).markers
    blue_marker = next(m for m in markers if m.text == "blue")
    assert (blue_marker.color.b, blue_marker.color.r) == (BLUE[0] / 255, BLUE[2] / 255)
    assert len(blue_marker.points) == int((res.cones.class_ids == 7).sum()) > 0


# --- heads decided at load -----------------------------------------------------------------

@pytest.mark.parametrize("shape,hw,names,meta,fmt", [
    ((2, 9, 8400), (640, 640), 5, {}, "ultralytics"),
    ((2, 5, 8400), (640, 640), 1, {}, "ultralytics"),
    ((2, 84, 33600), (1280, 1280), 80, {}, "ultralytics"),
    ((2, 9, 5040), (384, 640), 5, {}, "ultralytics"),
    ((2, 9, 21504), (1024, 1024), 5, {}, "ultralytics"),
    ((2, 25200, 10), (640, 640), 5, {}, "yolov5"),
    ((2, 25200, 6), (640, 640), 1, {}, "yolov5"),  # one class: not end-to-end
    ((2, 8400, 85), (640, 640), 80, {}, "yolov5"),  # anchor-free objectness (YOLOX-like)
    ((2, 300, 6), (640, 640), 5, {"end2end": True}, "end2end"),
    ((2, 300, 6), (640, 640), 5, {"head_format": "end2end"}, "end2end"),
    ((2, 9, 8400), (640, 640), 5, {"head_format": "ultralytics"}, "ultralytics"),
])
def test_head_layouts_are_decided_from_shape_and_metadata(shape, hw, names, meta, fmt):
    head = decide_head(shape, hw, names, **meta)
    assert head.format == fmt and head.num_classes == names


@pytest.mark.parametrize("shape,names,meta,words", [
    ((2, 300, 6), 5, {}, ["[2, 300, 6]", "end-to-end", "head_format"]),
    ((2, 9, 8000), 5, {}, ["[2, 9, 8000]", "fits no known head layout", "8400"]),
    ((2, 9, 8400), 3, {}, ["5 classes", "3 class names"]),
    ((2, 25200, 10), 4, {}, ["YOLOv5", "5 classes", "4 class names"]),
    ((2, 8400, 8400), 5, {}, ["is ambiguous", "Ultralytics", "YOLOv5"]),
    ((2, 9, 8400), 5, {"end2end": True}, ["end2end", "not [B, K, 6]"]),
    ((2, 9, 8400), 5, {"head_format": "end2end"}, ["cannot be read as end2end"]),
    ((2, 8400), 5, {}, ["not 3-D"]),
    ((2, 9, 8400), 5, {"head_format": "v8"}, ["head_format must be one of"]),
])
def test_unknown_ambiguous_or_miscounted_heads_are_refused_naming_the_shape(shape, names,
                                                                             meta, words):
    with pytest.raises(ModelConfigError) as info:
        decide_head(shape, (640, 640), names, **meta)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_strides_and_anchor_counts():
    assert model_strides("32") == (8, 16, 32) and model_strides(64) == (8, 16, 32, 64)
    assert model_strides(None) == (8, 16, 32)
    assert anchor_count((640, 640)) == 8400 and anchor_count((1280, 1280)) == 33600
    assert anchor_count((640, 640), model_strides(64)) == 8500


def test_yolov5_confidence_is_objectness_times_class_score():
    pred = np.zeros((1, 3, 7), np.float32)  # 3 anchors, 2 classes
    pred[0, :, :4] = [[100, 100, 20, 40], [300, 300, 20, 40], [500, 500, 20, 40]]
    pred[0, :, 4] = [0.2, 0.9, 0.9]  # objectness
    pred[0, :, 5:] = [[0.9, 0.0], [0.1, 0.5], [0.2, 0.1]]
    g = [LetterboxGeometry.compute((640, 640), (640, 640))]
    head = decide_head((1, 3, 7), (640, 640), 2, head_format="yolov5")
    dets = decode(pred, g, DecodeConfig(), layout=head)[0]
    assert dets.class_ids.tolist() == [1] and dets.scores.tolist() == [pytest.approx(0.45)]
    np.testing.assert_allclose(dets.boxes, [[290, 280, 310, 320]])


V5_META = {"stride": "32", "names": str(dict(enumerate(FSOCO_NAMES)))}


@pytest.mark.parametrize("classes", ["five", "one"])
def test_yolov5_standins_decode_to_the_boxes_of_their_ultralytics_twins(standin, scene,
                                                                      tmp_path, classes):
    if classes == "one":
        ultra = gather_classes(standin, [0], ["blue_cone"])
        meta = {"stride": "32", "names": "{0: 'blue_cone'}"}
    else:
        ultra, meta = standin, V5_META
    ultra_path = save(ultra, tmp_path / "ultra.onnx")
    v5_path = save(to_yolov5(ultra, meta), tmp_path / "v5.onnx")
    for config in (DecodeConfig(), DecodeConfig(conf_threshold=0.001)):
        u_pipe, u = run(ultra_path, scene, config)
        v_pipe, v = run(v5_path, scene, config)
        assert (u_pipe.head.format, v_pipe.head.format) == ("ultralytics", "yolov5")
        assert v_pipe.class_names == u_pipe.class_names
        assert len(u.left) > 0
        assert_same_detections((u.left, u.right), (v.left, v.right))


def test_yolov5_without_metadata_needs_class_names_then_decodes_the_same(standin, scene,
                                                                          tmp_path):
    v5_path = save(to_yolov5(standin, None), tmp_path / "v5_bare.onnx")
    backend = load_backend(v5_path, device="cpu")
    try:
        with pytest.raises(ModelConfigError, match="no class names.*set class_names"):
            StereoPipeline(backend)
        with pytest.raises(ModelConfigError, match="4 class names"):
            StereoPipeline(backend, FSOCO_NAMES[:4])
    finally:
        backend.close()
    _, u = run(save(standin, tmp_path / "ultra.onnx"), scene)
    pipe, v = run(v5_path, scene, class_names=list(FSOCO_NAMES))
    assert pipe.head.format == "yolov5" and pipe.head.shape == (2, 25200, 10)
    assert_same_detections((u.left, u.right), (v.left, v.right))
    one = save(to_yolov5(gather_classes(standin, [0], ["blue_cone"]), None),
               tmp_path / "v5_one_bare.onnx")
    pipe, v = run(one, scene, class_names=["blue_cone"])
    assert pipe.head.format == "yolov5" and pipe.head.num_classes == 1
    blue = u.left.class_ids == 0
    np.testing.assert_array_equal(v.left.boxes, u.left.boxes[blue])


def test_a_model_whose_names_disagree_with_its_head_is_refused_at_load(standin, tmp_path):
    m = copy.deepcopy(standin)
    _set_meta(m, {**{p.key: p.value for p in standin.metadata_props},
                  "names": "{0: 'blue_cone', 1: 'yellow_cone', 2: 'orange_cone'}"})
    backend = load_backend(save(m, tmp_path / "three_names.onnx"), device="cpu")
    try:
        with pytest.raises(ModelConfigError, match=r"\[2, 9, 8400\].*5 classes.*3 class names"):
            StereoPipeline(backend)
        assert StereoPipeline(backend, list(FSOCO_NAMES)).num_classes == 5  # class_names fixes it
    finally:
        backend.close()


def test_end_to_end_head_loads_only_when_metadata_or_head_format_says_so(tmp_path, scene):
    """A [2, 300, 6] output (x1 y1 x2 y2 score class): refused by default, read when told."""
    rows = np.zeros((2, 300, 6), np.float32)
    rows[:, 0] = [100, 120, 180, 220, 0.9, 1]
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0, axes=[1, 2, 3]),
         helper.make_node("Mul", ["m", "zero"], ["m0"]),
         helper.make_node("Reshape", ["m0", "shape"], ["m1"]),
         helper.make_node("Add", ["rows", "m1"], ["output0"])], "e2e",
        [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, [2, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", onnx.TensorProto.FLOAT, [2, 300, 6])],
        [numpy_helper.from_array(rows, "rows"), numpy_helper.from_array(np.float32(0), "zero"),
         numpy_helper.from_array(np.array([2, 1, 1], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    names = {"names": str(dict(enumerate(FSOCO_NAMES)))}
    plain = save(_with_meta(model, names), tmp_path / "e2e_plain.onnx")
    flagged = save(_with_meta(model, {**names, "end2end": "True"}), tmp_path / "e2e.onnx")
    backend = load_backend(plain, device="cpu")
    try:
        with pytest.raises(ModelConfigError, match=r"\[2, 300, 6\].*end-to-end"):
            StereoPipeline(backend)
        assert StereoPipeline(backend, head_format="end2end").head.format == "end2end"
    finally:
        backend.close()
    pipe, res = run(flagged, scene)
    assert pipe.head.format == "end2end" and res.left.class_ids.tolist() == [1]
    assert pipe.class_map.types_of(res.left.class_ids).tolist() == ["yellow"]


def _with_meta(model: onnx.ModelProto, meta: dict[str, str]) -> onnx.ModelProto:
    m = copy.deepcopy(model)
    _set_meta(m, meta)
    return m


def test_detect_images_exits_2_with_one_line_on_a_model_error(standin, scene, tmp_path, capsys):
    import cv2

    from yolo_stereo_trt.tools.detect_images import main as detect_images
    left, right = tmp_path / "l.png", tmp_path / "r.png"
    cv2.imwrite(str(left), scene.left)
    cv2.imwrite(str(right), scene.right)
    bare = save(to_yolov5(standin, None), tmp_path / "v5_bare.onnx")
    assert detect_images(["--model", str(bare), "--left", str(left), "--right", str(right)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "class_names" in err and "Traceback" not in err
    assert detect_images(["--model", str(bare), "--left", str(left), "--right", str(right),
                          "--class-names", *FSOCO_NAMES, "--json"]) == 0
    assert '"class_name": "blue_cone"' in capsys.readouterr().out
    assert detect_images(["--model", str(bare), "--left", str(left), "--right", str(right),
                          "--class-names", *FSOCO_NAMES, "--head-format", "end2end"]) == 2
    assert "cannot be read as end2end" in capsys.readouterr().err


def test_a_dynamic_output_shape_is_decided_by_a_warm_up_inference_at_load(standin, scene,
                                                                           tmp_path):
    # a Reshape whose target shape is computed from the image data: no shape inference sees it
    m, out, old = _detach_output(standin)
    m.graph.initializer.extend([numpy_helper.from_array(np.array([2, 9, 8400], np.float32), "dyn_s"),
                                numpy_helper.from_array(np.float32(0), "dyn_zero")])
    m.graph.node.extend([
        helper.make_node("ReduceMean", ["images"], ["dyn_m"], keepdims=0),
        helper.make_node("Mul", ["dyn_m", "dyn_zero"], ["dyn_m0"]),
        helper.make_node("Add", ["dyn_s", "dyn_m0"], ["dyn_sf"]),
        helper.make_node("Cast", ["dyn_sf"], ["dyn_shape"], to=onnx.TensorProto.INT64),
        helper.make_node("Reshape", [old, "dyn_shape"], [out])])
    for dim, name in zip(m.graph.output[0].type.tensor_type.shape.dim, ("batch", "rows", "anchors")):
        dim.ClearField("dim_value")
        dim.dim_param = name
    path = save(m, tmp_path / "dynamic_output.onnx")
    backend = load_backend(path, device="cpu")
    try:
        assert backend.output_shape == (None, None, None)
        pipeline = StereoPipeline(backend)
        assert (pipeline.head.format, pipeline.head.shape) == ("ultralytics", (2, 9, 8400))
    finally:
        backend.close()
    _, u = run(save(standin, tmp_path / "static.onnx"), scene)
    _, d = run(path, scene)
    assert_same_detections((u.left, u.right), (d.left, d.right))
