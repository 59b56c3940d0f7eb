"""Extent certificates, measured: soundness by simulation per smoothing distribution, and brute-force
sweeps of the built-in policy over random block-task scenes (the figures in the README).

    .venv/bin/python scripts/extent_checks.py [--runs 4000] [--scenes 24] [--samples 1000] [--sweep 256]
"""
import argparse
import json
import math
import sys
import time

import numpy as np
from scipy.stats import norm

from rs_vla_guard.certification import extent
from rs_vla_guard.certification.extent import ExtentSmoothing

TRANSFORMS = ("brightness", "contrast", "blur", "shift")


def worst_case(smoothing, p_true, rng):
    """h(theta) = 0 when theta < t (theta: the parameter, or dx for shift) with P(h = 0) = p_true, and its
    true extent t - median (see test/certification/test_extent.py)."""
    def quantile(p):
        if smoothing.distribution == "uniform":
            return p * smoothing.scale
        if smoothing.distribution == "folded_gaussian":
            return smoothing.scale * norm.ppf(0.5 + p / 2)
        return smoothing.scale * norm.ppf(p)

    def draw(m):
        if smoothing.distribution == "uniform":
            return rng.uniform(0, smoothing.scale, m)
        values = rng.normal(0, smoothing.scale, m)
        return np.abs(values) if smoothing.distribution == "folded_gaussian" else values

    threshold = quantile(p_true)
    return (lambda m: np.where(draw(m) < threshold, 0, 1)), threshold - quantile(0.5)


def soundness(runs: int, alpha: float = 0.05):
    rows = []
    for smoothing in (ExtentSmoothing("brightness", 0.2), ExtentSmoothing("contrast", 0.2),
                      ExtentSmoothing("blur", 4.0, "uniform"), ExtentSmoothing("blur", 2.0, "folded_gaussian"),
                      ExtentSmoothing("shift", 3.0)):
        threshold = smoothing.radius(0.8)
        p_true = smoothing.probability_for(threshold) - 0.005
        rng = np.random.default_rng(11)
        false = 0
        for _ in range(runs):
            sampler, truth = worst_case(smoothing, p_true, rng)
            result = extent.certify_extent_threshold(sampler, smoothing, extent_threshold=threshold, alpha=alpha,
                                                     n_max=400, batch_size=32, target=(0,))
            false += result.certified or result.radius > truth + 1e-12
        rate = false / runs
        rows.append({"transform": smoothing.transform, "distribution": smoothing.distribution,
                     "extent_threshold": round(threshold, 4), "p_true": round(p_true, 4), "runs": runs,
                     "false_certification_rate": rate,
                     "allowed": round(alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs), 4)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def sweeps(scenes: int, samples: int, sweep_samples: int):
    from rs_vla_guard.guard import Guard
    from rs_vla_guard.tasks import blocks
    from rs_vla_guard.tools.extent import brute_force

    guard = Guard.from_config({})
    guard.generator.manual_seed(23)
    rng = np.random.default_rng(23)
    summary = {t: {"scenes": 0, "certified": 0, "inside_points": 0, "inside_other_majority": 0,
                   "scenes_with_other_majority_outside": 0, "radii": [], "seconds": 0.0} for t in TRANSFORMS}
    for _ in range(scenes):
        scene, colour, _truth = blocks.random_scene(rng)
        frame, instruction = blocks.render(scene), blocks.instruction_for(colour)
        for transform in TRANSFORMS:
            started = time.perf_counter()
            record = brute_force(guard, frame, instruction, transform, samples=samples, sweep_samples=sweep_samples)
            row = summary[transform]
            row["seconds"] += time.perf_counter() - started
            row["scenes"] += 1
            row["certified"] += bool(record["inside"])
            row["radii"].append(record["radius"])
            row["inside_points"] += len(record["inside"])
            row["inside_other_majority"] += sum(p["majority"] != record["action"] for p in record["inside"])
            row["scenes_with_other_majority_outside"] += any(p["majority"] != record["action"]
                                                             for p in record["outside"])
    for transform, row in summary.items():
        radii = row.pop("radii")
        row["radius_median"] = round(float(np.median(radii)), 4)
        row["radius_min"] = round(float(np.min(radii)), 4)
        row["seconds_per_scene"] = round(row.pop("seconds") / max(row["scenes"], 1), 2)
        print(json.dumps({"transform": transform, **row}), file=sys.stderr)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sweep", type=int, default=256)
    args = parser.parse_args()
    print(json.dumps({"soundness": soundness(args.runs),
                      "sweeps": sweeps(args.scenes, args.samples, args.sweep)}, indent=1))


if __name__ == "__main__":
    main()
