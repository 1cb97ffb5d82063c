"""Sharpe-ratio statistics that correct for luck: PSR, DSR, MinTRL, Kish's n_eff and CSCV's PBO.

Stdlib only (``math``, ``statistics.NormalDist``, ``itertools.combinations``); no Dagster, no numpy.

Conventions (they hold for every function below)
------------------------------------------------
* Everything is **per observation**, never annualized. A Sharpe ratio measured on daily returns is a
  daily Sharpe ratio; convert annual figures before calling (``sr = SR_annual / sqrt(k)`` and
  ``V = V_annual / k`` for ``k`` observations a year).
* ``skew`` is γ3 and ``kurtosis`` is the **raw** (non-excess) γ4: 3 for normal returns. Every function
  taking moments rejects ``kurtosis < 1 + skew²`` (Pearson's inequality, which every distribution —
  and every sample's population moments — satisfies), which also catches the common mistake of
  passing excess kurtosis (0 for normal).
* The variance of the estimated Sharpe ratio uses ``n_obs − 1``, as in Bailey & López de Prado (2012,
  "The Sharpe Ratio Efficient Frontier", J. of Risk 15(2)) and (2014, "The Deflated Sharpe Ratio",
  J. of Portfolio Management 40(5))::

      σ̂²(SR̂) = (1 − γ3·SR + (γ4 − 1)/4 · SR²) / (n − 1)

* Invalid input raises ``ValueError`` with a message naming the argument.

Public API
----------
``sharpe_ratio(returns) -> float``
    mean / sample stdev (``n − 1``). Needs ≥ 2 observations. A zero stdev (all returns equal) gives 0
    when the mean is 0 and ``±inf`` (the mean's sign) otherwise: a riskless gain is infinitely good.
``sample_skewness(returns) -> float`` and ``sample_kurtosis(returns) -> float``
    Population (biased) moment ratios as in the papers: ``m3 / m2**1.5`` and raw ``m4 / m2**2`` with
    ``m_k = Σ(x − x̄)^k / n``. Need ≥ 2 observations that are not all equal.
``weighted_mean_std(values, weights) -> tuple[float, float]``
    Weighted mean ``Σwx/Σw`` and the unbiased reliability-weights stdev
    ``sqrt(Σw(x − x̄)² / (Σw − Σw²/Σw))`` — equal weights give exactly the sample stdev (``n − 1``).
    Needs a Kish effective sample size > 1 (at least two nonzero weights).
``kish_effective_sample_size(weights) -> float``
    ``(Σw)² / Σw²``: n for equal weights, 1 for a single nonzero weight. Negative, non-finite, all-zero
    or no weights → ``ValueError``.
``probabilistic_sharpe_ratio(sr, n_obs, skew, kurtosis, sr_benchmark=0.0) -> float``
    PSR = Φ( (sr − sr*) √(n − 1) / √(1 − γ3·sr + (γ4 − 1)/4 · sr²) ), the probability that the true
    Sharpe ratio exceeds ``sr_benchmark`` (Bailey & López de Prado 2012, eq. 11). ``n_obs`` may be
    fractional (e.g. a MinTRL) but must be ≥ 2.
``expected_max_sharpe(n_trials, trials_sr_variance) -> float``
    E[max SR̂] over N independent trials with true Sharpe 0 (Bailey & López de Prado 2014, eq. 4 —
    the False Strategy Theorem)::

        √V · ( (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)) ),  γ = 0.5772156649… (Euler–Mascheroni)

    ``n_trials`` is an int ≥ 1; N = 1 gives 0 (nothing was selected, so no selection bias). V is the
    variance of the trials' (per-observation) Sharpe ratios, ≥ 0.
``deflated_sharpe_ratio(sr, n_obs, skew, kurtosis, n_trials, trials_sr_variance) -> float``
    DSR = PSR with ``sr_benchmark = expected_max_sharpe(n_trials, trials_sr_variance)`` (2014, eq. 2).
``min_track_record_length(sr, skew, kurtosis, sr_benchmark=0.0, alpha=0.05) -> float``
    MinTRL = 1 + (1 − γ3·sr + (γ4 − 1)/4 · sr²) · (Φ⁻¹(1 − α) / (sr − sr*))² observations (2012,
    eq. 12): the track record at which PSR reaches exactly 1 − α. ``inf`` when ``sr ≤ sr_benchmark``.
``probability_of_backtest_overfitting(returns_matrix, n_splits=16, metric=None) -> PBOResult``
    CSCV of Bailey, Borwein, López de Prado & Zhu (2017, "The Probability of Backtest Overfitting",
    J. of Computational Finance 20(4)). ``returns_matrix`` has rows = observations in time order and
    columns = strategies (≥ 2). With T rows and S = ``n_splits`` (even, 2 ≤ S ≤ T):

    1. the first (oldest) ``T mod S`` rows are dropped and the rest is cut into S contiguous blocks
       of equal length;
    2. for every combination of S/2 blocks, in ``itertools.combinations(range(S), S // 2)`` order,
       those blocks (kept in time order) are in-sample (IS) and the complement out-of-sample (OOS);
    3. the metric is computed per strategy on IS and on OOS; the IS winner is the FIRST argmax;
    4. its OOS rank among all strategies is taken with ties averaged (1 = worst … N = best),
       ω = rank / (N + 1) and the logit λ = ln(ω / (1 − ω));
    5. PBO = share of combinations with λ ≤ 0 (the IS winner was at or below the OOS median).

    ``metric`` is ``None`` for the per-observation Sharpe ratio of :func:`sharpe_ratio` (same zero-
    stdev convention; it needs ≥ 2 observations per half), or a callable ``list[float] -> float``
    receiving one strategy's IS or OOS returns; it may return ±inf but not NaN. Each half-sample is
    evaluated once (a half is the IS of one combination and the OOS of its complement); the default
    metric pools per-block sums instead of re-reading rows (S = 16, T = 1000, 50 strategies: ~2.5 s).

``PBOResult`` is a frozen dataclass: ``pbo`` (float), ``logits`` (tuple of floats, one per
combination, in ``itertools.combinations`` order) and ``n_combinations`` (C(S, S/2)).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist

__all__ = [
    "EULER_MASCHERONI",
    "PBOResult",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "kish_effective_sample_size",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sample_kurtosis",
    "sample_skewness",
    "sharpe_ratio",
    "weighted_mean_std",
]

EULER_MASCHERONI = 0.5772156649015329
_STANDARD_NORMAL = NormalDist()
_PEARSON_RTOL = 1e-9


# --------------------------------------------------------------------------- validation helpers


def _finite(value: float, name: str) -> float:
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def _finite_list(values: Iterable[float], name: str) -> list[float]:
    result = [float(v) for v in values]
    for i, v in enumerate(result):
        if not math.isfinite(v):
            raise ValueError(f"{name}[{i}] must be finite, got {v!r}")
    return result


def _int_at_least(value: int, minimum: int, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    try:
        result = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int, got {value!r}") from None
    if result < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {result}")
    return result


def _sr_variance_numerator(sr: float, skew: float, kurtosis: float) -> float:
    """1 − γ3·SR + (γ4 − 1)/4 · SR², after checking the moments; (n − 1) times Var(SR̂)."""
    sr = _finite(sr, "sr")
    skew = _finite(skew, "skew")
    kurtosis = _finite(kurtosis, "kurtosis")
    bound = 1.0 + skew * skew
    if kurtosis < bound - _PEARSON_RTOL * bound:
        raise ValueError(
            f"kurtosis must be RAW (3 for normal returns) and satisfy Pearson's kurtosis ≥ 1 + skew² = {bound!r};"
            f" got kurtosis={kurtosis!r}, skew={skew!r} — was excess kurtosis passed?"
        )
    numerator = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not numerator > 0.0:
        raise ValueError(
            f"the Sharpe-ratio variance 1 − skew·sr + (kurtosis − 1)/4·sr² is {numerator!r} (not > 0)"
            f" for sr={sr!r}, skew={skew!r}, kurtosis={kurtosis!r}"
        )
    return numerator


def _n_obs(n_obs: float) -> float:
    if isinstance(n_obs, bool):
        raise ValueError(f"n_obs must be a number, got {n_obs!r}")
    n = _finite(n_obs, "n_obs")
    if n < 2.0:
        raise ValueError(f"n_obs must be ≥ 2 (the Sharpe-ratio variance divides by n_obs − 1), got {n_obs!r}")
    return n


# --------------------------------------------------------------------------- sample statistics


def _mean_and_m2(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and Σ(x − mean)², two-pass with exact (fsum) summation."""
    n = len(xs)
    mean = math.fsum(xs) / n
    return mean, math.fsum((x - mean) * (x - mean) for x in xs)


