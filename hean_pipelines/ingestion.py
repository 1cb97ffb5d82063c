"""Raw ingestion: fetch one time window from Bybit, then store it in one transaction.

Fetching finishes completely before the DuckDB file is opened for writing, so a failed fetch (a
truncated answer, an auth error, a repeated cursor) writes nothing at all, and the write itself is
one transaction over every raw table: a window lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from hean_pipelines.bybit.client import BybitClient, FetchStats
from hean_pipelines.warehouse.connection import transaction
from hean_pipelines.warehouse.raw_load import RawKind, UpsertResult, log_api_requests, upsert_raw
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

EXECUTION_CATEGORIES = ("linear", "spot")
ORDER_CATEGORIES = ("linear", "spot")

# Dagster asset name -> raw table it owns.
RAW_TABLES: dict[str, str] = {
    "bybit_executions": "raw.bybit_executions",
    "bybit_transactions": "raw.bybit_transactions",
    "bybit_orders": "raw.bybit_orders",
    "bybit_closed_pnl": "raw.bybit_closed_pnl",
    "mark_prices": "raw.mark_prices",
}


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class FetchWindow:
    """Days [first_day, last_day] (UTC, inclusive) to fetch, lookback included."""

    first_day: date
    last_day: date

    @classmethod
    def for_partitions(cls, first_day: date, last_day: date, lookback_days: int, floor: date) -> FetchWindow:
        """The partition range widened by the lookback (late rows land), never before ``floor``."""
        return cls(max(first_day - timedelta(days=lookback_days), floor), last_day)

    @property
    def start_ms(self) -> int:
        return day_start_ms(self.first_day)

    @property
    def end_ms(self) -> int:
        return day_start_ms(self.last_day + timedelta(days=1))


@dataclass(frozen=True)
class AccountSnapshot:
    """``/v5/position/list`` and ``/v5/account/wallet-balance`` at one instant of Bybit's clock."""

    as_of_ms: int
    positions: list[dict[str, Any]]
    wallet: list[dict[str, Any]]


@dataclass
class RawBatch:
    """Everything fetched for one window, held in memory until it is written."""

    window: FetchWindow
    executions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    closed_pnl: list[dict[str, Any]] = field(default_factory=list)
    mark_klines: dict[str, list[list[str]]] = field(default_factory=dict)
    spot_klines: dict[str, list[list[str]]] = field(default_factory=dict)
    snapshot: AccountSnapshot | None = None
    stats: FetchStats = field(default_factory=FetchStats)
    request_rows: list[dict[str, Any]] = field(default_factory=list)

    def rows_per_asset(self) -> dict[str, int]:
        return {
            "bybit_executions": sum(len(v) for v in self.executions.values()),
            "bybit_transactions": len(self.transactions),
            "bybit_orders": sum(len(v) for v in self.orders.values()),
            "bybit_closed_pnl": len(self.closed_pnl),
            "mark_prices": sum(len(v) for v in self.mark_klines.values())
            + sum(len(v) for v in self.spot_klines.values()),
        }


def symbols_by_category(
    executions: dict[str, list[dict[str, Any]]], known: Iterable[tuple[str, str]]
) -> dict[str, set[str]]:
    """Symbols that need marks: those traded in the window plus those traded before (open positions)."""
    wanted: dict[str, set[str]] = {category: set() for category in EXECUTION_CATEGORIES}
    for category, items in executions.items():
        wanted.setdefault(category, set()).update(str(item["symbol"]) for item in items if item.get("symbol"))
    for category, symbol in known:
        wanted.setdefault(category, set()).add(symbol)
    return wanted


def wallet_spot_symbols(wallet: list[dict[str, Any]]) -> set[str]:
    """``<COIN>USDT`` for every coin other than USDT with a non-zero wallet balance."""
    symbols = set()
    for account in wallet:
        for coin in account.get("coin") or []:
            name, balance = str(coin.get("coin", "")), str(coin.get("walletBalance") or "0")
            if name and name != "USDT" and Decimal(balance) != 0:
                symbols.add(f"{name}USDT")
    return symbols


