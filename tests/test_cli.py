"""The `pooling` command through typer's runner: exit codes, files written, limits recomputed from pool.csv."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.pipeline import prepare
from pooling.scenario import load_scenario
from tests.limits_check import feasible_subsets

runner = CliRunner()
DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "scenario.yaml"


def test_validate_clean_exit_0(clean_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["validate", str(clean_scenario), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "0 problems" in r.output
    assert pd.read_csv(out / "validation.csv").empty


def test_validate_bad_exit_1_and_report(clean_scenario: Path, tmp_path: Path) -> None:
    tape = clean_scenario.parent / "data" / "a.csv"
    tape.write_text(tape.read_text(encoding="utf-8").replace("CN-ZJ", "Atlantis", 1), encoding="utf-8")
    out = tmp_path / "out"
    r = runner.invoke(app, ["validate", str(clean_scenario), "--out", str(out)])
    assert r.exit_code == 1
    report = pd.read_csv(out / "validation.csv", encoding="utf-8-sig")
    assert report[["file", "row", "column", "value"]].values.tolist() == [["data/a.csv", 2, "province", "Atlantis"]]


@pytest.mark.parametrize("command", ["describe", "optimize"])
def test_bad_tape_writes_nothing_but_the_report(command: str, clean_scenario: Path, tmp_path: Path) -> None:
    tape = clean_scenario.parent / "data" / "b.csv"
    tape.write_text(tape.read_text(encoding="utf-8").replace("300000,250000", "300000,350000"), encoding="utf-8")
    out = tmp_path / "out"
    r = runner.invoke(app, [command, str(clean_scenario), "--out", str(out)])
    assert r.exit_code == 1, r.output
    assert sorted(p.name for p in out.iterdir()) == ["validation.csv"]
    assert "principal is above gbv" in r.output


def test_bad_scenario_exit_1_clear_message(tmp_path: Path) -> None:
    s = tmp_path / "s.yaml"
    s.write_text("name: x\nas_of: 2026-06-30\namcs: []\npool: {limitz: {}}\n", encoding="utf-8")
    r = runner.invoke(app, ["validate", str(s)])
    assert r.exit_code == 1
    assert "pool.limitz" in r.output and "unknown key" in r.output
    assert "Traceback" not in r.output


def test_usage_error_exit_2() -> None:
    r = runner.invoke(app, ["optimize"])
    assert r.exit_code == 2


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    r = runner.invoke(app, ["optimize", str(DEMO), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_demo_validates_and_describes(tmp_path: Path) -> None:
    r = runner.invoke(app, ["validate", str(DEMO), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["describe", str(DEMO), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    strat = pd.read_csv(tmp_path / "strat_amc.csv", encoding="utf-8-sig")
    assert set(strat["amc_id"]) == {"NAT", "ZJ", "GD", "SC"}
    assert strat["gbv_share"].sum() == pytest.approx(1.0)
    assert (tmp_path / "circles.csv").exists() and (tmp_path / "groups.csv").exists()


def test_demo_pool_meets_every_limit(demo_run: Path) -> None:
    """Every limit recomputed with pandas from pool.csv alone (independent of the model code)."""
    s = load_scenario(DEMO)
    pool = pd.read_csv(demo_run / "pool.csv", encoding="utf-8-sig", keep_default_na=False, dtype={"industry": str})
    ones = pd.DataFrame({"x": 1.0}, index=pool.index)["x"].to_numpy()[None, :]
    assert feasible_subsets(ones, pool, s, tol=1e-6)[0]
    # and directly, the headline caps
    T = pool["gbv"].sum()
    assert pool.groupby("province")["gbv"].sum().max() <= 0.25 * T * (1 + 1e-6)
    assert pool.groupby("group_id")["gbv"].sum().max() <= 0.03 * T * (1 + 1e-6)
    assert pool.groupby("group_id")["gbv"].sum().nlargest(10).sum() <= 0.20 * T * (1 + 1e-6)
    assert s.pool.size.min * (1 - 1e-9) <= T <= s.pool.size.max * (1 + 1e-9)
    shares = pool.groupby("amc_id")["gbv"].sum() / T
    assert shares["NAT"] <= 0.6 + 1e-6 and (shares.drop("NAT") >= 0.05 - 1e-6).all()


def test_demo_summary_contract(demo_run: Path) -> None:
    data = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    for key in ("status", "objective_value", "mip_gap", "solve_seconds", "pool", "shares", "concentration", "inputs_sha256"):
        assert key in data
    assert data["status"] == "optimal" and data["mip_gap"] <= 1e-4
    pool = pd.read_csv(demo_run / "pool.csv", encoding="utf-8-sig", keep_default_na=False)
    assert data["pool"]["n_assets"] == len(pool)
    assert data["pool"]["npv"] == pytest.approx(pool["npv"].sum(), rel=1e-6)
    assert data["objective_value"] == pytest.approx(pool["npv"].sum(), rel=1e-6)
    assert sum(data["shares"]["amc"].values()) == pytest.approx(1.0)
    assert set(data["shares"]) >= {"amc", "province", "industry", "collateral_type"}
    assert set(data["concentration"]["hhi"]) >= {"province", "industry", "collateral_type", "amc"}
    assert data["concentration"]["effective_number"]["province"] == pytest.approx(1 / data["concentration"]["hhi"]["province"])
    # the LP bound certifies the MILP answer
    assert data["lp_relaxation_bound"] >= data["objective_value"] * (1 - 1e-9)
    assert list(pool.columns[:11]) == ["amc_id", "asset_id", "obligor_id", "group_id", "province", "industry",
                                       "collateral_type", "gbv", "expected_recovery", "expected_months", "npv"]


def test_same_inputs_same_pool(demo_run: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["optimize", str(DEMO), "--out", str(tmp_path)])
    assert r.exit_code == 0
    assert (tmp_path / "pool.csv").read_bytes() == (demo_run / "pool.csv").read_bytes()
    a = json.loads((tmp_path / "summary.json").read_text())
    b = json.loads((demo_run / "summary.json").read_text())
    assert a["inputs_sha256"] == b["inputs_sha256"]


def test_infeasible_exit_3_names_limits(tmp_path: Path) -> None:
    shutil.copytree(DEMO.parent, tmp_path / "demo")
    path = tmp_path / "demo" / "scenario.yaml"
    text = path.read_text(encoding="utf-8").replace("max_province_share: 0.25", "max_province_share: 0.05")
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    r = runner.invoke(app, ["optimize", str(path), "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "max_province_share" in r.output
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert data["status"] == "infeasible" and any("max_province_share" in c for c in data["conflicting_limits"])
    assert not (out / "pool.csv").exists()


def test_pyomo_backend_agrees_on_demo_subset(tmp_path: Path) -> None:
    """Both backends reach the same optimum on a medium instance (a 2,000-asset slice of the demo)."""
    from pooling.selection.model import select_pool
    from solvers import get_backend

    s = load_scenario(DEMO)
    assets = prepare(s).assets.sample(n=2000, random_state=1).reset_index(drop=True)
    total = assets["gbv"].sum()
    limits = s.pool.limits.model_copy(update={"max_hhi": {}, "min_wa_recovery_rate": 0.15})
    pool = s.pool.model_copy(update={"size": s.pool.size.model_copy(update={"min": 0.4 * total, "max": 0.6 * total}), "limits": limits})
    amcs = [a.model_copy(update={"min_share": 0.0}) for a in s.amcs]
    s = s.model_copy(update={"pool": pool, "amcs": amcs, "solver": s.solver.model_copy(update={"mip_rel_gap": 1e-7})})
    a = select_pool(assets, s, backend=get_backend("highs"), strategy="milp")
    b = select_pool(assets, s, backend=get_backend("pyomo"), strategy="milp")
    assert a.objective_value == pytest.approx(b.objective_value, rel=1e-5)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    r = runner.invoke(app, ["run", str(DEMO), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_demo_run_writes_every_contract_file(full_run: Path) -> None:
    tmp_path = full_run
    for name in ("pool.csv", "summary.json", "tranches.csv", "cashflows.csv", "report.xlsx", "report.html",
                 "allocation.csv", "coalitions.csv", "servicers.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    cash = pd.read_csv(tmp_path / "cashflows.csv", encoding="utf-8-sig")
    pays = cash[[c for c in cash.columns if c.startswith("pay_")]].sum(axis=1)
    lhs = cash["collections"] + cash["reserve_draw"]
    assert (lhs - pays - cash["reserve_deposit"]).abs().max() < 0.05  # cents: the file is rounded to 2 decimals
    assert {"period", "date", "reserve_balance", "senior_balance", "subordinated_balance"} <= set(cash.columns)
    tranches = pd.read_csv(tmp_path / "tranches.csv", encoding="utf-8-sig")
    assert list(tranches["tranche"]) == ["senior", "subordinated"]
    for c in ("size", "share_of_gbv", "share_of_expected_recovery", "coupon", "wal_years", "expected_maturity",
              "legal_maturity", "coverage", "retained"):
        assert c in tranches.columns
    assert cash["senior_balance"].iloc[-1] == 0  # the senior is repaid in the base case
    data = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    s = data["structure"]
    assert 0.5 <= s["senior_share_of_expected_recovery"] <= 0.65 and 1.5 <= s["senior_coverage"] <= 2.0
    assert s["tranches"]["senior"] == tranches.loc[0, "size"]


def test_demo_consortium_files_add_up(full_run: Path) -> None:
    """pooling run on the demo includes the consortium: allocations sum to v(N), coalitions cover 2^4 − 1 sets,
    local AMCs service only their home province, and the servicing fee feeds the waterfall."""
    tmp_path = full_run
    alloc = pd.read_csv(tmp_path / "allocation.csv", encoding="utf-8-sig")
    coal = pd.read_csv(tmp_path / "coalitions.csv", encoding="utf-8-sig")
    grand = coal.loc[coal["n_members"] == 4, "value"].iloc[0]
    for col in ("alloc_gbv", "alloc_npv", "shapley_value"):
        assert alloc[col].sum() == pytest.approx(grand, rel=1e-9)
    assert len(coal) == 15
    for c in ("amc_id", "contributed_gbv", "selected_gbv", "standalone_value", "shapley_value"):
        assert c in alloc.columns
    sv = pd.read_csv(tmp_path / "servicers.csv", encoding="utf-8-sig")
    homes = {"ZJ": "CN-ZJ", "GD": "CN-GD", "SC": "CN-SC"}
    for amc, prov in homes.items():
        assert set(sv.loc[sv["servicer"] == amc, "province"]) <= {prov}
    pool = pd.read_csv(tmp_path / "pool.csv", encoding="utf-8-sig", keep_default_na=False)
    assert sv["gbv"].sum() == pytest.approx(pool["gbv"].sum(), rel=1e-6)
    # The demo sets no servicer fee: the waterfall takes structure.servicer_base_fee's default, and summary.json
    # says so; the plan is a proposal, so its uplift is not claimed anywhere.
    cash = pd.read_csv(tmp_path / "cashflows.csv", encoding="utf-8-sig")
    data = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    fee = data["structure"]["servicer_base_fee"]
    assert fee == {"rate": 0.05, "source": "structure.servicer_base_fee"}
    paying = cash["collections"] > 0
    assert (cash.loc[paying, "pay_servicer_base_fee"] / cash.loc[paying, "collections"]).round(6).eq(0.05).all()
    assert data["servicing"]["applied"] is False and "recovery_uplift" not in data["servicing"]
    assert data["servicing"]["effective_fee_rate"] == pytest.approx(sv["fee"].sum() / sv["expected_collections"].sum())


def _senior(folder: Path) -> float:
    tranches = pd.read_csv(folder / "tranches.csv", encoding="utf-8-sig")
    return float(tranches.loc[tranches["tranche"] == "senior", "size"].iloc[0])


def test_demo_run_size_and_study_agree_on_the_senior(full_run: Path, tmp_path: Path) -> None:
    """One scenario, one answer: `pooling run`, `pooling size` on the run's pool.csv and a one-run study
    (run_pipeline) size the same senior, to CNY 1."""
    from pooling.pipeline import run_pipeline

    sized = tmp_path / "sized"
    r = runner.invoke(app, ["size", str(full_run), "--scenario", str(DEMO), "--out", str(sized)])
    assert r.exit_code == 0, r.output
    study = run_pipeline(load_scenario(DEMO))
    run_senior = _senior(full_run)
    assert abs(_senior(sized) - run_senior) <= 1.0
    assert abs(study["senior_size"] - run_senior) <= 1.0
    assert json.loads((full_run / "summary.json").read_text())["structure"]["senior_size"] == run_senior
    assert study["servicer_base_fee"] == 0.05


def _cells(path: Path, sheet_word: str) -> list[float]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    ws = next(wb[name] for name in wb.sheetnames if sheet_word in name)
    return [float(v) for row in ws.iter_rows(values_only=True) for v in row
            if isinstance(v, int | float) and not isinstance(v, bool)]


def _shows(cells: list[float], amount: float) -> bool:
    """An amount in CNY shown in some unit (CNY, 万, m, 亿), to the unit's display precision."""
    return any(abs(c * unit - amount) <= tol for c in cells for unit, tol in ((1, 1), (1e4, 1e4), (1e6, 1e5), (1e8, 1e7)))


