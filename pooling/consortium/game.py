r"""Consortium economics: coalition values, allocation rules, the nucleolus, the core, what-ifs (DESIGN §7).

The game: players are the AMCs :math:`N`. A coalition's own value :math:`v_0(S)` is the measure of the best deal
it can do alone (``consortium.measure``): by default the **securitisation surplus** of its best pool, sized
(:mod:`pooling.consortium.surplus`), floored at 0 (a deal worth less than holding is not done); or the pool's
npv / senior size. The pool is selected from the members' assets under the scenario's limits with

* the size bounds scaled by :math:`\gamma_S` = (contributed gbv of :math:`S`) / (contributed gbv of :math:`N`)
  (``consortium.size_rule: proportional``, default), kept as they are (``same``) or dropped (``none``);
* each member's min/max share kept when :math:`|S| \ge 2`; a single AMC under its own ``standalone_limits``
  (:meth:`pooling.scenario.AMC.standalone`), not the consortium's caps;
* :math:`v(\emptyset) = 0`; an infeasible coalition's own deal is worth 0 and says so (``status``), as is one
  whose best pool still breaks an HHI or top-10 limit when its cuts stop (``hhi_not_converged``,
  ``top10_not_converged``): a pool that breaks a limit cannot be issued.

The value reported is the **superadditive cover** :math:`\hat v(S) = \max(v_0(S), \max_T \hat v(T) + \hat v(S
\setminus T))` — members may always act separately — exact over all coalitions
(:func:`pooling.consortium.solutions.superadditive_cover`) or over the coalitions a sampled Shapley value visits
(:func:`cover_on_family`). Allocations of :math:`\hat v(N)`: gbv, npv, Shapley (exact or sampled), the nucleolus
with each AMC's least-core range, Nash bargaining (option); core check naming the blocking coalition; transfer
prices of ``consortium.rule`` (:mod:`pooling.consortium.transfers`). docs/consortium.md has the math.
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
    #: measure ``surplus``: the parts of the coalition's own deal (:data:`pooling.consortium.surplus.PARTS`) and
    #: each member's (:data:`pooling.consortium.surplus.MEMBER_PARTS`); empty when it has no deal
    parts: dict[str, float] = field(default_factory=dict)
    by_amc: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the HHI cut directions its selection generated (warm start for other coalitions; not written out)
    hhi_cuts: dict[str, list[dict[str, float]]] = field(default_factory=dict, repr=False, compare=False)
    #: which of the members' assets (in the order of the asset frame) its pool holds, and the selection's objective
    #: value (CNY): kept for the grand coalition only (packages.csv, :mod:`pooling.consortium.packages`)
    selected: np.ndarray | None = field(default=None, repr=False, compare=False)
    objective_value: float | None = field(default=None, repr=False, compare=False)


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
    limits = scenario.pool.limits
    if len(amcs) == 1:
        # alone, an AMC does its own deal under its own limits (a local AMC's regional pool), not the consortium's
        limits = amcs[0].standalone(limits)
        amcs = [amcs[0].model_copy(update={"min_share": 0.0, "max_share": 1.0})]
    else:
        # the members' minimum shares must still fit in one pool
        total_min = sum(a.min_share for a in amcs)
        if total_min > 1.0:
            amcs = [a.model_copy(update={"min_share": a.min_share / total_min}) for a in amcs]
    pool = scenario.pool.model_copy(update={"size": size, "limits": limits})
    limit = (scenario.consortium or Consortium()).coalition_time_limit_s
    # a third of a coalition's time for each capped MILP (repair, exact stage): a proof that does not come that
    # fast is dropped (docs/formulation.md), and 2^n coalitions should not each spend the whole limit on one
    polish = min(scenario.solver.polish_time_limit_s, max(limit / 3.0, 1.0))
    solver = scenario.solver.model_copy(update={"time_limit_s": min(scenario.solver.time_limit_s, limit),
                                                "polish_time_limit_s": polish})
    update = {"amcs": amcs, "pool": pool, "solver": solver}
    if scenario.consortium is not None and scenario.consortium.servicers:
        # the coalition's servicers are its members' (none configured among them: the defaults for its members)
        servicers = [sv for sv in scenario.consortium.servicers if sv.amc in members]
        update["consortium"] = scenario.consortium.model_copy(update={"servicers": servicers})
    return scenario.model_copy(update=update)


def _measure(assets: pd.DataFrame, scenario: Scenario, selected: np.ndarray, objective: float
             ) -> tuple[float, dict[str, float], dict[str, dict[str, float]]]:
    """The coalition's own value by ``consortium.measure``: surplus (with its parts), pool npv, or senior size."""
    measure = scenario.consortium.measure if scenario.consortium else "surplus"
    if measure == "npv":
        return objective, {}, {}
    if not selected.any():  # the empty pool: no deal, nothing gained or issued
        return 0.0, {}, {}
    if measure == "senior_proceeds":
        from pooling.tranching.deal import size_deal

        return float(size_deal(assets[selected], scenario).analytics["senior_size"]), {}, {}
    from pooling.consortium.surplus import deal_surplus

    sp = deal_surplus(assets[selected], scenario)
    return sp.surplus, sp.parts(), {str(k): dict(v) for k, v in sp.by_amc.to_dict("index").items()}


