"""``pooling calibrate``, ``pooling backtest`` and ``pooling value`` (docs/valuation.md, DESIGN §4).

The commands are registered by :mod:`pooling.cli.main` (which adds its error handling: exit 1 for bad input, with
every problem of a history tape in ``validation.csv``; exit 2 for usage errors).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pooling.cli.options import output_folder, shown
from pooling.errors import UsageError, ValidationFailed
from pooling.io import read_csv, write_csv

out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

HistoryArgs = Annotated[list[Path], typer.Argument(
    metavar="HISTORY...", show_default=False,
    help="History tapes (CSV/XLSX/Parquet; one or more files, e.g. one per AMC).")]


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (use yyyy-mm-dd)", param_hint=option) from None


def _history(paths: list[Path], as_of: dt.date | None, out_dir: Path):
    """The validated history; on bad tapes writes OUT/validation.csv, prints the problems and re-raises."""
    from pooling.cli.main import report_problems
    from pooling.tapes.history import load_history

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"history file(s) not found: {', '.join(missing)}")
    with err.status(f"reading and validating {len(paths)} history file(s)…"):
        try:
            history = load_history(list(paths), as_of=as_of)
        except ValidationFailed as e:
            report_problems(e.problems, out_dir)
            raise
    a = history.assets
    open_ = int(a["resolved_on"].isna().sum())
    out.print(f"history: {len(a):,} assets ({open_:,} open at the cut-off {history.cutoff:%Y-%m-%d}, "
              f"{open_ / max(len(a), 1):.0%}), gbv CNY {a['gbv'].sum() / 1e6:,.1f}m, valued "
              f"{a['valued_on'].min():%Y-%m-%d} – {a['valued_on'].max():%Y-%m-%d}")
    return history


class _Stages:
    """A progress bar for callbacks of the form ``progress(stage, fraction_done)``."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("calibrating", total=1.0)

    def __call__(self, stage: str, fraction: float) -> None:
        self.progress.update(self.task, description=stage, completed=fraction)


def calibrate(
    history: HistoryArgs,
    out_dir: Annotated[Path, typer.Option("--out", callback=output_folder, show_default=False,
                                          help="Model folder to write.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Data cut-off (yyyy-mm-dd); default: the latest "
                                              "date in the history.")] = None,
    holdout_from: Annotated[str | None, typer.Option("--holdout-from", help="Train only on assets valued before "
                                                     "this date (yyyy-mm-dd), keeping the rest for an out-of-time "
                                                     "backtest.")] = None,
) -> None:
    from pooling.report.model_card import write_model_card
    from pooling.valuation.calibrate import calibrate as fit
    from pooling.valuation.calibrate import calibration_table, survival_curves
    from pooling.valuation.fitted import save_model

    cutoff, holdout = _date(as_of, "--as-of"), _date(holdout_from, "--holdout-from")
    h = _history(history, cutoff, out_dir)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err,
                  transient=True) as progress:
        model = fit(h.assets, cutoff=h.cutoff, holdout_from=holdout, progress=_Stages(progress), files=h.files)
        paths = save_model(model, out_dir)
        table = calibration_table(model, h.assets, h.cutoff)
        paths.append(write_csv(table, out_dir / "calibration.csv"))
        paths.append(write_model_card(model, table, out_dir / "model_card.html",
                                      survival=survival_curves(model, h.assets, h.cutoff)))
    t = model.training
    out.print(f"[bold]model {escape(model.label)}[/]: trained on {t['n_assets']:,} assets ({t['n_resolved']:,} "
              f"resolved) valued {t['from']} – {t['to']}, cut-off {t['cutoff']}"
              + (f", holdout from {t['holdout_from']}" if t.get("holdout_from") else ""))
    _print_calibration(table)
    out.print(f"wrote {len(paths)} files to {shown(out_dir)}: " + ", ".join(Path(p).name for p in paths))


def _print_calibration(table: pd.DataFrame, dimension: str = "asset_type") -> None:
    """Realised vs predicted by one dimension (every dimension is in calibration.csv and the model card)."""
    rows = table[table["dimension"].isin([dimension, "all"])]
    t = Table(title=f"calibration by {dimension}: realised (resolved, censoring-aware months) vs model",
              title_justify="left")
    for c in ("segment", "assets", "resolved", "gbv (CNY m)", "rate realised", "rate model", "months realised",
              "months model"):
        t.add_column(c, justify="left" if c == "segment" else "right")
    for r in rows.itertuples(index=False):
        t.add_row(escape(str(r.segment)), f"{r.n:,}", f"{r.n_resolved:,}", f"{r.gbv / 1e6:,.1f}",
                  f"{r.realised_rate:.1%}", f"{r.predicted_rate:.1%}", f"{r.realised_months:.1f}",
                  f"{r.predicted_months:.1f}", style="bold" if r.segment == "all" else None)
    out.print(t)


