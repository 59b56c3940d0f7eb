"""The arm world: a 4-joint arm on a table with coloured blocks and a fixed camera (``assets/arm.xml``).

The task is the block task in arm form: "reach the red block". Success: the arm's tip within
``REACH_DISTANCE_M`` of the point ``HOVER_M`` above the named block's top. When no block of that colour is
on the table the right answer is to hold.

Kinematics (joint angles in rad): ``base_yaw`` about the vertical; ``shoulder``, ``elbow`` and ``wrist``
pitch the upper arm, forearm and hand forwards from straight up. The expert (:func:`expert_chunk`) solves
the inverse kinematics of the hover point with the hand pointing down (:func:`reach_pose`) and moves
every joint towards it (a share of the remaining distance per step, at most ``EXPERT_SPEED`` rad/s): what
the built-in arm policy is trained on.

Joints follow a chunk as a position-controlled arm follows a joint trajectory (linear interpolation
between waypoints, the joint_trajectory_controller's default for positions only); rendering needs
``MUJOCO_GL=egl`` on a CPU.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..tasks.blocks import COLOURS, TARGET_COLOURS

ARM_XML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "arm.xml")
JOINTS = ("base_yaw", "shoulder", "elbow", "wrist")
HOME = (0.0, 0.3, 1.4, 1.2)  # tip 0.30 m out, 0.22 m above the table
SHOULDER_HEIGHT = 0.12  # m above the table
UPPER_ARM, FOREARM, HAND = 0.22, 0.22, 0.08  # m, shoulder-elbow, elbow-wrist, wrist-tip
BLOCK_HALF = 0.04  # m
BLOCK_SLOTS = 3
HOVER_M = 0.02  # the reach point is this far above the block's top
REACH_DISTANCE_M = 0.05
EXPERT_SPEED = 0.8  # rad/s, per joint
EXPERT_GAIN = 0.15  # share of the remaining distance each 0.1 s step closes
WORKSPACE = ((0.18, 0.38), (-0.8, 0.8))  # block placement: distance from the base (m), bearing (rad)


@dataclass(frozen=True)
class ArmBlock:
    colour: str
    x: float
    y: float

    def reach_point(self) -> Tuple[float, float, float]:
        return self.x, self.y, 2 * BLOCK_HALF + HOVER_M


def reach_pose(point: Sequence[float]) -> Optional[Tuple[float, float, float, float]]:
    """Joint angles that put the tip at ``point`` (x, y, z in m) with the hand pointing down, elbow up;
    None when out of reach."""
    x, y, z = point
    reach, height = math.hypot(x, y), z + HAND - SHOULDER_HEIGHT  # the wrist, relative to the shoulder
    distance = math.hypot(reach, height)
    cos_elbow = (distance ** 2 - UPPER_ARM ** 2 - FOREARM ** 2) / (2 * UPPER_ARM * FOREARM)
    if not -1.0 <= cos_elbow <= 1.0:
        return None
    elbow = math.acos(cos_elbow)
    shoulder = math.atan2(reach, height) - math.atan2(FOREARM * math.sin(elbow), UPPER_ARM + FOREARM * math.cos(elbow))
    return math.atan2(y, x), shoulder, elbow, math.pi - shoulder - elbow


def tip_position(q: Sequence[float]) -> Tuple[float, float, float]:
    """Forward kinematics of the tip (the same as MuJoCo's ``tip`` site, checked in the tests)."""
    yaw, shoulder, elbow, wrist = q
    reach = UPPER_ARM * math.sin(shoulder) + FOREARM * math.sin(shoulder + elbow) + HAND * math.sin(shoulder + elbow + wrist)
    height = (SHOULDER_HEIGHT + UPPER_ARM * math.cos(shoulder) + FOREARM * math.cos(shoulder + elbow)
              + HAND * math.cos(shoulder + elbow + wrist))
    return reach * math.cos(yaw), reach * math.sin(yaw), height


def expert_chunk(q: Sequence[float], goal: Optional[Sequence[float]], steps: int, dt: float,
                 speed: float = EXPERT_SPEED, gain: float = EXPERT_GAIN) -> np.ndarray:
    """steps x 4 joint positions from ``q`` towards ``goal`` (joint angles): each step closes ``gain`` of
    the remaining distance (smooth near the goal, where precision matters), and no joint moves more than
    ``speed * dt`` per step; holding at ``q`` when there is no goal."""
    q = np.asarray(q, dtype=np.float64)
    if goal is None:
        return np.repeat(q[None], steps, axis=0)
    share = 1.0 - (1.0 - gain) ** np.arange(1, steps + 1)[:, None]
    reach = speed * dt * np.arange(1, steps + 1)[:, None]
    return q + np.clip(share * (np.asarray(goal, dtype=np.float64) - q), -reach, reach)


class ArmWorld:
    """One arm on a table, stepped in sim time; ``frame()`` renders the fixed camera (RGB uint8)."""

    def __init__(self, width: int = 96, height: int = 96):
        import mujoco

        self._mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_path(ARM_XML)
        self.data = mujoco.MjData(self.model)
        self.width, self.height = width, height
        self._renderers = {}
        self._qpos = [self.model.joint(name).qposadr[0] for name in JOINTS]
        self.limits = np.array([self.model.joint(name).range for name in JOINTS], dtype=np.float64)
        self._tip = self.model.site("tip").id
        self._block_geoms = [self.model.geom(f"block_{i}").id for i in range(BLOCK_SLOTS)]
        self._block_mocap = [self.model.body(f"block_{i}").mocapid[0] for i in range(BLOCK_SLOTS)]
        self.blocks: List[ArmBlock] = []
        self.reset([], HOME)

    def reset(self, blocks: Sequence[ArmBlock], q: Sequence[float]) -> None:
        if len(blocks) > BLOCK_SLOTS:
            raise ValueError(f"at most {BLOCK_SLOTS} blocks")
        self._mujoco.mj_resetData(self.model, self.data)
        self.blocks = list(blocks)
        for slot in range(BLOCK_SLOTS):
            mocap = self._block_mocap[slot]
            if slot < len(blocks):
                self.data.mocap_pos[mocap] = (blocks[slot].x, blocks[slot].y, BLOCK_HALF)
                self.model.geom_rgba[self._block_geoms[slot]] = (*COLOURS[blocks[slot].colour], 1.0)
            else:
                self.data.mocap_pos[mocap] = (0.0, 0.0, -1.0)
        self.set_joints(q)

    @property
    def time(self) -> float:
        return float(self.data.time)

    def joints(self) -> np.ndarray:
        return np.array([self.data.qpos[a] for a in self._qpos], dtype=np.float64)

    def set_joints(self, q: Sequence[float]) -> None:
        for address, value in zip(self._qpos, q):
            self.data.qpos[address] = value
        self._mujoco.mj_forward(self.model, self.data)

    def follow(self, waypoints: np.ndarray, dt: float) -> None:
        """Follow ``waypoints`` (K x 4, the first due ``dt`` from now) by linear interpolation in joint space,
        one physics step at a time; the sim clock advances K * dt."""
        steps = max(1, int(round(dt / self.model.opt.timestep)))
        start = self.joints()
        for waypoint in np.asarray(waypoints, dtype=np.float64):
            for index in range(1, steps + 1):
                self.set_joints(start + (waypoint - start) * index / steps)
                self.data.time += self.model.opt.timestep
            start = waypoint

    def hold(self, duration: float) -> None:
        self.data.time += duration

    def track(self, follower: TrajectoryFollower, duration: float) -> None:
        """Follow ``follower``'s trajectory for ``duration`` seconds of sim time, one physics step at a time."""
        for _ in range(max(1, int(round(duration / self.model.opt.timestep)))):
            self.data.time += self.model.opt.timestep
            self.set_joints(np.clip(follower.position(self.time), self.limits[:, 0], self.limits[:, 1]))

    def tip(self) -> np.ndarray:
        return self.data.site_xpos[self._tip].copy()

    def outside_limits(self, q: Sequence[float], tolerance: float = 1e-6) -> List[str]:
        q = np.asarray(q)
        return [name for name, value, (low, high) in zip(JOINTS, q, self.limits)
                if value < low - tolerance or value > high + tolerance]

    def target(self, colour: str) -> Optional[ArmBlock]:
        return next((b for b in self.blocks if b.colour == colour), None)

    def reached(self, colour: str) -> bool:
        block = self.target(colour)
        return block is not None and float(np.linalg.norm(self.tip() - block.reach_point())) <= REACH_DISTANCE_M

    def expert(self, colour: str, steps: int, dt: float) -> np.ndarray:
        block = self.target(colour)
        goal = reach_pose(block.reach_point()) if block is not None else None
        return expert_chunk(self.joints(), goal, steps, dt)

    def render(self, camera: str = "top", width: Optional[int] = None, height: Optional[int] = None) -> np.ndarray:
        size = (height or self.height, width or self.width)
        if (camera, size) not in self._renderers:
            self._renderers[(camera, size)] = self._mujoco.Renderer(self.model, *size)
        renderer = self._renderers[(camera, size)]
        renderer.update_scene(self.data, camera=camera)
        return renderer.render().copy()

    def frame(self) -> np.ndarray:
        return self.render("top")

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


class TrajectoryFollower:
    """Where a position-controlled arm is at time t on its latest joint trajectory (what ros2_controllers'
    joint_trajectory_controller does with positions only): linear interpolation from the position at the
    trajectory's arrival through its points, then holding the last; a new trajectory replaces the old one
    from the position reached."""

    def __init__(self, q: Sequence[float], now: float):
        self._times = np.array([now])
        self._points = np.asarray(q, dtype=np.float64)[None]

    def replace(self, now: float, offsets: Sequence[float], points: Sequence[Sequence[float]]) -> None:
        start = self.position(now)
        self._times = np.concatenate([[now], now + np.asarray(offsets, dtype=np.float64)])
        self._points = np.vstack([start[None], np.asarray(points, dtype=np.float64)])

    def position(self, t: float) -> np.ndarray:
        return np.array([np.interp(t, self._times, column) for column in self._points.T])


def random_blocks(rng: np.random.Generator, count: int, colours: Sequence[str]) -> List[ArmBlock]:
    """``count`` blocks of ``colours`` in the workspace, at least 0.12 m apart."""
    blocks: List[ArmBlock] = []
    while len(blocks) < count:
        distance, bearing = rng.uniform(*WORKSPACE[0]), rng.uniform(*WORKSPACE[1])
        x, y = distance * math.cos(bearing), distance * math.sin(bearing)
        if all(math.hypot(x - b.x, y - b.y) > 0.12 for b in blocks):
            blocks.append(ArmBlock(str(colours[len(blocks)]), float(x), float(y)))
    return blocks


def random_scene(rng: np.random.Generator, absent_fraction: float = 0.2, target: Optional[str] = None):
    """(blocks, target colour): one to three blocks of distinct colours (distractors among them, some not
    target colours); in ``absent_fraction`` of scenes the named colour is not on the table (hold)."""
    count = int(rng.integers(1, BLOCK_SLOTS + 1))
    target = target or str(rng.choice(TARGET_COLOURS))
    others = [c for c in COLOURS if c != target]
    absent = rng.random() < absent_fraction
    colours = list(rng.choice(others, size=count, replace=False)) if absent else \
        [target] + list(rng.choice(others, size=count - 1, replace=False))
    return random_blocks(rng, count, colours), target


def random_start(rng: np.random.Generator, spread: float = 0.35) -> np.ndarray:
    """A start pose around :data:`HOME` (every joint within ``spread`` rad)."""
    return np.asarray(HOME) + rng.uniform(-spread, spread, size=len(JOINTS))


def instruction_for(colour: str) -> str:
    return f"reach the {colour} block"
