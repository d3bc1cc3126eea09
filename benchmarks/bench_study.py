"""Study executors benchmark (DESIGN §8): one 200-point study, serial vs local processes vs a Dask LocalCluster.

    python benchmarks/bench_study.py [--assets 2000] [--runs 200] [--workers N] [--repeat 3] [--gap 0.01]

The base is a small synthetic consortium (``--assets``, 4 AMCs, written once into ``bench-data/``) and the study
base + a grid of ``--runs`` points (house-price shock × court delay × coupon shift). Baseline: one in-process
``run_pipeline`` of the base (warm tape cache), median of 5. For each executor, medians over ``--repeat`` fresh
stores of

* wall clock: wall time, runs/s (all, and "steady" between the 10th and 90th percentile finish times), speed-up
  over serial, and the overhead per run = (workers × wall − Σ in-worker run seconds) / runs;
* CPU accounting, far less distorted by a loaded machine: the runs' own CPU (measured in the workers), the worker
  processes' CPU outside the runs (start-up, imports, first tape read, transport; from RUSAGE_CHILDREN) per run
  and as a multiple of the baseline run, and the driver's CPU per run (with a LocalCluster the Dask scheduler and
  nannies live in the driver process, so theirs is counted there).

``dask (nanny default)`` is the LocalCluster with Dask's own MALLOC_TRIM_THRESHOLD_=65536 left in place, to show
what the override in :mod:`pooling.study.engine` buys. The last lines are an ESTIMATE (not a measurement) for a 16-core
machine from the per-run CPU, the steady overheads and the driver's ceiling.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from pooling.pipeline import run_pipeline
from pooling.scenario import load_scenario
from pooling.study import engine as st
from pooling.tapes.synth import demo_amcs, write_consortium

ROOT = Path(__file__).resolve().parents[1]


def _base(assets: int, gap: float) -> Path:
    folder = ROOT / "bench-data" / f"study-{assets}"
    path = folder / "scenario.yaml"
    if not path.exists():
        write_consortium(folder, n_assets=assets, amcs=demo_amcs(), seed=3)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["solver"] = {"backend": "highs", "mip_rel_gap": gap}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _grid(runs: int) -> dict[str, list[float]]:
    """A grid of exactly ``runs`` points when runs = 10·5·k (default 200 = 10 × 5 × 4)."""
    k = max(1, runs // 50)
    return {
        "levers.house_price_shock.residential": [round(-0.03 * i, 2) for i in range(10)],
        "levers.court_delay_months": [0, 3, 6, 9, 12],
        "levers.coupon_shift": [round(0.0025 * i, 4) for i in range(k)],
    }


def _study(base: Path, runs: int, folder: Path) -> Path:
    doc = {"name": "bench", "base": os.path.relpath(base, folder), "sweep": _grid(runs)}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _one(study: st.Study, executor: str, workers: int, tmp: Path) -> dict[str, float]:
    """One fresh study: wall, driver CPU, worker-process CPU (reaped children), and the runs' own times."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    t0, c0, k0 = time.perf_counter(), time.process_time(), _cpu_children()
    summary = st.run_study(study, out, executor=executor, workers=workers)
    wall, driver, children = time.perf_counter() - t0, time.process_time() - c0, _cpu_children() - k0
    runs, _ = st.load_results(out / st.STORE_NAME)
    assert summary.ran == len(study.runs) and (runs["status"] != "failed").all(), runs["error"].dropna().head()
    finished = sorted(dt.datetime.fromisoformat(t) for t in _finished_at(out / st.STORE_NAME))
    lo, hi = len(finished) // 10, len(finished) * 9 // 10
    steady = (hi - lo) / max(1e-9, (finished[hi] - finished[lo]).total_seconds())
    return {"wall": wall, "driver_cpu": driver, "worker_cpu": children, "run_wall": float(runs["seconds"].sum()),
            "run_cpu": float(runs["cpu_seconds"].sum()), "run_median": float(runs["seconds"].median()),
            "steady": steady}


def _finished_at(store: Path) -> list[str]:
    import sqlite3

    con = sqlite3.connect(store)
    try:
        return [r[0] for r in con.execute("SELECT finished_at FROM runs")]
    finally:
        con.close()


