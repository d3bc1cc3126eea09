"""HiGHS through highspy: numpy arrays straight into ``HighsLp`` — the fast path."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import highspy
import numpy as np

from solvers.base import Backend, Capabilities, LpSession, complete
from solvers.problem import Options, Problem, Result, Status

if TYPE_CHECKING:
    import scipy.sparse as sp

_STATUS = {
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: Status.UNBOUNDED,
    highspy.HighsModelStatus.kTimeLimit: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kSolutionLimit: Status.FEASIBLE,  # a node / solution limit: a work limit, not time
    highspy.HighsModelStatus.kInterrupt: Status.INTERRUPTED,
    highspy.HighsModelStatus.kHighsInterrupt: Status.INTERRUPTED,
    highspy.HighsModelStatus.kObjectiveBound: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kObjectiveTarget: Status.TIME_LIMIT,
}


#: dual feasibility tolerance of :class:`HighsLpSession` (HiGHS's default: 1e-7)
DUAL_TOL = 1e-9


def _silence_banner() -> None:
    """HiGHS prints a banner on stdout at the first ``Highs()`` of a process, before any option can be set;
    construct that first instance with file descriptor 1 pointed at /dev/null so CLI output stays clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


with contextlib.suppress(OSError):  # no usable stdout descriptor (embedded interpreters): the banner is harmless
    _silence_banner()


def _lp(problem: Problem, integer: bool = True, cols: np.ndarray | None = None,
        columns: sp.csc_matrix | None = None) -> highspy.HighsLp:
    """``problem`` as a HighsLp (row-wise); with ``cols``, only those columns, column-wise from ``columns`` (``A``
    in CSC form, kept by the caller) — the core method's LP session over its free columns."""
    lp = highspy.HighsLp()
    if cols is None:
        A, n, fmt, pick = problem.A.tocsr(), problem.n_cols, highspy.MatrixFormat.kRowwise, slice(None)
    else:
        A, n, fmt, pick = columns[:, cols], len(cols), highspy.MatrixFormat.kColwise, cols
    lp.num_col_ = n
    lp.num_row_ = problem.n_rows
    lp.col_cost_ = np.asarray(problem.c[pick], dtype=float)
    lp.col_lower_ = np.asarray(problem.col_lower[pick], dtype=float)
    lp.col_upper_ = np.asarray(problem.col_upper[pick], dtype=float)
    lp.row_lower_ = np.asarray(problem.row_lower, dtype=float)
    lp.row_upper_ = np.asarray(problem.row_upper, dtype=float)
    lp.offset_ = float(problem.offset)
    lp.sense_ = highspy.ObjSense.kMaximize if problem.maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = fmt
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = problem.n_rows
    if integer and problem.is_mip:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in problem.integrality[pick]
        ]
    return lp


def _simplex_without_presolve(options: Options) -> bool:
    """Whether an LP solved with ``options`` runs HiGHS's simplex with its presolve off (:attr:`Options.lp_presolve`;
    MILPs and interior point keep the solver's choice)."""
    return options.lp_algorithm == "auto" and not options.lp_presolve