def _sharpe_from(mean: float, m2: float, n: int, constant: bool) -> float:
    if constant or m2 == 0.0:
        # All equal: the stdev is exactly 0 and the mean is exactly the common value. (m2 == 0 otherwise
        # only when squared deviations underflow, e.g. returns of 1e-200: treated the same way.)
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / math.sqrt(m2 / (n - 1))


def sharpe_ratio(returns: Iterable[float]) -> float:
    """Per-observation Sharpe ratio: mean / sample stdev (n − 1); 0 or ±inf when the stdev is 0."""
    xs = _finite_list(returns, "returns")
    if len(xs) < 2:
        raise ValueError(f"sharpe_ratio needs at least 2 returns, got {len(xs)}")
    lo, hi = min(xs), max(xs)
    if lo == hi:
        return _sharpe_from(lo, 0.0, len(xs), constant=True)
    mean, m2 = _mean_and_m2(xs)
    return _sharpe_from(mean, m2, len(xs), constant=False)


def _central_moments(returns: Iterable[float], name: str) -> tuple[float, float, float]:
    xs = _finite_list(returns, "returns")
    if len(xs) < 2:
        raise ValueError(f"{name} needs at least 2 returns, got {len(xs)}")
    if min(xs) == max(xs):
        raise ValueError(f"{name} is undefined for constant returns (zero variance)")
    n = len(xs)
    mean = math.fsum(xs) / n
    devs = [x - mean for x in xs]
    m2 = math.fsum(d * d for d in devs) / n
    m3 = math.fsum(d * d * d for d in devs) / n
    m4 = math.fsum(d * d * d * d for d in devs) / n
    return m2, m3, m4


