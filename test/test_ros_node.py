"""The node in-process (its own rclpy Context, no DDS round trip): parameters validated in one
place at start and at run time, whole requests, lifecycle transitions, the health levels, the
worker's ownership of the model; and the process itself failing fast at start."""
import contextlib
import dataclasses
import subprocess
import threading
import time
from pathlib import Path

import pytest
import rclpy
import yaml
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.parameter import Parameter

from ros_helpers import ROOT, node_command
from yolo_stereo_trt.backends import load_pipeline
from yolo_stereo_trt.ros.diagnostics import ERROR, OK, RECOVERY_PERIODS, WARN, HealthMonitor
from yolo_stereo_trt.ros.launch_args import node_parameters, remappings
from yolo_stereo_trt.ros.node import StereoDetectorNode
from yolo_stereo_trt.ros.parameters import DEFAULTS, validate
from yolo_stereo_trt.ros.worker import Worker


def make_node(context, model, **params):
    values = {"model_path": str(model), "autostart": False, **params}
    return StereoDetectorNode(context=context, parameter_overrides=[
        Parameter(k, value=v) for k, v in values.items()])


def valid(**changes):
    return {**DEFAULTS, "model_path": "m.onnx", **changes}


# --- one set of rules --------------------------------------------------------------------------

@pytest.mark.parametrize("changes, num_classes, match", [
    ({"min_depth": 50.0, "max_depth": 40.0}, None, "min_depth .* below max_depth"),
    ({"conf_threshold": 1.5}, None, r"conf_threshold must lie in \[0, 1\]"),
    ({"image_transport": "h264"}, None, "image_transport must be one of raw, compressed"),
    ({"device": "tpu"}, None, "device must be one of auto, cpu, cuda"),
    ({"class_conf_thresholds": [0.3, -0.2, 0.3, 0.3, 0.3]}, 5, r"class_conf_thresholds must lie"),
    ({"class_conf_thresholds": [0.5, 0.5]}, 5, "needs one value per class: the model has 5"),
    ({"class_names": ["a", "b", "c"]}, 5, "class_names needs one value per class"),
    ({"model_path": ""}, None, "model_path is empty: name a model file"),
    ({"rig_min_cones": 700, "rig_window": 600}, None, "rig_min_cones .* never get a verdict"),
    ({"min_baseline": 3.0, "max_baseline": 2.0}, None, "min_baseline .* below max_baseline"),
    ({"sync_slop": float("nan")}, None, r"sync_slop must lie in"),
    ({"rig_warn_vertical_px": 3.0}, None, "rig_warn_vertical_px .* below rig_error_vertical_px"),
    ({"rig_warn_scale": 0.0}, None, "rig_warn_scale must be > 0"),
])
def test_validate_names_the_parameter_and_the_rule(changes, num_classes, match):
    reason = validate(valid(**changes), num_classes)
    assert reason is not None
    import re
    assert re.search(match, reason), reason


def test_validate_accepts_the_defaults_with_a_model_and_per_class_thresholds():
    assert validate(valid()) is None
    assert validate(valid(class_conf_thresholds=[0.3] * 5), 5) is None


def test_an_out_of_range_value_at_start_fails_configure_and_names_it(context, colour_model):
    """With autostart false the node stays up, unconfigured, with the reason (the state
    machine decides); with autostart true the same failed configure ends the process."""
    node = make_node(context, colour_model, conf_threshold=1.5)
    try:
        assert node.values["conf_threshold"] == 0.25  # the default, never the refused value
        node.trigger_configure()
        assert node.state_name == "unconfigured"
        assert "conf_threshold = 1.5 must lie in [0, 1]" in node.model_error
    finally:
        node.destroy_node()


def test_an_unknown_parameter_name_fails_configure_with_the_closest_name(context, colour_model):
    node = make_node(context, colour_model, conf_treshold=0.6)
    try:
        node.trigger_configure()
        assert node.state_name == "unconfigured"
        assert "unknown parameter 'conf_treshold' (did you mean conf_threshold?)" in \
            node.model_error
    finally:
        node.destroy_node()


def test_a_qos_override_fails_configure_and_names_the_parameter_that_sets_the_qos(
        context, colour_model):
    """rclpy's qos_overrides.* parameters: this node's subscriptions do not read them (they
    were accepted and did nothing: a reliable override left the images best effort), so they
    are refused as an unknown parameter is, naming image_qos."""
    node = make_node(context, colour_model,
                     **{"qos_overrides./left/image_raw.subscription.reliability": "reliable"})
    try:
        node.trigger_configure()
        assert node.state_name == "unconfigured"
        assert "unknown parameter 'qos_overrides./left/image_raw.subscription.reliability' " \
            "(QoS overrides are not read here: the images' QoS is image_qos" in node.model_error
    finally:
        node.destroy_node()


@pytest.mark.parametrize("params, match", [
    ({"min_depth": 50.0, "max_depth": 40.0}, "min_depth"),
    ({"image_transport": "h264"}, "image_transport"),
    ({"class_conf_thresholds": [0.5, 0.5]}, "one value per class"),
    ({"class_conf_thresholds": [-0.1] * 5}, "class_conf_thresholds must lie"),
    ({"model_path": ""}, "model_path is empty"),
    ({"max_depth": 40}, "max_depth = 40 must be float (write 40.0)"),  # -p max_depth:=40
    ({"sync_slop": 2.0}, "sync_slop = 2.0 must lie in [0, 1] (read-only: fix it where it is set "
                         "and restart)"),  # cannot be fixed live, unlike a run-time one
])
def test_an_invalid_configuration_fails_configure_and_says_why(context, colour_model, params,
                                                                match):
    node = make_node(context, colour_model, **params)
    try:
        node.trigger_configure()
        assert node.state_name == "unconfigured" and node.worker is None
        assert match in node.model_error
        health, _ = node.health.update(*node.stats.totals(), node.model_error, node.state_name)
        assert health.level == ERROR and match in health.message
    finally:
        node.destroy_node()


def test_a_start_value_refused_at_declaration_can_be_fixed_live_before_configure(
        context, colour_model):
    """autostart false with conf_threshold 1.5: configure fails naming it; once set to a valid
    value, configure succeeds (the refusal stuck to the node for good)."""
    node = make_node(context, colour_model, conf_threshold=1.5)
    try:
        node.trigger_configure()
        assert node.state_name == "unconfigured"
        assert "conf_threshold = 1.5 must lie in [0, 1]" in node.model_error
        assert node.set_parameters([Parameter("conf_threshold", value=0.4)])[0].successful
        node.trigger_configure()
        assert node.state_name == "inactive" and node.settings.decode.conf_threshold == 0.4
    finally:
        node.destroy_node()


