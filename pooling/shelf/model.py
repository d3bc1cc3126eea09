r"""The shelf planning model (DESIGN §11, docs/shelf.md): which assets go into which issue, and when.

Notation (money scaled by :math:`\sigma` = the shelf cap before it reaches the solver, DESIGN §5 Numerics):

* issues :math:`k = 1..K`: one per pricing window inside the shelf's validity, at date :math:`t_k`
  (:math:`\tau_k` years after ``as_of``), senior coupon :math:`c_k`; :math:`y_k \in \{0,1\}` — issue *k* is made;
* units :math:`u`: single assets (``planner.units: assets``; :math:`x_{u,k} \in \{0,1\}`) or **buckets** — the
  assets of one batch that agree on every attribute a limit looks at (``buckets``; :math:`x_{u,k} \in [0,1]` is
  the share of the bucket's gbv in issue *k*). A unit exists in issue *k* only if its batch date
  :math:`a_u \le t_k`;
* :math:`g_u` gbv, :math:`r_u` expected recovery, :math:`m_u` expected months (gbv-weighted), :math:`q_u` secured
  gbv of the unit; :math:`s_{u,k} = \sum_{i\in u} \pi_{\text{seg}(i)}(c_k)\, r_i` its **senior capacity** at
  coupon :math:`c_k` — linear per segment: :math:`\pi_s(c)` = the senior the shared sizer
  (:func:`pooling.tranching.waterfall.size_senior`, the rating stress of ``structure``) gives the whole segment
  *s* (collateral type × timing band, :func:`segment_of`) of the plan's assets at coupon *c*, per CNY of expected
  recovery;
* :math:`\nu = 1/(1-\text{sub\_share\_of\_notes})`: notes issued per CNY of senior; :math:`F, \kappa` the issue
  cost {fixed, rate}; :math:`D_k = (1+f)^{-\tau_k}` at the plan's ``funding_cost`` *f*;
* carrying: unit *u* (base :math:`b_u` = book value, or npv where the tape gives none; its AMC's carrying cost
  :math:`f_u`) is funded from its batch date until issued, or until the shelf expires (:math:`\tau_H`, ``valid_to``)
  if it is not; in present value :math:`b_u\,(d_u(\tau_{a_u}) - d_u(\tau))` with :math:`d_u(\tau) = (1+f_u)^{-\tau}`.

.. math::

   \max\ \sum_{u,k} x_{u,k}\Bigl[D_k\, s_{u,k}\,(1 - \kappa\nu) + b_u\,(d_u(\tau_k) - d_u(\tau_H))\Bigr]
        - F \sum_k D_k\, y_k \;-\; \underbrace{\sum_u b_u\,(d_u(\tau_{a_u}) - d_u(\tau_H))}_{\text{constant}}

subject to, per issue *k* (families named as in the model):

=================  ==============================================================================================
family             rows
=================  ==============================================================================================
once               :math:`\sum_k x_{u,k} \le 1` (each asset at most once)
gbv / notes        :math:`G_k = \sum_u g_u x_{u,k}`, :math:`N_k = \nu \sum_u s_{u,k} x_{u,k}`
open               :math:`G_k \le \bar G_k\, y_k` (:math:`\bar G_k` the gbv available by :math:`t_k`)
min_issue_size     :math:`N_k \ge N_{\min}\, y_k`
shelf_cap          :math:`\sum_k N_k \le \text{cap}`
max_issues         :math:`\sum_k y_k \le` ``max_issues``
<dim>_cap          :math:`\sum_{u\in v} g_u x_{u,k} - \alpha\, G_k \le 0` per value *v* of each capped dimension
secured            :math:`\sum_u q_u x_{u,k} - \varsigma\, G_k \ge 0`
wa_recovery        :math:`\sum_u r_u x_{u,k} - \rho\, G_k \ge 0`
wa_months          :math:`\sum_u g_u (m_u - M)\, x_{u,k} \le 0`
=================  ==============================================================================================

Obligor-group caps are rows of the model: for every group when units are assets; with buckets, for every group
that can reach its cap in an issue of at least the minimum size (:func:`capped_groups`: those get buckets of their
own). Guarantee-circle, top-10 and HHI limits — and caps of groups beyond ``planner.max_group_units`` — are met by
the per-issue step: each issue's assets are re-selected on the canonical
selection path (:func:`pooling.selection.model.select_pool`) under *every* limit of the plan, then sized by the
real sizer (:func:`pooling.tranching.deal.size_deal`) at the window's coupon; :func:`realise` reports the plan and
the realised issue side by side.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pooling.errors import Infeasible, InputError, NoIncumbent
from pooling.selection.model import select_pool
from pooling.shelf.plan import ShelfPlan
from pooling.tranching.deal import size_deal, stress_table, terms_from
from pooling.tranching.waterfall import monthly_to_periods, size_senior, stress_monthly
from pooling.valuation.model import pool_curve
from pooling.vocab import UNSECURED_COLLATERAL

#: limit → the asset column whose values it caps (the share-cap families of the plan model)
CAP_COLUMNS = {
    "max_province_share": "province",
    "max_industry_share": "industry",
    "max_collateral_share": "collateral_type",
    "max_asset_type_share": "asset_type",
    "max_legal_status_share": "legal_status",
}
#: the senior capacity is linear per segment: collateral type (the sizer projects and stresses by it) × timing band
SEGMENT = "segment"
#: edges of the timing bands, expected months to recovery: [0, 12), [12, 24), [24, 36), [36, 48), [48, ∞)
TIMING_BANDS = (12.0, 24.0, 36.0, 48.0)


def segment_of(assets: pd.DataFrame) -> np.ndarray:
    """Per asset its segment, ``<collateral_type>|<timing band>`` (band 0..4 by :data:`TIMING_BANDS`)."""
    band = np.searchsorted(np.array(TIMING_BANDS), assets["expected_months"].to_numpy(float), side="right")
    return (assets["collateral_type"].astype(str) + "|" + pd.Series(band, index=assets.index).astype(str)).to_numpy()


DAYS_PER_YEAR = 365.25


def years(date: dt.date, as_of: dt.date) -> float:
    """Years from ``as_of`` to ``date`` (actual days / 365.25)."""
    return (pd.Timestamp(date) - pd.Timestamp(as_of)).days / DAYS_PER_YEAR


@dataclass(frozen=True)
class Issues:
    """The issue slots: one per pricing window inside the shelf's validity, in date order."""

    dates: list[dt.date]
    coupons: np.ndarray
    tau: np.ndarray
    #: windows outside [valid_from, valid_to]: no issue may price there
    closed: list[dt.date]

    @property
    def K(self) -> int:
        return len(self.dates)


