"""Solution concepts on a cached game (DESIGN §7): nucleolus + exact Shapley for 8 players, random superadditive values.

    python benchmarks/bench_nucleolus.py [--players 8] [--games 3] [--solver appsi_highs] [--budget-seconds 5]

The coalition values are a table (what ``Game`` caches), so this measures the solution concepts alone, not the
coalition selections. Per random game (seeded; a random game made superadditive by its cover) it times the
nucleolus (sequential Pyomo LPs), exact Shapley, the least-core ranges (2n + 1 LPs) and the superadditive cover,
and as the baseline one least-core LP (a single Pyomo model built and solved, ``game.least_core``) in the same run;
it prints medians over the games and each as a multiple of the baseline.
Budget: nucleolus + exact Shapley ≤ ``--budget-seconds`` (default 5 s) → PASS/FAIL (exit code 0 / 1).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import numpy as np

from pooling.consortium.game import least_core
from pooling.consortium.solutions import (
    core_check,
    least_core_ranges,
    nucleolus_rounds,
    shapley_exact,
    superadditive_cover,
)


def random_game(n: int, seed: int) -> tuple[list[str], dict[frozenset, float]]:
    """v(S) = |S| · U(0.5, 1.5) · (1 + 0.1 |S|), then its superadditive cover (values in CNY m)."""
    rng = np.random.default_rng(seed)
    players = [f"AMC{i + 1}" for i in range(n)]
    raw = {frozenset(): 0.0}
    for r in range(1, n + 1):
        for c in itertools.combinations(players, r):
            raw[frozenset(c)] = 100.0 * r * rng.uniform(0.5, 1.5) * (1 + 0.1 * r)
    return players, superadditive_cover(players, raw.__getitem__)


def timed(f, *args, **kwargs):
    t0 = time.perf_counter()
    out = f(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=8)
    parser.add_argument("--games", type=int, default=3)
    parser.add_argument("--solver", default="appsi_highs")
    parser.add_argument("--budget-seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = []
    for seed in range(args.games):
        players, table = random_game(args.players, seed)
        v = table.__getitem__
        (eps_lp, _), t_lc = timed(least_core, players, v, solver=args.solver)
        res, t_nu = timed(nucleolus_rounds, players, v, solver=args.solver)
        _, t_sh = timed(shapley_exact, players, v)
        (_, ranges), t_rg = timed(least_core_ranges, players, v, solver=args.solver)
        _, t_cv = timed(superadditive_cover, players, v)
        chk = core_check(players, v, res.allocation)
        rows.append({"lc": t_lc, "nu": t_nu, "sh": t_sh, "both": t_nu + t_sh, "rg": t_rg, "cv": t_cv,
                     "rounds": len(res.levels), "lps": res.lp_solves, "eps": res.epsilon, "eps_lp": eps_lp,
                     "in_core": chk.in_core,
                     "width": max(hi - lo for lo, hi in ranges.values())})
    med = {k: statistics.median(r[k] for r in rows) for k in ("lc", "nu", "sh", "both", "rg", "cv")}
    n = args.players
    print(f"{n} players, {2 ** n - 2} proper coalitions, {args.games} random superadditive games, solver {args.solver}")
    for r_i, r in enumerate(rows):
        print(f"  game {r_i}: {r['rounds']} rounds / {r['lps']} LPs, eps* = {r['eps']:.3f} (single LP {r['eps_lp']:.3f}),"
              f" nucleolus in core: {r['in_core']}, widest least-core range {r['width']:.2f}")
    base = med["lc"]
    print(f"baseline: one least-core LP (build + solve)      {base:8.3f} s")
    for key, label in (("nu", "nucleolus (sequential LPs)"), ("sh", "exact Shapley"),
                       ("both", "nucleolus + exact Shapley"), ("rg", "least-core ranges (2n+1 LPs)"),
                       ("cv", "superadditive cover (3^n DP)")):
        print(f"{label:<46}  {med[key]:8.3f} s = {med[key] / base:6.1f}x baseline")
    ok = med["both"] <= args.budget_seconds
    print(f"budget: nucleolus + exact Shapley ≤ {args.budget_seconds:g} s → {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
