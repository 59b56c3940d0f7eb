"""Fleet safety configuration: fleet-wide limits, shared defaults, per-robot overrides.

File layout::

    limits:             # bounds no robot may cross
      radius_threshold: {min: 0.2}
      alpha: {max: 0.01}
      action_linear_x: {max_abs: 0.5}
      certify_mode: {allowed: [sequential, fixed]}
      allow_blind_policy: {equals: false}
    defaults:           # parameters every robot starts from (on top of the built-in defaults)
      sigma: 0.25
    robots:
      carter_01: {}
      carter_02: {radius_threshold: 0.3, policy: /opt/models/vla}

A robot's effective parameters are: built-in defaults <- ``defaults`` <- its overrides. Each must
pass the parameter schema and every limit; :func:`check` lists every violation by robot and key.
:func:`render` writes a robot's ROS parameter file (for any namespace, ``/**/rs_vla_guard:``) that
also carries the fleet's limits (parameter ``fleet_limits``): the node refuses a configuration that
breaks them, whatever overrides it is started with.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

from . import settings as P
from .settings.limits import rule_problems
from .settings.yaml_files import YamlFileError, load_yaml_file


class FleetError(ValueError):
    """The fleet file itself is malformed (not a per-robot violation)."""


def load(path: str) -> Dict[str, Any]:
    """The fleet file at ``path``, read by the bounded loader (size, aliases, duplicate keys, depth) and
    checked for its layout; FleetError (one line) otherwise."""
    try:
        document = load_yaml_file(path)
    except YamlFileError as error:
        raise FleetError(f"fleet file {error}") from None
    if not isinstance(document, dict):
        raise FleetError(f"fleet file {path} must be a mapping with limits, defaults and robots")
    unknown = set(document) - {"limits", "defaults", "robots"}
    if unknown:
        raise FleetError(f"unknown top-level keys in {path}: {', '.join(sorted(unknown))}")
    robots = document.get("robots")
    if not isinstance(robots, dict) or not robots:
        raise FleetError(f"fleet file {path} names no robots (a 'robots:' mapping is required)")
    for section in ("limits", "defaults"):
        if not isinstance(document.get(section) or {}, dict):
            raise FleetError(f"'{section}' in {path} must be a mapping")
    return document


def robot_parameters(document: Dict[str, Any], robot: str) -> Dict[str, Any]:
    """Built-in defaults <- fleet defaults <- robot overrides (not yet validated)."""
    robots = document["robots"]
    if robot not in robots:
        raise FleetError(f"no robot {robot!r} in the fleet (robots: {', '.join(sorted(robots))})")
    params = P.defaults()
    params.update(document.get("defaults") or {})
    params.update(robots[robot] or {})
    return params


def check(document: Dict[str, Any]) -> Dict[str, List[str]]:
    """Every violation, by robot: schema problems and fleet-limit breaches. Empty lists mean all good."""
    limits = document.get("limits") or {}
    structural = [problem for name, rule in limits.items() for problem in rule_problems(name, rule)]
    if structural:
        raise FleetError("; ".join(structural))
    report = {}
    for robot in document["robots"]:
        overrides = document["robots"][robot]
        if overrides is not None and not isinstance(overrides, dict):
            report[robot] = [f"overrides must be a mapping, got {overrides!r}"]
            continue
        params = robot_parameters(document, robot)
        problems = P.validate(params)
        problems += P.limit_problems(params, limits)
        report[robot] = problems
    return report


def render(document: Dict[str, Any], robot: str, source: str = "") -> str:
    """The robot's ROS parameter file; FleetError if the robot violates the schema or a limit."""
    problems = check(document).get(robot)
    if problems is None:
        robot_parameters(document, robot)  # raises the "no robot" error
    if problems:
        raise FleetError(f"robot {robot} violates the fleet configuration: " + "; ".join(problems))
    params = robot_parameters(document, robot)
    if document.get("limits"):
        params["fleet_limits"] = json.dumps(document["limits"], sort_keys=True)
    params = P.effective(params)
    header = (f"rs_vla_guard parameters for robot '{robot}', rendered from {source or 'a fleet file'}.\n"
              f"Do not edit: change the fleet file and render again. config_hash {P.config_hash(params)}")
    return P.to_ros_yaml(params, header=header)
