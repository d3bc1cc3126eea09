"""A synthetic shelf (``scenarios/shelf/``): a national AMC buying four batches over a year plus one provincial
partner's batch, a CNY 10bn shelf and four pricing windows (DESIGN §11). Seeded: the same seed writes
byte-identical files.

The tapes come from :func:`pooling.tapes.synth.synth_tapes` (the consortium generator); the national AMC's tape is
cut into four batches at random (seeded), and every amount is multiplied by ``scale`` so that the batches fill a
shelf of the size of 长城长征 (CNY 10bn of notes; the generator's tapes are sized for one consortium deal).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pooling.tapes.synth import AMCSpec, synth_tapes, write_file

#: the amount columns scaled together (shares, rates and months are unchanged)
AMOUNTS = ("gbv", "principal", "collateral_value", "book_value", "expected_recovery")

#: the national AMC's four batches (dates) and the provincial partner's one
NATIONAL_BATCHES = (("NAT-B1", dt.date(2026, 7, 15)), ("NAT-B2", dt.date(2026, 10, 15)),
                    ("NAT-B3", dt.date(2027, 1, 15)), ("NAT-B4", dt.date(2027, 4, 15)))
PARTNER_BATCH = ("ZJ-B1", dt.date(2026, 11, 30))

#: pricing windows: the senior coupons of AMC NPL ABS seniors in 2025–26 (1.64–2.15%, reference/market-data.md),
#: falling over the shelf's year as they did
WINDOWS = ((dt.date(2026, 9, 30), 0.0215), (dt.date(2026, 12, 31), 0.0198),
           (dt.date(2027, 3, 31), 0.0180), (dt.date(2027, 6, 30), 0.0164))


def shelf_specs() -> list[AMCSpec]:
    """The national AMC (80% of the assets) and its provincial partner (Zhejiang, 20%)."""
    return [AMCSpec("NAT", "National AMC 全国资产管理公司", "national", None, 0.8, "csv", tape_values=True),
            AMCSpec("ZJ", "浙江省资产管理公司", "local", "CN-ZJ", 0.2, "csv")]


def shelf_batches(n_assets: int = 8_000, *, seed: int = 0, as_of: dt.date = dt.date(2026, 6, 30),
                  scale: float = 4.0) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The batches' tapes (batch name → canonical tape frame) and the links of every obligor.

    The national AMC's assets are dealt to its four batches by a seeded permutation (every obligor's loans stay
    in one batch, as a portfolio is bought whole); the partner's tape is one batch. Amounts are × ``scale``.
    """
    tapes, links = synth_tapes(n_assets, shelf_specs(), as_of=as_of, seed=seed)
    rng = np.random.default_rng(seed + 1)
    nat = tapes["NAT"]
    obligors = np.sort(nat["obligor_id"].astype(str).unique())
    batch_of = pd.Series(rng.permutation(len(obligors)) % len(NATIONAL_BATCHES), index=obligors)
    codes = batch_of.reindex(nat["obligor_id"].astype(str)).to_numpy()
    out = {}
    for i, (name, _) in enumerate(NATIONAL_BATCHES):
        out[name] = nat[codes == i].reset_index(drop=True)
    out[PARTNER_BATCH[0]] = tapes["ZJ"]
    for name, frame in out.items():
        frame = frame.copy()
        for c in AMOUNTS:
            if c in frame:
                frame[c] = np.round(frame[c].astype(float) * scale, 2)
        out[name] = frame
    return out, links


def plan_document(name: str, as_of: dt.date, cap: float = 1.0e10) -> dict:
    """The demo plan (DESIGN §11's keys), tapes under ``data/``."""
    acquisitions = [{"batch": b, "date": d, "amc": "NAT", "tape": f"data/{b.lower()}.csv"} for b, d in NATIONAL_BATCHES]
    acquisitions.insert(2, {"batch": PARTNER_BATCH[0], "date": PARTNER_BATCH[1], "amc": "ZJ",
                            "tape": f"data/{PARTNER_BATCH[0].lower()}.csv"})
    return {
        "name": name,
        "as_of": as_of,
        "shelf": {"cap": cap, "valid_from": dt.date(2026, 7, 1), "valid_to": dt.date(2027, 6, 30), "max_issues": 4,
                  "min_issue_size": 1.0e9},
        "windows": [{"date": d, "senior_coupon": c} for d, c in WINDOWS],
        "acquisitions": acquisitions,
        "amcs": [{"id": "NAT", "name": "National AMC 全国资产管理公司", "kind": "national"},
                 {"id": "ZJ", "name": "浙江省资产管理公司", "kind": "local", "funding_cost": 0.055}],
        "funding_cost": 0.035,
        "issue_cost": {"fixed": 3.0e6, "rate": 0.002},
        "links": "data/links.csv",
        "valuation": {"discount_rate": 0.06},
        "pool": {"limits": {"max_obligor_group_share": 0.03, "max_province_share": 0.25,
                            "max_collateral_share": 0.45, "min_secured_share": 0.5, "min_wa_recovery_rate": 0.15}},
        "structure": {"convention": "china", "payment_frequency": "quarterly", "legal_maturity_years": 5},
    }  # fmt: skip


def write_shelf(out_dir: Path, n_assets: int = 8_000, *, seed: int = 0, as_of: dt.date = dt.date(2026, 6, 30),
                name: str = "shelf-demo", scale: float = 4.0, cap: float = 1.0e10) -> Path:
    """Write the synthetic shelf: ``data/<batch>.csv`` (one UTF-8 CSV per batch), ``data/links.csv`` and
    ``plan.yaml``. Returns the plan file (loadable with :func:`pooling.shelf.plan.load_plan`)."""
    out_dir = Path(out_dir)
    data = out_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    batches, links = shelf_batches(n_assets, seed=seed, as_of=as_of, scale=scale)
    specs = {s.id: s for s in shelf_specs()}
    for batch, frame in batches.items():
        spec = specs["ZJ" if batch.startswith("ZJ") else "NAT"]
        write_file(frame, spec, data / f"{batch.lower()}.csv", sheet="资产清单", title="不良资产清单")
    links.to_csv(data / "links.csv", index=False, encoding="utf-8", lineterminator="\n")
    doc = plan_document(name, as_of, cap)
    header = (f"# Synthetic shelf written by pooling.shelf.synth (seed {seed}, {n_assets} assets, amounts x{scale:g});"
              " not real data.\n")
    path = out_dir / "plan.yaml"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m pooling.shelf.synth OUT_DIR  (rewrites scenarios/shelf byte for byte)
    import sys

    print(write_shelf(Path(sys.argv[1] if len(sys.argv) > 1 else "scenarios/shelf")))
