"""Option checks shared by every command (a bad value is a usage error, exit 2)."""

from __future__ import annotations

from pathlib import Path

import typer


def output_folder(value: Path | None) -> Path | None:
    """An output folder: new or existing, never an existing file (a usage error, exit 2)."""
    if value is not None and value.exists() and not value.is_dir():
        raise typer.BadParameter(f"{value} is an existing file; give a folder")
    return value