def issue_slots(plan: ShelfPlan) -> Issues:
    """The open windows (inside the shelf's validity) as issue slots; raises :class:`Infeasible` when none is."""
    s = plan.shelf
    windows = plan.windows_sorted()
    open_ = [w for w in windows if s.valid_from <= w.date <= s.valid_to]
    closed = [w.date for w in windows if w not in open_]
    if not open_:
        raise Infeasible(f"no pricing window lies inside the shelf's validity {s.valid_from} – {s.valid_to} "
                         f"(windows: {', '.join(str(w.date) for w in windows)})",
                         ["shelf.valid_from / shelf.valid_to", "windows[].date"])
    return Issues([w.date for w in open_], np.array([w.senior_coupon for w in open_]),
                  np.array([years(w.date, plan.as_of) for w in open_]), closed)


def segment_capacity(assets: pd.DataFrame, plan: ShelfPlan, coupons: np.ndarray) -> pd.DataFrame:
    r"""Senior per CNY of expected recovery, :math:`\pi_s(c)`, per segment *s* (rows: :func:`segment_of`) and
    coupon *c* (columns): each segment's assets sized alone by the shared sizer under the senior rating's
    deterministic stress (its collateral type's haircut), with the plan's structure at that coupon
    (:func:`pooling.tranching.waterfall.size_senior`)."""
    st = plan.structure
    stresses = stress_table(st)
    if st.senior_rating not in stresses:
        raise InputError(f"structure: no stress defined for rating {st.senior_rating!r}; known: {sorted(stresses)}")
    stress = stresses[st.senior_rating]
    base_terms = terms_from(st)
    horizon = max(plan.valuation.horizon_months, base_terms.legal_periods * base_terms.period_months) \
        + stress.delay_months + 1
    seg = segment_of(assets)
    er = assets.groupby(seg, sort=True)["expected_recovery"].sum()
    band = pd.Series(seg).str.rsplit("|", n=1).str[1].to_numpy()
    curves = {b: pool_curve(assets[band == b], horizon_months=horizon, by="collateral_type")
              for b in sorted(set(band))}  # per band, one column per collateral type (its stress haircut)
    rows = {}
    for key in er.index:
        coll, b = str(key).rsplit("|", 1)
        seg_er = float(er[key])
        if seg_er <= 0:
            rows[str(key)] = np.zeros(len(coupons))
            continue
        stressed = monthly_to_periods(stress_monthly(curves[b][[coll]], stress), base_terms.period_months,
                                      base_terms.legal_periods)
        sizes = []
        for c in coupons:
            terms = terms_from(st.model_copy(update={"senior_coupon": float(c)}), expenses_base=seg_er)
            sizes.append(float(size_senior(stressed, terms, 1.0)[0]) / seg_er)
        rows[str(key)] = np.array(sizes)
    return pd.DataFrame(rows, index=[float(c) for c in coupons]).T.rename_axis(SEGMENT)


