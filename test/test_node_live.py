"""The real stereo_detector node over real rclpy / Fast DDS (PyPI ROS 2 wheels), no mocks."""
import time

import cv2
import numpy as np
import onnx
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from onnx import TensorProto, helper, numpy_helper
from rosgraph_msgs.msg import Clock
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2

from ros_helpers import ROOT, Harness, NodeProcess, diagnostics_values, paced, stamp_of
from yolo_stereo_trt.core.classes import FSOCO_NAMES
from yolo_stereo_trt.core.images import array_to_image_fields
from yolo_stereo_trt.core.cloud import covariances_from_array
from yolo_stereo_trt.ros.messages import pointcloud2_to_array
from yolo_stereo_trt.data.synthetic import render_pair

SCENES = [render_pair(seed) for seed in (4, 5)]

# No retries: the start-up stall once seen here lived in Fast DDS' LARGE_DATA loopback TCP
# channel (see conftest.py); the tests use the shared-memory profile, which opens no TCP.


pytestmark = pytest.mark.usefixtures("ros")  # conftest.py


@pytest.fixture(scope="module")
def node():
    proc = NodeProcess(params_file=ROOT / "config" / "params.yaml", namespace="/live")
    yield proc
    assert proc.stop() == 0, proc.output()  # SIGINT shuts it down cleanly
    assert "shutting down" in proc.output()


@pytest.fixture(scope="module")
def harness(node):
    h = Harness("/live/")
    h.cones = h.collect(PointCloud2, "/live/cones")
    h.diag = h.collect(DiagnosticArray, "/diagnostics")
    assert h.wait_for_node(), node.output()
    yield h
    h.destroy_node()


def send(h, scene, t, **kwargs):
    """camera_info first, given time to arrive: a pair the node takes before any camera_info is
    2D only, and a resend of the same stamp is then (rightly) dropped as stale."""
    h.publish_infos(scene, stamp_of(t))
    h.spin_until(lambda: False, 0.1)
    h.publish_pair(scene.left, scene.right, stamp_of(t), **kwargs)


def latest_diag(h, node_name="/live/stereo_detector"):
    for array in reversed(h.diag):
        if array.status and array.status[0].hardware_id == node_name:
            return diagnostics_values(array)
    return None


def wait_cones_for(h, t, timeout=15.0, resend=None):
    """Wait for the cones message of the pair sent at t, ``resend(t_k)`` sending it again at a
    1 ms later stamp each time: best effort may lose a frame, and a pair that came before the
    node had camera_info was published 2D only, so the same stamp again would be stale."""
    stamps = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if resend or not stamps:
            stamps.append(stamp_of(t + 1e-3 * len(stamps)))
            if resend:
                resend(t + 1e-3 * (len(stamps) - 1))
        if h.spin_until(lambda: any(m.header.stamp in stamps for m in h.cones), 2.0):
            return next(m for m in h.cones if m.header.stamp in stamps)
    return None


def test_stereo_pairs_become_cones_with_left_header(harness, node):
    for i, scene in enumerate(SCENES):
        t = 100.0 + i
        msg = wait_cones_for(harness, t, resend=lambda tk: send(harness, scene, tk))
        assert msg is not None, node.output()
        assert msg.header.frame_id == "stereo_left_optical"
        assert [f.name for f in msg.fields] == ["x", "y", "z", "class_id", "confidence", "cov_xx",
                                                "cov_xy", "cov_xz", "cov_yy", "cov_yz", "cov_zz",
                                                "source"]
        cones = pointcloud2_to_array(msg)
        cov = covariances_from_array(cones)
        assert (np.linalg.eigvalsh(cov) > 0).all()  # a real covariance per cone
        assert len(cones) >= 3
        assert set(cones[:, 3].astype(int)) <= set(range(5))
        assert (cones[:, 2] > 1.0).all() and (cones[:, 2] < 40).all()
        # the located cones lie in the bearing of ground-truth cones of their class ...
        bearing_error = np.abs(scene.xyz[:, 0] / scene.xyz[:, 2] - (cones[:, 0] / cones[:, 2])[:, None])
        bearing_error[cones[:, 3][:, None] != scene.class_ids[None, :]] = np.inf
        on_cone = bearing_error.min(axis=1) < 0.03
        assert on_cone.mean() >= 0.8, (cones, scene.xyz)
        # ... at the right depth (sub-pixel stereo)
        truth_z = scene.xyz[bearing_error.argmin(axis=1), 2][on_cone]
        assert np.median(np.abs(cones[on_cone, 2] - truth_z) / truth_z) < 0.05


