"""``rs-vla-guard demo``: the guard node in the loop (camera, instruction, guard and monitor processes on a
private ROS domain and namespace), or ``--table``: certified decisions on fixed scenes, without ROS."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Tuple

from ..tasks.blocks import Block, Scene
from .processes import die_with_parent
from .tables import decision_row, format_table

# Every demo process runs on its own ROS domain (whatever ROS_DOMAIN_ID the caller has) and under this
# namespace, so on a robot's computer nothing of the demo reaches a base listening on /cmd_vel.
DEMO_DOMAIN_ID = 57
DEMO_NAMESPACE = "/rs_vla_guard_demo"


class DemoError(Exception):
    """The demo cannot run here (message for the user)."""


def demo_scenes() -> List[Tuple[str, Scene, str]]:
    """A fixed, readable set of scenes covering every action, distractors and an absent target."""
    return [
        ("red block ahead, far", Scene([Block("red", 0.5, 0.15)]), "red"),
        ("red block on the left", Scene([Block("red", 0.15, 0.2)], floor="textured"), "red"),
        ("blue block on the right", Scene([Block("blue", 0.82, 0.22), Block("yellow", 0.3, 0.15)]), "blue"),
        ("green block reached", Scene([Block("green", 0.5, 0.55)]), "green"),
        ("asked blue, only red", Scene([Block("red", 0.5, 0.2)]), "blue"),
        ("green left, red right", Scene([Block("green", 0.2, 0.2), Block("red", 0.8, 0.2)], floor="textured"),
         "red"),
        ("empty floor", Scene([], floor="textured"), "green"),
        ("red on the border", Scene([Block("red", 0.35, 0.2)]), "red"),
    ]


def table(overrides: Dict[str, Any]) -> int:
    """Certify the demo scenes with the built-in policy and print one row per decision."""
    from ..guard import Guard
    from ..tasks import blocks

    print("rs_vla_guard demo: built-in policy, randomized-smoothing certificates at the defaults")
    guard = Guard.from_config(overrides)
    p = guard.params
    print(f"model {guard.policy.model_id}  sigma={p['sigma']} alpha={p['alpha']} "
          f"radius_threshold={p['radius_threshold']} n_max={p['n_max']} mode={guard.mode}/{p['certify_mode']}\n")
    rows = []
    for name, scene, colour in demo_scenes():
        instruction = blocks.instruction_for(colour)
        decision = guard.decide(blocks.render(scene), instruction)
        rows.append(decision_row(name, instruction, blocks.ground_truth_action(scene, colour), decision))
    print(format_table(rows))
    certified = sum(r["certified"] == "yes" for r in rows)
    print(f"\n{certified}/{len(rows)} certified; uncertified steps publish the safe action "
          f"'{p['safe_action']}' with the reason shown.")
    return 0


def ros_demo(overrides: Dict[str, Any], domain_id: int = DEMO_DOMAIN_ID) -> int:
    """Camera, instruction publisher, guard node and monitor, each its own process, all on ROS domain
    ``domain_id`` (the caller's ROS_DOMAIN_ID is not used) under :data:`DEMO_NAMESPACE`, discovery limited
    to this machine."""
    if importlib.util.find_spec("rclpy") is None:  # fail early with a clear message
        raise DemoError("ROS 2 (rclpy) is not installed; try 'rs-vla-guard demo --table'")
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)
    env["PYTHONUNBUFFERED"] = "1"
    logs = tempfile.mkdtemp(prefix="rs_vla_guard_demo_")
    namespace = ["-r", f"__ns:={DEMO_NAMESPACE}"]
    guard_args = [sys.executable, "-m", "rs_vla_guard.ros.guard_node", "--ros-args"] + namespace
    for name, value in overrides.items():
        guard_args += ["-p", f"{name}:={json.dumps(value) if isinstance(value, str) else value}"]  # YAML-safe
    print("rs_vla_guard demo: a synthetic camera, an instruction publisher, the guard node and a monitor, each in "
          f"its own process, on their own ROS domain {domain_id} (ROS_DOMAIN_ID of this shell not used) under "
          f"namespace {DEMO_NAMESPACE}, discovery on this machine only: nothing here drives a robot. "
          f"Node logs in {logs}.")
    print("Loading the built-in policy; the scene starts when the guard is active (about 30 s of script).\n")
    nodes = [sys.executable, "-m", "rs_vla_guard.ros.demo_nodes"]
    helpers = []
    try:
        for role, command in (("guard_node", guard_args), ("camera", nodes + ["camera", "--ros-args"] + namespace),
                              ("instruction", nodes + ["instruction", "--ros-args"] + namespace)):
            log = open(os.path.join(logs, f"{role}.log"), "w")
            helpers.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent))
        monitor = subprocess.run(nodes + ["monitor", "--ros-args"] + namespace, env=env, timeout=300,
                                 preexec_fn=die_with_parent)
    finally:
        for process in helpers:
            if process.poll() is None:
                process.send_signal(2)
        for process in helpers:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    if monitor.returncode != 0:
        print(f"rs-vla-guard demo: no certified decision was seen; see the logs in {logs}", file=sys.stderr)
    return monitor.returncode
