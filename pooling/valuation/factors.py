r"""Systematic factor model of recoveries and their timing (DESIGN §6, "Diversification must pay in the structure").

A pool of NPLs falls short of its expected recovery when many of its assets fall short *together*: house prices
fall in a province, courts in a province clog up, a collateral market dries up, an industry fails, or the whole
economy turns. This module draws those shocks as standard-normal factors, one set per scenario, and turns them into
multipliers of each asset's (or segment's) recovery and into delays of its collections. It is pure numpy on
small arrays: no asset × scenario × month array is ever built here (see :func:`segment_npv_multipliers`).

Factors (one row per scenario :math:`s`, all independent standard normals)
-------------------------------------------------------------------------
- :math:`N_s` national (the economy, interest rates, the NPL market as a whole);
- :math:`P_{s,p}` province :math:`p` — house prices and the local recovery environment (recovery side);
- :math:`J_{s,p}` province :math:`p` — court backlog (timing side);
- :math:`K_{s,c}` collateral type :math:`c` (residential, commercial, … , unsecured);
- :math:`I_{s,j}` industry :math:`j` (GB/T 4754 section; retail tapes carry their loan-purpose section, mostly T).

Each factor column is drawn from its own stream, seeded by (seed, factor kind, name), so a province's factor in a
scenario does not depend on which other provinces are in the pool (a sub-pool sees the same shocks as the whole).

Recovery multiplier
-------------------
With loadings :math:`a = (a_N, a_P, a_K, a_I)` normalised to :math:`\sum a^2 = 1` (:class:`FactorParameters`),
an asset of province :math:`p`, collateral :math:`c`, industry :math:`j` and asset class (asset_type) :math:`k`
has the systematic index and multiplier

.. math::

    Z_s = a_N N_s + a_P P_{s,p} + a_K K_{s,c} + a_I I_{s,j}, \qquad
    M_s = \exp\bigl(\sigma_k Z_s - \tfrac12 \sigma_k^2\bigr), \qquad \mathbb{E}[M_s] = 1,

:math:`\sigma_k` = ``class_volatility[k]`` (first-lien mortgages low, unsecured card and consumer claims far higher).
A *segment* :math:`g` (province | collateral_type) mixes industries with gbv shares :math:`w_{g,j}`; its index
:math:`Z_{g,s} = a_N N_s + a_P P_{s,p} + a_K K_{s,c} + a_I \sum_j w_{g,j} I_{s,j}` has variance
:math:`v_g = a_N^2 + a_P^2 + a_K^2 + a_I^2 \sum_j w_{g,j}^2 \le 1` and its multiplier is
:math:`M_{g,s} = \exp(\sigma_g Z_{g,s} - \tfrac12 \sigma_g^2 v_g)` (mean exactly 1), :math:`\sigma_g` the
gbv-weighted class volatility of its assets.

Idiosyncratic noise (obligor-group level)
-----------------------------------------
Each obligor group :math:`o` (``group_id``, else ``obligor_id``, else the asset) recovers
:math:`R_o\, M_s\, \exp(\eta_k \epsilon_o - \eta_k^2/2)` with :math:`\epsilon_o` standard normal and
:math:`\eta_k` = ``idiosyncratic_volatility[k]``. Summed over a segment's groups, the idiosyncratic factor has mean
1 and variance :math:`V_g = \sum_o R_o^2 (e^{\eta_o^2} - 1) / (\sum_o R_o)^2` — a Herfindahl of the groups'
recoveries: the more (and more even) the groups, the less it matters. The Monte Carlo sizer draws it per segment
as one lognormal with that mean and variance (:func:`idiosyncratic_variance`).

Timing
------
Collections are delayed, never advanced and never made negative, by

.. math::

    D_{s,p,k} = \min\Bigl(D_{\max},\ \tau_k \max\bigl(0,\ -b_N N_s + b_J J_{s,p}\bigr)\Bigr) \text{ months},

:math:`(b_N, b_J)` = (``timing_national``, ``timing_court``) normalised to unit variance, :math:`\tau_k` =
``delay_months[k]`` (months of delay per standard deviation of the timing index). A bad economy (:math:`N < 0`)
lowers recoveries *and* slows them; a clogged court (:math:`J > 0`) slows them.

Calibration
-----------
See :data:`DEFAULT_FACTORS` and docs/tranching.md ("Factor model", "Calibration"): the volatilities are set on the
training deals of reference/market-data.md so that a typical single-originator pool of each collateral, sized by
Monte Carlo at the AAA target, gives a senior / expected recovery near the observed ratio, with the ordering the
market shows (first-lien mortgages above corporate and AMC claims, unsecured card claims most uncertain).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from pooling.errors import InputError


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class FactorParameters:
    r"""The factor model's parameter table (module docstring for the formulas).

    ============================  ===========================================================================
    parameter                     meaning
    ============================  ===========================================================================
    ``loading_national``          :math:`a_N`, weight of the national factor in the recovery index
    ``loading_province``          :math:`a_P`, province (house prices / recovery environment)
    ``loading_collateral``        :math:`a_K`, collateral type
    ``loading_industry``          :math:`a_I`, industry (GB/T 4754 section)
    ``class_volatility``          :math:`\sigma_k`, systematic log-volatility of recovery by asset_type
    ``idiosyncratic_volatility``  :math:`\eta_k`, log-volatility of one obligor group's recovery by asset_type
    ``timing_national``           :math:`b_N`, weight of the (negated) national factor in the timing index
    ``timing_court``              :math:`b_J`, weight of the province court-backlog factor
    ``delay_months``              :math:`\tau_k`, months of delay per sd of the timing index, by asset_type
    ``max_delay_months``          :math:`D_{\max}`, cap on the delay
    ============================  ===========================================================================

    Loadings are normalised (:math:`\sum a^2 = 1`, :math:`b_N^2 + b_J^2 = 1`), so only their ratios matter.
    Default values and their calibration: :data:`DEFAULT_FACTORS` — fit on the training deals (senior / expected
    recovery, model vs observed: 16建鑫3 card 0.500 vs 0.548, 工元2016-1 corporate 0.507 vs 0.497, 20东元1 AMC
    claims 0.487 vs 0.499; mean absolute residual 0.023; a first-lien mortgage pool 0.627, above card).
    """

    loading_national: float = 0.60
    loading_province: float = 0.50
    loading_collateral: float = 0.45
    loading_industry: float = 0.43
    class_volatility: Mapping[str, float] = field(default_factory=lambda: _frozen({
        "retail_mortgage": 0.07,
        "repossessed": 0.10,
        "corporate": 0.14,
        "sme": 0.16,
        "distressed_bond": 0.20,
        "retail_consumer": 0.19,
        "credit_card": 0.21,
    }))
    idiosyncratic_volatility: Mapping[str, float] = field(default_factory=lambda: _frozen({
        "retail_mortgage": 0.50,
        "repossessed": 0.60,
        "corporate": 0.90,
        "sme": 0.90,
        "distressed_bond": 1.00,
        "retail_consumer": 1.20,
        "credit_card": 1.20,
    }))
    timing_national: float = 0.50
    timing_court: float = 0.85
    delay_months: Mapping[str, float] = field(default_factory=lambda: _frozen({
        "retail_mortgage": 3.0,
        "repossessed": 3.0,
        "corporate": 3.0,
        "sme": 2.5,
        "distressed_bond": 4.0,
        "retail_consumer": 2.0,
        "credit_card": 2.0,
    }))
    max_delay_months: int = 36

    def __post_init__(self) -> None:
        loads = np.array([self.loading_national, self.loading_province, self.loading_collateral,
                          self.loading_industry], dtype=float)
        if (loads < 0).any() or not np.isfinite(loads).all() or loads.sum() <= 0:
            raise InputError(f"factor loadings must be finite, ≥ 0 and not all 0, got {loads.tolist()}")
        timing = np.array([self.timing_national, self.timing_court], dtype=float)
        if (timing < 0).any() or not np.isfinite(timing).all() or timing.sum() <= 0:
            raise InputError(f"timing loadings must be finite, ≥ 0 and not all 0, got {timing.tolist()}")
        for name in ("class_volatility", "idiosyncratic_volatility", "delay_months"):
            table = getattr(self, name)
            bad = {k: v for k, v in table.items() if not (np.isfinite(v) and v >= 0)}
            if bad:
                raise InputError(f"factor parameter {name}: values must be finite and ≥ 0, got {bad}")
            object.__setattr__(self, name, _frozen(table))
        if int(self.max_delay_months) != self.max_delay_months or self.max_delay_months < 0:
            raise InputError(f"max_delay_months must be a whole number ≥ 0, got {self.max_delay_months}")

    @property
    def loadings(self) -> np.ndarray:
        """(a_N, a_P, a_K, a_I) normalised to unit sum of squares."""
        a = np.array([self.loading_national, self.loading_province, self.loading_collateral,
                      self.loading_industry], dtype=float)
        return a / np.sqrt((a * a).sum())

    @property
    def timing_loadings(self) -> np.ndarray:
        """(b_N, b_J) normalised to unit sum of squares."""
        b = np.array([self.timing_national, self.timing_court], dtype=float)
        return b / np.sqrt((b * b).sum())

    def replace(self, **changes) -> FactorParameters:
        """A copy with some fields changed (mappings are merged into the defaults, not replaced)."""
        merged = {}
        for key, value in changes.items():
            current = getattr(self, key)
            merged[key] = {**current, **value} if isinstance(current, Mapping) else value
        return FactorParameters(**{**{f: getattr(self, f) for f in self.__dataclass_fields__}, **merged})

    def table(self) -> pd.DataFrame:
        """The per-asset-class part of the table: one row per asset_type (volatilities, delay)."""
        classes = sorted(self.class_volatility)
        return pd.DataFrame({
            "asset_type": classes,
            "class_volatility": [self.class_volatility[k] for k in classes],
            "idiosyncratic_volatility": [self.idiosyncratic_volatility.get(k, np.nan) for k in classes],
            "delay_months_per_sd": [self.delay_months.get(k, np.nan) for k in classes],
        })


#: The calibrated defaults (docs/tranching.md, "Factor model" and "Calibration and residuals"). Fit on the training
#: deals of reference/market-data.md, each rebuilt as a single-originator pool (pooling.tranching.training) and
#: sized by Monte Carlo at AAA (10,000 scenarios, seed 11); senior / expected recovery, model vs observed:
#: 16建鑫3 (card) 0.500 vs 0.548 (−0.048), 工元2016-1 (corporate, 73% secured) 0.507 vs 0.497 (+0.010),
#: 20东元1 (AMC claims) 0.487 vs 0.499 (−0.012): mean absolute residual 0.023. 16和萃1 (card, 0.780) is left out
#: (87% of its senior collected before closing; model 0.511). A first-lien mortgage pool (no training deal) sizes at
#: 0.627, above card, as the market does.
DEFAULT_FACTORS = FactorParameters()


@dataclass(frozen=True)
class FactorDraws:
    """Systematic factors, one row per scenario, standard normal (module docstring)."""

    national: np.ndarray  # (S,)
    province: np.ndarray  # (S, n_provinces)   house prices / recovery side, columns = provinces
    court: np.ndarray  # (S, n_provinces)   court backlog / timing side
    collateral: np.ndarray  # (S, n_collateral)  columns = collateral_types
    industry: np.ndarray  # (S, n_industries)  columns = industries
    provinces: tuple[str, ...]
    collateral_types: tuple[str, ...]
    industries: tuple[str, ...]

    @property
    def n_scenarios(self) -> int:
        return len(self.national)


_KINDS = {"national": 1, "province": 2, "court": 3, "collateral": 4, "industry": 5}


def _stream(n: int, seed: int, kind: str, name: str) -> np.ndarray:
    """n standard normals from the stream of (seed, kind, name): independent of every other factor's list."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, _KINDS[kind], zlib.crc32(name.encode("utf-8"))])
    return np.random.default_rng(ss).standard_normal(n)


