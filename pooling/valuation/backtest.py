r"""Backtesting (回溯检验): a valuation model's predictions against what resolved assets really recovered (DESIGN §4).

Definitions
-----------
For each history asset :math:`i` valued on :math:`v_i` with gross book value :math:`G_i`, the model predicts, *as the
asset was at* :math:`v_i`, a lifetime recovery rate :math:`\rho_i` with an 80 % prediction interval
:math:`[\rho^-_i, \rho^+_i]`:

.. math::

    P_i = \rho_i G_i, \qquad [P^-_i, P^+_i] = [\rho^-_i G_i,\ \rho^+_i G_i], \qquad Y_i = \texttt{recovered}_i .

Only *resolved* assets (``resolved_on`` on or before the cut-off) have a realised :math:`Y_i`; open assets are
right-censored (their recovered-so-far is a lower bound), so they are excluded from every deviation and coverage and
reported as counts (``n_open``, ``gbv_open``). The *window* is every asset valued on or before the cut-off, or, out
of time, only those valued on or after ``holdout_from`` (the model should have been calibrated on earlier ones);
the result says which window was used.

The **deviation rate** (偏差率) of a set :math:`S` of resolved assets is

.. math::

    \delta_S = \frac{\sum_{i\in S} P_i - \sum_{i\in S} Y_i}{\sum_{i\in S} Y_i} ,

gbv-weighted by construction (a large loan weighs by its size); positive means the model over-predicts. It is
computed overall and by segment: asset type, collateral type, province, legal status, vintage (the year of
``valued_on``) and AMC. When :math:`\sum_S Y_i = 0` the rate is not defined: NaN, with a note. (A count-weighted
mean of per-asset deviations is *not* the headline: one small loan that recovered 1 yuan would dominate it.)

**Coverage** of the interval: the share of resolved assets with :math:`P^-_i \le Y_i \le P^+_i`, by count and by
gbv; an honest 80 % interval covers about 80 %.

Where the history has the AMC's own ``predicted_recovery`` (what it expected at :math:`v_i`), the same deviation is
computed for it on the resolved assets that have one (``amc_predicted``, ``amc_deviation_rate``), side by side with
the model; ``model_deviation_rate_amc_assets`` is the model's rate on exactly those assets, for a like-for-like
comparison.

Corrections and rounds
----------------------
Each backtest fits segment multipliers (:mod:`pooling.valuation.corrections`) that would zero the deviation by
asset type and province, credibility-shrunk. If the model already carries corrections, its predictions include them
and the new multipliers are composed with the old, so ``result.corrections`` is always what the *uncorrected*
model should carry. :func:`write_backtest` numbers the round, appends to ``backtest.csv`` and to the model's
``backtests.csv`` (earlier rounds are never rewritten) and, with ``apply_corrections``, lets the model carry the new
corrections.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pooling.errors import InputError
from pooling.io import write_atomic, write_csv
from pooling.valuation.corrections import (
    CORRECTION_DIMENSIONS,
    CREDIBILITY_K,
    Corrections,
    compose_corrections,
    fit_corrections,
    segment_keys,
    write_corrections,
)

__all__ = [
    "NOMINAL_COVERAGE",
    "ROUND_COLUMNS",
    "SEGMENT_COLUMNS",
    "SEGMENT_DIMENSIONS",
    "BacktestResult",
    "backtest",
    "read_rounds",
    "write_backtest",
]

#: Segment dimensions of a backtest, in report order (history columns; ``vintage`` = year of ``valued_on``).
SEGMENT_DIMENSIONS: tuple[str, ...] = ("asset_type", "collateral_type", "province", "legal_status", "vintage",
                                       "amc_id")
#: Nominal coverage of the model's prediction interval (``rate_low`` .. ``rate_high`` is an 80 % interval).
NOMINAL_COVERAGE = 0.80
#: Columns of :attr:`BacktestResult.segments` (and of backtest.csv after its round columns).
SEGMENT_COLUMNS: list[str] = [
    "dimension", "segment", "n", "gbv", "predicted", "realised", "deviation_rate", "coverage", "coverage_gbv",
    "predicted_low", "predicted_high", "amc_n", "amc_predicted", "amc_realised", "amc_deviation_rate",
    "n_open", "gbv_open",
]
#: Columns of MODEL_DIR/backtests.csv: one row per round.
ROUND_COLUMNS: list[str] = ["round", "date", "model_id", "holdout_from", "n_resolved", "gbv", "deviation_rate",
                            "coverage_count", "coverage_gbv", "amc_deviation_rate"]
#: Columns backtest.csv puts before :data:`SEGMENT_COLUMNS`.
BACKTEST_CSV_LEAD: list[str] = ["round", "model_id", "model_label", "cutoff", "holdout_from", "window"]

_REQUIRED = ("gbv", "valued_on", "recovered", "resolved_on")


class RateModel(Protocol):
    """What a backtest needs of a model: an id, a label and per-asset rates with an interval."""

    id: str

    @property
    def label(self) -> str: ...

    def predict(self, assets: pd.DataFrame, as_of: Any) -> pd.DataFrame: ...


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One backtest.

    Attributes
    ----------
    overall : dict
        Headline numbers: n_assets (in the window), n_resolved, n_open, gbv (resolved), gbv_open,
        recovered_open (collected so far by open assets), predicted, realised, deviation_rate, predicted_low,
        predicted_high, coverage_count, coverage_gbv, nominal_coverage, amc_n, amc_predicted, amc_realised,
        amc_deviation_rate, model_deviation_rate_amc_assets.
    segments : DataFrame
        :data:`SEGMENT_COLUMNS`; the first row is dimension ``overall``, segment ``all``.
    corrections : Corrections
        What the uncorrected model should carry after this round (composed with the model's own corrections).
    round_corrections : Corrections
        This round's multipliers alone, relative to the predictions backtested.
    assets : DataFrame
        Resolved assets of the window: amc_id, asset_id, the segment columns, gbv, predicted, predicted_low,
        predicted_high, realised, covered, amc_predicted.
    window : dict
        kind (``out_of_time`` or ``all_history``), cutoff, holdout_from, valued_from, valued_to (ISO dates).
    notes : tuple of str
        What the reader must know (undefined rates, excluded rows, in-sample windows).
    model_id, model_label : str
    cutoff : date
    holdout_from : date or None
    round : int
        Provisional until :func:`write_backtest` numbers it from the rounds already recorded.
    """

    overall: dict[str, Any]
    segments: pd.DataFrame
    corrections: Corrections
    round_corrections: Corrections
    assets: pd.DataFrame
    window: dict[str, Any]
    notes: tuple[str, ...]
    model_id: str
    model_label: str
    cutoff: date
    holdout_from: date | None
    round: int = 1


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def _iso(d: object) -> str | None:
    if d is None or (not isinstance(d, str) and pd.isna(d)):
        return None
    return pd.Timestamp(d).date().isoformat()


