"""DDL of the derived tables: ``ledger.*`` and ``attribution.*``.

Quantities and prices DECIMAL(38,12), money DECIMAL(38,18). Derived tables are replaced per day
(delete the window, insert) in one transaction, so every statement here is idempotent.
"""

from __future__ import annotations

import duckdb

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
CREATE TABLE IF NOT EXISTS ledger.entries (
    trade_id VARCHAR NOT NULL,          -- exec_id, or the transaction log's tx_key
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
    split_rule VARCHAR NOT NULL,        -- 'owner' (orderLinkId), 'position_share', 'unattributed'
    PRIMARY KEY (trade_id, component, process_id)
);
CREATE TABLE IF NOT EXISTS ledger.account_fills (
    exec_id VARCHAR PRIMARY KEY,
    date DATE NOT NULL,
    account VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    order_id VARCHAR,
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


def ensure_ledger_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(LEDGER_DDL)
    conn.execute(ATTRIBUTION_DDL)
