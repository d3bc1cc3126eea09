"""frontier.html: the npv-versus-diversification frontier (:mod:`pooling.selection.frontier`) as one offline page.

Rendered from the ``frontier.html`` template with the pieces every report shares (stylesheet, figure and table
helpers, labels from :mod:`pooling.vocab`). docs/frontier.md explains how to read it.
"""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go

from pooling.report.columns import Col, columns_for, format_value
from pooling.report.page import figure, render, table
from pooling.selection.frontier import write_frontier
from pooling.vocab import DIMENSION_LABELS

__all__ = ["MEASURE_LABELS", "frontier_chart", "write_frontier"]

#: x-axis measures: measure → (Chinese, English).
MEASURE_LABELS: dict[str, tuple[str, str]] = {
    "hhi": ("赫芬达尔指数", "HHI"),
    "effective_number": ("有效数量", "effective number"),
}
#: Statuses whose pool meets its bound (``hhi_not_converged``: the cut loop stopped with the bound still broken).
_OK = ("optimal", "feasible", "time_limit", "interrupted")
#: Columns of the page's table.
TABLE_COLUMNS = ["point", "bound_hhi", "bound_effective_number", "hhi", "effective_number", "npv", "npv_loss_pct",
                 "senior_size", "senior_share_of_expected_recovery", "gbv", "n_assets", "mip_gap", "status", "note"]
_SIZING = {"deterministic": ("确定性压力 deterministic stresses", "deterministic rating stresses"),
           "monte_carlo": ("蒙特卡洛 Monte Carlo", "Monte Carlo over correlated factor scenarios")}
_E = html.escape  # text inside a plotly figure, escaped once for plotly's HTML-like text renderer


def _fmt(value: object, spec: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec)


def _bar_width(x: pd.Series) -> float | None:
    """Bars a third of the smallest gap between points wide (plotly's default fills a numeric axis badly)."""
    gaps = x.sort_values().diff().dropna()
    gaps = gaps[gaps > 0]
    return float(gaps.min()) / 3 if len(gaps) else None


