"""Ways to corrupt a built warehouse's raw input, as the checks must catch them (tests work on copies)."""

from __future__ import annotations

from pathlib import Path

from hean_pipelines.warehouse.connection import connect


def add_a_cent_to_a_trade_fee(db: Path, day: str) -> None:
    """One TRADE row of the transaction log on ``day`` charges a cent more than its fill: only that day's
    ``change = cashFlow + funding − fee`` identity breaks."""
    conn = connect(db)
    try:
        conn.execute(
            """UPDATE raw.bybit_transactions SET fee = fee + 0.01
               WHERE tx_key = (SELECT min(tx_key) FROM raw.bybit_transactions
                               WHERE day = CAST(? AS DATE) AND type = 'TRADE')""",
            [day],
        )
    finally:
        conn.close()


def deliver_a_fill_twice(db: Path, day: str) -> None:
    """The same fill on ``day`` delivered a second time under another exec id."""
    conn = connect(db)
    try:
        conn.execute(
            """INSERT INTO raw.bybit_executions
               SELECT * REPLACE (exec_id || '-again' AS exec_id) FROM raw.bybit_executions
               WHERE day = CAST(? AS DATE) AND exec_type = 'Trade' ORDER BY exec_id LIMIT 1""",
            [day],
        )
    finally:
        conn.close()
