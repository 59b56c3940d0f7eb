"""Real ROS 2 plumbing for tests: the guard node in its own process, a probe node in the test process.

Discovery stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) and every test module uses
its own ROS_DOMAIN_ID, so runs do not hear each other.
"""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import yaml

from rs_vla_guard import actions, params

from rs_vla_guard.tools.processes import die_with_parent

from paths import ROOT


def ros_env(domain_id: int) -> dict:
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1",
               RCUTILS_LOGGING_BUFFERED_STREAM="0", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    env.pop("ROS_LOCALHOST_ONLY", None)
    return env


def latched_qos():
    """The QoS of instructions and of the sim's episode (the package's own profile)."""
    from rs_vla_guard.ros.qos import LATCHED

    return LATCHED


def use_domain(domain_id: int) -> None:
    """Point this (test) process at ``domain_id`` before rclpy.init."""
    os.environ.update(ros_env(domain_id))


def write_params(path, params: dict) -> str:
    with open(path, "w") as handle:
        yaml.safe_dump({"rs_vla_guard": {"ros__parameters": params}}, handle)
    return str(path)


def start_node(domain_id: int, params_file: str = None, *, script: str = None, module: str = "rs_vla_guard.ros.guard_node",
               log_path=None, extra=(), env=None):
    """The guard node (or ``script``/``module``, another node) as a separate process, like ``ros2 run``;
    ``env``: more environment variables."""
    if script and os.access(script, os.X_OK) and not script.endswith(".py"):
        args = [script, "--ros-args"]  # an installed entry point: its own shebang picks the interpreter
    else:
        args = [sys.executable] + ([script] if script else ["-m", module]) + ["--ros-args"]
    if params_file:
        args += ["--params-file", params_file]
    args += list(extra)
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    return subprocess.Popen(args, env={**ros_env(domain_id), **(env or {})}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)  # a killed test run leaves no node behind


def stop_node(process, timeout=10.0) -> None:
    if process.poll() is None:
        process.send_signal(2)  # SIGINT, as ros2 launch does
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def image_msg(frame: np.ndarray, stamp, encoding="rgb8", frame_id="camera"):
    """sensor_msgs/Image of ``frame`` (the package's own conversion, imported once ROS is set up)."""
    from rs_vla_guard.ros.messages import image_msg as build

    return build(frame, stamp, encoding=encoding, frame_id=frame_id)


