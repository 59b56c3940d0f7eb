"""Message conversions both ways, without a ROS graph: frames, twists, stamps, certificates."""
import json

import numpy as np
import pytest

from rs_vla_guard import params
from rs_vla_guard.frames import frame_from_image_msg
from rs_vla_guard.guard import stop_decision
from rs_vla_guard.ros import messages


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8"])
def test_frames_survive_a_round_trip_through_image_messages(encoding):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    array = {"rgb8": rgb, "bgr8": rgb[:, :, ::-1], "mono8": rgb[:, :, 0]}[encoding]
    msg = messages.image_msg(array, messages.stamp_from_seconds(12.5), encoding=encoding, frame_id="cam")
    assert (msg.height, msg.width, msg.encoding, msg.header.frame_id) == (7, 5, encoding, "cam")
    expected = rgb if encoding != "mono8" else np.stack([rgb[:, :, 0]] * 3, 2)
    np.testing.assert_array_equal(frame_from_image_msg(msg), expected)
    assert messages.stamp_seconds(msg.header.stamp) == 12.5


def test_an_array_that_does_not_match_its_encoding_is_refused():
    with pytest.raises(messages.InvalidImage, match="channels"):
        messages.image_msg(np.zeros((4, 4, 3), np.uint8), encoding="mono8")


@pytest.mark.parametrize("seconds", [0.0, 1.25, 1699999999.9999999999, 3.0000000004])
def test_stamps_round_trip(seconds):
    stamp = messages.stamp_from_seconds(seconds)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert messages.stamp_seconds(stamp) == pytest.approx(seconds, abs=1e-9 * max(1.0, seconds))


@pytest.mark.parametrize("stamped", [True, False])
def test_twists_both_ways(stamped):
    msg = messages.twist_msg(0.2, -0.6, stamped=stamped, frame_id="base_footprint")
    assert messages.twist_of_msg(msg) == pytest.approx((0.2, -0.6))
    assert (type(msg).__name__ == "TwistStamped") == stamped


def test_a_certificate_carries_every_documented_value_from_the_decision():
    p = params.defaults()
    decision = stop_decision(p, "stale_image", "frame is 0.8s old", model_id="m@1", mode="score")
    status = messages.certificate_status(decision.to_dict(), name="guard: certificate", image_age_s=0.8)
    values = messages.status_values(status)
    assert tuple(values) == messages.CERTIFICATE_KEYS
    assert status.message == "stop" and status.level == status.WARN and status.hardware_id == "m@1"
    assert values["reason"] == "stale_image" and values["detail"] == "frame is 0.8s old"
    assert values["certified"] == "false" and values["image_age_ms"] == "800.0"
    assert values["config_hash"] == params.config_hash(p) and json.loads(values["counts"]) == {}
