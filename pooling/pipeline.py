"""The one pipeline: scenario → validated tapes → pooled graph → valued assets → pool → securities → consortium.

:func:`prepare` is the front (read, validate, group, value); :func:`run_scenario` is the one orchestration every
command calls (``pooling run``, ``optimize``, ``size``, ``consortium``, studies through :func:`run_pipeline`), so
one scenario gives one answer everywhere; :func:`run_shelf` plans a shelf on the same front (``pooling shelf``). It returns plain results (:class:`RunResult`); writing files is apart
(:func:`write_run`), and each writer declares the names it writes (``*_FILES``) and returns the paths it wrote.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from pooling.consortium.game import CoalitionValue, ConsortiumResult, analyse
from pooling.consortium.packages import package_labels
from pooling.consortium.servicing import ServicingPlan, plan_servicing, with_uplift
from pooling.errors import Infeasible, InputError, NoIncumbent
from pooling.graph import build_groups
from pooling.io import combined_sha256, read_csv, sha256_files, write_atomic, write_csv, write_json
from pooling.outputs import (
    CONSORTIUM_FILES,
    DEAL_FILES,
    SCENARIO_COPY_FILES,
    SELECTION_FILES,
    SERVICING_FILES,
    SHELF_FILES,
    SUMMARY_FILES,
    TAIL_FILES,
    check_written,
    files_written,
)
from pooling.scenario import Scenario, scenario_copy_text, with_overrides
from pooling.selection.model import Selection, select_pool
from pooling.selection.results import limits_frame, pool_frame, pool_measures, summary
from pooling.shelf.model import ShelfResult, batch_assets, plan_shelf
from pooling.shelf.plan import ShelfPlan
from pooling.shelf.results import assignments_frame, issues_frame, shelf_summary
from pooling.tapes.load import Tapes, load_tapes
from pooling.tranching.deal import Deal, analytics_json, size_deal, write_deal
from pooling.valuation.fitted import CalibratedModel, load_model, value_with_model
from pooling.valuation.levers import (
    COURT_STATUSES,
    after_valuation,
    before_valuation,
    effective_scenario,
    lever_parameters,
)
from pooling.valuation.model import DEFAULT_PARAMETERS, value_assets


@dataclass(frozen=True)
class Prepared:
    """Valued, grouped assets of one scenario, with the links they were grouped on and stage timings."""

    scenario: Scenario
    assets: pd.DataFrame
    links: pd.DataFrame
    inputs_sha256: str
    seconds: dict[str, float] = field(default_factory=dict)
    #: what valued the assets (summary.json ``valuation``; :func:`valuation_statement`)
    valuation: dict = field(default_factory=dict)


def input_files(scenario: Scenario) -> dict[str, Path]:
    """Every input file of the scenario (tapes, then links) keyed by its path as written in the scenario, with
    ``/`` separators: the keys of :func:`inputs_digest` and of a study's run ids (the same on every OS)."""
    written = [a.tape for a in scenario.amcs] + ([scenario.links] if scenario.links else [])
    files = {PurePath(w).as_posix(): p for w, p in zip(written, scenario.input_paths(), strict=True)}
    if scenario.model_dir is not None:  # a calibrated model is an input too: its parameters and carried corrections
        folder = PurePath(scenario.valuation.model).as_posix()
        for name in MODEL_INPUT_FILES:
            if (scenario.model_dir / name).is_file():
                files[f"{folder}/{name}"] = scenario.model_dir / name
    return files


#: Scenario keys that say how to compute, not what: the answer is the same whichever is chosen (a test checks it),
#: so they stay out of ``inputs_sha256``.
_HOW_TO_COMPUTE = {"consortium": {"workers"}, "solver": {"backend", "pyomo_solver"}}
_NOT_INPUTS = {"base_dir": True, "monitor": True,  # monitor: thresholds for after the issue, no part of a run
               **_HOW_TO_COMPUTE}


def inputs_digest(scenario: Scenario) -> str:
    """Hash of every input file's bytes plus the resolved scenario (DESIGN §3.3 ``inputs_sha256``), leaving out
    the keys that choose how to compute (the solver backend, worker counts).

    Files are keyed by their path as written in the scenario (:func:`input_files`), so moving a scenario folder
    keeps its hash.
    """
    return _files_and_document_digest(scenario, "<scenario>", scenario.model_dump_json(exclude=_NOT_INPUTS))


def _files_and_document_digest(scenario: Scenario, label: str, document: str) -> str:
    """The combined hash of ``scenario``'s input files (:func:`input_files`, keyed by their path as written) and of
    a resolved document (its JSON text) under ``label``: the one recipe of :func:`inputs_digest` and
    :func:`shelf_digest`."""
    files = input_files(scenario)
    digests = dict(zip(files, sha256_files(files.values()), strict=True))
    digests[label] = hashlib.sha256(document.encode()).hexdigest()
    return combined_sha256(digests)


#: the files of a calibrated model's folder that change its predictions
MODEL_INPUT_FILES = ("model.json", "corrections.json")

_TAPE_CACHE: dict[tuple, Tapes] = {}
_MODEL_CACHE: dict[tuple, CalibratedModel] = {}


