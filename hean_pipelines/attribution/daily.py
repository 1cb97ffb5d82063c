"""Daily attribution per process and for the portfolio, set-based over the ledger.

pnl is mark-to-market from cash flows (Σ −qty×price of the day's trades + Q_close×mark_close −
Q_open×mark_open), computed independently of the realized/unrealized split so the check
``pnl = realized_pnl + unrealized_pnl_change`` tests the accounting instead of restating it.
Divisions (hurdle/365, returns, drawdown) happen in Python's exact decimal arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb

from hean_pipelines.accounting.rounding import MONEY_QUANTUM, round_half_up
from hean_pipelines.ledger.build import ensure_ledger_tables

DAYS_PER_YEAR = Decimal(365)
RATIO_QUANTUM = Decimal("0.000000000001")  # 12 dp for returns, the performance index and drawdown


@dataclass(frozen=True)
class ProcessCapital:
    process_id: str
    allocated_capital: Decimal


def opportunity_cost(allocated_capital: Decimal, hurdle_rate: Decimal) -> Decimal:
    """Capital × annual hurdle × 1/365 (ACT/365), half-up to 8 dp."""
    return round_half_up(allocated_capital * hurdle_rate / DAYS_PER_YEAR, MONEY_QUANTUM)


_PROCESS_SQL = """
INSERT INTO attribution.process_daily
WITH ent AS (
    SELECT process_id,
        coalesce(sum(amount) FILTER (WHERE component = 'realized_pnl'), 0) AS realized,
        coalesce(sum(cash_flow) FILTER (WHERE component = 'realized_pnl'), 0) AS cash_flows,
        coalesce(sum(amount) FILTER (WHERE component = 'funding'), 0) AS funding,
        coalesce(sum(amount) FILTER (WHERE component = 'reward'), 0) AS rewards,
        coalesce(-sum(amount) FILTER (WHERE component = 'fee'), 0) AS fees,
        -- (trade_id, component, process_id) is the key: per process, a trade has one realized_pnl row
        count(*) FILTER (WHERE component = 'realized_pnl') AS n_fills
    FROM ledger.entries WHERE date = $day AND account = $account GROUP BY ALL
),
close AS (
    SELECT process_id, sum(market_value) AS mv, sum(unrealized_pnl) AS u
    FROM ledger.positions WHERE date = $day AND account = $account GROUP BY ALL
),
open AS (
    SELECT process_id, sum(market_value) AS mv, sum(unrealized_pnl) AS u
    FROM ledger.positions WHERE date = $previous AND account = $account GROUP BY ALL
),
procs AS (
    SELECT process_id FROM _capital UNION SELECT process_id FROM ent
    UNION SELECT process_id FROM close UNION SELECT process_id FROM open
),
parts AS (
    SELECT p.process_id,
        coalesce(c.allocated_capital, 0) AS allocated_capital,
        coalesce(e.cash_flows, 0) + coalesce(cl.mv, 0) - coalesce(o.mv, 0) AS pnl,
        coalesce(e.realized, 0) AS realized_pnl,
        coalesce(cl.u, 0) - coalesce(o.u, 0) AS unrealized_pnl_change,
        coalesce(cl.u, 0) AS unrealized_pnl_eod,
        coalesce(e.funding, 0) AS funding,
        coalesce(e.rewards, 0) AS rewards,
        coalesce(e.fees, 0) AS fees,
        coalesce(c.opportunity_cost, 0) AS opportunity_cost,
        coalesce(e.n_fills, 0) AS n_fills
    FROM procs p
    LEFT JOIN _capital c USING (process_id)
    LEFT JOIN ent e USING (process_id)
    LEFT JOIN close cl USING (process_id)
    LEFT JOIN open o USING (process_id)
)
SELECT $day, process_id, allocated_capital, pnl, realized_pnl, unrealized_pnl_change, unrealized_pnl_eod,
       funding, rewards, fees, opportunity_cost,
       pnl + funding + rewards - fees - opportunity_cost,
       n_fills
