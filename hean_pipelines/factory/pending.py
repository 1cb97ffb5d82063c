"""How many of the factory's proposals still wait for a human: the factory does not pile them up."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from hean_pipelines.registry.store import registry_as_of

DEFAULT_MAX_PENDING = 3
FACTORY_SOURCES = ("openai", "offline")


def pending_proposals(conn: duckdb.DuckDBPyConnection, day: date) -> list[str]:
    """Factory proposals still ``proposed`` on D+1, other than day D's own (a re-run of D replaces those,
    so it must decide exactly as the first run did)."""
    effective = day + timedelta(days=1)
    return sorted(
        e.process_id
        for e in registry_as_of(conn, effective)
        if e.status == "proposed" and e.source in FACTORY_SOURCES and e.valid_from != effective
    )
