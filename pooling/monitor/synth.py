"""Synthetic servicer reports for an issued deal (``pooling synth --collections``): the plan itself, month by
month, optionally with a shortfall injected in chosen segments and asset-level noise — for the demo and the tests.

Each pool asset collects its planned amount of every month, :math:`R_i (F_i(m) - F_i(m-1))`
(:func:`pooling.monitor.surveillance.cumulative_plan`), dated the month's last day, times
:math:`(1 - s_i)` where :math:`s_i` is the largest shortfall of a segment the asset is in, times a mean-one
lognormal factor per asset (``noise``: its sigma; 0 = none). One CSV per month with the Chinese headers
(资产管理公司, 资产编号, 回收日期, 回收金额); amounts under 0.01 CNY are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pooling.errors import UsageError
from pooling.io import write_csv
from pooling.monitor.surveillance import DIMENSIONS, DealPlan, _month_ends, cumulative_plan
from pooling.tapes.headers import first_report_chinese_header


def parse_shortfall(specs: list[str]) -> list[tuple[str, str, float]]:
    """``dimension=segment:share`` strings (``province=CN-ZJ:0.3``) → (dimension, segment, share).

    >>> parse_shortfall(["province=CN-ZJ:0.3"])
    [('province', 'CN-ZJ', 0.3)]
    """
    out = []
    for spec in specs:
        try:
            left, share = spec.rsplit(":", 1)
            dim, segment = left.split("=", 1)
            value = float(share)
        except ValueError:
            raise UsageError(f"--shortfall {spec!r}: write dimension=segment:share, e.g. province=CN-ZJ:0.3") from None
        if dim not in DIMENSIONS or dim == "all":
            raise UsageError(f"--shortfall {spec!r}: dimension must be one of "
                             f"{', '.join(d for d in DIMENSIONS if d != 'all')}")
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--shortfall {spec!r}: the share must be between 0 and 1")
        out.append((dim, segment, value))
    return out


def synth_collections(plan: DealPlan, months: int, shortfall: list[tuple[str, str, float]] | None = None,
                      noise: float = 0.0, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Monthly report frames (canonical columns amc_id, asset_id, date, amount) keyed by ``YYYY-MM``."""
    pool = plan.pool
    H = len(plan.base_monthly)
    months = int(min(months, H))
    cut = np.zeros(len(pool))
    for dim, segment, share in shortfall or []:
        values = pool[DIMENSIONS[dim]].astype(str).to_numpy()
        if not (values == segment).any():
            known = ", ".join(sorted(set(values))[:12])
            raise UsageError(f"--shortfall: no pool asset has {dim} {segment!r} (e.g. {known})")
        cut = np.where(values == segment, np.maximum(cut, share), cut)
    factor = 1.0 - cut
    if noise > 0:
        rng = np.random.default_rng(seed)
        factor = factor * np.exp(noise * rng.standard_normal(len(pool)) - noise**2 / 2)
    ends = _month_ends(plan.closing, months)
    amc = pool["amc_id"].astype(str).to_numpy()
    asset = pool["asset_id"].astype(str).to_numpy()
    out = {}
    previous = np.zeros(len(pool))
    for m in range(1, months + 1):  # one vectorised pass per month
        cum = cumulative_plan(pool, float(m), H)
        amount = (cum - previous) * factor
        previous = cum
        keep = amount >= 0.01
        out[f"{ends[m]:%Y-%m}"] = pd.DataFrame({"amc_id": amc[keep], "asset_id": asset[keep],
                                               "date": f"{ends[m]:%Y-%m-%d}", "amount": np.round(amount[keep], 2)})
    return out


def write_collections(frames: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """One ``collections-YYYY-MM.csv`` per month under ``out_dir``, Chinese headers, UTF-8 with BOM."""
    zh = first_report_chinese_header()
    return [write_csv(f.rename(columns=zh), Path(out_dir) / f"collections-{month}.csv", float_format="%.2f")
            for month, f in frames.items()]
