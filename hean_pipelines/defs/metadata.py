"""Materialization metadata helpers: previews and totals read straight from the warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg
import duckdb

from hean_pipelines.reporting.markdown import markdown_table

__all__ = ["markdown_table", "preview", "table_rows"]


def preview(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    first_day: date,
    last_day: date,
    order_by: str,
    limit: int = 5,
) -> dg.MetadataValue:
    """The first rows of ``table`` within the window, as a Markdown table for the UI."""
    rows = conn.execute(
        f"SELECT {', '.join(columns)} FROM {table} WHERE day BETWEEN ? AND ? ORDER BY {order_by} LIMIT {limit}",
        [first_day, last_day],
    ).fetchall()
    return dg.MetadataValue.md(markdown_table(columns, rows))


def table_rows(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def table_metadata(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    window: tuple[date, date] | None = None,
    date_column: str = "date",
    with_schema: bool = True,
) -> dict[str, Any]:
    """Dagster's standard table metadata for a materialization: rows written in the window, the relation
    and its column schema as DuckDB has it (type, nullability, column comment)."""
    where, params = ("", []) if window is None else (f" WHERE {date_column} BETWEEN ? AND ?", list(window))
    row = conn.execute(f"SELECT count(*) FROM {table}{where}", params).fetchone()
    metadata: dict[str, Any] = {
        "dagster/row_count": int(row[0]) if row else 0,
        "dagster/relation_identifier": f"hean.{table}",
    }
    if with_schema:
        schema, name = table.split(".")
        columns = conn.execute(
            """SELECT column_name, data_type, is_nullable, comment FROM duckdb_columns()
               WHERE database_name = 'hean' AND schema_name = ? AND table_name = ? ORDER BY column_index""",
            [schema, name],
        ).fetchall()
        metadata["dagster/column_schema"] = dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=column,
                    type=data_type,
                    description=comment or "",
                    constraints=dg.TableColumnConstraints(nullable=bool(nullable)),
                )
                for column, data_type, nullable, comment in columns
            ]
        )
    return metadata
