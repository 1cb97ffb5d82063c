"""The warehouse's tables as documented columns, read from the one DDL of each table (for the UI).

Every ``ensure_*`` DDL of the project runs once in an in-memory DuckDB; its catalog gives each column's
type, nullability and primary-key membership, so what the UI shows is what the file holds. Column
descriptions come from the ``-- comments`` in the DDL text and, for raw tables, from the Bybit field
each column is read from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import duckdb

from hean_pipelines.factory.store import ensure_factory_schema
from hean_pipelines.ledger.schema import ATTRIBUTION_DDL, LEDGER_DDL, ensure_ledger_schema
from hean_pipelines.orchestration.day_inputs import DAY_INPUTS_DDL, ensure_day_inputs_table
from hean_pipelines.registry.store import ensure_registry_schema
from hean_pipelines.selection.schema import SELECTION_DDL, ensure_selection_schema
from hean_pipelines.warehouse.raw_schema import RAW_TABLES_BY_NAME, ensure_raw_schema

_DERIVED_RAW_COLUMNS = {
    "account": "the account's name (HEAN_ACCOUNT), written by the loader",
    "day": "UTC date of the row's event time",
    "raw_json": "the item exactly as Bybit sent it (keys sorted)",
    "category": "the request's category (linear, spot)",
}

_TABLE_RE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+\.\w+) \((.*?)\n\);?", re.S)
_COMMENTED_COLUMN_RE = re.compile(r"^\s*(\w+)\s.*?--\s*(.+?)\s*$")


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    nullable: bool
    primary_key: bool
    description: str


def _ddl_comments(*ddls: str) -> dict[tuple[str, str], str]:
    comments: dict[tuple[str, str], str] = {}
    for ddl in ddls:
        for table, body in _TABLE_RE.findall(ddl):
            for line in body.splitlines():
                match = _COMMENTED_COLUMN_RE.match(line)
                if match:
                    comments[(table, match.group(1))] = match.group(2)
    return comments


def _raw_descriptions() -> dict[tuple[str, str], str]:
    descriptions = {}
    for table in RAW_TABLES_BY_NAME.values():
        for column in table.columns:
            if isinstance(column.source, str):
                text = f"Bybit `{column.source}`"
            elif isinstance(column.source, int):
                text = f"Bybit kline list[{column.source}]"
            else:
                text = _DERIVED_RAW_COLUMNS.get(column.name, "")
            if text:
                descriptions[(table.name, column.name)] = text
    return descriptions


@cache
def _catalog() -> dict[str, tuple[ColumnDoc, ...]]:
    conn = duckdb.connect(":memory:")
    try:
        ensure_raw_schema(conn)
        ensure_ledger_schema(conn)
        ensure_day_inputs_table(conn)
        ensure_registry_schema(conn)
        ensure_selection_schema(conn)
        ensure_factory_schema(conn)
        keys = {
            (f"{schema}.{table}", column)
            for schema, table, columns in conn.execute(
                "SELECT schema_name, table_name, constraint_column_names FROM duckdb_constraints() "
                "WHERE constraint_type = 'PRIMARY KEY'"
            ).fetchall()
            for column in columns
        }
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name, column_name, data_type, is_nullable = 'YES' "
            "FROM information_schema.columns ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall()
    finally:
        conn.close()
    descriptions = {**_raw_descriptions(), **_ddl_comments(LEDGER_DDL, ATTRIBUTION_DDL, SELECTION_DDL, DAY_INPUTS_DDL)}
    catalog: dict[str, list[ColumnDoc]] = {}
    for table, column, type_, nullable in rows:
        doc = ColumnDoc(
            name=str(column),
            type=str(type_),
            nullable=bool(nullable),
            primary_key=(table, column) in keys,
            description=descriptions.get((table, column), ""),
        )
        catalog.setdefault(str(table), []).append(doc)
    return {table: tuple(columns) for table, columns in catalog.items()}


def table_columns(table: str) -> tuple[ColumnDoc, ...]:
    """The documented columns of ``schema.table``; KeyError names the tables that exist."""
    catalog = _catalog()
    if table not in catalog:
        raise KeyError(f"no table {table} in the warehouse DDL (known: {', '.join(sorted(catalog))})")
    return catalog[table]
