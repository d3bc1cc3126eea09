"""The tail objective (``pool.objective: tail_npv``): CVaR of pool npv over factor scenarios.

Every check recomputes the CVaR independently of the model: sort the scenario npvs of a pool, average the worst
(1 − alpha)·S. The optimiser's optimum is compared with a brute force over every subset of small instances.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pooling.errors import Infeasible, ScenarioError
from pooling.outputs import files_written
from pooling.scenario import Scenario, load_scenario, with_overrides
from pooling.selection.model import build_model, select_pool
from pooling.selection.tail import TailScenarios, cvar, draw_tail_scenarios, pool_cvar
from pooling.tapes.synth import demo_amcs, write_consortium
from tests.limits_check import check_pool, feasible_subsets
from tests.test_selection import scenario_for, small_pool


def _worst_mean(values: np.ndarray, alpha: float) -> np.ndarray:
    """Mean of the worst (1 − alpha)·S values along the last axis; (1 − alpha)·S must be whole here."""
    S = values.shape[-1]
    k = round((1 - alpha) * S)
    assert abs(k - (1 - alpha) * S) < 1e-9
    return np.sort(values, axis=-1)[..., :k].mean(axis=-1)


def _tail(scenario: Scenario, **tail) -> Scenario:
    return with_overrides(scenario, {"pool.objective": "tail_npv", **{f"pool.tail.{k}": v for k, v in tail.items()}})


def _segments(assets: pd.DataFrame) -> np.ndarray:
    return (assets["province"].astype(str) + "|" + assets["collateral_type"].astype(str)).to_numpy()


def _own_multipliers(assets: pd.DataFrame, seed: int, S: int, alpha: float) -> TailScenarios:
    """Random lognormal multipliers with a common factor and a volatility of its own per segment."""
    rng = np.random.default_rng(seed)
    segs = np.array(sorted(set(_segments(assets))), dtype=object)
    vol = rng.uniform(0.05, 0.6, len(segs))
    z = 0.6 * rng.standard_normal((S, 1)) + 0.8 * rng.standard_normal((S, len(segs)))
    return TailScenarios(segs, np.exp(vol * z - 0.5 * vol**2), alpha)


def _brute_force_cvar(assets: pd.DataFrame, scenario: Scenario, ts: TailScenarios) -> float | None:
    """Best CVaR over every subset meeting the limits, from the scenarios' multipliers and the assets' npv."""
    X = np.array(list(itertools.product([0.0, 1.0], repeat=len(assets))))
    ok = feasible_subsets(X, assets, scenario, tol=1e-9)
    if not ok.any():
        return None
    segs = list(ts.segments)
    onehot = np.zeros((len(assets), len(segs)))
    onehot[np.arange(len(assets)), [segs.index(s) for s in _segments(assets)]] = assets["npv"].to_numpy()
    L = (X[ok] @ onehot) @ np.asarray(ts.multipliers).T  # (pools, scenarios)
    return float(_worst_mean(L, ts.alpha).max())


# ----------------------------------------------------------------------------------------------------- CVaR
def test_cvar_is_the_mean_of_the_worst_share_and_the_rockafellar_uryasev_maximum() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(10, 3, 200)
    assert cvar(v, 0.95) == pytest.approx(np.sort(v)[:10].mean())
    assert cvar(v, 0.5) == pytest.approx(np.sort(v)[:100].mean())
    # fractional k = 0.03 · 200 = 6 … and k = 0.0325 · 200 = 6.5: the 7th worst counts by half
    assert cvar(v, 0.9675) == pytest.approx((np.sort(v)[:6].sum() + 0.5 * np.sort(v)[6]) / 6.5)
    # Rockafellar–Uryasev: max over η of η − Σ (η − v)⁺ / k, attained at one of the values (piecewise linear)
    for alpha in (0.9, 0.9675, 0.999):
        k = (1 - alpha) * len(v)
        ru = max(eta - np.maximum(eta - v, 0).sum() / k for eta in v)
        assert cvar(v, alpha) == pytest.approx(ru, rel=1e-12)
    assert cvar(v, 0.999) == pytest.approx(v.min())  # k < 1: the worst scenario
    assert np.allclose(cvar(np.vstack([v, -v]), 0.95), [np.sort(v)[:10].mean(), np.sort(-v)[:10].mean()])


def test_tail_settings_are_validated() -> None:
    s = scenario_for(small_pool(0), 0)
    t = _tail(s)
    assert (t.pool.tail.alpha, t.pool.tail.scenarios, t.pool.tail.seed) == (0.95, 1000, 7)
    for bad in ({"alpha": 1.0}, {"alpha": 0.0}, {"scenarios": 0}, {"colour": 1}):
        with pytest.raises(ScenarioError):
            _tail(s, **bad)


# ---------------------------------------------------------------------------------------------- exactness
EXACT_CASES = [
    (0, {}, "own"), (4, {}, "factors"), (5, {}, "own"), (6, {"limits": {"max_hhi": {"province": 0.3}}}, "factors"),
    (7, {"whole_groups": True}, "own"), (9, {}, "factors"), (14, {"limits": {"max_obligor_group_share": 0.25}}, "own"),
    (14, {"whole_groups": True, "limits": {"min_effective_number": {"collateral_type": 2.5}}}, "factors"),
    (0, {"limits": {"max_guarantee_circle_share": 0.2, "max_legal_status_share": 0.7}}, "factors"),
]


@pytest.mark.parametrize(("seed", "extra", "source"), EXACT_CASES)
def test_tail_objective_equals_the_brute_force_optimum(seed: int, extra: dict, source: str) -> None:
    assets = small_pool(seed, n=12)
    scenario = scenario_for(assets, seed, **{k: (dict(v) if isinstance(v, dict) else v) for k, v in extra.items()})
    alpha = 0.9
    scenario = _tail(scenario, alpha=alpha, scenarios=200, seed=seed)
    if source == "own":
        ts = _own_multipliers(assets, seed, 200, alpha)
    else:
        ts = draw_tail_scenarios(assets, alpha, 200, seed)
    best = _brute_force_cvar(assets, scenario, ts)
    assert best is not None, "the case must have feasible pools"
    sel = select_pool(assets, scenario, tail_scenarios=ts if source == "own" else None)
    assert sel.status == "optimal", (sel.status, sel.mip_gap)
    assert sel.objective_value == pytest.approx(best, rel=1e-8)
    # the objective is the chosen pool's CVaR, recomputed from its assets, and the pool meets every limit
    L = np.asarray(ts.multipliers) @ pd.Series(assets["npv"].to_numpy() * sel.selected).groupby(_segments(assets)).sum().reindex(ts.segments, fill_value=0.0).to_numpy()
    assert _worst_mean(L, alpha) == pytest.approx(sel.objective_value, rel=1e-9)
    assert feasible_subsets(sel.selected[None, :].astype(float), assets, scenario, tol=1e-7)[0]
    assert sel.info["tail"]["npv"] == pytest.approx(float(assets.loc[sel.selected, "npv"].sum()))
    if source == "factors":  # drawn from pool.tail when not given: the same scenarios
        np.testing.assert_array_equal(sel.tail_scenarios.multipliers, ts.multipliers)


def test_infeasible_limits_are_named_under_the_tail_objective_too() -> None:
    assets = small_pool(1, n=12)
    scenario = _tail(scenario_for(assets, 1), scenarios=50)
    assert _brute_force_cvar(assets, scenario, draw_tail_scenarios(assets, 0.95, 50, 7)) is None
    with pytest.raises(Infeasible):
        select_pool(assets, scenario)


def test_pyomo_backend_reaches_the_same_optimum() -> None:
    pytest.importorskip("pyomo")
    assets = small_pool(4, n=12)
    scenario = _tail(scenario_for(assets, 4), alpha=0.9, scenarios=100, seed=3)
    ts = _own_multipliers(assets, 3, 100, 0.9)
    best = _brute_force_cvar(assets, scenario, ts)
    sel = select_pool(assets, with_overrides(scenario, {"solver.backend": "pyomo"}), tail_scenarios=ts)
    assert sel.objective_value == pytest.approx(best, rel=1e-7)
    assert pool_cvar(assets, sel.selected, ts) == pytest.approx(best, rel=1e-7)


# ------------------------------------------------------------------------------------------------ the model
def test_each_scenario_row_has_segment_count_plus_two_nonzeros() -> None:
    assets = small_pool(0, n=60)
    scenario = _tail(scenario_for(assets, 0), scenarios=300)
    model, _ = build_model(assets, scenario)
    p = model.problem
    fam = p.rows["family"].to_numpy()
    G = len(set(_segments(assets)))
    nnz = np.diff(p.A.indptr)
    assert (fam == "tail_scenario").sum() == 300 and (nnz[fam == "tail_scenario"] == G + 2).all()
    assert (fam == "tail_segment").sum() == G
    assert (p.c[: model.n_units] == 0).all() and p.c.sum() == pytest.approx(1.0 - 300 / (0.05 * 300))


def test_same_seed_same_scenarios_other_seed_other_scenarios() -> None:
    assets = small_pool(3, n=80)
    a = draw_tail_scenarios(assets, 0.95, 400, 7)
    b = draw_tail_scenarios(assets, 0.95, 400, 7)
    c = draw_tail_scenarios(assets, 0.95, 400, 8)
    np.testing.assert_array_equal(a.multipliers, b.multipliers)
    assert not np.allclose(a.multipliers, c.multipliers)
    assert list(a.segments) == sorted(set(_segments(assets)))
    assert np.all(a.multipliers > 0) and abs(float(a.multipliers.mean()) - 1.0) < 0.05


def test_tail_pool_trades_plain_npv_for_a_better_tail() -> None:
    """Against the npv-optimal pool, the tail-optimal pool has at least its CVaR and at most its npv; with a
    strongly volatile segment the two pools differ."""
    assets = small_pool(2, n=120)
    npv_scenario = scenario_for(assets, 0)
    ts = _own_multipliers(assets, 5, 500, 0.95)
    m = np.array(ts.multipliers)
    m[:, 0] = np.exp(1.2 * np.random.default_rng(1).standard_normal(500) - 0.72)  # one very volatile segment
    ts = TailScenarios(ts.segments, m, 0.95)
    plain = select_pool(assets, npv_scenario)
    tail = select_pool(assets, _tail(npv_scenario), tail_scenarios=ts)
    assert tail.status == plain.status == "optimal"
    assert pool_cvar(assets, tail.selected, ts) >= pool_cvar(assets, plain.selected, ts) - 1e-6
    assert float(assets.loc[tail.selected, "npv"].sum()) <= plain.objective_value + 1e-6
    assert (tail.selected != plain.selected).any()


# --------------------------------------------------------------------------------------------- the files
#: the demo limits (group 3%, top-10 20%, province HHI, …) with the group caps a 400-asset consortium can meet
SMALL_CONSORTIUM = {"pool.limits.max_obligor_group_share": 0.08, "pool.limits.max_top10_group_share": 0.5}


@pytest.fixture(scope="module")
def tail_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, Scenario]:
    from pooling.pipeline import run_scenario, write_run

    folder = write_consortium(tmp_path_factory.mktemp("tail"), n_assets=400, amcs=demo_amcs(), seed=3)
    scenario = _tail(with_overrides(load_scenario(folder), SMALL_CONSORTIUM), alpha=0.9, scenarios=400, seed=11)
    result = run_scenario(scenario, size=False)
    out = folder.parent / "out"
    out.mkdir()
    write_run(out, result)
    return out, result.prepared.assets, result.scenario


def test_run_writes_tail_scenarios_and_the_cvar_rechecks_from_the_files(tail_run) -> None:
    out, contributed, scenario = tail_run
    assert sorted(p.name for p in out.iterdir()) == sorted(files_written(selection=True, tail=True))
    pool = pd.read_csv(out / "pool.csv", encoding="utf-8-sig")
    scen = pd.read_csv(out / "tail_scenarios.csv", encoding="utf-8-sig")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert list(scen.columns) == ["scenario", "segment", "multiplier"]
    # only the segments of the candidate assets, each scenario complete
    candidate = set(_segments(contributed))
    assert set(scen["segment"]) == candidate
    assert scen.groupby("scenario").size().eq(len(candidate)).all() and scen["scenario"].nunique() == 400
    # CVaR from pool.csv and tail_scenarios.csv alone: segment npv totals, scenario npvs, mean of the worst 10%
    totals = pool.assign(segment=_segments(pool)).groupby("segment")["npv"].sum()
    scen["npv"] = scen["multiplier"] * scen["segment"].map(totals).fillna(0.0)
    L = scen.groupby("scenario")["npv"].sum().to_numpy()
    assert summary["objective"] == "tail_npv"
    assert _worst_mean(L, 0.9) == pytest.approx(summary["objective_value"], rel=1e-9)
    assert summary["model"]["tail"]["cvar"] == pytest.approx(summary["objective_value"], rel=1e-12)
    assert summary["model"]["tail"]["npv"] == pytest.approx(summary["pool"]["npv"], rel=1e-12)
    assert summary["objective_value"] < summary["pool"]["npv"]
    assert summary["bound"] >= summary["objective_value"] * (1 - 1e-9)
    check_pool(pool, contributed, scenario)


def test_plain_runs_write_no_tail_scenarios(tmp_path: Path) -> None:
    from pooling.pipeline import run_scenario, write_run

    folder = write_consortium(tmp_path / "c", n_assets=400, amcs=demo_amcs(), seed=4)
    result = run_scenario(with_overrides(load_scenario(folder), SMALL_CONSORTIUM), size=False)
    assert result.selection.tail_scenarios is None and "tail" not in result.selection.info
    write_run(tmp_path / "o", result)
    assert not (tmp_path / "o" / "tail_scenarios.csv").exists()
