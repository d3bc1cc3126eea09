"""Scenario studies: study file validation, run ids, the crash-safe store (SIGKILL + resume), executors
(serial / process / Dask LocalCluster) giving identical results, failing and infeasible runs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from pooling.cli.study import _write_report
from pooling.cli.study import study as study_command
from pooling.study import engine as st
from pooling.study.engine import StudyError, load_results, load_study, run_study, set_path, write_tables
from pooling.tapes.synth import demo_amcs, write_consortium

ROOT = Path(__file__).resolve().parents[1]
TIMING = ["solve_seconds"]  # the only metric that is not a function of the inputs


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic consortium (1,500 assets, 4 AMCs) whose runs take well under a second each."""
    folder = tmp_path_factory.mktemp("base")
    path = write_consortium(folder, n_assets=1500, amcs=demo_amcs(), seed=1)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["solver"] = {"backend": "highs", "mip_rel_gap": 0.05}  # a loose gap: fast, and no time limit in play
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_study(folder: Path, base: Path, scenarios: dict | None = None, sweep: dict | None = None,
                **extra: object) -> Path:
    # a study names files in its own folder or below: it lives beside its base scenario, named after ``folder``
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"name": "study", "base": base.name, "scenarios": scenarios or {}, "sweep": sweep or {}, **extra}
    path = base.parent / f"study-{hashlib.sha256(str(folder).encode()).hexdigest()[:12]}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


SCENARIOS = {
    "zj_withdraws": {"levers.withdraw": ["ZJ"]},
    "tight_province": {"pool.limits.max_province_share": 0.2},
    "missing_tape": {"amcs.SC.tape": "data/no-such-file.csv"},  # fails when run: recorded, the rest go on
    "impossible": {"pool.limits.max_province_share": 0.01},  # infeasible: a normal result
}
SWEEP = {"levers.house_price_shock.residential": [0.0, -0.2], "levers.court_delay_months": [0, 12]}


