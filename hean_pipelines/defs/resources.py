"""Resources: the DuckDB warehouse (one writer at a time) and Bybit (live, sandbox or recorded)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from hean_pipelines.bybit.client import MAINNET_URL, TESTNET_URL, BybitClient
from hean_pipelines.settings import Settings, load_settings
from hean_pipelines.warehouse.connection import connect, writer


class WarehouseResource(DuckDBResource):
    """The DuckDB ledger file. Writers hold it for one unit of work and retry the lock with backoff."""

    lock_timeout_s: float = 60.0

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with writer(self.database, lock_timeout_s=self.lock_timeout_s) as conn:
            yield conn

    @contextmanager
    def get_reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A brief read-only connection (never blocks a writer for long)."""
        conn = connect(self.database, read_only=True, lock_timeout_s=self.lock_timeout_s)
        try:
            yield conn
        finally:
            conn.close()

    @property
    def exists(self) -> bool:
        return Path(self.database).exists()


class BybitResource(dg.ConfigurableResource):
    """Where raw data comes from. Keys are read from the environment at use time, never stored in config."""

    source: str = "sandbox"
    testnet: bool = False
    base_url: str = ""
    sandbox_url: str = ""
    sandbox_seed: int = 7
    sandbox_faults: str = ""
    account: str = "main"
    lookback_days: int = 3

    @contextmanager
    def open_client(self) -> Iterator[BybitClient | None]:
        """A client for this run; ``None`` for the recorded source (nothing is fetched).

        In sandbox mode without a URL, a loopback sandbox exchange is started for the duration of
        the run, so runs launched by the daemon work with nothing else running.
        """
        if self.source == "recorded":
            yield None
            return
        if self.source == "live":
            settings = load_settings()
            client = BybitClient(
                self.base_url or (TESTNET_URL if self.testnet else MAINNET_URL),
                api_key=settings.bybit_api_key,
                api_secret=settings.bybit_api_secret,
            )
            with client:
                client.assert_read_only()
                yield client
            return
        from hean_pipelines.bybit.sandbox.server import (
            DEFAULT_API_KEY,
            DEFAULT_API_SECRET,
            SandboxConfig,
            SandboxServer,
        )
        from hean_pipelines.bybit.sandbox.simulator import SandboxAccount

        if self.sandbox_url:
            with BybitClient(self.sandbox_url, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET) as client:
                yield client
            return
        server = SandboxServer(SandboxAccount(seed=self.sandbox_seed), SandboxConfig(port=0))
        if self.sandbox_faults:
            server.faults.extend(self.sandbox_faults)
        url = server.start()
        try:
            with BybitClient(url, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET) as client:
                yield client
        finally:
            server.stop()


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(
            database=str(settings.duckdb_path), lock_timeout_s=settings.duckdb_lock_timeout_s
        ),
        "bybit": BybitResource(
            source=settings.source,
            testnet=settings.bybit_testnet,
            base_url=settings.bybit_base_url,
            sandbox_url=settings.sandbox_url,
            sandbox_seed=settings.sandbox_seed,
            sandbox_faults=settings.sandbox_faults,
            account=settings.account,
            lookback_days=settings.lookback_days,
        ),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(load_settings()))
