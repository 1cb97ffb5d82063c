"""The simulated account, checked from the outside: only the public API and Bybit-shaped items.

The accounting here (the closed-pnl re-fold and the per-process daily totals) is written independently
of the simulator's own bookkeeping, so a bug in either shows up as a disagreement.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from hean_pipelines.bybit.sandbox.market import day_start_ms
from hean_pipelines.bybit.sandbox.simulator import (
    DEFAULT_SEED,
    DEFAULT_START_DATE,
    LINEAR_SYMBOLS,
    SANDBOX_PROCESS_PREFIXES,
    SPOT_SYMBOLS,
    SandboxAccount,
    SandboxDay,
)

START = DEFAULT_START_DATE
Q8 = Decimal("1E-8")
DAY_MS = 86_400_000
# sha256 of one day's served data (default seed, start + 8 days); see test_pinned_digest_of_a_day
PINNED_DIGEST = "56e87cf36d5839a4f6e52ed7d9d9ca96d99cd281cb6811c02ba023795ecf6c16"


def dec(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def q8(value: Decimal) -> Decimal:
    return value.quantize(Q8, rounding=ROUND_HALF_UP)


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


def all_executions(day: SandboxDay) -> list[dict]:
    return [*day.executions["linear"], *day.executions["spot"]]


@pytest.fixture(scope="module")
def account() -> SandboxAccount:
    return SandboxAccount()


@pytest.fixture(scope="module")
def two_weeks(account: SandboxAccount) -> list[SandboxDay]:
    return [account.day(d) for d in days(START, 14)]


# ----------------------------------------------------------------------------------------- basics
def test_start_date_must_be_a_monday() -> None:
    with pytest.raises(ValueError, match="Monday"):
        SandboxAccount(start_date=date(2025, 12, 30))


def test_days_before_the_start_are_empty(account: SandboxAccount) -> None:
    before = account.day(START - timedelta(days=1))
    assert before == SandboxDay.empty(START - timedelta(days=1))
    assert account.positions_at("linear", day_start_ms(START) - 1) == []
    assert account.wallet_balance_at(day_start_ms(START) - 1)["coin"] == []


def test_deterministic_across_instances(account: SandboxAccount) -> None:
    other = SandboxAccount()
    for d in (START, START + timedelta(days=3), START + timedelta(days=17)):
        assert other.day(d) == account.day(d)
    ts = day_start_ms(START + timedelta(days=9)) + 12_345_678
    assert other.positions_at("linear", ts) == account.positions_at("linear", ts)
    assert other.wallet_balance_at(ts) == account.wallet_balance_at(ts)


def test_pinned_digest_of_a_day(account: SandboxAccount) -> None:
    """Same bytes on every machine: a digest of one day's data, pinned."""
    day = account.day(START + timedelta(days=8))
    payload = json.dumps(
        [day.executions, day.orders, day.closed_pnl, day.transactions, day.mark_klines, day.spot_klines],
        sort_keys=True,
    )
    assert hashlib.sha256(payload.encode()).hexdigest() == PINNED_DIGEST


def test_a_later_start_date_changes_only_the_wallet() -> None:
    early = SandboxAccount(start_date=START)
    late = SandboxAccount(start_date=START + timedelta(days=14))
    for d in days(START + timedelta(days=14), 10):
        a, b = early.day(d), late.day(d)
        assert a.executions == b.executions
        assert a.orders == b.orders
        assert a.closed_pnl == b.closed_pnl
        assert a.mark_klines == b.mark_klines and a.spot_klines == b.spot_klines
        strip = [{k: v for k, v in row.items() if k != "cashBalance"} for row in a.transactions]
        later = [{k: v for k, v in row.items() if k != "cashBalance"} for row in b.transactions]
        if d == late.start_date:  # the opening deposit belongs to the later account only
            deposit = {"type": "TRANSFER_IN", "transactionTime": str(day_start_ms(d))}
            later = [row for row in later if {k: row[k] for k in deposit} != deposit]
        assert strip == later


def test_every_item_is_within_its_day(two_weeks: list[SandboxDay]) -> None:
    for day in two_weeks:
        lo, hi = day_start_ms(day.day), day_start_ms(day.day) + DAY_MS
        times = [int(e["execTime"]) for e in all_executions(day)]
        times += [int(t["transactionTime"]) for t in day.transactions]
        for orders in day.orders.values():
            times += [int(o["createdTime"]) for o in orders] + [int(o["updatedTime"]) for o in orders]
        for c in day.closed_pnl:
            times += [int(c["createdTime"]), int(c["updatedTime"])]
        assert times and all(lo <= t < hi for t in times), day.day


