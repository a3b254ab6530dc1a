"""Track testing over a recorded bag: every stereo pair through the node's pipeline, offline.

ROS-free (no rclpy anywhere below): the bag is read with `rosbags` (data.bags.BagSource: MCAP or
sqlite3, a folder or one file, a file cut short read up to its last complete message), left and
right are paired by header stamp with the node's own PairSynchronizer (its slop, queue, stale
and bag-loop rules), and every pair goes through core.pipeline.StereoPipeline as the node runs
it, as fast as the machine allows: nothing is dropped for time. The outputs are written with the
rosbags typestore into ``detections.mcap`` (the node's topics, at the inputs' recording times,
headers copied from the left image, and a bird's-eye view of each pair's cones on ``birdseye``
with the ground truth where the bag has it), with one row per pair in ``frames.csv`` and the
totals in ``summary.json``.

Bad data is counted, never fatal: an image that does not convert is an error of its kind (the
node's kinds: bad_encoding, bad_size, too_large, corrupt_compressed, ...), the pair is skipped
and the next one processed.
"""
from __future__ import annotations

import csv
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..core.camera_info import CalibrationTracker, camera_for_pair
from ..core.classes import ClassMap
from ..core.cloud import CONE_FIELDS, cone_points, marker_groups
from ..core.images import ImageDecodeError, compressed_to_array, image_to_array
from ..core.pairing import PairSynchronizer
from ..core.pipeline import CarGeometry, StereoPipeline, StereoResult
from ..core.postprocess import DecodeConfig, Detections, box_iou
from ..core.rig import RigSamples
from ..core.stereo import StereoConfig
from ..core.visualize import birdseye_panel, draw_detections, pair_caption, side_by_side
from .bags import BagSource, BagTopic, typestore
from .evaluation import RANGE_BUCKETS, EvalImage, coco_evaluate, match_classes

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
INFO = "sensor_msgs/msg/CameraInfo"
STAGES = ("convert", "preprocess", "inference", "decode", "stereo", "write", "total")
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096  # the node's max_image_pixels default


class TopicChoiceError(ValueError):
    """The image topics cannot be chosen without the user (none, several, or a named one
    missing); the message lists what the bag has."""


@dataclass(frozen=True)
class BagTopics:
    left: str | None  # None: the bag has images of one side only
    right: str | None
    left_info: str | None
    right_info: str | None
    transport: str  # raw | compressed


@dataclass
class EvalOptions:
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    stereo: StereoConfig = field(default_factory=StereoConfig)
    sync_slop_s: float = 0.01
    sync_queue_size: int = 10
    marker_lifetime_s: float = 0.5
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS
    baseline_range: tuple[float, float] = (0.01, 2.0)  # min_baseline, max_baseline
    geometry: CarGeometry = CarGeometry()  # self-mask, gates, output frame: as the node
    start_s: float = 0.0
    duration_s: float | None = None
    debug_image: bool = True
    compress_debug: bool = False
    birdseye: bool = True  # the cones from above per pair, on their own image topic
    progress: bool = True
    # is the rig still calibrated? (core.rig): judged against this reference when given
    rig_reference: Any = None  # core.rig.RigFit
    rig_thresholds: Any = None  # core.rig.RigThresholds (None: the defaults)


# ---------------------------------------------------------------------------- topics
def _side_suffixes(transport: str) -> tuple[str, str]:
    s = "/compressed" if transport == "compressed" else ""
    return f"left/image_raw{s}", f"right/image_raw{s}"


def _namespace(topic: str, suffix: str) -> str | None:
    """The prefix of ``topic`` before the node's name ``suffix`` (may be "" or "/ns/")."""
    if topic == suffix or topic == "/" + suffix:
        return topic[:-len(suffix)]
    if topic.endswith("/" + suffix):
        return topic[:-len(suffix)]
    return None


def image_topics(topics: dict[str, BagTopic]) -> list[str]:
    return sorted(t for t, info in topics.items() if info.msgtype in (IMAGE, COMPRESSED))


def topics_from_arguments(topics: dict[str, BagTopic], args, configured: str | None
                          ) -> tuple[BagTopics, str | None]:
    """choose_topics with the values of tools.evaluate_bag.add_topic_arguments, preferring
    ``configured`` (the params file's image_transport; None without one). Returns the topics
    and, where the bag's images are not what that file has the node subscribe to, a note
    saying so (evaluated as recorded: a compressed-only recording with ``image_transport:
    raw``)."""
    chosen = choose_topics(topics, args.left_topic, args.right_topic, args.left_info_topic,
                           args.right_info_topic, args.transport or "auto", configured or "raw")
    note = None
    chose_itself = not (args.left_topic or args.right_topic) and args.transport in (None, "auto")
    if configured and chose_itself and chosen.transport != configured:
        note = (f"note: the params file's image_transport is {configured}, the bag's images are "
                f"{chosen.transport}: evaluating {chosen.transport} (the node with this file "
                f"would subscribe to {configured})")
    return chosen, note