def _max_round(frame: pd.DataFrame | None) -> int:
    if frame is None or not len(frame):
        return 0
    if "round" not in frame.columns:
        return len(frame)
    rounds = pd.to_numeric(frame["round"], errors="coerce")
    return int(rounds.max()) if rounds.notna().any() else len(frame)


def backtest(
    history: Any,
    model: RateModel,
    *,
    cutoff: date | None = None,
    holdout_from: date | None = None,
    correction_dims: tuple[str, ...] = CORRECTION_DIMENSIONS,
    credibility_k: float = CREDIBILITY_K,
) -> BacktestResult:
    """Backtest ``model`` on a history (see the module docstring for every definition).

    Parameters
    ----------
    history : History or DataFrame
        A :class:`pooling.tapes.history.History` (its ``assets`` and ``cutoff`` are used) or its ``assets`` frame:
        at least gbv, valued_on, recovered, resolved_on; the segment columns where present; predicted_recovery
        optional.
    model : object
        ``.id``, ``.label`` and ``.predict(assets, as_of)`` returning ``rate``, ``rate_low``, ``rate_high`` aligned
        with ``assets``; ``as_of`` is passed as each asset's ``valued_on``. ``.corrections`` and ``.backtests`` are
        used when present.
    cutoff : date, optional
        The data cut-off: an asset is resolved iff ``resolved_on`` is on or before it. Default: ``history.cutoff``,
        else the latest ``valued_on`` / ``resolved_on``.
    holdout_from : date, optional
        Out of time: only assets valued on or after this date are backtested.
    correction_dims, credibility_k :
        Dimensions (in backfitting order) and credibility constant of the fitted corrections.

    Returns
    -------
    BacktestResult
    """
    frame = history.assets if hasattr(history, "assets") else history
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("history must be a History or a DataFrame of history assets")
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"the history has no column(s) {', '.join(missing)}; a backtest needs {', '.join(_REQUIRED)}")
    valued = pd.to_datetime(frame["valued_on"])
    resolved_on = pd.to_datetime(frame["resolved_on"])
    if cutoff is None:
        cutoff = getattr(history, "cutoff", None)
    if cutoff is None:
        cutoff = max(d for d in (valued.max(), resolved_on.max()) if pd.notna(d)).date()
    cut = pd.Timestamp(cutoff)
    notes: list[str] = []

    in_window = valued.notna() & (valued <= cut)
    if (n_late := int((valued > cut).sum())):
        notes.append(f"{n_late} asset(s) valued after the cut-off {_iso(cut)} are left out.")
    if holdout_from is not None:
        hold = pd.Timestamp(holdout_from)
        n_before = int((in_window & (valued < hold)).sum())
        in_window &= valued >= hold
        notes.append(f"Out of time: only assets valued on or after {_iso(hold)} are backtested "
                     f"({n_before} earlier asset(s) left out).")
    else:
        notes.append("Not out of time: every asset valued up to the cut-off is backtested. If the model was "
                     "calibrated on this history its deviation here flatters it; give a holdout date for an "
                     "out-of-time test.")
    notes.extend(_training_overlap(model, holdout_from))

    pos = np.flatnonzero(in_window.to_numpy())  # positions: the frame's index need not be unique
    w = frame.iloc[pos]
    valued_w = valued.iloc[pos]
    resolved = (resolved_on.notna() & (resolved_on <= cut)).to_numpy()[pos]
    r = w.iloc[np.flatnonzero(resolved)]
    gbv_all = w["gbv"].to_numpy(dtype=float)
    G = r["gbv"].to_numpy(dtype=float)
    Y = r["recovered"].to_numpy(dtype=float)

    rates = _predict(model, r)
    P, P_lo, P_hi = (rates[c].to_numpy(dtype=float) * G for c in ("rate", "rate_low", "rate_high"))
    unpredicted = ~(np.isfinite(P) & np.isfinite(Y))
    if unpredicted.any():  # left out of every sum rather than turning them NaN
        notes.append(f"{int(unpredicted.sum())} resolved asset(s) have no model prediction or no recovered amount "
                     "and are left out.")
        keep = ~unpredicted
        in_w = np.ones(len(w), dtype=bool)
        in_w[np.flatnonzero(resolved)[unpredicted]] = False
        w, valued_w, resolved, gbv_all = w.iloc[in_w], valued_w.iloc[in_w], resolved[in_w], gbv_all[in_w]
        r, G, Y, P, P_lo, P_hi = r.iloc[keep], G[keep], Y[keep], P[keep], P_lo[keep], P_hi[keep]
    tol = 1e-9 * np.maximum(G, 1.0)
    covered = (P_lo - tol <= Y) & (P_hi + tol >= Y)  # P⁻ ≤ Y ≤ P⁺, to rounding
    if "predicted_recovery" in r.columns:
        amc = pd.to_numeric(r["predicted_recovery"], errors="coerce").to_numpy(dtype=float)
    else:
        amc = np.full(len(r), np.nan)
    has_amc = np.isfinite(amc)

    # one row per window asset; resolved-only quantities are zero on open rows so that sums need no masks
    per = pd.DataFrame(index=w.index)
    zeros = np.zeros(len(w))

    def on_resolved(values: np.ndarray) -> np.ndarray:
        out = zeros.copy()
        out[resolved] = values
        return out

    per["n"] = resolved.astype(float)
    per["gbv"] = np.where(resolved, gbv_all, 0.0)
    per["predicted"] = on_resolved(P)
    per["realised"] = on_resolved(Y)
    per["covered_n"] = on_resolved(covered.astype(float))
    per["covered_gbv"] = on_resolved(np.where(covered, G, 0.0))
    per["predicted_low"] = on_resolved(P_lo)
    per["predicted_high"] = on_resolved(P_hi)
    per["amc_n"] = on_resolved(has_amc.astype(float))
    per["amc_predicted"] = on_resolved(np.where(has_amc, amc, 0.0))
    per["amc_realised"] = on_resolved(np.where(has_amc, Y, 0.0))
    per["amc_model"] = on_resolved(np.where(has_amc, P, 0.0))
    per["n_open"] = (~resolved).astype(float)
    per["gbv_open"] = np.where(resolved, 0.0, gbv_all)
    per["recovered_open"] = np.where(resolved, 0.0, w["recovered"].to_numpy(dtype=float))

    dims = [d for d in SEGMENT_DIMENSIONS if d in w.columns or d == "vintage"]
    keys = {d: segment_keys(w, d) for d in dims}
    totals = per.sum()
    parts = [_finish(pd.DataFrame([totals]).assign(dimension="overall", segment="all"))]
    for d in dims:
        g = per.groupby(keys[d].to_numpy(), sort=True).sum()
        parts.append(_finish(g.assign(dimension=d, segment=g.index.astype(str)).reset_index(drop=True)))
    segments = pd.concat(parts, ignore_index=True)
    overall_row = segments.iloc[0]

    n_resolved = int(totals["n"])
    overall: dict[str, Any] = {
        "n_assets": len(w), "n_resolved": n_resolved, "n_open": int(totals["n_open"]),
        "gbv": float(totals["gbv"]), "gbv_open": float(totals["gbv_open"]),
        "recovered_open": float(totals["recovered_open"]),
        "predicted": float(totals["predicted"]), "realised": float(totals["realised"]),
        "deviation_rate": float(overall_row["deviation_rate"]),
        "predicted_low": float(totals["predicted_low"]), "predicted_high": float(totals["predicted_high"]),
        "coverage_count": float(overall_row["coverage"]), "coverage_gbv": float(overall_row["coverage_gbv"]),
        "nominal_coverage": NOMINAL_COVERAGE,
        "amc_n": int(totals["amc_n"]), "amc_predicted": float(overall_row["amc_predicted"]),
        "amc_realised": float(overall_row["amc_realised"]),
        "amc_deviation_rate": float(overall_row["amc_deviation_rate"]),
        "model_deviation_rate_amc_assets": float(_ratio(totals["amc_model"] - totals["amc_realised"],
                                                        totals["amc_realised"])),
    }
    notes.extend(_rate_notes(overall, segments))

    model_id = str(getattr(model, "id", ""))
    first_round = 1 + _max_round(getattr(model, "backtests", None))
    fit_frame = r.loc[:, [c for c in (*correction_dims, "gbv", "valued_on") if c in r.columns]]
    fitted = fit_corrections(fit_frame, P, Y, correction_dims, credibility_k, model_id=model_id, round=first_round)
    carried = getattr(model, "corrections", None)
    cumulative = compose_corrections(carried, fitted)

    ids = {c: r[c].astype(str).to_numpy() for c in ("amc_id", "asset_id") if c in r.columns}
    assets = pd.DataFrame({**ids, **{d: keys[d].to_numpy()[resolved] for d in dims}, "gbv": G,
                           "predicted": P, "predicted_low": P_lo, "predicted_high": P_hi, "realised": Y,
                           "covered": covered, "amc_predicted": amc}, index=r.index)

    window = {
        "kind": "out_of_time" if holdout_from is not None else "all_history",
        "cutoff": _iso(cut),
        "holdout_from": _iso(holdout_from),
        "valued_from": _iso(valued_w.min()) if len(w) else None,
        "valued_to": _iso(valued_w.max()) if len(w) else None,
    }
    return BacktestResult(
        overall=overall, segments=segments, corrections=cumulative, round_corrections=fitted, assets=assets,
        window=window, notes=tuple(notes), model_id=model_id, model_label=str(getattr(model, "label", model_id)),
        cutoff=cut.date(), holdout_from=None if holdout_from is None else pd.Timestamp(holdout_from).date(),
        round=first_round,
    )


