"""Warehouse metrics on a small DuckDB file built by hand, where every expected value is worked out here.

The sandbox has no profit illusion in its first weeks, a single latency bucket and few rejects; these
cases do: a process whose headline PnL is positive while its truth total is not, periods that differ,
orders of unknown owners, requests that failed and latencies beyond the last bucket.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from hean_pipelines.ledger.schema import ATTRIBUTION_MONEY_COLUMNS, ensure_ledger_schema
from hean_pipelines.metrics.samples import Sample
from hean_pipelines.metrics.warehouse import read_warehouse
from hean_pipelines.registry.store import ensure_registry_schema
from hean_pipelines.selection.schema import ensure_selection_schema
from hean_pipelines.warehouse.connection import reader, writer
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

D = date(2026, 1, 11)
ZERO = Decimal(0)


def _process_row(day: date, process_id: str, pnl: str, fees: str = "0", opportunity_cost: str = "0") -> list[object]:
    money = dict.fromkeys(ATTRIBUTION_MONEY_COLUMNS, ZERO)
    money.update(pnl=Decimal(pnl), realized_pnl=Decimal(pnl), fees=Decimal(fees))
    money.update(opportunity_cost=Decimal(opportunity_cost))
    money["total"] = money["pnl"] + money["funding"] + money["rewards"] - money["fees"] - money["opportunity_cost"]
    return [day, process_id, Decimal(1000), *(money[c] for c in ATTRIBUTION_MONEY_COLUMNS), 1]


# (day, process, pnl, fees, opportunity cost)
PROCESS_DAYS = [
    # illusion: +100 headline over the week, but -150 after 250 of fees
    (D, "illusion", "60", "200", "0"),
    (D - timedelta(days=6), "illusion", "40", "50", "0"),
    (D - timedelta(days=7), "illusion", "1000", "0", "0"),  # outside the week: cumulative only
    # honest: +10 headline, +10 truth
    (D - timedelta(days=1), "honest", "10", "0", "0"),
    # break_even: +5 headline, exactly 0 truth -> not positive: an illusion too
    (D, "break_even", "5", "4", "1"),
    # retired: only long ago
    (D - timedelta(days=20), "retired", "-7", "1", "0"),
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("warehouse") / "hean.duckdb"
    with writer(db) as conn:
        ensure_raw_schema(conn)
        ensure_ledger_schema(conn)
        ensure_registry_schema(conn)
        ensure_selection_schema(conn)
        placeholders = ", ".join(["?"] * (4 + len(ATTRIBUTION_MONEY_COLUMNS)))
        for day, pid, pnl, fees, opportunity in PROCESS_DAYS:
            conn.execute(
                f"INSERT INTO attribution.process_daily (date, process_id, allocated_capital, "
                f"{', '.join(ATTRIBUTION_MONEY_COLUMNS)}, n_fills) VALUES ({placeholders})",
                _process_row(day, pid, pnl, fees, opportunity),
            )
        # The portfolio = the processes' sums per day (what the blocking check guarantees).
        conn.execute(
            f"""INSERT INTO attribution.portfolio_daily
                SELECT date, {", ".join(f"sum({c})" for c in ATTRIBUTION_MONEY_COLUMNS)},
                       0, 0, 100000, 100000 + sum(sum(total)) OVER (ORDER BY date), 1, 0.0123
                FROM attribution.process_daily GROUP BY date"""
        )
        conn.execute(
            """INSERT INTO registry.processes (process_id, valid_from, status, source, kind, name, link_prefix,
                                               allocated_capital, document)
               VALUES ('illusion', DATE '2025-12-01', 'TESTING', 'catalog', 'process', 'i', 'ill', 1000, '{}')"""
        )
        orders = [
            ("o1", "ill-1", "Rejected", D),
            ("o2", "ill-2", "Filled", D),
            ("o3", "ill-3", "Filled", D - timedelta(days=3)),
            ("o4", "ill-4", "Rejected", D - timedelta(days=30)),  # counted all time, outside every window
            ("o5", None, "Rejected", D),  # no orderLinkId: unattributed
            ("o6", "zzz-1", "Filled", D),  # unknown prefix: unattributed
            ("o7", "ill", "Rejected", D - timedelta(days=2)),  # no '-': no prefix, unattributed
        ]
        for order_id, link, status, day in orders:
            ts = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            conn.execute(
                """INSERT INTO raw.bybit_orders (order_id, account, order_link_id, symbol, side, order_status,
                                                 created_time, updated_time, day, raw_json)
                   VALUES (?, 'main', ?, 'BTCUSDT', 'Buy', ?, ?, ?, ?, '{}')""",
                [order_id, link, status, ts, ts, day],
            )
        now = datetime(2026, 1, 12, 0, 15, tzinfo=UTC)
        requests = [
            ("r1", now, "/v5/execution/list", 200, 0, 0.003),
            ("r2", now - timedelta(minutes=1), "/v5/execution/list", 200, 0, 0.02),
            ("r3", now - timedelta(minutes=2), "/v5/execution/list", 429, None, 0.4),
            ("r4", now - timedelta(minutes=3), "/v5/order/history", 200, 10006, 40.0),  # beyond the last bucket
            ("r5", now - timedelta(days=2), "/v5/order/history", 500, None, 1.0),  # error, but older than 24 h
        ]
        for request_id, ts, endpoint, http_status, ret_code, latency in requests:
            conn.execute(
                """INSERT INTO raw.api_requests (request_id, ts, endpoint, status, ret_code, latency_seconds)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                [request_id, ts, endpoint, http_status, ret_code, latency],
            )
        fills = [  # (exec_id, side, price, qty, mark, is_maker, process, split_rule, day)
            ("x1", "Buy", "101", "1", "100", True, "illusion", "owner", D),
            ("x2", "Sell", "99", "2", "100", False, "illusion", "owner", D),
            ("x3", "Buy", "50", "1", "40", False, "illusion", "position_share", D),  # a TP/SL split: not its fill
            ("x4", "Sell", "100", "1", "100", True, "illusion", "owner", D - timedelta(days=3)),
        ]
        for exec_id, side, price, qty, mark, maker, pid, rule, day in fills:
            ts = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            conn.execute(
                """INSERT INTO raw.bybit_executions (exec_id, account, symbol, side, exec_price, exec_qty, exec_type,
                                                     exec_time, mark_price, is_maker, day, raw_json)
                   VALUES (?, 'main', 'BTCUSDT', ?, ?, ?, 'Trade', ?, ?, ?, ?, '{}')""",
                [exec_id, side, Decimal(price), Decimal(qty), ts, Decimal(mark), maker, day],
            )
            conn.execute(
                """INSERT INTO ledger.entries (trade_id, component, process_id, date, ts, account, currency, amount,
                                               source_table, split_rule)
                   VALUES (?, 'realized_pnl', ?, ?, ?, 'main', 'USDT', 0, 'raw.bybit_executions', ?)""",
                [exec_id, pid, day, ts, rule],
            )
    return db


