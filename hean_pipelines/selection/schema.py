"""DDL of the selector's tables: ``selection.*``.

* ``selection.process_runs`` (date, process_id): one row per *run*, a process-day with fills or open
  exposure; its return (total / allocated capital, exact decimal, half-up at 12 dp) and regime features.
* ``selection.bucket_edges`` (date, dimension): the bucket edges each day's runs were labelled with,
  computed from data up to that day only (auditable: no lookahead).
* ``selection.trials`` (process_id): the append-only trial record behind the DSR's N. A process is
  counted from the first as-of day on which it had at least ``min_runs`` runs; rows are never updated
  or deleted.
* ``selection.scores`` (as_of, process_id): the selector's statistics, decision and reasons.
* ``selection.score_days`` (as_of): what a day's scoring shared across processes (N, the variance of
  the trials' Sharpe ratios, the DSR threshold, PBO) and the configuration used.

Derived tables are replaced per day (delete + insert), so every statement here is idempotent.
"""

from __future__ import annotations

import duckdb

MONEY = "DECIMAL(38,18)"
RATIO = "DECIMAL(38,12)"
DECISIONS: tuple[str, ...] = ("TESTING", "SCALING", "KILLED")
DIMENSIONS: tuple[str, ...] = ("hour", "volatility", "slippage")

SELECTION_DDL = f"""
CREATE SCHEMA IF NOT EXISTS selection;
CREATE TABLE IF NOT EXISTS selection.process_runs (
    date DATE NOT NULL,
    process_id VARCHAR NOT NULL,
    account VARCHAR NOT NULL,
    allocated_capital {MONEY} NOT NULL,   -- registry, as of the day (> 0)
    total {MONEY} NOT NULL,               -- attribution.process_daily.total
    return {RATIO} NOT NULL,              -- total / allocated_capital, exact, half-up at 12 dp
    n_fills BIGINT NOT NULL,
    exposure BOOLEAN NOT NULL,            -- an open position at the previous or this day's close
    instruments VARCHAR NOT NULL,         -- 'category:symbol' traded or held, comma-separated
    hour_bucket VARCHAR,                  -- UTC session holding most of the run's own fills; NULL: no fills
    hour_bucket_fills BIGINT,             -- fills in that session
    realized_vol {RATIO},                 -- mean daily realized volatility of its instruments' hourly marks
    vol_bucket VARCHAR,                   -- by the day's volatility edges (selection.bucket_edges)
    slippage_bps {RATIO},                 -- notional-weighted (fill price vs the execution's mark), + = cost
    slippage_bucket VARCHAR,              -- by the day's slippage edges
    PRIMARY KEY (date, process_id)
);
CREATE TABLE IF NOT EXISTS selection.bucket_edges (
    date DATE NOT NULL,
    dimension VARCHAR NOT NULL CHECK (dimension IN ('hour', 'volatility', 'slippage')),
    method VARCHAR NOT NULL,
    labels JSON NOT NULL,                 -- bucket labels, low to high
    edges JSON NOT NULL,                  -- inclusive upper edges of all buckets but the last (decimal text)
    n_observations BIGINT NOT NULL,       -- observations the edges were computed from (all dated <= date)
    first_observation DATE,
    last_observation DATE,
    PRIMARY KEY (date, dimension)
);
CREATE TABLE IF NOT EXISTS selection.trials (
    process_id VARCHAR PRIMARY KEY,
    first_counted_as_of DATE NOT NULL,    -- first as-of day with >= min_runs runs
    n_runs_when_counted BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS selection.scores (
    as_of DATE NOT NULL,
    process_id VARCHAR NOT NULL,
    registry_status VARCHAR,              -- status in the registry as of the day (NULL: not in the registry)
    n_runs BIGINT NOT NULL,
    effective_n DOUBLE,                   -- Kish effective n of the decay weights
    first_run DATE,
    last_run DATE,
    mean_return DOUBLE,                   -- decay-weighted, per run
    std_return DOUBLE,
    sharpe DOUBLE,                        -- decay-weighted, per run (not annualized)
    skewness DOUBLE,
    kurtosis DOUBLE,                      -- raw (3 for normal)
    psr DOUBLE,
    dsr DOUBLE,
    dsr_threshold DOUBLE,                 -- expected maximum Sharpe ratio of n_trials zero-skill trials
    n_trials BIGINT NOT NULL,
    trials_sharpe_variance DOUBLE,
    min_trl DOUBLE,                       -- effective runs needed for DSR to reach its threshold
    loser_psr DOUBLE,                     -- PSR of the negated returns: P(true Sharpe < 0)
    training_runs BIGINT NOT NULL,
    training_sharpe DOUBLE,
    holdout_runs BIGINT NOT NULL,
    holdout_mean DOUBLE,
    holdout_sharpe DOUBLE,
    max_drawdown DOUBLE,                  -- of the compounded run returns, worst up to the day
    longest_losing_streak BIGINT NOT NULL,
    cumulative_total {MONEY} NOT NULL,    -- attribution totals since the process's first valid_from
    pbo DOUBLE,                           -- diagnostic, the same on every row of a day
    decision VARCHAR NOT NULL CHECK (decision IN ('TESTING', 'SCALING', 'KILLED')),
    reasons JSON NOT NULL,                -- the decisive reasons, plain sentences
    checks JSON NOT NULL,                 -- every rule: role, ok, sentence
    PRIMARY KEY (as_of, process_id)
);
CREATE TABLE IF NOT EXISTS selection.score_days (
    as_of DATE PRIMARY KEY,
    n_processes BIGINT NOT NULL,
    n_trials BIGINT NOT NULL,
    trials_sharpe_variance DOUBLE,
    dsr_threshold DOUBLE,
    pbo DOUBLE,
    pbo_splits BIGINT,
    pbo_combinations BIGINT,
    pbo_note VARCHAR NOT NULL,
    config JSON NOT NULL
);
"""


def ensure_selection_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``selection`` and its tables (idempotent)."""
    conn.execute(SELECTION_DDL)


def table_exists(conn: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Whether ``schema.table`` exists (works on a read-only connection, unlike the DDL)."""
    schema, name = qualified.split(".", 1)
    found = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? AND database_name = "
        "current_database()",
        [schema, name],
    ).fetchone()
    return bool(found and found[0])
