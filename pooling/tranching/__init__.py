"""Tranching: the vectorised waterfall and sizing search (``waterfall``) and the deal built on a pool (``deal``)."""
