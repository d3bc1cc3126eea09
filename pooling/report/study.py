"""The study report (docs/studies.md): ``study.xlsx`` and one offline ``study.html`` next to runs.csv.

Built from the study store alone (:func:`pooling.study.engine.load_results`), so it can be rebuilt at any time and shows
every run finished so far. Three views:

* **Scenarios** — every run: its parameters, status, headline metrics and the change of pool npv and senior size
  against the base run.
* **Sensitivity** — a tornado per metric (pool npv, senior size): one bar per named scenario (its change against
  base) and one per swept parameter (the range of the metric along that parameter with the other swept
  parameters held at the grid's reference point). :func:`sensitivities` documents the rule.
* **AMCs** — each AMC's contributed npv in the pool and its share of the pool, per run, and the change against
  base.

Deterministic: the same store gives the same files (run times are left out; the workbook's date is the base
scenario's ``as_of``).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xlsxwriter

from pooling.io import write_atomic
from pooling.report.columns import NUMERIC_KINDS, Col, format_value, money_yi
from pooling.report.page import Card, figure, render, table, write_page
from pooling.report.workbook import Sheet, formats
from pooling.study.engine import STORE_NAME, load_results
from pooling.vocab import column_label, with_unit

__all__ = ["TORNADO_METRICS", "StudyTables", "amc_outcomes", "sensitivities", "study_tables", "write_study_report"]

#: Text that goes into a plotly figure is escaped once for plotly's HTML-like text renderer.
_E = html.escape

#: metrics the tornado charts are drawn for
TORNADO_METRICS = ("pool_npv", "senior_size")


def _col(name: str, kind: str | None = None) -> Col:
    zh, en, default = column_label(name)
    kind = kind or default
    return Col(name, *with_unit(zh, en, kind), kind)


def _cols(frame: pd.DataFrame, names: Iterable[str], kinds: dict[str, str] | None = None,
          parameters: Iterable[str] = ()) -> list[Col]:
    """Report columns: labels from :data:`pooling.vocab.COLUMN_LABELS`; a study parameter is headed 参数 and its
    dotted path, shown as written; a numeric label on a text column shows the text."""
    out = []
    params = set(parameters)
    for n in names:
        if n not in frame.columns:
            continue
        if n in params:
            out.append(Col(n, "参数", n, "g" if pd.api.types.is_numeric_dtype(frame[n]) else "text"))
            continue
        kind = (kinds or {}).get(n) or column_label(n)[2]
        if kind in NUMERIC_KINDS and not pd.api.types.is_numeric_dtype(frame[n]):
            kind = "text"
        out.append(_col(n, kind))
    return out


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:g}"
    return str(value)


def _neutral(value: Any) -> Any:
    """A parameter value with "nothing set" made comparable: absent, 0, empty list / mapping all mean none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value in ("", "[]", "{}"):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return None
    return value


