"""The average-cost fold of ``fold_group_scaled``, compiled (numba) over int64 numpy arrays.

Same numbers as :func:`hean_pipelines.accounting.average_cost.fold_group_scaled` (the pure-Python kernel
over unbounded ints), which stays the reference the tests compare this one against, and the fallback.
The differences are only in how the integers are held:

- Every value is an int64. Each product and sum is checked before it is formed (its operands' magnitude,
  estimated in float64 with a margin, must stay under 2**62), and any value that might not fit makes the
  fold stop with :data:`OVERFLOW`: the caller then runs the pure-Python kernel. Nothing ever wraps
  silently.
- The one product that routinely exceeds 64 bits, ``basis x closed qty`` of a partial close (and
  ``amount x weight`` of a funding split), is only ever divided again: :func:`_round_ratio` gets the rounded
  quotient from a float64 estimate, corrected by the exact remainder computed in wrapping 64-bit arithmetic
  (exact, because the true remainder is known to be small). It too stops with :data:`OVERFLOW` when its
  preconditions do not hold.
- Funding is split here (integers, as ``_split_funding`` does); a position event (ADL, liquidation, TP/SL:
  a handful a day) stops the fold with :data:`POSITION_EVENT_AT` after its account-level part, and the
  caller splits it with the Decimal code of ``average_cost`` and resumes at the next event.

Positions are indexed by *slot*: the day's process ids in sorted order, so a slot's index order is the
process_id order that holders and ties follow.
"""

from __future__ import annotations

import numba
import numpy as np

from hean_pipelines.accounting.average_cost import FILL, FUNDING, POSITION_EVENT

__all__ = ["DONE", "OVERFLOW", "POSITION_EVENT_AT", "fold_events"]

DONE, OVERFLOW, POSITION_EVENT_AT = 0, 1, 2

_LIMIT = float(2**62)  # operands of a sum, products: under this, the int64 result is exact
_RATIO_MAX = float(2**53)  # quotients of _round_ratio above this are left to the exact kernel
_DIVISOR_MAX = 2**57  # so the remainder of _round_ratio (at most 5 divisors) fits in an int64


@numba.njit(cache=True, inline="always")
def _small(x: int) -> bool:
    return -_LIMIT < float(x) < _LIMIT


@numba.njit(cache=True, inline="always")
def _mul_ok(a: int, b: int) -> bool:
    return abs(float(a) * float(b)) < _LIMIT


@numba.njit(cache=True, inline="always")
def _round_ratio(m: int, a: int, d: int) -> tuple[int, bool]:
    """``floor((2*m*a + d) / (2*d))`` (``m*a/d`` rounded half-up) for ``m, a >= 0``, ``d > 0``, exactly, even
    where ``m*a`` exceeds 64 bits; ``ok`` is False when the preconditions for exactness do not hold."""
    if d > _DIVISOR_MAX:
        return 0, False
    estimate = np.floor(float(m) * float(a) / float(d) + 0.5)
    if estimate > _RATIO_MAX:
        return 0, False
    w = int(estimate)
    # The float estimate is within 2 of the quotient, so the true remainder 2*m*a + d - w*2*d is within
    # 5 divisors of 0: computed modulo 2**64 (uint64 arithmetic wraps by definition), it comes out exact.
    two_d = 2 * d
    r = np.int64(np.uint64(2) * np.uint64(m) * np.uint64(a) + np.uint64(d) - np.uint64(w) * np.uint64(two_d))
    while r < 0:
        w -= 1
        r += two_d
    while r >= two_d:
        w += 1
        r -= two_d
    return w, True


@numba.njit(cache=True, inline="always")
def _fill(q: int, b: int, f: int, p: int, value: int, qm: int) -> tuple[bool, int, int, int]:
    """One fill of ``f`` at ``p`` (``value = f * p``) on ``(q, b)``: ``(ok, q, b, realized)``; ``ok`` is False
    when a result might not fit 64 bits (nothing is changed then: the caller stops the fold)."""
    if q == 0 or (f < 0) == (q < 0):
        if not (_small(q) and _small(f) and _small(b) and _small(value)):
            return False, q, b, 0
        return True, q + f, b + value, 0
    af = -f if f < 0 else f
    aq = -q if q < 0 else q
    if af < aq:  # a partial close: the basis removed is rounded half-up (see average_cost)
        if not _mul_ok(aq, qm):
            return False, q, b, 0
        whole, ok = _round_ratio(-b if b < 0 else b, af, aq * qm)
        if not ok or not _mul_ok(whole, qm):
            return False, q, b, 0
        removed = whole * qm if b >= 0 else -whole * qm
        if not (_small(value) and _small(removed) and _small(b)):
            return False, q, b, 0
        return True, q + f, b - removed, -value - removed
    # Closes all (and flips when the fill is larger): the rest opens at p.
    if not (_mul_ok(q, p) and _small(b) and _small(q) and _small(f)):
        return False, q, b, 0
    rest = q + f
    if not _mul_ok(rest, p):
        return False, q, b, 0
    return True, rest, rest * p, q * p - b


