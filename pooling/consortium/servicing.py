r"""Servicer assignment: who works out which assets (national–local collaboration, entrusted disposal; DESIGN §7).

Pool assets are aggregated into cells (province × asset type). Servicer *s* may take a cell in province *p* when
it is a national AMC, or a local AMC whose home province is *p* (2025: cross-regional business of local AMCs is
generally prohibited). Per CNY of gbv in cell *c* with recovery rate :math:`r_c`, servicer *s* costs

.. math::  k_{cs} = r_c\,\bigl(f_s (1 + u_{cs}) - u_{cs}\bigr)

— its fee :math:`f_s` on the collections it brings in, :math:`r_c(1+u_{cs})`, less the uplift
:math:`u_{cs}` it adds to the expected recovery (``home_uplift`` in the servicer's home province, else 0). The plan
minimises :math:`\sum k_{cs} y_{cs}` with every cell's gbv assigned and each servicer within ``capacity_gbv``:

* as a **min-cost flow** (networkx network simplex, gbv in units of CNY 10,000, costs in fen per unit),
  which may split a cell between servicers; or
* as a **MILP** (Pyomo, appsi_highs) when whole obligor groups must stay with one servicer
  (``consortium.whole_groups_servicing``): binary :math:`y_{gs}`, :math:`\sum_s y_{gs} = 1`,
  :math:`\sum_g G_g y_{gs} \le \text{cap}_s`, a local servicer eligible for a group only if all of it lies in its
  home province.

Default servicers when none are configured: every AMC, fee 8% of collections (bank tenders 5–24%, corporate
work-out success fees 5–15%), local AMCs with a 5% recovery uplift at home.

The plan enters the deal only when ``structure.servicer_base_fee: plan``: then the waterfall's servicer base fee is
the plan's effective rate :math:`\sum \text{fee} / \sum \text{collections}` and each pool asset's recovery curve
is scaled by :math:`1 + u_i` (:func:`with_uplift`), so the projected collections carry exactly the uplift the plan
claims (:math:`\sum_i u_i R_i` = ``total_uplift``). Otherwise the plan is a proposal and its uplift is not claimed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from pooling.errors import InputError
from pooling.scenario import Scenario, Servicer

UNIT = 1.0e4  # CNY per flow unit
DEFAULT_FEE = 0.08
DEFAULT_LOCAL_UPLIFT = 0.05


@dataclass(frozen=True)
class ServicingPlan:
    """Assignment rows (servicer × cell or group) and the plan's totals."""

    assignments: pd.DataFrame
    total_fee: float
    total_uplift: float
    effective_fee_rate: float  # fees / collections (with uplift): the servicer base fee under ``plan``
    method: str
    #: per pool asset (the pool's index): the recovery uplift u_i its servicer adds (a split cell: the cell's
    #: collections-weighted mean), so Σ u_i · expected_recovery_i = total_uplift
    asset_uplift: pd.Series

    def summary(self, applied: bool) -> dict:
        """The plan's headline for summary.json; the uplift is claimed only when the plan is ``applied``."""
        out = {"method": self.method, "applied": applied, "fees": self.total_fee,
               "effective_fee_rate": self.effective_fee_rate}
        if applied:
            out["recovery_uplift"] = self.total_uplift
        return out


#: recovery-carrying columns of a valued asset frame that scale with the servicer's uplift
UPLIFT_COLUMNS = ("expected_recovery", "npv", "curve_rinf", "recovery_rate")


def with_uplift(pool: pd.DataFrame, plan: ServicingPlan) -> pd.DataFrame:
    """The pool with each asset's recovery (amount, npv, curve) scaled by ``1 + u_i`` from ``plan``; timing unchanged."""
    factor = 1.0 + plan.asset_uplift.reindex(pool.index).fillna(0.0).to_numpy()
    out = pool.copy()
    for c in UPLIFT_COLUMNS:
        if c in out:
            out[c] = out[c].to_numpy(dtype=float) * factor
    return out


def servicers_of(scenario: Scenario) -> list[Servicer]:
    """The configured servicers, or the defaults (every AMC; locals with a home uplift)."""
    if scenario.consortium and scenario.consortium.servicers:
        return list(scenario.consortium.servicers)
    return [Servicer(amc=a.id, fee_rate=DEFAULT_FEE, home_uplift=DEFAULT_LOCAL_UPLIFT if a.kind == "local" else 0.0)
            for a in scenario.amcs]


