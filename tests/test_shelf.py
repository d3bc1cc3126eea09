"""The shelf planner (DESIGN §11): plan file errors, brute force on tiny plans, the demo's invariants recomputed from
its output files, economics (coupon curve, issue costs), infeasible plans, determinism."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.errors import Infeasible, InputError, ScenarioError
from pooling.pipeline import prepare, run_shelf, write_shelf_run
from pooling.shelf.model import batch_assets, plan_shelf, segment_capacity, segment_of
from pooling.shelf.plan import load_plan, parse_plan
from tests.limits_check import feasible_subsets

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "shelf" / "plan.yaml"
HEADER = ("asset_id,obligor_id,gbv,principal,asset_type,collateral_type,province,industry,default_date,legal_status,"
          "book_value,expected_recovery,expected_months")


def _tape(rows: list[tuple]) -> str:
    """A tape: (asset_id, obligor, gbv, collateral, province, book_value or '', expected_recovery, months)."""
    lines = [HEADER]
    for aid, obl, gbv, coll, prov, book, er, months in rows:
        lines.append(f"{aid},{obl},{gbv},{gbv * 0.8},corporate,{coll},{prov},C,2024-01-15,litigation,{book},{er},{months}")
    return "\n".join(lines) + "\n"


def _write_plan(folder: Path, batches: dict[str, tuple[str, str, list[tuple]]], **doc) -> Path:
    """Batches: name → (date, amc, rows). ``doc`` overrides the plan's keys."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    acquisitions = []
    for name, (date, amc, rows) in batches.items():
        (folder / "data" / f"{name}.csv").write_text(_tape(rows), encoding="utf-8")
        acquisitions.append({"batch": name, "date": date, "amc": amc, "tape": f"data/{name}.csv"})
    plan = {"name": "tiny", "as_of": "2026-06-30",
            "shelf": {"cap": 1.0e9, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 2},
            "windows": [{"date": "2026-09-30", "senior_coupon": 0.02}, {"date": "2027-03-31", "senior_coupon": 0.02}],
            "acquisitions": acquisitions, "funding_cost": 0.04, "issue_cost": {"fixed": 1.0e5, "rate": 0.002},
            "valuation": {"discount_rate": 0.06, "source": "tape"},
            "structure": {"payment_frequency": "quarterly", "legal_maturity_years": 5},
            "planner": {"units": "assets"}}
    plan.update(doc)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


TINY = {
    "B1": ("2026-07-15", "NAT", [("A1", "O1", 4.0e7, "residential", "CN-ZJ", 1.5e7, 2.0e7, 18),
                                 ("A2", "O2", 3.0e7, "unsecured", "CN-GD", "", 6.0e6, 30),
                                 ("A3", "O3", 2.0e7, "commercial", "CN-JS", 8.0e6, 1.2e7, 24)]),
    "B2": ("2027-01-10", "NAT", [("A4", "O4", 5.0e7, "residential", "CN-ZJ", 2.0e7, 2.6e7, 12),
                                 ("A5", "O5", 2.5e7, "industrial", "CN-SD", "", 9.0e6, 36)]),
    "L1": ("2026-08-01", "ZJ", [("Z1", "P1", 3.5e7, "residential", "CN-ZJ", 1.2e7, 1.5e7, 20)]),
}


def _prepared(path: Path):
    plan = load_plan(path)
    return plan, batch_assets(prepare(plan.tape_scenario()).assets, plan)


def _years(date, as_of) -> float:
    return (pd.Timestamp(date) - pd.Timestamp(as_of)).days / 365.25