def test_size_into_a_run_folder_rewrites_summary_and_reports(full_run: Path, tmp_path: Path) -> None:
    """`pooling size` into a run's folder under a scenario with a higher servicer fee: tranches.csv, summary.json
    and report.xlsx all show the new senior, and the selection fields of summary.json stay."""
    folder = tmp_path / "run"
    shutil.copytree(full_run, folder)
    scenario_dir = tmp_path / "demo"
    shutil.copytree(DEMO.parent, scenario_dir)
    path = scenario_dir / "scenario.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("  senior_coupon: 0.025",
                                                             "  senior_coupon: 0.025\n  servicer_base_fee: 0.12"),
                    encoding="utf-8")
    before = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    old = _senior(folder)
    r = runner.invoke(app, ["size", str(folder), "--scenario", str(path)])
    assert r.exit_code == 0, r.output
    new = _senior(folder)
    assert new < old - 1e6  # a 12% fee supports a smaller senior than 5%
    after = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert after["structure"]["senior_size"] == new
    assert after["structure"]["servicer_base_fee"] == {"rate": 0.12, "source": "structure.servicer_base_fee"}
    assert after["pool"] == before["pool"] and after["status"] == before["status"]
    assert after["resized"]["scenario"] == "demo-consortium"
    cells = _cells(folder / "report.xlsx", "Tranches")
    assert _shows(cells, new) and not _shows(cells, old)
    for name in ("report.xlsx", "report.html"):
        assert name in r.output


