"""Candidate processes proposed by the factory (OpenAI, or the offline generator without a key)."""

from datetime import date

import dagster as dg

from hean_pipelines.defs.metadata import ROW_COUNT, markdown_table, window_rows
from hean_pipelines.defs.partitions import DUCKDB_WRITER_POOL, daily_partitions
from hean_pipelines.defs.resources import WarehouseResource
from hean_pipelines.defs.schema_metadata import table_column_schema
from hean_pipelines.defs.windows import each_day, partition_days
from hean_pipelines.factory.backends import backend_from_env
from hean_pipelines.factory.generate import ask_backend, plan_day, record_day
from hean_pipelines.factory.pending import DEFAULT_MAX_PENDING, pending_proposals
from hean_pipelines.registry.store import ensure_registry_schema

FACTORY_GROUP = "factory"


@dg.asset(
    name="generated_processes",
    group_name=FACTORY_GROUP,
    kinds={"openai", "duckdb"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITER_POOL,
    deps=["registry", "selector_scores"],
    metadata={"table": "factory.candidates", "dagster/column_schema": table_column_schema("factory.candidates")},
)
def generated_processes(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """`factory.candidates`: new process ideas for a human to review -- never executed. The prompt is built
    from the registry (and the selector's scores when they exist) as of D; every candidate passes the same
    strict validation and safety filter (credentials, browser automation, fund movements, URLs, wallet
    addresses) whatever the backend; accepted ones become `proposed` entries in `registry.processes`
    effective D+1, with capital 0 and a link prefix assigned by code. Without OPENAI_API_KEY a deterministic
    offline generator runs, and the metadata says so. A re-run of a day reuses the stored response. While 3
    proposals await review, no new ones are generated."""
    first_day, last_day = partition_days(context)
    backend = backend_from_env()
    runs = []
    waiting: dict[date, list[str]] = {}
    for day in each_day(first_day, last_day):
        with warehouse.get_connection() as conn:
            ensure_registry_schema(conn)
            pending = pending_proposals(conn, day)
            if len(pending) >= DEFAULT_MAX_PENDING:
                waiting[day] = pending  # reviewers have enough to look at: no new ideas today
                continue
            plan = plan_day(conn, day, backend)
        # The warehouse has one writer: it is let go while a model answers (minutes, with the SDK's
        # retries), so the exporter, a report or a user's SQL never wait on OpenAI.
        replies = ask_backend(plan, backend)
        with warehouse.get_connection() as conn:
            runs.append(record_day(conn, plan, backend, replies))
    with warehouse.get_reader() as conn:
        row_count = window_rows(conn, "factory.candidates", first_day, last_day)
    if not runs:
        return dg.MaterializeResult(
            metadata={
                ROW_COUNT: row_count,
                "backend": backend.name,
                "offline": backend.name == "offline",
                "skipped_days": len(waiting),
                "awaiting_review": ", ".join(waiting[last_day]) if last_day in waiting else "",
            }
        )
    rows = [
        [r.day, c.candidate_id, c.proposed_id, "accepted" if c.accepted else "rejected", "; ".join(c.reasons)]
        for r in runs
        for c in r.candidates
    ]
    last = runs[-1]
    if last.offline:
        context.log.warning(f"factory ran OFFLINE ({last.offline_reason}): deterministic variations, no LLM")
    return dg.MaterializeResult(
        metadata={
            ROW_COUNT: row_count,
            "backend": last.backend,
            "offline": last.offline,
            "offline_reason": last.offline_reason or "",
            "model": last.model,
            "system_fingerprint": last.system_fingerprint or "",
            "accepted": sum(r.accepted_count for r in runs),
            "rejected": sum(r.rejected_count for r in runs),
            "tokens": sum(r.total_tokens for r in runs),
            "skipped_days": len(waiting),
            "backend_calls": sum(r.backend_calls for r in runs),
            "candidates": dg.MetadataValue.md(
                markdown_table(["day", "candidate", "process", "verdict", "reasons"], rows[-20:])
            ),
        }
    )