def test_execution_volume_per_day(two_weeks: list[SandboxDay]) -> None:
    for day in two_weeks:
        assert 50 <= len(all_executions(day)) <= 200, (day.day, len(all_executions(day)))


# ----------------------------------------------------------------------------------------- shapes
def _fixture_item(bybit_fixtures: Path, name: str) -> dict:
    return json.loads((bybit_fixtures / name).read_text())["result"]["list"][0]


def _assert_shape(item: dict, reference: dict, *, allow_missing: frozenset[str] = frozenset()) -> None:
    for key, value in reference.items():
        if key in allow_missing:
            continue
        assert key in item, key
        assert type(item[key]) is type(value), (key, item[key], value)


def test_shapes_match_bybit_reference_responses(bybit_fixtures: Path, two_weeks: list[SandboxDay]) -> None:
    execution = _fixture_item(bybit_fixtures, "bybitdocs_execution_list_example.json")
    closed = _fixture_item(bybit_fixtures, "bybitdocs_closed_pnl_example.json")
    log = _fixture_item(bybit_fixtures, "bybitdocs_transaction_log_example.json")
    for day in two_weeks:
        for item in day.executions["linear"]:
            _assert_shape(item, execution)
            assert "createType" in item
        for item in day.executions["spot"]:
            _assert_shape(item, execution)
            assert "createType" not in item  # Bybit: "Spot, Option do not have this key"
        for item in day.closed_pnl:
            _assert_shape(item, closed)
            assert {"openFee", "closeFee"} <= item.keys()
        for item in day.transactions:
            _assert_shape(item, log)
        for bars in day.mark_klines.values():
            assert len(bars) == 24 and all(len(b) == 5 for b in bars)
        for bars in day.spot_klines.values():
            assert len(bars) == 24 and all(len(b) == 7 for b in bars)
    assert set(two_weeks[0].mark_klines) == set(LINEAR_SYMBOLS)
    assert set(two_weeks[0].spot_klines) == set(SPOT_SYMBOLS)


def test_numbers_are_decimal_strings(two_weeks: list[SandboxDay]) -> None:
    numeric = re.compile(r"^-?\d+(\.\d+)?$")
    for day in two_weeks[:3]:
        for item in all_executions(day):
            for key in ("execPrice", "execQty", "execValue", "execFee", "feeRate", "markPrice", "execTime"):
                assert numeric.match(item[key]), (key, item[key])
            assert isinstance(item["isMaker"], bool) and isinstance(item["seq"], int)
        for row in day.transactions:
            for key in ("change", "cashFlow", "fee", "cashBalance", "transactionTime"):
                assert numeric.match(row[key]), (key, row[key])


# ----------------------------------------------------------------------------------------- executions
def test_execution_arithmetic(two_weeks: list[SandboxDay]) -> None:
    for day in two_weeks:
        for e in all_executions(day):
            price, qty = dec(e["execPrice"]), dec(e["execQty"])
            fee, rate = dec(e["execFee"]), dec(e["feeRate"])
            assert dec(e["execValue"]) == price * qty
            if e["execType"] == "Funding":
                # feeRate is truncated to 6 dp: execFee is authoritative, within the truncation error
                assert rate == rate.quantize(Decimal("0.000001"))
                sign = 1 if e["side"] == "Buy" else -1
                assert abs(fee - sign * price * qty * rate) <= price * qty * Decimal("0.000001")
                assert e["orderId"] == "" and e["orderLinkId"] == ""
            elif e["feeCurrency"] == "ETH":
                assert e["side"] == "Buy" and fee == q8(qty * rate)
            else:
                assert fee == q8(price * qty * rate)


def test_process_orders_carry_their_prefix(two_weeks: list[SandboxDay]) -> None:
    seen: set[str] = set()
    for day in two_weeks:
        pattern = re.compile(rf"^(edge|loser|noise|manual)-{day.day:%Y%m%d}-\d{{5}}$")
        for e in all_executions(day):
            link = e["orderLinkId"]
            if link:
                assert pattern.match(link), link
                seen.add(link.split("-")[0])
        for orders in day.orders.values():
            for o in orders:
                assert o["orderLinkId"] == "" or pattern.match(o["orderLinkId"])
    assert set(SANDBOX_PROCESS_PREFIXES) <= seen and "manual" in seen


