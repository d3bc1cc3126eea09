r"""Solution concepts of a transferable-utility game: nucleolus, least core, core check, Nash bargaining, Shapley,
superadditive cover (DESIGN §7).

Pure game theory on a value function: players :math:`N = \{1,\dots,n\}` (AMC ids), a characteristic function
:math:`v: 2^N \to \mathbb{R}` with :math:`v(\emptyset) = 0`, given as a callable on ``frozenset``\ s. Every function
here evaluates :math:`v` once per coalition it needs (all :math:`2^n - 1` non-empty ones for the exact concepts);
caching expensive values is the caller's job. Coalition :math:`S` is bit :math:`i` set for ``players[i]``.

Excess, imputations
-------------------
For an allocation :math:`x \in \mathbb{R}^n` write :math:`x(S) = \sum_{i \in S} x_i` and the *excess*
:math:`e(S, x) = v(S) - x(S)` (what :math:`S` misses against what it could get alone). :math:`x` is *efficient* when
:math:`x(N) = v(N)`, *individually rational* when :math:`x_i \ge v(\{i\})`; the *imputation set*
:math:`I(v) = \{x : x(N) = v(N),\ x_i \ge v(\{i\})\}` is non-empty iff :math:`\sum_i v(\{i\}) \le v(N)`
(always so for a superadditive game).

Core and least core
-------------------
The **core** is :math:`\{x : x(N) = v(N),\ e(S, x) \le 0\ \forall S\}`; :func:`core_check` reports the
coalition with the largest shortfall :math:`v(S) - x(S)` (the one that blocks). The **least core** is the smallest
:math:`\varepsilon` relaxation that is non-empty:

.. math::  \varepsilon^* = \min\{\varepsilon : x(N) = v(N),\ x(S) \ge v(S) - \varepsilon
           \ \ \forall S \ne \emptyset, N,\ x \in X\},

with :math:`X = I(v)` when the imputation set is non-empty and :math:`X = \mathbb{R}^n` otherwise (the same domain as
the nucleolus, so the nucleolus always lies in the least core reported; where the core is non-empty the two domains
give the same set). :math:`\varepsilon^* \le 0` iff the core is non-empty. :func:`least_core_ranges` gives, for
each player, :math:`\min x_i` and :math:`\max x_i` over the least core (``2n`` LPs): the range a negotiator can ask
for without any coalition objecting by more than :math:`\varepsilon^*`.

Nucleolus
---------
The **nucleolus** :math:`\nu` is the allocation in :math:`X \cap \{x(N) = v(N)\}` whose vector of excesses, sorted
in decreasing order, is lexicographically smallest (Schmeidler 1969): it minimises the largest complaint, then the
second largest, and so on. It is unique, lies in the least core (hence in the core when that is non-empty) and is
symmetric and covariant. It is computed by the sequential LPs of Maschler, Peleg and Shapley (1979): with
:math:`\mathcal{F}_0 = \{S : \emptyset \ne S \ne N\}` free and nothing fixed, round :math:`k = 1, 2, \dots` solves

.. math::  \varepsilon_k = \min_{x, \varepsilon}\ \varepsilon \quad\text{s.t.}\quad
           x(S) + \varepsilon \ge v(S)\ \ (S \in \mathcal{F}_{k-1}),\qquad
           x(S) \ge v(S) - \varepsilon_j\ \ (S \text{ fixed in round } j < k),\qquad x(N) = v(N),\ x \in X.

A coalition whose constraint has a positive dual price :math:`y_S > 0` is tight in *every* optimal solution
(complementary slackness; any non-zero dual, so the solver's sign convention does not matter) and is fixed at
:math:`e(S, x) = \varepsilon_k`; the duals of the free rows sum to 1, so at
least one coalition is fixed per round. A solver that reports no duals (or duals that are too small to trust) falls
back to a second LP per tight candidate, :math:`\max x(S)` over the round's optimal face: :math:`S` is fixed iff that
maximum is :math:`v(S) - \varepsilon_k`. Then every free coalition whose indicator :math:`1_S` lies in the linear
span of the fixed rows and :math:`1_N` has a constant excess on the remaining feasible set and leaves the free set
(tested against a null-space basis :math:`Z` of the fixed rows: :math:`\lVert 1_S^\top Z \rVert_\infty \le` tol).
A fixed coalition is never in the span of the earlier ones, so the rank of the fixed rows grows every round and
the allocation is unique after at most :math:`n - 1` rounds; :math:`\nu` is then the solution of the fixed
equalities :math:`x(S) = v(S) - \varepsilon_{k(S)}`, :math:`x(N) = v(N)` (least squares on a full-rank system).
Values are scaled by :math:`\max_S |v(S)|` inside the LPs so that the tolerances are relative.

Nash bargaining
---------------
Against threat points :math:`d` with weights :math:`w > 0`, :math:`\max \prod_i (x_i - d_i)^{w_i}` s.t.
:math:`x(N) = v(N)`, :math:`x \ge d` has the closed form :math:`x_i = d_i + \frac{w_i}{\sum_j w_j}\,(v(N) - \sum_j
d_j)` (the first-order conditions :math:`w_i / (x_i - d_i) = \lambda`); it exists iff :math:`\sum_j d_j \le v(N)`.

Shapley value
-------------
:math:`\phi_i = \sum_{S \subseteq N \setminus \{i\}} \frac{|S|!\,(n - |S| - 1)!}{n!}\,(v(S \cup \{i\}) - v(S))`,
exactly from the :math:`2^n` values (vectorised over bitmasks), or as the mean marginal contribution over
``samples`` random orderings with the standard error :math:`s_i / \sqrt{m}` of that mean (:math:`s_i` the sample
standard deviation of player :math:`i`'s marginal contributions over the :math:`m` orderings).

Superadditive cover
-------------------
If the members of a coalition may always act separately, :math:`S` can guarantee the best partition of itself:

.. math::  \hat v(S) = \max\Bigl(v(S),\ \max_{\emptyset \ne T \subsetneq S} \hat v(T) + \hat v(S \setminus T)\Bigr)
           = \max_{\{S_1,\dots,S_k\} \text{ partition of } S} \sum_j v(S_j),

computed by dynamic programming over subsets in order of size (:math:`3^n` pairs, vectorised per size; only the
splits with the lowest member of :math:`S` in :math:`T` are scanned, each unordered split once).
:math:`\hat v \ge v`, :math:`\hat v` is superadditive (:math:`\hat v(S \cup T) \ge \hat v(S) + \hat v(T)` for
disjoint :math:`S, T`) and it is the smallest superadditive game above :math:`v`. With non-negative singleton
values it is also monotone. :func:`best_partition` returns the partition attaining :math:`\hat v(S)`
(ties go to fewer parts: a coalition acting together is preferred when it is worth as much).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pooling.errors import InputError, OptimizationError

Coalition = frozenset[str]
ValueFunction = Callable[[Coalition], float]

#: the largest game the 2^n-row concepts accept (65,534 LP rows per round)
MAX_PLAYERS = 16

__all__ = [
    "CoreCheck",
    "NucleolusResult",
    "best_partition",
    "core_check",
    "least_core",
    "least_core_ranges",
    "nash_bargaining",
    "nucleolus",
    "nucleolus_rounds",
    "shapley_exact",
    "shapley_sampled",
    "superadditive_cover",
]


# ----------------------------------------------------------------------------------------------------------------
# the game as arrays over bitmasks


@dataclass(frozen=True)
class _Table:
    """Every coalition's value by bitmask: ``values[mask]``, ``values[0] = 0``; ``members`` is (2^n, n) bool."""

    players: tuple[str, ...]
    values: np.ndarray
    members: np.ndarray

    @property
    def n(self) -> int:
        return len(self.players)

    @property
    def grand(self) -> int:
        return (1 << self.n) - 1

    def coalition(self, mask: int) -> Coalition:
        return frozenset(p for i, p in enumerate(self.players) if mask >> i & 1)

    def name(self, mask: int) -> str:
        return "+".join(sorted(self.coalition(mask)))


