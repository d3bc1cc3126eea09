"""Pyomo: a ConcreteModel built from the same canonical arrays, solved by any Pyomo solver (default appsi_highs).

Rows are added as ``LinearExpression`` objects straight from the CSR slices (no operator overloading per term),
which keeps the build linear in the number of non-zeros.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.opt import TerminationCondition as TC

from solvers.base import Backend, Capabilities
from solvers.problem import Options, Problem, Result, Status

_STATUS = {
    TC.optimal: Status.OPTIMAL,
    TC.locallyOptimal: Status.OPTIMAL,
    TC.globallyOptimal: Status.OPTIMAL,
    TC.infeasible: Status.INFEASIBLE,
    TC.infeasibleOrUnbounded: Status.INFEASIBLE,
    TC.unbounded: Status.UNBOUNDED,
    TC.maxTimeLimit: Status.TIME_LIMIT,
    TC.maxIterations: Status.TIME_LIMIT,
    TC.userInterrupt: Status.INTERRUPTED,
}


def build_model(problem: Problem, integer: bool = True) -> pyo.ConcreteModel:
    """A Pyomo ConcreteModel of ``problem``: ``x[j]`` variables, ``rows[i]`` constraints, ``obj`` objective."""
    m = pyo.ConcreteModel()
    n = problem.n_cols
    lo = np.where(np.isfinite(problem.col_lower), problem.col_lower, np.nan)
    up = np.where(np.isfinite(problem.col_upper), problem.col_upper, np.nan)
    m.J = pyo.RangeSet(0, n - 1)
    is_int = problem.integrality if integer else np.zeros(n, dtype=bool)

    def _bounds(_m, j):
        return (None if np.isnan(lo[j]) else float(lo[j]), None if np.isnan(up[j]) else float(up[j]))

    def _domain(_m, j):
        return pyo.Integers if is_int[j] else pyo.Reals

    m.x = pyo.Var(m.J, bounds=_bounds, domain=_domain)
    xs = [m.x[j] for j in range(n)]
    A = problem.A.tocsr()
    m.rows = pyo.ConstraintList()
    for i in range(problem.n_rows):
        start, end = A.indptr[i], A.indptr[i + 1]
        expr = LinearExpression(
            constant=0.0, linear_coefs=A.data[start:end].tolist(), linear_vars=[xs[j] for j in A.indices[start:end]]
        )
        rl, ru = problem.row_lower[i], problem.row_upper[i]
        m.rows.add(pyo.inequality(float(rl) if np.isfinite(rl) else None, expr, float(ru) if np.isfinite(ru) else None))
    nz = np.flatnonzero(problem.c)
    m.obj = pyo.Objective(
        expr=LinearExpression(constant=float(problem.offset), linear_coefs=problem.c[nz].tolist(), linear_vars=[xs[j] for j in nz]),
        sense=pyo.maximize if problem.maximize else pyo.minimize,
    )
    return m


class PyomoBackend(Backend):
    """Any Pyomo solver by name; appsi_highs by default."""

    name = "pyomo"
    capabilities = Capabilities(mip=True, lp_duals=True, iis=False, warm_start=False)

    def __init__(self, solver: str = "appsi_highs"):
        self.solver = solver

    def _options(self, opt, options: Options) -> None:
        if self.solver.endswith("highs"):
            opt.config.time_limit = options.time_limit_s
            opt.config.mip_gap = options.mip_rel_gap
            opt.highs_options.update({"threads": options.threads, "mip_abs_gap": options.mip_abs_gap})
            if options.mip_max_nodes is not None:
                opt.highs_options["mip_max_nodes"] = int(options.mip_max_nodes)
            if not options.mip_improvement_heuristics:
                opt.highs_options.update({"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False})
        else:  # best effort for other solvers' common option names
            for key, value in (("mipgap", options.mip_rel_gap), ("timelimit", options.time_limit_s)):
                # some solver plugins reject unknown options at set time
                with contextlib.suppress(Exception):
                    opt.options[key] = value

    def solve(
        self,
        problem: Problem,
        options: Options | None = None,
        start: np.ndarray | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> Result:
        options = options or Options()
        t0 = time.perf_counter()
        m = build_model(problem)
        if not problem.is_mip:
            m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
        opt = pyo.SolverFactory(self.solver)
        if not opt.available(exception_flag=False):
            return Result(Status.ERROR, message=f"Pyomo solver {self.solver!r} is not available")
        self._options(opt, options)
        try:
            res = opt.solve(m, load_solutions=False)
        except Exception as e:  # solver plugins raise assorted errors; report, don't crash
            return Result(Status.ERROR, seconds=time.perf_counter() - t0, message=f"{type(e).__name__}: {e}")
        tc = res.solver.termination_condition
        status = _STATUS.get(tc, Status.ERROR)
        result = Result(status=status, seconds=time.perf_counter() - t0, message=str(tc))
        try:
            if hasattr(res, "solution_loader"):
                res.solution_loader.load_vars()
            else:
                m.solutions.load_from(res)
            x = np.array([pyo.value(m.x[j], exception=False) for j in range(problem.n_cols)], dtype=float)
            if np.all(np.isfinite(x)):
                result.x = x
                result.objective = problem.objective(x)
        except Exception:  # no solution to load (infeasible, or stopped before an incumbent)
            result.x = None
        if problem.is_mip:
            bound = getattr(res.problem, "upper_bound" if problem.maximize else "lower_bound", None)
            if bound is not None and np.isfinite(float(bound)):
                result.bound = float(bound)
            if result.objective is not None and result.bound is not None:
                result.mip_gap = abs(result.bound - result.objective) / max(abs(result.objective), 1e-10)
        elif status is Status.OPTIMAL:
            result.bound, result.mip_gap = result.objective, 0.0
            try:
                if hasattr(res, "solution_loader"):
                    duals = res.solution_loader.get_duals()
                    result.row_duals = np.array([duals.get(m.rows[i + 1], 0.0) for i in range(problem.n_rows)])
                else:
                    result.row_duals = np.array([m.dual.get(m.rows[i + 1], 0.0) for i in range(problem.n_rows)])
            except Exception:  # duals unsupported by this solver
                result.row_duals = None
        return result