@pytest.fixture(scope="module")
def samples(warehouse: Path) -> list[Sample]:
    with reader(warehouse) as conn:
        return list(read_warehouse(conn).samples)


def _value(samples: list[Sample], name: str, **labels: str) -> float | None:
    found = [s.value for s in samples if s.name == name and dict(s.labels) == labels]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def test_periods_are_the_last_day_the_trailing_week_and_everything(samples: list[Sample]) -> None:
    assert _value(samples, "hean_pnl_usd", process_id="illusion", period="day") == 60.0
    assert _value(samples, "hean_pnl_usd", process_id="illusion", period="7d") == 100.0
    assert _value(samples, "hean_pnl_usd", process_id="illusion", period="cumulative") == 1100.0
    assert _value(samples, "hean_fees_usd", process_id="illusion", period="7d") == 250.0
    assert _value(samples, "hean_truth_total_usd", process_id="illusion", period="7d") == -150.0
    # A process without a row in a window has no series there (a gap, not a made-up zero).
    assert _value(samples, "hean_pnl_usd", process_id="honest", period="day") is None
    assert _value(samples, "hean_pnl_usd", process_id="retired", period="7d") is None
    assert _value(samples, "hean_truth_total_usd", process_id="retired", period="cumulative") == -8.0


def test_profit_illusion_per_process_and_for_the_portfolio(samples: list[Sample]) -> None:
    assert _value(samples, "hean_profit_illusion", scope="process", process_id="illusion") == 1.0
    assert _value(samples, "hean_profit_illusion", scope="process", process_id="honest") == 0.0
    assert _value(samples, "hean_profit_illusion", scope="process", process_id="break_even") == 1.0
    assert _value(samples, "hean_profit_illusion", scope="process", process_id="retired") is None  # not in the week
    # The week: headline 100 + 10 + 5 = 115 > 0, truth -150 + 10 + 0 = -140.
    assert _value(samples, "hean_profit_illusion", scope="portfolio") == 1.0


