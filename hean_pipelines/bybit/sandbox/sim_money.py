"""Exact money arithmetic for the simulated account, and Bybit's way of printing numbers.

Every amount the sandbox emits is a ``Decimal`` computed with these helpers, so the same rule gives the
same string on every machine. Rules (the module docstring of :mod:`.sim_book` states where each is used):

- ``q8`` rounds half-up (Python's ``ROUND_HALF_UP``: ties go away from zero, so ``-0.5e-8`` becomes
  ``-1e-8``) to 8 decimal places -- Bybit's quantum for fees, entry values and pnl.
- ``trunc`` cuts toward zero (Bybit truncates the funding ``feeRate`` to 6 dp).
- Divisions run in a 60-digit context so the only rounding is the stated quantization.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
Q8 = Decimal("1E-8")

_WIDE = Context(prec=60, rounding=ROUND_HALF_UP)


def q8(value: Decimal) -> Decimal:
    """Round half-up (away from zero on ties) to 8 decimal places."""
    return value.quantize(Q8, rounding=ROUND_HALF_UP, context=_WIDE)


def quantize(value: Decimal, quantum: Decimal) -> Decimal:
    """Round half-up to ``quantum`` (e.g. ``Decimal('0.01')``)."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE)


def trunc(value: Decimal, quantum: Decimal) -> Decimal:
    """Cut toward zero to ``quantum`` (Bybit truncates displayed funding rates)."""
    return value.quantize(quantum, rounding=ROUND_DOWN, context=_WIDE)


def div8(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` rounded half-up to 8 dp, with no intermediate rounding."""
    return q8(_WIDE.divide(numerator, denominator))


def pro_rata8(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``amount * part / whole`` half-up at 8 dp; the whole amount when ``part == whole``.

    Returning ``amount`` itself for the full share is what keeps a fold exact: removing every piece of
    a cost basis leaves exactly zero, never a rounding crumb.
    """
    if part == whole:
        return amount
    return q8(_WIDE.divide(_WIDE.multiply(amount, part), whole))


def fmt(value: Decimal) -> str:
    """Bybit's plain notation: no exponent, no trailing zeros (``Decimal('1.50')`` -> ``'1.5'``)."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_fixed(value: Decimal, quantum: Decimal) -> str:
    """Plain notation at exactly the precision of ``quantum`` (prices at tick size, qty at step)."""
    return format(value.quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE), "f")


def parse(text: str) -> Decimal:
    """Bybit string -> Decimal, with Bybit's empty string meaning zero."""
    return Decimal(text) if text else ZERO
