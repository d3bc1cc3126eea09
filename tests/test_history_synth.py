"""Synthetic history: deterministic, censored at the cut-off, market-level recoveries, the stated truth, clean files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pooling.cli.main import app
from pooling.tapes.history import load_history
from pooling.tapes.history_synth import (
    COURTS,
    SYNTH_COLUMNS,
    synth_history,
    true_mean_months,
    true_rate,
    write_history,
)
from pooling.tapes.synth import bench_amcs, demo_amcs

START, CUTOFF = dt.date(2016, 1, 1), dt.date(2026, 6, 30)
DAYS_PER_MONTH = 30.4375


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return synth_history(n_assets=40_000, start=START, cutoff=CUTOFF, seed=5)


@pytest.fixture(scope="module")
def old() -> pd.DataFrame:
    """A long history whose early vintages are all resolved by the cut-off: outcomes there are uncensored."""
    h = synth_history(n_assets=80_000, start=dt.date(1990, 1, 1), cutoff=CUTOFF, seed=9)
    return h[h["valued_on"] < pd.Timestamp("2002-01-01")].reset_index(drop=True)


def _gbv_rate(frame: pd.DataFrame, values: np.ndarray | pd.Series) -> float:
    return float(np.sum(np.asarray(values)) / frame["gbv"].sum())


def test_deterministic_for_a_seed() -> None:
    a = synth_history(n_assets=3000, start=START, cutoff=CUTOFF, seed=3)
    b = synth_history(n_assets=3000, start=START, cutoff=CUTOFF, seed=3)
    c = synth_history(n_assets=3000, start=START, cutoff=CUTOFF, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["recovered"].equals(c["recovered"])
    assert list(a.columns) == list(SYNTH_COLUMNS) and len(a) == 3000


def test_shape_of_the_history(demo: pd.DataFrame) -> None:
    h = demo
    is_open = h["resolution"] == "open"
    assert 0.15 <= is_open.mean() <= 0.40  # right-censored share at the demo cut-off
    assert (h["resolved_on"].isna() == is_open).all()
    assert set(h["resolution"]) == {"settled", "auction", "transfer", "restructuring", "write_off", "open"}
    assert (h["valued_on"] >= pd.Timestamp(START)).all() and (h["valued_on"] <= pd.Timestamp(CUTOFF)).all()
    assert (h["resolved_on"].dropna() <= pd.Timestamp(CUTOFF)).all()
    assert (h["resolved_on"].dropna() >= h.loc[~is_open, "valued_on"]).all()
    assert (h["default_date"] < h["valued_on"]).all()
    assert ((h["recovered"] >= 0) & (h["recovered"] <= h["gbv"])).all()
    # vintages: more recent full years hold more assets, and recent ones are mostly still open
    years = h.groupby(h["valued_on"].dt.year).size()
    assert years[2025] > 1.5 * years[2016]
    open_by_year = is_open.groupby(h["valued_on"].dt.year).mean()
    assert open_by_year[2016] < 0.02 and open_by_year[2025] > 0.6
    # same AMCs and mix as the demo tapes
    assert set(h["amc_id"]) == {a.id for a in demo_amcs()}
    zj = h[h["amc_id"] == "ZJ"]
    assert (zj["province"] == "CN-ZJ").mean() > 0.8


def test_open_assets_collected_part_of_their_lifetime(demo: pd.DataFrame) -> None:
    is_open = demo["resolution"] == "open"
    rate = demo["recovered"] / demo["gbv"]
    assert rate[is_open].mean() < 0.6 * rate[~is_open].mean()
    assert (rate[demo["resolution"] == "write_off"] < 0.02).all()


@pytest.mark.parametrize(
    ("segment", "low", "high"),
    [
        ("credit_card", 0.07, 0.14),  # 2024–25 card packs 7–14% of P+I+F
        ("corporate_unsecured", 0.08, 0.12),  # corporate unsecured ≈ 9–11%
        ("retail_mortgage", 0.39, 0.45),  # residential mortgage 39–45%
        ("corporate_secured", 0.27, 0.32),  # secured corporate (工元2016-1) 28–31%
    ],
)
def test_recovery_levels_match_the_market(demo: pd.DataFrame, segment: str, low: float, high: float) -> None:
    h = demo
    unsecured = h["collateral_type"].isin(["guarantee_only", "unsecured"])
    masks = {
        "credit_card": h["asset_type"] == "credit_card",
        "retail_mortgage": h["asset_type"] == "retail_mortgage",
        "corporate_unsecured": (h["asset_type"] == "corporate") & unsecured,
        "corporate_secured": (h["asset_type"] == "corporate") & ~unsecured,
    }
    seg = h[masks[segment].to_numpy()]
    expected = _gbv_rate(seg, true_rate(seg) * seg["gbv"])
    assert low <= expected <= high
    resolved = seg[seg["resolution"] != "open"]
    realised = _gbv_rate(resolved, resolved["recovered"])
    # resolved-only rates lean high (fast resolvers recover more), but stay near the market band
    assert low - 0.03 <= realised <= high + 0.05


def test_truth_functions_match_uncensored_outcomes(old: pd.DataFrame) -> None:
    """On fully resolved vintages the realised mean rate and months equal the stated truth, segment by segment."""
    assert (old["resolution"] == "open").mean() < 0.001 and len(old) > 5000  # a rare case outlives 25 years
    h = old[old["resolution"] != "open"].reset_index(drop=True)
    rate = h["recovered"] / h["gbv"]
    months = (h["resolved_on"] - h["valued_on"]).dt.days / DAYS_PER_MONTH
    truth_rate, truth_months = true_rate(h), true_mean_months(h)
    assert abs(rate.mean() - truth_rate.mean()) < 0.006
    assert abs(months.mean() / truth_months.mean() - 1) < 0.03
    for kind, g in h.groupby("asset_type", observed=True):
        if len(g) < 800:
            continue
        idx = g.index.to_numpy()
        assert abs(rate[idx].mean() - truth_rate[idx].mean()) < 0.02, kind
        assert abs(months[idx].mean() / truth_months[idx].mean() - 1) < 0.08, kind


def test_censoring_biases_naive_timing(demo: pd.DataFrame) -> None:
    """What a fit on resolved assets alone would see: recent vintages' resolved cases are the quick ones."""
    recent = demo[demo["valued_on"] >= pd.Timestamp("2022-01-01")]
    done = recent[recent["resolution"] != "open"]
    naive = ((done["resolved_on"] - done["valued_on"]).dt.days / DAYS_PER_MONTH).mean()
    assert naive < 0.7 * true_mean_months(recent).mean()


