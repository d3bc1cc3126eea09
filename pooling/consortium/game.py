r"""Consortium economics: coalition values, allocation rules, Shapley value, the core, what-ifs (DESIGN §7).

The game: players are the AMCs :math:`N`; a coalition :math:`S \subseteq N` is worth :math:`v(S)`, the best pool
value using only the assets of :math:`S`'s members under the scenario's limits, with

* the size bounds scaled by :math:`\gamma_S` = (contributed gbv of :math:`S`) / (contributed gbv of :math:`N`)
  (``consortium.size_rule: proportional``, default), kept as they are (``same``) or dropped (``none``);
* each member's min/max share kept when :math:`|S| \ge 2` (a standalone pool is all its owner's by definition);
* :math:`v(\emptyset) = 0`; an infeasible coalition is worth 0 and says so (``status``).

The measure is the selection objective (pool npv) by default, or the senior proceeds of the pool after sizing
(``consortium.measure: senior_proceeds``).

Allocation rules of the grand value :math:`v(N)`:

* **gbv** — pro rata to contributed gbv: :math:`x_i = v(N)\, G_i / \sum_j G_j`;
* **npv** — pro rata to the npv of the member's assets *in the grand pool*: :math:`x_i = v(N)\, V_i / \sum_j V_j`;
* **shapley** — :math:`\phi_i = \sum_{S \subseteq N\setminus\{i\}} \frac{|S|!\,(n-|S|-1)!}{n!}\,(v(S\cup\{i\}) - v(S))`,
  exact for up to ``exact_shapley_max`` AMCs (every coalition's value computed once and cached), otherwise the mean
  marginal contribution over random orderings, with its standard error.

An allocation is in the **core** when no coalition gets less than it could alone:
:math:`\sum_{i\in S} x_i \ge v(S)` for all :math:`S`. The **least core** is the smallest :math:`\varepsilon` for
which some efficient allocation meets :math:`\sum_{i\in S} x_i \ge v(S) - \varepsilon` for all proper
:math:`S \ne \emptyset` (a small Pyomo LP); :math:`\varepsilon \le 0` means the core is non-empty.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pooling.errors import Infeasible, InputError, NoIncumbent
from pooling.scenario import Consortium, Scenario

Coalition = frozenset[str]


@dataclass(frozen=True)
class CoalitionValue:
    """v(S) and how it was obtained."""

    members: Coalition
    value: float
    status: str  # optimal | feasible | infeasible | no_incumbent | empty
    gbv: float = 0.0
    n_assets: int = 0
    selected_npv_by_amc: dict[str, float] = field(default_factory=dict)
    selected_gbv_by_amc: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    mip_gap: float | None = None
    #: the HHI cut directions its selection generated (warm start for other coalitions; not written out)
    hhi_cuts: dict[str, list[dict[str, float]]] = field(default_factory=dict, repr=False, compare=False)


def coalition_scenario(scenario: Scenario, members: Iterable[str], gamma: float) -> Scenario:
    """The scenario restricted to ``members``: their AMC entries only, size bounds by the size rule."""
    members = set(members)
    rule = scenario.consortium.size_rule if scenario.consortium else "proportional"
    size = scenario.pool.size
    if rule == "proportional":
        size = size.model_copy(update={"min": None if size.min is None else size.min * gamma,
                                       "max": None if size.max is None else size.max * gamma})
    elif rule == "none":
        size = size.model_copy(update={"min": None, "max": None})
    amcs = [a for a in scenario.amcs if a.id in members]
    if len(amcs) == 1:
        amcs = [amcs[0].model_copy(update={"min_share": 0.0, "max_share": 1.0})]
    else:
        # the members' minimum shares must still fit in one pool
        total_min = sum(a.min_share for a in amcs)
        if total_min > 1.0:
            amcs = [a.model_copy(update={"min_share": a.min_share / total_min}) for a in amcs]
    pool = scenario.pool.model_copy(update={"size": size})
    limit = scenario.consortium.coalition_time_limit_s if scenario.consortium else 10.0
    # a third of a coalition's time for each capped MILP (repair, exact stage): a proof that does not come that
    # fast is dropped (docs/formulation.md), and 2^n coalitions should not each spend the whole limit on one
    polish = min(scenario.solver.polish_time_limit_s, max(limit / 3.0, 1.0))
    solver = scenario.solver.model_copy(update={"time_limit_s": min(scenario.solver.time_limit_s, limit),
                                                "polish_time_limit_s": polish})
    return scenario.model_copy(update={"amcs": amcs, "pool": pool, "solver": solver})


def _measure(assets: pd.DataFrame, scenario: Scenario, selected: np.ndarray, objective: float) -> float:
    measure = scenario.consortium.measure if scenario.consortium else "npv"
    if measure == "npv":
        return objective
    from pooling.tranching.deal import size_deal

    return float(size_deal(assets[selected], scenario).analytics["senior_size"])


def coalition_value(assets: pd.DataFrame, scenario: Scenario, members: Coalition,
                    hhi_seed: dict[str, list[dict[str, float]]] | None = None) -> CoalitionValue:
    """v(S): select the best pool from the members' assets under the (restricted) scenario.

    ``hhi_seed``: HHI cut directions found for a related coalition (the grand coalition's, in :class:`Game`):
    tangent cuts hold for every pool, so they are valid starting cuts here and spare LP rounds."""
    import time

    from pooling.selection.model import select_pool

    if not members:
        return CoalitionValue(members, 0.0, "empty")
    t0 = time.perf_counter()
    mask = assets["amc_id"].isin(members).to_numpy()
    sub = assets[mask].reset_index(drop=True)
    if sub.empty:
        return CoalitionValue(members, 0.0, "empty")
    gamma = float(sub["gbv"].sum() / assets["gbv"].sum())
    sc = coalition_scenario(scenario, members, gamma)
    try:
        # the scenario's strategy, chosen by measured cost as for any pool (docs/formulation.md): small coalitions
        # are solved to the requested gap, large ones by lp_round with a certified gap; each solve is capped at
        # consortium.coalition_time_limit_s
        sel = select_pool(sub, sc, diagnose=False, hhi_seed=hhi_seed)
    except Infeasible:
        return CoalitionValue(members, 0.0, "infeasible", seconds=time.perf_counter() - t0)
    except NoIncumbent:
        return CoalitionValue(members, 0.0, "no_incumbent", seconds=time.perf_counter() - t0)
    chosen = sub[sel.selected]
    value = _measure(sub, sc, sel.selected, float(sel.objective_value))
    return CoalitionValue(
        members, value, sel.status, gbv=float(chosen["gbv"].sum()), n_assets=len(chosen),
        selected_npv_by_amc={k: float(v) for k, v in chosen.groupby("amc_id")["npv"].sum().items()},
        selected_gbv_by_amc={k: float(v) for k, v in chosen.groupby("amc_id")["gbv"].sum().items()},
        seconds=time.perf_counter() - t0, mip_gap=sel.mip_gap, hhi_cuts=sel.hhi_cuts,
    )


# Worker state for process pools: the asset frame is sent once per worker, not once per coalition.
_WORKER: dict = {}


def _init_worker(assets: pd.DataFrame, scenario: Scenario, hhi_seed: dict | None = None) -> None:
    _WORKER["assets"] = assets
    _WORKER["scenario"] = scenario
    _WORKER["hhi_seed"] = hhi_seed


def _worker_value(members: Coalition) -> CoalitionValue:
    cv = coalition_value(_WORKER["assets"], _WORKER["scenario"], members, _WORKER.get("hhi_seed"))
    return dataclasses.replace(cv, hhi_cuts={})  # not needed back in the driver


class Game:
    """Coalition values with a cache; values are computed on demand, in parallel when asked for in bulk."""

    def __init__(self, assets: pd.DataFrame, scenario: Scenario, workers: int | None = None,
                 on_value: Callable[[CoalitionValue], None] | None = None):
        self.assets = assets
        self.scenario = scenario
        self.players: list[str] = [a.id for a in scenario.amcs]
        missing = set(self.players) - set(assets["amc_id"].astype(str).unique())
        if missing:
            raise InputError(f"AMC(s) {sorted(missing)} contribute no assets")
        self.cache: dict[Coalition, CoalitionValue] = {frozenset(): CoalitionValue(frozenset(), 0.0, "empty")}
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self.hhi_seed: dict[str, list[dict[str, float]]] | None = None
        self.on_value = on_value

    def ensure(self, coalitions: Iterable[Coalition]) -> None:
        """Compute every listed coalition not yet cached (in a process pool when workers > 1)."""
        todo = sorted({c for c in coalitions if c not in self.cache}, key=lambda c: (len(c), sorted(c)))
        if not todo:
            return
        grand = frozenset(self.players)
        if grand not in self.cache:
            # the grand coalition first, always: its HHI cuts warm-start every other coalition, the same seed
            # whatever is asked for first and in whatever order the others are solved (values do not depend on
            # the call order or the number of workers)
            cv = coalition_value(self.assets, self.scenario, grand)
            self.hhi_seed = cv.hhi_cuts
            self._store(cv)
            todo = [c for c in todo if c != grand]
        if self.workers > 1 and len(todo) > 1:
            with ProcessPoolExecutor(self.workers, initializer=_init_worker,
                                     initargs=(self.assets, self.scenario, self.hhi_seed)) as ex:
                for cv in ex.map(_worker_value, todo, chunksize=max(1, len(todo) // (4 * self.workers))):
                    self._store(cv)
        else:
            for c in todo:
                self._store(coalition_value(self.assets, self.scenario, c, self.hhi_seed))

    def _store(self, cv: CoalitionValue) -> None:
        self.cache[cv.members] = dataclasses.replace(cv, hhi_cuts={}) if cv.hhi_cuts else cv  # seed kept apart
        if self.on_value is not None:
            self.on_value(cv)

    def v(self, coalition: Iterable[str]) -> float:
        c = frozenset(coalition)
        self.ensure([c])
        return self.cache[c].value

    def all_coalitions(self) -> list[Coalition]:
        n = self.players
        return [frozenset(c) for r in range(1, len(n) + 1) for c in itertools.combinations(n, r)]


def shapley_exact(players: list[str], v: Callable[[Coalition], float]) -> dict[str, float]:
    """Exact Shapley value from a value function over all 2^n coalitions."""
    n = len(players)
    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    phi = {}
    for i in players:
        others = [p for p in players if p != i]
        total = 0.0
        for k in range(n):
            for S in itertools.combinations(others, k):
                s = frozenset(S)
                total += weights[k] * (v(s | {i}) - v(s))
        phi[i] = total
    return phi


def shapley_sampled(players: list[str], v: Callable[[Coalition], float], samples: int, seed: int = 0
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Shapley value by random orderings: mean marginal contribution and its standard error per player."""
    rng = np.random.default_rng(seed)
    contrib = {p: [] for p in players}
    for _ in range(samples):
        order = list(rng.permutation(players))
        before: frozenset[str] = frozenset()
        prev = 0.0
        for p in order:
            now = before | {p}
            val = v(now)
            contrib[p].append(val - prev)
            before, prev = now, val
    mean = {p: float(np.mean(c)) for p, c in contrib.items()}
    se = {p: float(np.std(c, ddof=1) / math.sqrt(len(c))) if len(c) > 1 else float("nan") for p, c in contrib.items()}
    return mean, se


def core_violations(players: list[str], v: Callable[[Coalition], float], x: dict[str, float]) -> pd.DataFrame:
    """Every proper coalition with its value, what the allocation gives it, and the excess v(S) − x(S)."""
    rows = []
    for r in range(1, len(players)):
        for S in itertools.combinations(players, r):
            s = frozenset(S)
            got = sum(x[p] for p in S)
            rows.append({"coalition": "+".join(sorted(S)), "value": v(s), "allocated": got, "excess": v(s) - got})
    return pd.DataFrame(rows, columns=["coalition", "value", "allocated", "excess"]).sort_values(
        "excess", ascending=False, kind="stable", ignore_index=True)


def least_core(players: list[str], v: Callable[[Coalition], float], solver: str = "appsi_highs") -> tuple[float, dict[str, float]]:
    """Least core by LP (Pyomo): min ε s.t. Σ_{i∈S} x_i ≥ v(S) − ε for proper S ≠ ∅, Σ_i x_i = v(N)."""
    import pyomo.environ as pyo

    grand = v(frozenset(players))
    proper = [frozenset(S) for r in range(1, len(players)) for S in itertools.combinations(players, r)]
    m = pyo.ConcreteModel()
    m.P = pyo.Set(initialize=players, ordered=True)
    m.x = pyo.Var(m.P)
    m.eps = pyo.Var()
    m.C = pyo.Set(initialize=range(len(proper)))
    m.stable = pyo.Constraint(m.C, rule=lambda m, k: sum(m.x[i] for i in proper[k]) >= v(proper[k]) - m.eps)
    m.efficient = pyo.Constraint(expr=sum(m.x[i] for i in m.P) == grand)
    m.obj = pyo.Objective(expr=m.eps, sense=pyo.minimize)
    res = pyo.SolverFactory(solver).solve(m)
    if str(res.solver.termination_condition) != "optimal":
        raise RuntimeError(f"least-core LP did not solve: {res.solver.termination_condition}")
    return float(pyo.value(m.eps)), {i: float(pyo.value(m.x[i])) for i in players}


@dataclass
class ConsortiumResult:
    """Everything ``pooling consortium`` reports."""

    allocation: pd.DataFrame
    coalitions: pd.DataFrame
    core: pd.DataFrame
    withdrawals: pd.DataFrame
    least_core_epsilon: float | None
    least_core_allocation: dict[str, float]
    grand: CoalitionValue
    exact: bool


def _coalition_table(game: Game) -> pd.DataFrame:
    rows = []
    for c, cv in sorted(game.cache.items(), key=lambda kv: (len(kv[0]), sorted(kv[0]))):
        if not c:
            continue
        rows.append({"coalition": "+".join(sorted(c)), "n_members": len(c), "value": cv.value, "status": cv.status,
                     "mip_gap": cv.mip_gap, "pool_gbv": cv.gbv, "n_assets": cv.n_assets, "seconds": round(cv.seconds, 3)})
    return pd.DataFrame(rows, columns=["coalition", "n_members", "value", "status", "mip_gap", "pool_gbv", "n_assets",
                                       "seconds"])


def analyse(assets: pd.DataFrame, scenario: Scenario, workers: int | None = None,
            on_value: Callable[[CoalitionValue], None] | None = None, seed: int = 0) -> ConsortiumResult:
    """Coalition values, standalone vs pooled, allocations, core check, least core, withdrawals."""
    cfg = scenario.consortium or Consortium()
    game = Game(assets, scenario, workers=workers if workers is not None else cfg.workers, on_value=on_value)
    players = game.players
    n = len(players)
    exact = n <= cfg.exact_shapley_max
    grand_c = frozenset(players)
    singles = [frozenset([p]) for p in players]
    if exact:
        game.ensure(game.all_coalitions())
        phi = shapley_exact(players, game.v)
        se = dict.fromkeys(players, 0.0)
    else:
        rng = np.random.default_rng(seed)
        orders = [list(rng.permutation(players)) for _ in range(cfg.shapley_samples)]
        need = {frozenset(o[: k + 1]) for o in orders for k in range(n)} | set(singles) | {grand_c}
        game.ensure(need)
        phi, se = shapley_sampled(players, game.v, cfg.shapley_samples, seed)
    grand = game.cache[grand_c]
    vN = grand.value
    contributed = assets.groupby("amc_id")["gbv"].sum()
    contributed_npv = assets.groupby("amc_id")["npv"].sum()
    sel_gbv = pd.Series(grand.selected_gbv_by_amc, dtype=float)
    sel_npv = pd.Series(grand.selected_npv_by_amc, dtype=float)
    alloc = pd.DataFrame({"amc_id": players})
    alloc["name"] = [next(a.label for a in scenario.amcs if a.id == p) for p in players]
    alloc["kind"] = [next(a.kind for a in scenario.amcs if a.id == p) for p in players]
    alloc["contributed_gbv"] = [float(contributed.get(p, 0.0)) for p in players]
    alloc["contributed_npv"] = [float(contributed_npv.get(p, 0.0)) for p in players]
    alloc["selected_gbv"] = [float(sel_gbv.get(p, 0.0)) for p in players]
    alloc["selected_npv"] = [float(sel_npv.get(p, 0.0)) for p in players]
    alloc["standalone_value"] = [game.cache[frozenset([p])].value for p in players]
    alloc["standalone_status"] = [game.cache[frozenset([p])].status for p in players]
    total_gbv = alloc["contributed_gbv"].sum()
    total_sel_npv = alloc["selected_npv"].sum()
    alloc["alloc_gbv"] = vN * alloc["contributed_gbv"] / total_gbv if total_gbv > 0 else 0.0
    alloc["alloc_npv"] = vN * alloc["selected_npv"] / total_sel_npv if total_sel_npv > 0 else 0.0
    alloc["shapley_value"] = [phi[p] for p in players]
    alloc["shapley_se"] = [se[p] for p in players]
    alloc["uplift_shapley"] = alloc["shapley_value"] - alloc["standalone_value"]
    alloc["uplift_shapley_pct"] = np.where(alloc["standalone_value"] > 0,
                                           alloc["uplift_shapley"] / alloc["standalone_value"].where(alloc["standalone_value"] > 0, 1.0),
                                           np.nan)

    core_rows = []
    eps, lc = None, {}
    if exact:
        for rule, col in (("gbv", "alloc_gbv"), ("npv", "alloc_npv"), ("shapley", "shapley_value")):
            x = dict(zip(players, alloc[col], strict=True))
            viol = core_violations(players, game.v, x)
            worst = viol.iloc[0] if len(viol) else None
            core_rows.append({"rule": rule, "in_core": bool(worst is None or worst["excess"] <= 1e-6 * max(abs(vN), 1.0)),
                              "max_excess": float(worst["excess"]) if worst is not None else 0.0,
                              "worst_coalition": worst["coalition"] if worst is not None else ""})
        if n >= 2:
            eps, lc = least_core(players, game.v)
            alloc["least_core"] = [lc[p] for p in players]
    withdrawals = _withdrawals(game, players, phi) if exact and n >= 2 else pd.DataFrame()
    return ConsortiumResult(alloc, _coalition_table(game), pd.DataFrame(core_rows), withdrawals, eps, lc, grand, exact)


def _withdrawals(game: Game, players: list[str], phi: dict[str, float]) -> pd.DataFrame:
    """One AMC withdraws: the grand value without it and every remaining AMC's Shapley change (cached values)."""
    rows = []
    vN = game.v(frozenset(players))
    for out in players:
        rest = [p for p in players if p != out]
        sub_phi = shapley_exact(rest, game.v)
        row = {"withdrawing": out, "grand_value": game.v(frozenset(rest)), "delta_grand_value": game.v(frozenset(rest)) - vN}
        for p in players:
            row[f"delta_{p}"] = (sub_phi[p] - phi[p]) if p != out else -phi[p]
        rows.append(row)
    return pd.DataFrame(rows)


def package_whatif(assets: pd.DataFrame, scenario: Scenario, remove: np.ndarray, workers: int | None = None) -> pd.DataFrame:
    """An AMC removes (or, with the complement, adds) a package of assets: every AMC's Shapley value and the
    grand value before and after. ``remove`` is a boolean mask over ``assets``."""
    before = analyse(assets, scenario, workers=workers)
    after = analyse(assets[~np.asarray(remove)].reset_index(drop=True), scenario, workers=workers)
    out = before.allocation[["amc_id", "shapley_value"]].merge(
        after.allocation[["amc_id", "shapley_value"]], on="amc_id", suffixes=("_before", "_after"))
    out["delta"] = out["shapley_value_after"] - out["shapley_value_before"]
    out.attrs["grand_before"] = before.grand.value
    out.attrs["grand_after"] = after.grand.value
    return out
