"""The Bybit client against the sandbox exchange over real loopback HTTP."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hean_pipelines.bybit.client import BybitClient
from hean_pipelines.bybit.errors import (
    BybitApiError,
    BybitAuthError,
    BybitForbiddenError,
    BybitResponseError,
    BybitTransportError,
    NotReadOnlyKeyError,
    RepeatedCursorError,
)
from hean_pipelines.bybit.sandbox.server import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines.ingestion import day_start_ms
from hean_pipelines_tests.bybit.conftest import FAST_RETRIES

FIRST = date(2026, 1, 5)


def _expected_exec_ids(account: SandboxAccount, first: date, days: int, category: str = "linear") -> set[str]:
    ids: set[str] = set()
    for offset in range(days):
        ids.update(item["execId"] for item in account.day(first + timedelta(days=offset)).executions.get(category, []))
    return ids


def test_pagination_over_many_pages_and_windows_returns_every_row_once(
    client: BybitClient, sandbox_account: SandboxAccount
) -> None:
    days = 16  # three 7-day windows
    start, end = day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=days))
    items = client.executions("linear", start, end)
    ids = [item["execId"] for item in items]
    assert len(ids) == len(set(ids)), "a row came back twice"
    assert set(ids) == _expected_exec_ids(sandbox_account, FIRST, days)
    assert client.stats.pages >= len(ids) // 100 + 1 >= 10
    assert all(start <= int(item["execTime"]) < end for item in items)


def test_limit_is_the_endpoint_maximum_and_windows_never_exceed_seven_days(
    client: BybitClient, sandbox: SandboxServer
) -> None:
    client.executions("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=10)))
    queries = [r.query for r in sandbox.request_log if r.path == "/v5/execution/list"]
    assert queries and all("limit=100" in q for q in queries)
    for query in queries:
        params = dict(pair.split("=", 1) for pair in query.split("&"))
        assert int(params["endTime"]) - int(params["startTime"]) < 7 * 86_400_000


def test_transaction_log_orders_closed_pnl_and_klines(client: BybitClient, sandbox_account: SandboxAccount) -> None:
    start, end = day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=2))
    day0, day1 = sandbox_account.day(FIRST), sandbox_account.day(FIRST + timedelta(days=1))
    assert len(client.transaction_log(start, end)) == len(day0.transactions) + len(day1.transactions)
    assert len(client.closed_pnl(start, end)) == len(day0.closed_pnl) + len(day1.closed_pnl)
    assert len(client.order_history("linear", start, end)) == len(day0.orders["linear"]) + len(day1.orders["linear"])
    bars = client.mark_price_klines("BTCUSDT", start, end)
    assert len(bars) == 48
    assert [int(b[0]) for b in bars] == sorted(int(b[0]) for b in bars)


def test_http_429_burst_is_retried_and_data_is_complete(
    client: BybitClient, sandbox: SandboxServer, sandbox_account: SandboxAccount
) -> None:
    sandbox.faults.extend("http_429:3@/v5/execution/list")
    items = client.executions("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=3)))
    assert {i["execId"] for i in items} == _expected_exec_ids(sandbox_account, FIRST, 3)
    assert client.stats.retries == 3
    assert sandbox.faults.remaining() == 0


def test_retcode_10006_waits_for_the_reset_and_data_is_complete(
    client: BybitClient, sandbox: SandboxServer, sandbox_account: SandboxAccount
) -> None:
    waits: list[float] = []
    client.sleep = waits.append  # record the waits instead of sleeping them
    sandbox.faults.extend("ret_code=10006/1:2+1@/v5/execution/list")
    items = client.executions("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=3)))
    assert {i["execId"] for i in items} == _expected_exec_ids(sandbox_account, FIRST, 3)
    assert len(waits) == 2
    assert all(0.5 <= w <= 1.5 for w in waits), waits  # until X-Bapi-Limit-Reset-Timestamp (now + 1 s)
    assert sum(1 for r in client.drain_records() if r["ret_code"] == 10006) == 2


def test_5xx_persisting_past_the_retries_raises_transport_error(client: BybitClient, sandbox: SandboxServer) -> None:
    sandbox.faults.extend("http_503:50@/v5/execution/list")
    with pytest.raises(BybitTransportError, match="503"):
        client.executions("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=1)))


def test_wrong_secret_fails_after_exactly_one_request(sandbox: SandboxServer) -> None:
    bad = BybitClient(sandbox.url, api_key=DEFAULT_API_KEY, api_secret="wrong", policy=FAST_RETRIES)
    with bad, pytest.raises(BybitAuthError, match="10004"):
        bad.executions("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=1)))
    assert len(sandbox.request_log) == 1


@pytest.mark.parametrize("spec", ["http_401", "ret_code=10003", "ret_code=10005", "ret_code=33004"])
def test_auth_failures_are_not_retried(client: BybitClient, sandbox: SandboxServer, spec: str) -> None:
    sandbox.faults.extend(f"{spec}:5@*")
    with pytest.raises(BybitAuthError):
        client.executions("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=1)))
    assert len(sandbox.request_log) == 1


def test_http_403_is_raised_at_once_with_advice(client: BybitClient, sandbox: SandboxServer) -> None:
    sandbox.faults.extend("http_403:5@*")
    with pytest.raises(BybitForbiddenError, match="wait"):
        client.transaction_log(day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=1)))
    assert len(sandbox.request_log) == 1


def test_other_retcodes_raise_named_error_with_code_and_message(client: BybitClient, sandbox: SandboxServer) -> None:
    sandbox.faults.extend("ret_code=10016@*")
    with pytest.raises(BybitApiError) as info:
        client.wallet_balance()
    assert info.value.ret_code == 10016 and info.value.ret_msg


def test_truncated_json_is_a_named_error(client: BybitClient, sandbox: SandboxServer) -> None:
    sandbox.faults.extend("truncated_json@/v5/order/history")
    with pytest.raises(BybitResponseError, match="not valid JSON"):
        client.order_history("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=1)))


def test_timestamp_out_of_window_resyncs_the_clock_once(sandbox: SandboxServer) -> None:
    skewed = BybitClient(
        sandbox.url,
        api_key=DEFAULT_API_KEY,
        api_secret="hean-sandbox-secret",
        policy=FAST_RETRIES,
        clock_ms=lambda: 1_000_000_000_000,  # a clock stuck in 2001
    )
    with skewed:
        skewed.wallet_balance()
        assert abs(skewed._offset_ms) > 10**11
    codes = [r.ret_code for r in sandbox.request_log]
    assert codes.count(10002) == 1


def test_read_only_key_is_accepted_and_a_trading_key_refused(sandbox_account: SandboxAccount) -> None:
    for read_only in (True, False):
        server = SandboxServer(sandbox_account, SandboxConfig(port=0, read_only_key=read_only))
        server.start()
        try:
            with BybitClient(server.url, api_key=DEFAULT_API_KEY, api_secret="hean-sandbox-secret") as c:
                if read_only:
                    c.assert_read_only()
                else:
                    with pytest.raises(NotReadOnlyKeyError):
                        c.assert_read_only()
        finally:
            server.stop()


def test_every_exchange_is_recorded_for_the_request_log(client: BybitClient, sandbox: SandboxServer) -> None:
    sandbox.faults.extend("http_502:1@/v5/position/closed-pnl")
    client.closed_pnl(day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=1)))
    rows = client.drain_records()
    assert len(rows) == 1
    assert rows[0]["endpoint"] == "/v5/position/closed-pnl"
    assert rows[0]["status"] == 200 and rows[0]["ret_code"] == 0 and rows[0]["retries"] == 1
    assert rows[0]["latency_seconds"] > 0


def test_client_has_no_way_to_send_anything_but_get() -> None:
    public = {name for name in dir(BybitClient) if not name.startswith("_")}
    assert not {"post", "place_order", "create_order", "cancel_order", "withdraw"} & public


def test_a_cursor_that_comes_back_twice_stops_pagination(client: BybitClient, sandbox: SandboxServer) -> None:
    sandbox.faults.extend("repeat_cursor+1@/v5/execution/list")
    with pytest.raises(RepeatedCursorError, match="came back twice"):
        client.executions("linear", day_start_ms(FIRST), day_start_ms(FIRST + timedelta(days=7)))
    cursor_requests = [r for r in sandbox.request_log if "cursor=" in r.query]
    assert len(cursor_requests) == 1  # the repeat was noticed without following it
