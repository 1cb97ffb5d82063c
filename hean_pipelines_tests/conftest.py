"""Shared test fixtures: paths to the reference data in ../shared/fixtures."""

from __future__ import annotations

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
