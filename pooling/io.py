"""Atomic output writing and input hashing.

Every output goes to a temporary file in the target folder and is renamed into place, so a crashed run never
leaves a half-written file (DESIGN §3.3). Text from the inputs that a spreadsheet would read as a formula is
neutralised in every CSV written here (DESIGN §14) and restored when the tool reads its own outputs back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path``; the temporary file is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are shared like any other file
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP "CSV injection").
_FORMULA_START = r"[=+\-@\t\r]"
#: ...unless the whole cell is a plain number, which a spreadsheet reads as that number.
_PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def _text_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype)]


def _strings(column: pd.Series) -> pd.Series | None:
    try:
        return column.str
    except AttributeError:  # an object column holding no text at all
        return None


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell (and column label) that a spreadsheet would evaluate as a formula — one starting
    with ``= + - @``, a tab or a carriage return, and not a plain number — prefixed with an apostrophe, which
    spreadsheets show as text. The frame is copied only when a cell changes."""
    out = frame
    for col in _text_columns(frame):
        text = _strings(frame[col])
        if text is None:
            continue
        risky = text.match(_FORMULA_START, na=False) & ~text.fullmatch(_PLAIN_NUMBER, na=False)
        if risky.any():
            if out is frame:
                out = frame.copy()
            out[col] = frame[col].where(~risky, "'" + frame[col].astype("string").astype(object))
    labels = [f"'{c}" if isinstance(c, str) and re.match(_FORMULA_START, c) and not re.fullmatch(_PLAIN_NUMBER, c)
              else c for c in out.columns]
    if labels != list(out.columns):
        out = out.set_axis(labels, axis=1) if out is not frame else frame.set_axis(labels, axis=1)
    return out


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`neutralise_formulas` on a CSV the tool wrote (an apostrophe before ``= + - @``, tab or CR)."""
    out = frame
    for col in _text_columns(frame):
        text = _strings(frame[col])
        if text is None:
            continue
        marked = text.match("'" + _FORMULA_START, na=False)
        if marked.any():
            if out is frame:
                out = frame.copy()
            out[col] = frame[col].where(~marked, text.slice(1))
    return out


def write_csv(frame: pd.DataFrame, path: Path, **kwargs: Any) -> Path:
    """A CSV written atomically, UTF-8 with BOM so that Excel opens Chinese text correctly, with text that a
    spreadsheet would run as a formula neutralised (:func:`neutralise_formulas`)."""
    kwargs.setdefault("index", False)
    if kwargs["index"]:
        frame = frame.reset_index()
        kwargs["index"] = False
    safe = neutralise_formulas(frame)
    return write_atomic(path, lambda tmp: safe.to_csv(tmp, encoding="utf-8-sig", lineterminator="\n", **kwargs))


def read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    """Read back a CSV the tool wrote (UTF-8 with BOM), undoing the formula neutralisation of :func:`write_csv`."""
    return restore_formulas(pd.read_csv(path, encoding="utf-8-sig", **kwargs))


def write_json(data: Any, path: Path) -> Path:
    """JSON written atomically, keys in insertion order, non-ASCII kept readable."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def sha256_files(paths: Iterable[Path]) -> list[str]:
    """SHA-256 hex digest of each file's bytes, in the order given."""
    out = []
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out.append(h.hexdigest())
    return out


def combined_sha256(digests: dict[str, str]) -> str:
    """One hash over several file hashes (order-independent of dict order: sorted by name)."""
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(f"{name}\0{digests[name]}\n".encode())
    return h.hexdigest()
