"""Randomized-smoothing statistics: no torch, no rclpy, and no other module of this package.

- :mod:`.core`: what the tests share: :class:`Certificate`, the sampler, the outcomes, counting;
- :mod:`.bounds`: Clopper-Pearson bounds, the radius sigma * Phi^-1(p_lower), the oracle-error correction;
- :mod:`.gaussian`: the Gaussian-L2 certificate, Cohen's fixed two-stage test and the anytime-valid
  sequential threshold test, with fallback-set hypotheses;
- :mod:`.betting`: the default threshold test, an e-process (a mixture of bets) valid at every sample;
- :mod:`.planning`: expected radius against samples, and the samples a target radius needs;
- :mod:`.envelopes`: certified envelopes of continuous outputs (percentile smoothing), and their planning;
- :mod:`.tubes`: certified tubes of the executed waypoints of an action chunk, and their planning;
- :mod:`.extent`: extent certificates of physical changes (transformation smoothing);
- :mod:`.semantic`: the closed-form semantic certificate of dual encoders.

The theory, in this project's words, is in ``docs/theory.md``.
"""
from .bounds import (check_parameters, lower_confidence_bound, oracle_corrected, probability_for_radius,
                     radius_from_lower_bound, upper_confidence_bound)
from .core import ABSTAIN, BELOW_THRESHOLD, CERTIFIED, OUT_OF_TIME, Certificate, Sampler
from .gaussian import (certify_fixed,
                       certify_sequential, checkpoint_alpha, sequential_schedule, smallest_certifying_n)
from .betting import certify_betting, first_look, look_schedule
from .envelopes import Envelope, certify_envelopes, samples_for_envelope
from .tubes import ChunkTube, certify_tube, samples_for_tube
from .planning import expected_radius, radius_ceiling, samples_needed

__all__ = [
    "ABSTAIN", "BELOW_THRESHOLD", "CERTIFIED", "OUT_OF_TIME", "Certificate", "ChunkTube", "Envelope",
    "certify_tube", "samples_for_tube", "certify_betting",
    "certify_envelopes", "first_look", "look_schedule",
    "samples_for_envelope", "Sampler", "certify_fixed",
    "certify_sequential", "check_parameters", "checkpoint_alpha", "expected_radius", "lower_confidence_bound",
    "oracle_corrected", "probability_for_radius", "radius_ceiling", "radius_from_lower_bound", "samples_needed",
    "sequential_schedule", "smallest_certifying_n", "upper_confidence_bound",
]
