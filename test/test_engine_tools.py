"""The TensorRT path's pure logic (engine file, I/O plans, INT8 path, calibration) and the ONNX
tools, checked for conformance with TensorRT for RTX's parser and builder."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from yolo_stereo_trt.engine import onnx_graph as onnx_tools
from yolo_stereo_trt.core.preprocess import Preprocessor
from yolo_stereo_trt.backends.engine_file import (EngineFileError, IOTensor, MAX_HEADER_BYTES,
                                                  engine_metadata, join_engine_file, plan_io,
                                                  split_engine_file)
from yolo_stereo_trt.engine.calibration import (calibration_batches, calibration_cache_key,
                                                list_calibration_images, read_calibration_cache,
                                                write_calibration_cache)
from yolo_stereo_trt.engine.plan import int8_path
from yolo_stereo_trt.engine.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ROOT / "models" / "yolo12n_synthetic_cones.onnx"
ENGINE = b"\x00ptrt" + bytes(range(256)) * 8  # stands in for a serialized engine


# --- engine file ---------------------------------------------------------------------------

def test_engine_header_round_trip_matches_ultralytics_layout():
    meta = engine_metadata(["blue_cone", "yellow_cone"], (384, 640), 2, "int8",
                           {"stride": 32, "task": "detect", "author": "Ultralytics"},
                           calibration={"method": "minmax", "images": 400})
    data = join_engine_file(ENGINE, meta)
    (length,) = struct.unpack("<i", data[:4])
    assert json.loads(data[4:4 + length])["names"] == {"0": "blue_cone", "1": "yellow_cone"}
    parsed, engine = split_engine_file(data)
    assert engine == ENGINE
    assert parsed["imgsz"] == [384, 640] and parsed["batch"] == 2
    assert parsed["precision"] == "int8" and parsed["calibration"]["images"] == 400
    from yolo_stereo_trt.core.metadata import parse_metadata
    info = parse_metadata(parsed)
    assert info.names == ["blue_cone", "yellow_cone"] and info.imgsz == (384, 640)


def test_plain_engine_has_no_header():
    meta, engine = split_engine_file(ENGINE)
    assert meta is None and engine == ENGINE
    assert split_engine_file(join_engine_file(ENGINE, None)) == (None, ENGINE)


@pytest.mark.parametrize("data,match", [
    (b"", "truncated"),
    (struct.pack("<i", 2_000_000_000) + b"{" + b"x" * 100, "claims"),
    (struct.pack("<i", 50) + b"{" + b"x" * 20, "claims"),  # longer than the file
    (struct.pack("<i", 10) + b"{not json}" + ENGINE, "not valid JSON"),
    (struct.pack("<i", 4) + b"{\xff\xfe}" + ENGINE, "not valid JSON"),
    (struct.pack("<i", 2) + b"[]" + ENGINE, None),  # not '{': treated as a plain engine
    (struct.pack("<i", 7) + b'{"a":1}'[:-1] + b"]" + ENGINE, "not valid JSON"),
])
def test_corrupt_headers_are_refused_clearly(data, match):
    if match is None:
        assert split_engine_file(data)[0] is None
        return
    with pytest.raises(EngineFileError, match=match):
        split_engine_file(data)


def test_a_length_prefix_without_a_json_object_is_read_as_a_plain_engine():
    body = b'"just a string"'
    data = struct.pack("<i", len(body)) + body + ENGINE
    meta, engine = split_engine_file(data)
    assert meta is None and engine == data  # not '{': the bytes are the engine itself


def test_a_header_with_malformed_metadata_values_is_refused_when_parsed():
    from yolo_stereo_trt.core.metadata import ModelMetadataError, parse_metadata
    body = b'{"names": 1}'
    meta, engine = split_engine_file(struct.pack("<i", len(body)) + body + ENGINE)
    assert meta == {"names": 1} and engine == ENGINE  # a JSON object: the header is split off
    with pytest.raises(ModelMetadataError, match="class names"):
        parse_metadata(meta)  # ... and its values are refused by the metadata parser


def test_a_header_too_large_to_be_ultralytics_is_not_written():
    with pytest.raises(ValueError):
        join_engine_file(ENGINE, {"x": "y" * MAX_HEADER_BYTES})


# --- I/O plans -----------------------------------------------------------------------------

def _io(shape, dtype="FLOAT", out=(2, 9, 8400), out_dtype="FLOAT"):
    return [IOTensor("images", True, tuple(shape), dtype),
            IOTensor("output0", False, tuple(out), out_dtype)]


def test_static_batch2_engine_plan():
    plan = plan_io(_io((2, 3, 640, 640)))
    assert plan.input.batch == 2 and plan.input.hw == (640, 640)
    assert plan.input.layout == "nchw_float" and plan.input.dtype == np.float32
    assert plan.input_shape == (2, 3, 640, 640) and not plan.dynamic
    assert plan.output.name == "output0"


def test_fp16_and_uint8_inputs():
    assert plan_io(_io((2, 3, 384, 640), "HALF")).input.dtype == np.float16
    plan = plan_io(_io((2, 640, 640, 3), "UINT8"))
    assert plan.input.layout == "nhwc_uint8" and plan.input.hw == (640, 640)


def test_dynamic_batch_uses_the_profile():
    plan = plan_io(_io((-1, 3, 640, 640)), profile=((1, 3, 640, 640), (2, 3, 640, 640),
                                                     (4, 3, 640, 640)))
    assert plan.dynamic and plan.input_shape == (2, 3, 640, 640)
    with pytest.raises(EngineFileError, match="admits batch 1..1"):
        plan_io(_io((-1, 3, 640, 640)), profile=((1, 3, 640, 640),) * 3)
    with pytest.raises(EngineFileError, match="no optimization profile"):
        plan_io(_io((-1, 3, 640, 640)))


@pytest.mark.parametrize("tensors,match", [
    (_io((4, 3, 640, 640)), "batch 4"),
    (_io((2, 1, 640, 640)), "neither"),
    (_io((2, 3, 640)), "4-D"),
    (_io((2, 3, 640, 640), "INT32"), "neither"),
    (_io((2, 3, 640, 640), out_dtype="INT32"), "cannot decode"),
    (_io((2, 3, 640, 640), "BF16X"), "unsupported type"),
    ([IOTensor("a", True, (2, 3, 8, 8), "FLOAT"), IOTensor("b", True, (2, 3, 8, 8), "FLOAT"),
      IOTensor("o", False, (2, 9, 1), "FLOAT")], "one input"),
])
def test_engines_that_do_not_fit_a_stereo_pair(tensors, match):
    with pytest.raises(EngineFileError, match=match):
        plan_io(tensors)


def test_a_batch1_model_runs_twice_per_pair_with_the_same_detections(tmp_path):
    """A batch-1 engine plan is accepted, and the pipeline feeds it left then right: the same
    detections as the batch-2 twin of the model in one call."""
    from yolo_stereo_trt.backends import load_backend
    from yolo_stereo_trt.core.pipeline import StereoPipeline
    from yolo_stereo_trt.core.postprocess import DecodeConfig
    from yolo_stereo_trt.data.standin_model import build_demo_model
    from yolo_stereo_trt.data.synthetic import render_pair
    assert plan_io(_io((1, 3, 640, 640), out=(1, 9, 8400))).input.batch == 1
    results = {}
    for batch in (1, 2):
        onnx.save(build_demo_model((640, 640), batch), str(tmp_path / f"b{batch}.onnx"))
        backend = load_backend(tmp_path / f"b{batch}.onnx", "cpu")
        calls = []
        infer = backend.infer
        backend.infer = lambda b, infer=infer, calls=calls: calls.append(b.shape[0]) or infer(b)
        scene = render_pair(6)
        (dl, dr), _ = StereoPipeline(backend).detect(scene.left, scene.right, DecodeConfig())
        results[batch] = (dl, dr, calls)
    assert results[1][2] == [1, 1] and results[2][2] == [2]
    for side in (0, 1):
        np.testing.assert_allclose(results[1][side].boxes, results[2][side].boxes, atol=1e-3)
        assert len(results[1][side]) > 0


# --- versions ------------------------------------------------------------------------------

def test_int8_path_follows_the_tensorrt_version():
    assert int8_path("10.13.0.35") == "implicit"
    assert int8_path("11.4.0.106") == "explicit"
    assert int8_path("10.3.0", "explicit") == "explicit"
    with pytest.raises(ValueError, match="no implicit INT8"):
        int8_path("11.0.0", "implicit")


def test_build_plans():
    p10 = make_plan("int8", "10.13.0", fp16_fallback=True)
    assert p10.int8 == "implicit" and p10.builder_flags == ["INT8", "FP16"]
    assert not p10.strongly_typed and p10.needs_calibration
    p11 = make_plan("int8", "11.4.0", fp16_fallback=True, uint8_input=True)
    assert p11.int8 == "explicit" and p11.strongly_typed and p11.builder_flags == []
    assert p11.onnx_steps == ["uint8_input", "qdq_int8"] and p11.notes
    assert make_plan("fp16", "10.13.0").builder_flags == ["FP16"]
    assert make_plan("fp16", "11.4.0").onnx_steps == ["fp16_onnx"]
    assert make_plan("fp32", "11.4.0").strongly_typed
    assert make_plan("int8", "10.13.0", "explicit").onnx_steps == ["qdq_int8"]


# --- calibration ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory):
    from yolo_stereo_trt.tools.make_synthetic import main as make_synthetic
    out = tmp_path_factory.mktemp("calib")
    assert make_synthetic(["--out", str(out), "--pairs", "3", "--seed", "70", "--split", "val",
                           "--workers", "1"]) == 0
    return out


def test_calibration_images_from_folder_and_data_yaml(calib_dir):
    from_yaml = list_calibration_images(calib_dir / "data.yaml")
    from_dir = list_calibration_images(calib_dir / "images" / "val")
    assert from_yaml == from_dir and len(from_dir) == 6  # all of them
    capped = list_calibration_images(calib_dir / "data.yaml", max_images=3)
    assert len(capped) == 3 and capped[0] == from_dir[0] and capped[-1] == from_dir[-1]
    with pytest.raises(FileNotFoundError, match="no 'test' split"):
        list_calibration_images(calib_dir / "data.yaml", split="test")


def test_calibration_batches_use_the_inference_preprocessing(calib_dir):
    files = list_calibration_images(calib_dir / "data.yaml")[:5]
    batches = list(calibration_batches(files, (384, 640), 2))
    assert len(batches) == 3 and all(b.shape == (2, 3, 384, 640) for b in batches)
    pre = Preprocessor((384, 640), batch=2)
    expected, _ = pre([cv2.imread(str(files[0])), cv2.imread(str(files[1]))])
    np.testing.assert_array_equal(batches[0], expected)
    # the last batch is completed with the first image: every image is used
    np.testing.assert_array_equal(batches[2][1], expected[0])
    u8 = next(calibration_batches(files, (384, 640), 2, "nhwc_uint8"))
    assert u8.dtype == np.uint8 and u8.shape == (2, 384, 640, 3)


def test_calibration_cache_key_and_reuse(calib_dir, tmp_path):
    files = list_calibration_images(calib_dir / "data.yaml")
    key = calibration_cache_key(b"model", (640, 640), "nchw_float", 2, files, "minmax")
    assert key == calibration_cache_key(b"model", (640, 640), "nchw_float", 2, files, "minmax")
    for changed in (calibration_cache_key(b"model2", (640, 640), "nchw_float", 2, files, "minmax"),
                    calibration_cache_key(b"model", (384, 640), "nchw_float", 2, files, "minmax"),
                    calibration_cache_key(b"model", (640, 640), "nhwc_uint8", 2, files, "minmax"),
                    calibration_cache_key(b"model", (640, 640), "nchw_float", 2, files[:-1],
                                          "minmax"),
                    calibration_cache_key(b"model", (640, 640), "nchw_float", 2, files,
                                          "entropy")):
        assert changed != key
    cache = tmp_path / "model.calib"
    assert read_calibration_cache(cache, key) is None
    write_calibration_cache(cache, key, b"TRT-1001-EntropyCalibration2\nimages: 3c010a14\n")
    assert read_calibration_cache(cache, key).startswith(b"TRT-")
    assert read_calibration_cache(cache, "other") is None


# --- ONNX tools: results equal in ONNX Runtime, and conformant for TensorRT ----------------

def _run(path_or_model, x):
    model = path_or_model.SerializeToString() if isinstance(path_or_model, onnx.ModelProto) \
        else str(path_or_model)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_uint8_input_model_equals_host_normalization(colour_model):
    from yolo_stereo_trt.data.synthetic import render_pair
    scene = render_pair(3)
    model = onnx.load(str(colour_model))
    u8 = onnx_tools.add_uint8_input(model)
    assert onnx_tools.metadata(u8)["input_format"] == "uint8_bgr_nhwc"
    assert onnx_tools.input_dims(u8) == [2, 640, 640, 3]
    float_in, _ = Preprocessor((640, 640), 2)([scene.left, scene.right])
    uint8_in, _ = Preprocessor((640, 640), 2, "nhwc_uint8")([scene.left, scene.right])
    np.testing.assert_allclose(_run(u8, uint8_in), _run(model, float_in), atol=1e-5)
    with pytest.raises(onnx_tools.OnnxToolError, match="not float32"):
        onnx_tools.add_uint8_input(u8)


def test_uint8_model_runs_in_the_pipeline(colour_model, tmp_path):
    from yolo_stereo_trt.backends import load_backend
    from yolo_stereo_trt.core.pipeline import StereoPipeline
    from yolo_stereo_trt.core.postprocess import DecodeConfig
    from yolo_stereo_trt.data.synthetic import render_pair
    path = tmp_path / "u8.onnx"
    onnx.save(onnx_tools.add_uint8_input(onnx.load(str(colour_model))), str(path))
    scene = render_pair(3)
    results = []
    for p in (colour_model, path):
        backend = load_backend(p, "cpu")
        (left, right), _ = StereoPipeline(backend).detect(scene.left, scene.right, DecodeConfig())
        results.append(left)
    assert backend.input.layout == "nhwc_uint8"
    np.testing.assert_allclose(results[1].boxes, results[0].boxes, atol=1e-3)


def test_onnxruntime_threads_never_spin_and_follow_the_threads_argument(colour_model):
    from yolo_stereo_trt.backends import ModelLoadError
    from yolo_stereo_trt.backends.onnxruntime_backend import OnnxRuntimeBackend
    for threads in (0, 1, 3):
        backend = OnnxRuntimeBackend(colour_model, "cpu", threads=threads)
        options = backend.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
        assert options.intra_op_num_threads == threads  # 0: ONNX Runtime's default
        assert backend.normalizes_in_graph and backend.input.layout == "nhwc_uint8"
        assert backend.input_buffer.shape == (2, 640, 640, 3)
    with pytest.raises(ModelLoadError, match="threads"):
        OnnxRuntimeBackend(colour_model, "cpu", threads=-1)
    plain = OnnxRuntimeBackend(colour_model, "cpu", uint8_input=False)
    assert not plain.normalizes_in_graph and plain.input.layout == "nchw_float"
    assert plain.input_buffer.shape == (2, 3, 640, 640) and plain.input_buffer.dtype == np.float32


def test_fp16_model_is_close_to_fp32(colour_model):
    model = onnx.load(str(colour_model))
    fp16 = onnx_tools.to_fp16(model)
    x = Preprocessor((640, 640), 2)([np.full((720, 1280, 3), 90, np.uint8)] * 2)[0]
    assert onnx.TensorProto.FLOAT16 in {i.data_type for i in fp16.graph.initializer}
    np.testing.assert_allclose(_run(fp16, x), _run(model, x), atol=2e-3)


def test_qdq_model_is_symmetric_per_channel_with_float_biases(colour_model, calib_dir, tmp_path):
    out = tmp_path / "int8.onnx"
    files = list_calibration_images(calib_dir / "data.yaml")
    onnx_tools.quantize_qdq(colour_model, out, calibration_batches(files, (640, 640), 2))
    model = onnx.load(str(out))
    summary = onnx_tools.qdq_summary(model)
    assert summary["conv_int8"] == 3 and summary["conv_float"] == 0
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zero_point = inits[node.input[2]]
            assert zero_point.dtype == np.int8 and not zero_point.any()
    weight_scales = [inits[n.input[1]] for n in model.graph.node
                     if n.op_type == "DequantizeLinear" and n.input[0] in inits
                     and inits[n.input[0]].ndim == 4]
    assert weight_scales and all(s.ndim == 1 and s.size > 1 for s in weight_scales)
    conv_biases = [n.input[2] for n in model.graph.node if n.op_type == "Conv" and
                   len(n.input) > 2]
    assert all(b in inits and inits[b].dtype == np.float32 for b in conv_biases)
    assert onnx_tools.metadata(model)["precision"] == "int8"
    x = next(calibration_batches(files, (640, 640), 2))
    assert np.abs(_run(out, x) - _run(colour_model, x)).max() < 0.1


def test_quantization_calibrates_on_every_batch(colour_model, tmp_path):
    """The team wants ALL calibration images used: the range of the input's quantizer must
    come from the first (brightest) of 17 batches too (onnxruntime's CalibMaxIntermediateOutputs
    would silently drop it)."""
    rng = np.random.default_rng(0)
    bright = rng.uniform(0, 1, (2, 3, 640, 640)).astype(np.float32)
    dark = bright * 0.25

    def activation_scales(batches, name):
        out = tmp_path / name
        onnx_tools.quantize_qdq(colour_model, out, iter(batches))
        model = onnx.load(str(out))
        inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
        return np.array([float(inits[n.input[1]]) for n in model.graph.node
                         if n.op_type == "QuantizeLinear" and n.input[0] not in inits])
    with_bright = activation_scales([bright] + [dark] * 16, "bright_first.onnx")
    dark_only = activation_scales([dark] * 17, "dark.onnx")
    assert with_bright.shape == dark_only.shape
    assert (with_bright > dark_only * 1.5).any()


def test_percentile_is_the_default_and_calibrates_in_passes_over_every_batch(
        colour_model, tmp_path, monkeypatch):
    """Percentile (99.999) is the default calibration (MinMax let outliers set the scales of a
    retrained YOLO12n: 95.3 % of FP32 mAP50 kept in INT8 against 99.6 %). Its histograms are
    collected in passes of at most HISTOGRAM_PASS_BATCHES batches (one pass over 400 images
    of YOLO12n needed more than 23 GB), and the pass that holds the bright batch, the last
    one, still sets the input quantizer's range."""
    from onnxruntime.quantization.calibrate import HistogramCalibrater
    passes: list[int] = []
    collect = HistogramCalibrater.collect_data

    def counting_collect(self, reader):
        served = []
        get_next = reader.get_next

        def counted():
            x = get_next()
            served.append(x is not None)
            return x
        reader.get_next = counted
        try:
            return collect(self, reader)
        finally:
            reader.get_next = get_next
            passes.append(sum(served))
    monkeypatch.setattr(HistogramCalibrater, "collect_data", counting_collect)
    rng = np.random.default_rng(0)
    bright = rng.uniform(0, 1, (2, 3, 640, 640)).astype(np.float32)
    dark = bright * 0.25

    def activation_scales(batches, name):
        out = tmp_path / name
        onnx_tools.quantize_qdq(colour_model, out, iter(batches))  # (no len: listed first)
        model = onnx.load(str(out))
        assert onnx_tools.metadata(model)["quantization"].startswith("qdq-percentile-")
        inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
        return np.array([float(inits[n.input[1]]) for n in model.graph.node
                         if n.op_type == "QuantizeLinear" and n.input[0] not in inits])
    assert onnx_tools.HISTOGRAM_PASS_BATCHES == 8
    with_bright = activation_scales([dark] * 15 + [bright], "bright_last.onnx")
    assert passes == [8, 8]
    dark_only = activation_scales([dark] * 10, "dark.onnx")
    assert passes[2:] == [5, 5]  # the largest pass size that divides the count
    assert with_bright.shape == dark_only.shape
    assert (with_bright > dark_only * 1.5).any()


