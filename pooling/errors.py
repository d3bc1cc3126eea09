"""The project's error tree.

Two roots, as the CLI maps them to exit codes (DESIGN §3.3):

* :class:`InputError` (also a ``ValueError``) — the user's files are wrong. Children carry a table of *every*
  problem found, so one run reports them all. Exit code 1.
* :class:`OptimizationError` — the inputs are valid but no acceptable answer exists: :class:`Infeasible`
  (exit 3, names the conflicting limits) or :class:`NoIncumbent` (exit 4).
"""

from __future__ import annotations

import pandas as pd

PROBLEM_COLUMNS = ["file", "row", "column", "value", "problem"]


class PoolingError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


class InputError(PoolingError, ValueError):
    """Bad input: a file, a scenario key or a value is wrong. Exit code 1."""

    exit_code = 1


class UsageError(PoolingError, ValueError):
    """A command was called in a way that cannot work (an option value, a missing extra). Exit code 2."""

    exit_code = 2


class ValidationFailed(InputError):
    """One or more tapes or link files have problems; ``problems`` lists each (file, row, column, value, problem)."""

    def __init__(self, problems: pd.DataFrame):
        self.problems = problems.reset_index(drop=True)
        n_files = self.problems["file"].nunique()
        super().__init__(
            f"{len(self.problems)} problem(s) in {n_files} file(s); fix them and run again "
            "(`pooling validate SCENARIO --out DIR` writes them all to validation.csv)."
        )


class ScenarioError(InputError):
    """The scenario or study file is invalid; ``problems`` lists (key, value, problem) for each."""

    def __init__(self, path: str, problems: list[tuple[str, str, str]]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {key}: {problem} (got {value})" for key, value, problem in problems)
        super().__init__(f"scenario file {path} has {len(problems)} problem(s):\n{lines}")


class OptimizationError(PoolingError):
    """Valid inputs, but no acceptable pool could be found."""

    exit_code = 4


class Infeasible(OptimizationError):
    """The limits cannot all hold at once; ``conflicts`` names the limits involved."""

    exit_code = 3

    def __init__(self, message: str, conflicts: list[str] | None = None):
        self.conflicts = conflicts or []
        super().__init__(message)


class NoIncumbent(OptimizationError):
    """The solver stopped (time limit, interrupt) before it found any feasible pool."""

    exit_code = 4