def unit_attributes(plan: ShelfPlan, units: str) -> list[str]:
    """The asset columns a bucket must agree on: the batch, then each dimension a share cap looks at (and the
    secured flag when ``min_secured_share`` is set), and ``cap_group`` — the obligor group of an asset whose group
    can reach its cap (:func:`capped_groups`), empty for the rest."""
    lim = plan.pool.limits
    cols = ["batch"] + [c for k, c in CAP_COLUMNS.items() if getattr(lim, k) is not None]
    if lim.min_secured_share is not None and "collateral_type" not in cols:
        cols.append("secured")
    if lim.max_obligor_group_share is not None:
        cols.append("cap_group")
    return cols


def capped_groups(assets: pd.DataFrame, plan: ShelfPlan, coef: Coefficients) -> np.ndarray:
    r"""Per asset: the obligor group whose cap can bind, else "" (bucket units).

    Every issue that is made has notes :math:`N_k \ge N_{\min}`, and :math:`N_k \le \nu\,\bar s\,G_k` with
    :math:`\bar s` the largest senior capacity per CNY of gbv of any asset, so :math:`G_k \ge \underline G =
    N_{\min}/(\nu \bar s)`. A group whose whole gbv is at most :math:`\alpha\,\underline G` can never break its cap
    (DESIGN §5: drop cap rows that can never bind); the others — at most ``planner.max_group_units``, the
    largest first — get their own buckets and cap rows, so the plan meets their caps exactly. Caps of groups beyond
    that many are met by the per-issue selection."""
    alpha = plan.pool.limits.max_obligor_group_share
    out = np.full(len(assets), "", dtype=object)
    if alpha is None or alpha >= 1.0 or not len(assets):
        return out
    gbv = assets["gbv"].to_numpy(float)
    nu = 1.0 / (1.0 - plan.structure.sub_share_of_notes)
    dense = coef.capacity.max(axis=1)[gbv > 0] / gbv[gbv > 0]
    s_bar = float(dense.max()) if dense.size else 0.0
    g_min = plan.shelf.min_issue_size / (nu * s_bar) if s_bar > 0 else 0.0
    groups = assets["group_id"].astype(str)
    totals = pd.Series(gbv).groupby(groups.to_numpy()).sum()
    big = totals[totals > alpha * g_min].sort_values(ascending=False, kind="stable")
    big = big.iloc[: plan.planner.max_group_units]
    hit = groups.isin(big.index).to_numpy()
    out[hit] = groups.to_numpy()[hit]
    return out


@dataclass
class Coefficients:
    """Per asset and issue: senior capacity and carrying saved (CNY, PV); per asset: carrying to the shelf's end."""

    capacity: np.ndarray  # assets × issues
    saving: np.ndarray  # assets × issues
    carry_to_end: np.ndarray  # assets

    def value(self, plan: ShelfPlan, issues: Issues) -> np.ndarray:
        """Assets × issues: what putting the asset into issue *k* adds to the objective (before fixed costs)."""
        nu = 1.0 / (1.0 - plan.structure.sub_share_of_notes)
        D = np.power(1.0 + plan.funding_cost, -issues.tau)
        return D[None, :] * self.capacity * (1.0 - plan.issue_cost.rate * nu) + self.saving


def asset_coefficients(assets: pd.DataFrame, plan: ShelfPlan, issues: Issues,
                       capacity: pd.DataFrame) -> Coefficients:
    r"""The model's coefficients per asset (vectorised): :math:`\pi_{seg}(c_k) r_i`, the carrying saved by issuing at
    :math:`t_k` and the carrying to the shelf's end (module docstring)."""
    a = assets
    er = a["expected_recovery"].to_numpy(float)
    book = pd.to_numeric(a["book_value"], errors="coerce").to_numpy(float) if "book_value" in a \
        else np.full(len(a), np.nan)
    base = np.where(np.isfinite(book), book, a["npv"].to_numpy(float))
    rate = a["amc_id"].astype(str).map({i: plan.carrying_cost(i) for i in plan.amc_ids}).to_numpy(float)
    tau_a = a["batch_tau"].to_numpy(float)
    tau_h = years(plan.shelf.valid_to, plan.as_of)
    end = np.power(1.0 + rate, -tau_h)
    saving = base[:, None] * (np.power(1.0 + rate[:, None], -issues.tau[None, :]) - end[:, None])
    carry = base * (np.power(1.0 + rate, -tau_a) - end)
    ratio = capacity.reindex(segment_of(a)).to_numpy(float)  # assets × issues
    return Coefficients(ratio * er[:, None], saving, carry)


