"""A token-bucket rate limiter, one bucket per key (the sandbox uses ``(api key, endpoint path)``).

A bucket holds at most ``capacity`` tokens (default: one second's worth, at least 1) and refills at
``rate_per_second``. A request takes one token; with none left it is refused and told how long until
the next token, which the server turns into Bybit's ``X-Bapi-Limit-Reset-Timestamp`` (or a
``Retry-After``). A rate of 0 disables limiting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

UNLIMITED_HEADER_VALUE = 1_000_000
"""What ``X-Bapi-Limit`` / ``X-Bapi-Limit-Status`` say when limiting is disabled."""


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one acquire (or peek)."""

    allowed: bool
    limit: int
    """Bucket capacity: ``X-Bapi-Limit``."""
    remaining: int
    """Whole tokens left after this request: ``X-Bapi-Limit-Status``."""
    wait_s: float
    """Seconds until a token is available (0 when one is available now)."""

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` is whole seconds; never 0 for a refused request."""
        if self.allowed:
            return "0"
        return str(max(1, math.ceil(self.wait_s)))

    def reset_timestamp_ms(self, now_ms: int) -> int:
        """Bybit's ``X-Bapi-Limit-Reset-Timestamp``: now, or when the next token arrives if none is left."""
        if self.wait_s <= 0:
            return now_ms
        return now_ms + max(1, math.ceil(self.wait_s * 1000))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Thread-safe token buckets keyed by any hashable."""

    def __init__(
        self,
        rate_per_second: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second < 0:
            raise ValueError("rate_per_second must be >= 0")
        self.rate = float(rate_per_second)
        self.capacity = float(capacity) if capacity is not None else max(1.0, self.rate)
        if self.enabled and self.capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[Hashable, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def limit(self) -> int:
        return int(self.capacity) if self.enabled else UNLIMITED_HEADER_VALUE

    def _refill(self, key: Hashable, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=self.capacity, updated=now)
            self._buckets[key] = bucket
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        return bucket

    def acquire(self, key: Hashable) -> RateDecision:
        """Take one token for ``key`` if there is one."""
        if not self.enabled:
            return RateDecision(True, UNLIMITED_HEADER_VALUE, UNLIMITED_HEADER_VALUE, 0.0)
        with self._lock:
            bucket = self._refill(key, self._clock())
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return RateDecision(True, self.limit, int(bucket.tokens), 0.0)
            wait = (1.0 - bucket.tokens) / self.rate
            return RateDecision(False, self.limit, 0, wait)

    def peek(self, key: Hashable) -> RateDecision:
        """The state of ``key``'s bucket without taking a token."""
        if not self.enabled:
            return RateDecision(True, UNLIMITED_HEADER_VALUE, UNLIMITED_HEADER_VALUE, 0.0)
        with self._lock:
            bucket = self._refill(key, self._clock())
            if bucket.tokens >= 1.0:
                return RateDecision(True, self.limit, int(bucket.tokens), 0.0)
            return RateDecision(True, self.limit, 0, (1.0 - bucket.tokens) / self.rate)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
