"""Blocking checks on the ledger: nothing lost, nothing doubled, and Bybit's own numbers agree."""

from collections.abc import Iterator

import dagster as dg

from hean_pipelines.defs.check_results import no_window_result, to_check_result
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.windows import run_days
from hean_pipelines.ledger import invariants

NO_DUPLICATE_ENTRIES = "no_duplicate_entries"
NOTHING_LOST_OR_DOUBLED = "nothing_lost_or_doubled"
TRANSACTION_LOG_IDENTITY = "transaction_log_identity"
CLOSED_PNL_GROSS_MATCHES = "closed_pnl_gross_matches"
CLOSED_PNL_FEE_RESIDUAL = "closed_pnl_fee_residual"
QUARANTINE_EMPTY = "quarantine_empty"


@dg.asset_check(
    asset="ledger_entries",
    name=NO_DUPLICATE_ENTRIES,
    blocking=True,
    description="No entry twice per (trade_id, component, process_id); no fill booked twice under two exec ids.",
)
def no_duplicate_entries(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.AssetCheckResult:
    window = run_days(context)
    if window is None:
        return no_window_result()
    with warehouse.get_reader() as conn:
        return to_check_result(invariants.no_duplicate_entries(conn, *window, bybit.account))


@dg.asset_check(
    asset="ledger_entries",
    name=NOTHING_LOST_OR_DOUBLED,
    blocking=True,
    description=(
        "Every raw execution and transaction is in the ledger or in quarantine, exactly once per component, "
        "and every split (fee, funding, quantity) sums exactly to its source row."
    ),
)
def nothing_lost_or_doubled(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.AssetCheckResult:
    window = run_days(context)
    if window is None:
        return no_window_result()
    with warehouse.get_reader() as conn:
        return to_check_result(invariants.completeness(conn, *window, bybit.account))


@dg.asset_check(
    asset="ledger_entries",
    name=TRANSACTION_LOG_IDENTITY,
    blocking=True,
    description="Bybit's identity on every transaction-log row: change = cashFlow + funding − fee.",
)
def transaction_log_identity(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.AssetCheckResult:
    window = run_days(context)
    if window is None:
        return no_window_result()
    with warehouse.get_reader() as conn:
        return to_check_result(invariants.transaction_log_identity(conn, *window, bybit.account))


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


@dg.asset_check(
    asset="ledger_entries",
    name=QUARANTINE_EMPTY,
    description="WARN while rows sit in ledger.quarantine (out of scope or unknown), listing them.",
)
def quarantine_empty(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.AssetCheckResult:
    window = run_days(context)
    if window is None:
        return no_window_result()
    with warehouse.get_reader() as conn:
        return to_check_result(invariants.quarantine_empty(conn, *window, bybit.account), dg.AssetCheckSeverity.WARN)
