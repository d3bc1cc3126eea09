"""Tape reading and validation: the bad-tape corpus, encodings, Excel, header aliases, pooling."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pooling.errors import ValidationFailed
from pooling.scenario import load_scenario
from pooling.tapes.load import check_tapes, load_tapes
from tests.conftest import CLEAN_A, CLEAN_B, LINKS, write_scenario


def _edit_csv(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell of a simple CSV (line numbers as in the file: header = 1)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _rename_header(path: Path, old: str, new: str | None) -> None:
    """Rename a header (None drops the column)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df.drop(columns=old) if new is None else df.rename(columns={old: new})
    df.to_csv(path, index=False)


def _add_column(path: Path, name: str, values: list[str]) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df[name] = values
    df.to_csv(path, index=False)


A, B, L = "data/a.csv", "data/b.csv", "data/links.csv"

# Each defect: how to make it, then the (file, row, column, problem pattern) rows that must be reported.
CORPUS: dict[str, tuple[Callable[[Path], None], list[tuple[str, int, str, str]]]] = {
    "missing_column": (lambda d: _rename_header(d / "a.csv", "province", None), [(A, 1, "province", "required column 'province' is missing")]),
    "unmapped_header": (
        lambda d: _rename_header(d / "a.csv", "gbv", "本息费余额(万元)"),
        [(A, 1, "gbv", r"missing; unrecognised headers: \['本息费余额\(万元\)'\]")],
    ),
    "ambiguous_header": (lambda d: _rename_header(d / "b.csv", "source_loan_id", "asset_id"), [(B, 1, "asset_id", "two columns map to 'asset_id'")]),
    "not_a_number": (lambda d: _edit_csv(d / "a.csv", 3, "gbv", "abc"), [(A, 3, "gbv", "gbv is not a number")]),
    "nan_amount": (lambda d: _edit_csv(d / "a.csv", 4, "principal", "NaN"), [(A, 4, "principal", "principal is not a number")]),
    "empty_amount": (lambda d: _edit_csv(d / "b.csv", 2, "gbv", ""), [(B, 2, "gbv", "gbv is missing")]),
    "negative_amount": (lambda d: _edit_csv(d / "a.csv", 2, "collateral_value", "-5"), [(A, 2, "collateral_value", "negative")]),
    "principal_above_gbv": (lambda d: _edit_csv(d / "a.csv", 5, "principal", "80001"), [(A, 5, "principal", r"principal is above gbv \(80,000.00\)")]),
    "unknown_province": (lambda d: _edit_csv(d / "a.csv", 3, "province", "Atlantis"), [(A, 3, "province", "unknown province")]),
    "unknown_industry": (lambda d: _edit_csv(d / "a.csv", 2, "industry", "Z"), [(A, 2, "industry", "unknown industry")]),
    "unknown_asset_type": (lambda d: _edit_csv(d / "b.csv", 3, "asset_type", "car_loan"), [(B, 3, "asset_type", "unknown asset_type")]),
    "unknown_collateral": (lambda d: _edit_csv(d / "a.csv", 4, "collateral_type", "gold"), [(A, 4, "collateral_type", "unknown collateral_type")]),
    "unknown_legal_status": (lambda d: _edit_csv(d / "a.csv", 5, "legal_status", "appeal"), [(A, 5, "legal_status", "unknown legal_status")]),
    "bad_date": (lambda d: _edit_csv(d / "a.csv", 2, "default_date", "2023-13-45"), [(A, 2, "default_date", "not a date")]),
    "date_after_as_of": (lambda d: _edit_csv(d / "b.csv", 2, "default_date", "2026-07-01"), [(B, 2, "default_date", r"after as_of \(2026-06-30\)")]),
    "duplicate_asset_id": (lambda d: _edit_csv(d / "a.csv", 4, "asset_id", "A1"), [(A, 4, "asset_id", "duplicate asset_id: first on row 2")]),
    "empty_obligor_id": (lambda d: _edit_csv(d / "a.csv", 3, "obligor_id", ""), [(A, 3, "obligor_id", "obligor_id is empty")]),
    "lien_rank_fraction": (lambda d: _edit_csv(d / "a.csv", 2, "lien_rank", "1.5"), [(A, 2, "lien_rank", "whole number")]),
    "same_claim_two_amcs": (
        lambda d: _edit_csv(d / "b.csv", 3, "source_loan_id", "L-A3"),
        [(A, 4, "source_loan_id", "also contributed at B data/b.csv row 3"), (B, 3, "source_loan_id", "also contributed at A data/a.csv row 4")],
    ),
    "link_empty_id": (lambda d: (d / "links.csv").write_text(LINKS + ",O1,guarantee\n", encoding="utf-8"), [(L, 4, "from_obligor", "empty")]),
    "link_unknown_relation": (lambda d: (d / "links.csv").write_text(LINKS + "O1,O3,friend\n", encoding="utf-8"), [(L, 4, "relation", "unknown relation")]),
    "link_to_itself": (lambda d: (d / "links.csv").write_text(LINKS + "O1,O1,control\n", encoding="utf-8"), [(L, 4, "from_obligor", "to itself")]),
    "empty_file": (lambda d: (d / "b.csv").write_bytes(b""), [(B, 0, "", "empty file")]),
    "header_only": (lambda d: (d / "b.csv").write_text(CLEAN_B.splitlines()[0] + "\n", encoding="utf-8"), [(B, 1, "", "a header but no rows")]),
    "wrong_encoding": (lambda d: (d / "b.csv").write_bytes(CLEAN_B.encode("utf-16")), [(B, 0, "", "neither UTF-8 nor GBK")]),
    "missing_file": (lambda d: (d / "b.csv").unlink(), [(B, 0, "", "file not found")]),
    "lone_expected_recovery": (
        lambda d: _add_column(d / "b.csv", "expected_recovery", ["1000", "2000"]),
        [(B, 1, "expected_months", "no expected_months column")],
    ),
}


