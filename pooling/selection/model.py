r"""Pool selection as one canonical sparse MILP (DESIGN §5).

Notation (money in a scaled unit :math:`\sigma`, ``size.max`` or the contributed gbv when no max is given —
DESIGN §5 Numerics: raw yuan coefficients up to 1e10 make HiGHS report bad scaling):

* :math:`x_i \in \{0,1\}` — asset *i* (or, with ``whole_groups``, obligor group *i*) is in the pool;
* :math:`g_i = \text{gbv}_i/\sigma`, :math:`v_i = \text{npv}_i/\sigma`, :math:`r_i = \text{expected\_recovery}_i/\sigma`,
  :math:`m_i` = expected months;
* :math:`T = \sum_i g_i x_i` — a continuous column tied by one equality row (``total``), so that every share cap
  is a *sparse* row: :math:`\sum_{i\in k} g_i x_i - \alpha T \le 0` needs no fixed pool size.

Constraint families, one ``define_*`` each, with stable names (the ``family`` column of the row table):

=====================  =====================================================================================
family                 rows
=====================  =====================================================================================
total                  :math:`\sum_i g_i x_i - T = 0`; ``size.min/max`` are bounds on the column :math:`T`
<dim>_cap              :math:`\sum_{i\in k} g_i x_i - \alpha T \le 0` per value *k* of province, industry,
                       collateral_type, asset_type, legal_status, obligor_group, guarantee_circle
amc_max / amc_min      :math:`\sum_{i\in a} g_i x_i - \bar s_a T \le 0`, :math:`\sum_{i\in a} g_i x_i - \underline s_a T \ge 0`
top10                  sum of the k = 10 largest group exposures :math:`E_g` (Ogryczak–Tamir):
                       :math:`k\,t + \sum_g u_g - \beta T \le 0`, ``top10_excess``: :math:`u_g + t - E_g \ge 0`,
                       :math:`u_g, t \ge 0`
wa_recovery            :math:`\sum_i r_i x_i - \rho\,T \ge 0`
wa_months              :math:`\sum_i g_i (m_i - M) x_i \le 0`
secured                :math:`\sum_{i\ \text{secured}} g_i x_i - \varsigma\,T \ge 0`
hhi_exposure           :math:`\sum_{i\in k} g_i x_i - S_k = 0`: one continuous exposure column :math:`S_k` per value
                       *k* of a dimension with an HHI / effective-number limit
hhi_cut                tangent cuts :math:`w^\top S - \sqrt{h}\,T \le 0` of :math:`\lVert S\rVert_2 \le \sqrt{h}\,T`
                       (HHI :math:`=\sum_k (S_k/T)^2 \le h`): K + 1 nonzeros each, whatever the number of assets
tail_segment           ``pool.objective: tail_npv`` only: :math:`\sum_{i\in g} v_i x_i - N_g = 0` per segment
                       *g* (province|collateral_type)
tail_scenario          :math:`u_s - \eta + \sum_g m_{s,g} N_g \ge 0` per factor scenario; objective
                       :math:`\eta - \sum_s u_s/((1-\alpha)S)` = CVaR (:mod:`pooling.selection.tail`)
=====================  =====================================================================================

HHI (and effective number :math:`N \Rightarrow h = 1/N`) is convex: :math:`\sum_k S_k^2 \le h T^2` is the cone
:math:`\lVert S\rVert \le \sqrt h\,T`. Since :math:`\lVert S\rVert \ge w^\top S` for any unit vector *w*, every cut
:math:`w^\top S \le \sqrt h\,T` is implied by the limit; the loop solves, and while the pool breaks the limit adds
the cut at :math:`w = S^*/\lVert S^*\rVert` (which the current pool violates) and solves again. No binaries, no
quadratic terms (HiGHS has no MIQP). The cuts are first converged on the LP relaxation (cheap re-solves of
sparse rows), so the integer solves start from a tight outer approximation; a polished integer pool that breaks
the limit falls back to the last pool that met it.

:func:`select_pool` runs four named steps over one explicit state (:class:`_Run`): converge the HHI cuts on the
LP relaxation (by the core method, :mod:`pooling.selection.core`, on large models), choose the strategy by
measured cost (``auto``: lp_round, then the whole MILP to the requested gap when the LP solved in at most
:data:`EXACT_LP_ITERATIONS` simplex iterations), solve-check-tighten until the exact 0/1 pool meets every
limit, and finish (gap against the best bound valid for the scenario's own problem, status, shadow prices).

A share cap on a value whose *whole* contributed gbv is at most :math:`\alpha\cdot` ``size.min`` can never bind and
is dropped; so is every cap with :math:`\alpha \ge 1`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pooling import vocab
from pooling.errors import Infeasible, InputError, NoIncumbent
from pooling.scenario import Limits, Scenario
from pooling.selection.core import CoreLP
from pooling.selection.tail import (
    TAIL_FAMILIES,
    TailColumns,
    TailScenarios,
    define_tail,
    draw_tail_scenarios,
    tail_measures,
)
from solvers import Backend, Options, Problem, Result, Status, get_backend

ROW_COLUMNS = ["family", "key", "name", "limit", "value", "step"]

#: ``step``: one step of relaxation of a limit, in its own unit, for limits.csv's ``npv_per_step`` — a percentage
#: point of a share or rate, one month, 0.01 of an HHI (max_hhi, or min_effective_number read as HHI ≤ 1/n)
SHARE_STEP = 0.01
HHI_STEP = 0.01
#: caps on single obligor groups and guarantee circles are a few percent of the pool: their step is 0.1 point
FINE_STEP_FAMILIES = {"group_cap": 0.001, "circle_cap": 0.001}

#: Obligor groups modelled in the top-10 rows up front (largest contributed exposure first); the rest are added
#: only if a pool's top 10 reaches them (DESIGN §9: at 1M assets the helper rows of every group made the LP 5×
#: larger for groups that never come near the top 10).
TOP10_CANDIDATES = 2000

#: Row families that define helper columns rather than state a limit (never "binding", never relaxed).
HELPER_FAMILIES = ("total", "top10_excess", "top10_lift", "hhi_exposure", *TAIL_FAMILIES)

#: Share-cap dimensions: limit key → (asset column, family name, what one value of it is called).
CAP_DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "max_province_share": ("province", "province_cap", "province"),
    "max_industry_share": ("industry", "industry_cap", "industry section"),
    "max_collateral_share": ("collateral_type", "collateral_cap", "collateral type"),
    "max_asset_type_share": ("asset_type", "asset_type_cap", "asset type"),
    "max_legal_status_share": ("legal_status", "legal_status_cap", "legal status"),
    "max_obligor_group_share": ("group_id", "group_cap", "obligor group"),
    "max_guarantee_circle_share": ("circle_id", "circle_cap", "guarantee circle"),
}
#: HHI / effective-number dimensions → asset column: the vocabulary's concentration dimensions.
HHI_DIMENSIONS: dict[str, str] = vocab.CONCENTRATION_DIMENSIONS
TOP_K = 10


@dataclass
class _Block:
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    lower: list[np.ndarray] = field(default_factory=list)
    upper: list[np.ndarray] = field(default_factory=list)
    meta: list[pd.DataFrame] = field(default_factory=list)
    n_rows: int = 0


@dataclass(frozen=True)
class SelectionModel:
    """The canonical problem plus what is needed to map a solution back to assets and limits.

    Columns: ``n_units`` unit columns (assets, or groups with ``whole_groups``), then ``T``, then (with a top-10
    limit) ``t`` and one ``u_g`` per group.
    """

    problem: Problem
    scale: float
    n_units: int
    unit_of_asset: np.ndarray  # unit index of each asset
    unit_gbv: np.ndarray  # scaled gbv per unit
    hhi: dict[str, tuple[np.ndarray, int, float]]  # dimension → (value code per asset, n values, bound h)
    asset_gbv: np.ndarray  # scaled gbv per asset
    #: (column of t, u_g columns of the modelled groups, per asset the index of its group among them or −1)
    top10: tuple[int, np.ndarray, np.ndarray] | None = None
    #: group code of each asset over all groups (with a top-10 limit)
    group_codes: np.ndarray | None = None
    hhi_cols: dict[str, np.ndarray] = field(default_factory=dict)  # dimension → columns of its exposures S_k
    #: the tail objective's columns (``pool.objective: tail_npv``) and its scenarios
    tail: TailColumns | None = None
    tail_scenarios: TailScenarios | None = None

    @property
    def col_T(self) -> int:
        return self.n_units


class _Builder:
    """Collects constraint blocks as COO triplets; one CSR at the end."""

    def __init__(self, assets: pd.DataFrame, scenario: Scenario, scale: float, unit_of_asset: np.ndarray, n_units: int):
        self.assets = assets
        self.scenario = scenario
        self.limits: Limits = scenario.pool.limits
        self.scale = scale
        self.n_assets = len(assets)
        self.unit_of_asset = unit_of_asset
        self.n_units = n_units
        self.g = assets["gbv"].to_numpy(dtype=float) / scale
        self.block = _Block()
        # top-10 limit (define_top10): (t column, u_g columns, group index per asset) and the pieces behind it
        self.top10: tuple[int, np.ndarray, np.ndarray] | None = None
        self.top10_codes: np.ndarray | None = None  # group code of each asset (all groups)
        self.top10_groups = np.zeros(0, dtype=object)  # name of each group code
        self.top10_G = np.zeros(0)  # contributed exposure of each group (scaled)
        self.top10_u = np.zeros(0, dtype=np.int64)  # u column of each group, −1 while not modelled
        self.top10_row = -1  # index of the top-10 row
        self.top10_col_t = -1  # column of t
        self.hhi_cols: dict[str, np.ndarray] = {}
        self.hhi_names: dict[str, np.ndarray] = {}
        #: dimension → the cut directions this model generated ({value: weight}), to seed related models
        self.cut_log: dict[str, list[dict[str, float]]] = {}
        #: dimension → the unit cut directions already in the model, so that no cut is added twice
        self.cut_directions: dict[str, list[np.ndarray]] = {}
        self.n_cols = n_units + 1  # units, then T
        self.extra_lower: list[float] = [float("-inf")]
        self.extra_upper: list[float] = [float("inf")]
        self.extra_cost: list[float] = [0.0]  # objective coefficient of each column after the units
        size = scenario.pool.size
        self.size_min = float(size.min or 0.0)
        self.extra_lower[0] = self.size_min / scale
        self.extra_upper[0] = (size.max / scale) if size.max is not None else float(self.g.sum())

    @property
    def col_T(self) -> int:
        return self.n_units

    def add_extra_columns(self, n: int, lower: float, upper: float, cost: float = 0.0) -> np.ndarray:
        """``n`` continuous columns with the same bounds (and objective coefficient); their indices."""
        first = self.n_cols
        self.extra_lower.extend([lower] * n)
        self.extra_upper.extend([upper] * n)
        self.extra_cost.extend([cost] * n)
        self.n_cols += n
        return np.arange(first, first + n, dtype=np.int64)

    def add_extra_column(self, lower: float, upper: float, cost: float = 0.0) -> int:
        self.extra_lower.append(lower)
        self.extra_upper.append(upper)
        self.extra_cost.append(cost)
        self.n_cols += 1
        return self.n_cols - 1

    def add_asset_rows(
        self,
        row_of_asset: np.ndarray,
        coef: np.ndarray,
        n_rows: int,
        lower: np.ndarray,
        upper: np.ndarray,
        meta: pd.DataFrame,
        extra: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = (),
    ) -> None:
        """Rows whose asset part is coef[i] on row row_of_asset[i] (−1: not in any row), plus extra-column terms."""
        keep = (row_of_asset >= 0) & (coef != 0)
        r = row_of_asset[keep].astype(np.int64)
        c = self.unit_of_asset[keep].astype(np.int64)
        v = coef[keep].astype(float)
        base = self.block.n_rows
        self.block.rows.append(r + base)
        self.block.cols.append(c)
        self.block.vals.append(v)
        for rows, cols, vals in extra:
            self.block.rows.append(np.asarray(rows, dtype=np.int64) + base)
            self.block.cols.append(np.asarray(cols, dtype=np.int64))
            self.block.vals.append(np.asarray(vals, dtype=float))
        self.block.lower.append(np.asarray(lower, dtype=float))
        self.block.upper.append(np.asarray(upper, dtype=float))
        self.block.meta.append(meta.reset_index(drop=True))
        self.block.n_rows += n_rows

    # ------------------------------------------------------------------------------------------------ families
    def define_total(self) -> None:
        """T = Σ g_i x_i; size bounds are T's column bounds."""
        n = self.n_assets
        meta = pd.DataFrame([{"family": "total", "key": "", "name": "pool gbv (defines T)", "limit": "pool.size", "value": np.nan, "step": np.nan}])
        self.add_asset_rows(
            np.zeros(n, dtype=np.int64), self.g, 1, np.zeros(1), np.zeros(1), meta,
            extra=[(np.zeros(1), np.array([self.col_T]), np.array([-1.0]))],
        )

    def _share_rows(
        self, codes: np.ndarray, names: np.ndarray, alpha: float, family: str, what: str, limit: str, upper_bound: bool
    ) -> None:
        """Σ_{i∈k} g_i x_i − α T ≤ 0 (upper) or ≥ 0 (lower), one row per value k that can bind."""
        n_vals = len(names)
        if n_vals == 0:
            return
        total = np.bincount(codes[codes >= 0], weights=self.g[codes >= 0], minlength=n_vals)
        if upper_bound:
            if alpha >= 1.0:
                return
            can_bind = total > alpha * self.size_min / self.scale + 1e-12 if self.size_min > 0 else total > 0
        else:
            can_bind = np.full(n_vals, alpha > 0.0)
        if not can_bind.any():
            return
        row_of_value = np.full(n_vals, -1, dtype=np.int64)
        row_of_value[can_bind] = np.arange(int(can_bind.sum()))
        row_of_asset = np.where(codes >= 0, row_of_value[np.maximum(codes, 0)], -1)
        n_rows = int(can_bind.sum())
        sense = "≤" if upper_bound else "≥"
        kept = names[can_bind]
        meta = pd.DataFrame(
            {
                "family": family,
                "key": kept.astype(str),
                "name": [f"{limit.split('.')[-1]} {alpha:g}: {what} {k} {sense} {alpha:.2%} of pool" for k in kept],
                "limit": limit,
                "value": alpha,
                "step": FINE_STEP_FAMILIES.get(family, SHARE_STEP),
            }
        )
        lower = np.full(n_rows, -np.inf) if upper_bound else np.zeros(n_rows)
        upper = np.zeros(n_rows) if upper_bound else np.full(n_rows, np.inf)
        extra = [(np.arange(n_rows), np.full(n_rows, self.col_T), np.full(n_rows, -alpha))]
        self.add_asset_rows(row_of_asset, self.g, n_rows, lower, upper, meta, extra)

    def define_share_caps(self) -> None:
        """Max share of each province, industry, collateral type, asset type, legal status, group and circle."""
        for limit_key, (column, family, what) in CAP_DIMENSIONS.items():
            alpha = getattr(self.limits, limit_key)
            if alpha is None:
                continue
            codes, names = factorize_sorted(self.assets[column])
            if column == "circle_id":  # assets outside any circle are in no row
                empty = np.flatnonzero(names == "")
                if len(empty):
                    codes = np.where(codes == empty[0], -1, codes - (codes > empty[0]))
                    names = np.delete(names, empty[0])
            self._share_rows(codes, np.asarray(names), alpha, family, what, f"pool.limits.{limit_key}", True)

    def define_amc_shares(self) -> None:
        """Each AMC's min and max share of the pool's gbv."""
        ids = np.array([a.id for a in self.scenario.amcs])
        codes = pd.Index(ids).get_indexer(self.assets["amc_id"].astype(str))
        for i, amc in enumerate(self.scenario.amcs):
            own = np.where(codes == i, 0, -1)
            one = np.array([amc.id])
            if amc.max_share < 1.0:
                self._share_rows(own, one, amc.max_share, "amc_max", "AMC", f"amcs.{amc.id}.max_share", True)
            if amc.min_share > 0.0:
                self._share_rows(own, one, amc.min_share, "amc_min", "AMC", f"amcs.{amc.id}.min_share", False)

    def define_top10(self) -> None:
        """Sum of the 10 largest obligor-group exposures ≤ β T (sum-of-k-largest linearisation).

        Only the :data:`TOP10_CANDIDATES` groups with the largest contributed exposure get a u_g column and helper
        row up front: the rows over a subset of the groups are a relaxation of the limit (the top-k sum over a
        subset is at most the top-k sum over all), so the LP bound stays valid; :func:`select_pool` checks the
        exact limit on every pool and adds the groups that could enter its top 10 when a left-out one does.
        """
        beta = self.limits.max_top10_group_share
        if beta is None or beta >= 1.0:
            return
        codes, names = factorize_sorted(self.assets["group_id"])
        n_groups = len(names)
        codes = codes.astype(np.int64)
        self.top10_groups = np.asarray(names).astype(str)
        self.top10_codes = codes
        self.top10_G = np.bincount(codes, weights=self.g, minlength=n_groups)
        self.top10_u = np.full(n_groups, -1, dtype=np.int64)  # u column of each modelled group
        col_t = self.add_extra_column(0.0, float("inf"))
        # k t − β T (+ Σ u_g, added with the groups) ≤ 0
        meta = pd.DataFrame([{"family": "top10", "key": "", "name": f"max_top10_group_share {beta:g}: 10 largest groups ≤ {beta:.2%} of pool",
                              "limit": "pool.limits.max_top10_group_share", "value": beta, "step": SHARE_STEP}])
        self.top10_row = self.block.n_rows
        self.add_asset_rows(
            np.full(self.n_assets, -1), self.g, 1, np.array([-np.inf]), np.zeros(1), meta,
            extra=[(np.zeros(2, dtype=np.int64), np.array([col_t, self.col_T]), np.array([TOP_K, -beta]))],
        )
        self.top10_col_t = col_t
        order = np.argsort(-self.top10_G, kind="stable")
        self.add_top10_groups(order[: min(TOP10_CANDIDATES, n_groups)])

    def add_top10_groups(self, groups: np.ndarray) -> None:
        """Give the groups ``groups`` (codes) a u_g column, their helper row u_g + t − E_g ≥ 0 and a term in the
        top-10 row."""
        groups = np.asarray(groups, dtype=np.int64)
        groups = np.unique(groups[self.top10_u[groups] < 0])
        if len(groups) == 0:
            return
        u_cols = self.add_extra_columns(len(groups), 0.0, float("inf"))
        self.top10_u[groups] = u_cols
        # the u_g terms of the top-10 row (an earlier row: triplets only)
        self.block.rows.append(np.full(len(groups), self.top10_row, dtype=np.int64))
        self.block.cols.append(u_cols)
        self.block.vals.append(np.ones(len(groups)))
        # u_g + t − E_g ≥ 0
        row_of_group = np.full(len(self.top10_u), -1, dtype=np.int64)
        row_of_group[groups] = np.arange(len(groups))
        meta = pd.DataFrame({"family": "top10_excess", "key": self.top10_groups[groups],
                             "name": "top-10 helper: u_g ≥ E_g − t", "limit": "pool.limits.max_top10_group_share",
                             "value": self.limits.max_top10_group_share, "step": np.nan})
        r = np.arange(len(groups))
        self.add_asset_rows(
            row_of_group[self.top10_codes], -self.g, len(groups), np.zeros(len(groups)),
            np.full(len(groups), np.inf), meta,
            extra=[(r, u_cols, np.ones(len(groups))), (r, np.full(len(groups), self.top10_col_t), np.ones(len(groups)))],
        )
        self._top10_lift(groups)
        self.top10 = self._top10_tuple()

    def _top10_lift(self, groups: np.ndarray) -> None:
        """``top10_lift``: u_g − Σ_{i∈g} (g_i − t̄)⁺ x_i ≥ 0 for the groups among ``groups`` with an asset larger than
        t̄ = β T̄ / k (T̄ = the size column's upper bound).

        Valid for every whole-asset pool: the top-10 row gives k t ≤ β T ≤ k t̄, so u_g ≥ E_g − t ≥ E_g − t̄, and
        for the chosen assets above t̄, Σ (g_i − t̄) ≤ E_g − t̄ (one t̄ subtracted per asset, at least one asset).
        Implied by nothing in the LP: there a large asset taken by a fraction can sit under t at no u_g cost.
        On a 500-asset consortium with lumpy corporate groups it moved the LP bound from 20% to 11% above the
        optimum (and let the MILP prove it)."""
        beta = self.limits.max_top10_group_share
        t_bar = beta * self.extra_upper[0] / TOP_K
        above = np.maximum(self.g - t_bar, 0.0)
        in_groups = np.zeros(len(self.top10_u), dtype=bool)
        in_groups[groups] = True
        big = (above > 0) & in_groups[self.top10_codes]
        if not big.any():
            return
        lifted = np.unique(self.top10_codes[big])
        row_of_group = np.full(len(self.top10_u), -1, dtype=np.int64)
        row_of_group[lifted] = np.arange(len(lifted))
        n = len(lifted)
        meta = pd.DataFrame({"family": "top10_lift", "key": self.top10_groups[lifted],
                             "name": "top-10 helper: u_g ≥ Σ (g_i − β T_max / 10)⁺ x_i",
                             "limit": "pool.limits.max_top10_group_share", "value": beta, "step": np.nan})
        self.add_asset_rows(np.where(big, row_of_group[self.top10_codes], -1), -above, n, np.zeros(n),
                            np.full(n, np.inf), meta, extra=[(np.arange(n), self.top10_u[lifted], np.ones(n))])

    def _top10_tuple(self) -> tuple[int, np.ndarray, np.ndarray]:
        modelled = np.flatnonzero(self.top10_u >= 0)
        modelled = modelled[np.argsort(self.top10_u[modelled], kind="stable")]  # creation order = row order
        index = np.full(len(self.top10_u), -1, dtype=np.int64)
        index[modelled] = np.arange(len(modelled))
        return (self.top10_col_t, self.top10_u[modelled], index[self.top10_codes])

    def define_wa_tests(self) -> None:
        """Weighted-average tests: min WA recovery rate, max WA months to recovery, min secured share."""
        a = self.assets
        all_rows = np.zeros(self.n_assets, dtype=np.int64)
        rho = self.limits.min_wa_recovery_rate
        if rho is not None:
            r = a["expected_recovery"].to_numpy(dtype=float) / self.scale
            meta = pd.DataFrame([{"family": "wa_recovery", "key": "", "name": f"min_wa_recovery_rate {rho:g}: Σ recovery ≥ {rho:.1%} of pool gbv",
                                  "limit": "pool.limits.min_wa_recovery_rate", "value": rho, "step": SHARE_STEP}])
            self.add_asset_rows(all_rows, r, 1, np.zeros(1), np.array([np.inf]), meta,
                                extra=[(np.zeros(1), np.array([self.col_T]), np.array([-rho]))])
        months = self.limits.max_wa_months_to_recovery
        if months is not None:
            m = a["expected_months"].to_numpy(dtype=float)
            meta = pd.DataFrame([{"family": "wa_months", "key": "", "name": f"max_wa_months_to_recovery {months:g}: gbv-weighted months ≤ {months:g}",
                                  "limit": "pool.limits.max_wa_months_to_recovery", "value": months, "step": 1.0}])
            # scaled by 1/months so the coefficients stay O(g)
            self.add_asset_rows(all_rows, self.g * (m - months) / months, 1, np.array([-np.inf]), np.zeros(1), meta)
        sec = self.limits.min_secured_share
        if sec is not None:
            secured = ~a["collateral_type"].astype(str).isin(vocab.UNSECURED_COLLATERAL).to_numpy()
            meta = pd.DataFrame([{"family": "secured", "key": "", "name": f"min_secured_share {sec:g}: secured ≥ {sec:.1%} of pool",
                                  "limit": "pool.limits.min_secured_share", "value": sec, "step": SHARE_STEP}])
            self.add_asset_rows(np.where(secured, 0, -1), self.g, 1, np.zeros(1), np.array([np.inf]), meta,
                                extra=[(np.zeros(1), np.array([self.col_T]), np.array([-sec]))])

    def hhi_bounds(self) -> dict[str, tuple[np.ndarray, int, float]]:
        """Dimension → (value code per asset, number of values, HHI bound), tightest of max_hhi and 1/min_eff."""
        bounds: dict[str, float] = {}
        for dim, h in self.limits.max_hhi.items():
            bounds[dim] = min(h, bounds.get(dim, 1.0))
        for dim, n_eff in self.limits.min_effective_number.items():
            bounds[dim] = min(1.0 / n_eff, bounds.get(dim, 1.0))
        out = {}
        for dim, h in bounds.items():
            codes, names = factorize_sorted(self.assets[HHI_DIMENSIONS[dim]])
            self.hhi_names[dim] = np.asarray(names).astype(str)
            out[dim] = (codes.astype(np.int64), len(names), h)
        return out

    def define_hhi(self, seed: dict[str, list[dict[str, float]]] | None = None) -> dict[str, tuple[np.ndarray, int, float]]:
        """Exposure columns S_k = Σ_{i∈k} g_i x_i for each dimension with an HHI / effective-number limit, the
        two starting cuts (equal shares, the contributed mix) and the cut directions in ``seed`` (dimension →
        [{value: weight}], e.g. another model's :attr:`cut_log`): a tangent cut is valid for every pool, whatever
        its assets, so cuts found for one coalition warm-start another."""
        hhi = self.hhi_bounds()
        for dim, (codes, n_vals, _) in hhi.items():
            cols = self.add_extra_columns(n_vals, 0.0, float("inf"))
            self.hhi_cols[dim] = cols
            meta = pd.DataFrame({"family": "hhi_exposure", "key": self.hhi_names[dim],
                                 "name": f"{dim} exposure (defines S_k)", "limit": f"pool.limits.max_hhi.{dim}",
                                 "value": np.nan, "step": np.nan})
            r = np.arange(n_vals)
            self.add_asset_rows(codes, self.g, n_vals, np.zeros(n_vals), np.zeros(n_vals), meta,
                                extra=[(r, cols, -np.ones(n_vals))])
        for dim, (codes, n_vals, h) in hhi.items():
            self.hhi_cut(dim, h, np.ones(n_vals), "equal shares")
            self.hhi_cut(dim, h, np.bincount(codes, weights=self.g, minlength=n_vals), "contributed mix")
            index = {name: k for k, name in enumerate(self.hhi_names[dim])}
            for i, direction in enumerate((seed or {}).get(dim, [])):
                names = [name for name in direction if name in index]
                w = np.zeros(n_vals)
                w[[index[name] for name in names]] = [direction[name] for name in names]
                # restricted to the values on offer: still ‖w‖ ≤ 1, still valid
                self.hhi_cut(dim, h, w, f"seed {i + 1}")
        return hhi

    def hhi_cut(self, dim: str, h: float, s_bar: np.ndarray, round_: int | str) -> bool:
        """Tangent cut w·S − √h T ≤ 0 at S̄ (w = S̄/‖S̄‖): implied by HHI ≤ h, violated by any pool with shares ∝ S̄.

        ``round_`` names the cut (an integer: the integer-pool round; ``"LP n"``: an LP round; the starting cuts and
        seeds by name); only integer- and LP-round cuts go to :attr:`cut_log`. A direction already in the model
        (to 1e-9) is not added again: False."""
        norm = float(np.linalg.norm(s_bar))
        if norm <= 0:
            return False
        w = s_bar / norm
        known = self.cut_directions.setdefault(dim, [])
        if any(float(np.max(np.abs(w - v))) <= 1e-9 for v in known):
            return False
        known.append(w)
        nz = np.flatnonzero(w > 0)
        if isinstance(round_, int) or str(round_).startswith("LP"):
            self.cut_log.setdefault(dim, []).append(dict(zip(self.hhi_names[dim][nz].tolist(), w[nz].tolist(), strict=True)))
        meta = pd.DataFrame([{"family": "hhi_cut", "key": dim, "name": f"max_hhi {h:.4g} on {dim} (tangent cut {round_})",
                              "limit": f"pool.limits.max_hhi.{dim}", "value": h, "step": HHI_STEP}])
        cols = np.concatenate([self.hhi_cols[dim][nz], [self.col_T]])
        vals = np.concatenate([w[nz], [-math.sqrt(h)]])
        self.add_asset_rows(np.full(self.n_assets, -1, dtype=np.int64), self.g, 1, np.array([-np.inf]), np.zeros(1),
                            meta, extra=[(np.zeros(len(cols), dtype=np.int64), cols, vals)])
        return True

    def define_tail(self, scenarios: TailScenarios) -> TailColumns:
        """The tail objective's columns and rows (``tail_segment``, ``tail_scenario``; :mod:`pooling.selection.tail`)."""
        return define_tail(self, self.assets, scenarios)

    # -------------------------------------------------------------------------------------------------- output
    def problem(self, objective: np.ndarray) -> Problem:
        b = self.block
        rows = np.concatenate(b.rows) if b.rows else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(b.cols) if b.cols else np.zeros(0, dtype=np.int64)
        vals = np.concatenate(b.vals) if b.vals else np.zeros(0)
        A = sp.csr_matrix((vals, (rows, cols)), shape=(b.n_rows, self.n_cols))
        A.sum_duplicates()
        c = np.zeros(self.n_cols)
        c[: self.n_units] = np.bincount(self.unit_of_asset, weights=objective, minlength=self.n_units)
        c[self.n_units:] = self.extra_cost
        col_lower = np.concatenate([np.zeros(self.n_units), self.extra_lower])
        col_upper = np.concatenate([np.ones(self.n_units), self.extra_upper])
        integrality = np.zeros(self.n_cols, dtype=bool)
        integrality[: self.n_units] = True
        meta = pd.concat(b.meta, ignore_index=True) if b.meta else pd.DataFrame(columns=ROW_COLUMNS)
        return Problem(c, A, np.concatenate(b.lower), np.concatenate(b.upper), col_lower, col_upper, integrality, meta,
                       maximize=True)


