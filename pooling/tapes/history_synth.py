"""Synthetic history tapes: years of valued assets, their outcomes, and a cut-off that leaves recent ones open.

This is the demo's data-generating process for calibration and backtesting (DESIGN §4). The assets are drawn
exactly as the demo loan tapes are (:mod:`pooling.tapes.synth`: same AMCs, borrower segments, province mix,
balances, collateral, liens, age and legal status), each described *as it was at* its ``valued_on``; then an
outcome is drawn from the process below. :func:`true_rate` and :func:`true_mean_months` return the process's
expected lifetime recovery rate and expected months to resolution for any canonical frame, so tests can compare
a calibrated model with the truth. One ``numpy.random.Generator`` seeded with ``[seed, 11]`` (a stream apart
from :func:`~pooling.tapes.synth.synth_tapes`'s) draws everything in a fixed order; no per-asset Python loop.

The process
-----------
**Vintages.** ``valued_on`` is spread over [start, cutoff] with a linearly rising density (the last day twice as
likely as the first: AMC acquisitions grew), and ``default_date = valued_on − age`` with the tape's age since
default (0.3–9 years; retail packs older).

**Lifetime recovery rate** (gross collections / gbv). A location

.. math::

    m = b \\cdot e^{-\\lambda\\, a} \\cdot L_{\\text{legal}} \\cdot G_{\\text{province}} \\cdot I_{\\text{industry}},
    \\qquad m \\in [0.003, 0.92]

where :math:`a` is the age since default in years at valued_on and the base :math:`b` is, for secured claims,
:math:`s + 0.05(1 - s)` with :math:`s = \\min(c\\cdot A_{\\text{collateral}}\\cdot \\ell_{\\text{lien}}, 0.92)`
(:math:`c` = collateral_value / gbv, :math:`A` the recovery share of appraisal: residential 0.58, commercial 0.46,
industrial 0.38, land 0.40, equipment 0.18, receivables 0.22, equity pledge 0.26; lien factor 1, 0.5, 0.25 for
ranks 1, 2, ≥3), and for unsecured claims a base by type (credit card 0.30, retail consumer 0.32, corporate /
SME guarantee-only 0.24, corporate / SME unsecured 0.18, distressed bond 0.45, others 0.18). Decay
:math:`\\lambda`: 0.10 secured, 0.15 retail unsecured, 0.15 bonds, 0.28 other unsecured (market: 0.10–0.20
secured, 0.25–0.40 unsecured). Legal factor L: pre-litigation 1.0, litigation 1.0, judgment 1.05, enforcement
1.10, enforcement terminated 0.55, bankruptcy 0.70, settled 1.30. Region factor G and court speed: see
:data:`COURTS`. Industry factor I (companies only): real estate K 0.90, mining B 0.90, construction E 0.92,
wholesale/retail F 0.97, utilities D 1.08, IT I 1.05, others 1.

The realised rate is zero with probability :math:`p_0` (credit card 0.30, retail consumer 0.25, other unsecured
0.20, guarantee-only 0.12, distressed bond 0.10, secured 0.03; +0.15 when enforcement was terminated), else
logit-normal :math:`r = \\operatorname{expit}(\\operatorname{logit} m + \\sigma w)`, :math:`w \\sim N(0,1)`,
:math:`\\sigma` = 0.6 secured, 0.9 unsecured. So

.. math:: E[r] = (1 - p_0)\\, E_w[\\operatorname{expit}(\\operatorname{logit} m + \\sigma w)]

which :func:`true_rate` evaluates by 24-point Gauss–Hermite quadrature. Levels land in the market ranges of the
reference data: credit card ~7–14%, corporate unsecured ~9–11%, residential mortgage ~39–45%, corporate (≈70%
secured) ~28–31%.

**Time to resolution** (months from valued_on):

.. math::

    T = \\lambda_T \\, E^{1/k} \\, e^{-\\gamma w - \\gamma^2/2}, \\quad E \\sim \\text{Exp}(1), \\; k = 1.3,
    \\; \\gamma = 0.35, \\qquad E[T] = \\lambda_T\\, \\Gamma(1 + 1/k)

a Weibull with a lognormal frailty shared with the rate's :math:`w`: assets that recover more resolve faster
(quick settlements; long cases end in terminated enforcement), which is why a fit on resolved assets only is
biased. :math:`\\lambda_T = M_{\\text{legal}} / (\\ln 2)^{1/k} \\cdot S_{\\text{province}} \\cdot
K_{\\text{type}}` with median months by legal stage at valuation M: pre-litigation 30, litigation 26, judgment 20,
enforcement 15, enforcement terminated 40, bankruptcy 42, settled 9; court speed S (:data:`COURTS`); type factor
K: corporate 1.0, SME 0.9, mortgage 1.0, consumer 0.75, credit card 0.70, distressed bond 1.3, repossessed 0.8.

**Outcome at the cut-off.** Resolved when ``valued_on + T ≤ cutoff``: ``recovered = r · gbv``, ``resolved_on =
valued_on + T``, resolution ``write_off`` when r < 2%, else settled / auction / transfer / restructuring with
probabilities by legal stage and collateral (auctions for secured claims in judgment or enforcement,
restructuring in bankruptcy, settlements and transfers for retail packs). Open otherwise (right-censored):
``resolved_on`` empty, resolution ``open``, ``recovered = r · gbv · (e/T)^κ`` — collections so far over the
elapsed share e/T of the case, κ = 1 for retail unsecured packs (steady collections), 2 otherwise (cash arrives
with the sale at the end). Costs: legal costs min(1% gbv, ¥5万) for litigated assets plus a share of collections
(settled 3%, auction 7%, transfer 1%, restructuring 4%; outsourced retail collection 20%: market 15–30%).

**AMC predictions.** AMCs that carry their own valuation (``AMCSpec.tape_values``) supply ``predicted_recovery``
= E[r] · gbv · o · ε with an AMC optimism o ~ U(1.10, 1.20) and ε lognormal (σ 0.3, mean 1), and
``predicted_months`` = E[T] · U(0.75, 0.90) · lognormal(σ 0.25): optimistic on both level and speed, so the
backtest has something to find. Costs are not tracked by plain-CSV local AMCs (the column is absent).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pooling import vocab
from pooling.tapes.headers import first_history_chinese_header
from pooling.tapes.synth import (
    _ZH_LABELS,
    FORMATS,
    AMCSpec,
    _categorical,
    _check_specs,
    _draw_assets,
    _draw_slots,
    _ids,
    _obligor_ids,
    _share_borrowers,
    _split,
    demo_amcs,
    write_file,
)

__all__ = ["COURTS", "DEFAULT_START", "synth_history", "true_mean_months", "true_rate", "write_history"]

#: Default first valuation date of ``pooling synth --history``.
DEFAULT_START = dt.date(2016, 1, 1)

#: Court speed and regional recovery by province: (months multiplier S, recovery multiplier G). Fast commercial
#: courts and liquid property markets on the coast (Shanghai, Zhejiang, Jiangsu, Beijing, Guangdong); slower
#: enforcement and thinner markets in the north-east (Liaoning, Jilin, Heilongjiang) and the west.
COURTS: dict[str, tuple[float, float]] = {
    "CN-SH": (0.70, 1.10), "CN-ZJ": (0.72, 1.10), "CN-JS": (0.78, 1.08), "CN-BJ": (0.78, 1.08),
    "CN-GD": (0.80, 1.06), "CN-FJ": (0.85, 1.04), "CN-TJ": (0.88, 1.03), "CN-SD": (0.90, 1.02),
    "CN-AH": (0.95, 1.00), "CN-HB": (0.95, 1.00), "CN-HN": (1.00, 1.00), "CN-HA": (1.00, 0.99),
    "CN-JX": (1.00, 0.99), "CN-CQ": (1.00, 1.00), "CN-SC": (1.05, 0.98), "CN-HE": (1.05, 0.98),
    "CN-SN": (1.05, 0.97), "CN-SX": (1.10, 0.95), "CN-HI": (1.10, 0.97), "CN-GX": (1.15, 0.94),
    "CN-YN": (1.20, 0.92), "CN-GZ": (1.20, 0.92), "CN-NM": (1.25, 0.88), "CN-NX": (1.25, 0.88),
    "CN-LN": (1.30, 0.88), "CN-JL": (1.35, 0.86), "CN-GS": (1.35, 0.86), "CN-HL": (1.40, 0.85),
    "CN-QH": (1.40, 0.85), "CN-XJ": (1.40, 0.85), "CN-XZ": (1.50, 0.82),
}  # fmt: skip

_PROV = vocab.PROVINCES["code"].tolist()
_COURT_S = np.array([COURTS[c][0] for c in _PROV])
_REGION_G = np.array([COURTS[c][1] for c in _PROV])
_AT = {name: i for i, name in enumerate(vocab.ASSET_TYPES)}
_CT = {name: i for i, name in enumerate(vocab.COLLATERAL_TYPES)}
_LS = {name: i for i, name in enumerate(vocab.LEGAL_STATUSES)}
_N_SECURED = _CT["guarantee_only"]

_APPRAISAL = np.array([0.58, 0.46, 0.38, 0.40, 0.18, 0.22, 0.26])  # secured collateral types, vocab order
_LIEN = np.array([1.0, 0.5, 0.25])
_UNSECURED_BASE = {"credit_card": 0.30, "retail_consumer": 0.32, "distressed_bond": 0.45}
_GUARANTEE_BASE, _OTHER_UNSECURED_BASE = 0.24, 0.18
_LEGAL_RATE = np.array([1.0, 1.0, 1.05, 1.10, 0.55, 0.70, 1.30])
_INDUSTRY_RATE = {"K": 0.90, "B": 0.90, "E": 0.92, "F": 0.97, "D": 1.08, "I": 1.05}
_P0 = {"credit_card": 0.30, "retail_consumer": 0.25, "distressed_bond": 0.10}
_P0_GUARANTEE, _P0_OTHER_UNSECURED, _P0_SECURED, _P0_TERMINATED = 0.12, 0.20, 0.03, 0.15
_SIGMA_SECURED, _SIGMA_UNSECURED = 0.6, 0.9
_MEDIAN_MONTHS = np.array([30.0, 26.0, 20.0, 15.0, 40.0, 42.0, 9.0])  # by legal stage at valuation
_TYPE_MONTHS = np.array([1.0, 0.9, 1.0, 0.75, 0.70, 1.3, 0.8])  # vocab.ASSET_TYPES order
_WEIBULL_K = 1.3
_FRAILTY = 0.35  # γ: coupling of time to resolution and recovery
_WRITE_OFF_BELOW = 0.02
_RESOLVED = ("settled", "auction", "transfer", "restructuring")
# Resolution probabilities (settled, auction, transfer, restructuring) by outcome group, see _resolution_group.
_RESOLUTION_MIX = np.array(
    [
        [0.20, 0.60, 0.15, 0.05],  # secured, judgment or enforcement
        [0.10, 0.30, 0.20, 0.40],  # bankruptcy
        [0.90, 0.00, 0.05, 0.05],  # already settled at valuation
        [0.75, 0.00, 0.25, 0.00],  # retail unsecured packs
        [0.45, 0.05, 0.30, 0.20],  # company unsecured, guarantee-only, bonds
        [0.45, 0.30, 0.20, 0.05],  # secured, before judgment
    ]
)
_COST_SHARE = {"settled": 0.03, "auction": 0.07, "transfer": 0.01, "restructuring": 0.04, "write_off": 0.0}
_RETAIL_COLLECTION_FEE = 0.20
_RESOLUTION_ZH = {"settled": "和解", "auction": "拍卖", "transfer": "转让", "restructuring": "重组", "write_off": "核销",
                  "open": "未结"}  # fmt: skip
_DAYS_PER_MONTH = 30.4375
_GH_X, _GH_W = np.polynomial.hermite.hermgauss(24)

#: Columns of the frame :func:`synth_history` returns (History.assets without source_file / source_row).
SYNTH_COLUMNS: tuple[str, ...] = (
    "amc_id", "asset_id", "obligor_id", "gbv", "principal", "asset_type", "collateral_type", "legal_status",
    "province", "industry", "default_date", "collateral_value", "lien_rank", "book_value", "valued_on",
    "recovered", "resolved_on", "costs", "resolution", "predicted_recovery", "predicted_months",
)  # fmt: skip


# ------------------------------------------------------------------------------------------------ the truth
def _codes(values: pd.Series, categories: list[str] | tuple[str, ...]) -> np.ndarray:
    codes = pd.Categorical(np.asarray(values, dtype=object), categories=list(categories)).codes.astype(np.int64)
    if (codes < 0).any():
        raise ValueError(f"values outside {list(categories)[:8]}...: {pd.unique(np.asarray(values)[codes < 0])[:5]}")
    return codes


def _process(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-asset parameters of the process: location m, dispersion σ, zero probability p0, Weibull scale λ_T."""
    at = _codes(frame["asset_type"], vocab.ASSET_TYPES)
    ct = _codes(frame["collateral_type"], vocab.COLLATERAL_TYPES)
    ls = _codes(frame["legal_status"], vocab.LEGAL_STATUSES)
    pv = _codes(frame["province"], _PROV)
    ind = np.asarray(frame["industry"], dtype=object)
    gbv = frame["gbv"].to_numpy(dtype=float)
    coverage = np.nan_to_num(frame["collateral_value"].to_numpy(dtype=float, na_value=np.nan) / gbv, nan=0.0)
    lien = np.nan_to_num(frame["lien_rank"].to_numpy(dtype=float, na_value=np.nan), nan=1.0)
    lien_i = np.clip(lien.astype(np.int64), 1, 3) - 1
    age = (
        (pd.to_datetime(frame["valued_on"]) - pd.to_datetime(frame["default_date"])).dt.days.to_numpy(dtype=float)
        / 365.25
    )
    age = np.maximum(age, 0.0)

    secured = ct < _N_SECURED
    guarantee = ct == _CT["guarantee_only"]
    retail_unsecured = ~secured & np.isin(at, [_AT["credit_card"], _AT["retail_consumer"]])
    bond = ~secured & (at == _AT["distressed_bond"])
    s = np.minimum(coverage * _APPRAISAL[np.minimum(ct, _N_SECURED - 1)] * _LIEN[lien_i], 0.92)
    unsecured_base = np.full(len(at), _OTHER_UNSECURED_BASE)
    unsecured_base[guarantee] = _GUARANTEE_BASE
    p0 = np.where(guarantee, _P0_GUARANTEE, _P0_OTHER_UNSECURED)
    for name, base in _UNSECURED_BASE.items():
        hit = (at == _AT[name]) & ~secured & ~guarantee if name != "distressed_bond" else bond
        unsecured_base[hit] = base
        p0 = np.where(hit, _P0[name], p0)
    base = np.where(secured, s + 0.05 * (1.0 - s), unsecured_base)
    p0 = np.where(secured, _P0_SECURED, p0) + np.where(ls == _LS["enforcement_terminated"], _P0_TERMINATED, 0.0)
    decay = np.select([secured, retail_unsecured | bond], [0.10, 0.15], 0.28)
    company = np.isin(at, [_AT["corporate"], _AT["sme"], _AT["distressed_bond"], _AT["repossessed"]])
    industry = pd.Series(ind).map(_INDUSTRY_RATE).fillna(1.0).to_numpy(dtype=float)
    industry = np.where(company, industry, 1.0)
    m = base * np.exp(-decay * age) * _LEGAL_RATE[ls] * _REGION_G[pv] * industry
    m = np.clip(m, 0.003, 0.92)
    sigma = np.where(secured, _SIGMA_SECURED, _SIGMA_UNSECURED)
    scale = _MEDIAN_MONTHS[ls] / math.log(2.0) ** (1.0 / _WEIBULL_K) * _COURT_S[pv] * _TYPE_MONTHS[at]
    kappa = np.where(retail_unsecured, 1.0, 2.0)
    return {"m": m, "sigma": sigma, "p0": p0, "scale": scale, "kappa": kappa, "secured": secured,
            "retail_unsecured": retail_unsecured, "at": at, "ls": ls}  # fmt: skip


