"""A coin's balance at an instant, from the transaction log's ``cashBalance`` chain (Bybit's own numbers)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import duckdb

# A coin's balance just before an instant: the last row of that coin before it (the one no same-time row
# follows in the balance chain), else the first row's balance minus its change, else zero.
_BALANCE_BEFORE_SQL = """
WITH coin AS (
    SELECT transaction_time, cash_balance, change FROM raw.bybit_transactions
    WHERE account = $account AND currency = $currency
),
before AS (
    SELECT * FROM coin WHERE transaction_time = (SELECT max(transaction_time) FROM coin WHERE transaction_time < $start)
),
last_before AS (
    SELECT b.cash_balance FROM before b
    WHERE NOT EXISTS (SELECT 1 FROM before o WHERE o.cash_balance - o.change = b.cash_balance AND o.change <> 0)
    ORDER BY b.cash_balance LIMIT 1
),
after AS (
    SELECT * FROM coin
    WHERE transaction_time = (SELECT min(transaction_time) FROM coin WHERE transaction_time >= $start)
),
first_after AS (
    SELECT a.cash_balance - a.change AS opening FROM after a
    WHERE NOT EXISTS (SELECT 1 FROM after o WHERE o.cash_balance = a.cash_balance - a.change AND o.change <> 0)
    ORDER BY 1 LIMIT 1
)
SELECT coalesce((SELECT cash_balance FROM last_before), (SELECT opening FROM first_after), 0::DECIMAL(38,18))
"""


def balance_before(conn: duckdb.DuckDBPyConnection, account: str, currency: str, instant: datetime) -> Decimal:
    """``currency``'s balance just before ``instant`` (0 when the log has no row of that coin)."""
    row = conn.execute(_BALANCE_BEFORE_SQL, {"account": account, "currency": currency, "start": instant}).fetchone()
    return row[0] if row and row[0] is not None else Decimal(0)