def test_every_refused_change_is_logged_with_a_reason_a_person_reads(context, colour_model,
                                                                     capfd):
    """rclpy refuses a range, a type or a read-only change before the node's rules see it: the
    node logs those too (only its own rules' refusals were in the log), and a float parameter
    given an integer (`ros2 param set ... conf_threshold 1`) says what to write (it said
    "Wrong parameter type, expected '3' got '2'")."""
    node = make_node(context, colour_model)
    try:
        node.trigger_configure()

        def refused(**values):
            result = _set_parameters_service(node, **values)[0]
            assert not result.successful
            return result.reason
        assert refused(conf_threshold=1) == "conf_threshold = 1 must be float (write 1.0)"
        assert "out of range" in refused(conf_threshold=-0.1)
        assert "read-only" in refused(model_path="x.onnx")
        assert "below max_depth" in refused(min_depth=50.0)
        assert refused(class_conf_thresholds=[1, 1, 1, 1, 1]) == \
            "class_conf_thresholds = [1, 1, 1, 1, 1] must be double_array (write 1.0, not 1)"
        # the atomically service (rclpy's other way in) is judged, logged and counted alike
        srv = next(s for s in node.services
                   if s.srv_name.endswith("/set_parameters_atomically"))
        request = SetParametersAtomically.Request(
            parameters=[Parameter("conf_threshold", value=1).to_parameter_msg()])
        result = srv.callback(request, SetParametersAtomically.Response()).result
        assert not result.successful
        assert result.reason == "conf_threshold = 1 must be float (write 1.0)"
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if "parameter change refused" in line]
        assert len(lines) == 6, err
        assert "conf_threshold = 1 must be float (write 1.0)" in lines[0]
        assert node.stats.counts["parameters_refused"] == 6
    finally:
        node.destroy_node()


def test_a_self_mask_for_another_image_size_is_refused_once_camera_info_gives_the_size(
        context, colour_model):
    """ignore_below_row 100000 (inside its declared range) on 720-row cameras: refused with the
    reason once camera_info has given the size (it was taken, then every pair failed as
    bad_mask and no cone came out); before any camera_info the size is unknown: taken, and
    judged per pair as before."""
    from yolo_stereo_trt.data.synthetic import render_pair
    node = make_node(context, colour_model)
    try:
        node.trigger_configure()
        assert _set_parameters_service(node, ignore_below_row=100000)[0].successful
        camera = render_pair(7).camera
        _calibrate(node, camera)
        result = _set_parameters_service(node, ignore_below_row=100000)[0]
        assert not result.successful
        assert "ignore_below_row 100000 is outside the 720-row left image" in result.reason
        assert _set_parameters_service(node, ignore_below_row=700)[0].successful
        assert node.settings.geometry.mask.below_row == 700
    finally:
        node.destroy_node()


def _calibrate(node, camera):
    """Both cameras' camera_info for ``camera`` (a StereoCamera) into the node's tracker."""
    from sensor_msgs.msg import CameraInfo
    from yolo_stereo_trt.data.synthetic import projection_matrices
    for side, p in enumerate(projection_matrices(camera)):
        node.calibration.update(side, CameraInfo(width=camera.width, height=camera.height, p=p))


def _set_parameters_service(node, **values):
    """The results of the node's set_parameters service called with ``values`` (as `ros2 param
    set` and rqt send them), in-process."""
    srv = next(s for s in node.services if s.srv_name.endswith("/set_parameters"))
    req = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                            for k, v in values.items()])
    return srv.callback(req, SetParameters.Response()).results


def test_a_set_parameters_request_is_judged_as_a_whole(context, colour_model):
    node = make_node(context, colour_model)
    try:
        node.trigger_configure()

        def request(**values):
            return _set_parameters_service(node, **values)
        results = request(min_depth=50.0, max_depth=100.0)  # valid together (old max 40)
        assert [r.successful for r in results] == [True, True]
        assert (node.settings.stereo.min_depth, node.settings.stereo.max_depth) == (50.0, 100.0)
        results = request(min_depth=80.0, max_depth=60.0)  # invalid together: nothing applied
        assert [r.successful for r in results] == [False, False]
        assert "below max_depth" in results[0].reason
        assert (node.values["min_depth"], node.values["max_depth"]) == (50.0, 100.0)
        # a dumped params file loaded back: read-only values unchanged do not block the rest
        results = request(conf_threshold=0.35, model_path=str(colour_model))
        assert [r.successful for r in results] == [True, True]
        assert node.values["conf_threshold"] == 0.35
        results = request(conf_threshold=0.3, model_path="/other.onnx")  # read-only changed
        assert [r.successful for r in results] == [False, False]
        assert "not_a_param" in request(not_a_param=1.0)[0].reason
        refused = node.set_parameters([Parameter("class_conf_thresholds", value=[-0.5] * 5)])
        assert not refused[0].successful and "must lie in [0, 1]" in refused[0].reason
        refused = node.set_parameters([Parameter("class_conf_thresholds", value=[0.5] * 4)])
        assert not refused[0].successful and "one value per class" in refused[0].reason
        assert node.set_parameters([Parameter("conf_threshold", value=0.4)])[0].successful
        assert node.settings.decode.conf_threshold == 0.4
    finally:
        node.destroy_node()


def test_lifecycle_transitions_load_run_stop_and_release_the_model(context, colour_model):
    node = make_node(context, colour_model)
    try:
        assert node.state_name == "unconfigured" and node.worker is None
        node.trigger_configure()
        assert node.state_name == "inactive" and node.worker.pipeline is not None
        assert "sha256" in node.model_summary and "colour_cones.onnx" in node.model_summary
        node.trigger_activate()
        assert node.state_name == "active" and node.worker.running and node.inputs is not None
        topics = {sub.topic_name for sub in node.inputs.subs}
        assert {"/left/image_raw", "/right/image_raw", "/left/camera_info"} <= topics
        node.trigger_deactivate()
        assert node.state_name == "inactive" and not node.worker.running and node.inputs is None
        pipeline = node.worker.pipeline
        node.trigger_cleanup()
        assert node.state_name == "unconfigured" and node.worker is None
        assert pipeline.backend.session is None  # released
        node.trigger_configure()
        node.trigger_activate()
        assert node.state_name == "active"
        node.trigger_shutdown()
        assert node.state_name == "finalized" and node.worker is None
    finally:
        node.destroy_node()


