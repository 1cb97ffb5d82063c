"""Observability: metric values from the DuckDB warehouse and the Dagster instance, exported for Prometheus.

Plain Python (no Dagster import): :mod:`catalog` names every metric; :mod:`warehouse` reads the values
from DuckDB; :mod:`health` is the health score; :mod:`pipeline_status` carries run and check status;
:mod:`snapshot` takes one reading; :mod:`files` writes ``metrics.json`` and the Prometheus text file;
:mod:`collector` serves the last reading to prometheus_client; :mod:`exporter` is the HTTP server.
"""
