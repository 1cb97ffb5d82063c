"""Typed, validated, set-based upsert of Bybit v5 items into the raw.* tables.

One call loads one page (or any batch) of items of one kind:

1. a Python pass turns the items into a pyarrow table of strings (one column per source field, plus
   the item's canonical JSON), registered as a DuckDB view;
2. one validation query checks every row at once: a required field missing or ``""``; a value that
   is not of its column's type (a non-numeric amount, a time that is not an integer, …); a decimal
   with more places than its column keeps (it would be silently rounded). The first problems raise
   :class:`RawValidationError` naming source, field, row and value -- before anything is written;
3. one ``CREATE TEMP TABLE … AS SELECT <explicit casts>`` types the page, deduplicated on the key
   (a deterministic pick when a page repeats a key), and one
   ``INSERT … SELECT … ORDER BY <key> ON CONFLICT …`` writes it.

Re-loading the same items changes nothing, byte for byte; ``inserted``/``already_present`` are exact.

Conflict rules (what happens when the key is already stored):

* executions, transactions, closed PnL, snapshots: immutable exchange facts -- ``DO NOTHING``;
* orders: the stored row is replaced when the incoming ``updated_time`` is later, or equal with a
  greater canonical ``raw_json`` (a total order, so the final table does not depend on arrival order);
* mark prices: a bar is replaced when the same source sends different values (a bar that was still
  open when first fetched gets its final values), and a ``kline`` bar is upgraded to the
  ``mark-price-kline`` bar of the same key; a mark-price bar is never downgraded to a trade kline.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import duckdb
import pyarrow as pa

from hean_pipelines.warehouse.raw_schema import (
    API_REQUESTS,
    CLOSED_PNL,
    DECIMAL_SCALE,
    EXECUTIONS,
    MARK_PRICES,
    ORDERS,
    POSITIONS_SNAPSHOT,
    TRANSACTIONS,
    WALLET_BALANCE_SNAPSHOT,
    ColType,
    Column,
    RawTable,
    ensure_raw_schema,
)


class RawKind(StrEnum):
    EXECUTIONS = "executions"
    TRANSACTIONS = "transactions"
    ORDERS = "orders"
    CLOSED_PNL = "closed_pnl"
    MARK_PRICE_KLINE = "mark_price_kline"
    KLINE = "kline"
    POSITIONS = "positions"
    WALLET_BALANCE = "wallet_balance"


KIND_TABLE: dict[RawKind, RawTable] = {
    RawKind.EXECUTIONS: EXECUTIONS,
    RawKind.TRANSACTIONS: TRANSACTIONS,
    RawKind.ORDERS: ORDERS,
    RawKind.CLOSED_PNL: CLOSED_PNL,
    RawKind.MARK_PRICE_KLINE: MARK_PRICES,
    RawKind.KLINE: MARK_PRICES,
    RawKind.POSITIONS: POSITIONS_SNAPSHOT,
    RawKind.WALLET_BALANCE: WALLET_BALANCE_SNAPSHOT,
}

KLINE_SOURCE: dict[RawKind, str] = {
    RawKind.MARK_PRICE_KLINE: "mark-price-kline",
    RawKind.KLINE: "kline",
}

MAX_REPORTED_PROBLEMS = 20


@dataclass(frozen=True)
class UpsertResult:
    table: str
    received: int
    inserted: int
    already_present: int
    """Items whose key was already stored (updated rows count here) or repeated within the batch."""


class RawValidationError(ValueError):
    """A batch was rejected before anything was written. Names source, field, row and value."""

    def __init__(
        self,
        source: str,
        field: str,
        row: int | None,
        value: str | None,
        reason: str,
        *,
        more: int = 0,
    ) -> None:
        self.source = source
        self.field = field
        self.row = row
        self.value = value
        self.reason = reason
        self.more = more
        where = f"row {row}" if row is not None else "request parameters"
        detail = f"{where}: field {field!r} {reason}"
        if value is not None:
            detail += f" (value {value!r})"
        if more:
            detail += f"; {more} more problem(s) in this batch"
        self.detail = detail
        """The message without the source."""
        super().__init__(f"{source or '<items>'}: {detail}")


# ---------------------------------------------------------------------------------------------
# Python side: items -> strings


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in raw_json")


def canonical_json(value: object) -> str:
    """The JSON text stored in ``raw_json``: keys sorted, compact, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _cell(value: object) -> str | None:
    """One source value as the text the SQL casts read (``None`` stays NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)
    return canonical_json(value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(value: datetime | int, what: str) -> int:
    """An aware datetime, or epoch milliseconds, as epoch microseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value!r}")
        return (value - _EPOCH) // timedelta(microseconds=1)
    return int(value) * 1000


