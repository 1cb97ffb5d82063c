"""The metrics_snapshot asset: how it sits in the graph, and the files a real run leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb

from hean_pipelines.definitions import defs
from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB
from hean_pipelines_tests.monitoring.processes import promtool


def test_the_snapshot_is_a_reader_in_the_observability_group_after_what_it_reads() -> None:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    node = graph.get(dg.AssetKey("metrics_snapshot"))
    assert node.group_name == "observability"
    assert {"prometheus", "duckdb"} <= set(node.kinds)
    assert node.owners == ["team:trading-data"]
    assert node.description and "metrics.json" in node.description
    assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
    assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert not node.pools  # it only reads DuckDB: never queued behind (or blocking) the writers
    parents = {key.to_user_string() for key in node.parent_keys}
    assert {"portfolio_attribution", "process_attribution", "selector_scores", "ledger_entries"} <= parents
    assert (
        dg.AssetKey("metrics_snapshot")
        in definitions.resolve_job_def(DAILY_PIPELINE_JOB).asset_layer.selected_asset_keys
    )


def test_a_run_writes_the_snapshot_files_with_the_warehouse_values(sandbox_week: Path) -> None:
    assert "metrics_snapshot" in (sandbox_week / "run.log").read_text()
    snapshot = json.loads((sandbox_week / "metrics" / "metrics.json").read_text())
    conn = duckdb.connect(str(sandbox_week / "hean.duckdb"), read_only=True)
    try:
        day, equity = conn.execute(
            "SELECT date, equity FROM attribution.portfolio_daily ORDER BY date DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
    finally:
        conn.close()
    assert snapshot["last_day"] == day.isoformat()
    assert [s["value"] for s in snapshot["samples"] if s["name"] == "hean_equity_usd"] == [float(equity)]
    # Written inside the run, which reads its own instance: run and check status are in the file.
    names = {s["name"] for s in snapshot["samples"]}
    assert {
        "hean_dagster_instance_up",
        "hean_check_failed",
        "hean_asset_last_materialization_timestamp_seconds",
    } <= names
    lint = promtool("check", "metrics", stdin=(sandbox_week / "metrics" / "metrics.prom").read_text())
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_materialization_carries_counts_totals_and_a_preview(sandbox_week: Path) -> None:
    snapshot = json.loads((sandbox_week / "metrics" / "metrics.json").read_text())
    instance = dg.DagsterInstance.from_config(str(sandbox_week / "dagster_home"))
    try:
        event = instance.get_latest_materialization_event(dg.AssetKey("metrics_snapshot"))
    finally:
        instance.dispose()
    assert event is not None and event.asset_materialization is not None
    metadata = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    assert metadata["samples"] == len(snapshot["samples"])
    assert metadata["last_attributed_day"] == snapshot["last_day"]
    equity = [s["value"] for s in snapshot["samples"] if s["name"] == "hean_equity_usd"]
    assert [metadata["equity_usd"]] == equity
    cumulative = sum(
        s["value"]
        for s in snapshot["samples"]
        if s["name"] == "hean_truth_total_usd" and s["labels"]["period"] == "cumulative"
    )
    assert metadata["truth_total_cumulative_usd"] == cumulative
    for process_id in ("edge_momentum", "loser_meanrev", "noise_scalper", "unattributed"):
        assert f"| {process_id} |" in str(metadata["last_day_by_process"])
