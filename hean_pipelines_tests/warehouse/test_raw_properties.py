"""Property: random pages (subsets, duplicates, any order) upserted in any order give the same table."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import writer
from hean_pipelines.warehouse.raw_load import RawKind, upsert_raw
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

POOL = 12


def _execution(i: int) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT" if i % 3 else "ETHUSDT",
        "orderId": f"order-{i // 2}",
        "orderLinkId": "alpha-1" if i % 2 else "",
        "side": "Buy" if i % 4 < 2 else "Sell",
        "execId": f"exec-{i:03d}",
        "execPrice": f"{30000 + i}.{i:02d}",
        "execQty": f"0.{i + 1:03d}",
        "execValue": "1",
        "execFee": f"-0.{i:06d}" if i % 5 == 0 else f"0.{i:06d}",
        "feeRate": "0.0006",
        "execType": "Funding" if i % 7 == 0 else "Trade",
        "execTime": str(1_700_000_000_000 + 1000 * (i // 3)),  # equal times on purpose
        "isMaker": i % 2 == 0,
        "seq": 100 + i // 3,
    }


def _order(i: int, version: int) -> dict[str, Any]:
    status = ("New", "PartiallyFilled", "Filled")[version]
    return {
        "orderId": f"order-{i}",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderStatus": status,
        "cumExecQty": str(version),
        "createdTime": "1700000000000",
        "updatedTime": str(1_700_000_000_000 + 10 * version),
    }


@contextmanager
def _two_fresh_databases() -> Iterator[tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]]:
    """Two new DuckDB files (hypothesis runs many examples per test, so not pytest's tmp_path)."""
    with (
        tempfile.TemporaryDirectory(prefix="hean-prop-") as folder,
        writer(Path(folder) / "paged.duckdb") as paged,
        writer(Path(folder) / "ref.duckdb") as ref,
    ):
        ensure_raw_schema(paged)
        ensure_raw_schema(ref)
        yield paged, ref


pages_of_indices = st.lists(
    st.lists(st.integers(min_value=0, max_value=POOL - 1), min_size=0, max_size=2 * POOL),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=pages_of_indices)
def test_execution_pages_in_any_order_give_the_same_table(pages: list[list[int]]) -> None:
    seen = sorted({i for page in pages for i in page})
    with _two_fresh_databases() as (paged, reference):
        inserted = 0
        for page in pages:
            result = upsert_raw(
                paged, RawKind.EXECUTIONS, [_execution(i) for i in page], account="main", category="linear"
            )
            assert result.received == len(page) == result.inserted + result.already_present
            inserted += result.inserted
        assert inserted == len(seen)
        upsert_raw(reference, RawKind.EXECUTIONS, [_execution(i) for i in seen], account="main", category="linear")
        assert table_checksum(paged, "raw.bybit_executions") == table_checksum(reference, "raw.bybit_executions")
        # And a full reload changes nothing.
        again = upsert_raw(paged, RawKind.EXECUTIONS, [_execution(i) for i in seen], account="main", category="linear")
        assert again.inserted == 0
        assert table_checksum(paged, "raw.bybit_executions") == table_checksum(reference, "raw.bybit_executions")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pages=st.lists(
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=8),
        min_size=1,
        max_size=5,
    )
)
def test_order_states_in_any_order_keep_the_latest(pages: list[list[tuple[int, int]]]) -> None:
    latest: dict[int, int] = {}
    for page in pages:
        for i, version in page:
            latest[i] = max(latest.get(i, -1), version)
    with _two_fresh_databases() as (paged, reference):
        for page in pages:
            upsert_raw(paged, RawKind.ORDERS, [_order(i, v) for i, v in page], account="m", category="linear")
        upsert_raw(
            reference,
            RawKind.ORDERS,
            [_order(i, v) for i, v in sorted(latest.items())],
            account="m",
            category="linear",
        )
        assert table_checksum(paged, "raw.bybit_orders") == table_checksum(reference, "raw.bybit_orders")
