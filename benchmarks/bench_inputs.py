"""Benchmark of the input pipeline on synthetic tapes: read+validate → group → value (DESIGN §9).

    python benchmarks/bench_inputs.py --assets 1000000 --amcs 8               # parquet, 3 repeats
    python benchmarks/bench_inputs.py --assets 1000000 --amcs 8 --format csv --repeat 1

Tapes are written once by :func:`pooling.tapes.synth.write_consortium` into a cache folder
(``bench-data/inputs-<assets>-<amcs>-<fmt>/``, git-ignored) and reused by later runs.

Each repeat runs in two fresh child processes, so nothing one run allocates is counted in another:

* **baseline** — a bare ``pandas.read_parquet`` (``read_csv`` for csv) of the same tape files and the links file,
  no header mapping, no validation. It calibrates the machine: on a noisy shared host the ratio
  read+validate / raw read is steadier than either number.
* **pipeline** — the stages of :func:`pooling.pipeline.prepare`, timed one by one: ``read+validate``
  (:func:`pooling.tapes.load.load_tapes`), ``group`` (:func:`pooling.graph.build_groups` + ``assign``) and ``value``
  (:func:`pooling.valuation.model.value_assets` with the scenario's valuation settings).

Memory per stage, from the kernel (no tracemalloc, which only sees Python allocations and slows numpy code):

* ``stage peak`` — the high-water mark of resident memory *during* the stage: ``VmHWM`` in ``/proc/self/status``
  after resetting it with ``/proc/self/clear_refs`` at the start of the stage (Linux ≥ 4.0). It includes what
  earlier stages still hold (the pipeline keeps its frames alive, as ``prepare`` does).
* ``peak so far`` — the process's peak since it started (cumulative): the largest of the stage peaks and of the
  high-water mark left by interpreter start-up and imports. (``getrusage(RUSAGE_SELF).ru_maxrss`` is not used for
  this: a child started by fork/vfork + exec inherits its parent's high-water mark. It is only the fallback where
  VmHWM cannot be reset, and it is kept in the ``--json`` output. The parent of the measurements stays small for
  the same reason: tapes are generated in a child process too.)

Medians over ``--repeat`` runs are printed with the budget line (default 60 s and 6 GB on 2 cores: total time of
the three stages and the largest peak RSS). The child is pinned to ``--cores`` CPUs when the machine has more.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("read+validate", "group", "value")
_MARK = "BENCH-RESULT "
GB = 1024**3


# ------------------------------------------------------------------------------------------------ memory probes
def _status_kb(field: str) -> int | None:
    """A ``VmXXX`` field of /proc/self/status in kB, None where /proc is unavailable."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _reset_hwm() -> bool:
    """Reset the kernel's resident-memory high-water mark (VmHWM) of this process; False when not supported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _maxrss_bytes() -> int:
    """Peak RSS of this process since it started (ru_maxrss is kB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


class _Probe:
    """Wall time and memory of one stage in the current process."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, float | None]] = {}
        hwm = _status_kb("VmHWM")  # interpreter start and imports, before the first reset
        self._so_far = hwm * 1024 if hwm is not None else None

    def run(self, name: str, fn):
        resettable = _reset_hwm()
        t = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - t
        hwm = _status_kb("VmHWM")
        rss = _status_kb("VmRSS")
        stage_peak = hwm * 1024 if (resettable and hwm is not None) else None
        if stage_peak is not None and self._so_far is not None:
            self._so_far = max(self._so_far, stage_peak)
        else:
            # No resettable VmHWM (not Linux): fall back to ru_maxrss. Caveat: a child started by fork/vfork+exec
            # inherits its parent's high-water mark, which is why the parent of this script stays small.
            self._so_far = _maxrss_bytes()
        self.results[name] = {
            "seconds": seconds,
            "stage_peak_bytes": stage_peak,
            "peak_so_far_bytes": self._so_far,
            "rss_after_bytes": rss * 1024 if rss is not None else None,
            "ru_maxrss_bytes": _maxrss_bytes(),  # JSON only: includes the parent's high-water mark, see above
        }
        return value


# ------------------------------------------------------------------------------------------------ child processes
def _child_pipeline(scenario_path: Path) -> dict:
    import pandas as pd  # noqa: F401  (imports are not part of any stage)

    from pooling.graph import build_groups
    from pooling.scenario import load_scenario
    from pooling.tapes.load import load_tapes
    from pooling.valuation.model import DEFAULT_PARAMETERS, value_assets

    rss_start = _status_kb("VmRSS")
    scenario = load_scenario(scenario_path)
    probe = _Probe()
    tapes = probe.run("read+validate", lambda: load_tapes(scenario))
    assets = probe.run("group", lambda: build_groups(tapes.links).assign(tapes.assets))

    def value():
        # As pooling.pipeline.prepare calls it.
        params = DEFAULT_PARAMETERS.with_overrides(scenario.valuation.model)
        return value_assets(
            assets,
            as_of=scenario.as_of,
            discount_rate=scenario.valuation.discount_rate,
            source=scenario.valuation.source,
            horizon_months=scenario.valuation.horizon_months,
            params=params,
        )

    valued = probe.run("value", value)
    return {
        "stages": probe.results,
        "rss_start_bytes": rss_start * 1024 if rss_start is not None else None,
        "n_assets": len(valued),
        "n_links": len(tapes.links),
        "n_groups": int(valued["group_id"].nunique()),
        "frame_bytes": int(valued.memory_usage(deep=True).sum()),
    }


def _child_baseline(scenario_path: Path) -> dict:
    import pandas as pd

    from pooling.scenario import load_scenario

    scenario = load_scenario(scenario_path)
    paths = [scenario.tape_path(a) for a in scenario.amcs]
    links = scenario.links_path

    def read_all():
        rows = 0
        for p in paths:
            frame = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
            rows += len(frame)
            del frame
        if links is not None:
            rows += len(pd.read_csv(links))
        return rows

    probe = _Probe()
    rows = probe.run("raw read", read_all)
    return {"stages": probe.results, "rows": rows}


def _spawn(kind: str, scenario: Path, cores: int) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--scenario", str(scenario)]
    cmd += ["--cores", str(cores)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"benchmark child ({kind}) failed with exit code {proc.returncode}")
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK) :])
    raise SystemExit(f"benchmark child ({kind}) printed no result:\n{proc.stdout}{proc.stderr}")


def _pin(cores: int) -> int:
    """Pin this process to ``cores`` CPUs when it may use more; the number of CPUs it may use afterwards."""
    if not hasattr(os, "sched_getaffinity"):
        return os.cpu_count() or 1
    allowed = sorted(os.sched_getaffinity(0))
    if cores > 0 and len(allowed) > cores:
        os.sched_setaffinity(0, allowed[:cores])
    return len(os.sched_getaffinity(0))


# ------------------------------------------------------------------------------------------------ data
def ensure_data(cache: Path, n_assets: int, n_amcs: int, fmt: str) -> Path:
    """The scenario file of the cached consortium, written first when missing (atomically: temp dir + rename)."""
    scenario = cache / "scenario.yaml"
    if scenario.is_file():
        print(f"tapes: reusing {cache}")
        return scenario
    print(f"tapes: writing {n_assets:,} assets / {n_amcs} AMCs ({fmt}) to {cache} ...", flush=True)
    t = time.perf_counter()
    tmp = cache.with_name(cache.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    # In a child: the 1M-asset generation takes a few GB, and this process's peak would leak into every measured
    # child's ru_maxrss (see the module docstring).
    code = (
        "import sys; from pathlib import Path; from pooling.tapes.synth import bench_amcs, write_consortium; "
        "write_consortium(Path(sys.argv[1]), n_assets=int(sys.argv[2]), amcs=bench_amcs(int(sys.argv[3]), sys.argv[4]), seed=0)"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp), str(n_assets), str(n_amcs), fmt], check=True, cwd=ROOT
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    if cache.exists():  # a half-written folder from an older layout: replace it
        shutil.rmtree(cache)
    tmp.rename(cache)
    print(f"tapes: written in {time.perf_counter() - t:.1f} s", flush=True)
    return scenario


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------------ report
def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _gb(x: float | None) -> str:
    return "n/a" if x is None else f"{x / GB:.2f}"


def report(runs: list[dict], baselines: list[dict], *, budget_s: float, budget_gb: float, cores: int) -> bool:
    """Print the medians table, ratios and the budget line; True when within budget."""
    rows = []
    for name in STAGES:
        st = [r["stages"][name] for r in runs]
        rows.append(
            (
                name,
                _median([s["seconds"] for s in st]),
                _median([s["stage_peak_bytes"] for s in st]),
                _median([s["peak_so_far_bytes"] for s in st]),
                [s["seconds"] for s in st],
            )
        )
    totals = [sum(r["stages"][n]["seconds"] for n in STAGES) for r in runs]
    total_s = statistics.median(totals)
    peak = _median([max(r["stages"][n]["peak_so_far_bytes"] for n in STAGES) for r in runs])
    raw = [b["stages"]["raw read"] for b in baselines]
    raw_s = statistics.median([s["seconds"] for s in raw])
    raw_peak = _median([s["stage_peak_bytes"] for s in raw])

    print()
    print(f"{'stage':<16}{'median s':>10}{'stage peak RSS GB':>19}{'peak so far GB':>16}   runs (s)")
    print("-" * 86)
    for name, sec, stage_peak, so_far, all_s in rows:
        print(
            f"{name:<16}{sec:>10.2f}{_gb(stage_peak):>19}{_gb(so_far):>16}   {', '.join(f'{x:.2f}' for x in all_s)}"
        )
    print("-" * 86)
    print(f"{'total':<16}{total_s:>10.2f}{'':>19}{_gb(peak):>16}   {', '.join(f'{x:.2f}' for x in totals)}")
    print(f"{'raw read (base)':<16}{raw_s:>10.2f}{_gb(raw_peak):>19}{'':>16}   "
          + ", ".join(f"{s['seconds']:.2f}" for s in raw))  # fmt: skip
    print()
    rv = rows[0][1]
    print(f"read+validate = {rv / raw_s:.1f} × raw read;  total = {total_s / raw_s:.1f} × raw read")
    ok = total_s <= budget_s and peak is not None and peak <= budget_gb * GB
    verdict = "PASS" if ok else "FAIL"
    print(f"budget: {budget_s:g} s and {budget_gb:g} GB on {cores} cores → {verdict}"
          f"  (total {total_s:.1f} s, peak {_gb(peak)} GB)")  # fmt: skip
    return ok


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--assets", type=int, default=1_000_000, help="total assets over all AMCs (default 1,000,000)"
    )
    ap.add_argument("--amcs", type=int, default=8, help="number of AMCs (default 8)")
    ap.add_argument("--format", dest="fmt", choices=("parquet", "csv"), default="parquet", help="tape format")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of each measurement; medians are reported (default 3)"
    )
    ap.add_argument("--cache", type=Path, default=None,
                    help="tape folder (default bench-data/inputs-<assets>-<amcs>-<fmt>/ in the repo)")  # fmt: skip
    ap.add_argument(
        "--cores", type=int, default=2, help="pin the measured processes to this many CPUs (default 2)"
    )
    ap.add_argument(
        "--budget-seconds", type=float, default=60.0, help="time budget of the three stages (default 60)"
    )
    ap.add_argument("--budget-gb", type=float, default=6.0, help="peak RSS budget in GiB (default 6)")
    ap.add_argument(
        "--json", type=Path, default=None, help="also write every raw measurement to this JSON file"
    )
    ap.add_argument("--child", choices=("pipeline", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--scenario", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        _pin(args.cores)
        result = (_child_pipeline if args.child == "pipeline" else _child_baseline)(args.scenario)
        print(_MARK + json.dumps(result), flush=True)
        return 0

    if args.repeat < 1:
        ap.error("--repeat must be ≥ 1")
    cache = args.cache or ROOT / "bench-data" / f"inputs-{args.assets}-{args.amcs}-{args.fmt}"
    scenario = ensure_data(cache.resolve(), args.assets, args.amcs, args.fmt)
    cores = _pin(args.cores)
    print(f"data: {_dir_bytes(cache) / 1e6:,.0f} MB on disk; python {sys.version.split()[0]}; "
          f"{cores} cores; {args.repeat} repeat(s)", flush=True)  # fmt: skip

    runs, baselines = [], []
    for i in range(args.repeat):
        # Interleaved, so drifting machine load hits the baseline and the pipeline alike.
        baselines.append(_spawn("baseline", scenario, args.cores))
        run = _spawn("pipeline", scenario, args.cores)
        runs.append(run)
        secs = "  ".join(f"{n} {run['stages'][n]['seconds']:.2f}s" for n in STAGES)
        print(f"run {i + 1}/{args.repeat}: raw read {baselines[-1]['stages']['raw read']['seconds']:.2f}s  {secs}  "
              f"peak {_gb(max(run['stages'][n]['peak_so_far_bytes'] for n in STAGES))} GB", flush=True)  # fmt: skip
    first = runs[0]
    print(f"pipeline: {first['n_assets']:,} assets, {first['n_links']:,} links, {first['n_groups']:,} obligor groups; "
          f"valued frame {first['frame_bytes'] / GB:.2f} GB (deep); interpreter+imports "
          f"{_gb(first['rss_start_bytes'])} GB RSS")  # fmt: skip
    ok = report(runs, baselines, budget_s=args.budget_seconds, budget_gb=args.budget_gb, cores=cores)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"cache": str(cache), "json": str(args.json)},
                                         "pipeline": runs, "baseline": baselines}, indent=2, default=str))  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
