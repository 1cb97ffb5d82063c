"""Snapshot of the Dagster definitions: what a user sees in the UI."""

from __future__ import annotations

from typing import Any

import dagster as dg

from hean_pipelines.definitions import defs
from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB
from hean_pipelines.defs.partitions import DUCKDB_WRITER_POOL

RAW_ASSETS = {"bybit_executions", "bybit_transactions", "bybit_orders", "bybit_closed_pnl", "mark_prices"}


def _specs() -> dict[str, Any]:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}


def test_raw_assets_exist_with_description_group_and_kinds() -> None:
    nodes = _specs()
    assert set(nodes) >= RAW_ASSETS
    for name in RAW_ASSETS:
        node = nodes[name]
        assert node.description and len(node.description) > 40, name
        assert node.group_name == "ingest"
        assert {"bybit", "duckdb"} <= set(node.kinds)


def test_raw_assets_are_daily_utc_single_run_backfills_in_the_writer_pool() -> None:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    for name in RAW_ASSETS:
        node = graph.get(dg.AssetKey(name))
        partitions = node.partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.timezone == "UTC"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    pools = {pool for node in graph.asset_nodes for pool in (node.pools or set())}
    assert DUCKDB_WRITER_POOL in pools


def test_daily_pipeline_job_covers_every_asset() -> None:
    definitions = defs()
    job = definitions.resolve_job_def(DAILY_PIPELINE_JOB)
    graph = definitions.resolve_asset_graph()
    selected = job.asset_layer.selected_asset_keys
    assert selected == set(graph.get_all_asset_keys())


def test_definitions_bind_every_required_resource() -> None:
    definitions = defs()
    definitions.resolve_all_job_defs()  # raises if an asset needs a resource that is not bound
    assert {"warehouse", "bybit"} <= set(definitions.resources or {})


DOMAIN_GROUPS = {"ingest", "registry", "ledger", "attribution", "selection", "factory", "reporting", "observability"}
FILE_ASSETS = {"daily_report", "metrics_snapshot"}
"""Assets that write files, not tables: they name their path instead of a table and a column schema."""


def test_every_asset_is_documented_for_the_ui() -> None:
    """Group per domain, description, kinds, owners, its table and that table's column schema."""
    nodes = _specs()
    assert nodes
    for name, node in nodes.items():
        assert node.group_name in DOMAIN_GROUPS, name
        assert node.description and len(node.description) > 40, name
        assert node.kinds, name
        assert node.owners, name
        if name in FILE_ASSETS:
            assert "path" in node.metadata, name
            continue
        schema = node.metadata.get("dagster/column_schema")
        assert isinstance(schema, dg.TableSchema) and len(schema.columns) >= 4, name
        assert "table" in node.metadata, name
    assert {n.group_name for n in nodes.values()} == DOMAIN_GROUPS


def test_column_schemas_are_the_tables_own_columns() -> None:
    nodes = _specs()
    executions = nodes["bybit_executions"].metadata["dagster/column_schema"]
    by_name = {c.name: c for c in executions.columns}
    assert by_name["exec_fee"].type == "DECIMAL(38,18)"
    assert by_name["exec_fee"].description == "Bybit `execFee`"
    assert by_name["exec_time"].type == "TIMESTAMP WITH TIME ZONE"
    assert executions.constraints is not None and executions.constraints.other == ["primary key (exec_id)"]
    entries = {c.name: c for c in nodes["ledger_entries"].metadata["dagster/column_schema"].columns}
    assert entries["amount"].description.startswith("signed cash to the account")
    assert not entries["amount"].constraints.nullable


def test_the_automation_a_user_sees() -> None:
    """Snapshot of the schedule, the sensors and the freshness checks (names are public: UI, README)."""
    definitions = defs()
    schedules = {s.name: s for s in definitions.schedules or []}
    assert set(schedules) == {"daily_pipeline_schedule"}
    schedule = schedules["daily_pipeline_schedule"]
    assert isinstance(schedule, dg.ScheduleDefinition)  # resolved: the job is partitioned
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 0 * * *", "UTC")
    assert schedule.job_name == DAILY_PIPELINE_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    sensors = {s.name: s for s in definitions.sensors or []}
    assert set(sensors) == {"missing_days_sensor", "late_data_sensor", "run_failure_sensor", "freshness_checks_sensor"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    assert all(s.description for s in sensors.values())
    assert sensors["missing_days_sensor"].job_name == DAILY_PIPELINE_JOB
    assert sensors["late_data_sensor"].job_name == DAILY_PIPELINE_JOB
    assert (
        sensors["missing_days_sensor"].minimum_interval_seconds,
        sensors["late_data_sensor"].minimum_interval_seconds,
    ) == (
        60,
        300,
    )

    graph = definitions.resolve_asset_graph()
    daily = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None}
    freshness = {
        key.asset_key.to_user_string(): graph.get_check_spec(key)
        for key in graph.asset_check_keys
        if key.name == "freshness_check"
    }
    assert set(freshness) == daily  # every daily asset, no other
    assert not any(spec.blocking for spec in freshness.values())


def test_daily_pipeline_runs_in_process_one_run_at_a_time() -> None:
    job = defs().resolve_job_def(DAILY_PIPELINE_JOB)
    assert job.executor_def.name == "in_process"
    assert job.tags == {"hean/run_queue": DAILY_PIPELINE_JOB}


def test_checks_of_the_daily_job_snapshot() -> None:
    """The check names are public (UI, README, `hean check`, the daily report): renaming one is a change."""
    from hean_pipelines.defs.instance_status import pipeline_check_specs

    assert {(s.asset_key.to_user_string(), s.name, s.blocking) for s in pipeline_check_specs()} == {
        ("ledger_entries", "no_duplicate_entries", True),
        ("ledger_entries", "nothing_lost_or_doubled", True),
        ("ledger_entries", "transaction_log_identity", True),
        ("ledger_entries", "quarantine_empty", False),
        ("positions", "closed_pnl_gross_matches", True),
        ("positions", "closed_pnl_fee_residual", False),
        ("process_attribution", "process_total_invariant", True),
        ("portfolio_attribution", "portfolio_total_invariant", True),
        ("portfolio_attribution", "portfolio_matches_processes_and_ledger", True),
        ("portfolio_attribution", "balances_match_bybit", False),
    }
