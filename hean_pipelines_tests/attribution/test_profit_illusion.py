"""The profit-illusion flag over a hand-built attribution table in a real DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.attribution.profit_illusion import profit_illusions
from hean_pipelines.ledger.schema import ATTRIBUTION_DDL
from hean_pipelines.warehouse.connection import connect

D = date(2026, 1, 10)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "hean.duckdb")
    connection.execute(ATTRIBUTION_DDL)

    def process_day(day: int, process: str, pnl: str, total: str) -> None:
        connection.execute(
            """INSERT INTO attribution.process_daily (date, process_id, allocated_capital, pnl, realized_pnl,
               unrealized_pnl_change, unrealized_pnl_eod, funding, rewards, fees, opportunity_cost, total, n_fills)
               VALUES (?, ?, 0, ?, ?, 0, 0, 0, 0, ?, 0, ?, 1)""",
            [date(2026, 1, day), process, Decimal(pnl), Decimal(pnl), Decimal(pnl) - Decimal(total), Decimal(total)],
        )

    # 'churner': +10 headline a day for 7 days, but fees take 11: headline +70, truth -7 -> flagged.
    for day in range(4, 11):
        process_day(day, "churner", "10", "-1")
    # 'honest': headline +5, truth +1 -> not flagged.  'loser': headline -3, truth -4 -> not flagged (no illusion).
    process_day(10, "honest", "5", "1")
    process_day(10, "loser", "-3", "-4")
    # 'edge_case': headline exactly +0.000000000000000001, truth exactly 0 -> flagged (truth zero is not profit).
    process_day(10, "edge_case", "0.000000000000000001", "0")
    # Outside the 7-day window (Jan 3): a big loss that must not count.
    process_day(3, "honest", "0", "-1000")
    # The portfolio: headline +77.000000000000000001, truth -10.
    connection.execute(
        """INSERT INTO attribution.portfolio_daily VALUES
           (?, 77.000000000000000001, 0, 0, 0, 0, 0, 87.000000000000000001, 0, -10, 0, 0, 0, 0, 1, 0)""",
        [D],
    )
    yield connection
    connection.close()


def test_flags_headline_profit_that_is_no_truth_profit(conn: duckdb.DuckDBPyConnection) -> None:
    by_scope = {row.scope: row for row in profit_illusions(conn, D)}
    assert next(iter(by_scope)) == "portfolio"
    assert {scope for scope, row in by_scope.items() if row.flagged} == {"portfolio", "churner", "edge_case"}
    churner = by_scope["churner"]
    assert (churner.days, churner.headline_pnl, churner.truth_total) == (7, Decimal(70), Decimal(-7))
    assert by_scope["honest"].truth_total == Decimal(1)  # Jan 3 is outside [Jan 4, Jan 10]
    assert by_scope["edge_case"].headline_pnl == Decimal("0.000000000000000001")


def test_the_window_is_configurable_and_validated(conn: duckdb.DuckDBPyConnection) -> None:
    one_day = {row.scope: row for row in profit_illusions(conn, D, window_days=1)}
    assert one_day["churner"].days == 1 and one_day["churner"].headline_pnl == Decimal(10)
    with pytest.raises(ValueError, match="window_days"):
        profit_illusions(conn, D, window_days=0)
