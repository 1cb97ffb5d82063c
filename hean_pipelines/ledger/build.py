"""Build one day of the ledger: classify (SQL), fold positions (the kernel), book entries (SQL).

Per day D and account: executions of D are classified set-based; the in-scope ones run through the
average-cost kernel per (category, symbol) group, starting from D-1's closing positions; the fold's
rows become ledger entries by one set-based statement; transaction-log rows are mapped through the
explicit type table. The caller owns the transaction: a day is deleted and rebuilt inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from hean_pipelines.accounting.average_cost import FILL, FUNDING, Position, fold_position_group
from hean_pipelines.ledger.errors import (
    BeforeLedgerStartError,
    InexactAmountError,
    LedgerGapError,
    MissingMarkError,
)
from hean_pipelines.ledger.events import classify_executions
from hean_pipelines.ledger.schema import ensure_ledger_schema
from hean_pipelines.ledger.transaction_types import REPORTING_CURRENCY, mapping_rows

ACCOUNT_OWNER = "__account__"
UNATTRIBUTED = "unattributed"
MONEY = pa.decimal128(38, 18)
QTY = pa.decimal128(38, 12)

DAY_TABLES = (
    "ledger.entries",
    "ledger.positions",
    "ledger.account_positions",
    "ledger.account_fills",
    "ledger.account_flows",
    "ledger.transaction_dispositions",
    "ledger.quarantine",
    "ledger.days",
)

GroupKey = tuple[str, str]


@dataclass(frozen=True)
class LedgerDayStats:
    """What one day's build did (shown as materialization metadata)."""

    day: date
    executions: int
    quarantined_executions: int
    transactions: int
    quarantined_transactions: int
    entries: int
    positions: int
    opening_source: str


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def ledger_days(conn: duckdb.DuckDBPyConnection, account: str) -> list[date]:
    ensure_ledger_schema(conn)
    return [
        r[0] for r in conn.execute("SELECT date FROM ledger.days WHERE account = ? ORDER BY 1", [account]).fetchall()
    ]