def test_head_nodes_follow_ultralytics_names():
    g = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"], name=n) for n in (
        "/model.21/cv2.0/cv2.0.2/Conv", "/model.21/cv3.2/cv3.2.2/Conv", "/model.21/dfl/conv/Conv",
        "/model.21/cv2.0/cv2.0.1/conv/Conv", "/model.2/cv1/conv/Conv")],
        "g", [], [])
    assert onnx_tools.head_nodes(onnx.helper.make_model(g)) == [
        "/model.21/cv2.0/cv2.0.2/Conv", "/model.21/cv3.2/cv3.2.2/Conv", "/model.21/dfl/conv/Conv"]


def _require_rtx():
    from yolo_stereo_trt.engine.conformance import TensorRTRtxUnavailable, load_tensorrt_rtx
    try:
        load_tensorrt_rtx()
    except TensorRTRtxUnavailable:
        # requirements.txt installs it: its absence means the conformance check cannot run
        pytest.fail("TensorRT for RTX is not installed (requirements.txt): the conformance "
                    "check cannot run")


def test_everything_the_tools_write_builds_with_tensorrt_rtx(colour_model, calib_dir, tmp_path):
    """FP32, uint8-input, FP16 and Q/DQ INT8 (plain and uint8) parse and build strongly typed."""
    _require_rtx()
    from yolo_stereo_trt.tools.quantize import main as quantize
    from yolo_stereo_trt.engine.conformance import check_onnx
    paths = {"fp32": colour_model, "uint8": tmp_path / "u8.onnx", "fp16": tmp_path / "fp16.onnx",
             "fp16_uint8": tmp_path / "fp16_u8.onnx",  # build_engine's default FP16 steps
             "int8": tmp_path / "int8.onnx", "int8_uint8": tmp_path / "int8_u8.onnx"}
    model = onnx.load(str(colour_model))
    onnx.save(onnx_tools.add_uint8_input(model), str(paths["uint8"]))
    onnx.save(onnx_tools.to_fp16(model), str(paths["fp16"]))
    onnx.save(onnx_tools.to_fp16(onnx_tools.add_uint8_input(model)), str(paths["fp16_uint8"]))
    x8 = np.random.default_rng(0).integers(0, 255, (2, 640, 640, 3), dtype=np.uint8)
    np.testing.assert_allclose(_run(paths["fp16_uint8"], x8), _run(paths["uint8"], x8), atol=2e-3)
    calib = str(calib_dir / "data.yaml")
    assert quantize(["--onnx", str(colour_model), "--calib", calib, "--out", str(paths["int8"]),
                     "--float-input"]) == 0
    assert quantize(["--onnx", str(colour_model), "--calib", calib, "--out",
                     str(paths["int8_uint8"])]) == 0  # uint8 input: the default
    for name, path in paths.items():
        result = check_onnx(path)
        assert result.ok, f"{name}: {result}"
        assert result.inputs[0][1] == ((2, 640, 640, 3) if "uint8" in name else (2, 3, 640, 640))


