"""Deterministic price paths: mark prices for the perps, a spot path around them, funding rates.

Why it is built this way:

- **Pure function of (seed, symbol, day).** Nothing depends on the account's start date, the clock or
  the machine. Randomness comes from ``random.Random(<string seed>)`` (Mersenne Twister seeded through
  SHA-512, stable across platforms and Python versions) and the arithmetic on floats uses only ``+ - * /``
  and ``round`` -- IEEE-754 makes those bit-identical everywhere, unlike ``exp``/``log``/``cos`` whose last
  bit may differ between C libraries. Prices leave this module as integer ticks, so a 1-ulp difference
  could never show anyway except on an exact half-tick.
- **Continuous across days.** The level at every midnight ("anchor") follows a mean-reverting daily
  random walk, drawn sequentially from a fixed epoch (2020-01-06) so the anchor of any day is the same
  whoever asks first. The 1440 minute marks of day D are a Brownian bridge (uniform steps) from the anchor
  of D to the anchor of D+1: the mark at 23:59 of D and at 00:00 of D+1 differ by one minute's move.
- **Cheap.** Anchors are cached per (seed, symbol) and extended on demand (a few microseconds a day);
  a day's minute path is one list comprehension (~0.3 ms) and is LRU-cached.

Conventions: minute ``k`` of day D covers ``[D 00:00 + k min, D 00:00 + (k+1) min)``; the mark at any
instant is the path value of its minute. An hourly bar ``h`` has open = minute ``60h``, close = minute
``60h+59`` (so the last close of a day is the mark at 23:59, the day's closing mark), high/low over its 60
minutes. The spot path is the ETH mark plus a small per-hour basis (within +-0.40 USDT).
"""

from __future__ import annotations

import math
import random
import threading
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate

from hean_pipelines.bybit.sandbox.sim_instruments import LINEAR, SPOT, Instrument

MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000
MINUTES_PER_DAY = 1440
FUNDING_MINUTES = (0, 480, 960)  # 00:00, 08:00, 16:00 UTC

PATH_EPOCH = date(2020, 1, 6)
_DAILY_VOL = 0.03  # relative std of the daily anchor move
_REVERSION = 0.02  # daily pull of the anchor toward its start level (stationary std ~15%)
_INTRADAY_VOL = 0.025  # relative std of a full day of minute steps before bridging
_SQRT3 = 1.7320508075688772  # sqrt(3): sum of 4 U(0,1) has variance 1/3
# std of a day of byte steps: sqrt(1440 * var(U{0..255})) = sqrt(1440 * (256**2 - 1) / 12); math.sqrt is
# correctly rounded (IEEE-754), so this constant is the same float everywhere.
_BYTE_WALK_NORM = math.sqrt(MINUTES_PER_DAY * (256**2 - 1) / 12)


def day_start_ms(day: date) -> int:
    """Milliseconds since the Unix epoch at 00:00:00.000 UTC of ``day``."""
    return (day - date(1970, 1, 1)).days * MS_PER_DAY