def test_bag_replay_gives_cones_and_markers_that_match_the_ground_truth(harness, node, tmp_path):
    """make_synthetic's rosbag (MCAP) through the bag player into the node: cones at the
    recorded stamps, at the ground truth's positions; markers alongside. The bag's pairs lie 2 s
    apart, so each replay jumps back more than a second and resets the pairing: a pair lost on
    one play (its writer not yet matched on the node's side) is taken on the next, not dropped
    as stale behind the other."""
    import json

    from visualization_msgs.msg import MarkerArray

    from yolo_stereo_trt.tools.make_synthetic import main as make_synthetic
    from yolo_stereo_trt.tools.play_bag import BagPlayer
    assert make_synthetic(["--out", str(tmp_path), "--pairs", "2", "--seed", "77", "--split",
                           "demo", "--no-images", "--bag", "mcap", "--no-compressed",
                           "--workers", "1", "--rate", "0.5"]) == 0
    truth = {p["stamp_ns"]: p for p in
             json.loads((tmp_path / "ground_truth_demo.json").read_text())["pairs"]}
    markers = harness.collect(MarkerArray, "/live/cone_markers")
    player = BagPlayer(harness, tmp_path / "demo_mcap", prefix="/live", rate=4.0)
    spin = lambda s: rclpy.spin_once(harness, timeout_sec=s)  # noqa: E731
    assert player.wait_for_subscribers(["left/image_raw", "right/image_raw"], 10, spin)

    def stamp_ns(m):
        return m.header.stamp.sec * 10**9 + m.header.stamp.nanosec

    def complete() -> bool:
        return set(truth) <= {stamp_ns(m) for m in harness.cones} and any(
            stamp_ns(m.markers[0]) in truth for m in markers if m.markers)
    for _ in range(4):  # best effort may lose a frame: replay until every pair came back
        player.play(spin)
        if harness.spin_until(complete, 5):
            break
    got = {stamp_ns(m): m for m in harness.cones if stamp_ns(m) in truth}
    assert set(got) == set(truth), node.output()
    for stamp, msg in got.items():
        assert msg.header.frame_id == "camera_left_optical_frame"
        cones = pointcloud2_to_array(msg)
        xyz = np.array([c["xyz"] for c in truth[stamp]["cones"]])
        assert len(cones) >= 2
        dist = np.linalg.norm(cones[:, None, [0, 2]] - xyz[None, :, [0, 2]], axis=2)
        near = dist.min(1) < 0.5  # located on a true cone (a detector may add false ones)
        assert near.mean() >= 0.5, (cones, xyz)
        nearest = dist.argmin(1)[near]
        rel = np.abs(cones[near, 2] - xyz[nearest, 2]) / xyz[nearest, 2]
        assert np.median(rel) < 0.05
    assert complete(), "no cone_markers for the bag's pairs"


def test_diagnostics_report_rates_latency_and_backend(harness, node):
    msg = wait_cones_for(harness, 150.0, resend=lambda tk: send(harness, SCENES[0], tk))
    assert msg is not None, node.output()  # a pair of its own: runs alone or in any order
    assert harness.spin_until(lambda: (latest_diag(harness) or {}).get("count_processed", "0") != "0", 10)
    values = latest_diag(harness)
    assert values["backend"] == "onnxruntime"
    assert values["input_shape"] == "2x640x640"
    for key in ("rate_input_left_hz", "rate_paired_hz", "latency_inference_ms_p50",
                "latency_preprocess_ms_p50", "latency_decode_ms_p50", "latency_total_ms_p50"):
        assert key in values, values
    assert float(values["latency_inference_ms_p50"]) > 0


