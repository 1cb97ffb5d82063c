"""Bybit's average-entry position accounting for one linear symbol, with the cost basis carried exactly.

This is what produces ``cashFlow`` on transaction-log TRADE rows, ``closedSize`` on executions and every
``/v5/position/closed-pnl`` record. The rules (all ``Decimal``; "q8" = half-up to 8 dp, ties away from 0):

1. A position is (signed qty ``q``, cost basis ``B`` = entry value >= 0, accumulated opening fees ``F``).
   ``avgPrice = q8(B / |q|)`` is derived for display only; the basis is what is carried.
2. A fill on the same side as ``q`` (or on a flat position) *opens*: ``B += price * qty``, ``F += fee``.
3. A fill against ``q`` *closes* ``c = min(qty, |q|)`` first. It removes ``q8(B * c / |q|)`` from the basis
   and ``q8(F * c / |q|)`` from the opening fees -- the whole ``B`` and ``F`` when ``c == |q|``, so a closed
   position leaves exactly zero behind. Its gross pnl is ``price*c - removed`` for a long and
   ``removed - price*c`` for a short (exact; a TRADE row's ``cashFlow``).
4. The closing part of a fill carries ``q8(fee * c / qty)`` of its fee (all of it when ``c == qty``); the
   rest of the qty -- a flip -- then opens a new position at the fill price with the remaining fee.
5. A closed-pnl record aggregates the closing parts of one order: ``cumEntryValue`` = sum of removed
   bases, ``cumExitValue`` = sum of ``price*c``, ``closedSize`` = sum of ``c``, ``openFee`` = sum of removed
   opening fees, ``closeFee`` = sum of closing-part fees, gross = exit - entry (long) or entry - exit
   (short), ``closedPnl = q8(gross - openFee - closeFee)`` (already exact at 8 dp), average prices
   ``q8(value / closedSize)``. Funding never touches the basis or closed pnl.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from hean_pipelines.bybit.sandbox.sim_money import ZERO, pro_rata8


@dataclass(slots=True)
class LinearPosition:
    """Account-level one-way position of one symbol."""

    qty: Decimal = ZERO  # signed: > 0 long, < 0 short
    basis: Decimal = ZERO  # entry value of the open qty (always >= 0)
    open_fee: Decimal = ZERO  # opening fees not yet released by a reduction

    def copy(self) -> LinearPosition:
        return LinearPosition(self.qty, self.basis, self.open_fee)


class FillEffect(NamedTuple):
    """What one fill did to the position."""

    closed: Decimal  # qty closed (0 when the fill only opens)
    removed_basis: Decimal
    removed_open_fee: Decimal
    close_fee: Decimal  # the part of the fill's fee charged to the closing part
    exit_value: Decimal  # price * closed
    gross: Decimal  # realized pnl of the closing part, gross of fees
    was_long: bool  # direction of the position the closing part reduced


def apply_fill(pos: LinearPosition, side: int, qty: Decimal, price: Decimal, fee: Decimal) -> FillEffect:
    """Fold one fill (``side`` +1 buy / -1 sell) into ``pos`` in place and report its effect."""
    closed = removed = removed_fee = close_fee = exit_value = gross = ZERO
    was_long = pos.qty > 0
    if pos.qty != 0 and (pos.qty > 0) != (side > 0):
        size = abs(pos.qty)
        closed = min(qty, size)
        removed = pro_rata8(pos.basis, closed, size)
        removed_fee = pro_rata8(pos.open_fee, closed, size)
        close_fee = pro_rata8(fee, closed, qty)
        exit_value = price * closed
        gross = exit_value - removed if was_long else removed - exit_value
        pos.basis -= removed
        pos.open_fee -= removed_fee
        pos.qty += side * closed
    opened = qty - closed
    if opened > 0:
        pos.basis += price * opened
        pos.open_fee += fee - close_fee
        pos.qty += side * opened
    return FillEffect(closed, removed, removed_fee, close_fee, exit_value, gross, was_long)


@dataclass(slots=True)
class ClosedPnlAccumulator:
    """Sums the closing parts of one order into a closed-pnl record."""

    closed_size: Decimal = ZERO
    entry_value: Decimal = ZERO
    exit_value: Decimal = ZERO
    open_fee: Decimal = ZERO
    close_fee: Decimal = ZERO
    gross: Decimal = ZERO
    last_ts: int = 0
    fill_count: int = 0

    def add(self, effect: FillEffect, ts: int) -> None:
        self.fill_count += 1
        if effect.closed == 0:
            return
        self.closed_size += effect.closed
        self.entry_value += effect.removed_basis
        self.exit_value += effect.exit_value
        self.open_fee += effect.removed_open_fee
        self.close_fee += effect.close_fee
        self.gross += effect.gross
        self.last_ts = ts

    @property
    def closed_pnl(self) -> Decimal:
        return self.gross - self.open_fee - self.close_fee