def _one_asset(n: int, **changes: object) -> pd.DataFrame:
    base = {
        "asset_type": "corporate", "collateral_type": "industrial", "legal_status": "litigation", "province": "CN-HB",
        "industry": "C", "gbv": 1.0e6, "collateral_value": 1.0e6, "lien_rank": 1.0,
        "default_date": pd.Timestamp("2020-01-01"), "valued_on": pd.Timestamp("2022-01-01"),
    }  # fmt: skip
    frame = pd.DataFrame({k: [v] * n for k, v in base.items()})
    for column, values in changes.items():
        frame[column] = values
    return frame


def test_truth_moves_the_documented_way() -> None:
    cover = true_rate(_one_asset(4, collateral_value=[0.3e6, 0.8e6, 1.3e6, 2.0e6]))
    assert np.all(np.diff(cover) > 0)  # rises with collateral coverage
    lien = true_rate(_one_asset(3, lien_rank=[1.0, 2.0, 3.0]))
    assert lien[0] > lien[1] > lien[2]
    aged = true_rate(_one_asset(3, default_date=pd.to_datetime(["2021-06-01", "2018-01-01", "2014-01-01"])))
    assert aged[0] > aged[1] > aged[2]
    legal = true_rate(_one_asset(2, legal_status=["enforcement", "enforcement_terminated"]))
    assert legal[0] > legal[1]
    provinces = sorted(COURTS, key=lambda c: COURTS[c][0])
    months = true_mean_months(_one_asset(len(provinces), province=provinces))
    assert np.all(np.diff(months) >= 0)  # court speed table order
    fast, slow = true_mean_months(_one_asset(2, province=["CN-ZJ", "CN-HL"]))
    assert slow > 1.8 * fast
    assert np.all(np.diff(true_rate(_one_asset(2, province=["CN-SH", "CN-XZ"]))) < 0)
    stages = true_mean_months(_one_asset(3, legal_status=["settled", "enforcement", "bankruptcy"]))
    assert stages[0] < stages[1] < stages[2]