def load_model_cached(model_dir: Path) -> CalibratedModel:
    """The calibrated model in ``model_dir``, cached per process by its files' sizes and modification times."""
    key = _file_stats([model_dir / n for n in (*MODEL_INPUT_FILES, "backtests.csv")])
    return _cached(_MODEL_CACHE, key, lambda: load_model(model_dir))


def _file_stats(paths) -> tuple:
    """(path, size, modification time) of each file, (path, -1, -1) when missing: a cache key that changes when
    any file does."""
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else (str(p), -1, -1) for p in paths)


def _cached(cache: dict, key: tuple, load: Callable[[], object]):
    """``cache[key]``, loaded on a miss; at most four entries per process (the oldest goes first)."""
    if key not in cache:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        cache[key] = load()
    return cache[key]


def valuation_statement(scenario: Scenario, model: CalibratedModel | None, valued: pd.DataFrame) -> dict:
    """What valued the assets, for summary.json and every report: the calibrated model's id, training window and
    last backtest, or plainly the documented priors; and the share of gbv whose tape values were kept."""
    gbv = valued["gbv"].to_numpy(float)
    from_tape = (valued["valuation_source"] == "tape").to_numpy() if "valuation_source" in valued else False
    tape_share = float(gbv[from_tape].sum() / gbv.sum()) if gbv.sum() > 0 else 0.0
    base = {"source": scenario.valuation.source, "discount_rate": scenario.valuation.discount_rate,
            "tape_share_of_gbv": tape_share}
    if model is None:
        return base | {"model": "priors", "model_id": None, "training": None, "last_backtest": None}
    last = None
    if len(model.backtests):
        row = model.backtests.iloc[-1]
        last = {k: (None if pd.isna(row[k]) else (v.item() if hasattr(v := row[k], "item") else v))
                for k in model.backtests.columns}
    return base | {"model": "calibrated", "model_id": model.label,
                   "model_dir": PurePath(scenario.valuation.model).as_posix(),
                   "training": model.training, "last_backtest": last}


def load_tapes_cached(scenario: Scenario) -> Tapes:
    """Validated tapes, cached per process by (files, sizes, modification times, aliases, as_of): a study's runs
    on one worker read the tapes once. Callers must not modify the frames."""
    key = (_file_stats(scenario.input_paths()), tuple(sorted(scenario.columns.items())), scenario.as_of,
           tuple(a.id for a in scenario.amcs))
    return _cached(_TAPE_CACHE, key, lambda: load_tapes(scenario))


def prepare(scenario: Scenario, on_stage: Callable[[str], None] | None = None) -> Prepared:
    """Read, validate, pool, group and value, with the scenario's levers applied (withdrawals, coupon shift,
    house-price shock, court delay, recovery haircuts). Raises :class:`~pooling.errors.ValidationFailed` on bad
    tapes. ``Prepared.scenario`` is the effective scenario (withdrawn AMCs removed)."""
    seconds: dict[str, float] = {}

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    scenario = effective_scenario(scenario)
    t = time.perf_counter()
    stage("reading and validating tapes")
    tapes = load_tapes_cached(scenario)
    seconds["read_validate"] = time.perf_counter() - t

    t = time.perf_counter()
    stage("grouping obligors on the pooled graph")
    assets = without_withdrawn_packages(build_groups(tapes.links).assign(tapes.assets), scenario)
    seconds["group"] = time.perf_counter() - t

    t = time.perf_counter()
    stage("valuing assets")
    valued, model = value_scenario_assets(assets, scenario)
    seconds["value"] = time.perf_counter() - t
    return Prepared(scenario, valued, tapes.links, inputs_digest(scenario), seconds,
                    valuation_statement(scenario, model, valued))