def day_of_ms(ts_ms: int) -> date:
    """The UTC day containing the instant ``ts_ms``."""
    return date(1970, 1, 1) + timedelta(days=ts_ms // MS_PER_DAY)


class _AnchorWalk:
    """The sequence of midnight levels of one (seed, symbol), extended lazily in both directions."""

    def __init__(self, seed: int, instrument: Instrument) -> None:
        start = instrument.start_price_ticks
        self._start = start
        self._forward = [start]  # index k -> PATH_EPOCH + k days
        self._backward: list[float] = []  # index k -> PATH_EPOCH - (k+1) days
        self._fwd_rng = random.Random(f"{seed}:{instrument.symbol}:anchors:forward")  # noqa: S311
        self._bwd_rng = random.Random(f"{seed}:{instrument.symbol}:anchors:backward")  # noqa: S311
        self._lock = threading.Lock()

    def _step(self, level: float, rng: random.Random) -> float:
        z = (rng.random() + rng.random() + rng.random() + rng.random() - 2.0) * _SQRT3
        return level + _REVERSION * (self._start - level) + level * _DAILY_VOL * z

    def level(self, day: date) -> float:
        k = (day - PATH_EPOCH).days
        with self._lock:
            if k >= 0:
                while len(self._forward) <= k:
                    self._forward.append(self._step(self._forward[-1], self._fwd_rng))
                return self._forward[k]
            back = -k - 1
            while len(self._backward) <= back:
                prev = self._backward[-1] if self._backward else self._forward[0]
                self._backward.append(self._step(prev, self._bwd_rng))
            return self._backward[back]


_walks: dict[tuple[int, str], _AnchorWalk] = {}
_walks_lock = threading.Lock()


def _walk(seed: int, symbol: str) -> _AnchorWalk:
    key = (seed, symbol)
    with _walks_lock:
        walk = _walks.get(key)
        if walk is None:
            walk = _walks[key] = _AnchorWalk(seed, LINEAR[symbol])
        return walk


def anchor_ticks(seed: int, symbol: str, day: date) -> float:
    """The (float) mark level at 00:00 UTC of ``day``, in ticks."""
    return _walk(seed, symbol).level(day)


class MinutePath:
    """The 1440 minute marks of one (seed, symbol, day), as integer ticks, computed on access.

    A simulated day reads only a few dozen minutes, so the bridge is evaluated per minute from the
    stored partial sums; :meth:`full` evaluates the identical expression for every minute (klines).
    """

    __slots__ = ("_a0", "_full", "_scale", "_slope", "_walk")

    def __init__(self, seed: int, symbol: str, day: date) -> None:
        a0 = anchor_ticks(seed, symbol, day)
        a1 = anchor_ticks(seed, symbol, day + timedelta(days=1))
        rng = random.Random(f"{seed}:{symbol}:{day.isoformat()}:minutes")  # noqa: S311
        # 1440 uniform integer steps 0..255 in one call; their partial sums (in C) are the raw walk. The
        # bridge correction cancels the steps' mean exactly, so only their spread matters. walk[k] is the
        # sum of the first k steps (walk[0] = 0: minute 0 is the anchor itself).
        self._walk = [0, *accumulate(rng.randbytes(MINUTES_PER_DAY))]
        self._a0 = a0
        self._scale = a0 * _INTRADAY_VOL / _BYTE_WALK_NORM
        self._slope = (a1 - a0) / MINUTES_PER_DAY - self._scale * self._walk[-1] / MINUTES_PER_DAY
        self._full: tuple[int, ...] | None = None

    def __getitem__(self, minute: int) -> int:
        if not 0 <= minute < MINUTES_PER_DAY:
            raise IndexError(minute)
        return round(self._a0 + minute * self._slope + self._scale * self._walk[minute])

    def full(self) -> tuple[int, ...]:
        if self._full is None:
            a0, slope, scale = self._a0, self._slope, self._scale
            walk = self._walk
            self._full = tuple([round(a0 + k * slope + scale * walk[k]) for k in range(MINUTES_PER_DAY)])
        return self._full


@lru_cache(maxsize=1024)
def minute_path(seed: int, symbol: str, day: date) -> MinutePath:
    """The lazily evaluated minute marks of ``day`` for a linear ``symbol``."""
    return MinutePath(seed, symbol, day)


def mark_path(seed: int, symbol: str, day: date) -> tuple[int, ...]:
    """All 1440 minute marks of ``day`` for a linear ``symbol``, as integer ticks."""
    return minute_path(seed, symbol, day).full()


def mark_ticks_at(seed: int, symbol: str, ts_ms: int) -> int:
    """Mark price (ticks) of a linear ``symbol`` at the instant ``ts_ms``."""
    day = day_of_ms(ts_ms)
    minute = (ts_ms - day_start_ms(day)) // MS_PER_MINUTE
    return minute_path(seed, symbol, day)[minute]


def mark_price_at(seed: int, symbol: str, ts_ms: int) -> Decimal:
    """Mark price of a linear ``symbol`` at the instant ``ts_ms``, at tick precision."""
    return LINEAR[symbol].price(mark_ticks_at(seed, symbol, ts_ms))


@lru_cache(maxsize=256)
def spot_basis(seed: int, symbol: str, day: date) -> tuple[int, ...]:
    """24 hourly offsets (ticks) of the spot price from the perp mark."""
    rng = random.Random(f"{seed}:{symbol}:{day.isoformat()}:spot-basis")  # noqa: S311
    return tuple(rng.randint(-40, 40) for _ in range(24))


def spot_ticks_at_minute(seed: int, symbol: str, day: date, minute: int) -> int:
    """Spot price (ticks) during ``minute`` of ``day``."""
    return minute_path(seed, symbol, day)[minute] + spot_basis(seed, symbol, day)[minute // 60]


def spot_price_at(seed: int, symbol: str, ts_ms: int) -> Decimal:
    """Spot last price at the instant ``ts_ms``, at tick precision."""
    day = day_of_ms(ts_ms)
    minute = (ts_ms - day_start_ms(day)) // MS_PER_MINUTE
    return SPOT[symbol].price(spot_ticks_at_minute(seed, symbol, day, minute))


def _hourly_bars(path: tuple[int, ...], offsets: tuple[int, ...] | None) -> list[tuple[int, int, int, int]]:
    bars = []
    for hour in range(24):
        chunk = path[hour * 60 : hour * 60 + 60]
        off = offsets[hour] if offsets is not None else 0
        bars.append((chunk[0] + off, max(chunk) + off, min(chunk) + off, chunk[-1] + off))
    return bars


def mark_klines(seed: int, symbol: str, day: date) -> list[list[str]]:
    """24 hourly bars ``[startTime, open, high, low, close]`` (Bybit mark-price-kline), oldest first."""
    instrument = LINEAR[symbol]
    start = day_start_ms(day)
    return [
        [str(start + hour * 3_600_000), *(str(instrument.price(v)) for v in bar)]
        for hour, bar in enumerate(_hourly_bars(mark_path(seed, symbol, day), None))
    ]


def spot_klines(seed: int, symbol: str, day: date) -> list[list[str]]:
    """24 hourly bars ``[startTime, open, high, low, close, volume, turnover]`` (Bybit kline), oldest first.

    Volume is a deterministic draw (base coin, 5 dp); turnover = volume x (open + close) / 2, exact.
    """
    instrument = SPOT[symbol]
    start = day_start_ms(day)
    rng = random.Random(f"{seed}:{symbol}:{day.isoformat()}:spot-volume")  # noqa: S311
    rows = []
    bars = _hourly_bars(mark_path(seed, symbol, day), spot_basis(seed, symbol, day))
    for hour, (o, h, low, c) in enumerate(bars):
        volume = Decimal(rng.randint(20_000_000, 300_000_000)).scaleb(-5)
        turnover = volume * (instrument.price(o) + instrument.price(c)) / 2
        rows.append(
            [
                str(start + hour * 3_600_000),
                str(instrument.price(o)),
                str(instrument.price(h)),
                str(instrument.price(low)),
                str(instrument.price(c)),
                format(volume, "f"),
                format(turnover.normalize(), "f"),
            ]
        )
    return rows


@lru_cache(maxsize=256)
def funding_rates(seed: int, symbol: str, day: date) -> tuple[Decimal, Decimal, Decimal]:
    """Funding rates (8 dp) settled at 00:00, 08:00 and 16:00 UTC of ``day``.

    Centered on Bybit's default 0.01% with noise in [-0.025%, +0.03%]; the digits beyond the 6th place
    are non-zero on purpose, so a consumer that trusts the truncated ``feeRate`` instead of ``execFee``
    gets a different number.
    """
    rng = random.Random(f"{seed}:{symbol}:{day.isoformat()}:funding")  # noqa: S311
    first, second, third = (Decimal(10_000 + rng.randint(-25_000, 30_000)).scaleb(-8) for _ in range(3))
    return first, second, third
