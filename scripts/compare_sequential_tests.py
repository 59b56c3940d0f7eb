"""Mean samples per decision of the guard's tests against a family of betting tests, by Bernoulli simulation.

    .venv/bin/python scripts/compare_sequential_tests.py [--runs 400] [--n-max 4096] [--floor] [--json]

Every decision is a stream of agreements X_i ~ Bernoulli(p_A) with the candidate. Compared, at each
(radius, p_A), with alpha 0.001 and sigma 0.25:

- ``betting``: the guard's default (``certification.betting.certify_betting``, with its futility stops);
- ``sequential``: the Clopper-Pearson test with alpha spending over looks (``certify_mode: sequential``,
  batch 64, as the guard ran it before);
- the family, each looking at the betting test's own schedule (so measured the same way): a uniform
  mixture of constant bets (Beta(1, 1) prior on q), a Beta(2, 1) mixture, ten equally weighted constant
  bets, a predictable plug-in Kelly bet, aGRAPA, and a mixture with 90% of its wealth on unanimity.

Also the floor of the trade-off between p_A = 1 and the hardest certifiable p_A (``--floor``): a test that
certifies at p_A = 1 within 5% of the best, i.e. by n1 = floor(1.05 x best) unanimous samples, certifies
the unanimous stream of n1 samples, which has probability m^n1 under the null p_A = m; that much of alpha
is spent there, and every other stream is tested at level alpha - m^n1 at most. The best of the family at
that level, at p_A 0.9 (radius 0.25) and 0.99 (radius 0.5), against the best at alpha, is then the least
any such mixture pays there.

And the false-certification rate of ``betting`` at alpha 0.05 with p_A just below p*. Not part of
``make test`` (a few minutes); the README and docs/theory.md quote its output.
"""
import argparse
import json
import math
import sys

import numpy as np
from scipy.stats import beta as beta_distribution
from scipy.stats import norm

from rs_vla_guard.certification import betting, certify_sequential

SIGMA = 0.25
ALPHA = 0.001
CASES = [(0.25, p) for p in (0.9, 0.95, 0.99, 1.0)] + [(0.5, p) for p in (0.99, 1.0)]


def _mixture(k, n, m, shape, points=48):
    t = (np.arange(points) + 0.5) / points
    weights = beta_distribution.pdf(t, shape, 1.0)
    weights /= weights.sum()
    out = np.full(k.shape, -np.inf)
    for ti, wi in zip(t, weights):
        q = m + (1 - m) * ti
        out = np.logaddexp(out, math.log(wi) + k * math.log(q / m) + (n - k) * math.log((1 - q) / (1 - m)))
    return out


def family(agree: np.ndarray, m: float) -> dict:
    """log-wealth paths (runs x n) of each comparison test against the null p_A <= m."""
    k = np.cumsum(agree, axis=1)
    n = np.arange(1, agree.shape[1] + 1)[None, :]
    unanimous = np.where(k == n, n * math.log(1 / m), -np.inf)
    uniform = _mixture(k, n, m, 1.0)
    tests = {"mixture_beta_1_1": uniform, "mixture_beta_2_1": _mixture(k, n, m, 2.0),
             "unanimity_90": np.logaddexp(math.log(0.9) + unanimous, math.log(0.1) + uniform)}
    grid = [m + (1 - m) * c for c in np.linspace(0.1, 1.0, 10)]
    bets = [k * math.log(q / m) + (n - k) * math.log((1 - q) / (1 - m)) for q in grid[:-1]]
    bets.append(unanimous)  # the largest bet, q = 1: everything is lost at the first disagreement
    tests["ten_constant_bets"] = np.logaddexp.reduce(np.stack(bets) + math.log(0.1), axis=0)
    k_before = np.concatenate([np.zeros((agree.shape[0], 1)), k[:, :-1]], axis=1)
    n_before = n - 1
    estimate = np.clip((k_before + 0.5) / (n_before + 1), m, m + 0.99 * (1 - m))  # plug-in Kelly: q = estimate
    tests["plug_in_kelly"] = np.cumsum(np.where(agree == 1, np.log(estimate / m),
                                                np.log((1 - estimate) / (1 - m))), axis=1)
    mean = (k_before + 0.5) / (n_before + 1)
    bet = np.clip((mean - m) / (mean * (1 - mean) + (mean - m) ** 2), 0, 0.99 / m)  # aGRAPA
    tests["agrapa"] = np.cumsum(np.log1p(bet * (agree - m)), axis=1)
    return tests


def stopping(log_wealth: np.ndarray, looks: list, n_max: int, alpha: float = ALPHA):
    at_looks = log_wealth[:, np.asarray(looks) - 1] >= math.log(1 / alpha)
    crossed = at_looks.any(axis=1)
    samples = np.where(crossed, np.asarray(looks)[at_looks.argmax(axis=1)], n_max)
    return float(samples.mean()), float(crossed.mean())


