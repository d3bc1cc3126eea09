"""Corpus-mutation fuzzing of the tool's inputs: tapes (CSV and Excel), the links file, scenario, study and shelf
plan files, history tapes, servicer reports.

Each case starts from a small clean scenario (two tapes, English and Chinese headers, a links file, a study and a
shelf plan over them), applies one to three random mutations — hostile cell values, broken structure, other
encodings and delimiters, Excel quirks, keys of the wrong type, paths leading out — and runs ``pooling validate``
(most cases), ``pooling study --dry-run``, ``pooling shelf`` or ``pooling calibrate`` (on a mutated history tape)
on it in-process. A servicer-report case (``commands`` including ``"monitor"``) instead takes one to three monthly
reports of a small issued deal (:func:`issued_deal`, built once per process), mutates them — as CSV text, then
possibly as a workbook or a Parquet file with typed columns of the wrong kind — and runs ``pooling monitor``.
A case passes when the command
ends in one of its exit codes (0 clean, 1 a validation report, 2 a usage error; a shelf plan also 3 or 4) without
a traceback, within the time limit, and leaves in its output folder nothing but what that outcome writes.
Deterministic for a given seed.

Used by ``tests/test_fuzz.py`` (a few hundred cases) and ``benchmarks/bench_fuzz.py`` (10,000)."""

from __future__ import annotations

import atexit
import datetime as dt
import random
import shutil
import signal
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import xlsxwriter
import yaml
from typer.testing import CliRunner

from pooling.outputs import MONITOR_FILES, MONITOR_REPORT_FILES
from tests.conftest import CLEAN_A, LINKS, write_scenario

#: Chinese headers, as in the demo's local-AMC tapes.
CLEAN_CN = """资产编号,借款人编号,借款人名称,本息费余额,本金余额,资产类型,担保方式,省份,行业,违约日期,诉讼状态,抵押物评估价值,抵押顺位
GD-1,C9001,广州某某贸易有限公司,1200000.5,1000000,对公,住宅,广东省,批发和零售业,2023/3/1,诉讼中,1500000,1
GD-2,C9002,张三,"1,234,567.00",1000000,个人住房,住宅,广东,个人,2022年6月30日,执行中,1800000,1
GD-3,O2,深圳某某科技有限公司,800000,700000,小微,保证,广东省,C,20240229,已判决,,
"""

HOSTILE = [
    "", " ", "NaN", "nan", "NULL", "None", "inf", "-inf", "1e309", "-1e308", "1e-320", "0", "-0", "-1",
    "99999999999999999999999999", "1,2,3", "１２３", "１，０００", "12.5%", "$100", "CNY 100", "1 000", "0x1F",
    "2023/13/45", "2023-02-30", "31.12.2023", "9999-12-31", "0000-00-00", "1899-12-31", "45000", "2023年", "昨天",
    "=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "<script>alert(1)</script>",
    "\x00", "\x1b[31mred", "\u202eevil", "a\nb", 'quote"inside', "'", "\\", "中文" * 50, "x" * 100_000,
    "😀", "true", "FALSE", "[]", "{}", "CN-XX", "Atlantis", "litigation;judgment", "O1;O1;O1", "O2；O3",
]

ENCODINGS = ["utf-8", "utf-8-sig", "gbk", "utf-16", "latin-1", "cp1252", "big5", "shift_jis"]


@dataclass
class Case:
    work: Path
    scenario: Path
    tapes: list[Path]
    links: Path
    study: Path | None = None
    plan: Path | None = None
    history: Path | None = None
    reports: list[Path] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)


