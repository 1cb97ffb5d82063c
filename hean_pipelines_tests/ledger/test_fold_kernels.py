"""The ledger's three folds of a day give the same numbers: compiled (numba, int64), scaled (Python ints) and
Decimal (the reference); and the compiled one never wraps: a value that might not fit 64 bits stops it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hean_pipelines.accounting.average_cost import FILL, FUNDING, POSITION_EVENT, Position, UnrepresentableError
from hean_pipelines.accounting.compiled import _round_ratio
from hean_pipelines.ledger import build
from hean_pipelines_tests.accounting.test_average_cost_properties import Event, scenarios, sort_key

D = Decimal
QTY = pa.decimal128(38, 12)
MONEY = pa.decimal128(38, 18)
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def events_table(groups: dict[str, list[Event]]) -> pa.Table:
    """The columns the fold reads, as ``classify_executions`` gives them (sorted by category, symbol, order)."""
    rows = [(symbol, e) for symbol in sorted(groups) for e in sorted(groups[symbol], key=sort_key)]
    return pa.table(
        {
            "i": pa.array(range(len(rows)), pa.int64()),
            "category": pa.array(["linear"] * len(rows), pa.string()),
            "symbol": pa.array([s for s, _ in rows], pa.string()),
            "kind": pa.array([e.kind for _, e in rows], pa.int32()),
            "owner": pa.array([e.owner if e.kind == FILL else None for _, e in rows], pa.string()),
            "signed_qty": pa.array([e.qty for _, e in rows], QTY),
            "price": pa.array([e.price for _, e in rows], QTY),
            "fee_cash": pa.array([e.fee for _, e in rows], MONEY),
            "funding_cash": pa.array([e.funding for _, e in rows], MONEY),
        }
    )


def _plain(fold: build._DayFold) -> dict[str, Any]:
    """A fold's numbers as values (Decimal equality ignores the scale each kernel happens to use)."""
    split = fold.split.to_pylist()
    return {
        "realized": fold.realized.to_pylist(),
        "cash_flow": fold.cash_flow.to_pylist(),
        "account_realized": fold.account_realized.to_pylist(),
        "split": sorted(
            (
                r["i"],
                r["process_id"],
                r["qty"],
                r["price"],
                r["cash_flow"],
                r["realized_pnl"],
                r["fee"],
                r["funding"],
            )
            for r in split
        ),
        "closing": sorted(fold.closing_rows),
        "account_closing": sorted(fold.account_closing_rows),
        "unsplittable": sorted(fold.unsplittable),
    }


