"""evaluate_bag on real rosbag2 files (MCAP and sqlite3, written by make_synthetic and rosbags):
counts that match the bag, the node's outputs recorded, bad bags counted, never fatal."""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from yolo_stereo_trt.data.bags import BagSource
from yolo_stereo_trt.tools.evaluate_bag import main as evaluate_bag
from yolo_stereo_trt.tools.make_synthetic import main as make_synthetic

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = ROOT / "models" / "yolo12n_synthetic_cones.onnx"
PAIRS = 3
TOPICS = ("left/image_raw", "right/image_raw", "left/camera_info", "right/camera_info")
CONE_FIELDS = ["x", "y", "z", "class_id", "confidence", "cov_xx", "cov_xy", "cov_xz", "cov_yy",
               "cov_yz", "cov_zz", "source"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("bags")
    assert make_synthetic(["--out", str(out), "--pairs", str(PAIRS), "--seed", "90", "--split",
                           "val", "--no-images", "--bag", "mcap,sqlite3", "--workers", "1",
                           "--rate", "5"]) == 0
    return out


def rewrite_bag(src: Path, dst: Path, rename: dict[str, str], edit=None,
                storage: str = "mcap", copies: int = 1) -> Path:
    """A copy of ``src`` with only the topics in ``rename`` (old -> new name), played ``copies``
    times one after the other (recording times shifted); ``edit(topic, msg, copy)`` may change
    a message (returns it) before it is written."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_HUMBLE)
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    with BagSource(src) as source:
        items = list(source.messages(tuple(rename)))
    span = items[-1].stamp_ns - items[0].stamp_ns + 10**8
    with Writer(dst, version=8, storage_plugin=plugin) as writer:
        conns = {}
        for copy in range(copies):
            for item in items:
                if item.topic not in conns:
                    conns[item.topic] = writer.add_connection(rename[item.topic], item.msgtype,
                                                              typestore=store)
                msg = store.deserialize_cdr(store.serialize_cdr(item.msg, item.msgtype),
                                            item.msgtype)  # a fresh copy to edit
                msg = edit(item.topic, msg, copy) if edit else msg
                writer.write(conns[item.topic], item.stamp_ns + copy * span,
                             store.serialize_cdr(msg, item.msgtype))
    return dst


def run(args: list[str], capsys=None) -> tuple[int, dict | None, str]:
    """(exit status, summary.json or None, what it printed: stdout + stderr)."""
    rc = evaluate_bag([*args, "--no-progress"])
    captured = capsys.readouterr() if capsys else None
    err = captured.out + captured.err if captured else ""
    out = Path(args[args.index("--out") + 1]) / "summary.json"
    return rc, json.loads(out.read_text()) if out.is_file() else None, err


def recorded(path: Path) -> dict[str, list]:
    with BagSource(path) as bag:
        out: dict[str, list] = {}
        for item in bag.messages(tuple(bag.topics)):
            out.setdefault(item.topic, []).append(item)
        return out


def test_mcap_raw_bag_counts_match_the_bag_and_outputs_are_the_nodes(synth, colour_model,
                                                                      tmp_path):
    bag = synth / "val_mcap"
    with BagSource(bag) as source:
        counts = {t: info.count for t, info in source.topics.items()}
    out = tmp_path / "eval"
    rc, summary, _ = run([str(bag), "--model", str(colour_model), "--out", str(out)])
    assert rc == 0
    assert summary["frames_left"] == counts["left/image_raw"] == PAIRS
    assert summary["frames_right"] == counts["right/image_raw"] == PAIRS
    assert summary["pairs"] == summary["processed"] == PAIRS and summary["unpaired"] == 0
    assert summary["topics"] == {"left": "left/image_raw", "right": "right/image_raw",
                                 "left_info": "left/camera_info",
                                 "right_info": "right/camera_info", "transport": "raw"}
    assert summary["errors"] == {} and summary["pairs_with_calibration"] == PAIRS
    assert set(summary["latency_ms"]["inference"]) == {"p50", "p90", "p99"}
    assert summary["model"]["class_names"][0] == "blue_cone"
    gt = json.loads((synth / "ground_truth_val.json").read_text())
    with open(out / "frames.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["stamp_ns"]) for r in rows] == [p["stamp_ns"] for p in gt["pairs"]]
    assert sum(int(r["det_left"]) for r in rows) == sum(summary["detections_per_class"]["left"]
                                                        .values())
    assert sum(int(r["cones"]) for r in rows) == summary["cones"]["total"]
    # the recorded outputs: one message per pair, the inputs' stamps, the node's cloud layout
    topics = recorded(out / "detections.mcap")
    assert {t: len(v) for t, v in topics.items()} == {
        "cones": PAIRS, "cone_markers": PAIRS, "detections/left": PAIRS,
        "detections/right": PAIRS, "debug_image": PAIRS, "birdseye": PAIRS}
    for row, item in zip(rows, topics["cones"]):
        cloud = item.msg
        assert [f.name for f in cloud.fields] == CONE_FIELDS
        assert {f.datatype for f in cloud.fields} == {7} and cloud.point_step == 48
        assert cloud.width == int(row["cones"])
        assert item.msg.header.frame_id == "camera_left_optical_frame"
        assert cloud.header.stamp.sec * 10**9 + cloud.header.stamp.nanosec == int(row["stamp_ns"])
    debug = topics["debug_image"][0].msg
    assert (debug.width, debug.height, debug.encoding) == (2560, 720, "bgr8")
    for item, cones in zip(topics["birdseye"], topics["cones"]):  # one per pair, same header
        bev = item.msg
        assert (bev.width, bev.height, bev.encoding) == (640, 480, "bgr8")
        assert bev.header == cones.msg.header


def test_the_recorded_detections_are_the_pipelines_on_the_same_frames(synth, colour_model,
                                                                       tmp_path):
    from yolo_stereo_trt.backends import load_backend
    from yolo_stereo_trt.core.pipeline import StereoPipeline
    from yolo_stereo_trt.core.postprocess import DecodeConfig
    out = tmp_path / "eval"
    assert run([str(synth / "val_mcap"), "--model", str(colour_model), "--out", str(out),
                "--no-debug-image"])[0] == 0
    inputs = recorded(synth / "val_mcap")
    frames = [m.msg.data.reshape(720, 1280, 3) for m in inputs["left/image_raw"][:1]] + \
        [m.msg.data.reshape(720, 1280, 3) for m in inputs["right/image_raw"][:1]]
    pipeline = StereoPipeline(load_backend(colour_model, "cpu"))
    (left, _), _ = pipeline.detect(frames[0], frames[1], DecodeConfig())
    got = recorded(out / "detections.mcap")["detections/left"][0].msg.detections
    centres = np.array([[d.bbox.center.position.x, d.bbox.center.position.y] for d in got])
    assert len(got) == len(left) > 0
    np.testing.assert_allclose(np.sort(centres, 0),
                               np.sort((left.boxes[:, :2] + left.boxes[:, 2:]) / 2, 0), atol=1e-3)


def test_sqlite3_compressed_bag_counts_match_and_no_rclpy_is_imported(synth, colour_model,
                                                                      tmp_path):
    out = tmp_path / "eval"
    code = ("import sys; from yolo_stereo_trt.tools.evaluate_bag import main; "
            f"rc = main([{str(synth / 'val_sqlite3')!r}, '--model', {str(colour_model)!r}, "
            f"'--out', {str(out)!r}, '--transport', 'compressed', '--compress-debug', "
            "'--no-progress']); "
            "assert 'rclpy' not in sys.modules, 'rclpy imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["topics"]["transport"] == "compressed"
    assert summary["topics"]["left"] == "left/image_raw/compressed"
    assert (summary["frames_left"], summary["frames_right"], summary["pairs"],
            summary["processed"], summary["unpaired"]) == (PAIRS, PAIRS, PAIRS, PAIRS, 0)
    assert summary["outputs"]["detections.mcap"]["debug_image/compressed"] == PAIRS
    assert "| frames left |" in proc.stdout  # the table


def test_truncated_mcap_file_is_read_up_to_the_cut(synth, colour_model, tmp_path, capsys):
    storage = next((synth / "val_mcap").glob("*.mcap"))
    data = storage.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[:int(len(data) * 0.75)])
    with BagSource(cut) as bag:
        left, right = bag.topics["left/image_raw"].count, bag.topics["right/image_raw"].count
    assert 0 < min(left, right) < PAIRS  # the cut lost messages
    rc, summary, err = run([str(cut), "--model", str(colour_model), "--out",
                            str(tmp_path / "eval")], capsys)
    assert rc == 0 and "cut short" in err and "Traceback" not in err
    assert (summary["frames_left"], summary["frames_right"]) == (left, right)
    assert summary["processed"] == min(left, right) and summary["bag_read_errors"] == 1
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"\x89MCAP0\r\n" + bytes(100))
    rc, summary, err = run([str(junk), "--model", str(colour_model), "--out",
                            str(tmp_path / "junk")], capsys)
    assert rc == 1 and "cannot read" in err and "Traceback" not in err


def test_one_side_only_is_counted_and_exits_non_zero(synth, colour_model, tmp_path, capsys):
    bag = rewrite_bag(synth / "val_mcap", tmp_path / "left_only",
                      {"left/image_raw": "left/image_raw", "left/camera_info": "left/camera_info"})
    rc, summary, err = run([str(bag), "--model", str(colour_model), "--out",
                            str(tmp_path / "eval")], capsys)
    assert rc == 1 and "no pair could be processed" in err
    assert (summary["frames_left"], summary["frames_right"], summary["pairs"],
            summary["unpaired"]) == (PAIRS, 0, 0, PAIRS)
    assert summary["topics"]["right"] is None
    bag = rewrite_bag(synth / "val_mcap", tmp_path / "right_only",
                      {"right/image_raw": "/cam/right/image_raw"})
    rc, summary, err = run([str(bag), "--model", str(colour_model), "--out",
                            str(tmp_path / "eval_right")], capsys)
    assert rc == 1 and "(no left images)" in err and "Traceback" not in err
    assert (summary["frames_left"], summary["frames_right"], summary["pairs"]) == (0, PAIRS, 0)


def test_several_candidate_topics_are_listed_and_a_named_pair_is_used(synth, colour_model,
                                                                      tmp_path, capsys):
    names = {}
    for ns in ("cam_a", "cam_b"):
        for t in ("left/image_raw", "right/image_raw", "left/camera_info", "right/camera_info"):
            names[t] = f"/{ns}/{t}"
        rewrite_bag(synth / "val_mcap", tmp_path / f"{ns}_part", dict(names))
    # one bag holding both namespaces: merge the two copies' files into one folder
    both = tmp_path / "both"
    both.mkdir()
    for ns in ("cam_a", "cam_b"):
        (tmp_path / f"{ns}_part" / f"{ns}_part.mcap").rename(both / f"{ns}.mcap")
    rc, summary, err = run([str(both), "--model", str(colour_model), "--out",
                            str(tmp_path / "eval")], capsys)
    assert rc == 2 and summary is None
    assert "several candidate image topics" in err
    assert "/cam_a/left/image_raw" in err and "/cam_b/right/image_raw" in err
    rc, summary, err = run([str(both / "cam_b.mcap"), "--model", str(colour_model), "--out",
                            str(tmp_path / "eval_b")], capsys)
    assert rc == 0 and summary["topics"]["left_info"] == "/cam_b/left/camera_info"
    rc, summary, err = run([str(both), "--left-topic", "/cam_a/left/image_raw", "--model",
                            str(colour_model), "--out", str(tmp_path / "eval_a")], capsys)
    assert rc == 0 and summary["topics"]["right"] == "/cam_a/right/image_raw"
    assert summary["pairs"] == PAIRS and summary["frames_left"] == PAIRS
    rc, _, err = run([str(both), "--left-topic", "/cam_c/left/image_raw", "--model",
                      str(colour_model), "--out", str(tmp_path / "eval_c")], capsys)
    assert rc == 2 and "/cam_c/left/image_raw is not in the bag" in err
    from yolo_stereo_trt.tools.check_stereo_rig import main as check_stereo_rig
    assert check_stereo_rig([str(both), "--model", str(colour_model), "--no-progress"]) == 2
    assert "several candidate image topics" in capsys.readouterr().err
    assert check_stereo_rig([str(both), "--left-topic", "/cam_b/left/image_raw", "--model",
                             str(colour_model), "--no-progress"]) == 0  # few cones: a warning
    assert f"{PAIRS} pairs, " in capsys.readouterr().out


def test_a_compressed_only_bag_is_evaluated_with_the_shipped_params_file_and_a_note(
        synth, colour_model, tmp_path, capsys):
    """config/params.yaml subscribes the node to raw images; a bag recorded compressed only is
    still evaluated (as recorded), with one line saying the node with that file would not
    take it; --transport raw takes raw only and refuses the bag."""
    only = rewrite_bag(synth / "val_mcap", tmp_path / "compressed_only", {
        "left/image_raw/compressed": "/cam/left/image_raw/compressed",
        "right/image_raw/compressed": "/cam/right/image_raw/compressed",
        "left/camera_info": "/cam/left/camera_info", "right/camera_info": "/cam/right/camera_info"})
    params = ["--params", str(ROOT / "config" / "params.yaml")]
    rc, summary, err = run([str(only), "--model", str(colour_model), "--out",
                            str(tmp_path / "eval"), *params], capsys)
    assert rc == 0 and summary["topics"]["transport"] == "compressed", err
    assert summary["processed"] == PAIRS
    assert "note: the params file's image_transport is raw" in err
    rc, _, err = run([str(only), "--model", str(colour_model), "--out", str(tmp_path / "raw"),
                      "--transport", "raw", *params], capsys)
    assert rc == 2 and "no raw image topics" in err
    rc, _, err = run([str(only), "--model", str(colour_model), "--out", str(tmp_path / "named"),
                      "--transport", "compressed", *params], capsys)
    assert rc == 0 and "note:" not in err  # chosen by the user: nothing to say


def test_unsupported_encoding_is_counted_and_the_other_pairs_processed(synth, colour_model,
                                                                       tmp_path, capsys):
    first = []

    def edit(topic, msg, copy):
        if topic == "right/image_raw" and not first:
            first.append(msg)
            msg.encoding = "16UC1"
        return msg

    bag = rewrite_bag(synth / "val_sqlite3", tmp_path / "enc", {t: t for t in TOPICS}, edit,
                      storage="sqlite3")
    rc, summary, err = run([str(bag), "--model", str(colour_model), "--out",
                            str(tmp_path / "eval")], capsys)
    assert rc == 0 and "unsupported encoding '16UC1'" in err
    assert summary["errors"] == {"bad_encoding": 1}
    assert summary["pairs"] == PAIRS and summary["processed"] == PAIRS - 1
    with open(tmp_path / "eval" / "frames.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["bad_encoding", "ok", "ok"]


def test_sync_slop_comes_from_the_params_file(synth, colour_model, tmp_path, capsys):
    def shift(topic, msg, copy):  # the right camera 5 ms late
        if topic.startswith("right"):
            msg.header.stamp.nanosec += 5_000_000
        return msg

    bag = rewrite_bag(synth / "val_mcap", tmp_path / "late", {t: t for t in TOPICS}, shift)
    params = tmp_path / "params.yaml"
    params.write_text("stereo_detector:\n  ros__parameters:\n    sync_slop: 0.002\n")
    rc, summary, _ = run([str(bag), "--model", str(colour_model), "--out",
                          str(tmp_path / "strict"), "--params", str(params)], capsys)
    assert rc == 1 and summary["pairs"] == 0 and summary["config"]["sync_slop"] == 0.002
    rc, summary, _ = run([str(bag), "--model", str(colour_model), "--out",
                          str(tmp_path / "default")], capsys)
    assert rc == 0 and summary["pairs"] == PAIRS  # the node's default slop, 10 ms
    params.write_text("stereo_detector:\n  ros__parameters:\n    sync_slops: 0.002\n")
    rc, _, err = run([str(bag), "--model", str(colour_model), "--out", str(tmp_path / "bad"),
                      "--params", str(params)], capsys)
    assert rc == 2 and "unknown parameter 'sync_slops' (did you mean sync_slop?)" in err


def test_a_looped_bag_resets_pairing_and_a_repeated_one_is_dropped_as_stale(synth, colour_model,
                                                                            tmp_path, capsys):
    def back_in_time(topic, msg, copy):  # the second play 10 s earlier: a bag loop
        msg.header.stamp.sec -= 10 * copy
        return msg

    looped = rewrite_bag(synth / "val_mcap", tmp_path / "looped", {t: t for t in TOPICS},
                         back_in_time, copies=2)
    rc, summary, printed = run([str(looped), "--model", str(colour_model), "--out",
                                str(tmp_path / "looped_eval")], capsys)
    assert rc == 0 and "pairing reset" in printed
    assert (summary["frames_left"], summary["pairs"], summary["processed"],
            summary["pairing_resets"], summary["stale_pairs_dropped"]) == (
        2 * PAIRS, 2 * PAIRS, 2 * PAIRS, 1, 0)
    repeated = rewrite_bag(synth / "val_mcap", tmp_path / "repeated", {t: t for t in TOPICS},
                           copies=2)  # the same stamps again, 0.5 s later: not newer
    rc, summary, _ = run([str(repeated), "--model", str(colour_model), "--out",
                          str(tmp_path / "repeated_eval")], capsys)
    assert rc == 0 and summary["pairing_resets"] == 0
    assert (summary["frames_left"], summary["pairs"], summary["stale_pairs_dropped"],
            summary["unpaired"]) == (2 * PAIRS, PAIRS, PAIRS, 0)
    # --start / --duration select by recording time: the second play only
    rc, summary, _ = run([str(looped), "--model", str(colour_model), "--out",
                          str(tmp_path / "second"), "--start", "0.5"], capsys)
    assert rc == 0 and (summary["frames_left"], summary["pairs"]) == (PAIRS, PAIRS)


def test_data_longer_than_height_times_step_is_processed_and_counted(synth, colour_model,
                                                                     tmp_path, capsys):
    def pad(topic, msg, copy):
        if topic == "left/image_raw":
            msg.data = np.concatenate([msg.data, np.zeros(100, np.uint8)])
        return msg

    bag = rewrite_bag(synth / "val_mcap", tmp_path / "long", {t: t for t in TOPICS}, pad)
    rc, summary, printed = run([str(bag), "--model", str(colour_model), "--out",
                                str(tmp_path / "eval")], capsys)
    assert rc == 0 and summary["processed"] == PAIRS and summary["errors"] == {}
    assert summary["warnings"] == {"long_data": PAIRS} and "100 trailing bytes" in printed


@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="the shipped model is not in the tree")
def test_shipped_model_ground_truth_metrics_are_present_and_sane(synth, tmp_path, capsys):
    out = tmp_path / "eval"
    rc, summary, printed = run([str(synth / "val_mcap"), "--model", str(SHIPPED_MODEL), "--out",
                                str(out), "--duration", "0.3", "--no-debug-image"], capsys)
    assert rc == 0 and summary["pairs"] == 2  # pairs at 0.0 and 0.2 s
    gt = summary["ground_truth"]
    assert gt["pairs_matched"] == 2 and gt["instances"] > 10
    assert 0.3 < gt["precision"] <= 1 and 0.3 < gt["recall"] <= 1 and 0.25 < gt["map50"] <= 1
    assert {c["class"] for c in gt["per_class"]} <= {"blue_cone", "yellow_cone", "orange_cone",
                                                     "large_orange_cone", "unknown_cone"}
    assert [r["range"] for r in gt["per_range"]][0] == "0-5 m"
    near = gt["located_3d"][0]
    assert near["located"] >= 1 and near["error_3d_m_median"] < 0.2  # within 5 m: centimetres
    assert "mAP50" in printed and "3D error median" in printed
    stereo = summary["stereo"]  # the stereo stage's counters over the bag, as /diagnostics has them
    assert set(stereo) >= {"pairs", "ambiguous", "implausible", "searched", "found_by_search",
                           "duplicate", "border_cut"}
    assert stereo["pairs"] + stereo["found_by_search"] >= near["located"]
    assert "stereo:" in printed


def test_plots_are_written_from_the_bag_with_ground_truth(synth, colour_model, tmp_path, capsys):
    out = tmp_path / "eval"
    rc, summary, printed = run([str(synth / "val_mcap"), "--model", str(colour_model), "--out",
                                str(out), "--plots", "--no-debug-image", "--no-birdseye"], capsys)
    assert rc == 0 and summary["ground_truth"]["pairs_matched"] == PAIRS
    names = ["depth_error_vs_range.png", "cones_per_frame.png", "latency_per_stage.png",
             "detections_per_class.png"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(names)
    assert all((out / "plots" / n).read_bytes()[:4] == b"\x89PNG" for n in names)
    assert f"plots: {out / 'plots' / names[0]}" in printed
    assert set(recorded(out / "detections.mcap")) == {"cones", "cone_markers", "detections/left",
                                                      "detections/right"}


def test_plots_without_matplotlib_fail_at_once_with_one_line(synth, colour_model, tmp_path):
    out = tmp_path / "eval"
    code = ("import sys; sys.modules['matplotlib'] = None; "  # as if it were not installed
            "from yolo_stereo_trt.tools.evaluate_bag import main; "
            f"sys.exit(main([{str(synth / 'val_mcap')!r}, '--model', {str(colour_model)!r}, "
            f"'--out', {str(out)!r}, '--plots', '--no-progress']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "evaluate_bag: --plots: plots need matplotlib, which is not installed (import of "
        "matplotlib halted; None in sys.modules): pip install matplotlib"]
    assert not out.exists()  # refused before the bag was read


def test_located_cones_published_in_an_output_frame_are_compared_with_the_truth_in_that_frame():
    """evaluate_bag with output_frame set: the cones are in base_link, the ground truth in the
    left optical frame; a perfectly located cone has 3D error 0 and depth error 0."""
    from yolo_stereo_trt.core.frames import RigidTransform
    from yolo_stereo_trt.data.bag_eval import locate_errors
    truth = np.array([[0.5, 0.7375, 10.0], [-1.0, 0.7375, 20.0]])
    gt = [{"xyz": list(p), "visibility": [1.0, 1.0], "visible_left": [100 + 50 * i, 300, 110 + 50 * i, 320]}
          for i, p in enumerate(truth)]
    boxes = np.array([c["visible_left"] for c in gt], np.float32)
    to_base = RigidTransform.from_camera_pose([0.2, 0.0, 1.0, 0.0, 0.05, 0.0])
    published = to_base.apply(truth)
    z, errors, dz = locate_errors(published, boxes, gt, depths=truth[:, 2], transform=to_base)
    assert np.allclose(errors, 0.0, atol=1e-9) and np.allclose(dz, 0.0)
    _, wrong, _ = locate_errors(published, boxes, gt)  # the old comparison: frames mixed
    assert (wrong > 0.5).all()


def test_a_bag_whose_camera_info_states_a_baseline_15pct_too_large_is_not_trusted(synth,
                                                                                   tmp_path,
                                                                                   capsys):
    """check_stereo_rig on the clean bag saves a reference; the same pairs with the right
    camera_info's baseline 15 % larger: evaluate_bag's summary measures the depth scale against
    the reference, calls it an error, and its report says not to trust the bag's depths."""
    from yolo_stereo_trt.tools.check_stereo_rig import main as check_stereo_rig
    params = tmp_path / "params.yaml"
    params.write_text("stereo_detector:\n  ros__parameters:\n    rig_min_cones: 20\n")
    reference = tmp_path / "reference.json"
    assert check_stereo_rig([str(synth / "val_mcap"), "--model", str(SHIPPED_MODEL), "--params",
                             str(params), "--save-reference", str(reference),
                             "--no-progress"]) == 0
    assert "verdict: ok" in capsys.readouterr().out

    def wider(topic, msg, copy):
        if topic == "right/camera_info":
            msg.p = msg.p.copy()
            msg.p[3] *= 1.15  # Tx = -fx B
        return msg
    bag = rewrite_bag(synth / "val_mcap", tmp_path / "wide", {t: t for t in TOPICS}, wider)
    out = tmp_path / "eval"
    rc, summary, printed = run([str(bag), "--model", str(SHIPPED_MODEL), "--out", str(out),
                                "--params", str(params), "--rig-reference", str(reference),
                                "--no-debug-image", "--no-birdseye"], capsys)
    assert rc == 0
    rig = summary["rig"]
    assert rig["cones"] >= 20 and rig["verdict"] == "error" and not rig["depths_trusted"]
    assert rig["depth_scale_vs_reference"] == pytest.approx(1.15, abs=0.05)
    assert "do not trust this bag's depths" in printed
    assert re.search(r"1[3-7] % too far", printed)


def test_play_bag_takes_topics_with_or_without_the_leading_slash_and_refuses_one_the_bag_lacks(
        synth):
    """`play_bag --topics /left/image_raw` is the usual ROS spelling of a topic the bag stores
    as left/image_raw: played; a topic the bag lacks is refused up front with the bag's list
    (it used to play nothing and end in a KeyError)."""
    import rclpy

    from yolo_stereo_trt.tools.play_bag import BagPlayer
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bag_player_test", context=context)
    try:
        for topics in (["/left/image_raw"], ["left/image_raw"]):
            player = BagPlayer(node, synth / "val_mcap", topics)
            assert [t.lstrip("/") for t in player.topics] == ["left/image_raw"]
            assert player.message_count == PAIRS
        with pytest.raises(ValueError, match="has no topic left/nope; it has .*left/image_raw"):
            BagPlayer(node, synth / "val_mcap", ["/left/image_raw", "/left/nope"])
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_play_bag_waits_for_a_subscriber_per_topic_taking_raw_or_compressed_as_one(synth):
    """The shipped bags carry each image raw and compressed; a node subscribes to one of them.
    The player's wait ends once each camera topic has a subscriber on either (it used to wait
    out its 10 s for the compressed topics nobody takes, then warn)."""
    import rclpy
    from sensor_msgs.msg import CameraInfo, Image

    from yolo_stereo_trt.tools.play_bag import BagPlayer
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bag_player_wait_test", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spin = lambda s: executor.spin_once(timeout_sec=s)  # noqa: E731
    try:
        prefix = f"/wait_{os.getpid()}"  # nobody else's subscriptions in the domain count
        player = BagPlayer(node, synth / "val_mcap", prefix=prefix)
        assert any(t.endswith("/compressed") for t in player.topics), player.topics
        assert not player.wait_for_subscribers(player.topics, 0.3, spin)  # nobody yet
        for side in ("left", "right"):
            node.create_subscription(Image, f"{prefix}/{side}/image_raw", lambda m: None,
                                     rclpy.qos.qos_profile_sensor_data)
            node.create_subscription(CameraInfo, f"{prefix}/{side}/camera_info", lambda m: None,
                                     10)
        assert player.wait_for_subscribers(player.topics, 30.0, spin)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_play_bag_looping_ends_on_sigint_or_sigterm_with_exit_0_and_no_traceback(synth):
    """--loop plays until it is stopped: Ctrl-C, or SIGTERM from ros2 launch, systemd or a
    script that started it in the background. rclpy's handler shuts the context down, and a
    player waiting between messages in spin_once raised ExternalShutdownException: a traceback
    and exit 1 (SIGTERM every time, SIGINT where the shell had it ignored)."""
    import signal

    from ros_helpers import output_until
    for sig in (signal.SIGTERM, signal.SIGINT):  # (the test's own ROS_DOMAIN_ID: conftest)
        proc = subprocess.Popen([str(Path(sys.executable).parent / "play_bag"),
                                 str(synth / "val_mcap"), "--loop", "--wait", "0", "--rate",
                                 "0.5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        out = ""
        try:
            out = output_until(proc, "played", 120)  # looping: mostly waiting between messages
            assert "played" in out, out
            proc.send_signal(sig)
            rest, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0 and "Traceback" not in rest, (sig, out + rest)
