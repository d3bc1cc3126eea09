"""The ``pooling`` command.

Exit codes (DESIGN §3.3): 0 ok · 1 invalid input · 2 usage error · 3 infeasible · 4 no feasible pool found.
Errors print one clear block; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pooling.cli.options import output_folder, showing, shown
from pooling.errors import (
    PROBLEM_COLUMNS,
    InputError,
    PoolingError,
    ScenarioError,
    UsageError,
    ValidationFailed,
)
from pooling.io import read_csv, staged_folder, write_csv
from pooling.outputs import (
    FRONTIER_FILES,
    REPORT_FILES,
    SHELF_FILES,
    SHELF_REPORT_FILES,
    TAIL_FILES,
    VALIDATE_FILES,
    check_written,
)
from pooling.outputs import files_written as pipeline_files
from pooling.scenario import Dimension, Solver, with_overrides


def _choices(field: str) -> tuple[str, ...]:
    """The values a Literal-typed Solver field allows, so an option accepts what the scenario accepts."""
    return typing.get_args(Solver.model_fields[field].annotation)


BACKENDS = _choices("backend")
STRATEGIES = _choices("strategy")
MEASURES = ("hhi", "effective_number")
TAPE_FORMATS = ("csv", "parquet")

app = typer.Typer(
    name="pooling",
    help="Consortium pooling of non-performing assets for China's AMCs: validate, describe, select, tranche.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, files) gets a fixed width wide enough for the tables; a terminal keeps its own.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
_state = {"debug": False}

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", metavar="SCENARIO", show_default=False)]


OutDir = Annotated[Path, typer.Option("--out", callback=output_folder, help="Output folder.")]
StrategyOpt = Annotated[Literal[STRATEGIES] | None, typer.Option(help="Override solver.strategy.")]


def _positive(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be above 0, not {value}")
    return value


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names)


def _help(*paragraphs: str) -> str:
    """A command's help: paragraphs separated by blank lines (the file lists are built from the writers' names)."""
    return "\n\n".join(paragraphs)


def _override(scenario, changes: dict[str, Any]):
    """The scenario with command-line overrides applied and validated (a problem is a usage error, exit 2, with
    one line naming the key and the reason)."""
    try:
        return with_overrides(scenario, changes, "(command-line options)")
    except ScenarioError as e:
        raise UsageError("; ".join(f"{key}: {problem} (got {value})" for key, value, problem in e.problems)) from None


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
          max_input_gb: Annotated[float | None, typer.Option(
              "--max-input-gb", min=0.001, help="Refuse input files larger than this once expanded (default: a "
              "quarter of the memory available).")] = None,
          allow_outside: Annotated[bool, typer.Option(
              "--allow-outside", help="Let scenario, study and plan files name files outside their own folder "
              "(absolute paths, '..', symlinks out).")] = False) -> None:
    from pooling import scenario
    from pooling.tapes import load

    _state["debug"] = debug
    load.MAX_INPUT_BYTES = None if max_input_gb is None else int(max_input_gb * 2**30)
    scenario.ALLOW_OUTSIDE = allow_outside


def _fail(error: PoolingError) -> None:
    """Print one clear block for an expected error and exit with its code."""
    err.print(f"[bold red]error[/]: {escape(shown(str(error)))}")
    raise typer.Exit(error.exit_code)


#: Commands whose output folder is crash-safe on its own (a study's store resumes a killed study).
_SELF_STAGED = {"study"}


def _staged(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run a command that writes an output folder against a private copy of it, swapped in when the command ends
    with an answer — success or a deliberate exit such as a validation report or an infeasible pool — and
    discarded on an internal error or an interrupt; a kill at any moment leaves the previous folder whole."""
    target = kwargs.get("out_dir") or kwargs.get("pool_dir")
    if target is None or fn.__name__ in _SELF_STAGED:
        return fn(*args, **kwargs)
    target = Path(target)
    with staged_folder(target) as stage:
        with showing(stage.path, target):
            try:
                result = fn(*args, **{**kwargs, "out_dir": stage.path})
            except (PoolingError, typer.Exit):
                stage.commit()
                raise
        stage.commit()
        return result


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the project's errors to exit codes; unexpected errors print a short message unless --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return _staged(fn, args, kwargs)
        except PoolingError as e:
            if _state["debug"]:
                raise
            _fail(e)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except OSError as e:  # a file the user named cannot be read or written: their mistake, not ours
            if _state["debug"]:
                raise
            err.print(f"[bold red]error[/]: {escape(str(e))}")
            raise typer.Exit(1) from None
        except Exception as e:
            if _state["debug"]:
                raise
            err.print(f"[bold red]internal error[/]: {type(e).__name__}: {escape(str(e))}\nRun again with --debug for the traceback.")
            raise typer.Exit(70) from None

    return wrapper


def _money(x: float) -> str:
    return f"{round(x / 1e6, 1) + 0.0:,.1f}"  # + 0.0: no "-0.0"


def _load(path: Path):
    from pooling.scenario import load_scenario

    return load_scenario(path)


def _problem_table(problems: pd.DataFrame, limit: int = 25) -> Table:
    """All problems when few; otherwise one line per (file, column, kind of problem) with a count and an example."""
    if len(problems) <= limit:
        t = Table(title=f"{len(problems)} problem(s)", show_lines=False)
        for c in PROBLEM_COLUMNS:
            t.add_column(c, overflow="fold")
        for r in problems.itertuples(index=False):
            t.add_row(*(escape(str(v)) for v in (r.file, r.row, r.column, r.value, r.problem)))
        return t
    kind = problems["problem"].str.replace(r"\d[\d,.]*", "N", regex=True)
    g = problems.assign(kind=kind).groupby(["file", "column", "kind"], sort=False)
    summary = g.agg(count=("row", "size"), first_row=("row", "min"), example=("value", "first")).reset_index()
    t = Table(title=f"{len(problems)} problems (grouped; every one is in validation.csv)")
    for c in ("file", "column", "problem", "count", "first row", "example value"):
        t.add_column(c, overflow="fold")
    for r in summary.head(60).itertuples(index=False):
        t.add_row(*(escape(str(v)) for v in (r.file, r.column, r.kind, f"{r.count:,}", r.first_row, r.example)))
    return t


