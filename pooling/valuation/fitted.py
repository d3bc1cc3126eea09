r"""A calibrated recovery model as plain data: ``model.json``, its strict loader, its predictions, its valuation.

A model directory holds ``model.json`` (written by :func:`save_model`), optionally ``corrections.json`` (segment
multipliers from a backtest, :mod:`pooling.valuation.corrections`) and ``backtests.csv`` (one row per backtest
round). Loading never executes anything from the files: JSON is parsed and every key is validated against the
schema below (unknown keys, a newer ``format_version`` or a wrong type are a clear :class:`InputError`).

Features (as of the valuation date)
-----------------------------------
For asset :math:`i` valued at date :math:`d_i`: asset type :math:`a`, collateral type :math:`c`, legal status
:math:`s`, province :math:`p`, industry :math:`j`, lien rank :math:`\ell` (secured assets; 3 means 3 or more, a
missing rank is its own level), age :math:`A_i` = years from ``default_date`` to :math:`d_i` (floored at 0,
capped at ``age_cap``) and coverage :math:`v_i` = collateral_value / gbv (secured assets, capped at
``coverage_cap``). A secured asset without an appraisal takes the training median coverage of its collateral type
*and* the ``appraisal_missing`` effect of that type, so a missing appraisal is neither zero collateral nor an
average one silently.

Recovery rate (fractional-response logit)
-----------------------------------------

.. math::

    \eta_i = \beta_0 + \sum_{b} \beta_b[\text{key}_b(i)]
        + \mathbb{1}[\text{secured}] \sum_{m} \gamma_{c,m}\, h_m(v_i) + \sum_m \delta_{\sigma(i),m}\, h_m(A_i),
    \qquad \text{rate}_i = \operatorname{logistic}(\eta_i)

with categorical blocks :math:`b` (asset_type, collateral_type, asset_type × collateral_type, legal_status,
province, industry, lien, appraisal_missing), hinge bases :math:`h_0(x) = x`, :math:`h_m(x) = (x - \kappa_m)_+`
on the knots of ``features`` (coverage hinges per secured collateral type, age hinges per secured /
unsecured class :math:`\sigma`). A level the model has not seen (a new province, industry or combination)
contributes 0: it falls back to the base level, i.e. the intercept and the other effects — the penalised fit
centres each block near 0, so the base level is the training average of that block.

The 80% interval is :math:`[\text{rate}\cdot q_{10}, \text{rate}\cdot q_{90}]` (clipped to [0, 1]), with
:math:`q` the weighted quantiles of realised / predicted of resolved training assets by asset type.

Timing (Weibull accelerated failure time)
-----------------------------------------
Months :math:`T` from valuation to resolution: :math:`S(t) = \exp(-(t/\lambda_i)^{\rho_i})`,
:math:`\log \lambda_i = \alpha_0 + \sum_b \alpha_b[\text{key}_b(i)]` over legal_status, province (court speed),
asset_type, secured and age bucket; :math:`\rho_i = \rho\,e^{\phi[s_i]}` by legal status (``shape_effects``; an
unseen status takes :math:`\rho`). Mean months :math:`= \lambda_i\,\Gamma(1 + 1/\rho_i)`. Collections of a
resolved asset are booked at resolution, so the valuation's curve is :math:`F(t) = 1 - S(t - L)` with speed
:math:`k = 1/\lambda_i`, shape :math:`\rho` and lag :math:`L` = the caller's ``delay_months``
(:func:`pooling.valuation.model.curve_sums`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pydantic
from scipy.special import expit, gammaln

from pooling import vocab
from pooling.errors import InputError
from pooling.io import read_csv, write_json
from pooling.valuation.model import VALUATION_COLUMNS, check_valuation_args, curve_sums

if TYPE_CHECKING:
    from pooling.valuation.corrections import Corrections

__all__ = [
    "MODEL_FORMAT_VERSION",
    "MODEL_KIND",
    "CalibratedModel",
    "load_model",
    "model_id",
    "save_model",
    "value_with_model",
]

MODEL_FORMAT_VERSION = 1
MODEL_KIND = "amc-pooling/recovery-model"
_DAYS_PER_YEAR = 365.25

#: Categorical blocks of the rate model and of the timing model (names are the keys of ``effects``).
RATE_BLOCKS: tuple[str, ...] = ("asset_type", "collateral_type", "asset_collateral", "legal_status", "province",
                                "industry", "lien", "appraisal_missing")
TIMING_BLOCKS: tuple[str, ...] = ("legal_status", "province", "asset_type", "secured", "age_bucket")
CATEGORICAL: tuple[str, ...] = ("asset_type", "collateral_type", "legal_status", "province", "industry")


# --------------------------------------------------------------------------------------------------------------
# The model.json schema (strict: unknown keys are errors)


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=False)


class TrainingSpec(_Strict):
    from_: str = pydantic.Field(alias="from")
    to: str
    cutoff: str
    holdout_from: str | None
    n_assets: int
    n_resolved: int
    gbv: float
    censoring: Literal["ipcw", "drop", "as_resolved"]
    files: list[str] = []


class FeatureSpec(_Strict):
    levels: dict[Literal["asset_type", "collateral_type", "legal_status", "province", "industry"], list[str]]
    coverage_fill: dict[str, float]
    coverage_cap: float
    age_cap: float
    coverage_knots: list[float]
    age_knots: list[float]
    age_buckets: list[float]


class RateSpec(_Strict):
    kind: Literal["fractional-logit"]
    intercept: float
    effects: dict[Literal[RATE_BLOCKS], dict[str, float]]  # type: ignore[valid-type]
    coverage: dict[str, list[float]]
    age: dict[Literal["secured", "unsecured"], list[float]]
    max_rate: float
    penalty_c: float


class TimingSpec(_Strict):
    kind: Literal["weibull-aft"]
    intercept: float
    shape: float = pydantic.Field(gt=0)
    shape_by: Literal["legal_status"]
    shape_effects: dict[str, float]
    effects: dict[Literal[TIMING_BLOCKS], dict[str, float]]  # type: ignore[valid-type]
    ridge: float
    converged: bool


class IntervalSpec(_Strict):
    level: float
    by: Literal["asset_type"]
    low: dict[str, float]
    high: dict[str, float]
    overall: list[float] = pydantic.Field(min_length=2, max_length=2)


class ModelFile(_Strict):
    format_version: int
    id: str
    kind: Literal["amc-pooling/recovery-model"]
    training: TrainingSpec
    features: FeatureSpec
    rate: RateSpec
    timing: TimingSpec
    interval: IntervalSpec
    diagnostics: dict[str, float] = {}


def model_id(payload: dict) -> str:
    """``"m-"`` + the first 12 hex digits of the SHA-256 of the canonical JSON of ``payload`` without ``id``."""
    body = {k: v for k, v in payload.items() if k != "id"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "m-" + hashlib.sha256(text.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------------------------
# Features


def _as_of_array(as_of: date | pd.Timestamp | np.ndarray | pd.Series, n: int) -> np.ndarray:
    if isinstance(as_of, pd.Series | pd.Index | np.ndarray):
        values = pd.to_datetime(np.asarray(as_of)).to_numpy(dtype="datetime64[s]")
        if len(values) != n:
            raise InputError(f"as_of has {len(values)} dates for {n} assets")
        return values
    return np.full(n, np.datetime64(pd.Timestamp(as_of).to_datetime64(), "s"))


def age_years(assets: pd.DataFrame, as_of) -> np.ndarray:
    """Years from default_date to ``as_of`` (a date, or one date per row), floored at 0; NaN where unknown."""
    if "default_date" not in assets.columns:
        raise InputError(f"the model needs column 'default_date'; the frame has {list(assets.columns)}")
    dates = pd.to_datetime(assets["default_date"]).to_numpy(dtype="datetime64[s]")
    days = (_as_of_array(as_of, len(assets)) - dates).astype("timedelta64[s]").astype(float) / 86400.0
    days[np.isnat(dates)] = np.nan
    return np.maximum(days, 0.0) / _DAYS_PER_YEAR


def _strings(assets: pd.DataFrame, column: str) -> np.ndarray:
    if column not in assets.columns:
        raise InputError(f"the model needs column {column!r}; the frame has {list(assets.columns)}")
    return assets[column].astype(object).where(assets[column].notna(), "").astype(str).to_numpy()


def _codes(values: np.ndarray, levels: list[str]) -> np.ndarray:
    """Index of each value in ``levels``; −1 for a value the model has not seen."""
    return pd.Index(levels).get_indexer(values).astype(np.int64)


@dataclass(frozen=True)
class Features:
    """The model's features for a frame of assets (see the module docstring); categorical codes index
    ``FeatureSpec.levels`` (−1 = unseen), ``keys`` holds the string key of every categorical block."""

    keys: dict[str, np.ndarray]
    secured: np.ndarray
    coverage: np.ndarray
    age: np.ndarray
    age_bucket: np.ndarray


def features(assets: pd.DataFrame, as_of, spec: FeatureSpec | None = None) -> Features:
    """Feature keys and numbers for ``assets`` as of ``as_of`` (a date or one date per row).

    ``spec`` gives the coverage fill of missing appraisals; without it (calibration) the fill is left NaN and the
    caller fills it.
    """
    n = len(assets)
    cols = {c: _strings(assets, c) for c in CATEGORICAL}
    secured = ~np.isin(cols["collateral_type"], list(vocab.UNSECURED_COLLATERAL))
    gbv = pd.to_numeric(assets["gbv"]).to_numpy(dtype=float, na_value=np.nan)
    value = (pd.to_numeric(assets["collateral_value"]).to_numpy(dtype=float, na_value=np.nan)
             if "collateral_value" in assets.columns else np.full(n, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(gbv > 0, value / gbv, np.nan)
    missing = secured & np.isnan(coverage)
    cap = spec.coverage_cap if spec is not None else 3.0
    if spec is not None:
        fill = pd.Series(spec.coverage_fill, dtype=float).reindex(cols["collateral_type"]).to_numpy()
        coverage = np.where(missing, fill, coverage)
        coverage = np.where(np.isnan(coverage) & secured, float(np.median(list(spec.coverage_fill.values())
                                                                          or [0.7])), coverage)
    coverage = np.where(secured, np.clip(coverage, 0.0, cap), 0.0)

    rank = (pd.to_numeric(assets["lien_rank"]).to_numpy(dtype=float, na_value=np.nan)
            if "lien_rank" in assets.columns else np.full(n, np.nan))
    lien = np.where(np.isnan(rank), "missing", np.clip(np.nan_to_num(rank, nan=1.0), 1, 3).astype(int).astype(str))
    age_cap = spec.age_cap if spec is not None else 15.0
    age = age_years(assets, as_of)
    if np.isnan(age).any():
        raise InputError(f"default_date is missing for {int(np.isnan(age).sum())} asset(s)")
    age = np.minimum(age, age_cap)
    buckets = spec.age_buckets if spec is not None else [1.0, 2.0, 4.0]
    age_bucket = np.searchsorted(np.asarray(buckets), age, side="right").astype(str)

    secured_key = np.where(secured, "secured", "unsecured")
    keys = {
        **cols,
        "asset_collateral": np.char.add(np.char.add(cols["asset_type"].astype(str), "|"),
                                        cols["collateral_type"].astype(str)),
        "lien": np.where(secured, lien, ""),
        "appraisal_missing": np.where(missing, cols["collateral_type"], ""),
        "secured": secured_key,
        "age_bucket": age_bucket,
    }
    return Features(keys, secured, coverage, age, age_bucket)


def hinges(x: np.ndarray, knots: list[float]) -> np.ndarray:
    """Hinge basis ``[x, (x − κ_1)_+, …]``: one column per knot plus the linear term."""
    return np.column_stack([x] + [np.maximum(x - k, 0.0) for k in knots])


def _lookup(keys: np.ndarray, table: dict[str, float]) -> np.ndarray:
    """``table[key]`` per row, 0 for keys not in the table (unseen levels fall back to the base level)."""
    codes, uniques = pd.factorize(keys)
    values = np.array([table.get(u, 0.0) for u in uniques] + [0.0], dtype=float)
    return values[codes]


def _blocks_sum(f: Features, effects: dict[str, dict[str, float]]) -> np.ndarray:
    total = np.zeros(len(f.secured))
    for block, table in effects.items():
        total += _lookup(f.keys[block], table)
    return total


def rate_linear_predictor(f: Features, rate: RateSpec, spec: FeatureSpec) -> np.ndarray:
    """η of the rate model (module docstring); vectorised over assets."""
    eta = rate.intercept + _blocks_sum(f, rate.effects)
    cov_basis = hinges(f.coverage, spec.coverage_knots)
    coll_codes, coll_values = pd.factorize(f.keys["collateral_type"])
    width = len(spec.coverage_knots) + 1
    table = np.array([rate.coverage.get(c, [0.0] * width) for c in coll_values] + [[0.0] * width], dtype=float)
    eta += np.where(f.secured, np.einsum("ij,ij->i", cov_basis, table[coll_codes]), 0.0)
    age_basis = hinges(f.age, spec.age_knots)
    width = len(spec.age_knots) + 1
    sec = np.asarray(rate.age.get("secured", [0.0] * width), dtype=float)
    uns = np.asarray(rate.age.get("unsecured", [0.0] * width), dtype=float)
    eta += np.where(f.secured, age_basis @ sec, age_basis @ uns)
    return eta


def timing_log_scale(f: Features, timing: TimingSpec) -> np.ndarray:
    """log λ of the Weibull AFT model per asset."""
    return timing.intercept + _blocks_sum(f, timing.effects)


# --------------------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class CalibratedModel:
    """A calibrated recovery-rate and timing model (plain JSON payload), with the corrections it carries.

    Attributes
    ----------
    id : str
        ``"m-"`` + 12 hex digits of the SHA-256 of the canonical payload without ``id``.
    payload : dict
        The plain JSON of ``model.json``.
    corrections : Corrections or None
        Segment multipliers from ``MODEL_DIR/corrections.json``; applied to rate / rate_low / rate_high.
    backtests : pandas.DataFrame
        Rows of ``MODEL_DIR/backtests.csv`` (empty when there is none).
    """

    id: str
    payload: dict
    corrections: Corrections | None = None
    backtests: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_spec", _validate(self.payload, "model payload"))

    @property
    def spec(self) -> ModelFile:
        """The validated payload."""
        return self._spec  # type: ignore[attr-defined]

    @property
    def training(self) -> dict:
        """Training window and counts: from, to, cutoff, holdout_from, n_assets, n_resolved (plus gbv, censoring)."""
        return dict(self.payload["training"])

    @property
    def label(self) -> str:
        """The model id, plus ``+c<round>`` when corrections are carried."""
        return f"{self.id}+c{self.corrections.round}" if self.corrections is not None else self.id

    def predict(self, assets: pd.DataFrame, as_of) -> pd.DataFrame:
        """Lifetime recovery rate with its 80% interval and the Weibull timing, per asset.

        Parameters
        ----------
        assets
            Canonical loan-tape or history frame (gbv, asset_type, collateral_type, legal_status, province,
            industry, default_date; optionally collateral_value, lien_rank).
        as_of
            The valuation date (age since default is measured to it), or one date per row (e.g. a history's
            ``valued_on``).

        Returns
        -------
        pandas.DataFrame
            Index of ``assets``; rate, rate_low, rate_high (fractions of gbv), timing_scale (λ, months),
            timing_shape (ρ), mean_months (λ·Γ(1 + 1/ρ), months from ``as_of``, uncapped). Corrections, when
            carried, multiply rate, rate_low and rate_high.
        """
        spec = self.spec
        f = features(assets, as_of, spec.features)
        rate = np.minimum(expit(rate_linear_predictor(f, spec.rate, spec.features)), spec.rate.max_rate)
        at_codes, at_values = pd.factorize(f.keys["asset_type"])
        lo_default, hi_default = spec.interval.overall
        low = np.array([spec.interval.low.get(a, lo_default) for a in at_values] + [lo_default])[at_codes]
        high = np.array([spec.interval.high.get(a, hi_default) for a in at_values] + [hi_default])[at_codes]
        scale = np.exp(timing_log_scale(f, spec.timing))
        rho = spec.timing.shape * np.exp(_lookup(f.keys[spec.timing.shape_by], spec.timing.shape_effects))
        out = pd.DataFrame(
            {
                "rate": rate,
                "rate_low": np.clip(rate * low, 0.0, 1.0),
                "rate_high": np.clip(rate * high, 0.0, 1.0),
                "timing_scale": scale,
                "timing_shape": rho,
                "mean_months": scale * np.exp(gammaln(1.0 + 1.0 / rho)),
            },
            index=assets.index,
        )
        if self.corrections is not None:
            from pooling.valuation.corrections import apply_corrections

            out = apply_corrections(assets, out, self.corrections)
        return out


def _validate(payload: Any, where: str) -> ModelFile:
    if not isinstance(payload, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    version = payload.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > MODEL_FORMAT_VERSION:
        raise InputError(
            f"{where}: format_version {version} was made by a newer amc-pooling (this one reads up to "
            f"{MODEL_FORMAT_VERSION}); upgrade amc-pooling or recalibrate the model with this version"
        )
    try:
        return ModelFile.model_validate(payload)
    except pydantic.ValidationError as exc:
        lines = []
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"])
            problem = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            lines.append(f"  - {key}: {problem}")
        raise InputError(f"{where} is not a valid model file ({len(lines)} problem(s)):\n" + "\n".join(lines)) \
            from None


def load_model(model_dir: Path) -> CalibratedModel:
    """Read a model directory: ``model.json`` (validated strictly), ``corrections.json`` and ``backtests.csv``
    when present.

    Raises
    ------
    pooling.errors.InputError
        Missing directory or file, bad JSON, unknown keys, a format_version newer than this code reads, wrong
        types, or an id that does not match the payload.
    """
    model_dir = Path(model_dir)
    path = model_dir / "model.json"
    if not model_dir.is_dir():
        raise InputError(f"model directory {model_dir} does not exist; run `pooling calibrate` to make one")
    if not path.is_file():
        raise InputError(f"{path} not found; run `pooling calibrate HISTORY --out {model_dir}`")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None
    spec = _validate(payload, str(path))
    if model_id(payload) != spec.id:
        raise InputError(f"{path}: id {spec.id!r} does not match its content (expected {model_id(payload)!r}); "
                         "the file was edited by hand — recalibrate instead")
    corrections = None
    if (model_dir / "corrections.json").is_file():
        from pooling.valuation.corrections import read_corrections

        corrections = read_corrections(model_dir / "corrections.json")
    backtests = pd.DataFrame()
    if (model_dir / "backtests.csv").is_file():
        backtests = read_csv(model_dir / "backtests.csv")
    return CalibratedModel(spec.id, payload, corrections, backtests)


def save_model(model: CalibratedModel, model_dir: Path) -> list[Path]:
    """Write ``MODEL_DIR/model.json`` atomically; returns the paths written."""
    return [write_json(model.payload, Path(model_dir) / "model.json")]


# --------------------------------------------------------------------------------------------------------------
# Valuation with the model


def value_with_model(
    assets: pd.DataFrame,
    *,
    model: CalibratedModel,
    as_of: date,
    discount_rate: float,
    source: Literal["tape", "model"] = "model",
    horizon_months: int = 120,
    delay_months: np.ndarray | float = 0.0,
) -> pd.DataFrame:
    r"""Expected recovery, timing and NPV of every asset by a calibrated model (contract of
    :func:`pooling.valuation.model.value_assets`).

    Per asset: :math:`R_\infty` = rate · gbv, curve :math:`F(t) = 1 - e^{-(k(t-L))^\rho}` with :math:`k = 1/\lambda`,
    :math:`L` = ``delay_months``; expected_recovery :math:`= R_\infty F(H)`, npv :math:`= R_\infty \sum_t
    (F(t) - F(t-1)) v^t`, expected_months the cash-weighted mean month within H. The curve sums are computed once
    per distinct :math:`(k, L, \rho)` (:func:`pooling.valuation.model.curve_sums`).

    Parameters
    ----------
    assets
        Canonical asset frame.
    model
        The calibrated model.
    as_of
        Valuation date.
    discount_rate
        Annual rate r ≥ 0.
    source
        ``"tape"``: tape expected_recovery / expected_months win where both are given (point masses, curve_k NaN,
        curve_shape 1); ``"model"``: every asset by the model.
    horizon_months
        H.
    delay_months
        L: months before the resolution clock starts (scalar or per asset), 0 ≤ L < H.

    Returns
    -------
    pandas.DataFrame
        A copy of ``assets`` with VALUATION_COLUMNS, curve_shape, expected_recovery_low / _high (the 80% interval
        of the rate times gbv · F(H)) and model_id (the model's label).
    """
    horizon = check_valuation_args(source, horizon_months, discount_rate)
    n = len(assets)
    lag = np.broadcast_to(np.asarray(delay_months, dtype=float), (n,))
    if n and (np.isnan(lag).any() or lag.min() < 0 or lag.max() >= horizon):
        raise InputError(f"delay_months must lie in [0, {horizon}), got {lag.min()}..{lag.max()}")

    pred = model.predict(assets, as_of)
    gbv = pd.to_numeric(assets["gbv"]).to_numpy(dtype=float)
    k = 1.0 / pred["timing_scale"].to_numpy()
    rho = pred["timing_shape"].to_numpy()
    # Sums once per distinct curve: factorize (k, L, ρ) and evaluate the uniques.
    codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([k, lag, rho]))
    u = uniques.to_frame(index=False).to_numpy(dtype=float)
    collected_u, pv_u, months_u = curve_sums(u[:, 0], u[:, 1], u[:, 2], horizon, discount_rate)
    collected, pv, months = collected_u[codes], pv_u[codes], months_u[codes]

    rinf = pred["rate"].to_numpy() * gbv
    recovery = rinf * collected
    npv = rinf * pv
    low = pred["rate_low"].to_numpy() * gbv * collected
    high = pred["rate_high"].to_numpy() * gbv * collected
    curve_k, curve_lag, curve_shape = k, lag.copy(), rho.copy()

    out = assets.copy()
    from_tape = np.zeros(n, dtype=bool)
    if source == "tape" and {"expected_recovery", "expected_months"} <= set(assets.columns):
        tape_recovery = pd.to_numeric(assets["expected_recovery"]).to_numpy(dtype=float, na_value=np.nan)
        tape_months = pd.to_numeric(assets["expected_months"]).to_numpy(dtype=float, na_value=np.nan)
        from_tape = ~np.isnan(tape_recovery) & ~np.isnan(tape_months)
        single = tape_recovery * np.exp(-tape_months * math.log1p(discount_rate) / 12.0)
        recovery = np.where(from_tape, tape_recovery, recovery)
        months = np.where(from_tape, tape_months, months)
        npv = np.where(from_tape, single, npv)
        low = np.where(from_tape, tape_recovery, low)
        high = np.where(from_tape, tape_recovery, high)
        rinf = np.where(from_tape, tape_recovery, rinf)
        curve_k = np.where(from_tape, np.nan, curve_k)
        curve_lag = np.where(from_tape, tape_months, curve_lag)
        curve_shape = np.where(from_tape, 1.0, curve_shape)
    for column in ("expected_recovery", "expected_months"):
        if column in assets.columns:
            out[f"tape_{column}"] = assets[column]

    out["expected_recovery"] = recovery
    out["expected_months"] = months
    out["npv"] = npv
    out["recovery_rate"] = np.divide(recovery, gbv, out=np.zeros(n), where=gbv > 0)
    out["valuation_source"] = np.where(from_tape, "tape", "model")
    out["curve_rinf"] = rinf
    out["curve_k"] = curve_k
    out["curve_lag"] = curve_lag
    out["curve_shape"] = curve_shape
    out["expected_recovery_low"] = low
    out["expected_recovery_high"] = high
    out["model_id"] = np.where(from_tape, "", model.label)
    assert set(VALUATION_COLUMNS) <= set(out.columns)
    return out
