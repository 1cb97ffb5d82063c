"""What the sensors ask the instance: is a daily_pipeline run in flight, did I launch this run key before?"""

import dagster as dg

from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB

# Queued or created runs count: a run the queue has not started yet will still write the days it covers.
PENDING_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def daily_run_in_flight(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """The oldest daily_pipeline run not finished yet, if any."""
    runs = instance.get_runs(
        dg.RunsFilter(job_name=DAILY_PIPELINE_JOB, statuses=PENDING_STATUSES), limit=1, ascending=True
    )
    return runs[0] if runs else None


def waiting_for(run: dg.DagsterRun) -> str:
    """A skip reason naming the run the sensor waits for."""
    first = run.tags.get("dagster/asset_partition_range_start") or run.tags.get("dagster/partition", "?")
    last = run.tags.get("dagster/asset_partition_range_end") or run.tags.get("dagster/partition", "?")
    return (
        f"waiting: daily_pipeline run {run.run_id} ({first}..{last}) is {run.status.value}; "
        "one daily_pipeline run at a time, so days are built in order"
    )


def earlier_attempt(context: dg.SensorEvaluationContext, run_key: str) -> dg.DagsterRun | None:
    """This sensor's run for ``run_key``, if it launched one (the daemon would silently skip the key again)."""
    runs = context.instance.get_runs(
        dg.RunsFilter(tags={"dagster/sensor_name": context.sensor_name, "dagster/run_key": run_key}), limit=1
    )
    return runs[0] if runs else None
