"""The calibrated model file and valuation by a model: strict round trip, clear errors, the Weibull curve."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import plotly.offline
import pytest

from pooling.errors import InputError
from pooling.valuation.calibrate import calibrate
from pooling.valuation.fitted import (
    MODEL_FORMAT_VERSION,
    CalibratedModel,
    load_model,
    model_id,
    save_model,
    value_with_model,
)
from pooling.valuation.model import VALUATION_COLUMNS, curve_sums, pool_curve, value_assets
from tests.history_process import CUTOFF, make_history
from tests.test_valuation import make_assets

AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def model() -> CalibratedModel:
    return calibrate(make_history(8_000, seed=3), cutoff=CUTOFF)


@pytest.fixture
def model_dir(model, tmp_path):
    save_model(model, tmp_path / "m")
    return tmp_path / "m"


def rewrite(model_dir, change) -> None:
    path = model_dir / "model.json"
    payload = json.loads(path.read_text(encoding="utf-8"))
    change(payload)
    path.write_text(json.dumps(payload), encoding="utf-8")


def test_round_trip(model, model_dir):
    loaded = load_model(model_dir)
    assert loaded.id == model.id == model_id(model.payload) and loaded.id.startswith("m-")
    assert loaded.payload == model.payload and loaded.label == model.id
    assert loaded.corrections is None and loaded.backtests.empty
    assets = make_assets(500)
    pd.testing.assert_frame_equal(loaded.predict(assets, AS_OF), model.predict(assets, AS_OF))
    assert set(loaded.training) >= {"from", "to", "cutoff", "holdout_from", "n_assets", "n_resolved"}
    text = (model_dir / "model.json").read_text(encoding="utf-8")
    assert json.loads(text)["kind"] == "amc-pooling/recovery-model"


def test_backtests_csv_is_read(model_dir):
    pd.DataFrame({"round": [1], "deviation_rate": [0.02]}).to_csv(model_dir / "backtests.csv", index=False)
    assert load_model(model_dir).backtests["deviation_rate"].tolist() == [0.02]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda p: p.update(colour="blue"), "colour"),
        (lambda p: p["rate"].update(extra_term=1.0), "rate.extra_term"),
        (lambda p: p["training"].update(secret=1), "training.secret"),
    ],
)
def test_unknown_keys_are_named(model_dir, change, named):
    rewrite(model_dir, change)
    with pytest.raises(InputError, match="unknown key") as err:
        load_model(model_dir)
    assert named in str(err.value) and "model.json" in str(err.value)


def test_newer_format_version_is_a_clear_error(model_dir):
    rewrite(model_dir, lambda p: p.update(format_version=MODEL_FORMAT_VERSION + 1))
    with pytest.raises(InputError, match="made by a newer amc-pooling"):
        load_model(model_dir)


def test_wrong_type_bad_json_missing_and_edited_files(model_dir, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    rewrite(model_dir, lambda p: p["timing"].update(shape="fast"))
    with pytest.raises(InputError, match=r"timing\.shape"):
        load_model(model_dir)
    rewrite(model_dir, lambda p: p["timing"].update(shape=1.5))
    with pytest.raises(InputError, match="does not match its content"):
        load_model(model_dir)
    (model_dir / "model.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_model(model_dir)
    (model_dir / "model.json").unlink()
    with pytest.raises(InputError, match="not found"):
        load_model(model_dir)


def test_value_with_model_columns_and_pool_curve(model):
    assets = make_assets(3_000)
    v = value_with_model(assets, model=model, as_of=AS_OF, discount_rate=0.06, horizon_months=120)
    for col in (*VALUATION_COLUMNS, "curve_shape", "expected_recovery_low", "expected_recovery_high", "model_id"):
        assert col in v.columns
    assert (v["model_id"] == model.id).all() and (v["valuation_source"] == "model").all()
    assert (v["expected_recovery_low"] <= v["expected_recovery"] + 1e-9).all()
    assert (v["expected_recovery"] <= v["expected_recovery_high"] + 1e-9).all()
    assert (v["expected_recovery"] <= v["curve_rinf"] + 1e-9).all()
    assert (v["npv"] <= v["expected_recovery"] + 1e-9).all()
    curve = pool_curve(v, horizon_months=120)["collections"]
    assert curve.sum() == pytest.approx(v["expected_recovery"].sum(), rel=1e-10)
    by_amc = pool_curve(v, horizon_months=120, by="amc_id")
    assert by_amc.sum().to_numpy() == pytest.approx(v.groupby("amc_id")["expected_recovery"].sum().to_numpy())


def test_value_with_model_matches_a_month_by_month_loop(model):
    assets = make_assets(40, seed=5)
    v = value_with_model(assets, model=model, as_of=AS_OF, discount_rate=0.07, horizon_months=60, delay_months=2.5)
    for row in v.itertuples():
        t = np.arange(0, 61, dtype=float)
        cum = np.where(t >= row.curve_lag, -np.expm1(-(row.curve_k * np.maximum(t - row.curve_lag, 0))
                                                     ** row.curve_shape), 0.0)
        cf = np.diff(cum) * row.curve_rinf
        months = np.arange(1, 61)
        assert cf.sum() == pytest.approx(row.expected_recovery, rel=1e-9, abs=1e-6)
        assert (cf * 1.07 ** (-months / 12)).sum() == pytest.approx(row.npv, rel=1e-9, abs=1e-6)
        if cf.sum() > 0:
            assert (cf * months).sum() / cf.sum() == pytest.approx(row.expected_months, rel=1e-9)


def test_weibull_with_rho_one_is_the_old_curve():
    assets = make_assets(2_000, seed=2)
    old = value_assets(assets, as_of=AS_OF, discount_rate=0.06)
    with_shape = old.assign(curve_shape=1.0)
    a = pool_curve(old, horizon_months=120, by="amc_id")
    b = pool_curve(with_shape, horizon_months=120, by="amc_id")
    assert np.array_equal(a.to_numpy(), b.to_numpy())
    k = old["curve_k"].to_numpy()
    lag = old["curve_lag"].to_numpy()
    collected, pv, months = curve_sums(k, lag, np.ones(len(k)), 120, 0.06)
    assert np.allclose(collected * old["curve_rinf"], old["expected_recovery"], rtol=1e-12)
    assert np.allclose(pv * old["curve_rinf"], old["npv"], rtol=1e-12)
    assert np.allclose(months, old["expected_months"], rtol=1e-12)
    # and a near-one shape is near the exponential curve (continuity), a larger one collects later
    near = curve_sums(k[:5], lag[:5], np.full(5, 1.0 + 1e-9), 120, 0.06)
    assert np.allclose(near[0], collected[:5], rtol=1e-6)


def test_unseen_levels_fall_back_to_the_base_level(model):
    assets = make_assets(50, seed=9)
    trained = set(model.payload["features"]["levels"]["province"])
    unseen = next(p for p in ["CN-XZ", "CN-QH", "CN-NX", "CN-HI"] if p not in trained)
    base = assets.assign(province=unseen)
    pred = model.predict(base, AS_OF)
    assert np.isfinite(pred.to_numpy()).all()
    # an unseen province contributes exactly 0 to η, as if the province effect were absent
    stripped = json.loads(json.dumps(model.payload))
    stripped["rate"]["effects"]["province"] = {}
    stripped["timing"]["effects"]["province"] = {}
    stripped["id"] = model_id(stripped)
    other = CalibratedModel(stripped["id"], stripped).predict(assets.assign(province="CN-ZJ"), AS_OF)
    assert np.allclose(pred["rate"], other["rate"]) and np.allclose(pred["mean_months"], other["mean_months"])


def test_missing_appraisals_and_tape_source(model):
    assets = make_assets(200, seed=4)
    assets["collateral_value"] = np.nan
    pred = model.predict(assets, AS_OF)
    assert np.isfinite(pred.to_numpy()).all()
    assert ((pred["rate_low"] <= pred["rate"]) & (pred["rate"] <= pred["rate_high"])).all()
    assets["expected_recovery"] = np.where(np.arange(200) % 2 == 0, 1000.0, np.nan)
    assets["expected_months"] = 12.0
    v = value_with_model(assets, model=model, as_of=AS_OF, discount_rate=0.06, source="tape")
    tape = v["valuation_source"] == "tape"
    assert tape.sum() == 100 and v.loc[tape, "curve_k"].isna().all()
    assert (v.loc[tape, "curve_shape"] == 1.0).all()
    assert np.allclose(v.loc[tape, "npv"], 1000.0 * 1.06 ** -1.0)
    assert pool_curve(v, horizon_months=120)["collections"].sum() == pytest.approx(v["expected_recovery"].sum())


def test_per_row_as_of_measures_age_to_each_date(model):
    assets = make_assets(100, seed=6)
    one = model.predict(assets, AS_OF)
    rows = model.predict(assets, np.full(len(assets), np.datetime64("2026-06-30")))
    pd.testing.assert_frame_equal(one, rows)
    later = model.predict(assets, date(2030, 6, 30))
    assert not np.allclose(later["rate"], one["rate"])
    assert math.isfinite(later["mean_months"].mean())


def test_model_card_is_one_offline_page(model, tmp_path):
    from pooling.report.model_card import write_model_card
    from pooling.valuation.calibrate import calibration_table, survival_curves

    history = make_history(4_000, seed=8)
    history.loc[history.index[0], "asset_id"] = "<script>alert(1)</script>"
    path = write_model_card(model, calibration_table(model, history, CUTOFF), tmp_path / "model_card.html",
                            survival=survival_curves(model, history, CUTOFF))
    text = path.read_text(encoding="utf-8")
    assert model.id in text and model.training["from"] in text
    assert "Kaplan–Meier" in text and "Court speed" in text and "Calibration table" in text
    js = plotly.offline.get_plotlyjs()
    assert text.count(js) == 1
    rest = text.replace(js, "")
    assert "<script src=" not in rest and "cdn." not in rest.lower()
    assert rest.count("Plotly.newPlot(") == 3
    without = write_model_card(model, calibration_table(model, history, CUTOFF), tmp_path / "card2.html")
    assert "Restricted mean months" in without.read_text(encoding="utf-8")
