"""The node's inputs: image subscriptions (raw or compressed, QoS), pairing by stamp, camera_info.

Callbacks run on the executor thread and only count, pair and hand the newest pair to the
worker's one-item slot (a pair superseded there is dropped and counted). camera_info is kept
as it comes; the StereoCamera is rebuilt only when the projection matrices or sizes change.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..core.pairing import LatestSlot, PairSynchronizer
from ..core.stats import NodeStats
from ..core.stereo import CalibrationError, StereoCamera

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks  # type: ignore[no-redef]

try:  # the car's ROS distribution; not in the PyPI wheels
    import message_filters  # type: ignore[import-not-found]
except ImportError:
    message_filters = None

SIDES = ("left", "right")


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class CalibrationTracker:
    """camera_info of both eyes -> a validated StereoCamera, or the reason there is none."""

    def __init__(self, baseline_range: tuple[float, float]) -> None:
        self.baseline_range = baseline_range
        self._lock = threading.Lock()
        self._infos: list[Any] = [None, None]
        self._key: tuple | None = None
        self._camera: StereoCamera | None = None
        self._reason = "no camera_info on left/camera_info and right/camera_info yet"
        self.changed = False  # set when a new calibration was accepted or refused

    def update(self, side: int, msg: Any) -> None:
        with self._lock:
            self._infos[side] = msg

    def camera(self) -> tuple[StereoCamera | None, str]:
        """The current camera, or None and why (missing, or refused with the reason)."""
        with self._lock:
            left, right = self._infos
        if left is None or right is None:
            return None, self._reason if self._key is None else "camera_info missing"
        key = (tuple(left.p), tuple(right.p), left.height, left.width, right.height, right.width,
               self.baseline_range)
        if key != self._key:
            self._key, self.changed = key, True
            try:
                self._camera = StereoCamera.from_projections(
                    left.p, right.p, (left.height, left.width), (right.height, right.width),
                    baseline_range=self.baseline_range)
                self._reason = ""
            except CalibrationError as exc:
                self._camera, self._reason = None, f"invalid stereo calibration: {exc}"
        return self._camera, self._reason


class StereoInputs:
    """Creates the subscriptions on ``node``; ``destroy()`` removes them (lifecycle deactivate)."""

    def __init__(self, node: Any, values: dict[str, Any], stats: NodeStats,
                 slot: LatestSlot, calibration: CalibrationTracker,
                 on_incompatible_qos: Callable[[str, Any], None]) -> None:
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
        self.sync: Any
        if message_filters is not None:
            image_subs = [message_filters.Subscriber(node, msg_type, t, qos_profile=qos,
                                                     event_callbacks=e)
                          for t, e in zip(topics, events)]
            for side, sub in enumerate(image_subs):
                sub.registerCallback(lambda m, s=side: stats.tick(f"input_{SIDES[s]}"))
            self.sync = message_filters.ApproximateTimeSynchronizer(image_subs, queue, slop)
            self.sync.registerCallback(self._on_pair)
            self.subs += [s.sub for s in image_subs]
        else:
            self.sync = PairSynchronizer(int(slop * 1e9), queue, self._on_pair)
            self.subs += [node.create_subscription(msg_type, t, lambda m, s=side: self._on_image(s, m),
                                                   qos, event_callbacks=e)
                          for side, (t, e) in enumerate(zip(topics, events))]
        self.pairing = "message_filters" if message_filters is not None else "built-in"

    def _on_image(self, side: int, msg: Any) -> None:
        self.stats.tick(f"input_{SIDES[side]}")
        self.sync.add(side, stamp_ns(msg), msg)

    def _on_pair(self, left: Any, right: Any) -> None:
        self.stats.tick("paired")
        if self.slot.put((left, right)):
            self.stats.count("dropped_pairs")

    @property
    def unpaired_dropped(self) -> int | None:
        return self.sync.unpaired_dropped if isinstance(self.sync, PairSynchronizer) else None

    def destroy(self) -> None:
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []
