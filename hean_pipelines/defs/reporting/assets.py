"""The daily report: the day's truth in one Markdown page, saved under reports/ and shown in the UI."""

from pathlib import Path

import dagster as dg

from hean_pipelines.defs.partitions import daily_partitions
from hean_pipelines.defs.reporting.daily_report_writer import status_history, write_report
from hean_pipelines.defs.resources import WarehouseResource
from hean_pipelines.defs.windows import each_day, partition_days
from hean_pipelines.settings import load_settings

REPORTING_GROUP = "reporting"


@dg.asset(
    name="daily_report",
    group_name=REPORTING_GROUP,
    kinds={"markdown", "python"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["portfolio_attribution", "process_attribution", "selector_scores", "generated_processes"],
    metadata={"path": "reports/daily/<date>.md"},
)
def daily_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """A Markdown report per day under `reports/daily/<date>.md`: portfolio totals with the truth-layer
    breakdown (pnl, funding, rewards, fees, opportunity cost → total), the per-process table, profit-illusion
    flags, selector decisions and reasons, every check's verdict and data freshness (runs and checks read
    from the Dagster instance). Only reads the warehouse. The last day's report is shown here; `hean report
    --date D` writes any day's, also a day whose checks failed."""
    first_day, last_day = partition_days(context)
    settings = load_settings()
    paths = []
    text = ""
    history = status_history(context.instance)  # once for the whole range, not once per day
    for day in each_day(first_day, last_day):
        path, text = write_report(
            Path(warehouse.database), context.instance, day, settings.reports_dir, warehouse.lock_timeout_s, history
        )
        paths.append(path)
    return dg.MaterializeResult(
        metadata={
            "reports_written": len(paths),
            "last_report": dg.MetadataValue.path(str(paths[-1].resolve())),
            "report": dg.MetadataValue.md(text),
        }
    )
