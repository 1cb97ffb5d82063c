"""The Bybit v5 endpoints this project reads, and their limits.

One table shared by the client (what to send), the sandbox exchange (what to enforce) and the raw
store (what a saved response is). Limits are Bybit's documented maxima.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Endpoint:
    """One GET endpoint of Bybit's v5 REST API."""

    name: str
    path: str
    max_limit: int | None
    """Largest ``limit`` Bybit accepts (we always ask for it); ``None`` when there is no ``limit``."""
    max_window: timedelta | None
    """Longest ``startTime``..``endTime`` span Bybit accepts; ``None`` when unbounded."""
    cursor_paginated: bool
    private: bool
    time_params: tuple[str, str] = ("startTime", "endTime")


MAX_PRIVATE_WINDOW = timedelta(days=7)

EXECUTIONS = Endpoint("executions", "/v5/execution/list", 100, MAX_PRIVATE_WINDOW, True, True)
TRANSACTIONS = Endpoint("transactions", "/v5/account/transaction-log", 50, MAX_PRIVATE_WINDOW, True, True)
ORDERS = Endpoint("orders", "/v5/order/history", 50, MAX_PRIVATE_WINDOW, True, True)
CLOSED_PNL = Endpoint("closed_pnl", "/v5/position/closed-pnl", 100, MAX_PRIVATE_WINDOW, True, True)
POSITIONS = Endpoint("positions", "/v5/position/list", 200, None, True, True)
WALLET_BALANCE = Endpoint("wallet_balance", "/v5/account/wallet-balance", None, None, False, True)
QUERY_API = Endpoint("query_api", "/v5/user/query-api", None, None, False, True)
MARK_PRICE_KLINE = Endpoint(
    "mark_price_kline", "/v5/market/mark-price-kline", 1000, None, False, False, ("start", "end")
)
KLINE = Endpoint("kline", "/v5/market/kline", 1000, None, False, False, ("start", "end"))
SERVER_TIME = Endpoint("server_time", "/v5/market/time", None, None, False, False)

ALL_ENDPOINTS: tuple[Endpoint, ...] = (
    EXECUTIONS,
    TRANSACTIONS,
    ORDERS,
    CLOSED_PNL,
    POSITIONS,
    WALLET_BALANCE,
    QUERY_API,
    MARK_PRICE_KLINE,
    KLINE,
    SERVER_TIME,
)
BY_PATH: dict[str, Endpoint] = {endpoint.path: endpoint for endpoint in ALL_ENDPOINTS}

# Hourly bars: the pipeline marks positions and measures volatility from hourly closes.
KLINE_INTERVAL_HOURLY = "60"

# retCodes with a fixed meaning for the client (Bybit v5 error-code table).
RET_OK = 0
RET_TIMESTAMP_OUT_OF_WINDOW = 10002
RET_INVALID_API_KEY = 10003
RET_SIGNATURE_ERROR = 10004
RET_PERMISSION_DENIED = 10005
RET_RATE_LIMITED = 10006
RET_USER_AUTH_FAILED = 10007
RET_IP_BANNED = 10009
RET_IP_NOT_WHITELISTED = 10010
RET_API_KEY_EXPIRED = 33004
AUTH_RET_CODES = frozenset(
    {
        RET_INVALID_API_KEY,
        RET_SIGNATURE_ERROR,
        RET_PERMISSION_DENIED,
        RET_USER_AUTH_FAILED,
        RET_IP_BANNED,
        RET_IP_NOT_WHITELISTED,
        RET_API_KEY_EXPIRED,
    }
)
RET_PARAMS_ERROR = 10001
