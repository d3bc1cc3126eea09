"""``pooling users add`` and ``pooling serve``: the negotiation workspace (docs/serve.md).

The web stack (fastapi, uvicorn, argon2-cffi) is the optional ``serve`` extra; it is imported only here, when one of
these commands runs, so the rest of the CLI works without it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from pooling.errors import InputError

users_app = typer.Typer(help="Manage the users of `pooling serve` (USERS.yaml).", no_args_is_help=True)


def _need_serve_extra() -> None:
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "argon2", "python_multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"the web workspace needs {', '.join(missing)}: pip install 'amc-pooling[serve]'")


def users_add(
    users_file: Annotated[Path, typer.Argument(metavar="USERS.yaml", help="Users file (created when missing).",
                                               show_default=False)],
    name: Annotated[str, typer.Option("--name", help="User name (no spaces).", show_default=False)],
    role: Annotated[Literal["amc", "coordinator"], typer.Option("--role", help="amc or coordinator.", show_default=False)],
    amc: Annotated[str | None, typer.Option("--amc", help="The AMC id of an amc user.")] = None,
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Check --amc against this scenario's AMCs.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input "
                                                 "(the only way: never on the command line).")] = False,
) -> None:
    _need_serve_extra()
    from pooling.serve.users import add_user

    if not password_stdin:
        raise InputError("give the password on standard input with --password-stdin, e.g. "
                         "`printf '%s' \"$PW\" | pooling users add USERS.yaml --name N --role coordinator --password-stdin`")
    password = sys.stdin.readline().rstrip("\r\n")
    amc_ids = None
    if scenario is not None:
        from pooling.scenario import load_scenario

        amc_ids = {a.id for a in load_scenario(scenario).amcs}
    user = add_user(users_file, name, role, password, amc, amc_ids)
    typer.echo(f"wrote user {user.name} ({user.role}{' of ' + user.amc_id if user.amc_id else ''}) to {users_file}")


def serve(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML.", show_default=False)],
    users: Annotated[Path, typer.Option("--users", help="Users file written by `pooling users add`.", show_default=False)],
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    state_dir: Annotated[Path | None, typer.Option("--state", help="Folder of the workspace's state (rounds, "
                                                   "audit log, signing key); default: SCENARIO's folder/.workspace.")] = None,
    min_cell: Annotated[int, typer.Option(help="Smallest count of another AMC's assets shown in an aggregate.",
                                          min=1)] = 3,
) -> None:
    _need_serve_extra()
    import uvicorn

    from pooling.serve.app import create_app

    state_dir = state_dir or scenario.parent / ".workspace"
    app = create_app(scenario, users, state_dir, min_cell=min_cell)
    typer.echo(f"serving {scenario} on http://{host}:{port}/ (state in {state_dir}); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="info")