def test_thresholds_change_at_run_time_and_invalid_values_are_refused(harness, node):
    results = harness.set_parameters("/live/stereo_detector", conf_threshold=0.999)
    assert results[0].successful
    scene = SCENES[0]
    msg = wait_cones_for(harness, 200.0, resend=lambda tk: send(harness, scene, tk))
    assert msg is not None and msg.width == 0  # nothing is that confident
    assert harness.set_parameters("/live/stereo_detector", conf_threshold=0.25)[0].successful
    msg = wait_cones_for(harness, 201.0, resend=lambda tk: send(harness, scene, tk))
    assert msg is not None and msg.width >= 3

    refused = harness.set_parameters("/live/stereo_detector", conf_threshold=1.5)
    assert not refused[0].successful
    refused = harness.set_parameters("/live/stereo_detector", min_depth=50.0)
    assert not refused[0].successful and "max_depth" in refused[0].reason
    refused = harness.set_parameters("/live/stereo_detector", class_conf_thresholds=[0.5, 0.5])
    assert not refused[0].successful and "one value per class" in refused[0].reason
    refused = harness.set_parameters("/live/stereo_detector", image_transport="compressed")
    assert not refused[0].successful  # read-only: set at start
    ok = harness.set_parameters("/live/stereo_detector", class_conf_thresholds=[0.3, 0.3, 0.3, 0.3, 0.3])
    assert ok[0].successful


def test_debug_image_only_when_enabled(harness, node):
    images = harness.collect(Image, "/live/debug_image")
    scene = SCENES[1]
    send(harness, scene, 300.0)
    harness.spin_until(lambda: False, 1.5)
    assert images == []  # disabled by default
    assert harness.set_parameters("/live/stereo_detector", publish_debug_image=True)[0].successful
    t = [301.0]

    def send_fresh():  # a fresh stamp each time: the same one again would be dropped as stale
        t[0] += 1e-3
        send(harness, scene, t[0])
    resend = paced(send_fresh)
    assert harness.spin_until(lambda: bool(images) or resend(), 30), node.output()
    assert images[0].width == 2 * scene.camera.width and images[0].encoding == "bgr8"


def test_bad_input_is_counted_and_the_node_keeps_running(harness, node):
    scene = SCENES[0]
    left16 = Image(height=4, width=4, encoding="16UC1", step=8, data=bytes(32))
    short = Image(height=720, width=1280, encoding="bgr8", step=3840, data=bytes(100))
    t = [400.0]
    first = len(harness.diag)

    def send_bad_inputs():
        """One of each kind of bad pair, then a good one (resent until counted: best effort may
        lose a frame)."""
        for bad in (left16, short):
            t[0] += 1
            bad.header.stamp = stamp_of(t[0])
            harness.pub_images[0].publish(bad)
            harness.pub_images[1].publish(Image(header=bad.header, **array_to_image_fields(scene.right)))
            harness.spin_until(lambda: False, 0.2)
        t[0] += 1
        harness.publish_pair(scene.left, scene.right[:360], stamp_of(t[0]))  # sizes differ
        harness.spin_until(lambda: False, 0.2)
        t[0] += 1
        send(harness, scene, t[0])  # and a good pair: a period with errors and pairs processed

    def counted():
        values = latest_diag(harness) or {}
        return all(int(values.get(f"errors_{kind}", 0)) >= 1
                   for kind in ("bad_encoding", "bad_size", "size_mismatch"))

    def warned():  # a period of errors among processed pairs is a warning, not an error
        return any(a.status and a.status[0].hardware_id == "/live/stereo_detector"
                   and a.status[0].level == DiagnosticStatus.WARN
                   and "errors in the last period" in a.status[0].message
                   for a in harness.diag[first:])
    resend = paced(send_bad_inputs, 1.5)
    assert harness.spin_until(lambda: (counted() and warned()) or resend(), 60), \
        latest_diag(harness)
    msg = wait_cones_for(harness, 499.0, resend=lambda tk: send(harness, scene, tk))
    assert msg is not None and msg.width >= 3, node.output()  # still working
    out = node.output()
    assert "unsupported encoding '16UC1'" in out and "differ" in out


