"""A simulated Bybit v5 UNIFIED account: what the sandbox exchange serves, day by day.

The data of UTC day D is a pure function of (seed, start_date, D): the same on every machine and every
run. Everything but the wallet (cash balances, cumulative realized pnl, the opening deposit) is even
independent of ``start_date``: positions are flat every Monday 00:00 UTC, so a day depends only on the
days of its own week (simulated from that Monday) and on the deterministic price path.

What is in it (see the ``sim_*`` modules for the why of each part):

- :mod:`.market` -- mark price paths (minute resolution, continuous across days), a spot path around the
  ETH mark, funding rates;
- :mod:`.sim_strategy` -- the three processes ``edge``/``loser``/``noise`` (``orderLinkId`` prefixes) plus
  untagged manual orders, with a planted edge;
- :mod:`.sim_events` -- ADL, position TP/SL, rewards, transfers, trial bonus;
- :mod:`.sim_engine` -- one day, folded in time order; :mod:`.sim_book` -- Bybit's average-entry accounting
  (closed pnl, ``cashFlow``); :mod:`.sim_render` -- Bybit-shaped items.

Money rules (all exact ``Decimal``): ``execValue = execPrice * execQty``; ``execFee = q8(execValue *
feeRate)`` (a spot buy pays ``q8(execQty * feeRate)`` in the base coin); funding ``execFee = q8(signed size
* mark * rate)`` with the full 8-dp rate while ``feeRate`` shows it truncated to 6 dp; the transaction log's
``change = cashFlow + funding - fee`` and ``cashBalance`` chains per currency in (transactionTime, seq)
order from 0 before the 100000 USDT deposit at ``start_date`` 00:00:00.000. ``q8`` = half-up (ties away
from zero) at 8 dp; closed-pnl rules are in :mod:`.sim_book`. A BONUS row is cash (``change`` and
``bonusChange`` = the amount) and also shows in the wallet's ``bonus``.

Costs: a day's simulation takes a few milliseconds; results are cached per account. The cash balance of
day D needs the sum of every earlier day's changes, so per-day totals (a few decimals) are kept for all
days while full days sit in a small LRU. All public methods are thread-safe (one lock per account);
returned items are shared with the cache, so callers must not mutate them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from hean_pipelines.bybit.sandbox import market
from hean_pipelines.bybit.sandbox.sim_engine import SYMBOLS, flat_state, simulate_day
from hean_pipelines.bybit.sandbox.sim_instruments import (
    LEVERAGE,
    LINEAR,
    MAINTENANCE_RATE,
    RISK_LIMIT_VALUE,
)
from hean_pipelines.bybit.sandbox.sim_money import ZERO, div8, fmt, fmt_fixed, q8
from hean_pipelines.bybit.sandbox.sim_records import DayCore, Snapshot, WeekState
from hean_pipelines.bybit.sandbox.sim_render import (
    OPENING_DEPOSIT,
    cash_changes_until,
    render_closed_pnl,
    render_executions,
    render_orders,
    render_transactions,
)
from hean_pipelines.bybit.sandbox.sim_strategy import PROCESS_PREFIXES

DEFAULT_SEED = 7
DEFAULT_START_DATE = date(2025, 12, 29)  # a Monday
SANDBOX_PROCESS_PREFIXES: tuple[str, ...] = PROCESS_PREFIXES  # ("edge", "loser", "noise")
LINEAR_SYMBOLS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
SPOT_SYMBOLS: tuple[str, ...] = ("ETHUSDT",)
COINS: tuple[str, ...] = ("USDT", "ETH")

_CORE_CACHE_DAYS = 21
_RENDER_CACHE_DAYS = 21

assert SYMBOLS == LINEAR_SYMBOLS


@dataclass(frozen=True)
class SandboxDay:
    """Everything the sandbox exchange knows about one UTC day, as Bybit v5 ``result.list`` items."""

    day: date
    executions: dict[str, list[dict]]  # by category "linear"/"spot": /v5/execution/list items
    orders: dict[str, list[dict]]  # by category: /v5/order/history items
    closed_pnl: list[dict]  # linear /v5/position/closed-pnl items
    transactions: list[dict]  # /v5/account/transaction-log items (each has "category")
    mark_klines: dict[str, list[list[str]]]  # linear symbol -> 24 hourly [start, open, high, low, close]
    spot_klines: dict[str, list[list[str]]]  # spot symbol -> 24 hourly [start, o, h, l, c, volume, turnover]

    @classmethod
    def empty(cls, day: date) -> SandboxDay:
        return cls(
            day=day,
            executions={"linear": [], "spot": []},
            orders={"linear": [], "spot": []},
            closed_pnl=[],
            transactions=[],
            mark_klines={s: [] for s in LINEAR_SYMBOLS},
            spot_klines={s: [] for s in SPOT_SYMBOLS},
        )


@dataclass(frozen=True)
class _DayTotals:
    """What a day adds to the running (start-date dependent) account figures."""

    change: dict[str, Decimal]  # per currency, excluding the opening deposit
    realised: dict[str, Decimal]  # per symbol: gross realized - fees + funding
    bonus: Decimal


@dataclass
class _Opening:
    """Running figures at 00:00 of a day."""

    cash: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(COINS, ZERO))
    realised: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(LINEAR_SYMBOLS, ZERO))
    bonus: Decimal = ZERO


class SandboxAccount:
    """The simulated account of one (seed, start_date)."""

    def __init__(self, seed: int = DEFAULT_SEED, start_date: date = DEFAULT_START_DATE) -> None:
        if start_date.weekday() != 0:
            raise ValueError(f"start_date must be a Monday, got {start_date} ({start_date:%A})")
        self.seed = seed
        self.start_date = start_date
        self._lock = threading.RLock()
        self._end_states: dict[date, WeekState] = {}
        self._totals: dict[date, _DayTotals] = {}
        self._openings: dict[date, _Opening] = {start_date: _Opening()}
        self._cores: OrderedDict[date, DayCore] = OrderedDict()
        self._days: OrderedDict[date, SandboxDay] = OrderedDict()

    # ----------------------------------------------------------------- simulation and caches
    def _core(self, day: date) -> DayCore:
        """The simulated day (``day`` >= start_date), from cache or by simulating its week up to it."""
        cached = self._cores.get(day)
        if cached is not None:
            self._cores.move_to_end(day)
            return cached
        monday = day - timedelta(days=day.weekday())
        first = day
        while first > monday and (first - timedelta(days=1)) not in self._end_states:
            first -= timedelta(days=1)
        state = flat_state() if first == monday else self._end_states[first - timedelta(days=1)]
        current = first
        while True:
            core = simulate_day(self.seed, current, state)
            self._end_states[current] = core.end_state
            self._totals[current] = _DayTotals(dict(core.change), dict(core.realised), core.bonus)
            if current == day:
                break
            state = core.end_state
            current += timedelta(days=1)
        self._cores[day] = core
        if len(self._cores) > _CORE_CACHE_DAYS:
            self._cores.popitem(last=False)
        return core

    def _day_totals(self, day: date) -> _DayTotals:
        totals = self._totals.get(day)
        if totals is None:
            self._core(day)
            totals = self._totals[day]
        return totals

    def _opening(self, day: date) -> _Opening:
        """Running figures at 00:00 of ``day`` (``day`` >= start_date)."""
        opening = self._openings.get(day)
        if opening is not None:
            return opening
        known = max(d for d in self._openings if d <= day)
        current, running = known, self._openings[known]
        while current < day:
            totals = self._day_totals(current)
            cash = {c: running.cash[c] + totals.change.get(c, ZERO) for c in COINS}
            if current == self.start_date:
                cash["USDT"] += OPENING_DEPOSIT
            running = _Opening(
                cash=cash,
                realised={s: running.realised[s] + totals.realised[s] for s in LINEAR_SYMBOLS},
                bonus=running.bonus + totals.bonus,
            )
            current += timedelta(days=1)
            self._openings[current] = running
        return running

    # ----------------------------------------------------------------- public API
    def day(self, day: date) -> SandboxDay:
        """All data of UTC ``day`` (cached); an empty day before ``start_date``."""
        with self._lock:
            if day < self.start_date:
                return SandboxDay.empty(day)
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
            opening = self._opening(day)
            core = self._core(day)
            rendered = SandboxDay(
                day=day,
                executions=render_executions(self.seed, core),
                orders=render_orders(self.seed, core),
                closed_pnl=render_closed_pnl(self.seed, core),
                transactions=render_transactions(self.seed, core, opening.cash, day == self.start_date),
                mark_klines={s: market.mark_klines(self.seed, s, day) for s in LINEAR_SYMBOLS},
                spot_klines={s: market.spot_klines(self.seed, s, day) for s in SPOT_SYMBOLS},
            )
            self._days[day] = rendered
            if len(self._days) > _RENDER_CACHE_DAYS:
                self._days.popitem(last=False)
            return rendered

    def positions_at(self, category: str, ts_ms: int) -> list[dict]:
        """``/v5/position/list`` items for the open positions at the instant ``ts_ms`` (linear only)."""
        with self._lock:
            day = market.day_of_ms(ts_ms)
            if category != "linear" or day < self.start_date:
                return []
            core = self._core(day)
            opening = self._opening(day)
            out = []
            for symbol in LINEAR_SYMBOLS:
                snap = self._snapshot_at(core, symbol, ts_ms)
                if snap.qty != 0:
                    out.append(self._position_item(symbol, snap, opening.realised[symbol], ts_ms))
            return out

    def wallet_balance_at(self, ts_ms: int) -> dict:
        """One ``/v5/account/wallet-balance`` ``result.list`` item (UNIFIED) at the instant ``ts_ms``."""
        with self._lock:
            day = market.day_of_ms(ts_ms)
            if day < self.start_date:
                return _wallet_item([], ZERO, ZERO, ZERO, ZERO)
            core = self._core(day)
            opening = self._opening(day)
            changes = cash_changes_until(core, ts_ms)
            if day == self.start_date:
                changes["USDT"] += OPENING_DEPOSIT
            cash = {c: opening.cash[c] + changes[c] for c in COINS}
            upl = im = mm = ZERO
            cum_realised = ZERO
            for symbol in LINEAR_SYMBOLS:
                snap = self._snapshot_at(core, symbol, ts_ms)
                cum_realised += opening.realised[symbol] + snap.realised_today
                if snap.qty == 0:
                    continue
                mark = market.mark_price_at(self.seed, symbol, ts_ms)
                upl += _unrealised(snap, mark)
                im += q8(snap.basis / LEVERAGE)
                mm += q8(snap.basis * MAINTENANCE_RATE)
            bonuses = (c.amount for c in core.cash if c.type == "BONUS" and c.ts <= ts_ms)
            bonus = opening.bonus + sum(bonuses, ZERO)
            eth_price = market.spot_price_at(self.seed, SPOT_SYMBOLS[0], ts_ms)
            coins = [
                _coin_item("USDT", cash["USDT"], Decimal(1), upl, cum_realised, im, mm, bonus),
            ]
            if cash["ETH"] != 0:
                coins.append(_coin_item("ETH", cash["ETH"], eth_price, ZERO, ZERO, ZERO, ZERO, ZERO))
            wallet_usd = cash["USDT"] + q8(cash["ETH"] * eth_price)
            return _wallet_item(coins, wallet_usd, upl, im, mm)

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _snapshot_at(core: DayCore, symbol: str, ts_ms: int) -> Snapshot:
        last = None
        for snap in core.snapshots[symbol]:
            if snap.ts > ts_ms:
                break
            last = snap
        if last is not None:
            return last
        state = core.open_state
        pos = state.account[symbol]
        ts, seq = state.updated[symbol]
        opened, realised = state.opened_ts[symbol], state.cur_realised[symbol]
        return Snapshot(ts, seq, pos.qty, pos.basis, pos.open_fee, opened, realised, ZERO)

    def _position_item(self, symbol: str, snap: Snapshot, realised_before: Decimal, ts_ms: int) -> dict:
        inst = LINEAR[symbol]
        size = abs(snap.qty)
        mark = market.mark_price_at(self.seed, symbol, ts_ms)
        long_position = snap.qty > 0
        break_even = div8(snap.basis + snap.open_fee if long_position else snap.basis - snap.open_fee, size)
        im = q8(snap.basis / LEVERAGE)
        mm = q8(snap.basis * MAINTENANCE_RATE)
        return {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": RISK_LIMIT_VALUE[symbol],
            "symbol": symbol,
            "side": "Buy" if long_position else "Sell",
            "size": fmt_fixed(size, inst.qty_step),
            "avgPrice": fmt(div8(snap.basis, size)),
            "positionValue": fmt(snap.basis),
            "tradeMode": 0,
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": fmt(LEVERAGE),
            "markPrice": fmt_fixed(mark, inst.tick),
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": fmt(im),
            "positionMM": fmt(mm),
            "positionIMByMp": fmt(im),
            "positionMMByMp": fmt(mm),
            "positionBalance": fmt(im),
            "tpslMode": "Full",
            "takeProfit": "",
            "stopLoss": "",
            "trailingStop": "0",
            "sessionAvgPrice": "",
            "delta": "",
            "gamma": "",
            "vega": "",
            "theta": "",
            "unrealisedPnl": fmt(_unrealised(snap, mark)),
            "curRealisedPnl": fmt(snap.cur_realised),
            "cumRealisedPnl": fmt(realised_before + snap.realised_today),
            "breakEvenPrice": fmt(break_even),
            "adlRankIndicator": 2,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "createdTime": str(snap.opened_ts),
            "updatedTime": str(snap.ts),
            "openTime": snap.opened_ts,
            "seq": snap.seq,
        }


def _unrealised(snap: Snapshot, mark: Decimal) -> Decimal:
    """Mark-to-market pnl of the open position against its cost basis (exact at 8 dp)."""
    value = abs(snap.qty) * mark
    return q8(value - snap.basis if snap.qty > 0 else snap.basis - value)


def _coin_item(
    coin: str,
    wallet: Decimal,
    price: Decimal,
    upl: Decimal,
    cum_realised: Decimal,
    im: Decimal,
    mm: Decimal,
    bonus: Decimal,
) -> dict:
    equity = wallet + upl
    return {
        "coin": coin,
        "equity": fmt(equity),
        "usdValue": fmt(q8(equity * price)),
        "walletBalance": fmt(wallet),
        "free": "",
        "locked": "0",
        "spotHedgingQty": "0",
        "borrowAmount": "0",
        "availableToBorrow": "",
        "availableToWithdraw": "",
        "accruedInterest": "0",
        "totalOrderIM": "0",
        "totalPositionIM": fmt(im),
        "totalPositionMM": fmt(mm),
        "unrealisedPnl": fmt(upl),
        "cumRealisedPnl": fmt(cum_realised),
        "bonus": fmt(bonus),
        "marginCollateral": True,
        "collateralSwitch": True,
        "spotBorrow": "0",
    }


def _wallet_item(coins: list[dict], wallet_usd: Decimal, upl: Decimal, im: Decimal, mm: Decimal) -> dict:
    margin = wallet_usd + upl
    im_rate = fmt(q8(im / margin).quantize(Decimal("0.0001"))) if margin > 0 else "0"
    mm_rate = fmt(q8(mm / margin).quantize(Decimal("0.0001"))) if margin > 0 else "0"
    return {
        "accountType": "UNIFIED",
        "accountLTV": "0",
        "accountIMRate": im_rate,
        "accountMMRate": mm_rate,
        "accountIMRateByMp": im_rate,
        "accountMMRateByMp": mm_rate,
        "totalEquity": fmt(margin),
        "totalWalletBalance": fmt(wallet_usd),
        "totalMarginBalance": fmt(margin),
        "totalAvailableBalance": fmt(margin - im),
        "totalPerpUPL": fmt(upl),
        "totalInitialMargin": fmt(im),
        "totalMaintenanceMargin": fmt(mm),
        "totalInitialMarginByMp": fmt(im),
        "totalMaintenanceMarginByMp": fmt(mm),
        "coin": coins,
    }
