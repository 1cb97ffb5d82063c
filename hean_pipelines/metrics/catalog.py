"""Every metric the project exports: name, type, labels, unit and meaning, in one table.

The collector, the snapshot files, the README's metric table and the tests all read this table, so a
metric cannot exist in one place and be missing from another. Names follow Prometheus' conventions:
base units in the name (``_usd``, ``_ratio``, ``_seconds``, ``_bps``), ``_total`` only on counters, no
order or trade ids in labels (one series per process at most).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "histogram"]

# `period` label values: the last attributed day D, the trailing 7 days D-6..D, everything up to D.
PERIOD_DAY = "day"
PERIOD_7D = "7d"
PERIOD_CUMULATIVE = "cumulative"
PERIODS = (PERIOD_DAY, PERIOD_7D, PERIOD_CUMULATIVE)


@dataclass(frozen=True)
class MetricSpec:
    """One metric family as Prometheus sees it."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    source: str = ""

    @property
    def sample_names(self) -> tuple[str, ...]:
        """The names its samples carry in the exposition (a histogram has three)."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    @property
    def family_name(self) -> str:
        """The name prometheus_client wants for the family (it appends ``_total`` to counters itself)."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name


_PROCESS_PERIOD = ("process_id", "period")
_ATTRIBUTION = "attribution.process_daily"

