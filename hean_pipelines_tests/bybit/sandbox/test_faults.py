"""Fault plans: the string form, count/after semantics, and every kind over real loopback HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from hean_pipelines.bybit import endpoints as ep
from hean_pipelines.bybit.sandbox.faults import FaultPlan, FaultRule, FaultSpecError, parse_rule
from hean_pipelines.bybit.sandbox.server import SandboxConfig, SandboxServer
from hean_pipelines.bybit.signing import build_query_string, sign
from hean_pipelines_tests.bybit.sandbox.test_server import NOW, FakeAccount, signed_get

EXEC = ep.EXECUTIONS.path
EXEC_PARAMS = {"category": "linear", "startTime": NOW - 86_400_000, "endTime": NOW}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(FakeAccount(), SandboxConfig(now_ms=lambda: NOW, rate_limit_per_second=0)) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get_exec(http: requests.Session, sandbox: SandboxServer) -> requests.Response:
    return signed_get(http, sandbox.url, EXEC, EXEC_PARAMS)


# ------------------------------------------------------------------ the plan itself


def test_parse_the_documented_examples() -> None:
    plan = FaultPlan.parse(
        "http_429:3@/v5/execution/list, http_502+2@*; ret_code=10006/1:2@/v5/account/transaction-log "
        "slow=0.5:1@/v5/order/history,truncated_json@/v5/position/closed-pnl"
    )
    rules = plan.rules()
    assert [(r.kind, r.count, r.after, r.path) for r in rules] == [
        ("http_429", 3, 0, "/v5/execution/list"),
        ("http_502", 1, 2, "*"),
        ("ret_code", 2, 0, "/v5/account/transaction-log"),
        ("slow", 1, 0, "/v5/order/history"),
        ("truncated_json", 1, 0, "/v5/position/closed-pnl"),
    ]
    assert rules[2].ret_code == 10006 and rules[2].retry_after_s == 1.0
    assert rules[3].delay_s == 0.5
    assert plan.remaining() == 3 + 1 + 2 + 1 + 1
    assert plan.remaining(EXEC) == 3 + 1


def test_spec_round_trips() -> None:
    spec = "http_429=2:3+1@/v5/execution/list, ret_code=10002:1@*, slow=0.25:2@/v5/order/*"
    plan = FaultPlan.parse(spec)
    again = FaultPlan.parse(plan.spec())
    assert [parse_rule(r.spec()) for r in again.rules()] == plan.rules()
    assert plan.rules()[0].retry_after_s == 2.0


@pytest.mark.parametrize(
    "bad",
    [
        "http_999",
        "http_429:x",
        "slow=fast",
        "http_500=3",
        "ret_code=abc",
        "http_429:1@",
        "@/v5/execution/list",
    ],
)
def test_malformed_specs_are_refused(bad: str) -> None:
    with pytest.raises(FaultSpecError):
        FaultPlan.parse(bad)


def test_empty_spec_is_an_empty_plan() -> None:
    assert FaultPlan.parse("").remaining() == 0
    assert len(FaultPlan.parse("  ")) == 0


def test_count_after_and_path_matching() -> None:
    plan = FaultPlan()
    rule = plan.add("http_500", EXEC, count=2, after=3)
    assert [plan.take("/v5/order/history") for _ in range(5)] == [None] * 5  # other paths don't count
    kinds = [f.kind if (f := plan.take(EXEC)) else None for _ in range(7)]
    assert kinds == [None, None, None, "http_500", "http_500", None, None]
    assert (rule.seen, rule.fired, plan.remaining()) == (7, 2, 0)


def test_first_eligible_rule_wins_and_only_it_is_consumed() -> None:
    plan = FaultPlan()
    plan.add("http_503", "*", count=1)
    plan.add("http_502", "/v5/account/*", count=1)
    assert (f := plan.take("/v5/account/wallet-balance")) and f.kind == "http_503"
    assert (f := plan.take("/v5/account/wallet-balance")) and f.kind == "http_502"
    assert plan.take("/v5/account/wallet-balance") is None
    plan.add("http_401", EXEC, count=5)
    assert plan.remaining() == 5
    plan.clear()
    assert plan.remaining() == 0 and plan.take(EXEC) is None


def test_plan_is_thread_safe() -> None:
    plan = FaultPlan()
    plan.add("http_500", "*", count=500)
    fired: list[int] = []

    def worker() -> None:
        fired.append(sum(1 for _ in range(200) if plan.take(EXEC) is not None))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(fired) == 500 and plan.remaining() == 0


def test_rule_validation() -> None:
    with pytest.raises(FaultSpecError):
        FaultRule(kind="http_418")
    with pytest.raises(FaultSpecError):
        FaultPlan().add("slow", count=-1)


# ------------------------------------------------------------------ each kind over HTTP


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_http_5xx_then_normal(sandbox: SandboxServer, http: requests.Session, kind: str, status: int) -> None:
    sandbox.faults.add(kind, EXEC, count=2)
    first, second, third = (get_exec(http, sandbox) for _ in range(3))
    assert first.status_code == second.status_code == status
    assert "text/html" in first.headers["Content-Type"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(first.text)
    assert third.status_code == 200 and third.json()["retCode"] == 0
    assert [r.fault for r in sandbox.request_log] == [kind, kind, None]
    assert sandbox.faults.remaining() == 0


def test_http_403_is_plain_text(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.faults.add("http_403")
    response = http.get(f"{sandbox.url}/v5/market/time", timeout=5)
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "Forbidden" in response.text
    assert http.get(f"{sandbox.url}/v5/market/time", timeout=5).status_code == 200


def test_http_401(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.faults.add("http_401", EXEC)
    assert get_exec(http, sandbox).status_code == 401
    assert get_exec(http, sandbox).status_code == 200


@pytest.mark.parametrize(("retry_after_s", "header"), [(0.0, "0"), (2.0, "2"), (1.5, "2")])
def test_http_429_with_retry_after(
    sandbox: SandboxServer, http: requests.Session, retry_after_s: float, header: str
) -> None:
    sandbox.faults.add("http_429", EXEC, retry_after_s=retry_after_s)
    limited = get_exec(http, sandbox)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == header
    assert get_exec(http, sandbox).status_code == 200


def test_after_lets_requests_through_first(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.faults.extend("http_502:1+2@/v5/execution/list")
    statuses = [get_exec(http, sandbox).status_code for _ in range(4)]
    assert statuses == [200, 200, 502, 200]


def test_path_specific_fault_leaves_other_paths_alone(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.faults.add("http_500", EXEC, count=1)
    assert signed_get(http, sandbox.url, ep.QUERY_API.path, {}).status_code == 200
    assert get_exec(http, sandbox).status_code == 500


def test_slow_answers_normally_after_the_delay(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.faults.add("slow", EXEC, count=1, delay_s=0.3)
    started = time.perf_counter()
    slow = get_exec(http, sandbox)
    elapsed = time.perf_counter() - started
    assert slow.status_code == 200 and slow.json()["retCode"] == 0
    assert elapsed >= 0.3
    started = time.perf_counter()
    get_exec(http, sandbox)
    assert time.perf_counter() - started < 0.3
    assert sandbox.faults.remaining() == 0
    # A client that gives up first gets a timeout; the exchange keeps serving.
    sandbox.faults.add("slow", EXEC, count=1, delay_s=0.2)
    with pytest.raises(requests.ReadTimeout):
        signed_get_timeout(http, sandbox, 0.05)
    assert get_exec(http, sandbox).json()["retCode"] == 0


def signed_get_timeout(http: requests.Session, sandbox: SandboxServer, timeout: float) -> requests.Response:
    query = build_query_string(EXEC_PARAMS)
    headers = {
        "X-BAPI-API-KEY": sandbox.config.api_key,
        "X-BAPI-SIGN": sign(sandbox.config.api_secret, NOW, sandbox.config.api_key, 5000, query),
        "X-BAPI-TIMESTAMP": str(NOW),
        "X-BAPI-RECV-WINDOW": "5000",
    }
    return http.get(f"{sandbox.url}{EXEC}?{query}", headers=headers, timeout=timeout)


def test_truncated_json_has_valid_headers_and_a_cut_body(sandbox: SandboxServer, http: requests.Session) -> None:
    full = get_exec(http, sandbox)
    sandbox.faults.add("truncated_json", EXEC)
    cut = get_exec(http, sandbox)
    assert cut.status_code == 200
    assert cut.headers["Content-Type"] == "application/json"
    assert int(cut.headers["Content-Length"]) == len(cut.content)
    assert 0 < len(cut.content) < len(full.content)
    assert full.content.startswith(cut.content)
    with pytest.raises(ValueError):  # requests' JSONDecodeError
        cut.json()
    assert get_exec(http, sandbox).json() == full.json()


def test_duplicate_fill_repeats_one_trade_under_a_second_exec_id(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    full = get_exec(http, sandbox).json()["result"]["list"]
    sandbox.faults.add("duplicate_fill", EXEC)
    corrupted = get_exec(http, sandbox).json()["result"]["list"]
    first_trade = next(item for item in full if item["execType"] == "Trade")
    assert corrupted[: len(full)] == full
    assert corrupted[len(full) :] == [{**first_trade, "execId": first_trade["execId"] + "-dup"}]
    assert get_exec(http, sandbox).json()["result"]["list"] == full


def test_ret_code_10006_with_reset_timestamp(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.faults.add("ret_code", EXEC, count=2, ret_code=10006, retry_after_s=1.5)
    limited = get_exec(http, sandbox)
    assert limited.status_code == 200
    body = limited.json()
    assert (body["retCode"], body["retMsg"]) == (10006, "Too many visits!")
    assert body["result"] == {} and body["time"] == NOW
    assert limited.headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW + 1500)
    assert "X-Bapi-Limit" in limited.headers and "X-Bapi-Limit-Status" in limited.headers
    assert get_exec(http, sandbox).json()["retCode"] == 10006
    assert get_exec(http, sandbox).json()["retCode"] == 0


@pytest.mark.parametrize(("code", "msg"), [(10002, None), (10003, "API key is invalid."), (33004, "custom")])
def test_ret_code_other_codes(sandbox: SandboxServer, http: requests.Session, code: int, msg: str | None) -> None:
    sandbox.faults.add("ret_code", "*", ret_code=code, ret_msg=msg)
    body = get_exec(http, sandbox).json()
    assert body["retCode"] == code
    if msg is not None:
        assert body["retMsg"] == msg
    else:
        assert "recv_window" in body["retMsg"]


def test_faults_apply_before_auth(sandbox: SandboxServer, http: requests.Session) -> None:
    # Infrastructure faults don't care who you are.
    sandbox.faults.add("http_503", EXEC)
    assert http.get(f"{sandbox.url}{EXEC}?category=linear", timeout=5).status_code == 503
