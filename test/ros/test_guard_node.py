"""The guard node in its own process, driven by a probe node over real ROS 2 topics and services.

One node process (the built-in policy) serves the module; every test sets up what it needs (the
instruction, its frames) and puts back any parameter it changes, so the tests pass in any order. The
deadline and the frame timeout are generous for a slow, busy CPU: the exact timing rules are the control
core's, tested with a fake clock (test/control/test_rules.py).
"""
import json
import time

import numpy as np
import pytest

import ros_harness as h
from rs_vla_guard.tasks import blocks as scenes

pytestmark = [pytest.mark.ros, pytest.mark.model]

DOMAIN = 61
CONTROL_PERIOD = 0.2  # 5 Hz default
IMAGE_TIMEOUT = 2.0
SETTINGS = {"image_timeout_s": IMAGE_TIMEOUT, "deadline_s": 5.0}
LEFT = scenes.render(scenes.Scene([scenes.Block("red", 0.15, 0.2), scenes.Block("blue", 0.75, 0.15)]))
RIGHT = scenes.render(scenes.Scene([scenes.Block("red", 0.85, 0.2)], floor="textured"))
BORDER = scenes.render(scenes.Scene([scenes.Block("red", 0.31, 0.15)]))  # move_forward / turn_left split


@pytest.fixture(scope="module")
def node(probe, tmp_path_factory):
    folder = tmp_path_factory.mktemp("node")
    log = folder / "guard_node.log"
    process = h.start_node(DOMAIN, h.write_params(folder / "params.yaml", SETTINGS), log_path=str(log))
    assert probe.wait_for(lambda: len(probe.certificates) > 0, 120), log.read_text()[-2000:]
    yield process, log
    h.stop_node(process)


@pytest.fixture
def ros(probe, node):
    """The probe and the running node, told to go to the red block (a test may say otherwise)."""
    from std_msgs.msg import String

    probe.instruction_pub.publish(String(data="go to the red block"))
    return probe, node[0], node[1]


def publish_frames(probe, frame, encoding="rgb8"):
    return lambda: probe.image_pub.publish(h.image_msg(frame, probe.now(), encoding=encoding))


def certified_since(probe, since, action=None):
    def predicate():
        for t, status in probe.certificates:
            values = {kv.key: kv.value for kv in status.values}
            if t >= since and values["reason"] == "certified" and (action is None or status.message == action):
                return True
        return False
    return predicate


def reason_since(probe, since, *reasons):
    return lambda: any(t >= since and {kv.key: kv.value for kv in s.values}["reason"] in reasons
                       for t, s in probe.certificates)


def test_frames_with_a_blank_instruction_stop_with_no_instruction(ros):
    from std_msgs.msg import String

    probe, process, log = ros
    probe.instruction_pub.publish(String(data="   "))
    since = time.monotonic()
    assert probe.wait_for(reason_since(probe, since, "no_instruction"), 10, publish=publish_frames(probe, LEFT))
    later = time.monotonic() + 0.5
    probe.wait_for(lambda: False, 1.0, publish=publish_frames(probe, LEFT))
    assert {v["reason"] for _, _, v in probe.statuses_since(later)} == {"no_instruction"}
    assert process.poll() is None


def test_clean_scene_is_certified_with_matching_twist(ros):
    probe, _, _ = ros
    since = time.monotonic()
    assert probe.wait_for(certified_since(probe, since, "turn_left"), 20, publish=publish_frames(probe, LEFT))
    probe.spin(0.3)
    index = max(i for i, (t, s) in enumerate(probe.certificates) if s.message == "turn_left")
    values = probe.certificate_values(index)
    assert values["certified"] == "true" and float(values["radius"]) >= float(values["radius_threshold"]) == 0.25
    counts = __import__("json").loads(values["counts"])
    assert sum(counts.values()) == int(values["n_samples"]) > 0
    assert values["candidate"] == "turn_left" and len(values["config_hash"]) == 12 and values["model_id"]
    for key in ("p_lower", "sigma", "alpha", "latency_ms", "image_age_ms"):
        assert values[key] != ""
    twists = [m for _, m in probe.twists]
    assert any(m.twist.angular.z == pytest.approx(0.6) and m.twist.linear.x == 0.0 for m in twists)
    assert twists[-1].header.frame_id == "base_link"


