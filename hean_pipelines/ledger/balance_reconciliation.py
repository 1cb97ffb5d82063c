"""The ledger's equity against Bybit's own balances, per day and per coin (DESIGN §5: equity is reconciled
against the wallet balance).

Equity is cash plus the positions' value, so the ledger implies a cash balance at every close::

    USDT: equity − Σ linear unrealized (account positions) − Σ spot market value + bonus received since
          the first day (bonus is Bybit's money: in its balance, never in equity)
    coin: the account's spot position in <coin>USDT

Bybit's side is the transaction log's ``cashBalance`` chain at the same instant. Where a wallet-balance
snapshot was taken (live ingestion takes one every run), its ``walletBalance`` is compared with that
chain at the snapshot's instant, and a bootstrapped first day's opening cash with the snapshot rolled
back (``ledger.openings``). Every difference is listed; the check is a WARN because how a real account's
bonus and borrowing show in ``cashBalance`` is not confirmed (the sandbox reconciles to the last digit).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from hean_pipelines.ledger.balances import balance_before
from hean_pipelines.ledger.build import day_start
from hean_pipelines.ledger.invariants import CheckOutcome
from hean_pipelines.ledger.transaction_types import REPORTING_CURRENCY

COLUMNS = ("date", "at", "coin", "ledger", "bybit", "difference", "compared")

_LEDGER_CASH_SQL = """
WITH eq AS (
    SELECT date, equity FROM attribution.portfolio_daily WHERE date BETWEEN $first AND $last
),
held AS (
    SELECT date, sum(CASE WHEN category = 'spot' THEN qty * mark_price ELSE unrealized_pnl END) AS value
    FROM ledger.account_positions WHERE account = $account AND date BETWEEN $first AND $last GROUP BY date
),
bonus AS (
    SELECT d.date, coalesce(sum(f.amount), 0) AS received
    FROM eq d LEFT JOIN ledger.account_flows f
      ON f.account = $account AND f.kind = 'bonus' AND f.date <= d.date
         AND f.date >= (SELECT min(date) FROM ledger.days WHERE account = $account)
    GROUP BY d.date
)
SELECT eq.date, eq.equity - coalesce(held.value, 0) + bonus.received
FROM eq LEFT JOIN held USING (date) JOIN bonus USING (date)
ORDER BY 1
"""

_SPOT_HOLDINGS_SQL = """
SELECT date, left(symbol, length(symbol) - 4) AS coin, sum(qty)
FROM ledger.account_positions
WHERE account = $account AND category = 'spot' AND symbol LIKE '%USDT' AND date BETWEEN $first AND $last
GROUP BY ALL ORDER BY ALL
"""

_SNAPSHOTS_SQL = """
SELECT as_of, coin, wallet_balance FROM raw.wallet_balance_snapshot
WHERE account = $account AND as_of >= $start AND as_of < $end
ORDER BY ALL
"""

_OPENINGS_SQL = """
SELECT date, snapshot_as_of, symbol, qty, qty_from_wallet FROM ledger.openings
WHERE account = $account AND category = 'cash' AND date BETWEEN $first AND $last AND qty_from_wallet IS NOT NULL
ORDER BY ALL
"""


def _row(day: date, at: datetime, coin: str, ledger: Decimal, bybit: Decimal, compared: str) -> tuple[Any, ...]:
    return (day, at, coin, ledger, bybit, ledger - bybit, compared)


def balances_match_bybit(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, account: str
) -> CheckOutcome:
    """Every close's implied USDT cash and coin holdings against the transaction log; every wallet snapshot
    against the transaction log; a bootstrapped opening's cash against the rolled-back wallet."""
    window = {"account": account, "first": first_day, "last": last_day}
    compared: list[tuple[Any, ...]] = []
    for day, cash in conn.execute(_LEDGER_CASH_SQL, window).fetchall():
        close = day_start(day + timedelta(days=1))
        compared.append(
            _row(
                day, close, REPORTING_CURRENCY, cash, balance_before(conn, account, REPORTING_CURRENCY, close), "close"
            )
        )
    for day, coin, qty in conn.execute(_SPOT_HOLDINGS_SQL, window).fetchall():
        close = day_start(day + timedelta(days=1))
        compared.append(_row(day, close, coin, qty, balance_before(conn, account, coin, close), "close"))
    span = {"account": account, "start": day_start(first_day), "end": day_start(last_day + timedelta(days=1))}
    for as_of, coin, wallet in conn.execute(_SNAPSHOTS_SQL, span).fetchall():
        logged = balance_before(conn, account, coin, as_of + timedelta(microseconds=1))
        day = as_of.astimezone(UTC).date()
        compared.append(_row(day, as_of, coin, logged, wallet, "wallet snapshot vs transaction log"))
    for day, as_of, coin, opening, from_wallet in conn.execute(_OPENINGS_SQL, window).fetchall():
        compared.append(_row(day, as_of, coin, opening, from_wallet, "opening cash vs wallet snapshot rolled back"))
    differing = [row for row in compared if row[5] != 0]
    outcome = CheckOutcome.from_rows(COLUMNS, differing, (last_day - first_day).days + 1, "balances that differ")
    outcome.summary += f" (of {len(compared)} compared)"
    return outcome
