"""Frontier benchmark (issue 14, item 3): ``pooling frontier`` end to end, now and as it was solved before.

    python benchmarks/bench_frontier.py [--scenario scenarios/demo/scenario.yaml] [--dimension province]
                                        [--points 6] [--repeat 2] [--no-baseline] [--no-senior]

Each run is the command itself in a fresh child process (read, validate, group, value, the unconstrained pool, the
LP minimum HHI, every point, each point's senior sized, frontier.csv and frontier.html written): wall time, and the
child's CPU time (user + system, ``resource.getrusage(RUSAGE_CHILDREN)``) — on a shared machine the CPU time is the
steadier number. Two methods, alternating, in the same run:

- ``separable`` (the command as shipped): every bounded point by separable HHI tangents carried across points,
  the tightest point at the LP minimum × (1 + ``TIGHTEST_MARGIN``) (docs/frontier.md, "How a point is solved");
- ``baseline`` (``--no-baseline`` skips it): every bounded point by :func:`pooling.selection.model.select_pool`
  with the cone cuts seeded from earlier points, the tightest point on the LP minimum itself — the frontier before.

Prints per point its bound, achieved HHI (and whether it is within the bound's 1e-4 tolerance), npv, status, certified
gap and seconds, then per method the median wall and CPU time over ``--repeat`` runs and the ratio baseline / new.
Budget (set for the demo; a larger scenario spends most of its time reading, valuing and sizing): median wall
time of the command ≤ 60 s, every point within its bound, no ``hhi_not_converged``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

BUDGET_SECONDS = 60.0
ROOT = Path(__file__).resolve().parents[1]

#: the child: the CLI's own entry point, with the frontier's method (and tightest margin) set for this run
CHILD = """
import functools, sys
import pooling.selection.frontier as fr
method, margin = sys.argv[1], float(sys.argv[2])
fr.frontier = functools.partial(fr.frontier, method=method, tightest_margin=margin)
from pooling.cli.main import main
sys.argv = ["pooling", *sys.argv[3:]]
main()
"""

METHODS = {"separable": None, "baseline": ("select_pool", 0.0)}


def run_once(method: str, args: argparse.Namespace, out: Path) -> dict:
    from pooling.selection.frontier import TIGHTEST_MARGIN

    name, margin = METHODS[method] or ("separable", TIGHTEST_MARGIN)
    cmd = [sys.executable, "-c", CHILD, name, str(margin), "frontier", str(args.scenario), "--dimension", args.dimension,
           "--points", str(args.points), "--out", str(out)]
    if not args.senior:
        cmd.append("--no-senior")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{method}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    table = pd.read_csv(out / "frontier.csv", encoding="utf-8-sig")
    return {"method": method, "wall": wall, "cpu": cpu, "table": table}


def report(run: dict) -> tuple[bool, bool]:
    t = run["table"]
    within = t["hhi"] <= t["bound_hhi"] * (1 + 1e-4)
    print(f"  {run['method']}: {run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU")
    print("    point   bound    hhi   within   npv (CNY m)  status              gap       seconds")
    for r, ok in zip(t.itertuples(), within, strict=True):
        print(f"    {r.point:>5} {r.bound_hhi:7.4f} {r.hhi:7.4f}   {'yes' if ok else 'NO ':>4}  {r.npv / 1e6:11,.1f}  "
              f"{r.status:<18} {r.mip_gap:9.2e} {r.seconds:8.1f}")
    return bool(within.all()), bool((t["status"] != "hhi_not_converged").all())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/demo/scenario.yaml"))
    parser.add_argument("--dimension", default="province")
    parser.add_argument("--points", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--no-senior", dest="senior", action="store_false")
    args = parser.parse_args()
    methods = ["separable", "baseline"] if args.baseline else ["separable"]
    print(f"pooling frontier {args.scenario} --dimension {args.dimension} --points {args.points}"
          f"{'' if args.senior else ' --no-senior'}; load average {os.getloadavg()[0]:.2f} at start")
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for m in methods:
                run = run_once(m, args, Path(tmp) / f"{m}-{i}")
                print(f"run {i + 1}/{args.repeat} (load average {os.getloadavg()[0]:.2f})")
                within, converged = report(run)
                if m == "separable":
                    ok &= within and converged
                runs[m].append(run)
    med = {m: (statistics.median(r["wall"] for r in rs), statistics.median(r["cpu"] for r in rs)) for m, rs in runs.items()}
    for m, (wall, cpu) in med.items():
        print(f"median over {args.repeat} runs, {m}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    if "baseline" in med:
        print(f"baseline / separable: {med['baseline'][0] / med['separable'][0]:.1f}x wall, "
              f"{med['baseline'][1] / med['separable'][1]:.1f}x CPU")
    ok &= med["separable"][0] <= BUDGET_SECONDS
    print(f"budget: median wall ≤ {BUDGET_SECONDS:g} s, every point within its bound, none hhi_not_converged → "
          f"{'PASS' if ok else 'FAIL'} (load average {os.getloadavg()[0]:.2f} at the end)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
