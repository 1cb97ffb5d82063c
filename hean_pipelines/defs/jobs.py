"""The one daily job: the whole asset graph for a day (or, as a single run, a range of days)."""

from __future__ import annotations

import dagster as dg

from hean_pipelines.defs.partitions import daily_partitions

DAILY_PIPELINE_JOB = "daily_pipeline"

daily_pipeline = dg.define_asset_job(
    DAILY_PIPELINE_JOB,
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Every asset and check of the truth layer, for one day or a backfill range in one run.",
)
