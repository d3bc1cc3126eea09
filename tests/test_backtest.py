"""Backtest and corrections: deviation rates and coverage by hand on a tiny history, corrections that move a biased
model toward the truth (with credibility and without double counting), rounds that append, strict
corrections.json, the backtest page."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pooling.errors import InputError
from pooling.report.backtest_page import write_backtest_html, write_backtest_report
from pooling.valuation.backtest import ROUND_COLUMNS, SEGMENT_COLUMNS, backtest, write_backtest
from pooling.valuation.corrections import (
    Corrections,
    apply_corrections,
    fit_corrections,
    read_corrections,
    write_corrections,
)

CUTOFF = date(2025, 12, 31)
HOLDOUT = date(2022, 1, 1)


@dataclass(frozen=True)
class FakeModel:
    """Rates by asset type from a dict (the deliberate bias lives there); interval [0.5, 1.5] × rate; carries
    corrections like the real model (applied in predict)."""

    rates: dict[str, float]
    corrections: Corrections | None = None
    backtests: pd.DataFrame = field(default_factory=pd.DataFrame)
    id: str = "m-fake0000000"

    @property
    def label(self) -> str:
        return self.id + (f"+c{self.corrections.round}" if self.corrections else "")

    def predict(self, assets: pd.DataFrame, as_of) -> pd.DataFrame:
        assert len(as_of) == len(assets)  # the backtest passes each asset's valued_on
        rate = assets["asset_type"].astype(str).map(self.rates).to_numpy(dtype=float)
        out = pd.DataFrame({"rate": rate, "rate_low": 0.5 * rate, "rate_high": 1.5 * rate}, index=assets.index)
        return apply_corrections(assets, out, self.corrections)


def tiny_history() -> pd.DataFrame:
    """Eight assets: two valued before the holdout date, two open, one AMC prediction missing, one zero recovery."""
    rows = [
        # id, amc, asset type, province, valued_on, gbv, recovered, resolved_on, AMC's predicted_recovery
        ("A1", "NAT", "corporate", "CN-ZJ", "2020-03-01", 1000, 300, "2022-05-01", 250),
        ("A2", "NAT", "corporate", "CN-ZJ", "2022-02-01", 1000, 200, "2024-01-01", 260),
        ("A3", "NAT", "sme", "CN-GD", "2022-06-01", 500, 150, "2023-06-01", None),
        ("A4", "ZJ", "corporate", "CN-GD", "2023-01-01", 2000, 500, "2025-06-01", 400),
        ("A5", "ZJ", "sme", "CN-ZJ", "2023-03-01", 400, 0, "2024-03-01", 50),
        ("A6", "ZJ", "corporate", "CN-ZJ", "2024-01-01", 3000, 120, None, 900),
        ("A7", "NAT", "sme", "CN-GD", "2021-06-01", 800, 100, "2023-01-01", 90),
        ("A8", "ZJ", "retail_mortgage", "CN-ZJ", "2024-06-01", 600, 90, None, None),
    ]
    f = pd.DataFrame(rows, columns=["asset_id", "amc_id", "asset_type", "province", "valued_on", "gbv", "recovered",
                                    "resolved_on", "predicted_recovery"])
    f["asset_type"] = f["asset_type"].astype("category")
    f["province"] = f["province"].astype("category")
    f["collateral_type"] = pd.Categorical(["residential", "unsecured"] * 4)
    f["legal_status"] = pd.Categorical(["litigation"] * 8)
    f["valued_on"] = pd.to_datetime(f["valued_on"])
    f["resolved_on"] = pd.to_datetime(f["resolved_on"])
    f["gbv"] = f["gbv"].astype(float)
    f["recovered"] = f["recovered"].astype(float)
    f["predicted_recovery"] = f["predicted_recovery"].astype(float)
    return f


TINY_RATES = {"corporate": 0.3, "sme": 0.2, "retail_mortgage": 0.5}


def seg(result, dimension: str, segment: str) -> pd.Series:
    s = result.segments
    rows = s[(s["dimension"] == dimension) & (s["segment"] == segment)]
    assert len(rows) == 1, (dimension, segment)
    return rows.iloc[0]


# ---------------------------------------------------------------------------------------------------------------
# deviation and coverage by hand
# ---------------------------------------------------------------------------------------------------------------


def test_out_of_time_deviation_and_coverage_by_hand() -> None:
    r = backtest(tiny_history(), FakeModel(TINY_RATES), cutoff=CUTOFF, holdout_from=HOLDOUT)
    o = r.overall
    # window: valued on or after 2022-01-01 → A2..A6, A8; resolved A2, A3, A4, A5; open A6, A8
    # predicted: A2 0.3·1000=300, A3 0.2·500=100, A4 0.3·2000=600, A5 0.2·400=80 → 1080; realised 200+150+500+0=850
    assert (o["n_assets"], o["n_resolved"], o["n_open"]) == (6, 4, 2)
    assert o["gbv"] == 3900 and o["gbv_open"] == 3600 and o["recovered_open"] == 210
    assert o["predicted"] == pytest.approx(1080) and o["realised"] == 850
    assert o["deviation_rate"] == pytest.approx((1080 - 850) / 850)
    # intervals [0.5, 1.5]·P: A2 [150, 450] ∋ 200; A3 [50, 150] ∋ 150 (edge); A4 [300, 900] ∋ 500; A5 [40, 120] ∌ 0
    assert o["coverage_count"] == pytest.approx(3 / 4)
    assert o["coverage_gbv"] == pytest.approx((1000 + 500 + 2000) / 3900)
    # the AMC's own: A2 260, A4 400, A5 50 (A3 has none) against 200 + 500 + 0
    assert o["amc_n"] == 3
    assert o["amc_deviation_rate"] == pytest.approx((710 - 700) / 700)
    assert o["model_deviation_rate_amc_assets"] == pytest.approx((980 - 700) / 700)
    assert r.window["kind"] == "out_of_time" and r.window["holdout_from"] == "2022-01-01"
    assert r.window["valued_from"] == "2022-02-01"

    corp, sme = seg(r, "asset_type", "corporate"), seg(r, "asset_type", "sme")
    assert corp["deviation_rate"] == pytest.approx((900 - 700) / 700)
    assert (corp["n"], corp["n_open"], corp["gbv_open"]) == (2, 1, 3000)
    assert corp["amc_deviation_rate"] == pytest.approx((660 - 700) / 700)
    assert sme["deviation_rate"] == pytest.approx((180 - 150) / 150)
    assert sme["coverage"] == pytest.approx(1 / 2) and sme["coverage_gbv"] == pytest.approx(500 / 900)
    mortgage = seg(r, "asset_type", "retail_mortgage")  # only open assets: counted, no rate
    assert mortgage["n"] == 0 and mortgage["n_open"] == 1 and math.isnan(mortgage["deviation_rate"])
    assert seg(r, "vintage", "2022")["deviation_rate"] == pytest.approx((400 - 350) / 350)
    assert seg(r, "vintage", "2023")["deviation_rate"] == pytest.approx((680 - 500) / 500)
    assert seg(r, "province", "CN-ZJ")["deviation_rate"] == pytest.approx((380 - 200) / 200)
    assert seg(r, "amc_id", "ZJ")["deviation_rate"] == pytest.approx((680 - 500) / 500)
    assert seg(r, "collateral_type", "unsecured")["n"] == 2  # A2, A4 (even rows)
    assert list(r.segments.columns) == SEGMENT_COLUMNS
    assert r.segments.iloc[0][["dimension", "segment"]].tolist() == ["overall", "all"]
    assert any("right-censored" in n for n in r.notes)
    # segment sums add up to the overall sums along every dimension
    for d, part in r.segments.iloc[1:].groupby("dimension"):
        assert part["predicted"].sum() == pytest.approx(o["predicted"]), d
        assert part["n"].sum() + part["n_open"].sum() == o["n_assets"], d


def test_sme_amc_rate_on_zero_realised_is_nan() -> None:
    """sme's AMC-valued asset (A5) realised 0: the AMC's deviation there is undefined, not infinite."""
    r = backtest(tiny_history(), FakeModel(TINY_RATES), cutoff=CUTOFF, holdout_from=HOLDOUT)
    assert math.isnan(seg(r, "asset_type", "sme")["amc_deviation_rate"])


def test_all_history_window_includes_early_assets() -> None:
    r = backtest(tiny_history(), FakeModel(TINY_RATES), cutoff=CUTOFF)
    # adds A1 (P 300, Y 300) and A7 (P 160, Y 100)
    assert r.overall["n_resolved"] == 6
    assert r.overall["deviation_rate"] == pytest.approx((1540 - 1250) / 1250)
    assert r.window["kind"] == "all_history" and r.window["holdout_from"] is None
    assert any("Not out of time" in n for n in r.notes)
    same_index = tiny_history().set_axis([7] * 8)  # e.g. tapes concatenated without a new index
    again = backtest(same_index, FakeModel(TINY_RATES), cutoff=CUTOFF)
    assert again.overall == r.overall
    assert again.assets["asset_id"].tolist() == ["A1", "A2", "A3", "A4", "A5", "A7"]


def test_history_object_gives_its_cutoff() -> None:
    @dataclass(frozen=True)
    class History:
        assets: pd.DataFrame
        cutoff: date

    r = backtest(History(tiny_history(), date(2024, 12, 31)), FakeModel(TINY_RATES), holdout_from=HOLDOUT)
    assert r.window["cutoff"] == "2024-12-31" and r.overall["n_resolved"] == 3


def test_cutoff_decides_what_is_resolved() -> None:
    """With a cut-off before A4's resolution (and before A6's valuation) A4 counts as open."""
    r = backtest(tiny_history(), FakeModel(TINY_RATES), cutoff=date(2024, 12, 31), holdout_from=HOLDOUT)
    assert r.overall["n_resolved"] == 3 and r.overall["n_open"] == 3  # A4, A6, A8 open
    assert r.overall["deviation_rate"] == pytest.approx((480 - 350) / 350)


def test_zero_realised_gives_nan_with_a_note() -> None:
    h = tiny_history().assign(recovered=0.0)
    r = backtest(h, FakeModel(TINY_RATES), cutoff=CUTOFF, holdout_from=HOLDOUT)
    assert math.isnan(r.overall["deviation_rate"])
    assert any("not defined" in n for n in r.notes)
    assert r.overall["coverage_count"] == 0.0


def test_no_resolved_asset_does_not_crash(tmp_path: Path) -> None:
    h = tiny_history().assign(resolved_on=pd.NaT)
    r = backtest(h, FakeModel(TINY_RATES), cutoff=CUTOFF)
    assert r.overall["n_resolved"] == 0 and math.isnan(r.overall["deviation_rate"])
    assert r.corrections.multipliers == ()
    paths = write_backtest_report(r, tmp_path / "out", tmp_path / "model")
    assert (tmp_path / "out" / "backtest.html").exists() and len(paths) == 5


def test_assets_without_a_prediction_are_left_out_with_a_note() -> None:
    """A model that cannot rate sme (NaN) leaves A3 and A5 out instead of making every sum NaN."""
    r = backtest(tiny_history(), FakeModel({"corporate": 0.3}), cutoff=CUTOFF, holdout_from=HOLDOUT)
    assert r.overall["n_resolved"] == 2 and r.overall["n_assets"] == 4 and r.overall["n_open"] == 2
    assert r.overall["deviation_rate"] == pytest.approx((900 - 700) / 700)
    assert any("no model prediction" in n for n in r.notes)


def test_history_without_required_columns_is_an_input_error() -> None:
    with pytest.raises(InputError, match="recovered"):
        backtest(tiny_history().drop(columns="recovered"), FakeModel(TINY_RATES), cutoff=CUTOFF)


# ---------------------------------------------------------------------------------------------------------------
# corrections
# ---------------------------------------------------------------------------------------------------------------


def biased_history(seed: int = 1, n: int = 6000) -> tuple[pd.DataFrame, dict[str, float]]:
    """A history from a known process: true rates by asset type; province mix correlated with asset type;
    credit_card small. Returns the history and the true rates."""
    rng = np.random.default_rng(seed)
    types = np.array(["corporate", "sme", "retail_mortgage", "credit_card"])
    at = rng.choice(types, n, p=[0.45, 0.30, 0.2475, 0.0025])
    zj_share = np.where(at == "corporate", 0.9, 0.2)  # corporate lives in Zhejiang
    prov = np.where(rng.random(n) < zj_share, "CN-ZJ", "CN-GD")
    truth = {"corporate": 0.30, "sme": 0.20, "retail_mortgage": 0.50, "credit_card": 0.10}
    gbv = rng.lognormal(13, 0.5, n)
    rate = pd.Series(at).map(truth).to_numpy()
    recovered = gbv * rate * rng.lognormal(-0.5 * 0.3**2, 0.3, n)
    h = pd.DataFrame({
        "amc_id": rng.choice(["NAT", "ZJ"], n), "asset_id": [f"H{i}" for i in range(n)],
        "asset_type": pd.Categorical(at), "province": pd.Categorical(prov), "gbv": gbv, "recovered": recovered,
        "valued_on": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
    })
    h["resolved_on"] = h["valued_on"] + pd.Timedelta(days=300)
    return h, truth


def test_corrections_move_a_biased_model_toward_the_truth_with_credibility() -> None:
    h, truth = biased_history()
    biased = {**truth, "corporate": truth["corporate"] * 1.25, "credit_card": truth["credit_card"] * 1.25}
    before = backtest(h, FakeModel(biased), cutoff=CUTOFF)
    assert seg(before, "asset_type", "corporate")["deviation_rate"] == pytest.approx(0.25, abs=0.02)
    assert seg(before, "asset_type", "credit_card")["n"] < 40
    c = before.corrections
    after = backtest(h, FakeModel(biased, corrections=c), cutoff=CUTOFF)
    for s in ("corporate", "credit_card"):
        assert abs(seg(after, "asset_type", s)["deviation_rate"]) < abs(seg(before, "asset_type", s)["deviation_rate"])
    assert abs(after.overall["deviation_rate"]) < 0.01 < abs(before.overall["deviation_rate"])
    # what is left of corporate's bias is what credibility held back: about (1 − Z)·25 %
    z = c.table.set_index(["dimension", "segment"]).loc[("asset_type", "corporate"), "credibility"]
    assert seg(after, "asset_type", "corporate")["deviation_rate"] == pytest.approx(0.25 * (1 - z), abs=0.005)
    # credibility: the small segment, equally biased, moves less than the large one
    m = c.table.set_index(["dimension", "segment"])
    large, small = m.loc[("asset_type", "corporate")], m.loc[("asset_type", "credit_card")]
    assert small["credibility"] < 0.3 < 0.9 < large["credibility"]
    assert abs(1 - small["multiplier"]) < abs(1 - large["multiplier"]) / 2
    assert small["multiplier"] == pytest.approx(1 + small["credibility"] * (small["raw_multiplier"] - 1))
    assert seg(after, "asset_type", "credit_card")["deviation_rate"] > 0.1  # still mostly uncorrected


def test_backfitting_does_not_double_count() -> None:
    """A bias only by asset type leaves province multipliers at ~1, although Zhejiang is mostly corporate."""
    h, truth = biased_history(seed=2)
    model = FakeModel({**truth, "corporate": truth["corporate"] * 1.25})
    r = backtest(h, model, cutoff=CUTOFF)
    m = r.corrections.table.set_index(["dimension", "segment"])["multiplier"]
    assert m[("asset_type", "corporate")] == pytest.approx(0.8, abs=0.02)
    assert m[("province", "CN-ZJ")] == pytest.approx(1.0, abs=0.01)
    assert m[("province", "CN-GD")] == pytest.approx(1.0, abs=0.01)
    # the test can fail: fitted alone, the province dimension would take a large share of the corporate bias
    alone = fit_corrections(r.assets, r.assets["predicted"], r.assets["realised"], dims=["province"]).table
    assert alone.set_index("segment").loc["CN-ZJ", "multiplier"] < 0.9
    # and applying both dimensions does not over-correct Zhejiang
    after = backtest(h, FakeModel(model.rates, corrections=r.corrections), cutoff=CUTOFF)
    assert abs(seg(after, "province", "CN-ZJ")["deviation_rate"]) < 0.01


def test_raw_backfit_matches_every_segment_total() -> None:
    """k = 0: the fixed point reproduces every asset-type and every province total (raking)."""
    h, truth = biased_history(seed=3)
    rng = np.random.default_rng(3)
    pred = h["gbv"].to_numpy() * pd.Series(h["asset_type"].astype(str)).map(truth).to_numpy() * rng.uniform(0.8, 1.3,
                                                                                                           len(h))
    c = fit_corrections(h, pred, h["recovered"], k=0)
    rates = apply_corrections(h, pd.DataFrame({"rate": pred / h["gbv"]}, index=h.index), c)
    corrected = rates["rate"] * h["gbv"]
    for d in ("asset_type", "province"):
        got = corrected.groupby(h[d], observed=True).sum()
        want = h["recovered"].groupby(h[d], observed=True).sum()
        assert np.allclose(got, want, rtol=1e-8), d


def test_apply_corrections_unseen_segment_and_missing_column_are_one() -> None:
    c = fit_corrections(pd.DataFrame({"asset_type": ["corporate"] * 4, "province": ["CN-ZJ"] * 4, "gbv": [1.0] * 4}),
                        [2.0] * 4, [1.0] * 4, k=0)
    assets = pd.DataFrame({"asset_type": ["corporate", "sme"], "gbv": [1.0, 1.0]})  # no province column
    rates = pd.DataFrame({"rate": [0.4, 0.4], "rate_low": [0.2, 0.2], "rate_high": [0.6, 0.6], "timing_shape": 1.0})
    out = apply_corrections(assets, rates, c)
    assert out["rate"].tolist() == pytest.approx([0.2, 0.4])
    assert out["rate_high"].tolist() == pytest.approx([0.3, 0.6])
    assert out["timing_shape"].tolist() == [1.0, 1.0]
    assert rates["rate"].tolist() == [0.4, 0.4]  # input untouched


# ---------------------------------------------------------------------------------------------------------------
# files and rounds
# ---------------------------------------------------------------------------------------------------------------


def test_rounds_append_and_corrections_compose(tmp_path: Path) -> None:
    h, truth = biased_history(seed=4, n=3000)
    rates = {**truth, "corporate": truth["corporate"] * 1.25}
    out, model_dir = tmp_path / "out", tmp_path / "model"
    r1 = backtest(h, FakeModel(rates), cutoff=CUTOFF)
    paths = write_backtest_report(r1, out, model_dir, apply_corrections=True)
    assert {p.name for p in paths} == {"backtest.csv", "corrections-1.json", "corrections.json", "backtests.csv",
                                       "backtest.html"}
    first_csv = (out / "backtest.csv").read_text(encoding="utf-8-sig")
    first_rounds = (model_dir / "backtests.csv").read_text(encoding="utf-8-sig")
    carried = read_corrections(model_dir / "corrections.json")
    assert carried.round == 1 and carried.model_id == "m-fake0000000"
    assert (model_dir / "corrections.json").read_bytes() == (out / "corrections.json").read_bytes()

    # round 2: the model now carries round 1's corrections (as load_model would pick them up)
    rounds = pd.read_csv(model_dir / "backtests.csv")
    model2 = FakeModel(rates, corrections=carried, backtests=rounds)
    r2 = backtest(h, model2, cutoff=CUTOFF)
    assert r2.round == 2 and model2.label.endswith("+c1")
    assert abs(r2.overall["deviation_rate"]) < abs(r1.overall["deviation_rate"])
    write_backtest_report(r2, out, model_dir, apply_corrections=True)

    csv = (out / "backtest.csv").read_text(encoding="utf-8-sig")
    assert csv.startswith(first_csv)  # round 1's rows kept exactly
    table = pd.read_csv(out / "backtest.csv")
    assert sorted(table["round"].unique()) == [1, 2]
    assert (table["round"] == 1).sum() == (table["round"] == 2).sum() == len(r1.segments)
    back = pd.read_csv(model_dir / "backtests.csv")
    assert list(back.columns) == ROUND_COLUMNS and back["round"].tolist() == [1, 2]
    assert (model_dir / "backtests.csv").read_text(encoding="utf-8-sig").startswith(first_rounds)
    assert back["deviation_rate"].iloc[0] == pytest.approx(r1.overall["deviation_rate"])
    assert (out / "corrections-1.json").exists() and (out / "corrections-2.json").exists()

    # composed: round 2's corporate multiplier = round 1's × round 2's own increment
    c2 = read_corrections(out / "corrections.json")
    m1 = carried.table.set_index(["dimension", "segment"])["multiplier"]
    inc = r2.round_corrections.table.set_index(["dimension", "segment"])["multiplier"]
    m2 = c2.table.set_index(["dimension", "segment"])["multiplier"]
    key = ("asset_type", "corporate")
    assert c2.round == 2 and m2[key] == pytest.approx(m1[key] * inc[key])
    assert abs(inc[key] - 1) < abs(m1[key] - 1)  # the second round only fine-tunes

    html = (out / "backtest.html").read_text(encoding="utf-8")
    assert "fig-trend" in html and "第 2 轮" in html


def test_round_count_follows_the_larger_record(tmp_path: Path) -> None:
    """A fresh model directory but an out folder with two rounds: the next round is 3."""
    r = backtest(tiny_history(), FakeModel(TINY_RATES), cutoff=CUTOFF)
    for _ in range(2):
        write_backtest(r, tmp_path / "out", tmp_path / "m1")
    paths = write_backtest(r, tmp_path / "out", tmp_path / "m2")
    assert not any(p.suffix == ".html" for p in paths)  # the page is the report layer's (write_backtest_report)
    assert pd.read_csv(tmp_path / "m2" / "backtests.csv")["round"].tolist() == [3]
    assert not (tmp_path / "m2" / "corrections.json").exists()  # not applied
    assert read_corrections(tmp_path / "out" / "corrections.json").round == 3


def test_corrections_round_trip(tmp_path: Path) -> None:
    h, _ = biased_history(seed=5, n=500)
    c = fit_corrections(h, h["gbv"] * 0.3, h["recovered"], model_id="m-abc", round=4)
    path = write_corrections(c, tmp_path / "corrections.json")
    back = read_corrections(path)
    assert back == c


def _corrections_doc() -> dict:
    return {"format_version": 1, "model_id": "m-abc", "round": 1, "dimensions": ["asset_type"],
            "credibility_k": 100.0,
            "multipliers": [{"dimension": "asset_type", "segment": "corporate", "multiplier": 0.9, "n": 10,
                             "gbv": 1e6, "credibility": 0.5}]}


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda d: d.update(extra=1), r"unknown key 'extra'"),
        (lambda d: d["multipliers"][0].update(mult=1), r"unknown key 'multipliers\[0\]\.mult'"),
        (lambda d: d.update(format_version=2), r"'format_version' is 2, newer than this program reads \(1\)"),
        (lambda d: d["multipliers"][0].update(multiplier="0.9"), r"'multipliers\[0\]\.multiplier' must be a number"),
        (lambda d: d["multipliers"][0].update(n=True), r"'multipliers\[0\]\.n' must be a whole number"),
        (lambda d: d["multipliers"][0].update(dimension="province"), r"must be one of 'dimensions'"),
        (lambda d: d.pop("round"), r"missing key 'round'"),
        (lambda d: d.update(credibility_k=-1), r"'credibility_k' must be a number >= 0"),
    ],
)
def test_read_corrections_is_strict(tmp_path: Path, change, pattern: str) -> None:
    doc = _corrections_doc()
    change(doc)
    path = tmp_path / "corrections.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match=pattern) as err:
        read_corrections(path)
    assert str(path) in str(err.value)


def test_read_corrections_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_corrections(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1, "model_id": "x", "round": 1, "dimensions": [], "credibility_k": NaN, '
                   '"multipliers": []}', encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        read_corrections(bad)
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError, match="JSON object"):
        read_corrections(bad)


# ---------------------------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------------------------


def test_backtest_page_renders_the_trend_and_escapes(tmp_path: Path) -> None:
    h = tiny_history()
    h["amc_id"] = h["amc_id"].replace({"ZJ": "<script>alert(1)</script>"})
    r = backtest(h, FakeModel(TINY_RATES), cutoff=CUTOFF, holdout_from=HOLDOUT)
    rounds = pd.DataFrame({"round": [1, 2, 3], "date": ["2023-12-31", "2024-12-31", "2025-12-31"],
                           "model_id": ["m-fake0000000"] * 3, "holdout_from": ["2022-01-01"] * 3,
                           "n_resolved": [3, 4, 4], "gbv": [1e3, 2e3, 3e3], "deviation_rate": [0.4, 0.3, 0.27],
                           "coverage_count": [0.5, 0.7, 0.75], "coverage_gbv": [0.6, 0.8, 0.9],
                           "amc_deviation_rate": [0.1, np.nan, 0.014]})
    path = write_backtest_html(r, rounds, tmp_path / "backtest.html")
    text = path.read_text(encoding="utf-8")
    for needle in ("回溯检验", "偏差率", "Deviation rate", "fig-trend", "fig-seg-0", "+27.1%", "75.0%",
                   "样本外 out of time"):
        assert needle in text, needle
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # in the table
    assert not re.search(r"<script[^>]*src=", text)  # offline: no external script
    # the trend figure carries the three rounds
    trend = re.search(r'Plotly.newPlot\("fig-trend"', text)
    assert trend is not None
