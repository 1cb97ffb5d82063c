"""Acceptance: a real Prometheus scrapes the real exporter over a sandbox pipeline's DuckDB, and every query of
every dashboard panel returns a non-empty, correct result through Prometheus' HTTP API.

Expected values come from plain SQL on the DuckDB file (and, for run status, from the Dagster instance),
written here independently of ``hean_pipelines.metrics``. Money is compared exactly where Prometheus only
passes a value through (``float(Decimal)`` of the same exact sum is the same float); where PromQL adds
floats itself (``sum``) or the exporter rounds a ratio to 12 decimal places, the comparison allows a
relative 1e-9 (far below a cent on any equity, far above float rounding).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hean_pipelines.metrics.warehouse import API_LATENCY_BUCKETS_S
from hean_pipelines_tests.hean_cli import hean_env
from hean_pipelines_tests.monitoring.processes import (
    MONITORING,
    Prometheus,
    exporter,
    http_get,
    prometheus,
    prometheus_config,
    promtool,
)

DASHBOARD = MONITORING / "grafana" / "dashboards" / "hean.json"
ALL_PROCESSES = ".*"  # the dashboard's "All" value of $process
DRAWDOWN_LIMIT = 0.1  # the default HEAN_DRAWDOWN_LIMIT
WEIGHTS = {"freshness": 0.3, "checks": 0.3, "api_errors": 0.2, "drawdown": 0.2}  # README: health score
RELATIVE = 1e-9

Key = tuple[str, ...]


@dataclass
class Expected:
    """What one query must return: the label values identifying each series, and each series' value."""

    labels: tuple[str, ...]
    values: dict[Key, float] | None = None
    exact: bool = True
    check: Callable[[float], bool] | None = None  # for values that depend on the time of the scrape


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12)


# ----------------------------------------------------------------------------------------- the oracle


class Truth:
    """What the warehouse and the instance say, by plain SQL and the Dagster API."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.conn = duckdb.connect(str(folder / "hean.duckdb"), read_only=True)
        self.conn.execute("SET TimeZone = 'UTC'")
        self.day: date = self.one("SELECT max(date) FROM attribution.portfolio_daily")
        self.week_start = self.day - timedelta(days=6)

    def close(self) -> None:
        self.conn.close()

    def one(self, sql: str, *params: Any) -> Any:
        row = self.conn.execute(sql, list(params)).fetchone()
        assert row is not None
        return row[0]

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, list(params)).fetchall()

    def per_process(self, column: str, first: date, last: date) -> dict[Key, float]:
        rows = self.rows(
            f"SELECT process_id, sum({column}) FROM attribution.process_daily WHERE date BETWEEN ? AND ? GROUP BY 1",
            first,
            last,
        )
        return {(pid,): float(total) for pid, total in rows}

    def portfolio(self, column: str) -> dict[Key, float]:
        return {(): float(self.one(f"SELECT {column} FROM attribution.portfolio_daily WHERE date = ?", self.day))}

    def order_owner(self) -> dict[str, str]:
        rows = self.rows("SELECT DISTINCT link_prefix, process_id FROM registry.processes WHERE link_prefix <> ''")
        return dict(rows)

    def orders(self) -> list[tuple[str, str, date]]:
        prefixes = self.order_owner()
        out = []
        for link_id, status, day in self.rows("SELECT order_link_id, order_status, day FROM raw.bybit_orders"):
            prefix, dash, _ = (link_id or "").partition("-")
            out.append((prefixes.get(prefix, "unattributed") if dash and prefix else "unattributed", status, day))
        return out

    def fills_7d(self) -> list[tuple[str, str, Decimal, Decimal, Decimal | None, bool | None]]:
        return self.rows(
            """SELECT e.process_id, x.side, x.exec_price, x.exec_qty, x.mark_price, x.is_maker
               FROM ledger.entries e JOIN raw.bybit_executions x ON x.exec_id = e.trade_id
               WHERE e.component = 'realized_pnl' AND e.split_rule IN ('owner', 'unattributed')
                 AND x.exec_type = 'Trade' AND e.date BETWEEN ? AND ?""",
            self.week_start,
            self.day,
        )

    def api_latencies(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for endpoint, latency in self.rows("SELECT endpoint, latency_seconds FROM raw.api_requests"):
            out.setdefault(endpoint, []).append(latency)
        return out

    def api_errors(self, last_24h: bool) -> tuple[int, int]:
        window = "WHERE ts > (SELECT max(ts) FROM raw.api_requests) - INTERVAL 1 DAY" if last_24h else ""
        requests, errors = self.conn.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE status IS DISTINCT FROM 200 OR ret_code IS DISTINCT FROM 0)
                FROM raw.api_requests {window}"""
        ).fetchone() or (0, 0)
        return int(requests), int(errors)

    def close_of_day(self) -> float:
        return float((self.day + timedelta(days=1) - date(1970, 1, 1)).days * 86400)