# ---------------------------------------------------------------------------------------------
# SQL side: typing and validation expressions


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stage_col(col: Column) -> str:
    return _q(f"f_{col.name}")


_INTEGER_RE = "^-?[0-9]+$"


def _micros_sql(text_expr: str) -> str:
    v = f"CAST({text_expr} AS BIGINT)"
    return (
        f"CASE WHEN abs({v}) < 100000000000000 THEN {v} * 1000 "
        f"WHEN abs({v}) < 100000000000000000 THEN {v} ELSE {v} // 1000 END"
    )


def _typed_sql(col: Column) -> str:
    """Explicit cast of the staged text of ``col`` to its column type ("" -> NULL)."""
    s = f"nullif({_stage_col(col)}, '')"
    match col.type:
        case ColType.TEXT:
            return s
        case ColType.TIME:
            return f"make_timestamptz({_micros_sql(s)})"
        case ColType.JSON:
            return f"CAST({s} AS JSON)"
        case _:
            return f"CAST({s} AS {col.type.value})"


def _checks(col: Column, required: bool) -> list[tuple[str, str]]:
    """(SQL condition flagging a bad row, reason) pairs for one staged column."""
    s = _stage_col(col)
    present = f"{s} IS NOT NULL AND {s} <> ''"
    checks: list[tuple[str, str]] = []
    if required:
        checks.append((f"{s} IS NULL OR {s} = ''", "is required but missing or empty"))
    match col.type:
        case ColType.QTY | ColType.MONEY:
            scale = DECIMAL_SCALE[col.type]
            checks.append(
                (
                    f"{present} AND TRY_CAST({s} AS {col.type.value}) IS NULL",
                    f"is not a valid {col.type.value}",
                )
            )
            checks.append(
                (
                    f"{present} AND TRY_CAST({s} AS {col.type.value}) IS NOT NULL "
                    f"AND regexp_matches({s}, '\\.[0-9]{{{scale}}}[0-9]*[1-9]')",
                    f"has more than {scale} decimal places ({col.type.value} would round it)",
                )
            )
        case ColType.TIME:
            checks.append(
                (
                    f"{present} AND NOT (regexp_matches({s}, '{_INTEGER_RE}') AND TRY_CAST({s} AS BIGINT) IS NOT NULL)",
                    "is not an integer epoch timestamp (ms)",
                )
            )
        case ColType.INT | ColType.BIGINT:
            checks.append(
                (
                    f"{present} AND NOT (regexp_matches({s}, '{_INTEGER_RE}') "
                    f"AND TRY_CAST({s} AS {col.type.value}) IS NOT NULL)",
                    f"is not a valid {col.type.value}",
                )
            )
        case ColType.BOOL:
            checks.append((f"{present} AND TRY_CAST({s} AS BOOLEAN) IS NULL", "is not a boolean"))
        case ColType.DOUBLE:
            checks.append((f"{present} AND TRY_CAST({s} AS DOUBLE) IS NULL", "is not a number"))
        case ColType.JSON:
            checks.append((f"{present} AND NOT json_valid({s})", "is not valid JSON"))
        case _:
            pass
    return checks


