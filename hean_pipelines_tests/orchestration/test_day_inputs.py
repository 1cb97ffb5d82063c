"""Recorded day inputs: a real DuckDB file, rows through the real raw loader, days built by the real ledger."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.ledger.build import build_ledger_day
from hean_pipelines.orchestration.day_inputs import (
    NO_ROWS,
    raw_fingerprints,
    recompute_plan,
    record_day_inputs,
    stale_days,
)
from hean_pipelines.registry.store import link_prefixes_as_of
from hean_pipelines.warehouse.connection import transaction
from hean_pipelines.warehouse.raw_load import RawKind, upsert_raw
from hean_pipelines_tests.ledger.factories import ACCOUNT, MONDAY, execution, load, marks, ms, new_db

D1, D2, D3 = MONDAY, MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)


def _build(conn: duckdb.DuckDBPyConnection, first: date, last: date, *, record: bool = True) -> None:
    """What the ledger asset does: build the days in order and record their inputs, in one transaction."""
    with transaction(conn):
        day = first
        while day <= last:
            build_ledger_day(conn, day, account=ACCOUNT, link_prefixes=link_prefixes_as_of(conn, day), first_day=D1)
            day += timedelta(days=1)
        if record:
            record_day_inputs(conn, ACCOUNT, first, last)


def _three_days(conn: duckdb.DuckDBPyConnection) -> None:
    for day in (D1, D2, D3):
        marks(conn, day, "BTCUSDT", "50000")
    load(conn, [execution("e1", day=D1, hour=10, side="Buy", qty="0.1", price="50000", link_id="edge-1")])
    load(conn, [execution("e2", day=D3, hour=10, side="Sell", qty="0.1", price="50000", link_id="edge-2")])


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = new_db(tmp_path)
    _three_days(connection)
    return connection


def _late_fill(conn: duckdb.DuckDBPyConnection, exec_id: str = "late-1") -> None:
    load(conn, [execution(exec_id, day=D2, hour=9, side="Buy", qty="0.05", price="50000", link_id="edge-9")])


def test_a_window_just_built_is_not_stale(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D3)
    report = stale_days(conn, ACCOUNT)
    assert report.built == (D1, D2, D3)
    assert (report.stale, report.raw_changed, report.unrecorded) == ((), (), ())
    assert recompute_plan(report) is None


def test_a_late_fill_makes_its_day_and_every_later_day_stale(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D3)
    _late_fill(conn)
    report = stale_days(conn, ACCOUNT)
    assert report.stale == (D2, D3)  # D3 opens from D2's close
    assert report.raw_changed == (D2,)
    plan = recompute_plan(report)
    assert plan is not None
    assert (plan.first, plan.last, plan.raw_changed) == (D2, D3, (D2,))
    assert plan.run_key.startswith(f"late-data:{ACCOUNT}:{D2}..{D3}:")


def test_rebuilding_from_the_first_stale_day_through_the_last_clears_it(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D3)
    _late_fill(conn)
    _build(conn, D2, D3)
    assert stale_days(conn, ACCOUNT).stale == ()


def test_a_stale_day_rebuilt_alone_leaves_the_days_after_it_stale(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D3)
    _late_fill(conn)
    _build(conn, D2, D2)
    report = stale_days(conn, ACCOUNT)
    assert report.stale == (D3,)  # its own raw rows did not change: its opening did
    assert report.raw_changed == ()
    plan = recompute_plan(report)
    assert plan is not None and (plan.first, plan.last) == (D3, D3)


def test_one_state_one_run_key_and_a_new_change_a_new_key(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D3)
    _late_fill(conn, "late-1")
    first = recompute_plan(stale_days(conn, ACCOUNT))
    again = recompute_plan(stale_days(conn, ACCOUNT))
    _late_fill(conn, "late-2")
    second = recompute_plan(stale_days(conn, ACCOUNT))
    assert first is not None and again is not None and second is not None
    assert first.run_key == again.run_key
    assert second.run_key != first.run_key
    assert (second.first, second.last) == (first.first, first.last)


def test_a_corrected_mark_bar_is_a_change_too(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D3)
    bar = [[ms(D3, 23), "50000", "50000", "50000", "50100"]]  # the 23:00 bar closes elsewhere
    upsert_raw(conn, RawKind.MARK_PRICE_KLINE, bar, account=ACCOUNT, category="linear", symbol="BTCUSDT", interval="60")
    report = stale_days(conn, ACCOUNT)
    assert (report.stale, report.raw_changed) == ((D3,), (D3,))


def test_a_late_transfer_before_the_first_day_changes_its_opening_cash(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D3)
    transfer = {
        "id": "t-1",
        "symbol": "",
        "category": "",
        "side": "None",
        "transactionTime": ms(D1 - timedelta(days=1), 12),
        "type": "TRANSFER_IN",
        "qty": "0",
        "size": "0",
        "currency": "USDT",
        "tradePrice": "0",
        "funding": "",
        "fee": "",
        "cashFlow": "0",
        "change": "1000",
        "cashBalance": "1000",
        "feeRate": "",
        "bonusChange": "",
        "tradeId": "",
        "orderId": "",
        "orderLinkId": "",
    }
    upsert_raw(conn, RawKind.TRANSACTIONS, [transfer], account=ACCOUNT)
    report = stale_days(conn, ACCOUNT)
    assert report.stale == (D1, D2, D3)
    assert report.raw_changed == (D1,)


def test_days_built_before_inputs_were_recorded_are_not_judged(conn: duckdb.DuckDBPyConnection) -> None:
    _build(conn, D1, D2, record=False)
    _late_fill(conn)
    report = stale_days(conn, ACCOUNT)
    assert report.unrecorded == (D1, D2)
    assert report.stale == ()
    # The next day continues the chain from the raw rows as they are: it is not stale after its build.
    _build(conn, D3, D3)
    report = stale_days(conn, ACCOUNT)
    assert (report.unrecorded, report.stale) == ((D1, D2), ())


def test_fingerprints_depend_on_content_not_on_arrival_order(tmp_path: Path) -> None:
    rows = [
        execution(f"x{i}", day=D2, hour=i, side="Buy" if i % 2 else "Sell", qty="0.01", price="50000", link_id="edge-1")
        for i in range(1, 6)
    ]
    forward, backward = new_db(tmp_path, "a.duckdb"), new_db(tmp_path, "b.duckdb")
    load(forward, rows)
    for row in reversed(rows):
        load(backward, [row])
    prints = raw_fingerprints(forward, ACCOUNT, D1, D3)
    assert prints == raw_fingerprints(backward, ACCOUNT, D1, D3)
    assert prints[D1] == prints[D3] == NO_ROWS
    assert prints[D2] != NO_ROWS
    assert raw_fingerprints(forward, "another-account", D2, D2) == {D2: NO_ROWS}
