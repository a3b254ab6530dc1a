"""The stereo_detector node: a managed (lifecycle) node that only wires the parts together.

configure: validate every parameter, load the model, warm it up; activate: subscribe, start the
worker; deactivate: unsubscribe, stop the worker, drop the queued pair; cleanup: release the
model; shutdown: release everything (finalized; the process ends on SIGINT, exit 0).
``autostart`` (default) walks to active at start; a failed configure then ends the process
with a one-line reason, exit 2.
"""
from __future__ import annotations

import gc
import signal
import sys
from typing import Any, Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import (SignalHandlerOptions, install_signal_handlers,
                           uninstall_signal_handlers)

from ..backends import ModelLoadError, load_pipeline
from ..core import jit
from ..core.camera_info import CalibrationTracker
from ..core.gates import MaskError
from ..core.rig import RigMonitor
from ..core.stats import NodeStats
from . import messages
from .diagnostics import OK, WARN, HealthMonitor, status_values
from .inputs import StereoInputs
from .outputs import DIAGNOSTICS, Outputs
from .parameters import (ConfigError, declare_parameters, decode_config, merged, rig_reference,
                         rig_thresholds, set_parameters_as_a_whole, set_parameters_atomically,
                         unknown_parameters, validate)
from .process import StartupSignals, ignore_stop_signals
from .tf_pose import TfPose, tf_available
from .worker import PairProcessor, Settings, Worker

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class StartupStopped(Exception):
    """Configure gave up because the process is stopping (SIGINT or SIGTERM at start-up)."""


