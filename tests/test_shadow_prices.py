"""limits.csv's ``npv_per_step`` against the real thing: re-solve with the limit relaxed by one step.

For every limit family, on a pool large enough that the LP relaxation is smooth (2,000 assets), the npv a step of
relaxation is priced at (summed over the family's rows: relaxing the limit relaxes all of them) must agree within a
factor of 2 with the change of the LP bound when the scenario is solved again with the limit moved by one step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pooling.scenario import parse_scenario
from pooling.selection.model import select_pool

PROVINCES = np.array(["CN-ZJ", "CN-GD", "CN-JS", "CN-SC", "CN-BJ", "CN-SH"])
INDUSTRIES = np.array(list("CFGKLT"))
COLLATERAL = np.array(["residential", "commercial", "industrial", "land", "unsecured", "guarantee_only"])


@pytest.fixture(scope="module")
def assets() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 2000
    province = rng.choice(len(PROVINCES), n, p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.1])
    collateral = rng.choice(len(COLLATERAL), n)
    gbv = np.round(rng.lognormal(13.0, 1.0, n), 2)
    # recovery depends on province and collateral, so the unconstrained optimum is concentrated
    rate = np.clip(0.15 + 0.08 * (province == 0) + 0.05 * (collateral < 2) + rng.normal(0, 0.08, n), 0.02, 0.9)
    months = np.clip(rng.normal(30 - 8 * (collateral == 0), 10, n), 3, 90)
    er = gbv * rate
    groups = np.arange(n) // 2  # two assets per obligor group: group caps bind on pairs
    return pd.DataFrame({
        "amc_id": np.where(np.arange(n) % 3 == 0, "NAT", np.where(np.arange(n) % 3 == 1, "ZJ", "GD")),
        "asset_id": [f"a{i}" for i in range(n)],
        "obligor_id": [f"o{g}" for g in groups],
        "group_id": [f"G{g}" for g in groups],
        "circle_id": "",
        "province": PROVINCES[province],
        "industry": INDUSTRIES[rng.choice(len(INDUSTRIES), n, p=[0.4, 0.2, 0.1, 0.1, 0.1, 0.1])],
        "collateral_type": COLLATERAL[collateral],
        "asset_type": "corporate",
        "legal_status": "litigation",
        "gbv": gbv,
        "expected_recovery": er,
        "expected_months": months,
        "npv": er * 1.06 ** (-months / 12),
    })


def _scenario(assets: pd.DataFrame, limits: dict, amcs: dict | None = None):
    total = float(assets["gbv"].sum())
    amc_cfg = [{"id": a, "kind": "local", "tape": f"{a}.csv", **(amcs or {}).get(a, {})} for a in ("GD", "NAT", "ZJ")]
    return parse_scenario({"name": "t", "as_of": "2026-06-30", "amcs": amc_cfg,
                           "pool": {"size": {"min": 0.2 * total, "max": 0.4 * total}, "limits": limits},
                           "solver": {"mip_rel_gap": 1e-3}}, "t.yaml")


def _lp_bound(assets: pd.DataFrame, scenario) -> tuple[float, pd.DataFrame]:
    sel = select_pool(assets, scenario, strategy="lp_round", diagnose=False)  # the LP is what is priced
    bound = sel.limits.attrs.get("lp_bound")
    assert bound is not None
    return float(bound), sel.limits


# (limit key, value that binds, relaxed value one step away, amc settings of the base / relaxed run)
CASES = [
    ("max_province_share", 0.25, 0.26),
    ("max_industry_share", 0.30, 0.31),
    ("max_collateral_share", 0.22, 0.23),
    ("max_obligor_group_share", 0.004, 0.005),
    ("max_top10_group_share", 0.05, 0.06),
    ("min_secured_share", 0.80, 0.79),
    ("min_wa_recovery_rate", 0.32, 0.31),
    ("max_wa_months_to_recovery", 20.0, 21.0),
    ("max_hhi.province", 0.17, 0.18),
    ("amc_max", 0.25, 0.26),
    ("amc_min", 0.45, 0.44),
]


def _limits_for(key: str, value: float) -> tuple[dict, dict | None]:
    if key.startswith("max_hhi."):
        return {"max_hhi": {key.split(".")[1]: value}}, None
    if key == "amc_max":
        return {}, {"NAT": {"max_share": value}}
    if key == "amc_min":
        return {}, {"GD": {"min_share": value}}
    return {key: value}, None


@pytest.mark.parametrize(("key", "value", "relaxed"), CASES, ids=[c[0] for c in CASES])
def test_npv_per_step_matches_a_re_solve_with_the_limit_relaxed(assets: pd.DataFrame, key: str, value: float,
                                                                relaxed: float) -> None:
    limits, amcs = _limits_for(key, value)
    base, rows = _lp_bound(assets, _scenario(assets, limits, amcs))
    limits2, amcs2 = _limits_for(key, relaxed)
    moved, _ = _lp_bound(assets, _scenario(assets, limits2, amcs2))
    gain = moved - base
    family = {"amc_max": "amc_max", "amc_min": "amc_min"}.get(key)
    if family is None:
        family_rows = rows["limit"].str.startswith(f"pool.limits.{key.split('.')[0]}") & ~rows["family"].isin(
            ["total", "top10_excess", "hhi_exposure"])
        if key.startswith("max_hhi."):
            family_rows &= rows["limit"] == f"pool.limits.{key}"
    else:
        family_rows = rows["family"] == family
    priced = float(rows.loc[family_rows, "npv_per_step"].sum())
    assert gain > 1e-6 * base, f"{key} {value} does not bind: the test instance must make it cost npv"
    assert 0.5 * gain <= priced <= 2.0 * gain, f"{key}: npv_per_step {priced:,.0f} vs re-solve {gain:,.0f}"


def test_limits_money_columns_are_cny(assets: pd.DataFrame) -> None:
    """activity of a share-cap row is Σ gbv of its value − α·pool gbv, in CNY (recomputed from the pool)."""
    sc = _scenario(assets, {"max_province_share": 0.25})
    sel = select_pool(assets, sc, diagnose=False)
    pool = assets[sel.selected]
    T = float(pool["gbv"].sum())
    rows = sel.limits[sel.limits["family"] == "province_cap"].set_index("key")
    expected = pool.groupby("province")["gbv"].sum().reindex(rows.index, fill_value=0.0) - 0.25 * T
    np.testing.assert_allclose(rows["activity"].to_numpy(), expected.to_numpy(), rtol=1e-6, atol=1.0)


def test_binding_is_judged_in_the_solver_units_not_in_cny() -> None:
    """slack is written in CNY (CNY·months for the months test); a limit still binds when its slack is within the
    solver's tolerance of its scaled row (1e-7 of σ, ·M for the months test), as before the unit change — the
    demo's binding AMC cap has 928 CNY of slack on a CNY 15.9bn scale."""
    from pooling.selection.results import binding_mask

    limits = pd.DataFrame({
        "family": ["amc_max", "amc_max", "wa_months", "wa_months", "hhi_exposure"],
        "value": [0.6, 0.6, 48.0, 48.0, np.nan],
        "slack": [928.0, 2_000.0, 48 * 1_500.0, 48 * 1_700.0, 0.0],
    })
    assert binding_mask(limits, 1.5912e10).tolist() == [True, False, True, False, False]
    assert not binding_mask(limits, None).iloc[:4].any()  # no scale: CNY as the unit, nothing this loose binds
