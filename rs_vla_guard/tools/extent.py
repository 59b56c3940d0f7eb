"""``rs-vla-guard extent``: how far one physical change may go on one frame before the smoothed action
changes (transformation smoothing; :mod:`rs_vla_guard.certification.extent`), and its plot."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import numpy as np

from ..certification.extent import TRANSFORMS

SWEEP_POINTS = 25  # points of the plotted parameter range
SWEEP_SAMPLES = 128  # transformed samples per plotted point


def run(guard, frame, instruction: str, transform: str, *, samples: int,
        plot_path: Optional[str] = None, sweep_samples: int = SWEEP_SAMPLES) -> Dict[str, Any]:
    """The extent certificate of ``transform`` for the action on ``frame`` as a JSON-ready record (action,
    interval, p_lower, samples, unit, smoothing) at the guard's ``alpha`` and ``extent_smoothing``; with
    ``plot_path``, a PNG of the smoothed action shares against the parameter, the certified interval shaded."""
    alpha = guard.params["alpha"]
    action, certificate = guard.certify_extent(frame, instruction, transform, n=samples, alpha=alpha)
    smoothing = guard.extent_smoothing(transform)
    record = {"action": action, **certificate.as_record(), "unit": TRANSFORMS[transform][3],
              "smoothing": {"distribution": smoothing.distribution, "scale": smoothing.scale}, "alpha": alpha}
    if plot_path:
        low, high = (0.0, 3.0 * smoothing.scale) if smoothing.one_sided else (-3.0 * smoothing.scale,
                                                                              3.0 * smoothing.scale)
        values = np.linspace(low, high, SWEEP_POINTS)
        # shift sweeps dx (dy = 0): one direction of the certified disc
        offsets = [(float(v), 0.0) for v in values] if smoothing.dimensions == 2 else [float(v) for v in values]
        shares = guard.extent_sweep(frame, instruction, transform, offsets, samples=sweep_samples)
        plot(values, shares, guard.actions, record, plot_path, sweep_samples)
    return record


def plot(values: np.ndarray, shares: np.ndarray, actions, record: Dict[str, Any], path: str,
         sweep_samples: int = SWEEP_SAMPLES) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for column, name in enumerate(actions):
        if shares[:, column].any():
            axes.plot(values, shares[:, column], marker="o", markersize=3, label=name)
    low, high = (v if v is not None else math.inf for v in record["interval"])
    if record["transform"] == "shift":  # the certified disc along dx
        low = -high
    if high > low:
        axes.axvspan(max(low, values[0]), min(high, values[-1]), color="tab:green", alpha=0.15,
                     label=f"certified for {record['action']}")
    axes.axhline(0.5, color="k", linestyle=":", linewidth=0.8)
    axes.set_xlabel(f"{record['transform']} ({record['unit']})" + (", dx with dy = 0" if record["transform"] == "shift"
                                                                   else ""))
    axes.set_ylabel(f"share of {sweep_samples} smoothed samples")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(f"{record['transform']}: p_lower {record['p_lower']:.3f} from {record['n_samples']} samples, "
                   f"alpha {record['alpha']:g}", fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_record(record: Dict[str, Any]) -> str:
    low, high = ("unbounded" if v is None else f"{v:.4g}" for v in record["interval"])
    what = "|(dx, dy)| in" if record["transform"] == "shift" else "in"
    if record["action"] is None:
        return f"{record['transform']}: the clean frame's output maps to no action; nothing is certified"
    return (f"{record['transform']}: {record['action']} for every change {what} [{low}, {high}] "
            f"({record['unit']}); p_lower {record['p_lower']:.4f} from {record['n_samples']} samples, "
            f"{record['smoothing']['distribution']} smoothing of scale {record['smoothing']['scale']:g}, "
            f"alpha {record['alpha']:g}")


INSIDE_FRACTIONS = (0.5, 0.98)  # of the certified radius, each side (shift: along +-dx and +-dy)
OUTSIDE_FRACTIONS = (1.5, 2.0)


def brute_force(guard, frame, instruction: str, transform: str, *, samples: int, sweep_samples: int
                ) -> Dict[str, Any]:
    """Certify ``transform``'s extent with ``samples``, then estimate the smoothed classifier's majority with
    ``sweep_samples`` at points inside the certified interval (:data:`INSIDE_FRACTIONS` of the radius) and
    just outside it (:data:`OUTSIDE_FRACTIONS`): the check that no other action is the majority inside,
    and that the interval is not vacuous (another one may be, outside). Returns the action, the radius,
    and per point (offset, majority action, its share)."""
    action, certificate = guard.certify_extent(frame, instruction, transform, n=samples, alpha=guard.params["alpha"])
    smoothing = guard.extent_smoothing(transform)
    record: Dict[str, Any] = {"transform": transform, "action": action, "radius": certificate.radius,
                              "p_lower": certificate.p_lower, "inside": [], "outside": []}
    if action is None or not certificate.certified:
        return record
    for side, fractions in (("inside", INSIDE_FRACTIONS), ("outside", OUTSIDE_FRACTIONS)):
        offsets = []
        for fraction in fractions:
            distance = fraction * certificate.radius
            if smoothing.dimensions == 2:
                offsets += [(distance, 0.0), (-distance, 0.0), (0.0, distance), (0.0, -distance)]
            else:
                offsets += [distance] if smoothing.one_sided else [distance, -distance]
        shares = guard.extent_sweep(frame, instruction, transform, offsets, samples=sweep_samples)
        for offset, row in zip(offsets, shares):
            majority = int(np.argmax(row))
            record[side].append({"offset": offset, "majority": guard.actions[majority], "share": float(row[majority]),
                                 "action_share": float(row[guard.actions.index(action)])})
    return record
