"""Run the real `hean` CLI in a subprocess with its own DuckDB file and Dagster instance under a folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def hean_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a `hean` run isolated in ``folder``: no inherited BYBIT_/HEAN_/DAGSTER_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "HEAN_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(folder / "dagster_home"),
        HEAN_DUCKDB_PATH=str(folder / "hean.duckdb"),
        HEAN_SOURCE="sandbox",
    )
    env.update(extra)
    return env


def hean(folder: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m hean_pipelines ARGS`` with ``folder`` as working directory (reports/ lands there too)."""
    return subprocess.run(
        [sys.executable, "-m", "hean_pipelines", *args],
        cwd=folder,
        env=hean_env(folder, **extra),
        capture_output=True,
        text=True,
        timeout=600,
    )
