"""The managed (lifecycle) node driven as the car's state machine drives it: every transition of a
real stereo_detector process through the real lifecycle_msgs services over DDS; a failed
configure with autostart false; and, in-process, cones published in base_link on the ground.

(With autostart true a failed configure exits 2 with the reason: test_ros_node.py covers it.)
"""
import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from ros_helpers import (DEMO_MODEL, ROOT, Harness, NodeProcess, diagnostics_values,
                         stamp_of)
from yolo_stereo_trt.core.images import array_to_image_fields
from yolo_stereo_trt.data.synthetic import (CAMERA_HEIGHT, default_camera, projection_matrices,
                                            render_pair)
from yolo_stereo_trt.ros.messages import pointcloud2_to_array

RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
SCENE = render_pair(700, camera=default_camera(640, 360))  # small frames: the stand-in replays
FAST = {"diagnostics_period": 0.2, "image_qos": "reliable", "autostart": False}


pytestmark = pytest.mark.usefixtures("ros")  # conftest.py


class Lifecycle:
    """lifecycle_msgs clients of one node, on the harness node."""

    def __init__(self, h: Harness, node_name: str) -> None:
        self.h = h
        self.change = h.create_client(ChangeState, f"{node_name}/change_state")
        self.get = h.create_client(GetState, f"{node_name}/get_state")
        assert self.change.wait_for_service(timeout_sec=20.0), "no change_state service"
        assert self.get.wait_for_service(timeout_sec=20.0), "no get_state service"

    def _call(self, client, request):
        future = client.call_async(request)
        assert self.h.spin_until(future.done, 30.0), "lifecycle service did not answer"
        return future.result()

    def state(self) -> tuple[int, str]:
        s = self._call(self.get, GetState.Request()).current_state
        return s.id, s.label

    def transition(self, transition_id: int) -> bool:
        return self._call(self.change, ChangeState.Request(
            transition=Transition(id=transition_id))).success


def latest_diag(h: Harness, node_name: str, after: float = 0.0, timeout: float = 5.0) -> dict:
    """The node's diagnostics from a message received after ``after`` (monotonic)."""
    store = h.received["/diagnostics"]
    start = len(store)
    found: list = []

    def fresh():
        for array in store[start:]:
            if array.status and array.status[0].hardware_id == node_name:
                found.append(diagnostics_values(array))
        return bool(found)
    assert h.spin_until(fresh, timeout), f"no diagnostics from {node_name}"
    return found[-1]


def send_until_cones(h: Harness, cones: list, t0: float, timeout: float = 20.0):
    """Pairs (stamps from t0 on, 5 Hz) until a cones message of one of them arrives."""
    stamps: list = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        stamp = stamp_of(t0 + 0.2 * len(stamps))
        stamps.append(stamp)
        h.publish_infos(SCENE, stamp)
        h.publish_pair(SCENE.left, SCENE.right, stamp)
        if h.spin_until(lambda: any(m.header.stamp in stamps for m in cones), 0.2):
            return next(m for m in cones if m.header.stamp in stamps)
    return None


