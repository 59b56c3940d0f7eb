"""Fleet limits: bounds no robot's configuration may cross (``min``, ``max``, ``max_abs``, ``allowed``,
``equals`` per parameter; ``within`` for ``chunk_tube_limits`` and ``joint_limits``: no tube wider, no joint
range reaching outside), as the fleet file's ``limits`` and a rendered file's ``fleet_limits`` state them."""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List

from .chunks import NARROW_ONLY, wider_than
from .schema import SCHEMA, value_problem

LIMIT_KINDS = ("min", "max", "max_abs", "allowed", "equals", "within")


def parse_limits(text: str) -> Dict[str, Dict[str, Any]]:
    """``fleet_limits`` (JSON) -> {parameter: {kind: bound}}; ValueError when malformed."""
    try:
        limits = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(limits, dict):
        raise ValueError("must be a JSON object of parameter: {kind: bound}")
    problems = [problem for name, rule in limits.items() for problem in rule_problems(name, rule)]
    if problems:
        raise ValueError("; ".join(problems))
    return limits


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rule_problems(name: str, rule: Any) -> List[str]:
    """Why a fleet limit ``limits.<name>: rule`` cannot bind ([] when it can): an unknown parameter, a rule
    that is not a mapping of the limit kinds, a bound that is not a finite number (min, max, max_abs >= 0,
    on numeric parameters only), an ``allowed`` that is not a non-empty list of valid values of the
    parameter, an ``equals`` that is not a valid value. A limit that does not bind would let every robot
    through, so it is refused instead."""
    where = f"limits.{name}"
    if name not in SCHEMA:
        return [f"{where}: unknown parameter"]
    if not isinstance(rule, dict) or not rule or set(rule) - set(LIMIT_KINDS):
        return [f"{where}: must be a mapping of {', '.join(LIMIT_KINDS)}"]
    param, problems = SCHEMA[name], []
    numeric = param.kind in (int, float) or (param.kind is list and not isinstance(param.default[0], str))
    for kind in ("min", "max", "max_abs"):
        if kind not in rule:
            continue
        bound = rule[kind]
        if not numeric:
            problems.append(f"{where}.{kind}: {name} is not a number; use allowed or equals")
        elif not _is_number(bound):
            problems.append(f"{where}.{kind}: must be a finite number, got {bound!r}")
        elif kind == "max_abs" and bound < 0:
            problems.append(f"{where}.max_abs: must be >= 0, got {bound!r}")
    if "allowed" in rule:
        allowed = rule["allowed"]
        if not isinstance(allowed, list) or not allowed:
            problems.append(f"{where}.allowed: must be a non-empty list of values, got {allowed!r}")
        else:
            bad = [value_problem(param, value) for value in allowed]
            problems += [f"{where}.allowed: {problem}" for problem in bad if problem]
    if "equals" in rule:
        problem = value_problem(param, rule["equals"])
        if problem:
            problems.append(f"{where}.equals: {problem}")
    if "within" in rule:
        if name not in NARROW_ONLY:
            problems.append(f"{where}.within: only for {', '.join(NARROW_ONLY)}")
        elif not isinstance(rule["within"], str) or not rule["within"].strip():
            problems.append(f"{where}.within: must be a non-empty value of {name}, got {rule['within']!r}")
        else:
            try:
                wider_than(name, rule["within"], rule["within"])
            except ValueError as error:
                problems.append(f"{where}.within: {error}")
    return problems


def limit_problems(params: Dict[str, Any], limits: Dict[str, Dict[str, Any]]) -> List[str]:
    """Every way ``params`` breaks the fleet ``limits`` ({parameter: {min|max|max_abs|allowed|equals: ...}})."""
    problems = []
    for name, rule in limits.items():
        value = params.get(name)
        values = value if isinstance(value, list) else [value]
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if "min" in rule and any(v < rule["min"] for v in numeric):
            problems.append(f"{name}: {value} is below the fleet limit min {rule['min']}")
        if "max" in rule and any(v > rule["max"] for v in numeric):
            problems.append(f"{name}: {value} is above the fleet limit max {rule['max']}")
        if "max_abs" in rule and any(abs(v) > rule["max_abs"] for v in numeric):
            problems.append(f"{name}: {value} exceeds the fleet limit max_abs {rule['max_abs']}")
        if "allowed" in rule and any(v not in rule["allowed"] for v in values):
            problems.append(f"{name}: {value!r} is not among the fleet's allowed {rule['allowed']}")
        if "equals" in rule and value != rule["equals"]:
            problems.append(f"{name}: {value!r} must equal the fleet value {rule['equals']!r}")
        if "within" in rule:
            try:
                problems += [f"{problem} (the fleet's)" for problem in wider_than(name, rule["within"], value)]
            except ValueError as error:
                problems.append(f"{name}: {error}")
    return problems
