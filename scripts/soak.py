"""Soak: the guard node in its own process for minutes under a mix of good frames, garbage, faults and
requests, with the node's promise checked on every command it publishes.

    .venv/bin/python scripts/soak.py [--minutes 10] [--rate 5]
    .venv/bin/python scripts/soak.py --rates 5,10,20,50,100 --minutes 0.5   # the control rates it sustains
    .venv/bin/python scripts/soak.py --state --minutes 20   # a state-taking policy and hostile inputs

``--state``: the node runs a policy that takes the robot state (the tests' stateful red seeker, two joints by
name), and the mix adds joint states (valid, NaN, infinite, a joint missing, positions fewer than names), raw
images declaring a huge size, e-stop toggles, and runtime changes the policy cannot run (an envelope limit on
a dimension it does not have), besides instructions, parameter changes, camera dropouts and lifecycle requests.

The mix, per second on average: 10 camera frames (clear scenes, border scenes, bgr8 and mono8; now and
then an unsupported encoding, a broken step, a stamp before the epoch or in the future, a 1 s camera
dropout), and every few seconds one of: a new instruction (sometimes empty or 100 kB), a parameter change
(valid or not), a policy fault for 2 s (raise RuntimeError / SystemExit / KeyboardInterrupt, NaN scores,
wrong shapes, a 0.35 s hang), a deactivate/activate pair.

Reports (JSON): commands, violations of the promise, the longest and 99th-percentile gap between
commands while active (in control periods), and the node's resident memory after the first minute
against the end (growth in percent). Not part of ``make test``; the README quotes its output.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.join(os.path.dirname(HERE), "test")
sys.path.insert(0, TEST)

import ros_harness as h  # noqa: E402

DOMAIN = 93


def scenes():
    from rs_vla_guard.tasks import blocks

    return [blocks.render(blocks.Scene([blocks.Block("red", x, 0.2)])) for x in (0.15, 0.31, 0.5, 0.85)]


STATE_PARAMS = {"policy": "python:guard_test_policies:stateful_red_seeker", "state_joints": "shoulder, elbow",
                "state_timeout_s": 0.5}


class Soak:
    def __init__(self, probe, process, rate_hz, seed=0, state=False):
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, String

        self.probe, self.process, self.rate_hz, self.state = probe, process, rate_hz, state
        self.joints = probe.node.create_publisher(JointState, "joint_states", 10)
        self.estop = probe.node.create_publisher(Bool, "estop", 10)
        self.JointState, self.Bool = JointState, Bool
        self.estop_until = 0.0
        self.instruction_until = 0.0
        self.rng = np.random.default_rng(seed)
        self.frames = scenes()
        self.fault = probe.node.create_publisher(String, "fault", 10)
        self.mirror = h.Mirror({"image_timeout_s": 0.5, "control_rate_hz": rate_hz, **(STATE_PARAMS if state else {})})
        self.String = String
        self.inactive = []  # (from, to) wall-clock intervals when the node was deactivated on purpose
        self.dropout_until = 0.0
        self.fault_until = 0.0

    def frame_message(self):
        probe, rng = self.probe, self.rng
        frame = self.frames[int(rng.integers(len(self.frames)))]
        roll = rng.random()
        if roll < 0.1:
            msg = h.image_msg(np.ascontiguousarray(frame[:, :, ::-1]), probe.now(), encoding="bgr8")
        elif roll < 0.15:
            msg = h.image_msg(np.ascontiguousarray(frame[:, :, 0]), probe.now(), encoding="mono8")
        else:
            msg = h.image_msg(frame, probe.now())
        roll = rng.random()
        if self.state and roll < 0.03:  # a raw image declaring 20000 x 20000 with a frame's bytes
            msg.width, msg.height, msg.step = 20000, 20000, 60000
        elif roll < 0.02:
            msg.encoding = "yuv422"
        elif roll < 0.04:
            msg.step += 5
        elif roll < 0.05:
            msg.header.stamp.sec = -100
        elif roll < 0.06:
            msg.header.stamp.sec += 60
        return msg

    def joint_state(self):
        rng = self.rng
        msg = self.JointState()
        msg.header.stamp = self.probe.now()
        msg.name, msg.position = ["elbow", "shoulder", "wrist"], [0.2, 0.1, 0.0]
        roll = rng.random()
        if roll < 0.04:
            msg.position = [float("nan"), 0.1, 0.0]
        elif roll < 0.06:
            msg.position = [0.2, float("inf"), 0.0]
        elif roll < 0.08:
            msg.name = ["wrist", "shoulder"]
            msg.position = [0.0, 0.1]
        elif roll < 0.09:
            msg.position = [0.2]
        return msg

    def event(self):
        probe, rng, String = self.probe, self.rng, self.String
        kinds = ["instruction", "parameter", "parameter", "lifecycle", "dropout"]
        kinds += ["estop", "envelope"] if self.state else ["fault"]
        kind = rng.choice(kinds)
        if kind == "estop":
            self.estop.publish(self.Bool(data=True))
            self.estop_until = time.monotonic() + 1.0
            return
        if kind == "envelope":  # a dimension the policy does not have: refused, the node keeps deciding
            [(accepted, _)] = h.set_parameters(probe, envelope_limits=str(rng.choice(["angular_zz: 0.3", "yaw: 1"])))
            assert not accepted, "a change the policy cannot run was accepted"
            return
        if kind == "instruction":
            text = str(rng.choice(["go to the red block", "go to the red block", "go to the blue block", "",
                                   "go to the red block " * 5000]))
            probe.instruction_pub.publish(String(data=text))
            if text != "go to the red block":
                self.instruction_until = time.monotonic() + 2.0  # a bad or other instruction for 2 s
        elif kind == "parameter":
            name, value = [("radius_threshold", 0.3), ("radius_threshold", 0.25), ("radius_threshold", 0.9),
                           ("sigma", 0.2), ("sigma", 0.25), ("alpha", 0.7), ("fallback_sets", ""),
                           ("fallback_sets", "move_forward+turn_left, move_forward+turn_right"),
                           ("safe_action", "turn_left"), ("safe_action", "stop"),
                           ("certify_mode", "fixed"), ("certify_mode", "sequential")][int(rng.integers(12))]
            [(accepted, _)] = h.set_parameters(probe, **{name: value})
            self.mirror.apply(name, value, accepted)
        elif kind == "fault":
            self.fault.publish(String(data=str(rng.choice(["raise:RuntimeError", "raise:SystemExit", "nan", "shape",
                                                           "raise:KeyboardInterrupt", "hang:0.35"]))))
            self.fault_until = time.monotonic() + 2.0
        elif kind == "lifecycle":
            started = time.time()
            assert h.request_transition(probe, "deactivate") is not None
            probe.spin(0.5)
            assert h.request_transition(probe, "activate") is not None
            self.inactive.append((started, time.time() + 0.3))
        else:
            self.dropout_until = time.monotonic() + 1.0

    def run(self, seconds):
        from std_msgs.msg import String

        probe = self.probe
        probe.instruction_pub.publish(String(data="go to the red block"))
        started = time.monotonic()
        next_event = started + 3.0
        memory = []
        while time.monotonic() - started < seconds:
            now = time.monotonic()
            if now >= self.fault_until > 0:
                self.fault.publish(String(data="none"))
                self.fault_until = 0.0
            if now >= next_event:
                self.event()
                next_event = time.monotonic() + float(self.rng.uniform(2.0, 5.0))
            if now >= self.instruction_until > 0:
                probe.instruction_pub.publish(String(data="go to the red block"))
                self.instruction_until = 0.0
            if now >= self.estop_until > 0:
                self.estop.publish(self.Bool(data=False))
                self.estop_until = 0.0
            if now >= self.dropout_until:
                probe.image_pub.publish(self.frame_message())
                if self.state:
                    self.joints.publish(self.joint_state())
            probe.spin(0.1)
            if not memory or now - memory[-1][0] >= 10.0:
                memory.append((now, h.rss_mb(self.process.pid)))
            with probe.lock:  # keep the probe's records small on long runs
                for records in (probe.actions, probe.diagnostics):
                    del records[:-200]
        return started, memory


def report(probe, soak, started, memory, rate_hz):
    violations, commands = [], 0
    for _, action, values in probe.statuses_since(started):
        commands += 1
        try:
            h.check_command(action, values, soak.mirror.by_hash)
        except AssertionError as error:
            violations.append(str(error)[:300])
    stamps = sorted(probe.twist_stamps_since(started + 2.0))
    period = 1.0 / rate_hz
    gaps = [b - a for a, b in zip(stamps, stamps[1:])
            if not any(x - 0.5 <= a <= y + 0.5 for x, y in soak.inactive)]
    after_warm_up = [m for t, m in memory if t - started >= 60.0] or [m for _, m in memory]
    decisions = [(t, float(v["latency_ms"])) for t, _, v in probe.statuses_since(started)
                 if v["held"] == "false" and int(v["n_samples"])]
    minutes = {}
    for t, latency in decisions:
        minutes.setdefault(int((t - started) // 60), []).append(latency)
    latency_by_minute = [round(float(np.median(v)), 1) for _, v in sorted(minutes.items())]
    reasons = {}
    for _, _, v in probe.statuses_since(started):
        reasons[v["reason"]] = reasons.get(v["reason"], 0) + 1
    growth = 100.0 * (memory[-1][1] - after_warm_up[0]) / after_warm_up[0]
    return {
        "control_rate_hz": rate_hz, "seconds": round(time.monotonic() - started, 1), "commands": commands,
        "commands_per_s": round(commands / (time.monotonic() - started), 2), "violations": len(violations),
        "violation_examples": violations[:3], "longest_gap_periods": round(max(gaps) / period, 3),
        "p99_gap_periods": round(float(np.percentile(gaps, 99)) / period, 3),
        "rss_mb_first": round(memory[0][1], 1), "rss_mb_after_first_minute": round(after_warm_up[0], 1),
        "rss_mb_end": round(memory[-1][1], 1), "rss_growth_percent": round(growth, 2),
        "rss_mb_each_minute": [round(m, 1) for t, m in memory if round(t - started) % 60 < 10],
        "node_alive": soak.process.poll() is None, "decision_latency_ms_p50_each_minute": latency_by_minute,
        "reasons": reasons,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5.0, help="control_rate_hz of the node")
    parser.add_argument("--rates", default="", help="comma-separated control rates: one run each")
    parser.add_argument("--state", action="store_true", help="a state-taking policy and hostile inputs")
    args = parser.parse_args()
    h.use_domain(DOMAIN)
    import rclpy

    rclpy.init()
    probe = h.Probe(name="soak_probe")
    rates = [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]
    try:
        for rate in rates:
            overrides = {"control_rate_hz": rate, **(STATE_PARAMS if args.state else {})}
            env = {"PYTHONPATH": os.path.join(TEST, "user_policies")} if args.state else None
            process = h.start_node(DOMAIN, h.write_params("/tmp/soak_params.yaml", overrides),
                                   script=None if args.state else os.path.join(TEST, "fault_guard_node.py"),
                                   log_path="/tmp/soak_node.log", env=env)
            try:
                assert probe.wait_for(lambda: len(probe.certificates) > 0, 120), "the guard node did not start"
                soak = Soak(probe, process, rate, state=args.state)
                started, memory = soak.run(args.minutes * 60.0)
                print(json.dumps(report(probe, soak, started, memory, rate)), flush=True)
            finally:
                h.stop_node(process)
                probe.clear()
    finally:
        probe.destroy()
        rclpy.shutdown()


if __name__ == "__main__":
    main()
