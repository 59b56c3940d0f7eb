"""Validation of a configuration: each value on its own (type, range, finiteness), then the rules across
parameters (actions, envelopes, extents), and whether the threshold can be certified at all with alpha split
as the guard splits it over a decision's tests (:func:`decision_hypotheses`)."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

from .. import actions as _actions
from .. import certification as _certification
from .chunks import chunk_problems
from .limits import limit_problems, parse_limits
from .schema import SCHEMA, defaults, value_problem


def validate(params: Dict[str, Any]) -> List[str]:
    """Every problem with ``params`` (unknown names, types, ranges, cross-parameter rules)."""
    problems = []
    for name, value in params.items():
        if name not in SCHEMA:
            problems.append(f"{name}: unknown parameter")
            continue
        problem = value_problem(SCHEMA[name], value)
        if problem:
            problems.append(problem)
    broken = {p.split(":", 1)[0] for p in problems}
    device = params.get("device", "auto")
    if "device" not in broken and not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(device)):
        problems.append(f"device: must be auto, cpu, cuda or cuda:N, got {device!r}")
    action_parameters = {"actions", "safe_action", "action_linear_x", "action_angular_z", "max_linear_speed",
                         "max_angular_speed", "fallback_sets", "binning", "action_dimensions"}
    if not broken & action_parameters:
        problems += _actions.problems({name: params.get(name, SCHEMA[name].default) for name in action_parameters})
    envelope = {"continuous_command", "certify_target", "envelope_limits"}
    if not broken & envelope:
        problems += _envelope_problems(*(params.get(name, SCHEMA[name].default) for name in sorted(envelope)))
    names = {"envelope_limits", "action_dimensions", "policy"}
    if not broken & names and not any(p.startswith("envelope_limits") for p in problems) and \
            "continuous_command" not in broken and "certify_target" not in broken:
        problems += _envelope_names(*(params.get(name, SCHEMA[name].default) for name in sorted(names)))
    extents = {"extent_checks", "extent_smoothing", "extent_blur_smoothing", "certify_target", "alpha", "n_max"}
    extent_broken = bool(broken & extents) or any(p.startswith(("extent_checks", "extent_smoothing")) for p in problems)
    if not extent_broken:
        problems += _extent_problems(*(params.get(name, SCHEMA[name].default) for name in sorted(extents)),
                                     split=lambda: decision_hypotheses({**defaults(), **params}))
    statistics = {"sigma", "alpha", "radius_threshold", "n_max", "oracle_error", "symmetric_oracle", "certify_mode",
                  "continuous_command", "certify_target", "action_dimensions", "extent_checks", "chunk_execute_steps"}
    extent_broken = extent_broken or any(p.startswith(("extent_checks", "extent_smoothing")) for p in problems)
    if not broken & statistics and not extent_broken:
        complete = {**defaults(), **params}
        problems += certifiable_problems(complete, hypotheses=decision_hypotheses(complete))
    chunk = {"chunk_tube_limits", "joint_limits", "chunk_execute_steps", "chunk_dt_s", "max_chunk_duration_s", "binning"}
    if not broken & chunk:
        problems += chunk_problems({name: params.get(name, SCHEMA[name].default) for name in chunk})
    if params.get("fleet_limits") and "fleet_limits" not in broken:
        try:
            limits = parse_limits(params["fleet_limits"])
        except ValueError as error:
            problems.append(f"fleet_limits: {error}")
        else:
            problems += limit_problems({**defaults(), **params}, limits)
    return problems


def extent_thresholds(params: Dict[str, Any]) -> Dict[str, float]:
    """``extent_checks`` as transform -> the extent its certificate must reach (ValueError if malformed)."""
    return _extent_values(params["extent_checks"], "transform: extent")


def extent_smoothings(params: Dict[str, Any], names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """transform -> its :class:`~.certification.extent.ExtentSmoothing` under ``extent_smoothing`` and
    ``extent_blur_smoothing``, for ``names`` (default: every entry of ``extent_checks``)."""
    from ..certification import extent

    scales = _extent_values(params["extent_smoothing"], "transform: scale")
    names = list(extent_thresholds(params)) if names is None else list(names)
    return extent.smoothings(scales, params["extent_blur_smoothing"], names=names)


def _extent_values(text: str, form: str) -> Dict[str, float]:
    from ..certification.extent import TRANSFORMS

    values = _actions.parse_named_values(text, form)
    unknown = [name for name in values if name not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transform {unknown[0]!r}; use {', '.join(TRANSFORMS)}")
    return values


def _extent_problems(alpha: float, certify_target: str, extent_blur_smoothing: str, extent_checks: str,
                     extent_smoothing: str, n_max: int, *, split) -> List[str]:
    """Extent checks must name known transforms, with extents their smoothing can certify within ``n_max``
    samples at their share of ``alpha`` (``split()``: the tests alpha is split over, as the guard splits it)."""
    from ..certification.extent import first_extent_look

    problems = []
    for name, text, form in (("extent_checks", extent_checks, "transform: extent"),
                             ("extent_smoothing", extent_smoothing, "transform: scale")):
        try:
            _extent_values(text, form)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    if problems:
        return problems
    params = {"extent_checks": extent_checks, "extent_smoothing": extent_smoothing,
              "extent_blur_smoothing": extent_blur_smoothing}
    smoothings, thresholds = extent_smoothings(params), extent_thresholds(params)
    for name, extent in thresholds.items():
        smoothing = smoothings[name]
        if smoothing.distribution == "uniform" and not smoothing.reachable(extent):
            problems.append(f"extent_checks: {name} {extent:g} is beyond what {smoothing.distribution} smoothing "
                            f"of scale {smoothing.scale:g} can certify (at most {smoothing.scale / 2:g}); raise its "
                            f"extent_smoothing")
        elif first_extent_look(smoothing, extent, alpha=alpha / split(), n_max=n_max) is None:
            problems.append(f"extent_checks: {name} {extent:g} needs more than n_max {n_max} samples even when all "
                            f"agree ({smoothing.distribution} smoothing of scale {smoothing.scale:g}); raise n_max or "
                            f"its extent_smoothing")
    if smoothings and certify_target == "envelope":
        problems.append("extent_checks: certify the action class (certify_target class or both), not envelopes alone")
    return problems


def _envelope_problems(certify_target: str, continuous_command: str, envelope_limits: str) -> List[str]:
    """Envelope certification certifies the smoothed median, so it needs it executed, and limits to check."""
    try:
        limits = _actions.parse_envelope_limits(envelope_limits)
    except ValueError as error:
        return [f"envelope_limits: {error}"]
    if certify_target == "class":
        return []
    problems = []
    if continuous_command != "median":
        problems.append(f"certify_target: {certify_target} certifies the smoothed median command; set "
                        f"continuous_command to median (got {continuous_command})")
    if not limits:
        problems.append(f"envelope_limits: certify_target {certify_target} needs at least one limit, e.g. "
                        f"'angular_z: 0.3'")
    return problems


def _envelope_names(action_dimensions: Sequence[str], envelope_limits: str, policy: str) -> List[str]:
    """Envelope limits must name action dimensions. The built-in policies' dimensions are
    ``action_dimensions``; a model directory or a user's policy names its own, which the guard checks when it
    loads it (and the node checks again for every runtime change)."""
    try:
        limits = _actions.parse_envelope_limits(envelope_limits)
    except ValueError as error:
        return [f"envelope_limits: {error}"]
    if not str(policy).startswith("builtin"):
        return []
    unknown = [name for name in limits if name not in action_dimensions]
    return [f"envelope_limits: {', '.join(unknown)} not among the action dimensions {list(action_dimensions)}"] \
        if unknown else []


def decision_hypotheses(params: Dict[str, Any], *, dimensions: Optional[int] = None,
                        action_mode: Optional[bool] = None) -> int:
    """The tests one decision's alpha is split over, as the guard splits it (Bonferroni): the class test,
    one envelope per action dimension when envelopes are computed (a continuous policy executing the median
    or certifying envelopes), and one per extent check. ``dimensions`` and ``action_mode`` are the policy's
    (the guard knows them); without them, ``action_dimensions`` and envelope settings that ask for envelopes."""
    count = len(params["action_dimensions"]) if dimensions is None else dimensions
    if params["chunk_execute_steps"]:  # a tube over the executed waypoints replaces the envelopes
        return 1 + params["chunk_execute_steps"] * count + len(extent_thresholds(params))
    wants_envelopes = params["continuous_command"] == "median" or params["certify_target"] != "class"
    envelopes = wants_envelopes if action_mode is None else (action_mode and wants_envelopes)
    return 1 + (count if envelopes else 0) + len(extent_thresholds(params))


def certifiable_problems(params: Dict[str, Any], *, hypotheses: int = 1) -> List[str]:
    """A configuration whose n_max is too small for even unanimous samples to certify the threshold at the
    class test's share of alpha (alpha / ``hypotheses``) is refused: every decision would run to n_max and
    stop."""
    sigma, radius_threshold, n_max = params["sigma"], params["radius_threshold"], params["n_max"]
    alpha, oracle_error = params["alpha"], params["oracle_error"]
    needed = _certification.smallest_certifying_n(sigma=sigma, alpha=alpha / hypotheses,
                                                  radius_threshold=radius_threshold, oracle_error=oracle_error,
                                                  symmetric_oracle=params["symmetric_oracle"],
                                                  certify_mode=params["certify_mode"])
    if needed is not None and needed <= n_max:
        return []
    split = f" (alpha {alpha} split over {hypotheses} tests)" if hypotheses > 1 else ""
    setting = f"radius_threshold {radius_threshold} at sigma {sigma}, alpha {alpha}" + (
        f", oracle_error {oracle_error}" if oracle_error else "") + split
    if needed is None:
        return [f"radius_threshold: {setting} can never be certified (p* = Phi(radius_threshold / sigma) "
                f"is out of reach); lower radius_threshold or raise sigma"]
    return [f"n_max: {n_max} samples can never certify {setting}: unanimous samples first do at n = {needed}; "
            f"raise n_max to at least {needed} or lower radius_threshold"]
