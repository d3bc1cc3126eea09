"""Same inputs → byte-identical outputs, timing fields aside (DESIGN §14): one matrix over re-runs, solver backends,
worker counts and study executors, for run, consortium, study and shelf (monitor: tests/test_monitor.py). Outputs are compared file by file with ``tests.killing.fingerprint`` (CSV
``seconds`` columns and JSON ``*seconds`` keys left out; a workbook by its text)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from tests.killing import fingerprint, write_two_scenarios

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


@pytest.mark.slow
def test_study_results_do_not_depend_on_the_executor(scenario: Path) -> None:
    study = scenario.parent / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "det", "base": scenario.name,
        "scenarios": {"dearer": {"levers.coupon_shift": 0.005}, "haircut": {"levers.recovery_haircut.province.CN-ZJ": 0.2}},
    }), encoding="utf-8")
    serial = _outputs(["study", str(study), "--executor", "serial"], scenario.parent / "s-serial")
    process = _outputs(["study", str(study), "--executor", "process", "--workers", "2"], scenario.parent / "s-process")
    tables = [n for n in serial if n.endswith(".csv")]
    assert {"runs.csv", "results.csv"} <= set(tables)
    assert _differing({k: serial[k] for k in tables}, {k: process.get(k) for k in tables}) == []


def test_shelf_plans_are_byte_identical(tmp_path: Path) -> None:
    from tests.fuzzing import write_case

    case = write_case(tmp_path / "case")
    one = _outputs(["shelf", str(case.plan)], tmp_path / "s1")
    two = _outputs(["shelf", str(case.plan)], tmp_path / "s2")
    assert {"issues.csv", "assignments.csv", "shelf.json", "shelf.html"} <= set(one)
    assert _differing(one, two) == []
