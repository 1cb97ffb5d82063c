"""Deterministic identifiers shaped like Bybit's: UUID order/exec ids, cross sequences, log-row ids.

Ids are hashes of (seed, day, kind, counter), never of ``hash()`` or a clock, so the same simulated row
carries the same id on every machine and does not change when the account's start date moves.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date

from hean_pipelines.bybit.sandbox.market import PATH_EPOCH

SEQ_PER_DAY = 1_000_000


def sandbox_uuid(seed: int, day: date, kind: str, counter: int) -> str:
    """A version-4-shaped UUID string derived from SHA-256 of its inputs."""
    digest = hashlib.sha256(f"{seed}:{day.isoformat()}:{kind}:{counter}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def day_index(day: date) -> int:
    """Days since the path epoch (may be negative); keeps per-day counters globally ordered."""
    return (day - PATH_EPOCH).days


def seq_base(day: date) -> int:
    """First cross sequence of ``day``; a day's rows use ``seq_base + n`` (increasing, < next day's)."""
    return 4_000_000_000 + day_index(day) * SEQ_PER_DAY


def account_uid(seed: int) -> str:
    """The simulated account's user id (stable per seed)."""
    digest = hashlib.sha256(f"sandbox-uid:{seed}".encode()).digest()
    return str(100_000 + int.from_bytes(digest[:4], "big") % 900_000)


def log_row_number(day: date, counter: int) -> int:
    """The numeric tail of a transaction-log ``id`` (``<uid>_<symbol>_<n>``)."""
    return 160_000_000_000 + day_index(day) * 100_000 + counter