def _columns(n: int, seed: int, kind: str, names: tuple[str, ...]) -> np.ndarray:
    out = np.empty((n, len(names)))
    for j, name in enumerate(names):  # one stream per name (tens of names, not assets)
        out[:, j] = _stream(n, seed, kind, name)
    return out


def draw_factors(
    n_scenarios: int,
    seed: int,
    *,
    provinces,
    collateral_types,
    industries,
    params: FactorParameters = DEFAULT_FACTORS,
) -> FactorDraws:
    """Draw the systematic factors for ``n_scenarios`` scenarios, deterministically for a seed.

    Parameters
    ----------
    n_scenarios
        S ≥ 1.
    seed
        Seed; the same seed and names give identical draws. Each column comes from its own stream keyed by
        (seed, factor kind, name), so a province's draws do not depend on the other names listed.
    provinces, collateral_types, industries
        Names of the factor columns (duplicates removed, order kept).
    params
        Unused by the draws themselves (all factors are standard normal); accepted so callers pass one table.

    Returns
    -------
    FactorDraws
    """
    if int(n_scenarios) != n_scenarios or n_scenarios < 1:
        raise InputError(f"n_scenarios must be a whole number ≥ 1, got {n_scenarios}")
    n = int(n_scenarios)

    def names(values) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(v) for v in values))

    prov, coll, ind = names(provinces), names(collateral_types), names(industries)
    return FactorDraws(
        national=_stream(n, seed, "national", ""),
        province=_columns(n, seed, "province", prov),
        court=_columns(n, seed, "court", prov),
        collateral=_columns(n, seed, "collateral", coll),
        industry=_columns(n, seed, "industry", ind),
        provinces=prov,
        collateral_types=coll,
        industries=ind,
    )


