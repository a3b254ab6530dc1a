"""The node's outputs: cones (PointCloud2), cone_markers, detections/left|right, debug_image."""
from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ..core.classes import ClassMap
from ..core.images import array_to_image_fields
from ..core.pipeline import StereoResult
from ..core.visualize import birdseye_panel, draw_detections, pair_caption, side_by_side, with_panel
from . import messages

# Every topic the node publishes, with its type: relative names (the node's namespace and remaps
# apply) except /diagnostics, which ROS tools expect absolute. The publishers are made from these
# names (Outputs below, /diagnostics in node.py); the viewer configs in config/ are tested
# against this table.
CONES, MARKERS, DEBUG_IMAGE = "cones", "cone_markers", "debug_image"
DETECTIONS = ("detections/left", "detections/right")
DIAGNOSTICS = "/diagnostics"
PUBLISHED_TOPICS = {
    CONES: "sensor_msgs/msg/PointCloud2",
    MARKERS: "visualization_msgs/msg/MarkerArray",
    DEBUG_IMAGE: "sensor_msgs/msg/Image",
    DETECTIONS[0]: "vision_msgs/msg/Detection2DArray",  # when vision_msgs is installed
    DETECTIONS[1]: "vision_msgs/msg/Detection2DArray",
    DIAGNOSTICS: "diagnostic_msgs/msg/DiagnosticArray",
}


class Outputs:
    def __init__(self, node: Any, classes: ClassMap) -> None:
        self.node = node
        self.classes = classes
        self.class_names = list(classes.names)
        self.cones = node.create_publisher(PointCloud2, CONES, 10)
        # bytes where the middleware reads them as the message (and rclpy publishes bytes:
        # _publish_cones falls back for good the first time it does not)
        self.cones_serialized = messages.cdr_matches_the_middleware()
        self.markers = node.create_publisher(MarkerArray, MARKERS, 10)
        self.debug = node.create_publisher(Image, DEBUG_IMAGE, 1)
        self.vision: tuple[Any, Any] | None = None
        if messages.vision_msgs is not None:
            det_type = messages.vision_msgs.Detection2DArray
            self.vision = (node.create_publisher(det_type, DETECTIONS[0], 10),
                           node.create_publisher(det_type, DETECTIONS[1], 10))

    def publish(self, result: StereoResult, left_header: Any, right_header: Any,
                settings: Any) -> None:
        """``cones`` always; the markers and the 2D detections (Python objects per cone and per
        box: ~0.1-0.5 ms) only while something subscribes (RViz, Foxglove, ros2 bag record).
        A message published before a subscription matches is lost either way (volatile)."""
        if self.vision is not None:
            for pub, dets, header in zip(self.vision, (result.left, result.right),
                                         (left_header, right_header)):
                if pub.get_subscription_count():
                    pub.publish(messages.detections_to_vision_msgs(dets, self.class_names,
                                                                   header))
        if result.cones is not None:
            header, vertical = left_header, 1  # the left optical frame: y down
            if settings.output_frame:
                header, vertical = Header(stamp=left_header.stamp,
                                          frame_id=settings.output_frame), 2  # z up
            self._publish_cones(result.cones, header)
            if self.markers.get_subscription_count():
                self.markers.publish(messages.cones_to_markers(
                    result.cones, header, settings.marker_lifetime, self.classes,
                    vertical_axis=vertical))

    def _publish_cones(self, cones: Any, header: Any) -> None:
        if self.cones_serialized:
            try:
                self.cones.publish(messages.cones_to_cdr(cones, header))
                return
            except TypeError:  # an rclpy whose publish() takes messages only: from now on
                self.cones_serialized = False
        self.cones.publish(messages.cones_to_pointcloud2(cones, header))

    def debug_wanted(self) -> bool:
        return self.debug.get_subscription_count() > 0

    def publish_debug(self, frames: tuple[np.ndarray, np.ndarray], orders: tuple[str, str],
                      result: StereoResult, header: Any, timings: dict[str, float],
                      camera: Any = None, geometry: Any = None, birdseye: bool = False) -> None:
        """The annotated left | right views; with ``birdseye`` (debug_birdseye) the cones from
        above to their right, in the frame they are published in (``geometry``: the output
        frame's transform; ``camera``: the field of view)."""
        bgr = [f if o == "bgr" else f[..., ::-1] for f, o in zip(frames, orders)]
        cones = result.cones
        depths = {}
        if cones is not None:
            depths = dict(zip(cones.left_index.tolist(), cones.depth.tolist()))
        image = side_by_side(draw_detections(bgr[0], result.left, self.classes, depths),
                             draw_detections(bgr[1], result.right, self.classes),
                             pair_caption(len(result.left), len(result.right),
                                          len(cones) if cones is not None else None,
                                          timings["total"]))
        if birdseye:
            image = with_panel(image, birdseye_panel(cones, self.classes, camera, geometry,
                                                     image.shape[0]))
        self.debug.publish(Image(header=header, **array_to_image_fields(image)))

    def destroy(self) -> None:
        for pub in (self.cones, self.markers, self.debug, *(self.vision or ())):
            self.node.destroy_publisher(pub)
