"""Stress levers move the inputs the way they say, and only those."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pooling.consortium.packages import package_labels
from pooling.errors import InputError, ScenarioError
from pooling.pipeline import prepare
from pooling.scenario import Levers, load_scenario, parse_scenario, read_yaml

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "scenario.yaml"


@pytest.fixture(scope="module")
def base():
    s = load_scenario(DEMO)
    return s, prepare(s).assets


def _with(s, **levers):
    return s.model_copy(update={"levers": Levers.model_validate({**s.levers.model_dump(), **levers})})


def test_house_price_shock_lowers_residential_only(base) -> None:
    s, a = base
    b = prepare(_with(s, house_price_shock={"residential": -0.3})).assets
    res = (a["collateral_type"].astype(str) == "residential").to_numpy()
    assert b.loc[res, "expected_recovery"].sum() < a.loc[res, "expected_recovery"].sum()
    assert (b.loc[res, "expected_recovery"].to_numpy() <= a.loc[res, "expected_recovery"].to_numpy() + 1e-6).all()
    assert b.loc[~res, "expected_recovery"].to_numpy() == pytest.approx(a.loc[~res, "expected_recovery"].to_numpy())


def test_court_delay_pushes_collections_later(base) -> None:
    s, a = base
    b = prepare(_with(s, court_delay_months=12)).assets
    court = (a["legal_status"].astype(str) != "settled").to_numpy()
    tape = (a["valuation_source"] == "tape").to_numpy()
    # tape timings move by exactly the delay; model curves move less within the 120-month horizon (the tail is cut)
    assert b.loc[court & tape, "expected_months"].to_numpy() == pytest.approx(a.loc[court & tape, "expected_months"].to_numpy() + 12)
    assert (b.loc[court & ~tape, "expected_months"].to_numpy() > a.loc[court & ~tape, "expected_months"].to_numpy() + 5).all()
    assert b.loc[court, "npv"].sum() < a.loc[court, "npv"].sum()
    settled = ~court
    assert b.loc[settled, "npv"].to_numpy() == pytest.approx(a.loc[settled, "npv"].to_numpy())


def test_recovery_haircut_by_province_and_asset_type(base) -> None:
    s, a = base
    b = prepare(_with(s, recovery_haircut={"province": {"浙江": 0.2}, "asset_type": {"sme": 0.1}})).assets
    zj = (a["province"].astype(str) == "CN-ZJ").to_numpy()
    sme = (a["asset_type"].astype(str) == "sme").to_numpy()
    f = (1 - 0.2 * zj) * (1 - 0.1 * sme)
    assert b["npv"].to_numpy() == pytest.approx(a["npv"].to_numpy() * f)
    assert b["expected_recovery"].to_numpy() == pytest.approx(a["expected_recovery"].to_numpy() * f)


def test_withdraw_and_coupon_shift(base) -> None:
    s, _ = base
    p = prepare(_with(s, withdraw=["ZJ"], coupon_shift=0.005))
    assert "ZJ" not in set(p.assets["amc_id"]) and [a.id for a in p.scenario.amcs] == ["NAT", "GD", "SC"]
    assert p.scenario.structure.senior_coupon == pytest.approx(s.structure.senior_coupon + 0.005)


def test_withdraw_packages_leaves_exactly_their_assets_out(base) -> None:
    s, a = base
    labels = package_labels(a)
    nat = labels[a["amc_id"] == "NAT"].value_counts()
    out = {"NAT": list(nat.index[:2]), "ZJ": [labels[a["amc_id"] == "ZJ"].iloc[0]]}
    b = prepare(_with(s, withdraw_packages=out)).assets
    gone = pd.Series(list(zip(a["amc_id"].astype(str), labels, strict=True))).isin(
        [(amc, p) for amc, ps in out.items() for p in ps]).to_numpy()
    assert gone.sum() > 0 and len(b) == len(a) - gone.sum()
    kept = a.loc[~gone, ["amc_id", "asset_id", "group_id", "npv"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(b[["amc_id", "asset_id", "group_id", "npv"]], kept)  # the rest as before, groups kept
    withdrawn_sc = sorted(set(labels[a["amc_id"] == "SC"]))
    with pytest.raises(InputError) as e:  # every problem at once
        prepare(_with(s, withdraw_packages={"ZJ": ["CN-XX/castle"], "SC": withdrawn_sc}))
    assert "AMC ZJ has no package 'CN-XX/castle'" in str(e.value) and "AMC SC would have no package left" in str(e.value)


def test_unknown_lever_values_are_clear_errors() -> None:
    data = read_yaml(DEMO)
    for levers, words in (({"withdraw": ["XX"]}, "unknown AMC"), ({"house_price_shock": {"castle": -0.1}}, "unknown collateral"),
                          ({"recovery_haircut": {"province": {"Narnia": 0.1}}}, "unknown province"), ({"court_delays": 3}, "unknown key"),
                          ({"withdraw_packages": {"XX": ["a"]}}, "withdraw_packages names unknown AMC")):
        with pytest.raises(ScenarioError, match=words):
            parse_scenario({**data, "levers": levers}, DEMO)
