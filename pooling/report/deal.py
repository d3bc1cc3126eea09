"""Human reports (DESIGN §8): an Excel workbook and one self-contained, offline HTML file.

Both are built from the same :class:`ReportInputs` (what ``pooling run`` already holds in memory) and carry
bilingual labels (Chinese first, then English). Nothing here recomputes the optimisation or the deal; tables are
the contract frames (pool, summary, limits, tranches, cash flows, stresses) laid out for reading.

* ``report.xlsx`` (xlsxwriter): Summary, Stratification, Tranches, Cash flows, Stresses, Limits and, when given,
  Allocation; CNY as ``#,##0``, shares as ``0.0%``, header rows frozen.
* ``report.html``: plotly.js embedded once in a ``<script>`` tag (no CDN: intranets are offline), charts and tables.

Output is deterministic: the only date in either file is the scenario's ``as_of`` (also used as the workbook's
creation date), and every chart has a fixed div id. See docs/reports.md for how to read each part.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
import xlsxwriter

from pooling import vocab
from pooling.io import write_atomic
from pooling.scenario import Scenario
from pooling.tapes.describe import DIMENSIONS, concentration, stratify
from pooling.tranching.deal import Deal

__all__ = ["ReportInputs", "binding_first", "compare_strata", "render_html", "stress_pivot", "write_html",
           "write_reports", "write_xlsx"]


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

    @property
    def analytics(self) -> dict:
        """The deal headline: ``deal.analytics``, else ``summary["structure"]``, else empty."""
        if self.deal is not None:
            return dict(self.deal.analytics)
        return dict(self.summary.get("structure") or {})


def write_reports(out_dir: Path, inputs: ReportInputs) -> list[Path]:
    """Write ``report.xlsx`` and ``report.html`` into ``out_dir`` atomically; return their paths."""
    out_dir = Path(out_dir)
    return [write_xlsx(out_dir / "report.xlsx", inputs), write_html(out_dir / "report.html", inputs)]


# ---------------------------------------------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------------------------------------------

#: Chinese labels of the enum values (English is the canonical code itself).
VALUE_ZH: dict[str, dict[str, str]] = {
    "collateral_type": {
        "residential": "住宅", "commercial": "商业地产", "industrial": "工业厂房", "land": "土地", "equipment": "设备",
        "receivables": "应收账款", "equity_pledge": "股权质押", "guarantee_only": "保证", "unsecured": "信用",
    },
    "asset_type": {
        "corporate": "对公", "sme": "小微企业", "retail_mortgage": "个人住房贷款", "retail_consumer": "个人消费贷款",
        "credit_card": "信用卡", "distressed_bond": "违约债券", "repossessed": "抵债资产",
    },
    "legal_status": {
        "pre_litigation": "未诉", "litigation": "诉讼中", "judgment": "已判决", "enforcement": "执行中",
        "enforcement_terminated": "终结本次执行", "bankruptcy": "破产", "settled": "和解",
    },
}
_PROVINCE_NAMES = {r.code: (r.short_zh, r.name_en) for r in vocab.PROVINCES.itertuples(index=False)}

#: Dimension titles: DIMENSIONS key → (zh, en).
DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    "amc": ("资产管理公司", "AMC"),
    "province": ("省份", "Province"),
    "industry": ("行业", "Industry"),
    "collateral_type": ("担保/抵押物类型", "Collateral type"),
    "asset_type": ("资产类型", "Asset type"),
    "legal_status": ("司法状态", "Legal status"),
    "obligor_group": ("债务人集团", "Obligor group"),
}

#: Waterfall uses of cash: item → (zh, en, colour). Order = priority of payment.
PAY_LABELS: dict[str, tuple[str, str, str]] = {
    "taxes": ("税费", "Taxes", "#7f7f7f"),
    "expenses": ("费用", "Expenses", "#a5a5a5"),
    "servicer_base_fee": ("基本服务费", "Servicer base fee", "#c49c6b"),
    "senior_interest": ("优先级利息", "Senior interest", "#9ecae1"),
    "mezz_interest": ("夹层利息", "Mezzanine interest", "#c6b3e0"),
    "senior_principal": ("优先级本金", "Senior principal", "#2c6fbb"),
    "mezz_principal": ("夹层本金", "Mezzanine principal", "#7b5ea7"),
    "servicer_deferred_fee": ("递延服务费", "Deferred servicer fee", "#e0b97b"),
    "sub_principal": ("次级本金", "Subordinated principal", "#2e8b57"),
    "sub_fixed_return": ("次级固定收益", "Sub fixed return", "#74c476"),
    "servicer_incentive_fee": ("超额奖励服务费", "Servicer incentive fee", "#e6862e"),
    "sub_residual": ("次级剩余收益", "Sub residual", "#b5dfb0"),
}

_TRANCHE_ZH = {"senior": "优先级", "mezzanine": "夹层", "subordinated": "次级", "A": "A级", "B": "B级", "J": "J级"}

#: Column headers: column → (zh, en, kind). Unknown columns get a header and kind inferred from their name.
HEADERS: dict[str, tuple[str, str, str]] = {
    # tranches / retention
    "tranche": ("证券", "Tranche", "text"),
    "size": ("规模(元)", "Size (CNY)", "cny"),
    "share_of_gbv": ("占未偿本息", "Share of GBV", "pct"),
    "share_of_expected_recovery": ("占预期回收", "Share of expected recovery", "pct"),
    "coupon": ("票面利率", "Coupon", "pct2"),
    "wal_years": ("加权平均期限(年)", "WAL (years)", "years"),
    "expected_maturity": ("预期到期日", "Expected maturity", "date"),
    "legal_maturity": ("法定到期日", "Legal maturity", "date"),
    "coverage": ("覆盖倍数", "Coverage", "x"),
    "retained": ("自持金额(元)", "Retained (CNY)", "cny"),
    "retained_by": ("自持方", "Retained by", "text"),
    "rating": ("评级", "Rating", "text"),
    "stress_haircut": ("压力折扣", "Stress haircut", "pct"),
    "stress_delay_months": ("压力延迟(月)", "Stress delay (months)", "months0"),
    "issue_price": ("发行价格", "Issue price", "price"),
    "irr": ("收益率", "Yield / IRR", "pct2"),
    "amc_id": ("资产管理公司", "AMC", "text"),
    "amount": ("金额(元)", "Amount (CNY)", "cny"),
    "share_of_tranche": ("占该档比例", "Share of tranche", "pct2"),
    # cash flows
    "period": ("期数", "Period", "int"),
    "date": ("兑付日", "Payment date", "date"),
    "collections": ("回收款", "Collections", "cny"),
    "reserve_draw": ("储备提取", "Reserve draw", "cny"),
    "reserve_deposit": ("储备补足", "Reserve deposit", "cny"),
    "reserve_balance": ("储备余额", "Reserve balance", "cny"),
    **{f"pay_{k}": (zh, en, "cny") for k, (zh, en, _) in PAY_LABELS.items()},
    # stresses
    "haircut": ("回收折扣", "Haircut", "pct"),
    "delay_months": ("延迟(月)", "Delay (months)", "months0"),
    "stressed_collections": ("压力回收款(元)", "Stressed collections (CNY)", "cny"),
    "max_senior": ("最大优先级规模(元)", "Max senior (CNY)", "cny"),
    "max_senior_share_of_er": ("最大优先级/预期回收", "Max senior / expected recovery", "pct"),
    # limits
    "binding": ("是否约束", "Binding", "bool"),
    "family": ("类别", "Family", "text"),
    "key": ("对象", "Key", "text"),
    "name": ("限额", "Limit", "text"),
    "limit": ("配置项", "Setting", "text"),
    "value": ("限值", "Value", "g"),
    "activity": ("活动值", "Activity", "f6"),
    "slack": ("松弛", "Slack", "f6"),
    "shadow_price": ("影子价格", "Shadow price", "num"),
    "npv_per_step": ("每步放松增加NPV(元)", "NPV per step of relaxation (CNY)", "cny"),
    # stratification
    "code": ("代码", "Code", "text"),
    "label": ("名称", "Name", "text"),
    "n_contributed": ("提供笔数", "Contributed assets", "int"),
    "gbv_contributed": ("提供未偿本息(元)", "Contributed GBV (CNY)", "cny"),
    "share_contributed": ("提供占比", "Share of contributed", "pct"),
    "n_selected": ("入池笔数", "Selected assets", "int"),
    "gbv_selected": ("入池未偿本息(元)", "Selected GBV (CNY)", "cny"),
    "share_selected": ("入池占比", "Share of pool", "pct"),
    "selected_ratio": ("入池率", "Selected / contributed", "pct"),
    "rr_contributed": ("回收率(提供)", "Recovery rate, contributed", "pct"),
    "rr_selected": ("回收率(入池)", "Recovery rate, selected", "pct"),
    "months_contributed": ("加权回收月数(提供)", "WA months, contributed", "months"),
    "months_selected": ("加权回收月数(入池)", "WA months, selected", "months"),
    # concentration / AMC shares
    "dimension": ("维度", "Dimension", "text"),
    "n_values": ("取值数", "Values", "int"),
    "largest": ("最大项", "Largest", "text"),
    "largest_share": ("最大项占比", "Largest share", "pct"),
    "top10_share": ("前十占比", "Top-10 share", "pct"),
    "hhi": ("赫芬达尔指数", "HHI", "num"),
    "effective_number": ("有效数量", "Effective number", "months"),
    "amc_name": ("名称", "Name", "text"),
    "kind": ("类型", "Kind", "text"),
    "min_share": ("最低占比", "Min share", "pct"),
    "max_share": ("最高占比", "Max share", "pct"),
    # allocation
    "contributed_gbv": ("提供未偿本息(元)", "Contributed GBV (CNY)", "cny"),
    "selected_gbv": ("入池未偿本息(元)", "Selected GBV (CNY)", "cny"),
    "standalone_value": ("独立价值(元)", "Standalone value (CNY)", "cny"),
    "shapley_value": ("沙普利值(元)", "Shapley value (CNY)", "cny"),
}

_MONEY_WORDS = ("gbv", "value", "amount", "size", "collections", "balance", "pay_", "reserve", "npv", "recovery",
                "principal", "senior", "retained", "uplift", "alloc", "cost", "fee")
_PCT_WORDS = ("share", "rate", "irr", "gap", "coupon", "haircut", "ratio", "pct")


def _infer(column: str, series: pd.Series | None = None) -> tuple[str, str, str]:
    """Header and kind for a column not in :data:`HEADERS`."""
    if column in HEADERS:
        return HEADERS[column]
    if column.endswith("_balance"):
        name = column[: -len("_balance")]
        return (f"{_TRANCHE_ZH.get(name, name)}余额", f"{name.capitalize()} balance", "cny")
    en = column.replace("_", " ").capitalize()
    low = column.lower()
    if series is not None and not pd.api.types.is_numeric_dtype(series):
        kind = "bool" if pd.api.types.is_bool_dtype(series) else "text"
    elif any(w in low for w in _PCT_WORDS):
        kind = "pct"
    elif "month" in low:
        kind = "months"
    elif "year" in low:
        kind = "years"
    elif any(w in low for w in _MONEY_WORDS):
        kind = "cny"
    elif series is not None and pd.api.types.is_integer_dtype(series):
        kind = "int"
    else:
        kind = "num"
    return ("", en, kind)


@dataclass(frozen=True)
class Col:
    """One report column: source column, bilingual header, value kind."""

    name: str
    zh: str
    en: str
    kind: str


def columns_for(frame: pd.DataFrame, names: Iterable[str] | None = None) -> list[Col]:
    """Report columns for ``names`` (default: every column of ``frame``)."""
    names = list(frame.columns) if names is None else [n for n in names if n in frame.columns]
    return [Col(n, *_infer(n, frame[n])) for n in names]


def value_label(dimension: str, code: Any, scenario: Scenario | None = None) -> str:
    """A readable bilingual label of one value of a dimension: 浙江 Zhejiang, C 制造业, 住宅 residential."""
    code = str(code)
    if dimension == "amc" and scenario is not None:
        names = {a.id: a.label for a in scenario.amcs}
        return names.get(code, code)
    if dimension == "province" and code in _PROVINCE_NAMES:
        zh, en = _PROVINCE_NAMES[code]
        return f"{zh} {en}"
    if dimension == "industry" and code in vocab.INDUSTRY_SECTIONS:
        return f"{code} {vocab.INDUSTRY_SECTIONS[code][0]}"
    if dimension in VALUE_ZH and code in VALUE_ZH[dimension]:
        return f"{VALUE_ZH[dimension][code]} {code}"
    return code


def _short_label(dimension: str, code: str) -> str:
    """Compact chart tick label: 浙江 ZJ, 住宅 residential, C 制造业, the AMC id."""
    if dimension == "province" and code in _PROVINCE_NAMES:
        return f"{_PROVINCE_NAMES[code][0]} {code.removeprefix('CN-')}"
    if dimension == "amc":
        return code
    if dimension == "industry" and code in vocab.INDUSTRY_SECTIONS:
        zh = vocab.INDUSTRY_SECTIONS[code][0].split("、")[0].split("，")[0]
        return f"{code} {zh if len(zh) <= 6 else zh[:5] + '…'}"
    return value_label(dimension, code)


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
    """Contributed vs selected for one dimension (a key of :data:`pooling.tapes.describe.DIMENSIONS`).

    One row per value, largest selected gbv first: counts, gbv, shares, selected/contributed, recovery rates and
    gbv-weighted months to recovery on both sides.
    """
    column = DIMENSIONS[dimension]
    c, s = _stratify(contributed, column), _stratify(pool, column)
    index = c.index.union(s.index)
    c, s = c.reindex(index), s.reindex(index)
    out = pd.DataFrame({
        "code": index.astype(str),
        "label": [value_label(dimension, v, scenario) for v in index],
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


def binding_first(limits: pd.DataFrame, tol: float = 1e-6) -> pd.DataFrame:
    """limits.csv rows with a ``binding`` flag, binding rows first, then by npv per step (largest first).

    A row binds when its slack is within ``tol`` of zero or it carries a non-zero shadow price.
    """
    if limits is None or limits.empty:
        return pd.DataFrame(columns=["binding", *(limits.columns if limits is not None else [])])
    df = limits.copy()
    slack = pd.to_numeric(df.get("slack"), errors="coerce") if "slack" in df else pd.Series(np.nan, df.index)
    price = pd.to_numeric(df.get("shadow_price"), errors="coerce") if "shadow_price" in df else pd.Series(0.0, df.index)
    df.insert(0, "binding", ((slack.abs() <= tol) | (price.abs() > 1e-12)).fillna(False).astype(bool))
    step = pd.to_numeric(df["npv_per_step"], errors="coerce") if "npv_per_step" in df else pd.Series(np.nan, df.index)
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
    conc["largest"] = [value_label(d, v) if d in DIMENSION_LABELS and d != "obligor_group" else v
                       for d, v in zip(conc["dimension"], conc["largest"], strict=True)]
    conc["dimension"] = [" ".join(DIMENSION_LABELS.get(d, ("", d))).strip() for d in conc["dimension"]]
    return conc


def _money_yi(x: float) -> str:
    """CNY as 亿元 (100 million) with two decimals."""
    return f"{x / 1e8:,.2f} 亿元"


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
                    deal_rows.append((f"{_TRANCHE_ZH.get(r.tranche, r.tranche)}规模 {r.tranche.capitalize()} size (CNY)",
                                      r.size, "cny"))
        deal_rows += [
            ("次级收益率 Sub IRR", a.get("sub_irr"), "pct"),
            ("法定到期前回收 Collections to legal maturity (CNY)", a.get("collections_to_legal_maturity"), "cny"),
            ("法定到期后回收 Collections after legal maturity (CNY)", a.get("collections_after_legal_maturity"), "cny"),
        ]
        out.append(("证券化 Deal", deal_rows))
    return out


def _top_limits(inputs: ReportInputs, n: int = 10) -> pd.DataFrame:
    lim = binding_first(inputs.limits)
    if lim.empty:
        return lim
    step = pd.to_numeric(lim["npv_per_step"], errors="coerce").fillna(0.0) if "npv_per_step" in lim else 0.0
    keep = lim["binding"] | (step > 0)
    return lim[keep].head(n)


# ---------------------------------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------------------------------

#: Excel number format per value kind.
XL_FORMATS: dict[str, str] = {
    "cny": "#,##0", "int": "#,##0", "pct": "0.0%", "pct2": "0.00%", "gap": "0.0000%", "x": '0.00"×"',
    "months": "0.0", "months0": "0", "years": "0.00", "price": "0.00", "num": "0.0000", "f6": "0.000000",
    "g": "General", "sec": "0.000", "date": "yyyy-mm-dd", "text": "@", "bool": "@",
}
_XL_WIDTH = {"cny": 17, "int": 10, "pct": 10, "pct2": 10, "gap": 11, "x": 9, "months": 10, "months0": 10,
             "years": 10, "price": 9, "num": 10, "f6": 12, "g": 9, "sec": 9, "date": 12, "text": 12, "bool": 9}

SHEETS = {
    "summary": "概要 Summary",
    "strata": "资产池分层 Stratification",
    "tranches": "证券分层 Tranches",
    "cashflows": "现金流 Cash flows",
    "stresses": "压力测试 Stresses",
    "limits": "限额 Limits",
    "allocation": "分配 Allocation",
}


def _display_width(text: str) -> int:
    """Approximate Excel width of a string: CJK characters count double."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


