"""Human reports (DESIGN §8): an Excel workbook and one self-contained, offline HTML file.

Both are built from the same :class:`ReportInputs` (what ``pooling run`` already holds in memory) and carry
bilingual labels (Chinese first, then English) from :mod:`pooling.vocab`. Nothing here recomputes the optimisation
or the deal; tables are the contract frames (pool, summary, limits, tranches, cash flows, stresses) laid out for
reading.

* ``report.xlsx`` (xlsxwriter, :mod:`pooling.report.workbook`): Summary, Stratification, Tranches, Cash flows,
  Stresses, Limits and, when given, Allocation; CNY as ``#,##0``, shares as ``0.0%``, header rows frozen; every
  number stored as a number.
* ``report.html`` (the ``report.html`` template, :mod:`pooling.report.page`): plotly.js embedded once (no CDN:
  intranets are offline), charts and tables; every input text escaped once, by the template.

Output is deterministic: the only date in either file is the scenario's ``as_of`` (also used as the workbook's
creation date), and every chart has a fixed div id. See docs/reports.md for how to read each part.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xlsxwriter

from pooling.io import write_atomic
from pooling.pipeline import valuation_text
from pooling.report.columns import columns_for, format_value, money_yi, numeric_frame
from pooling.report.page import Card, figure, render, table, write_page
from pooling.report.workbook import Sheet, formats
from pooling.scenario import Scenario
from pooling.selection.results import binding_mask
from pooling.tapes.describe import concentration, stratify
from pooling.tranching.deal import Deal
from pooling.tranching.waterfall import PERIOD_MONTHS
from pooling.vocab import (
    DIMENSION_LABELS,
    DIMENSIONS,
    PAY_LABELS,
    TRANCHE_ZH,
    column_label,
    short_value_label,
    value_label,
)

__all__ = ["SHEETS", "ReportInputs", "binding_first", "compare_strata", "render_html", "stress_pivot",
           "write_html", "write_reports", "write_xlsx"]


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report shows. ``pool`` is the selected subset of ``contributed`` (pool.csv columns suffice)."""

    scenario: Scenario
    contributed: pd.DataFrame
    pool: pd.DataFrame
    summary: dict
    limits: pd.DataFrame
    deal: Deal | None = None
    allocation: pd.DataFrame | None = None
    #: transfers.csv (what each AMC hands over, is paid and keeps) and collaboration.csv, when the consortium ran
    transfers: pd.DataFrame | None = None
    collaboration: pd.DataFrame | None = None
    #: packages.csv (the marginal value of each AMC's packages in the grand deal), when the consortium ran
    packages: pd.DataFrame | None = None

    @property
    def analytics(self) -> dict:
        """The deal headline: ``deal.analytics``, else ``summary["structure"]``, else empty."""
        if self.deal is not None:
            return dict(self.deal.analytics)
        return dict(self.summary.get("structure") or {})

    @property
    def amc_names(self) -> dict[str, str]:
        """AMC id → its label (name) in the scenario."""
        return {a.id: a.label for a in self.scenario.amcs}


def write_reports(out_dir: Path, inputs: ReportInputs) -> list[Path]:
    """Write ``report.xlsx`` and ``report.html`` into ``out_dir`` atomically; return their paths."""
    out_dir = Path(out_dir)
    return [write_xlsx(out_dir / "report.xlsx", inputs), write_html(out_dir / "report.html", inputs)]



# ---------------------------------------------------------------------------------------------------------------
# labels (the vocabulary itself is pooling.vocab)
# ---------------------------------------------------------------------------------------------------------------

#: Colours of the waterfall's uses of cash (labels: :data:`pooling.vocab.PAY_LABELS`).
PAY_COLOURS: dict[str, str] = {
    "taxes": "#7f7f7f", "expenses": "#a5a5a5", "servicer_base_fee": "#c49c6b", "senior_interest": "#9ecae1",
    "mezz_interest": "#c6b3e0", "senior_principal": "#2c6fbb", "mezz_principal": "#7b5ea7",
    "servicer_deferred_fee": "#e0b97b", "sub_principal": "#2e8b57", "sub_fixed_return": "#74c476",
    "servicer_incentive_fee": "#e6862e", "sub_residual": "#b5dfb0",
}
#: limits.csv's ``name`` describes the limit.
LIMIT_LABELS = {"name": ("限额", "Limit", "text")}
#: allocation.csv's ``name`` and ``kind`` are the AMC's.
ALLOCATION_LABELS = {"name": ("成员名称", "AMC name", "text"), "kind": ("成员类型", "AMC kind", "text")}
#: packages.csv's ``npv`` and ``gbv`` are the whole package's, ``method`` how its value was found.
PACKAGE_LABELS = {"npv": ("净现值", "NPV", "cny"), "gbv": ("提供未偿本息", "Contributed GBV", "cny"),
                  "method": ("估值方法(对偶/重新求解)", "Method (dual / resolve)", "text")}
#: the packages shown in the report's table: per AMC, those it re-solved and the largest by value either way
REPORT_PACKAGES_PER_AMC = 10


# ---------------------------------------------------------------------------------------------------------------
# tables shared by both reports
# ---------------------------------------------------------------------------------------------------------------

STRATA_COLUMNS = ["code", "label", "n_contributed", "gbv_contributed", "share_contributed", "n_selected",
                  "gbv_selected", "share_selected", "selected_ratio", "rr_contributed", "rr_selected",
                  "months_contributed", "months_selected"]


def _stratify(assets: pd.DataFrame, column: str) -> pd.DataFrame:
    frame = assets if "principal" in assets else assets.assign(principal=np.nan)
    if frame.empty:
        return pd.DataFrame(columns=["n_assets", "gbv", "gbv_share", "recovery_rate", "wa_months"])
    return stratify(frame, column)


def compare_strata(contributed: pd.DataFrame, pool: pd.DataFrame, dimension: str,
                   scenario: Scenario | None = None) -> pd.DataFrame:
    """Contributed vs selected for one dimension (a key of :data:`pooling.vocab.DIMENSIONS`).

    One row per value, largest selected gbv first: counts, gbv, shares, selected/contributed, recovery rates and
    gbv-weighted months to recovery on both sides.
    """
    column = DIMENSIONS[dimension]
    names = {a.id: a.label for a in scenario.amcs} if scenario is not None else None
    c, s = _stratify(contributed, column), _stratify(pool, column)
    index = c.index.union(s.index)
    c, s = c.reindex(index), s.reindex(index)
    out = pd.DataFrame({
        "code": index.astype(str),
        "label": [value_label(dimension, v, names) for v in index],
        "n_contributed": c["n_assets"].fillna(0).to_numpy(),
        "gbv_contributed": c["gbv"].fillna(0.0).to_numpy(),
        "share_contributed": c["gbv_share"].fillna(0.0).to_numpy(),
        "n_selected": s["n_assets"].fillna(0).to_numpy(),
        "gbv_selected": s["gbv"].fillna(0.0).to_numpy(),
        "share_selected": s["gbv_share"].fillna(0.0).to_numpy(),
        "rr_contributed": c["recovery_rate"].to_numpy(),
        "rr_selected": s["recovery_rate"].to_numpy(),
        "months_contributed": c["wa_months"].to_numpy(),
        "months_selected": s["wa_months"].to_numpy(),
    })
    gc = out["gbv_contributed"].to_numpy(dtype=float)
    out.insert(8, "selected_ratio", np.divide(out["gbv_selected"].to_numpy(dtype=float), gc,
                                              out=np.full(len(out), np.nan), where=gc > 0))
    return out.sort_values(["gbv_selected", "gbv_contributed", "code"], ascending=[False, False, True],
                           kind="stable").reset_index(drop=True)


