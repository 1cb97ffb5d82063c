"""Bybit-shaped rows for ledger tests, loaded through the real raw loader."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from hean_pipelines.ledger.build import build_ledger_day
from hean_pipelines.registry.catalog import load_catalog
from hean_pipelines.registry.store import link_prefixes_as_of, sync_catalog
from hean_pipelines.warehouse.connection import connect, transaction
from hean_pipelines.warehouse.raw_load import RawKind, upsert_raw
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

ACCOUNT = "main"
MONDAY = date(2026, 1, 5)


def ms(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    moment = datetime.combine(day, time(hour, minute, second), tzinfo=UTC)
    return str(int(moment.timestamp() * 1000))


def execution(
    exec_id: str,
    *,
    day: date,
    hour: int,
    minute: int = 0,
    side: str,
    qty: str,
    price: str,
    fee_rate: str = "0.00055",
    link_id: str = "",
    order_id: str | None = None,
    symbol: str = "BTCUSDT",
    exec_type: str = "Trade",
    create_type: str = "CreateByUser",
    seq: int = 1,
    fee: str | None = None,
    fee_currency: str = "USDT",
) -> dict[str, Any]:
    value = Decimal(qty) * Decimal(price)
    exec_fee = fee if fee is not None else str(value * Decimal(fee_rate))
    return {
        "symbol": symbol,
        "orderType": "Market",
        "underlyingPrice": "",
        "orderLinkId": link_id,
        "side": side,
        "indexPrice": "",
        "orderId": order_id or f"order-{exec_id}",
        "stopOrderType": "UNKNOWN",
        "leavesQty": "0",
        "execTime": ms(day, hour, minute),
        "feeCurrency": fee_currency,
        "isMaker": False,
        "execFee": exec_fee,
        "feeRate": fee_rate,
        "execId": exec_id,
        "tradeIv": "",
        "blockTradeId": "",
        "markPrice": price,
        "execPrice": price,
        "markIv": "",
        "orderQty": qty,
        "orderPrice": price,
        "execValue": str(value),
        "execType": exec_type,
        "execQty": qty,
        "closedSize": "",
        "extraFees": "",
        "createType": create_type,
        "seq": seq,
    }


def hourly_bars(day: date, close: str) -> list[list[str]]:
    return [[ms(day, h), close, close, close, close] for h in range(24)]


def new_db(tmp_path: Path, name: str = "ledger.duckdb") -> duckdb.DuckDBPyConnection:
    conn = connect(tmp_path / name)
    ensure_raw_schema(conn)
    with transaction(conn):
        sync_catalog(conn, load_catalog())
    return conn


def load(conn: duckdb.DuckDBPyConnection, executions: list[dict[str, Any]], category: str = "linear") -> None:
    upsert_raw(conn, RawKind.EXECUTIONS, executions, account=ACCOUNT, category=category, source="test")


def marks(conn: duckdb.DuckDBPyConnection, day: date, symbol: str, close: str, category: str = "linear") -> None:
    kind = RawKind.MARK_PRICE_KLINE if category == "linear" else RawKind.KLINE
    bars = hourly_bars(day, close) if category == "linear" else [[*b, "1", "1"] for b in hourly_bars(day, close)]
    upsert_raw(conn, kind, bars, account=ACCOUNT, category=category, symbol=symbol, interval="60", source="test")


def build(conn: duckdb.DuckDBPyConnection, first: date, last: date) -> None:
    with transaction(conn):
        day = first
        while day <= last:
            build_ledger_day(conn, day, account=ACCOUNT, link_prefixes=link_prefixes_as_of(conn, day), first_day=first)
            day += timedelta(days=1)
