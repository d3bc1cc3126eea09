"""Rounds: the editable limits of a scenario, a round's changes applied, the one background worker that runs
rounds through :func:`pooling.pipeline.run_scenario`, what a round keeps of its result, and round-to-round diffs."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pooling.errors import PoolingError
from pooling.pipeline import run_scenario
from pooling.scenario import Scenario, with_overrides
from pooling.serve.store import Store

log = logging.getLogger("pooling.serve")

#: dimensions of the pool aggregates (cells counted per AMC for small-cell suppression)
DIMENSIONS = ("province", "industry", "collateral_type", "asset_type", "legal_status")
AMC_KEYS = ("min_share", "max_share")
SIZE_KEYS = ("min", "max")
STRUCTURE_KEYS = ("senior_size", "senior_share_of_gbv", "senior_coverage", "senior_break_even_haircut", "sub_irr")


def editable_limits(scenario: Scenario) -> dict[str, float | None]:
    """The limits a round may change, by dotted key, with the scenario's values: every scalar ``pool.limits``
    key, ``pool.size.min|max`` and each AMC's ``min_share``/``max_share`` (``amcs.<id>.<key>``)."""
    limits = scenario.pool.limits.model_dump()
    out: dict[str, float | None] = {f"pool.limits.{k}": v for k, v in limits.items() if not isinstance(v, dict)}
    size = scenario.pool.size.model_dump() if scenario.pool.size is not None else {}
    out |= {f"pool.size.{k}": size.get(k) for k in SIZE_KEYS}
    for a in scenario.amcs:
        out |= {f"amcs.{a.id}.{k}": getattr(a, k) for k in AMC_KEYS}
    return out


def check_changes(scenario: Scenario, changes: dict) -> tuple[dict[str, float], list[str]]:
    """Parse ``changes`` (dotted key → number or numeric text); the parsed changes and every problem found."""
    allowed = editable_limits(scenario)
    parsed, problems = {}, []
    if not isinstance(changes, dict):
        return {}, ["changes: expected a mapping of limit → number"]
    for key, value in changes.items():
        if key not in allowed:
            problems.append(f"{key}: not a limit a round may change")
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # blank: keep the scenario's value
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(f"{key}: {value!r} is not a number")
            continue
        if number != number or number in (float("inf"), float("-inf")):
            problems.append(f"{key}: {value!r} is not a finite number")
            continue
        parsed[key] = number
    return parsed, problems


def apply_changes(scenario: Scenario, changes: dict[str, float]) -> Scenario:
    """The scenario with a round's changes, validated (raises :class:`~pooling.errors.ScenarioError`)."""
    plain = {k: v for k, v in changes.items() if not k.startswith("amcs.")}
    amc_changes = {k: v for k, v in changes.items() if k.startswith("amcs.")}
    if amc_changes:
        amcs = [a.model_dump() for a in scenario.amcs]
        for key, value in amc_changes.items():
            _, amc, field = key.split(".", 2)
            next(a for a in amcs if a["id"] == amc)[field] = value
        plain["amcs"] = amcs
    return with_overrides(scenario, plain, "the round's limits")


def round_result(result, scenario: Scenario) -> dict:
    """What a round keeps of a :class:`~pooling.pipeline.RunResult`: pool measures, per-AMC contribution and
    selected asset ids, per-cell counts by AMC (for suppression), the securities and the limits used."""
    pool, data = result.pool, result.summary
    contributed = result.prepared.assets.groupby("amc_id")["gbv"].agg(["size", "sum"])
    by_amc = pool.groupby("amc_id").agg(n_assets=("gbv", "size"), gbv=("gbv", "sum"), npv=("npv", "sum"))
    total = float(pool["gbv"].sum()) or 1.0
    amcs = {}
    for a in scenario.amcs:
        row = by_amc.loc[a.id] if a.id in by_amc.index else None
        amcs[a.id] = {"n_assets": int(row["n_assets"]) if row is not None else 0,
                      "gbv": float(row["gbv"]) if row is not None else 0.0,
                      "npv": float(row["npv"]) if row is not None else 0.0,
                      "share": (float(row["gbv"]) / total) if row is not None else 0.0,
                      "contributed_assets": int(contributed.loc[a.id, "size"]) if a.id in contributed.index else 0}
    cells = round_cells(pool)
    selected = {str(amc): sorted(map(str, ids)) for amc, ids in pool.groupby("amc_id")["asset_id"]}
    structure = {k: data.get("structure", {}).get(k) for k in STRUCTURE_KEYS}
    return {"status": data["status"], "objective_value": data.get("objective_value"), "mip_gap": data.get("mip_gap"),
            "pool": data["pool"], "amcs": amcs, "selected": selected, "cells": cells, "structure": structure,
            "binding_limits": data.get("binding_limits"), "limits": editable_limits(scenario)}