def test_planted_features_within_two_weeks(two_weeks: list[SandboxDay]) -> None:
    execs = [e for d in two_weeks for e in all_executions(d)]
    linear = [e for d in two_weeks for e in d.executions["linear"]]
    orders = [o for d in two_weeks for cat in d.orders.values() for o in cat]
    traded_orders = {e["orderId"] for e in execs}
    rows = [r for d in two_weeks for r in d.transactions]

    by_order: dict[str, list[dict]] = defaultdict(list)
    for e in linear:
        by_order[e["orderId"]].append(e)
    partial_same_time = []
    for fills in by_order.values():
        ordered = sorted(fills, key=lambda f: f["seq"])
        assert [int(f["execTime"]) for f in ordered] == sorted(int(f["execTime"]) for f in ordered)
        pairs = pairwise(ordered)
        if any(a["execTime"] == b["execTime"] and a["seq"] < b["seq"] for a, b in pairs):
            partial_same_time.append(ordered)
    assert partial_same_time, "a partial fill sharing its execTime"
    assert any(e["execType"] == "Funding" for e in linear)
    adl = [e for e in linear if e["execType"] == "AdlTrade"]
    assert adl and all(e["orderLinkId"] == "" and e["createType"] == "CreateByAdl" for e in adl)
    tpsl = [e for e in linear if e["createType"] in ("CreateByTakeProfit", "CreateByStopLoss")]
    assert tpsl and all(e["orderLinkId"] == "" and e["execType"] == "Trade" for e in tpsl)
    assert all(
        e["stopOrderType"] == ("TakeProfit" if e["createType"] == "CreateByTakeProfit" else "StopLoss") for e in tpsl
    )
    assert any(e["isMaker"] and dec(e["execFee"]) < 0 and e["feeRate"] == "-0.00005" for e in linear)
    assert any(e["isMaker"] for e in linear) and any(not e["isMaker"] and e["execType"] == "Trade" for e in linear)
    for status in ("Rejected", "Cancelled"):
        dead = [o for o in orders if o["orderStatus"] == status]
        assert dead and all(o["orderId"] not in traded_orders for o in dead)
        assert all(o["cumExecQty"] in ("0.000", "0.00", "0.00000") and o["avgPrice"] == "" for o in dead)
    assert any(o["orderStatus"] == "Rejected" and o["rejectReason"] != "EC_NoError" for o in orders)
    assert any(o["orderStatus"] == "PartiallyFilledCanceled" and o["orderId"] in traded_orders for o in orders)
    spot = [e for d in two_weeks for e in d.executions["spot"]]
    assert any(e["side"] == "Buy" and e["feeCurrency"] == "ETH" for e in spot)
    assert any(e["side"] == "Sell" and e["feeCurrency"] == "USDT" for e in spot)
    types = {r["type"] for r in rows}
    assert {"TRADE", "SETTLEMENT", "AIRDROP", "FEE_REFUND", "TRANSFER_IN"} <= types
    assert any(not e["orderLinkId"] and e["createType"] == "CreateByUser" for e in linear)  # untagged orders
    # a flip: one order closes a position and opens the opposite one (closedSize < execQty of a fill)
    assert any(dec(e["closedSize"]) not in (0, dec(e["execQty"])) for e in linear if e["execType"] != "Funding")


def test_funding_rows_match_settlements(two_weeks: list[SandboxDay]) -> None:
    for day in two_weeks:
        settlements = {r["tradeId"]: r for r in day.transactions if r["type"] == "SETTLEMENT"}
        fundings = [e for e in day.executions["linear"] if e["execType"] == "Funding"]
        assert len(settlements) == len(fundings)
        for e in fundings:
            row = settlements[e["execId"]]
            assert dec(row["funding"]) == -dec(e["execFee"])
            assert dec(row["change"]) == dec(row["funding"])
            assert int(e["execTime"]) % 28_800_000 == 0  # 00:00, 08:00, 16:00 UTC
            assert abs(dec(row["size"])) == dec(e["execQty"])
            assert (dec(row["size"]) > 0) == (e["side"] == "Buy")