def test_each_state_starts_a_whole_diagnostics_period_and_a_released_node_has_no_rig_status(
        context, colour_model):
    """The diagnostics timer restarts at every lifecycle transition: a configure that took
    longer than a period (the model, the kernels' first compile) left it overdue, and its next
    ticks came a fraction of a period after activation, a window too short for the cameras'
    first frames ("diagnostics WARN: no images arriving" 0.3 s after "active"). Every counter
    a monitor reads is in the status from the start (count_dropped_pairs appeared only after
    the first drop). After cleanup (and shutdown) no "stereo rig" status: it said
    "collecting" beside a node with no model."""
    node = make_node(context, colour_model, diagnostics_period=0.5)
    try:
        node.trigger_configure()
        time.sleep(1.2)  # nothing spins the timer: it falls behind, as during a long configure
        assert node._diagnostics_timer.time_until_next_call() < 0
        node.trigger_activate()
        assert node._diagnostics_timer.time_until_next_call() / 1e9 > 0.4
        snapshot = node.stats.snapshot()
        for name in ("dropped_pairs", "paired", "processed", "stereo_ambiguous",
                     "rejected_size", "parameters_refused"):
            assert snapshot[f"count_{name}"] == 0, name
        node.trigger_deactivate()
        node.trigger_cleanup()
        assert node.rig is None
        assert [s.name.rsplit(": ", 1)[1] for s in _published_diagnostics(context, node)] \
            == ["stereo detection"]
    finally:
        node.destroy_node()


def test_the_inputs_follow_the_nodes_name_namespace_and_remaps_on_their_own_thread(colour_model):
    """The subscriptions live on ``<name>_inputs`` (its own executor thread): a launch file's
    name, namespace and topic remaps reach them as they reach the node, and deactivate stops
    the thread and removes them."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=["--ros-args", "-r", "__node:=front_detector", "-r",
                                  "__ns:=/car", "-r", "left/image_raw:=/cam/left/image"])
    node = make_node(ctx, colour_model)
    try:
        node.trigger_configure()
        node.trigger_activate()
        inputs = node.inputs
        assert node.get_name() == "front_detector"
        assert inputs.node.get_fully_qualified_name() == "/car/front_detector_inputs"
        assert {sub.topic_name for sub in inputs.subs} == {
            "/cam/left/image", "/car/right/image_raw", "/car/left/camera_info",
            "/car/right/camera_info"}
        assert inputs.thread.is_alive() and inputs.thread in threading.enumerate()
        node.trigger_deactivate()
        assert not inputs.thread.is_alive() and inputs.subs == []
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


@contextlib.contextmanager
def camera_info_into_inputs(context, name, side, calibration, report=lambda kind, message: None):
    """StereoInputs for a plain node ``name`` with ``calibration`` (anything with update(side,
    msg)), and a publisher of ``side``'s camera_info matched to it; destroys both after."""
    from sensor_msgs.msg import CameraInfo
    from yolo_stereo_trt.core.pairing import LatestSlot
    from yolo_stereo_trt.core.stats import NodeStats
    from yolo_stereo_trt.ros.inputs import StereoInputs
    main = rclpy.create_node(name, namespace=f"/{name}", context=context)
    values = {"image_transport": "raw", "image_qos": "sensor_data", "sync_slop": 0.01,
              "sync_queue_size": 5}
    inputs = StereoInputs(main, values, NodeStats(), LatestSlot(), calibration,
                          lambda t, e: None, lambda a, b: None, report)
    try:
        pub = main.create_publisher(CameraInfo, f"{side}/camera_info", 10)
        deadline = time.monotonic() + 10
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield inputs, pub
    finally:
        assert inputs.destroy(timeout=5.0)
        assert inputs.thread not in threading.enumerate()
        main.destroy_node()


def test_an_input_callback_that_raises_is_reported_and_the_inputs_keep_running(context):
    """The inputs' own thread survives a failing callback (counted as input_callback), keeps
    taking messages, and destroy() ends it while it waits."""
    from sensor_msgs.msg import CameraInfo

    class Calibration:  # the first camera_info fails, the next ones are kept
        def __init__(self):
            self.seen = []

        def update(self, side, msg):
            self.seen.append(side)
            if len(self.seen) == 1:
                raise RuntimeError("broken camera_info")

    calibration, reports = Calibration(), []
    with camera_info_into_inputs(context, "inputs_probe", "left", calibration,
                                 lambda kind, message: reports.append((kind, message))
                                 ) as (inputs, pub):
        deadline = time.monotonic() + 10
        width = 0
        while len(calibration.seen) < 3 and time.monotonic() < deadline:
            width += 1  # a new calibration each time (a repeated one is not even deserialized)
            pub.publish(CameraInfo(width=width))
            time.sleep(0.1)
        assert len(calibration.seen) >= 3 and inputs.thread.is_alive()
        assert reports and reports[0][0] == "input_callback" and "broken" in reports[0][1]