class StereoDetectorNode(LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("stereo_detector", **kwargs)
        self.stats, self.health = NodeStats(), HealthMonitor()
        self.values, self.declare_errors = declare_parameters(self)
        self.refusal_logged = False  # this set_parameters request's refusal is in the log
        self.settings: Settings | None = None  # built by configure, rebuilt on each change
        self.state_name, self.model_error, self.model_summary = "unconfigured", "", ""
        self.kernels = ""
        # asked during configure (model load, kernels, warm-up): main's SIGINT/SIGTERM at start-up
        self.stop_requested: Callable[[], bool] = lambda: False
        self.worker: Worker | None = None
        self.inputs: StereoInputs | None = None
        self.outputs: Outputs | None = None
        self.tf: TfPose | None = None
        self.rig: RigMonitor | None = None
        self.calibration = CalibrationTracker((self.values["min_baseline"],
                                               self.values["max_baseline"]))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        for srv in self.services:  # a set_parameters request is judged as a whole
            if srv.srv_name.endswith("/set_parameters"):
                srv.callback = lambda req, res: set_parameters_as_a_whole(self, req, res)
            elif srv.srv_name.endswith("/set_parameters_atomically"):
                srv.callback = lambda req, res: set_parameters_atomically(self, req, res)
        self.pub_diag = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 10)
        # diagnostics on the steady clock: they keep coming while a bag replay's /clock pauses
        self._diagnostics_timer = self.create_timer(
            self.values["diagnostics_period"], self._publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME))

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        unknown = unknown_parameters(list(getattr(self, "_parameter_overrides", {})))
        reason = (next(iter(self.declare_errors.values())) if self.declare_errors else
                  f"unknown parameter {unknown[0]}" if unknown else validate(self.values))
        if reason is None and self.values["camera_pose_source"] == "tf" and not tf_available():
            reason = "camera_pose_source tf needs tf2_ros, which is not installed"
        if reason is None:
            try:
                self.settings = Settings.from_values(self.values)
                v = self.values
                self.rig = RigMonitor(rig_thresholds(v), int(v["rig_window"]), rig_reference(v),
                                      v["rig_reference"])
                pipeline, self.model_summary = load_pipeline(
                    v["model_path"], v["device"], v["class_names"], v["class_types"],
                    v["head_format"], v["ort_threads"])
                self.worker = Worker(pipeline)  # owns the model from here on
                reason = validate(self.values, len(pipeline.class_names))
                if reason is None:
                    self._warm_up(pipeline)
            except StartupStopped:
                self.get_logger().info("configure stopped: the process is shutting down")
                self._release()
                return FAILURE
            except (ConfigError, ModelLoadError) as exc:
                reason = str(exc)
            except Exception as exc:  # whatever else: still a one-line reason, never silent
                reason = f"{type(exc).__name__}: {exc}"
        if reason is not None:
            self.model_error = reason
            self.get_logger().error(f"configure failed: {reason}")
            self._release()
            return FAILURE
        self.model_error = ""
        self.outputs = Outputs(self, self.worker.pipeline.class_map)
        if self.values["camera_pose_source"] == "tf" and self.tf is None:
            self.tf = TfPose(self)
        self.get_logger().info(f"model: {self.model_summary}")
        self.get_logger().info(self.kernels)
        for line in self.worker.pipeline.class_map.describe():
            self.get_logger().info(line)
        # What configure loaded (rclpy, ONNX Runtime, Numba: ~150k objects) lives as long as the
        # model: out of the cyclic GC's reach, its full collections stop scanning them (~80 ms
        # each on a 2-core VM, a stalled pair every few minutes); cleanup gives them back.
        gc.collect()
        gc.freeze()
        return self._entered("inactive")

    def _warm_up(self, pipeline: Any) -> None:
        """One inference on a blank pair and the compiled kernels (stereo refinement, decode):
        lazy setup happens now, never on the first pair. Stops (StartupStopped) as soon as
        ``stop_requested`` says so, between the steps."""
        if self.stop_requested():
            raise StartupStopped
        self.kernels = jit.prepare(self.get_logger().info, self.stop_requested)
        if self.stop_requested():
            raise StartupStopped
        h, w = pipeline.backend.input.hw
        blank = np.full((h, w, 3), 114, np.uint8)
        try:
            pipeline.process(blank, blank, decode_config(self.values))
        except FloatingPointError as exc:  # NaN is data: counted per pair when it happens
            self.get_logger().warning(f"warm-up: {exc}")
        except Exception as exc:
            raise ConfigError(f"model {self.values['model_path']}: warm-up inference failed: "
                              f"{type(exc).__name__}: {exc}") from exc

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        processor = PairProcessor(self.worker.pipeline, self.stats, self.calibration,
                                  self.outputs, self._report, lambda: self.settings, self.tf,
                                  self.rig, closing=lambda: not self.context.ok())
        slot = self.worker.start(processor)
        self.inputs = StereoInputs(self, self.values, self.stats, slot, self.calibration,
                                   self._on_incompatible_qos, self._on_stamps_back,
                                   self._report)
        self.get_logger().info(
            f"active: {', '.join(self.inputs.topics)}; transport {self.values['image_transport']}, "
            f"QoS {self.values['image_qos']}, pairing by stamp (slop {self.values['sync_slop']} s)")
        return self._entered("active")

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        if self.inputs is not None:
            if not self.inputs.destroy():
                self.get_logger().error("the input thread did not stop within 5 s")
            self.inputs = None
        if self.worker is not None and not self.worker.stop():
            self.get_logger().error("the worker did not stop within 5 s")
        return self._entered("inactive")

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release()
        return self._entered("unconfigured")

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        if self.inputs is not None:
            self.on_deactivate(state)
        self._release()  # finalized, as ROS lifecycle nodes are: the process ends on SIGINT
        return self._entered("finalized")

    def _entered(self, name: str) -> TransitionCallbackReturn:
        self.state_name = name
        # a state's periods start with it: the timer fell behind during a long configure (the
        # model, the kernels' compile) and its next ticks came a fraction of a period after
        # activation, a window too short for images to arrive in ("no images arriving" at
        # start-up, before the cameras' first frames were due)
        self._diagnostics_timer.reset()
        return SUCCESS

    def _release(self) -> None:
        gc.unfreeze()  # the old model's objects may be garbage now: collectable again
        # no inference while the subscriptions go (its threads take the cores the teardown
        # needs); one wait for a worker that does not stop, not two
        stopped = self.worker.stop() if self.worker is not None else True
        if self.inputs is not None:  # still active (SIGINT): the input thread and its node
            self.inputs.destroy()
            self.inputs = None
        if self.worker is not None:
            if not self.worker.close(timeout=5.0 if stopped else 0.0):
                self.get_logger().error("the worker is still running: model buffers are kept "
                                        "until the process exits")
            self.worker = None
        if self.outputs is not None:
            self.outputs.destroy()
            self.outputs = None
        self.rig = None  # no rig status from a node with no model (it said "collecting")

    # ---------------------------------------------------------------- parameters
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        values = merged(self.values, {p.name: p.value for p in params})
        pipeline = self.worker.pipeline if self.worker else None
        reason = validate(values, len(pipeline.class_names) if pipeline else None)
        try:
            settings = Settings.from_values(values) if reason is None else None
        except ConfigError as exc:
            reason = str(exc)
        camera, _ = self.calibration.camera()
        masked = any(p.name in ("ignore_mask", "ignore_below_row") for p in params)
        if reason is None and masked and settings.geometry.mask is not None \
                and camera is not None:
            try:  # a self-mask for the cameras' size (it was taken, then every pair failed)
                settings.geometry.mask.validate(camera.width, camera.height)
            except MaskError as exc:
                reason = f"{exc} (the size camera_info gives)"
        if reason is not None:
            self.get_logger().warning(f"parameter change refused: {reason}")
            self.refusal_logged = True  # (judged_as_a_whole logs rclpy's refusals)
            return SetParametersResult(successful=False, reason=reason)
        self.values = values
        for p in params:  # a start value refused at declaration, now set to a valid one
            self.declare_errors.pop(p.name, None)  # (configure refused it for good before)
        if self.settings is not None:  # configured: applied from the next pair
            self.settings = settings
        self.calibration.baseline_range = (values["min_baseline"], values["max_baseline"])
        if self.rig is not None:  # the verdict's thresholds, from the next diagnostics
            self.rig.thresholds = rig_thresholds(values)
            self.rig._last = None
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------- faults and health
    def _report(self, kind: str, message: str) -> None:
        if self.stats.error(kind):
            self.get_logger().error(f"{message} [{kind}: {self.stats.errors[kind]} so far]")

    def _on_incompatible_qos(self, topic: str, event: Any) -> None:
        self._report("incompatible_qos", f"incompatible QoS on {topic}: the publisher cannot serve "
                     f"this subscription (policy {event.last_policy_kind}); images will not "
                     f"arrive. Set image_qos to match the camera driver (a best-effort publisher "
                     f"needs image_qos: sensor_data).")

    def _on_stamps_back(self, previous_ns: int, new_ns: int) -> None:
        self.stats.count("pairing_resets")
        self.get_logger().warning(f"stamps jumped back {(previous_ns - new_ns) / 1e9:.1f} s (a bag "
                                  f"loop or a camera restart?): pairing reset")

    def _publish_diagnostics(self) -> None:
        health, window = self.health.update(*self.stats.totals(), self.model_error,
                                            self.state_name)
        line = self.health.log_line(health)
        if line is not None:  # one call site per severity: rclpy refuses a site that changes it
            level, text = line
            if level == OK:
                self.get_logger().info(text)
            elif level == WARN:
                self.get_logger().warning(text)
            else:
                self.get_logger().error(text)
        values = status_values(self.state_name, self.values["model_path"],
                               self.model_summary or self.model_error,
                               self.worker.pipeline if self.worker else None, self.calibration,
                               self.inputs, self.stats.snapshot(), window)
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [messages.diagnostic_status(
            f"{self.get_name()}: stereo detection", self.get_fully_qualified_name(),
            bytes([health.level]), health.message, values)]
        if self.rig is not None:  # the fit runs here, at most once a second, never on the worker
            try:
                level, message, rig_values = self.rig.status()
            except Exception as exc:  # noqa: BLE001 - a diagnostic must not stop the node
                self._report("rig_fit", f"the stereo rig fit failed: {type(exc).__name__}: {exc}")
                level, message, rig_values = 1, f"rig fit failed: {type(exc).__name__}", {}
            array.status.append(messages.diagnostic_status(
                f"{self.get_name()}: stereo rig", self.get_fully_qualified_name(),
                bytes([level]), message, rig_values))
        self.pub_diag.publish(array)


