"""`hean run` on a live source (the sandbox exchange behind BYBIT_BASE_URL, its clock frozen at Thursday
10:00) starting on a Wednesday: the whole job bootstraps the opening from the snapshot its ingestion took,
every check passes, and the day equals the sandbox ledger built from the flat Monday (``sandbox_week``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hean_pipelines.bybit.sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxConfig, SandboxServer
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import connect
from hean_pipelines_tests.hean_cli import hean

SNAPSHOT_AT = datetime(2026, 1, 8, 10, 0, tzinfo=UTC)
WEDNESDAY = "2026-01-07"


@pytest.fixture(scope="module")
def exchange_url() -> Iterator[str]:
    clock = int(SNAPSHOT_AT.timestamp() * 1000)
    server = SandboxServer(SandboxAccount(), SandboxConfig(port=0, rate_limit_per_second=0, now_ms=lambda: clock))
    yield server.start()
    server.stop()


def _live_run(folder: Path, url: str) -> str:
    run = hean(
        folder,
        "run",
        "--start",
        WEDNESDAY,
        "--end",
        WEDNESDAY,
        HEAN_SOURCE="live",
        BYBIT_API_KEY=DEFAULT_API_KEY,
        BYBIT_API_SECRET=DEFAULT_API_SECRET,
        BYBIT_BASE_URL=url,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = connect(db, read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


TABLES = ("ledger.positions", "ledger.account_positions", "ledger.entries", "ledger.openings", "ledger.days")


def test_a_live_ledger_started_mid_week_equals_the_one_from_a_flat_monday(
    tmp_path: Path, exchange_url: str, sandbox_week: Path
) -> None:
    stdout = _live_run(tmp_path, exchange_url)
    assert "checks: 10 evaluated, 0 failed" in stdout
    db = tmp_path / "hean.duckdb"
    (source,) = _rows(db, "SELECT opening_source FROM ledger.days")[0]
    assert source.startswith("bybit snapshot 2026-01-08T10:00:00.000Z rolled back to 2026-01-07 00:00 UTC")
    day = f"DATE '{WEDNESDAY}'"
    linear = (
        "SELECT date, symbol, qty, cost_basis, unrealized_pnl FROM ledger.account_positions "
        f"WHERE category = 'linear' AND date BETWEEN {day} - 1 AND {day} ORDER BY ALL"
    )
    equity = f"SELECT pnl, funding, fees, equity FROM attribution.portfolio_daily WHERE date = {day}"
    reference = sandbox_week / "hean.duckdb"
    assert _rows(db, linear) == _rows(reference, linear)
    assert _rows(db, equity) == _rows(reference, equity)

    # Re-running the first day (a new snapshot at the same instant) leaves the ledger byte-identical.
    conn = connect(db, read_only=True)
    before = {t: table_checksum(conn, t) for t in TABLES}
    conn.close()
    _live_run(tmp_path, exchange_url)
    conn = connect(db, read_only=True)
    assert {t: table_checksum(conn, t) for t in TABLES} == before
    conn.close()
