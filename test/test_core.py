"""Unit tests of the ROS-free core: images, pairing, NMS, metadata, backends, pipeline."""
import json
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import onnx
import pytest

from yolo_stereo_trt.backends import ModelLoadError, load_backend
from yolo_stereo_trt.data.standin_model import build_demo_model
from yolo_stereo_trt.core.images import (ImageDecodeError, compressed_to_array, declared_size,
                                         image_to_array)
from yolo_stereo_trt.core.metadata import (ModelConfigError, ModelMetadataError, parse_metadata,
                                           resolve_class_names)
from yolo_stereo_trt.core.pipeline import StereoPipeline
from yolo_stereo_trt.core.postprocess import DecodeConfig, HeadFormatError, decode, nms, box_iou
from yolo_stereo_trt.core.preprocess import LetterboxGeometry, Preprocessor
from yolo_stereo_trt.core.pairing import LatestSlot, PairSynchronizer
from yolo_stereo_trt.data.synthetic import render_pair
from yolo_stereo_trt.core.camera_info import camera_info_yaml

RNG = np.random.default_rng(7)
FRAME = RNG.integers(0, 255, (5, 7, 3), dtype=np.uint8)


# ------------------------------------------------------------------ images
@pytest.mark.parametrize("encoding,channels,order", [("bgr8", 3, "bgr"), ("rgb8", 3, "rgb")])
def test_colour_images_honour_step_padding(encoding, channels, order):
    step = 7 * channels + 5
    data = np.zeros((5, step), np.uint8)
    data[:, :21] = FRAME.reshape(5, 21)
    frame, got_order = image_to_array(encoding, 5, 7, step, data.tobytes())
    assert got_order == order
    np.testing.assert_array_equal(frame, FRAME)


def test_alpha_mono_and_bayer_become_three_channels():
    bgra = np.dstack([FRAME, np.full((5, 7), 9, np.uint8)])
    frame, order = image_to_array("bgra8", 5, 7, 28, bgra.tobytes())
    np.testing.assert_array_equal(frame, FRAME)
    frame, order = image_to_array("rgba8", 5, 7, 28, bgra.tobytes())
    assert order == "rgb"
    np.testing.assert_array_equal(frame, FRAME)
    mono = FRAME[..., 0].copy()
    frame, _ = image_to_array("mono8", 5, 7, 7, mono.tobytes())
    assert frame.shape == (5, 7, 3) and (frame[..., 2] == mono).all()
    frame, _ = image_to_array("bayer_rggb8", 6, 8, 8, bytes(48))
    assert frame.shape == (6, 8, 3)


def test_bad_images_raise_with_their_error_kind():
    with pytest.raises(ImageDecodeError) as err:
        image_to_array("16UC1", 5, 7, 14, bytes(70))
    assert err.value.kind == "bad_encoding"
    with pytest.raises(ImageDecodeError) as err:
        image_to_array("bgr8", 5, 7, 21, bytes(50))
    assert err.value.kind == "bad_size"
    with pytest.raises(ImageDecodeError) as err:
        image_to_array("bgr8", 5, 7, 20, bytes(200))
    assert err.value.kind == "bad_size"
    with pytest.raises(ImageDecodeError) as err:
        compressed_to_array("jpeg", b"\xff\xd8\xff\xe0 truncated")
    assert err.value.kind == "corrupt_compressed"


