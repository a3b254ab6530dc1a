"""The viewer configs that ship with the package (config/stereo_detector.rviz, the Foxglove
layout) name exactly the topics the node publishes, from the node's own topic table, plus the
camera inputs; the node publishes exactly that table; rviz:=true starts RViz2 with the config."""
import json
import re
import time

import pytest
import rclpy
import yaml
from rclpy.parameter import Parameter

from ros_helpers import ROOT
from yolo_stereo_trt.core.cloud import CONE_FIELDS
from yolo_stereo_trt.ros import messages
from yolo_stereo_trt.ros.inputs import CAMERA_INFO_TOPICS, IMAGE_TOPICS
from yolo_stereo_trt.ros.launch_args import CAMERA_DEFAULT, RVIZ_CONFIG, rviz_node
from yolo_stereo_trt.ros.node import StereoDetectorNode
from yolo_stereo_trt.ros.outputs import DETECTIONS, PUBLISHED_TOPICS

RVIZ = ROOT / "config" / RVIZ_CONFIG
FOXGLOVE = ROOT / "config" / "stereo_detector.foxglove.json"
# RViz2's own display for each message type (rviz_default_plugins); the node's other types
# (vision_msgs' Detection2DArray, DiagnosticArray) have none: Foxglove shows those
RVIZ_DISPLAY = {"sensor_msgs/msg/PointCloud2": "rviz_default_plugins/PointCloud2",
                "sensor_msgs/msg/Image": "rviz_default_plugins/Image",
                "visualization_msgs/msg/MarkerArray": "rviz_default_plugins/MarkerArray"}


def absolute(topic: str) -> str:
    """The name as the launch file gives it: node in the root namespace."""
    return topic if topic.startswith("/") else "/" + topic


def camera(topics) -> set[str]:
    return {f"{CAMERA_DEFAULT}/{t}" for t in topics}


def rviz_displays(tree) -> list[dict]:
    """Every display with a topic, wherever it sits (groups included)."""
    found = []
    if isinstance(tree, dict):
        if isinstance(tree.get("Topic"), dict) and "Value" in tree["Topic"]:
            found.append(tree)
        for value in tree.values():
            found += rviz_displays(value)
    elif isinstance(tree, list):
        for value in tree:
            found += rviz_displays(value)
    return found


def foxglove_topics(tree) -> set[str]:
    """Topic names in a layout: panel settings that name a topic, and the 3D panels' topics."""
    found = set()
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in ("imageTopic", "calibrationTopic", "topicPath", "topicToRender"):
                found.add(value)
            elif key == "topics" and isinstance(value, dict):
                found |= set(value)
            else:
                found |= foxglove_topics(value)
    elif isinstance(tree, list):
        for value in tree:
            found |= foxglove_topics(value)
    return found


