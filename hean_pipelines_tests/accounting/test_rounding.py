"""Exact half-up rounding and pro-rata splits (DESIGN.md §5: Σ split == source amount exactly)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, Inexact, localcontext

import pytest

from hean_pipelines.accounting.rounding import (
    EXACT_CONTEXT,
    MONEY_QUANTUM,
    QTY_QUANTUM,
    divide_round_half_up,
    round_half_up,
    split_pro_rata,
)

D = Decimal
Q = MONEY_QUANTUM


def test_quanta_are_bybit_8dp() -> None:
    assert D("0.00000001") == MONEY_QUANTUM == QTY_QUANTUM
    assert MONEY_QUANTUM.as_tuple().exponent == -8


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.000000005", "0.00000001"),  # a tie goes up ...
        ("-0.000000005", "-0.00000001"),  # ... away from zero on the signed value
        ("0.0000000049999", "0"),
        ("-0.0000000049999", "0"),
        ("1194.975166665", "1194.97516667"),  # the tie in Bybit's closed-PnL example (2389.95033333 / 2)
        ("0.000000025", "0.00000003"),  # banker's rounding would give 0.00000002
        ("4300", "4300"),
    ],
)
def test_round_half_up(value: str, expected: str) -> None:
    got = round_half_up(D(value), Q)
    assert got == D(expected)
    assert got.as_tuple().exponent == -8
    assert type(got) is Decimal


def test_round_half_up_ignores_the_callers_context() -> None:
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_EVEN
        assert round_half_up(D("0.000000025"), Q) == D("0.00000003")


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        ("1", "3", "0.33333333"),
        ("2", "3", "0.66666667"),
        ("-2", "3", "-0.66666667"),
        ("2", "-3", "-0.66666667"),
        ("2389.95033333", "2", "1194.97516667"),  # exact tie, half up
        ("-2389.95033333", "2", "-1194.97516667"),  # exact tie, away from zero
        ("0.000000015", "3", "0.00000001"),  # 0.000000005: tie
        ("0.000000001", "7", "0"),
    ],
)
def test_divide_round_half_up(num: str, den: str, expected: str) -> None:
    assert divide_round_half_up(D(num), D(den), Q) == D(expected)


def test_divide_rounds_the_exact_quotient_once() -> None:
    # (0.000000015 - 1e-60) / 3 = 0.000000005 - 3.3e-61: just below the tie, so it rounds to 0.
    # A division at the default 28 digits gives 5.000...E-9 first and a second rounding then goes up.
    with localcontext(prec=100):
        num = D("0.000000015") - D("1e-60")
    assert num < D("0.000000015")
    with localcontext() as ctx:
        ctx.prec = 28
        naive = (num / 3).quantize(Q, rounding=ROUND_HALF_UP)
    assert naive == D("0.00000001")
    assert divide_round_half_up(num, D(3), Q) == 0


def test_exact_context_raises_rather_than_rounds() -> None:
    with localcontext(EXACT_CONTEXT), pytest.raises(Inexact):
        _ = D("1." + "1" * 60) * D("1." + "3" * 60)


def test_split_three_equal_weights_remainder_to_smallest_key() -> None:
    parts = split_pro_rata(D(1), {"c": D(1), "a": D(1), "b": D(1)}, Q)
    assert parts == {"a": D("0.33333334"), "b": D("0.33333333"), "c": D("0.33333333")}
    assert sum(parts.values()) == 1


def test_split_negative_remainder_goes_to_the_largest_holder() -> None:
    # each rounds 0.00000000666.. up to 0.00000001: Σ = 0.00000003, remainder -0.00000001 to "a" (tie)
    parts = split_pro_rata(D("0.00000002"), {"a": D(1), "b": D(1), "c": D(1)}, Q)
    assert parts == {"a": D(0), "b": D("0.00000001"), "c": D("0.00000001")}


def test_split_remainder_goes_to_largest_abs_weight_not_to_the_smallest_key() -> None:
    parts = split_pro_rata(D(10), {"a": D(1), "b": D(1), "z": D(1), "y": D(2)}, Q)
    # 10/5 = 2 each, 4 for y: exact, no remainder
    assert parts == {"a": D(2), "b": D(2), "z": D(2), "y": D(4)}
    parts = split_pro_rata(D(1), {"a": D(1), "b": D(1), "y": D(1), "z": D(3)}, Q)
    # 1/6 = 0.16666667 (x3), 0.5 for z; Σ = 1.00000001: z (largest |w|) absorbs -0.00000001
    assert parts == {"a": D("0.16666667"), "b": D("0.16666667"), "y": D("0.16666667"), "z": D("0.49999999")}


def test_split_with_opposing_weights() -> None:
    # net = 15 - 5 = 10: shares 1.5 and -0.5
    assert split_pro_rata(D(10), {"a": D(15), "b": D(-5)}, Q) == {"a": D(15), "b": D(-5)}
    assert split_pro_rata(D("-0.8"), {"a": D(15), "b": D(-5)}, Q) == {"a": D("-1.2"), "b": D("0.4")}
    # net = 1 + 1 - 4 = -2: a, b get round(-0.000000005) = -0.00000001 each, c gets 0.00000002,
    # Σ = 0, the remainder 0.00000001 goes to c (|-4| is the largest holder)
    parts = split_pro_rata(D("0.00000001"), {"a": D(1), "b": D(1), "c": D(-4)}, Q)
    assert parts == {"a": D("-0.00000001"), "b": D("-0.00000001"), "c": D("0.00000003")}
    assert sum(parts.values()) == D("0.00000001")


def test_split_tie_on_abs_weight_with_opposite_signs_goes_to_smallest_key() -> None:
    # |b| == |c| == 2: the remainder goes to "b"
    parts = split_pro_rata(D("0.00000001"), {"c": D(2), "b": D(-2), "a": D(1)}, Q)
    # net 1: a 0.00000001, b -0.00000002, c 0.00000002: Σ = 0.00000001, no remainder
    assert parts == {"a": D("0.00000001"), "b": D("-0.00000002"), "c": D("0.00000002")}
    parts = split_pro_rata(D("0.000000005"), {"c": D(2), "b": D(-2), "a": D(1)}, Q)
    # a round(0.000000005) = 0.00000001, b round(-0.00000001) , c 0.00000001: Σ 0.00000001,
    # remainder -0.000000005 (not on the quantum) goes to b
    assert parts == {"a": D("0.00000001"), "b": D("-0.000000015"), "c": D("0.00000001")}
    assert sum(parts.values()) == D("0.000000005")


def test_split_single_and_zero() -> None:
    assert split_pro_rata(D("1.234567891"), {"a": D(-3)}, Q) == {"a": D("1.234567891")}
    assert split_pro_rata(D(0), {"a": D(1), "b": D(2)}, Q) == {"a": 0, "b": 0}


@pytest.mark.parametrize("weights", [{}, {"a": D(1), "b": D(-1)}, {"a": D(0)}])
def test_split_by_zero_net_raises(weights: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError, match="sum to zero"):
        split_pro_rata(D(1), weights, Q)
