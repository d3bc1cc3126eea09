"""Waterfall and sizing: conservation, maximality, monotonicity, a hand-computed deal, the training deals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import pyxirr
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling.scenario import ModelParameters, parse_scenario
from pooling.tranching.deal import run_base_case, size_deal, terms_from, write_deal
from pooling.tranching.waterfall import (
    DEFAULT_STRESSES,
    Terms,
    cleanup_value,
    passes,
    senior_passes,
    size_mezz,
    size_senior,
    waterfall,
)
from pooling.valuation.model import DEFAULT_PARAMETERS, pool_curve, value_assets

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
    cleanup = np.array(draw(st.lists(st.floats(0, 1e9), min_size=S, max_size=S)))
    return coll, terms, sizes, plan, cleanup


@settings(max_examples=300, deadline=None)
@given(deals())
def test_cash_is_conserved_every_period(deal) -> None:
    coll, terms, (sen, mez, sub), plan, cleanup = deal
    f = waterfall(coll, sen, mez, sub, terms, plan=plan, cleanup=cleanup)
    assert f.collections.shape == (coll.shape[0], coll.shape[1] + 1)
    scale = max(1.0, coll.max(), cleanup.max(), sen.max(), mez.max(), sub.max())
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
    coll, terms, (sen, _, _), _, _ = deal
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
    m = size_mezz(mezz_stress, s, t, 1e4, plan=plan, senior_stressed=senior_stress)
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
        if more <= cap and more >= s + unit:  # 1% more is tested when it is at least one unit more
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
        if more <= cap and more >= m + unit:
            assert not ok([more])[0], more
    dense = np.linspace(0, cap, 401)
    assert dense[ok(dense)].max() <= m + unit


# ------------------------------------------------------------------ the clean-up sale and the sub's IRR
def test_cleanup_value_hand_computed() -> None:
    """Months after L are discounted to L at the valuation rate: 100 one year after L at 6% is 100 / 1.06; months
    after the horizon H are not the pool's (the valuation's expected recovery stops at H)."""
    monthly = np.zeros(40)
    monthly[9] = 50.0  # month 10, before L = 12: not in the clean-up
    monthly[23] = 100.0  # month 24 = L + 12
    monthly[35] = 70.0  # month 36 > H = 30
    assert cleanup_value(monthly, 12, 0.06, until=30)[0] == pytest.approx(100 / 1.06)
    assert cleanup_value(monthly, 12, 0.0)[0] == pytest.approx(170.0)


def test_cleanup_runs_through_the_waterfall_hand_computed() -> None:
    """Two annual periods, then a clean-up of 50 on the legal maturity date: taxes 10% and base fee 5% of the
    proceeds, no expenses and no interest (no time elapses), the sub's last 28 of principal, the excess
    split 20 / 80. The senior's test is the same with or without the clean-up."""
    t = Terms(period_months=12, legal_periods=2, senior_coupon=0.10, tax_rate=0.10, expenses_rate=0.01,
              expenses_base=100.0, expenses_cap=1e9, base_fee_rate=0.05, reserve_multiple=0, cash_reserve_share=0,
              sub_fixed_return=0, incentive_share=0.2)
    C = np.array([[80.0, 60.0]])
    f0 = waterfall(C, 50.0, 0.0, 90.0, t)
    f = waterfall(C, 50.0, 0.0, 90.0, t, cleanup=np.array([50.0]))
    for k, v in f0.pay.items():  # the periods themselves are unchanged
        assert f.pay[k][:, :2] == pytest.approx(v), k
    # period 1: 80 − 8 − 1 − 4 − 5 = 62 → senior 50, sub 12; period 2: 60 − 6 − 1 − 3 = 50 → sub 50
    sub_left = f0.balances["sub"][0, -1]
    assert sub_left == pytest.approx(28.0)
    assert f.pay["taxes"][0, 2] == pytest.approx(5.0)
    assert f.pay["servicer_base_fee"][0, 2] == pytest.approx(2.5)
    assert f.pay["expenses"][0, 2] == 0.0 and f.pay["senior_interest"][0, 2] == 0.0
    assert f.pay["sub_principal"][0, 2] == pytest.approx(sub_left)
    excess = 50.0 - 7.5 - 28.0
    assert f.pay["servicer_incentive_fee"][0, 2] == pytest.approx(0.2 * excess)
    assert f.pay["sub_residual"][0, 2] == pytest.approx(0.8 * excess)
    assert np.abs(f.conservation_error()).max() < 1e-9
    assert passes(f, "senior", 2)[0] == passes(f0, "senior", 2)[0]


def _demo_like(name: str = "20东元1"):
    deal = next(d for d in TRAINING if d[0] == name)
    _, kind, total, er_rate, _, coupon, life, freq = deal
    pool = training_pool(kind, total, er_rate, life)
    sc = parse_scenario({"name": name, "as_of": AS_OF, "amcs": [{"id": "X", "kind": "national", "tape": "x.csv"}],
                         "structure": {"senior_coupon": coupon, "legal_maturity_years": life, "payment_frequency": freq}},
                        "x.yaml")
    return pool, sc