BAD_OPTIONS = [
    ["run", str(DEMO), "--strategy", "fast"],
    ["optimize", str(DEMO), "--backend", "gurobi"],
    ["optimize", str(DEMO), "--strategy", "fast"],
    ["optimize", str(DEMO), "--time-limit", "-5"],
    ["optimize", str(DEMO), "--time-limit", "0"],
    ["frontier", str(DEMO), "--dimension", "provnce"],
    ["frontier", str(DEMO), "--points", "1"],
    ["frontier", str(DEMO), "--measure", "gini"],
    ["synth", "OUT", "--amcs", "0"],
    ["synth", "OUT", "--amcs", "three"],
    ["synth", "OUT", "--amcs", "3", "--format", "xls"],
    ["synth", "OUT", "--as-of", "June"],
    ["consortium", str(DEMO), "--workers", "0"],
    ["size", "no-such-folder", "--scenario", str(DEMO)],
]


@pytest.mark.parametrize("args", BAD_OPTIONS, ids=lambda a: " ".join(a[:1] + a[2:]))
def test_bad_option_values_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "internal error" not in r.output and "Traceback" not in r.output
    assert "Invalid value" in r.output or "does not exist" in r.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["validate", "describe", "optimize", "run", "consortium", "frontier", "size", "synth",
                                     "study"])
