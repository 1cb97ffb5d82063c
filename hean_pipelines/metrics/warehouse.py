"""Metric values read from the DuckDB warehouse, on one read-only connection.

Everything is relative to the **last attributed day** D (``max(date)`` of ``attribution.portfolio_daily``):
``period="day"`` is D, ``period="7d"`` the trailing window D-6..D, ``period="cumulative"`` every day up to
D. Sums are exact DECIMAL in SQL; ratios are divided in Python decimal arithmetic (never in SQL, where
DECIMAL/DECIMAL is a DOUBLE); every value becomes a float only in its :class:`Sample`.

A part whose tables do not exist yet (a warehouse holding only raw data, say) yields no samples instead
of failing: the exporter must serve what there is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb

from hean_pipelines.accounting.rounding import divide_round_half_up
from hean_pipelines.attribution.profit_illusion import DEFAULT_WINDOW_DAYS, PORTFOLIO, profit_illusions
from hean_pipelines.metrics.catalog import PERIOD_7D, PERIOD_CUMULATIVE, PERIOD_DAY, PERIODS
from hean_pipelines.metrics.samples import Sample
from hean_pipelines.registry.catalog import UNATTRIBUTED

PROFIT_ILLUSION_WINDOW_DAYS = DEFAULT_WINDOW_DAYS
"""The trailing window of the profit-illusion flag (7 days), and of ``period="7d"``: D-6..D."""

API_ERROR_WINDOW = timedelta(hours=24)
"""The API-error share of the health score looks at the request log's last 24 hours."""

API_LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Histogram bucket bounds (seconds) of ``hean_api_latency_seconds``; +Inf is added."""

BPS = Decimal(10_000)
RATIO_QUANTUM = Decimal("0.000000000001")  # 12 dp, as the selector rounds its ratios

_METRIC_OF_COLUMN = {  # attribution.process_daily column -> metric
    "pnl": "hean_pnl_usd",
    "realized_pnl": "hean_realized_pnl_usd",
    "fees": "hean_fees_usd",
    "funding": "hean_funding_usd",
    "rewards": "hean_rewards_usd",
    "opportunity_cost": "hean_opportunity_cost_usd",
    "total": "hean_truth_total_usd",
}


@dataclass(frozen=True)
class ApiErrorCounts:
    """Requests and errors in the request log's last 24 hours (for the health score)."""

    requests: int
    errors: int


@dataclass(frozen=True)
class WarehouseReading:
    """What one read of the warehouse found."""

    last_day: date | None
    drawdown_ratio: Decimal | None
    api_recent: ApiErrorCounts
    samples: tuple[Sample, ...]


def _tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()
    return {r[0] for r in rows}


def _since(period: str) -> str:
    """Name of the query parameter holding the first day of ``period`` (the last day is always ``$d``)."""
    return f"since_{period}"


def _period_params(last_day: date) -> dict[str, date]:
    first_days = {
        PERIOD_DAY: last_day,
        PERIOD_7D: last_day - timedelta(days=PROFIT_ILLUSION_WINDOW_DAYS - 1),
        PERIOD_CUMULATIVE: date.min,
    }
    return {"d": last_day, **{_since(p): first for p, first in first_days.items()}}


def _per_period(aggregate: str, alias: str, date_column: str, condition: str = "") -> list[str]:
    """``<aggregate> FILTER (WHERE <date in period> [AND condition]) AS <alias>__<period>`` for each period."""
    extra = f" AND {condition}" if condition else ""
    return [
        f"{aggregate} FILTER (WHERE {date_column} BETWEEN ${_since(p)} AND $d{extra}) AS {alias}__{p}" for p in PERIODS
    ]


