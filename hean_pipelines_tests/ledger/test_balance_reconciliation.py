"""The ledger's equity, taken apart into cash and coins, equals Bybit's transaction-log balances at every close
(the sandbox week: trading, funding, spot base-coin fees, transfers and a bonus on Sunday 2026-01-11)."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.ledger.balance_reconciliation import balances_match_bybit
from hean_pipelines.warehouse.connection import connect

FIRST, LAST = date(2026, 1, 5), date(2026, 1, 11)


@pytest.fixture
def week(sandbox_week: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "week.duckdb"
    shutil.copy(sandbox_week / "hean.duckdb", path)
    return connect(path)


def test_every_close_reconciles_to_the_last_digit(week: duckdb.DuckDBPyConnection) -> None:
    bonus = week.execute(
        "SELECT count(*) FROM ledger.account_flows WHERE kind = 'bonus' AND date BETWEEN ? AND ?", [FIRST, LAST]
    ).fetchone()
    assert bonus and bonus[0] > 0, "the week must include a bonus: Bybit's balance has it, equity does not"
    outcome = balances_match_bybit(week, FIRST, LAST, "main")
    assert outcome.passed, outcome.rows
    assert outcome.summary == "0 balances that differ (of 14 compared)"  # 7 closes x (USDT, ETH)


def test_a_cent_missing_from_equity_is_named_on_its_day(week: duckdb.DuckDBPyConnection) -> None:
    week.execute("UPDATE attribution.portfolio_daily SET equity = equity - 0.01 WHERE date = DATE '2026-01-08'")
    outcome = balances_match_bybit(week, FIRST, LAST, "main")
    assert not outcome.passed
    assert outcome.failing_dates == [date(2026, 1, 8)]
    assert [(r["coin"], r["difference"], r["compared"]) for r in outcome.rows] == [("USDT", Decimal("-0.01"), "close")]


def test_a_spot_position_that_drifts_from_the_coin_balance_is_named(week: duckdb.DuckDBPyConnection) -> None:
    week.execute(
        "UPDATE ledger.account_positions SET qty = qty + 0.0001 "
        "WHERE date = DATE '2026-01-06' AND category = 'spot' AND symbol = 'ETHUSDT'"
    )
    mark = week.execute(
        "SELECT mark_price FROM ledger.account_positions "
        "WHERE date = DATE '2026-01-06' AND category = 'spot' AND symbol = 'ETHUSDT'"
    ).fetchone()
    assert mark
    outcome = balances_match_bybit(week, FIRST, LAST, "main")
    # The coin count is off, and so is the cash equity implies (the coin's value is counted in equity).
    assert [(r["date"], r["coin"], r["difference"]) for r in outcome.rows] == [
        (date(2026, 1, 6), "USDT", -Decimal("0.0001") * mark[0]),
        (date(2026, 1, 6), "ETH", Decimal("0.0001")),
    ]
