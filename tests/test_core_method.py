"""The core method (pooling/selection/core.py): on instances small enough for the whole MILP, the core strategy
(forced, with a core of a few dozen units so that pricing, fixing and re-pricing all run) finds the MILP's optimum;
its bound is at least that optimum; a core LP made infeasible widens and recovers; same inputs, same pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pooling.scenario import parse_scenario
from pooling.selection.core import CoreLP
from pooling.selection.model import build_model, select_pool
from solvers import Options, Problem, Status, get_backend
from solvers.base import LpSession
from tests.limits_check import feasible_subsets
from tests.pools import small_pool


def assets_for(seed: int, n: int = 240) -> pd.DataFrame:
    """Lumpy-ish pools: ~n/3 obligor groups of 1–8 assets, six provinces, three AMCs."""
    return small_pool(seed, n, n_amcs=3, provinces=["CN-ZJ", "CN-GD", "CN-JS", "CN-SC", "CN-SD", "CN-HB"],
                      collateral=["residential", "commercial", "industrial", "unsecured", "guarantee_only"],
                      industries="CFKL", sigma=0.9, groups="clusters")


CAPS = {"max_province_share": 0.3, "max_collateral_share": 0.35, "max_industry_share": 0.4,
        "max_obligor_group_share": 0.06}
MIXES = {
    "caps": {"limits": CAPS},
    "caps_top10_hhi": {"limits": {**CAPS, "max_top10_group_share": 0.4, "max_hhi": {"province": 0.19}}},
    "wa": {"limits": {**CAPS, "min_wa_recovery_rate": 0.36, "max_wa_months_to_recovery": 30,
                      "min_secured_share": 0.7}},
    "whole_groups": {"limits": CAPS, "whole_groups": True},
    "amc_shares": {"limits": {"max_province_share": 0.3}, "amc": {"A0": {"max_share": 0.4}, "A2": {"min_share": 0.3}}},
}


def scenario_for(assets: pd.DataFrame, mix: str, **solver) -> object:
    spec = dict(MIXES[mix])
    amc_extra = spec.pop("amc", {})
    total = float(assets["gbv"].sum())
    amcs = [{"id": a, "kind": "local", "tape": f"{a}.csv", **amc_extra.get(a, {})}
            for a in sorted(assets["amc_id"].unique())]
    pool = {"size": {"min": 0.2 * total, "max": 0.5 * total}, **spec}
    solver = {"mip_rel_gap": 1e-7, "core_min_units": 20, "core_sample_units": 40, **solver}
    return parse_scenario({"name": "t", "as_of": "2026-06-30", "amcs": amcs, "pool": pool, "solver": solver},
                          "t.yaml")


@pytest.mark.parametrize("mix", list(MIXES))
@pytest.mark.parametrize("seed", [1, 2])
def test_core_equals_milp_and_bounds_it(mix: str, seed: int) -> None:
    assets = assets_for(seed)
    scenario = scenario_for(assets, mix)
    core = select_pool(assets, scenario, strategy="core")
    milp = select_pool(assets, scenario, strategy="milp")
    assert core.strategy == "core" and core.info["core_solves"] >= 1
    assert milp.status == "optimal"
    # every limit, recomputed from the selected rows alone
    assert feasible_subsets(core.selected[None, :].astype(float), assets, scenario, tol=1e-6)[0]
    # the core method's bound is a bound on the MILP optimum, and its pool is that optimum (to the MILP's gap)
    best = milp.objective_value
    assert core.bound >= best * (1 - 1e-9)
    assert core.objective_value == pytest.approx(best, rel=1e-6)
    assert core.objective_value == pytest.approx(float(assets["npv"][core.selected].sum()), rel=1e-9)
    assert core.mip_gap == pytest.approx((core.bound - core.objective_value) / core.bound, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("mix", ["caps", "caps_top10_hhi", "wa"])
def test_core_lp_is_the_whole_lp(mix: str) -> None:
    """The core LP's optimum, with its fixed units, is the whole LP's optimum, and the Lagrangian bound of its duals
    equals it (to solver tolerance) — for a core of 10 units out of 400, so that units are moved in round by round."""
    assets = assets_for(7, n=400)
    scenario = scenario_for(assets, mix)
    model, _ = build_model(assets, scenario)
    backend = get_backend("highs")
    plain = backend.solve(model.problem.relaxed())
    core = CoreLP(model.n_units, backend, Options(), sample_units=30, min_units=10, weight=model.unit_gbv)
    res = core.solve(model.problem)
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(plain.objective, rel=1e-7)
    assert res.bound >= plain.objective - 1e-9 and res.bound == pytest.approx(plain.objective, rel=1e-7)
    assert model.problem.violations(res.x, tol=1e-6).empty
    assert res.info["core_units"] < model.n_units


def test_infeasible_core_lp_widens_and_recovers() -> None:
    """Zero starting duals price every unit by its npv alone: fixing all positive-npv units outside a 5-unit core at 1
    overshoots size.max, so the core LP is infeasible; the core widens (fourfold) until the LP solves, and the
    answer is still the whole LP's optimum."""
    assets = assets_for(3, n=300)
    scenario = scenario_for(assets, "caps")
    model, _ = build_model(assets, scenario)
    backend = get_backend("highs")
    plain = backend.solve(model.problem.relaxed())
    core = CoreLP(model.n_units, backend, Options(), sample_units=30, min_units=5, weight=model.unit_gbv)
    res = core.solve(model.problem, duals=np.zeros(model.problem.n_rows))
    assert core.stats["core_widenings"] >= 1
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(plain.objective, rel=1e-7)
    assert res.bound == pytest.approx(plain.objective, rel=1e-7)


