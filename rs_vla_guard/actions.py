"""What the guard can publish, and why: the action vocabulary, fallback-set labels, the twist table and
its caps, and the one list of decision reasons. No torch, no rclpy.

Every other module takes action names and reasons from here; the parameter schema (:mod:`.params`)
takes its defaults from here too.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from . import certification

# ---------------------------------------------------------------- actions

MOVE_FORWARD = "move_forward"
TURN_LEFT = "turn_left"
TURN_RIGHT = "turn_right"
STOP = "stop"
MOVE_BACKWARD = "move_backward"
GRASP = "grasp"
RELEASE = "release"

# The mobile-base vocabulary of the built-in task and the default parameters, in table order.
DEFAULT_ACTIONS: Tuple[str, ...] = (MOVE_FORWARD, TURN_LEFT, TURN_RIGHT, STOP)
DEFAULT_SAFE_ACTION = STOP
# Twist of each default action (REP 103: x forward, positive yaw counter-clockwise = left).
DEFAULT_LINEAR_X: Tuple[float, ...] = (0.2, 0.0, 0.0, 0.0)
DEFAULT_ANGULAR_Z: Tuple[float, ...] = (0.0, 0.6, -0.6, 0.0)

# ---------------------------------------------------------------- reasons (every decision says why)

CERTIFIED = certification.CERTIFIED
BELOW_THRESHOLD = certification.BELOW_THRESHOLD
ABSTAIN = certification.ABSTAIN
DEADLINE_EXCEEDED = certification.OUT_OF_TIME
NO_IMAGE = "no_image"
STALE_IMAGE = "stale_image"
INVALID_IMAGE = "invalid_image"
NO_INSTRUCTION = "no_instruction"
INVALID_INSTRUCTION = "invalid_instruction"
POLICY_ERROR = "policy_error"
INACTIVE = "inactive"
DISAGREES_WITH_COMMAND = "disagrees_with_command"
NO_COMMAND = "no_command"
ESTOP = "estop"
DISABLED = "disabled"

# reason -> what it means (README and docs are checked against this list)
REASONS: Dict[str, str] = {
    CERTIFIED: "the action's certified radius reaches radius_threshold",
    BELOW_THRESHOLD: "a certificate exists but its radius is below radius_threshold",
    ABSTAIN: "the noisy outputs do not favour any action (p_lower <= 1/2)",
    DEADLINE_EXCEEDED: "the decision could not finish within deadline_s",
    NO_IMAGE: "no camera frame has arrived yet",
    STALE_IMAGE: "the latest frame is older than image_timeout_s",
    INVALID_IMAGE: "the frame cannot be decoded (encoding, size, step, data)",
    NO_INSTRUCTION: "no instruction, an empty one, or one older than instruction_timeout_s",
    INVALID_INSTRUCTION: "the instruction is longer than max_instruction_chars",
    POLICY_ERROR: "the policy raised; the error is in the certificate's detail",
    INACTIVE: "the node is not active (deactivated or shutting down)",
    DISAGREES_WITH_COMMAND: "gate mode: the upstream command's direction is not the certified action",
    NO_COMMAND: "gate mode: no fresh upstream command",
    ESTOP: "the e-stop input is engaged (a true message, or a silent e-stop publisher when estop_timeout_s > 0)",
    DISABLED: "the guard was disabled through its enable service",
}
STOP_REASONS: Tuple[str, ...] = tuple(r for r in REASONS if r != CERTIFIED)

# ---------------------------------------------------------------- fallback sets and labels

SET_SEPARATOR = "+"


def parse_fallback_sets(text: str) -> List[Tuple[str, ...]]:
    """'a+b, c+d' -> [('a', 'b'), ('c', 'd')]; '' -> []. ValueError if malformed."""
    text = text or ""
    sets: List[Tuple[str, ...]] = []
    for part in text.split(","):
        if not part.strip():
            if text.strip():
                raise ValueError(f"empty set in {text!r}")
            continue
        members = tuple(m.strip() for m in part.split(SET_SEPARATOR))
        if len(members) < 2 or not all(members) or len(set(members)) != len(members):
            raise ValueError(f"{part.strip()!r} must be two or more distinct actions joined by '{SET_SEPARATOR}'")
        if any(set(members) == set(s) for s in sets):
            raise ValueError(f"{part.strip()!r} is listed twice")
        sets.append(members)
    return sets


def fallback_sets(params: Dict[str, Any]) -> List[Tuple[str, ...]]:
    """The parsed ``fallback_sets`` parameter."""
    return parse_fallback_sets(params.get("fallback_sets", ""))


def set_label(members: Sequence[str]) -> str:
    """The published label of a fallback set: its members joined by '+'."""
    return SET_SEPARATOR.join(members)


def members_of(params: Dict[str, Any], label: str) -> List[str]:
    """The actions a published label stands for: itself, or a fallback set's members."""
    return [label] if label in params["actions"] else label.split(SET_SEPARATOR)