class _Sheet:
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
            self.fit(col0 + j, max(_XL_WIDTH.get(c.kind, 12), *(_display_width(t) + 2 for t in (c.zh, c.en))))
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
        if kind in ("text", "bool") or isinstance(value, str):
            text = str(value)
            self.ws.write_string(row, col, text, fmt)
            if fit:
                self.fit(col, _display_width(text) + 2)
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
            self.fit(0, _display_width(label) + 2)
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


def _formats(wb: xlsxwriter.Workbook) -> dict:
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


def write_xlsx(path: Path, inputs: ReportInputs) -> Path:
    """Write the workbook atomically to ``path``."""
    return write_atomic(Path(path), lambda tmp: _build_xlsx(tmp, inputs))


def _build_xlsx(path: Path, inputs: ReportInputs) -> None:
    as_of = inputs.scenario.as_of
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": f"资产池证券化报告 Pooling report — {inputs.scenario.name}",
                       "subject": "amc-pooling", "author": "amc-pooling",
                       "created": dt.datetime(as_of.year, as_of.month, as_of.day)})
    fmt = _formats(wb)
    subtitle = f"情景 Scenario: {inputs.scenario.name} · 基准日 As of {as_of.isoformat()}"
    _xl_summary(wb, fmt, inputs, subtitle)
    _xl_strata(wb, fmt, inputs, subtitle)
    if inputs.deal is not None:
        _xl_tranches(wb, fmt, inputs.deal, subtitle)
        _xl_cashflows(wb, fmt, inputs.deal, subtitle)
        _xl_stresses(wb, fmt, inputs.deal, subtitle)
    _xl_limits(wb, fmt, inputs, subtitle)
    if inputs.allocation is not None:
        sh = _Sheet(wb, SHEETS["allocation"], fmt)
        sh.title("成员分配 Allocation by AMC", subtitle)
        sh.table(inputs.allocation, columns_for(inputs.allocation))
        sh.ws.freeze_panes(3, 1)
        sh.finish()
    wb.close()


