"""The registry in DuckDB: ``registry.processes`` (versions over time) and ``registry.status_changes``.

``registry.processes`` holds one row per (process_id, valid_from): the version of a process in force
from ``valid_from`` until ``valid_to`` (exclusive; ``NULL``: open). ``valid_to`` is always derived: the
next ``valid_from`` of the same process among *all* its rows. Rows come from

* the catalog file (``source = 'catalog'``), written by :func:`sync_catalog`, which also writes the
  system row ``unattributed`` (``kind = 'system'``, ``source = 'system'``, capital 0, no prefix);
* status changes (:func:`record_status_change`, e.g. the selector, effective D+1) and the factory
  (``source`` ``openai``/``offline``): a re-sync never removes them.

On an exact key clash (a catalog version starting the day a status change took effect), the catalog
wins: the file is the human's word; the change stays in ``registry.status_changes``.

The table has no wall-clock column and every write rewrites it in (process_id, valid_from) order, so
the same inputs always give the same table, row for row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from hean_pipelines.registry.catalog import STATUSES, UNATTRIBUTED, Catalog
from hean_pipelines.warehouse.connection import atomic as _atomic

REGISTRY_SCHEMA = "registry"
PROCESSES_TABLE = "registry.processes"
STATUS_CHANGES_TABLE = "registry.status_changes"
AS_OF_MACRO = "registry.processes_as_of"

SOURCES: tuple[str, ...] = ("catalog", "openai", "offline", "system", "selector")
"""Where a row comes from: the catalog file, the factory's backends, the system (``unattributed``, or an
automated change), the selector."""
KINDS: tuple[str, ...] = ("process", "system")

UNATTRIBUTED_NAME = "Unattributed"
UNATTRIBUTED_DESCRIPTION = (
    "System process: owns every order whose orderLinkId carries no known process prefix (empty, manual "
    "or unknown prefixes), so nothing is ever dropped. No capital, no kill conditions, never selected."
)

COLUMNS: tuple[str, ...] = (
    "process_id",
    "valid_from",
    "valid_to",
    "status",
    "source",
    "kind",
    "name",
    "link_prefix",
    "allocated_capital",
    "document",
    "approved_by",
)


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {REGISTRY_SCHEMA};
CREATE TABLE IF NOT EXISTS {PROCESSES_TABLE} (
    process_id VARCHAR NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE,
    status VARCHAR NOT NULL CHECK (status IN ({_in(STATUSES)})),
    source VARCHAR NOT NULL CHECK (source IN ({_in(SOURCES)})),
    kind VARCHAR NOT NULL CHECK (kind IN ({_in(KINDS)})),
    name VARCHAR NOT NULL,
    link_prefix VARCHAR,
    allocated_capital DECIMAL(38,18) NOT NULL CHECK (allocated_capital >= 0),
    document JSON NOT NULL,
    approved_by VARCHAR,
    PRIMARY KEY (process_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE TABLE IF NOT EXISTS {STATUS_CHANGES_TABLE} (
    process_id VARCHAR NOT NULL,
    effective_date DATE NOT NULL,
    from_status VARCHAR NOT NULL CHECK (from_status IN ({_in(STATUSES)})),
    to_status VARCHAR NOT NULL CHECK (to_status IN ({_in(STATUSES)})),
    source VARCHAR NOT NULL CHECK (source IN ({_in(SOURCES)})),
    reason VARCHAR NOT NULL,
    approved_by VARCHAR,
    PRIMARY KEY (process_id, effective_date, to_status)
);
"""

_SELECT_COLUMNS = ", ".join(COLUMNS)


def _as_of_select(day: str) -> str:
    """Rows in force on ``day`` (a SQL expression), plus the system rows, by process_id."""
    return (
        f"SELECT {_SELECT_COLUMNS} FROM {PROCESSES_TABLE} "
        f"WHERE (valid_from <= CAST({day} AS DATE) OR kind = 'system') "
        f"AND (valid_to IS NULL OR CAST({day} AS DATE) < valid_to) "
        "ORDER BY process_id"
    )


