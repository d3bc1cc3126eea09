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

from pooling import vocab
from pooling.pipeline import prepare
from pooling.report.deal import (
    SHEETS,
    ReportInputs,
    binding_first,
    compare_strata,
    render_html,
    stress_pivot,
    write_reports,
    write_xlsx,
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


def test_packages_sheet_and_section(inputs, tmp_path):
    """packages.csv: every package in the workbook; in the HTML a chart and each AMC's re-solved and largest."""
    from pooling.consortium.packages import PACKAGE_COLUMNS

    amcs = [a.id for a in inputs.scenario.amcs]
    n = 14  # per AMC: more than the report shows
    rows = []
    for amc in amcs:
        for i in range(n):
            resolved = i < 2
            rows.append({"amc_id": amc, "package": f"CN-ZJ/p{i}", "n_assets": 10 + i, "gbv": 1e8 * (i + 1),
                         "npv": 4e7 * (i + 1), "pool_gbv": 5e7 * (i + 1) if i < 12 else 0.0,
                         "in_pool_share": 0.5 if i < 12 else 0.0, "whatif": "withdraw" if i < 12 else "add",
                         "reduced_cost": 1e6 * (n - i), "dual_value": 1e5 * (n - i) * (1 if i < 12 else -1),
                         "resolve_value": 2e5 * (n - i) if resolved else np.nan,
                         "resolve_status": "optimal" if resolved else "", "resolve_in_pool_share": 0.0 if resolved
                         else np.nan, "method": "resolve" if resolved else "dual"})
    packages = pd.DataFrame(rows, columns=list(PACKAGE_COLUMNS))
    alloc = pd.DataFrame({"amc_id": amcs, "shapley_value": np.linspace(1e8, 2e8, len(amcs))})
    with_packages = ReportInputs(inputs.scenario, inputs.contributed, inputs.pool, inputs.summary, inputs.limits,
                                 inputs.deal, alloc, packages=packages)
    paths = {p.name: p for p in write_reports(tmp_path, with_packages)}
    ws = _workbook(paths["report.xlsx"])[SHEETS["packages"]]
    r, c = _find(ws, "Dual estimate of value")
    assert ws.cell(r + 1, c).value == pytest.approx(packages.loc[0, "dual_value"])
    assert sum(1 for row in ws.iter_rows(min_row=r + 1) if row[0].value) == len(packages)
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "Marginal value of packages" in text and 'id="fig-packages"' in text
    assert f"Showing {10 * len(amcs)} of {len(packages)} packages" in text
    from pooling.report.deal import package_highlights

    top = package_highlights(packages)
    assert (top.groupby("amc_id").size() == 10).all()
    assert (top["method"] == "resolve").sum() == 2 * len(amcs)  # every re-solved package is shown
    resolved = top["method"] == "resolve"
    assert (top.loc[resolved, "value"] == top.loc[resolved, "resolve_value"]).all()
    assert (top.loc[~resolved, "value"] == top.loc[~resolved, "dual_value"]).all()


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


# ---------------------------------------------------------------------------------------------------------------
# what every page and sheet owes its reader: escaping, bilingual headers, numbers as numbers, one vocabulary
# ---------------------------------------------------------------------------------------------------------------

EVIL_SCRIPT = "<script>alert(1)</script>"
EVIL_FORMULA = '=HYPERLINK("http://x","y")'
CJK = re.compile(r"[\u4e00-\u9fff]")


def _escaped_once(text: str, raw: str) -> None:
    """``raw`` appears escaped exactly once (as autoescape writes it) and never raw or escaped twice."""
    assert raw not in text
    once = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert once.replace('"', "&#34;") in text or once.replace('"', "&quot;") in text, once
    assert not re.search(r"&amp;(lt|gt|quot|#34|amp);", text)


def _evil_inputs(inputs: ReportInputs) -> ReportInputs:
    """The demo with a hostile AMC name and scenario name, and the largest obligor group's id made hostile too."""
    sc = inputs.scenario
    amcs = [a.model_copy(update={"name": f"{EVIL_SCRIPT} {EVIL_FORMULA}" if i == 0 else a.name})
            for i, a in enumerate(sc.amcs)]
    top = inputs.pool.groupby("group_id")["gbv"].sum().idxmax()

    def hostile(frame: pd.DataFrame) -> pd.DataFrame:
        ids = frame["group_id"].astype(str)
        return frame.assign(group_id=ids.where(ids != top, EVIL_SCRIPT))

    return ReportInputs(sc.model_copy(update={"name": EVIL_FORMULA, "amcs": amcs}), hostile(inputs.contributed),
                        hostile(inputs.pool), inputs.summary, inputs.limits, inputs.deal)


def test_report_html_escapes_input_text_once(inputs):
    evil = _evil_inputs(inputs)
    text = render_html(evil)
    _escaped_once(text, EVIL_SCRIPT)
    _escaped_once(text, EVIL_FORMULA)
    # the concentration table names the hostile obligor group as the largest
    section = text[text.index("Concentration of the pool"):]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section[:section.index("</table>")]
    # inside the figures' JSON nothing can close the script: no raw "<" at all
    for payload in re.findall(r"var f=(\{.*?\});Plotly\.newPlot", text):
        assert "<" not in payload and ">" not in payload


def test_report_xlsx_keeps_hostile_text_as_text(inputs, tmp_path):
    path = write_xlsx(tmp_path / "report.xlsx", _evil_inputs(inputs))
    wb = _workbook(path)
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)  # never a formula
                if isinstance(cell.value, str) and (EVIL_FORMULA in cell.value or EVIL_SCRIPT in cell.value):
                    seen.add(ws.title)
    assert SHEETS["summary"] in seen and SHEETS["strata"] in seen


