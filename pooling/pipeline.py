"""The one pipeline: scenario → validated tapes → pooled graph → valued assets → pool → securities.

:func:`prepare` is the front (read, validate, group, value); :func:`run_pipeline` runs one scenario end to end
and returns its headline metrics. Every command that runs a scenario goes through here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import pandas as pd

from pooling.errors import Infeasible, NoIncumbent
from pooling.graph import build_groups
from pooling.io import combined_sha256, sha256_files
from pooling.scenario import Scenario
from pooling.selection.model import select_pool
from pooling.selection.results import pool_frame, summary, write_selection
from pooling.tapes.load import Tapes, load_tapes
from pooling.tranching.deal import analytics_json, size_deal, write_deal
from pooling.valuation.levers import after_valuation, before_valuation, effective_scenario, lever_parameters
from pooling.valuation.model import DEFAULT_PARAMETERS, value_assets


@dataclass(frozen=True)
class Prepared:
    """Valued, grouped assets of one scenario, with the links they were grouped on and stage timings."""

    scenario: Scenario
    assets: pd.DataFrame
    links: pd.DataFrame
    inputs_sha256: str
    seconds: dict[str, float] = field(default_factory=dict)


def input_files(scenario: Scenario) -> dict[str, Path]:
    """Every input file of the scenario (tapes, then links) keyed by its path as written in the scenario, with
    ``/`` separators: the keys of :func:`inputs_digest` and of a study's run ids (the same on every OS)."""
    written = [a.tape for a in scenario.amcs] + ([scenario.links] if scenario.links else [])
    return {PurePath(w).as_posix(): p for w, p in zip(written, scenario.input_paths(), strict=True)}


def inputs_digest(scenario: Scenario) -> str:
    """Hash of every input file's bytes plus the resolved scenario (DESIGN §3.3 ``inputs_sha256``).

    Files are keyed by their path as written in the scenario (:func:`input_files`), so moving a scenario folder
    keeps its hash.
    """
    files = input_files(scenario)
    digests = dict(zip(files, sha256_files(files.values()), strict=True))
    resolved = scenario.model_dump_json(exclude={"base_dir"}).encode()
    digests["<scenario>"] = hashlib.sha256(resolved).hexdigest()
    return combined_sha256(digests)


_TAPE_CACHE: dict[tuple, Tapes] = {}


def load_tapes_cached(scenario: Scenario) -> Tapes:
    """Validated tapes, cached per process by (files, sizes, modification times, aliases, as_of): a study's runs
    on one worker read the tapes once. Callers must not modify the frames."""
    paths = scenario.input_paths()
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else (str(p), -1, -1) for p in paths)
    key = (stats, tuple(sorted(scenario.columns.items())), scenario.as_of, tuple(a.id for a in scenario.amcs))
    if key not in _TAPE_CACHE:
        if len(_TAPE_CACHE) >= 4:
            _TAPE_CACHE.pop(next(iter(_TAPE_CACHE)))
        _TAPE_CACHE[key] = load_tapes(scenario)
    return _TAPE_CACHE[key]


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
    assets = build_groups(tapes.links).assign(tapes.assets)
    seconds["group"] = time.perf_counter() - t

    t = time.perf_counter()
    stage("valuing assets")
    params = lever_parameters(DEFAULT_PARAMETERS.with_overrides(scenario.valuation.model), scenario)
    valued = value_assets(
        before_valuation(assets, scenario),
        as_of=scenario.as_of,
        discount_rate=scenario.valuation.discount_rate,
        source=scenario.valuation.source,
        horizon_months=scenario.valuation.horizon_months,
        params=params,
    )
    valued = after_valuation(valued, scenario)
    seconds["value"] = time.perf_counter() - t
    return Prepared(scenario, valued, tapes.links, inputs_digest(scenario), seconds)

METRICS = (
    "status", "objective_value", "mip_gap", "pool_gbv", "pool_npv", "pool_expected_recovery", "pool_n_assets",
    "recovery_rate", "wa_months", "senior_size", "senior_share_of_gbv", "senior_share_of_expected_recovery",
    "senior_coverage", "senior_break_even_haircut", "sub_irr", "solve_seconds",
)


def run_pipeline(scenario: Scenario, out_dir: Path | None = None) -> dict:
    """Prepare, select and size one scenario; metrics as a flat dict (``share_<amc>``, ``npv_<amc>`` per AMC)."""
    prepared = prepare(scenario)
    s = prepared.scenario
    try:
        sel = select_pool(prepared.assets, s)
    except Infeasible as e:
        return {"status": "infeasible", "conflicting_limits": "; ".join(e.conflicts)}
    except NoIncumbent as e:
        return {"status": "no_incumbent", "error": str(e)}
    assets = prepared.assets
    pool = assets[sel.selected]
    if out_dir is not None:
        data = write_selection(out_dir, assets, sel, s, prepared.inputs_sha256)
    else:
        data = summary(pool_frame(assets, sel), sel, s, prepared.inputs_sha256, assets)
    deal = size_deal(pool, s)
    if out_dir is not None:
        write_deal(out_dir, deal)
    a = analytics_json(deal)
    p = data["pool"]
    metrics = {
        "status": data["status"], "objective_value": data["objective_value"], "mip_gap": data["mip_gap"],
        "pool_gbv": p["gbv"], "pool_npv": p["npv"], "pool_expected_recovery": p["expected_recovery"],
        "pool_n_assets": p["n_assets"], "recovery_rate": p["recovery_rate"], "wa_months": p["wa_months_to_recovery"],
        "senior_size": a["senior_size"], "senior_share_of_gbv": a["senior_share_of_gbv"],
        "senior_share_of_expected_recovery": a["senior_share_of_expected_recovery"],
        "senior_coverage": a["senior_coverage"], "senior_break_even_haircut": a["senior_break_even_haircut"],
        "sub_irr": a["sub_irr"], "solve_seconds": data["solve_seconds"],
    }
    for amc, share in data["shares"]["amc"].items():
        metrics[f"share_{amc}"] = share
    for amc, npv in pool.groupby("amc_id")["npv"].sum().items():
        metrics[f"npv_{amc}"] = float(npv)
    return metrics
