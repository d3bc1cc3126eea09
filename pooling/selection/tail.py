r"""The tail objective of pool selection: maximise the pool's CVaR over factor scenarios (docs/formulation.md).

``pool.objective: tail_npv`` with ``pool.tail: {alpha, scenarios, seed}``. A *segment* is a province and a collateral
type (``province|collateral_type``); in scenario *s* the npv of every asset of segment *g* is multiplied by the
systematic multiplier :math:`m_{s,g}` (:func:`pooling.valuation.factors.segment_npv_multipliers`, mean ≈ 1 over the
scenarios). With :math:`N_g(x) = \sum_{i\in g} v_i x_i` the pool's npv in segment *g*, the pool's npv in scenario
*s* is :math:`L_s(x) = \sum_g m_{s,g} N_g(x)`, and with :math:`k = (1-\alpha) S`

.. math::

    \mathrm{CVaR}_\alpha(x) = \frac1k\Big(\sum_{j \le \lfloor k\rfloor} L_{(j)} + (k - \lfloor k\rfloor)\,
    L_{(\lfloor k\rfloor + 1)}\Big)

the mean of the worst (1 − α) share of the scenario npvs :math:`L_{(1)} \le L_{(2)} \le \dots` (the next one
counted by its fraction when *k* is not whole). Rockafellar–Uryasev make it linear:

.. math::

    \mathrm{CVaR}_\alpha(x) = \max_{\eta,\,u}\; \eta - \frac1k \sum_s u_s \quad\text{s.t.}\quad
    u_s \ge \eta - L_s(x),\; u_s \ge 0,

so the MILP gains one continuous column :math:`N_g` per segment (row ``tail_segment``:
:math:`\sum_{i\in g} v_i x_i - N_g = 0`), one free column :math:`\eta` (the value at risk at the optimum) and one
:math:`u_s \ge 0` per scenario (row ``tail_scenario``: :math:`u_s - \eta + \sum_g m_{s,g} N_g \ge 0`, G + 2
non-zeros whatever the number of assets), and the objective :math:`\eta - \frac1k\sum_s u_s`. Every limit is
unchanged. Maximising a concave piecewise-linear function of the segment totals over the same 0/1 pools, the
MILP's optimum is the best pool's CVaR exactly (:func:`cvar` recomputes it from any pool).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pooling.errors import InputError
from pooling.valuation import factors

#: row families of the tail objective (helper rows: they define columns, never bind, are never relaxed)
TAIL_FAMILIES = ("tail_segment", "tail_scenario")
#: the columns of tail_scenarios.csv (long format: one row per scenario and segment)
TAIL_COLUMNS = ["scenario", "segment", "multiplier"]


@dataclass(frozen=True)
class TailScenarios:
    """The factor scenarios of a tail objective: one multiplier of segment npv per scenario and segment.

    ``segments``: (G,) ``province|collateral_type`` strings; ``multipliers``: (S, G); ``alpha``: the CVaR level.
    """

    segments: np.ndarray
    multipliers: np.ndarray
    alpha: float
    seed: int | None = None

    def __post_init__(self) -> None:
        m = np.asarray(self.multipliers, dtype=float)
        if m.ndim != 2 or m.shape[1] != len(self.segments) or m.shape[0] < 1:
            raise ValueError(f"multipliers have shape {m.shape}; expected (scenarios ≥ 1, {len(self.segments)} segments)")
        if not np.isfinite(m).all():
            raise ValueError("tail multipliers must be finite")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must lie in (0, 1), not {self.alpha}")

    @property
    def n_scenarios(self) -> int:
        return int(np.shape(self.multipliers)[0])

    @property
    def k(self) -> float:
        """:math:`k = (1 - \\alpha) S`, the number of worst scenarios averaged (see :func:`tail_count`)."""
        return tail_count(self.alpha, self.n_scenarios)

    def frame(self) -> pd.DataFrame:
        """tail_scenarios.csv: ``scenario`` (0 … S − 1), ``segment``, ``multiplier``; scenario-major, segments in
        their sorted order."""
        S, G = np.shape(self.multipliers)
        return pd.DataFrame({
            "scenario": np.repeat(np.arange(S, dtype=np.int64), G),
            "segment": np.tile(np.asarray(self.segments, dtype=object), S),
            "multiplier": np.asarray(self.multipliers, dtype=float).reshape(-1),
        })

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, alpha: float) -> TailScenarios:
        """Read tail_scenarios.csv back (any row order)."""
        wide = frame.pivot(index="scenario", columns="segment", values="multiplier").sort_index()
        if wide.isna().any().any():
            raise InputError("tail_scenarios.csv: every scenario needs a multiplier for every segment")
        return cls(np.asarray(wide.columns, dtype=object), wide.to_numpy(dtype=float), alpha)


def tail_count(alpha: float, n_scenarios: int) -> float:
    """:math:`k = (1-\\alpha) S`, rounded to 1e-9 so that 0.95 of 1,000 scenarios is 50 worst, not 50.000000000000044."""
    return max(round((1.0 - alpha) * n_scenarios, 9), 1e-9)


def cvar(values: np.ndarray, alpha: float) -> np.ndarray | float:
    """CVaR at ``alpha`` of scenario values along the last axis: the mean of the worst :math:`k = (1-\\alpha)S`
    values, the :math:`\\lceil k\\rceil`-th counted by its fraction :math:`k - \\lfloor k\\rfloor` when *k* is not
    whole (the Rockafellar–Uryasev value for equally likely scenarios).

    >>> float(cvar(np.array([5.0, 1.0, 3.0, 2.0]), 0.5))   # worst half: (1 + 2) / 2
    1.5
    """
    v = np.sort(np.asarray(values, dtype=float), axis=-1)
    k = tail_count(alpha, v.shape[-1])
    w = np.clip(k - np.arange(v.shape[-1]), 0.0, 1.0)
    out = (v * w).sum(axis=-1) / k
    return float(out) if np.ndim(out) == 0 else out


def asset_segments(assets: pd.DataFrame) -> np.ndarray:
    """``province|collateral_type`` of each asset (:func:`pooling.valuation.factors.segment_key`)."""
    return np.asarray(factors.segment_key(assets), dtype=object)


def segment_codes(assets: pd.DataFrame, segments: np.ndarray) -> np.ndarray:
    """Index into ``segments`` of each asset's segment; an asset whose segment has no multipliers is an error."""
    keys = asset_segments(assets)
    codes = pd.Index(np.asarray(segments, dtype=object)).get_indexer(keys)
    if (codes < 0).any():
        missing = sorted(set(keys[codes < 0].tolist()))
        raise InputError(f"tail scenarios have no multipliers for segment(s) {missing[:5]}")
    return codes.astype(np.int64)


