"""Recording episodes: strips of camera and top-down (base) or side (arm) views (GIF or PNG)."""
from __future__ import annotations

from typing import List

import numpy as np

from .world import World

ARM_PANEL = 128  # pixels, each view of an arm strip


class StripRecorder:
    """Collects (camera view, top-down view, action) per control step; writes a GIF or a PNG strip."""

    def __init__(self):
        self.frames: List[np.ndarray] = []

    def __call__(self, world: World, seen: np.ndarray, action: str) -> None:
        from PIL import Image, ImageDraw

        top = world.overhead(seen.shape[0])
        panel = Image.fromarray(np.concatenate([seen, top], axis=1))
        ImageDraw.Draw(panel).text((4, 2), f"t={world.time:4.1f}s {action}", fill=(255, 255, 0))
        self.frames.append(np.asarray(panel))

    def write(self, path: str, columns: int = 6) -> None:
        """``*.gif``: every step, animated at 5 fps; otherwise a PNG of ``columns`` steps evenly spaced."""
        from PIL import Image

        if not self.frames:
            raise ValueError("no steps recorded")
        images = [Image.fromarray(f) for f in self.frames]
        if path.lower().endswith(".gif"):
            images[0].save(path, save_all=True, append_images=images[1:], duration=200, loop=0)
            return
        picks = np.unique(np.linspace(0, len(images) - 1, min(columns, len(images))).round().astype(int))
        rows = [np.concatenate([self.frames[i] for i in picks[j:j + 3]], axis=1) for j in range(0, len(picks), 3)]
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
        Image.fromarray(np.concatenate(rows, axis=0)).save(path)


class ArmStripRecorder(StripRecorder):
    """(what the policy saw, the side view, the action) per decision of an arm episode."""

    def __call__(self, world, seen: np.ndarray, action: str) -> None:
        from PIL import Image, ImageDraw

        seen = np.asarray(Image.fromarray(np.asarray(seen, np.uint8)).resize((ARM_PANEL, ARM_PANEL), Image.NEAREST))
        side = world.render("side", ARM_PANEL * 4 // 3, ARM_PANEL)
        panel = Image.fromarray(np.concatenate([seen, side], axis=1))
        ImageDraw.Draw(panel).text((4, 2), f"t={world.time:3.1f}s {action}", fill=(255, 255, 0))
        self.frames.append(np.asarray(panel))
