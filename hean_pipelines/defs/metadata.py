"""Materialization metadata helpers: previews and totals read straight from the warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

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


ROW_COUNT = "dagster/row_count"
"""Dagster's standard row-count key: the UI shows it on the materialization and plots it over time."""


def window_rows(
    conn: duckdb.DuckDBPyConnection, table: str, first_day: date, last_day: date, column: str = "date"
) -> int:
    """Rows of ``table`` whose ``column`` falls in [first_day, last_day]: what this materialization covers."""
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} BETWEEN ? AND ?", [first_day, last_day]).fetchone()
    return int(row[0]) if row else 0


def window_sums(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    first_day: date,
    last_day: date,
    column: str = "date",
) -> dict[str, float]:
    """``<column>_total`` for each money column over the window (floats: metadata for display only)."""
    if not columns:
        return {}
    row = conn.execute(
        f"SELECT {', '.join(f'sum({c})' for c in columns)} FROM {table} WHERE {column} BETWEEN ? AND ?",
        [first_day, last_day],
    ).fetchone()
    return {f"{c}_total": float(v or 0) for c, v in zip(columns, row or (), strict=False)}
