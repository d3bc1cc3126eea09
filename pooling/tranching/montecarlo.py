r"""Monte Carlo sizing against a rating target (DESIGN §6, ``structure.sizing: monte_carlo``).

The deterministic sizer cuts every collection by the same haircut and delays it by the same months, so a pool
spread over ten provinces and three collateral types gets exactly the senior of the same assets in one province.
Here the pool's collections are projected under S correlated scenarios of the factor model
(:mod:`pooling.valuation.factors`) and the senior is the largest size repaid in full in at least the rating's
target share of them.

Scenario collections (never an assets × scenarios × months array)
-----------------------------------------------------------------
1. *Cells*: the assets are aggregated into cells :math:`u` = (province, collateral_type, asset_type) — the segment
   of the factor model split by asset class, since the class sets the volatility and the delay. Each cell has
   its base monthly collection curve :math:`c_u(t)` (:func:`pooling.valuation.model.pool_curve` with ``by=``),
   its industry mix (gbv shares) and the Herfindahl of its obligor groups' expected recoveries.
2. *Multipliers*: per scenario :math:`s`, cell :math:`u`
   :math:`m_{s,u} = \exp(\sigma_u Z_{s,u} - \tfrac12\sigma_u^2 v_u)\cdot\exp(\xi_u\epsilon_{s,u} - \tfrac12\xi_u^2)`,
   the systematic factor of the cell's segment and an idiosyncratic lognormal with the variance of the sum of its
   obligor groups' noise: :math:`\xi_u^2 = \ln(1 + V_u)`, :math:`V_u` = ``idiosyncratic_variance`` — it falls
   with the number (the Herfindahl) of obligor groups in the cell: that is where diversification *inside* a
   segment pays. Both have mean 1.
3. *Delays*: :math:`d_{s,u} = \operatorname{round}(\tau_u T_{s,p})` whole months, clipped to
   :math:`[0, D_{\max}]` (timing index of the national and court factors). For every cell and every delay
   :math:`d = 0..D_{\max}` the curve shifted by :math:`d` months is summed into payment periods once
   (:math:`U \times (D_{\max}+1) \times P` numbers), so a scenario's collections are a gather:
   :math:`C_{s,p} = \sum_u m_{s,u}\, B_{u, d_{s,u}, p}`. Two more columns of :math:`B` carry the collections after
   the legal maturity (undiscounted) and their clean-up value at the legal maturity
   (:func:`pooling.tranching.waterfall.cleanup_value`).

Rating criterion
----------------
A senior of size :math:`x` *passes* scenario :math:`s` when, under :math:`C_{s,\cdot}`, taxes, senior fees and
senior interest are paid in full every period and its principal is repaid by the legal maturity
(:func:`pooling.tranching.waterfall.senior_passes`, vectorised over scenarios). Its pass share is
:math:`\pi(x) = \frac1S\sum_s \mathbb{1}[x \text{ passes } s]`; the senior is the largest multiple of
``size_unit`` with :math:`\pi(x) \ge q_{\text{rating}}` (:data:`DEFAULT_TARGETS`), found by a scan of the sizes
and sectioning (:func:`pooling.tranching.waterfall._largest_passing`): :math:`x` meets the target, :math:`x` + one
unit does not, and :math:`1.01\,x` does not (checked; the search resumes above if it would). A mezzanine is sized
likewise at its own rating's target, with its own (ultimate) test on the full waterfall, the senior fixed and the
senior still meeting its target.

``floor: deterministic``: the deterministic rating stress (``structure.stresses``) acts as a floor on how severe
the stress is — the senior must pass that stress too, so it is the smaller of the Monte Carlo and the
deterministic sizes (the Monte Carlo can lower the deterministic senior, never raise it). ``floor: none``
(default): the Monte Carlo size alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pooling.errors import InputError
from pooling.tranching.waterfall import Terms, _largest_passing, passes, senior_passes, waterfall
from pooling.valuation.factors import (
    DEFAULT_FACTORS,
    FactorParameters,
    class_values,
    delay_index,
    draws_for,
    idiosyncratic_variance,
    industry_shares,
    segment_index,
)
from pooling.valuation.model import pool_curve

#: Target share of scenarios in which a tranche of each rating must be repaid in full (docs/tranching.md,
#: "Rating criterion"). The shares follow the rating scale's idealised default probabilities over a deal's
#: life (order of magnitude: AAA ≈ 0.5%, AA ≈ 1%, A ≈ 2%, BBB ≈ 5% of scenarios may fail), kept where 10,000
#: scenarios still leave ≥ 50 failing scenarios to locate the quantile.
DEFAULT_TARGETS: dict[str, float] = {"AAA": 0.995, "AA": 0.99, "A": 0.98, "BBB": 0.95, "BB": 0.90}

PERCENTILES = (1, 5, 50, 95, 99)
_IDIO_STREAM = 6


@dataclass
class ScenarioCollections:
    """Collections of the pool in S scenarios: per payment period to the legal maturity, and after it."""

    periods: np.ndarray  # (S, P) CNY per payment period
    after: np.ndarray  # (S,) collected after the legal maturity (undiscounted)
    cleanup: np.ndarray  # (S,) clean-up sale value at the legal maturity of what is collected after it
    base: np.ndarray  # (P,) the base case (no factor, no delay)
    n_cells: int

    @property
    def totals(self) -> np.ndarray:
        """(S,) collections to the legal maturity."""
        return self.periods.sum(axis=1)

    def percentiles(self, qs=PERCENTILES) -> pd.DataFrame:
        """Percentiles of the collections by period (rows 1..P, then ``total`` to the legal maturity and
        ``after_legal``), with the mean and the base case: the fan chart's data."""
        table = np.column_stack([self.periods, self.totals, self.after])
        base = np.r_[self.base, self.base.sum(), np.nan]
        pct = np.percentile(table, qs, axis=0)
        out = pd.DataFrame({f"p{q}": pct[i] for i, q in enumerate(qs)})
        out.insert(0, "period", [str(p + 1) for p in range(self.periods.shape[1])] + ["total", "after_legal"])
        out["mean"] = table.mean(axis=0)
        out["base"] = base
        return out


