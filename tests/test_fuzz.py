"""Fuzzed inputs never end in a traceback, a hang or a partial output (DESIGN §14); see tests/fuzzing.py.

The default run tries 200 cases over tapes, links, scenario, study, shelf plan and history files, and 20 over
servicer reports (``pooling monitor`` on a small issued deal); ``benchmarks/bench_fuzz.py`` runs 10,000 of all
kinds together."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzzing import fuzz


def _check(outcomes) -> None:
    failed = [o for o in outcomes if o.problem is not None]
    assert not failed, "\n".join(f"case {o.case} {o.mutations}: {o.problem}" for o in failed[:5])
    codes = {o.exit_code for o in outcomes}
    assert {0, 1} <= codes  # the mutations both spare and break inputs: the harness is not vacuous


@pytest.mark.slow
def test_200_fuzzed_inputs_end_in_an_answer(tmp_path: Path) -> None:
    _check(fuzz(tmp_path, cases=200, seed=0))


@pytest.mark.slow
def test_20_fuzzed_servicer_reports_end_in_an_answer(tmp_path: Path) -> None:
    outcomes = fuzz(tmp_path, cases=20, seed=0, commands=("monitor",))
    _check(outcomes)
    kinds = {m.split(" ")[0] for o in outcomes for m in o.mutations}
    assert {"report-excel", "report-parquet", "report-encoding"} <= kinds
