"""The truth layer's invariants over a window of days: each returns the failing dates and rows.

Plain functions (no Dagster): the blocking asset checks call them for the whole window of a run, so a
ranged backfill checks every day once and names the days that fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd
import pandera.pandas as pa

from hean_pipelines.attribution.schemas import PortfolioDailySchema, ProcessDailySchema, read_table

MAX_ROWS_SHOWN = 20
MONEY_COLUMNS = (
    "pnl",
    "realized_pnl",
    "unrealized_pnl_change",
    "unrealized_pnl_eod",
    "funding",
    "rewards",
    "fees",
    "opportunity_cost",
    "total",
)


@dataclass
class CheckOutcome:
    """A check's verdict over a window: passed, the failing dates, and some offending rows."""

    passed: bool
    failing_dates: list[date] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""
    checked_days: int = 0

    @classmethod
    def from_rows(
        cls, columns: Sequence[str], rows: Sequence[Sequence[Any]], checked_days: int, what: str
    ) -> CheckOutcome:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        dates = sorted({r["date"] for r in records if isinstance(r.get("date"), date)})
        summary = f"{len(records)} {what} on {len(dates)} day(s)" if records else f"0 {what}"
        return cls(
            passed=not records,
            failing_dates=dates,
            rows=records[:MAX_ROWS_SHOWN],
            summary=summary,
            checked_days=checked_days,
        )