def _csv_limits(inputs: ReportInputs, tmp_path: Path) -> pd.DataFrame:
    """limits.csv read back as the CLI reads it (keep_default_na=False: empty cells are '')."""
    inputs.limits.to_csv(tmp_path / "limits.csv", index=False, encoding="utf-8-sig")
    return pd.read_csv(tmp_path / "limits.csv", encoding="utf-8-sig", keep_default_na=False)


def _allocation(inputs: ReportInputs) -> pd.DataFrame:
    amcs = inputs.scenario.amcs
    n = len(amcs)
    return pd.DataFrame({
        "amc_id": [a.id for a in amcs], "name": [a.label for a in amcs], "kind": [a.kind for a in amcs],
        "contributed_gbv": np.linspace(1e9, 4e9, n), "contributed_npv": np.linspace(2e8, 8e8, n),
        "selected_gbv": np.linspace(5e8, 2e9, n), "selected_npv": np.linspace(1e8, 4e8, n),
        "standalone_value": np.linspace(1e8, 4e8, n), "standalone_status": ["optimal"] * n,
        "alloc_gbv": np.linspace(1e8, 4e8, n), "alloc_npv": np.linspace(1e8, 4e8, n),
        "shapley_value": np.linspace(1.2e8, 4.4e8, n), "shapley_se": np.zeros(n),
        "uplift_shapley": np.linspace(2e7, 4e7, n), "uplift_shapley_pct": np.linspace(0.1, 0.2, n),
        "least_core": np.linspace(1.1e8, 4.1e8, n),
    })


@pytest.fixture(scope="module")
def full_book(inputs, tmp_path_factory) -> Path:
    """report.xlsx with an allocation and limits read from CSV text, as ``pooling run`` writes it."""
    tmp = tmp_path_factory.mktemp("full")
    full = ReportInputs(inputs.scenario, inputs.contributed, inputs.pool, inputs.summary, _csv_limits(inputs, tmp),
                        inputs.deal, _allocation(inputs))
    return write_xlsx(tmp / "report.xlsx", full)


