"""The node's promise, defect by defect, each test with the node in its own process: a non-stop command
only with a valid certificate for a fresh frame, an explicit stop with a reason on every other control
step, and no request, input or policy fault that takes the node down.

The node is the production one (``test/fault_guard_node.py`` only wraps its policy so that a test can
make it raise, hang or return garbage on request).
"""
import json
import math
import os
import signal
import time

import pytest

import ros_harness as h
from paths import TEST_DIR
from rs_vla_guard import actions, params
from rs_vla_guard.tasks import blocks

pytestmark = [pytest.mark.ros, pytest.mark.model]

DOMAIN = 66
PERIOD = 0.2  # control period at the default 5 Hz
LEFT = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.2)]))
BORDER = blocks.render(blocks.Scene([blocks.Block("red", 0.31, 0.15)]))  # move_forward / turn_left split
INSTRUCTION = "go to the red block"


@pytest.fixture
def node(probe, tmp_path):
    """A fresh guard node (with the fault-injectable policy), streaming certified decisions on LEFT."""
    from std_msgs.msg import String

    log = tmp_path / "node.log"
    process = h.start_node(DOMAIN, h.write_params(tmp_path / "params.yaml", {"image_timeout_s": 0.5}),
                           script=os.path.join(TEST_DIR, "fault_guard_node.py"), log_path=str(log))
    fault = probe.node.create_publisher(String, "fault", 10)
    probe.instruction_pub.publish(String(data=INSTRUCTION))
    try:
        assert probe.wait_for(lambda: "certified" in probe.reasons_since(0), 120, publish=frames(probe)), \
            log.read_text()[-3000:]
        yield process, fault, log
    finally:
        h.stop_node(process)
        probe.node.destroy_publisher(fault)
        probe.clear()


def frames(probe, frame=LEFT, stamp=None, encoding="rgb8"):
    def publish():
        msg = h.image_msg(frame, probe.now(), encoding="rgb8")
        if stamp is not None:
            msg.header.stamp.sec, msg.header.stamp.nanosec = stamp() if callable(stamp) else stamp
        msg.encoding = encoding
        probe.image_pub.publish(msg)
    return publish


def stream(probe, seconds, publish):
    """Publish at 10 Hz for ``seconds``; returns the monotonic time it started."""
    since = time.monotonic()
    probe.wait_for(lambda: False, seconds, publish=publish)
    return since


def assert_only_stops_or_fresh_certificates(statuses, image_timeout_s=0.5):
    for _, action, values in statuses:
        if values["reason"] == actions.CERTIFIED:
            assert values["certified"] == "true" and float(values["radius"]) >= float(values["radius_threshold"])
            assert 0.0 <= float(values["image_age_ms"]) <= image_timeout_s * 1e3, values
        else:
            assert action == "stop" and values["reason"] in actions.STOP_REASONS, (action, values)


def test_1_out_of_order_lifecycle_requests_are_refused_and_the_node_keeps_running(probe, node):
    process, _, log = node
    for label in ("activate", "configure", "cleanup"):  # all invalid while active
        assert h.request_transition(probe, label, timeout=10) is False, (label, log.read_text()[-2000:])
        assert process.poll() is None, log.read_text()[-2000:]
    assert h.request_transition(probe, "deactivate") is True
    for label in ("deactivate", "activate_twice_is_fine_after", "configure"):
        if label == "activate_twice_is_fine_after":
            continue
        assert h.request_transition(probe, label, timeout=10) is False, label
    assert h.request_transition(probe, "activate") is True
    since = time.monotonic()
    assert probe.wait_for(lambda: "certified" in probe.reasons_since(since), 15, publish=frames(probe))
    assert process.poll() is None