def _expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def true_rate(frame: pd.DataFrame) -> np.ndarray:
    """Expected lifetime gross recovery rate (recovered / gbv) of each asset under the demo process.

    Parameters
    ----------
    frame : DataFrame
        Canonical columns asset_type, collateral_type, legal_status, province, industry, gbv, collateral_value,
        lien_rank, default_date and valued_on (the asset as it was at valued_on).

    Returns
    -------
    ndarray
        :math:`(1-p_0)\\,E_w[\\operatorname{expit}(\\operatorname{logit} m + \\sigma w)]` (module docstring), by
        24-point Gauss–Hermite quadrature.
    """
    p = _process(frame)
    loc = np.log(p["m"]) - np.log1p(-p["m"])
    nodes = math.sqrt(2.0) * _GH_X
    mean = np.zeros(len(loc))
    for x, w in zip(nodes, _GH_W, strict=True):  # 24 passes over the arrays, not a loop over assets
        mean += w * _expit(loc + p["sigma"] * x)
    return (1.0 - p["p0"]) * mean / math.sqrt(math.pi)


def true_mean_months(frame: pd.DataFrame) -> np.ndarray:
    """Expected months from valued_on to resolution, :math:`\\lambda_T\\,\\Gamma(1 + 1/k)` (module docstring).

    Same columns as :func:`true_rate` (only legal_status, province and asset_type are used).
    """
    return _process(frame)["scale"] * math.gamma(1.0 + 1.0 / _WEIBULL_K)