def _strata_total(table: pd.DataFrame) -> dict:
    gc, gs = table["gbv_contributed"].sum(), table["gbv_selected"].sum()

    def wavg(col: str, w: str) -> float:
        x, wt = table[col].to_numpy(dtype=float), table[w].to_numpy(dtype=float)
        ok = np.isfinite(x) & (wt > 0)
        return float((x[ok] * wt[ok]).sum() / wt[ok].sum()) if ok.any() else float("nan")

    return {"code": "合计 Total", "label": "", "n_contributed": table["n_contributed"].sum(),
            "gbv_contributed": gc, "share_contributed": 1.0 if gc > 0 else float("nan"),
            "n_selected": table["n_selected"].sum(), "gbv_selected": gs,
            "share_selected": 1.0 if gs > 0 else float("nan"),
            "selected_ratio": gs / gc if gc > 0 else float("nan"),
            "rr_contributed": wavg("rr_contributed", "gbv_contributed"),
            "rr_selected": wavg("rr_selected", "gbv_selected"),
            "months_contributed": wavg("months_contributed", "gbv_contributed"),
            "months_selected": wavg("months_selected", "gbv_selected")}


def binding_first(limits: pd.DataFrame, scale: float | None = None, tol: float = 1e-6) -> pd.DataFrame:
    """limits.csv rows with a ``binding`` flag, binding rows first, then by npv per step (largest first).

    A row binds when its slack is within ``tol`` of zero in the model's scaled units (σ = ``scale``, summary.json
    ``model.scale``; see :func:`pooling.selection.results.binding_mask`) or it carries a non-zero shadow price.
    """
    if limits is None or limits.empty:
        return pd.DataFrame(columns=["binding", *(limits.columns if limits is not None else [])])
    df = limits.copy()
    for c in ("value", "activity", "slack", "shadow_price", "npv_per_step"):  # numbers, also when read as text
        if c in df and not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = pd.to_numeric(df[c], errors="coerce")
    slack = df["slack"] if "slack" in df else pd.Series(np.nan, df.index)
    price = df["shadow_price"] if "shadow_price" in df else pd.Series(0.0, df.index)
    tight = binding_mask(df, scale, tol) if {"slack", "value", "family"} <= set(df) else slack.abs() <= tol
    df.insert(0, "binding", (tight | (price.abs() > 1e-12)).fillna(False).astype(bool))
    step = df["npv_per_step"] if "npv_per_step" in df else pd.Series(np.nan, df.index)
    df["_step"] = step.fillna(-np.inf)
    df["_slack"] = slack.abs().fillna(np.inf)
    df = df.sort_values(["binding", "_step", "_slack"], ascending=[False, False, True], kind="stable")
    return df.drop(columns=["_step", "_slack"]).reset_index(drop=True)


def stress_pivot(grid: pd.DataFrame, value: str = "max_senior") -> pd.DataFrame:
    """The stress grid as haircut rows × delay (months) columns of ``value``."""
    return grid.pivot(index="haircut", columns="delay_months", values=value).sort_index().sort_index(axis=1)


def _amc_table(inputs: ReportInputs) -> pd.DataFrame:
    strata = compare_strata(inputs.contributed, inputs.pool, "amc", inputs.scenario)
    amcs = {a.id: a for a in inputs.scenario.amcs}
    return pd.DataFrame({
        "amc_id": strata["code"],
        "amc_name": [amcs[c].label if c in amcs else c for c in strata["code"]],
        "kind": [("全国 national" if amcs[c].kind == "national" else "地方 local") if c in amcs else ""
                 for c in strata["code"]],
        "gbv_contributed": strata["gbv_contributed"],
        "gbv_selected": strata["gbv_selected"],
        "share_selected": strata["share_selected"],
        "selected_ratio": strata["selected_ratio"],
        "min_share": [amcs[c].min_share if c in amcs else np.nan for c in strata["code"]],
        "max_share": [amcs[c].max_share if c in amcs else np.nan for c in strata["code"]],
    })


