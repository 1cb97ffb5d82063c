"""Run and check status of the pipeline as metrics, from the plain data of :mod:`hean_pipelines.run_status`.

This module does not import Dagster: ``hean_pipelines.defs.observability.instance`` reads the instance
into a :class:`PipelineStatus`; here it only becomes samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hean_pipelines.metrics.samples import Sample
from hean_pipelines.run_status import AssetStatus, CheckResult, RunSummary

SEVERITIES = ("ERROR", "WARN")


@dataclass(frozen=True)
class PipelineStatus:
    last_successful_run: RunSummary | None
    """The newest successful run of the daily job, if any."""
    assets: tuple[AssetStatus, ...]
    checks: tuple[CheckResult, ...]
    """The latest evaluation of every check."""

    def failed_checks(self, severity: str) -> int:
        return sum(1 for c in self.checks if not c.passed and c.severity == severity)


PipelineStatusReader = Callable[[], PipelineStatus]
"""Reads the current status; may raise (the snapshot then reports the instance as down)."""


def status_samples(status: PipelineStatus) -> Iterable[Sample]:
    run = status.last_successful_run
    if run is not None and run.end_time is not None:
        yield Sample("hean_last_successful_run_timestamp_seconds", run.end_time)
    for asset in sorted(status.assets, key=lambda a: a.asset):
        if asset.last_materialized_at is not None:
            yield Sample(
                "hean_asset_last_materialization_timestamp_seconds", asset.last_materialized_at, {"asset": asset.asset}
            )
    failed = Counter((c.asset, c.severity) for c in status.checks if not c.passed)
    # Every asset with checks gets both severities (0 included), so "no failure" is a value, not a gap.
    for asset_name in sorted({c.asset for c in status.checks}):
        for severity in SEVERITIES:
            labels = {"asset": asset_name, "severity": severity}
            yield Sample("hean_asset_failed_checks", float(failed[(asset_name, severity)]), labels)
    for c in sorted(status.checks, key=lambda c: (c.asset, c.check)):
        labels = {"asset": c.asset, "check": c.check, "severity": c.severity}
        yield Sample("hean_check_failed", float(not c.passed), labels)
