"""A 90-day single-run backfill gives the same tables as 90 day-by-day runs, and builds days in order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import connect
from hean_pipelines_tests.hean_cli import hean_env

FIRST, LAST = "2025-12-29", "2026-03-28"  # 90 days from the sandbox's first (flat) Monday
LOGS = {"raw.api_requests"}  # a request log: when and how often we asked differs by design


def _launch(folder: Path, *args: str) -> subprocess.Popen[str]:
    folder.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "hean_pipelines", "run", "--start", FIRST, "--end", LAST, *args],
        cwd=folder,
        env=hean_env(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _every_table(db: Path) -> dict[str, str]:
    conn = connect(db, read_only=True)
    try:
        tables = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'hean' ORDER BY 1, 2"
            ).fetchall()
        ]
        return {table: table_checksum(conn, table) for table in tables if table not in LOGS}
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.idempotency
def test_a_90_day_backfill_equals_90_daily_runs(tmp_path: Path) -> None:
    # Both at once (independent folders, each with its own in-process sandbox): the test takes as long as the slower.
    ranged = _launch(tmp_path / "ranged")
    daily = _launch(tmp_path / "daily", "--day-by-day")
    ranged_out, ranged_err = ranged.communicate(timeout=1800)
    daily_out, daily_err = daily.communicate(timeout=1800)
    assert ranged.returncode == 0, ranged_out + ranged_err
    assert daily.returncode == 0, daily_out + daily_err
    assert ranged_out.count("run ") == 1 and "every day passed" in daily_out
    assert daily_out.count(": SUCCESS") == 90

    ranged_tables = _every_table(tmp_path / "ranged" / "hean.duckdb")
    assert {"ledger.entries", "attribution.portfolio_daily", "selection.scores", "factory.candidates"} <= set(
        ranged_tables
    )
    assert ranged_tables == _every_table(tmp_path / "daily" / "hean.duckdb")

    conn = connect(tmp_path / "ranged" / "hean.duckdb", read_only=True)
    try:
        days = conn.execute("SELECT date, opening_source FROM ledger.days ORDER BY date").fetchall()
    finally:
        conn.close()
    # 90 days, each after the first opened from the day before: the range was built in order.
    assert len(days) == 90 and str(days[0][0]) == FIRST and str(days[-1][0]) == LAST
    assert {source for _, source in days[1:]} == {"previous_day"}
