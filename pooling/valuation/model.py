r"""Valuation: expected gross recovery per asset, its timing and its NPV (DESIGN §4).

Each asset gets a lifetime recovery :math:`R_\infty` and a cumulative collection curve from ``as_of``. Where the
tape gives ``expected_recovery`` with ``expected_months`` (and ``source="tape"``) those are used as a single
timing; otherwise the recovery-curve model below values the asset. Every number of the model lives in one
documented table, :class:`RecoveryParameters`; a scenario overrides any part of it through
``valuation.model`` (:class:`pooling.scenario.ModelParameters`).

Lifetime recovery rate
----------------------
For an asset with gross book value :math:`G` (``gbv``), asset type :math:`a`, collateral type :math:`c`, legal
status :math:`s`, province :math:`p`, lien rank :math:`\ell` and age :math:`A` (years from ``default_date`` to
``as_of``, floored at 0):

.. math::

    \text{cov} &= \min\bigl(V / G,\ \text{max\_coverage}\bigr)
        \quad (V = \texttt{collateral\_value};\ \text{default\_coverage}[c] \text{ when } V \text{ is missing}) \\
    \text{secured part} &= \begin{cases}
        \text{collateral\_recovery}[c] \cdot \text{cov} \cdot \text{lien\_factor}[\ell] & c \text{ secured} \\
        \text{collateral\_recovery}[c] & c \in \{\text{guarantee\_only}, \text{unsecured}\}
                                         \text{ (a flat uplift, fraction of } G)
    \end{cases} \\
    \rho &= \operatorname{clip}\Bigl(\bigl(\text{base\_rate}[a] + \text{secured part}\bigr)\,
        e^{-\lambda A}\, \text{legal\_factor}[s]\, \text{region\_factor}[p],\ 0,\ \text{max\_rate}\Bigr),
        \qquad R_\infty = \rho\, G

with :math:`\lambda` = ``decay_secured`` for secured collateral types and ``decay_unsecured`` otherwise.
``lien_factor`` is looked up at the largest key :math:`\le \lfloor\ell\rfloor` (a missing rank is a first lien,
ranks above the largest key use its factor). Every factor is non-negative, so :math:`\rho` never falls when
``collateral_value`` rises and never rises when the asset ages.

Timing
------
Months :math:`t` count from ``as_of``. With :math:`k` = ``speed[s]`` (per month) and :math:`L` = ``lag_months[s]``
(any real :math:`0 \le L < H`, no rounding),

.. math::

    R(t) = R_\infty\bigl(1 - e^{-k(t-L)}\bigr) \ (t \ge L), \qquad R(t) = 0 \ (t < L), \qquad
    cf_t = R(t) - R(t-1), \quad t = 1..H.

Because :math:`R` is evaluated at whole months, a fractional lag needs no convention: with :math:`c=\lceil L\rceil`,
:math:`\delta = c - L \in [0, 1)` and :math:`n = H - c`, the flows are one partial month
:math:`cf_c = R_\infty(1-e^{-k\delta})` (zero when :math:`L` is whole) followed by a geometric run
:math:`cf_{c+1+j} = R_\infty(1-e^{-k})e^{-k(\delta+j)}`, :math:`j = 0..n-1`. Summing in closed form (no month
loop, no assets × months matrix; the sums depend only on :math:`(k, L)`, i.e. on the legal status):

.. math::

    \text{expected\_recovery} &= R(H) = R_\infty\bigl(1 - e^{-k(H-L)}\bigr) \\
    \text{npv} &= \sum_t cf_t\, v^t = R_\infty\Bigl[(1-e^{-k\delta})\,v^{c}
        + (1-e^{-k})\,e^{-k\delta}\,v^{c+1}\,\frac{1-(e^{-k}v)^n}{1-e^{-k}v}\Bigr],
        \qquad v = (1+r)^{-1/12} \\
    \text{expected\_months} &= \frac{\sum_t t\,cf_t}{\sum_t cf_t}
        = \frac{c\,(1-e^{-k\delta}) + e^{-k\delta}(1-e^{-kn})\,(c + 1 + \bar{j})}{1 - e^{-k(H-L)}},
        \qquad \bar{j} = \frac{q}{1-q} - \frac{n\,q^n}{1-q^n},\ q = e^{-k}

(:math:`\bar{j}` is the mean of a geometric distribution truncated to :math:`0..n-1`). ``expected_months`` is a
property of the curve's shape, so it stays defined when :math:`R_\infty = 0`.

Weibull timing (calibrated models)
---------------------------------
A calibrated model (:mod:`pooling.valuation.fitted`) times collections with the Weibull curve
:math:`F(t) = 1 - e^{-(k(t-L))^\rho}` (:math:`k = 1/\lambda`, the Weibull scale in months, and shape :math:`\rho`;
a resolved asset's collections are booked at resolution, so :math:`F` is the resolution-time distribution).
Its valued frame carries a ``curve_shape`` column; :math:`\rho = 1` is exactly the exponential curve above, and a
frame without the column means :math:`\rho = 1` everywhere. :func:`curve_sums` gives collected / discounted value /
expected month per unit of :math:`R_\infty` for any :math:`(k, L, \rho)`.

Tape values and the point-mass convention
-----------------------------------------
A tape-valued asset has a single timing :math:`m` = ``expected_months``: npv :math:`= R\,v^m` (DESIGN §4). Its curve
columns describe a point mass: ``curve_rinf`` = expected_recovery, ``curve_lag`` = expected_months and
``curve_k`` = NaN (no exponential curve — a NaN makes any naive use of the exponential formula fail loudly).
:func:`pool_curve` books a point mass in month :math:`\operatorname{round}(m)` (half up), clipped to
:math:`[1, H]`, so a tape recovery promised after the horizon still counts, in month :math:`H`.

Calibration of the defaults (``reference/market-data.md``)
----------------------------------------------------------
The agency base cases are pool averages of recently transferred bank NPLs, mostly before or in litigation, so
``legal_factor`` is 1.0 for ``pre_litigation`` and ``litigation`` and the targets are pool averages over ages of
1–3 years (:math:`\overline{e^{-\lambda A}}` = 0.744 for :math:`\lambda = 0.15` and 0.557 for :math:`\lambda = 0.30`):

* credit card 7–14% (2024–25): base 0.18 → 13.3% at 1 year, 9.9% at 2, 7.3% at 3; pool 10.0%.
* corporate unsecured ≈ 9–11%: corporate base 0.18 → pool 10.0% (13.3% at 1 year … 7.3% at 3).
* residential mortgage 39–45%: a mortgage is over-collateralised (coverage capped at 1), residential collateral
  recovers 0.60 of appraisal and the household deficiency claim is taken as nil (base 0): 0.60 × 0.744 = 44.6%
  (51.6% at 1 year, 38.3% at 3).
* corporate, 73% secured ≈ 28–31% (工元2016-1): corporate gbv carries years of interest and penalties — pilot
  transfers price at 30% of P+I but 55% of principal, so P+I ≈ 1.8 × principal — and an appraisal of ≈ 1.25 ×
  principal is ≈ 0.7 × gbv, hence default_coverage 0.7 for commercial, industrial and land. Secured (mean collateral
  recovery 0.44 over residential/commercial/industrial/land): (0.18 + 0.44 × 0.7) × 0.744 = 36%; the unsecured 27%,
  half guarantee-only ((0.18 + 0.08) × 0.557 = 14.5%), averages 12%; pool ≈ 0.73 × 36% + 0.27 × 12% = 30%.

Within a 120-month horizon the timing defaults give mean months of 11 (settled) to 48 (enforcement terminated)
and 27–33 for the typical statuses: subordinated notes of Chinese NPL ABS have expected maturities of 2–4.6 years
on legal lives of 2.6–6.6 years, and mortgage NPL pools collect ≈ 1.5% of the pool a month in year one falling
to ≈ 0.5% by years 4–5 (pre-litigation mortgage here: 1.1% a month in year one, 0.23% in year five — one
exponential cannot match both). The rates above are lifetime (R∞); within 120 months the typical statuses
collect 98–99% of R∞, and the tests check the horizon-limited recovery_rate of such pools.

Values without a market fact behind them (sme, retail_consumer, distressed_bond, repossessed bases; the legal
factors and timing by status; equity_pledge and receivables) are labelled *assumption* below: treat them as scenario
inputs until calibrated on resolved-asset history.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from pooling import vocab
from pooling.errors import InputError

if TYPE_CHECKING:
    from pooling.scenario import ModelParameters

__all__ = [
    "DEFAULT_PARAMETERS",
    "VALUATION_COLUMNS",
    "RecoveryParameters",
    "curve_sums",
    "lifetime_rate",
    "pool_curve",
    "value_assets",
]

#: Columns :func:`value_assets` adds to (or overwrites in) the asset frame.
VALUATION_COLUMNS: tuple[str, ...] = (
    "expected_recovery",
    "expected_months",
    "npv",
    "recovery_rate",
    "valuation_source",
    "curve_rinf",
    "curve_k",
    "curve_lag",
)

_DAYS_PER_YEAR = 365.25


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class RecoveryParameters:
    """The recovery-curve parameter table: one place for every number of the model (see the module docstring).

    Rates are fractions of gbv unless stated. The mappings are read-only; derive a variant with
    :meth:`with_overrides` or :func:`dataclasses.replace`.

    Parameters
    ----------
    base_rate
        By asset_type: recovery from the borrower's unsecured estate, fraction of gbv.
    collateral_recovery
        By collateral_type: for secured types the fraction of the appraisal recovered; for ``guarantee_only`` and
        ``unsecured`` a flat uplift, fraction of gbv.
    default_coverage
        By collateral_type: collateral_value / gbv assumed when a secured asset has no collateral_value.
    max_coverage
        Cap on collateral_value / gbv (1.0: over-collateralisation earns nothing beyond the claim).
    lien_factor
        By lien rank (integer ≥ 1): share of the collateral's recovery reaching this lien; a rank above the
        largest key uses the largest key's factor, a missing rank is a first lien.
    decay_secured, decay_unsecured
        λ per year of age since default in exp(−λ·age), for secured and for guarantee-only/unsecured assets.
    legal_factor
        By legal_status: multiplier on the rate.
    speed
        By legal_status: k per month of the timing curve R(t) = R∞·(1 − e^(−k(t−L))); must be > 0.
    lag_months
        By legal_status: months L from as_of before collections start; any real ≥ 0.
    region_factor
        By province (ISO code such as ``CN-ZJ``; Chinese and English names are normalised): multiplier on the rate,
        1.0 for provinces not listed.
    max_rate
        Cap on the lifetime recovery rate, in (0, 1].
    """

    # Agency base cases (market-data.md, "Recovery levels"), see the calibration notes in the module docstring.
    base_rate: Mapping[str, float] = field(
        default_factory=lambda: {
            "corporate": 0.18,  # corporate unsecured ≈ 9–11% at ages 1–3 (pool 10.0%)
            "sme": 0.15,  # assumption: thinner estates than corporates
            "retail_mortgage": 0.0,  # the house carries the recovery; mortgage pools 39–45%
            "retail_consumer": 0.16,  # assumption: like credit cards; personal packs trade at 2.65–7.3% of P+I
            "credit_card": 0.18,  # credit card 7–14% (2024–25 agency base cases)
            "distressed_bond": 0.25,  # assumption: senior unsecured bond claims
            "repossessed": 0.0,  # the asset itself is the collateral: all recovery comes from its sale
        }
    )
    # "Assumed corporate recovery as a share of collateral appraisal" (market-data.md), mid-points.
    collateral_recovery: Mapping[str, float] = field(
        default_factory=lambda: {
            "residential": 0.60,  # 50–70%
            "commercial": 0.45,  # 35–55%
            "industrial": 0.35,  # 25–45%
            "land": 0.35,  # 25–45%
            "equipment": 0.18,  # equipment/inventory 10–25%
            "receivables": 0.15,  # assumption, near equipment/inventory
            "equity_pledge": 0.20,  # assumption: pledged shares of a distressed group
            "guarantee_only": 0.08,  # flat, fraction of gbv; guarantee-only 5–20%, low end
            "unsecured": 0.0,  # flat; unsecured 0–10% is carried by base_rate
        }
    )
    default_coverage: Mapping[str, float] = field(
        default_factory=lambda: {
            "residential": 1.0,  # mortgages: gbv ≈ principal, origination LTV well below 100%
            "commercial": 0.7,  # corporate gbv ≈ 1.8 × principal (pilot transfers: 30% of P+I = 55% of principal)
            "industrial": 0.7,
            "land": 0.7,
            "equipment": 0.5,  # assumption
            "receivables": 0.5,  # assumption
            "equity_pledge": 0.5,  # assumption
            "guarantee_only": 0.0,  # not used
            "unsecured": 0.0,  # not used
        }
    )
    max_coverage: float = 1.0
    lien_factor: Mapping[int, float] = field(default_factory=lambda: {1: 1.0, 2: 0.5, 3: 0.25})
    decay_secured: float = 0.15  # λ 0.10–0.20 for secured claims (market-data.md)
    decay_unsecured: float = 0.30  # λ 0.25–0.40 for unsecured claims
    # Assumptions: 1.0 for the statuses of a typical transferred bank NPL pool (the agencies' base cases).
    legal_factor: Mapping[str, float] = field(
        default_factory=lambda: {
            "pre_litigation": 1.0,
            "litigation": 1.0,
            "judgment": 1.05,  # an enforceable title
            "enforcement": 1.10,  # auction under way
            "enforcement_terminated": 0.50,  # 终本: the court found no enforceable property
            "bankruptcy": 0.75,  # ranks behind secured, staff and tax claims
            "settled": 1.20,  # the debtor has agreed a repayment plan
        }
    )
    # Assumptions: mean months ≈ 27–33 within 120 months for typical statuses (sub notes' expected maturity 2–4.6 years).
    speed: Mapping[str, float] = field(
        default_factory=lambda: {
            "pre_litigation": 0.040,
            "litigation": 0.035,
            "judgment": 0.040,
            "enforcement": 0.050,
            "enforcement_terminated": 0.020,
            "bankruptcy": 0.025,
            "settled": 0.100,
        }
    )
    lag_months: Mapping[str, float] = field(
        default_factory=lambda: {
            "pre_litigation": 3.0,
            "litigation": 6.0,
            "judgment": 4.0,
            "enforcement": 2.0,
            "enforcement_terminated": 12.0,
            "bankruptcy": 12.0,
            "settled": 1.0,
        }
    )
    region_factor: Mapping[str, float] = field(default_factory=dict)
    max_rate: float = 0.95

    def __post_init__(self) -> None:
        problems: list[str] = []
        keyed = {
            "base_rate": vocab.ASSET_TYPES,
            "collateral_recovery": vocab.COLLATERAL_TYPES,
            "default_coverage": vocab.COLLATERAL_TYPES,
            "legal_factor": vocab.LEGAL_STATUSES,
            "speed": vocab.LEGAL_STATUSES,
            "lag_months": vocab.LEGAL_STATUSES,
        }
        for name, allowed in keyed.items():
            table = getattr(self, name)
            missing = [k for k in allowed if k not in table]
            unknown = sorted(set(table) - set(allowed))
            if missing:
                problems.append(f"{name}: no value for {missing}")
            if unknown:
                problems.append(f"{name}: unknown key(s) {unknown}; expected some of {list(allowed)}")
        regions: dict[str, float] = {}
        for key, value in self.region_factor.items():
            code = vocab.province_code(key)
            if code is None:
                problems.append(f"region_factor: unknown province {key!r}")
            else:
                regions[code] = value
        if not self.lien_factor:
            problems.append("lien_factor: needs at least one rank")
        if any(not isinstance(rank, int | np.integer) or rank < 1 for rank in self.lien_factor):
            problems.append(f"lien_factor: ranks must be whole numbers ≥ 1, got {sorted(self.lien_factor)}")
        for name in (
            "base_rate",
            "collateral_recovery",
            "default_coverage",
            "lien_factor",
            "legal_factor",
            "lag_months",
            "region_factor",
        ):
            bad = {k: v for k, v in getattr(self, name).items() if not (math.isfinite(v) and v >= 0)}
            if bad:
                problems.append(f"{name}: values must be finite and ≥ 0, got {bad}")
        bad = {k: v for k, v in self.speed.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            problems.append(f"speed: values must be finite and > 0 (per month), got {bad}")
        for name in ("decay_secured", "decay_unsecured"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                problems.append(f"{name}: must be finite and ≥ 0, got {getattr(self, name)}")
        if not (math.isfinite(self.max_coverage) and self.max_coverage > 0):
            problems.append(f"max_coverage: must be finite and > 0, got {self.max_coverage}")
        if not (0 < self.max_rate <= 1):
            problems.append(f"max_rate: must be in (0, 1], got {self.max_rate}")
        if problems:
            raise InputError("recovery parameters are invalid:\n" + "\n".join(f"  - {p}" for p in problems))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                items = regions.items() if f.name == "region_factor" else value.items()
                value = {(int(k) if f.name == "lien_factor" else k): float(v) for k, v in items}
                object.__setattr__(self, f.name, _frozen(value))
            else:
                object.__setattr__(self, f.name, float(value))

    def with_overrides(self, overrides: ModelParameters) -> RecoveryParameters:
        """A copy with a scenario's overrides applied: mappings merge key by key, scalars replace.

        Parameters
        ----------
        overrides
            ``scenario.valuation.model``; an empty mapping or a ``None`` scalar leaves the default in place.

        Returns
        -------
        RecoveryParameters
            Validated; bad values raise :class:`pooling.errors.InputError`.

        Examples
        --------
        >>> from pooling.scenario import ModelParameters
        >>> p = DEFAULT_PARAMETERS.with_overrides(ModelParameters(speed={"litigation": 0.05}, max_rate=0.9))
        >>> p.speed["litigation"], p.speed["settled"], p.max_rate
        (0.05, 0.1, 0.9)
        """
        changes: dict[str, object] = {}
        for f in dataclasses.fields(self):
            new = getattr(overrides, f.name)
            old = getattr(self, f.name)
            if isinstance(old, Mapping):
                if new:
                    changes[f.name] = {**old, **new}
            elif new is not None:
                changes[f.name] = new
        return dataclasses.replace(self, **changes) if changes else self

    def table(self) -> pd.DataFrame:
        """The parameters as a long table (parameter, key, value); scalars have an empty key.

        >>> DEFAULT_PARAMETERS.table().query("parameter == 'lien_factor'")["value"].tolist()
        [1.0, 0.5, 0.25]
        """
        rows: list[tuple[str, str, float]] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                rows += [(f.name, str(k), v) for k, v in value.items()]
            else:
                rows.append((f.name, "", value))
        return pd.DataFrame(rows, columns=["parameter", "key", "value"])


DEFAULT_PARAMETERS = RecoveryParameters()


# --------------------------------------------------------------------------------------------------------------
# Lookups


def _codes(assets: pd.DataFrame, column: str) -> tuple[np.ndarray, list]:
    """Factorize one enum column once; its distinct values are then mapped through any number of tables."""
    if column not in assets.columns:
        raise InputError(f"valuation needs column {column!r}; the asset frame has {list(assets.columns)}")
    codes, uniques = pd.factorize(assets[column], use_na_sentinel=True)
    return codes, list(uniques)


def _take(
    codes: np.ndarray,
    uniques: list,
    table: Mapping,
    what: str,
    default: float | None = None,
) -> np.ndarray:
    """``table[value]`` per row; values not in the table take ``default`` or, without one, raise."""
    if default is None:
        unknown = [u for u in uniques if u not in table]
        if unknown or (codes < 0).any():
            shown = unknown + (["<missing>"] if (codes < 0).any() else [])
            raise InputError(f"{what}: no parameter for value(s) {shown}; expected one of {list(table)}")
    values = np.array([table.get(u, default) for u in uniques] + [default if default is not None else np.nan])
    return values.astype(float)[codes]  # code -1 (missing) picks the trailing default


def _column(assets: pd.DataFrame, column: str) -> np.ndarray:
    """An optional float column as an array, all-NaN when absent."""
    if column not in assets.columns:
        return np.full(len(assets), np.nan)
    return pd.to_numeric(assets[column]).to_numpy(dtype=float, na_value=np.nan)


def _age_years(assets: pd.DataFrame, as_of: date) -> np.ndarray:
    dates = assets["default_date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = pd.to_datetime(dates)
    days = (pd.Timestamp(as_of) - dates).to_numpy(dtype="timedelta64[s]") / np.timedelta64(1, "D")
    if np.isnan(days).any():
        raise InputError(f"default_date is missing for {int(np.isnan(days).sum())} asset(s)")
    return np.maximum(days, 0.0) / _DAYS_PER_YEAR


def _lien_factor(assets: pd.DataFrame, params: RecoveryParameters) -> np.ndarray:
    ranks = np.array(sorted(params.lien_factor))
    factors = np.array([params.lien_factor[r] for r in ranks])
    rank = np.floor(np.nan_to_num(_column(assets, "lien_rank"), nan=1.0))
    return factors[np.clip(np.searchsorted(ranks, rank, side="right") - 1, 0, len(ranks) - 1)]


def lifetime_rate(
    assets: pd.DataFrame,
    as_of: date,
    params: RecoveryParameters = DEFAULT_PARAMETERS,
) -> np.ndarray:
    r"""Model lifetime recovery rate :math:`\rho = R_\infty / G` per asset (module docstring, first formula).

    Parameters
    ----------
    assets
        Canonical asset frame: gbv, asset_type, collateral_type, province, default_date, legal_status and,
        optionally, collateral_value (CNY) and lien_rank.
    as_of
        Valuation date; age = (as_of − default_date) in years of 365.25 days, floored at 0.
    params
        The parameter table.

    Returns
    -------
    numpy.ndarray
        One rate in [0, max_rate] per row.

    Raises
    ------
    pooling.errors.InputError
        A required column is missing, or an enum value has no parameter.
    """
    return _rate(assets, as_of, params, _codes(assets, "legal_status"))


def _rate(
    assets: pd.DataFrame, as_of: date, params: RecoveryParameters, statuses: tuple[np.ndarray, list]
) -> np.ndarray:
    """:func:`lifetime_rate` with legal_status already factorized (value_assets reuses it for the timing)."""
    s_codes, s_values = statuses
    a_codes, a_values = _codes(assets, "asset_type")
    c_codes, c_values = _codes(assets, "collateral_type")
    p_codes, p_values = _codes(assets, "province")
    base = _take(a_codes, a_values, params.base_rate, "asset_type")
    recovery = _take(c_codes, c_values, params.collateral_recovery, "collateral_type")
    default_cov = _take(c_codes, c_values, params.default_coverage, "collateral_type")
    secured = _take(
        c_codes,
        c_values,
        {c: float(c not in vocab.UNSECURED_COLLATERAL) for c in vocab.COLLATERAL_TYPES},
        "collateral_type",
    ).astype(bool)
    legal = _take(s_codes, s_values, params.legal_factor, "legal_status")
    region = _take(p_codes, p_values, params.region_factor, "province", default=1.0)

    gbv = _column(assets, "gbv")
    value = _column(assets, "collateral_value")
    coverage = np.divide(value, gbv, out=default_cov.copy(), where=~np.isnan(value) & (gbv > 0))
    coverage = np.clip(coverage, 0.0, params.max_coverage)
    secured_part = np.where(secured, recovery * coverage * _lien_factor(assets, params), recovery)

    decay = np.where(secured, params.decay_secured, params.decay_unsecured)
    rate = (base + secured_part) * np.exp(-decay * _age_years(assets, as_of)) * legal * region
    return np.clip(rate, 0.0, params.max_rate)


# --------------------------------------------------------------------------------------------------------------
# Timing: closed forms of the monthly curve


def _curve_sums(
    k: np.ndarray, lag: np.ndarray, horizon: int, discount_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit of R∞: (collected by H, discounted value, expected month) — module docstring, Timing.

    Arrays broadcast; callers pass one entry per distinct (k, L), so the cost does not grow with the asset count.
    """
    k, lag = np.broadcast_arrays(np.asarray(k, float), np.asarray(lag, float))
    c = np.ceil(lag)
    delta = c - lag
    n = horizon - c  # months c+1..H of the geometric run; ≥ 0 since L < H
    first = -np.expm1(-k * delta)  # cf_c, zero for a whole-month lag
    run = np.exp(-k * delta) * -np.expm1(-k * n)  # Σ of the geometric run
    collected = first + run  # = 1 − e^(−k(H−L))

    log_v = -math.log1p(discount_rate) / 12.0
    x = log_v - k  # log of the run's discounted ratio e^(−k)·v
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(n > 0, np.expm1(n * x) / np.expm1(x), 0.0)  # Σ_{j<n} (e^(−k)v)^j
        pv = first * np.exp(c * log_v) + -np.expm1(-k) * np.exp(-k * delta + (c + 1) * log_v) * tail
        # Mean of j = 0..n−1 under weights q^j, q = e^(−k); its small-k limit avoids 1/k cancellation.
        q = np.exp(-k)
        exact = q / -np.expm1(-k) - n * np.exp(-k * n) / -np.expm1(-k * n)
        mean_j = np.where(k * n > 1e-6, exact, (n - 1) / 2 - k * (n * n - 1) / 12)
        months = (c * first + run * (c + 1 + np.where(n > 0, mean_j, 0.0))) / collected
    return collected, pv, months


