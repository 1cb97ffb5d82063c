"""Write the daily report for a day: warehouse numbers (read-only, briefly) + what the instance knows.

Shared by the ``daily_report`` asset, ``hean report`` and the run-failure sensor, so a day whose run
failed gets the same report, saying so.
"""

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from hean_pipelines.defs.instance_status import StatusHistory
from hean_pipelines.reporting.daily_data import read_daily_report_data
from hean_pipelines.reporting.markdown import render_daily_report
from hean_pipelines.selection.config import load_selector_config
from hean_pipelines.warehouse.connection import reader

# The daily assets whose freshness the report shows, in graph order.
REPORTED_ASSETS = (
    "bybit_executions",
    "bybit_transactions",
    "mark_prices",
    "positions",
    "ledger_entries",
    "process_attribution",
    "portfolio_attribution",
    "selector_scores",
)


def report_path(reports_dir: Path, day: date) -> Path:
    return reports_dir / "daily" / f"{day.isoformat()}.md"


def status_history(instance: dg.DagsterInstance) -> StatusHistory:
    """The instance's runs, checks and the reported assets, read once for any number of days' reports."""
    return StatusHistory(instance, [dg.AssetKey(name) for name in REPORTED_ASSETS])


def render_report(
    db_path: Path,
    instance: dg.DagsterInstance,
    day: date,
    lock_timeout_s: float = 30.0,
    history: StatusHistory | None = None,
) -> str:
    """The report's Markdown for ``day``."""
    actions = load_selector_config().actions_enabled
    if db_path.exists():
        with reader(db_path, lock_timeout_s=lock_timeout_s) as conn:
            data = read_daily_report_data(conn, day, actions_enabled=actions)
    else:
        from hean_pipelines.reporting.daily_data import DailyReportData

        data = DailyReportData(day=day, window_days=7, actions_enabled=actions)
    status = (history or status_history(instance)).day_status(day)
    return render_daily_report(data, status, generated_at=datetime.now(UTC))


def write_report(
    db_path: Path,
    instance: dg.DagsterInstance,
    day: date,
    reports_dir: Path,
    lock_timeout_s: float = 30.0,
    history: StatusHistory | None = None,
) -> tuple[Path, str]:
    """Render and save the report for ``day`` under ``reports_dir/daily/``; returns the path and the text."""
    text = render_report(db_path, instance, day, lock_timeout_s, history)
    path = report_path(reports_dir, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a reader never sees half a report.
    partial = path.with_suffix(".md.partial")
    partial.write_text(text)
    partial.replace(path)
    return path, text
