"""Soak test of ``pooling serve`` on loopback: N users browse the workspace's pages for S seconds while the
coordinator's round runs; every response must be 200 (or the 403 an AMC user is owed). Prints p50/p95/max page
times per page kind, the round's wall time, and a budget line (exit 1 on any error or p95 over budget).

Baseline measured in the same run: the same page requests made one at a time on an idle server (no round, no
concurrency), so the ratio says what load and a running round cost.

    python benchmarks/bench_serve.py                      # 600-asset demo-like scenario, 20 users, 60 s
    python benchmarks/bench_serve.py --scenario scenarios/demo/scenario.yaml --users 20 --seconds 60
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pooling.scenario import load_scenario  # noqa: E402
from pooling.serve.app import create_app  # noqa: E402
from pooling.serve.users import add_user  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, help="scenario (default: a 600-asset synthetic demo in bench-data/)")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--budget-p95", type=float, default=2.0, help="seconds")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    scenario = args.scenario
    if scenario is None:
        from pooling.tapes.synth import demo_amcs, write_consortium

        folder = ROOT / "bench-data" / "serve-600"
        scenario = folder / "scenario.yaml"
        if not scenario.exists():
            write_consortium(folder, n_assets=600, amcs=demo_amcs(), seed=0, as_of=dt.date(2026, 6, 30))
    amcs = [a.id for a in load_scenario(scenario).amcs]
    users_file = work / "users.yaml"
    add_user(users_file, "coord", "coordinator", "coordinator-pw")
    for a in amcs:
        add_user(users_file, f"u-{a}", "amc", "amc-user-pw", a)
    app = create_app(scenario, users_file, work / "state", login_attempts=10_000)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    app.state.workspace.assets()  # warm: the first asset page prepares the scenario

    def session(name: str) -> httpx.Client:
        c = httpx.Client(base_url=url, timeout=120, follow_redirects=True)
        r = c.post("/login", data={"username": name, "password": "coordinator-pw" if name == "coord" else "amc-user-pw"})
        assert r.status_code == 200, r.status_code
        return c

    def pages_for(name: str) -> list[tuple[str, str, int]]:
        amc = name[2:] if name.startswith("u-") else None
        other = next(a for a in amcs if a != amc) if amc else None
        pages = [("home", "/", 200), ("API docs page", "/docs", 200)]
        if amc:
            pages += [("own assets", f"/amcs/{amc}/assets", 200), ("other AMC's assets (403)", f"/amcs/{other}/assets", 403)]
        else:
            pages += [("own assets", f"/amcs/{amcs[0]}/assets", 200), ("audit", "/audit", 200)]
        return pages

    # baseline: one user, idle server, each page 5 times
    base: dict[str, list[float]] = {}
    c = session("coord")
    for kind, path, _ in pages_for("coord") + pages_for(f"u-{amcs[0]}")[2:3]:
        for _ in range(5):
            t = time.perf_counter()
            c.get(path)
            base.setdefault(kind, []).append(time.perf_counter() - t)

    names = ["coord"] + [f"u-{amcs[i % len(amcs)]}" for i in range(args.users - 1)]
    clients = [session(n) for n in names]
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.time() + args.seconds

    def browse(i: int) -> None:
        rng = random.Random(i)
        pages = pages_for(names[i])
        while time.time() < stop:
            kind, path, want = rng.choice(pages)
            t = time.perf_counter()
            try:
                r = clients[i].get(path)
                status = r.status_code
            except httpx.HTTPError as e:
                status = f"{type(e).__name__}"
            took = time.perf_counter() - t
            with lock:
                times.setdefault(kind, []).append(took)
                if status != want:
                    errors.append(f"{names[i]} {path}: {status}")

    token = httpx.post(f"{url}/api/login", json={"username": "coord", "password": "coordinator-pw"}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    t_round = time.perf_counter()
    rid = httpx.post(f"{url}/api/rounds", json={"changes": {}}, headers=auth, timeout=60).json()["round_id"]
    threads = [threading.Thread(target=browse, args=(i,)) for i in range(len(clients))]
    for th in threads:
        th.start()
    round_seconds = None
    while round_seconds is None and time.time() < stop + 600:
        status = httpx.get(f"{url}/api/rounds/{rid}", headers=auth, timeout=60).json()["status"]
        if status not in ("queued", "running"):
            round_seconds = time.perf_counter() - t_round
            if status != "done":
                errors.append(f"round {rid}: {status}")
        time.sleep(0.2)
    for th in threads:
        th.join()
    server.should_exit = True
    shutil.rmtree(work, ignore_errors=True)

    everything = [x for v in times.values() for x in v]
    print(f"scenario {scenario}; {len(clients)} users for {args.seconds:.0f} s; round {rid} took {round_seconds:.1f} s "
          "while they browsed")
    print(f"{'page':28s} {'requests':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'idle p50 ms':>12s} {'p50/idle':>9s}")
    for kind, v in sorted(times.items()):
        idle = statistics.median(base[kind]) if kind in base else None
        p50 = statistics.median(v)
        print(f"{kind:28s} {len(v):9d} {1e3 * p50:8.0f} {1e3 * _percentile(v, 0.95):8.0f} {1e3 * max(v):8.0f} "
              f"{'' if idle is None else f'{1e3 * idle:12.0f}'} {'' if idle is None else f'{p50 / idle:9.1f}'}")
    p95 = _percentile(everything, 0.95)
    print(f"all pages: {len(everything)} requests, p95 {1e3 * p95:.0f} ms, {len(errors)} error(s)")
    for e in errors[:10]:
        print("  error:", e)
    ok = not errors and p95 <= args.budget_p95
    print(f"budget: no errors, p95 ≤ {args.budget_p95:.1f} s → {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