def test_a_camera_info_that_only_changes_its_stamp_is_not_deserialized_again(context):
    """Drivers send the same calibration with every frame: only a change after the stamp (a new
    P, a new size) reaches the calibration, and the message it gets is the one sent."""
    from sensor_msgs.msg import CameraInfo

    class Calibration:
        def __init__(self):
            self.got = []

        def update(self, side, msg):
            self.got.append((side, msg))

    calibration = Calibration()
    with camera_info_into_inputs(context, "info_probe", "right", calibration) as (_, pub):
        p = [700.0, 0, 640, -84.0, 0, 700, 360, 0, 0, 0, 1, 0]
        sent = []
        for k in range(6):  # stamps always new; P changes once, at the fourth
            msg = CameraInfo(width=1280, height=720, p=p if k < 3 else p[:3] + [-90.0] + p[4:])
            msg.header.stamp.sec, msg.header.frame_id = 100 + k, "right_optical"
            pub.publish(msg)
            sent.append(msg)
            time.sleep(0.1)
        deadline = time.monotonic() + 10
        while len(calibration.got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert [side for side, _ in calibration.got] == [1, 1]
        assert calibration.got[0][1] == sent[0] and calibration.got[1][1] == sent[3]


def test_cones_go_out_as_messages_where_publish_refuses_bytes(context, colour_model):
    """An rclpy whose publish() takes messages only: the first pair falls back, and stays."""
    import numpy as np
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header
    from yolo_stereo_trt.core.stereo import Cones
    node = make_node(context, colour_model)
    try:
        node.trigger_configure()
        outputs, sent = node.outputs, []
        assert outputs.cones_serialized  # this rclpy publishes bytes

        class MessagesOnly:
            def publish(self, msg):
                if isinstance(msg, bytes):
                    raise TypeError("Expected PointCloud2, got bytes")
                sent.append(msg)

        outputs.cones = MessagesOnly()
        cones = Cones(xyz=np.ones((2, 3), np.float32), class_ids=np.array([0, 1]),
                      confidence=np.ones(2, np.float32), covariance=np.zeros((2, 3, 3), np.float32))
        for _ in range(2):
            outputs._publish_cones(cones, Header(frame_id="left"))
        assert not outputs.cones_serialized
        assert len(sent) == 2 and all(isinstance(m, PointCloud2) and m.width == 2 for m in sent)
    finally:
        node.destroy_node()


def test_a_sigint_inside_a_c_callback_prints_no_traceback_and_other_errors_still_do(capsys):
    """Ctrl-C while Numba/LLVM calls back into Python at configure: the KeyboardInterrupt raised
    in the callback is dropped (rclpy ends the node anyway); any other error there is printed."""
    import ctypes
    import sys
    from yolo_stereo_trt.ros.process import drop_interrupts_in_c_callbacks

    def callback_raising(exc):
        def raise_it():
            raise exc
        return ctypes.CFUNCTYPE(None)(raise_it)

    previous = sys.unraisablehook
    try:
        sys.unraisablehook = sys.__unraisablehook__  # Python's own, which prints (not pytest's)
        drop_interrupts_in_c_callbacks()
        callback_raising(KeyboardInterrupt())()
        assert "Traceback" not in capsys.readouterr().err
        callback_raising(ValueError("a real bug"))()
        err = capsys.readouterr().err
        assert "Traceback" in err and "a real bug" in err
    finally:
        sys.unraisablehook = previous


def test_after_a_sigint_main_joins_rclpys_signal_thread_before_it_tears_anything_down(
        colour_model, monkeypatch):
    """The real main() in-process, the spin ended by a KeyboardInterrupt: rclpy's signal handler
    shuts the context down and triggers the executors' guard conditions from its own thread, and
    tearing down beside it (the guard conditions, the subscriptions) ended the node with SIGSEGV
    once in 100 SIGINTs while the shipped model inferred. main() uninstalls rclpy's handlers
    (which joins that thread) before it releases anything, with SIGINT and SIGTERM ignored
    (a second Ctrl-C, or the SIGTERM `ros2 launch` sends 5 s later, must not cut the
    teardown), and exits 0."""
    import signal
    from yolo_stereo_trt.ros import node as node_module
    from yolo_stereo_trt.ros.process import StartupSignals

    events = []
    ignored = (signal.SIG_IGN, signal.SIG_IGN)

    def handlers():
        return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def interrupted_spin(*args, **kwargs):
        events.append("spin")
        raise KeyboardInterrupt
    real_release = node_module.StereoDetectorNode._release

    def release(self):
        events.append(("release", handlers()))
        real_release(self)
    monkeypatch.setattr(node_module.rclpy, "spin", interrupted_spin)
    monkeypatch.setattr(node_module, "install_signal_handlers", lambda *a: events.append("install"))
    monkeypatch.setattr(node_module, "uninstall_signal_handlers",
                        lambda: events.append(("uninstall", handlers())))
    monkeypatch.setattr(node_module.StereoDetectorNode, "_release", release)
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as ended:
            node_module.main(["--ros-args", "-p", f"model_path:={colour_model}",
                              "-r", "__ns:=/teardown"], StartupSignals())
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert ended.value.code == 0
    assert events == ["install", "spin", ("uninstall", ignored), ("release", ignored)], events


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_during_configure_stops_it_and_main_exits_0_without_spinning(
        signum, colour_model, monkeypatch, capfd):
    """The real main() in-process, the signal sent to ourselves from inside configure (the model
    loaded, the kernels and warm-up next): rclpy's handlers are not installed yet (they shut the
    context down from their own thread while the node was being built: a SIGSEGV about once in
    150 interrupted start-ups), configure stops before the kernels, nothing spins, exit 0. For
    SIGTERM (what `ros2 launch` sends 5 s after SIGINT) the default action would end the process
    at once, exit -15."""
    import os
    import signal
    from rclpy.signals import SignalHandlerOptions, get_current_signal_handlers_options
    from yolo_stereo_trt.ros import node as node_module
    from yolo_stereo_trt.ros.process import StartupSignals

    options, spun, kernels = [], [], []
    real_warm_up = node_module.StereoDetectorNode._warm_up

    def interrupted_warm_up(self, pipeline):
        options.append(get_current_signal_handlers_options())
        os.kill(os.getpid(), getattr(signal, signum))
        for _ in range(100000):  # the handler runs at the main thread's next bytecode
            if self.stop_requested():
                break
        return real_warm_up(self, pipeline)
    monkeypatch.setattr(node_module.StereoDetectorNode, "_warm_up", interrupted_warm_up)
    monkeypatch.setattr(node_module.jit, "prepare", lambda *a: kernels.append(a) or "")
    monkeypatch.setattr(node_module.rclpy, "spin", lambda *a, **k: spun.append(a))
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop_signal = StartupSignals()
        with pytest.raises(SystemExit) as ended:
            node_module.main(["--ros-args", "-p", f"model_path:={colour_model}",
                              "-r", "__ns:=/in_process"], stop_signal)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert stop_signal.seen
    assert ended.value.code == 0
    assert options == [SignalHandlerOptions.NO]  # nothing else acts on the signal meanwhile
    assert not kernels and not spun  # configure stopped before the kernels; no spin
    assert "configure stopped" in capfd.readouterr().err


def test_after_the_hand_over_a_sigint_interrupts_again():
    """StartupSignals.hand_over() puts back the handlers it found: SIGINT raises
    KeyboardInterrupt again (then rclpy's handlers, installed next, chain to it)."""
    import os
    import signal
    from yolo_stereo_trt.ros.process import StartupSignals

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stop_signal = StartupSignals()
        stop_signal.hand_over()
        assert signal.getsignal(signal.SIGTERM) == previous[signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100000):
                pass
        assert not stop_signal.seen
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_configure_takes_the_loaded_objects_out_of_the_gc_and_cleanup_gives_them_back(
        context, colour_model):
    """After configure a full collection no longer scans the model, rclpy and Numba objects
    (tens of ms each time otherwise); after cleanup the old model's objects are collectable."""
    import gc
    gc.unfreeze()  # whatever an earlier test's node left frozen
    node = make_node(context, colour_model)
    try:
        node.trigger_configure()
        assert node.state_name == "inactive" and gc.get_freeze_count() > 10000
        node.trigger_cleanup()
        assert gc.get_freeze_count() == 0
    finally:
        node.destroy_node()
        gc.unfreeze()


# --- health over a sliding window ---------------------------------------------------------------

def test_health_levels_follow_the_window_not_the_history():
    """ERROR only when the pairs of the window failed (counted as failed_pairs): a warning
    counted for a pair still being inferred when the period ended (no camera_info yet: 2D
    only) is not "none processed" (it said ERROR for a pair that came out)."""
    monitor = HealthMonitor()
    counts = {"input_left": 0, "input_right": 0, "paired": 0, "processed": 0, "failed_pairs": 0}
    errors: dict = {}

    def step(**delta):
        for k, v in delta.items():
            if k.startswith("err_"):
                errors[k[4:]] = errors.get(k[4:], 0) + v
            else:
                counts[k] += v
        return monitor.update(counts, errors)[0]

    assert step().level == WARN  # nothing arrives
    # start-up: images before camera_info -> errors in this window only
    h = step(input_left=10, input_right=10, paired=10, processed=10, err_no_calibration=10)
    assert h.level == WARN and "no_calibration 10" in h.message
    assert step(input_left=10, input_right=10, paired=10, processed=10).level == OK  # fault gone
    h = step(input_left=10, input_right=10, paired=10, processed=0, err_processing=10,
             failed_pairs=10)
    assert h.level == ERROR and "none processed" in h.message  # every pair fails
    h = step(input_left=1, input_right=1, paired=1, processed=0, err_no_calibration=1)
    assert h.level == WARN and "none finished" in h.message  # still in inference
    h = step(input_left=10, input_right=0)
    assert h.level == WARN and "right camera silent" in h.message
    h = step(input_left=10, input_right=10)
    assert h.level == WARN and "do not pair" in h.message
    assert step(input_left=10, input_right=10, paired=10, processed=9).level == OK
    assert monitor.update(counts, errors, model_error="model file not found: x")[0].level == ERROR
    assert monitor.update(counts, errors, state="inactive")[0].level == OK


def test_the_log_says_a_degraded_health_once_and_ok_again_after_clean_periods():
    """A camera that stays silent is one WARN line in the terminal, not one per period and not
    only in /diagnostics, from the first whole period the node is active; OK again one INFO line
    after RECOVERY_PERIODS clean periods, so a fault that comes and goes is not a line per
    period; worse (every pair failing) at once; nothing judged while inactive."""
    monitor = HealthMonitor()
    totals = {"input_left": 0, "input_right": 0, "paired": 0, "processed": 0, "failed_pairs": 0}

    def period(pairs=0, processed=None, errors=None, state="active"):
        for k in totals:
            if k == "failed_pairs":  # the pairs not processed failed (here)
                totals[k] += 0 if processed is None else pairs - processed
            else:
                totals[k] += pairs if k != "processed" or processed is None else processed
        return monitor.log_line(monitor.update(totals, errors or {}, state=state)[0])
    lines = [period() for _ in range(4)]
    assert lines[0] is None  # the first window began before the node was active: not judged
    assert lines[1] == (WARN, "diagnostics WARN: no images arriving") and lines[2:] == [None, None]
    flapping = [period(10 * ((k + 1) % 2)) for k in range(8)]  # pairs every other period
    assert flapping == [None] * 8
    clean = [period(10) for _ in range(RECOVERY_PERIODS)]
    assert clean[:-1] == [None] * (RECOVERY_PERIODS - 1)
    assert clean[-1] == (OK, f"diagnostics OK again (was WARN; {RECOVERY_PERIODS} clean periods): "
                             f"10 pairs processed in the last period")
    level, text = period(10, processed=0, errors={"processing": 10})
    assert level == ERROR and "10 pairs arrived, none processed (processing 10)" in text
    assert period(state="inactive") is None and period(state="inactive") is None
    assert period() is None  # back to active: its first period is not judged


# --- the worker owns the model -------------------------------------------------------------------

def test_the_worker_frees_the_model_only_after_its_thread_has_joined(colour_model):
    pipeline, _ = load_pipeline(colour_model, "cpu")
    worker = Worker(pipeline)
    busy, release = threading.Event(), threading.Event()

    def slow(pair):  # an inference that takes longer than the shutdown is willing to wait
        busy.set()
        release.wait(10)
    slot = worker.start(slow)
    slot.put(("left", "right"))
    assert busy.wait(5)
    assert worker.close(timeout=0.2) is False  # still inside an inference: nothing freed
    assert pipeline.backend.session is not None and worker.pipeline is pipeline
    release.set()
    assert worker.close(timeout=5) is True
    assert pipeline.backend.session is None and worker.pipeline is None
    with pytest.raises(RuntimeError, match="released"):
        worker.start(slow)


# --- the process: fail fast, one line, exit 2 ------------------------------------------------

def _start(model_path, *extra):
    cmd = node_command() + ["--ros-args", "-p", f"model_path:={model_path}", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _bad_models(tmp_path, colour_model):
    data = Path(colour_model).read_bytes()
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "truncated.onnx").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.onnx").write_text("not a model")
    (tmp_path / "garbage.engine").write_bytes(b"\xff" * 64)
    (tmp_path / "folder.onnx").mkdir()
    return {"missing.onnx": "model file not found", "empty.onnx": "model file is empty",
            "folder.onnx": "is a folder, not a model file",
            "truncated.onnx": "cannot load", "text.onnx": "cannot load",
            "garbage.engine": "garbage.engine"}


def test_a_node_that_cannot_work_exits_2_at_start_with_one_line(tmp_path, colour_model):
    cases = _bad_models(tmp_path, colour_model)
    for name, cause in cases.items():
        run = _start(tmp_path / name)
        assert run.returncode == 2, (name, run.stdout, run.stderr)
        lines = [ln for ln in run.stderr.splitlines() if "ERROR" in ln or "cannot start" in ln]
        assert len(lines) == 1 and cause in lines[0] and name in lines[0], (name, run.stderr)
        assert "Traceback" not in run.stderr + run.stdout
    run = _start(colour_model, "-p", "class_names:=[a, b, c]")
    assert run.returncode == 2 and "class_names" in run.stderr and "3" in run.stderr, run.stderr
    run = _start(colour_model, "-p", "max_depth:=400.0")
    assert run.returncode == 2 and "max_depth = 400.0 must lie in [0.5, 300]" in run.stderr
    assert "Traceback" not in run.stderr


def test_without_model_path_the_node_refuses_and_says_how_to_name_one():
    run = subprocess.run(node_command() + ["--ros-args", "--params-file",
                                           str(ROOT / "config" / "params.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "model_path is empty" in run.stderr and "models/yolo12n_synthetic_cones.onnx" in run.stderr


def test_the_shipped_params_file_reaches_the_node_in_any_namespace(tmp_path):
    """config/params.yaml's section applies to the node launched with namespace:=/car too: an
    impossible value written into it stops the node there (a section keyed to /stereo_detector
    alone was skipped without a word in a namespace)."""
    text = (ROOT / "config" / "params.yaml").read_text()
    assert "\n    conf_threshold: 0.25" in text
    params = tmp_path / "params.yaml"
    params.write_text(text.replace("\n    conf_threshold: 0.25", "\n    conf_threshold: 5.0"))
    for namespace in ("/", "/car", "/car/perception"):
        run = subprocess.run(node_command() + ["--ros-args", "-r", f"__ns:={namespace}",
                                               "--params-file", str(params)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, (namespace, run.stderr)
        assert "conf_threshold = 5.0 must lie in [0, 1]" in run.stderr, (namespace, run.stderr)


# --- launch: arguments pass only when given --------------------------------------------------

def _effective(parameters):
    """What the node ends up with: launch_ros applies the list in order, later wins."""
    out = {}
    for entry in parameters:
        if isinstance(entry, str):
            doc = yaml.safe_load(Path(entry).read_text())
            out.update(next(iter(doc.values()))["ros__parameters"])
        else:
            out.update(entry)
    return out


@pytest.mark.parametrize("given, expected", [
    ({}, {}),
    ({"model_path": "", "image_transport": "", "use_sim_time": ""}, {}),
    ({"model_path": "/m/best.engine"}, {"model_path": "/m/best.engine"}),
    ({"image_transport": "compressed", "use_sim_time": "true"},
     {"image_transport": "compressed", "use_sim_time": True}),
])
def test_launch_passes_only_the_arguments_given_and_the_params_file_holds(tmp_path, given,
                                                                          expected):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"stereo_detector": {"ros__parameters": {
        "model_path": "/car/yolo12n_int8.engine", "image_transport": "compressed",
        "conf_threshold": 0.4}}}))
    effective = _effective(node_parameters(str(params), given))
    base = {"model_path": "/car/yolo12n_int8.engine", "image_transport": "compressed",
            "conf_threshold": 0.4}
    assert effective == {**base, **expected}


def test_both_launch_files_forward_the_same_arguments():
    import ast
    import xml.etree.ElementTree as ET
    root = ET.parse(ROOT / "launch" / "stereo_detector.launch.xml").getroot()
    include = root.find("include")
    assert include.get("file").endswith("/launch/stereo_detector.launch.py")
    declared = {a.get("name"): a.get("default") for a in root.findall("arg")}
    forwarded = {a.get("name"): a.get("value") for a in include.findall("arg")}
    assert forwarded == {name: f"$(var {name})" for name in declared}
    from yolo_stereo_trt.ros.launch_args import NODE_PARAMETER_ARGUMENTS, OTHER_ARGUMENTS
    assert set(declared) == set(NODE_PARAMETER_ARGUMENTS) | set(OTHER_ARGUMENTS)
    assert all(declared[name] == "" for name in NODE_PARAMETER_ARGUMENTS)  # not given = empty
    tree = ast.parse((ROOT / "launch" / "stereo_detector.launch.py").read_text())
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)}
    assert {"node_parameters", "remappings", "OpaqueFunction"} <= calls
    assert remappings("/zed/")[0] == ("left/image_raw", "/zed/left/image_raw")


def test_debug_birdseye_adds_the_cones_from_above_beside_the_views_from_the_next_pair(
        context, model):
    """debug_birdseye (a run-time parameter) puts the bird's-eye view (4:3 at the image's
    height) to the right of left | right in debug_image; off, the image is the two views."""
    import numpy as np
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from ros_helpers import stamp_of
    from yolo_stereo_trt.core.images import array_to_image_fields
    from yolo_stereo_trt.data.synthetic import render_pair
    from yolo_stereo_trt.ros.worker import PairProcessor
    node = make_node(context, model, publish_debug_image=True)
    viewer = rclpy.create_node("debug_viewer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(viewer)
    images = []
    viewer.create_subscription(Image, "/debug_image", images.append, 5)
    try:
        node.trigger_configure()
        scene = render_pair(700)
        _calibrate(node, scene.camera)
        processor = PairProcessor(node.worker.pipeline, node.stats, node.calibration,
                                  node.outputs, node._report, lambda: node.settings)
        deadline = time.monotonic() + 10
        while not node.outputs.debug_wanted() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)

        def pair(seconds):
            msgs = []
            for frame in (scene.left, scene.right):
                msg = Image(**array_to_image_fields(frame))
                msg.header.stamp, msg.header.frame_id = stamp_of(seconds), "left_optical"
                msgs.append(msg)
            processor(tuple(msgs))
            deadline = time.monotonic() + 10
            count = len(images)
            while len(images) == count and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            assert len(images) == count + 1, node.stats.errors
            msg = images[-1]
            return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)

        h, w = scene.camera.height, scene.camera.width
        assert pair(10.0).shape == (h, 2 * w, 3)
        assert node.set_parameters([Parameter("debug_birdseye", value=True)])[0].successful
        image = pair(11.0)
        panel_w = round(h * 4 / 3)
        assert image.shape == (h, 2 * w + panel_w, 3)
        panel = image[:, 2 * w:]
        # the located cones in their type colours on the panel (pair 700 has blue and yellow)
        for colour in ((255, 80, 0), (0, 220, 255)):
            assert (panel == colour).all(axis=2).sum() > 20, colour
        assert node.set_parameters([Parameter("debug_birdseye", value=False)])[0].successful
        assert pair(12.0).shape == (h, 2 * w, 3)
    finally:
        executor.shutdown()
        viewer.destroy_node()
        node.destroy_node()


