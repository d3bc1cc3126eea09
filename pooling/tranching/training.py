r"""Training deals of the factor model's calibration, and a synthetic pool builder for them (docs/tranching.md).

The public Chinese NPL ABS in reference/market-data.md ("Training deals (China)") give, per deal, the collateral,
the pool's P+I+F, the rating agency's expected recovery and the senior actually issued. Each is rebuilt as a
*typical single-originator pool* of that collateral: a valued asset frame whose expected recovery is the
agency's (mid-point), spread over provinces with the regional Herfindahl the agencies cite for such pools
(0.02–0.06 for national banks' retail books, higher for corporate and AMC books), with the deal's coupon and
legal life. :func:`fit_table` sizes each by Monte Carlo and reports senior / expected recovery against the
observed ratio. A first-lien mortgage pool (no training deal; agency recoveries 39–45%) is added as the market's
anchor for ordering: mortgage seniors size *above* card seniors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pooling.tranching.montecarlo import size_monte_carlo
from pooling.tranching.waterfall import Terms
from pooling.valuation.factors import DEFAULT_FACTORS, FactorParameters


@dataclass(frozen=True)
class TrainingDeal:
    """A public deal (CNY million) and the shape of its rebuilt pool."""

    name: str
    collateral: str  # label
    pool: float  # P+I+F
    recovery_rate: float  # agency expected recovery, share of P+I+F (mid-point of the published range)
    senior: float | None  # issued senior; None for the market anchor without a deal
    coupon: float
    legal_years: float
    asset_types: dict[str, float]  # asset_type → gbv share
    collateral_types: dict[str, float]  # collateral_type → gbv share
    industries: dict[str, float]
    n_provinces: int
    province_skew: float  # Zipf exponent of province shares (0: equal)
    n_obligors: int
    size_sigma: float  # lognormal sigma of obligor sizes
    speed: float  # collection curve speed k per month
    lag: float  # months before the first collection
    in_fit: bool = True
    note: str = ""

    @property
    def expected_recovery(self) -> float:
        return self.pool * self.recovery_rate

    @property
    def observed_ratio(self) -> float | None:
        return None if self.senior is None else self.senior / self.expected_recovery


_CORP_INDUSTRIES = {"C": 0.35, "F": 0.15, "G": 0.2, "K": 0.1, "L": 0.2}

#: The training deals (reference/market-data.md) and the mortgage anchor.
TRAINING_DEALS: tuple[TrainingDeal, ...] = (
    TrainingDeal("16和萃1", "credit card", 2097.7, 0.11485, 188.0, 0.030, 4.0, {"credit_card": 1.0},
                 {"unsecured": 1.0}, {"T": 1.0}, 28, 1.0, 20_000, 0.6, 0.06, 1.0, in_fit=False,
                 note="87% of the senior was collected before closing: not a forward-looking sizing"),
    TrainingDeal("16建鑫3", "credit card", 2810.5, 0.2365, 364.0, 0.044, 3.8, {"credit_card": 1.0},
                 {"unsecured": 1.0}, {"T": 1.0}, 28, 1.0, 20_000, 0.6, 0.06, 1.0),
    TrainingDeal("工元2016-1", "corporate, 73% secured", 4521.0, 0.2955, 664.0, 0.035, 5.0,
                 {"corporate": 0.7, "sme": 0.3},
                 {"residential": 0.15, "commercial": 0.25, "industrial": 0.23, "land": 0.10, "guarantee_only": 0.17,
                  "unsecured": 0.10}, _CORP_INDUSTRIES, 16, 1.0, 400, 1.2, 0.035, 6.0,
                 note="coupon and legal life not published: 3.5% and 5 years assumed"),
    TrainingDeal("20东元1", "AMC-held NPL claims", 2840.1, 0.4445, 630.0, 0.0475, 2.6, {"corporate": 0.6, "sme": 0.4},
                 {"residential": 0.15, "commercial": 0.30, "industrial": 0.20, "land": 0.10, "guarantee_only": 0.15,
                  "unsecured": 0.10}, _CORP_INDUSTRIES, 10, 1.0, 250, 1.2, 0.07, 2.0),
    TrainingDeal("mortgage anchor", "residential mortgage", 3000.0, 0.42, None, 0.024, 5.0, {"retail_mortgage": 1.0},
                 {"residential": 1.0}, {"T": 1.0}, 25, 1.0, 15_000, 0.5, 0.03, 4.0, in_fit=False,
                 note="no training deal: the market's ordering (mortgage above card) as an anchor"),
)


def training_pool(deal: TrainingDeal, *, seed: int = 0, scale: float = 1.0e6) -> pd.DataFrame:
    """A valued pool shaped like ``deal``: curve columns, expected_recovery scaled to the agency's (CNY).

    Obligors (one asset each, their own group) have lognormal sizes; provinces get Zipf shares
    :math:`\\propto r^{-\\text{skew}}` over ``n_provinces``; asset, collateral and industry types are drawn with the
    deal's shares. Every asset collects on the exponential curve (k, lag) of the deal, with the same recovery
    rate, so the pool's expected recovery is the agency's.
    """
    rng = np.random.default_rng(seed)
    n = deal.n_obligors
    size = rng.lognormal(0.0, deal.size_sigma, n)
    gbv = size / size.sum() * deal.pool * scale
    ranks = np.arange(1, deal.n_provinces + 1)
    pshare = ranks ** -deal.province_skew
    provinces = np.array([f"P{r:02d}" for r in ranks])[rng.choice(deal.n_provinces, n, p=pshare / pshare.sum())]

    def draw(table: dict[str, float]) -> np.ndarray:
        keys = list(table)
        w = np.array([table[k] for k in keys], dtype=float)
        return np.array(keys)[rng.choice(len(keys), n, p=w / w.sum())]

    horizon = 120
    collected = 1.0 - np.exp(-deal.speed * (horizon - deal.lag))
    rinf = gbv * deal.recovery_rate / collected
    return pd.DataFrame({
        "obligor_id": [f"O{i}" for i in range(n)], "group_id": [f"G:O{i}" for i in range(n)],
        "gbv": gbv, "asset_type": draw(deal.asset_types), "collateral_type": draw(deal.collateral_types),
        "industry": draw(deal.industries), "province": provinces,
        "expected_recovery": gbv * deal.recovery_rate, "curve_rinf": rinf, "curve_k": deal.speed,
        "curve_lag": deal.lag, "curve_shape": 1.0, "amc_id": "X",
    })


def deal_terms(deal: TrainingDeal, pool: pd.DataFrame) -> Terms:
    """Default China terms (semi-annual) with the deal's coupon and legal life."""
    return Terms(period_months=6, legal_periods=max(1, round(deal.legal_years * 2)), senior_coupon=deal.coupon,
                 expenses_base=float(pool["expected_recovery"].sum()))


def fit_table(params: FactorParameters = DEFAULT_FACTORS, *, n_scenarios: int = 10_000, seed: int = 11,
              rating: str = "AAA") -> pd.DataFrame:
    """Monte Carlo senior / expected recovery of every training pool against the observed ratio (residual =
    model − observed; ``in_fit`` says whether the deal counts in the fit)."""
    rows = []
    for deal in TRAINING_DEALS:
        pool = training_pool(deal)
        terms = deal_terms(deal, pool)
        sized = size_monte_carlo(pool, terms, senior_rating=rating, unit=1.0e5, n_scenarios=n_scenarios, seed=seed,
                                 horizon_months=120, discount_rate=0.06, params=params)
        ratio = sized.senior / float(pool["expected_recovery"].sum())
        obs = deal.observed_ratio
        rows.append({"deal": deal.name, "collateral": deal.collateral, "observed": obs, "model": ratio,
                     "residual": None if obs is None else ratio - obs, "in_fit": deal.in_fit})
    return pd.DataFrame(rows)
