"""The values a reading produces: samples (name, labels, value) and the snapshot that holds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Sample:
    """One exposition line: a sample name of the catalog, its labels and a float value.

    Money is exact DECIMAL in the warehouse; it becomes a float only here, at the Prometheus boundary.
    """

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSnapshot:
    """One reading of the warehouse (and of the Dagster instance), and when it was taken."""

    taken_at: float
    """Unix time at which the values were read."""
    last_day: date | None
    """The last attributed day (None before the first attribution)."""
    samples: tuple[Sample, ...]
