"""The snapshot files: metrics.json reads back as it was written; metrics.prom is valid Prometheus text."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from hean_pipelines.metrics.files import load_snapshot, write_snapshot_files
from hean_pipelines.metrics.snapshot import take_snapshot
from hean_pipelines_tests.monitoring.processes import promtool


def test_json_round_trip_and_a_prometheus_text_file_promtool_accepts(sandbox_week: Path, tmp_path: Path) -> None:
    snapshot = take_snapshot(sandbox_week / "hean.duckdb", lock_timeout_s=5, drawdown_limit=0.1)
    files = write_snapshot_files(snapshot, tmp_path / "metrics")
    assert load_snapshot(files.json_path) == snapshot
    text = files.prom_path.read_text()
    lint = promtool("check", "metrics", stdin=text)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    parsed = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for sample in snapshot.samples:
        assert parsed[(sample.name, tuple(sorted(sample.labels.items())))] == sample.value
    # Plus the staleness of the data as of the snapshot (the only value that depends on when it is served).
    assert ("hean_data_staleness_seconds", ()) in parsed


def test_no_file_is_no_snapshot(tmp_path: Path) -> None:
    assert load_snapshot(tmp_path / "metrics.json") is None
