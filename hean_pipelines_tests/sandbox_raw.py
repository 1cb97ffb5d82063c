"""Sandbox days fetched over loopback HTTP, as ingestion does, into a DuckDB file with the registry synced."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hean_pipelines.bybit.client import BybitClient
from hean_pipelines.bybit.sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxConfig, SandboxServer
from hean_pipelines.bybit.sandbox.simulator import SandboxAccount
from hean_pipelines.ingestion import FetchWindow, fetch_raw_window, store_raw_batch
from hean_pipelines.registry.catalog import load_catalog
from hean_pipelines.registry.store import sync_catalog
from hean_pipelines.warehouse.connection import transaction, writer

ACCOUNT = "main"


def fetch_sandbox_raw(
    path: Path, first: date, last: date, *, clock_ms: int | None = None, snapshot: bool = False
) -> Path:
    """Days ``first``..``last`` of the sandbox into ``path`` (its clock frozen at ``clock_ms`` if given;
    ``snapshot``: take the account snapshot as live ingestion does). Returns ``path``."""
    config = SandboxConfig(port=0, rate_limit_per_second=0, now_ms=None if clock_ms is None else lambda: clock_ms)
    server = SandboxServer(SandboxAccount(), config)
    url = server.start()
    try:
        with BybitClient(url, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET) as client:
            batch = fetch_raw_window(client, FetchWindow(first, last), snapshot=snapshot)
    finally:
        server.stop()
    with writer(path) as conn:
        store_raw_batch(conn, batch, account=ACCOUNT)
        with transaction(conn):
            sync_catalog(conn, load_catalog())
    return path
