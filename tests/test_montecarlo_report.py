"""`structure.sizing: monte_carlo` end to end: the run's files, console and reports carry the scenario view."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.tapes.synth import demo_amcs, write_consortium

runner = CliRunner()


def test_monte_carlo_run_writes_the_scenario_view(tmp_path: Path) -> None:
    scenario = write_consortium(tmp_path, n_assets=1500, amcs=demo_amcs(), seed=5, as_of=dt.date(2026, 6, 30))
    doc = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    doc["structure"] = {**doc.get("structure", {}), "sizing": "monte_carlo",
                        "monte_carlo": {"scenarios": 2000, "seed": 3}}
    doc.pop("consortium", None)
    scenario.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output.replace("\n", " ")
    assert "senior sized by Monte Carlo" in text and "Monte Carlo (2,000 scenarios)" in text

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))["structure"]
    assert summary["sizing"] == "monte_carlo"
    stresses = pd.read_csv(out / "stresses.csv", encoding="utf-8-sig")
    mc = stresses[stresses["method"] == "monte_carlo"]
    aaa = mc[mc["rating"] == "AAA"].iloc[0]
    # the issued senior is the AAA Monte Carlo size; it meets its target share, and its loss probability is the rest
    assert aaa["max_senior"] == summary["senior_size"]
    assert aaa["pass_share"] >= aaa["target_share"] - 1e-12
    assert summary["senior_loss_probability"] == pytest.approx(1 - aaa["pass_share"])
    assert (mc["collections_p1"] <= mc["collections_p50"]).all() and (mc["collections_p50"] <= mc["collections_p99"]).all()
    # lower ratings may issue more, never less
    order = mc.set_index("rating").loc[["AAA", "AA", "A", "BBB"], "max_senior"].to_numpy()
    assert (order[1:] >= order[:-1]).all()

    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="montecarlo"' in html and "fig-fan" in html and "Senior loss probability" in html
