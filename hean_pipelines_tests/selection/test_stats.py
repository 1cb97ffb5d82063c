"""Tests of the selection statistics against published values and their defining identities."""

from __future__ import annotations

import math
import random
from itertools import combinations
from statistics import NormalDist

import pytest

from hean_pipelines.selection.stats import (
    EULER_MASCHERONI,
    PBOResult,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    kish_effective_sample_size,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sample_kurtosis,
    sample_skewness,
    sharpe_ratio,
    weighted_mean_std,
)


def mean_metric(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def gaussian_matrix(seed: int, n_rows: int, n_cols: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.gauss(0.0, 1.0) for _ in range(n_cols)] for _ in range(n_rows)]


# --------------------------------------------------------------------------- published values


def test_psr_normal_returns_published_value() -> None:
    # Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", J. of Risk 15(2), §4 example:
    # monthly SR 0.458 over 24 months, normal returns, benchmark 0 → PSR ≈ 0.982.
    assert round(probabilistic_sharpe_ratio(0.458, 24, 0.0, 3.0, sr_benchmark=0.0), 3) == 0.982


def test_psr_non_normal_returns_published_value() -> None:
    # Same paper and example with the observed moments skew −2.448, kurtosis 10.164 → PSR ≈ 0.913.
    assert round(probabilistic_sharpe_ratio(0.458, 24, -2.448, 10.164), 3) == 0.913


def test_dsr_published_value() -> None:
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", J. of Portfolio Management 40(5), numerical
    # example: annualized SR 2.5 over 1250 daily observations (250 a year), skew −3, kurtosis 10, N = 100
    # trials whose annualized SRs have variance 0.5 → DSR ≈ 0.9004. Per observation: sr = 2.5/√250,
    # V = 0.5/250.
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(250), 1250, -3.0, 10.0, 100, 0.5 / 250)
    assert round(dsr, 4) == 0.9004


def test_cscv_toy_matrix_pbo_is_one_half() -> None:
    # The 4×4 toy matrix of the acceptance brief (S = 4, metric = mean), checked by hand: with one row per
    # block, the six IS/OOS splits in combinations order give IS winners 1, 1, 1, 1, 3, 3 with OOS ranks
    # 2, 3, 4, 4, 2, 1 of 4, so logits ln(2/3), ln(3/2), ln 4, ln 4, ln(2/3), ln(1/4) and PBO = 3/6.
    matrix = [[-1, 6, -7, -8], [0, 9, 5, 0], [3, 2, -9, 5], [2, -4, -6, 6]]
    result = probability_of_backtest_overfitting(matrix, n_splits=4, metric=mean_metric)
    assert result.pbo == 0.5
    assert result.n_combinations == 6
    expected = (math.log(2 / 3), math.log(3 / 2), math.log(4), math.log(4), math.log(2 / 3), math.log(1 / 4))
    assert result.logits == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- PSR, DSR, MinTRL identities


def test_psr_matches_formula_and_benchmark() -> None:
    sr, n, skew, kurt, bench = 0.1, 500, -0.5, 5.0, 0.03
    z = (sr - bench) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    expected = 0.5 * math.erfc(-z / math.sqrt(2))
    assert probabilistic_sharpe_ratio(sr, n, skew, kurt, sr_benchmark=bench) == pytest.approx(expected, rel=1e-12)
    assert probabilistic_sharpe_ratio(0.05, 100, 0.0, 3.0, sr_benchmark=0.05) == 0.5


def test_psr_penalizes_negative_skew_and_fat_tails() -> None:
    normal = probabilistic_sharpe_ratio(0.2, 60, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.2, 60, -1.0, 3.0) < normal
    assert probabilistic_sharpe_ratio(0.2, 60, 0.0, 8.0) < normal
    assert probabilistic_sharpe_ratio(0.2, 120, 0.0, 3.0) > normal


@pytest.mark.parametrize(
    ("sr", "skew", "kurt", "bench", "alpha"),
    [
        (0.458, 0.0, 3.0, 0.0, 0.05),
        (0.458, -2.448, 10.164, 0.0, 0.05),
        (0.1, -1.0, 6.0, 0.02, 0.01),
        (2.5 / math.sqrt(250), -3.0, 10.0, 0.05, 0.10),
    ],
)
def test_min_track_record_length_makes_psr_equal_one_minus_alpha(
    sr: float, skew: float, kurt: float, bench: float, alpha: float
) -> None:
    min_trl = min_track_record_length(sr, skew, kurt, sr_benchmark=bench, alpha=alpha)
    assert min_trl > 2
    psr = probabilistic_sharpe_ratio(sr, min_trl, skew, kurt, sr_benchmark=bench)
    assert abs(psr - (1 - alpha)) < 1e-9


