"""The scenario file: one YAML document that says which tapes, which limits, which structure (DESIGN §3.2).

Validated by pydantic at the edge, unknown keys rejected everywhere, paths resolved relative to the scenario file.
Every limit is optional and an absent limit does not constrain. Shares are fractions of the *selected* pool's gbv.

>>> s = Scenario.model_validate({"name": "x", "as_of": "2026-06-30",
...                              "amcs": [{"id": "A", "kind": "national", "tape": "a.csv"}]})
>>> s.amcs[0].max_share, s.pool.limits.max_province_share
(1.0, None)
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from pooling import vocab
from pooling.errors import ScenarioError

Share = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveMoney = Annotated[float, Field(ge=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]

#: Canonical tape columns (DESIGN §3.1); the scenario's ``columns`` map may only point at these.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "asset_id",
    "obligor_id",
    "gbv",
    "principal",
    "asset_type",
    "collateral_type",
    "province",
    "industry",
    "default_date",
    "legal_status",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "collateral_value",
    "lien_rank",
    "book_value",
    "expected_recovery",
    "expected_months",
    "guarantor_ids",
    "source_loan_id",
    "obligor_name",
    "package",
)
TAPE_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: Dimensions a share cap or HHI bound can be put on.
Dimension = Literal["province", "industry", "collateral_type", "asset_type", "legal_status", "amc", "obligor_group"]


def _collateral_keys(value: dict[str, float]) -> dict[str, float]:
    """Check that a mapping is keyed by collateral types."""
    unknown = sorted(set(value) - set(vocab.COLLATERAL_TYPES))
    if unknown:
        raise ValueError(f"unknown collateral type(s) {unknown}; expected some of {list(vocab.COLLATERAL_TYPES)}")
    return value


#: default annual cost of carrying NPLs by AMC kind (``amcs[].funding_cost``): debt plus the capital they tie up. An
#: assumption, not a market figure from the reference data: about 85% debt at the AMC's borrowing cost (national AMCs
#: near their bond and ABS senior yields, 2024–25 AMC ABS seniors 1.6–2.6%, plus a spread for illiquid NPLs: ≈ 3%;
#: local AMCs, smaller and regional, ≈ 5%) and 15% equity (capital adequacy ≥ 12.5% of assets weighted at 100–150%)
#: at a 10% / 12% required return: 0.85 × 3% + 0.15 × 10% ≈ 4.5% national, 0.85 × 5% + 0.15 × 12% ≈ 6.5% local —
#: the seed report's reason for pooling is exactly this gap. Set ``funding_cost`` per AMC for a real deal.
DEFAULT_FUNDING_COST = {"national": 0.045, "local": 0.065}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AMC(_Strict):
    """One contributing asset management company and its tape."""

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    name: str | None = None
    kind: Literal["national", "local"]
    home_province: str | None = None
    tape: Path
    min_share: Share = 0.0
    max_share: Share = 1.0
    #: annual rate at which the AMC funds the assets it holds (its outside option discounts their collections at
    #: it); None: the kind's default, :data:`DEFAULT_FUNDING_COST` (an assumption: national AMCs fund near
    #: their bond yields, local AMCs pay more — the seed report's point; no market figure in the reference data)
    funding_cost: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    #: the limits of the AMC's own deal when it issues alone (a local AMC's regional pool); None: the pool's
    #: limits, without those on province for a local AMC (:meth:`standalone`)
    standalone_limits: Limits | None = None
    #: price, fraction of gbv, at which the AMC could sell its assets in a bulk transfer instead of holding them
    #: (its outside option is the larger of the two); None: no bulk sale
    bulk_sale_price: Share | None = None

    @field_validator("home_province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = vocab.province_code(value)
        if code is None:
            raise ValueError(f"unknown province {value!r}; use an ISO code (CN-ZJ), a Chinese or English name")
        return code

    @model_validator(mode="after")
    def _shares(self) -> AMC:
        if self.min_share > self.max_share:
            raise ValueError(f"min_share {self.min_share} is above max_share {self.max_share}")
        return self

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def annual_funding_cost(self) -> float:
        """``funding_cost``, or its default for the AMC's kind (:data:`DEFAULT_FUNDING_COST`)."""
        return DEFAULT_FUNDING_COST[self.kind] if self.funding_cost is None else float(self.funding_cost)

    def standalone(self, pool_limits: Limits) -> Limits:
        """The limits of the AMC's own deal: ``standalone_limits`` when given; otherwise ``pool_limits`` with, for
        a local AMC, every limit on province dropped (``max_province_share`` and the province entries of
        ``max_hhi`` / ``min_effective_number``): a local AMC's own pool is regional by construction (it works
        mainly in its home province, 2025 rules)."""
        if self.standalone_limits is not None:
            return self.standalone_limits
        if self.kind != "local":
            return pool_limits
        return pool_limits.model_copy(update={
            "max_province_share": None,
            "max_hhi": {k: v for k, v in pool_limits.max_hhi.items() if k != "province"},
            "min_effective_number": {k: v for k, v in pool_limits.min_effective_number.items() if k != "province"}})


