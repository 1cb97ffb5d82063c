"""The ledger on hand-checked cases and Bybit's own reference examples, through the real loader."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.ledger import invariants
from hean_pipelines.ledger.build import build_ledger_day
from hean_pipelines.ledger.errors import LedgerGapError, MissingMarkError
from hean_pipelines.registry.store import link_prefixes_as_of
from hean_pipelines.warehouse.connection import transaction
from hean_pipelines.warehouse.importer import import_files
from hean_pipelines_tests.ledger.factories import ACCOUNT, MONDAY, build, execution, load, marks, new_db

FIXTURE_DAY = date(2022, 12, 28)
FIXTURE_ORDER = "5a373bfe-188d-4913-9c81-d57ab5be8068"


def _entries(conn: duckdb.DuckDBPyConnection, trade_id: str) -> dict[tuple[str, str], Decimal]:
    rows = conn.execute(
        "SELECT component, process_id, amount FROM ledger.entries WHERE trade_id = ?", [trade_id]
    ).fetchall()
    return {(c, p): a for c, p, a in rows}


def test_bybit_docs_closed_pnl_example_is_reproduced_and_reconciled(tmp_path: Path, bybit_fixtures: Path) -> None:
    """Bybit's closed-PnL docs example: entry 3584.9255, exit 3541.795, fees 4.2760323 (0.06% taker).

    The example is an ETHPERP (USDC) record, out of scope in v1, so both the fills and the record are
    relabelled ETHUSDT; every number is the example's own.
    """
    conn = new_db(tmp_path)
    opening = [("o1", 1, "1", "1194.97"), ("o2", 2, "1", "1195.03"), ("o3", 3, "1", "1194.9255")]
    closing = [("c1", 4, "1", "1181"), ("c2", 5, "1", "1180.5"), ("c3", 6, "0.5", "1180.59"), ("c4", 7, "0.5", "1180")]
    rows = [
        execution(
            i,
            day=FIXTURE_DAY,
            hour=h,
            side="Buy",
            qty=q,
            price=p,
            fee_rate="0.0006",
            symbol="ETHUSDT",
            order_id="open-order",
        )
        for i, h, q, p in opening
    ] + [
        execution(
            i,
            day=FIXTURE_DAY,
            hour=h,
            side="Sell",
            qty=q,
            price=p,
            fee_rate="0.0006",
            symbol="ETHUSDT",
            order_id=FIXTURE_ORDER,
        )
        for i, h, q, p in closing
    ]
    load(conn, rows)
    record = json.loads((bybit_fixtures / "bybitdocs_closed_pnl_example.json").read_text())
    record["result"]["list"][0]["symbol"] = "ETHUSDT"
    relabelled = tmp_path / "closed_pnl.json"
    relabelled.write_text(json.dumps(record))
    import_files(conn, [relabelled], account=ACCOUNT)
    build(conn, FIXTURE_DAY, FIXTURE_DAY)

    realized = conn.execute(
        "SELECT sum(realized_pnl) FROM ledger.account_fills WHERE order_id = ?", [FIXTURE_ORDER]
    ).fetchone()[0]  # type: ignore[index]
    fees = -conn.execute("SELECT sum(amount) FROM ledger.entries WHERE component = 'fee'").fetchone()[0]  # type: ignore[index]
    assert realized == Decimal("-43.1305")
    assert fees == Decimal("4.2760323")
    assert realized - fees == Decimal("-47.4065323")
    gross, residual = invariants.closed_pnl_reconciliation(conn, FIXTURE_DAY, FIXTURE_DAY, ACCOUNT)
    assert gross.passed, gross.rows
    assert "of 1 closed-PnL records" in gross.summary
    assert residual.passed  # the docs example carries no openFee/closeFee: nothing to compare
    flat = conn.execute("SELECT qty, cost_basis FROM ledger.account_positions").fetchall()
    assert flat == [(Decimal(0), Decimal(0))]


def test_closed_pnl_mismatch_is_an_error_naming_the_order(tmp_path: Path, bybit_fixtures: Path) -> None:
    conn = new_db(tmp_path)
    load(
        conn,
        [
            execution("o1", day=FIXTURE_DAY, hour=1, side="Buy", qty="3", price="1194.97", symbol="ETHUSDT"),
            execution(
                "c1",
                day=FIXTURE_DAY,
                hour=2,
                side="Sell",
                qty="3",
                price="1180",
                symbol="ETHUSDT",
                order_id=FIXTURE_ORDER,
            ),
        ],
    )
    record = json.loads((bybit_fixtures / "bybitdocs_closed_pnl_example.json").read_text())
    record["result"]["list"][0]["symbol"] = "ETHUSDT"
    path = tmp_path / "closed_pnl.json"
    path.write_text(json.dumps(record))
    import_files(conn, [path], account=ACCOUNT)
    build(conn, FIXTURE_DAY, FIXTURE_DAY)
    gross, _ = invariants.closed_pnl_reconciliation(conn, FIXTURE_DAY, FIXTURE_DAY, ACCOUNT)
    assert not gross.passed
    assert gross.failing_dates == [FIXTURE_DAY]
    assert gross.rows[0]["order_id"] == FIXTURE_ORDER
    assert gross.rows[0]["bybit_gross"] == Decimal("-43.1305")
    assert gross.rows[0]["ledger_gross"] == Decimal("-44.91")  # 3 x (1180 - 1194.97)


def test_transaction_log_fixture_satisfies_bybits_identity_and_a_broken_fee_is_named(
    tmp_path: Path, bybit_fixtures: Path
) -> None:
    conn = new_db(tmp_path)
    import_files(conn, [bybit_fixtures / "bybitdocs_transaction_log_example.json"], account=ACCOUNT)
    first, last = date(2022, 12, 27), date(2022, 12, 27)
    outcome = invariants.transaction_log_identity(conn, first, last, ACCOUNT)
    assert outcome.passed and outcome.checked_days == 1
    assert conn.execute("SELECT count(*) FROM raw.bybit_transactions WHERE day = ?", [first]).fetchone()[0] == 3  # type: ignore[index]
    conn.execute("UPDATE raw.bybit_transactions SET fee = fee + 0.00000001 WHERE type = 'TRADE' AND qty = 12")
    broken = invariants.transaction_log_identity(conn, first, last, ACCOUNT)
    assert not broken.passed
    assert broken.failing_dates == [first]
    assert broken.rows[0]["difference"] == Decimal("-0.00000001")


def test_funding_and_adl_are_split_by_position_share_exactly(tmp_path: Path) -> None:
    conn = new_db(tmp_path)
    load(
        conn,
        [
            execution("e1", day=MONDAY, hour=1, side="Buy", qty="0.3", price="100000", link_id="edge-1"),
            execution("l1", day=MONDAY, hour=1, minute=5, side="Buy", qty="0.1", price="100000", link_id="loser-1"),
            # Funding on the 0.4 BTC account position: execFee 4 = paid (Bybit: execFee > 0 is funding paid).
            execution(
                "f1",
                day=MONDAY,
                hour=8,
                side="Buy",
                qty="0.4",
                price="100000",
                fee_rate="0.0001",
                exec_type="Funding",
                order_id="",
            ),
            execution(
                "adl",
                day=MONDAY,
                hour=10,
                side="Sell",
                qty="0.2",
                price="101000",
                fee_rate="0.00055",
                exec_type="AdlTrade",
                create_type="CreateByAdl",
            ),
        ],
    )
    marks(conn, MONDAY, "BTCUSDT", "102000")
    build(conn, MONDAY, MONDAY)
    funding = _entries(conn, "f1")
    assert funding == {("funding", "edge_momentum"): Decimal(-3), ("funding", "loser_meanrev"): Decimal(-1)}
    adl = _entries(conn, "adl")
    assert adl[("realized_pnl", "edge_momentum")] == Decimal(150)  # 0.15 x (101000 - 100000)
    assert adl[("realized_pnl", "loser_meanrev")] == Decimal(50)
    assert adl[("fee", "edge_momentum")] + adl[("fee", "loser_meanrev")] == -Decimal("0.2") * 101000 * Decimal(
        "0.00055"
    )
    positions = dict(conn.execute("SELECT process_id, qty FROM ledger.positions").fetchall())
    assert positions == {"edge_momentum": Decimal("0.15"), "loser_meanrev": Decimal("0.05")}
    assert invariants.completeness(conn, MONDAY, MONDAY, ACCOUNT).passed


def test_unknown_prefix_and_empty_link_id_go_to_unattributed(tmp_path: Path) -> None:
    conn = new_db(tmp_path)
    load(
        conn,
        [
            execution("m1", day=MONDAY, hour=1, side="Buy", qty="0.01", price="100000", link_id="manual-7"),
            execution("m2", day=MONDAY, hour=2, side="Sell", qty="0.01", price="100100", link_id=""),
            execution("m3", day=MONDAY, hour=3, side="Buy", qty="0.01", price="100000", link_id="edge2-1"),
            execution("m4", day=MONDAY, hour=4, side="Sell", qty="0.01", price="100000", link_id="edge2-2"),
        ],
    )
    build(conn, MONDAY, MONDAY)
    owners = {r[0] for r in conn.execute("SELECT DISTINCT process_id FROM ledger.entries").fetchall()}
    assert owners == {"unattributed"}
    assert _entries(conn, "m2")[("realized_pnl", "unattributed")] == Decimal(1)


def test_out_of_scope_and_unknown_rows_are_quarantined_once_with_a_reason(tmp_path: Path) -> None:
    conn = new_db(tmp_path)
    load(
        conn,
        [
            execution("usdc", day=MONDAY, hour=1, side="Buy", qty="0.01", price="100000", symbol="BTCPERP"),
            execution("odd", day=MONDAY, hour=2, side="Buy", qty="0.01", price="100000", exec_type="Settle"),
            execution("ok", day=MONDAY, hour=3, side="Buy", qty="0.01", price="100000", link_id="edge-1"),
        ],
    )
    marks(conn, MONDAY, "BTCUSDT", "100000")
    build(conn, MONDAY, MONDAY)
    reasons = dict(conn.execute("SELECT source_key, reason FROM ledger.quarantine").fetchall())
    assert reasons == {"usdc": "out_of_scope_settle_coin", "odd": "unknown_exec_type:Settle"}
    assert invariants.completeness(conn, MONDAY, MONDAY, ACCOUNT).passed
    warn = invariants.quarantine_empty(conn, MONDAY, MONDAY, ACCOUNT)
    assert not warn.passed and len(warn.rows) == 2


def test_spot_fee_in_base_coin_is_valued_at_the_fill_price(tmp_path: Path) -> None:
    conn = new_db(tmp_path)
    load(
        conn,
        [
            execution(
                "b1",
                day=MONDAY,
                hour=1,
                side="Buy",
                qty="1",
                price="3000",
                symbol="ETHUSDT",
                link_id="noise-1",
                fee="0.001",
                fee_currency="ETH",
                fee_rate="0.001",
            ),
            execution(
                "s1",
                day=MONDAY,
                hour=5,
                side="Sell",
                qty="0.5",
                price="3100",
                symbol="ETHUSDT",
                link_id="noise-2",
                fee_rate="0.001",
            ),
        ],
        category="spot",
    )
    marks(conn, MONDAY, "ETHUSDT", "3050", category="spot")
    build(conn, MONDAY, MONDAY)
    buy = _entries(conn, "b1")
    assert buy[("fee", "noise_scalper")] == Decimal("-3.000")
    position = conn.execute("SELECT qty, cost_basis FROM ledger.positions WHERE category = 'spot'").fetchone()
    assert position is not None and position[0] == Decimal("0.499")  # 1 - 0.001 fee - 0.5 sold
    sell = _entries(conn, "s1")
    assert sell[("fee", "noise_scalper")] == Decimal("-1.55")
    assert invariants.completeness(conn, MONDAY, MONDAY, ACCOUNT).passed


def test_a_day_refuses_to_run_without_the_previous_days_positions(tmp_path: Path) -> None:
    conn = new_db(tmp_path)
    build(conn, MONDAY, MONDAY)
    with pytest.raises(LedgerGapError, match="2026-01-06"), transaction(conn):
        build_ledger_day(
            conn,
            MONDAY + timedelta(days=2),
            account=ACCOUNT,
            link_prefixes=link_prefixes_as_of(conn, MONDAY),
            first_day=MONDAY,
        )


def test_an_open_position_without_a_closing_mark_is_a_named_error(tmp_path: Path) -> None:
    conn = new_db(tmp_path)
    load(conn, [execution("e1", day=MONDAY, hour=1, side="Buy", qty="0.01", price="100000", link_id="edge-1")])
    with pytest.raises(MissingMarkError, match="linear:BTCUSDT"):
        build(conn, MONDAY, MONDAY)
    # The failed day rolled back whole: not even the ledger schema was left behind.
    assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ledger'").fetchone()[0] == 0  # type: ignore[index]


def test_a_duplicated_entry_or_account_fill_fails_the_duplicate_check(tmp_path: Path) -> None:
    """No index keeps ledger.entries and ledger.account_fills unique: the blocking check must catch a second
    row with the same key, within a day, across two days, and in either table."""
    conn = new_db(tmp_path)
    load(
        conn,
        [
            execution("e1", day=MONDAY, hour=1, side="Buy", qty="0.01", price="100000", link_id="edge-1"),
            execution("e2", day=MONDAY + timedelta(days=1), hour=1, side="Sell", qty="0.01", price="100100"),
        ],
    )
    marks(conn, MONDAY, "BTCUSDT", "100000")
    marks(conn, MONDAY + timedelta(days=1), "BTCUSDT", "100100")
    build(conn, MONDAY, MONDAY + timedelta(days=1))
    tuesday = MONDAY + timedelta(days=1)
    assert invariants.no_duplicate_entries(conn, MONDAY, tuesday, ACCOUNT).passed
    assert conn.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = 'ledger' "
        "AND table_name IN ('entries', 'account_fills') AND constraint_type = 'PRIMARY KEY'"
    ).fetchone() == (0,)

    conn.execute("INSERT INTO ledger.entries SELECT * FROM ledger.entries WHERE trade_id = 'e1' AND component = 'fee'")
    same_day = invariants.no_duplicate_entries(conn, MONDAY, tuesday, ACCOUNT)
    assert not same_day.passed
    assert same_day.failing_dates == [MONDAY]
    problems = [(r["problem"], r["detail"], r["n"]) for r in same_day.rows]
    assert problems == [("duplicate key", "e1 fee edge_momentum", 2)]
    conn.execute("DELETE FROM ledger.entries WHERE trade_id = 'e1' AND component = 'fee'")
    conn.execute(
        "INSERT INTO ledger.entries SELECT * FROM ledger.entries WHERE trade_id = 'e2' AND component = 'fee'"
    )  # ... the second copy of e2's fee entry on Monday: only Monday's window sees the key twice
    conn.execute(
        "UPDATE ledger.entries SET date = ? WHERE trade_id = 'e2' AND component = 'fee' AND rowid = "
        "(SELECT max(rowid) FROM ledger.entries WHERE trade_id = 'e2' AND component = 'fee')",
        [MONDAY],
    )
    across_days = invariants.no_duplicate_entries(conn, MONDAY, MONDAY, ACCOUNT)
    assert not across_days.passed and across_days.failing_dates == [MONDAY]
    assert across_days.rows[0]["detail"] == "e2 fee unattributed"
    assert not invariants.no_duplicate_entries(conn, tuesday, tuesday, ACCOUNT).passed
    conn.execute("DELETE FROM ledger.entries WHERE trade_id = 'e2' AND component = 'fee' AND date = ?", [MONDAY])
    assert invariants.no_duplicate_entries(conn, MONDAY, tuesday, ACCOUNT).passed

    conn.execute("INSERT INTO ledger.account_fills SELECT * FROM ledger.account_fills WHERE exec_id = 'e2'")
    fills = invariants.no_duplicate_entries(conn, MONDAY, tuesday, ACCOUNT)
    assert not fills.passed and fills.failing_dates == [tuesday]
    assert [(r["problem"], r["detail"]) for r in fills.rows] == [("duplicate account fill", "e2")]


def test_a_warehouse_whose_big_tables_still_have_their_old_primary_keys_loses_them_rows_intact(
    tmp_path: Path,
) -> None:
    from hean_pipelines.ledger.schema import LEDGER_DDL, OLD_KEYS_SQL, ensure_ledger_schema

    conn = new_db(tmp_path)
    old_ddl = LEDGER_DDL.replace(
        "split_rule VARCHAR NOT NULL ", "split_rule VARCHAR NOT NULL, PRIMARY KEY (trade_id, component, process_id) "
    ).replace("exec_id VARCHAR USING COMPRESSION uncompressed NOT NULL,", "exec_id VARCHAR PRIMARY KEY,")
    conn.execute(old_ddl)
    assert [r[0] for r in conn.execute(OLD_KEYS_SQL).fetchall()] == ["account_fills", "entries"]
    conn.execute(
        "INSERT INTO ledger.entries VALUES ('x1', 'fee', 'edge_momentum', ?, ?, 'main', 'linear', 'BTCUSDT', "
        "'USDT', -0.55, NULL, NULL, NULL, 'raw.bybit_executions', 'owner')",
        [MONDAY, f"{MONDAY} 01:00:00+00"],
    )
    conn.execute(
        "INSERT INTO ledger.account_fills VALUES ('x1', ?, 'main', 'BTCUSDT', 'o1', 0.01, 100000, 0)", [MONDAY]
    )
    before = [conn.execute(f"SELECT * FROM ledger.{t} ORDER BY ALL").fetchall() for t in ("entries", "account_fills")]
    ensure_ledger_schema(conn)
    assert conn.execute(OLD_KEYS_SQL).fetchall() == []
    after = [conn.execute(f"SELECT * FROM ledger.{t} ORDER BY ALL").fetchall() for t in ("entries", "account_fills")]
    assert after == before and len(after[0]) == len(after[1]) == 1