def test_a_failed_pair_is_counted_and_a_pair_in_flight_at_shutdown_is_not_an_error(colour_model):
    """A pair that fails (an encoding the node cannot read) counts in failed_pairs (the health's
    ERROR needs them) and in its error kind; a pair whose results are published after the
    context shut down (Ctrl-C or SIGTERM while it was in inference) is not reported: every
    clean stop under load logged "pair skipped: RCLError: ... publisher's context is
    invalid" and counted a processing error."""
    from sensor_msgs.msg import Image
    from yolo_stereo_trt.core.images import array_to_image_fields
    from yolo_stereo_trt.data.synthetic import render_pair
    from yolo_stereo_trt.ros.worker import PairProcessor
    context = rclpy.Context()
    rclpy.init(context=context)
    node = make_node(context, colour_model)
    try:
        node.trigger_configure()
        node.trigger_activate()
        processor = PairProcessor(node.worker.pipeline, node.stats, node.calibration,
                                  node.outputs, node._report, lambda: node.settings,
                                  closing=lambda: not node.context.ok())
        unreadable = Image(encoding="16UC1", height=2, width=2, step=4, data=bytes(8))
        processor((unreadable, unreadable))
        assert node.stats.counts["failed_pairs"] == 1 and node.stats.errors["bad_encoding"] == 1
        scene = render_pair(7)
        _calibrate(node, scene.camera)
        pair = tuple(Image(**array_to_image_fields(f)) for f in (scene.left, scene.right))
        processor(pair)
        assert node.stats.counts["processed"] == 1 and node.stats.counts["cones"] > 0
        context.shutdown()
        processor(pair)  # its publish raises RCLError on the shut-down context
        assert "processing" not in node.stats.errors and node.stats.counts["failed_pairs"] == 1
        PairProcessor(node.worker.pipeline, node.stats, node.calibration, node.outputs,
                      node._report, lambda: node.settings)(pair)  # without the check: reported
        assert node.stats.errors["processing"] == 1
    finally:
        with contextlib.suppress(Exception):
            node.destroy_node()
        if context.ok():
            context.shutdown()


