"""Build one day of the ledger: classify (SQL), fold positions (the kernel), book entries (SQL).

Per day D and account: executions of D are classified set-based; the in-scope ones run through the
average-cost kernel per (category, symbol) group, starting from D-1's closing positions; the fold's
rows become ledger entries by one set-based statement; transaction-log rows are mapped through the
explicit type table. The caller owns the transaction: a day is deleted and rebuilt inside it.

Speed (bench/ledger_bench.py): the kernel runs over scaled integers (``fold_group_scaled``: the day's
quantities and prices as exact integers of their smallest common decimal scale, read straight from the
Arrow decimal buffers), folding the per-process and the account position in one pass; its per-event
results go back to DuckDB as Arrow columns of the day's events, so a fill's entries are a projection
of that table (no join, no GROUP BY unless a spot fill has a base-coin fee event). A day whose amounts
do not fit that (more than 18 decimal places of money, values beyond 64-bit units) runs the Decimal
kernel (``fold_position_group``) instead; both give the same numbers, checked by the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hean_pipelines.accounting.average_cost import (
    FILL,
    FUNDING,
    NO_POSITION_TO_SPLIT,
    POSITION_EVENT,
    Position,
    ScaledGroupFold,
    UnrepresentableError,
    _split_event,
    fold_group_scaled,
    fold_position_group,
    to_units,
)
from hean_pipelines.accounting.compiled import DONE, POSITION_EVENT_AT, fold_events
from hean_pipelines.accounting.rounding import EXACT_CONTEXT
from hean_pipelines.ledger.balances import balance_before
from hean_pipelines.ledger.bootstrap import Bootstrap
from hean_pipelines.ledger.errors import (
    BeforeLedgerStartError,
    InexactAmountError,
    LedgerGapError,
    MissingMarkError,
)
from hean_pipelines.ledger.events import classify_executions, query_arrow
from hean_pipelines.ledger.schema import ATTRIBUTION_DDL, LEDGER_DDL, OLD_KEYS_SQL, ensure_ledger_schema
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
    "ledger.openings",
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


def _written(relation: duckdb.DuckDBPyRelation) -> int:
    """The row count an INSERT run by ``query_arrow`` reported."""
    rows = relation.fetchall()
    return int(rows[0][0]) if rows else 0


_LEDGER_TABLES = tuple(
    f"{schema}.{table}"
    for schema, table in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)", LEDGER_DDL + ATTRIBUTION_DDL)
)


def ensure_ledger_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """``ensure_ledger_schema``, at the price of one catalog query when every table already exists (and
    none still has a key the schema dropped)."""
    found = conn.execute(
        "SELECT (SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary "
        "AND schema_name || '.' || table_name IN (SELECT unnest($names))), "
        f"(SELECT count(*) FROM ({OLD_KEYS_SQL}))",
        {"names": list(_LEDGER_TABLES)},
    ).fetchone()
    if not found or found[0] != len(_LEDGER_TABLES) or found[1]:
        ensure_ledger_schema(conn)


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


def _group_slices(events: pa.Table) -> dict[GroupKey, tuple[int, int]]:
    """(category, symbol) -> [start, stop) of its events: the events come sorted by category, symbol."""
    n = events.num_rows
    if not n:
        return {}
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for name in ("category", "symbol"):
        codes = pc.dictionary_encode(events.column(name).combine_chunks()).indices
        values = codes.fill_null(-1).to_numpy(zero_copy_only=False)
        change[1:] |= values[1:] != values[:-1]
    starts = np.flatnonzero(change)
    stops = [*starts[1:].tolist(), n]
    categories = events.column("category").take(pa.array(starts)).to_pylist()
    symbols = events.column("symbol").take(pa.array(starts)).to_pylist()
    return {
        (category, symbol): (start, stop)
        for category, symbol, start, stop in zip(categories, symbols, starts.tolist(), stops, strict=True)
    }


def _unscaled(column: pa.ChunkedArray) -> np.ndarray | None:
    """The unscaled integers of a decimal128 column as int64 (None if one is null or does not fit)."""
    array = column.combine_chunks()
    if not len(array):
        return np.zeros(0, dtype=np.int64)
    if array.null_count:
        return None
    words = np.frombuffer(array.buffers()[1], dtype=np.int64, count=2 * (array.offset + len(array)))
    low, high = words[2 * array.offset :: 2], words[2 * array.offset + 1 :: 2]
    if not np.array_equal(high, low >> 63):
        return None
    return np.ascontiguousarray(low)


def _decimals_used(units: np.ndarray, scale: int) -> int:
    """The fewest decimal places that hold every value (``units`` are integers of 10**-scale)."""
    for zeros in range(scale, 0, -1):
        if not (units % (10**zeros)).any():
            return scale - zeros
    return scale


def _decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if not value or exponent >= 0:
        return 0
    return -int(value.normalize(EXACT_CONTEXT).as_tuple().exponent)


def _units_array(values: Sequence[int], scale: int, what: str) -> pa.Array:
    """decimal128(38, scale) from integers of 10**-scale, exactly; the value must fit DECIMAL(38,18)."""
    try:
        units = np.array(values, dtype=np.int64)
    except OverflowError:
        limit = 10 ** (38 - 18 + scale)
        if any(not -limit < v < limit for v in values):
            raise InexactAmountError(f"{what} does not fit {MONEY} exactly") from None
        data = b"".join(v.to_bytes(16, "little", signed=True) for v in values)
        return pa.Array.from_buffers(pa.decimal128(38, scale), len(values), [None, pa.py_buffer(data)])
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(units), [None, pa.py_buffer(words)])


@dataclass
class _DayFold:
    """The kernel's output for a day: per-event columns, split rows, closing positions."""

    realized: pa.Array
    cash_flow: pa.Array
    account_realized: pa.Array
    split: pa.Table
    closing_rows: list[tuple[Any, ...]] = field(default_factory=list)
    account_closing_rows: list[tuple[Any, ...]] = field(default_factory=list)
    unsplittable: list[tuple[int, str]] = field(default_factory=list)


