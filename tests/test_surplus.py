"""The consortium game's value is the securitisation surplus: the identity with sizing alone, a superadditive and
monotone reported game, local standalone deals, the nucleolus and least-core ranges, transfer prices."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pooling.consortium.game import analyse, cover_on_family
from pooling.consortium.surplus import deal_surplus
from pooling.pipeline import prepare
from pooling.scenario import Limits, Scenario, load_scenario, with_overrides
from pooling.tapes.synth import demo_amcs, write_consortium

#: group caps a 400-asset consortium can meet (the demo's others kept), short coalition solves
SMALL = {"pool.limits.max_obligor_group_share": 0.08, "pool.limits.max_top10_group_share": 0.5,
         "consortium.coalition_time_limit_s": 2.0, "consortium.workers": 1, "solver.time_limit_s": 20.0,
         "structure.payment_frequency": "monthly", "structure.legal_maturity_years": 10.0}
#: a local AMC's own regional deal: looser group caps than the consortium's (a small regional book)
REGIONAL = Limits(max_obligor_group_share=0.25, min_secured_share=0.3)


def _with_amcs(scenario: Scenario, **per_kind: dict) -> Scenario:
    amcs = [a.model_copy(update=per_kind.get(a.kind, {})) for a in scenario.amcs]
    return scenario.model_copy(update={"amcs": amcs})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_consortium(tmp_path_factory.mktemp("surplus"), n_assets=400, amcs=demo_amcs(), seed=3)


@pytest.fixture(scope="module")
def base(folder: Path) -> Scenario:
    sc = with_overrides(load_scenario(folder), SMALL | {"consortium.issuance_cost.fixed": 1.0e5})
    return _with_amcs(sc, local={"standalone_limits": REGIONAL})


@pytest.fixture(scope="module")
def prepared(base: Scenario):
    return prepare(base)


@pytest.fixture(scope="module")
def game(prepared):
    return analyse(prepared.assets, prepared.scenario, workers=1)


def _values(res) -> dict[frozenset, float]:
    return {frozenset(c.split("+")): v for c, v in zip(res.coalitions["coalition"], res.coalitions["value"], strict=True)}


def _check_superadditive_monotone(values: dict[frozenset, float], tol: float) -> int:
    pairs = 0
    for S, T in itertools.combinations(values, 2):
        if not S & T and (S | T) in values:
            assert values[S | T] >= values[S] + values[T] - tol, (S, T)
            pairs += 1
        if S < T:
            assert values[T] >= values[S] - tol, (S, T)
        if T < S:
            assert values[S] >= values[T] - tol, (S, T)
    return pairs


# --------------------------------------------------------------------------------------------- the surplus
def test_no_funding_gap_no_issuance_cost_leaves_what_sizing_adds(prepared) -> None:
    """One funding rate r for every AMC and for the clean-up sale, monthly payments, no expenses or issuance
    cost: the surplus is the gain of selling the rated notes at their coupon instead of funding at r, less the
    carry of the cash reserve funded at closing — recomputed here from cashflows.csv's columns."""
    r = 0.05
    sc = with_overrides(prepared.scenario, {
        "valuation.discount_rate": r, "structure.expenses_rate": 0.0, "consortium.issuance_cost.fixed": 0.0,
        "consortium.issuance_cost.rate": 0.0})
    sc = _with_amcs(sc, national={"funding_cost": r}, local={"funding_cost": r})
    pool = prepared.assets.iloc[::2]  # any pool: half of every tape
    s = deal_surplus(pool, sc)
    cf = s.deal.cashflows
    years = np.where(cf["event"] == "cleanup", cf["period"].max() - 1, cf["period"]) / 12.0
    rho = sc.structure.retention_share
    senior = float(s.deal.tranches["size"].iloc[0])
    sold_cash = (1 - rho) * (cf["pay_senior_interest"] + cf["pay_senior_principal"]).to_numpy()
    df = np.power(1 + r, -years)
    gain = (1 - rho) * senior - float(sold_cash @ df)
    reserve = -sc.structure.cash_reserve_share * senior + float((cf["reserve_draw"] - cf["reserve_deposit"]) @ df)
    assert s.issuance_cost == 0.0 and senior > 0 and -0.01 * senior < reserve < 0
    assert s.surplus == pytest.approx(gain + reserve, abs=1e-6 * s.outside_value)
    assert gain > 0  # r above the senior coupon: sizing adds value
    # a funding-cost gap adds to it: the locals now pay more to hold
    dearer = deal_surplus(pool, _with_amcs(sc, local={"funding_cost": 0.09}))
    assert dearer.surplus > s.surplus