def _xl_summary(wb, fmt, inputs: ReportInputs, subtitle: str) -> None:
    sh = _Sheet(wb, SHEETS["summary"], fmt)
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
    cols = columns_for(top, ["name", "limit", "value", "slack", "shadow_price", "npv_per_step"])
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
    sh = _Sheet(wb, SHEETS["strata"], fmt)
    sh.title("资产池分层：提供 vs 入池 Pool stratification: contributed vs selected", subtitle)
    cols = [Col(c, *HEADERS[c]) for c in STRATA_COLUMNS]
    cols[0] = Col("code", "取值", "Value", "text")
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
    sh = _Sheet(wb, SHEETS["tranches"], fmt)
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
    sh = _Sheet(wb, SHEETS["cashflows"], fmt)
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
    sh = _Sheet(wb, SHEETS["stresses"], fmt)
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
    sh = _Sheet(wb, SHEETS["limits"], fmt)
    sh.title("限额与影子价格 Limits and shadow prices (约束的在前 binding first)", subtitle)
    lim = binding_first(inputs.limits)
    cols = columns_for(lim)
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

FONT = ('-apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", '
        '"Source Han Sans SC", "Helvetica Neue", Arial, sans-serif')
#: Plotly config: a short mode bar (save as PNG, zoom, reset) so that it does not sit on the legends.
CONFIG = ('{"displaylogo": false, "responsive": true, "modeBarButtonsToRemove": ["select2d", "lasso2d", "pan2d", '
          '"zoomIn2d", "zoomOut2d", "autoScale2d", "toggleSpikelines", "hoverClosestCartesian", '
          '"hoverCompareCartesian"], "toImageButtonOptions": {"scale": 2}}')
