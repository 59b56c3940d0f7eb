"""The ROS 2 side of the package: the only modules that import rclpy or ROS message packages.

- :mod:`.guard_node`: the guard (lifecycle node ``rs_vla_guard``, executable ``guard_node``);
- :mod:`.sim_node`, :mod:`.attack_node`, :mod:`.demo_nodes`: the MuJoCo arena as a robot, the attacker
  between camera and guard, and the demo's camera, instruction publisher and monitor;
- :mod:`.messages`: conversions between messages and the package's frames, twists and decisions, and
  stamps; :mod:`.qos`: the QoS profiles; :mod:`.executors`: spinning helpers.
"""
