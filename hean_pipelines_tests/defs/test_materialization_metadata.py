"""What the UI shows for every asset: description, group, kinds, owners; row counts and schemas when materialized."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from hean_pipelines.definitions import defs
from hean_pipelines.warehouse.connection import connect

# Assets that write files, not tables.
NOT_TABLES = {"daily_report", "metrics_snapshot"}


def test_every_asset_has_a_description_group_kinds_and_owner() -> None:
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.description and len(node.description) > 60, name
        assert node.group_name and node.group_name != "default", name
        assert node.kinds, name
        assert node.owners, name


def test_every_table_materialization_reports_its_rows_and_columns(sandbox_week: Path) -> None:
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(sandbox_week / "dagster_home")))
    graph = defs().resolve_asset_graph()
    conn = connect(sandbox_week / "hean.duckdb", read_only=True)
    try:
        for key in graph.get_all_asset_keys():
            name = key.to_user_string()
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization is not None, name
            if name in NOT_TABLES:
                continue
            metadata = event.asset_materialization.metadata
            relation = metadata["dagster/relation_identifier"].value
            assert isinstance(relation, str) and relation.startswith("hean."), name
            table = relation.removeprefix("hean.")
            # Rows for the week, counted independently. The registry asset counts the whole table as it
            # left it: the catalog's rows and `unattributed`; the factory adds proposals later in the run.
            date_column = {"raw": "day", "selection.scores": "as_of"}.get(
                table if table == "selection.scores" else table.split(".")[0], "date"
            )
            query = f"SELECT count(*) FROM {table}"
            if name == "registry":
                query += " WHERE source IN ('catalog', 'system')"
            else:
                query += f" WHERE {date_column} BETWEEN DATE '2026-01-05' AND DATE '2026-01-11'"
            row = conn.execute(query).fetchone()
            assert row is not None
            assert metadata["dagster/row_count"].value == row[0], name
            # On the materialization (from DuckDB), or on the definition (from the pandera model).
            schema = metadata.get("dagster/column_schema")
            if isinstance(schema, dg.TableSchemaMetadataValue):
                columns = schema.schema.columns
            else:
                columns = graph.get(key).metadata["dagster/column_schema"].columns
            assert len(columns) >= 5, name
    finally:
        conn.close()
