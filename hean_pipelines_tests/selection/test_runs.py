"""selection.process_runs: what a run is, its exact return, its regime buckets, and no lookahead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hean_pipelines.ledger.schema import ensure_ledger_schema
from hean_pipelines.registry import parse_catalog, sync_catalog
from hean_pipelines.selection.runs import (
    assign_bucket,
    build_process_runs,
    hour_bucket,
    nearest_rank_edges,
    realized_volatility,
)
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import writer
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

ACCOUNT = "main"
DAY0 = date(2026, 1, 4)  # a Sunday: positions carried into DAY1
DAY1 = date(2026, 1, 5)
DAY2 = date(2026, 1, 6)


# ------------------------------------------------------------------------------------------- pure parts


def test_nearest_rank_terciles() -> None:
    values = [Decimal(x) for x in range(1, 10)]  # 1..9
    assert nearest_rank_edges(values) == (Decimal(3), Decimal(6))
    assert nearest_rank_edges([Decimal(5)]) == (Decimal(5), Decimal(5))
    assert nearest_rank_edges([Decimal(2), Decimal(1)]) == (Decimal(1), Decimal(2))
    assert nearest_rank_edges([]) == ()


@given(st.lists(st.decimals(min_value=-1000, max_value=1000, places=4), min_size=1, max_size=60))
def test_terciles_are_observed_values_that_split_the_sample(values: list[Decimal]) -> None:
    low, high = nearest_rank_edges(values)
    assert low in values and high in values and low <= high
    labels = ("low", "mid", "high")
    buckets = [assign_bucket(v, (low, high), labels) for v in values]
    n = len(values)
    assert buckets.count("low") >= -(-n // 3)  # at least ⌈n/3⌉ values at or below the first edge
    assert buckets.count("high") <= n - (-(-2 * n // 3))


def test_assign_bucket() -> None:
    edges = (Decimal(1), Decimal(2))
    labels = ("low", "mid", "high")
    assert [assign_bucket(Decimal(x), edges, labels) for x in ("0.5", "1", "1.5", "2", "3")] == [
        "low",
        "low",
        "mid",
        "mid",
        "high",
    ]
    assert assign_bucket(None, edges, labels) is None
    assert assign_bucket(Decimal(1), (), labels) is None
    with pytest.raises(ValueError):
        assign_bucket(Decimal(1), edges, ("a", "b"))


def test_hour_bucket_is_the_session_with_most_fills() -> None:
    assert hour_bucket({1: 2, 9: 1}) == ("00-08", 2)
    assert hour_bucket({7: 1, 8: 1, 9: 1, 23: 1}) == ("08-16", 2)
    assert hour_bucket({3: 1, 20: 1}) == ("00-08", 1)  # a tie goes to the earliest session
    assert hour_bucket({}) == (None, None)


def test_realized_volatility() -> None:
    # Returns +10 % and −10 %: √0.02, half-up at 12 dp.
    assert realized_volatility([Decimal(100), Decimal(110), Decimal(99)]) == Decimal("0.141421356237")
    assert realized_volatility([Decimal(100), Decimal(100)]) == Decimal("0E-12")
    assert realized_volatility([Decimal(100)]) is None


# ------------------------------------------------------------------------------------------- database


def _version(process_id: str, prefix: str, capital: int) -> dict[str, Any]:
    return {
        "process_id": process_id,
        "name": process_id,
        "description": f"test process {process_id}",
        "link_prefix": prefix,
        "allocated_capital": capital,
        "valid_from": DAY0,
        "kill_conditions": {"max_drawdown_ratio": "0.25", "max_losing_streak_days": 10},
        "measurement": {"metric": "total", "benchmark": 0, "horizon_days": 30},
    }


def _ts(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 30, tzinfo=UTC)


def add_fill(
    conn: duckdb.DuckDBPyConnection,
    exec_id: str,
    process_id: str,
    day: date,
    hour: int,
    side: str,
    qty: str,
    price: str,
    mark: str,
    split_rule: str = "owner",
) -> None:
    signed = Decimal(qty) if side == "Buy" else -Decimal(qty)
    conn.execute(
        "INSERT INTO raw.bybit_executions (exec_id, account, category, symbol, side, exec_price, exec_qty, exec_type, "
        "exec_time, mark_price, day, raw_json) VALUES (?, ?, 'linear', 'BTCUSDT', ?, ?, ?, 'Trade', ?, ?, ?, '{}')",
        [exec_id, ACCOUNT, side, Decimal(price), Decimal(qty), _ts(day, hour), Decimal(mark), day],
    )
    conn.execute(
        "INSERT INTO ledger.entries VALUES (?, 'realized_pnl', ?, ?, ?, ?, 'linear', 'BTCUSDT', 'USDT', 0, ?, ?, ?, "
        "'raw.bybit_executions', ?)",
        [
            exec_id,
            process_id,
            day,
            _ts(day, hour),
            ACCOUNT,
            signed,
            Decimal(price),
            -signed * Decimal(price),
            split_rule,
        ],
    )


def add_position(conn: duckdb.DuckDBPyConnection, process_id: str, day: date, qty: str) -> None:
    conn.execute(
        "INSERT INTO ledger.positions VALUES (?, ?, 'linear', 'BTCUSDT', ?, ?, 0, 100, 0, 0)",
        [day, ACCOUNT, process_id, Decimal(qty)],
    )


def add_attribution(
    conn: duckdb.DuckDBPyConnection, day: date, process_id: str, capital: str, total: str, fills: int
) -> None:
    conn.execute(
        "INSERT INTO attribution.process_daily VALUES (?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, ?, ?)",
        [day, process_id, Decimal(capital), Decimal(total), fills],
    )


def add_marks(conn: duckdb.DuckDBPyConnection, day: date, closes: list[str], symbol: str = "BTCUSDT") -> None:
    for hour, close in enumerate(closes):
        conn.execute(
            "INSERT INTO raw.mark_prices (category, symbol, interval, ts, open, high, low, close, source, day, "
            "raw_json) VALUES ('linear', ?, '60', ?, ?, ?, ?, ?, 'test', ?, '[]')",
            [symbol, datetime(day.year, day.month, day.day, hour, tzinfo=UTC)] + [Decimal(close)] * 4 + [day],
        )


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(tmp_path / "hean.duckdb") as c:
        ensure_raw_schema(c)
        ensure_ledger_schema(c)
        sync_catalog(
            c,
            parse_catalog(
                {
                    "processes": [
                        _version("alpha_fills", "alpha", 3000),
                        _version("beta_holds", "beta", 1000),
                        _version("gamma_idle", "gamma", 1000),
                        _version("zero_capital", "zero", 0),
                    ]
                }
            ),
        )
        # DAY0 (marks only, and beta's position carried into DAY1)
        add_marks(c, DAY0, ["100"] * 24)
        add_position(c, "beta_holds", DAY0, "0.5")
        # DAY1
        add_marks(c, DAY1, ["110", "99"] + ["99"] * 22)
        add_fill(c, "e1", "alpha_fills", DAY1, 1, "Buy", "1", "101", "100")  # +1 bps·qty: paid above mark
        add_fill(c, "e2", "alpha_fills", DAY1, 2, "Sell", "1", "99", "100")  # sold below mark: a cost too
        add_fill(c, "e3", "alpha_fills", DAY1, 9, "Buy", "2", "100", "100")
        add_fill(c, "e4", "zero_capital", DAY1, 3, "Buy", "1", "100", "100")
        add_fill(c, "e5", "unattributed", DAY1, 4, "Buy", "1", "90", "100", split_rule="unattributed")
        add_attribution(c, DAY1, "alpha_fills", "3000", "1", 3)
        add_attribution(c, DAY1, "beta_holds", "1000", "0.0000000005", 0)  # exposure only
        add_attribution(c, DAY1, "gamma_idle", "1000", "-0.13698630", 0)  # no fills, no exposure: no run
        add_attribution(c, DAY1, "zero_capital", "0", "5", 1)
        add_attribution(c, DAY1, "unattributed", "0", "-3", 1)
        yield c


def _runs(conn: duckdb.DuckDBPyConnection, day: date) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT process_id, total, return, n_fills, exposure, instruments, hour_bucket, hour_bucket_fills, "
        "realized_vol, vol_bucket, slippage_bps, slippage_bucket FROM selection.process_runs WHERE date = ?",
        [day],
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_runs_of_a_day(conn: duckdb.DuckDBPyConnection) -> None:
    assert build_process_runs(conn, DAY1, account=ACCOUNT) == 2
    runs = _runs(conn, DAY1)
    assert set(runs) == {"alpha_fills", "beta_holds"}  # idle, zero capital and unattributed are not runs
    alpha = runs["alpha_fills"]
    # 1 / 3000 = 0.000333333333|33… → half-up at 12 dp
    assert alpha[:5] == (Decimal("1.000000000000000000"), Decimal("0.000333333333"), 3, False, "linear:BTCUSDT")
    assert alpha[5:7] == ("00-08", 2)
    # √((110/100 − 1)² + (99/110 − 1)²) over the day's closes, from the previous day's last close.
    assert alpha[7] == realized_volatility([Decimal(100), Decimal(110), Decimal(99)])
    # (1·(101 − 100)·1 − 1·(99 − 100)·1 + 0) / (100 + 100 + 200) × 10⁴ = 50 bps
    assert alpha[9] == Decimal("50.000000000000")
    beta = runs["beta_holds"]
    assert beta[1] == Decimal("0.000000000001")  # 5E-13 rounds half-up to 1E-12
    assert beta[2:5] == (0, True, "linear:BTCUSDT")
    assert beta[5] is None and beta[9] is None  # no fills: no hour, no slippage
    assert beta[7] == alpha[7]  # the same instrument's volatility


def test_bucket_edges_are_stored_and_use_data_up_to_the_day(conn: duckdb.DuckDBPyConnection) -> None:
    build_process_runs(conn, DAY1, account=ACCOUNT)
    edges = {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT dimension, labels, edges, n_observations, first_observation, last_observation "
            "FROM selection.bucket_edges WHERE date = ?",
            [DAY1],
        ).fetchall()
    }
    assert set(edges) == {"hour", "volatility", "slippage"}
    assert json.loads(edges["hour"][1]) == ["8", "16"]
    vol_labels, vol_edges, n_vol, first_vol, last_vol = edges["volatility"]
    assert json.loads(vol_labels) == ["low", "mid", "high"]
    assert (n_vol, first_vol, last_vol) == (2, DAY0, DAY1)  # BTCUSDT on DAY0 and DAY1
    assert json.loads(vol_edges) == ["0E-12", str(realized_volatility([Decimal(100), Decimal(110), Decimal(99)]))]
    # slippage: alpha 50 bps and zero_capital 0 bps (unattributed is a system process: not counted)
    _, slip_edges, n_slip, _, _ = edges["slippage"]
    assert (json.loads(slip_edges), n_slip) == (["0E-12", "50.000000000000"], 2)
    runs = _runs(conn, DAY1)
    # Two observations: the edges are the two values, so the larger one sits at the upper edge ("mid").
    assert runs["alpha_fills"][8] == "mid" and runs["alpha_fills"][10] == "mid"


def test_no_lookahead_later_data_changes_nothing(conn: duckdb.DuckDBPyConnection) -> None:
    build_process_runs(conn, DAY1, account=ACCOUNT)
    before = {t: table_checksum(conn, t) for t in ("selection.process_runs", "selection.bucket_edges")}
    # DAY2 brings wild volatility and slippage; DAY1's runs and edges must not move.
    add_marks(conn, DAY2, ["200", "50"] * 12)
    add_fill(conn, "f1", "alpha_fills", DAY2, 12, "Buy", "1", "150", "100")
    add_attribution(conn, DAY2, "alpha_fills", "3000", "-30", 1)
    build_process_runs(conn, DAY1, account=ACCOUNT)
    assert {t: table_checksum(conn, t) for t in before} == before
    assert build_process_runs(conn, DAY2, account=ACCOUNT) == 1
    n_vol = conn.execute(
        "SELECT n_observations FROM selection.bucket_edges WHERE date = ? AND dimension = 'volatility'", [DAY2]
    ).fetchone()
    assert n_vol == (3,)
    # Rebuilding DAY1 once DAY2 is built changes nothing either (each day is replaced, never appended).
    after = {t: table_checksum(conn, t) for t in before}
    build_process_runs(conn, DAY1, account=ACCOUNT)
    assert {t: table_checksum(conn, t) for t in before} == after
    assert conn.execute("SELECT count(*) FROM selection.process_runs WHERE date = ?", [DAY1]).fetchone() == (2,)


def test_a_day_without_attribution_has_no_runs(conn: duckdb.DuckDBPyConnection) -> None:
    assert build_process_runs(conn, DAY2, account=ACCOUNT) == 0
    assert conn.execute("SELECT count(*) FROM selection.bucket_edges WHERE date = ?", [DAY2]).fetchone() == (3,)


def test_rerunning_a_day_is_byte_identical(conn: duckdb.DuckDBPyConnection) -> None:
    build_process_runs(conn, DAY1, account=ACCOUNT)
    first = {t: table_checksum(conn, t) for t in ("selection.process_runs", "selection.bucket_edges")}
    build_process_runs(conn, DAY1, account=ACCOUNT)
    assert {t: table_checksum(conn, t) for t in first} == first


def test_edges_of_the_first_day_come_from_that_day_alone(conn: duckdb.DuckDBPyConnection) -> None:
    """DAY0 has marks but no attribution: no runs, yet its volatility edges are computed from DAY0 alone."""
    assert build_process_runs(conn, DAY0, account=ACCOUNT) == 0
    row = conn.execute(
        "SELECT n_observations, last_observation FROM selection.bucket_edges "
        "WHERE date = ? AND dimension = 'volatility'",
        [DAY0],
    ).fetchone()
    assert row == (1, DAY0)