def brute_force(plan, assets) -> float:
    """The best schedule by enumeration: each asset in no issue or one open window (3^n for two windows), the
    objective and every constraint recomputed from docs/shelf.md's formulas; the senior capacity per segment from
    the shared sizer."""
    s = plan.shelf
    windows = [w for w in plan.windows_sorted() if s.valid_from <= w.date <= s.valid_to]  # the open windows
    coupons = np.array([w.senior_coupon for w in windows])
    ratio = segment_capacity(assets, plan, np.unique(coupons))
    n, K = len(assets), len(windows)
    nu = 1.0 / (1.0 - plan.structure.sub_share_of_notes)
    f = plan.funding_cost
    tau = np.array([_years(w.date, plan.as_of) for w in windows])
    tau_h = _years(plan.shelf.valid_to, plan.as_of)
    er = assets["expected_recovery"].to_numpy(float)
    senior = np.column_stack([ratio.loc[segment_of(assets), c].to_numpy(float) * er for c in coupons])
    book = pd.to_numeric(assets["book_value"], errors="coerce").to_numpy(float)
    base = np.where(np.isfinite(book), book, assets["npv"].to_numpy(float))
    r = np.array([plan.carrying_cost(a) for a in assets["amc_id"]])
    tau_a = np.array([_years(d, plan.as_of) for d in pd.to_datetime(assets["batch_date"])])
    avail = np.array([[pd.Timestamp(assets["batch_date"].iloc[i]) <= pd.Timestamp(w.date) for w in windows]
                      for i in range(n)])
    scen = plan.issue_scenario()
    best = -np.inf
    for choice in itertools.product(range(-1, K), repeat=n):
        c = np.array(choice)
        if any(c[i] >= 0 and not avail[i, c[i]] for i in range(n)):
            continue
        value, notes_total, n_issues, ok = 0.0, 0.0, 0, True
        for k in range(K):
            members = c == k
            if not members.any():
                continue
            n_issues += 1
            S = senior[members, k].sum()
            N = S * nu
            notes_total += N
            if plan.shelf.min_issue_size - 1e-6 > N:
                ok = False
                break
            if not feasible_subsets(members[None, :].astype(float), assets, scen)[0]:
                ok = False
                break
            D = (1 + f) ** -tau[k]
            value += D * (S - plan.issue_cost.fixed - plan.issue_cost.rate * N)
        if not ok or n_issues > plan.shelf.max_issues or notes_total > plan.shelf.cap * (1 + 1e-9):
            continue
        end = np.where(c >= 0, tau[np.maximum(c, 0)], tau_h)
        carry = (base * ((1 + r) ** -tau_a - (1 + r) ** -end)).sum()
        best = max(best, value - carry)
    return best


# --------------------------------------------------------------------------------------------------------------
# plan file
# --------------------------------------------------------------------------------------------------------------

def test_plan_file_errors_name_every_key_and_value(tmp_path):
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc["shelf"]["max_isues"] = 3
    doc["windows"][0]["senior_coupon"] = "high"
    doc["funding_cost"] = -0.1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_plan(path)
    keys = {k for k, _, _ in e.value.problems}
    assert {"shelf.max_isues", "windows.0.senior_coupon", "funding_cost"} <= keys
    text = str(e.value)
    assert "plan file" in text and str(path) in text and "'max_issues'" in text and "'high'" in text


def test_plan_consistency_problems_reported_together():
    base = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    base["acquisitions"][1]["batch"] = base["acquisitions"][0]["batch"]
    base["windows"][1]["date"] = base["windows"][0]["date"]
    base["shelf"]["min_issue_size"] = 2 * base["shelf"]["cap"]
    with pytest.raises(ScenarioError) as e:
        parse_plan(base, DEMO)
    text = str(e.value)
    assert "repeated: ['NAT-B1']" in text and "one window per date" in text and "min_issue_size" in text


