"""``pooling value`` and the scenario's choice of valuation (priors or a calibrated model folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.errors import ScenarioError
from pooling.pipeline import VALUE_COLUMNS, prepare, value_scenario
from pooling.scenario import ModelParameters, load_scenario

runner = CliRunner()


def _with_valuation(path: Path, valuation: dict) -> Path:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["valuation"] = valuation
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_model_key_takes_a_folder_or_prior_overrides(clean_scenario: Path) -> None:
    s = load_scenario(_with_valuation(clean_scenario, {"model": "models/m1"}))
    assert s.model_dir == clean_scenario.parent / "models" / "m1"
    assert s.valuation.priors == ModelParameters()
    s = load_scenario(_with_valuation(clean_scenario, {"model": {"max_rate": 0.5}}))
    assert s.model_dir is None and s.valuation.priors.max_rate == 0.5
    with pytest.raises(ScenarioError, match=r"valuation\.model\.base_rat: unknown key; did you mean 'base_rate'"):
        load_scenario(_with_valuation(clean_scenario, {"model": {"base_rat": {}}}))


def test_value_writes_every_asset_and_matches_the_run_valuation(clean_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["value", str(clean_scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "documented priors" in result.output
    frame = pd.read_csv(out / "valuation.csv", dtype={"asset_id": str})
    assert list(frame.columns) == list(VALUE_COLUMNS)
    assert len(frame) == 6 and set(frame["amc_id"]) == {"A", "B"}
    assert (frame["model_id"] == "priors").all()
    # the same numbers as the run's front end values with (one pipeline)
    s = load_scenario(clean_scenario)
    assets = prepare(s).assets.sort_values(["amc_id", "asset_id"])
    frame = frame.sort_values(["amc_id", "asset_id"])
    np.testing.assert_allclose(frame["npv"].to_numpy(), assets["npv"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(frame["expected_recovery"].to_numpy(), assets["expected_recovery"].to_numpy(), rtol=1e-9)


def test_value_statement_names_the_priors(clean_scenario: Path) -> None:
    _, statement = value_scenario(load_scenario(clean_scenario))
    assert statement["model"] == "priors" and statement["model_id"] is None and statement["training"] is None


def test_missing_model_folder_is_a_clear_error(clean_scenario: Path, tmp_path: Path) -> None:
    path = _with_valuation(clean_scenario, {"model": "models/nowhere", "source": "model"})
    result = runner.invoke(app, ["value", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert "nowhere" in result.output
    assert not (tmp_path / "o" / "valuation.csv").exists()


# --------------------------------------------------------------------------------------------------------------
# A calibrated model in the scenario: the CLI's calibrate → backtest → value → run chain
# --------------------------------------------------------------------------------------------------------------

import datetime as dt  # noqa: E402

from pooling.tapes.history_synth import synth_history, write_history  # noqa: E402
from pooling.tapes.synth import demo_amcs, write_consortium  # noqa: E402

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory) -> Path:
    """A small synthetic consortium with a history and a model calibrated on it by the CLI."""
    root = tmp_path_factory.mktemp("consortium")
    scenario = write_consortium(root, n_assets=1500, amcs=demo_amcs(), seed=3, as_of=AS_OF)
    history = synth_history(demo_amcs(), n_assets=6000, start=dt.date(2017, 1, 1), cutoff=AS_OF, seed=3)
    files = write_history(history, demo_amcs(), root / "history")
    result = runner.invoke(app, ["calibrate", *map(str, files), "--out", str(root / "model"), "--as-of", "2026-06-30",
                                 "--holdout-from", "2025-01-01"])
    assert result.exit_code == 0, result.output
    return scenario


def test_calibrate_writes_the_model_folder(consortium: Path) -> None:
    model = consortium.parent / "model"
    assert {p.name for p in model.iterdir()} >= {"model.json", "calibration.csv", "model_card.html"}
    card = (model / "model_card.html").read_text(encoding="utf-8")
    assert "<script" in card and "m-" in card


def test_run_and_value_use_the_calibrated_model(consortium: Path, tmp_path: Path) -> None:
    from pooling.valuation.fitted import load_model

    path = _with_valuation(consortium, {"model": "model", "source": "model", "discount_rate": 0.06})
    model = load_model(consortium.parent / "model")
    valued, statement = value_scenario(load_scenario(path))
    assert statement["model"] == "calibrated" and statement["model_id"] == model.label
    assert statement["training"]["holdout_from"] == "2025-01-01"
    assert (valued["model_id"] == model.label).all()
    assert {"expected_recovery_low", "expected_recovery_high"} <= set(valued.columns)
    assert (valued["expected_recovery_low"] <= valued["expected_recovery"] + 1e-6).all()
    # the model's own prediction, independently: R∞ = rate × gbv, and within 120 months most of it is collected
    s = load_scenario(path)
    assets = prepare(s).assets.sort_values(["amc_id", "asset_id"])
    pred = model.predict(assets, AS_OF)
    rinf = (pred["rate"] * assets["gbv"]).to_numpy()
    np.testing.assert_allclose(assets["curve_rinf"].to_numpy(), rinf, rtol=1e-9)
    assert (assets["expected_recovery"].to_numpy() <= rinf + 1e-6).all()
    assert assets["expected_recovery"].sum() > 0.9 * rinf.sum()

    # the run without the consortium game (its 15 coalition values add ~100 s and nothing about the valuation)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("consortium", None)
    single = path.parent / "single-deal.yaml"
    single.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(single), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"valued by calibrated model {model.label}" in result.output.replace("\n", "")
    summary = yaml.safe_load((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["valuation"]["model_id"] == model.label
    assert model.label in (out / "report.html").read_text(encoding="utf-8")


def test_court_delay_moves_model_timing_and_the_model_is_an_input(consortium: Path) -> None:
    from pooling.pipeline import inputs_digest

    path = _with_valuation(consortium, {"model": "model", "source": "model"})
    s = load_scenario(path)
    base = prepare(s).assets
    delayed = prepare(s.model_copy(update={"levers": s.levers.model_copy(update={"court_delay_months": 12})})).assets
    court = base["legal_status"].astype(str) != "settled"
    assert (delayed.loc[court, "npv"] < base.loc[court, "npv"]).all()
    assert (delayed.loc[court, "expected_months"] > base.loc[court, "expected_months"]).all()
    np.testing.assert_allclose(delayed.loc[~court, "npv"], base.loc[~court, "npv"])
    before = inputs_digest(s)
    model_json = consortium.parent / "model" / "model.json"
    text = model_json.read_text(encoding="utf-8")
    try:
        model_json.write_text(text + "\n", encoding="utf-8")
        assert inputs_digest(s) != before
    finally:
        model_json.write_text(text, encoding="utf-8")


def test_backtest_rounds_and_corrections_through_the_cli(consortium: Path, tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(consortium.parent / "model", model)
    files = sorted(str(p) for p in (consortium.parent / "history").iterdir())
    out = tmp_path / "bt"
    for extra in ([], ["--apply-corrections"]):
        result = runner.invoke(app, ["backtest", *files, "--model", str(model), "--out", str(out),
                                     "--as-of", "2026-06-30", *extra])
        assert result.exit_code == 0, result.output
        assert "out of time" in result.output  # the model's holdout date is the default window
    rounds = pd.read_csv(model / "backtests.csv")
    assert rounds["round"].tolist() == [1, 2]
    assert (model / "corrections.json").is_file() and (out / "corrections-2.json").is_file()
    from pooling.valuation.fitted import load_model

    assert load_model(model).label.endswith("+c2")


def test_bad_history_is_reported_and_nothing_else_written(tmp_path: Path) -> None:
    bad = tmp_path / "h.csv"
    bad.write_text("asset_id,obligor_id,gbv,principal,asset_type,collateral_type,province,industry,default_date,"
                   "legal_status,valued_on,recovered,resolved_on\n"
                   "H1,O1,100,90,corporate,unsecured,CN-ZJ,C,2020-01-01,litigation,2019-01-01,-5,2018-01-01\n",
                   encoding="utf-8")
    out = tmp_path / "m"
    result = runner.invoke(app, ["calibrate", str(bad), "--out", str(out), "--as-of", "2026-06-30"])
    assert result.exit_code == 1, result.output
    problems = pd.read_csv(out / "validation.csv")
    assert {"valued_on", "recovered", "resolved_on"} <= set(problems["column"])
    assert sorted(p.name for p in out.iterdir()) == ["validation.csv"]
