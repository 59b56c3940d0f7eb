"""Closed-loop episodes in the MuJoCo arena, guarded and unguarded, clean and attacked.

Lockstep in sim time: every control period the camera frame is rendered, the attacker (if any)
perturbs it inside its L2 budget, then either the guard decides (guarded) or the base policy's action
on that frame is executed directly (unguarded baseline), and the world advances by one control period
with that action's twist. The same seed gives the same layout, noise and attacks in both conditions.

Per episode: reached the named block, reached another block, collisions (steps touching a wall or a
non-target block), time to goal, fraction of steps stopped, and attacker-induced actions (an executed
motion that differs from the base policy's action on the clean frame).

"The base policy's action on the clean frame" for a policy with its own randomness (pi0's flow-matching
noise) is not one draw: a single draw disagrees with the policy's usual answer 5-15% of the time near a
border, attack or not. The guarded robot is compared with the policy's most likely action on the clean
frame (the mode of ``CLEAN_DRAWS`` draws), which is what a certified class must equal; the unguarded
robot with the same draw on the clean frame (the same policy noise), so that only the attack can make
them differ. For deterministic policies both are the one answer.

Recovery behaviour. A memoryless certify-or-stop controller deadlocks on its own decision borders:
driving towards an off-centre block makes the block drift outwards in the image a few thousandths of
the width per step, so the robot inevitably arrives where the smoothed classifier is split between
``move_forward`` and ``turn_left`` (p_A ~ 0.8 for each side, no certificate), stops, and, since a
stopped robot sees the same frame, stays stopped. Robots handle this outside the safety layer, as
Nav2's behaviour tree does after its collision monitor stops the base: after ``recovery_after_s`` of
consecutive stops the simulated robot spins in place by a seeded random angle (independent of the
frame, so an attacker cannot steer it), then the guard decides again. Recoveries are counted per
condition; ``recovery_after_s=0`` turns them off.

Attacks on the command (``pgd_aim: yaw``, continuous policies): PGD moves the executed yaw rate as far as
it can (the guarded robot: the smoothed yaw; the bare policy: its own). Every step then also estimates
the smoothed median yaw on the *clean* frame from ``CLEAN_MEDIAN_SAMPLES`` noisy samples and records how
far the executed yaw is from it; a guarded step that executes with certified envelopes is a
*violation* when that distance exceeds the yaw envelope's width certified on the attacked frame (the
promise of ``continuous_command: median``).
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from .. import actions as A
from ..attacks import ATTACKS, COMMAND_AIMS, Attacker, attack_objective
from ..sampling import frame_to_input, make_generator
from ..tasks import blocks
from ..guard import certificate_values
from ..replay.bags import BagWriter
from ..replay.timeline import NS, frame_seed
from .recording import StripRecorder
from .world import World, random_episode

# A block is reached when the robot is at it and facing it, as one arrives at a goal (driving past a
# block at arm's length is not reaching it): robot centre within REACH_DISTANCE_M of the block's centre
# (the camera then sees the 0.3 m block ~0.33 W wide; "arrived" is 0.4 W) and the block within
# REACH_BEARING_RAD of the heading.
REACH_DISTANCE_M = 0.85
REACH_BEARING_RAD = 0.35
RECOVERY_SPIN_RATE = 0.6  # rad/s, the turn actions' rate
RECOVERY_SPIN_RAD = (0.05, 0.35)  # random magnitude: a fixed one could land back on the same border


@dataclass
class EpisodeResult:
    seed: int
    target: str
    guarded: bool
    attack: str
    eps: float
    reached_target: bool = False
    reached_wrong: bool = False
    collision_steps: int = 0
    time_to_goal_s: Optional[float] = None
    steps: int = 0
    stopped_steps: int = 0
    induced_actions: int = 0
    recoveries: int = 0
    attack_l2_max: float = 0.0
    # command aims: steps measured, guarded violations of the envelope promise, largest |executed - clean
    # smoothed median| of the aimed dimension, and steps where it exceeded that dimension's envelope limit
    command_steps: int = 0
    envelope_violations: int = 0
    command_shift_max: float = 0.0
    commands_beyond_limit: int = 0
    actions: Dict[str, int] = field(default_factory=dict)


def reached(world: World, block) -> bool:
    return world.distance_to(block) < REACH_DISTANCE_M and abs(world.bearing_to(block)) < REACH_BEARING_RAD


# What ``sim --record`` writes per episode (sim time from BAG_START_NS): the camera frame the robot saw
# (attacked, if attacked), the instruction, the executed command, odometry, and, guarded, the certificate.
RECORDED_TOPICS = {"image": "/camera/image", "instruction": "/instruction", "cmd_vel": "/cmd_vel",
                   "odom": "/odom", "certificate": "/guard/certificate"}
BAG_START_NS = 1_700_000_000 * NS  # a fixed wall-clock-like origin, so recordings of a seed are identical

CLEAN_DRAWS = 32  # draws of a stochastic policy's own noise for its most likely action on a clean frame
CLEAN_MEDIAN_SAMPLES = 2048  # noisy samples of the clean frame's smoothed median command (command aims)


def noisy_outputs(guard, pixels: torch.Tensor, instruction: str, count: int, seed: int, state=None) -> np.ndarray:
    """``count`` outputs (count x chunk x D) of the policy on noisy copies of a clean input, drawn with their own
    generator (the guard's noise sequence is left alone): what a clean frame's smoothed command is estimated
    from."""
    generator = make_generator(guard.policy.device, seed)
    outputs = []
    with torch.inference_mode():
        clean = pixels.to(guard.policy.device)
        for start in range(0, count, guard.batch_size):
            size = min(guard.batch_size, count - start)
            noisy = clean[None] + guard.params["sigma"] * torch.randn((size, *clean.shape), device=clean.device,
                                                                   generator=generator)
            outputs.append(guard.policy.act(noisy, instruction, state, generator).double().cpu())
    return torch.cat(outputs).numpy()


def _clean_smoothed_median(guard, pixels: torch.Tensor, instruction: str, column: int, seed: int) -> float:
    """The smoothed policy's median of one action dimension on a clean input, from CLEAN_MEDIAN_SAMPLES noisy
    samples (:func:`noisy_outputs`)."""
    values = guard.oracle.reduce(noisy_outputs(guard, pixels, instruction, CLEAN_MEDIAN_SAMPLES, seed))[:, column]
    return float(np.quantile(values, 0.5, method="inverted_cdf"))


def _base_action(guard, pixels: torch.Tensor, instruction: str) -> int:
    """The base policy's action index on a clean input (-1 unmapped): its answer, or, for a policy with its
    own noise (action mode), the most frequent of ``CLEAN_DRAWS`` draws."""
    draws = CLEAN_DRAWS if guard.mode == "action" else 1
    with torch.inference_mode():
        batch = pixels.unsqueeze(0).expand(draws, -1, -1, -1).contiguous().to(guard.policy.device)
        labels = np.asarray(guard.classifier(instruction)(batch)).astype(np.int64)
    values, counts = np.unique(labels, return_counts=True)
    return int(values[np.argmax(counts)])


def _unguarded(guard, pixels: torch.Tensor, instruction: str):
    """(action, twist, vector) the base policy executes without the guard: its class's table twist, or, for a
    continuous policy with ``continuous_command`` clean or median, its own command (within the speed caps
    only); ``vector`` is its own action vector (None for phrase policies)."""
    params, safe = guard.params, guard.params["safe_action"]
    with torch.inference_mode():
        batch = pixels.unsqueeze(0).to(guard.policy.device)
        if guard.mode != "action":
            index = int(guard.classifier(instruction)(batch)[0])
            action = guard.actions[index] if index >= 0 else safe
            return action, A.twist_of(params, action), None
        vector = guard.oracle.reduce(guard.policy.act(batch, instruction, None, guard.generator))
    index = int(guard.oracle(vector)[0])
    action = guard.actions[index] if index >= 0 else safe
    own = vector[0].tolist()
    if params["continuous_command"] == "table" or index < 0:
        return action, A.twist_of(params, action), own
    return action, A.capped(params, own[guard.oracle.index["linear_x"]], own[guard.oracle.index["angular_z"]]), own


def run_episode(guard, world: World, seed: int, *, guarded: bool, attack: str = "none", eps: float = 0.0,
                control_rate_hz: float = 5.0, max_time_s: float = 40.0, pgd_steps: int = 10, pgd_aim: str = "any",
                recovery_after_s: float = 2.0,
                on_step: Optional[Callable[[World, np.ndarray, str], None]] = None,
                bag: Optional[BagWriter] = None, bag_name: str = "") -> EpisodeResult:
    """One seeded episode; ``on_step(world, frame the robot saw, executed action)`` is called every
    control period (before the world advances), e.g. to record a strip.

    With ``bag``, the episode is recorded as a rosbag2 (see :data:`RECORDED_TOPICS`), and every guarded
    decision draws its noise from the replay's per-frame seed (:func:`~rs_vla_guard.replay.timeline.frame_seed`
    of the guard's seed, ``bag_name``, the camera topic and the frame's index), so ``rs-vla-guard replay``
    of the bag with the same parameters reproduces the recorded certificates."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    placed, pose, target = random_episode(np.random.default_rng(seed))
    world.reset(placed, pose)
    instruction = blocks.instruction_for(target)
    guard.generator.manual_seed(seed)  # the guard's noise is part of the episode's seed
    attacker = Attacker(attack, eps, pgd_steps=pgd_steps, pgd_aim=pgd_aim, seed=seed + 1)
    scores = attack_objective(guard, instruction, pgd_aim, smoothed=guarded) if attack == "pgd" else None
    aimed = COMMAND_AIMS.get(pgd_aim) if attack == "pgd" else None  # the action dimension a command aim moves
    aimed_column = guard.dimensions.index(aimed) if aimed else None
    aimed_limit = guard.envelope_limits.get(aimed, float("inf")) if aimed else None
    recovery_rng = np.random.default_rng(seed + 2)
    stopped_for = 0.0
    params = guard.params
    safe = params["safe_action"]
    result = EpisodeResult(seed, target, guarded, attack, eps)
    period = 1.0 / control_rate_hz
    target_block = next(b for b in placed if b.colour == target)
    if bag is not None:
        bag.string(RECORDED_TOPICS["instruction"], BAG_START_NS, instruction)
    while world.time < max_time_s:
        frame = world.frame()
        stamp_ns = BAG_START_NS + int(round(world.time * NS)) + 1  # after the instruction
        seen, achieved, clean_action, clean_median = frame, 0.0, None, None
        if attack != "none":  # clean_action, the base policy's on the clean frame, is what the attacker wants to change
            clean = torch.from_numpy(frame_to_input(frame, guard.policy.input_size))
            if aimed is not None:
                clean_median = _clean_smoothed_median(guard, clean, instruction, aimed_column,
                                                      seed * 100_003 + result.steps)
            index = _base_action(guard, clean, instruction)
            clean_action = guard.actions[index] if index >= 0 else None
            seen, achieved = attacker.perturb(clean, scores=scores, actions=guard.actions, safe_action=safe,
                                              clean_action=clean_action)
        result.attack_l2_max = max(result.attack_l2_max, achieved)
        if guarded:
            if bag is not None:
                guard.generator.manual_seed(frame_seed(params["seed"], bag_name, RECORDED_TOPICS["image"],
                                                       result.steps))
            decision = guard.decide(seen, instruction)
            action, twist = decision.action, decision.twist
            executed = decision.vector[aimed_column] if aimed is not None and decision.vector else 0.0
            if bag is not None:
                bag.certificate(RECORDED_TOPICS["certificate"], stamp_ns, "guard: certificate", decision.action,
                                decision.certified, certificate_values(decision.to_dict(), image_age_s=0.0),
                                decision.model_id)
        else:
            noise_state = guard.generator.get_state()
            action, twist, own = _unguarded(guard, torch.from_numpy(frame_to_input(seen, guard.policy.input_size)),
                                            instruction)
            executed = own[aimed_column] if aimed is not None and own is not None and action != safe else 0.0
            if clean_action is not None and guard.mode == "action":  # the same policy noise on the clean frame
                after = guard.generator.get_state()
                guard.generator.set_state(noise_state)
                own_clean = _unguarded(guard, clean, instruction)[0]
                guard.generator.set_state(after)
                clean_action = own_clean
        if bag is not None:
            bag.image(RECORDED_TOPICS["image"], stamp_ns, np.asarray(seen, np.uint8))
            bag.twist_stamped(RECORDED_TOPICS["cmd_vel"], stamp_ns, *twist)
            bag.odometry(RECORDED_TOPICS["odom"], stamp_ns, *world.pose(), *twist)
        if clean_median is not None and action != safe:  # a moving step: how far did the attack push the command?
            shift = abs(executed - clean_median)
            result.command_steps += 1
            result.command_shift_max = max(result.command_shift_max, round(shift, 6))
            result.commands_beyond_limit += shift > aimed_limit
            if guarded and decision.envelopes:
                result.envelope_violations += shift > decision.envelopes[aimed_column]["width"] + 1e-9
        result.steps += 1
        result.actions[action] = result.actions.get(action, 0) + 1
        result.stopped_steps += action == safe
        if clean_action is not None and action != safe and clean_action not in A.members_of(params, action):
            result.induced_actions += 1
        if on_step is not None:
            on_step(world, seen, action)
        world.step(*twist, period)
        touching = world.touching()
        result.collision_steps += any(name != f"block_{placed.index(target_block)}" for name in touching)
        if reached(world, target_block):
            result.reached_target, result.time_to_goal_s = True, round(world.time, 2)
            break
        if any(reached(world, b) for b in placed if b is not target_block):
            result.reached_wrong = True
            break
        stopped_for = stopped_for + period if action == safe else 0.0
        if recovery_after_s and stopped_for >= recovery_after_s - 1e-9:
            angle = recovery_rng.uniform(*RECOVERY_SPIN_RAD) * recovery_rng.choice((-1.0, 1.0))
            world.step(0.0, math.copysign(RECOVERY_SPIN_RATE, angle), abs(angle) / RECOVERY_SPIN_RATE)
            result.recoveries += 1
            stopped_for = 0.0
    return result