def test_the_active_node_publishes_exactly_its_topic_table(colour_model):
    """In a namespace of its own: the graph is looked up by name, and a node of the same name
    elsewhere in the domain (another test's, or one whose participant is not gone yet) answered
    for it in two clean CI runs in three."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    ns = "/topic_table"
    node = StereoDetectorNode(context=ctx, namespace=ns, parameter_overrides=[
        Parameter("model_path", value=str(colour_model)), Parameter("autostart", value=False)])
    try:
        node.trigger_configure()
        node.trigger_activate()
        assert node.state_name == "active"
        infrastructure = {"/rosout", "/parameter_events", f"{ns}/stereo_detector/transition_event"}
        expected = {node.resolve_topic_name(t) for t in PUBLISHED_TOPICS}
        if messages.vision_msgs is None:  # the PyPI wheels have no vision_msgs
            expected -= {node.resolve_topic_name(t) for t in DETECTIONS}
        # the graph is DDS discovery's view, its own process's publishers included: it fills
        # asynchronously
        deadline = time.monotonic() + 10.0
        while True:
            published = {name for name, _ in node.get_publisher_names_and_types_by_node(
                node.get_name(), node.get_namespace())} - infrastructure
            if published >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert published == expected, node.get_node_names_and_namespaces()
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_rviz_config_shows_every_topic_rviz_can_draw_and_the_camera_images():
    config = yaml.safe_load(RVIZ.read_text())
    displays = rviz_displays(config["Visualization Manager"]["Displays"])
    shown = {d["Topic"]["Value"]: d["Class"] for d in displays}
    drawable = {absolute(t): RVIZ_DISPLAY[kind] for t, kind in PUBLISHED_TOPICS.items()
                if kind in RVIZ_DISPLAY}
    expected = {**drawable, **{t: RVIZ_DISPLAY["sensor_msgs/msg/Image"]
                               for t in camera(IMAGE_TOPICS)}}
    assert shown == expected  # the topics, each with its type's display
    assert len(displays) == len(shown)  # none twice
    cloud = next(d for d in displays if d["Topic"]["Value"] == absolute("cones"))
    assert cloud["Color Transformer"] == "Intensity" and cloud["Channel Name"] == "class_id"
    assert cloud["Channel Name"] in CONE_FIELDS
    classes = {d["Class"] for d in config["Visualization Manager"]["Displays"]}
    assert "rviz_default_plugins/TF" in classes
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "base_link"


def test_foxglove_layout_names_every_topic_of_the_node_and_the_camera_inputs():
    layout = json.loads(FOXGLOVE.read_text())
    expected = ({absolute(t) for t in PUBLISHED_TOPICS} | camera(IMAGE_TOPICS)
                | camera(CAMERA_INFO_TOPICS))
    assert foxglove_topics(layout["configById"]) == expected
    assert layout["configById"]["3D!cones"]["topics"]["/cones"]["colorField"] in CONE_FIELDS
    # every panel is placed, and the layout places only configured panels
    placed = set(re.findall(r'"([A-Za-z0-9]+![A-Za-z0-9_]+)"', json.dumps(layout["layout"])))
    for config in layout["configById"].values():
        placed |= {tab["layout"] for tab in config.get("tabs", [])}
    assert placed == set(layout["configById"])


def test_rviz_true_starts_rviz2_with_the_packaged_config_remapped_to_the_launch():
    assert rviz_node("false", "/share") is None and rviz_node("", "/share") is None
    with pytest.raises(ValueError, match="rviz must be true or false"):
        rviz_node("yes", "/share")
    plain = rviz_node("true", "/opt/share/yolo_stereo_trt/")
    assert (plain["package"], plain["executable"]) == ("rviz2", "rviz2")
    assert plain["arguments"] == ["-d", "/opt/share/yolo_stereo_trt/config/stereo_detector.rviz"]
    assert plain["remappings"] == [] and plain["parameters"] == []
    assert (ROOT / "config" / RVIZ_CONFIG).is_file()
    moved = rviz_node("True", "/s", use_sim_time="true", namespace="/car", camera="/zed/")
    remaps = dict(moved["remappings"])
    assert remaps["/cones"] == "/car/cones" and remaps["/debug_image"] == "/car/debug_image"
    assert "/diagnostics" not in remaps  # absolute: not moved by a namespace
    assert remaps["/stereo/left/image_raw"] == "/zed/left/image_raw"
    assert moved["parameters"] == [{"use_sim_time": True}]


def test_both_launch_files_offer_rviz_off_by_default_and_setup_installs_the_configs():
    xml = (ROOT / "launch" / "stereo_detector.launch.xml").read_text()
    assert '<arg name="rviz" default="false"' in xml and 'value="$(var rviz)"' in xml
    py = (ROOT / "launch" / "stereo_detector.launch.py").read_text()
    assert '"rviz": "false"' in py and "rviz_node(" in py
    setup = (ROOT / "setup.py").read_text()
    assert 'glob("config/*.rviz")' in setup and 'glob("config/*.json")' in setup
