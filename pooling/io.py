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
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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


class Stage:
    """A private copy of an output folder that a command writes into; :meth:`commit` puts it in place of the folder
    in one step. See :func:`staged_folder`."""

    def __init__(self, target: Path, path: Path, in_place: bool = False) -> None:
        self.target, self.path = target, path
        self._before = {} if in_place else _listing(path)
        self.committed = in_place  # a folder too big to copy is written in place, file by file

    def commit(self) -> None:
        """Replace the target folder by the stage, unless nothing in the stage changed (then it is dropped)."""
        if self.committed or not self.path.exists():
            return
        self.committed = True
        if _listing(self.path) == self._before:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        if self.target.exists():
            previous = self.target.parent / f".{self.target.name}.previous-{os.getpid()}"
            os.rename(self.target, previous)
            os.rename(self.path, self.target)  # a crash between the renames is undone by recover_folder
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.rename(self.path, self.target)


def _listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``folder`` with (inode, size, mtime): a file written since differs in at least one."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), folder)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_folder(target: Path) -> None:
    """Undo what a killed command left beside ``target``: put back the previous folder if the kill fell between
    the two renames of :meth:`Stage.commit`, and remove stages and old copies of processes that are gone."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    for leftover in sorted(target.parent.glob(f".{target.name}.*-*")):
        kind, _, pid = leftover.name[len(target.name) + 2:].rpartition("-")
        if kind not in ("staging", "previous") or not pid.isdigit() or (_alive(int(pid)) and int(pid) != os.getpid()):
            continue
        if kind == "previous" and not target.exists():
            os.rename(leftover, target)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


#: A folder is staged (copied, then swapped) only up to this many files and bytes; a bigger one — or the working
#: folder, one holding it, a symlink — is written in place, each file still atomic.
STAGE_MAX_FILES = 2_000
STAGE_MAX_BYTES = 2 << 30


def stageable(target: Path) -> bool:
    """Whether ``target`` can be written as a staged copy (see :data:`STAGE_MAX_FILES`)."""
    target = Path(target).absolute()
    cwd, home = Path.cwd().absolute(), Path.home().absolute()
    if target in (cwd, home) or target in cwd.parents or target == Path(target.anchor) or target.is_symlink():
        return False
    if not target.is_dir():
        return True
    files = size = 0
    for root, _, names in os.walk(target):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(root, name)).st_size
            if files > STAGE_MAX_FILES or size > STAGE_MAX_BYTES:
                return False
    return True


@contextmanager
def staged_folder(target: Path) -> Iterator[Stage]:
    """Write an output folder all at once (DESIGN §14): the command writes into a private copy of ``target``
    (its current files included, so a command that adds to a folder keeps the rest); :meth:`Stage.commit` swaps the
    copy in. Without a commit — an error, an interrupt — the copy is removed and ``target`` is untouched; a process
    killed outright leaves ``target`` as it was, and the next command on it clears the leftovers. A folder that
    cannot be staged (:func:`stageable`) is written in place: the stage is the folder itself."""
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(target)
    if not stageable(target):
        yield Stage(target, target, in_place=True)
        return
    path = target.parent / f".{target.name}.staging-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    if target.is_dir():
        shutil.copytree(target, path, symlinks=True)
    else:
        path.mkdir()
    os.chmod(path, 0o777 & ~_UMASK)
    stage = Stage(target, path)
    try:
        yield stage
    finally:
        if not stage.committed:
            shutil.rmtree(path, ignore_errors=True)


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


def write_csv_fast(frame: pd.DataFrame, path: Path, decimals: int | None = 2) -> Path:
    """A large CSV written atomically by Arrow's C++ writer (an order of magnitude faster than ``DataFrame.to_csv``
    at 10^5–10^6 rows): UTF-8 with BOM like :func:`write_csv`, floats rounded to ``decimals`` and written in their
    shortest form, text fields quoted, missing values empty."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if decimals is not None:
        frame = frame.round(decimals)
    table = pa.Table.from_pandas(neutralise_formulas(frame), preserve_index=False)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(b"\xef\xbb\xbf")
            pa_csv.write_csv(table, fh, pa_csv.WriteOptions(quoting_style="needed"))

    return write_atomic(path, write)