def test_every_lifecycle_transition_over_lifecycle_msgs_services(model):
    proc = NodeProcess({"model_path": str(model), **FAST}, namespace="/lc")
    name = "/lc/stereo_detector"
    h = Harness("/lc/", image_qos=RELIABLE)
    cones = h.collect(PointCloud2, "/lc/cones")
    h.collect(DiagnosticArray, "/diagnostics")
    subscribed = lambda: all(p.get_subscription_count() > 0 for p in h.pub_images)  # noqa: E731
    unsubscribed = lambda: all(p.get_subscription_count() == 0 for p in h.pub_images)  # noqa: E731
    try:
        lc = Lifecycle(h, name)
        assert lc.state() == (State.PRIMARY_STATE_UNCONFIGURED, "unconfigured")
        diag = latest_diag(h, name)
        assert diag["lifecycle_state"] == "unconfigured" and "backend" not in diag
        assert diag["_level"] == DiagnosticStatus.OK  # waiting for configure is not a fault

        assert lc.transition(Transition.TRANSITION_CONFIGURE)
        assert lc.state() == (State.PRIMARY_STATE_INACTIVE, "inactive")
        diag = latest_diag(h, name)
        assert diag["lifecycle_state"] == "inactive" and diag["backend"] == "onnxruntime"
        assert not h.spin_until(subscribed, 2.0)  # configured, not subscribed

        assert lc.transition(Transition.TRANSITION_ACTIVATE)
        assert lc.state() == (State.PRIMARY_STATE_ACTIVE, "active")
        assert h.wait_for_node(), proc.output()
        msg = send_until_cones(h, cones, 100.0)
        assert msg is not None and msg.width >= 3, proc.output()
        assert latest_diag(h, name)["lifecycle_state"] == "active"

        assert lc.transition(Transition.TRANSITION_DEACTIVATE)
        assert lc.state() == (State.PRIMARY_STATE_INACTIVE, "inactive")
        assert h.spin_until(unsubscribed, 10.0), "image subscriptions still there after deactivate"
        processed = int(latest_diag(h, name).get("count_processed", 0))
        cones.clear()
        assert send_until_cones(h, cones, 200.0, timeout=2.0) is None  # inactive: no cones out
        diag = latest_diag(h, name, timeout=2.0)
        assert diag["lifecycle_state"] == "inactive"
        assert int(diag.get("count_processed", 0)) == processed

        assert lc.transition(Transition.TRANSITION_ACTIVATE)  # again: same model, fresh worker
        assert h.wait_for_node(), proc.output()
        msg = send_until_cones(h, cones, 300.0)
        assert msg is not None and msg.width >= 3, proc.output()

        assert lc.transition(Transition.TRANSITION_DEACTIVATE)
        assert lc.transition(Transition.TRANSITION_CLEANUP)
        assert lc.state() == (State.PRIMARY_STATE_UNCONFIGURED, "unconfigured")
        diag = latest_diag(h, name)
        assert diag["lifecycle_state"] == "unconfigured" and "backend" not in diag  # released

        assert lc.transition(Transition.TRANSITION_CONFIGURE)
        assert lc.state() == (State.PRIMARY_STATE_INACTIVE, "inactive")
        assert lc.transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert lc.state() == (State.PRIMARY_STATE_FINALIZED, "finalized")
        assert latest_diag(h, name)["lifecycle_state"] == "finalized"
        assert not lc.transition(Transition.TRANSITION_CONFIGURE)  # finalized is final
        assert proc.proc.poll() is None
    finally:
        h.destroy_node()
        code = proc.stop()
    out = proc.output()
    assert code == 0, out
    assert "Traceback" not in out and "shutting down" in out


@pytest.mark.parametrize("params, reason", [
    ({"model_path": "/nonexistent/cones.onnx"}, "model file not found: /nonexistent/cones.onnx"),
    ({"min_depth": 50.0, "max_depth": 40.0}, "min_depth (50) must be below max_depth (40)"),
], ids=["bad_model_path", "min_depth_not_below_max_depth"])
def test_a_failed_configure_leaves_it_unconfigured_with_the_reason_and_the_process_up(
        model, params, reason):
    ns = "/bad_" + str(time.monotonic_ns())[-6:]
    name = f"{ns}/stereo_detector"
    proc = NodeProcess({"model_path": str(model), **FAST, **params}, namespace=ns)
    h = Harness(f"{ns}/", image_qos=RELIABLE)
    h.collect(DiagnosticArray, "/diagnostics")
    try:
        lc = Lifecycle(h, name)
        for _ in range(2):  # and again: a failed configure can be retried, it fails the same way
            assert not lc.transition(Transition.TRANSITION_CONFIGURE)
            assert lc.state() == (State.PRIMARY_STATE_UNCONFIGURED, "unconfigured")
        assert f"configure failed: {reason}" in proc.output()
        diag = latest_diag(h, name)
        assert diag["_level"] == DiagnosticStatus.ERROR
        assert reason in diag["_message"] and diag["lifecycle_state"] == "unconfigured"
        assert proc.proc.poll() is None  # the process stays up for the state machine
    finally:
        h.destroy_node()
        code = proc.stop()
    assert code == 0, proc.output()
    assert "Traceback" not in proc.output()


