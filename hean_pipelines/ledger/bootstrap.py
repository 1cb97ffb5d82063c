"""The first day's opening state of a ledger that did not start flat, from Bybit's own account snapshot.

A snapshot (``/v5/position/list`` + ``/v5/account/wallet-balance``) is taken at an instant T of Bybit's
clock, usually long after the first day D0 began. It is rolled back to D0 00:00 UTC over every fill in
[D0 00:00, T], account level (DESIGN §5):

- linear (USDT perpetuals, one-way mode): ``q0 = q_T − Σ f``; the cost basis follows from the identity
  of average cost, ``B_T = B0 + Σ realized − Σ cash_flow``, with Σ realized taken from Bybit's own
  closed-PnL records of the orders filled in the window (gross: cumExitValue − cumEntryValue, the
  number the ledger reconciles against every day). ``B_T`` is the snapshot's ``positionValue`` (else
  size × avgPrice), signed like the size. The result is verified by folding the window's fills forward
  from (q0, B0) with the ledger's own kernel: every order's realized PnL must equal its record's gross
  and the fold must land exactly on the snapshot, else ``BootstrapError``.
- spot coins: Bybit keeps no entry price for a coin balance, so a coin held at D0 (the wallet balance at T
  minus the transaction log's changes of that coin since D0) opens at its D0 00:00 mark (the close of the
  hourly bar of D0−1 23:00) as cost basis: no pre-ledger gain is booked.
- USDT cash: the transaction log's ``cashBalance`` chain (as for every first day); the wallet balance at
  T rolled back the same way is recorded beside it (``ledger.openings``) and compared by a check.

The opening positions belong to ``unattributed``: nobody knows which process opened them. They are stored
as the positions at the close of D0−1 (marked like any close), so day D0 and its attribution read them as
they read any previous day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from hean_pipelines.accounting.average_cost import FILL, Position, fold_position_group
from hean_pipelines.ledger.errors import LedgerError, MissingMarkError

REPORTING_COIN = "USDT"
_ACCOUNT = "account"


class BootstrapError(LedgerError):
    """The first day's opening state cannot be known (or does not add up) for this source."""


@dataclass(frozen=True)
class OpeningPosition:
    """The account's position in one (category, symbol) at D0 00:00 UTC."""

    category: str
    symbol: str
    qty: Decimal
    basis: Decimal
    snapshot_qty: Decimal
    snapshot_basis: Decimal
    fills: int
    closed_pnl_records: int


@dataclass(frozen=True)
class Bootstrap:
    """A snapshot rolled back to the first day's start, with what it was computed from."""

    day: date
    as_of: datetime
    positions: tuple[OpeningPosition, ...]
    usdt_cash_at_snapshot: Decimal | None
    """The snapshot's USDT wallet balance (None: no wallet snapshot at that instant)."""
    usdt_cash_from_wallet: Decimal | None
    """That balance minus the transaction log's USDT changes since the day's start."""
    cash_rows: int = 0

    @property
    def fills(self) -> int:
        """Linear fills rolled back (a spot row counts transaction-log rows, not fills)."""
        return sum(p.fills for p in self.positions if p.category == "linear")

    def provenance(self) -> str:
        held = ", ".join(f"{p.category}:{p.symbol} {p.qty}" for p in self.positions if p.qty) or "none"
        # DuckDB hands TIMESTAMPTZ back in the session's time zone: say it in UTC.
        return (
            f"bybit snapshot {self.as_of.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-3]
            + f"Z rolled back to {self.day} 00:00 UTC over {self.fills} fills; open: {held} (held by unattributed)"
        )


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def snapshot_instant(conn: duckdb.DuckDBPyConnection, account: str, day: date) -> datetime | None:
    """The earliest snapshot taken at or after ``day`` 00:00 UTC (the fewest fills to roll back over)."""
    row = conn.execute(
        """SELECT min(as_of) FROM (
               SELECT as_of FROM raw.positions_snapshot WHERE account = $account
               UNION ALL SELECT as_of FROM raw.wallet_balance_snapshot WHERE account = $account
           ) WHERE as_of >= $start""",
        {"account": account, "start": day_start(day)},
    ).fetchone()
    return row[0] if row and row[0] is not None else None


# The account's linear fills in [start, T]: what the ledger's account-level fold sees for those symbols.
_WINDOW_FILLS = """
SELECT symbol, order_id, exec_id, exec_time, seq,
       CASE WHEN side = 'Buy' THEN exec_qty ELSE -exec_qty END AS f, exec_price AS p
FROM raw.bybit_executions
WHERE account = $account AND category = 'linear' AND symbol LIKE '%USDT'
  AND exec_type IN ('Trade', 'AdlTrade', 'BustTrade') AND exec_time >= $start AND exec_time <= $as_of
"""

