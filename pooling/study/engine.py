"""Scenario studies (DESIGN §8): a base scenario, named scenarios and a sweep grid, run serially, on local
processes or on a Dask cluster, into a crash-safe SQLite results store.

A study file (YAML, validated by pydantic, unknown keys rejected)::

    name: demo-grid                         # optional; the file's stem otherwise
    base: scenario.yaml                     # relative to the study file, in its folder
    common: {solver.mip_rel_gap: 1.0e-3}    # optional: overrides for every run, base included
    scenarios:                              # name → {dotted.path: value}
      zj_withdraws: {levers.withdraw: [ZJ]}
      tight_province: {pool.limits.max_province_share: 0.20}
    sweep:                                  # Cartesian product, applied on top of base
      levers.house_price_shock.residential: [0.0, -0.2]
      levers.court_delay_months: [0, 12]
    sweep_on: [base]                        # optional: base and/or named scenarios the grid is applied to

Runs, in this order: ``base``; each named scenario; then each scenario in ``sweep_on`` (default: base only) ×
each grid point (the last path varies fastest). A grid run is named after its values, ``base:
house_price_shock.residential=-0.2, court_delay_months=12``, so its name (and id) does not change when other
values are added to the grid.

Every dotted path is checked against the scenario schema *before anything runs*, and every resolved scenario is
validated with :func:`pooling.scenario.parse_scenario`; all problems are reported at once in one
:class:`StudyError` naming the study file, the run and the path.

Each run's id is the SHA-256 (first 16 hex digits) of its resolved configuration: the validated scenario after
overrides (canonical JSON; its ``name`` is ``<base name> [<run name>]`` and ``solver.threads`` is forced to 1),
the SHA-256 of every input file it names, and the package version. Same study on any machine → same ids.

The results store ``DIR/study.sqlite`` (WAL, ``synchronous=FULL``) is written by the driver process only, one
transaction per finished run: ``runs`` (run_id primary key) and the long ``results`` table (run_id, metric,
value). A killed study, run again, skips every run already in the store. ``DIR/runs.csv`` and
``DIR/results.csv`` are (re)generated from the store with :func:`write_tables`, atomically.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import datetime as dt
import functools
import hashlib
import importlib.util
import itertools
import json
import math
import multiprocessing
import os
import socket
import sqlite3
import sys
import time
import traceback
import types
import typing
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pooling.errors import InputError, PoolingError, ScenarioError, UsageError, ValidationFailed
from pooling.io import sha256_files, write_csv
from pooling.scenario import Scenario, _format_errors, outside_problem, parse_scenario, read_yaml
from pooling.shelf.plan import ShelfPlan, parse_plan

STORE_NAME = "study.sqlite"
SCHEMA_VERSION = 1
EXECUTORS = ("serial", "process", "dask")

#: Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker it spawns (config key below). Setting it at
#: all switches off glibc's dynamic mmap threshold, so every numpy/pandas temporary above 128 KiB is mmap'd and
#: unmapped again — page faults on each allocation, which slows numpy-heavy tasks (DESIGN §8). ``None`` removes
#: the variable from the nanny's pre-spawn environment (distributed.nanny._get_env_variables drops None values),
#: so workers run with glibc's defaults, like the serial and process executors.
DASK_MALLOC_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
DASK_MALLOC_VALUE: str | None = None

#: Columns of runs.csv before the parameters and after them (metrics follow ``status``).
RUN_ID_COLUMNS = ("run_id", "scenario")
TRAILING_COLUMNS = ("error", "detail", "seconds", "cpu_seconds")


class StudyError(ScenarioError):
    """The study file is invalid; ``problems`` lists (where, value, problem) for each, all at once."""

    def __init__(self, path: str, problems: list[tuple[str, str, str]]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {key}: {problem} (got {value})" for key, value, problem in problems)
        InputError.__init__(self, f"study file {path} has {len(problems)} problem(s):\n{lines}")


# --------------------------------------------------------------------------------------------------------------
# The study file
# --------------------------------------------------------------------------------------------------------------

RunName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[^:=,\s]([^:=,]*[^:=,\s])?$")]
DottedPath = Annotated[str, Field(min_length=1, pattern=r"^[^.\s]+(\.[^.\s]+)*$")]


class StudyFile(BaseModel):
    """The study YAML document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)] | None = None
    description: str | None = None
    #: the base scenario, relative to the study file
    base: Path
    #: overrides applied to every run, base included, before the run's own (e.g. a solver gap for the study)
    common: dict[DottedPath, Any] = {}
    #: named scenarios: name → {dotted.path: value}
    scenarios: dict[RunName, dict[DottedPath, Any]] = {}
    #: the sweep grid: dotted.path → values (Cartesian product)
    sweep: dict[DottedPath, Annotated[list[Any], Field(min_length=1)]] = {}
    #: the runs the grid is applied on top of: "base" and/or named scenarios
    sweep_on: Annotated[list[str], Field(min_length=1)] = ["base"]

    @model_validator(mode="after")
    def _sweep_on(self) -> StudyFile:
        unknown = [n for n in self.sweep_on if n != "base" and n not in self.scenarios]
        if unknown:
            raise ValueError(f"sweep_on names unknown scenario(s) {unknown}; expected 'base' or one of "
                             f"{list(self.scenarios)}")
        if len(set(self.sweep_on)) != len(self.sweep_on):
            raise ValueError("sweep_on repeats a name")
        return self


