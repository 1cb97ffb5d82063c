"""Process runs: the selector's observations, one per process-day with fills or open exposure.

A *run* is a (day, process) where the process had at least one fill or held an open position at the
previous day's close or at this day's close. Its return is ``total / allocated capital`` (the day's
attributed total and the registry's capital as of the day), divided in exact decimal arithmetic and
rounded half-up at 12 dp. System processes (``unattributed``) and processes with no capital have no
return and are skipped.

Each run carries three regime features, each labelled with a bucket:

* **hour** — the UTC session holding most of the run's own fills (``00-08``, ``08-16``, ``16-24``; ties go
  to the earliest session; NULL when the run had no fills). Fixed edges.
* **volatility** — the mean, over the instruments the run traded or held, of the day's realized
  volatility ``√Σ r²`` of the hourly mark closes (``r`` = simple hourly return, the first one from the
  previous day's last close). Edges: terciles of every instrument-day realized volatility in
  ``raw.mark_prices`` dated up to the day.
* **slippage** — fill price against the execution's own mark price, in basis points, notional-weighted
  over the run's own trade fills: ``Σ s·(price − mark)·qty / Σ mark·qty × 10⁴`` with ``s`` = +1 for a buy,
  −1 for a sell, so a positive value is a cost. Edges: terciles of every run-like process-day's
  slippage dated up to the day.

Edges come only from data up to the day (an expanding window, recomputed from the sources each day, so
the day is a pure function of its inputs) and are stored in ``selection.bucket_edges``. Terciles are
nearest-rank quantiles of the sorted observations (``x[⌈i·n/3⌉]``, 1-based), so an edge is always an
observed value; a value at or below edge ``i`` falls in bucket ``i``. Every division is Python decimal
arithmetic; SQL only sums exact decimal products.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from itertools import pairwise

import duckdb

from hean_pipelines.accounting.rounding import divide_round_half_up, round_half_up
from hean_pipelines.ledger.schema import ensure_ledger_schema
from hean_pipelines.registry.store import ensure_registry_schema, registry_as_of
from hean_pipelines.selection.schema import ensure_selection_schema
from hean_pipelines.warehouse.connection import atomic
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

__all__ = [
    "HOUR_BUCKETS",
    "RATIO_QUANTUM",
    "TERCILE_LABELS",
    "BucketEdges",
    "ProcessRun",
    "assign_bucket",
    "build_process_runs",
    "compute_runs",
    "hour_bucket",
    "nearest_rank_edges",
    "realized_volatility",
]

RATIO_QUANTUM = Decimal("0.000000000001")  # 12 dp: returns, volatility, slippage (bps)
BPS = Decimal(10_000)
HOUR_BUCKETS: tuple[tuple[str, int, int], ...] = (("00-08", 0, 8), ("08-16", 8, 16), ("16-24", 16, 24))
"""UTC sessions (label, first hour, end hour exclusive): roughly Asia, Europe, the Americas."""
TERCILE_LABELS: tuple[str, ...] = ("low", "mid", "high")
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)
_HOUR_METHOD = "fixed UTC sessions [00,08) [08,16) [16,24); the session holding most of the run's own fills"
_VOL_METHOD = (
    "nearest-rank terciles of every instrument-day realized volatility sqrt(sum r^2) of hourly mark closes "
    "(raw.mark_prices, interval 60) dated up to the day"
)
_SLIPPAGE_METHOD = (
    "nearest-rank terciles of every process-day notional-weighted slippage (fill price vs the execution's "
    "mark, bps, + = cost) dated up to the day"
)


@dataclass(frozen=True)
class BucketEdges:
    """The edges one dimension's buckets were cut with on one day."""

    dimension: str
    method: str
    labels: tuple[str, ...]
    edges: tuple[Decimal, ...]  # inclusive upper edges of all buckets but the last
    n_observations: int
    first_observation: date | None
    last_observation: date | None


