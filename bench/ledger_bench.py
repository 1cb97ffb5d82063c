"""Ledger + attribution throughput at scale, against a DuckDB floor and a per-row Python reference.

    python -m bench.ledger_bench --sizes 1000000 10000000 [--days 100] [--out bench/results/ledger.json]

For each size N the benchmark generates N executions (set-based, DuckDB SQL, fixed seed) into a fresh
DuckDB file and measures, each in its own subprocess (so peak RSS is per measurement):

* ``ours``: the real code path -- ``build_ledger_day`` for every day in order (day 0 opens flat) in one
  transaction, then ``build_process_attribution`` (capital from ``registry_as_of``) and
  ``build_portfolio_attribution`` per day;
* ``floor``: what DuckDB needs at least -- one window pass (running position per symbol, materialized)
  plus one GROUP BY day, symbol aggregation of cash flow, fees and funding;
* ``reference``: the obvious implementation -- ``fetchall()`` and a per-row ``decimal.Decimal`` loop doing
  average cost with a cost basis per (symbol, orderLinkId prefix), realized PnL and fees.

See bench/README.md for what the generated data looks like and how to read the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
START = date(2025, 12, 29)
"""A Monday, and the day the shipped catalog's processes start: day 0 of every generated ledger."""
ACCOUNT = "main"
SEED = 0.42
VARIANTS = ("floor", "ours", "reference")
LEDGER_TABLES = (
    "ledger.entries",
    "ledger.positions",
    "ledger.account_positions",
    "ledger.account_fills",
    "attribution.process_daily",
    "attribution.portfolio_daily",
)
GOAL_FLOOR_RATIO = 2.0
GOAL_REFERENCE_SPEEDUP = 10.0
GOAL_RSS_MB = 2048.0

# ------------------------------------------------------------------------------------------- generator

# (symbol, start price in ticks, tick size, qty step, max qty in steps)
SYMBOLS = (("BTCUSDT", 950_000, "0.1", "0.001", 500), ("ETHUSDT", 350_000, "0.01", "0.01", 1000))
FUNDING_SHARE = 0.01
ADL_SHARE = 0.00005
TIE_SHARE = 0.1


def _epoch_ms(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp()) * 1000


def _uuid_sql(expr: str) -> str:
    """A UUID-shaped id from md5 (deterministic, like Bybit's ids in shape)."""
    h = f"md5({expr})"
    return (
        f"substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-' || substr({h}, 13, 4) || '-' || "
        f"substr({h}, 17, 4) || '-' || substr({h}, 21, 12)"
    )


def _plain(expr: str) -> str:
    """A DECIMAL rendered like Bybit does (no trailing zeros)."""
    return f"rtrim(rtrim(CAST({expr} AS VARCHAR), '0'), '.')"


def _generate_sql(n: int, days: int) -> list[str]:
    btc, eth = SYMBOLS
    return [
        # 1. the random draws, single-threaded after setseed so they are the same on every run
        f"""CREATE OR REPLACE TEMP TABLE _bench_draws AS
        SELECT i, random() AS r_sym, random() AS r_kind, random() AS r_tie, random() AS r_step,
               random() AS r_qty, random() AS r_side, random() AS r_own, random() AS r_mk, random() AS r_fee
        FROM range({n}) t(i)""",
        # 2. everything else is a pure function of (i, draws)
        f"""CREATE OR REPLACE TEMP TABLE _bench_rows AS
        WITH base AS (
            SELECT i,
                CASE WHEN r_sym < 0.5 THEN 0 ELSE 1 END AS s,
                (i * {days}) // {n} AS dd,
                CASE WHEN r_kind < {FUNDING_SHARE} THEN 'Funding'
                     WHEN r_kind < {FUNDING_SHARE + ADL_SHARE} THEN 'AdlTrade' ELSE 'Trade' END AS exec_type,
                CASE WHEN r_tie < {TIE_SHARE} THEN 1 ELSE 0 END AS tie,
                CAST(floor(r_step * 41) AS BIGINT) - 20 AS step,
                r_qty, r_side, r_own, r_mk, r_fee
            FROM _bench_draws
        ),
        timed AS (
            SELECT *,
                i - (dd * {n} + {days} - 1) // {days} AS k,
                ((dd + 1) * {n} + {days} - 1) // {days} - (dd * {n} + {days} - 1) // {days} AS n_day
            FROM base
        ),
        walked AS (
            SELECT *,
                CASE s WHEN 0 THEN {btc[1]} ELSE {eth[1]} END
                    + SUM(step) OVER (PARTITION BY s ORDER BY i ROWS UNBOUNDED PRECEDING) AS price_ticks,
                1 + CAST(floor(r_qty * CASE s WHEN 0 THEN {btc[4]} ELSE {eth[4]} END) AS BIGINT) AS qty_steps,
                (greatest(k - tie, 0) * 86399000) // n_day AS ms_trade
            FROM timed
        ),
        priced AS (
            SELECT *,
                qty_steps * price_ticks AS value_units,  -- both symbols: tick x step = 1e-4 USDT
                CASE WHEN exec_type = 'Funding' THEN CAST(floor(r_fee * 201) AS BIGINT) - 100   -- +-0.0001
                     WHEN exec_type = 'Trade' AND r_mk < 0.6 THEN CASE WHEN r_fee < 0.15 THEN -50 ELSE 200 END
                     ELSE 550 END AS rate_units,                                                -- 1e-6
                CASE WHEN exec_type = 'Funding' THEN (ms_trade // 28800000) * 28800000 ELSE ms_trade END AS ms
            FROM walked
        )
        SELECT *,
            value_units * rate_units AS fee_raw,  -- 1e-10 USDT
            sign(value_units * rate_units) * ((abs(value_units * rate_units) + 50) // 100) AS fee_units  -- 1e-8
        FROM priced""",
    ]