_MACRO = f"CREATE OR REPLACE MACRO {AS_OF_MACRO}(d) AS TABLE {_as_of_select('d')}"


class RegistryConflictError(ValueError):
    """The stored registry and a requested change contradict each other (the message says how)."""


def ensure_registry_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``registry``, its tables and the ``registry.processes_as_of(d)`` table macro."""
    for statement in _DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(_MACRO)


# --------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class _Row:
    process_id: str
    valid_from: date
    valid_to: date | None
    status: str
    source: str
    kind: str
    name: str
    link_prefix: str | None
    allocated_capital: Decimal
    document: str  # canonical JSON text
    approved_by: str | None

    @property
    def key(self) -> tuple[str, date]:
        return (self.process_id, self.valid_from)

    def params(self) -> list[object]:
        return [getattr(self, c) for c in COLUMNS]


def _canonical_json(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _read_rows(conn: duckdb.DuckDBPyConnection, where: str = "", params: Sequence[object] = ()) -> list[_Row]:
    sql = f"SELECT {_SELECT_COLUMNS} FROM {PROCESSES_TABLE} {where} ORDER BY process_id, valid_from"
    return [_Row(*r) for r in conn.execute(sql, list(params)).fetchall()]


def _with_derived_valid_to(rows: Sequence[_Row]) -> list[_Row]:
    """Sorted by (process_id, valid_from), each ``valid_to`` = the next valid_from of the process."""
    ordered = sorted(rows, key=lambda r: r.key)
    out: list[_Row] = []
    for i, row in enumerate(ordered):
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        valid_to = nxt.valid_from if nxt is not None and nxt.process_id == row.process_id else None
        out.append(replace(row, valid_to=valid_to))
    return out


def _check_prefixes(rows: Sequence[_Row]) -> None:
    """A process keeps one prefix in all its rows; a prefix has one owner; none is a prefix of another."""
    owner: dict[str, str] = {}  # process_id -> prefix
    for row in rows:
        if row.link_prefix is None:
            continue
        first = owner.setdefault(row.process_id, row.link_prefix)
        if first != row.link_prefix:
            raise RegistryConflictError(
                f"process {row.process_id!r}: link_prefix {row.link_prefix!r} (version {row.valid_from}, "
                f"source {row.source}) differs from {first!r} in its other registry rows; a process keeps "
                "its prefix for ever"
            )
    items = sorted(owner.items(), key=lambda item: (item[1].lower(), item[0]))
    for i, (pid_a, prefix_a) in enumerate(items):
        for pid_b, prefix_b in items[i + 1 :]:
            a, b = prefix_a.lower(), prefix_b.lower()
            if a.startswith(b) or b.startswith(a):
                raise RegistryConflictError(
                    f"link_prefix clash in the registry: process {pid_a!r} has {prefix_a!r} and process "
                    f"{pid_b!r} has {prefix_b!r} (prefixes are unique and none may be a prefix of another, "
                    "case-insensitively)"
                )


def _replace_all(conn: duckdb.DuckDBPyConnection, rows: Sequence[_Row]) -> None:
    conn.execute(f"DELETE FROM {PROCESSES_TABLE}")
    if not rows:
        return
    conn.executemany(
        f"INSERT INTO {PROCESSES_TABLE} ({_SELECT_COLUMNS}) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS DECIMAL(38,18)), CAST(? AS JSON), ?)",
        [r.params() for r in sorted(rows, key=lambda r: r.key)],
    )


# --------------------------------------------------------------------------------------------- sync


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync_catalog` did, one count per row key.

    ``closed``: only ``valid_to`` changed (a newer version now bounds the row); ``updated``: other
    content changed (the version was edited in the file, or the catalog replaced a status-change row);
    ``removed``: catalog rows gone from the file (and a moved ``unattributed`` row).
    """

    inserted: int
    updated: int
    unchanged: int
    closed: int
    removed: int = 0


