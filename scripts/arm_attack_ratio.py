"""How far PGD at eps = radius_threshold moves the bare built-in arm policy, next to the width of the tube
the guard certifies on the same clean frame. Not part of ``make test`` (a measurement); docs/policies.md
quotes its output.

    MUJOCO_GL=egl .venv/bin/python scripts/arm_attack_ratio.py [--scenes 12] [--steps 20] [--seed 1000]

Each scene is a random arm table with the named block on it and the arm a few expert steps along its way
(where a closed loop takes it). Per scene: the widest certified tube over the executed waypoints, and the
largest move of the bare policy's executed waypoints (averaged over its fixed flow-noise draws, as the
attack sees them) under L2 PGD at eps = radius_threshold aimed at the chunk. For a policy that is smooth
under the noise it was trained with, the move is about R / sigma output spreads and the tube at least twice
that, so the ratio stays below one half: no tube limit both lets the guard certify and counts the bare
policy's move as beyond it. Prints one JSON object.
"""
import argparse
import json

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--steps", type=int, default=20, help="PGD steps")
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()

    from rs_vla_guard.attacks.perturbations import pgd_away
    from rs_vla_guard.guard import Guard
    from rs_vla_guard.policies.builtin_arm import PARAMETERS
    from rs_vla_guard.sampling import frame_to_input
    from rs_vla_guard.sim import arm

    guard = Guard.from_config(dict(PARAMETERS))
    eps, size = guard.params["radius_threshold"], guard.policy.input_size
    world = arm.ArmWorld()
    rows = []
    for index in range(args.scenes):
        rng = np.random.default_rng(args.seed + index)
        blocks, target = arm.random_scene(rng, absent_fraction=0.0)
        world.reset(blocks, arm.random_start(rng, spread=0.2))
        for _ in range(int(rng.integers(0, 6))):
            world.follow(world.expert(target, 5, 0.1), 0.1)
        q, instruction = world.joints(), arm.instruction_for(target)
        frame = world.frame()
        chunk = guard.attack_chunk(instruction, smoothed=False, state=torch.tensor(q, dtype=torch.float32)[None])
        clean = torch.from_numpy(frame_to_input(frame, size))
        attacked, _ = pgd_away(clean, eps, chunk, steps=args.steps, generator=torch.Generator().manual_seed(index))
        with torch.no_grad():
            moved = float((chunk(torch.from_numpy(frame_to_input(attacked, size))[None]) - chunk(clean[None])).abs().max())
        tube = np.asarray(guard.decide(frame, instruction, state=q).chunk["tube"], dtype=np.float64)
        width = float((tube[..., 1] - tube[..., 0]).max())
        rows.append({"scene": args.seed + index, "tube_width": round(width, 4), "bare_move": round(moved, 4),
                     "ratio": round(moved / width, 3)})
    world.close()
    print(json.dumps({"eps": eps, "sigma": guard.params["sigma"], "pgd_steps": args.steps,
                      "ratio_max": max(r["ratio"] for r in rows), "bare_move_max": max(r["bare_move"] for r in rows),
                      "tube_width_min": min(r["tube_width"] for r in rows), "scenes": rows}, indent=1))


if __name__ == "__main__":
    main()
