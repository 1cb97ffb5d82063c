"""Shared test fixtures: the reference data in ../shared/fixtures, and a sandbox pipeline built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
BYBIT_FIXTURES = SHARED_FIXTURES / "bybit"


@pytest.fixture(scope="session")
def bybit_fixtures() -> Path:
    if not BYBIT_FIXTURES.is_dir():
        pytest.fail(f"reference fixtures missing: {BYBIT_FIXTURES} (shared/ must sit beside the repo)")
    return BYBIT_FIXTURES


# --------------------------------------------------------------------------- a sandbox pipeline, built once

SANDBOX_FIRST_DAY = "2025-12-29"  # a Monday: the sandbox is flat, so the ledger can start here
SANDBOX_LAST_DAY = "2026-01-11"


@pytest.fixture(scope="session")
def sandbox_pipeline(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder holding ``hean.duckdb``, ``dagster_home/`` and ``metrics/`` after one real `hean run` over the
    sandbox (2025-12-29..2026-01-11). Built once per test session: pytest-xdist workers share it through
    a lock file. Read it, never write it (copy it first)."""
    import fcntl
    import subprocess
    import sys

    root = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    folder = root / "sandbox_pipeline"
    with open(root / "sandbox_pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds it; the others wait, then reuse it
        if not (folder / "built").exists():
            folder.mkdir(exist_ok=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "HEAN_", "DAGSTER_", "OPENAI_"))}
            env.update(
                DAGSTER_HOME=str(folder / "dagster_home"),
                HEAN_DUCKDB_PATH=str(folder / "hean.duckdb"),
                HEAN_SOURCE="sandbox",
                HEAN_METRICS_DIR=str(folder / "metrics"),
            )
            days = ["--start", SANDBOX_FIRST_DAY, "--end", SANDBOX_LAST_DAY]
            run = subprocess.run(
                [sys.executable, "-m", "hean_pipelines", "run", *days],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if run.returncode != 0:
                pytest.fail(f"the sandbox pipeline run failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
            (folder / "run.log").write_text(run.stdout)
            (folder / "built").touch()
    return folder
