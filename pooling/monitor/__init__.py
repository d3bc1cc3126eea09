"""Surveillance after issue (DESIGN §12): servicer reports, actual vs plan, triggers, watch list, re-forecast."""
