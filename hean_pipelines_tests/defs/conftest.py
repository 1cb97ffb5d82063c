"""A sandbox week built once through `hean run` (real sandbox, DuckDB file and Dagster instance) for read-only tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from hean_pipelines_tests.hean_cli import hean

SANDBOX_WEEK = ("2026-01-05", "2026-01-11")


@pytest.fixture(scope="session")
def sandbox_week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with `hean.duckdb`, `dagster_home/` and `reports/` after one run over SANDBOX_WEEK.

    Tests must not write there: copy what you want to change.
    """
    folder = tmp_path_factory.mktemp("sandbox_week")
    run = hean(folder, "run", "--start", SANDBOX_WEEK[0], "--end", SANDBOX_WEEK[1])
    assert run.returncode == 0, run.stdout + run.stderr
    return folder