# ---------------------------------------------------------------- twists


def capped(params: Dict[str, Any], linear_x: float, angular_z: float) -> Tuple[float, float]:
    """A twist clamped to ``max_linear_speed`` / ``max_angular_speed``."""
    cap_linear, cap_angular = params["max_linear_speed"], params["max_angular_speed"]
    return (max(-cap_linear, min(cap_linear, linear_x)), max(-cap_angular, min(cap_angular, angular_z)))


def twist_of(params: Dict[str, Any], label: str) -> Tuple[float, float]:
    """(linear.x, angular.z) of an action, or the mean of its members' twists for a fallback set label;
    capped at ``max_linear_speed`` / ``max_angular_speed``. ValueError for an unknown label."""
    actions = list(params["actions"])
    indices = [actions.index(m) for m in members_of(params, label)]
    linear = sum(params["action_linear_x"][i] for i in indices) / len(indices)
    angular = sum(params["action_angular_z"][i] for i in indices) / len(indices)
    return capped(params, linear, angular)


# ---------------------------------------------------------------- validation


def problems(params: Dict[str, Any]) -> List[str]:
    """What is wrong with the action set, safe action, twist table, caps and fallback sets of ``params``
    (values already type-checked by the schema in :mod:`.params`), each as 'parameter: why'."""
    found = []
    actions = list(params["actions"])
    if len(set(actions)) != len(actions):
        found.append(f"actions: must be distinct names, got {actions}")
    safe = params["safe_action"]
    if safe not in actions:
        found.append(f"safe_action: {safe!r} is not one of actions {actions}")
    for table in ("action_linear_x", "action_angular_z"):
        values = params[table]
        if len(values) != len(actions):
            found.append(f"{table}: needs one value per action ({len(actions)}), got {len(values)}")
    try:
        sets = fallback_sets(params)
    except ValueError as error:
        found.append(f"fallback_sets: {error}")
    else:
        unknown = [a for s in sets for a in s if a not in actions]
        if unknown:
            found.append(f"fallback_sets: {', '.join(sorted(set(unknown)))} not among actions {actions}")
        if any(safe in s for s in sets):
            found.append("fallback_sets: the safe action may not be a member (a set with it would move "
                         "where the policy may want to stop)")
    if found:
        return found
    index = actions.index(safe)
    for table, cap in (("action_linear_x", "max_linear_speed"), ("action_angular_z", "max_angular_speed")):
        values, limit = params[table], params[cap]
        if values[index] != 0:
            found.append(f"{table}: the safe action {safe!r} must be a zero twist, got {values[index]}")
        too_fast = [f"{a}={v}" for a, v in zip(actions, values) if abs(v) > limit]
        if too_fast:
            found.append(f"{table}: exceeds {cap}={limit}: {', '.join(too_fast)}")
    return found