def _insert_executions_sql(n: int, seed: float) -> str:
    btc, eth = SYMBOLS
    exec_id = _uuid_sql(f"'{seed}:e:' || i")
    order_id = _uuid_sql(f"'{seed}:o:' || i")
    return f"""
    INSERT INTO raw.bybit_executions (exec_id, account, category, symbol, order_id, order_link_id, side,
        order_price, order_qty, leaves_qty, create_type, order_type, stop_order_type, exec_fee, exec_price,
        exec_qty, exec_type, exec_value, exec_time, fee_currency, is_maker, fee_rate, mark_price, seq, day,
        raw_json)
    WITH r AS (
        SELECT *,
            {exec_id} AS exec_id,
            CASE WHEN exec_type = 'Funding' THEN NULL ELSE {order_id} END AS order_id,
            CASE s WHEN 0 THEN '{btc[0]}' ELSE '{eth[0]}' END AS symbol,
            CASE WHEN exec_type <> 'Trade' THEN NULL
                 WHEN r_own < 0.30 THEN 'edge-' WHEN r_own < 0.55 THEN 'loser-' WHEN r_own < 0.80 THEN 'noise-'
                 WHEN r_own < 0.90 THEN NULL ELSE 'manual-' END || printf('%010d', i) AS order_link_id,
            CASE WHEN r_side < 0.5 THEN 'Buy' ELSE 'Sell' END AS side,
            CAST(CAST(price_ticks AS DECIMAL(18,0)) * CASE s WHEN 0 THEN {btc[2]} ELSE {eth[2]} END
                 AS DECIMAL(38,12)) AS exec_price,
            CAST(CAST(qty_steps AS DECIMAL(18,0)) * CASE s WHEN 0 THEN {btc[3]} ELSE {eth[3]} END
                 AS DECIMAL(38,12)) AS exec_qty,
            CAST(CAST(fee_units AS DECIMAL(18,0)) * 0.00000001 AS DECIMAL(38,18)) AS exec_fee,
            CAST(CAST(value_units AS DECIMAL(18,0)) * 0.0001 AS DECIMAL(38,18)) AS exec_value,
            CAST(CAST(rate_units AS DECIMAL(18,0)) * 0.000001 AS DECIMAL(38,18)) AS fee_rate,
            CAST(epoch_ms({_epoch_ms(START)} + dd * 86400000 + ms) AS TIMESTAMPTZ) AS exec_time,
            CAST(DATE '{START.isoformat()}' + CAST(dd AS INTEGER) AS DATE) AS exec_day,
            10000000000 + i AS exec_seq
        FROM _bench_rows
    )
    SELECT exec_id, '{ACCOUNT}', 'linear', symbol, order_id, order_link_id, side,
        CASE WHEN exec_type = 'Funding' THEN NULL ELSE exec_price END,
        CASE WHEN exec_type = 'Funding' THEN NULL ELSE exec_qty END,
        CASE WHEN exec_type = 'Funding' THEN NULL ELSE 0::DECIMAL(38,12) END,
        CASE exec_type WHEN 'Trade' THEN 'CreateByUser' WHEN 'AdlTrade' THEN 'CreateByAdl' END,
        CASE WHEN exec_type = 'Funding' THEN 'UNKNOWN' WHEN exec_type = 'Trade' AND r_mk < 0.6 THEN 'Limit'
             ELSE 'Market' END,
        NULL, exec_fee, exec_price, exec_qty, exec_type, exec_value, exec_time, 'USDT',
        exec_type = 'Trade' AND r_mk < 0.6, fee_rate, exec_price, exec_seq, exec_day,
        to_json({{
            'execId': exec_id, 'symbol': symbol, 'side': side, 'execType': exec_type,
            'orderId': coalesce(order_id, ''), 'orderLinkId': coalesce(order_link_id, ''),
            'execPrice': {_plain("exec_price")}, 'execQty': {_plain("exec_qty")},
            'execFee': {_plain("exec_fee")}, 'feeRate': {_plain("fee_rate")},
            'execTime': CAST(epoch_ms(exec_time) AS VARCHAR), 'seq': CAST(exec_seq AS VARCHAR)
        }})
    FROM r
    ORDER BY i  -- stored in arrival order, as day-by-day ingestion leaves them
    """