class ModelParameters(_Strict):
    """Overrides of the recovery-curve parameter table (see :mod:`pooling.valuation.model`); each key is optional."""

    base_rate: dict[str, NonNegative] = {}
    collateral_recovery: dict[str, NonNegative] = {}
    default_coverage: dict[str, NonNegative] = {}
    max_coverage: NonNegative | None = None
    lien_factor: dict[Annotated[int, Field(ge=1)], NonNegative] = {}
    decay_secured: NonNegative | None = None
    decay_unsecured: NonNegative | None = None
    legal_factor: dict[str, NonNegative] = {}
    speed: dict[str, Annotated[float, Field(gt=0.0)]] = {}
    lag_months: dict[str, NonNegative] = {}
    region_factor: dict[str, NonNegative] = {}
    max_rate: Annotated[float, Field(gt=0.0, le=1.0)] | None = None

    @model_validator(mode="after")
    def _keys(self) -> ModelParameters:
        expected = {
            "base_rate": vocab.ASSET_TYPES,
            "collateral_recovery": vocab.COLLATERAL_TYPES,
            "default_coverage": vocab.COLLATERAL_TYPES,
            "legal_factor": vocab.LEGAL_STATUSES,
            "speed": vocab.LEGAL_STATUSES,
            "lag_months": vocab.LEGAL_STATUSES,
        }
        for field, allowed in expected.items():
            unknown = sorted(set(getattr(self, field)) - set(allowed))
            if unknown:
                raise ValueError(f"{field}: unknown key(s) {unknown}; expected some of {list(allowed)}")
        bad = [p for p in self.region_factor if vocab.province_code(p) is None]
        if bad:
            raise ValueError(f"region_factor: unknown province(s) {bad}")
        return self


class Valuation(_Strict):
    """How expected recovery and its timing are obtained (DESIGN §4).

    ``model`` is either the folder of a calibrated model (``pooling calibrate``; a path, relative to the scenario
    file) or a mapping of overrides of the documented priors (:class:`ModelParameters`). ``source`` keeps its
    meaning with both: ``tape`` lets a tape's expected_recovery / expected_months win where given, ``model``
    values every asset by the model.
    """

    discount_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.06
    source: Literal["tape", "model"] = "tape"
    horizon_months: Annotated[int, Field(ge=1, le=600)] = 120
    model: Annotated[
        Annotated[ModelParameters, Tag("priors")] | Annotated[Path, Tag("folder")],
        Discriminator(lambda v: "folder" if isinstance(v, (str, Path)) else "priors"),
    ] = ModelParameters()

    @field_validator("model", mode="before")
    @classmethod
    def _model_kind(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("model is empty: give the folder of a calibrated model or a mapping of prior overrides")
        return value

    @property
    def priors(self) -> ModelParameters:
        """Overrides of the priors (empty when a calibrated model is used)."""
        return self.model if isinstance(self.model, ModelParameters) else ModelParameters()


class SizeBounds(_Strict):
    """Bounds on the selected pool's total gbv, CNY."""

    min: PositiveMoney | None = None
    max: PositiveMoney | None = None

    @model_validator(mode="after")
    def _order(self) -> SizeBounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"size.min {self.min} is above size.max {self.max}")
        return self


