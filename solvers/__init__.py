"""Solver-neutral sparse MILP/LP and its backends. Knows matrices, bounds, integrality, options, statuses —
nothing about assets or AMCs.

>>> import numpy as np, scipy.sparse as sp, pandas as pd
>>> p = Problem(c=np.array([3.0, 2.0]), A=sp.csr_matrix([[1.0, 2.0]]), row_lower=np.array([-np.inf]),
...             row_upper=np.array([2.0]), col_lower=np.zeros(2), col_upper=np.ones(2),
...             integrality=np.array([True, True]), rows=pd.DataFrame({"family": ["cap"]}))
>>> r = get_backend("highs").solve(p)
>>> r.status.value, r.objective
('optimal', 3.0)
"""

from solvers.base import Backend, Capabilities
from solvers.problem import Options, Problem, Result, Status


def get_backend(name: str = "highs", pyomo_solver: str = "appsi_highs") -> Backend:
    """The backend called ``name`` ('highs' or 'pyomo')."""
    if name == "highs":
        from solvers.highs_backend import HighsBackend

        return HighsBackend()
    if name == "pyomo":
        from solvers.pyomo_backend import PyomoBackend

        return PyomoBackend(pyomo_solver)
    raise ValueError(f"unknown solver backend {name!r}; expected 'highs' or 'pyomo'")


__all__ = ["Backend", "Capabilities", "Options", "Problem", "Result", "Status", "get_backend"]
