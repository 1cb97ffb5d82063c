"""Properties of the average-entry fold over random fills and split events (DESIGN.md §5)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hean_pipelines.accounting.average_cost import (
    FILL,
    FUNDING,
    POSITION_EVENT,
    GroupFold,
    Position,
    apply_fill,
    fold_position_group,
)

D = Decimal
ZERO = D(0)
PROCESSES = ["p0", "p1", "p2", "p3"]


@dataclass(frozen=True)
class Event:
    ts: int
    seq: int
    exec_id: str
    kind: int
    owner: str | None
    qty: Decimal
    price: Decimal
    fee: Decimal
    funding: Decimal


def scaled(lo: int, hi: int, exponent: int) -> st.SearchStrategy[Decimal]:
    return st.integers(lo, hi).map(lambda n: D(n).scaleb(exponent))


qtys = st.one_of(scaled(-3000, 3000, -3), scaled(-9, 9, 0), scaled(-(10**9), 10**9, -8))
prices = st.one_of(scaled(1, 10**7, -2), scaled(1, 10**9, -8), scaled(1, 10**5, 0))
cash = scaled(-(10**9), 10**9, -8)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Position], list[Event]]:
    names = draw(st.lists(st.sampled_from(PROCESSES), min_size=1, max_size=4, unique=True))
    opening: dict[str, Position] = {}
    for name in draw(st.lists(st.sampled_from(names), unique=True)):
        q = draw(qtys)
        opening[name] = Position(q, q * draw(prices) if q else ZERO)
    n = draw(st.integers(0, 40))
    stamps = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n, unique=True))
    events = []
    for j, ts in enumerate(stamps):
        kind = draw(st.sampled_from([FILL, FILL, FILL, POSITION_EVENT, FUNDING]))
        if kind == FILL:
            event = Event(
                ts, 0, f"e{j}", FILL, draw(st.sampled_from(names)), draw(qtys), draw(prices), draw(cash), ZERO
            )
        elif kind == POSITION_EVENT:
            event = Event(ts, 0, f"e{j}", POSITION_EVENT, None, draw(qtys), draw(prices), draw(cash), ZERO)
        else:
            event = Event(ts, 0, f"e{j}", FUNDING, None, ZERO, ZERO, ZERO, draw(cash))
        events.append(event)
    return opening, events


def sort_key(e: Event) -> tuple[int, int, str]:
    return (e.ts, e.seq, e.exec_id)


def fold(opening: dict[str, Position], events: list[Event]) -> GroupFold:
    return fold_position_group(
        opening,
        [e.kind for e in events],
        [e.owner for e in events],
        [e.qty for e in events],
        [e.price for e in events],
        [e.fee for e in events],
        [e.funding for e in events],
    )


def per_process_rows(result: GroupFold) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for r, pid in enumerate(result.process_id):
        rows[pid].append(r)
    return rows


@settings(max_examples=300, deadline=None)
@given(scenarios(), prices, prices)
def test_identity_per_process_and_in_total(
    scenario: tuple[dict[str, Position], list[Event]], mark_open: Decimal, mark_close: Decimal
) -> None:
    opening, events = scenario
    events = sorted(events, key=sort_key)
    result = fold(opening, events)
    rows = per_process_rows(result)
    totals = [ZERO, ZERO]  # (left side, right side)
    for pid, closing in result.closing.items():
        start = opening.get(pid, Position())
        q, b = start.qty, start.basis
        for r in rows[pid]:  # row by row: qty and basis move exactly by the row
            assert result.qty_after[r] == q + result.qty[r]
            assert result.basis_after[r] == b + result.realized_pnl[r] - result.cash_flow[r]
            q, b = result.qty_after[r], result.basis_after[r]
        assert (q, b) == (closing.qty, closing.basis)
        realized = sum((result.realized_pnl[r] for r in rows[pid]), ZERO)
        cash_flow = sum((result.cash_flow[r] for r in rows[pid]), ZERO)
        left = realized + (closing.qty * mark_close - closing.basis) - (start.qty * mark_open - start.basis)
        right = cash_flow + closing.qty * mark_close - start.qty * mark_open
        assert left == right, pid
        totals[0] += left
        totals[1] += right
    assert totals[0] == totals[1]
    assert set(result.closing) == set(opening) | {e.owner for e in events if e.owner is not None}


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_processes_add_up_to_the_account_position(scenario: tuple[dict[str, Position], list[Event]]) -> None:
    opening, events = scenario
    events = sorted(events, key=sort_key)
    result = fold(opening, events)
    account = Position(sum((p.qty for p in opening.values()), ZERO), sum((p.basis for p in opening.values()), ZERO))
    account_cash = ZERO
    skipped = []
    for i, e in enumerate(events):
        if e.kind == FUNDING:
            if not account.qty:
                skipped.append(i)
            continue
        if e.kind == POSITION_EVENT and not account.qty:
            skipped.append(i)
            continue
        account, cash_flow, _ = apply_fill(account, e.qty, e.price)  # the account's own fill
        account_cash += cash_flow
    assert result.unsplittable == [(i, "no_position_to_split") for i in skipped]
    assert sum((p.qty for p in result.closing.values()), ZERO) == account.qty
    assert sum(result.cash_flow, ZERO) == account_cash


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_split_sums_to_its_source(scenario: tuple[dict[str, Position], list[Event]]) -> None:
    opening, events = scenario
    events = sorted(events, key=sort_key)
    result = fold(opening, events)
    by_event: dict[int, list[int]] = defaultdict(list)
    for r, i in enumerate(result.event_index):
        by_event[i].append(r)
    assert result.event_index == sorted(result.event_index)
    unsplittable = {i for i, _ in result.unsplittable}
    positions = {pid: p.qty for pid, p in opening.items()}
    for i, e in enumerate(events):
        rs = by_event.get(i, [])
        if e.kind == FILL:
            assert len(rs) == 1
            r = rs[0]
            assert (result.process_id[r], result.qty[r], result.fee[r], result.funding[r]) == (
                e.owner,
                e.qty,
                e.fee,
                0,
            )
        elif i in unsplittable:
            assert rs == []
            assert sum(positions.values(), ZERO) == 0
        else:
            holders = sorted(pid for pid, q in positions.items() if q)
            assert [result.process_id[r] for r in rs] == holders  # the holders at that instant, by id
            if e.kind == POSITION_EVENT:
                assert sum((result.qty[r] for r in rs), ZERO) == e.qty
                assert sum((result.fee[r] for r in rs), ZERO) == e.fee
                assert all(result.funding[r] == 0 for r in rs)
            else:
                assert sum((result.funding[r] for r in rs), ZERO) == e.funding
                assert all(result.qty[r] == 0 and result.fee[r] == 0 and result.cash_flow[r] == 0 for r in rs)
        for r in rs:
            positions[result.process_id[r]] = result.qty_after[r]


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.data())
def test_generation_order_does_not_matter_once_sorted(
    scenario: tuple[dict[str, Position], list[Event]], data: st.DataObject
) -> None:
    opening, events = scenario  # distinct timestamps
    shuffled = data.draw(st.permutations(events))
    a = fold(opening, sorted(events, key=sort_key))
    b = fold(opening, sorted(shuffled, key=sort_key))
    assert a == b


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_fills_only_fold_equals_apply_fill_one_by_one(scenario: tuple[dict[str, Position], list[Event]]) -> None:
    opening, events = scenario
    fills = [e for e in sorted(events, key=sort_key) if e.kind == FILL]
    result = fold(opening, fills)
    positions = dict(opening)
    for r, e in enumerate(fills):
        assert e.owner is not None
        new, cash_flow, realized = apply_fill(positions.get(e.owner, Position()), e.qty, e.price)
        positions[e.owner] = new
        assert (result.cash_flow[r], result.realized_pnl[r]) == (cash_flow, realized)
        assert (result.qty_after[r], result.basis_after[r]) == (new.qty, new.basis)
    assert result.closing == dict(sorted(positions.items()))


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_results_are_exact_decimals(scenario: tuple[dict[str, Position], list[Event]]) -> None:
    opening, events = scenario
    result = fold(opening, sorted(events, key=sort_key))
    columns = [
        result.qty,
        result.price,
        result.cash_flow,
        result.realized_pnl,
        result.fee,
        result.funding,
        result.qty_after,
        result.basis_after,
    ]
    for column in columns:
        assert len(column) == len(result.event_index)
        assert all(type(v) is Decimal and v.is_finite() for v in column)
    assert all(type(i) is int for i in result.event_index)
    assert all(type(p) is str for p in result.process_id)
    for position in result.closing.values():
        assert type(position.qty) is Decimal and type(position.basis) is Decimal
