r"""Surveillance after issue (存续期管理, DESIGN §12): actual vs plan, triggers, watch list, re-forecast.

The *plan* is the deal's own projection: each pool asset collects :math:`R_i F_i(t)` by month :math:`t` after
closing, with :math:`R_i` = curve_rinf and :math:`F_i(t) = 1 - e^{-(k_i(t-L_i))^{\rho_i}}` for :math:`t \ge L_i`
(the valuation curve that :func:`pooling.valuation.model.pool_curve` sums into the deal's collections; a tape's
point value collects :math:`R_i` in month :math:`\mathrm{round}(L_i)`). Summed by payment period it is exactly the
``collections`` column of cashflows.csv. The report date may fall inside a month: the plan to date is then
:math:`R_i F_i(t)` at the fractional month :math:`t` (days elapsed in that month / its days).

Everything is vectorised over assets and report rows (bincounts on integer codes, one merge in the reader); the
only Python loops are over periods (≤ 120) and the five segment dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pooling import vocab
from pooling.scenario import Scenario
from pooling.tranching.deal import _add_months, run_base_case, tranche_names
from pooling.tranching.waterfall import PAY_ITEMS, Terms, monthly_to_periods
from pooling.valuation.levers import COURT_STATUSES
from pooling.valuation.model import pool_curve

#: monitor.csv's dimensions (DESIGN §12) and the pool column each reads
DIMENSIONS = {"all": None, "province": "province", "collateral_type": "collateral_type", "amc": "amc_id",
              "servicer": "servicer"}
MONITOR_COLUMNS = ("period", "date", "dimension", "segment", "plan", "actual", "cumulative_plan",
                   "cumulative_actual", "ratio", "behind_plan")
TRIGGER_COLUMNS = ("trigger", "period", "date", "value", "threshold", "breached", "complete")
WATCH_COLUMNS = ("amc_id", "asset_id", "obligor_id", "group_id", "province", "plan_to_date", "actual_to_date",
                 "shortfall", "reason", "level", "rank", "ratio", "months_since_collection", "legal_status")
#: the re-forecast's segment: province × collateral type (the tail objective's segment key, DESIGN §6)
REFORECAST_SEGMENT = ("province", "collateral_type")


@dataclass(frozen=True)
class DealPlan:
    """What the deal promised, as the monitor needs it.

    ``pool``: the pool as valued for the deal (curve_rinf, curve_k, curve_lag, optionally curve_shape; amc_id,
    asset_id, obligor_id, group_id, province, collateral_type, npv, legal_status, servicer), in pool.csv order.
    ``scenario``: the effective scenario the deal was sized with (its ``as_of`` is the closing date).
    ``sizes``: issued tranche sizes (senior, mezz, sub) from tranches.csv.
    """

    pool: pd.DataFrame
    scenario: Scenario
    terms: Terms
    sizes: dict[str, float]
    base_monthly: np.ndarray  # the deal's projected pool collections by month 1..H
    #: Monte Carlo factor scenarios' collections per period (S, P) when the deal is sized that way
    scenario_periods: np.ndarray | None = None
    #: whether the scenario and its files hash as the deal's summary.json says (None: not checked)
    inputs_match: bool | None = None

    @property
    def closing(self) -> pd.Timestamp:
        return pd.Timestamp(self.scenario.as_of)


def plan_horizon(scenario: Scenario, terms: Terms) -> int:
    """Months of projection the monitor keeps: to the valuation horizon or the legal maturity, whichever is later."""
    return int(max(scenario.valuation.horizon_months, terms.legal_periods * terms.period_months)) + 1


def deal_plan(pool: pd.DataFrame, scenario: Scenario, terms: Terms, sizes: dict[str, float],
              scenario_periods: np.ndarray | None = None, inputs_match: bool | None = None) -> DealPlan:
    """The :class:`DealPlan` of a valued pool: its monthly projection summed as the deal's sizing sums it."""
    pool = pool.reset_index(drop=True)
    if "servicer" not in pool:
        pool = pool.assign(servicer=pool["amc_id"].astype(str))
    monthly = pool_curve(pool, horizon_months=plan_horizon(scenario, terms)).iloc[:, 0].to_numpy(float)
    return DealPlan(pool, scenario, terms, sizes, monthly, scenario_periods, inputs_match)