def all_three(
    events: pa.Table, opening: dict[build.GroupKey, dict[str, Position]], account: dict[build.GroupKey, Position]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    slices = build._group_slices(events)
    keys = sorted(set(slices) | set(opening) | set(account))
    exact = _plain(build._fold_day_exact(events, slices, keys, opening, account))
    try:
        scales = build._day_scales(events, opening, account)
    except UnrepresentableError:
        assume(False)  # more decimal places than the scaled kernels hold: only the Decimal kernel runs
    scaled = _plain(build._fold_day_scaled(events, scales, slices, keys, opening, account))
    try:
        compiled = _plain(build._fold_day_compiled(events, scales, slices, keys, opening, account))
    except build._CompiledOverflowError:
        compiled = scaled  # a value might not fit 64 bits: _fold_day runs the scaled kernel instead
    return compiled, scaled, exact


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(scenarios(), scenarios())
def test_compiled_scaled_and_decimal_folds_agree(
    btc: tuple[dict[str, Position], list[Event]], eth: tuple[dict[str, Position], list[Event]]
) -> None:
    (btc_open, btc_events), (eth_open, eth_events) = btc, eth
    events = events_table({"BTCUSDT": btc_events, "ETHUSDT": eth_events})
    opening = {("linear", "BTCUSDT"): btc_open, ("linear", "ETHUSDT"): eth_open}
    opening = {k: v for k, v in opening.items() if v}
    # The account's own opening position is the processes' sum (that is what the ledger carries over).
    account = {
        key: Position(sum((p.qty for p in group.values()), D(0)), sum((p.basis for p in group.values()), D(0)))
        for key, group in opening.items()
    }
    account = {k: v for k, v in account.items() if v.qty}
    compiled, scaled, exact = all_three(events, opening, account)
    assert compiled == scaled == exact


@st.composite
def everyday_scenarios(draw: st.DrawFn) -> tuple[dict[str, Position], list[Event]]:
    """Fills at the bench's scales (tick 0.1 / step 0.001), many partial closes, funding and a rare ADL."""
    names = ["p0", "p1", "p2"]
    events = []
    n = draw(st.integers(1, 200))
    price = draw(st.integers(500_000, 1_500_000))
    for j in range(n):
        price += draw(st.integers(-20, 20))
        kind = draw(st.sampled_from([FILL] * 20 + [FUNDING, POSITION_EVENT]))
        qty = D(draw(st.integers(-500, 500))).scaleb(-3)
        fee = D(draw(st.integers(-(10**6), 10**6))).scaleb(-8)
        if kind == FUNDING:
            events.append(Event(j, j, f"e{j:04d}", FUNDING, None, D(0), D(0), D(0), fee))
        else:
            owner = draw(st.sampled_from(names)) if kind == FILL else None
            events.append(Event(j, j, f"e{j:04d}", kind, owner, qty, D(price).scaleb(-1), fee, D(0)))
    return {}, events


@settings(max_examples=100, deadline=None)
@given(everyday_scenarios())
def test_the_kernels_agree_on_everyday_fills(scenario: tuple[dict[str, Position], list[Event]]) -> None:
    _, events = scenario
    compiled, scaled, exact = all_three(events_table({"BTCUSDT": events}), {}, {})
    assert compiled == scaled == exact


def test_a_value_beyond_64_bits_stops_the_compiled_fold_and_the_day_still_folds_exactly() -> None:
    # 10**6 at 9 x 10**6: qty units of 10**-8 (the money quantum needs qty_scale 8 at price_scale 0), so the
    # cash flow is 9 x 10**20 units, past 2**63: the compiled kernel must stop, not wrap.
    events = events_table(
        {
            "BTCUSDT": [
                Event(1, 1, "a", FILL, "p0", D(10**6), D(9 * 10**6), D(-1), D(0)),
                Event(2, 2, "b", FILL, "p0", D(-(10**5)), D(9 * 10**6 + 1), D(-1), D(0)),
            ]
        }
    )
    slices = build._group_slices(events)
    keys = sorted(slices)
    scales = build._day_scales(events, {}, {})
    with pytest.raises(build._CompiledOverflowError):
        build._fold_day_compiled(events, scales, slices, keys, {}, {})
    folded = _plain(build._fold_day(events, {}, {}))
    assert folded == _plain(build._fold_day_exact(events, slices, keys, {}, {}))
    assert folded["realized"] == [D(0), D(10**5)]  # 10**5 closed 1 above the entry


def test_a_large_position_partly_closed_needs_more_than_64_bits_in_the_middle_only() -> None:
    # basis x closed qty is about 10**15 x 10**9 units here: beyond 64 bits, but the rounded quotient is
    # exact (float estimate + exact remainder), so the compiled kernel does not fall back.
    events = events_table(
        {
            "BTCUSDT": [
                Event(1, 1, "a", FILL, "p0", D("100.0000001"), D("100000.1"), D(0), D(0)),
                Event(2, 2, "b", FILL, "p0", D("-33.3333333"), D("100001.3"), D(0), D(0)),
                Event(3, 3, "c", FILL, "p0", D("-0.0000007"), D("99999.9"), D(0), D(0)),
            ]
        }
    )
    slices = build._group_slices(events)
    keys = sorted(slices)
    scales = build._day_scales(events, {}, {})
    compiled = _plain(build._fold_day_compiled(events, scales, slices, keys, {}, {}))
    assert compiled == _plain(build._fold_day_exact(events, slices, keys, {}, {}))


@settings(max_examples=2000, deadline=None)
@given(
    st.integers(0, 2**62),
    st.integers(0, 2**62),
    st.integers(1, 2**57),
)
def test_round_ratio_is_exact_or_refuses(m: int, a: int, d: int) -> None:
    whole, ok = _round_ratio(m, a, d)
    if ok:
        assert whole == (2 * m * a + d) // (2 * d)
    else:
        assert m * a / d > 2**52  # it only refuses quotients near the limit of a float's exact integers


def test_round_ratio_on_products_far_beyond_64_bits() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20_000):
        d = int(rng.integers(1, 2**40))
        m = int(rng.integers(0, 2**62))
        a = int(rng.integers(0, 2**62)) >> int(rng.integers(0, 62))
        whole, ok = _round_ratio(m, a, d)
        if ok:
            assert whole == (2 * m * a + d) // (2 * d), (m, a, d)
