"""Small random asset pools for the selection tests: the columns :func:`pooling.selection.model.select_pool`
reads, drawn from one seeded generator so that a (seed, shape) pair always gives the same pool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

PROVINCES = ["CN-ZJ", "CN-GD", "CN-JS", "CN-SC"]
COLLATERAL = ["residential", "commercial", "unsecured", "guarantee_only"]


def small_pool(seed: int, n: int = 14, n_amcs: int = 3, *, provinces: Sequence[str] = PROVINCES,
               collateral: Sequence[str] = COLLATERAL, industries: str = "CFK", sigma: float = 0.8,
               groups: Literal["singles", "clusters"] = "singles") -> pd.DataFrame:
    """``n`` assets of ``n_amcs`` AMCs (A0, A1 …), GBV lognormal(0, ``sigma``) × 100, recovery rate U(0.05, 0.6).

    ``groups``: ``"singles"`` — mostly single-obligor groups with four assets merged into others' groups, and every
    third group in a guarantee circle, as in real pools; ``"clusters"`` — about n/3 groups of one to several
    assets each, no circles (lumpier pools)."""
    rng = np.random.default_rng(seed)
    gbv = np.round(rng.lognormal(0.0, sigma, n) * 100, 2)
    rate = rng.uniform(0.05, 0.6, n)
    if groups == "singles":
        group = np.arange(n)
        group[rng.choice(n, 4, replace=False)] = group[rng.choice(n, 4, replace=False)]
        circle = np.where(group % 3 == 0, "C:" + group.astype(str), "")
    else:
        group = rng.integers(0, n // 3, n)
        circle = ""
    return pd.DataFrame(
        {
            "amc_id": [f"A{i}" for i in rng.integers(0, n_amcs, n)],
            "asset_id": [f"x{i}" for i in range(n)],
            "obligor_id": [f"o{i}" for i in range(n)],
            "group_id": ["G:" + str(g) for g in group],
            "circle_id": circle,
            "province": rng.choice(list(provinces), n),
            "industry": rng.choice(list(industries), n),
            "collateral_type": rng.choice(list(collateral), n),
            "asset_type": rng.choice(["corporate", "sme"], n),
            "legal_status": rng.choice(["litigation", "judgment"], n),
            "gbv": gbv,
            "expected_recovery": gbv * rate,
            "expected_months": rng.uniform(6, 60, n),
            "npv": gbv * rate * rng.uniform(0.7, 0.95, n),
        }
    )
