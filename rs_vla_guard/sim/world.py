"""The MuJoCo world for closed-loop simulation tests (the sim node wraps it as a ROS robot).

A walled 4 m x 4 m arena (``assets/arena.xml``), a differential-drive robot with a forward camera, and
up to three coloured blocks placed per episode. The robot's planar joints get the commanded body
velocities (v along its heading, yaw rate w) every physics step, and MuJoCo resolves contacts, so a
robot that drives into a wall or a block is stopped by it and the contact is reported.

Ground truth follows the scene renderer's rule (tasks/blocks.py) applied to what the camera sees: the
target's centre column in the image (< 0.35 W turn_left, > 0.65 W turn_right), its apparent width
(>= 0.4 W: arrived, stop), stop when it is not in view.

Rendering needs an OpenGL backend; headless on CPU set ``MUJOCO_GL=egl`` before importing mujoco.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .. import actions as A
from ..tasks.blocks import COLOURS, TARGET_COLOURS, action_for_view, command_for_view

ARENA_XML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "arena.xml")
BLOCK_SLOTS = 3
BLOCK_HALF_SIZE = 0.15  # m, half the block's footprint edge
BLOCK_HALF_HEIGHT = 0.2  # m
ARENA_HALF = 2.0  # m, inside the walls


@dataclass(frozen=True)
class PlacedBlock:
    colour: str
    x: float
    y: float


class World:
    """One arena, stepped in sim time; ``frame()`` renders the robot's camera (RGB uint8)."""

    def __init__(self, width: int = 160, height: int = 120):
        import mujoco

        self._mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_path(ARENA_XML)
        self.data = mujoco.MjData(self.model)
        self.width, self.height = width, height
        self._renderer = None
        self._overhead_renderer = None
        names = mujoco.mjtObj
        self._joints = [self.model.joint(n).dofadr[0] for n in ("robot_x", "robot_y", "robot_yaw")]
        self._qpos = [self.model.joint(n).qposadr[0] for n in ("robot_x", "robot_y", "robot_yaw")]
        self._chassis = mujoco.mj_name2id(self.model, names.mjOBJ_GEOM, "chassis")
        self._block_geoms = [mujoco.mj_name2id(self.model, names.mjOBJ_GEOM, f"block_{i}") for i in range(BLOCK_SLOTS)]
        self._block_mocap = [self.model.body(f"block_{i}").mocapid[0] for i in range(BLOCK_SLOTS)]
        self._camera = mujoco.mj_name2id(self.model, names.mjOBJ_CAMERA, "front")
        self._overhead = mujoco.mj_name2id(self.model, names.mjOBJ_CAMERA, "overhead")
        fovy = math.radians(float(self.model.cam_fovy[self._camera]))
        self.horizontal_fov = 2 * math.atan(math.tan(fovy / 2) * width / height)
        self.blocks: List[PlacedBlock] = []
        self.reset([], (0.0, 0.0, 0.0))

    # ------------------------------------------------------------------ episode set-up

    def reset(self, blocks: Sequence[PlacedBlock], robot_pose: Tuple[float, float, float]) -> None:
        if len(blocks) > BLOCK_SLOTS:
            raise ValueError(f"at most {BLOCK_SLOTS} blocks")
        self._mujoco.mj_resetData(self.model, self.data)
        self.blocks = list(blocks)
        for slot in range(BLOCK_SLOTS):
            mocap = self._block_mocap[slot]
            if slot < len(blocks):
                block = blocks[slot]
                self.data.mocap_pos[mocap] = (block.x, block.y, BLOCK_HALF_HEIGHT)
                self.model.geom_rgba[self._block_geoms[slot]] = (*COLOURS[block.colour], 1.0)
            else:
                self.data.mocap_pos[mocap] = (0.0, 0.0, -1.0)  # below the floor: out of every view
        for address, value in zip(self._qpos, robot_pose):
            self.data.qpos[address] = value
        self._mujoco.mj_forward(self.model, self.data)

    # ------------------------------------------------------------------ stepping

    @property
    def time(self) -> float:
        return float(self.data.time)

    def step(self, linear_x: float, angular_z: float, duration: float) -> None:
        """Drive with body velocities (m/s, rad/s) for ``duration`` seconds of sim time."""
        steps = max(1, int(round(duration / self.model.opt.timestep)))
        for _ in range(steps):
            yaw = self.data.qpos[self._qpos[2]]
            self.data.qvel[self._joints[0]] = linear_x * math.cos(yaw)
            self.data.qvel[self._joints[1]] = linear_x * math.sin(yaw)
            self.data.qvel[self._joints[2]] = angular_z
            self._mujoco.mj_step(self.model, self.data)

    def pose(self) -> Tuple[float, float, float]:
        return tuple(float(self.data.qpos[a]) for a in self._qpos)

    def touching(self) -> List[str]:
        """Names of what the chassis is in contact with now ('block_0', 'wall_n', ...)."""
        out = []
        for contact in self.data.contact[: self.data.ncon]:
            if self._chassis in (contact.geom1, contact.geom2):
                other = contact.geom2 if contact.geom1 == self._chassis else contact.geom1
                name = self._mujoco.mj_id2name(self.model, self._mujoco.mjtObj.mjOBJ_GEOM, other)
                if name != "floor":
                    out.append(name)
        return out

    def frame(self) -> np.ndarray:
        if self._renderer is None:
            self._renderer = self._mujoco.Renderer(self.model, self.height, self.width)
        self._renderer.update_scene(self.data, camera=self._camera)
        return self._renderer.render().copy()

    def overhead(self, size: int = 120) -> np.ndarray:
        """Top-down RGB view of the arena (for episode strips; the robot never sees it)."""
        if self._overhead_renderer is None:
            self._overhead_renderer = self._mujoco.Renderer(self.model, size, size)
        self._overhead_renderer.update_scene(self.data, camera=self._overhead)
        return self._overhead_renderer.render().copy()

    def close(self) -> None:
        for renderer in (self._renderer, self._overhead_renderer):
            if renderer is not None:
                renderer.close()
        self._renderer = self._overhead_renderer = None

    # ------------------------------------------------------------------ ground truth

    def view_of(self, block: PlacedBlock) -> Optional[Tuple[float, float]]:
        """(centre column, apparent width) of ``block`` as fractions of the image width, or None if out of view."""
        camera_pos = self.data.cam_xpos[self._camera]
        x, y, yaw = self.pose()
        dx, dy = block.x - camera_pos[0], block.y - camera_pos[1]
        forward = dx * math.cos(yaw) + dy * math.sin(yaw)
        left = -dx * math.sin(yaw) + dy * math.cos(yaw)
        if forward <= BLOCK_HALF_SIZE:
            return None
        focal = 0.5 / math.tan(self.horizontal_fov / 2)  # in image widths
        centre = 0.5 - focal * left / forward
        width = focal * 2 * BLOCK_HALF_SIZE / forward
        if centre + width / 2 < 0 or centre - width / 2 > 1:
            return None
        return centre, width

    def target_view(self, colour: str) -> Optional[Tuple[float, float]]:
        """(centre column, apparent width) of the block of ``colour``, or None when absent or out of view."""
        target = next((b for b in self.blocks if b.colour == colour), None)
        return self.view_of(target) if target is not None else None

    def ground_truth_action(self, colour: str) -> str:
        view = self.target_view(colour)
        return A.STOP if view is None else action_for_view(*view)

    def ground_truth_command(self, colour: str) -> Tuple[float, float]:
        """The task's continuous controller (:func:`rs_vla_guard.tasks.blocks.command_for_view`) on the view."""
        return command_for_view(self.target_view(colour))

    def distance_to(self, block: PlacedBlock) -> float:
        x, y, _ = self.pose()
        return math.hypot(block.x - x, block.y - y)

    def bearing_to(self, block: PlacedBlock) -> float:
        """Angle (rad) from the robot's heading to the block's centre, in (-pi, pi]; positive = left."""
        x, y, yaw = self.pose()
        return math.remainder(math.atan2(block.y - y, block.x - x) - yaw, 2 * math.pi)


