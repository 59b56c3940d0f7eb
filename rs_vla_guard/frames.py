"""Camera frames <-> the fields of an image message, without ROS (numpy only).

Works on the fields of sensor_msgs/Image (``encoding``, ``height``, ``width``, ``step``, ``data``) by duck
typing, so the same code decodes rclpy messages in the node and messages read from bags by ``rosbags``
in replay, and is testable without a ROS graph. Every rejection raises :class:`InvalidImage` saying what
was wrong. Building a real message from a frame is :func:`rs_vla_guard.ros.messages.image_msg`.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from .text import printable

# encoding -> (channels, how to view the message's pixels as RGB); anything else is rejected.
ENCODINGS = {
    "rgb8": (3, slice(None)),
    "bgr8": (3, slice(None, None, -1)),
    "rgba8": (4, slice(0, 3)),
    "bgra8": (4, slice(2, None, -1)),
    "mono8": (1, None),  # one channel, shown three times
}


class InvalidImage(ValueError):
    """An image message that cannot be a camera frame (encoding, size, step, data length)."""


def frame_from_image_msg(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB. Raises :class:`InvalidImage`.

    The result is a read-only view of the message's buffer (mono8: its one channel seen three times), so
    a 3840x2160 frame costs microseconds here, not a copy of 25 MB. Row padding (``step`` larger than a
    row) stays in the strides; :func:`rs_vla_guard.sampling.frame_to_input` resamples such views without
    copying them first."""
    encoding = str(msg.encoding).lower()
    if encoding not in ENCODINGS:
        raise InvalidImage(f"unsupported encoding {printable(repr(msg.encoding), 40)} "
                           f"(supported: {', '.join(ENCODINGS)})")
    channels, to_rgb = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise InvalidImage(f"zero-size image {width}x{height}")
    if step < width * channels:
        raise InvalidImage(f"step {step} is smaller than width*channels = {width * channels}")
    data = msg.data if isinstance(msg.data, (bytes, bytearray, memoryview)) or hasattr(msg.data, "typecode") \
        else bytes(msg.data)
    buffer = np.frombuffer(data, np.uint8)
    if buffer.size != step * height:
        raise InvalidImage(f"data has {buffer.size} bytes, expected step*height = {step * height}")
    rows = buffer.reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    if to_rgb is None:
        return np.broadcast_to(rows, (height, width, 3))
    rgb = rows[:, :, to_rgb]
    rgb.flags.writeable = False
    return rgb


def stamp_seconds(stamp) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def image_fields(frame: np.ndarray, encoding: str = "rgb8") -> Tuple[int, int, int, bytes]:
    """(height, width, step, data) of an HxWxC (or HxW) uint8 array already in ``encoding``'s channel order."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    channels = frame.shape[2] if frame.ndim == 3 else 1
    if encoding.lower() in ENCODINGS and ENCODINGS[encoding.lower()][0] != channels:
        raise InvalidImage(f"{encoding} needs {ENCODINGS[encoding.lower()][0]} channels, the array has {channels}")
    return frame.shape[0], frame.shape[1], frame.shape[1] * channels, frame.tobytes()