def _check_players(players: Iterable[str], max_players: int | None = MAX_PLAYERS) -> tuple[str, ...]:
    ps = tuple(players)
    if not ps:
        raise InputError("the game has no players")
    dup = sorted({p for p in ps if ps.count(p) > 1})
    if dup:
        raise InputError(f"player(s) listed twice: {dup}")
    if max_players is not None and len(ps) > max_players:
        raise InputError(f"{len(ps)} players: the exact solution concepts handle at most {max_players} "
                         f"(2^n coalitions); use shapley_sampled for larger games")
    return ps


def _masks_members(n: int) -> np.ndarray:
    masks = np.arange(1 << n, dtype=np.int64)
    return ((masks[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(bool)


def _table(players: Iterable[str], v: ValueFunction, max_players: int | None = MAX_PLAYERS) -> _Table:
    ps = _check_players(players, max_players)
    n = len(ps)
    members = _masks_members(n)
    values = np.zeros(1 << n)
    for mask in range(1, 1 << n):
        s = frozenset(p for i, p in enumerate(ps) if mask >> i & 1)
        val = float(v(s))
        if not math.isfinite(val):
            raise InputError(f"coalition value v({'+'.join(sorted(s))}) = {val} is not finite")
        values[mask] = val
    return _Table(ps, values, members)


def _popcount(masks: np.ndarray) -> np.ndarray:
    return np.bitwise_count(masks.astype(np.uint64)).astype(np.int64)


def _scale(t: _Table) -> float:
    m = float(np.max(np.abs(t.values)))
    return m if m > 0 else 1.0


def _has_imputations(t: _Table, tol: float) -> bool:
    singles = t.values[1 << np.arange(t.n)]
    return bool(singles.sum() <= t.values[t.grand] + tol * _scale(t))


# ----------------------------------------------------------------------------------------------------------------
# nucleolus and least core: sequential Pyomo LPs


@dataclass(frozen=True)
class NucleolusResult:
    """The nucleolus and how it was found.

    ``allocation``: :math:`\\nu_i` per player; ``epsilon``: :math:`\\varepsilon^*` (round 1, the least-core value);
    ``levels``: :math:`\\varepsilon_k` of every round; ``fixed``: the coalitions fixed in each round (names "A+B");
    ``individually_rational``: whether the LPs were over the imputation set (else over all efficient vectors,
    the pre-nucleolus); ``lp_solves``: LPs solved in all (rounds plus any fallback tests)."""

    allocation: dict[str, float]
    epsilon: float
    levels: list[float]
    fixed: list[list[str]]
    individually_rational: bool
    lp_solves: int = 0


class _LP:
    """The round LP as one Pyomo model: a row per proper coalition, deactivated or replaced as rounds fix them.

    ``stable[k]``: :math:`x(S_k) + \\varepsilon \\ge v(S_k)` (free); ``fixed``: :math:`x(S) \\ge v(S) - \\varepsilon_j`
    (fixed in round j); ``efficient``: :math:`x(N) = v(N)`; IR lower bounds on ``x`` when ``ir``.
    Values are scaled to :math:`\\max|v| = 1`."""

    def __init__(self, t: _Table, solver: str, ir: bool):
        import pyomo.environ as pyo

        self.pyo = pyo
        self.t = t
        self.scale = _scale(t)
        self.rows = np.arange(1, t.grand, dtype=np.int64)  # proper non-empty coalitions
        self.A = t.members[self.rows]  # (K, n)
        self.b = t.values[self.rows] / self.scale
        vN = t.values[t.grand] / self.scale
        members = [tuple(np.flatnonzero(r).tolist()) for r in self.A]
        singles = t.values[1 << np.arange(t.n)] / self.scale
        m = pyo.ConcreteModel(name="nucleolus")
        m.P = pyo.RangeSet(0, t.n - 1)
        m.x = pyo.Var(m.P, bounds=(lambda m, i: (float(singles[i]), None)) if ir else None)
        m.eps = pyo.Var()
        m.C = pyo.RangeSet(0, len(self.rows) - 1)
        b = self.b
        m.stable = pyo.Constraint(m.C, rule=lambda m, k: sum(m.x[i] for i in members[k]) + m.eps >= float(b[k]))
        m.fixed = pyo.ConstraintList()
        m.fixed_room = pyo.Param(mutable=True, initialize=0.0)  # loosens the fixed rows only if a round turns infeasible
        m.efficient = pyo.Constraint(expr=sum(m.x[i] for i in m.P) == vN)
        m.obj = pyo.Objective(expr=m.eps, sense=pyo.minimize)
        m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
        self.m = m
        self.members = members
        self.opt = pyo.SolverFactory(solver)
        if not self.opt.available(exception_flag=False):
            raise InputError(f"Pyomo solver {solver!r} is not available: install it or set solver.pyomo_solver")
        self.solver = solver
        self.solves = 0

    def solve(self, what: str) -> None:
        res = self.opt.solve(self.m, load_solutions=False)
        self.solves += 1
        tc = str(res.solver.termination_condition)
        if tc != "optimal":
            raise OptimizationError(f"{what} LP did not solve to optimality with {self.solver}: {tc}")
        if hasattr(res, "solution_loader"):
            res.solution_loader.load_vars()
            try:
                self.m.dual.clear()
                for c, y in res.solution_loader.get_duals().items():
                    self.m.dual[c] = y
            except Exception:  # a solver without duals: the fallback LPs decide instead
                self.m.dual.clear()
        else:
            self.m.solutions.load_from(res)

    def x(self) -> np.ndarray:
        return np.array([self.pyo.value(self.m.x[i]) for i in range(self.t.n)], dtype=float)

    def duals(self) -> np.ndarray | None:
        d = self.m.dual
        if len(d) == 0:
            return None
        out = np.zeros(len(self.rows))
        for k in range(len(self.rows)):
            c = self.m.stable[k]
            if c.active:
                out[k] = float(d.get(c, 0.0) or 0.0)
        return out

    def fix(self, k: int, level: float) -> None:
        """Row k leaves the free set with its excess held at ``level`` (scaled)."""
        m = self.m
        m.stable[k].deactivate()
        m.fixed.add(sum(m.x[i] for i in self.members[k]) + m.fixed_room >= float(self.b[k] - level))

    def drop(self, k: int) -> None:
        self.m.stable[k].deactivate()

    def extreme(self, coef: np.ndarray, sense: str, eps: float | None) -> float:
        """max or min coef·x over the current constraints with ε fixed at ``eps`` (when given)."""
        pyo, m = self.pyo, self.m
        if eps is not None:
            m.eps.fix(eps)
        m.obj.deactivate()
        m.probe = pyo.Objective(expr=sum(float(c) * m.x[i] for i, c in enumerate(coef) if c != 0),
                                sense=pyo.maximize if sense == "max" else pyo.minimize)
        try:
            self.solve("least-core probe")
            return float(pyo.value(m.probe))
        finally:
            m.del_component(m.probe)
            m.obj.activate()
            m.eps.unfix()


def _null_space(F: np.ndarray, tol: float) -> np.ndarray:
    """Orthonormal basis (n, n - rank) of {z : F z = 0}."""
    _, s, vt = np.linalg.svd(F, full_matrices=True)
    rank = int((s > tol * max(1.0, s.max() if s.size else 0.0)).sum())
    return vt[rank:].T


def _resolve_ir(t: _Table, individually_rational: bool | None, tol: float) -> bool:
    has = _has_imputations(t, tol)
    if individually_rational is None:
        return has
    if individually_rational and not has:
        raise InputError("the imputation set is empty (the singletons' values sum to more than v(N)): "
                         "no individually rational allocation exists")
    return bool(individually_rational)


def nucleolus_rounds(players: Iterable[str], v: ValueFunction, solver: str = "appsi_highs", tol: float = 1e-7,
                     individually_rational: bool | None = None) -> NucleolusResult:
    """The nucleolus by the sequential LPs of Maschler, Peleg and Shapley, with each round's record.

    Parameters
    ----------
    players, v
        The game; ``v`` is evaluated once on every non-empty coalition.
    solver
        A Pyomo solver name (``appsi_highs``, ``highs``, ``glpk``, ``cbc``, ...); duals are used when it reports
        them, otherwise one extra LP per tight coalition decides what is fixed.
    tol
        Relative tolerance (values are scaled to :math:`\\max|v| = 1`): a coalition is tight when its excess is within
        ``tol`` of the round's level, a dual is positive above ``tol``.
    individually_rational
        ``None`` (default): over the imputation set when it is non-empty, else the pre-nucleolus over all efficient
        vectors; ``True`` / ``False`` force either (``True`` raises when there are no imputations).

    Returns
    -------
    NucleolusResult
        See the module docstring for the method; at most ``n`` rounds.
    """
    t = _table(players, v)
    n = t.n
    if n == 1:
        return NucleolusResult({t.players[0]: float(t.values[1])}, 0.0, [], [], True, 0)
    ir = _resolve_ir(t, individually_rational, tol)
    lp = _LP(t, solver, ir)
    K = len(lp.rows)
    free = np.ones(K, dtype=bool)
    fixed_rows: list[np.ndarray] = [np.ones(n)]
    fixed_rhs: list[float] = [t.values[t.grand] / lp.scale]
    levels: list[float] = []
    fixed_names: list[list[str]] = []
    x = None
    for _round in range(n + 1):
        try:
            lp.solve(f"nucleolus round {_round + 1}")
        except OptimizationError:
            if _round == 0 or lp.pyo.value(lp.m.fixed_room) > 0:
                raise
            # the fixed levels are LP optima, feasible only to the solver's tolerance: give them that much room
            lp.m.fixed_room = 10 * tol
            lp.solve(f"nucleolus round {_round + 1} (fixed rows loosened by {10 * tol:g})")
        eps = float(lp.pyo.value(lp.m.eps))
        x = lp.x()
        excess = lp.b - lp.A @ x
        tight = free & (excess >= eps - 10 * tol)
        y = lp.duals()
        # a non-zero dual forces its row tight over the whole optimal face, whatever the solver's sign convention
        new = tight & (np.abs(y) > tol) if y is not None else np.zeros(K, dtype=bool)
        if not new.any():
            new = _fallback_fix(lp, tight, eps, tol)
        if not new.any():
            raise OptimizationError(f"nucleolus round {_round + 1}: no coalition could be fixed "
                                    f"(numerically degenerate game; try a looser tol than {tol})")
        levels.append(eps * lp.scale)
        fixed_names.append(sorted(t.name(int(lp.rows[k])) for k in np.flatnonzero(new)))
        for k in np.flatnonzero(new):
            lp.fix(int(k), eps)
            fixed_rows.append(lp.A[k].astype(float))
            fixed_rhs.append(float(lp.b[k] - eps))
        free &= ~new
        Z = _null_space(np.array(fixed_rows), 1e-9)
        if Z.shape[1] == 0:
            break
        spanned = free & (np.abs(lp.A.astype(float) @ Z).max(axis=1) <= 1e-9)
        for k in np.flatnonzero(spanned):
            lp.drop(int(k))
        free &= ~spanned
        if not free.any():  # pragma: no cover - the singletons would span everything
            break
    else:
        raise OptimizationError(f"nucleolus did not settle within {n + 1} rounds")
    F, r = np.array(fixed_rows), np.array(fixed_rhs)
    sol, *_ = np.linalg.lstsq(F, r, rcond=None)
    # the exact solution of the fixed equalities, unless numerical trouble made it disagree with the LP's point
    if np.max(np.abs(F @ sol - r)) <= 1e3 * tol and np.max(np.abs(sol - x)) <= 1e3 * tol:
        x = sol
    alloc = {p: float(x[i] * lp.scale) for i, p in enumerate(t.players)}
    return NucleolusResult(alloc, levels[0] + 0.0, levels, fixed_names, ir, lp.solves)


def _fallback_fix(lp: _LP, tight: np.ndarray, eps: float, tol: float) -> np.ndarray:
    """Tight candidates that stay tight over the whole optimal face: max x(S) with ε fixed at its optimum."""
    new = np.zeros_like(tight)
    for k in np.flatnonzero(tight):
        best = lp.extreme(lp.A[k].astype(float), "max", eps)
        if best <= lp.b[k] - eps + 10 * tol:
            new[k] = True
    return new


def nucleolus(players: Iterable[str], v: ValueFunction, solver: str = "appsi_highs", tol: float = 1e-7
              ) -> dict[str, float]:
    """The nucleolus: the efficient (and, when the imputation set is non-empty, individually rational) allocation
    whose decreasingly sorted excess vector :math:`(v(S) - x(S))_S` is lexicographically smallest.

    Sequential Pyomo LPs on ``solver`` (module docstring); at most ``n`` rounds, each with :math:`2^n - 2` rows.
    Equals the unique core point when the core is a point, lies in the core whenever the core is non-empty.

    Examples
    --------
    >>> v = lambda s: 1.0 if len(s) >= 2 else 0.0   # 3-player majority: empty core
    >>> {p: round(x, 6) for p, x in nucleolus(["A", "B", "C"], v).items()}
    {'A': 0.333333, 'B': 0.333333, 'C': 0.333333}
    """
    return nucleolus_rounds(players, v, solver, tol).allocation


def least_core(players: Iterable[str], v: ValueFunction, solver: str = "appsi_highs"
               ) -> tuple[float, dict[str, float]]:
    """:math:`\\varepsilon^*` of the least core and the nucleolus, a unique point of it (not an arbitrary LP corner).

    :math:`\\varepsilon^* \\le 0` iff the core is non-empty."""
    r = nucleolus_rounds(players, v, solver)
    return r.epsilon, r.allocation


def least_core_ranges(players: Iterable[str], v: ValueFunction, solver: str = "appsi_highs", tol: float = 1e-7
                      ) -> tuple[float, dict[str, tuple[float, float]]]:
    """:math:`\\varepsilon^*` and, per player, :math:`(\\min x_i, \\max x_i)` over the least core

    .. math:: LC = \\{x \\in X : x(N) = v(N),\\ x(S) \\ge v(S) - \\varepsilon^*\\ \\forall S \\ne \\emptyset, N\\}

    (:math:`X` the imputation set when non-empty, as for :func:`nucleolus`; ``2n + 1`` LPs). The ranges contain the
    nucleolus; ``max x_i`` is the most player i can claim without some coalition objecting by more than
    :math:`\\varepsilon^*`.
    """
    t = _table(players, v)
    if t.n == 1:
        val = float(t.values[1])
        return 0.0, {t.players[0]: (val, val)}
    lp = _LP(t, solver, _resolve_ir(t, None, tol))
    lp.solve("least core")
    eps = float(lp.pyo.value(lp.m.eps))
    level = eps  # the round's optimum: feasible to the solver's tolerance, no slack that would widen the ranges
    out = {}
    for i, p in enumerate(t.players):
        e = np.zeros(t.n)
        e[i] = 1.0
        lo = lp.extreme(e, "min", level)
        hi = lp.extreme(e, "max", level)
        out[p] = (lo * lp.scale, hi * lp.scale)
    return eps * lp.scale, out


# ----------------------------------------------------------------------------------------------------------------
# core check


@dataclass(frozen=True)
class CoreCheck:
    """Is ``x`` in the core?

    ``blocking``: the coalition with the largest shortfall :math:`v(S) - x(S)` when that exceeds the tolerance
    (else ``None``); ``shortfall``: that largest shortfall over every non-empty coalition including :math:`N`
    (negative: the margin by which the tightest coalition is satisfied); ``violations``: every coalition with a
    shortfall above the tolerance (coalition "A+B", value, allocated, shortfall), largest first;
    ``overallocated``: :math:`\\max(0, x(N) - v(N))` (an allocation that pays out more than v(N) is not in the core
    either, though no coalition blocks it)."""

    in_core: bool
    blocking: frozenset | None
    shortfall: float
    violations: pd.DataFrame = field(repr=False, compare=False)
    overallocated: float = 0.0


def core_check(players: Iterable[str], v: ValueFunction, x: Mapping[str, float], tol: float = 1e-6) -> CoreCheck:
    """Check :math:`x(S) \\ge v(S)` for every non-empty :math:`S` (including :math:`N`) and :math:`x(N) \\le v(N)`.

    ``tol`` is relative to :math:`\\max(1, |v(N)|)`. Raises :class:`InputError` when ``x`` misses a player or has a
    non-finite entry."""
    t = _table(players, v)
    missing = [p for p in t.players if p not in x]
    if missing:
        raise InputError(f"allocation has no entry for player(s) {missing}")
    xs = np.array([float(x[p]) for p in t.players])
    bad = [p for p, val in zip(t.players, xs, strict=True) if not math.isfinite(val)]
    if bad:
        raise InputError(f"allocation to {bad[0]} is {x[bad[0]]}, not a finite number")
    masks = np.arange(1, 1 << t.n, dtype=np.int64)
    allocated = t.members[masks] @ xs
    short = t.values[masks] - allocated
    vN = t.values[t.grand]
    abs_tol = tol * max(1.0, abs(vN))
    # largest shortfall first; among equal shortfalls the smaller coalition (it needs fewer members to agree)
    order = np.lexsort((masks, _popcount(masks), -short))
    worst = int(order[0])
    viol_idx = order[short[order] > abs_tol]
    violations = pd.DataFrame({
        "coalition": [t.name(int(m)) for m in masks[viol_idx]],
        "value": t.values[masks[viol_idx]],
        "allocated": allocated[viol_idx],
        "shortfall": short[viol_idx],
    })
    over = max(0.0, float(xs.sum() - vN))
    blocking = t.coalition(int(masks[worst])) if short[worst] > abs_tol else None
    return CoreCheck(bool(blocking is None and over <= abs_tol), blocking, float(short[worst]), violations, over)


# ----------------------------------------------------------------------------------------------------------------
# Nash bargaining


def nash_bargaining(players: Iterable[str], v_grand: float, threats: Mapping[str, float],
                    weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Weighted Nash bargaining solution :math:`x_i = d_i + \\frac{w_i}{\\sum_j w_j}(v(N) - \\sum_j d_j)`.

    ``threats``: each player's threat point :math:`d_i` (its outside option); ``weights``: bargaining powers
    :math:`w_i > 0` (default equal). Raises :class:`InputError` when :math:`\\sum_j d_j > v(N)` (no agreement beats
    the threat points) or a threat / weight is missing or invalid."""
    ps = _check_players(players, None)
    missing = [p for p in ps if p not in threats]
    if missing:
        raise InputError(f"no threat point for player(s) {missing}")
    d = np.array([float(threats[p]) for p in ps])
    if weights is None:
        w = np.ones(len(ps))
    else:
        missing = [p for p in ps if p not in weights]
        if missing:
            raise InputError(f"no bargaining weight for player(s) {missing}")
        w = np.array([float(weights[p]) for p in ps])
        bad = [(p, wi) for p, wi in zip(ps, w, strict=True) if not (math.isfinite(wi) and wi > 0)]
        if bad:
            raise InputError(f"bargaining weight of {bad[0][0]} is {bad[0][1]}: weights must be positive")
    if not (np.isfinite(d).all() and math.isfinite(v_grand)):
        raise InputError("threat points and v(N) must be finite numbers")
    gain = float(v_grand) - float(d.sum())
    if gain < -1e-9 * max(1.0, abs(v_grand)):
        raise InputError(f"the threat points sum to {d.sum():,.2f} > v(N) = {v_grand:,.2f}: no agreement beats "
                         "going alone, so there is nothing to bargain over")
    x = d + w / w.sum() * max(gain, 0.0)
    return {p: float(xi) for p, xi in zip(ps, x, strict=True)}


# ----------------------------------------------------------------------------------------------------------------
# Shapley


def shapley_exact(players: Iterable[str], v: ValueFunction) -> dict[str, float]:
    """Exact Shapley value, vectorised over the :math:`2^n` coalition values (each evaluated once)."""
    t = _table(players, v, max_players=20)
    n = t.n
    masks = np.arange(1 << n, dtype=np.int64)
    size = _popcount(masks)
    w = np.array([math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)])
    phi = {}
    for i, p in enumerate(t.players):
        without = masks[(masks >> i & 1) == 0]
        phi[p] = float(np.sum(w[size[without]] * (t.values[without | (1 << i)] - t.values[without])))
    return phi


def shapley_sampled(players: Iterable[str], v: ValueFunction, samples: int, seed: int = 0
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Shapley value by ``samples`` random orderings (seeded): each player's mean marginal contribution and the
    standard error of that mean (``nan`` with one sample).

    The orderings are ``numpy.random.default_rng(seed).permutation(players)`` drawn one after another, so a caller
    can compute the prefix coalitions it needs in advance with the same generator."""
    ps = _check_players(players, None)
    if samples < 1:
        raise InputError(f"shapley samples must be >= 1, got {samples}")
    rng = np.random.default_rng(seed)
    n = len(ps)
    contrib = np.empty((samples, n))
    index = {p: i for i, p in enumerate(ps)}
    cache: dict[Coalition, float] = {frozenset(): 0.0}
    for s in range(samples):
        order = list(rng.permutation(list(ps)))
        before: Coalition = frozenset()
        prev = 0.0
        for p in order:
            now = before | {p}
            if now not in cache:
                cache[now] = float(v(now))
            contrib[s, index[p]] = cache[now] - prev
            before, prev = now, cache[now]
    mean = contrib.mean(axis=0)
    se = contrib.std(axis=0, ddof=1) / math.sqrt(samples) if samples > 1 else np.full(n, np.nan)
    return ({p: float(mean[i]) for i, p in enumerate(ps)}, {p: float(se[i]) for i, p in enumerate(ps)})


# ----------------------------------------------------------------------------------------------------------------
# superadditive cover


def _cover(t: _Table) -> tuple[np.ndarray, np.ndarray]:
    """v̂ by bitmask and the best split: ``split[S]`` = T (0 when S acts as one)."""
    n = t.n
    N = 1 << n
    masks = np.arange(N, dtype=np.int64)
    size = _popcount(masks)
    vhat = t.values.copy()
    split = np.zeros(N, dtype=np.int64)
    scale = _scale(t)
    for k in range(2, n + 1):
        S = masks[size == k]  # (m,)
        # the members of each S as bit values, in increasing bit order: (m, k)
        bits = np.sort(np.where(t.members[S], 1 << np.arange(n, dtype=np.int64), 0), axis=1)[:, -k:]
        low, rest = bits[:, :1], bits[:, 1:]
        # every T containing S's lowest member: low | any subset of the other k-1 members, T != S
        sel = ((np.arange(1 << (k - 1), dtype=np.int64)[:, None] >> np.arange(k - 1)) & 1)  # (2^{k-1}, k-1)
        T = low + rest @ sel.T  # (m, 2^{k-1})
        T = T[:, :-1]  # the last one is S itself
        cand = vhat[T] + vhat[S[:, None] - T]
        j = np.argmax(cand, axis=1)
        best = cand[np.arange(len(S)), j]
        better = best > vhat[S] + 1e-12 * scale
        vhat[S] = np.where(better, best, vhat[S])
        split[S] = np.where(better, T[np.arange(len(S)), j], 0)
    return vhat, split


def superadditive_cover(players: Iterable[str], v: ValueFunction) -> dict[Coalition, float]:
    """:math:`\\hat v(S)`: the most :math:`S` can guarantee when its members may also act separately (the best
    partition of :math:`S`); every coalition, the empty one included (:math:`\\hat v(\\emptyset) = 0`).

    Dynamic programming over subsets, :math:`O(3^n)` pairs vectorised per coalition size."""
    t = _table(players, v)
    vhat, _ = _cover(t)
    return {t.coalition(m): float(vhat[m]) for m in range(1 << t.n)}


def best_partition(players: Iterable[str], v: ValueFunction) -> dict[Coalition, tuple[Coalition, ...]]:
    """The partition of each coalition that attains :math:`\\hat v(S) = \\sum_j v(S_j)` (``(S,)`` when acting as
    one is best; parts in the order of their lowest player in ``players``). ``()`` for the empty coalition."""
    t = _table(players, v)
    _, split = _cover(t)

    def parts(mask: int) -> list[int]:
        if mask == 0:
            return []
        s = int(split[mask])
        return [mask] if s == 0 else parts(s) + parts(mask ^ s)

    out = {}
    for m in range(1 << t.n):
        ps = sorted(parts(m), key=lambda q: q & -q)
        out[t.coalition(m)] = tuple(t.coalition(q) for q in ps)
    return out
