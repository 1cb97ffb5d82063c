"""Bybit's average-entry accounting, against Bybit's own examples and hand-checked cases."""

from __future__ import annotations

import json
from decimal import Decimal, Inexact
from pathlib import Path

import pytest

from hean_pipelines.accounting.average_cost import (
    FILL,
    FUNDING,
    POSITION_EVENT,
    GroupFold,
    Position,
    apply_fill,
    fold_position_group,
)
from hean_pipelines.accounting.rounding import MONEY_QUANTUM, round_half_up

D = Decimal
ZERO = D(0)


def fills(events: list[tuple[str, str, str]], opening: dict[str, Position] | None = None, fee: str = "0") -> GroupFold:
    """Fold FILL events given as (owner, signed qty, price)."""
    n = len(events)
    return fold_position_group(
        opening or {},
        [FILL] * n,
        [e[0] for e in events],
        [D(e[1]) for e in events],
        [D(e[2]) for e in events],
        [D(fee)] * n,
        [ZERO] * n,
    )


def run(opening: dict[str, Position], events: list[tuple[int, str | None, str, str, str, str]]) -> GroupFold:
    """Fold events given as (kind, owner, qty, price, fee, funding)."""
    return fold_position_group(
        opening,
        [e[0] for e in events],
        [e[1] for e in events],
        [D(e[2]) for e in events],
        [D(e[3]) for e in events],
        [D(e[4]) for e in events],
        [D(e[5]) for e in events],
    )


