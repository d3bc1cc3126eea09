"""The links file: a header with no rows means "no links" (the tapes' guarantor_ids still link obligors)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pooling.graph import build_groups
from pooling.scenario import load_scenario
from pooling.tapes.load import check_tapes


def _header_only(path: Path, suffix: str, blank_lines: int) -> Path:
    target = path.with_suffix(suffix)
    if suffix == ".csv":
        target.write_text("from_obligor,to_obligor,relation\n" + "\n" * blank_lines, encoding="utf-8")
    else:
        pd.DataFrame(columns=["from_obligor", "to_obligor", "relation"]).to_excel(target, index=False)
    return target


@pytest.mark.parametrize(("suffix", "blank_lines"), [(".csv", 0), (".csv", 2), (".xlsx", 0)])
def test_links_header_without_rows_means_no_links(clean_scenario: Path, suffix: str, blank_lines: int) -> None:
    links = _header_only(clean_scenario.parent / "data" / "links.csv", suffix, blank_lines)
    text = clean_scenario.read_text(encoding="utf-8").replace("data/links.csv", f"data/{links.name}")
    clean_scenario.write_text(text, encoding="utf-8")
    tapes, problems = check_tapes(load_scenario(clean_scenario))
    assert problems.empty, problems.to_dict("records")
    assert tapes is not None
    # Only the tapes' own guarantor_ids link obligors: A1 is guaranteed by O2 (fixture tape a.csv).
    assert tapes.links[["from_obligor", "to_obligor", "relation"]].values.tolist() == [["O2", "O1", "guarantee"]]
    groups = build_groups(tapes.links).assign(tapes.assets)
    group = groups.drop_duplicates("obligor_id").set_index("obligor_id")["group_id"]
    assert group["O1"] == group["O2"]
    assert group["O3"] != group["O4"]  # their control link was in the file that is now empty


def test_links_header_must_still_be_right(clean_scenario: Path) -> None:
    (clean_scenario.parent / "data" / "links.csv").write_text("from_obligor,to_obligr,relation\n", encoding="utf-8")
    tapes, problems = check_tapes(load_scenario(clean_scenario))
    assert tapes is None
    assert problems["file"].eq("data/links.csv").any()


def test_tape_header_without_rows_is_still_a_problem(clean_scenario: Path) -> None:
    tape = clean_scenario.parent / "data" / "b.csv"
    tape.write_text(tape.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    tapes, problems = check_tapes(load_scenario(clean_scenario))
    assert tapes is None
    assert problems["problem"].str.contains("a header but no rows").any()
