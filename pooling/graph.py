"""Obligor groups and guarantee circles on the pooled graph (DESIGN §3.2 definitions, §5).

Nodes are obligor ids across *all* AMCs' tapes — the same id in two tapes is the same borrower — and edges are the
links file (guarantee, control, affiliate) plus each tape's ``guarantor_ids`` (guarantor → borrower).

* An **obligor group** is a connected component of the undirected graph; an obligor with no link is its own group.
* A **guarantee circle** (担保圈) is a strongly connected component, of two or more obligors, of the directed
  guarantee edges: obligors that guarantee one another round a cycle.

Only linked obligors enter networkx; the (usually many) unlinked ones get their group id by vectorised fill.
Ids are stable across runs and input order: a group's id is ``G:`` + the smallest obligor id in it, a circle's
``C:`` + the smallest id in it. An unlinked obligor's group id is ``G:`` + its own id.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import pandas as pd


@dataclass(frozen=True)
class Groups:
    """Group and circle of every linked obligor (unlisted obligors are singletons outside any circle)."""

    group_of: pd.Series  # obligor_id → group_id, linked obligors only
    circle_of: pd.Series  # obligor_id → circle_id, obligors in a circle only

    def assign(self, assets: pd.DataFrame) -> pd.DataFrame:
        """``assets`` with ``group_id`` and ``circle_id`` ('' outside any circle) columns added."""
        obligor = assets["obligor_id"].astype(str)
        group = obligor.map(self.group_of).astype(object)
        circle = obligor.map(self.circle_of).astype(object)
        out = assets.copy()
        out["group_id"] = group.where(group.notna(), "G:" + obligor).astype(str)
        out["circle_id"] = circle.where(circle.notna(), "").astype(str)
        return out


def _labels(components, prefix: str) -> pd.Series:
    ids: list[str] = []
    labels: list[str] = []
    for comp in components:
        label = prefix + min(comp)
        ids.extend(comp)
        labels.extend([label] * len(comp))
    return pd.Series(labels, index=pd.Index(ids, name="obligor_id"), dtype=object)


def build_groups(links: pd.DataFrame) -> Groups:
    """Groups and circles from a links frame (from_obligor, to_obligor, relation)."""
    edges = links[["from_obligor", "to_obligor"]].astype(str).to_numpy()
    undirected = nx.Graph()
    undirected.add_edges_from(map(tuple, edges))
    group_of = _labels(nx.connected_components(undirected), "G:")

    guarantee = links.loc[links["relation"] == "guarantee", ["from_obligor", "to_obligor"]].astype(str).to_numpy()
    directed = nx.DiGraph()
    directed.add_edges_from(map(tuple, guarantee))
    circles = (c for c in nx.strongly_connected_components(directed) if len(c) > 1)
    circle_of = _labels(circles, "C:")
    return Groups(group_of=group_of, circle_of=circle_of)


def group_table(assets: pd.DataFrame) -> pd.DataFrame:
    """One row per obligor group: gbv, assets, obligors, AMCs (';'-joined) and whether it crosses AMCs."""
    g = assets.groupby("group_id", sort=True, observed=True)
    table = pd.DataFrame(
        {
            "gbv": g["gbv"].sum(),
            "n_assets": g.size(),
            "n_obligors": g["obligor_id"].nunique(),
            "n_amcs": g["amc_id"].nunique(),
        }
    )
    amcs = assets[["group_id", "amc_id"]].drop_duplicates().sort_values(["group_id", "amc_id"])
    table["amcs"] = amcs.groupby("group_id")["amc_id"].agg(";".join)
    return table.sort_values(["gbv"], ascending=False, kind="stable")


def circle_table(assets: pd.DataFrame) -> pd.DataFrame:
    """One row per guarantee circle that holds at least one asset, with the AMCs it spans."""
    inside = assets[assets["circle_id"] != ""]
    if inside.empty:
        return pd.DataFrame(columns=["gbv", "n_assets", "n_obligors", "n_amcs", "amcs"]).rename_axis("circle_id")
    return group_table(inside.assign(group_id=inside["circle_id"])).rename_axis("circle_id")
