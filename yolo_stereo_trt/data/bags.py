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


# vision_msgs 4.x (Humble and newer) definitions: detections/left|right are written and read
# with their schema without vision_msgs installed
VISION_MSGS = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose":
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n",
    "vision_msgs/msg/Detection2D": "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[]"
                                   " results\nvision_msgs/BoundingBox2D bbox\nstring id\n",
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] "
                                        "detections\n",
}


def typestore():
    """The ROS 2 (Humble) message types of rosbags, plus vision_msgs' detection types."""
    from rosbags.typesys import Stores, get_typestore, get_types_from_msg
    store = get_typestore(Stores.ROS2_HUMBLE)
    types: dict = {}
    for name, text in VISION_MSGS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


_typestore = typestore


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


# ---------------------------------------------------------------------------- robust reading
_MCAP_MAGIC = b"\x89MCAP0\r\n"


class BagReadError(RuntimeError):
    """A bag that cannot be opened at all (a clear one-line reason)."""


@dataclass
class BagTopic:
    name: str
    msgtype: str
    count: int


def _mcap_complete_end(bio) -> tuple[int, int]:
    """(data start, end of the last complete record) of an MCAP file cut short."""
    import struct
    if bio.read(8) != _MCAP_MAGIC:
        raise BagReadError("not an MCAP file (bad magic)")
    size = bio.seek(0, 2)
    pos, data_start = 8, None
    while pos + 9 <= size:
        bio.seek(pos)
        op, length = struct.unpack("<BQ", bio.read(9))
        end = pos + 9 + length
        if end > size or op == 0:
            break
        if op == 0x01:  # header: the data starts after it
            data_start = end
        elif op in (0x02, 0x0F):  # footer / data end
            break
        pos = end
    if data_start is None:
        raise BagReadError("MCAP file cut short before its header")
    return data_start, pos


class _TruncatedMcap:
    """rosbags' MCAP reader over the complete records of a file whose index/footer is missing
    (a recording that ended without closing the file): a sequential scan up to the cut."""

    def __init__(self, path: Path) -> None:
        from rosbags.rosbag2.storage_mcap import McapReader
        self.storage = McapReader(path)
        self.storage.bio = path.open("rb")
        self.storage.data_start, self.storage.data_end = _mcap_complete_end(self.storage.bio)
        self.storage.meta_scan()
        counts = self.storage.statistics.channel_message_counts
        self.connections = [c._replace(msgcount=counts.get(c.id, 0))
                            for c in self.storage.connections]
        self.file_size = path.stat().st_size

    def messages(self, connections, start=None, stop=None):
        return self.storage.messages_scan(connections, start, stop)

    def close(self) -> None:
        self.storage.close()


class BagSource:
    """A rosbag2 to read with `rosbags`, as robustly as it allows: a folder (with metadata.yaml,
    or only its .mcap/.db3 files when the recording never wrote it) or a single .mcap/.db3
    file. An MCAP file without its index and footer (cut short) is read up to its last complete
    record. Problems go to ``notes`` (shown to the user) and ``read_errors`` (counted); opening
    raises BagReadError only when nothing at all can be read."""

    def __init__(self, path: Path) -> None:
        from rosbags.rosbag2 import Reader
        self.path = Path(path)
        self.notes: list[str] = []
        self.read_errors = 0
        self._readers: list = []
        if not self.path.exists():
            raise BagReadError(f"{self.path}: no such file or folder")
        if self.path.is_dir() and (self.path / "metadata.yaml").is_file():
            files = [self.path]
        elif self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix in (".mcap", ".db3"))
            if not files:
                raise BagReadError(f"{self.path}: no metadata.yaml and no .mcap/.db3 file: "
                                   f"not a rosbag2")
            self.notes.append(f"{self.path}: no metadata.yaml, reading "
                              f"{', '.join(p.name for p in files)}")
        elif self.path.suffix in (".mcap", ".db3"):
            files = [self.path]
        else:
            raise BagReadError(f"{self.path}: not a rosbag2 (a folder, .mcap or .db3 file)")
        errors = []
        for f in files:
            try:
                reader = Reader(f)
                reader.open()
                self._readers.append(reader)
                continue
            except Exception as exc:  # rosbags raises several kinds for damaged files
                error = f"{f.name}: {exc}".rstrip(".")
            mcaps = [f] if f.suffix == ".mcap" else sorted(f.glob("*.mcap")) if f.is_dir() else []
            recovered = False
            for m in mcaps:
                try:
                    reader = _TruncatedMcap(m)
                except Exception:
                    continue
                self._readers.append(reader)
                self.read_errors += 1
                recovered = True
                self.notes.append(f"{m.name} is damaged or cut short ({error}): reading its "
                                  f"{sum(c.msgcount for c in reader.connections)} complete "
                                  f"messages")
            if not recovered:
                errors.append(error)
        if not self._readers:
            raise BagReadError(f"cannot read {self.path}: {'; '.join(errors)}")
        for e in errors:
            self.read_errors += 1
            self.notes.append(f"skipped unreadable {e}")
        self.topics: dict[str, BagTopic] = {}
        for reader in self._readers:
            for c in reader.connections:
                topic = self.topics.setdefault(c.topic, BagTopic(c.topic, c.msgtype, 0))
                topic.count += c.msgcount
        starts = [r.start_time for r in self._readers if isinstance(r, Reader) and r.message_count]
        starts += [r.storage.statistics.start_time for r in self._readers
                   if isinstance(r, _TruncatedMcap) and r.storage.statistics.message_count]
        self.start_ns = min(starts) if starts else 0

    def messages(self, topics: tuple[str, ...], start_ns: int | None = None,
                 stop_ns: int | None = None) -> Iterator[BagMessage]:
        """The messages of ``topics`` in recording order (per file). A read error ends the file
        it happens in (counted in ``read_errors``, told in ``notes``); a message that does not
        deserialize is skipped and counted."""
        store = _typestore()
        for reader in self._readers:
            conns = [c for c in reader.connections if c.topic in topics]
            if not conns:
                continue
            try:
                for conn, stamp, raw in reader.messages(conns, start_ns, stop_ns):
                    try:
                        msg = store.deserialize_cdr(raw, conn.msgtype)
                    except Exception as exc:
                        self.read_errors += 1
                        self.notes.append(f"{conn.topic} at {stamp}: message does not "
                                          f"deserialize ({type(exc).__name__}), skipped")
                        continue
                    yield BagMessage(conn.topic, conn.msgtype, stamp, msg)
            except Exception as exc:
                self.read_errors += 1
                self.notes.append(f"read error, the rest of the file is skipped: "
                                  f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []

    def __enter__(self) -> "BagSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