@app.command(help=_help(
    "Check every tape and the links file; exit 1 if anything is wrong.",
    f"Writes {_names(VALIDATE_FILES)} (one row per problem; empty when the tapes are clean).",
    "Example: pooling validate scenarios/demo/scenario.yaml --out out/demo"))
@handles_errors
def validate(
    scenario: ScenarioArg,
    out_dir: OutDir = Path("out"),
) -> None:
    from pooling.tapes.load import check_tapes

    s = _load(scenario)
    with err.status("reading and validating tapes…"):
        tapes, problems = check_tapes(s)
    path = write_csv(problems[PROBLEM_COLUMNS], out_dir / VALIDATE_FILES[0])
    if tapes is None:
        out.print(_problem_table(problems))
        out.print(f"[red]{len(problems):,} problem(s)[/] in {problems['file'].nunique()} file(s) → {shown(path)}")
        raise typer.Exit(1)
    a = tapes.assets
    t = Table(title=f"{s.name}: tapes are clean")
    for c in ("amc", "file", "assets", "gbv (CNY m)"):
        t.add_column(c, justify="right" if c in ("assets", "gbv (CNY m)") else "left")
    per = a.groupby("amc_id", sort=False).agg(n=("gbv", "size"), gbv=("gbv", "sum"), file=("source_file", "first"))
    for amc_id, r in per.iterrows():
        t.add_row(str(amc_id), r["file"], f"{r['n']:,}", _money(r["gbv"]))
    t.add_row("all", str(s.links or "(no links file)"), f"{len(a):,}", _money(a["gbv"].sum()), style="bold")
    out.print(t)
    out.print(f"[green]0 problems[/]; {len(tapes.links):,} links → {shown(path)}")


def _prepare_or_report(s, out_dir: Path | None):
    """Run the front of the pipeline; on bad tapes write only validation.csv (if out_dir) and raise."""
    from pooling.pipeline import prepare

    with err.status("preparing…") as status:
        try:
            return prepare(s, on_stage=lambda name: status.update(name + "…"))
        except ValidationFailed as e:
            report_problems(e.problems, out_dir)
            raise


def report_problems(problems: pd.DataFrame, out_dir: Path | None) -> None:
    """Bad input: every problem into OUT/validation.csv (the only file written) and a table on the console."""
    if out_dir is not None:
        write_csv(problems[PROBLEM_COLUMNS], out_dir / VALIDATE_FILES[0])
    out.print(_problem_table(problems))


def _strat_table(name: str, table: pd.DataFrame, rows: int = 12) -> Table:
    t = Table(title=f"by {name}", title_justify="left")
    t.add_column(name)
    for c in ("assets", "gbv (CNY m)", "share", "recovery %", "npv (CNY m)", "WA months"):
        t.add_column(c, justify="right")
    for key, r in table.head(rows).iterrows():
        t.add_row(
            str(key), f"{int(r['n_assets']):,}", _money(r["gbv"]), f"{r['gbv_share']:.1%}",
            f"{r['recovery_rate']:.1%}", _money(r["npv"]), f"{r['wa_months']:.1f}",
        )
    if len(table) > rows:
        rest = table.iloc[rows:]
        t.add_row(f"({len(rest)} more)", f"{int(rest['n_assets'].sum()):,}", _money(rest["gbv"].sum()),
                  f"{rest['gbv_share'].sum():.1%}", "", _money(rest["npv"].sum()), "", style="dim")
    return t


def _describe_files() -> tuple[str, ...]:
    """What :meth:`pooling.tapes.describe.Description.write` writes: one strat_<dimension>.csv per dimension."""
    from pooling.tapes.describe import DIMENSIONS as STRATA

    return (*(f"strat_{d}.csv" for d in STRATA), "concentration.csv", "groups.csv", "circles.csv", "describe.json")


@app.command(help=_help(
    "Stratify the contributed assets by AMC, province, industry, collateral, asset type and legal status.",
    "Also shows concentration (HHI, effective number), the largest obligor groups on the pooled graph and the "
    "guarantee circles that cross AMCs.",
    f"Writes, with --out, {_names(_describe_files())}.",
    "Example: pooling describe scenarios/demo/scenario.yaml --out out/describe"))
