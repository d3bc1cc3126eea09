"""Read and validate servicer collection reports (DESIGN §12).

A report is a table of asset-level cash collections — ``amc_id, asset_id, date, amount`` — with an optional
``legal_status`` update (``settled`` / 结清 closes the position: nothing more is expected from it). Files are CSV,
XLSX or Parquet and are read by the loan-tape reader (:func:`pooling.tapes.load.read_table`: UTF-8, UTF-8 with BOM
or GBK; title rows above the header skipped); headers may be Chinese (资产编号, 回收日期, 回收金额, 诉讼状态 …,
:data:`pooling.tapes.headers.REPORT_CHINESE_HEADERS`).

Every problem of every file is collected as (file, row, column, value, problem), as for tapes, and raised at once
as :class:`~pooling.errors.ValidationFailed`:

* a required column missing, an empty ``amc_id`` / ``asset_id``;
* an asset that is not in the deal's pool (``pool.csv``);
* a date missing, unparseable, on or before the closing date (the scenario's ``as_of``: the deal's month 1 starts
  the day after) or after the report date (``--as-of``: a collection cannot be reported before it happens);
* an amount unparseable, negative, or missing on a row that carries no legal_status update;
* an unknown legal_status;
* the same (amc_id, asset_id, date) twice, in one file or across files (the later row is reported, naming the
  first).

Checks are vectorised over rows; the key lookups are one merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pooling import vocab
from pooling.errors import ValidationFailed
from pooling.tapes.headers import report_alias_table
from pooling.tapes.load import _dates, _map_headers, _number, _Problems, _text, read_table

REQUIRED = ("amc_id", "asset_id", "date", "amount")
#: the frame :func:`read_reports` returns
REPORT_FRAME_COLUMNS = ("amc_id", "asset_id", "date", "amount", "legal_status", "source_file", "source_row",
                        "asset_index")


def read_reports(
    paths: Sequence[Path],
    pool_keys: pd.DataFrame,
    closing: pd.Timestamp,
    as_of: pd.Timestamp | None,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read, validate and stack servicer reports.

    Parameters
    ----------
    paths
        The report files, in the order given (row order is kept: file by file, line by line).
    pool_keys
        ``amc_id, asset_id`` of the deal's pool; a report row naming any other asset is a problem.
    closing
        The deal's closing (cut-off) date; collections must fall after it.
    as_of
        The report date; collections must not fall after it. None: no upper bound (the caller then takes the latest
        collection date as the report date).
    names
        How each file is named in the problem table (default: the path as given).

    Returns
    -------
    pandas.DataFrame
        :data:`REPORT_FRAME_COLUMNS`: amounts float64 (0 on a status-only row), dates datetime64, legal_status a
        canonical status or '', ``asset_index`` the row's position in ``pool_keys``. Raises :class:`~pooling.errors.ValidationFailed` with every problem found.
    """
    names = [str(p) for p in paths] if names is None else list(names)
    problems = _Problems()
    table = report_alias_table()
    closing = pd.Timestamp(closing)
    parts = []
    for path, file in zip(paths, names, strict=True):
        raw = read_table(Path(path), file, table, problems, allow_empty=True)  # a month with no collections
        if raw is None:
            continue
        mapping = _map_headers(raw, file, table, REQUIRED, problems)
        if any(c not in mapping for c in REQUIRED):
            continue
        parts.append(_validate_file(raw, file, mapping, closing, as_of, problems))
    if not paths:
        problems.add("(none)", 0, "", "", "no collection report given: pass --collections FILE")
    frame = (pd.concat(parts, ignore_index=True) if parts else
             pd.DataFrame({c: pd.Series(dtype=object) for c in REPORT_FRAME_COLUMNS}))
    # reports that hold only their header (months without collections) stack to no rows: nothing collected
    frame["asset_index"] = _check_keys(frame, pool_keys, problems) if len(frame) else np.zeros(0, dtype=np.int64)
    if problems:
        raise ValidationFailed(problems.frame())
    return frame[list(REPORT_FRAME_COLUMNS)].reset_index(drop=True)


def _validate_file(raw, file: str, mapping: dict[str, int], closing: pd.Timestamp, as_of: pd.Timestamp | None,
                   problems: _Problems) -> pd.DataFrame:
    """One file's values checked; its canonical rows (with the header names kept for the key checks)."""
    lines = raw.lines
    col = {c: raw.frame.iloc[:, pos] for c, pos in mapping.items()}
    header = {c: str(raw.frame.columns[pos]) for c, pos in mapping.items()}
    out = pd.DataFrame({"source_file": file, "source_row": lines})
    for c in ("amc_id", "asset_id"):
        out[c] = _text(col[c]).set_axis(out.index)  # kept as the reader's string array (no object round trip)
        empty = (out[c] == "").to_numpy()
        problems.add(file, lines[empty], header[c], "", f"{c} is empty")

    status = np.full(len(out), "", dtype=object)
    if "legal_status" in col:
        text = _text(col["legal_status"])
        canon = vocab.normalize(text, "legal_status")
        empty = (text == "").to_numpy()
        unknown = canon.isna().to_numpy() & ~empty
        problems.add(file, lines[unknown], header["legal_status"], text.to_numpy()[unknown],
                     f"unknown legal_status: expected one of {', '.join(vocab.LEGAL_STATUSES)} (or a Chinese label, "
                     "see docs/tape.md)")
        status = np.where(canon.isna().to_numpy(), "", canon.astype(object).fillna("").to_numpy())
    out["legal_status"] = status
    has_status = status != ""

    values, missing, bad = _number(col["amount"])
    h = header["amount"]
    raw_amounts = col["amount"].to_numpy()
    problems.add(file, lines[bad], h, raw_amounts[bad], "amount is not a number")
    problems.add(file, lines[missing & ~has_status], h, "",
                 "amount is missing (a row without an amount must carry a legal_status update)")
    negative = np.nan_to_num(values, nan=0.0) < 0
    problems.add(file, lines[negative], h, raw_amounts[negative],
                 "amount is negative: report collections as they are received (a reversal nets into its month)")
    out["amount"] = np.nan_to_num(values, nan=0.0)

    dates, missing, bad = _dates(col["date"])
    h = header["date"]
    raw_dates = col["date"].to_numpy()
    problems.add(file, lines[missing], h, "", "date is missing")
    problems.add(file, lines[bad], h, raw_dates[bad], "date is not a date (use yyyy-mm-dd)")
    shown = dates.dt.strftime("%Y-%m-%d").to_numpy()
    early = (dates <= closing).to_numpy()
    problems.add(file, lines[early], h, shown[early],
                 f"date is on or before the deal's closing date ({closing:%Y-%m-%d}): collections before closing "
                 "belong to the seller")
    if as_of is not None:
        late = (dates > as_of).to_numpy()
        problems.add(file, lines[late], h, shown[late],
                     f"date is after the report date ({as_of:%Y-%m-%d}, --as-of): it is in the future")
    out["date"] = dates.to_numpy()
    return out.assign(_asset_header=header["asset_id"], _date_header=header["date"])


def _positions(frame: pd.DataFrame, pool_keys: pd.DataFrame) -> np.ndarray:
    """Each row's position in ``pool_keys`` (unique (amc_id, asset_id) pairs, as pool.csv), NaN when not there.
    When asset ids are unique over the pool (the usual case) one factorisation of asset_id and a check of the AMC;
    otherwise a merge on both keys."""
    amc, asset = pool_keys["amc_id"].astype(str), pool_keys["asset_id"].astype(str)
    n = len(asset)
    # codes in order of first appearance: when the pool's ids are unique they are 0..n-1, and a row's code is
    # its asset's position (or ≥ n: not in the pool)
    codes, _ = pd.factorize(np.concatenate([asset.to_numpy(dtype=object), frame["asset_id"].to_numpy(dtype=object)]))
    if (codes[:n] == np.arange(n)).all():
        pos = codes[n:].astype(float)
        found = pos < n
        pos[~found] = np.nan
        same = np.zeros(len(frame), dtype=bool)
        same[found] = amc.to_numpy()[pos[found].astype(np.int64)] == frame["amc_id"].to_numpy()[found]
        return np.where(same, pos, np.nan)
    keys = pd.DataFrame({"amc_id": amc, "asset_id": asset, "_pos": np.arange(len(pool_keys))})
    merged = frame[["amc_id", "asset_id"]].merge(keys, on=["amc_id", "asset_id"], how="left")
    return merged["_pos"].to_numpy(dtype=float, na_value=np.nan)


def _check_keys(frame: pd.DataFrame, pool_keys: pd.DataFrame, problems: _Problems) -> np.ndarray:
    """Unknown assets (not in the pool) and duplicate (amc_id, asset_id, date) rows over all files; returns each
    row's position in ``pool_keys`` (-1 when unknown)."""
    position = _positions(frame, pool_keys)
    unknown = np.isnan(position) & (frame["asset_id"] != "").to_numpy() & (frame["amc_id"] != "").to_numpy()
    for file, idx in frame.index[unknown].groupby(frame["source_file"].to_numpy()[unknown]).items():
        rows = frame.loc[idx]
        problems.add(file, rows["source_row"].to_numpy(), str(rows["_asset_header"].iloc[0]),
                     (rows["amc_id"] + "/" + rows["asset_id"]).to_numpy(),
                     "unknown asset: not in the deal's pool (pool.csv)")
    # duplicates: on (pool position, day) for known assets — integers, cheap at millions of rows — and on the
    # text keys for the (few) unknown ones
    dated = frame["date"].notna().to_numpy()
    day = frame["date"].to_numpy("datetime64[D]").astype(np.int64)
    known = ~np.isnan(position) & dated
    dup = np.zeros(len(frame), dtype=bool)
    if known.any():
        code = np.where(known, np.nan_to_num(position, nan=0.0).astype(np.int64), -1)
        key = pd.Series(code * 1_000_000 + (day - day[known].min()))
        dup[known] = key[known].duplicated(keep="first").to_numpy()
    other = ~known & dated & (frame["asset_id"] != "").to_numpy()
    if other.any():
        dup[other] = frame.loc[other, ["amc_id", "asset_id", "date"]].duplicated(keep="first").to_numpy()
    if dup.any():
        groups = frame.groupby(["amc_id", "asset_id", "date"], sort=False, dropna=True)
        first, first_file = groups["source_row"].transform("first"), groups["source_file"].transform("first")
        for file, idx in frame.index[dup].groupby(frame["source_file"].to_numpy()[dup]).items():
            rows = frame.loc[idx]
            where = [f"{f} row {int(r)}" if f != file else f"row {int(r)}"
                     for f, r in zip(first_file.loc[idx], first.loc[idx], strict=True)]
            problems.add(file, rows["source_row"].to_numpy(), str(rows["_date_header"].iloc[0]),
                         rows["date"].dt.strftime("%Y-%m-%d").to_numpy(),
                         [f"duplicate collection: the same asset and date as {w} (one row per asset and date; "
                          "add the amounts)" for w in where])
    return np.where(np.isnan(position), -1, position).astype(np.int64)