def factorize_sorted(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(series.astype(str), sort=True)`` — codes and sorted value names — without turning every
    element of a categorical column into a Python string (the tapes' enums are categoricals)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        if not (codes < 0).any():
            cats = np.asarray(series.cat.categories.astype(str), dtype=object)
            used = np.unique(codes)
            names = cats[used]
            order = np.argsort(names, kind="stable")
            remap = np.full(len(cats), -1, dtype=np.int64)
            remap[used[order]] = np.arange(len(used))
            return remap[codes], names[order]
    if isinstance(series.dtype, pd.StringDtype) and not series.isna().any():
        codes, names = pd.factorize(series, sort=True)  # arrow-backed strings: factorized natively
    else:
        codes, names = pd.factorize(series.astype(str).to_numpy(), sort=True)
    return codes.astype(np.int64), np.asarray(names, dtype=object)


def objective_values(assets: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """Per-asset objective in CNY: npv, or stressed npv (haircut and delay of the whole curve); zero for
    ``tail_npv``, whose objective sits on the tail columns (:mod:`pooling.selection.tail`), not on the assets."""
    npv = assets["npv"].to_numpy(dtype=float)
    pool = scenario.pool
    if pool.objective == "npv":
        return npv
    if pool.objective == "tail_npv":
        return np.zeros(len(npv))
    v = (1.0 + scenario.valuation.discount_rate) ** (-pool.stress_delay_months / 12.0)
    return npv * (1.0 - pool.stress_haircut) * v


def _units(assets: pd.DataFrame, whole_groups: bool) -> tuple[np.ndarray, int]:
    if not whole_groups:
        return np.arange(len(assets), dtype=np.int64), len(assets)
    codes, names = factorize_sorted(assets["group_id"])
    return codes.astype(np.int64), len(names)


def build_model(assets: pd.DataFrame, scenario: Scenario,
                hhi_seed: dict[str, list[dict[str, float]]] | None = None,
                tail_scenarios: TailScenarios | None = None) -> tuple[SelectionModel, _Builder]:
    """Build the canonical problem for valued, grouped assets (one ``define_*`` per limit family); ``hhi_seed``:
    extra starting HHI cuts (see :meth:`_Builder.define_hhi`). With ``pool.objective: tail_npv`` the tail
    columns and rows (:func:`~pooling.selection.tail.define_tail`) over ``tail_scenarios``, drawn from
    ``pool.tail`` when not given."""
    if len(assets) == 0:
        raise InputError("no assets to select from")
    gbv_total = float(assets["gbv"].sum())
    scale = float(scenario.pool.size.max or gbv_total or 1.0)
    unit_of_asset, n_units = _units(assets, scenario.pool.whole_groups)
    b = _Builder(assets, scenario, scale, unit_of_asset, n_units)
    b.define_total()
    b.define_share_caps()
    b.define_amc_shares()
    b.define_top10()
    b.define_wa_tests()
    hhi = b.define_hhi(hhi_seed)
    tail = None
    if scenario.pool.objective == "tail_npv":
        if tail_scenarios is None:
            spec = scenario.pool.tail
            tail_scenarios = draw_tail_scenarios(assets, spec.alpha, spec.scenarios, spec.seed)
        tail = b.define_tail(tail_scenarios)
    else:
        tail_scenarios = None
    unit_gbv = np.bincount(unit_of_asset, weights=b.g, minlength=n_units)
    model = SelectionModel(
        problem=b.problem(objective_values(assets, scenario) / scale),
        scale=scale, n_units=n_units, unit_of_asset=unit_of_asset, unit_gbv=unit_gbv, hhi=hhi, asset_gbv=b.g,
        top10=b.top10, group_codes=b.top10_codes, hhi_cols=dict(b.hhi_cols), tail=tail,
        tail_scenarios=tail_scenarios,
    )
    return model, b


@dataclass
class Selection:
    """A solved selection: which assets, how good, what bound it.

    ``objective_value`` and ``bound`` are in CNY; ``mip_gap`` relative. ``limits`` has one row per constraint
    row with its activity, slack and (from the LP relaxation) shadow price.
    """

    status: str
    selected: np.ndarray  # bool per asset
    objective_value: float | None
    bound: float | None
    mip_gap: float | None
    solve_seconds: float
    build_seconds: float
    strategy: str
    limits: pd.DataFrame
    hhi_rounds: int = 0
    message: str = ""
    info: dict = field(default_factory=dict)
    #: dimension → the HHI cut directions generated ({value: weight}); ``select_pool(hhi_seed=…)`` reuses them
    hhi_cuts: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    #: ``pool.objective: tail_npv``: the factor scenarios the CVaR was taken over (tail_scenarios.csv)
    tail_scenarios: TailScenarios | None = None


class _Margins:
    """Bound back-offs for rows (and the size column) that the exact 0/1 pool breaks by solver tolerance."""

    def __init__(self) -> None:
        self.upper: dict[int, float] = {}
        self.lower: dict[int, float] = {}
        self.size_upper = 0.0
        self.size_lower = 0.0

    @property
    def active(self) -> bool:
        """Any back-off recorded: the problem solved is a restriction of the scenario's."""
        return bool(self.upper or self.lower or self.size_upper or self.size_lower)

    def tighten(self, problem: Problem, model: SelectionModel, x: np.ndarray, tol: float = 1e-9) -> bool:
        """Record a back-off of twice the violation for each broken row; True if any."""
        act = problem.A @ x
        over = act - problem.row_upper
        under = problem.row_lower - act
        found = False
        for i in np.flatnonzero(over > tol):
            self.upper[int(i)] = self.upper.get(int(i), 0.0) + 2 * over[i] + tol
            found = True
        for i in np.flatnonzero(under > tol):
            self.lower[int(i)] = self.lower.get(int(i), 0.0) + 2 * under[i] + tol
            found = True
        T = x[model.col_T]
        if problem.col_upper[model.col_T] + tol < T:
            self.size_upper += 2 * (T - problem.col_upper[model.col_T]) + tol
            found = True
        if problem.col_lower[model.col_T] - tol > T:
            self.size_lower += 2 * (problem.col_lower[model.col_T] - T) + tol
            found = True
        return found

    def apply(self, problem: Problem, model: SelectionModel, sign: float = 1.0) -> Problem:
        """The problem with the back-offs applied (``sign=-1``: removed again, for reporting slacks)."""
        if not self.active:
            return problem
        ru, rl = problem.row_upper.copy(), problem.row_lower.copy()
        for i, d in self.upper.items():
            ru[i] -= sign * d
        for i, d in self.lower.items():
            rl[i] += sign * d
        cu, cl = problem.col_upper.copy(), problem.col_lower.copy()
        cu[model.col_T] -= sign * self.size_upper
        cl[model.col_T] += sign * self.size_lower
        return Problem(problem.c, problem.A, rl, ru, cl, cu, problem.integrality, problem.rows, problem.maximize,
                       problem.offset)


def exact_point(model: SelectionModel, x: np.ndarray) -> np.ndarray:
    """The solver's point with the unit columns rounded to 0/1 and the continuous columns recomputed exactly from
    them: T = Σ g x, and for the top-10 limit t = the 10th largest modelled group exposure, u_g = max(E_g − t, 0) — the
    values that make those rows tightest-feasible. Rows are then checked on this point, not on solver rounding."""
    out = np.asarray(x, dtype=float).copy()
    units = np.round(out[: model.n_units])
    out[: model.n_units] = units
    sel = units[model.unit_of_asset]
    out[model.col_T] = float(model.asset_gbv @ sel)
    if model.top10 is not None:
        # t minimises k t + Σ max(E_g − t, 0) over the *modelled* groups: their 10th largest exposure (0 with
        # fewer than 10); the exact limit over every group is checked separately (top10_missing)
        col_t, u_cols, codes = model.top10
        m = codes >= 0
        E = np.bincount(codes[m], weights=(model.asset_gbv * sel)[m], minlength=len(u_cols))
        t = float(np.sort(E)[::-1][TOP_K - 1]) if len(E) >= TOP_K else 0.0
        out[col_t] = t
        out[u_cols] = np.maximum(E - t, 0.0)
    for dim, cols in model.hhi_cols.items():
        codes, n_vals, _ = model.hhi[dim]
        out[cols] = np.bincount(codes, weights=model.asset_gbv * sel, minlength=n_vals)
    if model.tail is not None:
        model.tail.fill(out, sel)
    return out


def top10_missing(model: SelectionModel, x_units: np.ndarray, builder: _Builder, tol: float = 1e-9) -> np.ndarray:
    """Groups to add to the top-10 rows: empty when the pool meets the exact top-10 limit (over every group);
    otherwise every left-out group whose contributed exposure reaches the pool's 10th largest exposure."""
    if model.top10 is None:
        return np.zeros(0, dtype=np.int64)
    sel = x_units[model.unit_of_asset]
    E = np.bincount(model.group_codes, weights=model.asset_gbv * sel, minlength=len(builder.top10_G))
    T = float(model.asset_gbv @ sel)
    top = np.sort(E)[::-1][:TOP_K]
    beta = builder.limits.max_top10_group_share
    if float(top.sum()) <= beta * T * (1.0 + 1e-7) + tol:
        return np.zeros(0, dtype=np.int64)
    t = float(top[-1]) if len(top) == TOP_K else 0.0
    return np.flatnonzero((builder.top10_u < 0) & (builder.top10_G >= t))


def _hhi_excess(model: SelectionModel, x_units: np.ndarray) -> float:
    """The worst relative excess HHI / bound − 1 over the HHI-limited dimensions (≤ 0 when all are met)."""
    x_assets = x_units[model.unit_of_asset]
    T = float(model.asset_gbv @ x_assets)
    if T <= 0 or not model.hhi:
        return 0.0
    return max(float(np.sum((np.bincount(codes, weights=model.asset_gbv * x_assets, minlength=n) / T) ** 2)) / h - 1.0
               for codes, n, h in model.hhi.values())


def hhi_violations(model: SelectionModel, x_units: np.ndarray, tol: float) -> dict[str, np.ndarray]:
    """Dimensions whose HHI exceeds its bound by more than ``tol`` (relative), with their exposures S."""
    x_assets = x_units[model.unit_of_asset]
    T = float(model.asset_gbv @ x_assets)
    out = {}
    if T <= 0:
        return out
    for dim, (codes, n_vals, h) in model.hhi.items():
        S = np.bincount(codes, weights=model.asset_gbv * x_assets, minlength=n_vals)
        if float(np.sum((S / T) ** 2)) > h * (1.0 + tol):
            out[dim] = S
    return out




def _shadow_prices(problem: Problem, model: SelectionModel, backend: Backend, options: Options, x: np.ndarray,
                   lp: Result | None = None) -> pd.DataFrame:
    """Row activities, slacks and LP-relaxation duals, in CNY; ``npv_per_step`` = npv gained by relaxing one step.

    ``lp`` is a solved LP relaxation of ``problem`` to reuse; otherwise one is solved here.

    Units: the model's rows are in money divided by σ (``model.scale``); the ``max_wa_months_to_recovery`` row
    Σ g_i (m_i − M)/M x_i ≤ 0 is further divided by its limit M. Here every row is put back into the unit of its
    left-hand side — CNY, or CNY·months for the months test (Σ gbv_i (m_i − M) x_i) — so ``activity`` and
    ``slack`` are in that unit and ``shadow_price`` λ is npv (CNY) per unit of it. Relaxing a limit by one step
    moves the row's right-hand side by Δb: step·T for a share limit (α → α + step: Σ g − αT ≤ step·T), step·T for
    the months test (M → M + 1 month: Σ g (m − M) ≤ T), (√(h + step) − √h)·T for a tangent cut w·S − √h·T ≤ 0
    of an HHI limit, so ``npv_per_step`` = |λ|·Δb, the first-order change of the LP optimum.
    """
    act = problem.A @ x
    rows = problem.rows.copy()
    family = rows["family"].to_numpy()
    value = rows["value"].to_numpy(dtype=float)
    months = family == "wa_months"
    hhi = family == "hhi_cut"
    unit = model.scale * np.where(months, value, 1.0)  # row unit → CNY (or CNY·months)
    rows["activity"] = act * unit
    rows["slack"] = np.minimum(problem.row_upper - act, act - problem.row_lower) * unit
    if lp is None and backend.capabilities.lp_duals:
        lp = backend.solve(problem.relaxed(), options)
    duals = lp.row_duals if lp is not None and lp.row_duals is not None else np.full(problem.n_rows, np.nan)
    T = float(x[model.col_T]) * model.scale  # pool gbv, CNY
    step = rows["step"].to_numpy(dtype=float)  # set with each row (SHARE_STEP, FINE_STEP_FAMILIES, HHI_STEP)
    with np.errstate(invalid="ignore"):
        rhs_per_step = np.where(hhi, np.sqrt(np.maximum(value + step, 0.0)) - np.sqrt(np.maximum(value, 0.0)), step) * T
        rows["shadow_price"] = duals * model.scale / unit
    rows["npv_per_step"] = np.abs(rows["shadow_price"].to_numpy(dtype=float)) * rhs_per_step
    if lp is not None and lp.objective is not None:
        rows.attrs["lp_bound"] = lp.objective * model.scale
    return rows


def _diagnose(problem: Problem, model: SelectionModel, backend: Backend, options: Options) -> Infeasible:
    """Name the conflicting limits (IIS of the LP relaxation) and how far each would have to move.

    The move comes from a feasibility relaxation in which the limit rows and the pool-size bounds may give way
    (one unit of penalty per unit of scaled gbv) while the definitional rows stay hard.
    """
    relaxed = problem.relaxed()
    lp = backend.solve(relaxed, options)
    if lp.status is not Status.INFEASIBLE:
        return Infeasible(
            "the limits can be met by fractions of assets but not by whole assets (or whole groups); "
            "relax the tightest limits or set pool.whole_groups: false",
            [],
        )
    highs = backend if backend.capabilities.iis else get_backend("highs")
    rows = problem.rows
    hard = rows["family"].isin(HELPER_FAMILIES).to_numpy()
    col_pen = np.full(problem.n_cols, -1.0)
    col_pen[model.col_T] = 1.0
    relax = highs.feasibility_relaxation(relaxed, options, col_pen, np.where(hard, -1.0, 1.0))
    col_moves, row_moves = relax if relax is not None else (np.zeros(problem.n_cols), np.zeros(problem.n_rows))
    iis = highs.iis(relaxed, options)
    chosen = list(iis[0]) if iis is not None else []
    size_in_iis = iis is not None and model.col_T in set(iis[1].tolist())
    chosen += [i for i in np.flatnonzero(row_moves > 1e-9) if i not in chosen]
    conflicts: list[str] = []
    lines = []
    for i in chosen:
        r = rows.iloc[int(i)]
        if hard[int(i)] or r["name"] in conflicts:
            continue
        conflicts.append(str(r["name"]))
        need = ""
        if row_moves[int(i)] > 1e-9:
            need = f"; a minimal relaxation moves it by CNY {row_moves[int(i)] * model.scale:,.0f} of gbv"
        lines.append(f"  - {r['name']} [{r['limit']}]{need}")
    if size_in_iis or col_moves[model.col_T] > 1e-9 or not lines:
        conflicts.append("pool.size")
        move = col_moves[model.col_T] * model.scale
        lines.append("  - pool size bounds [pool.size]" + (f"; a minimal relaxation moves the size by CNY {move:,.0f}" if move > 0.5 else ""))
    return Infeasible(
        "no pool meets all limits; these conflict:\n" + "\n".join(lines)
        + "\nRelax at least one of them; the minimal relaxation above is one way that suffices.",
        conflicts,
    )


def _solve_milp(problem: Problem, backend: Backend, options: Options, on_progress) -> tuple[Result, None]:
    return backend.solve(problem, options, on_progress=on_progress), None


def _solve_fixed(problem: Problem, lower: np.ndarray, upper: np.ndarray, backend: Backend, options: Options,
                 on_progress, drop_rows: np.ndarray | None = None) -> Result:
    """Solve ``problem`` with the columns whose bounds meet fixed, after removing them: their contribution moves
    into the row bounds and rows left without columns are checked and dropped. (Solver presolve does the same,
    but on a 20k-asset pool it spent 2.6 s of a 2.7 s repair doing it.)"""
    fixed = lower == upper
    reduced = problem.with_column_bounds(lower, upper).without_fixed(fixed, lower, drop_rows)
    if len(reduced.broken):
        return Result(Status.INFEASIBLE, message="fixed columns break a row")
    res = backend.solve(reduced.problem, options, on_progress=on_progress)
    if res.x is not None:
        res.x = reduced.expand(res.x)
    return res


def _top10_reduction(model: SelectionModel, problem: Problem, lower: np.ndarray, upper: np.ndarray,
                     take: np.ndarray, free: np.ndarray) -> np.ndarray | None:
    """Exact shrink of the top-10 rows for a repair with most assets fixed (modifies ``lower``/``upper``).

    With exposures bounded by L_g ≤ E_g ≤ U_g (fixed part; fixed plus free part), let L₁₀ be the 10th largest
    L_g. The optimal t is the 10th largest E_g ≥ L₁₀, so every group with U_g ≤ L₁₀ has u_g = 0 at an optimum:
    fix those u_g at 0, drop their helper rows u_g + t − E_g ≥ 0 and impose t ≥ max U_g over them instead —
    which the optimal t meets. Returns the mask of rows to drop.
    """
    if model.top10 is None:
        return None
    col_t, u_cols, codes = model.top10
    m = codes >= 0
    codes, g = codes[m], model.asset_gbv[m]
    sel_fixed = np.where(take, 1.0, 0.0)[model.unit_of_asset][m]
    sel_free = np.where(free, 1.0, 0.0)[model.unit_of_asset][m]
    L = np.bincount(codes, weights=g * sel_fixed, minlength=len(u_cols))
    U = L + np.bincount(codes, weights=g * sel_free, minlength=len(u_cols))
    if len(L) <= TOP_K:
        return None
    L10 = np.sort(L)[::-1][TOP_K - 1]
    small = U <= L10
    if not small.any():
        return None
    upper[u_cols[small]] = 0.0
    lower[u_cols[small]] = 0.0
    lower[col_t] = max(lower[col_t], float(U[small].max()))
    excess_rows = np.flatnonzero(problem.rows["family"].to_numpy() == "top10_excess")
    drop = np.zeros(problem.n_rows, dtype=bool)
    drop[excess_rows[small]] = True
    return drop


def solve_lp_round(
    problem: Problem, model: SelectionModel, backend: Backend, options: Options, on_progress,
    repair_time_limit: float | None = None, fallback_time_limit: float | None = None, lp: Result | None = None,
    widen_max_free: int | None = None, max_nodes: int | None = None, gap_widen_max_free: int | None = None,
) -> tuple[Result, Result | None]:
    """LP relaxation → fix the assets the LP takes whole or leaves out → repair MILP on the rest.

    The LP has at most (number of rows) fractional assets. They, plus the integral assets nearest to their
    threshold (smallest reduced cost), stay free in a repair MILP in which every other asset is fixed at its LP
    value; rounding fractional assets down can break a share cap by a hair (T shrinks), which the repair absorbs.
    While the repair is infeasible the free set is widened fourfold (up to every asset, i.e. the MILP itself).
    The LP optimum bounds the MILP optimum, so
    ``mip_gap`` = (LP bound − repaired value) / LP bound is certified. Each repair MILP is capped at
    ``repair_time_limit`` seconds; a capped repair with a pool is used as it is (status FEASIBLE, its gap
    certified all the same). When no repair finds a pool, the whole MILP gets the time that is left (at most
    ``fallback_time_limit``: the caller already has a pool to fall back on). ``widen_max_free``, when given, caps
    every widened free set (for the gap and for a pool) and returns no pool (status infeasible) instead of running
    the whole MILP when no repair found one. ``max_nodes`` limits each widened repair (default
    :data:`EXACT_MAX_NODES`); ``gap_widen_max_free`` caps the free sets widened for the gap alone (not those widened
    for a pool; :func:`_gap_widen_max_free`).
    """
    t0 = time.perf_counter()
    # ``lp``: this very relaxation, already solved (an infeasible one too: a third of a coalition game's coalitions
    # have no pool, and their LP was solved three times)
    if lp is None or (lp.status is not Status.INFEASIBLE and (lp.x is None or len(lp.x) != problem.n_cols)):
        lp = backend.solve(problem.relaxed(), options)
    if lp.status is not Status.OPTIMAL or lp.x is None:
        return lp, None
    n = model.n_units
    x_lp = lp.x[:n]
    tol = 1e-6
    frac = (x_lp > tol) & (x_lp < 1.0 - tol)
    if lp.col_duals is not None:
        rc = np.abs(lp.col_duals[:n])
    elif lp.row_duals is not None:
        rc = np.abs(problem.c[:n] - problem.A[:, :n].T @ lp.row_duals)
    else:
        rc = np.zeros(n)
    order = np.argsort(rc, kind="stable")
    # nearest to their threshold on both sides: assets the LP takes (the repair may drop them) and assets it leaves
    # (the repair may add them) — by |rc| alone one side can fill the free set, and a repair that may only add
    # cannot bring a tight share back under its cap
    order_in, order_out = order[x_lp[order] >= 0.5], order[x_lp[order] < 0.5]
    # A tight feasibility tolerance costs little on the small repair MILP and spares back-off rounds: with
    # money scaled to the pool size, HiGHS's default 1e-6 is ~CNY 16k on a CNY 16bn pool (see
    # REPAIR_FEASIBILITY_TOLERANCE for why not tighter).
    tight = Options(**{**options.__dict__, "mip_feasibility_tolerance": REPAIR_FEASIBILITY_TOLERANCE})
    deadline = time.perf_counter() + options.time_limit_s
    bound = lp.bound if lp.bound is not None else lp.objective  # the core method's certified bound
    best: Result | None = None
    n_free = first_free = max(200, 10 * int(frac.sum()), n // 500)
    repairs = widened = 0
    whole_cap: float | None = None  # the time limit of the last repair when it freed every unit (the MILP itself)
    while True:
        free = frac.copy()
        # half from each side; a side with fewer units leaves its share to the other (at n_free ≥ n every unit is
        # free: the MILP itself)
        n_in = min(len(order_in), max(n_free // 2, n_free - len(order_out)))
        free[order_in[:n_in]] = True
        free[order_out[: n_free - n_in]] = True
        lower = problem.col_lower.copy()
        upper = problem.col_upper.copy()
        take = ~free & (x_lp >= 0.5)
        lower[:n][take] = 1.0
        upper[:n][~free & (x_lp < 0.5)] = 0.0
        drop = _top10_reduction(model, problem, lower, upper, take, free)
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        cap = left if repair_time_limit is None else min(left, repair_time_limit)
        repair_opts = Options(**{**tight.__dict__, "time_limit_s": cap,
                                 # every repair wider than the first (for a pool or for the gap) is node-limited:
                                 # its pool is then the same at any load (the first is small)
                                 "mip_max_nodes": (max_nodes or EXACT_MAX_NODES) if n_free > first_free
                                 else tight.mip_max_nodes})
        repair = _solve_fixed(problem, lower, upper, backend, repair_opts, on_progress, drop)
        repairs += 1
        whole_cap = cap if free.all() else None
        if whole_cap is not None and repair.bound is not None and np.isfinite(repair.bound):
            # nothing fixed: this repair is the MILP itself (its top-10 reduction is exact), so its bound bounds
            # the problem — tighter than the LP's, and what lets a pool it proves be reported optimal
            bound = min(bound, float(repair.bound))
        if widened and repair.status is Status.TIME_LIMIT:
            break  # stopped by the clock: where depends on the machine; the narrower repair's pool stands
        if repair.x is not None:
            if best is None or repair.objective > best.objective:
                best = repair
            # the rounding, not the bound, may hold the gap above target: widen the free set while the repairs
            # stay cheap — each widened repair is node-limited (its pool is the same on any machine), and one
            # stopped by the time limit is dropped
            gap_now = max(bound - best.objective, 0.0) / max(abs(bound), 1e-12)
            if (gap_now > options.mip_rel_gap and n_free < n and widened < REPAIR_WIDENINGS
                    and 4 * n_free <= min(widen_max_free or REPAIR_WIDEN_MAX_FREE,
                                           math.inf if gap_widen_max_free is None else gap_widen_max_free)
                    and repair.status is not Status.TIME_LIMIT):
                n_free *= 4
                widened += 1
                continue
            break
        if widened:
            break  # a widened repair found nothing within its limits: the narrower repair's pool stands
        if repair.status is Status.TIME_LIMIT:
            break  # a wider repair would only be slower: the whole MILP below gets the time that is left
        # no pool with this many assets free: widen the free set fourfold, up to every asset (the MILP itself).
        if n_free >= n or (widen_max_free is not None and 4 * n_free > widen_max_free):
            break
        n_free *= 4
    if best is None and widen_max_free is not None:
        return Result(Status.INFEASIBLE, message=f"lp_round: no repair with up to {n_free} units free found a pool"), lp
    if best is None and whole_cap is not None and fallback_time_limit is not None and fallback_time_limit <= whole_cap:
        # the last repair left every asset free: it was the whole MILP, given as much time as the fallback would
        # be — not run again (a coalition alone whose MILP found no pool in its limit spent it twice)
        return repair, lp
    if best is None:
        left = max(deadline - time.perf_counter(), 1.0)
        if fallback_time_limit is not None:
            left = min(left, fallback_time_limit)
        return backend.solve(problem, Options(**{**options.__dict__, "time_limit_s": left}), on_progress=on_progress), lp
    repair = best
    gap = max(bound - repair.objective, 0.0) / max(abs(bound), 1e-12)
    status = Status.OPTIMAL if gap <= options.mip_rel_gap else Status.FEASIBLE
    if repair.status is Status.INTERRUPTED and gap > options.mip_rel_gap:
        status = repair.status
    result = Result(status=status, x=repair.x, objective=repair.objective, bound=bound, mip_gap=gap,
                    seconds=time.perf_counter() - t0, message=f"lp_round: {int(frac.sum())} fractional, {int(free.sum())} free",
                    info={**{k: v for k, v in lp.info.items() if k.startswith(("core", "sample", "session", "pricing"))},
                          "lp_seconds": round(lp.seconds, 3), "repair_seconds": round(repair.seconds, 3),
                          "n_fractional": int(frac.sum()), "n_free": int(free.sum()), "repairs": repairs,
                          "repair_status": repair.status.value})
    return result, lp


def _converge_hhi_lp(model: SelectionModel, builder: _Builder, objective: np.ndarray,
                     solve_lp: Callable[[Problem, float], Result], tol: float, deadline: float, on_progress,
                     max_rounds: int = 60) -> tuple[SelectionModel, int, Result | None]:
    """Add tangent cuts at the LP relaxation's exposures until the LP meets every HHI bound (to a tenth of the
    integer tolerance), the LP stops solving, its excess stalls (< 10% closer in five rounds), or a quarter of
    the time left is spent: a few seconds of LPs instead of integer rounds. ``solve_lp(problem, seconds)`` solves
    the LP relaxation of ``problem`` (the backend's, or the core method's)."""
    rounds = 0
    excess: list[float] = []
    stop = time.perf_counter() + 0.25 * max(deadline - time.perf_counter(), 0.0)
    last: Result | None = None  # the LP of the model as returned, when the loop ended on it
    while rounds < max_rounds and time.perf_counter() < stop:
        left = max(deadline - time.perf_counter(), 1.0)
        lp = solve_lp(model.problem, left)
        if lp.status is Status.INFEASIBLE:
            last = lp  # the model as returned has no pool: said once, not solved again by the caller
            break
        if lp.status is not Status.OPTIMAL or lp.x is None:
            break
        last = lp
        T = float(lp.x[model.col_T])
        if T <= 0:
            break
        added = False
        worst = 0.0
        for dim, cols in model.hhi_cols.items():
            S = np.maximum(lp.x[cols], 0.0)
            h = model.hhi[dim][2]
            hhi = float(np.sum((S / T) ** 2))
            worst = max(worst, hhi / h - 1.0)
            if hhi > h * (1.0 + tol):
                added |= builder.hhi_cut(dim, h, S, f"LP {rounds + 1}")
        excess.append(worst)
        if not added:
            break
        last = None
        rounds += 1
        model = dataclasses.replace(model, problem=builder.problem(objective))
        if on_progress is not None:
            on_progress({"objective": lp.objective, "gap": None, "message": f"HHI cuts on the LP relaxation: round {rounds}"})
        if len(excess) > 5 and excess[-1] > 0.9 * excess[-6]:
            break
    return model, rounds, last


#: HiGHS's MIP feasibility tolerance in lp_round's repairs (its default is 1e-6). At 1e-9, HiGHS 1.16 never returned
#: from a 1,500-binary repair of a 4-AMC coalition (synthetic consortium, 1,500 assets): its time limit (3.3 s) and
#: interrupt callbacks went unanswered for minutes after it found a pool at 0.4 s; at 1e-8 the same repair stops at
#: its limit. tests/test_lp_round.py keeps that repair.
REPAIR_FEASIBILITY_TOLERANCE = 1e-8

#: ``auto`` runs the whole MILP to the requested gap (warm-started from the lp_round pool) when the LP relaxation
#: took at most this many simplex iterations: branch and bound re-solves that LP at every node, so its measured
#: cost is the price of exactness (docs/formulation.md, "Choosing the strategy"). Iterations, not seconds: the
#: same on any machine at any load, so the same inputs give the same pool (a study run serially and in worker
#: processes once differed here). Demo slices of 500–20,000 assets took 36–48 iterations.
EXACT_LP_ITERATIONS = 50_000
#: branch-and-bound nodes the exact stage may use: a deterministic work limit (a run stopped by it ends at the same
#: pool on any machine, at any load); the time limit is only a safety net whose result is not used
EXACT_MAX_NODES = 2_000


#: the polish time limit the exact stage's work limits are set for (``solver.polish_time_limit_s``'s default)
REFERENCE_POLISH_S = 30.0


def _polish_share(polish_time_limit_s: float) -> float:
    """A polish limit as a share of :data:`REFERENCE_POLISH_S` (at most 1): what the exact stage's work limits are
    scaled by. Derived from the configured limit, not from measured speed: deterministic."""
    return min(1.0, polish_time_limit_s / REFERENCE_POLISH_S)


def exact_max_nodes(polish_time_limit_s: float) -> int:
    """The node limit of the exact stage and of widened repairs for a polish time limit: :data:`EXACT_MAX_NODES` at
    the default 30 s, scaled down with a shorter limit (at least 100) — a stage stopped by its clock is discarded,
    so its nodes must fit in its time."""
    return max(100, round(EXACT_MAX_NODES * _polish_share(polish_time_limit_s)))

#: lp_round widens the repair's free set fourfold, at most this many times, while its pool's gap is above target
#: and the wider set has at most :data:`REPAIR_WIDEN_MAX_FREE` assets: on the demo's frontier a 200-asset repair
#: left a gap of 1.5e-4 that an 800-asset one (0.3 s) closed to 4e-7, where the exact stage had run 30 s for
#: nothing. Both limits count work, not seconds, so the pool is the same on any machine at any load.
REPAIR_WIDENINGS = 2
REPAIR_WIDEN_MAX_FREE = 5_000
#: the exact stage runs only on models with at most this many integer columns: on larger ones HiGHS 1.16's root
#: processing runs on without checking its time limit — measured 27 s against a 3.3 s limit on a 15,600-binary
#: coalition of the demo (warm-started; interrupt callbacks not called), 53–58 s against 30 s on the 20,000-asset
#: demo with a province HHI bound (not warm-started) — and a stage stopped by the clock is discarded anyway
EXACT_MAX_INTEGERS = 5_000


def exact_max_integers(polish_time_limit_s: float) -> int:
    """The largest model (integer columns) the exact stage is tried on under a polish time limit:
    :data:`EXACT_MAX_INTEGERS` at the default 30 s, in proportion below (a coalition's 1⅔ s: 278). HiGHS's root
    processing does not stop at the limit and grows with the model: a stage stopped by its clock is discarded, so
    one that cannot pass its root in its time is not started."""
    return round(EXACT_MAX_INTEGERS * _polish_share(polish_time_limit_s))


class _Run:
    """The explicit state of one :func:`select_pool` run: the model as it grows (cuts, top-10 groups, back-offs),
    the pools found so far, the best bound valid for the scenario's own problem, and the counters reported."""

    def __init__(self, assets: pd.DataFrame, scenario: Scenario, backend: Backend | None,
                 on_progress: Callable[[dict], None] | None, hhi_tolerance: float, max_hhi_rounds: int,
                 diagnose: bool, hhi_seed: dict[str, list[dict[str, float]]] | None,
                 tail_scenarios: TailScenarios | None = None):
        t0 = time.perf_counter()
        self.assets = assets
        self.model, self.builder = build_model(assets, scenario, hhi_seed, tail_scenarios)
        self.build_seconds = time.perf_counter() - t0
        self.scenario = scenario
        self.solver = scenario.solver
        self.backend = backend or get_backend(scenario.solver.backend, scenario.solver.pyomo_solver)
        # interior point for the LP relaxations of large models: at 1M assets HiGHS's dual simplex took 157 s on
        # the relaxation, IPM with crossover 41 s; below ~100k assets the simplex is as fast or faster
        # and, below that size, no presolve on those LP relaxations (a few thousand limit rows over 0/1-bounded asset
        # columns, optimal in ~40 simplex iterations): it found nothing to remove and took ~40% of the solve — the
        # 20,000-asset demo's LP 0.28 → 0.16 s, the 8-AMC game's HHI LP phase 10.7 → 6.1 s over its 254 coalitions,
        # same optima. The MILPs keep HiGHS's presolve, and so do the core method's restricted LPs on large pools
        # (without it a 1M-asset pool took 21.6 s instead of 17.9 s)
        large = self.model.n_units >= scenario.solver.large_pool_units
        self.options = Options(mip_rel_gap=scenario.solver.mip_rel_gap, time_limit_s=scenario.solver.time_limit_s,
                               threads=scenario.solver.threads, lp_algorithm="ipm" if large else "auto",
                               lp_presolve=large)
        #: the core method for the LP relaxations (:mod:`pooling.selection.core`), when the strategy is ``core``
        self.core: CoreLP | None = None
        self.on_progress = on_progress
        self.hhi_tolerance = hhi_tolerance
        self.max_hhi_rounds = max_hhi_rounds
        self.diagnose = diagnose
        self.objective = objective_values(assets, scenario) / self.model.scale
        self.problem = self.model.problem
        self.margins = _Margins()
        self.deadline = time.perf_counter() + scenario.solver.time_limit_s
        self.strategy = "milp"  # what the solves use: milp, lp_round or core (set by choose_strategy)
        self.exact_stage = False  # auto: the whole MILP after lp_round when its gap is too wide and the MILP is cheap
        self.exact_timed_out = False  # that stage ran out of time: its pool and bound were not used
        self.exact_budget = scenario.solver.polish_time_limit_s  # seconds left for the exact stage, over all tries
        self.choice: dict = {}  # the measurements the strategy was chosen by
        self.solve_seconds = 0.0
        self.hhi_rounds = self.lp_rounds = self.tighten_rounds = self.exact_tries = self.top10_rounds = 0
        self.first_lp: Result | None = None  # the LP relaxation of the model as it stands, when already solved
        #: the best pool found so far that meets every limit, HHI included: (result, exact point, its LP)
        self.incumbent: tuple[Result, np.ndarray, Result | None] | None = None
        #: the last pool that met every linear limit (its HHI may still exceed the bound): the answer of last resort
        self.last: tuple[Result, np.ndarray, Result | None] | None = None
        self.excess: list[float] = []  # worst relative HHI excess of each integer round, to stop when it stalls
        self.rounds_started: float | None = None
        #: the least upper bound on the scenario's optimum seen so far (scaled): from solves without back-offs only
        #: (a backed-off problem is a restriction, its bound bounds nothing), so back-offs count in the gap
        self.bound = math.inf

    # ---------------------------------------------------------------------------------------------- helpers
    def progress(self, message: str, objective: float | None = None, gap: float | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress({"objective": objective, "gap": gap, "message": message})

    def opts(self, time_limit: float | None = None, **changes) -> Options:
        left = max(self.deadline - time.perf_counter(), 1.0)
        return Options(**{**self.options.__dict__, "time_limit_s": left if time_limit is None else min(left, time_limit),
                          **changes})

    def use_core(self, strategy: str) -> None:
        """``core``, or ``auto`` on a model of at least ``solver.large_pool_units`` units: every LP relaxation of
        this run by the core method (one :class:`~pooling.selection.core.CoreLP`, warm across re-solves)."""
        if strategy == "core" or (strategy == "auto" and self.model.n_units >= self.solver.large_pool_units):
            self.core = CoreLP(self.model.n_units, self.backend, self.options, self.solver.core_sample_units,
                               self.solver.core_min_units, on_progress=lambda msg: self.progress(msg),
                               weight=self.model.unit_gbv)

    def solve_lp(self, problem: Problem, time_limit: float | None = None) -> Result:
        """The LP relaxation of ``problem``: by the core method when this run uses it, else by the backend."""
        if self.core is not None:
            left = max(self.deadline - time.perf_counter(), 1.0)
            return self.core.solve(problem, deadline=time.perf_counter() + min(left, time_limit or left))
        return self.backend.solve(problem.relaxed(), self.opts(time_limit))

    def note_bound(self, result: Result) -> None:
        """Keep ``result``'s bound if it bounds the scenario's problem (solved with no back-off applied)."""
        if result.bound is not None and not self.margins.active and np.isfinite(result.bound):
            self.bound = min(self.bound, float(result.bound))

    def rebuild(self) -> None:
        """The problem again from the builder (after new cuts or top-10 groups), with the back-offs applied."""
        self.problem = self.margins.apply(self.builder.problem(self.objective), self.model)
        self.model = dataclasses.replace(self.model, problem=self.problem, top10=self.builder.top10)

    def add_cuts(self, violated: dict[str, np.ndarray]) -> None:
        self.hhi_rounds += 1
        for dim, S in violated.items():
            self.builder.hhi_cut(dim, self.model.hhi[dim][2], S, self.hhi_rounds)
        self.rebuild()
        self.progress(f"HHI cuts on the integer pool: round {self.hhi_rounds}")

    def units(self, x: np.ndarray) -> np.ndarray:
        return x[: self.model.n_units]


def _converge_cuts(run: _Run) -> None:
    """Step 1: converge the HHI tangent cuts on the LP relaxation (cheap; most integer rounds go away)."""
    if not run.model.hhi:
        return
    t = time.perf_counter()
    solve_lp = run.solve_lp
    if run.core is None and run.backend.capabilities.warm_start and run.options.lp_algorithm == "auto":
        # each round only appends cut rows: one LP session re-solves from the last basis (a few dual simplex
        # iterations) where a cold solve redid the whole LP — some 5-AMC coalitions of the 8-AMC benchmark take
        # 15–20 rounds (most, warm-started by the grand coalition's cuts, one)
        session = run.backend.lp_session(run.opts())

        def solve_lp(problem: Problem, time_limit: float | None = None) -> Result:
            n = problem.n_cols
            lp = session.solve(problem, np.ones(n, dtype=bool), np.zeros(n), run.opts(time_limit))
            # the strategy's measured cost (EXACT_LP_ITERATIONS) counts every iteration spent on this model's LPs
            lp.info["simplex_iterations"] = int(session.stats["iterations"])
            return lp

    run.model, run.lp_rounds, run.first_lp = _converge_hhi_lp(run.model, run.builder, run.objective, solve_lp,
                                                              run.hhi_tolerance, run.deadline, run.on_progress)
    run.problem = run.model.problem
    run.solve_seconds += time.perf_counter() - t


def _first_lp(run: _Run) -> tuple[Result, int]:
    """The model's LP relaxation (solved once, kept on ``run``) and its number of fractional units."""
    lp = run.first_lp
    if lp is None or (lp.x is None and lp.status is not Status.INFEASIBLE):  # an infeasible LP is not solved again
        lp = run.solve_lp(run.problem)
        run.solve_seconds += lp.seconds
        run.first_lp = lp
    x = run.units(lp.x) if lp.x is not None else np.zeros(0)
    return lp, int(((x > 1e-6) & (x < 1 - 1e-6)).sum())


def _choose_strategy(run: _Run, strategy: str) -> None:
    """Step 2: ``core`` when this run uses the core method (:meth:`_Run.use_core`: asked for, or ``auto`` on a
    large model) — its LP, no exact stage; ``milp`` and ``lp_round`` as asked; ``auto`` by measured cost. ``auto`` solves the LP relaxation
    (lp_round needs it anyway) and notes its time and fractional count; it rounds and repairs, and when the
    certified gap is above the requested one it runs the whole MILP to the requested gap — warm-started from the
    repaired pool, for at most ``solver.polish_time_limit_s`` — if the LP took at most
    :data:`EXACT_LP_ITERATIONS` simplex iterations (a cost measure that, unlike seconds, is the same at any load)
    and the model has at most :func:`exact_max_integers` integer columns for the polish limit (and is below
    ``solver.large_pool_units``)."""
    if run.core is not None:
        run.strategy = "core"
        lp, n_frac = _first_lp(run)
        run.choice = {"lp_seconds": round(lp.seconds, 4), "lp_fractional": n_frac, "exact_stage_allowed": False}
        return
    if strategy != "auto":
        run.strategy = strategy
        return
    run.strategy = "lp_round"
    lp, n_frac = _first_lp(run)
    iterations = lp.info.get("simplex_iterations")
    cheap = ((iterations is None or iterations <= EXACT_LP_ITERATIONS)
             and run.model.n_units < run.solver.large_pool_units
             and int(run.problem.integrality.sum()) <= exact_max_integers(run.solver.polish_time_limit_s))
    run.exact_stage = cheap
    # (the iteration count stays out of the summary: the pyomo backend does not report it, and the summary must not
    # depend on the backend)
    run.choice = {"lp_seconds": round(lp.seconds, 4), "lp_fractional": n_frac, "exact_stage_allowed": cheap}


def _gap_widen_max_free(run: _Run) -> int:
    """The widest free set of a repair widened for the gap alone: no more units than the polish limit lets HiGHS
    take through its root (:func:`exact_max_integers`), or than half the model (the other half fixed keeps it
    small), whichever is more. A repair that frees nearly every unit is the whole MILP: on a short limit its root
    overran the limit with nothing kept (3,200 of 3,606 units free, 3.3 s, a coalition of the 8-AMC benchmark,
    where the 800-unit repair took 0.1 s); on the default 30 s one it is what proved a 2,000-asset pool to 1e-6."""
    return max(exact_max_integers(run.solver.polish_time_limit_s), run.model.n_units // 2)


def _solve_once(run: _Run) -> tuple[Result, Result | None]:
    """One solve of the model as it stands with the chosen strategy."""
    if run.strategy == "core" and (run.first_lp is None or run.first_lp.x is None):
        run.first_lp = run.solve_lp(run.problem)  # the model changed (cuts, groups, back-offs): re-solve its LP
    if run.strategy in ("lp_round", "core"):
        have_pool = run.incumbent is not None or run.last is not None
        polish = run.solver.polish_time_limit_s
        fallback = polish if have_pool else None
        if run.exact_stage:  # a whole MILP run because no repair found a pool is the exact stage, on its budget
            fallback = max(min(fallback or math.inf, run.exact_budget), 1.0)
        result, lp = solve_lp_round(run.problem, run.model, run.backend, run.opts(), run.on_progress,
                                     repair_time_limit=polish, fallback_time_limit=fallback, lp=run.first_lp,
                                     max_nodes=exact_max_nodes(polish),
                                     gap_widen_max_free=_gap_widen_max_free(run))
        run.first_lp = None
        if run.exact_stage and "n_fractional" not in result.info:  # the whole MILP ran
            run.exact_budget -= result.seconds
    else:
        result, _ = _solve_milp(run.problem, run.backend, run.opts(), run.on_progress)
        lp, run.first_lp = run.first_lp, None  # the LP of this model, if the HHI phase solved it: no second solve
    run.solve_seconds += result.seconds
    run.note_bound(result)
    return result, lp


def _without_pool(run: _Run, result: Result) -> tuple[Result, np.ndarray, Result | None]:
    """A solve that returned no pool: fall back on a pool found before, or say why there is none."""
    if run.incumbent is not None:
        return run.incumbent  # a re-solve after new cuts found nothing: keep the pool that met them all
    if run.last is not None and result.status is not Status.INFEASIBLE:
        return run.last  # ran out of time refining the HHI: the last pool, reported as hhi_not_converged
    if result.status is Status.INFEASIBLE:
        if not run.diagnose:
            raise Infeasible("no pool meets all limits", [])
        raise _diagnose(run.problem, run.model, run.backend, run.options)
    if result.status in (Status.TIME_LIMIT, Status.INTERRUPTED):
        raise NoIncumbent(f"the solver stopped ({result.message}) before finding any feasible pool; "
                          "raise solver.time_limit_s or relax limits")
    raise NoIncumbent(f"the solver failed: {result.message}")


def _back_off(run: _Run, result: Result, x: np.ndarray) -> bool:
    """The solver's tolerances let a limit slip by a hair on the exact 0/1 pool: back it off (True: solve again)."""
    if run.tighten_rounds >= 3 or not run.margins.tighten(run.problem, run.model, x):
        return False
    run.tighten_rounds += 1
    run.rebuild()  # the back-offs are running totals: applied to the problem as built, never on top of earlier ones
    run.progress("backing off limits the solver tolerance let slip", result.objective)
    return True


def _extend_top10(run: _Run, x: np.ndarray) -> bool:
    """A group left out of the top-10 rows reached this pool's top 10: model it (True: solve again)."""
    missing = top10_missing(run.model, run.units(x), run.builder)
    if not len(missing) or run.top10_rounds >= 10:
        return False
    run.top10_rounds += 1
    run.builder.add_top10_groups(missing)
    run.rebuild()
    return True


def _refine_hhi(run: _Run, result: Result, x: np.ndarray, lp: Result | None,
                violated: dict[str, np.ndarray]) -> bool:
    """The pool breaks an HHI bound: add its tangent cuts (True: solve again) unless refining has stalled.

    Refining stops after twice the polish time limit, or after once that when the last five rounds came no more
    than 10% closer than the best before them (small models never stop early: their rounds take ms)."""
    run.last = (result, x, lp)
    run.excess.append(_hhi_excess(run.model, run.units(x)))
    if run.rounds_started is None:
        run.rounds_started = time.perf_counter()
    spent = time.perf_counter() - run.rounds_started
    limit = run.solver.polish_time_limit_s
    stalled = spent > 2 * limit or (spent > limit and len(run.excess) >= 10
                                    and min(run.excess[-5:]) > 0.9 * min(run.excess[:-5]))
    if run.hhi_rounds >= run.max_hhi_rounds or result.status not in (Status.OPTIMAL, Status.FEASIBLE) \
            or time.perf_counter() >= run.deadline or stalled:
        return False
    run.add_cuts(violated)
    return True


def _keep(run: _Run, result: Result, x: np.ndarray, lp: Result | None) -> None:
    """A pool that meets every limit: the incumbent if it is the best so far."""
    if run.incumbent is None or run.problem.c @ x >= run.problem.c @ run.incumbent[1]:
        run.incumbent = (result, x, lp)


def _gap(run: _Run, x: np.ndarray) -> float:
    """Relative gap of the pool ``x`` against the best valid bound: (bound − value) / |bound|, 0 when the bound
    is ~0 (an empty pool proven optimal)."""
    value = float(run.problem.c @ x)
    if not np.isfinite(run.bound):
        return math.inf
    if run.bound <= 1e-12:
        return 0.0 if value >= run.bound - 1e-12 else math.inf
    gap = max(run.bound - value, 0.0) / abs(run.bound)
    # the solver's bound and the exact pool's value summed in another order (the tail objective's η − Σu/k):
    # a relative difference at rounding level is no gap
    return 0.0 if gap <= 1e-12 else gap


def _exact_stage(run: _Run, result: Result, x: np.ndarray, lp: Result | None) -> bool:
    """``auto``: the lp_round gap is above target and the MILP is cheap — run the whole MILP to the requested gap,
    warm-started from this pool. True: the model changed (cuts, groups, back-offs) and must be solved again."""
    if not run.exact_stage or run.exact_tries >= 2 or _gap(run, x) <= run.options.mip_rel_gap:
        return False
    run.exact_tries += 1
    budget = min(run.deadline - time.perf_counter(), run.exact_budget)
    if budget < 1.0:
        return False
    run.progress(f"the whole MILP to the requested gap (up to {budget:.0f} s)", result.objective, result.mip_gap)
    # a start within ten times the requested gap lacks a bound, not a pool: the sub-MIP heuristics (RINS, RENS) would
    # spend the stage re-solving sub-MIPs at the root; further off they find the better pools (a 2,000-asset demo
    # slice at 1e-6 from 1.5e-4) and stay on — unless the node limit was cut to fit a short polish limit (a
    # coalition's): sub-MIPs are not counted as nodes, and on a lone local AMC of the 8-AMC benchmark (555 binaries,
    # 3.3 s) they took 2.8 of 5 s, so the stage overran its clock and was discarded; without them its 222 nodes
    # took 2.6 s and found a pool 1.7% better than the one kept
    nodes = exact_max_nodes(run.solver.polish_time_limit_s)
    sub_mips = _gap(run, x) > 10.0 * run.options.mip_rel_gap and nodes >= EXACT_MAX_NODES
    milp = run.backend.solve(run.problem, run.opts(budget, mip_max_nodes=nodes, mip_improvement_heuristics=sub_mips),
                             start=result.x,
                             on_progress=run.on_progress)
    run.solve_seconds += milp.seconds
    run.exact_budget -= milp.seconds
    finished = milp.status is Status.OPTIMAL or milp.info.get("work_limit", False)
    if not finished or milp.x is None:
        # stopped by its time limit: where it stopped depends on the machine and its load, so neither its pool nor
        # its bound is used — the lp_round pool and its certified gap stand, the same on every run
        run.exact_timed_out = True
        return False
    run.note_bound(milp)
    xm = exact_point(run.model, milp.x)
    broken = run.margins.tighten(run.problem, run.model, xm)
    hv = hhi_violations(run.model, run.units(xm), run.hhi_tolerance)
    tm = top10_missing(run.model, run.units(xm), run.builder)
    if not broken and not hv and not len(tm):
        milp.info["exact_stage"] = "node_limit" if milp.info.get("work_limit") else "done"
        _keep(run, milp, xm, lp)
        return False
    # the MILP's pool breaks a limit on the exact 0/1 pool (tolerance, or the HHI between its cuts): keep the
    # lp_round pool as the incumbent, tighten, and go round again
    if len(tm):
        run.builder.add_top10_groups(tm)
    if hv and run.hhi_rounds < run.max_hhi_rounds:
        run.add_cuts(hv)
        return True
    if broken or len(tm):
        run.rebuild()
        return True
    return False


def _solve_loop(run: _Run) -> tuple[Result, np.ndarray, Result | None]:
    """Step 3: solve, check the exact 0/1 pool against every limit, tighten the model, solve again."""
    while True:
        result, lp = _solve_once(run)
        if result.x is None:
            return _without_pool(run, result)
        x = exact_point(run.model, result.x)
        if _back_off(run, result, x) or _extend_top10(run, x):
            continue
        violated = hhi_violations(run.model, run.units(x), run.hhi_tolerance)
        if violated:
            if _refine_hhi(run, result, x, lp, violated):
                continue
            return result, x, lp
        _keep(run, result, x, lp)
        if not _exact_stage(run, result, x, lp):
            return run.incumbent


def _finish(run: _Run, result: Result, x: np.ndarray, lp: Result | None) -> Selection:
    """Step 4: the best pool, its gap against the best valid bound, status, shadow prices."""
    model, problem = run.model, run.problem
    if run.incumbent is not None and (hhi_violations(model, run.units(x), run.hhi_tolerance)
                                      or problem.c @ run.incumbent[1] > problem.c @ x):
        result, x, lp = run.incumbent
    if lp is not None and (lp.row_duals is None or len(lp.row_duals) != problem.n_rows):
        lp = None  # solved before later cuts: the shadow prices need the LP of the final model
    if lp is None and run.core is not None:
        lp = run.solve_lp(run.margins.apply(problem, model, sign=-1.0))
    limits = _shadow_prices(run.margins.apply(problem, model, sign=-1.0), model, run.backend, run.options, x, lp)
    selected = run.units(x)[model.unit_of_asset] > 0.5
    value = float(problem.c @ x)
    gap = _gap(run, x)
    if hhi_violations(model, run.units(x), run.hhi_tolerance):
        status = "hhi_not_converged"
    elif len(top10_missing(model, run.units(x), run.builder)):
        status = "top10_not_converged"
    elif gap <= run.options.mip_rel_gap:
        status = Status.OPTIMAL.value  # within the requested gap of a bound on the scenario's own optimum
    elif result.status in (Status.TIME_LIMIT, Status.INTERRUPTED):
        status = result.status.value
    else:
        status = Status.FEASIBLE.value
    info = {"tolerance_backoffs": run.tighten_rounds, "n_rows": problem.n_rows, "n_cols": problem.n_cols,
            "nnz": int(problem.A.nnz), "scale": model.scale, "lp_bound": limits.attrs.get("lp_bound"),
            "hhi_lp_rounds": run.lp_rounds,
            "top10_groups_modelled": len(model.top10[1]) if model.top10 is not None else 0,
            "top10_rounds": run.top10_rounds, **run.choice, **result.info}
    if run.exact_timed_out:
        info["exact_stage"] = "time_limit (not used)"
    if model.tail_scenarios is not None:
        # the objective value is the CVaR; the pool's plain npv and the scenario set beside it
        info["tail"] = tail_measures(run.assets, selected, model.tail_scenarios)
    return Selection(
        status=status,
        selected=selected,
        objective_value=value * model.scale,
        bound=run.bound * model.scale if np.isfinite(run.bound) else None,
        mip_gap=gap if np.isfinite(gap) else None,
        solve_seconds=run.solve_seconds,
        build_seconds=run.build_seconds,
        strategy=run.strategy,
        limits=limits,
        hhi_rounds=run.hhi_rounds,
        message=result.message,
        info=info,
        hhi_cuts={d: list(v) for d, v in run.builder.cut_log.items()},
        tail_scenarios=model.tail_scenarios,
    )


def select_pool(
    assets: pd.DataFrame,
    scenario: Scenario,
    backend: Backend | None = None,
    on_progress: Callable[[dict], None] | None = None,
    hhi_tolerance: float = 1e-4,
    max_hhi_rounds: int = 30,
    strategy: str | None = None,
    diagnose: bool = True,
    hhi_seed: dict[str, list[dict[str, float]]] | None = None,
    tail_scenarios: TailScenarios | None = None,
) -> Selection:
    """Choose the pool: build the MILP, converge the HHI cuts on its LP, choose the strategy, solve and tighten
    until the exact 0/1 pool meets every limit, price the limits.

    ``strategy`` (default: the scenario's ``solver.strategy``) is ``milp``, ``lp_round``, ``core`` (lp_round with
    every LP relaxation solved by the core method, :mod:`pooling.selection.core`) or ``auto`` (``core`` from
    ``solver.large_pool_units`` units, else chosen by measured cost, see :func:`_choose_strategy`); ``diagnose=False`` skips naming the conflicting limits of an
    infeasible scenario (coalition values); ``hhi_seed`` warm-starts the HHI cuts with directions found for a
    related model (``Selection.hhi_cuts``); ``tail_scenarios`` replaces the factor scenarios drawn from
    ``pool.tail`` for ``pool.objective: tail_npv`` (whose ``objective_value`` is then the pool's CVaR, with
    ``info["tail"]`` holding its plain npv, VaR and the scenario set). ``status`` is ``optimal`` only when the pool is within
    ``solver.mip_rel_gap`` of a bound on the scenario's own optimum (``mip_gap`` = (bound − value) / bound, with
    any back-off for exact feasibility counted in it). Raises :class:`~pooling.errors.Infeasible` (naming the
    conflicting limits) or :class:`~pooling.errors.NoIncumbent` (solver stopped without a feasible pool).
    """
    run = _Run(assets, scenario, backend, on_progress, hhi_tolerance, max_hhi_rounds, diagnose, hhi_seed,
               tail_scenarios)
    run.use_core(strategy or scenario.solver.strategy)
    _converge_cuts(run)
    _choose_strategy(run, strategy or scenario.solver.strategy)
    result, x, lp = _solve_loop(run)
    return _finish(run, result, x, lp)
