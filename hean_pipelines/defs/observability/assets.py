"""The metrics snapshot: after each run, the warehouse's metrics as files beside the live exporter."""

import dagster as dg

from hean_pipelines.defs.metadata import markdown_table
from hean_pipelines.defs.observability.instance import status_reader_for
from hean_pipelines.defs.partitions import daily_partitions
from hean_pipelines.defs.resources import WarehouseResource
from hean_pipelines.defs.windows import partition_days
from hean_pipelines.metrics.catalog import PERIOD_CUMULATIVE, PERIOD_DAY
from hean_pipelines.metrics.config import load_metrics_config
from hean_pipelines.metrics.files import write_snapshot_files
from hean_pipelines.metrics.samples import Sample
from hean_pipelines.metrics.snapshot import take_snapshot

OBSERVABILITY_GROUP = "observability"
_PREVIEW_METRICS = ("hean_truth_total_usd", "hean_pnl_usd", "hean_fees_usd", "hean_profit_illusion")


def _value(samples: tuple[Sample, ...], name: str) -> float | None:
    return next((s.value for s in samples if s.name == name and not s.labels), None)


def _by_process(samples: tuple[Sample, ...]) -> list[list[object]]:
    rows: dict[str, dict[str, float]] = {}
    for s in samples:
        process_id = s.labels.get("process_id")
        if s.name in _PREVIEW_METRICS and process_id and s.labels.get("period", PERIOD_DAY) == PERIOD_DAY:
            rows.setdefault(process_id, {})[s.name] = s.value
    return [[pid, *(values.get(m) for m in _PREVIEW_METRICS)] for pid, values in sorted(rows.items())]


@dg.asset(
    name="metrics_snapshot",
    group_name=OBSERVABILITY_GROUP,
    kinds={"prometheus", "duckdb"},
    owners=["team:trading-data"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Reads only (a brief read-only connection): not in the writer pool. Depends on everything it reads,
    # so a run writes the snapshot after the numbers it describes.
    deps=[
        "portfolio_attribution",
        "process_attribution",
        "ledger_entries",
        "bybit_orders",
        "bybit_executions",
        "selector_scores",
    ],
    metadata={"path": "metrics/metrics.json, metrics/metrics.prom (HEAN_METRICS_DIR)"},
)
def metrics_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """`metrics/metrics.json` and `metrics/metrics.prom`: every Prometheus metric of the warehouse (equity,
    drawdown, the PnL breakdown per process, profit illusion, execution quality, API latency, health score)
    plus run and check status from the Dagster instance, as of the warehouse's last attributed day
    whatever range the run covered. The exporter (`hean metrics serve`) serves this file's values while it
    has no reading of its own; the `.prom` file suits node_exporter's textfile collector."""
    first_day, last_day = partition_days(context)
    config = load_metrics_config()
    snapshot = take_snapshot(
        warehouse.database,
        lock_timeout_s=warehouse.lock_timeout_s,
        drawdown_limit=config.drawdown_limit,
        status_reader=status_reader_for(context.instance),
    )
    files = write_snapshot_files(snapshot, config.metrics_dir)
    samples = snapshot.samples
    illusions = sorted(
        s.labels.get("process_id") or "portfolio" for s in samples if s.name == "hean_profit_illusion" and s.value
    )
    cumulative_total = sum(
        s.value for s in samples if s.name == "hean_truth_total_usd" and s.labels.get("period") == PERIOD_CUMULATIVE
    )
    return dg.MaterializeResult(
        metadata={
            "window": f"{first_day}..{last_day}",
            "last_attributed_day": str(snapshot.last_day) if snapshot.last_day else "none",
            "samples": len(samples),
            "metric_families": len({s.name for s in samples}),
            "equity_usd": _value(samples, "hean_equity_usd"),
            "drawdown_ratio": _value(samples, "hean_drawdown_ratio"),
            "health_score": _value(samples, "hean_health_score"),
            "truth_total_cumulative_usd": cumulative_total,
            "profit_illusion": ", ".join(illusions) or "none",
            "json_path": dg.MetadataValue.path(str(files.json_path.resolve())),
            "prom_path": dg.MetadataValue.path(str(files.prom_path.resolve())),
            "last_day_by_process": dg.MetadataValue.md(
                markdown_table(["process_id", "truth total", "pnl", "fees", "profit illusion"], _by_process(samples))
            ),
        }
    )
