"""Helpers for the live node tests: start the real node, talk to it over real DDS."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import rclpy
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from yolo_stereo_trt.core.images import array_to_image_fields
from yolo_stereo_trt.data.synthetic import StereoScene, projection_matrices

ROOT = Path(__file__).resolve().parent.parent


def node_command() -> list[str]:
    exe = Path(sys.executable).parent / "stereo_detector"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "yolo_stereo_trt.ros.entry"]


DEMO_MODEL = "models/yolo12n_synthetic_cones.onnx"


def constant_model(path: Path) -> Path:
    """The nearly free stand-in (make_demo_model --constant-from the demo model): the demo
    model's real output on synthetic pair 700 whatever the input, so the node's own work is all
    that runs (fast live tests, realistic detections and cones)."""
    import onnx
    from yolo_stereo_trt.data.standin_model import build_constant_model, recorded_output
    output, hw, names = recorded_output(ROOT / DEMO_MODEL, 700)
    onnx.save(build_constant_model(output, hw, names), str(path))
    return path


class NodeProcess:
    """The stereo_detector executable in its own process, with its log captured."""

    def __init__(self, params: dict | None = None, params_file: Path | None = None,
                 namespace: str = "") -> None:
        args = node_command() + ["--ros-args"]
        if params_file:
            args += ["--params-file", str(params_file)]
        params = {"model_path": DEMO_MODEL, **(params or {})}  # the model is always named
        for key, value in params.items():
            if isinstance(value, bool):
                value = str(value).lower()
            args += ["-p", f"{key}:={value}"]
        if namespace:
            args += ["-r", f"__ns:={namespace}"]
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"stereo_detector_{time.time_ns()}.log"
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Harness(Node):
    """The other side of the wire: publishes stereo pairs, collects what the node publishes."""

    def __init__(self, prefix: str = "", transport: str = "raw",
                 image_qos: QoSProfile = qos_profile_sensor_data) -> None:
        super().__init__(f"harness_{time.time_ns()}")
        self.prefix = prefix
        msg_type = CompressedImage if transport == "compressed" else Image
        suffix = "/compressed" if transport == "compressed" else ""
        self.pub_images = [self.create_publisher(msg_type, f"{prefix}{side}/image_raw{suffix}", image_qos)
                           for side in ("left", "right")]
        self.pub_infos = [self.create_publisher(CameraInfo, f"{prefix}{side}/camera_info", 10)
                          for side in ("left", "right")]
        self.received: dict[str, list] = {}

    def collect(self, msg_type, topic: str, qos=10) -> list:
        store: list = []
        self.received[topic] = store
        self.create_subscription(msg_type, topic, store.append, qos)
        return store

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            rclpy.spin_once(self, timeout_sec=0.05)
        return predicate()

    def wait_for_node(self, timeout: float = 30.0) -> bool:
        """Until the node's image and camera_info subscriptions have matched our publishers."""
        # camera_info too: a pair that arrives before any camera_info is 2D only, and resending
        # the same stamp is then (rightly) dropped as stale
        return self.spin_until(lambda: all(p.get_subscription_count() > 0
                                           for p in (*self.pub_images, *self.pub_infos)), timeout)

    def publish_infos(self, scene: StereoScene, stamp) -> None:
        for pub, p in zip(self.pub_infos, projection_matrices(scene.camera)):
            info = CameraInfo()
            info.header.stamp, info.header.frame_id = stamp, "stereo_left_optical"
            info.width, info.height = scene.camera.width, scene.camera.height
            info.p = p
            pub.publish(info)

    def publish_pair(self, left: np.ndarray, right: np.ndarray, stamp, encoding: str = "bgr8",
                     jpeg: bool = False) -> None:
        for pub, frame in zip(self.pub_images, (left, right)):
            if jpeg:
                msg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", frame)[1].tobytes())
            else:
                msg = Image(**array_to_image_fields(frame))
                msg.encoding = encoding
            msg.header.stamp, msg.header.frame_id = stamp, "stereo_left_optical"
            pub.publish(msg)

    def set_parameters(self, node_name: str, **values) -> list:
        client = self.create_client(SetParameters, f"{node_name}/set_parameters")
        assert client.wait_for_service(timeout_sec=10.0), "parameter service not available"
        request = SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
        future = client.call_async(request)
        self.spin_until(future.done, 10.0)
        self.destroy_client(client)
        return future.result().results


def paced(action: Callable[[], object], period: float = 0.3) -> Callable[[], None]:
    """``action`` at most every ``period`` s: for predicates that resend while waiting, so that
    the tests do not flood two CPU cores with 2.7 MB images at the spin rate."""
    last = [-1e9]

    def run() -> None:
        if time.monotonic() - last[0] >= period:
            last[0] = time.monotonic()
            action()
    return run


def output_until(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    """What a console script (stdout a text pipe) printed up to the line holding ``marker``, or
    until it ended or ``timeout`` s passed: never blocked on a script that prints nothing."""
    import select
    out, deadline = "", time.monotonic() + timeout
    while marker not in out and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            if not line:  # it ended
                break
            out += line
    return out


def stamp_of(seconds: float):
    from builtin_interfaces.msg import Time
    return Time(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9)))


def diagnostics_values(array) -> dict:
    status = array.status[0]
    return {kv.key: kv.value for kv in status.values} | {"_level": status.level, "_message": status.message}


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS, KiB) of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


__all__ = ["NodeProcess", "constant_model", "rss_kib", "Harness", "paced", "stamp_of", "diagnostics_values", "ParameterMsg",
           "ReliabilityPolicy", "ROOT"]
