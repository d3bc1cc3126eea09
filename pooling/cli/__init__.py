"""The ``pooling`` command line (typer)."""

from pooling.cli.main import app, main

__all__ = ["app", "main"]
