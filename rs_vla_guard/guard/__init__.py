"""The guard: one frame + one instruction -> a certified decision (:class:`Guard`, :class:`Decision`)."""
from ..control.inputs import instruction_problem
from .decision import CERTIFICATE_KEYS, RADIUS_CAP, BlindPolicyError, Decision, certificate_values, stop_decision
from .attack import ATTACK_NOISE_DRAWS, ATTACK_SMOOTHING_DRAWS
from .guard import Guard

__all__ = ["ATTACK_NOISE_DRAWS", "ATTACK_SMOOTHING_DRAWS", "BlindPolicyError", "CERTIFICATE_KEYS", "Decision",
           "Guard", "RADIUS_CAP", "certificate_values", "instruction_problem", "stop_decision"]