@pytest.mark.parametrize("defect", sorted(CORPUS))
def test_bad_tape_corpus(defect: str, clean_scenario: Path) -> None:
    make, expected = CORPUS[defect]
    make(clean_scenario.parent / "data")
    tapes, problems = check_tapes(load_scenario(clean_scenario))
    assert tapes is None
    assert list(problems.columns) == ["file", "row", "column", "value", "problem"]
    for file, row, column, pattern in expected:
        hit = problems[(problems["file"] == file) & (problems["row"] == row) & (problems["column"] == column)]
        assert hit["problem"].str.contains(pattern, regex=True).any(), (defect, file, row, column, problems.to_dict("records"))
    # Nothing else is flagged: the corpus injects exactly the listed defects.
    assert len(problems) == len(expected), problems.to_dict("records")


def test_all_problems_reported_at_once(clean_scenario: Path) -> None:
    d = clean_scenario.parent / "data"
    for defect in ("not_a_number", "unknown_province", "date_after_as_of", "link_unknown_relation", "same_claim_two_amcs"):
        CORPUS[defect][0](d)
    with pytest.raises(ValidationFailed) as info:
        load_tapes(load_scenario(clean_scenario))
    problems = info.value.problems
    assert set(problems["file"]) == {A, B, L}
    assert len(problems) == 6
    assert problems["row"].is_monotonic_increasing or problems.groupby("file")["row"].apply(lambda r: r.is_monotonic_increasing).all()


def test_value_shown_as_written(clean_scenario: Path) -> None:
    _edit_csv(clean_scenario.parent / "data" / "a.csv", 3, "province", " Atlantis ")
    _, problems = check_tapes(load_scenario(clean_scenario))
    assert problems.loc[0, "value"] == "Atlantis"


def test_clean_tapes_pool(clean_scenario: Path) -> None:
    tapes = load_tapes(load_scenario(clean_scenario))
    a = tapes.assets
    assert len(a) == 6
    assert not a.duplicated(["amc_id", "asset_id"]).any()
    assert a["province"].astype(str).tolist() == ["CN-ZJ", "CN-ZJ", "CN-JS", "CN-GD", "CN-GD", "CN-ZJ"]
    assert a["gbv"].dtype == float and a["gbv"].sum() == 5_080_000
    assert a.loc[a["asset_id"] == "A2", "lien_rank"].isna().all()
    assert a["source_row"].tolist() == [2, 3, 4, 5, 2, 3]
    # links file + guarantor_ids (O2 guarantees O1)
    rel = set(map(tuple, tapes.links.to_numpy()))
    assert ("O2", "O1", "guarantee") in rel and ("O3", "O4", "control") in rel


def _tape_frame() -> pd.DataFrame:
    return pd.read_csv(__import__("io").StringIO(CLEAN_A), dtype=str, keep_default_na=False)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_encodings_with_chinese_headers(tmp_path: Path, encoding: str) -> None:
    from pooling.tapes.headers import first_chinese_header

    zh = first_chinese_header()
    df = _tape_frame().rename(columns=zh)
    df["违约日期"] = df["违约日期"].str.replace("-", "/")
    data = tmp_path / "data"
    data.mkdir()
    (data / "t.csv").write_bytes(df.to_csv(index=False).encode(encoding))
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.csv"}], links=None)
    tapes = load_tapes(load_scenario(s))
    assert tapes.assets["asset_id"].tolist() == ["A1", "A2", "A3", "A4"]
    assert tapes.assets["default_date"].iloc[0] == pd.Timestamp("2023-01-15")