def _concentration_table(pool: pd.DataFrame) -> pd.DataFrame:
    if pool.empty:
        return pd.DataFrame(columns=["dimension", "n_values", "largest", "largest_share", "top10_share", "hhi",
                                     "effective_number"])
    conc = concentration(pool).reset_index()
    conc["largest"] = [value_label(d, v) if d in DIMENSIONS else v
                       for d, v in zip(conc["dimension"], conc["largest"], strict=True)]
    conc["dimension"] = [" ".join(DIMENSION_LABELS.get(d, ("", d))).strip() for d in conc["dimension"]]
    return conc


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _summary_items(inputs: ReportInputs) -> list[tuple[str, list[tuple[str, Any, str]]]]:
    """Key figures for the Summary sheet: (section, [(bilingual label, value, kind)])."""
    s, sc = inputs.summary, inputs.scenario
    pool = s.get("pool", {})
    contributed = s.get("contributed", {})
    gbv_c = contributed.get("gbv", float(inputs.contributed["gbv"].sum()))
    gbv_p = pool.get("gbv", float(inputs.pool["gbv"].sum()))
    out = [
        ("情景与求解 Scenario and solve", [
            ("情景 Scenario", sc.name, "text"),
            ("基准日 As of", sc.as_of.isoformat(), "date"),
            ("求解状态 Status", s.get("status", ""), "text"),
            ("目标 Objective", s.get("objective", ""), "text"),
            ("目标值 Objective value (CNY)", s.get("objective_value"), "cny"),
            ("上界 Bound (CNY)", s.get("bound"), "cny"),
            ("相对间隙 MIP gap", s.get("mip_gap"), "gap"),
            ("求解策略 Strategy", s.get("strategy", ""), "text"),
            ("求解耗时(秒) Solve seconds", s.get("solve_seconds"), "sec"),
            ("输入哈希 Inputs SHA-256", s.get("inputs_sha256", ""), "text"),
        ]),
        ("资产池 Pool", [
            ("提供资产未偿本息 Contributed GBV (CNY)", gbv_c, "cny"),
            ("提供资产笔数 Contributed assets", contributed.get("n_assets", len(inputs.contributed)), "int"),
            ("入池未偿本息 Pool GBV (CNY)", gbv_p, "cny"),
            ("入池率 Selected / contributed GBV", gbv_p / gbv_c if gbv_c else None, "pct"),
            ("入池本金 Pool principal (CNY)", pool.get("principal"), "cny"),
            ("预期回收 Expected recovery (CNY)", pool.get("expected_recovery"), "cny"),
            ("净现值 NPV (CNY)", pool.get("npv"), "cny"),
            ("回收率 Recovery rate", pool.get("recovery_rate"), "pct"),
            ("加权回收月数 WA months to recovery", pool.get("wa_months_to_recovery"), "months"),
            ("资产笔数 Assets", pool.get("n_assets", len(inputs.pool)), "int"),
            ("债务人数 Obligors", pool.get("n_obligors"), "int"),
            ("债务人集团数 Obligor groups", pool.get("n_obligor_groups"), "int"),
            ("最大集团占比 Largest group share", s.get("concentration", {}).get("largest_group_share"), "pct2"),
            ("前十集团占比 Top-10 group share", s.get("concentration", {}).get("top10_group_share"), "pct"),
        ]),
    ]
    v = s.get("valuation") or {}
    if v:
        t, last = v.get("training") or {}, v.get("last_backtest") or {}
        out.append(("估值 Valuation", [
            ("估值说明 Valuation", valuation_text(v), "text"),
            ("估值模型 Model", v.get("model_id") or "先验参数 documented priors", "text"),
            ("训练区间 Training window", f"{t['from']} – {t['to']}" if t else None, "text"),
            ("最近回溯偏差率 Last backtest deviation rate", last.get("deviation_rate"), "pct"),
            ("贴现率 Discount rate", v.get("discount_rate"), "pct"),
            ("沿用资产包估值占比 Tape values kept (share of GBV)", v.get("tape_share_of_gbv"), "pct"),
        ]))
    a = inputs.analytics
    if a:
        deal_rows = [
            ("优先级规模 Senior size (CNY)", a.get("senior_size"), "cny"),
            ("优先级占未偿本息 Senior / GBV", a.get("senior_share_of_gbv"), "pct"),
            ("优先级占预期回收 Senior / expected recovery", a.get("senior_share_of_expected_recovery"), "pct"),
            ("优先级覆盖倍数 Senior coverage (ER / senior)", a.get("senior_coverage"), "x"),
            ("盈亏平衡折扣 Break-even haircut", a.get("senior_break_even_haircut"), "pct"),
            ("盈亏平衡延迟(月) Break-even delay (months)", a.get("senior_break_even_delay_months"), "months0"),
            ("优先级加权平均期限(年) Senior WAL (years)", a.get("senior_wal_years"), "years"),
            ("基准情景优先级清偿 Senior repaid in base case", a.get("senior_repaid_in_base_case"), "bool"),
        ]
        if inputs.deal is not None:
            for r in inputs.deal.tranches.itertuples(index=False):
                if r.tranche not in ("senior", "A"):
                    deal_rows.append((f"{TRANCHE_ZH.get(r.tranche, r.tranche)}规模 {r.tranche.capitalize()} size (CNY)",
                                      r.size, "cny"))
        deal_rows += [
            ("次级收益率 Sub IRR", a.get("sub_irr"), "pct"),
            ("定档方法 Sizing", a.get("sizing", "deterministic"), "text"),
            ("优先级违约概率 Senior loss probability (Monte Carlo)", a.get("senior_loss_probability"), "pct2"),
            ("优先级预期损失 Senior expected loss (Monte Carlo)", a.get("senior_expected_loss"), "pct2"),
            ("法定到期前回收 Collections to legal maturity (CNY)", a.get("collections_to_legal_maturity"), "cny"),
            ("法定到期后回收 Collections after legal maturity (CNY)", a.get("collections_after_legal_maturity"), "cny"),
        ]
        out.append(("证券化 Deal", deal_rows))
    return out


def _top_limits(inputs: ReportInputs, n: int = 10) -> pd.DataFrame:
    lim = binding_first(inputs.limits, inputs.summary.get("model", {}).get("scale"))
    if lim.empty:
        return lim
    step = pd.to_numeric(lim["npv_per_step"], errors="coerce").fillna(0.0) if "npv_per_step" in lim else 0.0
    keep = lim["binding"] | (step > 0)
    return lim[keep].head(n)



# ---------------------------------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------------------------------

SHEETS = {
    "summary": "概要 Summary",
    "strata": "资产池分层 Stratification",
    "tranches": "证券分层 Tranches",
    "cashflows": "现金流 Cash flows",
    "stresses": "压力测试 Stresses",
    "limits": "限额 Limits",
    "allocation": "分配 Allocation",
    "packages": "资产包 Packages",
}


def write_xlsx(path: Path, inputs: ReportInputs) -> Path:
    """Write the workbook atomically to ``path``."""
    return write_atomic(Path(path), lambda tmp: _build_xlsx(tmp, inputs))


def _build_xlsx(path: Path, inputs: ReportInputs) -> None:
    as_of = inputs.scenario.as_of
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": f"资产池证券化报告 Pooling report — {inputs.scenario.name}",
                       "subject": "amc-pooling", "author": "amc-pooling",
                       "created": dt.datetime(as_of.year, as_of.month, as_of.day)})
    fmt = formats(wb)
    subtitle = f"情景 Scenario: {inputs.scenario.name} · 基准日 As of {as_of.isoformat()}"
    _xl_summary(wb, fmt, inputs, subtitle)
    _xl_strata(wb, fmt, inputs, subtitle)
    if inputs.deal is not None:
        _xl_tranches(wb, fmt, inputs.deal, subtitle)
        _xl_cashflows(wb, fmt, inputs.deal, subtitle)
        _xl_stresses(wb, fmt, inputs.deal, subtitle)
    _xl_limits(wb, fmt, inputs, subtitle)
    if inputs.allocation is not None:
        sh = Sheet(wb, SHEETS["allocation"], fmt)
        sh.title("成员分配 Allocation by AMC", subtitle)
        cols = columns_for(inputs.allocation, labels=ALLOCATION_LABELS)
        sh.table(numeric_frame(inputs.allocation, cols), cols)
        sh.ws.freeze_panes(3, 1)
        sh.finish()
    if inputs.packages is not None and len(inputs.packages):
        sh = Sheet(wb, SHEETS["packages"], fmt)
        sh.title("资产包边际价值 Marginal value of packages (packages.csv)", subtitle)
        cols = columns_for(inputs.packages, labels=PACKAGE_LABELS)
        sh.table(numeric_frame(inputs.packages, cols), cols)
        sh.ws.freeze_panes(3, 2)
        sh.finish()
    wb.close()


