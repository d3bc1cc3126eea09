"""``pooling study STUDY --out DIR``: run a scenario study (docs/studies.md).

:func:`study` is the typer command (registered by :mod:`pooling.cli.main`); ``python -m pooling.cli.study`` runs it on
its own, with the same exit codes (0 ok — failed runs are results, listed in runs.csv · 1 invalid study file ·
2 usage error · 130 interrupted; the finished runs are kept and the same command finishes the rest).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pooling.cli.options import output_folder
from pooling.study.engine import (
    EXECUTORS,
    StudyProgress,
    check_executor,
    default_workers,
    load_study,
    run_study,
    show_value,
)

out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _write_report(store: Path, out_dir: Path, runs) -> list[Path]:
    from pooling.report.study import StudyTables, write_study_report

    return write_study_report(store, out_dir, tables=StudyTables(runs))


def study(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="Study YAML file (base scenario, named scenarios, sweep grid).",
                                               show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", callback=output_folder,
                                          help="Folder for study.sqlite, runs.csv and results.csv.")] = Path("out"),
    executor: Annotated[str, typer.Option(help=" | ".join(EXECUTORS) + ".")] = "serial",
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default: $DASK_SCHEDULER_ADDRESS, else a local cluster).")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes for --executor process, or the local Dask cluster (default: CPUs).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run the failed runs again.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate the study and list its runs; run nothing.")] = False,
) -> None:
    """Run every scenario of a study through the pipeline; results go to a crash-safe store (DIR/study.sqlite)
    and DIR/runs.csv, DIR/results.csv. Run the same command again to finish a killed study.

    Example: ``pooling study scenarios/demo/study.yaml --out out/demo-grid --executor process``
    """
    executor = check_executor(executor, scheduler)  # exit 2 with the reason, before the study is read
    s = load_study(study_file)
    if dry_run:
        # the path on a line of its own: a centred title would move with the length of the folder it lives in
        out.print(f"study {escape(s.name)}: {len(s.runs)} run(s) on {escape(_shown(s.base_path))}")
        t = Table()
        t.add_column("#", justify="right")
        t.add_column("run_id", no_wrap=True)
        t.add_column("scenario", overflow="fold")
        t.add_column("overrides of the base scenario", overflow="fold")
        for r in s.runs:
            changes = "\n".join(f"{k} = {show_value(v)}" for k, v in r.overrides.items()) or "—"
            t.add_row(str(r.position), r.run_id, escape(r.name), escape(changes))
        out.print(t)
        return
    n = workers or default_workers()
    err.print(f"study [bold]{escape(s.name)}[/]: {len(s.runs)} run(s), executor {executor}"
              + (f", {n} worker(s)" if executor != "serial" and not scheduler else ""))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("done {task.fields[done]} · failed {task.fields[failed]} · remaining {task.fields[left]}"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("runs", total=len(s.runs), done=0, failed=0, left=len(s.runs))

        def progress(p: StudyProgress) -> None:
            bar.update(task, completed=p.finished, done=p.finished - p.failed, failed=p.failed, left=p.remaining)
            if p.last is not None and p.last_status == "failed":
                bar.console.print(f"[yellow]failed[/]: {escape(p.last.name)}")

        def note(text: str) -> None:
            bar.console.print(f"[dim]{escape(text)}[/]")

        try:
            summary = run_study(s, out_dir, executor=executor, workers=workers, scheduler=scheduler,
                                retry_failed=retry_failed, progress=progress, notes=note,
                                finish=_write_report)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]: the finished runs are kept; run the same command again to finish")
            raise typer.Exit(130) from None
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items())) or "nothing new"
    out.print(f"{summary.ran} run(s) now ({statuses}), {summary.skipped} already done, in {summary.seconds:.1f} s")
    if summary.failed_in_store:
        earlier = summary.failed_in_store - summary.failed
        which = f" ({summary.failed} now, {earlier} earlier)" if earlier and summary.failed else (
            " (earlier)" if earlier else "")
        out.print(f"[yellow]{summary.failed_in_store} run(s) failed{which}[/]: see the error column of runs.csv "
                  "(--retry-failed runs them again)")
    out.print(f"wrote {summary.runs_csv} and {summary.results_csv} (store: {summary.store})")
    if summary.report:
        out.print(f"report: {' and '.join(str(p) for p in summary.report)}")


def main() -> None:
    """``python -m pooling.cli.study STUDY --out DIR …``: the command on its own, with the CLI's exit codes."""
    import functools

    from pooling.errors import PoolingError

    @functools.wraps(study)
    def command(*args: object, **kwargs: object) -> None:
        try:
            study(*args, **kwargs)  # type: ignore[arg-type]
        except PoolingError as e:
            err.print(f"[bold red]error[/]: {escape(str(e))}")
            raise typer.Exit(e.exit_code) from None

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(command)
    app()


if __name__ == "__main__":  # the guard process/Dask executors need: workers re-import the main module
    main()
