"""Launch the daily job for a range of days as one single-run backfill, recorded in the project's instance.

This is the imperative shell behind ``hean run``: it sets the environment the definitions read,
then executes the job in this process against ``DAGSTER_HOME``, so the run, its checks and its
history show in the UI (``make dev``) exactly like a run launched there.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hean_pipelines.defs.instance_status import CheckResult, check_spec, evaluation_result, pipeline_check_specs
from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB


@dataclass
class RunOutcome:
    """What a run did, for the CLI to print."""

    run_id: str
    success: bool
    first_day: date
    last_day: date
    failed_steps: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    @property
    def failed_days(self) -> list[str]:
        """The days the failed checks named (a ranged run's checks check every day once)."""
        return sorted({day for check in self.failed_checks for day in check.failing_days})

    def unevaluated_checks(self) -> list[str]:
        """Project checks this run planned but never evaluated (skipped because something upstream failed)."""
        evaluated = {f"{check.asset}:{check.check}" for check in self.checks}
        return [
            f"{spec.asset_key.to_user_string()}:{spec.name}"
            for spec in pipeline_check_specs()
            if f"{spec.asset_key.to_user_string()}:{spec.name}" not in evaluated
        ]


def ensure_dagster_home(project_root: Path) -> Path:
    """``DAGSTER_HOME`` if set, else the project's persistent ``.dagster_home`` (shared with `make dev`)."""
    home = Path(os.environ.get("DAGSTER_HOME") or project_root / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    template = project_root / "dagster.yaml"
    if not config.exists() and template.exists():
        config.write_text(template.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_days(first_day: date, last_day: date) -> RunOutcome:
    """Materialize the whole graph for [first_day, last_day] in one run (days in order)."""
    from hean_pipelines.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def(DAILY_PIPELINE_JOB)
    instance = dg.DagsterInstance.get()
    result = job.execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: first_day.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: last_day.isoformat(),
        },
        raise_on_error=False,
    )
    outcome = RunOutcome(run_id=result.run_id, success=result.success, first_day=first_day, last_day=last_day)
    for event in result.all_events:
        if event.is_step_failure and event.step_key:
            outcome.failed_steps.append(event.step_key)
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if isinstance(evaluation, dg.AssetCheckEvaluation):
                spec = check_spec(evaluation.asset_check_key)
                if spec is not None:
                    outcome.checks.append(evaluation_result(spec, evaluation, result.run_id, time.time()))
        elif event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            outcome.materialized.append(materialization.asset_key.to_user_string())
    return outcome


def run_day_by_day(first_day: date, last_day: date) -> list[RunOutcome]:
    """One run per day, in order, to isolate which days fail (each later day still runs on what is there)."""
    outcomes = []
    day = first_day
    while day <= last_day:
        outcomes.append(run_days(day, day))
        day += timedelta(days=1)
    return outcomes