@handles_errors
def describe(
    scenario: ScenarioArg,
    out_dir: Annotated[Path | None, typer.Option("--out", callback=output_folder, help="Also write the tables here.")] = None,
) -> None:
    from pooling.tapes.describe import describe as run_describe

    s = _load(scenario)
    prepared = _prepare_or_report(s, out_dir)
    s = prepared.scenario  # with the levers applied (withdrawn AMCs gone, coupon shifted)
    d = run_describe(prepared.assets)
    tot = d.totals
    out.print(
        f"[bold]{s.name}[/] as of {s.as_of}: {tot['n_assets']:,} assets from {tot['n_amcs']} AMCs, "
        f"gbv CNY {_money(tot['gbv'])}m, expected recovery {tot['recovery_rate']:.1%} of gbv, "
        f"npv CNY {_money(tot['npv'])}m, WA {tot['wa_months']:.1f} months"
    )
    for name, table in d.strata.items():
        out.print(_strat_table(name, table))
    c = Table(title="concentration (shares of contributed gbv)", title_justify="left")
    for col in ("dimension", "values", "largest", "largest share", "top-10 share", "HHI", "effective number"):
        c.add_column(col, justify="left" if col in ("dimension", "largest") else "right")
    for dim, r in d.concentration.iterrows():
        c.add_row(str(dim), f"{r['n_values']:,}", r["largest"], f"{r['largest_share']:.2%}", f"{r['top10_share']:.1%}",
                  f"{r['hhi']:.4f}", f"{r['effective_number']:.1f}")
    out.print(c)
    g = Table(title=(f"obligor groups: {tot['n_obligor_groups']:,} ({tot['n_multi_obligor_groups']:,} with several obligors, "
                     f"{tot['n_groups_crossing_amcs']:,} crossing AMCs) — largest"), title_justify="left")
    for col in ("group", "obligors", "assets", "gbv (CNY m)", "share", "AMCs"):
        g.add_column(col, justify="left" if col in ("group", "AMCs") else "right")
    for gid, r in d.groups.head(10).iterrows():
        g.add_row(str(gid), f"{r['n_obligors']:,}", f"{r['n_assets']:,}", _money(r["gbv"]), f"{r['gbv'] / tot['gbv']:.2%}", r["amcs"])
    out.print(g)
    cross = d.circles[d.circles["n_amcs"] > 1]
    ct = Table(title=f"guarantee circles: {tot['n_guarantee_circles']:,}, of which {len(cross):,} cross AMCs", title_justify="left")
    for col in ("circle", "obligors", "assets", "gbv (CNY m)", "AMCs"):
        ct.add_column(col, justify="left" if col in ("circle", "AMCs") else "right")
    for cid, r in cross.head(10).iterrows():
        ct.add_row(str(cid), f"{r['n_obligors']:,}", f"{r['n_assets']:,}", _money(r["gbv"]), r["amcs"])
    out.print(ct)
    if out_dir is not None:
        paths = d.write(out_dir)
        out.print(f"wrote {len(paths)} files to {shown(out_dir)}")


def _run(prepared, out_dir: Path, **stages) -> Any:
    """:func:`pooling.pipeline.run_scenario` with live status lines; a failed selection writes its summary.json.

    Counts and scales come from ``prepared.scenario``: the scenario with its levers applied (a withdrawn AMC gone).
    """
    from pooling.errors import OptimizationError
    from pooling.io import write_json
    from pooling.pipeline import failure_summary, run_scenario

    s = prepared.scenario
    scale = float(s.pool.size.max or prepared.assets["gbv"].sum())
    n = len(s.amcs)
    total = 2**n - 1 if n <= (s.consortium.exact_shapley_max if s.consortium else 12) else None
    done = [0]
    with err.status("preparing…") as status:
        def solving(info: dict) -> None:
            gap, objective, message = info.get("gap"), info.get("objective"), info.get("message")
            text = "solving…"
            if objective is not None:
                text += f" best npv CNY {_money(objective * scale)}m"
            if gap is not None and gap < 1e9:
                text += f", gap {gap:.2%}"
            if message:
                text += f" · {message}"
            status.update(text)

        def coalition(cv) -> None:
            done[0] += 1
            status.update(f"coalition values: {done[0]}" + (f"/{total}" if total else "")
                          + f" ({'+'.join(sorted(cv.members))}: {cv.status})")

        try:
            return run_scenario(s, prepared=prepared, on_stage=lambda name: status.update(name + "…"),
                                on_solve=solving, on_coalition=coalition, **stages)
        except OptimizationError as e:
            write_json(failure_summary(e, prepared), out_dir / "summary.json")
            raise


def _print_summary(data: dict) -> None:
    p = data["pool"]
    gap = data["mip_gap"]
    out.print(
        f"[bold]{data['scenario']}[/]: {data['status']} — pool of {p['n_assets']:,} assets "
        f"({p['n_obligor_groups']:,} obligor groups), gbv CNY {_money(p['gbv'])}m, expected recovery "
        f"{p['recovery_rate']:.1%}, npv CNY {_money(p['npv'])}m"
        + (f", gap {gap:.2e}" if gap is not None else "") + f", solved in {data['solve_seconds']:.1f}s"
    )
    out.print("shares of pool gbv by AMC: " + " · ".join(f"{escape(k)} {v:.1%}" for k, v in data["shares"]["amc"].items()))
    if data.get("valuation"):
        from pooling.pipeline import valuation_text

        out.print(escape(valuation_text(data["valuation"])))
    if data["costliest_limits"]:
        c = Table(title="limits that cost npv (LP shadow prices: npv gained per step of relaxation)", title_justify="left")
        c.add_column("limit")
        c.add_column("npv per step (CNY m)", justify="right")
        for r in data["costliest_limits"]:
            c.add_row(escape(r["name"]), _money(r["npv_per_step"]))
        out.print(c)


def _wrote(paths: list[Path], out_dir: Path) -> None:
    out.print(f"wrote {len(paths)} files to {shown(out_dir)}: " + ", ".join(p.name for p in paths))


@app.command(help=_help(
    "Choose the combined pool: maximise npv under every limit of the scenario.",
    f"Writes {_names(pipeline_files(selection=True))} (limits.csv: each limit's slack and shadow price); with "
    f"pool.objective: tail_npv also {_names(TAIL_FILES)} (the factor scenarios, to re-check the CVaR). Exit 3 "
    "when the limits conflict (they are named), 4 when the solver stops without a pool.",
    "Example: pooling optimize scenarios/demo/scenario.yaml --out out/demo"))
@handles_errors
def optimize(
    scenario: ScenarioArg,
    out_dir: OutDir = Path("out"),
    backend: Annotated[Literal[BACKENDS] | None, typer.Option(help="Override solver.backend.")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", callback=_positive,
                                                     help="Override solver.time_limit_s (seconds, > 0).")] = None,
    strategy: StrategyOpt = None,
) -> None:
    from pooling.pipeline import write_run

    s = _override(_load(scenario), {"solver.backend": backend, "solver.time_limit_s": time_limit,
                                    "solver.strategy": strategy})
    prepared = _prepare_or_report(s, out_dir)
    result = _run(prepared, out_dir, size=False)
    _print_summary(result.summary)
    _wrote(write_run(out_dir, result), out_dir)