def _day_sql(ts_expr: str) -> str:
    # The UTC calendar date, whatever the session TimeZone.
    return f"CAST(timezone('UTC', {ts_expr}) AS DATE)"


def _hash_sql(parts: Sequence[str]) -> str:
    """sha256 hex of the JSON array of the parts (unambiguous: no separator can collide)."""
    items = ", ".join(f"CAST({p} AS VARCHAR)" for p in parts)
    return f"sha256(CAST(to_json([{items}]) AS VARCHAR))"


_RAW = "CAST(_raw AS JSON)"

# Per table: SQL for derived columns and for source columns that need more than the plain cast.
# They read the typed columns (by column name) and named parameters ($account, ...).
_DERIVED: dict[str, dict[str, str]] = {
    EXECUTIONS.name: {
        "account": "$account",
        "category": "$category",
        "day": _day_sql("exec_time"),
        "raw_json": _RAW,
    },
    TRANSACTIONS.name: {
        "tx_key": _hash_sql(
            [
                "$account",
                "id",
                "type",
                "currency",
                "epoch_ms(transaction_time)",
                "trade_id",
                "order_id",
                "change",
                "cash_balance",
            ]
        ),
        "account": "$account",
        "category": "coalesce(category, $category)",
        "day": _day_sql("transaction_time"),
        "raw_json": _RAW,
    },
    ORDERS.name: {
        "account": "$account",
        "category": "$category",
        "day": _day_sql("created_time"),
        "raw_json": _RAW,
    },
    CLOSED_PNL.name: {
        "closed_pnl_key": _hash_sql(
            ["$account", "order_id", "epoch_ms(created_time)", "epoch_ms(updated_time)", "closed_size"]
        ),
        "account": "$account",
        "category": "$category",
        "day": _day_sql("created_time"),
        "raw_json": _RAW,
    },
    MARK_PRICES.name: {
        "category": "$category",
        "symbol": "$symbol",
        "interval": "$interval",
        "source": "$kline_source",
        "day": _day_sql("ts"),
        "raw_json": _RAW,
    },
    POSITIONS_SNAPSHOT.name: {
        "account": "$account",
        "as_of": "make_timestamptz($as_of_us)",
        "category": "$category",
        "open_time": "nullif(open_time, make_timestamptz(0))",  # Bybit's default 0 = never opened
        "source": "nullif($source, '')",
        "day": _day_sql("make_timestamptz($as_of_us)"),
        "raw_json": _RAW,
    },
    WALLET_BALANCE_SNAPSHOT.name: {
        "account": "$account",
        "as_of": "make_timestamptz($as_of_us)",
        "source": "nullif($source, '')",
        "day": _day_sql("make_timestamptz($as_of_us)"),
        "raw_json": _RAW,
        "account_raw_json": "CAST(_raw_account AS JSON)",
    },
    API_REQUESTS.name: {},
}

# Within one batch, the row kept for a repeated key (a deterministic total order).
_DEDUP_ORDER: dict[str, str] = {ORDERS.name: "updated_time DESC, CAST(raw_json AS VARCHAR) DESC"}


def _conflict_sql(table: RawTable) -> str:
    key = ", ".join(table.key)
    non_key = [c for c in table.column_names if c not in table.key]
    set_clause = ", ".join(f"{c} = excluded.{c}" for c in non_key)
    if table is ORDERS:
        return (
            f"ON CONFLICT ({key}) DO UPDATE SET {set_clause} "
            "WHERE excluded.updated_time > t.updated_time "
            "OR (excluded.updated_time = t.updated_time "
            "AND CAST(excluded.raw_json AS VARCHAR) > CAST(t.raw_json AS VARCHAR))"
        )
    if table is MARK_PRICES:
        return (
            f"ON CONFLICT ({key}) DO UPDATE SET {set_clause} "
            "WHERE (excluded.source = t.source "
            "AND CAST(excluded.raw_json AS VARCHAR) <> CAST(t.raw_json AS VARCHAR)) "
            "OR (excluded.source = 'mark-price-kline' AND t.source <> 'mark-price-kline')"
        )
    return f"ON CONFLICT ({key}) DO NOTHING"


