"""play_bag: replay a rosbag2 (sqlite3 or MCAP) into ROS 2 without a ROS distribution.

  play_bag BAG [--rate 0.5] [--clock] [--loop] [--topics left/image_raw right/image_raw ...]

`ros2 bag play` needs a ROS distribution; this reads the bag with `rosbags` and publishes with
rclpy, keeping the recorded timing (scaled by --rate), optionally publishing /clock from the
recording time so nodes with use_sim_time follow the bag. Images go out with sensor-data QoS
(best effort, as camera drivers publish) unless --reliable; other topics reliable, depth 10.
Large images over best effort need the shipped shared-memory profile (config/fastdds_shm.xml,
docs/car.md) exported in the player and the node: the player points at it itself unless a
profile or FASTDDS_BUILTIN_TRANSPORTS is exported. It waits (--wait) until each topic has a
subscriber, an image's raw or compressed topic either (a node takes one transport).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ..core.cli import guarded, non_negative_float, positive_float

ROS_TYPES = {"sensor_msgs/msg/Image": ("sensor_msgs.msg", "Image"),
             "sensor_msgs/msg/CompressedImage": ("sensor_msgs.msg", "CompressedImage"),
             "sensor_msgs/msg/CameraInfo": ("sensor_msgs.msg", "CameraInfo")}


def ros_class(msgtype: str) -> Any:
    if msgtype not in ROS_TYPES:
        raise KeyError(msgtype)
    module, name = ROS_TYPES[msgtype]
    import importlib
    return getattr(importlib.import_module(module), name)


class BagPlayer:
    """Publishes a bag's messages from an rclpy node at the recorded pace."""

    def __init__(self, node: Any, bag: Path, topics: Iterable[str] | None = None,
                 prefix: str = "", rate: float = 1.0, clock: bool = False,
                 reliable_images: bool = False) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from rosbags.rosbag2 import Reader
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.node, self.bag, self.rate = node, Path(bag), rate
        with Reader(self.bag) as reader:
            wanted = None if topics is None else {t.lstrip("/") for t in topics}
            in_bag = {c.topic.lstrip("/") for c in reader.connections}
            if wanted is not None and wanted - in_bag:
                raise ValueError(f"{self.bag} has no topic {', '.join(sorted(wanted - in_bag))}; "
                                 f"it has {', '.join(sorted(in_bag))}")
            conns = [c for c in reader.connections
                     if wanted is None or c.topic.lstrip("/") in wanted]
            self.duration_s = reader.duration / 1e9
            self.message_count = sum(c.msgcount for c in conns)
        unknown = sorted({c.msgtype for c in conns} - set(ROS_TYPES))
        if unknown:
            node.get_logger().warning(f"not playing topics of types {unknown}")
        self.topics = sorted({c.topic for c in conns if c.msgtype in ROS_TYPES})
        image_qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE) \
            if reliable_images else qos_profile_sensor_data
        self.publishers = {}
        for c in conns:
            if c.msgtype not in ROS_TYPES:
                continue
            name = (prefix.rstrip("/") + "/" + c.topic.lstrip("/")) if prefix else c.topic
            qos = image_qos if "Image" in c.msgtype else 10
            self.publishers[c.topic] = node.create_publisher(ros_class(c.msgtype), name, qos)
        self.clock_pub = None
        if clock:
            from rosgraph_msgs.msg import Clock
            self.clock_pub = node.create_publisher(Clock, "/clock", 10)

    def wait_for_subscribers(self, topics: Iterable[str], timeout: float,
                             spin: Callable[[float], None]) -> bool:
        """Wait until every topic in `topics` has a subscriber (DDS discovery takes seconds); an
        image's raw and compressed topics count as one (a node subscribes to one of them)."""
        end = time.monotonic() + timeout
        groups: dict[str, list[Any]] = {}
        for t in topics:
            if t in self.publishers:
                groups.setdefault(t.removesuffix("/compressed"), []).append(self.publishers[t])
        while time.monotonic() < end:
            if all(any(p.get_subscription_count() > 0 for p in pubs) for pubs in groups.values()):
                return True
            spin(0.05)
        return False

    def play(self, spin: Callable[[float], None],
             on_message: Callable[[str, int, Any], None] | None = None) -> int:
        """Publish everything once; `spin(seconds)` runs the executor while waiting. Returns the
        number of messages published."""
        from builtin_interfaces.msg import Time

        from ..data.bags import read_bag, to_ros
        start_wall, start_bag, count = None, None, 0
        for item in read_bag(self.bag, tuple(self.publishers)):
            if start_bag is None:
                start_wall, start_bag = time.monotonic(), item.stamp_ns
            assert start_wall is not None
            due = start_wall + (item.stamp_ns - start_bag) / 1e9 / self.rate
            while (wait := due - time.monotonic()) > 0:
                spin(min(wait, 0.05))
            if self.clock_pub is not None:
                from rosgraph_msgs.msg import Clock
                self.clock_pub.publish(Clock(clock=Time(sec=item.stamp_ns // 10**9,
                                                        nanosec=item.stamp_ns % 10**9)))
            msg = to_ros(item.msg, ros_class(item.msgtype))
            self.publishers[item.topic].publish(msg)
            count += 1
            if on_message is not None:
                on_message(item.topic, item.stamp_ns, msg)
        return count