def _deal_table(deal) -> Table:
    mc = deal.analytics.get("sizing") == "monte_carlo"
    how = "senior sized by Monte Carlo against its rating's target share" if mc else "senior sized at its rating stress"
    t = Table(title=f"securities (base case; {how})", title_justify="left")
    for c in ("tranche", "size (CNY m)", "% gbv", "% exp. recovery", "coupon", "WAL (y)", "expected maturity", "rating"):
        t.add_column(c, justify="left" if c in ("tranche", "expected maturity", "rating") else "right")
    for r in deal.tranches.itertuples(index=False):
        t.add_row(r.tranche, _money(r.size), f"{r.share_of_gbv:.1%}", f"{r.share_of_expected_recovery:.1%}",
                  f"{r.coupon:.2%}", f"{r.wal_years:.2f}", r.expected_maturity, r.rating)
    return t


def _print_deal(result) -> None:
    deal = result.deal
    a = deal.analytics
    out.print(_deal_table(deal))
    cov = f"{a['senior_coverage']:.2f}x" if a["senior_coverage"] else "n/a"
    out.print(
        f"senior coverage {cov}, break-even haircut {a['senior_break_even_haircut']:.1%}, "
        f"break-even delay {a['senior_break_even_delay_months']:.0f} months, sub IRR {a['sub_irr']:.1%} at its issue price"
    )
    if a.get("sizing") == "monte_carlo":
        mc = deal.stresses[(deal.stresses["method"] == "monte_carlo")
                           & (deal.stresses["rating"] == result.scenario.structure.senior_rating)]
        if len(mc):
            r = mc.iloc[0]
            out.print(f"Monte Carlo ({result.scenario.structure.monte_carlo.scenarios:,} scenarios): the senior is repaid "
                      f"in full in {r['pass_share']:.2%} of them (target {r['target_share']:.2%}); loss probability "
                      f"{a['senior_loss_probability']:.2%}, expected loss {a['senior_expected_loss']:.4%}; the "
                      f"deterministic {result.scenario.structure.senior_rating} stress gives CNY "
                      f"{_money(a['deterministic_senior'])}m (floor: {a['floor']})")
    fee = result.fee
    if result.plan_applied:
        out.print(f"servicer base fee {fee.rate:.2%} of collections, from the servicing plan "
                  f"(structure.servicer_base_fee: plan); the plan's recovery uplift of CNY "
                  f"{_money(result.servicing.total_uplift)}m is in the projected collections")
    else:
        out.print(f"servicer base fee {fee.rate:.2%} of collections, from structure.servicer_base_fee")


def _print_servicing(result) -> None:
    plan = result.servicing
    if plan is None:
        return
    head = f"servicing plan ({plan.method}): fees CNY {_money(plan.total_fee)}m, {plan.effective_fee_rate:.2%} of collections"
    if result.plan_applied:
        out.print(head + f", recovery uplift CNY {_money(plan.total_uplift)}m — applied to the deal")
    else:
        out.print(head + " — a proposal, not applied to the deal (its uplift is not claimed); set "
                  "structure.servicer_base_fee: plan to apply its fee and uplift")


def _read_pool_keys(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path} not found; run `pooling optimize` first or point at its output folder")
    try:
        return read_csv(path, dtype={"amc_id": str, "asset_id": str}, usecols=["amc_id", "asset_id"])
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise InputError(f"{path} is not a pool.csv with amc_id and asset_id columns: {e}") from None


@app.command(help=_help(
    "Size the securities an existing pool supports, through the same pipeline as `pooling run`.",
    f"Writes {_names(pipeline_files(deal=True))}, and {_names(pipeline_files(servicing=True, summary=False))} "
    "with structure.servicer_base_fee: plan. Into a folder that holds a run (summary.json, reports), summary.json "
    f"keeps its selection and takes the new structure, and {_names(REPORT_FILES)} are written again, so no file "
    "disagrees with tranches.csv.",
    "Example: pooling size out/demo --scenario scenarios/demo/scenario.yaml"))
@handles_errors
def size(
    pool_dir: Annotated[Path, typer.Argument(metavar="POOL_DIR", help="Folder with a pool.csv written by `pooling optimize` or `run`.",
                                             show_default=False, exists=True, file_okay=False)],
    scenario: Annotated[Path, typer.Option("--scenario", help="The scenario the pool was selected under.", show_default=False)],
    out_dir: Annotated[Path | None, typer.Option("--out", callback=output_folder, help="Output folder (default: POOL_DIR).")] = None,
) -> None:
    from pooling.pipeline import write_run

    s = _load(scenario)
    out_dir = out_dir or pool_dir
    keys = _read_pool_keys(pool_dir / "pool.csv")
    prepared = _prepare_or_report(s, out_dir)
    result = _run(prepared, out_dir, pool=keys)
    paths = write_run(out_dir, result)
    _print_deal(result)
    if any((out_dir / name).exists() for name in REPORT_FILES):
        with err.status("writing reports…"):
            paths += _reports(result, out_dir, _read_summary(out_dir), _read_allocation(out_dir))
    _wrote(paths, out_dir)


def _read_summary(out_dir: Path) -> dict:
    import json

    return json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))


def _read_allocation(out_dir: Path) -> pd.DataFrame | None:
    path = out_dir / "allocation.csv"
    return read_csv(path, dtype={"amc_id": str}) if path.is_file() else None


@app.command(help=_help(
    "The whole job: validate → select the pool → servicing plan and consortium (when the scenario has a "
    "consortium section) → size the securities → reports.",
    f"Writes {_names(pipeline_files(selection=True, deal=True) + REPORT_FILES)}; with a consortium section also "
    f"{_names(pipeline_files(consortium=True, servicing=True, summary=False))}; with "
    f"structure.servicer_base_fee: plan also {_names(pipeline_files(servicing=True, summary=False))}; with "
    f"pool.objective: tail_npv also {_names(TAIL_FILES)}.",
    "Example: pooling run scenarios/demo/scenario.yaml --out out/demo"))