@dataclass
class Units:
    """The model's columns before the issue axis: one row per unit (asset or bucket)."""

    frame: pd.DataFrame
    #: per asset, its unit's row
    unit_of_asset: np.ndarray
    #: (units × issues) senior capacity, CNY
    capacity: np.ndarray
    #: (units × issues) carrying saved by issuing at k rather than carrying to the shelf's end, CNY (PV)
    saving: np.ndarray
    #: CNY (PV) of carrying every asset to the shelf's end
    carry_all: float
    mode: str


def build_units(assets: pd.DataFrame, plan: ShelfPlan, coef: Coefficients, mode: str) -> Units:
    """Aggregate assets into units (vectorised: one factorisation, bincounts) with the model's coefficients."""
    a = assets
    secured = ~a["collateral_type"].astype(str).isin(UNSECURED_COLLATERAL).to_numpy()
    gbv = a["gbv"].to_numpy(float)
    cap_group = capped_groups(a, plan, coef)
    if mode == "assets":
        codes = np.arange(len(a), dtype=np.int64)
        n = len(a)
    else:
        keys = a.assign(secured=secured, cap_group=cap_group)[unit_attributes(plan, mode)].astype(str)
        codes, uniques = pd.MultiIndex.from_frame(keys).factorize(sort=True)
        n = len(uniques)
    add = lambda w: np.bincount(codes, weights=w, minlength=n)  # noqa: E731
    first = pd.Series(np.arange(len(a))).groupby(codes).first().to_numpy()
    frame = pd.DataFrame({
        "batch": a["batch"].to_numpy()[first], "amc_id": a["amc_id"].to_numpy()[first],
        "batch_date": a["batch_date"].to_numpy()[first],
        "n_assets": np.bincount(codes, minlength=n), "gbv": add(gbv),
        "expected_recovery": add(a["expected_recovery"].to_numpy(float)),
        "months_gbv": add(gbv * a["expected_months"].to_numpy(float)), "secured_gbv": add(gbv * secured),
        "npv": add(a["npv"].to_numpy(float)),
    })
    for col in CAP_COLUMNS.values():
        frame[col] = a[col].astype(str).to_numpy()[first]
    frame["group_id"] = a["group_id"].astype(str).to_numpy()[first]
    frame["cap_group"] = cap_group[first] if mode != "assets" else frame["group_id"]
    K = coef.capacity.shape[1]
    capacity_u = np.column_stack([add(coef.capacity[:, k]) for k in range(K)])
    saving_u = np.column_stack([add(coef.saving[:, k]) for k in range(K)])
    return Units(frame, codes.astype(np.int64), capacity_u, saving_u, float(coef.carry_to_end.sum()), mode)


@dataclass
class PlanSolution:
    """The planning model's answer: shares of units per issue, which issues open, objective and certified gap."""

    x: np.ndarray  # units × issues
    y: np.ndarray  # issues
    objective: float  # CNY, including the constant carrying term
    bound: float
    gap: float
    status: str
    seconds: float
    build_seconds: float
    n_vars: int
    n_rows: int


def _limit_rows(plan: ShelfPlan, units: Units) -> list[tuple[str, str, np.ndarray, float, str]]:
    """The per-issue limit rows as (family, key, weights per unit, coefficient on G_k, sense): row
    Σ_u w_u x_{u,k} − coef · G_k (sense) 0."""
    lim = plan.pool.limits
    f = units.frame
    g = f["gbv"].to_numpy(float)
    rows = []
    caps = dict(CAP_COLUMNS)
    if lim.max_obligor_group_share is not None:
        caps["max_obligor_group_share"] = "cap_group"  # every group (assets), the groups that can bind (buckets)
    for key, col in caps.items():
        alpha = getattr(lim, key)
        if alpha is None or alpha >= 1.0:
            continue
        codes, names = pd.factorize(f[col].astype(str), sort=True)
        totals = np.bincount(codes, weights=g, minlength=len(names))
        for c in np.flatnonzero((totals > 0) & (names != "")):
            rows.append((f"{col}_cap", f"{key} {names[c]}", np.where(codes == c, g, 0.0), alpha, "<="))
    if lim.min_secured_share is not None:
        rows.append(("secured", "min_secured_share", f["secured_gbv"].to_numpy(float), lim.min_secured_share, ">="))
    if lim.min_wa_recovery_rate is not None:
        rows.append(("wa_recovery", "min_wa_recovery_rate", f["expected_recovery"].to_numpy(float),
                     lim.min_wa_recovery_rate, ">="))
    if lim.max_wa_months_to_recovery is not None:
        rows.append(("wa_months", "max_wa_months_to_recovery", f["months_gbv"].to_numpy(float)
                     - lim.max_wa_months_to_recovery * g, 0.0, "<="))
    return rows


