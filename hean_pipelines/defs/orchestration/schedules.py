"""The daily schedule: at 00:15 UTC, the whole graph for the day that just closed."""

import dagster as dg

from hean_pipelines.defs.jobs import daily_pipeline

DAILY_SCHEDULE = "daily_pipeline_schedule"
SCHEDULE_MINUTE = 15
SCHEDULE_HOUR = 0

# Dagster derives the cron (`15 0 * * *`, UTC, from the daily partitions) and requests the last closed
# partition with run key = partition key. RUNNING by default: the schedule runs whenever the daemon
# does (`make dev`), as a trader expects; stop it in the UI to pause.
daily_pipeline_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline,
    name=DAILY_SCHEDULE,
    description=(
        "Every day at 00:15 UTC: daily_pipeline for the UTC day that just closed (ingestion re-fetches "
        "the lookback so late rows land). Run key = partition key, so a tick evaluated twice (a retry "
        "after a daemon crash) finds its run instead of launching a second one. Missed ticks older than "
        "the scheduler's catch-up are left to the missing_days_sensor."
    ),
    hour_of_day=SCHEDULE_HOUR,
    minute_of_hour=SCHEDULE_MINUTE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
