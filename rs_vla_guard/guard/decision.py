"""What one decision says: :class:`Decision`, the safe stop before any sampling, the certificate's text
values (what the node publishes and a replay writes)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .. import settings as P
from ..policies.base import PolicyError
from ..text import printable

# The values of every certificate (the node's DiagnosticStatus, a replay's record), in order.
# ``linear_x``/``angular_z`` repeat the twist published with it; ``held`` is true when the command repeats
# the latest decision (no new decision was ready within the control period, and its frame was still fresh).
CERTIFICATE_KEYS = ("candidate", "certified", "radius", "p_lower", "n_samples", "counts", "reason", "sigma", "alpha",
                    "radius_threshold", "latency_ms", "image_age_ms", "model_id", "config_hash", "detail",
                    "linear_x", "angular_z", "held", "radius_covers", "envelopes", "extents", "chunk")
RADIUS_CAP = 1e9  # an infinite radius (all samples agree at p_lower = 1) is written as this


def certificate_values(decision: Dict[str, Any], *, image_age_s: Optional[float] = None,
                       held: bool = False) -> Dict[str, str]:
    """The certificate of one published command as text key/values (:data:`CERTIFICATE_KEYS`), from
    ``Decision.to_dict()``: what the node publishes and what a replay writes."""
    return {
        "candidate": decision["candidate"] or "",
        "certified": str(bool(decision["certified"])).lower(),
        "radius": f"{min(decision['radius'], RADIUS_CAP):.6f}",
        "p_lower": f"{decision['p_lower']:.6f}",
        "n_samples": str(decision["n_samples"]),
        "counts": json.dumps(decision["counts"]),
        "reason": decision["reason"],
        "sigma": str(decision["sigma"]),
        "alpha": str(decision["alpha"]),
        "radius_threshold": str(decision["radius_threshold"]),
        "latency_ms": f"{decision['latency_ms']:.1f}",
        "image_age_ms": f"{image_age_s * 1e3:.1f}" if image_age_s is not None else "",
        "model_id": decision["model_id"],
        "config_hash": decision["config_hash"],
        "detail": printable(decision["error"]),
        "linear_x": f"{decision['twist'][0]:.6g}",
        "angular_z": f"{decision['twist'][1]:.6g}",
        "held": str(held).lower(),
        # the noise, and so the radius, is over the image; a policy's robot state is taken as given
        "radius_covers": "image; state taken as given" if decision.get("state_dim") else "image",
        # each action dimension's certified [low, high] at radius_threshold (null: unbounded); "" when none
        "envelopes": json.dumps({e["name"]: [e["low"], e["high"]] for e in decision.get("envelopes") or ()})
        if decision.get("envelopes") else "",
        # extent_checks: each transform's certified [low, high] of its parameter (shift: of the length of
        # (dx, dy); null: unbounded); "" when none ran
        "extents": json.dumps({e["transform"]: e["interval"] for e in decision.get("extents") or ()})
        if decision.get("extents") else "",
        # chunked policies: executed waypoints, their certified tube, dt_s and joint names; "" otherwise
        "chunk": json.dumps({k: v for k, v in decision["chunk"].items() if k != "hold"}) if decision.get("chunk") else "",
    }


class BlindPolicyError(PolicyError):
    """The policy's output does not depend on its image (or instruction): certificates would be vacuous."""


@dataclass
class Decision:
    """What the guard decided for one frame. ``action`` is what to execute (an action, or a fallback set's
    label such as ``move_forward+turn_left`` when only the set certified); ``reason`` says why; ``radius``
    and ``p_lower`` belong to what ``action`` names; ``twist`` = (linear.x, angular.z) to command, zero
    on every stop. Everything in a decision comes from one parameter snapshot, whose hash is
    ``config_hash``; ``error`` is printable and bounded (it may quote the input)."""

    action: str
    candidate: Optional[str]
    certified: bool
    radius: float
    p_lower: float
    n_samples: int
    counts: Dict[str, int]
    reason: str
    latency_ms: float
    sigma: float
    alpha: float
    radius_threshold: float
    model_id: str
    mode: str
    error: str = ""
    config_hash: str = ""
    twist: Tuple[float, float] = (0.0, 0.0)
    vector: Tuple[float, ...] = ()  # action mode: the executed command, in the oracle's dimensions (() = none)
    state_dim: int = 0  # the policy took this many robot-state values (not noised: the radius is the image's)
    # continuous policies with envelopes on: per action dimension, its certified envelope at radius_threshold
    # (name, low, high, median, width, limit, samples; an unbounded side is infinite)
    envelopes: Tuple[Dict[str, Any], ...] = ()
    # extent_checks: per transform, its extent certificate (transform, certified, interval, radius, p_lower,
    # n_samples, reason, extent_threshold); run only when the L2 certificate certified
    extents: Tuple[Dict[str, Any], ...] = ()
    # chunked policies: {waypoints: executed K x D (a stop: one point, the hold at the measured positions),
    # tube: K x D [low, high] certified at radius_threshold (absent when none was computed), dt_s, joint_names}
    chunk: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["radius"] = _finite(self.radius)
        data["twist"], data["vector"] = list(self.twist), list(self.vector)
        data["extents"] = [dict(e) for e in self.extents]
        # JSON has no infinity: an unbounded side (or limit) is null
        data["envelopes"] = [{k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in e.items()}
                             for e in self.envelopes]
        return data

    def as_stop(self, params: Dict[str, Any], reason: str, error: str) -> "Decision":
        """This decision turned into a stop for ``reason`` under ``params`` (its statistics kept)."""
        chunk = None if self.chunk is None else {**self.chunk, "waypoints": self.chunk.get("hold", [])}
        return replace(self, action=params["safe_action"], certified=False, reason=reason, error=printable(error),
                       config_hash=P.config_hash(params), twist=(0.0, 0.0), vector=(), chunk=chunk)


def _finite(value: float) -> float:
    return value if np.isfinite(value) else 1e9


def stop_decision(params: Dict[str, Any], reason: str, error: str = "", *, model_id: str = "", mode: str = "",
                  latency_ms: float = 0.0) -> Decision:
    """The safe action for ``reason`` before any sampling (no frame, stale frame, bad input, ...)."""
    return Decision(params["safe_action"], None, False, 0.0, 0.0, 0, {}, reason, latency_ms, params["sigma"],
                    params["alpha"], params["radius_threshold"], model_id, mode, printable(error),
                    P.config_hash(params))