def _insert_marks_sql(days: int) -> str:
    btc, eth = SYMBOLS
    start_ms = _epoch_ms(START)
    btc_base = f"CAST({btc[1]} * {btc[2]} AS DECIMAL(38,12))"
    eth_base = f"CAST({eth[1]} * {eth[2]} AS DECIMAL(38,12))"
    return f"""
    INSERT INTO raw.mark_prices (category, symbol, interval, ts, open, high, low, close, volume, turnover,
                                 source, day, raw_json)
    WITH agg AS (
        SELECT symbol, date_trunc('hour', exec_time) AS ts, arg_min(exec_price, seq) AS o,
               max(exec_price) AS h, min(exec_price) AS l, arg_max(exec_price, seq) AS c
        FROM raw.bybit_executions WHERE exec_type <> 'Funding' GROUP BY ALL
    ),
    grid AS (
        SELECT sym.symbol, sym.base, CAST(epoch_ms({start_ms} + r.h * 3600000) AS TIMESTAMPTZ) AS ts
        FROM (VALUES ('{btc[0]}', {btc_base}), ('{eth[0]}', {eth_base})) sym(symbol, base),
             range({days * 24}) r(h)
    ),
    filled AS (
        SELECT g.symbol, g.ts, a.o, a.h, a.l, a.c,
            coalesce(last_value(a.c IGNORE NULLS) OVER (PARTITION BY g.symbol ORDER BY g.ts
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), g.base) AS prev
        FROM grid g LEFT JOIN agg a ON a.symbol = g.symbol AND a.ts = g.ts
    ),
    bars AS (
        SELECT symbol, ts, coalesce(o, prev) AS o, greatest(coalesce(h, prev), prev) AS h,
               least(coalesce(l, prev), prev) AS l, coalesce(c, prev) AS c
        FROM filled
    )
    SELECT 'linear', symbol, '60', ts, o, h, l, c, NULL, NULL, 'mark-price-kline', CAST(ts AS DATE),
        to_json([CAST(epoch_ms(ts) AS VARCHAR), {_plain("o")}, {_plain("h")}, {_plain("l")}, {_plain("c")}])
    FROM bars
    """


def generate(path: Path, n: int, days: int, seed: float = SEED) -> dict[str, Any]:
    """Write ``n`` executions over ``days`` days, hourly marks and the registry into a fresh DuckDB file."""
    from hean_pipelines.registry.catalog import load_catalog
    from hean_pipelines.registry.store import sync_catalog
    from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

    if n < days:
        raise ValueError(f"--sizes: {n} executions cannot fill {days} days")
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    conn = duckdb.connect(str(path))
    try:
        conn.execute("SET TimeZone = 'UTC'")
        ensure_raw_schema(conn)
        threads = conn.execute("SELECT current_setting('threads')").fetchone()
        conn.execute("SET threads = 1")  # random() after setseed is reproducible single-threaded only
        conn.execute("SELECT setseed(?)", [seed])
        draws, rows = _generate_sql(n, days)
        conn.execute(draws)
        conn.execute(f"SET threads = {threads[0] if threads else 1}")
        conn.execute(rows)
        conn.execute(_insert_executions_sql(n, seed))
        conn.execute(_insert_marks_sql(days))
        conn.execute("DROP TABLE _bench_draws")
        conn.execute("DROP TABLE _bench_rows")
        sync_catalog(conn, load_catalog())
        conn.execute("CHECKPOINT")
        counts = dict(
            conn.execute("SELECT exec_type, count(*) FROM raw.bybit_executions GROUP BY 1 ORDER BY 1").fetchall()
        )
    finally:
        conn.close()
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "executions": n,
        "days": days,
        "by_exec_type": counts,
        "file_mb": round(path.stat().st_size / 2**20, 1),
    }


