"""Rounds: the editable limits of a scenario, a round's changes and withdrawn packages applied, the worker that runs
rounds through :func:`pooling.pipeline.run_scenario` in a separate process, what a round keeps of its result
(pool, securities, the consortium game), and round-to-round diffs."""

from __future__ import annotations

import logging
import math
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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


def apply_changes(scenario: Scenario, changes: dict[str, float], withdrawn: dict[str, list[str]] | None = None) -> Scenario:
    """The scenario with a round's changes and its withdrawn packages (AMC id → package labels, added to the
    scenario's own ``levers.withdraw_packages``), validated (raises :class:`~pooling.errors.ScenarioError`)."""
    plain = {k: v for k, v in changes.items() if not k.startswith("amcs.")}
    if withdrawn:
        merged = {a: list(v) for a, v in scenario.levers.withdraw_packages.items()}
        for amc, packages in withdrawn.items():
            merged[amc] = sorted(set(merged.get(amc, [])) | set(packages))
        plain["levers.withdraw_packages"] = {a: v for a, v in merged.items() if v}
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
    game = result.consortium
    return {"status": data["status"], "objective_value": data.get("objective_value"), "mip_gap": data.get("mip_gap"),
            "pool": data["pool"], "amcs": amcs, "selected": selected, "cells": cells, "structure": structure,
            "binding_limits": data.get("binding_limits"), "limits": editable_limits(scenario),
            "withdrawn": {a: sorted(v) for a, v in sorted(scenario.levers.withdraw_packages.items()) if v},
            "consortium": consortium_result(game) if game is not None else None,
            "packages": _records(game.packages, PACKAGE_KEYS) if game is not None and len(game.packages) else []}


#: what a round keeps of transfers.csv, per AMC
TRANSFER_KEYS = ("transfer_price", "retained_notes_value", "servicing_value", "outside_value", "total_value", "block")
#: what a round keeps of packages.csv
PACKAGE_KEYS = ("amc_id", "package", "n_assets", "gbv", "npv", "pool_gbv", "in_pool_share", "whatif", "dual_value",
                "resolve_value", "method")
#: the surplus parts of a deal (coalitions.csv)
PART_KEYS = ("senior_proceeds", "retained_value", "servicing_value", "outside_value", "issuance_cost", "surplus")
#: allocation.csv's column of each allocation rule
RULE_COLUMNS = {"gbv": "alloc_gbv", "npv": "alloc_npv", "shapley": "shapley_value", "nucleolus": "nucleolus",
                "nash": "nash"}


def consortium_result(game) -> dict:
    """What a round keeps of the consortium game (:class:`~pooling.consortium.game.ConsortiumResult`): v(N), the
    rule, per AMC its allocation under the rule (and Shapley, standalone value) with transfers.csv's realisation
    (transfer price, retained notes value, servicing value, outside value, total value), and the deals (blocks) that
    achieve v(N) with their surplus parts (coalitions.csv), so the allocation's total can be checked from them."""
    alloc = game.allocation.set_index("amc_id")
    tr = game.transfers.set_index("amc_id")
    column = RULE_COLUMNS[game.rule]
    players = list(alloc.index)
    amcs = {}
    for amc in players:
        row = {"allocation": _num(alloc.loc[amc, column]), "shapley_value": _num(alloc.loc[amc, "shapley_value"]),
               "standalone_value": _num(alloc.loc[amc, "standalone_value"])}
        row |= {k: (str(tr.loc[amc, k]) if k == "block" else _num(tr.loc[amc, k])) for k in TRANSFER_KEYS}
        amcs[str(amc)] = row
    grand = frozenset(players)
    table = game.coalitions.set_index("coalition")
    blocks = []
    for block in sorted(game.partitions.get(grand, (grand,)), key=lambda b: sorted(b)):
        label = "+".join(sorted(block))
        parts = table.loc[label] if label in table.index else None
        blocks.append({"coalition": label, "members": sorted(block),
                       **{k: (_num(parts[k]) if parts is not None else None) for k in PART_KEYS}})
    return {"rule": game.rule, "measure": game.measure, "exact": bool(game.exact),
            "grand_value": _num(game.values.get(grand, 0.0)), "amcs": amcs, "blocks": blocks}