def test_min_track_record_length_published_example_and_no_edge() -> None:
    # The 2012 example's moments (SR 0.458, skew −2.448, kurtosis 10.164): PSR over 24 months is 0.913 < 0.95,
    # so the 95 % MinTRL must exceed 24 months. 34.5575 is this formula's value, pinned as a regression check
    # (not a figure quoted from the paper).
    assert min_track_record_length(0.458, -2.448, 10.164) == pytest.approx(34.5575, abs=1e-4)
    assert min_track_record_length(0.1, 0.0, 3.0, sr_benchmark=0.1) == math.inf
    assert min_track_record_length(-0.1, 0.0, 3.0) == math.inf


def test_expected_max_sharpe() -> None:
    assert expected_max_sharpe(1, 0.7) == 0.0
    assert expected_max_sharpe(1, 0.0) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    # By hand for N = 100, V = 1: (1 − γ)Φ⁻¹(0.99) + γΦ⁻¹(1 − 1/(100e)).
    inv = NormalDist().inv_cdf
    by_hand = (1 - EULER_MASCHERONI) * inv(0.99) + EULER_MASCHERONI * inv(1 - 1 / (100 * math.e))
    assert expected_max_sharpe(100, 1.0) == pytest.approx(by_hand, rel=1e-12)
    assert expected_max_sharpe(100, 1.0) == pytest.approx(2.5306, abs=1e-4)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * by_hand, rel=1e-12)
    # More trials → a higher bar.
    bars = [expected_max_sharpe(n, 1.0) for n in (2, 10, 100, 1000)]
    assert bars == sorted(bars)


def test_dsr_with_one_trial_is_psr_against_zero() -> None:
    args = (0.12, 300, -0.8, 4.5)
    assert deflated_sharpe_ratio(*args, n_trials=1, trials_sr_variance=0.3) == probabilistic_sharpe_ratio(
        *args, sr_benchmark=0.0
    )


def test_dsr_falls_with_more_trials() -> None:
    sr = 2.5 / math.sqrt(250)
    values = [deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, n, 0.5 / 250) for n in (1, 10, 100, 1000)]
    assert values == sorted(values, reverse=True)


# --------------------------------------------------------------------------- helpers


def test_kish_effective_sample_size() -> None:
    assert kish_effective_sample_size([2.5] * 7) == pytest.approx(7.0, rel=1e-15)
    assert kish_effective_sample_size([0.0, 0.0, 3.0, 0.0]) == 1.0
    assert kish_effective_sample_size([1.0, 3.0]) == pytest.approx(16 / 10)


