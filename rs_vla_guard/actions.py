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

# An arm's vocabulary: the dominant end-effector axis and its sign, the gripper, and hold.
MOVE_X_POS, MOVE_X_NEG = "move_x_pos", "move_x_neg"
MOVE_Y_POS, MOVE_Y_NEG = "move_y_pos", "move_y_neg"
MOVE_Z_POS, MOVE_Z_NEG = "move_z_pos", "move_z_neg"
OPEN_GRIPPER, CLOSE_GRIPPER = "open_gripper", "close_gripper"
HOLD = "hold"
MOVE = "move"  # a chunked policy's chunk that moves a joint (binning chunk)
ARM_ACTIONS: Tuple[str, ...] = (MOVE_X_POS, MOVE_X_NEG, MOVE_Y_POS, MOVE_Y_NEG, MOVE_Z_POS, MOVE_Z_NEG, OPEN_GRIPPER,
                                CLOSE_GRIPPER, HOLD)
# The command dimensions each binning reads, by name, and their default order.
BASE_DIMENSIONS: Tuple[str, ...] = ("linear_x", "angular_z")
ARM_DIMENSIONS: Tuple[str, ...] = ("ee_x", "ee_y", "ee_z", "gripper")

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
NO_STATE = "no_state"
STALE_STATE = "stale_state"
INVALID_STATE = "invalid_state"
POLICY_ERROR = "policy_error"
INACTIVE = "inactive"
DISAGREES_WITH_COMMAND = "disagrees_with_command"
NO_COMMAND = "no_command"
ESTOP = "estop"
DISABLED = "disabled"
ENVELOPE_TOO_WIDE = "envelope_too_wide"
EXTENT_TOO_SMALL = "extent_too_small"
CHUNK_TOO_WIDE = "chunk_too_wide"
JOINT_LIMIT = "joint_limit"

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
    NO_STATE: "the policy takes the robot state and no state message has arrived",
    STALE_STATE: "the latest robot state is older than state_timeout_s",
    INVALID_STATE: "the latest robot state cannot be used: a value that is not finite, no values, the wrong number "
                   "of them, or (joint_states) a joint of state_joints missing",
    POLICY_ERROR: "the policy raised; the error is in the certificate's detail",
    INACTIVE: "the node is not active (deactivated or shutting down)",
    DISAGREES_WITH_COMMAND: "gate mode: the upstream command's direction is not the certified action",
    NO_COMMAND: "gate mode: no fresh upstream command",
    ESTOP: "the e-stop input is engaged (a true message, or a silent e-stop publisher when estop_timeout_s > 0)",
    DISABLED: "the guard was disabled through its enable service",
    ENVELOPE_TOO_WIDE: "a certified envelope is wider than its envelope_limits entry at radius_threshold, or "
                       "(certify_target both) the smoothed median command lies outside the certified action's class",
    EXTENT_TOO_SMALL: "an extent_checks entry (brightness, contrast, blur or shift) did not certify: the action may "
                      "change within that much of the physical change",
    CHUNK_TOO_WIDE: "a chunked policy's certified tube is wider than chunk_tube_limits for a joint at "
                    "radius_threshold (or too few samples bound it)",
    JOINT_LIMIT: "the executed chunk would leave joint_limits, or move a joint faster than max_joint_speed (the "
                 "first waypoint against the measured position)",
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


def parse_envelope_limits(text: str) -> Dict[str, float]:
    """'angular_z: 0.3, linear_x: 0.1' -> {'angular_z': 0.3, 'linear_x': 0.1} (widest certified envelope per
    named action dimension); '' -> {}. ValueError if malformed."""
    return parse_named_values(text, "dimension: width")


def parse_named_values(text: str, form: str = "name: value") -> Dict[str, float]:
    """'a: 0.3, b: 0.1' -> {'a': 0.3, 'b': 0.1}, each value finite and > 0 (envelope limits, extent checks,
    extent smoothing scales); '' -> {}. ValueError naming ``form`` if malformed or a name repeats."""
    limits: Dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            if (text or "").strip():
                raise ValueError(f"empty entry in {text!r}")
            continue
        name, separator, value = part.partition(":")
        name = name.strip()
        try:
            width = float(value) if separator else float("nan")
        except ValueError:
            width = float("nan")
        if not name or not width > 0 or width == float("inf"):
            raise ValueError(f"{part.strip()!r} must be '{form}' with a finite value > 0")
        if name in limits:
            raise ValueError(f"{name!r} is listed twice")
        limits[name] = width
    return limits