def _exact(values: Iterable[Decimal], type_: pa.DataType, what: str) -> pa.Array:
    try:
        return pa.array(list(values), type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InexactAmountError(f"{what} does not fit {type_} exactly: {exc}") from exc


def _opening(
    conn: duckdb.DuckDBPyConnection, day: date, account: str, is_first_day: bool
) -> tuple[dict[GroupKey, dict[str, Position]], dict[GroupKey, Position]]:
    """Closing positions of D-1 (per process and per account); the first day opens flat."""
    per_process: dict[GroupKey, dict[str, Position]] = {}
    per_account: dict[GroupKey, Position] = {}
    if is_first_day:
        return per_process, per_account
    previous = day - timedelta(days=1)
    for category, symbol, process_id, qty, basis in conn.execute(
        "SELECT category, symbol, process_id, qty, cost_basis FROM ledger.positions "
        "WHERE date = ? AND account = ? AND (qty <> 0 OR cost_basis <> 0) ORDER BY ALL",
        [previous, account],
    ).fetchall():
        per_process.setdefault((category, symbol), {})[process_id] = Position(qty=qty, basis=basis)
    for category, symbol, qty, basis in conn.execute(
        "SELECT category, symbol, qty, cost_basis FROM ledger.account_positions "
        "WHERE date = ? AND account = ? AND (qty <> 0 OR cost_basis <> 0) ORDER BY ALL",
        [previous, account],
    ).fetchall():
        per_account[(category, symbol)] = Position(qty=qty, basis=basis)
    return per_process, per_account


def _group_slices(conn: duckdb.DuckDBPyConnection) -> list[tuple[GroupKey, int, int]]:
    rows = conn.execute("SELECT category, symbol, min(i), max(i) + 1 FROM _events GROUP BY ALL ORDER BY 3").fetchall()
    return [((category, symbol), start, stop) for category, symbol, start, stop in rows]


def _fold_day(
    conn: duckdb.DuckDBPyConnection,
    events: pa.Table,
    opening: dict[GroupKey, dict[str, Position]],
    account_opening: dict[GroupKey, Position],
) -> tuple[pa.Table, pa.Table, list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[int, str]]]:
    """Run the kernel per group; returns fold rows, account fold rows, closing rows and unsplittable events."""
    kinds: list[int] = events.column("kind").to_pylist()
    owners: list[str | None] = events.column("owner").to_pylist()
    qtys: list[Decimal] = events.column("signed_qty").to_pylist()
    prices: list[Decimal] = events.column("price").to_pylist()
    fees: list[Decimal] = events.column("fee_cash").to_pylist()
    fundings: list[Decimal] = events.column("funding_cash").to_pylist()

    out: dict[str, list[Any]] = {
        k: [] for k in ("i", "process_id", "qty", "price", "cash_flow", "realized_pnl", "fee", "funding")
    }
    acc_out: dict[str, list[Any]] = {k: [] for k in ("i", "qty", "realized_pnl")}
    closing_rows: list[tuple[Any, ...]] = []
    account_closing_rows: list[tuple[Any, ...]] = []
    unsplittable: list[tuple[int, str]] = []
    slices = {key: (start, stop) for key, start, stop in _group_slices(conn)}
    for key in sorted(set(slices) | set(opening) | set(account_opening)):
        start, stop = slices.get(key, (0, 0))
        fold = fold_position_group(
            opening.get(key, {}),
            kinds[start:stop],
            owners[start:stop],
            qtys[start:stop],
            prices[start:stop],
            fees[start:stop],
            fundings[start:stop],
        )
        out["i"].extend(start + i for i in fold.event_index)
        out["process_id"].extend(fold.process_id)
        out["qty"].extend(fold.qty)
        out["price"].extend(fold.price)
        out["cash_flow"].extend(fold.cash_flow)
        out["realized_pnl"].extend(fold.realized_pnl)
        out["fee"].extend(fold.fee)
        out["funding"].extend(fold.funding)
        unsplittable.extend((start + i, reason) for i, reason in fold.unsplittable)
        for process_id, position in sorted(fold.closing.items()):
            closing_rows.append((key[0], key[1], process_id, position.qty, position.basis))

        # The account's own position (Bybit's view, for reconciliation): every trade is its own fill.
        trade_idx = [i for i in range(start, stop) if kinds[i] != FUNDING]
        account_opening_group = {ACCOUNT_OWNER: account_opening[key]} if key in account_opening else {}
        account_fold = fold_position_group(
            account_opening_group,
            [FILL] * len(trade_idx),
            [ACCOUNT_OWNER] * len(trade_idx),
            [qtys[i] for i in trade_idx],
            [prices[i] for i in trade_idx],
            [fees[i] for i in trade_idx],
            [Decimal(0)] * len(trade_idx),
        )
        acc_out["i"].extend(trade_idx[i] for i in account_fold.event_index)
        acc_out["qty"].extend(account_fold.qty)
        acc_out["realized_pnl"].extend(account_fold.realized_pnl)
        final = account_fold.closing.get(ACCOUNT_OWNER, Position())
        account_closing_rows.append((key[0], key[1], final.qty, final.basis))

    fold_table = pa.table(
        {
            "i": pa.array(out["i"], type=pa.int64()),
            "process_id": pa.array(out["process_id"], type=pa.string()),
            "qty": _exact(out["qty"], QTY, "a split quantity"),
            "price": _exact(out["price"], QTY, "a price"),
            "cash_flow": _exact(out["cash_flow"], MONEY, "a cash flow"),
            "realized_pnl": _exact(out["realized_pnl"], MONEY, "a realized PnL"),
            "fee": _exact(out["fee"], MONEY, "a fee"),
            "funding": _exact(out["funding"], MONEY, "a funding amount"),
        }
    )
    account_table = pa.table(
        {
            "i": pa.array(acc_out["i"], type=pa.int64()),
            "qty": _exact(acc_out["qty"], QTY, "a quantity"),
            "realized_pnl": _exact(acc_out["realized_pnl"], MONEY, "a realized PnL"),
        }
    )
    return fold_table, account_table, closing_rows, account_closing_rows, unsplittable