#: Selection statuses whose pool still breaks a limit (its iterative cuts did not converge in time).
LIMIT_BROKEN = ("hhi_not_converged", "top10_not_converged")


def coalition_value(assets: pd.DataFrame, scenario: Scenario, members: Coalition,
                    hhi_seed: dict[str, list[dict[str, float]]] | None = None,
                    bonus: np.ndarray | None = None) -> CoalitionValue:
    """v(S): select the best pool from the members' assets under the (restricted) scenario.

    ``hhi_seed``: HHI cut directions found for a related coalition (the grand coalition's, in :class:`Game`):
    tangent cuts hold for every pool, so they are valid starting cuts here and spare LP rounds. ``bonus`` (CNY per
    asset of ``assets``) is added to the npv the selection maximises — to draw a package into the pool
    (:mod:`pooling.consortium.packages`) — and to nothing else: the pool is measured on its true values."""
    import time

    from pooling.selection.model import objective_values, select_pool

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
        drawn = sub if bonus is None else sub.assign(npv=sub["npv"].to_numpy(float) + np.asarray(bonus, float)[mask])
        sel = select_pool(drawn, sc, diagnose=False, hhi_seed=hhi_seed)
    except Infeasible:
        return CoalitionValue(members, 0.0, "infeasible", seconds=time.perf_counter() - t0)
    except NoIncumbent:
        return CoalitionValue(members, 0.0, "no_incumbent", seconds=time.perf_counter() - t0)
    if sel.status in LIMIT_BROKEN:
        # the cut loop stopped with an HHI or top-10 limit still broken: that pool cannot be issued, so no deal of
        # the coalition's own is known — worth 0, and the status says why (acting apart may still be worth more)
        return CoalitionValue(members, 0.0, sel.status, seconds=time.perf_counter() - t0, hhi_cuts=sel.hhi_cuts)
    chosen = sub[sel.selected]
    objective = float(sel.objective_value) if bonus is None else float(objective_values(sub, sc)[sel.selected].sum())
    value, parts, by_amc = _measure(sub, sc, sel.selected, objective)
    return CoalitionValue(
        members, value, sel.status, gbv=float(chosen["gbv"].sum()), n_assets=len(chosen), parts=parts, by_amc=by_amc,
        selected_npv_by_amc={k: float(v) for k, v in chosen.groupby("amc_id")["npv"].sum().items()},
        selected_gbv_by_amc={k: float(v) for k, v in chosen.groupby("amc_id")["gbv"].sum().items()},
        seconds=time.perf_counter() - t0, mip_gap=sel.mip_gap, hhi_cuts=sel.hhi_cuts, selected=sel.selected,
        objective_value=objective,
    )


# Worker state for process pools: the asset frame is sent once per worker, not once per coalition.
_WORKER: dict = {}


def _init_worker(assets: pd.DataFrame, scenario: Scenario, hhi_seed: dict | None = None) -> None:
    _WORKER["assets"] = assets
    _WORKER["scenario"] = scenario
    _WORKER["hhi_seed"] = hhi_seed


