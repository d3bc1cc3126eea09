"""Reports: report.xlsx (sheets, formats, numbers) and the single-file offline report.html (DESIGN §8)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import plotly.offline
import pytest

from pooling.pipeline import prepare
from pooling.report.deal import (
    SHEETS,
    ReportInputs,
    binding_first,
    compare_strata,
    render_html,
    stress_pivot,
    write_reports,
)
from pooling.scenario import Mezzanine, load_scenario
from pooling.selection.model import select_pool
from pooling.selection.results import limits_frame, pool_frame, summary
from pooling.tranching.deal import size_deal

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "scenario.yaml"


@pytest.fixture(scope="module")
def inputs() -> ReportInputs:
    scenario = load_scenario(DEMO)
    prepared = prepare(scenario)
    selection = select_pool(prepared.assets, scenario, strategy="lp_round")
    pool = pool_frame(prepared.assets, selection)
    deal = size_deal(prepared.assets.loc[selection.selected], scenario)
    data = summary(pool, selection, scenario, prepared.inputs_sha256, prepared.assets)
    data["structure"] = deal.analytics
    return ReportInputs(scenario, prepared.assets, pool, data, limits_frame(selection), deal)


@pytest.fixture(scope="module")
def written(inputs, tmp_path_factory) -> dict[str, Path]:
    paths = write_reports(tmp_path_factory.mktemp("report"), inputs)
    return {p.name: p for p in paths}


def _workbook(path: Path) -> openpyxl.Workbook:
    """Load fully from bytes so that no file handle outlives the test (warnings are errors)."""
    return openpyxl.load_workbook(io.BytesIO(path.read_bytes()))


def _costliest_limit(inputs: ReportInputs) -> str:
    """The name of the limit whose relaxation would gain most npv, read from limits.csv's rows (whichever limit
    binds on the demo today)."""
    steps = pd.to_numeric(inputs.limits["npv_per_step"], errors="coerce")
    assert steps.max() > 0, "no limit costs npv on the demo; these report tests need one that does"
    return str(inputs.limits.loc[steps.idxmax(), "name"])


def _find(ws, text: str) -> tuple[int, int]:
    """(row, column) of the first cell whose string value contains ``text``."""
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and text in cell.value:
                return cell.row, cell.column
    raise AssertionError(f"{text!r} not found on sheet {ws.title}")


# ---------------------------------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------------------------------


def test_write_reports_returns_both_files(written):
    assert set(written) == {"report.xlsx", "report.html"}
    assert all(p.stat().st_size > 0 for p in written.values())
    assert not list(written["report.xlsx"].parent.glob("*.tmp"))  # atomic: no temporary file left behind


def test_xlsx_sheets(written):
    wb = _workbook(written["report.xlsx"])
    assert wb.sheetnames == [SHEETS[k] for k in ("summary", "strata", "tranches", "cashflows", "stresses", "limits")]
    for name in SHEETS.values():
        assert len(name) <= 31 and not set(name) & set("[]:*?/\\")


def test_xlsx_tranches_match_deal(inputs, written):
    ws = _workbook(written["report.xlsx"])[SHEETS["tranches"]]
    header_row, size_col = _find(ws, "Size (CNY)")
    rows = {ws.cell(r, 1).value: r for r in range(header_row + 1, header_row + 1 + len(inputs.deal.tranches))}
    for t in inputs.deal.tranches.itertuples(index=False):
        cell = ws.cell(rows[t.tranche], size_col)
        assert cell.value == pytest.approx(t.size)
        assert cell.number_format == "#,##0"
    _, share_col = _find(ws, "Share of expected recovery")
    senior = ws.cell(rows["senior"], share_col)
    assert senior.value == pytest.approx(inputs.deal.tranches.loc[0, "share_of_expected_recovery"])
    assert senior.number_format == "0.0%"
    assert ws.freeze_panes is not None


def test_xlsx_summary_and_strata(inputs, written):
    wb = _workbook(written["report.xlsx"])
    ws = wb[SHEETS["summary"]]
    r, c = _find(ws, "Pool GBV (CNY)")
    assert ws.cell(r, c + 1).value == pytest.approx(inputs.summary["pool"]["gbv"])
    r, c = _find(ws, "Senior size (CNY)")
    assert ws.cell(r, c + 1).value == pytest.approx(inputs.deal.analytics["senior_size"])
    _find(ws, "各资产管理公司份额 AMC shares")
    _find(ws, _costliest_limit(inputs))  # the limit that costs most npv is listed with its price
    ws = wb[SHEETS["strata"]]
    assert ws.freeze_panes == "C4"
    for title in ("省份 Province", "行业 Industry", "资产管理公司 AMC", "司法状态 Legal status"):
        _find(ws, title)
    # the AMC block's total row carries the pool gbv in the selected-gbv column
    r, _ = _find(ws, "资产管理公司 AMC")
    _, col = _find(ws, "Selected GBV (CNY)")
    while ws.cell(r, 1).value != "合计 Total":
        r += 1
    assert ws.cell(r, col).value == pytest.approx(inputs.pool["gbv"].sum())


def test_xlsx_cashflows_and_stresses(inputs, written):
    wb = _workbook(written["report.xlsx"])
    ws = wb[SHEETS["cashflows"]]
    _, col = _find(ws, "Collections")
    r, _ = _find(ws, "合计 Total")
    assert ws.cell(r, col).value == pytest.approx(inputs.deal.cashflows["collections"].sum())
    ws = wb[SHEETS["stresses"]]
    r, c = _find(ws, "Haircut ↓")
    delays = [ws.cell(r, c + 1 + j).value for j in range(len(inputs.deal.grid["delay_months"].unique()))]
    assert delays == sorted(inputs.deal.grid["delay_months"].unique().tolist())
    grid = inputs.deal.grid
    mildest = grid[(grid["haircut"] == grid["haircut"].min()) & (grid["delay_months"] == grid["delay_months"].min())]
    assert ws.cell(r + 1, c + 1).value == pytest.approx(mildest["max_senior"].item())  # top-left: least stress


# ---------------------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------------------


def test_html_is_offline_and_embeds_plotly_once(written):
    text = written["report.html"].read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?://", text, flags=re.IGNORECASE)
    assert "cdn.plot.ly/plotly" not in text.replace(plotly.offline.get_plotlyjs(), "")
    assert text.count(plotly.offline.get_plotlyjs()) == 1
    ids = re.findall(r'<div id="(fig-[\w-]+)" class="chart"', text)
    assert len(ids) == len(set(ids)) >= 8
    assert text.count("Plotly.newPlot(") - plotly.offline.get_plotlyjs().count("Plotly.newPlot(") == len(ids)


def test_html_bilingual_sections(written):
    text = written["report.html"].read_text(encoding="utf-8")
    for label in ("资产池构成", "Pool composition", "核心指标", "压力测试", "Stress grid", "证券分层", "Tranches",
                  "限额", "现金流分配", "回收与证券摊还", "优先级规模", "亿元"):
        assert label in text, label
    assert 'id="fig-stress"' in text and 'id="fig-cash"' in text and 'id="fig-uses"' in text
    assert "2026-06-30" in text


def test_html_limits_binding_first(inputs, written):
    from markupsafe import escape

    text = written["report.html"].read_text(encoding="utf-8")
    section = text[text.index('<section id="limits">'):]
    body = section[section.index("<tbody>"):]
    first_row = body[:body.index("</tr>")]
    assert 'class="binding"' in first_row and str(escape(_costliest_limit(inputs))) in first_row


def test_reports_are_deterministic(inputs, written, tmp_path):
    again = {p.name: p for p in write_reports(tmp_path, inputs)}
    assert again["report.html"].read_bytes() == written["report.html"].read_bytes()
    assert again["report.xlsx"].read_bytes() == written["report.xlsx"].read_bytes()


def test_user_text_is_escaped(inputs):
    sc = inputs.scenario
    evil = "</script><img src=x onerror=alert(1)>"
    amcs = [a.model_copy(update={"name": f"{a.id} {evil}"}) for a in sc.amcs]
    changed = ReportInputs(sc.model_copy(update={"name": f"demo {evil}", "amcs": amcs}), inputs.contributed,
                           inputs.pool, inputs.summary, inputs.limits, inputs.deal)
    text = render_html(changed)
    assert evil not in text
    assert "&lt;/script&gt;&lt;img" in text


# ---------------------------------------------------------------------------------------------------------------
# without a deal, with an allocation
# ---------------------------------------------------------------------------------------------------------------


def test_without_deal(inputs, tmp_path):
    plain = ReportInputs(inputs.scenario, inputs.contributed, inputs.pool,
                         {k: v for k, v in inputs.summary.items() if k != "structure"}, inputs.limits)
    paths = {p.name: p for p in write_reports(tmp_path, plain)}
    wb = _workbook(paths["report.xlsx"])
    assert wb.sheetnames == [SHEETS["summary"], SHEETS["strata"], SHEETS["limits"]]
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "No deal was sized" in text
    assert 'id="fig-cash"' not in text and 'id="fig-stress"' not in text
    assert 'id="fig-province"' in text


def test_allocation_sheet_and_section(inputs, tmp_path):
    amcs = [a.id for a in inputs.scenario.amcs]
    alloc = pd.DataFrame({
        "amc_id": amcs,
        "contributed_gbv": np.linspace(1e9, 4e9, len(amcs)),
        "selected_gbv": np.linspace(5e8, 2e9, len(amcs)),
        "standalone_value": np.linspace(1e8, 4e8, len(amcs)),
        "shapley_value": np.linspace(1.2e8, 4.4e8, len(amcs)),
    })
    with_alloc = ReportInputs(inputs.scenario, inputs.contributed, inputs.pool, inputs.summary, inputs.limits,
                              inputs.deal, alloc)
    paths = {p.name: p for p in write_reports(tmp_path, with_alloc)}
    ws = _workbook(paths["report.xlsx"])[SHEETS["allocation"]]
    r, c = _find(ws, "Shapley value")
    assert ws.cell(r + 1, c).value == pytest.approx(alloc.loc[0, "shapley_value"])
    assert ws.cell(r + 1, c).number_format == "#,##0"
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "Allocation by AMC" in text and 'id="fig-allocation"' in text


def test_europe_convention_with_mezzanine(inputs):
    sc = inputs.scenario
    structure = sc.structure.model_copy(update={"convention": "europe", "mezzanine": Mezzanine(),
                                                "payment_frequency": "quarterly"})
    scenario = sc.model_copy(update={"structure": structure})
    keys = pd.MultiIndex.from_frame(inputs.pool[["amc_id", "asset_id"]])
    valued = inputs.contributed[pd.MultiIndex.from_frame(inputs.contributed[["amc_id", "asset_id"]]).isin(keys)]
    deal = size_deal(valued, scenario)
    text = render_html(ReportInputs(scenario, inputs.contributed, inputs.pool, inputs.summary, inputs.limits, deal))
    assert "A balance" in text and "J balance" in text and "fig-cash" in text


# ---------------------------------------------------------------------------------------------------------------
# table helpers
# ---------------------------------------------------------------------------------------------------------------


def test_compare_strata_totals(inputs):
    for dim in ("amc", "province", "collateral_type"):
        t = compare_strata(inputs.contributed, inputs.pool, dim, inputs.scenario)
        assert t["gbv_selected"].sum() == pytest.approx(inputs.pool["gbv"].sum())
        assert t["gbv_contributed"].sum() == pytest.approx(inputs.contributed["gbv"].sum())
        assert (t["gbv_selected"] <= t["gbv_contributed"] + 1e-6).all()
        assert t["gbv_selected"].is_monotonic_decreasing
    zj = compare_strata(inputs.contributed, inputs.pool, "province").set_index("code").loc["CN-ZJ", "label"]
    assert zj == "浙江 Zhejiang"


def test_binding_first_orders_rows():
    limits = pd.DataFrame({
        "family": ["a", "b", "c"], "key": ["", "", ""], "name": ["loose", "tight", "priced"],
        "limit": ["x", "y", "z"], "value": [0.1, 0.2, 0.3], "activity": [0.0, 0.0, 0.0],
        "slack": [0.5, 0.0, 0.01], "shadow_price": [0.0, 0.0, 0.2], "npv_per_step": [0.0, 0.0, 5.0],
    })
    out = binding_first(limits)
    assert out["name"].tolist() == ["priced", "tight", "loose"]
    assert out["binding"].tolist() == [True, True, False]


def test_stress_pivot_holds_every_grid_point(inputs):
    """Each cell is its grid row's largest senior, found by (haircut, delay) — not by position — and more stress
    never allows a larger senior."""
    grid = inputs.deal.grid
    piv = stress_pivot(grid)
    assert piv.size == len(grid)
    for row in grid.sample(frac=1.0, random_state=0).itertuples(index=False):  # any order of the rows
        assert piv.loc[row.haircut, row.delay_months] == row.max_senior
    values = piv.to_numpy()
    assert (np.diff(values, axis=0) <= 0).all() and (np.diff(values, axis=1) <= 0).all()