_ENTRIES_SQL = f"""
INSERT INTO ledger.entries
SELECT e.exec_id, 'realized_pnl', f.process_id, $day, any_value(e.exec_time), $account, any_value(e.category),
       any_value(e.symbol), '{REPORTING_CURRENCY}', sum(f.realized_pnl), sum(f.qty), any_value(f.price),
       sum(f.cash_flow), 'raw.bybit_executions', any_value(e.split_rule)
FROM _fold f JOIN _events e ON e.i = f.i
WHERE e.kind <> {FUNDING}
GROUP BY e.exec_id, f.process_id
UNION ALL
SELECT e.exec_id, 'fee', f.process_id, $day, e.exec_time, $account, e.category, e.symbol,
       '{REPORTING_CURRENCY}', f.fee, NULL, NULL, NULL, 'raw.bybit_executions', e.split_rule
FROM _fold f JOIN _events e ON e.i = f.i
WHERE e.kind <> {FUNDING} AND e.sub = 0
UNION ALL
SELECT e.exec_id, 'funding', f.process_id, $day, e.exec_time, $account, e.category, e.symbol,
       '{REPORTING_CURRENCY}', f.funding, NULL, NULL, NULL, 'raw.bybit_executions', e.split_rule
FROM _fold f JOIN _events e ON e.i = f.i
WHERE e.kind = {FUNDING}
ORDER BY 1, 2, 3
"""

_TRANSACTIONS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _tx AS
SELECT t.tx_key, t.type, t.currency, t.change, t.transaction_time, t.category, t.symbol,
    CASE
        WHEN m.disposition IS NULL THEN 'quarantined'
        WHEN m.disposition = 'signed_interest' THEN CASE WHEN t.change >= 0 THEN 'reward' ELSE 'cost' END
        ELSE m.disposition
    END AS mapped
FROM raw.bybit_transactions t
LEFT JOIN _tx_types m ON m.type = t.type
WHERE t.day = $day AND t.account = $account;

CREATE OR REPLACE TEMP TABLE _tx_classified AS
SELECT *,
    CASE
        WHEN mapped = 'quarantined' THEN 'unknown_transaction_type:' || type
        WHEN mapped IN ('reward', 'cost', 'capital_flow', 'bonus') AND currency <> '{REPORTING_CURRENCY}'
            THEN 'non_usdt_' || mapped || ':' || currency
    END AS quarantine_reason
FROM _tx;

INSERT INTO ledger.transaction_dispositions
SELECT tx_key, $day, $account, type, CASE WHEN quarantine_reason IS NULL THEN mapped ELSE 'quarantined' END
FROM _tx_classified ORDER BY tx_key;

INSERT INTO ledger.quarantine
SELECT 'raw.bybit_transactions', tx_key, $day, $account, quarantine_reason, type || ' ' || currency || ' ' || change
FROM _tx_classified WHERE quarantine_reason IS NOT NULL ORDER BY tx_key;

INSERT INTO ledger.entries
SELECT tx_key, CASE mapped WHEN 'reward' THEN 'reward' ELSE 'fee' END, '{UNATTRIBUTED}', $day, transaction_time,
       $account, category, symbol, currency, change, NULL, NULL, NULL, 'raw.bybit_transactions', 'unattributed'
FROM _tx_classified WHERE quarantine_reason IS NULL AND mapped IN ('reward', 'cost') ORDER BY tx_key;

