"""Closed-loop episodes of the arm world, guarded and unguarded, clean and attacked.

Lockstep in sim time: each decision renders the top camera, the attacker (if any) perturbs the policy
input inside its L2 budget, then either the guard decides (guarded: the certified tube's chunk, or a hold
at the measured positions on a stop) or the policy's own chunk on that frame is executed (unguarded: one
draw of its flow noise, the first ``chunk_execute_steps`` waypoints). The arm follows the waypoints
(``chunk_dt_s`` apart) as a position-controlled arm follows a joint trajectory; a stop holds for one
chunk's time. The same seed gives the same table, start pose, noise and attack in both conditions.

Per episode: ``success`` (the tip within ``REACH_DISTANCE_M`` of the named block's reach point),
decisions and stops, ``induced`` chunks and joint-limit violations (a waypoint outside the arm's joint
ranges; the simulated arm is then held at the range).

``induced``: an executed chunk with a waypoint farther from the clean frame's chunk than
``chunk_tube_limits`` allows for its joint. The guarded arm is compared with the smoothed clean-frame
chunk (the median of ``CLEAN_MEDIAN_SAMPLES`` noisy chunks of the clean input), what its tube certifies
against; the unguarded arm with its own chunk on the clean frame under the same draw of its flow noise,
so that only the attack can make them differ. PGD aims at the chunk (``pgd_aim: chunk``): the guarded arm's
expected smoothed chunk, the bare policy's own, pushed as far from the clean one as the budget allows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from ..attacks import ATTACKS, CHUNK_AIM, Attacker, attack_objective
from ..guard import certificate_values
from ..replay.bags import BagWriter
from ..replay.timeline import NS, frame_seed
from ..sampling import frame_to_input
from ..settings.chunks import tube_limit
from . import arm
from .episodes import BAG_START_NS, both_conditions, noisy_outputs, recording_settings

CLEAN_MEDIAN_SAMPLES = 256  # noisy chunks of the clean frame's smoothed median chunk
# What ``sim --world arm --record`` writes per decision (sim time from BAG_START_NS): the camera frame the
# arm saw, the joint states, the instruction, the executed chunk (a JointTrajectory; a hold when stopped), and,
# guarded, the certificate (with the chunk and its tube).
RECORDED_TOPICS = {"image": "/camera/image", "instruction": "/instruction", "joint_states": "/joint_states",
                   "certificate": "/guard/certificate", "joint_trajectory": "/joint_trajectory"}


@dataclass
class ArmEpisodeResult:
    seed: int
    target: str
    guarded: bool
    attack: str
    eps: float
    success: bool = False
    time_to_reach_s: Optional[float] = None
    decisions: int = 0
    stops: int = 0
    induced: int = 0
    joint_limit_violations: int = 0
    deviation_max: float = 0.0  # largest |executed waypoint - clean chunk| over the episode (rad)
    attack_l2_max: float = 0.0
    final_distance_m: float = 0.0


def _own_chunk(guard, pixels: torch.Tensor, instruction: str, state: torch.Tensor) -> np.ndarray:
    """The bare policy's executed waypoints (K x D) on one input, one draw of its flow noise."""
    with torch.inference_mode():
        chunk = guard.policy.act(pixels[None].to(guard.policy.device), instruction, state, guard.generator)
    return chunk[0, : guard.chunk_rules.steps].double().cpu().numpy()


def _smoothed_chunk(guard, pixels: torch.Tensor, instruction: str, state: torch.Tensor, seed: int) -> np.ndarray:
    """The smoothed policy's median chunk (K x D) on a clean input (:func:`.episodes.noisy_outputs`)."""
    chunks = noisy_outputs(guard, pixels, instruction, CLEAN_MEDIAN_SAMPLES, seed, state)[:, : guard.chunk_rules.steps]
    return np.quantile(chunks, 0.5, axis=0, method="inverted_cdf")