def without_withdrawn_packages(assets: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """``assets`` without the packages ``levers.withdraw_packages`` holds back (AMC id → package labels, as
    :func:`pooling.consortium.packages.package_labels` labels them: the tape's ``package``, else
    ``province/collateral_type``), re-indexed from 0. The obligor groups stay those of the whole pooled graph (a
    package withdrawn does not change who is linked to whom). AMCs not in ``scenario`` (withdrawn whole) are
    ignored.

    Raises :class:`~pooling.errors.InputError` naming every package an AMC does not have, and every AMC that
    would have no package left (withdraw the AMC with ``levers.withdraw`` instead).
    """
    ids = {a.id for a in scenario.amcs}
    wanted = {(amc, str(p)) for amc, ps in scenario.levers.withdraw_packages.items() if amc in ids for p in ps}
    if not wanted:
        return assets
    amc = assets["amc_id"].astype(str)
    keys = pd.MultiIndex.from_arrays([amc.to_numpy(), package_labels(assets).to_numpy()])
    out = keys.isin(pd.MultiIndex.from_tuples(sorted(wanted)))
    have = set(keys[out])
    problems = []
    for a, p in sorted(wanted - have):
        known = sorted(set(keys[amc.to_numpy() == a].get_level_values(1)))
        problems.append(f"AMC {a} has no package {p!r} ({len(known)} packages, e.g. {', '.join(known[:3])})")
    left = set(amc[~out])
    problems += [f"AMC {a} would have no package left: withdraw the AMC (levers.withdraw) instead"
                 for a in sorted({a for a, _ in wanted} - left)]
    if problems:
        raise InputError("levers.withdraw_packages: " + "; ".join(problems))
    return assets.loc[~out].reset_index(drop=True)


#: valuation.csv's columns (``pooling value``), then the interval where the model gives one
VALUE_COLUMNS = ("amc_id", "asset_id", "gbv", "expected_recovery", "expected_months", "npv", "recovery_rate",
                 "valuation_source", "model_id")
INTERVAL_COLUMNS = ("expected_recovery_low", "expected_recovery_high")


def value_scenario(scenario: Scenario) -> tuple[pd.DataFrame, dict]:
    """Every asset of every tape valued as a run would value it (``pooling value``): read and validate the tapes,
    value (:func:`value_scenario_assets`). Returns valuation.csv's frame (:data:`VALUE_COLUMNS`, plus the 80%
    interval of a calibrated model) and the valuation statement (:func:`valuation_statement`)."""
    scenario = effective_scenario(scenario)
    tapes = load_tapes_cached(scenario)
    valued, model = value_scenario_assets(without_withdrawn_packages(tapes.assets, scenario), scenario)
    statement = valuation_statement(scenario, model, valued)
    frame = valued.assign(model_id=statement["model_id"] or "priors")
    frame.loc[frame["valuation_source"] == "tape", "model_id"] = "tape"
    columns = [*VALUE_COLUMNS, *(c for c in INTERVAL_COLUMNS if c in valued)]
    return frame[columns].reset_index(drop=True), statement


def valuation_text(statement: dict) -> str:
    """One plain sentence on what valued the assets, for the console and the reports."""
    tape = statement.get("tape_share_of_gbv", 0.0)
    kept = f"; the tapes' own values kept for {tape:.0%} of gbv (valuation.source: tape)" if tape > 0 else ""
    if statement.get("model") != "calibrated":
        return ("valued by the documented priors (no calibrated model: set valuation.model to a folder written by "
                f"`pooling calibrate`){kept}")
    t = statement["training"] or {}
    text = (f"valued by calibrated model {statement['model_id']} (trained on {t.get('n_assets', 0):,} assets valued "
            f"{t.get('from')} – {t.get('to')}, cut-off {t.get('cutoff')})")
    last = statement.get("last_backtest")
    if last:
        dev = last.get("deviation_rate")
        text += (f"; last backtest round {last.get('round')}: deviation rate "
                 + ("—" if dev is None else f"{dev:+.1%}") + f" on {int(last.get('n_resolved') or 0):,} resolved assets")
    else:
        text += "; not yet backtested"
    return text + kept


def value_scenario_assets(assets: pd.DataFrame, scenario: Scenario) -> tuple[pd.DataFrame, CalibratedModel | None]:
    """Value the assets as the scenario says — the calibrated model in ``valuation.model`` or the documented priors
    (with ``valuation.model`` overrides) — with the valuation levers applied (house-price shock, court delay,
    recovery haircuts). Returns the valued frame and the model (None for the priors)."""
    v = scenario.valuation
    before = before_valuation(assets, scenario)
    model = None
    if scenario.model_dir is not None:
        model = load_model_cached(scenario.model_dir)
        delay = scenario.levers.court_delay_months
        court = before["legal_status"].astype(str).isin(COURT_STATUSES).to_numpy()
        valued = value_with_model(
            before, model=model, as_of=scenario.as_of, discount_rate=v.discount_rate, source=v.source,
            horizon_months=v.horizon_months, delay_months=np.where(court, float(delay), 0.0),
        )
    else:
        params = lever_parameters(DEFAULT_PARAMETERS.with_overrides(v.priors), scenario)
        valued = value_assets(before, as_of=scenario.as_of, discount_rate=v.discount_rate, source=v.source,
                              horizon_months=v.horizon_months, params=params)
    return after_valuation(valued, scenario), model



# --------------------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServicerFee:
    """The servicer base fee the waterfall used (fraction of collections) and where it came from."""

    rate: float
    #: ``structure.servicer_base_fee`` (a number in the scenario, or its default) or ``servicing plan``
    source: str

    def as_dict(self) -> dict:
        return {"rate": self.rate, "source": self.source}


@dataclass(frozen=True)
class RunResult:
    """What one scenario gives: plain values, nothing written.

    ``scenario`` is the effective scenario (levers applied; ``structure.servicer_base_fee`` a number, the one the
    deal was sized with). ``pool`` is the selected (or given) assets as valued; with ``servicer_base_fee: plan``
    the deal was sized on ``with_uplift(pool, servicing)``. ``selection`` is None when the pool was given.
    ``summary`` is summary.json's content.
    """

    prepared: Prepared
    scenario: Scenario
    pool: pd.DataFrame
    selection: Selection | None
    summary: dict
    #: None only when nothing needed a fee (no sizing, no consortium) and the scenario asks for ``plan``
    fee: ServicerFee | None
    deal: Deal | None = None
    consortium: ConsortiumResult | None = None
    servicing: ServicingPlan | None = None

    @property
    def plan_applied(self) -> bool:
        """Whether the deal took the servicing plan's fee and uplift (``structure.servicer_base_fee: plan``)."""
        return self.fee is not None and self.fee.source == PLAN_FEE_SOURCE

    def metrics(self) -> dict:
        """Headline metrics as a flat dict (:data:`METRICS`, then ``share_<amc>``, ``npv_<amc>`` per AMC)."""
        data = self.summary
        p = data["pool"]
        metrics = {"status": data["status"], "objective_value": data.get("objective_value"),
                   "mip_gap": data.get("mip_gap"), "pool_gbv": p["gbv"], "pool_npv": p["npv"],
                   "pool_expected_recovery": p["expected_recovery"], "pool_n_assets": p["n_assets"],
                   "recovery_rate": p["recovery_rate"], "wa_months": p["wa_months_to_recovery"],
                   "solve_seconds": data.get("solve_seconds")}
        if self.deal is not None:  # a sized deal always has its fee, and summary.json its analytics
            a = data["structure"]
            metrics |= {k: a[k] for k in ("senior_size", "senior_share_of_gbv", "senior_share_of_expected_recovery",
                                           "senior_coverage", "senior_break_even_haircut", "sub_irr")}
            metrics["servicer_base_fee"] = self.fee.rate
        metrics = {k: metrics[k] for k in (*METRICS, "servicer_base_fee") if k in metrics}
        metrics["valuation_model"] = (data.get("valuation") or {}).get("model_id") or "priors"
        for amc, share in data["shares"]["amc"].items():
            metrics[f"share_{amc}"] = share
        for amc, npv in self.pool.groupby("amc_id")["npv"].sum().items():
            metrics[f"npv_{amc}"] = float(npv)
        return metrics


PLAN_FEE_SOURCE = "servicing plan"


def pool_of(assets: pd.DataFrame, keys: pd.DataFrame, where: str = "the pool") -> pd.DataFrame:
    """The rows of ``assets`` named by ``keys`` (amc_id, asset_id), in the order of ``keys``.

    Raises :class:`InputError` when a key is not among the assets (a pool sized with another scenario's tapes).
    """
    have = assets[["amc_id", "asset_id"]].astype(str).reset_index()
    wanted = keys[["amc_id", "asset_id"]].astype(str)
    merged = wanted.merge(have, on=["amc_id", "asset_id"], how="left", indicator=True)
    missing = merged[merged["_merge"] != "both"]
    if len(missing):
        raise InputError(f"{len(missing)} asset(s) of {where} are not in the scenario's tapes, e.g. "
                         f"{missing.iloc[0]['amc_id']}/{missing.iloc[0]['asset_id']}: size the pool with the scenario "
                         "it came from")
    if merged["index"].duplicated().any():
        raise InputError(f"{where} names an asset twice, e.g. {merged.loc[merged['index'].duplicated(), 'asset_id'].iloc[0]}")
    return assets.loc[merged["index"].astype(int).to_numpy()]


def _given_pool_summary(pool: pd.DataFrame, scenario: Scenario, inputs_sha256: str, contributed: pd.DataFrame) -> dict:
    """summary.json for a pool that was given, not selected: the pool's measures as for a selected one, no solver
    fields."""
    return {"scenario": scenario.name, "status": "given_pool", "objective": None, "objective_value": None,
            "mip_gap": None, "solve_seconds": None, **pool_measures(pool, contributed), "inputs_sha256": inputs_sha256}


def run_scenario(
    scenario: Scenario,
    *,
    prepared: Prepared | None = None,
    pool: pd.DataFrame | None = None,
    size: bool = True,
    consortium: bool = False,
    on_stage: Callable[[str], None] | None = None,
    on_solve: Callable[[dict], None] | None = None,
    on_coalition: Callable[[CoalitionValue], None] | None = None,
) -> RunResult:
    """Run one scenario: prepare → select (or take ``pool``) → servicing plan → consortium game → size.

    Parameters
    ----------
    scenario
        The scenario as read (levers not yet applied), or ignored in favour of ``prepared.scenario``.
    prepared
        The output of :func:`prepare` when the caller already has it (the CLI prepares first, to report bad tapes).
    pool
        ``amc_id, asset_id`` of a pool to size instead of selecting one (``pooling size POOL_DIR``).
    size
        Size the securities (``False`` for ``pooling optimize`` and ``pooling consortium``).
    consortium
        Run the coalition game (allocations, core, withdrawals) on the scenario's AMCs.
    on_stage, on_solve, on_coalition
        Progress callbacks: a stage name; the selection solver's progress dicts; each coalition value.

    The servicer base fee is ``structure.servicer_base_fee`` as the scenario sets it (a number, never
    overwritten), or, when it says ``plan``, the servicing plan's effective fee rate, with the plan's recovery
    uplift added to the projected collections (:func:`pooling.consortium.servicing.with_uplift`). The plan is
    computed when ``plan`` asks for it or the consortium game runs. Coalition values (measure
    ``senior_proceeds``) use the same numeric fee.

    Raises :class:`~pooling.errors.Infeasible` / :class:`~pooling.errors.NoIncumbent` when no pool is selected,
    :class:`~pooling.errors.InputError` for bad inputs.
    """

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    prepared = prepared or prepare(scenario, on_stage=on_stage)
    s = prepared.scenario
    assets = prepared.assets
    selection = None
    if pool is None:
        stage("selecting the pool")
        selection = select_pool(assets, s, on_progress=on_solve)
        chosen = assets[selection.selected]
        data = summary(pool_frame(assets, selection), selection, s, prepared.inputs_sha256, assets)
    else:
        chosen = pool_of(assets, pool)
        data = _given_pool_summary(chosen, s, prepared.inputs_sha256, assets)
    data["valuation"] = prepared.valuation

    wants_plan = s.structure.servicer_base_fee == "plan"
    plan = None
    fee = None
    if ((wants_plan and size) or consortium) and len(chosen):
        stage("planning the servicing")
        plan = plan_servicing(chosen, s)
    if wants_plan and plan is not None:
        s = with_plan_fee(s, plan)
        fee = ServicerFee(plan.effective_fee_rate, PLAN_FEE_SOURCE)
    elif not wants_plan:
        fee = ServicerFee(float(s.structure.servicer_base_fee), "structure.servicer_base_fee")
    elif size:
        raise InputError("structure.servicer_base_fee is 'plan' but the pool is empty: nothing to service")

    game = None
    if consortium:
        stage("coalition values")
        # each coalition's deal takes its own servicing plan's fee and uplift under ``plan`` (the same rule as the
        # run's deal, on its own pool and servicers): the scenario as written, not the grand plan's fee
        game = analyse(assets, prepared.scenario if wants_plan else s, on_value=on_coalition, on_stage=on_stage)

    deal = None
    if size:
        stage("sizing the securities")
        deal = size_deal(with_uplift(chosen, plan) if wants_plan else chosen, s)
        data["structure"] = analytics_json(deal) | {"servicer_base_fee": fee.as_dict() if fee else None}
    if plan is not None:
        data["servicing"] = plan.summary(applied=wants_plan)
    return RunResult(prepared, s, chosen, selection, data, fee, deal, game, plan)


def with_plan_fee(scenario: Scenario, plan: ServicingPlan) -> Scenario:
    """``structure.servicer_base_fee: plan`` resolved: the scenario with the servicing plan's effective fee rate
    (the one rule of a run's deal and of the plan an issued deal is monitored against)."""
    return with_overrides(scenario, {"structure.servicer_base_fee": plan.effective_fee_rate},
                          "structure.servicer_base_fee")


METRICS = (
    "status", "objective_value", "mip_gap", "pool_gbv", "pool_npv", "pool_expected_recovery", "pool_n_assets",
    "recovery_rate", "wa_months", "senior_size", "senior_share_of_gbv", "senior_share_of_expected_recovery",
    "senior_coverage", "senior_break_even_haircut", "sub_irr", "solve_seconds",
)


def run_pipeline(scenario: Scenario) -> dict:
    """One study run: :func:`run_scenario` (select and size), its metrics as a flat dict (``share_<amc>``,
    ``npv_<amc>`` per AMC, ``servicer_base_fee``); an infeasible or stopped selection is a status, not an error.
    Nothing is written (``write_run`` writes a run's files)."""
    try:
        result = run_scenario(scenario)
    except Infeasible as e:
        return {"status": "infeasible", "conflicting_limits": "; ".join(e.conflicts)}
    except NoIncumbent as e:
        return {"status": "no_incumbent", "error": str(e)}
    return result.metrics()


# --------------------------------------------------------------------------------------------------------------
# Files: each writer returns the paths it wrote, named as pooling.outputs declares
# --------------------------------------------------------------------------------------------------------------

def write_selection_files(out_dir: Path, result: RunResult) -> list[Path]:
    """pool.csv and limits.csv of a selected pool (:data:`~pooling.outputs.SELECTION_FILES`); under
    ``pool.objective: tail_npv`` also tail_scenarios.csv (:data:`~pooling.outputs.TAIL_FILES`: scenario, segment,
    multiplier), from which and pool.csv the pool's CVaR — summary.json's ``objective_value`` — can be recomputed."""
    if result.selection is None:
        raise ValueError("a given pool has no selection files")
    out_dir = Path(out_dir)
    pool_csv, limits_csv = SELECTION_FILES
    paths = [write_csv(pool_frame(result.prepared.assets, result.selection), out_dir / pool_csv, float_format="%.2f"),
             write_csv(limits_frame(result.selection), out_dir / limits_csv)]
    if result.selection.tail_scenarios is not None:
        paths.append(write_csv(result.selection.tail_scenarios.frame(), out_dir / TAIL_FILES[0]))
    return paths


def write_deal_files(out_dir: Path, deal: Deal) -> list[Path]:
    """:data:`~pooling.outputs.DEAL_FILES`, written by the tranching layer's own writer."""
    return check_written([Path(p) for p in write_deal(out_dir, deal)], DEAL_FILES, "write_deal")


def write_consortium_files(out_dir: Path, game: ConsortiumResult) -> list[Path]:
    """:data:`~pooling.outputs.CONSORTIUM_FILES` (core.csv and withdrawals.csv: their header when empty);
    transfers.csv realises the allocation of ``consortium.rule`` (:mod:`pooling.consortium.transfers`);
    collaboration.csv prices the national–local modes (:mod:`pooling.consortium.collaboration`); packages.csv
    values each AMC's packages in the grand deal (:mod:`pooling.consortium.packages`)."""
    out_dir = Path(out_dir)
    (allocation_csv, coalitions_csv, core_csv, withdrawals_csv, transfers_csv, collaboration_csv,
     packages_csv) = CONSORTIUM_FILES
    core = game.core if len(game.core.columns) else pd.DataFrame(
        columns=["rule", "in_core", "max_excess", "worst_coalition", "blocking_coalition"])
    withdrawals = game.withdrawals if len(game.withdrawals.columns) else pd.DataFrame(columns=["withdrawing", "grand_value", "delta_grand_value"])
    return [write_csv(game.allocation, out_dir / allocation_csv), write_csv(game.coalitions, out_dir / coalitions_csv),
            write_csv(core, out_dir / core_csv), write_csv(withdrawals, out_dir / withdrawals_csv),
            write_csv(game.transfers, out_dir / transfers_csv, float_format="%.2f"),
            write_csv(game.collaboration, out_dir / collaboration_csv),
            write_csv(game.packages, out_dir / packages_csv)]


def write_servicing_files(out_dir: Path, plan: ServicingPlan) -> list[Path]:
    """:data:`~pooling.outputs.SERVICING_FILES`: the plan's assignment rows."""
    return [write_csv(plan.assignments, Path(out_dir) / SERVICING_FILES[0])]


def write_summary(out_dir: Path, result: RunResult) -> list[Path]:
    """summary.json. For a given pool written into a folder that already holds a run's summary.json (``pooling
    size`` into a run folder), that summary keeps its selection fields and takes this run's ``structure`` and
    ``servicing``, with ``resized`` saying so; summary.json never disagrees with tranches.csv."""
    path = Path(out_dir) / SUMMARY_FILES[0]
    data = result.summary
    if result.selection is None and path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if isinstance(old, dict) and "pool" in old:
            data = {k: v for k, v in old.items() if k not in ("structure", "servicing")}
            data |= {k: result.summary[k] for k in ("structure", "servicing") if k in result.summary}
            data["resized"] = {"scenario": result.scenario.name, "inputs_sha256": result.prepared.inputs_sha256}
    return [write_json(data, path)]


def write_run(out_dir: Path, result: RunResult) -> list[Path]:
    """Write every data file of a run (atomically, one by one) and return their paths, in
    :func:`~pooling.outputs.files_written` order. The servicing plan is written when the run made one."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    if result.selection is not None:
        paths += write_selection_files(out_dir, result)
    paths += write_summary(out_dir, result)
    if result.deal is not None:
        paths += write_deal_files(out_dir, result.deal)
        paths.append(write_scenario_copy(out_dir, result.prepared.scenario))
    if result.consortium is not None:
        paths += write_consortium_files(out_dir, result.consortium)
    if result.servicing is not None:
        paths += write_servicing_files(out_dir, result.servicing)
    shape = {"selection": result.selection is not None, "deal": result.deal is not None,
             "tail": result.selection is not None and result.selection.tail_scenarios is not None,
             "consortium": result.consortium is not None, "servicing": result.servicing is not None}
    return check_written(paths, files_written(**shape), "write_run")


def write_scenario_copy(out_dir: Path, scenario: Scenario) -> Path:
    """:data:`~pooling.outputs.SCENARIO_COPY_FILES`: the scenario the deal was made with, resolved
    (:func:`pooling.scenario.scenario_copy_text`), atomically — without the keys that choose how to compute (the
    solver backend, worker counts: the same inputs give the same copy)."""
    path = Path(out_dir) / SCENARIO_COPY_FILES[0]
    text = scenario_copy_text(scenario, out_dir, exclude=_HOW_TO_COMPUTE)
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def failure_summary(error: Infeasible | NoIncumbent, prepared: Prepared) -> dict:
    """summary.json for a run whose selection failed: status, message, the conflicting limits, inputs hash."""
    return {"scenario": prepared.scenario.name, "status": "infeasible" if isinstance(error, Infeasible) else "no_incumbent",
            "message": str(error), "conflicting_limits": list(getattr(error, "conflicts", [])),
            "inputs_sha256": prepared.inputs_sha256}


# --------------------------------------------------------------------------------------------------------------
# The frontier: npv — and what the pool can issue — against diversification
# --------------------------------------------------------------------------------------------------------------

#: columns the frontier gains when each point's pool is sized (``run_frontier(..., size=True)``)
FRONTIER_DEAL_COLUMNS = ("senior_size", "senior_share_of_expected_recovery", "senior_share_of_gbv",
                         "expected_recovery", "sizing")


def run_frontier(prepared: Prepared, dimension: str, points: int = 8, measure: str = "hhi", *, size: bool = True,
                 on_point: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """The npv / diversification frontier (:func:`pooling.selection.frontier.frontier`) and, with ``size``, each
    point's pool sized as :func:`run_scenario` sizes a given pool (the scenario's structure: deterministic stresses
    or Monte Carlo), so the table shows how much more senior the consortium can sell as the pool diversifies.
    Adds :data:`FRONTIER_DEAL_COLUMNS`."""
    from pooling.selection.frontier import frontier

    s, assets = prepared.scenario, prepared.assets

    def deal_of(selected) -> dict:
        keys = assets.loc[selected, ["amc_id", "asset_id"]]
        if not len(keys):
            return {}  # an empty pool issues nothing: the row keeps NaN
        result = run_scenario(s, prepared=prepared, pool=keys, size=True)
        a = result.summary["structure"]
        return {"senior_size": a["senior_size"],
                "senior_share_of_expected_recovery": a["senior_share_of_expected_recovery"],
                "senior_share_of_gbv": a["senior_share_of_gbv"],
                "expected_recovery": float(result.pool["expected_recovery"].sum()),
                "sizing": getattr(s.structure, "sizing", "deterministic")}

    return frontier(assets, s, dimension, points, measure, on_point=on_point, measure_pool=deal_of if size else None)


# --------------------------------------------------------------------------------------------------------------
# The shelf: batch acquisition and phased issues (DESIGN §11)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShelfRun:
    """A planned shelf: the prepared batches, the plan's answer and realised issues, shelf.json's content."""

    prepared: Prepared
    result: ShelfResult
    summary: dict


def shelf_digest(plan: ShelfPlan) -> str:
    """Hash of every batch tape, the links file and the resolved plan (shelf.json ``inputs_sha256``)."""
    return _files_and_document_digest(plan.tape_scenario(), "<plan>", plan.model_dump_json(exclude={"base_dir"}))


def run_shelf(plan: ShelfPlan, on_stage: Callable[[str], None] | None = None) -> ShelfRun:
    """Plan a shelf: read, validate, group and value every batch's tape as a run does (:func:`prepare`, one tape
    per batch), attach each asset's batch and acquiring AMC, solve the planning model, re-select and size each
    issue (:func:`pooling.shelf.model.plan_shelf`). Nothing is written (:func:`write_shelf_run`).

    Raises :class:`~pooling.errors.ValidationFailed` on bad tapes, :class:`~pooling.errors.InputError` on an asset
    bought twice, :class:`~pooling.errors.Infeasible` naming the conflict when no issue can be made.
    """
    prepared = prepare(plan.tape_scenario(), on_stage=on_stage)
    assets = batch_assets(prepared.assets, plan)
    if on_stage is not None:
        on_stage("planning the shelf")
    result = plan_shelf(assets, plan)
    return ShelfRun(prepared, result, shelf_summary(result, shelf_digest(plan)))


def run_shelf_metrics(plan: ShelfPlan) -> dict:
    """One study run of a shelf plan: shelf.json's headline numbers as a flat dict; an infeasible plan is a
    status, not an error."""
    try:
        run = run_shelf(plan)
    except Infeasible as e:
        return {"status": "infeasible", "conflicting_limits": "; ".join(e.conflicts)}
    except NoIncumbent as e:
        return {"status": "no_incumbent", "error": str(e)}
    data = run.summary
    issues = issues_frame(run.result)
    tau = np.array([(pd.Timestamp(d) - pd.Timestamp(plan.as_of)).days / 365.25 for d in issues["date"]])
    gbv = issues["gbv"].to_numpy(float)
    return {k: data[k] for k in ("status", "pv", "pv_plan", "gap", "cap_used", "cap_used_share", "n_issues",
                                 "proceeds")} | {
        # gbv-weighted time of issue of the realised issues, years after as_of
        "mean_issue_years": float((tau * gbv).sum() / gbv.sum()) if gbv.sum() > 0 else None,
        "first_issue_years": float(tau.min()) if len(tau) else None}


def write_shelf_run(out_dir: Path, run: ShelfRun) -> list[Path]:
    """:data:`~pooling.outputs.SHELF_FILES` (atomically, one by one): issues.csv, assignments.csv, shelf.json."""
    out_dir = Path(out_dir)
    issues_csv, assignments_csv, shelf_json = SHELF_FILES
    paths = [write_csv(issues_frame(run.result), out_dir / issues_csv),
             write_csv(assignments_frame(run.result), out_dir / assignments_csv),
             write_json(run.summary, out_dir / shelf_json)]
    return check_written(paths, SHELF_FILES, "write_shelf_run")


# --------------------------------------------------------------------------------------------------------------
# Surveillance after issue (DESIGN §12)
# --------------------------------------------------------------------------------------------------------------

def _read_deal_csv(deal_dir: Path, name: str) -> pd.DataFrame:
    path = Path(deal_dir) / name
    if not path.is_file():
        raise InputError(f"{path} not found: DEAL_DIR must be the output folder of `pooling run` (it needs "
                         "pool.csv, tranches.csv and summary.json)")
    return read_csv(path, dtype={"amc_id": str, "asset_id": str, "obligor_id": str,
                                                          "group_id": str}, keep_default_na=False, na_values=[""])


def deal_plan_of(deal_dir: Path, scenario: Scenario, prepared: Prepared | None = None):
    """The plan of an issued deal (:class:`pooling.monitor.surveillance.DealPlan`): the pool of ``DEAL_DIR``
    (pool.csv) valued again from the scenario it was run with — whether the inputs hash as summary.json's
    ``inputs_sha256`` is recorded (``inputs_match``; the ``monitor`` section is not part of the hash) — with the servicing plan's uplift when the deal took it, tranche sizes as issued
    (tranches.csv), each asset's servicer (servicers.csv: the servicer with most of the asset's province × asset
    type cell; otherwise its AMC), and, under ``sizing: monte_carlo``, the factor scenarios' collections."""
    from pooling.monitor.surveillance import deal_plan
    from pooling.tranching.deal import factor_parameters, terms_from, tranche_names
    from pooling.tranching.montecarlo import scenario_collections

    deal_dir = Path(deal_dir)
    keys = _read_deal_csv(deal_dir, "pool.csv")
    tranches = _read_deal_csv(deal_dir, "tranches.csv")
    summary_path = deal_dir / SUMMARY_FILES[0]
    if not summary_path.is_file():
        raise InputError(f"{summary_path} not found: DEAL_DIR must be the output folder of `pooling run`")
    data = json.loads(summary_path.read_text(encoding="utf-8"))
    prepared = prepared or prepare(scenario)
    inputs_match = data.get("inputs_sha256") == prepared.inputs_sha256
    s = prepared.scenario
    pool = pool_of(prepared.assets, keys, where=f"{deal_dir / 'pool.csv'}")
    servicing = None
    if s.structure.servicer_base_fee == "plan":
        servicing = plan_servicing(pool, s)
        s = with_plan_fee(s, servicing)
        pool = with_uplift(pool, servicing)
    cells = None
    if (deal_dir / SERVICING_FILES[0]).is_file():
        cells = _read_deal_csv(deal_dir, SERVICING_FILES[0])
    elif servicing is not None:
        cells = servicing.assignments
    pool = pool.reset_index(drop=True)
    servicer = pool["amc_id"].astype(str)
    if cells is not None and {"servicer", "province", "asset_type", "gbv"} <= set(cells.columns):
        top = (cells.sort_values(["province", "asset_type", "gbv", "servicer"], ascending=[True, True, False, True])
               .drop_duplicates(["province", "asset_type"]))
        merged = pool[["province", "asset_type"]].astype(str).merge(
            top[["province", "asset_type", "servicer"]].astype(str), on=["province", "asset_type"], how="left")
        servicer = merged["servicer"].fillna(servicer).astype(str)
    pool = pool.assign(servicer=servicer.to_numpy())
    terms = terms_from(s.structure, expenses_base=float(pool["expected_recovery"].sum()))
    names = {v: k for k, v in tranche_names(s.structure.convention).items()}
    sizes = {"senior": 0.0, "mezz": 0.0, "sub": 0.0}
    for row in tranches.itertuples(index=False):
        if str(row.tranche) in names:
            sizes[names[str(row.tranche)]] = float(row.size)
    periods = None
    if s.structure.sizing == "monte_carlo":
        mcs = s.structure.monte_carlo
        periods = scenario_collections(pool, terms, n_scenarios=mcs.scenarios, seed=mcs.seed,
                                       horizon_months=s.valuation.horizon_months,
                                       discount_rate=s.valuation.discount_rate,
                                       params=factor_parameters(s.structure)).periods
    return deal_plan(pool, s, terms, sizes, periods, inputs_match=inputs_match)


