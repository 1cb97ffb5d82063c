"""Pandera models of the attribution tables, with exact Decimal columns and the money invariants.

Tables are read through Arrow so DECIMAL arrives as ``decimal.Decimal`` (``.df()`` would turn money
into floats), and the invariants compare exact decimals: equal, not close.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd
import pandera.pandas as pa
from pandera.engines.pandas_engine import Decimal as PanderaDecimal
from pandera.typing import Series

# Money is DECIMAL(38,18) in DuckDB and decimal.Decimal here: compared exactly, never as floats.
DECIMAL_38_18 = {"precision": 38, "scale": 18}


class ProcessDailySchema(pa.DataFrameModel):
    """``attribution.process_daily``: one row per (date, process_id)."""

    date: Series[pa.DateTime] = pa.Field(coerce=True, description="UTC day")
    process_id: Series[str] = pa.Field(description="registry process, or 'unattributed'")
    allocated_capital: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="USDT, registry as of the day"
    )
    pnl: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="mark-to-market: cash flows + Q_close×mark_close − Q_open×mark_open"
    )
    realized_pnl: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="average-cost realized PnL, gross of fees"
    )
    unrealized_pnl_change: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="unrealized at close − unrealized at open"
    )
    unrealized_pnl_eod: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="Q × mark − cost basis at the day's close"
    )
    funding: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18, description="+ received, − paid")
    rewards: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="airdrops, fee refunds, interest earned"
    )
    fees: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="+ = cost (a maker rebate is negative)"
    )
    opportunity_cost: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="allocated capital × hurdle / 365, + = cost"
    )
    total: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="pnl + funding + rewards − fees − opportunity_cost"
    )
    n_fills: Series[int] = pa.Field(ge=0)

    class Config:
        unique = ["date", "process_id"]  # noqa: RUF012 (pandera's Config is read, never mutated)
        strict = True

    @pa.dataframe_check(name="total = pnl + funding + rewards - fees - opportunity_cost (exact)")
    def total_invariant(cls, df: pd.DataFrame) -> pd.Series:
        return df["total"] == df["pnl"] + df["funding"] + df["rewards"] - df["fees"] - df["opportunity_cost"]

    @pa.dataframe_check(name="pnl = realized_pnl + unrealized_pnl_change (exact)")
    def pnl_invariant(cls, df: pd.DataFrame) -> pd.Series:
        return df["pnl"] == df["realized_pnl"] + df["unrealized_pnl_change"]


class PortfolioDailySchema(pa.DataFrameModel):
    """``attribution.portfolio_daily``: one row per date."""

    date: Series[pa.DateTime] = pa.Field(coerce=True, unique=True)
    pnl: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    realized_pnl: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    unrealized_pnl_change: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    unrealized_pnl_eod: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    funding: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    rewards: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    fees: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    opportunity_cost: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    total: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    capital_flows: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="transfers in/out: move equity, not performance"
    )
    bonus: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="trial money, reported separately, never in total"
    )
    opening_equity: Series[PanderaDecimal] = pa.Field(dtype_kwargs=DECIMAL_38_18)
    equity: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="opening + capital flows + pnl + funding + rewards − fees"
    )
    performance_index: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, description="time-weighted, flows excluded; 1 at the start"
    )
    drawdown_ratio: Series[PanderaDecimal] = pa.Field(
        dtype_kwargs=DECIMAL_38_18, ge=Decimal(0), le=Decimal(1), description="1 − performance index / running peak"
    )

    class Config:
        strict = True

    @pa.dataframe_check(name="total = pnl + funding + rewards - fees - opportunity_cost (exact)")
    def total_invariant(cls, df: pd.DataFrame) -> pd.Series:
        return df["total"] == df["pnl"] + df["funding"] + df["rewards"] - df["fees"] - df["opportunity_cost"]

    @pa.dataframe_check(name="pnl = realized_pnl + unrealized_pnl_change (exact)")
    def pnl_invariant(cls, df: pd.DataFrame) -> pd.Series:
        return df["pnl"] == df["realized_pnl"] + df["unrealized_pnl_change"]

    @pa.dataframe_check(name="equity = opening_equity + capital_flows + pnl + funding + rewards - fees (exact)")
    def equity_invariant(cls, df: pd.DataFrame) -> pd.Series:
        expected = df["opening_equity"] + df["capital_flows"] + df["pnl"] + df["funding"] + df["rewards"] - df["fees"]
        return df["equity"] == expected


def read_table(conn: duckdb.DuckDBPyConnection, table: str, first_day: date, last_day: date) -> pd.DataFrame:
    """Rows of ``table`` in the window with DECIMAL kept exact (Arrow → Decimal objects)."""
    return (
        conn.sql(
            f"SELECT * FROM {table} WHERE date BETWEEN $first AND $last ORDER BY ALL",
            params={"first": first_day, "last": last_day},
        )
        .to_arrow_table()
        .to_pandas()
    )