class Limits(_Strict):
    """Portfolio limits; each is optional, and an absent limit does not constrain.

    Shares are fractions of the selected pool's total gbv; months are gbv-weighted months to recovery.
    """

    max_obligor_group_share: Share | None = None
    max_guarantee_circle_share: Share | None = None
    max_top10_group_share: Share | None = None
    max_province_share: Share | None = None
    max_industry_share: Share | None = None
    max_collateral_share: Share | None = None
    max_asset_type_share: Share | None = None
    max_legal_status_share: Share | None = None
    min_secured_share: Share | None = None
    min_wa_recovery_rate: Share | None = None
    max_wa_months_to_recovery: Annotated[float, Field(gt=0.0)] | None = None
    max_hhi: dict[Dimension, Share] = {}
    min_effective_number: dict[Dimension, Annotated[float, Field(ge=1.0)]] = {}


class Tail(_Strict):
    """The factor scenarios of ``pool.objective: tail_npv`` (docs/formulation.md, "Tail objective"): the pool's
    CVaR at ``alpha`` — its mean npv over the worst (1 − alpha) share of ``scenarios`` factor draws (seed ``seed``)."""

    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    scenarios: Annotated[int, Field(ge=1)] = 1000
    seed: Annotated[int, Field(ge=0)] = 7


class Pool(_Strict):
    """The pool-selection problem (DESIGN §5)."""

    #: tail_npv: the CVaR_alpha of the pool's npv over the factor scenarios of ``tail`` (linear, Rockafellar–Uryasev)
    objective: Literal["npv", "stressed_npv", "tail_npv"] = "npv"
    #: stressed_npv = npv · (1 − stress_haircut) · (1 + r)^(−stress_delay_months/12): a haircut and a delay of the whole curve
    stress_haircut: Share = 0.25
    stress_delay_months: Annotated[float, Field(ge=0.0, le=120.0)] = 12.0
    whole_groups: bool = False
    size: SizeBounds = SizeBounds()
    limits: Limits = Limits()
    tail: Tail = Tail()


class StressSpec(_Strict):
    """A rating-level stress: recovery haircut, optional per-collateral-type haircuts, timing delay."""

    haircut: Share
    delay_months: Annotated[int, Field(ge=0, le=120)] = 0
    collateral_haircut: dict[str, Share] = {}

    _types = field_validator("collateral_haircut")(classmethod(lambda cls, v: _collateral_keys(v)))


class Mezzanine(_Strict):
    """An optional mezzanine (China) or class B (Europe) tranche."""

    rating: str = "A"
    coupon: Annotated[float, Field(ge=0.0, le=0.5)] = 0.045


class Factors(_Strict):
    """Overrides of the factor model's parameter table (:class:`pooling.valuation.factors.FactorParameters`).

    Absent keys keep the calibrated defaults; the per-asset-type tables are merged key by key (docs/tranching.md).
    """

    loading_national: NonNegative | None = None
    loading_province: NonNegative | None = None
    loading_collateral: NonNegative | None = None
    loading_industry: NonNegative | None = None
    class_volatility: dict[str, Annotated[float, Field(ge=0.0, le=3.0)]] = {}
    idiosyncratic_volatility: dict[str, Annotated[float, Field(ge=0.0, le=5.0)]] = {}
    timing_national: NonNegative | None = None
    timing_court: NonNegative | None = None
    delay_months: dict[str, Annotated[float, Field(ge=0.0, le=60.0)]] = {}
    max_delay_months: Annotated[int, Field(ge=0, le=120)] | None = None

    @field_validator("class_volatility", "idiosyncratic_volatility", "delay_months")
    @classmethod
    def _asset_types(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k in v if k not in vocab.ASSET_TYPES]
        if bad:
            raise ValueError(f"unknown asset_type(s) {bad}; expected one of {list(vocab.ASSET_TYPES)}")
        return v

    def overrides(self) -> dict[str, Any]:
        """The keys set, as keyword arguments of ``FactorParameters.replace``."""
        return {k: v for k, v in self.model_dump().items() if v not in (None, {})}