def _xl_summary(wb, fmt, inputs: ReportInputs, subtitle: str) -> None:
    sh = Sheet(wb, SHEETS["summary"], fmt)
    sh.title(f"资产池证券化报告 Consortium pooling report — {inputs.scenario.name}", subtitle)
    sh.ws.freeze_panes(sh.row, 0)
    sh.skip()
    for section, items in _summary_items(inputs):
        sh.section(section, 2)
        sh.kv(items)
        sh.skip()
    amc = _amc_table(inputs)
    cols = columns_for(amc)
    sh.section("各资产管理公司份额 AMC shares", len(cols))
    sh.table(amc, cols)
    sh.skip()
    conc = _concentration_table(inputs.pool)
    cols = columns_for(conc)
    sh.section("集中度 Concentration (入池 pool)", len(cols))
    sh.table(conc, cols)
    sh.skip()
    top = _top_limits(inputs)
    cols = columns_for(top, ["name", "limit", "value", "slack", "shadow_price", "npv_per_step"], LIMIT_LABELS)
    sh.section("约束最紧的限额 Binding and costliest limits (npv_per_step: NPV gained per step of relaxation)",
               max(len(cols), 2))
    if len(top):
        sh.table(top, cols)
    else:
        sh.ws.write_string(sh.row, 0, "无约束限额 No binding limits", fmt["note"])
        sh.row += 1
    sh.fit(0, 44)
    sh.finish()


def _xl_strata(wb, fmt, inputs: ReportInputs, subtitle: str) -> None:
    sh = Sheet(wb, SHEETS["strata"], fmt)
    sh.title("资产池分层：提供 vs 入池 Pool stratification: contributed vs selected", subtitle)
    cols = columns_for(pd.DataFrame(columns=STRATA_COLUMNS), STRATA_COLUMNS, {"code": ("取值", "Value", "text")})
    sh.header(cols)
    sh.ws.freeze_panes(sh.row, 2)
    for dim in DIMENSIONS:
        table = compare_strata(inputs.contributed, inputs.pool, dim, inputs.scenario)
        zh, en = DIMENSION_LABELS[dim]
        sh.section(f"{zh} {en}", len(cols))
        first, last = sh.table(table, cols, header=False, total=_strata_total(table))
        if last >= first:  # data bars: share of pool
            j = STRATA_COLUMNS.index("share_selected")
            sh.ws.conditional_format(first, j, last, j, {"type": "data_bar", "bar_color": "#8EA9DB",
                                                         "data_bar_2010": False, "min_type": "num", "min_value": 0,
                                                         "max_type": "num", "max_value": 1})
        sh.skip()
    sh.finish()


def _xl_tranches(wb, fmt, deal: Deal, subtitle: str) -> None:
    sh = Sheet(wb, SHEETS["tranches"], fmt)
    sh.title("证券分层 Tranches", subtitle)
    cols = columns_for(deal.tranches)
    sh.table(deal.tranches, cols)
    sh.ws.freeze_panes(3, 1)
    sh.skip()
    if len(deal.retention):
        sh.section("风险自留 Risk retention (按入池份额 by share of pool GBV)", len(cols))
        sh.table(deal.retention, columns_for(deal.retention))
    sh.finish()


def _xl_cashflows(wb, fmt, deal: Deal, subtitle: str) -> None:
    sh = Sheet(wb, SHEETS["cashflows"], fmt)
    sh.title("基准情景现金流 Base-case cash flows (元 CNY)",
             "回收款 + 储备提取 = Σ支付 + 储备补足 · collections + reserve draw = Σ pay_* + reserve deposit")
    cf = deal.cashflows
    cols = columns_for(cf)
    flow = [c.name for c in cols if c.name.startswith("pay_") or c.name in ("collections", "reserve_draw",
                                                                            "reserve_deposit")]
    sh.table(cf, cols)
    total = {"period": "合计 Total", **{c: float(cf[c].sum()) for c in flow}}
    for j, c in enumerate(cols):  # totals of the flows (not of the balances)
        sh.cell(sh.row, j, total.get(c.name), "text" if c.name == "period" else c.kind, bold=True)
    sh.row += 1
    sh.ws.freeze_panes(3, 2)
    sh.finish()


def _xl_stresses(wb, fmt, deal: Deal, subtitle: str) -> None:
    sh = Sheet(wb, SHEETS["stresses"], fmt)
    sh.title("评级压力 Rating stresses", subtitle)
    sh.table(deal.stresses, columns_for(deal.stresses))
    sh.ws.freeze_panes(3, 1)
    sh.skip()
    senior = float(deal.analytics.get("senior_size") or 0.0)
    for value, kind, title in (
        ("max_senior", "cny", "压力网格：最大优先级规模(元) Stress grid: max senior size (CNY)"),
        ("max_senior_share_of_er", "pct", "压力网格：最大优先级/预期回收 Stress grid: max senior / expected recovery"),
    ):
        piv = stress_pivot(deal.grid, value)
        ncols = len(piv.columns) + 1
        sh.section(title, ncols)
        sh.ws.set_row(sh.row, 32)
        sh.ws.write_string(sh.row, 0, "折扣 ↓ \\ 延迟(月) →\nHaircut ↓ \\ delay (months) →", fmt["header"])
        sh.fit(0, 26)
        for j, d in enumerate(piv.columns, start=1):
            sh.ws.write_number(sh.row, j, float(d), fmt["header"])
            sh.fit(j, 16)
        sh.row += 1
        first = sh.row
        for h, rec in piv.iterrows():
            sh.cell(sh.row, 0, float(h), "pct", bold=False)
            for j, v in enumerate(rec.to_numpy(), start=1):
                sh.cell(sh.row, j, v, kind)
            sh.row += 1
        last = sh.row - 1
        if value == "max_senior" and senior > 0 and last >= first:
            rng = (first, 1, last, len(piv.columns))
            sh.ws.conditional_format(*rng, {"type": "cell", "criteria": ">=", "value": senior, "format": fmt["good"]})
            sh.ws.conditional_format(*rng, {"type": "cell", "criteria": "<", "value": senior, "format": fmt["bad"]})
            sh.ws.write_string(sh.row, 0, f"绿色：已发行优先级({senior:,.0f}元)在该压力下仍可足额偿付；红色：不足 · "
                                          "green: the issued senior still passes under that stress; red: it fails",
                               fmt["note"])
            sh.row += 1
        sh.skip()
    sh.finish()


