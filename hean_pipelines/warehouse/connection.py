"""DuckDB connections under the one-writer lock.

DuckDB lets one process at a time open a database file for writing (and, on POSIX, a writer and
read-only readers exclude each other too). Every process therefore holds the file for one unit of
work only, and whoever finds it locked retries with exponential backoff (0.05 s doubling, capped at
2 s, with jitter) until ``lock_timeout_s``, then fails with :class:`DuckDBLockedError`, which names
the file and the process holding it.

Every connection opened here runs with ``TimeZone = 'UTC'`` so timestamps read back, and casts
from ``TIMESTAMPTZ`` to ``DATE``, mean UTC whatever the machine's local zone.

A writer also runs with a memory limit (``HEAN_DUCKDB_MEMORY_LIMIT``, default
:data:`DEFAULT_WRITER_MEMORY_LIMIT`) and spills to ``<file>.tmp`` beside the database. DuckDB's own
default is 80 % of the machine's RAM, and a backfill of many days in one transaction holds its
uncommitted rows in memory up to that limit before writing them to the file: with the limit, a
10M-execution backfill peaks under 2 GB instead of several (bench/README.md), at no cost in time (the
rows are written to the file anyway at commit).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

INITIAL_BACKOFF_S = 0.05
MAX_BACKOFF_S = 2.0

_LOCK_MESSAGE = "Could not set lock on file"
_HOLDER_RE = re.compile(r"Conflicting lock is held in (?P<holder>.+?\(PID \d+\))")


class DuckDBLockedError(RuntimeError):
    """The DuckDB file stayed locked by another process for longer than the lock timeout."""

    def __init__(self, path: str | Path, holder: str, waited_s: float) -> None:
        self.path = str(path)
        self.holder = holder
        self.waited_s = waited_s
        super().__init__(
            f"DuckDB file {self.path} is locked by another process: {holder}; "
            f"gave up after waiting {waited_s:.2f} s (one writer at a time: retry when it finishes)"
        )


def parse_lock_holder(message: str) -> str:
    """The ``<exe> (PID n)`` part of DuckDB's lock-conflict message, or ``"unknown"``."""
    match = _HOLDER_RE.search(message)
    return match.group("holder").strip() if match else "unknown"


def is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and _LOCK_MESSAGE in str(exc)


def _backoff_delays(rng: random.Random) -> Iterator[float]:
    delay = INITIAL_BACKOFF_S
    while True:
        # Jitter in [delay/2, delay]: two waiting writers do not retry in lock-step.
        yield delay * (0.5 + 0.5 * rng.random())
        delay = min(delay * 2.0, MAX_BACKOFF_S)


CATALOG = "hean"
DEFAULT_WRITER_MEMORY_LIMIT = "1GB"
MEMORY_LIMIT_ENV = "HEAN_DUCKDB_MEMORY_LIMIT"


def writer_memory_limit() -> str:
    """The writer's DuckDB ``memory_limit``: ``HEAN_DUCKDB_MEMORY_LIMIT`` (any DuckDB size, e.g. ``4GB``),
    else :data:`DEFAULT_WRITER_MEMORY_LIMIT`."""
    return os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_WRITER_MEMORY_LIMIT


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_timeout_s: float = 30.0,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying while another process holds the lock.

    A writer creates the parent folder and runs with ``memory_limit`` (default :func:`writer_memory_limit`;
    ``""`` keeps DuckDB's own default), spilling to ``<path>.tmp``. A read-only open of a missing file raises
    ``FileNotFoundError`` (DuckDB cannot create a file read-only). Raises :class:`DuckDBLockedError`
    when the file is still locked after ``lock_timeout_s`` seconds.
    """
    db_path = Path(path)
    if read_only:
        if not db_path.exists():
            raise FileNotFoundError(
                f"DuckDB file {db_path} does not exist (a read-only connection cannot create it; "
                "run the pipeline or `hean import-bybit` first)"
            )
    else:
        db_path.parent.mkdir(parents=True, exist_ok=True)

    rng = random.Random()  # noqa: S311 - backoff jitter, not cryptography
    delays = _backoff_delays(rng)
    started = time.monotonic()
    while True:
        conn = duckdb.connect(":memory:")
        try:
            # Attached under a fixed name: DuckDB names a database after its file, so a file called
            # `ledger.duckdb` or `raw.duckdb` would otherwise clash with the schema of that name.
            options = " (READ_ONLY)" if read_only else ""
            conn.execute(f"ATTACH '{_sql_string(str(db_path))}' AS {CATALOG}{options}")
            conn.execute(f"USE {CATALOG}")
        except duckdb.IOException as exc:
            conn.close()
            if not is_lock_conflict(exc):
                raise
            waited = time.monotonic() - started
            remaining = lock_timeout_s - waited
            if remaining <= 0:
                raise DuckDBLockedError(db_path, parse_lock_holder(str(exc)), waited) from exc
            time.sleep(min(next(delays), remaining))
            continue
        try:
            conn.execute("SET TimeZone = 'UTC'")
            limit = writer_memory_limit() if memory_limit is None else memory_limit
            if not read_only and limit:
                conn.execute(f"SET memory_limit = '{_sql_string(limit)}'")
                conn.execute(f"SET temp_directory = '{_sql_string(str(db_path))}.tmp'")
        except Exception:
            conn.close()
            raise
        return conn


@contextmanager
def writer(path: str | Path, lock_timeout_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write connection held for one unit of work, closed (lock released) on exit."""
    conn = connect(path, read_only=False, lock_timeout_s=lock_timeout_s)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def reader(path: str | Path, lock_timeout_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A brief read-only connection, closed on exit."""
    conn = connect(path, read_only=True, lock_timeout_s=lock_timeout_s)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT; ROLLBACK when the block raises (the exception propagates)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def in_transaction(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether an explicit transaction is open: in auto-commit mode every statement gets a new id.

    (A probing ``BEGIN`` would not do: inside a transaction it fails *and* aborts that transaction.)
    """
    first = conn.execute("SELECT txid_current()").fetchone()
    second = conn.execute("SELECT txid_current()").fetchone()
    return first == second


@contextmanager
def atomic(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction, or the caller's when one is already open (its commit/rollback then decides)."""
    if in_transaction(conn):
        yield conn
        return
    with transaction(conn):
        yield conn
