"""Stress levers (docs/studies.md): named, composable changes to a scenario's inputs.

* ``withdraw`` — the AMCs leave: their tapes are not read, their limits vanish (and servicers they provided).
* ``withdraw_packages`` — AMC id → packages (资产包) it holds back: their assets are left out of the run
  (applied by :func:`pooling.pipeline.without_withdrawn_packages`, where packages are labelled).
* ``coupon_shift`` — added to the senior coupon.
* ``house_price_shock`` — collateral value by type × (1 + shock): appraisals on the tape and the model's
  default coverage; a tape-valued asset's expected recovery of that collateral type moves by the same factor.
  Coverage stays capped at ``max_coverage``, so an over-collateralised loan feels a fall only once its
  coverage drops below the cap — as a real one does.
* ``court_delay_months`` — collections of assets whose recovery runs through the courts (every legal status but
  ``settled``) start that much later: the model's ``lag_months`` grows, a tape's ``expected_months`` too.
* ``recovery_haircut`` — expected recovery, npv and curve level × (1 − h_province)(1 − h_asset_type).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pooling import vocab
from pooling.scenario import ModelParameters, Scenario
from pooling.valuation.model import RecoveryParameters

COURT_STATUSES = tuple(s for s in vocab.LEGAL_STATUSES if s != "settled")


def effective_scenario(scenario: Scenario) -> Scenario:
    """The scenario with its scenario-level levers applied (withdrawals, coupon shift)."""
    lv = scenario.levers
    s = scenario
    if lv.withdraw:
        gone = set(lv.withdraw)
        amcs = [a for a in s.amcs if a.id not in gone]
        total_min = sum(a.min_share for a in amcs)
        if total_min > 1.0:
            amcs = [a.model_copy(update={"min_share": a.min_share / total_min}) for a in amcs]
        update = {"amcs": amcs, "levers": lv.model_copy(update={"withdraw": []})}
        if s.consortium is not None and s.consortium.servicers:
            update["consortium"] = s.consortium.model_copy(
                update={"servicers": [sv for sv in s.consortium.servicers if sv.amc not in gone]})
        s = s.model_copy(update=update)
    if lv.coupon_shift:
        coupon = max(0.0, s.structure.senior_coupon + lv.coupon_shift)
        s = s.model_copy(update={"structure": s.structure.model_copy(update={"senior_coupon": coupon})})
    return s


def lever_parameters(params: RecoveryParameters, scenario: Scenario) -> RecoveryParameters:
    """Valuation parameters with the house-price shock (default coverage) and court delay (lags) applied."""
    lv = scenario.levers
    update = {}
    if lv.house_price_shock:
        update["default_coverage"] = {t: params.default_coverage[t] * (1.0 + d) for t, d in lv.house_price_shock.items()}
    if lv.court_delay_months:
        update["lag_months"] = {st: params.lag_months[st] + lv.court_delay_months for st in COURT_STATUSES}
    return params.with_overrides(ModelParameters(**update)) if update else params


def before_valuation(assets: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Tape-level changes: appraisals and tape recoveries under the house-price shock, tape timing under delay."""
    lv = scenario.levers
    if not (lv.house_price_shock or lv.court_delay_months):
        return assets
    out = assets.copy()
    if lv.house_price_shock:
        factor = out["collateral_type"].astype(str).map(lambda t: 1.0 + lv.house_price_shock.get(t, 0.0)).to_numpy(float)
        out["collateral_value"] = out["collateral_value"] * factor
        out["expected_recovery"] = out["expected_recovery"] * factor
    if lv.court_delay_months:
        court = out["legal_status"].astype(str).isin(COURT_STATUSES).to_numpy()
        out["expected_months"] = out["expected_months"] + np.where(court, lv.court_delay_months, 0.0)
    return out


def after_valuation(valued: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Recovery haircuts by province and asset type on the valued assets."""
    cut = scenario.levers.recovery_haircut
    if not (cut.province or cut.asset_type):
        return valued
    by_prov = {vocab.province_code(p): h for p, h in cut.province.items()}
    f = (1.0 - valued["province"].astype(str).map(by_prov).fillna(0.0).to_numpy(float))
    f *= 1.0 - valued["asset_type"].astype(str).map(cut.asset_type).fillna(0.0).to_numpy(float)
    out = valued.copy()
    for c in ("expected_recovery", "npv", "curve_rinf"):
        out[c] = out[c] * f
    out["recovery_rate"] = np.where(out["gbv"] > 0, out["expected_recovery"] / out["gbv"].where(out["gbv"] > 0, 1.0), 0.0)
    return out