def test_jpeg_and_png_decode():
    for ext in (".jpg", ".png"):
        frame, order = compressed_to_array(ext[1:], cv2.imencode(ext, FRAME)[1].tobytes())
        assert frame.shape == FRAME.shape and order == "bgr"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG header declaring width x height bgr8 with a tiny (short) zlib stream: decoding it
    would allocate width*height*3 bytes before noticing the data is short."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(4096))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def test_declared_size_reads_jpeg_and_png_headers_without_decoding():
    big = np.zeros((48, 96, 3), np.uint8)
    for ext, params in ((".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])):
        data = cv2.imencode(ext, big, params)[1]
        assert declared_size(data) == (96, 48)  # numpy buffer (rosbags)
        assert declared_size(data.tobytes()) == (96, 48)  # bytes (rclpy)
    assert declared_size(png_bomb()) == (20000, 20000)
    jpeg = cv2.imencode(".jpg", big)[1].tobytes()
    assert declared_size(jpeg[:10]) is None  # cut before the frame header
    assert declared_size(b"GIF89a....") is None and declared_size(b"") is None
    assert declared_size(b"\x89PNG\r\n\x1a\n\x00\x00") is None


def test_compressed_bomb_is_refused_before_decoding_and_small_images_still_decode():
    with pytest.raises(ImageDecodeError) as err:
        compressed_to_array("png", png_bomb(), max_pixels=4096 * 4096)
    assert err.value.kind == "too_large" and "20000x20000" in str(err.value)
    jpeg = bytearray(cv2.imencode(".jpg", np.zeros((48, 96, 3), np.uint8))[1].tobytes())
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 20000, 20000)  # the header lies about its size
    with pytest.raises(ImageDecodeError) as err:
        compressed_to_array("jpeg", bytes(jpeg), max_pixels=4096 * 4096)
    assert err.value.kind == "too_large"
    frame, _ = compressed_to_array("png", cv2.imencode(".png", FRAME)[1], max_pixels=35)
    np.testing.assert_array_equal(frame, FRAME)
    with pytest.raises(ImageDecodeError) as err:
        compressed_to_array("png", cv2.imencode(".png", FRAME)[1], max_pixels=34)
    assert err.value.kind == "too_large"
    with pytest.raises(ImageDecodeError) as err:  # no size to check: refused, not decoded
        compressed_to_array("jpeg", b"\xff\xd8\xff\xe0 truncated", max_pixels=10**6)
    assert err.value.kind == "corrupt_compressed"


def test_raw_images_refuse_too_many_pixels_and_report_long_data():
    with pytest.raises(ImageDecodeError) as err:
        image_to_array("bgr8", 20000, 20000, 60000, bytes(10), max_pixels=4096 * 4096)
    assert err.value.kind == "too_large"
    warnings = []
    frame, _ = image_to_array("bgr8", 5, 7, 21, FRAME.tobytes() + bytes(9),
                              warn=lambda kind, msg: warnings.append((kind, msg)))
    np.testing.assert_array_equal(frame, FRAME)
    assert [k for k, _ in warnings] == ["long_data"] and "9 trailing bytes" in warnings[0][1]
    image_to_array("bgr8", 5, 7, 21, FRAME.tobytes(), warn=lambda *a: warnings.append(a))
    assert len(warnings) == 1  # exact data: nothing reported


# ------------------------------------------------------------------ pairing
def test_pairing_by_stamp_within_slop_consumes_older_messages():
    pairs = []
    sync = PairSynchronizer(slop_ns=5, queue_size=3, callback=lambda l, r: pairs.append((l, r)))
    sync.add(0, 100, "L100")
    sync.add(0, 110, "L110")
    assert not sync.add(1, 120, "R120")  # 10 ns from the nearest: no pair
    assert sync.add(1, 112, "R112")  # pairs with L110; L100 can no longer pair
    assert pairs == [("L110", "R112")]
    assert len(sync.queues[0]) == 0 and [m for _, m in sync.queues[1]] == ["R120"]
    assert sync.add(0, 121, "L121") and pairs[-1] == ("L121", "R120")
    for t in range(5):
        sync.add(0, 1000 + 100 * t, "x")
    assert len(sync.queues[0]) == 3 and sync.unpaired_dropped >= 2


def test_pairs_not_newer_than_the_last_are_dropped_and_counted():
    pairs = []
    sync = PairSynchronizer(slop_ns=5, queue_size=3, callback=lambda l, r: pairs.append((l, r)))
    assert sync.add(0, 100, "L100") is False and sync.add(1, 100, "R100") is True
    assert sync.add(0, 100, "L100dup") is False and sync.add(1, 100, "R100dup") is False  # duplicate
    assert sync.add(0, 90, "L90") is False and sync.add(1, 91, "R91") is False  # backwards
    assert sync.stale_dropped == 2 and sync.resets == 0
    assert sync.add(1, 200, "R200") is False and sync.add(0, 201, "L201") is True
    assert pairs == [("L100", "R100"), ("L201", "R200")]
    assert sync.last_pair_ns == 201


def test_repeated_zero_stamps_are_processed_once():
    pairs = []
    sync = PairSynchronizer(slop_ns=0, queue_size=3, callback=lambda l, r: pairs.append((l, r)))
    for k in range(4):
        sync.add(0, 0, f"L{k}")
        sync.add(1, 0, f"R{k}")
    assert pairs == [("L0", "R0")] and sync.stale_dropped == 3


def test_a_jump_back_over_a_second_resets_pairing_once_and_pairing_resumes():
    pairs, resets = [], []
    sync = PairSynchronizer(slop_ns=10**6, queue_size=5, callback=lambda l, r: pairs.append((l, r)),
                            on_reset=lambda old, new: resets.append((old, new)))
    s = 10**9
    for t in range(5):  # a bag of 5 pairs at 10 Hz, played twice; the left leads the right
        sync.add(0, 50 * s + t * s // 10, ("L", t))
        sync.add(1, 50 * s + t * s // 10, ("R", t))
    sync.add(0, 60 * s, "L-stray")  # queued, no partner: cleared by the reset
    for t in range(5):
        sync.add(0, 50 * s + t * s // 10, ("L2", t))
        sync.add(1, 50 * s + t * s // 10, ("R2", t))
    assert resets == [(60 * s, 50 * s)] and sync.resets == 1  # logged once: the right follows
    assert len(pairs) == 10 and pairs[5] == (("L2", 0), ("R2", 0))
    assert sync.stale_dropped == 0 and sync.unpaired_dropped == 1
    sync.add(0, 50 * s + 4 * s // 10, "dup")  # a backward step under a second: no reset
    sync.add(1, 50 * s + 4 * s // 10, "dup")
    assert sync.resets == 1 and sync.stale_dropped == 1


def test_latest_slot_drops_superseded_items():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True  # 1 was never taken: dropped
    assert slot.take(0.1) == 2
    assert slot.take(0.01) is None
    slot.close()
    assert slot.take(1.0) is None


# ------------------------------------------------------------------ decode
def _greedy_nms_definition(boxes, scores, iou_threshold, max_keep):
    """NMS written plainly: the IoU matrix (torchvision's float32 arithmetic, compared in float64
    as its kernel does), boxes in stable descending score order, each kept unless a kept one
    overlaps it by more than the threshold."""
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes[order], boxes[order]).astype(np.float64)
    kept = []
    for i in range(len(order)):
        if len(kept) < max_keep and not (iou[i, kept] > iou_threshold).any():
            kept.append(i)
    return order[kept]


def test_compiled_nms_equals_the_greedy_definition_with_score_ties_and_max_keep():
    xy = RNG.uniform(0, 500, (3000, 2))
    boxes = np.hstack([xy, xy + RNG.uniform(10, 80, (3000, 2))]).astype(np.float32)
    scores = np.round(RNG.uniform(0, 1, 3000), 2).astype(np.float32)  # many equal scores
    for n, threshold, max_keep in ((3000, 0.5, 300), (2000, 0.5, 10**6), (500, 0.1, 50),
                                   (40, 0.7, 300), (1, 0.7, 300), (0, 0.7, 300)):
        got = nms(boxes[:n], scores[:n], threshold, max_keep)
        np.testing.assert_array_equal(got, _greedy_nms_definition(boxes[:n], scores[:n],
                                                                  threshold, max_keep))
    kept = boxes[nms(boxes, scores, 0.5, 300)]
    iou = box_iou(kept, kept)
    np.fill_diagonal(iou, 0)
    assert len(kept) == 300 and iou.max() <= 0.5


def test_nms_compares_the_float32_iou_with_the_threshold_in_float64_as_torchvision():
    boxes = np.array([[0, 0, 4, 1], [1, 0, 5, 1]], np.float32)  # IoU float32(0.6) > 0.6
    assert box_iou(boxes[:1], boxes[1:])[0, 0] == np.float32(0.6)
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.8], np.float32), 0.6, 10), [0])


def test_nms_groups_may_be_any_ids():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    for groups in ([-7, 0, -7], [10**12, 3, 10**12], [-1, 0, -1]):
        np.testing.assert_array_equal(nms(boxes, scores, 0.5, 1, np.array(groups)), [0, 1])


def test_nms_of_degenerate_boxes_keeps_them_without_dividing_by_zero():
    boxes = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10]], np.float32)  # 0/0 IoU: NaN
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.5, 10),
                                  [0, 1, 2])