@pytest.fixture(scope="module")
def demo_study(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_study(tmp_path_factory.mktemp("study"), base, SCENARIOS, SWEEP)


@pytest.fixture(scope="module")
def serial(demo_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo study run serially (shared by several tests)."""
    out = tmp_path_factory.mktemp("serial")
    run_study(load_study(demo_study), out, finish=_write_report)  # the hook `pooling study` passes
    return out


def _values(out: Path) -> pd.DataFrame:
    r = pd.read_csv(out / "results.csv", encoding="utf-8-sig")
    return r[~r["metric"].isin(TIMING)].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- study file


def test_runs_in_study_order_with_levers_applied(demo_study: Path, serial: Path) -> None:
    s = load_study(demo_study)
    names = [r.name for r in s.runs]
    assert names[:5] == ["base", *SCENARIOS]
    assert names[5:] == [
        "base: house_price_shock.residential=0.0, court_delay_months=0",
        "base: house_price_shock.residential=0.0, court_delay_months=12",
        "base: house_price_shock.residential=-0.2, court_delay_months=0",
        "base: house_price_shock.residential=-0.2, court_delay_months=12",
    ]
    assert all(r.config["solver"]["threads"] == 1 for r in s.runs)
    runs = pd.read_csv(serial / "runs.csv", encoding="utf-8-sig")
    assert runs["scenario"].tolist() == names  # study order, not completion order
    assert runs.columns[:2].tolist() == ["run_id", "scenario"]
    assert list(runs.columns[2:2 + len(s.parameters)]) == list(s.parameters)
    assert {"objective_value", "pool_gbv", "pool_npv", "senior_size", "senior_share_of_expected_recovery", "sub_irr",
            "mip_gap", "share_NAT", "share_ZJ", "error"} <= set(runs.columns)
    by = runs.set_index("scenario")
    status = by["status"].to_dict()
    assert status["missing_tape"] == "failed" and status["impossible"] == "infeasible"
    assert {v for k, v in status.items() if k not in ("missing_tape", "impossible")} == {"optimal"}
    # the levers act: house prices down → less value; court delay → later collections; ZJ gone → no ZJ share
    grid = by.iloc[5:]
    assert grid.iloc[2]["pool_npv"] < grid.iloc[0]["pool_npv"]
    assert grid.iloc[1]["wa_months"] > grid.iloc[0]["wa_months"]
    assert pd.isna(by.loc["zj_withdraws", "share_ZJ"]) and by.loc["base", "share_ZJ"] > 0
    assert by.loc["tight_province", "pool.limits.max_province_share"] == 0.2
    assert by.loc["base", "pool.limits.max_province_share"] == 0.25  # the base's own value, not blank
    assert "province" in by.loc["impossible", "detail"]  # the conflicting limits are named


def test_unknown_path_is_reported_before_anything_runs(base: Path, tmp_path: Path) -> None:
    path = write_study(tmp_path / "s", base,
                       {"typo": {"pool.limits.max_provence_share": 0.2}, "bad_amc": {"amcs.XX.min_share": 0.1},
                        "bad_value": {"levers.court_delay_months": -3}},
                       {"levers.court_delay": [0, 12], "structure.senior_coupon": [0.02, 0.03]})
    out = tmp_path / "out"
    app = typer.Typer()
    app.command()(study_command)
    r = CliRunner().invoke(app, [str(path), "--out", str(out)])
    assert isinstance(r.exception, StudyError)
    text = str(r.exception)
    assert str(path) in text and "4 problem(s)" in text
    assert "scenarios.typo: pool.limits.max_provence_share [run 'typo']: unknown key 'max_provence_share'" in text
    assert "amcs has no item 'XX'" in text and "[run 'bad_amc']" in text
    assert "levers.court_delay_months" in text and "greater than or equal to 0" in text  # values checked too
    assert "sweep: levers.court_delay [run 'every grid run on base']" in text  # once, not once per grid point
    assert not out.exists()  # nothing ran, nothing was written


def test_study_file_keys_and_names_are_checked(base: Path, tmp_path: Path) -> None:
    path = write_study(tmp_path, base, {"base": {}, "a:b": {}}, {"levers.coupon_shift": []}, sweeps={})
    with pytest.raises(StudyError) as e:
        load_study(path)
    assert [p[0] for p in e.value.problems] == ["scenarios", "scenarios.a:b", "sweep.levers.coupon_shift", "sweeps"]


def test_set_path_creates_sections_and_addresses_list_items_by_id() -> None:
    data = {"amcs": [{"id": "A", "kind": "national", "tape": "a.csv"}, {"id": "B", "kind": "local", "tape": "b"}]}
    set_path(data, "amcs.B.max_share", 0.4)
    set_path(data, "amcs.0.min_share", 0.1)
    set_path(data, "pool.limits.max_hhi.province", 0.2)
    set_path(data, "levers.recovery_haircut.province.CN-GD", 0.1)
    assert data["amcs"][1]["max_share"] == 0.4 and data["amcs"][0]["min_share"] == 0.1
    assert data["pool"] == {"limits": {"max_hhi": {"province": 0.2}}}
    assert data["levers"] == {"recovery_haircut": {"province": {"CN-GD": 0.1}}}
    for bad in ("pool.limit.max_hhi", "structure.senior_coupon.x", "amcs.C.max_share", "base_dir"):
        with pytest.raises(st._PathError):
            set_path(data, bad, 1)


def test_sweep_on_named_scenarios_and_common_overrides(base: Path, tmp_path: Path) -> None:
    path = write_study(tmp_path, base, {"zj_out": {"levers.withdraw": ["ZJ"]}},
                       {"levers.coupon_shift": [0.0, 0.01]}, sweep_on=["base", "zj_out"],
                       common={"solver.mip_rel_gap": 0.02, "solver.threads": 4})
    s = load_study(path)
    assert [r.name for r in s.runs] == ["base", "zj_out", "base: coupon_shift=0.0", "base: coupon_shift=0.01",
                                        "zj_out: coupon_shift=0.0", "zj_out: coupon_shift=0.01"]
    assert s.runs[-1].overrides == {"levers.withdraw": ["ZJ"], "levers.coupon_shift": 0.01}
    assert s.parameters == ("levers.withdraw", "levers.coupon_shift")  # common paths are not parameters
    assert all(r.config["solver"]["mip_rel_gap"] == 0.02 for r in s.runs)
    assert all(r.config["solver"]["threads"] == 1 for r in s.runs)  # one HiGHS thread per run, always


# ---------------------------------------------------------------------------------------------- run ids


def test_run_ids_are_stable_and_follow_the_config(base: Path, demo_study: Path, tmp_path: Path) -> None:
    ids = [r.run_id for r in load_study(demo_study).runs]
    assert ids == [r.run_id for r in load_study(demo_study).runs]
    assert len(set(ids)) == len(ids)
    code = "import json,sys; from pooling.study.engine import load_study; print(json.dumps([r.run_id for r in load_study(sys.argv[1]).runs]))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code, str(demo_study)], capture_output=True, text=True, check=True,
                           cwd=ROOT, env=env)
    assert json.loads(other.stdout) == ids  # another process, another hash seed: same ids
    changed = dict(SCENARIOS, tight_province={"pool.limits.max_province_share": 0.21})
    ids2 = [r.run_id for r in load_study(write_study(tmp_path / "s2", base, changed, SWEEP)).runs]
    differ = [a != b for a, b in zip(ids, ids2, strict=True)]
    assert differ == [name == "tight_province" for name in ["base", *SCENARIOS, *["grid"] * 4]]


# ---------------------------------------------------------------------------------------------- the store


def test_failed_run_is_recorded_and_retried_on_request(base: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import pooling.pipeline

    real = pooling.pipeline.run_pipeline

    def flaky(scenario):
        if scenario.structure.senior_coupon > 0.03:
            raise RuntimeError("boom")
        return real(scenario)

    path = write_study(tmp_path, base, {"hike": {"structure.senior_coupon": 0.04}, "cut": {"levers.coupon_shift": -0.01}})
    s = load_study(path)
    monkeypatch.setattr(pooling.pipeline, "run_pipeline", flaky)
    first = run_study(s, tmp_path / "out")
    assert first.statuses == {"optimal": 2, "failed": 1}
    runs, _ = load_results(tmp_path / "out" / "study.sqlite")
    err = runs.set_index("scenario").loc["hike", "error"]
    assert err.startswith("RuntimeError: boom (at test_study.py:")
    monkeypatch.setattr(pooling.pipeline, "run_pipeline", real)
    again = run_study(s, tmp_path / "out")  # failed runs are results: not run again by default
    assert (again.ran, again.skipped) == (0, 3)
    retried = run_study(s, tmp_path / "out", retry_failed=True)
    assert (retried.ran, retried.statuses) == (1, {"optimal": 1})
    runs, _ = load_results(tmp_path / "out" / "study.sqlite")
    assert runs["status"].tolist() == ["optimal"] * 3 and runs["run_id"].is_unique


def test_retry_hint_counts_earlier_failed_runs(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pooling study` run again after a failure skips the failed run, but its hint still counts it."""
    import pooling.pipeline
    from pooling.cli.main import app

    real = pooling.pipeline.run_pipeline

    def flaky(scenario):
        if scenario.structure.senior_coupon > 0.03:
            raise RuntimeError("boom")
        return real(scenario)

    path = write_study(tmp_path, base, {"hike": {"structure.senior_coupon": 0.04}})
    monkeypatch.setattr(pooling.pipeline, "run_pipeline", flaky)
    args = ["study", str(path), "--out", str(tmp_path / "out")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "1 run(s) failed" in first.output and "--retry-failed" in first.output
    again = CliRunner().invoke(app, args)  # nothing runs now; the failed run stands in the store
    assert again.exit_code == 0, again.output
    assert "0 run(s) now" in again.output
    assert "1 run(s) failed (earlier)" in again.output and "--retry-failed" in again.output
    monkeypatch.setattr(pooling.pipeline, "run_pipeline", real)
    fixed = CliRunner().invoke(app, [*args, "--retry-failed"])
    assert fixed.exit_code == 0, fixed.output
    assert "1 run(s) now (optimal 1)" in fixed.output and "run(s) failed" not in fixed.output


def test_tables_regenerate_from_the_store(serial: Path, tmp_path: Path) -> None:
    write_tables(serial / "study.sqlite", tmp_path)
    for name in ("runs.csv", "results.csv"):
        assert (tmp_path / name).read_bytes() == (serial / name).read_bytes()
    runs, results = load_results(serial / "study.sqlite")
    assert runs.attrs["parameters"] == [*dict.fromkeys(p for ov in SCENARIOS.values() for p in ov), *SWEEP]
    assert set(results["run_id"]) <= set(runs["run_id"])


def test_sigkill_then_resume_records_every_run_once(base: Path, tmp_path: Path, serial: Path) -> None:
    path = write_study(tmp_path, base, SCENARIOS, SWEEP)  # the demo study again, from another folder
    out = tmp_path / "out"
    store = out / "study.sqlite"
    total = len(load_study(path).runs)
    proc = subprocess.Popen([sys.executable, "-m", "pooling.cli.study", str(path), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        recorded = 0
        deadline = time.monotonic() + 60
        while recorded < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            if store.exists():
                try:
                    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
                    recorded = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                    con.close()
                except sqlite3.Error:  # not created yet
                    continue
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    con = sqlite3.connect(store)
    before = dict(con.execute("SELECT run_id, finished_at FROM runs"))
    per_run = dict(con.execute("SELECT r.run_id, COUNT(res.metric) FROM runs r LEFT JOIN results res USING (run_id) "
                               "GROUP BY r.run_id"))
    orphans = con.execute("SELECT COUNT(*) FROM results WHERE run_id NOT IN (SELECT run_id FROM runs)").fetchone()[0]
    con.close()
    assert 3 <= len(before) < total, "the study should have been killed part-way"
    assert orphans == 0
    failing = {r.run_id for r in load_study(path).runs if r.name in ("missing_tape", "impossible")}
    assert all(n >= 20 for rid, n in per_run.items() if rid not in failing)  # whole runs only, never a part
    assert not (out / "runs.csv").exists()

    summary = run_study(load_study(path), out)  # the same study again: only the missing runs
    assert (summary.skipped, summary.ran) == (len(before), total - len(before))
    con = sqlite3.connect(store)
    rows = con.execute("SELECT run_id, finished_at FROM runs").fetchall()
    dupes = con.execute("SELECT COUNT(*) FROM (SELECT run_id, metric FROM results GROUP BY 1, 2 HAVING COUNT(*) > 1)")
    assert dupes.fetchone()[0] == 0
    con.close()
    assert len(rows) == total and all(dict(rows)[k] == v for k, v in before.items())  # the first ones kept
    runs = pd.read_csv(out / "runs.csv", encoding="utf-8-sig")
    assert len(runs) == total and runs["run_id"].is_unique
    assert runs["run_id"].tolist() == [r.run_id for r in load_study(path).runs]
    pd.testing.assert_frame_equal(_values(out), _values(serial))  # same answers as an uninterrupted study


# ---------------------------------------------------------------------------------------------- executors


@pytest.mark.slow
def test_process_and_dask_give_the_serial_results(demo_study: Path, serial: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    s = load_study(demo_study)
    expected = _values(serial)
    assert len(expected) > 100
    for executor in ("process", "dask"):
        out = tmp_path / executor
        summary = run_study(s, out, executor=executor, workers=2)
        assert summary.ran == len(s.runs), executor
        got = _values(out)
        pd.testing.assert_frame_equal(got[["run_id", "metric"]], expected[["run_id", "metric"]])
        pd.testing.assert_series_equal(got["value"], expected["value"], rtol=1e-9, atol=0.0)
        a = pd.read_csv(out / "runs.csv", encoding="utf-8-sig")
        b = pd.read_csv(serial / "runs.csv", encoding="utf-8-sig")
        assert a["status"].tolist() == b["status"].tolist() and a["run_id"].tolist() == b["run_id"].tolist()
    workers = {w for w in sqlite3.connect(tmp_path / "process" / "study.sqlite").execute("SELECT worker FROM runs")}
    assert len(workers) == 2  # both worker processes took runs


def crash_on_hike(task: tuple) -> dict:
    """A worker function that kills its own process for one run, as the out-of-memory killer would."""
    if task[1]["structure"]["senior_coupon"] > 0.03:
        os._exit(9)
    return st.execute_run(task)


def test_a_run_that_kills_its_worker_process_is_the_only_one_failed(base: Path, tmp_path: Path) -> None:
    path = write_study(tmp_path, base, {"hike": {"structure.senior_coupon": 0.04}},
                       {"levers.coupon_shift": [0.0, 0.005]})
    s = load_study(path)
    store = st.ResultStore(tmp_path / "out" / "study.sqlite")
    store.set_plan(s)
    st._run_processes(list(s.runs), s, lambda run, outcome: store.record(run, outcome), workers=2, fn=crash_on_hike)
    store.close()
    runs, _ = load_results(tmp_path / "out" / "study.sqlite")
    assert runs["status"].tolist() == ["optimal", "failed", "optimal", "optimal"]
    assert "worker process died" in runs["error"][1]


def test_retry_pool_is_shut_down_on_ctrl_c(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the runs of a broken pool are retried one at a time: every pool is shut down, none left
    running (its management thread would hold the interpreter's exit until the run finished)."""
    import concurrent.futures as cf

    pools: list = []

    class Tracked(cf.ProcessPoolExecutor):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.closed = False
            pools.append(self)

        def shutdown(self, *args: object, **kwargs: object) -> None:
            self.closed = True
            super().shutdown(*args, **kwargs)

    monkeypatch.setattr(st.cf, "ProcessPoolExecutor", Tracked)
    path = write_study(tmp_path, base, {"hike": {"structure.senior_coupon": 0.04}}, {"levers.coupon_shift": [0.0]})
    s = load_study(path)

    def record(run: object, outcome: dict) -> None:
        if len(pools) >= 2:  # the one-process retry pool exists: the user presses Ctrl-C
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        st._run_processes(list(s.runs), s, record, workers=2, fn=crash_on_hike)
    assert len(pools) >= 2 and all(p.closed for p in pools)


def test_cli_dry_run_and_usage_errors(demo_study: Path, tmp_path: Path) -> None:
    from pooling.cli.main import app

    r = CliRunner().invoke(app, ["study", str(demo_study), "--out", str(tmp_path / "o"), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "9 run(s)" in r.output and "zj_withdraws" in r.output and not (tmp_path / "o").exists()
    for args, reason in ((["--executor", "threads"], "--executor must be one of serial, process, dask, not 'threads'"),
                         (["--scheduler", "tcp://x:8786"], "--scheduler tcp://x:8786 needs --executor dask")):
        r = CliRunner().invoke(app, ["study", str(demo_study), "--out", str(tmp_path / "o"), *args])
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert lines == [f"error: {reason}"]  # one line: the reason, no traceback, no "internal error"
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------- study report


def test_study_report_tornado_recomputed_from_runs_csv(serial: Path) -> None:
    """The tornado bars are the changes recomputed here from runs.csv: a named scenario against base, a swept
    parameter along the grid from the grid point equal to base; failed and infeasible runs have no bar."""
    from pooling.report.study import study_tables

    runs = pd.read_csv(serial / "runs.csv", encoding="utf-8-sig").set_index("scenario")
    st_ = study_tables(serial)
    grid = {(r["levers.house_price_shock.residential"], r["levers.court_delay_months"]): r
            for _, r in runs.iloc[5:].iterrows()}
    for metric in ("pool_npv", "senior_size"):
        t = st_.tornado[metric].set_index("factor")
        assert set(t.index) == {"zj_withdraws", "tight_province", "levers.house_price_shock.residential",
                                "levers.court_delay_months"}  # no bar for the failed or the infeasible run
        for name in ("zj_withdraws", "tight_province"):
            delta = runs.loc[name, metric] - runs.loc["base", metric]
            assert t.loc[name, "delta_low"] == pytest.approx(min(0.0, delta), abs=1e-6)
            assert t.loc[name, "delta_high"] == pytest.approx(max(0.0, delta), abs=1e-6)
        ref = grid[(0.0, 0)][metric]
        for factor, other in (("levers.house_price_shock.residential", grid[(-0.2, 0)]),
                              ("levers.court_delay_months", grid[(0.0, 12)])):
            delta = other[metric] - ref
            assert t.loc[factor, "metric_reference"] == pytest.approx(ref)
            assert (t.loc[factor, "delta_low"], t.loc[factor, "delta_high"]) == pytest.approx(
                (min(0.0, delta), max(0.0, delta)), abs=1e-6)
        swings = st_.tornado[metric]["swing"].tolist()
        assert swings == sorted(swings, reverse=True) and all(s >= 0 for s in swings)
    # zj withdrawing costs npv: the tornado must show a loss, not a zero
    assert st_.tornado["pool_npv"].set_index("factor").loc["zj_withdraws", "delta_low"] < 0


def test_study_report_amc_outcomes_add_up(serial: Path) -> None:
    from pooling.report.study import study_tables

    runs = pd.read_csv(serial / "runs.csv", encoding="utf-8-sig")
    a = study_tables(serial).amcs
    ok = runs[runs["status"] == "optimal"]
    per_run = a.groupby("run_id", sort=False)[["npv", "share"]].sum()
    for _, r in ok.iterrows():  # the AMCs' npv add up to the pool's, their shares to 1
        assert per_run.loc[r["run_id"], "npv"] == pytest.approx(r["pool_npv"], rel=1e-9)
        assert per_run.loc[r["run_id"], "share"] == pytest.approx(1.0, abs=1e-9)
    zj = a[(a["scenario"] == "zj_withdraws") & (a["amc"] == "ZJ")].iloc[0]
    base_zj = a[(a["scenario"] == "base") & (a["amc"] == "ZJ")].iloc[0]
    assert zj["npv"] == 0 and zj["npv_change"] == pytest.approx(-base_zj["npv"])
    assert a[a["scenario"].isin(["missing_tape", "impossible"])]["npv"].isna().all()


def test_study_report_files_are_offline_complete_and_deterministic(serial: Path, tmp_path: Path) -> None:
    import openpyxl

    from pooling.report.study import write_study_report

    xlsx, page = serial / "study.xlsx", serial / "study.html"  # written by the finish hook
    assert xlsx.exists() and page.exists()
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["情景 Scenarios", "敏感性 Sensitivity", "成员 AMCs", "失败 Failed"]
    ws = wb["情景 Scenarios"]
    runs = pd.read_csv(serial / "runs.csv", encoding="utf-8-sig")
    names = [ws.cell(r, 1).value for r in range(4, 4 + len(runs))]
    assert names == runs["scenario"].tolist()
    header = [ws.cell(3, c).value for c in range(1, ws.max_column + 1)]
    col = next(i for i, h in enumerate(header, 1) if h and h.endswith("Pool npv (CNY)"))
    assert [ws.cell(r, col).value for r in range(4, 4 + len(runs))] == [
        None if pd.isna(v) else pytest.approx(v) for v in runs["pool_npv"]]
    assert len(wb["敏感性 Sensitivity"]._charts) == 2  # one tornado per metric
    text = page.read_text(encoding="utf-8")
    assert "fig-tornado-0" in text and "fig-tornado-1" in text and "fig-amcs" in text and "fig-grid-0" in text
    assert "估值 Valuation: 先验参数 documented priors" in text or "估值 Valuation: calibrated model m-" in text
    import plotly.offline

    js = plotly.offline.get_plotlyjs()
    assert text.count(js) == 1  # plotly.js is inline, once: the page works offline
    rest = text.replace(js, "")
    assert "<script src=" not in rest and "https://" not in rest
    again = write_study_report(serial / "study.sqlite", tmp_path)
    assert [p.read_bytes() for p in again] == [xlsx.read_bytes(), page.read_bytes()]


def test_a_sweep_over_factor_parameters_resolves(base: Path, tmp_path: Path) -> None:
    """Studies can sweep the Monte Carlo factor table (issue 12): each run's scenario carries its value and sizes
    with it."""
    from pooling.scenario import parse_scenario
    from pooling.tranching.deal import factor_parameters

    path = write_study(tmp_path, base, {}, {"structure.monte_carlo.factors.loading_national": [0.2, 0.5]},
                       common={"structure.sizing": "monte_carlo"})
    s = load_study(path)
    assert [r.values["structure.monte_carlo.factors.loading_national"] for r in s.runs[1:]] == [0.2, 0.5]
    params = [factor_parameters(parse_scenario(r.config, s.base_path).structure) for r in s.runs[1:]]
    assert [p.loading_national for p in params] == [0.2, 0.5]