@handles_errors
def run(
    scenario: ScenarioArg,
    out_dir: OutDir = Path("out"),
    strategy: StrategyOpt = None,
) -> None:
    from pooling.pipeline import write_run

    s = _override(_load(scenario), {"solver.strategy": strategy})
    prepared = _prepare_or_report(s, out_dir)
    result = _run(prepared, out_dir, consortium=prepared.scenario.consortium is not None)
    _print_summary(result.summary)
    if result.consortium is not None:
        _print_consortium(result.consortium)
    _print_servicing(result)
    paths = write_run(out_dir, result)
    _print_deal(result)
    with err.status("writing reports…"):
        paths += _reports(result, out_dir, result.summary,
                          result.consortium.allocation if result.consortium is not None else None)
    _wrote(paths, out_dir)


def _reports(result, out_dir: Path, summary: dict, allocation: pd.DataFrame | None) -> list[Path]:
    from pooling.report.deal import ReportInputs, write_reports

    path = out_dir / "limits.csv"
    limits = (read_csv(path, keep_default_na=False) if path.is_file() else
              pd.DataFrame(columns=["family", "key", "name", "limit", "value", "activity", "slack", "shadow_price",
                                    "npv_per_step"]))
    extra = {name: read_csv(out_dir / f"{name}.csv", dtype={"amc_id": str})
             for name in ("transfers", "collaboration", "packages")
             if allocation is not None and (out_dir / f"{name}.csv").is_file()}
    paths = [Path(p) for p in write_reports(out_dir, ReportInputs(
        scenario=result.scenario, contributed=result.prepared.assets, pool=result.pool, summary=summary,
        limits=limits, deal=result.deal, allocation=allocation, **extra))]
    return check_written(paths, REPORT_FILES, "write_reports")


def _pct(x: float) -> str:
    return f"{x:+.1%}" if np.isfinite(x) else "—"


def _print_consortium(res) -> None:
    """The game's headline (the grand coalition's covered value and how it is realised), the allocation table
    (the rule transfers.csv realises first), the core check and the least core."""
    grand = frozenset(res.allocation["amc_id"])
    value = res.values.get(grand, res.grand.value)
    blocks = res.partitions.get(grand, (grand,))
    how = ("one pooled deal" if len(blocks) == 1 else
           "acting apart beats one pooled deal: " + " | ".join("+".join(sorted(b)) for b in blocks))
    measure = {"surplus": "securitisation surplus", "npv": "pool npv", "senior_proceeds": "senior proceeds"}.get(
        res.measure, res.measure)
    out.print(f"consortium value v(N) = CNY {_money(value)}m of {measure} ({how}; the grand pool's own deal "
              f"{_money(res.grand.value)}m); allocation rule: {res.rule}")
    t = Table(title=f"allocation of v(N) ({'exact' if res.exact else 'sampled'} Shapley); amounts in CNY m",
              title_justify="left")
    cols = ("AMC", "contributed gbv", "standalone", "by gbv", "by npv", "Shapley", "nucleolus", "least core range")
    for c in cols:
        t.add_column(c, justify="left" if c == "AMC" else "right")
    a = res.allocation
    for r in a.to_dict("records"):
        lo, hi = r.get("least_core_min"), r.get("least_core_max")
        rng = f"{_money(lo)} – {_money(hi)}" if lo is not None and pd.notna(lo) else "—"
        t.add_row(escape(str(r["amc_id"])), _money(r["contributed_gbv"]), _money(r["standalone_value"]),
                  _money(r["alloc_gbv"]), _money(r["alloc_npv"]),
                  _money(r["shapley_value"]) + (f" ±{_money(r['shapley_se'])}" if not res.exact else ""),
                  _money(r["nucleolus"]) if "nucleolus" in r and pd.notna(r["nucleolus"]) else "—", rng)
    out.print(t)
    for r in res.core.itertuples(index=False):
        blocking = getattr(r, "blocking_coalition", None) or getattr(r, "worst_coalition", "")
        out.print(f"rule {r.rule}: " + ("in the core" if r.in_core else
                  f"NOT in the core — coalition {blocking} would be CNY {_money(r.max_excess)}m better off alone"))
    if res.least_core_epsilon is not None:
        eps = res.least_core_epsilon
        out.print("the core is " + ("non-empty" if eps <= 1e-6 * max(abs(value), 1) else
                  f"empty: some coalition always gains CNY {_money(eps)}m by leaving (least-core ε)"))
    packages = getattr(res, "packages", None)
    if packages is not None and len(packages):
        out.print(_packages_line(packages))
    collab = getattr(res, "collaboration", None)
    if collab is not None and len(collab):
        c = Table(title="national–local collaboration (collaboration.csv): the range that leaves both better off "
                        "than alone", title_justify="left")
        for col in ("national", "local", "mode", "range", "mid", "local gain (CNY m)", "national gain (CNY m)"):
            c.add_column(col, justify="left" if col in ("national", "local", "mode") else "right")
        for r in collab.to_dict("records"):
            if r["mode"] == "acquisition":
                rng = f"price CNY {_money(r['price_min'])}–{_money(r['price_max'])}m"
                mid = f"{_money(r['price_mid'])}m" if r["feasible"] else "—"
            else:
                rng = f"fee {r['fee_min']:.1%}–{r['fee_max']:.1%}"
                mid = f"{r['fee_mid']:.1%}" if r["feasible"] else "—"
            if not r["feasible"]:
                rng += " (empty)"
            gains = [_money(r[k]) if r["feasible"] else "—" for k in ("local_gain_at_mid", "national_gain_at_mid")]
            c.add_row(escape(str(r["national"])), escape(str(r["local"])), r["mode"], rng, mid, *gains)
        out.print(c)


