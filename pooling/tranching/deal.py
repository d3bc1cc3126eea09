"""From a selected pool to a deal: projection, stresses, sizing, base-case waterfall and analytics (DESIGN §6).

The waterfall and the sizing search live in :mod:`pooling.tranching.waterfall` (arrays only); this module turns a valued
pool and the scenario's ``structure`` into their inputs and the contract tables (tranches.csv, cashflows.csv).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyxirr

from pooling.errors import InputError
from pooling.scenario import Scenario, Structure
from pooling.tranching.montecarlo import DEFAULT_TARGETS, MonteCarloSizing, senior_loss, size_monte_carlo
from pooling.tranching.waterfall import (
    DEFAULT_STRESSES,
    PERIOD_MONTHS,
    Flows,
    Stress,
    Terms,
    cleanup_value,
    monthly_to_periods,
    senior_passes,
    size_mezz,
    size_senior,
    stress_matrix,
    stress_monthly,
    tail_after,
    waterfall,
)
from pooling.valuation.factors import DEFAULT_FACTORS, FactorParameters
from pooling.valuation.model import pool_curve

GRID_HAIRCUTS = np.round(np.arange(0.0, 0.61, 0.05), 2)
GRID_DELAYS = np.arange(0, 25, 6)


def tranche_names(convention: str) -> dict[str, str]:
    """Display names of the classes: senior / mezzanine / subordinated (China), A / B / J (GACS)."""
    if convention == "china":
        return {"senior": "senior", "mezz": "mezzanine", "sub": "subordinated"}
    return {"senior": "A", "mezz": "B", "sub": "J"}


def terms_from(structure: Structure, expenses_base: float | None = None) -> Terms:
    """Waterfall terms from the scenario's structure section (``expenses_base``: CNY the expenses rate applies to)."""
    pm = PERIOD_MONTHS[structure.payment_frequency]
    return Terms(
        period_months=pm,
        legal_periods=max(1, round(structure.legal_maturity_years * 12 / pm)),
        senior_coupon=structure.senior_coupon,
        mezz_coupon=structure.mezzanine.coupon if structure.mezzanine else 0.0,
        tax_rate=structure.tax_rate,
        expenses_rate=structure.expenses_rate,
        expenses_cap=structure.expenses_cap,
        expenses_base=expenses_base,
        base_fee_rate=structure.servicer_base_fee,
        incentive_share=structure.servicer_incentive_share,
        reserve_multiple=structure.reserve_multiple,
        cash_reserve_share=structure.cash_reserve_share,
        sub_fixed_return=structure.sub_fixed_return,
        convention=structure.convention,
        trigger_ccr=structure.trigger_ccr,
        trigger_fee_share=structure.trigger_fee_share,
    )


def stress_table(structure: Structure) -> dict[str, Stress]:
    """The default rating stresses with the scenario's overrides (whole entries replaced)."""
    table = dict(DEFAULT_STRESSES)
    for rating, spec in structure.stresses.items():
        table[rating] = Stress(spec.haircut, spec.delay_months, dict(spec.collateral_haircut))
    return table


@dataclass
class Deal:
    """A sized deal: tranche table, base-case cash flows, stress table and grid, analytics, retention."""

    tranches: pd.DataFrame
    cashflows: pd.DataFrame
    stresses: pd.DataFrame
    grid: pd.DataFrame
    retention: pd.DataFrame
    analytics: dict
    flows: Flows
    #: ``sizing: monte_carlo`` only: percentiles of the pool's collections by period over the factor scenarios
    #: (period 1..P, ``total`` to the legal maturity, ``after_legal``; columns p1, p5, p50, p95, p99, mean, base)
    scenarios: pd.DataFrame | None = None
    monte_carlo: MonteCarloSizing | None = None


def _add_months(as_of, months: int) -> pd.Timestamp:
    """as_of + months, staying on month ends when as_of is one (2026-06-30 + 6 months = 2026-12-31)."""
    start = pd.Timestamp(as_of)
    out = start + pd.DateOffset(months=months)
    return out + pd.offsets.MonthEnd(0) if start.is_month_end else out


