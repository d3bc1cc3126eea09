"""docs/tranching.md quotes the demo's deal; the figures are re-derived here so that the page cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pooling.pipeline import run_pipeline
from pooling.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
QUOTE = re.compile(r"senior CNY ([\d,]+\.\d)m, ([\d.]+) of expected\s+recovery, coverage ([\d.]+)×, sub IRR ([\d.]+)%")


def test_demo_deal_quoted_in_docs_is_current() -> None:
    text = (ROOT / "docs" / "tranching.md").read_text(encoding="utf-8")
    found = QUOTE.search(text)
    assert found, "docs/tranching.md no longer quotes the demo's deal in the expected form"
    senior_m, share, coverage, sub_irr = found.groups()
    m = run_pipeline(load_scenario(ROOT / "scenarios" / "demo" / "scenario.yaml"))
    assert m["status"] == "optimal"
    assert senior_m == f"{m['senior_size'] / 1e6:,.1f}"
    assert float(share) == pytest.approx(m["senior_share_of_expected_recovery"], abs=5e-4)
    assert float(coverage) == pytest.approx(m["senior_coverage"], abs=5e-3)
    assert float(sub_irr) == pytest.approx(100 * m["sub_irr"], abs=0.05)
