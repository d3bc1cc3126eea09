"""The systematic factor model (pooling.valuation.factors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pooling.errors import InputError
from pooling.valuation.factors import (
    DEFAULT_FACTORS,
    FactorParameters,
    draw_factors,
    draws_for,
    idiosyncratic_variance,
    recovery_multipliers,
    segment_key,
    segment_npv_multipliers,
)

PROVINCES = [f"CN-{c}" for c in ("ZJ", "GD", "SC", "JS", "SD", "HB", "HN", "FJ", "BJ", "SH")]
COLLATERAL = ["residential", "commercial", "industrial"]


def _pool(provinces, collateral, n=300, asset_type="corporate", seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "gbv": np.full(n, 10.0),
        "npv": np.full(n, 4.0),
        "province": [provinces[i % len(provinces)] for i in range(n)],
        "collateral_type": [collateral[(i // len(provinces)) % len(collateral)] for i in range(n)],
        "industry": rng.choice(list("CFK"), n),
        "asset_type": asset_type,
        "obligor_id": [f"O{i}" for i in range(n)],
    })


def test_draws_deterministic_and_independent_of_the_name_list():
    a = draw_factors(500, 3, provinces=["CN-ZJ", "CN-GD"], collateral_types=COLLATERAL, industries=["C"])
    b = draw_factors(500, 3, provinces=["CN-ZJ", "CN-GD"], collateral_types=COLLATERAL, industries=["C"])
    c = draw_factors(500, 3, provinces=["CN-GD"], collateral_types=COLLATERAL, industries=["C"])
    d = draw_factors(500, 4, provinces=["CN-ZJ", "CN-GD"], collateral_types=COLLATERAL, industries=["C"])
    for name in ("national", "province", "court", "collateral", "industry"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert np.array_equal(a.province[:, 1], c.province[:, 0])  # CN-GD's factor is its own stream
    assert not np.allclose(a.national, d.national)
    assert not np.allclose(a.province[:, 0], a.court[:, 0])


def test_segment_key():
    df = pd.DataFrame({"province": ["CN-ZJ", "CN-GD"], "collateral_type": ["residential", "unsecured"]})
    assert segment_key(df).tolist() == ["CN-ZJ|residential", "CN-GD|unsecured"]


def test_multipliers_have_mean_one():
    pool = _pool(PROVINCES, COLLATERAL, asset_type="credit_card")
    draws = draws_for(pool, 40_000, 1)
    segments, m = segment_npv_multipliers(pool, draws)
    assert m.shape == (40_000, len(segments)) == (40_000, 30)
    assert np.all(m > 0)
    # standard error of the mean of a lognormal with sigma 0.4 over 40k draws ≈ 0.002
    assert np.allclose(m.mean(axis=0), 1.0, atol=0.01)
    small = pool.iloc[:20]
    per_asset = recovery_multipliers(small, draws, idiosyncratic=True, seed=5)
    assert per_asset.shape == (40_000, 20)
    assert np.allclose(per_asset.mean(axis=0), 1.0, atol=0.04)


def test_segment_multiplier_matches_per_asset_multiplier_for_one_industry():
    pool = _pool(PROVINCES[:2], COLLATERAL[:2], n=8).assign(industry="C")
    draws = draws_for(pool, 200, 9)
    segments, m = segment_npv_multipliers(pool, draws)
    per_asset = recovery_multipliers(pool, draws)
    col = {s: i for i, s in enumerate(segments)}
    for i, key in enumerate(segment_key(pool)):
        assert np.allclose(per_asset[:, i], m[:, col[key]])


def _total_variance(pool: pd.DataFrame, params: FactorParameters = DEFAULT_FACTORS, seed: int = 2) -> float:
    draws = draws_for(pool, 20_000, seed)
    segments, m = segment_npv_multipliers(pool, draws, params)
    npv = pool.groupby(segment_key(pool))["npv"].sum().reindex(segments).to_numpy()
    total = m @ npv
    return float(np.var(total / npv.sum()))


def test_spread_pool_has_lower_variance_than_concentrated():
    spread = _pool(PROVINCES, COLLATERAL)
    concentrated = _pool(PROVINCES[:1], COLLATERAL[:1])
    assert spread["npv"].sum() == concentrated["npv"].sum()
    v_spread, v_conc = _total_variance(spread), _total_variance(concentrated)
    assert v_spread < 0.75 * v_conc


def test_higher_class_volatility_widens_multipliers():
    pool = _pool(PROVINCES[:3], COLLATERAL[:1], asset_type="retail_mortgage")
    calm = _total_variance(pool)
    wild = _total_variance(pool, DEFAULT_FACTORS.replace(class_volatility={"retail_mortgage": 0.40}))
    assert wild > 4 * calm
    card = _total_variance(pool.assign(asset_type="credit_card"))
    assert card > calm  # unsecured card claims are far less certain than first-lien mortgages


def test_idiosyncratic_variance_falls_with_the_number_of_groups():
    eta = np.full(100, 1.0)
    one = idiosyncratic_variance(np.r_[100.0, np.zeros(99)], eta, np.zeros(100, dtype=int), 1)
    many = idiosyncratic_variance(np.ones(100), eta, np.zeros(100, dtype=int), 1)
    assert one[0] == pytest.approx(np.expm1(1.0))
    assert many[0] == pytest.approx(np.expm1(1.0) / 100)


def test_bad_inputs():
    with pytest.raises(InputError):
        FactorParameters(loading_national=-1.0)
    with pytest.raises(InputError):
        draw_factors(0, 1, provinces=[], collateral_types=[], industries=[])
    pool = _pool(PROVINCES[:1], COLLATERAL[:1], n=3).assign(asset_type="spaceship")
    with pytest.raises(InputError, match="spaceship"):
        segment_npv_multipliers(pool, draws_for(pool, 10, 0))