def _eligibility(scenario: Scenario, servicers: list[Servicer], provinces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, uplift) matrices of shape (len(provinces), len(servicers))."""
    amc = {a.id: a for a in scenario.amcs}
    eligible = np.zeros((len(provinces), len(servicers)), dtype=bool)
    uplift = np.zeros_like(eligible, dtype=float)
    for j, sv in enumerate(servicers):
        a = amc[sv.amc]
        home = provinces == a.home_province if a.home_province else np.zeros(len(provinces), dtype=bool)
        eligible[:, j] = True if a.kind == "national" else home
        uplift[:, j] = np.where(home, sv.home_uplift, 0.0)
    return eligible, uplift


def _check_capacity(servicers: list[Servicer], need: float) -> None:
    caps = [sv.capacity_gbv for sv in servicers]
    if all(c is not None for c in caps) and sum(caps) < need:
        raise InputError(f"servicer capacities add up to CNY {sum(caps):,.0f}, below the pool's gbv of "
                         f"CNY {need:,.0f}: raise consortium.servicers[].capacity_gbv")


def plan_by_flow(pool: pd.DataFrame, scenario: Scenario) -> ServicingPlan:
    """Min-cost flow over province × asset-type cells (cells may be split between servicers)."""
    servicers = servicers_of(scenario)
    cells = pool.groupby(["province", "asset_type"], observed=True, sort=True).agg(
        gbv=("gbv", "sum"), expected_recovery=("expected_recovery", "sum")).reset_index()
    cells = cells[cells["gbv"] > 0].reset_index(drop=True)
    _check_capacity(servicers, float(cells["gbv"].sum()))
    provinces = cells["province"].astype(str).to_numpy()
    eligible, uplift = _eligibility(scenario, servicers, provinces)
    fee = np.array([sv.fee_rate for sv in servicers])
    rate = (cells["expected_recovery"] / cells["gbv"]).to_numpy()
    cost = rate[:, None] * (fee[None, :] * (1 + uplift) - uplift)  # per CNY of gbv
    units = np.round(cells["gbv"].to_numpy() / UNIT).astype(np.int64)
    units = np.maximum(units, 1)
    total = int(units.sum())
    g = nx.DiGraph()
    g.add_node("source", demand=-total)
    g.add_node("sink", demand=total)
    for i, u in enumerate(units):
        g.add_edge("source", ("cell", i), capacity=int(u), weight=0)
        if not eligible[i].any():
            raise InputError(f"no servicer may work cell {provinces[i]} / {cells.loc[i, 'asset_type']}: add a national "
                             "AMC as servicer or a local AMC of that province")
        for j in np.flatnonzero(eligible[i]):
            g.add_edge(("cell", i), ("svc", j), weight=round(cost[i, j] * UNIT * 100))  # fen per unit
    for j, sv in enumerate(servicers):
        cap = total if sv.capacity_gbv is None else int(np.floor(sv.capacity_gbv / UNIT))
        g.add_edge(("svc", j), "sink", capacity=cap, weight=0)
    try:
        _, flow = nx.network_simplex(g)
    except nx.NetworkXUnfeasible:
        raise InputError("servicer capacities cannot absorb the pool under the home-province rules; raise the "
                         "capacities of national servicers or of the local AMCs whose provinces are short") from None
    rows = []
    for i in range(len(cells)):
        for node, f in flow[("cell", i)].items():
            if f <= 0:
                continue
            j = node[1]
            share = f / units[i]
            gbv = cells.loc[i, "gbv"] * share
            er = cells.loc[i, "expected_recovery"] * share
            rows.append(_row(servicers[j].amc, cells.loc[i, "province"], cells.loc[i, "asset_type"], gbv, er,
                             fee[j], uplift[i, j]))
    plan = _plan(rows, "min_cost_flow", pd.Series(dtype=float))
    a = plan.assignments
    by_cell = (a["expected_collections"] - a["expected_recovery"]).groupby([a["province"], a["asset_type"]]).sum()
    er_cell = a.groupby(["province", "asset_type"])["expected_recovery"].sum()
    cell_uplift = (by_cell / er_cell.where(er_cell > 0)).fillna(0.0).rename("u").reset_index()
    keys = pd.DataFrame({"province": pool["province"].astype(str).to_numpy(),
                         "asset_type": pool["asset_type"].astype(str).to_numpy()})
    u = keys.merge(cell_uplift, on=["province", "asset_type"], how="left")["u"].fillna(0.0).to_numpy()
    return dataclasses.replace(plan, asset_uplift=pd.Series(u, index=pool.index))


def plan_whole_groups(pool: pd.DataFrame, scenario: Scenario, solver: str = "appsi_highs") -> ServicingPlan:
    """MILP keeping each obligor group with one servicer (Pyomo)."""
    import pyomo.environ as pyo

    servicers = servicers_of(scenario)
    _check_capacity(servicers, float(pool["gbv"].sum()))
    amc = {a.id: a for a in scenario.amcs}
    groups = pool.groupby("group_id", sort=True).agg(gbv=("gbv", "sum"), er=("expected_recovery", "sum"),
                                                       province=("province", lambda s: s.astype(str).iloc[0]),
                                                       n_prov=("province", "nunique"))
    gid = groups.index.tolist()
    fee = {j: sv.fee_rate for j, sv in enumerate(servicers)}
    allowed, up = {}, {}
    for g, r in groups.iterrows():
        for j, sv in enumerate(servicers):
            a = amc[sv.amc]
            home = r["n_prov"] == 1 and a.home_province == r["province"]
            if a.kind == "national" or home:
                allowed[g, j] = True
                up[g, j] = sv.home_uplift if home else 0.0
    orphans = sorted(set(gid) - {g for g, _ in allowed})
    if orphans:
        raise InputError(f"no servicer may take obligor group {orphans[0]} (and {len(orphans) - 1} more) under the "
                         "home-province rules: add a national AMC as servicer")
    pairs = list(allowed)
    m = pyo.ConcreteModel()
    m.y = pyo.Var(pairs, domain=pyo.Binary)
    by_group: dict = {}
    for g, j in pairs:
        by_group.setdefault(g, []).append(j)
    m.assign = pyo.Constraint(gid, rule=lambda m, g: sum(m.y[g, j] for j in by_group[g]) == 1)
    caps = {j: sv.capacity_gbv for j, sv in enumerate(servicers) if sv.capacity_gbv is not None}
    m.cap = pyo.Constraint(list(caps), rule=lambda m, j: sum(groups.loc[g, "gbv"] * m.y[g, jj] for g, jj in pairs if jj == j) <= caps[j])
    m.obj = pyo.Objective(expr=sum(groups.loc[g, "er"] * (fee[j] * (1 + up[g, j]) - up[g, j]) * m.y[g, j] for g, j in pairs))
    res = pyo.SolverFactory(solver).solve(m, load_solutions=False)
    if str(res.solver.termination_condition) != "optimal":
        raise InputError(f"no whole-group servicing plan fits the capacities ({res.solver.termination_condition})")
    res.solution_loader.load_vars() if hasattr(res, "solution_loader") else m.solutions.load_from(res)
    rows = []
    chosen = {g: j for (g, j) in pairs if pyo.value(m.y[g, j]) > 0.5}
    assigned = pool.assign(_svc=pool["group_id"].map(chosen))
    svc_home = pd.Series([amc[sv.amc].home_province for sv in servicers])
    svc_uplift = pd.Series([sv.home_uplift for sv in servicers])
    home = (assigned["_svc"].map(svc_home).to_numpy() == pool["province"].astype(str).to_numpy())
    asset_uplift = pd.Series(np.where(home, assigned["_svc"].map(svc_uplift).to_numpy(dtype=float), 0.0), index=pool.index)
    for (j, prov, at), part in assigned.groupby(["_svc", "province", "asset_type"], observed=True, sort=True):
        u = servicers[int(j)].home_uplift if amc[servicers[int(j)].amc].home_province == str(prov) else 0.0
        rows.append(_row(servicers[int(j)].amc, prov, at, float(part["gbv"].sum()), float(part["expected_recovery"].sum()),
                         fee[int(j)], u))
    return _plan(rows, "whole_group_milp", asset_uplift)


def _row(servicer: str, province, asset_type, gbv: float, er: float, fee: float, uplift: float) -> dict:
    collections = er * (1 + uplift)
    return {"servicer": servicer, "province": str(province), "asset_type": str(asset_type), "gbv": gbv,
            "expected_recovery": er, "uplift": uplift, "expected_collections": collections, "fee_rate": fee,
            "fee": fee * collections, "net_cost": fee * collections - uplift * er}


def _plan(rows: list[dict], method: str, asset_uplift: pd.Series) -> ServicingPlan:
    a = pd.DataFrame(rows).sort_values(["servicer", "province", "asset_type"], ignore_index=True)
    collections = float(a["expected_collections"].sum())
    return ServicingPlan(a, float(a["fee"].sum()), float((a["expected_collections"] - a["expected_recovery"]).sum()),
                         float(a["fee"].sum() / collections) if collections > 0 else 0.0, method, asset_uplift)


def plan_servicing(pool: pd.DataFrame, scenario: Scenario) -> ServicingPlan:
    """The servicing plan the scenario asks for (flow, or whole-group MILP), over the pool's assets."""
    if scenario.consortium and scenario.consortium.whole_groups_servicing:
        return plan_whole_groups(pool, scenario)
    return plan_by_flow(pool, scenario)
