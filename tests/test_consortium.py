"""Consortium game: Shapley axioms, a hand-computed game, sampling error, the core and least core."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pooling.consortium.game import (
    analyse,
    core_violations,
    least_core,
    shapley_exact,
    shapley_sampled,
)
from pooling.scenario import parse_scenario
from tests.test_selection import small_pool


def _table(values: dict[str, float]):
    table = {frozenset(k.split("+")) if k else frozenset(): v for k, v in values.items()}
    return lambda s: table[frozenset(s)]


HAND = {"": 0, "A": 1, "B": 2, "C": 0, "A+B": 4, "A+C": 2, "B+C": 3, "A+B+C": 6}


def test_exact_shapley_by_hand() -> None:
    """Orderings of {A,B,C} and A's marginal contribution in each:
    ABC 1, ACB 1, BAC 2, BCA 3, CAB 2, CBA 3 → φ_A = 12/6 = 2;
    B: ABC 3, ACB 4, BAC 2, BCA 2, CAB 4, CBA 3 → 18/6 = 3;  C: 6 − 2 − 3 = 1."""
    phi = shapley_exact(["A", "B", "C"], _table(HAND))
    assert phi == pytest.approx({"A": 2.0, "B": 3.0, "C": 1.0})


def test_sampling_within_its_standard_error() -> None:
    rng = np.random.default_rng(4)
    players = list("ABCDEF")
    table = {frozenset(): 0.0}
    for r in range(1, 7):
        for S in itertools.combinations(players, r):
            table[frozenset(S)] = float(len(S) ** 1.5 + rng.uniform(0, 2))
    v = table.__getitem__
    exact = shapley_exact(players, v)
    mean, se = shapley_sampled(players, v, samples=400, seed=1)
    for p in players:
        assert abs(mean[p] - exact[p]) <= 4 * se[p] + 1e-9, (p, mean[p], exact[p], se[p])
        assert se[p] > 0


def test_core_empty_and_non_empty() -> None:
    majority = _table({"": 0, "A": 0, "B": 0, "C": 0, "A+B": 1, "A+C": 1, "B+C": 1, "A+B+C": 1})
    eps, _ = least_core(["A", "B", "C"], majority)
    assert eps == pytest.approx(1 / 3, abs=1e-7)  # empty core: some pair is always short by 1/3
    viol = core_violations(["A", "B", "C"], majority, shapley_exact(["A", "B", "C"], majority))
    assert viol["excess"].max() > 0
    # a convex (supermodular) game has a non-empty core that contains its Shapley value
    convex = _table({k: len(k.replace("+", "")) ** 2 if k else 0 for k in HAND})
    eps, _ = least_core(["A", "B", "C"], convex)
    assert eps <= 1e-9
    phi = shapley_exact(["A", "B", "C"], convex)
    assert core_violations(["A", "B", "C"], convex, phi)["excess"].max() <= 1e-9


# ------------------------------------------------------------------------------------- on real pools
def _scenario(assets: pd.DataFrame, limits: dict | None = None, size_rule: str = "proportional", **pool) -> object:
    total = float(assets["gbv"].sum())
    return parse_scenario({
        "name": "c", "as_of": "2026-06-30",
        "amcs": [{"id": a, "kind": "local", "tape": "x.csv"} for a in sorted(assets["amc_id"].unique())],
        "pool": {"size": {"min": 0.3 * total, "max": 0.6 * total}, "limits": limits or {}, **pool},
        "consortium": {"size_rule": size_rule, "workers": 1, "measure": "npv"},
        "solver": {"mip_rel_gap": 0.0},
    }, "c.yaml")


def test_efficiency_and_standalone_on_a_pooled_game() -> None:
    assets = small_pool(1, n=16, n_amcs=3)
    sc = _scenario(assets, {"max_province_share": 0.5, "max_obligor_group_share": 0.3})
    res = analyse(assets, sc, workers=1)
    a = res.allocation
    assert a["shapley_value"].sum() == pytest.approx(res.grand.value, rel=1e-9)
    assert a["alloc_gbv"].sum() == pytest.approx(res.grand.value, rel=1e-9)
    assert a["alloc_npv"].sum() == pytest.approx(res.grand.value, rel=1e-9)
    assert len(res.coalitions) == 7 and set(res.core["rule"]) == {"gbv", "npv", "shapley", "nucleolus"}
    # each standalone value is that AMC's own best pool
    for row in a.itertuples():
        assert row.standalone_value == pytest.approx(
            res.coalitions.set_index("coalition").loc[row.amc_id, "value"])
    assert set(res.withdrawals["withdrawing"]) == set(a["amc_id"])


def test_symmetric_amcs_get_equal_shapley() -> None:
    base = small_pool(2, n=6, n_amcs=1)
    twins = []
    for amc in ("A", "B"):
        t = base.copy()
        t["amc_id"] = amc
        t["asset_id"] = amc + t["asset_id"]
        t["obligor_id"] = amc + t["obligor_id"]
        t["group_id"] = "G:" + t["obligor_id"]
        t["circle_id"] = ""
        twins.append(t)
    other = small_pool(3, n=6, n_amcs=1).assign(amc_id="C")
    other["asset_id"] = "C" + other["asset_id"]
    other["obligor_id"] = "C" + other["obligor_id"]
    other["group_id"] = "G:" + other["obligor_id"]
    assets = pd.concat([*twins, other], ignore_index=True)
    sc = _scenario(assets, {"max_province_share": 0.45})
    a = analyse(assets, sc, workers=1).allocation.set_index("amc_id")
    assert a.loc["A", "shapley_value"] == pytest.approx(a.loc["B", "shapley_value"], rel=1e-9)


def test_no_binding_limits_makes_the_game_additive() -> None:
    """Without limits (and without size bounds) every coalition takes all its positive-npv assets, so
    v(S) = Σ standalone values, the game is additive and Shapley = standalone for everyone."""
    assets = small_pool(4, n=12, n_amcs=3)
    sc = _scenario(assets, size_rule="none")
    sc = sc.model_copy(update={"pool": sc.pool.model_copy(update={"size": sc.pool.size.model_copy(update={"min": None, "max": None})})})
    res = analyse(assets, sc, workers=1)
    a = res.allocation
    assert a["shapley_value"].to_numpy() == pytest.approx(a["standalone_value"].to_numpy(), rel=1e-9)
    assert res.grand.value == pytest.approx(a["standalone_value"].sum(), rel=1e-9)
    assert res.least_core_epsilon <= 1e-6


def test_parallel_equals_serial() -> None:
    assets = small_pool(6, n=14, n_amcs=3)
    sc = _scenario(assets, {"max_province_share": 0.5})
    serial = analyse(assets, sc, workers=1).coalitions
    parallel = analyse(assets, sc, workers=2).coalitions
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"), parallel.drop(columns="seconds"))


def test_highs_backend_runs_after_pyomo_appsi_highs_in_the_same_process() -> None:
    """Pyomo's appsi_highs (least core) starts HiGHS's global scheduler with its own thread count; the highs
    backend's next solve (threads=1) must still run, not come back 'Not Set'."""
    import numpy as np
    import scipy.sparse as sp

    from solvers import Options, Problem, Status
    from solvers.highs_backend import HighsBackend

    least_core(["A", "B"], lambda s: float(len(s)))
    p = Problem(np.array([1.0, 2.0]), sp.csr_matrix([[1.0, 1.0]]), np.array([-np.inf]), np.array([1.0]),
                np.zeros(2), np.ones(2), np.array([True, True]), pd.DataFrame({"family": ["c"]}), maximize=True)
    r = HighsBackend().solve(p, Options(threads=1))
    assert r.status is Status.OPTIMAL and r.objective == 2.0