def _ratio(numerator: Decimal | None, denominator: Decimal | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(divide_round_half_up(numerator, denominator, RATIO_QUANTUM))


# ------------------------------------------------------------------------------------ attribution


def _attribution(conn: duckdb.DuckDBPyConnection, last_day: date) -> Iterable[Sample]:
    columns = [c for column in _METRIC_OF_COLUMN for c in _per_period(f"sum({column})", column, "date")]
    sql = f"""
SELECT process_id, {", ".join(columns)},
       sum(unrealized_pnl_eod) FILTER (WHERE date = $d) AS unrealized_eod
FROM attribution.process_daily WHERE date <= $d
GROUP BY process_id ORDER BY process_id
"""
    cursor = conn.execute(sql, _period_params(last_day))
    names = [d[0] for d in cursor.description or ()]
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        process_id = record["process_id"]
        for column, metric in _METRIC_OF_COLUMN.items():
            for period in PERIODS:
                value = record[f"{column}__{period}"]
                if value is not None:  # no row in the window: no series
                    yield Sample(metric, float(value), {"process_id": process_id, "period": period})
        if record["unrealized_eod"] is not None:
            yield Sample("hean_unrealized_pnl_usd", float(record["unrealized_eod"]), {"process_id": process_id})


def _profit_illusion(conn: duckdb.DuckDBPyConnection, last_day: date) -> Iterable[Sample]:
    """The flag of the daily report (one definition: :mod:`hean_pipelines.attribution.profit_illusion`)."""
    for scope in profit_illusions(conn, last_day, PROFIT_ILLUSION_WINDOW_DAYS):
        labels = {"scope": "portfolio"} if scope.scope == PORTFOLIO else {"scope": "process", "process_id": scope.scope}
        yield Sample("hean_profit_illusion", float(scope.flagged), labels)


def _portfolio(conn: duckdb.DuckDBPyConnection, last_day: date) -> tuple[Decimal, list[Sample]]:
    row = conn.execute(
        "SELECT equity, drawdown_ratio FROM attribution.portfolio_daily WHERE date = ?", [last_day]
    ).fetchone()
    assert row is not None  # last_day is max(date) of this very table
    equity, drawdown = row
    return drawdown, [Sample("hean_equity_usd", float(equity)), Sample("hean_drawdown_ratio", float(drawdown))]


# ------------------------------------------------------------------------------------ execution

# The owner of an order: the registry process whose link_prefix is the part of orderLinkId before its
# first '-' (prefixes are unique and never reassigned), else `unattributed` -- the ledger's own rule.
_ORDER_OWNER_SQL = f"""
WITH prefixes AS (
    SELECT DISTINCT link_prefix, process_id FROM registry.processes WHERE link_prefix IS NOT NULL
)
SELECT coalesce(p.process_id, '{UNATTRIBUTED}') AS process_id, o.order_status, o.day
FROM raw.bybit_orders o
LEFT JOIN prefixes p
  ON strpos(o.order_link_id, '-') > 1 AND p.link_prefix = split_part(o.order_link_id, '-', 1)
"""

_ORDER_OWNER_NO_REGISTRY_SQL = f"SELECT '{UNATTRIBUTED}' AS process_id, order_status, day FROM raw.bybit_orders"


def _orders(conn: duckdb.DuckDBPyConnection, last_day: date | None, has_registry: bool) -> Iterable[Sample]:
    owners = _ORDER_OWNER_SQL if has_registry else _ORDER_OWNER_NO_REGISTRY_SQL
    rejected = "order_status = 'Rejected'"
    period_columns = ""
    params: dict[str, date] = {}
    if last_day is not None:
        params = _period_params(last_day)
        period_columns = ", " + ", ".join(
            _per_period("count(*)", "orders", "day") + _per_period("count(*)", "rejected", "day", rejected)
        )
    sql = f"""
WITH owned AS ({owners})
SELECT process_id, count(*) FILTER (WHERE {rejected}) AS rejected_all{period_columns}
FROM owned GROUP BY process_id ORDER BY process_id
"""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description or ()]
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        process_id = record["process_id"]
        yield Sample("hean_orders_rejected_total", float(record["rejected_all"]), {"process_id": process_id})
        if last_day is None:
            continue
        for period in PERIODS:
            ratio = _ratio(Decimal(record[f"rejected__{period}"]), Decimal(record[f"orders__{period}"]))
            if ratio is not None:
                yield Sample("hean_order_reject_ratio", ratio, {"process_id": process_id, "period": period})


# A process's own trade fills (split rule owner or unattributed: the process placed the order), joined
# to the raw execution for its price, quantity, mark and maker flag. Position-share splits (ADL, TP/SL,
# liquidation) are not the process's execution and are left out, as in the selector's slippage.
_FILLS_SQL = """
WITH fills AS (
    SELECT e.process_id, e.date, x.side, x.exec_price, x.exec_qty, x.mark_price, x.is_maker
    FROM ledger.entries e
    JOIN raw.bybit_executions x ON x.exec_id = e.trade_id
    WHERE e.component = 'realized_pnl' AND e.split_rule IN ('owner', 'unattributed')
      AND x.exec_type = 'Trade' AND e.date <= $d
)
SELECT process_id, {columns}
FROM fills GROUP BY process_id ORDER BY process_id
"""


def _fills(conn: duckdb.DuckDBPyConnection, last_day: date) -> Iterable[Sample]:
    marked = "mark_price IS NOT NULL AND mark_price > 0"
    columns = [
        *_per_period(
            "sum(CASE WHEN side = 'Buy' THEN 1 ELSE -1 END * (exec_price - mark_price) * exec_qty)",
            "slip_num",
            "date",
            marked,
        ),
        *_per_period("sum(mark_price * exec_qty)", "slip_den", "date", marked),
        *_per_period("sum(exec_price * exec_qty)", "maker", "date", "is_maker"),
        *_per_period("sum(exec_price * exec_qty)", "notional", "date", "is_maker IS NOT NULL"),
    ]
    cursor = conn.execute(_FILLS_SQL.format(columns=", ".join(columns)), _period_params(last_day))
    names = [d[0] for d in cursor.description or ()]
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        labels = {"process_id": record["process_id"]}
        for period in PERIODS:
            numerator, denominator = record[f"slip_num__{period}"], record[f"slip_den__{period}"]
            slippage = _ratio(numerator * BPS if numerator is not None else None, denominator)
            if slippage is not None:
                yield Sample("hean_slippage_bps", slippage, {**labels, "period": period})
            notional = record[f"notional__{period}"]
            maker = _ratio(record[f"maker__{period}"] or Decimal(0), notional)
            if maker is not None:
                yield Sample("hean_maker_ratio", maker, {**labels, "period": period})