class MonteCarlo(_Strict):
    """Monte Carlo sizing (``structure.sizing: monte_carlo``, docs/tranching.md "Rating criterion")."""

    scenarios: Annotated[int, Field(ge=100, le=1_000_000)] = 10_000
    seed: int = 11
    #: rating → share of scenarios in which the tranche must be repaid in full (merged into the defaults)
    targets: dict[str, Annotated[float, Field(gt=0.0, lt=1.0)]] = {}
    #: deterministic: the senior must also pass its deterministic rating stress (the smaller size wins)
    floor: Literal["deterministic", "none"] = "none"
    factors: Factors = Factors()


class Structure(_Strict):
    """The securities (DESIGN §6). Fee and reserve defaults follow reference/market-data.md (docs/tranching.md)."""

    convention: Literal["china", "europe"] = "china"
    payment_frequency: Literal["monthly", "quarterly", "semiannual"] = "semiannual"
    legal_maturity_years: Annotated[float, Field(gt=0.0, le=30.0)] = 5.0
    senior_coupon: Annotated[float, Field(ge=0.0, le=0.5)] = 0.025
    senior_rating: str = "AAA"
    mezzanine: Mezzanine | None = None
    sub_share_of_notes: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.30
    sub_issue_price: Annotated[float, Field(gt=0.0, le=3.0)] = 1.08
    sub_fixed_return: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05
    tax_rate: Share = 0.0326
    expenses_rate: Share = 0.0005
    expenses_cap: PositiveMoney = 3.0e6
    #: a fraction of collections, or ``plan``: the servicing plan's effective fee rate (fees / collections), with
    #: the plan's home-province recovery uplift added to the projected collections (docs/scenario.md)
    servicer_base_fee: Share | Literal["plan"] = 0.05
    servicer_incentive_share: Share = 0.20
    reserve_multiple: Annotated[float, Field(ge=0.0, le=10.0)] = 1.5
    cash_reserve_share: Share = 0.04
    retention: Literal["vertical", "junior"] = "vertical"
    retention_share: Share = 0.05
    size_unit: Annotated[float, Field(gt=0.0)] = 1.0e4
    trigger_ccr: Share = 0.90
    trigger_fee_share: Share = 0.20
    #: ``pooling monitor``: NPV profitability of the closed positions (PV of their collections / their npv at issue)
    #: below which the trigger is breached (GACS-style deals: 90%)
    trigger_npv_profitability: Annotated[float, Field(ge=0.0, le=2.0)] = 0.90
    #: ``pooling monitor``: senior interest cover (period collections after taxes and senior fees / senior interest
    #: due) below which the trigger is breached (1.0: the reserve had to be drawn for interest)
    trigger_interest_cover: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    stresses: dict[str, StressSpec] = {}
    #: deterministic: the rating stresses above; monte_carlo: the factor scenarios against the rating's target share
    sizing: Literal["deterministic", "monte_carlo"] = "deterministic"
    monte_carlo: MonteCarlo = MonteCarlo()

class Monitoring(_Strict):
    """Surveillance after issue (``pooling monitor``, DESIGN §12): watch-list rules and the re-forecast's
    credibility weight (docs/monitor.md)."""

    #: an asset (or obligor group) is watched when it collected less than this share of its plan to date
    watch_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.8
    #: "no collection since N months" is a reason once N reaches this
    silent_months: Annotated[float, Field(gt=0.0, le=120.0)] = 6.0
    #: a court stage (litigation … enforcement) with no reported progress for this long since closing is "stalled"
    stalled_months: Annotated[float, Field(gt=0.0, le=120.0)] = 12.0
    #: re-forecast: a segment's actual-to-plan ratio is shrunk toward the pool's with this share of the pool's plan
    #: to date as prior weight (0: each segment's own ratio)
    credibility: Annotated[float, Field(ge=0.0, le=10.0)] = 0.001


class Servicer(_Strict):
    """A servicer (usually one of the AMCs) with its fee, capacity and home-province recovery uplift."""

    amc: str
    fee_rate: Share = 0.08
    capacity_gbv: PositiveMoney | None = None
    home_uplift: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


class IssuanceCost(_Strict):
    """Cost of issuing one deal: ``fixed`` CNY plus ``rate`` × the notes issued (all classes, at par).

    Defaults are an assumption (no market figure in the reference data): underwriting, rating, legal, trustee and
    registration fees of a Chinese NPL ABS of a few billion CNY, a few million CNY fixed and about 0.2% of the
    notes. A fixed cost is shared by a consortium: the scale economy of pooling."""

    fixed: PositiveMoney = 3.0e6
    rate: Annotated[float, Field(ge=0.0, le=0.2)] = 0.002