def test_transaction_ids_are_reused_like_bybit(two_weeks: list[SandboxDay]) -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for day in two_weeks:
        for row in day.transactions:
            kinds[row["id"]].add(row["type"])
    assert any({"SETTLEMENT", "TRADE"} <= k for k in kinds.values())


# ----------------------------------------------------------------------------------------- transaction log
def test_change_is_cash_flow_plus_funding_minus_fee(two_weeks: list[SandboxDay]) -> None:
    for day in two_weeks:
        for row in day.transactions:
            assert dec(row["change"]) == dec(row["cashFlow"]) + dec(row["funding"]) - dec(row["fee"]), row


def test_cash_balance_chains_across_days(account: SandboxAccount, two_weeks: list[SandboxDay]) -> None:
    balance: dict[str, Decimal] = defaultdict(Decimal)
    first = two_weeks[0].transactions[0]
    assert first["type"] == "TRANSFER_IN" and dec(first["change"]) == 100_000
    assert first["transactionTime"] == str(day_start_ms(START))
    for day in two_weeks:
        times = [int(r["transactionTime"]) for r in day.transactions]
        assert times == sorted(times)
        for row in day.transactions:
            balance[row["currency"]] += dec(row["change"])
            assert dec(row["cashBalance"]) == balance[row["currency"]], row
        wallet = account.wallet_balance_at(day_start_ms(day.day) + DAY_MS - 1)
        coins = {c["coin"]: dec(c["walletBalance"]) for c in wallet["coin"]}
        assert coins["USDT"] == balance["USDT"]
        assert coins.get("ETH", Decimal(0)) == balance["ETH"]


def test_trade_rows_follow_their_executions(two_weeks: list[SandboxDay]) -> None:
    for day in two_weeks:
        execs = {e["execId"]: e for e in all_executions(day)}
        for row in day.transactions:
            if row["type"] != "TRADE":
                continue
            e = execs[row["tradeId"]]
            assert row["orderId"] == e["orderId"] and row["orderLinkId"] == e["orderLinkId"]
            assert row["transactionTime"] == e["execTime"] and row["tradePrice"] == e["execPrice"]
            if row["category"] == "linear":
                assert dec(row["fee"]) == dec(e["execFee"]) and row["feeRate"] == e["feeRate"]
                assert dec(row["qty"]) == dec(e["execQty"])


# ----------------------------------------------------------------------------------------- re-fold
@dataclass
class _Pos:
    qty: Decimal = Decimal(0)
    basis: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


