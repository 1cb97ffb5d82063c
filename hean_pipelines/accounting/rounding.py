"""Exact decimal rounding for the truth layer (DESIGN.md §5).

Rules:

- ``MONEY_QUANTUM`` and ``QTY_QUANTUM`` are ``1E-8`` (Bybit's money and quantity precision).
- Rounding is *half up* in ``decimal``'s sense (``ROUND_HALF_UP``): a tie goes away from zero, on the
  signed value, so ``-0.000000005`` rounds to ``-0.00000001``.
- Divisions are never rounded twice: ``divide_round_half_up`` rounds the exact quotient ``n / d`` (it uses
  an integer ``divmod`` and compares the remainder with half the divisor), so a quotient that merely
  *looks* like a tie after a finite-precision division cannot be misrounded.
- All other arithmetic is exact: ``EXACT_CONTEXT`` has 100 significant digits and *traps* ``Inexact``, so
  a result that would need rounding raises ``decimal.Inexact`` instead of being rounded silently.
- A pro-rata split gives each key ``round_half_up(amount * w_k / sum(w), quantum)`` and puts the remainder
  ``amount - sum(parts)`` on the key with the largest ``|w_k|`` (ties: the smallest key), so the parts sum
  to ``amount`` exactly. Weights may be negative (opposing positions); their sum must not be zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

__all__ = [
    "EXACT_CONTEXT",
    "MONEY_QUANTUM",
    "QTY_QUANTUM",
    "divide_round_half_up",
    "round_half_up",
    "split_pro_rata",
]

MONEY_QUANTUM = Decimal("0.00000001")
QTY_QUANTUM = Decimal("0.00000001")

EXACT_PRECISION = 100
EXACT_CONTEXT = Context(
    prec=EXACT_PRECISION,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
"""Arithmetic context of the kernel: exact or an exception, never a silent rounding."""

_ROUNDING_CONTEXT = Context(
    prec=EXACT_PRECISION,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
_ZERO = Decimal(0)


def round_half_up(value: Decimal, quantum: Decimal) -> Decimal:
    """``value`` rounded to a multiple of ``quantum``, ties away from zero (``ROUND_HALF_UP``)."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP, context=_ROUNDING_CONTEXT)


def _div_half_up(numerator: Decimal, denominator: Decimal, quantum: Decimal) -> Decimal:
    """Exact ``round_half_up(numerator / denominator, quantum)``; the current context must be exact."""
    unit = denominator * quantum
    whole, rest = divmod(numerator, unit)  # whole truncated toward zero, rest has the sign of numerator
    if rest and 2 * abs(rest) >= abs(unit):
        whole += 1 if (numerator > _ZERO) == (unit > _ZERO) else -1
    return whole * quantum


def divide_round_half_up(numerator: Decimal, denominator: Decimal, quantum: Decimal) -> Decimal:
    """The exact quotient ``numerator / denominator`` rounded half up to a multiple of ``quantum``."""
    with localcontext(EXACT_CONTEXT):
        return _div_half_up(numerator, denominator, quantum)


def _largest_key(keys: Sequence[str], weights: Sequence[Decimal]) -> int:
    """Index of the largest ``|weight|``; ties go to the smallest key. ``keys`` must be sorted, so the
    first maximum is the one with the smallest key."""
    best = 0
    best_abs = abs(weights[0])
    for j in range(1, len(keys)):
        a = abs(weights[j])
        if a > best_abs:
            best, best_abs = j, a
    return best


def _split(
    amount: Decimal,
    weights: Sequence[Decimal],
    total: Decimal,
    largest: int,
    quantum: Decimal,
) -> list[Decimal]:
    """Parts of ``amount`` in the order of ``weights``; the current context must be exact."""
    if len(weights) == 1:
        return [amount]
    if not amount:
        return [_ZERO] * len(weights)
    parts = [_div_half_up(amount * w, total, quantum) for w in weights]
    parts[largest] += amount - sum(parts, _ZERO)
    return parts


def split_pro_rata(amount: Decimal, weights: Mapping[str, Decimal], quantum: Decimal) -> dict[str, Decimal]:
    """Split ``amount`` in proportion to ``weights`` so that the parts sum to ``amount`` exactly.

    Each key gets ``round_half_up(amount * w / sum(weights), quantum)``; the remainder goes to the key with
    the largest ``|w|`` (ties: the smallest key). Raises ``ValueError`` when the weights sum to zero
    (including when there are none).
    """
    keys = sorted(weights)
    values = [weights[k] for k in keys]
    with localcontext(EXACT_CONTEXT):
        total = sum(values, _ZERO)
        if not total:
            raise ValueError("split_pro_rata: the weights sum to zero, there is nothing to split by")
        parts = _split(amount, values, total, _largest_key(keys, values), quantum)
    return dict(zip(keys, parts, strict=True))