def sample_skewness(returns: Iterable[float]) -> float:
    """Population skewness m3 / m2^1.5 with m_k = Σ(x − x̄)^k / n (no small-sample correction)."""
    m2, m3, _ = _central_moments(returns, "sample_skewness")
    return m3 / m2**1.5


def sample_kurtosis(returns: Iterable[float]) -> float:
    """Population RAW kurtosis m4 / m2² with m_k = Σ(x − x̄)^k / n (3 for normal; not excess)."""
    m2, _, m4 = _central_moments(returns, "sample_kurtosis")
    return m4 / (m2 * m2)


def _weights(weights: Iterable[float]) -> list[float]:
    ws = _finite_list(weights, "weights")
    if not ws:
        raise ValueError("weights must not be empty")
    for i, w in enumerate(ws):
        if w < 0.0:
            raise ValueError(f"weights must be ≥ 0, weights[{i}] = {w!r}")
    if not any(w > 0.0 for w in ws):
        raise ValueError("weights must not all be zero")
    return ws


def kish_effective_sample_size(weights: Iterable[float]) -> float:
    """Kish's effective sample size (Σw)² / Σw²: n for equal weights, 1 for one nonzero weight."""
    ws = _weights(weights)
    total = math.fsum(ws)
    return total * total / math.fsum(w * w for w in ws)


def weighted_mean_std(values: Iterable[float], weights: Iterable[float]) -> tuple[float, float]:
    """Weighted mean and unbiased reliability-weights stdev √(Σw(x − x̄)² / (Σw − Σw²/Σw)).

    With equal weights this is the ordinary mean and sample stdev (n − 1). Needs at least two nonzero
    weights (Kish n_eff > 1); values with zero weight are ignored.
    """
    xs = _finite_list(values, "values")
    ws = _weights(weights)
    if len(xs) != len(ws):
        raise ValueError(f"values and weights differ in length: {len(xs)} vs {len(ws)}")
    pairs = [(x, w) for x, w in zip(xs, ws, strict=True) if w > 0.0]
    if len(pairs) < 2:
        raise ValueError("weighted_mean_std needs at least two nonzero weights (Kish n_eff > 1)")
    support = [x for x, _ in pairs]
    if min(support) == max(support):
        return support[0], 0.0
    v1 = math.fsum(w for _, w in pairs)
    v2 = math.fsum(w * w for _, w in pairs)
    mean = math.fsum(w * x for x, w in pairs) / v1
    ss = math.fsum(w * (x - mean) * (x - mean) for x, w in pairs)
    return mean, math.sqrt(ss / (v1 - v2 / v1))


