"""Which days are owed: due times around the 00:15 UTC schedule, gaps from the first materialized day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from hean_pipelines.orchestration.gaps import complete_days, last_due_day, missing_days

JAN = [date(2026, 1, d) for d in range(1, 32)]


@pytest.mark.parametrize(
    ("now", "due"),
    [
        # Yesterday becomes due one hour after the schedule's 00:15 tick.
        (datetime(2026, 1, 10, 1, 14, 59, tzinfo=UTC), date(2026, 1, 8)),
        (datetime(2026, 1, 10, 1, 15, 0, tzinfo=UTC), date(2026, 1, 9)),
        (datetime(2026, 1, 10, 23, 59, tzinfo=UTC), date(2026, 1, 9)),
        (datetime(2026, 1, 10, 0, 30, tzinfo=UTC), date(2026, 1, 8)),
        # Any zone is read as the same instant in UTC: 02:15+02:00 is 00:15 UTC, not yet due.
        (datetime(2026, 1, 10, 2, 15, tzinfo=timezone(timedelta(hours=2))), date(2026, 1, 8)),
    ],
)
def test_a_day_is_due_an_hour_after_its_scheduled_tick(now: datetime, due: date) -> None:
    assert last_due_day(now) == due


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        last_due_day(datetime(2026, 1, 10, 3, 0))  # naive on purpose


def test_complete_days_are_those_every_asset_has() -> None:
    materialized = {"a": {JAN[0], JAN[1], JAN[2]}, "b": {JAN[1], JAN[2], JAN[3]}, "c": {JAN[2], JAN[1]}}
    assert complete_days(materialized) == {JAN[1], JAN[2]}
    assert complete_days({}) == set()


def test_missing_days_start_at_the_first_materialized_day_and_end_at_the_last_due_day() -> None:
    # Materialized: 5, 6, 8 and 10 (of January); due through the 11th.
    complete = {JAN[4], JAN[5], JAN[7], JAN[9]}
    owed = missing_days(JAN[4], complete, JAN[10])
    assert owed.days == (JAN[6], JAN[8], JAN[10])
    assert owed.earliest == JAN[6]
    assert (owed.first_day, owed.last_due) == (JAN[4], JAN[10])


def test_nothing_is_owed_before_anything_was_materialized_or_when_all_is_done() -> None:
    assert missing_days(None, set(), JAN[10]).days == ()
    assert missing_days(None, set(), JAN[10]).earliest is None
    assert missing_days(JAN[4], set(JAN[4:11]), JAN[10]).days == ()
    # A first day after the due horizon (built ahead by hand) owes nothing either.
    assert missing_days(JAN[12], set(), JAN[10]).days == ()