# ---------------------------------------------------------------- twists


def capped(params: Dict[str, Any], linear_x: float, angular_z: float) -> Tuple[float, float]:
    """A twist clamped to ``max_linear_speed`` / ``max_angular_speed``."""
    cap_linear, cap_angular = params["max_linear_speed"], params["max_angular_speed"]
    return (max(-cap_linear, min(cap_linear, linear_x)), max(-cap_angular, min(cap_angular, angular_z)))


def twist_of(params: Dict[str, Any], label: str) -> Tuple[float, float]:
    """(linear.x, angular.z) of an action, or the mean of its members' twists for a fallback set label;
    capped at ``max_linear_speed`` / ``max_angular_speed``; zero for an arm (it moves by ``vector_of``).
    ValueError for an unknown label."""
    if params.get("binning") == "arm":
        members_of(params, label)
        return 0.0, 0.0
    actions = list(params["actions"])
    indices = [actions.index(m) for m in members_of(params, label)]
    linear = sum(params["action_linear_x"][i] for i in indices) / len(indices)
    angular = sum(params["action_angular_z"][i] for i in indices) / len(indices)
    return capped(params, linear, angular)


ARM_MOVES = {MOVE_X_POS: (0, 1.0), MOVE_X_NEG: (0, -1.0), MOVE_Y_POS: (1, 1.0), MOVE_Y_NEG: (1, -1.0),
             MOVE_Z_POS: (2, 1.0), MOVE_Z_NEG: (2, -1.0)}


def vector_of(params: Dict[str, Any], label: str, dimensions) -> Tuple[float, ...]:
    """An arm's command in ``dimensions`` order for an action (or the mean of a set's members): a move at
    ``arm_speed`` along its axis, the gripper at +1 (close) or -1 (open), hold at zero."""
    vectors = []
    for member in members_of(params, label):
        vector = [0.0] * len(dimensions)
        if member in ARM_MOVES and ARM_DIMENSIONS[ARM_MOVES[member][0]] in dimensions:
            axis, sign = ARM_MOVES[member]
            vector[list(dimensions).index(ARM_DIMENSIONS[axis])] = sign * params["arm_speed"]
        elif member in (OPEN_GRIPPER, CLOSE_GRIPPER) and "gripper" in dimensions:
            vector[list(dimensions).index("gripper")] = 1.0 if member == CLOSE_GRIPPER else -1.0
        vectors.append(vector)
    return tuple(sum(values) / len(vectors) for values in zip(*vectors))


def capped_vector(params: Dict[str, Any], vector, dimensions) -> Tuple[float, ...]:
    """An arm command with every end-effector axis within ``arm_speed`` (the gripper within [-1, 1])."""
    out = []
    for name, value in zip(dimensions, vector):
        limit = 1.0 if name == "gripper" else params["arm_speed"]
        out.append(max(-limit, min(limit, float(value))))
    return tuple(out)


# ---------------------------------------------------------------- validation


def problems(params: Dict[str, Any]) -> List[str]:
    """What is wrong with the action set, safe action, twist table, caps and fallback sets of ``params``
    (values already type-checked by the schema in :mod:`.params`), each as 'parameter: why'."""
    found = []
    actions = list(params["actions"])
    arm = params.get("binning") in ("arm", "chunk")
    if len(set(actions)) != len(actions):
        found.append(f"actions: must be distinct names, got {actions}")
    safe = params["safe_action"]
    if safe not in actions:
        found.append(f"safe_action: {safe!r} is not one of actions {actions}")
    needed = () if params.get("binning") == "chunk" else ARM_DIMENSIONS[:3] if arm else BASE_DIMENSIONS
    missing = [name for name in needed if name not in params.get("action_dimensions", BASE_DIMENSIONS)]
    if missing:
        found.append(f"action_dimensions: {params.get('binning', 'base')} binning needs {', '.join(missing)}")
    if arm:
        if safe != HOLD:
            found.append(f"safe_action: an arm's safe action is {HOLD!r} (no motion), got {safe!r}")
        return found  # an arm moves by its own table (arm_speed); the twist tables do not apply
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
