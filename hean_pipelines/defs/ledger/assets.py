"""Positions and ledger entries: Bybit's rows as exact, attributed money, one day after another."""

from collections.abc import Iterator

import dagster as dg

from hean_pipelines.defs.metadata import ROW_COUNT, markdown_table, window_rows
from hean_pipelines.defs.partitions import DUCKDB_WRITER_POOL, daily_partitions
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.schema_metadata import table_column_schema
from hean_pipelines.defs.windows import each_day, partition_days
from hean_pipelines.ledger.build import build_ledger_day
from hean_pipelines.ledger.window import first_ledger_day, opening_state
from hean_pipelines.orchestration.day_inputs import record_day_inputs
from hean_pipelines.registry.store import ensure_registry_schema, link_prefixes_as_of
from hean_pipelines.settings import load_settings
from hean_pipelines.warehouse.connection import transaction

LEDGER_GROUP = "ledger"
RAW_DEPS = ["bybit_executions", "bybit_transactions", "bybit_orders", "mark_prices", "registry"]


def _ledger_specs() -> list[dg.AssetSpec]:
    # Built by a function: a module-level list of specs would be loaded as extra asset definitions.
    return [
        dg.AssetSpec(
            "positions",
            description=(
                "`ledger.positions`: each process's virtual position per (date, account, symbol) at the day's "
                "close -- signed qty, cost basis (Bybit's average-entry method, carried exactly), closing mark "
                "and unrealized PnL -- and `ledger.account_positions`, the account's own position for "
                "reconciliation. Day D starts from D-1's close, so D refuses to run without it."
            ),
            deps=[
                *RAW_DEPS,
                dg.AssetDep(
                    "positions", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
                ),
            ],
            metadata={"table": "ledger.positions", "dagster/column_schema": table_column_schema("ledger.positions")},
            group_name=LEDGER_GROUP,
            kinds={"duckdb", "python"},
            owners=["team:trading-data"],
        ),
        dg.AssetSpec(
            "ledger_entries",
            description=(
                "`ledger.entries`: one row per (trade_id, component, process_id) with component realized_pnl, "
                "fee, funding or reward and a signed cash amount (+ in, - out). Fills belong to the process "
                "whose prefix starts their orderLinkId, else to `unattributed`; funding, ADL, liquidation and "
                "TP/SL rows are split by position share, summing exactly. Out-of-scope or unknown rows go to "
                "`ledger.quarantine` with a named reason."
            ),
            deps=RAW_DEPS,
            metadata={"table": "ledger.entries", "dagster/column_schema": table_column_schema("ledger.entries")},
            group_name=LEDGER_GROUP,
            kinds={"duckdb", "python"},
            owners=["team:trading-data"],
        ),
    ]


@dg.multi_asset(
    name="ledger",
    specs=_ledger_specs(),
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    can_subset=False,
)
def ledger(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> Iterator[dg.MaterializeResult]:
    """Replace the window's days of the ledger, in order, in one transaction."""
    first_day, last_day = partition_days(context)
    settings = load_settings()
    with warehouse.get_connection() as conn:
        ensure_registry_schema(conn)
        start = first_ledger_day(conn, bybit.account, settings.ledger_start, first_day)
        source, bootstrap = (
            opening_state(conn, bybit.source, start, bybit.account)
            if first_day <= start <= last_day
            else ("previous_day", None)
        )
        with transaction(conn):
            stats = [
                build_ledger_day(
                    conn,
                    day,
                    account=bybit.account,
                    link_prefixes=link_prefixes_as_of(conn, day),
                    first_day=start,
                    opening_source=source,
                    bootstrap=bootstrap,
                )
                for day in each_day(first_day, last_day)
            ]
            # In the same transaction as the build: what these days were built from, so the late-data
            # sensor can tell when raw rows for them land afterwards.
            record_day_inputs(conn, bybit.account, first_day, last_day)
        totals = conn.execute(
            """SELECT component, count(*), sum(amount) FROM ledger.entries
               WHERE date BETWEEN ? AND ? AND account = ? GROUP BY 1 ORDER BY 1""",
            [first_day, last_day, bybit.account],
        ).fetchall()
        positions_preview = conn.execute(
            """SELECT symbol, process_id, qty, cost_basis, mark_price, unrealized_pnl FROM ledger.positions
               WHERE date = ? AND account = ? AND qty <> 0 ORDER BY symbol, process_id LIMIT 10""",
            [last_day, bybit.account],
        ).fetchall()
        last_day_values = conn.execute(
            "SELECT sum(market_value), sum(unrealized_pnl) FROM ledger.positions WHERE date = ? AND account = ?",
            [last_day, bybit.account],
        ).fetchone()
        rows = {
            table: window_rows(conn, table, first_day, last_day) for table in ("ledger.positions", "ledger.entries")
        }
        quarantine = conn.execute(
            "SELECT reason, count(*) FROM ledger.quarantine WHERE date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
            [first_day, last_day],
        ).fetchall()
    per_day = markdown_table(
        ["day", "executions", "quarantined", "transactions", "entries", "positions", "opening"],
        [
            [s.day, s.executions, s.quarantined_executions, s.transactions, s.entries, s.positions, s.opening_source]
            for s in stats
        ],
    )
    yield dg.MaterializeResult(
        asset_key="positions",
        metadata={
            ROW_COUNT: rows["ledger.positions"],
            "days": len(stats),
            "ledger_first_day": str(start),
            "market_value_last_day": float((last_day_values or (0, 0))[0] or 0),
            "unrealized_pnl_last_day": float((last_day_values or (0, 0))[1] or 0),
            "open_positions_last_day": len(positions_preview),
            "preview": dg.MetadataValue.md(
                markdown_table(["symbol", "process_id", "qty", "cost_basis", "mark", "unrealized"], positions_preview)
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key="ledger_entries",
        metadata={
            ROW_COUNT: rows["ledger.entries"],
            "days": len(stats),
            "entries": sum(s.entries for s in stats),
            **{f"{component}_total": float(amount or 0) for component, _, amount in totals},
            "quarantined_rows": sum(s.quarantined_executions + s.quarantined_transactions for s in stats),
            "totals_by_component": dg.MetadataValue.md(markdown_table(["component", "rows", "amount"], totals)),
            "quarantine_reasons": dg.MetadataValue.md(markdown_table(["reason", "rows"], quarantine)),
            "per_day": dg.MetadataValue.md(per_day),
        },
    )