def solve_plan(plan: ShelfPlan, units: Units, issues: Issues) -> PlanSolution:
    """Build the Pyomo model of the module docstring and solve it (appsi_highs: certified gap; or any Pyomo MILP
    solver named by ``planner.pyomo_solver``)."""
    import pyomo.environ as pyo

    t0 = time.perf_counter()
    f = units.frame
    sigma = plan.shelf.cap
    K = issues.K
    nu = 1.0 / (1.0 - plan.structure.sub_share_of_notes)
    ic = plan.issue_cost
    D = np.power(1.0 + plan.funding_cost, -issues.tau)
    g = f["gbv"].to_numpy(float) / sigma
    cap = units.capacity / sigma
    coef = (D[None, :] * cap * (1.0 - ic.rate * nu) + units.saving / sigma)
    avail = f["batch_date"].to_numpy()[:, None] <= np.array(issues.dates, dtype="datetime64[D]")[None, :]
    pairs = [(int(u), int(k)) for u, k in zip(*np.nonzero(avail), strict=True)]
    by_issue = {k: np.flatnonzero(avail[:, k]).tolist() for k in range(K)}
    by_unit: dict[int, list[int]] = {}
    for u, k in pairs:
        by_unit.setdefault(u, []).append(k)
    g_max = np.array([g[by_issue[k]].sum() for k in range(K)])

    m = pyo.ConcreteModel(name="shelf")
    m.K = pyo.RangeSet(0, K - 1)
    m.UK = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    m.x = pyo.Var(m.UK, domain=pyo.Binary if units.mode == "assets" else pyo.UnitInterval)
    m.y = pyo.Var(m.K, domain=pyo.Binary)
    m.G = pyo.Var(m.K, domain=pyo.NonNegativeReals)
    m.N = pyo.Var(m.K, domain=pyo.NonNegativeReals)
    lin = pyo.quicksum
    m.gbv = pyo.Constraint(m.K, rule=lambda m, k: m.G[k] == lin(g[u] * m.x[u, k] for u in by_issue[k]))
    m.notes = pyo.Constraint(m.K, rule=lambda m, k: m.N[k] == lin(nu * cap[u, k] * m.x[u, k] for u in by_issue[k]))
    m.once = pyo.Constraint(sorted(by_unit), rule=lambda m, u: lin(m.x[u, k] for k in by_unit[u]) <= 1)
    m.open = pyo.Constraint(m.K, rule=lambda m, k: m.G[k] <= g_max[k] * m.y[k])
    m.min_issue_size = pyo.Constraint(m.K, rule=lambda m, k: m.N[k] >= plan.shelf.min_issue_size / sigma * m.y[k])
    m.notes_open = pyo.Constraint(m.K, rule=lambda m, k: m.N[k] <= m.y[k])  # cap / σ = 1
    m.shelf_cap = pyo.Constraint(expr=lin(m.N[k] for k in m.K) <= 1.0)
    m.max_issues = pyo.Constraint(expr=lin(m.y[k] for k in m.K) <= plan.shelf.max_issues)
    rows = _limit_rows(plan, units)
    m.limits = pyo.ConstraintList()
    n_limit_rows = 0
    for _family, _key, w, alpha, sense in rows:
        w = w / sigma
        nz = np.flatnonzero(w)
        for k in range(K):
            us = nz[avail[nz, k]].tolist()
            if not us:
                continue
            expr = lin(w[u] * m.x[u, k] for u in us) - alpha * m.G[k]
            m.limits.add(expr <= 0 if sense == "<=" else expr >= 0)
            n_limit_rows += 1
    m.obj = pyo.Objective(expr=lin(coef[u, k] * m.x[u, k] for u, k in pairs)
                          - lin(ic.fixed / sigma * D[k] * m.y[k] for k in m.K), sense=pyo.maximize)
    build = time.perf_counter() - t0

    t1 = time.perf_counter()
    x = np.zeros((len(f), K))
    y = np.zeros(K)
    p = plan.planner
    if p.pyomo_solver == "appsi_highs":
        from pyomo.contrib.appsi.base import TerminationCondition
        from pyomo.contrib.appsi.solvers import Highs

        opt = Highs()
        opt.config.mip_gap = p.mip_rel_gap
        opt.config.time_limit = p.time_limit_s
        opt.config.load_solution = False
        opt.highs_options = {"threads": 1, "random_seed": 0, "mip_abs_gap": 1e-9}
        res = opt.solve(m)
        tc = res.termination_condition
        if tc == TerminationCondition.infeasible:
            raise Infeasible("the shelf plan has no feasible issue schedule", ["shelf", "pool.limits"])
        if res.best_feasible_objective is None:
            raise NoIncumbent(f"the planning model stopped ({tc.name}) before finding a schedule; raise "
                              "planner.time_limit_s")
        res.solution_loader.load_vars()
        value, bound = float(res.best_feasible_objective), float(res.best_objective_bound)
        status = {TerminationCondition.optimal: "optimal",
                  TerminationCondition.maxTimeLimit: "time_limit"}.get(tc, tc.name.lower())
    else:
        solver = pyo.SolverFactory(p.pyomo_solver)
        if not solver.available(exception_flag=False):
            raise InputError(f"planner.pyomo_solver {p.pyomo_solver!r} is not available here; use appsi_highs "
                             "(installed with the package) or install that solver")
        res = solver.solve(m, load_solutions=False)
        if str(res.solver.termination_condition) == "infeasible":
            raise Infeasible("the shelf plan has no feasible issue schedule", ["shelf", "pool.limits"])
        m.solutions.load_from(res)
        value = float(pyo.value(m.obj))
        ub = res.problem.upper_bound
        bound = float(ub) if ub is not None and np.isfinite(float(ub)) else value
        status = str(res.solver.termination_condition)
    for (u, k), var in m.x.items():
        x[u, k] = max(0.0, min(1.0, float(var.value or 0.0)))
    for k in range(K):
        y[k] = round(float(m.y[k].value or 0.0))
    x[:, y < 0.5] = 0.0
    gap = (bound - value) / max(abs(bound), 1e-12) if bound is not None else float("nan")
    return PlanSolution(x, y, value * sigma - units.carry_all, bound * sigma - units.carry_all, max(gap, 0.0),
                        status, time.perf_counter() - t1, build, m.nvariables(), m.nconstraints())


