"""Consortium economics: the coalition game and allocations (``game``) and the servicer plan (``servicing``)."""
