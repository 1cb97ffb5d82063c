"""The run-failure sensor through Dagster's sensor daemon code, on a run that really failed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hean_pipelines.defs.orchestration.run_failures import RUN_FAILURE_INTERVAL_S, RUN_FAILURE_SENSOR
from hean_pipelines.pipeline_runner import run_days
from hean_pipelines_tests.defs.orchestration.daemon import (
    daemon_workspace,
    only_sensor,
    project_instance,
    sensor_ticks,
    tick_sensors,
)

NEXT_TICK = timedelta(seconds=RUN_FAILURE_INTERVAL_S + 1)


def test_a_failed_run_becomes_one_line_naming_its_days_step_error_and_the_rerun(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    log = tmp_path / "run_failures.log"
    with project_instance(tmp_path) as instance, daemon_workspace(instance) as context:
        only_sensor(context, RUN_FAILURE_SENSOR)
        tick_sensors(context, now)  # a run-status sensor starts from the runs after it is turned on
        assert "Initiating" in (sensor_ticks(context, RUN_FAILURE_SENSOR)[0].skip_reason or "")

        # A sandbox ledger must start on a Monday: a first run on Wednesday fails in the ledger step.
        failed = run_days(date(2026, 1, 7), date(2026, 1, 7))
        assert not failed.success
        assert failed.failed_steps == ["ledger"]

        tick_sensors(context, now + NEXT_TICK)
        lines = log.read_text().splitlines()
        assert len(lines) == 1
        line = lines[0]
        assert f"FAILED job=daily_pipeline | run={failed.run_id} | days=2026-01-07..2026-01-07" in line
        assert "launched_by=hand (UI or hean run)" in line
        assert "failed_steps=ledger (BootstrapError: a sandbox ledger must start on a Monday" in line
        assert line.endswith("rerun: hean run --start 2026-01-07 --end 2026-01-07")
        # The failure time is the run's end: today, not the day the run was about.
        assert line.startswith(now.strftime("%Y-%m-%dT"))

        # Reported once: later ticks do not repeat it.
        tick_sensors(context, now + 2 * NEXT_TICK)
        assert log.read_text().splitlines() == lines