def run_episode(guard, world: arm.ArmWorld, seed: int, *, guarded: bool, attack: str = "none", eps: float = 0.0,
                max_decisions: int = 10, pgd_steps: int = 10,
                on_step: Optional[Callable[[arm.ArmWorld, np.ndarray, str], None]] = None,
                bag: Optional[BagWriter] = None, bag_name: str = "") -> ArmEpisodeResult:
    """One seeded episode (the named block is on the table); ``on_step(world, frame seen, action)`` before
    each chunk is executed. With ``bag``, the episode is recorded (:data:`RECORDED_TOPICS`) and every
    guarded decision draws its noise from the replay's per-frame seed, so ``rs-vla-guard replay`` with the
    same parameters and ``--state-topic /joint_states`` reproduces the recorded certificates and chunks."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    rng = np.random.default_rng(seed)
    blocks, target = arm.random_scene(rng, absent_fraction=0.0)
    world.reset(blocks, arm.random_start(rng, spread=0.2))
    instruction = arm.instruction_for(target)
    rules = guard.chunk_rules
    guard.generator.manual_seed(seed)
    attacker = Attacker(attack, eps, pgd_steps=pgd_steps, pgd_aim=CHUNK_AIM, seed=seed + 1)
    limits = np.array([tube_limit(rules.tube_limits, joint) for joint in guard.dimensions])
    result = ArmEpisodeResult(seed, target, guarded, attack, eps)
    if bag is not None:
        bag.string(RECORDED_TOPICS["instruction"], BAG_START_NS, instruction)
    for index in range(max_decisions):
        q = world.joints()
        stamp_ns = BAG_START_NS + int(round(world.time * NS)) + 1  # after the instruction
        state = torch.tensor(q, dtype=torch.float32)[None]
        frame = world.frame()
        clean = torch.from_numpy(frame_to_input(frame, guard.policy.input_size))
        seen, achieved = frame, 0.0
        if attack != "none":
            scores = attack_objective(guard, instruction, CHUNK_AIM, smoothed=guarded, state=state) \
                if attack == "pgd" else None
            seen, achieved = attacker.perturb(clean, scores=scores)
        result.attack_l2_max = max(result.attack_l2_max, achieved)
        if bag is not None:  # the state first: the replay pairs a frame with the latest state at its time
            bag.joint_state(RECORDED_TOPICS["joint_states"], stamp_ns, list(arm.JOINTS), [float(v) for v in q])
            bag.image(RECORDED_TOPICS["image"], stamp_ns + 1, np.asarray(seen, np.uint8))
        if guarded:
            if bag is not None:
                guard.generator.manual_seed(frame_seed(guard.params["seed"], bag_name, RECORDED_TOPICS["image"], index))
            decision = guard.decide(seen, instruction, state=q)
            if bag is not None:
                bag.certificate(RECORDED_TOPICS["certificate"], stamp_ns + 2, "guard: certificate", decision.action,
                                decision.certified, certificate_values(decision.to_dict(), image_age_s=0.0),
                                decision.model_id)
            certified = decision.certified
            waypoints = np.asarray(decision.chunk["waypoints"], dtype=np.float64) if certified else None
            reference = _smoothed_chunk(guard, clean, instruction, state, seed * 1009 + index) \
                if certified and attack != "none" else None
            action = decision.action
        else:
            noise = guard.generator.get_state()
            waypoints = _own_chunk(guard, torch.from_numpy(frame_to_input(seen, guard.policy.input_size)), instruction,
                                   state)
            reference = None
            if attack != "none":
                guard.generator.set_state(noise)  # the same flow noise on the clean frame
                reference = _own_chunk(guard, clean, instruction, state)
            certified, action = True, "move"
        result.decisions += 1
        if on_step is not None:
            on_step(world, np.asarray(seen), action if certified else "hold")
        if bag is not None:  # the executed command: the chunk, or a hold at the measured positions
            bag.joint_trajectory(RECORDED_TOPICS["joint_trajectory"], stamp_ns + 2, list(arm.JOINTS),
                                 waypoints if certified else [q], rules.dt_s)
        if not certified:
            result.stops += 1
            world.hold(rules.steps * rules.dt_s)
            continue
        if reference is not None:
            deviation = np.abs(waypoints - reference)
            result.deviation_max = max(result.deviation_max, round(float(deviation.max()), 6))
            result.induced += bool((deviation > limits[None, :] + 1e-9).any())
        outside = [w for w in waypoints if world.outside_limits(w)]
        result.joint_limit_violations += len(outside)
        world.follow(np.clip(waypoints, world.limits[:, 0], world.limits[:, 1]), rules.dt_s)
        if world.reached(target):
            result.success, result.time_to_reach_s = True, round(world.time, 2)
            break
    if on_step is not None:  # where the episode ended
        on_step(world, world.frame(), "reached" if result.success else "end")
    block = world.target(target)
    result.final_distance_m = round(float(np.linalg.norm(world.tip() - block.reach_point())), 4)
    return result


def summarise(results: List[ArmEpisodeResult]) -> Dict[str, object]:
    count = len(results)
    return {
        "episodes": count,
        "success": round(sum(r.success for r in results) / count, 3),
        "successes": sum(r.success for r in results),
        "induced": sum(r.induced for r in results),
        "joint_limit_violations": sum(r.joint_limit_violations for r in results),
        "stopped_fraction": round(sum(r.stops for r in results) / max(sum(r.decisions for r in results), 1), 3),
        "deviation_max": round(max(r.deviation_max for r in results), 4),
        "attack_l2_max": round(max(r.attack_l2_max for r in results), 4),
    }


def run(guard, *, episodes: int, seed: int, attack: str, eps: float,
        progress: Callable[[str], None] = lambda line: None, strip_path: Optional[str] = None,
        record_dir: Optional[str] = None, **episode_options) -> Dict[str, object]:
    """Guarded and unguarded arms on the same seeded episodes (:func:`.episodes.both_conditions`): settings,
    both summaries and the episodes."""
    from .recording import ArmStripRecorder

    world = arm.ArmWorld()
    settings = {"world": "arm", "episodes": episodes, "seed": seed, "attack": attack, "eps": eps,
                "radius_threshold": guard.params["radius_threshold"], "sigma": guard.params["sigma"],
                "model_id": guard.policy.model_id, "chunk_execute_steps": guard.chunk_rules.steps,
                "chunk_tube_limits": guard.params["chunk_tube_limits"]}

    def run_one(episode_seed, guarded, recorder, bag, name):
        return run_episode(guard, world, episode_seed, guarded=guarded, attack=attack, eps=eps, on_step=recorder,
                           bag=bag, bag_name=name, **episode_options)

    def describe(result):
        return (f"{'reached' if result.success else 'not reached'} after {result.decisions} decisions, stopped "
                f"{result.stops}, induced {result.induced}, joint-limit violations {result.joint_limit_violations}")

    try:
        return {"settings": settings, **both_conditions(run_one, episodes=episodes, seed=seed, summarise=summarise,
                                                        describe=describe, recorder_type=ArmStripRecorder,
                                                        progress=progress, strip_path=strip_path,
                                                        record_dir=record_dir,
                                                        record_settings=recording_settings(guard))}
    finally:
        world.close()