def test_the_shipped_yolo12n_and_its_int8_build_with_tensorrt_rtx(calib_dir, tmp_path):
    """The real network (YOLO12n with its attention blocks): FP32, FP16, uint8-input and the
    Q/DQ INT8 that `quantize` writes all parse and build strongly typed."""
    _require_rtx()
    from yolo_stereo_trt.tools.quantize import main as quantize
    from yolo_stereo_trt.engine.conformance import check_onnx
    model = onnx.load(str(TRAINED))
    paths = {"fp32": TRAINED, "fp16": tmp_path / "fp16.onnx", "uint8": tmp_path / "u8.onnx",
             "int8": tmp_path / "int8.onnx"}
    onnx.save(onnx_tools.to_fp16(model), str(paths["fp16"]))
    onnx.save(onnx_tools.add_uint8_input(model), str(paths["uint8"]))
    assert quantize(["--onnx", str(TRAINED), "--calib", str(calib_dir / "data.yaml"),
                     "--out", str(paths["int8"])]) == 0
    summary = onnx_tools.qdq_summary(onnx.load(str(paths["int8"])))
    assert summary["conv_int8"] > 100 and summary["conv_float"] == 16  # head, DFL, first conv, attention pe
    for name, path in paths.items():
        result = check_onnx(path)
        assert result.ok, f"{name}: {result}"
        assert result.outputs[0][1] == (2, 9, 8400)


