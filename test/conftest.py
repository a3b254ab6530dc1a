"""Real ROS 2 for the live tests: an isolated DDS domain, transports chosen on purpose.

Large images (1280x720 bgr8, 2.7 MB) over best-effort QoS need Fast DDS' LARGE_DATA builtin
transports in BOTH processes (ARCHITECTURE section 6), so the tests set it for themselves and
for every node they start.
"""
import os
import random

os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
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