def test_2_action_twist_and_certificate_come_from_one_parameter_snapshot(probe, node):
    process, _, _ = node
    default = params.defaults()
    switched = params.effective({"safe_action": "turn_left", "action_angular_z": [0.0, 0.0, -0.6, 0.6]})
    by_hash = {params.config_hash(p): p for p in (default, switched)}
    publish = frames(probe, BORDER)
    with probe.lock:
        start = (len(probe.actions), len(probe.twists), len(probe.certificates))
    for switch in range(40):
        target = switched if switch % 2 == 0 else default
        result = h.set_parameters_atomically(probe, safe_action=target["safe_action"],
                                             action_angular_z=target["action_angular_z"])
        assert result == (True, ""), result
        probe.wait_for(lambda: False, 0.15, publish=publish)
    probe.wait_for(lambda: False, 1.0, publish=publish)
    assert h.set_parameters_atomically(probe, safe_action="stop", action_angular_z=default["action_angular_z"]) \
        == (True, "")
    probe.spin(1.0)
    with probe.lock:
        published = list(zip(probe.actions[start[0]:], probe.twists[start[1]:], probe.certificates[start[2]:]))
    assert len(published) >= 25  # 40 switches over about 8 s at 5 Hz
    for (_, action), (_, twist), (_, status) in published:
        values = {kv.key: kv.value for kv in status.values}
        config = by_hash[values["config_hash"]]
        assert status.message == action
        expected = actions.twist_of(config, action) if values["reason"] == actions.CERTIFIED else (0.0, 0.0)
        if values["reason"] != actions.CERTIFIED:
            assert action == config["safe_action"], (action, values)
        assert (twist.twist.linear.x, twist.twist.angular.z) == pytest.approx(expected), (action, values)
    assert process.poll() is None


def test_3_frames_stamped_before_the_epoch_or_far_in_the_future_are_never_fresh(probe, node):
    process, _, _ = node
    for stamp, reasons in (((-1000, 0), {"invalid_image"}), ((-2**31, 0), {"invalid_image"}),
                           (lambda: (int(time.time()) + 100, 0), {"stale_image"})):
        since = stream(probe, 2.0, frames(probe, stamp=stamp))
        probe.spin(0.3)
        late = [s for s in probe.statuses_since(since) if s[0] > since + 0.6]  # after the previous frame aged
        assert late and {values["reason"] for _, _, values in late} <= reasons, (stamp, late[-1])
    # An all-zero stamp means unstamped: the frame counts as received now.
    since = time.monotonic()
    assert probe.wait_for(lambda: "certified" in probe.reasons_since(since), 15,
                          publish=frames(probe, stamp=(0, 0)))
    assert process.poll() is None


@pytest.mark.parametrize("exception", ["SystemExit", "KeyboardInterrupt"])
def test_4_a_policy_raising_any_base_exception_gives_stops_and_error_diagnostics_then_recovers(
        probe, node, exception):
    from std_msgs.msg import String

    process, fault, log = node
    fault.publish(String(data=f"raise:{exception}"))
    probe.spin(1.0)
    since = stream(probe, 4.0, frames(probe))
    statuses = probe.statuses_since(since)
    assert len(statuses) >= 0.8 * 4.0 / PERIOD, f"{len(statuses)} commands in 4 s\n" + log.read_text()[-2000:]
    assert {values["reason"] for _, _, values in statuses} == {"policy_error"}
    assert all(action == "stop" for _, action, _ in statuses)
    diagnostics = [m.status[0] for t, m in probe.diagnostics if t >= since]
    assert diagnostics and all(d.level == d.ERROR for d in diagnostics[1:]), (
        [d.message for d in diagnostics], len(probe.diagnostics), [t - since for t, _ in probe.diagnostics[-5:]])
    assert exception in diagnostics[-1].message + json.dumps({kv.key: kv.value for kv in diagnostics[-1].values})
    fault.publish(String(data="none"))
    since = time.monotonic()
    assert probe.wait_for(lambda: "certified" in probe.reasons_since(since), 15, publish=frames(probe))
    stream(probe, 2.5, frames(probe))
    status = probe.diagnostics[-1][1].status[0]
    assert status.level < status.ERROR and "policy failing" not in status.message  # the fault is over
    assert process.poll() is None


def test_5_an_overlong_instruction_stops_with_a_reason_and_memory_returns(probe, node):
    from std_msgs.msg import String

    process, _, _ = node
    stream(probe, 2.0, frames(probe))
    before = h.rss_mb(process.pid)
    probe.instruction_pub.publish(String(data="go to the red block " * 5000))  # 100 kB
    since = stream(probe, 4.0, frames(probe))
    statuses = probe.statuses_since(since + 0.5)
    assert statuses and {values["reason"] for _, _, values in statuses} == {"invalid_instruction"}
    assert max(float(values["latency_ms"]) for _, _, values in statuses) < 100
    probe.instruction_pub.publish(String(data=INSTRUCTION))
    since = time.monotonic()
    assert probe.wait_for(lambda: "certified" in probe.reasons_since(since), 15, publish=frames(probe))
    stream(probe, 2.0, frames(probe))
    assert h.rss_mb(process.pid) < before + 50