C_CONTRIBUTED, C_SELECTED, C_CAP = "#b8c4d6", "#2c5d9e", "#c0392b"
_E = html.escape


def _fmt(value: Any, kind: str) -> str:
    """HTML text of one value (already escaped)."""
    if isinstance(value, bool | np.bool_):
        return "是 Yes" if value else "否 No"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    if kind in ("text", "date", "bool") or isinstance(value, str):
        return _E(str(value))
    x = float(value)
    if not math.isfinite(x):
        return "–"
    text = {
        "cny": f"{x:,.0f}", "int": f"{x:,.0f}", "pct": f"{x:.1%}", "pct2": f"{x:.2%}", "gap": f"{x:.4%}",
        "x": f"{x:.2f}×", "months": f"{x:.1f}", "months0": f"{x:.0f}", "years": f"{x:.2f}", "price": f"{x:.2f}",
        "num": f"{x:.4f}", "f6": f"{x:.6f}", "g": f"{x:g}", "sec": f"{x:.3f}",
    }.get(kind, f"{x:g}")
    if text.startswith("-") and not any(ch in "123456789" for ch in text):
        text = text[1:]  # no "-0.000000" for a slack of -4e-7
    return _E(text)


_NUMERIC = {"cny", "int", "pct", "pct2", "gap", "x", "months", "months0", "years", "price", "num", "f6", "g", "sec"}


