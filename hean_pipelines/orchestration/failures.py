"""What a failed run says to the person who has to fix it: one line, everything needed to act.

A line names the time the run failed, the job, the run id, the days it covered, who launched it
(schedule, sensor or a person), each failed step with its error class and first line, and the command
that re-runs those days. Lines are appended to a plain log file (``HEAN_RUN_FAILURE_LOG``) so they can
be read, grepped or tailed without the UI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
SCHEDULE_TAG = "dagster/schedule_name"
SENSOR_TAG = "dagster/sensor_name"
BACKFILL_TAG = "dagster/backfill"

_MAX_MESSAGE = 300


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str
    """Error class and first line of its message, e.g. ``LedgerGapError: day 2026-01-07 ...``."""


@dataclass(frozen=True)
class RunFailure:
    job: str
    run_id: str
    failed_at: datetime
    tags: Mapping[str, str] = field(default_factory=dict)
    steps: Sequence[StepFailure] = ()
    message: str = ""
    """The run-level failure message (e.g. a start timeout, or Dagster's summary of the failed steps)."""


def days(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """(first, last) day the run covered, from its partition or partition-range tags."""
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return tags[RANGE_START_TAG], tags[RANGE_END_TAG]
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG], tags[PARTITION_TAG]
    return None


def launched_by(tags: Mapping[str, str]) -> str:
    if SCHEDULE_TAG in tags:
        return f"schedule {tags[SCHEDULE_TAG]}"
    if SENSOR_TAG in tags:
        return f"sensor {tags[SENSOR_TAG]}"
    if BACKFILL_TAG in tags:
        return f"backfill {tags[BACKFILL_TAG]}"
    return "hand (UI or hean run)"


def _one_line(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= _MAX_MESSAGE else first[: _MAX_MESSAGE - 1] + "…"


def error_summary(class_name: str | None, message: str) -> str:
    """``Class: first line``; a message that already starts with the (qualified) class name is not doubled."""
    line = _one_line(message)
    if not class_name:
        return line or "unknown error"
    match = re.match(rf"^(?:[\w.]*\.)?{re.escape(class_name)}:\s*", line)
    if match:
        line = line[match.end() :]
    return f"{class_name}: {line}" if line else class_name


def describe(failure: RunFailure) -> str:
    """The one line written for a failed run."""
    window = days(failure.tags)
    parts = [
        failure.failed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"FAILED job={failure.job}",
        f"run={failure.run_id}",
        f"days={window[0]}..{window[1]}" if window else "days=none",
        f"launched_by={launched_by(failure.tags)}",
    ]
    if failure.steps:
        parts.append("failed_steps=" + "; ".join(f"{s.step} ({s.error})" for s in failure.steps))
    elif failure.message:
        parts.append(f"reason={_one_line(failure.message)}")
    if window:
        parts.append(f"rerun: hean run --start {window[0]} --end {window[1]}")
    return " | ".join(parts)


def append_line(path: Path, line: str) -> None:
    """Append one line (creating the folder); a line is written whole, with its newline, in one call."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(line.replace("\n", " ") + "\n")