def _predict(model: RateModel, r: pd.DataFrame) -> pd.DataFrame:
    """The model's rates for the resolved assets ``r``, each as it was on its ``valued_on``."""
    cols = ["rate", "rate_low", "rate_high"]
    if not len(r):
        return pd.DataFrame({c: np.zeros(0) for c in cols}, index=r.index)
    rates = model.predict(r, as_of=pd.to_datetime(r["valued_on"]))
    lacking = [c for c in cols if c not in rates.columns]
    if lacking:
        raise ValueError(f"model {getattr(model, 'id', '?')} predict() returned no column(s) {', '.join(lacking)}")
    if len(rates) != len(r):
        raise ValueError(f"model predict() returned {len(rates)} rows for {len(r)} assets")
    rates = rates[cols]
    if not rates.index.equals(r.index):
        rates = rates.set_axis(r.index)
    return rates


def _finish(g: pd.DataFrame) -> pd.DataFrame:
    """Rates from the sums of one grouping (see the module docstring)."""
    g = g.copy()
    g["deviation_rate"] = _ratio(g["predicted"] - g["realised"], g["realised"])
    g["coverage"] = _ratio(g["covered_n"], g["n"])
    g["coverage_gbv"] = _ratio(g["covered_gbv"], g["gbv"])
    has = g["amc_n"] > 0
    g["amc_deviation_rate"] = np.where(has, _ratio(g["amc_predicted"] - g["amc_realised"], g["amc_realised"]),
                                       np.nan)
    g["amc_predicted"] = g["amc_predicted"].where(has)
    g["amc_realised"] = g["amc_realised"].where(has)
    for c in ("n", "amc_n", "n_open"):
        g[c] = g[c].round().astype("int64")
    return g[SEGMENT_COLUMNS]


