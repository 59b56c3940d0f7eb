"""Launch the rs_vla_guard lifecycle node between a camera and a base controller.

    ros2 launch rs_vla_guard guard.launch.py
    ros2 launch rs_vla_guard guard.launch.py params_file:=/etc/robot/guard.yaml namespace:=robot1 \
        image_topic:=/camera/color/image_raw cmd_vel_topic:=/diff_drive_controller/cmd_vel

Arguments: params_file, namespace, use_sim_time, autostart, respawn, log_level, image_topic,
instruction_topic, cmd_vel_topic, cmd_vel_in_topic, estop_topic.

- The parameter file applies in any namespace: a file keyed ``rs_vla_guard:`` (as older files and hand
  written ones are) is passed on rewritten to ``/**/rs_vla_guard:``, so ``namespace:=robot1`` never drops it.
- ``autostart`` is passed to the node only when given: otherwise the parameter file's value holds (true
  by default). With a lifecycle manager (nav2_lifecycle_manager), use ``autostart:=false`` and let the
  manager configure and activate the node (see config/lifecycle_manager.yaml).
- ``respawn:=true`` (the default) restarts the node if its process ever ends.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode


def _guard(context):
    from rs_vla_guard.params import for_any_namespace  # the package's own rewrite, tested with it

    def value(name):
        return LaunchConfiguration(name).perform(context)

    parameters = [for_any_namespace(value("params_file")), {"use_sim_time": value("use_sim_time") == "true"}]
    if value("autostart") != "":
        parameters.append({"autostart": value("autostart") == "true"})
    return [LifecycleNode(
        package="rs_vla_guard",
        executable="guard_node",
        name="rs_vla_guard",
        namespace=value("namespace"),
        output="screen",
        emulate_tty=True,
        respawn=value("respawn") == "true",
        respawn_delay=2.0,
        parameters=parameters,
        remappings=[
            ("image", value("image_topic")),
            ("instruction", value("instruction_topic")),
            ("cmd_vel", value("cmd_vel_topic")),
            ("cmd_vel_in", value("cmd_vel_in_topic")),
            ("estop", value("estop_topic")),
        ],
        arguments=["--ros-args", "--log-level", value("log_level")],
    )]


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("rs_vla_guard"), "config", "guard.yaml")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="ROS parameter file for the guard (see config/guard.yaml)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (simulation)"),
        DeclareLaunchArgument("autostart", default_value="",
                              description="true/false overrides the parameter file's autostart; empty keeps it"),
        DeclareLaunchArgument("respawn", default_value="true", description="restart the node if it ever exits"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error"),
        DeclareLaunchArgument("image_topic", default_value="image", description="camera image topic"),
        DeclareLaunchArgument("instruction_topic", default_value="instruction", description="language command"),
        DeclareLaunchArgument("cmd_vel_topic", default_value="cmd_vel", description="guarded velocity output"),
        DeclareLaunchArgument("cmd_vel_in_topic", default_value="cmd_vel_in",
                              description="upstream command (gate mode)"),
        DeclareLaunchArgument("estop_topic", default_value="estop", description="e-stop input (std_msgs/Bool)"),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_guard)])
