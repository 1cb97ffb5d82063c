"""What is known about runs and checks, as plain data: read from the Dagster instance by the shell.

Reports and metrics take these, so they stay testable without Dagster; ``defs/instance_status.py``
fills them from the instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class CheckResult:
    """The latest evaluation of one asset check (for a day: the latest run that covered that day)."""

    asset: str
    check: str
    passed: bool
    severity: str
    blocking: bool
    run_id: str
    timestamp: float
    failing_days: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class AssetStatus:
    """When an asset was last materialized, by which run, and its latest partition."""

    asset: str
    last_materialized_at: float | None
    last_materialized_run_id: str | None
    last_partition: str | None


@dataclass(frozen=True)
class RunSummary:
    """A run of the daily job: its status, when, which days, and the days its checks named as failing."""

    run_id: str
    status: str
    start_time: float | None
    end_time: float | None
    first_day: str | None
    last_day: str | None
    failed_days: tuple[str, ...]
    failed_checks: tuple[str, ...]

    def covers(self, day: date) -> bool:
        if self.first_day is None or self.last_day is None:
            return False
        return self.first_day <= day.isoformat() <= self.last_day


@dataclass(frozen=True)
class DayStatus:
    """What the instance says about one day: the runs that covered it, each check's verdict, the assets."""

    day: date
    runs: tuple[RunSummary, ...]  # newest first
    checks: tuple[CheckResult, ...]
    expected_checks: tuple[str, ...]  # "asset:check" for every check the project defines
    assets: tuple[AssetStatus, ...]

    @property
    def latest_run(self) -> RunSummary | None:
        return self.runs[0] if self.runs else None

    def unevaluated(self) -> list[str]:
        evaluated = {f"{c.asset}:{c.check}" for c in self.checks}
        return [name for name in self.expected_checks if name not in evaluated]
