"""Fuzz `pooling validate` with mutated tapes, links and scenario files (tests/fuzzing.py), many cases.

Every case must end in exit 0, 1 or 2 with no traceback, no hang and nothing written but the validation report.
Baseline: the clean, unmutated case's validate time (printed with the per-case median). Budget: 0 failures.

    python benchmarks/bench_fuzz.py --cases 10000 --seed 0
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import fuzz, run_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        t0 = time.perf_counter()
        base = [run_case(root / f"base-{i}", i, seed=-1) for i in range(3)]  # warm-up, and a time per case
        base_s = (time.perf_counter() - t0) / len(base)
        stamps = [time.perf_counter()]
        outcomes = fuzz(root, args.cases, args.seed, progress=lambda n: stamps.append(time.perf_counter()))
    per_case = statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
    failed = [o for o in outcomes if o.problem is not None]
    codes = collections.Counter(o.exit_code for o in outcomes)
    kinds = collections.Counter(m.split(" ")[0] for o in outcomes for m in o.mutations)
    print(f"cases: {len(outcomes):,} (seed {args.seed}); exit codes {dict(sorted(codes.items(), key=str))}; "
          f"mutations applied {dict(kinds)}")
    print(f"median per case {per_case * 1e3:.0f} ms; ratio to a warm-up case {per_case / base_s:.2f}")
    for o in failed[:20]:
        print(f"  FAILED case {o.case} {o.mutations}: {o.problem}")
    print(f"budget: 0 tracebacks, hangs or partial outputs in {len(outcomes):,} cases → "
          f"{'PASS' if not failed else f'FAIL ({len(failed)})'}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