def run_monitor(deal_dir: Path, scenario: Scenario, collections: list[Path], as_of=None,
                names: list[str] | None = None, prepared: Prepared | None = None):
    """Surveillance of an issued deal (``pooling monitor``, DESIGN §12): read and validate the servicer reports
    (:func:`pooling.monitor.reports.read_reports`; every problem at once as
    :class:`~pooling.errors.ValidationFailed`), then actual vs plan, triggers, watch list and re-forecast
    (:func:`pooling.monitor.surveillance.monitor`) against :func:`deal_plan_of`. Nothing is written.
    Returns (:class:`~pooling.monitor.surveillance.MonitorResult`, the plan)."""
    from pooling.monitor.reports import read_reports
    from pooling.monitor.surveillance import monitor

    plan = deal_plan_of(deal_dir, scenario, prepared)
    as_of = None if as_of is None else pd.Timestamp(as_of)
    reports = read_reports(collections, plan.pool[["amc_id", "asset_id"]], plan.closing, as_of, names)
    return monitor(plan, reports, as_of), plan


def write_monitor(out_dir: Path, result) -> list[Path]:
    """:data:`~pooling.outputs.MONITOR_FILES`, atomically, in that order."""
    from pooling.io import write_csv_fast
    from pooling.outputs import MONITOR_FILES

    out_dir = Path(out_dir)
    monitor_csv, triggers_csv, watch_csv, reforecast_csv, monitor_json = MONITOR_FILES
    paths = [write_csv(result.monitor, out_dir / monitor_csv, float_format="%.6f"),
             write_csv(result.triggers, out_dir / triggers_csv, float_format="%.6f"),
             write_csv_fast(result.watchlist, out_dir / watch_csv),  # up to one row per pool asset
             write_csv(result.reforecast, out_dir / reforecast_csv, float_format="%.2f"),
             write_json(result.summary, out_dir / monitor_json)]
    return check_written(paths, MONITOR_FILES, "write_monitor")
