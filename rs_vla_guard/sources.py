"""Input sources for the node, without ROS imports: image messages -> frames, commands -> actions.

Works on the fields of sensor_msgs/Image and geometry_msgs/Twist by duck typing, so it is testable
without a ROS graph. Every rejection raises :class:`InvalidImage` with a message saying what was wrong.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

# encoding -> (channels, channel order to RGB); anything else is rejected.
ENCODINGS = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}


class InvalidImage(ValueError):
    """An image message that cannot be a camera frame (encoding, size, step, data length)."""


def frame_from_image_msg(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB (a copy). Raises :class:`InvalidImage`."""
    encoding = str(msg.encoding).lower()
    if encoding not in ENCODINGS:
        raise InvalidImage(f"unsupported encoding {msg.encoding!r} (supported: {', '.join(ENCODINGS)})")
    channels, order = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise InvalidImage(f"zero-size image {width}x{height}")
    if step < width * channels:
        raise InvalidImage(f"step {step} is smaller than width*channels = {width * channels}")
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, (bytes, bytearray)) else msg.data, np.uint8)
    if data.size != step * height:
        raise InvalidImage(f"data has {data.size} bytes, expected step*height = {step * height}")
    rows = data.reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    return np.ascontiguousarray(rows[:, :, list(order)])


def stamp_seconds(stamp) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def command_label(oracle, linear_x: float, angular_z: float) -> Optional[str]:
    """The discrete action an upstream twist command amounts to (gate mode), by the binning oracle."""
    index = int(oracle(np.array([[linear_x, angular_z]], dtype=np.float64))[0])
    return oracle.actions[index] if index >= 0 else None
