"""Benchmark: the commands end to end on 1M rows — `pooling calibrate` on 1M history rows (budget 60 s) and
`pooling value` on 1M assets (budget 20 s), files on disk, read and validated, outputs written.

Not part of the test run. Baseline measured in the same run: ``pandas.read_parquet`` of the same files (the least
any command must do); prints seconds, the ratio to the baseline and the median over ``--repeat`` seeds.

    python benchmarks/bench_value.py [--assets N] [--history N] [--repeat K]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pooling.cli.main import app
from pooling.tapes.history_synth import synth_history, write_history
from pooling.tapes.synth import bench_amcs, write_consortium

AS_OF = dt.date(2026, 6, 30)
runner = CliRunner()


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    result = runner.invoke(app, args)
    seconds = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(f"pooling {' '.join(args)} failed:\n{result.output}")
    return seconds


def read_all(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        pd.read_parquet(p)
    return time.perf_counter() - start


def one(seed: int, n_assets: int, n_history: int, root: Path) -> dict[str, float]:
    amcs = bench_amcs(8, "parquet")
    history = synth_history(amcs, n_assets=n_history, start=dt.date(2014, 1, 1), cutoff=AS_OF, seed=seed)
    files = write_history(history, amcs, root / "history")
    scenario = write_consortium(root, n_assets=n_assets, amcs=amcs, seed=seed, as_of=AS_OF)
    doc = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    doc["valuation"] = {**doc.get("valuation", {}), "model": "model", "source": "model"}
    scenario.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    tapes = [root / a["tape"] for a in doc["amcs"]]

    calibrate = timed(["calibrate", *map(str, files), "--out", str(root / "model"), "--as-of", AS_OF.isoformat()])
    value = timed(["value", str(scenario), "--out", str(root / "value")])
    return {"calibrate": calibrate, "read_history": read_all(files), "value": value, "read_tapes": read_all(tapes)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=1_000_000)
    ap.add_argument("--history", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    rows = []
    for seed in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            r = one(seed, args.assets, args.history, Path(tmp))
        rows.append(r)
        print(f"seed {seed}: calibrate {r['calibrate']:.1f} s ({r['calibrate'] / r['read_history']:.0f}× reading the "
              f"history parquet, {r['read_history']:.2f} s) · value {r['value']:.1f} s "
              f"({r['value'] / r['read_tapes']:.0f}× reading the tapes, {r['read_tapes']:.2f} s)")
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"median over {len(rows)} seed(s): calibrate {args.history:,} rows {med['calibrate']:.1f} s (budget 60 s), "
          f"value {args.assets:,} assets {med['value']:.1f} s (budget 20 s)")


if __name__ == "__main__":
    main()