def test_scores_that_are_not_probabilities_are_reported_and_the_pair_still_goes_out(
        context, tmp_path):
    """A model exported without the sigmoid on its class scores (logits: here the demo model's
    recorded output with its scores x 10, up to about 9) loaded and ran without a word, every
    candidate over conf_threshold: each pair now says so (score_range, counted, logged at most
    once every 5 s) and is still processed."""
    import onnx
    from sensor_msgs.msg import Image
    from ros_helpers import DEMO_MODEL
    from yolo_stereo_trt.core.images import array_to_image_fields
    from yolo_stereo_trt.data.standin_model import build_constant_model, recorded_output
    from yolo_stereo_trt.data.synthetic import render_pair
    from yolo_stereo_trt.ros.worker import PairProcessor
    output, hw, names = recorded_output(ROOT / DEMO_MODEL, 700)
    output = output.copy()
    output[:, 4:] *= 10.0
    onnx.save(build_constant_model(output, hw, names), str(tmp_path / "logits.onnx"))
    node = make_node(context, tmp_path / "logits.onnx")
    try:
        node.trigger_configure()
        processor = PairProcessor(node.worker.pipeline, node.stats, node.calibration,
                                  node.outputs, node._report, lambda: node.settings)
        scene = render_pair(700)
        processor(tuple(Image(**array_to_image_fields(f)) for f in (scene.left, scene.right)))
        assert node.stats.errors["score_range"] == 1 and node.stats.counts["processed"] == 1
    finally:
        node.destroy_node()
    node = make_node(context, ROOT / DEMO_MODEL)  # the shipped model: probabilities, no word
    try:
        node.trigger_configure()
        PairProcessor(node.worker.pipeline, node.stats, node.calibration, node.outputs,
                      node._report, lambda: node.settings)(
            tuple(Image(**array_to_image_fields(f)) for f in (scene.left, scene.right)))
        assert "score_range" not in node.stats.errors and node.stats.counts["processed"] == 1
    finally:
        node.destroy_node()