def test_cli_bad_plan_exit_1(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("name: x\nshelf: {cap: 1}\nfoo: 1\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["shelf", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    assert "foo" in res.output and "unknown key" in res.output


def test_bad_batch_tape_exit_1_with_validation_csv(tmp_path):
    batches = dict(TINY)
    date, amc, rows = batches["B2"]
    batches["B2"] = (date, amc, [*rows[:1], ("A5", "O5", -2.5e7, "industrial", "CN-SD", "", 9.0e6, 36)])
    path = _write_plan(tmp_path, batches)
    res = CliRunner().invoke(app, ["shelf", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    problems = pd.read_csv(tmp_path / "out" / "validation.csv", encoding="utf-8-sig")
    assert (problems["file"].astype(str).str.endswith("B2.csv") & (problems["column"] == "gbv")).any()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["validation.csv"]


def test_asset_bought_twice_is_named(tmp_path):
    batches = dict(TINY)
    date, amc, rows = batches["B2"]
    batches["B2"] = (date, amc, [*rows, TINY["B1"][2][0]])  # A1 again, in a later batch of the same AMC
    with pytest.raises(InputError) as e:
        run_shelf(load_plan(_write_plan(tmp_path, batches)))
    assert "NAT/A1 in B1, B2" in str(e.value)


# --------------------------------------------------------------------------------------------------------------
# tiny plans: brute force equals the planner
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("doc", [
    {},
    {"pool": {"limits": {"max_province_share": 0.6}}},
    {"shelf": {"cap": 2.5e7, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 2}},
    {"shelf": {"cap": 1.0e9, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 1,
               "min_issue_size": 2.0e7}, "issue_cost": {"fixed": 2.0e6, "rate": 0.002}},
    {"pool": {"limits": {"min_wa_recovery_rate": 0.45, "max_collateral_share": 0.7}},
     "amcs": [{"id": "NAT"}, {"id": "ZJ", "kind": "local", "funding_cost": 0.09}]},
    {"windows": [{"date": "2026-09-30", "senior_coupon": 0.03}, {"date": "2027-03-31", "senior_coupon": 0.02},
                 {"date": "2027-09-30", "senior_coupon": 0.01}]},  # the last window is after valid_to: closed
])
def test_brute_force_equals_planner(tmp_path, doc):
    plan, assets = _prepared(_write_plan(tmp_path, TINY, **doc))
    result = plan_shelf(assets, plan, realise_issues=False)
    expected = brute_force(plan, assets)
    assert result.solution.status == "optimal"
    assert result.solution.objective == pytest.approx(expected, rel=1e-6, abs=1.0)


def test_closed_window_is_never_used(tmp_path):
    windows = [{"date": "2026-09-30", "senior_coupon": 0.03}, {"date": "2027-09-30", "senior_coupon": 0.005}]
    run = run_shelf(load_plan(_write_plan(tmp_path, TINY, windows=windows)))
    assert run.summary["windows"] == {"open": ["2026-09-30"], "closed": ["2027-09-30"]}
    assert all(str(r.date) == "2026-09-30" for r in run.result.realised)


def test_issuing_nothing_when_costs_exceed_proceeds(tmp_path):
    path = _write_plan(tmp_path, TINY, issue_cost={"fixed": 1.0e9, "rate": 0.0})
    res = CliRunner().invoke(app, ["shelf", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "out" / "shelf.json").read_text(encoding="utf-8"))
    assert data["status"] == "no_issue_pays" and data["n_issues"] == 0 and data["cap_used"] == 0
    assert len(pd.read_csv(tmp_path / "out" / "issues.csv", encoding="utf-8-sig")) == 0
    # nothing issued: the PV is minus the carrying of every asset to the shelf's end
    assert data["pv"] == pytest.approx(-data["costs"]["carrying_unissued"]) and data["pv"] < 0


def test_buckets_on_tiny_plan_meet_the_same_limits(tmp_path):
    """Bucket units: every realised issue still meets every limit and its batch dates."""
    path = _write_plan(tmp_path, TINY, planner={"units": "buckets"}, pool={"limits": {"max_province_share": 0.6}})
    plan, assets = _prepared(path)
    result = plan_shelf(assets, plan)
    scen = plan.issue_scenario()
    for r in result.realised:
        assert feasible_subsets(r.selected[None, :].astype(float), assets, scen)[0]
        assert (assets.loc[r.selected, "batch_date"] <= np.datetime64(r.date, "D")).all()


# --------------------------------------------------------------------------------------------------------------
# economics
# --------------------------------------------------------------------------------------------------------------

def _mean_issue_years(result) -> float:
    """gbv-weighted mean time of issue over the issued assets."""
    a = result.assets
    sel = result.issued_in >= 0
    t = result.issues.tau[result.issued_in[sel]]
    w = a["gbv"].to_numpy(float)[sel]
    return float((t * w).sum() / w.sum())


def test_steeper_coupon_curve_moves_issuance_earlier(tmp_path):
    flat = [{"date": "2026-09-30", "senior_coupon": 0.02}, {"date": "2027-03-31", "senior_coupon": 0.02}]
    steep = [{"date": "2026-09-30", "senior_coupon": 0.02}, {"date": "2027-03-31", "senior_coupon": 0.12}]
    cost = {"fixed": 4.0e6, "rate": 0.002}  # two issues do not pay at this fixed cost: one issue, early or late
    shelf = {"cap": 1.0e9, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 2}
    a = plan_shelf(*reversed(_prepared(_write_plan(tmp_path / "flat", TINY, windows=flat, issue_cost=cost,
                                                   shelf=shelf))), realise_issues=False)
    b = plan_shelf(*reversed(_prepared(_write_plan(tmp_path / "steep", TINY, windows=steep, issue_cost=cost,
                                                   shelf=shelf))), realise_issues=False)
    def when(res):  # gbv-weighted planned issue time
        x, g = res.solution.x, res.units.frame["gbv"].to_numpy(float)
        w = x * g[:, None]
        return float((w * res.issues.tau[None, :]).sum() / w.sum())
    assert when(b) < when(a) - 0.1


def test_issue_all_at_once_when_issue_costs_dominate(tmp_path):
    shelf = {"cap": 1.0e9, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 2}
    cheap = plan_shelf(*reversed(_prepared(_write_plan(tmp_path / "a", TINY, shelf=shelf,
                                                       issue_cost={"fixed": 0.0, "rate": 0.0}))), realise_issues=False)
    dear = plan_shelf(*reversed(_prepared(_write_plan(tmp_path / "b", TINY, shelf=shelf,
                                                      issue_cost={"fixed": 1.5e7, "rate": 0.002}))), realise_issues=False)
    assert cheap.solution.y.sum() == 2
    assert dear.solution.y.sum() == 1
    # the one issue takes every asset it can: those acquired by its date
    k = int(np.flatnonzero(dear.solution.y)[0])
    avail = dear.units.frame["batch_date"].to_numpy() <= np.datetime64(dear.issues.dates[k], "D")
    assert np.allclose(dear.solution.x[avail, k], 1.0)


# --------------------------------------------------------------------------------------------------------------
# infeasible plans name the conflict
# --------------------------------------------------------------------------------------------------------------

def test_no_window_inside_validity_is_infeasible(tmp_path):
    shelf = {"cap": 1.0e9, "valid_from": "2027-07-01", "valid_to": "2027-12-31", "max_issues": 2}
    path = _write_plan(tmp_path, TINY, shelf=shelf)
    with pytest.raises(Infeasible) as e:
        run_shelf(load_plan(path))
    assert "valid" in str(e.value) and e.value.conflicts
    res = CliRunner().invoke(app, ["shelf", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 3, res.output
    assert json.loads((tmp_path / "out" / "shelf.json").read_text(encoding="utf-8"))["status"] == "infeasible"


def test_limits_no_issue_can_meet_are_named(tmp_path):
    path = _write_plan(tmp_path, TINY, pool={"limits": {"min_wa_recovery_rate": 0.95}})
    with pytest.raises(Infeasible) as e:
        run_shelf(load_plan(path))
    assert any("recovery" in c for c in e.value.conflicts), e.value.conflicts


def test_min_issue_size_no_pool_reaches(tmp_path):
    shelf = {"cap": 1.0e10, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 2,
             "min_issue_size": 5.0e9}
    with pytest.raises(Infeasible) as e:
        run_shelf(load_plan(_write_plan(tmp_path, TINY, shelf=shelf)))
    assert "shelf.min_issue_size" in e.value.conflicts


# --------------------------------------------------------------------------------------------------------------
# the demo: invariants from the written files, determinism
# --------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("shelf")
    res = CliRunner().invoke(app, ["shelf", str(DEMO), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_demo_outputs_respect_dates_cap_validity_and_limits(demo_out):
    plan = load_plan(DEMO)
    issues = pd.read_csv(demo_out / "issues.csv", encoding="utf-8-sig")
    assign = pd.read_csv(demo_out / "assignments.csv", encoding="utf-8-sig", dtype={"amc_id": str, "asset_id": str})
    data = json.loads((demo_out / "shelf.json").read_text(encoding="utf-8"))
    assert data["status"] == "optimal" and data["gap"] <= 1e-6
    assert (demo_out / "shelf.html").stat().st_size > 100_000
    # each asset at most once, never before its batch date
    assert not assign.duplicated(["amc_id", "asset_id"]).any()
    dates = assign["issue"].map(issues.set_index("issue")["date"])
    assert (pd.to_datetime(assign["batch_date"]) <= pd.to_datetime(dates)).all()
    batch_date = {a.batch: str(a.date) for a in plan.acquisitions}
    assert (assign["batch_date"] == assign["batch"].map(batch_date)).all()
    # cap, validity, number of issues, window dates
    assert issues["notes"].sum() <= plan.shelf.cap + 1.0
    assert len(issues) <= plan.shelf.max_issues
    assert pd.to_datetime(issues["date"]).between(pd.Timestamp(plan.shelf.valid_from), pd.Timestamp(plan.shelf.valid_to)).all()
    assert set(issues["date"]) <= {str(w.date) for w in plan.windows}
    assert (issues["notes"] >= plan.shelf.min_issue_size).all()
    # every issue's pool passes the pool limit checker; its size matches the table
    assets = batch_assets(prepare(plan.tape_scenario()).assets, plan)
    key = assets["amc_id"].astype(str) + "/" + assets["asset_id"].astype(str)
    scen = plan.issue_scenario()
    X = np.vstack([key.isin(set(g["amc_id"] + "/" + g["asset_id"])).to_numpy(float)
                   for _, g in assign.groupby("issue", sort=True)])
    assert feasible_subsets(X, assets, scen).all()
    assert np.allclose(X @ assets["gbv"].to_numpy(float), issues.sort_values("issue")["gbv"], rtol=1e-9)
    assert data["cap_used"] == pytest.approx(issues["notes"].sum())


def test_demo_is_deterministic(demo_out, tmp_path):
    run = run_shelf(load_plan(DEMO))
    paths = write_shelf_run(tmp_path, run)
    for p in paths:
        if p.suffix == ".csv":
            assert p.read_bytes() == (demo_out / p.name).read_bytes(), p.name
    a = json.loads((tmp_path / "shelf.json").read_text(encoding="utf-8"))
    b = json.loads((demo_out / "shelf.json").read_text(encoding="utf-8"))
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_report_escapes_the_plan_name(tmp_path):
    from pooling.report.shelf import shelf_page

    path = _write_plan(tmp_path, TINY, name="<script>alert(1)</script>")
    run = run_shelf(load_plan(path))
    page = shelf_page(run.result, run.summary)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page


def test_every_plan_key_is_documented():
    """docs/shelf.md documents every key of the plan's own sections (valuation, structure and pool.limits are the
    scenario's, documented in docs/scenario.md)."""
    from pooling.shelf.plan import ShelfPlan
    from tests.test_docs import documented_keys, schema_keys

    doc = documented_keys((Path(__file__).resolve().parents[1] / "docs" / "shelf.md").read_text(encoding="utf-8"))
    shared = ("valuation", "structure", "pool")
    missing = [f"{s}.{k}" if s else k for s, k, _ in schema_keys(ShelfPlan)
               if not s.startswith(shared) and (f"{s}.{k}" if s else k) not in doc]
    assert not missing, missing


def test_study_sweeps_plan_parameters(tmp_path):
    """A study whose base is a shelf plan: runs go through the shelf planner, paths are checked against the plan."""
    plan = _write_plan(tmp_path, TINY, issue_cost={"fixed": 4.0e6, "rate": 0.002})
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"base": "plan.yaml", "scenarios": {"steep": {"windows.1.senior_coupon": 0.12}},
                                     "sweep": {"issue_cost.fixed": [0.0, 1.5e7]}}), encoding="utf-8")
    res = CliRunner().invoke(app, ["study", str(study), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    runs = pd.read_csv(tmp_path / "out" / "runs.csv", encoding="utf-8-sig").set_index("scenario")
    assert (runs["status"] == "optimal").all()
    assert runs.loc["steep", "mean_issue_years"] < runs.loc["base", "mean_issue_years"]
    assert runs.loc["base: fixed=0.0", "n_issues"] == 2 and runs.loc["base: fixed=15000000.0", "n_issues"] == 1
    # each run is the planner's own answer for its plan
    direct = run_shelf(load_plan(plan)).summary
    assert runs.loc["base", "pv"] == pytest.approx(direct["pv"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": "plan.yaml", "sweep": {"shelf.capp": [1.0]}}), encoding="utf-8")
    res = CliRunner().invoke(app, ["study", str(bad), "--out", str(tmp_path / "bad")])
    assert res.exit_code == 1 and "capp" in res.output


@pytest.mark.parametrize("seed", range(1, 9))
def test_brute_force_equals_planner_on_random_tiny_plans(tmp_path, seed):
    """Seeded random plans: 7 assets over 3 batches, random amounts, provinces, collateral and timing, random
    limits, cap and costs."""
    rng = np.random.default_rng(seed)
    provinces = np.array(["CN-ZJ", "CN-GD", "CN-JS"])
    collateral = np.array(["residential", "commercial", "unsecured", "industrial"])
    dates = {"B1": "2026-07-10", "B2": "2026-10-20", "L1": "2027-01-05"}
    batches: dict = {b: (d, "ZJ" if b == "L1" else "NAT", []) for b, d in dates.items()}
    for i in range(7):
        b = ["B1", "B2", "L1"][i % 3]
        gbv = round(float(rng.uniform(1e7, 6e7)), -3)
        er = round(gbv * float(rng.uniform(0.1, 0.7)), -3)
        book = "" if rng.random() < 0.3 else round(er * 0.7, -3)
        batches[b][2].append((f"X{i}", f"O{i}", gbv, str(rng.choice(collateral)), str(rng.choice(provinces)), book, er,
                              int(rng.integers(6, 60))))
    windows = [{"date": "2026-09-30", "senior_coupon": round(float(rng.uniform(0.015, 0.03)), 4)},
               {"date": "2027-03-31", "senior_coupon": round(float(rng.uniform(0.015, 0.06)), 4)}]
    limits = {"max_province_share": float(rng.choice([0.5, 0.7, 1.0])),
              "min_wa_recovery_rate": float(rng.choice([0.0, 0.3]))}
    doc = {"windows": windows, "pool": {"limits": limits},
           "issue_cost": {"fixed": float(rng.choice([0.0, 1e6, 5e6])), "rate": 0.002},
           "shelf": {"cap": float(rng.choice([3e7, 1e9])), "valid_from": "2026-07-01", "valid_to": "2027-06-30",
                     "max_issues": int(rng.integers(1, 3))},
           "amcs": [{"id": "NAT"}, {"id": "ZJ", "kind": "local", "funding_cost": 0.07}]}
    plan, assets = _prepared(_write_plan(tmp_path, batches, **doc))
    result = plan_shelf(assets, plan, realise_issues=False)
    assert result.solution.objective == pytest.approx(brute_force(plan, assets), rel=1e-6, abs=1.0)


def test_unavailable_pyomo_solver_is_an_input_error(tmp_path):
    path = _write_plan(tmp_path, TINY, planner={"units": "assets", "pyomo_solver": "no_such_solver"})
    with pytest.raises(InputError) as e:
        run_shelf(load_plan(path))
    assert "planner.pyomo_solver" in str(e.value)


def test_another_pyomo_solver_gives_the_same_plan(tmp_path):
    """planner.pyomo_solver through Pyomo's generic SolverFactory path (here its 'highs' interface)."""
    doc = {"pool": {"limits": {"max_province_share": 0.6}}}
    a = plan_shelf(*reversed(_prepared(_write_plan(tmp_path / "a", TINY, **doc))), realise_issues=False)
    b = plan_shelf(*reversed(_prepared(_write_plan(tmp_path / "b", TINY, planner={"units": "assets",
                                                                                   "pyomo_solver": "highs"}, **doc))),
                   realise_issues=False)
    assert b.solution.objective == pytest.approx(a.solution.objective, rel=1e-9)
    assert np.array_equal(a.solution.y, b.solution.y)