def cumulative_plan(pool: pd.DataFrame, t: float, horizon: int) -> np.ndarray:
    r"""Each asset's planned collections from closing to month ``t`` (fractional): :math:`R_i F_i(\min(t, H))`."""
    t = float(min(max(t, 0.0), horizon))
    rinf = pool["curve_rinf"].to_numpy(float)
    k = pool["curve_k"].to_numpy(float)
    lag = pool["curve_lag"].to_numpy(float)
    rho = pool["curve_shape"].to_numpy(float, na_value=np.nan) if "curve_shape" in pool else np.ones(len(pool))
    rho = np.where(np.isnan(rho), 1.0, rho)
    curve = ~np.isnan(k)
    elapsed = np.maximum(t - np.where(curve, lag, 0.0), 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        F = np.where(t - lag >= 0, -np.expm1(-((np.where(curve, k, 0.0) * elapsed) ** rho)), 0.0)
    point_month = np.clip(np.floor(np.nan_to_num(lag) + 0.5), 1, horizon)
    return rinf * np.where(curve, F, (point_month <= t + 1e-9).astype(float))


@dataclass
class MonitorResult:
    """The monitor's tables (the files' contents) and its headline (monitor.json)."""

    monitor: pd.DataFrame
    triggers: pd.DataFrame
    watchlist: pd.DataFrame
    reforecast: pd.DataFrame
    summary: dict
    extra: dict = field(default_factory=dict)


def _month_ends(closing: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """Closing + m months, m = 0..n (month ends stay month ends, as the deal's payment dates)."""
    return pd.DatetimeIndex([closing] + [_add_months(closing, m) for m in range(1, n + 1)])


def fractional_months(dates: np.ndarray, ends: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(month index m ≥ 1 with ends[m-1] < date ≤ ends[m], fractional months since closing) of each date."""
    e = ends.to_numpy()
    d = np.asarray(dates, dtype="datetime64[ns]")
    m = np.searchsorted(e, d, side="left")
    m = np.clip(m, 1, len(e) - 1)
    start, stop = e[m - 1], e[m]
    frac = (d - start).astype("timedelta64[s]").astype(float) / (stop - start).astype("timedelta64[s]").astype(float)
    return m, (m - 1) + np.clip(frac, 0.0, 1.0)


def monitor(plan: DealPlan, reports: pd.DataFrame, as_of: pd.Timestamp | None = None) -> MonitorResult:
    """Compare the servicer reports with the plan up to ``as_of`` (default: the latest report date).

    ``reports``: :func:`pooling.monitor.reports.read_reports`'s frame (validated; ``asset_index`` into the plan's
    pool). Returns monitor.csv, triggers.csv, watchlist.csv and reforecast.csv as frames, and monitor.json.
    """
    s, terms, pool = plan.scenario, plan.terms, plan.pool
    st, mon = s.structure, s.monitor
    closing = plan.closing
    pm, n_legal = terms.period_months, terms.legal_periods
    H = len(plan.base_monthly)
    if as_of is None:
        as_of = pd.Timestamp(reports["date"].max()) if len(reports) else closing + pd.Timedelta(days=1)
    as_of = pd.Timestamp(as_of)
    ends = _month_ends(closing, H)
    if as_of > ends[-1]:
        as_of = ends[-1]
    m_asof, t_asof = (float(x[0]) for x in fractional_months(np.array([as_of.to_datetime64()]), ends))
    m_asof = int(m_asof)
    n_mon = max(1, int(np.ceil(t_asof / pm - 1e-12)))
    n_mon = min(n_mon, n_legal)
    pay_dates = pd.DatetimeIndex([ends[min(p * pm, H)] for p in range(1, n_legal + 1)])
    period_end_t = np.minimum(np.arange(1, n_mon + 1) * pm, t_asof)
    period_dates = pd.DatetimeIndex([min(pay_dates[p], as_of) for p in range(n_mon)])
    complete = pay_dates[:n_mon] <= as_of

    # report rows: month, period, position in the pool
    n = len(pool)
    rows = reports[reports["asset_index"] >= 0]
    idx = rows["asset_index"].to_numpy(np.int64)
    amount = rows["amount"].to_numpy(float)
    row_month, row_t = fractional_months(rows["date"].to_numpy("datetime64[ns]"), ends)
    row_period = np.minimum((row_month - 1) // pm, n_legal - 1)
    in_window = row_period < n_mon
    actual = np.bincount(idx[in_window] * n_mon + row_period[in_window], weights=amount[in_window],
                         minlength=n * n_mon).reshape(n, n_mon)
    cum_actual = np.cumsum(actual, axis=1)
    cum_plan = np.column_stack([cumulative_plan(pool, t, H) for t in period_end_t])

    # legal status: latest reported (else the tape's), the date an asset was settled
    status = rows["legal_status"].to_numpy(object)
    has_status = status != ""
    tape_status = pool["legal_status"].astype(str).to_numpy(object) if "legal_status" in pool else np.full(n, "", object)
    latest = tape_status.copy()
    status_t = np.full(n, np.nan)
    if has_status.any():
        upd = pd.DataFrame({"i": idx[has_status], "t": row_t[has_status], "s": status[has_status]})
        last = upd.sort_values(["i", "t"], kind="stable").drop_duplicates("i", keep="last")
        latest[last["i"].to_numpy()] = last["s"].to_numpy()
        changed = upd[upd["s"].to_numpy() != tape_status[upd["i"].to_numpy()]]
        if len(changed):
            first_change = changed.groupby("i")["t"].max()
            status_t[first_change.index.to_numpy()] = first_change.to_numpy()
    settled_rows = has_status & (status == "settled")
    settled_t = np.full(n, np.inf)
    if settled_rows.any():
        np.minimum.at(settled_t, idx[settled_rows], row_t[settled_rows])

    monitor_frame = _segments(pool, actual, cum_plan, n_mon, period_dates, st.trigger_ccr)
    reforecast, fc, flows = _reforecast(plan, idx, amount, row_month, settled_t, cum_plan[:, -1], cum_actual[:, -1],
                                        t_asof, m_asof, pay_dates, as_of)
    senior_start = np.r_[plan.sizes["senior"], flows.balances["senior"][0, : n_mon - 1]]
    reserve_start = np.r_[terms.cash_reserve_share * plan.sizes["senior"], flows.reserve_balance[0, : n_mon - 1]]
    triggers = _triggers(plan, actual, cum_actual, cum_plan, idx, amount, row_t, row_period, settled_t,
                         period_end_t, period_dates, complete, senior_start, reserve_start)
    last_t = np.full(n, -np.inf)
    collected = amount > 0
    if collected.any():
        np.maximum.at(last_t, idx[collected], row_t[collected])
    watch = _watchlist(pool, cum_plan[:, -1], cum_actual[:, -1], latest, status_t, last_t, settled_t, t_asof, mon)

    all_rows = monitor_frame[monitor_frame["dimension"] == "all"]
    breached = triggers[triggers["breached"]]
    first_breach = breached.groupby("trigger", sort=False)["period"].min().to_dict()
    summary = {
        "scenario": s.name,
        "closing": f"{closing:%Y-%m-%d}",
        "as_of": f"{as_of:%Y-%m-%d}",
        "inputs_match": plan.inputs_match,
        "months_since_closing": round(t_asof, 4),
        "periods_monitored": n_mon,
        "report_rows": len(reports),
        "assets_reported": len(np.unique(idx)) if len(idx) else 0,
        "plan_to_date": float(all_rows["cumulative_plan"].iloc[-1]),
        "actual_to_date": float(all_rows["cumulative_actual"].iloc[-1]),
        "collection_ratio": _ratio(all_rows["cumulative_actual"].iloc[-1], all_rows["cumulative_plan"].iloc[-1]),
        "triggers_breached_now": sorted(triggers.loc[triggers["period"] == n_mon].query("breached")["trigger"]),
        "first_breach_period": {k: int(v) for k, v in first_breach.items()},
        "watchlist": {"assets": int((watch["level"] == "asset").sum()),
                      "groups": int((watch["level"] == "group").sum()),
                      "shortfall": float(watch.loc[watch["level"] == "asset", "shortfall"].sum())},
        "settled_assets": int(np.isfinite(settled_t).sum()),
        "reforecast": fc,
    }
    return MonitorResult(monitor_frame, triggers, watch, reforecast, summary)


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


def _segments(pool: pd.DataFrame, actual: np.ndarray, cum_plan: np.ndarray, n_mon: int,
              dates: pd.DatetimeIndex, threshold: float) -> pd.DataFrame:
    """monitor.csv: per dimension and segment, per period, plan and actual (period and cumulative), the ratio and
    ``behind_plan`` (ratio below ``structure.trigger_ccr``: the segment would breach the deal's trigger alone)."""
    plan_period = np.diff(np.column_stack([np.zeros(len(pool)), cum_plan]), axis=1)
    parts = []
    for dim, column in DIMENSIONS.items():
        if column is None:
            codes, labels = np.zeros(len(pool), dtype=np.int64), np.array(["all"], dtype=object)
        else:
            codes, labels = pd.factorize(pool[column].astype(str), sort=True)
            labels = np.asarray(labels, dtype=object)
        k = len(labels)
        P = np.column_stack([np.bincount(codes, weights=plan_period[:, p], minlength=k) for p in range(n_mon)])
        A = np.column_stack([np.bincount(codes, weights=actual[:, p], minlength=k) for p in range(n_mon)])
        cp, ca = np.cumsum(P, axis=1), np.cumsum(A, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cp > 0, ca / cp, np.nan)
        parts.append(pd.DataFrame({
            "period": np.tile(np.arange(1, n_mon + 1), k), "date": np.tile(dates.strftime("%Y-%m-%d"), k),
            "dimension": dim, "segment": np.repeat(labels, n_mon), "plan": P.ravel(), "actual": A.ravel(),
            "cumulative_plan": cp.ravel(), "cumulative_actual": ca.ravel(), "ratio": ratio.ravel(),
            "behind_plan": np.nan_to_num(ratio.ravel(), nan=np.inf) < threshold}))
    out = pd.concat(parts, ignore_index=True)
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    out["_d"] = out["dimension"].map(order)
    return out.sort_values(["period", "_d", "segment"], kind="stable").drop(columns="_d").reset_index(drop=True)


def _triggers(plan: DealPlan, actual: np.ndarray, cum_actual: np.ndarray, cum_plan: np.ndarray, idx: np.ndarray,
              amount: np.ndarray, row_t: np.ndarray, row_period: np.ndarray, settled_t: np.ndarray,
              period_end_t: np.ndarray, dates: pd.DatetimeIndex, complete: np.ndarray,
              senior_start: np.ndarray, reserve_start: np.ndarray) -> pd.DataFrame:
    r"""triggers.csv: each trigger per period — value, threshold, breached (value < threshold).

    * ``cumulative_collection_ratio`` = Σ actual / Σ plan from closing to the period's end (or the report date);
    * ``npv_profitability`` = Σ over positions closed (settled) by then of their collections discounted to closing
      at ``valuation.discount_rate`` / Σ of their npv at issue (pool.csv); empty (no breach) while none is closed;
    * ``senior_interest_cover`` = (period collections − taxes − servicer base fee − expenses + the liquidity reserve
      at the period's start) / senior interest due, on the senior balance at the period's start (both from the
      waterfall run on actual collections); below 1 the senior interest could not be paid in full — the event of
      default of Chinese NPL ABS. The current period's expenses and interest are pro rata to the time elapsed.
      Empty once the senior is repaid.
    """
    s, terms = plan.scenario, plan.terms
    st = s.structure
    n_mon = len(period_end_t)
    pm = terms.period_months
    ccr_value = np.divide(cum_actual.sum(axis=0), cum_plan.sum(axis=0), out=np.full(n_mon, np.nan),
                          where=cum_plan.sum(axis=0) > 0)

    r = s.valuation.discount_rate
    pv = amount * (1.0 + r) ** (-row_t / 12.0)
    n = len(plan.pool)
    in_window = row_period < n_mon
    pv_assets = np.cumsum(np.bincount(idx[in_window] * n_mon + row_period[in_window], weights=pv[in_window],
                                      minlength=n * n_mon).reshape(n, n_mon), axis=1)
    npv = plan.pool["npv"].to_numpy(float)
    closed = settled_t[:, None] <= period_end_t[None, :] + 1e-12
    num = (pv_assets * closed).sum(axis=0)
    den = (npv[:, None] * closed).sum(axis=0)
    npv_value = np.divide(num, den, out=np.full(n_mon, np.nan), where=den > 0)

    period_c = actual.sum(axis=0)
    elapsed = np.clip(period_end_t - (np.arange(n_mon)) * pm, 0.0, pm) / pm
    base = terms.expenses_base if terms.expenses_base is not None else sum(plan.sizes.values())
    expenses = min(terms.expenses_rate * base * terms.dt, terms.expenses_cap * terms.dt) * elapsed
    interest = terms.senior_coupon * senior_start * terms.dt * elapsed
    available = period_c * (1.0 - terms.tax_rate - terms.base_fee_rate) - expenses + reserve_start
    cover = np.divide(available, interest, out=np.full(n_mon, np.nan), where=interest > 0.005)

    rows = []
    for name, value, threshold in (("cumulative_collection_ratio", ccr_value, st.trigger_ccr),
                                   ("npv_profitability", npv_value, st.trigger_npv_profitability),
                                   ("senior_interest_cover", cover, st.trigger_interest_cover)):
        rows.append(pd.DataFrame({"trigger": name, "period": np.arange(1, n_mon + 1),
                                  "date": dates.strftime("%Y-%m-%d"), "value": value, "threshold": threshold,
                                  "breached": np.nan_to_num(value, nan=np.inf) < threshold, "complete": complete}))
    return pd.concat(rows, ignore_index=True)[list(TRIGGER_COLUMNS)]


def _joined(members: pd.DataFrame, column: str) -> pd.Series:
    """Per group_id, the distinct values of ``column`` joined by ';' (sorted), without a Python call per group."""
    d = members[["group_id", column]].drop_duplicates().sort_values(["group_id", column], kind="stable")
    d = d.assign(_k=d.groupby("group_id").cumcount())
    wide = d.pivot(index="group_id", columns="_k", values=column)
    out = wide[0].astype(str)
    for c in wide.columns[1:]:
        more = wide[c].notna()
        out = out.where(~more, out + ";" + wide[c].astype(str))
    return out


def _watchlist(pool: pd.DataFrame, plan_td: np.ndarray, actual_td: np.ndarray, status: np.ndarray,
               status_t: np.ndarray, last_t: np.ndarray, settled_t: np.ndarray, t_asof: float, mon) -> pd.DataFrame:
    """watchlist.csv: assets, then obligor groups of two or more pool assets, that collected less than
    ``monitor.watch_ratio`` of their plan to date, each level ranked by shortfall (plan − actual; ties in pool
    order), with the reasons. Reason texts are joined column-wise by Arrow, not row by row."""
    shortfall = plan_td - actual_td
    behind = (shortfall > 0.005) & (actual_td < mon.watch_ratio * plan_td)
    ratio = np.divide(actual_td, plan_td, out=np.full(len(pool), np.nan), where=plan_td > 0)
    silent = np.where(np.isfinite(last_t), t_asof - last_t, t_asof)
    sel = np.flatnonzero(behind)
    sel = sel[np.lexsort((sel, -shortfall[sel]))]
    code = pd.Categorical(status[sel], categories=list(vocab.LEGAL_STATUSES)).codes  # -1: no status
    court = np.isin(code, [vocab.LEGAL_STATUSES.index(c) for c in COURT_STATUSES
                           if c != "enforcement_terminated"])
    sl = silent[sel]
    never = ~np.isfinite(last_t[sel])
    quiet = sl >= mon.silent_months
    months = pa.array(np.floor(sl + 1e-9).astype(np.int64)).cast(pa.string())
    pct = pa.array(np.round(np.nan_to_num(ratio[sel]) * 100).astype(np.int64)).cast(pa.string())
    status_text = pc.take(pa.array([*list(vocab.LEGAL_STATUSES), ""], type=pa.string()),
                          pa.array(np.where(code < 0, len(vocab.LEGAL_STATUSES), code)))
    stalled = court & np.isnan(status_t[sel]) & (t_asof >= mon.stalled_months)
    settled = np.isfinite(settled_t[sel])

    n_sel = len(sel)

    def part(mask: np.ndarray, *pieces) -> pa.Array:
        """The text of ``pieces`` (arrays or constants) followed by '; ' where ``mask``, '' elsewhere."""
        text = pc.binary_join_element_wise(*[p if isinstance(p, pa.Array) else pa.scalar(p, pa.string())
                                             for p in (*pieces, "; ")], pa.scalar("", pa.string()))
        if not isinstance(text, pa.Array):  # constants only
            text = pa.repeat(text, n_sel)
        return pc.if_else(pa.array(mask, type=pa.bool_()), text, pa.scalar("", pa.string()))

    parts = [part(quiet & never, "no collection since closing (", months, " months)"),
             part(quiet & ~never, "no collection for ", months, " months"),
             part(stalled, "legal stage stalled at ", status_text, f" (no progress reported in {int(t_asof)} months)"),
             part(code == vocab.LEGAL_STATUSES.index("enforcement_terminated"),
                  "enforcement terminated (终本): no assets found to enforce on"),
             part(code == vocab.LEGAL_STATUSES.index("bankruptcy"),
                  "in bankruptcy: recovery waits on the administrator's distribution"),
             part(settled, "settled at ", pct, "% of plan to date (a realised shortfall)")]
    joined = pc.binary_join_element_wise(*parts, "")
    joined = pc.if_else(pc.equal(joined, ""), part(np.ones(n_sel, dtype=bool), "collected ", pct, "% of plan to date"),
                        joined)
    reasons = pc.utf8_rtrim(joined, characters="; ")

    def text(column: str) -> pd.Series:
        if column not in pool:
            return pd.Series("", index=range(n_sel), dtype=object)
        return pool[column].take(sel).astype(str).reset_index(drop=True)  # a take, then text: no 1M-row copy

    assets = pd.DataFrame({
        "amc_id": text("amc_id"), "asset_id": text("asset_id"), "obligor_id": text("obligor_id"),
        "group_id": text("group_id"), "province": text("province"), "plan_to_date": plan_td[sel],
        "actual_to_date": actual_td[sel], "shortfall": shortfall[sel],
        "reason": pd.Series(pd.array(reasons, dtype=pd.ArrowDtype(pa.string()))).astype(str),
        "level": "asset", "rank": np.arange(1, len(sel) + 1), "ratio": ratio[sel],
        "months_since_collection": np.where(never, np.nan, sl),
        "legal_status": pd.Series(pd.array(status_text, dtype=pd.ArrowDtype(pa.string()))).astype(str)})

    groups = pd.DataFrame(columns=list(WATCH_COLUMNS))
    if "group_id" in pool and len(pool):
        gcode, glabels = pd.factorize(pool["group_id"].astype(str), sort=True)
        k = len(glabels)
        gplan = np.bincount(gcode, weights=plan_td, minlength=k)
        gactual = np.bincount(gcode, weights=actual_td, minlength=k)
        gn = np.bincount(gcode, minlength=k)
        gbehind = np.bincount(gcode, weights=behind.astype(float), minlength=k).astype(np.int64)
        gshort = gplan - gactual
        keep = np.flatnonzero((gn >= 2) & (gshort > 0.005) & (gactual < mon.watch_ratio * gplan))
        keep = keep[np.lexsort((keep, -gshort[keep]))]
        if len(keep):
            keep_mask = np.zeros(k, dtype=bool)
            keep_mask[keep] = True
            wanted = keep_mask[gcode]
            members = pd.DataFrame({"group_id": gcode[wanted], "amc_id": pool["amc_id"].astype(str).to_numpy()[wanted],
                                    "province": pool["province"].astype(str).to_numpy()[wanted]})
            amcs, provs = _joined(members, "amc_id"), _joined(members, "province")
            reason = (pd.Series(gbehind[keep]).astype(str) + " of " + pd.Series(gn[keep]).astype(str)
                      + " pool assets of the obligor group behind plan")
            groups = pd.DataFrame({
                "amc_id": amcs.reindex(keep).to_numpy(), "asset_id": "", "obligor_id": "",
                "group_id": np.asarray(glabels, dtype=object)[keep], "province": provs.reindex(keep).to_numpy(),
                "plan_to_date": gplan[keep], "actual_to_date": gactual[keep], "shortfall": gshort[keep],
                "reason": reason.to_numpy(), "level": "group", "rank": np.arange(1, len(keep) + 1),
                "ratio": gactual[keep] / gplan[keep], "months_since_collection": np.nan, "legal_status": ""})
    frames = [f for f in (assets, groups) if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(WATCH_COLUMNS))
    return out[list(WATCH_COLUMNS)]


def _reforecast(plan: DealPlan, idx: np.ndarray, amount: np.ndarray, row_month: np.ndarray, settled_t: np.ndarray,
                plan_td: np.ndarray, actual_td: np.ndarray, t_asof: float, m_asof: int, pay_dates: pd.DatetimeIndex,
                as_of: pd.Timestamp):
    r"""reforecast.csv: the waterfall run from closing on what was collected, then the re-projected remainder.

    Each open asset's remaining plan is scaled by its segment's actual-to-plan ratio to date (segment: province ×
    collateral type), shrunk toward the pool's ratio :math:`\bar r = A/P` with prior weight
    :math:`w = c \cdot P` (``monitor.credibility`` = c):
    :math:`r_s = (A_s + w \bar r) / (P_s + w)`. A shortfall is thus read as lost, not late (conservative for the
    senior). Settled positions expect nothing more. Months after the report date come from the scaled curves by
    :func:`~pooling.valuation.model.pool_curve` (the deal's own projection); the report date's month keeps what
    was collected plus the scaled rest of its plan. The waterfall is the deal's
    (:func:`~pooling.tranching.deal.run_base_case`, tranche sizes as issued, clean-up sale at the legal maturity).
    """
    s, terms, pool = plan.scenario, plan.terms, plan.pool
    pm, n_legal = terms.period_months, terms.legal_periods
    H = len(plan.base_monthly)
    actual_monthly = np.bincount(row_month - 1, weights=amount, minlength=H)[:H] if len(idx) else np.zeros(H)
    a, b = REFORECAST_SEGMENT
    key = pool[a].astype(str) + "|" + pool[b].astype(str)
    codes, labels = pd.factorize(key, sort=True)
    A_s = np.bincount(codes, weights=actual_td, minlength=len(labels))
    P_s = np.bincount(codes, weights=plan_td, minlength=len(labels))
    A, P = float(A_s.sum()), float(P_s.sum())
    r_all = A / P if P > 0 else 1.0
    w = s.monitor.credibility * P
    r_seg = np.divide(A_s + w * r_all, P_s + w, out=np.full(len(labels), r_all), where=(P_s + w) > 0)
    factor = r_seg[codes] * (~np.isfinite(settled_t))
    scaled = pool.assign(curve_rinf=pool["curve_rinf"].to_numpy(float) * factor)
    forecast = pool_curve(scaled, horizon_months=H).iloc[:, 0].to_numpy(float)
    monthly = np.where(np.arange(1, H + 1) <= m_asof, actual_monthly, forecast)
    if t_asof < m_asof - 1e-12:  # the report date's month: collected so far + the scaled rest of its plan
        rest = cumulative_plan(scaled, float(m_asof), H) - cumulative_plan(scaled, t_asof, H)
        monthly[m_asof - 1] += float(rest.sum())
    base_periods = monthly_to_periods(plan.base_monthly, pm, n_legal)[0]
    sizes = plan.sizes
    case = run_base_case(monthly, sizes["senior"], sizes["mezz"], sizes["sub"], terms, s, plan=base_periods)
    planned = run_base_case(plan.base_monthly, sizes["senior"], sizes["mezz"], sizes["sub"], terms, s,
                            plan=base_periods)
    flows = case.flows
    names = tranche_names(s.structure.convention)
    cols = n_legal + 1
    started = np.concatenate([[True], pay_dates[:-1] <= as_of])
    status = np.where(pay_dates <= as_of, "actual", np.where(started, "current", "forecast")).tolist()
    frame = pd.DataFrame({"period": np.arange(1, cols + 1), "date": case.dates.strftime("%Y-%m-%d"),
                          "event": ["payment"] * n_legal + ["cleanup"], "status": [*status, "forecast"],
                          "plan_collections": planned.flows.collections[0], "collections": flows.collections[0],
                          "reserve_draw": flows.reserve_draw[0], "reserve_deposit": flows.reserve_deposit[0],
                          "reserve_balance": flows.reserve_balance[0]})
    skip = set() if sizes["mezz"] > 0 else {"mezz_interest", "mezz_principal"}
    if s.structure.convention != "europe":
        skip.add("servicer_deferred_fee")
    for item in PAY_ITEMS:
        if item not in skip:
            frame[f"pay_{item}"] = flows.pay[item][0]
    for key_ in ("senior", "mezz", "sub"):
        if key_ == "mezz" and sizes["mezz"] <= 0:
            continue
        frame[f"{names[key_]}_balance"] = flows.balances[key_][0]
        frame[f"plan_{names[key_]}_balance"] = planned.flows.balances[key_][0]
    senior_bal = flows.balances["senior"][0]
    legal = n_legal - 1
    principal = flows.pay["senior_principal"][0][:n_legal]
    paid = np.flatnonzero(principal > 0.005)
    plan_paid = np.flatnonzero(planned.flows.pay["senior_principal"][0][:n_legal] > 0.005)
    fc = {
        "method": "actual-to-plan by province × collateral type (credibility-weighted), remaining plan scaled",
        "pool_ratio": r_all,
        "segment_ratios": {str(k): float(v) for k, v in zip(labels, r_seg, strict=True)},
        "collections_to_legal_maturity": float(flows.collections[0, :n_legal].sum()),
        "plan_collections_to_legal_maturity": float(planned.flows.collections[0, :n_legal].sum()),
        "senior_repaid_by_legal_maturity": bool(senior_bal[legal] <= 0.005),
        "senior_balance_at_legal_maturity": float(max(senior_bal[legal], 0.0)),
        "senior_interest_shortfall": float(flows.interest_shortfall["senior"][0, :n_legal].sum()),
        "senior_expected_maturity": case.dates[paid[-1]].strftime("%Y-%m-%d") if len(paid) else None,
        "plan_senior_expected_maturity": planned.dates[plan_paid[-1]].strftime("%Y-%m-%d") if len(plan_paid) else None,
        "legal_maturity": case.dates[legal].strftime("%Y-%m-%d"),
        "senior_repaid_probability": None,
    }
    if plan.scenario_periods is not None:
        fc["senior_repaid_probability"] = _monte_carlo_share(plan, flows.collections[0, :n_legal], base_periods,
                                                             pay_dates, as_of)
    return frame, fc, flows


def _monte_carlo_share(plan: DealPlan, reforecast: np.ndarray, base: np.ndarray, pay_dates: pd.DatetimeIndex,
                       as_of: pd.Timestamp) -> float:
    """Share of the deal's factor scenarios in which the senior is still paid in full: the paid periods as
    collected, every later period's re-forecast scaled by the scenario's ratio to the base case in that period."""
    from pooling.tranching.waterfall import senior_passes

    C = plan.scenario_periods
    mult = np.divide(C, base[None, :], out=np.ones_like(C), where=base[None, :] > 0)
    done = (pay_dates <= as_of)[: C.shape[1]]
    paths = np.where(done[None, :], reforecast[None, : C.shape[1]], reforecast[None, : C.shape[1]] * mult)
    ok = senior_passes(paths, np.full(len(C), plan.sizes["senior"]), plan.terms)
    return float(ok.mean())
