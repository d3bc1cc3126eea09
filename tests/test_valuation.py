"""Valuation: closed forms against a month-by-month loop, monotonicity, tape vs model, pool curves, calibration."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling import vocab
from pooling.errors import InputError
from pooling.scenario import ModelParameters, Valuation
from pooling.valuation.model import (
    DEFAULT_PARAMETERS,
    VALUATION_COLUMNS,
    RecoveryParameters,
    lifetime_rate,
    pool_curve,
    value_assets,
)

AS_OF = date(2026, 6, 30)


def make_assets(n: int, seed: int = 0) -> pd.DataFrame:
    """A random canonical pooled frame (every enum value, missing collateral values and ranks included)."""
    rng = np.random.default_rng(seed)
    gbv = rng.lognormal(13, 1, n)
    collateral = rng.choice(vocab.COLLATERAL_TYPES, n)
    value = gbv * rng.uniform(0, 1.6, n)
    value[rng.random(n) < 0.2] = np.nan
    rank = rng.integers(1, 5, n).astype(float)
    rank[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "amc_id": rng.choice(["NAT", "ZJ", "GD"], n),
            "asset_id": [f"A{i}" for i in range(n)],
            "obligor_id": [f"O{i}" for i in range(n)],
            "gbv": gbv,
            "principal": gbv * 0.7,
            "asset_type": rng.choice(vocab.ASSET_TYPES, n),
            "collateral_type": collateral,
            "province": rng.choice(vocab.PROVINCES["code"].to_numpy(), n),
            "industry": rng.choice(list("ACEFK"), n),
            "default_date": pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(0, 3650, n), unit="D"),
            "legal_status": rng.choice(vocab.LEGAL_STATUSES, n),
            "collateral_value": value,
            "lien_rank": rank,
            "book_value": gbv * 0.3,
        }
    )


def one_asset(**overrides) -> pd.DataFrame:
    row = {
        "gbv": 100.0,
        "asset_type": "corporate",
        "collateral_type": "commercial",
        "province": "CN-ZJ",
        "default_date": pd.Timestamp("2024-06-30"),
        "legal_status": "litigation",
        "collateral_value": 70.0,
        "lien_rank": 1.0,
    }
    row.update(overrides)
    return pd.DataFrame([row])


def brute_force(rinf: float, k: float, lag: float, horizon: int, rate: float) -> tuple[float, float, float]:
    """Recovery within H, expected month and NPV by summing the monthly flows one month at a time."""
    total = weighted = npv = 0.0
    previous = 0.0
    for t in range(1, horizon + 1):
        cumulative = rinf * (1 - np.exp(-k * (t - lag))) if t >= lag else 0.0
        cf = cumulative - previous
        previous = cumulative
        total += cf
        weighted += t * cf
        npv += cf * (1 + rate) ** (-t / 12)
    return total, weighted / total, npv


def params_with_curves(speeds: list[float], lags: list[float]) -> RecoveryParameters:
    statuses = vocab.LEGAL_STATUSES
    return dataclasses.replace(
        DEFAULT_PARAMETERS,
        speed=dict(zip(statuses, speeds, strict=True)),
        lag_months=dict(zip(statuses, lags, strict=True)),
    )


# --------------------------------------------------------------------------------------------------------------
# Closed forms


@pytest.mark.parametrize("horizon", [1, 2, 7, 36, 120, 360])
@pytest.mark.parametrize("seed", range(4))
def test_closed_forms_match_month_loop(horizon, seed):
    rng = np.random.default_rng(seed)
    n = len(vocab.LEGAL_STATUSES)
    speeds = list(rng.choice([1e-9, 1e-4, 0.01, 0.04, 0.3, 2.0, 25.0], n))
    lags = list(rng.uniform(0, horizon, n))
    lags[0] = 0.0
    lags[1] = float(np.floor(lags[1]))  # whole-month lag
    rate = float(rng.choice([0.0, 0.06, 0.3]))
    assets = pd.concat(
        [
            one_asset(legal_status=s, asset_type="credit_card", collateral_type="unsecured")
            for s in vocab.LEGAL_STATUSES
        ],
        ignore_index=True,
    )
    params = params_with_curves(speeds, lags)
    valued = value_assets(
        assets, as_of=AS_OF, discount_rate=rate, source="model", horizon_months=horizon, params=params
    )
    for row in valued.itertuples():
        recovery, months, npv = brute_force(row.curve_rinf, row.curve_k, row.curve_lag, horizon, rate)
        assert row.expected_recovery == pytest.approx(recovery, rel=1e-9, abs=1e-12)
        assert row.npv == pytest.approx(npv, rel=1e-9, abs=1e-12)
        assert row.expected_months == pytest.approx(months, rel=1e-6)
        assert 1 <= row.expected_months <= horizon


@settings(max_examples=60, deadline=None)
@given(
    k=st.floats(1e-6, 5.0),
    lag=st.floats(0.0, 59.99),
    horizon=st.integers(60, 240),
    rate=st.floats(0.0, 0.5),
)
def test_closed_forms_match_month_loop_property(k, lag, horizon, rate):
    n = len(vocab.LEGAL_STATUSES)
    params = params_with_curves([k] * n, [lag] * n)
    valued = value_assets(
        one_asset(), as_of=AS_OF, discount_rate=rate, source="model", horizon_months=horizon, params=params
    )
    row = valued.iloc[0]
    recovery, months, npv = brute_force(row.curve_rinf, k, lag, horizon, rate)
    assert row.expected_recovery == pytest.approx(recovery, rel=1e-9)
    assert row.npv == pytest.approx(npv, rel=1e-9)
    assert row.expected_months == pytest.approx(months, rel=1e-6)


# --------------------------------------------------------------------------------------------------------------
# Lifetime rate


@pytest.mark.parametrize("seed", range(3))
def test_rate_never_falls_with_more_collateral(seed):
    rng = np.random.default_rng(seed)
    assets = make_assets(3000, seed)
    assets["collateral_value"] = assets["collateral_value"].fillna(0.0)
    more = assets.assign(
        collateral_value=assets["collateral_value"] + assets["gbv"] * rng.uniform(0, 1, len(assets))
    )
    assert (lifetime_rate(more, AS_OF) >= lifetime_rate(assets, AS_OF)).all()
    low = value_assets(assets, as_of=AS_OF, discount_rate=0.06)
    high = value_assets(more, as_of=AS_OF, discount_rate=0.06)
    assert (high["expected_recovery"] >= low["expected_recovery"]).all()
    assert (high["npv"] >= low["npv"]).all()


@pytest.mark.parametrize("seed", range(3))
def test_rate_never_rises_with_age(seed):
    rng = np.random.default_rng(seed)
    assets = make_assets(3000, seed)
    older = assets.assign(
        default_date=assets["default_date"] - pd.to_timedelta(rng.integers(0, 2000, len(assets)), "D")
    )
    assert (lifetime_rate(older, AS_OF) <= lifetime_rate(assets, AS_OF)).all()


@settings(max_examples=100, deadline=None)
@given(
    asset_type=st.sampled_from(vocab.ASSET_TYPES),
    collateral_type=st.sampled_from(vocab.COLLATERAL_TYPES),
    status=st.sampled_from(vocab.LEGAL_STATUSES),
    rank=st.sampled_from([np.nan, 1.0, 2.0, 3.0, 7.0]),
    value=st.floats(0, 500),
    extra=st.floats(0, 500),
    age_days=st.integers(0, 5000),
    older_by=st.integers(0, 5000),
    decay=st.floats(0, 1),
)
def test_monotonicity_property(
    asset_type, collateral_type, status, rank, value, extra, age_days, older_by, decay
):
    params = dataclasses.replace(DEFAULT_PARAMETERS, decay_secured=decay)
    default = pd.Timestamp(AS_OF) - pd.Timedelta(days=age_days)
    base = one_asset(
        asset_type=asset_type,
        collateral_type=collateral_type,
        legal_status=status,
        lien_rank=rank,
        collateral_value=value,
        default_date=default,
    )
    rate = lifetime_rate(base, AS_OF, params)[0]
    assert 0 <= rate <= params.max_rate
    assert lifetime_rate(base.assign(collateral_value=value + extra), AS_OF, params)[0] >= rate
    older = base.assign(default_date=default - pd.Timedelta(days=older_by))
    assert lifetime_rate(older, AS_OF, params)[0] <= rate


def test_rate_formula_by_hand():
    # corporate + commercial, coverage 0.7, second lien, 2 years, judgment, Zhejiang uplift 1.1
    params = dataclasses.replace(DEFAULT_PARAMETERS, region_factor={"浙江": 1.1})
    asset = one_asset(lien_rank=2.0, legal_status="judgment", default_date=pd.Timestamp("2024-06-30"))
    age = (pd.Timestamp(AS_OF) - pd.Timestamp("2024-06-30")).days / 365.25
    expected = (0.18 + 0.45 * 0.7 * 0.5) * np.exp(-0.15 * age) * 1.05 * 1.1
    assert lifetime_rate(asset, AS_OF, params)[0] == pytest.approx(expected)
    # guarantee-only: flat uplift, unsecured decay, coverage and lien ignored
    asset = one_asset(collateral_type="guarantee_only", collateral_value=1e6, lien_rank=3.0)
    assert lifetime_rate(asset, AS_OF)[0] == pytest.approx((0.18 + 0.08) * np.exp(-0.30 * age))


def test_coverage_defaults_caps_and_lien_ranks():
    missing = lifetime_rate(one_asset(collateral_value=np.nan), AS_OF)[0]
    assert missing == pytest.approx(lifetime_rate(one_asset(collateral_value=70.0), AS_OF)[0])  # default 0.7
    capped = lifetime_rate(one_asset(collateral_value=1e9), AS_OF)[0]
    assert capped == pytest.approx(lifetime_rate(one_asset(collateral_value=100.0), AS_OF)[0])
    ranks = [lifetime_rate(one_asset(lien_rank=r), AS_OF)[0] for r in (np.nan, 1.0, 2.0, 3.0, 9.0)]
    assert ranks[0] == ranks[1] > ranks[2] > ranks[3] == ranks[4]
    future = lifetime_rate(one_asset(default_date=pd.Timestamp("2027-01-01")), AS_OF)[0]
    assert future == pytest.approx(lifetime_rate(one_asset(default_date=pd.Timestamp(AS_OF)), AS_OF)[0])


def test_rate_is_capped():
    params = dataclasses.replace(
        DEFAULT_PARAMETERS, legal_factor={**DEFAULT_PARAMETERS.legal_factor, "settled": 5.0}
    )
    asset = one_asset(legal_status="settled", default_date=pd.Timestamp(AS_OF))
    assert lifetime_rate(asset, AS_OF, params)[0] == params.max_rate


# --------------------------------------------------------------------------------------------------------------
# Tape vs model


def test_tape_values_used_where_given_and_model_otherwise():
    assets = make_assets(6)
    assets["expected_recovery"] = [30.0, np.nan, 10.0, 20.0, np.nan, 5.0]
    assets["expected_months"] = [24.0, 12.0, np.nan, 6.5, np.nan, 0.0]
    valued = value_assets(assets, as_of=AS_OF, discount_rate=0.08)
    tape = np.array([True, False, False, True, False, True])
    assert (valued["valuation_source"] == np.where(tape, "tape", "model")).all()
    model = value_assets(assets, as_of=AS_OF, discount_rate=0.08, source="model")
    assert (model["valuation_source"] == "model").all()

    t = valued[tape]
    assert t["expected_recovery"].tolist() == [30.0, 20.0, 5.0]
    assert t["expected_months"].tolist() == [24.0, 6.5, 0.0]
    assert np.allclose(t["npv"], t["expected_recovery"] * 1.08 ** (-t["expected_months"] / 12))
    assert np.allclose(t["curve_rinf"], t["expected_recovery"]) and t["curve_k"].isna().all()
    assert np.allclose(t["curve_lag"], t["expected_months"])
    for column in ("expected_recovery", "expected_months", "npv", "curve_k"):
        assert np.allclose(valued.loc[~tape, column], model.loc[~tape, column])
    assert not np.allclose(model.loc[tape, "expected_recovery"], t["expected_recovery"])
    # the tape's own figures survive for backtesting, whichever source is used
    for frame in (valued, model):
        assert frame["tape_expected_recovery"].equals(assets["expected_recovery"])
        assert frame["tape_expected_months"].equals(assets["expected_months"])


def test_output_columns_and_input_untouched():
    assets = make_assets(50)
    before = assets.copy()
    valued = value_assets(assets, as_of=AS_OF, discount_rate=0.06)
    pd.testing.assert_frame_equal(assets, before)
    assert list(valued.columns) == list(assets.columns) + list(VALUATION_COLUMNS)
    assert (valued["valuation_source"] == "model").all()
    assert np.allclose(valued["recovery_rate"], valued["expected_recovery"] / valued["gbv"])
    assert (valued["npv"] <= valued["expected_recovery"]).all()
    assert (valued["expected_recovery"] <= valued["curve_rinf"] + 1e-9).all()


def test_zero_gbv_has_zero_rate():
    valued = value_assets(one_asset(gbv=0.0), as_of=AS_OF, discount_rate=0.06)
    assert valued[["expected_recovery", "npv", "recovery_rate"]].iloc[0].tolist() == [0.0, 0.0, 0.0]
    assert np.isfinite(valued["expected_months"]).all()


def test_bad_input_is_reported():
    with pytest.raises(InputError, match="asset_type"):
        value_assets(one_asset(asset_type="yacht"), as_of=AS_OF, discount_rate=0.06)
    with pytest.raises(InputError, match="legal_status"):
        value_assets(one_asset().drop(columns="legal_status"), as_of=AS_OF, discount_rate=0.06)
    with pytest.raises(InputError, match="horizon"):
        value_assets(one_asset(legal_status="bankruptcy"), as_of=AS_OF, discount_rate=0.06, horizon_months=12)
    with pytest.raises(InputError, match="source"):
        value_assets(one_asset(), as_of=AS_OF, discount_rate=0.06, source="guess")
    with pytest.raises(InputError, match="speed"):
        dataclasses.replace(DEFAULT_PARAMETERS, speed={**DEFAULT_PARAMETERS.speed, "settled": 0.0})
    with pytest.raises(InputError, match="base_rate"):
        dataclasses.replace(DEFAULT_PARAMETERS, base_rate={"corporate": 0.2})


# --------------------------------------------------------------------------------------------------------------
# Pool curve


def test_pool_curve_adds_up_to_expected_recovery_and_by_group():
    assets = make_assets(2000, 5)
    half = np.arange(len(assets)) % 2 == 0
    assets["expected_recovery"] = np.where(half, assets["gbv"] * 0.3, np.nan)
    assets["expected_months"] = np.where(half, np.arange(len(assets)) % 150 + 0.5, np.nan)  # some beyond H
    valued = value_assets(assets, as_of=AS_OF, discount_rate=0.06, horizon_months=120)
    total = pool_curve(valued, horizon_months=120)
    assert list(total.columns) == ["collections"]
    assert total.index.tolist() == list(range(1, 121))
    assert total["collections"].sum() == pytest.approx(valued["expected_recovery"].sum(), rel=1e-12)
    by_amc = pool_curve(valued, horizon_months=120, by="amc_id")
    assert list(by_amc.columns) == ["GD", "NAT", "ZJ"]
    assert np.allclose(by_amc.sum(axis=1), total["collections"], rtol=1e-12)
    sums = valued.groupby("amc_id")["expected_recovery"].sum()
    assert np.allclose(by_amc.sum(), sums[by_amc.columns], rtol=1e-12)
    two = pool_curve(valued, horizon_months=120, by=["amc_id", "asset_type"])
    assert np.allclose(two.sum(axis=1), total["collections"], rtol=1e-12)


def test_pool_curve_matches_asset_by_asset_flows():
    assets = make_assets(40, 9)
    assets["expected_recovery"] = [7.0, 3.0] + [np.nan] * 38
    assets["expected_months"] = [2.5, 400.0] + [np.nan] * 38
    params = dataclasses.replace(
        DEFAULT_PARAMETERS, lag_months={**DEFAULT_PARAMETERS.lag_months, "settled": 0.4}
    )
    valued = value_assets(assets, as_of=AS_OF, discount_rate=0.0, horizon_months=60, params=params)
    expected = np.zeros(60)
    expected[2] += 7.0  # month round(2.5) = 3, half up
    expected[59] += 3.0  # beyond the horizon: booked in month H
    t = np.arange(61)
    for row in valued.iloc[2:].itertuples():
        cumulative = np.where(
            t >= row.curve_lag, row.curve_rinf * (1 - np.exp(-row.curve_k * (t - row.curve_lag))), 0
        )
        expected += np.diff(cumulative)
    assert np.allclose(pool_curve(valued, horizon_months=60)["collections"], expected, rtol=1e-12, atol=1e-9)


# --------------------------------------------------------------------------------------------------------------
# Overrides from the scenario


def test_model_parameters_mirror_the_table():
    assert set(ModelParameters.model_fields) == {f.name for f in dataclasses.fields(RecoveryParameters)}
    assert RecoveryParameters() == DEFAULT_PARAMETERS
    assert DEFAULT_PARAMETERS.with_overrides(ModelParameters()) == DEFAULT_PARAMETERS


def test_scenario_overrides_take_effect():
    overrides = Valuation.model_validate(
        {
            "model": {
                "base_rate": {"credit_card": 0.30},
                "speed": {"pre_litigation": 0.2},
                "lag_months": {"pre_litigation": 0},
                "region_factor": {"浙江": 0.5},
                "lien_factor": {2: 0.9},
                "max_rate": 0.5,
            }
        }
    ).model
    params = DEFAULT_PARAMETERS.with_overrides(overrides)
    assert (
        params.base_rate["credit_card"] == 0.30 and params.base_rate["corporate"] == 0.18
    )  # merged, not replaced
    assert dict(params.region_factor) == {"CN-ZJ": 0.5}
    assert params.lien_factor == {1: 1.0, 2: 0.9, 3: 0.25} and params.max_rate == 0.5

    card = one_asset(
        asset_type="credit_card", collateral_type="unsecured", legal_status="pre_litigation", province="CN-GD"
    )
    default = value_assets(card, as_of=AS_OF, discount_rate=0.06).iloc[0]
    changed = value_assets(card, as_of=AS_OF, discount_rate=0.06, params=params).iloc[0]
    assert changed["curve_rinf"] == pytest.approx(default["curve_rinf"] * 0.30 / 0.18)
    assert changed["expected_months"] < default["expected_months"]
    in_zj = value_assets(card.assign(province="CN-ZJ"), as_of=AS_OF, discount_rate=0.06, params=params).iloc[
        0
    ]
    assert in_zj["curve_rinf"] == pytest.approx(changed["curve_rinf"] * 0.5)
    table = params.table()
    assert list(table.columns) == ["parameter", "key", "value"]
    assert table.set_index(["parameter", "key"]).loc[("max_rate", ""), "value"] == 0.5


def test_parameters_are_read_only():
    with pytest.raises(TypeError):
        DEFAULT_PARAMETERS.base_rate["corporate"] = 1.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_PARAMETERS.max_rate = 0.5  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------------------
# Calibration against market-data.md


def typical_pool(asset_type, mix, status="litigation", coverage=0.7):
    """Equal-gbv assets aged 1–3 years over a collateral mix {collateral_type: share of gbv}."""
    rows = []
    for age in np.linspace(1, 3, 9):
        for collateral_type, share in mix.items():
            rows.append(
                one_asset(
                    gbv=100.0 * share,
                    asset_type=asset_type,
                    collateral_type=collateral_type,
                    legal_status=status,
                    collateral_value=100.0 * share * coverage,
                    default_date=pd.Timestamp(AS_OF) - pd.Timedelta(days=round(age * 365.25)),
                )
            )
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize(
    ("asset_type", "mix", "status", "coverage", "low", "high"),
    [
        ("credit_card", {"unsecured": 1.0}, "pre_litigation", 0.0, 0.07, 0.14),  # 2024–25 agency base cases
        ("retail_mortgage", {"residential": 1.0}, "pre_litigation", 1.3, 0.38, 0.46),  # 39–45%
        ("corporate", {"unsecured": 1.0}, "litigation", 0.0, 0.085, 0.115),  # ≈ 9–11%
        (  # 工元2016-1: corporate, 73% secured ≈ 28–31%
            "corporate",
            {
                "commercial": 0.2,
                "industrial": 0.18,
                "land": 0.18,
                "residential": 0.17,
                "guarantee_only": 0.135,
                "unsecured": 0.135,
            },
            "litigation",
            0.7,
            0.27,
            0.32,
        ),
    ],
)
def test_defaults_land_in_market_ranges(asset_type, mix, status, coverage, low, high):
    pool = typical_pool(asset_type, mix, status, coverage)
    valued = value_assets(pool, as_of=AS_OF, discount_rate=0.06)
    rate = valued["expected_recovery"].sum() / valued["gbv"].sum()
    assert low <= rate <= high
    if asset_type == "credit_card":  # wide enough a range for every single age
        assert valued["recovery_rate"].between(low, high).all()


# --------------------------------------------------------------------------------------------------------------
# Scale


def _python_calls(assets: pd.DataFrame) -> int:
    """Python-level function calls made while valuing ``assets`` and summing their pool curve."""
    import sys

    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        pool_curve(value_assets(assets, as_of=AS_OF, discount_rate=0.06), by="amc_id")
    finally:
        sys.setprofile(None)
    return calls


def test_valuation_is_vectorised():
    """No per-asset Python loop: 25× the assets make no more Python function calls (counted, not timed)."""
    _python_calls(make_assets(500, 3))  # warm-up: first-call imports and caches
    small, large = _python_calls(make_assets(2_000, 11)), _python_calls(make_assets(50_000, 11))
    assert large <= small * 1.05 + 20, (small, large)
    assets = make_assets(200_000, 11)
    valued = value_assets(assets, as_of=AS_OF, discount_rate=0.06)
    curve = pool_curve(valued, by="amc_id")
    assert curve.to_numpy().sum() == pytest.approx(valued["expected_recovery"].sum(), rel=1e-9)