def _query(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(sql, params)
    columns = [d[0] for d in cursor.description or []]
    return columns, cursor.fetchall()


def _days(first_day: date, last_day: date) -> int:
    return (last_day - first_day).days + 1


def no_duplicate_entries(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, account: str
) -> CheckOutcome:
    """No entry twice per (trade_id, component, process_id), no account fill twice per exec_id, and no fill
    booked twice under two ids (same order, time, seq, side, qty and price: the same execution delivered
    twice).

    This check is what keeps the two keys unique: ``ledger.entries`` and ``ledger.account_fills`` have no
    PRIMARY KEY (an index made the ledger's writes several times slower, see ``ledger/schema.py``). A key
    of the window counts twice whatever date its other row has, as a table-wide key would."""
    sql = """
    WITH window_entries AS (
        SELECT DISTINCT trade_id FROM ledger.entries WHERE date BETWEEN $first AND $last AND account = $account
    ),
    window_fills AS (
        SELECT DISTINCT exec_id FROM ledger.account_fills
        WHERE date BETWEEN $first AND $last AND account = $account
    )
    SELECT max(date) FILTER (WHERE date BETWEEN $first AND $last AND account = $account) AS date,
           'duplicate key' AS problem, trade_id || ' ' || component || ' ' || process_id AS detail, count(*) AS n
    FROM ledger.entries WHERE trade_id IN (SELECT trade_id FROM window_entries)
    GROUP BY trade_id, component, process_id HAVING count(*) > 1
    UNION ALL
    SELECT max(date) FILTER (WHERE date BETWEEN $first AND $last AND account = $account),
           'duplicate account fill', exec_id, count(*)
    FROM ledger.account_fills WHERE exec_id IN (SELECT exec_id FROM window_fills)
    GROUP BY exec_id HAVING count(*) > 1
    UNION ALL
    SELECT e.day, 'same fill under several exec_ids', string_agg(e.exec_id, ', ' ORDER BY e.exec_id), count(*)
    FROM raw.bybit_executions e
    JOIN window_entries l ON l.trade_id = e.exec_id
    WHERE e.exec_type = 'Trade'
    GROUP BY e.day, e.account, e.symbol, e.order_id, e.exec_time, e.seq, e.side, e.exec_qty, e.exec_price
    HAVING count(*) > 1
    ORDER BY 1, 3
    """
    columns, rows = _query(conn, sql, {"first": first_day, "last": last_day, "account": account})
    return CheckOutcome.from_rows(columns, rows, _days(first_day, last_day), "duplicated entries or fills")


def completeness(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, account: str) -> CheckOutcome:
    """Every raw execution and transaction of the window is in the ledger or in quarantine, exactly once
    per component, and every split sums to its source exactly (fee, funding, traded quantity)."""
    sql = """
    WITH raw_exec AS (
        SELECT exec_id, day AS date, exec_type, category, symbol, side, exec_qty, exec_price, exec_fee, fee_currency,
               CASE WHEN category = 'spot' AND fee_currency = left(symbol, length(symbol) - 4) THEN 1 ELSE 0 END
                   AS base_fee
        FROM raw.bybit_executions WHERE day BETWEEN $first AND $last AND account = $account
    ),
    booked AS (
        SELECT trade_id,
               count(*) FILTER (WHERE component = 'realized_pnl') AS n_realized,
               count(*) FILTER (WHERE component = 'fee') AS n_fee,
               count(*) FILTER (WHERE component = 'funding') AS n_funding,
               sum(amount) FILTER (WHERE component = 'fee') AS fee_sum,
               sum(amount) FILTER (WHERE component = 'funding') AS funding_sum,
               sum(qty) FILTER (WHERE component = 'realized_pnl') AS qty_sum,
               count(DISTINCT process_id) AS n_processes
        FROM ledger.entries WHERE source_table = 'raw.bybit_executions' AND account = $account
          AND date BETWEEN $first AND $last
        GROUP BY trade_id
    ),
    quarantined AS (
        SELECT source_key FROM ledger.quarantine WHERE source_table = 'raw.bybit_executions' AND account = $account
    ),
    exec_problems AS (
        SELECT r.date, r.exec_id AS source_key,
            CASE
                WHEN q.source_key IS NOT NULL AND b.trade_id IS NOT NULL THEN 'both booked and quarantined'
                WHEN q.source_key IS NOT NULL THEN NULL
                WHEN b.trade_id IS NULL THEN 'neither booked nor quarantined'
                WHEN r.exec_type = 'Funding' AND (b.n_funding <> b.n_processes OR b.n_realized + b.n_fee > 0)
                    THEN 'funding booked as another component'
                WHEN r.exec_type = 'Funding' AND b.funding_sum <> -r.exec_fee THEN
                    'funding split sums to ' || b.funding_sum || ', source ' || (-r.exec_fee)
                WHEN r.exec_type <> 'Funding' AND (b.n_realized <> b.n_processes OR b.n_fee <> b.n_processes)
                    THEN 'not exactly one realized_pnl and one fee entry per process'
                WHEN r.exec_type <> 'Funding' AND b.fee_sum <>
                     (CASE WHEN r.base_fee = 1 THEN -(r.exec_fee * r.exec_price) ELSE -r.exec_fee END)
                    THEN 'fee split sums to ' || b.fee_sum || ', source ' || (-r.exec_fee)
                WHEN r.exec_type <> 'Funding' AND b.qty_sum <>
                     (CASE WHEN r.side = 'Buy' THEN r.exec_qty ELSE -r.exec_qty END)
                     - (CASE WHEN r.base_fee = 1 THEN r.exec_fee ELSE 0 END)
                    THEN 'quantity split sums to ' || b.qty_sum || ', source ' || r.exec_qty
            END AS problem
        FROM raw_exec r
        LEFT JOIN booked b ON b.trade_id = r.exec_id
        LEFT JOIN quarantined q ON q.source_key = r.exec_id
    ),
    tx_problems AS (
        SELECT t.day AS date, t.tx_key AS source_key,
            CASE WHEN count(d.tx_key) = 0 THEN 'transaction has no disposition'
                 WHEN count(d.tx_key) > 1 THEN 'transaction disposed twice' END AS problem
        FROM raw.bybit_transactions t LEFT JOIN ledger.transaction_dispositions d ON d.tx_key = t.tx_key
        WHERE t.day BETWEEN $first AND $last AND t.account = $account
        GROUP BY t.day, t.tx_key
    ),
    orphan_entries AS (
        SELECT e.date, e.trade_id AS source_key, 'entry without a raw source row' AS problem
        FROM ledger.entries e
        LEFT JOIN raw.bybit_executions x ON e.source_table = 'raw.bybit_executions' AND x.exec_id = e.trade_id
        LEFT JOIN raw.bybit_transactions t ON e.source_table = 'raw.bybit_transactions' AND t.tx_key = e.trade_id
        WHERE e.date BETWEEN $first AND $last AND e.account = $account AND x.exec_id IS NULL AND t.tx_key IS NULL
    )
    SELECT date, 'raw.bybit_executions' AS source_table, source_key, problem
    FROM exec_problems WHERE problem IS NOT NULL
    UNION ALL SELECT date, 'raw.bybit_transactions', source_key, problem FROM tx_problems WHERE problem IS NOT NULL
    UNION ALL SELECT date, 'ledger.entries', source_key, problem FROM orphan_entries
    ORDER BY 1, 2, 3
    """
    columns, rows = _query(conn, sql, {"first": first_day, "last": last_day, "account": account})
    return CheckOutcome.from_rows(columns, rows, _days(first_day, last_day), "rows lost, doubled or mis-split")


def transaction_log_identity(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, account: str
) -> CheckOutcome:
    """Bybit's own identity on every transaction-log row: change = cashFlow + funding − fee."""
    sql = """
    SELECT day AS date, tx_key, type, change, cash_flow, funding, fee,
           coalesce(cash_flow, 0) + coalesce(funding, 0) - coalesce(fee, 0) - change AS difference
    FROM raw.bybit_transactions
    WHERE day BETWEEN $first AND $last AND account = $account
      AND change <> coalesce(cash_flow, 0) + coalesce(funding, 0) - coalesce(fee, 0)
    ORDER BY 1, 2
    """
    columns, rows = _query(conn, sql, {"first": first_day, "last": last_day, "account": account})
    return CheckOutcome.from_rows(
        columns, rows, _days(first_day, last_day), "rows breaking change = cashFlow + funding − fee"
    )


_CLOSED_PNL_SQL = """
WITH records AS (
    SELECT c.day AS date, c.order_id, c.symbol, c.side, c.closed_pnl, c.open_fee, c.close_fee,
           CASE WHEN c.side = 'Sell' THEN c.cum_exit_value - c.cum_entry_value
                ELSE c.cum_entry_value - c.cum_exit_value END AS bybit_gross
    FROM raw.bybit_closed_pnl c
    WHERE c.day BETWEEN $first AND $last AND c.account = $account
      -- Out of scope (e.g. a USDC contract): its fills are quarantined, there is nothing to reconcile.
      AND c.symbol LIKE '%USDT'
      AND NOT EXISTS (
          SELECT 1 FROM raw.bybit_executions x JOIN ledger.quarantine q
            ON q.source_table = 'raw.bybit_executions' AND q.source_key = x.exec_id
          WHERE x.order_id = c.order_id)
),
ours AS (
    SELECT order_id, sum(realized_pnl) AS ledger_gross, count(*) AS fills
    FROM ledger.account_fills WHERE account = $account AND order_id IN (SELECT order_id FROM records)
    GROUP BY order_id
),
our_fees AS (
    SELECT x.order_id, -sum(e.amount) AS close_fees
    FROM ledger.entries e JOIN raw.bybit_executions x ON x.exec_id = e.trade_id
    WHERE e.component = 'fee' AND e.account = $account AND x.order_id IN (SELECT order_id FROM records)
    GROUP BY x.order_id
)
SELECT r.date, r.order_id, r.symbol, r.side, r.bybit_gross, o.ledger_gross,
       o.ledger_gross - r.bybit_gross AS gross_difference,
       r.bybit_gross - r.closed_pnl AS bybit_fees_implied,
       r.open_fee, r.close_fee, f.close_fees AS ledger_close_fees,
       (r.bybit_gross - r.closed_pnl) - (coalesce(r.open_fee, 0) + coalesce(r.close_fee, 0)) AS fee_residual
FROM records r LEFT JOIN ours o USING (order_id) LEFT JOIN our_fees f USING (order_id)
ORDER BY 1, 2
"""


def closed_pnl_reconciliation(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, account: str
) -> tuple[CheckOutcome, CheckOutcome]:
    """Against Bybit's closed-PnL records, per closing order: (gross must match exactly, fee residual).

    Gross = cumExitValue − cumEntryValue for a long closed by a sell (entry − exit for a short) versus
    the ledger's account-level average-cost realized PnL of that order's fills. The residual compares
    gross − closedPnl with Bybit's openFee + closeFee (and shows our closing fees): whether Bybit puts
    funding into closedPnl is unconfirmed, so a residual is a warning, not an error.
    """
    columns, rows = _query(conn, _CLOSED_PNL_SQL, {"first": first_day, "last": last_day, "account": account})
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    gross_bad = [r for r in records if r["ledger_gross"] is None or r["gross_difference"] != 0]
    # Our closing-order fees are shown beside Bybit's closeFee for reading; they differ by design on a
    # flip (Bybit pro-rates the flip fill's fee to its closing part), so only the residual decides.
    # Without Bybit's openFee/closeFee (older responses, the docs example) the residual is unknown.
    residual_bad = [
        r for r in records if r["open_fee"] is not None and r["close_fee"] is not None and r["fee_residual"] != 0
    ]
    days = _days(first_day, last_day)
    gross = CheckOutcome.from_rows(
        columns, [tuple(r.values()) for r in gross_bad], days, "closing orders whose gross differs"
    )
    gross.summary += f" (of {len(records)} closed-PnL records)"
    residual = CheckOutcome.from_rows(columns, [tuple(r.values()) for r in residual_bad], days, "fee residuals")
    return gross, residual


def quarantine_empty(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, account: str) -> CheckOutcome:
    sql = """
    SELECT date, source_table, source_key, reason, detail FROM ledger.quarantine
    WHERE date BETWEEN $first AND $last AND account = $account ORDER BY ALL
    """
    columns, rows = _query(conn, sql, {"first": first_day, "last": last_day, "account": account})
    return CheckOutcome.from_rows(columns, rows, _days(first_day, last_day), "quarantined rows")


def _pandera(schema: type[pa.DataFrameModel], df: pd.DataFrame, checked_days: int) -> CheckOutcome:
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        bad_index = sorted({int(i) for i in cases["index"].dropna().tolist()})
        offending = df.iloc[bad_index] if bad_index else df.iloc[0:0]
        records = [
            {k: (v.date() if hasattr(v, "date") and k == "date" else v) for k, v in row.items()}
            for row in offending.to_dict("records")
        ]
        checks = sorted({str(c) for c in cases["check"].tolist()})
        outcome = CheckOutcome.from_rows(
            list(df.columns), [tuple(r.values()) for r in records], checked_days, "rows breaking the schema"
        )
        outcome.passed = False
        outcome.summary += "; failed: " + "; ".join(checks)
        return outcome
    return CheckOutcome(passed=True, summary=f"{len(df)} rows valid", checked_days=checked_days)


def process_attribution_valid(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> CheckOutcome:
    """ProcessDailySchema over the window: types, unique key, total and pnl invariants, exactly."""
    df = read_table(conn, "attribution.process_daily", first_day, last_day)
    return _pandera(ProcessDailySchema, df, _days(first_day, last_day))


def portfolio_attribution_valid(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> CheckOutcome:
    df = read_table(conn, "attribution.portfolio_daily", first_day, last_day)
    return _pandera(PortfolioDailySchema, df, _days(first_day, last_day))


def portfolio_equals_processes_and_ledger(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, account: str
) -> CheckOutcome:
    """portfolio = Σ processes for every money column, and portfolio = the ledger's sums per component."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in MONEY_COLUMNS)
    diffs = " OR ".join(f"p.{c} <> s.{c}" for c in MONEY_COLUMNS)
    sql = f"""
    WITH s AS (SELECT date, {sums} FROM attribution.process_daily WHERE date BETWEEN $first AND $last GROUP BY date),
    l AS (
        SELECT date,
            coalesce(sum(amount) FILTER (WHERE component = 'realized_pnl'), 0) AS realized_pnl,
            coalesce(sum(amount) FILTER (WHERE component = 'funding'), 0) AS funding,
            coalesce(sum(amount) FILTER (WHERE component = 'reward'), 0) AS rewards,
            coalesce(-sum(amount) FILTER (WHERE component = 'fee'), 0) AS fees
        FROM ledger.entries WHERE date BETWEEN $first AND $last AND account = $account GROUP BY date
    ),
    days AS (SELECT date FROM attribution.portfolio_daily WHERE date BETWEEN $first AND $last)
    SELECT d.date, 'portfolio differs from the sum of processes' AS problem FROM days d
        JOIN attribution.portfolio_daily p USING (date) LEFT JOIN s USING (date)
        WHERE s.date IS NULL OR {diffs}
    UNION ALL
    SELECT d.date, 'portfolio differs from the ledger: ' ||
        concat_ws(', ',
            CASE WHEN p.realized_pnl <> coalesce(l.realized_pnl, 0) THEN 'realized_pnl' END,
            CASE WHEN p.funding <> coalesce(l.funding, 0) THEN 'funding' END,
            CASE WHEN p.rewards <> coalesce(l.rewards, 0) THEN 'rewards' END,
            CASE WHEN p.fees <> coalesce(l.fees, 0) THEN 'fees' END)
    FROM days d JOIN attribution.portfolio_daily p USING (date) LEFT JOIN l USING (date)
    WHERE p.realized_pnl <> coalesce(l.realized_pnl, 0) OR p.funding <> coalesce(l.funding, 0)
       OR p.rewards <> coalesce(l.rewards, 0) OR p.fees <> coalesce(l.fees, 0)
    ORDER BY 1
    """
    columns, rows = _query(conn, sql, {"first": first_day, "last": last_day, "account": account})
    return CheckOutcome.from_rows(columns, rows, _days(first_day, last_day), "days where totals disagree")
