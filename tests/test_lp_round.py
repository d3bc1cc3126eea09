"""lp_round's repair widening: while the rounded pool's certified gap is above target, the repair's free set grows
fourfold (a work limit, not a clock), and each widening can only keep or improve the pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pooling.selection.model as selection_model
from pooling.pipeline import prepare
from pooling.scenario import load_scenario

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "scenario.yaml"


@pytest.fixture(scope="module")
def hhi_slice():
    """3,000 demo assets under a tight province HHI bound: a 200-asset repair leaves a gap of several percent."""
    p = prepare(load_scenario(DEMO))
    assets = p.assets.sample(n=3000, random_state=2).reset_index(drop=True)
    s = p.scenario
    limits = s.pool.limits.model_copy(update={"max_hhi": {"province": 0.12}})
    size = s.pool.size.model_copy(update={"min": None, "max": None})
    scenario = s.model_copy(update={"pool": s.pool.model_copy(update={"limits": limits, "size": size}),
                                    "solver": s.solver.model_copy(update={"mip_rel_gap": 1e-7})})
    return assets, scenario


def test_widening_the_repair_keeps_or_improves_the_pool_and_is_deterministic(
        hhi_slice, monkeypatch: pytest.MonkeyPatch) -> None:
    assets, scenario = hhi_slice
    monkeypatch.setattr(selection_model, "REPAIR_WIDENINGS", 0)
    narrow = selection_model.select_pool(assets, scenario, strategy="lp_round")
    monkeypatch.setattr(selection_model, "REPAIR_WIDENINGS", 2)
    wide = selection_model.select_pool(assets, scenario, strategy="lp_round")
    again = selection_model.select_pool(assets, scenario, strategy="lp_round")
    assert narrow.info["repairs"] == 1 and narrow.info["n_free"] <= 200 + narrow.info["n_fractional"]
    assert narrow.mip_gap > scenario.solver.mip_rel_gap  # the narrow repair leaves a gap: widening is called for
    assert wide.info["repairs"] == 3 and wide.info["n_free"] > narrow.info["n_free"]
    assert wide.objective_value >= narrow.objective_value - 1e-6 * abs(narrow.objective_value)
    assert wide.mip_gap <= narrow.mip_gap + 1e-12
    assert np.array_equal(wide.selected, again.selected) and wide.mip_gap == again.mip_gap


def test_no_widening_beyond_the_free_set_limit(hhi_slice, monkeypatch: pytest.MonkeyPatch) -> None:
    assets, scenario = hhi_slice
    monkeypatch.setattr(selection_model, "REPAIR_WIDEN_MAX_FREE", 500)  # 4 × 200 free assets is above it
    sel = selection_model.select_pool(assets, scenario, strategy="lp_round")
    assert sel.info["repairs"] == 1


def test_a_lumpy_repair_stops_at_its_time_limit(tmp_path) -> None:
    """A repair MILP of a 4-AMC coalition (synthetic consortium, 1,500 assets, every unit free) that HiGHS never
    returned from at a 1e-9 feasibility tolerance, time limit and interrupts ignored: at the repair's tolerance it
    stops at its limit. Run in a child process, so that a hang fails the test instead of stopping the run."""
    import gzip
    import subprocess
    import sys
    from pathlib import Path

    from pooling.selection.model import REPAIR_FEASIBILITY_TOLERANCE

    mps = tmp_path / "repair.mps"
    mps.write_bytes(gzip.decompress((Path(__file__).parent / "data" / "repair_1500.mps.gz").read_bytes()))
    code = ("import highspy, sys, time\n"
            "h = highspy.Highs(); h.silent(); h.readModel(sys.argv[1])\n"
            "for k, v in (('time_limit', 3.3), ('mip_rel_gap', 1e-4), ('mip_max_nodes', 2000), ('threads', 1),\n"
            "             ('mip_feasibility_tolerance', float(sys.argv[2]))):\n"
            "    h.setOptionValue(k, v)\n"
            "h.run(); print(h.modelStatusToString(h.getModelStatus()), h.getInfo().objective_function_value)\n")
    try:
        done = subprocess.run([sys.executable, "-c", code, str(mps), repr(REPAIR_FEASIBILITY_TOLERANCE)],
                              capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError("the repair MILP did not stop at its 3.3 s time limit within 90 s") from None
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) > 0.25, done.stdout  # it found a pool (the LP bound is 0.2798)