def test_xlsx_with_title_rows_and_chinese_labels(tmp_path: Path) -> None:
    from pooling.tapes.headers import first_chinese_header

    df = _tape_frame()
    df["asset_type"] = ["对公", "小微", "对公", "信用卡"]
    df["collateral_type"] = ["住宅", "信用", "商业", "信用"]
    df["legal_status"] = ["诉讼中", "已判决", "执行中", "未诉"]
    df["province"] = ["浙江省", "浙江", "江苏省", "广东"]
    df["industry"] = ["制造业", "F", "房地产业", "T"]
    df["gbv"] = df["gbv"].astype(float)
    df["default_date"] = pd.to_datetime(df["default_date"])
    df = df.rename(columns=first_chinese_header())
    data = tmp_path / "data"
    data.mkdir()
    path = data / "t.xlsx"
    with pd.ExcelWriter(path, engine="xlsxwriter") as xw:
        df.to_excel(xw, sheet_name="清单", startrow=2, index=False)
        xw.sheets["清单"].write(0, 0, "某资产管理公司 不良资产清单")
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.xlsx"}], links=None)
    tapes = load_tapes(load_scenario(s))
    a = tapes.assets
    assert a["asset_type"].astype(str).tolist() == ["corporate", "sme", "corporate", "credit_card"]
    assert a["industry"].astype(str).tolist() == ["C", "F", "K", "T"]
    assert a["source_row"].tolist() == [4, 5, 6, 7]  # title row 1, blank row 2, header row 3

    # a defect in an Excel tape is reported at its Excel row
    df.loc[2, "省份"] = "火星"
    with pd.ExcelWriter(path, engine="xlsxwriter") as xw:
        df.to_excel(xw, sheet_name="清单", startrow=2, index=False)
        xw.sheets["清单"].write(0, 0, "某资产管理公司 不良资产清单")
    _, problems = check_tapes(load_scenario(s))
    assert problems[["file", "row", "column", "value"]].values.tolist() == [["data/t.xlsx", 6, "省份", "火星"]]


def test_csv_title_row_is_skipped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "t.csv").write_text("XX资产管理公司 不良资产清单\n" + CLEAN_A, encoding="utf-8")
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.csv"}], links=None)
    a = load_tapes(load_scenario(s)).assets
    assert a["source_row"].tolist() == [3, 4, 5, 6]


def test_scenario_column_map_wins(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "t.csv").write_text(CLEAN_A.replace("gbv,", "债权本息合计,", 1), encoding="utf-8")
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.csv"}], links=None, columns={"债权本息合计": "gbv"})
    assert load_tapes(load_scenario(s)).assets["gbv"].sum() == 4_080_000


def test_parquet_tape(tmp_path: Path) -> None:
    df = _tape_frame()
    for c in ("gbv", "principal", "collateral_value", "lien_rank"):
        df[c] = pd.to_numeric(df[c])
    df["default_date"] = pd.to_datetime(df["default_date"])
    data = tmp_path / "data"
    data.mkdir()
    df.to_parquet(data / "t.parquet")
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.parquet"}], links=None)
    a = load_tapes(load_scenario(s)).assets
    assert a["gbv"].tolist() == [1_000_000, 500_000, 2_500_000, 80_000]
    df.loc[1, "gbv"] = -1.0
    df.to_parquet(data / "t.parquet")
    _, problems = check_tapes(load_scenario(s))
    assert problems[["row", "column"]].values.tolist() == [[3, "gbv"], [3, "principal"]]  # negative, and below principal


def test_parquet_binary_columns_are_read_as_text_and_undecodable_values_named(tmp_path: Path) -> None:
    """A Parquet column of bytes (binary) is text: UTF-8 or GBK bytes are read as that text; a value that is
    neither is a problem naming its row and column — not a crash."""
    df = _tape_frame()
    data = tmp_path / "data"
    data.mkdir()
    df["obligor_id"] = [v.encode("utf-8") for v in df["obligor_id"]]
    df["province"] = [v.encode("gbk") for v in df["province"]]  # 浙江, 广东省 in GBK: not UTF-8
    df.loc[3, "province"] = "广东省".encode()  # and one value in UTF-8
    df.to_parquet(data / "t.parquet")
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.parquet"}], links=None)
    a = load_tapes(load_scenario(s)).assets
    assert a["obligor_id"].tolist() == ["O1", "O2", "O3", "O4"]
    assert a["province"].tolist() == ["CN-ZJ", "CN-ZJ", "CN-JS", "CN-GD"]
    df.loc[2, "obligor_id"] = b"O\xff\xfe"
    df.to_parquet(data / "t.parquet")
    _, problems = check_tapes(load_scenario(s))
    assert problems[["row", "column"]].values.tolist() == [[4, "obligor_id"]]
    assert "not text" in problems["problem"].iloc[0]


