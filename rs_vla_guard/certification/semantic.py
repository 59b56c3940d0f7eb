"""Semantic certificates for dual encoders (CLIP-like models): how far a text-defined change ("a photo in
daylight" -> "a photo at night") may move the image embedding before the predicted action changes, in
closed form, without sampling (after Yang et al., ICML 2026; ``docs/theory.md`` section 9).

A dual encoder predicts argmax_c <z, u_c>, with z the unit image embedding and u_c the unit text embedding
of class c's prompt. The change is defined by a source and a target prompt with unit embeddings s and t:

- they span a plane with orthonormal basis e1 = s, e2 = (t - <t, s> s) / ||t - <t, s> s||;
- z splits into its in-plane part r (cos theta0 e1 + sin theta0 e2) and the rest z_perp;
- a change of extent phi rotates the in-plane part by phi (towards t for phi > 0), leaving z_perp and
  ||z|| = 1 as they are: z(phi) = z_perp + r (cos(theta0 + phi) e1 + sin(theta0 + phi) e2).

For the predicted class a and any other class c, with d_c = u_a - u_c, the margin is

    m_c(phi) = <z(phi), d_c> = C_c + R_c cos(phi - psi_c),
    C_c = <z_perp, d_c>,  R_c = r sqrt(<e1, d_c>^2 + <e2, d_c>^2),  psi_c = atan2(<e2, d_c>, <e1, d_c>) - theta0,

positive for phi within arccos(-C_c / R_c) of psi_c (everywhere when C_c >= R_c). The certified interval is
the intersection, over c, of the arcs that contain phi = 0. It is exact for this model of the change: no
probability, no sampling. ``phi_target`` = the angle from s to t is the extent of "all the way to the
target prompt" (the interval is also reported in that unit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np


@dataclass
class SemanticInterval:
    """The certified extent interval of one prediction along one prompt pair.

    ``low`` <= 0 <= ``high`` in radians of rotation (positive: towards the target prompt), each end at
    most pi in size (the whole circle: both at +-pi); ``predicted`` the class index; ``phi_target`` the
    angle from the source to the target prompt; ``fraction`` the interval in units of it; ``limiting``
    the class whose margin closes each end (-1 when none does)."""

    predicted: int
    low: float
    high: float
    phi_target: float
    limiting: Tuple[int, int]

    @property
    def fraction(self) -> Tuple[float, float]:
        return (self.low / self.phi_target, self.high / self.phi_target) if self.phi_target > 0 else (0.0, 0.0)

    def as_record(self, names: Sequence[str] = ()) -> dict:
        def named(index):
            return names[index] if names and index >= 0 else (None if index < 0 else index)
        return {"predicted": named(self.predicted), "interval_radians": [self.low, self.high],
                "interval_fraction_of_target": list(self.fraction), "phi_target": self.phi_target,
                "limited_by": [named(i) for i in self.limiting]}


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not norm > 0:
        raise ValueError("embeddings must be non-zero")
    return vector / norm


def plane(source: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
    """(e1, e2, phi_target): the orthonormal basis of the plane of the two prompt embeddings, e1 = the
    source, and the angle from source to target. ValueError when they are (anti)parallel."""
    e1, target = _unit(np.asarray(source, np.float64)), _unit(np.asarray(target, np.float64))
    rest = target - (target @ e1) * e1
    if np.linalg.norm(rest) < 1e-9:
        raise ValueError("source and target prompts have parallel embeddings: they define no direction")
    e2 = _unit(rest)
    return e1, e2, float(math.atan2(target @ e2, target @ e1))


def rotate(image: np.ndarray, source: np.ndarray, target: np.ndarray, phi) -> np.ndarray:
    """z(phi) for one unit image embedding and one phi (or an array of phis: one row each)."""
    e1, e2, _ = plane(source, target)
    z = _unit(np.asarray(image, np.float64))
    a, b = z @ e1, z @ e2
    perp = z - a * e1 - b * e2
    radius, theta0 = math.hypot(a, b), math.atan2(b, a)
    angles = theta0 + np.atleast_1d(np.asarray(phi, np.float64))
    rotated = perp[None, :] + radius * (np.cos(angles)[:, None] * e1[None, :] + np.sin(angles)[:, None] * e2[None, :])
    return rotated if np.ndim(phi) else rotated[0]


def certify_semantic(image: np.ndarray, classes: np.ndarray, source: np.ndarray, target: np.ndarray
                     ) -> SemanticInterval:
    """The closed-form certified interval for the prediction argmax_c <z, u_c> (module docstring).

    ``image``: the image embedding (D); ``classes``: one embedding per class (C x D); ``source`` and
    ``target``: the prompt pair's embeddings. All are normalised here."""
    z = _unit(np.asarray(image, np.float64))
    units = np.asarray(classes, np.float64)
    units = units / np.linalg.norm(units, axis=1, keepdims=True)
    e1, e2, phi_target = plane(source, target)
    predicted = int(np.argmax(units @ z))
    a, b = z @ e1, z @ e2
    perp = z - a * e1 - b * e2
    radius, theta0 = math.hypot(a, b), math.atan2(b, a)
    low, high, limiting = -math.pi, math.pi, [-1, -1]
    for c in range(len(units)):
        if c == predicted:
            continue
        d = units[predicted] - units[c]
        constant = float(perp @ d)
        p, q = float(e1 @ d), float(e2 @ d)
        amplitude = radius * math.hypot(p, q)
        if constant >= amplitude:  # positive all the way round
            continue
        half_width = math.acos(max(-1.0, min(1.0, -constant / amplitude)))
        # the arc's centre psi, moved by whole turns next to 0 (the margin is positive at 0)
        psi = math.atan2(q, p) - theta0
        psi = (psi + math.pi) % (2 * math.pi) - math.pi
        arc_low, arc_high = psi - half_width, psi + half_width
        if not arc_low <= 0.0 <= arc_high:  # 0 lies in the arc one turn over
            shift = 2 * math.pi if arc_high < 0 else -2 * math.pi
            arc_low, arc_high = arc_low + shift, arc_high + shift
        if arc_low > low:
            low, limiting[0] = arc_low, c
        if arc_high < high:
            high, limiting[1] = arc_high, c
    return SemanticInterval(predicted, min(low, 0.0), max(high, 0.0), phi_target, (limiting[0], limiting[1]))


def swept_interval(image: np.ndarray, classes: np.ndarray, source: np.ndarray, target: np.ndarray,
                   step: float = 1e-3) -> Tuple[float, float]:
    """The same interval by brute force: the prediction at every phi on a grid of ``step`` out to +-pi, and
    the ends of the run around 0 where it stays the prediction at 0 (the tests' numerical check)."""
    units = np.asarray(classes, np.float64)
    units = units / np.linalg.norm(units, axis=1, keepdims=True)
    grid = np.arange(0.0, math.pi + step, step)
    ends = []
    for sign in (1.0, -1.0):
        predictions = np.argmax(rotate(image, source, target, sign * grid) @ units.T, axis=1)
        changed = np.nonzero(predictions != predictions[0])[0]
        ends.append(sign * (grid[changed[0] - 1] if len(changed) else math.pi))
    return ends[1], ends[0]
