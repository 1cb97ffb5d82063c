"""A Bybit-v5-compatible HTTP exchange on loopback, serving a simulated account.

Private GET endpoints check ``X-BAPI-API-KEY`` (10003), ``X-BAPI-TIMESTAMP`` against the recv window
(10002) and ``X-BAPI-SIGN`` over the raw query string exactly as received (10004), then a token bucket
per (api key, path) (10006, or HTTP 429 in ``"429"`` mode). Every private answer carries
``X-Bapi-Limit``, ``X-Bapi-Limit-Status`` and ``X-Bapi-Limit-Reset-Timestamp``. POST (any path) is
refused with 10005: the key is read-only and the system never places orders. Unknown paths get HTTP
404 with retCode 10001.

Lists are newest first (time desc, then the row's position in its simulated day, desc) and
cursor-paginated. A cursor is ``"<time_ms>:<day_ordinal>:<index>,<mac>"`` (the sort key of the last row
served and a MAC binding it to the api key, the path and every query parameter but ``cursor`` and
``limit``), sent percent-encoded (``"1767225600000%3A739614%3A12%2C3f9a..."``) like Bybit's, and read
back either encoded or not. Rows later than the server's "now" are not visible, like on a real exchange.

Deviations from the live exchange worth knowing: only ``interval=60`` klines; ``/v5/market/kline``
for ``category=linear`` is built from the simulated mark-price bars (volume and turnover ``"0"``);
when neither ``startTime`` nor ``endTime`` is given every windowed endpoint defaults to the last 7 days
(Bybit's transaction log defaults to 24 hours).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Protocol
from urllib.parse import quote, unquote

from hean_pipelines.bybit import endpoints as ep
from hean_pipelines.bybit.sandbox.faults import (
    DUPLICATE_FILL,
    HTTP_429,
    REPEAT_CURSOR,
    RET_CODE,
    SLOW,
    TRUNCATED_JSON,
    Fault,
    FaultPlan,
)
from hean_pipelines.bybit.sandbox.ratelimit import RateDecision, TokenBucketLimiter
from hean_pipelines.bybit.signing import verify_signature

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "hean-sandbox-key"
DEFAULT_API_SECRET = "hean-sandbox-secret"  # noqa: S105 - a public, sandbox-only credential
DEFAULT_PORT = 18080

RATE_LIMIT_MODES = ("10006", "429")
DEFAULT_RECV_WINDOW_MS = 5000
# Bybit accepts a timestamp at most this far ahead of its clock.
MAX_CLOCK_AHEAD_MS = 1000
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
WINDOW_MS = int(ep.MAX_PRIVATE_WINDOW.total_seconds() * 1000)
SUPPORTED_KLINE_INTERVALS = {ep.KLINE_INTERVAL_HOURLY: HOUR_MS}

# Bybit's documented defaults for ``limit`` (the maxima live in endpoints.py).
DEFAULT_LIMITS: dict[str, int] = {
    ep.EXECUTIONS.path: 50,
    ep.TRANSACTIONS.path: 20,
    ep.ORDERS.path: 20,
    ep.CLOSED_PNL.path: 50,
    ep.POSITIONS.path: 20,
    ep.MARK_PRICE_KLINE.path: 200,
    ep.KLINE.path: 200,
}

MSG_OK = "OK"
MSG_INVALID_KEY = "API key is invalid."
MSG_SIGN = "Error sign, please check your signature generation algorithm."
MSG_PERMISSION = "Permission denied, please check your API key permissions."
MSG_RATE = "Too many visits!"
MSG_SERVER_ERROR = "Server error."
RET_SERVER_ERROR = 10016

Row = Mapping[str, Any]
SortKey = tuple[int, int, int]


class DaySource(Protocol):
    """What the server reads from one simulated day (``simulator.SandboxDay`` satisfies it)."""

    @property
    def executions(self) -> Mapping[str, Sequence[Row]]: ...

    @property
    def orders(self) -> Mapping[str, Sequence[Row]]: ...

    @property
    def closed_pnl(self) -> Sequence[Row]: ...

    @property
    def transactions(self) -> Sequence[Row]: ...

    @property
    def mark_klines(self) -> Mapping[str, Sequence[Sequence[str]]]: ...

    @property
    def spot_klines(self) -> Mapping[str, Sequence[Sequence[str]]]: ...


class AccountSource(Protocol):
    """The simulated account (``simulator.SandboxAccount`` satisfies it)."""

    def day(self, day: date, /) -> DaySource: ...

    def positions_at(self, category: str, ts_ms: int, /) -> Sequence[Row]: ...

    def wallet_balance_at(self, ts_ms: int, /) -> Row: ...


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class SandboxConfig:
    """How the sandbox exchange behaves."""

    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    host: str = "127.0.0.1"
    port: int = 0
    """0 = an ephemeral port."""
    rate_limit_per_second: float = 50.0
    """Per api key per endpoint path; 0 disables."""
    rate_limit_mode: str = "10006"
    """``"10006"``: HTTP 200 + retCode 10006 (Bybit's usual); ``"429"``: HTTP 429 + Retry-After."""
    read_only_key: bool = True
    """What ``/v5/user/query-api`` reports (``readOnly`` 1/0)."""
    recv_window_max_ms: int = 60000
    now_ms: Callable[[], int] | None = None
    """Clock for 'as of now' answers, default windows, visibility and timestamp checks; default: wall."""


@dataclass(frozen=True)
class ServedRequest:
    """One answered request, as the request log keeps it."""

    path: str
    query: str
    """The raw query string, exactly as received."""
    status: int
    ret_code: int | None
    """``None`` when the body was not a Bybit JSON envelope."""
    ts: int
    """Server clock (ms) when the request arrived."""
    method: str = "GET"
    fault: str | None = None
    """The fault kind injected into this request, if any."""


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    ret_code: int | None = None


class _ApiError(Exception):
    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(ret_msg)
        self.ret_code = ret_code
        self.ret_msg = ret_msg


def _params_error(message: str) -> _ApiError:
    return _ApiError(ep.RET_PARAMS_ERROR, message)


def parse_query(raw_query: str) -> dict[str, str]:
    """``k=v&...`` split by hand (no re-encoding anywhere); keys and values percent-decoded."""
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        params.setdefault(unquote(key), unquote(value))
    return params


def _utc_day(ts_ms: int) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).date()


