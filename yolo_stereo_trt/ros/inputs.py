"""The node's inputs: image subscriptions (raw or compressed, QoS), pairing by stamp, camera_info.

Callbacks run on the executor thread and only count, pair and hand the newest pair to the
worker's one-item slot (a pair superseded there is dropped and counted). camera_info is kept
as it comes; the StereoCamera is rebuilt only when the projection matrices or sizes change.
"""
from __future__ import annotations

from typing import Any, Callable

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..core.pairing import LatestSlot, PairSynchronizer
from ..core.stats import NodeStats
from ..core.camera_info import CalibrationTracker

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks  # type: ignore[no-redef]

SIDES = ("left", "right")


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class StereoInputs:
    """Creates the subscriptions on ``node``; ``destroy()`` removes them (lifecycle deactivate)."""

    def __init__(self, node: Any, values: dict[str, Any], stats: NodeStats,
                 slot: LatestSlot, calibration: CalibrationTracker,
                 on_incompatible_qos: Callable[[str, Any], None],
                 on_stamps_back: Callable[[int, int], None]) -> None:
        self.node, self.stats, self.slot = node, stats, slot
        compressed = values["image_transport"] == "compressed"
        msg_type = CompressedImage if compressed else Image
        suffix = "/compressed" if compressed else ""
        if values["image_qos"] == "reliable":
            qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                             history=HistoryPolicy.KEEP_LAST)
        else:
            qos = qos_profile_sensor_data
        topics = [f"{side}/image_raw{suffix}" for side in SIDES]
        events = [SubscriptionEventCallbacks(
            incompatible_qos=lambda e, t=t: on_incompatible_qos(t, e)) for t in topics]
        slop, queue = values["sync_slop"], values["sync_queue_size"]
        self.subs: list[Any] = [
            node.create_subscription(CameraInfo, f"{side}/camera_info",
                                     lambda m, s=i: calibration.update(s, m), 10)
            for i, side in enumerate(SIDES)]
        # the package's own pairing everywhere (message_filters' ApproximateTimeSynchronizer has
        # the same slop/queue meaning but no stale-stamp rule and no counters): one tested path
        self.sync = PairSynchronizer(int(slop * 1e9), queue, self._on_pair,
                                     on_reset=on_stamps_back)
        self.subs += [node.create_subscription(msg_type, t, lambda m, s=side: self._on_image(s, m),
                                               qos, event_callbacks=e)
                      for side, (t, e) in enumerate(zip(topics, events))]

    def _on_image(self, side: int, msg: Any) -> None:
        self.stats.tick(f"input_{SIDES[side]}")
        self.sync.add(side, stamp_ns(msg), msg)

    def _on_pair(self, left: Any, right: Any) -> None:
        self.stats.tick("paired")
        if self.slot.put((left, right)):
            self.stats.count("dropped_pairs")

    def counters(self) -> dict[str, int]:
        """The pairing's own counters."""
        return {"count_unpaired_dropped": self.sync.unpaired_dropped,
                "count_stale_pairs_dropped": self.sync.stale_dropped}

    def destroy(self) -> None:
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []
