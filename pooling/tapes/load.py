"""Read, map, validate and pool the AMCs' loan tapes (DESIGN §3.1, §10).

One pass over every tape and the links file collects *all* problems as rows of (file, row, column, value, problem),
where ``row`` is the line number in the file (the header is line 1 for a plain tape; in a sheet with title rows
above the header, the header's own line) and ``column`` is the header as written in the file. Only when no
problem is found is the pooled asset frame built; otherwise :class:`~pooling.errors.ValidationFailed` carries the
whole table.

Reading
-------
* CSV: the encoding is detected, not configured — UTF-8, UTF-8 with BOM, then GBK (as its superset GB18030).
* XLSX: the first sheet, read with calamine; title rows above the header are skipped (the header is the first row
  in which at least three cells are recognised column names).
* Parquet: typed columns are taken as they are.

Every check is vectorised over rows (masks on whole columns); the only per-value work is the mapping of *distinct*
enum spellings through :mod:`pooling.vocab`.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pooling import vocab
from pooling.errors import PROBLEM_COLUMNS, ValidationFailed
from pooling.scenario import REQUIRED_COLUMNS, Scenario
from pooling.tapes.headers import alias_table, header_key

AMOUNT_COLUMNS = ("gbv", "principal", "collateral_value", "book_value", "expected_recovery")
ENUM_COLUMNS = {
    "asset_type": vocab.ASSET_TYPES,
    "collateral_type": vocab.COLLATERAL_TYPES,
    "legal_status": vocab.LEGAL_STATUSES,
}
TEXT_COLUMNS = ("asset_id", "obligor_id", "obligor_name", "guarantor_ids", "source_loan_id", "package")
LINK_COLUMNS = ("from_obligor", "to_obligor", "relation")
_LINK_ALIASES = {
    "from": "from_obligor",
    "to": "to_obligor",
    "担保人编号": "from_obligor",
    "关联方编号": "from_obligor",
    "被担保人编号": "to_obligor",
    "借款人编号": "to_obligor",
    "关系": "relation",
    "关系类型": "relation",
}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S")
_HEADER_SCAN_ROWS = 20
_MIN_HEADER_HITS = 3


@dataclass(frozen=True)
class Tapes:
    """The pooled, validated inputs.

    Attributes
    ----------
    assets
        One row per asset, keyed (amc_id, asset_id), canonical columns with canonical values: amounts float64 in
        CNY, enums as categoricals, province as ISO 3166-2:CN code, industry as GB/T 4754 section letter,
        default_date datetime64; plus ``source_file`` and ``source_row`` (line in the file) for traceability.
    links
        from_obligor, to_obligor, relation — the links file plus each tape's guarantor_ids (guarantor → borrower).
    """

    assets: pd.DataFrame
    links: pd.DataFrame


class _Problems:
    """Accumulates problem rows as small frames; one concat at the end."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, file: str, rows: Iterable[int] | np.ndarray | int, column: str, values, problem) -> None:
        rows = np.atleast_1d(np.asarray(rows))
        if rows.size == 0:
            return
        values = np.broadcast_to(np.asarray(values, dtype=object), rows.shape)
        problem = np.broadcast_to(np.asarray(problem, dtype=object), rows.shape)
        self._parts.append(
            pd.DataFrame({"file": file, "row": rows.astype("int64"), "column": column, "value": values, "problem": problem})
        )

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else object) for c in PROBLEM_COLUMNS})
        out = pd.concat(self._parts, ignore_index=True)
        out["value"] = out["value"].map(_show)
        return out.sort_values(["file", "row"], kind="stable", ignore_index=True)

    def __bool__(self) -> bool:
        return bool(self._parts)


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


# ----------------------------------------------------------------------------------------------------------- reading
@dataclass
class _Raw:
    """A table as read: original headers, raw values, the file line of each data row."""

    frame: pd.DataFrame
    lines: np.ndarray
    header_line: int


def _decode(data: bytes) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _header_index(rows: list[list[object]], table: dict[str, str]) -> int:
    """Index of the first row that looks like a header (≥ 3 recognised names); 0 when none does."""
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        hits = {table[k] for k in (header_key(c) for c in row if c is not None and str(c) != "nan") if k in table}
        if len(hits) >= _MIN_HEADER_HITS:
            return i
    return 0


def _read_csv(path: Path, file: str, table: dict[str, str], problems: _Problems) -> _Raw | None:
    data = path.read_bytes()
    text = _decode(data)
    if text is None:
        problems.add(file, 0, "", "", "cannot decode the file: it is neither UTF-8 nor GBK; save it as UTF-8 CSV")
        return None
    if not text.strip():
        problems.add(file, 0, "", "", "empty file: no header and no rows")
        return None
    sep = _delimiter(text)
    head = list(csv.reader(io.StringIO("\n".join(text.splitlines()[:_HEADER_SCAN_ROWS])), delimiter=sep))
    skip = _header_index(head, table)
    header = head[skip] if skip < len(head) else []
    try:
        # Headers are set by position so that two columns with one name stay visible (pandas would rename one).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), sep=sep, skiprows=skip + 1, header=None, names=range(len(header)), dtype=str,
                keep_default_na=False, skip_blank_lines=False, index_col=False,
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        if not _report_long_rows(text, sep, skip, len(header), file, problems):
            problems.add(file, 0, "", "", f"cannot parse as CSV: {err}")
        return None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        _report_long_rows(text, sep, skip, len(header), file, problems)
        return None
    frame.columns = header
    return _Raw(frame, np.arange(len(frame), dtype="int64") + skip + 2, skip + 1)


def _delimiter(text: str) -> str:
    """The field separator of a delimited text file: the comma, unless the first lines are clearly separated by a
    semicolon, tab or pipe instead (exports from European-locale Excel and core banking systems)."""
    lines = [line for line in text.splitlines()[:_HEADER_SCAN_ROWS] if line.strip()]
    counts = {sep: sorted(line.count(sep) for line in lines) for sep in (",", ";", "\t", "|")}
    typical = {sep: c[len(c) // 2] if c else 0 for sep, c in counts.items()}
    best = max(typical, key=lambda sep: typical[sep])
    return best if typical[best] > typical[","] else ","


def _report_long_rows(text: str, sep: str, skip: int, width: int, file: str, problems: _Problems) -> bool:
    """Name every row with more fields than the header (pandas drops the extra cells or stops); True if any."""
    found = False
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=sep), start=1):
        if number > skip + 1 and len(row) > width:
            found = True
            problems.add(file, number, "", sep.join(row[width:])[:80],
                         f"row has {len(row)} fields but the header has {width}: quote text that contains commas")
    return found


def _read_excel(path: Path, file: str, table: dict[str, str], problems: _Problems) -> _Raw | None:
    try:
        grid = pd.read_excel(path, sheet_name=0, header=None, engine="calamine", dtype=object)
    except Exception as err:  # calamine raises its own error types for corrupt files
        problems.add(file, 0, "", "", f"cannot read as an Excel workbook: {err}")
        return None
    if grid.empty:
        problems.add(file, 0, "", "", "empty sheet: no header and no rows")
        return None
    skip = _header_index(grid.head(_HEADER_SCAN_ROWS).to_numpy().tolist(), table)
    header = [_show(h) for h in grid.iloc[skip]]
    frame = grid.iloc[skip + 1 :].reset_index(drop=True)
    frame.columns = header
    return _Raw(frame, np.arange(len(frame), dtype="int64") + skip + 2, skip + 1)


def _read_parquet(path: Path, file: str, problems: _Problems) -> _Raw | None:
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises ArrowInvalid and friends
        problems.add(file, 0, "", "", f"cannot read as Parquet: {err}")
        return None
    frame = frame.reset_index(drop=True)
    lines = np.arange(len(frame), dtype="int64") + 2
    for j in _binary_columns(path, frame):
        frame.isetitem(j, _decode_binary(frame.iloc[:, j], file, lines, problems))
    return _Raw(frame, lines, 1)


def _binary_columns(path: Path, frame: pd.DataFrame) -> list[int]:
    """Positions of the frame's columns that Parquet stores as bytes (binary), not text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception:  # read above, so unlikely; then no column is binary
        return []
    binary = {f.name for f in schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
              or pa.types.is_fixed_size_binary(f.type)}
    return [j for j, c in enumerate(frame.columns) if str(c) in binary]


def _decode_binary(s: pd.Series, file: str, lines: np.ndarray, problems: _Problems) -> pd.Series:
    """A Parquet bytes column as text, as a CSV is read: UTF-8, else GBK, value by value; a value that is neither
    is a problem (shown as its bytes) and kept with its undecodable bytes replaced."""
    raw = s.to_numpy(dtype=object)
    present = s.notna().to_numpy()
    text = s.str.decode("utf-8", errors="replace")
    lossy = present & (text.str.encode("utf-8").to_numpy(dtype=object) != raw)
    if lossy.any():
        gbk = s[lossy].str.decode("gbk", errors="replace")
        exact = gbk.str.encode("gbk", errors="replace").to_numpy(dtype=object) == raw[lossy]
        text.loc[gbk.index[exact]] = gbk[exact]
        lossy[np.flatnonzero(lossy)[exact]] = False
        problems.add(file, lines[lossy], str(s.name), [repr(v)[:80] for v in raw[lossy]],
                     "binary value that is not text (neither UTF-8 nor GBK): store the column as text")
    return text.where(present, None).astype(object)


#: Input size limit in bytes, once expanded (a CSV's text, a workbook's decompressed sheets, a Parquet file's
#: uncompressed columns); None: a quarter of the memory available when the file is read. `pooling --max-input-gb`.
MAX_INPUT_BYTES: int | None = None
#: Reading takes several times a file's expanded size in memory (text, parsed cells, the typed frame).
_EXPANSION = 4


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _expanded_size(path: Path, suffix: str) -> int:
    """Bytes the file's contents take once expanded, read from its index without reading its data."""
    if suffix in (".xlsx", ".xlsm"):
        try:
            with zipfile.ZipFile(path) as z:
                return sum(info.file_size for info in z.infolist())
        except (zipfile.BadZipFile, OSError):
            return path.stat().st_size  # not a workbook at all: the reader says so
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        except Exception:  # not a Parquet file: the reader says so
            return path.stat().st_size
    return path.stat().st_size


def _too_big(path: Path, suffix: str) -> str | None:
    """Why ``path`` is refused before it is read (it would exhaust memory), or None."""
    size = _expanded_size(path, suffix)
    if MAX_INPUT_BYTES is not None:
        limit, why = MAX_INPUT_BYTES, "the limit set with --max-input-gb"
    else:
        available = _available_memory()
        if available is None:
            return None
        limit, why = available // _EXPANSION, f"a {_EXPANSION}th of the {available / 2**30:.1f} GB of memory available"
    if size <= limit:
        return None
    packed = path.stat().st_size
    grows = f" (it decompresses from {packed / 2**20:,.1f} MB)" if size > 2 * packed else ""
    return (f"file too large to read safely: {size / 2**30:,.2f} GB of data{grows}, above {limit / 2**30:,.2f} GB "
            f"({why}); split the tape by AMC or region, or raise the limit with `pooling --max-input-gb N`")


def read_table(path: Path, file: str, table: dict[str, str], problems: _Problems,
               allow_empty: bool = False) -> _Raw | None:
    """Read one tape or links file by its suffix; unreadable files become problems (named ``file``), None returned.

    A header without rows is a problem for a tape (an AMC that contributes nothing), but not with ``allow_empty``
    (a links file with a header and no rows means "no links").
    """
    if not path.is_file():
        problems.add(file, 0, "", "", "file not found")
        return None
    if path.stat().st_size == 0:
        problems.add(file, 0, "", "", "empty file: no header and no rows")
        return None
    suffix = path.suffix.lower()
    too_big = _too_big(path, suffix)
    if too_big:
        problems.add(file, 0, "", "", too_big)
        return None
    if suffix in (".xlsx", ".xlsm", ".xls"):
        raw = _read_excel(path, file, table, problems)
    elif suffix in (".parquet", ".pq"):
        raw = _read_parquet(path, file, problems)
    else:
        raw = _read_csv(path, file, table, problems)
    if raw is None:
        return None
    # Trailing or stray blank lines are not data.
    blank = _blank_rows(raw.frame)
    if blank.any():
        raw = _Raw(raw.frame.loc[~blank].reset_index(drop=True), raw.lines[~blank], raw.header_line)
    if raw.frame.empty and not allow_empty:
        problems.add(file, raw.header_line, "", "", "empty file: a header but no rows")
        return None
    return raw


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=bool)
    empty = frame.isna().to_numpy(copy=True)  # a one-column frame gives a read-only view
    for j, dtype in enumerate(frame.dtypes):
        if not pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_datetime64_any_dtype(dtype):
            col = frame.iloc[:, j]
            empty[:, j] |= (col.astype(str).str.strip() == "").to_numpy()
    return empty.all(axis=1)


# --------------------------------------------------------------------------------------------------- value parsing
def _text(s: pd.Series) -> pd.Series:
    """Values as stripped text; integral floats (Excel ids like 1001.0) without the '.0'; missing → ''."""
    if pd.api.types.is_float_dtype(s.dtype):
        out = s.astype(object)
        integral = s.notna().to_numpy() & np.isfinite(s.to_numpy(dtype=float, na_value=np.nan))
        integral &= np.equal(np.mod(s.to_numpy(dtype=float, na_value=0.0), 1.0), 0.0)
        out[integral] = s[integral].astype("int64").astype(str)
        return out.where(s.notna(), "").astype(str).str.strip()
    if not pd.api.types.is_string_dtype(s.dtype):  # nullable integers or booleans, categories (Parquet): their values
        s = s.astype(object)
    if s.dtype == object:
        floats = s.map(lambda v: isinstance(v, float) and np.isfinite(v) and float(v).is_integer()).to_numpy(bool)
        if floats.any():
            s = s.copy()
            s[floats] = s[floats].astype(float).astype("int64").astype(str)
    return s.where(s.notna(), "").astype(str).str.strip().replace({"nan": "", "NaT": "", "None": ""})


def _number(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, is_missing, is_unparseable); thousands separators accepted; 'nan'/'inf' are unparseable."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        values = s.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values)
        return values, missing, ~missing & ~np.isfinite(values)
    text = _text(s).str.replace(",", "", regex=False).str.replace("，", "", regex=False)
    missing = (text == "").to_numpy()
    values = pd.to_numeric(text.where(~missing, None), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~missing & ~np.isfinite(values)
    return np.where(bad, np.nan, values), missing, bad


def _plausible(d: pd.Series) -> np.ndarray:
    """Dates a tape can mean (1900–2200); anything else (e.g. 9999-12-31 placeholders) is reported, not parsed."""
    return ((d >= pd.Timestamp("1900-01-01")) & (d <= pd.Timestamp("2200-12-31"))).to_numpy()


def _dates(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(dates, is_missing, is_unparseable) trying the common tape formats in turn."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        d = pd.to_datetime(s).dt.tz_localize(None) if getattr(s.dt, "tz", None) else pd.to_datetime(s)
        missing = d.isna().to_numpy()
        far = ~missing & ~_plausible(d)
        return d.where(~far).astype("datetime64[ns]"), missing, far
    text = _text(s)
    missing = (text == "").to_numpy()
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    todo = ~missing
    for fmt in _DATE_FORMATS:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        out[todo] = parsed.where(_plausible(parsed))  # 9999-12-31 and friends: unparseable, not an overflow
        todo = todo & out.isna().to_numpy()
    return out, missing, todo


# ------------------------------------------------------------------------------------------------------- validation
def _map_headers(raw: _Raw, file: str, table: dict[str, str], required: Iterable[str], problems: _Problems):
    """canonical name → column position; reports missing required columns and ambiguous mappings."""
    mapping: dict[str, int] = {}
    headers = [str(h) for h in raw.frame.columns]
    unrecognised = []
    for pos, header in enumerate(headers):
        canon = table.get(header_key(header))
        if canon is None:
            unrecognised.append(header)
        elif canon in mapping:
            problems.add(
                file, raw.header_line, header, header,
                f"two columns map to {canon!r} ({headers[mapping[canon]]!r} and {header!r}); drop one or remap it in `columns`",
            )
        else:
            mapping[canon] = pos
    for canon in required:
        if canon not in mapping:
            hint = f"; unrecognised headers: {unrecognised}" if unrecognised else ""
            problems.add(
                file, raw.header_line, canon, "",
                f"required column {canon!r} is missing{hint}. Map a header to it in the scenario's `columns`",
            )
    return mapping


def _validate_tape(
    raw: _Raw, file: str, amc_id: str, as_of: pd.Timestamp | None, mapping: dict[str, int], problems: _Problems,
    *, unique_ids: bool = True,
) -> pd.DataFrame:
    """Check one tape's values and return its canonical frame (values may be NA where problems were found).

    ``as_of=None`` skips the "default_date after as_of" check and ``unique_ids=False`` the duplicate asset_id check
    (history files check both against their own keys: per-row valued_on, and (amc_id, asset_id) over all files).
    """
    lines = raw.lines
    col = {c: raw.frame.iloc[:, pos] for c, pos in mapping.items()}
    header = {c: str(raw.frame.columns[pos]) for c, pos in mapping.items()}
    out = pd.DataFrame({"amc_id": amc_id, "source_file": file, "source_row": lines})

    for c in TEXT_COLUMNS:
        if c in col:
            out[c] = _text(col[c]).to_numpy()
    for c in ("asset_id", "obligor_id"):
        if c in col:
            empty = (out[c] == "").to_numpy()
            problems.add(file, lines[empty], header[c], "", f"{c} is empty")

    if unique_ids and "asset_id" in col:
        ids = out["asset_id"]
        dup = ids.duplicated(keep="first").to_numpy() & (ids != "").to_numpy()
        if dup.any():
            first_line = pd.Series(lines).groupby(ids.to_numpy()).transform("first").to_numpy()
            problems.add(
                file, lines[dup], header["asset_id"], ids[dup].to_numpy(),
                [f"duplicate asset_id: first on row {r}" for r in first_line[dup]],
            )

    for c in (*AMOUNT_COLUMNS, "expected_months", "lien_rank"):
        if c not in col:
            continue
        values, missing, bad = _number(col[c])
        h = header[c]
        raw_values = col[c].to_numpy()
        problems.add(file, lines[bad], h, raw_values[bad], f"{c} is not a number")
        if c in REQUIRED_COLUMNS:
            problems.add(file, lines[missing], h, "", f"{c} is missing")
        negative = np.nan_to_num(values, nan=0.0) < 0
        problems.add(file, lines[negative], h, raw_values[negative], f"{c} is negative")
        if c == "lien_rank":
            frac = ~np.isnan(values) & ((values < 1) | (np.mod(np.nan_to_num(values), 1.0) != 0))
            problems.add(file, lines[frac & ~negative], h, raw_values[frac & ~negative], "lien_rank must be a whole number ≥ 1")
        out[c] = values

    if "gbv" in out and "principal" in out:
        over = np.nan_to_num(out["principal"].to_numpy() - out["gbv"].to_numpy(), nan=0.0) > 0.005
        problems.add(
            file, lines[over], header["principal"], col["principal"].to_numpy()[over],
            [f"principal is above gbv ({g:,.2f})" for g in out["gbv"].to_numpy()[over]],
        )
    if "expected_recovery" in out or "expected_months" in out:
        rec = out.get("expected_recovery", pd.Series(np.nan, index=out.index)).to_numpy()
        mon = out.get("expected_months", pd.Series(np.nan, index=out.index)).to_numpy()
        lone_r = ~np.isnan(rec) & np.isnan(mon)
        lone_m = np.isnan(rec) & ~np.isnan(mon)
        if "expected_months" in mapping:
            problems.add(file, lines[lone_r], header["expected_months"], "", "expected_months is missing while expected_recovery is given")
        else:
            if lone_r.any():
                problems.add(file, raw.header_line, "expected_months", "", "expected_recovery is given but there is no expected_months column")
        if "expected_recovery" in mapping:
            problems.add(file, lines[lone_m], header["expected_recovery"], "", "expected_recovery is missing while expected_months is given")

    for c, allowed in (*ENUM_COLUMNS.items(), ("province", None), ("industry", None)):
        if c not in col:
            continue
        text = _text(col[c])
        canon = vocab.normalize(text, c)
        empty = (text == "").to_numpy()
        unknown = canon.isna().to_numpy() & ~empty
        h = header[c]
        problems.add(file, lines[empty], h, "", f"{c} is missing")
        if c == "province":
            what = "unknown province: use an ISO code (CN-ZJ), a Chinese name (浙江 / 浙江省) or an English name"
        elif c == "industry":
            what = "unknown industry: use a GB/T 4754-2017 section letter A–T or its Chinese name"
        else:
            what = f"unknown {c}: expected one of {', '.join(allowed)} (or a Chinese label, see docs/tape.md)"
        problems.add(file, lines[unknown], h, text.to_numpy()[unknown], what)
        categories = list(allowed) if allowed else (vocab.PROVINCES["code"].tolist() if c == "province" else list(vocab.INDUSTRY_SECTIONS))
        out[c] = pd.Categorical(canon.to_numpy(), categories=categories)

    if "default_date" in col:
        dates, missing, bad = _dates(col["default_date"])
        h = header["default_date"]
        raw_values = col["default_date"].to_numpy()
        problems.add(file, lines[missing], h, "", "default_date is missing")
        problems.add(file, lines[bad], h, raw_values[bad], "default_date is not a date (use yyyy-mm-dd)")
        if as_of is not None:
            late = (dates > as_of).to_numpy()
            problems.add(file, lines[late], h, dates[late].dt.strftime("%Y-%m-%d").to_numpy(), f"default_date is after as_of ({as_of:%Y-%m-%d})")
        out["default_date"] = dates.to_numpy()
    return out


def _validate_links(raw: _Raw, file: str, mapping: dict[str, int], problems: _Problems) -> pd.DataFrame:
    lines = raw.lines
    out = pd.DataFrame({c: _text(raw.frame.iloc[:, mapping[c]]).to_numpy() for c in LINK_COLUMNS if c in mapping})
    header = {c: str(raw.frame.columns[pos]) for c, pos in mapping.items()}
    for c in ("from_obligor", "to_obligor"):
        if c in out:
            empty = (out[c] == "").to_numpy()
            problems.add(file, lines[empty], header[c], "", f"{c} is empty: a link needs both obligor ids")
    if "relation" in out:
        rel = vocab.normalize(out["relation"], "relation")
        bad = rel.isna().to_numpy()
        problems.add(
            file, lines[bad], header["relation"], out["relation"].to_numpy()[bad],
            f"unknown relation: expected one of {', '.join(vocab.LINK_RELATIONS)}",
        )
        out["relation"] = rel.to_numpy()
    if {"from_obligor", "to_obligor"} <= set(out):
        selfloop = ((out["from_obligor"] == out["to_obligor"]) & (out["from_obligor"] != "")).to_numpy()
        problems.add(file, lines[selfloop], header["from_obligor"], out["from_obligor"].to_numpy()[selfloop], "a link from an obligor to itself")
    return out


def _check_claims(tapes: list[pd.DataFrame], headers: dict[str, str], problems: _Problems) -> None:
    """The same source_loan_id twice in the pooled tapes means one claim contributed twice (DESIGN §10)."""
    parts = [t[["source_file", "source_row", "amc_id", "source_loan_id"]] for t in tapes if "source_loan_id" in t]
    if not parts:
        return
    claims = pd.concat(parts, ignore_index=True)
    claims = claims[claims["source_loan_id"] != ""]
    dup = claims["source_loan_id"].duplicated(keep=False)
    if not dup.any():
        return
    d = claims[dup.to_numpy()].copy()
    where = d["amc_id"] + " " + d["source_file"] + " row " + d["source_row"].astype(str)
    d["rank"] = d.groupby("source_loan_id").cumcount()
    first = where.groupby(d["source_loan_id"]).transform("first")
    second = where[d["rank"] == 1].set_axis(d.loc[d["rank"] == 1, "source_loan_id"])
    other = np.where(d["rank"] == 0, d["source_loan_id"].map(second), first)
    for file, rows in d.groupby("source_file", sort=True):
        idx = rows.index
        problems.add(
            file, rows["source_row"].to_numpy(), headers[file], rows["source_loan_id"].to_numpy(),
            [f"same claim (source_loan_id) also contributed at {o}" for o in pd.Series(other, index=d.index)[idx]],
        )


def _guarantee_links(assets: pd.DataFrame) -> pd.DataFrame:
    """guarantor_ids ('a;b', full-width '；' accepted) as guarantor → borrower links, vectorised with explode."""
    if "guarantor_ids" not in assets:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LINK_COLUMNS})
    g = assets.loc[assets["guarantor_ids"] != "", ["guarantor_ids", "obligor_id"]]
    ids = g["guarantor_ids"].str.replace("；", ";", regex=False).str.split(";")
    pairs = pd.DataFrame({"from_obligor": ids, "to_obligor": g["obligor_id"]}).explode("from_obligor")
    pairs["from_obligor"] = pairs["from_obligor"].astype(str).str.strip()
    pairs = pairs[(pairs["from_obligor"] != "") & (pairs["from_obligor"] != pairs["to_obligor"])]
    pairs["relation"] = "guarantee"
    return pairs.drop_duplicates(ignore_index=True)


def check_tapes(scenario: Scenario) -> tuple[Tapes | None, pd.DataFrame]:
    """Read and validate every tape and the links file; return the pooled tapes (None if any problem) and problems.

    Never raises for bad data: the second value lists every problem found, sorted by file and row.
    """
    problems = _Problems()
    table = alias_table(scenario.columns)
    as_of = pd.Timestamp(scenario.as_of)
    frames = []
    claim_headers: dict[str, str] = {}
    for amc in scenario.amcs:
        path, shown = scenario.tape_path(amc), str(amc.tape)
        raw = read_table(path, shown, table, problems)
        if raw is None:
            continue
        mapping = _map_headers(raw, shown, table, REQUIRED_COLUMNS, problems)
        claim_headers[shown] = str(raw.frame.columns[mapping["source_loan_id"]]) if "source_loan_id" in mapping else ""
        frames.append(_validate_tape(raw, shown, amc.id, as_of, mapping, problems))
    _check_claims(frames, claim_headers, problems)

    links = pd.DataFrame({c: pd.Series(dtype=object) for c in LINK_COLUMNS})
    if scenario.links_path is not None:
        link_table = {header_key(c): c for c in LINK_COLUMNS} | {header_key(k): v for k, v in _LINK_ALIASES.items()}
        shown = str(scenario.links)
        raw = read_table(scenario.links_path, shown, link_table, problems, allow_empty=True)
        if raw is not None:
            mapping = _map_headers(raw, shown, link_table, LINK_COLUMNS, problems)
            links = _validate_links(raw, shown, mapping, problems)

    found = problems.frame()
    if len(found):
        return None, found
    assets = pd.concat(frames, ignore_index=True)
    for c in ("asset_type", "collateral_type", "legal_status", "province", "industry"):
        # concat of identical categoricals keeps the dtype; this guards a mix of empty frames.
        assets[c] = assets[c].astype(frames[0][c].dtype)
    for c in TEXT_COLUMNS:
        if c not in assets:
            assets[c] = ""
        assets[c] = assets[c].fillna("").astype(str)
    for c in (*AMOUNT_COLUMNS, "expected_months", "lien_rank"):
        if c not in assets:
            assets[c] = np.nan
    all_links = pd.concat([links[list(LINK_COLUMNS)], _guarantee_links(assets)], ignore_index=True)
    return Tapes(assets=assets, links=all_links.drop_duplicates(ignore_index=True)), found


def load_tapes(scenario: Scenario) -> Tapes:
    """Validated, pooled tapes; raises :class:`~pooling.errors.ValidationFailed` listing every problem."""
    tapes, problems = check_tapes(scenario)
    if tapes is None:
        raise ValidationFailed(problems)
    return tapes