def test_parts_add_up_and_members_split_them(prepared) -> None:
    pool = prepared.assets.iloc[1::2]
    s = deal_surplus(pool, prepared.scenario)
    p = s.parts()
    assert p["surplus"] == pytest.approx(p["senior_proceeds"] + p["retained_value"] + p["servicing_value"]
                                         - p["outside_value"] - p["issuance_cost"], rel=1e-12)
    for col, total in (("outside_value", s.outside_value), ("retained_value", s.retained_value),
                       ("servicing_value", s.servicing_value), ("gbv", float(pool["gbv"].sum()))):
        assert s.by_amc[col].sum() == pytest.approx(total, rel=1e-12)
    assert s.issuance_cost == pytest.approx(1.0e5 + 0.002 * s.notes)
    # a bulk sale above holding raises the outside option to the sale price
    sold = deal_surplus(pool, _with_amcs(prepared.scenario, local={"bulk_sale_price": 0.9}))
    local = sold.by_amc.index.isin(["ZJ", "GD", "SC"])
    assert sold.by_amc.loc[local, "outside_value"].to_numpy() == pytest.approx(
        0.9 * sold.by_amc.loc[local, "gbv"].to_numpy())


# --------------------------------------------------------------------------------------------- the game
def test_reported_values_superadditive_monotone_and_cover_the_own_deals(game) -> None:
    values = _values(game)
    tol = 1e-6 * max(1.0, max(values.values()))
    assert _check_superadditive_monotone(values, tol) > 0
    c = game.coalitions.set_index("coalition")
    assert (c["value"] >= c["own_value"].clip(lower=0.0) - tol).all()
    # the partition column names blocks whose own values add up to the reported value
    own = c["own_value"].clip(lower=0.0)
    for name, row in c.iterrows():
        blocks = row["partition"].split(" | ")
        assert sorted(p for b in blocks for p in b.split("+")) == sorted(name.split("+"))
        assert sum(own[b] for b in blocks) == pytest.approx(row["value"], abs=tol)


def test_local_regional_standalone_deal_is_valued(game) -> None:
    a = game.allocation.set_index("amc_id")
    c = game.coalitions.set_index("coalition")
    assert a.loc["ZJ", "standalone_value"] > 0 and a.loc["ZJ", "standalone_status"] in ("optimal", "feasible")
    assert c.loc["ZJ", "n_assets"] > 0 and c.loc["ZJ", "surplus"] == pytest.approx(a.loc["ZJ", "standalone_value"])


def test_nucleolus_efficient_inside_its_least_core_ranges(game) -> None:
    a = game.allocation
    vN = game.values[frozenset(a["amc_id"])]
    for col in ("nucleolus", "shapley_value", "alloc_gbv", "alloc_npv"):
        assert a[col].sum() == pytest.approx(vN, rel=1e-7, abs=1e-3)
    tol = 1e-6 * max(1.0, vN)
    assert (a["least_core_min"] <= a["nucleolus"] + tol).all() and (a["nucleolus"] <= a["least_core_max"] + tol).all()
    # in the core when the least core's ε* ≤ 0: no coalition gets less than its value
    if game.least_core_epsilon <= 0:
        x = dict(zip(a["amc_id"], a["nucleolus"], strict=True))
        for S, v in game.values.items():
            assert sum(x[p] for p in S) >= v - tol
    assert set(game.core["rule"]) >= {"gbv", "npv", "shapley", "nucleolus"}
    assert "blocking_coalition" in game.core


