"""The one daily job: the whole asset graph for a day (or, as a single run, a range of days)."""

from __future__ import annotations

import dagster as dg

from hean_pipelines.defs.orchestration.freshness import freshness_check_keys
from hean_pipelines.defs.partitions import daily_partitions

DAILY_PIPELINE_JOB = "daily_pipeline"
RUN_QUEUE_TAG = "hean/run_queue"
"""dagster.yaml limits runs with this tag to one at a time: days are built in the order runs were queued."""

daily_pipeline = dg.define_asset_job(
    DAILY_PIPELINE_JOB,
    # Freshness checks judge the clock, not the data: they run from their own sensor, so a run of
    # old days is not marked stale by today's date.
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(*freshness_check_keys()),
    partitions_def=daily_partitions,
    tags={RUN_QUEUE_TAG: DAILY_PIPELINE_JOB},
    # One process, steps in order: every writer holds the one DuckDB file in turn anyway, and a process per
    # step (the multiprocess default) costs seconds of start-up each -- a day took ~50 s instead of ~3 s.
    # Launched runs now execute exactly like `hean run` (execute_in_process).
    executor_def=dg.in_process_executor,
    description="Every asset and check of the truth layer, for one day or a backfill range in one run.",
)