def _xl_limits(wb, fmt, inputs: ReportInputs, subtitle: str) -> None:
    sh = Sheet(wb, SHEETS["limits"], fmt)
    sh.title("限额与影子价格 Limits and shadow prices (约束的在前 binding first)", subtitle)
    lim = binding_first(inputs.limits, inputs.summary.get("model", {}).get("scale"))
    cols = columns_for(lim, labels=LIMIT_LABELS)
    first, last = sh.table(lim, cols)
    sh.ws.freeze_panes(3, 1)
    if last >= first:
        sh.ws.autofilter(first - 1, 0, last, len(cols) - 1)
    names = [c.name for c in cols]
    if "name" in names:
        sh.widths[names.index("name")] = min(sh.widths.get(names.index("name"), 40), 70)
    sh.finish()



# ---------------------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------------------

C_CONTRIBUTED, C_SELECTED, C_CAP = "#b8c4d6", "#2c5d9e", "#c0392b"
#: Text that goes into a plotly figure is escaped once for plotly's own HTML-like text renderer (the page's
#: template never sees it: figures travel as script-safe JSON).
_E = html.escape


def _composition_fig(table: pd.DataFrame, dimension: str, cap_share: float | None, pool_gbv: float,
                     scenario: Scenario, top: int | None = None) -> go.Figure:
    t = table if top is None else table.head(top)
    ticks = [_E(short_value_label(dimension, c)) for c in t["code"]]
    names = [_E(value_label(dimension, c, {a.id: a.label for a in scenario.amcs})) for c in t["code"]]
    hover = ("%{customdata[0]}<br>%{y:,.2f} 亿元 · %{customdata[1]:.1%}<extra>%{fullData.name}</extra>")
    fig = go.Figure()
    fig.add_bar(x=ticks, y=t["gbv_contributed"] / 1e8, name="提供 Contributed", marker_color=C_CONTRIBUTED,
                customdata=np.column_stack([names, t["share_contributed"]]), hovertemplate=hover)
    fig.add_bar(x=ticks, y=t["gbv_selected"] / 1e8, name="入池 Selected", marker_color=C_SELECTED,
                customdata=np.column_stack([names, t["share_selected"]]), hovertemplate=hover,
                text=[f"{s:.0%}" if s >= 0.01 else "" for s in t["share_selected"]], textposition="outside",
                textfont={"size": 10, "color": C_SELECTED}, cliponaxis=False)
    if cap_share is not None and pool_gbv > 0:
        y = cap_share * pool_gbv / 1e8
        fig.add_hline(y=y, line={"color": C_CAP, "dash": "dash", "width": 1.5},
                      annotation_text=f"上限 cap {cap_share:.0%} × 入池 pool", annotation_position="top right",
                      annotation_font={"color": C_CAP, "size": 11})
    if dimension == "amc" and pool_gbv > 0:
        amcs = {a.id: a for a in scenario.amcs}
        for attr, label in (("max_share", "最高份额 max share"), ("min_share", "最低份额 min share")):
            xs = [tk for tk, c in zip(ticks, t["code"], strict=True)
                  if c in amcs and 0 < getattr(amcs[c], attr) < 1]
            ys = [getattr(amcs[c], attr) * pool_gbv / 1e8 for c in t["code"]
                  if c in amcs and 0 < getattr(amcs[c], attr) < 1]
            if xs:
                fig.add_scatter(x=xs, y=ys, mode="markers", name=label,
                                marker={"symbol": "line-ew", "size": 36, "line": {"width": 3,
                                        "color": C_CAP if attr == "max_share" else "#e67e22"}},
                                hovertemplate="%{x}: %{y:,.2f} 亿元<extra>" + label + "</extra>")
    fig.update_layout(barmode="group", bargap=0.25, yaxis_title="未偿本息 GBV (亿元 CNY 100 mn)")
    return fig


def _cash_fig(deal: Deal, as_of: dt.date) -> go.Figure:
    cf = deal.cashflows
    x = cf["date"].astype(str).tolist()
    issue = f"{as_of.isoformat()} 发行 issue"
    sizes = dict(zip(deal.tranches["tranche"], deal.tranches["size"], strict=True))
    fig = go.Figure()
    fig.add_bar(x=x, y=cf["collections"] / 1e8, name="当期回收款 Collections", marker_color="#9fb8d9",
                hovertemplate="%{x}<br>%{y:,.2f} 亿元<extra>回收款 Collections</extra>")
    styles = {"senior": ("#1f4e8c", "solid"), "A": ("#1f4e8c", "solid"), "mezzanine": ("#7b5ea7", "solid"),
              "B": ("#7b5ea7", "solid"), "subordinated": ("#2e8b57", "solid"), "J": ("#2e8b57", "solid")}
    for col in [c for c in cf.columns if c.endswith("_balance") and c != "reserve_balance"]:
        name = col[: -len("_balance")]
        colour, dash = styles.get(name, ("#555555", "solid"))
        label = " ".join(column_label(col)[:2])
        y0 = float(sizes.get(name, cf[col].iloc[0]))
        fig.add_scatter(x=[issue, *x], y=np.r_[y0, cf[col].to_numpy(dtype=float)] / 1e8, name=label,
                        mode="lines+markers", line={"color": colour, "dash": dash,
                        "width": 2.5, "shape": "hv"}, hovertemplate="%{x}<br>%{y:,.2f} 亿元<extra>" + label + "</extra>")
    if "reserve_balance" in cf:
        fig.add_scatter(x=x, y=cf["reserve_balance"] / 1e8, name="储备余额 Reserve balance", mode="lines",
                        line={"color": "#e6862e", "dash": "dot", "width": 1.5, "shape": "hv"},
                        hovertemplate="%{x}<br>%{y:,.2f} 亿元<extra>储备余额 Reserve balance</extra>")
    fig.update_layout(xaxis={"type": "category", "categoryorder": "array", "categoryarray": [issue, *x],
                             "title": "兑付日 Payment date (余额为当期兑付后 balances after the payment)"},
                      yaxis_title="亿元 CNY 100 mn", bargap=0.35)
    return fig


def _uses_fig(deal: Deal) -> go.Figure:
    cf = deal.cashflows
    x = cf["date"].astype(str).tolist()
    fig = go.Figure()
    for item, (zh, en) in PAY_LABELS.items():
        col, colour = f"pay_{item}", PAY_COLOURS[item]
        if col in cf and float(cf[col].abs().sum()) > 0.5:
            fig.add_bar(x=x, y=cf[col] / 1e8, name=f"{zh} {en}", marker_color=colour,
                        hovertemplate="%{x}<br>%{y:,.3f} 亿元<extra>" + f"{zh} {en}" + "</extra>")
    if "reserve_deposit" in cf and float(cf["reserve_deposit"].abs().sum()) > 0.5:
        fig.add_bar(x=x, y=cf["reserve_deposit"] / 1e8, name="储备补足 Reserve deposit", marker_color="#f2c14e",
                    hovertemplate="%{x}<br>%{y:,.3f} 亿元<extra>储备补足 Reserve deposit</extra>")
    sources = cf["collections"] + cf.get("reserve_draw", 0.0)
    fig.add_scatter(x=x, y=sources / 1e8, name="可分配资金 Available cash (collections + reserve draw)",
                    mode="markers", marker={"symbol": "line-ew", "size": 26, "line": {"width": 2, "color": "#111"}},
                    hovertemplate="%{x}<br>%{y:,.2f} 亿元<extra>可分配资金 Available cash</extra>")
    fig.update_layout(barmode="stack", bargap=0.3, xaxis={"type": "category", "title": "兑付日 Payment date"},
                      yaxis_title="亿元 CNY 100 mn",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0,
                              "traceorder": "normal"})
    fig.update_layout(margin={"b": 150})
    return fig


