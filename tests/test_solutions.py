"""Solution concepts on textbook games and random games, each checked against an independent computation.

Independent references used here: hand-solved games (glove, majority, airport, a unique-core-point game), scipy's
``linprog`` for the least core and its ranges, brute-force lexicographic comparison of sorted excess vectors for
the nucleolus, enumeration of set partitions for the superadditive cover, a numerical optimiser for Nash
bargaining, and game.py's loop implementation for Shapley."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from pooling.consortium import game as game_module
from pooling.consortium import solutions as sol
from pooling.consortium.solutions import (
    best_partition,
    core_check,
    least_core,
    least_core_ranges,
    nash_bargaining,
    nucleolus,
    nucleolus_rounds,
    shapley_exact,
    shapley_sampled,
    superadditive_cover,
)
from pooling.errors import InputError


def table(values: dict[str, float]):
    t = {frozenset(k.split("+")) if k else frozenset(): float(v) for k, v in values.items()}
    return lambda s: t[frozenset(s)]


def coalitions(players, proper=True):
    top = len(players) if not proper else len(players) - 1
    return [frozenset(c) for r in range(1, top + 1) for c in itertools.combinations(players, r)]


def glove(left: set[str], right: set[str]):
    return lambda s: float(min(len(s & left), len(s & right)))


def majority(s) -> float:
    return 1.0 if len(s) >= 2 else 0.0


def random_game(players, seed: int, superadditive: bool = True, scale: float = 1.0):
    """Random values; superadditive by taking the cover of a random game (values in `scale` units)."""
    rng = np.random.default_rng(seed)
    raw = {c: scale * (len(c) + rng.uniform(0.0, 1.5) * len(c) ** 1.3) for c in coalitions(players, proper=False)}
    raw[frozenset()] = 0.0
    if superadditive:
        cover = superadditive_cover(players, raw.__getitem__)
        return cover.__getitem__
    return raw.__getitem__


def sorted_excess(players, v, x: dict[str, float]) -> np.ndarray:
    e = [v(c) - sum(x[p] for p in c) for c in coalitions(players)]
    return np.sort(np.array(e))[::-1]


def lex_leq(a: np.ndarray, b: np.ndarray, tol: float = 1e-7) -> bool:
    """a ≤ b lexicographically, entries within tol counting as equal."""
    for ai, bi in zip(a, b, strict=True):
        if ai < bi - tol:
            return True
        if ai > bi + tol:
            return False
    return True


def scipy_least_core(players, v, ir: bool):
    """ε* and the least-core constraints (A_ub, b_ub, A_eq, b_eq, bounds) over x (no ε) by scipy."""
    n = len(players)
    cs = coalitions(players)
    A = np.array([[1.0 if p in c else 0.0 for p in players] for c in cs])
    b = np.array([v(c) for c in cs])
    vN = v(frozenset(players))
    bounds = [(v(frozenset([p])) if ir else None, None) for p in players] + [(None, None)]
    # min ε  s.t.  -x(S) - ε <= -v(S),  x(N) = v(N)
    res = linprog(np.r_[np.zeros(n), 1.0], A_ub=np.c_[-A, -np.ones(len(cs))], b_ub=-b,
                  A_eq=np.r_[np.ones(n), 0.0][None, :], b_eq=[vN], bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.x[-1]), (-A, -b, np.ones((1, n)), [vN], bounds[:-1])


# ---------------------------------------------------------------------------------------------------------------
# nucleolus on textbook games


def test_glove_game_nucleolus_is_the_core_point() -> None:
    """One left glove (A), two right gloves (B, C): the core is {(1, 0, 0)}, so is the nucleolus."""
    v = glove({"A"}, {"B", "C"})
    x = nucleolus(["A", "B", "C"], v)
    assert x == pytest.approx({"A": 1.0, "B": 0.0, "C": 0.0}, abs=1e-7)
    assert core_check(["A", "B", "C"], v, x).in_core


def test_larger_glove_game_scarce_side_takes_all() -> None:
    """Two left (L1, L2), three right gloves: the core (and nucleolus) gives each left glove 1, right gloves 0."""
    players = ["L1", "L2", "R1", "R2", "R3"]
    v = glove({"L1", "L2"}, {"R1", "R2", "R3"})
    x = nucleolus(players, v)
    assert x == pytest.approx({"L1": 1, "L2": 1, "R1": 0, "R2": 0, "R3": 0}, abs=1e-7)


def test_majority_game_empty_core_equal_split() -> None:
    players = ["A", "B", "C"]
    r = nucleolus_rounds(players, majority)
    assert r.allocation == pytest.approx(dict.fromkeys(players, 1 / 3), abs=1e-9)
    assert r.epsilon == pytest.approx(1 / 3, abs=1e-9)  # every pair is short by 1/3: empty core
    eps, point = least_core(players, majority)
    assert eps == pytest.approx(1 / 3, abs=1e-9) and point == pytest.approx(r.allocation)
    check = core_check(players, majority, r.allocation)
    assert not check.in_core and check.shortfall == pytest.approx(1 / 3)
    assert len(check.blocking) == 2


def test_unique_core_point() -> None:
    """v(ij) = 2/3, v(N) = 1: summing the three pair constraints gives 2 x(N) >= 2, so x = (1/3, 1/3, 1/3) is the
    core's only point; the nucleolus must be it and ε* = 0."""
    v = table({"": 0, "A": 0, "B": 0, "C": 0, "A+B": 2 / 3, "A+C": 2 / 3, "B+C": 2 / 3, "A+B+C": 1})
    r = nucleolus_rounds(list("ABC"), v)
    assert r.allocation == pytest.approx(dict.fromkeys("ABC", 1 / 3), abs=1e-8)
    assert r.epsilon == pytest.approx(0.0, abs=1e-9)
    # an asymmetric one: v(AB) = 3, v(AC) = 2, v(BC) = 1, v(N) = 3 → x = (2, 1, 0) is the only core point
    v2 = table({"": 0, "A": 0, "B": 0, "C": 0, "A+B": 3, "A+C": 2, "B+C": 1, "A+B+C": 3})
    assert nucleolus(list("ABC"), v2) == pytest.approx({"A": 2.0, "B": 1.0, "C": 0.0}, abs=1e-8)