def main(args: list[str] | None = None,
         stop_signal: StartupSignals | None = None) -> None:
    """Exit status: 0 after SIGINT (or SIGTERM), 2 when the node cannot start. Until the node
    spins, the signals are only noted (`stop_signal`) and checked after each start-up step and
    inside configure (between the model load, each kernel's compile and the warm-up); rclpy's signal
    handlers are installed just before the spin, so nothing shuts the context down while the
    node and its executor are built."""
    stop_signal = stop_signal or StartupSignals()
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as exc:  # a params file that is missing or not YAML, bad --ros-args
        print(f"[stereo_detector] cannot start: invalid ROS arguments or params file: "
              f"{' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        sys.exit(2)
    code = 0
    node: StereoDetectorNode | None = None
    try:
        if not stop_signal.seen:
            node = StereoDetectorNode()
            node.stop_requested = lambda: stop_signal.seen
        if node is not None and not stop_signal.seen and node.values["autostart"]:
            node.trigger_configure()
            if node.state_name == "inactive" and not stop_signal.seen:
                node.trigger_activate()
            elif node.state_name != "inactive" and not stop_signal.seen:
                code = 2  # configure failed, and not because the process is stopping
        if node is not None and code == 0 and not stop_signal.seen:
            executor = SingleThreadedExecutor(context=node.context)
            executor.add_node(node)
            stop_signal.hand_over()  # from here a SIGINT raises KeyboardInterrupt...
            install_signal_handlers(SignalHandlerOptions.ALL)  # ...and shuts the context down
            if not stop_signal.seen:
                rclpy.spin(node, executor)
    except ConfigError as exc:
        print(f"[stereo_detector] cannot start: {exc}", file=sys.stderr, flush=True)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:  # SIGINT inside rclpy's take of a large message surfaces as this
        if rclpy.ok():
            raise
    finally:
        ignore_stop_signals()  # a second Ctrl-C, or the SIGTERM `ros2 launch` sends 5 s after
        # its SIGINT, must not cut the teardown. rclpy's signal handler shuts the context down
        # and triggers every executor's guard condition from its own thread, and the
        # KeyboardInterrupt can reach this thread first: tearing down beside it (the executors'
        # guard conditions, the subscriptions) ended the process with SIGSEGV in a native thread
        # once in 100 SIGINTs while the shipped model inferred. Uninstalling the handlers joins
        # that thread (a no-op where they were never installed); they put back the handlers
        # found at their install, so the signals are ignored again after it.
        uninstall_signal_handlers()
        ignore_stop_signals()
        if node is not None:
            print(f"[{node.get_fully_qualified_name()}] shutting down", flush=True)
            node._release()
            node.destroy_node()
        rclpy.try_shutdown()
    sys.exit(code)


if __name__ == "__main__":
    main()
