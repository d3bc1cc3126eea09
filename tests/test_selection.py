"""Pool selection: brute force on small pools equals both backends' optimum; limits hold; infeasibility named."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pooling.errors import Infeasible
from pooling.scenario import parse_scenario
from pooling.selection.model import build_model, select_pool
from solvers import get_backend
from tests.limits_check import feasible_subsets
from tests.pools import small_pool


def scenario_for(assets: pd.DataFrame, seed: int, **pool_overrides) -> object:
    rng = np.random.default_rng(seed + 1000)
    total = float(assets["gbv"].sum())
    amcs = sorted(assets["amc_id"].unique())
    amc_cfg = [{"id": a, "kind": "local", "tape": f"{a}.csv", "max_share": float(rng.choice([1.0, 0.7, 0.6]))} for a in amcs]
    amc_cfg[-1]["min_share"] = float(rng.choice([0.0, 0.1]))
    candidates = {
        "max_province_share": float(rng.choice([0.4, 0.5, 0.6])),
        "max_collateral_share": float(rng.choice([0.45, 0.6])),
        "max_obligor_group_share": float(rng.choice([0.3, 0.4])),
        "max_guarantee_circle_share": 0.35,
        "max_top10_group_share": float(rng.choice([0.9, 0.97])),
        "min_secured_share": float(rng.choice([0.3, 0.5])),
        "min_wa_recovery_rate": float(rng.choice([0.2, 0.3])),
        "max_wa_months_to_recovery": float(rng.choice([35, 45])),
    }
    # each limit present with probability 1/2, so that cases differ in which limits bind
    limits = {k: v for k, v in candidates.items() if rng.random() < 0.5}
    extra_limits = pool_overrides.pop("limits", {})
    pool = {"size": {"min": 0.2 * total, "max": 0.6 * total}, "limits": {**limits, **extra_limits}, **pool_overrides}
    return parse_scenario({"name": "t", "as_of": "2026-06-30", "amcs": amc_cfg, "pool": pool,
                           "solver": {"mip_rel_gap": 0.0}}, "t.yaml")


def brute_force(assets: pd.DataFrame, scenario) -> float | None:
    n = len(assets)
    X = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    ok = feasible_subsets(X, assets, scenario, tol=1e-9)
    if not ok.any():
        return None
    return float((X[ok] @ assets["npv"].to_numpy()).max())


CASES = [(seed, extra) for seed in range(10) for extra in ({}, {"whole_groups": True})] + [
    (11, {"limits": {"max_hhi": {"province": 0.3}, "max_province_share": 0.5}}),
    (12, {"limits": {"min_effective_number": {"collateral_type": 3.2}}}),
    (13, {"limits": {"max_hhi": {"amc": 0.4, "obligor_group": 0.2}}}),
]


@pytest.mark.parametrize(("seed", "extra"), CASES)
@pytest.mark.parametrize("backend", ["highs", "pyomo"])
def test_brute_force_equals_milp(seed: int, extra: dict, backend: str) -> None:
    assets = small_pool(seed)
    scenario = scenario_for(assets, seed, **extra)
    best = brute_force(assets, scenario)
    if best is None:
        with pytest.raises(Infeasible):
            select_pool(assets, scenario, backend=get_backend(backend))
        return
    sel = select_pool(assets, scenario, backend=get_backend(backend))
    assert sel.objective_value == pytest.approx(best, rel=1e-6, abs=1e-6)
    assert feasible_subsets(sel.selected[None, :].astype(float), assets, scenario, tol=1e-6)[0]
    assert float(assets.loc[sel.selected, "npv"].sum()) == pytest.approx(sel.objective_value, rel=1e-9)


def test_some_cases_bind_and_some_are_feasible() -> None:
    """Guard against a vacuous brute-force test: most cases have a pool, and limits cut the unconstrained optimum."""
    feasible = binding = 0
    for seed, extra in CASES:
        assets = small_pool(seed)
        scenario = scenario_for(assets, seed, **extra)
        best = brute_force(assets, scenario)
        if best is None:
            continue
        feasible += 1
        size_only = parse_scenario({"name": "t", "as_of": "2026-06-30",
                                    "amcs": [{"id": a, "kind": "local", "tape": "a.csv"} for a in sorted(assets["amc_id"].unique())],
                                    "pool": {"size": scenario.pool.size.model_dump()}}, "t.yaml")
        binding += brute_force(assets, size_only) > best + 1e-9
    assert feasible >= len(CASES) * 0.4 and binding >= feasible * 0.5, (feasible, binding)


def test_infeasible_names_the_conflict() -> None:
    assets = small_pool(3)
    total = float(assets["gbv"].sum())
    scenario = parse_scenario(
        {"name": "t", "as_of": "2026-06-30",
         "amcs": [{"id": a, "kind": "local", "tape": "a.csv"} for a in sorted(assets["amc_id"].unique())],
         "pool": {"size": {"min": 0.9 * total}, "limits": {"max_province_share": 0.2}}}, "t.yaml")
    with pytest.raises(Infeasible) as info:
        select_pool(assets, scenario)
    text = str(info.value)
    assert "max_province_share" in text
    assert any("max_province_share" in c for c in info.value.conflicts)


def test_scaled_coefficients_and_dropped_rows() -> None:
    assets = small_pool(5, n=40)
    assets["gbv"] *= 1e7  # raw yuan in the billions
    assets["npv"] *= 1e7
    assets["expected_recovery"] *= 1e7
    total = float(assets["gbv"].sum())
    scenario = parse_scenario(
        {"name": "t", "as_of": "2026-06-30", "amcs": [{"id": a, "kind": "local", "tape": "a.csv"} for a in sorted(assets["amc_id"].unique())],
         "pool": {"size": {"min": 0.5 * total, "max": 0.6 * total}, "limits": {"max_obligor_group_share": 0.9, "max_province_share": 0.3}}},
        "t.yaml")
    model, _ = build_model(assets, scenario)
    assert np.abs(model.problem.A.data).max() < 10
    families = model.problem.rows["family"].value_counts()
    assert "group_cap" not in families  # no group holds more than 0.9 × size.min
    assert families["province_cap"] == 4


@pytest.mark.parametrize("seed", range(6))
def test_lp_round_is_feasible_and_certified(seed: int) -> None:
    """The large-pool strategy: a feasible pool, its certified gap, and no better than the exact optimum."""
    assets = small_pool(seed, n=14)
    scenario = scenario_for(assets, seed)
    best = brute_force(assets, scenario)
    if best is None:
        with pytest.raises(Infeasible):
            select_pool(assets, scenario, strategy="lp_round")
        return
    sel = select_pool(assets, scenario, strategy="lp_round")
    assert sel.strategy == "lp_round"
    assert feasible_subsets(sel.selected[None, :].astype(float), assets, scenario, tol=1e-6)[0]
    assert sel.objective_value <= best * (1 + 1e-9)
    assert sel.bound >= best * (1 - 1e-9)  # the LP bound really bounds the optimum
    assert sel.mip_gap == pytest.approx((sel.bound - sel.objective_value) / sel.bound, abs=1e-9)


def _top10_case(seed: int) -> tuple[pd.DataFrame, object]:
    """16 assets, one group each (retail-like), a size window and a top-10 limit halfway between the smallest
    top-10 share any pool in the window can have and the unconstrained optimum's: feasible, and it binds."""
    assets = small_pool(seed, n=16)
    assets["group_id"] = "G:" + assets["asset_id"]
    assets["circle_id"] = ""
    total = float(assets["gbv"].sum())
    g = assets["gbv"].to_numpy()
    X = np.array(list(itertools.product([0.0, 1.0], repeat=len(g))))
    T = X @ g
    in_window = (0.3 * total <= T) & (0.75 * total >= T)
    top10 = np.sort(X * g, axis=1)[:, ::-1][:, :10].sum(axis=1) / np.maximum(T, 1e-300)
    free_best = np.flatnonzero(in_window)[np.argmax((X @ assets["npv"].to_numpy())[in_window])]
    limit = round(float((top10[in_window].min() + top10[free_best]) / 2), 4)
    amcs = [{"id": a, "kind": "local", "tape": f"{a}.csv"} for a in sorted(assets["amc_id"].unique())]
    sc = parse_scenario({"name": "t", "as_of": "2026-06-30", "amcs": amcs,
                         "pool": {"size": {"min": 0.3 * total, "max": 0.75 * total},
                                  "limits": {"max_top10_group_share": limit}},
                         "solver": {"mip_rel_gap": 0.0}}, "t.yaml")
    return assets, sc


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("strategy", ["milp", "lp_round", "auto"])
def test_top10_rows_for_a_few_groups_still_give_the_exact_optimum(seed: int, strategy: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the groups with the largest contributed exposure get top-10 rows up front; a pool whose top 10
    reaches a left-out group gets that group added. With 2 groups up front the optimum is still brute force's."""
    import pooling.selection.model as selection

    monkeypatch.setattr(selection, "TOP10_CANDIDATES", 2)
    assets, scenario = _top10_case(seed)
    best = brute_force(assets, scenario)
    assert best is not None
    sel = select_pool(assets, scenario, strategy=strategy)
    assert sel.objective_value == pytest.approx(best, rel=1e-6, abs=1e-6) or strategy == "lp_round"
    assert sel.objective_value <= best + 1e-6
    assert feasible_subsets(sel.selected[None, :].astype(float), assets, scenario, tol=1e-6)[0]
    unconstrained = brute_force(assets, parse_scenario({**scenario.model_dump(mode="json"),
                                                        "pool": {"size": scenario.pool.size.model_dump()}}, "t.yaml"))
    assert unconstrained > best + 1e-9  # the top-10 limit binds


def test_top10_lazy_groups_are_added_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    import pooling.selection.model as selection

    monkeypatch.setattr(selection, "TOP10_CANDIDATES", 2)
    rounds = [select_pool(*_top10_case(seed)).info["top10_rounds"] for seed in range(8)]
    assert sum(r > 0 for r in rounds) >= 4, rounds  # the lazy path is exercised, not only the up-front rows


def test_back_offs_are_applied_once_however_many_rounds() -> None:
    """The back-offs are running totals: after a second round the row bounds are the built bounds minus the
    totals, not the earlier back-offs twice (which would tighten a limit for nothing)."""
    from pooling.selection.model import _back_off, _Run
    from solvers.problem import Result, Status

    assets = small_pool(3, n=12)
    scenario = scenario_for(assets, 3, limits={"max_province_share": 0.5})
    run = _Run(assets, scenario, None, None, 1e-4, 5, False, None)
    built_upper = run.problem.row_upper.copy()
    row = int(np.flatnonzero(run.problem.rows["family"].to_numpy() == "province_cap")[0])
    A = run.problem.A
    members = A[row].indices[A[row].indices < run.model.n_units]
    a_T = A[row, run.model.col_T]
    for excess in (1e-3, 0.0):  # the first pool breaks the row by 1e-3, the second meets it
        x = np.zeros(run.problem.n_cols)
        x[members] = 1.0
        # activity = Σ a_i x_i + a_T·T = the row's current bound + excess
        x[run.model.col_T] = (run.problem.row_upper[row] + excess - float(A[row, members].sum())) / a_T
        _back_off(run, Result(status=Status.OPTIMAL, x=x.copy()), x)
    expected = built_upper.copy()
    for i, d in run.margins.upper.items():
        expected[i] -= d
    np.testing.assert_allclose(run.problem.row_upper, expected)
