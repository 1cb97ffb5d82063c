"""Whether the catalog file changed since the last sync, answered read-only.

A run that has nothing to change must not take DuckDB's write lock (or touch the file at all): the
registry asset compares the catalog's fingerprint with the one stored at the last sync first.
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from hean_pipelines.registry.catalog import Catalog

SYNC_STATE_TABLE = "registry.catalog_sync"


def catalog_fingerprint(catalog: Catalog) -> str:
    """SHA-256 of the catalog's versions in canonical JSON (order-independent)."""
    documents = sorted(json.dumps(v.document(), sort_keys=True, separators=(",", ":")) for v in catalog.versions)
    return hashlib.sha256("\n".join(documents).encode("utf-8")).hexdigest()


def synced_fingerprint(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint stored by the last sync, or None (works on a read-only connection)."""
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'registry' AND table_name = 'catalog_sync'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(f"SELECT fingerprint FROM {SYNC_STATE_TABLE}").fetchone()
    return str(row[0]) if row else None


def record_fingerprint(conn: duckdb.DuckDBPyConnection, fingerprint: str) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {SYNC_STATE_TABLE} (fingerprint VARCHAR NOT NULL)")
    conn.execute(f"DELETE FROM {SYNC_STATE_TABLE}")
    conn.execute(f"INSERT INTO {SYNC_STATE_TABLE} VALUES (?)", [fingerprint])
