"""The shared pieces of the HTML pages (report.html, study.html, frontier.html).

Pages are rendered from the jinja2 templates in ``pooling/report/templates`` with autoescape on: every value that
reaches a page — scenario and AMC names, obligor ids, table cells — is escaped exactly once, by the template.
Python builds *view objects* (:class:`Figure`, :class:`Table`, :class:`Card`) from frames; it writes no markup.

Pages work offline: plotly.js is embedded once per page (no CDN), there are no external fonts, stylesheets or
links. Figures are plotly JSON in an inline script whose ``<``, ``>`` and ``&`` are written as ``\\u003c`` …, so
no text in a figure can close the script.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

from pooling.io import write_atomic
from pooling.report.columns import Col, format_value

__all__ = ["FONT", "Card", "Figure", "Table", "figure", "render", "table", "write_page"]

FONT = ('-apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", '
        '"Source Han Sans SC", "Helvetica Neue", Arial, sans-serif')
#: Plotly config: a short mode bar (save as PNG, zoom, reset) so that it does not sit on the legends.
CONFIG = ('{"displaylogo": false, "responsive": true, "modeBarButtonsToRemove": ["select2d", "lasso2d", "pan2d", '
          '"zoomIn2d", "zoomOut2d", "autoScale2d", "toggleSpikelines", "hoverClosestCartesian", '
          '"hoverCompareCartesian"], "toImageButtonOptions": {"scale": 2}}')


@dataclass(frozen=True)
class Figure:
    """A plotly figure ready for the ``figure`` macro: div id, height in px, JSON safe inside ``<script>``."""

    id: str
    height: int
    json: markupsafe.Markup


@dataclass(frozen=True)
class Card:
    """A headline card: bilingual label, the value as text, a sub-line, a tone (``accent``, ``good``, ``warn``)."""

    zh: str
    en: str
    value: str
    sub: str = ""
    tone: str = ""


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Table:
    """An HTML table view: header columns, rows of cells (text, class), an optional total row."""

    cols: list[Col]
    rows: list[tuple[str, list[Cell]]]
    total: list[Cell] | None = None
    head_cls: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


def _script_json(fig: go.Figure) -> markupsafe.Markup:
    payload = pio.to_json(fig, validate=False, pretty=False, engine="json")
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return markupsafe.Markup(payload)


def figure(fig: go.Figure, div_id: str, height: int = 420) -> Figure:
    """The shared look of every chart (font, template, margins, legend on top unless set) as a :class:`Figure`."""
    fig.update_layout(template="plotly_white", height=height, hoverlabel={"font": {"family": FONT}},
                      font={"family": FONT, "size": 12, "color": "#26323f"})
    if fig.layout.margin.t is None:
        fig.update_layout(margin={"l": 70, "r": 30, "t": 56, "b": 60})
    if fig.layout.legend.orientation is None:
        fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0})
    return Figure(div_id, height, _script_json(fig))


def table(frame: pd.DataFrame, cols: list[Col], total: dict | None = None,
          row_class: Callable[[dict], str] | None = None) -> Table:
    """A :class:`Table` of ``frame``'s columns ``cols``, values formatted by kind; long text cells wrap."""

    def td_class(c: Col) -> str:
        if c.numeric:
            return "num"
        if c.name in frame and len(frame) and frame[c.name].astype(str).str.len().max() > 40:
            return "long"
        return ""

    classes = [td_class(c) for c in cols]
    rows = []
    for rec in frame.to_dict(orient="records"):
        cells = [Cell(format_value(rec.get(c.name), c.kind), k) for c, k in zip(cols, classes, strict=True)]
        rows.append((row_class(rec) if row_class else "", cells))
    tot = None
    if total is not None:
        tot = [Cell(format_value(total.get(c.name), c.kind), "num" if c.numeric else "") for c in cols]
    return Table(cols, rows, tot, ["num" if c.numeric else "" for c in cols])


@functools.cache
def environment() -> jinja2.Environment:
    """The jinja2 environment of the report templates (package data), autoescaping ``.html`` templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pooling.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(plotly_config=markupsafe.Markup(CONFIG))
    return env


@functools.cache
def _plotly_js() -> markupsafe.Markup:
    return markupsafe.Markup(plotly.offline.get_plotlyjs())


def render(template: str, **context: Any) -> str:
    """Render one page template; plotly.js is passed in once as ``plotly_js``."""
    return environment().get_template(template).render(plotly_js=_plotly_js(), **context)


def write_page(path: Path, text: str) -> Path:
    """Write a rendered page atomically."""
    return write_atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