def test_rtx_check_reports_a_model_tensorrt_rejects(colour_model, tmp_path):
    """ONNX Runtime's default quantization (int32 bias DQ) is what the check exists to catch."""
    _require_rtx()
    from onnxruntime.quantization import QuantFormat, quantize_static
    from yolo_stereo_trt.engine.onnx_graph import _Reader
    from yolo_stereo_trt.engine.conformance import check_onnx
    x = Preprocessor((640, 640), 2)([np.full((72, 128, 3), 90, np.uint8)] * 2)[0]
    out = tmp_path / "default_qdq.onnx"
    quantize_static(str(colour_model), str(out), _Reader("images", iter([x])),
                    quant_format=QuantFormat.QDQ)
    result = check_onnx(out)
    assert not result.ok and result.errors


# --- the TensorRT backend's edges that run without a GPU ----------------------------------

def test_engine_files_are_validated_before_tensorrt_is_needed(tmp_path):
    from yolo_stereo_trt.backends import ModelLoadError, load_backend
    good = tmp_path / "model.engine"
    good.write_bytes(join_engine_file(ENGINE, engine_metadata(["a"], (640, 640), 2, "int8")))
    corrupt = tmp_path / "corrupt.engine"
    corrupt.write_bytes(struct.pack("<i", 900) + b"{" + b"\x00" * 50)
    bad_names = tmp_path / "bad_names.engine"
    bad_names.write_bytes(join_engine_file(ENGINE, {"names": {"x": "a"}}))
    with pytest.raises(EngineFileError, match="claims 900 bytes"):
        load_backend(corrupt)
    with pytest.raises(EngineFileError, match="class name keys"):
        load_backend(bad_names)
    try:
        import tensorrt  # noqa: F401
        has_trt = hasattr(tensorrt, "Runtime")
    except ImportError:
        has_trt = False
    if not has_trt:
        with pytest.raises(ModelLoadError, match="TensorRT is not installed|no runtime"):
            load_backend(good)