def draws_for(assets: pd.DataFrame, n_scenarios: int, seed: int,
              params: FactorParameters = DEFAULT_FACTORS) -> FactorDraws:
    """:func:`draw_factors` with the provinces, collateral types and industries present in ``assets`` (sorted)."""
    return draw_factors(
        n_scenarios, seed,
        provinces=sorted(_strings(assets, "province").unique()),
        collateral_types=sorted(_strings(assets, "collateral_type").unique()),
        industries=sorted(_strings(assets, "industry").unique()),
        params=params,
    )


def _strings(assets: pd.DataFrame, column: str) -> pd.Series:
    if column not in assets.columns:
        if column == "industry":
            return pd.Series([""] * len(assets), index=assets.index)
        raise InputError(f"factor model: the asset frame has no {column!r} column")
    return assets[column].astype(str)


def segment_key(assets: pd.DataFrame) -> np.ndarray:
    """Segment of every asset: ``province + "|" + collateral_type`` (str array, one entry per row)."""
    return (_strings(assets, "province") + "|" + _strings(assets, "collateral_type")).to_numpy(dtype=str)


def _index_of(values: pd.Series, names: tuple[str, ...], what: str) -> np.ndarray:
    lookup = pd.Index(names)
    idx = lookup.get_indexer(values)
    if (idx < 0).any():
        missing = sorted(set(values[idx < 0]))
        raise InputError(f"factor draws have no {what} column for {missing[:5]}")
    return idx


