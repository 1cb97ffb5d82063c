"""The snapshot files the pipeline writes after each run: ``metrics.json`` and ``metrics.prom``.

``metrics.json`` holds every sample (name, labels, value) with the time of the reading and the last
attributed day; the exporter serves it when it has no reading of its own yet (started while a run holds
the warehouse, say). ``metrics.prom`` is the same in Prometheus' text format (for node_exporter's
textfile collector, or ``promtool check metrics``). Both are replaced atomically (write, then rename).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from hean_pipelines.metrics.collector import families, served_samples
from hean_pipelines.metrics.samples import MetricsSnapshot, Sample

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SnapshotFiles:
    json_path: Path
    prom_path: Path


def snapshot_to_json(snapshot: MetricsSnapshot) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "taken_at": snapshot.taken_at,
        "last_day": snapshot.last_day.isoformat() if snapshot.last_day else None,
        "samples": [{"name": s.name, "labels": dict(s.labels), "value": s.value} for s in snapshot.samples],
    }


def snapshot_from_json(data: dict[str, Any]) -> MetricsSnapshot:
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"metrics.json format_version {data.get('format_version')!r}, expected {FORMAT_VERSION}")
    return MetricsSnapshot(
        taken_at=float(data["taken_at"]),
        last_day=date.fromisoformat(data["last_day"]) if data["last_day"] else None,
        samples=tuple(Sample(s["name"], float(s["value"]), dict(s["labels"])) for s in data["samples"]),
    )


def load_snapshot(json_path: Path) -> MetricsSnapshot | None:
    """The snapshot in ``json_path``, or None when there is no such file."""
    try:
        text = json_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return snapshot_from_json(json.loads(text))


class _Fixed(Collector):
    def __init__(self, samples: list[Sample]) -> None:
        self._samples = samples

    def collect(self) -> Iterator[Metric]:
        return iter(families(self._samples))


def write_snapshot_files(snapshot: MetricsSnapshot, directory: Path) -> SnapshotFiles:
    """Write ``metrics.json`` and ``metrics.prom`` into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = SnapshotFiles(directory / "metrics.json", directory / "metrics.prom")
    temporary = files.json_path.with_suffix(f".json.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(snapshot_to_json(snapshot), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, files.json_path)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(served_samples(snapshot, snapshot.taken_at)))
    write_to_textfile(str(files.prom_path), registry)  # atomic: a temporary file, then rename
    return files
