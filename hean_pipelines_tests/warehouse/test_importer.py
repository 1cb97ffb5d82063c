"""import_files: recorded v5 responses -> raw tables, one transaction per file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hean_pipelines.warehouse.checksum import raw_table_checksums
from hean_pipelines.warehouse.connection import writer
from hean_pipelines.warehouse.importer import (
    RecordedImportError,
    detect_kind,
    import_files,
    infer_interval,
)
from hean_pipelines.warehouse.raw_load import RawKind
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

FIXTURES = (
    "bybitdocs_execution_list_example.json",
    "bybitdocs_transaction_log_example.json",
    "bybitdocs_closed_pnl_example.json",
)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(tmp_path / "hean.duckdb") as c:
        yield c


@pytest.fixture
def fixture_files(bybit_fixtures: Path) -> list[Path]:
    return [bybit_fixtures / name for name in FIXTURES]


def _response(items: list[Any], **result: Any) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": {**result, "list": items}, "retExtInfo": {}, "time": 1}


def _write(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload) if not isinstance(payload, str) else payload)
    return path


def test_imports_the_reference_responses(conn: duckdb.DuckDBPyConnection, fixture_files: list[Path]) -> None:
    report = import_files(conn, fixture_files, account="main")
    assert [(f.kind, f.rows, f.inserted, f.already_present, f.skipped) for f in report.files] == [
        (RawKind.EXECUTIONS, 1, 1, 0, None),
        (RawKind.TRANSACTIONS, 3, 3, 0, None),
        (RawKind.CLOSED_PNL, 1, 1, 0, None),
    ]
    assert conn.execute("SELECT exec_fee, category FROM raw.bybit_executions").fetchone() == (
        Decimal("0.071409"),
        "linear",
    )
    assert conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE change = coalesce(cash_flow, 0) + coalesce(funding, 0) "
        "- coalesce(fee, 0)) FROM raw.bybit_transactions"
    ).fetchone() == (3, 3)
    assert conn.execute(
        "SELECT cum_exit_value - cum_entry_value, cum_exit_value - cum_entry_value - closed_pnl "
        "FROM raw.bybit_closed_pnl"
    ).fetchone() == (Decimal("-43.1305"), Decimal("4.2760323"))
    assert "3 file(s) imported, 0 skipped: 5 rows, 5 inserted, 0 already present" in report.render()


def test_importing_twice_changes_nothing(conn: duckdb.DuckDBPyConnection, fixture_files: list[Path]) -> None:
    import_files(conn, fixture_files)
    first = raw_table_checksums(conn)
    again = import_files(conn, fixture_files)
    assert raw_table_checksums(conn) == first
    assert again.inserted == 0 and again.already_present == 5


def test_import_order_does_not_matter(tmp_path: Path, fixture_files: list[Path]) -> None:
    sums = []
    for name, files in (("a", fixture_files), ("b", list(reversed(fixture_files)))):
        with writer(tmp_path / f"{name}.duckdb") as c:
            import_files(c, files)
            sums.append(raw_table_checksums(c))
    assert sums[0] == sums[1]


def _execution_response(bybit_fixtures: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((bybit_fixtures / FIXTURES[0]).read_text())
    return loaded


@pytest.mark.parametrize(
    ("name", "mutate", "field"),
    [
        ("bad.json", None, "<json>"),
        ("no_exec_id.json", lambda r: r["result"]["list"][0].pop("execId"), "execId"),
        ("abc_fee.json", lambda r: r["result"]["list"][0].update(execFee="abc"), "execFee"),
        ("error.json", lambda r: r.update(retCode=10003, retMsg="API key is invalid."), "retCode"),
        ("no_category.json", lambda r: r["result"].pop("category"), "result.category"),
    ],
)
def test_malformed_files_raise_and_write_nothing(
    tmp_path: Path,
    conn: duckdb.DuckDBPyConnection,
    fixture_files: list[Path],
    bybit_fixtures: Path,
    name: str,
    mutate: Any,
    field: str,
) -> None:
    import_files(conn, fixture_files[1:])  # something already stored
    before = raw_table_checksums(conn)
    if mutate is None:
        path = _write(tmp_path / name, '{"retCode": 0, "result": {"list": [')
    else:
        response = _execution_response(bybit_fixtures)
        second = dict(response["result"]["list"][0], execId="another-exec-id")
        response["result"]["list"].insert(0, second)  # a good row before the bad one: not written either
        mutate(response)
        path = _write(tmp_path / name, response)
    with pytest.raises(RecordedImportError) as info:
        import_files(conn, [path])
    err = info.value
    assert err.file == path and err.field == field
    assert str(path) in str(err) and repr(field) in str(err)
    assert raw_table_checksums(conn) == before


def test_a_bad_file_keeps_the_files_before_it(
    tmp_path: Path, conn: duckdb.DuckDBPyConnection, fixture_files: list[Path]
) -> None:
    bad = _write(tmp_path / "bad.json", "{")
    with pytest.raises(RecordedImportError) as info:
        import_files(conn, [fixture_files[0], bad, fixture_files[1]])
    assert [f.path for f in info.value.completed] == [fixture_files[0]]
    assert conn.execute("SELECT count(*) FROM raw.bybit_executions").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM raw.bybit_transactions").fetchone() == (0,)


def test_non_v5_json_is_skipped(tmp_path: Path, conn: duckdb.DuckDBPyConnection, bybit_fixtures: Path) -> None:
    ensure_raw_schema(conn)
    before = raw_table_checksums(conn)
    files = [
        bybit_fixtures / "pybit_signature_vectors.json",  # a JSON list, not a response
        _write(tmp_path / "other.json", {"hello": "world"}),
        _write(tmp_path / "time.json", {"retCode": 0, "retMsg": "OK", "result": {"timeSecond": "1"}}),
        _write(tmp_path / "empty.json", _response([], category="linear")),
    ]
    report = import_files(conn, files)
    assert [f.kind for f in report.files] == [None, None, None, None]
    assert all(f.skipped for f in report.files)
    assert "no retCode/result" in (report.files[0].skipped or "")
    assert "skipped" in report.render()
    assert raw_table_checksums(conn) == before


def test_detects_every_kind(tmp_path: Path, conn: duckdb.DuckDBPyConnection) -> None:
    bars5 = [["1700003600000", "2", "3", "1", "2.5"], ["1700000000000", "1", "2", "0.5", "2"]]
    bars7 = [[*b, "10", "20"] for b in bars5]
    order = {
        "orderId": "o1",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderStatus": "Filled",
        "createdTime": "1700000000000",
        "updatedTime": "1700000000001",
    }
    position = {"positionIdx": 0, "symbol": "BTCUSDT", "size": "0", "side": ""}
    wallet = {"accountType": "UNIFIED", "coin": [{"coin": "USDT", "walletBalance": "100"}]}
    files = [
        _write(tmp_path / "mark.json", _response(bars5, symbol="BTCUSDT", category="linear")),
        _write(tmp_path / "kline.json", _response(bars7, symbol="BTCUSDT", category="spot")),
        _write(tmp_path / "orders.json", _response([order], category="linear")),
        _write(tmp_path / "positions.json", _response([position], category="linear")),
        _write(tmp_path / "wallet.json", _response([wallet])),
    ]
    report = import_files(conn, files)
    assert [f.kind for f in report.files] == [
        RawKind.MARK_PRICE_KLINE,
        RawKind.KLINE,
        RawKind.ORDERS,
        RawKind.POSITIONS,
        RawKind.WALLET_BALANCE,
    ]
    assert conn.execute(
        "SELECT category, source, interval, count(*) FROM raw.mark_prices GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [("linear", "mark-price-kline", "60", 2), ("spot", "kline", "60", 2)]
    assert conn.execute("SELECT source, epoch_ms(as_of) FROM raw.positions_snapshot").fetchone() == (
        "file:positions.json",
        1,
    )
    assert conn.execute("SELECT coin, wallet_balance FROM raw.wallet_balance_snapshot").fetchone() == (
        "USDT",
        Decimal("100"),
    )


def test_kind_override_and_single_bar_interval(tmp_path: Path, conn: duckdb.DuckDBPyConnection) -> None:
    one_bar = _write(tmp_path / "one.json", _response([["1700000000000", "1", "2", "0.5", "2"]], symbol="X"))
    with pytest.raises(RecordedImportError, match="'interval'"):
        import_files(conn, [one_bar])
    report = import_files(conn, [one_bar], interval="D")
    assert report.files[0].inserted == 1
    # --kind overrides detection: these bars are read as trade klines, which need volume/turnover.
    with pytest.raises(RecordedImportError, match=r"list\[5\] \(volume\)"):
        import_files(conn, [one_bar], kind=RawKind.KLINE, interval="D")


def test_detect_kind_and_interval_helpers() -> None:
    assert detect_kind({"list": [{"execId": "1"}]}) is RawKind.EXECUTIONS
    assert detect_kind({"list": [{"transactionTime": "1", "cashBalance": "1"}]}) is RawKind.TRANSACTIONS
    assert detect_kind({"list": [{"closedPnl": "1", "cumEntryValue": "1"}]}) is RawKind.CLOSED_PNL
    assert detect_kind({"list": []}) is None
    with pytest.raises(ValueError, match="different shapes"):
        detect_kind({"list": [{"execId": "1"}, ["1", "2", "3", "4", "5"]]})
    with pytest.raises(ValueError, match=r"5 \(mark price\) or 7"):
        detect_kind({"list": [["1", "2", "3"]]})
    # A row missing the defining field does not hide the page's kind (validation names the field).
    assert detect_kind({"list": [{"execTime": "1", "execQty": "1"}]}) is RawKind.EXECUTIONS
    assert infer_interval([["3600000"], ["0"], ["10800000"]]) == "60"
    assert infer_interval([["0"], ["86400000"]]) == "D"
    assert infer_interval([["0"]]) is None


def test_copied_fixture_has_the_same_checksum_as_the_original(tmp_path: Path, fixture_files: list[Path]) -> None:
    # The file name is not part of the stored exchange rows: the same response imports identically.
    copy = tmp_path / "renamed.json"
    shutil.copy(fixture_files[0], copy)
    sums = []
    for name, path in (("a", fixture_files[0]), ("b", copy)):
        with writer(tmp_path / f"{name}.duckdb") as c:
            import_files(c, [path])
            sums.append(raw_table_checksums(c))
    assert sums[0] == sums[1]
