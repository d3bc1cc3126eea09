"""One scenario through the whole pipeline in-process, returning headline metrics (for studies and scripts).

``run_pipeline`` does what ``pooling run`` does — prepare (with levers), select, size — without writing files
unless ``out_dir`` is given, and returns a flat dict of metrics. Bad input raises
:class:`~pooling.errors.InputError`; an infeasible scenario returns ``status: infeasible`` with the conflicting
limits rather than raising, because in a study that is a result.
"""

from __future__ import annotations

from pathlib import Path

from pooling.deal import analytics_json, size_deal, write_deal
from pooling.errors import Infeasible, NoIncumbent
from pooling.pipeline import prepare
from pooling.results import summary, write_selection
from pooling.scenario import Scenario
from pooling.selection import select_pool

METRICS = (
    "status", "objective_value", "mip_gap", "pool_gbv", "pool_npv", "pool_expected_recovery", "pool_n_assets",
    "recovery_rate", "wa_months", "senior_size", "senior_share_of_gbv", "senior_share_of_expected_recovery",
    "senior_coverage", "senior_break_even_haircut", "sub_irr", "solve_seconds",
)


def run_pipeline(scenario: Scenario, out_dir: Path | None = None) -> dict:
    """Prepare, select and size one scenario; metrics as a flat dict (``share_<amc>``, ``npv_<amc>`` per AMC)."""
    prepared = prepare(scenario)
    s = prepared.scenario
    try:
        sel = select_pool(prepared.assets, s)
    except Infeasible as e:
        return {"status": "infeasible", "conflicting_limits": "; ".join(e.conflicts)}
    except NoIncumbent as e:
        return {"status": "no_incumbent", "error": str(e)}
    assets = prepared.assets
    pool = assets[sel.selected]
    if out_dir is not None:
        data = write_selection(out_dir, assets, sel, s, prepared.inputs_sha256)
    else:
        from pooling.results import pool_frame

        data = summary(pool_frame(assets, sel), sel, s, prepared.inputs_sha256, assets)
    deal = size_deal(pool, s)
    if out_dir is not None:
        write_deal(out_dir, deal)
    a = analytics_json(deal)
    p = data["pool"]
    metrics = {
        "status": data["status"], "objective_value": data["objective_value"], "mip_gap": data["mip_gap"],
        "pool_gbv": p["gbv"], "pool_npv": p["npv"], "pool_expected_recovery": p["expected_recovery"],
        "pool_n_assets": p["n_assets"], "recovery_rate": p["recovery_rate"], "wa_months": p["wa_months_to_recovery"],
        "senior_size": a["senior_size"], "senior_share_of_gbv": a["senior_share_of_gbv"],
        "senior_share_of_expected_recovery": a["senior_share_of_expected_recovery"],
        "senior_coverage": a["senior_coverage"], "senior_break_even_haircut": a["senior_break_even_haircut"],
        "sub_irr": a["sub_irr"], "solve_seconds": data["solve_seconds"],
    }
    for amc, share in data["shares"]["amc"].items():
        metrics[f"share_{amc}"] = share
    for amc, npv in pool.groupby("amc_id")["npv"].sum().items():
        metrics[f"npv_{amc}"] = float(npv)
    return metrics