def _same(a: Any, b: Any) -> bool:
    a, b = _neutral(a), _neutral(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return a == b


# --------------------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------------------

def _grid_runs(runs: pd.DataFrame, sweep: list[str]) -> pd.DataFrame:
    """Grid runs on base (named ``base: …``), in study order."""
    if not sweep:
        return runs.iloc[0:0]
    return runs[runs["scenario"].astype(str).str.startswith("base: ")]


def sweep_paths(runs: pd.DataFrame) -> list[str]:
    """The swept dotted paths: from the store's plan when known (``runs.attrs['sweep']``), else the parameters
    that vary among the grid runs on base."""
    if "sweep" in runs.attrs:
        return list(runs.attrs["sweep"])
    grid = runs[runs["scenario"].astype(str).str.startswith("base: ")]
    return [p for p in runs.attrs.get("parameters", []) if p in grid and grid[p].astype(str).nunique() > 1]


def sensitivities(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The tornado table of one metric: one row per factor, widest swing first.

    * A **named scenario** is one factor: ``delta = metric(scenario) − metric(base)``; its bar runs from
      ``min(0, delta)`` to ``max(0, delta)``.
    * A **swept parameter** p is one factor measured along the grid on base: the *reference point* is the grid
      point equal to the base scenario (a value absent from the base counts as 0 / empty), else the grid's first
      point. The runs that differ from the reference only in p give ``delta = metric(run) − metric(reference)``;
      the bar spans the smallest to the largest delta (the reference itself is 0).

    Runs without the metric (failed or infeasible) are left out; a factor with none left is dropped.
    Columns: factor, kind (scenario | sweep), parameter, reference, low_value, high_value, runs,
    metric_reference, metric_low, metric_high, delta_low, delta_high, swing.
    """
    columns = ["factor", "kind", "parameter", "reference", "low_value", "high_value", "runs", "metric_reference",
               "metric_low", "metric_high", "delta_low", "delta_high", "swing"]
    if metric not in runs or not len(runs):
        return pd.DataFrame(columns=columns)
    base_rows = runs[runs["scenario"] == "base"]
    base_value = float(base_rows[metric].iloc[0]) if len(base_rows) else float("nan")
    overrides: dict[str, dict[str, Any]] = runs.attrs.get("overrides", {})
    rows: list[dict[str, Any]] = []

    named = runs[~runs["scenario"].astype(str).str.contains(":", regex=False) & (runs["scenario"] != "base")]
    for rec in named.to_dict(orient="records"):
        value = rec.get(metric)
        if not math.isfinite(base_value) or value is None or not math.isfinite(float(value)):
            continue
        delta = float(value) - base_value
        changes = overrides.get(rec["run_id"], {})
        what = ", ".join(f"{p} = {_show(v)}" for p, v in changes.items())
        rows.append({"factor": str(rec["scenario"]), "kind": "scenario", "parameter": ", ".join(changes),
                     "reference": "base", "low_value": what if delta < 0 else "base",
                     "high_value": what if delta >= 0 else "base", "runs": 1, "metric_reference": base_value,
                     "metric_low": min(base_value, float(value)), "metric_high": max(base_value, float(value)),
                     "delta_low": min(0.0, delta), "delta_high": max(0.0, delta)})

    sweep = sweep_paths(runs)
    grid = _grid_runs(runs, sweep)
    if len(grid) and sweep:
        base_params = base_rows.iloc[0] if len(base_rows) else None
        at_base = np.ones(len(grid), dtype=bool)
        for p in sweep:
            at_base &= np.array([_same(v, base_params[p] if base_params is not None else None) for v in grid[p]])
        ref = grid[at_base].iloc[0] if at_base.any() else grid.iloc[0]
        ref_value = ref.get(metric)
        for p in sweep:
            others = [q for q in sweep if q != p]
            line = grid[np.array([all(_same(r[q], ref[q]) for q in others) for _, r in grid.iterrows()], dtype=bool)]
            line = line[pd.to_numeric(line[metric], errors="coerce").notna()]
            if ref_value is None or not math.isfinite(float(ref_value)) or len(line) < 2:
                continue
            vals = line[metric].astype(float).to_numpy()
            lo, hi = int(np.argmin(vals)), int(np.argmax(vals))
            ref_f = float(ref_value)
            rows.append({"factor": p, "kind": "sweep", "parameter": p, "reference": _show(ref[p]),
                         "low_value": _show(line[p].iloc[lo]), "high_value": _show(line[p].iloc[hi]),
                         "runs": len(line), "metric_reference": ref_f, "metric_low": float(vals[lo]),
                         "metric_high": float(vals[hi]), "delta_low": min(0.0, float(vals[lo]) - ref_f),
                         "delta_high": max(0.0, float(vals[hi]) - ref_f)})
    table = pd.DataFrame(rows, columns=columns)
    table["swing"] = table["delta_high"] - table["delta_low"]
    if len(table):
        table = table.sort_values(["swing", "factor"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return table


def amc_outcomes(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per run × AMC: npv contributed to the pool, share of the pool, npv change vs base."""
    amcs = sorted({c[len("npv_"):] for c in runs.columns if c.startswith("npv_")}
                  | {c[len("share_"):] for c in runs.columns if c.startswith("share_")})
    order = [a for a in runs.attrs.get("amcs", []) if a in amcs] + [a for a in amcs
                                                                    if a not in runs.attrs.get("amcs", [])]
    columns = ["run_id", "scenario", "amc", "npv", "share", "npv_change"]
    if not order:
        return pd.DataFrame(columns=columns)
    ok = runs["status"].isin(("optimal", "feasible", "time_limit")).to_numpy()

    def matrix(prefix: str) -> np.ndarray:
        """runs × AMCs; 0 for an AMC with nothing in a pool, NaN for a run without a pool."""
        m = runs.reindex(columns=[f"{prefix}_{a}" for a in order]).to_numpy(dtype=float)
        return np.where(ok[:, None], np.nan_to_num(m, nan=0.0), np.nan)

    npv, share = matrix("npv"), matrix("share")
    base = np.flatnonzero(runs["scenario"].to_numpy() == "base")
    base_npv = npv[base[0]] if len(base) else np.full(len(order), np.nan)
    n, k = npv.shape
    return pd.DataFrame({"run_id": np.repeat(runs["run_id"].to_numpy(), k),
                         "scenario": np.repeat(runs["scenario"].to_numpy(), k), "amc": np.tile(order, n),
                         "npv": npv.ravel(), "share": share.ravel(), "npv_change": (npv - base_npv).ravel()},
                        columns=columns)


class StudyTables:
    """Everything the study report shows, computed once from the store."""

    def __init__(self, runs: pd.DataFrame):
        self.runs = runs
        self.name = str(runs.attrs.get("study") or "study")
        self.parameters: list[str] = list(runs.attrs.get("parameters", []))
        self.sweep = sweep_paths(runs)
        self.metrics: list[str] = list(runs.attrs.get("metrics", []))
        base = runs[runs["scenario"] == "base"]
        self.base = base.iloc[0] if len(base) else None
        grid = self.runs.copy()
        for m in TORNADO_METRICS:
            if m in grid and self.base is not None:
                grid[f"delta_{m}"] = grid[m].astype(float) - float(self.base[m])
        self.grid = grid
        self.tornado = {m: sensitivities(runs, m) for m in TORNADO_METRICS if m in runs}
        self.amcs = amc_outcomes(runs)

    @property
    def scenario_columns(self) -> list[str]:
        head = ["scenario", *self.parameters, "status"]
        metrics = [m for m in ("pool_npv", "delta_pool_npv", "senior_size", "delta_senior_size", "pool_gbv",
                               "pool_n_assets", "recovery_rate", "senior_share_of_expected_recovery",
                               "senior_coverage", "sub_irr", "mip_gap",
                               # a shelf plan's study (docs/shelf.md)
                               "pv", "pv_plan", "cap_used", "cap_used_share", "n_issues", "mean_issue_years",
                               "first_issue_years", "gap") if m in self.grid]
        return head + metrics + ["run_id", "error"]

    def counts(self) -> dict[str, int]:
        return self.runs["status"].value_counts().to_dict()


def study_tables(store: str | Path) -> StudyTables:
    """The report tables of a study store (``DIR/study.sqlite`` or the folder holding it)."""
    path = Path(store)
    if path.is_dir():
        path = path / STORE_NAME
    runs, _ = load_results(path)
    return StudyTables(runs)


# --------------------------------------------------------------------------------------------------------------
# charts
# --------------------------------------------------------------------------------------------------------------

def _tornado_fig(table: pd.DataFrame, metric: str) -> go.Figure:
    zh, en, _ = column_label(metric)
    t = table.iloc[::-1]  # plotly draws the first category at the bottom
    labels = [_E(f if k == "scenario" else f"{f} ({lo} … {hi})")
              for f, k, lo, hi in zip(t["factor"], t["kind"], t["low_value"], t["high_value"], strict=True)]
    fig = go.Figure()
    fig.add_bar(y=labels, x=t["delta_low"] / 1e8, orientation="h", name="低端 low end", marker_color="#c0392b",
                customdata=np.stack([[_E(str(v)) for v in t["low_value"]], t["metric_low"] / 1e8], axis=1),
                hovertemplate="%{y}<br>取值 value %{customdata[0]}<br>Δ %{x:,.2f} 亿元 → %{customdata[1]:,.2f}"
                              "<extra></extra>")
    fig.add_bar(y=labels, x=t["delta_high"] / 1e8, orientation="h", name="高端 high end", marker_color="#2c5d9e",
                customdata=np.stack([[_E(str(v)) for v in t["high_value"]], t["metric_high"] / 1e8], axis=1),
                hovertemplate="%{y}<br>取值 value %{customdata[0]}<br>Δ %{x:,.2f} 亿元 → %{customdata[1]:,.2f}"
                              "<extra></extra>")
    fig.update_layout(barmode="overlay", bargap=0.35,
                      title={"text": f"{zh} <span style='color:#5f6b7a'>{en}</span>", "font": {"size": 14}},
                      xaxis={"title": "相对参照的变动(亿元) change vs reference (CNY 100 mn)", "zeroline": True,
                             "zerolinecolor": "#1f2a37", "zerolinewidth": 1.5},
                      yaxis={"automargin": True}, margin={"l": 40, "r": 30, "t": 80, "b": 60})
    return fig


def _grid_fig(st: StudyTables, metric: str) -> go.Figure | None:
    """A heatmap of ``metric`` over a two-path sweep on base (None for other sweeps)."""
    if len(st.sweep) != 2 or metric not in st.runs:
        return None
    grid = _grid_runs(st.runs, st.sweep)
    if not len(grid):
        return None
    p, q = st.sweep
    xs = list(dict.fromkeys(_E(_show(v)) for v in grid[q]))
    ys = list(dict.fromkeys(_E(_show(v)) for v in grid[p]))
    z = np.full((len(ys), len(xs)), np.nan)
    for _, r in grid.iterrows():
        v = r[metric]
        if v is not None and math.isfinite(float(v)):
            z[ys.index(_E(_show(r[p]))), xs.index(_E(_show(r[q])))] = float(v) / 1e8
    zh, en, _ = column_label(metric)
    text = [[("" if math.isnan(v) else f"{v:,.2f}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=xs, y=ys, text=text, texttemplate="%{text}", colorscale="Blues",
                               colorbar={"title": "亿元"}, hovertemplate=f"{_E(q)} %{{x}}<br>{_E(p)} %{{y}}<br>"
                               "%{z:,.2f} 亿元<extra></extra>"))
    fig.update_layout(title={"text": f"{zh}(亿元) <span style='color:#5f6b7a'>{en} (CNY 100 mn)</span>",
                             "font": {"size": 14}},
                      xaxis={"title": _E(q), "type": "category"}, yaxis={"title": _E(p), "type": "category"},
                      margin={"l": 80, "r": 30, "t": 70, "b": 60})
    return fig


def _amc_fig(st: StudyTables) -> go.Figure | None:
    a = st.amcs
    if not len(a):
        return None
    pivot = a.pivot_table(index="scenario", columns="amc", values="npv_change", sort=False, dropna=False)
    pivot = pivot.reindex(index=list(dict.fromkeys(st.runs["scenario"])), columns=list(dict.fromkeys(a["amc"])))
    z = pivot.to_numpy(dtype=float) / 1e8
    text = [[("" if math.isnan(v) else f"{v:+,.2f}") for v in row] for row in z]
    span = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(go.Heatmap(z=z, x=[_E(str(c)) for c in pivot.columns], y=[_E(str(i)) for i in pivot.index],
                               text=text,
                               texttemplate="%{text}", colorscale="RdBu", zmid=0, zmin=-span or -1, zmax=span or 1,
                               colorbar={"title": "亿元"},
                               hovertemplate="%{y}<br>%{x}: Δ %{z:+,.2f} 亿元<extra></extra>"))
    fig.update_layout(xaxis={"type": "category", "side": "top"},
                      yaxis={"type": "category", "autorange": "reversed", "automargin": True},
                      margin={"l": 40, "r": 30, "t": 60, "b": 30})
    return fig


# --------------------------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------------------------

def write_study_report(store: str | Path, out_dir: str | Path | None = None,
                       as_of: dt.date | None = None, tables: StudyTables | None = None) -> list[Path]:
    """Write ``study.xlsx`` and ``study.html`` for the study store ``store`` (the file or its folder) into
    ``out_dir`` (default: the store's folder), atomically. ``as_of`` dates the workbook (default: the base
    scenario's as_of recorded in the store, else 2000-01-01) so that the same store gives the same bytes.
    ``tables``: the store's tables when the caller has already read them."""
    st = tables if tables is not None else study_tables(store)
    folder = Path(store) if Path(store).is_dir() else Path(store).parent
    out = Path(out_dir) if out_dir is not None else folder
    if as_of is None:
        raw = st.runs.attrs.get("as_of")
        as_of = dt.date.fromisoformat(raw) if raw else dt.date(2000, 1, 1)
    xlsx = write_atomic(out / "study.xlsx", lambda tmp: _build_xlsx(tmp, st, as_of))
    page = write_page(out / "study.html", render_study_html(st))
    return [xlsx, page]


def _build_xlsx(path: Path, st: StudyTables, as_of: dt.date) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": f"情景研究 Scenario study — {st.name}", "subject": "amc-pooling",
                       "author": "amc-pooling", "created": dt.datetime(as_of.year, as_of.month, as_of.day)})
    fmt = formats(wb)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(st.counts().items()))
    subtitle = f"研究 Study: {st.name} · {len(st.runs)} 次运行 runs ({counts})"

    sh = Sheet(wb, "情景 Scenarios", fmt)
    sh.title(f"情景研究 Scenario study — {st.name}", subtitle)
    cols = _cols(st.grid, st.scenario_columns, parameters=st.parameters)
    sh.table(st.grid, cols)
    sh.ws.freeze_panes(3, 1)
    sh.finish()

    sh = Sheet(wb, "敏感性 Sensitivity", fmt)
    sh.title("敏感性(龙卷风图) Sensitivity (tornado)",
             "每个因素相对参照的变动：情景相对基准，扫描参数相对网格参照点。Change of the metric per factor: a named "
             "scenario against base, a swept parameter along the grid from its reference point.")
    chart_row = 2
    for metric, tornado in st.tornado.items():
        zh, en, _ = column_label(metric)
        tcols = _cols(tornado, tornado.columns, kinds={"runs": "int"})
        sh.skip()
        sh.section(f"{zh} {en}", len(tcols))
        sh.header(tcols)
        first, last = sh.table(tornado, tcols, header=False)
        if len(tornado):
            chart = wb.add_chart({"type": "bar"})
            fcol = [c.name for c in tcols].index("factor")
            for name, colname, color in (("低端 low end", "delta_low", "#C0392B"),
                                         ("高端 high end", "delta_high", "#2C5D9E")):
                j = [c.name for c in tcols].index(colname)
                chart.add_series({"name": name, "categories": [sh.ws.name, first, fcol, last, fcol],
                                  "values": [sh.ws.name, first, j, last, j], "fill": {"color": color},
                                  "overlap": 100, "gap": 60})
            chart.set_title({"name": f"{zh} {en} (CNY)", "name_font": {"size": 11}})
            chart.set_x_axis({"num_format": "#,##0", "name": "Δ CNY"})
            chart.set_y_axis({"reverse": True})
            chart.set_legend({"position": "bottom"})
            chart.set_size({"width": 640, "height": 60 + 34 * len(tornado)})
            sh.ws.insert_chart(chart_row, len(tcols) + 1, chart)
            chart_row += max(last - chart_row + 4, 4 + 2 * len(tornado))
    sh.finish()

    sh = Sheet(wb, "成员 AMCs", fmt)
    sh.title("各成员结果 Outcomes by AMC",
             "入池净现值(该成员提供、入选资产的净现值)与占比，及相对基准的变动。npv of each AMC's assets in the "
             "pool, its share of the pool and the change against base.")
    a = st.amcs
    acols = [_col(c) for c in ("scenario", "amc", "npv", "share", "npv_change", "run_id")]
    sh.table(a, acols)
    sh.ws.freeze_panes(3, 2)
    sh.finish()

    failed = st.runs[st.runs["status"] == "failed"]
    if len(failed):
        sh = Sheet(wb, "失败 Failed", fmt)
        sh.title("失败的运行 Failed runs", "pooling study … --retry-failed 重新运行 runs them again")
        sh.table(failed, _cols(failed, ["scenario", "run_id", "error", "detail"]))
        sh.finish()
    wb.close()


