"""The line a failed run becomes: days, launcher, root error, the command that re-runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hean_pipelines.orchestration.failures import (
    RunFailure,
    StepFailure,
    append_line,
    describe,
    error_summary,
    launched_by,
)

AT = datetime(2026, 1, 8, 0, 16, 3, tzinfo=UTC)


def test_a_scheduled_day_that_failed_in_the_ledger() -> None:
    failure = RunFailure(
        job="daily_pipeline",
        run_id="r-1",
        failed_at=AT,
        tags={"dagster/partition": "2026-01-07", "dagster/schedule_name": "daily_pipeline_schedule"},
        steps=[StepFailure("ledger", "LedgerGapError: day 2026-01-07 needs 2026-01-06")],
        message="Execution of run for \"daily_pipeline\" failed. Steps failed: ['ledger'].",
    )
    assert describe(failure) == (
        "2026-01-08T00:16:03Z | FAILED job=daily_pipeline | run=r-1 | days=2026-01-07..2026-01-07"
        " | launched_by=schedule daily_pipeline_schedule"
        " | failed_steps=ledger (LedgerGapError: day 2026-01-07 needs 2026-01-06)"
        " | rerun: hean run --start 2026-01-07 --end 2026-01-07"
    )


def test_a_ranged_run_without_failed_steps_reports_its_run_level_reason() -> None:
    failure = RunFailure(
        job="daily_pipeline",
        run_id="r-2",
        failed_at=datetime(2026, 1, 8, 2, 0, tzinfo=timezone(timedelta(hours=2))),
        tags={
            "dagster/asset_partition_range_start": "2026-01-06",
            "dagster/asset_partition_range_end": "2026-01-08",
            "dagster/sensor_name": "late_data_sensor",
        },
        message="Exceeded maximum runtime of 21600 seconds.\nmore detail",
    )
    line = describe(failure)
    assert line.startswith("2026-01-08T00:00:00Z | ")  # written in UTC
    assert "days=2026-01-06..2026-01-08 | launched_by=sensor late_data_sensor" in line
    assert "reason=Exceeded maximum runtime of 21600 seconds. | rerun:" in line


def test_a_run_without_days_has_no_rerun_command() -> None:
    line = describe(RunFailure(job="__ASSET_JOB", run_id="r-3", failed_at=AT, message="boom"))
    assert "days=none" in line and "launched_by=hand (UI or hean run)" in line
    assert "rerun" not in line


def test_launchers() -> None:
    assert launched_by({"dagster/backfill": "b1"}) == "backfill b1"
    assert launched_by({}) == "hand (UI or hean run)"


def test_error_summary_names_the_class_once_and_keeps_the_first_line() -> None:
    qualified = "hean_pipelines.ledger.window.BootstrapError: must start on a Monday\nTraceback..."
    assert error_summary("BootstrapError", qualified) == "BootstrapError: must start on a Monday"
    assert error_summary("ValueError", "ValueError: bad") == "ValueError: bad"
    assert error_summary("KeyError", "'x'") == "KeyError: 'x'"
    assert error_summary(None, "") == "unknown error"
    assert len(error_summary("E", "x" * 1000)) < 320


def test_lines_are_appended_whole(tmp_path: Path) -> None:
    log = tmp_path / "reports" / "run_failures.log"
    append_line(log, "one")
    append_line(log, "two\nstill two")
    assert log.read_text().splitlines() == ["one", "two still two"]
