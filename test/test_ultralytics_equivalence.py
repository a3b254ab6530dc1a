"""Letterbox and decode against Ultralytics 8.4 reference cases (scripts/make_reference_cases.py)."""
from pathlib import Path

import numpy as np
import pytest

from yolo_stereo_trt.core.postprocess import DecodeConfig, decode
from yolo_stereo_trt.core.preprocess import LetterboxGeometry, Preprocessor

REF = np.load(Path(__file__).parent / "data" / "ultralytics_reference.npz")
RAW_CASES = sorted({k.split("_")[0] for k in REF.files if k.startswith("raw")})
LB_CASES = sorted({k.split("_")[0] for k in REF.files if k.startswith("lb")})


def test_image(h, w):
    """Same formula as scripts/make_reference_cases.py."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    b = 127.5 + 127.5 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    g = 255.0 * xx / max(w - 1, 1)
    r = 255.0 * (xx + yy) / max(w + h - 2, 1)
    return np.stack([b, g, r], -1).round().astype(np.uint8)


test_image.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("case", RAW_CASES)
def test_raw_head_matches_ultralytics(case):
    pred = REF[f"{case}_pred"]
    mh, mw, conf, iou, agnostic, max_det = REF[f"{case}_params"]
    shapes = [tuple(s) for s in REF[f"{case}_shapes"]]
    config = DecodeConfig(conf_threshold=conf, iou_threshold=iou, max_detections=int(max_det),
                          agnostic=bool(agnostic))
    geometries = [LetterboxGeometry.compute(s, (int(mh), int(mw))) for s in shapes]
    results = decode(pred, geometries, config, num_classes=pred.shape[1] - 4)
    for b, dets in enumerate(results):
        ref = REF[f"{case}_out{b}"]
        assert len(dets) == len(ref) > 0
        np.testing.assert_array_equal(dets.class_ids, ref[:, 5].astype(np.int64))
        np.testing.assert_allclose(dets.scores, ref[:, 4], atol=1e-6)
        np.testing.assert_allclose(dets.boxes, ref[:, :4], atol=0.01)


def test_end2end_head_matches_ultralytics():
    geometries = [LetterboxGeometry.compute((720, 1280), (640, 640))] * 2
    results = decode(REF["e2e_pred"], geometries,
                     DecodeConfig(conf_threshold=0.3, max_detections=100), num_classes=5)
    for b, dets in enumerate(results):
        ref = REF[f"e2e_out{b}"]
        assert len(dets) == len(ref) == 100
        np.testing.assert_array_equal(dets.class_ids, ref[:, 5].astype(np.int64))
        np.testing.assert_allclose(dets.boxes, ref[:, :4], atol=0.01)


@pytest.mark.parametrize("case", LB_CASES)
def test_uint8_letterbox_is_ultralytics_letterbox_before_normalization(case):
    """The uint8 (B,H,W,3) input the networks normalize themselves is Ultralytics' letterboxed
    BGR image (the float path divides this very image by 255)."""
    src_hw = tuple(int(v) for v in REF[f"{case}_src_hw"])
    dst_hw = tuple(int(v) for v in REF[f"{case}_dst_hw"])
    ref_bgr = REF[f"{case}_out"].astype(np.int16)
    image = test_image(*src_hw)
    u8, _ = Preprocessor(dst_hw, batch=2, layout="nhwc_uint8")([image, image[..., ::-1].copy()],
                                                               ["bgr", "rgb"])
    f32, _ = Preprocessor(dst_hw, batch=2)([image, image[..., ::-1].copy()], ["bgr", "rgb"])
    for i in range(2):
        diff = np.abs(u8[i].astype(np.int16) - ref_bgr)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.001, f"frame {i}"
        np.testing.assert_array_equal(u8[i][..., ::-1].transpose(2, 0, 1) / np.float32(255),
                                      f32[i])


def test_uint8_and_float_input_give_the_same_detections_on_the_shipped_model():
    """The ONNX Runtime backend's in-memory uint8 input (the default) against the model's own
    float input with the host's normalization: same detections on the shipped model."""
    from yolo_stereo_trt.backends import load_backend
    from yolo_stereo_trt.core.paths import demo_model_path
    from yolo_stereo_trt.core.pipeline import StereoPipeline
    from yolo_stereo_trt.data.synthetic import render_pair
    pipelines = {u8: StereoPipeline(load_backend(demo_model_path(), "cpu", uint8_input=u8))
                 for u8 in (True, False)}
    assert pipelines[True].backend.input.layout == "nhwc_uint8"
    assert pipelines[False].backend.input.layout == "nchw_float"
    assert pipelines[True].preprocess.batch is pipelines[True].backend.input_buffer
    found = 0
    for seed in (11, 12):
        scene = render_pair(seed)
        (l8, r8), _ = pipelines[True].detect(scene.left, scene.right, DecodeConfig())
        (lf, rf), _ = pipelines[False].detect(scene.left, scene.right, DecodeConfig())
        for a, b in ((l8, lf), (r8, rf)):
            assert len(a) == len(b)
            np.testing.assert_array_equal(a.class_ids, b.class_ids)
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
            found += len(a)
    assert found > 10


@pytest.mark.parametrize("case", LB_CASES)
def test_letterbox_matches_ultralytics(case):
    src_hw = tuple(int(v) for v in REF[f"{case}_src_hw"])
    dst_hw = tuple(int(v) for v in REF[f"{case}_dst_hw"])
    ref_bgr = REF[f"{case}_out"]
    pre = Preprocessor(dst_hw, batch=2)
    image = test_image(*src_hw)
    batch, (geometry, _) = pre([image, image[..., ::-1].copy()], ["bgr", "rgb"])
    assert ref_bgr.shape[:2] == dst_hw
    # Padding geometry is exact; resized pixels may differ by one grey level across OpenCV builds.
    expected = ref_bgr[..., ::-1].transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    for i in range(2):
        diff = np.abs(batch[i] - expected) * 255
        assert diff.max() <= 1.0001, f"frame {i}: max diff {diff.max()} grey levels"
        assert (diff > 0.5).mean() < 0.001
    pad = ref_bgr == 114
    nh, nw = geometry.resized_hw
    assert (geometry.top, geometry.left) == (int(np.argmax(~pad.all(axis=(1, 2)))),
                                             int(np.argmax(~pad.all(axis=(0, 2)))))
    assert (nh, nw) == (int((~pad.all(axis=(1, 2))).sum()), int((~pad.all(axis=(0, 2))).sum()))
