"""The node's inputs: image subscriptions (raw or compressed, QoS), pairing by stamp, camera_info.

The four subscriptions live on a small helper node, ``<node name>_inputs`` (no parameters, no
services, no rosout; topics resolved, remaps included, by the main node), spun by its own
executor thread: rclpy's executor walks every entity of its nodes at each wake-up, and the
lifecycle node's ~30 services, publishers and event handlers cost ~900 Python calls per
message, four messages per pair (measured: 1.75 ms of CPU per pair over a minimal relay). The
callbacks only count, pair and hand the newest pair to the worker's one-item slot (a pair
superseded there is dropped and counted). camera_info is kept as it comes; the StereoCamera is
rebuilt only when the projection matrices or sizes change.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
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
    """Creates the subscriptions for ``node`` (on its helper node, spun by its own thread);
    ``destroy()`` stops that thread and removes them (lifecycle deactivate)."""

    def __init__(self, node: Any, values: dict[str, Any], stats: NodeStats,
                 slot: LatestSlot, calibration: CalibrationTracker,
                 on_incompatible_qos: Callable[[str, Any], None],
                 on_stamps_back: Callable[[int, int], None],
                 report: Callable[[str, str], None]) -> None:
        self.stats, self.slot, self.report = stats, slot, report
        self._stopped = threading.Event()
        name = node.resolve_topic_name  # namespace and remaps of the main node (rclpy >= Galactic)
        # its own name, not the process-wide arguments (a launch file's __node rename applies to
        # every node of the process: the helper would take the main node's name)
        self.node = Node(f"{node.get_name()}_inputs", namespace=node.get_namespace(),
                         context=node.context, use_global_arguments=False,
                         enable_rosout=False, start_parameter_services=False,
                         parameter_overrides=[Parameter("start_type_description_service",
                                                        value=False)])
        node = self.node
        compressed = values["image_transport"] == "compressed"
        msg_type = CompressedImage if compressed else Image
        suffix = "/compressed" if compressed else ""
        if values["image_qos"] == "reliable":
            qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                             history=HistoryPolicy.KEEP_LAST)
        else:
            qos = qos_profile_sensor_data
        topics = [name(f"{side}/image_raw{suffix}") for side in SIDES]
        events = [SubscriptionEventCallbacks(
            incompatible_qos=lambda e, t=t: on_incompatible_qos(t, e)) for t in topics]
        slop, queue = values["sync_slop"], values["sync_queue_size"]
        self.subs: list[Any] = [
            node.create_subscription(CameraInfo, name(f"{side}/camera_info"),
                                     lambda m, s=i: calibration.update(s, m), 10,
                                     event_callbacks=SubscriptionEventCallbacks(
                                         use_default_callbacks=False))  # 2 fewer waitables
            for i, side in enumerate(SIDES)]
        # the package's own pairing everywhere (message_filters' ApproximateTimeSynchronizer has
        # the same slop/queue meaning but no stale-stamp rule and no counters): one tested path
        self.sync = PairSynchronizer(int(slop * 1e9), queue, self._on_pair,
                                     on_reset=on_stamps_back)
        self.subs += [node.create_subscription(msg_type, t, lambda m, s=side: self._on_image(s, m),
                                               qos, event_callbacks=e)
                      for side, (t, e) in enumerate(zip(topics, events))]
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self._spin, name=node.get_name(), daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        """Until destroy() or the context's shutdown (SIGINT); a callback's exception is counted
        and the inputs keep running."""
        while self.node.context.ok() and not self._stopped.is_set():
            try:
                self.executor.spin_once()  # no timeout: each one is a timer made and freed
            except ExternalShutdownException:
                return
            except Exception as exc:  # noqa: BLE001 - never let one message end the inputs
                if self._stopped.is_set() or not self.node.context.ok():
                    return  # rclpy's own errors while shutting down
                self.report("input_callback", f"input callback failed: "
                            f"{type(exc).__name__}: {exc}")

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

    def destroy(self, timeout: float = 5.0) -> bool:
        """Stop the thread (waiting for a callback in progress), then remove the subscriptions
        and the helper node; False when the thread did not end within ``timeout``."""
        self._stopped.set()
        try:
            self.executor.shutdown(timeout)
        except Exception:  # noqa: BLE001 - a context shut down already: the thread ends anyway
            pass
        self.thread.join(timeout)
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []
        self.node.destroy_node()
        return not self.thread.is_alive()
