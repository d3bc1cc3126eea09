"""lp_round's repair widening: while the rounded pool's certified gap is above target, the repair's free set grows
fourfold (a work limit, not a clock), and each widening can only keep or improve the pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pooling.selection.model as selection_model
from pooling.errors import Infeasible
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


def test_a_short_polish_limit_widens_a_repair_to_at_most_half_the_units(hhi_slice) -> None:
    """Under a coalition's short polish limit a repair widened for the gap frees at most max(its integer cap, half
    the units): 200 → 800 of 3,000, not 3,200 (nearly the whole MILP, whose root overran such limits)."""
    assets, scenario = hhi_slice
    short = scenario.model_copy(update={"solver": scenario.solver.model_copy(update={"polish_time_limit_s": 3.0})})
    assert selection_model.exact_max_integers(3.0) == 500 and selection_model.exact_max_integers(30.0) == 5000
    sel = selection_model.select_pool(assets, short, strategy="lp_round")
    assert sel.info["repairs"] == 2 and 800 <= sel.info["n_free"] <= 1500


def _local_scenario(assets, pool: dict, solver: dict | None = None):
    """A scenario over ``assets`` with one local AMC per ``amc_id``, ``pool`` its pool section."""
    from pooling.scenario import parse_scenario

    return parse_scenario({
        "name": "w", "as_of": "2026-06-30",
        "amcs": [{"id": a, "kind": "local", "tape": f"{a}.csv"} for a in sorted(assets["amc_id"].unique())],
        "pool": pool, "solver": solver or {},
    }, "w.yaml")


def _size_window_pool(n: int, seed: int, window: tuple[float, float] = (150.0, 160.0), **solver):
    """``n`` assets of gbv 100 under a size ``window`` (150–160: the LP meets it with 1.5 assets, no whole-asset pool
    does; ``solver``: solver settings)."""
    from tests.pools import small_pool

    assets = small_pool(seed, n=n, n_amcs=2).assign(gbv=100.0)
    return assets, _local_scenario(assets, {"size": {"min": window[0], "max": window[1]}}, solver)


def _record_milps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    """(columns, node limit) of every MILP the HiGHS backend solves from now on, in order."""
    from solvers.highs_backend import HighsBackend

    milps: list[tuple[int, int | None]] = []
    solve = HighsBackend.solve

    def record(self, problem, options=None, start=None, on_progress=None):
        if problem.is_mip:
            milps.append((problem.n_cols, options.mip_max_nodes))
        return solve(self, problem, options, start, on_progress)

    monkeypatch.setattr(HighsBackend, "solve", record)
    return milps


def test_a_whole_milp_repair_that_finds_nothing_is_not_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """14 assets in the size window of :func:`_size_window_pool`: the first repair already frees every asset — it
    is the MILP — so the fallback does not solve that MILP a second time; the pool is reported infeasible."""
    assets, scenario = _size_window_pool(14, seed=3)
    milps = _record_milps(monkeypatch)
    with pytest.raises(Infeasible):
        selection_model.select_pool(assets, scenario, diagnose=False)
    assert len(milps) == 1, milps


def test_every_repair_wider_than_the_first_is_node_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    """A repair widened because the first found no pool is limited by nodes as a repair widened for the gap is (a
    repair of a coalition ran to its clock and its machine-dependent pool was used): 250 assets in the size window
    of :func:`_size_window_pool`, so the 200-asset repair is infeasible and the repair freeing all 250 is the MILP
    itself."""
    assets, scenario = _size_window_pool(250, seed=5, polish_time_limit_s=3.0)
    milps = _record_milps(monkeypatch)
    with pytest.raises(Infeasible):
        selection_model.select_pool(assets, scenario, diagnose=False, strategy="lp_round")
    assert milps[0][1] is None and milps[0][0] < 250  # the first repair: 200 free, no node limit
    assert milps[1] == (251, selection_model.exact_max_nodes(3.0)), milps  # every asset free, node-limited
    # then (lp_round asked for: no exact stage) the fallback MILP on the run's whole time limit, longer than the
    # repair's, and so run
    assert milps[2:] == [(251, None)], milps


def test_a_repair_freeing_as_many_units_as_the_pool_has_frees_every_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The free set takes half its units from each side of the LP (taken, left out); a side with fewer units leaves
    its share to the other, so a repair widened to at least every unit is the MILP itself. 600 assets in a window
    of 44,950–44,960: the LP takes 449.5 of them, the 200-unit repair finds no pool, the 800-unit one must free
    all 600 — before, 49 of the LP's 449 stayed fixed (a coalition of the 8-AMC benchmark sat infeasible at 2,727 of
    3,090 units free and spent its whole limit in the fallback)."""
    assets, scenario = _size_window_pool(600, seed=5, window=(44_950.0, 44_960.0), polish_time_limit_s=3.0)
    milps = _record_milps(monkeypatch)
    with pytest.raises(Infeasible):
        selection_model.select_pool(assets, scenario, diagnose=False, strategy="lp_round")
    assert milps[0][0] < 600  # the first repair: 200 free
    assert milps[1] == (601, selection_model.exact_max_nodes(3.0)), milps  # every asset free: the MILP itself