def summarise(results: List[EpisodeResult]) -> Dict[str, object]:
    """Figures per condition over a list of episodes of that condition."""
    count = len(results)
    times = [r.time_to_goal_s for r in results if r.time_to_goal_s is not None]
    steps = sum(r.steps for r in results)
    return {
        "episodes": count,
        "reached_target": round(sum(r.reached_target for r in results) / count, 3),
        "reached_wrong_block": round(sum(r.reached_wrong for r in results) / count, 3),
        "collision_steps": sum(r.collision_steps for r in results),
        "mean_time_to_goal_s": round(float(np.mean(times)), 2) if times else None,
        "stopped_fraction": round(sum(r.stopped_steps for r in results) / max(steps, 1), 3),
        "attacker_induced_actions": sum(r.induced_actions for r in results),
        "recoveries": sum(r.recoveries for r in results),
        "attack_l2_max": round(max(r.attack_l2_max for r in results), 4),
        "command_steps": sum(r.command_steps for r in results),
        "envelope_violations": sum(r.envelope_violations for r in results),
        "command_shift_max": round(max(r.command_shift_max for r in results), 4),
        "commands_beyond_limit": sum(r.commands_beyond_limit for r in results),
    }


MACHINE_SETTINGS = ("device", "torch_threads", "torch_compile")  # where it ran, not what it decided: not recorded