def _worker_value(members: Coalition) -> CoalitionValue:
    cv = coalition_value(_WORKER["assets"], _WORKER["scenario"], members, _WORKER.get("hhi_seed"))
    return dataclasses.replace(cv, hhi_cuts={}, selected=None)  # not needed back in the driver


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
                # one coalition at a time: solve times range from 0.05 s to the coalition time limit and cannot be
                # told in advance, so chunks of coalitions left one worker idle while the other finished a chunk
                # of slow ones (the asset frame travels once per worker; a coalition and its value are small)
                for cv in ex.map(_worker_value, todo, chunksize=1):
                    self._store(cv)
        else:
            for c in todo:
                self._store(coalition_value(self.assets, self.scenario, c, self.hhi_seed))

    def _store(self, cv: CoalitionValue) -> None:
        # the seed is kept apart; the pool's asset mask only for the grand coalition (packages.csv)
        keep = cv.selected if cv.members == frozenset(self.players) else None
        self.cache[cv.members] = dataclasses.replace(cv, hhi_cuts={}, selected=keep)
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


def _label(c: Iterable[str]) -> str:
    return "+".join(sorted(c))


def _partition_label(blocks: Iterable[Coalition]) -> str:
    return " | ".join(sorted(_label(b) for b in blocks))


def cover_on_family(values: dict[Coalition, float], tol: float = 1e-9
                    ) -> tuple[dict[Coalition, float], dict[Coalition, tuple[Coalition, ...]]]:
    r"""The superadditive cover restricted to a family :math:`\mathcal F` of coalitions that holds every singleton
    (the coalitions a sampled Shapley value visits): processed by size,

    .. math:: \bar v(S) = \max\Bigl(v(S),\; \max_{T \in \mathcal F,\ \emptyset \ne T \subsetneq S}
              \bar v(T) + \bar v^{+}(S \setminus T)\Bigr), \qquad
              \bar v^{+}(U) = \bar v(U) \text{ if } U \in \mathcal F \text{ else } \textstyle\sum_{i\in U} \bar v(\{i\}).

    Every split is a partition of :math:`S` into blocks of :math:`\mathcal F` that can act separately, so
    :math:`\bar v` never exceeds the full cover; and for disjoint :math:`S, T \in \mathcal F` with
    :math:`S \cup T \in \mathcal F`, :math:`\bar v(S \cup T) \ge \bar v(S) + \bar v(T)` (take the split at
    :math:`S`): :math:`\bar v` is superadditive on the family, and monotone there when singletons are worth
    :math:`\ge 0`. On the family of all coalitions it is the full cover. Cost :math:`O(|\mathcal F|^2)` bit tests.

    Returns the values and, per coalition, the blocks that achieve it (its own deal: one block).
    """
    players = sorted({p for c in values for p in c})
    bit = {p: 1 << i for i, p in enumerate(players)}
    mask = {c: sum(bit[p] for p in c) for c in values}
    singles = {frozenset([p]) for p in players}
    missing = singles - set(values)
    if missing:
        raise ValueError(f"the family must hold every singleton; missing {sorted(_label(c) for c in missing)}")
    vbar: dict[Coalition, float] = {}
    blocks: dict[Coalition, tuple[Coalition, ...]] = {}
    by_mask: dict[int, Coalition] = {}
    done: list[Coalition] = []

    def rest(m: int) -> tuple[float, tuple[Coalition, ...]]:
        if m in by_mask:
            c = by_mask[m]
            return vbar[c], blocks[c]
        ps = [frozenset([p]) for p in players if bit[p] & m]
        return sum(vbar[c] for c in ps), tuple(ps)

    for c in sorted(values, key=lambda c: (len(c), sorted(c))):
        m = mask[c]
        best, split = float(values[c]), (c,)
        if len(c) > 1:
            for t in done:
                mt = mask[t]
                if mt & m == mt and mt != m:
                    val, parts = rest(m ^ mt)
                    if vbar[t] + val > best + tol * max(1.0, abs(best)):
                        best, split = vbar[t] + val, blocks[t] + parts
        vbar[c], blocks[c] = best, tuple(sorted(split, key=lambda b: sorted(b)))
        by_mask[m] = c
        done.append(c)
    return vbar, blocks


