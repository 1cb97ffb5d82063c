"""Acceptance: a pipeline run and a scraping exporter at the same time, and neither fails.

The exporter (`hean metrics serve`, a real process) is scraped over HTTP again and again while `hean run`
(another real process) extends the same DuckDB file by a week. The run must succeed; every scrape must
answer 200 with the warehouse's values; while the run holds the file the exporter must say it serves its
last values; and once the run is done the values must be the new ones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
from prometheus_client.parser import text_string_to_metric_families

from hean_pipelines_tests.hean_cli import hean_env
from hean_pipelines_tests.monitoring.processes import exporter, http_get

NEW_FIRST_DAY, NEW_LAST_DAY = "2026-01-12", "2026-01-18"
SCRAPE_PAUSE_S = 0.2  # Prometheus scrapes every 30 s in the stack; this is 150 times as often


def _values(body: str) -> dict[str, float]:
    """Unlabelled samples of a scrape by name, plus the read failures by reason."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if not sample.labels:
                out[sample.name] = sample.value
            elif sample.name == "hean_metrics_read_failures_total":
                out[f"read_failures_{sample.labels['reason']}"] = sample.value
    return out


def _equity(db: Path, day: str) -> float:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        row = conn.execute("SELECT equity FROM attribution.portfolio_daily WHERE date = ?", [date.fromisoformat(day)])
        return float(row.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def test_a_run_and_a_scraping_exporter_at_the_same_time_neither_fails(sandbox_week: Path, tmp_path: Path) -> None:
    shutil.copy(sandbox_week / "hean.duckdb", tmp_path / "hean.duckdb")
    shutil.copytree(sandbox_week / "dagster_home", tmp_path / "dagster_home")
    env = hean_env(tmp_path)
    before = _equity(tmp_path / "hean.duckdb", "2026-01-11")
    scrapes: list[tuple[int, dict[str, float]]] = []
    with exporter(env, cwd=tmp_path, log=tmp_path / "exporter.log") as url:
        status, body = http_get(f"{url}/metrics")
        assert status == 200 and _values(body)["hean_equity_usd"] == before
        started = time.monotonic()
        run = subprocess.Popen(
            [sys.executable, "-m", "hean_pipelines", "run", "--start", NEW_FIRST_DAY, "--end", NEW_LAST_DAY],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            while run.poll() is None and time.monotonic() - started < 600:
                status, body = http_get(f"{url}/metrics")
                scrapes.append((status, _values(body)))
                time.sleep(SCRAPE_PAUSE_S)
            output, _ = run.communicate(timeout=600)
        finally:
            if run.poll() is None:
                run.kill()
        status, body = http_get(f"{url}/metrics")
        after = _values(body)

    assert run.returncode == 0, output[-4000:]
    assert "SUCCESS" in output
    assert len(scrapes) >= 10, len(scrapes)
    assert all(status == 200 for status, _ in scrapes)
    # Never a gap: every scrape carried equity, fresh or the last value read.
    assert all("hean_equity_usd" in values for _, values in scrapes)
    stale = [values for _, values in scrapes if values["hean_metrics_snapshot_stale"] == 1]
    assert stale, "no scrape found the file locked by the run (it writes for seconds: it must have)"
    assert all(values["hean_metrics_snapshot_age_seconds"] > 0 for values in stale)
    assert after["read_failures_locked"] >= len(stale)
    # Done: fresh values, and they are the run's new last day.
    new = _equity(tmp_path / "hean.duckdb", NEW_LAST_DAY)
    assert after["hean_metrics_snapshot_stale"] == 0
    assert after["hean_equity_usd"] == new != before
    assert after["hean_last_attributed_day_timestamp_seconds"] == (
        (date.fromisoformat(NEW_LAST_DAY) - date(1970, 1, 1)).days * 86400
    )
    # The run's own metrics_snapshot asset wrote its files too, with the same equity.
    snapshot = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert snapshot["last_day"] == NEW_LAST_DAY
    assert [s["value"] for s in snapshot["samples"] if s["name"] == "hean_equity_usd"] == [new]
