"""Small-cell suppression of the pool aggregates for an AMC user, within a round and across rounds.

Within one view (a round's aggregates, or the contributed assets before any round): a cell holding 1 to
``min_cell - 1`` assets of other AMCs is suppressed; when a dimension then has exactly one suppressed cell, the
shown cell with the fewest assets is suppressed too (complementary suppression).

Across views: the views an AMC user can see are taken in order — the contributed assets first (what the pool
summary shows before any round), then every finished round by id. A cell (dimension, category) of a view is also
suppressed when, in some earlier view where that same cell is shown to the user, the set of other AMCs' assets in
the cell differs from this view's by 1 to ``min_cell - 1`` assets (symmetric difference: an asset swapped for
another counts 2). Complementary suppression is applied after these extra suppressions. So no two shown cells of
the same (dimension, category), in any two views, differ by fewer than ``min_cell`` other-AMC assets, and a view's
cells never change when later rounds are run (the rule looks back only).

The other-AMC assets of a cell are recomputed from the round's stored selected ids and the tapes' attributes (the
workspace's prepared assets); a stored round whose ids or per-cell counts do not match the tapes (the tapes changed
since the round ran) cannot be checked, and every one of its cells holding other AMCs' assets is suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the key of the view of every contributed asset (the pool summary before any round)
CONTRIBUTED = "contributed"


def suppressed(cells: dict, viewer: str, min_cell: int, extra=()) -> set[str]:
    """The categories of one dimension's ``cells`` (category → ``{"gbv", "by_amc"}``) hidden from an AMC user of
    ``viewer``: the small cells, the categories in ``extra``, and the complementary cell when exactly one is hidden."""
    extra = set(extra)
    rows = []
    for cat, cell in cells.items():
        others = sum(v for a, v in cell["by_amc"].items() if a != viewer)
        rows.append((cat, sum(cell["by_amc"].values()), 0 < others < min_cell or cat in extra))
    hidden = {cat for cat, _, h in rows if h}
    if len(hidden) == 1:  # one hidden cell would be the total minus the others
        shown = sorted(((n, i, cat) for i, (cat, n, h) in enumerate(rows) if not h))
        if shown:
            hidden.add(shown[0][2])
    return hidden


class Views:
    """The views (contributed assets, then finished rounds in order) as membership of the workspace's assets: row
    ``i`` of :attr:`member` says which assets are in view ``i``; :attr:`checkable` whether its stored ids and cell
    counts match the tapes (an unchecked view's row is all False)."""

    def __init__(self, assets: pd.DataFrame, views: list[tuple[object, dict | None, dict]], dimensions):
        """``views``: (key, selected ids by AMC — None for every asset —, the view's stored cells by dimension)."""
        self.keys = [k for k, _, _ in views]
        self.cells = [c for _, _, c in views]
        self.dimensions = tuple(dimensions)
        amc = assets["amc_id"].astype(str).to_numpy()
        self.amc_codes, self.amcs = pd.factorize(amc)
        n = len(assets)
        self.codes, self.labels = {}, {}
        for dim in self.dimensions:
            values = assets[dim]
            codes, labels = pd.factorize(values.astype(str).where(values.notna()), use_na_sentinel=True)
            self.codes[dim], self.labels[dim] = codes, {str(lab): k for k, lab in enumerate(labels)}
        index = pd.MultiIndex.from_arrays([amc, assets["asset_id"].astype(str).to_numpy()])
        unique = index.is_unique
        self.member = np.zeros((len(views), n), dtype=bool)
        self.checkable = np.zeros(len(views), dtype=bool)
        for i, (_, selected, cells) in enumerate(views):
            if selected is None:
                row = np.ones(n, dtype=bool)
            else:
                if not unique:
                    continue
                owners = np.repeat(np.array(list(selected), dtype=object), [len(v) for v in selected.values()])
                ids = np.concatenate([np.asarray(v, dtype=object).astype(str) for v in selected.values()] or [[]])
                pos = (index.get_indexer(pd.MultiIndex.from_arrays([owners, ids])) if len(ids)
                       else np.zeros(0, dtype=np.int64))
                if (pos < 0).any() or len(np.unique(pos)) != len(pos):
                    continue
                row = np.zeros(n, dtype=bool)
                row[pos] = True
            if self._counts_match(row, cells):
                self.member[i], self.checkable[i] = row, True

    def _counts_match(self, row: np.ndarray, cells: dict) -> bool:
        """Whether the per-cell counts by AMC recomputed from ``row`` are the stored ``cells``."""
        n_amcs = len(self.amcs)
        amc_index = {a: j for j, a in enumerate(self.amcs)}
        for dim in self.dimensions:
            codes = self.codes[dim][row]
            ok = codes >= 0
            got = np.bincount(codes[ok] * n_amcs + self.amc_codes[row][ok],
                              minlength=len(self.labels[dim]) * n_amcs)
            want = np.zeros_like(got)
            for cat, cell in (cells.get(dim) or {}).items():
                k = self.labels[dim].get(cat)
                if k is None:
                    return False
                for a, v in cell["by_amc"].items():
                    if a not in amc_index:
                        return False
                    want[k * n_amcs + amc_index[a]] = v
            if not np.array_equal(got, want):
                return False
        return True

    def hidden(self, viewer: str, min_cell: int) -> dict[object, dict[str, set[str]]]:
        """Per view key, per dimension: the categories hidden from an AMC user of ``viewer`` (see the module)."""
        others = np.asarray(self.amcs)[self.amc_codes] != viewer
        n_views = len(self.keys)
        out: dict[object, dict[str, set[str]]] = {k: {} for k in self.keys}
        for dim in self.dimensions:
            codes = self.codes[dim]
            n_cat = len(self.labels[dim])
            # diff[k, i, j]: other-AMC assets in category k in exactly one of views i and j
            diff = np.zeros((n_cat, n_views, n_views), dtype=np.int64)
            keep = (codes >= 0) & others
            order = np.argsort(codes[keep], kind="stable")
            columns = np.flatnonzero(keep)[order]
            bounds = np.searchsorted(codes[columns], np.arange(n_cat + 1))
            member = self.member.astype(np.float32)  # 0/1 sums: exact below 2**24
            for k in range(n_cat):
                block = member[:, columns[bounds[k]:bounds[k + 1]]]
                # einsum's own loop rather than BLAS: small products, no thread pool fighting the server's threads
                gram = np.rint(np.einsum("ij,kj->ik", block, block)).astype(np.int64)
                size = np.diag(gram)
                diff[k] = size[:, None] + size[None, :] - 2 * gram
            close = (diff > 0) & (diff < min_cell)
            shown = np.zeros((n_cat, n_views), dtype=bool)
            for i, key in enumerate(self.keys):
                cells = self.cells[i].get(dim) or {}
                extra = set()
                for cat, cell in cells.items():
                    k = self.labels[dim].get(cat)
                    if not self.checkable[i] and any(v for a, v in cell["by_amc"].items() if a != viewer):
                        extra.add(cat)  # cannot be checked: hidden when it holds other AMCs' assets
                        continue
                    if k is not None and (close[k, i, :i] & shown[k, :i]).any():
                        extra.add(cat)
                hide = suppressed(cells, viewer, min_cell, extra)
                out[key][dim] = hide
                for cat in cells:
                    k = self.labels[dim].get(cat)
                    if k is not None and cat not in hide:
                        shown[k, i] = True
        return out
