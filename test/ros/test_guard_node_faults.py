"""Guard node under faults and special set-ups, each in its own process: slow policy, bad parameters,
gate mode started from a parameter file rendered by the fleet tools."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

import ros_harness as h
from rs_vla_guard.tasks import blocks as scenes

DOMAIN = 62
from paths import ROOT, TEST_DIR

pytestmark = [pytest.mark.ros, pytest.mark.model]
LEFT = scenes.render(scenes.Scene([scenes.Block("red", 0.15, 0.2)]))
BORDER = scenes.render(scenes.Scene([scenes.Block("red", 0.31, 0.15)]))  # move_forward / turn_left split


@pytest.fixture(autouse=True)
def instructed(probe):
    """Every node of this module hears this instruction (latched: a node started later gets it too)."""
    from std_msgs.msg import String

    probe.instruction_pub.publish(String(data="go to the red block"))


def frames(probe, frame=LEFT):
    return lambda: probe.image_pub.publish(h.image_msg(frame, probe.now()))


def reasons_in(probe, since):
    return probe.reasons_since(since)


def test_the_shipped_guard_yaml_starts_the_node_at_exactly_the_defaults(probe, tmp_path):
    from rs_vla_guard import params as config

    process = h.start_node(DOMAIN, os.path.join(ROOT, "config", "guard.yaml"),
                           log_path=str(tmp_path / "shipped.log"))
    try:
        assert probe.wait_for(lambda: "certified" in probe.reasons_since(0), 120, publish=frames(probe)), \
            open(tmp_path / "shipped.log").read()[-2000:]
        assert probe.certificate_values()["config_hash"] == config.config_hash(config.defaults())
    finally:
        h.stop_node(process)
    probe.clear()


def test_slow_policy_gives_deadline_exceeded_stops_while_diagnostics_flow(probe, tmp_path):
    params = h.write_params(tmp_path / "slow.yaml", {"deadline_s": 0.5, "image_timeout_s": 5.0})
    process = h.start_node(DOMAIN, params, script=os.path.join(TEST_DIR, "slow_guard_node.py"),
                           log_path=str(tmp_path / "slow.log"))
    try:
        assert probe.wait_for(lambda: "deadline_exceeded" in probe.reasons_since(0), 120, publish=frames(probe)), \
            open(tmp_path / "slow.log").read()[-2000:]
        since = time.monotonic()
        probe.wait_for(lambda: False, 3.0, publish=frames(probe))
        reasons = probe.reasons_since(since)
        assert reasons and set(reasons) == {"deadline_exceeded"}
        assert len(reasons) >= 10  # about 5 Hz: the watchdog keeps commanding stops during inference
        twists = [m for t, m in probe.twists if t >= since]
        assert twists and all(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for m in twists)
        diagnostics = [m for t, m in probe.diagnostics if t >= since]
        assert len(diagnostics) >= 2
        assert any("deadline" in m.status[0].message for m in diagnostics)
        assert process.poll() is None
    finally:
        h.stop_node(process)
    probe.clear()


def decisions_since(probe, since):
    """(reason, n_samples) of each decision published after ``since`` (holds and input stops left out)."""
    values = [v for _, _, v in probe.statuses_since(since)]
    return [(v["reason"], int(v["n_samples"])) for v in values if v["held"] == "false" and
            (int(v["n_samples"]) > 0 or v["reason"] == "deadline_exceeded")]


def test_certifications_resume_within_one_decision_after_a_slow_spell(probe, tmp_path):
    """A policy slow for a few decisions (every forward 1.2 s, deadline 1 s), then fast again: the node
    certifies again at once; it used to stay stopped with deadline_exceeded, drawing no sample, for good."""
    from std_msgs.msg import String

    log = tmp_path / "spell.log"
    params = h.write_params(tmp_path / "spell.yaml", {"deadline_s": 1.0, "image_timeout_s": 5.0})
    process = h.start_node(DOMAIN, params, script=os.path.join(TEST_DIR, "fault_guard_node.py"), log_path=str(log))
    fault = probe.node.create_publisher(String, "fault", 10)
    try:
        assert probe.wait_for(lambda: "certified" in probe.reasons_since(0), 120, publish=frames(probe)), \
            log.read_text()[-2000:]
        fault.publish(String(data="hang:1.2"))
        since = time.monotonic()
        assert probe.wait_for(lambda: [r for r, n in decisions_since(probe, since) if r == "deadline_exceeded"
                                       and n > 0][1:], 30, publish=frames(probe)), log.read_text()[-2000:]
        fault.publish(String(data="none"))
        probe.wait_for(lambda: False, 1.5, publish=frames(probe))  # the decision under way may still be slow
        fast = time.monotonic()
        assert probe.wait_for(lambda: len(decisions_since(probe, fast)) >= 10, 60, publish=frames(probe))
        decisions = decisions_since(probe, fast)[:10]
        assert decisions[0][0] == "certified", decisions
        assert sum(reason == "certified" for reason, _ in decisions) >= 8, decisions
        assert all(n > 0 for _, n in decisions), decisions
        assert process.poll() is None
    finally:
        probe.node.destroy_publisher(fault)
        h.stop_node(process)
    probe.clear()


def test_diagnostics_warn_when_the_threshold_cannot_be_certified_in_time(probe, tmp_path):
    """radius_threshold 0.5 needs 323 unanimous samples; not one batch of 64 fits in a 1 ms deadline."""
    from diagnostic_msgs.msg import DiagnosticStatus

    log = tmp_path / "budget.log"
    params = h.write_params(tmp_path / "budget.yaml", {"deadline_s": 0.001, "radius_threshold": 0.5, "n_max": 512})
    process = h.start_node(DOMAIN, params, log_path=str(log))
    try:
        def warned():
            return [m.status[0] for _, m in probe.diagnostics if m.status[0].level == DiagnosticStatus.WARN
                    and "cannot be certified within deadline_s" in m.status[0].message]
        assert probe.wait_for(warned, 120, publish=frames(probe)), log.read_text()[-2000:]
        values = {kv.key: kv.value for kv in warned()[-1].values}
        assert values["budget_threshold_certifiable"] == "false"
        assert int(values["budget_samples_within_deadline"]) == 0
        assert float(values["budget_min_certifiable_radius"]) == 0.0 and float(values["budget_batch_seconds"]) > 0
        assert "cannot be certified within deadline_s" in log.read_text()  # and the log says so at configure
    finally:
        h.stop_node(process)
    probe.clear()


def test_invalid_parameter_file_refuses_to_configure_but_keeps_reporting(probe, tmp_path):
    from diagnostic_msgs.msg import DiagnosticStatus

    params = h.write_params(tmp_path / "bad.yaml", {"sigma": 0.0, "safe_action": "dance"})
    process = h.start_node(DOMAIN, params, log_path=str(tmp_path / "bad.log"))
    try:
        assert probe.wait_for(lambda: any(m.status[0].level == DiagnosticStatus.ERROR for _, m in probe.diagnostics), 60)
        status = next(m.status[0] for _, m in probe.diagnostics if m.status[0].level == DiagnosticStatus.ERROR)
        problems = {kv.key: kv.value for kv in status.values}["config_problems"]
        assert "sigma" in problems and "safe_action" in problems
        probe.wait_for(lambda: False, 1.0, publish=frames(probe))
        assert not probe.certificates  # never configured: never commands motion
        assert process.poll() is None
        log = open(tmp_path / "bad.log").read()
        assert "invalid parameters" in log and "safe_action" in log
    finally:
        h.stop_node(process)
    probe.clear()


def test_fleet_rendered_gate_mode_forwards_only_agreeing_commands(probe, tmp_path):
    from geometry_msgs.msg import TwistStamped

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "limits:\n  radius_threshold: {min: 0.2}\n"
        # Deadline and frame timeout generous for a slow, busy CPU: the verdicts here are about gating, and a
        # border decision takes ~750 ms on a 2-core CPU without bf16 beside a busy process.
        "defaults:\n  gate_mode: true\n  fallback_sets: 'move_forward+turn_left, move_forward+turn_right'\n"
        "  deadline_s: 5.0\n  image_timeout_s: 5.0\n"
        "robots:\n  gatebot: {radius_threshold: 0.2}\n  lowbot: {radius_threshold: 0.1}\n")
    check = subprocess.run([sys.executable, "-m", "rs_vla_guard", "fleet", "check", str(fleet)],
                           capture_output=True, text=True)
    assert check.returncode != 0 and "lowbot: radius_threshold: 0.1 is below the fleet limit" in check.stdout
    rendered = tmp_path / "gatebot.yaml"
    render = subprocess.run([sys.executable, "-m", "rs_vla_guard", "fleet", "render", str(fleet), "--robot",
                             "gatebot", "-o", str(rendered)], capture_output=True, text=True)
    assert render.returncode == 0, render.stderr
    expected_hash = re.search(r"config_hash (\w+)", rendered.read_text()).group(1)
    process = h.start_node(DOMAIN, str(rendered), log_path=str(tmp_path / "gate.log"))

    def command(linear_x, angular_z, frame=LEFT):
        def publish():
            msg = TwistStamped()
            msg.header.stamp = probe.now()
            msg.twist.linear.x, msg.twist.angular.z = linear_x, angular_z
            probe.command_pub.publish(msg)
            probe.image_pub.publish(h.image_msg(frame, probe.now()))
        return publish

    try:
        agree = lambda: probe.certificates and any(abs(m.twist.angular.z - 0.45) < 1e-9 for _, m in probe.twists)  # noqa: E731
        assert probe.wait_for(agree, 120, publish=command(0.0, 0.45)), open(tmp_path / "gate.log").read()[-2000:]
        probe.spin(0.3)  # the certificate of the forwarded command (it carries the command's twist)
        values = next(v for _, _, v in reversed(probe.statuses_since(0)) if float(v["angular_z"]) == 0.45)
        assert values["config_hash"] == expected_hash and values["radius_threshold"] == "0.2"
        since = time.monotonic()
        assert probe.wait_for(lambda: "disagrees_with_command" in probe.reasons_since(since), 10,
                              publish=command(0.3, 0.0))
        seen = time.monotonic()  # from here on, every command disagrees: every twist must be zero
        probe.wait_for(lambda: False, 2.0, publish=command(0.3, 0.0))
        late = [m for t, m in probe.twists if t >= seen + 0.5]
        assert late and all(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for m in late)
        assert json.loads(values["counts"])
        # On the move/turn border only the fallback set certifies: a command of either member passes.
        forwarded = lambda: any(abs(m.twist.linear.x - 0.15) < 1e-9 for t, m in probe.twists if t >= seen)  # noqa: E731
        assert probe.wait_for(forwarded, 10, publish=command(0.15, 0.0, BORDER))
        probe.spin(0.3)  # the certificate follows its twist
        assert "move_forward+turn_left" in {s.message for _, s in probe.certificates}
        since = time.monotonic()
        assert probe.wait_for(lambda: "disagrees_with_command" in probe.reasons_since(since), 10,
                              publish=command(0.0, -0.45, BORDER))
    finally:
        h.stop_node(process)
    probe.clear()