def class_values(assets: pd.DataFrame, table: Mapping[str, float], what: str) -> np.ndarray:
    """``table[asset_type]`` per row (InputError naming the unknown asset types)."""
    types = _strings(assets, "asset_type")
    uniques = types.unique()
    unknown = [u for u in uniques if u not in table]
    if unknown:
        raise InputError(f"factor model {what}: no value for asset_type {unknown}; known: {sorted(table)}")
    return types.map(dict(table)).to_numpy(dtype=float)


def recovery_multipliers(
    assets: pd.DataFrame,
    draws: FactorDraws,
    params: FactorParameters = DEFAULT_FACTORS,
    *,
    idiosyncratic: bool = False,
    seed: int = 0,
) -> np.ndarray:
    r"""Per-asset recovery multipliers :math:`M_{s,i}` (S, n_assets) — for small inputs and tests only.

    This builds a scenarios × assets array; the Monte Carlo sizer and the tail objective never call it, they work
    on segment totals (:func:`segment_npv_multipliers`). Systematic part as in the module docstring; with
    ``idiosyncratic`` each obligor group (``group_id``, else ``obligor_id``, else the row) gets its own lognormal
    factor :math:`\exp(\eta_k\epsilon_o - \eta_k^2/2)` drawn from ``seed`` (the same for every asset of the group,
    with the group's gbv-weighted :math:`\eta`). Mean 1 over scenarios.
    """
    a = params.loadings
    p = _index_of(_strings(assets, "province"), draws.provinces, "province")
    c = _index_of(_strings(assets, "collateral_type"), draws.collateral_types, "collateral_type")
    j = _index_of(_strings(assets, "industry"), draws.industries, "industry")
    z = (a[0] * draws.national[:, None] + a[1] * draws.province[:, p] + a[2] * draws.collateral[:, c]
         + a[3] * draws.industry[:, j])
    sigma = class_values(assets, params.class_volatility, "class_volatility")
    out = np.exp(sigma[None, :] * z - 0.5 * sigma[None, :] ** 2)
    if idiosyncratic:
        key = "group_id" if "group_id" in assets.columns else "obligor_id" if "obligor_id" in assets.columns else None
        groups = (pd.factorize(assets[key].astype(str))[0] if key else np.arange(len(assets)))
        eta = class_values(assets, params.idiosyncratic_volatility, "idiosyncratic_volatility")
        gbv = assets["gbv"].to_numpy(dtype=float) if "gbv" in assets.columns else np.ones(len(assets))
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        weight = np.bincount(groups, weights=gbv, minlength=n_groups)
        eta_g = np.divide(np.bincount(groups, weights=gbv * eta, minlength=n_groups), weight,
                          out=np.bincount(groups, weights=eta, minlength=n_groups)
                          / np.maximum(np.bincount(groups, minlength=n_groups), 1),
                          where=weight > 0)
        eps = np.random.default_rng(seed).standard_normal((draws.n_scenarios, n_groups))
        out = out * np.exp(eta_g[None, :] * eps - 0.5 * eta_g[None, :] ** 2)[:, groups]
    return out