def backtest(
    history: HistoryArgs,
    model_dir: Annotated[Path, typer.Option("--model", show_default=False, help="Model folder (pooling calibrate).")],
    out_dir: Annotated[Path, typer.Option("--out", callback=output_folder, show_default=False,
                                          help="Backtest folder: rounds are appended, never overwritten.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Data cut-off (yyyy-mm-dd); default: the latest "
                                              "date in the history.")] = None,
    holdout_from: Annotated[str | None, typer.Option("--holdout-from", help="Judge only assets valued on or after "
                                                     "this date (default: the model's holdout date, if any).")] = None,
    apply_corrections: Annotated[bool, typer.Option("--apply-corrections", help="Let the model carry this round's "
                                                    "segment corrections (copied into the model folder).")] = False,
) -> None:
    from pooling.report.backtest_page import write_backtest_report
    from pooling.valuation.backtest import backtest as judge
    from pooling.valuation.fitted import load_model

    cutoff, holdout = _date(as_of, "--as-of"), _date(holdout_from, "--holdout-from")
    model = load_model(model_dir)
    if holdout is None and model.training.get("holdout_from"):
        holdout = dt.date.fromisoformat(model.training["holdout_from"])
    h = _history(history, cutoff, out_dir)
    with err.status("backtesting…"):
        result = judge(h.assets, model, cutoff=h.cutoff, holdout_from=holdout)
        paths = write_backtest_report(result, out_dir, model_dir, apply_corrections=apply_corrections)
    o = result.overall
    rounds = read_csv(Path(model_dir) / "backtests.csv")  # the round number is settled when it is recorded
    dev, amc_dev = o.get("deviation_rate"), o.get("amc_deviation_rate")
    out.print(f"[bold]backtest round {int(rounds['round'].iloc[-1])}[/] of model {escape(model.label)} on "
              f"{o.get('n_resolved', 0):,} resolved assets"
              + (f" valued from {holdout:%Y-%m-%d} (out of time)" if holdout else " (in sample: no holdout date)")
              + f": deviation rate {_pct(dev)}, 80% interval coverage {_share(o.get('coverage_count'))} of assets"
              + (f"; the AMCs' own valuations {_pct(amc_dev)}" if amc_dev is not None and pd.notna(amc_dev) else ""))
    if apply_corrections:
        out.print(f"the model in {model_dir} now carries these corrections")
    _wrote(paths, out_dir)


def _pct(x) -> str:
    return "—" if x is None or pd.isna(x) else f"{x:+.1%}"


def _share(x) -> str:
    return "—" if x is None or pd.isna(x) else f"{x:.1%}"


def _wrote(paths: list, out_dir: Path) -> None:
    """The files written: names for those in ``out_dir``, paths for the others (the model folder's)."""
    names = [Path(p).name if Path(p).parent.resolve() == Path(out_dir).resolve() else str(p) for p in paths]
    out.print(f"wrote {len(paths)} files to {shown(out_dir)}: " + ", ".join(dict.fromkeys(names)))


def value(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", metavar="SCENARIO", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", callback=output_folder, help="Output folder.")] = Path("out"),
) -> None:
    from pooling.cli.main import _load
    from pooling.pipeline import valuation_text, value_scenario

    s = _load(scenario)
    with err.status("reading, validating and valuing…"):
        try:
            valued, statement = value_scenario(s)
        except ValidationFailed as e:
            from pooling.cli.main import report_problems

            report_problems(e.problems, out_dir)
            raise
        path = write_csv(valued, out_dir / "valuation.csv")
    out.print(valuation_text(statement))
    per = valued.groupby("amc_id", sort=False).agg(
        assets=("gbv", "size"), gbv=("gbv", "sum"), recovery=("expected_recovery", "sum"), npv=("npv", "sum"))
    t = Table(title=f"{s.name}: valuation as of {s.as_of:%Y-%m-%d}", title_justify="left")
    for c in ("amc", "assets", "gbv (CNY m)", "expected recovery (CNY m)", "rate", "npv (CNY m)"):
        t.add_column(c, justify="left" if c == "amc" else "right")
    per.loc["all"] = per.sum()
    for amc, r in per.iterrows():
        t.add_row(escape(str(amc)), f"{int(r['assets']):,}", f"{r['gbv'] / 1e6:,.1f}", f"{r['recovery'] / 1e6:,.1f}",
                  f"{r['recovery'] / r['gbv']:.1%}" if r["gbv"] else "—", f"{r['npv'] / 1e6:,.1f}",
                  style="bold" if amc == "all" else None)
    out.print(t)
    out.print(f"wrote {shown(path)}")