def test_out_that_is_a_file_is_a_usage_error(command: str, tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("not a folder", encoding="utf-8")
    if command == "synth":
        args = ["synth", str(target)]
    elif command == "size":
        args = ["size", str(tmp_path), "--scenario", str(DEMO), "--out", str(target)]
    elif command == "study":
        args = ["study", str(DEMO.parent / "study.yaml"), "--out", str(target)]
    else:
        args = [command, str(DEMO), "--out", str(target)]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "existing file" in r.output
    assert target.read_text(encoding="utf-8") == "not a folder"


def test_solver_without_a_pool_exits_4(clean_scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A solve that stops before finding any pool (no incumbent): exit 4, summary.json says so, no pool.csv."""
    from solvers.highs_backend import HighsBackend
    from solvers.problem import Result, Status

    monkeypatch.setattr(HighsBackend, "solve", lambda self, problem, options, *a, **k: Result(
        Status.TIME_LIMIT, message="time limit reached"))
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(clean_scenario), "--out", str(out)])
    assert r.exit_code == 4, r.output
    assert "before finding any feasible pool" in r.output
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert data["status"] == "no_incumbent"
    assert not (out / "pool.csv").exists()


def test_command_line_overrides_are_validated_as_usage_errors() -> None:
    """Overrides go through the scenario model (model_copy would not validate): a bad one is a usage error."""
    from pooling.cli.main import _override
    from pooling.errors import UsageError

    s = load_scenario(DEMO)
    assert _override(s, {"solver.time_limit_s": 5.0, "solver.backend": None}).solver.time_limit_s == 5.0
    with pytest.raises(UsageError, match=r"solver\.time_limit_s") as refused:
        _override(s, {"solver.time_limit_s": -5.0})
    assert refused.value.exit_code == 2
    with pytest.raises(UsageError, match=r"consortium\.workers"):
        _override(s, {"consortium.workers": 0})


FILE = r"[\w.-]+\.(?:csv|json|xlsx|html)|[\w-]+\.resolved\.yaml"  # not the examples' scenario.yaml


def _help_files(command: str) -> set[str]:
    import re

    r = runner.invoke(app, [command, "--help"], terminal_width=400)
    assert r.exit_code == 0, r.output
    description = r.output.split("╭")[0]  # the command's text, before the argument and option panels
    assert "Writes" in description
    return set(re.findall(FILE, description))


@pytest.fixture
def tiny_consortium(clean_scenario: Path) -> Path:
    """The two-AMC fixture scenario with a consortium section, the servicing plan's fee and the tail objective (so
    every conditional file is written)."""
    import yaml

    doc = yaml.safe_load(clean_scenario.read_text(encoding="utf-8"))
    doc |= {"consortium": {}, "structure": {"servicer_base_fee": "plan"},
            "pool": {"objective": "tail_npv", "tail": {"scenarios": 50}}}
    clean_scenario.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return clean_scenario


@pytest.mark.parametrize("command", ["validate", "describe", "optimize", "run", "consortium", "frontier"])
def test_help_lists_exactly_the_files_the_command_writes(command: str, tiny_consortium: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, [command, str(tiny_consortium), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == _help_files(command)


def test_size_help_lists_what_size_writes(tiny_consortium: Path, tmp_path: Path) -> None:
    """Into a fresh folder, size writes its data files; into a run's folder, the reports as well."""
    from pooling.outputs import REPORT_FILES

    listed = _help_files("size")
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["optimize", str(tiny_consortium), "--out", str(run_dir)]).exit_code == 0
    fresh = tmp_path / "fresh"
    r = runner.invoke(app, ["size", str(run_dir), "--scenario", str(tiny_consortium), "--out", str(fresh)])
    assert r.exit_code == 0, r.output
    assert {p.name for p in fresh.iterdir()} == listed - set(REPORT_FILES)
    full = tmp_path / "full"
    assert runner.invoke(app, ["run", str(tiny_consortium), "--out", str(full)]).exit_code == 0
    written = {p.name for p in full.iterdir()}
    r = runner.invoke(app, ["size", str(full), "--scenario", str(tiny_consortium)])
    assert r.exit_code == 0, r.output
    assert {n for n in written if n in r.output} == listed


