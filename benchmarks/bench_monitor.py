"""Benchmark: `pooling monitor` on one year of monthly servicer reports for 1M pool assets (budget 30 s, 2 cores).

The deal is built directly (a synthetic valued pool of N assets with the valuation's curve columns, tranche sizes
at 50% / 20% of expected recovery, quarterly payments over 5 years) so that the benchmark times the monitor, not
the tape reading and valuation `pooling run` did at issue. Twelve monthly report CSVs (Chinese headers) are
written: each month about a quarter of the assets report a collection (lumpy, as NPL recoveries are), amounts
drawn around four times the month's plan so that the year totals about the plan, with one province 30% short.

Timed: read and validate the reports (:func:`pooling.monitor.reports.read_reports`), the plan
(:func:`pooling.monitor.surveillance.deal_plan`), the monitor itself (actual vs plan by segment, triggers, watch
list, re-forecast through the waterfall) and writing the five data files. Baseline measured in the same run:
``pandas.read_csv`` of the same files (the least any reader must do). Prints seconds per stage, the ratio to the
baseline and the median over ``--repeat`` runs.

    python benchmarks/bench_monitor.py [--assets N] [--months M] [--repeat K]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pooling.io import write_csv
from pooling.monitor.reports import read_reports
from pooling.monitor.surveillance import _month_ends, cumulative_plan, deal_plan, monitor
from pooling.pipeline import write_monitor
from pooling.scenario import Scenario
from pooling.tapes.headers import first_report_chinese_header
from pooling.tranching.deal import terms_from

CLOSING = dt.date(2026, 6, 30)
PROVINCES = np.array(["CN-ZJ", "CN-GD", "CN-JS", "CN-SC", "CN-SD", "CN-HB", "CN-HN", "CN-FJ", "CN-BJ", "CN-SH"])
COLLATERAL = np.array(["residential", "commercial", "industrial", "land", "equipment", "guarantee_only", "unsecured"])
AMCS = np.array(["NAT", "ZJ", "GD", "SC", "JS", "SD", "HB", "FJ"])


def synthetic_pool(n: int, seed: int) -> pd.DataFrame:
    """A valued pool: the columns the monitor reads, curves as the priors give them (exponential, lagged)."""
    rng = np.random.default_rng(seed)
    gbv = rng.lognormal(13.0, 1.2, n)
    rate = rng.beta(2.0, 4.0, n)
    k = rng.choice(np.linspace(0.02, 0.08, 25), n)  # a valuation gives few distinct curves (by segment)
    lag = rng.integers(1, 13, n).astype(float)
    er = gbv * rate
    amc = AMCS[rng.integers(0, len(AMCS), n)]
    obligor = rng.integers(0, n // 3, n)
    return pd.DataFrame({
        "amc_id": amc, "asset_id": [f"A{i:07d}" for i in range(n)], "obligor_id": [f"O{o:07d}" for o in obligor],
        "group_id": [f"G:O{o // 2:07d}" for o in obligor], "province": PROVINCES[rng.integers(0, len(PROVINCES), n)],
        "collateral_type": COLLATERAL[rng.integers(0, len(COLLATERAL), n)], "gbv": gbv, "expected_recovery": er,
        "npv": er * 0.85, "legal_status": "litigation", "curve_rinf": er / (1 - np.exp(-k * (120 - lag))),
        "curve_k": k, "curve_lag": lag})


def write_reports(pool: pd.DataFrame, months: int, folder: Path, seed: int) -> list[Path]:
    """Monthly CSVs: ~25% of assets collect each month, ~4 × the month's plan; CN-ZJ 30% short."""
    rng = np.random.default_rng(seed + 1)
    ends = _month_ends(pd.Timestamp(CLOSING), months)
    zh = first_report_chinese_header()
    cut = np.where(pool["province"].to_numpy() == "CN-ZJ", 0.7, 1.0)
    previous = np.zeros(len(pool))
    paths = []
    for m in range(1, months + 1):
        cum = cumulative_plan(pool, float(m), 121)
        due = cum - previous
        previous = cum
        hit = rng.random(len(pool)) < 0.25
        amount = due[hit] * 4.0 * cut[hit] * rng.lognormal(-0.125, 0.5, hit.sum())
        keep = amount >= 0.01
        frame = pd.DataFrame({"amc_id": pool["amc_id"].to_numpy()[hit][keep],
                              "asset_id": pool["asset_id"].to_numpy()[hit][keep],
                              "date": ends[m - 1] + (ends[m] - ends[m - 1]) / 2, "amount": np.round(amount[keep], 2)})
        frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
        paths.append(write_csv(frame.rename(columns=zh), folder / f"collections-{ends[m]:%Y-%m}.csv",
                               float_format="%.2f"))
    return paths


def one(n: int, months: int, seed: int, root: Path) -> dict[str, float]:
    scenario = Scenario(name="bench", as_of=CLOSING, amcs=[{"id": a, "kind": "national", "tape": f"{a}.csv"}
                                                           for a in AMCS],
                        structure={"payment_frequency": "quarterly", "legal_maturity_years": 5})
    pool = synthetic_pool(n, seed)
    paths = write_reports(pool, months, root, seed)
    t0 = time.perf_counter()
    rows = sum(len(pd.read_csv(p, encoding="utf-8-sig", dtype=str)) for p in paths)
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    er = float(pool["expected_recovery"].sum())
    terms = terms_from(scenario.structure, expenses_base=er)
    plan = deal_plan(pool, scenario, terms, {"senior": 0.5 * er, "mezz": 0.0, "sub": 0.2 * er})
    t1 = time.perf_counter()
    reports = read_reports(paths, plan.pool[["amc_id", "asset_id"]], plan.closing, None)
    t2 = time.perf_counter()
    result = monitor(plan, reports)
    t3 = time.perf_counter()
    write_monitor(root / "out", result)
    t4 = time.perf_counter()
    zj = result.monitor[(result.monitor["dimension"] == "province") & (result.monitor["segment"] == "CN-ZJ")]
    print(f"  {n:,} assets, {rows:,} report rows in {months} files: plan {t1 - t0:.2f} s, read+validate "
          f"{t2 - t1:.2f} s, monitor {t3 - t2:.2f} s, write {t4 - t3:.2f} s; total {t4 - t0:.2f} s "
          f"(baseline read_csv {baseline:.2f} s, ratio {(t4 - t0) / baseline:.1f}×); CN-ZJ ratio "
          f"{zj['ratio'].iloc[-1]:.3f}, watch list {len(result.watchlist):,} rows", flush=True)
    return {"total": t4 - t0, "baseline": baseline}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    totals, ratios = [], []
    for seed in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            r = one(args.assets, args.months, seed, Path(tmp))
        totals.append(r["total"])
        ratios.append(r["total"] / r["baseline"])
    med = statistics.median(totals)
    print(f"median total {med:.2f} s over {len(totals)} run(s); median ratio to read_csv "
          f"{statistics.median(ratios):.1f}×")
    ok = med <= 30.0
    print(f"budget: one year of monthly reports for {args.assets:,} assets ≤ 30 s → {'PASS' if ok else 'FAIL'}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
