"""Collaboration modes: the price / fee ranges bracket both parties' outside options (issue 13 item 5)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pooling.consortium.collaboration import (
    COLLABORATION_COLUMNS,
    CollaborationTerms,
    collaboration_table,
    price_modes,
)
from pooling.errors import InputError

R = np.array([100.0, 250.0, 40.0])
M = np.array([12.0, 30.0, 6.0])


def pv(rate: float) -> float:
    return float(sum(r / (1 + rate) ** (m / 12) for r, m in zip(R, M, strict=True)))


def test_acquisition_range_is_exactly_the_two_outside_options() -> None:
    terms = CollaborationTerms(national_cost=0.06, local_cost=0.10)
    acq, _ = price_modes(R, M, national_rate=0.035, local_rate=0.055, terms=terms)
    v_local, v_national = 0.90 * pv(0.055), 0.94 * pv(0.035)  # recomputed by hand
    assert acq["price_min"] == pytest.approx(v_local) and acq["price_max"] == pytest.approx(v_national)
    assert acq["feasible"] and acq["local_gain_at_mid"] == pytest.approx(acq["national_gain_at_mid"])
    assert acq["local_gain_at_mid"] > 0
    # at either end of the range one side gains nothing; outside it one side would lose
    assert acq["price_min"] - v_local == pytest.approx(0.0) and v_national - acq["price_max"] == pytest.approx(0.0)


def test_no_funding_or_cost_advantage_means_no_acquisition_gain() -> None:
    terms = CollaborationTerms(national_cost=0.10, local_cost=0.10)
    acq, _ = price_modes(R, M, national_rate=0.05, local_rate=0.05, terms=terms)
    assert acq["price_min"] == pytest.approx(acq["price_max"]) and acq["local_gain_at_mid"] == pytest.approx(0.0)
    worse, _ = price_modes(R, M, national_rate=0.07, local_rate=0.05, terms=terms)
    assert not worse["feasible"] and math.isnan(worse["price_mid"])


def test_entrusted_fee_range_brackets_both_sides() -> None:
    terms = CollaborationTerms(national_cost=0.06, local_cost=0.10, entrusted_uplift=0.05)
    _, ent = price_modes(R, M, national_rate=0.035, local_rate=0.055, terms=terms)
    gross = 1.05 * pv(0.055)
    local_alone = 0.90 * pv(0.055)
    assert ent["fee_min"] == pytest.approx(0.06)
    # at the highest fee the local is exactly as well off as working the assets out itself
    assert (1 - ent["fee_max"]) * gross == pytest.approx(local_alone)
    assert ent["feasible"] and ent["local_gain_at_mid"] > 0 and ent["national_gain_at_mid"] > 0
    assert ent["local_gain_at_mid"] == pytest.approx((1 - ent["fee_mid"]) * gross - local_alone)
    # a national that costs more than the local saves (no uplift) cannot be paid enough
    _, none = price_modes(R, M, national_rate=0.035, local_rate=0.055,
                          terms=CollaborationTerms(national_cost=0.12, local_cost=0.10))
    assert not none["feasible"]


def test_table_pairs_every_national_with_every_local() -> None:
    assets = pd.DataFrame({"amc_id": ["N1", "L1", "L1", "L2"], "gbv": [10.0, 20.0, 30.0, 40.0],
                           "expected_recovery": [5.0, 6.0, 7.0, 8.0], "expected_months": [10.0, 20.0, 30.0, 40.0]})
    amcs = [SimpleNamespace(id="N1", kind="national", funding_cost=None),
            SimpleNamespace(id="L1", kind="local", funding_cost=0.06),
            SimpleNamespace(id="L2", kind="local", funding_cost=None)]
    t = collaboration_table(assets, amcs)
    assert list(t.columns) == COLLABORATION_COLUMNS
    assert len(t) == 4 and set(t["local"]) == {"L1", "L2"} and set(t["mode"]) == {"acquisition", "entrusted_disposal"}
    l1 = t[(t["local"] == "L1") & (t["mode"] == "acquisition")].iloc[0]
    assert l1["gbv"] == 50.0 and l1["n_assets"] == 2


def test_bad_terms_are_clear_errors() -> None:
    with pytest.raises(InputError, match="local_cost"):
        CollaborationTerms(local_cost=1.2)
