"""Shared fixtures: tiny hand-written tapes and a scenario writer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CLEAN_A = """asset_id,obligor_id,gbv,principal,asset_type,collateral_type,province,industry,default_date,legal_status,collateral_value,lien_rank,guarantor_ids,source_loan_id
A1,O1,1000000,800000,corporate,residential,CN-ZJ,C,2023-01-15,litigation,900000,1,O2,L-A1
A2,O2,500000,400000,sme,unsecured,浙江,F,2022-06-30,judgment,,,,L-A2
A3,O3,2500000,2000000,corporate,commercial,Jiangsu,K,2021-03-01,enforcement,3000000,1,,L-A3
A4,O4,80000,70000,credit_card,unsecured,广东省,T,2024-02-29,pre_litigation,,,,L-A4
"""

CLEAN_B = """asset_id,obligor_id,gbv,principal,asset_type,collateral_type,province,industry,default_date,legal_status,source_loan_id
B1,O5,300000,250000,retail_mortgage,residential,CN-GD,T,2023-05-05,litigation,L-B1
B2,O2,700000,650000,sme,guarantee_only,CN-ZJ,C,2022-11-11,bankruptcy,L-B2
"""

LINKS = """from_obligor,to_obligor,relation
O3,O4,control
P9,O5,affiliate
"""


def write_scenario(folder: Path, amcs: list[dict], links: str | None = "data/links.csv", **extra) -> Path:
    """Write scenario.yaml into ``folder``; tapes are expected under folder/data."""
    doc = {"name": "test", "as_of": "2026-06-30", "amcs": amcs, **extra}
    if links is not None:
        doc["links"] = links
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def clean_scenario(tmp_path: Path) -> Path:
    """Two AMCs (CSV tapes) and a links file, all clean."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text(CLEAN_A, encoding="utf-8")
    (data / "b.csv").write_text(CLEAN_B, encoding="utf-8")
    (data / "links.csv").write_text(LINKS, encoding="utf-8")
    return write_scenario(
        tmp_path,
        [
            {"id": "A", "kind": "national", "tape": "data/a.csv"},
            {"id": "B", "kind": "local", "home_province": "CN-ZJ", "tape": "data/b.csv"},
        ],
    )
