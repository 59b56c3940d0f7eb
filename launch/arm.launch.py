"""The guard in front of an arm's joint_trajectory_controller (ros2_control), or the simulated arm.

    ros2 launch rs_vla_guard arm.launch.py                       # the MuJoCo arm world plays the robot
    ros2 launch rs_vla_guard arm.launch.py sim:=false \
        controller:=/joint_trajectory_controller                 # a real arm under ros2_control

The guard reads the camera (`image`) and `joint_states`, certifies each action chunk of the policy
(config/arm.yaml: the built-in chunked policy, 5 waypoints, certified tubes, joint limits) and publishes
trajectory_msgs/JointTrajectory on `<controller>/joint_trajectory`, the controller's topic interface
(config/arm_controllers.yaml configures a joint_trajectory_controller for the four joints). Every stop
publishes a hold at the measured positions. Publish the task on /instruction, e.g. the sim's episode
instruction: "reach the red block".
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("rs_vla_guard")
    sim = LaunchConfiguration("sim")
    trajectory = PythonExpression(["'", LaunchConfiguration("controller"), "' + '/joint_trajectory'"])
    return LaunchDescription([
        DeclareLaunchArgument("sim", default_value="true", description="true: the MuJoCo arm world plays the arm"),
        DeclareLaunchArgument("controller", default_value="/joint_trajectory_controller",
                              description="the joint_trajectory_controller's namespace"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "arm.yaml"),
                              description="the guard's parameters"),
        DeclareLaunchArgument("episode_seed", default_value="0", description="sim: block layout and start pose"),
        DeclareLaunchArgument("real_time_factor", default_value="0.5", description="sim speed (<= 0: fastest)"),
        SetEnvironmentVariable("MUJOCO_GL", "egl"),
        Node(package="rs_vla_guard", executable="arm_sim_node", name="rs_vla_guard_arm_sim", output="screen",
             condition=IfCondition(sim),
             parameters=[{"episode_seed": LaunchConfiguration("episode_seed"),
                          "real_time_factor": LaunchConfiguration("real_time_factor")}],
             remappings=[("image", "camera/image_raw"), ("joint_trajectory", trajectory)]),
        Node(package="rs_vla_guard", executable="guard_node", name="rs_vla_guard", output="screen",
             parameters=[LaunchConfiguration("params_file"), {"use_sim_time": sim}],
             remappings=[("image", "camera/image_raw"), ("joint_trajectory", trajectory)]),
    ])
