"""stereo_demo's listening side (its own rclpy Context): it waits, bounded, for the debug_image the
node publishes right after each pair's cones, so the video has a frame for every pair that came
back; a debug image that never comes is reported, not waited for forever."""
import threading
import time

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import Image, PointCloud2

from ros_helpers import output_until, stamp_of
from yolo_stereo_trt.tools.demo import OutputListener


@pytest.fixture
def node_side(context):
    """Publishers of /demo/cones and /demo/debug_image (the node's side), and the demo's
    listener, matched to each other."""
    listener_node = rclpy.create_node("stereo_demo", context=context)
    listener = OutputListener(listener_node, "/demo")
    node = rclpy.create_node("stereo_detector", namespace="/demo", context=context)
    cones = node.create_publisher(PointCloud2, "cones", 10)
    debug = node.create_publisher(Image, "debug_image", 1)  # the node's depth
    deadline = time.monotonic() + 10
    while min(cones.get_subscription_count(), debug.get_subscription_count()) == 0 \
            and time.monotonic() < deadline:
        listener.spin(0.05)

    def publish(pub, seconds: float) -> None:
        msg = PointCloud2() if pub is cones else Image(height=2, width=2, encoding="bgr8",
                                                        step=6, data=bytes(12))
        msg.header.stamp = stamp_of(seconds)
        pub.publish(msg)

    yield listener, lambda s: publish(cones, s), lambda s: publish(debug, s)
    listener.close()
    node.destroy_node()
    listener_node.destroy_node()


def ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def test_the_last_pairs_debug_image_is_waited_for_after_its_cones(node_side):
    listener, cones, debug = node_side
    for s in (1.0, 1.5, 2.0):
        cones(s)
    debug(1.0)
    debug(1.5)
    # the last image comes 0.5 s after the last cones (a busy node draws it after publishing
    # them): a demo that stopped at the last cones lost it (11 frames for 12 pairs)
    late = threading.Timer(0.5, debug, args=(2.0,))
    late.start()
    try:
        missing = listener.wait_for_outputs([ns(1.0), ns(1.5), ns(2.0)], timeout=10.0)
    finally:
        late.join()
    assert missing == []
    assert sorted(listener.debug) == [ns(1.0), ns(1.5), ns(2.0)]
    assert all(isinstance(f, np.ndarray) and f.shape == (2, 2, 3) for f in listener.debug.values())


def test_a_debug_image_that_never_comes_is_reported_once_the_wait_is_over(node_side):
    listener, cones, debug = node_side
    for s in (3.0, 3.5):
        cones(s)
    debug(3.0)
    # 4.0 was sent but skipped by the node (no cones): it has no debug image to wait for
    missing = listener.wait_for_outputs([ns(3.0), ns(3.5), ns(4.0)], timeout=1.0)
    assert missing == [ns(3.5)]
    assert sorted(listener.cones) == [ns(3.0), ns(3.5)] and sorted(listener.debug) == [ns(3.0)]


@pytest.mark.parametrize("sig, status", [("SIGTERM", 143), ("SIGINT", -2)])
def test_the_demo_stopped_while_its_node_starts_stops_the_node_too(tmp_path, sig, status):
    """SIGTERM (or Ctrl-C) while the demo waits for its node: the demo ends through its cleanup,
    the node it started with it (SIGTERM used to end the demo at once, the node left running,
    or with an RCLError traceback while rclpy was being set up); no traceback."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path
    proc = subprocess.Popen([str(Path(sys.executable).parent / "stereo_demo"), "--frames", "2",
                             "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = ""
    try:
        out = output_until(proc, "starting the stereo_detector node", 180)
        assert "starting the stereo_detector node" in out, out
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert children, "the node process was not started"
        time.sleep(0.3)
        proc.send_signal(getattr(signal, sig))
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == status and "Traceback" not in rest, (proc.returncode, out + rest)
    for pid in children:  # the node ended with the demo
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists() or \
                    Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                break
            time.sleep(0.1)
        else:
            os.kill(int(pid), signal.SIGKILL)
            raise AssertionError(f"the node (pid {pid}) outlived the demo")