@dataclass(frozen=True)
class Run:
    """One run of a study: its place, name, id, the overrides it applies and its resolved scenario."""

    position: int
    name: str
    run_id: str
    #: dotted path → value, as written in the study (a grid run: its scenario's overrides, then the grid point)
    overrides: dict[str, Any]
    #: every study parameter (dotted path) → its value in this run's resolved scenario (None when absent)
    values: dict[str, Any]
    #: the resolved scenario, JSON-able; parse_scenario(config, base_path) rebuilds it
    config: dict[str, Any]


@dataclass(frozen=True)
class Study:
    """A validated study: every run resolved and identified, nothing run yet."""

    path: Path
    name: str
    base_path: Path
    parameters: tuple[str, ...]
    amcs: tuple[str, ...]
    runs: tuple[Run, ...]
    #: the swept dotted paths, in file order
    sweep: tuple[str, ...] = ()
    description: str | None = None
    #: the base scenario's as_of (ISO date): dates the study report
    as_of: str | None = None

    def task(self, run: Run) -> tuple[str, dict[str, Any], str]:
        """What a worker needs: the run id, the resolved scenario and the path its relative paths resolve
        against — never asset frames (workers read tapes themselves, once each, via load_tapes_cached)."""
        return run.run_id, run.config, str(self.base_path)


class StudyUsageError(UsageError):
    """An executor option that cannot work (unknown executor, a scheduler without Dask, Dask not installed)."""


def check_executor(executor: str, scheduler: str | None = None) -> str:
    """The executor name (lower case) if it can run here; otherwise :class:`StudyUsageError` saying why.

    The one check of the executor options: ``pooling study`` calls it before reading the study, and
    :func:`run_study` and :func:`dask_client` for callers of the API.
    """
    name = executor.lower()
    if name not in EXECUTORS:
        raise StudyUsageError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    if scheduler and name != "dask":
        raise StudyUsageError(f"--scheduler {scheduler} needs --executor dask")
    if name == "dask" and importlib.util.find_spec("distributed") is None:
        raise StudyUsageError('--executor dask needs Dask: pip install ".[dask]" (or "amc-pooling[dask]")')
    return name


class StudyAborted(PoolingError):
    """The executor went away (a lost Dask scheduler); finished runs are kept. Exit code 75: run it again."""

    exit_code = 75