def _split_table(
    index: list[int],
    process_id: list[str],
    qty: list[Decimal],
    price: list[Decimal],
    cash_flow: list[Decimal],
    realized: list[Decimal],
    fee: list[Decimal],
    funding: list[Decimal],
) -> pa.Table:
    return pa.table(
        {
            "i": pa.array(index, type=pa.int64()),
            "process_id": pa.array(process_id, type=pa.string()),
            "qty": _exact(qty, QTY, "a split quantity"),
            "price": _exact(price, QTY, "a price"),
            "cash_flow": _exact(cash_flow, MONEY, "a cash flow"),
            "realized_pnl": _exact(realized, MONEY, "a realized PnL"),
            "fee": _exact(fee, MONEY, "a fee"),
            "funding": _exact(funding, MONEY, "a funding amount"),
        }
    )


def _fold_day(
    events: pa.Table,
    opening: dict[GroupKey, dict[str, Position]],
    account_opening: dict[GroupKey, Position],
) -> _DayFold:
    """Fold every position group of the day: with the compiled kernel over int64 when the day's amounts
    allow it (they nearly always do); when a value might not fit 64 bits, with the same fold over Python's
    unbounded ints; when the amounts need more decimal places than the scaled kernels hold, with the
    Decimal kernel. All give the same numbers (the tests compare them)."""
    slices = _group_slices(events)
    keys = sorted(set(slices) | set(opening) | set(account_opening))
    try:
        scales = _day_scales(events, opening, account_opening)
        try:
            return _fold_day_compiled(events, scales, slices, keys, opening, account_opening)
        except _CompiledOverflowError:
            return _fold_day_scaled(events, scales, slices, keys, opening, account_opening)
    except UnrepresentableError:
        return _fold_day_exact(events, slices, keys, opening, account_opening)


@dataclass(frozen=True)
class _DayScales:
    """The day's quantities and prices as int64 units of the smallest scales that hold them exactly."""

    kinds: np.ndarray
    qty_units: np.ndarray
    price_units: np.ndarray
    qty_scale: int
    price_scale: int

    @property
    def money_scale(self) -> int:
        return self.qty_scale + self.price_scale


def _day_scales(
    events: pa.Table, opening: dict[GroupKey, dict[str, Position]], account_opening: dict[GroupKey, Position]
) -> _DayScales:
    qty_column, price_column = events.column("signed_qty"), events.column("price")
    qty_units, price_units = _unscaled(qty_column), _unscaled(price_column)
    if qty_units is None or price_units is None:
        raise UnrepresentableError("an amount of the day does not fit 64-bit units")
    qty_source_scale = qty_column.type.scale
    price_source_scale = price_column.type.scale
    kinds_np = events.column("kind").to_numpy()
    price_scale = _decimals_used(price_units, price_source_scale)
    opening_positions = [p for group in opening.values() for p in group.values()] + list(account_opening.values())
    qty_scale = max(
        _decimals_used(qty_units, qty_source_scale),
        8 - price_scale,
        8 if (kinds_np == POSITION_EVENT).any() else 0,
        *(_decimal_places(p.qty) for p in opening_positions),
    )
    basis_places = max((_decimal_places(p.basis) for p in opening_positions), default=0)
    qty_scale = max(qty_scale, basis_places - price_scale)
    money_scale = qty_scale + price_scale
    if qty_scale > qty_source_scale or price_scale > price_source_scale or money_scale > 18:
        raise UnrepresentableError("the day's amounts need more decimal places than the scaled kernel holds")
    return _DayScales(
        kinds=kinds_np,
        qty_units=qty_units // 10 ** (qty_source_scale - qty_scale),
        price_units=price_units // 10 ** (price_source_scale - price_scale),
        qty_scale=qty_scale,
        price_scale=price_scale,
    )


