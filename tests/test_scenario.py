"""The scenario file: the DESIGN §3.2 example verbatim, unknown keys, clear messages, relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pooling.errors import ScenarioError
from pooling.scenario import load_scenario, parse_scenario

DESIGN_EXAMPLE = """
name: demo-consortium
as_of: 2026-06-30
amcs:
  - {id: NAT, name: National AMC, kind: national, tape: data/nat.csv, max_share: 0.6}
  - {id: ZJ, kind: local, home_province: CN-ZJ, tape: data/zj.xlsx, min_share: 0.1}
links: data/links.csv
columns: {资产编号: asset_id}          # extra header aliases for these tapes
valuation: {discount_rate: 0.06}
pool:
  objective: npv                        # maximise Σ npv_i x_i
  whole_groups: false
  size: {min: 2.0e9, max: 3.0e9}        # bounds on Σ gbv_i x_i
  limits:
    max_obligor_group_share: 0.03       # each obligor group (pooled graph components)
    max_top10_group_share: 0.20
    max_province_share: 0.25            # each province
    max_industry_share: 0.30            # each industry section
    max_collateral_share: 0.40          # each collateral type
    min_secured_share: 0.50             # collateral_type not in {unsecured, guarantee_only}
    min_wa_recovery_rate: 0.20          # Σ expected_recovery / Σ gbv
    max_wa_months_to_recovery: 48       # gbv-weighted expected_months
    max_hhi: {province: 0.15}
