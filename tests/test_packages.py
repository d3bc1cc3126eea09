"""Marginal value of packages (packages.csv): the dual estimate against warm re-solves, what a re-solve selects from
its package, the table recomputed from pool.csv and the tapes, the output contract, the 资产包 tape header and
determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pooling.consortium.game import Game, analyse
from pooling.consortium.packages import PACKAGE_COLUMNS, package_labels, package_table
from pooling.outputs import CONSORTIUM_FILES
from pooling.pipeline import prepare, run_scenario, write_run
from pooling.scenario import load_scenario, parse_scenario, with_overrides
from pooling.tapes.load import load_tapes
from pooling.tapes.synth import demo_amcs, write_consortium

# ------------------------------------------------------------------------------------------ a game one can see
#: package → (AMC, assets, npv per CNY of gbv); every asset has gbv 100. The pool holds at most 24 assets: the 16 of
#: the four good packages and 8 of the 20 fillers, so the size bound's dual is the fillers' 0.3 npv per gbv.
PACKAGES = {"hi": ("A", 4, 0.9), "mid": ("A", 4, 0.6), "good": ("B", 4, 0.8), "ok": ("B", 4, 0.45),
            "fill": ("B", 20, 0.3), "junk": ("A", 4, 0.1)}
#: by hand, inside the LP's basis: withdrawing a good package swaps its assets for fillers (a loss of
#: (ratio − 0.3) × 100 per asset); adding junk displaces fillers (0.2 × 100 per asset)
BY_HAND = {"hi": 240.0, "mid": 120.0, "good": 200.0, "ok": 60.0, "junk": -80.0}
#: the marginal package leaves the basis: its reduced costs are 0, but withdrawing it loses its 8 selected fillers
#: (8 × 30) and takes in the junk instead (4 × 10): the dual estimate is a bound, not the value
FILL_RESOLVE = 200.0


def _clean_game() -> tuple[pd.DataFrame, object]:
    rows = []
    for name, (amc, n, ratio) in PACKAGES.items():
        for i in range(n):
            rows.append({"amc_id": amc, "asset_id": f"{name}{i}", "obligor_id": f"o-{name}{i}",
                         "group_id": f"G:{name}{i}", "circle_id": "", "province": "CN-ZJ", "industry": "C",
                         "collateral_type": "residential", "asset_type": "corporate", "legal_status": "litigation",
                         "gbv": 100.0, "expected_recovery": 100.0 * ratio / 0.9, "expected_months": 12.0,
                         "npv": 100.0 * ratio, "package": name})
    assets = pd.DataFrame(rows)
    scenario = parse_scenario({
        "name": "packages", "as_of": "2026-06-30",
        "amcs": [{"id": a, "kind": "national", "tape": f"{a}.csv"} for a in ("A", "B")],
        "pool": {"size": {"max": 2400.0}, "limits": {}},
        "consortium": {"measure": "npv", "workers": 1, "package_resolves": 5},
        "solver": {"mip_rel_gap": 0.0},
    }, "p.yaml")
    return assets, scenario


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    assets, scenario = _clean_game()
    return analyse(assets, scenario).packages


def test_dual_estimate_and_resolves_agree_with_the_hand_values(clean: pd.DataFrame) -> None:
    t = clean.set_index("package")
    assert set(t.index) == set(PACKAGES)
    assert (t["method"] == "resolve").all()  # 5 per AMC and what-if: every package re-solved
    assert t.loc["junk", "whatif"] == "add" and (t.drop("junk")["whatif"] == "withdraw").all()
    for name, value in BY_HAND.items():
        assert t.loc[name, "dual_value"] == pytest.approx(value, abs=1e-6), name
        assert t.loc[name, "resolve_value"] == pytest.approx(value, abs=1e-6), name
    # sign and order agree: the dual estimate ranks the packages as the re-solves do
    inside = t.loc[list(BY_HAND)]
    assert (np.sign(inside["dual_value"].round(6)) == np.sign(inside["resolve_value"].round(6))).all()
    order = inside.sort_values("dual_value", kind="stable").index
    assert inside.loc[order, "resolve_value"].is_monotonic_increasing
    assert t.loc["junk", "resolve_in_pool_share"] == pytest.approx(1.0)  # the bonus drew all of junk in
    # beyond the basis the estimate is a bound (concavity of the LP value in the column bounds): a withdrawal loses
    # at least its estimate, an add costs at least its estimate
    assert t.loc["fill", "dual_value"] == pytest.approx(0.0, abs=1e-6)
    assert t.loc["fill", "resolve_value"] == pytest.approx(FILL_RESOLVE, abs=1e-6)
    w, a = t[t["whatif"] == "withdraw"], t[t["whatif"] == "add"]
    assert (w["resolve_value"] >= w["dual_value"] - 1e-6).all()
    assert (a["resolve_value"] <= a["dual_value"] + 1e-6).all()


def test_package_resolves_zero_keeps_the_dual_estimate_only() -> None:
    assets, scenario = _clean_game()
    game = Game(assets, scenario, workers=1)
    t = package_table(game, "npv", 0)
    assert (t["method"] == "dual").all() and t["resolve_value"].isna().all()
    again = package_table(game, "npv", 0)
    pd.testing.assert_frame_equal(t, again)


def test_no_grand_pool_no_resolves() -> None:
    """An infeasible grand coalition has no deal to re-solve around: every package is an add, by its dual only."""
    assets, scenario = _clean_game()
    # every asset is residential: a 50% cap on one collateral type leaves only the empty pool, below the size floor
    scenario = with_overrides(scenario, {"pool.size.min": 100.0, "pool.limits.max_collateral_share": 0.5})
    t = package_table(Game(assets, scenario, workers=1), "npv", 5)
    assert len(t) == len(PACKAGES)
    assert (t["whatif"] == "add").all() and (t["method"] == "dual").all() and (t["pool_gbv"] == 0).all()


# ------------------------------------------------------------------------------------------ a game from tapes
SMALL = {"pool.limits.max_obligor_group_share": 0.08, "pool.limits.max_top10_group_share": 0.5,
         "consortium.coalition_time_limit_s": 30.0, "consortium.workers": 1, "consortium.package_resolves": 2,
         "solver.time_limit_s": 30.0}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-asset consortium whose GD tape (GBK, Chinese headers) names its packages under the header 资产包 (one
    row left blank)."""
    folder = write_consortium(tmp_path_factory.mktemp("packages"), n_assets=400, amcs=demo_amcs(), seed=3)
    scenario = load_scenario(folder)
    gd = next(a for a in scenario.amcs if a.id == "GD")
    path = scenario.base_dir / gd.tape
    tape = pd.read_csv(path, dtype=str, encoding="gb18030", keep_default_na=False)
    labels = np.where(np.arange(len(tape)) % 3 == 0, "广东一号包", "广东二号包").astype(object)
    labels[1] = ""
    tape["资产包"] = labels
    tape.to_csv(path, index=False, encoding="gb18030")
    return folder


