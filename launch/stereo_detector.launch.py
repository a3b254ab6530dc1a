"""ros2 launch yolo_stereo_trt stereo_detector.launch.py model_path:=... [params_file:=...]
[namespace:=...] [use_sim_time:=true] [image_transport:=compressed] [camera:=/stereo] [rviz:=true]

Starts the stereo_detector node with config/params.yaml (or params_file). An argument that is
not given is not passed, so the params file's value holds (yolo_stereo_trt.ros.launch_args).
``camera`` is the namespace of the stereo driver's topics; ``rviz:=true`` also starts RViz2 with
config/stereo_detector.rviz. stereo_detector.launch.xml includes this file, so both launch the
same way.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from yolo_stereo_trt.ros.launch_args import (CAMERA_DEFAULT, NODE_PARAMETER_ARGUMENTS,
                                             OTHER_ARGUMENTS, node_parameters, remappings,
                                             rviz_node)


def _node(context):
    value = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    given = {name: value(name) for name in NODE_PARAMETER_ARGUMENTS}
    actions = [Node(package="yolo_stereo_trt", executable="stereo_detector",
                    name="stereo_detector", namespace=value("namespace"), output="screen",
                    emulate_tty=True, parameters=node_parameters(value("params_file"), given),
                    remappings=remappings(value("camera")))]
    rviz = rviz_node(value("rviz"), get_package_share_directory("yolo_stereo_trt"),
                     value("use_sim_time"), value("namespace"), value("camera"))
    if rviz is not None:
        actions.append(Node(**rviz))
    return actions


def generate_launch_description():
    defaults = {"params_file": os.path.join(get_package_share_directory("yolo_stereo_trt"),
                                            "config", "params.yaml"),
                "namespace": "", "camera": CAMERA_DEFAULT, "rviz": "false"}
    args = [DeclareLaunchArgument(name, default_value="", description=text)
            for name, text in NODE_PARAMETER_ARGUMENTS.items()]
    args += [DeclareLaunchArgument(name, default_value=defaults[name], description=text)
             for name, text in OTHER_ARGUMENTS.items()]
    return LaunchDescription(args + [OpaqueFunction(function=_node)])