def test_decode_rejects_nan_and_unknown_layouts():
    geometry = [LetterboxGeometry.compute((720, 1280), (640, 640))]
    with pytest.raises(FloatingPointError):
        decode(np.full((1, 9, 8400), np.nan, np.float32), geometry, DecodeConfig(), 5)
    with pytest.raises(HeadFormatError):
        decode(np.zeros((1, 8400), np.float32), geometry, DecodeConfig(), 5)
    with pytest.raises(HeadFormatError):
        decode(np.zeros((1, 12, 8400), np.float32), geometry, DecodeConfig(), 5)


def test_decode_rejects_one_nan_or_inf_score_and_a_candidates_nan_box():
    geometry = [LetterboxGeometry.compute((720, 1280), (640, 640))]
    out = np.zeros((1, 9, 8400), np.float32)
    out[0, :4, 100] = [320, 320, 40, 60]
    out[0, 5, 100] = 0.9  # one detection
    assert len(decode(out, geometry, DecodeConfig(), 5)[0]) == 1
    for row, col, value in ((6, 5000, np.nan), (4, 7, np.inf), (2, 100, np.nan)):
        bad = out.copy()
        bad[0, row, col] = value
        with pytest.raises(FloatingPointError):
            decode(bad, geometry, DecodeConfig(), 5)


