"""Monte Carlo sizing: diversification pays, volatility costs, the rating target is met and maximal, seeded."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pooling.errors import InputError
from pooling.scenario import parse_scenario
from pooling.tranching.deal import size_deal, terms_from
from pooling.tranching.montecarlo import DEFAULT_TARGETS, pass_share, scenario_collections, size_monte_carlo
from pooling.tranching.training import TRAINING_DEALS, fit_table, training_pool
from pooling.tranching.waterfall import passes, waterfall
from pooling.valuation.factors import DEFAULT_FACTORS

AS_OF = dt.date(2026, 6, 30)
PROVINCES = ["CN-ZJ", "CN-GD", "CN-SC", "CN-JS", "CN-SD", "CN-HB", "CN-HN", "CN-FJ", "CN-BJ", "CN-SH"]
COLLATERAL = ["residential", "commercial", "industrial"]
N_SCEN = 2000


def _pool(spread: bool, n: int = 600) -> pd.DataFrame:
    """600 equal corporate assets, same recovery and timing; spread over 10 provinces × 3 collateral types, or all
    in one province and one collateral type."""
    i = np.arange(n)
    return pd.DataFrame({
        "amc_id": "X", "asset_id": [f"A{k}" for k in i], "obligor_id": [f"O{k}" for k in i],
        "group_id": [f"G:O{k}" for k in i], "gbv": 10.0e6, "asset_type": "corporate",
        "collateral_type": [COLLATERAL[(k // 10) % 3] for k in i] if spread else "residential",
        "province": [PROVINCES[k % 10] for k in i] if spread else "CN-ZJ", "industry": "C",
        "expected_recovery": 4.0e6, "curve_rinf": 4.0e6 / (1 - np.exp(-0.05 * 118)), "curve_k": 0.05,
        "curve_lag": 2.0, "curve_shape": 1.0,
    })


def _scenario(**structure):
    return parse_scenario({"name": "mc", "as_of": AS_OF, "amcs": [{"id": "X", "kind": "national", "tape": "x.csv"}],
                           "structure": {"size_unit": 1.0e5, **structure}}, "x.yaml")


def _mc(**extra):
    return _scenario(sizing="monte_carlo", monte_carlo={"scenarios": N_SCEN, **extra})


def test_spread_pool_sizes_larger_under_monte_carlo_and_equal_under_deterministic():
    spread, conc = _pool(True), _pool(False)
    assert spread["expected_recovery"].sum() == conc["expected_recovery"].sum()
    det = [size_deal(p, _scenario()).analytics["senior_size"] for p in (spread, conc)]
    assert det[0] == det[1]
    mc = [size_deal(p, _mc()).analytics["senior_size"] for p in (spread, conc)]
    assert mc[0] > 1.05 * mc[1]


def test_more_volatility_smaller_senior():
    pool = _pool(True)
    calm = size_deal(pool, _mc()).analytics["senior_size"]
    wild = size_deal(pool, _mc(factors={"class_volatility": {"corporate": 0.35}})).analytics["senior_size"]
    assert wild < 0.9 * calm


def test_senior_meets_its_target_and_one_percent_more_does_not():
    pool = _pool(True)
    sc = _mc()
    terms = terms_from(sc.structure, expenses_base=float(pool["expected_recovery"].sum()))
    sized = size_monte_carlo(pool, terms, senior_rating="AAA", unit=1.0e5, n_scenarios=N_SCEN, seed=3,
                             horizon_months=120, discount_rate=0.06)
    C = sized.collections.periods
    S = C.shape[0]
    q = DEFAULT_TARGETS["AAA"]

    def share(x: float) -> float:  # independently: the full waterfall and its test, every scenario
        f = waterfall(C, np.full(S, x), np.zeros(S), np.zeros(S), terms)
        return float(passes(f, "senior", terms.legal_periods).mean())

    assert sized.senior > 0
    assert share(sized.senior) >= q
    assert share(sized.senior * 1.01) < q
    assert share(sized.senior + 1.0e5) < q
    assert sized.senior_pass_share == pytest.approx(share(sized.senior))
    assert pass_share(C, np.array([sized.senior]), terms)[0] == pytest.approx(share(sized.senior))


def test_same_seed_identical_outputs():
    pool = _pool(True)
    a, b = size_deal(pool, _mc(seed=5)), size_deal(pool, _mc(seed=5))
    pd.testing.assert_frame_equal(a.stresses, b.stresses)
    pd.testing.assert_frame_equal(a.scenarios, b.scenarios)
    assert a.analytics == b.analytics
    c = size_deal(pool, _mc(seed=6))
    assert not np.allclose(a.monte_carlo.collections.periods, c.monte_carlo.collections.periods)


def test_scenario_collections_mean_and_conservation():
    """Mean collections to the horizon ≈ the expected recovery (multipliers mean 1; delays only move cash, and
    nothing is lost within H + max delay); never negative."""
    pool = _pool(True)
    terms = terms_from(_scenario().structure)
    sc = scenario_collections(pool, terms, n_scenarios=20_000, seed=1, horizon_months=120, discount_rate=0.06)
    assert (sc.periods >= 0).all() and (sc.after >= 0).all()
    total = sc.periods.sum(axis=1) + sc.after
    assert total.mean() == pytest.approx(pool["expected_recovery"].sum(), rel=0.01)
    assert sc.base.sum() <= pool["expected_recovery"].sum() + 1e-3


def test_stresses_csv_scenario_view_and_floor():
    pool = _pool(False)
    d = size_deal(pool, _mc())
    st = d.stresses
    assert set(st["method"]) == {"deterministic", "monte_carlo"}
    mc = st[st["method"] == "monte_carlo"].set_index("rating")
    assert list(mc.index) == sorted(DEFAULT_TARGETS, key=lambda r: -DEFAULT_TARGETS[r])
    assert mc.loc["AAA", "max_senior"] == d.analytics["senior_size"]
    assert (mc["pass_share"] >= mc["target_share"]).all()
    assert mc["max_senior"].is_monotonic_increasing  # laxer targets, larger seniors
    p = mc.iloc[0][["collections_p1", "collections_p5", "collections_p50", "collections_p95", "collections_p99"]]
    assert p.is_monotonic_increasing
    assert list(d.scenarios["period"])[-2:] == ["total", "after_legal"]
    det = size_deal(pool, _scenario()).analytics["senior_size"]
    floored = size_deal(pool, _mc(floor="deterministic")).analytics["senior_size"]
    assert floored == min(det, d.analytics["senior_size"])


def test_deterministic_default_unchanged():
    pool = _pool(True)
    a, b = size_deal(pool, _scenario()), size_deal(pool, _scenario(sizing="deterministic"))
    pd.testing.assert_frame_equal(a.tranches, b.tranches)
    pd.testing.assert_frame_equal(a.stresses, b.stresses)
    assert "method" not in a.stresses.columns and a.scenarios is None


def test_unknown_rating_target():
    with pytest.raises(InputError, match="target"):
        size_deal(_pool(True), _scenario(sizing="monte_carlo", senior_rating="AAA+", stresses={"AAA+": {"haircut": 0.4}},
                                         monte_carlo={"scenarios": 200}))


def test_calibration_card_below_mortgage_and_fit():
    table = fit_table(n_scenarios=3000).set_index("deal")
    assert table.loc["16建鑫3", "model"] < table.loc["mortgage anchor", "model"]
    fit = table[table["in_fit"]]
    assert fit["residual"].abs().mean() < 0.05
    assert {d.name for d in TRAINING_DEALS} == set(table.index)
    assert training_pool(TRAINING_DEALS[1])["expected_recovery"].sum() == pytest.approx(
        TRAINING_DEALS[1].expected_recovery * 1e6)
    assert DEFAULT_FACTORS.class_volatility["credit_card"] > DEFAULT_FACTORS.class_volatility["retail_mortgage"]
