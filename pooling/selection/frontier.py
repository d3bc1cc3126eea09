r"""The npv-versus-diversification frontier (DESIGN §5 "Frontier").

How much pool value does diversification cost? For one dimension (province, industry, …) this sweeps a bound on
its HHI :math:`\sum_k s_k^2` (or, equivalently, on its effective number :math:`N = 1/\mathrm{HHI}`) from the
scenario's own optimum to the most diversified pool the other limits allow, and records the best pool at each
bound. Every point is an ordinary :func:`~pooling.selection.model.select_pool` run (the scenario's solver, gap and time
limit, its other limits untouched); only ``pool.limits.max_hhi[dimension]`` (or ``min_effective_number``) changes.

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
3. **Sweep.** ``points`` bounds evenly spaced (inclusive) between :math:`h_\text{free}` and :math:`h_\text{min}`
   — in HHI, or in effective number with ``measure="effective_number"``. A bound is merged with the scenario's own
   limit on the dimension, keeping the tighter. With many assets a whole-asset pool gets within a hair of the
   relaxation's minimum; with few, the tightest points may be unreachable: they are recorded with status
   ``infeasible`` (and NaN values), never raised.

The tangent cuts that impose an HHI bound inside the MILP are described in docs/formulation.md; docs/frontier.md
explains how to read the table and the chart, which :mod:`pooling.report.frontier` draws.
"""

from __future__ import annotations

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
    Selection,
    SelectionModel,
    build_model,
    factorize_sorted,
    select_pool,
)
from pooling.tapes.describe import hhi as _hhi
from solvers import Backend, Options, Problem, Status, get_backend

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
            "seconds": time.perf_counter() - t0}


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
) -> pd.DataFrame:
    """Best pool value at ``points`` diversification bounds on ``dimension``, loosest (the scenario's own optimum)
    first; one row per point (columns :data:`FRONTIER_COLUMNS`).

    ``measure`` is ``hhi`` (bounds are ``max_hhi``) or ``effective_number`` (bounds are ``min_effective_number``,
    evenly spaced in N). ``bounds`` (in the measure's unit) replaces the automatic grid; the unconstrained point is
    then prepended. ``on_point(done, total)`` is called after each point. ``measure_pool(selected)`` (a boolean
    mask over ``assets``), when given, is called once per point with a pool and returns more columns for its row
    (the pipeline sizes each pool's senior this way: selection does not know the structure). ``npv`` is the scenario's objective
    (stressed npv when ``pool.objective`` says so), in CNY. ``table.attrs`` holds ``hhi_free``, ``hhi_min``,
    ``hhi_lower_bound`` (certified, from the LP relaxation), ``lp_rounds`` and timings.

    Raises :class:`~pooling.errors.Infeasible` / :class:`~pooling.errors.NoIncumbent` only when the scenario
    itself has no pool; points that cannot be met are recorded with status ``infeasible``.
    """
    if dimension not in HHI_DIMENSIONS:
        raise InputError(f"unknown frontier dimension {dimension!r}; expected one of {list(HHI_DIMENSIONS)}")
    if measure not in MEASURES:
        raise InputError(f"unknown frontier measure {measure!r}; expected one of {list(MEASURES)}")
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
    if bounds is None:
        bound = min_hhi_bound(assets, scenario, dimension, backend=backend)
        seconds["min_hhi"] = bound["seconds"]
        # the fractional pool's HHI; if no LP solved (time limit, error), the trivial bound 1/(values on offer)
        h_min = min(bound["upper"] if bound["upper"] < 1.0 else bound["lower"], h_free)
        attrs.update({"hhi_min": h_min, "hhi_lower_bound": min(bound["lower"], h_min), "lp_rounds": bound["rounds"],
                      "lp_status": bound["status"]})
        if measure == "hhi":
            grid = np.linspace(h_free, h_min, points)
        else:
            grid = np.linspace(1.0 / h_free, 1.0 / h_min, points)
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
    for i, (h, is_free) in enumerate(plan):
        t = time.perf_counter()
        if is_free:
            rows.append(_row(i, dimension, measure, h, free, assets, column, free.status, seconds["unconstrained"],
                             unconstrained=True, note="the scenario's own optimum"))
        else:
            bound_value = h if measure == "hhi" else 1.0 / h
            try:
                sel = select_pool(assets, _bounded(scenario, dimension, measure, bound_value), backend=backend,
                                  hhi_seed=seed or None)
                for d, cuts in sel.hhi_cuts.items():
                    known = seed.setdefault(d, [])
                    known.extend(c for c in cuts if c not in known)
                rows.append(_row(i, dimension, measure, h, sel, assets, column, sel.status, time.perf_counter() - t))
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
