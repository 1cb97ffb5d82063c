"""The profit-illusion flag: the headline looks like profit while the truth does not.

Over a trailing window of days ending on D (default 7, D included), a scope -- one process, or the
whole portfolio -- is flagged when its headline PnL (``pnl``: mark-to-market trading PnL, what a
position screen shows) is positive while its truth ``total`` (after fees, funding, rewards and the
opportunity cost of the capital it ties up) is zero or negative. Sums of DECIMAL are exact in DuckDB,
so the comparison is exact; only days present in attribution count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb

DEFAULT_WINDOW_DAYS = 7
PORTFOLIO = "portfolio"


@dataclass(frozen=True)
class ProfitIllusion:
    """One scope's trailing-window headline and truth, and whether they disagree in the flagged way."""

    scope: str  # "portfolio" or a process id
    first_day: date
    last_day: date
    days: int
    headline_pnl: Decimal
    truth_total: Decimal

    @property
    def flagged(self) -> bool:
        return self.headline_pnl > 0 and self.truth_total <= 0


def profit_illusions(
    conn: duckdb.DuckDBPyConnection, day: date, window_days: int = DEFAULT_WINDOW_DAYS
) -> list[ProfitIllusion]:
    """The portfolio first, then every process with attribution in the window (by id)."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    first = day - timedelta(days=window_days - 1)
    rows = conn.execute(
        f"""
        SELECT '{PORTFOLIO}' AS scope, 0 AS ord, count(*), sum(pnl), sum(total)
        FROM attribution.portfolio_daily WHERE date BETWEEN $first AND $last
        HAVING count(*) > 0
        UNION ALL
        SELECT process_id, 1, count(*), sum(pnl), sum(total)
        FROM attribution.process_daily WHERE date BETWEEN $first AND $last
        GROUP BY process_id
        ORDER BY ord, scope
        """,
        {"first": first, "last": day},
    ).fetchall()
    return [
        ProfitIllusion(
            scope=scope,
            first_day=first,
            last_day=day,
            days=int(days),
            headline_pnl=Decimal(headline),
            truth_total=Decimal(total),
        )
        for scope, _, days, headline, total in rows
    ]
