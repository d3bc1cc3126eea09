"""The shelf's contract tables (DESIGN §11): issues.csv, assignments.csv and shelf.json's content, built from a
:class:`~pooling.shelf.model.ShelfResult` (plain frames and dicts; writing is the pipeline's).

Money in CNY. ``proceeds`` is the senior sold at par on the issue date; ``pv_*`` values are discounted to
``as_of`` at the plan's ``funding_cost``; carrying costs are in present value (docs/shelf.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pooling.shelf.model import ShelfResult

#: issues.csv's columns: the contract's first (DESIGN §11), then the plan beside the realised issue
ISSUE_COLUMNS = ("issue", "date", "n_assets", "gbv", "expected_recovery", "senior_size", "coupon", "proceeds",
                 "notes", "issue_cost", "carrying_cost", "pv_net", "planned_gbv", "planned_senior",
                 "planned_notes", "sized_senior", "sized_notes", "capped_by_shelf", "below_min_issue_size",
                 "selection_status", "cumulative_notes", "cap_used_share")
#: assignments.csv's columns
ASSIGNMENT_COLUMNS = ("issue", "amc_id", "asset_id", "batch", "batch_date", "gbv", "expected_recovery")


def issue_label(k: int) -> int:
    """Issues are numbered 1, 2, … in the order of their windows (the slot index + 1)."""
    return k + 1


def _discount(result: ShelfResult) -> np.ndarray:
    return np.power(1.0 + result.plan.funding_cost, -result.issues.tau)


def issues_frame(result: ShelfResult) -> pd.DataFrame:
    """issues.csv: one row per realised issue, in date order."""
    a = result.assets
    gbv = a["gbv"].to_numpy(float)
    er = a["expected_recovery"].to_numpy(float)
    D = _discount(result)
    carry_saved = result.coefficients.saving
    carry_to_end = result.coefficients.carry_to_end
    rows = []
    used = 0.0
    for r in result.realised:
        sel = r.selected
        # carrying of the issue's assets from their batch date to the issue: carry to the end less what issuing saved
        carrying = float(carry_to_end[sel].sum() - carry_saved[sel, r.k].sum())
        used += r.issued_notes
        rows.append({
            "issue": issue_label(r.k), "date": str(r.date), "n_assets": int(sel.sum()), "gbv": float(gbv[sel].sum()),
            "expected_recovery": float(er[sel].sum()), "senior_size": r.issued_senior, "coupon": r.coupon,
            "proceeds": r.proceeds, "notes": r.issued_notes, "issue_cost": r.issue_cost, "carrying_cost": carrying,
            "pv_net": float(D[r.k] * (r.proceeds - r.issue_cost) - carrying),
            "planned_gbv": r.planned_gbv, "planned_senior": r.planned_senior, "planned_notes": r.planned_notes,
            "sized_senior": r.senior_size, "sized_notes": r.notes,
            "capped_by_shelf": bool(r.issued_notes < r.notes - 0.5),
            "below_min_issue_size": bool(r.issued_notes < result.plan.shelf.min_issue_size - 0.5),
            "selection_status": r.selection_status, "cumulative_notes": used,
            "cap_used_share": used / result.plan.shelf.cap,
        })
    frame = pd.DataFrame(rows, columns=list(ISSUE_COLUMNS))
    money = ["gbv", "expected_recovery", "senior_size", "proceeds", "notes", "issue_cost", "carrying_cost", "pv_net",
             "planned_gbv", "planned_senior", "planned_notes", "sized_senior", "sized_notes", "cumulative_notes"]
    frame[money] = frame[money].astype(float).round(2)
    return frame


def assignments_frame(result: ShelfResult) -> pd.DataFrame:
    """assignments.csv: one row per issued asset — issue, amc_id, asset_id, its batch and amounts — sorted."""
    a = result.assets
    k = result.issued_in
    sel = k >= 0
    out = pd.DataFrame({
        "issue": k[sel] + 1, "amc_id": a["amc_id"].astype(str).to_numpy()[sel],
        "asset_id": a["asset_id"].astype(str).to_numpy()[sel], "batch": a["batch"].astype(str).to_numpy()[sel],
        "batch_date": pd.to_datetime(a["batch_date"].to_numpy()[sel]).strftime("%Y-%m-%d"),
        "gbv": np.round(a["gbv"].to_numpy(float)[sel], 2),
        "expected_recovery": np.round(a["expected_recovery"].to_numpy(float)[sel], 2)})
    return out.sort_values(["issue", "amc_id", "asset_id"], kind="stable").reset_index(drop=True)


def composition_frame(result: ShelfResult, column: str) -> pd.DataFrame:
    """gbv of each issue by the values of ``column`` (issue × value), for the report's composition charts."""
    a = result.assets
    sel = result.issued_in >= 0
    frame = pd.DataFrame({"issue": result.issued_in[sel] + 1, "value": a[column].astype(str).to_numpy()[sel],
                          "gbv": a["gbv"].to_numpy(float)[sel]})
    return frame.pivot_table(index="issue", columns="value", values="gbv", aggfunc="sum", fill_value=0.0)


