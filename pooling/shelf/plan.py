"""The shelf plan file (DESIGN §11): one YAML document — the shelf, its pricing windows, the acquisition batches, the
costs, the limits every issue meets on its own, and the structure each issue is sized with.

Validated by pydantic at the edge: unknown keys are rejected everywhere, every problem is reported at once with
its key and value (:class:`~pooling.errors.ScenarioError`, exit code 1), paths resolve relative to the plan file.

>>> p = ShelfPlan.model_validate({
...     "name": "x", "as_of": "2026-06-30",
...     "shelf": {"cap": 1e10, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 2},
...     "windows": [{"date": "2026-09-30", "senior_coupon": 0.0215}],
...     "acquisitions": [{"batch": "B1", "date": "2026-07-15", "amc": "NAT", "tape": "b1.csv"}]})
>>> p.shelf.min_issue_size, p.funding_cost, p.amc_ids
(0.0, 0.035, ['NAT'])
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pooling.errors import ScenarioError
from pooling.scenario import (
    IssuanceCost,
    Limits,
    ModelParameters,
    Scenario,
    Structure,
    Valuation,
    _format_errors,
    outside_problem,
    read_yaml,
)

Ident = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
Money = Annotated[float, Field(ge=0.0)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Shelf(_Strict):
    """The registered shelf: ``cap`` CNY of notes (all classes, at par) over every issue, issues priced between
    ``valid_from`` and ``valid_to`` (inclusive), at most ``max_issues`` of them, each of at least
    ``min_issue_size`` CNY of notes."""

    cap: Annotated[float, Field(gt=0.0)]
    valid_from: dt.date
    valid_to: dt.date
    max_issues: Annotated[int, Field(ge=1, le=50)]
    min_issue_size: Money = 0.0

    @model_validator(mode="after")
    def _dates(self) -> Shelf:
        if self.valid_from > self.valid_to:
            raise ValueError(f"valid_from {self.valid_from} is after valid_to {self.valid_to}")
        return self


class Window(_Strict):
    """A date an issue may price, and the senior coupon the market asks then."""

    date: dt.date
    senior_coupon: Annotated[float, Field(ge=0.0, le=0.5)]


class Acquisition(_Strict):
    """A batch of assets bought by ``amc`` on ``date``: its tape (same columns and header aliases as a loan tape,
    DESIGN §3.1). Its assets may go into an issue priced on or after ``date``."""

    batch: Ident
    date: dt.date
    amc: Ident
    tape: Path


class ShelfAMC(_Strict):
    """An AMC that acquires batches: its kind and, optionally, its own annual carrying cost (``funding_cost``;
    None: the plan's)."""

    id: Ident
    name: str | None = None
    kind: Literal["national", "local"] = "national"
    funding_cost: Rate | None = None


class ShelfPool(_Strict):
    """The limits every issue meets on its own (the scenario's ``pool.limits``, DESIGN §3.2)."""

    limits: Limits = Limits()


class Planner(_Strict):
    """How the plan is solved (docs/shelf.md).

    ``units``: ``assets`` — one column per asset and issue (binary; exact, for modest sizes); ``buckets`` —
    assets grouped by batch and the attributes the limits look at (a continuous share of each bucket per issue;
    the model stays small whatever the number of assets); ``auto`` — assets up to ``max_asset_units``, buckets
    above. ``mip_rel_gap`` and ``time_limit_s`` bound the planning MILP; ``pyomo_solver`` solves it."""

    units: Literal["auto", "assets", "buckets"] = "auto"
    max_asset_units: Annotated[int, Field(ge=1)] = 300
    mip_rel_gap: Annotated[float, Field(ge=0.0, le=1.0)] = 1e-6
    time_limit_s: Annotated[float, Field(gt=0.0)] = 60.0
    pyomo_solver: str = "appsi_highs"
    #: bucket units: at most this many obligor groups (the largest that can reach their cap) get buckets and cap
    #: rows of their own; the other groups' caps are met by the per-issue selection
    max_group_units: Annotated[int, Field(ge=0)] = 500
    #: time limit of each issue's selection MILP (the per-issue step on the canonical selection path)
    selection_time_limit_s: Annotated[float, Field(gt=0.0)] = 30.0


class ShelfPlan(_Strict):
    """A whole plan file. ``base_dir`` is the folder relative paths resolve against."""

    name: Annotated[str, Field(min_length=1)]
    as_of: dt.date
    shelf: Shelf
    windows: Annotated[list[Window], Field(min_length=1)]
    acquisitions: Annotated[list[Acquisition], Field(min_length=1)]
    amcs: list[ShelfAMC] = []
    #: annual carrying cost of assets not yet issued; also the rate proceeds and costs are discounted at
    funding_cost: Rate = 0.035
    issue_cost: IssuanceCost = IssuanceCost()
    links: Path | None = None
    columns: dict[str, str] = {}
    valuation: Valuation = Valuation()
    pool: ShelfPool = ShelfPool()
    structure: Structure = Structure()
    planner: Planner = Planner()
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> ShelfPlan:
        problems = []
        batches = [a.batch for a in self.acquisitions]
        repeated = sorted({b for b in batches if batches.count(b) > 1})
        if repeated:
            problems.append(f"acquisitions: batch names must be unique; repeated: {repeated}")
        dates = [w.date for w in self.windows]
        twice = sorted({str(d) for d in dates if dates.count(d) > 1})
        if twice:
            problems.append(f"windows: one window per date; repeated: {twice}")
        ids = [a.id for a in self.amcs]
        if len(set(ids)) < len(ids):
            problems.append(f"amcs: ids must be unique; got {ids}")
        if self.amcs:
            unknown = sorted({a.amc for a in self.acquisitions} - set(ids))
            if unknown:
                problems.append(f"acquisitions name AMC(s) {unknown} not listed under amcs")
        early = [a.batch for a in self.acquisitions if a.date < self.as_of]
        if early:
            problems.append(f"acquisitions {early} are dated before as_of {self.as_of}: value the tapes as of the "
                            "first acquisition or earlier")
        if self.shelf.min_issue_size > self.shelf.cap:
            problems.append(f"shelf.min_issue_size {self.shelf.min_issue_size:g} is above shelf.cap {self.shelf.cap:g}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def resolve(self, path: Path) -> Path:
        """A path from the plan, made absolute against the plan file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def amc_ids(self) -> list[str]:
        """The acquiring AMCs, sorted."""
        return sorted({a.amc for a in self.acquisitions})

    def amc(self, amc_id: str) -> ShelfAMC:
        """The ``amcs`` entry of an AMC (a national AMC at the plan's funding cost when not listed)."""
        return next((a for a in self.amcs if a.id == amc_id), ShelfAMC(id=amc_id))

    def carrying_cost(self, amc_id: str) -> float:
        """Annual carrying cost of an AMC's unissued assets."""
        own = self.amc(amc_id).funding_cost
        return self.funding_cost if own is None else float(own)

    def windows_sorted(self) -> list[Window]:
        """The windows in date order."""
        return sorted(self.windows, key=lambda w: w.date)

    def tape_scenario(self) -> Scenario:
        """The scenario that reads, validates, groups and values the batches' tapes: one scenario "AMC" per batch
        (its id is the batch name), so :func:`pooling.pipeline.prepare` reads every batch file as a tape."""
        # built from plain values and validated as a scenario file is (the scenario's models stay as they load)
        amcs = [{"id": a.batch, "name": f"{a.amc} {a.batch}", "kind": self.amc(a.amc).kind, "tape": a.tape}
                for a in self.acquisitions]
        return Scenario.model_validate({
            "name": self.name, "as_of": self.as_of, "amcs": amcs, "links": self.links, "columns": self.columns,
            "valuation": self.valuation.model_dump(), "structure": self.structure.model_dump(),
            "base_dir": self.base_dir})

    def issue_scenario(self, senior_coupon: float | None = None, size: dict | None = None,
                       time_limit_s: float | None = None) -> Scenario:
        """The scenario of one issue: the plan's AMCs, limits and structure (at ``senior_coupon``), size bounds
        ``size`` ({min, max} gbv), for the per-issue selection and the sizer."""
        first = {a.amc: a.tape for a in reversed(self.acquisitions)}
        amcs = [{"id": i, "name": self.amc(i).name, "kind": self.amc(i).kind, "tape": first[i]} for i in self.amc_ids]
        structure = self.structure if senior_coupon is None else self.structure.model_copy(
            update={"senior_coupon": float(senior_coupon)})
        data = {"name": self.name, "as_of": self.as_of, "amcs": amcs,
                "valuation": self.valuation.model_dump(), "structure": structure.model_dump(),
                "pool": {"limits": self.pool.limits.model_dump(), "size": size or {}},
                "solver": {"mip_rel_gap": 1e-6, "time_limit_s": time_limit_s or self.planner.selection_time_limit_s},
                "base_dir": self.base_dir}
        return Scenario.model_validate(data)


class PlanError(ScenarioError):
    """The plan file is invalid; ``problems`` lists (key, value, problem) for each (exit code 1)."""

    def __init__(self, path: str, problems: list[tuple[str, str, str]]):
        super().__init__(path, problems)
        self.args = (str(self.args[0]).replace("scenario file", "plan file", 1),)


def parse_plan(data: Any, path: str | Path = "<plan>") -> ShelfPlan:
    """Validate an already-loaded mapping; raise :class:`ScenarioError` listing every problem (key, value)."""
    path = Path(path)
    if not isinstance(data, dict):
        raise PlanError(str(path), [("(top level)", type(data).__name__, "expected a mapping of keys")])
    try:
        plan = ShelfPlan.model_validate({**data, "base_dir": path.parent.resolve()})
    except ValidationError as err:
        raise PlanError(str(path), _format_errors(err, ShelfPlan)) from None
    written = [(f"acquisitions[{i}].tape", a.tape) for i, a in enumerate(plan.acquisitions)]
    written += [("links", plan.links)] if plan.links is not None else []
    m = plan.valuation.model
    written += [("valuation.model", m)] if m is not None and not isinstance(m, ModelParameters) else []
    outside = [(key, str(value), problem) for key, value in written
               if (problem := outside_problem(plan.base_dir, value)) is not None]
    if outside:  # files named by a plan stay in its folder, as a scenario's do (docs/reliability.md)
        raise PlanError(str(path), outside)
    return plan


def load_plan(path: str | Path) -> ShelfPlan:
    """Read and validate a plan file (YAML loaded safely)."""
    try:
        data = read_yaml(path)
    except ScenarioError as e:
        raise PlanError(e.path, e.problems) from None
    return parse_plan(data, path)