METRICS: tuple[MetricSpec, ...] = (
    # --- status
    MetricSpec(
        "hean_health_score",
        "gauge",
        "Health score in [0, 1]: weighted mean of freshness, checks, API errors and drawdown (README: health score).",
        unit="score",
        source="hean_health_component",
    ),
    MetricSpec(
        "hean_health_component",
        "gauge",
        "One component of the health score in [0, 1] (freshness, checks, api_errors, drawdown); absent when unknown.",
        labels=("component",),
        unit="score",
        source="warehouse, Dagster instance, clock",
    ),
    MetricSpec(
        "hean_actions_enabled",
        "gauge",
        "1 when the selector may change the registry (HEAN_ACTIONS_ENABLED), 0 when decisions are "
        "recommendations only (the default).",
        unit="flag",
        source="selector configuration",
    ),
    MetricSpec(
        "hean_selector_decision",
        "gauge",
        "1 for the selector's current decision per process (TESTING, SCALING, KILLED) as of its last scored day.",
        labels=("process_id", "decision"),
        unit="flag",
        source="selection.scores",
    ),
    # --- equity and drawdown
    MetricSpec(
        "hean_equity_usd",
        "gauge",
        "Account equity at the close of the last attributed day, in USD.",
        unit="USD",
        source="attribution.portfolio_daily.equity",
    ),
    MetricSpec(
        "hean_drawdown_ratio",
        "gauge",
        "Drawdown at the close of the last attributed day: 1 - performance index / its running peak, in [0, 1].",
        unit="ratio",
        source="attribution.portfolio_daily.drawdown_ratio",
    ),
    MetricSpec(
        "hean_drawdown_limit_ratio",
        "gauge",
        "The drawdown limit the alert and the health score use (HEAN_DRAWDOWN_LIMIT).",
        unit="ratio",
        source="configuration",
    ),
    # --- PnL breakdown, per process (sum over process_id = the portfolio, exactly in the warehouse)
    MetricSpec(
        "hean_pnl_usd",
        "gauge",
        "Mark-to-market trading PnL (the headline PnL, before fees, funding, rewards and opportunity cost).",
        labels=_PROCESS_PERIOD,
        unit="USD",
        source=f"{_ATTRIBUTION}.pnl",
    ),
    MetricSpec(
        "hean_realized_pnl_usd",
        "gauge",
        "Realized PnL (average entry, gross of fees).",
        labels=_PROCESS_PERIOD,
        unit="USD",
        source=f"{_ATTRIBUTION}.realized_pnl",
    ),
    MetricSpec(
        "hean_unrealized_pnl_usd",
        "gauge",
        "Unrealized PnL of the open positions at the close of the last attributed day.",
        labels=("process_id",),
        unit="USD",
        source=f"{_ATTRIBUTION}.unrealized_pnl_eod",
    ),
    MetricSpec(
        "hean_fees_usd",
        "gauge",
        "Trading fees paid (positive = cost; maker rebates reduce it).",
        labels=_PROCESS_PERIOD,
        unit="USD",
        source=f"{_ATTRIBUTION}.fees",
    ),
    MetricSpec(
        "hean_funding_usd",
        "gauge",
        "Funding received (positive = money in, negative = funding paid).",
        labels=_PROCESS_PERIOD,
        unit="USD",
        source=f"{_ATTRIBUTION}.funding",
    ),
    MetricSpec(
        "hean_rewards_usd",
        "gauge",
        "Rewards received (airdrops, fee refunds, cashback, interest earned).",
        labels=_PROCESS_PERIOD,
        unit="USD",
        source=f"{_ATTRIBUTION}.rewards",
    ),
    MetricSpec(
        "hean_opportunity_cost_usd",
        "gauge",
        "Opportunity cost of the allocated capital: capital x hurdle rate / 365 per day (positive = cost).",
        labels=_PROCESS_PERIOD,
        unit="USD",
        source=f"{_ATTRIBUTION}.opportunity_cost",
    ),
    MetricSpec(
        "hean_truth_total_usd",
        "gauge",
        "The truth total: pnl + funding + rewards - fees - opportunity cost.",
        labels=_PROCESS_PERIOD,
        unit="USD",
        source=f"{_ATTRIBUTION}.total",
    ),
    # --- safety
    MetricSpec(
        "hean_profit_illusion",
        "gauge",
        "1 when the headline PnL of the trailing 7 days is positive while the truth total is not "
        "(scope=portfolio, or scope=process with process_id).",
        labels=("scope", "process_id"),
        unit="flag",
        source="attribution.process_daily, trailing 7 days",
    ),
    MetricSpec(
        "hean_data_staleness_seconds",
        "gauge",
        "Seconds since the close (24:00 UTC) of the last attributed day.",
        unit="seconds",
        source="max(attribution.portfolio_daily.date)",
    ),
    MetricSpec(
        "hean_last_attributed_day_timestamp_seconds",
        "gauge",
        "Start (00:00 UTC) of the last attributed day, as a Unix time.",
        unit="seconds",
        source="max(attribution.portfolio_daily.date)",
    ),
    # --- execution
    MetricSpec(
        "hean_orders_rejected_total",
        "counter",
        "Orders Bybit rejected, all time (raw orders are never deleted, so the count only grows).",
        labels=("process_id",),
        unit="orders",
        source="raw.bybit_orders where order_status = 'Rejected'",
    ),
    MetricSpec(
        "hean_order_reject_ratio",
        "gauge",
        "Rejected orders / orders created in the period.",
        labels=_PROCESS_PERIOD,
        unit="ratio",
        source="raw.bybit_orders",
    ),
    MetricSpec(
        "hean_slippage_bps",
        "gauge",
        "Notional-weighted slippage of the process's own trade fills against the fill's mark price, in basis "
        "points (positive = cost): sum(s*(price-mark)*qty) / sum(mark*qty) * 10^4, s = +1 buy, -1 sell.",
        labels=_PROCESS_PERIOD,
        unit="basis points",
        source="ledger.entries joined to raw.bybit_executions",
    ),
    MetricSpec(
        "hean_maker_ratio",
        "gauge",
        "Share of the trade notional filled as maker: maker / (maker + taker), in [0, 1].",
        labels=_PROCESS_PERIOD,
        unit="ratio",
        source="ledger.entries joined to raw.bybit_executions.is_maker",
    ),
    MetricSpec(
        "hean_api_latency_seconds",
        "histogram",
        "Latency of Bybit API requests, rebuilt from the whole request log (the log only grows).",
        labels=("endpoint",),
        unit="seconds",
        source="raw.api_requests.latency_seconds",
    ),
    MetricSpec(
        "hean_api_requests_total",
        "counter",
        "Bybit API requests by outcome (error: HTTP status other than 200, or retCode other than 0).",
        labels=("endpoint", "outcome"),
        unit="requests",
        source="raw.api_requests",
    ),
    # --- pipeline status from the Dagster instance
    MetricSpec(
        "hean_dagster_instance_up",
        "gauge",
        "1 when the Dagster instance (DAGSTER_HOME) could be read; 0 when it is not configured or failed, "
        "and then the run and check metrics are absent.",
        unit="flag",
        source="Dagster instance",
    ),
    MetricSpec(
        "hean_last_successful_run_timestamp_seconds",
        "gauge",
        "End time of the last successful daily_pipeline run, as a Unix time.",
        unit="seconds",
        source="Dagster instance: runs",
    ),
    MetricSpec(
        "hean_asset_last_materialization_timestamp_seconds",
        "gauge",
        "When each asset was last materialized, as a Unix time.",
        labels=("asset",),
        unit="seconds",
        source="Dagster instance: materializations",
    ),
    MetricSpec(
        "hean_asset_failed_checks",
        "gauge",
        "Checks of the asset whose latest evaluation failed, by severity (ERROR, WARN).",
        labels=("asset", "severity"),
        unit="checks",
        source="Dagster instance: asset check evaluations",
    ),
    MetricSpec(
        "hean_check_failed",
        "gauge",
        "1 when the check's latest evaluation failed, 0 when it passed.",
        labels=("asset", "check", "severity"),
        unit="flag",
        source="Dagster instance: asset check evaluations",
    ),
    # --- the exporter itself
    MetricSpec(
        "hean_metrics_snapshot_stale",
        "gauge",
        "1 when the values served are not from this scrape (DuckDB locked by a run, or the file missing).",
        unit="flag",
        source="exporter",
    ),
    MetricSpec(
        "hean_metrics_snapshot_age_seconds",
        "gauge",
        "Age of the values served: seconds since they were read from DuckDB.",
        unit="seconds",
        source="exporter",
    ),
    MetricSpec(
        "hean_metrics_snapshot_timestamp_seconds",
        "gauge",
        "When the values served were read from DuckDB, as a Unix time.",
        unit="seconds",
        source="exporter / snapshot file",
    ),
    MetricSpec(
        "hean_metrics_read_failures_total",
        "counter",
        "Scrapes that could not read DuckDB, by reason (locked, missing, error), since the exporter started.",
        labels=("reason",),
        unit="scrapes",
        source="exporter",
    ),
    MetricSpec(
        "hean_metrics_read_duration_seconds",
        "gauge",
        "Duration of the last successful DuckDB read, lock wait included: the longest a writer waited for it.",
        unit="seconds",
        source="exporter",
    ),
)

BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}


def spec_for_sample(sample_name: str) -> MetricSpec:
    """The family a sample belongs to (``hean_api_latency_seconds_bucket`` -> the histogram)."""
    if sample_name in BY_NAME:
        return BY_NAME[sample_name]
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name.removesuffix(suffix)
        if base != sample_name and base in BY_NAME and BY_NAME[base].type == "histogram":
            return BY_NAME[base]
    raise KeyError(f"{sample_name} is not a metric of the catalog (hean_pipelines/metrics/catalog.py)")
