"""The missing-days sensor: launch days the schedule never ran, oldest first, one day per tick."""

from datetime import date

import dagster as dg
from dagster._time import get_current_datetime

from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB
from hean_pipelines.defs.orchestration.docs import description_of
from hean_pipelines.defs.orchestration.freshness import DAILY_ASSETS
from hean_pipelines.defs.orchestration.in_flight import daily_run_in_flight, earlier_attempt, waiting_for
from hean_pipelines.orchestration.gaps import complete_days, last_due_day, missing_days

MISSING_DAYS_SENSOR = "missing_days_sensor"
MISSING_DAYS_INTERVAL_S = 60
LEDGER_ASSET = "positions"
"""The ledger's first materialized day is where the pipeline's history starts."""


def _materialized_days(instance: dg.DagsterInstance, asset: str) -> set[date]:
    return {date.fromisoformat(key) for key in instance.get_materialized_partitions(dg.AssetKey(asset))}


def _missing_days(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Launches daily_pipeline for days that should have run and did not (daemon down longer than the
    scheduler's catch-up, schedule stopped, a failed day), from the ledger's first materialized day, not
    from the partitions' start date. A day is missing when any daily asset lacks its partition; it is due
    from 01:15 UTC the next day (the schedule's 00:15 run goes first). The earliest missing day is launched
    alone (run key = partition key) because day D opens from D-1's close; later ticks follow once it is
    built. Waits while any daily_pipeline run is queued or running. A day this sensor already launched and
    that still failed is not launched again: the skip reason says so, and a person re-runs it."""
    in_flight = daily_run_in_flight(context.instance)
    if in_flight is not None:
        return dg.SkipReason(waiting_for(in_flight))
    ledger_days = _materialized_days(context.instance, LEDGER_ASSET)
    if not ledger_days:
        return dg.SkipReason(
            "nothing materialized yet: the first days are a person's call (`make run`, `hean run`, or a backfill)"
        )
    complete = complete_days({asset: _materialized_days(context.instance, asset) for asset in DAILY_ASSETS})
    owed = missing_days(min(ledger_days), complete, last_due_day(get_current_datetime()))
    if owed.earliest is None:
        return dg.SkipReason(f"no day missing from {owed.first_day} to {owed.last_due}")
    day = owed.earliest.isoformat()
    earlier = earlier_attempt(context, day)
    if earlier is not None:
        return dg.SkipReason(
            f"{day} is missing, and this sensor's run {earlier.run_id} for it ended {earlier.status.value}: "
            f"not launched twice; fix the cause, then `hean run --start {day} --end {day}` "
            f"({len(owed.days)} day(s) missing, {owed.days[0]}..{owed.days[-1]})"
        )
    context.log.info(f"{len(owed.days)} day(s) missing from {owed.days[0]} to {owed.days[-1]}: launching {day}")
    return dg.RunRequest(run_key=day, partition_key=day, tags={"hean/missing_days": str(len(owed.days))})


missing_days_sensor = dg.sensor(
    name=MISSING_DAYS_SENSOR,
    job_name=DAILY_PIPELINE_JOB,
    minimum_interval_seconds=MISSING_DAYS_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=description_of(_missing_days),
)(_missing_days)