structure: {convention: china, payment_frequency: semiannual, legal_maturity_years: 5, senior_coupon: 0.025}
solver: {backend: highs, mip_rel_gap: 1.0e-4, time_limit_s: 600}   # backend: highs | pyomo
"""


def test_design_example_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(DESIGN_EXAMPLE, encoding="utf-8")
    s = load_scenario(path)
    assert [a.id for a in s.amcs] == ["NAT", "ZJ"]
    assert s.amcs[0].max_share == 0.6 and s.amcs[1].min_share == 0.1 and s.amcs[1].home_province == "CN-ZJ"
    assert s.pool.size.min == 2.0e9 and s.pool.limits.max_hhi == {"province": 0.15}
    assert s.pool.limits.max_wa_months_to_recovery == 48
    assert s.tape_path(s.amcs[1]) == tmp_path.resolve() / "data" / "zj.xlsx"
    assert s.links_path == tmp_path.resolve() / "data" / "links.csv"
    assert s.columns == {"资产编号": "asset_id"}
    assert s.solver.backend == "highs" and s.structure.payment_frequency == "semiannual"
    # absent limits do not constrain
    assert s.pool.limits.max_asset_type_share is None and s.pool.limits.min_effective_number == {}


def _base() -> dict:
    return {"name": "x", "as_of": "2026-06-30", "amcs": [{"id": "A", "kind": "national", "tape": "a.csv"}]}


@pytest.mark.parametrize(
    ("patch", "key", "words"),
    [
        ({"pool": {"limits": {"max_provence_share": 0.2}}}, "pool.limits.max_provence_share", "unknown key"),
        ({"pool": {"limits": {"max_province_share": 1.5}}}, "pool.limits.max_province_share", "less than or equal to 1"),
        ({"pool": {"objective": "irr"}}, "pool.objective", "'stressed_npv' or 'tail_npv'"),
        ({"pool": {"size": {"min": 5, "max": 1}}}, "pool.size", "above size.max"),
        ({"solver": {"backend": "cplex"}}, "solver.backend", "'highs' or 'pyomo'"),
        ({"amcs": [{"id": "A", "kind": "regional", "tape": "a.csv"}]}, "amcs.0.kind", "'national' or 'local'"),
        ({"amcs": [{"id": "A", "kind": "local", "home_province": "Narnia", "tape": "a.csv"}]}, "amcs.0.home_province", "unknown province"),
        ({"amcs": [{"id": "A", "kind": "local", "tape": "a.csv", "min_share": 0.5, "max_share": 0.2}]}, "amcs.0", "above max_share"),
        ({"amcs": [{"id": "A", "kind": "local", "tape": "a.csv"}, {"id": "A", "kind": "local", "tape": "b.csv"}]}, "(top level)", "unique"),
        ({"columns": {"资产编号": "asset_number"}}, "columns", "unknown canonical name"),
        ({"valuation": {"model": {"base_rate": {"car_loan": 0.1}}}}, "valuation.model", "unknown key"),
        ({"as_of": "June"}, "as_of", "date"),
        ({"pool": {"limits": {"max_hhi": {"planet": 0.1}}}}, "pool.limits.max_hhi.planet", "province"),
    ],
)
def test_clear_messages(patch: dict, key: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({**_base(), **patch}, "s.yaml")
    keys = [k for k, _, _ in info.value.problems]
    assert key in keys, info.value.problems
    text = " ".join(p for k, _, p in info.value.problems if k == key)
    assert words in text, text


def test_all_problems_at_once() -> None:
    bad = {**_base(), "pool": {"limits": {"max_province_share": 2, "typo": 1}}, "solver": {"backend": "x"}}
    with pytest.raises(ScenarioError) as info:
        parse_scenario(bad, "s.yaml")
    assert len(info.value.problems) == 3


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\namcs: [\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="line"):
        load_scenario(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("!!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("patch", "key", "nearest"),
    [
        ({"pool": {"limitz": {}}}, "pool.limitz", "limits"),
        ({"pool": {"limits": {"max_provnce_share": 0.2}}}, "pool.limits.max_provnce_share", "max_province_share"),
        ({"amcs": [{"id": "A", "kind": "national", "tape": "a.csv", "max_shar": 0.5}]}, "amcs.0.max_shar", "max_share"),
        ({"structure": {"mezzanine": {"cupon": 0.05}}}, "structure.mezzanine.cupon", "coupon"),
        ({"consortium": {"servicers": [{"amc": "A", "fee_rat": 0.1}]}}, "consortium.servicers.0.fee_rat", "fee_rate"),
        ({"solvr": {}}, "solvr", "solver"),
    ],
)
def test_misspelt_key_names_the_nearest_valid_key(patch: dict, key: str, nearest: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({**_base(), **patch}, "s.yaml")
    problem = dict((k, p) for k, _, p in info.value.problems)[key]
    assert f"did you mean {nearest!r}?" in problem


def test_a_key_far_from_any_valid_one_gets_no_guess() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({**_base(), "pool": {"zzzzzz": 1}}, "s.yaml")
    assert info.value.problems[0][2] == "unknown key; check its spelling against docs/scenario.md"


def test_overrides_are_validated() -> None:
    """with_overrides rebuilds through the model: a bad value is refused (model_copy would take it silently)."""
    from pooling.scenario import with_overrides

    s = parse_scenario(_base(), "s.yaml")
    assert s.solver.model_copy(update={"time_limit_s": -5}).time_limit_s == -5  # why model_copy is not enough
    with pytest.raises(ScenarioError, match="greater than 0"):
        with_overrides(s, {"solver.time_limit_s": -5})
    with pytest.raises(ScenarioError, match="did you mean 'strategy'"):
        with_overrides(s, {"solver.stratgy": "milp"})
    t = with_overrides(s, {"solver.strategy": "milp", "structure.servicer_base_fee": "plan", "solver.backend": None})
    assert (t.solver.strategy, t.structure.servicer_base_fee, t.solver.backend) == ("milp", "plan", "highs")
    assert t.base_dir == s.base_dir and t.amcs == s.amcs


@pytest.mark.parametrize(("value", "ok"), [(0.08, True), ("plan", True), ("planned", False), (1.5, False)])
def test_servicer_base_fee_is_a_share_or_plan(value: object, ok: bool) -> None:
    data = {**_base(), "structure": {"servicer_base_fee": value}}
    if ok:
        assert parse_scenario(data, "s.yaml").structure.servicer_base_fee == value
    else:
        with pytest.raises(ScenarioError, match="servicer_base_fee"):
            parse_scenario(data, "s.yaml")


def test_paths_that_lead_out_of_the_scenario_folder_are_refused(tmp_path: Path) -> None:
    """Absolute paths, '..' escapes and symlinks pointing out are all named at once; --allow-outside lets them."""
    import pooling.scenario as scenario_module
    from pooling.errors import ScenarioError

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "t.csv").write_text("x")
    inside = tmp_path / "deal"
    (inside / "data").mkdir(parents=True)
    (inside / "data" / "link.csv").symlink_to(outside / "t.csv")
    (inside / "data" / "ok.csv").write_text("x")
    path = inside / "scenario.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "as_of": "2026-06-30", "links": "../elsewhere/t.csv", "amcs": [
        {"id": "A", "kind": "national", "tape": str(outside / "t.csv")},
        {"id": "B", "kind": "national", "tape": "data/link.csv"},
        {"id": "C", "kind": "national", "tape": "data/ok.csv"},
        {"id": "D", "kind": "national", "tape": "data/../data/ok.csv"}]}), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    keys = {k: p for k, _, p in info.value.problems}
    assert set(keys) == {"amcs[0].tape", "amcs[1].tape", "links"}
    assert "absolute path" in keys["amcs[0].tape"] and "symlink" in keys["amcs[1].tape"] and "'..'" in keys["links"]
    assert all("--allow-outside" in p for p in keys.values())
    scenario_module.ALLOW_OUTSIDE = True
    try:
        assert load_scenario(path).amcs[0].id == "A"
    finally:
        scenario_module.ALLOW_OUTSIDE = False


def test_allow_outside_is_a_global_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pooling.cli.main import app

    (tmp_path / "t.csv").write_text("asset_id\n")
    (tmp_path / "deal").mkdir()
    path = tmp_path / "deal" / "scenario.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "as_of": "2026-06-30",
                                    "amcs": [{"id": "A", "kind": "national", "tape": "../t.csv"}]}), encoding="utf-8")
    refused = CliRunner().invoke(app, ["validate", str(path), "--out", str(tmp_path / "o1")])
    assert refused.exit_code == 1 and "leads out of" in refused.output
    allowed = CliRunner().invoke(app, ["--allow-outside", "validate", str(path), "--out", str(tmp_path / "o2")])
    assert allowed.exit_code == 1 and "leads out of" not in allowed.output  # read now: the tape itself is bad