def test_frontier_command(tmp_path: Path) -> None:
    """The frontier on a 3,000-asset slice of the demo: csv and offline html written, npv non-increasing."""
    import yaml

    shutil.copytree(DEMO.parent, tmp_path / "demo")
    s = yaml.safe_load((tmp_path / "demo" / "scenario.yaml").read_text(encoding="utf-8"))
    s["amcs"] = [a for a in s["amcs"] if a["id"] in ("NAT", "SC")]
    s["amcs"][0]["max_share"] = 1.0
    s["amcs"][1]["min_share"] = 0.0
    s["pool"]["size"] = {"min": 4.0e9, "max": 8.0e9}
    s["pool"]["limits"] = {"max_province_share": 0.4}
    s["solver"] = {**s.get("solver", {}), "polish_time_limit_s": 3}  # the tightest point is near the minimum HHI
    path = tmp_path / "demo" / "small.yaml"
    path.write_text(yaml.safe_dump(s, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(app, ["frontier", str(path), "--dimension", "province", "--points", "3", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "out" / "frontier.csv", encoding="utf-8-sig")
    ok = table[table["status"].isin(["optimal", "feasible"])]
    assert len(ok) >= 2
    assert (ok["npv"].diff().dropna() <= 1e-6 * ok["npv"].abs().max()).all()
    html = (tmp_path / "out" / "frontier.html").read_text(encoding="utf-8")
    assert "plotly" in html.lower() and 'src="http' not in html
    # each point's pool is sized through the one pipeline: the unconstrained point is the scenario's own run
    from pooling.pipeline import run_pipeline
    from pooling.scenario import load_scenario

    assert ok["senior_size"].notna().all() and (ok["senior_size"] > 0).all() and "fig-senior" in html
    assert table.loc[0, "senior_size"] == pytest.approx(run_pipeline(load_scenario(path))["senior_size"])


def test_unreadable_inputs_are_not_internal_errors(tmp_path: Path) -> None:
    """A folder given as the scenario file, a pool.csv without its key columns: exit 1 with the reason."""
    r = runner.invoke(app, ["validate", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert "internal error" not in r.output
    (tmp_path / "pool.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    r = runner.invoke(app, ["size", str(tmp_path), "--scenario", str(DEMO), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1, r.output
    assert "amc_id and asset_id" in r.output and "internal error" not in r.output


def test_size_into_a_new_folder_describes_the_pool_as_the_run_did(full_run: Path, tmp_path: Path) -> None:
    """summary.json of a given pool carries the DESIGN §3.3 pool measures (totals, shares by every dimension,
    concentration), the same as the run that selected it."""
    r = runner.invoke(app, ["size", str(full_run), "--scenario", str(DEMO), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    sized = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    ran = json.loads((full_run / "summary.json").read_text(encoding="utf-8"))
    assert sized["status"] == "given_pool"
    for key in ("pool", "shares", "concentration", "contributed"):
        assert sized[key] == ran[key], key