def _distance_to_segment(point, start, end) -> float:
    (px, py), (ax, ay), (bx, by) = point, start, end
    length2 = (bx - ax) ** 2 + (by - ay) ** 2
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length2))
    return math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)))


def random_episode(rng: np.random.Generator, block_count: int = 3):
    """(blocks, robot pose, target colour): blocks of distinct colours at least 1.0 m apart; the robot
    starts 1.2-2.4 m from the target, facing it to within 0.45 rad (in view: the task has no search, a
    target out of view means stop), at least 1.2 m from every other block and with none of them within
    0.7 m of the straight way to the target (the task has no obstacle avoidance either)."""
    while True:
        colours = [str(c) for c in rng.choice(TARGET_COLOURS, size=block_count, replace=False)]
        blocks: List[PlacedBlock] = []
        while len(blocks) < block_count:
            x, y = rng.uniform(-1.7, 1.7, size=2)
            if all(math.hypot(x - b.x, y - b.y) > 1.0 for b in blocks):
                blocks.append(PlacedBlock(colours[len(blocks)], float(x), float(y)))
        distance, heading = rng.uniform(1.2, 2.4), rng.uniform(-math.pi, math.pi)
        towards = heading + rng.uniform(-0.45, 0.45)
        target = blocks[0]
        robot = (target.x - distance * math.cos(towards), target.y - distance * math.sin(towards), heading)
        inside = abs(robot[0]) < ARENA_HALF - 0.3 and abs(robot[1]) < ARENA_HALF - 0.3
        clear = all(math.hypot(b.x - robot[0], b.y - robot[1]) > 1.2
                    and _distance_to_segment((b.x, b.y), robot[:2], (target.x, target.y)) > 0.7 for b in blocks[1:])
        if inside and clear:
            return blocks, robot, colours[0]


