"""Report columns: a frame column with its bilingual header and value kind, and how a value of each kind is
written as text. The labels themselves live in :mod:`pooling.vocab` (:data:`~pooling.vocab.COLUMN_LABELS`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pooling.vocab import column_label, with_unit

__all__ = ["NUMERIC_KINDS", "Col", "columns_for", "format_value", "numeric_frame"]

#: Kinds whose values are numbers (right-aligned, written to Excel as numbers).
NUMERIC_KINDS = frozenset({"cny", "int", "pct", "pct2", "gap", "x", "months", "months0", "years", "price", "num",
                           "f6", "f2", "g", "sec"})


@dataclass(frozen=True)
class Col:
    """One report column: source column, bilingual header (units included), value kind."""

    name: str
    zh: str
    en: str
    kind: str

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


def _col(name: str, series: pd.Series | None, label: tuple[str, str, str] | None) -> Col:
    zh, en, kind = label if label is not None else column_label(name)
    if series is not None and kind in NUMERIC_KINDS and not _numeric_like(series):
        kind = "text"
    return Col(name, *with_unit(zh, en, kind), kind)


def _numeric_like(series: pd.Series) -> bool:
    """Numbers, or text that reads as numbers wherever it is not empty (a CSV read with ``keep_default_na=False``);
    an empty column keeps its label's kind."""
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    text = series.dropna().astype(str).str.strip()
    text = text[text != ""]
    return not len(text) or bool(pd.to_numeric(text, errors="coerce").notna().all())


def columns_for(frame: pd.DataFrame, names: Iterable[str] | None = None,
                labels: Mapping[str, tuple[str, str, str]] | None = None) -> list[Col]:
    """Report columns for ``names`` (default: every column of ``frame``) that ``frame`` has.

    ``labels`` overrides the vocabulary for this table (column → (Chinese, English, kind), without units), e.g.
    limits.csv's ``name``, which describes a limit. A numeric kind on a column that holds text becomes ``text``.
    """
    names = list(frame.columns) if names is None else [n for n in names if n in frame.columns]
    labels = labels or {}
    return [_col(n, frame[n], labels.get(n)) for n in names]


def numeric_frame(frame: pd.DataFrame, cols: Iterable[Col]) -> pd.DataFrame:
    """``frame`` with every numeric column of ``cols`` as floats (empty text → NaN), so that numbers read from a
    CSV are written as numbers."""
    out = frame.copy()
    for c in cols:
        if c.numeric and c.name in out and not pd.api.types.is_numeric_dtype(out[c.name]):
            out[c.name] = pd.to_numeric(out[c.name], errors="coerce")
    return out


def format_value(value: Any, kind: str) -> str:
    """Plain text of one value (not escaped: the templates escape)."""
    if isinstance(value, bool | np.bool_):
        return "是 Yes" if value else "否 No"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    if kind in ("text", "date", "bool") or isinstance(value, str):
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        return "–"
    text = {
        "cny": f"{x:,.0f}", "int": f"{x:,.0f}", "pct": f"{x:.1%}", "pct2": f"{x:.2%}", "gap": f"{x:.4%}",
        "x": f"{x:.2f}×", "months": f"{x:.1f}", "months0": f"{x:.0f}", "years": f"{x:.2f}", "price": f"{x:.2f}",
        "num": f"{x:.4f}", "f6": f"{x:.6f}", "f2": f"{x:.2f}", "g": f"{x:g}", "sec": f"{x:.3f}",
    }.get(kind, f"{x:g}")
    if text.startswith("-") and not any(ch in "123456789" for ch in text):
        text = text[1:]  # no "-0.000000" for a slack of -4e-7
    return text


def money_yi(x: float) -> str:
    """CNY as 亿元 (100 million) with two decimals, as the pages' headline cards show money."""
    return f"{x / 1e8:,.2f} 亿元"