class Probe:
    """A test-side rclpy node: publishes camera frames and instructions, records everything the guard says."""

    def __init__(self, name="probe", stamped=True, namespace=""):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
        from geometry_msgs.msg import Twist, TwistStamped
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from rs_vla_guard.ros.qos import SENSOR_DATA

        self.node = rclpy.create_node(name, namespace=namespace)
        latched = latched_qos()
        self.image_pub = self.node.create_publisher(Image, "image", SENSOR_DATA)
        self.instruction_pub = self.node.create_publisher(String, "instruction", latched)
        twist = TwistStamped if stamped else Twist
        self.command_pub = self.node.create_publisher(twist, "cmd_vel_in", 10)
        self.lock = threading.RLock()  # predicates passed to wait_for may read under the lock too
        self.actions, self.twists, self.certificates, self.diagnostics = [], [], [], []
        self.node.create_subscription(String, "action", lambda m: self._add(self.actions, m.data), 50)
        self.node.create_subscription(twist, "cmd_vel", lambda m: self._add(self.twists, m), 50)
        self.node.create_subscription(DiagnosticStatus, "certificate", lambda m: self._add(self.certificates, m), 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: self._add(self.diagnostics, m), 50)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def _add(self, into, item):
        with self.lock:
            into.append((time.monotonic(), item))

    def now(self):
        return self.node.get_clock().now().to_msg()

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def clear(self) -> None:
        """Forget everything heard so far, including messages still queued (a stopped node's last stop)."""
        self.spin(0.5)
        with self.lock:
            for records in (self.actions, self.twists, self.certificates, self.diagnostics):
                records.clear()

    def certificate_values(self, index=-1) -> dict:
        with self.lock:
            status = self.certificates[index][1]
        return {kv.key: kv.value for kv in status.values}

    def wait_for(self, predicate, timeout: float, publish=None, period: float = 0.1) -> bool:
        """Spin (calling ``publish`` every ``period``) until ``predicate()`` holds or ``timeout`` passes."""
        end = time.monotonic() + timeout
        next_publish = 0.0
        while time.monotonic() < end:
            if publish is not None and time.monotonic() >= next_publish:
                publish()
                next_publish = time.monotonic() + period
            self.executor.spin_once(timeout_sec=0.02)
            with self.lock:
                if predicate():
                    return True
        return False

    def statuses_since(self, since: float):
        """[(reception time, published action, certificate values)] heard since ``since``."""
        with self.lock:
            return [(t, s.message, {kv.key: kv.value for kv in s.values}) for t, s in self.certificates if t >= since]

    def twist_stamps_since(self, since: float):
        """Header stamps (seconds, the node's clock at publication) of the cmd_vel heard since ``since``."""
        with self.lock:
            return [stamp_seconds(m.header.stamp) for t, m in self.twists if t >= since]

    def reasons_since(self, since: float):
        with self.lock:
            out = []
            for t, status in self.certificates:
                if t >= since:
                    out.append({kv.key: kv.value for kv in status.values}["reason"])
            return out

    def destroy(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def call_service(probe, srv_type, name, request, timeout=10.0):
    """Call a service from the probe node and return the response (None on timeout)."""
    client = probe.node.create_client(srv_type, name)
    try:
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        future = client.call_async(request)
        end = time.monotonic() + timeout
        while not future.done() and time.monotonic() < end:
            probe.executor.spin_once(timeout_sec=0.05)
        return future.result() if future.done() else None
    finally:
        probe.node.destroy_client(client)


def get_parameters(probe, *names, node_name="rs_vla_guard", timeout=10.0):
    """The guard node's parameter values by name (None when the service did not answer in time)."""
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    response = call_service(probe, GetParameters, f"/{node_name}/get_parameters", GetParameters.Request(names=list(names)),
                            timeout=timeout)
    return None if response is None else dict(zip(names, (parameter_value_to_python(v) for v in response.values)))


def set_parameters(probe, node_name="rs_vla_guard", **values):
    """Set parameters on the guard node; returns [(successful, reason)] per parameter."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    response = call_service(probe, SetParameters, f"/{node_name}/set_parameters", request)
    return [(r.successful, r.reason) for r in response.results]


def set_parameters_atomically(probe, node_name="rs_vla_guard", **values):
    """Set several parameters on the guard node in one atomic request: (successful, reason), or None."""
    from rcl_interfaces.srv import SetParametersAtomically
    from rclpy.parameter import Parameter

    request = SetParametersAtomically.Request(
        parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    response = call_service(probe, SetParametersAtomically, f"/{node_name}/set_parameters_atomically", request)
    return None if response is None else (response.result.successful, response.result.reason)


TRANSITIONS = {"configure": 1, "cleanup": 2, "activate": 3, "deactivate": 4, "shutdown": 5}  # lifecycle_msgs ids


def request_transition(probe, transition_label, node_name="rs_vla_guard", timeout=30.0):
    """The change_state response (success True/False), or None when the node never answered."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    request = ChangeState.Request(transition=Transition(id=TRANSITIONS[transition_label]))
    response = call_service(probe, ChangeState, f"/{node_name}/change_state", request, timeout=timeout)
    return None if response is None else response.success


def change_state(probe, transition_label, node_name="rs_vla_guard"):
    return bool(request_transition(probe, transition_label, node_name))


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


# ---------------------------------------------------------------- the node's promise, checked on its outputs


class Mirror:
    """The configurations the node may be running, by hash, kept from the answers to parameter requests."""

    def __init__(self, overrides):
        self.current = params.effective(overrides)
        self.by_hash = {params.config_hash(self.current): self.current}

    def apply(self, name, value, accepted):
        if accepted:
            self.current = params.effective({**self.current, name: value})
            self.by_hash[params.config_hash(self.current)] = self.current


def check_command(action, values, by_hash):
    """The invariant on one published command (its certificate carries the twist and the config hash)."""
    config = by_hash[values["config_hash"]]
    twist = (float(values["linear_x"]), float(values["angular_z"]))
    assert values["reason"] in actions.REASONS, values
    assert len(values["detail"]) <= 300 and values["detail"].isprintable()
    if action != config["safe_action"]:
        assert values["certified"] == "true" and values["reason"] == actions.CERTIFIED, (action, values)
        assert float(values["radius"]) >= float(values["radius_threshold"]) == config["radius_threshold"]
        assert 0.0 <= abs(float(values["image_age_ms"])) <= config["image_timeout_s"] * 1e3, values
        expected = actions.twist_of(config, action)
        assert all(abs(a - b) <= 1e-6 for a, b in zip(twist, expected)), (action, values)
    else:
        assert twist == (0.0, 0.0), (action, values)
