"""The QoS profiles every node of the package uses (one definition each)."""
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

# Instructions and other state a late joiner must still receive: reliable, transient local, depth 1.
LATCHED = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Camera frames: best effort, volatile, only the latest kept (an old frame is never worth processing).
SENSOR_DATA = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=qos_profile_sensor_data.reliability,
                         durability=qos_profile_sensor_data.durability)
# Commands, certificates, reports: reliable, a short queue.
COMMANDS = 10