def rows(fold: GroupFold) -> list[tuple[int, str, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    """Rows as (event, process, qty, cash_flow, realized, fee, funding, qty_after)."""
    return list(
        zip(
            fold.event_index,
            fold.process_id,
            fold.qty,
            fold.cash_flow,
            fold.realized_pnl,
            fold.fee,
            fold.funding,
            fold.qty_after,
            strict=True,
        )
    )


# --- single fills -------------------------------------------------------------------------------


def test_classic_average_entry_example() -> None:
    # 0.5 @ 5000 + 0.3 @ 6000: entry value 2500 + 1800 = 4300, average 4300 / 0.8 = 5375
    pos, cash1, real1 = apply_fill(Position(), D("0.5"), D(5000))
    pos, cash2, real2 = apply_fill(pos, D("0.3"), D(6000))
    assert pos == Position(D("0.8"), D(4300))
    assert pos.basis / pos.qty == D(5375)
    assert (cash1, cash2, real1, real2) == (D(-2500), D(-1800), 0, 0)


def test_bybit_docs_closed_pnl_example(bybit_fixtures: Path) -> None:
    doc = json.loads((bybit_fixtures / "bybitdocs_closed_pnl_example.json").read_text())
    record = doc["result"]["list"][0]
    assert (record["symbol"], record["side"], record["closedSize"]) == ("ETHPERP", "Sell", "3")
    taker = D("0.0006")
    # a long of 3 opened by three buys whose entry values sum to cumEntryValue 3584.9255 ...
    buys = [(D(1), D("1194.97")), (D(1), D("1195.03")), (D(1), D("1194.9255"))]
    # ... closed by four sells (fillCount 4) whose exit values sum to cumExitValue 3541.795
    sells = [(D(-1), D("1180.60")), (D(-1), D("1180.60")), (D("-0.5"), D("1180.60")), (D("-0.5"), D("1180.59"))]
    assert sum(q * p for q, p in buys) == D(record["cumEntryValue"])
    assert -sum(q * p for q, p in sells) == D(record["cumExitValue"])
    assert len(sells) == int(record["fillCount"])
    events = buys + sells
    fees = [-abs(q * p) * taker for q, p in events]  # signed cash: paid
    fold = fold_position_group(
        {}, [FILL] * 7, ["p1"] * 7, [q for q, _ in events], [p for _, p in events], fees, [ZERO] * 7
    )
    # after the buys: the average entry Bybit shows
    assert fold.basis_after[2] == D(record["cumEntryValue"])
    assert round_half_up(fold.basis_after[2] / fold.qty_after[2], MONEY_QUANTUM) == D(record["avgEntryPrice"])
    # each partial close removes the rounded entry value of its part; the second one is an exact tie
    # (2389.95033333 / 2 = 1194.975166665), rounded half up
    assert fold.realized_pnl[3:] == [
        D("1180.60") - D("1194.97516667"),
        D("1180.60") - D("1194.97516667"),
        D("590.30") - D("597.48758333"),
        D("590.295") - D("597.48758333"),
    ]
    realized = sum(fold.realized_pnl, ZERO)
    assert realized == D(record["cumExitValue"]) - D(record["cumEntryValue"]) == D("-43.1305")
    assert -sum(fees, ZERO) == D("4.2760323")
    assert realized + sum(fold.fee, ZERO) == D(record["closedPnl"])
    assert fold.closing == {"p1": Position(ZERO, ZERO)}
    assert sum(fold.cash_flow, ZERO) == realized  # flat at both ends: realized == Σ cash flow


def test_partial_closes_with_half_up_rounding() -> None:
    # long 3 with basis 30.00000002
    fold = fills([("a", "1", "10"), ("a", "2", "10.00000001"), ("a", "-1", "11"), ("a", "-1", "11"), ("a", "-1", "11")])
    # 30.00000002 / 3 = 10.000000006667 -> 10.00000001
    # 20.00000001 / 2 = 10.000000005 (tie) -> 10.00000001
    # last close removes what is left: 10.00000000
    assert fold.realized_pnl == [0, 0, D("0.99999999"), D("0.99999999"), D("1")]
    assert fold.basis_after == [D(10), D("30.00000002"), D("20.00000001"), D(10), 0]
    assert fold.qty_after == [1, 3, 2, 1, 0]
    assert sum(fold.realized_pnl, ZERO) == D(33) - D("30.00000002")


def test_short_partial_close_tie_rounds_away_from_zero() -> None:
    pos = Position(D(-2), D("-20.00000001"))
    new, cash, realized = apply_fill(pos, D(1), D(9))
    # removed = round(-20.00000001 / 2 = -10.000000005) = -10.00000001 (away from zero)
    assert new == Position(D(-1), D("-9.99999999") - D("0.00000001"))
    assert new.basis == D(-10)
    assert cash == D(-9)
    assert realized == D(-9) + D("10.00000001") == D("1.00000001")
    assert pos == Position(D(-2), D("-20.00000001"))  # the input is not modified
    fold = fills([("s", "1", "9")], opening={"s": pos})  # the fold's own (inlined) branch agrees
    assert (fold.cash_flow, fold.realized_pnl, fold.closing) == ([cash], [realized], {"s": new})
    # below the tie: removed = round(-30.00000001 / 3 = -10.0000000033) = -10.00000000
    fold = fills([("s", "1", "9")], opening={"s": Position(D(-3), D("-30.00000001"))})
    assert fold.basis_after == [D("-20.00000001")]
    # above the tie: removed = round(-30.00000002 / 3 = -10.0000000067) = -10.00000001
    fold = fills([("s", "1", "9")], opening={"s": Position(D(-3), D("-30.00000002"))})
    assert fold.basis_after == [D("-20.00000001")]
    assert fold.realized_pnl == [D("1.00000001")]


def test_flip_long_to_short_in_one_fill() -> None:
    new, cash, realized = apply_fill(Position(D(1), D(100)), D(-3), D(90))
    assert realized == D(-10)  # closes 1 bought at 100 at 90
    assert cash == D(270)
    assert new == Position(D(-2), D(-180))  # the rest opens a short at 90


def test_short_profit_and_loss() -> None:
    fold = fills([("s", "-2", "50"), ("s", "1", "40"), ("s", "1", "55")])
    assert fold.cash_flow == [D(100), D(-40), D(-55)]
    assert fold.realized_pnl == [0, D(10), D(-5)]
    assert fold.qty_after == [D(-2), D(-1), 0]
    assert fold.basis_after == [D(-100), D(-50), 0]


def test_short_flips_long() -> None:
    fold = fills([("s", "-2", "50"), ("s", "5", "60"), ("s", "-3", "70")])
    assert fold.realized_pnl == [0, D(-20), D(30)]
    assert fold.qty_after == [D(-2), D(3), 0]
    assert fold.basis_after == [D(-100), D(180), 0]
    assert fold.cash_flow == [D(100), D(-300), D(210)]


def test_exact_close_then_reopen_and_zero_qty_fill() -> None:
    fold = fills([("a", "2", "10"), ("a", "-2", "12"), ("a", "0", "99"), ("a", "-1", "11")])
    assert fold.realized_pnl == [0, D(4), 0, 0]
    assert fold.cash_flow == [D(-20), D(24), 0, D(11)]
    assert fold.closing == {"a": Position(D(-1), D(-11))}


def test_fill_rows_carry_fee_and_funding_zero() -> None:
    fold = fills([("b", "1", "10"), ("a", "1", "20")], fee="-0.012")
    assert fold.fee == [D("-0.012")] * 2
    assert fold.funding == [0, 0]
    assert fold.process_id == ["b", "a"]  # fills keep event order
    assert list(fold.closing) == ["a", "b"]


def test_processes_are_folded_independently() -> None:
    fold = fills([("a", "1", "100"), ("b", "-1", "100"), ("a", "-1", "110"), ("b", "1", "110")])
    assert fold.realized_pnl == [0, 0, D(10), D(-10)]


def test_arithmetic_never_rounds_silently() -> None:
    with pytest.raises(Inexact):
        apply_fill(Position(), D("1." + "1" * 60), D("1." + "3" * 60))


# --- split events -------------------------------------------------------------------------------

OPPOSED = {"A": Position(D(15), D(1500)), "B": Position(D(-5), D(-600))}  # net long 10


def test_adl_reduces_every_holder_pro_rata_including_the_opposing_one() -> None:
    # ADL sells 4 of the account's net long 10 at 200, fee 0.8 paid. share A = 15/10, B = -5/10.
    fold = run(OPPOSED, [(POSITION_EVENT, None, "-4", "200", "-0.8", "0")])
    assert rows(fold) == [
        # A sells 6: removes 1500*6/15 = 600, realized 1200 - 600
        (0, "A", D(-6), D(1200), D(600), D("-1.2"), 0, D(9)),
        # B (short 5 at 120) buys back 2 at 200: removes -240, realized -400 + 240
        (0, "B", D(2), D(-400), D(-160), D("0.4"), 0, D(-3)),
    ]
    assert fold.basis_after == [D(900), D(-360)]
    assert fold.price == [D(200), D(200)]
    assert fold.closing == {"A": Position(D(9), D(900)), "B": Position(D(-3), D(-360))}
    assert fold.unsplittable == []


def test_position_event_growing_the_net_grows_the_opposing_process() -> None:
    # a +2 event on a net long 10: A gets +3, B gets -1, so B's short grows
    fold = run(OPPOSED, [(POSITION_EVENT, None, "2", "200", "0", "0")])
    assert fold.qty == [D(3), D(-1)]
    assert fold.closing == {"A": Position(D(18), D(2100)), "B": Position(D(-6), D(-800))}
    assert fold.realized_pnl == [0, 0]


def test_liquidation_closes_everything_and_rounding_remainder_goes_to_largest() -> None:
    opening = {"x": Position(D(1), D(100)), "y": Position(D(1), D(100)), "z": Position(D(1), D(100))}
    # net 3; a liquidation of 1: 0.33333333 each, the remainder 0.00000001 to "x" (tie on |pos|)
    fold = run(opening, [(POSITION_EVENT, None, "-1", "90", "-0.1", "0")])
    assert fold.qty == [D("-0.33333334"), D("-0.33333333"), D("-0.33333333")]
    assert fold.fee == [D("-0.03333334"), D("-0.03333333"), D("-0.03333333")]
    assert sum(fold.qty, ZERO) == D(-1)
    # x removes round(100 * 0.33333334 / 1) = 33.333334, realized 0.33333334 * 90 - 33.333334
    assert fold.realized_pnl[0] == D("30.0000006") - D("33.333334")
    fold = run(opening, [(POSITION_EVENT, None, "-3", "90", "0", "0")])
    assert fold.qty_after == [0, 0, 0]
    assert fold.realized_pnl == [D(-10)] * 3


def test_position_event_part_can_flip_a_process() -> None:
    # net 2 (A 3, B -1); an event of -4 (more than the net: flips the account) scales every holder by -1
    opening = {"A": Position(D(3), D(300)), "B": Position(D(-1), D(-100))}
    fold = run(opening, [(POSITION_EVENT, None, "-4", "100", "0", "0")])
    assert fold.qty == [D(-6), D(2)]
    assert fold.closing == {"A": Position(D(-3), D(-300)), "B": Position(D(1), D(100))}


def test_funding_is_split_exactly() -> None:
    fold = run(OPPOSED, [(FUNDING, None, "0", "0", "0", "-3")])
    assert rows(fold) == [
        (0, "A", 0, 0, 0, 0, D("-4.5"), D(15)),
        (0, "B", 0, 0, 0, 0, D("1.5"), D(-5)),  # the opposing short receives
    ]
    assert fold.basis_after == [D(1500), D(-600)]
    opening = {"a": Position(D(1), D(1)), "b": Position(D(1), D(1)), "c": Position(D(1), D(1))}
    fold = run(opening, [(FUNDING, None, "0", "0", "0", "-0.00000002")])
    assert fold.funding == [0, D("-0.00000001"), D("-0.00000001")]
    assert sum(fold.funding, ZERO) == D("-0.00000002")


def test_split_skips_flat_processes_and_uses_positions_at_that_instant() -> None:
    events: list[tuple[int, str | None, str, str, str, str]] = [
        (FILL, "a", "1", "10", "0", "0"),
        (FILL, "b", "3", "10", "0", "0"),
        (FILL, "a", "-1", "10", "0", "0"),  # a is flat now
        (FUNDING, None, "0", "0", "0", "-1"),
        (FILL, "a", "1", "10", "0", "0"),
        (FUNDING, None, "0", "0", "0", "-1"),
    ]
    fold = run({"c": Position()}, events)
    assert [
        (i, p, f) for i, p, f in zip(fold.event_index, fold.process_id, fold.funding, strict=True) if i in (3, 5)
    ] == [
        (3, "b", D(-1)),
        (5, "a", D("-0.25")),
        (5, "b", D("-0.75")),
    ]
    assert list(fold.closing) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "opening",
    [{}, {"a": Position()}, {"a": Position(D(1), D(10)), "b": Position(D(-1), D(-12))}],
)
def test_no_net_position_is_unsplittable(opening: dict[str, Position]) -> None:
    fold = run(
        opening,
        [(FUNDING, None, "0", "0", "0", "-1"), (POSITION_EVENT, None, "-1", "10", "-0.1", "0")],
    )
    assert fold.unsplittable == [(0, "no_position_to_split"), (1, "no_position_to_split")]
    assert fold.event_index == []
    assert fold.closing == opening


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no owner"):
        run({}, [(FILL, None, "1", "1", "0", "0")])
    with pytest.raises(ValueError, match="funding"):
        run({}, [(FILL, "a", "1", "1", "0", "-1")])
    with pytest.raises(ValueError, match="unknown kind"):
        run({"a": Position(D(1), D(1))}, [(7, None, "1", "1", "0", "0")])
    with pytest.raises(ValueError, match="differ in length"):
        fold_position_group({}, [FILL], ["a"], [], [], [], [])
    with pytest.raises(ValueError, match="flat with basis"):
        run({"a": Position(ZERO, D(1))}, [])