def _html_table(frame: pd.DataFrame, cols: list[Col], total: dict | None = None,
                row_class: Callable[[dict], str] | None = None, cls: str = "") -> str:
    head = "".join(
        f'<th class="{"num" if c.kind in _NUMERIC else ""}">'
        + (f"{_E(c.zh)}<br><span class=en>{_E(c.en)}</span>" if c.zh else f"<span class=en>{_E(c.en)}</span>")
        + "</th>" for c in cols)
    def td_class(c: Col) -> str:
        if c.kind in _NUMERIC:
            return "num"
        texts = frame[c.name].astype(str) if c.name in frame and len(frame) else pd.Series([], dtype=str)
        return "long" if len(texts) and texts.str.len().max() > 40 else ""

    klasses = [td_class(c) for c in cols]
    rows = []
    for rec in frame.to_dict(orient="records"):
        klass = row_class(rec) if row_class else ""
        cells = "".join(f'<td class="{k}">{_fmt(rec.get(c.name), c.kind)}</td>'
                        for c, k in zip(cols, klasses, strict=True))
        rows.append(f'<tr class="{klass}">{cells}</tr>' if klass else f"<tr>{cells}</tr>")
    if total is not None:
        cells = "".join(f'<td class="{"num" if c.kind in _NUMERIC else ""}">{_fmt(total.get(c.name), c.kind)}</td>'
                        for c in cols)
        rows.append(f'<tr class="total">{cells}</tr>')
    return (f'<div class="tablewrap"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _figure(fig: go.Figure, div_id: str, height: int = 420) -> str:
    """A plotly figure as a div plus an inline script calling the (already embedded) plotly.js."""
    fig.update_layout(template="plotly_white", height=height, hoverlabel={"font": {"family": FONT}},
                      font={"family": FONT, "size": 12, "color": "#26323f"})
    if fig.layout.margin.t is None:
        fig.update_layout(margin={"l": 70, "r": 30, "t": 56, "b": 60})
    if fig.layout.legend.orientation is None:
        fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0})
    payload = pio.to_json(fig, validate=False, pretty=False, engine="json").replace("</", "<\\/")
    div_id = _E(div_id)
    return (f'<div id="{div_id}" class="chart" style="height:{height}px"></div>\n'
            f'<script>(function(){{var f={payload};Plotly.newPlot("{div_id}",f.data,f.layout,{CONFIG});}})();</script>')


def _composition_fig(table: pd.DataFrame, dimension: str, cap_share: float | None, pool_gbv: float,
                     scenario: Scenario, top: int | None = None) -> go.Figure:
    t = table if top is None else table.head(top)
    ticks = [_E(_short_label(dimension, c)) for c in t["code"]]
    names = [_E(value_label(dimension, c, scenario)) for c in t["code"]]
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
        label = f"{_TRANCHE_ZH.get(name, name)}余额 {name.capitalize()} balance"
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
    for item, (zh, en, colour) in PAY_LABELS.items():
        col = f"pay_{item}"
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
        zh, en, _ = _infer(c, alloc[c])
        label = f"{zh} {en}".strip()
        fig.add_bar(x=[_E(str(a)) for a in alloc["amc_id"]], y=alloc[c] / 1e8, name=label,
                    marker_color=palette[i % len(palette)],
                    hovertemplate="%{x}: %{y:,.2f} 亿元<extra>" + _E(label) + "</extra>")
    fig.update_layout(barmode="group", yaxis_title="亿元 CNY 100 mn")
    return fig


def _card(label_zh: str, label_en: str, value: str, sub: str = "", tone: str = "") -> str:
    return (f'<div class="card {tone}"><div class="k">{_E(label_zh)} <span class=en>{_E(label_en)}</span></div>'
            f'<div class="v">{_E(value)}</div><div class="s">{_E(sub)}</div></div>')


