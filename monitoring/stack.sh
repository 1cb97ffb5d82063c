#!/usr/bin/env bash
# The stack's make targets: `up`, `docker-logs` and `monitoring-up|down|logs` (README "Observability").
# With a Docker engine: docker compose. Without one, `monitoring-up` runs a local Prometheus binary
# (Debian's `prometheus` package) against `hean metrics serve`, both on 127.0.0.1, and says so; `up` and
# `docker-logs` need Docker and say that instead. Only processes started here (pid files) are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
STATE=${MONITORING_DIR:-.monitoring}
EXPORTER_PORT=${HEAN_METRICS_PORT:-9188}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9091}
SCRAPE_INTERVAL=${PROMETHEUS_SCRAPE_INTERVAL:-30s}
MONITORING_SERVICES=(postgres exporter prometheus grafana)

docker_engine() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose "$@"
  else
    echo "docker compose is not installed (neither the compose plugin nor docker-compose)" >&2
    return 1
  fi
}

need_docker() {
  if ! docker_engine; then
    echo "make $1: no Docker engine here (\`docker info\` failed): the docker-compose stack cannot start." >&2
    echo "  Without Docker: \`make run\` and \`make dev\` (Dagster on SQLite), \`make monitoring-up\` (local Prometheus)." >&2
    exit 1
  fi
}

local_running() { [ -f "$STATE/prometheus.pid" ] || [ -f "$STATE/exporter.pid" ]; }

wait_for() {  # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.5
  done
}

start_local() {
  if local_running; then
    echo "make monitoring-up: already running locally ($STATE/*.pid); \`make monitoring-down\` first" >&2
    exit 1
  fi
  command -v prometheus >/dev/null 2>&1 || { echo "prometheus is not installed (make prometheus)" >&2; exit 1; }
  mkdir -p "$STATE/prometheus-data"
  echo "Docker is not available: running a LOCAL Prometheus binary against the exporter instead (no Grafana:"
  echo "  import monitoring/grafana/dashboards/hean.json into a Grafana of your own, datasource uid 'prometheus')."
  "$BIN/hean" metrics serve --host 127.0.0.1 --port "$EXPORTER_PORT" >"$STATE/exporter.log" 2>&1 &
  echo $! >"$STATE/exporter.pid"
  # The compose file's scrape target is the exporter container; locally it is the loopback port.
  sed -e "s|exporter:9188|127.0.0.1:${EXPORTER_PORT}|" -e "s|^  - alerts.yml|  - $(pwd)/monitoring/alerts.yml|" \
    -e "s|^  scrape_interval: .*|  scrape_interval: ${SCRAPE_INTERVAL}|" \
    -e "s|^  scrape_timeout: .*|  scrape_timeout: ${SCRAPE_INTERVAL}|" \
    monitoring/prometheus.yml >"$STATE/prometheus.yml"
  promtool check config "$STATE/prometheus.yml" >/dev/null
  prometheus --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/prometheus-data" \
    --web.listen-address="127.0.0.1:${PROMETHEUS_PORT}" >"$STATE/prometheus.log" 2>&1 &
  echo $! >"$STATE/prometheus.pid"
  if ! wait_for "http://127.0.0.1:${EXPORTER_PORT}/metrics" 60 || ! wait_for "http://127.0.0.1:${PROMETHEUS_PORT}/-/ready" 60; then
    echo "make monitoring-up: did not come up; logs in $STATE/exporter.log and $STATE/prometheus.log" >&2
    stop_local
    exit 1
  fi
  echo "exporter:   http://127.0.0.1:${EXPORTER_PORT}/metrics   (log $STATE/exporter.log)"
  echo "prometheus: http://127.0.0.1:${PROMETHEUS_PORT}           (log $STATE/prometheus.log)"
}

stop_local() {
  for name in prometheus exporter; do
    local pidfile="$STATE/$name.pid"
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
    echo "stopped local $name (pid $pid)"
  done
}

case "${1:-}" in
  up)
    need_docker up
    compose up -d --build
    echo "Dagster UI: http://127.0.0.1:3001   Grafana: http://127.0.0.1:3000   Prometheus: http://127.0.0.1:9091"
    ;;
  docker-logs)
    need_docker docker-logs
    compose logs -f --tail=200
    ;;
  monitoring-up)
    if docker_engine; then
      compose up -d --build "${MONITORING_SERVICES[@]}"
      echo "Grafana: http://127.0.0.1:3000   Prometheus: http://127.0.0.1:9091   exporter: http://127.0.0.1:9188/metrics"
    else
      start_local
    fi
    ;;
  monitoring-down)
    if local_running; then
      stop_local
    elif docker_engine; then
      compose stop exporter prometheus grafana
    else
      echo "make monitoring-down: nothing is running (no Docker engine, no local pid files in $STATE)"
    fi
    ;;
  monitoring-logs)
    if local_running; then
      tail -n 200 -F "$STATE/exporter.log" "$STATE/prometheus.log"
    else
      need_docker monitoring-logs
      compose logs -f --tail=200 exporter prometheus grafana
    fi
    ;;
  *)
    echo "usage: $0 up|docker-logs|monitoring-up|monitoring-down|monitoring-logs" >&2
    exit 2
    ;;
esac
