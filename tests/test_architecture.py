"""The layer order of DESIGN §2, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_layer_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint) if lint.exists() else "lint-imports", "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


#: distribution name in pyproject's dependencies → the modules it provides (a dependency's own dependency that it
#: always brings, like jinja2's markupsafe, counts as its)
PROVIDES = {"pyyaml": {"yaml"}, "scikit-learn": {"sklearn"}, "python-calamine": {"python_calamine"}, "jinja2": {"jinja2", "markupsafe"},
            "fastapi": {"fastapi", "starlette", "pydantic"}, "argon2-cffi": {"argon2"}, "python-multipart": {"multipart"}}
#: package → optional extra whose modules it may import at module level (the CLI imports it only when its command runs)
EXTRA_PACKAGES = {"pooling/serve": "serve"}


def test_module_level_imports_are_declared_dependencies() -> None:
    """A plain ``pip install .`` must be enough to run the commands: every third-party module that pooling/ and
    solvers/ import at module level is a declared dependency (the test extra brings more, e.g. click with dask,
    and would hide a missing one)."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def modules(deps: list[str]) -> set[str]:
        names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in deps}
        return set().union(*(PROVIDES.get(n, {n.replace("-", "_")}) for n in names))

    allowed = modules(project["dependencies"]) | {"pooling", "solvers"}
    found: dict[str, str] = {}
    for path in sorted([*(ROOT / "pooling").rglob("*.py"), *(ROOT / "solvers").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        extra = next((e for p, e in EXTRA_PACKAGES.items() if rel.startswith(p + "/")), None)
        ok = allowed | (modules(project["optional-dependencies"][extra]) if extra else set())
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"(?:import|from) ([A-Za-z_]\w*)", line)  # column 0: module level, not a lazy import
            if m and m.group(1) not in sys.stdlib_module_names and m.group(1) not in ok:
                found.setdefault(m.group(1), str(path.relative_to(ROOT)))
    assert not found, f"imported but not in [project] dependencies: {found}"