def _packages_line(packages: pd.DataFrame) -> str:
    """One line on packages.csv: how many packages, how many re-solved, and per AMC what withdrawing its weightiest
    package costs the pooled deal — the withdrawal with the largest value in magnitude, re-solved ones first (else
    the dual estimate, marked)."""
    resolved = packages["method"] == "resolve"
    value = packages["resolve_value"].where(resolved, packages["dual_value"])
    ranked = packages.assign(_value=value, _resolved=resolved, _size=value.abs())
    ranked = ranked[ranked["whatif"] == "withdraw"].sort_values(["_resolved", "_size"], ascending=False, kind="stable")
    best = ranked.groupby("amc_id", sort=False).head(1).set_index("amc_id")
    parts = [f"{escape(str(amc))} {escape(str(best.at[amc, 'package']))} {_money(best.at[amc, '_value'])}m"
             + ("" if best.at[amc, "_resolved"] else " (dual estimate)")
             for amc in packages["amc_id"].unique() if amc in best.index]
    n_resolved = int(resolved.sum())
    return (f"packages (packages.csv): {len(packages):,} packages, {n_resolved} re-solved; what withdrawing each AMC's "
            "weightiest package costs the pooled deal (CNY; negative: the deal gains): " + " · ".join(parts))


@app.command(help=_help(
    "Who brings what and who gets what: coalition values, standalone vs pooled, allocation rules, Shapley, core "
    "check and least core, withdrawals, and the servicer plan.",
    f"Writes {_names(pipeline_files(selection=True, consortium=True, servicing=True))}; with pool.objective: "
    f"tail_npv also {_names(TAIL_FILES)}.",
    "Example: pooling consortium scenarios/demo/scenario.yaml --out out/consortium"))
@handles_errors
def consortium(
    scenario: ScenarioArg,
    out_dir: OutDir = Path("out"),
    workers: Annotated[int | None, typer.Option(min=1, help="Processes for coalition values (default: consortium.workers or 2).")] = None,
) -> None:
    from pooling.pipeline import write_run

    s = _load(scenario)
    s = _override(s, {"consortium": {} if s.consortium is None else None, "consortium.workers": workers})
    prepared = _prepare_or_report(s, out_dir)
    result = _run(prepared, out_dir, size=False, consortium=True)
    _print_consortium(result.consortium)
    _print_servicing(result)
    _wrote(write_run(out_dir, result), out_dir)


@app.command(help=_help(
    "npv against diversification: the best pool at a sweep of HHI (or effective-number) bounds on one dimension, "
    "from the scenario's own optimum to the most diversified pool its other limits allow; each point's pool is "
    "also sized (the senior it can issue, under the scenario's structure: deterministic or Monte Carlo) unless "
    "--no-senior.",
    f"Writes {_names(FRONTIER_FILES)}.",
    "Example: pooling frontier scenarios/demo/scenario.yaml --dimension province --points 8 --out out/frontier"))
@handles_errors
def frontier(
    scenario: ScenarioArg,
    dimension: Annotated[Dimension, typer.Option(help="Dimension to diversify.")] = "province",
    points: Annotated[int, typer.Option(help="Number of frontier points.", min=2, max=50)] = 8,
    measure: Annotated[Literal[MEASURES], typer.Option(help="x-axis.")] = "hhi",
    senior: Annotated[bool, typer.Option("--senior/--no-senior", help="Size each point's pool under the scenario's "
                                         "structure: the senior it can issue against diversification.")] = True,
    out_dir: OutDir = Path("out"),
) -> None:
    from pooling.pipeline import run_frontier
    from pooling.report.frontier import frontier_chart
    from pooling.selection.frontier import write_frontier

    s = _load(scenario)
    prepared = _prepare_or_report(s, out_dir)
    s = prepared.scenario
    with err.status("frontier…") as status:
        table = run_frontier(prepared, dimension, points, measure, size=senior,
                             on_point=lambda done, total: status.update(f"frontier: {done}/{total} points"))
    html = frontier_chart(table, dimension, measure, f"{s.name}: npv vs {dimension} diversification")
    paths = check_written([Path(p) for p in write_frontier(out_dir, table, html)], FRONTIER_FILES, "write_frontier")
    t = Table(title=f"npv vs {dimension} {measure}", title_justify="left")
    sized = "senior_size" in table
    for c in ("bound", "achieved", "npv (CNY m)", "npv loss", *(("senior (CNY m)", "senior / ER") if sized else ()),
              "status"):
        t.add_column(c, justify="left" if c == "status" else "right")
    xb, xa = ("bound_hhi", "hhi") if measure == "hhi" else ("bound_effective_number", "effective_number")
    for r in table.to_dict("records"):
        fmt = (lambda v: f"{v:.4f}") if measure == "hhi" else (lambda v: f"{v:.2f}")
        deal = ()
        if sized:
            ok = r["senior_size"] is not None and pd.notna(r["senior_size"])
            deal = (_money(r["senior_size"]) if ok else "—",
                    f"{r['senior_share_of_expected_recovery']:.1%}" if ok else "—")
        t.add_row(fmt(r[xb]) if np.isfinite(r[xb]) else "—", fmt(r[xa]) if np.isfinite(r[xa]) else "—",
                  _money(r["npv"]) if np.isfinite(r["npv"]) else "—",
                  f"{r['npv_loss_pct']:.2f}%" if np.isfinite(r["npv_loss_pct"]) else "—", *deal, str(r["status"]))
    out.print(t)
    _wrote(paths, out_dir)


@app.command(help=_help(
    "Plan a shelf issuance (储架发行): which acquired assets go into which issue at which pricing window, within "
    "the shelf's cap, validity and number of issues, every issue meeting the plan's limits on its own; maximise "
    "the present value of note proceeds less carrying and issuance costs (docs/shelf.md).",
    f"Writes {_names(SHELF_FILES + SHELF_REPORT_FILES)}. Exit 1 on a bad plan file or bad tapes (validation.csv "
    "lists every problem), 3 when no issue can be made (the conflict is named), 4 when the planner stops without "
    "a schedule.",
    "Example: pooling shelf scenarios/shelf/plan.yaml --out out/shelf"))