def _catalog_rows(catalog: Catalog) -> list[_Row]:
    rows = [
        _Row(
            process_id=v.process_id,
            valid_from=v.valid_from,
            valid_to=None,
            status=v.status,
            source="catalog",
            kind="process",
            name=v.name,
            link_prefix=v.link_prefix,
            allocated_capital=v.allocated_capital,
            document=_canonical_json(v.document()),
            approved_by=v.approved_by,
        )
        for v in catalog.sorted_versions()
    ]
    rows.append(_unattributed_row(catalog.earliest_valid_from()))
    return rows


def _unattributed_row(valid_from: date) -> _Row:
    document = {
        "process_id": UNATTRIBUTED,
        "name": UNATTRIBUTED_NAME,
        "description": UNATTRIBUTED_DESCRIPTION,
        "kind": "system",
        "link_prefix": None,
        "allocated_capital": "0",
        "status": "TESTING",
        "valid_from": valid_from.isoformat(),
    }
    return _Row(
        process_id=UNATTRIBUTED,
        valid_from=valid_from,
        valid_to=None,
        status="TESTING",
        source="system",
        kind="system",
        name=UNATTRIBUTED_NAME,
        link_prefix=None,
        allocated_capital=Decimal(0),
        document=_canonical_json(document),
        approved_by=None,
    )


def _managed_by_sync(row: _Row) -> bool:
    return row.source == "catalog" or row.kind == "system"


def sync_catalog(conn: duckdb.DuckDBPyConnection, catalog: Catalog) -> SyncResult:
    """Make ``registry.processes`` reflect ``catalog``, in one transaction; idempotent.

    Every catalog version is written (``source = 'catalog'``) plus ``unattributed``; a version whose
    content changed in the file replaces its row; catalog rows no longer in the file are removed. Rows
    of other sources (status changes, factory) are kept, except that a catalog version with the same
    (process_id, valid_from) replaces them. ``valid_to`` is re-derived over all rows of each process.
    Nothing is written when the table already matches. Raises :class:`RegistryConflictError` (and
    writes nothing) when the result would give a process two prefixes or two processes one prefix.
    """
    ensure_registry_schema(conn)
    with _atomic(conn):
        existing = _read_rows(conn)
        wanted = {r.key: r for r in _catalog_rows(catalog)}
        kept = [r for r in existing if not _managed_by_sync(r) and r.key not in wanted]
        desired = _with_derived_valid_to([*kept, *wanted.values()])
        _check_prefixes(desired)

        before = {r.key: r for r in existing}
        after = {r.key: r for r in desired}
        inserted = updated = unchanged = closed = 0
        for key, row in after.items():
            old = before.get(key)
            if old is None:
                inserted += 1
            elif old == row:
                unchanged += 1
            elif replace(old, valid_to=row.valid_to) == row:
                closed += 1
            else:
                updated += 1
        removed = sum(1 for key in before if key not in after)
        if existing != desired:
            _replace_all(conn, desired)
    return SyncResult(inserted=inserted, updated=updated, unchanged=unchanged, closed=closed, removed=removed)


# --------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RegistryEntry:
    """One process as of a day (a row of ``registry.processes``)."""

    process_id: str
    name: str
    link_prefix: str | None
    allocated_capital: Decimal
    status: str
    source: str
    kind: str
    valid_from: date
    valid_to: date | None
    document: dict[str, Any]
    approved_by: str | None = None


def registry_as_of(conn: duckdb.DuckDBPyConnection, day: date) -> list[RegistryEntry]:
    """The version of each process in force on ``day`` (``valid_from <= day < valid_to``, or open), by
    process_id; ``unattributed`` is always included (also before the catalog's first day).

    The same rows as ``SELECT * FROM registry.processes_as_of(DATE '…')`` in SQL.
    """
    rows = conn.execute(_as_of_select("$day"), {"day": day}).fetchall()
    entries = []
    for r in rows:
        row = _Row(*r)
        entries.append(
            RegistryEntry(
                process_id=row.process_id,
                name=row.name,
                link_prefix=row.link_prefix,
                allocated_capital=row.allocated_capital,
                status=row.status,
                source=row.source,
                kind=row.kind,
                valid_from=row.valid_from,
                valid_to=row.valid_to,
                document=json.loads(row.document),
                approved_by=row.approved_by,
            )
        )
    return entries


