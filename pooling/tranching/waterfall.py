r"""Tranche sizing and the period-by-period waterfall (DESIGN §6).

Everything here runs on arrays with a leading *batch* axis: ``collections`` has shape (S, P) — S scenarios (or
candidate sizes) by P payment periods — and every balance is an (S,) vector updated period by period. One
Python loop over periods (≤ 120), numpy across the batch: sizing one deal scans 257 candidate senior sizes at
once; 1,000 stress scenarios are sized together.

Waterfall (China convention), per period, in order of priority:

1. taxes :math:`= \tau \cdot C_p` (a proxy rate on collections);
2. expenses (trustee, rating, custody, audit): :math:`e \cdot N_0 \cdot \Delta` capped at ``expenses_cap`` a year
   (:math:`N_0` = ``expenses_base``, the pool's expected recovery in a deal, so that they do not depend on the
   tranche sizes being searched);
3. servicer base fee :math:`= b \cdot C_p`;
4. senior interest :math:`= c_s \cdot B^s_{p-1} \cdot \Delta`;
   (1–4 may draw on the liquidity reserve when collections fall short)
5. liquidity reserve top-up to target :math:`= \max(m \cdot` (next period's taxes + senior interest),
   :math:`\rho \cdot B^s)`; a cash reserve of :math:`\rho B^s_0` is funded at closing (GACS deals: 3–4.5% of
   class A);
6. senior principal (pass-through: everything left, up to the balance);
7. mezzanine interest, deferrable (unpaid interest accrues as arrears), then mezzanine principal;
8. subordinated principal;
9. subordinated fixed return (accrued at ``sub_fixed_return`` a year on the sub balance);
10. excess split: servicer incentive fee (``incentive_share``) and sub residual.

Cash is conserved every period: :math:`C_p + \text{reserve\_draw}_p = \sum \text{pay}_p + \text{reserve\_deposit}_p`.

Clean-up sale: what is still expected after the legal maturity L is sold at L for
:math:`V = \sum_{m>L}^{H} c_m (1+r)^{-(m-L)/12}` (:func:`cleanup_value`) and distributed by the same waterfall as
one more column on the same date, with no time elapsed (``waterfall(..., cleanup=V)``).

A tranche *passes* its rating stress when, under the stressed collections, every period's interest is paid in
full and its principal is repaid by the legal maturity. The senior size is the largest multiple of ``size_unit``
that passes. The test is *not* monotone in the size: a larger senior owes more interest and principal from the same
cash, but it also funds a larger cash reserve (:math:`\rho B^s`), and when the first collections arrive late a
small senior's reserve cannot carry the fixed expenses — passing sizes then start above zero and may form several
intervals. :func:`_largest_passing` therefore scans a grid of sizes over [0, cap] in one batched call and sections
the bracket between the largest passing grid point and the next (failing) one: the result passes and one unit
more fails (docs/tranching.md, "Sizing").

GACS-style (``convention: europe``): classes A / B / J; when cumulative collections fall below
``trigger_ccr`` of the base-case plan, class B interest and ``trigger_fee_share`` of the servicer fee are paid
only after class A principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6}


@dataclass(frozen=True)
class Stress:
    """A rating-level stress: recovery haircut (optionally by collateral type) and a timing delay in months."""

    haircut: float
    delay_months: int
    collateral_haircut: dict[str, float] = field(default_factory=dict)


#: Default stress table. Calibrated on the public Chinese NPL ABS in reference/market-data.md so that the AAA
#: senior comes out ≈ 0.5–0.65 × the base-case expected recovery (observed 0.47–0.55, 和萃1's 0.78 excepted) —
#: see docs/tranching.md for the calibration and its residuals.
DEFAULT_STRESSES: dict[str, Stress] = {
    "base": Stress(0.0, 0),
    "BBB": Stress(0.17, 2),
    "A": Stress(0.23, 3),
    "AA": Stress(0.29, 4),
    "AAA": Stress(0.35, 6),
}


@dataclass(frozen=True)
class Terms:
    """Deal terms the waterfall needs, with units. Rates are annual unless said otherwise."""

    period_months: int = 6
    legal_periods: int = 10  # number of periods to legal maturity
    senior_coupon: float = 0.025
    mezz_coupon: float = 0.045
    tax_rate: float = 0.0326  # VAT + surcharges proxy, on collections
    expenses_rate: float = 0.0005  # of initial notes a year
    expenses_cap: float = 3.0e6  # CNY a year
    expenses_base: float | None = None  # CNY the expenses rate applies to; None: the initial notes
    base_fee_rate: float = 0.05  # of collections
    incentive_share: float = 0.20  # of the excess after the sub's fixed return
    reserve_multiple: float = 1.5  # × next period's taxes + senior interest
    cash_reserve_share: float = 0.04  # of the senior: funded at closing, floor of the reserve while the senior is out
    sub_fixed_return: float = 0.05
    convention: str = "china"
    trigger_ccr: float = 0.90
    trigger_fee_share: float = 0.20

    @property
    def dt(self) -> float:
        return self.period_months / 12.0


PAY_ITEMS = ("taxes", "expenses", "servicer_base_fee", "senior_interest", "mezz_interest", "senior_principal",
             "mezz_principal", "sub_principal", "sub_fixed_return", "servicer_incentive_fee", "sub_residual",
             "servicer_deferred_fee")


@dataclass
class Flows:
    """Waterfall output: one (S, P) array per pay item, reserve movements and tranche balances (end of period)."""

    collections: np.ndarray
    pay: dict[str, np.ndarray]
    reserve_draw: np.ndarray
    reserve_deposit: np.ndarray
    reserve_balance: np.ndarray
    balances: dict[str, np.ndarray]
    interest_shortfall: dict[str, np.ndarray]  # senior: unpaid taxes, senior fees, interest; mezz: interest arrears

    def conservation_error(self) -> np.ndarray:
        """collections + reserve_draw − Σ pay − reserve_deposit, per scenario and period (should be ~0)."""
        paid = sum(self.pay.values())
        return self.collections + self.reserve_draw - paid - self.reserve_deposit


def _reserve_target(terms: Terms, next_collections: np.ndarray, senior: np.ndarray, last: bool) -> np.ndarray:
    """Reserve target: multiple × (next period's taxes + senior interest), floored at the cash-reserve share of the
    senior outstanding (on the balance before this period's principal: conservative); nil once the senior is
    repaid or at the last period, when the reserve is released down the waterfall."""
    need = terms.reserve_multiple * (terms.tax_rate * next_collections + terms.senior_coupon * senior * terms.dt)
    target = np.maximum(need, terms.cash_reserve_share * senior)
    return np.where(last | (senior <= 0), 0.0, target)


def waterfall(
    collections: np.ndarray,
    senior: np.ndarray,
    mezz: np.ndarray,
    sub: np.ndarray,
    terms: Terms,
    plan: np.ndarray | None = None,
    cleanup: np.ndarray | None = None,
) -> Flows:
    """Run the waterfall for a batch: ``collections`` (S, P), initial tranche balances (S,) each.

    ``plan`` (P,) is the base-case collections per period, used for the GACS cumulative-collection trigger.

    ``cleanup`` (S,): proceeds of the clean-up sale of the assets still unresolved at the legal maturity
    (:func:`cleanup_value`). They are distributed after the last period, on the same date, as one more column of
    every output (P + 1 columns): the same waterfall with no time elapsed — taxes and the servicer base fee at
    their rates on the proceeds, no expenses, no new interest or sub fixed return, no reserve — so arrears, any
    unpaid principal, the sub's accrued return, the incentive fee and the sub residual are paid by the same rules.
    The tranches' tests (:func:`passes`) still look at the legal maturity, period P.
    """
    C = np.atleast_2d(np.asarray(collections, dtype=float))
    S, P = C.shape
    n_cols = P
    if cleanup is not None:
        C = np.hstack([C, np.broadcast_to(np.asarray(cleanup, dtype=float), (S,))[:, None]])
        n_cols = P + 1
    sen = np.broadcast_to(np.asarray(senior, dtype=float), (S,)).copy()
    mez = np.broadcast_to(np.asarray(mezz, dtype=float), (S,)).copy()
    sb = np.broadcast_to(np.asarray(sub, dtype=float), (S,)).copy()
    notes0 = sen + mez + sb
    dt = terms.dt
    base = notes0 if terms.expenses_base is None else terms.expenses_base
    expenses_due = np.minimum(terms.expenses_rate * base * dt, terms.expenses_cap * dt)
    shape = (S, n_cols)
    pay = {k: np.zeros(shape) for k in PAY_ITEMS}
    draw = np.zeros(shape)
    deposit = np.zeros(shape)
    res_bal = np.zeros(shape)
    bal = {k: np.zeros(shape) for k in ("senior", "mezz", "sub")}
    short = {k: np.zeros(shape) for k in ("senior", "mezz")}
    reserve = terms.cash_reserve_share * sen  # funded at closing from the issue proceeds
    sub_accrued = np.zeros(S)
    deferred_fee = np.zeros(S)
    mezz_arrears = np.zeros(S)
    europe = terms.convention == "europe"
    cum_plan = np.cumsum(plan) if plan is not None else None
    cum_coll = np.zeros(S)

    def take(cash: np.ndarray, due: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        paid = np.minimum(cash, due)
        return cash - paid, paid

    for p in range(n_cols):
        cash = C[:, p].copy()
        cum_coll += C[:, p]
        clean = p == P  # the clean-up sale: no time elapses
        step = 0.0 if clean else dt
        last = p >= P - 1
        if europe and cum_plan is not None and not clean:
            trig = cum_coll < terms.trigger_ccr * cum_plan[p]
        else:
            trig = np.zeros(S, dtype=bool)

        taxes = terms.tax_rate * C[:, p]
        base_fee = terms.base_fee_rate * C[:, p]
        deferrable = np.where(trig, terms.trigger_fee_share * base_fee, 0.0)
        senior_int = terms.senior_coupon * sen * step
        mezz_int = terms.mezz_coupon * mez * step
        # senior-ranking items, drawing on the reserve for any shortfall
        senior_items = (("taxes", taxes), ("expenses", expenses_due * (sen + mez + sb > 0) * (not clean)),
                        ("servicer_base_fee", base_fee - deferrable), ("senior_interest", senior_int))
        for name, due in senior_items:
            cash, paid = take(cash, due)
            gap = due - paid
            use = np.minimum(reserve, gap)
            reserve -= use
            draw[:, p] += use
            pay[name][:, p] = paid + use
        # anything of taxes, senior fees or senior interest left unpaid fails the senior's test
        short["senior"][:, p] = sum(due - pay[name][:, p] for name, due in senior_items)
        # GACS: class B interest ranks here unless the trigger has subordinated it below class A principal
        mezz_due = mezz_int + mezz_arrears
        if europe:
            cash, paid = take(cash, np.where(trig, 0.0, mezz_due))
            pay["mezz_interest"][:, p] += paid
            mezz_due = mezz_due - paid
        # reserve to target (released when the senior is gone or at the end)
        next_c = C[:, p + 1] if p + 1 < P else np.zeros(S)
        target = _reserve_target(terms, next_c, sen, last)
        release = np.maximum(reserve - target, 0.0)
        reserve -= release
        draw[:, p] += release
        cash += release
        cash, dep = take(cash, np.maximum(target - reserve, 0.0))
        reserve += dep
        deposit[:, p] = dep
        # senior principal
        cash, paid = take(cash, sen)
        pay["senior_principal"][:, p] = paid
        sen = sen - paid
        # mezzanine interest (China; GACS when triggered), deferrable: what is unpaid accrues as arrears
        cash, paid = take(cash, mezz_due)
        pay["mezz_interest"][:, p] += paid
        mezz_arrears = mezz_due - paid
        short["mezz"][:, p] = mezz_arrears
        if europe:  # the deferred part of the servicer fee, after class A principal and class B interest
            cash, paid = take(cash, deferrable + deferred_fee)
            pay["servicer_deferred_fee"][:, p] = paid
            deferred_fee = deferred_fee + deferrable - paid
        cash, paid = take(cash, mez)
        pay["mezz_principal"][:, p] = paid
        mez = mez - paid
        # subordinated principal, then its fixed return
        sub_accrued += terms.sub_fixed_return * sb * step
        cash, paid = take(cash, sb)
        pay["sub_principal"][:, p] = paid
        sb = sb - paid
        cash, paid = take(cash, sub_accrued)
        pay["sub_fixed_return"][:, p] = paid
        sub_accrued -= paid
        # excess: incentive fee and sub residual
        incentive = terms.incentive_share * cash
        pay["servicer_incentive_fee"][:, p] = incentive
        pay["sub_residual"][:, p] = cash - incentive
        res_bal[:, p] = reserve
        bal["senior"][:, p] = sen
        bal["mezz"][:, p] = mez
        bal["sub"][:, p] = sb
    return Flows(C, pay, draw, deposit, res_bal, bal, short)


def passes(flows: Flows, tranche: str, legal_periods: int, tol: float = 1e-6) -> np.ndarray:
    """(S,) bool: does the tranche pass? Senior: taxes, senior fees and interest paid in full every period
    (timely) and principal repaid by the legal maturity. Mezzanine: its interest is deferrable, so all interest
    (arrears included) and principal repaid by the legal maturity (ultimate)."""
    P = flows.collections.shape[1]
    k = min(legal_periods, P) - 1
    scale = np.maximum(flows.balances[tranche][:, 0] + flows.pay[f"{tranche}_principal"][:, 0], 1.0)
    short = flows.interest_shortfall[tranche]
    interest_ok = (short[:, : k + 1] <= tol * scale[:, None]).all(axis=1) if tranche == "senior" else short[:, k] <= tol * scale
    repaid = flows.balances[tranche][:, k] <= tol * scale
    return interest_ok & repaid


def _largest_passing(test, cap: np.ndarray, unit: float, scan: int | None = None, section: int | None = None
                     ) -> np.ndarray:
    r"""Largest multiple of ``unit`` in [0, cap] with test(x) True, per scenario; 0 where none passes.

    The passing sizes need not run from zero up (a small senior's reserve may not carry fixed expenses when the
    first collections arrive late), nor form one interval, so nothing is assumed about their shape. ``test`` takes
    a flat array of candidates laid out scenario-major (S × n) and is called once per stage or round:

    1. *scan*: the grid :math:`x_j = \lfloor j\,N/n \rfloor \cdot u`, j = 0..n, :math:`N = \lfloor cap/u \rfloor`
       (n = ``scan``); keep the largest passing grid point :math:`x_k` as lo and :math:`x_{k+1}` (failing) as hi;
    2. *section*: ``section`` points strictly inside (lo, hi); lo becomes the largest passing one and hi the next
       point above it (or the old hi), so "lo passes, hi fails" holds whatever the pattern inside; repeat until
       hi − lo = one unit.

    The result x passes and x + u fails (or x is the cap). It is the largest passing size unless a passing interval
    narrower than the scan step cap / n lies above x, wholly between two failing grid points (the scan's
    resolution: 1/1,024 of the cap for up to 16 scenarios, never coarser than 1/128).
    """
    S = len(cap)
    scan = scan or max(128, min(1024, 16384 // max(S, 1)))
    section = section or max(8, min(1024, 16384 // max(S, 1)))
    top = np.floor(np.maximum(cap, 0.0) / unit)  # sizes are n · unit, n = 0..top
    rows = np.arange(S)
    # 1. scan
    grid = np.floor(top[:, None] * np.linspace(0.0, 1.0, scan + 1)[None, :])  # (S, scan + 1), both ends included
    ok = test((grid * unit).reshape(-1)).reshape(S, scan + 1)
    any_ok = ok.any(axis=1)
    k = np.where(any_ok, scan - np.argmax(ok[:, ::-1], axis=1), 0)  # largest passing grid index
    lo = np.where(any_ok, grid[rows, k], 0.0)
    hi = np.where(any_ok & (k < scan), grid[rows, np.minimum(k + 1, scan)], lo)
    # 2. section: lo passes, hi fails (hi = lo: done)
    frac = np.arange(1, section + 1) / (section + 1)
    for _ in range(64):
        open_ = hi - lo > 1
        if not open_.any():
            break
        cand = np.floor(lo[:, None] + (hi - lo)[:, None] * frac[None, :])
        cand = np.clip(cand, (lo + 1)[:, None], np.maximum(hi - 1, lo + 1)[:, None])
        ok = test((cand * unit).reshape(-1)).reshape(S, section) & open_[:, None]
        has = ok.any(axis=1)
        j = section - 1 - np.argmax(ok[:, ::-1], axis=1)  # largest passing candidate
        above = np.where(has, j + 1, 0)  # the candidate just above the new lo (none: the old hi)
        new_hi = np.where(above < section, cand[rows, np.minimum(above, section - 1)], hi)
        lo = np.where(open_ & has, cand[rows, j], lo)
        hi = np.where(open_, new_hi, hi)
    return lo * unit


def senior_passes(C: np.ndarray, senior: np.ndarray, terms: Terms, tol: float = 1e-6,
                  source: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: does a senior of size ``senior`` (N,) pass under collections ``C`` (S, P)? A fast path of
    :func:`waterfall` that tracks only what ranks ahead of, or is, the senior (steps 1–6), with the same rules —
    the tests check it against :func:`passes` on the full waterfall. ``source`` (N,): the row of ``C`` each size
    is tested on (default: row i for size i, N = S), so that many sizes per scenario need no copies of ``C``.

    Rows are dropped from the batch once decided: failed (a shortfall, or a balance larger than every later
    collection plus the reserve can repay) or repaid; the loop stops when none is left."""
    C = np.atleast_2d(np.asarray(C, dtype=float))
    P = C.shape[1]
    src = np.arange(C.shape[0]) if source is None else np.asarray(source)
    S = len(src)
    sen = np.broadcast_to(np.asarray(senior, dtype=float), (S,)).copy()
    scale = np.maximum(sen, 1.0)
    dt = terms.dt
    base = sen if terms.expenses_base is None else terms.expenses_base
    expenses = np.broadcast_to(np.minimum(terms.expenses_rate * base * dt, terms.expenses_cap * dt), (S,)).copy()
    periods = min(terms.legal_periods, P)
    # collections after period p up to the legal maturity: all that can still repay principal, with the reserve
    later = np.cumsum(C[:, :periods][:, ::-1], axis=1)[:, ::-1] - C[:, :periods]
    reserve = terms.cash_reserve_share * sen
    verdict = np.zeros(S, dtype=bool)
    rows = np.arange(S)  # the rows still undecided; the state arrays below hold only those
    ok = np.ones(S, dtype=bool)
    for p in range(periods):
        at = src[rows]
        c = C[at, p]
        interest = terms.senior_coupon * sen * dt
        due = (terms.tax_rate + terms.base_fee_rate) * c + np.where(sen > 0, expenses, 0.0) + interest
        paid = np.minimum(c, due)
        use = np.minimum(reserve, due - paid)
        reserve -= use
        ok &= due - paid - use <= tol * scale
        cash = c - paid
        last = p == P - 1
        nxt = C[at, p + 1] if not last else np.zeros(len(rows))
        target = _reserve_target(terms, nxt, sen, last)
        release = np.maximum(reserve - target, 0.0)
        reserve -= release
        cash += release
        dep = np.minimum(cash, np.maximum(target - reserve, 0.0))
        reserve += dep
        cash -= dep
        sen = sen - np.minimum(cash, sen)
        ok &= sen - later[at, p] - reserve <= tol * scale  # more than can ever be repaid: fails
        repaid = sen <= 0  # as the full waterfall: expenses are due while any senior is outstanding
        verdict[rows[repaid]] = ok[repaid]
        keep = ok & ~repaid
        if not keep.all():
            rows, sen, scale, expenses, reserve, ok = (a[keep] for a in (rows, sen, scale, expenses, reserve, ok))
            if not len(rows):
                break
    verdict[rows] = ok & (sen <= tol * scale)
    return verdict


def size_senior(
    stressed: np.ndarray, terms: Terms, size_unit: float = 1.0, upper: np.ndarray | None = None
) -> np.ndarray:
    r"""Largest senior (per scenario row of ``stressed`` (S, P)) that passes its stress, a multiple of ``size_unit``.

    Searched over [0, cap] with :func:`_largest_passing`, cap = ``upper`` or
    :math:`\sum_p C_p / (1 - \rho)`: senior principal is paid from collections and the closing cash reserve
    :math:`\rho B^s_0`, so no larger senior can be repaid. The result passes and one unit more fails.
    """
    C = np.atleast_2d(stressed)
    S = C.shape[0]
    if upper is None:
        hi = C.sum(axis=1) / max(1.0 - terms.cash_reserve_share, 1e-9)
    else:
        hi = np.broadcast_to(np.asarray(upper, dtype=float), (S,))

    def test(sizes: np.ndarray) -> np.ndarray:
        return senior_passes(C, sizes, terms, source=np.repeat(np.arange(S), len(sizes) // S))

    return _largest_passing(test, hi, size_unit)


def size_mezz(
    stressed: np.ndarray,
    senior: np.ndarray,
    terms: Terms,
    size_unit: float = 1.0,
    plan: np.ndarray | None = None,
    senior_stressed: np.ndarray | None = None,
) -> np.ndarray:
    """Largest mezzanine (a multiple of ``size_unit``, searched as in :func:`size_senior`) behind a fixed senior
    that passes its own stress ``stressed`` (ultimate interest and principal by the legal maturity) while the
    senior still passes — under ``stressed`` and, when given, under the senior's own stress ``senior_stressed``
    (S, P). China: mezzanine interest ranks below senior principal, so it cannot break the senior. GACS: class B
    interest ranks ahead of class A principal until the trigger subordinates it, so it can. ``plan``: base-case
    collections for the GACS trigger."""
    C = np.atleast_2d(stressed)
    S = C.shape[0]
    senior = np.broadcast_to(np.asarray(senior, dtype=float), (S,))
    C_sen = None if senior_stressed is None else np.atleast_2d(senior_stressed)

    def test(sizes: np.ndarray) -> np.ndarray:
        reps = len(sizes) // S
        sen = np.repeat(senior, reps)
        f = waterfall(np.repeat(C, reps, axis=0), sen, sizes, 0.0, terms, plan=plan)
        ok = passes(f, "mezz", terms.legal_periods) & passes(f, "senior", terms.legal_periods)
        if C_sen is not None:
            g = waterfall(np.repeat(C_sen, reps, axis=0), sen, sizes, 0.0, terms, plan=plan)
            ok &= passes(g, "senior", terms.legal_periods)
        return ok

    # mezzanine principal comes from what the collections and the senior's released reserve leave after the senior
    cap = np.maximum(C.sum(axis=1) + terms.cash_reserve_share * senior - senior, 0.0)
    return _largest_passing(test, cap, size_unit)


def monthly_to_periods(monthly: np.ndarray, period_months: int, n_periods: int) -> np.ndarray:
    """Sum monthly collections (S, M) into ``n_periods`` periods of ``period_months`` months each.

    Months after the last period are not collected by the deal: at the legal maturity the unresolved assets are
    sold in a clean-up sale, see :func:`cleanup_value`.
    """
    monthly = np.atleast_2d(monthly)
    M = monthly.shape[1]
    need = n_periods * period_months
    if need > M:
        monthly = np.concatenate([monthly, np.zeros((monthly.shape[0], need - M))], axis=1)
    return monthly[:, :need].reshape(monthly.shape[0], n_periods, period_months).sum(axis=2)


def tail_after(monthly: np.ndarray, months: int, until: int | None = None) -> np.ndarray:
    """Collections expected after month ``months`` up to month ``until`` (default: the end of the array), (S,)."""
    return np.atleast_2d(monthly)[:, months:until].sum(axis=1)


def cleanup_value(monthly: np.ndarray, months: int, discount_rate: float, until: int | None = None) -> np.ndarray:
    r"""Clean-up sale price at month ``months`` (the legal maturity L) of the collections still expected after it,
    (S,): :math:`V = \sum_{m=L+1}^{H} c_m (1 + r)^{-(m - L)/12}`, the valuation's discounting (DESIGN §4) moved to
    the sale date, over months L+1..H (``until`` = H, the valuation horizon; default: the end of the array).

    The price is gross of costs: run through :func:`waterfall` as its ``cleanup``, taxes and the servicer base fee
    are charged on it at their rates, as on any collection — the cost of working out what is sold.
    """
    tail = np.atleast_2d(monthly)[:, months:until]
    m = np.arange(1, tail.shape[1] + 1)
    return tail @ np.power(1.0 + discount_rate, -m / 12.0)


def stress_monthly(curves: pd.DataFrame, stress: Stress) -> np.ndarray:
    """Stressed monthly collections from per-collateral-type monthly curves (columns = collateral types).

    Each type is cut by its haircut (``collateral_haircut`` or the global one) and the whole curve is delayed by
    ``delay_months`` (collections pushed past the end of the array are lost).
    """
    return stress_matrix(curves.to_numpy(dtype=float), [str(col) for col in curves.columns], stress)


def stress_matrix(monthly: np.ndarray, types: list[str], stress: Stress) -> np.ndarray:
    """:func:`stress_monthly` on the curves as a (months × types) array and the types' names: for callers that
    stress the same curves many times (the sizing grid: iterating a categorical column index each time cost a
    third of a coalition's sizing)."""
    keep = np.array([1.0 - stress.collateral_haircut.get(col, stress.haircut) for col in types])
    out = np.zeros(len(monthly) + stress.delay_months)
    out[stress.delay_months:] = monthly @ keep
    return out[: len(monthly)]