class _PathError(Exception):
    pass


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional from a type annotation; a union of one model and plain values becomes the model,
    any other union of several types stays as it is."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if _is_model(_unwrap(a))]
            if len(args) != 1 and len(models) != 1:
                return tp
            # a path below a model-or-value union (valuation.model: prior overrides or a folder) addresses the model
            tp = args[0] if len(args) == 1 else models[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _list_key(items: list[Any], part: str, where: str) -> int:
    """An item of a list of mappings by its ``id`` (or ``amc``) or by its 0-based index."""
    for i, item in enumerate(items):
        if isinstance(item, dict) and part in (str(item.get("id")), str(item.get("amc"))):
            return i
    if part.isdigit() and int(part) < len(items):
        return int(part)
    ids = [str(it.get("id", it.get("amc"))) for it in items if isinstance(it, dict)]
    raise _PathError(f"{where} has no item {part!r}; address an item by its id ({', '.join(ids) or 'none'}) "
                     f"or its index (0–{len(items) - 1})")


def _step(tp: Any, node: Any, part: str, where: str) -> tuple[Any, Any]:
    """One step down a dotted path: (the key to use in ``node``, the type below it)."""
    tp = _unwrap(tp)
    if _is_model(tp):
        fields = {k: f for k, f in tp.model_fields.items() if not f.exclude}
        if part not in fields:
            raise _PathError(f"unknown key {part!r} under {where}; expected one of: {', '.join(fields)}")
        return part, fields[part].annotation
    origin = typing.get_origin(tp)
    if origin is dict:
        _, value_type = typing.get_args(tp)
        existing = [k for k in node if str(k) == part] if isinstance(node, dict) else []
        return (existing[0] if existing else part), value_type
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(node, list) or not node:
            raise _PathError(f"{where} has no items to address with {part!r}")
        return _list_key(node, part, where), item_type
    raise _PathError(f"{where} is a single value, it has no key {part!r}")


def _container_for(tp: Any) -> Any:
    tp = _unwrap(tp)
    if _is_model(tp) or typing.get_origin(tp) is dict:
        return {}
    return None


def set_path(data: dict[str, Any], path: str, value: Any, root: type[BaseModel] = Scenario) -> None:
    """Set ``path`` (dotted) in a scenario mapping, checking every key against the scenario schema.

    Missing sections are created (``pool.limits`` when the base has none); a path that ends on a mapping replaces
    it whole. List items (``amcs``, ``consortium.servicers``) are addressed by id or 0-based index. ``root``: the
    schema the keys are checked against (:class:`~pooling.shelf.plan.ShelfPlan` for a shelf plan's study).
    Raises ``_PathError`` with a message naming the offending key.
    """
    parts = path.split(".")
    tp: Any = root
    node: Any = data
    walked: list[str] = []
    for i, part in enumerate(parts):
        where = ".".join(walked) if walked else "the scenario's top level"
        key, tp = _step(tp, node, part, where)
        walked.append(part)
        if i == len(parts) - 1:
            node[key] = copy.deepcopy(value)
            return
        child = node[key] if isinstance(node, list) else node.get(key)
        if not isinstance(child, dict | list):
            fresh = _container_for(tp)
            if fresh is None:
                raise _PathError(f"{'.'.join(walked)} is a single value, it has no key {parts[i + 1]!r}")
            node[key] = child = fresh
        node = child


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` in a scenario mapping (None when absent); list items by id or index."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict):
            matches = [k for k in node if str(k) == part]
            if not matches:
                return None
            node = node[matches[0]]
        elif isinstance(node, list):
            try:
                node = node[_list_key(node, part, "")]
            except _PathError:
                return None
        else:
            return None
    return node


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, cached by (path, size, mtime) within the process; ``missing`` if absent."""
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        _FILE_DIGESTS[key] = sha256_files([path])[0]
    return _FILE_DIGESTS[key]


@functools.cache
def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("amc-pooling")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "unknown"


def run_id_of(config: dict[str, Any], scenario: Scenario | ShelfPlan) -> str:
    """Deterministic id of a resolved run: hash of its canonical JSON, its input files' hashes (keyed by the path
    as written, :func:`pooling.pipeline.input_files`, as in ``inputs_sha256``; cached per file) and the package
    version."""
    from pooling.pipeline import input_files

    tapes = scenario.tape_scenario() if isinstance(scenario, ShelfPlan) else scenario
    files = {written: _file_digest(p) for written, p in input_files(tapes).items()}
    doc = {"scenario": config, "inputs": files, "pooling": _package_version(), "study_schema": SCHEMA_VERSION}
    return hashlib.sha256(_canonical(doc).encode()).hexdigest()[:16]


def _config_of(scenario: Scenario | ShelfPlan) -> dict[str, Any]:
    config = scenario.model_dump(mode="json", exclude={"base_dir"})
    for amc in config["acquisitions" if isinstance(scenario, ShelfPlan) else "amcs"]:  # the same id on any OS
        amc["tape"] = PurePath(amc["tape"]).as_posix()
    if config.get("links"):
        config["links"] = PurePath(config["links"]).as_posix()
    return config


def _short(paths: list[str]) -> dict[str, str]:
    """Short labels for swept paths: the last two keys (one for a two-key path); full paths if they clash."""
    def cut(p: str) -> str:
        parts = p.split(".")
        return ".".join(parts[-2:] if len(parts) >= 3 else parts[-1:])

    short = {p: cut(p) for p in paths}
    return short if len(set(short.values())) == len(short) else {p: p for p in paths}


def show_value(value: Any) -> str:
    """A parameter value as run names and tables show it: text as is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _study_problems(err: ValidationError) -> list[tuple[str, str, str]]:
    """(key, value, problem) rows as the scenario file's (:func:`pooling.scenario._format_errors`), with the study
    file's own wording for an unknown key, a bad run name and a bad dotted path."""

    def wording(e: dict[str, Any]) -> str | None:
        if e["type"] == "extra_forbidden":
            return f"unknown key; expected {', '.join(StudyFile.model_fields)}"
        if e["type"] == "string_pattern_mismatch" and e["loc"][0] == "scenarios":
            return "a scenario name may not contain ':', '=' or ',', nor start or end with a space"
        if e["type"] == "string_pattern_mismatch":
            return "a dotted path is keys joined by dots, e.g. pool.limits.max_province_share"
        return None

    return [(key, value, wording(e) or problem)
            for (key, value, problem), e in zip(_format_errors(err), err.errors(), strict=True)]


def _plan(spec: StudyFile) -> list[tuple[str, dict[str, Any], str]]:
    """(run name, overrides, where the overrides come from) for every run, in study order."""
    plan: list[tuple[str, dict[str, Any], str]] = [("base", {}, "base")]
    plan += [(name, dict(ov), f"scenarios.{name}") for name, ov in spec.scenarios.items()]
    if spec.sweep:
        paths = list(spec.sweep)
        short = _short(paths)
        for on in spec.sweep_on:
            own = {} if on == "base" else dict(spec.scenarios[on])
            for point in itertools.product(*(spec.sweep[p] for p in paths)):
                label = ", ".join(f"{short[p]}={show_value(v)}" for p, v in zip(paths, point, strict=True))
                plan.append((f"{on}: {label}", {**own, **dict(zip(paths, point, strict=True))}, "sweep"))
    return plan


def load_study(path: str | Path) -> Study:
    """Read and validate a study file and resolve every run; raise :class:`StudyError` listing every problem
    (bad keys, unknown dotted paths, invalid resolved scenarios) before anything runs."""
    path = Path(path)
    try:
        raw = read_yaml(path)
    except ScenarioError as e:
        raise StudyError(str(path), e.problems) from None
    if not isinstance(raw, dict):
        raise StudyError(str(path), [("(top level)", type(raw).__name__, "expected a mapping of keys")])
    named = raw.get("scenarios")
    reserved = [("scenarios", "'base'", "'base' is the name of the base run; give this scenario another name")] \
        if isinstance(named, dict) and "base" in named else []
    try:
        spec = StudyFile.model_validate(raw)
    except ValidationError as err:
        raise StudyError(str(path), reserved + _study_problems(err)) from None
    if reserved:
        raise StudyError(str(path), reserved)
    outside = outside_problem(path.parent, spec.base)
    if outside:
        raise StudyError(str(path), [("base", str(spec.base), outside)])
    base_path = (path.parent / spec.base).resolve()
    try:
        base_data = read_yaml(base_path)
        # the base is a scenario, or a shelf plan (docs/shelf.md): its runs go through the shelf planner
        shelf = isinstance(base_data, dict) and "shelf" in base_data
        parse, root = (parse_plan, ShelfPlan) if shelf else (parse_scenario, Scenario)
        base = parse(base_data, base_path)
    except ScenarioError as e:
        raise StudyError(str(path), [(f"base ({base_path})", v, f"{k}: {p}") for k, v, p in e.problems]) from None

    found: dict[tuple[str, str, str], list[str]] = {}  # (where, value, problem) → runs; one line for a grid

    def problem(run: str, where: str, shown: str, text: str) -> None:
        names = found.setdefault((where, shown[:80], text), [])
        if run not in names:
            names.append(run)

    runs: list[tuple[str, dict[str, Any], dict[str, Any], Scenario]] = []
    for name, overrides, origin in _plan(spec):
        data = copy.deepcopy(base_data)
        ok = True
        for dotted, value, common in [*((k, v, True) for k, v in spec.common.items()),
                              *((k, v, False) for k, v in overrides.items())]:
            try:
                set_path(data, dotted, value, root)
            except _PathError as e:
                ok = False
                if common:
                    problem("every run", f"common: {dotted}", repr(value), str(e))
                elif origin != "sweep":
                    problem(name, f"{origin}: {dotted}", repr(value), str(e))
                elif dotted in spec.sweep:  # once for the whole grid
                    on = name.split(":")[0]
                    problem(f"every grid run on {on}", f"sweep: {dotted}", repr(spec.sweep[dotted]), str(e))
                else:
                    problem(name, f"scenarios.{name.split(':')[0]}: {dotted}", repr(value), str(e))
        data["name"] = f"{base.name} [{name}]"
        if not shelf:  # (the shelf planner's solves are single-threaded already)
            if not isinstance(data.get("solver"), dict):
                data["solver"] = {}
            data["solver"]["threads"] = 1  # one HiGHS thread per process: the study is parallel across runs
        try:  # validated even when a path was wrong, so that every problem is reported at once
            scenario = parse(data, base_path)
        except ScenarioError as e:
            for key, value, text in e.problems:
                problem(name, f"{origin}: {key}", value, text)
            continue
        if ok:
            runs.append((name, overrides, _config_of(scenario), scenario))
    problems = [
        (f"{where} [run {names[0]!r}" + (f" and {len(names) - 1} more]" if len(names) > 1 else "]"), value, text)
        for (where, value, text), names in found.items()
    ]
    if problems:
        raise StudyError(str(path), problems)

    parameters = list(dict.fromkeys([p for ov in spec.scenarios.values() for p in ov] + list(spec.sweep)))
    out: list[Run] = []
    ids: dict[str, str] = {}
    for position, (name, overrides, config, scenario) in enumerate(runs):
        rid = run_id_of(config, scenario)
        if rid in ids:
            problems.append((f"run {name!r}", rid, f"resolves to the same configuration as run {ids[rid]!r}"))
        ids[rid] = name
        values = {p: get_path(config, p) for p in parameters}
        out.append(Run(position, name, rid, overrides, values, config))
    if problems:
        raise StudyError(str(path), problems)
    return Study(path=path.resolve(), name=spec.name or path.stem, base_path=base_path,
                 parameters=tuple(parameters),
                 amcs=tuple(base.amc_ids if shelf else (a.id for a in base.amcs)), runs=tuple(out),
                 sweep=tuple(spec.sweep), description=spec.description, as_of=base.as_of.isoformat())


# --------------------------------------------------------------------------------------------------------------
# One run (worker side)
# --------------------------------------------------------------------------------------------------------------

TEXT_METRICS = ("conflicting_limits", "error")


def _describe(e: BaseException) -> str:
    """A one-paragraph error: type and message; for unexpected errors the innermost frame; for bad tapes the
    first problems."""
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, ValidationFailed):
        rows = e.problems.head(5).itertuples(index=False)
        text += " " + "; ".join(f"{r.file} row {r.row} {r.column}={r.value!r}: {r.problem}" for r in rows)
    elif not isinstance(e, PoolingError):
        frames = traceback.extract_tb(e.__traceback__)
        if frames:
            f = frames[-1]
            text += f" (at {Path(f.filename).name}:{f.lineno} in {f.name})"
    return text[:4000]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return float(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def execute_run(task: tuple[str, dict[str, Any], str]) -> dict[str, Any]:
    """Run one resolved scenario through :func:`pooling.pipeline.run_pipeline` (a shelf plan through
    :func:`pooling.pipeline.run_shelf_metrics`); never raises for a failing run.

    Returns ``{run_id, status, metrics: {name: float | None}, error, detail, seconds, cpu_seconds, worker}``:
    ``status`` is the pipeline's (optimal, time_limit, infeasible, no_incumbent, …) or ``failed`` with ``error`` set.
    """
    from pooling.pipeline import run_pipeline, run_shelf_metrics

    run_id, config, base_path = task
    t0, c0 = time.perf_counter(), time.process_time()
    metrics: dict[str, float | None] = {}
    error = detail = None
    try:
        raw = (run_shelf_metrics(parse_plan(config, base_path)) if "shelf" in config
               else run_pipeline(parse_scenario(config, base_path)))
        status = str(raw.get("status", "unknown"))
        notes = []
        for key, value in raw.items():
            if key == "status":
                continue
            if key in TEXT_METRICS or isinstance(value, str):
                if value:
                    notes.append(f"{key}: {value}")
            else:
                metrics[key] = _number(value)
        detail = "; ".join(notes) or None
    except Exception as e:  # a failing run is a result, not the end of the study
        status, error = "failed", _describe(e)
    return {"run_id": run_id, "status": status, "metrics": metrics, "error": error, "detail": detail,
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "worker": f"{socket.gethostname()}:{os.getpid()}"}


def _init_worker(task: tuple[str, dict[str, Any], str] | None = None) -> None:
    """Process-pool initializer: import the pipeline and read the base tapes once, before the first run."""
    from pooling.pipeline import (
        load_tapes_cached,
        run_pipeline,  # noqa: F401  (warm import)
    )

    if task is not None:
        with contextlib.suppress(Exception):  # the runs themselves report bad tapes
            load_tapes_cached(parse_scenario(task[1], task[2]))


# --------------------------------------------------------------------------------------------------------------
# The results store
# --------------------------------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS plan (
    position INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    overrides TEXT NOT NULL, param_values TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, name TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT, detail TEXT, seconds REAL, cpu_seconds REAL, finished_at TEXT NOT NULL,
    finish_order INTEGER NOT NULL, worker TEXT);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id), metric TEXT NOT NULL, value REAL,
    UNIQUE (run_id, metric));
"""


class ResultStore:
    """The SQLite results store of one study folder. Only the driver process writes to it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=60.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # a committed run survives a power cut, not only a crash
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise InputError(f"{self.path} is a study store of schema version {row[0]}, this version of "
                                 f"pooling writes {SCHEMA_VERSION}; use another --out folder")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def finished(self) -> dict[str, str]:
        """run_id → status of every run in the store."""
        return dict(self.conn.execute("SELECT run_id, status FROM runs"))

    def set_plan(self, study: Study) -> None:
        """Record the study's runs in order (replacing an earlier plan) so the tables can be rebuilt from the
        store alone."""
        with self._transaction():
            self.conn.execute("DELETE FROM plan")
            self.conn.executemany(
                "INSERT INTO plan VALUES (?, ?, ?, ?, ?)",
                [(r.position, r.run_id, r.name, _canonical(r.overrides), _canonical(r.values)) for r in study.runs])
            meta = {"study": study.name, "study_file": str(study.path), "base": str(study.base_path),
                    "parameters": json.dumps(list(study.parameters)), "amcs": json.dumps(list(study.amcs)),
                    "sweep": json.dumps(list(study.sweep)), "description": study.description or "",
                    "as_of": study.as_of or ""}
            self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))

    def record(self, run: Run, outcome: dict[str, Any], replace_failed: bool = False) -> bool:
        """Store one finished run and its metrics in one transaction; False if it was already there."""
        finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        with self._transaction():
            if replace_failed:
                gone = self.conn.execute("DELETE FROM runs WHERE run_id=? AND status='failed'", (run.run_id,))
                if gone.rowcount:
                    self.conn.execute("DELETE FROM results WHERE run_id=?", (run.run_id,))
            order = self.conn.execute("SELECT COALESCE(MAX(finish_order), 0) + 1 FROM runs").fetchone()[0]
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.run_id, run.name, _canonical(run.overrides), outcome["status"], outcome.get("error"),
                 outcome.get("detail"), outcome.get("seconds"), outcome.get("cpu_seconds"), finished_at, order,
                 outcome.get("worker")))
            if cur.rowcount == 0:
                return False
            self.conn.executemany("INSERT INTO results VALUES (?, ?, ?)",
                                  [(run.run_id, k, v) for k, v in outcome.get("metrics", {}).items()])
        return True


def _ordered_metrics(metrics: list[str], amcs: list[str]) -> list[str]:
    from pooling.pipeline import METRICS

    have = set(metrics)
    head = [m for m in METRICS if m != "status" and m in have]
    per_amc = [f"{prefix}_{a}" for prefix in ("share", "npv") for a in amcs if f"{prefix}_{a}" in have]
    per_amc += sorted(m for m in have if m.startswith(("share_", "npv_")) and m not in per_amc)
    rest = [m for m in metrics if m not in set(head) | set(per_amc)]
    return head + per_amc + list(dict.fromkeys(rest))


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else show_value(value)


def load_results(store_path: str | Path, all_runs: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finished runs of a study store, in study order: (runs, results).

    ``runs`` is wide, as runs.csv: run_id, scenario, one column per study parameter (its dotted path, the value
    in the run's resolved scenario), status, the metrics (headline metrics first, then ``share_<amc>``,
    ``npv_<amc>``), error, detail, seconds, cpu_seconds (wall and CPU time of the run in its worker).
    ``runs.attrs`` holds ``parameters``, ``metrics``, ``study``, ``amcs``, ``overrides`` (run_id → the run's
    overrides as written in the study), ``description``, ``as_of`` and ``sweep`` (the swept paths).
    ``results`` is long: run_id, metric, value. Only runs of the study's current plan are included unless
    ``all_runs`` (then runs no longer in the study follow, in the order they finished).
    """
    path = Path(store_path)
    if not path.exists():
        raise InputError(f"{path}: no study store here (run `pooling study STUDY --out DIR` first)")
    conn = sqlite3.connect(path, timeout=60.0)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        parameters = json.loads(meta.get("parameters", "[]"))
        amcs = json.loads(meta.get("amcs", "[]"))
        join = "LEFT JOIN" if all_runs else "JOIN"
        rows = conn.execute(
            f"SELECT r.run_id, r.name, p.param_values, p.overrides, r.status, r.error, r.detail, r.seconds, r.cpu_seconds, "
            f"p.position IS NULL AS orphan "
            f"FROM runs r {join} plan p ON p.run_id = r.run_id "
            f"ORDER BY orphan, p.position, r.finish_order").fetchall()
        long = conn.execute(
            f"SELECT res.run_id, res.metric, res.value FROM results res JOIN runs r ON r.run_id = res.run_id "
            f"{join} plan p ON p.run_id = r.run_id "
            f"ORDER BY p.position IS NULL, p.position, r.finish_order, res.rowid").fetchall()
    finally:
        conn.close()
    results = pd.DataFrame(long, columns=["run_id", "metric", "value"]).astype({"value": float})
    metric_names = _ordered_metrics(list(dict.fromkeys(results["metric"])), amcs)
    wide = results.pivot(index="run_id", columns="metric", values="value") if len(results) else pd.DataFrame()
    head = pd.DataFrame(rows, columns=["run_id", "scenario", "values", "overrides", "status", *TRAILING_COLUMNS,
                                       "orphan"])
    values = [json.loads(v) if v else {} for v in head["values"]]
    params = pd.DataFrame([[_cell(v.get(p)) for p in parameters] for v in values], columns=parameters,
                          index=head.index, dtype=object)
    params = params.infer_objects()
    metrics = wide.reindex(index=head["run_id"], columns=metric_names).set_axis(head.index, axis=0)
    runs = pd.concat([head[list(RUN_ID_COLUMNS)], params, head[["status"]], metrics, head[list(TRAILING_COLUMNS)]],
                     axis=1)
    runs.attrs = {"parameters": parameters, "metrics": metric_names, "study": meta.get("study"), "amcs": amcs,
                  "overrides": {r: json.loads(o) for r, o in zip(head["run_id"], head["overrides"], strict=True) if o},
                  "description": meta.get("description") or None, "as_of": meta.get("as_of") or None}
    if "sweep" in meta:
        runs.attrs["sweep"] = json.loads(meta["sweep"])
    return runs, results


def write_tables(store_path: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """(Re)write ``out_dir/runs.csv`` and ``out_dir/results.csv`` from the store, atomically."""
    runs, results = load_results(store_path)
    out_dir = Path(out_dir)
    return write_csv(runs, out_dir / "runs.csv"), write_csv(results, out_dir / "results.csv")


# --------------------------------------------------------------------------------------------------------------
# Running a study
# --------------------------------------------------------------------------------------------------------------

@dataclass
class StudyProgress:
    """Counts for a progress display; ``last`` is the run just recorded (None at the start)."""

    total: int
    finished: int = 0
    failed: int = 0
    skipped: int = 0
    last: Run | None = None
    last_status: str | None = None

    @property
    def remaining(self) -> int:
        return self.total - self.finished


@dataclass
class StudySummary:
    """What a study invocation did."""

    study: str
    total: int
    skipped: int
    ran: int
    statuses: Counter = field(default_factory=Counter)
    store: Path | None = None
    runs_csv: Path | None = None
    results_csv: Path | None = None
    #: study.xlsx and study.html
    report: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    #: runs of the study that stand failed in the store after this invocation: this invocation's failures plus
    #: earlier failed runs it skipped (``--retry-failed`` runs them all again)
    failed_in_store: int = 0

    @property
    def failed(self) -> int:
        """Runs that failed in this invocation."""
        return self.statuses.get("failed", 0)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _run_serial(todo: list[Run], study: Study, record: Callable[[Run, dict[str, Any]], None]) -> None:
    for run in todo:
        record(run, execute_run(study.task(run)))


def _failed(run: Run, error: str) -> dict[str, Any]:
    return {"run_id": run.run_id, "status": "failed", "metrics": {}, "error": error, "seconds": None}


def _run_processes(todo: list[Run], study: Study, record: Callable[[Run, dict[str, Any]], None],
                   workers: int, fn: Callable[[tuple[str, dict[str, Any], str]], dict[str, Any]] = execute_run,
                   ) -> None:
    """A spawn-context process pool (safe with the driver's threads, same on every OS), at most 2 × workers
    runs in flight. If a worker process dies (killed, out of memory) the runs in flight are re-run one at a time
    in a fresh single process, so only the run that kills its process is recorded as failed. ``fn`` (a
    module-level function) is :func:`execute_run` except in tests."""
    ctx = multiprocessing.get_context("spawn")
    queue = list(reversed(todo))
    window = 2 * workers

    def pool(n: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                                      initargs=(study.task(todo[0]),))

    ex = pool(workers)
    inflight: dict[cf.Future, Run] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < window:
                run = queue.pop()
                inflight[ex.submit(fn, study.task(run))] = run
            done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
            broken: list[Run] = []
            for fut in done:
                run = inflight.pop(fut)
                try:
                    outcome = fut.result()
                except cf.process.BrokenProcessPool:
                    broken.append(run)
                    continue
                except Exception as e:  # e.g. a result that cannot be sent back
                    outcome = _failed(run, _describe(e))
                record(run, outcome)
            if broken:
                broken += list(inflight.values())
                inflight.clear()
                ex.shutdown(wait=True, cancel_futures=True)
                alone = pool(1)
                try:
                    for run in sorted(broken, key=lambda r: r.position):
                        try:
                            outcome = alone.submit(fn, study.task(run)).result()
                        except cf.process.BrokenProcessPool as e:
                            outcome = _failed(run, f"the worker process died while running this run ({e})")
                            alone.shutdown(wait=True)
                            alone = pool(1)
                        except Exception as e:
                            outcome = _failed(run, _describe(e))
                        record(run, outcome)
                except BaseException:  # Ctrl-C (or a failing record) mid-retry: do not wait for the run
                    alone.shutdown(wait=False, cancel_futures=True)
                    raise
                alone.shutdown(wait=True)
                ex = pool(workers)
    finally:
        ex.shutdown(wait=not inflight, cancel_futures=True)


def _worker_info() -> dict[str, str | None]:
    """Run on each Dask worker (a module function, so that it reads the worker's own environment; a bound
    ``os.environ.get`` would travel with the caller's copy): its pooling version and MALLOC_TRIM_THRESHOLD_."""
    return {"pooling": _package_version(), "malloc": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator[tuple[Any, list[str]]]:
    """A Dask client: to ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS``), else to a LocalCluster of ``workers``
    single-threaded worker processes started without the nanny's MALLOC_TRIM_THRESHOLD_ (see
    :data:`DASK_MALLOC_KEY`). Yields (client, notes)."""
    check_executor("dask", scheduler)
    import dask
    from distributed import Client, LocalCluster

    notes: list[str] = []
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    cluster = None
    if address:
        client = Client(address)
        notes.append(f"Dask scheduler {address}: {len(client.scheduler_info().get('workers', {}))} worker(s)")
        try:
            info = list(client.run(_worker_info).values())
        except Exception as e:  # workers without pooling, or with an older one already imported
            notes.append(f"the workers could not report their pooling version ({type(e).__name__}: {e}); they "
                         "need the same pooling installed as this machine (restart them after an upgrade)")
        else:
            versions = sorted({str(i["pooling"]) for i in info} - {_package_version()})
            if versions:
                notes.append(f"some workers run pooling {', '.join(versions)}, this machine "
                             f"{_package_version()}: results may differ from the run ids' version")
            trims = sorted({str(i["malloc"]) for i in info if i["malloc"] is not None})
            if trims:
                notes.append(f"the workers run with MALLOC_TRIM_THRESHOLD_={', '.join(trims)} (Dask's nanny "
                             "default), which slows numpy-heavy runs; see docs/studies.md to start them without")
    else:
        with dask.config.set({DASK_MALLOC_KEY: DASK_MALLOC_VALUE}):
            # ":0": the scheduler's HTTP server (dashboard, health) on a free port — 8787 may be taken
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
        notes.append(f"Dask LocalCluster: {workers} worker process(es), 1 thread each"
                     + (f"; dashboard {client.dashboard_link}" if importlib.util.find_spec("bokeh") else ""))
    try:
        yield client, notes
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_dask(todo: list[Run], study: Study, record: Callable[[Run, dict[str, Any]], None], client: Any) -> None:
    """Submit at most 2 × the cluster's threads at a time; results come back to the driver, which records them.
    A run whose worker keeps dying (Dask's KilledWorker after its allowed failures) is recorded as failed."""
    from distributed import KilledWorker, as_completed

    token = uuid.uuid4().hex[:8]
    window = max(2, 2 * sum(client.nthreads().values()))
    queue = list(reversed(todo))
    inflight: dict[Any, Run] = {}

    def submit(run: Run) -> Any:
        fut = client.submit(execute_run, study.task(run), key=f"pooling-run-{run.run_id}-{token}", pure=False)
        inflight[fut] = run
        return fut

    stream = as_completed([submit(queue.pop()) for _ in range(min(window, len(queue)))])
    try:
        for fut in stream:
            run = inflight.pop(fut)
            try:
                outcome = fut.result()
            except KilledWorker as e:  # the run killed its worker every time Dask tried it
                outcome = _failed(run, f"the worker process died while running this run ({_describe(e)})")
            except Exception as e:  # a lost scheduler or connection: nothing wrong with the run itself
                raise StudyAborted(f"lost the Dask cluster ({_describe(e)}); the finished runs are kept — run the "
                                   "same command again to finish the others") from e
            fut.release()
            record(run, outcome)
            if queue:
                stream.add(submit(queue.pop()))
    finally:
        for fut in inflight:
            fut.cancel()


def run_study(
    study: Study,
    out_dir: str | Path,
    executor: Literal["serial", "process", "dask"] = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: Callable[[StudyProgress], None] | None = None,
    notes: Callable[[str], None] | None = None,
    finish: Callable[[Path, Path, pd.DataFrame], list[Path]] | None = None,
) -> StudySummary:
    """Run every run of ``study`` that is not yet in ``out_dir/study.sqlite`` and write runs.csv/results.csv.

    Each finished run is committed on its own as soon as it comes back; a failing run is recorded as ``failed``
    with its error; an infeasible one is a normal result. ``retry_failed`` runs the failed ones again.
    ``progress`` is called at the start and after each recorded run; ``notes`` with lines worth printing.
    ``finish(store_path, out_dir, runs)``: called once the tables are written (also after Ctrl-C) — the CLI
    passes :func:`pooling.report.study.write_study_report` there, so study.xlsx and study.html follow; its return
    value lands in ``StudySummary.report``.
    Interrupted (Ctrl-C): the finished runs stay recorded, the tables are written, KeyboardInterrupt re-raised.
    """
    executor = check_executor(executor, scheduler)  # type: ignore[assignment]
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    store = ResultStore(out_dir / STORE_NAME)
    summary = StudySummary(study=study.name, total=len(study.runs), skipped=0, ran=0, store=store.path)

    def note(text: str) -> None:
        summary.notes.append(text)
        if notes is not None:
            notes(text)

    state = StudyProgress(total=len(study.runs))
    try:
        store.set_plan(study)
        done = store.finished()
        in_plan = {r.run_id for r in study.runs}
        todo: list[Run] = []
        for run in study.runs:
            status = done.get(run.run_id)
            if status is None or (retry_failed and status == "failed"):
                todo.append(run)
            else:
                state.finished += 1
                state.failed += status == "failed"
                state.skipped += 1
        summary.skipped = state.skipped
        extra = len(set(done) - in_plan)
        if extra:
            note(f"the store also holds {extra} run(s) that are not in this study (kept, not in runs.csv)")
        if state.skipped:
            note(f"{state.skipped} of {state.total} run(s) already in {store.path}; running the other {len(todo)}")
        if progress is not None:
            progress(state)

        def record(run: Run, outcome: dict[str, Any]) -> None:
            was_failed = done.get(run.run_id) == "failed"
            if store.record(run, outcome, replace_failed=retry_failed and was_failed):
                summary.ran += 1
                summary.statuses[outcome["status"]] += 1
                state.finished += 1
                state.failed += outcome["status"] == "failed"
            state.last, state.last_status = run, outcome["status"]
            if progress is not None:
                progress(state)

        if todo:
            n = workers or default_workers()
            if executor == "serial":
                _run_serial(todo, study, record)
            elif executor == "process":
                note(f"{n} worker process(es), 1 HiGHS thread each")
                _run_processes(todo, study, record, n)
            else:
                with dask_client(scheduler, n) as (client, lines):
                    for line in lines:
                        note(line)
                    _run_dask(todo, study, record, client)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:  # also after Ctrl-C or a lost cluster: the tables show every run finished so far
        store.close()
        propagating = sys.exc_info()[1] is not None
        try:
            runs, results = load_results(out_dir / STORE_NAME)  # read once: the tables and the report
            summary.runs_csv = write_csv(runs, out_dir / "runs.csv")
            summary.results_csv = write_csv(results, out_dir / "results.csv")
            if finish is not None:
                summary.report = finish(out_dir / STORE_NAME, out_dir, runs)
        except Exception:
            if not propagating:  # never hide the error that stopped the study behind this one
                raise
        summary.failed_in_store = state.failed
        summary.seconds = time.perf_counter() - t0
    return summary
