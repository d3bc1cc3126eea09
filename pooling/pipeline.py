"""The front of the pipeline: scenario → validated tapes → pooled graph → valued assets.

Later stages (selection, tranching, consortium) start from :class:`Prepared`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from pooling.graph import build_groups
from pooling.io import combined_sha256, sha256_files
from pooling.levers import after_valuation, before_valuation, effective_scenario, lever_parameters
from pooling.scenario import Scenario
from pooling.tapes import Tapes, load_tapes
from pooling.valuation import DEFAULT_PARAMETERS, value_assets


@dataclass(frozen=True)
class Prepared:
    """Valued, grouped assets of one scenario, with the links they were grouped on and stage timings."""

    scenario: Scenario
    assets: pd.DataFrame
    links: pd.DataFrame
    inputs_sha256: str
    seconds: dict[str, float] = field(default_factory=dict)


def inputs_digest(scenario: Scenario) -> str:
    """Hash of every input file's bytes plus the resolved scenario (DESIGN §3.3 ``inputs_sha256``).

    Files are keyed by their path as written in the scenario, so moving a scenario folder keeps its hash.
    """
    written = [str(a.tape) for a in scenario.amcs] + ([str(scenario.links)] if scenario.links else [])
    digests = dict(zip(written, sha256_files(scenario.input_paths()), strict=True))
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
