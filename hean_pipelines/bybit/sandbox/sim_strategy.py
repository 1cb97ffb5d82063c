"""Who trades in the simulated account, how often, how big, and how well.

Four internal books share the account: three *processes* whose orders carry their ``orderLinkId`` prefix
(``edge-``, ``loser-``, ``noise-``) and an untagged ``manual`` book (``orderLinkId`` ``""`` or ``manual-...``)
that the pipeline must keep as ``unattributed``. Each book holds a virtual position per symbol; the
account position is their sum.

**The planted signal.** At each decision a book picks a target position that it holds until its next
decision ``H`` minutes later. The price path is deterministic, so a book can "know" the move over its own
holding window: it takes the right side with probability ``accuracy``. The edge is right ~60% of the time
and trades mostly passively (maker fee, sometimes a rebate), so its daily total (mark-to-market pnl +
funding - fees) has a clearly positive mean; the loser is right ~45% of the time and crosses the spread
with taker fees, so its mean is clearly negative; noise is a coin flip with cheap fills, about zero.
Capital (the registry's business, quoted for scale): edge 20000, loser 20000, noise 10000 USDT.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from hean_pipelines.bybit.sandbox.market import MINUTES_PER_DAY

SUNDAY = 6
SUNDAY_CLOSE_MINUTE = 1430  # 23:50 UTC: everything is flattened before Monday 00:00
LAST_SUNDAY_DECISION = 1410


@dataclass(frozen=True)
class BookSpec:
    """Behaviour of one book on the linear perps."""

    name: str
    accuracy: float  # probability of taking the side the price will actually move to
    flat_prob: float  # probability a decision targets a flat position
    maker_prob: float  # probability an order rests as a maker (PostOnly/GTC limit)
    rebate_prob: float  # probability a maker fill earns the rebate rate instead of paying
    gap_minutes: tuple[int, int]  # minutes between decisions (inclusive range)
    size_steps: dict[str, tuple[int, int]]  # |target| in qty steps per symbol (inclusive range)
    partial_cancel_prob: float  # limit orders cancelled after a partial fill
    pre_reject_prob: float  # a rejected/cancelled attempt precedes the real order


EDGE = BookSpec(
    name="edge",
    accuracy=0.61,
    flat_prob=0.10,
    maker_prob=0.85,
    rebate_prob=0.30,
    gap_minutes=(120, 300),
    size_steps={"BTCUSDT": (50, 110), "ETHUSDT": (150, 350)},
    partial_cancel_prob=0.08,
    pre_reject_prob=0.04,
)
LOSER = BookSpec(
    name="loser",
    accuracy=0.45,
    flat_prob=0.10,
    maker_prob=0.10,
    rebate_prob=0.0,
    gap_minutes=(90, 260),
    size_steps={"BTCUSDT": (50, 110), "ETHUSDT": (150, 350)},
    partial_cancel_prob=0.05,
    pre_reject_prob=0.06,
)
NOISE = BookSpec(
    name="noise",
    accuracy=0.53,
    flat_prob=0.25,
    maker_prob=0.70,
    rebate_prob=0.50,
    gap_minutes=(120, 360),
    size_steps={"BTCUSDT": (25, 55), "ETHUSDT": (70, 170)},
    partial_cancel_prob=0.10,
    pre_reject_prob=0.05,
)
MANUAL = BookSpec(
    name="manual",
    accuracy=0.50,
    flat_prob=0.55,
    maker_prob=0.50,
    rebate_prob=0.20,
    gap_minutes=(240, 600),
    size_steps={"BTCUSDT": (5, 30), "ETHUSDT": (20, 80)},
    partial_cancel_prob=0.10,
    pre_reject_prob=0.05,
)

BOOKS: tuple[BookSpec, ...] = (EDGE, LOSER, NOISE, MANUAL)
BOOK_NAMES: tuple[str, ...] = tuple(b.name for b in BOOKS)
BY_NAME: dict[str, BookSpec] = {b.name: b for b in BOOKS}
PROCESS_PREFIXES: tuple[str, ...] = ("edge", "loser", "noise")
ALLOCATED_CAPITAL = {"edge": 20_000, "loser": 20_000, "noise": 10_000}

# Spot: small ETH round trips by noise (rarely) and the manual book.
SPOT_GAP_MINUTES: dict[str, tuple[int, int]] = {"noise": (600, 1400), "manual": (240, 720)}
SPOT_BUY_LOTS: dict[str, tuple[int, int]] = {"noise": (10, 60), "manual": (20, 150)}  # x 0.01 ETH
SPOT_BOOKS: tuple[str, ...] = ("noise", "manual")


def _schedule(rng: random.Random, gap: tuple[int, int], last_minute: int) -> list[int]:
    lo, hi = gap
    draw = rng.random
    minute = lo // 3 + int(draw() * (hi - lo // 3 + 1))
    out = []
    while minute <= last_minute:
        out.append(minute)
        minute += lo + int(draw() * (hi - lo + 1))
    return out


def last_decision_minute(day: date) -> int:
    return LAST_SUNDAY_DECISION if day.weekday() == SUNDAY else MINUTES_PER_DAY - 5


@lru_cache(maxsize=64)
def day_schedule(seed: int, day: date) -> dict[tuple[str, str], tuple[int, ...]]:
    """Nominal decision minutes of every book on every symbol of ``day`` (``"spot"`` for spot ETHUSDT).

    One seeded generator per day, drawn in a fixed order: a pure function of (seed, day), cached because
    the previous day needs it too (the last decision of a day holds until the next day's first one).
    """
    rng = random.Random(f"{seed}:{day.isoformat()}:schedule")  # noqa: S311
    last = last_decision_minute(day)
    out: dict[tuple[str, str], tuple[int, ...]] = {}
    for book in BOOKS:
        for symbol in sorted(book.size_steps):
            out[(book.name, symbol)] = tuple(_schedule(rng, book.gap_minutes, last))
    for name in SPOT_BOOKS:
        out[(name, "spot")] = tuple(_schedule(rng, SPOT_GAP_MINUTES[name], last))
    return out


def decision_minutes(seed: int, day: date, book: str, symbol: str) -> tuple[int, ...]:
    """Nominal decision minutes of a book on a linear symbol (pure function of seed and day)."""
    return day_schedule(seed, day)[(book, symbol)]


def spot_decision_minutes(seed: int, day: date, book: str) -> tuple[int, ...]:
    """Nominal decision minutes of a book on spot ETHUSDT."""
    return day_schedule(seed, day)[(book, "spot")]


def horizons(seed: int, day: date, book: str, symbol: str) -> list[tuple[int, int]]:
    """(decision minute, minutes until the book's next decision) for each decision of the day.

    The last decision of a day holds until the next day's first decision (pure, so computable now), or
    until the Sunday close.
    """
    minutes = decision_minutes(seed, day, book, symbol)
    if day.weekday() == SUNDAY:
        tail = SUNDAY_CLOSE_MINUTE
    else:
        following = decision_minutes(seed, day + timedelta(days=1), book, symbol)
        tail = MINUTES_PER_DAY + (following[0] if following else MINUTES_PER_DAY)
    nxt = [*minutes[1:], tail]
    return [(m, max(1, n - m)) for m, n in zip(minutes, nxt, strict=True)]


def link_id(book: str, day_text: str, counter: int) -> str:
    """``orderLinkId`` of a book's order: ``<prefix>-YYYYMMDD-NNNNN``; manual orders alternate with ``""``.

    ``day_text`` is the day as ``YYYYMMDD``.
    """
    if book == "manual" and counter % 2 == 1:
        return ""
    return f"{book}-{day_text}-{counter:05d}"
