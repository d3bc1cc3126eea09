"""Monte Carlo sizing benchmark (DESIGN §6, §9): 10,000 factor scenarios on the demo's selected pool.

    python benchmarks/bench_montecarlo.py [--scenarios 10000]

Selects the demo pool once (scenarios/demo/scenario.yaml, not timed), then times, for each of 3 seeds, the Monte
Carlo sizing (:func:`pooling.tranching.montecarlo.size_monte_carlo`: scenario collections and the senior search)
and the whole ``size_deal`` under ``sizing: monte_carlo`` (the stresses.csv scenario view included), next to the
deterministic ``size_deal`` measured in the same run. Prints the medians over the seeds and the ratio to the
deterministic sizing (the machines are shared and noisy; the ratio is what to compare across runs).
Target: ≤ 2 s for the Monte Carlo sizing of 10,000 scenarios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from pooling.pipeline import run_scenario
from pooling.scenario import load_scenario
from pooling.tranching.deal import factor_parameters, size_deal, terms_from
from pooling.tranching.montecarlo import size_monte_carlo

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "scenario.yaml"


def _seconds(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    args = parser.parse_args()

    scenario = load_scenario(DEMO)
    result = run_scenario(scenario, size=False)
    pool, sc = result.pool, result.scenario
    st = sc.structure.model_copy(update={"sizing": "monte_carlo", "monte_carlo": sc.structure.monte_carlo.model_copy(
        update={"scenarios": args.scenarios})})
    terms = terms_from(st, expenses_base=float(pool["expected_recovery"].sum()))
    er = float(pool["expected_recovery"].sum())
    print(f"demo pool: {len(pool):,} assets, expected recovery CNY {er / 1e6:,.1f}m, {args.scenarios:,} scenarios")

    det, mc, deal = [], [], []
    for seed in args.seeds:
        t_det, d0 = _seconds(lambda: size_deal(pool, sc))
        t_mc, sized = _seconds(lambda seed=seed: size_monte_carlo(
            pool, terms, senior_rating=st.senior_rating, unit=st.size_unit, n_scenarios=args.scenarios, seed=seed,
            horizon_months=sc.valuation.horizon_months, discount_rate=sc.valuation.discount_rate,
            params=factor_parameters(st)))
        mc_sc = sc.model_copy(update={"structure": st.model_copy(update={"monte_carlo": st.monte_carlo.model_copy(
            update={"seed": seed})})})
        t_deal, _ = _seconds(lambda mc_sc=mc_sc: size_deal(pool, mc_sc))
        det.append(t_det)
        mc.append(t_mc)
        deal.append(t_deal)
        print(f"seed {seed}: deterministic senior {d0.analytics['senior_size'] / er:.3f} × ER in {t_det:.3f} s; "
              f"monte carlo senior {sized.senior / er:.3f} × ER (pass share {sized.senior_pass_share:.4f}, "
              f"{sized.collections.n_cells} cells) in {t_mc:.3f} s; size_deal(monte_carlo) {t_deal:.3f} s")
    m_det, m_mc, m_deal = statistics.median(det), statistics.median(mc), statistics.median(deal)
    print(f"median: deterministic size_deal {m_det:.3f} s; monte carlo sizing {m_mc:.3f} s "
          f"({m_mc / m_det:.1f}× deterministic; target ≤ 2 s: {'ok' if m_mc <= 2.0 else 'MISSED'}); "
          f"size_deal(monte_carlo) {m_deal:.3f} s ({m_deal / m_det:.1f}×)")


if __name__ == "__main__":
    main()