FROM parts ORDER BY process_id
"""


def build_process_attribution(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    *,
    account: str,
    capital: Sequence[ProcessCapital],
    hurdle_rate: Decimal,
) -> int:
    """Replace ``attribution.process_daily`` for ``day``; one row per registry process (as of D) and any
    process with entries or positions. Returns the row count."""
    ensure_ledger_tables(conn)
    conn.execute("DELETE FROM attribution.process_daily WHERE date = ?", [day])
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _capital "
        "(process_id VARCHAR, allocated_capital DECIMAL(38,18), opportunity_cost DECIMAL(38,18))"
    )
    rows = [(c.process_id, c.allocated_capital, opportunity_cost(c.allocated_capital, hurdle_rate)) for c in capital]
    if rows:  # one statement, the same parameter binding as one INSERT per row
        conn.execute(
            "INSERT INTO _capital VALUES " + ", ".join("(?, ?, ?)" for _ in rows), [v for row in rows for v in row]
        )
    found = conn.execute(_PROCESS_SQL, {"day": day, "previous": day - timedelta(days=1), "account": account}).fetchone()
    return int(found[0]) if found else 0


@dataclass(frozen=True)
class PortfolioDay:
    day: date
    total: Decimal
    equity: Decimal
    drawdown_ratio: Decimal


class PortfolioGapError(RuntimeError):
    """Portfolio attribution for D needs D-1's equity."""


def _ratio(value: Decimal) -> Decimal:
    return value.quantize(RATIO_QUANTUM, rounding=ROUND_HALF_UP)


def build_portfolio_attribution(
    conn: duckdb.DuckDBPyConnection, day: date, *, account: str, first_day: date
) -> PortfolioDay:
    """Replace ``attribution.portfolio_daily`` for ``day`` from the processes' rows and the account flows.

    equity = opening equity + capital flows + pnl + funding + rewards − fees (opportunity cost is a
    notional cost: in ``total``, never in equity). The performance index compounds the daily return
    (pnl + funding + rewards − fees) / (opening equity + the day's capital flows), so flows move equity
    but not performance; drawdown_ratio = 1 − index / running peak.
    """
    conn.execute("DELETE FROM attribution.portfolio_daily WHERE date = ?", [day])
    sums = conn.execute(
        """SELECT coalesce(sum(pnl), 0), coalesce(sum(realized_pnl), 0), coalesce(sum(unrealized_pnl_change), 0),
                  coalesce(sum(unrealized_pnl_eod), 0), coalesce(sum(funding), 0), coalesce(sum(rewards), 0),
                  coalesce(sum(fees), 0), coalesce(sum(opportunity_cost), 0), coalesce(sum(total), 0)
           FROM attribution.process_daily WHERE date = ?""",
        [day],
    ).fetchone()
    assert sums is not None
    pnl, realized, unrealized_change, unrealized_eod, funding, rewards, fees, opp, total = sums
    flows = conn.execute(
        """SELECT coalesce(sum(amount) FILTER (WHERE kind = 'capital_flow'), 0),
                  coalesce(sum(amount) FILTER (WHERE kind = 'bonus'), 0)
           FROM ledger.account_flows WHERE date = ? AND account = ? AND currency = 'USDT'""",
        [day, account],
    ).fetchone()
    assert flows is not None
    capital_flows, bonus = flows
    if day == first_day:
        opening_row = conn.execute(
            "SELECT opening_equity FROM ledger.days WHERE date = ? AND account = ?", [day, account]
        ).fetchone()
        opening_equity = opening_row[0] if opening_row and opening_row[0] is not None else Decimal(0)
        previous_index, peak = Decimal(1), Decimal(1)
    else:
        previous = conn.execute(
            "SELECT equity, performance_index FROM attribution.portfolio_daily WHERE date = ?",
            [day - timedelta(days=1)],
        ).fetchone()
        if previous is None:
            raise PortfolioGapError(f"portfolio attribution for {day} needs {day - timedelta(days=1)}'s equity")
        opening_equity, previous_index = previous
        peak_row = conn.execute(
            "SELECT max(performance_index) FROM attribution.portfolio_daily WHERE date < ?", [day]
        ).fetchone()
        peak = max(Decimal(1), peak_row[0] if peak_row and peak_row[0] is not None else Decimal(1))
    performance = pnl + funding + rewards - fees
    equity = opening_equity + capital_flows + performance
    base = opening_equity + capital_flows
    daily_return = _ratio(performance / base) if base > 0 else Decimal(0)
    index = _ratio(previous_index * (1 + daily_return))
    peak = max(peak, index)
    drawdown = _ratio(1 - index / peak) if peak > 0 else Decimal(0)
    drawdown = min(max(drawdown, Decimal(0)), Decimal(1))
    conn.execute(
        "INSERT INTO attribution.portfolio_daily VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            day,
            pnl,
            realized,
            unrealized_change,
            unrealized_eod,
            funding,
            rewards,
            fees,
            opp,
            total,
            capital_flows,
            bonus,
            opening_equity,
            equity,
            index,
            drawdown,
        ],
    )
    return PortfolioDay(day=day, total=total, equity=equity, drawdown_ratio=drawdown)
