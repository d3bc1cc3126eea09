"""Exact Shapley benchmark (DESIGN §9): 8 AMCs, a 10,000-asset pool, 255 coalition values on 2 processes.

    python benchmarks/bench_consortium.py [--assets 10000] [--amcs 8] [--workers 2] [--repeat 1]

Prints the wall time of the whole game (coalition values + exact Shapley + core + least core + packages.csv), the
serial per-coalition seconds summed, the packages stage's share of the wall, and each as a multiple of one
grand-coalition solve measured in the same run.
Target: < 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pooling.consortium.game import analyse, coalition_value
from pooling.pipeline import prepare
from pooling.scenario import load_scenario
from pooling.tapes.synth import bench_amcs, write_consortium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--amcs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("bench-data"))
    args = parser.parse_args()
    folder = args.cache / f"consortium-{args.assets}-{args.amcs}"
    path = folder / "scenario.yaml"
    if not path.exists():
        write_consortium(folder, n_assets=args.assets, amcs=bench_amcs(args.amcs, "parquet"), seed=0)
    scenario = load_scenario(path)
    assets = prepare(scenario).assets
    players = frozenset(a.id for a in scenario.amcs)

    t0 = time.perf_counter()
    grand = coalition_value(assets, scenario, players)
    base = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = analyse(assets, scenario, workers=args.workers)
        times.append(time.perf_counter() - t0)
    wall = statistics.median(times)
    serial = float(res.coalitions["seconds"].sum())
    statuses = res.coalitions["status"].value_counts().to_dict()
    print(f"{args.assets:,} assets, {args.amcs} AMCs, {len(res.coalitions)} coalitions ({statuses}), {args.workers} workers")
    print(f"baseline: one grand-coalition value                 {base:8.2f} s   (v(N) = CNY {grand.value / 1e6:,.1f}m)")
    print(f"exact Shapley game, wall (median of {args.repeat})             {wall:8.2f} s = {wall / base:6.1f}x baseline"
          f"   [target < 60 s: {'PASS' if wall < 60 else 'FAIL'}]")
    print(f"coalition solves summed (serial equivalent)         {serial:8.2f} s = {serial / base:6.1f}x baseline")
    n_resolved = int((res.packages["method"] == "resolve").sum()) if len(res.packages) else 0
    print(f"of the wall: packages.csv (one LP, {n_resolved} re-solves)     {res.packages_seconds:8.2f} s = "
          f"{res.packages_seconds / base:6.1f}x baseline   ({len(res.packages):,} packages)")
    print(f"Shapley sums to v(N): {res.allocation['shapley_value'].sum() / 1e6:,.1f}m vs {res.grand.value / 1e6:,.1f}m;"
          f" least-core epsilon {res.least_core_epsilon}")
    print(res.allocation[["amc_id", "contributed_gbv", "standalone_value", "shapley_value"]].to_string(index=False))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