# --------------------------------------------------------------------------- PSR, DSR, MinTRL


def probabilistic_sharpe_ratio(
    sr: float, n_obs: float, skew: float, kurtosis: float, sr_benchmark: float = 0.0
) -> float:
    """PSR = Φ((sr − sr*)·√(n − 1) / √(1 − γ3·sr + (γ4 − 1)/4·sr²)); per observation, raw kurtosis."""
    numerator = _sr_variance_numerator(sr, skew, kurtosis)
    n = _n_obs(n_obs)
    benchmark = _finite(sr_benchmark, "sr_benchmark")
    z = (float(sr) - benchmark) * math.sqrt(n - 1.0) / math.sqrt(numerator)
    return _STANDARD_NORMAL.cdf(z)


def expected_max_sharpe(n_trials: int, trials_sr_variance: float) -> float:
    """E[max SR̂] of N zero-skill trials: √V((1 − γ)Φ⁻¹(1 − 1/N) + γΦ⁻¹(1 − 1/(Ne))); 0 for N = 1."""
    n = _int_at_least(n_trials, 1, "n_trials")
    variance = _finite(trials_sr_variance, "trials_sr_variance")
    if variance < 0.0:
        raise ValueError(f"trials_sr_variance must be ≥ 0, got {trials_sr_variance!r}")
    if n == 1:
        return 0.0
    inv = _STANDARD_NORMAL.inv_cdf
    g = EULER_MASCHERONI
    return math.sqrt(variance) * ((1.0 - g) * inv(1.0 - 1.0 / n) + g * inv(1.0 - 1.0 / (n * math.e)))


def deflated_sharpe_ratio(
    sr: float, n_obs: float, skew: float, kurtosis: float, n_trials: int, trials_sr_variance: float
) -> float:
    """DSR = PSR against the expected maximum Sharpe ratio of ``n_trials`` zero-skill trials."""
    threshold = expected_max_sharpe(n_trials, trials_sr_variance)
    return probabilistic_sharpe_ratio(sr, n_obs, skew, kurtosis, sr_benchmark=threshold)


def min_track_record_length(
    sr: float, skew: float, kurtosis: float, sr_benchmark: float = 0.0, alpha: float = 0.05
) -> float:
    """MinTRL = 1 + (1 − γ3·sr + (γ4 − 1)/4·sr²)·(Φ⁻¹(1 − α)/(sr − sr*))² observations; inf if sr ≤ sr*."""
    numerator = _sr_variance_numerator(sr, skew, kurtosis)
    benchmark = _finite(sr_benchmark, "sr_benchmark")
    a = _finite(alpha, "alpha")
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    edge = float(sr) - benchmark
    if edge <= 0.0:
        return math.inf
    z = _STANDARD_NORMAL.inv_cdf(1.0 - a)
    return 1.0 + numerator * (z / edge) ** 2


# --------------------------------------------------------------------------- CSCV / PBO


@dataclass(frozen=True)
class PBOResult:
    """CSCV outcome: PBO, one logit per IS/OOS combination (``itertools.combinations`` order), count."""

    pbo: float
    logits: tuple[float, ...]
    n_combinations: int


class _BlockStats:
    """One strategy's per-block summaries, so a half-sample's Sharpe ratio pools S/2 blocks, not T/2 rows."""

    __slots__ = ("hi", "lo", "m2", "means", "totals")

    def __init__(self, blocks: Sequence[Sequence[float]]) -> None:
        self.totals: list[float] = []  # Σx per block
        self.means: list[float] = []
        self.m2: list[float] = []  # Σ(x − mean)² per block
        self.lo: list[float] = []
        self.hi: list[float] = []
        for xs in blocks:
            mean, m2 = _mean_and_m2(xs)
            self.totals.append(math.fsum(xs))
            self.means.append(mean)
            self.m2.append(m2)
            self.lo.append(min(xs))
            self.hi.append(max(xs))

    def sharpe(self, half: Sequence[int], block_len: int) -> float:
        """Sharpe of the concatenated blocks: pooled SS = Σ within-block SS + Σ between-block SS (exact sums)."""
        n = block_len * len(half)
        lo = min(map(self.lo.__getitem__, half))
        if lo == max(map(self.hi.__getitem__, half)):
            return _sharpe_from(lo, 0.0, n, constant=True)
        mean = math.fsum(map(self.totals.__getitem__, half)) / n
        within = math.fsum(map(self.m2.__getitem__, half))
        between = math.fsum((self.means[b] - mean) ** 2 for b in half)
        return _sharpe_from(mean, within + block_len * between, n, constant=False)