def _fold_day_scaled(
    events: pa.Table,
    scales: _DayScales,
    slices: dict[GroupKey, tuple[int, int]],
    keys: list[GroupKey],
    opening: dict[GroupKey, dict[str, Position]],
    account_opening: dict[GroupKey, Position],
) -> _DayFold:
    kinds_np = scales.kinds
    qty_scale, price_scale, money_scale = scales.qty_scale, scales.price_scale, scales.money_scale
    kinds: list[int] = kinds_np.tolist()
    qtys: list[int] = scales.qty_units.tolist()
    prices: list[int] = scales.price_units.tolist()
    owner_codes = pc.dictionary_encode(events.column("owner").combine_chunks())
    owners: list[int] = owner_codes.indices.fill_null(-1).to_numpy(zero_copy_only=False).tolist()
    names: list[str] = owner_codes.dictionary.to_pylist()
    split_at = np.flatnonzero(kinds_np != FILL)
    split_amounts = dict(
        zip(
            split_at.tolist(),
            zip(
                events.column("fee_cash").take(pa.array(split_at)).to_pylist(),
                events.column("funding_cash").take(pa.array(split_at)).to_pylist(),
                strict=True,
            ),
            strict=True,
        )
    )

    n = events.num_rows
    realized: list[int] = [0] * n
    cash_flow: list[int] = [0] * n
    account_realized: list[int] = [0] * n
    split_cols: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
    closing_rows: list[tuple[Any, ...]] = []
    account_closing_rows: list[tuple[Any, ...]] = []
    unsplittable: list[tuple[int, str]] = []
    for key in keys:
        start, stop = slices.get(key, (0, 0))
        group_opening = {
            pid: (to_units(p.qty, qty_scale), to_units(p.basis, money_scale)) for pid, p in opening.get(key, {}).items()
        }
        acc = account_opening.get(key, Position())
        fold = fold_group_scaled(
            group_opening,
            (to_units(acc.qty, qty_scale), to_units(acc.basis, money_scale)),
            kinds[start:stop],
            owners[start:stop],
            names,
            qtys[start:stop],
            prices[start:stop],
            {i - start: split_amounts[i] for i in split_at[(split_at >= start) & (split_at < stop)].tolist()},
            qty_scale=qty_scale,
            price_scale=price_scale,
        )
        realized[start:stop] = fold.realized
        cash_flow[start:stop] = fold.cash_flow
        account_realized[start:stop] = fold.account_realized
        split_cols[0].extend(start + i for i in fold.split_index)
        split_cols[1].extend(fold.split_process_id)
        split_cols[2].extend(fold.split_qty)
        split_cols[3].extend(fold.split_price)
        split_cols[4].extend(fold.split_cash_flow)
        split_cols[5].extend(fold.split_realized_pnl)
        split_cols[6].extend(fold.split_fee)
        split_cols[7].extend(fold.split_funding)
        unsplittable.extend((start + i, reason) for i, reason in fold.unsplittable)
        for process_id, (q, b) in fold.closing.items():
            closing_rows.append((key[0], key[1], process_id, _from_units(q, qty_scale), _from_units(b, money_scale)))
        q, b = fold.account_closing
        account_closing_rows.append((key[0], key[1], _from_units(q, qty_scale), _from_units(b, money_scale)))
    return _DayFold(
        realized=_units_array(realized, money_scale, "a realized PnL"),
        cash_flow=_units_array(cash_flow, money_scale, "a cash flow"),
        account_realized=_units_array(account_realized, money_scale, "a realized PnL"),
        split=_split_table(*split_cols),
        closing_rows=closing_rows,
        account_closing_rows=account_closing_rows,
        unsplittable=unsplittable,
    )


class _CompiledOverflowError(Exception):
    """A value of the compiled fold might not fit 64 bits: the day is folded over Python ints instead."""


def _int64_array(values: Sequence[int]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        raise _CompiledOverflowError from None


def _units_numpy(units: np.ndarray, scale: int) -> pa.Array:
    """decimal128(38, scale) from int64 integers of 10**-scale, exactly (sign-extended to 128 bits)."""
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(units), [None, pa.py_buffer(words)])