# ------------------------------------------------------------------------------------------------- drawing
def _vintages(rng: np.random.Generator, n: int, start: dt.date, cutoff: dt.date) -> np.ndarray:
    """valued_on dates on [start, cutoff] with density rising linearly to twice its starting value."""
    span = (cutoff - start).days
    g = 1.0
    u = rng.random(n)
    x = (-1.0 + np.sqrt(1.0 + 2.0 * g * u * (1.0 + g / 2.0))) / g
    days = np.minimum(np.floor(x * (span + 1)), span).astype("timedelta64[D]")
    return np.datetime64(start, "D") + days


def _resolution_group(p: dict[str, np.ndarray]) -> np.ndarray:
    ls, secured = p["ls"], p["secured"]
    return np.select(
        [
            ls == _LS["settled"],
            ls == _LS["bankruptcy"],
            secured & np.isin(ls, [_LS["judgment"], _LS["enforcement"], _LS["enforcement_terminated"]]),
            p["retail_unsecured"],
            ~secured,
        ],
        [2, 1, 0, 3, 4],
        5,
    )


def synth_history(
    amcs: list[AMCSpec] | None = None, *, n_assets: int, start: dt.date, cutoff: dt.date, seed: int
) -> pd.DataFrame:
    """Draw a history of valued assets and their outcomes up to ``cutoff`` (the process in the module docstring).

    Parameters
    ----------
    amcs : list of AMCSpec, optional
        The consortium (:func:`~pooling.tapes.synth.demo_amcs` when omitted); assets split by ``weight``.
    n_assets : int
        Number of historical assets over all AMCs.
    start, cutoff : datetime.date
        First valuation date and the data cut-off (valuations fall in [start, cutoff]; later outcomes are unseen).
    seed : int
        Seed; the same arguments give an identical frame.

    Returns
    -------
    DataFrame
        Columns :data:`SYNTH_COLUMNS` with the dtypes :func:`pooling.tapes.history.load_history` returns
        (categorical enums, float amounts, datetime64 dates, NaT/``"open"`` while open).

    Examples
    --------
    >>> h = synth_history(n_assets=2000, start=dt.date(2018, 1, 1), cutoff=dt.date(2026, 6, 30), seed=1)
    >>> len(h), bool(((h["resolution"] == "open") == h["resolved_on"].isna()).all())
    (2000, True)
    """
    amcs = demo_amcs() if amcs is None else amcs
    _check_specs(amcs)
    if n_assets < 1:
        raise ValueError(f"n_assets must be positive, got {n_assets}")
    if not start < cutoff:
        raise ValueError(f"start ({start}) must be before cutoff ({cutoff})")
    rng = np.random.default_rng([seed, 11])
    counts = _split(n_assets, np.array([a.weight for a in amcs]))
    slots = _draw_slots(rng, amcs, counts)
    _share_borrowers(rng, slots)
    a = _draw_assets(rng, amcs, slots, cutoff)
    ids, _ = _obligor_ids(rng, slots, 0)
    n = len(a.gbv)

    valued_on = _vintages(rng, n, start, cutoff)
    age_days = np.datetime64(cutoff, "D") - a.default_date
    secured = a.collateral < _N_SECURED
    frame = pd.DataFrame(
        {
            "amc_id": np.repeat(np.array([s.id for s in amcs], dtype=object), counts),
            "asset_id": np.concatenate(
                [_ids(f"{s.id}-H", np.arange(1, int(c) + 1), 7) for s, c in zip(amcs, counts, strict=True)]
            ),
            "obligor_id": ids[a.key],
            "gbv": a.gbv,
            "principal": a.principal,
            "asset_type": pd.Categorical.from_codes(a.asset_type, categories=list(vocab.ASSET_TYPES)),
            "collateral_type": pd.Categorical.from_codes(a.collateral, categories=list(vocab.COLLATERAL_TYPES)),
            "legal_status": pd.Categorical.from_codes(a.legal, categories=list(vocab.LEGAL_STATUSES)),
            "province": pd.Categorical.from_codes(a.prov, categories=_PROV),
            "industry": pd.Categorical.from_codes(a.ind, categories=list(vocab.INDUSTRY_SECTIONS)),
            "default_date": (valued_on - age_days).astype("datetime64[ns]"),
            "collateral_value": a.collateral_value,
            "lien_rank": np.where(secured, a.lien_rank, np.nan).astype(float),
            "book_value": a.book_value,
            "valued_on": valued_on.astype("datetime64[ns]"),
        }
    )

    p = _process(frame)
    rate_mean = true_rate(frame)
    mean_months = p["scale"] * math.gamma(1.0 + 1.0 / _WEIBULL_K)

    # Lifetime recovery: zero-inflated logit-normal; time: Weibull with a frailty shared with the rate.
    w = rng.standard_normal(n)
    zero = rng.random(n) < p["p0"]
    loc = np.log(p["m"]) - np.log1p(-p["m"])
    r = np.where(zero, 0.0, _expit(loc + p["sigma"] * w))
    e = rng.exponential(1.0, n)
    months = p["scale"] * e ** (1.0 / _WEIBULL_K) * np.exp(-_FRAILTY * w - _FRAILTY**2 / 2.0)
    months = np.maximum(months, 0.5)
    t_days = np.round(months * _DAYS_PER_MONTH).astype(np.int64)
    elapsed_days = (np.datetime64(cutoff, "D") - valued_on).astype(np.int64)
    resolved = t_days <= elapsed_days
    lifetime = r * a.gbv
    share = np.clip(elapsed_days / np.maximum(t_days, 1), 0.0, 1.0) ** p["kappa"]
    recovered = np.round(np.where(resolved, lifetime, lifetime * share), 2)
    resolved_on = np.where(resolved, valued_on + t_days.astype("timedelta64[D]"), np.datetime64("NaT"))

    method = np.array(_RESOLVED, dtype=object)[_categorical(rng, _RESOLUTION_MIX, _resolution_group(p))]
    method = np.where(r < _WRITE_OFF_BELOW, "write_off", method)
    resolution = np.where(resolved, method, "open")

    litigated = np.asarray(frame["legal_status"].cat.codes) >= _LS["litigation"]
    legal_costs = np.where(litigated, np.minimum(0.01 * a.gbv, 5.0e4), 0.0) * np.where(resolved, 1.0, share)
    fee = pd.Series(method).map(_COST_SHARE).to_numpy(dtype=float)
    fee = np.where(p["retail_unsecured"] & (method != "write_off"), _RETAIL_COLLECTION_FEE, fee)
    costs = np.round(legal_costs + fee * recovered, 2)

    predicts = np.repeat(np.array([s.tape_values for s in amcs]), counts)
    optimism = np.repeat(rng.uniform(1.10, 1.20, len(amcs)), counts)
    eps = rng.lognormal(-0.3**2 / 2.0, 0.3, n)
    pred_rate = np.minimum(rate_mean * optimism * eps, 0.95)
    pred_months = mean_months * rng.uniform(0.75, 0.90, n) * rng.lognormal(0.0, 0.25, n)
    frame["recovered"] = recovered
    frame["resolved_on"] = pd.to_datetime(resolved_on).astype("datetime64[ns]")
    frame["costs"] = costs
    frame["resolution"] = pd.array(resolution.astype(str), dtype="str")
    frame["predicted_recovery"] = np.where(predicts, np.round(pred_rate * a.gbv, 2), np.nan)
    frame["predicted_months"] = np.where(predicts, np.round(pred_months, 1), np.nan)
    frame["amc_id"] = frame["amc_id"].astype(str)
    frame["asset_id"] = frame["asset_id"].astype(str)
    frame["obligor_id"] = frame["obligor_id"].astype(str)
    return frame[list(SYNTH_COLUMNS)]


