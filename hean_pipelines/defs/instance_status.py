"""What the Dagster instance knows about runs, materializations and checks -- read for reports and metrics.

The warehouse holds the numbers; only the instance knows whether a day's run failed or which check
said no. The daily report and the metrics read it here, so a day whose checks failed still shows up
with the reason instead of silently missing. Ranged runs (single-run backfills) carry their window in
the ``dagster/asset_partition_range_*`` tags, and our window checks name failing days in a
``failing_dates`` metadata entry: both are decoded here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from functools import cache

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.dagster_run import DagsterRun, RunRecord
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB
from hean_pipelines.run_status import AssetStatus, CheckResult, DayStatus, RunSummary

__all__ = [
    "AssetStatus",
    "CheckResult",
    "DayStatus",
    "RunSummary",
    "StatusHistory",
    "asset_statuses",
    "last_successful_run",
    "latest_check_results",
]

# How far back the instance is searched for runs and check evaluations covering a day: a year of
# daily runs plus re-runs; older history is not what a daily report or a scrape is about.
HISTORY_LIMIT = 1000


@cache
def project_check_specs() -> tuple[dg.AssetCheckSpec, ...]:
    """Every asset check the project defines (loaded once; the definitions do not change in a process)."""
    from hean_pipelines.definitions import defs

    graph = defs().resolve_asset_graph()
    return tuple(graph.get_check_spec(key) for key in sorted(graph.asset_check_keys, key=str))


@cache
def pipeline_check_specs() -> tuple[dg.AssetCheckSpec, ...]:
    """The checks a run of the daily job evaluates: all but the freshness checks (they run from a sensor)."""
    from hean_pipelines.defs.orchestration.freshness import freshness_check_keys

    excluded = set(freshness_check_keys())
    return tuple(spec for spec in project_check_specs() if spec.key not in excluded)


def check_spec(key: dg.AssetCheckKey) -> dg.AssetCheckSpec | None:
    """The project's spec of one check, ``None`` for a check the project does not define."""
    return next((spec for spec in project_check_specs() if spec.key == key), None)


def run_window(run: DagsterRun) -> tuple[str, str] | None:
    """First and last partition key of a run: its range tags, or its single partition."""
    tags = run.tags
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        return tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG], tags[PARTITION_NAME_TAG]
    return None


def _text(metadata: dict, name: str) -> str:
    value = metadata.get(name)
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _days(metadata: dict) -> tuple[str, ...]:
    text = _text(metadata, "failing_dates")
    if not text or text == "none":
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def evaluation_result(
    spec: dg.AssetCheckSpec, evaluation: dg.AssetCheckEvaluation, run_id: str, timestamp: float
) -> CheckResult:
    """A check evaluation (from the event log or from a run's own events) as a :class:`CheckResult`."""
    metadata = dict(evaluation.metadata or {})
    return CheckResult(
        asset=spec.asset_key.to_user_string(),
        check=spec.name,
        passed=bool(evaluation.passed),
        severity=evaluation.severity.value,
        blocking=bool(spec.blocking),
        run_id=run_id,
        timestamp=timestamp,
        failing_days=_days(metadata),
        description=_text(metadata, "summary") or (spec.description or ""),
    )


def _check_result(spec: dg.AssetCheckSpec, record: AssetCheckExecutionRecord) -> CheckResult | None:
    if record.status is AssetCheckExecutionRecordStatus.PLANNED or record.event is None:
        return None
    dagster_event = record.event.dagster_event
    evaluation = dagster_event.event_specific_data if dagster_event else None
    if not isinstance(evaluation, dg.AssetCheckEvaluation):
        return None
    return evaluation_result(spec, evaluation, record.run_id, record.create_timestamp)


def _specs_for(asset_keys: Iterable[dg.AssetKey] | None) -> list[dg.AssetCheckSpec]:
    specs = project_check_specs()
    if asset_keys is None:
        return list(specs)
    wanted = set(asset_keys)
    return [spec for spec in specs if spec.asset_key in wanted]


def latest_check_results(
    instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey] | None = None
) -> list[CheckResult]:
    """The latest completed evaluation of every check on ``asset_keys`` (all the project's checks by default)."""
    specs = _specs_for(asset_keys)
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key([spec.key for spec in specs])
    results = []
    for spec in specs:
        record = records.get(spec.key)
        result = _check_result(spec, record) if record else None
        if result is None:
            # The newest record may be a planned one of a run in progress: fall back to the last completed.
            history = instance.event_log_storage.get_asset_check_execution_history(
                spec.key,
                limit=1,
                status={AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED},
            )
            result = _check_result(spec, history[0]) if history else None
        if result is not None:
            results.append(result)
    return results