@pytest.mark.parametrize("weights", [[1.0, -0.5], [0.0, 0.0], [], [1.0, math.nan]])
def test_kish_rejects_bad_weights(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weights"):
        kish_effective_sample_size(weights)


def test_weighted_mean_std() -> None:
    values = [0.01, -0.02, 0.03, 0.005, -0.004]
    mean, std = weighted_mean_std(values, [1.0] * 5)
    assert mean == pytest.approx(sum(values) / 5, rel=1e-12)
    sample_std = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    assert std == pytest.approx(sample_std, rel=1e-12)
    # A zero weight drops its value entirely.
    assert weighted_mean_std([*values, 99.0], [1.0] * 5 + [0.0]) == pytest.approx((mean, std), rel=1e-12)
    assert weighted_mean_std([0.1, 0.1, 0.1], [1.0, 2.0, 3.0]) == (0.1, 0.0)
    with pytest.raises(ValueError, match="two nonzero weights"):
        weighted_mean_std([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="length"):
        weighted_mean_std([1.0, 2.0], [1.0, 1.0, 1.0])


def test_sharpe_ratio_and_zero_stdev_convention() -> None:
    returns = [0.01, 0.02, -0.01, 0.03]
    mean = sum(returns) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert sharpe_ratio(returns) == pytest.approx(mean / std, rel=1e-12)
    assert sharpe_ratio([0.0, 0.0, 0.0]) == 0.0
    assert sharpe_ratio([0.1, 0.1, 0.1]) == math.inf
    assert sharpe_ratio([-0.1, -0.1]) == -math.inf
    with pytest.raises(ValueError, match="at least 2"):
        sharpe_ratio([0.1])


def test_sample_moments_are_population_ratios() -> None:
    # Symmetric: skew 0; m2 = 2, m4 = 6.8 → raw kurtosis 1.7.
    assert sample_skewness([1, 2, 3, 4, 5]) == pytest.approx(0.0, abs=1e-15)
    assert sample_kurtosis([1, 2, 3, 4, 5]) == pytest.approx(1.7, rel=1e-12)
    # Bernoulli(1/4) sample: skew (1 − 2p)/√(pq) = 2/√3, raw kurtosis (1 − 3pq)/(pq) = 7/3.
    assert sample_skewness([0, 0, 0, 1]) == pytest.approx(2 / math.sqrt(3), rel=1e-12)
    assert sample_kurtosis([0, 0, 0, 1]) == pytest.approx(7 / 3, rel=1e-12)
    # Normal data: kurtosis near 3 (raw, not excess).
    rng = random.Random(7)
    xs = [rng.gauss(0.0, 1.0) for _ in range(20000)]
    assert abs(sample_kurtosis(xs) - 3.0) < 0.15
    # Sample moments always satisfy Pearson's inequality, so they feed PSR directly.
    skew, kurt = sample_skewness(xs), sample_kurtosis(xs)
    assert 0.0 < probabilistic_sharpe_ratio(sharpe_ratio(xs), len(xs), skew, kurt) < 1.0
    with pytest.raises(ValueError, match="constant"):
        sample_kurtosis([0.2, 0.2, 0.2])


# --------------------------------------------------------------------------- input validation


@pytest.mark.parametrize("n_obs", [1, 1.5, 0, -3, math.nan])
def test_psr_rejects_short_samples(n_obs: float) -> None:
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe_ratio(0.1, n_obs, 0.0, 3.0)


def test_psr_rejects_excess_kurtosis() -> None:
    with pytest.raises(ValueError, match="excess kurtosis"):
        probabilistic_sharpe_ratio(0.1, 100, 0.0, 0.0)
    with pytest.raises(ValueError, match="RAW"):
        min_track_record_length(0.1, -2.0, 4.0)


def test_expected_max_sharpe_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="trials_sr_variance"):
        expected_max_sharpe(10, -0.1)
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(2.5, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trials_sr_variance"):
        deflated_sharpe_ratio(0.1, 100, 0.0, 3.0, 10, -1.0)


def test_min_track_record_length_rejects_bad_alpha() -> None:
    for alpha in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="alpha"):
            min_track_record_length(0.1, 0.0, 3.0, alpha=alpha)


def test_pbo_rejects_bad_splits_and_matrices() -> None:
    matrix = gaussian_matrix(1, 8, 3)
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(matrix, n_splits=3)
    with pytest.raises(ValueError, match="exceeds the number of observations"):
        probability_of_backtest_overfitting(matrix, n_splits=10)
    with pytest.raises(ValueError, match="n_splits"):
        probability_of_backtest_overfitting(matrix, n_splits=0)
    with pytest.raises(ValueError, match="2 observations per half"):
        probability_of_backtest_overfitting(gaussian_matrix(1, 3, 3), n_splits=2)
    with pytest.raises(ValueError, match="ragged"):
        probability_of_backtest_overfitting([[1.0, 2.0], [1.0]], n_splits=2, metric=mean_metric)
    with pytest.raises(ValueError, match="2 strategies"):
        probability_of_backtest_overfitting([[1.0], [2.0]], n_splits=2, metric=mean_metric)
    with pytest.raises(ValueError, match="finite"):
        probability_of_backtest_overfitting([[1.0, math.nan], [2.0, 1.0]], n_splits=2, metric=mean_metric)
    with pytest.raises(ValueError, match="NaN"):
        probability_of_backtest_overfitting(matrix, n_splits=2, metric=lambda xs: math.nan)


# --------------------------------------------------------------------------- CSCV behaviour


def test_pbo_near_zero_when_one_strategy_dominates_every_block() -> None:
    matrix = gaussian_matrix(11, 160, 10)
    for row in matrix:
        row[4] += 3.0  # strategy 4 beats the others in every block, IS and OOS
    result = probability_of_backtest_overfitting(matrix, n_splits=8)
    assert isinstance(result, PBOResult)
    assert result.n_combinations == math.comb(8, 4) == len(result.logits)
    assert result.pbo == 0.0
    assert all(lam == pytest.approx(math.log(10)) for lam in result.logits)  # rank N of N: ln(N)


def test_pbo_near_one_for_a_designed_overfit() -> None:
    # Skill-free strategies demeaned over the full sample: a high IS mean forces an equally low OOS mean,
    # so the IS winner is the OOS loser every time (the selection is pure overfitting).
    n_rows, n_cols = 160, 20
    raw = gaussian_matrix(3, n_rows, n_cols)
    means = [sum(row[j] for row in raw) / n_rows for j in range(n_cols)]
    matrix = [[row[j] - means[j] for j in range(n_cols)] for row in raw]
    assert probability_of_backtest_overfitting(matrix, n_splits=8, metric=mean_metric).pbo == 1.0
    assert probability_of_backtest_overfitting(matrix, n_splits=8).pbo >= 0.9


def test_pbo_default_metric_is_sharpe_ratio() -> None:
    matrix = gaussian_matrix(5, 96, 7)
    default = probability_of_backtest_overfitting(matrix, n_splits=6)
    explicit = probability_of_backtest_overfitting(matrix, n_splits=6, metric=sharpe_ratio)
    assert default.pbo == explicit.pbo
    assert default.logits == pytest.approx(explicit.logits, abs=1e-12)


def test_pbo_drops_the_oldest_rows_and_follows_combinations_order() -> None:
    matrix = gaussian_matrix(9, 43, 5)  # 43 mod 4 = 3 rows dropped
    trimmed = probability_of_backtest_overfitting(matrix[3:], n_splits=4)
    full = probability_of_backtest_overfitting(matrix, n_splits=4)
    assert full == trimmed
    # Recompute the logits independently, with the mean metric, in itertools.combinations order.
    used = matrix[3:]
    blocks = [used[b * 10 : (b + 1) * 10] for b in range(4)]

    def column_means(block_ids: tuple[int, ...]) -> list[float]:
        rows = [row for b in block_ids for row in blocks[b]]
        return [sum(r[j] for r in rows) / len(rows) for j in range(5)]

    expected = []
    for is_ids in combinations(range(4), 2):
        oos_ids = tuple(b for b in range(4) if b not in is_ids)
        is_m, oos_m = column_means(is_ids), column_means(oos_ids)
        winner = is_m.index(max(is_m))
        rank = 1 + sorted(oos_m).index(oos_m[winner])
        expected.append(math.log(rank / (6 - rank)))
    result = probability_of_backtest_overfitting(matrix, n_splits=4, metric=mean_metric)
    assert result.logits == pytest.approx(expected, abs=1e-12)


def test_pbo_ties_first_argmax_and_averaged_ranks() -> None:
    # Strategies 0 and 1 are identical: strategy 0 is the IS winner (first argmax) and shares its OOS value
    # with strategy 1, so its OOS rank is averaged. Strategy 2 is always worse, so the tie ranks 2.5 of 3.
    rng = random.Random(2)
    matrix = []
    for _ in range(40):
        x = rng.gauss(0.0, 1.0)
        matrix.append([x, x, x - 5.0])
    result = probability_of_backtest_overfitting(matrix, n_splits=4)
    assert all(lam == pytest.approx(math.log(2.5 / 1.5)) for lam in result.logits)
    assert result.pbo == 0.0
    # All strategies identical: rank (N + 1)/2, λ = 0 exactly, counted as overfit (λ ≤ 0).
    same = probability_of_backtest_overfitting([[x, x] for x, _, _ in matrix], n_splits=4)
    assert same.logits == (0.0,) * 6
    assert same.pbo == 1.0


def test_pbo_zero_stdev_halves_use_the_sharpe_convention() -> None:
    # Strategy 1 returns a constant positive amount: an infinite Sharpe ratio in every half, always best.
    matrix = [[x, 0.001] for x in (0.5, -0.2, 0.1, 0.3, -0.4, 0.2, 0.0, 0.1)]
    result = probability_of_backtest_overfitting(matrix, n_splits=2)
    assert result.logits == (math.log(2.0), math.log(2.0))
    assert result.pbo == 0.0
