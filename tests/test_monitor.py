"""Surveillance after issue (DESIGN §12, docs/monitor.md): servicer reports, actual vs plan, triggers, watch list,
re-forecast. Invariants are recomputed from the deal's own files (cashflows.csv, pool.csv) and the reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.errors import ValidationFailed
from pooling.io import write_csv
from pooling.monitor.synth import synth_collections, write_collections
from pooling.pipeline import deal_plan_of, inputs_digest, prepare, run_monitor, run_scenario, write_run
from pooling.scenario import load_scenario, load_scenario_copy
from pooling.tapes.headers import first_report_chinese_header
from pooling.tapes.synth import write_consortium

POOL_COLUMNS = ["amc_id", "asset_id", "obligor_id", "group_id", "province", "industry", "collateral_type", "gbv",
                "expected_recovery", "expected_months", "npv"]


def _issue(path: Path, deal_dir: Path):
    """The scenario at ``path`` issued on its whole contributed pool (no selection: fast) into ``deal_dir`` as
    `pooling run` writes a deal folder; returns (scenario, prepared, the deal's plan)."""
    scenario = load_scenario(path)
    prepared = prepare(scenario)
    result = run_scenario(scenario, prepared=prepared, pool=prepared.assets[["amc_id", "asset_id"]])
    write_run(deal_dir, result)
    write_csv(result.pool[POOL_COLUMNS], deal_dir / "pool.csv", float_format="%.2f")
    return scenario, prepared, deal_plan_of(deal_dir, scenario, prepared)


@pytest.fixture(scope="module")
def deal(tmp_path_factory) -> dict:
    """A small issued deal: 1,500 synthetic assets, quarterly payments, the whole contributed pool sized (no
    selection: fast), written as `pooling run` writes it."""
    root = tmp_path_factory.mktemp("deal")
    path = write_consortium(root, n_assets=1500, seed=5)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("consortium", None)
    doc["structure"]["payment_frequency"] = "quarterly"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    deal_dir = root / "deal"
    scenario, prepared, plan = _issue(path, deal_dir)
    return {"root": root, "scenario_path": path, "scenario": scenario, "prepared": prepared, "dir": deal_dir,
            "plan": plan, "cashflows": pd.read_csv(deal_dir / "cashflows.csv", encoding="utf-8-sig")}


def _reports(deal: dict, folder: Path, months: int = 12, **kw) -> list[Path]:
    frames = synth_collections(deal["plan"], months, **kw)
    return write_collections(frames, folder)


def _monitor(deal: dict, paths, as_of=None):
    result, _ = run_monitor(deal["dir"], deal["scenario"], list(paths), as_of, prepared=deal["prepared"])
    return result


def test_plan_is_the_deals_projection(deal) -> None:
    """The monitor's plan summed by payment period is cashflows.csv's collections column."""
    from pooling.tranching.waterfall import monthly_to_periods

    plan = deal["plan"]
    periods = monthly_to_periods(plan.base_monthly, plan.terms.period_months, plan.terms.legal_periods)[0]
    cf = deal["cashflows"]
    np.testing.assert_allclose(periods, cf.loc[cf["event"] == "payment", "collections"], atol=0.01)


def test_collections_equal_to_plan_give_ratios_of_one_and_no_breach(deal, tmp_path) -> None:
    result = _monitor(deal, _reports(deal, tmp_path))
    m = result.monitor
    assert set(m["dimension"]) == {"all", "province", "collateral_type", "amc", "servicer"}
    planned = m["cumulative_plan"] > 1e3
    np.testing.assert_allclose(m.loc[planned, "ratio"], 1.0, atol=1e-5)
    assert not m["behind_plan"].any()
    assert not result.triggers["breached"].any()
    assert result.watchlist.empty
    # every dimension's segments add up to the pool
    for dim, rows in m.groupby("dimension"):
        by_period = rows.groupby("period")[["plan", "actual", "cumulative_plan"]].sum()
        pool = m[m["dimension"] == "all"].set_index("period")[["plan", "actual", "cumulative_plan"]]
        np.testing.assert_allclose(by_period.to_numpy(), pool.to_numpy(), rtol=1e-9, err_msg=dim)


def test_reforecast_with_actual_equal_to_plan_reproduces_the_waterfall(deal, tmp_path) -> None:
    result = _monitor(deal, _reports(deal, tmp_path))
    cf, rf = deal["cashflows"], result.reforecast
    assert len(rf) == len(cf)
    for column in ("collections", "pay_senior_interest", "pay_senior_principal", "senior_balance",
                   "subordinated_balance", "reserve_balance", "pay_sub_residual"):
        np.testing.assert_allclose(rf[column], cf[column], atol=5.0, rtol=1e-7, err_msg=column)
    np.testing.assert_allclose(rf["plan_senior_balance"], cf["senior_balance"], atol=0.01)
    fc = result.summary["reforecast"]
    assert fc["senior_repaid_by_legal_maturity"]
    assert fc["senior_expected_maturity"] == fc["plan_senior_expected_maturity"]
    assert abs(fc["pool_ratio"] - 1.0) < 1e-6


def test_a_shortfall_in_one_province_is_flagged_there_and_nowhere_else(deal, tmp_path) -> None:
    pool = deal["plan"].pool
    province = pool.groupby("province")["expected_recovery"].sum().idxmax()
    paths = _reports(deal, tmp_path, shortfall=[("province", province, 0.3)])
    result = _monitor(deal, paths)
    m = result.monitor
    last = m[(m["period"] == m["period"].max()) & (m["dimension"] == "province")].set_index("segment")
    assert last.loc[province, "ratio"] == pytest.approx(0.7, abs=1e-4)
    assert last.loc[province, "behind_plan"]
    others = last.drop(province)
    others = others[others["cumulative_plan"] > 1e3]
    np.testing.assert_allclose(others["ratio"], 1.0, atol=1e-5)
    assert not others["behind_plan"].any()
    # the watch list names assets of that province only, ranked by shortfall, each truly behind plan
    w = result.watchlist[result.watchlist["level"] == "asset"]
    assert len(w) and set(w["province"]) == {province}
    assert (np.diff(w["shortfall"].to_numpy()) <= 1e-9).all() and (w["rank"] == np.arange(1, len(w) + 1)).all()
    np.testing.assert_allclose(w["shortfall"], w["plan_to_date"] - w["actual_to_date"], atol=1e-6)
    assert (w["actual_to_date"] < 0.8 * w["plan_to_date"]).all()
    behind = pool[pool["province"] == province]
    assert len(w) <= len(behind)
    # the pool's ratio is recomputed from the reports and the deal's plan
    reports = pd.concat([pd.read_csv(p, encoding="utf-8-sig") for p in paths])
    collected = reports[first_report_chinese_header()["amount"]].sum()
    overall = m[m["dimension"] == "all"].iloc[-1]
    assert overall["cumulative_actual"] == pytest.approx(collected, rel=1e-9)
    cf = deal["cashflows"]
    assert overall["cumulative_plan"] == pytest.approx(cf["collections"].iloc[:4].sum(), abs=0.05)
    # the re-forecast reads the shortfall as lost in that province: less to come, the rest unchanged
    fc = result.summary["reforecast"]
    assert fc["collections_to_legal_maturity"] < fc["plan_collections_to_legal_maturity"]
    ratios = fc["segment_ratios"]
    inside = [v for k, v in ratios.items() if k.startswith(province + "|")]
    outside = [v for k, v in ratios.items() if not k.startswith(province + "|")]
    assert max(inside) < fc["pool_ratio"] <= min(outside) + 1e-12  # a segment with no plan yet takes the pool's


def test_a_trigger_breaches_exactly_in_the_first_period_its_ratio_crosses(deal, tmp_path) -> None:
    """Collections at plan for two quarters, then at 40% of plan: the cumulative ratio, recomputed from the reports
    and cashflows.csv, crosses 0.90 in some later period; triggers.csv breaches from exactly that period."""
    frames = synth_collections(deal["plan"], 15)
    for i, month in enumerate(sorted(frames)):
        if i >= 6:
            frames[month] = frames[month].assign(amount=frames[month]["amount"] * 0.4)
    result = _monitor(deal, write_collections(frames, tmp_path))
    cf = deal["cashflows"]
    collected = np.array([frames[m]["amount"].sum() for m in sorted(frames)]).reshape(-1, 3).sum(axis=1)
    ratio = np.cumsum(collected) / np.cumsum(cf["collections"].to_numpy()[: len(collected)])
    t = result.triggers[result.triggers["trigger"] == "cumulative_collection_ratio"]
    np.testing.assert_allclose(t["value"], ratio, rtol=1e-6)
    expected = ratio < 0.90
    assert expected.any() and not expected[0]
    np.testing.assert_array_equal(t["breached"].to_numpy(), expected)
    first = int(np.argmax(expected)) + 1
    assert result.summary["first_breach_period"]["cumulative_collection_ratio"] == first
    assert t.loc[t["breached"], "period"].min() == first


def test_interest_cover_and_npv_profitability(deal, tmp_path) -> None:
    """Interest cover from the deal's terms on what was collected; NPV profitability over settled positions."""
    frames = synth_collections(deal["plan"], 6)
    first = next(m for m in sorted(frames) if len(frames[m]) >= 20)
    settled = frames[first].head(20)[["amc_id", "asset_id"]]
    last = sorted(frames)[-1]
    closing = frames[last].merge(settled, on=["amc_id", "asset_id"]).assign(legal_status="settled",
                                                                             amount=lambda f: f["amount"] * 0 + 1.0)
    closing["date"] = "2026-12-15"
    frames["settle"] = closing
    result = _monitor(deal, write_collections(frames, tmp_path))
    s = deal["scenario"].structure
    cf = deal["cashflows"]
    t = result.triggers.set_index(["trigger", "period"])
    # cover = (C (1 − tax − base fee) − expenses + reserve at the start) / senior interest due; with collections
    # at plan the interest is paid in full, so the due amount is cashflows.csv's
    senior = pd.read_csv(deal["dir"] / "tranches.csv", encoding="utf-8-sig")["size"].iloc[0]
    reserve = np.r_[s.cash_reserve_share * senior, cf["reserve_balance"].to_numpy()]
    for p in (1, 2):
        c = cf.loc[p - 1]
        want = (c["collections"] * (1 - s.tax_rate - s.servicer_base_fee) - c["pay_expenses"] + reserve[p - 1]) \
            / c["pay_senior_interest"]
        assert t.loc[("senior_interest_cover", p), "value"] == pytest.approx(want, rel=1e-3)
    # NPV profitability: PV at closing of the settled positions' collections over their npv at issue
    pool = deal["plan"].pool.set_index(["amc_id", "asset_id"])
    reports = pd.concat(frames.values())
    rows = reports.merge(settled, on=["amc_id", "asset_id"])
    days = (pd.to_datetime(rows["date"]) - pd.Timestamp("2026-06-30")).dt.days.to_numpy()
    assert t.loc[("npv_profitability", 1), "value"] != t.loc[("npv_profitability", 1), "value"]  # none closed yet
    value = t.loc[("npv_profitability", 2), "value"]
    npv = pool.loc[list(map(tuple, settled.to_numpy())), "npv"].sum()
    # fractional months of a date: days into its month over the month's days (the monitor's clock)
    months = np.array([(d.year - 2026) * 12 + d.month - 7 + d.day / d.days_in_month for d in pd.to_datetime(rows["date"])])
    pv = (rows["amount"] * (1.06) ** (-months / 12)).sum()
    assert days.max() <= 184
    assert value == pytest.approx(pv / npv, rel=1e-6)
    assert result.summary["settled_assets"] == 20
    # settled positions expect nothing more: the re-forecast drops their remaining plan
    assert result.summary["reforecast"]["collections_to_legal_maturity"] < \
        result.summary["reforecast"]["plan_collections_to_legal_maturity"]


def test_bad_report_rows_are_reported_all_at_once_and_nothing_is_written(deal, tmp_path) -> None:
    a = deal["plan"].pool["asset_id"].iloc[0]
    amc = deal["plan"].pool["amc_id"].iloc[0]
    b = deal["plan"].pool["asset_id"].iloc[1]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r1.csv").write_text(
        "资产管理公司,资产编号,回收日期,回收金额,诉讼状态\n"
        f"{amc},{a},2026-08-31,1000,\n"          # fine
        f"{amc},NOPE-1,2026-08-31,1000,\n"       # unknown asset (row 3)
        f"{amc},{a},2026-05-31,1000,\n"          # before closing (row 4)
        f"{amc},{b},2028-01-31,1000,\n"          # after --as-of (row 5)
        f"{amc},{b},2026-09-30,-5,\n"            # negative (row 6)
        f"{amc},{b},2026-10-31,abc,\n"           # not a number (row 7)
        f"{amc},{b},2026-11-30,10,maybe\n",      # unknown legal_status (row 8)
        encoding="utf-8")
    (tmp_path / "in" / "r2.csv").write_text(
        "amc_id,asset_id,date,amount\n"
        f"{amc},{a},2026-08-31,20\n",            # duplicate of r1.csv row 2
        encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["monitor", str(deal["dir"]), "--scenario", str(deal["scenario_path"]),
                                   "--collections", str(tmp_path / "in"), "--out", str(out), "--as-of", "2027-06-30"])
    assert res.exit_code == 1, res.output
    assert sorted(p.name for p in out.iterdir()) == ["validation.csv"]
    v = pd.read_csv(out / "validation.csv", encoding="utf-8-sig")
    r1 = v[v["file"].str.endswith("r1.csv")]
    assert sorted(r1["row"]) == [3, 4, 5, 6, 7, 8]
    assert r1.set_index("row").loc[3, "problem"].startswith("unknown asset")
    assert "closing" in r1.set_index("row").loc[4, "problem"]
    assert "future" in r1.set_index("row").loc[5, "problem"]
    assert "negative" in r1.set_index("row").loc[6, "problem"]
    assert "not a number" in r1.set_index("row").loc[7, "problem"]
    assert "legal_status" in r1.set_index("row").loc[8, "problem"]
    r2 = v[v["file"].str.endswith("r2.csv")]
    assert list(r2["row"]) == [2] and "duplicate" in r2["problem"].iloc[0] and "r1.csv row 2" in r2["problem"].iloc[0]
    # the reader alone raises the same table
    with pytest.raises(ValidationFailed) as e:
        _monitor(deal, sorted((tmp_path / "in").iterdir()), as_of="2027-06-30")
    assert len(e.value.problems) == 7


