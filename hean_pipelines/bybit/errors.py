"""Named errors of the Bybit client: each says what happened and what to do about it."""

from __future__ import annotations


class BybitError(RuntimeError):
    """Base class: anything that stops a Bybit read."""


class BybitAuthError(BybitError):
    """The key, the signature or the permissions were refused. Never retried."""


class BybitForbiddenError(BybitError):
    """HTTP 403: Bybit's IP ban or region block. Retrying makes it worse; wait before trying again."""


class BybitRateLimitError(BybitError):
    """retCode 10006 persisted after the bounded wait loop."""


class BybitApiError(BybitError):
    """A non-zero retCode that has no special handling."""

    def __init__(self, endpoint: str, ret_code: int, ret_msg: str) -> None:
        super().__init__(f"Bybit {endpoint} answered retCode {ret_code}: {ret_msg}")
        self.endpoint = endpoint
        self.ret_code = ret_code
        self.ret_msg = ret_msg


class BybitResponseError(BybitError):
    """The answer is not a Bybit v5 JSON envelope (e.g. truncated JSON)."""


class BybitTransportError(BybitError):
    """HTTP 429/5xx or timeouts persisted after the transport retries."""


class RepeatedCursorError(BybitError):
    """A pagination cursor came back twice: following it would loop forever."""


class NotReadOnlyKeyError(BybitAuthError):
    """The API key can trade or withdraw; this system only accepts read-only keys."""
