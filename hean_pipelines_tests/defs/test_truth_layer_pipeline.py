"""The truth layer through Dagster: corrupted input stops the run, and day-by-day runs isolate the bad day.

(A ranged run equal to day-by-day runs, table for table, is test_backfill_equivalence.py over 90 days;
re-materializing a day byte-identically is orchestration/test_schedule_daemon.py.)"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hean_pipelines.bybit.sandbox.server import SandboxConfig, SandboxServer
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines_tests.corruption import add_a_cent_to_a_trade_fee, deliver_a_fill_twice
from hean_pipelines_tests.hean_cli import hean

DOWNSTREAM = ("process_attribution", "portfolio_attribution")


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    server = SandboxServer(SandboxAccount(), SandboxConfig(port=0, rate_limit_per_second=0))
    url = server.start()
    yield url
    server.stop()


def _materialized(stdout: str) -> set[str]:
    for line in stdout.splitlines():
        if line.startswith("materialized: "):
            return set(line.removeprefix("materialized: ").split(", "))
    return set()


@pytest.fixture(scope="module")
def three_good_days(tmp_path_factory: pytest.TempPathFactory, sandbox_url: str) -> Path:
    folder = tmp_path_factory.mktemp("good")
    run = hean(folder, "run", "--start", "2026-01-05", "--end", "2026-01-07", "--sandbox-url", sandbox_url)
    assert run.returncode == 0, run.stdout + run.stderr
    return folder / "hean.duckdb"


def _rerun_recorded(tmp_path: Path, db: Path) -> tuple[int, str]:
    shutil.copy(db, tmp_path / "hean.duckdb")
    return _rerun(tmp_path)


def _rerun(tmp_path: Path) -> tuple[int, str]:
    run = hean(tmp_path, "run", "--source", "recorded", "--start", "2026-01-05", "--end", "2026-01-07")
    return run.returncode, run.stdout


def test_a_duplicated_execution_fails_the_blocking_check_and_stops_downstream(
    tmp_path: Path, three_good_days: Path
) -> None:
    shutil.copy(three_good_days, tmp_path / "hean.duckdb")
    deliver_a_fill_twice(tmp_path / "hean.duckdb", "2026-01-06")
    code, stdout = _rerun(tmp_path)
    assert code == 1
    assert "failed check: ledger_entries:no_duplicate_entries" in stdout
    # The doubled fill also shifts every later position: closed PnL disagrees from that day on.
    assert "failed days: 2026-01-06..2026-01-07 (2 days)" in stdout
    assert "--day-by-day" in stdout
    assert not set(DOWNSTREAM) & _materialized(stdout)


def test_day_by_day_isolates_the_one_corrupted_day(tmp_path: Path, three_good_days: Path) -> None:
    shutil.copy(three_good_days, tmp_path / "hean.duckdb")
    add_a_cent_to_a_trade_fee(tmp_path / "hean.duckdb", "2026-01-06")
    code, stdout = _rerun(tmp_path)
    assert code == 1
    assert "failed days: 2026-01-06\n" in stdout
    run = hean(tmp_path, "run", "--source", "recorded", "--start", "2026-01-05", "--end", "2026-01-07", "--day-by-day")
    assert run.returncode == 1
    results = {line[:10]: line.split()[1] for line in run.stdout.splitlines() if line[:4] == "2026"}
    assert results == {"2026-01-05": "ok", "2026-01-06": "FAILED", "2026-01-07": "ok"}
    assert "failing days: 2026-01-06" in run.stdout


def test_a_fee_that_breaks_the_invariant_fails_the_check_and_stops_downstream(
    tmp_path: Path, three_good_days: Path
) -> None:
    shutil.copy(three_good_days, tmp_path / "hean.duckdb")
    add_a_cent_to_a_trade_fee(tmp_path / "hean.duckdb", "2026-01-07")
    code, stdout = _rerun(tmp_path)
    assert code == 1
    assert "failed check: ledger_entries:transaction_log_identity" in stdout
    assert not set(DOWNSTREAM) & _materialized(stdout)


def test_the_uncorrupted_copy_passes_every_check(tmp_path: Path, three_good_days: Path) -> None:
    code, stdout = _rerun_recorded(tmp_path, three_good_days)
    assert code == 0, stdout
    assert "failed check" not in stdout
    assert set(DOWNSTREAM) <= _materialized(stdout)