_PARAM_RE = re.compile(r"\$([a-z_]+)")


def _used_params(sql: str, params: Mapping[str, object]) -> dict[str, object]:
    """DuckDB rejects named parameters the statement does not use: pass only the used ones."""
    used = set(_PARAM_RE.findall(sql))
    missing = used - set(params)
    if missing:
        raise KeyError(f"SQL parameters without values: {sorted(missing)}")
    return {name: params[name] for name in sorted(used)}


# ---------------------------------------------------------------------------------------------
# The generic loader


@dataclass
class _Staged:
    columns: dict[str, list[str | None]]
    rows: int


def _stage_rows(
    table: RawTable,
    rows: Sequence[Mapping[str, Any] | Sequence[Any]],
    *,
    source: str,
    skip_sources: frozenset[str | int] = frozenset(),
    account_objects: Sequence[Mapping[str, Any] | None] | None = None,
    raw_items: Sequence[object] | None = None,
) -> _Staged:
    fields = table.source_columns
    data: dict[str, list[str | None]] = {f"f_{c.name}": [] for c in fields}
    raw: list[str | None] = []
    positional = all(isinstance(c.source, int) for c in fields)
    for index, row in enumerate(rows):
        if positional:
            if isinstance(row, (str, bytes, Mapping)) or not isinstance(row, Sequence):
                raise RawValidationError(source, "<item>", index, _cell(row), "is not a kline bar (a list)")
        elif not isinstance(row, Mapping):
            raise RawValidationError(source, "<item>", index, _cell(row), "is not a JSON object")
        for col in fields:
            value: object = None
            if col.source not in skip_sources:
                if isinstance(col.source, int):
                    seq = row if isinstance(row, Sequence) else ()
                    value = seq[col.source] if col.source < len(seq) else None
                elif isinstance(row, Mapping):
                    value = row.get(str(col.source))
            data[f"f_{col.name}"].append(_cell(value))
        raw.append(canonical_json(raw_items[index] if raw_items is not None else row))
    data["_raw"] = raw
    if account_objects is not None:
        data["_raw_account"] = [None if a is None else canonical_json(a) for a in account_objects]
    return _Staged(data, len(rows))


def _arrow(staged: _Staged) -> pa.Table:
    arrays: dict[str, pa.Array] = {"_row": pa.array(range(staged.rows), type=pa.int64())}
    for name, values in staged.columns.items():
        arrays[name] = pa.array(values, type=pa.string())
    return pa.table(arrays)


def _validate(
    conn: duckdb.DuckDBPyConnection,
    view: str,
    table: RawTable,
    required: frozenset[str],
    source: str,
) -> None:
    selects: list[str] = []
    conditions: list[str] = []
    order = 0
    for col in table.source_columns:
        for condition, reason in _checks(col, col.name in required):
            conditions.append(condition)
            label = col.field_label.replace("'", "''")
            selects.append(
                f"SELECT _row, {order} AS ord, '{label}' AS field, {_stage_col(col)} AS value, "
                f"'{reason.replace(chr(39), chr(39) * 2)}' AS reason FROM {view} WHERE {condition}"
            )
            order += 1
    if not selects:
        return
    # Fast path (the usual case): one scan says whether any row has any problem at all.
    any_bad = " OR ".join(f"({condition})" for condition in conditions)
    flagged = conn.execute(f"SELECT count(*) FROM {view} WHERE {any_bad}").fetchone()
    if not flagged or not flagged[0]:
        return
    sql = (
        f"SELECT _row, field, value, reason, count(*) OVER () AS n FROM ({' UNION ALL '.join(selects)}) "
        f"ORDER BY _row, ord LIMIT {MAX_REPORTED_PROBLEMS}"
    )
    problems = conn.execute(sql).fetchall()
    if problems:
        row, field, value, reason, total = problems[0]
        raise RawValidationError(source, str(field), int(row), value, str(reason), more=int(total) - 1)