def check_valuation_args(source: str, horizon_months: float, discount_rate: float) -> int:
    """The arguments every valuation takes, checked (:class:`InputError` otherwise); returns the horizon H."""
    if source not in ("tape", "model"):
        raise InputError(f"valuation source must be 'tape' or 'model', got {source!r}")
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise InputError(f"horizon_months must be a whole number ≥ 1, got {horizon_months}")
    if not (math.isfinite(discount_rate) and discount_rate >= 0):
        raise InputError(f"discount_rate must be finite and ≥ 0, got {discount_rate}")
    horizon = int(horizon_months)
    return horizon


def value_assets(
    assets: pd.DataFrame,
    *,
    as_of: date,
    discount_rate: float,
    source: Literal["tape", "model"] = "tape",
    horizon_months: int = 120,
    params: RecoveryParameters = DEFAULT_PARAMETERS,
) -> pd.DataFrame:
    """Expected recovery, its timing and NPV for every asset.

    Parameters
    ----------
    assets
        Canonical pooled asset frame, one row per asset (see :func:`lifetime_rate` for the columns used);
        expected_recovery / expected_months (CNY / months from as_of) are optional.
    as_of
        Valuation date: month 0 of every curve, and the end of each asset's age.
    discount_rate
        Annual rate r ≥ 0; month t is discounted by (1 + r)^(−t/12).
    source
        ``"tape"``: assets whose tape gives both expected_recovery and expected_months keep them; the rest are
        modelled. ``"model"``: every asset is modelled.
    horizon_months
        H: collections are counted in months 1..H; expected_recovery = R(H).
    params
        The parameter table (``DEFAULT_PARAMETERS.with_overrides(scenario.valuation.model)``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``assets`` with :data:`VALUATION_COLUMNS`: expected_recovery (CNY), expected_months,
        npv (CNY), recovery_rate (expected_recovery / gbv, 0 where gbv = 0), valuation_source (``"tape"`` /
        ``"model"``), curve_rinf (CNY), curve_k (per month; NaN for a tape point mass) and curve_lag (months).
        Tape columns expected_recovery / expected_months, when present, are kept as tape_expected_recovery /
        tape_expected_months for backtesting.

    Raises
    ------
    pooling.errors.InputError
        Missing columns, enum values without parameters, a lag not below the horizon, or bad arguments.

    Examples
    --------
    >>> df = pd.DataFrame({"gbv": [100.0], "asset_type": ["credit_card"], "collateral_type": ["unsecured"],
    ...                    "province": ["CN-ZJ"], "default_date": pd.to_datetime(["2025-06-30"]),
    ...                    "legal_status": ["pre_litigation"]})
    >>> v = value_assets(df, as_of=date(2026, 6, 30), discount_rate=0.06)
    >>> v[["expected_recovery", "expected_months", "npv"]].round(2).to_numpy().tolist()
    [[13.21, 27.41, 11.63]]
    """
    horizon = check_valuation_args(source, horizon_months, discount_rate)

    gbv = _column(assets, "gbv")
    s_codes, s_values = statuses = _codes(assets, "legal_status")
    rinf = _rate(assets, as_of, params, statuses) * gbv
    k_s = np.array([params.speed[s] for s in s_values])
    lag_s = np.array([params.lag_months[s] for s in s_values])
    late = {s: params.lag_months[s] for s in s_values if params.lag_months[s] >= horizon}
    if late:
        raise InputError(
            f"lag_months {late} not below horizon_months = {horizon}: nothing would be collected"
        )
    collected_s, pv_s, months_s = _curve_sums(k_s, lag_s, horizon, discount_rate)

    out = assets.copy()
    tape_recovery = _column(assets, "expected_recovery")
    tape_months = _column(assets, "expected_months")
    for column in ("expected_recovery", "expected_months"):
        if column in assets.columns:
            out[f"tape_{column}"] = assets[column]

    recovery = rinf * collected_s[s_codes]
    months = months_s[s_codes]
    npv = rinf * pv_s[s_codes]
    curve_rinf, curve_k, curve_lag = rinf, k_s[s_codes], lag_s[s_codes]
    from_tape = np.zeros(len(assets), dtype=bool)
    if source == "tape":
        from_tape = ~np.isnan(tape_recovery) & ~np.isnan(tape_months)
        recovery = np.where(from_tape, tape_recovery, recovery)
        months = np.where(from_tape, tape_months, months)
        single = tape_recovery * np.exp(-tape_months * math.log1p(discount_rate) / 12.0)
        npv = np.where(from_tape, single, npv)
        curve_rinf = np.where(from_tape, tape_recovery, curve_rinf)
        curve_k = np.where(from_tape, np.nan, curve_k)
        curve_lag = np.where(from_tape, tape_months, curve_lag)

    out["expected_recovery"] = recovery
    out["expected_months"] = months
    out["npv"] = npv
    out["recovery_rate"] = np.divide(recovery, gbv, out=np.zeros(len(gbv)), where=gbv > 0)
    out["valuation_source"] = np.where(from_tape, "tape", "model")
    out["curve_rinf"] = curve_rinf
    out["curve_k"] = curve_k
    out["curve_lag"] = curve_lag
    return out


