"""A ledger started mid-week from Bybit's snapshot equals the one built from a flat Monday.

The sandbox exchange is flat every Monday 00:00 UTC, so a ledger built from Monday 2026-01-05 knows the
account's true state at Wednesday 2026-01-07 00:00. A second ledger starts on that Wednesday knowing only
what a live account gives: `/v5/position/list` and `/v5/account/wallet-balance` taken at Thursday 10:00
(the exchange's frozen clock), over loopback HTTP, plus the fills and closed-PnL records up to then. Its
rolled-back opening must be the Monday ledger's Tuesday close, to the last digit.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.attribution.daily import ProcessCapital, build_portfolio_attribution, build_process_attribution
from hean_pipelines.ledger.balance_reconciliation import balances_match_bybit
from hean_pipelines.ledger.bootstrap import BootstrapError
from hean_pipelines.ledger.build import build_ledger_day
from hean_pipelines.ledger.window import opening_state
from hean_pipelines.registry.store import link_prefixes_as_of, registry_as_of
from hean_pipelines.settings import DEFAULT_HURDLE_RATE
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import connect, transaction, writer
from hean_pipelines_tests.sandbox_raw import fetch_sandbox_raw

ACCOUNT = "main"
MONDAY, TUESDAY, WEDNESDAY = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)
SNAPSHOT_AT = datetime(2026, 1, 8, 10, 0, tzinfo=UTC)
LEDGER_TABLES = (
    "ledger.positions",
    "ledger.account_positions",
    "ledger.entries",
    "ledger.account_fills",
    "ledger.openings",
    "ledger.days",
    "attribution.process_daily",
    "attribution.portfolio_daily",
)


@pytest.fixture(scope="module")
def raw_with_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sunday..Wednesday fetched as live ingestion does, the snapshot taken at Thursday 10:00 (frozen clock)."""
    path = tmp_path_factory.mktemp("bootstrap") / "raw.duckdb"
    clock = int(SNAPSHOT_AT.timestamp() * 1000)
    return fetch_sandbox_raw(path, MONDAY - timedelta(days=1), WEDNESDAY, clock_ms=clock, snapshot=True)


def _build(conn: duckdb.DuckDBPyConnection, day: date, first: date, source: str) -> None:
    opening, bootstrap = opening_state(conn, source, first, ACCOUNT) if day == first else ("previous_day", None)
    build_ledger_day(
        conn,
        day,
        account=ACCOUNT,
        link_prefixes=link_prefixes_as_of(conn, day),
        first_day=first,
        opening_source=opening,
        bootstrap=bootstrap,
    )
    capital = [ProcessCapital(e.process_id, e.allocated_capital) for e in registry_as_of(conn, day)]
    build_process_attribution(conn, day, account=ACCOUNT, capital=capital, hurdle_rate=DEFAULT_HURDLE_RATE)
    build_portfolio_attribution(conn, day, account=ACCOUNT, first_day=first)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