def test_parquet_nullable_integer_columns_are_read_with_their_gaps(tmp_path: Path) -> None:
    """Parquet's nullable integers (pandas Int64) in a text column — numeric obligor ids with a gap — read as the
    ids' digits, the gap a missing value reported as such."""
    df = _tape_frame()
    df["obligor_id"] = pd.array([1, 2, None, 2**62], dtype="Int64")
    data = tmp_path / "data"
    data.mkdir()
    df.to_parquet(data / "t.parquet")
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.parquet"}], links=None)
    _, problems = check_tapes(load_scenario(s))
    assert problems[["row", "column"]].values.tolist() == [[4, "obligor_id"]]
    df.loc[2, "obligor_id"] = 3
    df.to_parquet(data / "t.parquet")
    assert load_tapes(load_scenario(s)).assets["obligor_id"].tolist() == ["1", "2", "3", str(2**62)]


def test_thousands_separators_and_excel_style_ids(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    text = CLEAN_A.replace(",1000000,800000,", ',"1,000,000.00","800,000",')
    (data / "t.csv").write_text(text, encoding="utf-8")
    s = write_scenario(tmp_path, [{"id": "A", "kind": "national", "tape": "data/t.csv"}], links=None)
    assert load_tapes(load_scenario(s)).assets["gbv"].iloc[0] == 1_000_000


def test_problem_messages_name_the_fix(clean_scenario: Path) -> None:
    CORPUS["missing_column"][0](clean_scenario.parent / "data")
    _, problems = check_tapes(load_scenario(clean_scenario))
    assert re.search(r"`columns`", problems.loc[0, "problem"])


def test_unquoted_comma_rows_are_named_not_truncated(clean_scenario: Path) -> None:
    """A row with more fields than the header (text with a comma, unquoted) is a problem naming that row; pandas
    would otherwise drop the extra cells with only a warning."""
    path = clean_scenario.parent / "data" / "a.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("A2,O2,", "A2,O2,Acme, Ltd,", 1)
    lines[4] = lines[4] + ",extra"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, problems = check_tapes(load_scenario(clean_scenario))
    mine = problems[problems["file"] == A]
    assert mine["row"].tolist() == [3, 5]
    assert mine["problem"].str.contains("quote text that contains commas").all()
    assert mine["value"].tolist()[1] == "extra"


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_semicolon_tab_and_pipe_delimited_files_read_like_csv(clean_scenario: Path, sep: str) -> None:
    d = clean_scenario.parent / "data"
    clean = load_tapes(load_scenario(clean_scenario)).assets
    for name in ("a.csv", "b.csv", "links.csv"):
        (d / name).write_text((d / name).read_text(encoding="utf-8").replace(",", sep), encoding="utf-8")
    again = load_tapes(load_scenario(clean_scenario)).assets
    pd.testing.assert_frame_equal(again, clean)


def test_far_dates_are_problems_not_crashes(clean_scenario: Path) -> None:
    _edit_csv(clean_scenario.parent / "data" / "b.csv", 2, "default_date", "9999-12-31")
    _edit_csv(clean_scenario.parent / "data" / "a.csv", 3, "default_date", "1066-10-14")
    _, problems = check_tapes(load_scenario(clean_scenario))
    assert sorted(problems["value"]) == ["1066-10-14", "9999-12-31"]
    assert (problems["column"] == "default_date").all()


def test_files_too_large_to_read_are_refused_before_reading(clean_scenario: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tape whose expanded size is above the limit is a problem at row 0; a workbook is judged by what it
    decompresses to (a zip bomb), not by its size on disk."""
    import xlsxwriter

    import pooling.tapes.load as load

    d = clean_scenario.parent / "data"
    book = xlsxwriter.Workbook(str(d / "bomb.xlsx"))
    sheet = book.add_worksheet()
    for r in range(20_000):
        sheet.write_number(r, 0, 0)
    book.close()
    packed = (d / "bomb.xlsx").stat().st_size
    monkeypatch.setattr(load, "MAX_INPUT_BYTES", 10 * packed)
    doc = load_scenario(clean_scenario).model_dump(mode="json")
    doc["amcs"][1]["tape"] = "data/bomb.xlsx"
    sc = load_scenario(clean_scenario).model_validate({**doc, "base_dir": clean_scenario.parent})
    _, problems = check_tapes(sc)
    bomb = problems[problems["file"].str.endswith("bomb.xlsx")]
    assert len(bomb) == 1 and bomb["row"].iloc[0] == 0
    assert "decompresses from" in bomb["problem"].iloc[0] and "--max-input-gb" in bomb["problem"].iloc[0]
    assert not problems["file"].str.endswith("a.csv").any()  # the small tape is read as usual
    monkeypatch.setattr(load, "MAX_INPUT_BYTES", 40)
    _, problems = check_tapes(load_scenario(clean_scenario))
    assert set(problems["file"]) == {A, B, L} and (problems["row"] == 0).all()
