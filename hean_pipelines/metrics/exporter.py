"""The long-running HTTP exporter behind ``hean metrics serve``: ``GET /metrics`` on 127.0.0.1 by default.

Each scrape reads DuckDB read-only and briefly (see :mod:`hean_pipelines.metrics.collector`); between
scrapes the exporter holds nothing open, so a pipeline run is never kept waiting for more than a moment.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from hean_pipelines.metrics.collector import WarehouseCollector
from hean_pipelines.metrics.config import MetricsConfig
from hean_pipelines.metrics.files import load_snapshot
from hean_pipelines.metrics.pipeline_status import PipelineStatusReader
from hean_pipelines.metrics.snapshot import take_snapshot


@dataclass
class RunningExporter:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def build_collector(
    db_path: Path, config: MetricsConfig, status_reader: PipelineStatusReader | None
) -> WarehouseCollector:
    read = partial(
        take_snapshot,
        db_path,
        lock_timeout_s=config.scrape_lock_timeout_s,
        drawdown_limit=config.drawdown_limit,
        status_reader=status_reader,
    )
    return WarehouseCollector(read, fallback=partial(load_snapshot, config.json_path))


def start_exporter(collector: WarehouseCollector, host: str, port: int) -> RunningExporter:
    """Serve ``collector`` on ``host:port`` (port 0: any free port) from a daemon thread."""
    registry = CollectorRegistry(auto_describe=False)  # nothing is read at registration, only at scrapes
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return RunningExporter(server, thread)


def serve_until_stopped(exporter: RunningExporter) -> None:
    """Block until SIGINT or SIGTERM (``docker stop``), then shut the server down."""
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
    exporter.stop()
