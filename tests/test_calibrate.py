"""Calibration on a history from a known process: segment rates and mean timing recovered with open assets
censored; ignoring censoring fails the same timing tolerance; same input → identical model.json bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pooling.valuation.calibrate import calibrate, calibration_table, kaplan_meier, restricted_mean
from pooling.valuation.fitted import save_model
from tests.history_process import CUTOFF, make_history

#: Tolerances, relative: gbv-weighted segment recovery rate and mean months to resolution by legal status.
RATE_TOL = 0.08
TIMING_TOL = 0.08


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return make_history(30_000, seed=11)


@pytest.fixture(scope="module")
def model(history):
    return calibrate(history, cutoff=CUTOFF)


def segment_rates(history: pd.DataFrame, rate: np.ndarray, by: str) -> pd.DataFrame:
    """gbv-weighted predicted and true lifetime rates per segment, over every asset (open ones included)."""
    g = history["gbv"].to_numpy()
    frame = pd.DataFrame({"seg": history[by].astype(str).to_numpy(), "p": rate * g,
                          "t": history["true_rate"].to_numpy() * g, "g": g})
    sums = frame.groupby("seg").sum()
    return sums.assign(ratio=sums["p"] / sums["t"])[sums["g"] > 0.02 * g.sum()]


def timing_ratio(history: pd.DataFrame, mean_months: np.ndarray) -> pd.Series:
    frame = pd.DataFrame({"s": history["legal_status"].astype(str).to_numpy(), "p": mean_months,
                          "t": history["true_mean_months"].to_numpy()})
    means = frame.groupby("s").mean()
    return means["p"] / means["t"]


def test_open_assets_are_a_real_share_of_the_history(history):
    open_ = history["resolved_on"].isna()
    assert 0.2 < open_.mean() < 0.5
    assert (history.loc[open_, "resolution"] == "open").all()


@pytest.mark.parametrize("by", ["asset_type", "collateral_type"])
def test_segment_recovery_rates_recovered(history, model, by):
    pred = model.predict(history, history["valued_on"].to_numpy())
    ratios = segment_rates(history, pred["rate"].to_numpy(), by)["ratio"]
    assert ((ratios - 1).abs() < RATE_TOL).all(), ratios.round(3).to_dict()


def test_mean_timing_by_legal_status_recovered(history, model):
    pred = model.predict(history, history["valued_on"].to_numpy())
    ratio = timing_ratio(history, pred["mean_months"].to_numpy())
    assert ((ratio - 1).abs() < TIMING_TOL).all(), ratio.round(3).to_dict()


@pytest.mark.parametrize("censoring", ["drop", "as_resolved"])
def test_ignoring_censoring_fails_the_timing_tolerance(history, censoring):
    biased = calibrate(history, cutoff=CUTOFF, censoring=censoring)
    pred = biased.predict(history, history["valued_on"].to_numpy())
    ratio = timing_ratio(history, pred["mean_months"].to_numpy())
    assert ((ratio - 1).abs() >= TIMING_TOL).any()
    # the bias is the known one: too fast, by about 30% on the typical statuses
    assert ratio[["litigation", "pre_litigation"]].max() < 0.8


def test_ipcw_corrects_the_rate_bias_of_resolved_assets(history, model):
    """Resolved assets recovered more than the population (fast resolvers recover more): IPCW closes most of the
    gap, dropping open assets does not."""
    g = history["gbv"].to_numpy()
    truth = (history["true_rate"].to_numpy() * g).sum() / g.sum()
    as_of = history["valued_on"].to_numpy()
    ipcw = (model.predict(history, as_of)["rate"].to_numpy() * g).sum() / g.sum()
    drop = (calibrate(history, cutoff=CUTOFF, censoring="drop").predict(history, as_of)["rate"].to_numpy()
            * g).sum() / g.sum()
    assert abs(ipcw / truth - 1) < abs(drop / truth - 1)


def test_calibration_is_deterministic(history, model, tmp_path):
    again = calibrate(history, cutoff=CUTOFF)
    a = save_model(model, tmp_path / "a")[0].read_bytes()
    b = save_model(again, tmp_path / "b")[0].read_bytes()
    assert a == b and model.id == again.id


def test_holdout_trains_on_earlier_assets_only(history):
    holdout = pd.Timestamp("2024-01-01").date()
    m = calibrate(history, cutoff=CUTOFF, holdout_from=holdout)
    before = history["valued_on"] < pd.Timestamp(holdout)
    assert m.training["n_assets"] == int(before.sum())
    assert m.training["to"] < "2024-01-01" and m.training["holdout_from"] == "2024-01-01"


def test_progress_reports_stages(history):
    seen = []
    calibrate(history.iloc[:5000], cutoff=CUTOFF, progress=lambda stage, done: seen.append((stage, done)))
    fractions = [d for _, d in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert {"rate model", "timing model"} <= {s for s, _ in seen}


def test_kaplan_meier_by_hand():
    # durations 1, 2+, 3, 4+ : S(1) = 3/4, S(3) = 3/4 · 1/2
    times, surv = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, False]))
    assert times.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert np.allclose(surv, [0.75, 0.75, 0.375, 0.375])
    assert restricted_mean(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, False]), 4.0) == \
        pytest.approx(1 + 0.75 * 2 + 0.375 * 1)


def test_calibration_table_segments(history, model):
    table = calibration_table(model, history, CUTOFF)
    assert set(table["dimension"]) == {"all", "asset_type", "collateral_type", "legal_status", "province"}
    for dim in ("asset_type", "legal_status"):
        rows = table[table["dimension"] == dim]
        assert rows["n"].sum() == len(history)
        assert rows["gbv"].sum() == pytest.approx(history["gbv"].sum())
    total = table[table["dimension"] == "all"].iloc[0]
    resolved = history["resolved_on"].notna()
    assert total["realised_rate"] == pytest.approx(history.loc[resolved, "recovered"].sum()
                                                   / history.loc[resolved, "gbv"].sum())
    # in sample, censoring-aware months: model and Kaplan–Meier agree within 10% on every legal status
    legal = table[table["dimension"] == "legal_status"]
    assert ((legal["predicted_months"] / legal["realised_months"] - 1).abs() < 0.1).all()


def test_missing_columns_are_a_clear_error(history):
    from pooling.errors import InputError

    with pytest.raises(InputError, match="recovered"):
        calibrate(history.drop(columns="recovered"), cutoff=CUTOFF)
