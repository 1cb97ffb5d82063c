"""The one-writer lock, proven with a real second process holding the DuckDB file."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.warehouse.connection import (
    DuckDBLockedError,
    connect,
    parse_lock_holder,
    transaction,
    writer,
)

HOLDER_SCRIPT = """
import sys, time
import duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("CREATE TABLE IF NOT EXISTS held (x INTEGER)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
print("released", flush=True)
"""


@contextmanager
def holding_process(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """A separate python process that opens ``db`` for writing and keeps it for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(db), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "locked", proc.stderr.read() if proc.stderr else line
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_retries_until_the_holder_exits(tmp_path: Path) -> None:
    db = tmp_path / "hean.duckdb"
    with holding_process(db, seconds=1.5) as proc:
        started = time.monotonic()
        conn = connect(db, lock_timeout_s=30.0)
        waited = time.monotonic() - started
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "released"
            assert waited >= 1.0, f"connected after {waited:.2f}s: the lock was never contended"
            assert conn.execute("SELECT count(*) FROM held").fetchone() == (0,)
        finally:
            conn.close()


def test_gives_up_with_an_error_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "hean.duckdb"
    with holding_process(db, seconds=60) as proc:
        started = time.monotonic()
        with pytest.raises(DuckDBLockedError) as info:
            connect(db, lock_timeout_s=0.6)
        elapsed = time.monotonic() - started
        assert proc.poll() is None, "the holder died: the test proves nothing"
    err = info.value
    assert f"(PID {proc.pid})" in err.holder
    assert err.path == str(db)
    assert 0.6 <= err.waited_s < 5.0
    assert elapsed >= 0.6
    assert str(db) in str(err) and f"PID {proc.pid}" in str(err)
    assert isinstance(err.__cause__, duckdb.IOException)


def test_read_only_connections_also_wait_for_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "hean.duckdb"
    with holding_process(db, seconds=60) as proc, pytest.raises(DuckDBLockedError) as info:
        connect(db, read_only=True, lock_timeout_s=0.3)
    assert f"PID {proc.pid}" in info.value.holder


def test_parse_lock_holder() -> None:
    message = (
        'IO Error: Could not set lock on file "/x/hean.duckdb": Conflicting lock is held in '
        "/usr/bin/python3.11 (PID 4242) by user root. See also https://duckdb.org/docs/"
    )
    assert parse_lock_holder(message) == "/usr/bin/python3.11 (PID 4242)"
    assert parse_lock_holder("IO Error: something else") == "unknown"


def test_read_only_open_of_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "hean.duckdb"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        connect(missing, read_only=True)
    assert not missing.parent.exists()


def test_writer_creates_the_folder_and_releases_the_file(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "er" / "hean.duckdb"
    with writer(db) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        assert conn.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    # Released: another process can take the write lock at once.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb,sys; duckdb.connect(sys.argv[1]).close(); print('ok')",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.stdout.strip() == "ok", out.stderr
    reader_conn = connect(db, read_only=True)
    try:
        assert reader_conn.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        assert reader_conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        reader_conn.close()


def test_transaction_commits_and_rolls_back(tmp_path: Path) -> None:
    with writer(tmp_path / "t.duckdb") as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RuntimeError, match="boom"), transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
        assert conn.execute("SELECT list(x) FROM t").fetchone() == ([1],)