def choose_topics(topics: dict[str, BagTopic], left: str | None = None, right: str | None = None,
                  left_info: str | None = None, right_info: str | None = None,
                  transport: str = "auto", prefer: str = "raw") -> BagTopics:
    """The image (and camera_info) topics to evaluate: the named ones, else the node's names
    (``left/image_raw``, ``right/image_raw``, ``/compressed`` for that transport) under any
    namespace. ``transport`` auto takes ``prefer`` (raw or compressed: a params file's
    image_transport) when the bag has it, else the other. Raises TopicChoiceError when a named
    topic is missing or several candidates exist."""
    listing = ", ".join(f"{t} ({topics[t].msgtype.rsplit('/', 1)[-1]}, {topics[t].count})"
                        for t in image_topics(topics)) or "none"
    if left or right:
        if left is None or right is None:  # the other side by name
            named = left or right
            assert named is not None
            other = named.replace("left", "right") if left else named.replace("right", "left")
            if other == named:
                raise TopicChoiceError(f"cannot tell the other side's topic from {named}: name "
                                       f"both with --left-topic and --right-topic")
            left, right = (named, other) if left else (other, named)
        for name in (left, right):
            if name not in topics:
                raise TopicChoiceError(f"topic {name} is not in the bag (image topics: {listing})")
            if topics[name].msgtype not in (IMAGE, COMPRESSED):
                raise TopicChoiceError(f"topic {name} is {topics[name].msgtype}, not an image")
        kind = "compressed" if topics[left].msgtype == COMPRESSED else "raw"
        if topics[right].msgtype != topics[left].msgtype:
            raise TopicChoiceError(f"{left} and {right} have different types")
        ns_left = left.rsplit("left", 1)[0] if "left" in left else ""
        ns_right = right.rsplit("right", 1)[0] if "right" in right else ""
    else:
        transports = ((prefer, "raw" if prefer == "compressed" else "compressed")
                      if transport == "auto" else (transport,))
        found: dict[tuple[str, str], dict[int, str]] = {}
        for kind in transports:
            suffixes = _side_suffixes(kind)
            wanted = COMPRESSED if kind == "compressed" else IMAGE
            for t, info in topics.items():
                for side, suffix in enumerate(suffixes):
                    ns = _namespace(t, suffix)
                    if ns is not None and info.msgtype == wanted:
                        found.setdefault((kind, ns), {})[side] = t
            if found:
                break
        if not found:
            raise TopicChoiceError(
                f"no {'/'.join(transports)} image topics with the node's names "
                f"(left/image_raw, right/image_raw{'[/compressed]' if transport == 'auto' else ''}"
                f") in the bag; image topics: {listing}. Name them with --left-topic and "
                f"--right-topic")
        if len(found) > 1:
            names = sorted(t for sides in found.values() for t in sides.values())
            raise TopicChoiceError(f"several candidate image topics: {', '.join(names)}; name "
                                   f"the pair with --left-topic and --right-topic")
        (kind, ns), sides = next(iter(found.items()))
        left, right = sides.get(0), sides.get(1)
        ns_left = ns_right = ns
    infos = []
    for named, ns, side in ((left_info, ns_left, "left"), (right_info, ns_right, "right")):
        if named is not None:
            if named not in topics:
                raise TopicChoiceError(f"topic {named} is not in the bag")
            infos.append(named)
        else:
            default = f"{ns}{side}/camera_info"
            infos.append(default if default in topics and topics[default].msgtype == INFO
                         else None)
    return BagTopics(left, right, infos[0], infos[1], kind)


# ---------------------------------------------------------------------------- messages out
_NUMPY_BASE = {"bool": np.bool_, "byte": np.uint8, "char": np.uint8, "octet": np.uint8,
               "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
               "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
               "float32": np.float32, "float64": np.float64}

def make_msg(store, msgtype: str, **fields: Any) -> Any:
    """A rosbags message of ``msgtype`` from the given fields, every other field at its default
    (zero, empty, nested defaults), so builders name only what they fill."""
    from rosbags.typesys.base import Nodetype
    _, defs = store.fielddefs[msgtype]
    values = {}
    for name, (kind, spec) in defs:
        if name in fields:
            values[name] = fields.pop(name)
        elif kind == Nodetype.BASE:
            base = spec[0]
            values[name] = "" if base == "string" else (
                False if base == "bool" else _NUMPY_BASE[base](0).item())
        elif kind == Nodetype.NAME:
            values[name] = make_msg(store, spec)
        else:  # ARRAY (fixed size) or SEQUENCE
            (sub_kind, sub), size = spec
            if sub_kind == Nodetype.BASE and sub[0] in _NUMPY_BASE:
                values[name] = np.zeros(size if kind == Nodetype.ARRAY else 0,
                                        _NUMPY_BASE[sub[0]])
            elif kind == Nodetype.ARRAY:
                values[name] = [make_msg(store, sub) if sub_kind == Nodetype.NAME else ""
                                for _ in range(size)]
            else:
                values[name] = []
    if fields:
        raise TypeError(f"{msgtype} has no fields {sorted(fields)}")
    return store.types[msgtype](**values)