def _numpy_decode_one_image(pred, config):
    """The Ultralytics raw head of one image decoded with NumPy (the path the compiled decode
    replaced): best class, thresholds, class-aware NMS; boxes in model-input pixels."""
    from yolo_stereo_trt.core.postprocess import Detections, _lowest, _select
    best = pred[4:].max(axis=0)
    candidates = np.flatnonzero(best > _lowest(config))
    if candidates.size == 0:
        return Detections()
    cand = pred[:, candidates].T
    return _select(cand[:, :4], cand[:, 4:], config, best[candidates])[0]


def test_the_compiled_decode_of_both_images_equals_the_numpy_decode_of_each():
    from yolo_stereo_trt.core.postprocess import scale_boxes
    rng = np.random.default_rng(11)
    geometry = [LetterboxGeometry.compute((720, 1280), (640, 640))] * 2
    out = np.zeros((2, 9, 8400), np.float32)
    centres = rng.uniform(50, 590, (2, 40, 2))  # 40 objects per image, ~10 anchors each
    anchors = rng.choice(8400, (2, 400), replace=False)
    for i in range(2):
        obj = rng.integers(0, 40, 400)
        out[i, :2, anchors[i]] = (centres[i, obj] + rng.normal(0, 3, (400, 2))).astype(np.float32)
        out[i, 2:4, anchors[i]] = rng.uniform(10, 60, (400, 2)).astype(np.float32)
        out[i, 4 + rng.integers(0, 5, 400), anchors[i]] = rng.uniform(0.2, 1.0, 400)
    for config in (DecodeConfig(), DecodeConfig(max_detections=7), DecodeConfig(agnostic=True),
                   DecodeConfig(conf_threshold=0.01, iou_threshold=0.3)):
        together = decode(out, geometry, config, 5)
        for i in range(2):
            alone = _numpy_decode_one_image(out[i], config)
            np.testing.assert_array_equal(together[i].boxes, scale_boxes(alone.boxes, geometry[i]))
            np.testing.assert_array_equal(together[i].scores, alone.scores)
            np.testing.assert_array_equal(together[i].class_ids, alone.class_ids)
        assert 7 <= len(together[0]) and (config.max_detections != 7 or len(together[1]) == 7)
    boxes = np.concatenate([rng.uniform(0, 600, (1500, 2))] * 2, 1).astype(np.float32)
    boxes[:, 2:] += rng.uniform(5, 50, (1500, 2)).astype(np.float32)
    boxes, scores = np.tile(boxes, (2, 1)), rng.uniform(0, 1, 3000).astype(np.float32)
    groups = np.repeat([0, 1], 1500)
    kept = nms(boxes, scores, 0.5, 100, groups)
    for g in (0, 1):
        alone = nms(boxes[groups == g], scores[groups == g], 0.5, 100) + 1500 * g
        np.testing.assert_array_equal(kept[groups[kept] == g], alone)