def write_case(work: Path) -> Case:
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "a.csv").write_text(CLEAN_A, encoding="utf-8")
    (data / "gd.csv").write_text(CLEAN_CN, encoding="utf-8")
    (data / "links.csv").write_text(LINKS, encoding="utf-8")
    scenario = write_scenario(work, [{"id": "A", "kind": "national", "tape": "data/a.csv"},
                                     {"id": "GD", "kind": "local", "home_province": "CN-GD", "tape": "data/gd.csv"}])
    study = work / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "fuzz", "base": "scenario.yaml", "common": {"solver.mip_rel_gap": 1e-3},
        "scenarios": {"dearer": {"levers.coupon_shift": 0.005}, "no_gd": {"levers.withdraw": ["GD"]}},
        "sweep": {"levers.court_delay_months": [0, 12]}}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    plan = work / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "name": "fuzz-shelf", "as_of": "2026-06-30",
        "shelf": {"cap": 1.0e7, "valid_from": "2026-07-01", "valid_to": "2027-06-30", "max_issues": 2,
                  "min_issue_size": 1.0e6},
        "windows": [{"date": "2026-09-30", "senior_coupon": 0.0215}, {"date": "2027-03-31", "senior_coupon": 0.018}],
        "acquisitions": [{"batch": "A1", "date": "2026-07-15", "amc": "A", "tape": "data/a.csv"},
                         {"batch": "G1", "date": "2026-11-30", "amc": "GD", "tape": "data/gd.csv"}],
        "amcs": [{"id": "A", "kind": "national"}, {"id": "GD", "kind": "local", "funding_cost": 0.055}],
        "funding_cost": 0.035, "issue_cost": {"fixed": 1.0e4, "rate": 0.002}, "links": "data/links.csv"},
        allow_unicode=True, sort_keys=False), encoding="utf-8")
    history = work / "history.csv"
    history.write_text(HISTORY, encoding="utf-8")
    return Case(work, scenario, [data / "a.csv", data / "gd.csv"], data / "links.csv", study, plan, history)


def _history_sample(rows: int = 80) -> str:
    """The first rows of the demo's Guangdong history tape (GBK on disk, Chinese headers), as UTF-8 text."""
    path = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "history" / "gd.csv"
    return "\n".join(path.read_bytes().decode("gb18030").splitlines()[: rows + 1]) + "\n"


HISTORY = _history_sample()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _cells(rng: random.Random, path: Path) -> None:
    lines = _lines(path)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        cells = lines[i].split(",")
        j = rng.randrange(len(cells))
        value = rng.choice(HOSTILE)
        cells[j] = '"' + value.replace('"', '""') + '"' if rng.random() < 0.7 else value
        lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")


