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


DEFAULT_MAX_PIXELS = 16_777_216  # 4096 x 4096: every 4K camera (3840 x 2160) fits


def check_size(width: int, height: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """InvalidImage when a frame of ``width`` x ``height`` has more pixels than ``max_pixels``."""
    if width * height > max_pixels:
        raise InvalidImage(f"image of {width}x{height} = {width * height} pixels is larger than max_image_pixels "
                           f"{max_pixels}")


def compressed_size(data: bytes) -> Tuple[int, int]:
    """(width, height) a PNG or JPEG declares in its header, read without decoding anything (so a
    decompression bomb is refused before it can allocate); InvalidImage when no header says."""
    head = bytes(data[:32])
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    view = memoryview(data)
    if bytes(view[:2]) != b"\xff\xd8":
        raise InvalidImage("compressed data is neither PNG nor JPEG (no header)")
    index = 2
    while index + 9 < len(view):  # JPEG: walk the markers to the first start-of-frame
        if view[index] != 0xFF:
            raise InvalidImage("JPEG header is malformed")
        marker = view[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            index += 2
            continue
        length = int.from_bytes(view[index + 2:index + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(view[index + 7:index + 9], "big"), int.from_bytes(view[index + 5:index + 7], "big")
        if length < 2:
            raise InvalidImage("JPEG header is malformed")
        index += 2 + length
    raise InvalidImage("JPEG data declares no frame size")


def frame_from_compressed(data, fmt: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A sensor_msgs/CompressedImage's data (jpeg or png) -> HxWx3 uint8 RGB, its declared size checked
    against ``max_pixels`` before decoding. Raises InvalidImage."""
    import cv2

    kind = str(fmt).lower()
    if not any(name in kind for name in ("jpeg", "jpg", "png")):
        raise InvalidImage(f"unsupported compressed format {printable(repr(fmt), 40)} (supported: jpeg, png)")
    buffer = np.frombuffer(np.asarray(data, np.uint8), np.uint8)
    width, height = compressed_size(buffer)
    if width <= 0 or height <= 0:
        raise InvalidImage(f"zero-size image {width}x{height}")
    check_size(width, height, max_pixels)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if decoded is None:
        raise InvalidImage(f"{printable(str(fmt), 40)} data could not be decoded")
    return decoded[:, :, ::-1]


def frame_from_image_msg(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB. Raises :class:`InvalidImage` (also above ``max_pixels``).

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
    check_size(width, height, max_pixels)
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
