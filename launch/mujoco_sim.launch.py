"""The MuJoCo arena as a robot, optionally an attacker, and the guard, all on simulation time.

    ros2 launch rs_vla_guard mujoco_sim.launch.py episode_seed:=3 attack:=pgd eps:=0.25

Needs the `mujoco` Python package (and MUJOCO_GL=egl without a display). The sim node publishes
/clock, odom, the camera and a latched `episode` (with the instruction to publish on /instruction).
With attack:=none the guard reads the camera directly; otherwise the attack node sits between them.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def generate_launch_description():
    attacked = PythonExpression(["'", LaunchConfiguration("attack"), "' != 'none'"])
    return LaunchDescription([
        DeclareLaunchArgument("episode_seed", default_value="0", description="block layout and start pose"),
        DeclareLaunchArgument("attack", default_value="none", description="none, noise, patch or pgd"),
        DeclareLaunchArgument("eps", default_value="0.25", description="attack L2 budget (policy-input pixels)"),
        DeclareLaunchArgument("real_time_factor", default_value="0.5", description="sim speed (<= 0: fastest)"),
        SetEnvironmentVariable("MUJOCO_GL", "egl"),
        Node(package="rs_vla_guard", executable="sim_node", name="rs_vla_guard_sim", output="screen",
             parameters=[{"episode_seed": LaunchConfiguration("episode_seed"),
                          "real_time_factor": LaunchConfiguration("real_time_factor")}],
             remappings=[("image", "camera/image_raw")]),
        Node(package="rs_vla_guard", executable="attack_node", name="rs_vla_guard_attack", output="screen",
             condition=IfCondition(attacked),
             parameters=[{"attack": LaunchConfiguration("attack"), "eps": LaunchConfiguration("eps"),
                          "use_sim_time": True}],
             remappings=[("image_in", "camera/image_raw"), ("image", "camera/image_attacked")]),
        Node(package="rs_vla_guard", executable="guard_node", name="rs_vla_guard", output="screen",
             condition=UnlessCondition(attacked), parameters=[{"use_sim_time": True}],
             remappings=[("image", "camera/image_raw")]),
        Node(package="rs_vla_guard", executable="guard_node", name="rs_vla_guard", output="screen",
             condition=IfCondition(attacked), parameters=[{"use_sim_time": True}],
             remappings=[("image", "camera/image_attacked")]),
    ])
