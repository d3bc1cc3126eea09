"""Exact Shapley benchmark (DESIGN §9): 8 AMCs, a 10,000-asset pool, 255 coalition values on 2 processes.

    python benchmarks/bench_consortium.py [--assets 10000] [--amcs 8] [--seed 0] [--workers 2] [--repeat 1]
                                          [--time-limit S [S ...]]

Prints, for ``analyse`` (the ``pooling consortium`` stage), the wall time of the game DESIGN §9 budgets — the 255
coalition values, exact Shapley, nucleolus with the least-core ranges, core check and transfer prices — then the
packages.csv stage that follows it (re-solves of the grand deal, a separate deliverable) and the whole; the serial
per-coalition seconds summed and where they go (by coalition size and by status: the coalitions whose selection
could not be proven within the requested gap); each as a multiple of one grand-coalition solve measured in the
same run. With several ``--time-limit`` values
(``consortium.coalition_time_limit_s``) the game is run once per limit and the allocations are compared with the
first: what a shorter limit costs in accuracy.
Target (DESIGN §9): ≤ 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pooling.consortium.game import STAGE_ALLOCATIONS, STAGE_PACKAGES, analyse, coalition_value
from pooling.pipeline import prepare
from pooling.scenario import load_scenario
from pooling.tapes.synth import bench_amcs, write_consortium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--amcs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="the synthetic consortium's seed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("bench-data"))
    parser.add_argument("--time-limit", type=float, nargs="+", default=None,
                        help="consortium.coalition_time_limit_s values to run the game with (default: the scenario's)")
    args = parser.parse_args()
    folder = args.cache / (f"consortium-{args.assets}-{args.amcs}" + (f"-seed{args.seed}" if args.seed else ""))
    path = folder / "scenario.yaml"
    if not path.exists():
        write_consortium(folder, n_assets=args.assets, amcs=bench_amcs(args.amcs, "parquet"), seed=args.seed)
    scenario = load_scenario(path)
    assets = prepare(scenario).assets
    players = frozenset(a.id for a in scenario.amcs)

    t0 = time.perf_counter()
    grand = coalition_value(assets, scenario, players)
    base = time.perf_counter() - t0
    print(f"{args.assets:,} assets, {args.amcs} AMCs, {args.workers} workers")
    print(f"baseline: one grand-coalition value                 {base:8.2f} s   (v(N) = CNY {grand.value / 1e6:,.1f}m)")
    limits = args.time_limit or [scenario.consortium.coalition_time_limit_s]
    first = None
    for limit in limits:
        sc = scenario.model_copy(update={"consortium": scenario.consortium.model_copy(
            update={"coalition_time_limit_s": limit})})
        times, games, values = [], [], []
        for _ in range(args.repeat):
            marks: dict[str, float] = {}
            t0 = time.perf_counter()
            res = analyse(assets, sc, workers=args.workers,
                          on_stage=lambda stage, marks=marks: marks.setdefault(stage, time.perf_counter()))
            end = time.perf_counter()
            times.append(end - t0)
            # the stages named by analyse: values end at the allocations, the game at the packages stage
            values.append(marks.get(STAGE_ALLOCATIONS, end) - t0)
            games.append(marks.get(STAGE_PACKAGES, end) - t0)
        _report(res, statistics.median(times), statistics.median(games), statistics.median(values), base, limit,
                args.repeat)
        if args.repeat > 1:
            print("  game, each run: " + " / ".join(f"{g:.2f}" for g in games) + " s")
        alloc = res.allocation.set_index("amc_id")
        if first is None:
            first = alloc
            continue
        for rule in ("shapley_value", "nucleolus"):
            if rule in alloc and rule in first:
                moved = (alloc[rule] - first[rule]).abs()
                print(f"  {rule} against the {limits[0]:g} s limit: largest move CNY {moved.max():,.0f} "
                      f"({moved.max() / max(first[rule].abs().sum(), 1e-9):.4%} of the total allocated)")


def _report(res, wall: float, game: float, values: float, base: float, limit: float, repeat: int) -> None:
    table = res.coalitions
    serial = float(table["seconds"].sum())
    statuses = table["status"].value_counts().to_dict()
    print(f"\ncoalition time limit {limit:g} s: {len(table)} coalitions {statuses}")
    print(f"exact Shapley + nucleolus game, wall (median of {repeat})  {game:8.2f} s = {game / base:6.1f}x baseline"
          f"   [DESIGN §9 target ≤ 30 s: {'PASS' if game <= 30 else 'FAIL'}]")
    print(f"  of which the 255 coalition values                   {values:8.2f} s; allocations, core, transfers "
          f"{game - values:.2f} s")
    print(f"then packages.csv (one LP, {_resolves(res)} re-solves)          {wall - game:8.2f} s = "
          f"{(wall - game) / base:6.1f}x baseline   ({len(res.packages):,} packages)")
    print(f"analyse, whole wall                                 {wall:8.2f} s = {wall / base:6.1f}x baseline")
    print(f"coalition solves summed (serial equivalent)         {serial:8.2f} s = {serial / base:6.1f}x baseline")
    unproven = ~table["status"].isin(["optimal", "infeasible", "empty"])
    print(f"  of which coalitions not proven within the gap ({int(unproven.sum())}): "
          f"{float(table.loc[unproven, 'seconds'].sum()):.1f} s; by size (count, seconds): "
          + ", ".join(f"{k}: {int(g.size)}, {g.sum():.1f}" for k, g in table.groupby("n_members")["seconds"]))
    slow = table.sort_values("seconds", ascending=False, kind="stable").head(5)
    print("  slowest: " + "; ".join(f"{r.coalition} {r.seconds:.1f} s {r.status}" for r in slow.itertuples()))
    print(f"Shapley sums to v(N): {res.allocation['shapley_value'].sum() / 1e6:,.1f}m vs {res.grand.value / 1e6:,.1f}m;"
          f" least-core epsilon {res.least_core_epsilon}")
    cols = [c for c in ("amc_id", "contributed_gbv", "standalone_value", "shapley_value", "nucleolus")
            if c in res.allocation]
    print(res.allocation[cols].to_string(index=False))


def _resolves(res) -> int:
    return int((res.packages["method"] == "resolve").sum()) if len(res.packages) else 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
