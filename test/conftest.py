"""Real ROS 2 for the live tests: an isolated DDS domain, transports chosen on purpose.

Large images (1280x720 bgr8, 2.7 MB) over best-effort QoS need a transport for large data in
EVERY process (ARCHITECTURE section 6). The tests use the package's own Fast DDS profile
(config/fastdds_shm.xml: shared memory for data, UDP for discovery, no TCP), as the README
recommends for the car, for themselves and for every node they start. LARGE_DATA is not used:
its loopback TCP channel is where the rare start-up stall was found (a handshake that never
starts, no timeout), which is why the live tests carry no retries.
"""
import os
import random
from pathlib import Path

PROFILE = str(Path(__file__).resolve().parent.parent / "config" / "fastdds_shm.xml")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = PROFILE  # Fast DDS 3 (Jazzy, Kilted)
os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = PROFILE  # Fast DDS 2 (Humble)
# Measured here: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST stops LARGE_DATA images arriving at all
os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory):
    """A tiny stand-in model in the exact Ultralytics I/O format (generated, not trained): fast
    enough for tests of the ONNX tools that do not need a real network."""
    from yolo_stereo_trt.data.standin_model import build_demo_model
    import onnx
    path = tmp_path_factory.mktemp("models") / "colour_cones.onnx"
    onnx.save(build_demo_model((640, 640), 2), str(path))
    return path


@pytest.fixture(scope="module")
def ros():
    """rclpy initialised for one live test module (each module's own DDS participants)."""
    import rclpy
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The near-free stand-in: the demo model's real output whatever the input."""
    from ros_helpers import constant_model
    return constant_model(tmp_path_factory.mktemp("near_free") / "constant.onnx")
