"""The ``pooling`` command.

Exit codes (DESIGN §3.3): 0 ok · 1 invalid input · 2 usage error · 3 infeasible · 4 no feasible pool found.
Errors print one clear block; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pooling.errors import PROBLEM_COLUMNS, InputError, PoolingError, ScenarioError, ValidationFailed
from pooling.io import write_csv

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

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    _state["debug"] = debug


def _fail(error: PoolingError) -> None:
    """Print one clear block for an expected error and exit with its code."""
    err.print(f"[bold red]error[/]: {escape(str(error))}")
    raise typer.Exit(error.exit_code)


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the project's errors to exit codes; unexpected errors print a short message unless --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PoolingError as e:
            if _state["debug"]:
                raise
            _fail(e)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as e:
            if _state["debug"]:
                raise
            err.print(f"[bold red]internal error[/]: {type(e).__name__}: {escape(str(e))}\nRun again with --debug for the traceback.")
            raise typer.Exit(70) from None

    return wrapper


def _money(x: float) -> str:
    return f"{x / 1e6:,.1f}"


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


@app.command()
@handles_errors
def validate(
    scenario: ScenarioArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for validation.csv.")] = Path("out"),
) -> None:
    """Check every tape and the links file; write DIR/validation.csv; exit 1 if anything is wrong.

    Example: ``pooling validate scenarios/demo/scenario.yaml --out out/demo``
    """
    from pooling.tapes.load import check_tapes

    s = _load(scenario)
    with err.status("reading and validating tapes…"):
        tapes, problems = check_tapes(s)
    path = write_csv(problems[PROBLEM_COLUMNS], out_dir / "validation.csv")
    if tapes is None:
        out.print(_problem_table(problems))
        out.print(f"[red]{len(problems):,} problem(s)[/] in {problems['file'].nunique()} file(s) → {path}")
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
    out.print(f"[green]0 problems[/]; {len(tapes.links):,} links → {path}")


def _prepare_or_report(s, out_dir: Path | None):
    """Run the front of the pipeline; on bad tapes write only validation.csv (if out_dir) and raise."""
    from pooling.pipeline import prepare

    with err.status("preparing…") as status:
        try:
            return prepare(s, on_stage=lambda name: status.update(name + "…"))
        except ValidationFailed as e:
            if out_dir is not None:
                write_csv(e.problems[PROBLEM_COLUMNS], out_dir / "validation.csv")
            out.print(_problem_table(e.problems))
            raise


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


@app.command()
@handles_errors
def describe(
    scenario: ScenarioArg,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Also write the tables as CSV here.")] = None,
) -> None:
    """Stratify the contributed assets by AMC, province, industry, collateral, asset type and legal status.

    Also shows concentration (HHI, effective number), the largest obligor groups on the pooled graph and the
    guarantee circles that cross AMCs. Example: ``pooling describe scenarios/demo/scenario.yaml --out out/describe``
    """
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
        out.print(f"wrote {len(paths)} files to {out_dir}")


def _solve_and_write(s, prepared, out_dir: Path):
    """Select the pool with a live status line; write pool.csv, summary.json, limits.csv (or the failure summary)."""
    from pooling.errors import OptimizationError
    from pooling.io import write_json
    from pooling.selection.model import select_pool
    from pooling.selection.results import write_selection

    def progress(info: dict) -> None:
        gap, objective, message = info.get("gap"), info.get("objective"), info.get("message")
        text = "solving…"
        if objective is not None:
            text += f" best npv CNY {_money(objective * scale)}m"
        if gap is not None and gap < 1e9:
            text += f", gap {gap:.2%}"
        if message:
            text += f" · {message}"
        status.update(text)

    scale = float(s.pool.size.max or prepared.assets["gbv"].sum())
    with err.status(f"solving ({s.solver.backend})…") as status:
        try:
            selection = select_pool(prepared.assets, s, on_progress=progress)
        except OptimizationError as e:
            failure = {"scenario": s.name, "status": "infeasible" if e.exit_code == 3 else "no_incumbent",
                       "message": str(e), "conflicting_limits": getattr(e, "conflicts", []),
                       "inputs_sha256": prepared.inputs_sha256}
            write_json(failure, out_dir / "summary.json")
            raise
    return write_selection(out_dir, prepared.assets, selection, s, prepared.inputs_sha256), selection


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
    if data["costliest_limits"]:
        c = Table(title="limits that cost npv (LP shadow prices: npv gained per step of relaxation)", title_justify="left")
        c.add_column("limit")
        c.add_column("npv per step (CNY m)", justify="right")
        for r in data["costliest_limits"]:
            c.add_row(escape(r["name"]), _money(r["npv_per_step"]))
        out.print(c)


@app.command()
@handles_errors
def optimize(
    scenario: ScenarioArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for pool.csv, summary.json, limits.csv.")] = Path("out"),
    backend: Annotated[str | None, typer.Option(help="Override solver.backend: highs or pyomo.")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Override solver.time_limit_s.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Override solver.strategy: auto, milp or lp_round.")] = None,
) -> None:
    """Choose the combined pool: maximise npv under every limit of the scenario.

    Writes pool.csv, summary.json and limits.csv (each limit's slack and shadow price).
    Exit 3 when the limits conflict (they are named), 4 when the solver stops without a pool.
    Example: ``pooling optimize scenarios/demo/scenario.yaml --out out/demo``
    """
    s = _load(scenario)
    overrides = {"backend": backend, "time_limit_s": time_limit, "strategy": strategy}
    solver = s.solver.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if solver.backend not in ("highs", "pyomo"):
        raise InputError(f"--backend must be highs or pyomo, not {solver.backend!r}")
    if solver.strategy not in ("auto", "milp", "lp_round"):
        raise InputError(f"--strategy must be auto, milp or lp_round, not {solver.strategy!r}")
    s = s.model_copy(update={"solver": solver})
    prepared = _prepare_or_report(s, out_dir)
    s = prepared.scenario  # with the levers applied (withdrawn AMCs gone, coupon shifted)
    data, _ = _solve_and_write(s, prepared, out_dir)
    _print_summary(data)
    out.print(f"wrote pool.csv, summary.json, limits.csv to {out_dir}")


def _deal_table(deal) -> Table:
    t = Table(title="securities (base case; senior sized at its rating stress)", title_justify="left")
    for c in ("tranche", "size (CNY m)", "% gbv", "% exp. recovery", "coupon", "WAL (y)", "expected maturity", "rating"):
        t.add_column(c, justify="left" if c in ("tranche", "expected maturity", "rating") else "right")
    for r in deal.tranches.itertuples(index=False):
        t.add_row(r.tranche, _money(r.size), f"{r.share_of_gbv:.1%}", f"{r.share_of_expected_recovery:.1%}",
                  f"{r.coupon:.2%}", f"{r.wal_years:.2f}", r.expected_maturity, r.rating)
    return t


def _print_deal(deal) -> None:
    a = deal.analytics
    out.print(_deal_table(deal))
    cov = f"{a['senior_coverage']:.2f}x" if a["senior_coverage"] else "n/a"
    out.print(
        f"senior coverage {cov}, break-even haircut {a['senior_break_even_haircut']:.1%}, "
        f"break-even delay {a['senior_break_even_delay_months']:.0f} months, sub IRR {a['sub_irr']:.1%} at its issue price"
    )


@app.command()
@handles_errors
def size(
    pool_dir: Annotated[Path, typer.Argument(help="Folder with a pool.csv written by `pooling optimize`.", show_default=False)],
    scenario: Annotated[Path, typer.Option("--scenario", help="The scenario the pool was selected under.", show_default=False)],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder (default: POOL_DIR).")] = None,
) -> None:
    """Size the securities an existing pool supports: tranches.csv, cashflows.csv, stresses, retention.

    Example: ``pooling size out/demo --scenario scenarios/demo/scenario.yaml``
    """
    from pooling.tranching.deal import size_deal, write_deal

    s = _load(scenario)
    out_dir = out_dir or pool_dir
    path = pool_dir / "pool.csv"
    if not path.is_file():
        raise InputError(f"{path} not found; run `pooling optimize` first or point at its output folder")
    wanted = pd.read_csv(path, dtype={"amc_id": str, "asset_id": str}, usecols=["amc_id", "asset_id"], encoding="utf-8-sig")
    prepared = _prepare_or_report(s, out_dir)
    s = prepared.scenario  # with the levers applied (withdrawn AMCs gone, coupon shifted)
    keys = prepared.assets[["amc_id", "asset_id"]].astype(str)
    merged = wanted.merge(keys.reset_index(), on=["amc_id", "asset_id"], how="left", indicator=True)
    missing = merged[merged["_merge"] != "both"]
    if len(missing):
        raise InputError(f"{len(missing)} asset(s) of {path} are not in the scenario's tapes, e.g. "
                         f"{missing.iloc[0]['amc_id']}/{missing.iloc[0]['asset_id']}: size the pool with the scenario it came from")
    pool = prepared.assets.loc[merged["index"].astype(int).to_numpy()]
    with err.status("sizing…"):
        deal = size_deal(pool, s)
    write_deal(out_dir, deal)
    _print_deal(deal)
    out.print(f"wrote tranches.csv, cashflows.csv, stresses.csv, stress_grid.csv, retention.csv to {out_dir}")


@app.command()
@handles_errors
def run(
    scenario: ScenarioArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    strategy: Annotated[str | None, typer.Option(help="Override solver.strategy: auto, milp or lp_round.")] = None,
) -> None:
    """The whole job: validate → select the pool → size the securities → reports.

    Writes pool.csv, summary.json, limits.csv, tranches.csv, cashflows.csv, stresses.csv, stress_grid.csv,
    retention.csv, report.xlsx and report.html. Example: ``pooling run scenarios/demo/scenario.yaml --out out/demo``
    """
    from pooling.io import write_json
    from pooling.tranching.deal import analytics_json, size_deal, write_deal

    s = _load(scenario)
    if strategy is not None:
        if strategy not in ("auto", "milp", "lp_round"):
            raise InputError(f"--strategy must be auto, milp or lp_round, not {strategy!r}")
        s = s.model_copy(update={"solver": s.solver.model_copy(update={"strategy": strategy})})
    prepared = _prepare_or_report(s, out_dir)
    s = prepared.scenario  # with the levers applied (withdrawn AMCs gone, coupon shifted)
    data, selection = _solve_and_write(s, prepared, out_dir)
    _print_summary(data)
    pool_assets = prepared.assets[selection.selected]
    allocation = None
    if s.consortium is not None:
        res, plan = _consortium(s, prepared, pool_assets, out_dir)
        allocation = res.allocation
        if plan is not None:  # the servicing plan's fees become the waterfall's servicer base fee
            s = s.model_copy(update={"structure": s.structure.model_copy(update={"servicer_base_fee": plan.effective_fee_rate})})
    with err.status("sizing the securities…"):
        deal = size_deal(pool_assets, s)
    write_deal(out_dir, deal)
    data["structure"] = analytics_json(deal)
    write_json(data, out_dir / "summary.json")
    _print_deal(deal)
    with err.status("writing reports…"):
        written = _reports(s, prepared.assets, pool_assets, data, out_dir, deal, allocation)
    names = ["pool.csv", "summary.json", "limits.csv", "tranches.csv", "cashflows.csv", "stresses.csv",
             "stress_grid.csv", "retention.csv"]
    if allocation is not None:
        names += [n for n in ("allocation.csv", "coalitions.csv", "core.csv", "withdrawals.csv", "servicers.csv")
                  if (out_dir / n).exists()]
    names += [p.name for p in written]
    out.print(f"wrote {len(names)} files to {out_dir}: " + ", ".join(names))


def _reports(s, contributed, pool, data, out_dir: Path, deal, allocation=None) -> list[Path]:
    from pooling.report.deal import ReportInputs, write_reports

    limits = pd.read_csv(out_dir / "limits.csv", encoding="utf-8-sig", keep_default_na=False)
    return write_reports(out_dir, ReportInputs(scenario=s, contributed=contributed, pool=pool, summary=data,
                                               limits=limits, deal=deal, allocation=allocation))


def _consortium(s, prepared, pool_assets: pd.DataFrame, out_dir: Path):
    """Coalition game, allocations, core, withdrawals, servicing plan; writes their CSVs and prints the tables."""
    from pooling.consortium.game import analyse
    from pooling.consortium.servicing import plan_servicing

    n = len(s.amcs)
    total = 2**n - 1 if n <= (s.consortium.exact_shapley_max if s.consortium else 12) else None
    done = [0]
    with err.status("coalition values…") as status:
        def tick(cv) -> None:
            done[0] += 1
            status.update(f"coalition values: {done[0]}" + (f"/{total}" if total else "") + f" ({'+'.join(sorted(cv.members))}: {cv.status})")

        res = analyse(prepared.assets, s, on_value=tick)
    plan = plan_servicing(pool_assets, s) if len(pool_assets) else None
    write_csv(res.allocation, out_dir / "allocation.csv")
    write_csv(res.coalitions, out_dir / "coalitions.csv")
    if len(res.core):
        write_csv(res.core, out_dir / "core.csv")
    if len(res.withdrawals):
        write_csv(res.withdrawals, out_dir / "withdrawals.csv")
    if plan is not None:
        write_csv(plan.assignments, out_dir / "servicers.csv")
    t = Table(title=f"allocation of the grand value v(N) = CNY {_money(res.grand.value)}m ({'exact' if res.exact else 'sampled'} Shapley)",
              title_justify="left")
    for c in ("AMC", "contributed gbv", "standalone", "by gbv", "by npv", "Shapley", "uplift vs standalone"):
        t.add_column(c, justify="left" if c == "AMC" else "right")
    for r in res.allocation.itertuples(index=False):
        up = f"{r.uplift_shapley_pct:+.1%}" if np.isfinite(r.uplift_shapley_pct) else f"{_money(r.uplift_shapley)}m"
        t.add_row(escape(r.amc_id), _money(r.contributed_gbv), _money(r.standalone_value), _money(r.alloc_gbv),
                  _money(r.alloc_npv), _money(r.shapley_value) + (f" ±{_money(r.shapley_se)}" if not res.exact else ""), up)
    out.print(t)
    for r in res.core.itertuples(index=False):
        out.print(f"rule {r.rule}: " + ("in the core" if r.in_core else
                  f"NOT in the core — coalition {r.worst_coalition} would be CNY {_money(r.max_excess)}m better off alone"))
    if res.least_core_epsilon is not None:
        eps = res.least_core_epsilon
        out.print("the core is " + ("non-empty" if eps <= 1e-6 * max(abs(res.grand.value), 1) else
                  f"empty: some coalition always gains CNY {_money(eps)}m by leaving (least-core ε)"))
    if plan is not None:
        out.print(f"servicing plan ({plan.method}): fees CNY {_money(plan.total_fee)}m, recovery uplift CNY "
                  f"{_money(plan.total_uplift)}m, effective servicer fee {plan.effective_fee_rate:.2%} of collections")
    return res, plan


@app.command()
@handles_errors
def consortium(
    scenario: ScenarioArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    workers: Annotated[int | None, typer.Option(help="Processes for coalition values (default: consortium.workers or 2).")] = None,
) -> None:
    """Who brings what and who gets what: coalition values, standalone vs pooled, allocation rules, Shapley,
    core check and least core, withdrawals, and the servicer plan.

    Writes allocation.csv, coalitions.csv, core.csv, withdrawals.csv, servicers.csv.
    Example: ``pooling consortium scenarios/demo/scenario.yaml --out out/consortium``
    """
    s = _load(scenario)
    if s.consortium is None:
        from pooling.scenario import Consortium

        s = s.model_copy(update={"consortium": Consortium()})
    if workers is not None:
        s = s.model_copy(update={"consortium": s.consortium.model_copy(update={"workers": workers})})
    prepared = _prepare_or_report(s, out_dir)
    s = prepared.scenario  # with the levers applied (withdrawn AMCs gone, coupon shifted)
    _, selection = _solve_and_write(s, prepared, out_dir)
    _consortium(s, prepared, prepared.assets[selection.selected], out_dir)
    out.print(f"wrote allocation.csv, coalitions.csv, core.csv, withdrawals.csv, servicers.csv to {out_dir}")


@app.command()
@handles_errors
def frontier(
    scenario: ScenarioArg,
    dimension: Annotated[str, typer.Option(help="province, industry, collateral_type, asset_type, legal_status, amc or obligor_group.")] = "province",
    points: Annotated[int, typer.Option(help="Number of frontier points.", min=2, max=50)] = 8,
    measure: Annotated[str, typer.Option(help="x-axis: hhi or effective_number.")] = "hhi",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for frontier.csv and frontier.html.")] = Path("out"),
) -> None:
    """npv against diversification: the best pool at a sweep of HHI (or effective-number) bounds on one dimension,
    from the scenario's own optimum to the most diversified pool its other limits allow.

    Example: ``pooling frontier scenarios/demo/scenario.yaml --dimension province --points 8 --out out/frontier``
    """
    from pooling.report.frontier import frontier_chart, write_frontier
    from pooling.selection.frontier import frontier as run_frontier

    s = _load(scenario)
    prepared = _prepare_or_report(s, out_dir)
    s = prepared.scenario
    with err.status("frontier…") as status:
        table = run_frontier(prepared.assets, s, dimension, points, measure,
                             on_point=lambda done, total: status.update(f"frontier: {done}/{total} points"))
    html = frontier_chart(table, dimension, measure, f"{s.name}: npv vs {dimension} diversification")
    write_frontier(out_dir, table, html)
    t = Table(title=f"npv vs {dimension} {measure}", title_justify="left")
    for c in ("bound", "achieved", "npv (CNY m)", "npv loss", "status"):
        t.add_column(c, justify="left" if c == "status" else "right")
    xb, xa = ("bound_hhi", "hhi") if measure == "hhi" else ("bound_effective_number", "effective_number")
    for r in table.to_dict("records"):
        fmt = (lambda v: f"{v:.4f}") if measure == "hhi" else (lambda v: f"{v:.2f}")
        t.add_row(fmt(r[xb]) if np.isfinite(r[xb]) else "—", fmt(r[xa]) if np.isfinite(r[xa]) else "—",
                  _money(r["npv"]) if np.isfinite(r["npv"]) else "—",
                  f"{r['npv_loss_pct']:.2f}%" if np.isfinite(r["npv_loss_pct"]) else "—", str(r["status"]))
    out.print(t)
    out.print(f"wrote frontier.csv and frontier.html to {out_dir}")


@app.command()
@handles_errors
def synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the scenario, tapes and links.", show_default=False)],
    assets: Annotated[int, typer.Option(help="Number of assets over all AMCs.", min=10)] = 20_000,
    amcs: Annotated[str, typer.Option(help="'demo' (1 national + 3 local AMCs, mixed formats) or a number of AMCs.")] = "demo",
    fmt: Annotated[str, typer.Option("--format", help="Tape format when --amcs is a number: csv or parquet.")] = "parquet",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 0,
    as_of: Annotated[str, typer.Option(help="Cut-off date of the tapes (yyyy-mm-dd).")] = "2026-06-30",
) -> None:
    """Write realistic synthetic multi-AMC tapes, links and a scenario (seeded, from public market facts).

    Example: ``pooling synth out/bench --assets 100000 --amcs 8 --format parquet``
    """
    from pooling.tapes.synth import bench_amcs, demo_amcs, write_consortium

    if amcs == "demo":
        specs = demo_amcs()
    elif amcs.isdigit() and int(amcs) >= 2:
        if fmt not in ("csv", "parquet"):
            raise InputError(f"--format must be csv or parquet, not {fmt!r}")
        specs = bench_amcs(int(amcs), fmt)
    else:
        raise InputError(f"--amcs must be 'demo' or a whole number ≥ 2, not {amcs!r}")
    try:
        cutoff = dt.date.fromisoformat(as_of)
    except ValueError:
        raise InputError(f"--as-of must be a date like 2026-06-30, not {as_of!r}") from None
    with err.status(f"writing {assets:,} synthetic assets…"):
        path = write_consortium(out_dir, n_assets=assets, amcs=specs, seed=seed, as_of=cutoff)
    out.print(f"wrote {path} and its tapes ({assets:,} assets, {len(specs)} AMCs)")


from pooling.cli.study import study as _study  # noqa: E402  (registered after the commands it sits beside)

app.command(name="study")(handles_errors(_study))


def main() -> None:
    """Entry point of the ``pooling`` console script."""
    try:
        app()
    except ScenarioError as e:  # raised outside a command (should not happen), keep the contract anyway
        err.print(f"[bold red]error[/]: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