def _checked_matrix(returns_matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    rows = [[float(v) for v in row] for row in returns_matrix]
    if not rows:
        raise ValueError("returns_matrix has no rows (observations)")
    n_strategies = len(rows[0])
    for t, row in enumerate(rows):
        if len(row) != n_strategies:
            raise ValueError(f"returns_matrix is ragged: row 0 has {n_strategies} columns, row {t} has {len(row)}")
        for j, v in enumerate(row):
            if not math.isfinite(v):
                raise ValueError(f"returns_matrix[{t}][{j}] must be finite, got {v!r}")
    if n_strategies < 2:
        raise ValueError(f"returns_matrix needs at least 2 strategies (columns) to rank, got {n_strategies}")
    return rows


def probability_of_backtest_overfitting(
    returns_matrix: Sequence[Sequence[float]],
    n_splits: int = 16,
    metric: Callable[[list[float]], float] | None = None,
) -> PBOResult:
    """PBO by combinatorially symmetric cross-validation; see the module docstring for the procedure."""
    rows = _checked_matrix(returns_matrix)
    n_rows, n_strategies = len(rows), len(rows[0])
    s = _int_at_least(n_splits, 2, "n_splits")
    if s % 2:
        raise ValueError(f"n_splits must be even (IS and OOS are S/2 blocks each), got {s}")
    if s > n_rows:
        raise ValueError(f"n_splits ({s}) exceeds the number of observations (rows) T = {n_rows}")
    block_len = n_rows // s
    used = rows[n_rows % s :]  # drop the oldest T mod S rows
    half_len = block_len * (s // 2)
    if metric is None and half_len < 2:
        raise ValueError(
            f"the default Sharpe metric needs ≥ 2 observations per half; T = {n_rows} with n_splits = {s}"
            f" gives {half_len} — use more rows or fewer splits"
        )
    # columns[j][b]: strategy j's returns in block b, in time order.
    columns = [[[used[b * block_len + i][j] for i in range(block_len)] for b in range(s)] for j in range(n_strategies)]
    stats = [_BlockStats(col) for col in columns] if metric is None else []

    cache: dict[tuple[int, ...], list[float]] = {}

    def evaluate(half: tuple[int, ...]) -> list[float]:
        found = cache.get(half)
        if found is not None:
            return found
        values: list[float] = []
        for j in range(n_strategies):
            if metric is None:
                value = stats[j].sharpe(half, block_len)
            else:
                value = float(metric([x for b in half for x in columns[j][b]]))
                if math.isnan(value):
                    raise ValueError(f"metric returned NaN for strategy {j} on blocks {half}")
            values.append(value)
        cache[half] = values
        return values

    all_blocks = frozenset(range(s))
    logits: list[float] = []
    n_overfit = 0
    for in_sample in combinations(range(s), s // 2):
        out_of_sample = tuple(sorted(all_blocks.difference(in_sample)))
        is_values = evaluate(in_sample)
        oos_values = evaluate(out_of_sample)
        winner = max(range(n_strategies), key=is_values.__getitem__)  # max() keeps the FIRST maximum
        v = oos_values[winner]
        below = sum(1 for x in oos_values if x < v)
        tied = sum(1 for x in oos_values if x == v)  # includes the winner itself
        twice_rank = 2 * below + tied + 1  # rank = below + (tied + 1)/2, averaged over ties
        # λ = ln(ω/(1 − ω)) with ω = rank/(N + 1), i.e. ln(rank/(N + 1 − rank)), from exact halves.
        logits.append(math.log(twice_rank / (2 * (n_strategies + 1) - twice_rank)))
        if twice_rank <= n_strategies + 1:  # λ ≤ 0 ⇔ ω ≤ 1/2, decided in integers
            n_overfit += 1
    return PBOResult(pbo=n_overfit / len(logits), logits=tuple(logits), n_combinations=len(logits))
