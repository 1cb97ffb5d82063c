"""Daily attribution: what each process and the whole portfolio really earned."""

from datetime import date

import dagster as dg
import duckdb

from hean_pipelines.attribution.daily import (
    ProcessCapital,
    build_portfolio_attribution,
    build_process_attribution,
)
from hean_pipelines.attribution.schemas import PortfolioDailySchema, ProcessDailySchema
from hean_pipelines.defs.metadata import ROW_COUNT, markdown_table, window_rows
from hean_pipelines.defs.partitions import DUCKDB_WRITER_POOL, daily_partitions
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.schema_metadata import column_schema
from hean_pipelines.defs.windows import each_day, partition_days
from hean_pipelines.ledger.window import first_ledger_day
from hean_pipelines.registry.store import registry_as_of
from hean_pipelines.settings import load_settings
from hean_pipelines.warehouse.connection import transaction

ATTRIBUTION_GROUP = "attribution"
MONEY_COLUMNS = (
    "pnl",
    "realized_pnl",
    "unrealized_pnl_change",
    "funding",
    "rewards",
    "fees",
    "opportunity_cost",
    "total",
)


def _totals(conn: duckdb.DuckDBPyConnection, table: str, first_day: date, last_day: date) -> dict[str, float]:
    row = conn.execute(
        f"SELECT {', '.join(f'sum({c})' for c in MONEY_COLUMNS)} FROM {table} WHERE date BETWEEN ? AND ?",
        [first_day, last_day],
    ).fetchone()
    return {f"{c}_total": float(v or 0) for c, v in zip(MONEY_COLUMNS, row or (), strict=False)}


@dg.asset(
    name="process_attribution",
    group_name=ATTRIBUTION_GROUP,
    kinds={"duckdb", "pandera"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    deps=["ledger_entries", "positions", "registry"],
    metadata={"table": "attribution.process_daily", "dagster/column_schema": column_schema(ProcessDailySchema)},
)
def process_attribution(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.MaterializeResult:
    """`attribution.process_daily`, one row per (date, process_id): pnl (mark-to-market), realized_pnl,
    unrealized_pnl_change, unrealized_pnl_eod, funding, rewards, fees, opportunity_cost (allocated capital
    × hurdle / 365) and total = pnl + funding + rewards − fees − opportunity_cost, exactly."""
    first_day, last_day = partition_days(context)
    settings = load_settings()
    with warehouse.get_connection() as conn:
        with transaction(conn):
            rows = 0
            for day in each_day(first_day, last_day):
                # A proposed process owns no orders until a human approves it: no row, no opportunity cost.
                capital = [
                    ProcessCapital(e.process_id, e.allocated_capital)
                    for e in registry_as_of(conn, day)
                    if e.status != "proposed"
                ]
                rows += build_process_attribution(
                    conn, day, account=bybit.account, capital=capital, hurdle_rate=settings.hurdle_rate
                )
        preview = conn.execute(
            """SELECT process_id, sum(pnl), sum(fees), sum(funding), sum(opportunity_cost), sum(total)
               FROM attribution.process_daily WHERE date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1""",
            [first_day, last_day],
        ).fetchall()
        totals = _totals(conn, "attribution.process_daily", first_day, last_day)
        row_count = window_rows(conn, "attribution.process_daily", first_day, last_day)
    return dg.MaterializeResult(
        metadata={
            ROW_COUNT: row_count,
            "rows": rows,
            "hurdle_rate": float(settings.hurdle_rate),
            **totals,
            "by_process": dg.MetadataValue.md(
                markdown_table(["process_id", "pnl", "fees", "funding", "opportunity_cost", "total"], preview)
            ),
        }
    )


@dg.asset(
    name="portfolio_attribution",
    group_name=ATTRIBUTION_GROUP,
    kinds={"duckdb", "pandera"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    deps=[
        "process_attribution",
        "ledger_entries",
        dg.AssetDep(
            "portfolio_attribution", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
        ),
    ],
    metadata={"table": "attribution.portfolio_daily", "dagster/column_schema": column_schema(PortfolioDailySchema)},
)
def portfolio_attribution(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.MaterializeResult:
    """`attribution.portfolio_daily`, one row per date: the processes' money columns summed exactly, capital
    flows and bonus (reported, never in total), equity = opening + flows + pnl + funding + rewards − fees,
    and drawdown_ratio = 1 − performance index / its running peak (capital flows excluded)."""
    first_day, last_day = partition_days(context)
    settings = load_settings()
    with warehouse.get_connection() as conn:
        start = first_ledger_day(conn, bybit.account, settings.ledger_start, first_day)
        with transaction(conn):
            days = [
                build_portfolio_attribution(conn, day, account=bybit.account, first_day=start)
                for day in each_day(first_day, last_day)
            ]
        totals = _totals(conn, "attribution.portfolio_daily", first_day, last_day)
        row_count = window_rows(conn, "attribution.portfolio_daily", first_day, last_day)
    last = days[-1]
    return dg.MaterializeResult(
        metadata={
            ROW_COUNT: row_count,
            "days": len(days),
            **totals,
            "equity_last_day": float(last.equity),
            "drawdown_ratio_last_day": float(last.drawdown_ratio),
            "preview": dg.MetadataValue.md(
                markdown_table(
                    ["day", "total", "equity", "drawdown_ratio"],
                    [[d.day, d.total, d.equity, d.drawdown_ratio] for d in days[-10:]],
                )
            ),
        }
    )