def scenario_npv(assets: pd.DataFrame, selected: np.ndarray, scenarios: TailScenarios) -> np.ndarray:
    """The pool's npv in each scenario, :math:`L_s = \\sum_g m_{s,g} N_g` (CNY, shape (S,))."""
    codes = segment_codes(assets, scenarios.segments)
    npv = assets["npv"].to_numpy(dtype=float) * np.asarray(selected, dtype=float)
    totals = np.bincount(codes, weights=npv, minlength=len(scenarios.segments))
    return np.asarray(scenarios.multipliers, dtype=float) @ totals


def pool_cvar(assets: pd.DataFrame, selected: np.ndarray, scenarios: TailScenarios) -> float:
    """CVaR at ``scenarios.alpha`` of the pool ``selected`` (bool or 0/1 per asset), CNY."""
    return float(cvar(scenario_npv(assets, selected, scenarios), scenarios.alpha))


def tail_measures(assets: pd.DataFrame, selected: np.ndarray, scenarios: TailScenarios) -> dict:
    """What summary.json says of a pool under the tail objective: CVaR, VaR (the ⌈k⌉-th worst scenario npv),
    the plain npv, the mean scenario npv and the scenario set (alpha, scenarios, seed, segments)."""
    L = scenario_npv(assets, selected, scenarios)
    k = scenarios.k
    sorted_L = np.sort(L)
    return {
        "alpha": scenarios.alpha, "scenarios": scenarios.n_scenarios, "seed": scenarios.seed,
        "segments": len(scenarios.segments), "worst_scenarios_averaged": k,
        "cvar": float(cvar(L, scenarios.alpha)), "var": float(sorted_L[min(math.ceil(k), len(L)) - 1]),
        "npv": float(assets["npv"].to_numpy(dtype=float) @ np.asarray(selected, dtype=float)),
        "mean_scenario_npv": float(L.mean()),
    }


