"""DDL of the derived tables: ``ledger.*`` and ``attribution.*``.

Quantities and prices DECIMAL(38,12), money DECIMAL(38,18). Derived tables are replaced per day
(delete the window, insert) in one transaction, so every statement here is idempotent.

The two big tables, ``ledger.entries`` (two rows per execution) and ``ledger.account_fills`` (one), have
no PRIMARY KEY: their keys are unique, but that is enforced by the blocking asset check
``no_duplicate_entries`` (``invariants.no_duplicate_entries``), not by an index. DuckDB keeps a PRIMARY KEY
as an ART index, and inserting millions of keys into it inside one transaction (a backfill) cost most of
the ledger's time and memory: a transaction-local copy of the index is built, then merged at commit
(bench/README.md). Their execution ids (and account_fills' order ids) are stored uncompressed: they are
(nearly) unique, so DuckDB's default string compression (dictionary + FSST) finds no dictionary and costs
about 3x the write time of the column, for about half its size on disk (measured: 0.42 s against 0.12 s
per 2M ids, 165 against 311 blocks).
"""

from __future__ import annotations

import re

import duckdb

from hean_pipelines.warehouse.connection import atomic

QTY = "DECIMAL(38,12)"
MONEY = "DECIMAL(38,18)"

LEDGER_DDL = f"""
CREATE SCHEMA IF NOT EXISTS ledger;
CREATE TABLE IF NOT EXISTS ledger.days (
    date DATE NOT NULL,
    account VARCHAR NOT NULL,
    opening_source VARCHAR NOT NULL,   -- 'previous_day', or how the first day's opening state was bootstrapped
    opening_equity {MONEY},             -- the first day only: cash before its first event (else NULL)
    PRIMARY KEY (date, account)
);
CREATE TABLE IF NOT EXISTS ledger.openings (
    date DATE NOT NULL,                 -- the first day, bootstrapped from a Bybit snapshot
    account VARCHAR NOT NULL,
    category VARCHAR NOT NULL,          -- 'linear', 'spot', or 'cash' (the USDT balance)
    symbol VARCHAR NOT NULL,            -- 'USDT' for cash
    snapshot_as_of TIMESTAMPTZ NOT NULL,
    qty {MONEY} NOT NULL,               -- at the day's start: signed position, or USDT cash (transaction log)
    cost_basis {MONEY},                 -- positions only
    qty_at_snapshot {MONEY} NOT NULL,   -- what Bybit's snapshot said at snapshot_as_of
    cost_basis_at_snapshot {MONEY},
    qty_from_wallet {MONEY},            -- cash only: the wallet balance rolled back over the transaction log
    rows_rolled_back INTEGER NOT NULL,  -- fills (positions) or transaction-log rows (cash, spot) undone
    closed_pnl_records INTEGER NOT NULL,
    PRIMARY KEY (date, account, category, symbol)
);
CREATE TABLE IF NOT EXISTS ledger.positions (
    date DATE NOT NULL,
    account VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    process_id VARCHAR NOT NULL,
    qty {QTY} NOT NULL,                 -- signed: + long, - short (spot: base coin held)
    cost_basis {MONEY} NOT NULL,        -- signed entry value of the open qty
    mark_price {QTY} NOT NULL,          -- close of the day's last hourly bar
    market_value {MONEY} NOT NULL,      -- qty x mark
    unrealized_pnl {MONEY} NOT NULL,    -- market_value - cost_basis
    PRIMARY KEY (date, account, category, symbol, process_id)  -- spot and linear share symbol names
);
CREATE TABLE IF NOT EXISTS ledger.account_positions (
    date DATE NOT NULL,
    account VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    qty {QTY} NOT NULL,
    cost_basis {MONEY} NOT NULL,
    mark_price {QTY} NOT NULL,
    unrealized_pnl {MONEY} NOT NULL,
    PRIMARY KEY (date, account, category, symbol)
);
-- Key (trade_id, component, process_id): unique, enforced by the check no_duplicate_entries, not by an index.
CREATE TABLE IF NOT EXISTS ledger.entries (
    trade_id VARCHAR USING COMPRESSION uncompressed NOT NULL, -- exec_id, or the transaction log's tx_key
    component VARCHAR NOT NULL CHECK (component IN ('realized_pnl', 'fee', 'funding', 'reward')),
    process_id VARCHAR NOT NULL,
    date DATE NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    account VARCHAR NOT NULL,
    category VARCHAR,
    symbol VARCHAR,
    currency VARCHAR NOT NULL,
    amount {MONEY} NOT NULL,            -- signed cash to the account: + in, - out
    qty {QTY},                          -- realized_pnl rows: the process's signed traded qty
    price {QTY},
    cash_flow {MONEY},                  -- realized_pnl rows: -qty x price (gross of fees)
    source_table VARCHAR NOT NULL,
    split_rule VARCHAR NOT NULL         -- 'owner' (orderLinkId), 'position_share', 'unattributed'
);
-- Key exec_id: unique, enforced by the check no_duplicate_entries, not by an index.
CREATE TABLE IF NOT EXISTS ledger.account_fills (
    exec_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    date DATE NOT NULL,
    account VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    order_id VARCHAR USING COMPRESSION uncompressed, -- unique per order, like exec_id: see the module doc
    qty {QTY} NOT NULL,
    price {QTY} NOT NULL,
    realized_pnl {MONEY} NOT NULL       -- account-level average-cost realized, gross (for Bybit's closed PnL)
);
CREATE TABLE IF NOT EXISTS ledger.account_flows (
    tx_key VARCHAR PRIMARY KEY,
    date DATE NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    account VARCHAR NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('capital_flow', 'bonus')),
    type VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    amount {MONEY} NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger.transaction_dispositions (
    tx_key VARCHAR PRIMARY KEY,
    date DATE NOT NULL,
    account VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    disposition VARCHAR NOT NULL
        CHECK (disposition IN ('covered_by_executions', 'reward', 'cost', 'capital_flow', 'bonus', 'quarantined'))
);
CREATE TABLE IF NOT EXISTS ledger.quarantine (
    source_table VARCHAR NOT NULL,
    source_key VARCHAR NOT NULL,
    date DATE NOT NULL,
    account VARCHAR,
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    PRIMARY KEY (source_table, source_key)
);
"""

