"""Documented columns come from the DDL itself: what a real file holds is what the UI shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from hean_pipelines.warehouse.table_docs import table_columns


def test_types_keys_and_nullability_match_a_real_warehouse_file(tmp_path: Path) -> None:
    from hean_pipelines.ledger.schema import ensure_ledger_schema
    from hean_pipelines.warehouse.connection import reader, writer

    db = tmp_path / "w.duckdb"
    with writer(db) as conn:
        ensure_ledger_schema(conn)
    with reader(db) as conn:
        real = conn.execute(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = 'ledger' AND table_name = 'positions' ORDER BY ordinal_position"
        ).fetchall()
    documented = table_columns("ledger.positions")
    assert [(c.name, c.type, c.nullable) for c in documented] == [tuple(r) for r in real]
    assert [c.name for c in documented if c.primary_key] == ["date", "account", "category", "symbol", "process_id"]
    assert {c.name: c.description for c in documented}["qty"] == "signed: + long, - short (spot: base coin held)"


def test_raw_columns_name_their_bybit_field() -> None:
    marks = {c.name: c.description for c in table_columns("raw.mark_prices")}
    assert marks["close"] == "Bybit kline list[4]"
    assert marks["day"] == "UTC date of the row's event time"


def test_an_unknown_table_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no table ledger\.nope .*ledger\.positions"):
        table_columns("ledger.nope")