@handles_errors
def shelf(
    plan: Annotated[Path, typer.Argument(help="Shelf plan YAML file.", metavar="PLAN", show_default=False)],
    out_dir: OutDir = Path("out"),
) -> None:
    from pooling.errors import OptimizationError
    from pooling.io import write_json
    from pooling.pipeline import run_shelf, write_shelf_run
    from pooling.report.shelf import write_shelf_report
    from pooling.shelf.plan import load_plan

    p = load_plan(plan)
    with err.status("preparing…") as status:
        try:
            run_ = run_shelf(p, on_stage=lambda name: status.update(name + "…"))
        except ValidationFailed as e:
            report_problems(e.problems, out_dir)
            raise
        except OptimizationError as e:
            write_json({"name": p.name, "status": "infeasible" if e.exit_code == 3 else "no_incumbent",
                        "message": str(e), "conflicting_limits": list(getattr(e, "conflicts", []))},
                       out_dir / SHELF_FILES[2])
            raise
    data = run_.summary
    out.print(f"[bold]{escape(p.name)}[/]: {data['status']} — {data['n_issues']} issue(s), notes CNY "
              f"{_money(data['cap_used'])}m of a CNY {_money(p.shelf.cap)}m shelf ({data['cap_used_share']:.1%})")
    m = data["model"]
    out.print(f"PV CNY {_money(data['pv'])}m realised, CNY {_money(data['pv_plan'])}m planned (gap {data['gap']:.1e}; "
              f"{m['n_units']:,} {m['units']} × {len(data['windows']['open'])} windows)")
    t = Table(title="issues (CNY m)", title_justify="left")
    for c in ("issue", "date", "coupon", "assets", "gbv", "planned senior", "sized senior", "notes issued",
              "cap used"):
        t.add_column(c, justify="left" if c in ("issue", "date") else "right")
    from pooling.shelf.results import issues_frame

    for r in issues_frame(run_.result).to_dict("records"):
        t.add_row(str(r["issue"]), r["date"], f"{r['coupon']:.2%}", f"{r['n_assets']:,}", _money(r["gbv"]),
                  _money(r["planned_senior"]), _money(r["sized_senior"]), _money(r["notes"]), f"{r['cap_used_share']:.1%}")
    out.print(t)
    if data["windows"]["closed"]:
        out.print("windows outside the shelf's validity (no issue): " + ", ".join(data["windows"]["closed"]))
    with err.status("writing…"):
        paths = write_shelf_run(out_dir, run_)
        paths += check_written(write_shelf_report(out_dir, run_.result, data), SHELF_REPORT_FILES, "write_shelf_report")
    _wrote(paths, out_dir)


def _amcs_option(value: str) -> str:
    if value != "demo" and not (value.isdigit() and int(value) >= 2):
        raise typer.BadParameter(f"must be 'demo' or a whole number ≥ 2, not {value!r}")
    return value


def _date_option(value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"must be a date like 2026-06-30, not {value!r}") from None
    return value


@app.command(help=_help(
    "Write realistic synthetic multi-AMC tapes, links and a scenario (seeded, from public market facts).",
    "Writes OUT_DIR/scenario.yaml, the tapes under OUT_DIR/data and data/links.csv; with --history also one "
    "history tape per AMC (valued assets and their outcomes, recent ones still open) under OUT_DIR/history. With "
    "--collections DEAL_DIR: monthly servicer reports for that deal instead "
    "(OUT_DIR/collections-YYYY-MM.csv; the plan, optionally with a --shortfall in chosen segments).",
    "Example: pooling synth out/bench --assets 100000 --amcs 8 --format parquet"))
@handles_errors
def synth(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder for the scenario, tapes and links.", show_default=False,
                                            callback=output_folder)],
    assets: Annotated[int, typer.Option(help="Number of assets over all AMCs.", min=10)] = 20_000,
    amcs: Annotated[str, typer.Option(callback=_amcs_option,
                                      help="'demo' (1 national + 3 local AMCs, mixed formats) or a number of AMCs ≥ 2.")] = "demo",
    fmt: Annotated[Literal[TAPE_FORMATS], typer.Option("--format", help="Tape format when --amcs is a number.")] = "parquet",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 0,
    as_of: Annotated[str, typer.Option(callback=_date_option, help="Cut-off date of the tapes (yyyy-mm-dd).")] = "2026-06-30",
    history: Annotated[bool, typer.Option("--history", help="Also write history tapes (for calibrate and backtest) "
                                          "under OUT_DIR/history, cut off at --as-of.")] = False,
    history_assets: Annotated[int, typer.Option(help="Number of historical assets over all AMCs.", min=10)] = 30_000,
    history_start: Annotated[str, typer.Option(callback=_date_option,
                                               help="First valuation date of the history (yyyy-mm-dd).")] = "2016-01-01",
    collections: Annotated[Path | None, typer.Option(
        "--collections", metavar="DEAL_DIR", help="Instead of tapes: synthetic monthly servicer reports for the deal "
        "in DEAL_DIR (a `pooling run` folder), written as OUT_DIR/collections-YYYY-MM.csv.",
        show_default=False)] = None,
    scenario: Annotated[Path | None, typer.Option("--scenario", help="With --collections: the deal's scenario "
                                                  "(default: the resolved copy in DEAL_DIR).", show_default=False)] = None,
    months: Annotated[int, typer.Option(min=1, help="With --collections: months of reports from closing.")] = 12,
    shortfall: Annotated[list[str] | None, typer.Option(
        help="With --collections: collect less than plan in a segment, dimension=segment:share (province, "
             "collateral_type, amc or servicer), e.g. province=CN-ZJ:0.3; repeatable.")] = None,
    noise: Annotated[float, typer.Option(min=0.0, help="With --collections: sigma of a mean-one lognormal factor "
                                                        "per asset (0: collections exactly as planned).")] = 0.0,
) -> None:
    if collections is not None:
        _synth_collections(out_dir, collections, scenario, months, shortfall or [], noise, seed)
        return
    from pooling.tapes.synth import bench_amcs, demo_amcs, write_consortium

    specs = demo_amcs() if amcs == "demo" else bench_amcs(int(amcs), fmt)
    cutoff, start = dt.date.fromisoformat(as_of), dt.date.fromisoformat(history_start)
    if history and not start < cutoff:
        raise UsageError(f"--history-start ({history_start}) must be before --as-of ({as_of})")
    with err.status(f"writing {assets:,} synthetic assets…"):
        path = write_consortium(out_dir, n_assets=assets, amcs=specs, seed=seed, as_of=cutoff)
    out.print(f"wrote {shown(path)} and its tapes ({assets:,} assets, {len(specs)} AMCs)")
    if history:
        from pooling.tapes.history_synth import synth_history, write_history

        with err.status(f"writing {history_assets:,} historical assets…"):
            frame = synth_history(specs, n_assets=history_assets, start=start, cutoff=cutoff, seed=seed)
            paths = write_history(frame, specs, out_dir / "history")
        n_open = int((frame["resolution"] == "open").sum())
        out.print(f"wrote {len(paths)} history tapes to {shown(out_dir / 'history')} ({history_assets:,} assets valued "
                  f"{start} to {cutoff}, {n_open:,} still open at the cut-off)")


