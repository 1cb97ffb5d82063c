"""Selector scores: decay-weighted statistics, trials, the seed rules, and the database round trip."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hean_pipelines.registry import parse_catalog, record_status_change, registry_as_of, sync_catalog
from hean_pipelines.selection.config import SelectorConfig
from hean_pipelines.selection.rules import KillConditions
from hean_pipelines.selection.runs import HOUR_BUCKETS, TERCILE_LABELS
from hean_pipelines.selection.schema import ensure_selection_schema
from hean_pipelines.selection.scoring import (
    RegistryInfo,
    Run,
    Score,
    apply_decisions,
    decay_weights,
    longest_losing_streak,
    max_drawdown,
    pbo_across_processes,
    population_variance,
    process_statistics,
    score_as_of,
    score_processes,
    weighted_moments,
    write_scores,
)
from hean_pipelines.selection.stats import (
    probabilistic_sharpe_ratio,
    sample_kurtosis,
    sample_skewness,
    sharpe_ratio,
)
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import writer

CONFIG = SelectorConfig()
D = date(2026, 3, 31)
HOURS = tuple(label for label, _, _ in HOUR_BUCKETS)
CAPITAL = Decimal(10_000)


def gaussian(n: int, mean: float, std: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, std) for _ in range(n)]


def make_runs(
    process_id: str,
    returns: Sequence[float],
    *,
    end: date = D,
    hour: Sequence[str] | None = None,
) -> list[Run]:
    """One run a day ending on ``end``; buckets cycle independently per dimension (diversified)."""
    n = len(returns)
    runs = []
    for i, r in enumerate(returns):
        ret = Decimal(str(round(r, 12)))
        runs.append(
            Run(
                date=end - timedelta(days=n - 1 - i),
                process_id=process_id,
                total=(ret * CAPITAL).quantize(Decimal("0.00000001")),
                ret=float(ret),
                hour_bucket=hour[i] if hour is not None else HOURS[i % 3],
                vol_bucket=TERCILE_LABELS[(i // 3) % 3],
                slippage_bucket=TERCILE_LABELS[(i // 9) % 3],
            )
        )
    return runs


def only(scores: Sequence[Score], process_id: str) -> Score:
    return next(s for s in scores if s.process_id == process_id)


def failed(score: Score) -> set[str]:
    return {r.rule for r in score.checks if not r.ok}


# ------------------------------------------------------------------------------------------- statistics


def test_decay_weights_halve_every_half_life() -> None:
    weights = decay_weights([D, D - timedelta(days=30), D - timedelta(days=60)], D, 30.0)
    assert weights == pytest.approx([1.0, 0.5, 0.25])
    with pytest.raises(ValueError, match="no lookahead"):
        decay_weights([D + timedelta(days=1)], D, 30.0)


def test_equal_weights_give_the_ordinary_moments() -> None:
    xs = gaussian(50, 0.01, 0.02, seed=1)
    m = weighted_moments(xs, [1.0] * len(xs))
    assert m.mean / m.std == pytest.approx(sharpe_ratio(xs), rel=1e-12)
    assert m.skewness == pytest.approx(sample_skewness(xs), rel=1e-9)
    assert m.kurtosis == pytest.approx(sample_kurtosis(xs), rel=1e-9)


def test_recent_runs_outweigh_old_ones_measurably() -> None:
    good = gaussian(20, 0.010, 0.005, seed=2)
    bad = gaussian(20, -0.005, 0.005, seed=3)
    improving = process_statistics(make_runs("a", bad + good), D, CONFIG)
    fading = process_statistics(make_runs("b", good + bad), D, CONFIG)
    # Same multiset of returns, so the unweighted statistics are identical ...
    assert sharpe_ratio(bad + good) == pytest.approx(sharpe_ratio(good + bad))
    # ... but the decay weights favour the recent runs, by a wide margin.
    assert improving.mean is not None and fading.mean is not None
    assert improving.mean > 0.0025 > fading.mean
    assert improving.sharpe is not None and fading.sharpe is not None
    assert improving.sharpe - fading.sharpe > 0.3
    assert improving.effective_n == pytest.approx(fading.effective_n)
    assert improving.effective_n is not None and improving.effective_n < 40


def test_psr_uses_the_effective_sample() -> None:
    stats = process_statistics(make_runs("a", gaussian(60, 0.004, 0.01, seed=4)), D, CONFIG)
    assert stats.sharpe is not None and stats.skewness is not None and stats.kurtosis is not None
    assert stats.effective_n is not None and stats.effective_n < 60
    expected = probabilistic_sharpe_ratio(stats.sharpe, stats.effective_n, stats.skewness, stats.kurtosis)
    assert stats.psr == pytest.approx(expected)
    negated = probabilistic_sharpe_ratio(-stats.sharpe, stats.effective_n, -stats.skewness, stats.kurtosis)
    assert stats.loser_psr == pytest.approx(negated)
    assert stats.psr is not None and stats.loser_psr is not None
    assert stats.psr + stats.loser_psr == pytest.approx(1.0)


def test_constant_or_tiny_samples_leave_statistics_undefined() -> None:
    assert process_statistics([], D, CONFIG).n_runs == 0
    one = process_statistics(make_runs("a", [0.01]), D, CONFIG)
    assert (one.n_runs, one.sharpe, one.psr) == (1, None, None)
    flat = process_statistics(make_runs("a", [0.01] * 12), D, CONFIG)
    assert (flat.sharpe, flat.psr) == (None, None)


def test_drawdown_and_losing_streak() -> None:
    assert max_drawdown([0.1, -0.5, 0.2]) == pytest.approx(0.5)
    assert max_drawdown([]) == 0.0
    assert longest_losing_streak([Decimal(x) for x in (1, -1, -2, 3, -1, -1, -1, 2)]) == 3


def test_population_variance() -> None:
    assert population_variance([1.0, 2.0, 3.0]) == pytest.approx(2 / 3)
    assert population_variance([5.0]) == 0.0


# ------------------------------------------------------------------------------------------- seed rules


def test_nine_runs_of_strong_profits_stay_testing() -> None:
    returns = gaussian(9, 0.02, 0.002, seed=5)
    (score,) = score_processes(make_runs("strong", returns), D, CONFIG)
    assert score.decision == "TESTING"
    assert score.reasons == ("9 runs < 10 minimum: TESTING whatever the numbers",)
    assert score.psr is not None and score.psr > 0.99  # the numbers are strong; the sample is not
    # The same process with a longer record is scaled: the minimum sample alone held it back.
    (longer,) = score_processes(make_runs("strong", gaussian(40, 0.02, 0.01, seed=5)), D, CONFIG)
    assert longer.decision == "SCALING", longer.reasons


def test_a_holdout_collapse_blocks_scaling_even_when_the_full_history_looks_good() -> None:
    returns = gaussian(66, 0.01, 0.01, seed=6) + gaussian(14, -0.004, 0.01, seed=7)
    (score,) = score_processes(make_runs("fading", returns), D, CONFIG)
    assert score.psr is not None and score.psr > 0.99
    assert score.dsr is not None and score.dsr > 0.95
    assert score.decision == "TESTING"
    assert failed(score) == {"holdout"}
    assert any(reason.startswith("holdout collapse") for reason in score.reasons)
    assert score.holdout_runs == 14 and score.training_runs == 66


def test_profits_from_one_bucket_only_are_not_scaled() -> None:
    n = 90
    hours = [HOURS[i % 3] for i in range(n)]
    rng = random.Random(8)
    returns = [rng.gauss(0.02, 0.005) if hours[i] == "00-08" else rng.gauss(-0.003, 0.003) for i in range(n)]
    (score,) = score_processes(make_runs("one_session", returns, hour=hours), D, CONFIG)
    assert score.psr is not None and score.psr > 0.99
    assert score.decision == "TESTING"
    assert failed(score) == {"regime_hour"}
    assert any("hour: profitable in 1 bucket(s)" in r for r in score.reasons)


def test_a_clear_loser_is_killed_and_a_young_one_is_not() -> None:
    (loser,) = score_processes(make_runs("loser", gaussian(40, -0.01, 0.01, seed=9)), D, CONFIG)
    assert loser.decision == "KILLED"
    assert loser.reasons[0].startswith("statistically clear loser")
    (young,) = score_processes(make_runs("loser", gaussian(9, -0.01, 0.01, seed=9)), D, CONFIG)
    assert young.decision == "TESTING"


def test_kill_conditions_come_from_the_process_definition() -> None:
    returns = [0.01] * 5 + [-0.001] * 10 + [0.02, 0.015] * 10  # a 10-day losing streak, then profits
    registry = {"p": RegistryInfo("TESTING", D - timedelta(days=60), D - timedelta(days=60), "process",
                                  KillConditions(Decimal("0.25"), 10, None))}  # fmt: skip
    (score,) = score_processes(make_runs("p", returns), D, CONFIG, registry=registry)
    assert score.decision == "KILLED"
    assert score.reasons == ("losing streak of 10 run days reached the process's limit 10",)


def test_a_process_killed_in_the_registry_stays_killed() -> None:
    registry = {"p": RegistryInfo("KILLED", D - timedelta(days=3), D - timedelta(days=90))}
    (score,) = score_processes(make_runs("p", gaussian(40, 0.02, 0.01, seed=5)), D, CONFIG, registry=registry)
    assert score.decision == "KILLED"
    assert "never revives" in score.reasons[0]


# ------------------------------------------------------------------------------------------- trials, PBO


def test_trials_count_every_process_with_the_minimum_runs() -> None:
    runs = (
        make_runs("a", gaussian(30, 0.01, 0.01, seed=10))
        + make_runs("b", gaussian(20, 0.0, 0.01, seed=11))
        + make_runs("c", gaussian(12, -0.01, 0.01, seed=12))
        + make_runs("young", gaussian(5, 0.05, 0.01, seed=13))
    )
    registry = {"killed_one": RegistryInfo("KILLED", D, D), "sys": RegistryInfo("TESTING", D, D, kind="system")}
    scores = score_processes(runs, D, CONFIG, registry=registry, recorded_trials=["killed_one"])
    assert [s.process_id for s in scores] == ["a", "b", "c", "killed_one", "young"]
    context = scores[0].context
    assert context is not None
    assert context.trial_ids == ("a", "b", "c", "killed_one")
    assert all(s.n_trials == 4 for s in scores)
    sharpes = [only(scores, p).sharpe for p in ("a", "b", "c")]
    assert all(x is not None for x in sharpes)
    assert context.trials_sharpe_variance == pytest.approx(population_variance([x for x in sharpes if x is not None]))
    assert only(scores, "young").reasons[0] == "5 runs < 10 minimum: TESTING whatever the numbers"


def test_one_trial_means_a_zero_threshold() -> None:
    (score,) = score_processes(make_runs("a", gaussian(30, 0.01, 0.01, seed=14)), D, CONFIG)
    assert score.n_trials == 1
    assert score.dsr_threshold == 0.0
    assert score.dsr == pytest.approx(score.psr)


def test_runs_after_the_as_of_day_are_refused() -> None:
    with pytest.raises(ValueError, match="no lookahead"):
        score_processes(make_runs("a", [0.01, 0.02], end=D + timedelta(days=1)), D, CONFIG)


def test_pbo_across_processes() -> None:
    runs = {
        "edge": make_runs("edge", gaussian(60, 0.01, 0.01, seed=15)),
        "noise": make_runs("noise", gaussian(60, 0.0, 0.01, seed=16)),
        "loser": make_runs("loser", gaussian(60, -0.01, 0.01, seed=17)),
    }
    result, splits, note = pbo_across_processes(runs, 16)
    assert result is not None and splits == 16
    assert result.pbo < 0.1  # a real edge stays the best out of sample
    assert "3 processes × 60 days" in note
    short, short_splits, _ = pbo_across_processes({p: r[-20:] for p, r in runs.items()}, 16)
    assert short is not None and short_splits == 10
    assert pbo_across_processes({"edge": runs["edge"]}, 16)[0] is None
    assert pbo_across_processes({p: r[-6:] for p, r in runs.items()}, 16)[0] is None


# ------------------------------------------------------------------------------------------- database


def _catalog_version(process_id: str, prefix: str, status: str = "TESTING") -> dict[str, Any]:
    return {
        "process_id": process_id,
        "name": process_id,
        "description": f"test process {process_id}",
        "link_prefix": prefix,
        "allocated_capital": 10000,
        "status": status,
        "valid_from": D - timedelta(days=120),
        "kill_conditions": {"max_drawdown_ratio": "0.5", "max_losing_streak_days": 30},
        "measurement": {"metric": "total", "benchmark": 0, "horizon_days": 30},
    }


def insert_runs(conn: duckdb.DuckDBPyConnection, runs: Sequence[Run]) -> None:
    ensure_selection_schema(conn)
    conn.executemany(
        "INSERT INTO selection.process_runs VALUES (?, ?, 'main', ?, ?, ?, 1, true, 'linear:BTCUSDT', ?, 1, NULL, ?, "
        "NULL, ?)",
        [
            [
                r.date,
                r.process_id,
                CAPITAL,
                r.total,
                Decimal(str(r.ret)),
                r.hour_bucket,
                r.vol_bucket,
                r.slippage_bucket,
            ]
            for r in runs
        ],
    )


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(tmp_path / "hean.duckdb") as c:
        sync_catalog(
            c,
            parse_catalog(
                {
                    "processes": [
                        _catalog_version("edge_one", "edge"),
                        _catalog_version("loser_one", "loser"),
                        _catalog_version("fresh_one", "fresh"),
                    ]
                }
            ),
        )
        insert_runs(c, make_runs("edge_one", gaussian(60, 0.01, 0.01, seed=20)))
        insert_runs(c, make_runs("loser_one", gaussian(60, -0.01, 0.01, seed=21)))
        insert_runs(c, make_runs("fresh_one", gaussian(4, 0.01, 0.01, seed=22)))
        yield c


def test_score_write_and_rewrite(conn: duckdb.DuckDBPyConnection) -> None:
    scores = score_as_of(conn, D, CONFIG)
    assert {s.process_id: s.decision for s in scores} == {
        "edge_one": "SCALING",
        "fresh_one": "TESTING",
        "loser_one": "KILLED",
    }
    assert write_scores(conn, D, scores) == 3
    row = conn.execute(
        "SELECT n_runs, decision, reasons, checks, n_trials FROM selection.scores WHERE process_id = 'fresh_one'"
    ).fetchone()
    assert row is not None
    assert row[:2] == (4, "TESTING")
    assert json.loads(row[2]) == ["4 runs < 10 minimum: TESTING whatever the numbers"]
    assert json.loads(row[3])["minimum_sample"] == {"role": "sample", "ok": False, "reason": json.loads(row[2])[0]}
    assert row[4] == 2
    assert conn.execute("SELECT * FROM selection.trials ORDER BY 1").fetchall() == [
        ("edge_one", D, 60),
        ("loser_one", D, 60),
    ]
    day = conn.execute("SELECT n_processes, n_trials, pbo_splits, config FROM selection.score_days").fetchone()
    assert day is not None and day[:3] == (3, 2, 16)
    assert json.loads(day[3])["half_life_days"] == 30.0

    before = {t: table_checksum(conn, t) for t in ("selection.scores", "selection.trials", "selection.score_days")}
    write_scores(conn, D, score_as_of(conn, D, CONFIG))
    assert {t: table_checksum(conn, t) for t in before} == before

    # An earlier day does not move a trial's first count (append-only), and later trials stay out of it.
    earlier = D - timedelta(days=55)
    write_scores(conn, earlier, score_as_of(conn, earlier, CONFIG))
    assert conn.execute("SELECT min(first_counted_as_of) FROM selection.trials").fetchone() == (D,)
    assert all(s.n_trials == 0 for s in score_as_of(conn, earlier, CONFIG))


def test_scores_are_refused_for_another_day(conn: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="not"):
        write_scores(conn, D - timedelta(days=1), score_as_of(conn, D, CONFIG))


def test_actions_are_off_by_default(conn: duckdb.DuckDBPyConnection) -> None:
    scores = score_as_of(conn, D, CONFIG)
    before = table_checksum(conn, "registry.processes")
    assert apply_decisions(conn, D, scores, CONFIG) == []
    assert table_checksum(conn, "registry.processes") == before


def test_enabled_actions_change_the_registry_from_the_next_day(conn: duckdb.DuckDBPyConnection) -> None:
    config = SelectorConfig(actions_enabled=True)
    scores = score_as_of(conn, D, config)
    changes = apply_decisions(conn, D, scores, config)
    assert [(c.process_id, c.from_status, c.to_status, c.effective, c.applied) for c in changes] == [
        ("edge_one", "TESTING", "SCALING", D + timedelta(days=1), True),
        ("loser_one", "TESTING", "KILLED", D + timedelta(days=1), True),
    ]
    today = {e.process_id: e.status for e in registry_as_of(conn, D)}
    tomorrow = {e.process_id: e.status for e in registry_as_of(conn, D + timedelta(days=1))}
    assert today["edge_one"] == "TESTING" and tomorrow["edge_one"] == "SCALING"
    assert tomorrow["loser_one"] == "KILLED" and tomorrow["fresh_one"] == "TESTING"
    reason = conn.execute("SELECT reason FROM registry.status_changes WHERE process_id = 'loser_one'").fetchone()
    assert reason is not None and "statistically clear loser" in reason[0]
    # Applying again changes nothing; the killed process stays killed as of tomorrow.
    assert apply_decisions(conn, D, scores, config) == []
    later = {s.process_id: s for s in score_as_of(conn, D + timedelta(days=1), config)}
    assert later["loser_one"].decision == "KILLED" and "never revives" in later["loser_one"].reasons[0]


def test_a_refused_change_is_reported_not_raised(conn: duckdb.DuckDBPyConnection) -> None:
    config = SelectorConfig(actions_enabled=True)
    # A human retired one process as of D (not the selector's to change) and wrote a catalog version of
    # another starting on D+1 (the catalog wins: the selector's change is refused and reported).
    tomorrow_version = {**_catalog_version("edge_one", "edge"), "valid_from": D + timedelta(days=1)}
    sync_catalog(
        conn,
        parse_catalog(
            {
                "processes": [
                    _catalog_version("edge_one", "edge"),
                    tomorrow_version,
                    _catalog_version("loser_one", "loser"),
                    _catalog_version("fresh_one", "fresh"),
                ]
            }
        ),
    )
    record_status_change(
        conn, process_id="loser_one", to_status="retired", effective=D, source="system", reason="retired by hand"
    )
    changes = apply_decisions(conn, D, score_as_of(conn, D, config), config)
    assert [(c.process_id, c.applied) for c in changes] == [("edge_one", False)]
    assert "catalog version starting on" in changes[0].note