@pytest.fixture(scope="module")
def ledgers(raw_with_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(from a flat Monday, from Wednesday bootstrapped as a live ledger) over the same raw rows."""
    folder = tmp_path_factory.mktemp("ledgers")
    monday, wednesday = folder / "monday.duckdb", folder / "wednesday.duckdb"
    shutil.copy(raw_with_snapshot, monday)
    shutil.copy(raw_with_snapshot, wednesday)
    with writer(monday) as conn, transaction(conn):
        for day in _days(MONDAY, WEDNESDAY):
            _build(conn, day, MONDAY, "sandbox")
    with writer(wednesday) as conn, transaction(conn):
        _build(conn, WEDNESDAY, WEDNESDAY, "live")
    return monday, wednesday


def _rows(path: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    conn = connect(path, read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def _copy(path: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    target = tmp_path / "copy.duckdb"
    shutil.copy(path, target)
    return connect(target)


ACCOUNT_POSITIONS = (
    "SELECT date, category, symbol, qty, cost_basis, mark_price, unrealized_pnl FROM ledger.account_positions "
    "WHERE date = ? AND category = ? ORDER BY ALL"
)


def test_the_snapshot_lands_with_bybits_clock_and_every_fill_up_to_it(raw_with_snapshot: Path) -> None:
    snapshots = _rows(raw_with_snapshot, "SELECT DISTINCT as_of FROM raw.wallet_balance_snapshot")
    assert snapshots == [(SNAPSHOT_AT,)]
    assert (
        _rows(raw_with_snapshot, "SELECT count(*) FROM raw.positions_snapshot WHERE as_of = ?", [SNAPSHOT_AT])[0][0] > 0
    )
    # Fetched past the window (Thursday up to 10:00) so the roll-back has every fill, and nothing after it.
    (first, last) = _rows(
        raw_with_snapshot,
        "SELECT min(exec_time), max(exec_time) FROM raw.bybit_executions WHERE day = DATE '2026-01-08'",
    )[0]
    assert first is not None and last <= SNAPSHOT_AT


def test_linear_opening_equals_the_flat_monday_ledgers_tuesday_close(ledgers: tuple[Path, Path]) -> None:
    monday, wednesday = ledgers
    for day in (TUESDAY, WEDNESDAY):
        expected = _rows(monday, ACCOUNT_POSITIONS, [day, "linear"])
        assert any(row[3] != 0 for row in expected), "the test needs open positions at the bootstrap"
        assert _rows(wednesday, ACCOUNT_POSITIONS, [day, "linear"]) == expected


def test_every_wednesday_fill_realizes_what_it_does_in_the_monday_ledger(ledgers: tuple[Path, Path]) -> None:
    monday, wednesday = ledgers
    sql = (
        "SELECT f.exec_id, f.realized_pnl FROM ledger.account_fills f JOIN raw.bybit_executions x USING (exec_id) "
        "WHERE f.date = ? AND x.category = 'linear' ORDER BY 1"
    )
    expected = _rows(monday, sql, [WEDNESDAY])
    assert len(expected) > 20
    assert _rows(wednesday, sql, [WEDNESDAY]) == expected


def test_spot_coins_open_at_their_mark_with_the_true_quantity(ledgers: tuple[Path, Path]) -> None:
    monday, wednesday = ledgers
    (symbol, qty, _basis, mark, _unrealized) = _rows(
        monday,
        "SELECT symbol, qty, cost_basis, mark_price, unrealized_pnl FROM ledger.account_positions "
        "WHERE date = ? AND category = 'spot' AND qty <> 0",
        [TUESDAY],
    )[0]
    opened = _rows(
        wednesday,
        "SELECT symbol, qty, cost_basis, mark_price, unrealized_pnl FROM ledger.account_positions "
        "WHERE date = ? AND category = 'spot'",
        [TUESDAY],
    )
    assert opened == [(symbol, qty, qty * mark, mark, Decimal(0))]


def test_equity_and_pnl_equal_the_monday_ledgers(ledgers: tuple[Path, Path]) -> None:
    monday, wednesday = ledgers
    sql = "SELECT date, pnl, funding, rewards, fees, total, equity FROM attribution.portfolio_daily WHERE date = ?"
    assert _rows(wednesday, sql, [WEDNESDAY]) == _rows(monday, sql, [WEDNESDAY])
    # Mark-to-market is the same whoever holds the positions; the pre-ledger ones are unattributed's.
    held = _rows(wednesday, "SELECT DISTINCT process_id FROM ledger.positions WHERE date = ?", [TUESDAY])
    assert held == [("unattributed",)]


def test_the_opening_is_recorded_with_its_provenance(ledgers: tuple[Path, Path]) -> None:
    _, wednesday = ledgers
    (source,) = _rows(wednesday, "SELECT opening_source FROM ledger.days WHERE date = ?", [WEDNESDAY])[0]
    assert source.startswith("bybit snapshot 2026-01-08T10:00:00.000Z rolled back to 2026-01-07 00:00 UTC over ")
    rows = _rows(
        wednesday,
        "SELECT category, symbol, snapshot_as_of, qty_at_snapshot, qty_from_wallet, qty, rows_rolled_back, "
        "closed_pnl_records FROM ledger.openings ORDER BY ALL",
    )
    assert {(r[0], r[1]) for r in rows} >= {("linear", "BTCUSDT"), ("linear", "ETHUSDT"), ("cash", "USDT")}
    assert all(r[2] == SNAPSHOT_AT for r in rows)
    linear = [r for r in rows if r[0] == "linear"]
    assert all(r[6] > 0 and r[7] > 0 for r in linear)
    snapshot = dict(
        _rows(
            wednesday,
            "SELECT symbol, CASE WHEN side = 'Sell' THEN -size ELSE size END FROM raw.positions_snapshot",
        )
    )
    assert {r[1]: r[3] for r in linear} == {s: snapshot.get(s, Decimal(0)) for s in ("BTCUSDT", "ETHUSDT")}
    (cash,) = [r for r in rows if r[0] == "cash"]
    assert cash[4] == cash[5]  # the wallet rolled back = the transaction log's balance chain


def test_rebuilding_the_first_day_changes_nothing(ledgers: tuple[Path, Path], tmp_path: Path) -> None:
    conn = _copy(ledgers[1], tmp_path)
    before = {t: table_checksum(conn, t) for t in LEDGER_TABLES}
    with transaction(conn):
        _build(conn, WEDNESDAY, WEDNESDAY, "live")
    assert {t: table_checksum(conn, t) for t in LEDGER_TABLES} == before


def test_balances_reconcile_with_bybit_at_every_close_and_snapshot(ledgers: tuple[Path, Path], tmp_path: Path) -> None:
    conn = _copy(ledgers[1], tmp_path)
    # Thursday is not built, but its wallet snapshot is compared with the transaction log at 10:00.
    outcome = balances_match_bybit(conn, WEDNESDAY, WEDNESDAY + timedelta(days=1), ACCOUNT)
    assert outcome.passed, outcome.rows
    assert "of 4 compared" in outcome.summary  # USDT and ETH at the close, USDT in the snapshot, opening cash
    conn.execute(
        "UPDATE raw.wallet_balance_snapshot SET wallet_balance = wallet_balance + 0.00000001 WHERE coin = 'USDT'"
    )
    outcome = balances_match_bybit(conn, WEDNESDAY, WEDNESDAY + timedelta(days=1), ACCOUNT)
    assert not outcome.passed
    # The opening was rolled back from the snapshot as it was when the day was built (ledger.openings).
    assert [(r["date"], r["coin"], r["compared"], r["difference"]) for r in outcome.rows] == [
        (SNAPSHOT_AT.date(), "USDT", "wallet snapshot vs transaction log", Decimal("-0.00000001"))
    ]


def _first_window_order(conn: duckdb.DuckDBPyConnection, symbol: str) -> str:
    row = conn.execute(
        """SELECT c.order_id FROM raw.bybit_closed_pnl c JOIN raw.bybit_executions x USING (order_id)
           WHERE c.symbol = ? AND x.exec_time >= TIMESTAMPTZ '2026-01-07 00:00:00+00' ORDER BY x.exec_time LIMIT 1""",
        [symbol],
    ).fetchone()
    assert row
    return str(row[0])


def test_a_closed_pnl_record_that_disagrees_stops_the_bootstrap(ledgers: tuple[Path, Path], tmp_path: Path) -> None:
    conn = _copy(ledgers[1], tmp_path)
    order = _first_window_order(conn, "BTCUSDT")
    conn.execute("UPDATE raw.bybit_closed_pnl SET cum_exit_value = cum_exit_value + 0.01 WHERE order_id = ?", [order])
    # The wrong gross moves the opening basis, so every later partial close of the window differs too.
    with pytest.raises(BootstrapError, match=rf"BTCUSDT: .* differs from Bybit's closed-PnL gross: .*{order}"):
        opening_state(conn, "live", WEDNESDAY, ACCOUNT)


def test_an_order_filled_on_both_sides_of_the_start_is_refused(ledgers: tuple[Path, Path], tmp_path: Path) -> None:
    conn = _copy(ledgers[1], tmp_path)
    order = _first_window_order(conn, "ETHUSDT")
    conn.execute(
        """UPDATE raw.bybit_executions SET order_id = ? WHERE exec_id = (
               SELECT exec_id FROM raw.bybit_executions WHERE day = DATE '2026-01-06' AND category = 'linear'
               ORDER BY exec_time DESC LIMIT 1)""",
        [order],
    )
    with pytest.raises(BootstrapError, match=f"orders {order} have fills on both sides"):
        opening_state(conn, "live", WEDNESDAY, ACCOUNT)


def test_a_hedge_mode_position_is_out_of_scope(ledgers: tuple[Path, Path], tmp_path: Path) -> None:
    conn = _copy(ledgers[1], tmp_path)
    conn.execute("UPDATE raw.positions_snapshot SET position_idx = 1 WHERE symbol = 'ETHUSDT'")
    with pytest.raises(BootstrapError, match=r"hedge-mode positions \(ETHUSDT\)"):
        opening_state(conn, "live", WEDNESDAY, ACCOUNT)


def test_without_a_snapshot_live_refuses_and_recorded_says_it_assumed_flat(
    ledgers: tuple[Path, Path], tmp_path: Path
) -> None:
    conn = _copy(ledgers[1], tmp_path)
    conn.execute("DELETE FROM raw.positions_snapshot")
    conn.execute("DELETE FROM raw.wallet_balance_snapshot")
    with pytest.raises(BootstrapError, match="no Bybit position/wallet snapshot taken at or after 2026-01-07"):
        opening_state(conn, "live", WEDNESDAY, ACCOUNT)
    source, bootstrap = opening_state(conn, "recorded", WEDNESDAY, ACCOUNT)
    assert bootstrap is None and source.startswith("flat: assumed")


def test_a_snapshot_from_before_the_first_day_is_not_used(ledgers: tuple[Path, Path], tmp_path: Path) -> None:
    conn = _copy(ledgers[1], tmp_path)
    # Rolling forward is not implemented: only snapshots taken at or after the day's start count.
    assert opening_state(conn, "recorded", date(2026, 1, 9), ACCOUNT)[1] is None


def test_provenance_names_the_snapshot_in_utc_whatever_the_session_time_zone(
    ledgers: tuple[Path, Path], tmp_path: Path
) -> None:
    conn = _copy(ledgers[1], tmp_path)
    conn.execute("SET TimeZone = 'America/New_York'")
    source, bootstrap = opening_state(conn, "live", WEDNESDAY, ACCOUNT)
    assert bootstrap is not None
    assert source.startswith("bybit snapshot 2026-01-08T10:00:00.000Z rolled back to 2026-01-07 00:00 UTC over ")
    outcome = balances_match_bybit(conn, WEDNESDAY, WEDNESDAY + timedelta(days=1), ACCOUNT)
    assert outcome.passed and "of 4 compared" in outcome.summary
