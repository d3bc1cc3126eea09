"""The npv-vs-diversification frontier: each point is the brute-force best pool under its bound, the frontier is
monotone, bounds hold, the LP lower bound really bounds, infeasible points are recorded, outputs work offline."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest

from pooling.errors import InputError
from pooling.report.frontier import frontier_chart
from pooling.scenario import parse_scenario
from pooling.selection.frontier import (
    FRONTIER_COLUMNS,
    TIGHTEST_MARGIN,
    frontier,
    min_hhi_bound,
    write_frontier,
)
from pooling.selection.model import select_pool
from tests.limits_check import feasible_subsets
from tests.test_selection import small_pool


def scenario(assets: pd.DataFrame, limits: dict | None = None, **pool) -> object:
    total = float(assets["gbv"].sum())
    amcs = [{"id": a, "kind": "local", "tape": f"{a}.csv"} for a in sorted(assets["amc_id"].unique())]
    doc = {"name": "t", "as_of": "2026-06-30", "amcs": amcs,
           "pool": {"size": {"min": 0.3 * total, "max": 0.5 * total}, "limits": limits or {}, **pool},
           "solver": {"mip_rel_gap": 0.0}}
    return parse_scenario(doc, "t.yaml")


def subset_hhi(X: np.ndarray, assets: pd.DataFrame, column: str) -> np.ndarray:
    codes, names = pd.factorize(assets[column].astype(str), sort=True)
    onehot = np.zeros((len(assets), len(names)))
    onehot[np.arange(len(assets)), codes] = assets["gbv"].to_numpy()
    S = X @ onehot
    T = S.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((S / T[:, None]) ** 2).sum(axis=1)


@pytest.fixture(scope="module")
def medium() -> tuple[pd.DataFrame, object, pd.DataFrame]:
    assets = small_pool(3, n=80)
    sc = scenario(assets, {"max_obligor_group_share": 0.1, "min_secured_share": 0.3})
    return assets, sc, frontier(assets, sc, "province", points=5)


@pytest.mark.parametrize(("seed", "whole_groups"), [(0, False), (1, False), (2, True), (4, False)])
def test_each_point_is_the_brute_force_optimum(seed: int, whole_groups: bool) -> None:
    assets = small_pool(seed)
    sc = scenario(assets, {"max_collateral_share": 0.6}, whole_groups=whole_groups)
    table = frontier(assets, sc, "province", points=4)
    X = np.array(list(itertools.product([0.0, 1.0], repeat=len(assets))))
    ok = feasible_subsets(X, assets, sc, tol=1e-9)
    assert ok.any()
    h = subset_hhi(X, assets, "province")
    npv = X @ assets["npv"].to_numpy()
    # the certified lower bound really bounds every whole-asset pool
    assert h[ok].min() >= table.attrs["hhi_lower_bound"] - 1e-9
    for row in table.itertuples():
        within = ok & (h <= row.bound_hhi * (1 + 1e-4) + 1e-12)
        if row.status == "infeasible":
            assert not (ok & (h <= row.bound_hhi * (1 - 1e-4))).any()
            assert np.isnan(row.npv) and pd.isna(row.n_assets)
        else:
            assert row.npv == pytest.approx(npv[within].max(), rel=1e-6)
    assert table["unconstrained"].iloc[0] and table["status"].iloc[0] == "optimal"


def test_monotone_bounded_and_loosest_is_the_optimum(medium) -> None:
    assets, sc, table = medium
    assert list(table.columns) == FRONTIER_COLUMNS
    assert len(table) == 5
    ok = table[table["status"].isin(["optimal", "feasible"])]
    assert len(ok) == 5
    assert (ok["hhi"] <= ok["bound_hhi"] * (1 + 1e-4)).all()
    assert np.all(np.diff(table["bound_hhi"]) < 0)  # loosest first
    npv = ok["npv"].to_numpy()
    assert np.all(np.diff(npv) <= 1e-6 * abs(npv[0]))  # tighter bound, no more value
    best = select_pool(assets, sc)
    assert table["npv"].iloc[0] == pytest.approx(best.objective_value, rel=1e-9)
    assert table["npv_loss"].iloc[0] == 0.0 and table["unconstrained"].sum() == 1
    assert table["npv_loss_pct"].iloc[-1] == pytest.approx(100 * (npv[0] - npv[-1]) / npv[0])
    a = table.attrs
    assert a["hhi_lower_bound"] <= a["hhi_min"] <= a["hhi_free"]
    assert a["hhi_free"] == pytest.approx(table["hhi"].iloc[0])
    # the tightest point sits TIGHTEST_MARGIN inside the relaxation's minimum (whole assets need some room)
    assert a["hhi_tightest"] == pytest.approx(a["hhi_min"] * (1 + TIGHTEST_MARGIN))
    assert table["bound_hhi"].iloc[-1] == pytest.approx(a["hhi_tightest"])
    # with 150 assets whole-asset pools reach the relaxation's minimum within a hair
    assert table["hhi"].iloc[-1] <= a["hhi_lower_bound"] * 1.01
    assert (table["n_assets"] > 0).all() and (table["gbv"] >= sc.pool.size.min * (1 - 1e-9)).all()


def test_effective_number_measure(medium) -> None:
    assets, sc, by_hhi = medium
    table = frontier(assets, sc, "province", points=4, measure="effective_number")
    assert (table["measure"] == "effective_number").all()
    n_bound = table["bound_effective_number"].to_numpy()
    assert np.allclose(np.diff(n_bound), np.diff(n_bound)[0])  # evenly spaced in N
    assert n_bound[0] == pytest.approx(1 / by_hhi.attrs["hhi_free"])
    assert n_bound[-1] == pytest.approx(1 / by_hhi.attrs["hhi_tightest"], rel=1e-9)
    assert (table["effective_number"] >= table["bound_effective_number"] * (1 - 1e-4)).all()
    assert table["npv"].iloc[0] == pytest.approx(by_hhi["npv"].iloc[0])
    html = frontier_chart(table, "province", "effective_number", "省份分散化 province")
    assert "有效数量" in html and "effective number" in html


def test_infeasible_points_are_recorded_not_raised() -> None:
    assets = small_pool(3, n=60)
    sc = scenario(assets)
    calls: list[tuple[int, int]] = []
    table = frontier(assets, sc, "province", bounds=[0.3, 0.2], on_point=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert table["unconstrained"].tolist() == [True, False, False]
    assert table["status"].iloc[1] == "optimal"
    bad = table.iloc[2]  # 4 provinces: HHI can never go below 0.25
    assert bad["status"] == "infeasible"
    assert np.isnan(bad["npv"]) and np.isnan(bad["hhi"]) and pd.isna(bad["n_assets"]) and np.isnan(bad["npv_loss"])
    assert bad["note"]
    html = frontier_chart(table, "province", "hhi", "t")  # NaN rows do not break the chart
    assert "infeasible" in html


def test_existing_limits_are_kept_and_merged(monkeypatch) -> None:
    import pooling.selection.frontier as fr

    assets = small_pool(7, n=80)
    sc = scenario(assets, {"max_hhi": {"province": 0.6, "collateral_type": 0.4}, "min_effective_number": {"province": 1.2}})
    runs = []

    def recording(a, s, **kw):
        sel = select_pool(a, s, **kw)
        runs.append((s, sel))
        return sel

    def recording_separable(a, s, *args, **kw):
        sel = real(a, s, *args, **kw)
        runs.append((s, sel))
        return sel

    real = fr._bounded_selection
    monkeypatch.setattr(fr, "select_pool", recording)
    monkeypatch.setattr(fr, "_bounded_selection", recording_separable)
    table = frontier(assets, sc, "province", bounds=[0.8, 0.3])
    assert len(runs) == 3  # the unconstrained pool is solved once and reused as the loosest point
    assert runs[0][0] is sc
    col = assets["collateral_type"].astype(str)
    for (s, sel), row in zip(runs, table.itertuples(), strict=True):
        lim = s.pool.limits
        assert lim.max_hhi["collateral_type"] == 0.4 and lim.min_effective_number == {"province": 1.2}
        if not row.unconstrained:
            assert lim.max_hhi["province"] == min(0.6, row.bound_hhi)
        pool = assets[sel.selected]
        shares = pool.groupby(col[sel.selected])["gbv"].sum() / pool["gbv"].sum()
        assert (shares**2).sum() <= 0.4 * (1 + 1e-4)
    # the lower bound drops the dimension's own limits but keeps the others
    bound = min_hhi_bound(assets, sc, "province")
    assert bound["status"] == "optimal"
    assert bound["lower"] <= bound["upper"] <= table.attrs["hhi_free"]


def test_lower_bound_is_certified_on_other_dimensions() -> None:
    assets = small_pool(5)
    sc = scenario(assets, {"min_secured_share": 0.3})
    X = np.array(list(itertools.product([0.0, 1.0], repeat=len(assets))))
    ok = feasible_subsets(X, assets, sc, tol=1e-9)
    for dim, column in {"industry": "industry", "amc": "amc_id", "obligor_group": "group_id"}.items():
        b = min_hhi_bound(assets, sc, dim)
        assert subset_hhi(X[ok], assets, column).min() >= b["lower"] - 1e-9, dim
        assert b["lower"] <= b["upper"] + 1e-12


def test_write_frontier_offline_html(medium, tmp_path) -> None:
    _, _, table = medium
    html = frontier_chart(table, "province", "hhi", "省份分散化前沿 province diversification")
    paths = write_frontier(tmp_path / "out", table, html)
    assert [p.name for p in paths] == ["frontier.csv", "frontier.html"]
    text = paths[1].read_text(encoding="utf-8")
    assert "plotly" in text.lower()
    assert not re.search(r"<script[^>]*\bsrc\s*=", text)  # plotly.js embedded, no CDN
    for label in ("资产池净现值 pool npv (亿元 CNY 100 mn)", "赫芬达尔指数"):  # plotly's JSON may escape non-ASCII
        assert label in text or json.dumps(label)[1:-1] in text
    back = pd.read_csv(paths[0], encoding="utf-8-sig")
    assert list(back.columns) == FRONTIER_COLUMNS and len(back) == len(table)
    assert not list(paths[0].parent.glob(".*.tmp"))


def test_bad_arguments() -> None:
    assets = small_pool(1)
    sc = scenario(assets)
    with pytest.raises(InputError, match="dimension"):
        frontier(assets, sc, "planet")
    with pytest.raises(InputError, match="measure"):
        frontier(assets, sc, "province", measure="gini")
    with pytest.raises(InputError, match="points"):
        frontier(assets, sc, "province", points=0)


def test_lower_bound_same_on_both_backends() -> None:
    from solvers import get_backend

    assets = small_pool(3, n=30)
    sc = scenario(assets, {"max_obligor_group_share": 0.2})
    highs = min_hhi_bound(assets, sc, "province", backend=get_backend("highs"))
    pyomo = min_hhi_bound(assets, sc, "province", backend=get_backend("pyomo"))
    # the two backends may take different LP vertices, so different tangent cuts: each stops within rel_tol (1e-4)
    # of its own upper bound, and each certified lower bound must hold against the other's fractional pool
    for a, b in ((highs, pyomo), (pyomo, highs)):
        assert a["upper"] - a["lower"] <= 1e-4 * a["upper"]
        assert a["lower"] <= b["upper"] * (1 + 1e-9)
    assert pyomo["lower"] == pytest.approx(highs["lower"], rel=1e-4)
    assert pyomo["upper"] == pytest.approx(highs["upper"], rel=1e-4)


def _with_pools(assets, sc, dimension, **kw):
    """The frontier and each point's pool (a 0/1 row per point), captured through ``measure_pool``."""
    pools: list[np.ndarray] = []

    def keep(selected):
        pools.append(np.asarray(selected, dtype=float))
        return {"pool_id": len(pools) - 1}

    table = frontier(assets, sc, dimension, measure_pool=keep, **kw)
    return table, np.array([pools[int(i)] for i in table["pool_id"]])


