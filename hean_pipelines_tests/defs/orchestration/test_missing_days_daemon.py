"""The missing-days sensor through Dagster's sensor daemon code, the run queue and the run launcher."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.tags import PARTITION_NAME_TAG, RUN_KEY_TAG, SENSOR_NAME_TAG

from hean_pipelines.defs.orchestration.missing_days import MISSING_DAYS_INTERVAL_S, MISSING_DAYS_SENSOR
from hean_pipelines.pipeline_runner import run_days
from hean_pipelines.warehouse.connection import writer
from hean_pipelines_tests.defs.orchestration.daemon import (
    daemon_workspace,
    launch_queued_runs,
    only_sensor,
    project_instance,
    sensor_ticks,
    tick_sensors,
    wait_for_run,
)

NEXT_TICK = timedelta(seconds=MISSING_DAYS_INTERVAL_S + 1)


def _sensor_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """This sensor's runs, oldest first."""
    return list(reversed(instance.get_runs(dg.RunsFilter(tags={SENSOR_NAME_TAG: MISSING_DAYS_SENSOR}))))


def test_missing_days_are_launched_oldest_first_once_each_from_the_first_materialized_day(tmp_path: Path) -> None:
    # The sensor judges "due" by the real clock (its code server's): every January 2026 day is long due.
    now = datetime.now(UTC)
    with project_instance(tmp_path) as instance:
        # History starts on Monday 2026-01-05 (the partitions start on 2025-12-29: those days are not owed).
        built = run_days(date(2026, 1, 5), date(2026, 1, 6))
        assert built.success
        with daemon_workspace(instance) as context:
            only_sensor(context, MISSING_DAYS_SENSOR)

            tick_sensors(context, now)
            [run] = _sensor_runs(instance)
            assert run.tags[PARTITION_NAME_TAG] == run.tags[RUN_KEY_TAG] == "2026-01-07"

            # While that run waits in the queue, nothing else is launched (days go in order).
            tick_sensors(context, now + NEXT_TICK)
            assert len(_sensor_runs(instance)) == 1
            latest = sensor_ticks(context, MISSING_DAYS_SENSOR)[0]
            assert latest.status == TickStatus.SKIPPED
            assert f"waiting: daily_pipeline run {run.run_id} (2026-01-07..2026-01-07)" in (latest.skip_reason or "")

            launch_queued_runs(context)
            assert wait_for_run(instance, run.run_id).status == dg.DagsterRunStatus.SUCCESS

            tick_sensors(context, now + 2 * NEXT_TICK)
            [_, newest] = _sensor_runs(instance)
            assert newest.tags[PARTITION_NAME_TAG] == newest.tags[RUN_KEY_TAG] == "2026-01-08"

            # That day fails for real: its previous day vanished from the ledger (LedgerGapError).
            with writer(tmp_path / "hean.duckdb") as conn:
                conn.execute("DELETE FROM ledger.days WHERE date = DATE '2026-01-07'")
            launch_queued_runs(context)
            assert wait_for_run(instance, newest.run_id).status == dg.DagsterRunStatus.FAILURE

            # The day is still missing, but the sensor does not launch it a second time: a person decides.
            tick_sensors(context, now + 3 * NEXT_TICK)
            assert len(_sensor_runs(instance)) == 2
            skip = sensor_ticks(context, MISSING_DAYS_SENSOR)[0].skip_reason or ""
            assert f"2026-01-08 is missing, and this sensor's run {newest.run_id} for it ended FAILURE" in skip
            assert "hean run --start 2026-01-08 --end 2026-01-08" in skip
