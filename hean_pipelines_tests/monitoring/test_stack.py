"""The stack's files, validated by parsing (there is no Docker engine to run them here), the dashboard's
structure, the alert rules' coverage, and the make targets' behaviour without Docker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from hean_pipelines.metrics.catalog import BY_NAME, spec_for_sample
from hean_pipelines_tests.hean_cli import hean_env
from hean_pipelines_tests.monitoring.processes import (
    MONITORING,
    REPO,
    Prometheus,
    free_port,
    promtool,
    require_binary,
)

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DASHBOARD = json.loads((MONITORING / "grafana" / "dashboards" / "hean.json").read_text())
SECRETS = ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "GRAFANA_ADMIN_USER", "GRAFANA_ADMIN_PASSWORD")


def _service(name: str) -> dict[str, Any]:
    return dict(COMPOSE["services"][name])


def _bind_mounts(name: str) -> dict[str, Path]:
    """Container path -> repository path of a service's bind mounts."""
    mounts = [m.split(":") for m in _service(name)["volumes"] if m.startswith("./")]
    return {target: REPO / source for source, target, *_ in mounts}


# ------------------------------------------------------------------------------------------ compose


def test_the_stack_has_every_service() -> None:
    assert set(COMPOSE["services"]) == {
        "postgres",
        "code_server",
        "webserver",
        "daemon",
        "exporter",
        "prometheus",
        "grafana",
    }


def test_every_published_port_binds_loopback_prometheus_on_9091_and_grafana_on_3000() -> None:
    published = {name: s.get("ports", []) for name, s in COMPOSE["services"].items()}
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports), published
    assert published["prometheus"] == ["127.0.0.1:9091:9090"]
    assert published["grafana"] == ["127.0.0.1:3000:3000"]
    assert published["postgres"] == []  # reachable by the other services only


def test_credentials_come_from_the_environment_and_none_is_defaulted() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for name in SECRETS:
        # `$${VAR}` is the container shell's variable (the healthcheck), not compose interpolation.
        uses = re.findall(r"(?<!\$)\$\{" + name + r"([^}]*)\}", text)
        assert uses, name
        # `${VAR:?message}`: compose refuses to start when it is unset or empty. `:-` or `-` would default it.
        assert all(use.startswith(":?") for use in uses), (name, uses)
    grafana = _service("grafana")["environment"]
    assert grafana["GF_SECURITY_ADMIN_USER"].startswith("${GRAFANA_ADMIN_USER:?")
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    postgres = _service("postgres")["environment"]
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    # Optional keys are passed through by name only, with no value written in the file.
    assert _service("exporter")["environment"]["BYBIT_API_SECRET"] is None
    example = (REPO / ".env.example").read_text()
    for name in SECRETS:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), f".env.example must list {name} without a value"