@dataclass(frozen=True)
class ProcessRun:
    """One row of ``selection.process_runs``."""

    date: date
    process_id: str
    account: str
    allocated_capital: Decimal
    total: Decimal
    ret: Decimal
    n_fills: int
    exposure: bool
    instruments: tuple[str, ...]
    hour_bucket: str | None
    hour_bucket_fills: int | None
    realized_vol: Decimal | None
    vol_bucket: str | None
    slippage_bps: Decimal | None
    slippage_bucket: str | None

    def params(self) -> list[object]:
        return [
            self.date,
            self.process_id,
            self.account,
            self.allocated_capital,
            self.total,
            self.ret,
            self.n_fills,
            self.exposure,
            ",".join(self.instruments),
            self.hour_bucket,
            self.hour_bucket_fills,
            self.realized_vol,
            self.vol_bucket,
            self.slippage_bps,
            self.slippage_bucket,
        ]


# --------------------------------------------------------------------------------------------- pure parts


def nearest_rank_edges(values: Iterable[Decimal], n_buckets: int = len(TERCILE_LABELS)) -> tuple[Decimal, ...]:
    """Nearest-rank quantiles at i/n_buckets (i = 1 … n_buckets − 1): ``sorted[⌈i·n/k⌉ − 1]``; () if empty."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return ()
    return tuple(ordered[(i * n + n_buckets - 1) // n_buckets - 1] for i in range(1, n_buckets))


def assign_bucket(value: Decimal | None, edges: Sequence[Decimal], labels: Sequence[str]) -> str | None:
    """The label of the first bucket whose inclusive upper edge holds ``value``; the last label above all
    edges; ``None`` for a missing value or when there are no edges yet."""
    if value is None or not edges:
        return None
    if len(labels) != len(edges) + 1:
        raise ValueError(f"{len(labels)} labels do not fit {len(edges)} edges")
    for label, edge in zip(labels, edges, strict=False):
        if value <= edge:
            return label
    return labels[-1]


def hour_bucket(hour_counts: Mapping[int, int]) -> tuple[str | None, int | None]:
    """The UTC session holding most fills (ties: the earliest) and its fill count; (None, None) if no fills."""
    best: tuple[str | None, int | None] = (None, None)
    for label, start, end in HOUR_BUCKETS:
        count = sum(c for h, c in hour_counts.items() if start <= h < end)
        if count > 0 and (best[1] is None or count > best[1]):
            best = (label, count)
    return best


def realized_volatility(closes: Sequence[Decimal]) -> Decimal | None:
    """``√Σ r²`` of the simple returns between consecutive closes, half-up at 12 dp; None under 2 closes."""
    if len(closes) < 2:
        return None
    with localcontext(_CONTEXT):
        total = Decimal(0)
        for previous, current in pairwise(closes):
            if previous <= 0:
                raise ValueError(f"a mark close must be > 0, got {previous}")
            r = current / previous - 1
            total += r * r
        vol = total.sqrt()
    return round_half_up(vol, RATIO_QUANTUM)


def _mean(values: Sequence[Decimal]) -> Decimal:
    with localcontext(_CONTEXT):
        mean = sum(values, Decimal(0)) / len(values)
    return round_half_up(mean, RATIO_QUANTUM)


def _slippage_bps(numerator: Decimal, notional: Decimal) -> Decimal | None:
    if notional <= 0:
        return None
    return divide_round_half_up(numerator * BPS, notional, RATIO_QUANTUM)


# --------------------------------------------------------------------------------------------- SQL reads


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


_ATTRIBUTION_SQL = """
SELECT process_id, allocated_capital, total, n_fills
FROM attribution.process_daily WHERE date = $day ORDER BY process_id
"""

_EXPOSURE_SQL = """
SELECT DISTINCT process_id FROM ledger.positions
WHERE account = $account AND date IN ($day, $previous) AND qty <> 0
"""

_INSTRUMENTS_SQL = """
SELECT DISTINCT process_id, category, symbol FROM ledger.entries
WHERE account = $account AND date = $day AND symbol IS NOT NULL AND category IS NOT NULL
UNION
SELECT DISTINCT process_id, category, symbol FROM ledger.positions
WHERE account = $account AND date IN ($day, $previous) AND qty <> 0
"""

# The process's own trade fills (orderLinkId owner), joined to the raw execution for its mark price.
_FILLS_SQL = """
SELECT e.date, e.process_id,
       sum(CASE WHEN x.side = 'Buy' THEN 1 ELSE -1 END * (x.exec_price - x.mark_price) * x.exec_qty) AS num,
       sum(x.mark_price * x.exec_qty) AS notional,
       count(*) AS n
