"""Benchmark: calibrate on 1M history rows (budget 60 s) and value 1M assets with the model (budget 20 s).

Not part of the test run. Prints seconds and ratios against baselines measured in the same run on the same rows:
a scikit-learn LinearRegression fit (calibration) and a pandas groupby-sum (valuation). Also times lifelines'
WeibullAFTFitter on the same aggregated timing rows, which is why the timing model has its own L-BFGS fit.

    python benchmarks/bench_calibrate.py [N]
"""

from __future__ import annotations

import itertools
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pooling.valuation.calibrate import _timing_rows, calibrate, durations
from pooling.valuation.fitted import features, value_with_model
from tests.history_process import CUTOFF, make_history


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(n: int = 1_000_000) -> None:
    history, gen = timed(lambda: make_history(n, seed=42))
    print(f"history: {n:,} rows generated in {gen:.1f} s ({(history['resolved_on'].isna()).mean():.0%} open)")

    stages = []
    model, fit = timed(lambda: calibrate(history, cutoff=CUTOFF, progress=lambda s, f: stages.append(
        (s, time.perf_counter()))))
    steps = ", ".join(f"{a} {b - t:.1f}s" for (a, t), (_, b) in itertools.pairwise(stages))
    from sklearn.linear_model import LinearRegression

    x = np.column_stack([history["gbv"], history["collateral_value"].fillna(0), history["lien_rank"].fillna(1)])
    _, base = timed(lambda: LinearRegression().fit(x, history["recovered"].to_numpy()))
    print(f"calibrate: {fit:.1f} s (budget 60 s) [{steps}]; LinearRegression on the same rows {base:.2f} s; "
          f"ratio {fit / base:.0f}x")

    f = features(history, history["valued_on"].to_numpy())
    duration, event = durations(history, CUTOFF)
    levels, codes, t, d, w = _timing_rows(f, duration, event)
    rows = pd.DataFrame({b: np.asarray(levels[b], dtype=object)[codes[:, j]] for j, b in enumerate(levels)})
    rows = pd.get_dummies(rows, drop_first=True, dtype=float).assign(t=t, d=d, w=w)
    sample = rows.iloc[: min(len(rows), 50_000)]
    try:
        from lifelines import WeibullAFTFitter

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, life = timed(lambda: WeibullAFTFitter().fit(sample, duration_col="t", event_col="d", weights_col="w"))
        print(f"timing rows: {len(rows):,} aggregated from {n:,}; lifelines WeibullAFTFitter on "
              f"{len(sample):,} of them: {life:.1f} s (≈ {life * len(rows) / len(sample):.0f} s for all, est.)")
    except Exception as exc:  # lifelines failing is information, not a benchmark failure
        print(f"lifelines WeibullAFTFitter failed: {exc}")

    tape = history.drop(columns=["recovered", "resolved_on", "valued_on", "resolution", "true_rate",
                                 "true_mean_months", "true_months"])
    valued, value = timed(lambda: value_with_model(tape, model=model, as_of=date(2026, 6, 30), discount_rate=0.06))
    _, grp = timed(lambda: tape.groupby(["province", "asset_type"], observed=True)["gbv"].sum())
    print(f"value_with_model: {value:.1f} s for {n:,} assets (budget 20 s); pandas groupby-sum {grp:.2f} s; "
          f"ratio {value / grp:.0f}x; pool expected recovery {valued['expected_recovery'].sum() / 1e8:,.1f} 亿")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
