"""The optimiser's contract files (DESIGN §3.3): pool.csv, summary.json, plus limits.csv (shadow prices).

Everything here is recomputed from the selected asset rows, not read from the model, so the summary reports what
the pool *is*. Timing fields aside, the same inputs give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pooling import vocab
from pooling.io import write_csv, write_json
from pooling.scenario import Scenario
from pooling.selection.model import HELPER_FAMILIES, Selection
from pooling.tapes.describe import concentration

POOL_COLUMNS = [
    "amc_id", "asset_id", "obligor_id", "group_id", "province", "industry", "collateral_type", "gbv",
    "expected_recovery", "expected_months", "npv",
    # beyond the contract: what a reader needs to recheck every limit from this file alone
    "circle_id", "asset_type", "legal_status", "principal", "valuation_source",
]
SHARE_DIMENSIONS = vocab.DIMENSIONS  # summary.json's shares: one per stratification dimension


def pool_frame(assets: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    """The selected assets with the pool.csv columns, in tape order."""
    pool = assets.loc[selection.selected, [c for c in POOL_COLUMNS if c in assets]].copy()
    for c in ("province", "industry", "collateral_type", "asset_type", "legal_status"):
        if c in pool:
            pool[c] = pool[c].astype(str)
    return pool.reset_index(drop=True)


def _shares(pool: pd.DataFrame, column: str) -> dict[str, float]:
    total = float(pool["gbv"].sum())
    if total <= 0:
        return {}
    s = pool.groupby(column, observed=True, sort=True)["gbv"].sum() / total
    return {str(k): round(float(v), 10) for k, v in s.items() if v > 0}


#: a limit binds when its slack is within this many units of the solver's scaled rows (money / σ; the months test
#: also / M): the solver's own tolerance, whatever the pool's size
BINDING_SLACK = 1e-7


def binding_mask(limits: pd.DataFrame, scale: float | None, tol: float = BINDING_SLACK) -> pd.Series:
    """Rows of ``limits`` (limits.csv) that bind: |slack| ≤ tol in the model's scaled units. ``slack`` is in CNY
    (CNY·months for the months test), so the tolerance is tol·σ (·M for the months test); σ = ``scale``
    (summary.json ``model.scale``), 1 when unknown. Helper rows never bind."""
    slack = pd.to_numeric(limits["slack"], errors="coerce").abs()
    value = pd.to_numeric(limits["value"], errors="coerce")
    unit = (scale or 1.0) * value.where(limits["family"] == "wa_months", 1.0)
    return (slack <= tol * unit) & ~limits["family"].isin(HELPER_FAMILIES)


def pool_measures(pool: pd.DataFrame, contributed: pd.DataFrame) -> dict:
    """summary.json's description of a pool, however it was chosen: what was contributed, the pool's totals,
    its shares by dimension (fractions of pool gbv) and its concentration (DESIGN §3.3)."""
    gbv = float(pool["gbv"].sum())
    conc = concentration(pool) if len(pool) else pd.DataFrame()
    return {
        "contributed": {"gbv": float(contributed["gbv"].sum()), "n_assets": len(contributed),
                        "npv": float(contributed["npv"].sum())},
        "pool": {
            "gbv": gbv,
            "principal": float(pool["principal"].sum()) if "principal" in pool else None,
            "expected_recovery": float(pool["expected_recovery"].sum()),
            "npv": float(pool["npv"].sum()),
            "n_assets": len(pool),
            "n_obligors": int(pool["obligor_id"].nunique()),
            "n_obligor_groups": int(pool["group_id"].nunique()),
            "recovery_rate": float(pool["expected_recovery"].sum() / gbv) if gbv > 0 else 0.0,
            "wa_months_to_recovery": float((pool["gbv"] * pool["expected_months"]).sum() / gbv) if gbv > 0 else 0.0,
        },
        "shares": {name: _shares(pool, column) for name, column in SHARE_DIMENSIONS.items()},
        "concentration": {
            "largest_group_share": float(conc.loc["obligor_group", "largest_share"]) if len(conc) else 0.0,
            "top10_group_share": float(conc.loc["obligor_group", "top10_share"]) if len(conc) else 0.0,
            "hhi": {d: float(conc.loc[d, "hhi"]) for d in conc.index},
            "effective_number": {d: float(conc.loc[d, "effective_number"]) for d in conc.index},
        },
    }


def summary(pool: pd.DataFrame, selection: Selection, scenario: Scenario, inputs_sha256: str,
            contributed: pd.DataFrame) -> dict:
    """summary.json content: status, objective, gap, timings, pool totals, shares, concentration, limits."""
    limits = selection.limits
    binding = limits[binding_mask(limits, selection.info.get("scale"))]
    priced = limits[~limits["family"].isin(HELPER_FAMILIES)].sort_values("npv_per_step", ascending=False, na_position="last")
    return {
        "scenario": scenario.name,
        "status": selection.status,
        "objective": scenario.pool.objective,
        "objective_value": selection.objective_value,
        "bound": selection.bound,
        "mip_gap": selection.mip_gap,
        "strategy": selection.strategy,
        "solve_seconds": round(selection.solve_seconds, 3),
        "build_seconds": round(selection.build_seconds, 3),
        "hhi_refinement_rounds": selection.hhi_rounds,
        "model": {k: v for k, v in selection.info.items() if k != "lp_bound"},
        "lp_relaxation_bound": selection.info.get("lp_bound"),
        **pool_measures(pool, contributed),
        "binding_limits": binding["name"].drop_duplicates().tolist(),
        "costliest_limits": [
            {"limit": r["limit"], "name": r["name"], "npv_per_step": float(r["npv_per_step"])}
            for _, r in priced.head(5).iterrows() if np.isfinite(r["npv_per_step"]) and r["npv_per_step"] > 0
        ],
        "inputs_sha256": inputs_sha256,
    }


def limits_frame(selection: Selection) -> pd.DataFrame:
    """limits.csv: one row per limit row with activity, slack, LP shadow price and npv per step of relaxation."""
    cols = ["family", "key", "name", "limit", "value", "activity", "slack", "shadow_price", "npv_per_step"]
    out = selection.limits[~selection.limits["family"].isin(HELPER_FAMILIES)][cols]
    return out.reset_index(drop=True)


def write_selection(out_dir: Path, assets: pd.DataFrame, selection: Selection, scenario: Scenario,
                    inputs_sha256: str) -> dict:
    """Write pool.csv, summary.json and limits.csv atomically; return the summary."""
    pool = pool_frame(assets, selection)
    data = summary(pool, selection, scenario, inputs_sha256, assets)
    write_csv(pool, Path(out_dir) / "pool.csv", float_format="%.2f")
    write_csv(limits_frame(selection), Path(out_dir) / "limits.csv")
    write_json(data, Path(out_dir) / "summary.json")
    return data