def _rig_pairs(node, scene, n, start=20.0):
    """n pairs of ``scene`` through the node's own processing, camera_info first."""
    from sensor_msgs.msg import Image
    from ros_helpers import stamp_of
    from yolo_stereo_trt.core.images import array_to_image_fields
    from yolo_stereo_trt.ros.worker import PairProcessor
    _calibrate(node, scene.camera)
    processor = PairProcessor(node.worker.pipeline, node.stats, node.calibration, node.outputs,
                              node._report, lambda: node.settings, rig=node.rig)
    for k in range(n):
        msgs = []
        for frame in (scene.left, scene.right):
            msg = Image(**array_to_image_fields(frame))
            msg.header.stamp, msg.header.frame_id = stamp_of(start + k), "left_optical"
            msgs.append(msg)
        processor(tuple(msgs))
    assert not node.stats.errors, node.stats.errors


def test_the_stereo_rig_status_says_a_right_camera_3px_lower_is_an_error_once_it_has_the_cones(
        context, model):
    """The 'stereo rig' diagnostics: OK while collecting (and saying how many cones it has),
    then ERROR with the reason when the right image is 3 px lower than the left (the rows the
    refinement finds); the fit runs when diagnostics are published, never per pair."""
    from yolo_stereo_trt.data.synthetic import render_pair
    node = make_node(context, model, rig_min_cones=40)
    try:
        node.trigger_configure()
        scene = render_pair(700, row_offset=3.0)
        level, message, values = node.rig.status()
        assert level == 0 and "collecting: 0 of 40" in message
        assert values["verdict"] == "collecting"  # not the judge's "warn" under an OK level
        _rig_pairs(node, scene, 1)
        node.rig._last = None
        level, message, _ = node.rig.status()
        assert level == 0 and "collecting" in message
        _rig_pairs(node, scene, 4, start=30.0)
        node.rig._last = None
        level, message, values = node.rig.status()
        assert level == ERROR, message
        assert "3.0" in message and "lower" in message and "recalibrate" in message
        assert abs(float(values["vertical_offset_px"]) - 3.0) < 0.5
        assert int(values["cones"]) >= 40 and values["reference"] == "none"
        # and it is published beside the node's own status
        statuses = _published_diagnostics(context, node)
        assert [s.name.rsplit(": ", 1)[1] for s in statuses] == ["stereo detection", "stereo rig"]
        assert statuses[1].level == bytes([ERROR]) and "lower" in statuses[1].message
    finally:
        node.destroy_node()


def test_the_diagnostics_give_the_frames_jpeg_blockiness_a_compressed_bag_shows(context, model):
    """``frame_blockiness_p50`` in the node's status: the median over the last pairs of the left
    frame's JPEG blockiness (the stereo kernel's, which widens the disparity sigmas): under 0.2
    for raw frames, above 0.5 for the same pair JPEG-coded at quality 40 (a bag recorded as
    `compressed`)."""
    import cv2
    from yolo_stereo_trt.data.synthetic import render_pair
    scene = render_pair(700)
    coded = [cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 40])[1],
                          cv2.IMREAD_COLOR) for f in (scene.left, scene.right)]
    medians = []
    for left, right in ((scene.left, scene.right), coded):
        node = make_node(context, model)
        try:
            node.trigger_configure()
            assert "frame_blockiness_p50" not in node.stats.snapshot()  # no pair yet
            _rig_pairs(node, dataclasses.replace(scene, left=left, right=right), 3)
            medians.append(node.stats.snapshot()["frame_blockiness_p50"])
        finally:
            node.destroy_node()
    assert medians[0] < 0.2 and medians[1] > 0.5, medians  # 0.02 and 3.2


