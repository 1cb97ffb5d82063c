"""Shared test fixtures: the reference data in ../shared/fixtures, and a sandbox pipeline built once."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
BYBIT_FIXTURES = SHARED_FIXTURES / "bybit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow end-to-end tests first (a stable sort): xdist hands out the longest files while both workers
    are free, instead of leaving one worker alone with the 90-day backfill at the end."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, "90_day" not in item.name))


@pytest.fixture(scope="session")
def bybit_fixtures() -> Path:
    if not BYBIT_FIXTURES.is_dir():
        pytest.fail(f"reference fixtures missing: {BYBIT_FIXTURES} (shared/ must sit beside the repo)")
    return BYBIT_FIXTURES


# --------------------------------------------------------------------------- a sandbox week, built once

SANDBOX_WEEK = ("2026-01-05", "2026-01-11")  # Monday to Sunday: the sandbox is flat on Mondays


@pytest.fixture(scope="session")
def sandbox_week(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder with `hean.duckdb`, `dagster_home/`, `reports/`, `metrics/` and the run's output `run.log` after
    one real `hean run` over SANDBOX_WEEK (real sandbox, DuckDB file and Dagster instance).

    Built once per test session: pytest-xdist workers share it through a lock file. Tests must not write
    there: copy what you want to change.
    """
    import fcntl

    from hean_pipelines_tests.hean_cli import hean

    root = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    folder = root / "sandbox_week"
    with open(root / "sandbox_week.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds it; the others wait, then reuse it
        if not (folder / "run.log").exists():
            folder.mkdir(exist_ok=True)
            run = hean(folder, "run", "--start", SANDBOX_WEEK[0], "--end", SANDBOX_WEEK[1])
            assert run.returncode == 0, run.stdout + run.stderr
            (folder / "run.log").write_text(run.stdout)
    return folder