def _fold_day_compiled(
    events: pa.Table,
    scales: _DayScales,
    slices: dict[GroupKey, tuple[int, int]],
    keys: list[GroupKey],
    opening: dict[GroupKey, dict[str, Position]],
    account_opening: dict[GroupKey, Position],
) -> _DayFold:
    """``_fold_day_scaled`` with the fold compiled (``accounting.compiled.fold_events``): the same numbers.

    Position events stop the compiled fold and are split here by ``_split_event`` (the scaled kernel's own
    code), then the fold resumes. Raises ``_CompiledOverflowError`` when any value might not fit an int64."""
    qty_scale, price_scale, money_scale = scales.qty_scale, scales.price_scale, scales.money_scale
    kinds = scales.kinds
    n = events.num_rows
    funding_units = _unscaled(events.column("funding_cash"))
    if funding_units is None:
        raise _CompiledOverflowError
    funding_source_scale = events.column("funding_cash").type.scale
    funding_scale = max(8, _decimals_used(funding_units, funding_source_scale))
    fundings = funding_units // 10 ** (funding_source_scale - funding_scale)

    # Slots: every process of the day (fill owners and opening positions), in process_id order.
    owner_codes = pc.dictionary_encode(events.column("owner").combine_chunks())
    day_names: list[str] = owner_codes.dictionary.to_pylist()
    names = sorted(set(day_names).union(*(group.keys() for group in opening.values())))
    slot_of = {name: j for j, name in enumerate(names)}
    code_to_slot = np.array([slot_of[name] for name in day_names] + [-1], dtype=np.int64)
    owners = code_to_slot[owner_codes.indices.fill_null(len(day_names)).to_numpy(zero_copy_only=False)]

    realized = np.zeros(n, dtype=np.int64)
    cash_flow = np.zeros(n, dtype=np.int64)
    account_realized = np.zeros(n, dtype=np.int64)
    n_funding = int((kinds == FUNDING).sum())
    split_index = np.zeros(n_funding * len(names), dtype=np.int64)
    split_slot = np.zeros(n_funding * len(names), dtype=np.int64)
    split_funding = np.zeros(n_funding * len(names), dtype=np.int64)
    counts = np.zeros(1, dtype=np.int64)
    unsplittable_mask = np.zeros(n, dtype=np.bool_)
    events_split = ScaledGroupFold()  # position events' rows, from the Decimal split code
    closing_rows: list[tuple[Any, ...]] = []
    account_closing_rows: list[tuple[Any, ...]] = []
    qm = 10 ** (money_scale - 8)
    for key in keys:
        start, stop = slices.get(key, (0, 0))
        group_opening = opening.get(key, {})
        pos_q = _int64_array([to_units(group_opening[m].qty, qty_scale) if m in group_opening else 0 for m in names])
        pos_b = _int64_array(
            [to_units(group_opening[m].basis, money_scale) if m in group_opening else 0 for m in names]
        )
        if ((pos_q == 0) & (pos_b != 0)).any():
            raise _CompiledOverflowError  # the scaled kernel names the inconsistent opening position
        touched = np.array([m in group_opening for m in names], dtype=np.bool_)
        acc = account_opening.get(key, Position())
        account = _int64_array([to_units(acc.qty, qty_scale), to_units(acc.basis, money_scale)])
        if not account[0] and account[1]:
            raise _CompiledOverflowError
        while True:
            status, at = fold_events(
                kinds, owners, scales.qty_units, scales.price_units, fundings, start, stop,
                pos_q, pos_b, touched, account, qm, 10 ** (funding_scale - 8),
                realized, cash_flow, account_realized, split_index, split_slot, split_funding, counts,
                unsplittable_mask,
            )  # fmt: skip
            if status == DONE:
                break
            if status != POSITION_EVENT_AT:
                raise _CompiledOverflowError
            q_list, b_list = pos_q.tolist(), pos_b.tolist()
            fee = events.column("fee_cash")[at].as_py()
            _split_event(
                events_split, at, int(scales.qty_units[at]), int(scales.price_units[at]), fee, names,
                q_list, b_list, qty_scale, price_scale,
            )  # fmt: skip
            pos_q[:] = _int64_array(q_list)
            pos_b[:] = _int64_array(b_list)
            start = at + 1
        for j in np.flatnonzero(touched).tolist():
            qty, basis = _from_units(int(pos_q[j]), qty_scale), _from_units(int(pos_b[j]), money_scale)
            closing_rows.append((key[0], key[1], names[j], qty, basis))
        account_closing_rows.append(
            (key[0], key[1], _from_units(int(account[0]), qty_scale), _from_units(int(account[1]), money_scale))
        )

    used = int(counts[0])
    at_rows = split_index[:used]
    zeros = np.zeros(used, dtype=np.int64)
    funding_split = pa.table(
        {
            "i": pa.array(at_rows, type=pa.int64()),
            "process_id": pa.array(names, type=pa.string()).take(pa.array(split_slot[:used])),
            "qty": _units_numpy(zeros, QTY.scale),
            "price": events.column("price").take(pa.array(at_rows)).cast(QTY),
            "cash_flow": _units_numpy(zeros, MONEY.scale),
            "realized_pnl": _units_numpy(zeros, MONEY.scale),
            "fee": _units_numpy(zeros, MONEY.scale),
            "funding": _cast_exact(_units_numpy(split_funding[:used], funding_scale), MONEY, "a funding amount"),
        }
    )
    split = funding_split
    if events_split.split_index:
        position_split = _split_table(
            events_split.split_index,
            events_split.split_process_id,
            events_split.split_qty,
            events_split.split_price,
            events_split.split_cash_flow,
            events_split.split_realized_pnl,
            events_split.split_fee,
            events_split.split_funding,
        )
        split = pa.concat_tables([funding_split, position_split])
    unsplittable = sorted(
        [(i, NO_POSITION_TO_SPLIT) for i in np.flatnonzero(unsplittable_mask).tolist()] + events_split.unsplittable
    )
    return _DayFold(
        realized=_units_numpy(realized, money_scale),
        cash_flow=_units_numpy(cash_flow, money_scale),
        account_realized=_units_numpy(account_realized, money_scale),
        split=split,
        closing_rows=closing_rows,
        account_closing_rows=account_closing_rows,
        unsplittable=unsplittable,
    )


