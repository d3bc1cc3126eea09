"""Docs that cannot drift: every scenario key is documented in docs/scenario.md, and the command samples in
README.md, docs/commands.md and docs/scenario.md are what the commands print today (docs/samples.py writes them)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from pooling.scenario import Scenario
from pooling.study.engine import _is_model, _unwrap  # the study's walk of the same schema

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DOC = ROOT / "docs" / "scenario.md"


def schema_keys(model: type[BaseModel] = Scenario, section: str = "") -> list[tuple[str, str, typing.Any]]:
    """(section, key, field) for every field of every model reachable from ``model``.

    A nested model's fields are in the section named by its dotted path; a list of models adds ``[]``
    (``amcs[]``), a mapping name → model adds ``.<name>`` (``structure.stresses.<name>``).
    """
    out = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        out.append((section, name, info))
        path = f"{section}.{name}" if section else name
        tp = _unwrap(info.annotation)
        origin = typing.get_origin(tp)
        if _is_model(tp):
            out += schema_keys(tp, path)
        elif origin is list and _is_model(_unwrap(typing.get_args(tp)[0])):
            out += schema_keys(_unwrap(typing.get_args(tp)[0]), f"{path}[]")
        elif origin is dict and _is_model(_unwrap(typing.get_args(tp)[1])):
            out += schema_keys(_unwrap(typing.get_args(tp)[1]), f"{path}.<name>")
    return out


_HEADING = re.compile(r"^#{2,4} (?:`(?P<path>[^`]+)`|(?P<top>Top level))\s*$")


_SAME_KEYS = re.compile(r"^The same keys as `(?P<path>[^`]+)`")


def documented_keys(text: str) -> set[str]:
    """Dotted keys documented in docs/scenario.md: the first cell of each table row under a heading that names
    a section in backticks (``### `pool.limits` ``; ``### Top level``), several keys separated by commas; a
    section whose text starts a line with "The same keys as `other.section`" documents that section's keys."""
    keys: set[str] = set()
    aliases: dict[str, str] = {}
    section: str | None = None
    fenced = False
    for line in text.splitlines():
        same = _SAME_KEYS.match(line)
        if same and section:
            aliases[section] = same["path"]
        if line.startswith("```"):
            fenced = not fenced
        if fenced or line.startswith("```"):
            continue
        if line.startswith("#"):
            m = _HEADING.match(line)
            section = None if m is None else (m["path"] or "")
            if section:
                keys.add(section)
            continue
        if section is None or not line.startswith("|"):
            continue
        first = line.split("|")[1].strip()
        if first in ("key", "limit") or set(first) <= set("-: "):
            continue
        for key in first.split(","):
            key = key.strip().strip("`")
            keys.add(f"{section}.{key}" if section else key)
    for section, other in aliases.items():
        keys |= {section + k[len(other):] for k in list(keys) if k.startswith(other + ".")}
    return keys


def _row_hint(key: str, info: typing.Any) -> str:
    value = None if info.is_required() else info.get_default(call_default_factory=True)
    default = ("required" if info.is_required() else "none" if value is None
               else "{}" if isinstance(value, BaseModel) else repr(value))
    return f"| {key} | {default} | <what it does, in what unit> |"


def test_every_scenario_key_is_documented() -> None:
    documented = documented_keys(SCENARIO_DOC.read_text(encoding="utf-8"))
    missing = []
    for section, key, info in schema_keys():
        path = f"{section}.{key}" if section else key
        if path not in documented:
            where = f"the heading ### `{section}`" if section else "the heading ### Top level"
            missing.append(f"  - {path}: add the row  {_row_hint(key, info)}  to the table under "
                           f"{where} (make the heading if there is none)")
    assert not missing, "docs/scenario.md does not document these scenario keys:\n" + "\n".join(missing)


def test_scenario_doc_names_no_key_the_schema_lacks() -> None:
    schema = set()
    for section, key, _ in schema_keys():
        schema |= {f"{section}.{key}" if section else key, section}
    stale = sorted(documented_keys(SCENARIO_DOC.read_text(encoding="utf-8")) - schema)
    assert not stale, f"docs/scenario.md documents keys the scenario schema does not have (remove them): {stale}"


def test_schema_walk_reaches_nested_models() -> None:
    """The walk itself: nested models, lists of models and maps of models all contribute their fields."""
    paths = {f"{s}.{k}" if s else k for s, k, _ in schema_keys()}
    assert {"structure.servicer_base_fee", "pool.limits.max_hhi", "amcs[].max_share", "valuation.model.speed",
            "structure.stresses.<name>.haircut", "consortium.servicers[].fee_rate", "pool.size.min"} <= paths
    assert "base_dir" not in paths
    doc = ("### `pool.limits`\n| limit | bounds |\n|---|---|\n| max_hhi, `min_effective_number` | x |\n"
           "```yaml\n# a comment in a code block\n| not_a_row | x |\n```\n| max_top10_group_share | y |\n"
           "## Other\n| a | b |\n")
    assert documented_keys(doc) == {"pool.limits", "pool.limits.max_hhi", "pool.limits.min_effective_number",
                                    "pool.limits.max_top10_group_share"}


# ---------------------------------------------------------------------------------------------- doctests


def test_docstring_examples_run() -> None:
    """Every docstring example in pooling/ and solvers/ runs and prints what it shows."""
    import doctest
    import pkgutil

    import pooling
    import solvers

    attempted = 0
    failures = []
    for package in (pooling, solvers):
        names = [package.__name__] + [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
        for name in names:
            module = importlib.import_module(name)
            result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                     verbose=False, report=False)
            attempted += result.attempted
            if result.failed:
                failures.append(f"{name}: {result.failed} of {result.attempted} example(s) failed")
    assert not failures, "\n".join(failures) + "\n(run: python -m doctest -v <module file>)"
    assert attempted >= 5


# ---------------------------------------------------------------------------------------------- samples


def _samples_module() -> types.ModuleType:
    """docs/samples.py (a script, not part of the package), imported once."""
    if "docs_samples" not in sys.modules:
        spec = importlib.util.spec_from_file_location("docs_samples", ROOT / "docs" / "samples.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["docs_samples"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["docs_samples"]


def test_every_sample_has_one_block() -> None:
    samples = _samples_module()
    found = [name for path in samples.FILES for name in samples.blocks(path.read_text(encoding="utf-8"))]
    assert sorted(found) == sorted(s.name for s in samples.SAMPLES), "each sample is shown exactly once"


def test_normalise_masks_timings_and_scratch_paths(tmp_path: Path) -> None:
    samples = _samples_module()
    a = f"solved in 0.6s, 3 run(s) in 12.5 s, 0:00:04 eta; wrote {tmp_path}/out/demo"
    b = "solved in 1.2s, 3 run(s) in 9.0 s, 0:01:10 eta; wrote out/demo"
    assert samples.normalise(a, tmp_path) == samples.normalise(b)
    assert samples.normalise("npv CNY 4,518.0m, gap 4.98e-05") != samples.normalise("npv CNY 4,518.1m, gap 4.98e-05")


@pytest.mark.slow
def test_command_samples_are_current() -> None:
    """Every sample but the frontier (minutes; `python docs/samples.py --only frontier` rewrites it) is run again
    — about 25 s on 2 cores: the demo's validate, describe, optimize, run, size and consortium — and compared with
    its block, timings and scratch paths aside."""
    samples = _samples_module()
    names = [s.name for s in samples.SAMPLES if s.name not in samples.SLOW]
    diffs = samples.stale(samples.run_samples(names))
    assert not diffs, ("command samples are stale; regenerate them with `python docs/samples.py` "
                       "(docs/commands.md, Keeping the samples current):\n" + "\n\n".join(diffs))