def _synth_collections(out_dir: Path, deal_dir: Path, scenario: Path | None, months: int, shortfall: list[str],
                       noise: float, seed: int) -> None:
    """``pooling synth OUT_DIR --collections DEAL_DIR``: the deal's plan as monthly servicer reports."""
    from pooling.cli.monitor import deal_scenario
    from pooling.monitor.synth import parse_shortfall, synth_collections, write_collections
    from pooling.pipeline import deal_plan_of

    cuts = parse_shortfall(shortfall)
    s = deal_scenario(deal_dir, scenario)
    prepared = _prepare_or_report(s, None)
    plan = deal_plan_of(deal_dir, s, prepared)
    frames = synth_collections(plan, months, cuts, noise=noise, seed=seed)
    paths = write_collections(frames, out_dir)
    rows = sum(len(f) for f in frames.values())
    cut = "; ".join(f"{d} {g} −{v:.0%}" for d, g, v in cuts) or "none"
    out.print(f"wrote {len(paths)} monthly servicer reports ({rows:,} rows) for {len(plan.pool):,} pool assets to "
              f"{shown(out_dir)} (shortfall: {cut})")


from pooling.cli.study import study as _study  # noqa: E402  (registered after the commands it sits beside)

app.command(name="study")(handles_errors(_study))

from pooling.cli import monitor as _monitor  # noqa: E402

app.command(name="monitor", help=_monitor.HELP)(handles_errors(_monitor.monitor))

from pooling.cli import valuation as _valuation  # noqa: E402
from pooling.outputs import BACKTEST_FILES, CALIBRATE_FILES, VALUE_FILES  # noqa: E402

app.command(name="calibrate", help=_help(
    "Calibrate the valuation model on resolved-asset history: a recovery-rate model and a censored timing model "
    "(open assets count as right-censored, not dropped).",
    f"Writes {_names(CALIBRATE_FILES)} into the model folder; a scenario uses it with valuation.model: MODEL_DIR.",
    "Example: pooling calibrate scenarios/demo/history/*.csv --out models/demo --holdout-from 2024-07-01"))(
    handles_errors(_valuation.calibrate))
app.command(name="backtest", help=_help(
    "Backtest a calibrated model against realised recoveries (偏差率: deviation rate = (predicted − realised) / "
    "realised, gbv-weighted, overall and by segment), out of time when a holdout date is given.",
    f"Writes {_names(BACKTEST_FILES)} and corrections-<round>.json; every round is appended (never overwritten) and "
    "recorded in the model folder's backtests.csv.",
    "Example: pooling backtest scenarios/demo/history/*.csv --model models/demo --out out/backtest"))(
    handles_errors(_valuation.backtest))
app.command(name="value", help=_help(
    "Value every asset of every tape as a run would (calibrated model or documented priors, levers applied).",
    f"Writes {_names(VALUE_FILES)}: amc_id, asset_id, gbv, expected_recovery, expected_months, npv, recovery_rate, "
    "valuation_source, model_id (and the 80% interval of a calibrated model).",
    "Example: pooling value scenarios/demo/scenario.yaml --out out/value"))(handles_errors(_valuation.value))

from pooling.cli import serve as _serve  # noqa: E402

_serve.users_app.command(name="add", help=_help(
    "Add a user (or replace one of the same name) to USERS.yaml with an argon2 hash of the password read from "
    "standard input; the file is written atomically.",
    "Example: printf '%s' \"$PW\" | pooling users add users.yaml --name zj --role amc --amc ZJ --password-stdin"))(
    handles_errors(_serve.users_add))
app.add_typer(_serve.users_app, name="users")
app.command(name="serve", help=_help(
    "The negotiation workspace in the browser: AMC users see their own assets and pool aggregates, the coordinator "
    "runs rounds (re-select, re-size) that each AMC accepts or objects to; every step goes into an audit log.",
    "Pages at http://HOST:PORT/, the JSON API under /api (described at /docs and /openapi.json). docs/serve.md.",
    "Example: pooling serve scenarios/demo/scenario.yaml --users users.yaml --state workspace"))(
    handles_errors(_serve.serve))


def main() -> None:
    """Entry point of the ``pooling`` console script."""
    try:
        app()
    except ScenarioError as e:  # raised outside a command (should not happen), keep the contract anyway
        err.print(f"[bold red]error[/]: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