def _fan_fig(scen: pd.DataFrame, dates: pd.DatetimeIndex) -> go.Figure:
    """Collections by period: 1–99% and 5–95% bands, median and base case (亿元)."""
    rows = scen[pd.to_numeric(scen["period"], errors="coerce").notna()]
    x = [d.strftime("%Y-%m-%d") for d in dates[: len(rows)]]
    y = {c: rows[c].to_numpy(dtype=float)[: len(x)] / 1e8 for c in ("p1", "p5", "p50", "p95", "p99", "base")}
    fig = go.Figure()
    for lo, hi, colour, name in (("p1", "p99", "rgba(44,93,158,0.15)", "1%–99%"),
                                 ("p5", "p95", "rgba(44,93,158,0.35)", "5%–95%")):
        fig.add_scatter(x=x, y=y[hi], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=x, y=y[lo], mode="lines", line={"width": 0}, fill="tonexty", fillcolor=colour,
                        name=f"情景区间 scenario band {name}", hoverinfo="skip")
    fig.add_scatter(x=x, y=y["p50"], mode="lines+markers", name="中位数 median", line={"color": "#2c5d9e", "width": 2},
                    hovertemplate="%{x}: %{y:,.2f} 亿元<extra>median</extra>")
    fig.add_scatter(x=x, y=y["base"], mode="lines", name="基准情景 base case", line={"color": "#e67e22", "dash": "dash"},
                    hovertemplate="%{x}: %{y:,.2f} 亿元<extra>base</extra>")
    fig.update_layout(xaxis_title="兑付日 payment date", yaxis_title="当期回收 collections (亿元)", hovermode="x unified",
                      legend={"orientation": "h", "y": -0.2})
    fig.update_yaxes(tickformat=",.1f")
    return fig


def _monte_carlo(deal: Deal, sc: Scenario) -> dict | None:
    """The Monte Carlo section's context, or None under deterministic sizing."""
    scen = getattr(deal, "scenarios", None)
    if scen is None or not len(scen):
        return None
    a = deal.analytics
    rating = sc.structure.senior_rating
    mc = deal.stresses[(deal.stresses.get("method") == "monte_carlo") & (deal.stresses["rating"] == rating)] \
        if "method" in deal.stresses else deal.stresses.head(0)
    pass_share = float(mc["pass_share"].iloc[0]) if len(mc) else math.nan
    target = float(mc["target_share"].iloc[0]) if len(mc) else math.nan
    months = PERIOD_MONTHS[sc.structure.payment_frequency]
    n_periods = int(pd.to_numeric(scen["period"], errors="coerce").notna().sum())
    dates = pd.DatetimeIndex([pd.Timestamp(sc.as_of) + pd.DateOffset(months=months * (i + 1)) for i in range(n_periods)])
    return {
        "n": f"{sc.structure.monte_carlo.scenarios:,}",
        "senior": format_value((a.get("senior_size") or 0.0) / 1e8, "f2"),
        "pass_share": format_value(pass_share, "pct"), "target": format_value(target, "pct"),
        "loss_probability": format_value(a.get("senior_loss_probability"), "pct"),
        "expected_loss": "–" if a.get("senior_expected_loss") is None else f"{a['senior_expected_loss']:.4%}",
        "fan": figure(_fan_fig(scen, dates), "fig-fan", 440),
    }


def _stress_fig(deal: Deal) -> go.Figure:
    piv = stress_pivot(deal.grid, "max_senior_share_of_er")
    money = stress_pivot(deal.grid, "max_senior") / 1e8
    a = deal.analytics
    issued = float(a.get("senior_share_of_expected_recovery") or 0.0)
    z = piv.to_numpy(dtype=float)
    fig = go.Figure()
    fig.add_heatmap(
        x=[int(d) for d in piv.columns], y=[float(h) for h in piv.index], z=z, customdata=money.to_numpy(),
        colorscale="RdYlGn", zmid=issued if issued > 0 else None, texttemplate="%{z:.0%}",
        textfont={"size": 11}, xgap=1, ygap=1,
        colorbar={"title": {"text": "最大优先级/预期回收<br>max senior / ER", "side": "right"}, "tickformat": ".0%"},
        hovertemplate=("折扣 haircut %{y:.0%} · 延迟 delay %{x} 月 months<br>最大优先级 max senior "
                       "%{customdata:,.2f} 亿元 = %{z:.1%} of ER<extra></extra>"),
    )
    st = deal.stresses
    if "method" in st:  # Monte Carlo rows have no haircut / delay: they are drawn in their own section
        st = st[st["method"] != "monte_carlo"]
    fig.add_scatter(x=st["delay_months"], y=st["haircut"], mode="markers", name="评级压力 Rating stresses",
                    text=[_E(str(r)) for r in st["rating"]],
                    marker={"symbol": "diamond-open", "size": 10, "color": "#111", "line": {"width": 2.5}},
                    customdata=np.column_stack([st["max_senior"] / 1e8, st["max_senior_share_of_er"]]),
                    hovertemplate=("%{text}: 折扣 haircut %{y:.0%} · 延迟 delay %{x} 月<br>最大优先级 max senior "
                                   "%{customdata[0]:,.2f} 亿元 (%{customdata[1]:.1%} of ER)<extra></extra>"))
    for r in st.itertuples(index=False):  # labels beside the markers, boxed so the cell values stay legible
        fig.add_annotation(x=r.delay_months, y=r.haircut, text=f"<b>{_E(str(r.rating))}</b> {r.max_senior_share_of_er:.0%}",
                           showarrow=True, arrowhead=0, arrowwidth=1, ax=34, ay=-16, xanchor="left",
                           bgcolor="rgba(255,255,255,0.9)", bordercolor="#111", borderwidth=1, borderpad=2,
                           font={"size": 11, "color": "#111"})
    be_h, be_d = a.get("senior_break_even_haircut"), a.get("senior_break_even_delay_months")
    xs, ys, texts = [], [], []
    if _finite(be_h):
        xs.append(0)
        ys.append(float(be_h))
        texts.append(f"盈亏平衡 break-even {float(be_h):.1%}")
    if _finite(be_d) and float(be_d) <= float(max(piv.columns)):
        xs.append(float(be_d))
        ys.append(0.0)
        texts.append(f"盈亏平衡 break-even {float(be_d):.0f} 月")
    if xs:
        fig.add_scatter(x=xs, y=ys, mode="markers", name="已发行优先级盈亏平衡 Break-even of issued senior",
                        marker={"symbol": "x-thin", "size": 14, "line": {"width": 3, "color": "#111"}},
                        text=[_E(t) for t in texts], hovertemplate="%{text}<extra></extra>")
    fig.update_layout(
        xaxis={"title": "回收延迟(月) Delay of collections (months)", "tickvals": [int(d) for d in piv.columns],
               "zeroline": False, "showgrid": False},
        yaxis={"title": "回收折扣 Recovery haircut", "tickformat": ".0%", "autorange": "reversed",
               "tickvals": [float(h) for h in piv.index], "zeroline": False, "showgrid": False},
        legend={"orientation": "h", "yanchor": "top", "y": -0.14, "xanchor": "left", "x": 0},
    )
    fig.update_layout(margin={"b": 110})
    return fig


