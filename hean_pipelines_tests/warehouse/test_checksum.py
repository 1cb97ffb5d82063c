"""table_checksum: same content -> same checksum, whatever the layout; any change -> another checksum."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.warehouse.checksum import MISSING, raw_table_checksums, table_checksum
from hean_pipelines.warehouse.connection import writer
from hean_pipelines.warehouse.raw_schema import RAW_DATA_TABLES, ensure_raw_schema

DDL = "CREATE TABLE t (k VARCHAR, amount DECIMAL(38,18), ts TIMESTAMPTZ, j JSON, f DOUBLE)"
ROWS = [
    ("a", "1.5", "2024-01-01 00:00:00+00", '{"x":1}', 0.1),
    ("b", None, "2024-01-01 23:59:59.999+00", None, None),
    ("c", "-0.000000000000000001", None, "[]", 1e300),
    ("c", "-0.000000000000000001", None, "[]", 1e300),  # a duplicate row counts
]


def _table(path: Path, rows: Sequence[tuple[object, ...]], tz: str = "UTC") -> str:
    with writer(path) as conn:
        conn.execute(f"SET TimeZone = '{tz}'")
        conn.execute(DDL)
        for row in rows:
            conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", list(row))
        return table_checksum(conn, "t")


def test_same_content_same_checksum_whatever_the_order_or_time_zone(tmp_path: Path) -> None:
    a = _table(tmp_path / "a.duckdb", ROWS)
    b = _table(tmp_path / "b.duckdb", list(reversed(ROWS)), tz="Asia/Tokyo")
    assert a == b
    assert len(a) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda rows: rows[:-1],  # one duplicate fewer
        lambda rows: [("a", "1.500000000000000001", *rows[0][2:]), *rows[1:]],
        lambda rows: [("a", rows[0][1], "2024-01-01 00:00:00.000001+00", *rows[0][3:]), *rows[1:]],
        lambda rows: [("b", None, "2024-01-01 23:59:59.999+00", "null", None), *rows[0:1], *rows[2:]],
        lambda rows: [*rows, ("", None, None, None, None)],
    ],
)
def test_any_change_changes_the_checksum(tmp_path: Path, change: object) -> None:
    assert callable(change)
    assert _table(tmp_path / "a.duckdb", ROWS) != _table(tmp_path / "b.duckdb", change(ROWS))


def test_schema_is_part_of_the_checksum(tmp_path: Path) -> None:
    with writer(tmp_path / "x.duckdb") as conn:
        conn.execute("CREATE TABLE t1 (x INTEGER)")
        conn.execute("CREATE TABLE t2 (x BIGINT)")
        assert table_checksum(conn, "t1") != table_checksum(conn, "t2")
        with pytest.raises(LookupError):
            table_checksum(conn, "nope")


def test_raw_table_checksums_cover_the_data_tables_only(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "r.duckdb"))
    try:
        assert set(raw_table_checksums(conn).values()) == {MISSING}
        ensure_raw_schema(conn)
        sums = raw_table_checksums(conn)
        assert set(sums) == {t.name for t in RAW_DATA_TABLES}
        assert "raw.api_requests" not in sums
        assert MISSING not in sums.values()
    finally:
        conn.close()
