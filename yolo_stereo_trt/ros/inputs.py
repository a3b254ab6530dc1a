"""The node's inputs: image subscriptions (raw or compressed, QoS), pairing by stamp, camera_info.

The four subscriptions live on a small helper node, ``<node name>_inputs`` (no parameters, no
services, no rosout; topics resolved, remaps included, by the main node), spun by its own
executor thread: rclpy's executor walks every entity of its nodes at each wake-up, and the
lifecycle node's ~30 services, publishers and event handlers cost ~900 Python calls per
message, four messages per pair (measured: 1.75 ms of CPU per pair over a minimal relay). The
callbacks only count, pair and hand the newest pair to the worker's one-item slot (a pair
superseded there is dropped and counted). camera_info is kept as it comes; the StereoCamera is
rebuilt only when the projection matrices or sizes change; a camera_info identical to the
previous one but for its stamp is not even deserialized.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..core.pairing import LatestSlot, PairSynchronizer
from ..core.stats import NodeStats
from ..core.camera_info import CalibrationTracker
from .process import name_this_thread

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks  # type: ignore[no-redef]

SIDES = ("left", "right")
# the subscribed topics, relative (namespace and remaps apply): images (raw, or with
# image_transport compressed these plus /compressed) and the rectified pair's calibration
IMAGE_TOPICS = tuple(f"{side}/image_raw" for side in SIDES)
CAMERA_INFO_TOPICS = tuple(f"{side}/camera_info" for side in SIDES)
INPUTS_THREAD = "stereo_inputs"  # its OS name (top -H, benchmark_node's CPU by thread)


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
        compressed = values["image_transport"] == "compressed"
        msg_type = CompressedImage if compressed else Image
        suffix = "/compressed" if compressed else ""
        if values["image_qos"] == "reliable":
            qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                             history=HistoryPolicy.KEEP_LAST)
        else:
            qos = qos_profile_sensor_data
        # the main node's namespace and remaps (rclpy >= Galactic), resolved before the helper
        # exists: a name rejected here leaves nothing behind
        resolve = node.resolve_topic_name
        topics = [resolve(t + suffix) for t in IMAGE_TOPICS]
        info_topics = [resolve(t) for t in CAMERA_INFO_TOPICS]
        self.topics = topics + info_topics  # for the node's log: what a wrong camera:= shows
        # its own name, not the process-wide arguments (a launch file's __node rename applies to
        # every node of the process: the helper would take the main node's name)
        self.node = helper = Node(f"{node.get_name()}_inputs", namespace=node.get_namespace(),
                                  context=node.context, use_global_arguments=False,
                                  enable_rosout=False, start_parameter_services=False,
                                  parameter_overrides=[Parameter(
                                      "start_type_description_service", value=False)])
        self.subs: list[Any] = []
        try:
            # the package's own pairing everywhere (message_filters' ApproximateTimeSynchronizer
            # has the same slop/queue meaning but no stale-stamp rule and no counters)
            self.sync = PairSynchronizer(int(values["sync_slop"] * 1e9),
                                         values["sync_queue_size"], self._on_pair,
                                         on_reset=on_stamps_back)
            self.calibration = calibration
            self._info_bodies: list[bytes | None] = [None, None]
            self.subs += [helper.create_subscription(
                CameraInfo, t, lambda raw, s=i: self._on_info(s, raw), 10, raw=True,
                event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False))
                for i, t in enumerate(info_topics)]  # no default QoS handlers: fewer waitables
            self.subs += [helper.create_subscription(
                msg_type, t, lambda m, s=side: self._on_image(s, m), qos,
                event_callbacks=SubscriptionEventCallbacks(
                    incompatible_qos=lambda e, t=t: on_incompatible_qos(t, e)))
                for side, t in enumerate(topics)]
            self._wake = helper.create_guard_condition(lambda: None)  # destroy() ends the wait
            self.executor = SingleThreadedExecutor(context=node.context)
            self.executor.add_node(helper)
        except BaseException:
            helper.destroy_node()
            raise
        self.thread = threading.Thread(target=self._spin, name=helper.get_name(), daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        """Until destroy() or the context's shutdown (SIGINT); a callback's exception is counted
        and the inputs keep running."""
        name_this_thread(INPUTS_THREAD)
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
                time.sleep(0.01)  # an error that repeats must not spin a core

    def _on_info(self, side: int, raw: bytes) -> None:
        """camera_info as it came off the wire, deserialized only when something after its stamp
        changed: a driver sends the same calibration with every frame (two messages per pair,
        each ~0.15 ms to turn into Python objects)."""
        body = raw[12:]  # after the CDR encapsulation (4 bytes) and the stamp (8)
        if body != self._info_bodies[side]:
            self.calibration.update(side, deserialize_message(raw, CameraInfo))
            self._info_bodies[side] = body

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
            self._wake.trigger()  # work for the waiting thread: it returns and sees _stopped
        except Exception:  # noqa: BLE001 - a context shut down already: the thread ends anyway
            pass
        self.thread.join(timeout)
        stopped = not self.thread.is_alive()
        try:
            self.executor.shutdown(0)
        except Exception:  # noqa: BLE001 - as above
            pass
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []
        self.node.destroy_guard_condition(self._wake)
        self.node.destroy_node()
        return stopped