def test_reports_with_a_header_and_no_rows_mean_nothing_collected(deal, tmp_path) -> None:
    """Reports that hold only their header (months without collections, every file given) are no collections:
    the monitor runs and reports nothing collected, instead of failing."""
    zh = first_report_chinese_header()
    (tmp_path / "in").mkdir()
    for month in ("2026-07", "2026-08"):
        (tmp_path / "in" / f"collections-{month}.csv").write_text(
            ",".join(zh[c] for c in ("amc_id", "asset_id", "date", "amount")) + "\n", encoding="utf-8")
    reports = sorted((tmp_path / "in").iterdir())
    result = _monitor(deal, reports, as_of="2026-09-30")
    assert result.summary["report_rows"] == 0 and result.summary["actual_to_date"] == 0
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["monitor", str(deal["dir"]), "--scenario", str(deal["scenario_path"]),
                                   "--collections", str(tmp_path / "in"), "--out", str(out), "--as-of", "2026-09-30"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "monitor.json").read_text(encoding="utf-8"))["actual_to_date"] == 0


def test_reports_read_from_excel_with_title_rows_and_gbk(deal, tmp_path) -> None:
    frames = synth_collections(deal["plan"], 3)
    month = sorted(frames)[0]
    zh = first_report_chinese_header()
    f = frames[month].rename(columns=zh)
    with pd.ExcelWriter(tmp_path / "r.xlsx") as xl:
        pd.DataFrame([["回收明细表"], [""]]).to_excel(xl, header=False, index=False, startrow=0)
        f.to_excel(xl, index=False, startrow=2)
    rest = pd.concat([frames[m] for m in sorted(frames)[1:]]).rename(columns=zh)
    (tmp_path / "r.csv").write_bytes(rest.to_csv(index=False).encode("gbk"))
    result = _monitor(deal, [tmp_path / "r.xlsx", tmp_path / "r.csv"])
    assert result.summary["report_rows"] == sum(len(x) for x in frames.values())
    assert result.summary["collection_ratio"] == pytest.approx(1.0, abs=1e-5)