def _cast_exact(array: pa.Array, type_: pa.DataType, what: str) -> pa.Array:
    try:
        return array.cast(type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InexactAmountError(f"{what} does not fit {type_} exactly: {exc}") from exc


def _from_units(units: int, scale: int) -> Decimal:
    return Decimal(units).scaleb(-scale, context=EXACT_CONTEXT)


def _fold_day_exact(
    events: pa.Table,
    slices: dict[GroupKey, tuple[int, int]],
    keys: list[GroupKey],
    opening: dict[GroupKey, dict[str, Position]],
    account_opening: dict[GroupKey, Position],
) -> _DayFold:
    """The Decimal kernel, for days whose amounts do not fit the scaled one."""
    kinds: list[int] = events.column("kind").to_pylist()
    owners: list[str | None] = events.column("owner").to_pylist()
    qtys: list[Decimal] = events.column("signed_qty").to_pylist()
    prices: list[Decimal] = events.column("price").to_pylist()
    fees: list[Decimal] = events.column("fee_cash").to_pylist()
    fundings: list[Decimal] = events.column("funding_cash").to_pylist()

    n = len(kinds)
    zero = Decimal(0)
    realized: list[Decimal] = [zero] * n
    cash_flow: list[Decimal] = [zero] * n
    account_realized: list[Decimal] = [zero] * n
    split_cols: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
    closing_rows: list[tuple[Any, ...]] = []
    account_closing_rows: list[tuple[Any, ...]] = []
    unsplittable: list[tuple[int, str]] = []
    for key in keys:
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
        for r, event in enumerate(fold.event_index):
            i = start + event
            if kinds[i] == FILL:
                realized[i] = fold.realized_pnl[r]
                cash_flow[i] = fold.cash_flow[r]
                continue
            for column, value in zip(
                split_cols,
                (
                    i,
                    fold.process_id[r],
                    fold.qty[r],
                    fold.price[r],
                    fold.cash_flow[r],
                    fold.realized_pnl[r],
                    fold.fee[r],
                    fold.funding[r],
                ),
                strict=True,
            ):
                column.append(value)
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
            [zero] * len(trade_idx),
        )
        for r, event in enumerate(account_fold.event_index):
            account_realized[trade_idx[event]] = account_fold.realized_pnl[r]
        final = account_fold.closing.get(ACCOUNT_OWNER, Position())
        account_closing_rows.append((key[0], key[1], final.qty, final.basis))
    return _DayFold(
        realized=_exact(realized, MONEY, "a realized PnL"),
        cash_flow=_exact(cash_flow, MONEY, "a cash flow"),
        account_realized=_exact(account_realized, MONEY, "a realized PnL"),
        split=_split_table(*split_cols),
        closing_rows=closing_rows,
        account_closing_rows=account_closing_rows,
        unsplittable=unsplittable,
    )


# The day's rows go in as the day's events come (Bybit's order per symbol; DuckDB keeps insertion order, so a
# rebuild writes the same rows in the same order): no ORDER BY on these big inserts. Sorting every row by its
# key bought nothing (readers filter by date, the key's uniqueness is the check's job, checksums ignore row
# order) and cost a sort of 100 000 strings per day and table at 10M executions (bench/README.md).
#
# Fills: one realized_pnl row per (exec_id, owner) and one fee row per execution, straight from the
# day's events and the kernel's columns. A spot fill whose fee is paid in the base coin has a second
# event (sub = 1) for that coin: its rows are summed into the fill's realized_pnl row.
_FILL_REALIZED_SQL = f"""
SELECT exec_id, 'realized_pnl', owner, $day, exec_time, $account, category, symbol, '{REPORTING_CURRENCY}',
       CAST(realized AS DECIMAL(38,18)), signed_qty, price, CAST(cash_flow AS DECIMAL(38,18)),
       'raw.bybit_executions', split_rule
FROM _events WHERE kind = {FILL}
"""
_FILL_REALIZED_GROUPED_SQL = f"""
SELECT exec_id, 'realized_pnl', owner, $day, any_value(exec_time), $account, any_value(category),
       any_value(symbol), '{REPORTING_CURRENCY}', CAST(sum(realized) AS DECIMAL(38,18)), sum(signed_qty),
       any_value(price), CAST(sum(cash_flow) AS DECIMAL(38,18)), 'raw.bybit_executions', any_value(split_rule)
FROM _events WHERE kind = {FILL}
GROUP BY exec_id, owner
"""
_FILL_FEES_SQL = f"""
SELECT exec_id, 'fee', owner, $day, exec_time, $account, category, symbol, '{REPORTING_CURRENCY}', fee_cash,
       NULL, NULL, NULL, 'raw.bybit_executions', split_rule
FROM _events WHERE kind = {FILL} AND sub = 0
"""