def test_amc_predictions_are_optimistic(demo: pd.DataFrame) -> None:
    has = demo["predicted_recovery"].notna()
    assert set(demo.loc[has, "amc_id"]) == {a.id for a in demo_amcs() if a.tape_values}
    assert demo.loc[has, "predicted_months"].notna().all()
    nat = demo[has]
    ratio = nat["predicted_recovery"].sum() / float(np.sum(true_rate(nat) * nat["gbv"]))
    assert 1.08 <= ratio <= 1.25
    assert nat["predicted_months"].mean() < true_mean_months(nat).mean()


def _expected_from_files(frame: pd.DataFrame, amcs: list) -> pd.DataFrame:
    """The frame as the files carry it: columns an AMC does not send read back as NaN."""
    out = frame.copy()
    for spec in amcs:
        rows = out["amc_id"] == spec.id
        if not spec.tape_values:
            out.loc[rows, ["predicted_recovery", "predicted_months"]] = np.nan
        if spec.kind == "local" and not spec.chinese:
            out.loc[rows, "costs"] = np.nan
    return out


@pytest.mark.parametrize("consortium", ["demo", "bench"])
def test_written_files_read_back_cleanly(tmp_path: Path, consortium: str) -> None:
    amcs = demo_amcs() if consortium == "demo" else bench_amcs(3, "parquet")
    frame = synth_history(amcs, n_assets=4000, start=START, cutoff=CUTOFF, seed=2)
    paths = write_history(frame, amcs, tmp_path / "history")
    assert [p.name for p in paths] == [f"{a.id.lower()}.{'csv' if a.fmt.startswith('csv') else a.fmt}" for a in amcs]
    history = load_history(paths, as_of=CUTOFF)  # raises ValidationFailed on any problem
    got = history.assets.drop(columns=["source_file", "source_row"])
    key = ["amc_id", "asset_id"]
    pd.testing.assert_frame_equal(
        got.sort_values(key, ignore_index=True), _expected_from_files(frame, amcs).sort_values(key, ignore_index=True)
    )
    if consortium == "demo":
        gd = (tmp_path / "history" / "gd.csv").read_bytes()
        with pytest.raises(UnicodeDecodeError):
            gd.decode("utf-8")
        assert "估值日" in gd.decode("gbk") and "未结" in gd.decode("gbk")
        assert history.assets.loc[history.assets["amc_id"] == "ZJ", "source_row"].min() == 3  # title row above
        again = write_history(frame, amcs, tmp_path / "again")
        assert all(p.read_bytes() == q.read_bytes() for p, q in zip(paths, again, strict=True))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="before cutoff"):
        synth_history(n_assets=10, start=CUTOFF, cutoff=START, seed=0)
    with pytest.raises(ValueError, match="positive"):
        synth_history(n_assets=0, start=START, cutoff=CUTOFF, seed=0)


def test_cli_synth_writes_history(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    r = CliRunner().invoke(app, ["synth", str(out), "--assets", "300", "--history", "--history-assets", "800",
                                 "--history-start", "2019-01-01", "--seed", "4"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (out / "scenario.yaml").is_file() and "still open" in r.output
    paths = sorted((out / "history").iterdir())
    assert [p.name for p in paths] == ["gd.csv", "nat.csv", "sc.csv", "zj.xlsx"]
    h = load_history(paths, as_of=dt.date(2026, 6, 30))
    assert len(h.assets) == 800 and h.assets["valued_on"].min() >= pd.Timestamp("2019-01-01")
    r = CliRunner().invoke(app, ["synth", str(tmp_path / "x"), "--history", "--history-start", "2030-01-01"])
    assert r.exit_code == 2 and not (tmp_path / "x").exists()
