"""Pool selection: the canonical sparse MILP (``model``), its results and limits table (``results``) and the
npv–diversification frontier (``frontier``)."""
