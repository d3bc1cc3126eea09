"""Kill `pooling run` with SIGKILL at random moments, many times, and check its output folder after each kill.

Each kill interrupts a run of the other of two scenarios into the same folder; afterwards the folder must hold
exactly the previous complete set or the new one (byte for byte, timing fields aside), never a mix, a partial file
or a temporary file. Baseline: the same loop's uninterrupted run time (printed). Budget: 0 broken folders.

    python benchmarks/bench_kill.py --kills 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.killing import kill_loop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        report = kill_loop(Path(work), kills=args.kills, seed=args.seed)
    print(f"runs killed mid-way: {report.kills} (and {report.finished} that finished before their kill time); "
          f"afterwards the folder held the previous set {report.previous}×, the new set {report.new}×, "
          f"broken {len(report.broken)}×")
    for line in report.broken:
        print("  broken:", line)
    ok = not report.broken and report.kills == args.kills
    print(f"budget: 0 broken folders in {report.kills} kills → {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
