"""Servicer assignment: home-province rule, capacities, cost optimality against brute force and an LP."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from pooling.consortium.servicing import plan_by_flow, plan_whole_groups
from pooling.errors import InputError
from pooling.scenario import parse_scenario


def _pool(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gbv = np.round(rng.lognormal(16, 0.6, n), 0)
    return pd.DataFrame({
        "group_id": [f"G{i % 7}" for i in range(n)],
        "province": np.where(np.arange(n) % 7 < 3, "CN-ZJ", np.where(np.arange(n) % 7 < 5, "CN-GD", "CN-SC")),
        "asset_type": rng.choice(["corporate", "sme"], n),
        "gbv": gbv,
        "expected_recovery": gbv * rng.uniform(0.1, 0.5, n),
    })


def _scenario(servicers: list[dict], whole: bool = False):
    return parse_scenario({
        "name": "s", "as_of": "2026-06-30",
        "amcs": [{"id": "NAT", "kind": "national", "tape": "n.csv"},
                 {"id": "ZJ", "kind": "local", "home_province": "CN-ZJ", "tape": "z.csv"},
                 {"id": "GD", "kind": "local", "home_province": "CN-GD", "tape": "g.csv"}],
        "consortium": {"servicers": servicers, "whole_groups_servicing": whole},
    }, "s.yaml")


SERVICERS = [
    {"amc": "NAT", "fee_rate": 0.10},
    {"amc": "ZJ", "fee_rate": 0.08, "home_uplift": 0.06},
    {"amc": "GD", "fee_rate": 0.12, "home_uplift": 0.02},
]


def test_flow_honours_home_province_and_capacity() -> None:
    pool = _pool(0)
    cap = 0.2 * pool["gbv"].sum()
    sv = [dict(SERVICERS[0]), {**SERVICERS[1], "capacity_gbv": cap}, dict(SERVICERS[2])]
    plan = plan_by_flow(pool, _scenario(sv))
    a = plan.assignments
    assert set(a.loc[a["servicer"] == "ZJ", "province"]) <= {"CN-ZJ"}
    assert set(a.loc[a["servicer"] == "GD", "province"]) <= {"CN-GD"}
    assert a.loc[a["servicer"] == "ZJ", "gbv"].sum() <= cap + 1e4 * len(a)  # flow units of CNY 10,000
    assert a["gbv"].sum() == pytest.approx(pool["gbv"].sum(), rel=1e-9)
    assert a["expected_recovery"].sum() == pytest.approx(pool["expected_recovery"].sum(), rel=1e-9)
    assert plan.effective_fee_rate == pytest.approx(a["fee"].sum() / a["expected_collections"].sum())


def test_flow_is_cost_optimal_against_an_lp() -> None:
    pool = _pool(1)
    sv = [{**SERVICERS[0], "capacity_gbv": 0.7 * pool["gbv"].sum()}, {**SERVICERS[1], "capacity_gbv": 0.1 * pool["gbv"].sum()},
          dict(SERVICERS[2])]
    sc = _scenario(sv)
    plan = plan_by_flow(pool, sc)
    cells = pool.groupby(["province", "asset_type"]).agg(gbv=("gbv", "sum"), er=("expected_recovery", "sum")).reset_index()
    homes = {"NAT": None, "ZJ": "CN-ZJ", "GD": "CN-GD"}
    fee = [0.10, 0.08, 0.12]
    upl = [0.0, 0.06, 0.02]
    c, bounds = [], []
    for _, r in cells.iterrows():
        for j, amc in enumerate(["NAT", "ZJ", "GD"]):
            ok = homes[amc] is None or homes[amc] == r["province"]
            u = upl[j] if homes[amc] == r["province"] else 0.0
            c.append(r["er"] / r["gbv"] * (fee[j] * (1 + u) - u))
            bounds.append((0, None if ok else 0))
    n, s = len(cells), 3
    A_eq = np.zeros((n, n * s))
    for i in range(n):
        A_eq[i, i * s:(i + 1) * s] = 1
    A_ub = np.zeros((2, n * s))
    A_ub[0, 0::s] = 1
    A_ub[1, 1::s] = 1
    lp = linprog(c, A_ub=A_ub, b_ub=[sv[0]["capacity_gbv"], sv[1]["capacity_gbv"]], A_eq=A_eq, b_eq=cells["gbv"], bounds=bounds)
    assert lp.status == 0
    assert plan.assignments["net_cost"].sum() == pytest.approx(lp.fun, rel=1e-3)


def test_whole_groups_match_brute_force() -> None:
    pool = _pool(2, n=21)  # 7 groups
    total = pool["gbv"].sum()
    sv = [{**SERVICERS[0], "capacity_gbv": 0.45 * total}, {**SERVICERS[1], "capacity_gbv": 0.5 * total},
          {**SERVICERS[2], "capacity_gbv": 0.5 * total}]
    plan = plan_whole_groups(pool, _scenario(sv, whole=True))
    groups = pool.groupby("group_id").agg(gbv=("gbv", "sum"), er=("expected_recovery", "sum"),
                                          prov=("province", "first"), n=("province", "nunique"))
    homes = [None, "CN-ZJ", "CN-GD"]
    best = np.inf
    for combo in itertools.product(range(3), repeat=len(groups)):
        load = np.zeros(3)
        cost = 0.0
        ok = True
        for (_g, r), j in zip(groups.iterrows(), combo, strict=True):
            home = r["n"] == 1 and homes[j] == r["prov"]
            if homes[j] is not None and not home:
                ok = False
                break
            u = sv[j].get("home_uplift", 0.0) if home else 0.0
            cost += r["er"] * (sv[j]["fee_rate"] * (1 + u) - u)
            load[j] += r["gbv"]
        if ok and all(load[j] <= sv[j]["capacity_gbv"] for j in range(3)):
            best = min(best, cost)
    assert np.isfinite(best)
    assert plan.assignments["net_cost"].sum() == pytest.approx(best, rel=1e-6)
    # every group sits with exactly one servicer
    assert plan.assignments["gbv"].sum() == pytest.approx(total)


def test_capacity_too_small_is_a_clear_error() -> None:
    pool = _pool(3)
    sv = [{**s, "capacity_gbv": 1.0} for s in SERVICERS]
    with pytest.raises(InputError, match="capacities"):
        plan_by_flow(pool, _scenario(sv))


@pytest.mark.parametrize("whole", [False, True])
def test_asset_uplift_carries_exactly_the_plans_uplift(whole: bool) -> None:
    """Per asset, u_i is its servicer's home uplift (a split cell: the cell's weighted mean), so
    Σ u_i·R_i equals the plan's total uplift, and with_uplift scales recovery, npv and the curve by 1 + u_i."""
    from pooling.consortium.servicing import with_uplift

    pool = _pool(4, n=35).set_axis(np.arange(100, 135))  # a pool's index is the contributed frame's, not 0..n-1
    pool["npv"] = pool["expected_recovery"] * 0.8
    pool["curve_rinf"] = pool["expected_recovery"]
    plan = (plan_whole_groups if whole else plan_by_flow)(pool, _scenario(SERVICERS, whole=whole))
    u = plan.asset_uplift
    assert u.index.equals(pool.index)
    assert plan.total_uplift > 0
    assert float((u * pool["expected_recovery"]).sum()) == pytest.approx(plan.total_uplift, rel=1e-9)
    # a local servicer's uplift applies only in its home province; elsewhere (national) none
    homes = {"CN-ZJ": 0.06, "CN-GD": 0.02, "CN-SC": 0.0}
    assert (u <= pool["province"].map(homes) + 1e-12).all()
    assert (u[pool["province"] == "CN-SC"] == 0).all()
    lifted = with_uplift(pool, plan)
    for c in ("expected_recovery", "npv", "curve_rinf"):
        assert np.allclose(lifted[c], pool[c] * (1 + u))
    assert lifted["gbv"].equals(pool["gbv"])
    assert lifted["expected_recovery"].sum() - pool["expected_recovery"].sum() == pytest.approx(plan.total_uplift)


def test_plan_summary_claims_uplift_only_when_applied() -> None:
    plan = plan_by_flow(_pool(5), _scenario(SERVICERS))
    assert "recovery_uplift" not in plan.summary(applied=False)
    assert plan.summary(applied=True)["recovery_uplift"] == plan.total_uplift
