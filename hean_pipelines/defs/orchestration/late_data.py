"""The late-data sensor: rebuild, in one ranged run, the days whose raw input changed after they were built."""

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB
from hean_pipelines.defs.orchestration.docs import description_of
from hean_pipelines.defs.orchestration.in_flight import daily_run_in_flight, earlier_attempt, waiting_for
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.orchestration.day_inputs import recompute_plan, stale_days
from hean_pipelines.warehouse.connection import DuckDBLockedError, reader

LATE_DATA_SENSOR = "late_data_sensor"
LATE_DATA_INTERVAL_S = 300
READ_LOCK_TIMEOUT_S = 5.0
"""A sensor tick must stay short: if someone holds the file, skip and look again next tick."""


def _late_data(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.RunRequest | dg.SkipReason:
    """Compares every built ledger day's recorded raw input (`ledger.day_inputs`: a fingerprint of the
    day's executions, orders, transaction log, closed PnL and mark bars, chained day to day) with the raw
    tables now. Rows that landed after a day was built -- the lookback re-fetch, an import -- make that day
    stale, and every day after it (day D opens from D-1's close; equity is cumulative). Launches one ranged
    daily_pipeline run from the first stale day through the last built day, days in order, with a run key
    naming the range and the raw state, so one change is recomputed once. Waits while any daily_pipeline
    run is queued or running; reads the warehouse read-only, briefly."""
    in_flight = daily_run_in_flight(context.instance)
    if in_flight is not None:
        return dg.SkipReason(waiting_for(in_flight))
    if not warehouse.exists:
        return dg.SkipReason(f"no warehouse yet at {warehouse.database}")
    try:
        with reader(warehouse.database, lock_timeout_s=READ_LOCK_TIMEOUT_S) as conn:
            report = stale_days(conn, bybit.account)
    except DuckDBLockedError as exc:
        return dg.SkipReason(f"warehouse busy, looking again next tick: {exc}")
    plan = recompute_plan(report)
    unjudged = f"; {len(report.unrecorded)} day(s) built before inputs were recorded" if report.unrecorded else ""
    if plan is None:
        return dg.SkipReason(f"{len(report.built)} built day(s): raw input unchanged since each was built{unjudged}")
    changed = ", ".join(str(d) for d in plan.raw_changed) or "none (an earlier day was rebuilt after them)"
    earlier = earlier_attempt(context, plan.run_key)
    if earlier is not None:
        return dg.SkipReason(
            f"days {plan.first}..{plan.last} are stale (raw input changed on: {changed}), and this sensor's "
            f"run {earlier.run_id} for this very change ended {earlier.status.value}: not launched twice; fix "
            f"the cause, then `hean run --start {plan.first} --end {plan.last}`"
        )
    context.log.info(f"raw input changed on {changed}: rebuilding {plan.first}..{plan.last}")
    return dg.RunRequest(
        run_key=plan.run_key,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: plan.first.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: plan.last.isoformat(),
            "hean/late_data_days": changed[:200],
        },
    )


late_data_sensor = dg.sensor(
    name=LATE_DATA_SENSOR,
    job_name=DAILY_PIPELINE_JOB,
    minimum_interval_seconds=LATE_DATA_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=description_of(_late_data),
)(_late_data)