class Collaboration(_Strict):
    """Terms of the national–local collaboration modes (collaboration.csv, :mod:`pooling.consortium.collaboration`):
    work-out costs as shares of collections and the recovery uplift a national AMC brings as entrusted servicer.
    Defaults are assumptions (bank tenders 5–24% of collections, work-out success fees 5–15%)."""

    national_cost: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.06
    local_cost: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.10
    entrusted_uplift: Annotated[float, Field(gt=-1.0, le=1.0)] = 0.0


class Consortium(_Strict):
    """Consortium economics (DESIGN §7)."""

    allocation_rules: list[Literal["gbv", "npv", "shapley", "nucleolus"]] = ["gbv", "npv", "shapley", "nucleolus"]
    #: the allocation transfers.csv realises
    rule: Literal["gbv", "npv", "shapley", "nucleolus"] = "nucleolus"
    issuance_cost: IssuanceCost = IssuanceCost()
    #: Nash bargaining against the threat points (each AMC's standalone value), reported as ``nash``
    nash: bool = False
    #: national–local collaboration modes priced side by side (acquisition vs entrusted disposal)
    collaboration: Collaboration = Collaboration()
    #: v(S)'s size bounds: proportional (× S's share of contributed gbv), same, or none
    size_rule: Literal["proportional", "same", "none"] = "proportional"
    #: v(S): the securitisation surplus of S's best deal (DESIGN §7), or the older measures: the pool's npv, the
    #: senior sized on S's pool
    measure: Literal["surplus", "npv", "senior_proceeds"] = "surplus"
    exact_shapley_max: Annotated[int, Field(ge=1, le=16)] = 12
    shapley_samples: Annotated[int, Field(ge=2)] = 200
    workers: Annotated[int, Field(ge=1)] | None = None
    #: each coalition's selection is capped at this many seconds (its MILP stages at a third of it, sized to that:
    #: docs/consortium.md); a coalition whose pool is not found in this time is recorded as no_incumbent and worth 0
    coalition_time_limit_s: Annotated[float, Field(gt=0.0)] = 5.0
    #: packages.csv: per AMC, re-solve this many of its top package withdrawals (and as many adds) after the dual
    #: estimate of every package (0: the dual estimate only)
    package_resolves: Annotated[int, Field(ge=0)] = 3
    #: servicers; when empty every AMC services at the default fee, locals with a home-province uplift
    servicers: list[Servicer] = []
    whole_groups_servicing: bool = False

class Solver(_Strict):
    """Solver options passed to the backend."""

    backend: Literal["highs", "pyomo"] = "highs"
    pyomo_solver: str = "appsi_highs"
    mip_rel_gap: Annotated[float, Field(ge=0.0, le=1.0)] = 1e-4
    time_limit_s: Annotated[float, Field(gt=0.0)] = 600.0
    threads: Annotated[int, Field(ge=1)] = 1
    #: milp: the whole MILP; lp_round: LP relaxation, fix the integral assets, repair MILP on the rest (certified
    #: gap against the LP bound); core: lp_round with the LP relaxation solved by the core method
    #: (pooling/selection/core.py); auto: core from ``large_pool_units`` assets (or groups), else lp_round, then —
    #: when its certified gap is above mip_rel_gap — the whole MILP warm-started from it.
    strategy: Literal["auto", "milp", "lp_round", "core"] = "auto"
    large_pool_units: Annotated[int, Field(ge=1)] = 100_000
    #: core method: units in the random sample whose LP estimates the row duals
    core_sample_units: Annotated[int, Field(ge=1)] = 50_000
    #: core method: units left free in the first core LP (those nearest the reduced-cost threshold)
    core_min_units: Annotated[int, Field(ge=1)] = 20_000
    #: at most this long for auto's warm-started MILP polish (the lp_round pool and its certified gap stand if
    #: the polish finds nothing better in time), and for each lp_round repair MILP
    polish_time_limit_s: Annotated[float, Field(gt=0.0)] = 30.0


