"""Real ROS 2 for the live tests: an isolated DDS domain, transports chosen on purpose.

Large images (1280x720 bgr8, 2.7 MB) over best-effort QoS need a transport for large data in
EVERY process (ARCHITECTURE section 6). The tests use the package's own Fast DDS profile
(config/fastdds_shm.xml: shared memory for data, UDP for discovery, no TCP), as docs/car.md
recommends for the car, for themselves and for every node they start. LARGE_DATA is not used:
its loopback TCP channel is where the rare start-up stall was found (a handshake that never
starts, no timeout), which is why the live tests carry no retries.
"""
import os
import random
import subprocess
import sys
from pathlib import Path

PROFILE = str(Path(__file__).resolve().parent.parent / "config" / "fastdds_shm.xml")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
# the one variable the installed Fast DDS reads (3: FASTDDS_..., 2: FASTRTPS_...; Fast DDS 3
# warns when the old name is set too)
from yolo_stereo_trt.core.paths import PROFILE_VARIABLES, profile_variable  # noqa: E402
for _name in PROFILE_VARIABLES:
    os.environ.pop(_name, None)
os.environ[profile_variable()] = PROFILE
# Measured here: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST stops LARGE_DATA images arriving at all
os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--cpu-load", type=int, default=0, metavar="N",
                     help="run N busy-loop processes beside the tests for the whole session: "
                          "the live tests must stay green on a loaded machine (CI shares its cores)")


@pytest.fixture(scope="session", autouse=True)
def cpu_load(request):
    """``--cpu-load N``: N processes spinning on the CPU while the tests run."""
    n = request.config.getoption("--cpu-load")
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    yield n
    for proc in spinners:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory):
    """A tiny stand-in model in the exact Ultralytics I/O format (generated, not trained): fast
    enough for tests of the ONNX tools that do not need a real network."""
    from yolo_stereo_trt.data.standin_model import build_demo_model
    import onnx
    path = tmp_path_factory.mktemp("models") / "colour_cones.onnx"
    onnx.save(build_demo_model((640, 640), 2), str(path))
    return path


@pytest.fixture
def context():
    """An rclpy Context of the test's own (in-process nodes, as rclpy's own tests do)."""
    import rclpy
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


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
