"""A GET-only Bybit v5 REST client (requests + urllib3), with no Dagster in sight.

Failure policy, in one place:
- HTTP 429/5xx and timeouts: urllib3 ``Retry`` on the session, exponential backoff honouring
  ``Retry-After``.
- retCode 10006 (HTTP 200): wait until ``X-Bapi-Limit-Reset-Timestamp`` (now + 2 s if absent), a
  small bounded loop.
- retCode 10002: re-sync the clock with ``/v5/market/time`` once, then re-sign.
- HTTP 401 and the auth retCodes: raise after exactly one request. HTTP 403: raise at once.
- Any other non-zero retCode: ``BybitApiError`` with code and message.
Every HTTP exchange is recorded (endpoint, status, retCode, latency, retries) for ``raw.api_requests``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hean_pipelines.bybit import endpoints as ep
from hean_pipelines.bybit.errors import (
    BybitApiError,
    BybitAuthError,
    BybitForbiddenError,
    BybitRateLimitError,
    BybitResponseError,
    BybitTransportError,
    NotReadOnlyKeyError,
    RepeatedCursorError,
)
from hean_pipelines.bybit.signing import DEFAULT_RECV_WINDOW, build_query_string, sign_request

log = logging.getLogger(__name__)

MAINNET_URL = "https://api.bybit.com"
TESTNET_URL = "https://api-testnet.bybit.com"
MAX_PAGES = 100_000


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before giving up (all bounded)."""

    transport_retries: int = 5
    backoff_factor: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 10.0
    rate_limit_waits: int = 5
    rate_limit_default_wait_s: float = 2.0
    rate_limit_max_wait_s: float = 30.0


@dataclass
class ApiRequestRecord:
    """One HTTP exchange, as logged to ``raw.api_requests``."""

    request_id: str
    ts: datetime
    endpoint: str
    method: str
    status: int | None
    ret_code: int | None
    ret_msg: str
    latency_seconds: float
    retries: int
    rows: int = 0

    def as_row(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "ts": self.ts,
            "endpoint": self.endpoint,
            "method": self.method,
            "status": self.status,
            "ret_code": self.ret_code,
            "ret_msg": self.ret_msg,
            "latency_seconds": self.latency_seconds,
            "retries": self.retries,
            "rows": self.rows,
        }


@dataclass
class FetchStats:
    """What a fetch cost: pages, requests and transport retries."""

    pages: int = 0
    requests: int = 0
    retries: int = 0