@numba.njit(cache=True)
def fold_events(
    kinds: np.ndarray,
    owners: np.ndarray,
    qtys: np.ndarray,
    prices: np.ndarray,
    fundings: np.ndarray,
    start: int,
    stop: int,
    pos_q: np.ndarray,
    pos_b: np.ndarray,
    touched: np.ndarray,
    account: np.ndarray,
    qm: int,
    funding_quantum: int,
    realized: np.ndarray,
    cash_flow: np.ndarray,
    account_realized: np.ndarray,
    split_index: np.ndarray,
    split_slot: np.ndarray,
    split_funding: np.ndarray,
    counts: np.ndarray,
    unsplittable: np.ndarray,
) -> tuple[int, int]:
    """Fold events ``start..stop-1`` of one position group, in place; ``(status, index)``.

    ``pos_q``/``pos_b``/``touched`` are per slot (qty, basis in money units, and whether the slot is in the
    closing rows); ``account`` is ``[qty, basis]`` of the account. Per event it writes ``realized``,
    ``cash_flow`` (fills) and ``account_realized`` (every non-funding event). A funding event appends its
    parts (``split_index``, ``split_slot``, ``split_funding`` in funding units, at ``counts[0]``) or sets
    ``unsplittable[i]``. Returns ``(DONE, stop)``, ``(OVERFLOW, i)`` (stop: state partly updated, run the
    exact kernel) or ``(POSITION_EVENT_AT, i)`` (account part done: split event ``i``, resume at ``i + 1``).
    """
    acc_q = account[0]
    acc_b = account[1]
    n_slots = pos_q.shape[0]
    for i in range(start, stop):
        kind = kinds[i]
        f = qtys[i]
        p = prices[i]
        if kind == FUNDING:
            net = 0
            holders = 0
            largest = -1
            best = 0
            for j in range(n_slots):
                w = pos_q[j]
                if w != 0:
                    if not (_small(net) and _small(w)):
                        return OVERFLOW, i
                    net += w
                    holders += 1
                    a = -w if w < 0 else w
                    if a > best:
                        largest, best = j, a
            if net == 0:
                unsplittable[i] = True
                continue
            amount = fundings[i]
            at = counts[0]
            if holders == 1 or amount == 0:
                for j in range(n_slots):
                    if pos_q[j] != 0:
                        split_index[at] = i
                        split_slot[at] = j
                        split_funding[at] = amount if holders == 1 else 0
                        at += 1
                counts[0] = at
                continue
            if not _mul_ok(net, funding_quantum):
                return OVERFLOW, i
            unit = net * funding_quantum
            abs_unit = -unit if unit < 0 else unit
            abs_amount = -amount if amount < 0 else amount
            total = 0
            first = at
            for j in range(n_slots):
                w = pos_q[j]
                if w == 0:
                    continue
                whole, ok = _round_ratio(abs_amount, -w if w < 0 else w, abs_unit)
                if not ok or not _mul_ok(whole, funding_quantum):
                    return OVERFLOW, i
                negative = (amount < 0) != (w < 0)  # the sign of amount x w ...
                if negative != (unit < 0):  # ... over the sign of unit
                    whole = -whole
                part = whole * funding_quantum
                if not (_small(total) and _small(part)):
                    return OVERFLOW, i
                total += part
                split_index[at] = i
                split_slot[at] = j
                split_funding[at] = part
                at += 1
            if not (_small(amount) and _small(total)):
                return OVERFLOW, i
            for k in range(first, at):
                if split_slot[k] == largest:
                    split_funding[k] += amount - total
            counts[0] = at
            continue
        if kind == FILL:
            o = owners[i]
            if o < 0 or o >= n_slots:
                return OVERFLOW, i  # a fill without an owner: the exact kernel raises the error that says so
            touched[o] = True
            if f == 0:
                continue
            if not _mul_ok(f, p):
                return OVERFLOW, i
            value = f * p
            cash_flow[i] = -value
            ok, pos_q[o], pos_b[o], realized[i] = _fill(pos_q[o], pos_b[o], f, p, value, qm)
            if not ok:
                return OVERFLOW, i
        elif kind == POSITION_EVENT:
            if f != 0 and not _mul_ok(f, p):
                return OVERFLOW, i
            value = f * p
        else:
            return OVERFLOW, i  # an unknown kind: the exact kernel raises the error that names it
        # The account's own position (Bybit's view): every trade is its own fill.
        if f != 0:
            ok, acc_q, acc_b, account_realized[i] = _fill(acc_q, acc_b, f, p, value, qm)
            if not ok:
                return OVERFLOW, i
            account[0] = acc_q
            account[1] = acc_b
        if kind == POSITION_EVENT:
            return POSITION_EVENT_AT, i
    account[0] = acc_q
    account[1] = acc_b
    return DONE, stop