def test_transfers_realise_the_allocation(game) -> None:
    t = game.transfers.set_index("amc_id")
    a = game.allocation.set_index("amc_id")
    x = a["nucleolus"]  # consortium.rule defaults to nucleolus
    assert game.rule == "nucleolus"
    assert (t["total_value"] - x.reindex(t.index)).abs().max() <= 1.0  # to CNY 1
    recomputed = t["transfer_price"] + t["retained_notes_value"] + t["servicing_value"] - t["outside_value"]
    assert (recomputed - t["total_value"]).abs().max() <= 0.05
    grand = game.coalitions.set_index("coalition").loc["+".join(sorted(t.index))]
    if grand["partition"] == grand.name:  # one deal: its closing cash pays every transfer price
        assert t["transfer_price"].sum() == pytest.approx(grand["senior_proceeds"] - grand["issuance_cost"], abs=1.0)
        assert t["outside_value"].sum() == pytest.approx(grand["outside_value"], abs=1.0)


def test_random_small_games_stay_superadditive(folder: Path) -> None:
    """Random funding costs, issuance costs and caps on the small consortium, one game exact and one sampled:
    every reported value superadditive and monotone (the sampled one over the coalitions it visited)."""
    rng = np.random.default_rng(13)
    for exact_max in (12, 2):
        sc = with_overrides(load_scenario(folder), SMALL | {
            "consortium.issuance_cost.fixed": float(rng.uniform(0, 3e5)),
            "consortium.issuance_cost.rate": float(rng.uniform(0, 0.004)),
            "pool.limits.max_province_share": float(rng.choice([0.3, 0.4])),
            "consortium.exact_shapley_max": exact_max, "consortium.shapley_samples": 6})
        amcs = [a.model_copy(update={"funding_cost": float(rng.uniform(0.02, 0.08)),
                                     "standalone_limits": REGIONAL if a.kind == "local" else None})
                for a in sc.amcs]
        sc = sc.model_copy(update={"amcs": amcs})
        pr = prepare(sc)
        res = analyse(pr.assets, pr.scenario, workers=1)
        values = _values(res)
        _check_superadditive_monotone(values, 1e-6 * max(1.0, max(values.values())))
        a = res.allocation
        assert a["shapley_value"].sum() == pytest.approx(res.values[frozenset(a["amc_id"])], rel=1e-7, abs=1e-3)


def test_cover_on_a_family_is_superadditive_there_and_full_cover_on_all() -> None:
    from pooling.consortium.solutions import superadditive_cover

    rng = np.random.default_rng(2)
    players = list("ABCDE")
    every = [frozenset(c) for r in range(1, 6) for c in itertools.combinations(players, r)]
    raw = {c: float(rng.uniform(0, 1) * len(c) ** 1.2 * (rng.uniform() > 0.3)) for c in every}
    full, _ = cover_on_family(raw)
    expected = superadditive_cover(players, lambda s: raw[s] if s else 0.0)
    assert all(full[c] == pytest.approx(expected[c]) for c in every)
    family = {c: raw[c] for c in every if len(c) == 1 or rng.uniform() < 0.4}
    part, blocks = cover_on_family(family)
    assert _check_superadditive_monotone(part, 1e-9) >= 0
    for c, bs in blocks.items():
        assert part[c] <= expected[c] + 1e-9
        assert part[c] == pytest.approx(sum(family[b] for b in bs))
    assert isinstance(pd.Series(part).sum(), float)


def test_core_verdicts_agree_with_a_direct_check(game) -> None:
    """core.csv's verdict for each rule, recomputed: x(S) ≥ v(S) for every coalition, to 1e-6 of v(N)."""
    values = _values(game)
    players = list(game.allocation["amc_id"])
    vN = values[frozenset(players)]
    cols = {"gbv": "alloc_gbv", "npv": "alloc_npv", "shapley": "shapley_value", "nucleolus": "nucleolus"}
    for r in game.core.itertuples(index=False):
        x = dict(zip(players, game.allocation[cols[r.rule]], strict=True))
        short = max(v - sum(x[p] for p in c) for c, v in values.items() if c)
        assert r.in_core == (short <= 1e-6 * max(1.0, abs(vN))), (r.rule, short)
