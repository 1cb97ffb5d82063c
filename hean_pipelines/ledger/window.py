"""Which day the ledger starts on, and how its opening state is known."""

from __future__ import annotations

from datetime import date

import duckdb

from hean_pipelines.ledger.bootstrap import Bootstrap, BootstrapError, bootstrap_opening
from hean_pipelines.ledger.build import ledger_days

__all__ = ["BootstrapError", "first_ledger_day", "opening_state"]


def first_ledger_day(
    conn: duckdb.DuckDBPyConnection, account: str, configured: date | None, run_first_day: date
) -> date:
    """HEAN_LEDGER_START if set; else the first day already in the ledger; else this run's first day."""
    if configured is not None:
        return configured
    days = ledger_days(conn, account)
    return days[0] if days else run_first_day


def opening_state(
    conn: duckdb.DuckDBPyConnection, source: str, first_day: date, account: str
) -> tuple[str, Bootstrap | None]:
    """How the first day's opening state is known (recorded in ``ledger.days``), and the snapshot it was
    rolled back from when it was not flat.

    - sandbox: the simulated account is flat every Monday 00:00 UTC, so a sandbox ledger starts on a Monday;
    - live: from the first Bybit snapshot taken at or after the day's start (live ingestion takes one every
      run), rolled back to it (``ledger.openings``); no snapshot is an error;
    - recorded: the same when a snapshot was imported (`hean import-bybit` of position/list and
      wallet-balance answers), else flat by assumption, and ``ledger.days`` says so.
    """
    if source == "sandbox":
        if first_day.weekday() != 0:
            raise BootstrapError(
                f"a sandbox ledger must start on a Monday (the sandbox is flat then), not {first_day} "
                f"({first_day:%A}); `hean run` aligns the first run for you, or set HEAN_LEDGER_START"
            )
        return "flat: the sandbox account is flat every Monday 00:00 UTC", None
    bootstrap = bootstrap_opening(conn, first_day, account)
    if bootstrap is not None:
        return bootstrap.provenance(), bootstrap
    if source == "live":
        raise BootstrapError(
            f"no Bybit position/wallet snapshot taken at or after {first_day} 00:00 UTC for account {account!r}: "
            "live ingestion takes one every run, so run the ingestion (the whole job) for this window"
        )
    return (
        f"flat: assumed for the first day of a {source} ledger (no position snapshot at or after its start)",
        None,
    )
