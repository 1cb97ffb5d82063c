"""Run and check status of the pipeline, as plain data (read from the Dagster instance by the defs layer).

This module does not import Dagster: ``hean_pipelines.defs.observability.instance`` reads the instance
and returns a :class:`PipelineStatus`; here it only becomes samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hean_pipelines.metrics.samples import Sample

SEVERITIES = ("ERROR", "WARN")


@dataclass(frozen=True)
class CheckState:
    """The latest evaluation of one asset check."""

    asset: str
    check: str
    severity: str
    passed: bool


@dataclass(frozen=True)
class PipelineStatus:
    last_successful_run_end: float | None
    """End time (Unix) of the last successful daily_pipeline run; None when there is none."""
    last_materialized: dict[str, float]
    """Asset -> Unix time of its latest materialization (assets never materialized are left out)."""
    checks: tuple[CheckState, ...]

    def failed_checks(self, severity: str) -> int:
        return sum(1 for c in self.checks if not c.passed and c.severity == severity)


PipelineStatusReader = Callable[[], PipelineStatus]
"""Reads the current status; may raise (the snapshot then reports the instance as down)."""


def status_samples(status: PipelineStatus) -> Iterable[Sample]:
    if status.last_successful_run_end is not None:
        yield Sample("hean_last_successful_run_timestamp_seconds", status.last_successful_run_end)
    for asset, when in sorted(status.last_materialized.items()):
        yield Sample("hean_asset_last_materialization_timestamp_seconds", when, {"asset": asset})
    failed = Counter((c.asset, c.severity) for c in status.checks if not c.passed)
    # Every asset with checks gets both severities (0 included), so "no failure" is a value, not a gap.
    for asset in sorted({c.asset for c in status.checks}):
        for severity in SEVERITIES:
            yield Sample(
                "hean_asset_failed_checks", float(failed[(asset, severity)]), {"asset": asset, "severity": severity}
            )
    for c in sorted(status.checks, key=lambda c: (c.asset, c.check)):
        yield Sample(
            "hean_check_failed", float(not c.passed), {"asset": c.asset, "check": c.check, "severity": c.severity}
        )
