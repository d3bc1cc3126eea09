"""A small consortium (4 AMCs, 600 synthetic assets) and three users for the workspace tests."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette's test client warns about its httpx dependency on import
    warnings.simplefilter("ignore")
    pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install '.[serve]')")
    pytest.importorskip("argon2", reason="the serve extra is not installed (pip install '.[serve]')")
    from fastapi.testclient import TestClient  # noqa: F401  (re-exported for the tests)

def crash_round(rid, scenario):
    """A round task whose process dies at once (the worker must record the round as failed and go on)."""
    import os

    os._exit(3)


PASSWORDS = {"coord": "coordinator-pw-1", "nat": "nat-password-1", "zj": "zj-password-12"}


def write_workspace(folder: Path, n_assets: int = 600) -> tuple[Path, Path]:
    """scenario.yaml (+ tapes) and users.yaml (coordinator ``coord``, ``nat`` of NAT, ``zj`` of ZJ) in ``folder``.

    The synthetic scenario's consortium section is kept (rounds run the game) and made quick and non-trivial for
    a pool this small: a small fixed issuance cost (so pooling has a surplus), coalitions given 2 s, packages
    valued by their dual estimate only; the selection's MILP polish is cut to 3 s (tests check invariants, not
    optimality)."""
    import yaml

    from pooling.serve.users import add_user
    from pooling.tapes.synth import demo_amcs, write_consortium

    scenario = write_consortium(folder / "scenario", n_assets=n_assets, amcs=demo_amcs(), seed=0,
                                as_of=dt.date(2026, 6, 30))
    doc = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    doc["consortium"] |= {"issuance_cost": {"fixed": 1.0e5}, "coalition_time_limit_s": 2, "package_resolves": 0}
    doc["solver"] |= {"polish_time_limit_s": 3}  # the LP-rounded pool stands after 3 s of polishing
    scenario.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    users = folder / "users.yaml"
    add_user(users, "coord", "coordinator", PASSWORDS["coord"])
    add_user(users, "nat", "amc", PASSWORDS["nat"], "NAT")
    add_user(users, "zj", "amc", PASSWORDS["zj"], "ZJ")
    return scenario, users
