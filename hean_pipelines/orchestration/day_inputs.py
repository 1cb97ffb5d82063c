"""What each ledger day was built from, so days whose raw input changed later can be found and rebuilt.

Raw tables are upsert-only and the ingestion re-fetches a lookback, so rows for an earlier day D can
land after D was built (a late fill, a funding row, a corrected mark bar, an import). Day D's numbers
then depend on raw rows the ledger never saw -- and so do the days after it, because day D+1 opens
from D's close and equity is cumulative.

When the ledger builds days (in its own transaction, so nothing can slip in between) it records in
``ledger.day_inputs``, per (date, account):

* ``raw_fingerprint`` -- a digest of the day's raw rows the ledger and its downstream read: the day's
  executions (with the order each one belongs to), transaction-log rows, Bybit closed-PnL records
  and mark bars; on the ledger's first day also the USDT transaction rows before it (its opening
  cash). Each row enters as its key and the ``raw_json`` Bybit sent, so a corrected row counts too.
* ``input_fingerprint`` -- a chain: md5(input fingerprint of D-1, raw fingerprint of D). It covers
  every raw row the day transitively depends on, from the ledger's first day to D.

A day is *stale* when the chain computed from the raw tables now differs from the one recorded: its
own raw input changed, an earlier day's did, or it was built on an earlier day's old close (e.g.
two runs interleaved). The first stale day and everything after it must be rebuilt, in order.

Both fingerprints are deterministic functions of table contents, so rebuilding a day rewrites the
same bytes (the table takes part in the byte-identity promise like every derived table).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb

DAY_INPUTS_TABLE = "ledger.day_inputs"

DAY_INPUTS_DDL = f"""
CREATE SCHEMA IF NOT EXISTS ledger;
CREATE TABLE IF NOT EXISTS {DAY_INPUTS_TABLE} (
    date DATE NOT NULL,
    account VARCHAR NOT NULL,
    raw_fingerprint VARCHAR NOT NULL,    -- rows:XOR of md5(key + raw_json) over the day's raw input rows
    input_fingerprint VARCHAR NOT NULL,  -- md5(input_fingerprint of D-1, raw_fingerprint of D): the whole chain
    PRIMARY KEY (date, account)
)
"""

NO_ROWS = "no-rows"
"""The raw fingerprint of a day without any raw row (a quiet day is a state too)."""

# One line per raw row, prefixed by its table; a day's fingerprint is its line count and the XOR of the
# lines' md5: independent of insertion order and physical layout, computed in one streaming pass (no
# sort, no giant string), and lines are unique (each holds its row's key). Executions carry their
# order's raw_json because the ledger reads the order (hedge-mode position index).
_RAW_LINES_SQL = """
SELECT e.day,
       'e|' || e.exec_id || '|' || CAST(e.raw_json AS VARCHAR) || '|' || coalesce(CAST(o.raw_json AS VARCHAR), '')
