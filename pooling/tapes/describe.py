"""Stratification and concentration of a set of assets (the contributed tapes, or a selected pool).

All tables are plain pandas group-bys over the valued asset frame; shares are fractions of the frame's total gbv.

Concentration per dimension uses the gbv shares :math:`s_k` of the dimension's values:
:math:`\\mathrm{HHI} = \\sum_k s_k^2` and effective number :math:`N_\\mathrm{eff} = 1/\\mathrm{HHI}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pooling.graph import circle_table, group_table
from pooling.io import write_csv, write_json
from pooling.vocab import CONCENTRATION_DIMENSIONS, DIMENSIONS

__all__ = ["DIMENSIONS", "Description", "concentration", "describe", "hhi", "stratify"]


def stratify(assets: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per value of ``column``: count, gbv and its share, principal, recovery, npv, WA months.

    ``recovery_rate`` is Σ expected_recovery / Σ gbv; ``wa_months`` is gbv-weighted expected months.
    """
    a = assets.assign(_gm=assets["gbv"] * assets["expected_months"])
    g = a.groupby(column, observed=True, sort=True)
    t = pd.DataFrame(
        {
            "n_assets": g.size(),
            "gbv": g["gbv"].sum(),
            "principal": g["principal"].sum(),
            "expected_recovery": g["expected_recovery"].sum(),
            "npv": g["npv"].sum(),
            "_gm": g["_gm"].sum(),
        }
    )
    total = t["gbv"].sum()
    t.insert(2, "gbv_share", t["gbv"] / total if total > 0 else 0.0)
    t["recovery_rate"] = np.where(t["gbv"] > 0, t["expected_recovery"] / t["gbv"].where(t["gbv"] > 0, 1.0), 0.0)
    t["wa_months"] = np.where(t["gbv"] > 0, t["_gm"] / t["gbv"].where(t["gbv"] > 0, 1.0), 0.0)
    t = t.drop(columns="_gm").sort_values("gbv", ascending=False, kind="stable")
    t.index = t.index.astype(str)
    return t.rename_axis(column)


def hhi(shares: pd.Series | np.ndarray) -> float:
    """Herfindahl–Hirschman index Σ s² of shares that sum to 1."""
    s = np.asarray(shares, dtype=float)
    return float(np.sum(s * s))


def concentration(assets: pd.DataFrame) -> pd.DataFrame:
    """Per dimension (plus obligor group): values, largest value and share, HHI, effective number."""
    rows = []
    total = float(assets["gbv"].sum())
    for name, column in CONCENTRATION_DIMENSIONS.items():
        gbv = assets.groupby(column, observed=True)["gbv"].sum().sort_values(ascending=False, kind="stable")
        shares = gbv / total if total > 0 else gbv * 0.0
        h = hhi(shares)
        rows.append(
            {
                "dimension": name,
                "n_values": int((gbv > 0).sum()),
                "largest": str(gbv.index[0]) if len(gbv) else "",
                "largest_share": float(shares.iloc[0]) if len(gbv) else 0.0,
                "top10_share": float(shares.iloc[:10].sum()),
                "hhi": h,
                "effective_number": 1.0 / h if h > 0 else 0.0,
            }
        )
    return pd.DataFrame(rows).set_index("dimension")


@dataclass(frozen=True)
class Description:
    """Everything ``pooling describe`` shows: headline totals, stratifications, concentration, groups, circles."""

    totals: dict
    strata: dict[str, pd.DataFrame]
    concentration: pd.DataFrame
    groups: pd.DataFrame
    circles: pd.DataFrame

    def write(self, out_dir: Path) -> list[Path]:
        """Write one CSV per table plus describe.json (totals and concentration) into ``out_dir``."""
        out_dir = Path(out_dir)
        paths = [write_csv(t.reset_index(), out_dir / f"strat_{name}.csv") for name, t in self.strata.items()]
        paths.append(write_csv(self.concentration.reset_index(), out_dir / "concentration.csv"))
        paths.append(write_csv(self.groups.reset_index(), out_dir / "groups.csv"))
        paths.append(write_csv(self.circles.reset_index(), out_dir / "circles.csv"))
        conc = self.concentration.reset_index().to_dict(orient="records")
        paths.append(write_json({"totals": self.totals, "concentration": conc}, out_dir / "describe.json"))
        return paths


def describe(assets: pd.DataFrame) -> Description:
    """Describe valued, grouped assets (columns of :func:`pooling.pipeline.prepare`)."""
    groups = group_table(assets)
    circles = circle_table(assets)
    total = float(assets["gbv"].sum())
    totals = {
        "n_assets": len(assets),
        "n_amcs": int(assets["amc_id"].nunique()),
        "n_obligors": int(assets["obligor_id"].nunique()),
        "n_obligor_groups": len(groups),
        "n_multi_obligor_groups": int((groups["n_obligors"] > 1).sum()),
        "n_groups_crossing_amcs": int((groups["n_amcs"] > 1).sum()),
        "n_guarantee_circles": len(circles),
        "n_circles_crossing_amcs": int((circles["n_amcs"] > 1).sum()) if len(circles) else 0,
        "gbv": total,
        "principal": float(assets["principal"].sum()),
        "expected_recovery": float(assets["expected_recovery"].sum()),
        "npv": float(assets["npv"].sum()),
        "recovery_rate": float(assets["expected_recovery"].sum() / total) if total > 0 else 0.0,
        "wa_months": float((assets["gbv"] * assets["expected_months"]).sum() / total) if total > 0 else 0.0,
        "largest_group_share": float(groups["gbv"].iloc[0] / total) if total > 0 and len(groups) else 0.0,
        "top10_group_share": float(groups["gbv"].iloc[:10].sum() / total) if total > 0 else 0.0,
    }
    strata = {name: stratify(assets, column) for name, column in DIMENSIONS.items()}
    return Description(totals, strata, concentration(assets), groups, circles)
