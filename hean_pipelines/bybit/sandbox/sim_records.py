"""The simulator's internal records: orders, fills, funding settlements, cash events, and the state that
carries from one day of a week to the next.

Records hold exact ``Decimal`` amounts and integer timestamps; turning them into Bybit-shaped dicts (ids,
strings, cash balances) is :mod:`.sim_render`'s job, done only for the days somebody asks for. That split
is what keeps a day's simulation cheap enough to fold hundreds of days for a running cash balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from hean_pipelines.bybit.sandbox.sim_book import ClosedPnlAccumulator, FillEffect, LinearPosition
from hean_pipelines.bybit.sandbox.sim_money import ZERO


@dataclass(slots=True)
class SimFill:
    """One execution of an order."""

    n: int  # per-day execution counter (-> execId)
    ts: int
    seq: int
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_rate: Decimal
    fee_currency: str
    is_maker: bool
    mark: Decimal
    leaves_qty: Decimal
    size_after: Decimal  # linear: account position after the fill (signed); spot: base holding after
    log_n: int  # transaction-log row counter (spot fills use log_n and log_n + 1)
    effect: FillEffect | None = None  # linear only


@dataclass(slots=True)
class SimOrder:
    """One order, filled or not."""

    n: int  # per-day order counter (-> orderId)
    category: str
    symbol: str
    book: str  # edge | loser | noise | manual | account (ADL, TP/SL act on the account position)
    link_id: str
    side: int  # +1 Buy, -1 Sell
    qty: Decimal
    price: Decimal
    order_type: str
    time_in_force: str
    status: str
    reject_reason: str
    cancel_type: str
    create_type: str
    stop_order_type: str
    exec_type: str
    reduce_only: bool
    close_on_trigger: bool
    trigger_price: Decimal | None
    tpsl_mode: str
    last_price: Decimal
    created_ts: int
    updated_ts: int
    fills: list[SimFill] = field(default_factory=list)
    closed: ClosedPnlAccumulator | None = None

    @property
    def cum_qty(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)

    @property
    def cum_value(self) -> Decimal:
        return sum((f.qty * f.price for f in self.fills), ZERO)

    @property
    def cum_fee(self) -> Decimal:
        return sum((f.fee for f in self.fills), ZERO)


@dataclass(slots=True)
class SimFunding:
    """A funding settlement on the account position of one symbol."""

    n: int  # execution counter (-> execId)
    symbol: str
    ts: int
    seq: int
    size: Decimal  # signed account position at settlement
    mark: Decimal
    rate: Decimal  # full-precision rate (8 dp)
    fee: Decimal  # funding paid (> 0) or received (< 0), Bybit's execFee sign
    log_n: int  # transaction-log counter; may equal a TRADE row's (Bybit reuses ids)


@dataclass(slots=True)
class SimCash:
    """A wallet movement that is not a trade: rewards, transfers, trial bonus."""

    log_n: int
    ts: int
    rank: int  # processing order, the tie-break among equal timestamps
    type: str
    currency: str
    amount: Decimal


class Snapshot(NamedTuple):
    """Account position of one symbol right after a fill or a funding settlement."""

    ts: int
    seq: int
    qty: Decimal
    basis: Decimal
    open_fee: Decimal
    opened_ts: int
    cur_realised: Decimal
    realised_today: Decimal


@dataclass
class WeekState:
    """Everything that carries from one day to the next inside a week (flat every Monday 00:00)."""

    account: dict[str, LinearPosition]
    opened_ts: dict[str, int]
    cur_realised: dict[str, Decimal]
    books: dict[tuple[str, str], Decimal]  # (book, symbol) -> signed virtual position
    spot: dict[str, Decimal]  # book -> base-coin holding
    updated: dict[str, tuple[int, int]]  # symbol -> (ts, seq) of the last fill or funding on it

    @classmethod
    def flat(cls, books: tuple[str, ...], symbols: tuple[str, ...]) -> WeekState:
        return cls(
            account={s: LinearPosition() for s in symbols},
            opened_ts={s: 0 for s in symbols},
            cur_realised={s: ZERO for s in symbols},
            books={(b, s): ZERO for b in books for s in symbols},
            spot={b: ZERO for b in books},
            updated={s: (0, -1) for s in symbols},
        )

    def copy(self) -> WeekState:
        return WeekState(
            account={s: p.copy() for s, p in self.account.items()},
            opened_ts=dict(self.opened_ts),
            cur_realised=dict(self.cur_realised),
            books=dict(self.books),
            spot=dict(self.spot),
            updated=dict(self.updated),
        )

    def is_flat(self) -> bool:
        return (
            all(p.qty == 0 and p.basis == 0 for p in self.account.values())
            and all(q == 0 for q in self.books.values())
            and all(h == 0 for h in self.spot.values())
        )


@dataclass
class DayCore:
    """The simulated facts of one UTC day, before rendering."""

    day: date
    orders: list[SimOrder]
    fundings: list[SimFunding]
    cash: list[SimCash]
    snapshots: dict[str, list[Snapshot]]
    open_state: WeekState
    end_state: WeekState
    change: dict[str, Decimal]  # per currency: sum of transaction-log ``change``
    realised: dict[str, Decimal]  # per symbol: gross realized - fees + funding received
    bonus: Decimal
