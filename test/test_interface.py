"""The public interface as files: params.yaml, the launch files, the console scripts, messages."""
import types

import numpy as np
import pytest
import yaml
from std_msgs.msg import Header

from ros_helpers import ROOT
from yolo_stereo_trt.ros.parameters import PARAMS
from yolo_stereo_trt.core.postprocess import Detections
from yolo_stereo_trt.core.classes import FSOCO_NAMES, ClassMap
from yolo_stereo_trt.core.cloud import covariances_from_array
from yolo_stereo_trt.ros.messages import (cones_to_markers, cones_to_pointcloud2,
                                          detections_to_vision_msgs, pointcloud2_to_array)
from yolo_stereo_trt.core.stereo import Cones

SPECS = {p.name: p for p in PARAMS}
PY_TYPES = {"string_array": list, "double_array": list}


def test_params_yaml_keys_are_declared_parameters_of_the_same_type():
    doc = yaml.safe_load((ROOT / "config" / "params.yaml").read_text())
    params = doc["/**"]["ros__parameters"]  # any namespace (test_ros_node: in a namespace)
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


def test_every_console_script_resolves_to_a_main_and_is_counted_by_setup_venv():
    """Each entry point of setup.py imports and names a callable; setup_venv.sh counts them all."""
    import importlib
    import re
    entries = re.findall(r"^\s*f?\"(\w+) = \{PACKAGE\}\.([\w.]+):(\w+)\"",
                         (ROOT / "setup.py").read_text(), re.M)
    assert len(entries) >= 13, entries
    counted = re.search(r"grep -cE '\^\((.*)\)\$'", (ROOT / "scripts" / "setup_venv.sh").read_text())
    assert counted, "setup_venv.sh counts the console scripts"
    assert set(counted.group(1).split("|")) == {name for name, _, _ in entries}
    for name, module, func in entries:
        assert callable(getattr(importlib.import_module(f"yolo_stereo_trt.{module}"), func)), name


def sample():
    header = Header(frame_id="left_optical")
    dets = Detections(np.array([[10, 20, 30, 60], [100, 100, 110, 130]], np.float32),
                      np.array([0.9, 0.5], np.float32), np.array([0, 3]))
    cov = np.array([[[0.01, 0.002, 0.003], [0.002, 0.02, 0.004], [0.003, 0.004, 0.3]]] * 2,
                   np.float32)
    cones = Cones(xyz=np.array([[1, 0.5, 5], [-1, 0.4, 7]], np.float32), class_ids=np.array([0, 3]),
                  confidence=np.array([0.9, 0.5], np.float32), covariance=cov)
    return header, dets, cones


def test_pointcloud2_layout_carries_position_class_confidence_and_covariance():
    header, _, cones = sample()
    msg = cones_to_pointcloud2(cones, header)
    assert msg.header.frame_id == "left_optical" and msg.width == 2 and msg.point_step == 48
    names = ["x", "y", "z", "class_id", "confidence", "cov_xx", "cov_xy", "cov_xz", "cov_yy",
             "cov_yz", "cov_zz", "source"]
    assert [(f.name, f.offset, f.datatype) for f in msg.fields] == [
        (n, 4 * i, 7) for i, n in enumerate(names)]
    points = pointcloud2_to_array(msg)
    np.testing.assert_allclose(points[:, :3], cones.xyz)
    np.testing.assert_allclose(covariances_from_array(points), cones.covariance)
    assert cones_to_pointcloud2(Cones(), header).width == 0


@pytest.mark.parametrize("frame_id", ["", "b", "base", "stereo_left_optical"])  # every padding
def test_the_hand_serialized_cloud_is_the_message_for_the_middleware(frame_id):
    """cones_to_cdr's bytes, read by the middleware's own deserializer, are exactly the message
    cones_to_pointcloud2 builds (any frame id length, 0-3 points, negative stamps), and as long
    as what rclpy serializes; the node's check says so here."""
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import PointCloud2
    from yolo_stereo_trt.ros.messages import cdr_matches_the_middleware, cones_to_cdr
    _, _, cones = sample()
    cones = Cones(xyz=np.r_[cones.xyz, [[0.1, 0.2, 40.0]]].astype(np.float32),
                  class_ids=np.array([0, 3, 4]), confidence=np.array([0.9, 0.5, 0.3], np.float32),
                  covariance=np.r_[cones.covariance, cones.covariance[:1] * 2])
    for n, sec in ((0, 0), (1, 1_700_000_000), (3, -5)):
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = sec, 999_999_999
        subset = Cones(xyz=cones.xyz[:n], class_ids=cones.class_ids[:n],
                       confidence=cones.confidence[:n], covariance=cones.covariance[:n])
        want = cones_to_pointcloud2(subset, header)
        raw = cones_to_cdr(subset, header)
        assert deserialize_message(raw, PointCloud2) == want
        assert len(raw) == len(serialize_message(want))
    assert cdr_matches_the_middleware()


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
