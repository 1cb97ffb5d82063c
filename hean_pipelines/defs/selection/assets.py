"""The selector: runs per process-day, then scores and decisions as of each day (no lookahead)."""

import dagster as dg

from hean_pipelines.defs.metadata import ROW_COUNT, markdown_table, window_rows, window_sums
from hean_pipelines.defs.partitions import DUCKDB_WRITER_POOL, daily_partitions
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.schema_metadata import table_column_schema
from hean_pipelines.defs.windows import each_day, partition_days
from hean_pipelines.selection.config import load_selector_config
from hean_pipelines.selection.runs import build_process_runs
from hean_pipelines.selection.scoring import apply_decisions, score_as_of, write_scores
from hean_pipelines.warehouse.connection import transaction

SELECTION_GROUP = "selection"


@dg.asset(
    name="process_runs",
    group_name=SELECTION_GROUP,
    kinds={"duckdb", "python"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    deps=["process_attribution", "positions", "mark_prices", "bybit_executions", "registry"],
    metadata={
        "table": "selection.process_runs",
        "dagster/column_schema": table_column_schema("selection.process_runs"),
    },
)
def process_runs(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.MaterializeResult:
    """`selection.process_runs`: a run is a process-day with fills or open exposure; its return = total /
    allocated capital (as of D). Regime features per run: hour-of-day bucket of its fills, volatility
    bucket (realized volatility of hourly marks) and slippage bucket (fill vs mark, bps), with bucket
    edges from data up to D only (stored in `selection.bucket_edges`)."""
    first_day, last_day = partition_days(context)
    with warehouse.get_connection() as conn:
        with transaction(conn):
            rows = sum(build_process_runs(conn, day, account=bybit.account) for day in each_day(first_day, last_day))
        per_process = conn.execute(
            """SELECT process_id, count(*), sum(total), avg("return") FROM selection.process_runs
               WHERE date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1""",
            [first_day, last_day],
        ).fetchall()
        row_count = window_rows(conn, "selection.process_runs", first_day, last_day)
        totals = window_sums(conn, "selection.process_runs", ("total",), first_day, last_day)
    return dg.MaterializeResult(
        metadata={
            ROW_COUNT: row_count,
            **totals,
            "runs": rows,
            "by_process": dg.MetadataValue.md(
                markdown_table(["process_id", "runs", "total", "mean return"], per_process)
            ),
        }
    )


@dg.asset(
    name="selector_scores",
    group_name=SELECTION_GROUP,
    kinds={"duckdb", "python"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    deps=[
        "process_runs",
        "process_attribution",
        dg.AssetDep("selector_scores", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)),
    ],
    metadata={"table": "selection.scores", "dagster/column_schema": table_column_schema("selection.scores")},
)
def selector_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """`selection.scores`, as of each day from data up to that day: n_runs, Kish effective n (decay
    weighted), PSR, DSR (N = trials as of D from the append-only `selection.trials`), MinTRL, PBO (CSCV,
    diagnostic) and a decision TESTING / SCALING / KILLED with its reasons in plain words. Decisions are
    recommendations; only with actions enabled do they change the registry, effective D+1. Nothing trades."""
    first_day, last_day = partition_days(context)
    config = load_selector_config()
    changes = 0
    with warehouse.get_connection() as conn:
        with transaction(conn):
            for day in each_day(first_day, last_day):
                scores = score_as_of(conn, day, config)
                write_scores(conn, day, scores)
                changes += sum(1 for c in apply_decisions(conn, day, scores, config) if c.applied)
        latest = conn.execute(
            """SELECT process_id, decision, n_runs, round(effective_n, 1), round(psr, 3), round(dsr, 3), reasons
               FROM selection.scores WHERE as_of = ? ORDER BY process_id""",
            [last_day],
        ).fetchall()
        counts = conn.execute(
            "SELECT decision, count(*) FROM selection.scores WHERE as_of BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
            [first_day, last_day],
        ).fetchall()
        row_count = window_rows(conn, "selection.scores", first_day, last_day, column="as_of")
    return dg.MaterializeResult(
        metadata={
            ROW_COUNT: row_count,
            **{f"decisions_{decision.lower()}": n for decision, n in counts},
            "actions_enabled": config.actions_enabled,
            "registry_changes": changes,
            "decisions_in_window": dg.MetadataValue.md(markdown_table(["decision", "scores"], counts)),
            "decisions_last_day": dg.MetadataValue.md(
                markdown_table(["process_id", "decision", "runs", "effective n", "PSR", "DSR", "reasons"], latest)
            ),
        }
    )
