"""Deterministic content checksums of tables (byte-identity tests, ``make test-idempotency``).

The checksum covers the table's columns (name and type, in order) and its rows as a multiset: each
row is rendered as one JSON array of its values as text, the rows are sorted by that rendering (an
order over all columns), and the lines are hashed with sha256. Two databases with the same content
give the same checksum whatever their physical layout, insertion order or session time zone
(``TIMESTAMPTZ`` values are rendered as epoch microseconds).
"""

from __future__ import annotations

import hashlib

import duckdb

from hean_pipelines.warehouse.raw_schema import RAW_DATA_TABLES

MISSING = "missing"
_FETCH_ROWS = 10_000


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return (schema or "main"), name


def _render(column: str, data_type: str) -> str:
    col = _quote(column)
    if data_type.upper().startswith("TIMESTAMP WITH TIME ZONE"):
        return f"CAST(epoch_us({col}) AS VARCHAR)"
    return f"CAST({col} AS VARCHAR)"


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    schema, name = _split(table)
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return [(str(c), str(t)) for c, t in rows]


def table_checksum(conn: duckdb.DuckDBPyConnection, table: str) -> str:
    """sha256 hex of ``table``'s schema and rows (order-independent). Raises LookupError if absent."""
    columns = _columns(conn, table)
    if not columns:
        raise LookupError(f"table {table} does not exist")
    schema, name = _split(table)
    digest = hashlib.sha256()
    digest.update(f"{schema}.{name}\n".encode())
    digest.update(("\t".join(f"{c} {t}" for c, t in columns) + "\n").encode())
    rendered = ", ".join(_render(c, t) for c, t in columns)
    # Same connection (not a cursor): sees the caller's uncommitted writes. Sorted by the UTF-8
    # bytes of each line, so no collation setting can change the order.
    conn.execute(
        f"SELECT line FROM (SELECT CAST(to_json([{rendered}]) AS VARCHAR) AS line "
        f"FROM {_quote(schema)}.{_quote(name)}) ORDER BY encode(line)"
    )
    while batch := conn.fetchmany(_FETCH_ROWS):
        for (line,) in batch:
            digest.update(str(line).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def raw_table_checksums(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Checksums of the raw data tables (not ``raw.api_requests``, a log); ``"missing"`` when absent."""
    result: dict[str, str] = {}
    for table in RAW_DATA_TABLES:
        try:
            result[table.name] = table_checksum(conn, table.name)
        except LookupError:
            result[table.name] = MISSING
    return result
