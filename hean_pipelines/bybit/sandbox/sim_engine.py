"""One simulated UTC day: events in time order, folded into the account.

``simulate_day(seed, day, state)`` is a pure function of its inputs. ``state`` is the position state at
00:00 of ``day`` (flat on Mondays); the result carries the state at 24:00. Nothing here depends on the
account's start date, so a day's executions are the same whichever Monday the account opened on.

Time layout of a day (why it is safe to process orders atomically):

- Funding settles at exactly 00:00:00.000, 08:00:00.000 and 16:00:00.000.
- Every order gets its own minute per *lane* (BTCUSDT, ETHUSDT, spot; ADL and TP/SL take a minute in both
  linear lanes), starts 1-25 s into it and finishes its fills within ~7 s, so fills of two orders on one
  symbol never interleave and nothing trades at a funding instant. Folding orders in event order is then
  the same as folding fills by (execTime, seq), which is how a consumer re-folds them.
- ``seq`` is one counter per day, increasing in processing order (``seq_base(day) + n``), so it increases
  with execTime on every symbol and across days.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from hean_pipelines.bybit.sandbox.market import (
    FUNDING_MINUTES,
    MINUTES_PER_DAY,
    MS_PER_MINUTE,
    day_start_ms,
    funding_rates,
    minute_path,
    spot_basis,
)
from hean_pipelines.bybit.sandbox.sim_book import ClosedPnlAccumulator, apply_fill
from hean_pipelines.bybit.sandbox.sim_events import AccountEvent, CashEvent, account_events, cash_events
from hean_pipelines.bybit.sandbox.sim_ids import seq_base
from hean_pipelines.bybit.sandbox.sim_instruments import (
    LINEAR,
    LINEAR_MAKER_FEE,
    LINEAR_MAKER_REBATE,
    LINEAR_TAKER_FEE,
    SPOT,
    SPOT_BUY_LOT,
    SPOT_FEE,
    Instrument,
)
from hean_pipelines.bybit.sandbox.sim_money import ZERO, q8
from hean_pipelines.bybit.sandbox.sim_records import (
    DayCore,
    SimCash,
    SimFill,
    SimFunding,
    SimOrder,
    Snapshot,
    WeekState,
)
from hean_pipelines.bybit.sandbox.sim_strategy import (
    BOOK_NAMES,
    BY_NAME,
    SPOT_BOOKS,
    SPOT_BUY_LOTS,
    SUNDAY,
    SUNDAY_CLOSE_MINUTE,
    BookSpec,
    horizons,
    link_id,
    spot_decision_minutes,
)

T = TypeVar("T")
SPOT_SYMBOL = "ETHUSDT"
SPOT_LANE = "spot"
ACCOUNT_LANE = "account"
SYMBOLS: tuple[str, ...] = tuple(LINEAR)


@dataclass
class _Planned:
    """One thing that happens during the day, once it has a time."""

    kind: str  # decide | close | spot | account | funding | cash
    book: str = ""
    symbol: str = ""
    until: int = 0  # decide: minute (possibly beyond 1440) the book expects to hold its target until
    closing: bool = False
    account_event: AccountEvent | None = None
    cash_event: CashEvent | None = None
    slot: int = 0  # funding: which of the three daily settlements
    minute: int = 0
    ts: int = 0
    rank: int = 0


def flat_state() -> WeekState:
    return WeekState.flat(BOOK_NAMES, SYMBOLS)


def _sign(value: Decimal) -> int:
    return 1 if value > 0 else -1 if value < 0 else 0


class _DaySim:
    def __init__(self, seed: int, day: date, state: WeekState) -> None:
        self.seed = seed
        self.day = day
        self.start = day_start_ms(day)
        self.day_text = f"{day:%Y%m%d}"
        self.sunday = day.weekday() == SUNDAY
        self.open_state = state.copy()
        self.state = state.copy()
        self.rng = random.Random(f"{seed}:{day.isoformat()}:day")  # noqa: S311
        self.paths = {s: minute_path(seed, s, day) for s in SYMBOLS}
        self.seq0 = seq_base(day)
        self.counter = 0
        self.exec_n = 0
        self.order_n = 0
        self.log_n = 0
        self.link_counters = dict.fromkeys(BOOK_NAMES, 0)
        self.orders: list[SimOrder] = []
        self.fundings: list[SimFunding] = []
        self.cash: list[SimCash] = []
        self.snapshots: dict[str, list[Snapshot]] = {s: [] for s in SYMBOLS}
        self.change = {"USDT": ZERO, "ETH": ZERO}
        self.realised = dict.fromkeys(SYMBOLS, ZERO)
        self.bonus = ZERO
        self.last_trade_log: dict[str, int | None] = dict.fromkeys(SYMBOLS)

    # ----------------------------------------------------------------- randomness
    # Inlined draws on ``random()`` only: ``randint``/``choice`` go through slower pure-Python paths and
    # this simulation runs for every day of the account's history.
    def _ri(self, lo: int, hi: int) -> int:
        return lo + int(self.rng.random() * (hi - lo + 1))

    def _uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.rng.random()

    def _pick(self, options: tuple[T, ...]) -> T:
        return options[int(self.rng.random() * len(options))]

    # ----------------------------------------------------------------- counters
    def _next_seq(self) -> int:
        self.counter += 1
        return self.seq0 + self.counter

    def _next_order(self) -> int:
        self.order_n += 1
        return self.order_n

    def _link(self, book: str) -> str:
        if book == "account":
            return ""
        self.link_counters[book] += 1
        return link_id(book, self.day_text, self.link_counters[book])

    def _future_ticks(self, symbol: str, minute: int) -> int:
        if minute < MINUTES_PER_DAY:
            return self.paths[symbol][minute]
        nxt = minute_path(self.seed, symbol, self.day + timedelta(days=1))
        return nxt[min(minute - MINUTES_PER_DAY, MINUTES_PER_DAY - 1)]

    def _spot_ticks(self, minute: int) -> int:
        return self.paths[SPOT_SYMBOL][minute] + spot_basis(self.seed, SPOT_SYMBOL, self.day)[minute // 60]

    # ----------------------------------------------------------------- planning
    def plan(self) -> list[_Planned]:
        """All events of the day, each order on its own minute per lane, sorted by time."""
        requests: list[tuple[int, int, str, _Planned]] = []

        def add(minute: int, lane: str, event: _Planned) -> None:
            requests.append((minute, len(requests), lane, event))

        for book in BOOK_NAMES:
            for symbol in SYMBOLS:
                for minute, horizon in horizons(self.seed, self.day, book, symbol):
                    add(minute, symbol, _Planned("decide", book=book, symbol=symbol, until=minute + horizon))
        for book in SPOT_BOOKS:
            for minute in spot_decision_minutes(self.seed, self.day, book):
                add(minute, SPOT_LANE, _Planned("spot", book=book))
        for account_event in account_events(self.seed, self.day):
            add(account_event.minute, ACCOUNT_LANE, _Planned("account", account_event=account_event))
        if self.sunday:
            for book in BOOK_NAMES:
                for symbol in SYMBOLS:
                    add(SUNDAY_CLOSE_MINUTE, symbol, _Planned("close", book=book, symbol=symbol, closing=True))
            for book in SPOT_BOOKS:
                add(SUNDAY_CLOSE_MINUTE, SPOT_LANE, _Planned("spot", book=book, closing=True))
        requests.sort(key=lambda r: (r[0], r[1]))

        last = {lane: -1 for lane in (*SYMBOLS, SPOT_LANE)}
        events: list[_Planned] = []
        for minute, rank, lane, event in requests:
            lanes = SYMBOLS if lane == ACCOUNT_LANE else (lane,)
            slot = max(minute, *(last[name] + 1 for name in lanes))
            limit = MINUTES_PER_DAY - 1 if event.closing or not self.sunday else SUNDAY_CLOSE_MINUTE - 1
            if slot > limit:
                continue
            for name in lanes:
                last[name] = slot
            event.minute = slot
            event.ts = self.start + slot * MS_PER_MINUTE + self._ri(1_000, 25_000)
            event.rank = 10 + rank
            events.append(event)
        for index, minute in enumerate(FUNDING_MINUTES):
            events.append(_Planned("funding", ts=self.start + minute * MS_PER_MINUTE, rank=index, slot=index))
        for cash_event in cash_events(self.seed, self.day):
            ts = self.start + cash_event.offset_ms
            events.append(_Planned("cash", ts=ts, rank=10 + len(requests), cash_event=cash_event))
        events.sort(key=lambda e: (e.ts, e.rank))
        return events

    # ----------------------------------------------------------------- running
    def run(self) -> DayCore:
        for event in self.plan():
            if event.kind == "funding":
                self._funding(event.slot, event.ts)
            elif event.kind == "decide":
                self._decide(event.book, event.symbol, event.minute, event.until, event.ts)
            elif event.kind == "close":
                self._close_book(event.book, event.symbol, event.minute, event.ts)
            elif event.kind == "spot":
                self._spot_decide(event.book, event.minute, event.ts, event.closing)
            elif event.kind == "account" and event.account_event is not None:
                self._account_event(event.account_event, event.minute, event.ts)
            elif event.kind == "cash" and event.cash_event is not None:
                self._cash(event.cash_event, event.ts)
        if self.sunday and not self.state.is_flat():
            raise AssertionError(f"{self.day}: the account is not flat before Monday")
        return DayCore(
            day=self.day,
            orders=self.orders,
            fundings=self.fundings,
            cash=self.cash,
            snapshots=self.snapshots,
            open_state=self.open_state,
            end_state=self.state,
            change=self.change,
            realised=self.realised,
            bonus=self.bonus,
        )

    # ----------------------------------------------------------------- linear books
    def _decide(self, book: str, symbol: str, minute: int, until: int, ts: int) -> None:
        spec = BY_NAME[book]
        rng = self.rng
        current = self.state.books[(book, symbol)]
        if rng.random() < spec.flat_prob:
            target = ZERO
        else:
            now = self.paths[symbol][minute]
            right = 1 if self._future_ticks(symbol, until) >= now else -1
            direction = right if rng.random() < spec.accuracy else -right
            lo, hi = spec.size_steps[symbol]
            target = direction * self._ri(lo, hi) * LINEAR[symbol].qty_step
        delta = target - current
        if delta == 0:
            return
        maker = rng.random() < spec.maker_prob
        self._linear_order(book, symbol, _sign(delta), abs(delta), minute, ts, maker, spec, partial_ok=True)

    def _close_book(self, book: str, symbol: str, minute: int, ts: int) -> None:
        current = self.state.books[(book, symbol)]
        if current != 0:
            self._linear_order(book, symbol, -_sign(current), abs(current), minute, ts, False, None, False)

    def _split(self, units: int) -> list[int]:
        """Split an order's filled units into 1-4 fills of at least one unit each."""
        parts = min(units, self._pick((1, 1, 1, 2, 2, 3, 4)))
        if parts == 1:
            return [units]
        rand = self.rng.random
        span = units - 1
        ordered = sorted({1 + int(rand() * span) for _ in range(parts - 1)})  # duplicates merge parts
        return [b - a for a, b in zip([0, *ordered], [*ordered, units], strict=True)]

    def _rejected_attempt(
        self, book: str, inst: Instrument, side: int, qty: Decimal, ts: int, maker: bool, ref_ticks: int
    ) -> None:
        """An order that never trades: rejected by risk checks or cancelled before any fill."""
        rng = self.rng
        if maker:
            tif = self._pick(("PostOnly", "GTC"))
            price = inst.price(ref_ticks - side * max(1, int(ref_ticks * 2e-4)))
            if rng.random() < 0.5:
                status, reason, cancel = "Rejected", "EC_ReachRiskPriceLimit", "UNKNOWN"
            elif tif == "PostOnly":
                status, reason, cancel = "Cancelled", "EC_PostOnlyWillTakeLiquidity", "UNKNOWN"
            else:
                status, reason, cancel = "Cancelled", "EC_PerCancelRequest", "CancelByUser"
            order_type = "Limit"
        else:
            tif, order_type = "IOC", "Market"
            price = inst.price(ref_ticks + side * max(1, ref_ticks // 100))
            if rng.random() < 0.5:
                status, reason, cancel = "Rejected", "EC_ReachMarketPriceLimit", "UNKNOWN"
            else:
                status, reason, cancel = "Cancelled", "EC_NoImmediateQtyToFill", "UNKNOWN"
        self.orders.append(
            SimOrder(
                n=self._next_order(),
                category=inst.category,
                symbol=inst.symbol,
                book=book,
                link_id=self._link(book),
                side=side,
                qty=qty,
                price=price,
                order_type=order_type,
                time_in_force=tif,
                status=status,
                reject_reason=reason,
                cancel_type=cancel,
                create_type="CreateByUser",
                stop_order_type="UNKNOWN",
                exec_type="Trade",
                reduce_only=False,
                close_on_trigger=False,
                trigger_price=None,
                tpsl_mode="",
                last_price=inst.price(ref_ticks),
                created_ts=ts,
                updated_ts=ts + self._ri(1, 60),
            )
        )

    def _linear_order(
        self,
        book: str,
        symbol: str,
        side: int,
        qty: Decimal,
        minute: int,
        ts: int,
        maker: bool,
        spec: BookSpec | None,
        partial_ok: bool,
    ) -> None:
        inst = LINEAR[symbol]
        rng = self.rng
        mark_ticks = self.paths[symbol][minute]
        mark = inst.price(mark_ticks)
        if spec is not None and rng.random() < spec.pre_reject_prob:
            self._rejected_attempt(book, inst, side, qty, ts - self._ri(200, 900), maker, mark_ticks)
        units = int(qty / inst.qty_step)
        fill_units, status, cancel = units, "Filled", "UNKNOWN"
        if maker and partial_ok and spec is not None and units >= 2 and rng.random() < spec.partial_cancel_prob:
            fill_units, status, cancel = self._ri(1, units - 1), "PartiallyFilledCanceled", "CancelByUser"
        if maker:
            limit_ticks = mark_ticks - side * int(mark_ticks * self._uniform(0.0, 0.4) * 1e-4)
            order_type, tif, price = "Limit", self._pick(("PostOnly", "GTC")), inst.price(limit_ticks)
        else:
            limit_ticks = 0
            order_type, tif = "Market", "IOC"
            price = inst.price(mark_ticks + side * max(1, mark_ticks // 100))
        order = SimOrder(
            n=self._next_order(),
            category="linear",
            symbol=symbol,
            book=book,
            link_id=self._link(book),
            side=side,
            qty=qty,
            price=price,
            order_type=order_type,
            time_in_force=tif,
            status=status,
            reject_reason="EC_NoError",
            cancel_type=cancel,
            create_type="CreateByUser",
            stop_order_type="UNKNOWN",
            exec_type="Trade",
            reduce_only=False,
            close_on_trigger=False,
            trigger_price=None,
            tpsl_mode="",
            last_price=mark,
            created_ts=ts,
            updated_ts=ts,
            closed=ClosedPnlAccumulator(),
        )
        self.orders.append(order)
        taker_ticks = mark_ticks + side * max(1, int(mark_ticks * self._uniform(0.2, 1.5) * 1e-4))
        fill_ts = ts + self._ri(5, 400)
        leaves = qty
        for index, part in enumerate(self._split(fill_units)):
            if index:
                fill_ts += 0 if rng.random() < 0.35 else self._ri(1, 1_500)
            if maker:
                px_ticks = limit_ticks
                rate = LINEAR_MAKER_REBATE if spec is not None and rng.random() < spec.rebate_prob else LINEAR_MAKER_FEE
            else:
                if index:
                    taker_ticks += side * int(mark_ticks * self._uniform(0.0, 0.5) * 1e-4)
                px_ticks, rate = taker_ticks, LINEAR_TAKER_FEE
            fill_qty = part * inst.qty_step
            leaves -= fill_qty
            self._linear_fill(order, fill_qty, inst.price(px_ticks), rate, maker, fill_ts, mark, leaves)
        order.updated_ts = fill_ts + (self._ri(20, 3_000) if status != "Filled" else self._ri(0, 5))

    def _linear_fill(
        self,
        order: SimOrder,
        qty: Decimal,
        price: Decimal,
        rate: Decimal,
        maker: bool,
        ts: int,
        mark: Decimal,
        leaves: Decimal,
    ) -> None:
        symbol = order.symbol
        state = self.state
        pos = state.account[symbol]
        before = pos.qty
        fee = q8(price * qty * rate)
        effect = apply_fill(pos, order.side, qty, price, fee)
        self.exec_n += 1
        self.log_n += 1
        self.counter += 1
        seq = self.seq0 + self.counter
        order.fills.append(
            SimFill(
                self.exec_n,
                ts,
                seq,
                qty,
                price,
                fee,
                rate,
                "USDT",
                maker,
                mark,
                leaves,
                pos.qty,
                self.log_n,
                effect,
            )
        )
        if order.closed is not None:
            order.closed.add(effect, ts)
        if order.book != "account":
            state.books[(order.book, symbol)] += order.side * qty
        delta = effect.gross - fee
        self.change["USDT"] += delta
        self.realised[symbol] += delta
        after = pos.qty
        if after == 0:
            state.cur_realised[symbol] = ZERO
            state.opened_ts[symbol] = 0
        elif before == 0 or (before > 0) != (after > 0):
            state.cur_realised[symbol] = -(fee - effect.close_fee)
            state.opened_ts[symbol] = ts
        else:
            state.cur_realised[symbol] += delta
        self._snapshot(symbol, ts, seq)
        self.last_trade_log[symbol] = self.log_n

    def _snapshot(self, symbol: str, ts: int, seq: int) -> None:
        pos = self.state.account[symbol]
        self.state.updated[symbol] = (ts, seq)
        self.snapshots[symbol].append(
            Snapshot(
                ts,
                seq,
                pos.qty,
                pos.basis,
                pos.open_fee,
                self.state.opened_ts[symbol],
                self.state.cur_realised[symbol],
                self.realised[symbol],
            )
        )

    # ----------------------------------------------------------------- account-level events
    def _shrink_books(self, symbol: str) -> None:
        """Scale every book so they sum to the account position again (pro rata, exact on the grid)."""
        new_total = self.state.account[symbol].qty
        holders = [(b, self.state.books[(b, symbol)]) for b in BOOK_NAMES]
        old_total = sum((q for _, q in holders), ZERO)
        step = LINEAR[symbol].qty_step
        for book, qty in holders:
            scaled = (qty * new_total / old_total).quantize(step, rounding=ROUND_HALF_UP)
            if scaled * old_total != qty * new_total:
                raise AssertionError(f"inexact pro-rata split of {symbol}: {qty} * {new_total} / {old_total}")
            self.state.books[(book, symbol)] = scaled

    def _account_event(self, event: AccountEvent, minute: int, ts: int) -> None:
        order_of_symbols = (event.symbol, *(s for s in SYMBOLS if s != event.symbol))
        symbol = next((s for s in order_of_symbols if self.state.account[s].qty != 0), None)
        if symbol is None:
            return
        inst = LINEAR[symbol]
        rng = self.rng
        pos = self.state.account[symbol]
        size = abs(pos.qty)
        side = -_sign(pos.qty)
        # Split exactly: with g = gcd of the books' positions (in qty steps), closing j/g of the net
        # position takes exactly j/g of every book, on the qty grid. Any consumer that splits the row by
        # share of the net position then reproduces the books' positions exactly. g == 1 -> close all.
        book_units = [int(self.state.books[(b, symbol)] / inst.qty_step) for b in BOOK_NAMES]
        g = math.gcd(*book_units)
        chunk = int(size / inst.qty_step) // g
        if event.fraction >= 1 or g == 1:
            chunks = g
        else:
            wanted = int((event.fraction * g).to_integral_value(rounding=ROUND_HALF_UP))
            chunks = max(1, min(g - 1, wanted))
        qty = chunks * chunk * inst.qty_step
        mark_ticks = self.paths[symbol][minute]
        mark = inst.price(mark_ticks)
        if event.kind == "adl":
            create, stop, exec_type, tpsl_mode, trigger = "CreateByAdl", "UNKNOWN", "AdlTrade", "", None
            price_ticks, parts = mark_ticks, [chunks]
        else:
            in_profit = (_sign(pos.qty) * (size * mark - pos.basis)) > 0
            create = "CreateByTakeProfit" if in_profit else "CreateByStopLoss"
            stop = "TakeProfit" if in_profit else "StopLoss"
            exec_type, tpsl_mode, trigger = "Trade", "Full" if qty == size else "Partial", mark
            price_ticks = mark_ticks + side * max(1, int(mark_ticks * self._uniform(0.2, 1.5) * 1e-4))
            parts = self._split(chunks) if rng.random() < 0.5 else [chunks]
        order = SimOrder(
            n=self._next_order(),
            category="linear",
            symbol=symbol,
            book="account",
            link_id="",
            side=side,
            qty=qty,
            price=inst.price(mark_ticks + side * max(1, mark_ticks // 100)) if event.kind != "adl" else mark,
            order_type="Market",
            time_in_force="IOC",
            status="Filled",
            reject_reason="EC_NoError",
            cancel_type="UNKNOWN",
            create_type=create,
            stop_order_type=stop,
            exec_type=exec_type,
            reduce_only=True,
            close_on_trigger=event.kind != "adl",
            trigger_price=trigger,
            tpsl_mode=tpsl_mode,
            last_price=mark,
            created_ts=ts,
            updated_ts=ts,
            closed=ClosedPnlAccumulator(),
        )
        self.orders.append(order)
        fill_ts = ts + self._ri(5, 400)
        leaves = qty
        rate = ZERO if event.kind == "adl" else LINEAR_TAKER_FEE
        fill_price = inst.price(price_ticks)
        for index, part in enumerate(parts):
            if index:
                fill_ts += 0 if rng.random() < 0.35 else self._ri(1, 1_500)
            fill_qty = part * chunk * inst.qty_step  # whole chunks keep every book's share exact
            leaves -= fill_qty
            self._linear_fill(order, fill_qty, fill_price, rate, False, fill_ts, mark, leaves)
            self._shrink_books(symbol)
        order.updated_ts = fill_ts + self._ri(0, 5)

    def _funding(self, slot: int, ts: int) -> None:
        for symbol in SYMBOLS:
            pos = self.state.account[symbol]
            if pos.qty == 0:
                continue
            mark = LINEAR[symbol].price(self.paths[symbol][FUNDING_MINUTES[slot]])
            rate = funding_rates(self.seed, symbol, self.day)[slot]
            fee = q8(pos.qty * mark * rate)
            self.exec_n += 1
            reuse = self.last_trade_log[symbol]
            if reuse is not None and self.rng.random() < 0.4:
                log_n = reuse
            else:
                self.log_n += 1
                log_n = self.log_n
            funding = SimFunding(self.exec_n, symbol, ts, self._next_seq(), pos.qty, mark, rate, fee, log_n)
            self.fundings.append(funding)
            self.change["USDT"] -= fee
            self.realised[symbol] -= fee
            self.state.cur_realised[symbol] -= fee
            self._snapshot(symbol, ts, funding.seq)

    # ----------------------------------------------------------------- spot
    def _spot_decide(self, book: str, minute: int, ts: int, closing: bool) -> None:
        holding = self.state.spot[book]
        if holding == 0:
            if closing:
                return
            lo, hi = SPOT_BUY_LOTS[book]
            side, qty = 1, self._ri(lo, hi) * SPOT_BUY_LOT
        else:
            side, qty = -1, holding
        maker = not closing and self.rng.random() < 0.5
        self._spot_order(book, side, qty, minute, ts, maker, partial_ok=not closing)

    def _spot_order(
        self, book: str, side: int, qty: Decimal, minute: int, ts: int, maker: bool, partial_ok: bool
    ) -> None:
        inst = SPOT[SPOT_SYMBOL]
        rng = self.rng
        ref = self._spot_ticks(minute)
        if partial_ok and rng.random() < BY_NAME[book].pre_reject_prob:
            self._rejected_attempt(book, inst, side, qty, ts - self._ri(200, 900), maker, ref)
        unit = SPOT_BUY_LOT if side > 0 else inst.qty_step  # buys in whole lots keep the ETH fee on-grid
        units = int(qty / unit)
        fill_units, status, cancel = units, "Filled", "UNKNOWN"
        if maker and partial_ok and units >= 2 and rng.random() < 0.1:
            fill_units, status, cancel = self._ri(1, units - 1), "PartiallyFilledCanceled", "CancelByUser"
        if maker:
            px_ticks = ref - side * int(ref * self._uniform(0.0, 0.4) * 1e-4)
            tif, price = "PostOnly", inst.price(px_ticks)
        else:
            px_ticks = ref + side * max(1, int(ref * self._uniform(0.2, 1.5) * 1e-4))
            tif, price = "IOC", inst.price(ref + side * max(1, int(ref * 5e-4)))
        order = SimOrder(
            n=self._next_order(),
            category="spot",
            symbol=SPOT_SYMBOL,
            book=book,
            link_id=self._link(book),
            side=side,
            qty=qty,
            price=price,
            order_type="Limit",
            time_in_force=tif,
            status=status,
            reject_reason="EC_NoError",
            cancel_type=cancel,
            create_type="CreateByUser",
            stop_order_type="UNKNOWN",
            exec_type="Trade",
            reduce_only=False,
            close_on_trigger=False,
            trigger_price=None,
            tpsl_mode="",
            last_price=inst.price(ref),
            created_ts=ts,
            updated_ts=ts,
        )
        self.orders.append(order)
        fill_ts = ts + self._ri(5, 400)
        leaves = qty
        for index, part in enumerate(self._split(fill_units)):
            if index:
                fill_ts += 0 if rng.random() < 0.35 else self._ri(1, 1_500)
            fill_qty = part * unit
            leaves -= fill_qty
            fill_price = inst.price(px_ticks)
            value = fill_price * fill_qty
            if side > 0:
                fee, currency = q8(fill_qty * SPOT_FEE), "ETH"
                self.state.spot[book] += fill_qty - fee
                self.change["ETH"] += fill_qty - fee
                self.change["USDT"] -= value
            else:
                fee, currency = q8(value * SPOT_FEE), "USDT"
                self.state.spot[book] -= fill_qty
                self.change["ETH"] -= fill_qty
                self.change["USDT"] += value - fee
            self.exec_n += 1
            self.log_n += 2
            order.fills.append(
                SimFill(
                    n=self.exec_n,
                    ts=fill_ts,
                    seq=self._next_seq(),
                    qty=fill_qty,
                    price=fill_price,
                    fee=fee,
                    fee_rate=SPOT_FEE,
                    fee_currency=currency,
                    is_maker=maker,
                    mark=inst.price(ref),
                    leaves_qty=leaves,
                    size_after=sum(self.state.spot.values(), ZERO),
                    log_n=self.log_n - 1,
                )
            )
        order.updated_ts = fill_ts + (self._ri(20, 3_000) if status != "Filled" else self._ri(0, 5))

    # ----------------------------------------------------------------- cash
    def _cash(self, event: CashEvent, ts: int) -> None:
        self.log_n += 1
        self.counter += 1
        amount = -event.amount if event.type == "TRANSFER_OUT" else event.amount
        self.cash.append(SimCash(self.log_n, ts, self.counter, event.type, "USDT", amount))
        self.change["USDT"] += amount
        if event.type == "BONUS":
            self.bonus += amount


def simulate_day(seed: int, day: date, state: WeekState) -> DayCore:
    """Simulate ``day`` from the position ``state`` at its 00:00 (must be flat on a Monday)."""
    if day.weekday() == 0 and not state.is_flat():
        raise ValueError(f"{day} is a Monday: the opening state must be flat")
    return _DaySim(seed, day, state).run()