# --- in-process: cones in base_link, on the ground ---------------------------------------------

def test_base_link_output_publishes_synthetic_cones_on_the_ground():
    """A level camera CAMERA_HEIGHT above the ground: the located cones (axis at half height)
    come out in base_link (x forward, y left, z up) at their true half height above z = 0."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    params = {"model_path": DEMO_MODEL, "autostart": False, "output_frame": "base_link",
              "camera_pose": [0.0, 0.0, CAMERA_HEIGHT, 0.0, 0.0, 0.0]}
    from yolo_stereo_trt.ros.node import StereoDetectorNode
    from yolo_stereo_trt.ros.worker import PairProcessor
    node = StereoDetectorNode(context=ctx, parameter_overrides=[
        Parameter(k, value=str(ROOT / v) if k == "model_path" else v) for k, v in params.items()])
    listener = rclpy.create_node("listener", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(listener)
    clouds, markers = [], []
    listener.create_subscription(PointCloud2, "/cones", clouds.append, 10)
    listener.create_subscription(MarkerArray, "/cone_markers", markers.append, 10)
    try:
        node.trigger_configure()
        assert node.state_name == "inactive", node.model_error
        scene = render_pair(4)
        for side, p in enumerate(projection_matrices(scene.camera)):
            node.calibration.update(side, CameraInfo(width=scene.camera.width,
                                                     height=scene.camera.height, p=p))
        msgs = [Image(**array_to_image_fields(f)) for f in (scene.left, scene.right)]
        for m in msgs:
            m.header.stamp, m.header.frame_id = stamp_of(42.0), "stereo_left_optical"
        processor = PairProcessor(node.worker.pipeline, node.stats, node.calibration,
                                  node.outputs, node._report, lambda: node.settings)
        processor(tuple(msgs))
        assert node.stats.errors == {}, node.stats.errors
        end = time.monotonic() + 10
        while time.monotonic() < end and not (clouds and markers):
            executor.spin_once(timeout_sec=0.1)
        assert clouds and markers, "nothing published"
        cloud = clouds[-1]
        assert cloud.header.frame_id == "base_link" and cloud.header.stamp == stamp_of(42.0)
        assert all(m.header.frame_id == "base_link" for m in markers[-1].markers
                   if m.action != m.DELETEALL)
        cones = pointcloud2_to_array(cloud)
        assert len(cones) >= 3
        # truth in base_link: x = optical z, y = -optical x, z = height above the ground
        truth = np.stack([scene.xyz[:, 2], -scene.xyz[:, 0], CAMERA_HEIGHT - scene.xyz[:, 1]], 1)
        dist = np.linalg.norm(cones[:, None, :2] - truth[None, :, :2], axis=2)
        nearest = dist.argmin(axis=1)
        close = dist.min(axis=1) < 0.1 * truth[nearest, 0]  # within 10 % of range in the plane
        assert close.mean() >= 0.8, (cones[:, :3], truth)
        z_error = np.abs(cones[close, 2] - truth[nearest[close], 2])
        assert np.median(z_error) < 0.05 and z_error.max() < 0.25, (cones[close, 2], truth)
        assert (np.abs(cones[:, 2]) < 0.5).all()  # nothing floating or underground
        assert (cones[:, 0] > 1.0).all()  # in front of the car
    finally:
        node.destroy_node()
        listener.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=ctx)
