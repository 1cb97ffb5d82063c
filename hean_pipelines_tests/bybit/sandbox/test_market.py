"""The sandbox's price paths: pinned values (same on every machine), continuity, kline shapes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from hean_pipelines.bybit.sandbox import market

DAY = date(2026, 1, 5)


def test_pinned_values_do_not_drift() -> None:
    """Golden numbers: a platform or refactor that changes the stream fails here, not in a ledger."""
    market.minute_path.cache_clear()
    path = market.mark_path(7, "BTCUSDT", DAY)
    assert path[:3] == (925285, 924754, 924273)
    assert path[1439] == 968421
    assert market.mark_path(7, "ETHUSDT", DAY)[720] == 267787
    assert market.funding_rates(7, "BTCUSDT", DAY) == (
        Decimal("0.00032609"),
        Decimal("0.00033939"),
        Decimal("0.00035864"),
    )
    assert market.spot_klines(7, "ETHUSDT", DAY)[5] == [
        "1767589200000",
        "2699.18",
        "2712.58",
        "2694.65",
        "2707.18",
        "1401.30652",
        "3787983.7587336",
    ]
    # far from the path epoch, in both directions
    assert market.anchor_ticks(7, "ETHUSDT", date(2027, 3, 1)) == pytest.approx(270867.1589086858, rel=1e-15)
    assert market.anchor_ticks(7, "BTCUSDT", date(2019, 6, 3)) == pytest.approx(770287.0972111279, rel=1e-15)


def test_lazy_minutes_equal_the_full_path() -> None:
    lazy = market.MinutePath(7, "ETHUSDT", DAY)
    full = market.mark_path(7, "ETHUSDT", DAY)
    assert [lazy[k] for k in range(market.MINUTES_PER_DAY)] == list(full)
    with pytest.raises(IndexError):
        lazy[market.MINUTES_PER_DAY]


def test_seeds_and_symbols_give_different_paths() -> None:
    assert market.mark_path(7, "BTCUSDT", DAY) != market.mark_path(8, "BTCUSDT", DAY)
    assert market.mark_path(7, "BTCUSDT", DAY) != market.mark_path(7, "BTCUSDT", DAY + timedelta(days=1))


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_mark_is_continuous_across_midnight(symbol: str) -> None:
    """The last minute of a day and the first of the next differ by about one minute's move."""
    for offset in range(60):
        day = DAY + timedelta(days=offset)
        last = market.mark_path(7, symbol, day)[-1]
        first = market.mark_path(7, symbol, day + timedelta(days=1))[0]
        assert abs(first - last) / last < 0.004, (day, last, first)
        ts = market.day_start_ms(day + timedelta(days=1))
        assert market.mark_ticks_at(7, symbol, ts - 1) == last
        assert market.mark_ticks_at(7, symbol, ts) == first


def test_mark_klines_shape_and_consistency() -> None:
    klines = market.mark_klines(7, "BTCUSDT", DAY)
    path = market.mark_path(7, "BTCUSDT", DAY)
    assert len(klines) == 24
    start = market.day_start_ms(DAY)
    for hour, bar in enumerate(klines):
        assert len(bar) == 5 and all(isinstance(v, str) for v in bar)
        assert int(bar[0]) == start + hour * 3_600_000
        o, h, low, c = (Decimal(v) for v in bar[1:])
        assert low <= min(o, c) <= max(o, c) <= h
        assert Decimal(bar[1]).as_tuple().exponent == -1  # BTCUSDT tick 0.1
    assert Decimal(klines[-1][4]) == Decimal(path[-1]).scaleb(-1)  # last close = the day's closing mark


def test_spot_klines_shape_and_basis() -> None:
    spot = market.spot_klines(7, "ETHUSDT", DAY)
    mark = market.mark_klines(7, "ETHUSDT", DAY)
    assert len(spot) == 24
    for s, m in zip(spot, mark, strict=True):
        assert len(s) == 7 and s[0] == m[0]
        assert abs(Decimal(s[4]) - Decimal(m[4])) <= Decimal("0.40")  # a slightly different path
        assert Decimal(s[5]) > 0 and Decimal(s[6]) > 0


def test_funding_rates_have_digits_beyond_the_displayed_six() -> None:
    rates = [r for i in range(30) for r in market.funding_rates(7, "ETHUSDT", DAY + timedelta(days=i))]
    assert all(r.as_tuple().exponent == -8 for r in rates)
    assert any(r != r.quantize(Decimal("0.000001")) for r in rates)
    assert any(r < 0 for r in rates) and any(r > 0 for r in rates)
