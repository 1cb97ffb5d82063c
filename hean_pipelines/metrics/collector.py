"""The prometheus_client collector: a fresh reading at each scrape, else the last one, with its age.

At each scrape the collector tries to read DuckDB (read-only, waiting at most a moment for the lock).
When a run holds the lock, or the file is missing, or the read fails, it serves the last values it has
(from an earlier scrape, or from the ``metrics.json`` the pipeline wrote) and says so:
``hean_metrics_snapshot_stale`` 1, ``hean_metrics_snapshot_age_seconds`` their age, and
``hean_metrics_read_failures_total{reason}``. A scrape never fails because of the warehouse.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from hean_pipelines.metrics.catalog import METRICS, spec_for_sample
from hean_pipelines.metrics.samples import MetricsSnapshot, Sample
from hean_pipelines.metrics.warehouse import day_close_timestamp
from hean_pipelines.warehouse.connection import DuckDBLockedError

log = logging.getLogger(__name__)

READ_FAILURE_REASONS = ("locked", "missing", "error")


def served_samples(snapshot: MetricsSnapshot, now: float) -> list[Sample]:
    """The snapshot's samples plus what depends on the time they are served at."""
    samples = list(snapshot.samples)
    if snapshot.last_day is not None:
        samples.append(Sample("hean_data_staleness_seconds", now - day_close_timestamp(snapshot.last_day)))
    return samples


def families(samples: Iterable[Sample]) -> list[Metric]:
    """prometheus_client metric families, in catalog order, for the samples given."""
    by_family: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_family[spec_for_sample(sample.name).name].append(sample)
    out = []
    for spec in METRICS:
        if spec.name not in by_family:
            continue
        metric = Metric(spec.family_name, spec.help, spec.type)
        for sample in by_family[spec.name]:
            metric.add_sample(sample.name, dict(sample.labels), sample.value)
        out.append(metric)
    return out


class WarehouseCollector(Collector):
    """Serves ``read()``'s snapshot, or the last good one when ``read()`` cannot reach DuckDB."""

    def __init__(
        self,
        read: Callable[[], MetricsSnapshot],
        fallback: Callable[[], MetricsSnapshot | None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self._fallback = fallback
        self._clock = clock
        self._last: MetricsSnapshot | None = None
        self._failures = dict.fromkeys(READ_FAILURE_REASONS, 0)
        # prometheus_client serves each request on its own thread: one reading at a time.
        self._lock = threading.Lock()

    def _refresh(self) -> bool:
        """Try a fresh reading; True when the values served come from it."""
        try:
            self._last = self._read()
            return True
        except DuckDBLockedError:
            reason = "locked"  # a run is writing: expected, and the run has priority
        except FileNotFoundError:
            reason = "missing"
        except Exception:  # never fail a scrape: serve the last values and count the failure
            log.exception("metrics: reading the warehouse failed; serving the last values")
            reason = "error"
        self._failures[reason] += 1
        if self._last is None:
            try:
                self._last = self._fallback()
            except Exception:
                log.exception("metrics: the snapshot file could not be read")
        return False

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            fresh = self._refresh()
            snapshot = self._last
            failures = dict(self._failures)
        now = self._clock()
        meta = [Sample("hean_metrics_snapshot_stale", float(not fresh))]
        meta += [Sample("hean_metrics_read_failures_total", float(n), {"reason": r}) for r, n in failures.items()]
        samples: list[Sample] = []
        if snapshot is not None:
            samples = served_samples(snapshot, now)
            meta.append(Sample("hean_metrics_snapshot_age_seconds", max(0.0, now - snapshot.taken_at)))
        yield from families([*samples, *meta])
