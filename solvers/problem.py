"""A solver-neutral sparse linear (integer) problem and the result of solving it.

The problem is

.. math::

    \\text{max or min}\\; c^\\top x + c_0 \\quad \\text{s.t.}\\quad r^L \\le A x \\le r^U,\\;
    x^L \\le x \\le x^U,\\; x_j \\in \\mathbb{Z} \\text{ for } j \\in I

with ``A`` in CSR form. Each row carries metadata (a family, a key and a human name) so that a result —
a binding row, a dual, an irreducible infeasible subset — maps back to a named limit. This module knows nothing
about what the rows mean.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp


class Status(enum.StrEnum):
    """Outcome of a solve. ``time_limit`` and ``interrupted`` may still carry a feasible ``x``."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # a feasible point whose certified gap is above the requested one
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INTERRUPTED = "interrupted"
    ERROR = "error"


@dataclass(frozen=True)
class Problem:
    """Arrays of one linear problem; ``rows`` has one metadata row (family, key, name) per constraint."""

    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray  # bool per column
    rows: pd.DataFrame
    maximize: bool = True
    offset: float = 0.0

    def __post_init__(self) -> None:
        m, n = self.A.shape
        for name, arr, size in (
            ("c", self.c, n), ("col_lower", self.col_lower, n), ("col_upper", self.col_upper, n),
            ("integrality", self.integrality, n), ("row_lower", self.row_lower, m), ("row_upper", self.row_upper, m),
        ):
            if len(arr) != size:
                raise ValueError(f"{name} has length {len(arr)}, expected {size}")
        if len(self.rows) != m:
            raise ValueError(f"rows metadata has {len(self.rows)} rows, A has {m}")

    @property
    def n_cols(self) -> int:
        return self.A.shape[1]

    @property
    def n_rows(self) -> int:
        return self.A.shape[0]

    @property
    def is_mip(self) -> bool:
        return bool(np.any(self.integrality))

    def relaxed(self) -> Problem:
        """The LP relaxation (integrality dropped)."""
        return Problem(
            self.c, self.A, self.row_lower, self.row_upper, self.col_lower, self.col_upper,
            np.zeros(self.n_cols, dtype=bool), self.rows, self.maximize, self.offset,
        )

    def with_column_bounds(self, col_lower: np.ndarray, col_upper: np.ndarray) -> Problem:
        """The same problem with other column bounds (e.g. some columns fixed)."""
        return Problem(self.c, self.A, self.row_lower, self.row_upper, col_lower, col_upper, self.integrality,
                       self.rows, self.maximize, self.offset)

    def objective(self, x: np.ndarray) -> float:
        return float(self.c @ x + self.offset)

    def without_fixed(self, fixed: np.ndarray, values: np.ndarray, drop_rows: np.ndarray | None = None) -> Restriction:
        """The problem over the columns not ``fixed``, the fixed ones (at ``values``) moved into the row bounds:
        :math:`r^L - A_F v_F \\le A_R x_R \\le r^U - A_F v_F`. Rows left without a column are dropped (and reported
        in :attr:`Restriction.broken` when the fixed values break them), as are the rows in ``drop_rows``."""
        fixed = np.asarray(fixed, dtype=bool)
        vals = np.where(fixed, np.asarray(values, dtype=float), 0.0)
        keep = np.flatnonzero(~fixed)
        shift = self.A @ vals
        rl, ru = self.row_lower - shift, self.row_upper - shift
        Ak = self.A.tocsc()[:, keep].tocsr()
        live = np.diff(Ak.indptr) > 0
        tol = 1e-9
        broken = np.flatnonzero(~live & ((rl > tol) | (ru < -tol)))
        if drop_rows is not None:
            live &= ~np.asarray(drop_rows, dtype=bool)
        rows = np.flatnonzero(live)
        sub = Problem(self.c[keep], Ak[rows], rl[rows], ru[rows], self.col_lower[keep], self.col_upper[keep],
                      self.integrality[keep], self.rows.iloc[rows].reset_index(drop=True), self.maximize,
                      self.offset + float(self.c @ vals))
        return Restriction(sub, keep, rows, vals, broken)

    def reduced_costs(self, row_duals: np.ndarray) -> np.ndarray:
        """:math:`d = c - A^\\top y` for row duals ``y`` (HiGHS's sign convention: at an optimum of a maximisation a
        column at its upper bound has d ≥ 0, at its lower bound d ≤ 0)."""
        return self.c - self.A.T @ np.asarray(row_duals, dtype=float)

    def valid_duals(self, row_duals: np.ndarray) -> np.ndarray:
        """``row_duals`` with each sign a finite row bound cannot support set to 0 (maximisation: y > 0 prices an
        upper bound, y < 0 a lower one), so that :meth:`lagrangian_bound` stays finite."""
        y = np.asarray(row_duals, dtype=float).copy()
        up, down = (y > 0, y < 0) if self.maximize else (y < 0, y > 0)
        y[up & ~np.isfinite(self.row_upper)] = 0.0
        y[down & ~np.isfinite(self.row_lower)] = 0.0
        return y

    def lagrangian_bound(self, row_duals: np.ndarray, dual_tol: float = 1e-9) -> float:
        """A bound on the LP optimum (so on the MILP optimum) from any row duals ``y``: for a maximisation

        .. math:: \\max_{x^L \\le x \\le x^U} (c - A^\\top y)^\\top x
                  + \\sum_{y_i > 0} y_i r^U_i + \\sum_{y_i < 0} y_i r^L_i + c_0 \\;\\ge\\; c^\\top x^* + c_0

        (weak duality; a minimisation gets the mirror image, a lower bound). ``y`` is first cleaned by
        :meth:`valid_duals`. A column whose reduced cost points to an infinite bound makes the bound infinite,
        unless that reduced cost is within ``dual_tol`` of 0 (solver rounding on a basic column), when it adds 0.
        """
        sign = 1.0 if self.maximize else -1.0  # a minimisation as the maximisation of −c, whose duals are −y
        y = self.valid_duals(row_duals)
        ys = sign * y
        d = sign * self.reduced_costs(y)
        at = np.where(d > 0, self.col_upper, self.col_lower)  # the box's maximiser of d_j x_j
        with np.errstate(invalid="ignore"):
            cols = np.where(np.abs(d) <= dual_tol, np.where(np.isfinite(at), d * at, 0.0), d * at)
            rows = np.where(ys > 0, ys * self.row_upper, np.where(ys < 0, ys * self.row_lower, 0.0))
        total = float(np.sum(cols) + np.sum(rows))
        if np.isnan(total):
            total = math.inf
        return sign * total + self.offset

    def violations(self, x: np.ndarray, tol: float = 1e-7) -> pd.DataFrame:
        """Rows whose activity ``A x`` lies outside its bounds by more than ``tol`` (scaled units)."""
        act = self.A @ x
        over = act - self.row_upper
        under = self.row_lower - act
        bad = (over > tol) | (under > tol)
        return self.rows.assign(activity=act, lower=self.row_lower, upper=self.row_upper)[bad]