FROM raw.bybit_executions e LEFT JOIN raw.bybit_orders o ON o.order_id = e.order_id
WHERE e.account = $account AND e.day BETWEEN $first AND $last
UNION ALL
SELECT day, 't|' || tx_key || '|' || CAST(raw_json AS VARCHAR)
FROM raw.bybit_transactions WHERE account = $account AND day BETWEEN $first AND $last
UNION ALL
SELECT day, 'c|' || closed_pnl_key || '|' || CAST(raw_json AS VARCHAR)
FROM raw.bybit_closed_pnl WHERE account = $account AND day BETWEEN $first AND $last
UNION ALL
SELECT day, 'm|' || category || '|' || symbol || '|' || "interval" || '|' || source || '|' || CAST(raw_json AS VARCHAR)
FROM raw.mark_prices WHERE day BETWEEN $first AND $last
"""

_RAW_FINGERPRINTS_SQL = f"""
SELECT day, count(*) || ':' || CAST(bit_xor(md5_number(line)) AS VARCHAR) FROM ({_RAW_LINES_SQL}) AS lines(day, line)
GROUP BY day
"""

# The first day opens with the cash balance just before it (ledger.build's opening cash query).
_PRE_HISTORY_SQL = """
SELECT count(*) || ':' || CAST(coalesce(bit_xor(md5_number(tx_key || '|' || CAST(raw_json AS VARCHAR))), 0) AS VARCHAR)
FROM raw.bybit_transactions WHERE account = $account AND currency = 'USDT' AND transaction_time < $start
"""

_RAW_TABLES = ("bybit_executions", "bybit_orders", "bybit_transactions", "bybit_closed_pnl", "mark_prices")


def _md5(*parts: str) -> str:
    return hashlib.md5("\n".join(parts).encode(), usedforsecurity=False).hexdigest()


def ensure_day_inputs_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(DAY_INPUTS_DDL)


def _has_tables(conn: duckdb.DuckDBPyConnection, schema: str, names: Iterable[str]) -> bool:
    wanted = list(names)
    row = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary "
        "AND schema_name = ? AND table_name IN (SELECT unnest(?))",
        [schema, wanted],
    ).fetchone()
    return row is not None and row[0] == len(wanted)


def raw_fingerprints(conn: duckdb.DuckDBPyConnection, account: str, first: date, last: date) -> dict[date, str]:
    """Raw fingerprint of every day in [first, last] (``NO_ROWS`` for a day without raw rows)."""
    found: dict[date, str] = {}
    if _has_tables(conn, "raw", _RAW_TABLES):
        rows = conn.execute(_RAW_FINGERPRINTS_SQL, {"account": account, "first": first, "last": last}).fetchall()
        found = {day: str(fingerprint) for day, fingerprint in rows}
    result = {}
    day = first
    while day <= last:
        result[day] = found.get(day, NO_ROWS)
        day += timedelta(days=1)
    return result


def _pre_history(conn: duckdb.DuckDBPyConnection, account: str, first_day: date) -> str:
    if not _has_tables(conn, "raw", ("bybit_transactions",)):
        return _md5("")
    start = datetime.combine(first_day, time(0), tzinfo=UTC)
    row = conn.execute(_PRE_HISTORY_SQL, {"account": account, "start": start}).fetchone()
    return str(row[0]) if row else _md5("")


def _day_raw(conn: duckdb.DuckDBPyConnection, account: str, day: date, raw: str, ledger_first: date) -> str:
    # The first day's opening cash depends on the transaction log before it.
    return _md5(raw, _pre_history(conn, account, day)) if day == ledger_first else raw


def _ledger_days(conn: duckdb.DuckDBPyConnection, account: str) -> list[date]:
    if not _has_tables(conn, "ledger", ("days",)):
        return []
    return [
        r[0] for r in conn.execute("SELECT date FROM ledger.days WHERE account = ? ORDER BY 1", [account]).fetchall()
    ]


def current_chain(
    conn: duckdb.DuckDBPyConnection, account: str, ledger_first: date, last: date
) -> tuple[dict[date, str], dict[date, str]]:
    """(raw fingerprints, input fingerprints) of [ledger_first, last] computed from the raw tables as they are now."""
    raws = raw_fingerprints(conn, account, ledger_first, last)
    chain: dict[date, str] = {}
    previous = ""
    for day, raw in raws.items():
        raws[day] = _day_raw(conn, account, day, raw, ledger_first)
        previous = _md5(previous, raws[day])
        chain[day] = previous
    return raws, chain


def _recorded(conn: duckdb.DuckDBPyConnection, account: str) -> dict[date, tuple[str, str]]:
    if not _has_tables(conn, "ledger", ("day_inputs",)):
        return {}
    rows = conn.execute(
        f"SELECT date, raw_fingerprint, input_fingerprint FROM {DAY_INPUTS_TABLE} WHERE account = ?", [account]
    ).fetchall()
    return {day: (str(raw), str(chain)) for day, raw, chain in rows}


def record_day_inputs(conn: duckdb.DuckDBPyConnection, account: str, first: date, last: date) -> int:
    """Record what days [first, last] were just built from. Call in the ledger's transaction, after the build.

    The chain continues from D-1's recorded input fingerprint; a D-1 built before this table existed
    is taken as built from the raw rows it has now (the best that can be known). Returns rows written.
    """
    ensure_day_inputs_table(conn)
    days = _ledger_days(conn, account)
    if not days:
        return 0
    ledger_first = days[0]
    recorded = _recorded(conn, account)
    previous_day = first - timedelta(days=1)
    if first <= ledger_first:
        previous = ""
    elif previous_day in recorded:
        previous = recorded[previous_day][1]
    else:
        previous = current_chain(conn, account, ledger_first, previous_day)[1][previous_day]
    conn.execute(f"DELETE FROM {DAY_INPUTS_TABLE} WHERE account = ? AND date BETWEEN ? AND ?", [account, first, last])
    rows = []
    for day, raw in raw_fingerprints(conn, account, first, last).items():
        raw = _day_raw(conn, account, day, raw, ledger_first)
        previous = _md5(previous, raw)
        rows.append((day, account, raw, previous))
    conn.executemany(f"INSERT INTO {DAY_INPUTS_TABLE} VALUES (?, ?, ?, ?)", rows)
    return len(rows)


@dataclass(frozen=True)
class StaleReport:
    """Which built days no longer match the raw rows they were built from."""

    account: str
    built: tuple[date, ...]
    """Every day in ``ledger.days`` (contiguous, oldest first)."""
    stale: tuple[date, ...]
    """Recorded days whose input chain changed: the first one and everything after must be rebuilt."""
    raw_changed: tuple[date, ...]
    """Stale days whose own raw rows changed (the cause; the rest are stale through the chain)."""
    unrecorded: tuple[date, ...]
    """Days built before ``ledger.day_inputs`` existed: not judged (nothing says what they saw)."""
    last_chain: str
    """The current input fingerprint of the last built day: names the state of every raw input."""

    @property
    def first_stale(self) -> date | None:
        return self.stale[0] if self.stale else None

    @property
    def last_built(self) -> date | None:
        return self.built[-1] if self.built else None


def stale_days(conn: duckdb.DuckDBPyConnection, account: str) -> StaleReport:
    """Compare every built day's recorded inputs with the raw tables now (read-only)."""
    days = _ledger_days(conn, account)
    if not days:
        return StaleReport(account, (), (), (), (), "")
    recorded = _recorded(conn, account)
    raws, chain = current_chain(conn, account, days[0], days[-1])
    stale = tuple(d for d in days if d in recorded and recorded[d][1] != chain[d])
    raw_changed = tuple(d for d in stale if recorded[d][0] != raws[d])
    unrecorded = tuple(d for d in days if d not in recorded)
    return StaleReport(account, tuple(days), stale, raw_changed, unrecorded, chain[days[-1]])


@dataclass(frozen=True)
class Recompute:
    """One ranged run that rebuilds [first, last] in order, keyed by the raw state it answers."""

    first: date
    last: date
    run_key: str
    raw_changed: tuple[date, ...]


def recompute_plan(report: StaleReport) -> Recompute | None:
    """From the first stale day through the last built day; ``None`` when nothing is stale.

    The run key names the range and the current state of every raw input up to the last built day,
    so the same change is launched once, and a newer change (a second late row) gets a new run.
    """
    if report.first_stale is None or report.last_built is None:
        return None
    first, last = report.first_stale, report.last_built
    key = f"late-data:{report.account}:{first}..{last}:{report.last_chain[:16]}"
    return Recompute(first=first, last=last, run_key=key, raw_changed=report.raw_changed)
