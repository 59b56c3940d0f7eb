"""The guard over LeRobot datasets: every frame of the chosen episodes, decided as the node would decide it.

Per frame: the camera image (``image_key``, default the first camera), the episode's task text as the
instruction (``instruction`` overrides it), ``observation.state`` as the robot state (by the dataset's joint
names when the parameters name ``state_joints``), and ``action`` as the recorded command for agreement
(binned as gate mode bins it; for chunked arms, whether it lies inside the certified tube's first step).
The node's input rules judge each frame first (:func:`~rs_vla_guard.control.rules.input_stop`).

Noise: the decision on frame ``f`` of episode ``e`` draws from :func:`~.timeline.frame_seed` (seed, dataset,
``<camera>/episode-<e>``, f), so serial, ``--workers`` and ``--ray`` runs agree. A dataset converted from a
rosbag2 (``convert``, ``sim --record-format lerobot``) keeps each frame's origin (``rs_vla_guard.source`` in
info.json and the ``source.frame`` column) and replays with the bag's seeds: the same decisions as the bag.

A broken episode (rows that do not match its length, a missing file) is one ``invalid_image`` stop per frame,
and the replay goes on with the next episode.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np

from .. import actions as A
from .. import settings as P
from ..control.inputs import joint_state_values
from ..control.rules import input_stop
from ..frames import InvalidImage
from ..guard import Guard, certificate_values, stop_decision
from ..oracles import BinningOracle
from ..settings.chunks import state_joint_names
from .engine import executed_trajectory, run_jobs, throughput
from .lerobot import DatasetError, LeRobotDataset, dataset_name
from .pairing import inputs_at
from .timeline import NS, frame_seed

SOURCE_KEY = "rs_vla_guard"  # info.json: {"source": {"<episode>": {"bag": name, "topic": image topic}}}
SOURCE_FRAME = "source.frame"  # the bag frame each dataset frame came from
OUTSIDE_TUBE = "outside_tube"


@dataclass
class DatasetOptions:
    """What to read from each dataset."""
    image_key: Optional[str] = None
    instruction: Optional[str] = None  # overrides every episode's task
    episodes: Optional[List[int]] = None  # None: all
    every: int = 1


def parse_episodes(text: str) -> List[int]:
    """'0,3-5' -> [0, 3, 4, 5] (ValueError, one line, otherwise)."""
    chosen: List[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ValueError(f"--episodes {text!r}: give indices and ranges such as 0,3-5") from None
        if first < 0 or last < first or last - first > 1_000_000:
            raise ValueError(f"--episodes {text!r}: {part!r} is not a range of episode indices")
        chosen += range(first, last + 1)
    return sorted(set(chosen))


def selected_episodes(dataset: LeRobotDataset, options: DatasetOptions) -> List[int]:
    if options.episodes is None:
        return list(dataset.episodes)
    missing = [e for e in options.episodes if e not in dataset.episodes]
    if missing:
        raise DatasetError(f"{dataset.root}: no episode {missing[0]} (it has {len(dataset.episodes)}: "
                           f"{min(dataset.episodes)}-{max(dataset.episodes)})")
    return list(options.episodes)


class DatasetReplay:
    """The decisions of one guard on episodes of one dataset."""

    def __init__(self, guard: Guard, path: str, options: DatasetOptions):
        self.guard, self.options, self.params = guard, options, guard.params
        self.dataset = LeRobotDataset(path, self.params["max_image_pixels"])
        self.camera = self.dataset.camera(options.image_key)
        self.joints = state_joint_names(self.params)
        self.state_names = self.dataset.names("observation.state")
        actions = self.params["actions"]
        self.command_oracle = BinningOracle(actions) if A.STOP in actions else None
        self.sources = (self.dataset.info.get(SOURCE_KEY) or {}).get("source") or {}

    def run(self, episodes: Sequence[int], progress: Callable[[int], None] = lambda n: None) -> List[Dict[str, Any]]:
        records: List[Dict[str, Any]] = []
        for index in episodes:
            part = self.episode(index)
            records += part
            progress(len(part))
        return records

    def episode(self, index: int) -> List[Dict[str, Any]]:
        episode = self.dataset.episodes[index]
        try:
            rows = self.dataset.frames(episode, extra=[SOURCE_FRAME])
        except DatasetError as error:  # the whole episode is unreadable: a stop per frame, then the next one
            task = self.options.instruction if self.options.instruction is not None else \
                (episode.tasks[0] if episode.tasks else "")
            return [self._record(index, position, position / self.dataset.fps, task, None, InvalidImage(str(error)),
                                 None, None) for position in range(0, episode.length, self.options.every)]
        positions = list(range(0, episode.length, self.options.every))
        instruction = self.options.instruction
        records = []
        sources = rows.columns.get(SOURCE_FRAME)
        for position, image in self._images(episode, rows, positions):  # one decoded frame in memory at a time
            task = instruction if instruction is not None else self.dataset.tasks.get(int(rows.task_index[position]), "")
            state = rows.state[position] if rows.state is not None else None
            action = rows.action[position] if rows.action is not None else None
            source = int(sources[position]) if sources is not None and sources[position] is not None else None
            # the positions a stop holds at: this frame's state, else the latest valid one before it
            history = (self._state(rows.state[i]) for i in range(position, -1, -1)) if rows.state is not None else ()
            records.append(self._record(index, int(rows.frame_index[position]), float(rows.timestamp[position]), task,
                                        state, image, action, source, history))
        return records

    def _images(self, episode, rows, positions):
        """The episode's frames at ``positions``; past an unreadable video, the rest as InvalidImage."""
        done = 0
        try:
            for position, image in self.dataset.images(episode, self.camera, rows, positions):
                done += 1
                yield position, image
        except (DatasetError, InvalidImage) as error:
            for position in positions[done:]:
                yield position, InvalidImage(str(error))

    def _seed(self, episode: int, frame: int, source: Optional[int]) -> int:
        origin = self.sources.get(str(episode))
        if origin and source is not None:  # converted from a bag: the bag's noise for that frame
            return frame_seed(self.params["seed"], origin["bag"], origin["topic"], source)
        return frame_seed(self.params["seed"], self.dataset.name, f"{self.camera}/episode-{episode}", frame)

    def _state(self, values) -> tuple:
        if values is None:
            return None, "the dataset has no observation.state"
        if self.joints and self.state_names:
            return joint_state_values(self.state_names, list(values), self.joints)
        return [float(v) for v in values], ""

    def _decide(self, episode: int, frame: int, task: str, state_row, image, source: Optional[int]):
        guard, params = self.guard, self.params
        states = []
        if guard.state_dim:
            values, problem = self._state(state_row)
            states = [(0, values, problem)]
        inputs = inputs_at(0, 0, frame_problem=str(image) if isinstance(image, Exception) else "", instruction=task,
                           states=states, state_times=[0] * len(states), state_dim=guard.state_dim)
        stop = input_stop(inputs, params, 0.0)
        if stop is not None:
            return stop_decision(params, stop.reason, stop.detail, model_id=guard.policy.model_id, mode=guard.mode)
        guard.generator.manual_seed(self._seed(episode, frame, source))
        return guard.decide(image, task, state=inputs.state.values if inputs.state is not None else None)

    def _record(self, episode: int, frame: int, timestamp: float, task: str, state_row, image, action,
                source: Optional[int], history: Iterable = ()) -> Dict[str, Any]:
        decision = self._decide(episode, frame, task, state_row, image, source)
        record = {"bag": self.dataset.name, "episode_index": episode, "frame_index": frame, "instruction": task,
                  "time_ns": int(round(timestamp * NS)), "frame": frame, "action": decision.action,
                  "certified": bool(decision.certified), "reason": decision.reason,
                  "radius": float(min(decision.radius, 1e9)), "candidate": decision.candidate,
                  "n_samples": int(decision.n_samples), "latency_ms": round(float(decision.latency_ms), 3),
                  "linear_x": float(decision.twist[0]), "angular_z": float(decision.twist[1]),
                  "certificate": certificate_values(decision.to_dict(), image_age_s=0.0),
                  "recorded": self._recorded(decision, action)}
        if decision.chunk:
            record["chunk"] = decision.chunk
        if self.params["chunk_execute_steps"]:
            record["joint_trajectory"] = executed_trajectory(self.params, decision, history)
        return record

    def _recorded(self, decision, action) -> Optional[Dict[str, Any]]:
        """The dataset's action as the recorded command: binned as gate mode bins it (a base: linear_x and
        angular_z), or, for a chunked arm, judged against the certified tube's first step."""
        if action is None or not np.all(np.isfinite(action)):
            return None
        values = [float(v) for v in action]
        if decision.chunk and decision.chunk.get("tube"):
            first = decision.chunk["tube"][0]
            inside = len(first) == len(values) and all(
                (low is None or v >= low - 1e-6) and (high is None or v <= high + 1e-6)
                for v, (low, high) in zip(values, first))
            return {"label": decision.action if inside else OUTSIDE_TUBE, "action": values}
        if self.command_oracle is not None and len(values) >= 2:
            return {"label": self.command_oracle.label_of(values[0], values[1]), "linear_x": values[0],
                    "angular_z": values[1]}
        return None