@dataclass(frozen=True)
class Restriction:
    """A problem with some columns fixed and moved into the row bounds (:meth:`Problem.without_fixed`), and the
    maps back to the original."""

    problem: Problem
    columns: np.ndarray  # original index of each column of ``problem``
    rows: np.ndarray  # original index of each row of ``problem``
    values: np.ndarray  # the original's x with the fixed columns at their values, the others 0
    broken: np.ndarray  # original rows left without a column whose bounds the fixed values break

    def expand(self, x: np.ndarray) -> np.ndarray:
        """The original's x from the restricted problem's."""
        out = self.values.copy()
        out[self.columns] = x
        return out

    def expand_duals(self, row_duals: np.ndarray, n_rows: int) -> np.ndarray:
        """Row duals of the original: the restricted problem's, 0 on the dropped rows."""
        out = np.zeros(n_rows)
        out[self.rows] = row_duals
        return out


@dataclass(frozen=True)
class Options:
    """Backend-neutral solve options."""

    mip_rel_gap: float = 1e-4
    #: absolute gap at which a MILP may stop (objective units); 0: only ``mip_rel_gap`` decides (HiGHS's own
    #: default is 1e-6). Solvers still prune by their feasibility tolerances, so callers recompute the gap.
    mip_abs_gap: float = 0.0
    time_limit_s: float = 600.0
    #: deterministic work limit of a MILP: branch-and-bound nodes (None: no limit). Unlike a time limit, a solve
    #: stopped by it gives the same answer on any machine at any load.
    mip_max_nodes: int | None = None
    threads: int = 1
    verbose: bool = False
    primal_feasibility_tolerance: float = 1e-7
    mip_feasibility_tolerance: float = 1e-6
    #: LP algorithm for problems without integer columns: "auto" (the solver's choice, simplex in HiGHS) or
    #: "ipm" (interior point, then crossover to a vertex: ~4× faster on million-column LPs), or "ipm_nox"
    #: (interior point without crossover: duals for pricing, no vertex, no basis)
    lp_algorithm: str = "auto"
    #: the solver's presolve on LPs solved by simplex (``lp_algorithm: auto``); interior point and MILPs always keep
    #: the solver's own choice. :func:`~pooling.selection.model.select_pool` turns it off for the LP relaxations of
    #: pools below ``solver.large_pool_units`` (see ``_Run``); elsewhere it stays on — the frontier's separable
    #: tangent LPs took twice as long without it, the core method's restricted LPs on 1M assets 20% longer.
    lp_presolve: bool = True
    #: the MILP's sub-MIP improvement heuristics (HiGHS's RINS and RENS). The selection's exact stage turns them off
    #: when its start is already near the requested gap (they re-solved sub-MIPs at the root for 5 of 6 s on a
    #: 3,279-binary coalition of the 8-AMC benchmark; the bound is what is missing) and when its node limit is cut
    #: to a short polish limit (sub-MIPs are not counted as nodes)
    mip_improvement_heuristics: bool = True


@dataclass
class Result:
    """What a solve returns; it never raises for infeasible or stopped problems."""

    status: Status
    x: np.ndarray | None = None
    objective: float | None = None
    bound: float | None = None
    mip_gap: float | None = None
    row_duals: np.ndarray | None = None
    col_duals: np.ndarray | None = None  # reduced costs of an LP solve
    seconds: float = 0.0
    message: str = ""
    info: dict = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.x is not None
