"""Column schemas for the UI, derived from the pandera models (one description of each table)."""

import dagster as dg
import pandera.pandas as pa


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