def run_guard_test(test, agree: np.ndarray, radius: float, n_max: int):
    samples, certified = [], []
    for row in agree:
        position = [0]

        def sample(count, row=row, position=position):
            drawn = row[position[0]:position[0] + count]
            position[0] += count
            return np.where(drawn == 1, 0, 1)  # class 0 is the candidate

        certificate = test(sample, sigma=SIGMA, alpha=ALPHA,
                           radius_threshold=radius, n_max=n_max, batch_size=64, candidate=0)
        samples.append(certificate.n_samples)
        certified.append(certificate.certified)
    return float(np.mean(samples)), float(np.mean(certified))


def false_certification_rate(radius: float, runs: int, n_max: int, seed: int = 11):
    """At alpha 0.05 with p_A = p* - 0.005: the share of runs that certify (must stay <= alpha + 3 SE)."""
    rng = np.random.default_rng(seed)
    p_star = norm.cdf(radius / SIGMA)
    false = 0
    for _ in range(runs):
        certificate = betting.certify_betting(lambda count: np.where(rng.random(count) < p_star - 0.005, 0, 1),
                                              sigma=SIGMA, alpha=0.05, radius_threshold=radius, n_max=n_max,
                                              batch_size=64, candidate=0)
        false += certificate.certified
    return false / runs


def floor(rows: list, runs: int, n_max: int) -> list:
    """For each radius: what keeping p_A = 1 within 5% of the best costs, at best, at the hardest p_A."""
    rng = np.random.default_rng(1)
    out = []
    for radius, hard in ((0.25, 0.9), (0.5, 0.99)):
        at_one = next(r for r in rows if r["radius"] == radius and r["p_A"] == 1.0)
        best_at_one = min(v[0] for v in at_one["family"].values())
        m = norm.cdf(radius / SIGMA)
        n1 = int(math.floor(1.05 * best_at_one))
        rest = ALPHA - m ** n1
        agree = (rng.random((runs, n_max)) < hard).astype(np.int64)
        first = betting.first_look(sigma=SIGMA, alpha=ALPHA, radius_threshold=radius, n_max=n_max)
        looks = betting.look_schedule(first, n_max)
        paths = family(agree, m)
        best_full = min(stopping(path, looks, n_max)[0] for path in paths.values())
        best_rest = min(stopping(path, looks, n_max, rest)[0] for path in paths.values())
        out.append({"radius": radius, "p_A": hard, "n1": n1, "alpha_left": rest, "best_at_alpha": best_full,
                    "best_at_alpha_left": best_rest, "floor_ratio": best_rest / best_full})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--n-max", type=int, default=4096)
    parser.add_argument("--false-runs", type=int, default=4000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--floor", action="store_true", help="also the p_A = 1 trade-off floor (slower)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for radius, p_true in CASES:
        m = norm.cdf(radius / SIGMA)
        agree = (rng.random((args.runs, args.n_max)) < p_true).astype(np.int64)
        first = betting.first_look(sigma=SIGMA, alpha=ALPHA, radius_threshold=radius, n_max=args.n_max)
        looks = betting.look_schedule(first, args.n_max)
        row = {"radius": radius, "p_A": p_true}
        row["betting"] = run_guard_test(betting.certify_betting, agree, radius, args.n_max)
        row["sequential"] = run_guard_test(certify_sequential, agree, radius, args.n_max)
        row["family"] = {name: stopping(path, looks, args.n_max) for name, path in family(agree, m).items()}
        best_name = min(row["family"], key=lambda name: row["family"][name][0])
        row["best"] = best_name
        row["betting_vs_best"] = row["betting"][0] / row["family"][best_name][0]
        row["sequential_vs_betting"] = row["sequential"][0] / row["betting"][0]
        rows.append(row)
        if not args.json:
            print(f"radius {radius} p_A {p_true}: betting {row['betting'][0]:.1f} ({row['betting'][1]:.0%}), "
                  f"sequential {row['sequential'][0]:.1f} ({row['sequential'][1]:.0%}), best of family "
                  f"{best_name} {row['family'][best_name][0]:.1f}; betting/best {row['betting_vs_best']:.3f}; "
                  + ", ".join(f"{name} {v[0]:.0f}" for name, v in row["family"].items()), flush=True)
    floors = floor(rows, max(args.runs, 1000), args.n_max) if args.floor else []
    if not args.json:
        for row in floors:
            print(f"floor, radius {row['radius']} p_A {row['p_A']}: certifying p_A = 1 by {row['n1']} samples "
                  f"leaves alpha {row['alpha_left']:.2e}; the family's best there {row['best_at_alpha_left']:.1f} "
                  f"against {row['best_at_alpha']:.1f} at alpha: x{row['floor_ratio']:.3f}", flush=True)
    soundness = {radius: false_certification_rate(radius, args.false_runs, args.n_max) for radius in (0.25, 0.5)}
    se = math.sqrt(0.05 * 0.95 / args.false_runs)
    if args.json:
        print(json.dumps({"rows": rows, "floor": floors, "false_certification_at_alpha_0.05": soundness, "se": se}))
    else:
        for radius, rate in soundness.items():
            print(f"false certification, alpha 0.05, p_A = p* - 0.005, radius {radius}: {rate:.4f} "
                  f"(allowed {0.05 + 3 * se:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
