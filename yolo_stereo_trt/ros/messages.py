"""Results -> ROS messages (message types only; no node, no rclpy).

The message builders are tested as data: vision_msgs is absent from the PyPI wheels, so the
Detection2DArray builder takes the message module as an argument and is tested with a plain
stand-in of the same fields; on the car it gets the real vision_msgs.msg.
"""
from __future__ import annotations

import array
import copy
import functools
import struct
from types import ModuleType
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from ..core.classes import ClassMap
from ..core.cloud import CONE_FIELDS, cone_points, marker_groups
from ..core.postprocess import Detections
from ..core.stereo import Cones

try:
    from vision_msgs import msg as vision_msgs  # type: ignore[import-not-found]
except ImportError:  # not in the PyPI wheels; the car's ROS distribution has it
    vision_msgs = None

POINT_FIELDS = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                for i, name in enumerate(CONE_FIELDS)]


def cones_to_pointcloud2(cones: Cones, header: Header) -> PointCloud2:
    """One point per cone, every field FLOAT32 (CONE_FIELDS), built from arrays in one go."""
    points = cone_points(cones)
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = 1, len(points)
    msg.fields = POINT_FIELDS
    msg.is_bigendian = False
    msg.point_step = 4 * len(CONE_FIELDS)
    msg.row_step = msg.point_step * len(points)
    msg.data = array.array("B", points.tobytes())  # bytes would be checked one by one (Humble)
    msg.is_dense = True
    return msg


# The same cloud serialized by hand (CDR, little endian; alignment counted from the payload,
# every block below starts 4-aligned): rclpy's conversion of a PointCloud2 reads its eleven
# PointFields attribute by attribute in Python at every publish (~130 calls, ~0.2 ms per pair
# with the caches cold). Outputs checks once, against the middleware's own deserializer, that
# these bytes are that message, and publishes the message itself where they are not.
_CDR_LE = b"\x00\x01\x00\x00"  # encapsulation: plain CDR, little endian


@functools.lru_cache(maxsize=16)
def _cdr_string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    block = struct.pack("<I", len(raw)) + raw
    return block + b"\0" * (-len(block) % 4)


_CDR_FIELDS = struct.pack("<I", len(POINT_FIELDS)) + b"".join(
    _cdr_string(f.name) + struct.pack("<IB3xI", f.offset, f.datatype, f.count)
    for f in POINT_FIELDS)


def cones_to_cdr(cones: Cones, header: Header) -> bytes:
    """``cones_to_pointcloud2(cones, header)`` as the serialized message (publish(bytes))."""
    points = cone_points(cones)
    step = 4 * len(CONE_FIELDS)
    return b"".join((_CDR_LE, struct.pack("<iI", header.stamp.sec, header.stamp.nanosec),
                     _cdr_string(header.frame_id), struct.pack("<II", 1, len(points)),
                     _CDR_FIELDS, struct.pack("<?3xIII", False, step, step * len(points),
                                              points.nbytes), points.tobytes(), b"\x01"))


def cdr_matches_the_middleware() -> bool:
    """Whether the middleware's own deserializer reads ``cones_to_cdr``'s bytes as the message
    ``cones_to_pointcloud2`` builds (a probe cloud, checked once per publisher)."""
    from rclpy.serialization import deserialize_message
    probe = Cones(xyz=np.array([[1.5, -0.25, 7.0], [0.0, 2.0, 30.0]], np.float32),
                  class_ids=np.array([1, 4]), confidence=np.array([0.5, 0.75], np.float32),
                  covariance=np.arange(18, dtype=np.float32).reshape(2, 3, 3))
    header = Header(frame_id="probe_frame")
    header.stamp.sec, header.stamp.nanosec = 1234, 5678
    try:
        return deserialize_message(cones_to_cdr(probe, header),
                                   PointCloud2) == cones_to_pointcloud2(probe, header)
    except Exception:  # noqa: BLE001 - any failure: publish messages
        return False


def pointcloud2_to_array(msg: PointCloud2) -> np.ndarray:
    """The inverse, for tools and tests: (n, len(CONE_FIELDS)) float32 in CONE_FIELDS order."""
    names = [f.name for f in msg.fields]
    if names[:len(CONE_FIELDS)] != list(CONE_FIELDS):
        raise ValueError(f"unexpected fields {names}")
    data = np.frombuffer(memoryview(msg.data), dtype="<f4")
    return data.reshape(msg.width * msg.height, msg.point_step // 4)[:, :len(CONE_FIELDS)]


@functools.lru_cache(maxsize=64)
def _marker_prototype(ns: str, type_id: int, name: str, rgba: tuple[float, ...],
                      scale: tuple[float, float, float], lifetime_s: float) -> Marker:
    """The constant part of a cone type's marker, built once (a Marker costs ~15 us to build)."""
    marker = Marker(ns=ns, id=type_id, type=Marker.CUBE_LIST, action=Marker.ADD, text=name,
                    lifetime=Duration(sec=int(lifetime_s),
                                      nanosec=int((lifetime_s % 1) * 1e9)),
                    color=ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3]))
    marker.pose.orientation.w = 1.0
    marker.scale.x, marker.scale.y, marker.scale.z = scale
    return marker


def cones_to_markers(cones: Cones, header: Header, lifetime_s: float, classes: ClassMap,
                     ns: str = "cones", vertical_axis: int = 1) -> MarkerArray:
    """One CUBE_LIST per cone TYPE (core.cloud.marker_groups: id = the type's index, real size,
    colour, ``text`` = the type) with a lifetime; the ids' order in the model never matters.
    Each marker is a shallow copy of its type's cached prototype with its own header and
    points: the constant sub-messages (pose, scale, color, lifetime) are shared, read-only."""
    markers = MarkerArray()
    for group in marker_groups(cones.xyz, cones.class_ids, classes, vertical_axis):
        marker = copy.copy(_marker_prototype(ns, group.type_id, group.name, group.rgba,
                                             group.scale, float(lifetime_s)))
        marker.header = header
        marker.points = [Point(x=x, y=y, z=z) for x, y, z in group.xyz.tolist()]
        markers.markers.append(marker)
    return markers


def detections_to_vision_msgs(dets: Detections, names: Sequence[str], header: Header,
                              msgs: ModuleType | None = None):
    """vision_msgs/Detection2DArray: box centre/size in original pixels, class name, score."""
    msgs = msgs or vision_msgs
    out = msgs.Detection2DArray()
    out.header = header
    boxes = dets.boxes.astype(float)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = boxes[:, 2:] - boxes[:, :2]
    for (cx, cy), (w, h), score, cls in zip(centres.tolist(), sizes.tolist(),
                                           dets.scores.tolist(), dets.class_ids.tolist()):
        det = msgs.Detection2D()
        det.header = header
        det.bbox.center.position.x, det.bbox.center.position.y = cx, cy
        det.bbox.size_x, det.bbox.size_y = w, h
        hyp = msgs.ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = names[cls] if 0 <= cls < len(names) else str(cls)
        hyp.hypothesis.score = score
        det.results.append(hyp)
        out.detections.append(det)
    return out


def diagnostic_status(name: str, hardware_id: str, level: bytes, message: str,
                      values: dict) -> DiagnosticStatus:
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