def _rate_notes(overall: dict[str, Any], segments: pd.DataFrame) -> list[str]:
    notes = []
    if overall["n_resolved"] == 0:
        notes.append("No resolved asset in the window: no deviation rate or coverage can be measured.")
    elif not overall["realised"] > 0:
        notes.append("The resolved assets realised nothing (Σ realised = 0): the deviation rate "
                     "(Σ predicted − Σ realised) / Σ realised is not defined (NaN).")
    seg = segments.iloc[1:]
    undefined = seg[(seg["n"] > 0) & ~(seg["realised"] > 0)]
    if len(undefined):
        names = ", ".join(f"{d}={s}" for d, s in list(zip(undefined["dimension"], undefined["segment"], strict=True))[:8])
        notes.append(f"{len(undefined)} segment(s) realised nothing, so their deviation rate is not defined (NaN): "
                     f"{names}{' …' if len(undefined) > 8 else ''}.")
    if overall["n_open"]:
        notes.append(f"{overall['n_open']} open asset(s) (gbv {overall['gbv_open']:,.0f} CNY) are right-censored: "
                     "excluded from deviation and coverage.")
    if overall["n_resolved"] and overall["amc_n"] == 0:
        notes.append("The history has no AMC predicted_recovery: the AMC's own valuations are not backtested.")
    elif 0 < overall["amc_n"] < overall["n_resolved"]:
        notes.append(f"The AMC's own predicted_recovery is given for {overall['amc_n']} of "
                     f"{overall['n_resolved']} resolved assets; its deviation rate is over those only "
                     "(compare with model_deviation_rate_amc_assets).")
    return notes


