"""The exporter over real HTTP on loopback: fresh values, last values while a writer holds DuckDB, the snapshot
file when the warehouse is missing, and never an error answer."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hean_pipelines.metrics.config import MetricsConfig
from hean_pipelines.metrics.exporter import RunningExporter, build_collector, start_exporter
from hean_pipelines.metrics.files import write_snapshot_files
from hean_pipelines.metrics.snapshot import take_snapshot
from hean_pipelines.warehouse.connection import reader


def _scrape(exporter: RunningExporter) -> dict[str, float]:
    url = f"http://127.0.0.1:{exporter.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        body = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            suffix = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{suffix}}}" if suffix else sample.name] = sample.value
    return values


@pytest.fixture
def warehouse(sandbox_week: Path, tmp_path: Path) -> Path:
    db = tmp_path / "hean.duckdb"
    shutil.copy(sandbox_week / "hean.duckdb", db)
    return db


@pytest.fixture
def config(tmp_path: Path) -> MetricsConfig:
    return MetricsConfig(metrics_dir=tmp_path / "metrics", scrape_lock_timeout_s=0.1)


@pytest.fixture
def running(warehouse: Path, config: MetricsConfig) -> Iterator[RunningExporter]:
    exporter = start_exporter(build_collector(warehouse, config, status_reader=None), "127.0.0.1", 0)
    yield exporter
    exporter.stop()


def _equity(db: Path) -> float:
    with reader(db) as conn:
        row = conn.execute("SELECT equity FROM attribution.portfolio_daily ORDER BY date DESC LIMIT 1").fetchone()
    assert row is not None
    return float(row[0])


HOLD_THE_WRITE_LOCK = textwrap.dedent(
    """
    import sys
    from hean_pipelines.warehouse.connection import writer
    with writer(sys.argv[1]) as conn:
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def test_a_scrape_reads_the_warehouse_fresh(running: RunningExporter, warehouse: Path) -> None:
    values = _scrape(running)
    assert values["hean_equity_usd"] == _equity(warehouse)
    assert values["hean_metrics_snapshot_stale"] == 0
    # No Dagster instance given: said in a metric, and the run/check metrics are left out.
    assert values["hean_dagster_instance_up"] == 0
    assert not any(name.startswith(("hean_check_failed", "hean_last_successful_run")) for name in values)


def test_while_a_writer_holds_the_file_the_last_values_are_served_with_their_age(
    running: RunningExporter, warehouse: Path
) -> None:
    fresh = _scrape(running)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        stale = _scrape(running)
        again = _scrape(running)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert stale["hean_metrics_snapshot_stale"] == 1
    assert stale["hean_equity_usd"] == fresh["hean_equity_usd"]
    assert stale["hean_metrics_snapshot_timestamp_seconds"] == fresh["hean_metrics_snapshot_timestamp_seconds"]
    assert again["hean_metrics_snapshot_age_seconds"] > stale["hean_metrics_snapshot_age_seconds"] > 0
    assert again["hean_metrics_read_failures_total{reason=locked}"] == 2
    after = _scrape(running)
    assert after["hean_metrics_snapshot_stale"] == 0
    assert after["hean_metrics_snapshot_timestamp_seconds"] > fresh["hean_metrics_snapshot_timestamp_seconds"]


def test_a_missing_warehouse_serves_the_snapshot_file_and_says_so(
    warehouse: Path, config: MetricsConfig, tmp_path: Path
) -> None:
    snapshot = take_snapshot(warehouse, lock_timeout_s=1, drawdown_limit=config.drawdown_limit)
    write_snapshot_files(snapshot, config.metrics_dir)
    missing = tmp_path / "gone.duckdb"
    exporter = start_exporter(build_collector(missing, config, status_reader=None), "127.0.0.1", 0)
    try:
        values = _scrape(exporter)
    finally:
        exporter.stop()
    assert values["hean_metrics_snapshot_stale"] == 1
    assert values["hean_metrics_read_failures_total{reason=missing}"] == 1
    assert values["hean_equity_usd"] == _equity(warehouse)
    assert values["hean_metrics_snapshot_timestamp_seconds"] == snapshot.taken_at
    assert values["hean_metrics_snapshot_age_seconds"] >= 0


def test_with_nothing_at_all_the_exporter_still_answers(config: MetricsConfig, tmp_path: Path) -> None:
    exporter = start_exporter(build_collector(tmp_path / "none.duckdb", config, status_reader=None), "127.0.0.1", 0)
    try:
        values = _scrape(exporter)
    finally:
        exporter.stop()
    assert values["hean_metrics_snapshot_stale"] == 1
    assert "hean_equity_usd" not in values and "hean_metrics_snapshot_age_seconds" not in values


def test_a_broken_status_reader_reports_the_instance_down_and_serves_the_rest(
    warehouse: Path, config: MetricsConfig
) -> None:
    def broken() -> object:
        raise RuntimeError("instance storage unreachable")

    snapshot = take_snapshot(warehouse, lock_timeout_s=1, drawdown_limit=0.1, status_reader=broken)  # type: ignore[arg-type]
    names = {s.name: s.value for s in snapshot.samples if not s.labels}
    assert names["hean_dagster_instance_up"] == 0
    assert names["hean_equity_usd"] == _equity(warehouse)
    # Checks unknown: the health score renormalises over freshness, API errors and drawdown.
    components = {s.labels["component"] for s in snapshot.samples if s.name == "hean_health_component"}
    assert components == {"freshness", "api_errors", "drawdown"}