def test_the_node_logs_each_change_of_its_health_through_its_own_logger(context, model, capfd):
    """The running node, in-process: silent inputs give one WARN line, pairs that flow one INFO
    line, silence again one WARN line (rclpy refuses a logging call site whose severity changes,
    which ended the node at its first recovery)."""
    node = make_node(context, model)
    try:
        node.trigger_configure()
        node.trigger_activate()
        capfd.readouterr()

        def period(pairs: int) -> None:
            for name in ("input_left", "input_right", "paired", "processed"):
                node.stats.count(name, pairs)
            node._publish_diagnostics()
        # the first window is the activation's, not judged
        for pairs in (0, 0, 0) + (10,) * RECOVERY_PERIODS + (0,):
            period(pairs)
        err = capfd.readouterr().err
        lines = [ln for ln in err.splitlines() if "diagnostics " in ln]
        assert len(lines) == 3, err
        assert "[WARN]" in lines[0] and lines[0].endswith("diagnostics WARN: no images arriving")
        assert "[INFO]" in lines[1] and "diagnostics OK again (was WARN" in lines[1]
        assert "[WARN]" in lines[2] and lines[2].endswith("no images arriving")
    finally:
        node.destroy_node()


def test_the_active_line_names_the_topics_as_resolved_namespace_and_remaps_included(
        context, model, capfd):
    """What a wrong camera:= or remap shows at once: the four input topics, resolved."""
    node = StereoDetectorNode(context=context, namespace="/car", cli_args=[
        "--ros-args", "-r", "left/image_raw:=/cam/left/image_raw"], parameter_overrides=[
        Parameter("model_path", value=str(model)), Parameter("autostart", value=False)])
    try:
        node.trigger_configure()
        capfd.readouterr()
        node.trigger_activate()
        err = capfd.readouterr().err
        assert ("active: /cam/left/image_raw, /car/right/image_raw, /car/left/camera_info, "
                "/car/right/camera_info; transport raw") in err, err
    finally:
        node.destroy_node()


def _published_diagnostics(context, node):
    """The statuses of one /diagnostics message the node publishes, received over DDS."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    viewer = rclpy.create_node("diagnostics_viewer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(viewer)
    arrays = []
    viewer.create_subscription(DiagnosticArray, "/diagnostics", arrays.append, 10)
    try:
        deadline = time.monotonic() + 10
        while not arrays and time.monotonic() < deadline:
            node._publish_diagnostics()
            executor.spin_once(timeout_sec=0.1)
        assert arrays, "no /diagnostics message arrived within 10 s"
        return arrays[-1].status
    finally:
        executor.shutdown()
        viewer.destroy_node()


def test_the_stereo_rig_status_against_a_reference_says_a_wrong_baseline_makes_every_depth_too_far(
        context, model, tmp_path):
    """With rig_reference (recorded on the clean rig), camera_info stating a baseline 15 % too
    large is an ERROR that names the depth scale and the baseline; the same camera_info as the
    reference's is OK. A new camera_info starts the window afresh."""
    import dataclasses
    from yolo_stereo_trt.core.rig import save_reference
    from yolo_stereo_trt.data.synthetic import render_pair
    scenes = [render_pair(700 + k) for k in range(4)]
    node = make_node(context, model, rig_min_cones=40)
    try:
        node.trigger_configure()
        for k, scene in enumerate(scenes):
            _rig_pairs(node, scene, 1, start=20.0 + k)
        node.rig._last = None
        assert node.rig.status()[0] == OK
        reference = save_reference(node.rig.samples.fit(), tmp_path / "rig.json")
    finally:
        node.destroy_node()
    node = make_node(context, model, rig_min_cones=40, rig_reference=str(reference))
    try:
        node.trigger_configure()
        for k, scene in enumerate(scenes):
            _rig_pairs(node, scene, 1, start=20.0 + k)
        node.rig._last = None
        level, message, values = node.rig.status()
        assert level == OK, message
        clean_cones = int(values["cones"])
        assert abs(float(values["depth_scale_vs_reference"]) - 1.0) < 0.02
        assert values["reference"] == str(reference)
        for k, scene in enumerate(scenes):  # the baseline camera_info states is 15 % too large
            wrong = dataclasses.replace(scene, camera=dataclasses.replace(
                scene.camera, baseline=scene.camera.baseline * 1.15))
            _rig_pairs(node, wrong, 1, start=30.0 + k)
        node.rig._last = None
        level, message, values = node.rig.status()
        assert int(values["cones"]) <= clean_cones + 5, "the window did not start afresh"
        assert level == ERROR, message
        assert "% too far" in message and "baseline" in message
        assert abs(float(values["depth_scale_vs_reference"]) - 1.15) < 0.03
    finally:
        node.destroy_node()


def test_a_rig_reference_that_cannot_be_read_fails_configure_and_names_it(context, colour_model,
                                                                          tmp_path):
    bad = tmp_path / "ref.json"
    bad.write_text("{not json")
    node = make_node(context, colour_model, rig_reference=str(bad))
    try:
        node.trigger_configure()
        assert node.state_name == "unconfigured" and "cannot use" in node.model_error
        assert str(bad) in node.model_error
    finally:
        node.destroy_node()


def test_the_node_prints_its_usage_and_every_parameter_on_help_and_exits_0(capsys):
    """`stereo_detector --help` (before any --ros-args) starts nothing: the usage, how to run it
    on the car, and each declared parameter with its default and description, exit 0."""
    from yolo_stereo_trt.core.params import PARAMS
    from yolo_stereo_trt.ros.entry import main as entry_main
    with pytest.raises(SystemExit) as stop:
        entry_main(["stereo_detector", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: stereo_detector") and "--ros-args -p model_path:=" in out
    for spec in PARAMS:
        assert f"  {spec.name} (default " in out, spec.name


def test_the_node_refuses_an_argument_before_ros_args_in_one_line_with_exit_2(capsys):
    """A plain argument (not a ROS one) is refused before anything starts, with the form that
    works; arguments after --ros-args are rclpy's."""
    from yolo_stereo_trt.ros.entry import command_line, main as entry_main
    with pytest.raises(SystemExit) as stop:
        entry_main(["stereo_detector", "model_path:=x.onnx", "--ros-args", "-p", "a:=1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'model_path:=x.onnx'" in err and "--ros-args -p model_path:=" in err
    assert command_line(["--ros-args", "-p", "model_path:=x.onnx", "--help"]) is None
    assert command_line([]) is None