def nan_model(path):
    """A model of the right I/O whose output is all NaN."""
    n = 8400
    nodes = [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["z"]),
             helper.make_node("Add", ["nan", "z"], ["output0"])]
    graph = helper.make_graph(
        nodes, "nan", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [2, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [2, 9, n])],
        [numpy_helper.from_array(np.full((2, 9, n), np.nan, np.float32), "nan"),
         numpy_helper.from_array(np.array(0, np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    # names metadata: a model without names is refused at load (it would need class_names)
    model.metadata_props.add(key="names", value=str(dict(enumerate(FSOCO_NAMES))))
    onnx.save(model, path)


def test_nan_output_is_counted_and_the_node_keeps_running(tmp_path):
    nan_model(tmp_path / "nan.onnx")
    proc = NodeProcess({"model_path": str(tmp_path / "nan.onnx")}, namespace="/nan")
    h = Harness("/nan/")
    diag = h.collect(DiagnosticArray, "/diagnostics")
    try:
        assert h.wait_for_node(), proc.output()
        send_paced = paced(lambda: send(h, SCENES[0], 500.0))

        def nan_counted():
            send_paced()
            return any(a.status and a.status[0].hardware_id == "/nan/stereo_detector"
                       and int(diagnostics_values(a).get("errors_nan_output", 0)) > 0 for a in diag)
        assert h.spin_until(nan_counted, 20), proc.output()
        assert proc.proc.poll() is None
    finally:
        h.destroy_node()
        code = proc.stop()
    assert code == 0, proc.output()
    assert "NaN" in proc.output()


def test_compressed_transport_and_corrupt_jpeg():
    proc = NodeProcess({"image_transport": "compressed"}, namespace="/jpg")
    h = Harness("/jpg/", transport="compressed")
    cones = h.collect(PointCloud2, "/jpg/cones")
    diag = h.collect(DiagnosticArray, "/diagnostics")
    try:
        assert h.wait_for_node(), proc.output()
        scene = SCENES[1]
        from sensor_msgs.msg import CompressedImage
        right_jpeg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", scene.right)[1].tobytes())
        t = [600.0]

        def send_corrupt():  # a corrupt left JPEG with a good right one, fresh stamps each time
            t[0] += 1
            corrupt = CompressedImage(format="jpeg", data=b"\xff\xd8\xff garbage")
            corrupt.header.stamp = right_jpeg.header.stamp = stamp_of(t[0])
            h.pub_images[0].publish(corrupt)
            h.pub_images[1].publish(right_jpeg)
        send_corrupt_paced = paced(send_corrupt)
        good = [700.0]

        def send_good():  # fresh stamps: a resend of a processed stamp is dropped as stale
            good[0] += 1
            h.publish_infos(scene, stamp_of(good[0]))
            h.spin_until(lambda: False, 0.1)
            h.publish_pair(scene.left, scene.right, stamp_of(good[0]), jpeg=True)
        send_good_paced = paced(send_good)

        def got_cones():
            send_good_paced()
            return any(m.header.stamp.sec >= 700 and m.width >= 3 for m in cones)
        assert h.spin_until(got_cones, 20), proc.output()
        assert h.spin_until(lambda: any(
            a.status and a.status[0].hardware_id == "/jpg/stereo_detector"
            and int(diagnostics_values(a).get("errors_corrupt_compressed", 0)) >= 1 for a in diag)
            or send_corrupt_paced(), 20), proc.output()
    finally:
        h.destroy_node()
        assert proc.stop() == 0


def test_incompatible_qos_is_reported_and_sim_time_is_used():
    proc = NodeProcess({"image_qos": "reliable", "use_sim_time": True}, namespace="/qos")
    h = Harness("/qos/", image_qos=QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    diag = h.collect(DiagnosticArray, "/diagnostics")
    clock = h.create_publisher(Clock, "/clock", 10)
    try:
        assert h.spin_until(lambda: "active:" in proc.output(), 60), proc.output()  # start-up
        assert h.spin_until(lambda: "incompatible QoS" in proc.output(), 20), proc.output()

        tick = paced(lambda: clock.publish(Clock(clock=stamp_of(1234.5))), 0.1)

        def sim_stamped():  # a bag replay's /clock drives the node's clock
            tick()
            return any(a.status and a.status[0].hardware_id == "/qos/stereo_detector"
                       and a.header.stamp.sec == 1234 for a in diag)
        assert h.spin_until(sim_stamped, 15)
    finally:
        h.destroy_node()
        assert proc.stop() == 0
