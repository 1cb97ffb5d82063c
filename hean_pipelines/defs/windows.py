"""The day window a run covers, for assets (partition time window) and for checks (run tags)."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the run's partition window -- one day or a whole backfill range."""
    window = context.partition_time_window
    first = window.start.date()
    last = datetime.fromtimestamp(window.end.timestamp() - 1, tz=window.end.tzinfo).date()
    return first, last


def run_days(context: dg.AssetCheckExecutionContext) -> tuple[date, date] | None:
    """The days of the run a check belongs to: a ranged run checks every day of its range once."""
    tags = context.run.tags
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        return date.fromisoformat(tags[ASSET_PARTITION_RANGE_START_TAG]), date.fromisoformat(
            tags[ASSET_PARTITION_RANGE_END_TAG]
        )
    if PARTITION_NAME_TAG in tags:
        day = date.fromisoformat(tags[PARTITION_NAME_TAG])
        return day, day
    return None


def each_day(first: date, last: date) -> Iterator[date]:
    """The days of a window, in order (a ranged run processes them one after another)."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
