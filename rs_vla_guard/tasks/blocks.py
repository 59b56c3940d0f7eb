"""The built-in "go to the <colour> block" task: scene renderer, ground truth, random scenes, probes.

Geometry lives in normalised image coordinates (x across the width, y down the height, both in
[0, 1]), so a scene renders the same at any resolution and resizing to the policy's input changes
nothing but sharpness. Edges are anti-aliased by exact pixel coverage.

Ground truth for the instruction "go to the <target> block":
- no block of the target colour -> ``stop``
- target centre x < 0.35 -> ``turn_left``; > 0.65 -> ``turn_right``
- otherwise width >= 0.4 (arrived) -> ``stop``, else ``move_forward``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .. import actions as A

ACTIONS = A.DEFAULT_ACTIONS
TARGET_COLOURS = ("red", "green", "blue")
COLOURS = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.12, 0.70, 0.18),
    "blue": (0.12, 0.22, 0.90),
    "yellow": (0.92, 0.85, 0.12),
    "purple": (0.58, 0.16, 0.70),
    "white": (0.95, 0.95, 0.95),
}
LEFT_BORDER, RIGHT_BORDER, ARRIVED_WIDTH = 0.35, 0.65, 0.40
HORIZON = 0.42  # fraction of the height where the floor meets the back wall


@dataclass
class Block:
    colour: str
    x: float  # centre, fraction of the width
    width: float  # fraction of the width

    def __post_init__(self):
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour {self.colour!r}; known: {', '.join(COLOURS)}")
        if not 0.0 < self.width <= 1.0:
            raise ValueError(f"block width must be in (0, 1], got {self.width}")

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width / 2


@dataclass
class Scene:
    blocks: List[Block] = field(default_factory=list)
    floor: str = "plain"  # or "textured"
    floor_colour: Sequence[float] = (0.55, 0.50, 0.45)
    wall_colour: Sequence[float] = (0.70, 0.70, 0.72)
    texture_period: float = 0.12
    texture_contrast: float = 0.12
    light: float = 1.0
    tint: Sequence[float] = (0.0, 0.0, 0.0)  # per-block colour jitter, applied to every block

    def target(self, colour: str) -> Optional[Block]:
        for block in self.blocks:
            if block.colour == colour:
                return block
        return None


def ground_truth_action(scene: Scene, target_colour: str) -> str:
    """The correct action for "go to the <target_colour> block" in ``scene``."""
    block = scene.target(target_colour)
    if block is None:
        return A.STOP
    return action_for_view(block.x, block.width)


def action_for_view(centre: float, width: float) -> str:
    """The task's rule for a target seen at ``centre`` with apparent ``width`` (fractions of the image
    width): turn towards it outside the middle band, else forward until it fills ARRIVED_WIDTH."""
    if centre < LEFT_BORDER:
        return A.TURN_LEFT
    if centre > RIGHT_BORDER:
        return A.TURN_RIGHT
    return A.STOP if width >= ARRIVED_WIDTH else A.MOVE_FORWARD


def command_for_view(view: Optional[Tuple[float, float]]) -> Tuple[float, float]:
    """The task's continuous controller: (linear_x m/s, angular_z rad/s) for a target seen at ``view`` =
    (centre, apparent width) as fractions of the image width, or None when it is not in view (stop).

    It agrees with :func:`action_for_view` under the default binning oracle: outside the middle band it
    turns in place towards the target, faster the further out (0.4-0.8 rad/s); inside it drives forward,
    slower as the target fills the view (0.1-0.3 m/s), steering gently towards the centre (|yaw| <= 0.045,
    inside the oracle's angular deadband); arrived or absent, zero."""
    if view is None:
        return 0.0, 0.0
    centre, width = view
    action = action_for_view(centre, width)
    if action == A.TURN_LEFT:
        return 0.0, 0.4 + 0.4 * min((LEFT_BORDER - centre) / LEFT_BORDER, 1.0)
    if action == A.TURN_RIGHT:
        return 0.0, -(0.4 + 0.4 * min((centre - RIGHT_BORDER) / (1.0 - RIGHT_BORDER), 1.0))
    if action == A.STOP:
        return 0.0, 0.0
    return 0.1 + 0.2 * max(ARRIVED_WIDTH - width, 0.0) / ARRIVED_WIDTH, -0.3 * (centre - 0.5)


def ground_truth_command(scene: Scene, target_colour: str) -> Tuple[float, float]:
    """:func:`command_for_view` for "go to the <target_colour> block" in ``scene``."""
    block = scene.target(target_colour)
    return command_for_view(None if block is None else (block.x, block.width))


def instruction_for(colour: str) -> str:
    return f"go to the {colour} block"


def _coverage(start: float, stop: float, size: int) -> np.ndarray:
    """Fraction of each pixel cell [i, i+1) covered by [start, stop) (in pixel units)."""
    edges = np.arange(size, dtype=np.float32)
    return np.clip(np.minimum(stop, edges + 1) - np.maximum(start, edges), 0.0, 1.0)


def block_box(block: Block):
    """Normalised (x0, x1, y0, y1) of a block: nearer (wider) blocks stand lower and taller."""
    height = min(block.width * 1.1, 0.9)
    bottom = HORIZON + 0.08 + 0.45 * min(block.width, 1.0)
    bottom = min(bottom, 0.98)
    return block.left, block.right, bottom - height, bottom


def render(scene: Scene, width: int = 160, height: int = 120) -> np.ndarray:
    """Render ``scene`` as an HxWx3 uint8 RGB frame."""
    if width < 8 or height < 8:
        raise ValueError(f"frame must be at least 8x8, got {width}x{height}")
    image = np.empty((height, width, 3), np.float32)
    horizon_px = HORIZON * height
    floor_rows = _coverage(horizon_px, height, height)[:, None, None]
    wall = np.asarray(scene.wall_colour, np.float32)
    floor = np.broadcast_to(np.asarray(scene.floor_colour, np.float32), (height, width, 3)).copy()
    if scene.floor == "textured":
        ys = (np.arange(height, dtype=np.float32) + 0.5) / height
        xs = (np.arange(width, dtype=np.float32) + 0.5) / width
        # Perspective checker: tiles shrink towards the horizon.
        depth = 1.0 / np.maximum(ys - HORIZON, 0.02)
        u = (xs[None, :] - 0.5) * depth[:, None] / (scene.texture_period * 8)
        v = depth[:, None] / (scene.texture_period * 20)
        checker = ((np.floor(u) + np.floor(v)) % 2 * 2 - 1).astype(np.float32)
        floor += scene.texture_contrast * checker[:, :, None]
    image[:] = wall * (1 - floor_rows) + floor * floor_rows
    tint = np.asarray(scene.tint, np.float32)
    for block in scene.blocks:
        x0, x1, y0, y1 = block_box(block)
        cover = _coverage(y0 * height, y1 * height, height)[:, None] * _coverage(x0 * width, x1 * width, width)[None, :]
        colour = np.clip(np.asarray(COLOURS[block.colour], np.float32) + tint, 0, 1)
        image = image * (1 - cover[:, :, None]) + colour * cover[:, :, None]
    image *= scene.light
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- random scenes for training and tests


def _place(rng, widths, fixed: Sequence[Block], tries: int = 50):
    """Random centres for blocks of the given widths, not overlapping each other or ``fixed``."""
    placed = list(fixed)
    out = []
    for w in widths:
        for _ in range(tries):
            x = rng.uniform(w / 2, 1 - w / 2)
            if all(x + w / 2 + 0.02 < b.left or x - w / 2 - 0.02 > b.right for b in placed):
                break
        else:
            continue
        block = (w, x)
        placed.append(Block("white", x, w))
        out.append(block)
    return out


def random_scene(
    rng: np.random.Generator,
    target: Optional[str] = None,
    action: Optional[str] = None,
    margin: float = 0.0,
    max_distractors: int = 2,
    hard_distractors: float = 0.6,
):
    """A random scene and instruction with known ground truth: returns (scene, target_colour, action).

    ``action`` picks the ground-truth class first (balanced classes for training); ``margin`` keeps the
    target centre at least that far from 0.35/0.65 and its width that far from 0.4 (clear scenes).
    A fifth of the scenes name a colour that is absent while other colours are present, and most
    distractors have a colour another instruction could name, so a policy must read the colour word,
    not just find a block.
    """
    target = target or str(rng.choice(TARGET_COLOURS))
    if action is None:
        # Five cases drawn evenly: the three motions, "arrived" and "named colour absent".
        case = str(rng.choice(ACTIONS + ("absent",)))
        action, absent = (A.STOP, True) if case == "absent" else (case, False)
    else:
        absent = action == A.STOP and rng.random() < 0.5
    blocks: List[Block] = []
    if not absent:
        if action == A.TURN_LEFT:
            width = rng.uniform(0.08, 0.5)
            x = rng.uniform(0.03, LEFT_BORDER - margin)
        elif action == A.TURN_RIGHT:
            width = rng.uniform(0.08, 0.5)
            x = rng.uniform(RIGHT_BORDER + margin, 0.97)
        elif action == A.MOVE_FORWARD:
            width = rng.uniform(0.08, ARRIVED_WIDTH - margin)
            x = rng.uniform(LEFT_BORDER + margin, RIGHT_BORDER - margin)
        else:  # arrived
            width = rng.uniform(ARRIVED_WIDTH + margin, 0.75)
            x = rng.uniform(LEFT_BORDER + margin, RIGHT_BORDER - margin)
        if action in (A.TURN_LEFT, A.TURN_RIGHT) and abs(width - ARRIVED_WIDTH) < margin:
            width = ARRIVED_WIDTH - margin - rng.uniform(0.0, 0.1)  # clear of the arrival border too
        blocks.append(Block(target, float(x), float(width)))
    others = [c for c in COLOURS if c != target]
    n_distractors = int(rng.integers(1 if absent else 0, max_distractors + 1))
    colours = list(rng.choice(others, size=n_distractors, replace=False))
    if colours and rng.random() < hard_distractors:
        # Another colour an instruction could name: only the colour word tells the blocks apart.
        rivals = [c for c in TARGET_COLOURS if c != target and c not in colours[1:]]
        colours[0] = str(rng.choice(rivals))
    widths = rng.uniform(0.08, 0.35, size=n_distractors)
    for colour, (w, x) in zip(colours, _place(rng, widths, blocks)):
        blocks.append(Block(str(colour), float(x), float(w)))
    rng.shuffle(blocks)
    textured = rng.random() < 0.5
    base = rng.uniform(0.3, 0.65)
    scene = Scene(
        blocks=blocks,
        floor="textured" if textured else "plain",
        floor_colour=tuple(np.clip(base + rng.uniform(-0.08, 0.08, 3), 0, 1)),
        wall_colour=tuple(np.clip(rng.uniform(0.55, 0.85) + rng.uniform(-0.05, 0.05, 3), 0, 1)),
        texture_period=float(rng.uniform(0.08, 0.2)),
        texture_contrast=float(rng.uniform(0.05, 0.15)),
        light=float(rng.uniform(0.8, 1.1)),
        tint=tuple(rng.uniform(-0.06, 0.06, 3)),
    )
    assert ground_truth_action(scene, target) == action, (scene, target, action)
    return scene, target, action


def is_clear(scene: Scene, target: str, margin: float = 0.05) -> bool:
    """True when the target (if present) is at least ``margin`` from every decision border."""
    block = scene.target(target)
    if block is None:
        return True
    return (
        abs(block.x - LEFT_BORDER) >= margin
        and abs(block.x - RIGHT_BORDER) >= margin
        and abs(block.width - ARRIVED_WIDTH) >= margin
    )


def probes() -> Tuple[List[np.ndarray], List[str]]:
    """Frames and instructions of the configure-time sensitivity check for policies of this task: the
    target left, right, ahead and absent, black and white frames, and the three colour instructions."""
    scenes = [
        Scene([Block("red", 0.15, 0.25)]),
        Scene([Block("blue", 0.85, 0.25)]),
        Scene([Block("green", 0.5, 0.2), Block("red", 0.2, 0.15)]),
        Scene([]),
    ]
    frames = [render(s, 128, 96) for s in scenes]
    frames += [np.zeros((96, 128, 3), np.uint8), np.full((96, 128, 3), 255, np.uint8)]
    return frames, [instruction_for(c) for c in TARGET_COLOURS]
