"""The one orchestrator: the servicer fee is explicit (a number, or the servicing plan's), the plan's uplift is in
the projected collections exactly when the plan is applied, and run / size / a study run agree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.pipeline import prepare, run_pipeline, run_scenario
from pooling.scenario import load_scenario, with_overrides

runner = CliRunner()
DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "scenario.yaml"


@pytest.fixture(scope="module")
def plan_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with ``structure.servicer_base_fee: plan`` and no consortium section (no coalition game)."""
    folder = tmp_path_factory.mktemp("plan") / "demo"
    shutil.copytree(DEMO.parent, folder)
    path = folder / "scenario.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("consortium")
    doc["structure"]["servicer_base_fee"] = "plan"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _senior(folder: Path) -> float:
    t = pd.read_csv(folder / "tranches.csv", encoding="utf-8-sig")
    return float(t.loc[t["tranche"] == "senior", "size"].iloc[0])


def test_plan_fee_run_size_and_study_agree(plan_demo: Path, tmp_path: Path) -> None:
    run_dir, sized = tmp_path / "run", tmp_path / "sized"
    r = runner.invoke(app, ["run", str(plan_demo), "--out", str(run_dir)])
    assert r.exit_code == 0, r.output
    assert "from the servicing plan" in r.output
    r = runner.invoke(app, ["size", str(run_dir), "--scenario", str(plan_demo), "--out", str(sized)])
    assert r.exit_code == 0, r.output
    study = run_pipeline(load_scenario(plan_demo))
    senior = _senior(run_dir)
    assert abs(_senior(sized) - senior) <= 1.0 and abs(study["senior_size"] - senior) <= 1.0

    # The fee: the plan's fees over its collections, recomputed from servicers.csv; the waterfall charges it.
    sv = pd.read_csv(run_dir / "servicers.csv", encoding="utf-8-sig")
    rate = sv["fee"].sum() / sv["expected_collections"].sum()
    data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert data["structure"]["servicer_base_fee"]["source"] == "servicing plan"
    assert data["structure"]["servicer_base_fee"]["rate"] == pytest.approx(rate, rel=1e-12)
    assert study["servicer_base_fee"] == pytest.approx(rate, rel=1e-12)
    cash = pd.read_csv(run_dir / "cashflows.csv", encoding="utf-8-sig")
    paying = cash["collections"] > 1e3
    assert (cash.loc[paying, "pay_servicer_base_fee"] / cash.loc[paying, "collections"]).round(6).eq(round(rate, 6)).all()
    # The uplift is claimed, and it is the plan's: collections with it minus the plan's own expected recovery.
    assert data["servicing"]["applied"] is True
    uplift = (sv["expected_collections"] - sv["expected_recovery"]).sum()
    assert data["servicing"]["recovery_uplift"] == pytest.approx(uplift, rel=1e-9)
    assert uplift > 0


def test_plan_uplift_is_in_the_projected_collections(plan_demo: Path) -> None:
    """Same pool, same fee rate: with ``plan`` the projection carries the plan's uplift, with the number it does not."""
    s = load_scenario(plan_demo)
    with_plan = run_scenario(s, prepared=prepare(s))
    fixed = with_overrides(s, {"structure.servicer_base_fee": with_plan.fee.rate})
    without = run_scenario(fixed, prepared=prepare(fixed), pool=with_plan.pool[["amc_id", "asset_id"]])
    assert without.fee.source == "structure.servicer_base_fee" and without.servicing is None
    assert without.fee.rate == with_plan.fee.rate

    def collected(result) -> float:
        a = result.deal.analytics
        return a["collections_to_legal_maturity"] + a["collections_after_legal_maturity"]

    gain = collected(with_plan) - collected(without)
    uplift = with_plan.servicing.total_uplift
    # u_i scales each asset's whole curve; expected_recovery counts the curve up to the valuation horizon only,
    # so the projection gains at least the claimed uplift and not much more.
    assert uplift * (1 - 1e-9) <= gain <= uplift * 1.05
    assert with_plan.deal.analytics["senior_size"] > without.deal.analytics["senior_size"]


def test_a_number_is_never_overwritten(clean_scenario: Path) -> None:
    """A fee the scenario sets stays, even when the consortium game runs and its servicing plan charges another."""
    s = with_overrides(load_scenario(clean_scenario), {"consortium": {}, "structure.servicer_base_fee": 0.07})
    result = run_scenario(s, consortium=True)
    assert result.servicing is not None and result.servicing.effective_fee_rate == pytest.approx(0.08)
    assert result.fee.rate == 0.07 and result.scenario.structure.servicer_base_fee == 0.07
    assert result.summary["structure"]["servicer_base_fee"] == {"rate": 0.07, "source": "structure.servicer_base_fee"}
    assert result.summary["servicing"]["applied"] is False
    assert "recovery_uplift" not in result.summary["servicing"]
    cash = result.deal.cashflows
    paying = cash["collections"] > 0
    assert (cash.loc[paying, "pay_servicer_base_fee"] / cash.loc[paying, "collections"]).round(9).eq(0.07).all()


def test_plan_needs_no_consortium_section_and_optimize_needs_no_plan(clean_scenario: Path) -> None:
    """``plan`` works with the default servicers; a run that sizes nothing computes no plan and no fee."""
    s = with_overrides(load_scenario(clean_scenario), {"structure.servicer_base_fee": "plan"})
    assert s.consortium is None
    sized = run_scenario(s)
    assert sized.fee.source == "servicing plan" and sized.servicing is not None
    selected = run_scenario(s, size=False)
    assert selected.fee is None and selected.servicing is None and selected.deal is None
    assert selected.metrics()["pool_gbv"] == sized.metrics()["pool_gbv"]