def _allocation_fig(alloc: pd.DataFrame) -> go.Figure | None:
    if "amc_id" not in alloc:
        return None
    cols = [c for c in alloc.columns if c not in ("amc_id", "contributed_gbv", "selected_gbv")
            and pd.api.types.is_numeric_dtype(alloc[c]) and ("value" in c or "alloc" in c or c.startswith("by_"))]
    if not cols:
        return None
    palette = ["#9fb8d9", "#2c5d9e", "#2e8b57", "#e6862e", "#7b5ea7", "#c0392b", "#7f7f7f"]
    fig = go.Figure()
    for i, c in enumerate(cols):
        zh, en, _ = column_label(c)
        label = f"{zh} {en}"
        fig.add_bar(x=[_E(str(a)) for a in alloc["amc_id"]], y=alloc[c] / 1e8, name=_E(label),
                    marker_color=palette[i % len(palette)],
                    hovertemplate="%{x}: %{y:,.2f} 亿元<extra>" + _E(label) + "</extra>")
    fig.update_layout(barmode="group", yaxis_title="亿元 CNY 100 mn")
    return fig


def package_highlights(packages: pd.DataFrame, per_amc: int = REPORT_PACKAGES_PER_AMC) -> pd.DataFrame:
    """The packages the report shows: per AMC, every re-solved one and the largest by dual value in magnitude, at
    most ``per_amc`` (re-solved first), in packages.csv's order; ``value`` is the re-solved value where there is
    one, else the dual estimate."""
    value = packages["resolve_value"].where(packages["method"] == "resolve", packages["dual_value"])
    ranked = packages.assign(value=value, _resolved=packages["method"] == "resolve", _size=value.abs(),
                             _row=np.arange(len(packages)))
    ranked = ranked.sort_values(["_resolved", "_size", "_row"], ascending=[False, False, True], kind="stable")
    top = ranked.groupby("amc_id", sort=False).head(per_amc).sort_values("_row")
    return top.drop(columns=["_resolved", "_size", "_row"])


def _packages_fig(top: pd.DataFrame) -> go.Figure | None:
    """Horizontal bars: each shown package's value (亿元 would flatten them: CNY m), re-solved dark, dual light."""
    if top.empty:
        return None
    fig = go.Figure()
    labels = [_E(f"{a} · {p}") for a, p in zip(top["amc_id"], top["package"], strict=True)]
    for method, colour, name in (("resolve", "#2c5d9e", "重新求解 re-solved"), ("dual", "#9fb8d9", "对偶估计 dual estimate")):
        m = (top["method"] == method).to_numpy()
        if m.any():
            fig.add_bar(y=[lab for lab, k in zip(labels, m, strict=True) if k], x=top.loc[m, "value"] / 1e6,
                        orientation="h", name=_E(name), marker_color=colour,
                        customdata=top.loc[m, "whatif"].to_numpy(),
                        hovertemplate="%{y}: %{x:,.2f} 百万元 (%{customdata})<extra></extra>")
    fig.update_layout(barmode="overlay", xaxis_title="百万元 CNY m", yaxis={"autorange": "reversed"},
                      margin={"l": 220, "r": 30, "t": 56, "b": 60})
    return fig


def _cards(inputs: ReportInputs) -> list[Card]:
    s = inputs.summary
    pool, contributed = s.get("pool", {}), s.get("contributed", {})
    gbv = float(pool.get("gbv", inputs.pool["gbv"].sum()))
    gbv_c = float(contributed.get("gbv", inputs.contributed["gbv"].sum()))
    er = pool.get("expected_recovery")
    conc = s.get("concentration", {})
    status = str(s.get("status", ""))
    cards = [
        Card("资产池规模", "Pool GBV", money_yi(gbv),
             f"{int(pool.get('n_assets', len(inputs.pool))):,} 笔 assets · "
             f"{int(pool.get('n_obligor_groups') or 0):,} 集团 groups"),
        Card("入池率", "Selected of contributed", f"{gbv / gbv_c:.1%}" if gbv_c else "–",
             f"提供 contributed {money_yi(gbv_c)} · {int(contributed.get('n_assets', len(inputs.contributed))):,} 笔 assets"),
        Card("预期回收", "Expected recovery", money_yi(float(er)) if _finite(er) else "–",
             f"回收率 recovery rate {format_value(pool.get('recovery_rate'), 'pct')} · "
             f"加权回收 WA {format_value(pool.get('wa_months_to_recovery'), 'months')} 月 months"),
        Card("净现值", "NPV", money_yi(float(pool["npv"])) if _finite(pool.get("npv")) else "–",
             f"目标 objective {s.get('objective', '')}"),
        Card("最大集团占比", "Largest obligor group", format_value(conc.get("largest_group_share"), "pct2"),
             f"前十集团 top-10 groups {format_value(conc.get('top10_group_share'), 'pct')} · "
             f"省份有效数 effective provinces {format_value(conc.get('effective_number', {}).get('province'), 'f2')}"),
        Card("求解", "Solve", status or "–", f"间隙 gap {format_value(s.get('mip_gap'), 'gap')} · {s.get('strategy', '')}",
             "good" if status == "optimal" else "warn"),
    ]
    a = inputs.analytics
    if a:
        rating = inputs.scenario.structure.senior_rating
        stress = ""
        if inputs.deal is not None and len(inputs.deal.stresses):
            row = inputs.deal.stresses[inputs.deal.stresses["rating"] == rating]
            if len(row):
                stress = (f"{rating} 压力 stress: 折扣 haircut {row['haircut'].iloc[0]:.0%}, "
                          f"延迟 delay {int(row['delay_months'].iloc[0])} 月 months")
        senior = a.get("senior_size")
        cards += [
            Card("优先级规模", "Senior size", money_yi(float(senior)) if _finite(senior) else "–",
                 f"占预期回收 of ER {format_value(a.get('senior_share_of_expected_recovery'), 'pct')} · "
                 f"占未偿本息 of GBV {format_value(a.get('senior_share_of_gbv'), 'pct')}", "accent"),
            Card("优先级覆盖倍数", "Senior coverage", format_value(a.get("senior_coverage"), "x"),
                 stress or "预期回收 / 优先级 expected recovery / senior"),
            Card("盈亏平衡", "Break-even",
                 f"{format_value(a.get('senior_break_even_haircut'), 'pct')} · "
                 f"{format_value(a.get('senior_break_even_delay_months'), 'months0')} 月",
                 "回收折扣 haircut · 延迟 delay (月 months), 已发行优先级 issued senior"),
            Card("次级收益率", "Sub IRR", format_value(a.get("sub_irr"), "pct"),
                 f"优先级加权平均期限 senior WAL {format_value(a.get('senior_wal_years'), 'years')} 年 years"),
        ]
        if a.get("sizing") == "monte_carlo":
            cards.append(Card("优先级违约概率", "Senior loss probability",
                              format_value(a.get("senior_loss_probability"), "pct2"),
                              f"蒙特卡洛 Monte Carlo · 预期损失 expected loss {format_value(a.get('senior_expected_loss'), 'pct2')}"
                              f" · 确定性压力优先级 deterministic senior {money_yi(a.get('deterministic_senior'))}"))
    return cards


