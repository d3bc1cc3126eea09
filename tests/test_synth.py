"""Synthetic tapes: determinism, contract validity, realism invariants and the written consortium."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from pooling import vocab
from pooling.scenario import load_scenario
from pooling.tapes.headers import first_chinese_header
from pooling.tapes.synth import AMCSpec, bench_amcs, demo_amcs, synth_tapes, write_consortium

AS_OF = dt.date(2026, 6, 30)
N = 6000
ENUMS = ("asset_type", "collateral_type", "legal_status", "industry", "province")


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return synth_tapes(N, demo_amcs(), as_of=AS_OF, seed=7)


@pytest.fixture(scope="module")
def pooled(demo) -> pd.DataFrame:
    tapes, _ = demo
    return pd.concat([t.assign(amc=k) for k, t in tapes.items()], ignore_index=True)


def _guarantee_graph(pooled: pd.DataFrame, links: pd.DataFrame) -> nx.DiGraph:
    """Guarantor → borrower edges from the links file and every tape's guarantor_ids."""
    on_tape = pooled.loc[pooled["guarantor_ids"] != "", ["guarantor_ids", "obligor_id"]]
    on_tape = on_tape.assign(g=on_tape["guarantor_ids"].str.split(";")).explode("g")
    graph = nx.DiGraph()
    graph.add_edges_from(on_tape[["g", "obligor_id"]].itertuples(index=False))
    graph.add_edges_from(
        links.loc[links["relation"] == "guarantee", ["from_obligor", "to_obligor"]].itertuples(index=False)
    )
    return graph


def test_same_seed_same_frames_other_seed_other_frames(demo):
    tapes, links = demo
    again, links_again = synth_tapes(N, demo_amcs(), as_of=AS_OF, seed=7)
    for amc, frame in tapes.items():
        pd.testing.assert_frame_equal(frame, again[amc])
    pd.testing.assert_frame_equal(links, links_again)
    other, _ = synth_tapes(N, demo_amcs(), as_of=AS_OF, seed=8)
    assert not other["NAT"]["gbv"].equals(tapes["NAT"]["gbv"])


def test_counts_follow_weights_and_columns_follow_the_contract(demo):
    tapes, links = demo
    assert sum(len(t) for t in tapes.values()) == N
    assert len(tapes["NAT"]) == pytest.approx(0.45 * N, abs=1)
    assert "expected_recovery" in tapes["NAT"] and "expected_months" in tapes["NAT"]
    assert "expected_recovery" not in tapes["ZJ"] and "expected_months" not in tapes["SC"]
    assert list(links.columns) == ["from_obligor", "to_obligor", "relation"]
    assert set(links["relation"]) <= set(vocab.LINK_RELATIONS)
    assert (links["from_obligor"] != "").all() and (links["to_obligor"] != "").all()


def test_enum_columns_are_canonical(pooled):
    for column in ENUMS:
        mapped = vocab.normalize(pooled[column], column)
        assert mapped.notna().all(), column
        assert (mapped.astype(str) == pooled[column].astype(str)).all(), column
    assert (pooled.loc[pooled["asset_type"].str.startswith(("retail", "credit")), "industry"] == "T").all()


def test_amounts_are_consistent(pooled, demo):
    assert pooled[["gbv", "principal", "book_value"]].notna().all().all()
    assert (pooled["gbv"] > 0).all() and (pooled["principal"] >= 0).all()
    assert (pooled["principal"] <= pooled["gbv"]).all()
    assert (pooled["book_value"] <= pooled["gbv"]).all()
    unsecured = pooled["collateral_type"].isin(vocab.UNSECURED_COLLATERAL)
    assert pooled.loc[unsecured, "collateral_value"].isna().all()
    assert pooled.loc[unsecured, "lien_rank"].isna().all()
    assert (pooled.loc[~unsecured, "collateral_value"] > 0).all()
    assert pooled.loc[~unsecured, "lien_rank"].isin([1, 2, 3]).all()
    nat = demo[0]["NAT"]
    assert (nat["expected_recovery"] >= 0).all() and (nat["expected_recovery"] <= nat["gbv"]).all()
    assert nat["expected_months"].between(3, 72).all()
    rate = nat["expected_recovery"].sum() / nat["gbv"].sum()
    assert 0.10 < rate < 0.45  # market: cards ~7–14%, secured corporate ~28–31%, AMC mixed claims ~44%


def test_balances_look_like_npl_books(pooled):
    median = pooled.groupby("asset_type")["gbv"].median()
    assert 5e4 <= median["credit_card"] <= 1.3e5  # personal packs: median ¥5–13万
    assert 3e5 <= median["retail_mortgage"] <= 8e5
    assert median["corporate"] > 10 * median["credit_card"]
    assert 1e9 < pooled["gbv"].sum() < 3e10


def test_default_dates_before_as_of(pooled):
    age_days = (pd.Timestamp(AS_OF) - pooled["default_date"]).dt.days
    assert (age_days >= 0.3 * 365).all() and (age_days <= 9.5 * 365).all()


def test_ids_unique(demo, pooled):
    tapes, _ = demo
    for amc, frame in tapes.items():
        assert frame["asset_id"].is_unique, amc
    assert pooled["source_loan_id"].is_unique
    assert (pooled["source_loan_id"] != "").all()


def test_regional_tilt(demo):
    tapes, _ = demo
    for spec in demo_amcs():
        shares = tapes[spec.id]["province"].value_counts(normalize=True)
        if spec.kind == "local":
            assert shares[spec.home_province] >= 0.8, spec.id
        else:
            assert len(shares) >= 25 and shares.max() < 0.2


