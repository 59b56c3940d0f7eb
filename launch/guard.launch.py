"""Launch the rs_vla_guard node between a camera and a base controller.

    ros2 launch rs_vla_guard guard.launch.py
    ros2 launch rs_vla_guard guard.launch.py params_file:=/etc/robot/guard.yaml namespace:=robot1 \
        image_topic:=/camera/color/image_raw cmd_vel_topic:=/diff_drive_controller/cmd_vel

Arguments: params_file, namespace, use_sim_time, autostart, log_level, image_topic,
instruction_topic, cmd_vel_topic, cmd_vel_in_topic.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("rs_vla_guard"), "config", "guard.yaml")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="ROS parameter file for the guard (see config/guard.yaml)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (simulation)"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="configure and activate on start (false: drive the lifecycle yourself)"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error"),
        DeclareLaunchArgument("image_topic", default_value="image", description="camera image topic"),
        DeclareLaunchArgument("instruction_topic", default_value="instruction", description="language command"),
        DeclareLaunchArgument("cmd_vel_topic", default_value="cmd_vel", description="guarded velocity output"),
        DeclareLaunchArgument("cmd_vel_in_topic", default_value="cmd_vel_in",
                              description="upstream command (gate mode)"),
    ]
    guard = Node(
        package="rs_vla_guard",
        executable="guard_node",
        name="rs_vla_guard",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("image_topic")),
            ("instruction", LaunchConfiguration("instruction_topic")),
            ("cmd_vel", LaunchConfiguration("cmd_vel_topic")),
            ("cmd_vel_in", LaunchConfiguration("cmd_vel_in_topic")),
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    return LaunchDescription(arguments + [guard])
