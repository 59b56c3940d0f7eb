"""User policies of the tests' own, loaded by the guard as ``policy: python:guard_test_policies:<factory>``
with this folder on the Python path: how a robot team plugs in LeRobot, openpi or its own torch module.

Each steers by where the red is in the image (a differentiable function of the pixels), and follows its
instruction: "stop" means no motion.
"""
import torch


class RedSeeker:
    """A mobile base: B x T x 2 actions (linear_x, angular_z) towards the red part of the image."""

    input_size = (32, 32)
    action_names = ["linear_x", "angular_z"]
    state_dim = 0
    differentiable = True
    chunk = 3

    def __init__(self, device):
        self.device = device
        self.model_id = type(self).__name__

    def _redness(self, pixels):
        pixels = torch.nn.functional.avg_pool2d(pixels, 4)  # 4x4 cells: pixel noise averages out
        red = (pixels[:, 0] - pixels[:, 1:].max(1).values - 0.3).clamp(min=0)  # B x H x W: saturated red only
        xs = torch.linspace(0.0, 1.0, pixels.shape[-1], device=pixels.device)
        mass = red.mean((1, 2))
        centre = (red.sum(1) * xs).sum(-1) / (red.sum((1, 2)) + 1e-6)
        return mass, centre

    def actions_with_grad(self, pixels, instruction, state=None, generator=None, noise=None):
        mass, centre = self._redness(pixels)
        present = torch.sigmoid((mass - 0.005) * 2000)  # no red: no motion
        angular = present * 2.0 * (0.5 - centre)  # red on the left (centre < 0.5): turn left (positive yaw)
        linear = present * 0.25 * (1 - 2 * (0.5 - centre).abs()).clamp(min=0)
        go = 0.0 if "stop" in instruction else 1.0
        vector = torch.stack([linear * go, angular * go], -1)
        return vector[:, None, :].expand(-1, self.chunk, -1)

    def act(self, pixels, instruction, state=None, generator=None):
        return self.actions_with_grad(pixels, instruction, state, generator)


class StatefulRedSeeker(RedSeeker):
    """The same, but it takes the robot state (2 values) and slows down by the first one."""

    state_dim = 2

    def actions_with_grad(self, pixels, instruction, state=None, generator=None, noise=None):
        if state is None:
            raise ValueError("StatefulRedSeeker needs the robot state")
        out = super().actions_with_grad(pixels, instruction)
        return out * (1.0 / (1.0 + state[:, :1].abs()))[:, None, :]


class RedReacher:
    """An arm: B x T x 4 (ee_x, ee_y, ee_z, gripper): sideways towards the red, the gripper closing when the
    red fills the view; it takes 3 joint positions as its state."""

    input_size = (32, 32)
    action_names = ["ee_x", "ee_y", "ee_z", "gripper"]
    state_dim = 3
    differentiable = True

    def __init__(self, device):
        self.device = device
        self.model_id = "RedReacher"

    def actions_with_grad(self, pixels, instruction, state=None, generator=None, noise=None):
        if state is None:
            raise ValueError("RedReacher needs the joint positions")
        mass, centre = RedSeeker._redness(self, pixels)
        present = torch.sigmoid((mass - 0.005) * 2000)
        sideways = present * 0.1 * (0.5 - centre)
        gripper = (mass - 0.15).clamp(min=0) * 10  # closes when the red fills the view
        zeros = torch.zeros_like(sideways)
        go = 0.0 if "stop" in instruction else 1.0
        return (torch.stack([zeros, sideways * go, zeros, gripper * go], -1))[:, None, :]

    def act(self, pixels, instruction, state=None, generator=None):
        return self.actions_with_grad(pixels, instruction, state, generator)


def red_seeker(params, device):
    return RedSeeker(device)


def stateful_red_seeker(params, device):
    return StatefulRedSeeker(device)


def red_reacher(params, device):
    return RedReacher(device)


def broken(params, device):
    raise RuntimeError("this factory fails on purpose")


def not_a_policy(params, device):
    return object()