_LINEAR_ROLLBACK_SQL = f"""
WITH win AS ({_WINDOW_FILLS}),
snap AS (
    SELECT symbol,
           CASE WHEN side = 'Sell' THEN -size ELSE size END AS q,
           CASE WHEN side = 'Sell' THEN -1 ELSE 1 END * coalesce(position_value, size * avg_price) AS b
    FROM raw.positions_snapshot
    WHERE account = $account AND as_of = $as_of AND category = 'linear' AND size <> 0
),
moved AS (
    SELECT symbol, sum(f) AS q, sum(-(f * p)) AS cash_flow, count(*) AS fills FROM win GROUP BY symbol
),
realized AS (
    SELECT symbol, sum(CASE WHEN side = 'Sell' THEN cum_exit_value - cum_entry_value
                            ELSE cum_entry_value - cum_exit_value END) AS r, count(*) AS records
    FROM raw.bybit_closed_pnl
    WHERE account = $account AND order_id IN (SELECT order_id FROM win WHERE order_id IS NOT NULL)
    GROUP BY symbol
)
SELECT symbol,
       coalesce(s.q, 0) - coalesce(m.q, 0) AS q0,
       coalesce(s.b, 0) - coalesce(r.r, 0) + coalesce(m.cash_flow, 0) AS b0,
       coalesce(s.q, 0) AS q_t, coalesce(s.b, 0) AS b_t,
       coalesce(m.fills, 0) AS fills, coalesce(r.records, 0) AS records
FROM snap s FULL JOIN moved m USING (symbol) FULL JOIN realized r USING (symbol)
ORDER BY symbol
"""

_ORDER_GROSS_SQL = f"""
SELECT order_id, sum(CASE WHEN side = 'Sell' THEN cum_exit_value - cum_entry_value
                          ELSE cum_entry_value - cum_exit_value END)
FROM raw.bybit_closed_pnl
WHERE account = $account AND symbol = $symbol
  AND order_id IN (SELECT order_id FROM ({_WINDOW_FILLS}) WHERE symbol = $symbol)
GROUP BY order_id
"""

# Orders with fills on both sides of a bound: their closed-PnL record mixes inside and outside the window.
_STRADDLING_SQL = f"""
WITH win AS ({_WINDOW_FILLS})
SELECT DISTINCT x.order_id FROM raw.bybit_executions x
WHERE x.account = $account AND x.order_id IN (SELECT order_id FROM win WHERE order_id IS NOT NULL)
  AND (x.exec_time < $start OR x.exec_time > $as_of)
ORDER BY 1 LIMIT 5
"""

_SPOT_COINS_SQL = """
WITH wallet AS (
    SELECT coin, wallet_balance FROM raw.wallet_balance_snapshot
    WHERE account = $account AND as_of = $as_of AND coin <> 'USDT'
),
moved AS (
    SELECT currency AS coin, sum(change) AS change, count(*) AS rows FROM raw.bybit_transactions
    WHERE account = $account AND currency <> 'USDT' AND transaction_time >= $start AND transaction_time <= $as_of
    GROUP BY 1
)
SELECT coin, coin || 'USDT' AS symbol, coalesce(w.wallet_balance, 0) - coalesce(m.change, 0) AS q0,
       coalesce(w.wallet_balance, 0) AS q_t, coalesce(m.rows, 0) AS rows
FROM wallet w FULL JOIN moved m USING (coin)
ORDER BY coin
"""

_SPOT_MARK_SQL = """
SELECT arg_max(close, source = 'mark-price-kline') FROM raw.mark_prices
WHERE category = 'spot' AND symbol = $symbol AND interval = '60' AND ts = $bar
"""

_USDT_WALLET_SQL = """
SELECT (SELECT wallet_balance FROM raw.wallet_balance_snapshot
        WHERE account = $account AND as_of = $as_of AND coin = 'USDT') AS at_snapshot,
       coalesce(sum(change), 0) AS moved, count(*) AS rows
FROM raw.bybit_transactions
WHERE account = $account AND currency = 'USDT' AND transaction_time >= $start AND transaction_time <= $as_of
"""