INSERT INTO ledger.account_flows
SELECT tx_key, $day, transaction_time, $account, mapped, type, currency, change
FROM _tx_classified WHERE quarantine_reason IS NULL AND mapped IN ('capital_flow', 'bonus') ORDER BY tx_key;
"""

# The cash balance just before the day: the last USDT row before it (the one no same-time row
# follows in the balance chain), else the first row's balance minus its change, else zero.
_OPENING_CASH_SQL = """
WITH usdt AS (
    SELECT transaction_time, cash_balance, change FROM raw.bybit_transactions
    WHERE account = $account AND currency = 'USDT'
),
before AS (
    SELECT * FROM usdt WHERE transaction_time = (SELECT max(transaction_time) FROM usdt WHERE transaction_time < $start)
),
last_before AS (
    SELECT b.cash_balance FROM before b
    WHERE NOT EXISTS (SELECT 1 FROM before o WHERE o.cash_balance - o.change = b.cash_balance AND o.change <> 0)
    ORDER BY b.cash_balance LIMIT 1
),
after AS (
    SELECT * FROM usdt
    WHERE transaction_time = (SELECT min(transaction_time) FROM usdt WHERE transaction_time >= $start)
),
first_after AS (
    SELECT a.cash_balance - a.change AS opening FROM after a
    WHERE NOT EXISTS (SELECT 1 FROM after o WHERE o.cash_balance = a.cash_balance - a.change AND o.change <> 0)
    ORDER BY 1 LIMIT 1
)
SELECT coalesce((SELECT cash_balance FROM last_before), (SELECT opening FROM first_after), 0::DECIMAL(38,18))
"""


def _write_positions(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    account: str,
    closing_rows: list[tuple[Any, ...]],
    account_closing_rows: list[tuple[Any, ...]],
) -> int:
    bar = day_start(day) + timedelta(hours=23)
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE _marks AS
        SELECT category, symbol, arg_max(close, source = 'mark-price-kline') AS close FROM raw.mark_prices
        WHERE interval = '60' AND ts = $bar GROUP BY ALL""",
        {"bar": bar},
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _closing (category VARCHAR, symbol VARCHAR, process_id VARCHAR, "
        "qty DECIMAL(38,12), basis DECIMAL(38,18))"
    )
    if closing_rows:
        conn.executemany("INSERT INTO _closing VALUES (?, ?, ?, ?, ?)", closing_rows)
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _account_closing (category VARCHAR, symbol VARCHAR, "
        "qty DECIMAL(38,12), basis DECIMAL(38,18))"
    )
    if account_closing_rows:
        conn.executemany("INSERT INTO _account_closing VALUES (?, ?, ?, ?)", account_closing_rows)
    missing = conn.execute(
        "SELECT DISTINCT c.category, c.symbol FROM _closing c LEFT JOIN _marks m USING (category, symbol) "
        "WHERE m.close IS NULL AND c.qty <> 0 ORDER BY ALL"
    ).fetchall()
    if missing:
        raise MissingMarkError(day, [(str(a), str(b)) for a, b in missing])
    inexact = conn.execute(
        "SELECT count(*) FROM _closing c JOIN _marks m USING (category, symbol) "
        "WHERE c.qty * m.close <> CAST(c.qty * m.close AS DECIMAL(38,18))"
    ).fetchone()
    if inexact and inexact[0]:
        raise InexactAmountError(f"{inexact[0]} position values on {day} need more than 18 decimal places")
    conn.execute(
        """INSERT INTO ledger.positions
        SELECT $day, $account, c.category, c.symbol, c.process_id, c.qty, c.basis, coalesce(m.close, 0),
               c.qty * coalesce(m.close, 0), c.qty * coalesce(m.close, 0) - c.basis
        FROM _closing c LEFT JOIN _marks m USING (category, symbol) ORDER BY c.symbol, c.process_id""",
        {"day": day, "account": account},
    )
    conn.execute(
        """INSERT INTO ledger.account_positions
        SELECT $day, $account, c.category, c.symbol, c.qty, c.basis, coalesce(m.close, 0),
               c.qty * coalesce(m.close, 0) - c.basis
        FROM _account_closing c LEFT JOIN _marks m USING (category, symbol) ORDER BY c.symbol""",
        {"day": day, "account": account},
    )
    return len(closing_rows)


