"""The one partitioning of the project: UTC days from the configured start date."""

from __future__ import annotations

import dagster as dg

from hean_pipelines.settings import load_settings

DUCKDB_WRITER_POOL = "duckdb_writer"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=load_settings().start_date.isoformat(), timezone="UTC", fmt="%Y-%m-%d"
)
