"""Configuration from the environment (and ``.env``, loaded by the CLI). Secrets never leave here in logs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Source = Literal["sandbox", "live", "recorded"]
SOURCES: tuple[Source, ...] = ("sandbox", "live", "recorded")

DEFAULT_DUCKDB_PATH = Path("data/hean.duckdb")
DEFAULT_START_DATE = date(2025, 12, 29)
DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_ACCOUNT = "main"
DEFAULT_SANDBOX_SEED = 7
DEFAULT_HURDLE_RATE = Decimal("0.05")
DEFAULT_RUN_FAILURE_LOG = Path("reports/run_failures.log")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """An integer from the environment; ``default`` when unset or blank; :class:`SettingsError` otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not an integer") from exc


def _env_date(name: str, default: date) -> date:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a date (YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know about where data comes from and where it goes."""

    duckdb_path: Path = DEFAULT_DUCKDB_PATH
    source: Source = "sandbox"
    account: str = DEFAULT_ACCOUNT
    start_date: date = DEFAULT_START_DATE
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    bybit_api_key: str = field(default="", repr=False)
    bybit_api_secret: str = field(default="", repr=False)
    bybit_testnet: bool = False
    bybit_base_url: str = ""
    """Live only: another Bybit v5 address (demo trading, a proxy); empty = mainnet or testnet."""
    sandbox_url: str = ""
    sandbox_seed: int = DEFAULT_SANDBOX_SEED
    sandbox_faults: str = ""
    duckdb_lock_timeout_s: float = 60.0
    ledger_start: date | None = None
    hurdle_rate: Decimal = DEFAULT_HURDLE_RATE
    reports_dir: Path = Path("reports")
    run_failure_log: Path = DEFAULT_RUN_FAILURE_LOG
    """Where the run-failure sensor appends one line per failed run (relative: to the code location's folder)."""

    @property
    def has_api_key(self) -> bool:
        return bool(self.bybit_api_key and self.bybit_api_secret)


def _env_decimal(name: str, default: Decimal) -> Decimal:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise SettingsError(f"{name}={raw!r} is not a decimal number") from exc
    if not value.is_finite() or value < 0 or value > 1:
        raise SettingsError(f"{name}={raw!r} must be an annual rate between 0 and 1 (0.05 = 5%)")
    return value


def _sandbox_faults() -> str:
    spec = os.environ.get("HEAN_SANDBOX_FAULTS", "").strip()
    if spec:
        from hean_pipelines.bybit.sandbox.faults import FaultPlan, FaultSpecError

        try:
            FaultPlan().extend(spec)
        except FaultSpecError as exc:
            raise SettingsError(f"HEAN_SANDBOX_FAULTS={spec!r}: {exc}") from exc
    return spec


def _base_url(name: str) -> str:
    raw = os.environ.get(name, "").strip().rstrip("/")
    if not raw:
        return raw
    url = urlsplit(raw)
    # Plain http only on loopback: the signature travels in headers, the key must not cross a network in clear.
    if not url.hostname or not (
        url.scheme == "https" or (url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost", "::1"))
    ):
        raise SettingsError(f"{name}={raw!r}: expected an https:// address (or http:// on loopback)")
    return raw


def load_settings() -> Settings:
    """Read ``HEAN_*`` and ``BYBIT_*`` variables. The source defaults to live when keys are set."""
    api_key = os.environ.get("BYBIT_API_KEY", "").strip()
    api_secret = os.environ.get("BYBIT_API_SECRET", "").strip()
    default_source: Source = "live" if api_key and api_secret else "sandbox"
    source = os.environ.get("HEAN_SOURCE", "").strip() or default_source
    if source not in SOURCES:
        raise SettingsError(f"HEAN_SOURCE={source!r}: expected one of {', '.join(SOURCES)}")
    if source == "live" and not (api_key and api_secret):
        raise SettingsError("HEAN_SOURCE=live needs BYBIT_API_KEY and BYBIT_API_SECRET")
    lookback = env_int("HEAN_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS)
    if lookback < 0:
        raise SettingsError(f"HEAN_LOOKBACK_DAYS={lookback} must be >= 0")
    return Settings(
        duckdb_path=Path(os.environ.get("HEAN_DUCKDB_PATH", "").strip() or DEFAULT_DUCKDB_PATH),
        source=source,
        account=os.environ.get("HEAN_ACCOUNT", "").strip() or DEFAULT_ACCOUNT,
        start_date=_env_date("HEAN_START_DATE", DEFAULT_START_DATE),
        lookback_days=lookback,
        bybit_api_key=api_key,
        bybit_api_secret=api_secret,
        bybit_testnet=_env_bool("BYBIT_TESTNET"),
        bybit_base_url=_base_url("BYBIT_BASE_URL"),
        sandbox_url=os.environ.get("HEAN_SANDBOX_URL", "").strip(),
        sandbox_seed=env_int("HEAN_SANDBOX_SEED", DEFAULT_SANDBOX_SEED),
        sandbox_faults=_sandbox_faults(),
        duckdb_lock_timeout_s=float(env_int("HEAN_DUCKDB_LOCK_TIMEOUT_S", 60)),
        ledger_start=_env_date("HEAN_LEDGER_START", date.min) if os.environ.get("HEAN_LEDGER_START") else None,
        hurdle_rate=_env_decimal("HEAN_HURDLE_RATE", DEFAULT_HURDLE_RATE),
        reports_dir=Path(os.environ.get("HEAN_REPORTS_DIR", "").strip() or "reports"),
        run_failure_log=Path(os.environ.get("HEAN_RUN_FAILURE_LOG", "").strip() or DEFAULT_RUN_FAILURE_LOG),
    )
