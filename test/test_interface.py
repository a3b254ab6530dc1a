"""The public interface as files: params.yaml, the launch files, the console scripts, messages."""
import ast
import types
import xml.etree.ElementTree as ET

import numpy as np
import yaml
from std_msgs.msg import Header

from ros_helpers import ROOT
from yolo_stereo_trt.ros.parameters import PARAMS
from yolo_stereo_trt.core.postprocess import Detections
from yolo_stereo_trt.core.classes import FSOCO_NAMES, ClassMap
from yolo_stereo_trt.ros.messages import (cones_to_markers, cones_to_pointcloud2,
                                          detections_to_vision_msgs, pointcloud2_to_array)
from yolo_stereo_trt.core.stereo import Cones

SPECS = {p.name: p for p in PARAMS}
PY_TYPES = {"string_array": list, "double_array": list}


def test_params_yaml_keys_are_declared_parameters_of_the_same_type():
    doc = yaml.safe_load((ROOT / "config" / "params.yaml").read_text())
    params = doc["stereo_detector"]["ros__parameters"]
    assert params, "empty params.yaml"
    for key, value in params.items():
        assert key in SPECS, f"{key} is not a parameter of the node"
        default = SPECS[key].default
        expected = PY_TYPES.get(SPECS[key].type_name, type(default))
        assert isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool), \
            f"{key}: {value!r} is not {expected.__name__}"
        if not SPECS[key].type_name:
            assert value == default, f"{key}: params.yaml {value!r} != node default {default!r}"
    text = (ROOT / "config" / "params.yaml").read_text()
    for name in SPECS:  # empty-list parameters are documented as comments (rcl rejects [] )
        assert name in params or f"# {name}:" in text, f"{name} missing from params.yaml"


def test_xml_launch_starts_the_node_with_params_and_remappings():
    root = ET.parse(ROOT / "launch" / "stereo_detector.launch.xml").getroot()
    args = {a.get("name") for a in root.iter("arg")}
    assert {"model_path", "params_file", "namespace", "use_sim_time", "image_transport"} <= args
    node = root.find("node")
    assert node.get("pkg") == "yolo_stereo_trt" and node.get("exec") == "stereo_detector"
    assert node.get("name") == "stereo_detector"
    params = {p.get("name") for p in node.iter("param") if p.get("name")}
    assert params - {"use_sim_time"} <= set(SPECS)
    assert any(p.get("from") == "$(var params_file)" for p in node.iter("param"))
    remaps = {r.get("from") for r in node.iter("remap")}
    assert remaps == {f"{s}/{t}" for s in ("left", "right")
                      for t in ("image_raw", "image_raw/compressed", "camera_info")}


def test_python_launch_declares_the_same_arguments_and_executable():
    tree = ast.parse((ROOT / "launch" / "stereo_detector.launch.py").read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"model_path", "params_file", "namespace", "use_sim_time", "image_transport",
            "stereo_detector", "yolo_stereo_trt"} <= strings


def test_console_scripts_exist():
    setup = (ROOT / "setup.py").read_text()
    for script in ("stereo_detector", "detect_images"):
        assert f'{script} = ' in setup


def sample():
    header = Header(frame_id="left_optical")
    dets = Detections(np.array([[10, 20, 30, 60], [100, 100, 110, 130]], np.float32),
                      np.array([0.9, 0.5], np.float32), np.array([0, 3]))
    cones = Cones(xyz=np.array([[1, 0.5, 5], [-1, 0.4, 7]], np.float32), class_ids=np.array([0, 3]),
                  confidence=np.array([0.9, 0.5], np.float32))
    return header, dets, cones


def test_pointcloud2_layout_and_roundtrip():
    header, _, cones = sample()
    msg = cones_to_pointcloud2(cones, header)
    assert msg.header.frame_id == "left_optical" and msg.width == 2 and msg.point_step == 20
    assert [(f.name, f.offset, f.datatype) for f in msg.fields] == [
        ("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("class_id", 12, 7), ("confidence", 16, 7)]
    np.testing.assert_allclose(pointcloud2_to_array(msg)[:, :3], cones.xyz)
    assert cones_to_pointcloud2(Cones(), header).width == 0


def test_markers_per_type_with_lifetime():
    header, _, cones = sample()
    markers = cones_to_markers(cones, header, 0.5, ClassMap(FSOCO_NAMES)).markers
    assert len(markers) == 2 and markers[1].scale.y > markers[0].scale.y  # large orange is taller
    assert markers[0].lifetime.nanosec == 500_000_000 and markers[0].color.b > markers[0].color.r


def test_detection2d_array_as_data():
    """vision_msgs is not in the PyPI wheels: fill a stand-in with the same field layout."""
    class Obj(types.SimpleNamespace):
        def __init__(self, **kw):
            super().__init__(**kw)

    def make(**fields):
        return lambda: Obj(**{k: v() for k, v in fields.items()})
    point = make(x=float, y=float)
    msgs = types.SimpleNamespace(
        Detection2DArray=make(header=Header, detections=list),
        Detection2D=make(header=Header, results=list,
                         bbox=make(center=make(position=point, theta=float), size_x=float, size_y=float)),
        ObjectHypothesisWithPose=make(hypothesis=make(class_id=str, score=float)))
    header, dets, _ = sample()
    out = detections_to_vision_msgs(dets, ["blue_cone", "y", "o", "large_orange_cone"], header, msgs)
    assert out.header.frame_id == "left_optical" and len(out.detections) == 2
    d = out.detections[1]
    assert (d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y) == (105, 115, 10, 30)
    assert d.results[0].hypothesis.class_id == "large_orange_cone"
    assert abs(d.results[0].hypothesis.score - 0.5) < 1e-6