class DetectionsWriter:
    """The node's output topics into one MCAP file (a rosbag2 storage file Foxglove and
    `ros2 bag` open): cones, cone_markers, detections/left|right, debug_image, and the
    bird's-eye view on ``birdseye`` (images: ``/compressed`` JPEG with ``compress_debug``)."""

    def __init__(self, path: Path, debug_image: bool = True, compress_debug: bool = False,
                 marker_lifetime_s: float = 0.5, birdseye: bool = False) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        self.path = Path(path)
        self.store = typestore()
        self._dir = self.path.with_name(f".{self.path.stem}_rosbag2")
        if self._dir.is_dir():  # left by an interrupted run
            shutil.rmtree(self._dir)
        self.writer = Writer(self._dir, version=8, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        topics = {"cones": "sensor_msgs/msg/PointCloud2",
                  "cone_markers": "visualization_msgs/msg/MarkerArray",
                  "detections/left": "vision_msgs/msg/Detection2DArray",
                  "detections/right": "vision_msgs/msg/Detection2DArray"}
        suffix, image_type = ("/compressed", COMPRESSED) if compress_debug else ("", IMAGE)
        self.debug_topic = f"debug_image{suffix}" if debug_image else None
        self.birdseye_topic = f"birdseye{suffix}" if birdseye else None
        for topic in (self.debug_topic, self.birdseye_topic):
            if topic is not None:
                topics[topic] = image_type
        self.conns = {t: self.writer.add_connection(t, ty, typestore=self.store)
                      for t, ty in topics.items()}
        self.types = topics
        self.lifetime = marker_lifetime_s
        self.counts: Counter[str] = Counter()

    def _write(self, topic: str, time_ns: int, msg: Any) -> None:
        self.writer.write(self.conns[topic], time_ns,
                          self.store.serialize_cdr(msg, self.types[topic]))
        self.counts[topic] += 1

    def cloud(self, header: Any, points: np.ndarray) -> Any:
        fields = [make_msg(self.store, "sensor_msgs/msg/PointField", name=n, offset=4 * i,
                           datatype=7, count=1) for i, n in enumerate(CONE_FIELDS)]
        step = 4 * len(CONE_FIELDS)
        return make_msg(self.store, "sensor_msgs/msg/PointCloud2", header=header, height=1,
                        width=len(points), fields=fields, is_bigendian=False, point_step=step,
                        row_step=step * len(points),
                        data=np.frombuffer(points.tobytes(), np.uint8), is_dense=True)

    def markers(self, header: Any, points: np.ndarray, classes: ClassMap) -> Any:
        """The node's cone_markers: one CUBE_LIST per cone type (core.cloud.marker_groups)."""
        s = self.store
        lifetime = make_msg(s, "builtin_interfaces/msg/Duration", sec=int(self.lifetime),
                            nanosec=int(round((self.lifetime % 1) * 1e9)))
        markers = []
        for group in marker_groups(points[:, :3], points[:, 3].astype(np.int64), classes):
            markers.append(make_msg(
                s, "visualization_msgs/msg/Marker", header=header, ns="cones", id=group.type_id,
                type=6, action=0, lifetime=lifetime, text=group.name,
                pose=make_msg(s, "geometry_msgs/msg/Pose", orientation=make_msg(
                    s, "geometry_msgs/msg/Quaternion", w=1.0)),
                scale=make_msg(s, "geometry_msgs/msg/Vector3", x=group.scale[0],
                               y=group.scale[1], z=group.scale[2]),
                color=make_msg(s, "std_msgs/msg/ColorRGBA", r=group.rgba[0], g=group.rgba[1],
                               b=group.rgba[2], a=group.rgba[3]),
                points=[make_msg(s, "geometry_msgs/msg/Point", x=x, y=y, z=z)
                        for x, y, z in group.xyz.tolist()]))
        return make_msg(s, "visualization_msgs/msg/MarkerArray", markers=markers)

    def detections(self, header: Any, dets: Detections, names: Sequence[str]) -> Any:
        s = self.store
        out = []
        boxes = dets.boxes.astype(float)
        for (x1, y1, x2, y2), score, cls in zip(boxes.tolist(), dets.scores.tolist(),
                                               dets.class_ids.tolist()):
            hyp = make_msg(s, "vision_msgs/msg/ObjectHypothesisWithPose", hypothesis=make_msg(
                s, "vision_msgs/msg/ObjectHypothesis",
                class_id=names[cls] if 0 <= cls < len(names) else str(cls), score=score))
            bbox = make_msg(s, "vision_msgs/msg/BoundingBox2D", size_x=x2 - x1, size_y=y2 - y1,
                            center=make_msg(s, "vision_msgs/msg/Pose2D", position=make_msg(
                                s, "vision_msgs/msg/Point2D", x=(x1 + x2) / 2,
                                y=(y1 + y2) / 2)))
            out.append(make_msg(s, "vision_msgs/msg/Detection2D", header=header, results=[hyp],
                                bbox=bbox))
        return make_msg(s, "vision_msgs/msg/Detection2DArray", header=header, detections=out)

    def write_pair(self, time_ns: int, left_header: Any, right_header: Any,
                   result: StereoResult, classes: ClassMap, debug: np.ndarray | None,
                   birdseye: np.ndarray | None = None) -> None:
        names = classes.names
        self._write("detections/left", time_ns, self.detections(left_header, result.left, names))
        self._write("detections/right", time_ns,
                    self.detections(right_header, result.right, names))
        if result.cones is not None:
            points = cone_points(result.cones)
            self._write("cones", time_ns, self.cloud(left_header, points))
            self._write("cone_markers", time_ns, self.markers(left_header, points, classes))
        for topic, image in ((self.debug_topic, debug), (self.birdseye_topic, birdseye)):
            if topic is not None and image is not None:
                self._write(topic, time_ns, self.image(topic, left_header, image))

    def image(self, topic: str, header: Any, image: np.ndarray) -> Any:
        """A BGR picture as the topic's type: CompressedImage (JPEG) or Image (bgr8)."""
        if topic.endswith("compressed"):
            jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1]
            return make_msg(self.store, COMPRESSED, header=header, format="jpeg",
                            data=jpeg.ravel())
        h, w = image.shape[:2]
        return make_msg(self.store, IMAGE, header=header, height=h, width=w, encoding="bgr8",
                        is_bigendian=0, step=w * 3, data=np.ascontiguousarray(image).ravel())

    def close(self) -> None:
        """Close the rosbag2 and keep its MCAP file as ``path`` (one file, beside the others)."""
        self.writer.close()
        next(self._dir.glob("*.mcap")).replace(self.path)
        shutil.rmtree(self._dir)


