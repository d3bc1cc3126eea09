r"""A known data-generating process for resolved-asset histories (test and benchmark fixture).

The process is deliberately *not* of the calibrated model's form, so that a test of recovery is a test of the
method and not of a tautology:

* recovery rate: a nonlinear, capped function of collateral coverage (:math:`\min(cov, 1.3)^{0.8}`), an
  asset type × collateral interaction, a lien haircut, age decay, legal / region / industry factors, and a
  multiplicative noise that is *correlated with resolution time* (fast resolvers recover more: the
  within-asset multiplier is :math:`1.3 - 0.6\,U` with :math:`U = F(T)` the resolution time's own quantile), so
  that ignoring censoring biases the rate as well as the timing;
* resolution time: Weibull with a shape that differs by legal status (1.0 to 1.6) and a scale set by legal status,
  province court speed, asset type and age;
* data cut-off: assets valued in the last years are still open at the cut-off (right-censored); their
  ``recovered`` is a partial collection.

Every asset also carries its truth: ``true_rate`` (the lifetime rate it eventually realises, also when open at the
cut-off) and ``true_mean_months`` (the mean of its resolution-time distribution).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from pooling import vocab

CUTOFF = date(2025, 12, 31)
DAYS_PER_MONTH = 30.4375

#: Mean months to resolution and Weibull shape by legal status at valuation.
MEAN_MONTHS = {"pre_litigation": 30.0, "litigation": 38.0, "judgment": 26.0, "enforcement": 18.0,
               "enforcement_terminated": 60.0, "bankruptcy": 52.0, "settled": 10.0}
SHAPE = {"pre_litigation": 1.3, "litigation": 1.4, "judgment": 1.3, "enforcement": 1.6,
         "enforcement_terminated": 1.0, "bankruptcy": 1.2, "settled": 1.5}
LEGAL_SHARE = {"pre_litigation": 0.25, "litigation": 0.25, "judgment": 0.12, "enforcement": 0.14,
               "enforcement_terminated": 0.08, "bankruptcy": 0.06, "settled": 0.10}
LEGAL_RATE = {"pre_litigation": 1.0, "litigation": 1.0, "judgment": 1.05, "enforcement": 1.15,
              "enforcement_terminated": 0.45, "bankruptcy": 0.7, "settled": 1.25}
#: Court speed (> 1 faster) and rate factor by province; provinces not listed: speed 1, factor 1.
COURT_SPEED = {"CN-SH": 1.5, "CN-ZJ": 1.4, "CN-JS": 1.3, "CN-BJ": 1.3, "CN-GD": 1.2, "CN-SD": 1.0, "CN-SC": 0.9,
               "CN-HB": 0.9, "CN-HA": 0.8, "CN-LN": 0.65, "CN-HL": 0.55, "CN-GS": 0.6}
REGION_RATE = {"CN-SH": 1.1, "CN-ZJ": 1.1, "CN-JS": 1.05, "CN-LN": 0.85, "CN-HL": 0.8, "CN-GS": 0.8}
PROVINCE_SHARE = {"CN-GD": 0.14, "CN-ZJ": 0.12, "CN-JS": 0.11, "CN-SD": 0.09, "CN-SH": 0.07, "CN-BJ": 0.06,
                  "CN-SC": 0.07, "CN-HB": 0.06, "CN-HA": 0.07, "CN-LN": 0.07, "CN-HL": 0.07, "CN-GS": 0.07}
TYPE_SHARE = {"corporate": 0.35, "sme": 0.2, "retail_mortgage": 0.15, "retail_consumer": 0.1,
              "credit_card": 0.12, "distressed_bond": 0.03, "repossessed": 0.05}
TYPE_TIME = {"corporate": 1.15, "sme": 1.0, "retail_mortgage": 0.9, "retail_consumer": 0.8, "credit_card": 0.7,
             "distressed_bond": 1.3, "repossessed": 0.8}
BASE_RATE = {"corporate": 0.15, "sme": 0.12, "retail_mortgage": 0.02, "retail_consumer": 0.12, "credit_card": 0.14,
             "distressed_bond": 0.22, "repossessed": 0.0}
COLLATERAL_BY_TYPE = {
    "corporate": {"commercial": 0.25, "industrial": 0.2, "land": 0.1, "equipment": 0.1, "receivables": 0.05,
                  "equity_pledge": 0.05, "guarantee_only": 0.15, "unsecured": 0.1},
    "sme": {"commercial": 0.25, "residential": 0.15, "industrial": 0.1, "equipment": 0.1, "guarantee_only": 0.25,
            "unsecured": 0.15},
    "retail_mortgage": {"residential": 1.0},
    "retail_consumer": {"unsecured": 0.8, "guarantee_only": 0.2},
    "credit_card": {"unsecured": 1.0},
    "distressed_bond": {"unsecured": 0.6, "guarantee_only": 0.4},
    "repossessed": {"residential": 0.4, "commercial": 0.4, "industrial": 0.2},
}
COLLATERAL_RATE = {"residential": 0.62, "commercial": 0.45, "industrial": 0.33, "land": 0.38, "equipment": 0.16,
                   "receivables": 0.14, "equity_pledge": 0.2, "guarantee_only": 0.07, "unsecured": 0.0}
INDUSTRY_RATE = {"C": 0.95, "E": 0.9, "F": 1.0, "K": 1.1, "G": 1.0, "L": 1.0, "T": 1.0}
LIEN_RATE = {1: 1.0, 2: 0.45, 3: 0.2}


def _pick(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=float)
    return np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def _lookup(table: dict, values: np.ndarray, default: float = 1.0) -> np.ndarray:
    uniques, codes = np.unique(values.astype(str), return_inverse=True)
    return np.array([table.get(u, default) for u in uniques], dtype=float)[codes]


def make_history(n: int, *, seed: int = 0, cutoff: date = CUTOFF, years: float = 8.0) -> pd.DataFrame:
    """A canonical history frame of ``n`` assets from the known process (plus truth columns).

    Parameters
    ----------
    n
        Number of assets.
    seed
        RNG seed; the same seed gives the same frame.
    cutoff
        Data cut-off: assets not resolved by then are open.
    years
        valued_on is uniform over the ``years`` before the cut-off (minus one month).

    Returns
    -------
    pandas.DataFrame
        The canonical history columns, plus ``true_rate``, ``true_mean_months`` and ``true_months`` (the realised
        resolution time, also for open assets).
    """
    rng = np.random.default_rng(seed)
    cut = pd.Timestamp(cutoff)
    span_days = years * 365.25 - DAYS_PER_MONTH
    valued_on = cut - pd.to_timedelta(np.round(DAYS_PER_MONTH + rng.random(n) * span_days), unit="D")
    age = rng.gamma(2.0, 0.9, n)  # years since default at valuation
    default_date = valued_on - pd.to_timedelta(np.round(age * 365.25), unit="D")
    age = (valued_on - default_date).to_numpy(dtype="timedelta64[s]").astype(float) / 86400 / 365.25

    asset_type = _pick(rng, TYPE_SHARE, n)
    collateral = np.empty(n, dtype=object)
    for a, mix in COLLATERAL_BY_TYPE.items():  # a loop over 7 types, not over assets
        rows = asset_type == a
        collateral[rows] = _pick(rng, mix, int(rows.sum()))
    secured = ~np.isin(collateral, list(vocab.UNSECURED_COLLATERAL))
    legal = _pick(rng, LEGAL_SHARE, n)
    province = _pick(rng, PROVINCE_SHARE, n)
    retail = np.isin(asset_type, ["retail_mortgage", "retail_consumer", "credit_card"])
    industry = np.where(retail, "T", _pick(rng, {"C": 0.3, "E": 0.15, "F": 0.25, "K": 0.15, "G": 0.1, "L": 0.05}, n))

    gbv = np.round(np.where(retail, rng.lognormal(11.5, 0.8, n), rng.lognormal(15.0, 1.1, n)), 2)
    coverage = np.where(secured, rng.lognormal(math.log(0.75), 0.55, n), np.nan)
    appraisal = coverage * gbv
    appraisal[secured & (rng.random(n) < 0.12)] = np.nan  # missing appraisals
    lien = np.where(secured, rng.choice([1.0, 2.0, 3.0], size=n, p=[0.75, 0.2, 0.05]), np.nan)

    # ---- resolution time: Weibull by legal status, scale by court speed, asset type and age
    mean = (_lookup(MEAN_MONTHS, legal) / _lookup(COURT_SPEED, province) * _lookup(TYPE_TIME, asset_type)
            * (1.0 + 0.06 * np.minimum(age, 6.0)))
    shape = _lookup(SHAPE, legal)
    scale = mean / np.exp(np.vectorize(math.lgamma)(1.0 + 1.0 / shape))
    u = rng.random(n)
    months = scale * (-np.log1p(-u)) ** (1.0 / shape)

    # ---- lifetime recovery rate: nonlinear coverage, interactions, noise correlated with time
    cov_term = np.where(secured, np.minimum(np.nan_to_num(coverage), 1.3) ** 0.8, 1.0)
    lien_f = np.where(secured, _lookup(LIEN_RATE, np.nan_to_num(lien, nan=1.0).astype(int)), 1.0)
    interaction = np.where((asset_type == "sme") & (collateral == "residential"), 1.25, 1.0)
    interaction *= np.where((asset_type == "corporate") & (collateral == "land"), 0.8, 1.0)
    decay = np.where(secured, 0.12, 0.32)
    mean_rate = ((_lookup(BASE_RATE, asset_type) + _lookup(COLLATERAL_RATE, collateral) * cov_term * lien_f)
                 * interaction * np.exp(-decay * age) * _lookup(LEGAL_RATE, legal)
                 * _lookup(REGION_RATE, province) * _lookup(INDUSTRY_RATE, industry))
    timing_mult = 1.3 - 0.6 * u
    noise = rng.gamma(6.0, 1.0 / 6.0, n)
    true_rate = np.clip(mean_rate * timing_mult * noise, 0.0, 1.0)

    # ---- censoring at the cut-off
    follow = (cut - valued_on).to_numpy(dtype="timedelta64[s]").astype(float) / 86400 / DAYS_PER_MONTH
    resolved = months <= follow
    resolved_on = valued_on + pd.to_timedelta(np.round(months * DAYS_PER_MONTH), unit="D")
    resolved_on = resolved_on.where(resolved & (resolved_on <= cut), cut)
    resolved_on = pd.Series(resolved_on).where(resolved)
    partial = true_rate * np.minimum(follow / np.maximum(months, 1e-9), 1.0) * 0.3
    recovered = np.round(np.where(resolved, true_rate, partial) * gbv, 2)
    resolution = np.where(resolved, _pick(rng, {"settled": 0.3, "auction": 0.35, "transfer": 0.2,
                                                "restructuring": 0.05, "write_off": 0.1}, n), "open")

    def cat(values: np.ndarray, categories) -> pd.Categorical:
        return pd.Categorical(values, categories=list(categories))

    frame = pd.DataFrame({
        "amc_id": np.where(rng.random(n) < 0.6, "NAT", "ZJ"),
        "asset_id": [f"H{i:07d}" for i in range(n)],
        "obligor_id": [f"O{i:07d}" for i in range(n)],
        "gbv": gbv,
        "principal": np.round(gbv * 0.7, 2),
        "asset_type": cat(asset_type, vocab.ASSET_TYPES),
        "collateral_type": cat(collateral, vocab.COLLATERAL_TYPES),
        "legal_status": cat(legal, vocab.LEGAL_STATUSES),
        "province": cat(province, vocab.PROVINCES["code"]),
        "industry": cat(industry, vocab.INDUSTRY_SECTIONS),
        "default_date": pd.DatetimeIndex(default_date).as_unit("ns"),
        "collateral_value": appraisal,
        "lien_rank": lien,
        "book_value": np.round(gbv * 0.3, 2),
        "valued_on": pd.DatetimeIndex(valued_on).as_unit("ns"),
        "recovered": recovered,
        "resolved_on": pd.to_datetime(resolved_on.to_numpy()).as_unit("ns"),
        "costs": np.nan,
        "resolution": resolution,
        "predicted_recovery": np.nan,
        "predicted_months": np.nan,
        "source_file": "history.csv",
        "source_row": np.arange(2, n + 2),
        "true_rate": true_rate,
        "true_mean_months": mean,
        "true_months": months,
    })
    return frame
