"""The names of the files each writer writes (DESIGN §3.3), in one light module.

The writers return the paths they wrote and check them against these names; the CLI builds each command's
``--help`` from them, without importing the heavy layers, and a test checks that each command writes exactly
what its help lists.
"""

from __future__ import annotations

#: the selection (:func:`pooling.pipeline.write_selection_files`)
SELECTION_FILES = ("pool.csv", "limits.csv")
#: also written by :func:`pooling.pipeline.write_selection_files` with ``pool.objective: tail_npv``: the factor
#: scenarios (scenario, segment, multiplier) the pool's CVaR was taken over, to re-check it from pool.csv
TAIL_FILES = ("tail_scenarios.csv",)
#: :func:`pooling.pipeline.write_summary`
SUMMARY_FILES = ("summary.json",)
#: :func:`pooling.tranching.deal.write_deal`, in its order
DEAL_FILES = ("tranches.csv", "cashflows.csv", "stresses.csv", "stress_grid.csv", "retention.csv")
#: written with the deal files by :func:`pooling.pipeline.write_run` (``pooling run``, ``pooling size``): the
#: resolved scenario (:func:`pooling.scenario.scenario_copy_text`), which ``pooling monitor`` reads by default
SCENARIO_COPY_FILES = ("scenario.resolved.yaml",)
#: :func:`pooling.pipeline.write_consortium_files`
CONSORTIUM_FILES = ("allocation.csv", "coalitions.csv", "core.csv", "withdrawals.csv", "transfers.csv",
                    "collaboration.csv", "packages.csv")
#: :func:`pooling.pipeline.write_servicing_files`
SERVICING_FILES = ("servicers.csv",)
#: :func:`pooling.report.deal.write_reports`, in its order
REPORT_FILES = ("report.xlsx", "report.html")
#: :func:`pooling.selection.frontier.write_frontier`, in its order
FRONTIER_FILES = ("frontier.csv", "frontier.html")
#: ``pooling validate``
VALIDATE_FILES = ("validation.csv",)


def files_written(*, selection: bool = False, summary: bool = True, deal: bool = False, consortium: bool = False,
                  servicing: bool = False, tail: bool = False) -> tuple[str, ...]:
    """The data files :func:`pooling.pipeline.write_run` writes for a run of this shape, in its order (``tail``:
    a selection under ``pool.objective: tail_npv``).

    >>> files_written(selection=True)
    ('pool.csv', 'limits.csv', 'summary.json')
    >>> files_written(selection=True, tail=True, summary=False)
    ('pool.csv', 'limits.csv', 'tail_scenarios.csv')
    """
    return ((SELECTION_FILES if selection else ()) + (TAIL_FILES if selection and tail else ())
            + (SUMMARY_FILES if summary else ()) + (DEAL_FILES + SCENARIO_COPY_FILES if deal else ())
            + (CONSORTIUM_FILES if consortium else ()) + (SERVICING_FILES if servicing else ()))


def check_written(paths: list, declared: tuple[str, ...], writer: str) -> list:
    """``paths`` unchanged when their names are ``declared`` (in order); otherwise a RuntimeError: a writer and its
    declaration have drifted apart, which is a bug, not a user error."""
    names = tuple(getattr(p, "name", str(p)) for p in paths)
    if names != declared:
        raise RuntimeError(f"{writer} wrote {list(names)} but declares {list(declared)}")
    return paths
#: ``pooling calibrate`` (:func:`pooling.valuation.fitted.save_model`, then the calibration table and model card)
CALIBRATE_FILES = ("model.json", "calibration.csv", "model_card.html")
#: ``pooling backtest`` (:func:`pooling.valuation.backtest.write_backtest`; also ``corrections-<round>.json``, and
#: one row appended to the model folder's ``backtests.csv``)
BACKTEST_FILES = ("backtest.csv", "corrections.json", "backtest.html")
#: ``pooling value``
VALUE_FILES = ("valuation.csv",)
#: ``pooling shelf`` (:func:`pooling.pipeline.write_shelf_run`, in its order), then the report page
SHELF_FILES = ("issues.csv", "assignments.csv", "shelf.json")
SHELF_REPORT_FILES = ("shelf.html",)
#: ``pooling monitor`` (:func:`pooling.pipeline.write_monitor`, then :func:`pooling.report.monitor.write_monitor_reports`)
MONITOR_FILES = ("monitor.csv", "triggers.csv", "watchlist.csv", "reforecast.csv", "monitor.json")
MONITOR_REPORT_FILES = ("monitor.xlsx", "monitor.html")
