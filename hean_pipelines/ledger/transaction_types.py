"""The one explicit mapping of Bybit transaction-log ``type`` values to what they mean for the ledger.

A type that is not listed here is quarantined (``unknown_transaction_type``) until it is mapped.
Rows of types covered by executions (TRADE, SETTLEMENT, ...) carry money the executions already
account for; they are kept for the cash-balance chain, never booked twice.
"""

from __future__ import annotations

from enum import StrEnum


class Disposition(StrEnum):
    COVERED_BY_EXECUTIONS = "covered_by_executions"
    REWARD = "reward"  # money in, attributed to `unattributed`
    COST = "cost"  # money out, booked as a fee of `unattributed`
    CAPITAL_FLOW = "capital_flow"  # outside PnL: moves equity, not performance
    BONUS = "bonus"  # non-withdrawable trial money: reported separately, never in total
    SIGNED_INTEREST = "signed_interest"  # reward when change > 0, cost when < 0


TRANSACTION_TYPES: dict[str, Disposition] = {
    "TRADE": Disposition.COVERED_BY_EXECUTIONS,
    "SETTLEMENT": Disposition.COVERED_BY_EXECUTIONS,
    "ADL": Disposition.COVERED_BY_EXECUTIONS,
    "LIQUIDATION": Disposition.COVERED_BY_EXECUTIONS,
    "AIRDROP": Disposition.REWARD,
    "FEE_REFUND": Disposition.REWARD,
    "CASHBACK": Disposition.REWARD,
    "INTEREST": Disposition.SIGNED_INTEREST,
    "TRANSFER_IN": Disposition.CAPITAL_FLOW,
    "TRANSFER_OUT": Disposition.CAPITAL_FLOW,
    "DEPOSIT": Disposition.CAPITAL_FLOW,
    "WITHDRAW": Disposition.CAPITAL_FLOW,
    "WITHDRAWAL": Disposition.CAPITAL_FLOW,
    "BONUS": Disposition.BONUS,
    "BONUS_RECOLLECT": Disposition.BONUS,
}

REPORTING_CURRENCY = "USDT"


def mapping_rows() -> list[tuple[str, str]]:
    """(type, disposition) rows, for joining in SQL."""
    return sorted((type_, disposition.value) for type_, disposition in TRANSACTION_TYPES.items())
