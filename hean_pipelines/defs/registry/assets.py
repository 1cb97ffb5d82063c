"""The process registry, synced from the version-controlled catalog and read as of each day."""

import dagster as dg

from hean_pipelines.defs.metadata import ROW_COUNT, markdown_table, table_rows
from hean_pipelines.defs.partitions import DUCKDB_WRITER_POOL, daily_partitions
from hean_pipelines.defs.resources import WarehouseResource
from hean_pipelines.defs.schema_metadata import table_column_schema
from hean_pipelines.defs.windows import partition_days
from hean_pipelines.registry.catalog import load_catalog
from hean_pipelines.registry.store import SyncResult, registry_as_of, sync_catalog
from hean_pipelines.registry.sync_state import catalog_fingerprint, record_fingerprint, synced_fingerprint
from hean_pipelines.warehouse.connection import transaction

REGISTRY_GROUP = "registry"


@dg.asset(
    name="registry",
    group_name=REGISTRY_GROUP,
    kinds={"duckdb", "yaml"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    metadata={"table": "registry.processes", "dagster/column_schema": table_column_schema("registry.processes")},
)
def registry(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """`registry.processes`: every trading process (id, orderLinkId prefix, allocated capital, kill
    conditions, status) with valid_from/valid_to, so day D reads the registry as of D. Synced from the
    catalog file (`hean_pipelines/registry/catalog.yaml`); rows written by the selector or the factory
    are kept. `unattributed` always exists and owns every fill without a known prefix."""
    first_day, last_day = partition_days(context)
    catalog = load_catalog()
    fingerprint = catalog_fingerprint(catalog)
    synced = None
    if warehouse.exists:
        with warehouse.get_reader() as conn:
            synced = synced_fingerprint(conn)
    if synced == fingerprint:
        # Nothing to change: don't take the write lock, don't touch the file.
        result = SyncResult(inserted=0, updated=0, unchanged=len(catalog.versions) + 1, closed=0)
        with warehouse.get_reader() as conn:
            entries = registry_as_of(conn, last_day)
            versions = table_rows(conn, "registry.processes")
    else:
        with warehouse.get_connection() as conn:
            with transaction(conn):
                result = sync_catalog(conn, catalog)
                record_fingerprint(conn, fingerprint)
            entries = registry_as_of(conn, last_day)
            versions = table_rows(conn, "registry.processes")
    rows = [
        [e.process_id, e.link_prefix, e.allocated_capital, e.status, e.source, e.valid_from, e.valid_to]
        for e in entries
    ]
    return dg.MaterializeResult(
        metadata={
            ROW_COUNT: versions,
            "window": f"{first_day}..{last_day}",
            "processes_as_of_last_day": len(entries),
            "allocated_capital_total": float(sum(e.allocated_capital for e in entries)),
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "catalog_fingerprint": fingerprint,
            "synced": synced != fingerprint,
            "preview": dg.MetadataValue.md(
                markdown_table(
                    ["process_id", "link_prefix", "allocated_capital", "status", "source", "valid_from", "valid_to"],
                    rows,
                )
            ),
        }
    )
