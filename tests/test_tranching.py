"""Waterfall and sizing: conservation, maximality, monotonicity, a hand-computed deal, the training deals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling.scenario import ModelParameters, parse_scenario
from pooling.tranching.deal import size_deal
from pooling.tranching.waterfall import (
    DEFAULT_STRESSES,
    Terms,
    passes,
    senior_passes,
    size_mezz,
    size_senior,
    waterfall,
)
from pooling.valuation.model import DEFAULT_PARAMETERS, value_assets

AS_OF = dt.date(2026, 6, 30)


@st.composite
def deals(draw):
    P = draw(st.integers(1, 24))
    S = draw(st.integers(1, 4))
    coll = np.array(draw(st.lists(st.floats(0, 1e9, allow_nan=False), min_size=S * P, max_size=S * P))).reshape(S, P)
    terms = Terms(
        period_months=draw(st.sampled_from([1, 3, 6])),
        legal_periods=P,
        senior_coupon=draw(st.floats(0, 0.1)),
        mezz_coupon=draw(st.floats(0, 0.15)),
        tax_rate=draw(st.floats(0, 0.1)),
        expenses_rate=draw(st.floats(0, 0.01)),
        expenses_cap=draw(st.floats(0, 1e7)),
        base_fee_rate=draw(st.floats(0, 0.3)),
        incentive_share=draw(st.floats(0, 1)),
        reserve_multiple=draw(st.floats(0, 3)),
        cash_reserve_share=draw(st.floats(0, 0.1)),
        sub_fixed_return=draw(st.floats(0, 0.2)),
        convention=draw(st.sampled_from(["china", "europe"])),
    )
    sizes = [np.array(draw(st.lists(st.floats(0, 2e9), min_size=S, max_size=S))) for _ in range(3)]
    plan = coll.mean(axis=0) * draw(st.floats(0.5, 1.5))
    return coll, terms, sizes, plan


@settings(max_examples=300, deadline=None)
@given(deals())
def test_cash_is_conserved_every_period(deal) -> None:
    coll, terms, (sen, mez, sub), plan = deal
    f = waterfall(coll, sen, mez, sub, terms, plan=plan)
    scale = max(1.0, coll.max(), sen.max(), mez.max(), sub.max())
    assert np.abs(f.conservation_error()).max() <= 1e-9 * scale
    for item, arr in f.pay.items():
        assert (arr >= -1e-9 * scale).all(), item
    assert (f.reserve_balance >= -1e-9 * scale).all()
    # principal paid never exceeds the tranche
    assert (f.pay["senior_principal"].sum(axis=1) <= sen + 1e-6 * scale).all()
    assert (f.pay["sub_principal"].sum(axis=1) <= sub + 1e-6 * scale).all()


@settings(max_examples=200, deadline=None)
@given(deals())
def test_fast_senior_test_matches_full_waterfall(deal) -> None:
    coll, terms, (sen, _, _), _ = deal
    terms = Terms(**{**terms.__dict__, "convention": "china"})
    full = passes(waterfall(coll, sen, 0.0, 0.0, terms), "senior", terms.legal_periods)
    fast = senior_passes(coll, sen, terms)
    assert (full == fast).all()


def test_hand_computed_two_period_deal() -> None:
    """Two annual periods of 60, coupon 10%, no fees, no reserve: S·0.1 + principal from period 1, the rest
    with interest in period 2 ⇒ 1.1·(1.1·S − 60) = 60 ⇒ S = (60/1.1 + 60)/1.1 = 104.1322…"""
    t = Terms(period_months=12, legal_periods=2, senior_coupon=0.10, tax_rate=0, expenses_rate=0, base_fee_rate=0,
              reserve_multiple=0, cash_reserve_share=0, sub_fixed_return=0)
    s = size_senior(np.array([[60.0, 60.0]]), t, size_unit=1e-4)[0]
    assert s == pytest.approx((60 / 1.1 + 60) / 1.1, abs=2e-4)
    f = waterfall(np.array([[60.0, 60.0]]), s, 0.0, 20.0, t)
    assert f.pay["senior_interest"][0].tolist() == pytest.approx([0.1 * s, 0.1 * (1.1 * s - 60)], rel=1e-6)
    assert f.balances["senior"][0, -1] == pytest.approx(0.0, abs=1e-3)
    # the sub is paid from what is left: nothing in period 1, 60 − 1.1·B in period 2 (≈ 0 at the maximum)
    assert f.pay["sub_principal"][0, 0] == 0.0


def _curve(P: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.uniform(0.02, 0.1)
    m = np.exp(-k * np.arange(P)) * rng.uniform(0.5, 1.5, P)
    return (m / m.sum() * 1e9)[None, :]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("convention", ["china", "europe"])
def test_senior_is_maximal(seed: int, convention: str) -> None:
    C = _curve(40, seed)
    t = Terms(period_months=3, legal_periods=40, convention=convention)
    unit = 1e4
    s = size_senior(C, t, unit)[0]
    assert s > 0
    assert passes(waterfall(C, s, 0, 0, t), "senior", 40)[0]
    assert not passes(waterfall(C, s * 1.01, 0, 0, t), "senior", 40)[0]
    assert not passes(waterfall(C, s + 2 * unit, 0, 0, t), "senior", 40)[0]


def test_senior_monotone_in_haircut_and_delay() -> None:
    C = _curve(60, 3)[0]
    t = Terms(period_months=1, legal_periods=60)
    cuts = np.linspace(0, 0.9, 19)
    sizes = size_senior((1 - cuts)[:, None] * C[None, :], t, 1e4)
    assert (np.diff(sizes) <= 1e-6).all()
    delayed = np.vstack([np.concatenate([np.zeros(d), C[: 60 - d]]) for d in range(0, 13, 3)])
    sizes = size_senior(delayed, t, 1e4)
    assert (np.diff(sizes) <= 1e-6).all()


@pytest.mark.parametrize("convention", ["china", "europe"])
def test_mezzanine_behind_senior(convention: str) -> None:
    C = _curve(20, 5)
    t = Terms(period_months=6, legal_periods=20, mezz_coupon=0.05, convention=convention, expenses_base=1e9)
    senior_stress, mezz_stress = C * 0.65, C * 0.8
    s = size_senior(senior_stress, t, 1e4)
    plan = C[0]
    m = size_mezz(mezz_stress, s, t, 1e4, plan=plan)
    assert m[0] > 0
    f = waterfall(mezz_stress, s, m, 0.0, t, plan=plan)
    assert passes(f, "mezz", 20)[0] and passes(f, "senior", 20)[0]
    # the mezzanine does not break the senior at the senior's own stress
    assert passes(waterfall(senior_stress, s, m, 0.0, t, plan=plan), "senior", 20)[0]
    assert not passes(waterfall(mezz_stress, s, m * 1.01, 0.0, t, plan=plan), "mezz", 20)[0]


def test_stress_table_ordering() -> None:
    ratings = ["base", "BBB", "A", "AA", "AAA"]
    cuts = [DEFAULT_STRESSES[r].haircut for r in ratings]
    delays = [DEFAULT_STRESSES[r].delay_months for r in ratings]
    assert cuts == sorted(cuts) and delays == sorted(delays)


# --------------------------------------------------------------------------------------- training deals
STATUSES = ["pre_litigation", "litigation", "judgment", "enforcement", "enforcement_terminated", "bankruptcy", "settled"]
#: (deal, pool kind, P+I+F CNY m, agency expected recovery, issued senior, coupon, legal years, frequency)
TRAINING = [
    ("16建鑫3", "card", 2810.5, 0.2365, 364.0, 0.044, 3.8, "quarterly"),
    ("工元2016-1", "corporate", 4521.0, 0.2955, 664.0, 0.040, 5.0, "semiannual"),
    ("20东元1", "amc", 2840.1, 0.4445, 630.0, 0.0475, 2.6, "semiannual"),
    ("16和萃1", "card", 2097.7, 0.1149, 188.0, 0.030, 4.0, "quarterly"),
]


def training_pool(kind: str, total: float, er_rate: float, life: float, n: int = 400) -> pd.DataFrame:
    """A pool with the deal's size and agency recovery; timing such that 90% is collected 6 months before legal
    maturity (the deals' senior expected maturities of 0.5–3 years imply collections well inside their lives)."""
    rng = np.random.default_rng(0)
    if kind == "card":
        at, ct = ["credit_card"] * n, ["unsecured"] * n
    elif kind == "corporate":
        at = ["corporate"] * n
        ct = rng.choice(["commercial", "industrial", "land", "residential", "guarantee_only", "unsecured"], n,
                        p=[0.25, 0.2, 0.14, 0.14, 0.15, 0.12])
    else:
        at = rng.choice(["corporate", "sme"], n)
        ct = rng.choice(["commercial", "industrial", "land", "residential", "guarantee_only"], n)
    assets = pd.DataFrame({
        "amc_id": "X", "asset_id": [str(i) for i in range(n)], "obligor_id": [str(i) for i in range(n)],
        "gbv": rng.lognormal(0, 0.5, n), "principal": 0.0, "asset_type": at, "collateral_type": ct,
        "province": "CN-ZJ", "industry": "C",
        "default_date": pd.Timestamp(AS_OF) - pd.to_timedelta(rng.uniform(0.5, 2.5, n) * 365.25, unit="D"),
        "legal_status": rng.choice(["pre_litigation", "litigation", "judgment"], n), "collateral_value": np.nan,
        "lien_rank": np.nan,
    })
    k = float(np.log(10) / (life * 12 - 6 - 1))
    params = DEFAULT_PARAMETERS.with_overrides(
        ModelParameters(speed=dict.fromkeys(STATUSES, k), lag_months=dict.fromkeys(STATUSES, 1.0)))
    v = value_assets(assets, as_of=AS_OF, discount_rate=0.06, params=params)
    v["gbv"] *= total * 1e6 / v["gbv"].sum()
    f = er_rate * total * 1e6 / v["expected_recovery"].sum()
    for c in ("curve_rinf", "expected_recovery", "npv"):
        v[c] *= f
    return v


@pytest.mark.parametrize("deal", TRAINING, ids=[d[0] for d in TRAINING])
def test_training_deals_reproduced(deal) -> None:
    """Default AAA stress reproduces the issued senior within ±10% (16和萃1 excepted: 87% of its senior had been
    collected before closing, so it was sized on cash in hand — the model is conservative there, as it should be)."""
    name, kind, total, er_rate, senior, coupon, life, freq = deal
    pool = training_pool(kind, total, er_rate, life)
    sc = parse_scenario({"name": name, "as_of": AS_OF, "amcs": [{"id": "X", "kind": "national", "tape": "x.csv"}],
                         "structure": {"senior_coupon": coupon, "legal_maturity_years": life, "payment_frequency": freq}},
                        "x.yaml")
    d = size_deal(pool, sc)
    ratio = d.analytics["senior_size"] / 1e6 / senior
    share = d.analytics["senior_share_of_expected_recovery"]
    assert 0.45 <= share <= 0.65
    assert 1.5 <= d.analytics["senior_coverage"] <= 2.2
    if name == "16和萃1":
        assert ratio < 0.8
    else:
        assert abs(ratio - 1) <= 0.10, ratio
    assert d.analytics["senior_repaid_in_base_case"]
    assert d.analytics["max_conservation_error"] <= 1e-3


# ------------------------------------------------------------------ sizing: the true maximum, wherever it starts
@st.composite
def late_deals(draw):
    """Collections that start late (the first ``d`` periods collect nothing) and fixed expenses: a small senior's
    closing reserve cannot carry the expenses until the first collections, so the passing sizes do not run from
    zero up."""
    P = draw(st.integers(4, 30))
    d = draw(st.integers(1, P // 2))
    later = draw(st.lists(st.floats(1e6, 1e9), min_size=P - d, max_size=P - d))
    C = np.r_[np.zeros(d), later][None, :]
    terms = Terms(
        period_months=draw(st.sampled_from([1, 3, 6])),
        legal_periods=P,
        senior_coupon=draw(st.floats(0, 0.08)),
        mezz_coupon=draw(st.floats(0, 0.12)),
        tax_rate=draw(st.floats(0, 0.05)),
        expenses_rate=draw(st.floats(1e-3, 0.05)),
        expenses_cap=1e12,
        expenses_base=float(C.sum()),  # fixed: does not move with the size searched
        base_fee_rate=draw(st.floats(0, 0.1)),
        reserve_multiple=draw(st.floats(0, 3)),
        cash_reserve_share=draw(st.floats(0.01, 0.1)),
        convention=draw(st.sampled_from(["china", "europe"])),
    )
    return C, terms


def _senior_ok(C: np.ndarray, sizes: np.ndarray, t: Terms) -> np.ndarray:
    """The full waterfall's verdict on each senior size (no mezzanine, no sub)."""
    sizes = np.atleast_1d(np.asarray(sizes, dtype=float))
    return passes(waterfall(np.repeat(C, len(sizes), axis=0), sizes, 0.0, 0.0, t), "senior", t.legal_periods)


def test_senior_maximal_when_collections_start_late() -> None:
    """The case that broke the old search: two half-years without collections, expenses of 0.5% of the pool a
    half-year. Sizes up to ≈ 45m fail (the 4% reserve cannot carry the expenses), so the maximum is not found by
    assuming passing sizes start at zero."""
    C = np.r_[np.zeros(2), np.full(8, 1e8)][None, :]
    t = Terms(period_months=6, legal_periods=10, expenses_base=8e8, expenses_rate=0.01, expenses_cap=1e9)
    unit = 1e4
    s = size_senior(C, t, unit)[0]
    assert _senior_ok(C, [s], t)[0]
    assert not _senior_ok(C, [s + unit, s * 1.01], t).any()
    assert not _senior_ok(C, [0.5 * (s / 1.01) / 10], t)[0]  # a small senior fails: the pass set starts above 0
    dense = np.linspace(0, C.sum() / (1 - t.cash_reserve_share), 4001)
    assert dense[_senior_ok(C, dense, t)].max() <= s + unit


@settings(max_examples=150, deadline=None)
@given(late_deals())
def test_senior_is_the_true_maximum(deal) -> None:
    """The returned senior passes, 1% (and one unit) more fails unless that is above the cap Σ C / (1 − ρ), and
    no size on an independent dense grid above it passes."""
    C, t = deal
    unit = 1e4
    s = size_senior(C, t, unit)[0]
    cap = C.sum() / (1 - t.cash_reserve_share)
    assert _senior_ok(C, [s], t)[0]
    for more in (s + unit, s * 1.01):
        if more <= cap and more > s:
            assert not _senior_ok(C, [more], t)[0], more
    dense = np.linspace(0, cap, 801)
    ok = _senior_ok(C, dense, t)
    assert dense[ok].max() <= s + unit


@settings(max_examples=60, deadline=None)
@given(late_deals())
def test_mezzanine_is_the_true_maximum(deal) -> None:
    """Behind the maximal senior, the returned mezzanine passes (and the senior with it) and 1% more fails."""
    C, t = deal
    unit = 1e4
    s = size_senior(C, t, unit)
    m = size_mezz(C, s, t, unit, plan=C[0])[0]

    def ok(sizes):
        sizes = np.atleast_1d(np.asarray(sizes, dtype=float))
        f = waterfall(np.repeat(C, len(sizes), axis=0), np.repeat(s, len(sizes)), sizes, 0.0, t, plan=C[0])
        return passes(f, "mezz", t.legal_periods) & passes(f, "senior", t.legal_periods)

    cap = max(C.sum() + t.cash_reserve_share * s[0] - s[0], 0.0)
    assert ok([m])[0]
    for more in (m + unit, m * 1.01):
        if more <= cap and more > m:
            assert not ok([more])[0], more
    dense = np.linspace(0, cap, 401)
    assert dense[ok(dense)].max() <= m + unit
