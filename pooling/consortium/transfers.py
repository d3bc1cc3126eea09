r"""Transfer prices that realise an allocation of the consortium's surplus (DESIGN §7, ``transfers.csv``).

In the grand coalition's deal (or in each deal of the partition that achieves :math:`\hat v(N)`, when some members
do better in separate deals) member :math:`i` hands over its selected assets — worth :math:`O_i` to it outside the
deal (:func:`pooling.consortium.surplus.outside_values`) — and receives

* its share :math:`R_i` of the retained notes (the retention split, by gbv share; valued at its funding cost),
* the servicing fees :math:`S_i` it earns as servicer (valued likewise),
* a cash **transfer price** :math:`T_i` paid by the SPV at closing for its assets.

The allocation :math:`x_i` of the surplus (``consortium.rule``) is realised when each member's gain over its
outside option is :math:`x_i`:

.. math:: \text{total\_value}_i = T_i + R_i + S_i - O_i = x_i \quad\Longrightarrow\quad T_i = x_i + O_i - R_i - S_i.

:math:`R_i` and :math:`S_i` are fixed by the deal; the transfer price is the balancing item. Summed over a deal's
members, :math:`\sum_i T_i = \text{surplus} + O - R - S` = senior proceeds − issuance cost: the cash the notes
raise at closing, net of the reserve and the issuance cost, is exactly what the SPV pays for the assets. When
the allocation moves value between the deals of a partition, the transfer prices of one deal's members add up to
more than its cash and another's to less: the difference is a side payment between the deals. A member whose
block does no deal (it holds) hands over nothing; its transfer price is its allocation, a side payment. A
negative transfer price is a payment by the member at closing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: transfers.csv's columns (DESIGN §7), then the outside value and the block the member's deal belongs to
TRANSFER_COLUMNS = ("amc_id", "n_assets", "gbv", "transfer_price", "retained_notes_value", "servicing_value",
                    "total_value", "outside_value", "block")


def transfers(realisation: pd.DataFrame, allocation: dict[str, float]) -> pd.DataFrame:
    r"""transfers.csv: per member, :math:`T_i = x_i + O_i - R_i - S_i` and ``total_value`` = :math:`x_i`, in CNY
    rounded to the fen.

    Parameters
    ----------
    realisation
        Indexed by amc_id: block, n_assets, gbv, outside_value, retained_value, servicing_value
        (:attr:`pooling.consortium.game.ConsortiumResult.realisation`).
    allocation
        :math:`x_i` per amc_id: the chosen rule's allocation of :math:`\hat v(N)`.
    """
    ids = list(allocation)
    r = realisation.reindex(ids)
    x = np.array([allocation[i] for i in ids], dtype=float)
    outside = r["outside_value"].to_numpy(float)
    retained = r["retained_value"].to_numpy(float)
    servicing = r["servicing_value"].to_numpy(float)
    price = np.round(x + outside - retained - servicing, 2)
    retained, servicing, outside = np.round(retained, 2), np.round(servicing, 2), np.round(outside, 2)
    return pd.DataFrame({"amc_id": ids, "n_assets": r["n_assets"].to_numpy(int), "gbv": r["gbv"].to_numpy(float),
                         "transfer_price": price, "retained_notes_value": retained, "servicing_value": servicing,
                         "total_value": price + retained + servicing - outside, "outside_value": outside,
                         "block": r["block"].to_numpy()}, columns=list(TRANSFER_COLUMNS))
