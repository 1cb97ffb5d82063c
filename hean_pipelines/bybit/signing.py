"""Bybit v5 request signing (HMAC-SHA256), as a pure function.

The payload is built once and the exact same bytes are signed and sent: for a GET the query string
(keys sorted, ``None`` dropped, values written as given, so a percent-encoded ``cursor`` goes back
unchanged); for a POST the JSON body. This matches Bybit's official SDK (pybit) byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_RECV_WINDOW = 5000

# pybit sends these as JSON strings / ints whatever type the caller used; we follow it so the
# body we sign is the body Bybit expects.
_STRING_BODY_PARAMS = frozenset({"qty", "price", "triggerPrice", "takeProfit", "stopLoss"})
_INTEGER_BODY_PARAMS = frozenset({"positionIdx"})


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_query_string(params: Mapping[str, Any]) -> str:
    """The GET payload: ``k=v`` pairs sorted by key, ``None`` values dropped, nothing re-encoded."""
    return "&".join(f"{key}={_format_value(value)}" for key, value in sorted(params.items()) if value is not None)


def build_json_body(params: Mapping[str, Any]) -> str:
    """The POST payload, as pybit serializes it (insertion order, default separators)."""
    body: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if key in _STRING_BODY_PARAMS:
            value = str(value)
        elif key in _INTEGER_BODY_PARAMS:
            value = int(value)
        body[key] = value
    return json.dumps(body)


def build_payload(method: str, params: Mapping[str, Any]) -> str:
    """The exact string that is both signed and sent for ``method``."""
    if method.upper() == "GET":
        return build_query_string(params)
    return build_json_body(params)


def sign(api_secret: str, timestamp_ms: int | str, api_key: str, recv_window: int | str, payload: str) -> str:
    """``X-BAPI-SIGN``: hex HMAC-SHA256 of ``timestamp + api_key + recv_window + payload``."""
    message = f"{timestamp_ms}{api_key}{recv_window}{payload}"
    return hmac.new(api_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    """A payload and the headers that authenticate it."""

    payload: str
    headers: dict[str, str]


def sign_request(
    method: str,
    params: Mapping[str, Any],
    *,
    api_key: str,
    api_secret: str,
    timestamp_ms: int,
    recv_window: int = DEFAULT_RECV_WINDOW,
) -> SignedRequest:
    """Build the payload once and the ``X-BAPI-*`` headers that sign it."""
    payload = build_payload(method, params)
    signature = sign(api_secret, timestamp_ms, api_key, recv_window, payload)
    headers = {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-SIGN": signature,
        "X-BAPI-SIGN-TYPE": "2",
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window),
    }
    return SignedRequest(payload=payload, headers=headers)


def verify_signature(
    *, api_secret: str, timestamp_ms: str, api_key: str, recv_window: str, payload: str, signature: str
) -> bool:
    """Constant-time check of a received ``X-BAPI-SIGN`` (used by the sandbox exchange)."""
    expected = sign(api_secret, timestamp_ms, api_key, recv_window, payload)
    return hmac.compare_digest(expected, signature)
