"""The sandbox exchange over real loopback HTTP: auth, params, cursors, rate limits, klines, faults."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from hean_pipelines.bybit import endpoints as ep
from hean_pipelines.bybit.sandbox.ratelimit import TokenBucketLimiter
from hean_pipelines.bybit.sandbox.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    AccountSource,
    SandboxConfig,
    SandboxServer,
    parse_query,
)
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines.bybit.signing import build_query_string, sign

KEY = DEFAULT_API_KEY
SECRET = DEFAULT_API_SECRET
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


FAKE_START = date(2026, 1, 1)
NOW = day_start_ms(date(2026, 1, 10)) + 12 * HOUR_MS  # 2026-01-10 12:00 UTC


# ------------------------------------------------------------------ a small fake data source
# A test double of the simulated account with the simulator's interface (the server reads it
# through the AccountSource protocol). Rows come in pairs sharing a timestamp, to exercise the
# tiebreak, and ids are deliberately not unique across days for transactions (like Bybit's).


@dataclass(frozen=True)
class FakeDay:
    day: date
    executions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    closed_pnl: list[dict[str, Any]] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    mark_klines: dict[str, list[list[str]]] = field(default_factory=dict)
    spot_klines: dict[str, list[list[str]]] = field(default_factory=dict)


class FakeAccount:
    """Deterministic in (start_date, day); days before start_date are empty."""

    def __init__(self, start_date: date = FAKE_START, rows_per_day: int = 24) -> None:
        self.start_date = start_date
        self.rows_per_day = rows_per_day
        self.day_calls = 0

    def day(self, day: date) -> FakeDay:
        self.day_calls += 1
        if day < self.start_date:
            return FakeDay(day=day)
        base = day_start_ms(day)
        n = self.rows_per_day
        linear = [
            {
                "symbol": "BTCUSDT" if i % 2 == 0 else "ETHUSDT",
                "execId": f"{day.isoformat()}-L-{i}",
                "execTime": str(base + (i // 2) * HOUR_MS),  # pairs share a time
                "execType": "Funding" if i % 6 == 5 else "Trade",
                "execQty": "0.01",
                "execPrice": "100000",
                "orderId": f"o-{day.isoformat()}-{i // 2}",
            }
            for i in range(n)
        ]
        spot = [
            {
                "symbol": "BTCUSDT",
                "execId": f"{day.isoformat()}-S-{i}",
                "execTime": str(base + 30 * 60_000 + i * 2 * HOUR_MS),
                "execType": "Trade",
            }
            for i in range(3)
        ]
        orders = [
            {
                "symbol": "BTCUSDT",
                "orderId": f"o-{day.isoformat()}-{i}",
                "createdTime": str(base + i * HOUR_MS),
                "orderStatus": "Filled" if i % 3 else "Cancelled",
            }
            for i in range(n // 2)
        ]
        closed = [
            {
                "symbol": "ETHUSDT",
                "orderId": f"c-{day.isoformat()}-{i}",
                "createdTime": str(base + i * 4 * HOUR_MS),
            }
            for i in range(6)
        ]
        transactions = [
            {
                "id": f"tx-{i % 4}",  # not unique
                "category": "linear" if i % 2 == 0 else "spot",
                "type": "TRADE" if i % 4 else "SETTLEMENT",
                "currency": "USDT",
                "symbol": "BTCUSDT",
                "transactionTime": str(base + (i // 2) * 2 * HOUR_MS),
            }
            for i in range(20)
        ]
        mark = {"BTCUSDT": [[str(base + h * HOUR_MS), "100", "101", "99", f"{100 + h}"] for h in range(24)]}
        spot_k = {
            "BTCUSDT": [[str(base + h * HOUR_MS), "100", "101", "99", f"{100 + h}", "1.5", "150"] for h in range(24)]
        }
        return FakeDay(
            day=day,
            executions={"linear": linear, "spot": spot},
            orders={"linear": orders},
            closed_pnl=closed,
            transactions=transactions,
            mark_klines=mark,
            spot_klines=spot_k,
        )

    def positions_at(self, category: str, ts_ms: int) -> list[dict[str, Any]]:
        if category != "linear":
            return []
        return [
            {"symbol": "BTCUSDT", "size": "0.5", "side": "Buy", "updatedTime": str(ts_ms)},
            {"symbol": "ETHUSDT", "size": "2", "side": "Sell", "updatedTime": str(ts_ms)},
            {"symbol": "SOLUSDT", "size": "0", "side": "", "updatedTime": str(ts_ms)},
            {"symbol": "XRPUSDC", "size": "10", "side": "Buy", "updatedTime": str(ts_ms)},
        ]

    def wallet_balance_at(self, ts_ms: int) -> dict[str, Any]:
        return {
            "accountType": "UNIFIED",
            "totalEquity": "10000",
            "coin": [{"coin": "USDT", "equity": "9000"}, {"coin": "BTC", "equity": "0.01"}],
        }


def expected_rows(
    account: AccountSource, start: int, end: int, rows_of: Any, time_field: str, now: int = NOW
) -> list[dict[str, Any]]:
    """Independent reference: every visible row in [start, end], newest first, stable tiebreak."""
    keyed = []
    day = datetime.fromtimestamp(start / 1000, tz=UTC).date()
    while day_start_ms(day) <= end:
        for index, row in enumerate(rows_of(account.day(day))):
            ts = int(row[time_field])
            if start <= ts <= min(end, now):
                keyed.append(((ts, day.toordinal(), index), row))
        day += timedelta(days=1)
    keyed.sort(key=lambda kr: kr[0], reverse=True)
    return [row for _, row in keyed]


# ------------------------------------------------------------------ client helpers


def signed_get(
    session: requests.Session,
    base: str,
    path: str,
    params: dict[str, Any] | str,
    *,
    key: str = KEY,
    secret: str = SECRET,
    ts: int = NOW,
    recv_window: int = 5000,
    send_query: str | None = None,
) -> requests.Response:
    """Sign ``params`` (or a raw query string) like pybit and send it; ``send_query`` sends other bytes."""
    query = params if isinstance(params, str) else build_query_string(params)
    headers = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-SIGN": sign(secret, ts, key, recv_window, query),
        "X-BAPI-SIGN-TYPE": "2",
        "X-BAPI-TIMESTAMP": str(ts),
        "X-BAPI-RECV-WINDOW": str(recv_window),
    }
    sent = query if send_query is None else send_query
    url = f"{base}{path}?{sent}" if sent else f"{base}{path}"
    return session.get(url, headers=headers, timeout=5)


@pytest.fixture
def account() -> FakeAccount:
    return FakeAccount()


@pytest.fixture
def sandbox(account: FakeAccount) -> Iterator[SandboxServer]:
    with SandboxServer(account, SandboxConfig(now_ms=lambda: NOW, rate_limit_per_second=0)) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def public_get(session: requests.Session, url: str, params: dict[str, str | int]) -> requests.Response:
    return session.get(url, params=params, timeout=5)


def window(days_back_start: float, days_back_end: float = 0) -> dict[str, int]:
    return {"startTime": NOW - int(days_back_start * DAY_MS), "endTime": NOW - int(days_back_end * DAY_MS)}


# ------------------------------------------------------------------ lifecycle, public, envelope


def test_start_binds_loopback_ephemeral_port_and_stop_ends_serving(account: FakeAccount) -> None:
    server = SandboxServer(account, SandboxConfig(now_ms=lambda: NOW))
    url = server.start()
    assert url.startswith("http://127.0.0.1:")
    assert int(url.rsplit(":", 1)[1]) > 0
    assert server.url == url
    with requests.Session() as session:
        assert session.get(f"{url}/v5/market/time", timeout=5).status_code == 200
        server.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{url}/v5/market/time", timeout=2)


def test_server_time_is_public_and_bybit_shaped(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.get(f"{sandbox.url}/v5/market/time", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert body["retCode"] == 0 and body["retMsg"] == "OK" and body["retExtInfo"] == {}
    assert body["time"] == NOW
    assert body["result"] == {"timeSecond": str(NOW // 1000), "timeNano": str(NOW * 1_000_000)}


def test_unknown_path_is_404_with_10001(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.get(f"{sandbox.url}/v5/order/realtime", timeout=5)
    assert response.status_code == 404
    assert response.json()["retCode"] == ep.RET_PARAMS_ERROR


@pytest.mark.parametrize("path", ["/v5/order/create", "/v5/execution/list", "/v5/nope"])
def test_post_is_refused_with_permission_denied(sandbox: SandboxServer, http: requests.Session, path: str) -> None:
    response = http.post(f"{sandbox.url}{path}", data=json.dumps({"category": "linear"}), timeout=5)
    assert response.status_code == 200
    assert response.json()["retCode"] == ep.RET_PERMISSION_DENIED
    # the connection is still usable (body drained)
    assert http.get(f"{sandbox.url}/v5/market/time", timeout=5).json()["retCode"] == 0


# ------------------------------------------------------------------ authentication


def test_signed_request_is_accepted_with_rate_limit_headers(sandbox: SandboxServer, http: requests.Session) -> None:
    response = signed_get(http, sandbox.url, ep.EXECUTIONS.path, {"category": "linear", **window(1)})
    assert response.status_code == 200
    body = response.json()
    assert body["retCode"] == 0, body
    assert body["result"]["category"] == "linear"
    assert body["result"]["list"]
    for header in ("X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp"):
        assert header in response.headers


def test_one_tampered_byte_in_the_query_fails_the_signature(sandbox: SandboxServer, http: requests.Session) -> None:
    params = {"category": "linear", "symbol": "BTCUSDT", **window(1)}
    query = build_query_string(params)
    tampered = query.replace("BTCUSDT", "BTCUSDU")
    assert tampered != query and len(tampered) == len(query)
    response = signed_get(http, sandbox.url, ep.EXECUTIONS.path, query, send_query=tampered)
    assert response.json()["retCode"] == ep.RET_SIGNATURE_ERROR
    ok = signed_get(http, sandbox.url, ep.EXECUTIONS.path, query)
    assert ok.json()["retCode"] == 0


def test_wrong_secret_fails_the_signature(sandbox: SandboxServer, http: requests.Session) -> None:
    response = signed_get(http, sandbox.url, ep.WALLET_BALANCE.path, {"accountType": "UNIFIED"}, secret="nope")
    assert response.json()["retCode"] == ep.RET_SIGNATURE_ERROR
    assert "X-Bapi-Limit" in response.headers


def test_signature_is_over_the_raw_query_not_a_reencoding(sandbox: SandboxServer, http: requests.Session) -> None:
    # The same parameters written differently: the signature must follow the bytes as sent.
    raw = "category=linear&orderLinkId=a%2Cb"  # %2C is ','
    assert parse_query(raw)["orderLinkId"] == "a,b"
    assert signed_get(http, sandbox.url, ep.EXECUTIONS.path, raw).json()["retCode"] == 0
    assert sandbox.request_log[-1].query == raw  # arrived as written
    signed_for_decoded = signed_get(
        http, sandbox.url, ep.EXECUTIONS.path, "category=linear&orderLinkId=a,b", send_query=raw
    )
    assert signed_for_decoded.json()["retCode"] == ep.RET_SIGNATURE_ERROR


@pytest.mark.parametrize("offset_ms", [-5001, -60_000, 1000, 30_000])
def test_timestamp_outside_the_recv_window_is_10002(
    sandbox: SandboxServer, http: requests.Session, offset_ms: int
) -> None:
    response = signed_get(http, sandbox.url, ep.QUERY_API.path, {}, ts=NOW + offset_ms)
    assert response.json()["retCode"] == ep.RET_TIMESTAMP_OUT_OF_WINDOW


@pytest.mark.parametrize("offset_ms", [-5000, -1, 0, 999])
def test_timestamp_inside_the_recv_window_is_accepted(
    sandbox: SandboxServer, http: requests.Session, offset_ms: int
) -> None:
    response = signed_get(http, sandbox.url, ep.QUERY_API.path, {}, ts=NOW + offset_ms)
    assert response.json()["retCode"] == 0


def test_larger_recv_window_admits_older_timestamp_up_to_the_max(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    ok = signed_get(http, sandbox.url, ep.QUERY_API.path, {}, ts=NOW - 20_000, recv_window=30_000)
    assert ok.json()["retCode"] == 0
    too_big = signed_get(http, sandbox.url, ep.QUERY_API.path, {}, ts=NOW, recv_window=60_001)
    assert too_big.json()["retCode"] == ep.RET_PARAMS_ERROR


def test_unknown_or_missing_key_is_10003(sandbox: SandboxServer, http: requests.Session) -> None:
    response = signed_get(http, sandbox.url, ep.QUERY_API.path, {}, key="someone-else")
    assert response.json()["retCode"] == ep.RET_INVALID_API_KEY
    bare = http.get(f"{sandbox.url}{ep.EXECUTIONS.path}?category=linear", timeout=5)
    assert bare.json()["retCode"] == ep.RET_INVALID_API_KEY


@pytest.mark.parametrize(("read_only", "expected"), [(True, 1), (False, 0)])
def test_query_api_reports_read_only(
    account: FakeAccount, http: requests.Session, read_only: bool, expected: int
) -> None:
    config = SandboxConfig(now_ms=lambda: NOW, read_only_key=read_only)
    with SandboxServer(account, config) as server:
        body = signed_get(http, server.url, ep.QUERY_API.path, {}).json()
    assert body["retCode"] == 0
    assert body["result"]["readOnly"] == expected
    assert body["result"]["apiKey"] == KEY
    assert SECRET not in json.dumps(body)


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (ep.EXECUTIONS.path, {}),
        (ep.EXECUTIONS.path, {"category": "futures"}),
        (ep.ORDERS.path, {}),
        (ep.CLOSED_PNL.path, {}),
        (ep.CLOSED_PNL.path, {"category": "spot"}),
        (ep.POSITIONS.path, {}),
        (ep.POSITIONS.path, {"category": "linear"}),  # symbol or settleCoin required
        (ep.WALLET_BALANCE.path, {}),
        (ep.WALLET_BALANCE.path, {"accountType": "CONTRACT"}),
        (ep.TRANSACTIONS.path, {"accountType": "SPOT"}),
    ],
)
def test_missing_or_illegal_required_params_are_10001(
    sandbox: SandboxServer, http: requests.Session, path: str, params: dict[str, Any]
) -> None:
    assert signed_get(http, sandbox.url, path, params).json()["retCode"] == ep.RET_PARAMS_ERROR


@pytest.mark.parametrize("endpoint", [ep.EXECUTIONS, ep.TRANSACTIONS, ep.ORDERS, ep.CLOSED_PNL, ep.POSITIONS])
def test_limit_over_the_maximum_is_rejected(
    sandbox: SandboxServer, http: requests.Session, endpoint: ep.Endpoint
) -> None:
    assert endpoint.max_limit is not None
    base: dict[str, Any] = {"category": "linear"} if endpoint is not ep.TRANSACTIONS else {}
    if endpoint is ep.POSITIONS:
        base["settleCoin"] = "USDT"
    at_max = signed_get(http, sandbox.url, endpoint.path, {**base, "limit": endpoint.max_limit})
    assert at_max.json()["retCode"] == 0
    over = signed_get(http, sandbox.url, endpoint.path, {**base, "limit": endpoint.max_limit + 1})
    assert over.json()["retCode"] == ep.RET_PARAMS_ERROR
    assert "limit" in over.json()["retMsg"]
    for bad in (0, "ten"):
        assert signed_get(http, sandbox.url, endpoint.path, {**base, "limit": bad}).json()["retCode"] == 10001


def test_window_longer_than_seven_days_is_rejected(sandbox: SandboxServer, http: requests.Session) -> None:
    start = NOW - WEEK_MS
    exact = signed_get(
        http, sandbox.url, ep.EXECUTIONS.path, {"category": "linear", "startTime": start, "endTime": NOW}
    )
    assert exact.json()["retCode"] == 0
    over = signed_get(
        http, sandbox.url, ep.EXECUTIONS.path, {"category": "linear", "startTime": start - 1, "endTime": NOW}
    )
    assert over.json()["retCode"] == ep.RET_PARAMS_ERROR
    backwards = signed_get(http, sandbox.url, ep.TRANSACTIONS.path, {"startTime": NOW, "endTime": NOW - 1})
    assert backwards.json()["retCode"] == ep.RET_PARAMS_ERROR


def _all_pages(
    http: requests.Session, base: str, path: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    cursors: list[str] = []
    cursor = ""
    for _ in range(1000):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        body = signed_get(http, base, path, query).json()
        assert body["retCode"] == 0, body
        rows.extend(body["result"]["list"])
        cursor = body["result"]["nextPageCursor"]
        if not cursor:
            return rows, cursors
        cursors.append(cursor)
    raise AssertionError("pagination did not end")


def test_default_window_is_the_last_seven_days(
    sandbox: SandboxServer, http: requests.Session, account: FakeAccount
) -> None:
    rows, _ = _all_pages(http, sandbox.url, ep.EXECUTIONS.path, {"category": "linear", "limit": 100})
    assert rows == expected_rows(account, NOW - WEEK_MS, NOW, lambda d: d.executions.get("linear", []), "execTime")
    assert max(int(r["execTime"]) for r in rows) <= NOW  # nothing after "now" is visible


def test_only_start_or_only_end_spans_seven_days(
    sandbox: SandboxServer, http: requests.Session, account: FakeAccount
) -> None:
    start = day_start_ms(date(2025, 12, 30))
    rows, _ = _all_pages(http, sandbox.url, ep.ORDERS.path, {"category": "linear", "startTime": start, "limit": 50})
    assert rows == expected_rows(account, start, start + WEEK_MS, lambda d: d.orders.get("linear", []), "createdTime")
    assert rows and min(int(r["createdTime"]) for r in rows) >= day_start_ms(FAKE_START)
    end = day_start_ms(date(2026, 1, 5))
    rows, _ = _all_pages(http, sandbox.url, ep.ORDERS.path, {"category": "linear", "endTime": end, "limit": 50})
    assert rows == expected_rows(account, end - WEEK_MS, end, lambda d: d.orders.get("linear", []), "createdTime")


def test_cursor_pagination_returns_every_row_once_in_order(
    sandbox: SandboxServer, http: requests.Session, account: FakeAccount
) -> None:
    params: dict[str, Any] = {"category": "linear", "limit": 7, **window(6.5)}
    rows, cursors = _all_pages(http, sandbox.url, ep.EXECUTIONS.path, params)
    expected = expected_rows(
        account, params["startTime"], params["endTime"], lambda d: d.executions.get("linear", []), "execTime"
    )
    assert len(expected) > 100
    assert [r["execId"] for r in rows] == [r["execId"] for r in expected]
    assert len({r["execId"] for r in rows}) == len(rows)
    times = [int(r["execTime"]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert len(cursors) == -(-len(expected) // 7) - 1
    # The cursor arrives percent-encoded, and went back byte for byte as received.
    assert all("%3A" in c and "%2C" in c and ":" not in c for c in cursors)
    sent = [r.query for r in sandbox.request_log if r.path == ep.EXECUTIONS.path]
    for cursor in cursors:
        assert any(f"cursor={cursor}&" in q or q.endswith(f"cursor={cursor}") for q in sent)


def test_transaction_log_pages_with_non_unique_ids_and_filters(
    sandbox: SandboxServer, http: requests.Session, account: FakeAccount
) -> None:
    params: dict[str, Any] = {
        "accountType": "UNIFIED",
        "category": "linear",
        "type": "TRADE",
        "limit": 3,
        **window(3),
    }
    rows, _ = _all_pages(http, sandbox.url, ep.TRANSACTIONS.path, params)
    expected = [
        r
        for r in expected_rows(
            account, params["startTime"], params["endTime"], lambda d: d.transactions, "transactionTime"
        )
        if r["category"] == "linear" and r["type"] == "TRADE"
    ]
    assert rows == expected and len(rows) > 10


def test_filters_symbol_exec_type_and_order_status(sandbox: SandboxServer, http: requests.Session) -> None:
    funding, _ = _all_pages(
        http,
        sandbox.url,
        ep.EXECUTIONS.path,
        {"category": "linear", "execType": "Funding", "symbol": "ETHUSDT", **window(2)},
    )
    assert funding and all(r["execType"] == "Funding" and r["symbol"] == "ETHUSDT" for r in funding)
    cancelled, _ = _all_pages(
        http, sandbox.url, ep.ORDERS.path, {"category": "linear", "orderStatus": "Cancelled", **window(2)}
    )
    assert cancelled and all(r["orderStatus"] == "Cancelled" for r in cancelled)
    spot, _ = _all_pages(http, sandbox.url, ep.EXECUTIONS.path, {"category": "spot", **window(2)})
    assert spot and all(r["execId"].split("-")[3] == "S" for r in spot)
    closed_inverse = signed_get(http, sandbox.url, ep.CLOSED_PNL.path, {"category": "inverse"}).json()
    assert closed_inverse["retCode"] == 0 and closed_inverse["result"]["list"] == []


def test_tampered_or_foreign_cursor_is_rejected(sandbox: SandboxServer, http: requests.Session) -> None:
    params = {"category": "linear", "limit": 5, **window(2)}
    first = signed_get(http, sandbox.url, ep.EXECUTIONS.path, params).json()
    cursor = first["result"]["nextPageCursor"]
    assert cursor
    # accepted as sent (encoded) and also decoded
    assert signed_get(http, sandbox.url, ep.EXECUTIONS.path, {**params, "cursor": cursor}).json()["retCode"] == 0
    assert (
        signed_get(http, sandbox.url, ep.EXECUTIONS.path, {**params, "cursor": unquote(cursor)}).json()["retCode"] == 0
    )
    # a different limit on the next page is fine (Bybit allows it)
    assert (
        signed_get(http, sandbox.url, ep.EXECUTIONS.path, {**params, "limit": 9, "cursor": cursor}).json()["retCode"]
        == 0
    )
    digit = cursor[0]
    tampered = ("1" if digit != "1" else "2") + cursor[1:]
    for bad in (tampered, cursor[:-1], "garbage", "1%3A2%3A3%2Cdeadbeef"):
        body = signed_get(http, sandbox.url, ep.EXECUTIONS.path, {**params, "cursor": bad}).json()
        assert body["retCode"] == ep.RET_PARAMS_ERROR, bad
    foreign = {**params, "symbol": "BTCUSDT", "cursor": cursor}
    assert signed_get(http, sandbox.url, ep.EXECUTIONS.path, foreign).json()["retCode"] == ep.RET_PARAMS_ERROR
    other_path = {"category": "linear", "limit": 5, **window(2), "cursor": cursor}
    assert signed_get(http, sandbox.url, ep.ORDERS.path, other_path).json()["retCode"] == ep.RET_PARAMS_ERROR


def test_positions_paginate_and_filter(sandbox: SandboxServer, http: requests.Session) -> None:
    rows, cursors = _all_pages(
        http, sandbox.url, ep.POSITIONS.path, {"category": "linear", "settleCoin": "USDT", "limit": 1}
    )
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT"]  # size 0 and USDC-settled left out
    assert len(cursors) == 1
    one = signed_get(http, sandbox.url, ep.POSITIONS.path, {"category": "linear", "symbol": "SOLUSDT"}).json()
    assert [r["symbol"] for r in one["result"]["list"]] == ["SOLUSDT"]
    assert one["result"]["category"] == "linear" and one["result"]["nextPageCursor"] == ""


def test_wallet_balance_and_coin_filter(sandbox: SandboxServer, http: requests.Session) -> None:
    body = signed_get(http, sandbox.url, ep.WALLET_BALANCE.path, {"accountType": "UNIFIED"}).json()
    assert body["retCode"] == 0
    assert [c["coin"] for c in body["result"]["list"][0]["coin"]] == ["USDT", "BTC"]
    only = signed_get(http, sandbox.url, ep.WALLET_BALANCE.path, {"accountType": "UNIFIED", "coin": "BTC"}).json()
    assert [c["coin"] for c in only["result"]["list"][0]["coin"]] == ["BTC"]


def test_request_log_keeps_raw_query_status_and_ret_code(sandbox: SandboxServer, http: requests.Session) -> None:
    signed_get(http, sandbox.url, ep.EXECUTIONS.path, "category=linear&orderLinkId=a%2Cb")
    http.get(f"{sandbox.url}/nope?x=1", timeout=5)
    logged = sandbox.request_log[-2:]
    assert logged[0].path == ep.EXECUTIONS.path
    assert logged[0].query == "category=linear&orderLinkId=a%2Cb"
    assert (logged[0].status, logged[0].ret_code) == (200, 0)
    assert (logged[1].path, logged[1].query, logged[1].status, logged[1].ret_code) == (
        "/nope",
        "x=1",
        404,
        10001,
    )
    assert logged[0].ts == NOW


def test_debug_log_has_one_line_per_request_and_never_the_secret(
    sandbox: SandboxServer, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG", logger="hean_pipelines.bybit.sandbox.server"):
        signed_get(http, sandbox.url, ep.QUERY_API.path, {})
        http.get(f"{sandbox.url}/v5/market/time", timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.name == "hean_pipelines.bybit.sandbox.server"]
    assert len(lines) == 2
    assert all(SECRET not in line for line in lines)


# ------------------------------------------------------------------ klines


def test_mark_price_kline_newest_first_with_start_end_limit(sandbox: SandboxServer, http: requests.Session) -> None:
    start = day_start_ms(date(2026, 1, 8))
    end = start + 30 * HOUR_MS
    response = public_get(
        http,
        f"{sandbox.url}{ep.MARK_PRICE_KLINE.path}",
        {"category": "linear", "symbol": "BTCUSDT", "interval": "60", "start": start, "end": end},
    )
    body = response.json()
    assert body["retCode"] == 0
    result = body["result"]
    assert result["symbol"] == "BTCUSDT" and result["category"] == "linear"
    assert [int(bar[0]) for bar in result["list"]] == [end - h * HOUR_MS for h in range(31)]
    assert all(len(bar) == 5 and all(isinstance(v, str) for v in bar) for bar in result["list"])
    limited = public_get(
        http,
        f"{sandbox.url}{ep.MARK_PRICE_KLINE.path}",
        {"symbol": "BTCUSDT", "interval": "60", "start": start, "end": end, "limit": 5},
    ).json()["result"]["list"]
    assert [int(bar[0]) for bar in limited] == [end - h * HOUR_MS for h in range(5)]
    latest = public_get(
        http,
        f"{sandbox.url}{ep.MARK_PRICE_KLINE.path}",
        {"symbol": "BTCUSDT", "interval": "60", "limit": 3},
    ).json()["result"]["list"]
    assert [int(bar[0]) for bar in latest] == [NOW - h * HOUR_MS for h in range(3)]


def test_spot_kline_has_seven_fields(sandbox: SandboxServer, http: requests.Session) -> None:
    start = day_start_ms(date(2026, 1, 2))
    body = public_get(
        http,
        f"{sandbox.url}{ep.KLINE.path}",
        {
            "category": "spot",
            "symbol": "BTCUSDT",
            "interval": "60",
            "start": start,
            "end": start + 3 * HOUR_MS,
        },
    ).json()
    assert body["retCode"] == 0
    assert body["result"]["list"] == [
        [str(start + h * HOUR_MS), "100", "101", "99", f"{100 + h}", "1.5", "150"] for h in (3, 2, 1, 0)
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"category": "linear", "symbol": "BTCUSDT", "interval": "D"},
        {"category": "linear", "symbol": "BTCUSDT"},
        {"category": "linear", "interval": "60"},
        {"category": "spot", "symbol": "BTCUSDT", "interval": "60"},  # no spot mark price
        {"category": "linear", "symbol": "BTCUSDT", "interval": "60", "limit": 1001},
        {"category": "linear", "symbol": "BTCUSDT", "interval": "60", "start": 10, "end": 5},
    ],
)
def test_bad_kline_params_are_10001(sandbox: SandboxServer, http: requests.Session, params: dict[str, Any]) -> None:
    body = http.get(f"{sandbox.url}{ep.MARK_PRICE_KLINE.path}", params=params, timeout=5).json()
    assert body["retCode"] == ep.RET_PARAMS_ERROR


# ------------------------------------------------------------------ rate limit


def test_token_bucket_refills_with_its_clock() -> None:
    clock = [100.0]
    limiter = TokenBucketLimiter(2.0, clock=lambda: clock[0])
    first, second, third = (limiter.acquire("k") for _ in range(3))
    assert (first.allowed, first.remaining, first.limit) == (True, 1, 2)
    assert (second.allowed, second.remaining) == (True, 0)
    assert not third.allowed and third.wait_s == pytest.approx(0.5)
    assert third.reset_timestamp_ms(1_000) == 1_500 and third.retry_after_header == "1"
    assert limiter.acquire("other").allowed  # buckets are per key
    clock[0] += 0.5
    assert limiter.acquire("k").allowed
    assert not limiter.acquire("k").allowed
    clock[0] += 60
    assert limiter.peek("k").remaining == 2  # capped at capacity
    disabled = TokenBucketLimiter(0)
    assert all(disabled.acquire("k").allowed for _ in range(1000))


def test_rate_limit_10006_mode(account: FakeAccount, http: requests.Session) -> None:
    config = SandboxConfig(now_ms=lambda: NOW, rate_limit_per_second=1.0)
    with SandboxServer(account, config) as server:
        first = signed_get(http, server.url, ep.QUERY_API.path, {})
        second = signed_get(http, server.url, ep.QUERY_API.path, {})
        other_path = signed_get(http, server.url, ep.WALLET_BALANCE.path, {"accountType": "UNIFIED"})
    assert first.json()["retCode"] == 0
    assert first.headers["X-Bapi-Limit"] == "1" and first.headers["X-Bapi-Limit-Status"] == "0"
    assert first.headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW)
    assert second.status_code == 200
    assert second.json()["retCode"] == ep.RET_RATE_LIMITED
    assert second.json()["retMsg"] == "Too many visits!"
    reset = int(second.headers["X-Bapi-Limit-Reset-Timestamp"])
    assert NOW < reset <= NOW + 1000
    assert second.headers["X-Bapi-Limit-Status"] == "0"
    assert other_path.json()["retCode"] == 0  # per (key, path)


def test_rate_limit_429_mode(account: FakeAccount, http: requests.Session) -> None:
    config = SandboxConfig(now_ms=lambda: NOW, rate_limit_per_second=1.0, rate_limit_mode="429")
    with SandboxServer(account, config) as server:
        assert signed_get(http, server.url, ep.QUERY_API.path, {}).status_code == 200
        limited = signed_get(http, server.url, ep.QUERY_API.path, {})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert NOW < int(limited.headers["X-Bapi-Limit-Reset-Timestamp"]) <= NOW + 1000


def test_rate_limit_recovers_at_the_reset_timestamp(account: FakeAccount, http: requests.Session) -> None:
    config = SandboxConfig(rate_limit_per_second=4.0)  # real clock: reset is wall time
    with SandboxServer(account, config) as server:

        def call() -> requests.Response:
            return signed_get(http, server.url, ep.QUERY_API.path, {}, ts=int(time.time() * 1000))

        codes = [call().json()["retCode"] for _ in range(4)]
        assert codes == [0, 0, 0, 0]
        limited = call()
        assert limited.json()["retCode"] == ep.RET_RATE_LIMITED
        wait_s = (int(limited.headers["X-Bapi-Limit-Reset-Timestamp"]) - time.time() * 1000) / 1000
        assert wait_s <= 0.26
        time.sleep(max(wait_s, 0) + 0.02)
        assert call().json()["retCode"] == 0


def test_invalid_rate_limit_mode_is_refused(account: FakeAccount) -> None:
    with pytest.raises(ValueError, match="rate_limit_mode"):
        SandboxServer(account, SandboxConfig(rate_limit_mode="503"))


def test_concurrent_burst_is_limited_exactly(account: FakeAccount) -> None:
    config = SandboxConfig(now_ms=lambda: NOW, rate_limit_per_second=1.0)
    with SandboxServer(account, config) as server:

        def one(_: int) -> int:
            with requests.Session() as session:
                return int(signed_get(session, server.url, ep.QUERY_API.path, {}).json()["retCode"])

        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(one, range(10)))
        assert sorted(codes) == [0] + [ep.RET_RATE_LIMITED] * 9
        assert len(server.request_log) == 10


def test_linear_kline_is_built_from_mark_bars(sandbox: SandboxServer, http: requests.Session) -> None:
    start = day_start_ms(date(2026, 1, 2))
    body = public_get(
        http,
        f"{sandbox.url}{ep.KLINE.path}",
        {"category": "linear", "symbol": "BTCUSDT", "interval": "60", "start": start, "end": start},
    ).json()
    assert body["result"]["list"] == [[str(start), "100", "101", "99", "100", "0", "0"]]


def test_serve_forever_prints_the_url_and_stops_on_sigterm() -> None:
    code = (
        "from hean_pipelines_tests.bybit.sandbox.test_server import FakeAccount\n"
        "from hean_pipelines.bybit.sandbox.server import SandboxConfig, serve_forever\n"
        "serve_forever(FakeAccount(), SandboxConfig(port=0), faults='http_503:1@/v5/market/time')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
        assert match, first
        url = match[1]
        assert "fault plan: http_503:1@/v5/market/time" in proc.stdout.readline()
        assert requests.get(f"{url}/v5/market/time", timeout=5).status_code == 503
        assert requests.get(f"{url}/v5/market/time", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "stopped" in out
        assert DEFAULT_API_SECRET not in first + out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ against the real simulated account

REAL_NOW = day_start_ms(date(2026, 2, 1))
REAL_START = day_start_ms(date(2026, 1, 5))
REAL_END = REAL_START + WEEK_MS - 1


@pytest.fixture(scope="module")
def real_account() -> SandboxAccount:
    return SandboxAccount()


@pytest.fixture
def real_sandbox(real_account: SandboxAccount) -> Iterator[SandboxServer]:
    config = SandboxConfig(now_ms=lambda: REAL_NOW, rate_limit_per_second=0)
    with SandboxServer(real_account, config) as server:
        yield server


def _signed_pages(
    http: requests.Session, base: str, path: str, params: dict[str, Any], ts: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    query = dict(params)
    for _ in range(1000):
        body = signed_get(http, base, path, query, ts=ts).json()
        assert body["retCode"] == 0, body
        rows.extend(body["result"]["list"])
        if not body["result"]["nextPageCursor"]:
            return rows
        query["cursor"] = body["result"]["nextPageCursor"]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    ("path", "params", "rows_of", "time_field"),
    [
        (ep.EXECUTIONS.path, {"category": "linear"}, lambda d: d.executions["linear"], "execTime"),
        (ep.EXECUTIONS.path, {"category": "spot"}, lambda d: d.executions["spot"], "execTime"),
        (ep.ORDERS.path, {"category": "linear"}, lambda d: d.orders["linear"], "createdTime"),
        (ep.CLOSED_PNL.path, {"category": "linear"}, lambda d: d.closed_pnl, "createdTime"),
        (ep.TRANSACTIONS.path, {"accountType": "UNIFIED"}, lambda d: d.transactions, "transactionTime"),
    ],
)
def test_real_account_pages_every_row_once_newest_first(
    real_sandbox: SandboxServer,
    real_account: SandboxAccount,
    http: requests.Session,
    path: str,
    params: dict[str, Any],
    rows_of: Any,
    time_field: str,
) -> None:
    query = {**params, "startTime": REAL_START, "endTime": REAL_END, "limit": 17}
    rows = _signed_pages(http, real_sandbox.url, path, query, REAL_NOW)
    expected = expected_rows(real_account, REAL_START, REAL_END, rows_of, time_field, now=REAL_NOW)
    assert len(expected) > 17
    assert rows == expected
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows)


def test_real_account_state_klines_and_key(real_sandbox: SandboxServer, http: requests.Session) -> None:
    positions = signed_get(
        http, real_sandbox.url, ep.POSITIONS.path, {"category": "linear", "settleCoin": "USDT"}, ts=REAL_NOW
    ).json()
    assert positions["retCode"] == 0
    assert {p["symbol"] for p in positions["result"]["list"]} <= {"BTCUSDT", "ETHUSDT"}
    wallet = signed_get(http, real_sandbox.url, ep.WALLET_BALANCE.path, {"accountType": "UNIFIED"}, ts=REAL_NOW).json()
    assert wallet["retCode"] == 0 and wallet["result"]["list"][0]["accountType"] == "UNIFIED"
    for path, category, symbol, width in (
        (ep.MARK_PRICE_KLINE.path, "linear", "BTCUSDT", 5),
        (ep.KLINE.path, "spot", "ETHUSDT", 7),
    ):
        body = public_get(
            http,
            f"{real_sandbox.url}{path}",
            {"category": category, "symbol": symbol, "interval": "60", "start": REAL_START, "end": REAL_END},
        ).json()
        bars = body["result"]["list"]
        assert [int(b[0]) for b in bars] == [REAL_END + 1 - h * HOUR_MS for h in range(1, 169)]
        assert all(len(b) == width for b in bars)
