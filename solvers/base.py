"""The one narrow interface every backend implements."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solvers.problem import Options, Problem, Result, Status


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond solving an LP."""

    mip: bool = True
    lp_duals: bool = False
    iis: bool = False
    warm_start: bool = False


class Backend(abc.ABC):
    """Solve a :class:`~solvers.problem.Problem`; return a :class:`~solvers.problem.Result`, never raise on
    infeasible or stopped solves."""

    name: str = "abstract"
    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    def solve(
        self,
        problem: Problem,
        options: Options | None = None,
        start: np.ndarray | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> Result:
        """Solve ``problem``; ``start`` is an optional feasible point for warm-starting a MIP."""

    def iis(self, problem: Problem, options: Options | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, columns) of an irreducible infeasible subset of the LP relaxation, or None when unsupported."""
        return None

    def feasibility_relaxation(
        self,
        problem: Problem,
        options: Options | None = None,
        col_penalty: np.ndarray | None = None,
        row_penalty: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(column, row) violations of a minimal feasibility relaxation, or None when unsupported."""
        return None

    def lp_session(self, options: Options | None = None) -> LpSession:
        """A session that solves LP relaxations of one growing problem with some columns fixed
        (:class:`LpSession`); backends that can keep a model and its basis between solves return a warm one."""
        return LpSession(self, options or Options())


class LpSession:
    """LP relaxations of one problem that grows (rows and columns appended, bounds changed) with some columns fixed.

    :meth:`solve` takes the whole problem, which columns are free and the values of the others, and returns a
    :class:`~solvers.problem.Result` for the whole problem: ``x`` with the fixed values in place, ``row_duals`` for
    every row (0 on rows the restriction dropped), ``col_duals`` = the reduced costs c − Aᵀy of *every* column
    (fixed ones included: what pricing needs), ``objective`` = cᵀx + c₀. This base version solves each restriction
    from scratch (:meth:`Problem.without_fixed`); :class:`solvers.highs_backend.HighsLpSession` keeps one model
    and its basis.
    """

    def __init__(self, backend: Backend, options: Options):
        self.backend = backend
        self.options = options
        self.stats = {"solves": 0, "cold_starts": 0, "lp_seconds": 0.0}

    def solve(self, problem: Problem, free: np.ndarray, values: np.ndarray, options: Options | None = None) -> Result:
        reduced = problem.relaxed().without_fixed(~np.asarray(free, dtype=bool), values)
        if len(reduced.broken):
            return Result(Status.INFEASIBLE, message="fixed columns break a row")
        res = self.backend.solve(reduced.problem, options or self.options)
        self.stats["solves"] += 1
        self.stats["cold_starts"] += 1
        self.stats["lp_seconds"] += res.seconds
        if res.x is None:
            return res
        return complete(problem, reduced.expand(res.x), None if res.row_duals is None else
                        reduced.expand_duals(res.row_duals, problem.n_rows), res)


    def infeasibility_ray(self) -> tuple[np.ndarray, float] | None:
        """After an infeasible :meth:`solve`: a Farkas ray over the rows and its gap (see
        :meth:`solvers.highs_backend.HighsLpSession.infeasibility_ray`), or None when the backend has none."""
        return None


def complete(problem: Problem, x: np.ndarray, row_duals: np.ndarray | None, res: Result) -> Result:
    """``res`` restated for the whole ``problem``: its x, objective, row duals and every column's reduced cost."""
    res.x = x
    res.objective = problem.objective(x)
    if row_duals is not None:
        res.row_duals = row_duals
        res.col_duals = problem.reduced_costs(row_duals)
    if res.status is Status.OPTIMAL:
        res.bound = res.objective
    return res
