"""Read and validate history tapes: resolved (and still open) assets with what they recovered (DESIGN §4).

A history tape describes each asset *as it was when valued* — every loan-tape column of DESIGN §3.1 — plus its
outcome: ``valued_on`` (date of the valuation or acquisition), ``recovered`` (gross collections from valued_on to
``resolved_on``, or to the data cut-off while the asset is still open), ``resolved_on`` (empty while open) and,
optionally, ``costs``, ``resolution`` (settled, auction, transfer, restructuring, write_off, open), ``amc_id`` and
the AMC's own ``predicted_recovery`` / ``predicted_months`` at valued_on.

Files are read with the loan-tape machinery of :mod:`pooling.tapes.load` (CSV in UTF-8, UTF-8 with BOM or GBK;
XLSX with title rows; Parquet), headers mapped through :func:`pooling.tapes.headers.history_alias_table` (Chinese
headers such as 估值日, 已回收金额, 结清日, 处置方式), and *every* problem of every file is reported at once as a
row of (file, row, column, value, problem) — row is the line in the file, column the header as written.

Censoring
---------
An open asset (``resolved_on`` empty) is right-censored at the cut-off: its ``recovered`` is a lower bound of its
lifetime recovery and its time to resolution is at least ``cutoff − valued_on``. The loader keeps open assets; the
consumers (calibration, backtest) must treat them as censored, never drop them or count them as resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pooling.errors import InputError, ValidationFailed
from pooling.scenario import REQUIRED_COLUMNS, TAPE_COLUMNS
from pooling.tapes.headers import HISTORY_COLUMNS, history_alias_table
from pooling.tapes.load import _dates, _map_headers, _number, _Problems, _text, _validate_tape, read_table

__all__ = [
    "HISTORY_ASSET_COLUMNS",
    "HISTORY_REQUIRED",
    "RESOLUTIONS",
    "History",
    "check_history",
    "load_history",
    "normalize_resolution",
]

#: Outcomes of a historical asset; ``open`` iff it has no resolved_on.
RESOLUTIONS: tuple[str, ...] = ("settled", "auction", "transfer", "restructuring", "write_off", "open")

#: Columns a history tape must have: the loan-tape required columns plus valued_on and recovered.
HISTORY_REQUIRED: tuple[str, ...] = (*REQUIRED_COLUMNS, "valued_on", "recovered")

#: Columns of :attr:`History.assets`, in order.
HISTORY_ASSET_COLUMNS: tuple[str, ...] = (
    "amc_id", "asset_id", "obligor_id", "gbv", "principal", "asset_type", "collateral_type", "legal_status",
    "province", "industry", "default_date", "collateral_value", "lien_rank", "book_value", "valued_on",
    "recovered", "resolved_on", "costs", "resolution", "predicted_recovery", "predicted_months",
    "source_file", "source_row",
)  # fmt: skip

# Spellings of each outcome seen in AMC disposal ledgers (处置台账).
_RESOLUTION_ALIASES: dict[str, str] = {
    "和解": "settled", "清收": "settled", "结清": "settled", "现金清收": "settled", "协议和解": "settled",
    "settlement": "settled", "paid": "settled", "repaid": "settled",
    "拍卖": "auction", "司法拍卖": "auction", "变卖": "auction", "以物抵债": "auction", "foreclosure": "auction",
    "转让": "transfer", "债权转让": "transfer", "打包转让": "transfer", "sale": "transfer", "sold": "transfer",
    "重组": "restructuring", "债务重组": "restructuring", "破产重整": "restructuring", "restructured": "restructuring",
    "核销": "write_off", "损失核销": "write_off", "writeoff": "write_off", "written_off": "write_off",
    "未结": "open", "未结清": "open", "处置中": "open", "在途": "open", "unresolved": "open", "ongoing": "open",
}  # fmt: skip


def _key(text: object) -> str:
    return "".join(ch for ch in str(text).strip().casefold() if ch not in " \u3000-_")


_RESOLUTION_LOOKUP: dict[str, str] = {_key(v): v for v in RESOLUTIONS} | {
    _key(k): v for k, v in _RESOLUTION_ALIASES.items()
}


def normalize_resolution(values: pd.Series) -> pd.Series:
    """Map raw resolution spellings (English codes or Chinese labels such as 和解, 拍卖, 核销, 未结) to
    :data:`RESOLUTIONS`; empty values become ``""`` and unknown ones NA.

    >>> normalize_resolution(pd.Series(["拍卖", "Write-Off", "", "lottery"])).tolist()
    ['auction', 'write_off', '', nan]
    """
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    mapped = np.array(
        ["" if (isinstance(u, str) and not u.strip()) else _RESOLUTION_LOOKUP.get(_key(u), np.nan) for u in uniques],
        dtype=object,
    )
    out = np.full(len(values), "", dtype=object)
    ok = codes >= 0
    out[ok] = mapped[codes[ok]]
    return pd.Series(out, index=values.index, dtype=object)


@dataclass(frozen=True)
class History:
    """Validated, pooled history tapes.

    Attributes
    ----------
    assets : DataFrame
        One row per historical asset, columns :data:`HISTORY_ASSET_COLUMNS` with the dtypes of the loan tapes'
        ``Tapes.assets`` (enums and province/industry categorical, amounts float64 CNY, dates datetime64[ns]),
        ``resolved_on`` NaT while open, ``resolution`` one of :data:`RESOLUTIONS` (``"open"`` exactly when
        ``resolved_on`` is NaT; ``""`` for a resolved asset whose outcome was not given), ``costs`` /
        ``predicted_recovery`` / ``predicted_months`` / ``collateral_value`` / ``lien_rank`` / ``book_value`` NaN
        when absent, and ``source_file`` / ``source_row`` (line in the file).
    cutoff : date
        The data cut-off: ``as_of`` when given, else the latest valued_on or resolved_on in the data. Open assets
        are censored here.
    files : list of str
        The files read, as given.
    """

    assets: pd.DataFrame
    cutoff: date
    files: list[str]


def _canonical_targets(columns: dict[str, str] | None) -> None:
    allowed = set(TAPE_COLUMNS) | set(HISTORY_COLUMNS)
    unknown = sorted({v for v in (columns or {}).values() if v not in allowed})
    if unknown:
        raise InputError(
            f"columns map to unknown canonical name(s) {unknown}; expected one of {sorted(allowed)}"
        )


def _validate_history(raw, file: str, stem_amc: str, mapping: dict[str, int], problems: _Problems) -> pd.DataFrame:
    """The loan-tape checks (without as_of and per-file duplicate ids) plus the history columns' own checks.

    Cut-off dependent checks are done later, once over all files (the cut-off may come from the data).
    """
    out = _validate_tape(raw, file, stem_amc, None, mapping, problems, unique_ids=False)
    lines = raw.lines
    col = {c: raw.frame.iloc[:, pos] for c, pos in mapping.items()}
    header = {c: str(raw.frame.columns[pos]) for c, pos in mapping.items()}
    n = len(out)

    if "amc_id" in col:
        amc = _text(col["amc_id"])
        empty = (amc == "").to_numpy()
        problems.add(file, lines[empty], header["amc_id"], "", "amc_id is empty (leave the column out to use the file name)")
        out["amc_id"] = amc.to_numpy()

    for c in ("recovered", "costs", "predicted_recovery", "predicted_months"):
        if c not in col:
            out[c] = np.nan
            continue
        values, missing, bad = _number(col[c])
        raw_values = col[c].to_numpy()
        problems.add(file, lines[bad], header[c], raw_values[bad], f"{c} is not a number")
        if c == "recovered":
            problems.add(file, lines[missing], header[c], "", "recovered is missing (0 when nothing was collected)")
        negative = np.nan_to_num(values, nan=0.0) < 0
        problems.add(file, lines[negative], header[c], raw_values[negative], f"{c} is negative")
        out[c] = values

    unreadable = np.zeros(n, dtype=bool)  # resolved_on given but not a date: neither open nor resolved
    for c in ("valued_on", "resolved_on"):
        if c not in col:
            out[c] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
            continue
        dates, missing, bad = _dates(col[c])
        if c == "resolved_on":
            unreadable = bad
        problems.add(file, lines[bad], header[c], col[c].to_numpy()[bad], f"{c} is not a date (use yyyy-mm-dd)")
        if c == "valued_on":
            problems.add(file, lines[missing], header[c], "", "valued_on is missing")
        out[c] = dates.to_numpy()

    valued, resolved = out["valued_on"], out["resolved_on"]
    if "default_date" in out:
        early = (valued < out["default_date"]).to_numpy()
        problems.add(
            file, lines[early], header.get("valued_on", "valued_on"), valued[early].dt.strftime("%Y-%m-%d").to_numpy(),
            [f"valued_on is before default_date ({d:%Y-%m-%d})" for d in out["default_date"][early]],
        )
    if "resolved_on" in col:
        before = (resolved < valued).to_numpy()
        problems.add(
            file, lines[before], header["resolved_on"], resolved[before].dt.strftime("%Y-%m-%d").to_numpy(),
            [f"resolved_on is before valued_on ({d:%Y-%m-%d})" for d in valued[before]],
        )

    is_open = resolved.isna().to_numpy() & ~unreadable
    if "resolution" in col:
        text = _text(col["resolution"])
        res = normalize_resolution(text)
        unknown = res.isna().to_numpy()
        problems.add(
            file, lines[unknown], header["resolution"], text.to_numpy()[unknown],
            f"unknown resolution: expected one of {', '.join(RESOLUTIONS)} (or 和解/拍卖/转让/重组/核销/未结)",
        )
        res = res.fillna("").to_numpy(dtype=object)
        said_open = res == "open"
        rs_header = header.get("resolved_on", "resolved_on")
        clash = said_open & ~is_open
        problems.add(
            file, lines[clash], header["resolution"], text.to_numpy()[clash],
            "resolution is 'open' but resolved_on is given: clear one of them",
        )
        closed = (res != "") & ~said_open & ~unknown & is_open
        problems.add(
            file, lines[closed], rs_header, "",
            [f"resolution is {r!r} but resolved_on is empty: give the date it was resolved" for r in res[closed]],
        )
    else:
        res = np.full(n, "", dtype=object)
    res = np.where((res == "") & is_open, "open", res)
    out["resolution"] = pd.array(res.astype(str), dtype="str")
    return out


def _check_cutoff(frame: pd.DataFrame, headers: dict[str, dict[str, str]], cutoff: pd.Timestamp, problems: _Problems) -> None:
    """valued_on and resolved_on must not lie after the cut-off (only possible when as_of is given)."""
    for c in ("valued_on", "resolved_on"):
        late = (frame[c] > cutoff).to_numpy()
        if not late.any():
            continue
        for file, rows in frame[late].groupby("source_file", sort=True):
            problems.add(
                file, rows["source_row"].to_numpy(), headers[file].get(c, c),
                rows[c].dt.strftime("%Y-%m-%d").to_numpy(), f"{c} is after the cut-off ({cutoff:%Y-%m-%d})",
            )


def _check_keys(frame: pd.DataFrame, headers: dict[str, dict[str, str]], problems: _Problems) -> None:
    """(amc_id, asset_id) is unique over all files; each repeat names where the key was first seen."""
    ok = (frame["asset_id"] != "") & (frame["amc_id"] != "")
    keys = frame.loc[ok, ["amc_id", "asset_id", "source_file", "source_row"]]
    dup = keys.duplicated(["amc_id", "asset_id"], keep="first")
    if not dup.any():
        return
    where = keys["source_file"] + " row " + keys["source_row"].astype(str)
    first = where.groupby([keys["amc_id"], keys["asset_id"]], sort=False).transform("first")
    d = keys[dup.to_numpy()]
    for file, rows in d.groupby("source_file", sort=True):
        problems.add(
            file, rows["source_row"].to_numpy(), headers[file].get("asset_id", "asset_id"),
            rows["asset_id"].to_numpy(),
            [f"duplicate (amc_id, asset_id) ({a}, {i}): first at {w}"
             for a, i, w in zip(rows["amc_id"], rows["asset_id"], first[rows.index], strict=True)],
        )


def check_history(
    paths: Sequence[Path | str], *, as_of: date | None = None, columns: dict[str, str] | None = None
) -> tuple[History | None, pd.DataFrame]:
    """Read and validate history tapes; return the pooled history (None if any problem) and every problem found.

    Parameters
    ----------
    paths : sequence of Path
        One or more history files (``.csv``, ``.xlsx``, ``.parquet``); several files of one AMC are fine.
    as_of : date, optional
        The data cut-off. When omitted, the latest valued_on or resolved_on in the data.
    columns : dict, optional
        Header as written → canonical name; wins over the built-in aliases (as a scenario's ``columns``).

    Returns
    -------
    history : History or None
        None when any problem was found.
    problems : DataFrame
        file, row, column, value, problem — sorted by file and row; empty when the files are clean.

    Notes
    -----
    Never raises for bad data (only :class:`~pooling.errors.InputError` when ``columns`` names an unknown
    canonical column). Beyond the loan-tape checks: valued_on missing or not a date, before default_date, after
    the cut-off; resolved_on not a date, before valued_on, after the cut-off; recovered missing, not a number or
    negative; costs / predicted_recovery / predicted_months not numbers or negative; resolution unknown,
    ``open`` with a resolved_on, or a closed resolution without one; amc_id empty; duplicate (amc_id, asset_id)
    over all files.
    """
    _canonical_targets(columns)
    problems = _Problems()
    table = history_alias_table(columns)
    frames: list[pd.DataFrame] = []
    headers: dict[str, dict[str, str]] = {}
    files = [str(p) for p in paths]
    if not files:
        raise InputError("no history files given")
    for given in files:
        path = Path(given)
        raw = read_table(path, given, table, problems)
        if raw is None:
            continue
        mapping = _map_headers(raw, given, table, HISTORY_REQUIRED, problems)
        headers[given] = {c: str(raw.frame.columns[pos]) for c, pos in mapping.items()}
        frames.append(_validate_history(raw, given, path.stem.upper(), mapping, problems))

    cutoff: pd.Timestamp | None = pd.Timestamp(as_of) if as_of is not None else None
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        if cutoff is None:
            latest = pd.concat([frame["valued_on"], frame["resolved_on"]]).max()
            cutoff = None if pd.isna(latest) else pd.Timestamp(latest)
        if cutoff is not None:
            _check_cutoff(frame, headers, cutoff, problems)
        if {"asset_id", "amc_id"} <= set(frame):
            _check_keys(frame, headers, problems)

    found = problems.frame()
    if len(found) or not frames or cutoff is None:
        if not len(found):  # no dates at all cannot happen without a problem, but keep the contract
            found = pd.DataFrame([{"file": files[0], "row": 0, "column": "valued_on", "value": "", "problem": "no valued_on dates"}])
        return None, found
    return History(assets=_pooled(frames), cutoff=cutoff.date(), files=files), found


def _pooled(frames: list[pd.DataFrame]) -> pd.DataFrame:
    assets = pd.concat(frames, ignore_index=True)
    for c in ("asset_type", "collateral_type", "legal_status", "province", "industry"):
        assets[c] = assets[c].astype(frames[0][c].dtype)
    for c in ("amc_id", "asset_id", "obligor_id", "resolution"):
        assets[c] = assets[c].fillna("").astype(str)
    for c in ("collateral_value", "lien_rank", "book_value", "costs", "predicted_recovery", "predicted_months"):
        if c not in assets:
            assets[c] = np.nan
        assets[c] = assets[c].astype("float64")
    for c in ("default_date", "valued_on", "resolved_on"):
        assets[c] = assets[c].astype("datetime64[ns]")
    assets["source_row"] = assets["source_row"].astype("int64")
    return assets[list(HISTORY_ASSET_COLUMNS)]


def load_history(
    paths: Sequence[Path | str], *, as_of: date | None = None, columns: dict[str, str] | None = None
) -> History:
    """Validated, pooled history tapes; raises :class:`~pooling.errors.ValidationFailed` listing every problem.

    See :func:`check_history` for the parameters and the checks.
    """
    history, problems = check_history(paths, as_of=as_of, columns=columns)
    if history is None:
        raise ValidationFailed(problems)
    return history