def random_view(rng: np.random.Generator, world: World, absent_fraction: float = 0.2):
    """A labelled camera view for training and evaluation: (frame, target colour, ground-truth action).

    The robot is placed 0.45-2.6 m from the target, looking up to 0.75 rad to either side of it, so every
    action is common (turn either way, forward, arrived, target out of view); in ``absent_fraction`` of
    the views the instruction names a colour that is not in the arena (stop).
    """
    while True:
        count = int(rng.integers(1, 4))
        colours = [str(c) for c in rng.choice(TARGET_COLOURS, size=count, replace=False)]
        absent = count < 3 and rng.random() < absent_fraction
        target_colour = str(rng.choice([c for c in TARGET_COLOURS if c not in colours])) if absent else colours[0]
        blocks: List[PlacedBlock] = []
        while len(blocks) < count:
            x, y = rng.uniform(-1.7, 1.7, size=2)
            if all(math.hypot(x - b.x, y - b.y) > 0.8 for b in blocks):
                blocks.append(PlacedBlock(colours[len(blocks)], float(x), float(y)))
        distance, offset, heading = rng.uniform(0.45, 2.6), rng.uniform(-0.75, 0.75), rng.uniform(-math.pi, math.pi)
        towards = heading + offset
        robot = (blocks[0].x - distance * math.cos(towards), blocks[0].y - distance * math.sin(towards), heading)
        inside = abs(robot[0]) < ARENA_HALF - 0.2 and abs(robot[1]) < ARENA_HALF - 0.2
        if inside and all(math.hypot(b.x - robot[0], b.y - robot[1]) > 0.4 for b in blocks):
            world.reset(blocks, robot)
            return world.frame(), target_colour, world.ground_truth_action(target_colour)
