"""Observability settings from the environment (documented in the README's Observability section)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hean_pipelines.settings import SettingsError, env_int

DEFAULT_METRICS_DIR = Path("metrics")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9188
DEFAULT_DRAWDOWN_LIMIT = 0.10
# A scrape waits at most this long for DuckDB's lock, then serves its last values: a run's writer
# retries with backoff for a minute, so a reader that gives up fast never holds a run back.
DEFAULT_SCRAPE_LOCK_TIMEOUT_S = 0.25


@dataclass(frozen=True)
class MetricsConfig:
    metrics_dir: Path = DEFAULT_METRICS_DIR
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    drawdown_limit: float = DEFAULT_DRAWDOWN_LIMIT
    scrape_lock_timeout_s: float = DEFAULT_SCRAPE_LOCK_TIMEOUT_S

    @property
    def json_path(self) -> Path:
        return self.metrics_dir / "metrics.json"

    @property
    def prom_path(self) -> Path:
        return self.metrics_dir / "metrics.prom"


def _float(name: str, default: float, low: float, high: float, *, low_inclusive: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if not (low <= value if low_inclusive else low < value) or value > high:
        raise SettingsError(f"{name}={raw!r} must be in {'[' if low_inclusive else '('}{low}, {high}]")
    return value


def load_metrics_config() -> MetricsConfig:
    """``HEAN_METRICS_DIR``, ``HEAN_METRICS_HOST``, ``HEAN_METRICS_PORT``, ``HEAN_DRAWDOWN_LIMIT``,
    ``HEAN_METRICS_LOCK_TIMEOUT_S``."""
    return MetricsConfig(
        metrics_dir=Path(os.environ.get("HEAN_METRICS_DIR", "").strip() or DEFAULT_METRICS_DIR),
        host=os.environ.get("HEAN_METRICS_HOST", "").strip() or DEFAULT_HOST,
        port=env_int("HEAN_METRICS_PORT", DEFAULT_PORT),
        drawdown_limit=_float("HEAN_DRAWDOWN_LIMIT", DEFAULT_DRAWDOWN_LIMIT, 0.0, 1.0),
        scrape_lock_timeout_s=_float(
            "HEAN_METRICS_LOCK_TIMEOUT_S", DEFAULT_SCRAPE_LOCK_TIMEOUT_S, 0.0, 60.0, low_inclusive=True
        ),
    )