# ---------------------------------------------------------------- jobs for workers and Ray

@dataclass
class DatasetJob:
    """A shard: some episodes of one dataset."""
    path: str
    episodes: List[int]

    def run(self, guard: Guard, options: DatasetOptions, progress: Callable[[int], None] = lambda n: None
            ) -> List[Dict[str, Any]]:
        return DatasetReplay(guard, self.path, options).run(self.episodes, progress)


def plan_dataset_jobs(paths: Sequence[str], options: DatasetOptions, shards: int):
    """Episode ranges of about equal frame counts over every dataset, and the total decision count."""
    work = []
    for path in paths:
        dataset = LeRobotDataset(path)
        dataset.camera(options.image_key)
        work += [(path, e, -(-dataset.episodes[e].length // options.every)) for e in selected_episodes(dataset, options)]
    total = sum(n for _, _, n in work)
    size = max(1, -(-total // max(1, shards)))
    jobs: List[DatasetJob] = []
    filled = 0
    for path, episode, count in work:
        if not jobs or jobs[-1].path != path or filled >= size:
            jobs.append(DatasetJob(path, []))
            filled = 0
        jobs[-1].episodes.append(episode)
        filled += count
    return jobs, total


def replay_datasets(paths: Sequence[str], overrides: Dict[str, Any], options: DatasetOptions, *, workers: int = 1,
                    ray_address: Optional[str] = None,
                    progress: Callable[[int, int], None] = lambda done, total: None) -> Dict[str, Any]:
    """Every decision of the guard configured by ``overrides`` on the datasets ``paths`` (in dataset, episode,
    frame order), with the settings, the wall time and the throughput (decisions/s per worker, and the
    scaling efficiency: the rate reached against ``workers`` times one decision's mean latency)."""
    started = time.perf_counter()
    params = P.effective(overrides)
    parallel = workers > 1 or bool(ray_address)
    jobs, total = plan_dataset_jobs(paths, options, shards=max(workers, 1) * 2 if parallel else 1)
    records, model_id, span = run_jobs(jobs, overrides, options, workers=workers, ray_address=ray_address,
                                       total=total, progress=progress)
    order = {dataset_name(p): i for i, p in enumerate(paths)}
    records.sort(key=lambda r: (order.get(r["bag"], 0), r["episode_index"], r["frame_index"]))
    wall = time.perf_counter() - started
    return {"settings": {"datasets": [str(p) for p in paths], "image_key": options.image_key,
                         "instruction": options.instruction, "episodes": options.episodes, "every": options.every,
                         "seed": params["seed"], "model_id": model_id, "workers": workers, "ray": ray_address,
                         "radius_threshold": params["radius_threshold"], "sigma": params["sigma"],
                         "alpha": params["alpha"]},
            "wall_s": round(wall, 3), "throughput": throughput(records, span, max(1, workers)),
            "decisions": records}
