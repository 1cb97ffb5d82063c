"""End to end: `hean run` over the sandbox into a real DuckDB file, through a real Dagster instance."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hean_pipelines.bybit.sandbox.server import SandboxConfig, SandboxServer
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines.warehouse.checksum import raw_table_checksums
from hean_pipelines.warehouse.connection import connect
from hean_pipelines_tests.hean_cli import hean


def _checksums(db: Path) -> dict[str, str]:
    conn = connect(db, read_only=True)
    try:
        return raw_table_checksums(conn)
    finally:
        conn.close()


def _counts(db: Path) -> dict[str, int]:
    conn = connect(db, read_only=True)
    try:
        tables = ["bybit_executions", "bybit_transactions", "bybit_orders", "bybit_closed_pnl", "mark_prices"]
        return {t: conn.execute(f"SELECT count(*) FROM raw.{t}").fetchone()[0] for t in tables}  # type: ignore[index]
    finally:
        conn.close()


@pytest.mark.idempotency
@pytest.mark.slow
def test_run_twice_gives_byte_identical_raw_tables(tmp_path: Path) -> None:
    first = hean(tmp_path, "run", "--end", "2026-01-31", "--days", "30")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "SUCCESS" in first.stdout
    db = tmp_path / "hean.duckdb"
    counts = _counts(db)
    assert all(n > 0 for n in counts.values()), counts
    before = _checksums(db)
    second = hean(tmp_path, "run", "--end", "2026-01-31", "--days", "30")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _checksums(db) == before
    assert _counts(db) == counts
    # The lookback reached back before the range: late rows of D-3..D-1 land too.
    conn = connect(db, read_only=True)
    try:
        first_day = conn.execute("SELECT min(day) FROM raw.bybit_executions").fetchone()[0]  # type: ignore[index]
    finally:
        conn.close()
    assert "starting at 2025-12-29 instead of 2026-01-02" in first.stdout
    assert str(first_day) == "2025-12-29"


@pytest.mark.slow
def test_truncated_json_mid_backfill_leaves_the_file_exactly_as_before(tmp_path: Path) -> None:
    server = SandboxServer(SandboxAccount(), SandboxConfig(port=0))
    url = server.start()
    try:
        ok = hean(tmp_path, "run", "--start", "2026-01-05", "--end", "2026-01-08", "--sandbox-url", url)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        db = tmp_path / "hean.duckdb"
        digest = hashlib.sha256(db.read_bytes()).hexdigest()
        # Several pages into the transaction log of a 14-day backfill, one answer is cut in half.
        server.faults.extend("truncated_json+4@/v5/account/transaction-log")
        failed = hean(tmp_path, "run", "--start", "2026-01-09", "--end", "2026-01-22", "--sandbox-url", url)
        assert failed.returncode == 1
        assert "FAILURE" in failed.stdout
        assert "BybitResponseError" in failed.stdout + failed.stderr
        assert server.faults.remaining() == 0
        assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
        assert not Path(str(db) + ".wal").exists()
    finally:
        server.stop()


@pytest.mark.slow
def test_recorded_source_builds_from_imported_files_without_fetching(tmp_path: Path, bybit_fixtures: Path) -> None:
    files = sorted(str(p) for p in bybit_fixtures.glob("bybitdocs_*.json"))
    imported = hean(tmp_path, "import-bybit", *files, HEAN_START_DATE="2022-12-01")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    run = hean(
        tmp_path,
        "run",
        "--source",
        "recorded",
        "--start",
        "2022-12-27",
        "--end",
        "2022-12-28",
        HEAN_START_DATE="2022-12-01",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    counts = _counts(tmp_path / "hean.duckdb")
    assert counts["bybit_executions"] == 1 and counts["bybit_transactions"] == 3 and counts["bybit_closed_pnl"] == 1
