# One image for the Dagster code server, webserver, daemon and the metrics exporter (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    HEAN_DUCKDB_PATH=/app/data/hean.duckdb \
    HEAN_METRICS_DIR=/app/metrics

WORKDIR /app
COPY pyproject.toml README.md ./
COPY hean_pipelines ./hean_pipelines
RUN pip install --no-cache-dir .

# Instance storage in Postgres (credentials from the environment), the code server over gRPC.
COPY docker/dagster.yaml ${DAGSTER_HOME}/dagster.yaml
COPY docker/workspace.yaml /app/workspace.yaml

# Not root: the data and metrics folders (named volumes) belong to the service user.
RUN useradd --system --uid 10001 --home-dir /app hean \
    && mkdir -p /app/data /app/metrics \
    && chown -R hean /app/data /app/metrics ${DAGSTER_HOME}
USER hean