class RecoveryHaircut(_Strict):
    """Recovery haircuts (fractions) by province and by asset type; they multiply."""

    province: dict[str, Share] = {}
    asset_type: dict[str, Share] = {}

    @model_validator(mode="after")
    def _keys(self) -> RecoveryHaircut:
        bad = [p for p in self.province if vocab.province_code(p) is None]
        if bad:
            raise ValueError(f"unknown province(s) {bad}")
        unknown = sorted(set(self.asset_type) - set(vocab.ASSET_TYPES))
        if unknown:
            raise ValueError(f"unknown asset type(s) {unknown}; expected some of {list(vocab.ASSET_TYPES)}")
        return self


class Levers(_Strict):
    """Stress levers a scenario (or a study) can pull by name; see docs/studies.md."""

    #: collateral type → change of collateral value (−0.2 = house prices down 20%)
    house_price_shock: dict[str, Annotated[float, Field(ge=-1.0, le=5.0)]] = {}
    #: extra months before collections start for assets whose recovery runs through the courts
    court_delay_months: Annotated[float, Field(ge=0.0, le=120.0)] = 0.0
    recovery_haircut: RecoveryHaircut = RecoveryHaircut()
    #: added to the senior coupon (0.005 = +50 bp)
    coupon_shift: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    #: AMCs that withdraw from the consortium
    withdraw: list[str] = []
    #: AMC id → packages (资产包, the tape's ``package`` or province/collateral_type) it holds back from the pool;
    #: left out of dumps while empty, so a scenario without it keeps its digests (inputs_sha256, study run ids)
    withdraw_packages: dict[str, list[str]] = Field(default={}, exclude_if=lambda v: not v)

    _types = field_validator("house_price_shock")(classmethod(lambda cls, v: _collateral_keys(v)))


