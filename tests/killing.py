"""Kill `pooling run` with SIGKILL at random moments and check what its output folder holds afterwards.

Shared by the default test (a few kills) and ``benchmarks/bench_kill.py`` (many). A folder is *whole* when its
files are exactly those of one complete run — the previous scenario's or the new one's — every file byte-identical
to that run's (timing columns aside), with no temporary file inside it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import CLEAN_A, CLEAN_B, LINKS, write_scenario

#: Columns (and, in long tables, metric names) ending so hold wall-clock times: the only cells two identical
#: runs may differ in.
TIMING_COLUMNS = ("seconds",)


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not k.endswith("seconds")}
    return [_untimed(v) for v in value] if isinstance(value, list) else value


def fingerprint(folder: Path) -> dict[str, str]:
    """name → content hash of every entry in ``folder``: CSV timing columns (and rows naming a timing metric) and
    JSON ``*seconds`` keys left out;
    a workbook by its text (its cells show the solve time), and only if it opens as a whole zip."""
    out = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes() if path.is_file() else b"<dir>"
        if path.suffix == ".json":
            data = json.dumps(_untimed(json.loads(data)), sort_keys=True).encode()
        elif path.suffix == ".xlsx":
            with zipfile.ZipFile(io.BytesIO(data)) as book:
                data = book.read("xl/sharedStrings.xml")
        elif path.suffix == ".csv":
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
            frame = frame.drop(columns=[c for c in frame if c.endswith(TIMING_COLUMNS)])
            timing_rows = frame.apply(lambda col: col.str.endswith(TIMING_COLUMNS)).any(axis=1)  # long tables
            frame = frame.loc[~timing_rows]
            data = frame.to_csv(index=False).encode()
        out[path.name] = hashlib.sha256(data).hexdigest()
    return out


def write_two_scenarios(work: Path) -> tuple[Path, Path]:
    """The fixture tapes with a consortium, as two scenarios whose runs differ in every deal file."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "a.csv").write_text(CLEAN_A, encoding="utf-8")
    (data / "b.csv").write_text(CLEAN_B, encoding="utf-8")
    (data / "links.csv").write_text(LINKS, encoding="utf-8")
    amcs = [{"id": "A", "kind": "national", "tape": "data/a.csv"},
            {"id": "B", "kind": "local", "home_province": "CN-ZJ", "tape": "data/b.csv"}]
    first = write_scenario(work, amcs, consortium={})
    second = work / "second.yaml"
    doc = yaml.safe_load(first.read_text(encoding="utf-8"))
    doc["name"] = "second"
    doc["structure"] = {"senior_coupon": 0.045}
    second.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return first, second


def run(scenario: Path, out: Path) -> float:
    """One complete `pooling run`; its wall time."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pooling.cli.main", "run", str(scenario), "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


@dataclass
class KillReport:
    kills: int = 0  # runs killed while still running
    finished: int = 0  # runs that ended before their kill time (not counted as kills)
    previous: int = 0  # after a kill the folder held the previous run's set
    new: int = 0  # ...or the new run's (the kill came after the swap)
    broken: list[str] = field(default_factory=list)


def kill_loop(work: Path, kills: int, seed: int = 0) -> KillReport:
    """Alternate the two scenarios into one folder, killing runs at random moments of a run's span (measured on
    the uninterrupted runs as the loop goes, so the kills land in the run whatever the machine's load), until
    ``kills`` runs were killed mid-way."""
    first, second = write_two_scenarios(work)
    refs = {}
    spans = []
    for name, scenario in (("first", first), ("second", second)):
        spans.append(run(scenario, work / f"ref-{name}"))
        refs[name] = fingerprint(work / f"ref-{name}")
    assert refs["first"] != refs["second"], "the two scenarios must give different outputs"
    out = work / "out"
    run(first, out)
    current = "first"
    rng = random.Random(seed)
    report = KillReport()
    while report.kills < kills and report.kills + report.finished < 4 * kills:
        nxt = "second" if current == "first" else "first"
        span = sorted(spans)[len(spans) // 2]
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "pooling.cli.main", "run",
                                 str(second if nxt == "second" else first), "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=rng.uniform(0.3, 1.0) * span)  # the first ~30% is start-up: nothing is written yet
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            report.kills += 1
        else:
            report.finished += 1
            spans.append(time.perf_counter() - t0)
        held = fingerprint(out) if out.is_dir() else {}
        if held == refs[nxt]:
            report.new += 1
            current = nxt
        elif held == refs[current]:
            report.previous += 1
        else:
            odd = sorted(set(held.items()) ^ set(refs[current].items()))
            report.broken.append(f"kill {report.kills}: {odd[:4]}")
            run(first, out)  # start again from a known folder
            current = "first"
    return report