def test_hhi_lp_rounds_re_solve_one_warm_lp_session(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HHI cut rounds on the LP relaxation only append rows: one LP session, started cold once, re-solves every
    round from the last basis, in fewer simplex iterations than solving each round cold. Six local AMCs of a
    2,000-asset synthetic consortium (each concentrated in its home province, under a province HHI bound of 0.15):
    six LP rounds."""
    import dataclasses

    from pooling.consortium.game import coalition_scenario
    from pooling.tapes.synth import bench_amcs, write_consortium
    from solvers.highs_backend import HighsBackend

    scenario = load_scenario(write_consortium(tmp_path, n_assets=2000, amcs=bench_amcs(8), seed=0))
    prepared = prepare(scenario)
    members = {"GD", "HB", "JS", "SC", "SD", "ZJ"}
    assets = prepared.assets[prepared.assets["amc_id"].isin(members)].reset_index(drop=True)
    scenario = coalition_scenario(prepared.scenario, members, float(assets["gbv"].sum() / prepared.assets["gbv"].sum()))

    sessions = []
    lp_session = HighsBackend.lp_session

    def record(self, options=None):
        sessions.append(lp_session(self, options))
        return sessions[-1]

    monkeypatch.setattr(HighsBackend, "lp_session", record)
    warm = selection_model.select_pool(assets, scenario, diagnose=False)
    rounds = warm.info["hhi_lp_rounds"]
    assert rounds >= 3
    [session] = sessions
    assert session.stats["cold_starts"] == 1 and session.stats["solves"] in (rounds, rounds + 1)

    cold_iterations = []
    solve = HighsBackend.solve

    def count(self, problem, options=None, start=None, on_progress=None):
        res = solve(self, problem, options, start, on_progress)
        if not problem.is_mip:
            cold_iterations.append(res.info["simplex_iterations"])
        return res

    monkeypatch.setattr(HighsBackend, "capabilities", dataclasses.replace(HighsBackend.capabilities, warm_start=False))
    monkeypatch.setattr(HighsBackend, "solve", count)
    cold = selection_model.select_pool(assets, scenario, diagnose=False)
    assert len(sessions) == 1  # a backend without warm starts solves each round cold
    assert cold.info["hhi_lp_rounds"] == rounds
    # the same LP rounds: the same cuts, to the same bound and pool
    assert cold.info["lp_bound"] == pytest.approx(warm.info["lp_bound"], rel=1e-9)
    assert session.stats["iterations"] < sum(cold_iterations[: session.stats["solves"]])


@pytest.mark.parametrize("hhi", [None, {"province": 0.5}])
def test_an_infeasible_lp_relaxation_is_solved_once(hhi, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool whose LP relaxation has no solution (a size window above the assets' gbv) is reported infeasible after
    one LP solve — with HHI bounds (the cut rounds' LP session) and without — not three (a third of the 8-AMC
    benchmark's coalitions are such)."""
    from solvers.highs_backend import HighsBackend, HighsLpSession
    from tests.pools import small_pool

    assets = small_pool(3, n=300, n_amcs=2)
    limits = {} if hhi is None else {"max_hhi": hhi}
    scenario = _local_scenario(assets, {"size": {"min": 2.0 * float(assets["gbv"].sum())}, "limits": limits})
    lps = []
    solve, session_solve = HighsBackend.solve, HighsLpSession.solve

    def record(self, problem, options=None, start=None, on_progress=None):
        lps.append("mip" if problem.is_mip else "lp")
        return solve(self, problem, options, start, on_progress)

    def record_session(self, problem, free, values, options=None):
        lps.append("session")
        return session_solve(self, problem, free, values, options)

    monkeypatch.setattr(HighsBackend, "solve", record)
    monkeypatch.setattr(HighsLpSession, "solve", record_session)
    with pytest.raises(Infeasible):
        selection_model.select_pool(assets, scenario, diagnose=False)
    assert lps == (["lp"] if hhi is None else ["session"]), lps


def test_select_pools_lp_relaxations_run_without_presolve_to_the_same_optimum(
        hhi_slice, monkeypatch: pytest.MonkeyPatch) -> None:
    """select_pool solves its LP relaxations (the HHI cut rounds' session, the strategy's LP) without HiGHS's
    presolve — on these LPs it removed nothing and took ~40% of the time — and the LP optimum is the one presolve
    reaches; the MILPs (repairs) keep presolve."""
    from solvers import Options
    from solvers.highs_backend import HighsBackend, HighsLpSession

    assets, scenario = hhi_slice
    model, _ = selection_model.build_model(assets, scenario)
    relaxed = model.problem.relaxed()
    backend = HighsBackend()
    on = backend.solve(relaxed, Options(lp_presolve=True))
    off = backend.solve(relaxed, Options(lp_presolve=False))
    assert on.status.value == off.status.value == "optimal"
    assert off.objective == pytest.approx(on.objective, rel=1e-9, abs=1e-12)

    seen: list[tuple[str, bool]] = []
    solve, reset = HighsBackend.solve, HighsLpSession._reset

    def record(self, problem, options=None, start=None, on_progress=None):
        seen.append(("mip" if problem.is_mip else "lp", options.lp_presolve))
        return solve(self, problem, options, start, on_progress)

    def record_reset(self, problem, free, options):
        seen.append(("session", options.lp_presolve))
        reset(self, problem, free, options)
        assert self.h.getOptionValue("presolve")[1] == "off"

    from tests.pools import small_pool

    small = small_pool(5, n=300, n_amcs=2)
    scenario = _local_scenario(small, {"size": {"max": 0.5 * float(small["gbv"].sum())},
                                       "limits": {"max_hhi": {"province": 0.3}}})
    monkeypatch.setattr(HighsBackend, "solve", record)
    monkeypatch.setattr(HighsLpSession, "_reset", record_reset)
    sel = selection_model.select_pool(small, scenario, strategy="lp_round")
    assert sel.status in ("optimal", "feasible")
    kinds = {kind for kind, _ in seen}
    assert "session" in kinds and "mip" in kinds
    assert all(not presolve for _, presolve in seen)  # the flag travels with every solve

    # ... and a MILP solved with it keeps HiGHS's presolve (the flag is for LPs only)
    made = []
    highs = HighsBackend._highs

    def keep(self, options):
        made.append(highs(self, options))
        return made[-1]

    monkeypatch.setattr(HighsBackend, "_highs", keep)
    model, _ = selection_model.build_model(small, scenario)
    solve(backend, model.problem, Options(lp_presolve=False, mip_max_nodes=1))
    solve(backend, model.problem.relaxed(), Options(lp_presolve=False))
    assert [h.getOptionValue("presolve")[1] for h in made] == ["choose", "off"]
