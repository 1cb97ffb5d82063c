"""Raw Bybit data for a window of days, into the upsert-only ``raw.*`` tables."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import duckdb

from hean_pipelines.defs.metadata import ROW_COUNT, preview, table_rows, window_rows, window_sums
from hean_pipelines.defs.partitions import DUCKDB_WRITER_POOL, daily_partitions
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.schema_metadata import table_column_schema
from hean_pipelines.defs.windows import partition_days
from hean_pipelines.ingestion import (
    RAW_TABLES,
    FetchWindow,
    fetch_raw_window,
    known_symbols,
    rows_in_window,
    store_raw_batch,
)

INGEST_GROUP = "ingest"

_RAW_DESCRIPTIONS = {
    "bybit_executions": (
        "Every Bybit fill and fill-like event (`/v5/execution/list`, every execType: Trade, Funding, "
        "AdlTrade, BustTrade) in `raw.bybit_executions`, keyed by `exec_id`. Upsert-only: rows are never "
        "deleted, so imported and old rows survive re-runs."
    ),
    "bybit_transactions": (
        "The unified account's transaction log (`/v5/account/transaction-log`) in `raw.bybit_transactions`, "
        "keyed by a synthetic `tx_key` because Bybit's `id` is not unique. Upsert-only."
    ),
    "bybit_orders": (
        "Order history (`/v5/order/history`: filled, cancelled, rejected) in `raw.bybit_orders`, keyed by "
        "`order_id`; a later state of an order replaces an earlier one."
    ),
    "bybit_closed_pnl": (
        "Bybit's own closed-PnL records (`/v5/position/closed-pnl`, one per closing order) in "
        "`raw.bybit_closed_pnl`: the exchange's view that the ledger reconciles against."
    ),
    "mark_prices": (
        "Hourly mark prices (`/v5/market/mark-price-kline`, linear) and spot bars (`/v5/market/kline`) in "
        "`raw.mark_prices`, keyed by (category, symbol, interval, ts)."
    ),
}

_PREVIEWS: dict[str, tuple[tuple[str, ...], str]] = {
    "bybit_executions": (
        ("exec_time", "symbol", "side", "exec_type", "exec_qty", "exec_price", "exec_fee", "order_link_id"),
        "exec_time, exec_id",
    ),
    "bybit_transactions": (
        ("transaction_time", "type", "currency", "change", "cash_balance"),
        "transaction_time, tx_key",
    ),
    "bybit_orders": (
        ("created_time", "symbol", "side", "order_status", "qty", "order_link_id"),
        "created_time, order_id",
    ),
    "bybit_closed_pnl": (
        ("created_time", "symbol", "side", "closed_size", "closed_pnl"),
        "created_time, closed_pnl_key",
    ),
    "mark_prices": (("ts", "category", "symbol", "close"), "ts, category, symbol"),
}

# Money summed over the partition's days on each materialization (numbers the UI can plot over time).
_MONEY_TOTALS: dict[str, tuple[str, ...]] = {
    "bybit_executions": ("exec_fee", "exec_value"),
    "bybit_transactions": ("change", "fee", "funding"),
    "bybit_orders": (),
    "bybit_closed_pnl": ("closed_pnl",),
    "mark_prices": (),
}


def _window_metadata(conn: duckdb.DuckDBPyConnection, asset_name: str, first_day: date, last_day: date) -> dict:
    """Rows of the partition's days (``dagster/row_count``) and their money totals."""
    table = RAW_TABLES[asset_name]
    return {
        ROW_COUNT: window_rows(conn, table, first_day, last_day, column="day"),
        **window_sums(conn, table, _MONEY_TOTALS[asset_name], first_day, last_day, column="day"),
    }


def _raw_asset_specs() -> list[dg.AssetSpec]:
    # Built by a function: a module-level list of specs would be loaded as extra asset definitions.
    return [
        dg.AssetSpec(
            name,
            description=description,
            group_name=INGEST_GROUP,
            kinds={"bybit", "duckdb"},
            owners=["team:trading-data"],
            tags={"layer": "raw"},
            metadata={"table": RAW_TABLES[name], "dagster/column_schema": table_column_schema(RAW_TABLES[name])},
        )
        for name, description in _RAW_DESCRIPTIONS.items()
    ]


@dg.multi_asset(
    name="bybit_raw_ingest",
    specs=_raw_asset_specs(),
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    can_subset=False,
)
def bybit_raw_ingest(
    context: dg.AssetExecutionContext, bybit: BybitResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    """Fetch the partition window (plus the lookback, so late rows land) from Bybit, then upsert it.

    The whole window is fetched before the warehouse is opened for writing, and written in one
    transaction: a failed fetch writes nothing, and a window lands whole or not at all.
    """
    first_day, last_day = partition_days(context)
    window = FetchWindow.for_partitions(first_day, last_day, bybit.lookback_days, floor=_partitions_start())
    context.log.info(f"source={bybit.source} window={window.first_day}..{window.last_day}")
    with bybit.open_client() as client:
        if client is None:
            yield from _recorded_results(warehouse, first_day, last_day)
            return
        known = _known_symbols(warehouse)
        batch = fetch_raw_window(client, window, known, snapshot=bybit.source == "live")
    fetched = batch.rows_per_asset()
    with warehouse.get_connection() as conn:
        results = store_raw_batch(conn, batch, account=bybit.account, run_id=context.run_id)
        for asset_name, result in results.items():
            columns, order_by = _PREVIEWS[asset_name]
            yield dg.MaterializeResult(
                asset_key=asset_name,
                metadata={
                    "source": bybit.source,
                    "window": f"{window.first_day}..{window.last_day}",
                    "rows_fetched": fetched[asset_name],
                    "rows_new": result.inserted,
                    "rows_already_present": result.already_present,
                    "table_rows": table_rows(conn, result.table),
                    **_window_metadata(conn, asset_name, first_day, last_day),
                    "pages": batch.stats.pages,
                    "requests": batch.stats.requests,
                    "retries": batch.stats.retries,
                    "preview": preview(conn, result.table, columns, first_day, last_day, order_by),
                },
            )


def _partitions_start() -> date:
    return date.fromisoformat(daily_partitions.start.strftime("%Y-%m-%d"))


def _known_symbols(warehouse: WarehouseResource) -> list[tuple[str, str]]:
    if not warehouse.exists:
        return []
    with warehouse.get_reader() as conn:
        return known_symbols(conn)


def _recorded_results(warehouse: WarehouseResource, first_day: date, last_day: date) -> Iterator[dg.MaterializeResult]:
    """Recorded source: nothing is fetched; report what `hean import-bybit` loaded for the window."""
    with warehouse.get_connection() as conn:
        counts = rows_in_window(conn, first_day, last_day)
        for asset_name, rows in counts.items():
            yield dg.MaterializeResult(
                asset_key=asset_name,
                metadata={
                    "source": "recorded",
                    "rows_in_window": rows,
                    "table_rows": table_rows(conn, RAW_TABLES[asset_name]),
                    **_window_metadata(conn, asset_name, first_day, last_day),
                },
            )
