"""Conversions between ROS messages and the package's frames, twists, stamps and decisions (both ways).

Decoding an image works on the message's fields (:mod:`rs_vla_guard.frames`, no ROS), so the node, the
sim and attack nodes, the demo and the tests all decode and build frames, twists and certificates here.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist, TwistStamped
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from ..frames import InvalidImage, frame_from_image_msg, image_fields, stamp_seconds
from ..guard import CERTIFICATE_KEYS, certificate_values

__all__ = ["CERTIFICATE_KEYS", "InvalidImage", "certificate_status", "frame_from_image_msg", "image_msg",
           "stamp_from_seconds", "stamp_seconds", "status", "status_values", "twist_msg", "twist_of_msg",
           "vector_msg"]



# ---------------------------------------------------------------- stamps


def stamp_from_seconds(seconds: float) -> Time:
    """builtin_interfaces/Time of a non-negative time in seconds (nanoseconds rounded)."""
    whole = int(math.floor(seconds))
    nanoseconds = int(round((seconds - whole) * 1e9))
    if nanoseconds >= 1_000_000_000:
        whole, nanoseconds = whole + 1, nanoseconds - 1_000_000_000
    return Time(sec=whole, nanosec=nanoseconds)


# ---------------------------------------------------------------- images


def image_msg(frame, stamp: Optional[Time] = None, *, encoding: str = "rgb8", frame_id: str = "camera") -> Image:
    """sensor_msgs/Image of an HxWxC uint8 array whose channels are already in ``encoding``'s order."""
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.step, msg.data = image_fields(frame, encoding)
    msg.encoding = encoding
    return msg


# ---------------------------------------------------------------- twists


def twist_msg(linear_x: float, angular_z: float, *, stamped: bool, stamp: Optional[Time] = None,
              frame_id: str = "base_link"):
    """geometry_msgs/TwistStamped (or Twist) with the given forward speed and yaw rate."""
    if stamped:
        msg = TwistStamped()
        if stamp is not None:
            msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        body = msg.twist
    else:
        msg = body = Twist()
    body.linear.x, body.angular.z = float(linear_x), float(angular_z)
    return msg


def twist_of_msg(msg) -> Tuple[float, float]:
    """(linear.x, angular.z) of a Twist or TwistStamped."""
    body = msg.twist if isinstance(msg, TwistStamped) else msg
    return float(body.linear.x), float(body.angular.z)


def vector_msg(values, labels) -> Float32MultiArray:
    """std_msgs/Float32MultiArray of a command vector, one labelled dimension per value."""
    msg = Float32MultiArray(data=[float(v) for v in values])
    msg.layout.dim = [MultiArrayDimension(label=",".join(labels), size=len(values), stride=len(values))]
    return msg


# ---------------------------------------------------------------- diagnostics and certificates


def status(name: str, level: int, message: str, values: Dict[str, Any], hardware_id: str = "") -> DiagnosticStatus:
    """A DiagnosticStatus whose values are ``values`` as strings, in order."""
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])


def status_values(diagnostic: DiagnosticStatus) -> Dict[str, str]:
    """The key/value pairs of a DiagnosticStatus as a dict."""
    return {kv.key: kv.value for kv in diagnostic.values}


def certificate_status(decision: Dict[str, Any], *, name: str, image_age_s: Optional[float] = None,
                       held: bool = False) -> DiagnosticStatus:
    """The certificate of one published command, from ``Decision.to_dict()``: level OK when certified, WARN
    when stopped; message = the published action; values = :data:`CERTIFICATE_KEYS`."""
    values = certificate_values(decision, image_age_s=image_age_s, held=held)
    level = DiagnosticStatus.OK if decision["certified"] else DiagnosticStatus.WARN
    return status(name, level, decision["action"], values, hardware_id=decision["model_id"])
