"""Valuation: expected recovery and timing per asset (tape values or the recovery model), and the stress levers
that shift them."""
