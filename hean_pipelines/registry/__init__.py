"""The process registry: the version-controlled catalog (``catalog.yaml``) and its DuckDB tables.

Plain Python (no Dagster). The registry is read *as of* a day D; status changes are written effective
D+1 (see :mod:`hean_pipelines.registry.store`).
"""

from hean_pipelines.registry.catalog import (
    CATALOG_PATH_ENV,
    DEFAULT_CATALOG_PATH,
    STATUSES,
    UNATTRIBUTED,
    Catalog,
    CatalogError,
    CatalogProblem,
    KillConditions,
    Measurement,
    MinTotalAfterDays,
    ProcessVersion,
    load_catalog,
    parse_catalog,
    process_for_link_id,
)
from hean_pipelines.registry.store import (
    AS_OF_MACRO,
    PROCESSES_TABLE,
    SOURCES,
    STATUS_CHANGES_TABLE,
    RegistryConflictError,
    RegistryEntry,
    SyncResult,
    ensure_registry_schema,
    link_prefixes_as_of,
    record_status_change,
    registry_as_of,
    sync_catalog,
)

__all__ = [
    "AS_OF_MACRO",
    "CATALOG_PATH_ENV",
    "DEFAULT_CATALOG_PATH",
    "PROCESSES_TABLE",
    "SOURCES",
    "STATUSES",
    "STATUS_CHANGES_TABLE",
    "UNATTRIBUTED",
    "Catalog",
    "CatalogError",
    "CatalogProblem",
    "KillConditions",
    "Measurement",
    "MinTotalAfterDays",
    "ProcessVersion",
    "RegistryConflictError",
    "RegistryEntry",
    "SyncResult",
    "ensure_registry_schema",
    "link_prefixes_as_of",
    "load_catalog",
    "parse_catalog",
    "process_for_link_id",
    "record_status_change",
    "registry_as_of",
    "sync_catalog",
]
