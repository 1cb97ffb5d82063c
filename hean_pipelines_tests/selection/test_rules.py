"""Each selector rule is a pure function: its verdict and its plain sentence, one by one."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import pytest

from hean_pipelines.selection.config import SelectorConfig
from hean_pipelines.selection.rules import (
    BucketResult,
    HoldoutStats,
    KillConditions,
    MinTotalAfterDays,
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
    normalized_hhi,
    parse_kill_conditions,
    psr_rule,
    regime_rule,
    registry_status_rule,
    statistical_loser_rule,
)

CONFIG = SelectorConfig()
D = date(2026, 3, 1)


# ------------------------------------------------------------------------------------------- sample


def test_minimum_sample_says_how_many_runs_are_missing() -> None:
    result = minimum_sample_rule(7, CONFIG)
    assert (result.ok, result.role) == (False, "sample")
    assert result.reason.startswith("7 runs < 10 minimum")
    assert minimum_sample_rule(1, CONFIG).reason.startswith("1 run < 10 minimum")
    assert minimum_sample_rule(10, CONFIG).ok


def test_effective_n_gates_statistical_calls() -> None:
    assert not effective_sample_rule(9.9, CONFIG).ok
    assert "effective n 9.9 < 10" in effective_sample_rule(9.9, CONFIG).reason
    assert not effective_sample_rule(None, CONFIG).ok
    assert effective_sample_rule(10.0, CONFIG).ok


# ------------------------------------------------------------------------------------------- holdout


def _hold(training: int, tr_sr: float | None, holdout: int, mean: float | None, h_sr: float | None) -> HoldoutStats:
    return HoldoutStats(training, tr_sr, holdout, mean, h_sr)


def test_holdout_stats_split_at_the_window() -> None:
    runs = [(D - timedelta(days=k), float(k)) for k in range(30)]
    stats = holdout_stats(runs, D, 14)
    assert (stats.training_runs, stats.holdout_runs) == (16, 14)
    assert stats.holdout_mean == pytest.approx(sum(range(14)) / 14)


def test_holdout_collapse_by_negative_mean() -> None:
    result = holdout_rule(_hold(40, 0.8, 14, -0.001, -0.1), CONFIG)
    assert not result.ok
    assert "holdout collapse: mean return -0.001000 < 0" in result.reason


def test_holdout_collapse_by_sharpe_fraction() -> None:
    result = holdout_rule(_hold(40, 0.8, 14, 0.001, 0.1), CONFIG)  # 0.1 < 0.25 × 0.8
    assert not result.ok
    assert "Sharpe 0.100" in result.reason and "0.25 × training Sharpe 0.800" in result.reason
    assert holdout_rule(_hold(40, 0.8, 14, 0.001, 0.3), CONFIG).ok


def test_holdout_needs_enough_runs_on_both_sides() -> None:
    assert "3 runs < 5 needed" in holdout_rule(_hold(40, 0.8, 3, 0.01, 0.5), CONFIG).reason
    short_training = holdout_rule(_hold(2, 3.0, 14, 0.01, 0.5), CONFIG)
    assert not short_training.ok
    assert "training window" in short_training.reason


# ------------------------------------------------------------------------------------------- regimes


def test_normalized_hhi() -> None:
    assert normalized_hhi([1 / 3, 1 / 3, 1 / 3]) == pytest.approx(0.0)
    assert normalized_hhi([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert normalized_hhi([1.0]) == 1.0
    assert normalized_hhi([0.8, 0.2, 0.0]) == pytest.approx(0.52)
    assert normalized_hhi([0.6, 0.4, 0.0]) == pytest.approx(0.28)
    with pytest.raises(ValueError):
        normalized_hhi([])


def test_profits_from_one_bucket_only_fail_the_regime_rule() -> None:
    buckets = [
        BucketResult("00-08", 20, 0.01, 0.2),
        BucketResult("08-16", 20, -0.001, -0.02),
        BucketResult("16-24", 20, -0.002, -0.04),
    ]
    result = regime_rule("hour", buckets, CONFIG)
    assert (result.ok, result.rule) == (False, "regime_hour")
    assert "profitable in 1 bucket(s)" in result.reason and "2 needed" in result.reason


def test_a_bucket_needs_enough_runs_to_count() -> None:
    buckets = [BucketResult("low", 30, 0.01, 0.3), BucketResult("high", 2, 0.02, 0.04)]
    assert not regime_rule("volatility", buckets, CONFIG).ok
    assert not regime_rule("volatility", [], CONFIG).ok


def test_concentrated_profit_fails_even_when_two_buckets_are_positive() -> None:
    buckets = [
        BucketResult("low", 20, 0.02, 0.9),
        BucketResult("mid", 20, 0.0005, 0.01),
        BucketResult("high", 20, 0.0005, 0.01),
    ]
    result = regime_rule("slippage", buckets, CONFIG)
    assert not result.ok
    assert "concentrated" in result.reason


def test_spread_profit_passes() -> None:
    buckets = [
        BucketResult("low", 20, 0.01, 0.2),
        BucketResult("mid", 20, 0.008, 0.16),
        BucketResult("high", 5, -0.01, -0.05),
    ]
    result = regime_rule("volatility", buckets, CONFIG)
    assert result.ok, result.reason


# ------------------------------------------------------------------------------------------- multiple testing


def test_psr_dsr_and_min_trl_gates() -> None:
    assert psr_rule(0.96, CONFIG).ok
    assert psr_rule(0.94, CONFIG).reason == "PSR 0.940 < 0.95"
    assert not psr_rule(None, CONFIG).ok
    dsr = dsr_rule(0.9, 0.4, 3, CONFIG)
    assert not dsr.ok and "N = 3" in dsr.reason and "0.400" in dsr.reason
    assert dsr_rule(0.97, 0.0, 1, CONFIG).ok
    assert not min_trl_rule(45.0, 30.0, CONFIG).ok
    assert min_trl_rule(25.0, 30.0, CONFIG).ok
    assert "infinite" in min_trl_rule(math.inf, 30.0, CONFIG).reason


# ------------------------------------------------------------------------------------------- kill


def test_parse_kill_conditions_from_a_registry_document() -> None:
    document = {
        "kill_conditions": {
            "max_drawdown_ratio": "0.25",
            "max_losing_streak_days": 10,
            "min_total_after_days": {"days": 60, "min_total": "0"},
        }
    }
    assert parse_kill_conditions(document) == KillConditions(Decimal("0.25"), 10, MinTotalAfterDays(60, Decimal(0)))
    assert parse_kill_conditions({}) == KillConditions()
    assert parse_kill_conditions(None) == KillConditions()


def test_kill_conditions_of_the_process_definition() -> None:
    assert not kill_drawdown_rule(0.30, Decimal("0.25")).ok
    assert kill_drawdown_rule(0.25, Decimal("0.25")).ok  # "exceeds": strictly above
    assert kill_drawdown_rule(0.9, None).ok
    streak = kill_losing_streak_rule(10, 10)
    assert not streak.ok and "losing streak of 10 run days" in streak.reason
    assert kill_losing_streak_rule(9, 10).ok
    cond = MinTotalAfterDays(60, Decimal(0))
    assert kill_min_total_rule(59, Decimal(-5), cond).ok  # not yet due
    assert not kill_min_total_rule(60, Decimal(-5), cond).ok
    assert kill_min_total_rule(61, Decimal(5), cond).ok
    breach = kill_min_total_rule(80, Decimal(5), cond, (date(2026, 2, 27), Decimal("-12.345")))
    assert not breach.ok and "-12.35 USDT on 2026-02-27" in breach.reason  # once breached, breached


def test_statistical_loser() -> None:
    result = statistical_loser_rule(0.995, 30.0, CONFIG)
    assert not result.ok and "P(true Sharpe < 0) = 0.995 ≥ 0.99" in result.reason
    assert statistical_loser_rule(0.98, 30.0, CONFIG).ok
    assert statistical_loser_rule(0.999, 5.0, CONFIG).ok  # too few effective runs to call it


# ------------------------------------------------------------------------------------------- decide


def _r(rule: str, role: str, ok: bool) -> RuleResult:
    return RuleResult(rule, role, ok, f"{rule} {'ok' if ok else 'failed'}")  # type: ignore[arg-type]


def test_decide_order() -> None:
    passing = [_r("minimum_sample", "sample", True), _r("kill_drawdown", "kill", True), _r("psr", "gate", True)]
    assert decide(passing, CONFIG) == ("SCALING", ("psr ok",))
    gate_fails = [*passing[:2], _r("psr", "gate", False)]
    assert decide(gate_fails, CONFIG) == ("TESTING", ("psr failed",))
    killed = [passing[0], _r("kill_drawdown", "kill", False), _r("psr", "gate", True)]
    assert decide(killed, CONFIG) == ("KILLED", ("kill_drawdown failed",))
    # Fewer than the minimum runs: TESTING whatever the numbers, kill conditions included by default ...
    short = [_r("minimum_sample", "sample", False), _r("kill_drawdown", "kill", False), _r("psr", "gate", True)]
    assert decide(short, CONFIG) == ("TESTING", ("minimum_sample failed",))
    # ... unless the process's own kill conditions are configured to act from the first run.
    eager = SelectorConfig(kill_conditions_wait_for_min_runs=False)
    assert decide(short, eager) == ("KILLED", ("kill_drawdown failed",))
    statistical = [_r("minimum_sample", "sample", False), _r("statistical_loser", "kill", False)]
    assert decide(statistical, eager)[0] == "TESTING"
    # The registry's KILLED is final for the selector.
    registry = [registry_status_rule("KILLED", date(2026, 2, 1)), *passing]
    decision, reasons = decide(registry, CONFIG)
    assert decision == "KILLED" and "since 2026-02-01" in reasons[0]
    assert registry_status_rule("TESTING").ok
