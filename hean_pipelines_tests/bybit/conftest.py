"""A real sandbox exchange on loopback for client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hean_pipelines.bybit.client import BybitClient, RetryPolicy
from hean_pipelines.bybit.sandbox.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SandboxConfig,
    SandboxServer,
)
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount

# Fast but real backoff, so retry tests take milliseconds.
FAST_RETRIES = RetryPolicy(transport_retries=4, backoff_factor=0.01, backoff_max_s=0.05, rate_limit_waits=4)


@pytest.fixture(scope="session")
def sandbox_account() -> SandboxAccount:
    return SandboxAccount()


@pytest.fixture
def sandbox(sandbox_account: SandboxAccount) -> Iterator[SandboxServer]:
    server = SandboxServer(sandbox_account, SandboxConfig(port=0, rate_limit_per_second=0))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BybitClient]:
    with BybitClient(sandbox.url, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET, policy=FAST_RETRIES) as c:
        yield c
