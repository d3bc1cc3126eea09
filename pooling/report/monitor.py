"""monitor.html and monitor.xlsx: the trustee-style period report of ``pooling monitor`` (DESIGN §12).

The page is rendered from the ``monitor.html`` template (autoescaped; plotly embedded, works offline) with the
pieces every report shares; the workbook has one sheet per table. docs/monitor.md explains how to read them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import xlsxwriter

from pooling.io import write_atomic
from pooling.outputs import MONITOR_REPORT_FILES
from pooling.report.columns import Col
from pooling.report.page import Card, figure, render, table, write_page
from pooling.report.workbook import Sheet, formats

__all__ = ["monitor_page", "write_monitor_reports"]

WATCH_LIMIT = 50
_TRIGGERS = {"cumulative_collection_ratio": "累计回收率 Cumulative collection ratio",
             "npv_profitability": "净现值盈利率 NPV profitability",
             "senior_interest_cover": "优先级利息覆盖 Senior interest cover"}
TRIGGER_COLS = [Col("trigger_label", "触发事件", "Trigger", "text"), Col("period", "期次", "Period", "int"),
                Col("date", "日期", "Date", "date"), Col("value", "数值", "Value", "f2"),
                Col("threshold", "阈值", "Threshold", "f2"), Col("breached_label", "是否触发", "Breached", "text")]
WATCH_COLS = [Col("rank", "排名", "Rank", "int"), Col("level", "层级", "Level", "text"),
              Col("amc_id", "资产管理公司", "AMC", "text"), Col("asset_id", "资产编号", "Asset", "text"),
              Col("group_id", "债务人集团", "Obligor group", "text"), Col("province", "省份", "Province", "text"),
              Col("plan_to_date", "计划回收(元)", "Plan to date (CNY)", "cny"),
              Col("actual_to_date", "实际回收(元)", "Actual to date (CNY)", "cny"),
              Col("shortfall", "缺口(元)", "Shortfall (CNY)", "cny"), Col("ratio", "回收率", "Ratio", "pct"),
              Col("reason", "原因", "Reason", "text")]
REFORECAST_COLS = [Col("period", "期次", "Period", "int"), Col("date", "日期", "Date", "date"),
                   Col("status", "状态", "Status", "text"),
                   Col("plan_collections", "计划回收(元)", "Plan collections (CNY)", "cny"),
                   Col("collections", "实际/预测回收(元)", "Actual / re-forecast (CNY)", "cny"),
                   Col("pay_senior_interest", "优先级利息(元)", "Senior interest (CNY)", "cny"),
                   Col("pay_senior_principal", "优先级本金(元)", "Senior principal (CNY)", "cny"),
                   Col("plan_senior_balance", "计划优先级余额(元)", "Plan senior balance (CNY)", "cny"),
                   Col("senior_balance", "优先级余额(元)", "Senior balance (CNY)", "cny")]
MONITOR_COLS = [Col("period", "期次", "Period", "int"), Col("date", "日期", "Date", "date"),
                Col("dimension", "维度", "Dimension", "text"), Col("segment", "细分", "Segment", "text"),
                Col("plan", "计划(元)", "Plan (CNY)", "cny"), Col("actual", "实际(元)", "Actual (CNY)", "cny"),
                Col("cumulative_plan", "累计计划(元)", "Cumulative plan (CNY)", "cny"),
                Col("cumulative_actual", "累计实际(元)", "Cumulative actual (CNY)", "cny"),
                Col("ratio", "累计回收率", "Ratio", "pct")]


def _pct(x) -> str:
    return "–" if x is None or x != x else f"{x:.1%}"


def _yi(x) -> str:
    return "–" if x is None or x != x else f"{x / 1e8:,.2f} 亿"


def _trigger_rows(triggers: pd.DataFrame) -> pd.DataFrame:
    return triggers.assign(trigger_label=triggers["trigger"].map(_TRIGGERS).fillna(triggers["trigger"]),
                           breached_label=triggers["breached"].map({True: "是 Yes", False: "否 No"}))


def monitor_page(result, title: str) -> str:
    """The period report as one self-contained HTML page."""
    d = result.summary
    fc = d["reforecast"]
    overall = result.monitor[result.monitor["dimension"] == "all"]
    breached = d["triggers_breached_now"]
    headline = [
        Card("累计回收", "Collected to date", _yi(d["actual_to_date"]), f"计划 plan {_yi(d['plan_to_date'])}"),
        Card("累计回收率", "Collection ratio", _pct(d["collection_ratio"]), f"报告日 as of {d['as_of']}",
             "good" if (d["collection_ratio"] or 0) >= 1 else "warn"),
        Card("触发事件", "Triggers breached", str(len(breached)), ", ".join(breached) or "无 none",
             "warn" if breached else "good"),
        Card("预警", "Watch list", f"{d['watchlist']['assets']:,}",
             f"集团 groups {d['watchlist']['groups']:,} · 缺口 shortfall {_yi(d['watchlist']['shortfall'])}"),
        Card("优先级兑付", "Senior repaid by legal maturity",
             "是 Yes" if fc["senior_repaid_by_legal_maturity"] else "否 No",
             f"法定到期 legal {fc['legal_maturity']}" + (f" · 概率 probability {_pct(fc['senior_repaid_probability'])}"
                                                       if fc.get("senior_repaid_probability") is not None else ""),
             "good" if fc["senior_repaid_by_legal_maturity"] else "warn"),
    ]
    notes = []
    if d.get("inputs_match") is False:
        notes.append("注意：情景输入与发行时不同 Note: the scenario's inputs differ from those the deal was issued on")

    fig = go.Figure()
    fig.add_bar(x=overall["date"], y=overall["plan"] / 1e8, name="计划 plan", marker={"color": "#b8c7dc"})
    fig.add_bar(x=overall["date"], y=overall["actual"] / 1e8, name="实际 actual", marker={"color": "#2c5d9e"})
    fig.add_scatter(x=overall["date"], y=overall["ratio"], yaxis="y2", mode="lines+markers",
                    name="累计回收率 cumulative ratio", line={"color": "#e67e22", "width": 2})
    fig.update_layout(barmode="group", yaxis={"title": "亿元 CNY 100 mn", "tickformat": ",.2f"},
                      yaxis2={"title": "累计回收率 ratio", "overlaying": "y", "side": "right", "tickformat": ".0%"},
                      hovermode="x unified")
    last = result.monitor[(result.monitor["period"] == result.monitor["period"].max())
                          & (result.monitor["dimension"] == "province")].sort_values("ratio")
    seg = go.Figure()
    seg.add_bar(x=last["segment"], y=last["ratio"], marker={"color": ["#c0392b" if r < 0.9 else "#2c5d9e"
                                                                      for r in last["ratio"].fillna(1.0)]},
                name="累计回收率 ratio by province")
    seg.update_layout(yaxis={"title": "累计回收率 cumulative ratio", "tickformat": ".0%"},
                      title="分省份累计回收率 Cumulative collection ratio by province", showlegend=False)
    rf = result.reforecast
    bal = go.Figure()
    bal.add_scatter(x=rf["date"], y=rf["plan_senior_balance"] / 1e8, name="计划 plan", line={"dash": "dash"})
    bal.add_scatter(x=rf["date"], y=rf["senior_balance"] / 1e8, name="实际与重新预测 actual and re-forecast")
    bal.update_layout(yaxis={"title": "优先级余额 senior balance (亿元)", "tickformat": ",.2f"}, hovermode="x unified")
    text = (f"剩余回收按各省份×担保类型的实际/计划比例({_pct(fc['pool_ratio'])} 全池)调整后，按发行时的现金流分配顺序运行至法定到期日。",
            f"The remaining collections scaled by each province × collateral segment's actual-to-plan ratio "
            f"(pool {_pct(fc['pool_ratio'])}), run through the deal's waterfall to the legal maturity "
            f"{fc['legal_maturity']}: senior last paid {fc['senior_expected_maturity'] or '–'} "
            f"(plan {fc['plan_senior_expected_maturity'] or '–'}).")
    watch = result.watchlist.head(WATCH_LIMIT)
    return render(
        "monitor.html", title=title, heading_zh="存续期管理报告", heading_en="Surveillance report",
        meta=f"{d['scenario']} · 起始 closing {d['closing']} · 报告日 as of {d['as_of']}",
        nav=[("headline", "概览 Headline"), ("collections", "回收 Collections"), ("triggers", "触发 Triggers"),
             ("watchlist", "预警 Watch list"), ("reforecast", "预测 Re-forecast")],
        headline=headline, notes=notes, chart=figure(fig, "fig-collections", 440),
        segment_chart=figure(seg, "fig-provinces", 380) if len(last) else None,
        triggers=table(_trigger_rows(result.triggers), TRIGGER_COLS,
                       row_class=lambda r: "bad" if r["breached"] else ""),
        watch=table(watch, WATCH_COLS), watch_limit=WATCH_LIMIT, reforecast_text=text,
        balance_chart=figure(bal, "fig-balance", 380), reforecast=table(rf, REFORECAST_COLS))


def _workbook(path: Path, result) -> None:
    wb = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    d = result.summary
    # a fixed creation time (the report date), so the same inputs give the same bytes
    as_of = pd.Timestamp(d["as_of"])
    wb.set_properties({"title": "存续期管理报告 Surveillance report", "author": "amc-pooling",
                       "created": dt.datetime(as_of.year, as_of.month, as_of.day)})
    fmt = formats(wb)
    fc = d["reforecast"]
    sheet = Sheet(wb, "概览 Summary", fmt)
    sheet.title("存续期管理报告 Surveillance report", f"{d['scenario']} · closing {d['closing']} · as of {d['as_of']}")
    sheet.kv([("累计计划 Plan to date (CNY)", d["plan_to_date"], "cny"),
              ("累计实际 Actual to date (CNY)", d["actual_to_date"], "cny"),
              ("累计回收率 Collection ratio", d["collection_ratio"], "pct"),
              ("当前触发 Triggers breached now", ", ".join(d["triggers_breached_now"]) or "none", "text"),
              ("预警资产 Watched assets", d["watchlist"]["assets"], "int"),
              ("预警集团 Watched obligor groups", d["watchlist"]["groups"], "int"),
              ("法定到期前偿清优先级 Senior repaid by legal maturity", fc["senior_repaid_by_legal_maturity"], "bool"),
              ("优先级偿清概率 Probability (Monte Carlo)", fc.get("senior_repaid_probability"), "pct"),
              ("优先级预计到期 Senior last paid (re-forecast)", fc["senior_expected_maturity"], "text"),
              ("全池回收比例 Pool actual-to-plan", fc["pool_ratio"], "pct")])
    sheet.finish()
    for name, frame, cols in (("回收 Monitor", result.monitor, MONITOR_COLS),
                              ("触发 Triggers", _trigger_rows(result.triggers), TRIGGER_COLS),
                              ("预警 Watch list", result.watchlist, WATCH_COLS),
                              ("预测 Re-forecast", result.reforecast, REFORECAST_COLS)):
        sh = Sheet(wb, name, fmt)
        sh.table(frame, cols)
        sh.ws.freeze_panes(1, 0)
        sh.finish()
    wb.close()


def write_monitor_reports(out_dir: Path, result, plan=None) -> list[Path]:
    """monitor.xlsx and monitor.html (:data:`~pooling.outputs.MONITOR_REPORT_FILES`), atomically."""
    out_dir = Path(out_dir)
    xlsx, page = MONITOR_REPORT_FILES
    title = f"存续期管理 Surveillance — {result.summary['scenario']} — {result.summary['as_of']}"
    return [write_atomic(out_dir / xlsx, lambda tmp: _workbook(tmp, result)),
            write_page(out_dir / page, monitor_page(result, title))]