def _tornado_reference(table: pd.DataFrame) -> str:
    refs = table[table["kind"] == "sweep"]
    return "; ".join(f"{p} = {r}" for p, r in zip(refs["parameter"], refs["reference"], strict=True))


def _cards(st: StudyTables) -> list[Card]:
    """Headline cards. A card's label names the metric without a unit; its value carries its unit (亿元 for
    money, % for shares), as do the range and the swing below it."""
    counts = st.counts()
    cards = [Card("运行", "Runs", f"{len(st.runs)}", " · ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                  "warn" if counts.get("failed") else "accent")]
    if st.base is not None:
        for m in ("pool_npv", "senior_size", "senior_share_of_expected_recovery", "sub_irr"):
            if m in st.runs and st.base[m] is not None and math.isfinite(float(st.base[m])):
                zh, en, kind = column_label(m)
                vals = pd.to_numeric(st.runs[m], errors="coerce").dropna()
                if kind == "cny":
                    shown = money_yi(float(st.base[m]))
                    rng = f"范围 range {vals.min() / 1e8:,.2f} – {vals.max() / 1e8:,.2f} 亿元"
                else:
                    shown = format_value(st.base[m], kind)
                    rng = f"范围 range {format_value(vals.min(), kind)} – {format_value(vals.max(), kind)}"
                cards.append(Card(f"基准{zh}", f"base {en}", shown, rng))
    for metric, t in st.tornado.items():
        if len(t):
            top = t.iloc[0]
            zh, en, _ = column_label(metric)
            cards.append(Card(f"{zh}最敏感因素", f"widest swing of {en}", str(top["factor"]),
                              f"变动 change {top['delta_low'] / 1e8:+,.2f} / {top['delta_high'] / 1e8:+,.2f} 亿元"))
    return cards


def _valuation_models(runs: pd.DataFrame) -> str:
    """What valued the runs' assets (each run's ``valuation_model``, kept in its ``detail``): the calibrated model
    id(s), or the documented priors."""
    if "detail" not in runs:
        return ""
    found = runs["detail"].astype("string").str.extract(r"valuation_model: ([^;]+)")[0]  # the runs' text metric
    used = sorted(str(v).strip() for v in found.dropna().unique())
    return ", ".join("先验参数 documented priors" if v == "priors" else f"calibrated model {v}" for v in used)


def render_study_html(st: StudyTables) -> str:
    """The whole study report as one HTML string (plotly.js included), from the ``study.html`` template."""
    tornado = []
    for i, (metric, t) in enumerate(st.tornado.items()):
        zh, en, _ = column_label(metric)
        fig = figure(_tornado_fig(t, metric), f"fig-tornado-{i}", max(260, 110 + 42 * len(t))) if len(t) else None
        tornado.append({"zh": zh, "en": en, "fig": fig,
                        "table": table(t, _cols(t, t.columns, kinds={"runs": "int"}))})
    first = next(iter(st.tornado.values()), None)
    grids = [f for f in (_grid_fig(st, m) for m in TORNADO_METRICS) if f is not None]
    fig = _amc_fig(st)
    acols = [_col(c) for c in ("scenario", "amc", "npv", "share", "npv_change")]
    gcols = _cols(st.grid, st.scenario_columns, parameters=st.parameters)
    return render(
        "study.html",
        title=f"情景研究 Scenario study — {st.name}", heading_zh="情景研究", heading_en="Scenario study",
        nav=[("headline", "概览 Overview"), ("sensitivity", "敏感性 Sensitivity"), ("amcs", "各成员 AMCs"),
             ("scenarios", "情景 Scenarios")],
        study=st.name, n_runs=len(st.runs), description=st.runs.attrs.get("description") or "",
        valuation=_valuation_models(st.runs),
        headline=_cards(st), tornado=tornado,
        reference=_tornado_reference(first) if first is not None and len(first) else "",
        grids=[figure(f, f"fig-grid-{i}", 380) for i, f in enumerate(grids)],
        amc_fig=figure(fig, "fig-amcs", max(260, 90 + 30 * len(st.runs))) if fig is not None else None,
        amc_table=table(st.amcs, acols),
        scenarios=table(st.grid, gcols, row_class=lambda r: "binding" if r.get("status") == "failed" else ""),
    )
