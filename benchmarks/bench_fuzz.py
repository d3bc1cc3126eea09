"""Fuzz the tool's inputs (tests/fuzzing.py), many cases: `pooling validate` on mutated tapes, links and scenario
files, `study --dry-run`, `shelf` and `calibrate` on mutated study, plan and history files, and `monitor` on mutated
servicer reports of a small issued deal (one case in seven; `--commands` to choose).

Every case must end in one of its exit codes (0, 1 or 2; a shelf plan also 3 or 4) with no traceback, no hang and
nothing written but what that outcome writes. Baseline: warm-up cases of a fixed seed (printed with the per-case
median, overall and per command). Budget: 0 failures.

    python benchmarks/bench_fuzz.py --cases 10000 --seed 0
"""

from __future__ import annotations

import argparse
import collections
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import ALL_COMMANDS, fuzz, issued_deal, run_case


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--commands", default=",".join(dict.fromkeys(ALL_COMMANDS)),
                    help="comma-separated commands to draw cases from (default: all)")
    args = ap.parse_args()
    commands = tuple(c for c in ALL_COMMANDS if c in args.commands.split(","))
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        if "monitor" in commands:
            issued_deal()  # built once, before the clock starts
        t0 = time.perf_counter()
        base = [run_case(root / f"base-{i}", i, seed=-1, commands=commands) for i in range(7)]  # warm-up
        base_s = (time.perf_counter() - t0) / len(base)
        stamps = [time.perf_counter()]
        outcomes = fuzz(root, args.cases, args.seed, progress=lambda n: stamps.append(time.perf_counter()),
                        commands=commands)
    seconds = [b - a for a, b in itertools.pairwise(stamps)]
    per_case = statistics.median(seconds)
    failed = [o for o in outcomes if o.problem is not None]
    codes = collections.Counter(o.exit_code for o in outcomes)
    kinds = collections.Counter(m.split(" ")[0] for o in outcomes for m in o.mutations)
    print(f"cases: {len(outcomes):,} (seed {args.seed}); exit codes {dict(sorted(codes.items(), key=str))}; "
          f"mutations applied {dict(kinds)}")
    by_command = collections.defaultdict(list)
    for o, s in zip(outcomes, seconds, strict=True):
        by_command[o.command].append((o, s))
    for command, rows in sorted(by_command.items()):
        cmd_codes = collections.Counter(o.exit_code for o, _ in rows)
        print(f"  {command}: {len(rows):,} cases, exit codes {dict(sorted(cmd_codes.items(), key=str))}, "
              f"{sum(o.problem is not None for o, _ in rows)} failed, median {statistics.median(s for _, s in rows) * 1e3:.0f} ms")
    print(f"median per case {per_case * 1e3:.0f} ms; ratio to a warm-up case {per_case / base_s:.2f}")
    for o in failed[:20]:
        print(f"  FAILED case {o.case} {o.mutations}: {o.problem}")
    print(f"budget: 0 tracebacks, hangs or partial outputs in {len(outcomes):,} cases → "
          f"{'PASS' if not failed else f'FAIL ({len(failed)})'}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