def _build_session(policy: RetryPolicy) -> requests.Session:
    retry = Retry(
        total=policy.transport_retries,
        connect=policy.transport_retries,
        read=policy.transport_retries,
        status=policy.transport_retries,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max_s,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "hean-pipelines/0.1 (read-only)"
    return session


@dataclass
class BybitClient:
    """Read-only access to one Bybit account. Construct one per run; it is not shared across processes."""

    base_url: str
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    recv_window: int = DEFAULT_RECV_WINDOW
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000), repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._session = _build_session(self.policy)
        self._offset_ms = 0
        self._lock = threading.Lock()
        self.records: list[ApiRequestRecord] = []
        self.stats = FetchStats()

    # -- transport -----------------------------------------------------------------------------

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> BybitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now_ms(self) -> int:
        return self.clock_ms() + self._offset_ms

    def _send_once(self, endpoint: ep.Endpoint, params: Mapping[str, Any]) -> tuple[requests.Response, int]:
        """One signed GET (the query string is built once, signed, and sent as built)."""
        if endpoint.private:
            if not self.api_key or not self.api_secret:
                raise BybitAuthError(f"{endpoint.path} needs an API key: set BYBIT_API_KEY and BYBIT_API_SECRET")
            signed = sign_request(
                "GET",
                params,
                api_key=self.api_key,
                api_secret=self.api_secret,
                timestamp_ms=self._now_ms(),
                recv_window=self.recv_window,
            )
            query, headers = signed.payload, signed.headers
        else:
            query, headers = build_query_string(params), {}
        url = f"{self.base_url}{endpoint.path}" + (f"?{query}" if query else "")
        started = time.monotonic()
        record = ApiRequestRecord(
            request_id=str(uuid.uuid4()),
            ts=datetime.now(UTC),
            endpoint=endpoint.path,
            method="GET",
            status=None,
            ret_code=None,
            ret_msg="",
            latency_seconds=0.0,
            retries=0,
        )
        with self._lock:
            self.records.append(record)
            self.stats.requests += 1
        try:
            response = self._session.get(url, headers=headers, timeout=self.policy.timeout_s)
        except requests.exceptions.RetryError as exc:
            record.latency_seconds = time.monotonic() - started
            record.ret_msg = "retries exhausted"
            raise BybitTransportError(f"{endpoint.path}: retries exhausted ({exc})") from exc
        except requests.exceptions.RequestException as exc:
            record.latency_seconds = time.monotonic() - started
            record.ret_msg = type(exc).__name__
            raise BybitTransportError(
                f"{endpoint.path}: {type(exc).__name__} after {self.policy.transport_retries} retries"
            ) from exc
        record.latency_seconds = time.monotonic() - started
        record.status = response.status_code
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        record.retries = len(history)
        with self._lock:
            self.stats.retries += record.retries
        return response, len(self.records) - 1

    def _get(self, endpoint: ep.Endpoint, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET ``endpoint`` and return its ``result``, applying the failure policy above."""
        rate_limit_waits = 0
        clock_resynced = False
        while True:
            response, index = self._send_once(endpoint, params)
            record = self.records[index]
            status = response.status_code
            if status == 401:
                raise BybitAuthError(f"{endpoint.path}: HTTP 401 unauthorized -- check BYBIT_API_KEY/SECRET")
            if status == 403:
                raise BybitForbiddenError(
                    f"{endpoint.path}: HTTP 403 -- Bybit blocked this IP or region (rate-limit ban or "
                    "geo block). Not retried: wait at least 10 minutes before trying again."
                )
            if status in (429, 500, 502, 503, 504):
                raise BybitTransportError(f"{endpoint.path}: HTTP {status} persisted after {record.retries} retries")
            try:
                envelope = response.json()
            except (json.JSONDecodeError, ValueError) as exc:
                record.ret_msg = "invalid JSON"
                raise BybitResponseError(
                    f"{endpoint.path}: HTTP {status} with a body that is not valid JSON "
                    f"({len(response.content)} bytes; truncated?)"
                ) from exc
            if not isinstance(envelope, dict) or "retCode" not in envelope:
                raise BybitResponseError(f"{endpoint.path}: HTTP {status} answer is not a Bybit v5 envelope")
            ret_code = int(envelope["retCode"])
            ret_msg = str(envelope.get("retMsg", ""))
            record.ret_code, record.ret_msg = ret_code, ret_msg
            if status != 200 and ret_code == ep.RET_OK:
                raise BybitResponseError(f"{endpoint.path}: unexpected HTTP {status}")
            if ret_code == ep.RET_OK:
                result = envelope.get("result")
                if not isinstance(result, dict):
                    raise BybitResponseError(f"{endpoint.path}: envelope has no result object")
                rows = result.get("list")
                record.rows = len(rows) if isinstance(rows, list) else 0
                return result
            if ret_code in ep.AUTH_RET_CODES:
                raise BybitAuthError(f"{endpoint.path}: retCode {ret_code} ({ret_msg}); not retried")
            if ret_code == ep.RET_RATE_LIMITED:
                rate_limit_waits += 1
                if rate_limit_waits > self.policy.rate_limit_waits:
                    raise BybitRateLimitError(
                        f"{endpoint.path}: still rate limited (retCode 10006) after "
                        f"{self.policy.rate_limit_waits} waits"
                    )
                self.sleep(self._rate_limit_wait_s(response))
                continue
            if ret_code == ep.RET_TIMESTAMP_OUT_OF_WINDOW and not clock_resynced:
                clock_resynced = True
                self.resync_clock()
                continue
            raise BybitApiError(endpoint.path, ret_code, ret_msg)

    def _rate_limit_wait_s(self, response: requests.Response) -> float:
        reset = response.headers.get("X-Bapi-Limit-Reset-Timestamp")
        if reset:
            try:
                wait = (int(reset) - self.clock_ms()) / 1000.0
            except ValueError:
                wait = self.policy.rate_limit_default_wait_s
        else:
            wait = self.policy.rate_limit_default_wait_s
        return min(max(wait, 0.0), self.policy.rate_limit_max_wait_s)

    def server_time_ms(self) -> int:
        """Bybit's clock now (``/v5/market/time``), in ms."""
        result = self._get(ep.SERVER_TIME, {})
        return int(result["timeNano"]) // 1_000_000 if "timeNano" in result else int(result["timeSecond"]) * 1000

    def resync_clock(self) -> int:
        """Set the offset between our clock and Bybit's from ``/v5/market/time``; returns it (ms)."""
        before = self.clock_ms()
        server_ms = self.server_time_ms()
        after = self.clock_ms()
        self._offset_ms = server_ms - (before + after) // 2
        log.info("Bybit clock offset re-synced: %d ms", self._offset_ms)
        return self._offset_ms

    # -- pagination and windows ----------------------------------------------------------------

    def paginate(self, endpoint: ep.Endpoint, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield each page's ``result`` following ``nextPageCursor`` to the end."""
        query: dict[str, Any] = dict(params)
        if endpoint.max_limit is not None:
            query["limit"] = endpoint.max_limit
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            result = self._get(endpoint, query)
            with self._lock:
                self.stats.pages += 1
            yield result
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or not endpoint.cursor_paginated:
                return
            if cursor in seen:
                raise RepeatedCursorError(
                    f"{endpoint.path}: cursor {cursor!r} came back twice; stopping instead of looping"
                )
            seen.add(cursor)
            query["cursor"] = cursor  # sent back exactly as received (percent-encoded)
        raise RepeatedCursorError(f"{endpoint.path}: more than {MAX_PAGES} pages; giving up")

    def fetch_window(
        self, endpoint: ep.Endpoint, params: Mapping[str, Any], start_ms: int, end_ms: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every item with time in [start_ms, end_ms), in windows no longer than Bybit allows.

        Returns the items and the first page's result (for ``category`` and similar fields).
        """
        window_ms = int(endpoint.max_window.total_seconds() * 1000) if endpoint.max_window else end_ms - start_ms
        items: list[dict[str, Any]] = []
        first: dict[str, Any] = {}
        start_key, end_key = endpoint.time_params
        chunk_start = start_ms
        while chunk_start < end_ms:
            chunk_end = min(chunk_start + window_ms, end_ms)
            # Bybit's endTime is inclusive: stop 1 ms short so windows never overlap.
            query = {**params, start_key: chunk_start, end_key: chunk_end - 1}
            for result in self.paginate(endpoint, query):
                first = first or result
                items.extend(result.get("list") or [])
            chunk_start = chunk_end
        return items, first

    # -- endpoints -----------------------------------------------------------------------------

    def executions(self, category: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """``/v5/execution/list``: every execType (trades, funding, ADL, liquidations)."""
        return self.fetch_window(ep.EXECUTIONS, {"category": category}, start_ms, end_ms)[0]

    def transaction_log(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """``/v5/account/transaction-log`` of the unified account, every category and type."""
        return self.fetch_window(ep.TRANSACTIONS, {"accountType": "UNIFIED"}, start_ms, end_ms)[0]

    def order_history(self, category: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """``/v5/order/history``: filled, cancelled and rejected orders."""
        return self.fetch_window(ep.ORDERS, {"category": category}, start_ms, end_ms)[0]

    def closed_pnl(self, start_ms: int, end_ms: int, category: str = "linear") -> list[dict[str, Any]]:
        """``/v5/position/closed-pnl``: one record per closing order."""
        return self.fetch_window(ep.CLOSED_PNL, {"category": category}, start_ms, end_ms)[0]

    def positions(self, category: str = "linear", settle_coin: str = "USDT") -> list[dict[str, Any]]:
        """``/v5/position/list``: the account's open positions now."""
        items: list[dict[str, Any]] = []
        for result in self.paginate(ep.POSITIONS, {"category": category, "settleCoin": settle_coin}):
            items.extend(result.get("list") or [])
        return items

    def wallet_balance(self, account_type: str = "UNIFIED") -> list[dict[str, Any]]:
        """``/v5/account/wallet-balance``: balances per coin now."""
        return list(self._get(ep.WALLET_BALANCE, {"accountType": account_type}).get("list") or [])

    def _klines(self, endpoint: ep.Endpoint, category: str, symbol: str, start_ms: int, end_ms: int) -> list[list[str]]:
        bar_ms = int(ep.KLINE_INTERVAL_HOURLY) * 60_000
        limit = endpoint.max_limit or 1000
        bars: dict[int, list[str]] = {}
        chunk_start = start_ms
        while chunk_start < end_ms:
            chunk_end = min(chunk_start + limit * bar_ms, end_ms)
            result = self._get(
                endpoint,
                {
                    "category": category,
                    "symbol": symbol,
                    "interval": ep.KLINE_INTERVAL_HOURLY,
                    "start": chunk_start,
                    "end": chunk_end - 1,
                    "limit": limit,
                },
            )
            with self._lock:
                self.stats.pages += 1
            for bar in result.get("list") or []:
                if start_ms <= int(bar[0]) < end_ms:
                    bars[int(bar[0])] = list(bar)
            chunk_start = chunk_end
        return [bars[ts] for ts in sorted(bars)]

    def mark_price_klines(self, symbol: str, start_ms: int, end_ms: int) -> list[list[str]]:
        """Hourly mark-price bars of a linear contract, oldest first."""
        return self._klines(ep.MARK_PRICE_KLINE, "linear", symbol, start_ms, end_ms)

    def spot_klines(self, symbol: str, start_ms: int, end_ms: int) -> list[list[str]]:
        """Hourly spot bars (the spot 'mark'), oldest first."""
        return self._klines(ep.KLINE, "spot", symbol, start_ms, end_ms)

    def query_api(self) -> dict[str, Any]:
        """``/v5/user/query-api``: what this key may do."""
        return self._get(ep.QUERY_API, {})

    def assert_read_only(self) -> None:
        """Refuse a key that can trade or withdraw (``readOnly`` must be 1)."""
        info = self.query_api()
        if int(info.get("readOnly", 0)) != 1:
            raise NotReadOnlyKeyError(
                "this API key is not read-only (query-api readOnly != 1); create a read-only key: "
                "hean-pipelines never places orders and refuses keys that could"
            )

    def drain_records(self) -> list[dict[str, Any]]:
        """The request log so far, as rows for ``raw.api_requests`` (and forget it)."""
        with self._lock:
            rows = [record.as_row() for record in self.records]
            self.records = []
        return rows
