"""Which day the ledger starts on, and how its opening state is known."""

from __future__ import annotations

from datetime import date

import duckdb

from hean_pipelines.ledger.build import ledger_days
from hean_pipelines.ledger.errors import LedgerError


class BootstrapError(LedgerError):
    """The first day's opening state cannot be known for this source."""


def first_ledger_day(
    conn: duckdb.DuckDBPyConnection, account: str, configured: date | None, run_first_day: date
) -> date:
    """HEAN_LEDGER_START if set; else the first day already in the ledger; else this run's first day."""
    if configured is not None:
        return configured
    days = ledger_days(conn, account)
    return days[0] if days else run_first_day


def opening_source(source: str, first_day: date) -> str:
    """How the first day's opening state is known (recorded in ``ledger.days``).

    The sandbox account is flat at every Monday 00:00 UTC, so a sandbox ledger starts on a Monday.
    Other sources start flat by assumption (take a day you were flat, or import a position snapshot).
    """
    if source == "sandbox":
        if first_day.weekday() != 0:
            raise BootstrapError(
                f"a sandbox ledger must start on a Monday (the sandbox is flat then), not {first_day} "
                f"({first_day:%A}); `hean run` aligns the first run for you, or set HEAN_LEDGER_START"
            )
        return "flat: the sandbox account is flat every Monday 00:00 UTC"
    return f"flat: assumed for the first day of a {source} ledger (no position snapshot at its start)"