def _failed_error_checks(instance: dg.DagsterInstance) -> dict[str, list[CheckResult]]:
    """Failed ERROR-severity check evaluations, by run id (one pass over the check history)."""
    by_run: dict[str, list[CheckResult]] = {}
    for spec in pipeline_check_specs():
        history = instance.event_log_storage.get_asset_check_execution_history(
            spec.key, limit=HISTORY_LIMIT, status={AssetCheckExecutionRecordStatus.FAILED}
        )
        for record in history:
            result = _check_result(spec, record)
            if result and result.severity == "ERROR":
                by_run.setdefault(record.run_id, []).append(result)
    return by_run


def _summary(record: RunRecord, failed: dict[str, list[CheckResult]]) -> RunSummary:
    run = record.dagster_run
    window = run_window(run)
    checks = failed.get(run.run_id, [])
    return RunSummary(
        run_id=run.run_id,
        status=run.status.value,
        start_time=record.start_time,
        end_time=record.end_time,
        first_day=window[0] if window else None,
        last_day=window[1] if window else None,
        failed_days=tuple(sorted({day for check in checks for day in check.failing_days})),
        failed_checks=tuple(sorted(f"{check.asset}:{check.check}" for check in checks)),
    )


def last_successful_run(instance: dg.DagsterInstance, job_name: str = DAILY_PIPELINE_JOB) -> RunSummary | None:
    """The newest successful run of the daily job."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    return _summary(records[0], _failed_error_checks(instance)) if records else None


def asset_statuses(instance: dg.DagsterInstance, asset_keys: Sequence[dg.AssetKey]) -> list[AssetStatus]:
    """Latest materialization of each asset (time, run, partition); ``None`` fields when never materialized."""
    events = instance.get_latest_materialization_events(asset_keys)
    statuses = []
    for key in asset_keys:
        event = events.get(key)
        # The newest event of a ranged run need not be its latest day: ask for the partitions themselves.
        partitions = instance.get_materialized_partitions(key) if event else set()
        statuses.append(
            AssetStatus(
                asset=key.to_user_string(),
                last_materialized_at=event.timestamp if event else None,
                last_materialized_run_id=event.run_id if event else None,
                last_partition=max(partitions) if partitions else None,
            )
        )
    return statuses


class StatusHistory:
    """What the instance knows for a set of days, read once: a report over a 90-day range asks for each
    day's runs and check verdicts without going back to the instance 90 times."""

    def __init__(self, instance: dg.DagsterInstance, asset_keys: Sequence[dg.AssetKey] = ()) -> None:
        self._instance = instance
        self._runs = instance.get_run_records(filters=dg.RunsFilter(job_name=DAILY_PIPELINE_JOB), limit=HISTORY_LIMIT)
        self._windows = {record.dagster_run.run_id: run_window(record.dagster_run) for record in self._runs}
        self._failed = _failed_error_checks(instance)
        self._checks = [
            (spec, instance.event_log_storage.get_asset_check_execution_history(spec.key, limit=HISTORY_LIMIT))
            for spec in project_check_specs()
        ]
        self._assets = tuple(asset_statuses(instance, asset_keys))

    def _window(self, run_id: str) -> tuple[str, str] | None:
        if run_id not in self._windows:  # a check evaluated by a run of another job
            run = self._instance.get_run_by_id(run_id)
            self._windows[run_id] = run_window(run) if run else None
        return self._windows[run_id]

    def runs_covering(self, day: date) -> list[RunSummary]:
        """Every run of the daily job whose window includes ``day``, newest first."""
        covering = []
        for record in self._runs:
            window = self._windows[record.dagster_run.run_id]
            if window and window[0] <= day.isoformat() <= window[1]:
                covering.append(_summary(record, self._failed))
        return covering

    def check_results_for_day(self, day: date) -> list[CheckResult]:
        """Per check, the latest evaluation by a run whose window includes ``day``, judged for that day.

        A ranged run checks its window once: its verdict for ``day`` is a failure only when ``day`` is
        among the failing dates it named (or it named none, i.e. it could not tell which day failed).
        """
        results = []
        for spec, history in self._checks:
            for record in history:
                window = self._window(record.run_id)
                if not window or not window[0] <= day.isoformat() <= window[1]:
                    continue
                result = _check_result(spec, record)
                if result is None:
                    continue
                if not result.passed and result.failing_days and day.isoformat() not in result.failing_days:
                    result = CheckResult(**{**result.__dict__, "passed": True, "failing_days": ()})
                results.append(result)
                break
        return results

    def day_status(self, day: date) -> DayStatus:
        """Runs, check verdicts and asset materializations for one day, as the daily report shows them."""
        return DayStatus(
            day=day,
            runs=tuple(self.runs_covering(day)),
            checks=tuple(self.check_results_for_day(day)),
            expected_checks=tuple(f"{s.asset_key.to_user_string()}:{s.name}" for s in pipeline_check_specs()),
            assets=self._assets,
        )