def test_a_pool_that_still_breaks_a_limit_is_no_deal(monkeypatch) -> None:
    """A coalition whose selection stops with an HHI (or top-10) limit still broken cannot issue that pool: its own
    deal is worth 0 with the status saying why."""
    import pooling.selection.model as selection_model
    from pooling.consortium.game import LIMIT_BROKEN, coalition_value
    from tests.test_selection import small_pool

    assets = small_pool(3, n=12, n_amcs=2)
    scenario = parse_scenario({"name": "g", "as_of": "2026-06-30",
                               "amcs": [{"id": a, "kind": "national", "tape": f"{a}.csv"}
                                        for a in sorted(assets["amc_id"].unique())],
                               "consortium": {"size_rule": "none", "workers": 1, "measure": "npv"}}, "g.yaml")
    members = frozenset(assets["amc_id"].unique())
    honest = coalition_value(assets, scenario, members)
    assert honest.value > 0 and honest.status == "optimal"
    real = selection_model.select_pool

    def broken(*args, **kwargs):
        sel = real(*args, **kwargs)
        sel.status = LIMIT_BROKEN[0]
        return sel

    monkeypatch.setattr(selection_model, "select_pool", broken)
    cv = coalition_value(assets, scenario, members)
    assert (cv.value, cv.status) == (0.0, "hhi_not_converged")
