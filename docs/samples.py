"""Write the command samples in README.md, docs/commands.md and docs/scenario.md from the commands themselves.

    python docs/samples.py            # rerun every sample and rewrite the blocks (the frontier takes ~20 s)
    python docs/samples.py --check    # exit 1 and show a diff if a block is stale (timings aside)
    python docs/samples.py --skip frontier

A sample block in a Markdown file sits between two markers; everything between them is rewritten::

    <!-- sample: optimize -->
    ```console
    $ pooling optimize scenarios/demo/scenario.yaml --out out/demo
    …what the command printed…
    ```
    <!-- /sample -->

Each sample is a command of :data:`SAMPLES`, run in this order in one scratch folder (so ``size`` reads the pool
``run`` wrote), in-process through the ``pooling`` typer app with stdout and stderr captured as a terminal would
interleave them, as the command prints into a pipe or a log (its own fixed width, no colour). The scratch folder holds a link to the
repository's ``scenarios/`` so the commands and their output show the same relative paths a user types from the
repository root. Run-dependent bits are normalised before blocks are compared (:func:`normalise`): timings
(``solved in 0.6s``) and absolute paths of the scratch folder or the repository. tests/test_docs.py regenerates
every sample except the slow ones (:data:`SLOW`) into memory and fails when a block differs.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the Markdown files that hold sample blocks
FILES = (ROOT / "README.md", ROOT / "docs" / "commands.md", ROOT / "docs" / "scenario.md")


@dataclass(frozen=True)
class Sample:
    """One command whose output is shown in the docs; ``args`` as typed after ``pooling``."""

    name: str
    args: tuple[str, ...]
    #: keep the first ``head`` lines of the output (then a line saying how many were left out); None: all
    head: int | None = None
    #: the exit code the sample shows (an error message is a sample too)
    exit_code: int = 0
    #: (name, text) of files written into the scratch folder before the command runs
    files: tuple[tuple[str, str], ...] = ()


#: a scenario with a misspelt limit and an unknown solver: docs/scenario.md shows how it is reported
_MISSPELT = """name: s
as_of: 2026-06-30
amcs: [{id: NAT, kind: national, tape: scenarios/demo/data/nat.csv}]
pool: {limits: {max_provence_share: 0.2}}
solver: {backend: cplex}
"""

#: the demo's history tapes (as a shell would expand scenarios/demo/history/*)
_HISTORY = tuple(f"scenarios/demo/history/{name}" for name in ("gd.csv", "nat.csv", "sc.csv", "zj.xlsx"))

SAMPLES: tuple[Sample, ...] = (
    Sample("scenario-error", ("validate", "s.yaml", "--out", "out/s"), exit_code=1, files=(("s.yaml", _MISSPELT),)),
    Sample("validate", ("validate", "scenarios/demo/scenario.yaml", "--out", "out/demo")),
    Sample("describe", ("describe", "scenarios/demo/scenario.yaml", "--out", "out/describe"), head=40),
    Sample("optimize", ("optimize", "scenarios/demo/scenario.yaml", "--out", "out/demo")),
    Sample("run", ("run", "scenarios/demo/scenario.yaml", "--out", "out/demo")),
    Sample("size", ("size", "out/demo", "--scenario", "scenarios/demo/scenario.yaml")),
    Sample("consortium", ("consortium", "scenarios/demo/scenario.yaml", "--out", "out/consortium")),
    Sample("frontier", ("frontier", "scenarios/demo/scenario.yaml", "--dimension", "province", "--points", "8",
                        "--out", "out/frontier")),
    Sample("study", ("study", "scenarios/demo/study.yaml", "--out", "out/demo-grid", "--dry-run")),
    Sample("synth", ("synth", "out/small", "--assets", "2000", "--amcs", "3", "--format", "csv")),
    Sample("calibrate", ("calibrate", *_HISTORY, "--out", "models/demo", "--as-of", "2026-06-30",
                         "--holdout-from", "2024-07-01")),
    Sample("backtest", ("backtest", *_HISTORY, "--model", "models/demo", "--out", "out/backtest",
                        "--as-of", "2026-06-30")),
    Sample("shelf", ("shelf", "scenarios/shelf/plan.yaml", "--out", "out/shelf")),
    Sample("value", ("value", "scenarios/demo/scenario.yaml", "--out", "out/value")),
    Sample("synth-collections", ("synth", "out/reports", "--collections", "out/demo", "--months", "12",
                                 "--shortfall", "province=CN-ZJ:0.3")),
    Sample("monitor", ("monitor", "out/demo", "--collections", "out/reports", "--out", "out/monitor")),
)
#: samples too slow for the test run (tests/test_docs.py): the 8-point demo frontier (~20 s on 2 busy cores)
SLOW = frozenset({"frontier"})

_BLOCK = re.compile(r"(<!-- sample: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /sample -->)", re.S)
_TIMING = re.compile(r"\b\d+(?:\.\d+)?(?: ?(?:ms|s|min)\b)")
_CLOCK = re.compile(r"\b\d+:\d\d:\d\d\b")


def normalise(text: str, *roots: Path) -> str:
    """``text`` without what changes from run to run: timings become ``<t>``, the given folders vanish (with
    their trailing slash), trailing spaces go."""
    for root in roots:
        text = text.replace(f"{root}/", "").replace(str(root), ".")
    text = _CLOCK.sub("<t>", _TIMING.sub("<t>", text))
    return "\n".join(line.rstrip() for line in text.splitlines())


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A scratch folder with ``scenarios`` linked to the repository's, as the current folder."""
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="pooling-samples-") as tmp:
        folder = Path(tmp).resolve()
        (folder / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
        os.chdir(folder)
        try:
            yield folder
        finally:
            os.chdir(here)


def run_samples(names: Iterable[str] | None = None) -> dict[str, str]:
    """Run the samples (all, or those named, in :data:`SAMPLES` order) and return name → the block's body."""
    from typer.testing import CliRunner

    from pooling.cli.main import app

    wanted = set(names) if names is not None else {s.name for s in SAMPLES}
    unknown = wanted - {s.name for s in SAMPLES}
    if unknown:
        raise SystemExit(f"unknown sample(s) {sorted(unknown)}; known: {[s.name for s in SAMPLES]}")
    if "size" in wanted:
        wanted.add("run")  # size reads the pool run wrote
    bodies: dict[str, str] = {}
    with _scratch() as folder:
        for sample in SAMPLES:
            if sample.name not in wanted:
                continue
            for name, text in sample.files:
                (folder / name).write_text(text, encoding="utf-8")
            result = CliRunner().invoke(app, list(sample.args), env={"NO_COLOR": "1"})
            if result.exit_code != sample.exit_code:
                raise RuntimeError(f"sample {sample.name!r}: `pooling {' '.join(sample.args)}` exited "
                                   f"{result.exit_code}, not {sample.exit_code}:\n{result.output}") from result.exception
            text = result.output.replace(f"{folder}/", "").replace(f"{ROOT}/", "")
            lines = [line.rstrip() for line in text.splitlines()]
            if sample.head is not None and len(lines) > sample.head:
                lines = [*lines[:sample.head], f"… ({len(lines) - sample.head} more lines)"]
            shown = "\n".join(lines) + (f"\n(exit code {sample.exit_code})" if sample.exit_code else "")
            bodies[sample.name] = "```console\n$ pooling " + " ".join(sample.args) + "\n" + shown + "\n```\n"
    return bodies


def blocks(text: str) -> dict[str, str]:
    """name → body of every sample block in a Markdown text."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def fill(text: str, bodies: dict[str, str]) -> str:
    """``text`` with the body of every block named in ``bodies`` replaced."""
    return _BLOCK.sub(lambda m: m[1] + bodies.get(m["name"], m["body"]) + m[4], text)


def stale(bodies: dict[str, str]) -> list[str]:
    """A unified diff per block whose text differs from ``bodies`` after :func:`normalise`; [] when current."""
    diffs = []
    for path in FILES:
        for name, body in blocks(path.read_text(encoding="utf-8")).items():
            if name not in bodies:
                continue
            old, new = normalise(body), normalise(bodies[name])
            if old != new:
                diff = difflib.unified_diff(old.splitlines(), new.splitlines(), f"{path.name} [{name}]",
                                            "the command now", lineterm="")
                diffs.append("\n".join(diff))
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block is stale")
    parser.add_argument("--only", nargs="*", help="run only these samples")
    parser.add_argument("--skip", nargs="*", default=[], help="do not run these samples (their blocks stay)")
    args = parser.parse_args(argv)
    names = [s.name for s in SAMPLES if (args.only is None or s.name in args.only) and s.name not in args.skip]
    bodies = run_samples(names)
    if args.check:
        diffs = stale(bodies)
        print("\n\n".join(diffs) if diffs else f"{len(bodies)} sample(s) current")
        return 1 if diffs else 0
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        new = fill(text, bodies)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)}: {', '.join(n for n in blocks(text) if n in bodies)}")
    missing = set(bodies) - {n for p in FILES for n in blocks(p.read_text(encoding='utf-8'))}
    if missing:
        print(f"no block for sample(s) {sorted(missing)} in {', '.join(p.name for p in FILES)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run from a source tree without installing
    raise SystemExit(main())