# Split events (position events, funding): one row per holder, from the kernel's split rows (which
# carry their event's columns). They go into the same INSERT as the fills' rows: a second, small INSERT
# into ledger.entries in the same transaction made DuckDB give up writing the table's new row groups
# straight to the file and log every row of the backfill to the WAL at commit instead (bench/README.md).
_SPLIT_REALIZED_SQL = f"""
SELECT exec_id, 'realized_pnl', process_id, $day, exec_time, $account, category, symbol, '{REPORTING_CURRENCY}',
       realized_pnl, qty, price, cash_flow, 'raw.bybit_executions', split_rule
FROM _split WHERE kind <> {FUNDING}
"""
_SPLIT_REALIZED_GROUPED_SQL = f"""
SELECT exec_id, 'realized_pnl', process_id, $day, any_value(exec_time), $account, any_value(category),
       any_value(symbol), '{REPORTING_CURRENCY}', sum(realized_pnl), sum(qty), any_value(price),
       sum(cash_flow), 'raw.bybit_executions', any_value(split_rule)
FROM _split WHERE kind <> {FUNDING}
GROUP BY exec_id, process_id
"""
_SPLIT_FEES_AND_FUNDING_SQL = f"""
SELECT exec_id, 'fee', process_id, $day, exec_time, $account, category, symbol,
       '{REPORTING_CURRENCY}', fee, NULL, NULL, NULL, 'raw.bybit_executions', split_rule
FROM _split WHERE kind <> {FUNDING} AND sub = 0
UNION ALL
SELECT exec_id, 'funding', process_id, $day, exec_time, $account, category, symbol,
       '{REPORTING_CURRENCY}', funding, NULL, NULL, NULL, 'raw.bybit_executions', split_rule
FROM _split WHERE kind = {FUNDING}
"""
# The transaction log's rewards and costs: part of the day's one INSERT into ledger.entries (above), from
# the ``_tx_classified`` that ``_TRANSACTIONS_SQL`` fills.
_TX_ENTRIES_SQL = f"""
SELECT tx_key, CASE mapped WHEN 'reward' THEN 'reward' ELSE 'fee' END, '{UNATTRIBUTED}', $day, transaction_time,
       $account, category, symbol, currency, change, NULL, NULL, NULL, 'raw.bybit_transactions', 'unattributed'
FROM _tx_classified WHERE quarantine_reason IS NULL AND mapped IN ('reward', 'cost')
"""

_SPLIT_EVENT_COLUMNS = ("exec_id", "exec_time", "category", "symbol", "split_rule", "kind", "sub")

_ACCOUNT_FILLS_SQL = f"""
INSERT INTO ledger.account_fills
SELECT exec_id, $day, $account, symbol, order_id, signed_qty, price, CAST(account_realized AS DECIMAL(38,18))
FROM _events WHERE kind <> {FUNDING}
"""
_ACCOUNT_FILLS_GROUPED_SQL = f"""
INSERT INTO ledger.account_fills
SELECT exec_id, $day, $account, any_value(symbol), any_value(order_id), sum(signed_qty),
       any_value(price) FILTER (WHERE sub = 0), CAST(sum(account_realized) AS DECIMAL(38,18))
FROM _events WHERE kind <> {FUNDING}
GROUP BY exec_id
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

INSERT INTO ledger.account_flows
SELECT tx_key, $day, transaction_time, $account, mapped, type, currency, change
FROM _tx_classified WHERE quarantine_reason IS NULL AND mapped IN ('capital_flow', 'bonus') ORDER BY tx_key;
"""


_MARKS_SQL = """CREATE OR REPLACE TEMP TABLE _marks AS
SELECT category, symbol, arg_max(close, source = 'mark-price-kline') AS close FROM raw.mark_prices
WHERE interval = '60' AND ts = $bar GROUP BY ALL"""