def _share(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return amount if part == whole else q8(amount * part / whole)


def refold_week(
    week: list[SandboxDay],
) -> tuple[dict[str, dict[str, Decimal]], dict[str, Decimal], dict[str, Decimal]]:
    """Fold a week's linear executions from a flat Monday with Bybit's average-entry rules.

    Returns (closed pnl per orderId, gross realized per execId, end position per symbol).
    """
    positions: dict[str, _Pos] = defaultdict(_Pos)
    records: dict[str, dict[str, Decimal]] = {}
    gross_by_exec: dict[str, Decimal] = {}
    execs = [e for d in week for e in d.executions["linear"] if e["execType"] != "Funding"]
    execs.sort(key=lambda e: (int(e["execTime"]), e["seq"]))
    for e in execs:
        pos = positions[e["symbol"]]
        side = 1 if e["side"] == "Buy" else -1
        qty, price, fee = dec(e["execQty"]), dec(e["execPrice"]), dec(e["execFee"])
        closing = Decimal(0)
        gross = Decimal(0)
        if pos.qty and (pos.qty > 0) != (side > 0):
            size = abs(pos.qty)
            closing = min(qty, size)
            entry = _share(pos.basis, closing, size)
            open_fee = _share(pos.fees, closing, size)
            close_fee = _share(fee, closing, qty)
            exit_value = price * closing
            gross = exit_value - entry if pos.qty > 0 else entry - exit_value
            rec = records.setdefault(
                e["orderId"],
                {
                    "closedSize": Decimal(0),
                    "cumEntryValue": Decimal(0),
                    "cumExitValue": Decimal(0),
                    "openFee": Decimal(0),
                    "closeFee": Decimal(0),
                    "gross": Decimal(0),
                },
            )
            rec["closedSize"] += closing
            rec["cumEntryValue"] += entry
            rec["cumExitValue"] += exit_value
            rec["openFee"] += open_fee
            rec["closeFee"] += close_fee
            rec["gross"] += gross
            pos.basis -= entry
            pos.fees -= open_fee
            pos.qty += side * closing
            fee -= close_fee
        opening = qty - closing
        if opening:
            pos.basis += price * opening
            pos.fees += fee
            pos.qty += side * opening
        gross_by_exec[e["execId"]] = gross
        assert dec(e["closedSize"]) == closing, e
    return records, gross_by_exec, {s: p.qty for s, p in positions.items()}


def test_closed_pnl_identity_and_refold(account: SandboxAccount) -> None:
    for week_start in (START, START + timedelta(days=7), START + timedelta(days=14)):
        week = [account.day(d) for d in days(week_start, 7)]
        records, gross_by_exec, end = refold_week(week)
        assert all(q == 0 for q in end.values()), "flat at the end of Sunday"
        served = {c["orderId"]: c for d in week for c in d.closed_pnl}
        assert set(served) == set(records)
        for order_id, rec in records.items():
            item = served[order_id]
            entry, exit_, size = (
                dec(item["cumEntryValue"]),
                dec(item["cumExitValue"]),
                dec(item["closedSize"]),
            )
            gross = exit_ - entry if item["side"] == "Sell" else entry - exit_
            assert dec(item["closedPnl"]) == gross - dec(item["openFee"]) - dec(item["closeFee"])
            assert dec(item["avgEntryPrice"]) == q8(entry / size)
            assert dec(item["avgExitPrice"]) == q8(exit_ / size)
            for key in ("closedSize", "cumEntryValue", "cumExitValue", "openFee", "closeFee"):
                assert dec(item[key]) == rec[key], (order_id, key)
            assert dec(item["closedPnl"]) == rec["gross"] - rec["openFee"] - rec["closeFee"]
        for d in week:
            for row in d.transactions:
                if row["type"] == "TRADE" and row["category"] == "linear":
                    assert dec(row["cashFlow"]) == gross_by_exec[row["tradeId"]]


def test_closed_pnl_has_adl_and_tpsl_records(account: SandboxAccount) -> None:
    exec_types = {c["execType"] for d in days(START, 14) for c in account.day(d).closed_pnl}
    assert {"Trade", "AdlTrade"} <= exec_types


# ----------------------------------------------------------------------------------------- positions
def test_flat_every_monday_and_carried_other_nights(account: SandboxAccount) -> None:
    carried = 0
    for d in days(START, 35):
        midnight = day_start_ms(d)
        positions = account.positions_at("linear", midnight)
        if d.weekday() == 0:
            assert positions == [], d
            assert account.positions_at("linear", midnight - 1) == []
            assert [c["coin"] for c in account.wallet_balance_at(midnight)["coin"]] == ["USDT"]
        else:
            carried += bool(positions)
    assert carried >= 20


def test_positions_agree_with_the_executions(account: SandboxAccount) -> None:
    week = [account.day(d) for d in days(START + timedelta(days=7), 7)]
    execs = sorted(
        (e for d in week for e in d.executions["linear"] if e["execType"] != "Funding"),
        key=lambda e: (int(e["execTime"]), e["seq"]),
    )
    for probe in range(0, len(execs), 17):
        ts = int(execs[probe]["execTime"])
        net: dict[str, Decimal] = defaultdict(Decimal)
        for e in execs:
            if int(e["execTime"]) <= ts:
                net[e["symbol"]] += dec(e["execQty"]) * (1 if e["side"] == "Buy" else -1)
        served = {p["symbol"]: p for p in account.positions_at("linear", ts)}
        for symbol in LINEAR_SYMBOLS:
            if net[symbol] == 0:
                assert symbol not in served
                continue
            p = served[symbol]
            assert dec(p["size"]) == abs(net[symbol])
            assert p["side"] == ("Buy" if net[symbol] > 0 else "Sell")
            assert dec(p["avgPrice"]) == q8(dec(p["positionValue"]) / dec(p["size"]))
            assert p["positionIdx"] == 0


# ----------------------------------------------------------------------------------------- planted signal
def _book(link: str) -> str:
    prefix = link.split("-", 1)[0]
    return prefix if prefix in SANDBOX_PROCESS_PREFIXES else "unattributed"


def process_daily_totals(account: SandboxAccount, first: date, count: int) -> dict[str, list[float]]:
    """Per process and day: mark-to-market pnl + funding - fees, from the served data only.

    Fills of a process move its position and cash; rows without an orderLinkId that act on the account
    position (funding, ADL, TP/SL) are split by the process's share of the net position at that instant.
    Positions are marked at the day's last hourly close.
    """
    qty: dict[tuple[str, str], float] = defaultdict(float)
    closes: dict[str, float] = {}
    out: dict[str, list[float]] = defaultdict(list)
    for d in days(first, count):
        day = account.day(d)
        if d.weekday() == 0:
            assert all(abs(v) < 1e-9 for v in qty.values()), d
            qty.clear()
        value_open: dict[str, float] = defaultdict(float)
        for (book, symbol), q in qty.items():
            value_open[book] += q * closes[symbol]
        cash: dict[str, float] = defaultdict(float)
        fills = sorted(all_executions(day), key=lambda e: (int(e["execTime"]), e["seq"]))
        for e in fills:
            symbol = e["symbol"] if "createType" in e else "spot"
            side = 1 if e["side"] == "Buy" else -1
            size, price, fee = float(e["execQty"]), float(e["execPrice"]), float(e["execFee"])
            base_fee = fee if e["feeCurrency"] == "ETH" else 0.0
            quote_fee = fee - base_fee
            account_level = e["execType"] == "Funding" or (
                not e["orderLinkId"] and e.get("createType") != "CreateByUser"
            )
            if symbol != "spot" and account_level:
                holders = {b: q for (b, s), q in qty.items() if s == symbol and q}
                net = sum(holders.values())
                for book, q in holders.items():
                    share = q / net
                    if e["execType"] == "Funding":
                        cash[book] -= fee * share
                    else:
                        cash[book] += share * (-side * size * price - fee)
                        qty[(book, symbol)] += share * side * size
                continue
            book = _book(e["orderLinkId"])
            cash[book] += -side * size * price - quote_fee
            qty[(book, symbol)] += side * size - base_fee
        closes = {s: float(bars[-1][4]) for s, bars in day.mark_klines.items()}
        closes["spot"] = float(day.spot_klines["ETHUSDT"][-1][4])
        for book in (*SANDBOX_PROCESS_PREFIXES, "unattributed"):
            value_close = sum(q * closes[s] for (b, s), q in qty.items() if b == book)
            out[book].append(cash[book] + value_close - value_open[book])
    return out


def test_planted_edge_loser_and_noise_over_60_days(account: SandboxAccount) -> None:
    totals = process_daily_totals(account, START, 63)  # nine whole weeks
    stats = {}
    for book, xs in totals.items():
        mean, sd = statistics.fmean(xs), statistics.pstdev(xs)
        stats[book] = (mean, mean / sd, mean / sd * len(xs) ** 0.5)
    edge, loser, noise = stats["edge"], stats["loser"], stats["noise"]
    assert edge[0] > 0 and edge[2] > 2.5, stats  # clearly positive mean (t-stat)
    assert 0.2 < edge[1] < 1.0, stats  # daily Sharpe in the planted range
    assert loser[0] < 0 and loser[2] < -2.5, stats
    assert abs(noise[0]) < 0.3 * min(edge[0], -loser[0]), stats
    assert abs(noise[2]) < 2.0, stats


# ----------------------------------------------------------------------------------------- cost, threads
def test_a_far_day_cold_equals_the_same_day_reached_by_walking() -> None:
    # Speed is a benchmark concern; what a test can hold is that the cold path (running totals
    # computed on demand) and the warm path (every day before it cached) agree exactly.
    far = START + timedelta(days=400)
    cold = SandboxAccount(seed=424_242).day(far)
    walked = SandboxAccount(seed=424_242)
    for offset in range(0, 401, 50):
        walked.day(START + timedelta(days=offset))
    assert cold.executions["linear"]
    assert cold == walked.day(far)


def test_concurrent_callers_see_the_same_data() -> None:
    shared = SandboxAccount(seed=DEFAULT_SEED)
    targets = days(START + timedelta(days=20), 12)
    results: dict[date, SandboxDay] = {}
    errors: list[BaseException] = []

    def worker(d: date) -> None:
        try:
            results[d] = shared.day(d)
            shared.positions_at("linear", day_start_ms(d) + 3_600_000)
            shared.wallet_balance_at(day_start_ms(d) + 3_600_000)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(d,)) for d in reversed(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    reference = SandboxAccount(seed=DEFAULT_SEED)
    for d in targets:
        assert results[d] == reference.day(d)