# ---------------------------------------------------------------------------- ground truth
def find_ground_truth(bag: Path) -> Path | None:
    """make_synthetic's ``ground_truth_SPLIT.json`` beside the bag: the one whose split names
    the bag (``val_mcap`` -> ground_truth_val.json), else the only sidecar there. For a storage
    file, beside the file and beside its rosbag2 folder."""
    bag = Path(bag)
    if bag.is_file():
        places, names = [bag.parent, bag.parent.parent], [bag.stem, bag.parent.name]
    else:
        places, names = [bag.parent], [bag.name]
    for where in places:
        sidecars = sorted(where.glob("ground_truth_*.json"))
        for sidecar in sidecars:
            split = sidecar.stem[len("ground_truth_"):]
            if any(n == split or n.startswith(split + "_") for n in names):
                return sidecar
        if len(sidecars) == 1:
            return sidecars[0]
    return None


def gt_labels(cones: list[dict], view: str, min_visible: float = 0.25, min_size: float = 2.0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class ids, visible boxes, depths) a detector should find in one view (the rule of
    data.synthetic.StereoScene.labels, from the sidecar's records)."""
    if not cones:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    boxes = np.array([c[f"visible_{view}"] for c in cones], np.float32).reshape(-1, 4)
    vis = np.array([c["visibility"][0 if view == "left" else 1] for c in cones], np.float32)
    size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = (vis >= min_visible) & (size >= min_size)
    cls = np.array([c["class_id"] for c in cones], np.int64)
    z = np.array([c["xyz"][2] for c in cones], np.float32)
    return cls[keep], boxes[keep], z[keep]


def locate_errors(cones_xyz: np.ndarray, left_boxes: np.ndarray, gt_cones: list[dict],
                  min_visible: float = 0.5, depths: np.ndarray | None = None,
                  transform: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3D errors of the located cones against the ground truth: each cone is the ground-truth
    cone whose visible left box its left detection overlaps best (IoU >= 0.5), among those
    seen at least half in both views. Returns (true depth of every such ground-truth cone,
    3D error per ground-truth cone, NaN where none was located, and the signed depth error
    z - z_true of that same closest cone). Cones published in an output frame: ``transform``
    (left optical -> output) moves the ground truth there for the 3D error, and ``depths``
    (the cones' optical z) give the depth error."""
    if not gt_cones:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    vis = np.array([c["visibility"] for c in gt_cones], np.float32).reshape(-1, 2)
    idx = np.flatnonzero((vis >= min_visible).all(1))
    truth = np.array([gt_cones[i]["xyz"] for i in idx], np.float64).reshape(-1, 3)
    errors = np.full(len(idx), np.nan)
    depth_errors = np.full(len(idx), np.nan)
    if len(idx) and len(cones_xyz):
        gt_boxes = np.array([gt_cones[i]["visible_left"] for i in idx], np.float32)
        iou = box_iou(left_boxes.astype(np.float32), gt_boxes)
        best = iou.argmax(1)
        ok = iou[np.arange(len(best)), best] >= 0.5
        xyz = cones_xyz.astype(np.float64)
        truth_out = transform.apply(truth) if transform is not None else truth
        err = np.linalg.norm(xyz - truth_out[best], axis=1)
        z = xyz[:, 2] if depths is None else np.asarray(depths, np.float64)
        dz = z - truth[best, 2]
        for j, e, d in zip(best[ok].tolist(), err[ok].tolist(), dz[ok].tolist()):
            if np.isnan(errors[j]) or e < errors[j]:  # one per gt cone: the closest
                errors[j], depth_errors[j] = e, d
    return truth[:, 2], errors, depth_errors


def range_errors(depths: np.ndarray, errors: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for lo, hi in RANGE_BUCKETS:
        sel = (depths >= lo) & (depths < hi)
        e = errors[sel]
        e = e[~np.isnan(e)]
        rows.append({"range": f"{lo:g}-{hi:g} m", "cones": int(sel.sum()), "located": int(e.size),
                     "error_3d_m_median": round(float(np.median(e)), 4) if e.size else None,
                     "error_3d_m_p90": round(float(np.percentile(e, 90)), 4) if e.size else None,
                     "error_pct_of_range_median": round(float(np.median(
                         e / depths[sel][~np.isnan(errors[sel])] * 100)), 3) if e.size else None})
    return rows


# ---------------------------------------------------------------------------- evaluation
def _stamp(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, np.float64)
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 90, 99)} if a.size \
        else {}


class BagEvaluation:
    """One pass over a bag: pairing, the pipeline, the outputs, the counts."""

    def __init__(self, pipeline: StereoPipeline, topics: BagTopics, out: Path,
                 options: EvalOptions, ground_truth: dict | None = None) -> None:
        self.pipeline, self.topics, self.out, self.options = pipeline, topics, Path(out), options
        self.names = list(pipeline.class_names) or [str(i) for i in range(5)]
        self.frames = [0, 0]
        self.errors: Counter[str] = Counter()  # a pair not processed, or processed without cones
        self.warnings: Counter[str] = Counter()  # processed anyway (long_data)
        self.notes: list[str] = []
        self.calibration = CalibrationTracker(options.baseline_range)
        self.processed = 0
        self.with_cones = 0
        self.detections = [Counter(), Counter()]
        self.cones: Counter[str] = Counter()
        self.geometry_counts: Counter[str] = Counter()
        self.rig = RigSamples(window=1 << 20)
        self.rig_fx_baseline: float | None = None
        self.latency: dict[str, list[float]] = {s: [] for s in STAGES}
        self.pending: list[tuple[Any, Any]] = []
        self.sync = PairSynchronizer(int(round(options.sync_slop_s * 1e9)),
                                     options.sync_queue_size,
                                     lambda l, r: self.pending.append((l, r)),
                                     on_reset=self._on_reset)
        self.gt = ground_truth
        self.gt_by_stamp = {p["stamp_ns"]: p for p in ground_truth["pairs"]} if ground_truth \
            else {}
        self.gt_items: list[EvalImage] = []
        self.gt_dets: list[Detections] = []
        self.gt_depths: list[np.ndarray] = []
        self.gt_errors: list[np.ndarray] = []
        self.gt_depth_errors: list[np.ndarray] = []
        self.gt_pairs = 0

    def _on_reset(self, previous_ns: int, new_ns: int) -> None:
        self.notes.append(f"stamps jumped back {(previous_ns - new_ns) / 1e9:.3f} s (a bag "
                          f"loop?): pairing reset")

    def _error(self, kind: str, message: str) -> None:
        if not self.errors[kind]:
            self.notes.append(f"{message} [{kind}; further ones counted]")
        self.errors[kind] += 1

    def _warn(self, kind: str, message: str) -> None:
        if not self.warnings[kind]:
            self.notes.append(f"{message} [{kind}; further ones counted]")
        self.warnings[kind] += 1

    def _frame(self, item: Any) -> tuple[np.ndarray, str]:
        msg = item.msg
        if item.msgtype == COMPRESSED:
            return compressed_to_array(msg.format, msg.data, self.options.max_image_pixels)
        return image_to_array(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                              self.options.max_image_pixels, warn=self._warn)

    def add(self, item: Any) -> None:
        """One bag message (image or camera_info) in recording order."""
        t = self.topics
        if item.topic == t.left_info:
            self.calibration.update(0, item.msg)
            return
        if item.topic == t.right_info:
            self.calibration.update(1, item.msg)
            return
        side = 0 if item.topic == t.left else 1
        self.frames[side] += 1
        self.sync.add(side, _stamp(item.msg.header), item)
        while self.pending:
            self.process(*self.pending.pop(0))

    def process(self, left_item: Any, right_item: Any) -> dict[str, Any] | None:
        stamp = _stamp(left_item.msg.header)
        row: dict[str, Any] = {"stamp_ns": stamp, "right_stamp_ns": _stamp(right_item.msg.header),
                               "bag_time_ns": left_item.stamp_ns,
                               "stale_so_far": self.sync.stale_dropped}  # for the plots
        t0 = time.perf_counter()
        try:
            left, lo = self._frame(left_item)
            right, ro = self._frame(right_item)
        except ImageDecodeError as exc:
            self._error(exc.kind, f"bad image at stamp {stamp}: {exc}")
            self.rows.append({**row, "status": exc.kind})
            return None
        t1 = time.perf_counter()
        camera, kind, message = camera_for_pair(left.shape, right.shape, self.calibration)
        if kind and kind != "no_calibration":  # a bag without camera_info is 2D only: said once
            self._error(kind, message)
        try:
            result = self.pipeline.process(left, right, self.options.decode, camera,
                                           self.options.stereo, (lo, ro),
                                           self.options.geometry)
        except Exception as exc:  # the node counts and goes on; so does the evaluation
            self._error("processing", f"pair at stamp {stamp} failed: {type(exc).__name__}: "
                        f"{exc}")
            self.rows.append({**row, "status": "processing"})
            return None
        t2 = time.perf_counter()
        self.rig.add(result.located, camera)  # every matched cone testifies about the rig
        debug = birdseye = None
        classes = self.pipeline.class_map
        cones = result.cones
        if self.options.debug_image:
            frames = [f if o == "bgr" else f[..., ::-1] for f, o in zip((left, right), (lo, ro))]
            depths = {}
            if cones is not None:
                depths = dict(zip(cones.left_index.tolist(), cones.depth.tolist()))
            debug = side_by_side(draw_detections(frames[0], result.left, classes, depths),
                                 draw_detections(frames[1], result.right, classes),
                                 pair_caption(len(result.left), len(result.right),
                                              len(cones) if cones is not None else None))
        if self.options.birdseye:
            birdseye = birdseye_panel(cones, classes, camera, self.options.geometry, 480,
                                      self._truth_for_birdseye(stamp))
        self.writer.write_pair(left_item.stamp_ns, left_item.msg.header, right_item.msg.header,
                               result, classes, debug, birdseye)
        t3 = time.perf_counter()
        timings = dict(result.timings_ms, convert=(t1 - t0) * 1e3, write=(t3 - t2) * 1e3,
                       total=(t3 - t0) * 1e3)
        for stage, ms in timings.items():
            self.latency.setdefault(stage, []).append(ms)
        self.processed += 1
        row["status"] = "ok"
        for side, dets in enumerate((result.left, result.right)):
            counts = Counter(self.names[c] if 0 <= c < len(self.names) else str(c)
                             for c in dets.class_ids.tolist())
            self.detections[side].update(counts)
            name = ("left", "right")[side]
            row[f"det_{name}"] = len(dets)
            for cls in self.names:
                row[f"det_{name}_{cls}"] = counts.get(cls, 0)
        cones = result.cones
        self.geometry_counts.update(result.counts)  # masked, rejected_ground, rejected_size
        row.update(result.counts)
        row["cones"] = len(cones) if cones is not None else ""
        if cones is not None:
            self.with_cones += 1
            self.cones.update(self.names[c] if 0 <= c < len(self.names) else str(c)
                              for c in cones.class_ids.tolist())
            if len(cones):
                k = int(np.argmin(np.linalg.norm(cones.xyz, axis=1)))
                row["nearest_cone_m"] = round(float(np.linalg.norm(cones.xyz[k])), 3)
                c = int(cones.class_ids[k])
                row["nearest_cone_class"] = self.names[c] if 0 <= c < len(self.names) else c
        for stage in STAGES:
            row[f"ms_{stage}"] = round(timings[stage], 3) if stage in timings else ""
        self.rows.append(row)
        self._ground_truth(stamp, result)
        return row

    def _truth_for_birdseye(self, stamp: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The pair's true cones (positions in the frame the cones are published in, cone type
        ids) for the bird's-eye view, or None without ground truth for this stamp."""
        rec = self.gt_by_stamp.get(stamp)
        if rec is None:
            return None
        xyz = np.array([c["xyz"] for c in rec["cones"]], np.float64).reshape(-1, 3)
        geometry = self.options.geometry
        if geometry.transform is not None and geometry.publish_in_output_frame:
            xyz = geometry.transform.apply(xyz)
        sidecar = ClassMap(list((self.gt or {}).get("names") or self.names))  # its own ids
        return xyz, sidecar.type_ids_of([c["class_id"] for c in rec["cones"]])

    def _ground_truth(self, stamp: int, result: StereoResult) -> None:
        rec = self.gt_by_stamp.get(stamp)
        if rec is None:
            return
        self.gt_pairs += 1
        for view, dets in (("left", result.left), ("right", result.right)):
            cls, boxes, z = gt_labels(rec["cones"], view)
            self.gt_items.append(EvalImage(Path(f"{stamp}_{view}"), cls, boxes, z))
            self.gt_dets.append(dets)
        if result.cones is not None:
            geometry = self.options.geometry
            moved = geometry.transform is not None and geometry.publish_in_output_frame
            depths, errors, depth_errors = locate_errors(
                result.cones.xyz, result.left.boxes[result.cones.left_index], rec["cones"],
                depths=result.cones.depth, transform=geometry.transform if moved else None)
            self.gt_depths.append(depths)
            self.gt_errors.append(errors)
            self.gt_depth_errors.append(depth_errors)

    def rig_report(self) -> dict[str, Any]:
        """The rig figures over the whole bag (core.rig.report: check_stereo_rig's keys), and
        whether the bag's depths can be trusted."""
        from ..core.rig import RigThresholds, judge, report
        fit = self.rig.fit()
        fx_b = None
        camera, _ = self.calibration.camera()
        if camera is not None:
            fx_b = camera.fx * camera.baseline
        verdict = judge(fit, self.options.rig_reference,
                        self.options.rig_thresholds or RigThresholds(), fx_b)
        out = report(fit, verdict)
        out["reference"] = self.options.rig_reference is not None
        out["depths_trusted"] = verdict.verdict == "ok"
        return out

    def depth_errors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(true range of every ground-truth cone seen at least half in both views, its signed
        depth error z - z_true, NaN where not located), or None without ground truth."""
        if not self.gt_depths:
            return None
        return np.concatenate(self.gt_depths), np.concatenate(self.gt_depth_errors)

    def run(self, source: BagSource) -> dict[str, Any]:
        from tqdm import tqdm
        t = self.topics
        wanted = tuple(x for x in (t.left, t.right, t.left_info, t.right_info) if x)
        start = source.start_ns + int(self.options.start_s * 1e9)
        stop = start + int(self.options.duration_s * 1e9) if self.options.duration_s else None
        self.rows: list[dict[str, Any]] = []
        self.out.mkdir(parents=True, exist_ok=True)
        self.writer = DetectionsWriter(self.out / "detections.mcap", self.options.debug_image,
                                       self.options.compress_debug,
                                       self.options.marker_lifetime_s, self.options.birdseye)
        total = sum(source.topics[x].count for x in (t.left, t.right) if x)
        started = time.perf_counter()
        try:
            with tqdm(total=total, desc="evaluating", unit="frame",
                      disable=not self.options.progress) as bar:
                for item in source.messages(wanted, start if self.options.start_s else None,
                                            stop):
                    self.add(item)
                    if item.topic in (t.left, t.right):
                        bar.update(1)
                        bar.set_postfix(pairs=self.processed, refresh=False)
        finally:
            self.writer.close()
        self.seconds = time.perf_counter() - started
        self.notes = source.notes + self.notes
        self._write_csv()
        return self.summary(source)

    def _write_csv(self) -> None:
        columns = ["stamp_ns", "right_stamp_ns", "bag_time_ns", "status", "det_left", "det_right"]
        columns += [f"det_{s}_{c}" for s in ("left", "right") for c in self.names]
        columns += ["cones", "nearest_cone_m", "nearest_cone_class", "masked", "rejected_ground",
                    "rejected_size"]
        columns += [f"ms_{s}" for s in STAGES]
        with open(self.out / "frames.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, columns, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)

    def summary(self, source: BagSource) -> dict[str, Any]:
        pairs = self.processed + sum(1 for r in self.rows if r["status"] != "ok")
        t = self.topics
        total = {k: self.detections[0].get(k, 0) + self.detections[1].get(k, 0)
                 for k in sorted(set(self.detections[0]) | set(self.detections[1]))}
        out: dict[str, Any] = {
            "bag": str(source.path),
            "topics": {"left": t.left, "right": t.right, "left_info": t.left_info,
                       "right_info": t.right_info, "transport": t.transport},
            "frames_left": self.frames[0], "frames_right": self.frames[1],
            "pairs": pairs, "processed": self.processed,
            "unpaired": self.frames[0] + self.frames[1] - 2 * (pairs + self.sync.stale_dropped),
            "stale_pairs_dropped": self.sync.stale_dropped,
            "pairing_resets": self.sync.resets,
            "pairs_with_calibration": self.with_cones,
            "errors": dict(sorted(self.errors.items())),
            "warnings": dict(sorted(self.warnings.items())),
            "bag_read_errors": source.read_errors,
            "detections_per_class": {"left": dict(sorted(self.detections[0].items())),
                                     "right": dict(sorted(self.detections[1].items())),
                                     "total": total},
            "cones": {"total": sum(self.cones.values()),
                      "per_class": dict(sorted(self.cones.items())),
                      "per_pair_mean": round(sum(self.cones.values()) / self.with_cones, 3)
                      if self.with_cones else None},
            "masked_and_rejected": {k: v for k, v in sorted(self.geometry_counts.items())
                                    if not k.startswith("stereo_")},
            # how the stereo stage paired and located (core.stereo.locate_cones counts)
            "stereo": {k[len("stereo_"):]: v for k, v in sorted(self.geometry_counts.items())
                       if k.startswith("stereo_")},
            "rig": self.rig_report(),
            "latency_ms": {s: _percentiles(v) for s, v in self.latency.items() if v},
            "seconds": round(self.seconds, 3),
            "pairs_per_second": round(self.processed / self.seconds, 2) if self.seconds else None,
            "outputs": {"detections.mcap": dict(self.writer.counts)},
            "notes": self.notes,
        }
        if self.gt is not None:
            out["ground_truth"] = self.ground_truth_metrics()
        return out

    def ground_truth_metrics(self) -> dict[str, Any]:
        fy = float(self.gt["camera"]["fy"])
        gt: dict[str, Any] = {"pairs_matched": self.gt_pairs,
                              "pairs_in_sidecar": len(self.gt_by_stamp)}
        if self.gt_items:
            gt_names = list(self.gt.get("names") or self.names)
            match = match_classes(self.names, gt_names)  # by name: the model's ids never matter
            gt["class_match"] = match.lines
            res = coco_evaluate(self.gt_items, match.remap(self.gt_dets), gt_names, fy)
            gt.update(precision=res.precision, recall=res.recall, map50=res.map50,
                      map50_95=res.map50_95, instances=res.instances,
                      per_class=res.per_class,
                      per_range=res.per_range)
        if self.gt_depths:
            depths, errors = np.concatenate(self.gt_depths), np.concatenate(self.gt_errors)
            gt["located_3d"] = range_errors(depths, errors)
        return gt


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def write_summary(summary: dict[str, Any], out: Path) -> Path:
    path = Path(out) / "summary.json"
    path.write_text(json.dumps(_json_safe(summary), indent=1))
    return path


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as Markdown tables, for the terminal."""
    s = summary
    lines = [f"{s['bag']}: {s['topics']['left']} + {s['topics']['right']} "
             f"({s['topics']['transport']})", "",
             "| frames left | frames right | pairs | processed | unpaired | stale | resets | "
             "errors | cones |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {s['frames_left']} | {s['frames_right']} | {s['pairs']} | {s['processed']} | "
             f"{s['unpaired']} | {s['stale_pairs_dropped']} | {s['pairing_resets']} | "
             f"{sum(s['errors'].values()) + s['bag_read_errors']} | {s['cones']['total']} |"]
    if s["errors"]:
        lines += ["", "errors: " + ", ".join(f"{k} {v}" for k, v in s["errors"].items())]
    rig = s.get("rig") or {}
    if rig:
        def num(x: Any, fmt: str = ".2f") -> str:
            return "-" if x is None else format(x, fmt)
        lines += ["", f"stereo rig ({rig['cones']} matched cones): {rig['verdict'].upper()}; "
                      f"vertical offset {num(rig['vertical_offset_px'], '+.2f')} px, disparity "
                      f"scale {num(rig['disparity_scale'], '.3f')}, offset "
                      f"{num(rig['disparity_offset_px'], '+.2f')} px"
                      + (f"; against the reference: depth scale "
                         f"{num(rig['depth_scale_vs_reference'], '.3f')}, disparity offset "
                         f"{num(rig['disparity_offset_vs_reference_px'], '+.2f')} px"
                         if rig.get("reference") else "")]
        if not rig.get("depths_trusted"):
            lines += ["**do not trust this bag's depths**: " + "; ".join(rig["reasons"])
                      if rig["verdict"] == "error" else "rig: " + "; ".join(rig["reasons"])]
    st = s.get("stereo") or {}
    if st:
        lines += ["", f"stereo: {st.get('pairs', 0)} box pairs, {st.get('ambiguous', 0)} ambiguous "
                      f"pairings dropped, {st.get('implausible', 0)} boxes whose candidates "
                      f"contradicted their size, {st.get('found_by_search', 0)} of "
                      f"{st.get('searched', 0)} searched found, {st.get('duplicate', 0)} found "
                      f"again where a cone was (duplicate boxes), {st.get('border_cut', 0)} cut "
                      f"by a border"]
    dets = s["detections_per_class"]
    classes = sorted(set(dets["total"]) | set(s["cones"]["per_class"]))
    if classes:
        lines += ["", "| class | left | right | cones |", "|---|---:|---:|---:|"]
        lines += [f"| {c} | {dets['left'].get(c, 0)} | {dets['right'].get(c, 0)} | "
                  f"{s['cones']['per_class'].get(c, 0)} |" for c in classes]
    if s["latency_ms"]:
        lines += ["", "| stage (ms) | p50 | p90 | p99 |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v['p50']:.2f} | {v['p90']:.2f} | {v['p99']:.2f} |"
                  for k, v in s["latency_ms"].items()]
    gt = s.get("ground_truth")
    if gt and "map50" in gt:
        def f(x: Any) -> str:
            return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) \
                else f"{x:.3f}"
        lines += ["", f"ground truth ({gt['pairs_matched']} pairs, {gt['instances']} labelled "
                      f"cones, left + right views): P {f(gt['precision'])}  "
                      f"R {f(gt['recall'])}  mAP50 {f(gt['map50'])}",
                  "| class | cones | P | R | mAP50 |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {c['class']} | {c['instances']} | {f(c['precision'])} | "
                  f"{f(c['recall'])} | {f(c['map50'])} |" for c in gt["per_class"]]
        lines += ["", "| range | cones | mAP50 | recall | located | 3D error median (m) | "
                      "p90 (m) |", "|---|---:|---:|---:|---:|---:|---:|"]
        located = {r["range"]: r for r in gt.get("located_3d", [])}
        for r in gt["per_range"]:
            loc = located.get(r["range"], {})
            lines.append(f"| {r['range']} | {r['instances']} | {f(r['map50'])} | "
                         f"{f(r['recall50'])} | {loc.get('located', '-')}/{loc.get('cones', '-')}"
                         f" | {f(loc.get('error_3d_m_median'))} | "
                         f"{f(loc.get('error_3d_m_p90'))} |")
    return "\n".join(lines)
