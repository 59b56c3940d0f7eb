"""What a configuration can certify within ``deadline_s`` on this machine (docs/theory.md, section 10), from one measured
batch time: ``rs-vla-guard budget`` prints it, the node reports it in ``/diagnostics`` at configure.

Figures, for a batch time b (seconds per batch of ``batch_size`` noisy samples) and a deadline d:

- ``samples_within_deadline``: the samples a decision can draw and still answer by d, at most ``n_max``:
  ``min(n_max, floor((d - f) / b) * batch_size)``, f the seconds to turn one camera frame into the policy's
  input (0 when not even one batch fits: the deadline rule of :mod:`.deadline` still runs a decision's
  first batch, but its answer comes late and goes out as a ``deadline_exceeded`` stop);
- ``decisions_per_second``: decisions per second at ``control_rate_hz`` on a clear frame, one that
  certifies at the test's first look: ``min(control_rate_hz, 1 / (f + batches of the first look * b))``;
- ``min_certifiable_radius``: the radius that many unanimous samples certify (p_A = 1; docs/theory.md, section 6) with
  the configured test at its share of alpha: no ``radius_threshold`` above it can be certified in time;
- ``threshold_certifiable``: can ``radius_threshold`` be certified within ``deadline_s`` at all, i.e. does
  the configured test's first certifying look fit in that many samples.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from ..certification import betting
from ..certification.bounds import lower_confidence_bound, oracle_corrected, radius_from_lower_bound
from ..certification.gaussian import checkpoint_alpha, smallest_certifying_n

BUDGET_KEYS = ("batch_seconds", "samples_within_deadline", "decisions_per_second", "min_certifiable_radius",
               "threshold_certifiable")


@dataclass(frozen=True)
class Budget:
    """The five figures (:data:`BUDGET_KEYS`) and what they were computed from."""

    batch_seconds: float
    frame_seconds: float
    samples_within_deadline: int
    decisions_per_second: float
    min_certifiable_radius: float
    threshold_certifiable: bool
    samples_to_certify: Optional[int]  # unanimous samples the threshold needs (None: more than any n)
    deadline_s: float
    batch_size: int
    control_rate_hz: float
    radius_threshold: float
    certify_mode: str

    def reason(self) -> str:
        """One line: why the threshold can or cannot be certified in time."""
        need = "no number of" if self.samples_to_certify is None else f"{self.samples_to_certify}"
        verdict = "can" if self.threshold_certifiable else "cannot"
        return (f"radius_threshold {self.radius_threshold:g} {verdict} be certified within deadline_s "
                f"{self.deadline_s:g}: it needs {need} unanimous samples ({self.certify_mode}), a decision draws at "
                f"most {self.samples_within_deadline} in time (batches of {self.batch_size} at "
                f"{self.batch_seconds * 1e3:.1f} ms); the largest radius certifiable in time is "
                f"{self.min_certifiable_radius:.3f}")

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["min_certifiable_radius"] = _finite(self.min_certifiable_radius)
        return data


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1e9


def unanimous_radius(n: int, *, certify_mode: str, sigma: float, alpha: float, oracle_error: float = 0.0,
                     symmetric_oracle: bool = False) -> float:
    """The radius ``n`` samples that all agree certify with the given test (0 for n = 0): betting's
    confidence-sequence bound, the sequential test's first look (level alpha_1), or Cohen's fixed test."""
    if n <= 0:
        return 0.0
    if certify_mode == "betting":
        p_lower = betting.lower_bound(n, n, alpha)
    else:
        level = checkpoint_alpha(alpha, 1) if certify_mode == "sequential" else alpha
        p_lower = lower_confidence_bound(n, n, level)
    return radius_from_lower_bound(oracle_corrected(p_lower, oracle_error, symmetric_oracle), sigma)


def budget_for(params: Dict[str, Any], batch_seconds: float, *, batch_size: int, hypotheses: int = 1,
               frame_seconds: float = 0.0) -> Budget:
    """The budget of ``params`` (an effective configuration) for a measured ``batch_seconds`` per batch of
    ``batch_size`` and ``frame_seconds`` per camera frame; ``hypotheses``: the tests one decision's alpha is
    split over (the guard's count)."""
    if not batch_seconds > 0 or not frame_seconds >= 0:
        raise ValueError(f"need batch_seconds > 0 and frame_seconds >= 0, got {batch_seconds}, {frame_seconds}")
    p = params
    mode, alpha = p["certify_mode"], p["alpha"] / hypotheses
    deadline, n_max = p["deadline_s"], p["n_max"]
    batches = max(0, int(math.floor((deadline - frame_seconds) / batch_seconds)))
    samples = min(n_max, batches * batch_size)
    common = dict(sigma=p["sigma"], alpha=alpha, oracle_error=p["oracle_error"], symmetric_oracle=p["symmetric_oracle"])
    needed = smallest_certifying_n(radius_threshold=p["radius_threshold"], certify_mode=mode, n_limit=10**7, **common)
    if mode == "fixed":  # Cohen's test draws n0 + n_max, whatever the clock says
        fits = p["n0"] + n_max <= batches * batch_size
        certifiable = fits and needed is not None and needed <= n_max
        clear_rows = p["n0"] + n_max
        radius = unanimous_radius(n_max if fits else 0, certify_mode=mode, **common)
    else:
        certifiable = needed is not None and needed <= samples
        clear_rows = (needed if needed is not None and needed <= n_max else n_max) + 1  # + the clean frame
        radius = unanimous_radius(samples, certify_mode=mode, **common)
    decision_seconds = frame_seconds + math.ceil(clear_rows / batch_size) * batch_seconds
    return Budget(batch_seconds=float(batch_seconds), frame_seconds=float(frame_seconds),
                  samples_within_deadline=int(samples),
                  decisions_per_second=float(min(p["control_rate_hz"], 1.0 / decision_seconds)),
                  min_certifiable_radius=float(radius), threshold_certifiable=bool(certifiable),
                  samples_to_certify=needed, deadline_s=float(deadline), batch_size=int(batch_size),
                  control_rate_hz=float(p["control_rate_hz"]), radius_threshold=float(p["radius_threshold"]),
                  certify_mode=mode)
