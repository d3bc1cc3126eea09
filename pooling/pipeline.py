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
from pooling.scenario import Scenario
from pooling.tapes import load_tapes
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


def prepare(scenario: Scenario, on_stage: Callable[[str], None] | None = None) -> Prepared:
    """Read, validate, pool, group and value. Raises :class:`~pooling.errors.ValidationFailed` on bad tapes."""
    seconds: dict[str, float] = {}

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    t = time.perf_counter()
    stage("reading and validating tapes")
    tapes = load_tapes(scenario)
    seconds["read_validate"] = time.perf_counter() - t

    t = time.perf_counter()
    stage("grouping obligors on the pooled graph")
    assets = build_groups(tapes.links).assign(tapes.assets)
    seconds["group"] = time.perf_counter() - t

    t = time.perf_counter()
    stage("valuing assets")
    params = DEFAULT_PARAMETERS.with_overrides(scenario.valuation.model)
    valued = value_assets(
        assets,
        as_of=scenario.as_of,
        discount_rate=scenario.valuation.discount_rate,
        source=scenario.valuation.source,
        horizon_months=scenario.valuation.horizon_months,
        params=params,
    )
    seconds["value"] = time.perf_counter() - t
    return Prepared(scenario, valued, tapes.links, inputs_digest(scenario), seconds)
