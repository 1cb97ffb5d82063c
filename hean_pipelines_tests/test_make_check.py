"""`make check` is the CI gate: it must fail when the exchange hands us corrupt data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_check_fails_on_corrupted_input_and_names_check_and_days(tmp_path: Path) -> None:
    # Every executions page repeats one fill under a second exec id: valid JSON, valid shapes, wrong data.
    env = {**os.environ, "HEAN_SANDBOX_FAULTS": "duplicate_fill:10000@/v5/execution/list", "CI": "true"}
    run = subprocess.run(
        ["make", "--no-print-directory", "check", f"CHECK_DIR={tmp_path / 'check'}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode != 0, run.stdout
    lines = run.stdout.splitlines()
    duplicate = next(line for line in lines if "ledger_entries:no_duplicate_entries" in line)
    assert duplicate.startswith("FAIL     ERROR")
    assert "2025-12-29" in duplicate and "duplicated entries or fills" in duplicate
    # What the duplicate blocks downstream is reported as never run, not silently missing.
    assert any(line.startswith("NOT RUN") and "process_attribution:process_total_invariant" in line for line in lines)
    assert "hean check: FAILED" in run.stderr
    assert (tmp_path / "check" / "hean.duckdb").exists()
