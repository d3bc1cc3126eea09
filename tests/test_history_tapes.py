"""History tapes: formats, Chinese headers and labels, every validation rule at its (file, row, column, value)."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from pooling.errors import InputError, ValidationFailed
from pooling.tapes.headers import first_history_chinese_header
from pooling.tapes.history import HISTORY_ASSET_COLUMNS, check_history, load_history, normalize_resolution

# Six assets of AMC "H": resolved (auction, settled, write_off), open with and without a resolution value, and one
# resolved without a resolution value. Header is line 1, so asset Hk sits on line k + 1.
CLEAN = """\
asset_id,obligor_id,gbv,principal,asset_type,collateral_type,province,industry,default_date,legal_status,collateral_value,lien_rank,valued_on,recovered,resolved_on,costs,resolution
H1,O1,1000000,900000,corporate,industrial,CN-ZJ,C,2018-03-01,litigation,1200000,1,2019-01-15,420000,2021-06-30,30000,auction
H2,O2,50000,40000,credit_card,unsecured,CN-GD,T,2017-05-01,pre_litigation,,,2019-06-01,6000,2020-02-01,1200,settled
H3,O3,80000,70000,retail_consumer,unsecured,CN-SC,T,2016-01-10,judgment,,,2020-01-01,0,2022-01-01,,write_off
H4,O4,2500000,2000000,corporate,commercial,CN-JS,K,2021-02-01,enforcement,3000000,2,2023-03-01,150000,,20000,open
H5,O5,600000,500000,retail_mortgage,residential,CN-BJ,T,2022-01-01,litigation,900000,1,2024-01-01,10000,,,
H6,O6,300000,250000,sme,guarantee_only,CN-HL,F,2019-09-09,bankruptcy,,,2020-10-10,45000,2024-12-31,,
"""
CUTOFF = dt.date(2025, 6, 30)


def _write(path: Path, text: str = CLEAN) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _edit(text: str, line: int, column: str, value: str) -> str:
    """Set one cell (line numbers as in the file: header = 1)."""
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _frame(text: str = CLEAN) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------------------------------- clean tapes
def test_clean_history_loads(tmp_path: Path) -> None:
    h = load_history([_write(tmp_path / "h.csv")], as_of=CUTOFF)
    a = h.assets
    assert list(a.columns) == list(HISTORY_ASSET_COLUMNS)
    assert h.cutoff == CUTOFF and h.files == [str(tmp_path / "h.csv")]
    assert (a["amc_id"] == "H").all()  # from the file stem
    assert a["resolution"].tolist() == ["auction", "settled", "write_off", "open", "open", ""]
    assert (a["resolved_on"].isna() == (a["resolution"] == "open")).all()
    assert a["source_row"].tolist() == [2, 3, 4, 5, 6, 7]
    assert a["recovered"].tolist() == [420000, 6000, 0, 150000, 10000, 45000]
    assert a["costs"].isna().tolist() == [False, False, True, False, True, True]
    assert a["predicted_recovery"].isna().all() and a["predicted_months"].isna().all()
    assert str(a["asset_type"].dtype) == "category" and str(a["province"].dtype) == "category"
    assert a["valued_on"].dtype == "datetime64[ns]" and a["resolved_on"].dtype == "datetime64[ns]"
    assert a["lien_rank"].fillna(0).tolist() == [1, 0, 0, 2, 1, 0]


def test_cutoff_defaults_to_the_latest_date(tmp_path: Path) -> None:
    h = load_history([_write(tmp_path / "h.csv")])
    assert h.cutoff == dt.date(2024, 12, 31)  # H6's resolved_on is later than every valued_on


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_chinese_headers_and_labels_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    df = _frame()
    df["resolution"] = ["拍卖", "和解", "核销", "未结", "", ""]
    df["province"] = ["浙江省", "广东", "四川", "江苏", "北京", "黑龙江"]
    df["valued_on"] = df["valued_on"].str.replace("-", "/")
    df = df.rename(columns=first_history_chinese_header())
    assert {"估值日", "已回收金额", "结清日", "处置方式", "处置费用"} <= set(df.columns)
    path = tmp_path / "zj.csv"
    path.write_bytes(df.to_csv(index=False).encode(encoding))
    a = load_history([path], as_of=CUTOFF).assets
    assert (a["amc_id"] == "ZJ").all()
    assert a["resolution"].tolist() == ["auction", "settled", "write_off", "open", "open", ""]
    assert a["province"].astype(str).tolist() == ["CN-ZJ", "CN-GD", "CN-SC", "CN-JS", "CN-BJ", "CN-HL"]
    assert a["valued_on"].iloc[0] == pd.Timestamp("2019-01-15")


def test_alternative_chinese_aliases(tmp_path: Path) -> None:
    df = _frame().rename(columns={"valued_on": "估值基准日", "recovered": "累计回收金额", "resolved_on": "处置完成日"})
    df["资产管理公司"] = "GD"
    df["预测回收金额"] = ["500000", "8000", "1000", "400000", "300000", "60000"]
    df["预测回收月数"] = ["20", "6", "12", "30", "24", "18"]
    path = tmp_path / "whatever.csv"
    df.to_csv(path, index=False)
    a = load_history([path], as_of=CUTOFF).assets
    assert (a["amc_id"] == "GD").all()
    assert a["predicted_recovery"].tolist() == [500000, 8000, 1000, 400000, 300000, 60000]
    assert a["predicted_months"].iloc[3] == 30
    assert a["recovered"].iloc[0] == 420000


def test_loan_tape_expected_columns_are_predictions_in_a_history(tmp_path: Path) -> None:
    df = _frame()
    df["预计回收金额"] = "1000"
    df["expected_months"] = "12"
    df.to_csv(tmp_path / "h.csv", index=False)
    a = load_history([tmp_path / "h.csv"], as_of=CUTOFF).assets
    assert (a["predicted_recovery"] == 1000).all() and (a["predicted_months"] == 12).all()


def test_xlsx_with_title_row(tmp_path: Path) -> None:
    df = _frame()
    for c in ("gbv", "principal", "recovered"):
        df[c] = df[c].astype(float)
    for c in ("default_date", "valued_on", "resolved_on"):
        df[c] = pd.to_datetime(df[c].replace("", None))
    df["resolution"] = ["拍卖", "和解", "核销", "未结", "", ""]
    df = df.rename(columns=first_history_chinese_header())
    path = tmp_path / "zj.xlsx"

    def write(frame: pd.DataFrame) -> None:
        with pd.ExcelWriter(path, engine="xlsxwriter", datetime_format="yyyy-mm-dd") as xw:
            frame.to_excel(xw, sheet_name="处置历史", startrow=1, index=False)
            xw.sheets["处置历史"].write(0, 0, "浙江省资产管理公司 不良资产处置历史")

    write(df)
    a = load_history([path], as_of=CUTOFF).assets
    assert a["source_row"].tolist() == [3, 4, 5, 6, 7, 8]  # title row 1, header row 2
    assert a["resolved_on"].iloc[0] == pd.Timestamp("2021-06-30") and pd.isna(a["resolved_on"].iloc[3])
    assert a["resolution"].tolist() == ["auction", "settled", "write_off", "open", "open", ""]

    df.loc[1, "已回收金额"] = -3.0
    write(df)
    _, problems = check_history([path], as_of=CUTOFF)
    assert problems[["row", "column", "problem"]].values.tolist() == [[4, "已回收金额", "recovered is negative"]]


def test_parquet_typed_columns(tmp_path: Path) -> None:
    df = _frame()
    for c in ("gbv", "principal", "recovered", "collateral_value", "lien_rank", "costs"):
        df[c] = pd.to_numeric(df[c])
    for c in ("default_date", "valued_on", "resolved_on"):
        df[c] = pd.to_datetime(df[c].replace("", None))
    df.to_parquet(tmp_path / "nat.parquet")
    a = load_history([tmp_path / "nat.parquet"], as_of=CUTOFF).assets
    assert a["gbv"].tolist() == [1000000, 50000, 80000, 2500000, 600000, 300000]
    assert a["resolved_on"].isna().tolist() == [False, False, False, True, True, False]
    df.loc[2, "resolved_on"] = pd.Timestamp("2019-01-01")  # before its valued_on 2020-01-01
    df.to_parquet(tmp_path / "nat.parquet")
    _, problems = check_history([tmp_path / "nat.parquet"], as_of=CUTOFF)
    assert problems[["row", "column", "value"]].values.tolist() == [[4, "resolved_on", "2019-01-01"]]


# ---------------------------------------------------------------------------------------------------- validation
F = "h.csv"
# Each defect: (line, column, new value) edits, then the (row, column, value, problem pattern) rows expected.
DEFECTS: dict[str, tuple[list[tuple[int, str, str]], list[tuple[int, str, str, str]]]] = {
    "valued_on_missing": ([(2, "valued_on", "")], [(2, "valued_on", "", "valued_on is missing")]),
    "valued_on_not_a_date": ([(3, "valued_on", "June 2019")], [(3, "valued_on", "June 2019", "valued_on is not a date")]),
    "valued_on_before_default": (
        [(4, "valued_on", "2015-12-31"), (4, "resolved_on", "2016-06-01")],
        [(4, "valued_on", "2015-12-31", r"valued_on is before default_date \(2016-01-10\)")],
    ),
    "valued_on_after_cutoff": (
        [(6, "valued_on", "2025-07-01")],
        [(6, "valued_on", "2025-07-01", r"valued_on is after the cut-off \(2025-06-30\)")],
    ),
    "resolved_on_not_a_date": ([(2, "resolved_on", "soon")], [(2, "resolved_on", "soon", "resolved_on is not a date")]),
    "resolved_before_valued": (
        [(3, "resolved_on", "2019-05-31")],
        [(3, "resolved_on", "2019-05-31", r"resolved_on is before valued_on \(2019-06-01\)")],
    ),
    "resolved_after_cutoff": (
        [(7, "resolved_on", "2025-07-01")],
        [(7, "resolved_on", "2025-07-01", r"resolved_on is after the cut-off \(2025-06-30\)")],
    ),
    "recovered_missing": ([(5, "recovered", "")], [(5, "recovered", "", "recovered is missing")]),
    "recovered_negative": ([(2, "recovered", "-1")], [(2, "recovered", "-1", "recovered is negative")]),
    "recovered_not_a_number": ([(3, "recovered", "lots")], [(3, "recovered", "lots", "recovered is not a number")]),
    "costs_negative": ([(2, "costs", "-5")], [(2, "costs", "-5", "costs is negative")]),
    "open_with_resolved_on": (
        [(5, "resolved_on", "2024-01-01")],
        [(5, "resolution", "open", "resolution is 'open' but resolved_on is given")],
    ),
    "closed_without_resolved_on": (
        [(2, "resolved_on", "")],
        [(2, "resolved_on", "", "resolution is 'auction' but resolved_on is empty")],
    ),
    "unknown_resolution": ([(3, "resolution", "lottery")], [(3, "resolution", "lottery", "unknown resolution")]),
    "duplicate_asset": ([(6, "asset_id", "H2")], [(6, "asset_id", "H2", r"duplicate \(amc_id, asset_id\) \(H, H2\): first at h.csv row 3")]),
    "loan_tape_check": ([(7, "province", "Atlantis")], [(7, "province", "Atlantis", "unknown province")]),
    "principal_above_gbv": ([(2, "principal", "1000001")], [(2, "principal", "1000001", "principal is above gbv")]),
}


def _check(tmp_path: Path, text: str, as_of: dt.date | None = CUTOFF) -> pd.DataFrame:
    (tmp_path / F).write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)  # problems name the file as given: "h.csv"
        history, problems = check_history([F], as_of=as_of)
    assert (history is None) != problems.empty
    return problems


def _matches(problems: pd.DataFrame, expected: list[tuple[int, str, str, str]]) -> None:
    got = problems[["file", "row", "column", "value", "problem"]].values.tolist()
    assert len(got) == len(expected), got
    for row, column, value, pattern in expected:
        hits = [g for g in got if g[:4] == [F, row, column, value] and re.search(pattern, g[4])]
        assert hits, (row, column, value, pattern, got)


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_is_reported_where_it_is(defect: str, tmp_path: Path) -> None:
    edits, expected = DEFECTS[defect]
    text = CLEAN
    for line, column, value in edits:
        text = _edit(text, line, column, value)
    _matches(_check(tmp_path, text), expected)


def test_clean_history_has_no_problems(tmp_path: Path) -> None:
    assert _check(tmp_path, CLEAN).empty


def test_every_problem_at_once(tmp_path: Path) -> None:
    """Defects on distinct cells, applied together, are all reported in one pass, sorted by row."""
    chosen = ["valued_on_not_a_date", "recovered_negative", "resolved_after_cutoff", "open_with_resolved_on",
              "loan_tape_check", "costs_negative", "unknown_resolution"]  # fmt: skip
    text, expected = CLEAN, []
    for name in chosen:
        edits, exp = DEFECTS[name]
        for line, column, value in edits:
            text = _edit(text, line, column, value)
        expected += exp
    problems = _check(tmp_path, text)
    _matches(problems, expected)
    assert problems["row"].is_monotonic_increasing
    with pytest.raises(ValidationFailed) as info:
        (tmp_path / F).write_text(text, encoding="utf-8")
        load_history([tmp_path / F], as_of=CUTOFF)
    assert len(info.value.problems) == len(expected)


def test_missing_required_history_columns(tmp_path: Path) -> None:
    df = _frame().drop(columns=["valued_on", "recovered"])
    problems = _check(tmp_path, df.to_csv(index=False))
    assert sorted(problems[["row", "column"]].values.tolist()) == [[1, "recovered"], [1, "valued_on"]]
    assert problems["problem"].str.contains("required column").all()


def test_open_closed_consistency_without_a_resolution_column(tmp_path: Path) -> None:
    """No resolution column: resolved_on alone decides; open assets read 'open', resolved ones ''."""
    (tmp_path / "h.csv").write_text(_frame().drop(columns=["resolution"]).to_csv(index=False), encoding="utf-8")
    a = load_history([tmp_path / "h.csv"], as_of=CUTOFF).assets
    assert a["resolution"].tolist() == ["", "", "", "open", "open", ""]


def test_unreadable_resolved_on_is_not_taken_as_open(tmp_path: Path) -> None:
    """A resolved_on that is not a date is one problem, not also 'auction but resolved_on is empty'."""
    problems = _check(tmp_path, _edit(CLEAN, 2, "resolved_on", "31/06/2021"))
    assert problems["problem"].tolist() == ["resolved_on is not a date (use yyyy-mm-dd)"]


def test_duplicates_across_files_of_one_amc(tmp_path: Path) -> None:
    """Two files of AMC 'X' (amc_id column) sharing asset H3: the repeat names the first file and row."""
    one, two = _frame(), _frame().iloc[2:4]
    one["amc_id"], two["amc_id"] = "X", "X"
    one.to_csv(tmp_path / "x2019.csv", index=False)
    two.to_csv(tmp_path / "x2020.csv", index=False)
    _, problems = check_history([tmp_path / "x2019.csv", tmp_path / "x2020.csv"], as_of=CUTOFF)
    assert problems[["row", "column", "value"]].values.tolist() == [[2, "asset_id", "H3"], [3, "asset_id", "H4"]]
    assert (problems["file"] == str(tmp_path / "x2020.csv")).all()
    assert problems["problem"].iloc[0].endswith(f"first at {tmp_path / 'x2019.csv'} row 4")
    # the same ids under different AMCs are different assets
    two["amc_id"] = "Y"
    two.to_csv(tmp_path / "x2020.csv", index=False)
    h = load_history([tmp_path / "x2019.csv", tmp_path / "x2020.csv"], as_of=CUTOFF)
    assert h.assets.groupby("amc_id").size().to_dict() == {"X": 6, "Y": 2}


def test_empty_amc_id_and_unreadable_files(tmp_path: Path) -> None:
    df = _frame()
    df["amc_id"] = ["A", "", "A", "A", "A", "A"]
    df.to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "empty.csv").write_bytes(b"")
    _, problems = check_history([tmp_path / "a.csv", tmp_path / "empty.csv", tmp_path / "nope.csv"], as_of=CUTOFF)
    got = sorted(map(tuple, problems[["file", "row", "column"]].values.tolist()))
    assert got == sorted([(str(tmp_path / "a.csv"), 3, "amc_id"), (str(tmp_path / "empty.csv"), 0, ""),
                          (str(tmp_path / "nope.csv"), 0, "")])  # fmt: skip


def test_column_map_wins_and_unknown_targets_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text(CLEAN.replace("recovered,", "collected_cny,", 1), encoding="utf-8")
    a = load_history([tmp_path / "h.csv"], as_of=CUTOFF, columns={"collected_cny": "recovered"}).assets
    assert a["recovered"].sum() == 631000
    with pytest.raises(InputError, match="unknown canonical"):
        load_history([tmp_path / "h.csv"], columns={"collected_cny": "cash"})
    with pytest.raises(InputError, match="no history files"):
        load_history([])


def test_normalize_resolution() -> None:
    got = normalize_resolution(pd.Series(["和解", "司法拍卖", "债权转让", "重组", "核销", "未结", "Write_Off", "", "x"]))
    assert got.iloc[:8].tolist() == ["settled", "auction", "transfer", "restructuring", "write_off", "open", "write_off", ""]
    assert pd.isna(got.iloc[8])
