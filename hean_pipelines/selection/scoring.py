"""Selector scores as of a day: decay-weighted statistics, the rules, the decision and its reasons.

Everything as of day D uses only runs dated up to D (``selection.process_runs``), the registry as of D,
attribution totals up to D and the trial record (``selection.trials``) up to D.

Statistics (per process; all per run, never annualized)
-------------------------------------------------------
* **Decay weights** ``w = 2^(−age/h)``, ``age`` in calendar days before D, ``h = half_life_days``.
* **Weighted moments**: mean and the unbiased reliability-weights stdev
  (:func:`~hean_pipelines.selection.stats.weighted_mean_std`); skewness and raw kurtosis are the
  population moments of the weighted empirical distribution (weights normalized to 1).
* **Sharpe** = weighted mean / weighted stdev; **effective n** = Kish ``(Σw)²/Σw²``; PSR uses the effective
  n as the number of observations.
* **Trials** (the DSR's N): every process, killed and generated ones included, with at least
  ``min_runs`` runs as of D, united with the append-only record ``selection.trials`` (rows counted on or
  before D). **V** is the variance of the trials' (decay-weighted) Sharpe ratios over that same set,
  taken as the population variance of the set (the set is every trial, not a sample of them; as in
  López de Prado's reference code, ``np.std`` with ``ddof = 0``). N = 1 gives a zero threshold.
* **DSR** = PSR against ``expected_max_sharpe(N, V)``; **MinTRL** at the same benchmark with
  α = 1 − ``dsr_threshold`` (the effective n at which the DSR would reach its threshold).
* **Loser PSR** = PSR of the negated returns: the probability that the true Sharpe ratio is below 0.
* **Holdout**: unweighted Sharpe ratios of the runs in the last ``holdout_days`` days vs the older ones.
* **Regimes**: per dimension (hour, volatility, slippage bucket stored on each run), runs, decay-weighted
  mean and weighted profit ``Σ w·r`` per bucket.
* **Kill conditions**: worst drawdown of the compounded run returns so far, longest run of consecutive
  runs with a negative total, cumulative attribution total since the process's first version.
* **PBO** (diagnostic, the same on every row of a day): CSCV over the trial processes' daily returns
  (a day without a run counts 0), S = ``pbo_splits`` blocks, reduced to the largest even S ≤ T/2.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import duckdb

from hean_pipelines.registry.store import RegistryConflictError, record_status_change
from hean_pipelines.registry.store import registry_as_of as _registry_as_of
from hean_pipelines.selection.config import SelectorConfig
from hean_pipelines.selection.rules import (
    BucketResult,
    Decision,
    KillConditions,
    RuleResult,
    decide,
    dsr_rule,
    effective_sample_rule,
    holdout_rule,
    holdout_stats,
    kill_drawdown_rule,
    kill_losing_streak_rule,
    kill_min_total_rule,
    min_trl_rule,
    minimum_sample_rule,
    parse_kill_conditions,
    psr_rule,
    regime_rule,
    registry_status_rule,
    statistical_loser_rule,
)
from hean_pipelines.selection.schema import ensure_selection_schema, table_exists
from hean_pipelines.selection.stats import (
    PBOResult,
    expected_max_sharpe,
    kish_effective_sample_size,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    weighted_mean_std,
)
from hean_pipelines.warehouse.connection import atomic

__all__ = [
    "REGIME_DIMENSIONS",
    "ProcessStatistics",
    "RegistryInfo",
    "Run",
    "Score",
    "ScoringContext",
    "StatusChange",
    "WeightedMoments",
    "apply_decisions",
    "decay_weights",
    "load_runs",
    "longest_losing_streak",
    "max_drawdown",
    "pbo_across_processes",
    "population_variance",
    "process_statistics",
    "regime_buckets",
    "score_as_of",
    "score_processes",
    "weighted_moments",
    "write_scores",
]

REGIME_DIMENSIONS: tuple[str, ...] = ("hour", "volatility", "slippage")


@dataclass(frozen=True)
class Run:
    """A run as the selector reads it from ``selection.process_runs``."""

    date: date
    process_id: str
    total: Decimal
    ret: float
    hour_bucket: str | None = None
    vol_bucket: str | None = None
    slippage_bucket: str | None = None

    def bucket(self, dimension: str) -> str | None:
        if dimension == "hour":
            return self.hour_bucket
        if dimension == "volatility":
            return self.vol_bucket
        if dimension == "slippage":
            return self.slippage_bucket
        raise ValueError(f"unknown regime dimension {dimension!r}")


# --------------------------------------------------------------------------------------------- statistics


def decay_weights(dates: Sequence[date], as_of: date, half_life_days: float) -> list[float]:
    """``2^(−age/h)`` per run, ``age`` = calendar days before ``as_of`` (runs after it are refused)."""
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days!r}")
    out = []
    for d in dates:
        age = (as_of - d).days
        if age < 0:
            raise ValueError(f"run dated {d} is after the as-of day {as_of} (no lookahead)")
        out.append(2.0 ** (-age / half_life_days))
    return out


@dataclass(frozen=True)
class WeightedMoments:
    mean: float
    std: float
    skewness: float | None  # None when std is 0
    kurtosis: float | None  # raw (3 for normal)


def weighted_moments(values: Sequence[float], weights: Sequence[float]) -> WeightedMoments:
    """Weighted mean, unbiased weighted stdev, and the population skewness/raw kurtosis of the weighted
    empirical distribution. Needs at least two nonzero weights."""
    mean, std = weighted_mean_std(values, weights)
    if std == 0.0:
        return WeightedMoments(mean, std, None, None)
    total = math.fsum(weights)
    p = [w / total for w in weights]
    dev = [x - mean for x in values]
    m2 = math.fsum(pi * d * d for pi, d in zip(p, dev, strict=True))
    m3 = math.fsum(pi * d * d * d for pi, d in zip(p, dev, strict=True))
    m4 = math.fsum(pi * d * d * d * d for pi, d in zip(p, dev, strict=True))
    if m2 <= 0.0:
        return WeightedMoments(mean, std, None, None)
    return WeightedMoments(mean, std, m3 / m2**1.5, m4 / (m2 * m2))


@dataclass(frozen=True)
class ProcessStatistics:
    """Decay-weighted statistics of one process's runs as of a day (None where undefined)."""

    n_runs: int
    effective_n: float | None
    mean: float | None
    std: float | None
    sharpe: float | None
    skewness: float | None
    kurtosis: float | None
    psr: float | None
    loser_psr: float | None
    first_run: date | None
    last_run: date | None


