"""Option checks shared by every command (a bad value is a usage error, exit 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer


def output_folder(value: Path | None) -> Path | None:
    """An output folder: new or existing, never an existing file (a usage error, exit 2)."""
    if value is not None and value.exists() and not value.is_dir():
        raise typer.BadParameter(f"{value} is an existing file; give a folder")
    return value


_SHOWN: list[tuple[str, str]] = []


@contextmanager
def showing(stage: Path, target: Path) -> Iterator[None]:
    """While a command writes into ``stage`` (a staged copy of its output folder), :func:`shown` names ``target``."""
    _SHOWN.append((str(stage), str(target)))
    try:
        yield
    finally:
        _SHOWN.pop()


def shown(path: Path | str) -> str:
    """A path as the user named it: inside a command's staged output folder, the folder it will become."""
    text = str(path)
    for stage, target in _SHOWN:
        text = text.replace(stage, target)
    return text
