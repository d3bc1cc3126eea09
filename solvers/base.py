"""The one narrow interface every backend implements."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solvers.problem import Options, Problem, Result


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond solving an LP."""

    mip: bool = True
    lp_duals: bool = False
    iis: bool = False
    warm_start: bool = False


class Backend(abc.ABC):
    """Solve a :class:`~solvers.problem.Problem`; return a :class:`~solvers.problem.Result`, never raise on
    infeasible or stopped solves."""

    name: str = "abstract"
    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    def solve(
        self,
        problem: Problem,
        options: Options | None = None,
        start: np.ndarray | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> Result:
        """Solve ``problem``; ``start`` is an optional feasible point for warm-starting a MIP."""

    def iis(self, problem: Problem, options: Options | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, columns) of an irreducible infeasible subset of the LP relaxation, or None when unsupported."""
        return None

    def feasibility_relaxation(
        self,
        problem: Problem,
        options: Options | None = None,
        col_penalty: np.ndarray | None = None,
        row_penalty: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(column, row) violations of a minimal feasibility relaxation, or None when unsupported."""
        return None
