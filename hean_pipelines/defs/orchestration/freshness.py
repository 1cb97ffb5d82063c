"""Freshness checks: WARN when yesterday's partition of a daily asset is not there by 02:00 UTC.

The daily schedule fires at 00:15 UTC and the missing-days sensor steps in from 01:15; a day still
missing at 02:00 deserves a look. The checks are Dagster's time-partition freshness checks: they ask
for the *partition* of the last closed day (a backfill of old days does not make an asset look fresh,
and old days never make it look stale). They run from their own sensor, never inside daily_pipeline,
so `hean run` of old days is not judged by today's clock.
"""

import warnings

import dagster as dg

FRESHNESS_DEADLINE_CRON = "0 2 * * *"
FRESHNESS_TIMEZONE = "UTC"
FRESHNESS_CHECK_NAME = "freshness_check"
FRESHNESS_SENSOR = "freshness_checks_sensor"
FRESHNESS_SENSOR_INTERVAL_S = 600

# Every daily-partitioned asset of daily_pipeline (hean_pipelines_tests/defs/orchestration checks that
# none is left out).
DAILY_ASSETS = (
    "bybit_executions",
    "bybit_transactions",
    "bybit_orders",
    "bybit_closed_pnl",
    "mark_prices",
    "registry",
    "positions",
    "ledger_entries",
    "process_attribution",
    "portfolio_attribution",
    "process_runs",
    "selector_scores",
    "generated_processes",
    "daily_report",
    "metrics_snapshot",
)


def freshness_check_keys() -> list[dg.AssetCheckKey]:
    """The freshness checks' keys (daily_pipeline leaves them out of its selection)."""
    return [dg.AssetCheckKey(dg.AssetKey(asset), FRESHNESS_CHECK_NAME) for asset in DAILY_ASSETS]


# Dagster 1.13 marks these builders "superseded" by FreshnessPolicy. The replacement does not fit daily
# partitions: TimeWindowFreshnessPolicy looks at the last materialization of *any* partition (a backfill
# of January would make the asset look fresh in November) and CronFreshnessPolicy has no WARN state.
# These checks ask for the partition of the last closed day, with WARN severity.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    daily_freshness_checks = dg.build_time_partition_freshness_checks(
        assets=list(DAILY_ASSETS),
        deadline_cron=FRESHNESS_DEADLINE_CRON,
        timezone=FRESHNESS_TIMEZONE,
        severity=dg.AssetCheckSeverity.WARN,
    )
    freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=daily_freshness_checks,
        minimum_interval_seconds=FRESHNESS_SENSOR_INTERVAL_S,
        name=FRESHNESS_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