def test_airport_game() -> None:
    """Runway costs c = (1, 2, 3); savings game v(S) = Σ_{i∈S} c_i − max_{i∈S} c_i. Solved by hand: the first
    level −1/2 fixes x_1 = 1/2 (e({1}) = e({2,3}) = −1/2), the second equalises e({1,2}) = e({1,3}) at −3/4:
    savings (1/2, 5/4, 5/4), i.e. cost shares c − x = (1/2, 3/4, 7/4) — Littlechild's sequential split."""
    c = {"P1": 1.0, "P2": 2.0, "P3": 3.0}

    def v(s):
        return sum(c[p] for p in s) - max(c[p] for p in s) if s else 0.0

    r = nucleolus_rounds(list(c), v)
    assert r.allocation == pytest.approx({"P1": 0.5, "P2": 1.25, "P3": 1.25}, abs=1e-8)
    assert r.levels == pytest.approx([-0.5, -0.75], abs=1e-8)
    costs = {p: c[p] - r.allocation[p] for p in c}
    assert costs == pytest.approx({"P1": 0.5, "P2": 0.75, "P3": 1.75}, abs=1e-8)


@pytest.mark.parametrize(("n", "seed", "superadditive"), [(4, 1, True), (5, 2, True), (4, 3, False), (5, 4, False)])
def test_nucleolus_lexicographic_minimum_brute_force(n: int, seed: int, superadditive: bool) -> None:
    """No other imputation (random ones, and small moves away from the nucleolus) has a lexicographically smaller
    decreasingly sorted excess vector."""
    players = [f"P{i}" for i in range(n)]
    v = random_game(players, seed, superadditive)
    r = nucleolus_rounds(players, v)
    nu = r.allocation
    vN = v(frozenset(players))
    assert sum(nu.values()) == pytest.approx(vN, rel=1e-10)
    singles = np.array([v(frozenset([p])) for p in players])
    assert r.individually_rational == (singles.sum() <= vN)
    if r.individually_rational:
        assert min(nu[p] - singles[i] for i, p in enumerate(players)) >= -1e-9
    e_nu = sorted_excess(players, v, nu)
    x0 = np.array([nu[p] for p in players])
    rng = np.random.default_rng(seed)
    trials = 0
    for k in range(600):
        if k % 2 == 0 and r.individually_rational:  # a random imputation
            x = singles + rng.dirichlet(np.ones(n)) * (vN - singles.sum())
        else:  # a small efficient move away from ν
            d = rng.normal(size=n)
            d -= d.mean()
            x = x0 + d * 10.0 ** rng.uniform(-4, -1)
            if r.individually_rational and (x < singles - 1e-12).any():
                continue
        trials += 1
        other = sorted_excess(players, v, dict(zip(players, x, strict=True)))
        assert lex_leq(e_nu, other, tol=1e-7), (x, e_nu, other)
    assert trials > 300


