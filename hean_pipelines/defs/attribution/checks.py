"""Blocking checks on attribution: the money invariants hold exactly, and the layers agree."""

import dagster as dg

from hean_pipelines.defs.window_check import window_check
from hean_pipelines.ledger import invariants
from hean_pipelines.ledger.balance_reconciliation import balances_match_bybit

PROCESS_TOTAL_INVARIANT = "process_total_invariant"
PORTFOLIO_TOTAL_INVARIANT = "portfolio_total_invariant"
PORTFOLIO_MATCHES_PROCESSES_AND_LEDGER = "portfolio_matches_processes_and_ledger"
BALANCES_MATCH_BYBIT = "balances_match_bybit"


process_total_invariant = window_check(
    asset="process_attribution",
    name=PROCESS_TOTAL_INVARIANT,
    description=(
        "ProcessDailySchema (pandera, Decimal columns): types, unique (date, process_id), "
        "total = pnl + funding + rewards − fees − opportunity_cost and pnl = realized + Δunrealized, exactly."
    ),
    invariant=lambda conn, first, last, _account: invariants.process_attribution_valid(conn, first, last),
)

portfolio_total_invariant = window_check(
    asset="portfolio_attribution",
    name=PORTFOLIO_TOTAL_INVARIANT,
    description="PortfolioDailySchema: the total, pnl and equity invariants exactly; drawdown_ratio in [0, 1].",
    invariant=lambda conn, first, last, _account: invariants.portfolio_attribution_valid(conn, first, last),
)

portfolio_matches_processes_and_ledger = window_check(
    asset="portfolio_attribution",
    name=PORTFOLIO_MATCHES_PROCESSES_AND_LEDGER,
    description="portfolio = Σ processes for every money column, and = the ledger's sums per component, exactly.",
    invariant=invariants.portfolio_equals_processes_and_ledger,
)

balances_match_bybit_check = window_check(
    asset="portfolio_attribution",
    name=BALANCES_MATCH_BYBIT,
    description=(
        "WARN: the cash and coins each close implies (equity − positions' value + bonus) equal Bybit's "
        "transaction-log balances; every wallet-balance snapshot equals the log at its instant; a "
        "bootstrapped opening equals the snapshot rolled back. Lists every difference."
    ),
    invariant=balances_match_bybit,
    severity=dg.AssetCheckSeverity.WARN,
    blocking=False,
)
