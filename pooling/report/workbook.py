"""The shared pieces of the Excel workbooks (report.xlsx, study.xlsx): a worksheet with a cursor, the number
format of each value kind, bilingual two-line headers, column widths fitted to what was written.

Numbers are always written as numbers (also when they arrive as text from a CSV), with the kind's number format;
text is always written as text, never as a formula, whatever it starts with.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

from pooling.report.columns import NUMERIC_KINDS, Col

__all__ = ["XL_FORMATS", "Sheet", "display_width", "formats"]

#: Excel number format per value kind.
XL_FORMATS: dict[str, str] = {
    "cny": "#,##0", "int": "#,##0", "pct": "0.0%", "pct2": "0.00%", "gap": "0.0000%", "x": '0.00"×"',
    "months": "0.0", "months0": "0", "f2": "0.00", "years": "0.00", "price": "0.00", "num": "0.0000", "f6": "0.000000",
    "g": "General", "sec": "0.000", "date": "yyyy-mm-dd", "text": "@", "bool": "@",
}
_XL_WIDTH = {"cny": 17, "int": 10, "pct": 10, "pct2": 10, "gap": 11, "x": 9, "months": 10, "months0": 10,
             "years": 10, "f2": 9, "price": 9, "num": 10, "f6": 12, "g": 9, "sec": 9, "date": 12, "text": 12, "bool": 9}



def display_width(text: str) -> int:
    """Approximate Excel width of a string: CJK characters count double."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


class Sheet:
    """A worksheet with a cursor, shared formats and column widths fitted to what was written."""

    def __init__(self, wb: xlsxwriter.Workbook, name: str, fmt: dict):
        self.ws = wb.add_worksheet(name)
        self.fmt = fmt
        self.row = 0
        self.widths: dict[int, float] = {}

    def fit(self, col: int, width: float) -> None:
        self.widths[col] = max(self.widths.get(col, 0), min(width, 60))

    def title(self, text: str, sub: str | None = None) -> None:
        self.ws.set_row(self.row, 24)
        self.ws.write_string(self.row, 0, text, self.fmt["title"])
        self.row += 1
        if sub:
            self.ws.write_string(self.row, 0, sub, self.fmt["note"])
            self.row += 1

    def section(self, text: str, ncols: int) -> None:
        for j in range(ncols):
            self.ws.write_blank(self.row, j, None, self.fmt["section"])
        self.ws.write_string(self.row, 0, text, self.fmt["section"])
        self.row += 1

    def header(self, cols: list[Col], col0: int = 0) -> int:
        self.ws.set_row(self.row, 32)
        for j, c in enumerate(cols):
            text = f"{c.zh}\n{c.en}" if c.zh else c.en
            self.ws.write_string(self.row, col0 + j, text, self.fmt["header"])
            self.fit(col0 + j, max(_XL_WIDTH.get(c.kind, 12), *(display_width(t) + 2 for t in (c.zh, c.en))))
        self.row += 1
        return self.row - 1

    def cell(self, row: int, col: int, value: Any, kind: str, bold: bool = False, fit: bool = True) -> None:
        fmt = self.fmt[("b_" if bold else "") + kind]
        if isinstance(value, bool | np.bool_):
            self.ws.write_string(row, col, "是 Yes" if value else "否 No", fmt)
            return
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            self.ws.write_blank(row, col, None, fmt)
            return
        if kind == "date":
            try:
                d = dt.date.fromisoformat(str(value)[:10])
            except ValueError:
                self.ws.write_string(row, col, str(value), fmt)
                return
            self.ws.write_datetime(row, col, dt.datetime(d.year, d.month, d.day), fmt)
            return
        if isinstance(value, str) and kind in NUMERIC_KINDS:  # a number read back from a CSV as text
            with contextlib.suppress(ValueError):
                value = float(value.strip().replace(",", ""))
        if kind in ("text", "bool") or isinstance(value, str):
            text = str(value)
            self.ws.write_string(row, col, text, fmt)
            if fit:
                self.fit(col, display_width(text) + 2)
            return
        x = float(value)
        if not math.isfinite(x):
            self.ws.write_blank(row, col, None, fmt)
        else:
            self.ws.write_number(row, col, x, fmt)

    def table(self, frame: pd.DataFrame, cols: list[Col], header: bool = True, total: dict | None = None,
              col0: int = 0) -> tuple[int, int]:
        """Write rows of ``frame`` (columns ``cols``); returns (first data row, last data row)."""
        if header:
            self.header(cols, col0)
        first = self.row
        values = frame[[c.name for c in cols]].to_numpy(dtype=object) if len(frame) else []
        for rec in values:
            for j, (c, v) in enumerate(zip(cols, rec, strict=True)):
                self.cell(self.row, col0 + j, v, c.kind)
            self.row += 1
        last = self.row - 1
        if total is not None:
            for j, c in enumerate(cols):
                self.cell(self.row, col0 + j, total.get(c.name), c.kind, bold=True)
            self.row += 1
        return first, last

    def kv(self, items: list[tuple[str, Any, str]]) -> None:
        for label, value, kind in items:
            self.ws.write_string(self.row, 0, label, self.fmt["label"])
            self.fit(0, display_width(label) + 2)
            self.cell(self.row, 1, value, kind, fit=False)  # long text (the hash) overflows to the right
            self.fit(1, 18)
            self.row += 1

    def skip(self, n: int = 1) -> None:
        self.row += n

    def finish(self, min_width: float = 8) -> None:
        for col, width in sorted(self.widths.items()):
            self.ws.set_column(col, col, max(width, min_width))
        # printing: A4 landscape, one page wide, header rows repeated
        self.ws.set_paper(9)
        self.ws.set_landscape()
        self.ws.fit_to_pages(1, 0)


def formats(wb: xlsxwriter.Workbook) -> dict:
    base = {"font_name": "Microsoft YaHei", "font_size": 10, "valign": "vcenter"}
    fmt = {
        "title": wb.add_format({**base, "bold": True, "font_size": 14, "font_color": "#1F3864"}),
        "note": wb.add_format({**base, "italic": True, "font_color": "#595959"}),
        "section": wb.add_format({**base, "bold": True, "bg_color": "#D9E2F3", "font_color": "#1F3864",
                                  "bottom": 1, "bottom_color": "#8EA9DB"}),
        "header": wb.add_format({**base, "bold": True, "text_wrap": True, "bg_color": "#1F3864",
                                 "font_color": "#FFFFFF", "align": "center", "border": 1,
                                 "border_color": "#8EA9DB"}),
        "label": wb.add_format({**base, "font_color": "#262626"}),
        "good": wb.add_format({"bg_color": "#E2EFDA"}),
        "bad": wb.add_format({"bg_color": "#FCE4D6"}),
    }
    for kind, num in XL_FORMATS.items():
        fmt[kind] = wb.add_format({**base, "num_format": num})
        fmt["b_" + kind] = wb.add_format({**base, "num_format": num, "bold": True, "top": 1})
    return fmt