def test_some_obligors_borrow_from_two_amcs(pooled):
    companies = pooled.loc[pooled["obligor_id"].str.startswith("C")]
    n_amcs = companies.groupby("obligor_id")["amc"].nunique()
    shared = n_amcs[n_amcs > 1]
    assert 0.01 < len(shared) / len(n_amcs) < 0.06
    # The same borrower keeps one province and industry in every tape.
    assert (companies.groupby("obligor_id")[["province", "industry"]].nunique() == 1).all().all()


def test_guarantee_network_has_circles_and_crosses_amcs(demo, pooled):
    _, links = demo
    graph = _guarantee_graph(pooled, links)
    circles = [c for c in nx.strongly_connected_components(graph) if len(c) >= 2]
    assert circles
    assert 1.0 <= 2 * graph.number_of_edges() / graph.number_of_nodes() <= 3.0
    amcs_of = pooled.groupby("obligor_id")["amc"].agg(frozenset)
    cross = [
        (u, v)
        for u, v in graph.edges()
        if u in amcs_of.index and v in amcs_of.index and not amcs_of[u] & amcs_of[v]
    ]
    assert cross
    parents = set(links["from_obligor"]) - set(pooled["obligor_id"])
    assert parents and all(p.startswith("P") for p in parents)
    assert {"control", "affiliate"} <= set(links["relation"])


def test_bench_amcs():
    specs = bench_amcs(8, "parquet")
    assert len(specs) == 8 and [s.kind for s in specs].count("national") == 2
    homes = [s.home_province for s in specs if s.kind == "local"]
    assert len(set(homes)) == len(homes) == 6
    weights = [s.weight for s in specs]
    assert sum(weights) == pytest.approx(1.0, abs=1e-5) and weights == sorted(weights, reverse=True)
    assert all(s.fmt == "parquet" for s in specs)
    with pytest.raises(ValueError, match="n_amcs"):
        bench_amcs(40)


def test_bad_specs_are_rejected():
    local = AMCSpec("L", "Local", "local", None, 1.0)
    with pytest.raises(ValueError, match="home_province"):
        synth_tapes(10, [local], as_of=AS_OF)
    with pytest.raises(ValueError, match="format"):
        synth_tapes(10, [dataclasses.replace(local, home_province="CN-ZJ", fmt="xls")], as_of=AS_OF)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    return write_consortium(tmp_path_factory.mktemp("consortium"), 1500, seed=3)


def test_write_consortium_is_loadable_and_reproducible(written, tmp_path):
    scenario = load_scenario(written)
    assert [a.id for a in scenario.amcs] == ["NAT", "ZJ", "GD", "SC"]
    assert all(p.is_file() for p in scenario.input_paths())
    assert scenario.links_path is not None and scenario.links_path.name == "links.csv"
    size = scenario.pool.size
    assert size.min is not None and size.max is not None and 0 < size.min < size.max
    assert scenario.amcs[0].max_share == 0.6 and all(a.min_share == 0.05 for a in scenario.amcs[1:])
    again = write_consortium(tmp_path, 1500, seed=3)
    for path in [written, *scenario.input_paths()]:
        twin = again.parent / path.relative_to(written.parent)
        assert twin.read_bytes() == path.read_bytes(), path.name


def test_written_tapes_round_trip(written):
    data = written.parent / "data"
    tapes, _ = synth_tapes(1500, demo_amcs(), as_of=AS_OF, seed=3)
    zh = first_chinese_header()

    nat_bytes = (data / "nat.csv").read_bytes()
    assert not nat_bytes.startswith(b"\xef\xbb\xbf")
    nat = pd.read_csv(data / "nat.csv", dtype=str, keep_default_na=False)
    assert list(nat.columns) == list(tapes["NAT"].columns)
    assert nat["default_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()

    gd = pd.read_csv(data / "gd.csv", encoding="gbk", dtype=str, keep_default_na=False)
    assert list(gd.columns) == [zh[c] for c in tapes["GD"].columns]

    grid = pd.read_excel(data / "zj.xlsx", header=None, engine="calamine")
    assert "不良资产清单" in str(grid.iloc[0, 0])
    zj = pd.read_excel(data / "zj.xlsx", header=1, engine="calamine")
    assert list(zj.columns) == [zh[c] for c in tapes["ZJ"].columns]
    assert pd.api.types.is_datetime64_any_dtype(zj[zh["default_date"]])
    for column in ENUMS:
        for frame, amc in ((zj, "ZJ"), (gd, "GD")):
            back = vocab.normalize(frame[zh[column]].astype(str), column)
            assert (back.to_numpy() == tapes[amc][column].to_numpy()).all(), (amc, column)
        assert not zj[zh[column]].astype(str).isin(tapes["ZJ"][column]).any()  # written in Chinese


def test_written_consortium_passes_tape_validation(written):
    from pooling.tapes.load import check_tapes

    _, problems = check_tapes(load_scenario(written))
    assert problems.empty, problems.head().to_string()


def test_shares_of_a_large_draw_stay_realistic():
    tapes, _ = synth_tapes(40_000, bench_amcs(4, "csv"), as_of=AS_OF, seed=1)
    pooled = pd.concat(tapes.values(), ignore_index=True)
    secured = ~pooled["collateral_type"].isin(vocab.UNSECURED_COLLATERAL)
    corporate = pooled["asset_type"] == "corporate"
    assert 0.62 < secured[corporate].mean() < 0.78  # 工元2016-1: 73% secured
    assert np.isclose(pooled["lien_rank"].eq(1).sum() / secured.sum(), 0.8, atol=0.06)
    assert (pooled["gbv"] > 1e8).any()  # a heavy tail: some ¥1亿+ claims
