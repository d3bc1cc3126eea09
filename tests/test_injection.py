"""Text from the tapes never runs as a formula or a script in what the tool writes (DESIGN §14).

An obligor and an asset named like a spreadsheet formula or an HTML script go through a whole consortium run; every
CSV cell and header, every XLSX cell and every HTML page written is then checked from the files themselves."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.io import neutralise_formulas, read_csv, restore_formulas, write_csv

FORMULA = '=HYPERLINK("http://x","y")'
SCRIPT = "<script>alert(1)</script>"
ATTACKS = {"A1": ("asset_id", "@SUM(A1)"), "A3": ("asset_id", SCRIPT)}


@pytest.fixture
def hostile_run(clean_scenario: Path, tmp_path: Path) -> Path:
    data = clean_scenario.parent / "data"
    tape = (data / "a.csv").read_text(encoding="utf-8")
    quoted = '"' + FORMULA.replace('"', '""') + '"'
    tape = tape.replace("A1,O1,", f"@SUM(A1),{quoted},").replace("A3,O3,", f"{SCRIPT},-2+3,")
    (data / "a.csv").write_text(tape, encoding="utf-8")
    (data / "links.csv").write_text("from_obligor,to_obligor,relation\n-2+3,O4,control\n", encoding="utf-8")
    doc = yaml.safe_load(clean_scenario.read_text(encoding="utf-8"))
    doc |= {"consortium": {}, "structure": {"servicer_base_fee": "plan"}}
    clean_scenario.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(clean_scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _risky(text: str) -> bool:
    return bool(re.match(r"[=+\-@\t\r]", text)) and not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text)


def test_no_csv_cell_or_header_starts_a_formula(hostile_run: Path) -> None:
    seen = set()
    for path in sorted(hostile_run.glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        cells = [*frame.columns, *frame.to_numpy().ravel().tolist()]
        bad = [c for c in cells if _risky(c)]
        assert not bad, f"{path.name}: {bad[:5]}"
        seen |= {c for c in cells if c.startswith("'")}
    assert "'@SUM(A1)" in seen  # the hostile asset id reached the outputs, neutralised
    pool = read_csv(hostile_run / "pool.csv", dtype={"asset_id": str})
    assert {"@SUM(A1)", SCRIPT} & set(pool["asset_id"])  # ...and the tool reads its own files back as written


def test_no_xlsx_cell_is_a_formula_built_from_input_text(hostile_run: Path) -> None:
    books = sorted(hostile_run.glob("*.xlsx"))
    assert books
    for book in books:
        with zipfile.ZipFile(book) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    xml = z.read(name).decode("utf-8")
                    formulas = re.findall(r"<f>(.*?)</f>", xml)
                    assert not [f for f in formulas if "HYPERLINK" in f or "SUM(A1)" in f], (book.name, formulas)
                    assert "<hyperlink" not in xml


def test_html_never_carries_the_script_unescaped(hostile_run: Path) -> None:
    pages = sorted(hostile_run.glob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert SCRIPT not in text, page.name
        assert "</script>alert" not in text and "<script>alert" not in text


def test_neutralise_round_trips_and_spares_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [FORMULA, "-5", "-1+2", "@x", "ok", None, "\tq", "+3.5e2"], "n": range(8),
                          "=bad": ["a"] * 8})
    safe = neutralise_formulas(frame)
    assert safe["id"].tolist()[:5] == ["'" + FORMULA, "-5", "'-1+2", "'@x", "ok"]
    assert safe["id"].tolist()[6:] == ["'\tq", "+3.5e2"] and list(safe.columns)[2] == "'=bad"
    assert frame["id"].iloc[0] == FORMULA  # the caller's frame is untouched
    assert restore_formulas(safe)[["id", "n"]].equals(frame[["id", "n"]])
    write_csv(frame, tmp_path / "f.csv")
    back = read_csv(tmp_path / "f.csv", dtype={"id": str})
    assert back["id"].fillna("").tolist() == frame["id"].fillna("").tolist()