def round_cells(frame) -> dict:
    """Per dimension and category: the gbv and the number of assets of each AMC (the cells of the aggregates)."""
    cells = {}
    for dim in DIMENSIONS:
        counts = frame.groupby([dim, "amc_id"], observed=True).size().unstack(fill_value=0)
        gbv = frame.groupby(dim, observed=True)["gbv"].sum()
        cells[dim] = {str(cat): {"gbv": float(gbv[cat]), "by_amc": {str(k): int(v) for k, v in counts.loc[cat].items() if v}}
                      for cat in counts.index}
    return cells


def diff(before: dict | None, after: dict) -> dict:
    """Round-to-round changes: pool measures and, per AMC, assets/gbv/share gained and assets added/removed."""
    if before is None:
        return {}
    pool = {k: after["pool"][k] - before["pool"][k] for k in ("gbv", "npv", "expected_recovery", "n_assets")}
    s0, s1 = before.get("structure") or {}, after.get("structure") or {}
    if s0.get("senior_size") is not None and s1.get("senior_size") is not None:
        pool["senior_size"] = s1["senior_size"] - s0["senior_size"]
    amcs = {}
    for amc, a1 in after["amcs"].items():
        a0 = before["amcs"].get(amc, {"n_assets": 0, "gbv": 0.0, "share": 0.0})
        old, new = set(before["selected"].get(amc, [])), set(after["selected"].get(amc, []))
        amcs[amc] = {"n_assets": a1["n_assets"] - a0["n_assets"], "gbv": a1["gbv"] - a0["gbv"],
                     "share": a1["share"] - a0["share"], "added": len(new - old), "removed": len(old - new)}
    limits = {k: {"before": before["limits"].get(k), "after": v} for k, v in after["limits"].items()
              if before["limits"].get(k) != v}
    return {"pool": pool, "amcs": amcs, "limits": limits}


class Worker:
    """Runs one round at a time in a background thread; a second request while one is queued or running is
    refused (:meth:`submit` returns False) so rounds never interleave."""

    def __init__(self, store: Store, scenario_path: Path):
        self.store = store
        self.scenario_path = scenario_path
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """Whether a round is queued or running."""
        return self._busy.locked()

    def submit(self, rid_factory, scenario: Scenario) -> int | None:
        """Reserve the worker, record the round (``rid_factory()`` → id) and start it; None when busy."""
        if not self._busy.acquire(blocking=False):
            return None
        try:
            rid = rid_factory()
        except BaseException:
            self._busy.release()
            raise
        self._thread = threading.Thread(target=self._run, args=(rid, scenario), name=f"round-{rid}", daemon=True)
        self._thread.start()
        return rid

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current round (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, rid: int, scenario: Scenario) -> None:
        try:
            self.store.set_stage(rid, "starting")
            result = run_scenario(scenario, on_stage=lambda stage: self.store.set_stage(rid, stage))
            self.store.set_stage(rid, "recording the result")
            self.store.finish_round(rid, "done", round_result(result, result.scenario), None)
        except PoolingError as e:
            self.store.finish_round(rid, "failed", None, str(e))
        except Exception as e:  # a bug must not kill the worker or leave the round running
            log.exception("round %s failed", rid)
            self.store.finish_round(rid, "failed", None, f"internal error: {type(e).__name__}: {e}")
        finally:
            self._busy.release()


def latest_done(rounds: list[dict]) -> dict | None:
    """The newest round that finished with a result."""
    return next((r for r in reversed(rounds) if r["status"] == "done"), None)


def previous_done(rounds: list[dict], rid: int) -> dict | None:
    """The newest finished round before round ``rid``."""
    return next((r for r in reversed(rounds) if r["id"] < rid and r["status"] == "done"), None)