# ------------------------------------------------------------------------------------------- variants


def _days(days: int) -> list[date]:
    return [START + timedelta(days=d) for d in range(days)]


def run_ours(conn: duckdb.DuckDBPyConnection, days: int) -> dict[str, Any]:
    """The real code path, as the ledger and attribution assets run it."""
    from hean_pipelines.attribution.daily import (
        ProcessCapital,
        build_portfolio_attribution,
        build_process_attribution,
    )
    from hean_pipelines.ledger.build import build_ledger_day
    from hean_pipelines.registry.store import link_prefixes_as_of, registry_as_of
    from hean_pipelines.settings import DEFAULT_HURDLE_RATE
    from hean_pipelines.warehouse.connection import transaction

    all_days = _days(days)
    first = all_days[0]
    t0 = time.perf_counter()
    with transaction(conn):
        for day in all_days:
            build_ledger_day(
                conn,
                day,
                account=ACCOUNT,
                link_prefixes=link_prefixes_as_of(conn, day),
                first_day=first,
                opening_source="flat: benchmark",
            )
    t1 = time.perf_counter()
    with transaction(conn):
        for day in all_days:
            capital = [ProcessCapital(e.process_id, e.allocated_capital) for e in registry_as_of(conn, day)]
            build_process_attribution(conn, day, account=ACCOUNT, capital=capital, hurdle_rate=DEFAULT_HURDLE_RATE)
    with transaction(conn):
        for day in all_days:
            build_portfolio_attribution(conn, day, account=ACCOUNT, first_day=first)
    t2 = time.perf_counter()
    entries = conn.execute("SELECT count(*) FROM ledger.entries").fetchone()
    quarantined = conn.execute("SELECT count(*) FROM ledger.quarantine").fetchone()
    realized = conn.execute(
        "SELECT process_id, sum(realized_pnl) FROM attribution.process_daily GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {
        "ledger_seconds": round(t1 - t0, 3),
        "attribution_seconds": round(t2 - t1, 3),
        "entries": entries[0] if entries else 0,
        "quarantined": quarantined[0] if quarantined else 0,
        "realized_by_process": {str(p): str(v) for p, v in realized},
    }


_FLOOR_WINDOW_SQL = f"""
CREATE OR REPLACE TABLE bench_floor_positions AS
SELECT exec_id, symbol, exec_time, seq, signed_qty,
       SUM(signed_qty) OVER (PARTITION BY symbol ORDER BY exec_time, seq, exec_id) AS position
FROM (
    SELECT exec_id, symbol, exec_time, seq,
           CASE WHEN exec_type = 'Funding' THEN 0::DECIMAL(38,12)
                WHEN side = 'Buy' THEN exec_qty ELSE -exec_qty END AS signed_qty
    FROM raw.bybit_executions WHERE account = '{ACCOUNT}'
)
"""

_FLOOR_DAILY_SQL = f"""
CREATE OR REPLACE TABLE bench_floor_daily AS
SELECT day, symbol,
       sum(CASE WHEN exec_type = 'Funding' THEN 0::DECIMAL(38,18)
                WHEN side = 'Buy' THEN -CAST(exec_qty * exec_price AS DECIMAL(38,18))
                ELSE CAST(exec_qty * exec_price AS DECIMAL(38,18)) END) AS cash_flow,
       coalesce(sum(exec_fee) FILTER (WHERE exec_type <> 'Funding'), 0) AS fees,
       coalesce(-sum(exec_fee) FILTER (WHERE exec_type = 'Funding'), 0) AS funding,
       count(*) AS executions
FROM raw.bybit_executions WHERE account = '{ACCOUNT}'
GROUP BY ALL
"""


