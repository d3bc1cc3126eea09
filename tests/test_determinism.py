"""Same inputs → byte-identical outputs, timing fields aside (DESIGN §14): one matrix over re-runs, solver backends,
worker counts and study executors (serial, process, Dask), for run, consortium, study and shelf (monitor: tests/test_monitor.py). Outputs are compared file by file with ``tests.killing.fingerprint`` (CSV
``seconds`` columns and JSON ``*seconds`` keys left out; a workbook by its text)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from tests.killing import TIMING_COLUMNS, fingerprint, write_two_scenarios

runner = CliRunner()


def _outputs(args: list[str], out: Path) -> dict[str, str]:
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return fingerprint(out)


def _differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    first, _ = write_two_scenarios(tmp_path_factory.mktemp("determinism"))
    return first


@pytest.fixture(scope="module")
def reference(scenario: Path) -> dict[str, str]:
    return _outputs(["run", str(scenario)], scenario.parent / "ref")


def _variant(scenario: Path, name: str, **changes) -> Path:
    doc = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    for key, value in changes.items():
        section, _, leaf = key.partition("__")
        doc.setdefault(section, {})[leaf] = value
    path = scenario.parent / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("variant", ["rerun", "pyomo_backend", "one_worker", "two_workers"])
def test_run_outputs_are_byte_identical(variant: str, scenario: Path, reference: dict[str, str]) -> None:
    path = {"rerun": lambda: scenario,
            "pyomo_backend": lambda: _variant(scenario, "pyomo", solver__backend="pyomo"),
            "one_worker": lambda: _variant(scenario, "w1", consortium__workers=1),
            "two_workers": lambda: _variant(scenario, "w2", consortium__workers=2)}[variant]()
    assert "allocation.csv" in reference and "report.html" in reference
    assert _differing(reference, _outputs(["run", str(path)], scenario.parent / variant)) == []


def test_consortium_outputs_do_not_depend_on_the_worker_count(scenario: Path) -> None:
    one = _outputs(["consortium", str(scenario), "--workers", "1"], scenario.parent / "c1")
    two = _outputs(["consortium", str(scenario), "--workers", "2"], scenario.parent / "c2")
    assert _differing(one, two) == []


#: study.sqlite columns that record how a run was executed, not what it computed: its durations, when and in which
#: order it finished, and the worker (process id) that ran it
STORE_EXECUTION_COLUMNS = ("seconds", "cpu_seconds", "finished_at", "finish_order", "worker")


def _study_outputs(args: list[str], out: Path) -> dict[str, str]:
    """A study's outputs fingerprinted, the results store by its rows (timing metrics and the columns of
    :data:`STORE_EXECUTION_COLUMNS` left out) instead of its bytes, which hold the finishing times."""
    prints = _outputs(args, out)
    con = sqlite3.connect(out / "study.sqlite")
    try:
        tables = {}
        for table in ("meta", "plan", "runs", "results"):
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] not in STORE_EXECUTION_COLUMNS]
            rows = con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY 1, 2").fetchall()
            if table == "results":
                rows = [r for r in rows if not str(r[cols.index("metric")]).endswith(TIMING_COLUMNS)]
            tables[table] = rows
    finally:
        con.close()
    assert tables["runs"] and tables["results"]
    prints["study.sqlite"] = hashlib.sha256(repr(tables).encode()).hexdigest()
    return prints


@pytest.mark.slow
def test_study_results_do_not_depend_on_the_executor(scenario: Path) -> None:
    """Serial, process pool and Dask (a small in-process LocalCluster, reached as a scheduler address): every
    output file byte-identical, timing aside — the tables, the reports and the results store."""
    distributed = pytest.importorskip("distributed")
    study = scenario.parent / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "det", "base": scenario.name,
        "scenarios": {"dearer": {"levers.coupon_shift": 0.005}, "haircut": {"levers.recovery_haircut.province.CN-ZJ": 0.2}},
    }), encoding="utf-8")
    serial = _study_outputs(["study", str(study), "--executor", "serial"], scenario.parent / "s-serial")
    process = _study_outputs(["study", str(study), "--executor", "process", "--workers", "2"],
                             scenario.parent / "s-process")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        dask = _study_outputs(["study", str(study), "--executor", "dask", "--scheduler", cluster.scheduler_address],
                              scenario.parent / "s-dask")
    assert {"runs.csv", "results.csv", "study.sqlite", "study.xlsx", "study.html"} <= set(serial)
    assert _differing(serial, process) == []
    assert _differing(serial, dask) == []


def test_shelf_plans_are_byte_identical(tmp_path: Path) -> None:
    from tests.fuzzing import write_case

    case = write_case(tmp_path / "case")
    one = _outputs(["shelf", str(case.plan)], tmp_path / "s1")
    two = _outputs(["shelf", str(case.plan)], tmp_path / "s2")
    assert {"issues.csv", "assignments.csv", "shelf.json", "shelf.html"} <= set(one)
    assert _differing(one, two) == []
