r"""Segment corrections: multiplicative recovery-rate multipliers learnt from a backtest (DESIGN §4).

A backtest compares each resolved asset's predicted lifetime recovery :math:`P_i = \rho_i G_i` with what it
realised, :math:`Y_i`. Where a segment's recoveries run consistently below (or above) the model, the model can carry
a *correction*: one multiplier per segment of a few dimensions (by default asset type, then province), so that a
corrected prediction is

.. math::

    \tilde\rho_i = \rho_i \prod_{d} m_d[s_d(i)] ,

applied to the rate and to both ends of its prediction interval (``rate``, ``rate_low``, ``rate_high``). A segment
the corrections have not seen (or an asset frame without the dimension's column) gets :math:`m = 1`.

Fitting: backfitting with credibility
-------------------------------------
The multipliers are fitted by *backfitting* over the dimensions in their order: for dimension :math:`d`, holding the
other dimensions' multipliers fixed,

.. math::

    \hat m_d[s] = \frac{\sum_{i \in s} Y_i}{\sum_{i \in s} P_i \prod_{d' \ne d} m_{d'}[s_{d'}(i)]} ,

the gbv-weighted ratio of realised to (otherwise corrected) predicted recoveries — the multiplier that makes the
segment's deviation rate zero. Because each dimension is fitted to what the *others* leave unexplained, a bias that
lives only in asset type is not counted again by province (a province rich in a biased asset type gets
:math:`m \approx 1`). A product of per-dimension multipliers has one redundant degree of freedom (asset types
:math:`\times c` and provinces :math:`/ c` predict the same); the overall level belongs to the *first* dimension:
for every later dimension the raw multiplier is taken relative to that dimension's overall ratio,
:math:`\hat m_d[s] / \bigl(\sum_i Y_i / \sum_i P_i \prod_{d' \ne d} m_{d'}\bigr)`, so its multipliers only
redistribute. Without shrinkage (:math:`k = 0`) the fixed point matches every segment total of every dimension
(iterative proportional fitting). Sweeps repeat until no multiplier moves by more than ``1e-10`` (at most 100
sweeps).

Each raw multiplier is shrunk toward 1 by Bühlmann credibility:

.. math::

    m_d[s] = 1 + Z_s\,(\hat m_d[s] - 1), \qquad Z_s = \frac{n_{\text{eff},s}}{n_{\text{eff},s} + k},
    \qquad n_{\text{eff},s} = \frac{\bigl(\sum_{i\in s} G_i\bigr)^2}{\sum_{i \in s} G_i^2} .

:math:`n_\text{eff}` is Kish's effective number of assets under gbv weights: a segment of :math:`n` equal assets has
:math:`n_\text{eff} = n`; a segment dominated by one large loan has :math:`n_\text{eff}` near 1, so one big surprise
does not move a whole segment. :math:`k` (``credibility_k``, default :data:`CREDIBILITY_K` = 100) is Bühlmann's
ratio of the process variance of one asset's realised/predicted ratio to the variance of true segment biases:
single NPL recoveries scatter with a coefficient of variation around 1 (an asset recovers 0 %, or 60 %, against a
prediction of 30 %), while genuine segment biases are of the order of ±10 %, so :math:`k \approx 1^2 / 0.1^2 = 100`:
a segment needs about 100 effective assets to be half believed. :math:`k = 0` gives the raw multipliers.

File format
-----------
``corrections.json``::

    {"format_version": 1, "model_id": "m-…", "round": 2, "dimensions": ["asset_type", "province"],
     "credibility_k": 100.0,
     "multipliers": [{"dimension": "asset_type", "segment": "corporate", "multiplier": 0.91, "n": 812,
                      "gbv": 4.1e9, "credibility": 0.83, "raw_multiplier": 0.89, "n_eff": 488.2}, …]}

``raw_multiplier`` and ``n_eff`` are optional (kept for the audit trail). :func:`read_corrections` is strict: an
unknown key, a ``format_version`` newer than :data:`CORRECTIONS_FORMAT_VERSION` or a value of the wrong type is an
:class:`~pooling.errors.InputError` naming the file and the key. The file is plain JSON; reading it never executes
anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pooling.errors import InputError
from pooling.io import write_json

__all__ = [
    "CORRECTIONS_FORMAT_VERSION",
    "CORRECTION_DIMENSIONS",
    "CREDIBILITY_K",
    "Corrections",
    "Multiplier",
    "apply_corrections",
    "compose_corrections",
    "fit_corrections",
    "read_corrections",
    "segment_keys",
    "write_corrections",
]

CORRECTIONS_FORMAT_VERSION = 1
#: Default dimensions of the corrections, in backfitting order (asset columns).
CORRECTION_DIMENSIONS: tuple[str, ...] = ("asset_type", "province")
#: Default Bühlmann credibility constant, in effective assets (see the module docstring for where 100 comes from).
CREDIBILITY_K = 100.0
#: Rate columns a correction multiplies.
RATE_COLUMNS: tuple[str, ...] = ("rate", "rate_low", "rate_high")

_MAX_SWEEPS = 100
_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Multiplier:
    """One segment's multiplier: ``multiplier`` = 1 + credibility·(raw_multiplier − 1); ``n`` resolved assets,
    ``gbv`` their gross book value (CNY), ``n_eff`` their gbv-weighted effective number."""

    dimension: str
    segment: str
    multiplier: float
    n: int
    gbv: float
    credibility: float
    raw_multiplier: float = math.nan
    n_eff: float = math.nan


@dataclass(frozen=True)
class Corrections:
    """Segment multipliers a model can carry (see the module docstring).

    Attributes
    ----------
    model_id : str
        Id of the (uncorrected) model the multipliers apply to.
    round : int
        Backtest round that produced them (1 for the first round).
    dimensions : tuple of str
        Asset columns, in backfitting order.
    credibility_k : float
        Bühlmann constant :math:`k` (effective assets).
    multipliers : tuple of Multiplier
        One per (dimension, segment) seen in the backtest.
    """

    model_id: str
    round: int
    dimensions: tuple[str, ...]
    credibility_k: float
    multipliers: tuple[Multiplier, ...] = field(default_factory=tuple)

    @property
    def table(self) -> pd.DataFrame:
        """The multipliers as a frame: dimension, segment, multiplier, n, gbv, credibility, raw_multiplier, n_eff."""
        cols = ["dimension", "segment", "multiplier", "n", "gbv", "credibility", "raw_multiplier", "n_eff"]
        return pd.DataFrame([[getattr(m, c) for c in cols] for m in self.multipliers], columns=cols)

    def to_json(self) -> dict[str, Any]:
        """The plain JSON payload of ``corrections.json``."""
        return {
            "format_version": CORRECTIONS_FORMAT_VERSION,
            "model_id": self.model_id,
            "round": int(self.round),
            "dimensions": list(self.dimensions),
            "credibility_k": float(self.credibility_k),
            "multipliers": [
                {"dimension": m.dimension, "segment": m.segment, "multiplier": _num(m.multiplier), "n": int(m.n),
                 "gbv": _num(m.gbv), "credibility": _num(m.credibility), "raw_multiplier": _num(m.raw_multiplier),
                 "n_eff": _num(m.n_eff)}
                for m in self.multipliers
            ],
        }


def _num(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def segment_keys(assets: pd.DataFrame, dimension: str) -> pd.Series:
    """The segment of each asset along ``dimension`` as text ("" when missing or when the column is absent).

    ``vintage`` is the year of ``valued_on`` when the frame has no ``vintage`` column.
    """
    if dimension in assets.columns:
        values = assets[dimension]
    elif dimension == "vintage" and "valued_on" in assets.columns:
        values = pd.to_datetime(assets["valued_on"]).dt.year
    else:
        return pd.Series("", index=assets.index, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = np.array([_key(u) for u in uniques] + [""], dtype=object)  # distinct values only; -1 → ""
    return pd.Series(text[codes], index=assets.index, dtype=object)


def _key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def fit_corrections(
    frame: pd.DataFrame,
    predicted: Sequence[float] | np.ndarray | pd.Series,
    realised: Sequence[float] | np.ndarray | pd.Series,
    dims: Iterable[str] = CORRECTION_DIMENSIONS,
    k: float = CREDIBILITY_K,
    *,
    model_id: str = "",
    round: int = 1,
) -> Corrections:
    r"""Fit credibility-shrunk segment multipliers by backfitting (see the module docstring for the math).

    Parameters
    ----------
    frame : DataFrame
        Resolved assets: the ``dims`` columns and ``gbv`` (CNY; the weights of :math:`n_\text{eff}`).
    predicted, realised : array-like
        Predicted and realised lifetime recoveries per row of ``frame`` (CNY).
    dims : iterable of str
        Asset columns, in backfitting order.
    k : float
        Credibility constant :math:`k \ge 0` (effective assets); 0 leaves the raw multipliers.
    model_id, round : str, int
        Recorded in the result.

    Returns
    -------
    Corrections
    """
    dims = tuple(dims)
    if k < 0 or not math.isfinite(k):
        raise ValueError(f"credibility k must be a finite number >= 0, got {k}")
    P = np.asarray(predicted, dtype=float)
    Y = np.asarray(realised, dtype=float)
    if len(P) != len(frame) or len(Y) != len(frame):
        raise ValueError("predicted and realised must have one value per row of frame")
    ok = np.isfinite(P) & np.isfinite(Y)
    P, Y = np.where(ok, P, 0.0), np.where(ok, Y, 0.0)
    G = frame["gbv"].to_numpy(dtype=float) if "gbv" in frame.columns else np.ones(len(frame))
    G = np.where(ok & np.isfinite(G), G, 0.0)

    codes, uniques, Z, n, gbv, n_eff = [], [], [], [], [], []
    for d in dims:
        c, u = pd.factorize(segment_keys(frame, d))
        size = len(u)
        g1 = np.bincount(c, weights=G, minlength=size)
        g2 = np.bincount(c, weights=G * G, minlength=size)
        ne = np.divide(g1 * g1, g2, out=np.zeros(size), where=g2 > 0)
        codes.append(c)
        uniques.append(u)
        n.append(np.bincount(c, weights=ok.astype(float), minlength=size))
        gbv.append(g1)
        n_eff.append(ne)
        Z.append(ne / (ne + k) if k > 0 else np.where(ne > 0, 1.0, 0.0))

    m = [np.ones(len(u)) for u in uniques]
    raw = [np.ones(len(u)) for u in uniques]
    for _ in range(_MAX_SWEEPS):
        change = 0.0
        for j in range(len(dims)):
            others = np.ones(len(P))
            for jj in range(len(dims)):
                if jj != j:
                    others *= m[jj][codes[jj]]
            num = np.bincount(codes[j], weights=Y, minlength=len(m[j]))
            den = np.bincount(codes[j], weights=P * others, minlength=len(m[j]))
            raw[j] = np.divide(num, den, out=np.ones(len(m[j])), where=den > 0)
            if j > 0 and den.sum() > 0 and num.sum() > 0:
                raw[j] = raw[j] / (num.sum() / den.sum())  # relative to the level: the first dimension owns it
            new = 1.0 + Z[j] * (raw[j] - 1.0)
            change = max(change, float(np.max(np.abs(new - m[j]), initial=0.0)))
            m[j] = new
        if change < _TOLERANCE:
            break

    multipliers = tuple(
        Multiplier(d, str(s), float(m[j][i]), int(n[j][i]), float(gbv[j][i]), float(Z[j][i]), float(raw[j][i]),
                   float(n_eff[j][i]))
        for j, d in enumerate(dims)
        for i, s in sorted(enumerate(uniques[j]), key=lambda t: str(t[1]))
    )
    return Corrections(model_id=model_id, round=int(round), dimensions=dims, credibility_k=float(k),
                       multipliers=multipliers)


def correction_factor(assets: pd.DataFrame, corrections: Corrections | None) -> np.ndarray:
    """The product of the matching segment multipliers for each asset (1.0 where a segment is unseen)."""
    factor = np.ones(len(assets))
    if corrections is None:
        return factor
    table = corrections.table
    for d in corrections.dimensions:
        rows = table[table["dimension"] == d]
        if not len(rows):
            continue
        lookup = pd.Series(rows["multiplier"].to_numpy(dtype=float), index=rows["segment"].to_numpy())
        codes, uniques = pd.factorize(segment_keys(assets, d))
        per_segment = lookup.reindex(uniques).fillna(1.0).to_numpy(dtype=float)
        factor *= per_segment[codes] if len(codes) else 1.0
    return factor


def apply_corrections(assets: pd.DataFrame, rate_frame: pd.DataFrame, corrections: Corrections | None
                      ) -> pd.DataFrame:
    r"""``rate_frame`` (index aligned with ``assets``) with ``rate``, ``rate_low`` and ``rate_high`` multiplied by
    :math:`\prod_d m_d[s_d(i)]`; a segment the corrections have not seen, or a dimension column ``assets`` lacks,
    counts as 1.0. Other columns (timing) are unchanged; ``rate_frame`` itself is not modified."""
    out = rate_frame.copy()
    if corrections is None or not corrections.multipliers:
        return out
    factor = correction_factor(assets, corrections)
    for col in RATE_COLUMNS:
        if col in out.columns:
            out[col] = out[col].to_numpy(dtype=float) * factor
    return out


def compose_corrections(first: Corrections | None, second: Corrections) -> Corrections:
    """Corrections equal to applying ``first`` and then ``second`` (multipliers multiply per dimension and
    segment). The result carries ``second``'s round, k, counts and credibilities, and ``first``'s model id; a
    segment only ``first`` has keeps its entry. ``raw_multiplier`` is the product of the raw multipliers."""
    if first is None or not first.multipliers:
        return second
    old = {(m.dimension, m.segment): m for m in first.multipliers}
    out = []
    for m in second.multipliers:
        p = old.pop((m.dimension, m.segment), None)
        if p is None:
            out.append(m)
        else:
            raw = p.raw_multiplier * m.raw_multiplier
            out.append(Multiplier(m.dimension, m.segment, p.multiplier * m.multiplier, m.n, m.gbv, m.credibility,
                                  raw, m.n_eff))
    out.extend(old.values())
    dims = tuple(dict.fromkeys([*first.dimensions, *second.dimensions]))
    order = {d: i for i, d in enumerate(dims)}
    out.sort(key=lambda m: (order[m.dimension], m.segment))
    return Corrections(model_id=first.model_id or second.model_id, round=second.round, dimensions=dims,
                       credibility_k=second.credibility_k, multipliers=tuple(out))


def write_corrections(corrections: Corrections, path: Path) -> Path:
    """Write ``corrections.json`` atomically (see the module docstring for the format)."""
    return write_json(corrections.to_json(), Path(path))


# ---------------------------------------------------------------------------------------------------------------
# strict reading
# ---------------------------------------------------------------------------------------------------------------

_TOP_KEYS = {"format_version", "model_id", "round", "dimensions", "credibility_k", "multipliers"}
_MULT_REQUIRED = {"dimension", "segment", "multiplier", "n", "gbv", "credibility"}
_MULT_OPTIONAL = {"raw_multiplier", "n_eff"}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(float(v))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (write null or a number)")


def read_corrections(path: Path) -> Corrections:
    """Read and check ``corrections.json``.

    Raises
    ------
    InputError
        The file is missing or not JSON; a key is unknown or missing; ``format_version`` is newer than this
        program reads; a value has the wrong type or range. The message names the file and every bad key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"corrections file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"corrections file {path} cannot be read: {exc}") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InputError(f"corrections file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"corrections file {path}: expected a JSON object at the top, got {type(doc).__name__}")

    version = doc.get("format_version")
    if not _is_int(version) or version < 1:
        raise InputError(f"corrections file {path}: key 'format_version' must be a whole number >= 1, got {version!r}")
    if version > CORRECTIONS_FORMAT_VERSION:
        raise InputError(
            f"corrections file {path}: key 'format_version' is {version}, newer than this program reads "
            f"({CORRECTIONS_FORMAT_VERSION}); upgrade amc-pooling or re-run `pooling backtest` with this version")

    problems: list[str] = []
    for key in sorted(set(doc) - _TOP_KEYS):
        problems.append(f"unknown key {key!r} (expected: {', '.join(sorted(_TOP_KEYS))})")
    for key in sorted(_TOP_KEYS - set(doc)):
        problems.append(f"missing key {key!r}")
    model_id, rnd, dims, k = doc.get("model_id"), doc.get("round"), doc.get("dimensions"), doc.get("credibility_k")
    if "model_id" in doc and not isinstance(model_id, str):
        problems.append(f"key 'model_id' must be text, got {model_id!r}")
    if "round" in doc and not (_is_int(rnd) and rnd >= 0):
        problems.append(f"key 'round' must be a whole number >= 0, got {rnd!r}")
    if "dimensions" in doc and not (isinstance(dims, list) and all(isinstance(d, str) and d for d in dims)
                                    and len(set(dims)) == len(dims)):
        problems.append(f"key 'dimensions' must be a list of distinct column names, got {dims!r}")
        dims = None
    if "credibility_k" in doc and not (_is_num(k) and k >= 0):
        problems.append(f"key 'credibility_k' must be a number >= 0, got {k!r}")

    items = doc.get("multipliers", [])
    multipliers: list[Multiplier] = []
    if not isinstance(items, list):
        problems.append(f"key 'multipliers' must be a list, got {type(items).__name__}")
        items = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        where = f"multipliers[{i}]"
        if not isinstance(item, dict):
            problems.append(f"key {where!r} must be an object, got {item!r}")
            continue
        bad = len(problems)
        for key in sorted(set(item) - _MULT_REQUIRED - _MULT_OPTIONAL):
            problems.append(f"unknown key '{where}.{key}'")
        for key in sorted(_MULT_REQUIRED - set(item)):
            problems.append(f"missing key '{where}.{key}'")
        checks = {
            "dimension": lambda v: isinstance(v, str) and (dims is None or v in dims),
            "segment": lambda v: isinstance(v, str),
            "multiplier": lambda v: _is_num(v) and v >= 0,
            "n": lambda v: _is_int(v) and v >= 0,
            "gbv": lambda v: _is_num(v) and v >= 0,
            "credibility": lambda v: _is_num(v) and 0 <= v <= 1,
            "raw_multiplier": lambda v: v is None or (_is_num(v) and v >= 0),
            "n_eff": lambda v: v is None or (_is_num(v) and v >= 0),
        }
        wants = {"dimension": "one of 'dimensions'", "segment": "text", "multiplier": "a number >= 0",
                 "n": "a whole number >= 0", "gbv": "a number >= 0", "credibility": "a number in [0, 1]",
                 "raw_multiplier": "a number >= 0 or null", "n_eff": "a number >= 0 or null"}
        for key, check in checks.items():
            if key in item and not check(item[key]):
                problems.append(f"key '{where}.{key}' must be {wants[key]}, got {item[key]!r}")
        if len(problems) > bad:
            continue
        pair = (item["dimension"], item["segment"])
        if pair in seen:
            problems.append(f"key {where!r} repeats dimension {pair[0]!r} segment {pair[1]!r}")
            continue
        seen.add(pair)
        multipliers.append(Multiplier(
            item["dimension"], item["segment"], float(item["multiplier"]), int(item["n"]), float(item["gbv"]),
            float(item["credibility"]),
            math.nan if item.get("raw_multiplier") is None else float(item["raw_multiplier"]),
            math.nan if item.get("n_eff") is None else float(item["n_eff"])))
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise InputError(f"corrections file {path} has {len(problems)} problem(s):\n{lines}")
    return Corrections(model_id=model_id, round=int(rnd), dimensions=tuple(dims), credibility_k=float(k),
                       multipliers=tuple(multipliers))