def write_html(path: Path, inputs: ReportInputs) -> Path:
    """Write the single-file HTML report atomically to ``path``."""
    return write_page(Path(path), render_html(inputs))


_FREQUENCY = {"monthly": "按月 monthly", "quarterly": "按季 quarterly", "semiannual": "半年 semiannual"}


def render_html(inputs: ReportInputs) -> str:
    """The whole HTML report as one string (plotly.js included), from the ``report.html`` template."""
    sc, s, deal = inputs.scenario, inputs.summary, inputs.deal
    pool_gbv = float(s.get("pool", {}).get("gbv", inputs.pool["gbv"].sum()))
    limits = sc.pool.limits
    strata = {d: compare_strata(inputs.contributed, inputs.pool, d, sc) for d in DIMENSIONS}
    caps = {"amc": None, "province": limits.max_province_share, "industry": limits.max_industry_share,
            "collateral_type": limits.max_collateral_share, "asset_type": limits.max_asset_type_share,
            "legal_status": limits.max_legal_status_share}
    heights = {"province": 400, "industry": 400}
    figs = {d: figure(_composition_fig(strata[d], d, caps[d], pool_gbv, sc), f"fig-{d.replace('_', '-')}",
                      heights.get(d, 380)) for d in DIMENSIONS}
    strata_cols = columns_for(pd.DataFrame(columns=STRATA_COLUMNS), STRATA_COLUMNS)
    nav = [("headline", "核心指标 Headline"), ("composition", "资产池构成 Pool composition")]
    context: dict[str, Any] = {
        "headline": _cards(inputs),
        "figs": figs,
        "strata": [(*DIMENSION_LABELS[d], table(t, strata_cols, total=_strata_total(t))) for d, t in strata.items()],
        "deal": None,
        "has_analytics": bool(inputs.analytics),
    }
    conc = _concentration_table(inputs.pool)
    context["concentration"] = table(conc, columns_for(conc))
    if deal is not None:
        st = sc.structure
        rating = st.senior_rating
        context["deal"] = {
            "frequency": _FREQUENCY[st.payment_frequency],
            "legal_years": f"{st.legal_maturity_years:g}",
            "issued_share": format_value(deal.analytics.get("senior_share_of_expected_recovery"), "pct"),
            "cash_fig": figure(_cash_fig(deal, sc.as_of), "fig-cash", 440),
            "uses_fig": figure(_uses_fig(deal), "fig-uses", 520),
            "stress_fig": figure(_stress_fig(deal), "fig-stress", 620),
            "stresses": table(deal.stresses, columns_for(deal.stresses),
                              row_class=lambda r: "binding" if r.get("rating") == rating else ""),
            "tranches": table(deal.tranches, columns_for(deal.tranches)),
            "retention": table(deal.retention, columns_for(deal.retention)),
            "cashflows": table(deal.cashflows, columns_for(deal.cashflows)),
        }
        nav += [("cashflows", "回收与摊还 Collections vs amortisation"), ("stresses", "压力测试 Stresses")]
        context["deal"]["mc"] = _monte_carlo(deal, sc)
        if context["deal"]["mc"] is not None:
            nav.append(("montecarlo", "蒙特卡洛 Monte Carlo"))
    nav += [("tranches", "证券分层 Tranches"), ("limits", "限额 Limits")]
    lim = binding_first(inputs.limits, inputs.summary.get("model", {}).get("scale"))
    lcols = columns_for(lim, ["binding", "name", "limit", "value", "slack", "shadow_price", "npv_per_step", "family",
                              "key"], LIMIT_LABELS)
    context["limits"] = table(lim, lcols, row_class=lambda r: "binding" if r.get("binding") else "")
    context["allocation"] = None
    if inputs.allocation is not None:
        alloc = inputs.allocation
        acols = columns_for(alloc, labels=ALLOCATION_LABELS)
        fig = _allocation_fig(alloc)
        context["allocation"] = {"fig": figure(fig, "fig-allocation", 400) if fig is not None else None,
                                 "table": table(numeric_frame(alloc, acols), acols), "transfers": None,
                                 "collaboration": None}
        for name in ("transfers", "collaboration"):
            frame = getattr(inputs, name)
            if frame is not None and len(frame):
                cols = columns_for(frame, labels=ALLOCATION_LABELS)
                context["allocation"][name] = table(numeric_frame(frame, cols), cols)
        context["allocation"]["packages"] = None
        if inputs.packages is not None and len(inputs.packages):
            top = package_highlights(inputs.packages)
            pfig = _packages_fig(top)
            labels = PACKAGE_LABELS | {"value": ("价值(重新求解或对偶估计)", "Value (re-solved, else dual)", "cny")}
            cols = columns_for(top, labels=labels)
            context["allocation"]["packages"] = {
                "fig": figure(pfig, "fig-packages", max(320, 26 * len(top) + 120)) if pfig is not None else None,
                "table": table(numeric_frame(top, cols), cols), "n": len(inputs.packages), "shown": len(top)}
        nav.append(("allocation", "分配 Allocation"))
    return render(
        "report.html",
        title=f"资产池证券化报告 Pooling report — {sc.name}",
        heading_zh="资产池证券化报告", heading_en="Consortium pooling report", nav=nav,
        scenario=sc.name, as_of=sc.as_of.isoformat(), status=str(s.get("status", "")),
        amcs=", ".join(a.label for a in sc.amcs), inputs_sha256=str(s.get("inputs_sha256", "")),
        valuation=valuation_text(s["valuation"]) if s.get("valuation") else None, **context,
    )
