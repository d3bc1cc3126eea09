"""Independent recomputation of every pool limit from selected assets — no model code used.

``feasible_subsets`` checks many candidate pools at once (rows of a 0/1 matrix), which both the brute-force
optimum and the pool.csv check use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pooling.scenario import Scenario

CAPS = {
    "max_province_share": "province",
    "max_industry_share": "industry",
    "max_collateral_share": "collateral_type",
    "max_asset_type_share": "asset_type",
    "max_legal_status_share": "legal_status",
    "max_obligor_group_share": "group_id",
}
HHI = {"province": "province", "industry": "industry", "collateral_type": "collateral_type", "asset_type": "asset_type",
       "legal_status": "legal_status", "amc": "amc_id", "obligor_group": "group_id"}


def _exposures(X: np.ndarray, assets: pd.DataFrame, column: str) -> np.ndarray:
    """(subsets × values) gbv exposure per value of ``column``."""
    codes, names = pd.factorize(assets[column].astype(str), sort=True)
    onehot = np.zeros((len(assets), len(names)))
    onehot[np.arange(len(assets)), codes] = assets["gbv"].to_numpy()
    return X @ onehot


def feasible_subsets(X: np.ndarray, assets: pd.DataFrame, scenario: Scenario, tol: float = 1e-7) -> np.ndarray:
    """Boolean per row of X (subsets × assets, 0/1): does that pool meet every limit of the scenario?"""
    X = np.asarray(X, dtype=float)
    gbv = assets["gbv"].to_numpy(dtype=float)
    T = X @ gbv
    eps = tol * max(gbv.sum(), 1.0)
    ok = T > 0
    size = scenario.pool.size
    if size.min is not None:
        ok &= size.min - eps <= T
    if size.max is not None:
        ok &= size.max + eps >= T
    lim = scenario.pool.limits
    for key, column in CAPS.items():
        alpha = getattr(lim, key)
        if alpha is not None:
            ok &= (_exposures(X, assets, column) <= alpha * T[:, None] + eps).all(axis=1)
    if lim.max_guarantee_circle_share is not None:
        inside = assets["circle_id"].astype(str) != ""
        if inside.any():
            S = _exposures(X[:, inside.to_numpy()], assets[inside], "circle_id")
            ok &= (lim.max_guarantee_circle_share * T[:, None] + eps >= S).all(axis=1)
    amc = _exposures(X, assets, "amc_id")
    ids = sorted(assets["amc_id"].astype(str).unique())
    for a in scenario.amcs:
        s = amc[:, ids.index(a.id)] if a.id in ids else np.zeros(len(X))
        ok &= s <= a.max_share * T + eps
        ok &= s >= a.min_share * T - eps
    if lim.max_top10_group_share is not None:
        S = np.sort(_exposures(X, assets, "group_id"), axis=1)[:, ::-1][:, :10].sum(axis=1)
        ok &= lim.max_top10_group_share * T + eps >= S
    if lim.min_wa_recovery_rate is not None:
        ok &= X @ assets["expected_recovery"].to_numpy(dtype=float) >= lim.min_wa_recovery_rate * T - eps
    if lim.max_wa_months_to_recovery is not None:
        ok &= X @ (gbv * assets["expected_months"].to_numpy(dtype=float)) <= lim.max_wa_months_to_recovery * T + eps * 100
    if lim.min_secured_share is not None:
        secured = ~assets["collateral_type"].astype(str).isin(["unsecured", "guarantee_only"]).to_numpy()
        ok &= X @ (gbv * secured) >= lim.min_secured_share * T - eps
    bounds = {**{d: h for d, h in lim.max_hhi.items()}}
    for d, n in lim.min_effective_number.items():
        bounds[d] = min(bounds.get(d, 1.0), 1.0 / n)
    with np.errstate(invalid="ignore", divide="ignore"):
        for dim, h in bounds.items():
            S = _exposures(X, assets, HHI[dim])
            ok &= ((S / T[:, None]) ** 2).sum(axis=1) <= h * (1 + 1e-4) + 1e-9
    if scenario.pool.whole_groups:
        codes = pd.factorize(assets["group_id"].astype(str))[0]
        for g in np.unique(codes):
            members = X[:, codes == g]
            ok &= (members.min(axis=1) == members.max(axis=1))
    return ok


def check_pool(pool: pd.DataFrame, contributed: pd.DataFrame, scenario: Scenario) -> None:
    """Assert that a selected pool (pool.csv rows) meets every limit, recomputed from the rows alone."""
    key = pool["amc_id"].astype(str) + "\x00" + pool["asset_id"].astype(str)
    all_key = contributed["amc_id"].astype(str) + "\x00" + contributed["asset_id"].astype(str)
    x = all_key.isin(set(key)).to_numpy(dtype=float)[None, :]
    assert feasible_subsets(x, contributed, scenario, tol=1e-6)[0], "selected pool breaks a limit"