def test_nucleolus_covariance_and_scale() -> None:
    """Strategic equivalence: v'(S) = a v(S) + b(S) gives ν' = a ν + b — also at CNY-billions scale."""
    players = list("ABCDE")
    v = random_game(players, 7)
    nu = nucleolus(players, v)
    a, b = 2.5e9, {"A": 1e8, "B": -3e7, "C": 0.0, "D": 5e8, "E": 2e6}

    def w(s):
        return a * v(s) + sum(b[p] for p in s)

    nu2 = nucleolus(players, w)
    for p in players:
        assert nu2[p] == pytest.approx(a * nu[p] + b[p], rel=1e-7, abs=1e-7 * a)


def test_nucleolus_symmetric_and_degenerate_games() -> None:
    """Symmetric players get equal shares; the unanimity game, the zero game and a constant-sum game."""
    players = [f"P{i}" for i in range(8)]
    maj5 = nucleolus(players, lambda s: 1.0 if len(s) >= 5 else 0.0)
    assert list(maj5.values()) == pytest.approx([1 / 8] * 8, abs=1e-8)
    unanimity = nucleolus(players, lambda s: 1.0 if len(s) == 8 else 0.0)
    assert list(unanimity.values()) == pytest.approx([1 / 8] * 8, abs=1e-8)
    assert list(nucleolus(players, lambda s: 0.0).values()) == pytest.approx([0.0] * 8, abs=1e-12)
    # additive game: everyone gets exactly its standalone value
    w = {p: float(i + 1) for i, p in enumerate(players)}
    assert nucleolus(players, lambda s: sum(w[p] for p in s)) == pytest.approx(w, abs=1e-7)
    assert nucleolus(["solo"], lambda s: 4.0) == {"solo": 4.0}


def test_nucleolus_in_core_of_convex_game() -> None:
    """A convex game (v(S) = |S|² with weights) has a non-empty core; the nucleolus is in it, as is Shapley."""
    rng = np.random.default_rng(3)
    players = list("ABCDEF")
    wt = dict(zip(players, rng.uniform(1, 3, len(players)), strict=True))

    def v(s):
        return sum(wt[p] for p in s) ** 2

    x = nucleolus(players, v)
    assert core_check(players, v, x).in_core
    assert core_check(players, v, shapley_exact(players, v)).in_core
    eps, _ = least_core(players, v)
    assert eps < 0


def test_pre_nucleolus_when_no_imputations() -> None:
    """Singletons worth more than v(N): no imputation exists; the pre-nucleolus (efficient, not IR) is returned."""
    v = table({"": 0, "A": 2, "B": 2, "C": 0, "A+B": 3, "A+C": 2, "B+C": 2, "A+B+C": 3})
    r = nucleolus_rounds(list("ABC"), v)
    assert not r.individually_rational
    assert sum(r.allocation.values()) == pytest.approx(3.0)
    eps_ref, _ = scipy_least_core(list("ABC"), v, ir=False)
    assert r.epsilon == pytest.approx(eps_ref, abs=1e-8)
    with pytest.raises(InputError, match="imputation set is empty"):
        nucleolus_rounds(list("ABC"), v, individually_rational=True)


