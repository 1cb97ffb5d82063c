"""How runs are reported on the console: day ranges collapse, failures name their days."""

from __future__ import annotations

from datetime import date

from hean_pipelines.pipeline_runner import RunOutcome
from hean_pipelines.run_console import day_ranges, gate_problems, render_check_table
from hean_pipelines.run_status import CheckResult


def _check(passed: bool, days: tuple[str, ...] = ()) -> CheckResult:
    return CheckResult(
        asset="ledger_entries",
        check="no_duplicate_entries",
        passed=passed,
        severity="ERROR",
        blocking=True,
        run_id="r",
        timestamp=0.0,
        failing_days=days,
        description="1 duplicated entries or fills on 1 day(s)",
    )


def test_consecutive_days_collapse_into_ranges_and_gaps_stay_visible() -> None:
    days = ["2026-01-03", "2026-01-01", "2026-01-02", "2026-01-05", "2026-01-31", "2026-02-01"]
    assert day_ranges(days) == ("2026-01-01..2026-01-03 (3 days), 2026-01-05, 2026-01-31..2026-02-01 (2 days)")


def test_a_failed_check_is_a_gate_problem_and_its_days_are_printed() -> None:
    outcome = RunOutcome(
        run_id="r",
        success=False,
        first_day=date(2026, 1, 1),
        last_day=date(2026, 1, 3),
        checks=[_check(False, ("2026-01-02",))],
    )
    table = "\n".join(render_check_table(outcome))
    assert "FAIL     ERROR    ledger_entries:no_duplicate_entries" in table
    assert "2026-01-02 -- 1 duplicated entries" in table
    # Every other project check never ran in this outcome: each is listed and counted.
    assert table.count("NOT RUN") == len(outcome.unevaluated_checks()) > 0
    assert gate_problems(outcome) == 1 + len(outcome.unevaluated_checks())


def test_a_failed_run_without_any_check_result_still_fails_the_gate() -> None:
    outcome = RunOutcome(run_id="r", success=False, first_day=date(2026, 1, 1), last_day=date(2026, 1, 1))
    outcome.failed_steps.append("bybit_raw_ingest")
    assert gate_problems(outcome) > 0