def _training_overlap(model: RateModel, holdout_from: date | None) -> list[str]:
    """A note when the backtest window may overlap the model's training window."""
    try:
        training = model.training  # type: ignore[attr-defined]
    except AttributeError:
        return []
    if not isinstance(training, dict) or holdout_from is None:
        return []
    trained_to = training.get("holdout_from") or training.get("to")
    if trained_to and pd.Timestamp(trained_to) > pd.Timestamp(holdout_from):
        return [f"The model was trained on assets up to {_iso(trained_to)}, after the holdout date "
                f"{_iso(holdout_from)}: part of this window is in sample."]
    return []


# ---------------------------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------------------------


def read_rounds(path: Path) -> pd.DataFrame:
    """A rounds file (backtests.csv or backtest.csv) as text cells, or an empty frame when it does not exist."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, OSError) as exc:
        raise InputError(f"{path} cannot be read as a CSV of earlier backtest rounds: {exc}") from None


def _append_csv(path: Path, rows: pd.DataFrame) -> Path:
    """Append ``rows`` to the CSV at ``path`` atomically; earlier rows keep their exact text."""
    old = read_rounds(path)
    new = pd.read_csv(io.StringIO(rows.to_csv(index=False, lineterminator="\n")), dtype=str,
                      keep_default_na=False)
    if len(old.columns):
        columns = list(old.columns) + [c for c in new.columns if c not in old.columns]
        new = pd.concat([old, new], ignore_index=True).reindex(columns=columns).fillna("")
    return write_csv(new, path)


def write_backtest(
    result: BacktestResult,
    out_dir: Path,
    model_dir: Path,
    apply_corrections: bool = False,
    *,
    html: Callable[[BacktestResult, pd.DataFrame, Path], Path] | None = None,
) -> list[Path]:
    """Record one backtest round (every file written atomically).

    The round is 1 + the rounds already recorded in ``model_dir/backtests.csv`` (or in ``out_dir/backtest.csv``
    when that has more). Writes, in order:

    * ``out_dir/backtest.csv`` — :data:`BACKTEST_CSV_LEAD` + :data:`SEGMENT_COLUMNS`, appended (earlier rounds'
      rows are kept as they were);
    * ``out_dir/corrections-<round>.json`` and ``out_dir/corrections.json`` (the latest);
    * one row appended to ``model_dir/backtests.csv`` (:data:`ROUND_COLUMNS`);
    * with ``apply_corrections``, ``model_dir/corrections.json`` (a copy: the model carries it from then on);
    * ``out_dir/backtest.html`` when ``html`` is given (:func:`pooling.report.backtest_page.write_backtest_html`:
      the report layer sits above this one, so the caller passes it in).

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir, model_dir = Path(out_dir), Path(model_dir)
    model_rounds = read_rounds(model_dir / "backtests.csv")
    n = 1 + max(_max_round(model_rounds), _max_round(read_rounds(out_dir / "backtest.csv")))
    result = dataclasses.replace(result, round=n, corrections=dataclasses.replace(result.corrections, round=n),
                                 round_corrections=dataclasses.replace(result.round_corrections, round=n))
    o = result.overall
    lead = {"round": n, "model_id": result.model_id, "model_label": result.model_label,
            "cutoff": _iso(result.cutoff), "holdout_from": _iso(result.holdout_from) or "",
            "window": result.window["kind"]}
    rows = result.segments.assign(**lead)[BACKTEST_CSV_LEAD + SEGMENT_COLUMNS]
    paths = [_append_csv(out_dir / "backtest.csv", rows)]
    paths.append(write_corrections(result.corrections, out_dir / f"corrections-{n}.json"))
    paths.append(write_corrections(result.corrections, out_dir / "corrections.json"))
    round_row = pd.DataFrame([{
        "round": n, "date": _iso(result.cutoff), "model_id": result.model_id,
        "holdout_from": _iso(result.holdout_from) or "", "n_resolved": o["n_resolved"], "gbv": o["gbv"],
        "deviation_rate": o["deviation_rate"], "coverage_count": o["coverage_count"],
        "coverage_gbv": o["coverage_gbv"], "amc_deviation_rate": o["amc_deviation_rate"],
    }], columns=ROUND_COLUMNS)
    paths.append(_append_csv(model_dir / "backtests.csv", round_row))
    if apply_corrections:
        data = (out_dir / "corrections.json").read_bytes()
        paths.append(write_atomic(model_dir / "corrections.json", lambda tmp: tmp.write_bytes(data)))
    if html is not None:
        paths.append(html(result, read_rounds(model_dir / "backtests.csv"), out_dir / "backtest.html"))
    return paths