@pytest.mark.parametrize(("seed", "n", "dimension", "limits"), [
    (3, 120, "province", {"max_obligor_group_share": 0.1, "min_secured_share": 0.3}),
    (8, 150, "collateral_type", {"max_top10_group_share": 0.6, "max_hhi": {"province": 0.45},
                                 "min_wa_recovery_rate": 0.2}),
    (11, 150, "province", {"max_industry_share": 0.5, "min_effective_number": {"collateral_type": 2.5}}),
])
def test_points_meet_their_limits_recomputed_from_their_pools(seed, n, dimension, limits, monkeypatch) -> None:
    import pooling.selection.frontier as fr

    assets = small_pool(seed, n=n)
    sc = scenario(assets, limits)
    calls = []
    monkeypatch.setattr(fr, "select_pool", lambda *a, **kw: calls.append(1) or select_pool(*a, **kw))
    table, X = _with_pools(assets, sc, dimension, points=5)
    assert len(calls) == 1  # the scenario's own optimum; every bounded point by the separable tangents
    assert (table["status"].isin(["optimal", "feasible"])).all()
    column = {"collateral_type": "collateral_type", "province": "province"}[dimension]
    for row, x in zip(table.itertuples(), X, strict=True):
        bounded = fr._bounded(sc, dimension, "hhi", row.bound_hhi)
        assert feasible_subsets(x[None, :], assets, bounded, tol=1e-9)[0], row.point  # every limit, HHI to 1e-4
        assert subset_hhi(x[None, :], assets, column)[0] == pytest.approx(row.hhi, rel=1e-12)
        assert x @ assets["npv"].to_numpy() == pytest.approx(row.npv, rel=1e-9)
        assert 0.0 <= row.mip_gap <= 0.01
    npv = table["npv"].to_numpy()
    assert np.all(np.diff(npv) <= 0.0)  # tighter bound, objective not higher (points 1.. exactly; 0 is optimal)


