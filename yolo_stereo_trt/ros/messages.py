"""Results -> ROS messages (message types only; no node, no rclpy).

The message builders are tested as data: vision_msgs is absent from the PyPI wheels, so the
Detection2DArray builder takes the message module as an argument and is tested with a plain
stand-in of the same fields; on the car it gets the real vision_msgs.msg.
"""
from __future__ import annotations

from types import ModuleType
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from ..core.classes import BASES_M, CONE_TYPE_TABLE, CONE_TYPES, HEIGHTS_M, ClassMap
from ..core.postprocess import Detections
from ..core.stereo import Cones

try:
    from vision_msgs import msg as vision_msgs  # type: ignore[import-not-found]
except ImportError:  # not in the PyPI wheels; the car's ROS distribution has it
    vision_msgs = None

CONE_FIELDS = ("x", "y", "z", "class_id", "confidence",
               "cov_xx", "cov_xy", "cov_xz", "cov_yy", "cov_yz", "cov_zz")
_COV_INDEX = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # upper triangle, row-major
POINT_FIELDS = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                for i, name in enumerate(CONE_FIELDS)]


def cones_to_array(cones: Cones) -> np.ndarray:
    """(n, 11) float32 in CONE_FIELDS order: position (m), class id, confidence, covariance (m^2)."""
    points = np.zeros((len(cones), len(CONE_FIELDS)), dtype="<f4")
    points[:, 0:3] = cones.xyz
    points[:, 3] = cones.class_ids
    points[:, 4] = cones.confidence
    if len(cones) and cones.covariance.shape == (len(cones), 3, 3):
        rows, cols = zip(*_COV_INDEX)
        points[:, 5:] = cones.covariance[:, rows, cols]
    return points


def cones_to_pointcloud2(cones: Cones, header: Header) -> PointCloud2:
    """One point per cone, every field FLOAT32 (CONE_FIELDS), built from arrays in one go."""
    points = cones_to_array(cones)
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = 1, len(points)
    msg.fields = POINT_FIELDS
    msg.is_bigendian = False
    msg.point_step = 4 * len(CONE_FIELDS)
    msg.row_step = msg.point_step * len(points)
    msg.data = points.tobytes()
    msg.is_dense = True
    return msg


def pointcloud2_to_array(msg: PointCloud2) -> np.ndarray:
    """The inverse, for tools and tests: (n, 11) float32 in CONE_FIELDS order."""
    names = [f.name for f in msg.fields]
    if names[:len(CONE_FIELDS)] != list(CONE_FIELDS):
        raise ValueError(f"unexpected fields {names}")
    data = np.frombuffer(memoryview(msg.data), dtype="<f4")
    return data.reshape(msg.width * msg.height, msg.point_step // 4)[:, :len(CONE_FIELDS)]


def covariances_from_array(points: np.ndarray) -> np.ndarray:
    """(n, 3, 3) covariance matrices from the cov_* columns of ``pointcloud2_to_array``."""
    cov = np.zeros((len(points), 3, 3), np.float32)
    for k, (i, j) in enumerate(_COV_INDEX):
        cov[:, i, j] = cov[:, j, i] = points[:, 5 + k]
    return cov


def cones_to_markers(cones: Cones, header: Header, lifetime_s: float, classes: ClassMap,
                     ns: str = "cones") -> MarkerArray:
    """One CUBE_LIST per cone TYPE (marker id = the type's index in core.classes.CONE_TYPES),
    at the type's real cone size, in its colour, with a lifetime. ``classes`` (the pipeline's
    ``class_map``) gives each class id its type by name: the ids' order never matters."""
    markers = MarkerArray()
    lifetime = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1) * 1e9))
    type_ids = classes.type_ids_of(cones.class_ids)
    xyz_all = cones.xyz.astype(float)
    for t in np.unique(type_ids).tolist():
        style = CONE_TYPE_TABLE[t]
        b, g, r = style.colour_bgr
        marker = Marker(header=header, ns=ns, id=int(t), type=Marker.CUBE_LIST,
                        action=Marker.ADD, lifetime=lifetime)
        marker.pose.orientation.w = 1.0
        marker.scale.x = marker.scale.z = float(BASES_M[t])  # base width
        marker.scale.y = float(HEIGHTS_M[t])  # height (y is down in the optical frame)
        marker.color = ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=style.marker_alpha)
        marker.text = CONE_TYPES[t]
        marker.points = [Point(x=x, y=y, z=z) for x, y, z in xyz_all[type_ids == t].tolist()]
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