@pytest.fixture(scope="module")
def run_dir(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = with_overrides(load_scenario(folder), SMALL)
    result = run_scenario(scenario, size=False, consortium=True)
    out = tmp_path_factory.mktemp("run")
    write_run(out, result)
    return out


def test_tape_header_资产包_is_the_package(folder: Path) -> None:
    tapes = load_tapes(load_scenario(folder))
    gd = tapes.assets[tapes.assets["amc_id"] == "GD"].reset_index(drop=True)
    assert set(gd["package"]) == {"广东一号包", "广东二号包", ""}
    labels = package_labels(gd)
    blank = (gd["package"] == "").to_numpy()
    assert blank.sum() == 1
    # a blank package falls back to the default rule: province / collateral type
    default = gd["province"].astype(str) + "/" + gd["collateral_type"].astype(str)
    assert (labels[blank] == default[blank]).all()
    assert (labels[~blank] == gd.loc[~blank, "package"]).all()
    # AMCs whose tapes have no package column: the default rule throughout
    other = tapes.assets[tapes.assets["amc_id"] == "ZJ"].reset_index(drop=True)
    assert (other["package"] == "").all()  # a text column some tape lacks is blank there
    assert (package_labels(other) == other["province"].astype(str) + "/" + other["collateral_type"].astype(str)).all()


def test_packages_csv_contract(run_dir: Path) -> None:
    assert "packages.csv" in CONSORTIUM_FILES
    t = pd.read_csv(run_dir / "packages.csv", encoding="utf-8-sig", dtype={"amc_id": str, "package": str},
                    keep_default_na=False, na_values=[""])
    assert tuple(t.columns) == PACKAGE_COLUMNS
    assert not t.duplicated(["amc_id", "package"]).any()
    assert set(t["whatif"]) <= {"withdraw", "add"} and set(t["method"]) <= {"dual", "resolve"}
    assert ((t["whatif"] == "withdraw") == (t["pool_gbv"] > 0)).all()
    resolved = t[t["method"] == "resolve"]
    assert len(resolved) and resolved["resolve_value"].notna().all()
    assert t.loc[t["method"] == "dual", "resolve_value"].isna().all()
    # at most package_resolves (2) re-solves per AMC and what-if
    assert resolved.groupby(["amc_id", "whatif"]).size().max() <= 2
    # a withdrawal's reduced cost is ≥ 0, an add's ≤ 0 (the bounds' duals)
    assert (t.loc[t["whatif"] == "withdraw", "reduced_cost"] >= -1e-6).all()
    assert (t.loc[t["whatif"] == "add", "reduced_cost"] <= 1e-6).all()


def test_a_withdrawal_never_selects_more_of_its_package_and_an_add_never_less(run_dir: Path) -> None:
    t = pd.read_csv(run_dir / "packages.csv", encoding="utf-8-sig", dtype={"amc_id": str, "package": str})
    r = t[t["method"] == "resolve"]
    w, a = r[r["whatif"] == "withdraw"], r[r["whatif"] == "add"]
    assert len(w) and len(a)
    assert (w["resolve_in_pool_share"] <= w["in_pool_share"] + 1e-12).all()
    assert (w["resolve_in_pool_share"] == 0).all()
    assert (a["resolve_in_pool_share"] >= a["in_pool_share"] - 1e-12).all()


def test_package_values_recomputed_from_pool_csv_and_the_tapes(folder: Path, run_dir: Path) -> None:
    t = pd.read_csv(run_dir / "packages.csv", encoding="utf-8-sig", dtype={"amc_id": str, "package": str})
    coalitions = pd.read_csv(run_dir / "coalitions.csv", encoding="utf-8-sig")
    pool = pd.read_csv(run_dir / "pool.csv", encoding="utf-8-sig", dtype={"amc_id": str, "asset_id": str})
    grand = coalitions.loc[coalitions["n_members"] == coalitions["n_members"].max()].iloc[0]
    assert grand["n_assets"] == len(pool)  # the game's grand pool is the run's pool here
    assert grand["pool_gbv"] == pytest.approx(pool["gbv"].sum(), abs=1.0)
    # each asset's package from the tapes, independently of the code under test: the tape's 资产包, else the
    # default rule (province/collateral_type)
    assets = prepare(with_overrides(load_scenario(folder), SMALL)).assets
    pkg = assets["package"].fillna("").astype(str) if "package" in assets else pd.Series("", index=assets.index)
    pkg = pkg.where(pkg != "", assets["province"].astype(str) + "/" + assets["collateral_type"].astype(str))
    keyed = assets[["amc_id", "asset_id", "gbv", "npv"]].astype({"amc_id": str, "asset_id": str}).assign(package=pkg)
    contributed = keyed.groupby(["amc_id", "package"]).agg(n_assets=("gbv", "size"), gbv=("gbv", "sum"),
                                                          npv=("npv", "sum"))
    in_pool = pool[["amc_id", "asset_id"]].merge(keyed, on=["amc_id", "asset_id"], how="left", validate="1:1")
    assert in_pool["package"].notna().all()
    selected = in_pool.groupby(["amc_id", "package"])["gbv"].sum()
    got = t.set_index(["amc_id", "package"])
    assert set(got.index) == set(contributed.index)
    assert (got["n_assets"] == contributed.loc[got.index, "n_assets"]).all()
    assert np.allclose(got["gbv"], contributed.loc[got.index, "gbv"], rtol=1e-12)
    assert np.allclose(got["npv"], contributed.loc[got.index, "npv"], rtol=1e-12)
    expected_pool = selected.reindex(got.index, fill_value=0.0)
    assert np.allclose(got["pool_gbv"], expected_pool, atol=0.05)  # pool.csv is written to the fen
    assert np.allclose(got["in_pool_share"], expected_pool / got["gbv"], atol=1e-9)
    assert {"广东一号包", "广东二号包"} <= set(got.loc["GD"].index)  # the tape's own packages are the ones valued
    # only packages that move more npv than the selection's gap are re-solved
    pool_npv = in_pool.groupby(["amc_id", "package"])["npv"].sum().reindex(got.index, fill_value=0.0)
    moved = np.where(got["whatif"] == "withdraw", pool_npv, got["npv"] - pool_npv)
    tolerance = with_overrides(load_scenario(folder), SMALL).solver.mip_rel_gap * in_pool["npv"].sum()
    assert (moved[(got["method"] == "resolve").to_numpy()] > tolerance * (1 - 1e-9)).all()


def test_same_inputs_same_packages(folder: Path, run_dir: Path, tmp_path: Path) -> None:
    scenario = with_overrides(load_scenario(folder), SMALL)
    write_run(tmp_path, run_scenario(scenario, size=False, consortium=True))
    again, first = (pd.read_csv(d / "packages.csv", encoding="utf-8-sig") for d in (tmp_path, run_dir))
    pd.testing.assert_frame_equal(again, first)
    assert (tmp_path / "packages.csv").read_bytes() == (run_dir / "packages.csv").read_bytes()


def test_console_line_names_each_amcs_weightiest_withdrawal(run_dir: Path) -> None:
    from pooling.cli.main import _packages_line

    t = pd.read_csv(run_dir / "packages.csv", encoding="utf-8-sig", dtype={"amc_id": str, "package": str})
    line = _packages_line(t)
    assert f"{len(t):,} packages, {int((t['method'] == 'resolve').sum())} re-solved" in line
    for amc, rows in t[t["whatif"] == "withdraw"].groupby("amc_id"):
        resolved = rows[rows["method"] == "resolve"]
        pick = resolved.loc[resolved["resolve_value"].abs().idxmax()] if len(resolved) else \
            rows.loc[rows["dual_value"].abs().idxmax()]
        assert f"{amc} {pick['package']} " in line
