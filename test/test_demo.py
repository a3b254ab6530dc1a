"""stereo_demo's listening side (its own rclpy Context): it waits, bounded, for the debug_image the
node publishes right after each pair's cones, so the video has a frame for every pair that came
back; a debug image that never comes is reported, not waited for forever."""
import threading
import time

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import Image, PointCloud2

from ros_helpers import stamp_of
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