def link_prefixes_as_of(conn: duckdb.DuckDBPyConnection, day: date) -> dict[str, str]:
    """link_prefix -> process_id for the processes in force on ``day`` (whatever their status: a killed
    process still owns its orders). Feed it to :func:`~hean_pipelines.registry.catalog.process_for_link_id`."""
    return {e.link_prefix: e.process_id for e in registry_as_of(conn, day) if e.link_prefix is not None}


# --------------------------------------------------------------------------------------------- changes


def record_status_change(
    conn: duckdb.DuckDBPyConnection,
    *,
    process_id: str,
    to_status: str,
    effective: date,
    source: str,
    reason: str,
    approved_by: str | None = None,
) -> None:
    """Change a process's status from ``effective`` on, and log it in ``registry.status_changes``.

    The version in force on ``effective`` is closed at ``effective`` and a new version (same name,
    prefix, capital and document, the new status) starts there and runs until the version that followed
    (or stays open). Idempotent: when the process is already in ``to_status`` on ``effective`` nothing
    is written. A second, different change on the same day updates the status-change row in place.
    One transaction (or the caller's, if one is open).

    Raises :class:`ValueError` for an unknown status/source, ``source='catalog'`` (edit the file
    instead) or ``unattributed``; :class:`RegistryConflictError` when the process has no version on
    ``effective`` or a catalog version starts exactly on ``effective``.
    """
    if to_status not in STATUSES:
        raise ValueError(f"to_status {to_status!r} is not one of {', '.join(STATUSES)}")
    if source not in SOURCES or source == "catalog":
        allowed = ", ".join(s for s in SOURCES if s != "catalog")
        raise ValueError(
            f"source {source!r} is not allowed for a status change (one of {allowed}; the catalog's "
            "statuses are changed by editing the catalog file)"
        )
    if process_id == UNATTRIBUTED:
        raise ValueError(f"{UNATTRIBUTED!r} is the system process; its status does not change")
    if not reason.strip():
        raise ValueError("a status change needs a reason")
    ensure_registry_schema(conn)
    with _atomic(conn):
        rows = _read_rows(conn)
        mine = [r for r in rows if r.process_id == process_id]
        in_force = next(
            (r for r in mine if r.valid_from <= effective and (r.valid_to is None or effective < r.valid_to)),
            None,
        )
        if in_force is None:
            raise RegistryConflictError(
                f"process {process_id!r} has no registry version in force on {effective} (sync the catalog "
                "first, or check the process id)"
            )
        if in_force.status == to_status:
            return
        document = json.loads(in_force.document)
        document.update({"status": to_status, "valid_from": effective.isoformat(), "approved_by": approved_by})
        changed = replace(
            in_force,
            valid_from=effective,
            status=to_status,
            source=source,
            document=_canonical_json(document),
            approved_by=approved_by,
        )
        if in_force.valid_from == effective:
            if in_force.source == "catalog":
                raise RegistryConflictError(
                    f"process {process_id!r} has a catalog version starting on {effective}; change its "
                    "status in the catalog file"
                )
            others = [r for r in rows if r.key != in_force.key]
        else:
            others = list(rows)
        desired = _with_derived_valid_to([*others, changed])
        _check_prefixes(desired)
        _replace_all(conn, desired)
        conn.execute(
            f"INSERT INTO {STATUS_CHANGES_TABLE} "
            "(process_id, effective_date, from_status, to_status, source, reason, approved_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [process_id, effective, in_force.status, to_status, source, reason, approved_by],
        )