def test_fallback_without_duals_gives_the_same_nucleolus(monkeypatch) -> None:
    """A solver that reports no duals: the per-candidate probe LPs decide what to fix, with the same answer."""
    players = [f"P{i}" for i in range(5)]
    v = random_game(players, 11)
    with_duals = nucleolus_rounds(players, v)
    degenerate = [degenerate_game(seed) for seed in (27, 33, 37)]
    degenerate_with = [nucleolus_rounds(ps, g) for ps, g in degenerate]
    monkeypatch.setattr(sol._LP, "duals", lambda self: None)
    without = nucleolus_rounds(players, v)
    assert without.allocation == pytest.approx(with_duals.allocation, abs=1e-7)
    assert without.lp_solves > with_duals.lp_solves
    for (ps, g), ref in zip(degenerate, degenerate_with, strict=True):
        assert nucleolus_rounds(ps, g).allocation == pytest.approx(ref.allocation, abs=1e-7)
    maj = nucleolus_rounds(list("ABC"), majority)
    assert maj.allocation == pytest.approx(dict.fromkeys("ABC", 1 / 3), abs=1e-8)


def test_round_that_turns_infeasible_is_retried_with_room(monkeypatch) -> None:
    """A later round that the solver calls infeasible (fixed levels are optima only to its tolerance) is solved
    again with the fixed rows loosened by 10 tol: the answer moves by that order, not more; round 1 is not retried."""
    from pooling.errors import OptimizationError

    c = {"P1": 1.0, "P2": 2.0, "P3": 3.0}

    def v(s):
        return sum(c[p] for p in s) - max(c[p] for p in s) if s else 0.0

    original = sol._LP.solve
    calls = {"n": 0}

    def flaky(self, what):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OptimizationError("simulated: infeasible")
        return original(self, what)

    monkeypatch.setattr(sol._LP, "solve", flaky)
    r = nucleolus_rounds(list(c), v)
    assert r.allocation == pytest.approx({"P1": 0.5, "P2": 1.25, "P3": 1.25}, abs=1e-5)
    calls["n"] = 1  # the next call is the first round's: it fails and is not retried
    with pytest.raises(OptimizationError, match="simulated"):
        nucleolus_rounds(list(c), v)


def test_rounds_bounded_and_levels_non_increasing() -> None:
    players = [f"P{i}" for i in range(10)]
    r = nucleolus_rounds(players, random_game(players, 5, superadditive=False))
    assert 1 <= len(r.levels) <= len(players)
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(r.levels))
    assert sum(len(f) for f in r.fixed) >= len(players) - 1  # rank n − 1 beyond the grand coalition


