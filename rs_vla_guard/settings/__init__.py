"""Settings: the one parse and validation of the guard's parameters, into a typed, frozen
:class:`GuardSettings` (the schema of :mod:`.schema`, the cross-parameter rules and the alpha split of
:mod:`.validation`, fleet limits of :mod:`.limits`, runtime changes, the configuration hash, and ROS
parameter files of :mod:`.files`). No rclpy, no torch.

``rs_vla_guard.params`` is the old name of this module and still works.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Optional

from .. import actions as _actions
from .files import for_any_namespace, from_ros_yaml, node_key, read_params_file, ros_parameters, to_ros_yaml
from .limits import LIMIT_KINDS, limit_problems, parse_limits
from .chunks import NARROW_ONLY, wider_than
from .schema import NODE_NAME, PARAMETERS, SCHEMA, TIGHTEN_ONLY, ConfigError, Param, defaults
from .validation import (certifiable_problems, decision_hypotheses, extent_smoothings, extent_thresholds,
                         validate)

__all__ = ["ConfigError", "GuardSettings", "LIMIT_KINDS", "NODE_NAME", "PARAMETERS", "Param", "SCHEMA", "TIGHTEN_ONLY",
           "certifiable_problems", "config_hash", "decision_hypotheses", "defaults", "effective", "extent_smoothings",
           "extent_thresholds", "for_any_namespace", "from_ros_yaml", "limit_problems", "node_key", "parse",
           "parse_limits", "read_params_file", "ros_parameters", "runtime_change", "to_ros_yaml", "validate"]


class GuardSettings(Mapping):
    """A validated, complete configuration: every parameter of the schema, read as ``settings["sigma"]``
    or ``settings.sigma``; frozen (a change makes a new one, :meth:`replace`, validated again).

    Made only by :func:`parse` (alias :func:`effective`), so holding one means holding a configuration
    that passed every check: types, ranges, finiteness, the cross-parameter rules, and a threshold that
    can be certified at the share of alpha the guard gives the class test."""

    __slots__ = ("_values", "_hash")

    def __init__(self, values: Dict[str, Any], _token: object = None):
        if _token is not _PARSED:
            raise TypeError("GuardSettings are made by rs_vla_guard.settings.parse(overrides)")
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, name: str) -> Any:
        value = self._values[name]
        return list(value) if isinstance(value, list) else value  # a copy: nobody edits a frozen list

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("GuardSettings are frozen; use replace(**changes)")

    def __hash__(self) -> int:
        return hash(self.config_hash)

    def __repr__(self) -> str:
        return f"GuardSettings(config_hash={self.config_hash})"

    @property
    def config_hash(self) -> str:
        if self._hash is None:
            object.__setattr__(self, "_hash", config_hash(self._values))
        return self._hash

    def replace(self, **changes: Any) -> "GuardSettings":
        """These settings with ``changes``, validated (ConfigError when invalid)."""
        return parse({**self._values, **changes})


_PARSED = object()


def parse(overrides: Optional[Mapping] = None) -> GuardSettings:
    """Defaults with ``overrides`` applied and validated; raises :class:`ConfigError` listing every problem."""
    params = defaults()
    for name, value in (overrides or {}).items():
        params[name] = list(value) if isinstance(value, (list, tuple)) else value
    for name, param in SCHEMA.items():  # YAML and ROS may spell 256 as 256.0, and 1 as 1 for a float
        value = params.get(name)
        if param.kind is int and isinstance(value, float) and value.is_integer():
            params[name] = int(value)
        elif param.kind is float and isinstance(value, int) and not isinstance(value, bool):
            params[name] = float(value)
    problems = validate(params)
    if problems:
        raise ConfigError(problems)
    return GuardSettings(params, _PARSED)


effective = parse  # the old name


def config_hash(params: Dict[str, Any]) -> str:
    """Short stable hash of an effective configuration (key order and int/float spelling ignored)."""
    canonical = {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                 for k, v in sorted(params.items())}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- runtime changes


def runtime_change(configured: Dict[str, Any], current: Dict[str, Any], changes: Dict[str, Any]) -> Dict[str, Any]:
    """The configuration after ``changes`` to the running ``current`` one, or ConfigError listing why not.

    Besides everything :func:`effective` checks: read-only parameters keep the value they were configured
    with, and the safety limits fixed at configure (``configured``) may only be tightened: no lower
    radius_threshold or oracle_error, no higher alpha or image_timeout_s, no longer instruction_timeout_s
    (or turning it off), symmetric_oracle not switched on, envelope checks only added or narrowed
    (certify_target only to both), extent checks only added or raised. Speed caps are read-only, and every twist must
    stay within them, so no accepted change can command a faster twist than the caps configured."""
    merged = effective({**current, **changes})
    problems = [f"{name}: read-only, needs a reconfigure" for name in changes
                if SCHEMA[name].read_only and merged[name] != configured[name]]
    for name, direction in TIGHTEN_ONLY.items():
        if name not in changes:
            continue
        old, new = configured[name], merged[name]
        if name == "instruction_timeout_s":
            if old > 0 and not 0 < new <= old:
                problems.append(f"{name}: may only be shortened at run time (configured {old})")
        elif (new - old) * direction < 0:
            bound = "below" if direction > 0 else "above"
            problems.append(f"{name}: {new} is {bound} the {old} configured; reconfigure to loosen it")
    problems += _checks_loosened(configured, merged, changes)
    if changes.get("symmetric_oracle") and not configured["symmetric_oracle"]:
        problems.append("symmetric_oracle: may not be switched on at run time (it loosens every bound)")
    if problems:
        raise ConfigError(problems)
    return merged


def _checks_loosened(configured: Dict[str, Any], merged: Dict[str, Any], changes: Dict[str, Any]) -> List[str]:
    """Envelope and extent checks may be added or tightened at run time, never dropped or loosened."""
    problems = []
    strictness = {"class": 0, "envelope": 0, "both": 1}
    old_target, new_target = configured["certify_target"], merged["certify_target"]
    if "certify_target" in changes and new_target != old_target and strictness[new_target] <= strictness[old_target]:
        problems.append(f"certify_target: {old_target} -> {new_target} drops a check; only -> both at run time")
    if "envelope_limits" in changes:
        old_limits = _actions.parse_envelope_limits(configured["envelope_limits"])
        new_limits = _actions.parse_envelope_limits(merged["envelope_limits"])
        for name, width in old_limits.items():
            if new_limits.get(name, float("inf")) > width:
                problems.append(f"envelope_limits: {name} may only narrow at run time (configured {width})")
    for name in NARROW_ONLY:
        if name in changes:
            problems += [f"{problem} configured; only narrowing at run time"
                         for problem in wider_than(name, configured[name], merged[name])]
    if "extent_checks" in changes:
        old_extents, new_extents = extent_thresholds(configured), extent_thresholds(merged)
        for name, extent in old_extents.items():
            if new_extents.get(name, 0.0) < extent:
                problems.append(f"extent_checks: {name} may only rise at run time (configured {extent:g})")
    return problems
