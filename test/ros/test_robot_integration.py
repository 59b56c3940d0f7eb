"""What a robot team needs of the node, each with the node in its own process as a robot starts it:
namespaced fleet configurations, limits that hold at run time, e-stop and enable, a state topic,
instructions from any publisher, services during bring-up, and clean exits."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import ros_harness as h
from paths import ROOT, TEST_DIR
from rs_vla_guard import params
from rs_vla_guard.tasks import blocks

pytestmark = [pytest.mark.ros, pytest.mark.model]

DOMAIN = 68
PERIOD = 0.2
LEFT = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.2)]))


def frames(probe, frame=LEFT):
    return lambda: probe.image_pub.publish(h.image_msg(frame, probe.now()))


def certified_since(probe, since):
    return lambda: "certified" in probe.reasons_since(since)


def start(tmp_path, overrides=None, *, params_file=None, extra=(), script=None, env=None):
    """A guard node as `ros2 run` starts it; waits for nothing."""
    path = params_file or h.write_params(tmp_path / "params.yaml", overrides or {})
    log = tmp_path / "node.log"
    process = h.start_node(DOMAIN, path, log_path=str(log), extra=extra, script=script)
    return process, log


def render(tmp_path, robot):
    out = tmp_path / f"{robot}.yaml"
    result = subprocess.run([sys.executable, "-m", "rs_vla_guard", "fleet", "render",
                             os.path.join(ROOT, "config", "fleet.example.yaml"), "--robot", robot, "-o", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return str(out), re.search(r"config_hash (\w+)", out.read_text()).group(1)


def test_a_namespaced_node_runs_its_rendered_fleet_configuration(probe, tmp_path):  # probe: rclpy is set up
    path, expected_hash = render(tmp_path, "carter_02")
    assert open(path).read().count("/**/rs_vla_guard:") == 1
    probe = h.Probe(namespace="/carter_02")
    process, log = start(tmp_path, params_file=path, extra=["-r", "__ns:=/carter_02"])
    try:
        from std_msgs.msg import String

        probe.instruction_pub.publish(String(data="go to the red block"))
        assert probe.wait_for(certified_since(probe, 0), 120, publish=frames(probe)), log.read_text()[-2000:]
        values = probe.certificate_values()
        assert values["config_hash"] == expected_hash and values["radius_threshold"] == "0.3"
        got = h.get_parameters(probe, "max_linear_speed", "fleet_limits", node_name="carter_02/rs_vla_guard")
        assert got["max_linear_speed"] == 0.5 and '"max_linear_speed": {"max": 0.5}' in got["fleet_limits"]
    finally:
        h.stop_node(process)
        probe.destroy()


def test_a_node_whose_parameters_break_the_rendered_limits_refuses_to_activate(probe, tmp_path):
    path, _ = render(tmp_path, "carter_02")
    probe = h.Probe(namespace="/carter_02")
    process, log = start(tmp_path, params_file=path, extra=["-r", "__ns:=/carter_02", "-p", "max_linear_speed:=0.9"])
    try:
        errors = lambda: [m.status[0] for _, m in probe.diagnostics if m.status[0].level == m.status[0].ERROR]  # noqa: E731
        assert probe.wait_for(errors, 60), log.read_text()[-2000:]
        problems = {kv.key: kv.value for kv in errors()[0].values}["config_problems"]
        assert "max_linear_speed: 0.9 is above the fleet limit max 0.5" in problems
        assert h.request_transition(probe, "configure", node_name="carter_02/rs_vla_guard") is False
        probe.wait_for(lambda: False, 1.0, publish=frames(probe))
        assert not probe.certificates and process.poll() is None
    finally:
        h.stop_node(process)
        probe.destroy()


def test_caps_and_twists_cannot_be_raised_at_run_time_and_limits_only_tighten(probe, tmp_path):
    from std_msgs.msg import String

    process, log = start(tmp_path, {"max_linear_speed": 0.5, "action_linear_x": [0.2, 0.0, 0.0, 0.0]})
    try:
        probe.instruction_pub.publish(String(data="go to the red block"))
        assert probe.wait_for(certified_since(probe, 0), 120, publish=frames(probe)), log.read_text()[-2000:]
        [(ok, reason)] = h.set_parameters(probe, max_linear_speed=10.0)
        assert not ok and "read-only" in reason.lower()
        [(ok, reason)] = h.set_parameters(probe, action_linear_x=[5.0, 0.0, 0.0, 0.0])
        assert not ok and "exceeds max_linear_speed=0.5" in reason
        [(ok, reason)] = h.set_parameters(probe, radius_threshold=0.2)
        assert not ok and "below the 0.25 configured" in reason
        [(ok, reason)] = h.set_parameters(probe, alpha=0.01)
        assert not ok and "above the 0.001 configured" in reason
        assert h.set_parameters(probe, radius_threshold=0.3, action_linear_x=[0.5, 0.0, 0.0, 0.0]) == \
            [(True, ""), (True, "")]
        probe.wait_for(lambda: False, 2.0, publish=frames(probe))
        with probe.lock:
            speeds = [abs(m.twist.linear.x) for _, m in probe.twists]
        assert max(speeds) <= 0.5
    finally:
        h.stop_node(process)


def test_estop_stops_within_one_control_period_and_a_silent_estop_engages_it(probe, tmp_path):
    from std_msgs.msg import Bool, String

    process, log = start(tmp_path, {"estop_timeout_s": 0.5})
    estop = probe.node.create_publisher(Bool, "estop", 10)
    heartbeat = [True]

    def publish():
        probe.image_pub.publish(h.image_msg(LEFT, probe.now()))
        if heartbeat[0]:
            estop.publish(Bool(data=False))
    try:
        probe.instruction_pub.publish(String(data="go to the red block"))
        assert probe.wait_for(certified_since(probe, 0), 120, publish=publish), log.read_text()[-2000:]
        engaged = time.monotonic()
        estop.publish(Bool(data=True))
        heartbeat[0] = False
        assert probe.wait_for(lambda: "estop" in probe.reasons_since(engaged), 5, publish=frames(probe))
        first = next(t for t, _, v in probe.statuses_since(engaged) if v["reason"] == "estop")
        assert first - engaged <= PERIOD, f"first estop stop after {first - engaged:.3f} s"
        probe.wait_for(lambda: False, 1.0, publish=frames(probe))
        later = probe.statuses_since(engaged + 0.3)
        assert later and all(a == "stop" and v["reason"] == "estop" for _, a, v in later)
        heartbeat[0] = True  # released, and heard again
        estop.publish(Bool(data=False))
        since = time.monotonic()
        assert probe.wait_for(certified_since(probe, since), 10, publish=publish)
        heartbeat[0] = False  # the e-stop publisher goes silent: engaged after estop_timeout_s
        silent = time.monotonic()
        assert probe.wait_for(lambda: "estop" in probe.reasons_since(silent), 5, publish=frames(probe))
        first = next(t for t, _, v in probe.statuses_since(silent) if v["reason"] == "estop")
        assert first - silent <= 0.5 + 2 * PERIOD
        assert process.poll() is None
    finally:
        h.stop_node(process)


def test_the_enable_service_disables_with_stops_and_the_state_topic_follows(probe, tmp_path):
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_msgs.msg import String
    from std_srvs.srv import SetBool

    process, log = start(tmp_path)
    try:
        probe.instruction_pub.publish(String(data="go to the red block"))
        assert probe.wait_for(certified_since(probe, 0), 120, publish=frames(probe)), log.read_text()[-2000:]
        response = h.call_service(probe, SetBool, "/rs_vla_guard/enable", SetBool.Request(data=False))
        assert response.success and "disabled" in response.message
        since = time.monotonic()
        probe.wait_for(lambda: False, 1.5, publish=frames(probe))
        statuses = probe.statuses_since(since)
        assert statuses and all(a == "stop" and v["reason"] == "disabled" for _, a, v in statuses)
        states = []  # a late subscriber still gets the latched state
        probe.node.create_subscription(DiagnosticStatus, "/rs_vla_guard/state", states.append, h.latched_qos())
        assert probe.wait_for(lambda: states, 10)
        values = {kv.key: kv.value for kv in states[-1].values}
        assert values["enabled"] == "false" and values["lifecycle_state"] == "active"
        assert values["last_reason"] == "disabled"
        response = h.call_service(probe, SetBool, "/rs_vla_guard/enable", SetBool.Request(data=True))
        assert response.success
        since = time.monotonic()
        assert probe.wait_for(certified_since(probe, since), 10, publish=frames(probe))
        assert probe.wait_for(lambda: {kv.key: kv.value for kv in states[-1].values}["enabled"] == "true", 5)
    finally:
        h.stop_node(process)


def test_an_instruction_from_a_default_qos_publisher_is_heard(probe, tmp_path):
    from std_msgs.msg import String

    process, log = start(tmp_path)
    volatile = probe.node.create_publisher(String, "instruction", 10)  # reliable, volatile: ros2 topic pub's default
    try:
        heard = lambda: "certified" in probe.reasons_since(0)  # noqa: E731
        publish = frames(probe)

        def both():
            publish()
            volatile.publish(String(data="go to the red block"))
        assert probe.wait_for(heard, 120, publish=both), log.read_text()[-2000:]
    finally:
        h.stop_node(process)
        probe.node.destroy_publisher(volatile)


def test_services_answer_while_the_model_loads(probe, tmp_path):
    process = h.start_node(DOMAIN, h.write_params(tmp_path / "p.yaml", {}), log_path=str(tmp_path / "node.log"),
                           script=os.path.join(TEST_DIR, "fault_guard_node.py"),
                           env={"FAULT_CONFIGURE_SLEEP_S": "8"})
    try:
        started = time.monotonic()
        got = None
        while got is None and time.monotonic() - started < 60:
            got = h.get_parameters(probe, "sigma", timeout=2.0)
        assert got == {"sigma": 0.25}
        answered = time.monotonic() - started
        assert h.request_transition(probe, "activate", timeout=5) is False  # configure is still running
        assert probe.wait_for(lambda: probe.certificates, 60)
        assert time.monotonic() - started > 8.0 > answered, "the parameter service answered only after configure"
    finally:
        h.stop_node(process)


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_node_on_a_stopped_sim_clock_exits_cleanly_on_a_signal(probe, tmp_path, signal_number):
    process, log = start(tmp_path, extra=["-p", "use_sim_time:=true"])
    try:
        assert probe.wait_for(lambda: probe.diagnostics, 60), log.read_text()[-2000:]  # up; no /clock anywhere
        process.send_signal(signal_number)
        assert process.wait(10) == 0, log.read_text()[-2000:]
        assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()


def test_the_sim_node_exits_without_tracebacks(tmp_path):
    log = tmp_path / "sim.log"
    process = h.start_node(DOMAIN, module="rs_vla_guard.ros.sim_node", log_path=str(log),
                           extra=["-p", "real_time_factor:=1.0"])
    time.sleep(8)  # it renders and publishes in the meantime
    process.send_signal(signal.SIGTERM)
    code = process.wait(15)  # raises TimeoutExpired (a failure) if it hangs on the signal
    assert code == 0, (code, log.read_text()[-2000:])  # a clean exit, as launch expects of SIGTERM
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]


def test_the_launch_file_is_a_lifecycle_node_that_respawns_and_keeps_the_file_autostart():
    source = open(os.path.join(ROOT, "launch", "guard.launch.py")).read()
    assert "LifecycleNode(" in source and 'respawn=value("respawn") == "true"' in source
    assert 'DeclareLaunchArgument("autostart", default_value=""' in source
    assert 'if value("autostart") != "":' in source and "for_any_namespace(" in source


def test_parameter_files_keyed_for_the_root_namespace_are_rewritten_for_any(tmp_path):
    root = h.write_params(tmp_path / "root.yaml", {"sigma": 0.3, "autostart": False})
    rewritten = params.for_any_namespace(root, out_dir=str(tmp_path))
    assert rewritten != root and open(rewritten).read().startswith("/**/rs_vla_guard:")
    assert params.from_ros_yaml(open(rewritten).read()) == {"sigma": 0.3, "autostart": False}
    shipped = os.path.join(ROOT, "config", "guard.yaml")
    assert params.for_any_namespace(shipped) == shipped  # already keyed for any namespace
