"""The one partitioning of the project: UTC days from the configured start date."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg

from hean_pipelines.settings import load_settings

DUCKDB_WRITER_POOL = "duckdb_writer"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=load_settings().start_date.isoformat(), timezone="UTC", fmt="%Y-%m-%d"
)


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the run's partition window -- one day or a whole backfill range."""
    window = context.partition_time_window
    first = window.start.date()
    last = datetime.fromtimestamp(window.end.timestamp() - 1, tz=window.end.tzinfo).date()
    return first, last
