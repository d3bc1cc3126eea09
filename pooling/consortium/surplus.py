r"""The securitisation surplus of a deal: what issuing adds over each owner's outside option (DESIGN §7).

A coalition :math:`S` selects a pool :math:`P` from its members' assets (:func:`pooling.consortium.game.coalition_value`)
and sizes the notes on it (:func:`pooling.tranching.deal.size_deal`: deterministic stresses, or Monte Carlo when
``structure.sizing: monte_carlo``). The members sell the notes the market buys and keep the rest; they service the
pool for the deal's fees. Against this, each member :math:`m` could keep its selected assets :math:`P_m` and fund
them at its own cost :math:`r_m` (``amcs[].funding_cost``), or sell them in bulk at ``bulk_sale_price`` × gbv.

With the base-case waterfall's cash per column :math:`t` (the :math:`P` payment dates at
:math:`\tau_t = t\,\Delta` years, then the clean-up sale at the legal maturity), each member's discount factor
:math:`D_{m,t} = (1 + r_m)^{-\tau_t}` and its share :math:`w_m` of the pool's gbv (the retention split,
:func:`pooling.tranching.deal._retention`):

.. math::

   \text{surplus}(S) = \underbrace{(1-\rho)(A + B) - R_0}_{\text{senior\_proceeds}}
     + \underbrace{\sum_m w_m \sum_t D_{m,t}\,\bigl(\rho\,(a_t + b_t) + j_t\bigr)}_{\text{retained\_value}}
     + \underbrace{\sum_m s_m \sum_t D_{m,t}\, f_t}_{\text{servicing\_value}}
     - \underbrace{\sum_m \max\Bigl((1-\theta)\sum_{k=1}^{H'} c_{m,k}(1+r_m)^{-k/12},\; \pi_m G_m\Bigr)}_{\text{outside\_value}}
     - \underbrace{(F + \kappa\,(A + B + J))}_{\text{issuance\_cost}}

* :math:`A, B, J`: senior, mezzanine and subordinated sizes; :math:`a_t, b_t, j_t` the cash each class is paid
  (interest + principal; the sub's principal, fixed return and residual).
* :math:`\rho`: the retained share of the rated classes (``structure.retention_share`` under vertical retention,
  0 under junior retention). The rated notes not retained are sold at par; the **sub is kept whole by the
  members**, as AMCs keep it in practice (the seed report's 2006 deals; the sub's market price
  ``sub_issue_price`` is not assumed). :math:`R_0` = ``cash_reserve_share`` × :math:`A` is funded at closing out of
  the proceeds (the waterfall releases it later, to the retained notes).
* Retained notes are worth their base-case cash discounted at the holder's funding cost: the holder funds them
  as it would fund the assets.
* :math:`f_t`: the servicer fees (base, incentive, deferred) the deal pays; they go to the coalition's own
  servicers — the servicing plan's servicers (fee shares :math:`s_m`) when ``structure.servicer_base_fee: plan``,
  else each owner services its own assets (:math:`s_m = w_m`). Work-out costs are the same whether the assets
  are held or securitised, and are not modelled: the fees are a transfer inside the coalition, and what
  servicing adds is the plan's **recovery uplift** beyond what each owner gets by working out its own assets (a
  local AMC's home-province uplift counts in its outside option too).
* :math:`c_{m,k}`: member :math:`m`'s expected collections in month :math:`k` (the valuation's curves, with the
  owner's own home uplift when the plan applies), to :math:`H' = \max(H, L)` (valuation horizon, legal
  maturity: the deal's clean-up sale reaches :math:`H`). :math:`\theta` = ``structure.tax_rate``: the holder pays
  the same taxes on what it collects as the trust does (VAT and surcharges on disposal income), so taxes are no
  gain or loss of issuing. :math:`\pi_m` = ``bulk_sale_price``, :math:`G_m` the gbv of :math:`P_m`; the bulk sale
  is of the member's whole selected package (how batch transfers are done).
* :math:`F + \kappa\,(A+B+J)`: ``consortium.issuance_cost`` {fixed, rate}.

**What sizing alone adds.** With every member funded at one rate :math:`r`, the clean-up sale discounted at
:math:`r` (``valuation.discount_rate``), monthly payments, no expenses, reserve, issuance cost or servicing uplift, the waterfall's conservation makes every term cancel but one:

.. math:: \text{surplus} = (1-\rho)(A+B) - \sum_t (1+r)^{-\tau_t}\,(1-\rho)(a_t + b_t),

the gain of selling the rated notes at their coupon rather than funding the assets at :math:`r` — larger the
larger the senior a pool supports (tests/test_surplus.py checks it). Expenses, the reserve's idle cash and
the issuance cost are what a deal loses; the funding-cost gap of high-cost members and the servicing uplift are
what it gains beyond sizing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pooling.consortium.servicing import DEFAULT_FEE, ServicingPlan, plan_servicing, servicers_of, with_uplift
from pooling.errors import InputError
from pooling.scenario import Scenario
from pooling.tranching.deal import Deal, size_deal
from pooling.tranching.waterfall import PERIOD_MONTHS
from pooling.valuation.model import pool_curve

#: the surplus parts, in coalitions.csv's order
PARTS = ("senior_proceeds", "retained_value", "servicing_value", "outside_value", "issuance_cost", "surplus")
#: per-member columns of :attr:`Surplus.by_amc`
MEMBER_PARTS = ("n_assets", "gbv", "outside_value", "retained_value", "servicing_value")


@dataclass(frozen=True)
class Surplus:
    """A deal's surplus and its parts (CNY), with the per-member split (:data:`MEMBER_PARTS`, indexed by amc_id)."""

    senior_proceeds: float
    retained_value: float
    servicing_value: float
    outside_value: float
    issuance_cost: float
    surplus: float
    notes: float
    servicer_fee_rate: float
    #: the servicing plan's recovery uplift claimed in the deal's collections (0 when the plan is not applied)
    uplift: float
    by_amc: pd.DataFrame
    deal: Deal | None = dataclasses.field(default=None, repr=False, compare=False)

    def parts(self) -> dict[str, float]:
        """The :data:`PARTS` as a dict."""
        return {k: float(getattr(self, k)) for k in PARTS}


