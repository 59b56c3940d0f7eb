"""Offline replay of rosbag2 recordings (MCAP and sqlite3): what the guard would have done on recorded
frames, per robot and across a fleet, without a ROS install (``rosbags`` reads and writes the bags).

``timeline`` pairs frames with instructions, states and commands by time exactly as the node would
(pure functions); ``bags`` reads and writes bags; ``engine`` runs the guard over them, serially, in local
worker processes or on Ray, with per-frame seeds so every way gives the same decisions; ``report`` turns
the decisions into ``report.json``, plots and a side-by-side comparison of two configurations.
"""