@dataclass(frozen=True)
class SegmentIndex:
    """Systematic recovery index of segments: Z (S, G), its variance v (G,) and the segments' volatility (G,)."""

    z: np.ndarray
    variance: np.ndarray
    sigma: np.ndarray


def segment_index(
    province: np.ndarray,
    collateral: np.ndarray,
    industry_shares: np.ndarray,
    draws: FactorDraws,
    params: FactorParameters = DEFAULT_FACTORS,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Systematic index :math:`Z_{s,g}` (S, G) and its variance :math:`v_g` (G,) of G segments.

    ``province`` / ``collateral`` (G,) are column indices into ``draws``; ``industry_shares`` (G, n_industries)
    the gbv shares :math:`w_{g,j}` of the draws' industries in each segment (rows sum to 1).
    """
    a = params.loadings
    z = (a[0] * draws.national[:, None] + a[1] * draws.province[:, province] + a[2] * draws.collateral[:, collateral]
         + a[3] * (draws.industry @ industry_shares.T))
    variance = a[0] ** 2 + a[1] ** 2 + a[2] ** 2 + a[3] ** 2 * (industry_shares ** 2).sum(axis=1)
    return z, variance


def industry_shares(codes: np.ndarray, industry: np.ndarray, weight: np.ndarray, n_codes: int,
                    n_industries: int) -> np.ndarray:
    """(n_codes, n_industries) shares of ``weight`` by industry within each code (uniform where a code weighs 0)."""
    mat = np.bincount(codes * n_industries + industry, weights=weight,
                      minlength=n_codes * n_industries).reshape(n_codes, n_industries)
    counts = np.bincount(codes * n_industries + industry, minlength=n_codes * n_industries
                         ).reshape(n_codes, n_industries).astype(float)
    total = mat.sum(axis=1, keepdims=True)
    mat = np.where(total > 0, mat / np.where(total > 0, total, 1.0), counts / np.maximum(counts.sum(axis=1,
                                                                                                 keepdims=True), 1))
    return mat


def segment_npv_multipliers(
    assets: pd.DataFrame,
    draws: FactorDraws,
    params: FactorParameters = DEFAULT_FACTORS,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Systematic multiplier of the npv of every asset in each segment, per scenario.

    Segment = :func:`segment_key` (province | collateral_type). With the segment's index :math:`Z_{s,g}` (industry
    factors mixed by the segment's gbv shares, variance :math:`v_g`) and :math:`\sigma_g` the gbv-weighted
    ``class_volatility`` of its assets,

    .. math::  M_{s,g} = \exp\bigl(\sigma_g Z_{s,g} - \tfrac12 \sigma_g^2 v_g\bigr), \qquad \mathbb{E}[M_{s,g}] = 1.

    Timing is not in it (a multiplier of the recovery, applied to npv); idiosyncratic noise neither (it averages
    out over a segment's obligor groups, see :func:`idiosyncratic_variance`). Cost: one pass over the assets plus
    O(S × G); never S × n_assets.

    Parameters
    ----------
    assets
        province, collateral_type, asset_type, gbv and (optionally) industry columns.
    draws
        :func:`draw_factors` covering the assets' provinces, collateral types and industries.
    params
        The parameter table.

    Returns
    -------
    segments : numpy.ndarray
        (G,) str, sorted.
    multipliers : numpy.ndarray
        (S, G) float.
    """
    keys = segment_key(assets)
    codes, segments = pd.factorize(pd.Series(keys), sort=True)
    segments = np.asarray(segments, dtype=str)
    G = len(segments)
    gbv = assets["gbv"].to_numpy(dtype=float)
    p = _index_of(_strings(assets, "province"), draws.provinces, "province")
    c = _index_of(_strings(assets, "collateral_type"), draws.collateral_types, "collateral_type")
    j = _index_of(_strings(assets, "industry"), draws.industries, "industry")
    first = np.full(G, -1)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # any row of each segment: its province / collateral
    shares = industry_shares(codes, j, gbv, G, len(draws.industries))
    sigma_i = class_values(assets, params.class_volatility, "class_volatility")
    weight = np.bincount(codes, weights=gbv, minlength=G)
    plain = np.bincount(codes, weights=sigma_i, minlength=G) / np.maximum(np.bincount(codes, minlength=G), 1)
    sigma = np.divide(np.bincount(codes, weights=gbv * sigma_i, minlength=G), weight, out=plain, where=weight > 0)
    z, variance = segment_index(p[first], c[first], shares, draws, params)
    return segments, np.exp(sigma[None, :] * z - 0.5 * (sigma ** 2 * variance)[None, :])


def idiosyncratic_variance(recovery: np.ndarray, eta: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    r"""Variance :math:`V_g` of the idiosyncratic factor of each code's total (mean 1):

    .. math::  V_g = \frac{\sum_{o \in g} R_o^2\,(e^{\eta_o^2} - 1)}{\bigl(\sum_{o \in g} R_o\bigr)^2}

    ``recovery`` (n,) :math:`R_o` per obligor group (or group × segment piece), ``eta`` (n,) its volatility,
    ``codes`` (n,) its segment in 0..n_codes-1. 0 for a segment that recovers nothing.
    """
    num = np.bincount(codes, weights=recovery ** 2 * np.expm1(eta ** 2), minlength=n_codes)
    den = np.bincount(codes, weights=recovery, minlength=n_codes) ** 2
    return np.divide(num, den, out=np.zeros(n_codes), where=den > 0)


def delay_index(draws: FactorDraws, province: np.ndarray, params: FactorParameters = DEFAULT_FACTORS) -> np.ndarray:
    r"""Timing index :math:`T_{s,p} = \max(0, -b_N N_s + b_J J_{s,p})` (S, len(province)); delay = τ_k · T."""
    b = params.timing_loadings
    return np.maximum(0.0, -b[0] * draws.national[:, None] + b[1] * draws.court[:, province])
