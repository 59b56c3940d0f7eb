"""The chunk parameters' values: tube limits per joint, joint position limits, and the rules across them
(a chunk never longer than ``max_chunk_duration_s``), as :mod:`rs_vla_guard.control.chunks` applies them."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

from ..actions import parse_named_values

EVERY_JOINT = "*"


def state_joint_names(params) -> List[str]:
    """``state_joints`` as a list of joint names, in order ('' -> [])."""
    return [name.strip() for name in params["state_joints"].split(",") if name.strip()]


def parse_tube_limits(text: str) -> Dict[str, float]:
    """'shoulder: 0.1, *: 0.2' -> {'shoulder': 0.1, '*': 0.2} (widest tube per joint, rad; ``*`` = every
    joint not named); ValueError if malformed."""
    return parse_named_values(text, "joint: width")


def tube_limit(limits: Dict[str, float], joint: str) -> float:
    """The widest tube ``joint`` may have (infinite when neither it nor ``*`` is named)."""
    return limits.get(joint, limits.get(EVERY_JOINT, math.inf))


def parse_joint_limits(text: str) -> Dict[str, Tuple[float, float]]:
    """'shoulder: -0.3 1.6, elbow: 0 2.6' -> {'shoulder': (-0.3, 1.6), ...} (rad); '' -> {}. ValueError when
    an entry is not 'joint: lower upper' with finite lower < upper, or a joint repeats."""
    limits: Dict[str, Tuple[float, float]] = {}
    for part in (text or "").split(","):
        if not part.strip():
            if (text or "").strip():
                raise ValueError(f"empty entry in {text!r}")
            continue
        name, separator, values = part.partition(":")
        name = name.strip()
        try:
            bounds = [float(v) for v in values.split()] if separator else []
        except ValueError:
            bounds = []
        if not name or len(bounds) != 2 or not all(math.isfinite(b) for b in bounds) or bounds[0] >= bounds[1]:
            raise ValueError(f"{part.strip()!r} is not 'joint: lower upper' with finite lower < upper")
        if name in limits:
            raise ValueError(f"joint {name!r} appears twice")
        limits[name] = (bounds[0], bounds[1])
    return limits


NARROW_ONLY = ("chunk_tube_limits", "joint_limits")  # named-value parameters a fleet or a change may only narrow


def wider_than(name: str, allowed: str, value: str) -> List[str]:
    """How ``value`` of ``chunk_tube_limits`` or ``joint_limits`` is wider than ``allowed`` ([] when it is
    as narrow or narrower): a wider tube for some joint, or a joint range reaching outside the allowed one
    (or missing while the allowed one names it)."""
    if name == "chunk_tube_limits":
        wide, narrow = parse_tube_limits(allowed), parse_tube_limits(value)
        return [f"{name}: {joint} {tube_limit(narrow, joint):g} is wider than {tube_limit(wide, joint):g}"
                for joint in sorted(set(wide) | set(narrow)) if tube_limit(narrow, joint) > tube_limit(wide, joint)]
    wide_ranges, narrow_ranges = parse_joint_limits(allowed), parse_joint_limits(value)
    problems = []
    for joint, (low, high) in wide_ranges.items():
        mine = narrow_ranges.get(joint)
        if mine is None or mine[0] < low or mine[1] > high:
            got = f"{mine[0]:g} {mine[1]:g}" if mine else "no limits"
            problems.append(f"{name}: {joint} {got} reaches outside {low:g} {high:g}")
    return problems


def chunk_problems(params: Dict[str, Any]) -> List[str]:
    """The chunk parameters' own problems (parse errors, a chunk longer than max_chunk_duration_s)."""
    problems = []
    for name, parse in (("chunk_tube_limits", parse_tube_limits), ("joint_limits", parse_joint_limits)):
        try:
            parse(params[name])
        except ValueError as error:
            problems.append(f"{name}: {error}")
    steps, dt = params["chunk_execute_steps"], params["chunk_dt_s"]
    if steps and params["binning"] != "chunk":
        problems.append(f"chunk_execute_steps: a chunked policy needs binning chunk (got {params['binning']})")
    if steps and steps * dt > params["max_chunk_duration_s"] + 1e-9:
        problems.append(f"chunk_execute_steps: {steps} steps of chunk_dt_s {dt} s last {steps * dt:g} s, longer than "
                        f"max_chunk_duration_s {params['max_chunk_duration_s']}")
    return problems


def joint_problems(params: Dict[str, Any], joints: Sequence[str]) -> List[str]:
    """What a chunked policy over ``joints`` needs of the parameters: position limits for every joint (the
    guard never executes a waypoint it cannot check), and tube limits naming only its joints."""
    if not params["chunk_execute_steps"]:
        return []
    problems = []
    limits = parse_joint_limits(params["joint_limits"])
    missing = [joint for joint in joints if joint not in limits]
    if missing:
        problems.append(f"joint_limits: no limits for {', '.join(missing)} (the policy's joints: {', '.join(joints)})")
    unknown = [name for name in parse_tube_limits(params["chunk_tube_limits"])
               if name != EVERY_JOINT and name not in joints]
    if unknown:
        problems.append(f"chunk_tube_limits: {', '.join(unknown)} not among the policy's joints {list(joints)}")
    return problems