def _cards(inputs: ReportInputs) -> str:
    s = inputs.summary
    pool, contributed = s.get("pool", {}), s.get("contributed", {})
    gbv = float(pool.get("gbv", inputs.pool["gbv"].sum()))
    gbv_c = float(contributed.get("gbv", inputs.contributed["gbv"].sum()))
    er = pool.get("expected_recovery")
    conc = s.get("concentration", {})
    status = str(s.get("status", ""))
    gap = s.get("mip_gap")
    cards = [
        _card("资产池规模", "Pool GBV", _money_yi(gbv),
              f"{int(pool.get('n_assets', len(inputs.pool))):,} 笔 assets · "
              f"{int(pool.get('n_obligor_groups') or 0):,} 集团 groups"),
        _card("入池率", "Selected of contributed", f"{gbv / gbv_c:.1%}" if gbv_c else "–",
              f"提供 contributed {_money_yi(gbv_c)} · {int(contributed.get('n_assets', len(inputs.contributed))):,} 笔"),
        _card("预期回收", "Expected recovery", _money_yi(float(er)) if _finite(er) else "–",
              f"回收率 recovery rate {_fmt(pool.get('recovery_rate'), 'pct')} · "
              f"{_fmt(pool.get('wa_months_to_recovery'), 'months')} 月 WA months"),
        _card("净现值", "NPV", _money_yi(float(pool["npv"])) if _finite(pool.get("npv")) else "–",
              f"目标 objective {s.get('objective', '')}"),
        _card("集中度", "Concentration", f"{_fmt(conc.get('largest_group_share'), 'pct2')}",
              f"最大集团 largest group · 前十 top-10 {_fmt(conc.get('top10_group_share'), 'pct')} · "
              f"省份有效数 eff. provinces {_fmt(conc.get('effective_number', {}).get('province'), 'months')}"),
        _card("求解", "Solve", status or "–",
              f"间隙 gap {_fmt(gap, 'gap')} · {s.get('strategy', '')}",
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
                          f"延迟 delay {int(row['delay_months'].iloc[0])} 月")
        senior = a.get("senior_size")
        cards += [
            _card("优先级规模", "Senior size", _money_yi(float(senior)) if _finite(senior) else "–",
                  f"占预期回收 {_fmt(a.get('senior_share_of_expected_recovery'), 'pct')} of ER · "
                  f"占GBV {_fmt(a.get('senior_share_of_gbv'), 'pct')} of GBV", "accent"),
            _card("优先级覆盖倍数", "Senior coverage", _fmt(a.get("senior_coverage"), "x"),
                  stress or "预期回收 / 优先级 expected recovery / senior"),
            _card("盈亏平衡", "Break-even",
                  f"{_fmt(a.get('senior_break_even_haircut'), 'pct')} · "
                  f"{_fmt(a.get('senior_break_even_delay_months'), 'months0')} 月",
                  "回收折扣 haircut · 延迟 delay (months), 已发行优先级 issued senior"),
            _card("次级收益率", "Sub IRR", _fmt(a.get("sub_irr"), "pct"),
                  f"优先级WAL senior WAL {_fmt(a.get('senior_wal_years'), 'years')} 年 years"),
        ]
    return f'<div class="cards">{"".join(cards)}</div>'


CSS = """
:root { --ink:#1f2a37; --muted:#5f6b7a; --line:#e3e8ef; --bg:#f5f7fa; --accent:#2c5d9e; --card:#ffffff; }
* { box-sizing: border-box; }
body { margin:0; font-family: FONT; color:var(--ink); background:var(--bg); font-size:14px; line-height:1.5; }
header { background:linear-gradient(90deg,#1f3864,#2c5d9e); color:#fff; padding:22px 36px 14px; }
header h1 { margin:0 0 4px; font-size:24px; font-weight:600; }
header .meta { color:#dbe5f3; font-size:13px; }
nav { margin-top:12px; display:flex; flex-wrap:wrap; gap:6px 16px; font-size:13px; }
nav a { color:#fff; text-decoration:none; opacity:.85; border-bottom:1px solid transparent; }
nav a:hover { opacity:1; border-bottom-color:#fff; }
main { max-width:1320px; margin:0 auto; padding:8px 28px 40px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 22px 20px;
          margin:18px 0; box-shadow:0 1px 2px rgba(16,24,40,.04); }
h2 { font-size:19px; margin:0 0 4px; font-weight:600; }
h3 { font-size:15px; margin:18px 0 6px; font-weight:600; }
.en { color:var(--muted); font-weight:400; }
p.lead { color:var(--muted); margin:2px 0 12px; max-width:980px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(230px,1fr)); gap:12px; margin-top:10px; }
.card { border:1px solid var(--line); border-radius:8px; padding:12px 14px; background:#fbfcfe; }
.card .k { font-size:12.5px; color:var(--ink); font-weight:600; }
.card .v { font-size:24px; font-weight:600; margin:4px 0 2px; font-variant-numeric:tabular-nums; color:#1f3864; }
.card .s { font-size:12px; color:var(--muted); }
.card.accent { border-left:4px solid var(--accent); }
.card.good .v { color:#1e7b45; } .card.warn .v { color:#b35c00; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
@media (max-width:1000px) { .grid2 { grid-template-columns:1fr; } }
.chart { width:100%; }
.tablewrap { overflow-x:auto; max-height:560px; overflow-y:auto; border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; width:100%; font-size:12.5px; font-variant-numeric:tabular-nums; }
th { position:sticky; top:0; background:#1f3864; color:#fff; font-weight:600; text-align:left; padding:6px 8px;
     vertical-align:bottom; white-space:nowrap; z-index:1; }
th .en { color:#c9d6ea; font-size:11.5px; }
td { padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
td.long { white-space:normal; min-width:260px; max-width:520px; }
td.num, th.num { text-align:right; }
tbody tr:nth-child(even) td { background:#f8fafc; }
tbody tr:hover td { background:#eef3fa; }
tr.binding td { background:#fff4e5 !important; }
tr.binding td:first-child { border-left:3px solid #e67e22; }
tr.total td { font-weight:600; border-top:2px solid #8ea9db; background:#f1f5fb !important; }
details { margin:8px 0; } summary { cursor:pointer; font-weight:600; padding:4px 0; }
.note { color:var(--muted); font-size:12.5px; }
footer { max-width:1320px; margin:0 auto; padding:0 28px 30px; color:var(--muted); font-size:12px; word-break:break-all; }
@media print { header { background:#1f3864; -webkit-print-color-adjust:exact; } section { break-inside:avoid; }
               .tablewrap { max-height:none; } }
""".replace("FONT", FONT)


def write_html(path: Path, inputs: ReportInputs) -> Path:
    """Write the single-file HTML report atomically to ``path``."""
    text = render_html(inputs)
    return write_atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def render_html(inputs: ReportInputs) -> str:
    """The whole HTML report as one string (plotly.js included)."""
    sc, s, deal = inputs.scenario, inputs.summary, inputs.deal
    pool_gbv = float(s.get("pool", {}).get("gbv", inputs.pool["gbv"].sum()))
    limits = sc.pool.limits
    sections: list[tuple[str, str, str]] = []  # (id, nav label, html)

    sections.append(("headline", "核心指标 Headline", (
        '<h2>核心指标 <span class=en>Headline numbers</span></h2>' + _cards(inputs))))

    # pool composition -----------------------------------------------------------------------------------------
    strata = {d: compare_strata(inputs.contributed, inputs.pool, d, sc) for d in DIMENSIONS}
    comp = [
        '<h2>资产池构成 <span class=en>Pool composition</span></h2>',
        '<p class=lead>各维度提供资产与入池资产的未偿本息(亿元)；柱上百分比为入池占比，虚线为情景限额。'
        '<span class=en> Gross book value (GBV) contributed vs selected, in 亿元 (CNY 100 mn); labels on the bars '
        'are shares of the pool, dashed lines the scenario\'s caps.</span></p>',
        '<div class="grid2"><div><h3>按资产管理公司 <span class=en>By AMC</span></h3>',
        _figure(_composition_fig(strata["amc"], "amc", None, pool_gbv, sc), "fig-amc", 380),
        '</div><div><h3>按担保/抵押物类型 <span class=en>By collateral type</span></h3>',
        _figure(_composition_fig(strata["collateral_type"], "collateral_type", limits.max_collateral_share,
                                 pool_gbv, sc), "fig-collateral", 380),
        '</div></div><h3>按省份 <span class=en>By province</span></h3>',
        _figure(_composition_fig(strata["province"], "province", limits.max_province_share, pool_gbv, sc),
                "fig-province", 400),
        '<h3>按行业 <span class=en>By industry (GB/T 4754 门类 sections)</span></h3>',
        _figure(_composition_fig(strata["industry"], "industry", limits.max_industry_share, pool_gbv, sc),
                "fig-industry", 400),
        '<div class="grid2"><div><h3>按资产类型 <span class=en>By asset type</span></h3>',
        _figure(_composition_fig(strata["asset_type"], "asset_type", limits.max_asset_type_share, pool_gbv, sc),
                "fig-asset-type", 380),
        '</div><div><h3>按司法状态 <span class=en>By legal status</span></h3>',
        _figure(_composition_fig(strata["legal_status"], "legal_status", limits.max_legal_status_share,
                                 pool_gbv, sc), "fig-legal", 380),
        '</div></div>',
        '<h3>分层明细 <span class=en>Stratification tables</span></h3>',
    ]
    strata_cols = [Col(c, *HEADERS[c]) for c in STRATA_COLUMNS]
    for d, table in strata.items():
        zh, en = DIMENSION_LABELS[d]
        comp.append(f"<details><summary>{_E(zh)} <span class=en>{_E(en)}</span> "
                    f"<span class=note>({len(table)} 项 values)</span></summary>"
                    + _html_table(table, strata_cols, total=_strata_total(table)) + "</details>")
    conc = _concentration_table(inputs.pool)
    comp.append('<h3>集中度 <span class=en>Concentration of the pool</span></h3>'
                + _html_table(conc, columns_for(conc)))
    sections.append(("composition", "资产池构成 Pool composition", "".join(comp)))

    # deal -------------------------------------------------------------------------------------------------------
    if deal is not None:
        st = sc.structure
        freq = {"monthly": "按月 monthly", "quarterly": "按季 quarterly", "semiannual": "半年 semiannual"}
        sections.append(("cashflows", "回收与摊还 Collections vs amortisation", "".join([
            '<h2>回收与证券摊还 <span class=en>Collections vs tranche amortisation</span></h2>',
            f'<p class=lead>基准情景下每期回收款(柱)与各档证券期末余额(线)；{_E(freq[st.payment_frequency])}兑付，'
            f'法定期限 {st.legal_maturity_years:g} 年。<span class=en> Base-case collections per payment period '
            '(bars) against each tranche\'s outstanding balance after the payment date (lines). The senior is a '
            'pass-through: its balance falls by what the period\'s collections leave after taxes, fees and senior '
            'interest; the subordinated class starts to amortise once the senior is repaid.</span></p>',
            _figure(_cash_fig(deal, sc.as_of), "fig-cash", 440),
            '<h3>现金流分配 <span class=en>Waterfall: uses of cash by period</span></h3>',
            '<p class=lead>每期可分配资金按支付顺序的去向(堆叠柱)，横线为当期可分配资金(回收款+储备提取)。'
            '<span class=en> Where each period\'s cash goes, stacked in order of priority; the tick is the cash '
            'available (collections + reserve draw), which the stack always equals.</span></p>',
            _figure(_uses_fig(deal), "fig-uses", 520),
        ])))
        a = deal.analytics
        tr = deal.tranches
        sections.append(("stresses", "压力测试 Stresses", "".join([
            '<h2>压力测试 <span class=en>Stress grid</span></h2>',
            '<p class=lead>每格：在该回收折扣与延迟下，仍能按时付息并在法定到期日前还本的最大优先级规模，占基准预期回收的比例。'
            f'颜色以已发行优先级 ({_fmt(a.get("senior_share_of_expected_recovery"), "pct")}) 为中点：'
            '绿色格仍可足额偿付，红色格不足。◇ 为评级压力，× 为已发行优先级的盈亏平衡点。'
            '<span class=en> Each cell: the largest senior that still pays interest every period and its principal '
            'by legal maturity when every collection is cut by the haircut (row) and pushed back by the delay '
            '(column), as a share of base-case expected recovery. Colours centre on the issued senior: green cells '
            'it survives, red cells it does not. Diamonds mark the rating stresses, crosses the issued senior\'s '
            'break-even haircut (no delay) and delay (no haircut).</span></p>',
            _figure(_stress_fig(deal), "fig-stress", 620),
            '<h3>评级压力 <span class=en>Rating stresses</span></h3>',
            _html_table(deal.stresses, columns_for(deal.stresses),
                        row_class=lambda r: "binding" if r.get("rating") == st.senior_rating else ""),
        ])))
        tcols = columns_for(tr)
        sections.append(("tranches", "证券分层 Tranches", "".join([
            '<h2>证券分层 <span class=en>Tranches</span></h2>',
            '<p class=lead>覆盖倍数 = 基准预期回收 / 优先级规模。<span class=en> Coverage = base-case expected '
            'recovery / tranche size (senior and mezzanine). Sizes in CNY (元).</span></p>',
            _html_table(tr, tcols),
            '<h3>风险自留 <span class=en>Risk retention</span></h3>',
            (_html_table(deal.retention, columns_for(deal.retention)) if len(deal.retention)
             else '<p class=note>无 None</p>'),
            '<h3>基准情景现金流 <span class=en>Base-case cash flows (CNY)</span></h3>',
            '<details><summary>展开 <span class=en>Show table</span></summary>'
            + _html_table(deal.cashflows, columns_for(deal.cashflows)) + '</details>',
        ])))
    elif inputs.analytics:
        sections.append(("tranches", "证券分层 Tranches", (
            '<h2>证券分层 <span class=en>Tranches</span></h2><p class=note>仅有摘要指标(见核心指标)。'
            '<span class=en> Only the deal headline is available (see Headline numbers).</span></p>')))
    else:
        sections.append(("tranches", "证券分层 Tranches", (
            '<h2>证券分层 <span class=en>Tranches</span></h2><p class=note>未进行证券分层。'
            '<span class=en> No deal was sized for this run.</span></p>')))

    # limits -----------------------------------------------------------------------------------------------------
    lim = binding_first(inputs.limits)
    lcols = columns_for(lim, [c for c in ["binding", "name", "limit", "value", "slack", "shadow_price",
                                           "npv_per_step", "family", "key"] if c in lim])
    sections.append(("limits", "限额 Limits", "".join([
        '<h2>限额 <span class=en>Limits</span></h2>',
        '<p class=lead>约束的限额在前(高亮)，按每步放松可增加的净现值排序。<span class=en> Binding limits first '
        '(highlighted), then by NPV gained per step of relaxation (from the LP shadow price).</span></p>',
        _html_table(lim, lcols, row_class=lambda r: "binding" if r.get("binding") else "") if len(lim)
        else '<p class=note>无 None</p>',
    ])))

    if inputs.allocation is not None:
        alloc = inputs.allocation
        fig = _allocation_fig(alloc)
        sections.append(("allocation", "分配 Allocation", "".join([
            '<h2>成员分配 <span class=en>Allocation by AMC</span></h2>',
            _figure(fig, "fig-allocation", 400) if fig is not None else "",
            _html_table(alloc, columns_for(alloc)),
        ])))

    nav = "".join(f'<a href="#{sid}">{_E(label)}</a>' for sid, label, _ in sections)
    body = "\n".join(f'<section id="{sid}">{content}</section>' for sid, _, content in sections)
    title = f"资产池证券化报告 Pooling report — {sc.name}"
    amcs = ", ".join(a.label for a in sc.amcs)
    meta = (f"情景 Scenario <b>{_E(sc.name)}</b> · 基准日 As of <b>{_E(sc.as_of.isoformat())}</b> · "
            f"求解状态 Status <b>{_E(str(s.get('status', '')))}</b> · 成员 AMCs: {_E(amcs)}")
    footer = (f"由 amc-pooling 生成 Generated by amc-pooling · 输入哈希 inputs_sha256 "
              f"{_E(str(s.get('inputs_sha256', '')))} · 金额单位：元，图表为亿元 Amounts in CNY; charts in 亿元 "
              "(CNY 100 mn)")
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_E(title)}</title>\n<style>{CSS}</style>\n"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>\n</head>\n<body>\n'
        f"<header><h1>资产池证券化报告 <span style=\"font-weight:400\">Consortium pooling report</span></h1>"
        f'<div class="meta">{meta}</div><nav>{nav}</nav></header>\n<main>\n{body}\n</main>\n'
        f"<footer>{footer}</footer>\n</body>\n</html>\n"
    )
