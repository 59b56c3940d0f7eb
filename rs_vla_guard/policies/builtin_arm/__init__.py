"""The built-in arm policy (``policy: builtin-arm``): a tiny pi0 of transformers' own architecture trained on
the arm world's reach task (:mod:`rs_vla_guard.sim.arm`). It takes the top camera's image, the instruction
("reach the red block") and the four joint positions, and outputs a chunk of 8 future joint positions
(0.1 s apart); with no block of the named colour it holds.

- :mod:`.architecture` builds the untrained model, its tokenizer, processor and statistics;
- :mod:`rs_vla_guard.training.builtin_arm` trains it (``make builtin-arm-model``);
- the weights live in ``rs_vla_guard/models/builtin_arm`` and load through the ``pi0`` adapter's
  ``from_pretrained`` like any other pi0 directory.
"""
import os

MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models",
                         "builtin_arm")
POLICY_TYPE = "pi0"
# What the guard runs the built-in arm with (config/arm.yaml says the same, for ROS): chunk binning over the
# four joints, five executed waypoints 0.1 s apart under a certified tube, the arm world's joint limits.
PARAMETERS = {
    "policy": "builtin-arm",
    "policy_mode": "action",
    "binning": "chunk",
    "actions": ["move", "hold"],
    "safe_action": "hold",
    "chunk_steps": 5,
    "position_deadband": 0.01,
    "state_joints": "base_yaw, shoulder, elbow, wrist",
    "chunk_execute_steps": 5,
    "chunk_dt_s": 0.1,
    "chunk_tube_limits": "*: 0.15",
    "joint_limits": "base_yaw: -1.6 1.6, shoulder: -0.3 1.6, elbow: 0 2.6, wrist: -0.5 2.2",
    "max_joint_speed": 1.2,
    "max_chunk_duration_s": 0.5,
    "control_rate_hz": 2.0,
}
__all__ = ["MODEL_DIR", "PARAMETERS", "POLICY_TYPE", "probes"]


def probes():
    """Probe frames and instructions for the guard's start-up checks: arm-world frames rendered once and
    shipped beside the weights (the runtime never imports the simulator)."""
    import numpy as np

    from ..base import Probes

    with np.load(os.path.join(MODEL_DIR, "probes.npz")) as data:
        frames = [frame for frame in data["frames"]]
        instructions = [str(text) for text in data["instructions"]]
    return Probes(frames, instructions)