def draw_tail_scenarios(assets: pd.DataFrame, alpha: float, n_scenarios: int, seed: int) -> TailScenarios:
    """The factor scenarios for a candidate set: :func:`~pooling.valuation.factors.draws_for` (each factor column
    from its own seeded stream, so a segment's factors do not depend on which other assets are offered), then the
    (S, G) segment npv multipliers of :func:`~pooling.valuation.factors.segment_npv_multipliers` for the segments
    of ``assets`` (their volatility is the gbv-weighted asset-class volatility of the assets offered in them).
    Deterministic for a seed."""
    draws = factors.draws_for(assets, n_scenarios, seed)
    segments, multipliers = factors.segment_npv_multipliers(assets, draws)
    order = np.argsort(np.asarray(segments).astype(str), kind="stable")
    return TailScenarios(np.asarray(segments, dtype=object)[order], np.asarray(multipliers, dtype=float)[:, order],
                         alpha, seed)


@dataclass(frozen=True)
class TailColumns:
    """Where the tail objective sits in the canonical problem, and what recomputes its columns from a 0/1 pool."""

    segment_cols: np.ndarray  # (G,) columns N_g
    eta_col: int
    u_cols: np.ndarray  # (S,) columns u_s
    asset_segment: np.ndarray  # segment index per asset
    asset_value: np.ndarray  # scaled npv per asset
    multipliers: np.ndarray  # (S, G)
    k: float

    def fill(self, out: np.ndarray, sel: np.ndarray) -> None:
        """Set N, η, u in ``out`` to the values that make the tail rows tightest-feasible for the 0/1 pool ``sel``
        (per asset): N_g the segment totals, η the ⌈k⌉-th worst scenario npv, u_s = max(η − L_s, 0). Then the
        objective η − Σu/k is the pool's CVaR exactly."""
        G = len(self.segment_cols)
        N = np.bincount(self.asset_segment, weights=self.asset_value * sel, minlength=G)
        L = self.multipliers @ N
        eta = float(np.sort(L)[min(math.ceil(self.k), len(L)) - 1])
        out[self.segment_cols] = N
        out[self.eta_col] = eta
        out[self.u_cols] = np.maximum(eta - L, 0.0)


def define_tail(builder, assets: pd.DataFrame, scenarios: TailScenarios) -> TailColumns:
    """Add the tail objective to a model builder (:class:`pooling.selection.model._Builder`): the columns
    N_g, η, u_s with their objective coefficients, and the ``tail_segment`` and ``tail_scenario`` rows."""
    scale = builder.scale
    v = assets["npv"].to_numpy(dtype=float) / scale
    codes = segment_codes(assets, scenarios.segments)
    M = np.asarray(scenarios.multipliers, dtype=float)
    S, G = M.shape
    k = scenarios.k
    # N_g: bounded by the segment's negative and positive npv (tighter columns for presolve)
    neg = np.bincount(codes, weights=np.minimum(v, 0.0), minlength=G)
    pos = np.bincount(codes, weights=np.maximum(v, 0.0), minlength=G)
    first = builder.n_cols
    N_cols = np.arange(first, first + G, dtype=np.int64)
    for g in range(G):  # G is at most provinces × collateral types (a few hundred)
        builder.add_extra_column(float(neg[g]), float(pos[g]))
    # η lies between the least and the largest scenario npv any pool can have
    lo = float(np.min(np.minimum(M, 0.0) @ pos + np.maximum(M, 0.0) @ neg))
    hi = float(np.max(np.maximum(M, 0.0) @ pos + np.minimum(M, 0.0) @ neg))
    eta = builder.add_extra_column(lo, hi, cost=1.0)
    u_cols = builder.add_extra_columns(S, 0.0, float("inf"), cost=-1.0 / k)
    segs = np.asarray(scenarios.segments, dtype=object).astype(str)
    meta = pd.DataFrame({"family": "tail_segment", "key": segs, "name": [f"tail: npv of segment {s} (defines N_g)" for s in segs],
                         "limit": "pool.objective", "value": np.nan, "step": np.nan})
    builder.add_asset_rows(codes, v, G, np.zeros(G), np.zeros(G), meta, extra=[(np.arange(G), N_cols, -np.ones(G))])
    meta = pd.DataFrame({"family": "tail_scenario", "key": np.arange(S).astype(str),
                         "name": "tail: u_s ≥ η − scenario npv", "limit": "pool.objective",
                         "value": scenarios.alpha, "step": np.nan})
    r = np.arange(S, dtype=np.int64)
    builder.add_asset_rows(
        np.full(len(assets), -1, dtype=np.int64), v, S, np.zeros(S), np.full(S, np.inf), meta,
        extra=[(np.repeat(r, G), np.tile(N_cols, S), M.reshape(-1)), (r, u_cols, np.ones(S)), (r, np.full(S, eta), -np.ones(S))],
    )
    return TailColumns(N_cols, eta, u_cols, codes, v, M, k)