ATTRIBUTION_MONEY_COLUMNS = (
    "pnl",
    "realized_pnl",
    "unrealized_pnl_change",
    "unrealized_pnl_eod",
    "funding",
    "rewards",
    "fees",
    "opportunity_cost",
    "total",
)

ATTRIBUTION_DDL = f"""
CREATE SCHEMA IF NOT EXISTS attribution;
CREATE TABLE IF NOT EXISTS attribution.process_daily (
    date DATE NOT NULL,
    process_id VARCHAR NOT NULL,
    allocated_capital {MONEY} NOT NULL,
    {", ".join(f"{c} {MONEY} NOT NULL" for c in ATTRIBUTION_MONEY_COLUMNS)},
    n_fills BIGINT NOT NULL,
    PRIMARY KEY (date, process_id)
);
CREATE TABLE IF NOT EXISTS attribution.portfolio_daily (
    date DATE PRIMARY KEY,
    {", ".join(f"{c} {MONEY} NOT NULL" for c in ATTRIBUTION_MONEY_COLUMNS)},
    capital_flows {MONEY} NOT NULL,
    bonus {MONEY} NOT NULL,             -- non-withdrawable trial money: reported, never in total or equity
    opening_equity {MONEY} NOT NULL,
    equity {MONEY} NOT NULL,
    performance_index {MONEY} NOT NULL, -- time-weighted, capital flows excluded; 1 on the first day's open
    drawdown_ratio {MONEY} NOT NULL     -- 1 - performance_index / running peak, in [0, 1]
);
"""


UNKEYED_TABLES = ("entries", "account_fills")
"""Tables of the ``ledger`` schema whose key is enforced by a check, not by a PRIMARY KEY index."""

OLD_KEYS_SQL = f"""
SELECT table_name FROM duckdb_constraints()
WHERE database_name = current_database() AND schema_name = 'ledger' AND constraint_type = 'PRIMARY KEY'
  AND table_name IN {UNKEYED_TABLES} ORDER BY 1
"""
"""The unkeyed tables that a warehouse written before they lost their PRIMARY KEY still has one on."""


def _drop_old_keys(conn: duckdb.DuckDBPyConnection) -> None:
    """Rebuild, rows unchanged, an unkeyed table that still has its old PRIMARY KEY (DuckDB cannot drop a
    key in place): one copy, in one transaction, the first time a newer version opens the file."""
    tables = [str(row[0]) for row in conn.execute(OLD_KEYS_SQL).fetchall()]
    if not tables:
        return
    with atomic(conn):
        for table in tables:
            match = re.search(rf"CREATE TABLE IF NOT EXISTS ledger\.{table} (\(.*?\n\));", LEDGER_DDL, re.S)
            assert match, table
            conn.execute(f"CREATE TABLE ledger._{table}_rekeyed {match.group(1)}")
            conn.execute(f"INSERT INTO ledger._{table}_rekeyed SELECT * FROM ledger.{table}")
            conn.execute(f"DROP TABLE ledger.{table}")
            conn.execute(f"ALTER TABLE ledger._{table}_rekeyed RENAME TO {table}")


def ensure_ledger_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(LEDGER_DDL)
    conn.execute(ATTRIBUTION_DDL)
    _drop_old_keys(conn)