def test_6_attacker_text_is_reflected_bounded_and_escaped(probe, node):
    process, _, _ = node
    since = stream(probe, 2.0, frames(probe, encoding="\x1b[31m" + "x" * 100_000))
    statuses = [s for s in probe.statuses_since(since + 0.6) if s[0] <= since + 2.0]
    assert statuses and {values["reason"] for _, _, values in statuses} == {"invalid_image"}
    for _, _, values in statuses:
        assert len(values["detail"]) <= 300 and "\x1b" not in values["detail"], len(values["detail"])
    for _, message in probe.diagnostics[-2:]:
        values = {kv.key: kv.value for kv in message.status[0].values}
        assert len(values["last_error"]) <= 300 and "\x1b" not in values["last_error"]
    assert process.poll() is None


@pytest.mark.parametrize("fault_mode", ["none", "hang:0.35"])
def test_7_a_command_goes_out_every_control_period(probe, node, fault_mode):
    from std_msgs.msg import String

    process, fault, _ = node
    fault.publish(String(data=fault_mode))
    probe.spin(1.5)
    since = stream(probe, 8.0, frames(probe))
    stamps = sorted(probe.twist_stamps_since(since + 0.5))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(stamps) >= 0.8 * 7.5 / PERIOD
    assert max(gaps) <= 1.5 * PERIOD, f"longest gap {max(gaps):.3f} s = {max(gaps) / PERIOD:.2f} periods"
    assert_only_stops_or_fresh_certificates(probe.statuses_since(since))
    assert process.poll() is None and math.isfinite(max(gaps))


def test_a_signal_while_the_model_loads_ends_the_node_within_launchs_escalation(probe, tmp_path):
    """launch sends SIGINT, then SIGTERM after 5 s: the node is gone before that, cleanly, without a traceback,
    though its model load (made slow here: 60 s) is still running."""
    log = tmp_path / "load.log"
    process = h.start_node(DOMAIN, script=os.path.join(TEST_DIR, "fault_guard_node.py"), log_path=str(log),
                           env={"FAULT_CONFIGURE_SLEEP_S": "60"})
    try:
        # up and loading: its state topic says so (the services answer while the model loads)
        assert probe.wait_for(lambda: any(m.status[0].values for _, m in probe.diagnostics), 60), log.read_text()
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(10)
        assert time.monotonic() - sent < 5.0, time.monotonic() - sent
        assert code == 0 and "Traceback" not in log.read_text(), log.read_text()[-2000:]
        assert "shut down while the model was loading" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()


def test_a_hostile_parameter_file_is_refused_and_the_node_stays_up_unconfigured(probe, tmp_path):
    """An alias bomb as the node's --params-file never reaches rcl's parser: the node starts without it,
    says why in its log and /diagnostics (ERROR), never configures, and keeps answering."""
    from diagnostic_msgs.msg import DiagnosticStatus

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("/**/rs_vla_guard:\n  ros__parameters:\n    sigma: &s 0.25\n    alpha: *s\n")
    log = tmp_path / "bomb.log"
    process = h.start_node(DOMAIN, str(bomb), log_path=str(log))
    try:
        errors = lambda: [m.status[0] for _, m in probe.diagnostics if m.status[0].level == DiagnosticStatus.ERROR]  # noqa: E731
        assert probe.wait_for(errors, 60), log.read_text()[-2000:]
        problems = {kv.key: kv.value for kv in errors()[-1].values}["config_problems"]
        assert "parameter file refused" in problems and "anchors and aliases are not allowed" in problems
        assert "parameter file refused" in log.read_text()
        assert h.request_transition(probe, "configure") is False
        probe.wait_for(lambda: False, 1.0, publish=frames(probe))
        assert not probe.certificates and process.poll() is None
    finally:
        h.stop_node(process)