def _header_cells(wb: openpyxl.Workbook):
    """Every header cell (white on dark blue) of every sheet that holds text."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.fill.fgColor.rgb in ("FF1F3864", "001F3864") and isinstance(cell.value, str):
                    yield ws.title, cell


def test_xlsx_headers_bilingual_chinese_first(full_book):
    wb = _workbook(full_book)
    cells = list(_header_cells(wb))
    assert len(cells) > 60
    for sheet, cell in cells:
        zh, _, en = cell.value.partition("\n")
        assert CJK.search(zh), (sheet, cell.value)
        assert en and not CJK.search(en[:1]), (sheet, cell.value)


def test_allocation_headers_are_the_allocation_columns(full_book):
    ws = _workbook(full_book)[SHEETS["allocation"]]
    r, _ = _find(ws, "AMC name")
    heads = [c.value for c in ws[r] if c.value]
    assert heads[:3] == ["资产管理公司\nAMC", "成员名称\nAMC name", "成员类型\nAMC kind"]
    assert not any("限额" in h or "Limit" in h for h in heads)
    assert "沙普利值(元)\nShapley value (CNY)" in heads and "按未偿本息分配(元)\nAllocation by GBV (CNY)" in heads


def _numbers_checked(wb: openpyxl.Workbook) -> int:
    """Every cell with a number format holds a number; no text cell outside a text column reads as a number.
    Returns how many numbers were seen."""
    numeric_formats = {"#,##0", "0.0%", "0.00%", "0.0000%", "0.0", "0", "0.00", "0.0000", "0.000000", "0.000",
                       '0.00"×"'}
    checked = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.number_format in numeric_formats:
                    assert not isinstance(cell.value, str), (ws.title, cell.coordinate, cell.value)
                    checked += cell.value is not None
                elif isinstance(cell.value, str) and cell.number_format != "@":
                    with pytest.raises(ValueError):
                        float(cell.value.replace(",", ""))
    return checked


def test_xlsx_numbers_are_numbers(inputs, full_book):
    wb = _workbook(full_book)
    assert _numbers_checked(wb) > 1000
    ws = wb[SHEETS["limits"]]
    r, c = _find(ws, "NPV per step of relaxation")
    values = [ws.cell(i, c).value for i in range(r + 1, ws.max_row + 1)]
    assert all(isinstance(v, int | float) for v in values if v is not None)
    expected = pd.to_numeric(inputs.limits["npv_per_step"], errors="coerce").max()
    assert max(v for v in values if v is not None) == pytest.approx(expected)


def test_html_headers_bilingual(written):
    text = written["report.html"].read_text(encoding="utf-8")
    heads = re.findall(r"<th[^>]*>(.*?)</th>", text)
    assert len(heads) > 60
    for h in heads:
        zh, _, en = h.partition("<br>")
        assert CJK.search(zh) and en.startswith('<span class="en">'), h


def test_industry_labels_follow_gbt_4754_and_t_is_households(inputs, written):
    # GB/T 4754-2017 门类 as the standard names them
    standard = ["农、林、牧、渔业", "采矿业", "制造业", "电力、热力、燃气及水生产和供应业", "建筑业", "批发和零售业",
                "交通运输、仓储和邮政业", "住宿和餐饮业", "信息传输、软件和信息技术服务业", "金融业", "房地产业",
                "租赁和商务服务业", "科学研究和技术服务业", "水利、环境和公共设施管理业", "居民服务、修理和其他服务业",
                "教育", "卫生和社会工作", "文化、体育和娱乐业", "公共管理、社会保障和社会组织", "国际组织"]
    letters = [chr(c) for c in range(ord("A"), ord("T") + 1)]
    assert {k: v[0] for k, v in vocab.INDUSTRY_SECTIONS.items()} == dict(zip(letters, standard, strict=True))
    assert {k: v for k, v in vocab.INDUSTRY_LABELS.items() if k != "T"} == {
        k: v for k, v in vocab.INDUSTRY_SECTIONS.items() if k != "T"}
    assert vocab.INDUSTRY_LABELS["T"] == ("个人(住户)", "Households")
    assert vocab.value_label("industry", "T") == "T 个人(住户) Households"
    text = written["report.html"].read_text(encoding="utf-8")
    assert "国际组织" not in text and "International organisations" not in text
    t = compare_strata(inputs.contributed, inputs.pool, "industry")  # the demo files retail borrowers under T
    labels = dict(zip(t["code"], t["label"], strict=True))
    assert labels["T"] == "T 个人(住户) Households"
    assert all(labels[k] == f"{k} {zh} {en}" for k, (zh, en) in vocab.INDUSTRY_LABELS.items() if k in labels)


def test_one_dimension_map():
    from pooling.tapes import describe

    assert describe.DIMENSIONS is vocab.DIMENSIONS
    assert set(vocab.DIMENSION_LABELS) == set(vocab.CONCENTRATION_DIMENSIONS)
    for dim, values in vocab.VALUE_ZH.items():  # each Chinese label normalises back to its code
        assert vocab.normalize(pd.Series(list(values.values())), dim).tolist() == list(values)


def test_templates_ship_as_package_data():
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    globs = data["pooling.report"]
    folder = root / "pooling" / "report" / "templates"
    files = sorted(p.relative_to(folder.parent).as_posix() for p in folder.iterdir())
    assert {"templates/report.html", "templates/study.html", "templates/frontier.html"} <= set(files)
    assert all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files)
    assert not (folder / "__init__.py").exists()


# ---------------------------------------------------------------------------------------------------------------
# study.html and frontier.html
# ---------------------------------------------------------------------------------------------------------------


def _study_runs(scenario_name: str = "zj_withdraws", amc: str = "ZJ") -> pd.DataFrame:
    runs = pd.DataFrame({
        "run_id": ["r0", "r1", "r2"], "scenario": ["base", scenario_name, "broken"],
        "levers.coupon_shift": [0.0, 0.005, 0.01], "status": ["optimal", "optimal", "failed"],
        "pool_npv": [4.5e9, 4.2e9, np.nan], "senior_size": [2.8e9, 2.6e9, np.nan],
        "senior_share_of_expected_recovery": [0.55, 0.52, np.nan], "sub_irr": [0.11, 0.12, np.nan],
        "npv_NAT": [3.5e9, 3.4e9, np.nan], f"npv_{amc}": [1.0e9, 0.8e9, np.nan],
        "share_NAT": [0.7, 0.75, np.nan], f"share_{amc}": [0.3, 0.25, np.nan],
        "error": ["", "", f"boom {EVIL_SCRIPT}"], "detail": ["", "", ""],
    })
    runs.attrs = {"study": f"s {EVIL_FORMULA}", "parameters": ["levers.coupon_shift"], "sweep": [],
                  "metrics": ["pool_npv", "senior_size"], "amcs": ["NAT", amc], "overrides": {},
                  "description": EVIL_SCRIPT}
    return runs


def test_study_html_escapes_and_cards_state_their_unit():
    from pooling.report.study import StudyTables, render_study_html

    text = render_study_html(StudyTables(_study_runs(f"evil {EVIL_SCRIPT}", f"Z{EVIL_SCRIPT}")))
    _escaped_once(text, EVIL_SCRIPT)
    _escaped_once(text, EVIL_FORMULA)
    cards = re.findall(r'<div class="k">(.*?)</div><div class="v">(.*?)</div><div class="s">(.*?)</div>', text)
    assert len(cards) >= 5
    for label, value, sub in cards:
        if value.endswith("亿元"):  # money in 亿元: the label names no other unit
            assert "(元)" not in label and "CNY" not in label, label
            assert float(value.removesuffix(" 亿元").replace(",", "")) < 1e4
        for unit in ("(元)", "(CNY)"):
            assert unit not in label, label
        assert "元" not in sub or "亿元" in sub, sub
    money = {re.sub(r"<.*?>", "", k).strip(): v for k, v, _ in cards}
    assert money["基准资产池净现值 base Pool npv"] == "45.00 亿元"
    assert money["基准次级收益率 base Sub IRR"] == "11.0%"


def test_study_xlsx_numbers_and_headers(tmp_path):
    from pooling.report.study import StudyTables, _build_xlsx

    path = tmp_path / "study.xlsx"
    import datetime as dt

    _build_xlsx(path, StudyTables(_study_runs()), dt.date(2026, 6, 30))
    wb = _workbook(path)
    cells = list(_header_cells(wb))
    assert cells
    for sheet, cell in cells:
        zh, _, en = cell.value.partition("\n")
        assert CJK.search(zh) and en, (sheet, cell.value)
    assert _numbers_checked(wb) > 20
    ws = wb["情景 Scenarios"]
    r, c = _find(ws, "Pool npv (CNY)")
    assert ws.cell(r + 1, c).value == pytest.approx(4.5e9) and ws.cell(r + 1, c).number_format == "#,##0"


def _frontier_table(note: str = "") -> pd.DataFrame:
    from pooling.selection.frontier import FRONTIER_COLUMNS

    h = np.array([0.118, 0.0999, 0.0799, np.nan])
    npv = np.array([45.2e8, 45.0e8, 44.5e8, np.nan])
    t = pd.DataFrame({
        "point": range(4), "dimension": "province", "measure": "hhi", "bound_hhi": [0.118, 0.10, 0.08, 0.05],
        "bound_effective_number": 1 / np.array([0.118, 0.10, 0.08, 0.05]), "hhi": h, "effective_number": 1 / h,
        "npv": npv, "gbv": [159e8, 158e8, 150e8, np.nan], "n_assets": pd.array([11250, 11000, 10500, pd.NA], "Int64"),
        "status": ["optimal", "optimal", "optimal", "infeasible"], "mip_gap": [1e-4, 1e-4, 2e-4, np.nan],
        "npv_loss": 45.2e8 - npv, "npv_loss_pct": 100 * (45.2e8 - npv) / 45.2e8,
        "unconstrained": [True, False, False, False], "hhi_rounds": pd.array([0, 2, 3, pd.NA], "Int64"),
        "seconds": [1.0, 2.0, 3.0, 4.0], "note": ["the scenario's own optimum", "", "", note],
    })[FRONTIER_COLUMNS]
    t.attrs.update(hhi_free=0.118, hhi_min=0.05, hhi_lower_bound=0.049)
    return t


def test_frontier_page_uses_the_shared_pieces_and_escapes():
    from pooling.report.frontier import frontier_chart

    text = frontier_chart(_frontier_table(f"cut {EVIL_SCRIPT}"), "province", "hhi", f"t {EVIL_FORMULA}")
    _escaped_once(text, EVIL_SCRIPT)
    _escaped_once(text, EVIL_FORMULA)
    assert text.count(plotly.offline.get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, flags=re.IGNORECASE)
    css = (Path(__file__).resolve().parents[1] / "pooling" / "report" / "templates" / "report.css").read_text()
    assert css.strip() in text  # the same stylesheet as report.html and study.html
    ids = re.findall(r'id="([\w-]+)"', text.replace(plotly.offline.get_plotlyjs(), ""))
    assert len(ids) == len(set(ids)) and "fig-frontier" in ids  # the chart's div id is not a section's
    body = text[text.index('<section id="points">'):]
    assert "0.44" in body and "44.2%" not in body  # npv loss in percent points, shown as such
    for h in re.findall(r"<th[^>]*>(.*?)</th>", body):
        assert CJK.search(h.partition("<br>")[0]), h