def recording_settings(guard) -> Dict[str, object]:
    """What a recording stores of the guard (:meth:`~rs_vla_guard.replay.bags.BagWriter.set_recording`): the
    seed, and every parameter that differs from its default, except :data:`MACHINE_SETTINGS`."""
    from .. import settings as P

    defaults = P.effective({})
    return {"seed": guard.params["seed"], **{k: v for k, v in guard.params.items()
                                             if k in defaults and v != defaults[k] and k not in MACHINE_SETTINGS}}


def both_conditions(run_one: Callable, *, episodes: int, seed: int, summarise: Callable, describe: Callable,
                    recorder_type=StripRecorder, progress: Callable[[str], None] = lambda line: None,
                    strip_path: Optional[str] = None, record_dir: Optional[str] = None,
                    record_settings: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    """Guarded, then unguarded, runs of the same seeded episodes (``run_one(seed, guarded, recorder, bag,
    bag_name)``): each condition's summary and episodes. With ``strip_path``, the first guarded episode is also
    written as a GIF/PNG strip; with ``record_dir``, every episode as a rosbag2 (MCAP)
    ``<guarded|unguarded>_seed<seed>`` in it. Shared by the arena's and the arm world's episodes."""
    out: Dict[str, object] = {}
    for guarded in (True, False):
        label = "guarded" if guarded else "unguarded"
        results = []
        for episode in range(episodes):
            recorder = recorder_type() if strip_path and guarded and episode == 0 else None
            name = f"{label}_seed{seed + episode:04d}"
            bag = BagWriter(os.path.join(record_dir, name)) if record_dir else None
            if bag is not None and record_settings is not None:
                bag.set_recording(record_settings)
            try:
                result = run_one(seed + episode, guarded, recorder, bag, name)
            finally:
                if bag is not None:
                    bag.close()
            if recorder is not None:
                recorder.write(strip_path)
                progress(f"wrote {strip_path} ({len(recorder.frames)} steps)")
            results.append(result)
            progress(f"{label} episode {episode + 1}/{episodes} (seed {seed + episode}, {result.target}): "
                     f"{describe(result)}")
        out[label] = summarise(results)
        out[f"{label}_episodes"] = [asdict(r) for r in results]
    return out


def run(guard, *, episodes: int, seed: int, attack: str, eps: float,
        progress: Callable[[str], None] = lambda line: None, strip_path: Optional[str] = None,
        record_dir: Optional[str] = None, **episode_options) -> Dict[str, object]:
    """Guarded and unguarded runs of the same seeded episodes (:func:`both_conditions`): the settings, both
    summaries and the episodes."""
    world = World()
    settings = {"episodes": episodes, "seed": seed, "attack": attack, "eps": eps,
                "radius_threshold": guard.params["radius_threshold"], "sigma": guard.params["sigma"],
                "model_id": guard.policy.model_id}

    def run_one(episode_seed, guarded, recorder, bag, name):
        return run_episode(guard, world, episode_seed, guarded=guarded, attack=attack, eps=eps, on_step=recorder,
                           bag=bag, bag_name=name, **episode_options)

    def describe(result):
        outcome = 'reached' if result.reached_target else 'WRONG BLOCK' if result.reached_wrong else 'not reached'
        return (f"{outcome} in {result.steps} steps, stopped {result.stopped_steps}, induced {result.induced_actions},"
                f" recoveries {result.recoveries}")

    try:
        return {"settings": settings, **both_conditions(run_one, episodes=episodes, seed=seed, summarise=summarise,
                                                        describe=describe, progress=progress, strip_path=strip_path,
                                                        record_dir=record_dir,
                                                        record_settings=recording_settings(guard))}
    finally:
        world.close()
