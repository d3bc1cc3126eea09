r"""The npv-versus-diversification frontier (DESIGN §5 "Frontier").

How much pool value does diversification cost? For one dimension (province, industry, …) this sweeps a bound on
its HHI :math:`\sum_k s_k^2` (or, equivalently, on its effective number :math:`N = 1/\mathrm{HHI}`) from the
scenario's own optimum to the most diversified pool the other limits allow, and records the best pool at each
bound. Every point is a full selection under the scenario's solver settings, gap and time limit, its other limits
untouched; only ``pool.limits.max_hhi[dimension]`` (or ``min_effective_number``) changes. Point 0 is
:func:`~pooling.selection.model.select_pool` on the scenario itself; every bounded point imposes its bound in the
separable form (:func:`_bounded_selection`: tangents of :math:`S_k^2/T` carried from point to point, rounding and
repair, certified gap), falling back on ``select_pool`` when that path cannot settle the point.

1. **Unconstrained point.** Solve the scenario as it is; its pool's HHI on the dimension is :math:`h_\text{free}`.
   This is the loosest point of the sweep (it is not solved twice).
2. **Most diversified pool** — :math:`h_\text{min}`, the least HHI any pool meeting the other limits can have,
   is estimated on the LP relaxation, which makes it a *certified lower bound*: no pool, even one taking
   fractions of assets, is more diversified. Minimising :math:`\lVert S\rVert^2/T^2` over the limits is not an LP,
   so the relaxation is first normalised to :math:`T = 1` (Charnes–Cooper: :math:`y = x/T`, :math:`t = 1/T`;
   every row :math:`l \le a^\top x \le u` becomes :math:`l\,t \le a^\top y \le u\,t`, and :math:`x_i \le 1`
   becomes :math:`y_i \le t`). Then the shares :math:`S_k = \sum_{i\in k} g_i y_i` sum to one, HHI
   :math:`=\sum_k S_k^2` is *separable*, and each :math:`S_k^2` is replaced by an epigraph column
   :math:`q_k \ge 2aS_k - a^2` (tangents at a grid of shares :math:`a`, refined at each solution's shares). The LP
   :math:`\min \sum_k q_k` is a lower bound on the relaxation's minimum HHI; the solution itself is a fractional
   pool whose true HHI :math:`\sum_k S_k^2` is an upper bound on it. Refinement stops when the two agree to 1e-4
   (relative); on the 20,000-asset demo that takes 6 LPs. :math:`h_\text{min}` is the upper value: the HHI of a
   (fractional) pool that meets every linear limit.
3. **Sweep.** ``points`` bounds evenly spaced (inclusive) between :math:`h_\text{free}` and
   :math:`h_\text{min}\,(1 + m)`, :math:`m` = :data:`TIGHTEST_MARGIN` — in HHI, or in effective number with
   ``measure="effective_number"``; at :math:`h_\text{min}` itself the fractional pool is the only one and whole
   assets have no room. A looser point whose search found less than a tighter point's pool takes that pool. A
   bound is merged with the scenario's own limit on the dimension, keeping the tighter. With many assets a whole-asset pool gets within a hair of the
   relaxation's minimum; with few, the tightest points may be unreachable: they are recorded with status
   ``infeasible`` (and NaN values), never raised.

The tangent cuts that impose an HHI bound inside the MILP are described in docs/formulation.md; docs/frontier.md
explains how to read the table and the chart, which :mod:`pooling.report.frontier` draws.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pooling.errors import Infeasible, InputError, NoIncumbent
from pooling.io import write_atomic, write_csv
from pooling.scenario import Scenario
from pooling.selection.model import (
    HHI_DIMENSIONS,
    ROW_COLUMNS,
    Selection,
    SelectionModel,
    build_model,
    exact_point,
    factorize_sorted,
    hhi_violations,
    objective_values,
    select_pool,
    solve_lp_round,
    top10_missing,
)
from pooling.tapes.describe import hhi as _hhi
from solvers import Backend, Options, Problem, Result, Status, get_backend

__all__ = ["FRONTIER_COLUMNS", "MEASURES", "frontier", "min_hhi_bound", "write_frontier"]

MEASURES = ("hhi", "effective_number")

#: Columns of frontier.csv, in order.
FRONTIER_COLUMNS = [
    "point", "dimension", "measure", "bound_hhi", "bound_effective_number", "hhi", "effective_number", "npv",
    "gbv", "n_assets", "status", "mip_gap", "npv_loss", "npv_loss_pct", "unconstrained", "hhi_rounds", "seconds",
    "note",
]


# ------------------------------------------------------------------------------------------------- helpers
def _with_hhi_limits(scenario: Scenario, max_hhi: dict, min_effective_number: dict) -> Scenario:
    limits = scenario.pool.limits.model_copy(update={"max_hhi": max_hhi, "min_effective_number": min_effective_number})
    return scenario.model_copy(update={"pool": scenario.pool.model_copy(update={"limits": limits})})


def _bounded(scenario: Scenario, dimension: str, measure: str, bound: float) -> Scenario:
    """The scenario with the swept bound on ``dimension`` merged in (the tighter of the scenario's and the swept)."""
    lim = scenario.pool.limits
    max_hhi, min_eff = dict(lim.max_hhi), dict(lim.min_effective_number)
    if measure == "hhi":
        max_hhi[dimension] = min(bound, max_hhi.get(dimension, 1.0))
    else:
        min_eff[dimension] = max(bound, min_eff.get(dimension, 1.0))
    return _with_hhi_limits(scenario, max_hhi, min_eff)


def _bound_hhi(scenario: Scenario, dimension: str) -> float:
    """The HHI bound on ``dimension``: the tighter of ``max_hhi`` and 1 / ``min_effective_number``."""
    lim = scenario.pool.limits
    return min(lim.max_hhi.get(dimension, 1.0), 1.0 / lim.min_effective_number.get(dimension, 1.0))


def _pool_hhi(assets: pd.DataFrame, selected: np.ndarray, column: str) -> float:
    pool = assets.loc[selected]
    total = float(pool["gbv"].sum())
    if total <= 0:
        return float("nan")
    return _hhi(pool.groupby(column, observed=True)["gbv"].sum().to_numpy() / total)


def _options(scenario: Scenario) -> Options:
    s = scenario.solver
    return Options(mip_rel_gap=s.mip_rel_gap, time_limit_s=s.time_limit_s, threads=s.threads)


# ------------------------------------------------------------------------------------- the most diversified pool
def _normalised_relaxation(model: SelectionModel) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Charnes–Cooper form of the LP relaxation: columns y (one per model column) then t = 1/T, with y_T = 1.

    Returns (A, row_lower, row_upper, col_lower, col_upper) over n + 1 columns.
    """
    p = model.problem
    n = p.n_cols
    A = p.A.tocsr()
    rl, ru = np.asarray(p.row_lower, dtype=float), np.asarray(p.row_upper, dtype=float)
    blocks, lowers, uppers = [], [], []

    def rows(mask: np.ndarray, rhs: np.ndarray, lo: float, hi: float) -> None:
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        t_col = sp.csr_matrix(np.where(np.isfinite(rhs[idx]), -rhs[idx], 0.0)[:, None])
        blocks.append(sp.hstack([A[idx], t_col]).tocsr())
        lowers.append(np.full(len(idx), lo))
        uppers.append(np.full(len(idx), hi))

    fl, fu = np.isfinite(rl), np.isfinite(ru)
    eq = fl & fu & (rl == ru)
    rows(eq, rl, 0.0, 0.0)                    # a·y − b t = 0
    rows(fl & ~eq, rl, 0.0, np.inf)           # a·y − l t ≥ 0
    rows(fu & ~eq, ru, -np.inf, 0.0)          # a·y − u t ≤ 0
    # column bounds other than 0 / ±inf become rows in y and t (x_i ≤ 1 → y_i − t ≤ 0), except T itself
    cl, cu = np.asarray(p.col_lower, dtype=float), np.asarray(p.col_upper, dtype=float)
    col_T = model.col_T
    new_cl = np.where(np.isfinite(cl) & (cl != 0.0), -np.inf, cl)
    new_cu = np.where(np.isfinite(cu) & (cu != 0.0), np.inf, cu)
    for bounds, lo, hi in ((cl, 0.0, np.inf), (cu, -np.inf, 0.0)):
        idx = np.flatnonzero(np.isfinite(bounds) & (bounds != 0.0) & (np.arange(n) != col_T))
        if len(idx):
            m = len(idx)
            blocks.append(sp.csr_matrix((np.r_[np.ones(m), -bounds[idx]], (np.r_[np.arange(m), np.arange(m)], np.r_[idx, np.full(m, n)])),
                                        shape=(m, n + 1)))
            lowers.append(np.full(m, lo))
            uppers.append(np.full(m, hi))
    # normalisation: y_T = T/T = 1, and T_lo ≤ T ≤ T_hi ⇔ 1/T_hi ≤ t ≤ 1/T_lo
    new_cl[col_T] = new_cu[col_T] = 1.0
    t_lo = 1.0 / cu[col_T] if np.isfinite(cu[col_T]) and cu[col_T] > 0 else 0.0
    t_hi = 1.0 / cl[col_T] if cl[col_T] > 0 else np.inf
    A_cc = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, n + 1))
    return (A_cc, np.concatenate(lowers) if lowers else np.zeros(0), np.concatenate(uppers) if uppers else np.zeros(0),
            np.r_[new_cl, t_lo], np.r_[new_cu, t_hi])


def min_hhi_bound(
    assets: pd.DataFrame,
    scenario: Scenario,
    dimension: str,
    backend: Backend | None = None,
    rel_tol: float = 1e-4,
    max_rounds: int = 30,
) -> dict:
    """The least HHI on ``dimension`` of any pool, fractions of assets allowed, meeting the scenario's other limits.

    Returns ``lower`` (certified: no pool is more diversified), ``upper`` (the HHI of a fractional pool meeting
    every linear limit — limits on *other* dimensions' HHI are only outer-approximated), ``rounds`` (LPs solved),
    ``status`` and ``seconds``. See the module docstring for the method.
    """
    t0 = time.perf_counter()
    if dimension not in HHI_DIMENSIONS:
        raise InputError(f"unknown dimension {dimension!r}; expected one of {list(HHI_DIMENSIONS)}")
    lim = scenario.pool.limits
    other = _with_hhi_limits(
        scenario,
        {d: h for d, h in lim.max_hhi.items() if d != dimension},
        {d: n for d, n in lim.min_effective_number.items() if d != dimension},
    )
    model, _ = build_model(assets, other)
    backend = backend or get_backend(scenario.solver.backend, scenario.solver.pyomo_solver)
    codes, names = factorize_sorted(assets[HHI_DIMENSIONS[dimension]])
    K = len(names)
    g = model.asset_gbv
    present = np.bincount(codes, weights=g, minlength=K) > 0
    trivial = 1.0 / max(int(present.sum()), 1)  # equal shares over every value on offer
    A_cc, rl, ru, cl, cu = _normalised_relaxation(model)
    n1 = A_cc.shape[1]  # y columns and t
    S0, Q0 = n1, n1 + K  # then K share columns S_k and K epigraph columns q_k ≥ S_k²
    n_cols = n1 + 2 * K
    # S_k − Σ_{i∈k} g_i y_i = 0
    D = sp.csr_matrix((np.r_[-g, np.ones(K)], (np.r_[codes, np.arange(K)], np.r_[model.unit_of_asset, S0 + np.arange(K)])),
                      shape=(K, n_cols))
    base = sp.vstack([sp.hstack([A_cc, sp.csr_matrix((A_cc.shape[0], 2 * K))]), D]).tocsr()
    base_lower, base_upper = np.r_[rl, np.zeros(K)], np.r_[ru, np.zeros(K)]
    col_lower = np.r_[cl, np.zeros(K), np.zeros(K)]
    col_upper = np.r_[cu, np.where(present, 1.0, 0.0), np.full(K, np.inf)]
    c = np.zeros(n_cols)
    c[Q0:] = 1.0
    # tangent points: equal shares, the contributed mix, each value taken whole in the smallest and in the largest
    # pool (what most values are at the optimum: in whole or out), and, for few values, a grid
    G = np.bincount(codes, weights=g, minlength=K)
    starts = [np.full(K, trivial), G / max(float(G.sum()), 1e-300)]
    starts += [np.minimum(G * t, 1.0) for t in (cl[-1], cu[-1]) if 0.0 < t < np.inf]
    starts += [np.full(K, a) for a in (np.linspace(0.05, 1.0, 20) if K <= 200 else ())]
    cut_k = [np.flatnonzero(present)] * len(starts)
    cut_a = [a[present] for a in starts]
    options = _options(scenario)
    lower, upper, status, rounds, stalled = trivial, 1.0, "not_solved", 0, 0
    shares = np.full(K, np.nan)
    while rounds < max_rounds:
        k, a = np.concatenate(cut_k), np.concatenate(cut_a)
        m = len(k)
        cuts = sp.csr_matrix((np.r_[np.ones(m), -2.0 * a], (np.r_[np.arange(m), np.arange(m)], np.r_[Q0 + k, S0 + k])),
                             shape=(m, n_cols))
        problem = Problem(c, sp.vstack([base, cuts]).tocsr(), np.r_[base_lower, -(a**2)], np.r_[base_upper, np.full(m, np.inf)],
                          col_lower, col_upper, np.zeros(n_cols, dtype=bool),
                          pd.DataFrame({"family": np.full(base.shape[0] + m, "frontier_lp")}), maximize=False)
        result = backend.solve(problem, options)
        rounds += 1
        status = result.status.value
        if result.status is not Status.OPTIMAL or result.x is None or result.objective is None:
            break
        S = np.clip(result.x[S0:Q0], 0.0, None)
        moved = (float(result.objective) > lower * (1 + 0.1 * rel_tol)) or (float(np.sum(S**2)) < upper * (1 - 0.1 * rel_tol))
        lower = max(lower, float(result.objective))
        if float(np.sum(S**2)) < upper:
            shares = S.copy()
        upper = min(upper, float(np.sum(S**2)))
        if upper - lower <= rel_tol * upper:
            break
        stalled = 0 if moved else stalled + 1
        if stalled >= 2:
            # neither bound moves any more: the LP vertex merely sits between breakpoints (typical with thousands
            # of values, e.g. obligor groups); the lower bound is as good as this model gets
            break
        gap = S**2 - result.x[Q0:]
        refine = np.flatnonzero(gap > max(1e-12, 0.01 * (upper - lower) / K))
        if len(refine) == 0:
            break
        cut_k.append(refine)
        cut_a.append(S[refine])
    return {"lower": min(lower, upper), "upper": upper, "rounds": rounds, "status": status,
            "seconds": time.perf_counter() - t0, "shares": shares}


# ------------------------------------------------------------------------------------ one bounded point, separably
#: relative HHI tolerance of a point's pool (as :func:`~pooling.selection.model.select_pool`'s ``hhi_tolerance``)
HHI_TOLERANCE = 1e-4
#: tangent rounds on the LP relaxation, and integer rounds (rounding + repair, then new tangents), per point
MAX_LP_ROUNDS = 40
MAX_INTEGER_ROUNDS = 8
#: tangents laid on each side of the LP's share of every value before the first rounding (see :class:`_Tangents`)
RING = 6
RING_MAX_ROWS = 1_000
#: the tightest automatic grid point is the relaxation's minimum HHI times (1 + this)
TIGHTEST_MARGIN = 0.005
#: how each bounded point is solved: ``separable`` (:func:`_bounded_selection`, falling back on select_pool) or
#: ``select_pool`` (the cone cuts of :func:`~pooling.selection.model.select_pool`, seeded across points)
METHODS = ("separable", "select_pool")
#: a repair widened for the gap frees at most this many units (the 3,200-unit repair of select_pool's lp_round
#: ran into its 30 s limit at the demo's tight points and was discarded)
REPAIR_MAX_FREE = 1_000


class _Tangents:
    r"""Tangent points :math:`(k, a)` of the separable HHI epigraph on one dimension, kept across frontier points.

    HHI :math:`\le h` is :math:`\sum_k S_k^2/T \le hT`; each :math:`S_k^2/T` (the perspective of :math:`s_k^2`,
    convex in :math:`(S_k, T)`) gets an epigraph column :math:`q_k` with tangent rows
    :math:`q_k - 2aS_k + a^2T \ge 0` (exact where :math:`S_k = aT`), and the bound is the one row
    :math:`\sum_k q_k - hT \le 0`. A tangent holds for every pool whatever the bound, so the tangents found at one
    point serve every later point unchanged.
    """

    def __init__(self, n_values: int):
        self.n_values = n_values
        self.k = np.zeros(0, dtype=np.int64)
        self.a = np.zeros(0)
        self._seen: set[tuple[int, float]] = set()

    def add(self, k: np.ndarray, a: np.ndarray) -> int:
        """Add tangents at shares ``a`` of values ``k`` (clipped to [0, 1], rounded to 1e-9; none at 0, which only
        says q ≥ 0); the number new."""
        k = np.asarray(k, dtype=np.int64)
        a = np.round(np.clip(np.asarray(a, dtype=float), 0.0, 1.0), 9)
        k, a = k[a > 0], a[a > 0]
        new = [(int(kk), float(aa)) for kk, aa in zip(k, a, strict=True) if (int(kk), float(aa)) not in self._seen]
        new = list(dict.fromkeys(new))
        if not new:
            return 0
        self._seen.update(new)
        self.k = np.r_[self.k, np.array([n[0] for n in new], dtype=np.int64)]
        self.a = np.r_[self.a, np.array([n[1] for n in new])]
        return len(new)

    def epigraph(self, S: np.ndarray, T: float) -> np.ndarray:
        """q_k at exposures S and size T: the largest tangent (what the rows force), at least 0."""
        q = np.zeros(self.n_values)
        if len(self.k):
            np.maximum.at(q, self.k, 2.0 * self.a * S[self.k] - self.a**2 * T)
        return q


def _bounded_selection(assets: pd.DataFrame, scenario: Scenario, dimension: str, h: float, backend: Backend,
                       tangents: _Tangents, h_floor: float | None = None) -> Selection | None:
    r"""The best pool under HHI :math:`\le h` on ``dimension`` and every other limit of ``scenario``, the bound
    imposed by the separable tangents of :class:`_Tangents` instead of the cone cuts of
    :func:`~pooling.selection.model.select_pool` (docs/frontier.md, "How a point is solved").

    1. Tangents are added at the LP relaxation's shares until its HHI is within a tenth of the tolerance (the LP is
       re-solved warm: :meth:`solvers.base.Backend.lp_session`). Its optimum bounds the point's npv.
    2. A ring of tangents at the LP's shares :math:`\pm j\delta` (:math:`j \le` :data:`RING`,
       :math:`\delta = \sqrt{2\,\text{tol}\,h/K}`): between two tangents :math:`\delta` apart :math:`q_k`
       underestimates :math:`S_k^2/T` by at most :math:`T\delta^2/4`, so a pool whose shares stay within the ring
       and meets the tangent rows at :math:`h(1+\text{tol}/2)` has HHI at most :math:`h(1+\text{tol})`.
    3. Rounding + repair (:func:`~pooling.selection.model.solve_lp_round`, free sets of at most
       :data:`REPAIR_MAX_FREE` units). When no repair finds a pool — the LP sits on the bound and whole assets
       have no room — the rounding starts instead from the LP at a bound a step further in,
       :math:`h - f\,(h - h_\text{floor})` for :math:`f` = 2%, 8%, 30% (the repair itself keeps the bound
       :math:`h`, and the gap the first LP's bound).
    4. The exact 0/1 pool is checked: every linear limit, the swept HHI (new tangents at its shares if above
       :math:`h(1+\text{tol})`), other dimensions' HHI (cone cuts), the top-10 groups (more groups modelled);
       then solve again.

    Returns None when this path cannot settle the point (an LP that does not solve, no pool, a linear row the
    exact pool breaks by more than rounding, or no convergence): the caller then runs
    :func:`~pooling.selection.model.select_pool`, which diagnoses and backs off.
    """
    t0 = time.perf_counter()
    lim = scenario.pool.limits
    other = _with_hhi_limits(scenario, {d: v for d, v in lim.max_hhi.items() if d != dimension},
                             {d: v for d, v in lim.min_effective_number.items() if d != dimension})
    model, builder = build_model(assets, other)
    build_seconds = time.perf_counter() - t0
    objective = objective_values(assets, other) / model.scale
    codes, _ = factorize_sorted(assets[HHI_DIMENSIONS[dimension]])
    K = tangents.n_values
    g = model.asset_gbv
    present = np.flatnonzero(np.bincount(codes, weights=g, minlength=K) > 0)
    s = scenario.solver
    deadline = t0 + s.time_limit_s
    options = Options(mip_rel_gap=s.mip_rel_gap, time_limit_s=s.time_limit_s, threads=s.threads)
    sessions = {"bound": backend.lp_session(options), "rounding": backend.lp_session(options)}
    tol = HHI_TOLERANCE
    h_row = h * (1.0 + 0.5 * tol)  # the tangents underestimate: their half of the tolerance is the ring's
    h_floor = h_floor if h_floor is not None and h_floor < h else 0.95 * h
    col_T = model.col_T

    def assemble(bound: float) -> tuple[Problem, int, int]:
        base = builder.problem(objective)
        n0, m0 = base.n_cols, base.n_rows
        S0, Q0, n = n0, n0 + K, n0 + 2 * K
        r = np.arange(K)
        D = sp.csr_matrix((np.r_[-g, np.ones(K)], (np.r_[codes, r], np.r_[model.unit_of_asset, S0 + r])), shape=(K, n))
        bound_row = sp.csr_matrix((np.r_[np.ones(K), -bound], (np.zeros(K + 1, dtype=np.int64), np.r_[Q0 + r, col_T])),
                                  shape=(1, n))
        m = len(tangents.k)
        t = np.arange(m)
        cuts = sp.csr_matrix((np.r_[np.ones(m), -2.0 * tangents.a, tangents.a**2],
                              (np.r_[t, t, t], np.r_[Q0 + tangents.k, S0 + tangents.k, np.full(m, col_T)])), shape=(m, n))
        A = sp.vstack([sp.hstack([base.A, sp.csr_matrix((m0, 2 * K))]), D, bound_row, cuts]).tocsr()
        meta = pd.concat([base.rows, pd.DataFrame({"family": ["hhi_exposure"] * K + ["hhi_bound"] + ["hhi_tangent"] * m})],
                         ignore_index=True)
        problem = Problem(np.r_[base.c, np.zeros(2 * K)], A,
                          np.r_[base.row_lower, np.zeros(K), -np.inf, np.zeros(m)],
                          np.r_[base.row_upper, np.zeros(K), 0.0, np.full(m, np.inf)],
                          np.r_[base.col_lower, np.zeros(2 * K)], np.r_[base.col_upper, np.full(2 * K, np.inf)],
                          np.r_[base.integrality, np.zeros(2 * K, dtype=bool)], meta, maximize=True)
        return problem, S0, Q0

    def shares(x: np.ndarray, S0: int) -> tuple[np.ndarray, float]:
        T = float(x[col_T])
        return np.clip(x[S0:S0 + K], 0.0, None) / max(T, 1e-300), T

    lp_rounds = 0

    def converge(bound: float, session: str) -> tuple[Result | None, Problem, int, int]:
        """Tangents (and other dimensions' cone cuts) at the LP's point until its HHI is within tol / 10."""
        nonlocal lp_rounds
        while True:
            problem, S0, Q0 = assemble(bound)
            left = max(deadline - time.perf_counter(), 1.0)
            lp = sessions[session].solve(problem, np.ones(problem.n_cols, dtype=bool), np.zeros(problem.n_cols),
                                         Options(**{**options.__dict__, "time_limit_s": left}))
            if lp.status is not Status.OPTIMAL or lp.x is None:
                return None, problem, S0, Q0
            sh, T = shares(lp.x, S0)
            added = 0
            for dim, cols in model.hhi_cols.items():  # the scenario's HHI limits on other dimensions
                Sd = np.maximum(lp.x[cols], 0.0)
                hd = model.hhi[dim][2]
                if T > 0 and float(np.sum((Sd / T) ** 2)) > hd * (1.0 + 0.1 * tol):
                    added += builder.hhi_cut(dim, hd, Sd, f"LP {lp_rounds + 1}")
            hhi = float(np.sum(sh**2))
            if hhi > bound * (1.0 + 0.1 * tol):
                err = T * sh**2 - lp.x[Q0:Q0 + K]
                refine = np.flatnonzero(err > 0.01 * (hhi - bound) * T / K)
                added += tangents.add(refine, sh[refine])
            if not added or lp_rounds >= MAX_LP_ROUNDS:
                return lp, problem, S0, Q0
            lp_rounds += 1

    lp, problem, S0, Q0 = converge(h_row, "bound")
    if lp is None:
        return None
    sh, _ = shares(lp.x, S0)
    delta = math.sqrt(2.0 * tol * h / max(len(present), 1))
    ring = np.arange(-RING, RING + 1) * delta
    # around the values the LP holds, largest first, at most RING_MAX_ROWS rows (thousands of obligor groups)
    held = present[np.argsort(-sh[present], kind="stable")][: RING_MAX_ROWS // len(ring)]
    held = held[sh[held] > 0]
    tangents.add(np.repeat(held, len(ring)), (sh[held][:, None] + ring[None, :]).ravel())
    best_bound, rounds, step = math.inf, 0, 0
    inward = (0.0, 0.02, 0.08, 0.3)  # the rounding LP's bound: h − f (h − h_floor)
    while True:
        lp, problem, S0, Q0 = converge(h_row, "bound")
        if lp is None:
            return None
        best_bound = min(best_bound, float(lp.objective))
        rounding = lp
        if inward[step] > 0:
            rounding, _, _, _ = converge(h - inward[step] * (h - h_floor), "rounding")
            if rounding is None:
                return None
            problem, S0, Q0 = assemble(h_row)  # the rounding LP may have added tangents: same columns, more rows
        mdl = dataclasses.replace(model, problem=problem, top10=builder.top10)
        left = max(deadline - time.perf_counter(), 1.0)
        result, _ = solve_lp_round(problem, mdl, backend, Options(**{**options.__dict__, "time_limit_s": left}), None,
                                    repair_time_limit=s.polish_time_limit_s, lp=rounding, widen_max_free=REPAIR_MAX_FREE)
        if result.x is None:
            step += 1
            if step >= len(inward) or time.perf_counter() >= deadline:
                return None
            continue
        x = exact_point(mdl, result.x)
        units = x[:model.n_units]
        sel = units[model.unit_of_asset]
        S = np.bincount(codes, weights=g * sel, minlength=K)
        T = float(x[col_T])
        x[S0:S0 + K] = S
        x[Q0:Q0 + K] = tangents.epigraph(S, T)
        act = problem.A @ x
        limit_rows = ~problem.rows["family"].isin(("hhi_exposure", "hhi_bound", "hhi_tangent", "hhi_cut")).to_numpy()
        broken = limit_rows & ((act > problem.row_upper + 1e-9) | (act < problem.row_lower - 1e-9))
        if broken.any() or T <= 0:
            return None  # a limit slipped by the solver's tolerance: select_pool backs it off
        rounds += 1
        changed = False
        missing = top10_missing(mdl, units, builder)
        if len(missing):
            builder.add_top10_groups(missing)
            changed = True
        for dim, Sd in hhi_violations(mdl, units, tol).items():
            changed |= builder.hhi_cut(dim, model.hhi[dim][2], Sd, rounds)
        pool_shares = S / T
        if float(np.sum(pool_shares**2)) > h * (1.0 + tol):
            err = T * pool_shares**2 - x[Q0:Q0 + K]
            k = np.flatnonzero(err > 0)
            changed |= tangents.add(k, pool_shares[k]) > 0
        elif not changed:
            value = float(problem.c @ x)
            if result.info.get("n_free", 0) >= model.n_units and result.info.get("repair_status") == "optimal" \
                    and value > 0:
                # every unit was free: the repair was the whole MILP, solved to the requested gap of its own bound
                best_bound = min(best_bound, value / (1.0 - s.mip_rel_gap))
            gap = max(best_bound - value, 0.0) / abs(best_bound) if abs(best_bound) > 1e-12 else 0.0
            return Selection(
                status=Status.OPTIMAL.value if gap <= s.mip_rel_gap else Status.FEASIBLE.value,
                selected=sel > 0.5, objective_value=value * model.scale, bound=best_bound * model.scale,
                mip_gap=gap, solve_seconds=time.perf_counter() - t0 - build_seconds, build_seconds=build_seconds,
                strategy="lp_round", limits=pd.DataFrame(columns=ROW_COLUMNS), hhi_rounds=rounds - 1,
                message=result.message,
                info={"hhi_lp_rounds": lp_rounds, "tangents": len(tangents.k), "method": "separable",
                      "rounding_inward": inward[step],
                      **{k_: v for k_, v in result.info.items() if k_ in ("n_fractional", "n_free", "repairs")}})
        if not changed or rounds >= MAX_INTEGER_ROUNDS or time.perf_counter() >= deadline:
            return None


# ------------------------------------------------------------------------------------------------- the sweep
def _row(i: int, dimension: str, measure: str, bound_hhi: float, sel: Selection | None, assets: pd.DataFrame,
         column: str, status: str, seconds: float, unconstrained: bool = False, note: str = "") -> dict:
    row = {
        "point": i, "dimension": dimension, "measure": measure, "bound_hhi": bound_hhi,
        "bound_effective_number": 1.0 / bound_hhi if bound_hhi > 0 else math.inf,
        "hhi": math.nan, "effective_number": math.nan, "npv": math.nan, "gbv": math.nan, "n_assets": pd.NA,
        "status": status, "mip_gap": math.nan, "npv_loss": math.nan, "npv_loss_pct": math.nan,
        "unconstrained": unconstrained, "hhi_rounds": pd.NA, "seconds": seconds, "note": note,
    }
    if sel is not None:
        h = _pool_hhi(assets, sel.selected, column)
        row.update({
            "hhi": h, "effective_number": 1.0 / h if h > 0 else math.nan,
            "npv": sel.objective_value if sel.objective_value is not None else math.nan,
            "gbv": float(assets.loc[sel.selected, "gbv"].sum()), "n_assets": int(sel.selected.sum()),
            "mip_gap": sel.mip_gap if sel.mip_gap is not None else math.nan, "hhi_rounds": sel.hhi_rounds,
        })
    return row


def frontier(
    assets: pd.DataFrame,
    scenario: Scenario,
    dimension: str,
    points: int = 8,
    measure: str = "hhi",
    backend: Backend | None = None,
    on_point: Callable[[int, int], None] | None = None,
    *,
    bounds: Sequence[float] | None = None,
    measure_pool: Callable[[np.ndarray], dict] | None = None,
    method: str = "separable",
    tightest_margin: float = TIGHTEST_MARGIN,
) -> pd.DataFrame:
    """Best pool value at ``points`` diversification bounds on ``dimension``, loosest (the scenario's own optimum)
    first; one row per point (columns :data:`FRONTIER_COLUMNS`).

    ``measure`` is ``hhi`` (bounds are ``max_hhi``) or ``effective_number`` (bounds are ``min_effective_number``,
    evenly spaced in N). ``bounds`` (in the measure's unit) replaces the automatic grid; the unconstrained point is
    then prepended. ``on_point(done, total)`` is called after each point. ``measure_pool(selected)`` (a boolean
    mask over ``assets``), when given, is called once per point with a pool and returns more columns for its row
    (the pipeline sizes each pool's senior this way: selection does not know the structure). ``npv`` is the scenario's objective
    (stressed npv when ``pool.objective`` says so), in CNY. ``table.attrs`` holds ``hhi_free``, ``hhi_min``,
    ``hhi_lower_bound`` (certified, from the LP relaxation), ``hhi_tightest``, ``lp_rounds`` and timings.
    ``method`` is ``separable`` (each bounded point by :func:`_bounded_selection`) or ``select_pool`` (each by
    :func:`~pooling.selection.model.select_pool`'s cone cuts: the frontier before, kept as the benchmark's
    baseline); ``tightest_margin`` places the tightest automatic point at ``hhi_min * (1 + tightest_margin)``.

    Raises :class:`~pooling.errors.Infeasible` / :class:`~pooling.errors.NoIncumbent` only when the scenario
    itself has no pool; points that cannot be met are recorded with status ``infeasible``.
    """
    if dimension not in HHI_DIMENSIONS:
        raise InputError(f"unknown frontier dimension {dimension!r}; expected one of {list(HHI_DIMENSIONS)}")
    if measure not in MEASURES:
        raise InputError(f"unknown frontier measure {measure!r}; expected one of {list(MEASURES)}")
    if method not in METHODS:
        raise InputError(f"unknown frontier method {method!r}; expected one of {list(METHODS)}")
    if bounds is None and points < 1:
        raise InputError(f"points must be at least 1, got {points}")
    column = HHI_DIMENSIONS[dimension]
    backend = backend or get_backend(scenario.solver.backend, scenario.solver.pyomo_solver)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    free = select_pool(assets, scenario, backend=backend)
    seconds["unconstrained"] = time.perf_counter() - t
    h_free = _pool_hhi(assets, free.selected, column)
    npv_free = free.objective_value

    attrs: dict = {"dimension": dimension, "measure": measure, "hhi_free": h_free}
    codes, _ = factorize_sorted(assets[column])
    tangents = _Tangents(int(codes.max()) + 1 if len(codes) else 0)
    gbv = assets["gbv"].to_numpy(dtype=float)
    S_free = np.bincount(codes[free.selected], weights=gbv[free.selected], minlength=tangents.n_values)
    if S_free.sum() > 0:
        tangents.add(np.arange(tangents.n_values), S_free / S_free.sum())
    if bounds is None:
        bound = min_hhi_bound(assets, scenario, dimension, backend=backend)
        if np.isfinite(bound["shares"]).all():
            tangents.add(np.arange(tangents.n_values), bound["shares"])
        seconds["min_hhi"] = bound["seconds"]
        # the fractional pool's HHI; if no LP solved (time limit, error), the trivial bound 1/(values on offer)
        h_min = min(bound["upper"] if bound["upper"] < 1.0 else bound["lower"], h_free)
        attrs.update({"hhi_min": h_min, "hhi_lower_bound": min(bound["lower"], h_min), "lp_rounds": bound["rounds"],
                      "lp_status": bound["status"]})
        # the tightest point sits a little inside the relaxation's minimum: there the fractional pool is (nearly)
        # the only pool, and whole assets need some room (docs/frontier.md, "The tightest point")
        h_end = min(h_min * (1.0 + tightest_margin), h_free)
        attrs["hhi_tightest"] = h_end
        if measure == "hhi":
            grid = np.linspace(h_free, h_end, points)
        else:
            grid = np.linspace(1.0 / h_free, 1.0 / h_end, points)
        grid_hhi = grid if measure == "hhi" else 1.0 / grid
        plan = [(float(h), i == 0) for i, h in enumerate(grid_hhi)]
    else:
        values = [float(b) for b in bounds]
        valid = [0.0 < b <= 1.0 if measure == "hhi" else b >= 1.0 for b in values]
        if not all(valid):
            expected = "in (0, 1]" if measure == "hhi" else "at least 1"
            raise InputError(f"frontier bounds for measure {measure} must be {expected}; got {values}")
        plan = [(h_free, True)] + [(b if measure == "hhi" else 1.0 / b, False) for b in values]
    total = len(plan)

    rows: list[dict] = []
    t_sweep = time.perf_counter()
    # tangent cuts on the HHI hold for every pool whatever the bound, so each point starts from the cut directions
    # the points before it found (a tighter bound then needs fewer LP rounds)
    seed: dict[str, list[dict[str, float]]] = {d: list(v) for d, v in free.hhi_cuts.items()}
    sels: list[Selection | None] = [None] * total
    for i, (h, is_free) in enumerate(plan):
        t = time.perf_counter()
        if is_free:
            rows.append(_row(i, dimension, measure, h, free, assets, column, free.status, seconds["unconstrained"],
                             unconstrained=True, note="the scenario's own optimum"))
        else:
            bound_value = h if measure == "hhi" else 1.0 / h
            try:
                bounded = _bounded(scenario, dimension, measure, bound_value)
                sel = None
                if method == "separable":
                    sel = _bounded_selection(assets, bounded, dimension, _bound_hhi(bounded, dimension), backend,
                                             tangents, h_floor=attrs.get("hhi_lower_bound"))
                if sel is None:
                    sel = select_pool(assets, bounded, backend=backend, hhi_seed=seed or None)
                for d, cuts in sel.hhi_cuts.items():
                    known = seed.setdefault(d, [])
                    known.extend(c for c in cuts if c not in known)
                rows.append(_row(i, dimension, measure, h, sel, assets, column, sel.status, time.perf_counter() - t))
                sels[i] = sel
            except Infeasible as err:
                note = "; ".join(err.conflicts) if err.conflicts else str(err).splitlines()[0]
                rows.append(_row(i, dimension, measure, h, None, assets, column, "infeasible",
                                 time.perf_counter() - t, note=note))
            except NoIncumbent as err:
                rows.append(_row(i, dimension, measure, h, None, assets, column, "no_incumbent",
                                 time.perf_counter() - t, note=str(err).splitlines()[0]))
        if measure_pool is not None:
            sel = free if is_free else (sel if rows[-1]["status"] not in ("infeasible", "no_incumbent") else None)
            extra = measure_pool(sel.selected) if sel is not None else {}
            rows[-1].update(extra)
        if on_point is not None:
            on_point(i + 1, total)
    # a pool meeting a tighter bound meets every looser one: where a looser point's own search ended below a
    # tighter point's pool (within its gap), it takes that pool, so the curve never rises as the bound tightens
    for i in range(total - 2, -1, -1):
        better, own = sels[i + 1], sels[i]
        if plan[i][1] or better is None or own is None or better.objective_value is None \
                or own.objective_value is None or better.objective_value <= own.objective_value:
            continue
        sels[i] = better
        kept = {k: rows[i][k] for k in ("hhi_rounds", "seconds")}
        rows[i] = _row(i, dimension, measure, plan[i][0], better, assets, column, better.status, kept["seconds"],
                       note=f"the pool of point {i + 1} (worth more than this point's own search found)")
        rows[i]["hhi_rounds"] = kept["hhi_rounds"]
        if own.bound is not None and own.bound > 0:
            gap = max(own.bound - better.objective_value, 0.0) / own.bound
            rows[i]["mip_gap"] = gap
            rows[i]["status"] = Status.OPTIMAL.value if gap <= scenario.solver.mip_rel_gap else Status.FEASIBLE.value
        if measure_pool is not None:
            rows[i].update(measure_pool(better.selected))
    seconds["sweep"] = time.perf_counter() - t_sweep

    extra_columns = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in FRONTIER_COLUMNS]
    table = pd.DataFrame(rows, columns=[*FRONTIER_COLUMNS[:-1], *extra_columns, FRONTIER_COLUMNS[-1]])
    table["n_assets"] = table["n_assets"].astype("Int64")
    table["hhi_rounds"] = table["hhi_rounds"].astype("Int64")
    if npv_free is not None:
        table["npv_loss"] = npv_free - table["npv"]
        table["npv_loss_pct"] = 100.0 * table["npv_loss"] / abs(npv_free) if npv_free else math.nan
    attrs["npv_free"] = npv_free
    attrs["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    table.attrs.update(attrs)
    return table


# ------------------------------------------------------------------------------------------------- outputs
def write_frontier(out_dir: Path, table: pd.DataFrame, html: str) -> list[Path]:
    """Write frontier.csv and frontier.html (the page :func:`pooling.report.frontier.frontier_chart` renders) into
    ``out_dir`` atomically; return their paths."""
    out_dir = Path(out_dir)
    csv_path = write_csv(table, out_dir / "frontier.csv")
    html_path = write_atomic(out_dir / "frontier.html", lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return [csv_path, html_path]
