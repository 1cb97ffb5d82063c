"""registry.processes in a real DuckDB file: sync, as-of reads (Python and SQL), status changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hean_pipelines.registry import (
    DEFAULT_CATALOG_PATH,
    UNATTRIBUTED,
    Catalog,
    RegistryConflictError,
    SyncResult,
    ensure_registry_schema,
    link_prefixes_as_of,
    load_catalog,
    parse_catalog,
    process_for_link_id,
    record_status_change,
    registry_as_of,
    sync_catalog,
)
from hean_pipelines.warehouse.connection import connect, transaction, writer

START = date(2025, 12, 29)
SANDBOX_IDS = ["edge_momentum", "loser_meanrev", "noise_scalper"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "hean.duckdb"


@pytest.fixture
def conn(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(db) as c:
        yield c


def _version(process_id: str, prefix: str, capital: int | str, valid_from: date, **extra: Any) -> dict[str, Any]:
    return {
        "process_id": process_id,
        "name": process_id,
        "description": f"test process {process_id}",
        "link_prefix": prefix,
        "allocated_capital": capital,
        "valid_from": valid_from,
        "kill_conditions": {"max_drawdown_ratio": "0.25", "max_losing_streak_days": 10},
        "measurement": {"metric": "total", "benchmark": 0, "horizon_days": 30},
        **extra,
    }


def _catalog(*versions: dict[str, Any]) -> Catalog:
    return parse_catalog({"processes": list(versions)})


def _table(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM registry.processes ORDER BY process_id, valid_from").fetchall()


def _physical(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """The rows in storage order (no ORDER BY): equal only if the writes were deterministic."""
    return conn.execute("SELECT * FROM registry.processes").fetchall()


def _as_of(conn: duckdb.DuckDBPyConnection, day: date) -> dict[str, tuple[str, Decimal]]:
    return {e.process_id: (e.status, e.allocated_capital) for e in registry_as_of(conn, day)}


# --------------------------------------------------------------------------------------------- schema


def test_table_columns_and_no_wall_clock(conn: duckdb.DuckDBPyConnection) -> None:
    ensure_registry_schema(conn)
    ensure_registry_schema(conn)  # idempotent
    columns = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'registry' AND table_name = 'processes' ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [
        ("process_id", "VARCHAR", "NO"),
        ("valid_from", "DATE", "NO"),
        ("valid_to", "DATE", "YES"),
        ("status", "VARCHAR", "NO"),
        ("source", "VARCHAR", "NO"),
        ("kind", "VARCHAR", "NO"),
        ("name", "VARCHAR", "NO"),
        ("link_prefix", "VARCHAR", "YES"),
        ("allocated_capital", "DECIMAL(38,18)", "NO"),
        ("document", "JSON", "NO"),
        ("approved_by", "VARCHAR", "YES"),
    ]
    log = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'registry' AND table_name = 'status_changes' ORDER BY ordinal_position"
    ).fetchall()
    assert [c for (c,) in log] == [
        "process_id",
        "effective_date",
        "from_status",
        "to_status",
        "source",
        "reason",
        "approved_by",
    ]


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "killed"), ("source", "human"), ("kind", "strategy"), ("allocated_capital", "-1")],
)
def test_check_constraints(conn: duckdb.DuckDBPyConnection, column: str, value: str) -> None:
    ensure_registry_schema(conn)
    row = {
        "process_id": "x_y",
        "valid_from": "2026-01-01",
        "status": "TESTING",
        "source": "catalog",
        "kind": "process",
        "name": "x",
        "allocated_capital": "0",
        "document": "{}",
        column: value,
    }
    names = ", ".join(row)
    with pytest.raises(duckdb.ConstraintException):
        conn.execute(
            f"INSERT INTO registry.processes ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values())
        )


# --------------------------------------------------------------------------------------------- sync


def test_sync_shipped_catalog(conn: duckdb.DuckDBPyConnection) -> None:
    result = sync_catalog(conn, load_catalog(DEFAULT_CATALOG_PATH))
    assert result == SyncResult(inserted=4, updated=0, unchanged=0, closed=0)

    entries = registry_as_of(conn, START)
    assert [e.process_id for e in entries] == [*SANDBOX_IDS, UNATTRIBUTED]
    by_id = {e.process_id: e for e in entries}
    assert by_id["edge_momentum"].allocated_capital == Decimal(20000)
    assert by_id["noise_scalper"].allocated_capital == Decimal(10000)
    edge = by_id["edge_momentum"]
    assert (edge.source, edge.kind, edge.status, edge.link_prefix) == ("catalog", "process", "TESTING", "edge")
    assert edge.valid_from == START and edge.valid_to is None
    assert edge.document["kill_conditions"]["max_drawdown_ratio"] == "0.25"
    assert edge.document["measurement"] == {"metric": "total", "benchmark": "0", "horizon_days": 30}
    assert "sandbox" in edge.document["description"].lower()

    system = by_id[UNATTRIBUTED]
    assert (system.kind, system.source, system.status) == ("system", "system", "TESTING")
    assert system.allocated_capital == 0 and system.link_prefix is None
    assert system.valid_from == START and system.valid_to is None

    prefixes = link_prefixes_as_of(conn, START)
    assert prefixes == {"edge": "edge_momentum", "loser": "loser_meanrev", "noise": "noise_scalper"}
    assert process_for_link_id("loser-20260101-00001", prefixes) == "loser_meanrev"
    assert process_for_link_id("manual-7", prefixes) == UNATTRIBUTED


def test_unattributed_is_always_included(conn: duckdb.DuckDBPyConnection) -> None:
    sync_catalog(conn, load_catalog(DEFAULT_CATALOG_PATH))
    before = registry_as_of(conn, START - timedelta(days=400))
    assert [e.process_id for e in before] == [UNATTRIBUTED]
    assert link_prefixes_as_of(conn, START - timedelta(days=1)) == {}


def test_sync_twice_leaves_the_table_identical(db: Path) -> None:
    catalog = load_catalog(DEFAULT_CATALOG_PATH)
    with writer(db) as conn:
        sync_catalog(conn, catalog)
        first, first_physical = _table(conn), _physical(conn)
        log_first = conn.execute("SELECT * FROM registry.status_changes").fetchall()
    with writer(db) as conn:  # a new process, a reopened file
        again = sync_catalog(conn, load_catalog(DEFAULT_CATALOG_PATH))
        assert again == SyncResult(inserted=0, updated=0, unchanged=4, closed=0)
        assert _table(conn) == first
        assert _physical(conn) == first_physical
        assert conn.execute("SELECT * FROM registry.status_changes").fetchall() == log_first
    assert len(first) == 4


def test_sync_order_is_deterministic_whatever_the_file_order(tmp_path: Path) -> None:
    a = _version("alpha_one", "alpha", 100, date(2026, 1, 1))
    a2 = _version("alpha_one", "alpha", 200, date(2026, 2, 1))
    b = _version("beta_two", "beta", 300, date(2026, 1, 5))
    tables = []
    for name, order in (("x", [a, a2, b]), ("y", [b, a2, a])):
        with writer(tmp_path / f"{name}.duckdb") as conn:
            sync_catalog(conn, _catalog(*order))
            tables.append(_physical(conn))
    assert tables[0] == tables[1]
    assert [(r[0], r[1]) for r in tables[0]] == [
        ("alpha_one", date(2026, 1, 1)),
        ("alpha_one", date(2026, 2, 1)),
        ("beta_two", date(2026, 1, 5)),
        (UNATTRIBUTED, date(2026, 1, 1)),
    ]


def test_capital_change_on_a_date_seen_as_of(conn: duckdb.DuckDBPyConnection) -> None:
    d = date(2026, 2, 1)
    catalog = _catalog(
        _version("alpha_one", "alpha", 20000, date(2026, 1, 1)),
        _version("alpha_one", "alpha", "35000.25", d),
        _version("beta_two", "beta", 5000, date(2026, 1, 1)),
    )
    assert sync_catalog(conn, catalog) == SyncResult(inserted=4, updated=0, unchanged=0, closed=0)
    assert _as_of(conn, d - timedelta(days=1))["alpha_one"] == ("TESTING", Decimal(20000))
    assert _as_of(conn, d)["alpha_one"] == ("TESTING", Decimal("35000.25"))
    assert _as_of(conn, d + timedelta(days=365))["alpha_one"] == ("TESTING", Decimal("35000.25"))
    old = next(e for e in registry_as_of(conn, d - timedelta(days=1)) if e.process_id == "alpha_one")
    assert (old.valid_from, old.valid_to) == (date(2026, 1, 1), d)

    # The SQL macro gives the same rows, with a DATE or a string argument.
    for arg in ("DATE '2026-01-31'", "'2026-01-31'"):
        sql = conn.execute(
            f"SELECT process_id, allocated_capital FROM registry.processes_as_of({arg}) ORDER BY process_id"
        ).fetchall()
        assert sql == [("alpha_one", Decimal(20000)), ("beta_two", Decimal(5000)), (UNATTRIBUTED, Decimal(0))]
    joined = conn.execute(
        "SELECT r.allocated_capital FROM (SELECT DATE '2026-02-01' AS d) days, "
        "LATERAL (SELECT * FROM registry.processes_as_of(days.d)) r WHERE r.process_id = 'alpha_one'"
    ).fetchall()
    assert joined == [(Decimal("35000.25"),)]


def test_editing_a_version_then_resyncing_replaces_it(conn: duckdb.DuckDBPyConnection) -> None:
    v1 = _version("alpha_one", "alpha", 1000, date(2026, 1, 1))
    sync_catalog(conn, _catalog(v1))
    edited = {**v1, "allocated_capital": 1200, "description": "clearer words", "status": "SCALING"}
    assert sync_catalog(conn, _catalog(edited)) == SyncResult(inserted=0, updated=1, unchanged=1, closed=0)
    rows = conn.execute(
        "SELECT process_id, valid_from, status, allocated_capital, document->>'description' "
        "FROM registry.processes WHERE process_id = 'alpha_one'"
    ).fetchall()
    assert rows == [("alpha_one", date(2026, 1, 1), "SCALING", Decimal(1200), "clearer words")]

    # Adding a version closes the previous one; removing it re-opens it.
    v2 = _version("alpha_one", "alpha", 3000, date(2026, 3, 1))
    assert sync_catalog(conn, _catalog(edited, v2)) == SyncResult(inserted=1, updated=0, unchanged=1, closed=1)
    assert conn.execute(
        "SELECT valid_to FROM registry.processes WHERE process_id = 'alpha_one' ORDER BY valid_from"
    ).fetchall() == [(date(2026, 3, 1),), (None,)]
    assert sync_catalog(conn, _catalog(edited)) == SyncResult(inserted=0, updated=0, unchanged=1, closed=1, removed=1)
    assert conn.execute("SELECT count(*) FROM registry.processes WHERE process_id = 'alpha_one'").fetchone() == (1,)


def test_a_process_removed_from_the_file_is_removed(conn: duckdb.DuckDBPyConnection) -> None:
    a = _version("alpha_one", "alpha", 1, date(2026, 1, 1))
    b = _version("beta_two", "beta", 1, date(2025, 12, 1))
    sync_catalog(conn, _catalog(a, b))
    assert [e.process_id for e in registry_as_of(conn, date(2026, 1, 1))] == ["alpha_one", "beta_two", UNATTRIBUTED]
    # unattributed starts at the catalog's earliest valid_from and moves with it.
    result = sync_catalog(conn, _catalog(a))
    assert result == SyncResult(inserted=1, updated=0, unchanged=1, closed=0, removed=2)
    assert conn.execute("SELECT process_id, valid_from FROM registry.processes ORDER BY process_id").fetchall() == [
        ("alpha_one", date(2026, 1, 1)),
        (UNATTRIBUTED, date(2026, 1, 1)),
    ]


# --------------------------------------------------------------------------------------------- status


def test_status_change_effective_next_day(conn: duckdb.DuckDBPyConnection) -> None:
    sync_catalog(conn, load_catalog(DEFAULT_CATALOG_PATH))
    d = date(2026, 2, 10)
    record_status_change(
        conn,
        process_id="loser_meanrev",
        to_status="KILLED",
        effective=d + timedelta(days=1),
        source="selector",
        reason="DSR 0.02 < 0.95 after 40 runs",
    )
    assert _as_of(conn, d)["loser_meanrev"] == ("TESTING", Decimal(20000))
    assert _as_of(conn, d + timedelta(days=1))["loser_meanrev"] == ("KILLED", Decimal(20000))
    killed = next(e for e in registry_as_of(conn, d + timedelta(days=1)) if e.process_id == "loser_meanrev")
    assert (killed.source, killed.link_prefix, killed.valid_from, killed.valid_to) == (
        "selector",
        "loser",
        d + timedelta(days=1),
        None,
    )
    assert killed.document["status"] == "KILLED"
    assert killed.document["description"].startswith("Simulated process")
    # A killed process still owns its orders.
    assert link_prefixes_as_of(conn, d + timedelta(days=1))["loser"] == "loser_meanrev"
    # Other processes are untouched.
    assert _as_of(conn, d + timedelta(days=1))["edge_momentum"] == ("TESTING", Decimal(20000))

    log = conn.execute("SELECT * FROM registry.status_changes").fetchall()
    assert log == [
        ("loser_meanrev", d + timedelta(days=1), "TESTING", "KILLED", "selector", "DSR 0.02 < 0.95 after 40 runs", None)
    ]

    # Idempotent for the same (process, effective, status): nothing changes, nothing is logged twice.
    table = _physical(conn)
    record_status_change(
        conn,
        process_id="loser_meanrev",
        to_status="KILLED",
        effective=d + timedelta(days=1),
        source="selector",
        reason="DSR 0.02 < 0.95 after 40 runs",
    )
    assert _physical(conn) == table
    assert conn.execute("SELECT count(*) FROM registry.status_changes").fetchone() == (1,)


def test_selector_rows_survive_a_resync(conn: duckdb.DuckDBPyConnection) -> None:
    catalog = load_catalog(DEFAULT_CATALOG_PATH)
    sync_catalog(conn, catalog)
    effective = date(2026, 1, 20)
    record_status_change(
        conn,
        process_id="edge_momentum",
        to_status="SCALING",
        effective=effective,
        source="selector",
        reason="PSR 0.99",
        approved_by="alice",
    )
    table = _table(conn)
    assert len(table) == 5
    assert sync_catalog(conn, catalog) == SyncResult(inserted=0, updated=0, unchanged=5, closed=0)
    assert _table(conn) == table
    assert _as_of(conn, effective)["edge_momentum"] == ("SCALING", Decimal(20000))
    assert _as_of(conn, effective - timedelta(days=1))["edge_momentum"] == ("TESTING", Decimal(20000))
    approved = next(e for e in registry_as_of(conn, effective) if e.process_id == "edge_momentum")
    assert approved.approved_by == "alice"


def test_a_later_catalog_version_bounds_a_status_change(conn: duckdb.DuckDBPyConnection) -> None:
    v1 = _version("alpha_one", "alpha", 1000, date(2026, 1, 1))
    sync_catalog(conn, _catalog(v1))
    record_status_change(
        conn, process_id="alpha_one", to_status="KILLED", effective=date(2026, 2, 1), source="selector", reason="r"
    )
    v2 = _version("alpha_one", "alpha", 500, date(2026, 3, 1), status="TESTING")
    result = sync_catalog(conn, _catalog(v1, v2))
    assert result == SyncResult(inserted=1, updated=0, unchanged=2, closed=1)
    assert conn.execute(
        "SELECT valid_from, valid_to, status, source FROM registry.processes "
        "WHERE process_id = 'alpha_one' ORDER BY valid_from"
    ).fetchall() == [
        (date(2026, 1, 1), date(2026, 2, 1), "TESTING", "catalog"),
        (date(2026, 2, 1), date(2026, 3, 1), "KILLED", "selector"),
        (date(2026, 3, 1), None, "TESTING", "catalog"),
    ]
    # A status change in the middle of history splits the version in force and keeps what follows.
    record_status_change(
        conn, process_id="alpha_one", to_status="SCALING", effective=date(2026, 1, 15), source="system", reason="r"
    )
    assert [(e.valid_from, e.valid_to) for e in registry_as_of(conn, date(2026, 1, 20)) if e.kind == "process"] == [
        (date(2026, 1, 15), date(2026, 2, 1))
    ]


def test_the_catalog_wins_an_exact_key_clash(conn: duckdb.DuckDBPyConnection) -> None:
    v1 = _version("alpha_one", "alpha", 1000, date(2026, 1, 1))
    sync_catalog(conn, _catalog(v1))
    record_status_change(
        conn, process_id="alpha_one", to_status="KILLED", effective=date(2026, 2, 1), source="selector", reason="r"
    )
    adopted = _version("alpha_one", "alpha", 1000, date(2026, 2, 1), status="KILLED", approved_by="bob")
    assert sync_catalog(conn, _catalog(v1, adopted)) == SyncResult(inserted=0, updated=1, unchanged=2, closed=0)
    row = conn.execute(
        "SELECT status, source, approved_by FROM registry.processes WHERE valid_from = DATE '2026-02-01'"
    ).fetchall()
    assert row == [("KILLED", "catalog", "bob")]
    # The log keeps the selector's decision.
    assert conn.execute("SELECT to_status, source FROM registry.status_changes").fetchall() == [("KILLED", "selector")]
    # A status change on the first day of a catalog version must be made in the file.
    with pytest.raises(RegistryConflictError, match="catalog version starting on 2026-02-01"):
        record_status_change(
            conn, process_id="alpha_one", to_status="retired", effective=date(2026, 2, 1), source="selector", reason="r"
        )


def test_a_prefix_clash_with_kept_rows_is_refused_and_nothing_written(conn: duckdb.DuckDBPyConnection) -> None:
    v1 = _version("alpha_one", "alpha", 1000, date(2026, 1, 1))
    sync_catalog(conn, _catalog(v1))
    record_status_change(
        conn, process_id="alpha_one", to_status="KILLED", effective=date(2026, 2, 1), source="selector", reason="r"
    )
    table = _physical(conn)
    with pytest.raises(RegistryConflictError, match="process 'alpha_one': link_prefix"):
        sync_catalog(conn, _catalog({**v1, "link_prefix": "alpha2"}))
    assert _physical(conn) == table
    # Another process taking the kept row's prefix is refused too.
    with pytest.raises(RegistryConflictError, match="prefix clash"):
        sync_catalog(conn, _catalog(_version("gamma_three", "ALPHA", 1, date(2026, 1, 1))))
    assert _physical(conn) == table


def test_record_status_change_refusals(conn: duckdb.DuckDBPyConnection) -> None:
    sync_catalog(conn, load_catalog(DEFAULT_CATALOG_PATH))
    table = _physical(conn)
    common: dict[str, Any] = {"effective": date(2026, 1, 2), "reason": "r"}
    with pytest.raises(ValueError, match="system process"):
        record_status_change(conn, process_id=UNATTRIBUTED, to_status="KILLED", source="selector", **common)
    with pytest.raises(ValueError, match="editing the catalog file"):
        record_status_change(conn, process_id="edge_momentum", to_status="KILLED", source="catalog", **common)
    with pytest.raises(ValueError, match="not one of"):
        record_status_change(conn, process_id="edge_momentum", to_status="dead", source="selector", **common)
    with pytest.raises(RegistryConflictError, match="no registry version in force on 2025-12-01"):
        record_status_change(
            conn,
            process_id="edge_momentum",
            to_status="KILLED",
            effective=date(2025, 12, 1),
            source="selector",
            reason="r",
        )
    with pytest.raises(RegistryConflictError, match="'nope_x'"):
        record_status_change(conn, process_id="nope_x", to_status="KILLED", source="selector", **common)
    assert _physical(conn) == table


def test_writes_join_the_callers_transaction(db: Path) -> None:
    with writer(db) as conn:
        with transaction(conn):  # a fresh file: the schema, the macro and the rows in one transaction
            result = sync_catalog(conn, load_catalog(DEFAULT_CATALOG_PATH))
        assert result.inserted == 4
        assert conn.execute("SELECT count(*) FROM registry.processes_as_of(DATE '2026-01-01')").fetchone() == (4,)
        table = _physical(conn)
        with pytest.raises(RuntimeError, match="selector failed later"), transaction(conn):
            record_status_change(
                conn,
                process_id="noise_scalper",
                to_status="KILLED",
                effective=date(2026, 3, 1),
                source="selector",
                reason="r",
            )
            raise RuntimeError("selector failed later")
        assert _physical(conn) == table
        assert conn.execute("SELECT count(*) FROM registry.status_changes").fetchone() == (0,)


def test_readers_can_use_a_read_only_connection(db: Path) -> None:
    with writer(db) as conn:
        sync_catalog(conn, load_catalog(DEFAULT_CATALOG_PATH))
    ro = connect(db, read_only=True)
    try:
        assert [e.process_id for e in registry_as_of(ro, START)] == [*SANDBOX_IDS, UNATTRIBUTED]
        assert ro.execute("SELECT count(*) FROM registry.processes_as_of(DATE '2025-12-29')").fetchone() == (4,)
    finally:
        ro.close()
