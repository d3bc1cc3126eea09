r"""National–local collaboration modes, priced side by side (DESIGN §7; the origin's second option).

For a national AMC :math:`N` and a local AMC :math:`L`, the local's assets :math:`A_L` can change hands in two ways
besides pooling. Each is priced against both parties' outside options, and the range of prices (fees) that leaves
*both* better off than going alone is reported — an empty range says the mode creates no value for that pair.

Value of a set of assets to a holder :math:`X` (funding cost :math:`r_X` a year, work-out cost :math:`c_X` as a
share of collections, recovery uplift :math:`u` when someone else works them out):

.. math::

    V_X = (1 - c_X)\sum_{i \in A_L} R_i\,(1 + r_X)^{-m_i/12}

with :math:`R_i` = expected_recovery and :math:`m_i` = expected_months of the valued assets (the same valuation
every run uses).

**Acquisition** (收购): :math:`N` buys :math:`A_L` at price :math:`P`. The local gains :math:`P - V_L` (it gives up
holding and working them out itself at its own funding and work-out cost), the national gains :math:`V_N - P`.
Both gain iff :math:`V_L \le P \le V_N`; the range is non-empty when the national funds and works out more
cheaply (the seed's point: local AMCs pay more for funding). The mid price splits the gain equally.

In collaboration.csv, ``local_outside_value`` is :math:`V_L` for both modes and ``national_value`` is the
national's side of the bracket: :math:`V_N` for an acquisition, 0 (not doing the work) for entrusted disposal.

**Entrusted disposal** (委托处置): :math:`L` keeps :math:`A_L` (and its funding), :math:`N` works them out for a fee
:math:`f` on the collections, bringing an uplift :math:`u` on recoveries. The local gains
:math:`V_L^{f} - V_L` with :math:`V_L^{f} = (1+u)(1-f)\sum R_i (1+r_L)^{-m_i/12}`; the national gains the fee less
its work-out cost, :math:`(f - c_N)(1+u)\sum R_i (1+r_L)^{-m_i/12}` (discounted alike: the fee is paid as the
local collects). Both gain iff

.. math::

    c_N \;\le\; f \;\le\; 1 - \frac{1 - c_L}{1 + u}.

Parameters are the scenario's (``amcs[].funding_cost``; ``consortium.collaboration``: work-out costs and the
entrusted uplift), with documented defaults when absent — see :data:`DEFAULT_FUNDING_COST` and
:class:`CollaborationTerms`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pooling.errors import InputError
from pooling.scenario import DEFAULT_FUNDING_COST

__all__ = ["COLLABORATION_COLUMNS", "CollaborationTerms", "collaboration_table", "price_modes"]

#: collaboration.csv's columns, in order
COLLABORATION_COLUMNS = [
    "national", "local", "mode", "n_assets", "gbv", "expected_recovery", "local_outside_value",
    "national_value", "price_min", "price_max", "price_mid", "fee_min", "fee_max", "fee_mid",
    "local_gain_at_mid", "national_gain_at_mid", "feasible",
]


@dataclass(frozen=True)
class CollaborationTerms:
    """Work-out costs and the entrusted uplift (shares of collections). Defaults are assumptions: a national
    AMC's disposal platform works out at 6% of collections, a local AMC alone at 10% (bank tenders 5–24%, work-out
    success fees 5–15%), and the national adds no recovery uplift by default (a local AMC knows its home courts)."""

    national_cost: float = 0.06
    local_cost: float = 0.10
    entrusted_uplift: float = 0.0

    def __post_init__(self) -> None:
        for name in ("national_cost", "local_cost"):
            value = getattr(self, name)
            if not (0.0 <= value < 1.0):
                raise InputError(f"collaboration {name} must be in [0, 1), got {value}")
        if not (-1.0 < self.entrusted_uplift <= 1.0):
            raise InputError(f"collaboration entrusted_uplift must be in (-1, 1], got {self.entrusted_uplift}")


def _discounted(recovery: np.ndarray, months: np.ndarray, rate: float) -> float:
    return float(np.sum(recovery * np.exp(-months * math.log1p(rate) / 12.0)))


def price_modes(recovery: np.ndarray, months: np.ndarray, *, national_rate: float, local_rate: float,
                terms: CollaborationTerms = CollaborationTerms()) -> list[dict]:
    """Both modes for one set of assets: the price range of an acquisition and the fee range of entrusted disposal
    that leave both parties at least as well off as alone (see the module docstring); mid points split the gain."""
    recovery = np.asarray(recovery, dtype=float)
    months = np.asarray(months, dtype=float)
    at_local = _discounted(recovery, months, local_rate)
    at_national = _discounted(recovery, months, national_rate)
    v_local = (1.0 - terms.local_cost) * at_local
    v_national = (1.0 - terms.national_cost) * at_national
    lo, hi = v_local, v_national
    mid = 0.5 * (lo + hi)
    acquisition = {"mode": "acquisition", "local_outside_value": v_local, "national_value": v_national,
                   "price_min": lo, "price_max": hi, "price_mid": mid if lo <= hi else math.nan,
                   "fee_min": math.nan, "fee_max": math.nan, "fee_mid": math.nan,
                   "local_gain_at_mid": mid - v_local if lo <= hi else math.nan,
                   "national_gain_at_mid": v_national - mid if lo <= hi else math.nan, "feasible": lo <= hi}

    u = terms.entrusted_uplift
    f_lo, f_hi = terms.national_cost, 1.0 - (1.0 - terms.local_cost) / (1.0 + u)
    f_mid = 0.5 * (f_lo + f_hi)
    gross = (1.0 + u) * at_local  # the collections the national brings in, discounted as the local collects them
    ok = f_lo <= f_hi
    entrusted = {"mode": "entrusted_disposal", "local_outside_value": v_local,
                 "national_value": 0.0,  # its outside option: not doing the work
                 "price_min": math.nan, "price_max": math.nan, "price_mid": math.nan,
                 "fee_min": f_lo, "fee_max": f_hi, "fee_mid": f_mid if ok else math.nan,
                 "local_gain_at_mid": (1.0 - f_mid) * gross - v_local if ok else math.nan,
                 "national_gain_at_mid": (f_mid - terms.national_cost) * gross if ok else math.nan, "feasible": ok}
    return [acquisition, entrusted]


def collaboration_table(assets: pd.DataFrame, amcs: list, terms: CollaborationTerms = CollaborationTerms()
                        ) -> pd.DataFrame:
    """collaboration.csv: every (national, local) pair of the scenario's AMCs × both modes, on the local AMC's
    contributed assets as valued (``expected_recovery``, ``expected_months``). ``amcs`` are the scenario's AMC
    entries (``id``, ``kind``, optional ``funding_cost``)."""
    def rate(a) -> float:
        r = getattr(a, "funding_cost", None)  # the scenario's AMC entries: amcs[].funding_cost or the kind's default
        return DEFAULT_FUNDING_COST[a.kind] if r is None else float(r)

    nationals = [a for a in amcs if a.kind == "national"]
    locals_ = [a for a in amcs if a.kind == "local"]
    rows = []
    by_amc = {k: g for k, g in assets.groupby("amc_id", sort=False)}
    for loc in locals_:
        own = by_amc.get(loc.id)
        if own is None or own.empty:
            continue
        R = own["expected_recovery"].to_numpy(float)
        m = own["expected_months"].to_numpy(float)
        for nat in nationals:
            for mode in price_modes(R, m, national_rate=rate(nat), local_rate=rate(loc), terms=terms):
                rows.append({"national": nat.id, "local": loc.id, "n_assets": len(own),
                             "gbv": float(own["gbv"].sum()), "expected_recovery": float(R.sum()), **mode})
    return pd.DataFrame(rows, columns=COLLABORATION_COLUMNS)
