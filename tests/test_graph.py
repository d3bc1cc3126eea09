"""Obligor groups and guarantee circles on hand-built graphs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pooling.graph import build_groups, circle_table, group_table


def _links(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["from_obligor", "to_obligor", "relation"])


def _assets(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["amc_id", "obligor_id", "gbv"]).assign(asset_id=lambda d: d.index.astype(str))


def test_chain_cycle_and_singletons() -> None:
    links = _links(
        [
            ("b", "c", "guarantee"),  # chain a-b-c (a→b control)
            ("a", "b", "control"),
            ("x", "y", "guarantee"),  # cycle x→y→z→x: one circle
            ("y", "z", "guarantee"),
            ("z", "x", "guarantee"),
            ("p", "q", "guarantee"),  # mutual pair: a circle of two
            ("q", "p", "guarantee"),
        ]
    )
    assets = _assets([("A", o, 1.0) for o in ["a", "b", "c", "x", "y", "z", "p", "q", "lonely"]])
    out = build_groups(links).assign(assets).set_index("obligor_id")
    assert out.loc[["a", "b", "c"], "group_id"].eq("G:a").all()
    assert out.loc[["x", "y", "z"], "group_id"].eq("G:x").all()
    assert out.loc["lonely", "group_id"] == "G:lonely"
    assert out.loc[["x", "y", "z"], "circle_id"].eq("C:x").all()
    assert out.loc[["p", "q"], "circle_id"].eq("C:p").all()
    assert out.loc[["a", "b", "c", "lonely"], "circle_id"].eq("").all()  # a chain is not a circle


def test_control_cycle_is_not_a_guarantee_circle() -> None:
    links = _links([("a", "b", "control"), ("b", "a", "control"), ("c", "d", "guarantee"), ("d", "c", "affiliate")])
    out = build_groups(links).assign(_assets([("A", o, 1.0) for o in "abcd"])).set_index("obligor_id")
    assert (out["circle_id"] == "").all()
    assert out.loc[["c", "d"], "group_id"].eq("G:c").all()


def test_cross_amc_link_merges_groups_and_guarantor_outside_tapes() -> None:
    # o1 borrows from AMC A, o2 from AMC B; parent P (borrows nothing) controls both → one group across AMCs
    links = _links([("P", "o1", "control"), ("P", "o2", "control"), ("o3", "o4", "guarantee")])
    assets = _assets([("A", "o1", 5.0), ("B", "o2", 3.0), ("B", "o3", 1.0), ("A", "o4", 1.0), ("A", "o5", 2.0)])
    out = build_groups(links).assign(assets)
    groups = group_table(out)
    assert groups.loc["G:P", "gbv"] == 8.0 and groups.loc["G:P", "amcs"] == "A;B" and groups.loc["G:P", "n_amcs"] == 2
    assert groups.loc["G:o3", "n_amcs"] == 2
    assert groups.index[0] == "G:P"  # sorted by gbv
    assert len(circle_table(out)) == 0


def test_ids_stable_under_input_order() -> None:
    rng = np.random.default_rng(7)
    n = 300
    edges = pd.DataFrame(
        {
            "from_obligor": [f"o{i}" for i in rng.integers(0, n, 400)],
            "to_obligor": [f"o{i}" for i in rng.integers(0, n, 400)],
            "relation": rng.choice(["guarantee", "control", "affiliate"], 400),
        }
    )
    edges = edges[edges["from_obligor"] != edges["to_obligor"]]
    assets = _assets([("A", f"o{i}", 1.0) for i in range(n + 50)])
    first = build_groups(edges).assign(assets)
    shuffled = build_groups(edges.sample(frac=1.0, random_state=3)).assign(assets.sample(frac=1.0, random_state=4))
    cols = ["obligor_id", "group_id", "circle_id"]
    a = first[cols].sort_values("obligor_id", ignore_index=True)
    b = shuffled[cols].sort_values("obligor_id", ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    # every group id names the smallest member of its group (all linked nodes borrow here)
    smallest = a.groupby("group_id")["obligor_id"].min()
    assert (smallest.index.str[2:] == smallest.to_numpy()).all()