def _period_dates(as_of, n: int, months: int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([_add_months(as_of, months * (p + 1)) for p in range(n)])


def _wal(principal: np.ndarray, times: np.ndarray) -> float:
    total = principal.sum()
    return float((principal * times).sum() / total) if total > 0 else float("nan")


def _last_payment(principal: np.ndarray, dates: pd.DatetimeIndex) -> str:
    paid = np.flatnonzero(principal > 0.005)
    return dates[paid[-1]].strftime("%Y-%m-%d") if len(paid) else ""


def size_deal(pool: pd.DataFrame, scenario: Scenario) -> Deal:
    """Size the securities a valued pool supports and run the base case (DESIGN §6).

    ``pool``: the selected assets with the valuation columns (curve_rinf, curve_k, curve_lag, expected_recovery).
    """
    if pool.empty:
        raise InputError("the pool is empty: nothing to tranche")
    st = scenario.structure
    terms = terms_from(st, expenses_base=float(pool["expected_recovery"].sum()))
    stresses = stress_table(st)
    for rating in [st.senior_rating] + ([st.mezzanine.rating] if st.mezzanine else []):
        if rating not in stresses:
            raise InputError(f"structure: no stress defined for rating {rating!r}; known: {sorted(stresses)} "
                             "(add it under structure.stresses)")
    pm, n_legal = terms.period_months, terms.legal_periods
    legal_months = n_legal * pm
    max_delay = max([s.delay_months for s in stresses.values()] + [int(GRID_DELAYS.max())])
    horizon = max(scenario.valuation.horizon_months, legal_months) + max_delay + 1
    curves = pool_curve(pool, horizon_months=horizon, by="collateral_type")
    base_monthly = curves.sum(axis=1).to_numpy(dtype=float)
    base = monthly_to_periods(base_monthly, pm, n_legal)[0]
    gbv = float(pool["gbv"].sum())
    er = float(pool["expected_recovery"].sum())

    def stressed(stress: Stress) -> np.ndarray:
        return monthly_to_periods(stress_monthly(curves, stress), pm, n_legal)[0]

    unit = st.size_unit
    senior_stressed = stressed(stresses[st.senior_rating])[None, :]
    senior = float(size_senior(senior_stressed, terms, unit)[0])
    mezz = 0.0
    mc = None
    if st.sizing == "monte_carlo":
        mcs = st.monte_carlo
        mc = size_monte_carlo(
            pool, terms, senior_rating=st.senior_rating, mezz_rating=st.mezzanine.rating if st.mezzanine else None,
            unit=unit, n_scenarios=mcs.scenarios, seed=mcs.seed, targets=mcs.targets,
            horizon_months=scenario.valuation.horizon_months, discount_rate=scenario.valuation.discount_rate,
            params=factor_parameters(st), deterministic_senior=senior if mcs.floor == "deterministic" else None,
            plan=base)
        senior, mezz = mc.senior, mc.mezz
    elif st.mezzanine:
        mezz = float(size_mezz(stressed(stresses[st.mezzanine.rating])[None, :], np.array([senior]), terms, unit,
                               plan=base, senior_stressed=senior_stressed)[0])
    rated = senior + mezz
    sub = float(np.ceil(rated * st.sub_share_of_notes / (1.0 - st.sub_share_of_notes) / unit) * unit)
    case = run_base_case(base_monthly, senior, mezz, sub, terms, scenario)
    flows, dates, tail, cleanup = case.flows, case.dates, case.tail, case.cleanup
    rate = scenario.valuation.discount_rate
    times = np.r_[(np.arange(n_legal) + 1) * pm / 12.0, legal_months / 12.0]
    legal_date = dates[-1].strftime("%Y-%m-%d")

    # analytics -----------------------------------------------------------------------------------------------
    be_haircut = _break_even_haircut(base, senior, terms) if senior > 0 else float("nan")
    be_delay = _break_even_delay(curves, senior, terms) if senior > 0 else float("nan")
    cash_to = tranche_cash(flows)
    sub_irr = case.sub_irr(st.sub_issue_price)

    names = tranche_names(st.convention)
    coupons = {"senior": st.senior_coupon, "mezz": st.mezzanine.coupon if st.mezzanine else 0.0, "sub": 0.0}
    sizes = {"senior": senior, "mezz": mezz, "sub": sub}
    ratings = {"senior": st.senior_rating, "mezz": st.mezzanine.rating if st.mezzanine else "", "sub": "NR"}
    retention = _retention(pool, sizes, st)
    rows = []
    for key in ("senior", "mezz", "sub"):
        if key == "mezz" and not st.mezzanine:
            continue
        principal = flows.pay[f"{key}_principal"][0]
        stress = stresses.get(ratings[key])
        held = retention[retention["tranche"] == names[key]]
        rows.append({
            "tranche": names[key],
            "size": sizes[key],
            "share_of_gbv": sizes[key] / gbv if gbv else 0.0,
            "share_of_expected_recovery": sizes[key] / er if er else 0.0,
            "coupon": coupons[key],
            "wal_years": _wal(principal, times),
            "expected_maturity": _last_payment(principal, dates),
            "legal_maturity": legal_date,
            "coverage": er / sizes[key] if key == "senior" and sizes[key] > 0 else
                        (er / (senior + mezz) if key == "mezz" and mezz > 0 else float("nan")),
            "retained": float(held["amount"].sum()),
            "retained_by": "; ".join(f"{r.amc_id} {r.amount:,.0f}" for r in held.itertuples()),
            "rating": ratings[key],
            "stress_haircut": stress.haircut if stress and key != "sub" else float("nan"),
            "stress_delay_months": stress.delay_months if stress and key != "sub" else float("nan"),
            "issue_price": st.sub_issue_price if key == "sub" else 1.0,
            "irr": sub_irr if key == "sub" else coupons[key],
        })
    tranches = pd.DataFrame(rows)

    cash = pd.DataFrame({"period": np.arange(1, n_legal + 2), "date": dates.strftime("%Y-%m-%d"),
                         "event": ["payment"] * n_legal + ["cleanup"],
                         "collections": flows.collections[0], "reserve_draw": flows.reserve_draw[0],
                         "reserve_deposit": flows.reserve_deposit[0], "reserve_balance": flows.reserve_balance[0]})
    skip = set()
    if not st.mezzanine:
        skip |= {"mezz_interest", "mezz_principal"}
    if st.convention != "europe":
        skip.add("servicer_deferred_fee")
    for item, arr in flows.pay.items():
        if item not in skip:
            cash[f"pay_{item}"] = arr[0]
    for key in ("senior", "mezz", "sub"):
        if key == "mezz" and not st.mezzanine:
            continue
        cash[f"{names[key]}_balance"] = flows.balances[key][0]
    for key in ("senior", "mezz", "sub"):
        if key == "mezz" and not st.mezzanine:
            continue
        cash[f"{names[key]}_cash"] = cash_to[key][0]

    stress_rows = []
    ratings_sorted = sorted(stresses, key=lambda r: (stresses[r].haircut, stresses[r].delay_months))
    batch = np.vstack([stressed(stresses[r]) for r in ratings_sorted])
    max_senior = size_senior(batch, terms, unit)
    for r, size in zip(ratings_sorted, max_senior, strict=True):
        stress_rows.append({"rating": r, "haircut": stresses[r].haircut, "delay_months": stresses[r].delay_months,
                            "stressed_collections": float(batch[ratings_sorted.index(r)].sum()),
                            "max_senior": float(size), "max_senior_share_of_er": float(size) / er if er else 0.0})
    stress_table_ = pd.DataFrame(stress_rows)
    scenario_view = None
    if mc is not None:
        stress_table_ = _scenario_rows(stress_table_, mc, st, terms, er, mezz, sub, base)
        scenario_view = mc.collections.percentiles()
    grid = _stress_grid(curves, terms, unit, er)
    analytics = {
        "pool_gbv": gbv,
        "pool_expected_recovery": er,
        "collections_to_legal_maturity": float(base.sum()),
        "collections_after_legal_maturity": tail,
        "cleanup_proceeds": cleanup,
        "cleanup_discount_rate": rate,
        "senior_size": senior,
        "senior_share_of_gbv": senior / gbv if gbv else 0.0,
        "senior_share_of_expected_recovery": senior / er if er else 0.0,
        "senior_coverage": er / senior if senior > 0 else None,
        "senior_break_even_haircut": be_haircut,
        "senior_break_even_delay_months": be_delay,
        "senior_repaid_in_base_case": bool(flows.balances["senior"][0, n_legal - 1] <= 0.005),
        "senior_wal_years": float(tranches.loc[0, "wal_years"]),
        "sub_irr": sub_irr,
        "max_conservation_error": float(np.abs(flows.conservation_error()).max()),
    }
    if mc is not None:
        loss_p, loss_e = senior_loss(mc.collections, senior, mezz, sub, terms, plan=base)
        analytics.update({
            "sizing": "monte_carlo",
            "scenarios": mc.n_scenarios,
            "scenario_seed": mc.seed,
            "senior_target_share": mc.senior_target,
            "senior_pass_share": mc.senior_pass_share,
            "senior_loss_probability": loss_p,
            "senior_expected_loss": loss_e,
            "monte_carlo_senior": mc.monte_carlo_senior,
            "deterministic_senior": float(max_senior[ratings_sorted.index(st.senior_rating)]),
            "floor": st.monte_carlo.floor,
        })
        if st.mezzanine:
            analytics["mezz_target_share"] = mc.mezz_target
            analytics["mezz_pass_share"] = mc.mezz_pass_share
    return Deal(tranches, cash, stress_table_, grid, retention, analytics, flows, scenario_view, mc)


def factor_parameters(structure: Structure) -> FactorParameters:
    """The factor model's parameters: the calibrated defaults with ``structure.monte_carlo.factors`` overrides."""
    overrides = structure.monte_carlo.factors.overrides()
    return DEFAULT_FACTORS.replace(**overrides) if overrides else DEFAULT_FACTORS


#: Columns stresses.csv gains under ``sizing: monte_carlo`` (docs/tranching.md, "Outputs").
SCENARIO_COLUMNS = ("method", "target_share", "pass_share", "senior_loss_probability", "senior_expected_loss",
                    "collections_p1", "collections_p5", "collections_p50", "collections_p95", "collections_p99")


def _scenario_rows(table: pd.DataFrame, mc: MonteCarloSizing, st: Structure, terms: Terms, er: float,
                   mezz: float, sub: float, plan: np.ndarray) -> pd.DataFrame:
    """stresses.csv under Monte Carlo sizing: the deterministic rows (``method`` = deterministic) and one row per
    rating target (``method`` = monte_carlo): the largest senior meeting that rating's share of scenarios, its pass
    share, loss probability and expected loss, and the percentiles of pool collections to the legal maturity.
    """
    from pooling.tranching.montecarlo import _largest_meeting, pass_share

    C = mc.collections.periods
    totals = mc.collections.totals
    pct = np.percentile(totals, [1, 5, 50, 95, 99])
    targets = {**DEFAULT_TARGETS, **st.monte_carlo.targets}
    can_repay = C.sum(axis=1) / max(1.0 - terms.cash_reserve_share, 1e-9)
    rows = []
    for rating, q in sorted(targets.items(), key=lambda kv: -kv[1]):
        if rating == st.senior_rating:
            size, share = mc.monte_carlo_senior, mc.senior_pass_share
            if mc.senior != mc.monte_carlo_senior:
                share = float(pass_share(C, np.array([size]), terms)[0]) if size > 0 else 1.0
        else:
            cap = float(np.quantile(can_repay, 1.0 - q, method="higher"))
            size, share = _largest_meeting(lambda x: pass_share(C, x, terms), q, cap, st.size_unit)
        loss_p, loss_e = senior_loss(mc.collections, size, mezz if rating == st.senior_rating else 0.0,
                                     sub if rating == st.senior_rating else 0.0, terms, plan=plan)
        rows.append({"rating": rating, "haircut": np.nan, "delay_months": np.nan,
                     "stressed_collections": float(np.quantile(totals, 1.0 - q)), "max_senior": size,
                     "max_senior_share_of_er": size / er if er else 0.0, "method": "monte_carlo", "target_share": q,
                     "pass_share": share, "senior_loss_probability": loss_p, "senior_expected_loss": loss_e,
                     **{f"collections_p{p}": v for p, v in zip((1, 5, 50, 95, 99), pct, strict=True)}})
    det = table.assign(method="deterministic")
    out = pd.concat([det, pd.DataFrame(rows)], ignore_index=True)
    return out[list(table.columns) + list(SCENARIO_COLUMNS)]


@dataclass
class BaseCase:
    """One run of the waterfall to the legal maturity plus the clean-up sale (P + 1 columns)."""

    flows: Flows
    dates: pd.DatetimeIndex  # P payment dates, then the legal maturity again for the clean-up
    tail: float  # collections expected after the legal maturity, months L+1..H, undiscounted
    cleanup: float  # their clean-up sale price at the legal maturity (cleanup_value)
    as_of: pd.Timestamp
    sub_size: float

    def sub_irr(self, issue_price: float) -> float:
        """The sub's IRR: bought at ``issue_price`` × its size on ``as_of``, paid its cash column by date."""
        if self.sub_size <= 0:
            return float("nan")
        return _irr(self.as_of, self.dates, -issue_price * self.sub_size, tranche_cash(self.flows)["sub"][0])


def run_base_case(monthly: np.ndarray, senior: float, mezz: float, sub: float, terms: Terms,
                  scenario: Scenario, plan: np.ndarray | None = None) -> BaseCase:
    """Run issued tranches through the waterfall on monthly collections ``monthly`` (from month 1), then sell
    what the valuation expects after the legal maturity L (months L+1..H, H = ``valuation.horizon_months``) in
    a clean-up sale at L, priced by :func:`~pooling.tranching.waterfall.cleanup_value` at
    ``valuation.discount_rate``. Used for the base case of :func:`size_deal` and to re-run an issued deal on
    other projections (stressed, or updated after issue). ``plan``: the base-case collections per period for
    the GACS trigger (default: those of ``monthly``)."""
    pm, n_legal = terms.period_months, terms.legal_periods
    legal_months = n_legal * pm
    H = scenario.valuation.horizon_months
    monthly = np.atleast_2d(np.asarray(monthly, dtype=float))
    periods = monthly_to_periods(monthly, pm, n_legal)
    tail = float(tail_after(monthly, legal_months, H)[0])
    cleanup = float(cleanup_value(monthly, legal_months, scenario.valuation.discount_rate, H)[0])
    flows = waterfall(periods, np.array([senior]), np.array([mezz]), np.array([sub]), terms,
                      plan=periods[0] if plan is None else plan, cleanup=np.array([cleanup]))
    legal_date = _add_months(scenario.as_of, legal_months)
    dates = _period_dates(scenario.as_of, n_legal, pm).append(pd.DatetimeIndex([legal_date]))
    return BaseCase(flows, dates, tail, cleanup, pd.Timestamp(scenario.as_of), sub)


def tranche_cash(flows: Flows) -> dict[str, np.ndarray]:
    """What each tranche receives per column (S, P): senior and mezzanine interest + principal; sub principal +
    fixed return + residual (the sub's cash for its IRR)."""
    return {
        "senior": flows.pay["senior_interest"] + flows.pay["senior_principal"],
        "mezz": flows.pay["mezz_interest"] + flows.pay["mezz_principal"],
        "sub": flows.pay["sub_principal"] + flows.pay["sub_fixed_return"] + flows.pay["sub_residual"],
    }


def _break_even_haircut(base: np.ndarray, senior: float, terms: Terms, width: int = 64) -> float:
    """Largest flat haircut (no delay) at which the issued senior still passes, to 0.01%: a scan of 64 haircuts,
    then twice a finer scan between the largest passing one and the next."""
    lo, hi = 0.0, 1.0
    for _ in range(3):
        h = np.linspace(lo, hi, width)
        ok = senior_passes((1.0 - h)[:, None] * base[None, :], np.full(width, senior), terms)
        if not ok.any():
            return 0.0
        n = width - int(np.argmax(ok[::-1]))  # one past the largest passing haircut
        lo, hi = h[n - 1], h[min(n, width - 1)]
        if n == width:
            return float(hi)
    return float(lo)


def _break_even_delay(curves: pd.DataFrame, senior: float, terms: Terms) -> float:
    """Largest whole-month delay of every collection (no haircut) at which the issued senior still passes."""
    monthly = curves.sum(axis=1).to_numpy(dtype=float)
    delays = np.arange(0, terms.legal_periods * terms.period_months + 1)
    M = len(monthly)
    shifted = np.zeros((len(delays), M))
    for i, d in enumerate(delays):  # ≤ 121 rows of a short curve, not a per-asset loop
        shifted[i, d:] = monthly[: M - d] if d < M else 0.0
    periods = monthly_to_periods(shifted, terms.period_months, terms.legal_periods)
    ok = senior_passes(periods, np.full(len(delays), senior), terms)
    passing = delays[ok]
    return float(passing.max()) if len(passing) else float("nan")


def _stress_grid(curves: pd.DataFrame, terms: Terms, unit: float, er: float) -> pd.DataFrame:
    """Largest senior over a haircut × delay grid, all sized in one batched search."""
    combos = [(h, int(d)) for d in GRID_DELAYS for h in GRID_HAIRCUTS]
    monthly, types = curves.to_numpy(dtype=float), [str(col) for col in curves.columns]
    batch = np.vstack([monthly_to_periods(stress_matrix(monthly, types, Stress(h, d)), terms.period_months,
                                          terms.legal_periods)[0] for h, d in combos])
    sizes = size_senior(batch, terms, unit)
    return pd.DataFrame({"haircut": [h for h, _ in combos], "delay_months": [d for _, d in combos],
                         "max_senior": sizes, "max_senior_share_of_er": sizes / er if er else 0.0})


def _irr(as_of, dates: pd.DatetimeIndex, outlay: float, cash: np.ndarray) -> float:
    flows = [outlay, *cash.tolist()]
    when = [pd.Timestamp(as_of).date(), *[d.date() for d in dates]]
    try:
        value = pyxirr.xirr(when, flows)
    except Exception:  # pyxirr raises when no rate solves (e.g. all cash negative)
        return float("nan")
    return float(value) if value is not None else float("nan")


def _retention(pool: pd.DataFrame, sizes: dict[str, float], st: Structure) -> pd.DataFrame:
    """Risk retention per AMC: vertical (share of every class) or junior (share of the subordinated class),
    split by each AMC's share of pool gbv (PBOC/CBRC 2013: ≥ 5%)."""
    share = pool.groupby("amc_id", sort=True)["gbv"].sum()
    share = share / share.sum()
    names = tranche_names(st.convention)
    keys = ["senior", "mezz", "sub"] if st.retention == "vertical" else ["sub"]
    rows = []
    for key in keys:
        if sizes[key] <= 0:
            continue
        for amc, s in share.items():
            rows.append({"amc_id": amc, "tranche": names[key], "amount": st.retention_share * sizes[key] * float(s),
                         "share_of_tranche": st.retention_share * float(s)})
    return pd.DataFrame(rows, columns=["amc_id", "tranche", "amount", "share_of_tranche"])


def write_deal(out_dir, deal: Deal) -> list:
    """tranches.csv and cashflows.csv (DESIGN §3.3) plus stresses.csv, stress_grid.csv, retention.csv; atomic."""
    from pathlib import Path

    from pooling.io import write_csv

    out_dir = Path(out_dir)
    return [
        write_csv(deal.tranches, out_dir / "tranches.csv"),
        write_csv(deal.cashflows, out_dir / "cashflows.csv", float_format="%.2f"),
        write_csv(deal.stresses, out_dir / "stresses.csv"),
        write_csv(deal.grid, out_dir / "stress_grid.csv"),
        write_csv(deal.retention, out_dir / "retention.csv"),
    ]


def analytics_json(deal: Deal) -> dict:
    """The deal's analytics and tranche sizes for summary.json (NaN → None)."""
    clean = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in deal.analytics.items()}
    clean["tranches"] = {r["tranche"]: r["size"] for r in deal.tranches.to_dict("records")}
    return clean
