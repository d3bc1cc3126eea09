r"""The core method for the LP relaxation of large selection models (DESIGN §5, "Large pools").

A selection model has millions of unit columns :math:`x_i \in [0, 1]` but only tens to a few thousand rows
(sizes, shares, WA tests, top-10 helpers, HHI exposures and cuts). At an LP optimum with row duals :math:`y` every
unit with reduced cost :math:`d_i = c_i - a_i^\top y > 0` sits at 1 and every one with :math:`d_i < 0` at 0; only
the units near the threshold (:math:`d_i \approx 0`) are in question. So, as for large knapsacks:

1. **Sample duals.** Solve the LP on a random sample of ``solver.core_sample_units`` units whose columns are scaled
   by :math:`N/s` (each stands for :math:`N/s` units), the helper columns as they are: its row duals estimate
   :math:`y`.
2. **Price** every unit in one vectorised pass: :math:`d = c - A^\top y`.
3. **Fix** all but the ``solver.core_min_units`` units of smallest :math:`|d_i| / g_i` (nearest the threshold in
   npv per unit of gbv): those with :math:`d_i > 0` at 1
   (their column moves into the row bounds, :math:`r - A_F \mathbf 1`), the others at 0. The rest — the core —
   stays free, with every helper column.
4. **Core LP.** Solve the LP over the core (:meth:`solvers.base.Backend.lp_session`: with HiGHS one model kept
   between solves and warm-started from its basis; columns are added, never rebuilt).
5. **Re-price** every unit against the core LP's duals; a fixed unit whose sign is now wrong (fixed at 1 with
   :math:`d_i < 0`, at 0 with :math:`d_i > 0`) moves into the core (at most ``core_min_units`` per round, the most
   wrongly priced first). Repeat 4–5 until none does: the core LP's
   optimum, with the fixed units, is then optimal for the whole LP (its duals are dual feasible for every column).
6. **Widen.** A core LP that is infeasible (the units fixed at 1 already break a cap or the size) frees the fixed
   units that its Farkas ray says would restore feasibility (most helpful first, until they close twice the ray's
   gap); without a ray the core grows fourfold around the threshold, by the last prices.

The bound reported is the Lagrangian bound of the final duals over the *whole* problem
(:meth:`solvers.problem.Problem.lagrangian_bound`): valid for any duals, equal to the LP optimum at convergence.
Across the HHI cut rounds and the re-solves of :func:`pooling.selection.model.select_pool` (new cuts, top-10 groups,
back-offs) the same session, core and duals carry on: new rows and columns are added to the kept model.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from solvers import Backend, Options, Problem, Result, Status

#: a fixed unit is wrongly fixed when its reduced cost has the wrong sign by more than this (scaled npv units:
#: HiGHS's dual feasibility tolerance)
PRICE_TOL = 1e-9
#: LP algorithm of the sample LP: only its duals are used, so interior point without crossover (no vertex needed);
#: at 1M assets a 50,000-unit sample took 2.0 s this way against 2.9 s by the simplex (same duals, same cores)
SAMPLE_LP = "ipm_nox"
#: widening factor of the core when a core LP is infeasible
WIDEN = 4
#: sample LPs tried (the sample doubled each time) before pricing starts from zero duals
SAMPLE_TRIES = 3


class CoreLP:
    """The LP relaxation of a selection model over its first ``n_units`` columns (units), by the core method.

    One instance serves every LP of a :func:`~pooling.selection.model.select_pool` run: it keeps the backend's LP
    session, the core and the last duals, so each re-solve starts where the last one ended. ``seed`` draws the
    sample (same seed, same answer).
    """

    def __init__(self, n_units: int, backend: Backend, options: Options, sample_units: int, min_units: int,
                 seed: int = 0, on_progress: Callable[[str], None] | None = None, weight: np.ndarray | None = None):
        self.n_units = n_units
        #: per unit, what its reduced cost is measured against when choosing the core (its scaled gbv): the core is
        #: the units of smallest |d_i| / w_i, nearest the threshold in npv per unit of gbv — by |d_i| alone the
        #: smallest assets would fill it whatever their margin
        w = np.ones(n_units) if weight is None else np.asarray(weight, dtype=float)
        self.weight = np.where(w > 0, w, max(float(w[w > 0].min()) if (w > 0).any() else 1.0, 1e-12))
        self.backend = backend
        self.options = options
        self.sample_units = max(1, int(sample_units))
        self.min_units = max(1, int(min_units))
        self.seed = seed
        self.on_progress = on_progress
        self.session = backend.lp_session(Options(**{**options.__dict__, "lp_algorithm": "auto"}))
        self.core: np.ndarray | None = None  # bool per unit: free in the core LP
        #: bool per unit: fixed at 1 (outside the core; the others outside it are at 0). Set once from the starting
        #: prices and kept: re-fixing by later prices could make a core LP infeasible again, keeping the fixings makes
        #: each core LP a relaxation of the one before
        self.fixed_in: np.ndarray | None = None
        self.duals: np.ndarray | None = None  # row duals of the last core LP (length of its problem's rows)
        self.stats: dict = {"core_solves": 0, "core_rounds": 0, "core_widenings": 0, "core_moved_in": 0,
                            "sample_units": 0, "sample_seconds": 0.0, "pricing_seconds": 0.0}

    # ------------------------------------------------------------------------------------------------ sample
    def sample_duals(self, problem: Problem, deadline: float) -> np.ndarray:
        """Row duals of the LP over a random sample of units scaled up to all of them (zeros if no sample LP is
        feasible after :data:`SAMPLE_TRIES` doublings)."""
        n = self.n_units
        s = min(self.sample_units, n)
        rng = np.random.default_rng(self.seed)
        A = problem.A.tocsc()
        for _ in range(SAMPLE_TRIES):
            t = time.perf_counter()
            pick = np.sort(rng.choice(n, size=s, replace=False)) if s < n else np.arange(n)
            cols = np.concatenate([pick, np.arange(n, problem.n_cols)])
            w = np.ones(len(cols))
            w[: len(pick)] = n / len(pick)
            sub = (A[:, cols] @ sp.diags(w, format="csc")).tocsr()
            sample = Problem(problem.c[cols] * w, sub, problem.row_lower, problem.row_upper,
                             problem.col_lower[cols], problem.col_upper[cols], np.zeros(len(cols), dtype=bool),
                             problem.rows, problem.maximize, problem.offset)
            res = self.backend.solve(sample, Options(**{**self._opts(deadline).__dict__, "lp_algorithm": SAMPLE_LP}))
            if res.status is not Status.OPTIMAL or res.row_duals is None:
                self.stats["sample_fallback"] = res.message
                res = self.backend.solve(sample, self._opts(deadline))  # the simplex settles what IPM did not
            self.stats["sample_seconds"] += time.perf_counter() - t
            self.stats["sample_units"] = len(pick)
            if res.status is Status.OPTIMAL and res.row_duals is not None:
                return res.row_duals
            if s >= n:
                break
            s = min(2 * s, n)
        return np.zeros(problem.n_rows)

    # --------------------------------------------------------------------------------------------------- solve
    def solve(self, problem: Problem, duals: np.ndarray | None = None, deadline: float | None = None) -> Result:
        """The LP relaxation of ``problem`` (a :class:`~solvers.problem.Result` for the whole problem: x, row duals,
        every column's reduced cost, ``bound`` = the Lagrangian bound of the final duals). ``duals`` replaces the
        starting duals (otherwise the last solve's, or the sample's on the first solve)."""
        t0 = time.perf_counter()
        deadline = deadline if deadline is not None else t0 + self.options.time_limit_s
        n, m = self.n_units, problem.n_rows
        given = duals is not None
        if duals is None and self.duals is not None:
            duals = np.concatenate([self.duals, np.zeros(max(m - len(self.duals), 0))])[:m]
        if duals is None:
            duals = self.sample_duals(problem, deadline)
        tp = time.perf_counter()
        d = problem.reduced_costs(problem.valid_duals(duals))[:n]
        self.stats["pricing_seconds"] += time.perf_counter() - tp
        if given or self.core is None or len(self.core) != n:
            core, fixed_in = self._around(d, self.min_units), d > 0
        else:
            core, fixed_in = self.core, self.fixed_in
        free = np.ones(problem.n_cols, dtype=bool)
        values = np.zeros(problem.n_cols)
        rounds = 0
        while True:
            free[:n] = core
            values[:n] = np.where(core, 0.0, fixed_in.astype(float))
            res = self.session.solve(problem.relaxed(), free, values, self._opts(deadline))
            self.stats["core_solves"] += 1
            if res.status is Status.INFEASIBLE:
                if core.all():
                    break  # the whole LP is infeasible
                core = self._widen(problem, core, d, fixed_in.astype(float))
                self.stats["core_widenings"] += 1
                self._say(f"core LP infeasible: core widened to {int(core.sum()):,} units")
                continue
            if res.status is not Status.OPTIMAL or res.col_duals is None:
                break
            d = res.col_duals[:n]
            wrong = ~core & ((fixed_in & (d < -PRICE_TOL)) | (~fixed_in & (d > PRICE_TOL)))
            n_wrong = int(wrong.sum())
            if n_wrong == 0:
                break
            moved = min(n_wrong, self.min_units)
            if n_wrong > self.min_units:
                # far-off starting duals (e.g. right after a widening) can put a large share of the units on the
                # wrong side at once: move the most wrongly priced ``min_units`` in and re-price — the core stays
                # small and each warm re-solve cheap (one round moved 158,702 units in and took 59 s, cold)
                idx = np.flatnonzero(wrong)
                worst = idx[np.argpartition(-np.abs(d[idx]) / self.weight[idx], self.min_units - 1)[: self.min_units]]
                wrong = np.zeros(n, dtype=bool)
                wrong[worst] = True
            core = core | wrong
            rounds += 1
            self.stats["core_moved_in"] += moved
            self._say(f"core LP round {rounds}: {n_wrong:,} units wrongly fixed, {moved:,} moved into the core "
                      f"({int(core.sum()):,} units)")
        self.core, self.fixed_in = core, fixed_in
        self.stats["core_rounds"] += rounds
        res.seconds = time.perf_counter() - t0
        res.info.update({"core_units": int(core.sum()), "core_rounds_this_solve": rounds,
                         **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.stats.items()},
                         **{f"session_{k}": (round(v, 3) if isinstance(v, float) else v)
                            for k, v in self.session.stats.items()}})
        if res.status is Status.OPTIMAL and res.row_duals is not None:
            self.duals = res.row_duals
            res.bound = problem.lagrangian_bound(res.row_duals)
            res.mip_gap = 0.0
        return res

    # ------------------------------------------------------------------------------------------------ helpers
    def _widen(self, problem: Problem, core: np.ndarray, d: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        """A wider core after an infeasible core LP. With a Farkas ray y of the core LP (gap γ: how far the fixed
        units put the rows out of reach), freeing fixed unit j closes :math:`h_j = \\max(q_j, 0) - q_j v_j` of it
        (:math:`q = A^\\top y`, :math:`v_j` its fixed value): the units with :math:`h_j > 0` are freed, most helpful
        first (the fewest units that close it), until they close twice γ. Without a ray, or when that frees nothing,
        the core grows :data:`WIDEN`-fold around the threshold."""
        n = self.n_units
        ray = self.session.infeasibility_ray()
        if ray is not None:
            y, gap = ray
            q = (problem.A.T @ y)[:n]
            help_ = np.where(core, 0.0, np.maximum(q, 0.0) - q * fixed)
            cand = np.flatnonzero(help_ > 1e-12 * max(gap, 1e-300))
            if len(cand):
                order = cand[np.argsort(-help_[cand], kind="stable")]  # the fewest units that close it
                reach = np.searchsorted(np.cumsum(help_[order]), 2.0 * gap) + 1
                out = core.copy()
                out[order[:reach]] = True
                self.stats["core_ray_widenings"] = self.stats.get("core_ray_widenings", 0) + 1
                return out
        return core | self._around(d, min(n, WIDEN * int(core.sum())))

    def _around(self, d: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` units nearest the threshold (smallest |d_i| / w_i)."""
        n = len(d)
        core = np.zeros(n, dtype=bool)
        if k >= n:
            core[:] = True
            return core
        core[np.argpartition(np.abs(d) / self.weight, k - 1)[:k]] = True
        return core

    def _opts(self, deadline: float) -> Options:
        return Options(**{**self.options.__dict__, "time_limit_s": max(deadline - time.perf_counter(), 1.0),
                          "lp_algorithm": "auto"})

    def _say(self, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(message)

