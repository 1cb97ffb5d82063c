"""Turn a domain ``CheckOutcome`` into an ``AssetCheckResult`` a person can act on in the UI."""

from typing import Any

import dagster as dg

from hean_pipelines.defs.metadata import markdown_table
from hean_pipelines.ledger.invariants import CheckOutcome


def _cell(value: Any) -> Any:
    return str(value) if value is not None else None


def to_check_result(
    outcome: CheckOutcome, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {
        "summary": outcome.summary,
        "checked_days": outcome.checked_days,
        "failing_dates": dg.MetadataValue.text(", ".join(d.isoformat() for d in outcome.failing_dates) or "none"),
    }
    if outcome.rows:
        columns = list(outcome.rows[0].keys())
        metadata["offending_rows"] = dg.MetadataValue.md(
            markdown_table(columns, [[_cell(r[c]) for c in columns] for r in outcome.rows])
        )
    return dg.AssetCheckResult(passed=outcome.passed, severity=severity, metadata=metadata)


def no_window_result() -> dg.AssetCheckResult:
    """A check launched outside a partitioned run has no day window to check."""
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"summary": "no partition window in this run: launch the check with its asset's partition(s)"},
    )
