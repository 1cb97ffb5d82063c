"""Turn a simulated day into the items Bybit v5 puts in ``result.list``, field for field.

Shapes follow Bybit's v5 docs and the reference responses in ``shared/fixtures/bybit``: camelCase keys,
every number a decimal string (prices at tick precision, quantities at the qty step, money without
trailing zeros, transaction-log ``fee`` at 8 dp like the fixture), ``isMaker`` a bool, ``seq`` an int,
timestamps as millisecond strings and ``""`` for absent optional fields. Spot executions have no
``createType`` key, as documented ("Spot, Option do not have this key").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hean_pipelines.bybit.sandbox.market import day_start_ms
from hean_pipelines.bybit.sandbox.sim_ids import account_uid, log_row_number, sandbox_uuid
from hean_pipelines.bybit.sandbox.sim_instruments import LEVERAGE, LINEAR, SPOT, Instrument
from hean_pipelines.bybit.sandbox.sim_money import Q8, ZERO, div8, fmt, fmt_fixed, trunc
from hean_pipelines.bybit.sandbox.sim_records import DayCore, SimFill, SimFunding, SimOrder

FUNDING_RATE_QUANTUM = Decimal("0.000001")
OPENING_DEPOSIT = Decimal(100_000)


def _side(side: int) -> str:
    return "Buy" if side > 0 else "Sell"


class _Ids:
    """Order and execution ids of one day, derived once per counter."""

    def __init__(self, seed: int, day: date) -> None:
        self.seed = seed
        self.day = day

    def order(self, n: int) -> str:
        return sandbox_uuid(self.seed, self.day, "order", n)

    def execution(self, n: int) -> str:
        return sandbox_uuid(self.seed, self.day, "exec", n)


def _instrument(order: SimOrder) -> Instrument:
    return LINEAR[order.symbol] if order.category == "linear" else SPOT[order.symbol]


def _execution(order: SimOrder, fill: SimFill, ids: _Ids) -> dict[str, object]:
    inst = _instrument(order)
    item: dict[str, object] = {
        "symbol": order.symbol,
        "orderId": ids.order(order.n),
        "orderLinkId": order.link_id,
        "side": _side(order.side),
        "orderPrice": fmt_fixed(order.price, inst.tick),
        "orderQty": fmt_fixed(order.qty, inst.qty_step),
        "leavesQty": fmt_fixed(fill.leaves_qty, inst.qty_step),
    }
    if order.category == "linear":
        item["createType"] = order.create_type
    item.update(
        {
            "orderType": order.order_type,
            "stopOrderType": order.stop_order_type,
            "execFee": fmt(fill.fee),
            "execFeeV2": "",
            "execId": ids.execution(fill.n),
            "execPrice": fmt_fixed(fill.price, inst.tick),
            "execQty": fmt_fixed(fill.qty, inst.qty_step),
            "execType": order.exec_type,
            "execValue": fmt(fill.price * fill.qty),
            "execTime": str(fill.ts),
            "feeCurrency": fill.fee_currency,
            "isMaker": fill.is_maker,
            "feeRate": fmt(fill.fee_rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": fmt_fixed(fill.mark, inst.tick),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": fmt_fixed(fill.effect.closed, inst.qty_step) if fill.effect is not None else "",
            "seq": fill.seq,
            "extraFees": "",
        }
    )
    return item


def _funding_execution(funding: SimFunding, ids: _Ids) -> dict[str, object]:
    inst = LINEAR[funding.symbol]
    size = abs(funding.size)
    return {
        "symbol": funding.symbol,
        "orderId": "",
        "orderLinkId": "",
        "side": _side(1 if funding.size > 0 else -1),
        "orderPrice": "",
        "orderQty": "",
        "leavesQty": "",
        "createType": "",
        "orderType": "UNKNOWN",
        "stopOrderType": "UNKNOWN",
        "execFee": fmt(funding.fee),
        "execFeeV2": "",
        "execId": ids.execution(funding.n),
        "execPrice": fmt_fixed(funding.mark, inst.tick),
        "execQty": fmt_fixed(size, inst.qty_step),
        "execType": "Funding",
        "execValue": fmt(size * funding.mark),
        "execTime": str(funding.ts),
        "feeCurrency": "USDT",
        "isMaker": False,
        "feeRate": fmt(trunc(funding.rate, FUNDING_RATE_QUANTUM)),
        "tradeIv": "",
        "markIv": "",
        "markPrice": fmt_fixed(funding.mark, inst.tick),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": "",
        "seq": funding.seq,
        "extraFees": "",
    }


def render_executions(seed: int, core: DayCore) -> dict[str, list[dict[str, object]]]:
    """``/v5/execution/list`` items by category, oldest first."""
    ids = _Ids(seed, core.day)
    out: dict[str, list[dict[str, object]]] = {"linear": [], "spot": []}
    rows: list[tuple[int, int, str, dict[str, object]]] = []
    for order in core.orders:
        for fill in order.fills:
            rows.append((fill.ts, fill.seq, order.category, _execution(order, fill, ids)))
    for funding in core.fundings:
        rows.append((funding.ts, funding.seq, "linear", _funding_execution(funding, ids)))
    rows.sort(key=lambda r: (r[0], r[1]))
    for _ts, _seq, category, item in rows:
        out[category].append(item)
    return out


def _trigger_direction(order: SimOrder) -> int:
    """1 = triggers on a rise, 2 = on a fall (a long's TP and a short's SL trigger on a rise)."""
    if order.stop_order_type not in ("TakeProfit", "StopLoss"):
        return 0
    long_position = order.side < 0  # the closing order sells a long
    take_profit = order.stop_order_type == "TakeProfit"
    return 1 if long_position == take_profit else 2


def _order(order: SimOrder, ids: _Ids) -> dict[str, object]:
    inst = _instrument(order)
    cum_qty, cum_value, cum_fee = order.cum_qty, order.cum_value, order.cum_fee
    linear = order.category == "linear"
    trigger = fmt_fixed(order.trigger_price, inst.tick) if order.trigger_price is not None else ""
    return {
        "orderId": ids.order(order.n),
        "orderLinkId": order.link_id,
        "blockTradeId": "",
        "symbol": order.symbol,
        "price": fmt_fixed(order.price, inst.tick),
        "qty": fmt_fixed(order.qty, inst.qty_step),
        "side": _side(order.side),
        "isLeverage": "" if linear else "0",
        "positionIdx": 0,
        "orderStatus": order.status,
        "createType": order.create_type,
        "cancelType": order.cancel_type,
        "rejectReason": order.reject_reason,
        "avgPrice": fmt(div8(cum_value, cum_qty)) if cum_qty else "",
        "leavesQty": fmt_fixed(ZERO, inst.qty_step),
        "leavesValue": "0",
        "cumExecQty": fmt_fixed(cum_qty, inst.qty_step),
        "cumExecValue": fmt(cum_value),
        "cumExecFee": fmt(cum_fee),
        "timeInForce": order.time_in_force,
        "orderType": order.order_type,
        "stopOrderType": order.stop_order_type,
        "orderIv": "",
        "marketUnit": "",
        "slippageToleranceType": "",
        "slippageTolerance": "",
        "triggerPrice": trigger,
        "takeProfit": "",
        "stopLoss": "",
        "tpslMode": order.tpsl_mode,
        "ocoTriggerType": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "MarkPrice" if order.stop_order_type == "TakeProfit" else "",
        "slTriggerBy": "MarkPrice" if order.stop_order_type == "StopLoss" else "",
        "triggerDirection": _trigger_direction(order),
        "triggerBy": "MarkPrice" if trigger else "",
        "lastPriceOnCreated": fmt_fixed(order.last_price, inst.tick),
        "reduceOnly": order.reduce_only,
        "closeOnTrigger": order.close_on_trigger,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "createdTime": str(order.created_ts),
        "updatedTime": str(order.updated_ts),
    }


def render_orders(seed: int, core: DayCore) -> dict[str, list[dict[str, object]]]:
    """``/v5/order/history`` items by category (every order, filled or not), oldest first."""
    ids = _Ids(seed, core.day)
    out: dict[str, list[dict[str, object]]] = {"linear": [], "spot": []}
    for order in sorted(core.orders, key=lambda o: (o.created_ts, o.n)):
        out[order.category].append(_order(order, ids))
    return out


def render_closed_pnl(seed: int, core: DayCore) -> list[dict[str, object]]:
    """``/v5/position/closed-pnl`` items: one per order that closed part of the account position."""
    ids = _Ids(seed, core.day)
    out: list[dict[str, object]] = []
    for order in core.orders:
        acc = order.closed
        if acc is None or acc.closed_size == 0:
            continue
        inst = LINEAR[order.symbol]
        out.append(
            {
                "symbol": order.symbol,
                "orderId": ids.order(order.n),
                "side": _side(order.side),
                "qty": fmt_fixed(order.qty, inst.qty_step),
                "orderPrice": fmt_fixed(order.price, inst.tick),
                "orderType": order.order_type,
                "execType": order.exec_type,
                "closedSize": fmt_fixed(acc.closed_size, inst.qty_step),
                "cumEntryValue": fmt(acc.entry_value),
                "avgEntryPrice": fmt(div8(acc.entry_value, acc.closed_size)),
                "cumExitValue": fmt(acc.exit_value),
                "avgExitPrice": fmt(div8(acc.exit_value, acc.closed_size)),
                "closedPnl": fmt(acc.closed_pnl),
                "fillCount": str(acc.fill_count),
                "leverage": fmt(LEVERAGE),
                "openFee": fmt(acc.open_fee),
                "closeFee": fmt(acc.close_fee),
                "createdTime": str(acc.last_ts),
                "updatedTime": str(max(order.updated_ts, acc.last_ts)),
            }
        )
    return out


@dataclass(frozen=True)
class _Row:
    """A transaction-log row before its cash balance is known."""

    ts: int
    rank: int
    sub: int
    currency: str
    change: Decimal
    item: dict[str, object]


def _log_row(
    *,
    row_id: str,
    symbol: str,
    category: str,
    side: str,
    ts: int,
    kind: str,
    currency: str,
    cash_flow: Decimal,
    funding: Decimal | None,
    fee: Decimal,
    fee_rate: str = "",
    qty: str = "",
    size: str = "",
    trade_price: str = "",
    trade_id: str = "",
    order_id: str = "",
    order_link_id: str = "",
    bonus_change: str = "",
) -> dict[str, object]:
    change = cash_flow + (funding if funding is not None else ZERO) - fee
    return {
        "transSubType": "",
        "id": row_id,
        "symbol": symbol,
        "side": side,
        "funding": fmt(funding) if funding is not None else "",
        "orderLinkId": order_link_id,
        "orderId": order_id,
        "fee": fmt_fixed(fee, Q8),
        "change": fmt(change),
        "cashFlow": fmt(cash_flow),
        "transactionTime": str(ts),
        "type": kind,
        "feeRate": fee_rate,
        "bonusChange": bonus_change,
        "size": size,
        "qty": qty,
        "cashBalance": "",
        "currency": currency,
        "category": category,
        "tradePrice": trade_price,
        "tradeId": trade_id,
        "extraFees": "",
    }


@dataclass(frozen=True)
class _TradeRows:
    """Builds the TRADE row(s) of one fill."""

    order: SimOrder
    fill: SimFill
    inst: Instrument
    ids: _Ids
    id_prefix: str
    day: date

    def row(self, currency: str, flow: Decimal, fee: Decimal, qty: Decimal, sub: int) -> _Row:
        order, fill, inst = self.order, self.fill, self.inst
        item = _log_row(
            row_id=f"{self.id_prefix}{log_row_number(self.day, fill.log_n + sub)}",
            symbol=order.symbol,
            category=order.category,
            side=_side(order.side),
            ts=fill.ts,
            kind="TRADE",
            currency=currency,
            cash_flow=flow,
            funding=None,
            fee=fee,
            fee_rate=fmt(fill.fee_rate),
            qty=fmt_fixed(qty, inst.qty_step),
            size=fmt_fixed(fill.size_after, inst.qty_step),
            trade_price=fmt_fixed(fill.price, inst.tick),
            trade_id=self.ids.execution(fill.n),
            order_id=self.ids.order(order.n),
            order_link_id=order.link_id,
        )
        return _Row(fill.ts, fill.seq, sub, currency, flow - fee, item)


def _transaction_rows(seed: int, core: DayCore, opening_deposit: bool) -> list[_Row]:
    ids = _Ids(seed, core.day)
    uid = account_uid(seed)
    day = core.day
    rows: list[_Row] = []
    for order in core.orders:
        inst = _instrument(order)
        for fill in order.fills:
            trade = _TradeRows(order, fill, inst, ids, f"{uid}_{order.symbol}_", day)
            if fill.effect is not None:  # linear: realized pnl of the closing part, fee in USDT
                rows.append(trade.row("USDT", fill.effect.gross, fill.fee, fill.qty, 0))
                continue
            # spot: one row per coin; qty is signed by that coin's direction, size = base holding after
            value = fill.price * fill.qty
            base_fee = fill.fee if fill.fee_currency == inst.base_coin else ZERO
            quote_fee = fill.fee if fill.fee_currency == inst.quote_coin else ZERO
            rows.append(trade.row(inst.base_coin, order.side * fill.qty, base_fee, order.side * fill.qty, 0))
            rows.append(trade.row(inst.quote_coin, -order.side * value, quote_fee, -order.side * fill.qty, 1))
    for funding in core.fundings:
        inst = LINEAR[funding.symbol]
        shown_rate = trunc(funding.rate, FUNDING_RATE_QUANTUM)
        long_position = funding.size > 0
        item = _log_row(
            row_id=f"{uid}_{funding.symbol}_{log_row_number(day, funding.log_n)}",
            symbol=funding.symbol,
            category="linear",
            side=_side(1 if long_position else -1),
            ts=funding.ts,
            kind="SETTLEMENT",
            currency="USDT",
            cash_flow=ZERO,
            funding=-funding.fee,
            fee=ZERO,
            fee_rate=fmt(shown_rate if long_position else -shown_rate),
            qty=fmt_fixed(abs(funding.size), inst.qty_step),
            size=fmt_fixed(funding.size, inst.qty_step),
            trade_price=fmt_fixed(funding.mark, inst.tick),
            trade_id=ids.execution(funding.n),
        )
        rows.append(_Row(funding.ts, funding.seq, 0, "USDT", -funding.fee, item))
    for cash in core.cash:
        item = _log_row(
            row_id=f"{uid}_{cash.currency}_{log_row_number(day, cash.log_n)}",
            symbol="",
            category="",
            side="None",
            ts=cash.ts,
            kind=cash.type,
            currency=cash.currency,
            cash_flow=cash.amount,
            funding=None,
            fee=ZERO,
            bonus_change=fmt(cash.amount) if cash.type == "BONUS" else "",
        )
        rows.append(_Row(cash.ts, cash.rank, 0, cash.currency, cash.amount, item))
    if opening_deposit:
        start = day_start_ms(day)
        item = _log_row(
            row_id=f"{uid}_USDT_{log_row_number(day, 0)}",
            symbol="",
            category="",
            side="None",
            ts=start,
            kind="TRANSFER_IN",
            currency="USDT",
            cash_flow=OPENING_DEPOSIT,
            funding=None,
            fee=ZERO,
        )
        rows.append(_Row(start, -1, 0, "USDT", OPENING_DEPOSIT, item))
    rows.sort(key=lambda r: (r.ts, r.rank, r.sub))
    return rows


def render_transactions(
    seed: int, core: DayCore, opening: dict[str, Decimal], opening_deposit: bool
) -> list[dict[str, object]]:
    """``/v5/account/transaction-log`` items, oldest first, with ``cashBalance`` chained per currency.

    Rows are ordered by (transactionTime, seq of the source execution, base-coin row before quote-coin
    row); each row's ``cashBalance`` = the previous balance of its currency + its ``change``.
    ``opening`` is the balance per currency at 00:00 of the day (before the opening deposit, if any).
    """
    balances = dict(opening)
    out = []
    for row in _transaction_rows(seed, core, opening_deposit):
        balances[row.currency] = balances.get(row.currency, ZERO) + row.change
        row.item["cashBalance"] = fmt(balances[row.currency])
        out.append(row.item)
    return out


def cash_changes_until(core: DayCore, ts: int) -> dict[str, Decimal]:
    """Sum of transaction-log ``change`` per currency over rows at or before ``ts`` (no deposit)."""
    out = {"USDT": ZERO, "ETH": ZERO}
    for order in core.orders:
        for fill in order.fills:
            if fill.ts > ts:
                continue
            if order.category == "linear":
                assert fill.effect is not None
                out["USDT"] += fill.effect.gross - fill.fee
            elif order.side > 0:
                out["ETH"] += fill.qty - fill.fee
                out["USDT"] -= fill.price * fill.qty
            else:
                out["ETH"] -= fill.qty
                out["USDT"] += fill.price * fill.qty - fill.fee
    for funding in core.fundings:
        if funding.ts <= ts:
            out["USDT"] -= funding.fee
    for cash in core.cash:
        if cash.ts <= ts:
            out[cash.currency] += cash.amount
    return out
