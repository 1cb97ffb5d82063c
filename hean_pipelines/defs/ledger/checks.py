"""Blocking checks on the ledger: nothing lost, nothing doubled, and Bybit's own numbers agree."""

from collections.abc import Iterator

import dagster as dg

from hean_pipelines.defs.check_results import to_check_result
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.window_check import window_check
from hean_pipelines.defs.windows import run_days
from hean_pipelines.ledger import invariants

NO_DUPLICATE_ENTRIES = "no_duplicate_entries"
NOTHING_LOST_OR_DOUBLED = "nothing_lost_or_doubled"
TRANSACTION_LOG_IDENTITY = "transaction_log_identity"
CLOSED_PNL_GROSS_MATCHES = "closed_pnl_gross_matches"
CLOSED_PNL_FEE_RESIDUAL = "closed_pnl_fee_residual"
QUARANTINE_EMPTY = "quarantine_empty"


no_duplicate_entries = window_check(
    asset="ledger_entries",
    name=NO_DUPLICATE_ENTRIES,
    description=(
        "No entry twice per (trade_id, component, process_id) and no account fill twice per exec_id (the keys "
        "of ledger.entries and ledger.account_fills: no index holds them, this check does); no fill booked "
        "twice under two exec ids."
    ),
    invariant=invariants.no_duplicate_entries,
)

nothing_lost_or_doubled = window_check(
    asset="ledger_entries",
    name=NOTHING_LOST_OR_DOUBLED,
    description=(
        "Every raw execution and transaction is in the ledger or in quarantine, exactly once per component, "
        "and every split (fee, funding, quantity) sums exactly to its source row."
    ),
    invariant=invariants.completeness,
)

transaction_log_identity = window_check(
    asset="ledger_entries",
    name=TRANSACTION_LOG_IDENTITY,
    description="Bybit's identity on every transaction-log row: change = cashFlow + funding − fee.",
    invariant=invariants.transaction_log_identity,
)

quarantine_empty = window_check(
    asset="ledger_entries",
    name=QUARANTINE_EMPTY,
    description="WARN while rows sit in ledger.quarantine (out of scope or unknown), listing them.",
    invariant=invariants.quarantine_empty,
    severity=dg.AssetCheckSeverity.WARN,
    blocking=False,
)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            CLOSED_PNL_GROSS_MATCHES,
            asset="positions",
            blocking=True,
            description=(
                "Per closing order, Bybit's gross (cumExitValue − cumEntryValue; reversed for a short) equals the "
                "ledger's account-level average-cost realized PnL exactly."
            ),
        ),
        dg.AssetCheckSpec(
            CLOSED_PNL_FEE_RESIDUAL,
            asset="positions",
            description=(
                "gross − closedPnl against Bybit's openFee + closeFee (WARN: whether closedPnl includes funding "
                "is unconfirmed); shows the ledger's closing fees too."
            ),
        ),
    ],
)
def closed_pnl_reconciliation(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> Iterator[dg.AssetCheckResult]:
    window = run_days(context)
    if window is None:
        for name in (CLOSED_PNL_GROSS_MATCHES, CLOSED_PNL_FEE_RESIDUAL):
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key="positions",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"summary": "no partition window in this run"},
            )
        return
    with warehouse.get_reader() as conn:
        gross, residual = invariants.closed_pnl_reconciliation(conn, *window, bybit.account)
    for name, outcome, severity in (
        (CLOSED_PNL_GROSS_MATCHES, gross, dg.AssetCheckSeverity.ERROR),
        (CLOSED_PNL_FEE_RESIDUAL, residual, dg.AssetCheckSeverity.WARN),
    ):
        result = to_check_result(outcome, severity)
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key="positions",
            passed=result.passed,
            severity=severity,
            metadata=result.metadata,
        )
