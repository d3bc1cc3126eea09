r"""Marginal value of packages: which of each AMC's packages carry the pooled deal's value (packages.csv).

A **package** (资产包) is a set of one AMC's assets that is contributed or withheld as one: the tape's ``package``
column where given, otherwise :func:`package_labels`' default — the AMC's assets of one province and one
collateral type (``CN-ZJ/residential``), the way AMC packages are usually cut (one region, one kind of security).

For the grand coalition's own deal (value :math:`v_0(N)`, the pooled securitisation being negotiated) each package
:math:`P` of member :math:`m` gets the value of the negotiator's what-if:

* ``withdraw`` (some of :math:`P` is in the pool): :math:`v_0(N) - v_0(N \setminus P)`, what the package carries;
* ``add`` (none of it is in the pool): :math:`v_0(N \oplus P) - v_0(N)`, what drawing it into the pool brings
  (usually :math:`\le 0`: the optimiser left it out).

**Dual estimate, every package, one LP.** The grand coalition's selection model (the same model, its HHI cuts
included) is solved as an LP; :math:`d_u` is the reduced cost of unit column :math:`u` (an asset, or an obligor
group under ``whole_groups``), in CNY of the selection objective. The LP value :math:`V(\ell, \upsilon)` is concave
in the column bounds, with supergradients :math:`\mu_u = \max(d_u, 0)` (upper bounds) and :math:`\nu_u =
\min(d_u, 0)` (lower bounds), so

.. math::

    V(\upsilon_P = 0) \le V - \sum_{u \in P} \mu_u, \qquad V(\ell_P = 1) \le V + \sum_{u \in P} \nu_u :

withdrawing :math:`P` loses at least :math:`\sum_P \mu_u` of the objective, forcing it in costs at least
:math:`\sum_P |\nu_u|` — exactly that much while the LP basis holds (``reduced_cost``, an asset's share of a group
column by gbv). One groupby over the assets. ``dual_value`` puts it into the measure of :math:`v` by the deal's
value per CNY of objective, :math:`\kappa = v_0(N) / \text{objective}(N)` (1 under ``measure: npv``): a
first-order proxy that ranks packages; it knows nothing of how sizing or the members' funding costs react.

**Re-solves, the top packages per AMC.** For the ``consortium.package_resolves`` packages of each AMC with the
largest ``dual_value`` among its withdrawals, and as many among its adds, the what-if is solved for real through
:func:`pooling.consortium.game.coalition_value` — selection and sizing exactly as a coalition value, warm-started
with the grand coalition's HHI cuts: a withdrawal removes :math:`P`'s assets from the grand coalition's assets (size
bounds as for :math:`N`); an add gives :math:`P`'s assets a bonus of ``FORCE_BONUS`` × the best npv/gbv of any
asset per CNY of gbv in the objective the selection maximises, and measures the pool on true values
(``resolve_in_pool_share`` says how much of :math:`P` the limits let in). ``resolve_value`` is the what-if's value,
``method`` says which packages were re-solved. A package is re-solved only when the npv its what-if moves (its npv
in the pool for a withdrawal, out of it for an add) exceeds the selection's gap, ``solver.mip_rel_gap`` × the
pool's npv: below that a re-solve could not tell its value from the solver's tolerance.

Not a full game per package: the values are of the pooled deal's own value :math:`v_0(N)`, not of the
superadditive cover (that would need every coalition again). A withdrawal can *raise* :math:`v_0(N)`: the
selection maximises npv, not the surplus, so a smaller choice can size better; time-limited solves stop within a
gap; and limits bind differently on a smaller book.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from pooling.consortium.game import CoalitionValue, Game, coalition_scenario, coalition_value
from pooling.selection.model import build_model, objective_values
from solvers import Options, get_backend

#: the default package of an asset without one on its tape: its AMC's assets of one province and collateral type
DEFAULT_RULE = "province/collateral_type"
#: an added package's assets get this many times the best npv per CNY of gbv among all assets as a bonus per CNY
#: of their gbv in the objective: more than any share cap can make it cost to take them in
FORCE_BONUS = 10.0
#: packages.csv, in order
PACKAGE_COLUMNS = ("amc_id", "package", "n_assets", "gbv", "npv", "pool_gbv", "in_pool_share", "whatif",
                   "reduced_cost", "dual_value", "resolve_value", "resolve_status", "resolve_in_pool_share", "method")


def package_labels(assets: pd.DataFrame) -> pd.Series:
    """Each asset's package: the tape's ``package`` where given and not blank, else :data:`DEFAULT_RULE`
    (``province/collateral_type``, e.g. ``CN-ZJ/residential``). A package is always within one AMC (the key is
    (amc_id, package))."""
    default = assets["province"].astype(str) + "/" + assets["collateral_type"].astype(str)
    if "package" not in assets:
        return default.rename("package")
    given = assets["package"].astype("string").str.strip()
    return given.where(given.notna() & (given != ""), default).astype(str).rename("package")


def reduced_costs(assets: pd.DataFrame, scenario, hhi_seed: dict | None = None) -> np.ndarray:
    r"""Per asset, the reduced cost (CNY of the selection objective) of its unit column in the LP relaxation of the
    selection model of ``assets`` under ``scenario`` (``hhi_seed``: its HHI cuts); a group column's is shared
    among its assets by gbv. NaN when the LP gives no duals (a backend without them, or not solved to optimality).

    :math:`d = c - A^\top y` (for a maximisation: :math:`d_u > 0` at the upper bound, :math:`< 0` at the lower).
    """
    model, _ = build_model(assets, scenario, hhi_seed)
    problem = model.problem.relaxed()
    backend = get_backend(scenario.solver.backend, scenario.solver.pyomo_solver)
    lp = backend.solve(problem, Options(time_limit_s=scenario.solver.time_limit_s, threads=scenario.solver.threads,
                                        lp_algorithm="ipm" if model.n_units >= scenario.solver.large_pool_units
                                        else "auto"))
    if lp.row_duals is None or len(lp.row_duals) != problem.n_rows:
        return np.full(len(assets), np.nan)
    d = problem.c - problem.A.T @ np.asarray(lp.row_duals, float)
    unit = model.unit_of_asset
    share = model.asset_gbv / np.where(model.unit_gbv[unit] > 0, model.unit_gbv[unit], 1.0)
    if not scenario.pool.whole_groups:
        share = np.ones(len(assets))
    return d[: model.n_units][unit] * share * model.scale


def value_rates(grand: CoalitionValue, measure: str, base: float, amc: np.ndarray, c: np.ndarray,
                selected: np.ndarray) -> tuple[float, dict[str, float]]:
    r"""The deal's value per CNY of selection objective: the pool's :math:`\kappa = v_0(N) / C` and each member's
    :math:`\kappa_m = s_m / C_m` (``c``: each asset's objective; :math:`C, C_m` the pool's and member :math:`m`'s
    selected objective). Under ``surplus`` :math:`s_m = (\text{senior\_proceeds} - \text{issuance\_cost})\,
    C_m / C + R_m + S_m - O_m` (its share of the notes' cash by objective, its retained notes and servicing, less
    its assets' outside value); otherwise :math:`\kappa_m = \kappa` (1 under ``npv``). Under ``pool.objective:
    tail_npv`` the assets carry no objective of their own (it sits on the tail columns): :math:`C` is the pool's
    CVaR and every member's rate is :math:`\kappa`."""
    pool_c = float(c[selected].sum())
    if pool_c <= 0 and (grand.objective_value or 0.0) > 0:
        pool_c = float(grand.objective_value)
    kappa = 1.0 if measure == "npv" else (base / pool_c if pool_c > 0 else 0.0)
    by_m = pd.Series(np.where(selected, c, 0.0)).groupby(amc).sum()
    rates = dict.fromkeys(by_m.index, kappa)
    if measure == "surplus" and pool_c > 0 and grand.by_amc:
        cash = grand.parts.get("senior_proceeds", 0.0) - grand.parts.get("issuance_cost", 0.0)
        for m, cm in by_m.items():
            part = grand.by_amc.get(m, {})
            if cm > 0 and c[selected].sum() > 0:
                s_m = (cash * cm / pool_c + part.get("retained_value", 0.0) + part.get("servicing_value", 0.0)
                       - part.get("outside_value", 0.0))
                rates[m] = s_m / cm
    return kappa, {str(k): float(v) for k, v in rates.items()}


def _base(cv: CoalitionValue, measure: str) -> float:
    """v₀: under ``surplus`` a deal worth less than holding is not done (as in the game)."""
    return max(cv.value, 0.0) if measure == "surplus" else cv.value


def package_table(game: Game, measure: str, resolves: int) -> pd.DataFrame:
    """packages.csv for the grand coalition's own deal of ``game`` (computed if not yet): every package's dual
    estimate and, for the top ``resolves`` withdrawals and adds per AMC, the re-solved value (module docstring).
    Rows by AMC (scenario order), then package."""
    players = game.players
    grand_c = frozenset(players)
    game.ensure([grand_c])
    grand = game.cache[grand_c]
    mask = game.assets["amc_id"].isin(players).to_numpy()
    sub = game.assets[mask].reset_index(drop=True)
    selected = grand.selected if grand.selected is not None else np.zeros(len(sub), dtype=bool)
    sc = coalition_scenario(game.scenario, players, 1.0)
    d = reduced_costs(sub, sc, game.hhi_seed) if selected.any() else np.zeros(len(sub))
    base = _base(grand, measure)
    c = objective_values(sub, sc)
    amc = sub["amc_id"].astype(str).to_numpy()
    kappa, kappa_m = value_rates(grand, measure, base, amc, c, selected)

    gbv = sub["gbv"].to_numpy(float)
    frame = pd.DataFrame({
        "amc_id": amc, "package": package_labels(sub).to_numpy(),
        "gbv": gbv, "npv": sub["npv"].to_numpy(float), "pool_gbv": np.where(selected, gbv, 0.0),
        "mu": np.maximum(d, 0.0), "nu": np.minimum(d, 0.0), "one": 1,
        "c_in": np.where(selected, c, 0.0), "c_out": np.where(selected, 0.0, c),
        "npv_in": np.where(selected, sub["npv"].to_numpy(float), 0.0),
    })
    t = frame.groupby(["amc_id", "package"], sort=True).agg(
        n_assets=("one", "sum"), gbv=("gbv", "sum"), npv=("npv", "sum"), pool_gbv=("pool_gbv", "sum"),
        mu=("mu", "sum"), nu=("nu", "sum"), c_in=("c_in", "sum"), c_out=("c_out", "sum"),
        npv_in=("npv_in", "sum")).reset_index()
    order = {p: i for i, p in enumerate(players)}
    t = t.sort_values(["amc_id", "package"], key=lambda s: s.map(order) if s.name == "amc_id" else s,
                      kind="stable").reset_index(drop=True)
    t["in_pool_share"] = np.where(t["gbv"] > 0, t["pool_gbv"] / t["gbv"].where(t["gbv"] > 0, 1.0),
                                  np.where(t["pool_gbv"] > 0, 1.0, 0.0))
    t["whatif"] = np.where(t["pool_gbv"] > 0, "withdraw", "add")
    withdraw = (t["whatif"] == "withdraw").to_numpy()
    t["reduced_cost"] = np.where(withdraw, t["mu"], t["nu"])
    moved = np.where(withdraw, t["c_in"], t["c_out"])  # the objective the what-if moves into or out of the pool
    t["dual_value"] = kappa * t["reduced_cost"] + (t["amc_id"].map(kappa_m).to_numpy(float) - kappa) * moved
    t["resolve_value"] = np.nan
    t["resolve_status"] = ""
    t["resolve_in_pool_share"] = np.nan
    t["method"] = "dual"

    can_add = game.scenario.pool.objective != "tail_npv"  # the bonus sits on npv, which tail_npv does not read
    # a re-solve cannot tell a package whose npv is within the selection's gap from the solver's tolerance
    tolerance = sc.solver.mip_rel_gap * float(frame["npv_in"].sum())
    moved_npv = np.where(withdraw, t["npv_in"], t["npv"] - t["npv_in"])
    # without a grand pool (infeasible, or no pool found in time) there is no deal to re-solve around
    rows = _to_resolve(t[moved_npv > tolerance], resolves, can_add) if selected.any() else []
    # each asset's row of t (its package), to find a package's assets in the re-solves
    asset_code = pd.MultiIndex.from_frame(t[["amc_id", "package"]]).get_indexer(
        pd.MultiIndex.from_arrays([frame["amc_id"], frame["package"]]))
    ratio = sub["npv"].to_numpy(float) / np.where(gbv > 0, gbv, np.inf)
    bonus_rate = FORCE_BONUS * max(float(ratio.max()) if len(ratio) else 0.0, 0.0)
    tasks = [(int(i), str(t.at[i, "whatif"])) for i in rows]
    state = (sub, game.scenario, game.hhi_seed, asset_code, bonus_rate, measure)
    if game.workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(game.workers, initializer=_init_worker, initargs=state) as ex:
            results = list(ex.map(_worker_resolve, tasks))
    else:
        _init_worker(*state)
        try:
            results = [_worker_resolve(task) for task in tasks]
        finally:
            _WORKER.clear()
    for (i, whatif), (v0, status, share) in zip(tasks, results, strict=True):
        t.loc[i, ["resolve_value", "resolve_in_pool_share"]] = [base - v0 if whatif == "withdraw" else v0 - base,
                                                                 share]
        t.loc[i, ["resolve_status", "method"]] = [status, "resolve"]
    return t[list(PACKAGE_COLUMNS)]


# Worker state for the re-solves: the grand coalition's assets are sent once per process, not once per package.
_WORKER: dict = {}


def _init_worker(sub: pd.DataFrame, scenario, hhi_seed: dict | None, asset_code: np.ndarray, bonus_rate: float,
                 measure: str) -> None:
    _WORKER.update(sub=sub, scenario=scenario, hhi_seed=hhi_seed, asset_code=asset_code, bonus_rate=bonus_rate,
                   measure=measure)


def _worker_resolve(task: tuple[int, str]) -> tuple[float, str, float]:
    """One what-if on the grand coalition (``task``: package row, ``withdraw`` or ``add``): v₀ of the deal without
    the package, or with it drawn in; the selection's status; the share of the package's gbv in that pool."""
    row, whatif = task
    w = _WORKER
    sub, in_p = w["sub"], w["asset_code"] == row
    members = frozenset(a.id for a in w["scenario"].amcs)
    gbv = sub["gbv"].to_numpy(float)
    if whatif == "withdraw":
        cv = coalition_value(sub[~in_p].reset_index(drop=True), w["scenario"], members, w["hhi_seed"])
        return _base(cv, w["measure"]), cv.status, 0.0
    cv = coalition_value(sub, w["scenario"], members, w["hhi_seed"], bonus=np.where(in_p, w["bonus_rate"] * gbv, 0.0))
    got = cv.selected if cv.selected is not None else np.zeros(len(sub), dtype=bool)
    total = float(gbv[in_p].sum())
    share = float(gbv[in_p & got].sum()) / total if total > 0 else float((in_p & got).any())
    return _base(cv, w["measure"]), cv.status, share


def _to_resolve(t: pd.DataFrame, k: int, can_add: bool) -> list[int]:
    """Row labels of the packages of ``t`` to re-solve: per AMC, the ``k`` withdrawals with the largest dual value in
    magnitude — the packages that move the deal most, either way (ties: more pool gbv first) — and, when
    ``can_add``, the ``k`` adds with the largest (least negative) dual value (ties: higher npv per gbv first);
    then by row order."""
    if k <= 0 or t.empty:
        return []
    t = t.assign(_density=t["npv"] / t["gbv"].where(t["gbv"] > 0, np.inf), _row=t.index,
                 _size=t["dual_value"].abs())
    w = t[t["whatif"] == "withdraw"].sort_values(["_size", "pool_gbv", "_row"], ascending=[False, False, True],
                                                 kind="stable")
    picked = list(w.groupby("amc_id", sort=False).head(k).index)
    if can_add:
        a = t[t["whatif"] == "add"].sort_values(["dual_value", "_density", "_row"], ascending=[False, False, True],
                                                kind="stable")
        picked += list(a.groupby("amc_id", sort=False).head(k).index)
    return sorted(picked)