def _driver_cost(study: st.Study, tmp: Path, n: int = 200) -> float:
    """Median seconds the driver spends recording one finished run (one SQLite transaction, fsync)."""
    store = st.ResultStore(Path(tempfile.mkdtemp(dir=tmp)) / st.STORE_NAME)
    store.set_plan(study)
    metrics = {f"m{i}": float(i) for i in range(26)}
    times = []
    for run in study.runs[:n]:
        t0 = time.perf_counter()
        store.record(run, {"run_id": run.run_id, "status": "optimal", "metrics": metrics, "seconds": 0.1})
        times.append(time.perf_counter() - t0)
    store.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=st.default_workers())
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gap", type=float, default=0.01, help="solver.mip_rel_gap of the base (default 0.01)")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()

    base = _base(args.assets, args.gap)
    tmp = Path(tempfile.mkdtemp(prefix="bench-study-"))
    study = st.load_study(_study(base, args.runs, tmp))
    n, w = len(study.runs), args.workers
    scenario = load_scenario(base).model_copy()
    run_pipeline(scenario)  # warm the tape cache, as a worker's later runs are
    cpu, wall = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        run_pipeline(scenario)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    baseline, baseline_cpu = statistics.median(wall), statistics.median(cpu)
    print(f"base: {args.assets:,} assets, 4 AMCs, mip_rel_gap {args.gap}; study: {n} runs; {w} worker(s); "
          f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
    print(f"baseline: one in-process run_pipeline   {baseline * 1e3:8.1f} ms wall, {baseline_cpu * 1e3:.1f} ms CPU "
          f"(median of 5)")

    executors = [("serial", "serial", 1), ("process", "process", w)]
    if not args.no_dask:
        executors += [("dask", "dask", w), ("dask (nanny default)", "dask", w)]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in executors}
    for _ in range(args.repeat):
        for name, executor, workers in executors:
            env = dict(os.environ)
            if name == "dask (nanny default)":
                st.DASK_MALLOC_VALUE = "65536"  # Dask's own default
            try:
                results[name].append(_one(study, executor, workers, tmp))
            finally:
                st.DASK_MALLOC_VALUE = None
                os.environ.clear()  # LocalCluster's nannies write their pre-spawn variables into this process
                os.environ.update(env)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in results.items()}

    serial_wall = med["serial"]["wall"]
    print(f"\nwall clock (this machine, as loaded):\n{'executor':22} {'wall s':>7} {'runs/s':>7} {'steady':>7} "
          f"{'speed-up':>8} {'run median':>10} {'overhead/run':>12}")
    for (name, _, workers), m in zip(executors, med.values(), strict=True):
        over = (workers * m["wall"] - m["run_wall"]) / n
        print(f"{name:22} {m['wall']:7.1f} {n / m['wall']:7.2f} {m['steady']:7.2f} {serial_wall / m['wall']:7.2f}x "
              f"{m['run_median'] * 1e3:8.0f}ms {over * 1e3:10.0f}ms")
    print("  steady: runs/s between the 10th and 90th percentile finish times (start-up excluded);\n"
          "  overhead/run: (workers × wall − Σ run wall) / runs — worker time outside run_pipeline.")

    print(f"\nCPU accounting (far less sensitive to the machine's load), per run:\n{'executor':22} {'run CPU':>8} "
          f"{'vs serial':>9} {'worker overhead':>15} {'= × baseline':>12} {'driver':>8}")
    serial_cpu = med["serial"]["run_cpu"] / n
    for name, m in med.items():
        run_cpu = m["run_cpu"] / n
        worker_over = (m["worker_cpu"] - m["run_cpu"]) / n if name != "serial" else 0.0
        driver = (m["driver_cpu"] - (m["run_cpu"] if name == "serial" else 0.0)) / n
        print(f"{name:22} {run_cpu * 1e3:6.0f}ms {run_cpu / serial_cpu:8.2f}x {worker_over * 1e3:13.0f}ms "
              f"{worker_over / baseline_cpu:11.2f}x {driver * 1e3:6.1f}ms")
    print("  run CPU: inside run_pipeline, mean over the grid (the serial executor runs in-process; the grid's runs\n"
          "  cost more than the base of the baseline); worker overhead: worker processes' CPU outside the runs\n"
          "  (start-up, imports, first tape read, transport), amortised, and as a multiple of the baseline run's CPU;\n"
          "  driver: the driver's CPU (planning, scheduling, SQLite, progress; for dask also the client, and the\n"
          "  LocalCluster's scheduler and nannies, which run in the driver process).")

    # start-up of one worker (spawn, imports, first tape read): a 1-run study on one process
    one = st.Study(study.path, study.name, study.base_path, study.parameters, study.amcs, study.runs[:1])
    startup = statistics.median(_one(one, "process", 1, tmp)["worker_cpu"] - _one(one, "serial", 1, tmp)["run_cpu"]
                                for _ in range(2))
    d = _driver_cost(study, tmp)
    print(f"\nworker start-up: {startup:.2f} s CPU (spawn, imports, first tape read); recording one run in the store: "
          f"{d * 1e3:.1f} ms (SQLite transaction, synchronous=FULL)")
    c = serial_cpu
    for name in [k for k in ("process", "dask") if k in med]:
        m = med[name]
        o = max(0.0, (m["worker_cpu"] - m["run_cpu"]) / n - w * startup / n)  # steady worker overhead per run
        drv = max(d, m["driver_cpu"] / n)
        rate16 = min(16 / (c + o), 1 / drv)
        print(f"ESTIMATE, 16 cores, {name} (not measured): {c * 1e3:.0f} ms CPU per run + {o * 1e3:.0f} ms steady "
              f"overhead, driver ≤ {1 / drv:.0f} runs/s → ≈ {rate16:.0f} runs/s, ≈ {startup + n / rate16 + c:.0f} s "
              f"for {n} runs")
    print(f"  (serial here: {serial_wall:.0f} s wall, {med['serial']['run_cpu']:.0f} s CPU.) Assumes single-threaded "
          "CPU-bound runs on 16 free cores and no memory-bandwidth contention.")

if __name__ == "__main__":  # needed: the process and Dask executors start worker processes that import this module
    main()