# ------------------------------------------------------------------------------------------------- writing
def _file_frame(frame: pd.DataFrame, spec: AMCSpec) -> pd.DataFrame:
    """One AMC's rows as the AMC would send them: its columns, Chinese headers and labels where its tape has them."""
    out = frame.loc[frame["amc_id"] == spec.id].reset_index(drop=True)
    out = out.drop(columns=[c for c in ("source_file", "source_row") if c in out])
    if not spec.tape_values:
        out = out.drop(columns=["predicted_recovery", "predicted_months"])
    if spec.kind == "local" and not spec.chinese:
        out = out.drop(columns=["costs"])
    out["lien_rank"] = pd.array(out["lien_rank"].to_numpy(dtype=float), dtype="Int64")
    for c in ("asset_type", "collateral_type", "legal_status", "province", "industry", "resolution"):
        out[c] = out[c].astype(str)
    if spec.chinese:
        for column, labels in _ZH_LABELS.items():
            out[column] = out[column].map(labels).astype(str)
        out["resolution"] = out["resolution"].map(_RESOLUTION_ZH).astype(str)
        out = out.rename(columns=first_history_chinese_header())
    return out


def write_history(frame: pd.DataFrame, amcs: list[AMCSpec] | None, out_dir: Path) -> list[Path]:
    """Write one history file per AMC into ``out_dir``, in that AMC's tape format (``<id>.<ext>``).

    Parameters
    ----------
    frame : DataFrame
        A :func:`synth_history` frame (or any frame with its columns).
    amcs : list of AMCSpec, optional
        The consortium the frame was drawn for (:func:`~pooling.tapes.synth.demo_amcs` when None): the format,
        Chinese headers and labels (和解/拍卖/…/未结 for resolution), and which columns the AMC keeps
        (predictions only with ``tape_values``; no costs for plain-CSV locals).
    out_dir : Path
        Created if missing.

    Returns
    -------
    list of Path
        The files written, in AMC order. The same frame writes byte-identical files.
    """
    amcs = demo_amcs() if amcs is None else amcs
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in amcs:
        out = _file_frame(frame, spec)
        path = out_dir / f"{spec.id.lower()}.{FORMATS[spec.fmt]}"
        write_file(out, spec, path, sheet="处置历史", title="不良资产处置历史")
        paths.append(path)
    return paths