class HighsBackend(Backend):
    """HiGHS via highspy. Supports MIP, LP duals, IIS and feasibility relaxation."""

    name = "highs"
    capabilities = Capabilities(mip=True, lp_duals=True, iis=True, warm_start=True)

    def _highs(self, options: Options) -> highspy.Highs:
        h = highspy.Highs()
        h.setOptionValue("output_flag", bool(options.verbose))
        h.setOptionValue("log_to_console", bool(options.verbose))
        h.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
        h.setOptionValue("mip_abs_gap", float(options.mip_abs_gap))
        h.setOptionValue("time_limit", float(options.time_limit_s))
        h.setOptionValue("threads", int(options.threads))
        if options.mip_max_nodes is not None:
            h.setOptionValue("mip_max_nodes", int(options.mip_max_nodes))
        if not options.mip_improvement_heuristics:
            h.setOptionValue("mip_heuristic_run_rins", False)
            h.setOptionValue("mip_heuristic_run_rens", False)
        h.setOptionValue("primal_feasibility_tolerance", float(options.primal_feasibility_tolerance))
        h.setOptionValue("mip_feasibility_tolerance", float(options.mip_feasibility_tolerance))
        return h

    def solve(
        self,
        problem: Problem,
        options: Options | None = None,
        start: np.ndarray | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> Result:
        options = options or Options()
        h = self._highs(options)
        t0 = time.perf_counter()
        h.passModel(_lp(problem))
        if not problem.is_mip and _simplex_without_presolve(options):
            h.setOptionValue("presolve", "off")
        if options.lp_algorithm in ("ipm", "ipm_nox") and not problem.is_mip:
            h.setOptionValue("solver", "ipm")  # crossover stays on: callers want a vertex and reduced costs
            if options.lp_algorithm == "ipm_nox":  # no crossover: an interior optimum, duals without a basis
                h.setOptionValue("run_crossover", "off")
        if start is not None and problem.is_mip:
            sol = highspy.HighsSolution()
            sol.col_value = np.asarray(start, dtype=float)
            sol.value_valid = True
            h.setSolution(sol)
        if on_progress is not None and problem.is_mip:
            h.setOptionValue("mip_improving_solution_save", False)

            def _cb(event) -> None:
                data = event.data_out
                on_progress({"objective": data.objective_function_value, "bound": data.mip_dual_bound, "gap": data.mip_gap})

            h.cbMipImprovingSolution.subscribe(_cb)
        if h.run() == highspy.HighsStatus.kError and h.getModelStatus() == highspy.HighsModelStatus.kNotset:
            # another HiGHS user in this process (e.g. Pyomo's appsi_highs) started the global thread scheduler
            # with another thread count, so HiGHS refuses ``threads``: reset the scheduler and run again
            highspy.Highs.resetGlobalScheduler(True)
            h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kUnknown:
            # presolve's postsolve can leave a badly scaled model (coefficients ~1e-7 beside 1: tight HHI cuts on
            # small assets) neither optimal nor proven otherwise; solving the original model directly settles it
            h.clearSolver()
            h.setOptionValue("presolve", "off")
            h.run()
        seconds = time.perf_counter() - t0
        model_status = h.getModelStatus()
        status = _STATUS.get(model_status, Status.ERROR)
        info = h.getInfo()
        sol = h.getSolution()
        has_x = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        x = np.asarray(sol.col_value, dtype=float) if has_x else None
        result = Result(status=status, x=x, seconds=seconds, message=h.modelStatusToString(model_status))
        if model_status == highspy.HighsModelStatus.kSolutionLimit:
            result.info["work_limit"] = True  # stopped by a node limit: deterministic, unlike a time limit
        if x is not None:
            result.objective = float(info.objective_function_value)
        if problem.is_mip:
            result.bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
            result.mip_gap = float(info.mip_gap) if x is not None and np.isfinite(info.mip_gap) else None
            result.info["mip_node_count"] = int(info.mip_node_count)
        else:
            if status is Status.OPTIMAL:
                result.bound = result.objective
                result.mip_gap = 0.0
                if sol.dual_valid:
                    result.row_duals = np.asarray(sol.row_dual, dtype=float)
                    result.col_duals = np.asarray(sol.col_dual, dtype=float)
            result.info["simplex_iterations"] = int(info.simplex_iteration_count)
        return result

    def lp_session(self, options: Options | None = None) -> HighsLpSession:
        """One HiGHS model kept between solves, warm-started from its last basis (:class:`HighsLpSession`)."""
        return HighsLpSession(self, options or Options())

    def iis(self, problem: Problem, options: Options | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(row indices, column indices) of an irreducible infeasible subset of the LP relaxation.

        Fast strategies only (dual ray, then elastic LP); HiGHS's slow "true IIS" reduction is never run.
        """
        options = options or Options()
        for strategy in (1, 2):
            h = self._highs(options)
            h.setOptionValue("iis_strategy", strategy)
            h.setOptionValue("iis_time_limit", float(min(options.time_limit_s, 60.0)))
            h.passModel(_lp(problem, integer=False))
            status, iis = h.getIis()
            if status != highspy.HighsStatus.kError and iis.valid_ and len(iis.row_index_):
                return np.asarray(iis.row_index_, dtype=np.int64), np.asarray(iis.col_index_, dtype=np.int64)
        return None

    def feasibility_relaxation(
        self,
        problem: Problem,
        options: Options | None = None,
        col_penalty: np.ndarray | None = None,
        row_penalty: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Minimal weighted violation of the bounds (HiGHS feasibilityRelaxation on the LP relaxation).

        Penalties are per column / row; a negative penalty keeps that bound hard. By default column bounds are
        hard and rows cost 1 per unit. Returns (column violations, row violations) at the relaxed solution.
        """
        options = options or Options()
        h = self._highs(options)
        h.passModel(_lp(problem, integer=False))
        cp = np.full(problem.n_cols, -1.0) if col_penalty is None else np.asarray(col_penalty, dtype=float)
        rp = np.ones(problem.n_rows) if row_penalty is None else np.asarray(row_penalty, dtype=float)
        status = h.feasibilityRelaxation(1.0, 1.0, 1.0, cp, cp, rp)
        if status == highspy.HighsStatus.kError:
            return None
        x = np.asarray(h.getSolution().col_value, dtype=float)
        if len(x) != problem.n_cols:
            return None
        act = problem.A @ x
        rows = np.maximum(act - problem.row_upper, 0.0) + np.maximum(problem.row_lower - act, 0.0)
        cols = np.maximum(x - problem.col_upper, 0.0) + np.maximum(problem.col_lower - x, 0.0)
        return cols, rows


class HighsLpSession(LpSession):
    """:class:`~solvers.base.LpSession` on one ``highspy.Highs`` model, warm-started from its basis.

    The model holds every row of the problem and the columns that have been free at some point; a column fixed
    again keeps its place with both bounds at its value, and the columns never in the model move into the row
    bounds (:math:`r - A_F v_F`). Between solves rows and columns the problem gained are added
    (``addRows``/``addCols``), row and column bounds reset, and HiGHS re-solves from the last basis — a few
    simplex iterations where a cold solve would redo them all. A problem that is not an extension of the last
    one (a coefficient or a cost of a kept column changed) starts a new model (``stats["cold_starts"]``).
    """

    def __init__(self, backend: HighsBackend, options: Options):
        super().__init__(backend, options)
        self.h: highspy.Highs | None = None
        self.ref: Problem | None = None  # the problem the model reflects
        self.cols = np.zeros(0, dtype=np.int64)  # original column of each model column
        self.pos = np.zeros(0, dtype=np.int64)  # model column of each original column, −1 if absent
        self._csc: tuple[object, object] | None = None  # (A, A as CSC) for column slices
        self.stats.update(iterations=0, columns_added=0, rows_added=0)

    def infeasibility_ray(self) -> tuple[np.ndarray, float] | None:
        """After an infeasible solve: a Farkas certificate y over the rows, oriented so that
        :math:`\\max_{x \\in \\text{box}} y^\\top A x < \\min_{r^L \\le r \\le r^U} y^\\top r` on the restricted
        problem (the model's columns in their bounds, the row bounds shifted by the columns outside), and that
        gap; None when HiGHS has no ray. Freeing a fixed column j (at v_j in [l_j, u_j]) closes the gap by
        :math:`\\max(q_j l_j, q_j u_j) - q_j v_j` with :math:`q = A^\\top y`."""
        if self.h is None or self.h.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
            return None
        status, has_ray, ray = self.h.getDualRay()
        if status == highspy.HighsStatus.kError or not has_ray:
            return None
        problem, rl, ru, lower, upper = self._box
        y = np.asarray(ray, dtype=float)
        if len(y) != problem.n_rows:
            return None
        q = (problem.A.T @ y)[self.cols]
        best = None
        with np.errstate(invalid="ignore"):
            tiny = 1e-9 * float(np.max(np.abs(q), initial=0.0))
            for sign in (1.0, -1.0):
                ys, qs = sign * y, sign * q
                at = np.where(qs > 0, upper, lower)
                # a ray entry at rounding level towards an infinite bound (e.g. a helper column ≥ 0) adds nothing
                terms = np.where(np.isfinite(at), qs * at, np.where(np.abs(qs) <= tiny, 0.0, qs * at))
                lhs = float(np.sum(terms))
                rhs = float(np.sum(np.where(ys > 0, ys * rl, np.where(ys < 0, ys * ru, 0.0))))
                gap = rhs - lhs
                if np.isfinite(gap) and gap > 0 and (best is None or gap > best[1]):
                    best = (ys, gap)
        return best

    def _columns(self, problem: Problem):
        if self._csc is None or self._csc[0] is not problem.A:
            self._csc = (problem.A, problem.A.tocsc())
        return self._csc[1]

    def _extends(self, problem: Problem) -> bool:
        old = self.ref
        if old is None:
            return False
        if old is problem:
            return True
        m0, n0 = old.n_rows, old.n_cols
        if problem.n_rows < m0 or problem.n_cols < n0 or problem.maximize != old.maximize:
            return False
        if not np.array_equal(problem.c[self.cols], old.c[self.cols]):
            return False
        if problem.A is old.A:
            return True
        head = problem.A[:m0, :n0]
        head.sort_indices()
        ref = old.A
        return (head.nnz == ref.nnz and np.array_equal(head.indptr, ref.indptr)
                and np.array_equal(head.indices, ref.indices) and np.array_equal(head.data, ref.data))

    def _reset(self, problem: Problem, free: np.ndarray, options: Options) -> None:
        self.cols = np.flatnonzero(free).astype(np.int64)
        self.pos = np.full(problem.n_cols, -1, dtype=np.int64)
        self.pos[self.cols] = np.arange(len(self.cols))
        lp = _lp(problem, integer=False, cols=self.cols, columns=self._columns(problem))
        self.h = self.backend._highs(options)
        # reduced costs price every fixed column, and the Lagrangian bound sums their sign errors: HiGHS's
        # default 1e-7 per column, over a million columns, loosened the bound by ~1e-5 of the optimum
        self.h.setOptionValue("dual_feasibility_tolerance", DUAL_TOL)
        if _simplex_without_presolve(options):
            self.h.setOptionValue("presolve", "off")
        self.h.passModel(lp)
        self.stats["cold_starts"] += 1

    def _update(self, problem: Problem, free: np.ndarray) -> None:
        h = self.h
        m0 = h.getNumRow()
        if problem.n_rows > m0:  # new rows, over the model's columns
            sub = problem.A[m0:][:, self.cols].tocsr()
            k = problem.n_rows - m0
            h.addRows(k, np.full(k, -np.inf), np.full(k, np.inf), int(sub.nnz), sub.indptr[:-1].astype(np.int32),
                      sub.indices.astype(np.int32), sub.data.astype(float))
            self.stats["rows_added"] += k
        if problem.n_cols > len(self.pos):
            self.pos = np.concatenate([self.pos, np.full(problem.n_cols - len(self.pos), -1, dtype=np.int64)])
        new = np.flatnonzero(free & (self.pos < 0))
        if len(new):
            sub = self._columns(problem)[:, new]
            h.addCols(len(new), problem.c[new].astype(float), problem.col_lower[new].astype(float),
                      problem.col_upper[new].astype(float), int(sub.nnz), sub.indptr[:-1].astype(np.int32),
                      sub.indices.astype(np.int32), sub.data.astype(float))
            self.pos[new] = len(self.cols) + np.arange(len(new))
            self.cols = np.concatenate([self.cols, new])
            self.stats["columns_added"] += len(new)

    def solve(self, problem: Problem, free: np.ndarray, values: np.ndarray, options: Options | None = None) -> Result:
        options = options or self.options
        free = np.asarray(free, dtype=bool)
        values = np.asarray(values, dtype=float)
        t0 = time.perf_counter()
        if self.h is None or not self._extends(problem):
            self._reset(problem, free, options)
        else:
            self._update(problem, free)
        self.ref = problem
        h = self.h
        outside = np.where(self.pos < 0, values, 0.0)  # columns not in the model: into the row bounds
        shift = problem.A @ outside
        rows = np.arange(problem.n_rows, dtype=np.int32)
        h.changeRowsBounds(problem.n_rows, rows, problem.row_lower - shift, problem.row_upper - shift)
        kept = free[self.cols]
        lower = np.where(kept, problem.col_lower[self.cols], values[self.cols])
        upper = np.where(kept, problem.col_upper[self.cols], values[self.cols])
        h.changeColsBounds(len(self.cols), np.arange(len(self.cols), dtype=np.int32), lower, upper)
        h.setOptionValue("time_limit", float(options.time_limit_s))
        self._box = (problem, problem.row_lower - shift, problem.row_upper - shift, lower, upper)
        h.run()
        if h.getModelStatus() not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible,
                                      highspy.HighsModelStatus.kTimeLimit):
            self.stats["restarts"] = self.stats.get("restarts", 0) + 1
            self.stats["restart_status"] = h.modelStatusToString(h.getModelStatus())
            h.clearSolver()  # a warm start gone wrong (e.g. unknown after postsolve): solve from scratch
            h.run()
        seconds = time.perf_counter() - t0
        model_status = h.getModelStatus()
        status = _STATUS.get(model_status, Status.ERROR)
        info = h.getInfo()
        self.stats["solves"] += 1
        self.stats["iterations"] += int(info.simplex_iteration_count)
        self.stats["lp_seconds"] += seconds
        res = Result(status=status, seconds=seconds, message=h.modelStatusToString(model_status),
                     info={"simplex_iterations": int(info.simplex_iteration_count), "lp_columns": len(self.cols)})
        if status is not Status.OPTIMAL:
            return res
        sol = h.getSolution()
        x = outside.copy()
        x[self.cols] = np.asarray(sol.col_value, dtype=float)
        duals = np.asarray(sol.row_dual, dtype=float) if sol.dual_valid else None
        return complete(problem, x, duals, res)
