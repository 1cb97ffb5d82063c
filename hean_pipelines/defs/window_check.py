"""One shape for every check over a run's day window: read-only, once per run, days named on failure."""

from collections.abc import Callable
from datetime import date

import dagster as dg
import duckdb

from hean_pipelines.defs.check_results import no_window_result, to_check_result
from hean_pipelines.defs.resources import BybitResource, WarehouseResource
from hean_pipelines.defs.windows import run_days
from hean_pipelines.ledger.invariants import CheckOutcome

WindowInvariant = Callable[[duckdb.DuckDBPyConnection, date, date, str], CheckOutcome]


def window_check(
    *,
    asset: str,
    name: str,
    description: str,
    invariant: WindowInvariant,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    blocking: bool = True,
) -> dg.AssetChecksDefinition:
    """An asset check that evaluates ``invariant`` over every day of the run (a ranged run checks once)."""

    @dg.asset_check(asset=asset, name=name, blocking=blocking, description=description)
    def _check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, bybit: BybitResource
    ) -> dg.AssetCheckResult:
        window = run_days(context)
        if window is None:
            return no_window_result()
        with warehouse.get_reader() as conn:
            return to_check_result(invariant(conn, *window, bybit.account), severity)

    return _check