def run_floor(conn: duckdb.DuckDBPyConnection, days: int) -> dict[str, Any]:
    conn.execute(_FLOOR_WINDOW_SQL)
    conn.execute(_FLOOR_DAILY_SQL)
    rows = conn.execute("SELECT count(*) FROM bench_floor_daily").fetchone()
    return {"daily_rows": rows[0] if rows else 0}


def run_reference(conn: duckdb.DuckDBPyConnection, days: int) -> dict[str, Any]:
    """The obvious implementation: every row into Python, one Decimal average-cost loop."""
    rows = conn.execute(
        f"""SELECT day, symbol, exec_type, order_link_id, side, exec_qty, exec_price, exec_fee
            FROM raw.bybit_executions WHERE account = '{ACCOUNT}'
            ORDER BY symbol, exec_time, seq, exec_id"""
    ).fetchall()
    zero = Decimal(0)
    cent = Decimal("0.00000001")
    positions: dict[tuple[str, str], list[Decimal]] = {}  # (symbol, prefix) -> [qty, basis]
    daily: dict[tuple[date, str], list[Decimal]] = {}  # (day, prefix) -> [realized, cash_flow, fees, funding]
    with localcontext(Context(prec=60, rounding=ROUND_HALF_UP)):
        for day, symbol, exec_type, link, side, qty, price, fee in rows:
            prefix = link.split("-", 1)[0] if link and "-" in link else "unattributed"
            acc = daily.get((day, prefix))
            if acc is None:
                acc = daily[(day, prefix)] = [zero, zero, zero, zero]
            if exec_type == "Funding":
                acc[3] -= fee
                continue
            acc[2] += fee
            f = qty if side == "Buy" else -qty
            value = f * price
            acc[1] -= value
            pos = positions.get((symbol, prefix))
            if pos is None:
                pos = positions[(symbol, prefix)] = [zero, zero]
            q, b = pos
            if not q or (f > 0) == (q > 0):
                pos[0] = q + f
                pos[1] = b + value
            elif abs(f) < abs(q):
                removed = (b * abs(f) / abs(q)).quantize(cent)
                acc[0] += -value - removed
                pos[0] = q + f
                pos[1] = b - removed
            else:
                acc[0] += q * price - b
                rest = q + f
                pos[0] = rest
                pos[1] = rest * price
    realized: dict[str, Decimal] = {}
    for (_, prefix), acc in daily.items():
        realized[prefix] = realized.get(prefix, zero) + acc[0]
    return {"daily_rows": len(daily), "realized_by_prefix": {k: str(v) for k, v in sorted(realized.items())}}


RUNNERS = {"ours": run_ours, "floor": run_floor, "reference": run_reference}


def _child(variant: str, db: Path, days: int, result: Path, profile: Path | None) -> None:
    """One measurement: open, run, report wall seconds and this process's peak RSS."""
    from hean_pipelines.warehouse.connection import connect

    # ours runs with the writer's settings of the real code path; the floor and the reference keep DuckDB's
    # defaults (no memory limit), as they always have.
    conn = connect(db, read_only=variant == "reference", memory_limit=None if variant == "ours" else "")
    try:
        started = time.perf_counter()
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            info = profiler.runcall(RUNNERS[variant], conn, days)
            profiler.dump_stats(str(profile))
        else:
            info = RUNNERS[variant](conn, days)
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {"seconds": seconds, "child_ru_maxrss_mb": rss_kb / 1024, "child_vm_hwm_mb": _vm_hwm_mb(), **info}
    result.write_text(json.dumps(report))


