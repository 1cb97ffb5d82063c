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
