"""Replay scaling: one LeRobot dataset replayed serially (one torch thread) and by N local worker processes
(one torch thread each, ``--workers N``), or on Ray (``--ray local``); the ratio of decisions per second.
Not part of ``make test`` (a timing); the README quotes its output.

    .venv/bin/python scripts/replay_scaling.py [--episodes 20] [--frames 10] [--workers 2] [--ray]

The dataset is written with the project's writer: episodes of the block task, clear and border scenes
alternating, AV1 video. Rates are over the deciding span (model loading excluded) and over the wall time.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


def write_dataset(root: str, episodes: int, frames: int) -> None:
    from rs_vla_guard.replay.lerobot_writer import DatasetWriter
    from rs_vla_guard.tasks import blocks

    rng = np.random.default_rng(0)
    writer = DatasetWriter(root, fps=5, state_names=None, action_names=["linear_x", "angular_z"],
                           camera_shape=(120, 160))
    for episode in range(episodes):
        colour = ("red", "green", "blue")[episode % 3]
        x0 = rng.uniform(0.1, 0.9)
        images = [blocks.render(blocks.Scene([blocks.Block(colour, float(np.clip(x0 + 0.02 * f, 0.05, 0.95)), 0.2)]))
                  for f in range(frames)]
        writer.add_episode(images, None, [[0.2, 0.0]] * frames, f"go to the {colour} block")
    writer.close()


def run(root: str, workers: int, ray: bool) -> dict:
    from rs_vla_guard.replay.datasets import DatasetOptions, replay_datasets

    started = time.perf_counter()
    result = replay_datasets([root], {"torch_threads": 1}, DatasetOptions(), workers=workers,
                             ray_address="local" if ray else None)
    wall = time.perf_counter() - started
    return {"decisions": len(result["decisions"]), "wall_s": round(wall, 2),
            "decisions_per_second_wall": round(len(result["decisions"]) / wall, 2), **result["throughput"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also Ray (local) with --workers actors")
    args = parser.parse_args()
    os.environ.setdefault("RS_VLA_GUARD_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory() as folder:
        root = os.path.join(folder, "scaling")
        write_dataset(root, args.episodes, args.frames)
        serial = run(root, 1, False)
        parallel = run(root, args.workers, False)
        report = {"cpus": os.cpu_count(), "episodes": args.episodes, "frames": args.frames, "serial": serial,
                  f"workers_{args.workers}": parallel,
                  "speedup": round(parallel["decisions_per_second"] / serial["decisions_per_second"], 2),
                  "speedup_wall": round(parallel["decisions_per_second_wall"] / serial["decisions_per_second_wall"], 2)}
        if args.ray:
            ray_run = run(root, args.workers, True)
            report["ray"] = ray_run
            report["ray_speedup"] = round(ray_run["decisions_per_second"] / serial["decisions_per_second"], 2)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
