"""Column schemas for the UI, from the pandera models or the tables' DDL (one description of each table)."""

import dagster as dg
import pandera.pandas as pa

from hean_pipelines.warehouse.table_docs import table_columns


def column_schema(model: type[pa.DataFrameModel]) -> dg.TableSchema:
    schema = model.to_schema()
    columns = [
        dg.TableColumn(
            name=name,
            type=str(column.dtype),
            description=column.description or "",
            constraints=dg.TableColumnConstraints(
                nullable=column.nullable, unique=bool(column.unique), other=[str(c) for c in column.checks]
            ),
        )
        for name, column in schema.columns.items()
    ]
    checks = [str(getattr(c, "name", c)) for c in schema.checks]
    constraints = dg.TableConstraints(other=checks) if checks else None
    return dg.TableSchema(columns=columns, constraints=constraints)


def table_column_schema(table: str) -> dg.TableSchema:
    """The column schema of a warehouse table, as its DDL creates it (types, nullability, key, comments)."""
    columns = [
        dg.TableColumn(
            name=c.name,
            type=c.type,
            description=c.description,
            constraints=dg.TableColumnConstraints(nullable=c.nullable, unique=False),
        )
        for c in table_columns(table)
    ]
    key = [c.name for c in table_columns(table) if c.primary_key]
    constraints = dg.TableConstraints(other=[f"primary key ({', '.join(key)})"]) if key else None
    return dg.TableSchema(columns=columns, constraints=constraints)
