"""Shelf issuance (储架发行: batch acquisition + phased issues, DESIGN §11): the plan file, the planning model, its
results and a synthetic demo."""