def test_camera_dropout_gives_stale_image_stops_at_the_control_rate_then_recovers(ros):
    probe, _, _ = ros
    since = time.monotonic()
    assert probe.wait_for(certified_since(probe, since, "turn_right"), 20, publish=publish_frames(probe, RIGHT))
    last_frame = time.monotonic()
    # (generous: how soon exactly is the control core's rule, tested with a fake clock)
    assert probe.wait_for(reason_since(probe, last_frame, "stale_image"), IMAGE_TIMEOUT + 5)
    window_start = time.monotonic()
    probe.spin(2.0)
    zero_twists = [m for t, m in probe.twists if t >= window_start]
    assert len(zero_twists) >= 8  # 5 Hz for 2 s, never silence
    assert all(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for m in zero_twists)
    since = time.monotonic()
    assert probe.wait_for(certified_since(probe, since, "turn_right"), 10, publish=publish_frames(probe, RIGHT))


@pytest.mark.parametrize("kind", ["encoding", "step", "zero_size"])
def test_invalid_frames_stop_with_invalid_image_and_the_node_keeps_serving(ros, kind):
    probe, process, _ = ros

    def publish_bad():
        msg = h.image_msg(LEFT, probe.now())
        if kind == "encoding":
            msg.encoding = "16UC1"
        elif kind == "step":
            msg.step = msg.step + 7
        else:
            msg.height = msg.width = msg.step = 0
            msg.data = b""
        probe.image_pub.publish(msg)

    since = time.monotonic()
    assert probe.wait_for(reason_since(probe, since, "invalid_image"), 10, publish=publish_bad)
    since = time.monotonic()
    assert probe.wait_for(certified_since(probe, since, "turn_left"), 10, publish=publish_frames(probe, LEFT))
    assert process.poll() is None


def test_bgr_frames_are_converted(ros):
    probe, _, _ = ros
    since = time.monotonic()
    bgr = np.ascontiguousarray(LEFT[:, :, ::-1])
    assert probe.wait_for(certified_since(probe, since, "turn_left"), 10, publish=publish_frames(probe, bgr, "bgr8"))


def test_invalid_parameters_are_rejected_and_threshold_changes_apply(ros):
    probe, _, _ = ros
    for values in ({"sigma": 0.0}, {"alpha": 0.6}, {"safe_action": "dance"}):
        [(ok, reason)] = h.set_parameters(probe, **values)
        assert not ok and list(values)[0] in reason
    # A threshold that n_max samples can never certify is refused, with the n_max it would need.
    [(ok, reason)] = h.set_parameters(probe, radius_threshold=0.5)
    assert not ok and "raise n_max to at least 323" in reason
    assert h.set_parameters(probe, radius_threshold=0.3) == [(True, "")]
    try:
        since = time.monotonic()
        at_new_threshold = lambda: any(  # noqa: E731
            values["radius_threshold"] == "0.3" and values["reason"] == "certified" and float(values["radius"]) >= 0.3
            for _, _, values in probe.statuses_since(since))
        assert probe.wait_for(at_new_threshold, 10, publish=publish_frames(probe, LEFT))
    finally:
        assert h.set_parameters(probe, radius_threshold=0.25) == [(True, "")]
    since = time.monotonic()
    assert probe.wait_for(certified_since(probe, since, "turn_left"), 10, publish=publish_frames(probe, LEFT))
    [(ok, reason)] = h.set_parameters(probe, policy="/elsewhere")
    assert not ok  # read-only: needs a reconfigure


def test_fallback_sets_set_at_run_time_publish_the_set_label_and_the_mean_twist(ros):
    probe, _, _ = ros
    since = time.monotonic()
    assert probe.wait_for(reason_since(probe, since, "abstain", "below_threshold"), 10,
                          publish=publish_frames(probe, BORDER))
    [(ok, reason)] = h.set_parameters(probe, fallback_sets="move_forward+stop")
    assert not ok and "fallback_sets" in reason
    assert h.set_parameters(probe, fallback_sets="move_forward+turn_left, move_forward+turn_right") == [(True, "")]
    try:
        since = time.monotonic()
        label = "move_forward+turn_left"
        assert probe.wait_for(certified_since(probe, since, label), 10, publish=publish_frames(probe, BORDER))
        probe.spin(0.3)
        index = max(i for i, (t, s) in enumerate(probe.certificates) if s.message == label)
        values = probe.certificate_values(index)
        assert float(values["radius"]) >= 0.25 and values["candidate"] in ("move_forward", "turn_left")
        assert any(m.twist.linear.x == pytest.approx(0.1) and m.twist.angular.z == pytest.approx(0.3)
                   for _, m in probe.twists)
    finally:
        assert h.set_parameters(probe, fallback_sets="") == [(True, "")]
    since = time.monotonic()
    assert probe.wait_for(reason_since(probe, since, "abstain", "below_threshold"), 10,
                          publish=publish_frames(probe, BORDER))