@dataclass
class ConsortiumResult:
    """Everything ``pooling consortium`` reports.

    ``values`` are the reported (covered) coalition values :math:`\\hat v`; ``partitions`` the blocks achieving
    them; ``realisation`` the grand coalition's blocks with each member's deal parts (what transfers.csv realises).
    """

    allocation: pd.DataFrame
    coalitions: pd.DataFrame
    core: pd.DataFrame
    withdrawals: pd.DataFrame
    least_core_epsilon: float | None
    least_core_allocation: dict[str, float]
    grand: CoalitionValue
    exact: bool
    values: dict[Coalition, float] = field(default_factory=dict)
    partitions: dict[Coalition, tuple[Coalition, ...]] = field(default_factory=dict)
    realisation: pd.DataFrame = field(default_factory=pd.DataFrame)
    rule: str = "nucleolus"
    measure: str = "surplus"
    transfers: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: national–local collaboration modes (collaboration.csv)
    collaboration: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: marginal value of each AMC's packages in the grand deal (packages.csv, :mod:`pooling.consortium.packages`)
    packages: pd.DataFrame = field(default_factory=pd.DataFrame)


#: the surplus parts of a coalition's own deal in coalitions.csv
PART_COLUMNS = ("senior_proceeds", "retained_value", "servicing_value", "outside_value", "issuance_cost", "surplus")


def _coalition_table(game: Game, values: dict[Coalition, float],
                     partitions: dict[Coalition, tuple[Coalition, ...]]) -> pd.DataFrame:
    """coalitions.csv: the reported value (covered), the own deal's value and parts, and the partition."""
    rows = []
    for c, cv in sorted(game.cache.items(), key=lambda kv: (len(kv[0]), sorted(kv[0]))):
        if not c or c not in values:
            continue
        row = {"coalition": _label(c), "n_members": len(c), "value": values[c], "status": cv.status,
               "own_value": cv.value, "partition": _partition_label(partitions.get(c, (c,)))}
        row |= {k: cv.parts.get(k, np.nan) for k in PART_COLUMNS}
        row |= {"mip_gap": cv.mip_gap, "pool_gbv": cv.gbv, "n_assets": cv.n_assets, "seconds": round(cv.seconds, 3)}
        rows.append(row)
    return pd.DataFrame(rows, columns=["coalition", "n_members", "value", "status", "own_value", "partition",
                                       *PART_COLUMNS, "mip_gap", "pool_gbv", "n_assets", "seconds"])


def _base_value(cv: CoalitionValue, measure: str) -> float:
    """v₀(S), the value S's own deal can guarantee: under ``surplus`` a deal worth less than holding is not done
    (worth 0, the members keep their assets)."""
    return max(cv.value, 0.0) if measure == "surplus" else cv.value


def _realisation(game: Game, blocks: tuple[Coalition, ...], measure: str) -> pd.DataFrame:
    """The grand coalition's blocks and, per member, its block's deal parts (zeros where the block holds)."""
    rows = []
    for b in blocks:
        cv = game.cache[b]
        deal = _base_value(cv, measure) > 0 or (measure != "surplus" and cv.n_assets > 0)
        for p in sorted(b):
            part = cv.by_amc.get(p, {}) if deal else {}
            rows.append({"amc_id": p, "block": _label(b), "deal": bool(deal and cv.n_assets > 0),
                         "n_assets": int(part.get("n_assets", 0)), "gbv": float(part.get("gbv", 0.0)),
                         "selected_npv": float(cv.selected_npv_by_amc.get(p, 0.0)) if deal else 0.0,
                         "outside_value": float(part.get("outside_value", 0.0)),
                         "retained_value": float(part.get("retained_value", 0.0)),
                         "servicing_value": float(part.get("servicing_value", 0.0))})
    return pd.DataFrame(rows).set_index("amc_id")


def _cover(players: list[str], game: Game, measure: str, exact: bool
           ) -> tuple[dict[Coalition, float], dict[Coalition, tuple[Coalition, ...]]]:
    """v̂ over the cached coalitions: the full superadditive cover (every coalition known), else the cover on the
    cached family (:func:`cover_on_family`)."""
    base = {c: _base_value(cv, measure) for c, cv in game.cache.items() if c}
    if exact:
        from pooling.consortium.solutions import best_partition, superadditive_cover

        def v0(c: Coalition) -> float:
            return base[c] if c else 0.0

        values = {c: float(x) for c, x in superadditive_cover(players, v0).items() if c}
        parts = {c: tuple(b) for c, b in best_partition(players, v0).items() if c}
        # the own deal when it achieves the cover (ties): the one-block partition
        for c in values:
            if base[c] >= values[c] - 1e-9 * max(1.0, abs(values[c])):
                parts[c] = (c,)
    else:
        values, parts = cover_on_family(base)
    # a block that does no deal (worth nothing) is its members each holding their assets
    parts = {c: tuple(sorted((q for b in blocks for q in ((b,) if len(b) == 1 or base[b] > 0
                                                            else tuple(frozenset([p]) for p in b))),
                             key=lambda q: sorted(q)))
             for c, blocks in parts.items()}
    return values, parts


