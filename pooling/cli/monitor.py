"""``pooling monitor DEAL_DIR --collections FILE... --out DIR [--scenario SCENARIO]``: surveillance after issue
(docs/monitor.md). Registered by :mod:`pooling.cli.main`; exit codes as every command (1: bad reports or tapes,
with validation.csv the only file written)."""

from __future__ import annotations

import datetime as dt
import glob
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pooling.cli.options import output_folder
from pooling.errors import UsageError, ValidationFailed
from pooling.outputs import MONITOR_FILES, MONITOR_REPORT_FILES, SCENARIO_COPY_FILES

REPORT_SUFFIXES = (".csv", ".xlsx", ".xls", ".xlsm", ".parquet", ".pq")


def expand_collections(items: list[str]) -> tuple[list[Path], list[str]]:
    """Report files from ``--collections`` values: a file, a folder (its report files, sorted) or a glob pattern
    (sorted matches). Returns the paths and how each is named in problems (as the user wrote it)."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in REPORT_SUFFIXES)
            if not found:
                raise UsageError(f"--collections {item}: the folder holds no report file ({', '.join(REPORT_SUFFIXES)})")
            paths += found
        elif any(ch in item for ch in "*?[") and not p.exists():
            found = sorted(Path(f) for f in glob.glob(item))
            if not found:
                raise UsageError(f"--collections {item}: no file matches")
            paths += found
        else:
            paths.append(p)
    seen: set[Path] = set()
    unique = [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]
    return unique, [p.as_posix() for p in unique]


def deal_scenario(deal_dir: Path, scenario: Path | None):
    """The scenario a deal was run with: ``--scenario`` when given, else the deal folder's resolved copy
    (:data:`~pooling.outputs.SCENARIO_COPY_FILES`, written by ``pooling run`` and ``pooling size``)."""
    from pooling.cli.main import _load
    from pooling.scenario import load_scenario_copy

    if not deal_dir.is_dir():
        raise UsageError(f"DEAL_DIR {deal_dir} is not a folder: give the output folder of `pooling run`")
    if scenario is not None:
        return _load(scenario)
    copy = deal_dir / SCENARIO_COPY_FILES[0]
    if not copy.is_file():
        raise UsageError(f"DEAL_DIR {deal_dir} holds no {SCENARIO_COPY_FILES[0]} (the resolved scenario `pooling run` "
                         "writes; a folder made by an older version has none): pass --scenario, the scenario the "
                         "deal was run with")
    return load_scenario_copy(copy)


def _as_of(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"must be a date like 2027-06-30, not {value!r}") from None
    return value


def monitor(
    deal_dir: Annotated[Path, typer.Argument(metavar="DEAL_DIR", help="Output folder of `pooling run` for the deal.",
                                             show_default=False)],
    collections: Annotated[list[str], typer.Option(
        "--collections", help="Servicer report: a file (csv/xlsx/parquet), a folder of them or a quoted glob; repeat "
                              "for more.", show_default=False)],
    scenario: Annotated[Path | None, typer.Option(
        "--scenario", help=f"The scenario the deal was run with (default: DEAL_DIR/{SCENARIO_COPY_FILES[0]}, the "
                           "resolved copy `pooling run` writes).", show_default=False)] = None,
    out_dir: Annotated[Path, typer.Option("--out", callback=output_folder, help="Output folder.")] = Path("out"),
    as_of: Annotated[str | None, typer.Option("--as-of", callback=_as_of,
                                              help="Report date (yyyy-mm-dd); default: the latest collection "
                                                   "date. Collections after it are errors.")] = None,
) -> None:
    from pooling.cli.main import _money, _prepare_or_report, _wrote, out, report_problems
    from pooling.outputs import check_written
    from pooling.pipeline import run_monitor, write_monitor
    from pooling.report.monitor import write_monitor_reports

    s = deal_scenario(deal_dir, scenario)
    paths, names = expand_collections(collections)
    prepared = _prepare_or_report(s, out_dir)
    try:
        result, plan = run_monitor(deal_dir, s, paths, as_of, names, prepared=prepared)
    except ValidationFailed as e:
        report_problems(e.problems, out_dir)
        raise
    d = result.summary
    ratio = d["collection_ratio"]
    out.print(f"[bold]{escape(d['scenario'])}[/] closed {d['closing']}, reported to {d['as_of']} "
              f"({d['months_since_closing']:.1f} months): collected CNY {_money(d['actual_to_date'])}m against a plan "
              f"of {_money(d['plan_to_date'])}m" + (f" — {ratio:.1%} of plan" if ratio is not None else ""))
    if d["inputs_match"] is False:
        out.print("[yellow]note[/]: the scenario's inputs no longer hash as the deal's summary.json says; the plan is "
                  "the pool.csv assets valued on today's inputs")
    t = Table(title="triggers (latest period)", title_justify="left")
    for c in ("trigger", "value", "threshold", "breached", "first breached"):
        t.add_column(c, justify="left" if c == "trigger" else "right")
    last = result.triggers[result.triggers["period"] == result.triggers["period"].max()]
    for r in last.itertuples(index=False):
        first = d["first_breach_period"].get(r.trigger)
        t.add_row(r.trigger, "—" if r.value != r.value else f"{r.value:.3f}", f"{r.threshold:.3f}",
                  "[red]yes[/]" if r.breached else "no", f"period {first}" if first else "—")
    out.print(t)
    w = d["watchlist"]
    out.print(f"watch list: {w['assets']:,} assets and {w['groups']:,} obligor groups behind plan "
              f"(assets' shortfall CNY {_money(w['shortfall'])}m)")
    fc = d["reforecast"]
    repaid = "repaid" if fc["senior_repaid_by_legal_maturity"] else "[red]NOT repaid[/]"
    prob = fc.get("senior_repaid_probability")
    out.print(f"re-forecast (pool ratio {fc['pool_ratio']:.1%}): senior {repaid} by the legal maturity "
              f"{fc['legal_maturity']}, last principal {fc['senior_expected_maturity'] or '—'} (plan "
              f"{fc['plan_senior_expected_maturity'] or '—'})"
              + (f"; repaid in {prob:.1%} of the deal's factor scenarios" if prob is not None else ""))
    written = write_monitor(out_dir, result)
    written += check_written(write_monitor_reports(out_dir, result, plan), MONITOR_REPORT_FILES,
                             "write_monitor_reports")
    _wrote(written, out_dir)


HELP = ("Surveillance after issue (存续期管理): servicer reports against the deal's plan — actual vs plan overall and by "
        "province, collateral type, AMC and servicer; the deal's triggers each period; the assets and obligor groups "
        "behind plan; the remaining collections re-forecast and the waterfall run forward.\n\n"
        f"Writes {', '.join(MONITOR_FILES + MONITOR_REPORT_FILES)}. Bad report rows (unknown assets, dates before "
        "closing or after --as-of, negative amounts, duplicates) are all listed in validation.csv, the only file "
        "written (exit 1).\n\n"
        f"The deal's scenario is the resolved copy in DEAL_DIR ({SCENARIO_COPY_FILES[0]}) unless --scenario names "
        "one.\n\n"
        "Example: pooling monitor out/demo --collections out/reports --out out/monitor")
