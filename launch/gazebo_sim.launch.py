"""Gazebo Harmonic arena, the ROS <-> Gazebo bridge and the guard, all on simulation time.

    ros2 launch rs_vla_guard gazebo_sim.launch.py [headless:=true] [params_file:=...]
    ros2 topic pub --once /instruction std_msgs/msg/String "{data: 'go to the red block'}" \
        --qos-durability transient_local --qos-reliability reliable

Needs ros_gz_sim and ros_gz_bridge (apt: ros-jazzy-ros-gz). The world is worlds/arena.sdf, the bridge
config/gz_bridge.yaml: camera /camera/image -> /camera/image_raw, /cmd_vel (TwistStamped) -> the
diff drive, /odom and /clock back to ROS.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("rs_vla_guard")
    world = os.path.join(share, "worlds", "arena.sdf")
    bridge_config = os.path.join(share, "config", "gz_bridge.yaml")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "guard.yaml"),
                              description="ROS parameter file for the guard"),
        DeclareLaunchArgument("headless", default_value="false", description="run the Gazebo server only"),
        DeclareLaunchArgument("log_level", default_value="info", description="guard log level"),
    ]
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory("ros_gz_sim"), "launch",
                                                   "gz_sim.launch.py")),
        launch_arguments={"gz_args": PythonExpression(
            ["'-r -s " + world + "' if '", LaunchConfiguration("headless"), "' == 'true' else '-r " + world + "'"])
        }.items(),
    )
    bridge = Node(
        package="ros_gz_bridge", executable="parameter_bridge", name="rs_vla_guard_bridge", output="screen",
        parameters=[{"config_file": bridge_config, "use_sim_time": True}],
    )
    guard = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "guard.launch.py")),
        launch_arguments={
            "params_file": LaunchConfiguration("params_file"),
            "use_sim_time": "true",
            "log_level": LaunchConfiguration("log_level"),
            "image_topic": "/camera/image_raw",
            "cmd_vel_topic": "/cmd_vel",
        }.items(),
    )
    return LaunchDescription(arguments + [gazebo, bridge, guard])