#: the stages :func:`analyse` names to ``on_stage`` after the coalition values (in order)
STAGE_ALLOCATIONS = "allocations, core and transfer prices"
STAGE_PACKAGES = "marginal value of packages (packages.csv)"


def analyse(assets: pd.DataFrame, scenario: Scenario, workers: int | None = None,
            on_value: Callable[[CoalitionValue], None] | None = None, seed: int = 0,
            on_stage: Callable[[str], None] | None = None) -> ConsortiumResult:
    """Coalition values (the superadditive cover of each coalition's own deal), standalone vs pooled, allocations
    (gbv, npv, Shapley, nucleolus with the least-core ranges, Nash bargaining when asked), core check naming the
    blocking coalition, withdrawals, transfer prices of the chosen rule (docs/consortium.md). ``on_value`` is
    called with each coalition value, ``on_stage`` with the name of each stage after the coalition values."""
    from pooling.consortium import solutions

    cfg = scenario.consortium or Consortium()
    game = Game(assets, scenario, workers=workers if workers is not None else cfg.workers, on_value=on_value)
    players = game.players
    n = len(players)
    exact = n <= cfg.exact_shapley_max
    grand_c = frozenset(players)
    singles = [frozenset([p]) for p in players]
    if exact:
        game.ensure(game.all_coalitions())
    else:
        rng = np.random.default_rng(seed)
        orders = [list(rng.permutation(players)) for _ in range(cfg.shapley_samples)]
        need = {frozenset(o[: k + 1]) for o in orders for k in range(n)} | set(singles) | {grand_c}
        game.ensure(need)
    if on_stage is not None:
        on_stage(STAGE_ALLOCATIONS)
    values, partitions = _cover(players, game, cfg.measure, exact)

    def v(c: Iterable[str]) -> float:
        c = frozenset(c)
        return values[c] if c else 0.0

    if exact:
        phi = shapley_exact(players, v)
        se = dict.fromkeys(players, 0.0)
    else:
        phi, se = shapley_sampled(players, v, cfg.shapley_samples, seed)
    grand = game.cache[grand_c]
    vN = values[grand_c]
    real = _realisation(game, partitions[grand_c], cfg.measure)
    contributed = assets.groupby("amc_id")["gbv"].sum()
    contributed_npv = assets.groupby("amc_id")["npv"].sum()
    alloc = pd.DataFrame({"amc_id": players})
    alloc["name"] = [next(a.label for a in scenario.amcs if a.id == p) for p in players]
    alloc["kind"] = [next(a.kind for a in scenario.amcs if a.id == p) for p in players]
    alloc["funding_cost"] = [next(a.annual_funding_cost for a in scenario.amcs if a.id == p) for p in players]
    alloc["contributed_gbv"] = [float(contributed.get(p, 0.0)) for p in players]
    alloc["contributed_npv"] = [float(contributed_npv.get(p, 0.0)) for p in players]
    alloc["selected_gbv"] = [float(real.loc[p, "gbv"]) if cfg.measure == "surplus"
                             else float(game.cache[grand_c].selected_gbv_by_amc.get(p, 0.0)) for p in players]
    alloc["selected_npv"] = [float(real.loc[p, "selected_npv"]) if cfg.measure == "surplus"
                             else float(game.cache[grand_c].selected_npv_by_amc.get(p, 0.0)) for p in players]
    alloc["block"] = [real.loc[p, "block"] for p in players]
    alloc["standalone_value"] = [values[frozenset([p])] for p in players]
    alloc["standalone_status"] = [game.cache[frozenset([p])].status for p in players]
    total_gbv = alloc["contributed_gbv"].sum()
    total_sel_npv = alloc["selected_npv"].sum()
    alloc["alloc_gbv"] = vN * alloc["contributed_gbv"] / total_gbv if total_gbv > 0 else 0.0
    alloc["alloc_npv"] = vN * alloc["selected_npv"] / total_sel_npv if total_sel_npv > 0 else vN / n
    alloc["shapley_value"] = [phi[p] for p in players]
    alloc["shapley_se"] = [se[p] for p in players]
    rules = {"gbv": "alloc_gbv", "npv": "alloc_npv", "shapley": "shapley_value"}
    eps, lc = None, {}
    if exact and n >= 2:
        solver = scenario.solver.pyomo_solver
        nuc = solutions.nucleolus(players, v, solver=solver)
        eps, ranges = solutions.least_core_ranges(players, v, solver=solver)
        lc = nuc
        alloc["nucleolus"] = [nuc[p] for p in players]
        alloc["least_core_min"] = [ranges[p][0] for p in players]
        alloc["least_core_max"] = [ranges[p][1] for p in players]
        rules["nucleolus"] = "nucleolus"
    elif n == 1:
        alloc["nucleolus"] = [vN]
        alloc["least_core_min"] = alloc["least_core_max"] = [vN]
        rules["nucleolus"] = "nucleolus"
    else:  # 2^n rows are out of reach: the nucleolus is not computed for a sampled game
        alloc["nucleolus"] = alloc["least_core_min"] = alloc["least_core_max"] = np.nan
    if cfg.nash:
        threats = {p: values[frozenset([p])] for p in players}
        try:
            nash = solutions.nash_bargaining(players, vN, threats)
            alloc["nash"] = [nash[p] for p in players]
            rules["nash"] = "nash"
        except InputError:
            alloc["nash"] = np.nan
    chosen = cfg.rule if cfg.rule in rules else "shapley"
    alloc["uplift_shapley"] = alloc["shapley_value"] - alloc["standalone_value"]
    alloc["uplift_shapley_pct"] = np.where(alloc["standalone_value"] > 0,
                                           alloc["uplift_shapley"] / alloc["standalone_value"].where(alloc["standalone_value"] > 0, 1.0),
                                           np.nan)

    core_rows = []
    if exact:
        for rule, col in rules.items():
            x = dict(zip(players, alloc[col], strict=True))
            check = solutions.core_check(players, v, x, tol=1e-6)  # relative to max(1, |v(N)|) inside
            worst = check.violations.iloc[0] if len(check.violations) else None
            core_rows.append({"rule": rule, "in_core": bool(check.in_core),
                              "max_excess": float(worst["shortfall"]) if worst is not None else 0.0,
                              "worst_coalition": worst["coalition"] if worst is not None else "",
                              "blocking_coalition": _label(check.blocking) if check.blocking else ""})
    withdrawals = _withdrawals(v, players, phi) if exact and n >= 2 else pd.DataFrame()
    from pooling.consortium.transfers import transfers

    x_chosen = dict(zip(players, alloc[rules[chosen]], strict=True))
    result = ConsortiumResult(alloc, _coalition_table(game, values, partitions), pd.DataFrame(core_rows), withdrawals,
                              eps, lc, grand, exact, values, partitions, real, chosen, cfg.measure)
    result.transfers = transfers(real, x_chosen)
    from pooling.consortium.collaboration import CollaborationTerms, collaboration_table

    c = cfg.collaboration
    result.collaboration = collaboration_table(
        assets, scenario.amcs, CollaborationTerms(c.national_cost, c.local_cost, c.entrusted_uplift))
    from pooling.consortium.packages import package_table

    if on_stage is not None:
        on_stage(STAGE_PACKAGES)
    result.packages = package_table(game, cfg.measure, cfg.package_resolves)
    return result


def _withdrawals(v: Callable[[Coalition], float], players: list[str], phi: dict[str, float]) -> pd.DataFrame:
    """One AMC withdraws: the grand value without it and every remaining AMC's Shapley change (cached values)."""
    rows = []
    vN = v(frozenset(players))
    for out in players:
        rest = [p for p in players if p != out]
        sub_phi = shapley_exact(rest, v)
        row = {"withdrawing": out, "grand_value": v(frozenset(rest)), "delta_grand_value": v(frozenset(rest)) - vN}
        for p in players:
            row[f"delta_{p}"] = (sub_phi[p] - phi[p]) if p != out else -phi[p]
        rows.append(row)
    return pd.DataFrame(rows)

