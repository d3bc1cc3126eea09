"""The ``pooling`` command line (typer): :mod:`pooling.cli.main` holds the app and every command but ``study``,
which lives in :mod:`pooling.cli.study` (runnable on its own as ``python -m pooling.cli.study``)."""