def test_sub_irr_rebuilt_from_cashflows_csv(tmp_path) -> None:
    """The sub's IRR in tranches.csv is recomputed from cashflows.csv alone: the sub bought at its issue price on
    as_of, paid its cash by date — the clean-up row included — and conservation holds on every row."""
    pool, sc = _demo_like()
    d = size_deal(pool, sc)
    write_deal(tmp_path, d)
    cf = pd.read_csv(tmp_path / "cashflows.csv", encoding="utf-8-sig")
    tr = pd.read_csv(tmp_path / "tranches.csv", encoding="utf-8-sig").set_index("tranche")
    sub = tr.loc["subordinated"]
    assert list(cf["event"]) == ["payment"] * (len(cf) - 1) + ["cleanup"]
    assert cf["date"].iloc[-1] == cf["date"].iloc[-2] == sub["legal_maturity"]
    when = [AS_OF, *pd.to_datetime(cf["date"]).dt.date]
    by_pay = cf["pay_sub_principal"] + cf["pay_sub_fixed_return"] + cf["pay_sub_residual"]
    assert (cf["subordinated_cash"] - by_pay).abs().max() < 0.02
    irr = pyxirr.xirr(when, [-sub["issue_price"] * sub["size"], *by_pay])
    assert irr == pytest.approx(sub["irr"], abs=1e-6)
    assert irr == pytest.approx(d.analytics["sub_irr"], abs=1e-6)
    pays = cf[[c for c in cf.columns if c.startswith("pay_")]].sum(axis=1)
    assert (cf["collections"] + cf["reserve_draw"] - pays - cf["reserve_deposit"]).abs().max() < 0.05
    # the clean-up row is the tail after L (to the valuation horizon H), discounted to L at the valuation rate
    t = terms_from(sc.structure)
    L = t.legal_periods * t.period_months  # 2.6 years, semiannual: 5 periods, 30 months
    H = sc.valuation.horizon_months
    monthly = pool_curve(pool, horizon_months=H)["collections"].to_numpy()
    m = np.arange(len(monthly)) + 1
    tail = monthly[m > L]
    expected = float((tail / (1 + sc.valuation.discount_rate) ** ((m[m > L] - L) / 12)).sum())
    assert tail.sum() > 0.01 * monthly.sum()  # the case is not vacuous
    assert cf["collections"].iloc[-1] == pytest.approx(expected, rel=1e-9, abs=0.01)
    assert d.analytics["cleanup_proceeds"] == pytest.approx(expected, rel=1e-9)
    assert d.analytics["collections_after_legal_maturity"] == pytest.approx(tail.sum(), rel=1e-9)
    # the pool's expected recovery is what the deal collects plus the undiscounted tail
    assert cf["collections"].iloc[:-1].sum() + tail.sum() == pytest.approx(pool["expected_recovery"].sum(), rel=1e-6)


def test_sub_irr_does_not_rise_under_stress() -> None:
    """The issued deal re-run on a haircut or delayed projection: the sub's IRR never rises. (With the tail handed
    to the sub undiscounted and gross at the legal maturity it did: a 24-month delay took it from 34% to 47%.)"""
    pool, sc = _demo_like()
    d = size_deal(pool, sc)
    sizes = dict(zip(d.tranches["tranche"], d.tranches["size"], strict=True))
    terms = terms_from(sc.structure, expenses_base=float(pool["expected_recovery"].sum()))

    def irr(haircut: float, delay: float) -> float:
        p = pool.copy()
        for c in ("curve_rinf", "expected_recovery", "npv"):
            p[c] = p[c] * (1 - haircut)
        p["curve_lag"] = p["curve_lag"] + delay
        monthly = pool_curve(p, horizon_months=sc.valuation.horizon_months + 30)["collections"].to_numpy()
        case = run_base_case(monthly, sizes["senior"], 0.0, sizes["subordinated"], terms, sc)
        assert np.abs(case.flows.conservation_error()).max() < 1e-3
        return case.sub_irr(sc.structure.sub_issue_price)

    base = irr(0.0, 0.0)
    assert base == pytest.approx(d.analytics["sub_irr"], abs=1e-9)
    by_haircut = [irr(h, 0.0) for h in (0.0, 0.05, 0.1, 0.2)]
    by_delay = [irr(0.0, m) for m in (0, 3, 6, 12, 24)]
    assert np.all(np.diff(by_haircut) <= 1e-9), by_haircut
    assert np.all(np.diff(by_delay) <= 1e-9), by_delay
    assert irr(0.1, 12) <= min(irr(0.1, 0), irr(0.0, 12)) + 1e-9


def test_gacs_mezzanine_does_not_break_the_senior_at_its_own_stress() -> None:
    """GACS: class B interest ranks ahead of class A principal until the trigger fires (cumulative collections
    below 90% of plan). A senior stress of a flat 8% haircut never fires it, so any class B interest comes out of
    a maximal class A's principal: sized against the senior's own stress too, class B is nil; checked only at
    its own (milder) stress, it would be positive and break class A."""
    C = _curve(20, 5)
    t = Terms(period_months=6, legal_periods=20, mezz_coupon=0.05, convention="europe", expenses_base=1e9)
    senior_stress, mezz_stress = C * 0.92, C * 0.97
    s = size_senior(senior_stress, t, 1e4)
    naive = size_mezz(mezz_stress, s, t, 1e4, plan=C[0])
    assert naive[0] > 0
    assert not passes(waterfall(senior_stress, s, naive, 0.0, t, plan=C[0]), "senior", 20)[0]
    m = size_mezz(mezz_stress, s, t, 1e4, plan=C[0], senior_stressed=senior_stress)
    assert passes(waterfall(senior_stress, s, m, 0.0, t, plan=C[0]), "senior", 20)[0]
    assert passes(waterfall(mezz_stress, s, m, 0.0, t, plan=C[0]), "mezz", 20)[0]
    assert m[0] < naive[0]