def test_equity_and_drawdown_of_the_last_day(samples: list[Sample]) -> None:
    # Truth totals by day: -150 (D), +10 (D-1), -10 (D-6), +1000 (D-7), -8 (D-20); equity = 100000 + running sum.
    assert _value(samples, "hean_equity_usd") == 100000 - 8 + 1000 - 10 + 10 + (60 - 200) + (5 - 4 - 1)
    assert _value(samples, "hean_drawdown_ratio") == 0.0123


def test_orders_belong_to_the_process_of_their_link_prefix_else_to_unattributed(samples: list[Sample]) -> None:
    assert _value(samples, "hean_orders_rejected_total", process_id="illusion") == 2.0
    assert _value(samples, "hean_orders_rejected_total", process_id="unattributed") == 2.0
    assert _value(samples, "hean_order_reject_ratio", process_id="illusion", period="day") == 0.5
    assert _value(samples, "hean_order_reject_ratio", process_id="illusion", period="7d") == pytest.approx(1 / 3)
    assert _value(samples, "hean_order_reject_ratio", process_id="illusion", period="cumulative") == 0.5
    assert _value(samples, "hean_order_reject_ratio", process_id="unattributed", period="7d") == pytest.approx(2 / 3)


def test_slippage_and_maker_share_of_the_process_own_fills(samples: list[Sample]) -> None:
    # Day: buy 1 @ 101 vs mark 100 costs 1; sell 2 @ 99 vs mark 100 costs 2: 3 / 300 notional = 100 bps.
    assert _value(samples, "hean_slippage_bps", process_id="illusion", period="day") == 100.0
    assert _value(samples, "hean_maker_ratio", process_id="illusion", period="day") == pytest.approx(
        101 / 299, rel=1e-11
    )
    # The week adds a maker sell at the mark: 3 / 400 = 75 bps; maker 201 of 399.
    assert _value(samples, "hean_slippage_bps", process_id="illusion", period="7d") == 75.0
    assert _value(samples, "hean_maker_ratio", process_id="illusion", period="7d") == pytest.approx(
        201 / 399, rel=1e-11
    )


def test_api_latency_histogram_and_outcomes(samples: list[Sample]) -> None:
    execution = {"endpoint": "/v5/execution/list"}
    assert _value(samples, "hean_api_latency_seconds_bucket", **execution, le="0.0025") == 0.0
    assert _value(samples, "hean_api_latency_seconds_bucket", **execution, le="0.005") == 1.0
    assert _value(samples, "hean_api_latency_seconds_bucket", **execution, le="0.025") == 2.0
    assert _value(samples, "hean_api_latency_seconds_bucket", **execution, le="0.5") == 3.0
    assert _value(samples, "hean_api_latency_seconds_bucket", **execution, le="+Inf") == 3.0
    assert _value(samples, "hean_api_latency_seconds_count", **execution) == 3.0
    assert _value(samples, "hean_api_latency_seconds_sum", **execution) == pytest.approx(0.423)
    history = {"endpoint": "/v5/order/history"}
    assert _value(samples, "hean_api_latency_seconds_bucket", **history, le="30.0") == 1.0  # the 1 s one
    assert _value(samples, "hean_api_latency_seconds_bucket", **history, le="+Inf") == 2.0  # and the 40 s one
    assert _value(samples, "hean_api_requests_total", **execution, outcome="error") == 1.0  # HTTP 429
    assert _value(samples, "hean_api_requests_total", **history, outcome="error") == 2.0  # retCode and HTTP 500
    assert _value(samples, "hean_api_requests_total", **history, outcome="ok") == 0.0


def test_the_health_inputs_look_at_the_last_24_hours_of_requests(warehouse: Path) -> None:
    with reader(warehouse) as conn:
        reading = read_warehouse(conn)
    assert (reading.api_recent.requests, reading.api_recent.errors) == (4, 2)
    assert reading.last_day == D


def test_a_warehouse_without_attribution_yields_what_it_has(tmp_path: Path) -> None:
    db = tmp_path / "raw_only.duckdb"
    with writer(db) as conn:
        ensure_raw_schema(conn)
    with reader(db) as conn:
        reading = read_warehouse(conn)
    assert reading.last_day is None and reading.drawdown_ratio is None
    assert reading.samples == ()