def choose_mode(plan: ShelfPlan, n_assets: int) -> str:
    """``planner.units``, with ``auto`` → assets up to ``planner.max_asset_units``, buckets above."""
    u = plan.planner.units
    if u != "auto":
        return u
    return "assets" if n_assets <= plan.planner.max_asset_units else "buckets"


def split_units(assets: pd.DataFrame, units: Units, x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Turn unit shares into assets: per unit, its assets in ``order`` (best value first) are dealt to the issues by
    cumulative gbv — issue *k* takes the assets whose gbv midpoint falls in its share of the unit. Returns per
    asset its issue (−1: not issued). Vectorised: one sort, one cumulative sum."""
    n = len(assets)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    u = units.unit_of_asset
    gbv = assets["gbv"].to_numpy(float)
    idx = np.lexsort((order, u))  # by unit, then by order
    gs = gbv[idx]
    us = u[idx]
    total = np.bincount(us, weights=gs, minlength=len(units.frame))
    csum = np.cumsum(gs)
    start = np.r_[0.0, csum[:-1]]
    first_start = pd.Series(start).groupby(us).transform("min").to_numpy()
    mid = (start - first_start + gs / 2.0) / np.where(total[us] > 0, total[us], 1.0)
    bounds = np.cumsum(x, axis=1)  # units × issues: upper end of each issue's share
    upper = bounds[us]
    k = (mid[:, None] >= upper).sum(axis=1)  # first issue whose upper end is above the midpoint
    k = np.where(k >= x.shape[1], -1, k)
    out[idx] = k
    return out


@dataclass
class RealisedIssue:
    """One issue after the per-issue selection and the real sizer."""

    k: int
    date: dt.date
    coupon: float
    selected: np.ndarray  # bool per asset (of the plan's asset frame)
    planned_gbv: float
    planned_senior: float
    planned_notes: float
    senior_size: float  # the real sizer's senior on the selected pool
    notes: float  # notes of the deal sized (all classes)
    issued_senior: float  # after the shelf cap
    issued_notes: float
    proceeds: float
    issue_cost: float
    selection_status: str
    selection_gap: float | None
    deal_analytics: dict = field(default_factory=dict)


def realise(assets: pd.DataFrame, plan: ShelfPlan, issues: Issues, units: Units, sol: PlanSolution,
            value: np.ndarray) -> tuple[list[RealisedIssue], np.ndarray]:
    """The per-issue step: deal unit shares to assets (:func:`split_units`, best value per CNY of gbv first),
    re-select each issue's pool on the canonical selection path under *every* limit of the plan (obligor groups,
    top-10 and HHI too) from its planned assets and those the plan leaves unissued (acquired by then), up to the
    planned gbv and above ``min_issue_size`` where it can — then
    size it with the real sizer at the window's coupon. The shelf cap holds on the notes issued: an issue whose
    sized notes would pass the remaining cap issues only up to it. ``value`` is assets × issues
    (:meth:`Coefficients.value`). Returns the issues and, per asset, its issue index (−1: not issued)."""
    gbv = assets["gbv"].to_numpy(float)
    density = value.max(axis=1) / np.maximum(gbv, 1e-9) if value.size else np.zeros(len(assets))
    rank = np.argsort(np.argsort(-density, kind="stable"), kind="stable")
    candidate = split_units(assets, units, sol.x, rank)
    nu = 1.0 / (1.0 - plan.structure.sub_share_of_notes)
    f = units.frame
    issued_in = np.full(len(assets), -1, dtype=np.int64)
    out = []
    remaining = plan.shelf.cap
    ic = plan.issue_cost
    for k in np.flatnonzero(sol.y > 0.5):
        k = int(k)
        planned = candidate == k
        if not planned.any():
            continue
        # the planned assets, topped up from those the plan leaves unissued (acquired by then, not yet issued):
        # an asset the plan's buckets could not see break a limit (an obligor group's cap) is replaced, not lost
        spare = (candidate < 0) & (issued_in < 0) & (assets["batch_date"].to_numpy() <= np.datetime64(issues.dates[k], "D"))
        cand = planned | spare
        planned_gbv = float((f["gbv"].to_numpy(float) * sol.x[:, k]).sum())
        planned_senior = float((units.capacity[:, k] * sol.x[:, k]).sum())
        pool = assets[cand].assign(npv=np.maximum(value[cand, k], 0.0) + 1e-9 * gbv[cand])
        size_max = min(float(pool["gbv"].sum()), planned_gbv * (1 + 1e-9))
        ratio = planned_senior * nu / planned_gbv if planned_gbv > 0 else 0.0
        floor = min(size_max, plan.shelf.min_issue_size / ratio) * (1 - 1e-6) if ratio > 0 else 0.0
        coupon = float(issues.coupons[k])
        try:
            sel = select_pool(pool, plan.issue_scenario(coupon, {"min": floor, "max": size_max}))
        except Infeasible:
            try:  # the minimum size cannot hold with every limit: the issue shrinks, and says so
                sel = select_pool(pool, plan.issue_scenario(coupon, {"max": size_max}))
            except Infeasible as e:
                raise Infeasible(f"issue {k + 1} ({issues.dates[k]}): its planned assets cannot meet the plan's "
                                 f"limits: {e}", e.conflicts) from None
        chosen = assets[cand][sel.selected]
        if chosen.empty:  # no subset of what the plan gave this issue meets the limits: it is not made
            continue
        issued_in[np.flatnonzero(cand)[sel.selected]] = k
        deal = size_deal(chosen, plan.issue_scenario(coupon))
        senior = float(deal.tranches["size"].iloc[0])
        notes = float(deal.tranches["size"].sum())
        issued_notes = min(notes, remaining)
        issued_senior = senior * (issued_notes / notes) if notes > 0 else 0.0
        remaining -= issued_notes
        out.append(RealisedIssue(
            k=k, date=issues.dates[k], coupon=coupon, selected=issued_in == k,
            planned_gbv=planned_gbv, planned_senior=planned_senior, planned_notes=planned_senior * nu,
            senior_size=senior, notes=notes, issued_senior=issued_senior, issued_notes=issued_notes,
            proceeds=issued_senior, issue_cost=ic.fixed + ic.rate * issued_notes, selection_status=sel.status,
            selection_gap=sel.mip_gap, deal_analytics=deal.analytics))
    return out, issued_in


def batch_assets(assets: pd.DataFrame, plan: ShelfPlan) -> pd.DataFrame:
    """The prepared assets (read with :meth:`ShelfPlan.tape_scenario`: ``amc_id`` = batch name) with ``batch``,
    the acquiring ``amc_id``, ``batch_date`` and ``batch_tau`` (years after as_of). Raises :class:`InputError`
    naming every (amc, asset) bought twice."""
    acq = {a.batch: a for a in plan.acquisitions}
    batch = assets["amc_id"].astype(str)
    out = assets.assign(
        batch=batch.to_numpy(),
        amc_id=batch.map({b: a.amc for b, a in acq.items()}).to_numpy(),
        batch_date=batch.map({b: np.datetime64(a.date, "D") for b, a in acq.items()}).to_numpy().astype("datetime64[D]"),
        batch_tau=batch.map({b: years(a.date, plan.as_of) for b, a in acq.items()}).to_numpy(float),
    )
    dup = out.duplicated(["amc_id", "asset_id"], keep=False)
    if dup.any():
        rows = out.loc[dup, ["amc_id", "asset_id", "batch"]].astype(str)
        listed = rows.groupby(["amc_id", "asset_id"])["batch"].agg(", ".join).head(10)
        raise InputError(f"{int(dup.sum())} asset rows are bought twice (same AMC and asset_id in two batches): "
                         + "; ".join(f"{a}/{i} in {b}" for (a, i), b in listed.items()))
    return out.reset_index(drop=True)


@dataclass
class ShelfResult:
    """What a shelf plan gives: the plan's answer and the realised issues, nothing written."""

    plan: ShelfPlan
    assets: pd.DataFrame
    issues: Issues
    capacity: pd.DataFrame  # segment × coupon: senior per CNY of expected recovery
    units: Units
    solution: PlanSolution
    coefficients: Coefficients
    realised: list[RealisedIssue]
    issued_in: np.ndarray  # per asset: issue index, −1 not issued
    seconds: dict[str, float] = field(default_factory=dict)