def _structure(rng: random.Random, path: Path) -> None:
    lines = _lines(path)
    kind = rng.choice(["drop_line", "dup_line", "dup_header", "drop_header", "stray_title", "blank_lines", "crlf",
                       "truncate", "bom_twice", "no_newline", "only_header", "empty", "swap_columns", "dup_column"])
    if kind == "drop_line" and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif kind == "dup_line":
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif kind == "dup_header":
        lines.insert(rng.randrange(1, len(lines) + 1), lines[0])
    elif kind == "drop_header":
        lines = lines[1:]
    elif kind == "stray_title":
        lines = ["某某资产管理公司 资产清单 2026年6月", "", *lines]
    elif kind == "blank_lines":
        lines = [x for line in lines for x in (line, "", ",,,,")]
    elif kind == "crlf":
        path.write_bytes("\r\n".join(lines).encode("utf-8"))
        return
    elif kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: rng.randrange(len(data) + 1)])
        return
    elif kind == "bom_twice":
        path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + path.read_bytes())
        return
    elif kind == "no_newline":
        path.write_text("\n".join(lines), encoding="utf-8")
        return
    elif kind == "only_header":
        lines = lines[:1]
    elif kind == "empty":
        lines = []
    elif kind in ("swap_columns", "dup_column"):
        rows = [line.split(",") for line in lines]
        width = min(len(r) for r in rows)
        a, b = rng.randrange(width), rng.randrange(width)
        for r in rows:
            if kind == "swap_columns":
                r[a], r[b] = r[b], r[a]
            else:
                r.insert(b, r[a])
        lines = [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def _encoding(rng: random.Random, path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    kind = rng.choice(["encode", "delimiter", "bytes", "mixed"])
    if kind == "encode":
        path.write_bytes(text.encode(rng.choice(ENCODINGS), errors="replace"))
    elif kind == "delimiter":
        path.write_text(text.replace(",", rng.choice([";", "\t", "|", "，"])), encoding="utf-8")
    elif kind == "bytes":
        data = bytearray(path.read_bytes())
        for _ in range(rng.randint(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
    else:  # half UTF-8, half GBK
        half = len(text) // 2
        path.write_bytes(text[:half].encode("utf-8") + text[half:].encode("gbk", errors="replace"))


TAPE_WORKBOOK_KINDS = ["formulas", "empty_first_sheet", "merged_title", "numbers_as_text", "several_sheets", "no_rows"]
#: a servicer report's workbook may also carry real Excel dates, dates as serial numbers, or huge numbers
REPORT_WORKBOOK_KINDS = [*TAPE_WORKBOOK_KINDS, "excel_dates", "serial_dates", "huge_numbers", "only_empty_sheets"]


def _workbook(rng: random.Random, path: Path, kinds: list[str] = TAPE_WORKBOOK_KINDS) -> Path:
    """The CSV at ``path`` written as a workbook beside it with one of Excel's quirks; returns the workbook's path."""
    rows = [line.split(",") for line in _lines(path)]
    xlsx = path.with_suffix(".xlsx")
    book = xlsxwriter.Workbook(str(xlsx))
    kind = rng.choice(kinds)
    if kind in ("empty_first_sheet", "only_empty_sheets"):
        book.add_worksheet("说明")
    if kind == "only_empty_sheets":
        book.add_worksheet("Sheet2")
        book.close()
        return xlsx
    sheet = book.add_worksheet("资产清单")
    top = 0
    if kind == "merged_title":
        sheet.merge_range(0, 0, 1, 5, "资产清单（截至2026年6月30日）")
        top = 3
    date_format = (book.add_format({"num_format": rng.choice(["yyyy-mm-dd", 'yyyy"年"m"月"d"日"', "m/d/yy"])})
                   if kind == "excel_dates" else None)
    for i, row in enumerate(rows if kind != "no_rows" else rows[:1]):
        for j, value in enumerate(row):
            date = _iso_date(value)
            if kind == "formulas" and i > 0 and rng.random() < 0.2:
                sheet.write_formula(top + i, j, rng.choice(["=1/0", "=A1", "=SUM(1,2)", '="x"&"y"', "=NA()"]))
            elif kind == "excel_dates" and i > 0 and date is not None:
                sheet.write_datetime(top + i, j, date, date_format)
            elif kind == "serial_dates" and i > 0 and date is not None:
                sheet.write_number(top + i, j, (date - dt.datetime(1899, 12, 30)).days)
            elif kind == "huge_numbers" and i > 0 and value.replace(".", "", 1).isdigit():
                sheet.write_number(top + i, j, float(value) * rng.choice([1e300, 1e-300, -1.0, 1e15]))
            elif kind != "numbers_as_text" and value.replace(".", "", 1).isdigit():
                sheet.write_number(top + i, j, float(value))
            else:
                sheet.write_string(top + i, j, value)
    if kind == "several_sheets":
        book.add_worksheet("Sheet2").write_string(0, 0, "other")
    book.close()
    return xlsx


def _iso_date(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None


def _excel(rng: random.Random, path: Path, case: Case) -> None:
    """Turn the tape into a workbook with Excel's quirks; the scenario is pointed at it."""
    xlsx = _workbook(rng, path)
    doc = yaml.safe_load(case.scenario.read_text(encoding="utf-8"))
    for amc in doc["amcs"]:
        if amc["tape"] == f"data/{path.name}":
            amc["tape"] = f"data/{xlsx.name}"
    case.scenario.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


SCENARIO_EDITS: list[tuple[str, object]] = [
    ("as_of", "June"), ("as_of", 20260630), ("as_of", None), ("amcs", []), ("amcs", "A"), ("links", 5),
    ("links", "data/missing.csv"), ("name", ["x"]), ("pool", {"max_share": {"province": 2.0}}),
    ("pool", {"size": {"min_gbv": -1}}), ("pool", "big"), ("solver", {"time_limit": -5}),
    ("structure", {"senior_coupon": "2%"}), ("consortium", {"allocation": "random"}), ("unknown_key", 1),
    ("valuation", {"model": "no/such/model"}), ("amcs.0.tape", "../../etc/passwd"), ("amcs.0.tape", ""),
    ("amcs.0.kind", "alien"), ("amcs.1.home_province", "Atlantis"), ("amcs.0.id", ""), ("amcs.1.id", "A"),
    ("amcs.0.extra", True), ("amcs.0.funding_cost", "cheap"), ("amcs.0.tape", "data/a.parquet"),
]


STUDY_EDITS: list[tuple[str, object]] = [
    ("base", "../elsewhere.yaml"), ("base", "/etc/passwd"), ("base", "missing.yaml"), ("base", 3), ("base", None),
    ("scenarios", {"base": {}}), ("scenarios", {"x": {"pool.limits.max_provence_share": 0.2}}),
    ("scenarios", {"x": {"levers.withdraw": ["NOPE"]}}), ("scenarios", {"x": {"solver.time_limit_s": "fast"}}),
    ("scenarios", {"a:b": {}}), ("scenarios", []), ("sweep", {"levers.coupon_shift": []}),
    ("sweep", {"levers.coupon_shift": "0.01"}), ("sweep", {"no.such.key": [1, 2]}), ("common", {"amcs": None}),
    ("name", {"x": 1}), ("sweeps", {}), ("description", "中文" * 1000),
]

PLAN_EDITS: list[tuple[str, object]] = [
    ("shelf.cap", -1), ("shelf.cap", "ten billion"), ("shelf.valid_to", "2026-01-01"), ("shelf.max_issues", 0),
    ("windows", []), ("windows.0.senior_coupon", 2.0), ("windows.0.date", "soon"), ("acquisitions", []),
    ("acquisitions.0.tape", "../../etc/passwd"), ("acquisitions.0.tape", "data/missing.csv"),
    ("acquisitions.0.amc", "ZZ"), ("acquisitions.1.batch", "A1"), ("acquisitions.0.date", "2025-01-01"),
    ("amcs", "A"), ("funding_cost", -0.1), ("issue_cost", {"fixed": "x"}), ("pool", {"limits": {"max_hhi": 5}}),
    ("unknown", True), ("links", "/etc/hosts"), ("structure", {"senior_coupon": None}),
]


def _edit_yaml(path: Path, edits: list[tuple[str, object]], rng: random.Random) -> None:
    kind = rng.choice(["edit", "edit", "yaml", "bytes"])
    if kind == "yaml":
        path.write_text(rng.choice(["", "- a\n", "name: [unclosed\n", "base: !!python/object/apply:os.system [ls]\n"]),
                        encoding="utf-8")
        return
    if kind == "bytes":
        data = bytearray(path.read_bytes())
        data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        return
    key, value = rng.choice(edits)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    *parents, last = key.split(".")
    target = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _scenario(rng: random.Random, case: Case) -> None:
    kind = rng.choice(["edit", "yaml", "bytes"])
    if kind == "yaml":
        case.scenario.write_text(rng.choice(["", "- a\n- b\n", "name: [unclosed\n", "\t bad: indent\n: x\n",
                                             "amcs: !!python/object:os.system ls\n", "a: &x [*x]\n"]),
                                 encoding="utf-8")
        return
    if kind == "bytes":
        data = bytearray(case.scenario.read_bytes())
        data[rng.randrange(len(data))] = rng.randrange(256)
        case.scenario.write_bytes(bytes(data))
        return
    key, value = rng.choice(SCENARIO_EDITS)
    doc = yaml.safe_load(case.scenario.read_text(encoding="utf-8"))
    parts = key.split(".")
    target = doc
    for p in parts[:-1]:
        target = target[int(p)] if p.isdigit() else target[p]
    last = parts[-1]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    case.scenario.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


MUTATIONS: dict[str, Callable[[random.Random, Case], None]] = {
    "cells": lambda rng, c: _cells(rng, rng.choice([*c.tapes, c.links])),
    "structure": lambda rng, c: _structure(rng, rng.choice([*c.tapes, c.links])),
    "encoding": lambda rng, c: _encoding(rng, rng.choice([*c.tapes, c.links])),
    "excel": lambda rng, c: _excel(rng, rng.choice(c.tapes), c),
    "scenario": _scenario,
}

#: The command each case runs: validate a scenario (most cases), dry-run a study, plan a shelf, or calibrate the
#: valuation model on a history tape.
COMMANDS = ("validate", "validate", "validate", "study", "shelf", "calibrate")


#: The command of a servicer-report case (not among :data:`COMMANDS`, which keeps the seeds of the other cases:
#: ``fuzz(..., commands=ALL_COMMANDS)`` mixes them in).
ALL_COMMANDS = (*COMMANDS, "monitor")

_DEAL: dict[str, object] = {}


def issued_deal() -> dict[str, object]:
    """A small issued deal — the clean case's scenario through ``pooling run`` — and twelve months of its servicer
    reports (``pooling synth --collections``, with noise: the non-empty months), built once per process in a
    temporary folder: keys ``dir``, ``scenario``, ``reports``."""
    from pooling.cli.main import app

    if not _DEAL:
        root = Path(tempfile.mkdtemp(prefix="pooling-fuzz-deal-"))
        atexit.register(shutil.rmtree, root, True)
        case = write_case(root / "case")
        for args in (["run", str(case.scenario), "--out", str(root / "deal")],
                     ["synth", str(root / "reports"), "--collections", str(root / "deal"), "--scenario",
                      str(case.scenario), "--months", "12", "--noise", "0.3", "--seed", "1"]):
            result = CliRunner().invoke(app, args)
            if result.exit_code != 0:
                raise RuntimeError(f"pooling {args[0]} failed on the clean case: {result.output[-600:]}")
        reports = [p for p in sorted((root / "reports").glob("*.csv")) if len(_lines(p)) > 1]
        _DEAL.update(dir=root / "deal", scenario=case.scenario, reports=reports)
    return _DEAL


#: Values for a report's date column: formats people type, Excel serials, impossible and far dates.
ODD_DATES = ["2026/9/30", "2026年9月30日", "20260930", "30.09.2026", "09/30/2026", "Sep 30 2026", "46295", "46295.5",
             "2026-09-30T12:00:00", "2026-09-30 00:00:00+08:00", "2026-9", "2026", "2026-02-30", "9999-12-31",
             "1900-01-01", "0001-01-01", "2026-06-30", "2026-07-01", "2099-12-31", "NaT", "", "-", "—"]
#: Values for a report's amount column: separators, units, signs, huge, tiny, not-a-number text.
ODD_AMOUNTS = ["1,234.56", "1.234,56", "１２３４", "1 234", "¥1234", "1234元", "1.2万", "12%", "-0", "-0.01", "+5", "1e308",
               "1e309", "-1e309", "1e-320", "5e-324", "0", "0.001", "NaN", "inf", "-Infinity", "", "(100)", "0x10", "1_000",
               "99999999999999999999999"]
#: legal_status updates: canonical, Chinese, unknown, hostile.
ODD_STATUSES = ["settled", "结清", "已结清", "litigation", "诉讼中", "judgment", "execution", "closed", "paid", "",
                "=1+1", "SETTLED", " settled ", "结清;诉讼中"]


def _report_rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in _lines(path)]


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8", errors="surrogatepass")


def _report_column(rng: random.Random, path: Path) -> None:
    """Many values of one column (date, amount, or a legal_status column added) replaced by odd ones."""
    rows = _report_rows(path)
    kind = rng.choice(["date", "amount", "status"])
    if kind == "status":
        rows[0].append(rng.choice(["诉讼状态", "legal_status", "状态"]))
        for r in rows[1:]:
            r.append(rng.choice(ODD_STATUSES))
        if rng.random() < 0.5 and len(rows) > 1:  # a status-only row: no amount
            rows[-1][3] = ""
    else:
        j, values = (2, ODD_DATES) if kind == "date" else (3, ODD_AMOUNTS)
        for r in rows[1:]:
            if len(r) > j and rng.random() < 0.6:
                r[j] = rng.choice(values)
    _write_rows(path, rows)


def _report_header(rng: random.Random, path: Path) -> None:
    """Other header spellings: English names, other Chinese aliases, a column missing, a header case-mangled."""
    rows = _report_rows(path)
    kind = rng.choice(["english", "aliases", "drop_column", "upper", "spaces", "duplicate_names"])
    header = {"english": ["amc_id", "asset_id", "date", "amount"],
              "aliases": ["资产管理公司编号", "借据号", "回款日期", "回款金额"],
              "upper": ["AMC_ID", "Asset_ID", "DATE", "Amount"],
              "spaces": [" 资产管理公司 ", "资产编号\t", "回收 日期", "回收金额 "],
              "duplicate_names": ["资产编号", "资产编号", "回收日期", "回收金额"]}.get(kind)
    if header is not None:
        rows[0][:4] = header
    else:
        j = rng.randrange(4)
        rows = [r[:j] + r[j + 1:] for r in rows]
    _write_rows(path, rows)


def _report_parquet(rng: random.Random, path: Path, case: Case) -> None:
    """The report as a Parquet file, with typed columns of the wrong kind (or the file itself damaged)."""
    import numpy as np
    import pandas as pd

    rows = _report_rows(path)
    width = len(rows[0])
    frame = pd.DataFrame([(r + [""] * width)[:width] for r in rows[1:]], columns=rows[0], dtype=object)
    kind = rng.choice(["text", "typed", "date_ints", "date_serials", "tz_dates", "amount_text", "inf_nan", "huge",
                       "int_ids", "categorical", "bytes", "lists", "no_rows", "int_names", "nulls", "truncated",
                       "flipped"])
    cols = list(frame.columns)
    dates = pd.to_datetime(frame.iloc[:, 2], errors="coerce", format="%Y-%m-%d") if width > 2 else None
    amounts = pd.to_numeric(frame.iloc[:, 3], errors="coerce") if width > 3 else None
    if kind == "typed" and dates is not None and amounts is not None:
        frame[cols[2]], frame[cols[3]] = dates, amounts
    elif kind == "date_ints" and dates is not None:
        frame[cols[2]] = dates.dt.strftime("%Y%m%d").astype(float).astype("Int64")
    elif kind == "date_serials" and dates is not None:
        frame[cols[2]] = (dates - pd.Timestamp("1899-12-30")).dt.days.astype(float)
    elif kind == "tz_dates" and dates is not None:
        frame[cols[2]] = dates.dt.tz_localize("Asia/Shanghai")
    elif kind == "amount_text" and amounts is not None:
        frame[cols[3]] = [f"{v:,.2f}" if v == v else "" for v in amounts]
    elif kind in ("inf_nan", "huge") and amounts is not None:
        pick = [np.inf, -np.inf, np.nan] if kind == "inf_nan" else [1e308, -1e308, 5e-324, 2.0**63]
        frame[cols[3]] = [rng.choice(pick) if rng.random() < 0.5 else v for v in amounts]
    elif kind == "int_ids" and width > 1:
        frame[cols[1]] = np.arange(len(frame), dtype="int64") + 10**15
    elif kind == "categorical":
        frame = frame.astype("category")
    elif kind == "bytes" and width > 1:
        frame[cols[1]] = [str(v).encode("utf-8") + b"\xff" for v in frame.iloc[:, 1]]
    elif kind == "lists" and amounts is not None:
        frame[cols[3]] = [[v, v] for v in amounts]
    elif kind == "no_rows":
        frame = frame.iloc[:0]
    elif kind == "int_names":
        frame.columns = list(range(width))
    elif kind == "nulls":
        frame = frame.mask(np.random.default_rng(rng.randrange(2**32)).random(frame.shape) < 0.3)
    target = path.with_suffix(".parquet")
    frame.to_parquet(target, index=False)
    if kind in ("truncated", "flipped"):
        data = bytearray(target.read_bytes())
        if kind == "truncated":
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        target.write_bytes(bytes(data))
    path.unlink()
    case.reports[case.reports.index(path)] = target


def _report_excel(rng: random.Random, path: Path, case: Case) -> None:
    target = _workbook(rng, path, REPORT_WORKBOOK_KINDS)
    path.unlink()
    case.reports[case.reports.index(path)] = target


def _report_files(rng: random.Random, case: Case) -> None:
    """Across files: one repeated (every row a duplicate), an empty file, a header-only file, a missing file."""
    kind = rng.choice(["repeat", "empty", "header_only", "missing", "same_rows_other_name"])
    folder = case.reports[0].parent
    if kind in ("repeat", "same_rows_other_name"):
        source = rng.choice(case.reports)
        copy = folder / f"{'copy' if kind == 'repeat' else 'Copy of'} {source.name}"
        shutil.copyfile(source, copy)
        case.reports.append(copy)
    elif kind == "empty":
        (folder / "empty.csv").write_bytes(b"")
        case.reports.append(folder / "empty.csv")
    elif kind == "header_only":
        (folder / "header.csv").write_text(_lines(case.reports[0])[0] + "\n", encoding="utf-8")
        case.reports.append(folder / "header.csv")
    else:
        case.reports.append(folder / "no-such-report.csv")


def _csv_report(rng: random.Random, case: Case) -> Path:
    """A report still in CSV form (mutating it before it becomes a workbook or a Parquet file)."""
    csvs = [p for p in case.reports if p.suffix == ".csv" and p.exists()]
    if not csvs:
        raise ValueError("no CSV report left")
    return rng.choice(csvs)


REPORT_MUTATIONS: dict[str, Callable[[random.Random, Case], None]] = {
    "report-cells": lambda rng, c: _cells(rng, _csv_report(rng, c)),
    "report-structure": lambda rng, c: _structure(rng, _csv_report(rng, c)),
    "report-encoding": lambda rng, c: _encoding(rng, _csv_report(rng, c)),
    "report-column": lambda rng, c: _report_column(rng, _csv_report(rng, c)),
    "report-header": lambda rng, c: _report_header(rng, _csv_report(rng, c)),
    "report-files": _report_files,
    "report-excel": lambda rng, c: _report_excel(rng, _csv_report(rng, c), c),
    "report-parquet": lambda rng, c: _report_parquet(rng, _csv_report(rng, c), c),
}
#: format changes last: the text mutations act on a CSV first
_REPORT_LAST = ("report-excel", "report-parquet")


def _write_reports(rng: random.Random, case: Case) -> None:
    """One to three of the deal's monthly reports copied into the case."""
    deal = issued_deal()
    folder = case.work / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(rng.sample(deal["reports"], k=min(len(deal["reports"]), rng.randint(1, 3)))):
        shutil.copyfile(source, folder / source.name)
        case.reports.append(folder / source.name)


@dataclass
class Outcome:
    case: int
    mutations: list[str]
    exit_code: int | None
    problem: str | None  # None when the case passed
    command: str = ""


class _Timeout(BaseException):
    """Raised by the alarm: a BaseException, so that the command's own error handling (which turns an Exception
    into "internal error", exit 70) lets it through and the case is reported as having no answer in time."""


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise _Timeout


def run_case(work: Path, number: int, seed: int, timeout: int = 30,
             commands: tuple[str, ...] = COMMANDS) -> Outcome:
    """Build case ``number`` of ``seed`` in ``work``, run its command (drawn from ``commands``) and judge the
    outcome."""
    from pooling.cli.main import app

    rng = random.Random(f"{seed}:{number}")
    case = write_case(work)
    command = rng.choice(commands)
    names = rng.sample(list(MUTATIONS), k=rng.randint(1, 3))
    if command in ("study", "shelf"):  # the file itself mutated, sometimes its tapes too
        names = [command, *rng.sample(["cells", "structure", "encoding"], k=rng.randint(0, 1))]
    elif command == "calibrate":  # the history tape mutated like a tape
        names = [f"history-{n}" for n in rng.sample(["cells", "structure", "encoding"], k=rng.randint(1, 2))]
    elif command == "monitor":  # the deal's servicer reports mutated, the deal and its scenario kept
        _write_reports(rng, case)
        names = sorted(rng.sample(list(REPORT_MUTATIONS), k=rng.randint(1, 3)), key=lambda n: n in _REPORT_LAST)
    for name in names:
        try:
            if name in REPORT_MUTATIONS:
                REPORT_MUTATIONS[name](rng, case)
            elif name == "study":
                _edit_yaml(case.study, STUDY_EDITS, rng)
            elif name == "shelf":
                _edit_yaml(case.plan, PLAN_EDITS, rng)
            elif name.startswith("history-"):
                {"cells": _cells, "structure": _structure, "encoding": _encoding}[name[8:]](rng, case.history)
            else:
                MUTATIONS[name](rng, case)
            case.applied.append(name)
        except Exception:  # a mutation that does not fit this case (e.g. editing a scenario already broken)
            case.applied.append(f"{name} (not applicable)")
    out = work / "out"
    if command == "monitor":
        deal = issued_deal()
        if rng.random() < 0.3:  # the folder of reports, as users give it
            reports = ["--collections", str(case.work / "reports")]
        else:
            reports = [x for p in case.reports for x in ("--collections", str(p))]
        as_of = rng.choice([None] * 6 + ["2027-06-30", "2026-09-30", "2026-07-01", "1900-01-01", "June", "2026-02-30"])
        given = ["--scenario", str(deal["scenario"])] if rng.random() < 0.5 else []  # else the deal's own copy
        monitor = ["monitor", str(deal["dir"]), *given, *reports, "--out", str(out),
                   *(["--as-of", as_of] if as_of else [])]
    args = {"monitor": monitor if command == "monitor" else [],
            "validate": ["validate", str(case.scenario), "--out", str(out)],
            "study": ["study", str(case.study), "--out", str(out), "--dry-run"],
            "shelf": ["shelf", str(case.plan), "--out", str(out)],
            "calibrate": ["calibrate", str(case.history), "--out", str(out)]}[command]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        result = CliRunner().invoke(app, args)
    except _Timeout:
        return Outcome(number, case.applied, None, f"no answer within {timeout} s", command)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(result.exception))[-600:]
        return Outcome(number, case.applied, result.exit_code, f"exception: {tb}", command)
    codes = (0, 1, 2, 3, 4) if command == "shelf" else (0, 1, 2)
    if result.exit_code not in codes or "internal error" in text or "Traceback" in text:
        return Outcome(number, case.applied, result.exit_code, f"exit {result.exit_code}: {text[-600:]}", command)
    written = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".out.")]
    if leftovers:
        return Outcome(number, case.applied, result.exit_code, f"left {leftovers} beside the output folder", command)
    if command in ("shelf", "calibrate") and result.exit_code in (0, 3, 4):
        return Outcome(number, case.applied, result.exit_code, None, command)  # a plan or model made: its own outputs
    if command == "study":
        allowed = [[]]  # a dry run writes nothing
    elif command == "monitor":
        allowed = {0: [sorted(MONITOR_FILES + MONITOR_REPORT_FILES)], 1: [["validation.csv"], []], 2: [[]]}.get(
            result.exit_code, [])
    else:
        allowed = {0: [["validation.csv"]], 1: [["validation.csv"], []], 2: [[]]}.get(result.exit_code, [])
    if written not in allowed:
        return Outcome(number, case.applied, result.exit_code, f"wrote {written}", command)
    return Outcome(number, case.applied, result.exit_code, None, command)


def fuzz(root: Path, cases: int, seed: int = 0, progress: Callable[[int], None] | None = None,
         commands: tuple[str, ...] = COMMANDS) -> list[Outcome]:
    """Run ``cases`` fuzz cases under ``root`` (one sub-folder each, removed after a pass), each running a command
    drawn from ``commands``."""
    outcomes = []
    for n in range(cases):
        work = root / f"case-{n:05d}"
        outcome = run_case(work, n, seed, commands=commands)
        outcomes.append(outcome)
        if outcome.problem is None:
            shutil.rmtree(work, ignore_errors=True)
        if progress is not None:
            progress(n + 1)
    return outcomes