def _vm_hwm_mb() -> float | None:
    """This process's own peak RSS since its exec (Linux ``VmHWM``); ``ru_maxrss`` also counts the parent's
    peak at fork, which is why the driver keeps itself small (the generator runs in a child too)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _generate_child(db: Path, size: int, days: int, result: Path) -> None:
    result.write_text(json.dumps(generate(db, size, days)))


# ------------------------------------------------------------------------------------------- driver


def _measure(
    variant: str, db: Path, days: int, workdir: Path, timeout: float | None, profile: Path | None
) -> dict[str, Any] | None:
    """Run one variant in a subprocess; ``None`` when it exceeded ``timeout`` (it is killed)."""
    result = workdir / f"result-{variant}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.ledger_bench", "--child", variant, "--db", str(db), "--days", str(days)]
    cmd += ["--result", str(result)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT)
    started = time.perf_counter()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if timeout is not None and time.perf_counter() - started > timeout:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            return None
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed (exit {proc.returncode}); see its output above")
    data: dict[str, Any] = json.loads(result.read_text())
    data["peak_rss_mb"] = usage.ru_maxrss / 1024  # wait4: this child only (the driver itself stays small)
    result.unlink()
    return data


def _run_generator(db: Path, size: int, days: int, workdir: Path) -> dict[str, Any]:
    """Generate in a child process: the driver stays small, so no measured child inherits a large peak RSS."""
    result = workdir / "result-generate.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.ledger_bench", "--child", "generate", "--db", str(db)]
    cmd += ["--sizes", str(size), "--days", str(days), "--result", str(result)]
    subprocess.run(cmd, cwd=REPO_ROOT, check=True)
    data: dict[str, Any] = json.loads(result.read_text())
    result.unlink()
    return data


def _checksums_child(db: Path, result: Path) -> None:
    from hean_pipelines.warehouse.checksum import table_checksum
    from hean_pipelines.warehouse.connection import connect

    conn = connect(db, read_only=True)
    try:
        result.write_text(json.dumps({t: table_checksum(conn, t) for t in LEDGER_TABLES}))
    finally:
        conn.close()


def _checksums(db: Path, workdir: Path) -> dict[str, str]:
    """``table_checksum`` of the tables ``ours`` built, computed in a child (the driver stays small)."""
    result = workdir / "result-checksums.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.ledger_bench", "--child", "checksums", "--db", str(db), "--result", str(result)]
    subprocess.run(cmd, cwd=REPO_ROOT, check=True)
    data: dict[str, str] = json.loads(result.read_text())
    result.unlink()
    return data


def _fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def render_table(rows: list[dict[str, Any]]) -> str:
    head = ["size", "variant", "seconds", "executions/s", "peak RSS MB", "x floor", "reference/this"]
    body = []
    for r in rows:
        mark = "*" if r.get("extrapolated") else ""
        body.append(
            [
                f"{r['size']:,}",
                r["variant"] + mark,
                f"{r['seconds']:.2f}{mark}",
                f"{r['executions_per_second']:,.0f}{mark}",
                "n/a" if r.get("peak_rss_mb") is None else f"{r['peak_rss_mb']:,.0f}",
                "n/a" if r.get("ratio_to_floor") is None else f"{r['ratio_to_floor']:.2f}",
                "n/a" if r.get("reference_over_this") is None else f"{r['reference_over_this']:.2f}",
            ]
        )
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = [_fmt_row(head, widths), _fmt_row(["-" * w for w in widths], widths)]
    lines += [_fmt_row(b, widths) for b in body]
    if any(r.get("extrapolated") for r in rows):
        lines.append("* extrapolated linearly from a smaller measured size (see 'extrapolated_from'), not measured")
    return "\n".join(lines)


def _goal(rows: list[dict[str, Any]], size: int) -> dict[str, Any]:
    by = {r["variant"]: r for r in rows if r["size"] == size}
    ours = by.get("ours")
    if ours is None:
        return {}
    floor_ratio = ours.get("ratio_to_floor")
    speedup = ours.get("reference_over_this")
    rss = ours.get("peak_rss_mb")
    return {
        "size": size,
        "within_2x_floor": None if floor_ratio is None else floor_ratio <= GOAL_FLOOR_RATIO,
        "at_least_10x_reference": None if speedup is None else speedup >= GOAL_REFERENCE_SPEEDUP,
        "reference_extrapolated": bool(by.get("reference", {}).get("extrapolated")),
        "peak_rss_under_2gb": None if rss is None else rss < GOAL_RSS_MB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "ledger.json")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--reference-max",
        type=int,
        default=None,
        help="largest size the reference runs at; above it, it is extrapolated from the largest run (default: all)",
    )
    parser.add_argument(
        "--reference-timeout",
        type=float,
        default=600.0,
        help="seconds after which a reference run is stopped and extrapolated instead (default 600)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/hean-ledger-bench"))
    parser.add_argument("--reuse", action="store_true", help="reuse a generated database of the same size/days")
    parser.add_argument("--keep", action="store_true", help="keep the databases ours/floor wrote")
    parser.add_argument("--checksums", action="store_true", help="record the checksums of the tables ours built")
    parser.add_argument("--profile", type=Path, default=None, help="folder for cProfile stats of `ours`")
    parser.add_argument("--child", choices=(*VARIANTS, "generate", "checksums"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child == "checksums":
        _checksums_child(args.db, args.result)
        return 0
    if args.child == "generate":
        _generate_child(args.db, args.sizes[0], args.days, args.result)
        return 0
    if args.child:
        _child(args.child, args.db, args.days, args.result, args.profile)
        return 0

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    generation: dict[str, Any] = {}
    checksums: dict[str, dict[str, str]] = {}
    details: dict[str, dict[str, Any]] = {}
    for size in sorted(args.sizes):
        gen_db = workdir / f"gen-{size}-{args.days}.duckdb"
        if args.reuse and gen_db.exists():
            print(f"[{size:,}] reusing {gen_db}", flush=True)
        else:
            print(f"[{size:,}] generating {gen_db} ...", flush=True)
            generation[str(size)] = _run_generator(gen_db, size, args.days, workdir)
            print(f"[{size:,}] generated: {generation[str(size)]}", flush=True)
        measured: dict[str, dict[str, Any] | None] = {}
        for variant in [v for v in VARIANTS if v in args.variants]:
            if variant == "reference" and args.reference_max is not None and size > args.reference_max:
                measured[variant] = None
                continue
            db = gen_db
            if variant != "reference":  # these write: each gets its own copy of the generated file
                db = workdir / f"run-{variant}-{size}.duckdb"
                shutil.copyfile(gen_db, db)
            profile = None
            if variant == "ours" and args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                profile = args.profile / f"ours-{size}.pstats"
            print(f"[{size:,}] {variant} ...", flush=True)
            timeout = args.reference_timeout if variant == "reference" else None
            result = _measure(variant, db, args.days, workdir, timeout, profile)
            measured[variant] = result
            if result is None:
                print(f"[{size:,}] {variant}: stopped after {timeout:.0f} s, will be extrapolated", flush=True)
            else:
                print(f"[{size:,}] {variant}: {result['seconds']:.2f} s, {result['peak_rss_mb']:.0f} MB", flush=True)
                details[f"{size}/{variant}"] = result
            if variant == "ours" and args.checksums:
                checksums[str(size)] = _checksums(db, workdir)
                print(f"[{size:,}] checksums: {json.dumps(checksums[str(size)], indent=1)}", flush=True)
            if db != gen_db and not args.keep:
                db.unlink(missing_ok=True)
        for variant, result in measured.items():
            row: dict[str, Any] = {"size": size, "variant": variant}
            if result is None:
                done = [r for r in rows if r["variant"] == variant and not r.get("extrapolated")]
                if not done:
                    print(f"[{size:,}] {variant}: nothing to extrapolate from (run a smaller size too)", flush=True)
                    continue
                base = max(done, key=lambda r: r["size"])
                row.update(
                    seconds=base["seconds"] * size / base["size"],
                    peak_rss_mb=None,
                    extrapolated=True,
                    extrapolated_from=base["size"],
                )
            else:
                row.update(seconds=result["seconds"], peak_rss_mb=result["peak_rss_mb"], extrapolated=False)
            row["executions_per_second"] = size / row["seconds"]
            rows.append(row)
        this = {r["variant"]: r for r in rows if r["size"] == size}
        for r in this.values():
            if "floor" in this:
                r["ratio_to_floor"] = r["seconds"] / this["floor"]["seconds"]
            if "reference" in this:
                r["reference_over_this"] = this["reference"]["seconds"] / r["seconds"]

    table = render_table(rows)
    print()
    print(table)
    goals = [g for g in (_goal(rows, s) for s in sorted(args.sizes)) if g]
    for g in goals:
        print(
            f"goal at {g['size']:,}: <= {GOAL_FLOOR_RATIO:g}x floor: {g['within_2x_floor']}, "
            f">= {GOAL_REFERENCE_SPEEDUP:g}x reference: {g['at_least_10x_reference']}"
            f"{' (reference extrapolated)' if g['reference_extrapolated'] else ''}, "
            f"peak RSS < 2 GB: {g['peak_rss_under_2gb']}"
        )
    report = {
        "command": "python -m bench.ledger_bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "days": args.days,
        "seed": SEED,
        "generation": generation,
        "results": rows,
        "goals": goals,
        "details": details,
        "checksums": checksums,
        "table": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