def degenerate_game(seed: int):
    """Small integer values: many ties, so the round LPs have many optimal solutions and degenerate duals."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 7))
    players = [f"P{i}" for i in range(n)]
    vals = {c: float(rng.integers(0, 4) * len(c) // 2 + (len(c) >= n - 1) * rng.integers(0, 3))
            for c in coalitions(players, proper=False)}
    vals[frozenset()] = 0.0
    return players, vals.__getitem__


@pytest.mark.parametrize("seed", range(0, 40, 2))
def test_degenerate_games_rank_grows_every_round(seed: int) -> None:
    """Each round fixes a coalition outside the span of the ones fixed before (the rank of the fixed rows, N
    included, grows strictly), so there are at most n − 1 rounds; and the answer is still lexicographically
    minimal against random imputations and small moves."""
    players, v = degenerate_game(seed)
    n = len(players)
    r = nucleolus_rounds(players, v)
    rows, ranks = [np.ones(n)], [1]
    for names in r.fixed:
        rows += [np.array([1.0 if p in name.split("+") else 0.0 for p in players]) for name in names]
        ranks.append(int(np.linalg.matrix_rank(np.array(rows))))
    assert all(b > a for a, b in itertools.pairwise(ranks)), ranks
    assert ranks[-1] == n and len(r.levels) <= n - 1
    e_nu = sorted_excess(players, v, r.allocation)
    x0 = np.array([r.allocation[p] for p in players])
    singles = np.array([v(frozenset([p])) for p in players])
    vN = v(frozenset(players))
    rng = np.random.default_rng(seed)
    for k in range(200):
        if k % 2 and r.individually_rational:
            x = singles + rng.dirichlet(np.ones(n)) * (vN - singles.sum())
        else:
            d = rng.normal(size=n)
            x = x0 + (d - d.mean()) * 10.0 ** rng.uniform(-4, -1)
            if r.individually_rational and (x < singles - 1e-12).any():
                continue
        assert lex_leq(e_nu, sorted_excess(players, v, dict(zip(players, x, strict=True)))), x


def test_solver_is_a_parameter() -> None:
    """The Pyomo solver is chosen by name, not hard-coded: the HiGHS interface of pyomo.contrib gives the same."""
    import pyomo.environ as pyo

    if not pyo.SolverFactory("highs").available(exception_flag=False):
        pytest.skip("pyomo 'highs' interface not available")
    players = [f"P{i}" for i in range(5)]
    v = random_game(players, 8)
    assert nucleolus(players, v, solver="highs") == pytest.approx(nucleolus(players, v), abs=1e-7)
    got, ref = least_core_ranges(players, v, solver="highs")[1], least_core_ranges(players, v)[1]
    assert [b for p in players for b in got[p]] == pytest.approx([b for p in players for b in ref[p]], abs=1e-6)


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="twice"):
        nucleolus(["A", "A"], majority)
    with pytest.raises(InputError, match="not finite"):
        nucleolus(["A", "B"], lambda s: math.nan)
    with pytest.raises(InputError, match="at most"):
        nucleolus([f"P{i}" for i in range(17)], majority)
    with pytest.raises(InputError, match="not available"):
        nucleolus(["A", "B"], majority, solver="no_such_solver")


# ---------------------------------------------------------------------------------------------------------------
# least core


@pytest.mark.parametrize(("players", "seed", "superadditive"),
                         [(list("ABCD"), 21, True), (list("ABCDE"), 22, False), (list("ABC"), None, None)])
def test_least_core_ranges_against_scipy(players, seed, superadditive) -> None:
    """ε* and every player's (min, max) over the least core agree with scipy's linprog; the nucleolus lies within
    the ranges; random points of the least core (convex combinations of the range-attaining vertices) too."""
    v = majority if seed is None else random_game(players, seed, superadditive)
    n = len(players)
    eps, ranges = least_core_ranges(players, v)
    r = nucleolus_rounds(players, v)
    assert eps == pytest.approx(r.epsilon, abs=1e-9)
    eps_ref, (A_ub, b_ub, A_eq, b_eq, bounds) = scipy_least_core(players, v, r.individually_rational)
    assert eps == pytest.approx(eps_ref, abs=1e-7)
    vertices = []
    for i, p in enumerate(players):
        for sign in (1.0, -1.0):
            c = np.zeros(n)
            c[i] = sign
            res = linprog(c, A_ub=A_ub, b_ub=b_ub + eps_ref + 1e-9, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
            assert res.status == 0
            vertices.append(res.x)
            ref = res.x[i]
            got = ranges[p][0] if sign > 0 else ranges[p][1]
            assert got == pytest.approx(ref, abs=1e-6), (p, sign)
        lo, hi = ranges[p]
        assert lo - 1e-7 <= r.allocation[p] <= hi + 1e-7
    rng = np.random.default_rng(0)
    V = np.array(vertices)
    for _ in range(200):
        x = rng.dirichlet(np.ones(len(V))) @ V
        assert (A_ub @ x <= b_ub + eps_ref + 1e-7).all()  # in the least core (independent check)
        for i, p in enumerate(players):
            assert ranges[p][0] - 1e-7 <= x[i] <= ranges[p][1] + 1e-7


def test_least_core_ranges_glove_point() -> None:
    eps, ranges = least_core_ranges(list("ABC"), glove({"A"}, {"B", "C"}))
    assert eps == pytest.approx(0.0, abs=1e-9)
    assert ranges["A"] == pytest.approx((1.0, 1.0), abs=1e-6)
    assert ranges["B"] == pytest.approx((0.0, 0.0), abs=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# core check


def test_core_check_names_the_blocking_coalition() -> None:
    """B+C can get 5 alone but is given 3: it blocks, by 2, more than any other coalition."""
    v = table({"": 0, "A": 1, "B": 1, "C": 1, "A+B": 3, "A+C": 3, "B+C": 5, "A+B+C": 7})
    x = {"A": 4.0, "B": 1.5, "C": 1.5}
    chk = core_check(list("ABC"), v, x)
    assert not chk.in_core
    assert chk.blocking == frozenset({"B", "C"})
    assert chk.shortfall == pytest.approx(2.0)
    assert list(chk.violations.columns) == ["coalition", "value", "allocated", "shortfall"]
    assert chk.violations.iloc[0].to_dict() == {"coalition": "B+C", "value": 5.0, "allocated": 3.0, "shortfall": 2.0}
    assert (chk.violations["shortfall"].diff().dropna() <= 0).all()
    # recomputed independently: every listed row and nothing missed
    short = {"+".join(sorted(c)): v(c) - sum(x[p] for p in c) for c in coalitions(list("ABC"), proper=False)}
    assert set(chk.violations["coalition"]) == {k for k, s in short.items() if s > 1e-6 * 7}
    ok = core_check(list("ABC"), v, {"A": 1.5, "B": 2.5, "C": 3.0})
    assert ok.in_core and ok.blocking is None and ok.violations.empty and ok.shortfall <= 0


def test_core_check_underpaid_grand_and_overallocation() -> None:
    v = table({"": 0, "A": 0, "B": 0, "A+B": 2})
    under = core_check(list("AB"), v, {"A": 0.5, "B": 0.5})
    assert not under.in_core and under.blocking == frozenset("AB")
    over = core_check(list("AB"), v, {"A": 2.0, "B": 2.0})
    assert not over.in_core and over.blocking is None and over.overallocated == pytest.approx(2.0)
    with pytest.raises(InputError, match="no entry"):
        core_check(list("AB"), v, {"A": 1.0})


# ---------------------------------------------------------------------------------------------------------------
# Nash bargaining


def test_nash_bargaining_closed_form_is_the_maximiser() -> None:
    players = list("ABC")
    d = {"A": 1.0, "B": 2.0, "C": 0.5}
    w = {"A": 1.0, "B": 2.0, "C": 3.0}
    x = nash_bargaining(players, 10.0, d, w)
    assert x == pytest.approx({"A": 1 + 6.5 / 6, "B": 2 + 13 / 6, "C": 0.5 + 19.5 / 6})
    # numerically: maximise Σ w log(x − d) on Σx = v(N)
    dv, wv = np.array(list(d.values())), np.array(list(w.values()))
    res = minimize(lambda z: -np.sum(wv * np.log(np.maximum(z - dv, 1e-12))), dv + 1.0,
                   constraints=[{"type": "eq", "fun": lambda z: z.sum() - 10.0}], method="SLSQP")
    assert np.array(list(x.values())) == pytest.approx(res.x, abs=1e-4)
    assert nash_bargaining(players, 10.0, d) == pytest.approx({p: d[p] + 6.5 / 3 for p in players})
    with pytest.raises(InputError, match="no agreement beats"):
        nash_bargaining(players, 3.0, d)
    with pytest.raises(InputError, match="positive"):
        nash_bargaining(players, 10.0, d, {"A": 1.0, "B": 0.0, "C": 1.0})


# ---------------------------------------------------------------------------------------------------------------
# Shapley


def test_shapley_exact_matches_the_reference_loop() -> None:
    players = list("ABCDEF")
    v = random_game(players, 9, superadditive=False)
    phi = shapley_exact(players, v)
    assert phi == pytest.approx(game_module.shapley_exact(players, v), rel=1e-12)
    assert sum(phi.values()) == pytest.approx(v(frozenset(players)), rel=1e-12)
    assert shapley_exact(list("ABC"), glove({"A"}, {"B", "C"})) == pytest.approx({"A": 2 / 3, "B": 1 / 6, "C": 1 / 6})


def test_shapley_sampled_same_orderings_and_within_error() -> None:
    players = list("ABCDEFG")
    v = random_game(players, 13, superadditive=False)
    mean, se = shapley_sampled(players, v, samples=300, seed=2)
    ref_mean, ref_se = game_module.shapley_sampled(players, v, 300, seed=2)
    assert mean == pytest.approx(ref_mean, rel=1e-12) and se == pytest.approx(ref_se, rel=1e-9)
    exact = shapley_exact(players, v)
    for p in players:
        assert se[p] > 0 and abs(mean[p] - exact[p]) <= 4 * se[p]
    calls = []
    shapley_sampled(players, lambda s: calls.append(s) or v(s), samples=50, seed=0)
    assert len(calls) == len(set(calls))  # each coalition evaluated once


# ---------------------------------------------------------------------------------------------------------------
# superadditive cover


def set_partitions(items: list[str]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        yield [[first], *part]
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1:]]


def test_superadditive_cover_against_partition_enumeration() -> None:
    players = list("ABCDE")
    rng = np.random.default_rng(17)
    raw = {c: float(rng.uniform(0, 10)) for c in coalitions(players, proper=False)}
    raw[frozenset()] = 0.0
    v = raw.__getitem__
    cover = superadditive_cover(players, v)
    parts = best_partition(players, v)
    for c in coalitions(players, proper=False):
        brute = max(sum(v(frozenset(p)) for p in part) for part in set_partitions(sorted(c)))
        assert cover[c] == pytest.approx(brute, rel=1e-12)
        assert cover[c] >= v(c)
        # the reported partition is one, and attains the cover
        assert frozenset().union(*parts[c]) == c and sum(len(q) for q in parts[c]) == len(c)
        assert sum(v(q) for q in parts[c]) == pytest.approx(cover[c], rel=1e-12)
    assert cover[frozenset()] == 0.0 and parts[frozenset()] == ()
    # superadditive on every disjoint pair, monotone (the raw values are non-negative)
    for s, t in itertools.product(coalitions(players, proper=False), repeat=2):
        if not s & t:
            assert cover[s | t] >= cover[s] + cover[t] - 1e-9
        if s <= t:
            assert cover[t] >= cover[s] - 1e-9


def test_best_partition_prefers_acting_together_on_ties() -> None:
    v = table({"": 0, "A": 1, "B": 1, "A+B": 2})
    assert best_partition(list("AB"), v)[frozenset("AB")] == (frozenset("AB"),)
    v2 = table({"": 0, "A": 1, "B": 1, "A+B": 0})  # the non-monotone artefact: a coalition scoring 0
    assert best_partition(list("AB"), v2)[frozenset("AB")] == (frozenset("A"), frozenset("B"))
    assert superadditive_cover(list("AB"), v2)[frozenset("AB")] == 2.0


def test_twelve_players_fast_enough() -> None:
    """The sizes the consortium uses: 12 players, 4,094 LP rows per round, within seconds."""
    import time

    players = [f"P{i:02d}" for i in range(12)]
    v = random_game(players, 1)
    t0 = time.perf_counter()
    nu = nucleolus(players, v)
    assert time.perf_counter() - t0 < 15
    assert sum(nu.values()) == pytest.approx(v(frozenset(players)), rel=1e-9)
    assert core_check(players, v, nu).shortfall <= least_core(players, v)[0] + 1e-6