@guarded("play_bag")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="play_bag", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bag", type=Path, help="rosbag2 folder (sqlite3 or mcap)")
    ap.add_argument("--rate", type=positive_float, default=1.0, help="playback speed factor (1.0)")
    ap.add_argument("--clock", action="store_true", help="publish /clock (use_sim_time)")
    ap.add_argument("--loop", action="store_true", help="play again and again")
    ap.add_argument("--topics", nargs="+", help="only these topics")
    ap.add_argument("--prefix", default="", help="namespace to put before the topics")
    ap.add_argument("--reliable", action="store_true", help="images with reliable QoS")
    ap.add_argument("--wait", type=non_negative_float, default=10.0,
                    help="seconds to wait for subscribers before playing (10; 0 = do not wait)")
    args = ap.parse_args(argv)
    if not args.bag.exists():
        print(f"play_bag: {args.bag} not found", file=sys.stderr)
        return 2
    from ..core.paths import use_large_image_transport
    print(f"transports: {use_large_image_transport(os.environ)}", flush=True)
    import rclpy
    from rclpy.node import Node
    rclpy.init()
    node = Node("bag_player")
    try:
        try:
            player = BagPlayer(node, args.bag, args.topics, args.prefix, args.rate, args.clock,
                               args.reliable)
        except ValueError as exc:  # a topic the bag does not have
            print(f"play_bag: error: {exc}", file=sys.stderr, flush=True)
            return 2
        spin = lambda s: rclpy.spin_once(node, timeout_sec=s)  # noqa: E731
        print(f"{args.bag}: {player.message_count} messages, {player.duration_s:.1f} s, "
              f"topics {', '.join(player.topics)}", flush=True)
        if args.wait > 0 and not player.wait_for_subscribers(player.topics, args.wait, spin):
            print(f"no subscriber on every topic after {args.wait:g} s (is the node running, "
                  f"under --prefix {args.prefix or '/'}, with the same transports?): playing "
                  f"anyway", flush=True)
        while True:
            n = player.play(spin)
            print(f"played {n} messages at rate {args.rate:g}", flush=True)
            if not args.loop:
                break
    except KeyboardInterrupt:
        pass
    except Exception:  # noqa: BLE001
        if rclpy.ok():  # a real error; else Ctrl-C or SIGTERM: rclpy's handler shut the context
            raise  # down under the spin (ExternalShutdownException) or a publish (RCLError)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