def frontier_chart(table_: pd.DataFrame, dimension: str, measure: str, title: str) -> str:
    """One self-contained HTML page (plotly.js embedded, no CDN: works offline): pool npv (亿元) against the
    measure, the unconstrained pool highlighted, hover text with bound, gbv, assets and gap; the points as a
    table below the chart."""
    t = table_
    dim_zh, dim_en = DIMENSION_LABELS.get(dimension, (dimension, dimension))
    m_zh, m_en = MEASURE_LABELS.get(measure, (measure, measure))
    x_col = "hhi" if measure == "hhi" else "effective_number"
    b_col = "bound_hhi" if measure == "hhi" else "bound_effective_number"
    ok = t["status"].isin(_OK) & t["npv"].notna()
    x_fmt = ".4f" if measure == "hhi" else ".2f"
    b_label = "上限 max" if measure == "hhi" else "下限 min"

    def hover(rows: pd.DataFrame) -> list[str]:
        return [
            f"{m_zh} {m_en}: {_fmt(getattr(r, x_col), x_fmt)} ({b_label} {_fmt(getattr(r, b_col), x_fmt)})<br>"
            f"净现值 npv: {_fmt(r.npv / 1e8, ',.2f')} 亿元 (损失 loss {_fmt(r.npv_loss_pct, '.2f')}%)<br>"
            f"未偿本息 GBV: {_fmt(r.gbv / 1e8, ',.2f')} 亿元 · 资产笔数 assets: {_fmt(r.n_assets, ',')}<br>"
            f"间隙 gap: {_fmt(r.mip_gap, '.2e')} · 状态 status: {_E(str(r.status))}"
            for r in rows.itertuples(index=False)
        ]

    fig = go.Figure()
    pts = t[ok].sort_values(x_col)
    fig.add_scatter(x=pts[x_col], y=pts["npv"] / 1e8, mode="lines+markers", name="前沿 frontier",
                    line={"color": "#2c5d9e", "width": 2}, marker={"size": 8, "color": "#2c5d9e"},
                    text=hover(pts), hovertemplate="%{text}<extra></extra>")
    free = t[ok & t["unconstrained"].astype(bool)]
    if len(free):
        fig.add_scatter(x=free[x_col], y=free["npv"] / 1e8, mode="markers",
                        name="无分散约束 unconstrained (scenario as is)",
                        marker={"size": 16, "symbol": "star", "color": "#c0392b", "line": {"width": 1, "color": "#26323f"}},
                        text=hover(free), hovertemplate="%{text}<extra></extra>")
    loose = t[t["status"].eq("hhi_not_converged") & t["npv"].notna()]
    if len(loose):
        fig.add_scatter(x=loose[x_col], y=loose["npv"] / 1e8, mode="markers",
                        name="未收敛 bound not met (HHI cuts not converged)",
                        marker={"size": 9, "symbol": "x", "color": "#7f7f7f"}, text=hover(loose),
                        hovertemplate="%{text}<extra></extra>")
    lb = t.attrs.get("hhi_lower_bound")
    if lb:
        fig.add_vline(x=lb if measure == "hhi" else 1.0 / lb, line={"dash": "dot", "color": "#7f7f7f"},
                      annotation_text="线性松弛极限 LP limit", annotation_position="top right")
    direction = " — 越小越分散 lower is more diversified" if measure == "hhi" else " — 越大越分散 higher is more diversified"
    fig.update_layout(xaxis_title=f"{m_zh}({dim_zh}) {m_en} ({dim_en.lower()})" + direction,
                      yaxis_title="资产池净现值 pool npv (亿元 CNY 100 mn)", hovermode="closest")
    fig.update_yaxes(tickformat=",.2f")

    facts = []
    for key, zh, en in (("hhi_free", "无约束组合", "unconstrained pool"), ("hhi_min", "最分散可达", "most diversified (LP)"),
                        ("hhi_lower_bound", "认证极限", "certified limit")):
        h = t.attrs.get(key)
        if h is not None and h > 0:
            facts.append(f"{zh} {en}: HHI {format_value(h, 'num')} · N {format_value(1.0 / h, 'f2')}")
    senior_chart, sizing = None, ("", "")
    if "senior_size" in t and t.loc[ok, "senior_size"].notna().any():
        sen = pts[pts["senior_size"].notna()]
        sfig = go.Figure()
        sfig.add_bar(x=sen[x_col], y=sen["senior_size"] / 1e8, name="优先级规模 senior (亿元)",
                     marker={"color": "#2c5d9e"}, text=[_fmt(v / 1e8, ",.2f") for v in sen["senior_size"]],
                     textposition="outside", width=_bar_width(sen[x_col]))
        sfig.add_scatter(x=sen[x_col], y=sen["senior_share_of_expected_recovery"], yaxis="y2", mode="lines+markers",
                         name="优先级/预期回收 senior / expected recovery", line={"color": "#e67e22", "width": 2})
        sfig.update_layout(xaxis_title=f"{m_zh}({dim_zh}) {m_en} ({dim_en.lower()})" + direction,
                           yaxis={"title": "优先级规模 senior (亿元)", "tickformat": ",.1f"},
                           yaxis2={"title": "占预期回收 share of expected recovery", "overlaying": "y",
                                   "side": "right", "tickformat": ".1%"}, hovermode="x unified",
                           legend={"orientation": "h", "y": -0.25})
        senior_chart = figure(sfig, "fig-senior", 440)
        kind = str(sen["sizing"].iloc[0]) if "sizing" in sen else "deterministic"
        sizing = _SIZING.get(kind, (kind, kind))
    rows = t.assign(point=[f"{p} ★" if u else str(p) for p, u in zip(t["point"], t["unconstrained"], strict=True)])
    other_bound = "bound_effective_number" if measure == "hhi" else "bound_hhi"  # the swept bound is enough
    cols = columns_for(rows, [c for c in TABLE_COLUMNS if c != other_bound], {"point": ("序号", "Point", "text")})
    cols = [c if c.name != b_col else Col(c.name, f"{c.zh}(约束)", f"{c.en} (swept)", c.kind) for c in cols]
    return render(
        "frontier.html",
        title=title, heading_zh="分散化前沿", heading_en="Diversification frontier",
        nav=[("frontier", "前沿 Frontier"), ("points", "各点 Points")],
        dimension=(dim_zh, dim_en), measure=(m_zh, m_en), facts=facts,
        chart=figure(fig, "fig-frontier", 520), points=table(rows, cols), senior_chart=senior_chart, sizing=sizing,
    )