class Scenario(_Strict):
    """A whole scenario file. ``base_dir`` is the folder relative paths resolve against."""

    name: Annotated[str, Field(min_length=1)]
    as_of: dt.date
    amcs: Annotated[list[AMC], Field(min_length=1)]
    links: Path | None = None
    columns: dict[str, str] = {}
    valuation: Valuation = Valuation()
    pool: Pool = Pool()
    structure: Structure = Structure()
    consortium: Consortium | None = None
    solver: Solver = Solver()
    levers: Levers = Levers()
    monitor: Monitoring = Monitoring()
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("columns")
    @classmethod
    def _aliases(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted({v for v in value.values() if v not in TAPE_COLUMNS})
        if unknown:
            raise ValueError(f"columns map to unknown canonical name(s) {unknown}; expected one of {list(TAPE_COLUMNS)}")
        return value

    @model_validator(mode="after")
    def _amcs(self) -> Scenario:
        unknown = sorted(set(self.levers.withdraw) - {a.id for a in self.amcs})
        if unknown:
            raise ValueError(f"levers.withdraw names unknown AMC(s) {unknown}")
        if len(set(self.levers.withdraw)) >= len(self.amcs):
            raise ValueError("levers.withdraw removes every AMC")
        unknown = sorted(set(self.levers.withdraw_packages) - {a.id for a in self.amcs})
        if unknown:
            raise ValueError(f"levers.withdraw_packages names unknown AMC(s) {unknown}")
        if self.consortium is not None:
            unknown = sorted({sv.amc for sv in self.consortium.servicers} - {a.id for a in self.amcs})
            if unknown:
                raise ValueError(f"consortium.servicers name unknown AMC(s) {unknown}")
        ids = [a.id for a in self.amcs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"amc ids must be unique; repeated: {dupes}")
        if sum(a.min_share for a in self.amcs) > 1.0 + 1e-12:
            raise ValueError("the amcs' min_share values add up to more than 1")
        return self

    def resolve(self, path: Path) -> Path:
        """A path from the scenario, made absolute against the scenario file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)

    def tape_path(self, amc: AMC) -> Path:
        return self.resolve(amc.tape)

    @property
    def links_path(self) -> Path | None:
        return None if self.links is None else self.resolve(self.links)

    @property
    def model_dir(self) -> Path | None:
        """The calibrated model's folder (``valuation.model`` given as a path), or None when the priors value."""
        m = self.valuation.model
        return None if isinstance(m, ModelParameters) else self.resolve(m)

    def input_paths(self) -> list[Path]:
        """Every input file the scenario names (tapes, then links)."""
        paths = [self.tape_path(a) for a in self.amcs]
        return paths + ([self.links_path] if self.links_path is not None else [])


# AMC names Limits before it is defined: resolve the reference now, so that every walk of the schema (the study's
# parameter paths, the nearest-key hints, the docs test) sees amcs[].standalone_limits as the Limits model, in
# every process and whatever ran before (FastAPI's schema building used to resolve it only in some)
AMC.model_rebuild()


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (through ``X | None``, ``list[X]``, ``Annotated[X, ...]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is dict:
        return None  # mapping keys are data (provinces, collateral types), not schema keys
    if origin in (list, typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _valid_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed beside the last element of ``loc`` (an error location under ``model``)."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # a list index: still the list's element model
        field = model.model_fields.get(str(part))
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return []
        model = inner
    return [name for name, f in model.model_fields.items() if not f.exclude]


def nearest_key(loc: tuple, model: type[BaseModel] | None = None) -> str | None:
    """The valid key closest to a misspelt one at ``loc`` (difflib), e.g. ``("pool", "limitz")`` → ``limits``.

    >>> nearest_key(("pool", "limits", "max_provnce_share"))
    'max_province_share'
    """
    close = difflib.get_close_matches(str(loc[-1]), _valid_keys(model or Scenario, loc), n=1, cutoff=0.6)
    return close[0] if close else None


#: tags of the tagged unions above (valuation.model: a folder or a mapping of prior overrides)
_UNION_TAGS = frozenset({"priors", "folder"})


def _format_errors(err: ValidationError, model: type[BaseModel] | None = None) -> list[tuple[str, str, str]]:
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in _UNION_TAGS)  # the tag of a tagged union is not a key
        key = ".".join(str(p) for p in loc if p != "[key]") or "(top level)"
        if e["type"] == "extra_forbidden":
            near = nearest_key(loc, model)
            problem = (f"unknown key; did you mean {near!r}?" if near else
                       "unknown key; check its spelling against docs/scenario.md")
        else:
            problem = e["msg"]
        value = e.get("input")
        text = repr(value) if not isinstance(value, dict) else "a mapping"
        problems.append((key, text[:80], problem))
    return problems


def parse_scenario(data: Any, path: str | Path = "<scenario>", base_dir: str | Path | None = None) -> Scenario:
    """Validate an already-loaded mapping; raise :class:`ScenarioError` listing every problem. Relative paths
    resolve against ``base_dir`` (default: the folder of ``path``)."""
    path = Path(path)
    if not isinstance(data, dict):
        raise ScenarioError(str(path), [("(top level)", type(data).__name__, "expected a mapping of keys")])
    try:
        base = Path(base_dir if base_dir is not None else path.parent).resolve()
        scenario = Scenario.model_validate({**data, "base_dir": base})
    except ValidationError as err:
        raise ScenarioError(str(path), _format_errors(err)) from None
    outside = [] if ALLOW_OUTSIDE else _outside(scenario)
    if outside:
        raise ScenarioError(str(path), outside)
    return scenario


#: Whether files named in scenario, study and plan files may lie outside the file's folder (`--allow-outside`).
ALLOW_OUTSIDE = False


def outside_problem(folder: Path, written: str | Path) -> str | None:
    """Why ``written`` (a path as a scenario, study or plan file gives it) is refused: absolute, or leading out
    of ``folder`` by ``..`` or through a symlink; None when it stays inside (or ``--allow-outside`` was given)."""
    if ALLOW_OUTSIDE:
        return None
    written = Path(written)
    if written.is_absolute():
        return ("an absolute path: files must lie in this file's folder or below it (or run with "
                "`pooling --allow-outside ...`)")
    root = Path(folder).resolve()
    target = (root / written).resolve()  # follows symlinks: one pointing out of the folder leads out
    if target != root and root not in target.parents:
        how = "through a symlink" if ".." not in written.parts else "with '..'"
        return (f"leads out of {root} {how}: files must lie in this file's folder or below it (or run with "
                "`pooling --allow-outside ...`)")
    return None


def _outside(scenario: Scenario) -> list[tuple[str, str, str]]:
    written = [(f"amcs[{i}].tape", a.tape) for i, a in enumerate(scenario.amcs)]
    written += [("links", scenario.links)] if scenario.links is not None else []
    m = scenario.valuation.model
    written += [("valuation.model", m)] if m is not None and not isinstance(m, ModelParameters) else []
    return [(key, str(value), problem) for key, value in written
            if (problem := outside_problem(scenario.base_dir, value)) is not None]


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def with_overrides(scenario: Scenario, changes: dict[str, Any], source: str = "(overrides)") -> Scenario:
    """A copy of ``scenario`` with ``changes`` applied and **validated** (pydantic's ``model_copy`` does not validate).

    ``changes`` maps dotted paths to values, e.g. ``{"solver.strategy": "milp", "structure.servicer_base_fee": 0.08}``;
    a ``None`` value is skipped (an option the user did not give). Raises :class:`ScenarioError` naming ``source``
    and every problem.

    >>> s = Scenario.model_validate({"name": "x", "as_of": "2026-06-30",
    ...                              "amcs": [{"id": "A", "kind": "national", "tape": "a.csv"}]})
    >>> with_overrides(s, {"solver.time_limit_s": 5, "solver.backend": None}).solver.time_limit_s
    5.0
    """
    nested: dict[str, Any] = {}
    for path, value in changes.items():
        if value is None:
            continue
        *parents, leaf = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    data = _merge(scenario.model_dump(), nested)
    try:
        return Scenario.model_validate({**data, "base_dir": scenario.base_dir})
    except ValidationError as err:
        raise ScenarioError(source, _format_errors(err)) from None


def read_yaml(path: str | Path) -> Any:
    """Load a YAML file safely; a missing file or a syntax error becomes a :class:`ScenarioError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ScenarioError(str(path), [("(file)", str(path), "file not found")]) from None
    except UnicodeDecodeError:
        raise ScenarioError(str(path), [("(file)", str(path), "not UTF-8 text")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ScenarioError(str(path), [("(yaml)", where, f"not valid YAML: {getattr(err, 'problem', err)}")]) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    return parse_scenario(read_yaml(path), path)


def scenario_copy_text(scenario: Scenario, folder: str | Path, exclude: dict | None = None) -> str:
    """The resolved scenario as a deal folder keeps it (:data:`pooling.outputs.SCENARIO_COPY_FILES`): every key
    (defaults filled in, command-line overrides applied) under ``scenario``, and under ``base_dir`` the folder its
    relative paths resolve against — the scenario file's folder, written relative to ``folder`` (absolute only when
    no relative path leads there), so the copy names no machine path and still hashes as the run's inputs.
    ``exclude``: keys left out (pydantic's ``model_dump`` form); they take their defaults when the copy is read."""
    import os

    try:
        base = Path(os.path.relpath(scenario.base_dir.resolve(), Path(folder).resolve())).as_posix()
    except ValueError:  # another drive: no relative path
        base = scenario.base_dir.resolve().as_posix()
    doc = {"base_dir": base, "scenario": scenario.model_dump(mode="json", exclude=exclude)}
    return ("# The scenario this folder was made with, resolved (pooling monitor reads it when --scenario is not "
            "given).\n# Relative paths in it resolve against base_dir, given relative to this folder.\n"
            + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def load_scenario_copy(path: str | Path) -> Scenario:
    """Read a deal folder's resolved scenario (:func:`scenario_copy_text`): the scenario, its relative paths
    resolved against ``base_dir`` (which leads out of the deal folder, to the scenario's own folder) and held to
    it as any scenario's are. Raises :class:`ScenarioError` when the file is not such a copy or the folder is gone."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("base_dir"), str) or "scenario" not in data:
        raise ScenarioError(str(path), [("(top level)", type(data).__name__,
                                         "not a resolved scenario: expected the keys base_dir and scenario")])
    base = (path.parent / data["base_dir"]).resolve()
    if not base.is_dir():
        raise ScenarioError(str(path), [("base_dir", data["base_dir"], (
            f"the scenario's folder {base} is not there (moved, or the deal folder was moved without it): pass "
            "--scenario, the scenario the deal was run with"))])
    return parse_scenario(data["scenario"], path, base_dir=base)
