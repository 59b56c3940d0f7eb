"""``rs-vla-guard budget``: what a configuration can certify within ``deadline_s`` on this machine.

Builds the configured guard (policy, dtype, batch size), warms it up, times full sampling batches and the
conversion of one camera frame at ``--camera`` resolution, and prints the budget of
:mod:`rs_vla_guard.control.budget`. Exit 0 when ``radius_threshold`` can be certified in time, 1 when it
cannot (with a one-line reason on standard error).
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict, Tuple

import numpy as np

from .. import settings as P
from ..control.budget import BUDGET_KEYS
from .sources import UsageError, params_or_fleet

TIMED_BATCHES = 5  # the batch time is the median of this many full batches, after one untimed


def camera_size(text: str) -> Tuple[int, int]:
    """'640x480' -> (640, 480)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--camera takes WIDTHxHEIGHT, e.g. 640x480, got {text!r}") from None
    if not (0 < width <= 16384 and 0 < height <= 16384):
        raise UsageError(f"--camera {text}: width and height must be in 1..16384")
    return width, height


def measure(overrides: Dict[str, Any], camera: Tuple[int, int]) -> Dict[str, Any]:
    """The budget figures and how they were measured, for the guard ``overrides`` configure."""
    import cv2
    import torch

    from ..guard import Guard

    guard = Guard.from_config(overrides, warm_up=False)
    warmup = guard.warm_up(repeats=TIMED_BATCHES)
    frame = guard.probes().frames[0]
    frame = cv2.resize(frame if not isinstance(frame, (list, tuple)) else frame[0], camera,
                       interpolation=cv2.INTER_LINEAR)
    cameras = int(getattr(guard.policy, "cameras", 1))
    frames = [frame] * cameras if cameras > 1 else frame
    conversions = []
    for _ in range(TIMED_BATCHES):
        started = time.perf_counter()
        guard._input(frames)
        conversions.append(time.perf_counter() - started)
    budget = guard.budget(frame_seconds=float(np.median(conversions)))
    result = {key: getattr(budget, key) for key in BUDGET_KEYS}
    result.update({
        "reason": budget.reason(), "frame_seconds": budget.frame_seconds, "samples_to_certify": budget.samples_to_certify,
        "warmup_first_batch_s": warmup["first_batch_s"],
        "settings": {
            "policy": guard.params["policy"], "model_id": guard.policy.model_id, "device": str(guard.policy.device),
            "dtype": guard.params["dtype"], "precision": getattr(guard.policy, "precision", None) or
            str(getattr(guard.policy, "autocast_dtype", None) or "float32").replace("torch.", ""),
            "batch_size": guard.batch_size, "camera": f"{camera[0]}x{camera[1]}", "deadline_s": budget.deadline_s,
            "control_rate_hz": budget.control_rate_hz, "radius_threshold": budget.radius_threshold,
            "certify_mode": budget.certify_mode, "n_max": guard.params["n_max"], "torch_threads": torch.get_num_threads(),
        },
    })
    result["min_certifiable_radius"] = budget.as_dict()["min_certifiable_radius"]
    guard.release()
    return result


def format_result(result: Dict[str, Any]) -> str:
    lines = [f"{'figure':<26} value"]
    for key in BUDGET_KEYS + ("frame_seconds", "samples_to_certify", "warmup_first_batch_s"):
        value = result[key]
        lines.append(f"{key:<26} {value:.4g}" if isinstance(value, float) else f"{key:<26} {value}")
    lines.append(f"\nsettings: {result['settings']}")
    return "\n".join(lines)


def run(args, guard_overrides) -> int:
    overrides = params_or_fleet(args.params, args.fleet, args.robot)
    overrides.update(guard_overrides(args))
    P.effective(overrides)  # a bad configuration fails here, in one line, before the model loads
    result = measure(overrides, camera_size(args.camera))
    print(json.dumps(result) if args.json else format_result(result))
    if not result["threshold_certifiable"]:
        print(f"rs-vla-guard budget: {result['reason']}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub, add_guard_options, func) -> None:
    budget = sub.add_parser("budget", help="what this configuration can certify within deadline_s on this machine "
                            "(exit 1 when radius_threshold cannot be certified in time)")
    budget.add_argument("--params", help="ROS parameter file of the guard (e.g. config/guard.yaml)")
    budget.add_argument("--fleet", help="fleet file; with --robot, that robot's parameters")
    budget.add_argument("--robot", help="the robot of --fleet")
    budget.add_argument("--camera", default="160x120", metavar="WxH",
                        help="the camera's resolution: each frame is resized to the policy's input (default 160x120, "
                        "the built-in task's renderer)")
    budget.add_argument("--json", action="store_true", help="print one JSON object")
    add_guard_options(budget)
    budget.set_defaults(func=func)