FROM ledger.entries e
JOIN raw.bybit_executions x ON x.exec_id = e.trade_id
WHERE e.component = 'realized_pnl' AND e.split_rule = 'owner' AND e.account = $account AND e.date <= $day
  AND x.exec_type = 'Trade' AND x.mark_price IS NOT NULL AND x.mark_price > 0
GROUP BY ALL ORDER BY 1, 2
"""

_HOURS_SQL = """
SELECT e.process_id, hour(timezone('UTC', x.exec_time)) AS h, count(*) AS n
FROM ledger.entries e
JOIN raw.bybit_executions x ON x.exec_id = e.trade_id
WHERE e.component = 'realized_pnl' AND e.split_rule = 'owner' AND e.account = $account AND e.date = $day
  AND x.exec_type = 'Trade'
GROUP BY ALL ORDER BY 1, 2
"""

_MARKS_SQL = """
SELECT category, symbol, ts, close FROM raw.mark_prices
WHERE interval = '60' AND ts < $end ORDER BY category, symbol, ts
"""


def _fetch(conn: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object]) -> list[tuple]:
    """Run ``sql`` with the named parameters it uses (DuckDB refuses unused ones)."""
    return conn.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchall()


def _instrument_volatility(conn: duckdb.DuckDBPyConnection, day: date) -> dict[tuple[str, date], Decimal]:
    """Realized volatility of every (``category:symbol``, day) up to ``day`` from hourly mark closes."""
    rows = conn.execute(_MARKS_SQL, {"end": _day_start(day + timedelta(days=1))}).fetchall()
    closes: dict[tuple[str, date], list[Decimal]] = defaultdict(list)
    last_close: dict[tuple[str, date], Decimal] = {}  # the close of the last bar of a day
    for category, symbol, ts, close in rows:
        instrument = f"{category}:{symbol}"
        bar_day = ts.astimezone(UTC).date()
        closes[(instrument, bar_day)].append(close)
        last_close[(instrument, bar_day)] = close
    out: dict[tuple[str, date], Decimal] = {}
    for (instrument, bar_day), day_closes in closes.items():
        previous = last_close.get((instrument, bar_day - timedelta(days=1)))
        series = [previous, *day_closes] if previous is not None else day_closes
        vol = realized_volatility(series)
        if vol is not None:
            out[(instrument, bar_day)] = vol
    return out


def _edges(
    dimension: str, method: str, observations: Sequence[tuple[date, Decimal]], labels: Sequence[str]
) -> BucketEdges:
    values = [v for _, v in observations]
    dates = [d for d, _ in observations]
    return BucketEdges(
        dimension=dimension,
        method=method,
        labels=tuple(labels),
        edges=nearest_rank_edges(values, len(labels)),
        n_observations=len(values),
        first_observation=min(dates) if dates else None,
        last_observation=max(dates) if dates else None,
    )


def compute_runs(
    conn: duckdb.DuckDBPyConnection, day: date, *, account: str
) -> tuple[list[ProcessRun], list[BucketEdges]]:
    """The runs of ``day`` and the bucket edges used, from the ledger, attribution, raw and registry (read-only)."""
    params = {"day": day, "previous": day - timedelta(days=1), "account": account}
    registry = {e.process_id: e for e in registry_as_of(conn, day)}
    system = {pid for pid, e in registry.items() if e.kind == "system"}

    exposure = {r[0] for r in _fetch(conn, _EXPOSURE_SQL, params)}
    instruments: dict[str, set[str]] = defaultdict(set)
    for pid, category, symbol in _fetch(conn, _INSTRUMENTS_SQL, params):
        instruments[pid].add(f"{category}:{symbol}")

    # Slippage of every process-day up to the day (expanding edges) and of today's runs.
    slippage_obs: list[tuple[date, Decimal]] = []
    slippage_today: dict[str, Decimal] = {}
    for fill_day, pid, num, notional, _ in _fetch(conn, _FILLS_SQL, params):
        if pid in system or pid not in registry:
            continue
        value = _slippage_bps(num, notional)
        if value is None:
            continue
        slippage_obs.append((fill_day, value))
        if fill_day == day:
            slippage_today[pid] = value
    slippage_edges = _edges("slippage", _SLIPPAGE_METHOD, slippage_obs, TERCILE_LABELS)

    vols = _instrument_volatility(conn, day)
    vol_edges = _edges("volatility", _VOL_METHOD, [(d, v) for (_, d), v in sorted(vols.items())], TERCILE_LABELS)

    hours: dict[str, dict[int, int]] = defaultdict(dict)
    for pid, h, n in _fetch(conn, _HOURS_SQL, params):
        hours[pid][int(h)] = int(n)
    hour_edges = BucketEdges(
        dimension="hour",
        method=_HOUR_METHOD,
        labels=tuple(label for label, _, _ in HOUR_BUCKETS),
        edges=tuple(Decimal(end) for _, _, end in HOUR_BUCKETS[:-1]),
        n_observations=sum(sum(c.values()) for c in hours.values()),
        first_observation=day if hours else None,
        last_observation=day if hours else None,
    )

    runs: list[ProcessRun] = []
    for pid, capital, total, n_fills in _fetch(conn, _ATTRIBUTION_SQL, params):
        if pid in system:  # unattributed: no capital, no return
            continue
        if capital is None or capital <= 0:
            continue
        if not (n_fills > 0 or pid in exposure):
            continue
        held = tuple(sorted(instruments.get(pid, ())))
        run_vols = [vols[(i, day)] for i in held if (i, day) in vols]
        realized_vol = _mean(run_vols) if run_vols else None
        slip = slippage_today.get(pid)
        label, count = hour_bucket(hours.get(pid, {}))
        runs.append(
            ProcessRun(
                date=day,
                process_id=pid,
                account=account,
                allocated_capital=capital,
                total=total,
                ret=divide_round_half_up(total, capital, RATIO_QUANTUM),
                n_fills=int(n_fills),
                exposure=pid in exposure,
                instruments=held,
                hour_bucket=label,
                hour_bucket_fills=count,
                realized_vol=realized_vol,
                vol_bucket=assign_bucket(realized_vol, vol_edges.edges, vol_edges.labels),
                slippage_bps=slip,
                slippage_bucket=assign_bucket(slip, slippage_edges.edges, slippage_edges.labels),
            )
        )
    return runs, [hour_edges, vol_edges, slippage_edges]


def build_process_runs(conn: duckdb.DuckDBPyConnection, day: date, *, account: str) -> int:
    """Replace ``selection.process_runs`` and ``selection.bucket_edges`` for ``day`` (one transaction, or
    the caller's). Returns the number of runs written."""
    ensure_raw_schema(conn)
    ensure_ledger_schema(conn)
    ensure_registry_schema(conn)
    ensure_selection_schema(conn)
    runs, edges = compute_runs(conn, day, account=account)
    with atomic(conn):
        conn.execute("DELETE FROM selection.process_runs WHERE date = ?", [day])
        conn.execute("DELETE FROM selection.bucket_edges WHERE date = ?", [day])
        if runs:
            conn.executemany(
                "INSERT INTO selection.process_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r.params() for r in sorted(runs, key=lambda r: r.process_id)],
            )
        conn.executemany(
            "INSERT INTO selection.bucket_edges VALUES (?, ?, ?, CAST(? AS JSON), CAST(? AS JSON), ?, ?, ?)",
            [
                [
                    day,
                    e.dimension,
                    e.method,
                    json.dumps(list(e.labels)),
                    json.dumps([str(x) for x in e.edges]),
                    e.n_observations,
                    e.first_observation,
                    e.last_observation,
                ]
                for e in edges
            ],
        )
    return len(runs)