def _no_issue_reason(assets: pd.DataFrame, plan: ShelfPlan, issues: Issues, coef: Coefficients) -> None:
    """When the optimum issues nothing, raise :class:`Infeasible` if that is because no issue can meet the limits
    (the selection names the conflicting limits, as ``pooling optimize`` does); return when issuing merely does not
    pay."""
    last = np.datetime64(issues.dates[-1], "D")
    avail = assets[assets["batch_date"].to_numpy() <= last]
    nu = 1.0 / (1.0 - plan.structure.sub_share_of_notes)
    er = avail["expected_recovery"].to_numpy(float)
    notes_per_gbv = float(coef.capacity[assets["batch_date"].to_numpy() <= last, -1].sum() * nu
                          / max(avail["gbv"].sum(), 1e-9))
    n_min = plan.shelf.min_issue_size
    floor = 0.0 if n_min <= 0 else (n_min / notes_per_gbv if notes_per_gbv > 0 else np.inf)
    if not np.isfinite(floor) or floor > avail["gbv"].sum():
        raise Infeasible(f"every asset acquired by the last window ({issues.dates[-1]}) supports CNY "
                         f"{notes_per_gbv * avail['gbv'].sum():,.0f} of notes, less than shelf.min_issue_size "
                         f"{plan.shelf.min_issue_size:,.0f}", ["shelf.min_issue_size", "acquisitions"])
    if er.sum() <= 0:
        return
    smallest = float(avail.loc[avail["gbv"] > 0, "gbv"].min())  # any issue holds at least one asset
    try:
        select_pool(avail.assign(npv=np.maximum(avail["npv"].to_numpy(float), 0.0)),
                    plan.issue_scenario(float(issues.coupons[-1]), {"min": max(floor, smallest)}))
    except Infeasible as e:
        raise Infeasible(f"no issue can meet the plan's limits, even from every asset acquired by the last window "
                         f"({issues.dates[-1]}): {e}", e.conflicts) from None