def shelf_summary(result: ShelfResult, inputs_sha256: str) -> dict:
    """shelf.json: status, cap used, the plan's PV and certified gap, the realised PV and its parts, costs, model
    size, timings, and each issue planned vs realised (the reconciliation)."""
    plan, sol, issues = result.plan, result.solution, result.issues
    frame = issues_frame(result)
    D = _discount(result)
    sel = result.issued_in >= 0
    carry_unissued = float(result.coefficients.carry_to_end[~sel].sum())
    carry_issued = float(frame["carrying_cost"].sum())
    pv_proceeds = float(sum(D[r.k] * r.proceeds for r in result.realised))
    pv_costs = float(sum(D[r.k] * r.issue_cost for r in result.realised))
    realised_pv = pv_proceeds - pv_costs - carry_issued - carry_unissued
    nu = 1.0 / (1.0 - plan.structure.sub_share_of_notes)
    planned = [{"issue": issue_label(k), "date": str(issues.dates[k]), "coupon": float(issues.coupons[k]),
                "gbv": float((result.units.frame["gbv"].to_numpy(float) * sol.x[:, k]).sum()),
                "senior": float((result.units.capacity[:, k] * sol.x[:, k]).sum()),
                "notes": float((result.units.capacity[:, k] * sol.x[:, k]).sum() * nu)}
               for k in np.flatnonzero(sol.y > 0.5)]
    status = sol.status if len(result.realised) else ("no_issue_pays" if sol.status == "optimal" else sol.status)
    return {
        "name": plan.name,
        "status": status,
        "cap": plan.shelf.cap,
        "cap_used": float(frame["notes"].sum()),
        "cap_used_share": float(frame["notes"].sum() / plan.shelf.cap),
        "n_issues": len(result.realised),
        "pv": realised_pv,
        "pv_plan": sol.objective,
        "bound": sol.bound,
        "gap": sol.gap,
        "costs": {"issue_costs": float(frame["issue_cost"].sum()), "pv_issue_costs": pv_costs,
                  "carrying_issued": carry_issued, "carrying_unissued": carry_unissued},
        "proceeds": float(frame["proceeds"].sum()),
        "pv_proceeds": pv_proceeds,
        "assets": {"n": len(result.assets), "issued": int(sel.sum()), "gbv": float(result.assets["gbv"].sum()),
                   "issued_gbv": float(result.assets["gbv"].to_numpy(float)[sel].sum())},
        "windows": {"open": [str(d) for d in issues.dates], "closed": [str(d) for d in issues.closed]},
        "planned_issues": planned,
        "senior_per_expected_recovery": {seg: {f"{c:.4f}": float(v) for c, v in row.items()}
                                         for seg, row in result.capacity.iterrows()},
        "model": {"units": result.units.mode, "n_units": len(result.units.frame), "n_vars": sol.n_vars,
                  "n_rows": sol.n_rows, "solver": plan.planner.pyomo_solver, "mip_rel_gap": plan.planner.mip_rel_gap},
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "inputs_sha256": inputs_sha256,
    }