def _psr(sr: float, n: float, skew: float, kurt: float, benchmark: float = 0.0) -> float | None:
    try:
        return probabilistic_sharpe_ratio(sr, n, skew, kurt, sr_benchmark=benchmark)
    except ValueError:
        return None


def process_statistics(runs: Sequence[Run], as_of: date, config: SelectorConfig) -> ProcessStatistics:
    """Decay-weighted statistics of ``runs`` (one process, all dated ≤ ``as_of``)."""
    ordered = sorted(runs, key=lambda r: r.date)
    n = len(ordered)
    first = ordered[0].date if ordered else None
    last = ordered[-1].date if ordered else None
    if n == 0:
        return ProcessStatistics(0, None, None, None, None, None, None, None, None, None, None)
    weights = decay_weights([r.date for r in ordered], as_of, config.half_life_days)
    n_eff = kish_effective_sample_size(weights)
    if n < 2:
        return ProcessStatistics(n, n_eff, ordered[0].ret, None, None, None, None, None, None, first, last)
    m = weighted_moments([r.ret for r in ordered], weights)
    if m.std == 0.0 or m.skewness is None or m.kurtosis is None:
        return ProcessStatistics(n, n_eff, m.mean, m.std, None, None, None, None, None, first, last)
    sr = m.mean / m.std
    psr = _psr(sr, n_eff, m.skewness, m.kurtosis) if n_eff >= 2.0 else None
    loser = _psr(-sr, n_eff, -m.skewness, m.kurtosis) if n_eff >= 2.0 else None
    return ProcessStatistics(n, n_eff, m.mean, m.std, sr, m.skewness, m.kurtosis, psr, loser, first, last)