# --------------------------------------------------------------------------------------------------------------
# Pool collections by month


def _unit_curves(k: np.ndarray, lag: np.ndarray, horizon: int, shape: np.ndarray | None = None) -> np.ndarray:
    """Monthly flows cf_t, t = 1..H, of unit curves F(t) = 1 − exp(−(k(t − L))^ρ): one row per (k, L, ρ) triple.

    ``shape`` None means ρ = 1 (the exponential curve; ``x ** 1.0`` is ``x`` exactly, so the two agree bit for bit).
    """
    t = np.arange(horizon + 1, dtype=float)
    elapsed = np.maximum(t[None, :] - lag[:, None], 0.0)
    scaled = k[:, None] * elapsed
    if shape is not None:
        with np.errstate(over="ignore"):  # inf past the scale at a steep shape: the curve is then complete (F = 1)
            scaled = scaled ** shape[:, None]
    cumulative = np.where(t[None, :] - lag[:, None] >= 0, -np.expm1(-scaled), 0.0)
    return np.diff(cumulative, axis=1)


def curve_sums(
    k: np.ndarray, lag: np.ndarray, shape: np.ndarray, horizon: int, discount_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Per unit of R∞ of the Weibull timing curve: (collected by H, discounted value, expected month).

    The curve is :math:`F(t) = 1 - e^{-(k(t-L))^\rho}` for :math:`t \ge L` (0 before), evaluated at whole months
    :math:`t = 0..H`; :math:`cf_t = F(t) - F(t-1)`. Then collected :math:`= F(H)`, discounted value
    :math:`= \sum_t cf_t v^t` with :math:`v = (1+r)^{-1/12}`, and expected month
    :math:`= \sum_t t\,cf_t / \sum_t cf_t` (the curve's shape alone; defined as :math:`\lceil L \rceil` when nothing
    is collected by H). Where :math:`\rho = 1` the closed forms of the module docstring are used; other triples are
    summed month by month over the *distinct* :math:`(k, L, \rho)` triples only (never an assets × months array).

    Parameters
    ----------
    k, lag, shape
        Arrays of one length (per asset, or per distinct curve): speed 1/λ per month, lag L ≥ 0 (months,
        L < H), shape ρ > 0.
    horizon
        H, months.
    discount_rate
        Annual rate r ≥ 0.

    Returns
    -------
    tuple of numpy.ndarray
        collected, pv, months — one entry per input entry.
    """
    k, lag, shape = np.broadcast_arrays(np.asarray(k, float), np.asarray(lag, float), np.asarray(shape, float))
    collected, pv, months = _curve_sums(k, lag, horizon, discount_rate)
    weibull = shape != 1.0
    if weibull.any():
        triples = np.stack([k[weibull], lag[weibull], shape[weibull]], axis=1)
        unique, inverse = np.unique(triples, axis=0, return_inverse=True)
        flows = _unit_curves(unique[:, 0], unique[:, 1], horizon, unique[:, 2])
        t = np.arange(1, horizon + 1, dtype=float)
        v = np.exp(-math.log1p(discount_rate) / 12.0 * t)
        got = flows.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_t = np.where(got > 0, (flows @ t) / got, np.ceil(unique[:, 1]))
        inverse = inverse.ravel()
        collected = collected.copy()
        pv = pv.copy()
        months = months.copy()
        collected[weibull] = got[inverse]
        pv[weibull] = (flows @ v)[inverse]
        months[weibull] = mean_t[inverse]
    return collected, pv, months


def pool_curve(
    valued: pd.DataFrame,
    *,
    horizon_months: int = 120,
    by: str | list[str] | None = None,
) -> pd.DataFrame:
    """Pool collections by month, t = 1..H, summed over assets (optionally per group).

    Assets are grouped on their distinct (curve_k, curve_lag, curve_shape) triples and curve_rinf is summed per
    triple and group, so the cost is (#groups × #distinct curves × H) plus one pass over the assets. A curve follows
    F(t) = 1 − exp(−(k(t − L))^ρ) with ρ = curve_shape (a missing column, or NaN, means ρ = 1: the exponential
    curve of :func:`value_assets`). Point-mass (tape) assets add
    curve_rinf in month round(curve_lag) (half up), clipped to [1, H]. With the valuation's horizon, the
    collections add up to Σ expected_recovery.

    Parameters
    ----------
    valued
        Output of :func:`value_assets` or :func:`pooling.valuation.fitted.value_with_model` (curve_rinf, curve_k,
        curve_lag, optionally curve_shape, and the ``by`` columns).
    horizon_months
        H, months.
    by
        Column(s) to split the collections by, e.g. ``"amc_id"``; None for the pool total.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``month`` (1..H): one ``collections`` column (CNY), or one column per group (sorted; a
        MultiIndex for several ``by`` columns).
    """
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise InputError(f"horizon_months must be a whole number ≥ 1, got {horizon_months}")
    horizon = int(horizon_months)
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    if keys:
        groups = valued.groupby(keys, sort=True, dropna=False)
        group = groups.ngroup().to_numpy()
        labels = groups.size().index
    else:
        group = np.zeros(len(valued), dtype=np.int64)
        labels = pd.Index(["collections"])
    n_groups = len(labels)

    rinf = valued["curve_rinf"].to_numpy(dtype=float)
    k = valued["curve_k"].to_numpy(dtype=float)
    lag = valued["curve_lag"].to_numpy(dtype=float)
    if "curve_shape" in valued.columns:
        rho = valued["curve_shape"].to_numpy(dtype=float, na_value=np.nan)
        rho = np.where(np.isnan(rho), 1.0, rho)
    else:
        rho = np.ones(len(valued))
    curve = ~np.isnan(k)

    k_codes, k_values = pd.factorize(k[curve])
    lag_codes, lag_values = pd.factorize(lag[curve])
    rho_codes, rho_values = pd.factorize(rho[curve])
    n_lag, n_rho = max(len(lag_values), 1), max(len(rho_values), 1)
    triples, triple = np.unique((k_codes * n_lag + lag_codes) * n_rho + rho_codes, return_inverse=True)
    triple = triple.ravel()
    shapes = _unit_curves(
        np.asarray(k_values, dtype=float)[triples // (n_lag * n_rho)],
        np.asarray(lag_values, dtype=float)[(triples // n_rho) % n_lag],
        horizon,
        np.asarray(rho_values, dtype=float)[triples % n_rho],
    )
    weights = np.bincount(
        group[curve] * len(triples) + triple, weights=rinf[curve], minlength=n_groups * len(triples)
    ).reshape(n_groups, len(triples))
    collections = weights @ shapes

    point_month = np.clip(np.floor(lag[~curve] + 0.5), 1, horizon).astype(np.int64)
    collections += np.bincount(
        group[~curve] * horizon + point_month - 1, weights=rinf[~curve], minlength=n_groups * horizon
    ).reshape(n_groups, horizon)
    return pd.DataFrame(collections.T, index=pd.RangeIndex(1, horizon + 1, name="month"), columns=labels)
