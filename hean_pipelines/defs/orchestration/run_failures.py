"""The run-failure sensor: every failed run in the instance becomes one line a person can act on."""

from datetime import UTC, datetime

import dagster as dg
from dagster._time import get_current_datetime
from dagster._utils.error import SerializableErrorInfo

from hean_pipelines.defs.orchestration.docs import description_of
from hean_pipelines.orchestration.failures import RunFailure, StepFailure, append_line, describe, error_summary
from hean_pipelines.settings import load_settings

RUN_FAILURE_SENSOR = "run_failure_sensor"
RUN_FAILURE_INTERVAL_S = 30


def _root_cause(error: SerializableErrorInfo) -> SerializableErrorInfo:
    # Dagster wraps the asset's exception (DagsterExecutionStepExecutionError): the person needs the
    # innermost one, raised by our code.
    while error.cause is not None:
        error = error.cause
    return error


def _step_failures(context: dg.RunFailureSensorContext) -> list[StepFailure]:
    failures = []
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        if isinstance(error, SerializableErrorInfo):
            root = _root_cause(error)
            summary = error_summary(root.cls_name, root.message)
        else:
            summary = event.message or "no error recorded"
        failures.append(StepFailure(step=event.step_key or "?", error=summary))
    return failures


def _failed_at(context: dg.RunFailureSensorContext) -> datetime:
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    if record is not None and record.end_time is not None:
        return datetime.fromtimestamp(record.end_time, tz=UTC)
    return get_current_datetime()


def _report_run_failure(context: dg.RunFailureSensorContext) -> None:
    """Reports every failed run in the instance (daily_pipeline, freshness-check runs), however it was
    launched (schedule, sensor, UI, `hean run`): one line with the time, job, run id, the days it covered,
    who launched it, each failed step with the class and first line of its root error, and the `hean run`
    command that re-runs those days. The line goes to the sensor's log (UI: Automation -> run_failure_sensor
    -> tick logs) and is appended to HEAN_RUN_FAILURE_LOG (default `reports/run_failures.log`). Starts
    with the failures after it is first turned on."""
    failure = RunFailure(
        job=context.dagster_run.job_name,
        run_id=context.dagster_run.run_id,
        failed_at=_failed_at(context),
        tags=dict(context.dagster_run.tags),
        steps=_step_failures(context),
        message=context.failure_event.message or "",
    )
    line = describe(failure)
    context.log.error(line)
    append_line(load_settings().run_failure_log, line)


run_failure_sensor = dg.run_failure_sensor(
    name=RUN_FAILURE_SENSOR,
    minimum_interval_seconds=RUN_FAILURE_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Runs of `hean run` execute in-process and carry no code-location origin: a sensor scoped to this
    # location would never see them. The instance holds this project only, so "all" means this project.
    monitor_all_code_locations=True,
    description=description_of(_report_run_failure),
)(_report_run_failure)