@dataclass
class MonteCarloSizing:
    """The Monte Carlo sizing of a deal."""

    senior: float
    mezz: float
    senior_target: float
    mezz_target: float | None
    senior_pass_share: float
    mezz_pass_share: float | None
    monte_carlo_senior: float  # before the floor
    deterministic_senior: float | None  # the floor, when used
    collections: ScenarioCollections
    seed: int
    n_scenarios: int


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values.astype(str), sort=True)
    return codes, np.asarray(uniques, dtype=str)


def scenario_collections(
    pool: pd.DataFrame,
    terms: Terms,
    *,
    n_scenarios: int,
    seed: int,
    horizon_months: int,
    discount_rate: float,
    params: FactorParameters = DEFAULT_FACTORS,
) -> ScenarioCollections:
    """Project the pool's collections per payment period under ``n_scenarios`` factor scenarios (module docstring).

    Parameters
    ----------
    pool
        Valued assets: curve_rinf, curve_k, curve_lag (optionally curve_shape), expected_recovery, gbv, province,
        collateral_type, asset_type, optionally industry and group_id / obligor_id.
    terms
        Deal terms (period length, legal maturity).
    n_scenarios, seed
        S and the seed (same seed → identical collections).
    horizon_months
        H: the valuation horizon; collections in months 1..H are projected, and delayed up to H + D_max.
    discount_rate
        Annual rate for the clean-up value.
    params
        Factor model parameters.
    """
    if pool.empty:
        raise InputError("the pool is empty: nothing to project")
    pm, P = terms.period_months, terms.legal_periods
    legal = P * pm
    D = int(params.max_delay_months)
    H = int(horizon_months)
    M = max(H, legal) + D  # months in the shifted arrays

    prov_codes, provinces = _codes(pool["province"])
    coll_codes, collaterals = _codes(pool["collateral_type"])
    type_codes, types = _codes(pool["asset_type"])
    cell_codes, cell_keys = pd.factorize(
        (prov_codes * len(collaterals) + coll_codes) * len(types) + type_codes, sort=True)
    U = len(cell_keys)
    cell_type = cell_keys % len(types)
    cell_coll = (cell_keys // len(types)) % len(collaterals)
    cell_prov = cell_keys // (len(types) * len(collaterals))

    # base monthly curves per cell, months 1..H
    curves = pool_curve(pool.assign(_cell=cell_codes), horizon_months=H, by="_cell")
    base_cells = np.zeros((U, M))
    base_cells[curves.columns.to_numpy(dtype=np.int64), :H] = curves.to_numpy(dtype=float).T

    # B[u, d, :]: cell u's curve delayed d months, summed per period; then after-legal total and clean-up value
    cum = np.concatenate([np.zeros((U, 1)), np.cumsum(base_cells, axis=1)], axis=1)  # cum[:, t] = Σ_{m≤t}
    d = np.arange(D + 1)
    ends = (np.arange(P + 1) * pm)[None, :] - d[:, None]  # (D+1, P+1): period boundaries in undelayed months
    at = cum[:, np.clip(ends, 0, M)]  # (U, D+1, P+1)
    B = np.empty((U, D + 1, P + 2))
    B[:, :, :P] = np.diff(at, axis=2)
    B[:, :, P] = cum[:, [M]] - at[:, :, P]
    # clean-up value at L of months > L: Σ_{m>L} c(m − d) v^{m−L}, v = (1+r)^(−1/12): per delay a dot product
    months_after = np.arange(legal + 1, M + 1)
    v = (1.0 + discount_rate) ** (-(months_after - legal) / 12.0)
    src = months_after[None, :] - d[:, None]  # (D+1, n) undelayed month of each delayed month
    weight = np.zeros((D + 1, M))  # weight[d, m-1]: discount factor applied to base month m under delay d
    ok = src >= 1
    np.add.at(weight, (np.broadcast_to(d[:, None], src.shape)[ok], src[ok] - 1), np.broadcast_to(v, src.shape)[ok])
    B[:, :, P + 1] = base_cells @ weight.T

    # factors: systematic index per cell, idiosyncratic variance per cell, delays
    S = int(n_scenarios)
    draws = draws_for(pool, S, seed, params)
    gbv = pool["gbv"].to_numpy(dtype=float)
    ind = pd.Index(draws.industries).get_indexer(
        pool["industry"].astype(str) if "industry" in pool.columns else pd.Series([""] * len(pool)))
    shares = industry_shares(cell_codes, ind, gbv, U, len(draws.industries))
    p_idx = pd.Index(draws.provinces).get_indexer(provinces)
    c_idx = pd.Index(draws.collateral_types).get_indexer(collaterals)
    z, variance = segment_index(p_idx[cell_prov], c_idx[cell_coll], shares, draws, params)
    type_frame = pd.DataFrame({"asset_type": types})
    sigma = class_values(type_frame, params.class_volatility, "class_volatility")[cell_type]
    eta = class_values(type_frame, params.idiosyncratic_volatility, "idiosyncratic_volatility")[cell_type]
    tau = class_values(type_frame, params.delay_months, "delay_months")[cell_type]

    group_col = "group_id" if "group_id" in pool.columns else "obligor_id" if "obligor_id" in pool.columns else None
    groups = (pd.factorize(pool[group_col].astype(str))[0] if group_col else np.arange(len(pool)))
    piece_codes, piece_keys = pd.factorize(groups.astype(np.int64) * U + cell_codes)
    recovery = np.bincount(piece_codes, weights=pool["expected_recovery"].to_numpy(dtype=float),
                           minlength=len(piece_keys))
    piece_cell = (piece_keys % U).astype(np.int64)
    V = idiosyncratic_variance(np.maximum(recovery, 0.0), eta[piece_cell], piece_cell, U)
    xi = np.sqrt(np.log1p(V))
    eps = np.random.default_rng([int(seed) & 0xFFFFFFFF, _IDIO_STREAM]).standard_normal((S, U))
    mult = np.exp(sigma * z - 0.5 * sigma ** 2 * variance + xi * eps - 0.5 * xi ** 2)  # (S, U)
    timing = delay_index(draws, p_idx[cell_prov], params)  # (S, U)
    delay = np.clip(np.rint(tau * timing), 0, D).astype(np.int64)

    out = np.zeros((S, P + 2))
    tmp = np.empty((S, P + 2))
    mult_t, delay_t = np.ascontiguousarray(mult.T), np.ascontiguousarray(delay.T)
    for u in range(U):  # cells (hundreds), each an (S, P + 2) gather: never assets × scenarios × months
        np.take(B[u], delay_t[u], axis=0, out=tmp)
        tmp *= mult_t[u][:, None]
        out += tmp
    base = B[:, 0, :P].sum(axis=0)
    return ScenarioCollections(out[:, :P], out[:, P], out[:, P + 1], base, U)


def pass_share(periods: np.ndarray, sizes: np.ndarray, terms: Terms) -> np.ndarray:
    """Share of scenarios (rows of ``periods``, (S, P)) in which a senior of each size (n,) passes: (n,)."""
    periods = np.atleast_2d(periods)
    sizes = np.atleast_1d(np.asarray(sizes, dtype=float))
    S, n = periods.shape[0], len(sizes)
    ok = senior_passes(periods, np.repeat(sizes, S), terms, source=np.tile(np.arange(S), n))
    return ok.reshape(n, S).mean(axis=1)


def _largest_meeting(share_of, target: float, cap: float, unit: float) -> tuple[float, float]:
    """Largest multiple of ``unit`` in [0, cap] whose share (``share_of(sizes) -> shares``) ≥ target, checked to
    be maximal at one unit and at 1% more; returns (size, its share)."""
    lo_cap = 0.0
    size = 0.0
    for _ in range(8):  # resumes above a size whose 1% more still meets the target (non-monotone share)
        width = cap - lo_cap

        def test(x: np.ndarray, lo_cap: float = lo_cap) -> np.ndarray:
            return share_of(lo_cap + x) >= target - 1e-12

        found = float(_largest_passing(test, np.array([width]), unit, scan=16, section=8)[0]) + lo_cap
        if found == lo_cap and not test(np.array([0.0]))[0]:  # nothing above the resumed bracket meets it
            break
        size = found
        up = np.floor(size * 1.01 / unit) * unit
        if up <= size or up > cap or share_of(np.array([up]))[0] < target - 1e-12:
            break
        lo_cap = up
    share = float(share_of(np.array([size]))[0]) if size > 0 else 1.0
    return size, share


def size_monte_carlo(
    pool: pd.DataFrame,
    terms: Terms,
    *,
    senior_rating: str,
    mezz_rating: str | None = None,
    unit: float,
    n_scenarios: int = 10_000,
    seed: int = 11,
    targets: dict[str, float] | None = None,
    horizon_months: int = 120,
    discount_rate: float = 0.06,
    params: FactorParameters = DEFAULT_FACTORS,
    deterministic_senior: float | None = None,
    plan: np.ndarray | None = None,
) -> MonteCarloSizing:
    """Size the senior (and mezzanine) against the rating targets over factor scenarios (module docstring).

    Parameters
    ----------
    pool
        Valued selected assets (see :func:`scenario_collections`).
    terms
        Deal terms.
    senior_rating, mezz_rating
        Ratings whose target shares apply (keys of ``targets``).
    unit
        Sizes are multiples of it (CNY).
    n_scenarios, seed
        Scenario count and seed: the same seed gives identical outputs.
    targets
        Rating → share of scenarios in which the tranche must be repaid in full (defaults: :data:`DEFAULT_TARGETS`,
        overridden per key).
    horizon_months, discount_rate
        The valuation's horizon and discount rate (projection, clean-up value).
    params
        Factor model parameters.
    deterministic_senior
        The floor (``floor: deterministic``): the senior sized on the deterministic rating stress; the result is
        the smaller of the two. None: no floor.
    plan
        Base-case collections per period (GACS trigger) for the mezzanine test.

    Returns
    -------
    MonteCarloSizing
    """
    table = {**DEFAULT_TARGETS, **(targets or {})}
    for rating in [senior_rating] + ([mezz_rating] if mezz_rating else []):
        if rating not in table:
            raise InputError(f"structure.monte_carlo: no target share for rating {rating!r}; known: {sorted(table)} "
                             "(add it under structure.monte_carlo.targets)")
    q = float(table[senior_rating])
    sc = scenario_collections(pool, terms, n_scenarios=n_scenarios, seed=seed, horizon_months=horizon_months,
                              discount_rate=discount_rate, params=params)
    C = sc.periods
    # no senior above the (1 − q) quantile of what each scenario can ever repay (collections + closing reserve)
    can_repay = C.sum(axis=1) / max(1.0 - terms.cash_reserve_share, 1e-9)
    cap = float(np.quantile(can_repay, 1.0 - q, method="higher"))
    mc_senior, share = _largest_meeting(lambda x: pass_share(C, x, terms), q, cap, unit)
    senior = mc_senior
    if deterministic_senior is not None and deterministic_senior < senior:
        senior = float(deterministic_senior)
        share = float(pass_share(C, np.array([senior]), terms)[0]) if senior > 0 else 1.0

    mezz, mezz_q, mezz_share = 0.0, None, None
    if mezz_rating:
        mezz_q = float(table[mezz_rating])
        mezz, mezz_share = _size_mezz(sc, senior, terms, unit, mezz_q, q, plan)
    return MonteCarloSizing(senior, mezz, q, mezz_q, share, mezz_share, mc_senior, deterministic_senior, sc,
                            int(seed), int(n_scenarios))


def _size_mezz(sc: ScenarioCollections, senior: float, terms: Terms, unit: float, q_mezz: float, q_senior: float,
               plan: np.ndarray | None) -> tuple[float, float]:
    """Largest mezzanine meeting its target share (ultimate test on the full waterfall) with the senior fixed and
    still meeting its own target (GACS: class B interest can rank ahead of class A principal)."""
    C = sc.periods
    S = C.shape[0]
    sen = np.full(S, senior)

    def share_of(sizes: np.ndarray) -> np.ndarray:
        out = np.empty(len(sizes))
        for i, m in enumerate(sizes):  # one full waterfall of S scenarios per candidate size
            f = waterfall(C, sen, np.full(S, m), 0.0, terms, plan=plan)
            ok_m = passes(f, "mezz", terms.legal_periods)
            ok_s = passes(f, "senior", terms.legal_periods)
            out[i] = ok_m.mean() if ok_s.mean() >= q_senior - 1e-12 else 0.0
        return out

    cap = float(np.quantile(np.maximum(C.sum(axis=1) + terms.cash_reserve_share * senior - senior, 0.0),
                            1.0 - q_mezz, method="higher"))
    size, share = _largest_meeting(share_of, q_mezz, cap, unit)
    return size, share


def senior_loss(sc: ScenarioCollections, senior: float, mezz: float, sub: float, terms: Terms,
                plan: np.ndarray | None = None) -> tuple[float, float]:
    """(loss probability, expected loss) of a senior of size ``senior`` over the scenarios.

    Loss probability = share of scenarios in which it fails its test (interest every period, principal by the legal
    maturity). Expected loss = mean over scenarios of the senior principal still unpaid after the clean-up sale at
    the legal maturity, as a fraction of the senior (a timing failure that the clean-up cures is no loss).
    """
    if senior <= 0:
        return 0.0, 0.0
    C = sc.periods
    S = C.shape[0]
    f = waterfall(C, np.full(S, senior), np.full(S, mezz), np.full(S, sub), terms, plan=plan, cleanup=sc.cleanup)
    fail = ~passes(f, "senior", terms.legal_periods)
    return float(fail.mean()), float(f.balances["senior"][:, -1].mean() / senior)
