"""sensor_msgs/Image -> RGB frame conversion: every supported encoding, and clear rejection of the rest."""
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard.frames import InvalidImage, frame_from_image_msg


def msg(frame, encoding, pad=0):
    height, width = frame.shape[:2]
    channels = frame.shape[2] if frame.ndim == 3 else 1
    step = width * channels + pad
    rows = np.zeros((height, step), np.uint8)
    rows[:, : width * channels] = frame.reshape(height, -1)
    return SimpleNamespace(encoding=encoding, height=height, width=width, step=step, data=rows.tobytes())


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 5), st.integers(0, 2**31 - 1))
def test_every_supported_encoding_round_trips_to_rgb(height, width, pad, seed):
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    alpha = np.full((height, width, 1), 255, np.uint8)
    cases = {
        "rgb8": rgb, "bgr8": rgb[:, :, ::-1], "rgba8": np.concatenate([rgb, alpha], 2),
        "bgra8": np.concatenate([rgb[:, :, ::-1], alpha], 2),
    }
    for encoding, frame in cases.items():
        np.testing.assert_array_equal(frame_from_image_msg(msg(np.ascontiguousarray(frame), encoding, pad)), rgb)
    grey = rgb[:, :, 0]
    np.testing.assert_array_equal(frame_from_image_msg(msg(grey, "mono8", pad)), np.stack([grey] * 3, 2))


@pytest.mark.parametrize("change,needle", [
    (dict(encoding="16UC1"), "unsupported encoding"),
    (dict(encoding="yuv422"), "unsupported encoding"),
    (dict(height=0, width=0, step=0, data=b""), "zero-size"),
    (dict(step=5), "step"),
    (dict(data=b"\x00" * 10), "bytes"),
])
def test_malformed_messages_are_rejected_with_a_reason(change, needle):
    good = msg(np.zeros((4, 4, 3), np.uint8), "rgb8")
    with pytest.raises(InvalidImage, match=needle):
        frame_from_image_msg(SimpleNamespace(**{**vars(good), **change}))
