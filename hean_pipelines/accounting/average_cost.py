"""Bybit's average-entry accounting for one position group (one account + one symbol), exactly.

Conventions (DESIGN.md §5):

- A ``Position`` has a signed ``qty`` (+ long, − short) and a signed ``basis``: the sum of the signed entry
  values (price × signed qty) of its opening parts, so ``basis`` has the sign of ``qty`` and is 0 when
  flat. Unrealized PnL at mark ``m`` is ``qty × m − basis``. The average entry ``basis / qty`` is for
  display only and never used to compute anything.
- A fill of signed qty ``f`` at price ``p`` on ``(q, B)`` has ``cash_flow = −f × p`` (exact).

  * Opening (``q == 0`` or ``sign(f) == sign(q)``): ``q += f``, ``B += f × p``, realized 0.
  * Reducing: ``c = min(|f|, |q|)`` closes. ``removed = B`` if ``c == |q|``, else
    ``round_half_up(B × c / |q|, MONEY_QUANTUM)`` (exact quotient, ties away from zero on the signed
    value). ``realized = −sign(f) × c × p − removed`` (for a long closed by a sell: ``c × p − removed``).
    ``q`` and ``B`` shrink by the closed part; the rest ``|f| − c`` (a flip) opens a new position at ``p``.
  * Realized PnL is gross of fees, like Bybit's.

- Identity, exact per process and per group over any sequence of events::

      Σ realized + (q_close × m_close − B_close) − (q_open × m_open − B_open)
          == Σ cash_flow + q_close × m_close − q_open × m_open

  i.e. ``B_close == B_open + Σ realized − Σ cash_flow``, and it holds row by row:
  ``basis_after == basis_before + realized_pnl − cash_flow``.

- Events of a group, in Bybit's order (exec_time, seq, exec_id), sorted by the caller:

  * ``FILL``: a fill owned by one process; its row carries the fee (signed cash: negative = paid,
    positive = rebate) unchanged and funding 0.
  * ``POSITION_EVENT`` (ADL, bust/liquidation, position TP/SL): trades the *account's* net position
    (signed qty, price, fee) and has no owner. It is split across the processes holding a position at
    that instant (``pos_i != 0``), by ``share_i = pos_i / net`` where ``net = Σ pos_i``; a share can
    exceed 1 or be negative when processes oppose. Each process gets
    ``round_half_up(x × pos_i / net, quantum)`` of the qty (``QTY_QUANTUM``) and of the fee
    (``MONEY_QUANTUM``); the remainder goes to the largest holder (largest ``|pos_i|``, ties: the smallest
    process_id), so the parts sum to the source exactly. A process's qty part then acts on its position
    as a normal fill at the event's price (it may reduce, flip or grow it). Because every part is
    proportional to ``pos_i``, an event that reduces the net position reduces every holder, the
    opposing ones included (they buy back / sell back), and an event that grows it grows every holder.
  * ``FUNDING``: a signed cash amount to the account (negative = paid), split like the fee; the event's
    qty and fee are ignored and its price is carried through. Its rows carry qty 0, cash_flow 0,
    realized 0, fee 0 and the funding part.
  * If ``net == 0`` (nobody holds the symbol in our books, or the holders cancel out) a split event
    cannot be split: it is listed in ``unsplittable`` as ``(event_index, "no_position_to_split")`` and
    skipped (no rows, no effect).

- Arithmetic runs in ``EXACT_CONTEXT`` (100 digits, ``Inexact`` trapped): a result that would need
  rounding raises ``decimal.Inexact`` instead of being rounded silently. Only the stated divisions round.

``fold_group_scaled`` is the same fold over *scaled integers* (exact, no Decimal on the hot path), for
the ledger's bulk work: quantities are integers of ``10**-qty_scale``, prices of ``10**-price_scale`` and
money (basis, cash flow, realized) of ``10**-(qty_scale + price_scale)``, which must be at least 8 so the
rounded ``removed`` is representable. It folds the per-process positions and, in the same pass, the
account's own position (every non-funding event a fill of the account). Split events (position events,
funding) are rare: they go through the Decimal code above, so both kernels give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from itertools import compress

from hean_pipelines.accounting.rounding import (
    EXACT_CONTEXT,
    MONEY_QUANTUM,
    QTY_QUANTUM,
    _div_half_up,
    _largest_key,
    _split,
)

__all__ = [
    "FILL",
    "FUNDING",
    "NO_POSITION_TO_SPLIT",
    "POSITION_EVENT",
    "GroupFold",
    "Position",
    "ScaledGroupFold",
    "UnrepresentableError",
    "apply_fill",
    "fold_group_scaled",
    "fold_position_group",
    "to_units",
]

FILL, POSITION_EVENT, FUNDING = 0, 1, 2
NO_POSITION_TO_SPLIT = "no_position_to_split"

_ZERO = Decimal(0)


@dataclass(slots=True)
class Position:
    """Signed quantity and signed cost basis (Σ signed entry values) of one position."""

    qty: Decimal = Decimal(0)
    basis: Decimal = Decimal(0)


@dataclass(slots=True)
class GroupFold:
    """Result of ``fold_position_group``: one row per (event, process) touched, in event order then
    process_id, plus the closing positions and the events that could not be split."""

    event_index: list[int] = field(default_factory=list)
    process_id: list[str] = field(default_factory=list)
    qty: list[Decimal] = field(default_factory=list)
    price: list[Decimal] = field(default_factory=list)
    cash_flow: list[Decimal] = field(default_factory=list)
    realized_pnl: list[Decimal] = field(default_factory=list)
    fee: list[Decimal] = field(default_factory=list)
    funding: list[Decimal] = field(default_factory=list)
    qty_after: list[Decimal] = field(default_factory=list)
    basis_after: list[Decimal] = field(default_factory=list)
    closing: dict[str, Position] = field(default_factory=dict)
    unsplittable: list[tuple[int, str]] = field(default_factory=list)


def _step(q: Decimal, b: Decimal, f: Decimal, p: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """One fill on ``(q, b)``: ``(qty, basis, cash_flow, realized)``; the context must be exact.

    ``fold_position_group`` inlines this same logic in its fill branch (kept in step by the tests)."""
    if not f:
        return q, b, _ZERO, _ZERO
    value = f * p
    cash = -value
    if not q or (f > _ZERO) == (q > _ZERO):
        return q + f, b + value, cash, _ZERO
    af = abs(f)
    aq = abs(q)
    if af < aq:  # partial close: the whole fill closes
        removed = _div_half_up(b * af, aq, MONEY_QUANTUM)
        return q + f, b - removed, cash, cash - removed
    realized = q * p - b  # the closing part's cash flow is −sign(f) × |q| × p == q × p
    rest = q + f  # what is left of the fill opens a new position (0 when it just closes)
    return rest, (rest * p if rest else _ZERO), cash, realized


def apply_fill(position: Position, qty: Decimal, price: Decimal) -> tuple[Position, Decimal, Decimal]:
    """Apply a fill of signed ``qty`` at ``price``: ``(new position, cash_flow, realized)``.

    The input position is not modified."""
    with localcontext(EXACT_CONTEXT):
        q, b, cash, realized = _step(position.qty, position.basis, qty, price)
    return Position(q, b), cash, realized


def fold_position_group(
    opening: Mapping[str, Position],
    kinds: Sequence[int],
    owners: Sequence[str | None],
    qtys: Sequence[Decimal],
    prices: Sequence[Decimal],
    fees: Sequence[Decimal],
    fundings: Sequence[Decimal],
) -> GroupFold:
    """Fold the events of one position group (columns in Bybit's event order) over its processes.

    ``opening`` maps process_id → position at the start. For a ``FILL`` ``owners[i]`` is the process and
    ``fundings[i]`` must be 0 (``ValueError`` otherwise: that cash would be lost); for a
    ``POSITION_EVENT`` or ``FUNDING`` ``owners[i]`` is None and the event is split by the processes'
    share of the net position (see the module docstring).
    """
    n = len(kinds)
    if not (len(owners) == len(qtys) == len(prices) == len(fees) == len(fundings) == n):
        raise ValueError("fold_position_group: the event columns differ in length")

    pos_q: dict[str, Decimal] = {}
    pos_b: dict[str, Decimal] = {}
    for pid, position in opening.items():
        if not position.qty and position.basis:
            raise ValueError(f"fold_position_group: opening position of {pid!r} is flat with basis != 0")
        pos_q[pid] = position.qty
        pos_b[pid] = position.basis

    out = GroupFold()
    a_index = out.event_index.append
    a_pid = out.process_id.append
    a_qty = out.qty.append
    a_price = out.price.append
    a_cash = out.cash_flow.append
    a_real = out.realized_pnl.append
    a_fee = out.fee.append
    a_fund = out.funding.append
    a_qafter = out.qty_after.append
    a_bafter = out.basis_after.append
    get_q = pos_q.get
    zero = _ZERO
    one = Decimal(1)
    quantum = MONEY_QUANTUM

    with localcontext(EXACT_CONTEXT):
        for i, (kind, owner, f, p, fee, fund) in enumerate(
            zip(kinds, owners, qtys, prices, fees, fundings, strict=True)
        ):
            if kind == FILL:
                if owner is None:
                    raise ValueError(f"fold_position_group: fill {i} has no owner")
                if fund:
                    raise ValueError(f"fold_position_group: fill {i} carries funding {fund}")
                q = get_q(owner)
                if q is None:
                    q = b = zero
                else:
                    b = pos_b[owner]
                # --- inlined _step(q, b, f, p) ---
                if not f:
                    cash = realized = zero
                else:
                    value = f * p
                    cash = -value
                    if not q or f.is_signed() is q.is_signed():
                        q += f
                        b += value
                        realized = zero
                    else:
                        af = f.copy_abs()
                        aq = q.copy_abs()
                        if af < aq:
                            # removed = _div_half_up(b * af, aq, quantum), inlined for unit = aq × quantum > 0
                            unit = aq * quantum
                            whole, rest = divmod(b * af, unit)
                            if rest:
                                twice = rest + rest
                                if twice >= unit:
                                    whole += one
                                elif -twice >= unit:
                                    whole -= one
                            removed = whole * quantum
                            realized = cash - removed
                            q += f
                            b -= removed
                        else:
                            realized = q * p - b
                            q += f
                            b = q * p if q else zero
                # --- end of _step ---
                pos_q[owner] = q
                pos_b[owner] = b
                a_index(i)
                a_pid(owner)
                a_qty(f)
                a_price(p)
                a_cash(cash)
                a_real(realized)
                a_fee(fee)
                a_fund(zero)
                a_qafter(q)
                a_bafter(b)
                continue

            if kind != POSITION_EVENT and kind != FUNDING:
                raise ValueError(f"fold_position_group: event {i} has an unknown kind {kind!r}")
            holders = sorted(pid for pid, hq in pos_q.items() if hq)
            weights = [pos_q[pid] for pid in holders]
            net = sum(weights, zero)
            if not net:
                out.unsplittable.append((i, NO_POSITION_TO_SPLIT))
                continue
            largest = _largest_key(holders, weights)
            if kind == FUNDING:
                parts = _split(fund, weights, net, largest, quantum)
                for pid, part in zip(holders, parts, strict=True):
                    a_index(i)
                    a_pid(pid)
                    a_qty(zero)
                    a_price(p)
                    a_cash(zero)
                    a_real(zero)
                    a_fee(zero)
                    a_fund(part)
                    a_qafter(pos_q[pid])
                    a_bafter(pos_b[pid])
                continue
            qty_parts = _split(f, weights, net, largest, QTY_QUANTUM)
            fee_parts = _split(fee, weights, net, largest, quantum)
            for pid, part, fee_part in zip(holders, qty_parts, fee_parts, strict=True):
                q, b, cash, realized = _step(pos_q[pid], pos_b[pid], part, p)
                pos_q[pid] = q
                pos_b[pid] = b
                a_index(i)
                a_pid(pid)
                a_qty(part)
                a_price(p)
                a_cash(cash)
                a_real(realized)
                a_fee(fee_part)
                a_fund(zero)
                a_qafter(q)
                a_bafter(b)

    out.closing = {pid: Position(pos_q[pid], pos_b[pid]) for pid in sorted(pos_q)}
    return out


# --------------------------------------------------------------------------------------------- scaled


class UnrepresentableError(ValueError):
    """A value of a scaled fold is not an integer at the fold's scale (the caller picks larger scales or
    falls back to :func:`fold_position_group`)."""


@dataclass(slots=True)
class ScaledGroupFold:
    """Result of ``fold_group_scaled`` for one position group.

    Per event (the input's order and length): ``realized``/``cash_flow`` of a ``FILL`` (0 for other
    kinds) and ``account_realized``, the account-level realized PnL of every non-funding event (0 for
    funding), all in money units. Split events give their rows (one per holder, in process_id order) as
    exact Decimals in the ``split_*`` columns, like :class:`GroupFold`'s rows. ``closing`` maps each
    process touched (or open at the start) to its closing ``(qty, basis)`` in units;
    ``account_closing`` is the account's.
    """

    realized: list[int] = field(default_factory=list)
    cash_flow: list[int] = field(default_factory=list)
    account_realized: list[int] = field(default_factory=list)
    split_index: list[int] = field(default_factory=list)
    split_process_id: list[str] = field(default_factory=list)
    split_qty: list[Decimal] = field(default_factory=list)
    split_price: list[Decimal] = field(default_factory=list)
    split_cash_flow: list[Decimal] = field(default_factory=list)
    split_realized_pnl: list[Decimal] = field(default_factory=list)
    split_fee: list[Decimal] = field(default_factory=list)
    split_funding: list[Decimal] = field(default_factory=list)
    closing: dict[str, tuple[int, int]] = field(default_factory=dict)
    account_closing: tuple[int, int] = (0, 0)
    unsplittable: list[tuple[int, str]] = field(default_factory=list)


def to_units(value: Decimal, scale: int) -> int:
    """``value * 10**scale`` as an int, exactly (``UnrepresentableError`` if it is not an integer)."""
    with localcontext(EXACT_CONTEXT):
        scaled = value.scaleb(scale)
        if scaled != scaled.to_integral_value():
            raise UnrepresentableError(f"{value} is not a multiple of 1e-{scale}")
        return int(scaled)


def fold_group_scaled(
    opening: Mapping[str, tuple[int, int]],
    account_opening: tuple[int, int],
    kinds: Sequence[int],
    owners: Sequence[int],
    names: Sequence[str],
    qtys: Sequence[int],
    prices: Sequence[int],
    split_amounts: Mapping[int, tuple[Decimal, Decimal]],
    *,
    qty_scale: int,
    price_scale: int,
) -> ScaledGroupFold:
    """Fold one position group over scaled integers: the per-process fold of ``fold_position_group``
    and the account's own fold, exactly the same numbers.

    ``owners[i]`` indexes ``names`` for a ``FILL`` (``-1`` for other kinds); ``qtys``/``prices`` are signed
    quantities and prices in units; ``split_amounts[i]`` is ``(fee, funding)`` (exact Decimals) of each
    non-``FILL`` event. ``opening`` and ``account_opening`` are ``(qty, basis)`` in units. Raises
    :class:`UnrepresentableError` when a split gives a quantity or basis finer than the scales.
    """
    n = len(kinds)
    if not (len(owners) == len(qtys) == len(prices) == n):
        raise ValueError("fold_group_scaled: the event columns differ in length")
    money_scale = qty_scale + price_scale
    if money_scale < 8:
        raise ValueError("fold_group_scaled: qty_scale + price_scale must be at least 8 (the money quantum)")
    qm = 10 ** (money_scale - 8)  # MONEY_QUANTUM in money units

    index = {name: j for j, name in enumerate(names)}
    pos_q = [0] * len(names)
    pos_b = [0] * len(names)
    extra: dict[str, tuple[int, int]] = {}
    for pid, (q0, b0) in opening.items():
        if not q0 and b0:
            raise ValueError(f"fold_group_scaled: opening position of {pid!r} is flat with basis != 0")
        if pid in index:
            pos_q[index[pid]] = q0
            pos_b[index[pid]] = b0
        else:
            extra[pid] = (q0, b0)
    if extra:  # processes open at the start that no fill of the group names: give them a slot
        names = [*names, *extra]
        for q0, b0 in extra.values():
            pos_q.append(q0)
            pos_b.append(b0)
        index = {name: j for j, name in enumerate(names)}
    acc_q, acc_b = account_opening
    if not acc_q and acc_b:
        raise ValueError("fold_group_scaled: the account's opening position is flat with basis != 0")

    out = ScaledGroupFold()
    realized_out: list[int] = [0] * n
    cash_out: list[int] = [0] * n
    account_out: list[int] = [0] * n
    for i, kind, o, f, p in zip(range(n), kinds, owners, qtys, prices, strict=True):
        if kind == FILL:
            if not f:
                continue
            value = f * p
            cash_out[i] = -value
            q = pos_q[o]
            if not q or (f < 0) == (q < 0):
                pos_q[o] = q + f
                pos_b[o] += value
            else:
                af = -f if f < 0 else f
                aq = -q if q < 0 else q
                if af < aq:
                    num = pos_b[o] * af
                    unit = aq * qm
                    if num >= 0:
                        removed = (num + num + unit) // (unit + unit) * qm
                    else:
                        removed = -((unit - num - num) // (unit + unit)) * qm
                    realized_out[i] = -value - removed
                    pos_q[o] = q + f
                    pos_b[o] -= removed
                else:
                    realized_out[i] = q * p - pos_b[o]
                    q += f
                    pos_q[o] = q
                    pos_b[o] = q * p
        elif kind == FUNDING:
            _split_funding(out, i, p, split_amounts[i][1], names, pos_q, price_scale)
            continue
        elif kind == POSITION_EVENT:
            _split_event(out, i, f, p, split_amounts[i][0], names, pos_q, pos_b, qty_scale, price_scale)
            if not f:
                continue
            value = f * p
        else:
            raise ValueError(f"fold_group_scaled: event {i} has an unknown kind {kind!r}")
        # The account's own position (Bybit's view): every trade is its own fill.
        if not acc_q or (f < 0) == (acc_q < 0):
            acc_q += f
            acc_b += value
        else:
            af = -f if f < 0 else f
            aq = -acc_q if acc_q < 0 else acc_q
            if af < aq:
                num = acc_b * af
                unit = aq * qm
                if num >= 0:
                    removed = (num + num + unit) // (unit + unit) * qm
                else:
                    removed = -((unit - num - num) // (unit + unit)) * qm
                account_out[i] = -value - removed
                acc_q += f
                acc_b -= removed
            else:
                account_out[i] = acc_q * p - acc_b
                acc_q += f
                acc_b = acc_q * p

    out.realized = realized_out
    out.cash_flow = cash_out
    out.account_realized = account_out
    touched = set(compress(owners, [k == FILL for k in kinds]))
    if any(j < 0 or j >= len(names) for j in touched):
        raise ValueError("fold_group_scaled: a fill has no owner")
    touched.update(index[pid] for pid in opening)
    out.closing = {names[j]: (pos_q[j], pos_b[j]) for j in sorted(touched, key=lambda j: names[j])}
    out.account_closing = (acc_q, acc_b)
    return out


_FUNDING_SCALE = 18  # funding amounts are DECIMAL(38,18)
_FUNDING_QUANTUM = 10 ** (_FUNDING_SCALE - 8)  # MONEY_QUANTUM in 10**-18 units


def _holders(names: Sequence[str], pos_q: list[int]) -> list[int]:
    return sorted((j for j, hq in enumerate(pos_q) if hq), key=names.__getitem__)


def _split_funding(
    out: ScaledGroupFold,
    i: int,
    p: int,
    funding: Decimal,
    names: Sequence[str],
    pos_q: list[int],
    price_scale: int,
) -> None:
    """Funding split by position share in integers: ``_split`` of ``fold_position_group``, the same parts."""
    holders = _holders(names, pos_q)
    weights = [pos_q[j] for j in holders]
    net = sum(weights)
    if not net:
        out.unsplittable.append((i, NO_POSITION_TO_SPLIT))
        return
    amount = to_units(funding, _FUNDING_SCALE)
    if len(holders) == 1:
        parts = [amount]
    elif not amount:
        parts = [0] * len(holders)
    else:
        unit = net * _FUNDING_QUANTUM
        twice_unit = 2 * (-unit if unit < 0 else unit)
        parts = []
        for w in weights:
            num = amount * w
            whole = (2 * (-num if num < 0 else num) + twice_unit // 2) // twice_unit
            parts.append((whole if (num < 0) == (unit < 0) else -whole) * _FUNDING_QUANTUM)
        largest = 0
        best = -weights[0] if weights[0] < 0 else weights[0]
        for j in range(1, len(weights)):
            a = -weights[j] if weights[j] < 0 else weights[j]
            if a > best:
                largest, best = j, a
        parts[largest] += amount - sum(parts)
    price = Decimal(p).scaleb(-price_scale, context=EXACT_CONTEXT)
    for j, part in zip(holders, parts, strict=True):
        out.split_index.append(i)
        out.split_process_id.append(names[j])
        out.split_qty.append(_ZERO)
        out.split_price.append(price)
        out.split_cash_flow.append(_ZERO)
        out.split_realized_pnl.append(_ZERO)
        out.split_fee.append(_ZERO)
        out.split_funding.append(Decimal(part).scaleb(-_FUNDING_SCALE, context=EXACT_CONTEXT))


def _split_event(
    out: ScaledGroupFold,
    i: int,
    f: int,
    p: int,
    fee: Decimal,
    names: Sequence[str],
    pos_q: list[int],
    pos_b: list[int],
    qty_scale: int,
    price_scale: int,
) -> None:
    """A position event split by position share: the Decimal code of ``fold_position_group``."""
    money_scale = qty_scale + price_scale
    holders = _holders(names, pos_q)
    if not sum(pos_q[j] for j in holders):
        out.unsplittable.append((i, NO_POSITION_TO_SPLIT))
        return
    with localcontext(EXACT_CONTEXT):
        weights = [Decimal(pos_q[j]).scaleb(-qty_scale) for j in holders]
        net = sum(weights, _ZERO)
        pids = [names[j] for j in holders]
        largest = _largest_key(pids, weights)
        price = Decimal(p).scaleb(-price_scale)
        qty_parts = _split(Decimal(f).scaleb(-qty_scale), weights, net, largest, QTY_QUANTUM)
        fee_parts = _split(fee, weights, net, largest, MONEY_QUANTUM)
        for j, pid, part, fee_part in zip(holders, pids, qty_parts, fee_parts, strict=True):
            q, b = Decimal(pos_q[j]).scaleb(-qty_scale), Decimal(pos_b[j]).scaleb(-money_scale)
            q, b, cash, realized = _step(q, b, part, price)
            pos_q[j] = to_units(q, qty_scale)
            pos_b[j] = to_units(b, money_scale)
            out.split_index.append(i)
            out.split_process_id.append(pid)
            out.split_qty.append(part)
            out.split_price.append(price)
            out.split_cash_flow.append(cash)
            out.split_realized_pnl.append(realized)
            out.split_fee.append(fee_part)
            out.split_funding.append(_ZERO)
