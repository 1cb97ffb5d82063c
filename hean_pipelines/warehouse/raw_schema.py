"""The raw.* tables: one place for their columns, types, Bybit source fields and required-field rules.

Conventions (DESIGN.md §4/§5):

* quantities and prices ``DECIMAL(38,12)``; money (fees, values, balances, PnL) and rates
  ``DECIMAL(38,18)``; Bybit epoch-millisecond times ``TIMESTAMPTZ``; every cast explicit;
* snake_case column names derived from Bybit's camelCase (``execFee`` -> ``exec_fee``);
* Bybit sends ``""`` for an absent optional value: it is stored as ``NULL``. A *required* field that is
  missing or ``""`` rejects the whole page (see :mod:`hean_pipelines.warehouse.raw_load`);
* every exchange row keeps the item exactly as received (keys sorted) in ``raw_json``, so a field
  Bybit adds later is never lost;
* ``day`` is the UTC date of the row's event time (``exec_time``, ``transaction_time``,
  ``created_time`` for orders and closed PnL, the bar start for marks, ``as_of`` for snapshots).

Required fields per table follow Bybit's docs (fields Bybit always fills for that endpoint, and the
fields the key and the ledger cannot do without); everything else is optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import duckdb

RAW_SCHEMA = "raw"


class ColType(StrEnum):
    TEXT = "VARCHAR"
    QTY = "DECIMAL(38,12)"
    """Quantities and prices."""
    MONEY = "DECIMAL(38,18)"
    """Money (fees, values, balances, PnL) and rates."""
    TIME = "TIMESTAMPTZ"
    """From Bybit epoch milliseconds (values ≥ 1e14 are read as µs, ≥ 1e17 as ns)."""
    INT = "INTEGER"
    BIGINT = "BIGINT"
    BOOL = "BOOLEAN"
    JSON = "JSON"
    DATE = "DATE"
    DOUBLE = "DOUBLE"


DECIMAL_SCALE: dict[ColType, int] = {ColType.QTY: 12, ColType.MONEY: 18}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColType
    source: str | int | None = None
    """Bybit field (camelCase) or kline list index this column is read from; ``None``: set by the loader."""
    required: bool = False

    @property
    def field_label(self) -> str:
        """How the source field is named in error messages."""
        if isinstance(self.source, int):
            return f"list[{self.source}] ({self.name})"
        return self.source if self.source is not None else self.name


@dataclass(frozen=True)
class RawTable:
    name: str
    """Qualified name, e.g. ``raw.bybit_executions``."""
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def source_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.source is not None)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    def ddl(self) -> str:
        lines = []
        for col in self.columns:
            not_null = " NOT NULL" if (col.required or col.name in self.key) else ""
            lines.append(f"    {col.name} {col.type.value}{not_null}")
        lines.append(f"    PRIMARY KEY ({', '.join(self.key)})")
        body = ",\n".join(lines)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n{body}\n)"


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``execFeeV2`` -> ``exec_fee_v2``, ``positionIMByMp`` -> ``position_im_by_mp``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _f(source: str, type_: ColType, *, required: bool = False, name: str | None = None) -> Column:
    return Column(name or snake_case(source), type_, source, required)


def _d(name: str, type_: ColType, *, required: bool = False) -> Column:
    """A column the loader derives (account, keys, day, raw_json, ...)."""
    return Column(name, type_, None, required)


C = ColType

# GET /v5/execution/list: every documented item field (Bybit v5 docs, "Get Trade History").
EXECUTIONS = RawTable(
    "raw.bybit_executions",
    ("exec_id",),
    (
        _f("execId", C.TEXT, required=True),
        _d("account", C.TEXT, required=True),
        _d("category", C.TEXT),
        _f("symbol", C.TEXT, required=True),
        _f("orderId", C.TEXT),
        _f("orderLinkId", C.TEXT),
        _f("side", C.TEXT, required=True),
        _f("orderPrice", C.QTY),
        _f("orderQty", C.QTY),
        _f("leavesQty", C.QTY),
        _f("createType", C.TEXT),
        _f("orderType", C.TEXT),
        _f("stopOrderType", C.TEXT),
        _f("execFee", C.MONEY),
        _f("execFeeV2", C.MONEY),
        _f("execPrice", C.QTY, required=True),
        _f("execQty", C.QTY, required=True),
        _f("execType", C.TEXT, required=True),
        _f("execValue", C.MONEY),
        _f("execTime", C.TIME, required=True),
        _f("feeCurrency", C.TEXT),
        _f("isMaker", C.BOOL),
        _f("feeRate", C.MONEY),
        _f("tradeIv", C.MONEY),
        _f("markIv", C.MONEY),
        _f("markPrice", C.QTY),
        _f("indexPrice", C.QTY),
        _f("underlyingPrice", C.QTY),
        _f("blockTradeId", C.TEXT),
        _f("closedSize", C.QTY),
        _f("seq", C.BIGINT),
        _f("extraFees", C.TEXT),
        _d("day", C.DATE, required=True),
        _d("raw_json", C.JSON, required=True),
    ),
)

# GET /v5/account/transaction-log. Bybit's `id` is not unique: the key is a sha256 over
# (account, id, type, currency, transactionTime, tradeId, orderId, change, cashBalance).
TRANSACTIONS = RawTable(
    "raw.bybit_transactions",
    ("tx_key",),
    (
        _d("tx_key", C.TEXT, required=True),
        _d("account", C.TEXT, required=True),
        _f("id", C.TEXT),
        _f("symbol", C.TEXT),
        _f("category", C.TEXT),
        _f("side", C.TEXT),
        _f("type", C.TEXT, required=True),
        _f("transSubType", C.TEXT),
        _f("currency", C.TEXT, required=True),
        _f("change", C.MONEY, required=True),
        _f("cashFlow", C.MONEY),
        _f("funding", C.MONEY),
        _f("fee", C.MONEY),
        _f("feeRate", C.MONEY),
        _f("cashBalance", C.MONEY, required=True),
        _f("bonusChange", C.MONEY),
        _f("size", C.QTY),
        _f("qty", C.QTY),
        _f("tradePrice", C.QTY),
        _f("tradeId", C.TEXT),
        _f("orderId", C.TEXT),
        _f("orderLinkId", C.TEXT),
        _f("transactionTime", C.TIME, required=True),
        _f("extraFees", C.TEXT),
        _d("day", C.DATE, required=True),
        _d("raw_json", C.JSON, required=True),
    ),
)

# GET /v5/order/history. An order changes state: the row with the latest updatedTime wins.
ORDERS = RawTable(
    "raw.bybit_orders",
    ("order_id",),
    (
        _f("orderId", C.TEXT, required=True),
        _d("account", C.TEXT, required=True),
        _d("category", C.TEXT),
        _f("orderLinkId", C.TEXT),
        _f("parentOrderLinkId", C.TEXT),
        _f("blockTradeId", C.TEXT),
        _f("symbol", C.TEXT, required=True),
        _f("price", C.QTY),
        _f("qty", C.QTY),
        _f("side", C.TEXT, required=True),
        _f("isLeverage", C.TEXT),
        _f("positionIdx", C.INT),
        _f("orderStatus", C.TEXT, required=True),
        _f("createType", C.TEXT),
        _f("cancelType", C.TEXT),
        _f("rejectReason", C.TEXT),
        _f("avgPrice", C.QTY),
        _f("leavesQty", C.QTY),
        _f("leavesValue", C.MONEY),
        _f("cumExecQty", C.QTY),
        _f("cumExecValue", C.MONEY),
        _f("cumExecFee", C.MONEY),
        _f("timeInForce", C.TEXT),
        _f("orderType", C.TEXT),
        _f("stopOrderType", C.TEXT),
        _f("orderIv", C.MONEY),
        _f("marketUnit", C.TEXT),
        _f("slippageToleranceType", C.TEXT),
        _f("slippageTolerance", C.MONEY),
        _f("triggerPrice", C.QTY),
        _f("takeProfit", C.QTY),
        _f("stopLoss", C.QTY),
        _f("tpslMode", C.TEXT),
        _f("ocoTriggerBy", C.TEXT),
        _f("tpLimitPrice", C.QTY),
        _f("slLimitPrice", C.QTY),
        _f("tpTriggerBy", C.TEXT),
        _f("slTriggerBy", C.TEXT),
        _f("triggerDirection", C.INT),
        _f("triggerBy", C.TEXT),
        _f("lastPriceOnCreated", C.QTY),
        _f("basePrice", C.QTY),
        _f("reduceOnly", C.BOOL),
        _f("closeOnTrigger", C.BOOL),
        _f("placeType", C.TEXT),
        _f("smpType", C.TEXT),
        _f("smpGroup", C.INT),
        _f("smpOrderId", C.TEXT),
        _f("createdTime", C.TIME, required=True),
        _f("updatedTime", C.TIME, required=True),
        _f("extraFees", C.TEXT),
        _f("cumFeeDetail", C.JSON),
        _f("rpiTakerAccess", C.BOOL),
        _f("rpiMatchedQty", C.QTY),
        _d("day", C.DATE, required=True),
        _d("raw_json", C.JSON, required=True),
    ),
)

# GET /v5/position/closed-pnl. Key: sha256 over (account, orderId, createdTime, updatedTime, closedSize).
CLOSED_PNL = RawTable(
    "raw.bybit_closed_pnl",
    ("closed_pnl_key",),
    (
        _d("closed_pnl_key", C.TEXT, required=True),
        _d("account", C.TEXT, required=True),
        _d("category", C.TEXT),
        _f("symbol", C.TEXT, required=True),
        _f("orderId", C.TEXT, required=True),
        _f("side", C.TEXT),
        _f("qty", C.QTY),
        _f("orderPrice", C.QTY),
        _f("orderType", C.TEXT),
        _f("execType", C.TEXT),
        _f("closedSize", C.QTY, required=True),
        _f("cumEntryValue", C.MONEY, required=True),
        _f("avgEntryPrice", C.QTY),
        _f("cumExitValue", C.MONEY, required=True),
        _f("avgExitPrice", C.QTY),
        _f("closedPnl", C.MONEY, required=True),
        _f("fillCount", C.INT),
        _f("leverage", C.QTY),
        _f("openFee", C.MONEY),
        _f("closeFee", C.MONEY),
        _f("createdTime", C.TIME, required=True),
        _f("updatedTime", C.TIME, required=True),
        _d("day", C.DATE, required=True),
        _d("raw_json", C.JSON, required=True),
    ),
)

# GET /v5/market/mark-price-kline (5 strings a bar) and /v5/market/kline (7 strings a bar).
MARK_PRICES = RawTable(
    "raw.mark_prices",
    ("category", "symbol", "interval", "ts"),
    (
        _d("category", C.TEXT, required=True),
        _d("symbol", C.TEXT, required=True),
        _d("interval", C.TEXT, required=True),
        Column("ts", C.TIME, 0, required=True),
        Column("open", C.QTY, 1, required=True),
        Column("high", C.QTY, 2, required=True),
        Column("low", C.QTY, 3, required=True),
        Column("close", C.QTY, 4, required=True),
        Column("volume", C.QTY, 5),
        Column("turnover", C.MONEY, 6),
        _d("source", C.TEXT, required=True),
        _d("day", C.DATE, required=True),
        _d("raw_json", C.JSON, required=True),
    ),
)

# Append-only log of every HTTP exchange with Bybit (or the sandbox).
API_REQUESTS = RawTable(
    "raw.api_requests",
    ("request_id",),
    (
        Column("request_id", C.TEXT, "request_id", required=True),
        Column("ts", C.TIME, "ts", required=True),
        Column("endpoint", C.TEXT, "endpoint", required=True),
        Column("method", C.TEXT, "method"),
        Column("status", C.INT, "status"),
        Column("ret_code", C.INT, "ret_code"),
        Column("ret_msg", C.TEXT, "ret_msg"),
        Column("latency_seconds", C.DOUBLE, "latency_seconds"),
        Column("retries", C.INT, "retries"),
        Column("rows", C.INT, "rows"),
        Column("account", C.TEXT, "account"),
        Column("run_id", C.TEXT, "run_id"),
    ),
)

# GET /v5/position/list items at bootstrap (opening state), with provenance.
POSITIONS_SNAPSHOT = RawTable(
    "raw.positions_snapshot",
    ("account", "as_of", "category", "symbol", "position_idx"),
    (
        _d("account", C.TEXT, required=True),
        _d("as_of", C.TIME, required=True),
        _d("category", C.TEXT, required=True),
        _f("symbol", C.TEXT, required=True),
        _f("positionIdx", C.INT, required=True),
        _f("side", C.TEXT),
        _f("size", C.QTY, required=True),
        _f("avgPrice", C.QTY),
        _f("positionValue", C.MONEY),
        _f("markPrice", C.QTY),
        _f("leverage", C.QTY),
        _f("liqPrice", C.QTY),
        _f("bustPrice", C.QTY),
        _f("breakEvenPrice", C.QTY),
        _f("positionIM", C.MONEY),
        _f("positionIMByMp", C.MONEY),
        _f("positionMM", C.MONEY),
        _f("positionMMByMp", C.MONEY),
        _f("positionBalance", C.MONEY),
        _f("takeProfit", C.QTY),
        _f("stopLoss", C.QTY),
        _f("trailingStop", C.QTY),
        _f("sessionAvgPrice", C.QTY),
        _f("delta", C.MONEY),
        _f("gamma", C.MONEY),
        _f("vega", C.MONEY),
        _f("theta", C.MONEY),
        _f("unrealisedPnl", C.MONEY),
        _f("curRealisedPnl", C.MONEY),
        _f("cumRealisedPnl", C.MONEY),
        _f("riskId", C.INT),
        _f("riskLimitValue", C.MONEY),
        _f("autoAddMargin", C.INT),
        _f("positionStatus", C.TEXT),
        _f("tradeMode", C.INT),
        _f("tpslMode", C.TEXT),
        _f("adlRankIndicator", C.INT),
        _f("isReduceOnly", C.BOOL),
        _f("mmrSysUpdatedTime", C.TIME),
        _f("leverageSysUpdatedTime", C.TIME),
        _f("createdTime", C.TIME),
        _f("updatedTime", C.TIME),
        _f("openTime", C.TIME),
        _f("seq", C.BIGINT),
        _d("source", C.TEXT),
        _d("day", C.DATE, required=True),
        _d("raw_json", C.JSON, required=True),
    ),
)

# GET /v5/account/wallet-balance: one row per coin, with the account-level totals repeated.
WALLET_BALANCE_SNAPSHOT = RawTable(
    "raw.wallet_balance_snapshot",
    ("account", "as_of", "coin"),
    (
        _d("account", C.TEXT, required=True),
        _d("as_of", C.TIME, required=True),
        _f("coin", C.TEXT, required=True),
        _f("accountType", C.TEXT),
        _f("equity", C.MONEY),
        _f("usdValue", C.MONEY),
        _f("walletBalance", C.MONEY, required=True),
        _f("locked", C.MONEY),
        _f("spotHedgingQty", C.QTY),
        _f("borrowAmount", C.MONEY),
        _f("accruedInterest", C.MONEY),
        _f("totalOrderIM", C.MONEY),
        _f("totalPositionIM", C.MONEY),
        _f("totalPositionMM", C.MONEY),
        _f("unrealisedPnl", C.MONEY),
        _f("cumRealisedPnl", C.MONEY),
        _f("bonus", C.MONEY),
        _f("marginCollateral", C.BOOL),
        _f("collateralSwitch", C.BOOL),
        _f("colRes", C.INT),
        _f("spotBorrow", C.MONEY),
        _f("free", C.MONEY),
        _f("availableToWithdraw", C.MONEY),
        _f("availableToBorrow", C.MONEY),
        _f("totalEquity", C.MONEY),
        _f("totalWalletBalance", C.MONEY),
        _f("totalMarginBalance", C.MONEY),
        _f("totalAvailableBalance", C.MONEY),
        _f("totalPerpUPL", C.MONEY),
        _f("totalInitialMargin", C.MONEY),
        _f("totalMaintenanceMargin", C.MONEY),
        _f("accountIMRate", C.MONEY),
        _f("accountMMRate", C.MONEY),
        _f("accountLTV", C.MONEY),
        _d("source", C.TEXT),
        _d("day", C.DATE, required=True),
        _d("raw_json", C.JSON, required=True),
        _d("account_raw_json", C.JSON),
    ),
)

RAW_TABLES: tuple[RawTable, ...] = (
    EXECUTIONS,
    TRANSACTIONS,
    ORDERS,
    CLOSED_PNL,
    MARK_PRICES,
    API_REQUESTS,
    POSITIONS_SNAPSHOT,
    WALLET_BALANCE_SNAPSHOT,
)
RAW_TABLES_BY_NAME: dict[str, RawTable] = {t.name: t for t in RAW_TABLES}
RAW_DATA_TABLES: tuple[RawTable, ...] = tuple(t for t in RAW_TABLES if t is not API_REQUESTS)
"""The raw tables holding exchange data (everything but the request log)."""


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``raw`` and its tables if missing; add columns a newer version of this file declares."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    existing: dict[str, set[str]] = {}
    for table_name, column_name in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ?",
        [RAW_SCHEMA],
    ).fetchall():
        existing.setdefault(str(table_name), set()).add(str(column_name))
    for table in RAW_TABLES:
        have = existing.get(table.short_name)
        if have is None:
            conn.execute(table.ddl())
            continue
        for col in table.columns:
            if col.name not in have:
                conn.execute(f"ALTER TABLE {table.name} ADD COLUMN {col.name} {col.type.value}")