def test_no_gpu_is_a_clear_error_from_the_real_cuda_runtime():
    cudart = pytest.importorskip("cuda.bindings.runtime")
    from yolo_stereo_trt.backends.tensorrt_backend import CudaError, cuda_check, open_cuda_device
    status, count = cudart.cudaGetDeviceCount()
    if int(status) == 0 and count:
        pytest.skip("this machine has a GPU")
    with pytest.raises(CudaError, match="no CUDA GPU usable .*cudaError"):
        open_cuda_device(cudart)
    with pytest.raises(CudaError, match="cudaMalloc failed: cudaError"):
        cuda_check(cudart, cudart.cudaMalloc(1024), "cudaMalloc")


# --- benchmark and GPU check logic ---------------------------------------------------------

def test_benchmark_statistics_and_agreement():
    from yolo_stereo_trt.core.postprocess import Detections
    from yolo_stereo_trt.tools.benchmark import agreement, percentiles
    p = percentiles(list(range(1, 101)))
    assert p["p50"] == pytest.approx(50.5) and p["p99"] == pytest.approx(99.01) and p["n"] == 100
    ref = Detections(np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], np.float32),
                     np.array([0.9, 0.8, 0.1], np.float32), np.array([0, 1, 0]))
    same_but_one = Detections(np.array([[0, 0, 10, 11], [20, 20, 30, 30]], np.float32),
                              np.array([0.9, 0.8], np.float32), np.array([0, 0]))
    a = agreement([ref], [same_but_one])
    assert a["reference"] == 2 and a["found"] == 0.5  # the class-1 box changed class
    assert a["mean_iou"] == pytest.approx(100 / 110)


def test_trt_check_verdict():
    from yolo_stereo_trt.tools.trt_check import verdict

    def row(precision, p50, map50=None, found=None):
        r = {"precision": precision, "inference_ms": {"p50": p50}}
        if map50 is not None:
            r["accuracy"] = {"map50": map50}
        if found is not None:
            r["agreement"] = {"found": found}
        return r
    rows = [row("fp32", 40.0, 0.90), row("fp32", 12.0, 0.90, 0.995), row("fp16", 9.0, 0.90, 0.99),
            row("int8", 7.9, 0.895, 0.97)]
    checks = verdict(rows, 8.3)
    assert [ok for ok, _ in checks] == [True, True, True, True]
    rows[3] = row("int8", 9.0, 0.85, 0.9)
    assert [ok for ok, _ in verdict(rows, 8.3)] == [True, True, False, False]