def _write_positions(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    account: str,
    closing_rows: list[tuple[Any, ...]],
    account_closing_rows: list[tuple[Any, ...]],
) -> int:
    bar = day_start(day) + timedelta(hours=23)
    conn.execute(_MARKS_SQL, {"bar": bar})
    closing = pa.table(
        {
            "category": pa.array([r[0] for r in closing_rows], type=pa.string()),
            "symbol": pa.array([r[1] for r in closing_rows], type=pa.string()),
            "process_id": pa.array([r[2] for r in closing_rows], type=pa.string()),
            "qty": _exact((r[3] for r in closing_rows), QTY, "a closing quantity"),
            "basis": _exact((r[4] for r in closing_rows), MONEY, "a cost basis"),
        }
    )
    account_closing = pa.table(
        {
            "category": pa.array([r[0] for r in account_closing_rows], type=pa.string()),
            "symbol": pa.array([r[1] for r in account_closing_rows], type=pa.string()),
            "qty": _exact((r[2] for r in account_closing_rows), QTY, "a closing quantity"),
            "basis": _exact((r[3] for r in account_closing_rows), MONEY, "a cost basis"),
        }
    )
    params: dict[str, date | str] = {"day": day, "account": account}
    checked = query_arrow(
        conn,
        closing,
        "_closing",
        "SELECT c.category, c.symbol, c.qty <> 0, m.close IS NULL, "
        "m.close IS NOT NULL AND c.qty * m.close <> CAST(c.qty * m.close AS DECIMAL(38,18)) "
        "FROM _closing c LEFT JOIN _marks m USING (category, symbol)",
        params,
    ).fetchall()
    missing = sorted({(str(c), str(s)) for c, s, is_open, no_mark, _ in checked if is_open and no_mark})
    if missing:
        raise MissingMarkError(day, missing)
    inexact = sum(1 for row in checked if row[4])
    if inexact:
        raise InexactAmountError(f"{inexact} position values on {day} need more than 18 decimal places")
    query_arrow(
        conn,
        closing,
        "_closing",
        """INSERT INTO ledger.positions
        SELECT $day, $account, c.category, c.symbol, c.process_id, c.qty, c.basis, coalesce(m.close, 0),
               c.qty * coalesce(m.close, 0), c.qty * coalesce(m.close, 0) - c.basis
        FROM _closing c LEFT JOIN _marks m USING (category, symbol) ORDER BY c.symbol, c.process_id""",
        params,
    )
    query_arrow(
        conn,
        account_closing,
        "_account_closing",
        """INSERT INTO ledger.account_positions
        SELECT $day, $account, c.category, c.symbol, c.qty, c.basis, coalesce(m.close, 0),
               c.qty * coalesce(m.close, 0) - c.basis
        FROM _account_closing c LEFT JOIN _marks m USING (category, symbol) ORDER BY c.symbol""",
        params,
    )
    return len(closing_rows)


