"""Account-level happenings that no process asked for: ADL, position TP/SL, rewards, capital flows.

ADL and TP/SL are planned per week (two of each, on days drawn from the week's seed, so "about once every
3-5 days" and at least twice in any 14-day span); each acts on the *net* account position of a symbol at
its minute (skipped if the account is flat in both symbols then). Rewards, transfers and the trial bonus
are per-day coin flips. All of it is a pure function of (seed, day).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from hean_pipelines.bybit.sandbox.sim_instruments import LINEAR


@dataclass(frozen=True)
class AccountEvent:
    kind: str  # "adl" | "tpsl"
    minute: int
    symbol: str  # preferred symbol; the other one is used when this one is flat
    fraction: Decimal  # share of the position to close (1 = all of it)


@dataclass(frozen=True)
class CashEvent:
    type: str  # AIRDROP | FEE_REFUND | TRANSFER_IN | TRANSFER_OUT | BONUS
    offset_ms: int  # from 00:00 of the day
    amount: Decimal  # positive; the sign of the change follows the type


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def account_events(seed: int, day: date) -> list[AccountEvent]:
    """The ADL and TP/SL events planned for ``day``."""
    monday = monday_of(day)
    rng = random.Random(f"{seed}:{monday.isoformat()}:account-events")  # noqa: S311
    symbols = tuple(LINEAR)
    planned: list[tuple[int, AccountEvent]] = []
    for kind in ("adl", "tpsl"):
        for weekday in sorted(rng.sample(range(7), 2)):
            minute = rng.randint(120, 1380)
            symbol = rng.choice(symbols)
            if kind == "adl":
                fraction = Decimal(rng.randint(15, 50)) / 100
            else:
                fraction = rng.choice((Decimal("0.25"), Decimal("0.5"), Decimal(1)))
            planned.append((weekday, AccountEvent(kind, minute, symbol, fraction)))
    return [event for weekday, event in planned if weekday == day.weekday()]


def cash_events(seed: int, day: date) -> list[CashEvent]:
    """Rewards and capital flows of ``day`` (not the opening deposit, which depends on the start date)."""
    rng = random.Random(f"{seed}:{day.isoformat()}:cash-events")  # noqa: S311
    out = []
    if rng.random() < 0.15:
        out.append(CashEvent("AIRDROP", rng.randint(1, 86_399_999), Decimal(rng.randint(50_000, 500_000)) / 10**5))
    if rng.random() < 0.15:
        amount = Decimal(rng.randint(1_000_000, 300_000_000)) / 10**8
        out.append(CashEvent("FEE_REFUND", rng.randint(1, 86_399_999), amount))
    if rng.random() < 0.10:
        kind = "TRANSFER_IN" if rng.random() < 0.5 else "TRANSFER_OUT"
        out.append(CashEvent(kind, rng.randint(1, 86_399_999), Decimal(rng.randint(10, 100) * 100)))
    if rng.random() < 0.05:
        out.append(CashEvent("BONUS", rng.randint(1, 86_399_999), Decimal(rng.randint(10, 50))))
    return out