def test_cli_synth_then_monitor_is_deterministic(deal, tmp_path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["synth", str(tmp_path / "reports"), "--collections", str(deal["dir"]), "--scenario",
                              str(deal["scenario_path"]), "--months", "9", "--shortfall", "amc=ZJ:0.5",
                              "--noise", "0.2", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "reports").glob("collections-*.csv"))) == 9
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        res = runner.invoke(app, ["monitor", str(deal["dir"]), "--scenario", str(deal["scenario_path"]),
                                  "--collections", str(tmp_path / "reports" / "collections-*.csv"), "--out", str(out)])
        assert res.exit_code == 0, res.output
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(["monitor.csv", "triggers.csv", "watchlist.csv", "reforecast.csv", "monitor.json",
                            "monitor.xlsx", "monitor.html"])
    for n in names:  # the workbook too: its creation time is the report date
        assert (outs[0] / n).read_bytes() == (outs[1] / n).read_bytes(), n
    summary = json.loads((outs[0] / "monitor.json").read_text(encoding="utf-8"))
    assert summary["as_of"] == "2027-03-31"
    m = pd.read_csv(outs[0] / "monitor.csv", encoding="utf-8-sig", keep_default_na=False)
    zj = m[(m["dimension"] == "amc") & (m["period"] == m["period"].max())].set_index("segment")["ratio"].astype(float)
    assert zj["ZJ"] < 0.6 and (zj.drop("ZJ") > 0.85).all()
    w = pd.read_csv(outs[0] / "watchlist.csv", encoding="utf-8-sig", keep_default_na=False)
    assert list(w.columns[:9]) == ["amc_id", "asset_id", "obligor_id", "group_id", "province", "plan_to_date",
                                   "actual_to_date", "shortfall", "reason"]
    html = (outs[0] / "monitor.html").read_text(encoding="utf-8")
    assert "<script src=\"http" not in html and "Surveillance" in html


