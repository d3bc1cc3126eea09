"""shelf.html: the shelf plan (``pooling shelf``) as one offline page — the issuance calendar, the shelf cap used
over time, and each issue's composition — rendered from the ``shelf.html`` template (autoescaped) with the pieces
every report shares. docs/shelf.md explains how to read it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from pooling.outputs import SHELF_REPORT_FILES
from pooling.report.columns import Col
from pooling.report.page import Card, figure, render, table, write_page
from pooling.shelf.model import ShelfResult
from pooling.shelf.results import composition_frame, issues_frame

_YI = 1e8  # 亿元
#: the issues table: column → (Chinese, English, kind)
ISSUE_TABLE = {
    "issue": ("期次", "Issue", "text"), "date": ("发行日", "Date", "text"), "coupon": ("优先级票面", "Senior coupon", "pct2"),
    "n_assets": ("资产笔数", "Assets", "int"), "gbv": ("未偿本息", "GBV (CNY)", "cny"),
    "expected_recovery": ("预期回收", "Expected recovery (CNY)", "cny"),
    "planned_senior": ("计划优先级", "Planned senior (CNY)", "cny"), "sized_senior": ("测算优先级", "Sized senior (CNY)", "cny"),
    "senior_size": ("发行优先级", "Senior issued (CNY)", "cny"), "notes": ("发行证券", "Notes issued (CNY)", "cny"),
    "issue_cost": ("发行费用", "Issue cost (CNY)", "cny"), "carrying_cost": ("持有成本", "Carrying cost (CNY, PV)", "cny"),
    "cap_used_share": ("额度使用", "Cap used", "pct"), "selection_status": ("选池状态", "Selection", "text"),
}  # fmt: skip
_COMPOSITION = (("province", "省份", "province"), ("collateral_type", "抵押物类型", "collateral type"),
                ("batch", "收购批次", "batch"))


def _calendar(frame: pd.DataFrame, summary: dict) -> go.Figure:
    fig = go.Figure()
    planned = pd.DataFrame(summary["planned_issues"])
    if len(planned):
        fig.add_bar(x=planned["date"], y=planned["notes"] / _YI, name="计划证券 planned notes",
                    marker={"color": "#b8c7dc"})
    fig.add_bar(x=frame["date"], y=frame["notes"] / _YI, name="发行证券 notes issued", marker={"color": "#2c5d9e"},
                text=[f"{v / _YI:,.1f}" for v in frame["notes"]], textposition="outside")
    fig.add_scatter(x=frame["date"], y=frame["coupon"], yaxis="y2", mode="lines+markers", name="优先级票面 senior coupon",
                    line={"color": "#e67e22", "width": 2})
    fig.update_layout(barmode="group", xaxis={"title": "发行窗口 pricing window", "type": "category"},
                      yaxis={"title": "证券 notes (亿元)", "tickformat": ",.0f"},
                      yaxis2={"title": "票面 coupon", "overlaying": "y", "side": "right", "tickformat": ".2%"})
    return fig


def _cap_use(frame: pd.DataFrame, cap: float, windows: list[str]) -> go.Figure:
    used = frame.set_index("date")["cumulative_notes"].reindex(windows).ffill().fillna(0.0)
    fig = go.Figure()
    fig.add_scatter(x=windows, y=used.to_numpy() / _YI, mode="lines+markers", line={"shape": "hv", "color": "#2c5d9e"},
                    name="累计发行 cumulative notes", fill="tozeroy")
    fig.add_scatter(x=windows, y=[cap / _YI] * len(windows), mode="lines", name="储架额度 shelf cap",
                    line={"dash": "dash", "color": "#c0392b"})
    fig.update_layout(xaxis={"title": "发行窗口 pricing window", "type": "category"},
                      yaxis={"title": "亿元 CNY 100 mn", "tickformat": ",.0f"})
    return fig


def _composition(comp: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    shares = comp.div(comp.sum(axis=1), axis=0)
    order = comp.sum(axis=0).sort_values(ascending=False).index
    for value in order:
        fig.add_bar(x=[f"第{i}期 issue {i}" for i in shares.index], y=shares[value], name=str(value))
    fig.update_layout(barmode="stack", yaxis={"title": "占该期未偿本息 share of the issue's gbv", "tickformat": ".0%"},
                      legend={"orientation": "v", "x": 1.02, "y": 1})
    return fig


def shelf_page(result: ShelfResult, summary: dict) -> str:
    """One self-contained HTML page (plotly.js embedded, works offline)."""
    frame = issues_frame(result)
    plan = result.plan
    cards = [
        Card("期数", "Issues", f"{summary['n_issues']}", f"最多 at most {plan.shelf.max_issues}"),
        Card("额度使用", "Cap used", f"{summary['cap_used_share']:.1%}", f"{summary['cap_used'] / _YI:,.1f} / "
             f"{plan.shelf.cap / _YI:,.1f} 亿元", "accent"),
        Card("现值", "PV (realised)", f"{summary['pv'] / _YI:,.2f} 亿元",
             f"计划 plan {summary['pv_plan'] / _YI:,.2f} 亿元 · gap {summary['gap']:.1e}"),
        Card("发行费用", "Issue costs", f"{summary['costs']['issue_costs'] / _YI:,.2f} 亿元"),
        Card("持有成本", "Carrying (PV)", f"{(summary['costs']['carrying_issued'] + summary['costs']['carrying_unissued']) / _YI:,.2f} 亿元",
             "未发行资产持有至储架到期 unissued assets carried to the shelf's end"),
    ]
    cols = [Col(c, *ISSUE_TABLE[c]) for c in ISSUE_TABLE]
    rows = frame.assign(issue=frame["issue"].astype(str))
    compositions = []
    if len(frame):
        for column, zh, en in _COMPOSITION:
            compositions.append((zh, en, figure(_composition(composition_frame(result, column)), f"fig-comp-{column}", 380)))
    return render(
        "shelf.html", title=f"{plan.name}: 储架发行计划 shelf plan", heading_zh="储架发行计划", heading_en="Shelf issuance plan",
        nav=[("calendar", "发行日历 Calendar"), ("cap", "额度 Cap"), ("composition", "构成 Composition"),
             ("issues", "各期 Issues")],
        cards=cards, calendar=figure(_calendar(frame, summary), "fig-calendar", 440),
        cap=figure(_cap_use(frame, plan.shelf.cap, summary["windows"]["open"]), "fig-cap", 380),
        compositions=compositions, issues=table(rows, cols), closed=summary["windows"]["closed"],
        status=summary["status"],
    )


def write_shelf_report(out_dir: Path, result: ShelfResult, summary: dict) -> list[Path]:
    """:data:`~pooling.outputs.SHELF_REPORT_FILES` (shelf.html), written atomically."""
    return [write_page(Path(out_dir) / SHELF_REPORT_FILES[0], shelf_page(result, summary))]