def population_variance(values: Sequence[float]) -> float:
    """Σ(x − x̄)²/n (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.fsum((x - mean) ** 2 for x in values) / len(values)


def regime_buckets(runs: Sequence[Run], weights: Sequence[float], dimension: str) -> list[BucketResult]:
    """Per bucket of ``dimension``: runs, decay-weighted mean return and Σ w·r (runs without it skipped)."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run, w in zip(runs, weights, strict=True):
        label = run.bucket(dimension)
        if label is not None:
            groups[label].append((run.ret, w))
    out = []
    for label in sorted(groups):
        pairs = groups[label]
        sw = math.fsum(w for _, w in pairs)
        profit = math.fsum(r * w for r, w in pairs)
        out.append(BucketResult(label, len(pairs), profit / sw if sw > 0 else 0.0, profit))
    return out


def max_drawdown(returns: Iterable[float]) -> float:
    """Worst ``1 − index/peak`` of the index compounding ``returns`` from 1 (0 with no returns)."""
    index = peak = 1.0
    worst = 0.0
    for r in returns:
        index *= 1.0 + r
        peak = max(peak, index)
        if peak > 0:
            worst = max(worst, 1.0 - index / peak)
    return min(max(worst, 0.0), 1.0)


def longest_losing_streak(totals: Iterable[Decimal]) -> int:
    """Longest run of consecutive negative totals."""
    longest = current = 0
    for t in totals:
        current = current + 1 if t < 0 else 0
        longest = max(longest, current)
    return longest


