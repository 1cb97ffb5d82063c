"""The instruments the simulated account trades, with Bybit's tick sizes, qty steps and fee schedule.

Prices are kept as integer ticks internally (exact, hashable, cheap) and become ``Decimal`` only at the
edge; quantities are ``Decimal`` multiples of the qty step.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol in one category."""

    symbol: str
    category: str  # "linear" | "spot"
    base_coin: str
    quote_coin: str
    tick_exp: int  # price tick = 10**tick_exp (-1 -> 0.1)
    qty_step: Decimal
    start_price_ticks: float  # level of the price path at the path epoch, in ticks

    @property
    def tick(self) -> Decimal:
        return Decimal(1).scaleb(self.tick_exp)

    def price(self, ticks: int) -> Decimal:
        """Integer ticks -> exact price at tick precision (``871234`` -> ``Decimal('87123.4')``)."""
        return Decimal(ticks).scaleb(self.tick_exp)


BTCUSDT = Instrument("BTCUSDT", "linear", "BTC", "USDT", -1, Decimal("0.001"), 900_000.0)
ETHUSDT = Instrument("ETHUSDT", "linear", "ETH", "USDT", -2, Decimal("0.01"), 300_000.0)
# Spot ETHUSDT: same tick as the perp; Bybit's base precision for ETH is 0.00001.
ETHUSDT_SPOT = Instrument("ETHUSDT", "spot", "ETH", "USDT", -2, Decimal("0.00001"), 300_000.0)

LINEAR: dict[str, Instrument] = {i.symbol: i for i in (BTCUSDT, ETHUSDT)}
SPOT: dict[str, Instrument] = {ETHUSDT_SPOT.symbol: ETHUSDT_SPOT}

# Fee schedule (Bybit non-VIP derivatives; spot 0.1% both sides).
LINEAR_TAKER_FEE = Decimal("0.00055")
LINEAR_MAKER_FEE = Decimal("0.0002")
LINEAR_MAKER_REBATE = Decimal("-0.00005")
SPOT_FEE = Decimal("0.001")
# Spot buy sizes are whole multiples of this lot so that the base-coin fee (qty * 0.001) lands on the
# 0.00001 base-precision grid and a later sell can flatten the holding exactly.
SPOT_BUY_LOT = Decimal("0.01")

LEVERAGE = Decimal(10)
MAINTENANCE_RATE = Decimal("0.005")
RISK_LIMIT_VALUE = {"BTCUSDT": "2000000", "ETHUSDT": "900000"}
