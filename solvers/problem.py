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

    def violations(self, x: np.ndarray, tol: float = 1e-7) -> pd.DataFrame:
        """Rows whose activity ``A x`` lies outside its bounds by more than ``tol`` (scaled units)."""
        act = self.A @ x
        over = act - self.row_upper
        under = self.row_lower - act
        bad = (over > tol) | (under > tol)
        return self.rows.assign(activity=act, lower=self.row_lower, upper=self.row_upper)[bad]


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
    #: "ipm" (interior point, then crossover to a vertex: ~4× faster on million-column LPs)
    lp_algorithm: str = "auto"


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
