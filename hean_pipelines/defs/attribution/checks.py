"""Blocking checks on attribution: the money invariants hold exactly, and the layers agree."""

import dagster as dg

from hean_pipelines.defs.check_results import no_window_result, to_check_result
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.windows import run_days
from hean_pipelines.ledger import invariants

PROCESS_TOTAL_INVARIANT = "process_total_invariant"
PORTFOLIO_TOTAL_INVARIANT = "portfolio_total_invariant"
PORTFOLIO_MATCHES_PROCESSES_AND_LEDGER = "portfolio_matches_processes_and_ledger"


@dg.asset_check(
    asset="process_attribution",
    name=PROCESS_TOTAL_INVARIANT,
    blocking=True,
    description=(
        "ProcessDailySchema (pandera, Decimal columns): types, unique (date, process_id), "
        "total = pnl + funding + rewards − fees − opportunity_cost and pnl = realized + Δunrealized, exactly."
    ),
)
def process_total_invariant(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    window = run_days(context)
    if window is None:
        return no_window_result()
    with warehouse.get_reader() as conn:
        return to_check_result(invariants.process_attribution_valid(conn, *window))


@dg.asset_check(
    asset="portfolio_attribution",
    name=PORTFOLIO_TOTAL_INVARIANT,
    blocking=True,
    description="PortfolioDailySchema: the total, pnl and equity invariants exactly; drawdown_ratio in [0, 1].",
)
def portfolio_total_invariant(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    window = run_days(context)
    if window is None:
        return no_window_result()
    with warehouse.get_reader() as conn:
        return to_check_result(invariants.portfolio_attribution_valid(conn, *window))


@dg.asset_check(
    asset="portfolio_attribution",
    name=PORTFOLIO_MATCHES_PROCESSES_AND_LEDGER,
    blocking=True,
    description="portfolio = Σ processes for every money column, and = the ledger's sums per component, exactly.",
)
def portfolio_matches_processes_and_ledger(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
) -> dg.AssetCheckResult:
    window = run_days(context)
    if window is None:
        return no_window_result()
    with warehouse.get_reader() as conn:
        return to_check_result(invariants.portfolio_equals_processes_and_ledger(conn, *window, bybit.account))