def _histogram_quantile(q: float, bounds: list[float], cumulative: list[int]) -> float:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q*count."""
    rank = q * cumulative[-1]
    for i, count in enumerate(cumulative):
        if count >= rank:
            if bounds[i] == math.inf:
                return bounds[i - 1]
            lower = 0.0 if i == 0 else bounds[i - 1]
            below = 0 if i == 0 else cumulative[i - 1]
            return lower + (bounds[i] - lower) * (rank - below) / (count - below)
    raise AssertionError("unreachable: the +Inf bucket holds every observation")


def _expectations(truth: Truth, last_success_end: float, checked_assets: set[str]) -> dict[str, Expected]:
    day, week = truth.day, truth.week_start
    p = f'process_id=~"{ALL_PROCESSES}"'
    ex: dict[str, Expected] = {}

    # Status
    drawdown = float(truth.one("SELECT drawdown_ratio FROM attribution.portfolio_daily WHERE date = ?", day))
    requests_24h, errors_24h = truth.api_errors(last_24h=True)
    staleness_now = time.time() - truth.close_of_day()
    assert staleness_now > 50 * 3600  # the sandbox's days are long closed: freshness is 0 by the formula
    components = {
        "freshness": 0.0,
        "checks": 1.0,  # the run's checks all passed (asserted on its log below)
        "api_errors": 1.0 - errors_24h / requests_24h,
        "drawdown": min(1.0, max(0.0, 1.0 - drawdown / DRAWDOWN_LIMIT)),
    }
    score = sum(WEIGHTS[c] * v for c, v in components.items()) / sum(WEIGHTS.values())
    ex["hean_health_score"] = Expected((), {(): score}, exact=False)
    ex["hean_health_component"] = Expected(("component",), {(c,): v for c, v in components.items()}, exact=False)
    ex["hean_actions_enabled"] = Expected((), {(): 0.0})
    decisions = truth.rows(
        "SELECT process_id, decision FROM selection.scores WHERE as_of = (SELECT max(as_of) FROM selection.scores)"
    )
    ex[f"hean_selector_decision{{{p}}} == 1"] = Expected(
        ("process_id", "decision"), {(pid, decision): 1.0 for pid, decision in decisions}
    )
    ex["hean_last_successful_run_timestamp_seconds * 1000"] = Expected((), {(): last_success_end * 1000}, exact=False)
    ex["sum by (asset) (hean_asset_failed_checks)"] = Expected(("asset",), {(a,): 0.0 for a in checked_assets})

    # Equity and drawdown
    ex["hean_equity_usd"] = Expected((), truth.portfolio("equity"))
    ex["hean_drawdown_ratio"] = Expected((), truth.portfolio("drawdown_ratio"))
    ex["hean_drawdown_limit_ratio"] = Expected((), {(): DRAWDOWN_LIMIT})

    # PnL breakdown: the portfolio's own row against PromQL's sum over processes
    for metric, column in [
        ("pnl", "pnl"),
        ("fees", "fees"),
        ("funding", "funding"),
        ("rewards", "rewards"),
        ("opportunity_cost", "opportunity_cost"),
        ("truth_total", "total"),
    ]:
        ex[f'sum(hean_{metric}_usd{{period="day", {p}}})'] = Expected((), truth.portfolio(column), exact=False)
    ex[f'hean_truth_total_usd{{period="cumulative", {p}}}'] = Expected(
        ("process_id",), truth.per_process("total", date.min, day)
    )
    for metric, column in [
        ("pnl", "pnl"),
        ("truth_total", "total"),
        ("fees", "fees"),
        ("funding", "funding"),
        ("rewards", "rewards"),
        ("opportunity_cost", "opportunity_cost"),
    ]:
        ex[f'hean_{metric}_usd{{period="7d", {p}}}'] = Expected(("process_id",), truth.per_process(column, week, day))
    ex[f'hean_realized_pnl_usd{{period="day", {p}}}'] = Expected(
        ("process_id",), truth.per_process("realized_pnl", day, day)
    )
    ex[f"hean_unrealized_pnl_usd{{{p}}}"] = Expected(("process_id",), truth.per_process("unrealized_pnl_eod", day, day))

    # Execution
    orders = truth.orders()
    rejected_all: dict[Key, float] = {}
    for pid, status, _ in orders:
        rejected_all[(pid,)] = rejected_all.get((pid,), 0.0) + (status == "Rejected")
    ex[f"hean_orders_rejected_total{{{p}}}"] = Expected(("process_id",), rejected_all)
    week_orders: dict[str, list[str]] = {}
    for pid, status, order_day in orders:
        if week <= order_day <= day:
            week_orders.setdefault(pid, []).append(status)
    ex[f'hean_order_reject_ratio{{period="7d", {p}}}'] = Expected(
        ("process_id",), {(pid,): s.count("Rejected") / len(s) for pid, s in week_orders.items()}, exact=False
    )
    slip: dict[str, list[Decimal]] = {}
    maker: dict[str, list[Decimal]] = {}
    for pid, side, price, qty, mark, is_maker in truth.fills_7d():
        if mark is not None and mark > 0:
            s = slip.setdefault(pid, [Decimal(0), Decimal(0)])
            s[0] += (1 if side == "Buy" else -1) * (price - mark) * qty
            s[1] += mark * qty
        if is_maker is not None:
            m = maker.setdefault(pid, [Decimal(0), Decimal(0)])
            m[0] += price * qty if is_maker else 0
            m[1] += price * qty
    ex[f'hean_slippage_bps{{period="7d", {p}}}'] = Expected(
        ("process_id",), {(pid,): float(n * 10_000 / d) for pid, (n, d) in slip.items()}, exact=False
    )
    ex[f'hean_maker_ratio{{period="7d", {p}}}'] = Expected(
        ("process_id",), {(pid,): float(n / d) for pid, (n, d) in maker.items()}, exact=False
    )
    latencies = truth.api_latencies()
    bounds = [*API_LATENCY_BUCKETS_S, math.inf]
    ex["histogram_quantile(0.95, sum by (le, endpoint) (hean_api_latency_seconds_bucket))"] = Expected(
        ("endpoint",),
        {
            (endpoint,): _histogram_quantile(0.95, bounds, [sum(1 for v in values if v <= b) for b in bounds])
            for endpoint, values in latencies.items()
        },
        exact=False,
    )
    ex["sum by (endpoint) (hean_api_latency_seconds_sum) / sum by (endpoint) (hean_api_latency_seconds_count)"] = (
        Expected(("endpoint",), {(e,): sum(v) / len(v) for e, v in latencies.items()}, exact=False)
    )
    requests_all, errors_all = truth.api_errors(last_24h=False)
    ex['sum(hean_api_requests_total{outcome="error"}) / sum(hean_api_requests_total)'] = Expected(
        (), {(): errors_all / requests_all}, exact=False
    )
    ex["sum(hean_api_requests_total)"] = Expected((), {(): float(requests_all)})

    # Safety
    headline, truth_total = truth.per_process("pnl", week, day), truth.per_process("total", week, day)
    illusion: dict[Key, float] = {
        ("process", pid): float(headline[(pid,)] > 0 and truth_total[(pid,)] <= 0) for (pid,) in headline
    }
    portfolio_headline, portfolio_truth = truth.rows(
        "SELECT sum(pnl), sum(total) FROM attribution.portfolio_daily WHERE date BETWEEN ? AND ?", week, day
    )[0]
    illusion[("portfolio", "")] = float(portfolio_headline > 0 and portfolio_truth <= 0)
    ex[f'hean_profit_illusion{{scope="portfolio"}} or hean_profit_illusion{{scope="process", {p}}}'] = Expected(
        ("scope", "process_id"), illusion
    )
    close = truth.close_of_day()
    ex["hean_data_staleness_seconds"] = Expected(
        (), check=lambda v: time.time() - close - 30 <= v <= time.time() - close
    )
    ex["hean_metrics_snapshot_age_seconds"] = Expected((), check=lambda v: 0 <= v < 5)
    ex["hean_metrics_snapshot_stale"] = Expected((), {(): 0.0})
    ex["hean_dagster_instance_up"] = Expected((), {(): 1.0})
    return ex


# ----------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    prometheus: Prometheus
    exporter_url: str
    truth: Truth
    sandbox: Path
    run_id: str


@pytest.fixture(scope="module")
def stack(sandbox_week: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("prometheus")
    run_log = (sandbox_week / "run.log").read_text()
    assert "failed check" not in run_log
    match = re.search(r"^run (\S+): SUCCESS$", run_log, re.MULTILINE)
    assert match, run_log[-2000:]
    env = hean_env(sandbox_week, HEAN_METRICS_DIR=str(work / "metrics"))
    with exporter(env, cwd=work, log=work / "exporter.log") as url:
        config = prometheus_config(url.removeprefix("http://"), work)
        with prometheus(config, work) as server:
            server.wait_until('up{job="hean"} == 1', "the exporter target up")
            server.wait_until("hean_equity_usd", "a scrape with the warehouse's values")
            truth = Truth(sandbox_week)
            try:
                yield Stack(server, url, truth, sandbox_week, match.group(1))
            finally:
                truth.close()


def _panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def _key(series: dict[str, Any], labels: tuple[str, ...]) -> Key:
    return tuple(series["metric"].get(label, "") for label in labels)


def _last_success_end(folder: Path, run_id: str) -> float:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(folder / "dagster_home"))
    try:
        record = instance.get_run_record_by_id(run_id)
        assert record is not None and record.end_time is not None
        return float(record.end_time)
    finally:
        instance.dispose()


def _checked_assets() -> set[str]:
    """Assets with a check the daily job evaluates (freshness checks run from their sensor, not in `hean run`)."""
    from hean_pipelines.definitions import defs
    from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB

    job = defs().resolve_job_def(DAILY_PIPELINE_JOB)
    return {key.asset_key.to_user_string() for key in job.asset_layer.asset_graph.asset_check_keys}


def test_every_dashboard_query_returns_the_warehouse_truth_through_prometheus(stack: Stack) -> None:
    expectations = _expectations(stack.truth, _last_success_end(stack.sandbox, stack.run_id), _checked_assets())
    queries = [t["expr"].replace("$process", ALL_PROCESSES) for p in _panels() for t in p["targets"]]
    # Every panel query has an oracle here, and every oracle is a panel query: no panel goes unchecked.
    assert set(queries) == set(expectations)
    for query in queries:
        expected = expectations[query]
        result = stack.prometheus.query(query)
        assert result, f"empty result: {query}"
        got = {_key(series, expected.labels): float(series["value"][1]) for series in result}
        assert len(got) == len(result), f"two series share a key in {query}: {result}"
        if expected.check is not None:
            assert all(expected.check(v) for v in got.values()), (query, got)
            continue
        assert expected.values, query
        assert set(got) == set(expected.values), (query, sorted(got), sorted(expected.values))
        for key, value in got.items():
            want = expected.values[key]
            assert value == want if expected.exact else _close(value, want), (query, key, value, want)


def test_equity_equals_the_duckdb_value_exactly(stack: Stack) -> None:
    (series,) = stack.prometheus.query("hean_equity_usd")
    equity = stack.truth.one("SELECT equity FROM attribution.portfolio_daily WHERE date = ?", stack.truth.day)
    assert isinstance(equity, Decimal)
    assert float(series["value"][1]) == float(equity)


def test_the_alert_rules_evaluate_on_the_real_series(stack: Stack) -> None:
    deadline = time.monotonic() + 30
    while True:
        rules = {r["name"]: r for g in stack.prometheus.api("rules")["groups"] for r in g["rules"]}
        evaluated = all(r.get("health") == "ok" for r in rules.values())
        if (evaluated and rules["HeanDataStale"]["state"] == "pending") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(rules) == {
        "HeanDataStale",
        "HeanMetricsSnapshotStale",
        "HeanExporterDown",
        "HeanFailedChecks",
        "HeanDrawdownLimit",
        "HeanProfitIllusion",
    }
    assert all(r["health"] == "ok" for r in rules.values()), rules
    # The sandbox's last day closed months ago: the staleness alert is on its way (for: 15m).
    assert rules["HeanDataStale"]["state"] == "pending"
    # Checks passed, drawdown is far below 10 %, and no profit illusion in the sandbox's last week.
    for quiet in ("HeanFailedChecks", "HeanDrawdownLimit", "HeanExporterDown", "HeanMetricsSnapshotStale"):
        assert rules[quiet]["state"] == "inactive", rules[quiet]
    illusions = stack.prometheus.query("hean_profit_illusion == 1")
    assert rules["HeanProfitIllusion"]["state"] == ("firing" if illusions else "inactive")


def test_promtool_accepts_the_config_the_rules_and_a_real_scrape(stack: Stack) -> None:
    config = promtool("check", "config", str(MONITORING / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = promtool("test", "rules", str(MONITORING / "alerts_test.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    status, body = http_get(f"{stack.exporter_url}/metrics")
    assert status == 200
    lint = promtool("check", "metrics", stdin=body)
    assert lint.returncode == 0, lint.stdout + lint.stderr