def _quietly(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Clean-up that must not replace an exception in flight (an aborted transaction refuses it,
    and rolling back removes the temp table anyway)."""
    with contextlib.suppress(duckdb.Error):
        conn.execute(sql)


def _load(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    staged: _Staged,
    *,
    received: int,
    required: frozenset[str],
    source: str,
    params: Mapping[str, object],
) -> UpsertResult:
    if staged.rows == 0:
        return UpsertResult(table.name, received, 0, received)
    token = uuid.uuid4().hex
    view = f"_hean_stage_{token}"
    temp = f"_hean_typed_{token}"
    conn.register(view, _arrow(staged))
    try:
        _validate(conn, view, table, required, source)

        derived = _DERIVED[table.name]
        typed = ", ".join(f"{_typed_sql(c)} AS {c.name}" for c in table.source_columns)
        extra = ", _raw_account" if "_raw_account" in staged.columns else ""
        full = ", ".join(f"{derived.get(c.name, c.name)} AS {c.name}" for c in table.columns)
        key = ", ".join(table.key)
        dedup = _DEDUP_ORDER.get(table.name, "CAST(raw_json AS VARCHAR) DESC")
        if "raw_json" not in table.column_names:
            dedup = "_row"
        create = (
            f"CREATE TEMP TABLE {temp} AS "
            f"WITH typed AS (SELECT _row, _raw{extra}, {typed} FROM {view}), "
            f"full_rows AS (SELECT _row, {full} FROM typed) "
            f"SELECT * EXCLUDE (_row) FROM full_rows "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {dedup}) = 1"
        )
        conn.execute(create, _used_params(create, params))
        try:
            match = " AND ".join(f"t.{k} = s.{k}" for k in table.key)
            existing_row = conn.execute(
                f"SELECT count(*) FROM {temp} s WHERE EXISTS (SELECT 1 FROM {table.name} t WHERE {match})"
            ).fetchone()
            distinct_row = conn.execute(f"SELECT count(*) FROM {temp}").fetchone()
            existing = int(existing_row[0]) if existing_row else 0
            distinct = int(distinct_row[0]) if distinct_row else 0
            columns = ", ".join(table.column_names)
            conn.execute(
                f"INSERT INTO {table.name} AS t ({columns}) SELECT {columns} FROM {temp} "
                f"ORDER BY {key} {_conflict_sql(table)}"
            )
        finally:
            _quietly(conn, f"DROP TABLE IF EXISTS {temp}")
    finally:
        with contextlib.suppress(duckdb.Error):  # never hide the exception that got us here
            conn.unregister(view)
    inserted = distinct - existing
    return UpsertResult(table.name, received, inserted, received - inserted)


def _require_param(value: object, name: str, kind: RawKind, source: str) -> None:
    if value is None or value == "":
        raise RawValidationError(source, name, None, None, f"is required to load {kind.value} rows")


def upsert_raw(
    conn: duckdb.DuckDBPyConnection,
    kind: RawKind,
    items: Sequence[Mapping[str, Any] | Sequence[Any]],
    *,
    account: str,
    category: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    source: str = "",
    as_of: datetime | int | None = None,
) -> UpsertResult:
    """Validate then upsert one batch of Bybit v5 items of ``kind``. See the module docstring.

    ``category`` is the request's (``result.category``); ``symbol``/``interval`` identify a kline
    series; ``as_of`` (aware datetime or epoch ms) stamps a position/wallet snapshot; ``source``
    names where the items came from (a file name, ``"api"``): it appears in error messages and in the
    snapshots' ``source`` column. Raises :class:`RawValidationError` (nothing written) on bad input.
    """
    kind = RawKind(kind)
    table = KIND_TABLE[kind]
    ensure_raw_schema(conn)
    _require_param(account, "account", kind, source)
    required = frozenset(c.name for c in table.columns if c.required)
    params: dict[str, object] = {
        "account": account,
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "source": source,
        "kline_source": KLINE_SOURCE.get(kind),
        "as_of_us": None,
    }
    skip: frozenset[str | int] = frozenset()
    account_objects: list[Mapping[str, Any] | None] | None = None
    raw_items: list[object] | None = None
    rows: Sequence[Mapping[str, Any] | Sequence[Any]] = items

    if kind in KLINE_SOURCE:
        _require_param(category, "category", kind, source)
        _require_param(symbol, "symbol", kind, source)
        _require_param(interval, "interval", kind, source)
        if kind is RawKind.KLINE:
            required = required | {"volume", "turnover"}
        else:
            skip = frozenset({5, 6})  # a mark-price bar has no volume/turnover
    if kind in (RawKind.POSITIONS, RawKind.WALLET_BALANCE):
        if as_of is None:
            raise RawValidationError(source, "as_of", None, None, f"is required to load {kind.value} snapshots")
        params["as_of_us"] = _epoch_us(as_of, "as_of")
        if kind is RawKind.POSITIONS:
            _require_param(category, "category", kind, source)
    if kind is RawKind.WALLET_BALANCE:
        rows, account_objects, raw_items = _flatten_wallet(items, source)

    staged = _stage_rows(
        table, rows, source=source, skip_sources=skip, account_objects=account_objects, raw_items=raw_items
    )
    return _load(conn, table, staged, received=len(rows), required=required, source=source, params=params)


def _flatten_wallet(
    items: Sequence[Mapping[str, Any] | Sequence[Any]], source: str
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any] | None], list[object]]:
    """Wallet-balance ``result.list`` accounts -> one row per coin (account totals repeated).

    Plain coin objects (``"coin"`` is a string) are accepted too, with no account-level fields.
    """
    rows: list[Mapping[str, Any]] = []
    accounts: list[Mapping[str, Any] | None] = []
    raws: list[object] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise RawValidationError(source, "<item>", index, _cell(item), "is not a JSON object")
        coins = item.get("coin")
        if isinstance(coins, list):
            parent = {k: v for k, v in item.items() if k != "coin"}
            for coin in coins:
                if not isinstance(coin, Mapping):
                    raise RawValidationError(source, "coin", index, _cell(coin), "is not a JSON object")
                rows.append({**parent, **coin})
                accounts.append(parent)
                raws.append(coin)
        else:
            rows.append(item)
            accounts.append(None)
            raws.append(item)
    return rows, accounts, raws


def _request_row(record: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(record)
    if not row.get("request_id"):
        row["request_id"] = str(uuid.uuid4())
    ts = row.get("ts")
    if isinstance(ts, str) and ts and not ts.lstrip("-").isdigit():
        ts = datetime.fromisoformat(ts)
    if isinstance(ts, datetime) or (isinstance(ts, int) and not isinstance(ts, bool)):
        row["ts"] = _epoch_us(ts, "ts")  # stored as µs; the TIME cast reads µs by magnitude
    return row


def log_api_requests(conn: duckdb.DuckDBPyConnection, records: Sequence[Mapping[str, Any]]) -> int:
    """Append request records to ``raw.api_requests``; returns rows added (a known request_id is skipped).

    A record has ``endpoint`` and ``ts`` (aware datetime, ISO text, or epoch ms) and optionally
    ``request_id`` (a uuid4 is made when absent), ``method``, ``status``, ``ret_code``, ``ret_msg``,
    ``latency_seconds``, ``retries``, ``rows``, ``account``, ``run_id``.
    """
    ensure_raw_schema(conn)
    rows = [_request_row(r) for r in records]
    table = API_REQUESTS
    staged = _stage_rows(table, rows, source="api_requests")
    required = frozenset(c.name for c in table.columns if c.required)
    result = _load(conn, table, staged, received=len(rows), required=required, source="api_requests", params={})
    return result.inserted