def test_infeasible_problem_stays_infeasible() -> None:
    """A problem whose whole LP is infeasible: the core widens to every unit and reports infeasible."""
    assets = assets_for(4, n=120)
    scenario = scenario_for(assets, "caps")
    model, _ = build_model(assets, scenario)
    p = model.problem
    lower = p.col_lower.copy()
    lower[model.col_T] = 2.0 * float(model.unit_gbv.sum())  # more than every asset together
    upper = p.col_upper.copy()
    upper[model.col_T] = lower[model.col_T]
    core = CoreLP(model.n_units, get_backend("highs"), Options(), sample_units=20, min_units=5)
    res = core.solve(p.with_column_bounds(lower, upper))
    assert res.status is Status.INFEASIBLE
    assert core.core.all()


def test_deterministic() -> None:
    assets = assets_for(5, n=300)
    scenario = scenario_for(assets, "caps_top10_hhi")
    a = select_pool(assets, scenario, strategy="core")
    b = select_pool(assets, scenario, strategy="core")
    assert np.array_equal(a.selected, b.selected)
    assert a.objective_value == b.objective_value and a.bound == b.bound
    assert a.info["core_units"] == b.info["core_units"]


def test_auto_picks_core_from_large_pool_units() -> None:
    assets = assets_for(6, n=200)
    assert select_pool(assets, scenario_for(assets, "caps", large_pool_units=150)).strategy == "core"
    assert select_pool(assets, scenario_for(assets, "caps", large_pool_units=250)).strategy != "core"


# ------------------------------------------------------------------------------------------ the solver pieces
def random_lp(seed: int, n: int = 200, m: int = 6) -> Problem:
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=0.5, random_state=seed, format="csr")
    lower = np.where(rng.random(m) < 0.3, 0.5, -np.inf)
    return Problem(rng.normal(0.5, 1.0, n), A, lower, np.full(m, 5.0), np.zeros(n), np.ones(n),
                   np.zeros(n, dtype=bool), pd.DataFrame({"family": ["r"] * m}))


@pytest.mark.parametrize("seed", range(5))
def test_lagrangian_bound_of_any_duals_bounds_the_lp(seed: int) -> None:
    p = random_lp(seed)
    lp = get_backend("highs").solve(p)
    assert p.lagrangian_bound(lp.row_duals) == pytest.approx(lp.objective, rel=1e-9)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        assert p.lagrangian_bound(rng.normal(0, 1, p.n_rows)) >= lp.objective - 1e-9
    mini = Problem(-p.c, p.A, p.row_lower, p.row_upper, p.col_lower, p.col_upper, p.integrality, p.rows,
                   maximize=False)
    lo = get_backend("highs").solve(mini)
    assert mini.lagrangian_bound(lo.row_duals) == pytest.approx(lo.objective, rel=1e-9)
    for _ in range(20):
        assert mini.lagrangian_bound(rng.normal(0, 1, p.n_rows)) <= lo.objective + 1e-9


def test_without_fixed_moves_fixed_columns_into_row_bounds() -> None:
    p = random_lp(11)
    fixed = np.zeros(p.n_cols, dtype=bool)
    fixed[:50] = True
    values = np.where(np.arange(p.n_cols) < 10, 1.0, 0.0)
    r = p.without_fixed(fixed, values)
    res = get_backend("highs").solve(r.problem)
    lower, upper = p.col_lower.copy(), p.col_upper.copy()
    lower[fixed], upper[fixed] = values[fixed], values[fixed]
    direct = get_backend("highs").solve(p.with_column_bounds(lower, upper))
    assert res.objective == pytest.approx(direct.objective, rel=1e-9)
    x = r.expand(res.x)
    assert np.array_equal(x[fixed], values[fixed]) and p.violations(x, tol=1e-7).empty


def test_warm_session_matches_cold_solves() -> None:
    """The HiGHS session (one model, columns and rows added, bounds changed) agrees with cold restricted solves."""
    p = random_lp(12)
    backend = get_backend("highs")
    warm, cold = backend.lp_session(), LpSession(backend, Options())
    free = np.zeros(p.n_cols, dtype=bool)
    values = np.zeros(p.n_cols)
    steps = [slice(0, 60), slice(60, 150), slice(150, 200)]
    for k, step in enumerate(steps):
        free[step] = True
        if k == 1:
            values[170:175] = 1.0  # fixed at 1 outside the model: into the row bounds
        a, b = warm.solve(p, free, values), cold.solve(p, free, values)
        assert a.status == b.status
        if a.status is Status.OPTIMAL:
            assert a.objective == pytest.approx(b.objective, rel=1e-9)
            assert np.allclose(a.col_duals, p.reduced_costs(a.row_duals))
    grown = Problem(p.c, sp.vstack([p.A, sp.csr_matrix(np.ones((1, p.n_cols)))]).tocsr(),
                    np.append(p.row_lower, -np.inf), np.append(p.row_upper, 40.0), p.col_lower, p.col_upper,
                    p.integrality, pd.DataFrame({"family": ["r"] * (p.n_rows + 1)}))
    free[:20] = False  # fixed again inside the model
    a, b = warm.solve(grown, free, values), cold.solve(grown, free, values)
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    assert warm.stats["cold_starts"] == 1 and warm.stats["rows_added"] == 1
