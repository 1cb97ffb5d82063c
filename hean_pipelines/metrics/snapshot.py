"""One reading: the warehouse (read-only, briefly), then the Dagster instance, then the health score.

DuckDB is held only while :func:`~hean_pipelines.metrics.warehouse.read_warehouse` runs (tens of
milliseconds on the sandbox); the instance and the configuration are read after it is closed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from hean_pipelines.metrics.health import HealthInputs, health_components, health_score
from hean_pipelines.metrics.pipeline_status import PipelineStatus, PipelineStatusReader, status_samples
from hean_pipelines.metrics.samples import MetricsSnapshot, Sample
from hean_pipelines.metrics.warehouse import day_close_timestamp, day_start_timestamp, read_warehouse
from hean_pipelines.warehouse.connection import reader

log = logging.getLogger(__name__)


def _actions_enabled() -> float | None:
    from hean_pipelines.selection.config import SelectorConfigError, load_selector_config

    try:
        return float(load_selector_config().actions_enabled)
    except SelectorConfigError as exc:
        log.warning("hean_actions_enabled left out: %s", exc)
        return None


def _pipeline_status(status_reader: PipelineStatusReader | None) -> PipelineStatus | None:
    if status_reader is None:
        return None
    try:
        return status_reader()
    except Exception as exc:  # the instance is optional for metrics: report it down, never fail
        log.warning("Dagster instance could not be read: %s: %s", type(exc).__name__, exc)
        return None


def take_snapshot(
    db_path: str | Path,
    *,
    lock_timeout_s: float,
    drawdown_limit: float,
    status_reader: PipelineStatusReader | None = None,
    clock: Callable[[], float] = time.time,
) -> MetricsSnapshot:
    """Read every metric now. Raises ``FileNotFoundError`` (no DuckDB file) and
    :class:`~hean_pipelines.warehouse.connection.DuckDBLockedError` (a writer holds it): the caller decides."""
    started = time.monotonic()
    with reader(db_path, lock_timeout_s=lock_timeout_s) as conn:
        reading = read_warehouse(conn)
    held_s = time.monotonic() - started  # how long a writer could have been kept waiting by this read
    taken_at = clock()
    samples: list[Sample] = list(reading.samples)
    status = _pipeline_status(status_reader)
    samples.append(Sample("hean_dagster_instance_up", float(status is not None)))
    if status is not None:
        samples += status_samples(status)
    actions = _actions_enabled()
    if actions is not None:
        samples.append(Sample("hean_actions_enabled", actions))
    samples.append(Sample("hean_drawdown_limit_ratio", drawdown_limit))
    staleness = None
    if reading.last_day is not None:
        staleness = taken_at - day_close_timestamp(reading.last_day)
        samples.append(Sample("hean_last_attributed_day_timestamp_seconds", day_start_timestamp(reading.last_day)))
    components = health_components(
        HealthInputs(
            staleness_seconds=staleness,
            failed_error_checks=status.failed_checks("ERROR") if status else None,
            failed_warn_checks=status.failed_checks("WARN") if status else None,
            api_requests=reading.api_recent.requests,
            api_errors=reading.api_recent.errors,
            drawdown_ratio=float(reading.drawdown_ratio) if reading.drawdown_ratio is not None else None,
            drawdown_limit=drawdown_limit,
        )
    )
    samples += [Sample("hean_health_component", value, {"component": name}) for name, value in components.items()]
    samples.append(Sample("hean_health_score", health_score(components)))
    samples.append(Sample("hean_metrics_snapshot_timestamp_seconds", taken_at))
    samples.append(Sample("hean_metrics_read_duration_seconds", held_s))
    return MetricsSnapshot(taken_at=taken_at, last_day=reading.last_day, samples=tuple(samples))
