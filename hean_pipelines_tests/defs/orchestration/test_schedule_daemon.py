"""The daily schedule through Dagster's scheduler daemon code, the run queue and the default run launcher."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.tags import PARTITION_NAME_TAG, RUN_KEY_TAG, SCHEDULED_EXECUTION_TIME_TAG

from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB, RUN_QUEUE_TAG
from hean_pipelines.defs.orchestration.schedules import DAILY_SCHEDULE
from hean_pipelines.orchestration.day_inputs import stale_days
from hean_pipelines.pipeline_runner import run_days
from hean_pipelines.warehouse.connection import reader
from hean_pipelines_tests.defs.orchestration.daemon import (
    daemon_logger,
    daemon_workspace,
    launch_queued_runs,
    project_instance,
    remote_schedule,
    table_checksums,
    tick_schedules,
    wait_for_run,
)
from hean_pipelines_tests.defs.test_definitions import FILE_ASSETS

# The schedule fires at 00:15 UTC for the day that just closed. 2026-01-05 is a Monday (the sandbox is
# flat on Mondays, so a ledger can start there).
BEFORE_FIRST_TICK = datetime(2026, 1, 6, 0, 10, tzinfo=UTC)
FIRST_TICK = datetime(2026, 1, 6, 0, 15, tzinfo=UTC)
SECOND_TICK = datetime(2026, 1, 7, 0, 15, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _ticks(context, instance: dg.DagsterInstance) -> list:
    schedule = remote_schedule(context, DAILY_SCHEDULE)
    return list(instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id))


@pytest.mark.parametrize(
    ("crash_point", "resumed"),
    [
        # The daemon died after creating the run, before submitting it: the retry submits that run.
        ("RUN_CREATED", "already created for this execution"),
        # The daemon died after submitting the run, before recording it on the tick: the retry finds it.
        ("RUN_LAUNCHED", "already completed for this execution"),
    ],
)
def test_a_tick_evaluated_twice_launches_exactly_one_run(tmp_path: Path, crash_point: str, resumed: str) -> None:
    with project_instance(tmp_path) as instance, daemon_workspace(instance) as context:
        # The daemon is up before the tick (a schedule never launches for times before it started).
        tick_schedules(context, BEFORE_FIRST_TICK)
        assert instance.get_runs_count() == 0

        logger, log = daemon_logger(f"crash-{crash_point}")
        crash = Exception(f"daemon crashed at {crash_point}")
        errors = tick_schedules(
            context, FIRST_TICK + MINUTE, logger, debug_crash_flags={DAILY_SCHEDULE: {crash_point: crash}}
        )
        assert any(e is not None and str(crash) in e.message for e in errors)
        [first] = instance.get_runs()
        [tick] = _ticks(context, instance)
        assert tick.status == TickStatus.FAILURE  # dagster.yaml's max_tick_retries lets it be evaluated again

        # The same tick, evaluated a second time.
        tick_schedules(context, FIRST_TICK + 2 * MINUTE, logger)
        assert "Retrying previously failed schedule execution at" in " ".join(log.messages)
        assert any(first.run_id in m and resumed in m for m in log.messages)
        [run] = instance.get_runs()
        assert run.run_id == first.run_id
        assert run.status == dg.DagsterRunStatus.QUEUED  # submitted once, waiting for the run queue
        [tick] = _ticks(context, instance)
        assert tick.status == TickStatus.SUCCESS
        assert tick.run_ids == [run.run_id]
        assert run.tags[PARTITION_NAME_TAG] == run.tags[RUN_KEY_TAG] == "2026-01-05"
        assert run.tags[SCHEDULED_EXECUTION_TIME_TAG] == FIRST_TICK.isoformat()

        # And once more, at a later minute of the same day: the tick is done, nothing new.
        tick_schedules(context, FIRST_TICK + 10 * MINUTE, logger)
        assert instance.get_runs_count() == 1
        assert len(_ticks(context, instance)) == 1


@dataclass
class ScheduledDays:
    instance: dg.DagsterInstance
    db: Path
    runs: list[dg.DagsterRun]
    finished: list[dg.DagsterRun]


@pytest.fixture(scope="module")
def scheduled_days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScheduledDays]:
    """Two daily ticks through the scheduler; each run queued, launched by the run queue and executed."""
    tmp_path = tmp_path_factory.mktemp("scheduled")
    with project_instance(tmp_path) as instance, daemon_workspace(instance) as context:
        tick_schedules(context, BEFORE_FIRST_TICK)
        finished = []
        for tick in (FIRST_TICK, SECOND_TICK):
            tick_schedules(context, tick + MINUTE)
            launch_queued_runs(context)
            [latest] = instance.get_runs(limit=1)
            finished.append(wait_for_run(instance, latest.run_id))
        runs = list(reversed(instance.get_runs()))
        yield ScheduledDays(instance, tmp_path / "hean.duckdb", runs, finished)


def test_each_tick_launches_the_day_that_just_closed_with_the_partition_key_as_run_key(
    scheduled_days: ScheduledDays,
) -> None:
    runs = scheduled_days.runs
    assert [r.tags[PARTITION_NAME_TAG] for r in runs] == ["2026-01-05", "2026-01-06"]
    assert [r.tags[RUN_KEY_TAG] for r in runs] == ["2026-01-05", "2026-01-06"]
    assert [r.tags[SCHEDULED_EXECUTION_TIME_TAG] for r in runs] == [FIRST_TICK.isoformat(), SECOND_TICK.isoformat()]
    assert all(r.job_name == DAILY_PIPELINE_JOB for r in runs)
    assert all(r.tags[RUN_QUEUE_TAG] == DAILY_PIPELINE_JOB for r in runs)  # one at a time, in order
    assert all(r.tags["dagster/schedule_name"] == DAILY_SCHEDULE for r in runs)


def test_daemon_launched_runs_complete_and_build_their_days(scheduled_days: ScheduledDays) -> None:
    assert [r.status for r in scheduled_days.finished] == [dg.DagsterRunStatus.SUCCESS] * 2
    with reader(scheduled_days.db) as conn:
        built = [r[0] for r in conn.execute("SELECT date FROM ledger.days ORDER BY 1").fetchall()]
        processes = conn.execute("SELECT count(DISTINCT date) FROM attribution.process_daily").fetchone()
    assert built == [date(2026, 1, 5), date(2026, 1, 6)]
    assert processes == (2,)
    materialized = scheduled_days.instance.get_materialized_partitions(dg.AssetKey("generated_processes"))
    assert materialized == {"2026-01-05", "2026-01-06"}


def test_every_materialization_carries_its_row_count(scheduled_days: ScheduledDays) -> None:
    instance = scheduled_days.instance
    day_two = scheduled_days.runs[1].run_id
    counts = {}
    for record in instance.get_records_for_run(day_two, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        materialization = record.event_log_entry.asset_materialization
        assert materialization is not None
        if materialization.asset_key.to_user_string() in FILE_ASSETS:
            continue
        counts[materialization.asset_key.to_user_string()] = materialization.metadata["dagster/row_count"].value
    assert len(counts) == 13  # every table asset of the graph
    with reader(scheduled_days.db) as conn:
        expected = {
            "ledger_entries": "SELECT count(*) FROM ledger.entries WHERE date = DATE '2026-01-06'",
            "bybit_executions": "SELECT count(*) FROM raw.bybit_executions WHERE day = DATE '2026-01-06'",
            "process_attribution": "SELECT count(*) FROM attribution.process_daily WHERE date = DATE '2026-01-06'",
            "selector_scores": "SELECT count(*) FROM selection.scores WHERE as_of = DATE '2026-01-06'",
        }
        for asset, sql in expected.items():
            row = conn.execute(sql).fetchone()
            assert row is not None and row[0] > 0
            assert counts[asset] == row[0], asset


@pytest.mark.idempotency
def test_rematerializing_a_day_by_hand_leaves_every_table_byte_identical(scheduled_days: ScheduledDays) -> None:
    before = table_checksums(scheduled_days.db)
    # Every schema of the warehouse takes part, not only the ledger.
    assert {t.split(".")[0] for t in before} >= {"raw", "registry", "ledger", "attribution", "selection", "factory"}
    assert "ledger.day_inputs" in before
    for day in (date(2026, 1, 5), date(2026, 1, 6)):
        outcome = run_days(day, day)
        assert outcome.success, outcome.failed_steps
        assert table_checksums(scheduled_days.db) == before, day
    with reader(scheduled_days.db) as conn:
        assert stale_days(conn, "main").stale == ()