def funding_costs(scenario: Scenario) -> dict[str, float]:
    """Each AMC's annual funding cost (``amcs[].funding_cost`` or its kind's default)."""
    return {a.id: a.annual_funding_cost for a in scenario.amcs}


def _own_uplift(pool: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """Per asset: the recovery uplift its owner gets working it out itself — the owner's ``home_uplift`` as a
    servicer, on assets in the owner's home province; 0 elsewhere or when the owner is not a servicer."""
    home = {a.id: a.home_province for a in scenario.amcs}
    uplift = {sv.amc: sv.home_uplift for sv in servicers_of(scenario)}
    owner = pool["amc_id"].astype(str)
    at_home = pool["province"].astype(str).to_numpy() == owner.map(home).to_numpy()
    return np.where(at_home, owner.map(uplift).fillna(0.0).to_numpy(dtype=float), 0.0)


def _plan_for(pool: pd.DataFrame, scenario: Scenario) -> ServicingPlan | None:
    """The coalition's own servicing plan (its members' servicers), or None when its servicers cannot take the
    pool (a local-only coalition with assets outside its members' provinces): then no uplift is claimed."""
    try:
        return plan_servicing(pool, scenario)
    except InputError:
        return None


def outside_values(pool: pd.DataFrame, scenario: Scenario, uplift: np.ndarray | None = None) -> pd.Series:
    r"""Each member's outside option for its assets in ``pool``: :math:`\max((1-\theta)\sum_k c_{m,k}(1+r_m)^{-k/12},
    \pi_m G_m)`, months 1..max(valuation horizon, legal maturity); ``uplift`` per asset scales its collections."""
    horizon = max(scenario.valuation.horizon_months, round(scenario.structure.legal_maturity_years * 12))
    assets = pool if uplift is None else pool.assign(curve_rinf=pool["curve_rinf"].to_numpy(float) * (1.0 + uplift))
    curves = pool_curve(assets, horizon_months=horizon, by="amc_id")
    months = curves.index.to_numpy(dtype=float)
    rates = funding_costs(scenario)
    amcs = {a.id: a for a in scenario.amcs}
    gbv = pool.groupby("amc_id", sort=True)["gbv"].sum()
    keep = 1.0 - scenario.structure.tax_rate
    out = {}
    for m in curves.columns:  # one column per member: vectorised over months
        hold = keep * float(curves[m].to_numpy(float) @ np.power(1.0 + rates[m], -months / 12.0))
        price = amcs[m].bulk_sale_price
        out[m] = max(hold, price * float(gbv[m])) if price is not None else hold
    return pd.Series(out, dtype=float)


def deal_surplus(pool: pd.DataFrame, scenario: Scenario, plan: ServicingPlan | None = None) -> Surplus:
    """The surplus of issuing on ``pool`` (selected, valued assets of the scenario's AMCs) — the module's formula.

    ``scenario`` is the coalition's (:func:`pooling.consortium.game.coalition_scenario`: its members only). With
    ``structure.servicer_base_fee: plan`` the coalition's own servicing plan (``plan``, else computed over
    ``pool`` with the members' servicers) sets the fee and adds its uplift to the collections
    (:func:`~pooling.consortium.servicing.with_uplift`), the same rule as :func:`pooling.pipeline.run_scenario`.
    """
    if pool.empty:
        raise InputError("the pool is empty: no deal, no surplus")
    st = scenario.structure
    members = sorted(pool["amc_id"].astype(str).unique())
    applied = st.servicer_base_fee == "plan"
    uplift_claimed = 0.0
    own = None
    deal_pool = pool
    if applied:
        plan = plan if plan is not None else _plan_for(pool, scenario)
        fee = plan.effective_fee_rate if plan is not None else DEFAULT_FEE
        scenario = scenario.model_copy(update={"structure": st.model_copy(update={"servicer_base_fee": fee})})
        if plan is not None:
            deal_pool = with_uplift(pool, plan)
            uplift_claimed = plan.total_uplift
            own = _own_uplift(pool, scenario)  # what each owner's own work-out would add: not a gain of the deal
    st = scenario.structure
    deal = size_deal(deal_pool, scenario)
    flows = deal.flows
    pay = {k: v[0] for k, v in flows.pay.items()}
    A = float(deal.tranches["size"].iloc[0])
    sizes = dict(zip(deal.tranches["tranche"], deal.tranches["size"], strict=True))
    B = float(deal.tranches["size"].iloc[1]) if st.mezzanine else 0.0
    notes = float(sum(sizes.values()))
    rho = st.retention_share if st.retention == "vertical" else 0.0
    P = flows.collections.shape[1] - 1
    dt = PERIOD_MONTHS[st.payment_frequency] / 12.0
    tau = np.r_[(np.arange(P) + 1) * dt, P * dt]

    gbv = pool.groupby("amc_id", sort=True)["gbv"].sum().reindex(members)
    w = (gbv / gbv.sum()).to_numpy(float)
    rates = funding_costs(scenario)
    r = np.array([rates[m] for m in members])
    D = np.power(1.0 + r[:, None], -tau[None, :])  # (members, columns)

    rated_cash = pay["senior_interest"] + pay["senior_principal"] + pay["mezz_interest"] + pay["mezz_principal"]
    sub_cash = pay["sub_principal"] + pay["sub_fixed_return"] + pay["sub_residual"]
    retained_cash = rho * rated_cash + sub_cash
    fees = pay["servicer_base_fee"] + pay["servicer_incentive_fee"] + pay["servicer_deferred_fee"]
    retained_m = w * (D @ retained_cash)
    if applied and plan is not None:
        by_servicer = plan.assignments.groupby("servicer")["fee"].sum()
        s = (by_servicer / by_servicer.sum()).reindex(members).fillna(0.0).to_numpy(float)
    else:
        s = w
    servicing_m = s * (D @ fees)
    outside_m = outside_values(pool, scenario, own).reindex(members).to_numpy(float)

    reserve0 = st.cash_reserve_share * A
    senior_proceeds = (1.0 - rho) * (A + B) - reserve0
    ic = scenario.consortium.issuance_cost if scenario.consortium else None
    issuance = (ic.fixed + ic.rate * notes) if ic is not None else _default_issuance(notes)
    retained, servicing, outside = float(retained_m.sum()), float(servicing_m.sum()), float(outside_m.sum())
    surplus = senior_proceeds + retained + servicing - outside - issuance
    counts = pool.groupby("amc_id", sort=True).size().reindex(members)
    by_amc = pd.DataFrame({"n_assets": counts.to_numpy(int), "gbv": gbv.to_numpy(float), "outside_value": outside_m,
                           "retained_value": retained_m, "servicing_value": servicing_m},
                          index=pd.Index(members, name="amc_id"))
    return Surplus(senior_proceeds, retained, servicing, outside, issuance, surplus, notes,
                   float(st.servicer_base_fee), uplift_claimed, by_amc, deal)


def _default_issuance(notes: float) -> float:
    from pooling.scenario import IssuanceCost

    d = IssuanceCost()
    return d.fixed + d.rate * notes
