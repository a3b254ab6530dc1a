"""ros2 launch yolo_stereo_trt stereo_detector.launch.py [model_path:=...] [params_file:=...]
[namespace:=...] [use_sim_time:=true] [image_transport:=compressed] [camera:=/stereo]

Starts the stereo_detector node with config/params.yaml. ``camera`` is the namespace of the
stereo camera driver's topics (left/image_raw, right/image_raw, */camera_info below it).
The same launch in XML: stereo_detector.launch.xml.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("yolo_stereo_trt")
    args = [
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "params.yaml"),
                              description="parameters file"),
        DeclareLaunchArgument("model_path", default_value="",
                              description=".engine/.plan (TensorRT) or .onnx; empty: params_file's"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="true when replaying a bag with --clock"),
        DeclareLaunchArgument("image_transport", default_value="raw", description="raw or compressed"),
        DeclareLaunchArgument("camera", default_value="/stereo",
                              description="namespace of the camera driver's topics"),
    ]
    camera = LaunchConfiguration("camera")
    remappings = [(f"{side}/{topic}", [camera, f"/{side}/{topic}"])
                  for side in ("left", "right")
                  for topic in ("image_raw", "image_raw/compressed", "camera_info")]
    common = dict(package="yolo_stereo_trt", executable="stereo_detector", name="stereo_detector",
                  namespace=LaunchConfiguration("namespace"), output="screen", emulate_tty=True,
                  remappings=remappings)
    base_params = [LaunchConfiguration("params_file"),
                   {"use_sim_time": PythonExpression(["'", LaunchConfiguration("use_sim_time"),
                                                      "'.lower() == 'true'"]),
                    "image_transport": LaunchConfiguration("image_transport")}]
    has_model = PythonExpression(["'", LaunchConfiguration("model_path"), "' != ''"])
    return LaunchDescription(args + [
        Node(**common, parameters=base_params + [{"model_path": LaunchConfiguration("model_path")}],
             condition=IfCondition(has_model)),
        Node(**common, parameters=base_params, condition=UnlessCondition(has_model)),
    ])