def test_tighter_point_pool_replaces_a_worse_looser_one(monkeypatch) -> None:
    """A pool meeting a tighter bound meets the looser ones: a looser point that found less takes it."""
    import pooling.selection.frontier as fr

    assets = small_pool(3, n=80)
    sc = scenario(assets, {"max_obligor_group_share": 0.1})
    real = fr._bounded_selection
    worse = {}

    def first_point_worse(a, s, dim, h, backend, tangents, h_floor=None):
        sel = real(a, s, dim, h, backend, tangents, h_floor=h_floor)
        if not worse:  # point 1: pretend its search stopped at a poorer pool (the empty-ish cheapest one)
            worse["value"] = sel.objective_value
            sel.objective_value *= 0.5
        return sel

    monkeypatch.setattr(fr, "_bounded_selection", first_point_worse)
    table = frontier(assets, sc, "province", points=4)
    npv = table["npv"].to_numpy()
    assert np.all(np.diff(npv[1:]) <= 0.0)
    assert "pool of point 2" in table["note"].iloc[1]
    assert npv[1] == pytest.approx(npv[2])


def test_frontier_is_deterministic_and_agrees_with_select_pool_points() -> None:
    assets = small_pool(5, n=100)
    sc = scenario(assets, {"max_obligor_group_share": 0.1, "max_collateral_share": 0.7})
    a = frontier(assets, sc, "province", points=4)
    b = frontier(assets, sc, "province", points=4)
    cols = [c for c in a.columns if c != "seconds"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    # the cone cuts of select_pool, point by point, reach the same values (mip_rel_gap 0 here; HHI tolerance 1e-4)
    c = frontier(assets, sc, "province", points=4, method="select_pool")
    assert c["bound_hhi"].tolist() == pytest.approx(a["bound_hhi"].tolist())
    # (select_pool's pools may use the HHI tolerance a little more: its cuts are checked at h (1 + 1e-4))
    assert c["npv"].to_numpy() == pytest.approx(a["npv"].to_numpy(), rel=1e-3)
    with pytest.raises(InputError, match="method"):
        frontier(assets, sc, "province", method="cones")