def build_ledger_day(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    *,
    account: str,
    link_prefixes: dict[str, str],
    first_day: date,
    opening_source: str = "flat",
) -> LedgerDayStats:
    """Replace day D of the ledger for ``account``. Run inside the caller's transaction."""
    ensure_ledger_schema(conn)
    if day < first_day:
        raise BeforeLedgerStartError(day, first_day)
    is_first_day = day == first_day
    previous = day - timedelta(days=1)
    previous_built = conn.execute(
        "SELECT count(*) FROM ledger.days WHERE date = ? AND account = ?", [previous, account]
    ).fetchone()
    if not is_first_day and not (previous_built and previous_built[0]):
        raise LedgerGapError(day, first_day)
    for table in DAY_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE date = ? AND account = ?", [day, account])
    params = {"day": day, "account": account}

    events_all = classify_executions(conn, day, account, link_prefixes)
    conn.register("_events_all", events_all)
    conn.execute(
        """INSERT INTO ledger.quarantine
        SELECT 'raw.bybit_executions', exec_id, $day, $account, quarantine_reason,
               exec_type || ' ' || category || ' ' || symbol
        FROM _events_all WHERE quarantine_reason IS NOT NULL AND sub = 0 ORDER BY exec_id""",
        params,
    )
    events = conn.sql(
        "SELECT row_number() OVER (ORDER BY ev) - 1 AS i, * EXCLUDE (ev) FROM _events_all "
        "WHERE quarantine_reason IS NULL ORDER BY i"
    ).to_arrow_table()
    conn.unregister("_events_all")
    conn.register("_events", events)

    opening, account_opening = _opening(conn, day, account, is_first_day)
    fold_table, account_table, closing_rows, account_closing_rows, unsplittable = _fold_day(
        conn, events, opening, account_opening
    )
    conn.register("_fold", fold_table)
    conn.register("_account_fold", account_table)
    conn.execute(_ENTRIES_SQL, params)
    conn.execute(
        """INSERT INTO ledger.account_fills
        SELECT e.exec_id, $day, $account, any_value(e.symbol), any_value(e.order_id), sum(a.qty),
               any_value(e.price) FILTER (WHERE e.sub = 0), sum(a.realized_pnl)
        FROM _account_fold a JOIN _events e ON e.i = a.i GROUP BY e.exec_id ORDER BY e.exec_id""",
        params,
    )
    if unsplittable:
        conn.executemany(
            "INSERT INTO ledger.quarantine SELECT 'raw.bybit_executions', exec_id, ?, ?, ?, "
            "exec_type || ' ' || symbol FROM _events WHERE i = ? AND sub = 0",
            [(day, account, reason, i) for i, reason in unsplittable],
        )
    positions = _write_positions(conn, day, account, closing_rows, account_closing_rows)

    conn.execute("CREATE OR REPLACE TEMP TABLE _tx_types (type VARCHAR, disposition VARCHAR)")
    conn.executemany("INSERT INTO _tx_types VALUES (?, ?)", mapping_rows())
    for statement in _TRANSACTIONS_SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})

    opening_equity = None
    if is_first_day:
        row = conn.execute(_OPENING_CASH_SQL, {"account": account, "start": day_start(day)}).fetchone()
        opening_equity = row[0] if row else Decimal(0)
    conn.execute(
        "INSERT INTO ledger.days VALUES (?, ?, ?, ?)",
        [day, account, opening_source if is_first_day else "previous_day", opening_equity],
    )
    for name in ("_events", "_fold", "_account_fold"):
        conn.unregister(name)

    def count(sql: str) -> int:
        found = conn.execute(sql, [day, account]).fetchone()
        return int(found[0]) if found else 0

    return LedgerDayStats(
        day=day,
        executions=events_all.num_rows,
        quarantined_executions=count(
            "SELECT count(*) FROM ledger.quarantine WHERE date = ? AND account = ? "
            "AND source_table = 'raw.bybit_executions'"
        ),
        transactions=count("SELECT count(*) FROM ledger.transaction_dispositions WHERE date = ? AND account = ?"),
        quarantined_transactions=count(
            "SELECT count(*) FROM ledger.quarantine WHERE date = ? AND account = ? "
            "AND source_table = 'raw.bybit_transactions'"
        ),
        entries=count("SELECT count(*) FROM ledger.entries WHERE date = ? AND account = ?"),
        positions=positions,
        opening_source=opening_source if is_first_day else "previous_day",
    )