# ------------------------------------------------------------------------------------ API requests

_ERROR = "(status IS DISTINCT FROM 200 OR ret_code IS DISTINCT FROM 0)"


def _api(conn: duckdb.DuckDBPyConnection) -> tuple[ApiErrorCounts, list[Sample]]:
    buckets = ", ".join(
        f"count(*) FILTER (WHERE latency_seconds <= {bound!r}) AS le_{i}"
        for i, bound in enumerate(API_LATENCY_BUCKETS_S)
    )
    rows = conn.execute(
        f"""SELECT endpoint, count(*) AS n, sum(latency_seconds) AS total_s,
                   count(*) FILTER (WHERE {_ERROR}) AS errors, {buckets}
            FROM raw.api_requests WHERE latency_seconds IS NOT NULL
            GROUP BY endpoint ORDER BY endpoint"""
    ).fetchall()
    samples: list[Sample] = []
    for endpoint, n, total_s, errors, *cumulative in rows:
        for bound, count in zip(API_LATENCY_BUCKETS_S, cumulative, strict=True):
            samples.append(
                Sample("hean_api_latency_seconds_bucket", float(count), {"endpoint": endpoint, "le": repr(bound)})
            )
        samples.append(Sample("hean_api_latency_seconds_bucket", float(n), {"endpoint": endpoint, "le": "+Inf"}))
        samples.append(Sample("hean_api_latency_seconds_sum", float(total_s), {"endpoint": endpoint}))
        samples.append(Sample("hean_api_latency_seconds_count", float(n), {"endpoint": endpoint}))
        samples.append(Sample("hean_api_requests_total", float(n - errors), {"endpoint": endpoint, "outcome": "ok"}))
        samples.append(Sample("hean_api_requests_total", float(errors), {"endpoint": endpoint, "outcome": "error"}))
    window_s = int(API_ERROR_WINDOW.total_seconds())
    recent = conn.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE {_ERROR}) FROM raw.api_requests
            WHERE ts > (SELECT max(ts) FROM raw.api_requests) - INTERVAL {window_s} SECOND"""
    ).fetchone()
    requests, errors = recent or (0, 0)
    return ApiErrorCounts(int(requests), int(errors)), samples


# ------------------------------------------------------------------------------------ selector

DECISIONS = ("TESTING", "SCALING", "KILLED")


def _decisions(conn: duckdb.DuckDBPyConnection) -> Iterable[Sample]:
    rows = conn.execute(
        """SELECT process_id, decision FROM selection.scores
           WHERE as_of = (SELECT max(as_of) FROM selection.scores) ORDER BY process_id"""
    ).fetchall()
    for process_id, decision in rows:
        # All states with 0/1 (a state set): a changed decision shows at once, not after series go stale.
        for state in DECISIONS:
            yield Sample(
                "hean_selector_decision", float(decision == state), {"process_id": process_id, "decision": state}
            )


# ------------------------------------------------------------------------------------ the reading


def read_warehouse(conn: duckdb.DuckDBPyConnection) -> WarehouseReading:
    """Every warehouse metric, as of the last attributed day, from whatever tables exist."""
    tables = _tables(conn)
    samples: list[Sample] = []
    last_day: date | None = None
    drawdown: Decimal | None = None
    if "attribution.portfolio_daily" in tables:
        row = conn.execute("SELECT max(date) FROM attribution.portfolio_daily").fetchone()
        last_day = row[0] if row else None
    if last_day is not None:
        drawdown, portfolio = _portfolio(conn, last_day)
        samples += portfolio
        if "attribution.process_daily" in tables:
            samples += _attribution(conn, last_day)
            samples += _profit_illusion(conn, last_day)
        if {"ledger.entries", "raw.bybit_executions"} <= tables:
            samples += _fills(conn, last_day)
    if "raw.bybit_orders" in tables:
        samples += _orders(conn, last_day, has_registry="registry.processes" in tables)
    api_recent = ApiErrorCounts(0, 0)
    if "raw.api_requests" in tables:
        api_recent, api_samples = _api(conn)
        samples += api_samples
    if "selection.scores" in tables:
        samples += _decisions(conn)
    return WarehouseReading(last_day=last_day, drawdown_ratio=drawdown, api_recent=api_recent, samples=tuple(samples))


def day_close_timestamp(day: date) -> float:
    """Unix time of 24:00 UTC of ``day`` (when its data is complete)."""
    return _midnight_utc(day + timedelta(days=1))


def day_start_timestamp(day: date) -> float:
    return _midnight_utc(day)


def _midnight_utc(day: date) -> float:
    return float((day - date(1970, 1, 1)).days * 86_400)