def test_per_class_thresholds_and_agnostic_nms():
    pred = np.zeros((1, 6, 3), np.float32)  # 2 classes, 3 anchors: two overlapping boxes
    pred[0, :4] = [[100, 102, 300], [100, 100, 300], [50, 50, 40], [50, 50, 40]]
    pred[0, 4] = [0.9, 0.0, 0.0]
    pred[0, 5] = [0.0, 0.6, 0.4]
    g = [LetterboxGeometry.compute((640, 640), (640, 640))]
    assert len(decode(pred, g, DecodeConfig(), 2)[0]) == 3
    assert len(decode(pred, g, DecodeConfig(agnostic=True), 2)[0]) == 2
    dets = decode(pred, g, DecodeConfig(class_conf_thresholds=(0.95, 0.5)), 2)[0]
    assert dets.class_ids.tolist() == [1]


# ------------------------------------------------------------------ metadata
def test_ultralytics_metadata_parsing():
    info = parse_metadata({"names": "{0: 'blue_cone', 1: 'yellow_cone'}", "imgsz": "[384, 640]",
                           "batch": "2", "end2end": "False"})
    assert info.names == ["blue_cone", "yellow_cone"] and info.imgsz == (384, 640) and info.batch == 2
    with pytest.raises(ModelMetadataError):
        parse_metadata({"names": "{0: 'a', 2: 'b'}"})
    with pytest.raises(ModelMetadataError):
        parse_metadata({"imgsz": "__import__('os')"})
    assert resolve_class_names(["a", "b"], ["x", "y"], 2) == ["x", "y"]
    with pytest.raises(ModelConfigError):  # a count that disagrees with the model
        resolve_class_names(["a"], [], 3)
    with pytest.raises(ModelConfigError):
        resolve_class_names(["a", "b"], ["x"], 2)
    with pytest.raises(ModelConfigError):  # no names anywhere: class_names is needed
        resolve_class_names([], [], None)


# ------------------------------------------------------------------ backends and pipeline
@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, batch in (("b2", 2), ("b1", 1)):
        paths[name] = root / f"{name}.onnx"
        onnx.save(build_demo_model((384, 640), batch), paths[name])
    dynamic = build_demo_model((384, 640), 2)
    dynamic.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    # the demo graph has batch-2 constants: dynamic batch is exercised at batch 2
    paths["dyn"] = root / "dyn.onnx"
    onnx.save(dynamic, paths["dyn"])
    return paths


def test_batch2_batch1_and_dynamic_models_give_the_same_detections(models):
    scene = render_pair(11)
    results = {}
    for name, path in models.items():
        pipeline = StereoPipeline(load_backend(path))
        (left, right), _ = pipeline.detect(scene.left, scene.right, DecodeConfig())
        results[name] = (left, right)
        assert pipeline.preprocess.input_hw == (384, 640)
    assert len(results["b2"][0]) > 0
    for name in ("b1", "dyn"):
        for a, b in zip(results["b2"], results[name]):
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
            np.testing.assert_array_equal(a.class_ids, b.class_ids)


