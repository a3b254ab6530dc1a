"""rosbag2 files (sqlite3 and MCAP) without a ROS distribution, through `rosbags`.

The writer turns synthetic stereo pairs into the topics a stereo camera driver publishes; the
reader yields the recorded messages in time order as ROS 2 message objects for the player and
the evaluation. ROS 2 message classes are built from the rosbags objects field by field, so the
same code runs with the PyPI wheels and a ROS distribution.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

IMAGE_TOPICS = ("left/image_raw", "right/image_raw")
COMPRESSED_TOPICS = ("left/image_raw/compressed", "right/image_raw/compressed")
INFO_TOPICS = ("left/camera_info", "right/camera_info")
FRAME_IDS = ("camera_left_optical_frame", "camera_right_optical_frame")
_IMAGE = "sensor_msgs/msg/Image"
_COMPRESSED = "sensor_msgs/msg/CompressedImage"
_INFO = "sensor_msgs/msg/CameraInfo"


def _typestore():
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_HUMBLE)


class StereoBagWriter:
    """Write stereo pairs + camera_info to a rosbag2 (storage 'mcap' or 'sqlite3')."""

    def __init__(self, path: Path, storage: str = "mcap", compressed: bool = True,
                 namespace: str = ""):
        from rosbags.rosbag2 import StoragePlugin, Writer
        plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
        self.store = _typestore()
        self.writer = Writer(path, version=8, storage_plugin=plugin)
        self.writer.open()
        prefix = namespace.strip("/") + "/" if namespace.strip("/") else ""
        self.compressed = compressed
        topics = [(t, _IMAGE) for t in IMAGE_TOPICS] + [(t, _INFO) for t in INFO_TOPICS]
        if compressed:
            topics += [(t, _COMPRESSED) for t in COMPRESSED_TOPICS]
        self.conn = {t: self.writer.add_connection(prefix + t, ty, typestore=self.store)
                     for t, ty in topics}

    def _header(self, stamp_ns: int, frame_id: str):
        t = self.store.types
        return t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9,
                                                   nanosec=stamp_ns % 10**9),
            frame_id=frame_id)

    def _write(self, topic: str, stamp_ns: int, msg, msgtype: str) -> None:
        self.writer.write(self.conn[topic], stamp_ns, self.store.serialize_cdr(msg, msgtype))

    def write_pair(self, stamp_ns: int, left: np.ndarray, right: np.ndarray,
                   p_left: list[float], p_right: list[float]) -> None:
        t = self.store.types
        for side, img in enumerate((left, right)):
            header = self._header(stamp_ns, FRAME_IDS[side])
            h, w = img.shape[:2]
            p = np.asarray((p_left, p_right)[side], np.float64)
            k = np.array([p[0], 0, p[2], 0, p[5], p[6], 0, 0, 1], np.float64)
            info = t[_INFO](
                header=header, height=h, width=w, distortion_model="plumb_bob",
                d=np.zeros(5), k=k, r=np.eye(3).ravel(), p=p, binning_x=0, binning_y=0,
                roi=t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                          width=0, do_rectify=False))
            self._write(INFO_TOPICS[side], stamp_ns, info, _INFO)
            image = t[_IMAGE](header=header, height=h, width=w, encoding="bgr8", is_bigendian=0,
                              step=w * 3, data=np.ascontiguousarray(img).ravel())
            self._write(IMAGE_TOPICS[side], stamp_ns, image, _IMAGE)
            if self.compressed:
                ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
                comp = t[_COMPRESSED](header=header, format="bgr8; jpeg compressed bgr8",
                                      data=jpeg.ravel())
                self._write(COMPRESSED_TOPICS[side], stamp_ns, comp, _COMPRESSED)

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "StereoBagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class BagMessage:
    topic: str
    msgtype: str  # e.g. sensor_msgs/msg/Image
    stamp_ns: int  # recording time
    msg: object  # a rosbags message object


def read_bag(path: Path, topics: tuple[str, ...] | None = None) -> Iterator[BagMessage]:
    """Messages of a rosbag2 directory (sqlite3 or MCAP) in recording order."""
    from rosbags.rosbag2 import Reader
    store = _typestore()
    with Reader(path) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, stamp, raw in reader.messages(connections=conns):
            yield BagMessage(conn.topic, conn.msgtype, stamp,
                             store.deserialize_cdr(raw, conn.msgtype))


def to_ros(msg, ros_class):
    """A rclpy message from a rosbags message object with the same fields (recursively)."""
    out = ros_class()
    for name in out.get_fields_and_field_types():
        value = getattr(msg, name)
        current = getattr(out, name)
        if hasattr(current, "get_fields_and_field_types"):
            value = to_ros(value, type(current))
        elif isinstance(value, np.ndarray):
            value = value.tobytes() if value.dtype == np.uint8 else value.tolist()
        setattr(out, name, value)
    return out