def test_monitor_and_synth_read_the_deals_resolved_scenario_by_default(deal, tmp_path) -> None:
    """The deal folder keeps its resolved scenario (scenario.resolved.yaml, written with the deal files); monitor
    and synth --collections read it when no --scenario is given — the same outputs, byte for byte, as with the
    scenario file, and the same inputs hash. Without the copy: a usage error asking for --scenario."""
    copy = deal["dir"] / "scenario.resolved.yaml"
    loaded = load_scenario_copy(copy)
    assert loaded.base_dir == deal["scenario"].base_dir
    assert inputs_digest(loaded) == inputs_digest(deal["scenario"])
    assert "base_dir: .." in copy.read_text(encoding="utf-8")  # relative to the deal folder: no machine path
    runner = CliRunner()
    res = runner.invoke(app, ["synth", str(tmp_path / "reports"), "--collections", str(deal["dir"]), "--months", "6",
                              "--noise", "0.2"])
    assert res.exit_code == 0, res.output
    for name, extra in (("copy", []), ("given", ["--scenario", str(deal["scenario_path"])])):
        res = runner.invoke(app, ["monitor", str(deal["dir"]), "--collections", str(tmp_path / "reports"), "--out",
                                  str(tmp_path / name), *extra])
        assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "copy").iterdir())
    assert names == sorted(["monitor.csv", "triggers.csv", "watchlist.csv", "reforecast.csv", "monitor.json",
                            "monitor.xlsx", "monitor.html"])
    for n in names:
        assert (tmp_path / "copy" / n).read_bytes() == (tmp_path / "given" / n).read_bytes(), n
    assert json.loads((tmp_path / "copy" / "monitor.json").read_text(encoding="utf-8"))["inputs_match"] is True
    bare = tmp_path / "bare"
    shutil.copytree(deal["dir"], bare)
    (bare / "scenario.resolved.yaml").unlink()
    res = runner.invoke(app, ["monitor", str(bare), "--collections", str(tmp_path / "reports"), "--out",
                              str(tmp_path / "bare-out")])
    assert res.exit_code == 2 and "scenario.resolved.yaml" in res.output and "--scenario" in res.output
    assert not (tmp_path / "bare-out").exists()
    moved = tmp_path / "moved"  # moved away from its inputs: the tapes are not where the copy says
    shutil.copytree(deal["dir"], moved)
    res = runner.invoke(app, ["monitor", str(moved), "--collections", str(tmp_path / "reports"), "--out",
                              str(tmp_path / "moved-out")])
    assert res.exit_code == 1 and "file not found" in res.output


def test_monte_carlo_deal_gives_the_senior_repayment_probability(deal, tmp_path) -> None:
    """Under sizing: monte_carlo the re-forecast also gives the share of the deal's factor scenarios in which the
    senior is still paid in full; a deep shortfall everywhere lowers it."""
    doc = yaml.safe_load(deal["scenario_path"].read_text(encoding="utf-8"))
    doc["structure"].update({"sizing": "monte_carlo", "monte_carlo": {"scenarios": 300, "seed": 5}})
    path = deal["root"] / "mc.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    deal_dir = tmp_path / "mc"
    scenario, prepared, plan = _issue(path, deal_dir)
    assert plan.scenario_periods is not None and plan.scenario_periods.shape[0] == 300
    probs = []
    for name, cut in (("plan", []), ("short", [("amc", a, 0.6) for a in sorted(set(plan.pool["amc_id"]))])):
        paths = write_collections(synth_collections(plan, 18, cut), tmp_path / name)
        res, _ = run_monitor(deal_dir, scenario, paths, prepared=prepared)
        probs.append(res.summary["reforecast"]["senior_repaid_probability"])
    assert 0.0 <= probs[1] <= probs[0] <= 1.0
    assert probs[0] >= 0.5 and probs[1] < probs[0]
