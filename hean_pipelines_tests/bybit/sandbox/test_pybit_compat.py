"""Bybit's official SDK (pybit 5.17.0), unmodified, pointed at the sandbox: it must just work.

pybit builds its base URL from ``testnet``/``domain``/``tld`` into the ``endpoint`` attribute of its
HTTP manager and prefixes every path with it, so setting ``endpoint`` to the sandbox URL is all it takes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hean_pipelines.bybit.sandbox.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SandboxConfig,
    SandboxServer,
)
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines_tests.bybit.sandbox.test_server import FakeAccount, day_start_ms, expected_rows

pybit_http = pytest.importorskip("pybit.unified_trading")
pybit_exceptions = pytest.importorskip("pybit.exceptions")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TODAY = datetime.now(tz=UTC).date()
# The fake account's data starts 20 days ago, so windows a few days back are full of rows.
ACCOUNT = FakeAccount(start_date=TODAY - timedelta(days=20))
WINDOW_END = day_start_ms(TODAY - timedelta(days=2))
WINDOW_START = WINDOW_END - 5 * DAY_MS


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    # Real wall clock: pybit stamps requests with time.time().
    with SandboxServer(ACCOUNT, SandboxConfig(rate_limit_per_second=0)) as server:
        yield server


def make_session(url: str, **kwargs: Any) -> Any:
    session = pybit_http.HTTP(
        testnet=False,
        api_key=kwargs.pop("api_key", DEFAULT_API_KEY),
        api_secret=kwargs.pop("api_secret", DEFAULT_API_SECRET),
        **kwargs,
    )
    assert session.endpoint == "https://api.bybit.com"
    session.endpoint = url
    return session


def test_get_executions_paginates_with_cursor(sandbox: SandboxServer) -> None:
    session = make_session(sandbox.url)
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        response = session.get_executions(
            category="linear", startTime=WINDOW_START, endTime=WINDOW_END, limit=20, cursor=cursor
        )
        assert response["retCode"] == 0
        assert response["result"]["category"] == "linear"
        rows.extend(response["result"]["list"])
        pages += 1
        cursor = response["result"]["nextPageCursor"] or None
        if cursor is None:
            break
        assert "%3A" in cursor and "%2C" in cursor  # percent-encoded, sent back as is by pybit
    expected = expected_rows(
        ACCOUNT, WINDOW_START, WINDOW_END, lambda d: d.executions.get("linear", []), "execTime", now=2**62
    )
    assert len(expected) > 100
    assert pages == -(-len(expected) // 20)
    assert [r["execId"] for r in rows] == [r["execId"] for r in expected]


def test_get_transaction_log(sandbox: SandboxServer) -> None:
    session = make_session(sandbox.url)
    response = session.get_transaction_log(
        accountType="UNIFIED", category="linear", startTime=WINDOW_START, endTime=WINDOW_END, limit=50
    )
    assert response["retCode"] == 0
    rows = response["result"]["list"]
    assert rows and all(r["category"] == "linear" for r in rows)
    times = [int(r["transactionTime"]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert "nextPageCursor" in response["result"]


def test_get_mark_price_kline(sandbox: SandboxServer) -> None:
    session = make_session(sandbox.url)
    start = day_start_ms(TODAY - timedelta(days=3))
    response = session.get_mark_price_kline(
        category="linear", symbol="BTCUSDT", interval="60", start=start, end=start + 23 * HOUR_MS
    )
    assert response["retCode"] == 0
    bars = response["result"]["list"]
    assert [int(b[0]) for b in bars] == [start + h * HOUR_MS for h in range(23, -1, -1)]
    assert all(len(b) == 5 for b in bars)
    assert response["result"]["symbol"] == "BTCUSDT"


def test_get_wallet_balance_positions_and_key_info(sandbox: SandboxServer) -> None:
    session = make_session(sandbox.url)
    wallet = session.get_wallet_balance(accountType="UNIFIED")
    assert wallet["retCode"] == 0
    assert wallet["result"]["list"][0]["accountType"] == "UNIFIED"
    positions = session.get_positions(category="linear", settleCoin="USDT")
    assert [p["symbol"] for p in positions["result"]["list"]] == ["BTCUSDT", "ETHUSDT"]
    info = session.get_api_key_information()
    assert info["result"]["readOnly"] == 1
    assert session.get_server_time()["retCode"] == 0


def test_pybit_sees_auth_errors_and_refused_orders(sandbox: SandboxServer) -> None:
    wrong_secret = make_session(sandbox.url, api_secret="not-the-secret")
    with pytest.raises(pybit_exceptions.InvalidRequestError) as err:
        wrong_secret.get_wallet_balance(accountType="UNIFIED")
    assert err.value.status_code == 10004
    wrong_key = make_session(sandbox.url, api_key="someone-else")
    with pytest.raises(pybit_exceptions.InvalidRequestError) as err:
        wrong_key.get_wallet_balance(accountType="UNIFIED")
    assert err.value.status_code == 10003
    session = make_session(sandbox.url)
    with pytest.raises(pybit_exceptions.InvalidRequestError) as err:
        session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001")
    assert err.value.status_code == 10005


def test_pybit_waits_out_a_10006_until_the_reset_timestamp(sandbox: SandboxServer) -> None:
    session = make_session(sandbox.url)
    sandbox.faults.add("ret_code", "/v5/account/wallet-balance", count=1, ret_code=10006, retry_after_s=0.3)
    started = time.perf_counter()
    wallet = session.get_wallet_balance(accountType="UNIFIED")
    assert wallet["retCode"] == 0
    assert time.perf_counter() - started >= 0.2  # pybit slept until X-Bapi-Limit-Reset-Timestamp
    assert [r.ret_code for r in sandbox.request_log] == [10006, 0]


def test_pybit_reports_a_403_ban(sandbox: SandboxServer) -> None:
    session = make_session(sandbox.url)
    sandbox.faults.add("http_403", "*")
    with pytest.raises(pybit_exceptions.FailedRequestError) as err:
        session.get_server_time()
    assert err.value.status_code == 403


# ------------------------------------------------------------------ the real simulated account

REAL_START_DATE = TODAY - timedelta(days=TODAY.weekday() + 21)  # a Monday three weeks back
REAL_END = day_start_ms(TODAY - timedelta(days=1))
REAL_BEGIN = REAL_END - 6 * DAY_MS


@pytest.fixture(scope="module")
def real_account() -> SandboxAccount:
    return SandboxAccount(start_date=REAL_START_DATE)


@pytest.fixture
def real_sandbox(real_account: SandboxAccount) -> Iterator[SandboxServer]:
    with SandboxServer(real_account, SandboxConfig(rate_limit_per_second=0)) as server:
        yield server


def test_real_account_executions_paginate(real_sandbox: SandboxServer, real_account: SandboxAccount) -> None:
    session = make_session(real_sandbox.url)
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        response = session.get_executions(
            category="linear", startTime=REAL_BEGIN, endTime=REAL_END, limit=50, cursor=cursor or None
        )
        rows.extend(response["result"]["list"])
        cursor = response["result"]["nextPageCursor"]
        if not cursor:
            break
    expected = expected_rows(
        real_account, REAL_BEGIN, REAL_END, lambda d: d.executions["linear"], "execTime", now=2**62
    )
    assert len(expected) > 100
    assert rows == expected


def test_real_account_transaction_log_kline_and_wallet(real_sandbox: SandboxServer) -> None:
    session = make_session(real_sandbox.url)
    log = session.get_transaction_log(accountType="UNIFIED", startTime=REAL_BEGIN, endTime=REAL_END, limit=50)
    assert log["retCode"] == 0 and len(log["result"]["list"]) == 50
    assert log["result"]["nextPageCursor"]
    kline = session.get_mark_price_kline(
        category="linear", symbol="ETHUSDT", interval=60, start=REAL_BEGIN, end=REAL_END, limit=1000
    )
    bars = kline["result"]["list"]
    assert [int(b[0]) for b in bars] == list(range(REAL_END, REAL_BEGIN - 1, -HOUR_MS))
    spot = session.get_kline(category="spot", symbol="ETHUSDT", interval="60", start=REAL_BEGIN, end=REAL_END)
    assert len(spot["result"]["list"]) == len(bars) and len(spot["result"]["list"][0]) == 7
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")
    assert [c["coin"] for c in wallet["result"]["list"][0]["coin"]] == ["USDT"]
