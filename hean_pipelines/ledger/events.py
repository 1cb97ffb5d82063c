"""The day's executions, classified set-based in DuckDB: in scope or quarantined, owned or to be split.

Scope v1 (DESIGN §5): USDT-settled linear perpetuals in one-way mode and spot with a USDT quote. A
row outside it is quarantined with a named reason instead of being guessed at.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import duckdb
import numpy as np
import pyarrow as pa

from hean_pipelines.accounting.average_cost import FILL, FUNDING, POSITION_EVENT

# Bybit marks position-level closes (no orderLinkId, acting on the net position) by these.
POSITION_EXEC_TYPES = ("AdlTrade", "BustTrade")
POSITION_CREATE_TYPES = (
    "CreateByAdl",
    "CreateByLiq",
    "CreateByTakeProfit",
    "CreateByStopLoss",
    "CreateByTrailingStop",
    "CreateByPartialTakeProfit",
    "CreateByPartialStopLoss",
)
POSITION_STOP_ORDER_TYPES = ("TakeProfit", "StopLoss", "TrailingStop", "PartialTakeProfit", "PartialStopLoss")
KNOWN_EXEC_TYPES = ("Trade", "Funding", "AdlTrade", "BustTrade")

_CLASSIFY_SQL = f"""
WITH day_execs AS (
    SELECT e.*,
           CASE WHEN e.category = 'spot' AND e.symbol LIKE '%USDT' THEN left(e.symbol, length(e.symbol) - 4)
           END AS base_coin,
           o.position_idx
    FROM raw.bybit_executions e
    LEFT JOIN raw.bybit_orders o ON o.order_id = e.order_id AND e.order_id IS NOT NULL
    WHERE e.day = $day AND e.account = $account
),
classified AS (
    SELECT *,
        CASE
            WHEN category NOT IN ('linear', 'spot') THEN 'out_of_scope_category:' || coalesce(category, 'null')
            WHEN category = 'linear' AND symbol NOT LIKE '%USDT' THEN 'out_of_scope_settle_coin'
            WHEN category = 'spot' AND symbol NOT LIKE '%USDT' THEN 'out_of_scope_quote_coin'
            WHEN position_idx IS NOT NULL AND position_idx <> 0 THEN 'out_of_scope_hedge_mode'
            WHEN exec_type NOT IN {KNOWN_EXEC_TYPES} THEN 'unknown_exec_type:' || exec_type
            WHEN exec_fee IS NULL THEN 'missing_exec_fee'
            WHEN category = 'linear' AND coalesce(fee_currency, 'USDT') NOT IN ('USDT', '')
                THEN 'fee_in_third_coin:' || fee_currency
            WHEN category = 'spot' AND coalesce(fee_currency, '') NOT IN ('USDT', base_coin)
                THEN 'fee_in_third_coin:' || coalesce(fee_currency, 'null')
            WHEN category = 'spot' AND exec_type <> 'Trade' THEN 'unknown_exec_type:' || exec_type
        END AS quarantine_reason,
        CASE
            WHEN exec_type = 'Funding' THEN {FUNDING}
            WHEN coalesce(order_link_id, '') <> '' THEN {FILL}
            WHEN exec_type IN {POSITION_EXEC_TYPES}
              OR coalesce(create_type, '') IN {POSITION_CREATE_TYPES}
              OR coalesce(stop_order_type, '') IN {POSITION_STOP_ORDER_TYPES} THEN {POSITION_EVENT}
            ELSE {FILL}
        END AS kind
    FROM day_execs
),
events AS (
SELECT
    exec_id, category, symbol, exec_type, order_id, exec_time, seq, kind, quarantine_reason,
    CASE WHEN kind = {FILL} THEN coalesce(p.process_id, 'unattributed') END AS owner,
    CASE WHEN kind = {FILL} AND p.process_id IS NULL THEN 'unattributed'
         WHEN kind = {FILL} THEN 'owner' ELSE 'position_share' END AS split_rule,
    CASE WHEN kind = {FUNDING} THEN 0::DECIMAL(38,12)
         WHEN side = 'Buy' THEN exec_qty ELSE -exec_qty END AS signed_qty,
    CASE WHEN kind = {FUNDING} THEN 0::DECIMAL(38,12) ELSE exec_price END AS price,
    -- Fee cash in USDT (- paid, + rebate). A spot buy pays its fee in the base coin: valued at the
    -- fill's own price (DESIGN §5); the coin itself leaves the position as a separate fee event.
    CASE WHEN kind = {FUNDING} THEN 0::DECIMAL(38,18)
         WHEN category = 'spot' AND fee_currency = base_coin THEN -(exec_fee * exec_price)
         ELSE -exec_fee END AS fee_cash,
    CASE WHEN category = 'spot' AND fee_currency = base_coin THEN exec_fee ELSE 0::DECIMAL(38,18)
    END AS base_fee_qty,
    -- On Funding rows execFee > 0 is funding paid: the cash to the account is -execFee.
    CASE WHEN kind = {FUNDING} THEN -exec_fee ELSE 0::DECIMAL(38,18) END AS funding_cash
FROM classified c
LEFT JOIN _ledger_link_prefixes p ON p.link_prefix = split_part(c.order_link_id, '-', 1)
    AND strpos(c.order_link_id, '-') > 1
)
SELECT *
FROM (
    SELECT *, 0 AS sub FROM events
    UNION ALL
    -- The base coin paid as a spot fee leaves the position: a sale of that qty at the fill's price,
    -- whose USDT value is the fee (so pnl - fees is the true change, and holdings match the wallet).
    SELECT exec_id, category, symbol, exec_type, order_id, exec_time, seq, kind, quarantine_reason, owner,
           split_rule, -base_fee_qty, price, 0::DECIMAL(38,18), 0::DECIMAL(38,18), 0::DECIMAL(38,18), 1 AS sub
    FROM events WHERE base_fee_qty <> 0 AND quarantine_reason IS NULL
)
"""
# Bybit's event order per (category, symbol), applied by Arrow to the query's result (``classify_executions``):
# the same order DuckDB's ORDER BY gave (binary string order, NULLs last in both, and the keys end with the
# unique exec_id, sub), at about half its cost per day (bench/README.md).
EVENT_ORDER = [(key, "ascending") for key in ("category", "symbol", "exec_time", "seq", "exec_id", "sub")]


def sql_literal(value: date | str) -> str:
    """A DATE or VARCHAR SQL literal (standard quoting: ' doubled)."""
    if isinstance(value, datetime):
        raise TypeError(f"sql_literal takes a date or a str, not a datetime: {value!r}")
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + value.replace("'", "''") + "'"


def query_arrow(
    conn: duckdb.DuckDBPyConnection, table: pa.Table, name: str, sql: str, params: dict[str, date | str]
) -> duckdb.DuckDBPyRelation:
    """Run ``sql`` with the Arrow ``table`` visible as ``name`` for this one statement (``$key`` in ``sql``
    becomes the literal of ``params[key]``); a statement that writes runs now, its relation holds the count.

    Not ``conn.register``: inside a transaction DuckDB keeps a registered object alive until the
    transaction ends, so a backfill of many days in one transaction would hold every day's Arrow tables.
    """
    bound = re.sub(r"\$(\w+)\b", lambda m: sql_literal(params[m.group(1)]), sql)
    relation = conn.from_arrow(table).query(name, bound)
    if relation is None:
        raise RuntimeError(f"DuckDB returned nothing for a statement over {name}")
    return relation


def classify_executions(
    conn: duckdb.DuckDBPyConnection, day: date, account: str, link_prefixes: dict[str, str]
) -> pa.Table:
    """The day's executions as columns, in Bybit's event order (exec_time, seq, exec_id) per (category, symbol);
    ``ev`` numbers them in that order."""
    items = sorted(link_prefixes.items())
    prefixes = pa.table(
        {
            "link_prefix": pa.array([k for k, _ in items], type=pa.string()),
            "process_id": pa.array([v for _, v in items], type=pa.string()),
        }
    )
    events = (
        query_arrow(conn, prefixes, "_ledger_link_prefixes", _CLASSIFY_SQL, {"day": day, "account": account})
        .to_arrow_table()
        .sort_by(EVENT_ORDER)
    )
    # ev: the position in that order (one sort in SQL, the numbering here).
    return events.add_column(0, "ev", pa.array(np.arange(events.num_rows, dtype=np.int64)))