def test_the_dagster_services_share_one_postgres_instance_and_the_code_server() -> None:
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_postgres import DagsterPostgresStorage

    config, _ = dagster_instance_config(str(REPO / "docker"))
    storage = config["storage"]["postgres"]["postgres_db"]
    assert {k: storage[k] for k in ("username", "password", "hostname", "db_name")} == {
        "username": {"env": "POSTGRES_USER"},
        "password": {"env": "POSTGRES_PASSWORD"},
        "hostname": {"env": "POSTGRES_HOST"},
        "db_name": {"env": "POSTGRES_DB"},
    }
    env = {"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p", "POSTGRES_HOST": "h", "POSTGRES_DB": "d"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert process_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"]).success
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
    workspace = yaml.safe_load((REPO / "docker" / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    command = _service("code_server")["command"]
    assert location["grpc_server"]["host"] == "code_server"
    assert str(location["grpc_server"]["port"]) == command[command.index("-p") + 1]
    for name in ("code_server", "webserver", "daemon", "exporter"):
        service = _service(name)
        assert service["environment"]["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
        assert service["environment"]["POSTGRES_HOST"] == "postgres"
        assert "hean-data:/app/data" in service["volumes"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY docker/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in dockerfile
    assert "dagster-postgres==0.29.27" in (REPO / "pyproject.toml").read_text()


def test_prometheus_scrapes_the_exporter_service_and_grafana_is_provisioned() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    exporter = _service("exporter")
    assert host == "exporter" and exporter["command"][exporter["command"].index("--port") + 1] == port
    mounts = _bind_mounts("prometheus")
    assert mounts["/etc/prometheus/prometheus.yml"] == REPO / "monitoring/prometheus.yml"
    assert all(path.exists() for path in mounts.values())
    assert Path("/etc/prometheus", config["rule_files"][0]) in {Path(m) for m in mounts}
    grafana_mounts = {
        m.split(":")[1]: REPO / m.split(":")[0] for m in _service("grafana")["volumes"] if m.startswith("./")
    }
    assert all(path.is_dir() for path in grafana_mounts.values())
    datasource = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["uid"] == "prometheus" and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/hean.yml").read_text())
    assert provider["providers"][0]["options"]["path"] in grafana_mounts
    assert grafana_mounts[provider["providers"][0]["options"]["path"]] == MONITORING / "grafana/dashboards"


# ------------------------------------------------------------------------------------------ dashboard


def _panels() -> list[dict[str, Any]]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def test_the_dashboard_has_the_five_rows_and_every_panel_a_unit_a_description_and_a_query() -> None:
    rows = [p["title"] for p in DASHBOARD["panels"] if p["type"] == "row"]
    assert rows == ["Status", "Equity and drawdown", "PnL breakdown", "Execution", "Safety"]
    assert "schemaVersion" in DASHBOARD and DASHBOARD["uid"]  # classic JSON model
    for panel in _panels():
        assert len(panel["description"]) > 30, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_uses_only_catalog_metrics_and_shows_what_the_issue_asks_for() -> None:
    used = {name for p in _panels() for t in p["targets"] for name in re.findall(r"\bhean_\w+", t["expr"])}
    families = {spec_for_sample(name).name for name in used}  # raises on a name the exporter does not have
    assert {
        "hean_health_score",
        "hean_actions_enabled",
        "hean_equity_usd",
        "hean_drawdown_ratio",
        "hean_pnl_usd",
        "hean_fees_usd",
        "hean_funding_usd",
        "hean_rewards_usd",
        "hean_opportunity_cost_usd",
        "hean_orders_rejected_total",
        "hean_slippage_bps",
        "hean_maker_ratio",
        "hean_api_latency_seconds",
        "hean_profit_illusion",
        "hean_data_staleness_seconds",
        "hean_metrics_snapshot_age_seconds",
    } <= families
    sections: dict[str, list[str]] = {}
    current = ""
    for panel in DASHBOARD["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
        else:
            sections.setdefault(current, []).append(panel["title"])
    assert "Health score" in sections["Status"] and "Actions enabled" in sections["Status"]
    assert "Profit illusion" in sections["Safety"] and "Data staleness" in sections["Safety"]


def test_the_alert_rules_cover_staleness_checks_drawdown_and_profit_illusion() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"HeanDataStale", "HeanFailedChecks", "HeanDrawdownLimit", "HeanProfitIllusion"} <= set(alerts)
    for rule in alerts.values():
        for name in re.findall(r"\bhean_\w+", rule["expr"]):
            assert name in BY_NAME, (rule["alert"], name)
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    checked = promtool("check", "rules", str(MONITORING / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


# ------------------------------------------------------------------------------------------ make targets


@pytest.fixture
def no_docker_engine(tmp_path: Path) -> dict[str, str]:
    """PATH where `docker` exists but its engine does not answer: this machine's situation, made certain."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    (fake / "docker").chmod(0o755)
    return {"PATH": f"{fake}:{os.environ['PATH']}"}


def _stack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(MONITORING / "stack.sh"), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("target", ["up", "docker-logs"])
def test_without_docker_up_and_docker_logs_say_so_and_fail(target: str, no_docker_engine: dict[str, str]) -> None:
    result = _stack(target, no_docker_engine)
    assert result.returncode != 0
    assert "no Docker engine" in result.stderr


def test_without_docker_monitoring_up_runs_a_local_prometheus_against_the_exporter(
    no_docker_engine: dict[str, str], sandbox_week: Path, tmp_path: Path
) -> None:
    require_binary("prometheus")
    state = tmp_path / "monitoring"
    prometheus_port, exporter_port = free_port(), free_port()
    env = {
        **hean_env(sandbox_week, HEAN_METRICS_DIR=str(tmp_path / "metrics")),
        **no_docker_engine,
        "BIN": str(Path(sys.executable).parent),  # this venv's `hean`
        "MONITORING_DIR": str(state),
        "HEAN_METRICS_PORT": str(exporter_port),
        "PROMETHEUS_PORT": str(prometheus_port),
        "PROMETHEUS_SCRAPE_INTERVAL": "1s",
    }
    up = _stack("monitoring-up", env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "LOCAL Prometheus" in up.stdout and "Docker is not available" in up.stdout
        pids = {name: int((state / f"{name}.pid").read_text()) for name in ("exporter", "prometheus")}
        server = Prometheus(f"http://127.0.0.1:{prometheus_port}")
        server.wait_until('up{job="hean"} == 1', "the exporter target up")
        server.wait_until("hean_equity_usd > 0", "the equity")
        assert promtool("check", "config", str(state / "prometheus.yml")).returncode == 0
    finally:
        down = _stack("monitoring-down", env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not list(state.glob("*.pid"))
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids.values())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of ours that exited stays a zombie until reaped: it is not running.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"
