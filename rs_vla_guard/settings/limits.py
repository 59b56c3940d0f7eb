"""Fleet limits: bounds no robot's configuration may cross (``min``, ``max``, ``max_abs``, ``allowed``,
``equals`` per parameter), as the fleet file's ``limits`` and a rendered file's ``fleet_limits`` state them."""
from __future__ import annotations

import json
from typing import Any, Dict, List

from .schema import SCHEMA

LIMIT_KINDS = ("min", "max", "max_abs", "allowed", "equals")


def parse_limits(text: str) -> Dict[str, Dict[str, Any]]:
    """``fleet_limits`` (JSON) -> {parameter: {kind: bound}}; ValueError when malformed."""
    try:
        limits = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(limits, dict):
        raise ValueError("must be a JSON object of parameter: {kind: bound}")
    problems = []
    for name, rule in limits.items():
        if name not in SCHEMA:
            problems.append(f"limits.{name}: unknown parameter")
        elif not isinstance(rule, dict) or not rule or set(rule) - set(LIMIT_KINDS):
            problems.append(f"limits.{name}: must be a mapping of {', '.join(LIMIT_KINDS)}")
    if problems:
        raise ValueError("; ".join(problems))
    return limits


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
    return problems
