"""What ``hean run`` and ``hean check`` print about a run: its checks, the days they failed and why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from hean_pipelines.pipeline_runner import RunOutcome


def day_ranges(days: Sequence[str]) -> str:
    """``2026-01-01..2026-01-03, 2026-01-05``: consecutive days collapsed, so 28 failing days fit a line."""
    ordered = sorted({date.fromisoformat(day) for day in days})
    spans: list[tuple[date, date]] = []
    for day in ordered:
        if spans and day == spans[-1][1] + timedelta(days=1):
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return ", ".join(f"{a}" if a == b else f"{a}..{b} ({(b - a).days + 1} days)" for a, b in spans)


def _days(days: Sequence[str]) -> str:
    return day_ranges(days) if days else "(days not named)"


def render_outcome(outcome: RunOutcome) -> list[str]:
    """The lines ``hean run`` prints after a run (one ranged run or one day)."""
    lines = [f"run {outcome.run_id}: {'SUCCESS' if outcome.success else 'FAILURE'}"]
    if outcome.materialized:
        lines.append("materialized: " + ", ".join(sorted(set(outcome.materialized))))
    if outcome.checks:
        lines.append(f"checks: {len(outcome.checks)} evaluated, {len(outcome.failed_checks)} failed")
    for step in outcome.failed_steps:
        lines.append(f"  failed step: {step}")
    for check in outcome.failed_checks:
        lines.append(
            f"  failed check: {check.asset}:{check.check} [{check.severity}] "
            f"days: {_days(check.failing_days)} -- {check.description}"
        )
    if not outcome.success:
        skipped = outcome.unevaluated_checks()
        if skipped:
            lines.append("  not evaluated (upstream failed): " + ", ".join(skipped))
        if outcome.failed_days:
            lines.append(f"failed days: {day_ranges(outcome.failed_days)}")
        if outcome.first_day != outcome.last_day:
            lines.append(
                f"to isolate the failing days: hean run --start {outcome.first_day} --end {outcome.last_day} "
                "--day-by-day"
            )
    return lines


def render_day_by_day(outcomes: Sequence[RunOutcome]) -> list[str]:
    """One line per day of a day-by-day re-run, then the failing days."""
    lines = ["day         result   run                                   failed checks / steps"]
    for outcome in outcomes:
        problems = [f"{c.asset}:{c.check}" for c in outcome.failed_checks] + outcome.failed_steps
        lines.append(
            f"{outcome.first_day}  {'ok' if outcome.success else 'FAILED':<7}  {outcome.run_id}  "
            + (", ".join(problems) or "-")
        )
    failing = [o.first_day.isoformat() for o in outcomes if not o.success]
    lines.append(f"failing days: {', '.join(failing)}" if failing else "every day passed")
    return lines


def render_check_table(outcome: RunOutcome) -> list[str]:
    """Every project check of a run: PASS, FAIL (with days and reason) or NOT RUN -- the CI gate's output."""
    lines = [f"{'result':<8} {'severity':<8} {'check':<55} days / reason"]
    for check in sorted(outcome.checks, key=lambda c: (c.passed, c.asset, c.check)):
        result = "PASS" if check.passed else "FAIL"
        detail = "" if check.passed else f"{_days(check.failing_days)} -- {check.description}"
        lines.append(f"{result:<8} {check.severity:<8} {check.asset + ':' + check.check:<55} {detail}".rstrip())
    for name in outcome.unevaluated_checks():
        lines.append(f"{'NOT RUN':<8} {'':<8} {name:<55} an upstream step failed, so this check never ran")
    if outcome.failed_steps:
        lines.append("failed steps: " + ", ".join(outcome.failed_steps) + " (a failed blocking check fails its step)")
    return lines


def gate_problems(outcome: RunOutcome) -> int:
    """Failed and never-run checks; a failed step counts only when no check explains the failure."""
    problems = len(outcome.failed_checks) + len(outcome.unevaluated_checks())
    return problems or len(outcome.failed_steps) or (0 if outcome.success else 1)