def _inserted(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    """Run an INSERT and return how many rows it wrote."""
    rows = conn.execute(sql, params).fetchall() if params else conn.execute(sql).fetchall()
    return int(rows[0][0]) if rows else 0


def _book_transactions(conn: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> tuple[int, int, bool]:
    """Map the day's transaction-log rows: (rows, quarantined, whether ``_TX_ENTRIES_SQL`` has rows to read:
    the caller books them with the day's other entries)."""
    # fetchall, not fetchone: a result left unfinished would refuse the relation statements that follow.
    found = conn.execute(
        "SELECT count(*) FROM raw.bybit_transactions WHERE day = $day AND account = $account", params
    ).fetchall()
    if not found or not found[0][0]:
        return 0, 0, False
    rows = mapping_rows()
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _tx_types AS SELECT * FROM (VALUES "
        + ", ".join("(?, ?)" for _ in rows)
        + ") t(type, disposition)",
        [value for row in rows for value in row],
    )
    counts: dict[str, int] = {}
    for statement in _TRANSACTIONS_SQL.split(";\n"):
        if statement.strip():
            written = _inserted(conn, statement, {k: v for k, v in params.items() if f"${k}" in statement})
            target = statement.split()[2]
            counts[target] = counts.get(target, 0) + written
    return counts.get("ledger.transaction_dispositions", 0), counts.get("ledger.quarantine", 0), True


def _opening_cash(conn: duckdb.DuckDBPyConnection, day: date, account: str) -> Decimal:
    return balance_before(conn, account, REPORTING_CURRENCY, day_start(day))


def _write_opening(conn: duckdb.DuckDBPyConnection, day: date, account: str, bootstrap: Bootstrap) -> None:
    """The bootstrapped account as D-1's close (marked like any close) and its provenance rows."""
    held = [p for p in bootstrap.positions if p.qty or p.basis]
    _write_positions(
        conn,
        day - timedelta(days=1),
        account,
        [(p.category, p.symbol, UNATTRIBUTED, p.qty, p.basis) for p in held],
        [(p.category, p.symbol, p.qty, p.basis) for p in held],
    )
    rows: list[tuple[Any, ...]] = [
        (
            day,
            account,
            p.category,
            p.symbol,
            bootstrap.as_of,
            p.qty,
            p.basis,
            p.snapshot_qty,
            p.snapshot_basis,
            None,
            p.fills,
            p.closed_pnl_records,
        )
        for p in bootstrap.positions
    ]
    if bootstrap.usdt_cash_from_wallet is not None:
        rows.append(
            (
                day,
                account,
                "cash",
                REPORTING_CURRENCY,
                bootstrap.as_of,
                _opening_cash(conn, day, account),
                None,
                bootstrap.usdt_cash_at_snapshot,
                None,
                bootstrap.usdt_cash_from_wallet,
                bootstrap.cash_rows,
                0,
            )
        )
    if rows:
        conn.executemany("INSERT INTO ledger.openings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def build_ledger_day(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    *,
    account: str,
    link_prefixes: dict[str, str],
    first_day: date,
    opening_source: str = "flat",
    bootstrap: Bootstrap | None = None,
) -> LedgerDayStats:
    """Replace day D of the ledger for ``account``. Run inside the caller's transaction.

    On the first day the opening state is flat, or ``bootstrap``'s (stored as D-1's closing positions,
    held by ``unattributed``, and detailed in ``ledger.openings``)."""
    ensure_ledger_tables(conn)
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
    if is_first_day:
        # Before the first day only a bootstrapped opening can exist; it is rewritten with the day.
        for table in ("ledger.positions", "ledger.account_positions"):
            conn.execute(f"DELETE FROM {table} WHERE date = ? AND account = ?", [previous, account])
        if bootstrap is not None:
            _write_opening(conn, day, account, bootstrap)
    params: dict[str, date | str] = {"day": day, "account": account}

    events_all = classify_executions(conn, day, account, link_prefixes)
    in_scope = pc.is_null(events_all.column("quarantine_reason"))
    quarantined = 0
    if events_all.column("quarantine_reason").null_count != events_all.num_rows:
        quarantined = _written(
            query_arrow(
                conn,
                events_all,
                "_events_all",
                """INSERT INTO ledger.quarantine
                SELECT 'raw.bybit_executions', exec_id, $day, $account, quarantine_reason,
                       exec_type || ' ' || category || ' ' || symbol
                FROM _events_all WHERE quarantine_reason IS NOT NULL AND sub = 0 ORDER BY exec_id""",
                params,
            )
        )
    events = events_all.filter(in_scope).drop_columns(["ev"])
    events = events.add_column(0, "i", pa.array(np.arange(events.num_rows, dtype=np.int64)))

    opening, account_opening = _opening(conn, day, account, is_first_day and bootstrap is None)
    fold = _fold_day(events, opening, account_opening)
    events = (
        events.append_column("realized", fold.realized)
        .append_column("cash_flow", fold.cash_flow)
        .append_column("account_realized", fold.account_realized)
    )
    transactions, quarantined_transactions, has_transactions = _book_transactions(conn, params)
    has_sub_events = bool(events.num_rows) and bool(pc.max(events.column("sub")).as_py())
    entry_parts = [_FILL_REALIZED_GROUPED_SQL if has_sub_events else _FILL_REALIZED_SQL, _FILL_FEES_SQL]
    if has_transactions:
        entry_parts.append(_TX_ENTRIES_SQL)
    split: pa.Table | None = None
    if fold.split.num_rows:
        taken = events.select(list(_SPLIT_EVENT_COLUMNS)).take(fold.split.column("i"))
        split = fold.split
        for name in _SPLIT_EVENT_COLUMNS:
            split = split.append_column(name, taken.column(name))
        split_sub = bool(pc.max(split.column("sub")).as_py())
        entry_parts += [_SPLIT_REALIZED_GROUPED_SQL if split_sub else _SPLIT_REALIZED_SQL, _SPLIT_FEES_AND_FUNDING_SQL]
        # Registered for this one statement (a few rows: that DuckDB keeps it until the transaction ends
        # costs nothing, unlike the day's events, which query_arrow scopes to the statement).
        conn.register("_split", split)
    try:
        entries = _written(
            query_arrow(
                conn, events, "_events", "INSERT INTO ledger.entries " + " UNION ALL ".join(entry_parts), params
            )
        )
    finally:
        if split is not None:
            conn.unregister("_split")
    query_arrow(conn, events, "_events", _ACCOUNT_FILLS_GROUPED_SQL if has_sub_events else _ACCOUNT_FILLS_SQL, params)
    if fold.unsplittable:
        at = pa.array([i for i, _ in fold.unsplittable], type=pa.int64())
        unsplittable = events.select(["exec_id", "exec_type", "symbol", "sub"]).take(at)
        unsplittable = unsplittable.append_column(
            "reason", pa.array([reason for _, reason in fold.unsplittable], type=pa.string())
        )
        quarantined += _written(
            query_arrow(
                conn,
                unsplittable,
                "_unsplittable",
                """INSERT INTO ledger.quarantine
                SELECT 'raw.bybit_executions', exec_id, $day, $account, reason, exec_type || ' ' || symbol
                FROM _unsplittable WHERE sub = 0 ORDER BY exec_id""",
                params,
            )
        )
    positions = _write_positions(conn, day, account, fold.closing_rows, fold.account_closing_rows)

    # The transaction log was booked before the entries: its rewards and costs are in the day's one INSERT.

    opening_equity = None
    if is_first_day:
        opening_equity = _opening_cash(conn, day, account)
        if bootstrap is not None:  # the positions' value at the open: spot at market, linear its unrealized
            row = conn.execute(
                "SELECT coalesce(sum(CASE WHEN category = 'spot' THEN market_value ELSE unrealized_pnl END), 0) "
                "FROM ledger.positions WHERE date = ? AND account = ?",
                [previous, account],
            ).fetchone()
            opening_equity += row[0] if row else Decimal(0)
    conn.execute(
        "INSERT INTO ledger.days VALUES (?, ?, ?, ?)",
        [day, account, opening_source if is_first_day else "previous_day", opening_equity],
    )
    return LedgerDayStats(
        day=day,
        executions=events_all.num_rows,
        quarantined_executions=quarantined,
        transactions=transactions,
        quarantined_transactions=quarantined_transactions,
        entries=entries,
        positions=positions,
        opening_source=opening_source if is_first_day else "previous_day",
    )
