"""Everything the daily report says about a day, read from the warehouse in one short read-only visit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from hean_pipelines.attribution.profit_illusion import DEFAULT_WINDOW_DAYS, ProfitIllusion, profit_illusions

MONEY = ("pnl", "realized_pnl", "unrealized_pnl_change", "funding", "rewards", "fees", "opportunity_cost", "total")

# (table, event-time column): how current each raw source is.
RAW_SOURCES = (
    ("raw.bybit_executions", "exec_time"),
    ("raw.bybit_transactions", "transaction_time"),
    ("raw.bybit_orders", "created_time"),
    ("raw.bybit_closed_pnl", "created_time"),
    ("raw.mark_prices", "ts"),
)


@dataclass(frozen=True)
class PortfolioDay:
    values: dict[str, Decimal]  # the MONEY columns plus capital_flows, bonus, opening_equity, equity, drawdown_ratio


@dataclass(frozen=True)
class ProcessDay:
    process_id: str
    status: str | None
    allocated_capital: Decimal
    values: dict[str, Decimal]
    n_fills: int
    window_total: Decimal


@dataclass(frozen=True)
class Decision:
    process_id: str
    registry_status: str | None
    decision: str
    n_runs: int
    effective_n: float | None
    psr: float | None
    dsr: float | None
    reasons: list[str]


@dataclass(frozen=True)
class SourceFreshness:
    table: str
    rows_on_day: int
    latest_event: datetime | None


@dataclass
class DailyReportData:
    day: date
    window_days: int
    portfolio: PortfolioDay | None = None
    window_totals: dict[str, Decimal] = field(default_factory=dict)
    month_totals: dict[str, Decimal] = field(default_factory=dict)
    processes: list[ProcessDay] = field(default_factory=list)
    illusions: list[ProfitIllusion] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    actions_enabled: bool = False
    status_changes: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, from, to, reason
    quarantined: list[tuple[str, int]] = field(default_factory=list)  # reason, rows
    ledger_built: bool = False
    sources: list[SourceFreshness] = field(default_factory=list)
    last_fetch: datetime | None = None


def _has_table(conn: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    row = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
    ).fetchone()
    return bool(row and row[0])


def _sums(conn: duckdb.DuckDBPyConnection, first: date, last: date) -> dict[str, Decimal]:
    row = conn.execute(
        f"SELECT count(*), {', '.join(f'sum({c})' for c in MONEY)} FROM attribution.portfolio_daily "
        "WHERE date BETWEEN ? AND ?",
        [first, last],
    ).fetchone()
    if not row or not row[0]:
        return {}
    return dict(zip(MONEY, (Decimal(v) for v in row[1:]), strict=True))


def _portfolio(conn: duckdb.DuckDBPyConnection, day: date) -> PortfolioDay | None:
    columns = (*MONEY, "capital_flows", "bonus", "opening_equity", "equity", "drawdown_ratio")
    row = conn.execute(f"SELECT {', '.join(columns)} FROM attribution.portfolio_daily WHERE date = ?", [day]).fetchone()
    return PortfolioDay(dict(zip(columns, (Decimal(v) for v in row), strict=True))) if row else None


def _processes(conn: duckdb.DuckDBPyConnection, day: date, window_first: date) -> list[ProcessDay]:
    rows = conn.execute(
        f"""
        SELECT p.process_id, r.status, p.allocated_capital, {", ".join(f"p.{c}" for c in MONEY)}, p.n_fills,
               (SELECT sum(w.total) FROM attribution.process_daily w
                 WHERE w.process_id = p.process_id AND w.date BETWEEN $first AND $day)
        FROM attribution.process_daily p
        LEFT JOIN registry.processes_as_of($day) r USING (process_id)
        WHERE p.date = $day
        ORDER BY p.total DESC, p.process_id
        """,
        {"day": day, "first": window_first},
    ).fetchall()
    return [
        ProcessDay(
            process_id=row[0],
            status=row[1],
            allocated_capital=Decimal(row[2]),
            values=dict(zip(MONEY, (Decimal(v) for v in row[3 : 3 + len(MONEY)]), strict=True)),
            n_fills=int(row[3 + len(MONEY)]),
            window_total=Decimal(row[4 + len(MONEY)]),
        )
        for row in rows
    ]


def _reasons(raw: Any) -> list[str]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _decisions(conn: duckdb.DuckDBPyConnection, day: date) -> list[Decision]:
    rows = conn.execute(
        """SELECT process_id, registry_status, decision, n_runs, effective_n, psr, dsr, reasons
           FROM selection.scores WHERE as_of = ? ORDER BY decision, process_id""",
        [day],
    ).fetchall()
    return [Decision(r[0], r[1], r[2], int(r[3]), r[4], r[5], r[6], _reasons(r[7])) for r in rows]


def _status_changes(conn: duckdb.DuckDBPyConnection, day: date) -> list[tuple[str, str, str, str]]:
    rows = conn.execute(
        """SELECT process_id, from_status, to_status, reason FROM registry.status_changes
           WHERE effective_date = ? ORDER BY process_id""",
        [day + timedelta(days=1)],
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def read_daily_report_data(
    conn: duckdb.DuckDBPyConnection, day: date, window_days: int = DEFAULT_WINDOW_DAYS, actions_enabled: bool = False
) -> DailyReportData:
    """What the warehouse holds for ``day``; sections whose tables do not exist yet stay empty."""
    data = DailyReportData(day=day, window_days=window_days, actions_enabled=actions_enabled)
    window_first = day - timedelta(days=window_days - 1)
    if _has_table(conn, "ledger.days"):
        row = conn.execute("SELECT count(*) FROM ledger.days WHERE date = ?", [day]).fetchone()
        data.ledger_built = bool(row and row[0])
    if _has_table(conn, "attribution.portfolio_daily"):
        data.portfolio = _portfolio(conn, day)
        data.window_totals = _sums(conn, window_first, day)
        data.month_totals = _sums(conn, day.replace(day=1), day)
    if _has_table(conn, "attribution.process_daily"):
        data.processes = _processes(conn, day, window_first)
        data.illusions = profit_illusions(conn, day, window_days)
    if _has_table(conn, "selection.scores"):
        data.decisions = _decisions(conn, day)
    if _has_table(conn, "registry.status_changes"):
        data.status_changes = _status_changes(conn, day)
    if _has_table(conn, "ledger.quarantine"):
        data.quarantined = [
            (r[0], int(r[1]))
            for r in conn.execute(
                "SELECT reason, count(*) FROM ledger.quarantine WHERE date = ? GROUP BY reason ORDER BY reason", [day]
            ).fetchall()
        ]
    for table, column in RAW_SOURCES:
        if _has_table(conn, table):
            row = conn.execute(f"SELECT count(*) FILTER (WHERE day = ?), max({column}) FROM {table}", [day]).fetchone()
            data.sources.append(SourceFreshness(table, int(row[0]) if row else 0, row[1] if row else None))
    if _has_table(conn, "raw.api_requests"):
        row = conn.execute("SELECT max(ts) FROM raw.api_requests").fetchone()
        data.last_fetch = row[0] if row else None
    return data