def fetch_raw_window(
    client: BybitClient,
    window: FetchWindow,
    known_symbols: Iterable[tuple[str, str]] = (),
    *,
    snapshot: bool = False,
) -> RawBatch:
    """Fetch every raw endpoint for ``window``; raises (writing nothing) on any failure.

    With ``snapshot`` (live), the account's positions and wallet are taken first, stamped with Bybit's
    clock T, and the executions, orders, transaction log and closed PnL are fetched up to T (past the
    window when T is later): a live ledger's first day is bootstrapped by rolling that snapshot back
    over every fill between the day's start and T, so none of them may be missing.
    """
    start, end = window.start_ms, window.end_ms
    batch = RawBatch(window=window)
    until = end  # the event endpoints; hourly bars stay inside the window (a bar still open would change)
    if snapshot:
        positions = client.positions("linear", "USDT")
        wallet = client.wallet_balance("UNIFIED")
        batch.snapshot = AccountSnapshot(client.server_time_ms(), positions, wallet)
        until = max(end, batch.snapshot.as_of_ms + 1)
    for category in EXECUTION_CATEGORIES:
        batch.executions[category] = client.executions(category, start, until)
    for category in ORDER_CATEGORIES:
        batch.orders[category] = client.order_history(category, start, until)
    batch.transactions = client.transaction_log(start, until)
    batch.closed_pnl = client.closed_pnl(start, until)
    wanted = symbols_by_category(batch.executions, known_symbols)
    if batch.snapshot is not None:  # coins held: their spot bars value them when a ledger starts
        wanted.setdefault("spot", set()).update(wallet_spot_symbols(batch.snapshot.wallet))
    for symbol in sorted(wanted.get("linear", ())):
        batch.mark_klines[symbol] = client.mark_price_klines(symbol, start, end)
    for symbol in sorted(wanted.get("spot", ())):
        batch.spot_klines[symbol] = client.spot_klines(symbol, start, end)
    batch.stats = client.stats
    batch.request_rows = client.drain_records()
    return batch


def known_symbols(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(category, symbol) pairs ever traded, from the raw executions already stored (read-only safe)."""
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'bybit_executions'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT DISTINCT category, symbol FROM raw.bybit_executions WHERE category IS NOT NULL ORDER BY 1, 2"
    ).fetchall()
    return [(str(category), str(symbol)) for category, symbol in rows]


def _merge(results: Sequence[UpsertResult], table: str) -> UpsertResult:
    return UpsertResult(
        table=table,
        received=sum(r.received for r in results),
        inserted=sum(r.inserted for r in results),
        already_present=sum(r.already_present for r in results),
    )


def store_raw_batch(
    conn: duckdb.DuckDBPyConnection, batch: RawBatch, *, account: str, run_id: str | None = None
) -> dict[str, UpsertResult]:
    """Upsert a fetched window into the raw tables, all in one transaction. Returns counts per asset."""
    ensure_raw_schema(conn)
    with transaction(conn):
        executions = [
            upsert_raw(conn, RawKind.EXECUTIONS, items, account=account, category=category, source="api")
            for category, items in sorted(batch.executions.items())
        ]
        orders = [
            upsert_raw(conn, RawKind.ORDERS, items, account=account, category=category, source="api")
            for category, items in sorted(batch.orders.items())
        ]
        transactions = upsert_raw(conn, RawKind.TRANSACTIONS, batch.transactions, account=account, source="api")
        closed = upsert_raw(
            conn, RawKind.CLOSED_PNL, batch.closed_pnl, account=account, category="linear", source="api"
        )
        marks = [
            upsert_raw(
                conn,
                RawKind.MARK_PRICE_KLINE,
                bars,
                account=account,
                category="linear",
                symbol=symbol,
                interval="60",
                source="api",
            )
            for symbol, bars in sorted(batch.mark_klines.items())
        ] + [
            upsert_raw(
                conn,
                RawKind.KLINE,
                bars,
                account=account,
                category="spot",
                symbol=symbol,
                interval="60",
                source="api",
            )
            for symbol, bars in sorted(batch.spot_klines.items())
        ]
        if batch.snapshot is not None:
            snap = batch.snapshot
            upsert_raw(
                conn,
                RawKind.POSITIONS,
                snap.positions,
                account=account,
                category="linear",
                source="api",
                as_of=snap.as_of_ms,
            )
            upsert_raw(conn, RawKind.WALLET_BALANCE, snap.wallet, account=account, source="api", as_of=snap.as_of_ms)
        if batch.request_rows:
            log_api_requests(conn, [{**row, "account": account, "run_id": run_id} for row in batch.request_rows])
    return {
        "bybit_executions": _merge(executions, RAW_TABLES["bybit_executions"]),
        "bybit_transactions": transactions,
        "bybit_orders": _merge(orders, RAW_TABLES["bybit_orders"]),
        "bybit_closed_pnl": closed,
        "mark_prices": _merge(marks, RAW_TABLES["mark_prices"]),
    }


def rows_in_window(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> dict[str, int]:
    """Rows per raw table whose day falls in [first_day, last_day] (what a recorded-source run covers)."""
    ensure_raw_schema(conn)
    counts: dict[str, int] = {}
    for asset, table in RAW_TABLES.items():
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE day BETWEEN ? AND ?", [first_day, last_day]).fetchone()
        counts[asset] = int(row[0]) if row else 0
    return counts