def _num(x) -> float | None:
    """A JSON-safe float (None for NaN/missing)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _records(frame, keys) -> list[dict]:
    """Rows of ``frame`` as JSON-safe dicts (numbers as floats/ints, NaN as None, text as text)."""
    out = []
    for row in frame[[k for k in keys if k in frame.columns]].to_dict("records"):
        out.append({k: (v if isinstance(v, str) else int(v) if k == "n_assets" else _num(v)) for k, v in row.items()})
    return out


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
    w0, w1 = before.get("withdrawn") or {}, after.get("withdrawn") or {}
    packages = {}
    for amc in sorted(set(w0) | set(w1)):
        gone = sorted(set(w1.get(amc, [])) - set(w0.get(amc, [])))
        back = sorted(set(w0.get(amc, [])) - set(w1.get(amc, [])))
        if gone or back:
            packages[amc] = {"withdrawn": gone, "added_back": back}
    out = {"pool": pool, "amcs": amcs, "limits": limits, "packages": packages}
    c0, c1 = before.get("consortium"), after.get("consortium")
    if c0 and c1:  # who gained: the change of each AMC's allocation and realisation
        out["consortium"] = {
            "grand_value": _sub(c1["grand_value"], c0["grand_value"]),
            "amcs": {amc: {k: _sub(v.get(k), c0["amcs"].get(amc, {}).get(k))
                           for k in ("allocation", "transfer_price", "retained_notes_value", "servicing_value",
                                     "total_value")}
                     for amc, v in c1["amcs"].items()}}
    return out


def _sub(a, b) -> float | None:
    return None if a is None or b is None else a - b


def run_round(scenario: Scenario, progress: Callable[[str], None]) -> dict:
    """One round through :func:`pooling.pipeline.run_scenario`: select, size and — when the scenario has a
    ``consortium`` section — the consortium game (coalition values, allocation, transfer prices, packages), with
    progress reported as stage names (``coalition values: k of n`` while the game computes them, then its later
    stages by name); what the round keeps
    (:func:`round_result`). Raises what the pipeline raises."""
    consortium = scenario.consortium is not None
    players = [a.id for a in scenario.amcs if a.id not in set(scenario.levers.withdraw)]
    exact = consortium and len(players) <= scenario.consortium.exact_shapley_max
    total = 2 ** len(players) - 1 if exact else None
    done = [0]

    def on_coalition(_value) -> None:
        done[0] += 1
        progress(f"coalition values: {done[0]}" + (f" of {total}" if total else ""))

    result = run_scenario(scenario, consortium=consortium, on_stage=progress, on_coalition=on_coalition)
    progress("recording the result")
    return round_result(result, result.scenario)


# -- the round's own process ------------------------------------------------------------------------------------
_PROGRESS = None  # the progress queue, in the worker process


def _init_process(queue) -> None:
    global _PROGRESS
    _PROGRESS = queue


def round_process(rid: int, scenario: Scenario) -> tuple[str, object]:
    """The task the round's process runs: ``("done", result)`` or ``("failed", message)``; progress goes to the
    queue the process was started with as ``(rid, stage)``. Exceptions are turned into messages here (an
    exception object need not survive the trip back between processes)."""
    def progress(stage: str) -> None:
        if _PROGRESS is not None:
            _PROGRESS.put((rid, stage))

    try:
        return "done", run_round(scenario, progress)
    except PoolingError as e:
        return "failed", str(e)
    except Exception as e:  # a bug: the round fails with its name, the server keeps serving
        log.exception("round %s failed", rid)
        return "failed", f"internal error: {type(e).__name__}: {e}"


class Worker:
    """Runs one round at a time, each in a separate worker process (one ``spawn`` process, kept between rounds so
    its caches stay warm), watched by a thread of the server: a heavy round never blocks the server, and a round
    whose process dies (killed, out of memory, crashed) is recorded as ``failed`` — the next round starts a fresh
    process. A second request while one is queued or running is refused (:meth:`submit` returns None).

    ``task`` is the function the process runs (:func:`round_process`; a module-level function, so a spawned
    process can import it)."""

    def __init__(self, store: Store, scenario_path: Path, task: Callable = round_process):
        self.store = store
        self.scenario_path = scenario_path
        self.task = task
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._queue = None

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

    def close(self) -> None:
        """Stop the worker process (a running round ends; the next server start records it as interrupted)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        progress, self._queue = self._queue, None
        if progress is not None:
            progress.close()
            progress.cancel_join_thread()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._queue is not None:  # the queue of a pool that broke
                self._queue.close()
                self._queue.cancel_join_thread()
            ctx = multiprocessing.get_context("spawn")
            self._queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_process, initargs=(self._queue,))
        return self._pool

    def _progress(self, rid: int, wait: float) -> None:
        progress = self._queue
        if progress is None:  # closed
            time.sleep(wait)
            return
        try:
            who, stage = progress.get(timeout=wait)
        except (queue.Empty, OSError, EOFError, ValueError):
            return
        if who == rid:
            self.store.set_stage(rid, stage)

    def _run(self, rid: int, scenario: Scenario) -> None:
        try:
            self.store.set_stage(rid, "starting the round's process")
            future = self._executor().submit(self.task, rid, scenario)
            processes = dict(getattr(self._pool, "_processes", None) or {})
            while not future.done():
                self._progress(rid, 0.2)
            try:
                status, payload = future.result()
            except BrokenProcessPool:
                codes = sorted({p.exitcode for p in processes.values() if p.exitcode not in (None, 0)})
                broken, self._pool = self._pool, None  # a broken pool cannot run another round: the next starts afresh
                if broken is not None:
                    broken.shutdown(wait=False, cancel_futures=True)
                status, payload = "failed", ("the round's process ended abruptly (killed, out of memory or crashed"
                                             + (f"; exit code {', '.join(map(str, codes))}" if codes else "") + ")")
            while self._queue is not None and not self._queue.empty():  # late progress of a finished round
                self._progress(-1, 0.01)
            if status == "done":
                self.store.finish_round(rid, "done", payload, None)
            else:
                self.store.finish_round(rid, "failed", None, str(payload))
        except Exception as e:  # a bug here must not leave the round running
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


