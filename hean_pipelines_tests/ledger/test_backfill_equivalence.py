"""A range built in one transaction equals the same days built one by one; arrival order is irrelevant."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hean_pipelines.attribution.daily import ProcessCapital, build_portfolio_attribution, build_process_attribution
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines.ledger.build import build_ledger_day
from hean_pipelines.registry.catalog import load_catalog
from hean_pipelines.registry.store import link_prefixes_as_of, registry_as_of, sync_catalog
from hean_pipelines.settings import DEFAULT_HURDLE_RATE
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import connect, transaction, writer
from hean_pipelines.warehouse.raw_load import RawKind, upsert_raw
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema
from hean_pipelines_tests.sandbox_raw import fetch_sandbox_raw

ACCOUNT = "main"
FIRST = date(2026, 1, 5)  # a Monday: the sandbox is flat
DERIVED_TABLES = (
    "ledger.entries",
    "ledger.positions",
    "ledger.account_positions",
    "ledger.account_fills",
    "ledger.account_flows",
    "ledger.transaction_dispositions",
    "ledger.quarantine",
    "ledger.days",
    "attribution.process_daily",
    "attribution.portfolio_daily",
)


def _days(first: date, n: int) -> Iterator[date]:
    for offset in range(n):
        yield first + timedelta(days=offset)


def _build_day(conn: duckdb.DuckDBPyConnection, day: date) -> None:
    build_ledger_day(conn, day, account=ACCOUNT, link_prefixes=link_prefixes_as_of(conn, day), first_day=FIRST)
    capital = [ProcessCapital(e.process_id, e.allocated_capital) for e in registry_as_of(conn, day)]
    build_process_attribution(conn, day, account=ACCOUNT, capital=capital, hurdle_rate=DEFAULT_HURDLE_RATE)
    build_portfolio_attribution(conn, day, account=ACCOUNT, first_day=FIRST)


def _checksums(path: Path) -> dict[str, str]:
    conn = connect(path, read_only=True)
    try:
        return {table: table_checksum(conn, table) for table in DERIVED_TABLES}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def raw_30_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 sandbox days fetched over loopback HTTP into a DuckDB file, with the registry synced."""
    return fetch_sandbox_raw(tmp_path_factory.mktemp("raw") / "raw.duckdb", FIRST, FIRST + timedelta(days=29))


@pytest.mark.idempotency
def test_thirty_days_in_one_transaction_equal_thirty_separate_days(raw_30_days: Path, tmp_path: Path) -> None:
    ranged, daily = tmp_path / "ranged.duckdb", tmp_path / "daily.duckdb"
    shutil.copy(raw_30_days, ranged)
    shutil.copy(raw_30_days, daily)
    with writer(ranged) as conn, transaction(conn):
        for day in _days(FIRST, 30):
            _build_day(conn, day)
    for day in _days(FIRST, 30):
        with writer(daily) as conn, transaction(conn):
            _build_day(conn, day)
    ranged_sums, daily_sums = _checksums(ranged), _checksums(daily)
    assert ranged_sums == daily_sums
    conn = connect(daily, read_only=True)
    try:
        assert conn.execute("SELECT count(DISTINCT date) FROM attribution.portfolio_daily").fetchone()[0] == 30  # type: ignore[index]
        assert conn.execute("SELECT count(*) FROM ledger.entries").fetchone()[0] > 1000  # type: ignore[index]
    finally:
        conn.close()
    # Re-running a day in the middle changes nothing.
    with writer(daily) as conn, transaction(conn):
        _build_day(conn, FIRST + timedelta(days=12))
    assert _checksums(daily) == daily_sums


@pytest.fixture(scope="module")
def two_sandbox_days() -> list[dict]:
    account = SandboxAccount()
    return [item for day in _days(FIRST, 2) for item in account.day(day).executions["linear"]]


def _ledger_from_pages(path: Path, pages: list[list[dict]], first: date) -> dict[str, str]:
    account = SandboxAccount()
    with writer(path) as conn:
        ensure_raw_schema(conn)
        with transaction(conn):
            sync_catalog(conn, load_catalog())
        for page in pages:
            upsert_raw(conn, RawKind.EXECUTIONS, page, account=ACCOUNT, category="linear", source="test")
        for day in _days(first, 2):
            for symbol, bars in account.day(day).mark_klines.items():
                upsert_raw(
                    conn,
                    RawKind.MARK_PRICE_KLINE,
                    bars,
                    account=ACCOUNT,
                    category="linear",
                    symbol=symbol,
                    interval="60",
                    source="test",
                )
        with transaction(conn):
            for day in _days(first, 2):
                build_ledger_day(
                    conn, day, account=ACCOUNT, link_prefixes=link_prefixes_as_of(conn, day), first_day=first
                )
    conn = connect(path, read_only=True)
    try:
        return {t: table_checksum(conn, t) for t in ("ledger.entries", "ledger.positions", "ledger.account_fills")}
    finally:
        conn.close()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), page_size=st.integers(min_value=1, max_value=120))
def test_arrival_order_across_pages_changes_nothing(
    seed: int,
    page_size: int,
    two_sandbox_days: list[dict],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("perm")
    baseline = _ledger_from_pages(folder / "sorted.duckdb", [two_sandbox_days], FIRST)
    shuffled = list(two_sandbox_days)
    random.Random(seed).shuffle(shuffled)
    pages = [shuffled[i : i + page_size] for i in range(0, len(shuffled), page_size)]
    pages += [shuffled[: page_size // 2]]  # a page delivered twice
    assert _ledger_from_pages(folder / "shuffled.duckdb", pages, FIRST) == baseline