def pbo_across_processes(
    runs_by_process: Mapping[str, Sequence[Run]], max_splits: int
) -> tuple[PBOResult | None, int | None, str]:
    """CSCV's PBO over the processes' daily returns (0 on days without a run), the S used, and a note."""
    ids = sorted(p for p, rs in runs_by_process.items() if rs)
    if len(ids) < 2:
        return None, None, f"PBO needs at least 2 processes with {len(ids)} counted"
    first = min(r.date for p in ids for r in runs_by_process[p])
    last = max(r.date for p in ids for r in runs_by_process[p])
    n_days = (last - first).days + 1
    splits = min(max_splits, (n_days // 2) // 2 * 2)
    if splits < 4:
        return None, None, f"PBO needs at least 8 days of history, {n_days} so far"
    index = {first + timedelta(days=i): i for i in range(n_days)}
    matrix = [[0.0] * len(ids) for _ in range(n_days)]
    for j, pid in enumerate(ids):
        for r in runs_by_process[pid]:
            matrix[index[r.date]][j] += r.ret
    result = probability_of_backtest_overfitting(matrix, n_splits=splits)
    note = f"CSCV over {len(ids)} processes × {n_days} days, S = {splits} blocks, {result.n_combinations} combinations"
    return result, splits, note


# --------------------------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class RegistryInfo:
    """What the selector needs from the registry about one process as of the day."""

    status: str | None
    since: date | None
    first_valid_from: date | None
    kind: str = "process"
    kill_conditions: KillConditions = field(default_factory=KillConditions)


@dataclass(frozen=True)
class ScoringContext:
    """What a day's scoring shares across processes."""

    as_of: date
    config: SelectorConfig
    n_trials: int
    trial_ids: tuple[str, ...]
    trials_sharpe_variance: float
    dsr_threshold: float
    pbo: float | None
    pbo_splits: int | None
    pbo_combinations: int | None
    pbo_note: str


@dataclass(frozen=True)
class Score:
    """One row of ``selection.scores``."""

    as_of: date
    process_id: str
    registry_status: str | None
    n_runs: int
    effective_n: float | None
    first_run: date | None
    last_run: date | None
    mean_return: float | None
    std_return: float | None
    sharpe: float | None
    skewness: float | None
    kurtosis: float | None
    psr: float | None
    dsr: float | None
    dsr_threshold: float | None
    n_trials: int
    trials_sharpe_variance: float | None
    min_trl: float | None
    loser_psr: float | None
    training_runs: int
    training_sharpe: float | None
    holdout_runs: int
    holdout_mean: float | None
    holdout_sharpe: float | None
    max_drawdown: float | None
    longest_losing_streak: int
    cumulative_total: Decimal
    pbo: float | None
    decision: Decision
    reasons: tuple[str, ...]
    checks: tuple[RuleResult, ...]
    context: ScoringContext | None = field(default=None, compare=False, repr=False)

    def params(self) -> list[object]:
        return [
            self.as_of,
            self.process_id,
            self.registry_status,
            self.n_runs,
            _finite_or_none(self.effective_n),
            self.first_run,
            self.last_run,
            _finite_or_none(self.mean_return),
            _finite_or_none(self.std_return),
            _finite_or_none(self.sharpe),
            _finite_or_none(self.skewness),
            _finite_or_none(self.kurtosis),
            _finite_or_none(self.psr),
            _finite_or_none(self.dsr),
            _finite_or_none(self.dsr_threshold),
            self.n_trials,
            _finite_or_none(self.trials_sharpe_variance),
            _finite_or_none(self.min_trl),
            _finite_or_none(self.loser_psr),
            self.training_runs,
            _finite_or_none(self.training_sharpe),
            self.holdout_runs,
            _finite_or_none(self.holdout_mean),
            _finite_or_none(self.holdout_sharpe),
            _finite_or_none(self.max_drawdown),
            self.longest_losing_streak,
            self.cumulative_total,
            _finite_or_none(self.pbo),
            self.decision,
            json.dumps(list(self.reasons), ensure_ascii=False),
            json.dumps({r.rule: r.as_json() for r in self.checks}, ensure_ascii=False),
        ]


def _finite_or_none(x: float | None) -> float | None:
    """NULL for undefined numbers (DuckDB DOUBLE holds inf, but a reader's SQL should not meet it)."""
    if x is None or not math.isfinite(x):
        return None
    return x


def _cumulative(
    daily_totals: Sequence[tuple[date, Decimal]], start: date | None, kill: KillConditions
) -> tuple[Decimal, tuple[date, Decimal] | None]:
    """Cumulative total since ``start`` and the first day, from ``start + days`` on, it fell below the
    process's minimum (with the cumulative total that day)."""
    condition = kill.min_total_after_days
    running = Decimal(0)
    breach = None
    for day, total in sorted(daily_totals):
        if start is not None and day < start:
            continue
        running += total
        if (
            breach is None
            and condition is not None
            and start is not None
            and (day - start).days >= condition.days
            and running < condition.min_total
        ):
            breach = (day, running)
    return running, breach


def _score_one(
    process_id: str,
    runs: Sequence[Run],
    stats: ProcessStatistics,
    context: ScoringContext,
    registry: RegistryInfo | None,
    daily_totals: Sequence[tuple[date, Decimal]],
) -> Score:
    config = context.config
    as_of = context.as_of
    ordered = sorted(runs, key=lambda r: r.date)
    weights = decay_weights([r.date for r in ordered], as_of, config.half_life_days) if ordered else []

    dsr = min_trl = None
    if stats.sharpe is not None and stats.skewness is not None and stats.kurtosis is not None:
        assert stats.effective_n is not None
        if stats.effective_n >= 2.0:
            dsr = _psr(stats.sharpe, stats.effective_n, stats.skewness, stats.kurtosis, context.dsr_threshold)
        try:
            min_trl = min_track_record_length(
                stats.sharpe,
                stats.skewness,
                stats.kurtosis,
                sr_benchmark=context.dsr_threshold,
                alpha=1.0 - config.dsr_threshold,
            )
        except ValueError:
            min_trl = None

    hold = holdout_stats([(r.date, r.ret) for r in ordered], as_of, config.holdout_days)
    drawdown = max_drawdown(r.ret for r in ordered)
    streak = longest_losing_streak(r.total for r in ordered)
    kill = registry.kill_conditions if registry is not None else KillConditions()
    first_valid = registry.first_valid_from if registry is not None else None
    days_since = (as_of - first_valid).days if first_valid is not None else 0
    cumulative_total, first_breach = _cumulative(daily_totals, first_valid, kill)

    results: list[RuleResult] = [
        registry_status_rule(registry.status if registry else None, registry.since if registry else None),
        minimum_sample_rule(stats.n_runs, config),
        kill_drawdown_rule(drawdown, kill.max_drawdown_ratio),
        kill_losing_streak_rule(streak, kill.max_losing_streak_days),
        kill_min_total_rule(days_since, cumulative_total, kill.min_total_after_days, first_breach),
        statistical_loser_rule(stats.loser_psr, stats.effective_n, config),
        effective_sample_rule(stats.effective_n, config),
        psr_rule(stats.psr, config),
        dsr_rule(dsr, context.dsr_threshold, context.n_trials, config),
        min_trl_rule(min_trl, stats.effective_n, config),
        holdout_rule(hold, config),
        *(regime_rule(dim, regime_buckets(ordered, weights, dim), config) for dim in REGIME_DIMENSIONS),
    ]
    decision, reasons = decide(results, config)
    return Score(
        as_of=as_of,
        process_id=process_id,
        registry_status=registry.status if registry else None,
        n_runs=stats.n_runs,
        effective_n=stats.effective_n,
        first_run=stats.first_run,
        last_run=stats.last_run,
        mean_return=stats.mean,
        std_return=stats.std,
        sharpe=stats.sharpe,
        skewness=stats.skewness,
        kurtosis=stats.kurtosis,
        psr=stats.psr,
        dsr=dsr,
        dsr_threshold=context.dsr_threshold,
        n_trials=context.n_trials,
        trials_sharpe_variance=context.trials_sharpe_variance,
        min_trl=min_trl,
        loser_psr=stats.loser_psr,
        training_runs=hold.training_runs,
        training_sharpe=hold.training_sharpe,
        holdout_runs=hold.holdout_runs,
        holdout_mean=hold.holdout_mean,
        holdout_sharpe=hold.holdout_sharpe,
        max_drawdown=drawdown if ordered else None,
        longest_losing_streak=streak,
        cumulative_total=cumulative_total,
        pbo=context.pbo,
        decision=decision,
        reasons=reasons,
        checks=tuple(results),
        context=context,
    )


def score_processes(
    runs: Sequence[Run],
    as_of: date,
    config: SelectorConfig,
    *,
    registry: Mapping[str, RegistryInfo] | None = None,
    recorded_trials: Iterable[str] = (),
    daily_totals: Mapping[str, Sequence[tuple[date, Decimal]]] | None = None,
    with_pbo: bool = True,
) -> list[Score]:
    """Score every process (those in ``registry`` of kind ``process`` and those with runs) as of ``as_of``.

    Pure: ``runs`` must already be limited to dates ≤ ``as_of`` (later runs are refused);
    ``recorded_trials`` are the trial record's processes counted on or before ``as_of``;
    ``daily_totals`` the attribution ``(date, total)`` of each process up to ``as_of`` for its cumulative total
    and minimum-total kill condition (default: its runs' totals). ``with_pbo=False`` skips the PBO
    diagnostic (the costliest part; no rule depends on it).
    """
    registry = dict(registry or {})
    by_process: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.date > as_of:
            raise ValueError(f"run {run.process_id} dated {run.date} is after the as-of day {as_of} (no lookahead)")
        by_process[run.process_id].append(run)
    system = {pid for pid, info in registry.items() if info.kind == "system"}
    # A proposal awaiting a human trades nothing: it is scored once it has runs, not before.
    awaiting = {pid for pid, info in registry.items() if info.status == "proposed"}
    listed = {pid for pid, info in registry.items() if info.kind != "system"} - awaiting
    process_ids = sorted((listed | set(by_process)) - system)
    stats = {pid: process_statistics(by_process.get(pid, []), as_of, config) for pid in process_ids}

    trial_ids = set(recorded_trials) | {pid for pid in process_ids if stats[pid].n_runs >= config.min_runs}
    trial_sharpes = []
    for pid in sorted(trial_ids):
        s = stats.get(pid)
        if s is None and by_process.get(pid):
            s = process_statistics(by_process[pid], as_of, config)
        if s is not None and s.sharpe is not None and math.isfinite(s.sharpe):
            trial_sharpes.append(s.sharpe)
    n_trials = len(trial_ids)
    variance = population_variance(trial_sharpes)
    threshold = expected_max_sharpe(max(n_trials, 1), variance)
    if with_pbo:
        pbo, splits, note = pbo_across_processes(
            {pid: by_process.get(pid, []) for pid in sorted(trial_ids)}, config.pbo_splits
        )
    else:
        pbo, splits, note = None, None, "PBO not computed"
    context = ScoringContext(
        as_of=as_of,
        config=config,
        n_trials=n_trials,
        trial_ids=tuple(sorted(trial_ids)),
        trials_sharpe_variance=variance,
        dsr_threshold=threshold,
        pbo=pbo.pbo if pbo is not None else None,
        pbo_splits=splits,
        pbo_combinations=pbo.n_combinations if pbo is not None else None,
        pbo_note=note,
    )
    totals = daily_totals if daily_totals is not None else {}
    scores = []
    for pid in process_ids:
        own = by_process.get(pid, [])
        series = totals.get(pid) if daily_totals is not None else [(r.date, r.total) for r in own]
        scores.append(_score_one(pid, own, stats[pid], context, registry.get(pid), series or []))
    return scores


# --------------------------------------------------------------------------------------------- database


def load_runs(conn: duckdb.DuckDBPyConnection, as_of: date) -> list[Run]:
    """Every run dated up to ``as_of`` from ``selection.process_runs``, in (date, process_id) order (none
    when the table does not exist yet)."""
    if not table_exists(conn, "selection.process_runs"):
        return []
    rows = conn.execute(
        """SELECT date, process_id, total, return, hour_bucket, vol_bucket, slippage_bucket
           FROM selection.process_runs WHERE date <= ? ORDER BY date, process_id""",
        [as_of],
    ).fetchall()
    return [Run(d, pid, total, float(ret), hb, vb, sb) for d, pid, total, ret, hb, vb, sb in rows]


def _registry_infos(conn: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, RegistryInfo]:
    if not table_exists(conn, "registry.processes"):
        return {}
    firsts = dict(
        conn.execute(
            "SELECT process_id, min(valid_from) FROM registry.processes WHERE valid_from <= ? GROUP BY 1", [as_of]
        ).fetchall()
    )
    out = {}
    for entry in _registry_as_of(conn, as_of):
        out[entry.process_id] = RegistryInfo(
            status=entry.status,
            since=entry.valid_from,
            first_valid_from=firsts.get(entry.process_id, entry.valid_from),
            kind=entry.kind,
            kill_conditions=parse_kill_conditions(entry.document),
        )
    return out


def _daily_totals(conn: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, list[tuple[date, Decimal]]] | None:
    """Attribution ``(date, total)`` per process up to ``as_of`` (``None`` without attribution: the runs'
    totals are used instead)."""
    if not table_exists(conn, "attribution.process_daily"):
        return None
    rows = conn.execute(
        "SELECT process_id, date, total FROM attribution.process_daily WHERE date <= ? ORDER BY process_id, date",
        [as_of],
    ).fetchall()
    totals: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for pid, day, total in rows:
        totals[pid].append((day, total))
    return dict(totals)


def score_as_of(
    conn: duckdb.DuckDBPyConnection, day: date, config: SelectorConfig, *, with_pbo: bool = True
) -> list[Score]:
    """Scores of every process as of ``day``, from data up to ``day`` only (read-only: works on a
    read-only connection). ``with_pbo=False`` skips the PBO diagnostic (see :func:`score_processes`)."""
    runs = load_runs(conn, day)
    registry = _registry_infos(conn, day)
    recorded: list[str] = []
    if table_exists(conn, "selection.trials"):
        recorded = [
            r[0]
            for r in conn.execute(
                "SELECT process_id FROM selection.trials WHERE first_counted_as_of <= ? ORDER BY 1", [day]
            ).fetchall()
        ]
    return score_processes(
        runs,
        day,
        config,
        registry=registry,
        recorded_trials=recorded,
        daily_totals=_daily_totals(conn, day),
        with_pbo=with_pbo,
    )


def write_scores(conn: duckdb.DuckDBPyConnection, day: date, scores: Sequence[Score]) -> int:
    """Replace ``selection.scores`` and ``selection.score_days`` for ``day`` and append new trials to
    ``selection.trials`` (never updated or deleted), in one transaction (or the caller's). Returns rows."""
    for s in scores:
        if s.as_of != day:
            raise ValueError(f"score of {s.process_id} is as of {s.as_of}, not {day}")
    ensure_selection_schema(conn)
    context = next((s.context for s in scores if s.context is not None), None)
    with atomic(conn):
        conn.execute("DELETE FROM selection.scores WHERE as_of = ?", [day])
        conn.execute("DELETE FROM selection.score_days WHERE as_of = ?", [day])
        if scores:
            placeholders = ", ".join(["?"] * 29 + ["CAST(? AS JSON)"] * 2)
            conn.executemany(
                f"INSERT INTO selection.scores VALUES ({placeholders})",
                [s.params() for s in sorted(scores, key=lambda s: s.process_id)],
            )
        if context is not None:
            min_runs = context.config.min_runs
            new_trials = [[s.process_id, day, s.n_runs] for s in scores if s.n_runs >= min_runs]
            if new_trials:
                conn.executemany(
                    "INSERT INTO selection.trials VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    sorted(new_trials),
                )
            conn.execute(
                "INSERT INTO selection.score_days VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS JSON))",
                [
                    day,
                    len(scores),
                    context.n_trials,
                    context.trials_sharpe_variance,
                    context.dsr_threshold,
                    context.pbo,
                    context.pbo_splits,
                    context.pbo_combinations,
                    context.pbo_note,
                    context.config.model_dump_json(),
                ],
            )
    return len(scores)


@dataclass(frozen=True)
class StatusChange:
    """A registry change the selector made (``applied``) or would have made and could not (``note``)."""

    process_id: str
    from_status: str
    to_status: str
    effective: date
    reason: str
    applied: bool
    note: str = ""


MANAGED_STATUSES = frozenset({"TESTING", "SCALING"})
"""Registry statuses the selector may change; proposed/retired belong to humans, KILLED is final for it."""


def apply_decisions(
    conn: duckdb.DuckDBPyConnection, day: date, scores: Sequence[Score], config: SelectorConfig
) -> list[StatusChange]:
    """Write the decisions of ``day`` to the registry, effective ``day + 1`` — only when
    ``config.actions_enabled`` (otherwise nothing is written and ``[]`` is returned).

    Only processes whose registry status as of ``day`` is TESTING or SCALING change, only when the decision
    differs, and only when nothing changed their status for D+1 already (re-applying is a no-op). A change
    the registry refuses (e.g. a catalog version starting on D+1) is reported with ``applied=False`` and
    its reason. Nothing here, or anywhere in the selector, places an order.
    """
    if not config.actions_enabled:
        return []
    effective = day + timedelta(days=1)
    tomorrow = {e.process_id: e.status for e in _registry_as_of(conn, effective)}
    changes: list[StatusChange] = []
    for s in sorted(scores, key=lambda s: s.process_id):
        status = s.registry_status
        if status is None or status not in MANAGED_STATUSES or s.decision == status:
            continue
        if tomorrow.get(s.process_id) != status:  # already changed for D+1 (by us or by a human)
            continue
        reason = "selector as of " + day.isoformat() + ": " + "; ".join(s.reasons)
        try:
            record_status_change(
                conn,
                process_id=s.process_id,
                to_status=s.decision,
                effective=effective,
                source="selector",
                reason=reason,
            )
        except (RegistryConflictError, ValueError) as exc:
            changes.append(StatusChange(s.process_id, status, s.decision, effective, reason, False, str(exc)))
            continue
        changes.append(StatusChange(s.process_id, status, s.decision, effective, reason, True))
    return changes