def _days_between(start_ms: int, end_ms: int) -> Iterable[date]:
    day = _utc_day(start_ms)
    last = _utc_day(end_ms)
    while day <= last:
        yield day
        day += timedelta(days=1)


class SandboxServer:
    """The exchange: ``start()`` serves from a daemon thread, ``stop()`` (or ``with``) ends it."""

    def __init__(self, account: AccountSource, config: SandboxConfig | None = None) -> None:
        self.account = account
        self.config = config or SandboxConfig()
        if self.config.rate_limit_mode not in RATE_LIMIT_MODES:
            raise ValueError(f"rate_limit_mode must be one of {RATE_LIMIT_MODES}, got {self.config.rate_limit_mode!r}")
        self.faults = FaultPlan()
        self.request_log: list[ServedRequest] = []
        self.url = ""
        self.limiter = TokenBucketLimiter(self.config.rate_limit_per_second)
        self._now_ms: Callable[[], int] = self.config.now_ms or _wall_clock_ms
        self._log_lock = threading.Lock()
        self._days: OrderedDict[date, DaySource] = OrderedDict()
        self._days_lock = threading.Lock()
        self._cursor_key = hashlib.sha256(b"hean-sandbox-cursor\0" + self.config.api_secret.encode()).digest()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> str:
        """Bind, serve from a daemon thread, return the base URL (``http://127.0.0.1:<port>``)."""
        if self._httpd is not None:
            return self.url
        httpd = _HTTPServer((self.config.host, self.config.port), _Handler, self)
        port = httpd.server_address[1]
        self.url = f"http://{self.config.host}:{port}"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"hean-sandbox-{port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("sandbox exchange serving at %s", self.url)
        return self.url

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None
        logger.info("sandbox exchange at %s stopped", self.url)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def now_ms(self) -> int:
        return self._now_ms()

    # ----------------------------------------------------------------- request handling

    def answer(self, method: str, target: str, headers: Mapping[str, str]) -> _Answer:
        """Answer one request (``target`` is the raw request-target, ``headers`` lower-cased)."""
        started = time.perf_counter()
        now = self.now_ms()
        path, _, raw_query = target.partition("?")
        fault = self.faults.take(path)
        try:
            answer = self._answer_with_fault(method, path, raw_query, headers, fault, now)
        except Exception:
            logger.exception("sandbox: internal error answering %s %s", method, path)
            answer = self._envelope_answer(RET_SERVER_ERROR, MSG_SERVER_ERROR, {}, now, status=500)
        with self._log_lock:
            self.request_log.append(
                ServedRequest(
                    path=path,
                    query=raw_query,
                    status=answer.status,
                    ret_code=answer.ret_code,
                    ts=now,
                    method=method,
                    fault=fault.kind if fault else None,
                )
            )
        logger.debug(
            "sandbox %s %s -> %d retCode=%s%s (%.1f ms)",
            method,
            target,
            answer.status,
            answer.ret_code,
            f" fault={fault.kind}" if fault else "",
            (time.perf_counter() - started) * 1000,
        )
        return answer

    def _answer_with_fault(
        self,
        method: str,
        path: str,
        raw_query: str,
        headers: Mapping[str, str],
        fault: Fault | None,
        now: int,
    ) -> _Answer:
        if fault is None:
            return self._answer_normally(method, path, raw_query, headers, now)
        if fault.kind == SLOW:
            time.sleep(fault.delay_s)  # latency after arrival: auth is judged at arrival time, like Bybit
            return self._answer_normally(method, path, raw_query, headers, now)
        if fault.kind == TRUNCATED_JSON:
            answer = self._answer_normally(method, path, raw_query, headers, now)
            answer.body = answer.body[: max(1, len(answer.body) // 2)]
            return answer
        if fault.kind == REPEAT_CURSOR:
            answer = self._answer_normally(method, path, raw_query, headers, now)
            raw_pairs = (part.partition("=") for part in raw_query.split("&"))
            sent_cursor = next((value for key, _, value in raw_pairs if key == "cursor"), "")
            envelope = json.loads(answer.body)
            if sent_cursor and isinstance(envelope.get("result"), dict):
                envelope["result"]["nextPageCursor"] = sent_cursor
                answer.body = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
            return answer
        if fault.kind == DUPLICATE_FILL:
            answer = self._answer_normally(method, path, raw_query, headers, now)
            envelope = json.loads(answer.body)
            items = (envelope.get("result") or {}).get("list") if isinstance(envelope.get("result"), dict) else None
            trade = next((item for item in items or [] if item.get("execType") == "Trade"), None)
            if items is not None and trade is not None:
                items.append({**trade, "execId": f"{trade['execId']}-dup"})
                answer.body = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
            return answer
        if fault.kind == RET_CODE:
            answer = self._envelope_answer(fault.ret_code, fault.ret_msg, {}, now)
            decision = self._peek_limit(headers.get("x-bapi-api-key", ""), path)
            answer.headers.update(self._limit_headers(decision, now))
            answer.headers["X-Bapi-Limit-Reset-Timestamp"] = str(now + math.ceil(fault.retry_after_s * 1000))
            return answer
        if fault.kind == HTTP_429:
            answer = self._envelope_answer(ep.RET_RATE_LIMITED, MSG_RATE, {}, now, status=429)
            answer.headers["Retry-After"] = str(math.ceil(fault.retry_after_s))
            return answer
        status = fault.http_status or 500
        return _fault_page(status)

    def _answer_normally(self, method: str, path: str, raw_query: str, headers: Mapping[str, str], now: int) -> _Answer:
        if method != "GET":
            return self._envelope_answer(ep.RET_PERMISSION_DENIED, MSG_PERMISSION, {}, now)
        endpoint = ep.BY_PATH.get(path)
        if endpoint is None:
            return self._envelope_answer(ep.RET_PARAMS_ERROR, "Not found: unknown path", {}, now, status=404)
        params = parse_query(raw_query)
        if not endpoint.private:
            try:
                result = self._public(endpoint, params, now)
            except _ApiError as err:
                return self._envelope_answer(err.ret_code, err.ret_msg, {}, now)
            return self._envelope_answer(ep.RET_OK, MSG_OK, result, now)

        api_key = headers.get("x-bapi-api-key", "")
        auth_error = self._authenticate(api_key, raw_query, headers, now)
        if auth_error is not None:
            answer = self._envelope_answer(auth_error.ret_code, auth_error.ret_msg, {}, now)
            answer.headers.update(self._limit_headers(self._peek_limit(api_key, path), now))
            return answer
        decision = self.limiter.acquire((api_key, path))
        limit_headers = self._limit_headers(decision, now)
        if not decision.allowed:
            if self.config.rate_limit_mode == "429":
                answer = self._envelope_answer(ep.RET_RATE_LIMITED, MSG_RATE, {}, now, status=429)
                answer.headers["Retry-After"] = decision.retry_after_header
            else:
                answer = self._envelope_answer(ep.RET_RATE_LIMITED, MSG_RATE, {}, now)
            answer.headers.update(limit_headers)
            return answer
        try:
            result = self._private(endpoint, params, api_key, now)
            answer = self._envelope_answer(ep.RET_OK, MSG_OK, result, now)
        except _ApiError as err:
            answer = self._envelope_answer(err.ret_code, err.ret_msg, {}, now)
        answer.headers.update(limit_headers)
        return answer

    def _authenticate(self, api_key: str, raw_query: str, headers: Mapping[str, str], now: int) -> _ApiError | None:
        if not api_key or not hmac.compare_digest(api_key, self.config.api_key):
            return _ApiError(ep.RET_INVALID_API_KEY, MSG_INVALID_KEY)
        timestamp = headers.get("x-bapi-timestamp", "")
        recv_window_header = headers.get("x-bapi-recv-window", "")
        try:
            recv_window = int(recv_window_header) if recv_window_header else DEFAULT_RECV_WINDOW_MS
        except ValueError:
            return _params_error(f"params error: recv_window {recv_window_header!r} is invalid")
        if not 0 < recv_window <= self.config.recv_window_max_ms:
            return _params_error(f"params error: recv_window must be between 1 and {self.config.recv_window_max_ms}")
        try:
            ts = int(timestamp)
        except ValueError:
            ts = None
        if ts is None or not (now - recv_window <= ts < now + MAX_CLOCK_AHEAD_MS):
            return _ApiError(
                ep.RET_TIMESTAMP_OUT_OF_WINDOW,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{recv_window}]",
            )
        signature = headers.get("x-bapi-sign", "")
        if not signature or not verify_signature(
            api_secret=self.config.api_secret,
            timestamp_ms=timestamp,
            api_key=api_key,
            recv_window=recv_window_header,
            payload=raw_query,
            signature=signature,
        ):
            return _ApiError(ep.RET_SIGNATURE_ERROR, MSG_SIGN)
        return None

    def _peek_limit(self, api_key: str, path: str) -> RateDecision:
        if api_key and hmac.compare_digest(api_key, self.config.api_key):
            return self.limiter.peek((api_key, path))
        return RateDecision(True, self.limiter.limit, self.limiter.limit, 0.0)

    @staticmethod
    def _limit_headers(decision: RateDecision, now: int) -> dict[str, str]:
        return {
            "X-Bapi-Limit": str(decision.limit),
            "X-Bapi-Limit-Status": str(decision.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(decision.reset_timestamp_ms(now)),
        }

    @staticmethod
    def _envelope_answer(
        ret_code: int, ret_msg: str, result: Mapping[str, Any], now: int, status: int = 200
    ) -> _Answer:
        envelope = {"retCode": ret_code, "retMsg": ret_msg, "result": result, "retExtInfo": {}, "time": now}
        body = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
        return _Answer(status=status, body=body, headers={"Timenow": str(now)}, ret_code=ret_code)

    # ----------------------------------------------------------------- endpoints

    def _public(self, endpoint: ep.Endpoint, params: Mapping[str, str], now: int) -> dict[str, Any]:
        if endpoint is ep.SERVER_TIME:
            return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
        if endpoint is ep.MARK_PRICE_KLINE:
            return self._klines(endpoint, params, now, ("linear", "inverse"))
        if endpoint is ep.KLINE:
            return self._klines(endpoint, params, now, ("spot", "linear", "inverse"))
        raise _params_error(f"Not supported: {endpoint.path}")  # pragma: no cover - table is closed

    def _private(self, endpoint: ep.Endpoint, params: Mapping[str, str], api_key: str, now: int) -> dict[str, Any]:
        if endpoint is ep.EXECUTIONS:
            category = _category(params, ("spot", "linear", "inverse", "option"))
            filters = _filters(params, ("symbol", "execType", "orderId", "orderLinkId"))
            result = self._windowed(
                endpoint, params, api_key, now, lambda d: d.executions.get(category, ()), "execTime", filters
            )
            return {"category": category, **result}
        if endpoint is ep.ORDERS:
            category = _category(params, ("spot", "linear", "inverse", "option"))
            filters = _filters(params, ("symbol", "orderStatus", "orderId", "orderLinkId"))
            result = self._windowed(
                endpoint, params, api_key, now, lambda d: d.orders.get(category, ()), "createdTime", filters
            )
            return {"category": category, **result}
        if endpoint is ep.CLOSED_PNL:
            category = _category(params, ("linear", "inverse"))
            filters = _filters(params, ("symbol",))
            result = self._windowed(
                endpoint,
                params,
                api_key,
                now,
                lambda day: day.closed_pnl if category == "linear" else (),
                "createdTime",
                filters,
            )
            return {"category": category, **result}
        if endpoint is ep.TRANSACTIONS:
            _account_type(params, required=False)
            tx_category = params.get("category")
            if tx_category is not None and tx_category not in ("spot", "linear", "inverse", "option"):
                raise _params_error("Illegal category")
            filters = _filters(params, ("category", "currency", "type", "transSubType"))
            return self._windowed(
                endpoint, params, api_key, now, lambda day: day.transactions, "transactionTime", filters
            )
        if endpoint is ep.POSITIONS:
            return self._positions(params, api_key, now)
        if endpoint is ep.WALLET_BALANCE:
            return self._wallet(params, now)
        if endpoint is ep.QUERY_API:
            return self._query_api(api_key)
        raise _params_error(f"Not supported: {endpoint.path}")  # pragma: no cover - table is closed

    def _day(self, day: date) -> DaySource:
        with self._days_lock:
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
        data = self.account.day(day)  # pure in (seed, day): computing it twice is harmless
        with self._days_lock:
            self._days[day] = data
            while len(self._days) > 256:
                self._days.popitem(last=False)
        return data

    def _windowed(
        self,
        endpoint: ep.Endpoint,
        params: Mapping[str, str],
        api_key: str,
        now: int,
        rows_of: Callable[[DaySource], Sequence[Row]],
        time_field: str,
        filters: Mapping[str, Callable[[Row], bool]],
    ) -> dict[str, Any]:
        limit = _limit(endpoint, params)
        start, end = _window(params, now)
        cursor_key = self._read_cursor(endpoint.path, api_key, params)
        visible_end = min(end, now)
        keyed: list[tuple[SortKey, Row]] = []
        if start <= visible_end:
            for day in _days_between(start, visible_end):
                ordinal = day.toordinal()
                for index, row in enumerate(rows_of(self._day(day))):
                    ts = int(row[time_field])
                    if start <= ts <= visible_end and all(check(row) for check in filters.values()):
                        keyed.append(((ts, ordinal, index), row))
        page, next_key = _page(keyed, limit, cursor_key)
        return {"list": page, "nextPageCursor": self._make_cursor(endpoint.path, api_key, params, next_key)}

    def _positions(self, params: Mapping[str, str], api_key: str, now: int) -> dict[str, Any]:
        endpoint = ep.POSITIONS
        category = _category(params, ("linear", "inverse", "option"))
        symbol = params.get("symbol")
        settle_coin = params.get("settleCoin")
        base_coin = params.get("baseCoin")
        if category in ("linear", "inverse") and not symbol and not settle_coin:
            raise _params_error("Missing some parameters that must be filled in, symbol or settleCoin")
        limit = _limit(endpoint, params)
        cursor_key = self._read_cursor(endpoint.path, api_key, params)
        rows = list(self.account.positions_at(category, now))
        keyed: list[tuple[SortKey, Row]] = []
        for index, row in enumerate(rows):
            row_symbol = str(row.get("symbol", ""))
            if symbol and row_symbol != symbol:
                continue
            if settle_coin and not symbol:
                if not row_symbol.endswith(settle_coin):
                    continue
                if str(row.get("size", "0")) in ("0", "", "0.0"):
                    continue  # Bybit: by settleCoin only positions with a size are returned
            if base_coin and not row_symbol.startswith(base_coin):
                continue
            keyed.append(((0, 0, len(rows) - index), row))  # simulator order, first row first
        page, next_key = _page(keyed, limit, cursor_key)
        return {
            "category": category,
            "list": page,
            "nextPageCursor": self._make_cursor(endpoint.path, api_key, params, next_key),
        }

    def _wallet(self, params: Mapping[str, str], now: int) -> dict[str, Any]:
        _account_type(params, required=True)
        item = dict(self.account.wallet_balance_at(now))
        coins = params.get("coin")
        if coins:
            wanted = {c.strip() for c in coins.split(",") if c.strip()}
            item["coin"] = [c for c in item.get("coin", []) if c.get("coin") in wanted]
        return {"list": [item]}

    def _query_api(self, api_key: str) -> dict[str, Any]:
        read_only = self.config.read_only_key
        return {
            "id": "1",
            "note": "hean sandbox",
            "apiKey": api_key,
            "readOnly": 1 if read_only else 0,
            "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"],
                "Spot": ["SpotTrade"],
                "Wallet": ["AccountTransfer"] if not read_only else [],
                "Options": ["OptionsTrade"],
                "Derivatives": ["DerivativesTrade"],
                "CopyTrading": [],
                "BlockTrade": [],
                "Exchange": [],
                "NFT": [],
                "Affiliate": [],
            },
            "ips": ["127.0.0.1"],
            "type": 1,
            "deadlineDay": -1,
            "expiredAt": "",
            "createdAt": "2025-01-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": 100000001,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": "",
        }

    def _klines(
        self, endpoint: ep.Endpoint, params: Mapping[str, str], now: int, categories: tuple[str, ...]
    ) -> dict[str, Any]:
        category = params.get("category") or "linear"
        if category not in categories:
            raise _params_error("Illegal category")
        symbol = params.get("symbol")
        if not symbol:
            raise _params_error("params error: symbol is required")
        interval = params.get("interval")
        if interval not in SUPPORTED_KLINE_INTERVALS:
            raise _params_error(f"params error: interval {interval!r} is not supported (sandbox: 60)")
        interval_ms = SUPPORTED_KLINE_INTERVALS[interval]
        limit = _limit(endpoint, params)
        start = _int_param(params, "start")
        end = _int_param(params, "end")
        if start is not None and end is not None and start > end:
            raise _params_error("params error: start must be less than or equal to end")
        upper = min(end if end is not None else now, now)
        # The newest `limit` bars at or before `upper` (and at or after `start`): Bybit's selection.
        lower = upper - limit * interval_ms
        if start is not None:
            lower = max(lower, start)
        bars: list[list[str]] = []
        if lower <= upper:
            for day in _days_between(lower, upper):
                data = self._day(day)
                if endpoint is ep.MARK_PRICE_KLINE:
                    source = data.mark_klines.get(symbol, ())
                    bars.extend([list(bar[:5]) for bar in source])
                elif category == "spot":
                    bars.extend([list(bar[:7]) for bar in data.spot_klines.get(symbol, ())])
                else:
                    bars.extend([[*list(bar[:5]), "0", "0"] for bar in data.mark_klines.get(symbol, ())])
        bars = [bar for bar in bars if lower <= int(bar[0]) <= upper]
        bars.sort(key=lambda bar: int(bar[0]), reverse=True)
        return {"symbol": symbol, "category": category, "list": bars[:limit]}

    # ----------------------------------------------------------------- cursors

    def _cursor_mac(self, path: str, api_key: str, params: Mapping[str, str], key: SortKey) -> str:
        binding = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("cursor", "limit"))
        message = f"{path}\n{api_key}\n{binding}\n{key[0]}:{key[1]}:{key[2]}".encode()
        return hmac.new(self._cursor_key, message, hashlib.sha256).hexdigest()[:20]

    def _make_cursor(self, path: str, api_key: str, params: Mapping[str, str], key: SortKey | None) -> str:
        if key is None:
            return ""
        raw = f"{key[0]}:{key[1]}:{key[2]},{self._cursor_mac(path, api_key, params, key)}"
        return quote(raw, safe="")

    def _read_cursor(self, path: str, api_key: str, params: Mapping[str, str]) -> SortKey | None:
        cursor = params.get("cursor")
        if not cursor:
            return None
        invalid = _params_error("params error: cursor is invalid")
        position, sep, mac = cursor.partition(",")
        parts = position.split(":")
        if not sep or len(parts) != 3:
            raise invalid
        try:
            key: SortKey = (int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            raise invalid from None
        if not hmac.compare_digest(mac, self._cursor_mac(path, api_key, params, key)):
            raise invalid
        return key


# --------------------------------------------------------------------- parameter helpers


def _category(params: Mapping[str, str], allowed: tuple[str, ...]) -> str:
    category = params.get("category")
    if not category or category not in allowed:
        raise _params_error("Illegal category")
    return category


def _account_type(params: Mapping[str, str], *, required: bool) -> None:
    account_type = params.get("accountType")
    if account_type is None and not required:
        return
    if account_type != "UNIFIED":
        raise _params_error("accountType only support UNIFIED.")


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _params_error(f"params error: {name} must be an integer") from None


def _limit(endpoint: ep.Endpoint, params: Mapping[str, str]) -> int:
    maximum = endpoint.max_limit or 1
    limit = _int_param(params, "limit")
    if limit is None:
        return DEFAULT_LIMITS.get(endpoint.path, maximum)
    if not 1 <= limit <= maximum:
        raise _params_error(f"params error: limit must be between 1 and {maximum}")
    return limit


def _window(params: Mapping[str, str], now: int) -> tuple[int, int]:
    start = _int_param(params, "startTime")
    end = _int_param(params, "endTime")
    if start is None and end is None:
        return now - WINDOW_MS, now
    if start is None:
        assert end is not None
        return end - WINDOW_MS, end
    if end is None:
        return start, start + WINDOW_MS
    if start > end:
        raise _params_error("params error: startTime must be less than or equal to endTime")
    if end - start > WINDOW_MS:
        raise _params_error("params error: the time range between startTime and endTime cannot exceed 7 days")
    return start, end


def _field_equals(name: str, wanted: str) -> Callable[[Row], bool]:
    return lambda row: str(row.get(name, "")) == wanted


def _symbol_starts_with(prefix: str) -> Callable[[Row], bool]:
    return lambda row: str(row.get("symbol", "")).startswith(prefix)


def _filters(params: Mapping[str, str], names: Iterable[str]) -> dict[str, Callable[[Row], bool]]:
    """Exact-match filters for the named parameters that are present, plus ``baseCoin``."""
    checks: dict[str, Callable[[Row], bool]] = {}
    for name in names:
        wanted = params.get(name)
        if wanted:
            checks[name] = _field_equals(name, wanted)
    base_coin = params.get("baseCoin")
    if base_coin:
        checks["baseCoin"] = _symbol_starts_with(base_coin)
    return checks


def _page(keyed: list[tuple[SortKey, Row]], limit: int, after: SortKey | None) -> tuple[list[Row], SortKey | None]:
    keyed.sort(key=lambda item: item[0], reverse=True)
    if after is not None:
        keyed = [item for item in keyed if item[0] < after]
    page = keyed[:limit]
    next_key = page[-1][0] if len(keyed) > limit else None
    return [row for _, row in page], next_key


def _fault_page(status: int) -> _Answer:
    if status == 403:
        text = "403 Forbidden: access denied (IP rate limit breached or region blocked)\n"
        return _Answer(status=403, body=text.encode(), content_type="text/plain; charset=utf-8")
    if status == 401:
        return _Answer(status=401, body=b"401 Unauthorized\n", content_type="text/plain; charset=utf-8")
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}.get(
        status, "Error"
    )
    html = (
        f"<html><head><title>{status} {reason}</title></head>"
        f"<body><center><h1>{status} {reason}</h1></center></body></html>\n"
    )
    return _Answer(status=status, body=html.encode(), content_type="text/html")


# --------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops SYNs under a burst: a 1 s retransmit stall

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            logger.debug("sandbox: client %s went away: %r", client_address, error)
        else:
            logger.exception("sandbox: error serving %s", client_address)

    def close_connections(self) -> None:
        """End kept-alive connections so no handler thread serves after ``stop()``."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hean-sandbox/1"
    timeout = 30  # idle kept-alive connections end
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)
        server = self.server
        assert isinstance(server, _HTTPServer)
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = server.sandbox.answer(method, self.path, headers)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: :meth:`SandboxServer.answer` logs one DEBUG line per request."""


def serve_forever(
    account: AccountSource,
    config: SandboxConfig | None = None,
    faults: FaultPlan | str | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (for ``hean sandbox``); prints the URL once listening."""
    config = config or SandboxConfig(port=DEFAULT_PORT)
    server = SandboxServer(account, config)
    if isinstance(faults, str):
        server.faults.extend(faults)
    elif faults is not None:
        server.faults = faults
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        url = server.start()
        print(f"hean sandbox exchange: {url} (api key {config.api_key})", flush=True)
        if server.faults.remaining():
            print(f"fault plan: {server.faults.spec()}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("hean sandbox exchange stopped", flush=True)
