"""upsert_raw / log_api_requests against real DuckDB files: types, values, validation, idempotence."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hean_pipelines.warehouse.checksum import raw_table_checksums, table_checksum
from hean_pipelines.warehouse.connection import writer
from hean_pipelines.warehouse.raw_load import (
    KIND_TABLE,
    RawKind,
    RawValidationError,
    log_api_requests,
    upsert_raw,
)
from hean_pipelines.warehouse.raw_schema import (
    EXECUTIONS,
    RAW_TABLES,
    ColType,
    ensure_raw_schema,
    snake_case,
)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(tmp_path / "hean.duckdb") as c:
        ensure_raw_schema(c)
        yield c


def _items(fixtures: Path, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((fixtures / name).read_text())["result"]["list"]
    return items


def _execution(exec_id: str, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "orderId": f"o-{exec_id}",
        "orderLinkId": "",
        "side": "Buy",
        "execId": exec_id,
        "execPrice": "30000.5",
        "execQty": "0.01",
        "execValue": "300.005",
        "execFee": "0.180003",
        "feeRate": "0.0006",
        "execType": "Trade",
        "execTime": "1700000000000",
        "isMaker": False,
        "seq": 1,
    }
    item.update(overrides)
    return item


# ------------------------------------------------------------------------------ schema


def test_every_documented_execution_field_has_a_typed_column(bybit_fixtures: Path) -> None:
    item = _items(bybit_fixtures, "bybitdocs_execution_list_example.json")[0]
    sources = {c.source for c in EXECUTIONS.source_columns}
    assert set(item) <= sources, set(item) - sources
    # Fields documented by Bybit but not in the docs' example response.
    assert {"createType", "execFeeV2"} <= sources
    assert len(EXECUTIONS.source_columns) == 30


def test_column_types(conn: duckdb.DuckDBPyConnection) -> None:
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = 'bybit_executions'"
        ).fetchall()
    )
    assert types["exec_fee"] == "DECIMAL(38,18)"
    assert types["fee_rate"] == "DECIMAL(38,18)"
    assert types["exec_price"] == "DECIMAL(38,12)"
    assert types["exec_qty"] == "DECIMAL(38,12)"
    assert types["exec_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["seq"] == "BIGINT"
    assert types["is_maker"] == "BOOLEAN"
    assert types["day"] == "DATE"
    assert types["raw_json"] == "JSON"
    assert types["exec_fee_v2"] == "DECIMAL(38,18)"


def test_snake_case() -> None:
    assert snake_case("execFeeV2") == "exec_fee_v2"
    assert snake_case("positionIMByMp") == "position_im_by_mp"
    assert snake_case("totalPerpUPL") == "total_perp_upl"
    assert snake_case("accountIMRate") == "account_im_rate"


def test_ensure_raw_schema_is_idempotent_and_adds_new_columns(conn: duckdb.DuckDBPyConnection) -> None:
    before = raw_table_checksums(conn)
    ensure_raw_schema(conn)
    assert raw_table_checksums(conn) == before
    conn.execute("ALTER TABLE raw.bybit_executions DROP COLUMN extra_fees")
    ensure_raw_schema(conn)
    cols = {r[0] for r in conn.execute("DESCRIBE raw.bybit_executions").fetchall()}
    assert "extra_fees" in cols
    names = {
        r[0]
        for r in conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema='raw'"
        ).fetchall()
    }
    assert names == {t.name for t in RAW_TABLES}


# ------------------------------------------------------------------------------ fixture values


def test_execution_fixture(conn: duckdb.DuckDBPyConnection, bybit_fixtures: Path) -> None:
    items = _items(bybit_fixtures, "bybitdocs_execution_list_example.json")
    result = upsert_raw(conn, RawKind.EXECUTIONS, items, account="main", category="linear")
    assert (result.table, result.received, result.inserted, result.already_present) == (
        "raw.bybit_executions",
        1,
        1,
        0,
    )
    row = conn.execute(
        "SELECT exec_id, account, category, symbol, exec_fee, exec_fee = 0.071409, exec_price * exec_qty, "
        "exec_value, fee_rate, exec_time, day, seq, is_maker, order_link_id, fee_currency, closed_size, "
        "stop_order_type, json_extract_string(raw_json, '$.execId') FROM raw.bybit_executions"
    ).fetchone()
    assert row is not None
    assert row[:4] == ("e0cbe81d-0f18-5866-9415-cf319b5dab3b", "main", "linear", "ETHPERP")
    assert row[4] == Decimal("0.071409") and row[5] is True
    assert row[6] == Decimal("119.015") == row[7]
    assert row[7] * row[8] == row[4]  # execFee = execValue × feeRate, exactly
    assert row[9] == datetime(2022, 12, 29, 2, 58, 42, 429000, tzinfo=UTC)
    assert row[10] == date(2022, 12, 29)
    assert row[11] == 4688002127
    assert row[12] is False
    assert row[13:16] == (None, None, None)  # "" means absent
    assert row[16] == "UNKNOWN"
    assert row[17] == "e0cbe81d-0f18-5866-9415-cf319b5dab3b"


def test_transaction_fixture(conn: duckdb.DuckDBPyConnection, bybit_fixtures: Path) -> None:
    items = _items(bybit_fixtures, "bybitdocs_transaction_log_example.json")
    assert items[0]["id"] == items[1]["id"]
    result = upsert_raw(conn, RawKind.TRANSACTIONS, items, account="main")
    assert (result.received, result.inserted, result.already_present) == (3, 3, 0)
    counts = conn.execute(
        "SELECT count(*), count(DISTINCT tx_key), count(DISTINCT id), "
        "count(*) FILTER (WHERE change = coalesce(cash_flow, 0) + coalesce(funding, 0) - coalesce(fee, 0)), "
        "count(*) FILTER (WHERE funding IS NULL) FROM raw.bybit_transactions"
    ).fetchone()
    assert counts == (3, 3, 2, 3, 2)
    balances = [
        r[0]
        for r in conn.execute(
            "SELECT cash_balance FROM raw.bybit_transactions ORDER BY transaction_time, cash_balance DESC"
        ).fetchall()
    ]
    assert balances == [Decimal("5086.58101322"), Decimal("5086.56192602"), Decimal("5086.55825002")]
    settlement = conn.execute(
        "SELECT type, funding, fee, category, day, length(tx_key) FROM raw.bybit_transactions WHERE type = 'SETTLEMENT'"
    ).fetchone()
    assert settlement == ("SETTLEMENT", Decimal("-0.003676"), Decimal("0"), "linear", date(2022, 12, 27), 64)


def test_closed_pnl_fixture(conn: duckdb.DuckDBPyConnection, bybit_fixtures: Path) -> None:
    items = _items(bybit_fixtures, "bybitdocs_closed_pnl_example.json")
    upsert_raw(conn, RawKind.CLOSED_PNL, items, account="main", category="linear")
    row = conn.execute(
        "SELECT cum_exit_value - cum_entry_value, closed_pnl, "
        "(cum_exit_value - cum_entry_value) - closed_pnl, open_fee, close_fee, fill_count, closed_size, "
        "avg_entry_price, created_time, category FROM raw.bybit_closed_pnl"
    ).fetchone()
    assert row is not None
    assert row[0] == Decimal("-43.1305")
    assert row[1] == Decimal("-47.4065323")
    # This (docs) response predates Bybit's openFee/closeFee fields: the fees are implied exactly.
    assert row[2] == Decimal("4.2760323")
    assert row[3:5] == (None, None)
    assert row[5:8] == (4, Decimal("3"), Decimal("1194.97516667"))
    assert row[8] == datetime(2022, 12, 28, 8, 8, 7, 231000, tzinfo=UTC)
    assert row[9] == "linear"


def test_closed_pnl_with_open_and_close_fee(conn: duckdb.DuckDBPyConnection, bybit_fixtures: Path) -> None:
    item = dict(_items(bybit_fixtures, "bybitdocs_closed_pnl_example.json")[0])
    item.update(openFee="2.1509553", closeFee="2.125077")  # a split of the fixture's 4.2760323
    upsert_raw(conn, RawKind.CLOSED_PNL, [item], account="main", category="linear")
    row = conn.execute(
        "SELECT open_fee + close_fee, cum_exit_value - cum_entry_value - open_fee - close_fee = closed_pnl "
        "FROM raw.bybit_closed_pnl"
    ).fetchone()
    assert row == (Decimal("4.2760323"), True)


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("overrides", "field", "value", "reason"),
    [
        ({"execId": None}, "execId", None, "required"),
        ({"execId": ""}, "execId", "", "required"),
        ({"execTime": ""}, "execTime", "", "required"),
        ({"execQty": ""}, "execQty", "", "required"),
        ({"execPrice": None}, "execPrice", None, "required"),
        ({"symbol": ""}, "symbol", "", "required"),
        ({"execType": ""}, "execType", "", "required"),
        ({"execFee": "abc"}, "execFee", "abc", "not a valid DECIMAL(38,18)"),
        ({"execPrice": "1,5"}, "execPrice", "1,5", "not a valid DECIMAL(38,12)"),
        ({"execQty": "0.0000000000001"}, "execQty", "0.0000000000001", "more than 12 decimal places"),
        ({"execTime": "1700000000000.5"}, "execTime", "1700000000000.5", "not an integer"),
        ({"seq": "x"}, "seq", "x", "not a valid BIGINT"),
        ({"isMaker": "maybe"}, "isMaker", "maybe", "not a boolean"),
    ],
)
def test_bad_items_are_rejected_before_any_write(
    conn: duckdb.DuckDBPyConnection, overrides: dict[str, Any], field: str, value: str | None, reason: str
) -> None:
    good = _execution("good-1")
    bad = _execution("bad-1", **overrides)
    if overrides.get(field, "") is None:
        del bad[field]
    before = table_checksum(conn, "raw.bybit_executions")
    with pytest.raises(RawValidationError) as info:
        upsert_raw(conn, RawKind.EXECUTIONS, [good, bad], account="main", category="linear", source="page-7")
    err = info.value
    assert (err.source, err.field, err.row, err.value) == ("page-7", field, 1, value)
    assert reason in err.reason
    message = str(err)
    assert "page-7" in message and repr(field) in message and "row 1" in message
    if value:
        assert repr(value) in message
    assert table_checksum(conn, "raw.bybit_executions") == before


def test_optional_empty_strings_are_null(conn: duckdb.DuckDBPyConnection) -> None:
    item = _execution("e1", execFee="", feeRate="", markPrice="", orderLinkId="", createType="")
    upsert_raw(conn, RawKind.EXECUTIONS, [item], account="main", category="linear")
    row = conn.execute(
        "SELECT exec_fee, fee_rate, mark_price, order_link_id, create_type FROM raw.bybit_executions"
    ).fetchone()
    assert row == (None, None, None, None, None)


def test_unknown_fields_are_kept_in_raw_json(conn: duckdb.DuckDBPyConnection) -> None:
    item = _execution("e1", newBybitField="42", nested={"b": 1, "a": [1, 2]})
    upsert_raw(conn, RawKind.EXECUTIONS, [item], account="main", category="linear")
    raw = conn.execute("SELECT CAST(raw_json AS VARCHAR) FROM raw.bybit_executions").fetchone()
    assert raw is not None
    assert json.loads(raw[0]) == item


def test_error_names_missing_request_parameters(conn: duckdb.DuckDBPyConnection) -> None:
    bars = [["1700000000000", "1", "2", "0.5", "1.5"]]
    with pytest.raises(RawValidationError, match="'symbol'"):
        upsert_raw(conn, RawKind.MARK_PRICE_KLINE, bars, account="main", category="linear", interval="60")
    with pytest.raises(RawValidationError, match="'as_of'"):
        upsert_raw(conn, RawKind.POSITIONS, [], account="main", category="linear")


# ------------------------------------------------------------------------------ idempotence, order


def test_reload_changes_nothing_and_counts_are_exact(conn: duckdb.DuckDBPyConnection) -> None:
    first = [_execution(f"e{i}") for i in range(5)]
    r1 = upsert_raw(conn, RawKind.EXECUTIONS, first, account="main", category="linear")
    snapshot = table_checksum(conn, "raw.bybit_executions")
    r2 = upsert_raw(conn, RawKind.EXECUTIONS, first, account="main", category="linear")
    assert table_checksum(conn, "raw.bybit_executions") == snapshot
    overlap = [*first[3:], _execution("e5"), _execution("e5"), _execution("e6")]
    r3 = upsert_raw(conn, RawKind.EXECUTIONS, overlap, account="main", category="linear")
    assert (r1.inserted, r1.already_present) == (5, 0)
    assert (r2.inserted, r2.already_present) == (0, 5)
    assert (r3.received, r3.inserted, r3.already_present) == (5, 2, 3)
    assert conn.execute("SELECT count(*) FROM raw.bybit_executions").fetchone() == (7,)
    assert upsert_raw(conn, RawKind.EXECUTIONS, [], account="main").inserted == 0


def test_arrival_order_does_not_change_the_table(tmp_path: Path, bybit_fixtures: Path) -> None:
    items = _items(bybit_fixtures, "bybitdocs_transaction_log_example.json")
    sums = []
    for name, order in (("a", [0, 1, 2]), ("b", [2, 0, 1])):
        with writer(tmp_path / f"{name}.duckdb") as c:
            for i in order:
                upsert_raw(c, RawKind.TRANSACTIONS, [items[i]], account="main")
            sums.append(raw_table_checksums(c))
    assert sums[0] == sums[1]


def test_rows_are_stored_in_key_order(conn: duckdb.DuckDBPyConnection) -> None:
    upsert_raw(conn, RawKind.EXECUTIONS, [_execution(i) for i in "cab"], account="main", category="x")
    stored = [r[0] for r in conn.execute("SELECT exec_id FROM raw.bybit_executions").fetchall()]
    assert stored == ["a", "b", "c"]


def _order(status: str, updated: str, **extra: Any) -> dict[str, Any]:
    return {
        "orderId": "o-1",
        "orderLinkId": "alpha-1",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderStatus": status,
        "price": "30000",
        "qty": "0.01",
        "createdTime": "1700000000000",
        "updatedTime": updated,
        "cumFeeDetail": {"USDT": "0.18"},
        "reduceOnly": False,
        "positionIdx": 0,
        **extra,
    }


def test_orders_keep_the_latest_state(conn: duckdb.DuckDBPyConnection) -> None:
    new, filled = _order("New", "1700000000001"), _order("Filled", "1700000000500")
    assert upsert_raw(conn, RawKind.ORDERS, [new], account="main", category="linear").inserted == 1
    r = upsert_raw(conn, RawKind.ORDERS, [filled], account="main", category="linear")
    assert (r.inserted, r.already_present) == (0, 1)
    stale = upsert_raw(conn, RawKind.ORDERS, [new], account="main", category="linear")  # arrives late
    assert (stale.inserted, stale.already_present) == (0, 1)
    row = conn.execute(
        "SELECT order_status, updated_time, CAST(cum_fee_detail AS VARCHAR), reduce_only, day FROM raw.bybit_orders"
    ).fetchone()
    assert row == (
        "Filled",
        datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC),
        '{"USDT":"0.18"}',
        False,
        date(2023, 11, 14),
    )


def test_mark_price_bars(conn: duckdb.DuckDBPyConnection) -> None:
    mark = ["1700000000000", "100.5", "101", "99.25", "100"]
    kw: dict[str, Any] = {"account": "main", "category": "linear", "symbol": "BTCUSDT", "interval": "60"}
    trade = [*mark[:4], "100.1", "12.5", "1251.25"]
    upsert_raw(conn, RawKind.KLINE, [trade], **kw)
    assert conn.execute("SELECT source, close, volume FROM raw.mark_prices").fetchone() == (
        "kline",
        Decimal("100.1"),
        Decimal("12.5"),
    )
    r = upsert_raw(conn, RawKind.MARK_PRICE_KLINE, [mark], **kw)  # a mark bar replaces a trade bar
    assert (r.inserted, r.already_present) == (0, 1)
    upsert_raw(conn, RawKind.KLINE, [trade], **kw)  # ... and is never replaced by one
    row = conn.execute("SELECT source, open, high, low, close, volume, turnover, day FROM raw.mark_prices")
    assert row.fetchone() == (
        "mark-price-kline",
        Decimal("100.5"),
        Decimal("101"),
        Decimal("99.25"),
        Decimal("100"),
        None,
        None,
        date(2023, 11, 14),
    )
    # The same symbol in another category is another series.
    upsert_raw(conn, RawKind.KLINE, [trade], **{**kw, "category": "spot"})
    assert conn.execute("SELECT count(*) FROM raw.mark_prices").fetchone() == (2,)
    with pytest.raises(RawValidationError, match=r"list\[5\] \(volume\)"):
        upsert_raw(conn, RawKind.KLINE, [mark], **kw)


def test_snapshots(conn: duckdb.DuckDBPyConnection) -> None:
    as_of = datetime(2024, 1, 1, tzinfo=UTC)
    position = {"positionIdx": 0, "symbol": "BTCUSDT", "side": "Buy", "size": "0.5", "avgPrice": "42000.1"}
    upsert_raw(conn, RawKind.POSITIONS, [position], account="main", category="linear", as_of=as_of)
    assert conn.execute("SELECT as_of, size, avg_price, day FROM raw.positions_snapshot").fetchone() == (
        as_of,
        Decimal("0.5"),
        Decimal("42000.1"),
        date(2024, 1, 1),
    )
    wallet = {
        "accountType": "UNIFIED",
        "totalEquity": "10",
        "coin": [{"coin": "USDT", "walletBalance": "10"}],
    }
    r = upsert_raw(conn, RawKind.WALLET_BALANCE, [wallet], account="main", as_of=as_of, source="live")
    assert (r.received, r.inserted) == (1, 1)
    row = conn.execute(
        "SELECT coin, wallet_balance, total_equity, account_type, source FROM raw.wallet_balance_snapshot"
    ).fetchone()
    assert row == ("USDT", Decimal("10"), Decimal("10"), "UNIFIED", "live")
    with pytest.raises(ValueError, match="timezone-aware"):
        upsert_raw(conn, RawKind.WALLET_BALANCE, [wallet], account="main", as_of=datetime(2024, 1, 1))


def test_log_api_requests(conn: duckdb.DuckDBPyConnection) -> None:
    record = {
        "request_id": "5b0a7f0e-0000-4000-8000-000000000001",
        "ts": datetime(2024, 1, 1, 0, 0, 1, 250000, tzinfo=UTC),
        "endpoint": "/v5/execution/list",
        "method": "GET",
        "status": 200,
        "ret_code": 0,
        "ret_msg": "OK",
        "latency_seconds": 0.125,
        "retries": 1,
        "rows": 100,
        "account": "main",
        "run_id": None,
    }
    assert log_api_requests(conn, [record, {**record, "request_id": None, "status": None}]) == 2
    assert log_api_requests(conn, [record]) == 0
    row = conn.execute(
        "SELECT ts, status, ret_code, latency_seconds, retries, rows FROM raw.api_requests "
        "WHERE request_id = '5b0a7f0e-0000-4000-8000-000000000001'"
    ).fetchone()
    assert row == (datetime(2024, 1, 1, 0, 0, 1, 250000, tzinfo=UTC), 200, 0, 0.125, 1, 100)
    with pytest.raises(RawValidationError, match="'endpoint'"):
        log_api_requests(conn, [{**record, "request_id": "x", "endpoint": ""}])


def test_every_kind_maps_to_a_table_with_a_key() -> None:
    for kind in RawKind:
        table = KIND_TABLE[kind]
        assert set(table.key) <= set(table.column_names)
        assert all(c.type in ColType for c in table.columns)


def _sha(parts: list[str | None]) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


def test_synthetic_keys_are_the_documented_canonical_hashes(
    conn: duckdb.DuckDBPyConnection, bybit_fixtures: Path
) -> None:
    items = _items(bybit_fixtures, "bybitdocs_transaction_log_example.json")
    upsert_raw(conn, RawKind.TRANSACTIONS, items, account="main")
    trade = items[1]
    expected = _sha(
        [
            "main",
            trade["id"],
            "TRADE",
            "USDT",
            "1672121182224",
            trade["tradeId"],
            trade["orderId"],
            "-0.019087200000000000",  # change as DECIMAL(38,18) text
            "5086.561926020000000000",  # cashBalance as DECIMAL(38,18) text
        ]
    )
    assert conn.execute("SELECT count(*) FROM raw.bybit_transactions WHERE tx_key = ?", [expected]).fetchone() == (1,)
    closed = _items(bybit_fixtures, "bybitdocs_closed_pnl_example.json")
    upsert_raw(conn, RawKind.CLOSED_PNL, closed, account="main", category="linear")
    expected_closed = _sha(["main", closed[0]["orderId"], "1672214887231", "1672214887236", "3.000000000000"])
    assert conn.execute("SELECT closed_pnl_key FROM raw.bybit_closed_pnl").fetchone() == (expected_closed,)


def test_transaction_rows_sharing_id_type_and_time_stay_distinct(conn: duckdb.DuckDBPyConnection) -> None:
    base = {
        "id": "same-id",
        "type": "TRADE",
        "currency": "USDT",
        "transactionTime": "1700000000000",
        "change": "-1",
        "cashFlow": "0",
        "fee": "1",
        "cashBalance": "100",
        "tradeId": "t-1",
        "orderId": "o-1",
    }
    rows = [base, {**base, "tradeId": "t-2", "cashBalance": "99"}, {**base, "change": "-2", "fee": "2"}]
    result = upsert_raw(conn, RawKind.TRANSACTIONS, rows, account="main", category="linear")
    assert (result.inserted, result.already_present) == (3, 0)
    # The same rows for another account are other rows.
    assert upsert_raw(conn, RawKind.TRANSACTIONS, rows, account="sub-1").inserted == 3
