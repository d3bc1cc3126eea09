"""backtest.html (回溯检验): one offline page of a backtest round and the trend over every round of the model.

Built from a :class:`~pooling.valuation.backtest.BacktestResult` and the model's ``backtests.csv`` (one row per
round). Shows the headline deviation rate (偏差率) and interval coverage, the deviation by segment with the AMC's own
valuation side by side (bar charts and a table), the trend of deviation and coverage over rounds (line chart) and
the segment corrections. Rendered from ``backtest.html.j2`` with the pieces every page shares (stylesheet, figure
and table helpers, labels from :mod:`pooling.vocab`); every value is escaped by the template, plotly.js is
embedded (no CDN).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pooling.report.columns import columns_for, money_yi, numeric_frame
from pooling.report.page import Card, figure, render, table, write_page
from pooling.valuation.backtest import NOMINAL_COVERAGE, SEGMENT_DIMENSIONS, BacktestResult, write_backtest
from pooling.vocab import DIMENSION_LABELS, short_value_label, value_label

__all__ = ["BACKTEST_LABELS", "write_backtest_html", "write_backtest_report"]

_E = html.escape  # text inside a plotly figure, escaped once for plotly's HTML-like text renderer

#: Columns of the backtest tables: column → (Chinese, English, kind), without units.
BACKTEST_LABELS: dict[str, tuple[str, str, str]] = {
    "dimension_label": ("维度", "Dimension", "text"),
    "segment_label": ("分段", "Segment", "text"),
    "n": ("已结清笔数", "Resolved assets", "int"),
    "gbv": ("未偿本息", "GBV", "cny"),
    "predicted": ("预测回收", "Predicted", "cny"),
    "realised": ("实际回收", "Realised", "cny"),
    "deviation_rate": ("偏差率", "Deviation rate", "pct"),
    "coverage": ("区间覆盖率(笔数)", "Interval coverage (count)", "pct"),
    "coverage_count": ("区间覆盖率(笔数)", "Interval coverage (count)", "pct"),
    "coverage_gbv": ("区间覆盖率(金额)", "Interval coverage (GBV)", "pct"),
    "amc_n": ("有自身估值笔数", "Assets with AMC valuation", "int"),
    "amc_predicted": ("AMC自身预测", "AMC predicted", "cny"),
    "amc_deviation_rate": ("AMC自身偏差率", "AMC deviation rate", "pct"),
    "n_open": ("未结清笔数", "Open assets", "int"),
    "gbv_open": ("未结清未偿本息", "Open GBV", "cny"),
    "round": ("轮次", "Round", "int"),
    "date": ("数据截止日", "Cut-off", "date"),
    "model_id": ("模型", "Model", "text"),
    "holdout_from": ("样本外起始日", "Holdout from", "date"),
    "n_resolved": ("已结清笔数", "Resolved assets", "int"),
    "multiplier": ("修正系数", "Multiplier", "num"),
    "raw_multiplier": ("未收缩系数", "Raw multiplier", "num"),
    "credibility": ("可信度 Z", "Credibility Z", "num"),
    "n_eff": ("有效笔数", "Effective n", "f2"),
}
#: Dimension titles beyond :data:`pooling.vocab.DIMENSION_LABELS`.
_DIMENSIONS: dict[str, tuple[str, str]] = {
    "overall": ("总体", "Overall"),
    "vintage": ("估值年份", "Vintage"),
    "amc_id": DIMENSION_LABELS["amc"],
}
_SEGMENT_COLS = ["dimension_label", "segment_label", "n", "gbv", "predicted", "realised", "deviation_rate",
                 "coverage", "coverage_gbv", "amc_n", "amc_predicted", "amc_deviation_rate", "n_open", "gbv_open"]
_ROUND_COLS = ["round", "date", "model_id", "holdout_from", "n_resolved", "gbv", "deviation_rate", "coverage_count",
               "coverage_gbv", "amc_deviation_rate"]
_CORRECTION_COLS = ["dimension_label", "segment_label", "multiplier", "raw_multiplier", "credibility", "n", "n_eff",
                    "gbv"]
_MODEL, _AMC = "#2c5d9e", "#e67e22"


def _dim_label(dimension: str) -> tuple[str, str]:
    return _DIMENSIONS.get(dimension) or DIMENSION_LABELS.get(dimension, (dimension, dimension))


def _vocab_dim(dimension: str) -> str:
    return "amc" if dimension == "amc_id" else dimension


def _segment_label(dimension: str, segment: object, short: bool = False) -> str:
    if segment is None or segment == "":
        return "缺失 missing"
    if dimension in ("overall", "vintage"):
        return "全部 all" if dimension == "overall" else str(segment)
    return (short_value_label if short else value_label)(_vocab_dim(dimension), segment)


def _pct(x: Any) -> str:
    x = float(x) if x is not None and x != "" else math.nan
    return "–" if not math.isfinite(x) else f"{x:+.1%}"


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        dimension_label=[" ".join(_dim_label(d)) for d in frame["dimension"]],
        segment_label=[_segment_label(d, s) for d, s in zip(frame["dimension"], frame["segment"], strict=True)],
    )


def _headline(result: BacktestResult) -> list[Card]:
    o = result.overall
    dev = o["deviation_rate"]
    tone = "" if not math.isfinite(dev) else ("good" if abs(dev) <= 0.05 else "warn")
    cards = [Card("偏差率", "Deviation rate", _pct(dev),
                  f"预测 predicted {money_yi(o['predicted'])} · 实际 realised {money_yi(o['realised'])}", tone)]
    if o["amc_n"]:
        cards.append(Card("AMC自身偏差率", "AMC's own deviation rate", _pct(o["amc_deviation_rate"]),
                          f"{o['amc_n']:,} 笔 assets · 同口径模型 model on these {_pct(o['model_deviation_rate_amc_assets'])}"))
    for key, zh, en in (("coverage_count", "区间覆盖率(笔数)", "Interval coverage (count)"),
                        ("coverage_gbv", "区间覆盖率(金额)", "Interval coverage (GBV)")):
        v = o[key]
        ok = math.isfinite(v) and abs(v - NOMINAL_COVERAGE) <= 0.10
        cards.append(Card(zh, en, "–" if not math.isfinite(v) else f"{v:.1%}",
                          f"名义 nominal {NOMINAL_COVERAGE:.0%}", ("good" if ok else "warn") if math.isfinite(v) else ""))
    cards.append(Card("已结清资产", "Resolved assets", f"{o['n_resolved']:,}", f"未偿本息 GBV {money_yi(o['gbv'])}",
                      "accent"))
    cards.append(Card("未结清资产(不计入)", "Open assets (excluded)", f"{o['n_open']:,}",
                      f"未偿本息 GBV {money_yi(o['gbv_open'])}"))
    return cards


def _segment_figure(seg: pd.DataFrame, dimension: str, index: int) -> Any:
    """Horizontal bars of the deviation rate by segment, model and AMC side by side (largest gbv at the top)."""
    seg = seg[seg["n"] > 0].sort_values("gbv", ascending=True).tail(25)
    labels = [_E(_segment_label(dimension, s, short=True)) for s in seg["segment"]]
    hover = [f"{_E(_segment_label(dimension, s))}<br>已结清 resolved {n:,} · GBV {g / 1e8:,.2f} 亿元"
             for s, n, g in zip(seg["segment"], seg["n"], seg["gbv"], strict=True)]
    fig = go.Figure()
    fig.add_bar(y=labels, x=seg["deviation_rate"], orientation="h", name="模型 model", marker_color=_MODEL,
                text=hover, hovertemplate="%{text}<br>偏差率 deviation %{x:+.1%}<extra>模型 model</extra>")
    if seg["amc_n"].gt(0).any():
        fig.add_bar(y=labels, x=seg["amc_deviation_rate"], orientation="h", name="AMC自身 AMC's own",
                    marker_color=_AMC, text=hover,
                    hovertemplate="%{text}<br>偏差率 deviation %{x:+.1%}<extra>AMC</extra>")
    zh, en = _dim_label(dimension)
    fig.add_vline(x=0, line={"color": "#26323f", "width": 1})
    fig.update_layout(title={"text": f"{_E(zh)} {_E(en)}", "font": {"size": 14}}, barmode="group",
                      xaxis_title="偏差率 deviation rate", margin={"l": 130, "r": 20, "t": 70, "b": 50},
                      showlegend=True)
    fig.update_xaxes(tickformat="+.0%")
    fig.update_traces(textposition="none")
    return figure(fig, f"fig-seg-{index}", max(260, 90 + 26 * len(seg) * (2 if len(fig.data) > 1 else 1)))


def _trend_figure(rounds: pd.DataFrame) -> Any:
    """Deviation rates (top) and coverage (bottom) against the round number."""
    r = rounds.copy()
    for c in ("round", "deviation_rate", "amc_deviation_rate", "coverage_count", "coverage_gbv"):
        r[c] = pd.to_numeric(r.get(c), errors="coerce")
    r = r.dropna(subset=["round"]).sort_values("round")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("偏差率 Deviation rate", "区间覆盖率 Interval coverage"))
    dates = [_E(str(d)) for d in r.get("date", pd.Series([""] * len(r)))]
    fig.add_scatter(x=r["round"], y=r["deviation_rate"], mode="lines+markers", name="模型偏差率 model deviation",
                    line={"color": _MODEL}, text=dates, row=1, col=1,
                    hovertemplate="第 %{x} 轮 round · %{text}<br>%{y:+.1%}<extra></extra>")
    if r["amc_deviation_rate"].notna().any():
        fig.add_scatter(x=r["round"], y=r["amc_deviation_rate"], mode="lines+markers",
                        name="AMC自身偏差率 AMC's own deviation", line={"color": _AMC, "dash": "dash"}, text=dates,
                        row=1, col=1, hovertemplate="第 %{x} 轮 round · %{text}<br>%{y:+.1%}<extra></extra>")
    fig.add_scatter(x=r["round"], y=r["coverage_count"], mode="lines+markers", name="覆盖率(笔数) coverage (count)",
                    line={"color": "#1e7b45"}, text=dates, row=2, col=1,
                    hovertemplate="第 %{x} 轮 round · %{text}<br>%{y:.1%}<extra></extra>")
    fig.add_scatter(x=r["round"], y=r["coverage_gbv"], mode="lines+markers", name="覆盖率(金额) coverage (GBV)",
                    line={"color": "#8e44ad", "dash": "dot"}, text=dates, row=2, col=1,
                    hovertemplate="第 %{x} 轮 round · %{text}<br>%{y:.1%}<extra></extra>")
    fig.add_hline(y=0, line={"color": "#26323f", "width": 1}, row=1, col=1)
    fig.add_hline(y=NOMINAL_COVERAGE, line={"color": "#7f7f7f", "dash": "dot"}, row=2, col=1,
                  annotation_text=f"名义 nominal {NOMINAL_COVERAGE:.0%}", annotation_position="bottom right")
    fig.update_yaxes(tickformat="+.0%", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_xaxes(title_text="轮次 round", dtick=1, row=2, col=1)
    fig.update_layout(margin={"l": 70, "r": 30, "t": 100, "b": 50},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.10, "xanchor": "left", "x": 0})
    return figure(fig, "fig-trend", 540)


def write_backtest_html(result: BacktestResult, rounds: pd.DataFrame, path: Path) -> Path:
    """Write ``backtest.html``: one offline page of ``result`` and the trend over ``rounds``.

    Parameters
    ----------
    result : BacktestResult
        The round to show (its ``round`` as numbered by :func:`pooling.valuation.backtest.write_backtest`).
    rounds : DataFrame
        The model's ``backtests.csv`` rows (:data:`pooling.valuation.backtest.ROUND_COLUMNS`; text or numbers).
    path : Path
        Where to write the page (atomically).
    """
    seg = _labelled(result.segments)
    seg_cols = columns_for(seg, _SEGMENT_COLS, BACKTEST_LABELS)
    figs = []
    for i, d in enumerate(SEGMENT_DIMENSIONS):
        part = seg[seg["dimension"] == d]
        if len(part) and part["n"].gt(0).any():
            figs.append(_segment_figure(part, d, i))

    rounds = rounds if len(rounds.columns) else pd.DataFrame(columns=_ROUND_COLS)
    rounds_cols = columns_for(rounds, _ROUND_COLS, BACKTEST_LABELS)
    rounds_view = numeric_frame(rounds, rounds_cols)
    trend = _trend_figure(rounds_view) if len(rounds_view) else None

    corr = result.corrections.table
    corr = _labelled(corr) if len(corr) else corr.assign(dimension_label=[], segment_label=[])
    corr_cols = columns_for(corr, _CORRECTION_COLS, BACKTEST_LABELS)

    w = result.window
    if w["kind"] == "out_of_time":
        window_text = f"样本外 out of time: 估值日 valued on ≥ {w['holdout_from']}"
    else:
        window_text = "全部历史(非样本外) all history, not out of time"
    text = render(
        "backtest.html.j2",
        title=f"回溯检验 Backtest — {result.model_label}",
        heading_zh="回溯检验", heading_en="Backtest",
        nav=[("overview", "概览 Overview"), ("segments", "分段 By segment"), ("rounds", "各轮 Rounds"),
             ("corrections", "修正 Corrections")],
        model_label=result.model_label, round=result.round, cutoff=w["cutoff"], window_text=window_text,
        headline=_headline(result), notes=list(result.notes),
        segment_figs=figs, segment_table=table(seg, seg_cols),
        trend_fig=trend, rounds_table=table(rounds_view.sort_values("round") if len(rounds_view) else rounds_view,
                                            rounds_cols),
        corrections_table=table(corr, corr_cols), credibility_k=f"{result.corrections.credibility_k:g}",
    )
    return write_page(Path(path), text)


def write_backtest_report(result: BacktestResult, out_dir: Path, model_dir: Path,
                          apply_corrections: bool = False) -> list[Path]:
    """:func:`pooling.valuation.backtest.write_backtest` with ``backtest.html`` (what ``pooling backtest`` calls)."""
    return write_backtest(result, out_dir, model_dir, apply_corrections, html=write_backtest_html)
