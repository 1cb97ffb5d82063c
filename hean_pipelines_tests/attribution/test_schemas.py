"""The pandera models catch an invariant broken by the smallest money unit, and pass exact rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pandera.pandas as pa
import pytest

from hean_pipelines.attribution.daily import opportunity_cost
from hean_pipelines.attribution.schemas import PortfolioDailySchema, ProcessDailySchema

ULP = Decimal("0.000000000000000001")  # one unit of DECIMAL(38,18)


def _process_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "date": date(2026, 1, 5),
        "process_id": "edge_momentum",
        "allocated_capital": Decimal("20000"),
        "pnl": Decimal("100.5"),
        "realized_pnl": Decimal("80.25"),
        "unrealized_pnl_change": Decimal("20.25"),
        "unrealized_pnl_eod": Decimal("20.25"),
        "funding": Decimal("-1.5"),
        "rewards": Decimal("0"),
        "fees": Decimal("3.125"),
        "opportunity_cost": Decimal("2.73972603"),
    }
    row.update(overrides)
    row.setdefault(
        "total",
        row["pnl"] + row["funding"] + row["rewards"] - row["fees"] - row["opportunity_cost"],  # type: ignore[operator]
    )
    row["n_fills"] = 3
    return row


def test_exact_rows_pass() -> None:
    ProcessDailySchema.validate(pd.DataFrame([_process_row(), _process_row(process_id="unattributed")]))


def test_total_off_by_one_unit_fails() -> None:
    good = _process_row()
    bad = _process_row(process_id="loser_meanrev", total=good["total"] + ULP)  # type: ignore[operator]
    with pytest.raises(pa.errors.SchemaErrors) as info:
        ProcessDailySchema.validate(pd.DataFrame([good, bad]), lazy=True)
    failing = info.value.failure_cases
    assert "total = pnl + funding + rewards - fees - opportunity_cost (exact)" in set(failing["check"])
    assert set(failing["index"].dropna()) == {1}


def test_pnl_split_off_by_one_unit_fails_and_duplicate_key_fails() -> None:
    with pytest.raises(pa.errors.SchemaErrors, match="realized_pnl"):
        ProcessDailySchema.validate(pd.DataFrame([_process_row(realized_pnl=Decimal("80.25") + ULP)]), lazy=True)
    with pytest.raises(pa.errors.SchemaErrors):
        ProcessDailySchema.validate(pd.DataFrame([_process_row(), _process_row()]), lazy=True)


def test_money_as_float_is_refused() -> None:
    row = _process_row()
    row["pnl"] = 100.5  # what `.df()` would give: a float is not money
    with pytest.raises(pa.errors.SchemaErrors):
        ProcessDailySchema.validate(pd.DataFrame([row]), lazy=True)


def test_portfolio_drawdown_outside_unit_interval_fails() -> None:
    row = {k: v for k, v in _process_row().items() if k not in ("process_id", "allocated_capital", "n_fills")}
    row.update(
        capital_flows=Decimal(0),
        bonus=Decimal(0),
        opening_equity=Decimal(1000),
        performance_index=Decimal(1),
        drawdown_ratio=Decimal("1.000000000001"),
    )
    row["equity"] = (
        row["opening_equity"] + row["capital_flows"] + row["pnl"] + row["funding"] + row["rewards"] - row["fees"]  # type: ignore[operator]
    )
    with pytest.raises(pa.errors.SchemaErrors, match="drawdown_ratio"):
        PortfolioDailySchema.validate(pd.DataFrame([row]), lazy=True)
    row["drawdown_ratio"] = Decimal("0.25")
    PortfolioDailySchema.validate(pd.DataFrame([row]))


@pytest.mark.parametrize(
    ("capital", "rate", "expected"),
    [
        # 20000 x 0.05 / 365 = 2.739726027397... -> 2.73972603 (half-up at 8 dp)
        (Decimal(20000), Decimal("0.05"), Decimal("2.73972603")),
        # 10000 x 0.05 / 365 = 1.369863013698... -> 1.36986301
        (Decimal(10000), Decimal("0.05"), Decimal("1.36986301")),
        # 73 x 0.05 / 365 = 0.01 exactly
        (Decimal(73), Decimal("0.05"), Decimal("0.01")),
        (Decimal(0), Decimal("0.05"), Decimal(0)),
    ],
)
def test_opportunity_cost_is_capital_times_hurdle_over_365_half_up(
    capital: Decimal, rate: Decimal, expected: Decimal
) -> None:
    assert opportunity_cost(capital, rate) == expected
