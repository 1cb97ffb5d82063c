"""Named errors of the ledger: each says which day and what is missing."""

from __future__ import annotations

from datetime import date


class LedgerError(RuntimeError):
    """The ledger cannot be built for a day."""


class LedgerGapError(LedgerError):
    """Day D needs D-1's closing positions, which were never built."""

    def __init__(self, day: date, first_day: date) -> None:
        super().__init__(
            f"ledger for {day} needs the positions of {day.fromordinal(day.toordinal() - 1)}, which are "
            f"missing; the ledger starts on {first_day}: materialize the days in between first "
            "(one ranged run does them in order)"
        )
        self.day = day
        self.first_day = first_day


class BeforeLedgerStartError(LedgerError):
    def __init__(self, day: date, first_day: date) -> None:
        super().__init__(f"{day} is before the ledger's first day {first_day} (HEAN_LEDGER_START)")


class MissingMarkError(LedgerError):
    """An open position has no closing mark price for the day."""

    def __init__(self, day: date, missing: list[tuple[str, str]]) -> None:
        names = ", ".join(f"{category}:{symbol}" for category, symbol in missing)
        super().__init__(f"no closing mark price (hourly bar at 23:00 UTC) on {day} for open positions: {names}")
        self.day = day
        self.missing = missing


class InexactAmountError(LedgerError):
    """An amount does not fit DECIMAL(38,18) exactly; storing it would round money silently."""