def _query(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
    """``sql`` with the named parameters it uses (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$(\w+)", sql))
    return conn.execute(sql, {k: v for k, v in params.items() if k in used}).fetchall()


def _linear_openings(conn: duckdb.DuckDBPyConnection, params: dict[str, object]) -> list[OpeningPosition]:
    hedged = _query(
        conn,
        "SELECT symbol FROM raw.positions_snapshot WHERE account = $account AND as_of = $as_of "
        "AND size <> 0 AND position_idx <> 0 ORDER BY 1",
        params,
    )
    if hedged:
        raise BootstrapError(
            f"the snapshot holds hedge-mode positions ({', '.join(r[0] for r in hedged)}): out of scope "
            "(one-way mode only, DESIGN §5)"
        )
    straddling = [r[0] for r in _query(conn, _STRADDLING_SQL, params)]
    if straddling:
        raise BootstrapError(
            f"orders {', '.join(straddling)} have fills on both sides of the roll-back window "
            f"({params['start']:%Y-%m-%d %H:%M} UTC .. the snapshot): their closed-PnL records cannot be "
            "split; start the ledger on another day (HEAN_LEDGER_START)"
        )
    openings = []
    for symbol, q0, b0, q_t, b_t, fills, records in _query(conn, _LINEAR_ROLLBACK_SQL, params):
        opening = OpeningPosition("linear", symbol, q0, b0, q_t, b_t, int(fills), int(records))
        _verify_forward(conn, params, opening)
        openings.append(opening)
    return openings


def _verify_forward(conn: duckdb.DuckDBPyConnection, params: dict[str, object], opening: OpeningPosition) -> None:
    """Fold the window's fills forward from the opening with the ledger's kernel: every order's realized PnL
    must equal its closed-PnL record's gross, and the fold must land on the snapshot.

    Per order, not only in total: when the position goes flat inside the window, a wrong opening basis is
    realized by the closing order and the end state no longer shows it."""
    if (opening.qty == 0) != (opening.basis == 0) or (opening.qty * opening.basis < 0):
        raise BootstrapError(
            f"{opening.symbol}: rolling the snapshot back gives qty {opening.qty} with cost basis {opening.basis} "
            "(a position's basis has its sign and is 0 only when flat): the fills, closed-PnL records and "
            "snapshot disagree"
        )
    rows = _query(
        conn,
        f"SELECT order_id, f, p FROM ({_WINDOW_FILLS}) WHERE symbol = $symbol ORDER BY exec_time, seq, exec_id",
        {**params, "symbol": opening.symbol},
    )
    fold = fold_position_group(
        {_ACCOUNT: Position(opening.qty, opening.basis)} if opening.qty else {},
        [FILL] * len(rows),
        [_ACCOUNT] * len(rows),
        [r[1] for r in rows],
        [r[2] for r in rows],
        [Decimal(0)] * len(rows),
        [Decimal(0)] * len(rows),
    )
    ours: dict[str, Decimal] = {}
    for index, realized in zip(fold.event_index, fold.realized_pnl, strict=True):
        order_id = rows[index][0]
        ours[order_id] = ours.get(order_id, Decimal(0)) + realized
    bybit = dict(_query(conn, _ORDER_GROSS_SQL, {**params, "symbol": opening.symbol}))
    differing = sorted(o for o in set(ours) | set(bybit) if ours.get(o, Decimal(0)) != bybit.get(o, Decimal(0)))
    if differing:
        shown = ", ".join(f"{o} (ours {ours.get(o, 0)}, Bybit {bybit.get(o, 0)})" for o in differing[:3])
        raise BootstrapError(
            f"{opening.symbol}: from the rolled-back opening (qty {opening.qty}, basis {opening.basis}) the "
            f"realized PnL of {len(differing)} order(s) differs from Bybit's closed-PnL gross: {shown}; the "
            "records do not match the ledger's average cost over the window"
        )
    closing = fold.closing.get(_ACCOUNT, Position())
    if (closing.qty, closing.basis) != (opening.snapshot_qty, opening.snapshot_basis):
        raise BootstrapError(
            f"{opening.symbol}: from the rolled-back opening (qty {opening.qty}, basis {opening.basis}) the "
            f"{len(rows)} fills up to the snapshot give qty {closing.qty}, basis {closing.basis}, but Bybit's "
            f"snapshot says qty {opening.snapshot_qty}, basis {opening.snapshot_basis}"
        )


def _spot_openings(conn: duckdb.DuckDBPyConnection, params: dict[str, object], day: date) -> list[OpeningPosition]:
    bar = day_start(day) - timedelta(hours=1)
    openings = []
    for _coin, symbol, q0, q_t, rows in _query(conn, _SPOT_COINS_SQL, params):
        if q0 == 0:
            continue
        mark = conn.execute(_SPOT_MARK_SQL, {"symbol": symbol, "bar": bar}).fetchone()
        if not mark or mark[0] is None:
            raise MissingMarkError(day - timedelta(days=1), [("spot", symbol)])
        openings.append(OpeningPosition("spot", symbol, q0, q0 * mark[0], q_t, q_t * mark[0], int(rows), 0))
    return openings


def bootstrap_opening(conn: duckdb.DuckDBPyConnection, day: date, account: str) -> Bootstrap | None:
    """The account at ``day`` 00:00 UTC from the first snapshot since then; None when there is none."""
    as_of = snapshot_instant(conn, account, day)
    if as_of is None:
        return None
    params: dict[str, object] = {"account": account, "as_of": as_of, "start": day_start(day)}
    positions = _linear_openings(conn, params) + _spot_openings(conn, params, day)
    at_snapshot, moved, rows = _query(conn, _USDT_WALLET_SQL, params)[0]
    from_wallet = None if at_snapshot is None else at_snapshot - moved
    return Bootstrap(day, as_of, tuple(positions), at_snapshot, from_wallet, int(rows))
