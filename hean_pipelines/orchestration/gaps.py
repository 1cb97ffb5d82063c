"""Which days the daily pipeline still owes: date arithmetic over materialized days, no Dagster.

The daily schedule runs at 00:15 UTC for the day that just closed. A day is *due* once its scheduled
run should have finished (the tick plus a grace period); a due day is *missing* when some daily asset
has no materialization for it. Only days from the ledger's first materialized day on are owed: the
sandbox (or an account) may have history before the ledger starts, and the partitions' start date is
a floor, not a promise.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

SCHEDULE_TIME_UTC = time(0, 15)
"""When the daily schedule fires (cron ``15 0 * * *``, UTC) for the day that just closed."""

MISSING_DAY_GRACE = timedelta(hours=1)
"""How long after the schedule's tick a day counts as missing: the tick's own run goes first."""


def last_due_day(now: datetime, *, run_at: time = SCHEDULE_TIME_UTC, grace: timedelta = MISSING_DAY_GRACE) -> date:
    """The latest day whose scheduled run should have finished by ``now``.

    Day D is due from (D+1) at ``run_at`` + ``grace`` (UTC): with the defaults, yesterday is due from
    01:15 UTC, and before that only the day before yesterday is.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    shifted = now.astimezone(UTC) - grace - timedelta(hours=run_at.hour, minutes=run_at.minute)
    return shifted.date() - timedelta(days=1)


def complete_days(materialized: Mapping[str, Collection[date]]) -> set[date]:
    """Days every asset has materialized (the intersection); no assets -> no day is complete."""
    sets = [set(days) for days in materialized.values()]
    if not sets:
        return set()
    return set.intersection(*sets)


@dataclass(frozen=True)
class MissingDays:
    """The days owed, oldest first, and the window they were looked for in."""

    first_day: date | None
    """The ledger's first materialized day (``None``: nothing materialized yet, nothing is owed)."""
    last_due: date
    days: tuple[date, ...]

    @property
    def earliest(self) -> date | None:
        return self.days[0] if self.days else None


def missing_days(first_day: date | None, complete: Iterable[date], last_due: date) -> MissingDays:
    """Days in [first_day, last_due] that are not complete, in order."""
    if first_day is None or first_day > last_due:
        return MissingDays(first_day, last_due, ())
    done = set(complete)
    owed = []
    day = first_day
    while day <= last_due:
        if day not in done:
            owed.append(day)
        day += timedelta(days=1)
    return MissingDays(first_day, last_due, tuple(owed))