def plan_shelf(assets: pd.DataFrame, plan: ShelfPlan, realise_issues: bool = True) -> ShelfResult:
    """Plan the shelf over batched, valued, grouped assets (:func:`batch_assets`): issue slots, segment
    capacities, units, the planning MILP, then (``realise_issues``) the per-issue selection and the real sizer.

    Raises :class:`Infeasible` naming the conflict (no window inside the validity, no asset acquired in time, a
    minimum issue size no pool reaches, limits no issue can meet), :class:`NoIncumbent` when the planning MILP
    stops without a schedule.
    """
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    issues = issue_slots(plan)
    last = np.datetime64(issues.dates[-1], "D")
    if not (assets["batch_date"].to_numpy() <= last).any():
        first = min(a.date for a in plan.acquisitions)
        raise Infeasible(f"no batch is acquired by the last open window ({issues.dates[-1]}); the first batch "
                         f"arrives {first}", ["acquisitions[].date", "windows[].date", "shelf.valid_to"])
    coupons = np.unique(issues.coupons)
    by_coupon = segment_capacity(assets, plan, coupons)
    capacity = by_coupon[[float(c) for c in issues.coupons]]
    coef = asset_coefficients(assets, plan, issues, capacity)
    units = build_units(assets, plan, coef, choose_mode(plan, len(assets)))
    seconds["coefficients"] = time.perf_counter() - t
    sol = solve_plan(plan, units, issues)
    seconds["plan_build"] = sol.build_seconds
    seconds["plan_solve"] = sol.seconds
    if not (sol.y > 0.5).any():
        _no_issue_reason(assets, plan, issues, coef)
    realised: list[RealisedIssue] = []
    issued_in = np.full(len(assets), -1, dtype=np.int64)
    if realise_issues:
        t = time.perf_counter()
        realised, issued_in = realise(assets, plan, issues, units, sol, coef.value(plan, issues))
        seconds["realise"] = time.perf_counter() - t
    return ShelfResult(plan, assets, issues, by_coupon, units, sol, coef, realised, issued_in, seconds)