def test_bad_model_files_give_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_backend(tmp_path / "missing.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_backend(tmp_path / "bad.onnx")
    (tmp_path / "x.pt").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="unknown model type"):
        load_backend(tmp_path / "x.pt")


def test_uint8_nhwc_layout_is_the_letterboxed_frame():
    pre = Preprocessor((64, 64), batch=2, layout="nhwc_uint8")
    frame = RNG.integers(0, 255, (32, 64, 3), dtype=np.uint8)
    batch, (g, _) = pre([frame, frame[..., ::-1].copy()], ["bgr", "rgb"])
    assert batch.dtype == np.uint8 and batch.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(batch[0], batch[1])
    np.testing.assert_array_equal(batch[0, g.top:g.top + 32], frame)
    assert (batch[0, :g.top] == 114).all()


def test_detect_images_json(tmp_path):
    scene = render_pair(4)
    for side in ("left", "right"):
        cv2.imwrite(str(tmp_path / f"{side}.png"), getattr(scene, side))
        (tmp_path / f"{side}.yaml").write_text(camera_info_yaml(scene.camera, side))
    cmd = [sys.executable, "-m", "yolo_stereo_trt.tools.detect_images", "--left", str(tmp_path / "left.png"),
           "--right", str(tmp_path / "right.png"), "--json"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    assert set(out) == {"left", "right"} and out["left"]
    det = out["left"][0]
    assert set(det) == {"class_id", "class_name", "score", "box"} and len(det["box"]) == 4
    assert 0 <= det["box"][0] < det["box"][2] <= 1280
    with_info = cmd + ["--left-info", str(tmp_path / "left.yaml"), "--right-info", str(tmp_path / "right.yaml")]
    out = json.loads(subprocess.run(with_info, check=True, capture_output=True, text=True).stdout)
    assert out["cones"] and set(out["cones"][0]) == {"x", "y", "z", "class_id", "confidence",
                                                     "covariance"}
    cov = np.array(out["cones"][0]["covariance"]).reshape(3, 3)  # 9 floats, row-major
    assert np.allclose(cov, cov.T) and (np.linalg.eigvalsh(cov) > 0).all()
    bad = subprocess.run(cmd[:4] + [str(tmp_path / "nope.png")] + cmd[5:], capture_output=True, text=True)
    assert bad.returncode == 2 and "cannot read image" in bad.stderr


# ------------------------------------------------------------------ cones cloud layout
def test_cone_points_carry_the_upper_covariance_triangle_or_zeros_and_the_source():
    from yolo_stereo_trt.core.cloud import CONE_FIELDS, cone_points
    from yolo_stereo_trt.core.stereo import Cones
    cones = Cones(xyz=np.array([[1, 2, 3], [4, 5, 6]], np.float32), class_ids=np.array([0, 3]),
                  confidence=np.array([0.9, 0.5], np.float32),
                  source=np.array([0, 1], np.uint8))
    points = cone_points(cones)
    assert points.dtype == np.dtype("<f4") and points.shape == (2, len(CONE_FIELDS)) == (2, 12)
    np.testing.assert_array_equal(points[:, 3], [0, 3])
    assert not points[:, 5:11].any()  # no covariance on the result: zeros
    np.testing.assert_array_equal(points[:, 11], [0, 1])  # box pair, epipolar search
    a = RNG.normal(size=(2, 3, 3))
    cones.covariance = (a @ a.transpose(0, 2, 1)).astype(np.float32)
    points = cone_points(cones)
    for k, name in enumerate(CONE_FIELDS[5:11]):
        i, j = "xyz".index(name[4]), "xyz".index(name[5])
        np.testing.assert_allclose(points[:, 5 + k], cones.covariance[:, i, j], rtol=1e-6)