def test_deactivate_publishes_a_stop_and_reactivate_resumes(ros):
    probe, _, _ = ros
    since = time.monotonic()
    assert h.change_state(probe, "deactivate")
    try:
        assert probe.wait_for(reason_since(probe, since, "inactive"), 5, publish=publish_frames(probe, LEFT))
        probe.spin(0.5)
        quiet_from = time.monotonic()
        probe.wait_for(lambda: False, 1.0, publish=publish_frames(probe, LEFT))
        assert not [t for t, _ in probe.certificates if t >= quiet_from]  # inactive: no decisions
    finally:
        assert h.change_state(probe, "activate")
    since = time.monotonic()
    assert probe.wait_for(certified_since(probe, since, "turn_left"), 10, publish=publish_frames(probe, LEFT))


def test_diagnostics_report_health_at_about_one_hertz(ros):
    probe, _, _ = ros
    since = time.monotonic()
    probe.wait_for(lambda: False, 3.2, publish=publish_frames(probe, LEFT))
    recent = [m for t, m in probe.diagnostics if t >= since]
    assert 2 <= len(recent) <= 5
    status = recent[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert values["lifecycle_state"] == "active" and len(values["config_hash"]) == 12
    assert int(values["torch_threads"]) >= 1  # what the forward passes run with (torch_threads: 0 = torch's)
    assert json.loads(values["torch_compile"]) == {"backend": "off"}  # the default: forwards run uncompiled
    assert float(values["publish_rate_hz"]) > 1.0  # decisions at (up to) 5 Hz; the machine may be busy
    # The real-time budget, from the batch time measured at configure: the defaults certify in time on any CPU
    # (the first look, 43 samples, is one batch, and a decision always runs its first batch).
    assert float(values["budget_batch_seconds"]) > 0 and float(values["warmup_first_batch_ms"]) > 0
    assert int(values["budget_samples_within_deadline"]) >= 64 and values["budget_threshold_certifiable"] == "true"
    assert float(values["budget_min_certifiable_radius"]) >= 0.25 and float(values["budget_decisions_per_second"]) > 0


CLEAR = scenes.render(scenes.Scene([scenes.Block("red", 0.5, 0.15)]))
DIM = scenes.render(scenes.Scene([scenes.Block("red", 0.5, 0.15)], light=0.6))  # certifies, but not 0.33 darker


def test_extent_checks_publish_the_interval_and_stop_a_frame_with_a_smaller_margin(ros):
    """Added at run time (a tightening), then dropped again: the configuration at configure had none."""
    probe, _, _ = ros
    assert h.set_parameters(probe, extent_checks="brightness: 0.33") == [(True, "")]
    try:
        check_extents(probe)
    finally:
        assert h.set_parameters(probe, extent_checks="") == [(True, "")]


def check_extents(probe):
    since = time.monotonic()
    assert probe.wait_for(certified_since(probe, since, "move_forward"), 10, publish=publish_frames(probe, CLEAR)), \
        [({kv.key: kv.value for kv in s.values}["reason"], {kv.key: kv.value for kv in s.values}["detail"]) for t, s in probe.certificates if t >= since][-3:]
    probe.spin(0.3)
    certified = [{kv.key: kv.value for kv in s.values} for t, s in probe.certificates if t >= since]
    certified = [values for values in certified if values["reason"] == "certified"]
    low, high = json.loads(certified[-1]["extents"])["brightness"]
    assert low == -high and high >= 0.33
    since = time.monotonic()
    assert probe.wait_for(reason_since(probe, since, "extent_too_small"), 10, publish=publish_frames(probe, DIM))
    stops = [{kv.key: kv.value for kv in s.values} for t, s in probe.certificates if t >= since]
    stop = [values for values in stops if values["reason"] == "extent_too_small"][0]
    assert stop["certified"] == "false" and json.loads(stop["extents"])["brightness"][1] < 0.33
    # every command published with such a stop is a zero twist (it carries the twist it went out with)
    extent_stops = [values for values in stops if values["reason"] == "extent_too_small"]
    assert all(float(v["linear_x"]) == 0.0 and float(v["angular_z"]) == 0.0 for v in extent_stops)
    [(ok, reason)] = h.set_parameters(probe, extent_checks="brightness: 2")
    assert not ok and "needs more than n_max 256 samples" in reason
