"""The selector's rules: pure functions from numbers to a verdict and a plain sentence.

Every rule returns a :class:`RuleResult` with

* ``rule`` — its name (stable: it keys ``selection.scores.checks``);
* ``role`` — ``sample`` (below it, the process stays TESTING whatever its numbers), ``kill`` (a breach
  kills), ``gate`` (SCALING needs every gate) or ``registry`` (the registry's own KILLED status);
* ``ok`` — the rule is satisfied (enough sample, not breached, gate passed);
* ``reason`` — one sentence a trader can read, with the numbers and the threshold.

:func:`decide` combines them, in this order:

1. the registry says KILLED → KILLED (the selector never revives a process; a human can, in the catalog);
2. a ``sample`` rule fails → TESTING (fewer than ``min_runs`` runs: nothing else is decided);
3. a ``kill`` rule is breached → KILLED;
4. every ``gate`` passes → SCALING;
5. otherwise TESTING.

With ``kill_conditions_wait_for_min_runs = false`` the process's *own* kill conditions (rules
``kill_drawdown``, ``kill_losing_streak``, ``kill_min_total``) are checked before step 2. The decisive
reasons come back in order: what decided, then nothing else (every rule's sentence stays in ``checks``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from hean_pipelines.selection.config import SelectorConfig
from hean_pipelines.selection.stats import sharpe_ratio

__all__ = [
    "DEFINITION_KILL_RULES",
    "BucketResult",
    "Decision",
    "HoldoutStats",
    "KillConditions",
    "Role",
    "RuleResult",
    "decide",
    "dsr_rule",
    "effective_sample_rule",
    "holdout_rule",
    "holdout_stats",
    "kill_drawdown_rule",
    "kill_losing_streak_rule",
    "kill_min_total_rule",
    "min_trl_rule",
    "minimum_sample_rule",
    "normalized_hhi",
    "parse_kill_conditions",
    "psr_rule",
    "regime_rule",
    "registry_status_rule",
    "statistical_loser_rule",
]

Role = Literal["registry", "sample", "kill", "gate"]
Decision = Literal["TESTING", "SCALING", "KILLED"]
CENT = Decimal("0.01")  # USDT shown in reasons, half-up
DEFINITION_KILL_RULES: frozenset[str] = frozenset({"kill_drawdown", "kill_losing_streak", "kill_min_total"})


@dataclass(frozen=True)
class RuleResult:
    rule: str
    role: Role
    ok: bool
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"role": self.role, "ok": self.ok, "reason": self.reason}


def _num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


# --------------------------------------------------------------------------------------------- registry


def registry_status_rule(status: str | None, since: date | None = None) -> RuleResult:
    """KILLED in the registry stays KILLED: the selector never revives a process."""
    if status == "KILLED":
        when = f" since {since.isoformat()}" if since is not None else ""
        return RuleResult(
            "registry_status",
            "registry",
            False,
            f"KILLED in the registry{when}; the selector never revives a process (a human can, in the catalog)",
        )
    shown = status if status is not None else "not in the registry"
    return RuleResult("registry_status", "registry", True, f"registry status {shown}")


# --------------------------------------------------------------------------------------------- sample


def minimum_sample_rule(n_runs: int, config: SelectorConfig) -> RuleResult:
    """Fewer than ``min_runs`` runs → TESTING, whatever the numbers."""
    if n_runs < config.min_runs:
        return RuleResult(
            "minimum_sample",
            "sample",
            False,
            f"{_runs(n_runs)} < {config.min_runs} minimum: TESTING whatever the numbers",
        )
    return RuleResult("minimum_sample", "sample", True, f"{_runs(n_runs)} ≥ {config.min_runs} minimum")


def effective_sample_rule(effective_n: float | None, config: SelectorConfig) -> RuleResult:
    """The Kish effective n of the decay weights must reach ``min_effective_n`` for a statistical call."""
    if effective_n is None or effective_n < config.min_effective_n:
        return RuleResult(
            "effective_n",
            "gate",
            False,
            f"effective n {_num(effective_n, 1)} < {config.min_effective_n:g} (Kish, half-life "
            f"{config.half_life_days:g} days): too few recent runs to judge",
        )
    return RuleResult(
        "effective_n",
        "gate",
        True,
        f"effective n {_num(effective_n, 1)} ≥ {config.min_effective_n:g} "
        f"(Kish, half-life {config.half_life_days:g} days)",
    )


# --------------------------------------------------------------------------------------------- holdout


@dataclass(frozen=True)
class HoldoutStats:
    """Unweighted statistics of the training window (older runs) and the holdout window (recent runs)."""

    training_runs: int
    training_sharpe: float | None
    holdout_runs: int
    holdout_mean: float | None
    holdout_sharpe: float | None


def holdout_stats(runs: Sequence[tuple[date, float]], as_of: date, holdout_days: int) -> HoldoutStats:
    """Split ``(date, return)`` runs at ``as_of − holdout_days``: later runs are the holdout."""
    cutoff = as_of - timedelta(days=holdout_days)
    training = [r for d, r in runs if d <= cutoff]
    holdout = [r for d, r in runs if cutoff < d <= as_of]
    return HoldoutStats(
        training_runs=len(training),
        training_sharpe=sharpe_ratio(training) if len(training) >= 2 else None,
        holdout_runs=len(holdout),
        holdout_mean=math.fsum(holdout) / len(holdout) if holdout else None,
        holdout_sharpe=sharpe_ratio(holdout) if len(holdout) >= 2 else None,
    )


def holdout_rule(stats: HoldoutStats, config: SelectorConfig) -> RuleResult:
    """The most recent window is held out; a collapse there (mean < 0, or Sharpe below a fraction of the
    training window's) blocks SCALING, as does a holdout or training window too short to judge."""
    window = f"last {config.holdout_days} days"
    if stats.holdout_runs < config.holdout_min_runs:
        return RuleResult(
            "holdout",
            "gate",
            False,
            f"holdout ({window}) has {_runs(stats.holdout_runs)} < {config.holdout_min_runs} needed to judge it",
        )
    if stats.training_runs < config.holdout_min_runs or stats.training_sharpe is None:
        return RuleResult(
            "holdout",
            "gate",
            False,
            f"training window (before the {window}) has {_runs(stats.training_runs)} < {config.holdout_min_runs} "
            "needed to compare the holdout with",
        )
    assert stats.holdout_mean is not None and stats.holdout_sharpe is not None
    if stats.holdout_mean < 0:
        return RuleResult(
            "holdout",
            "gate",
            False,
            f"holdout collapse: mean return {stats.holdout_mean:.6f} < 0 over the {window} "
            f"({_runs(stats.holdout_runs)}, training Sharpe {_num(stats.training_sharpe)})",
        )
    floor = config.holdout_min_sharpe_fraction * stats.training_sharpe
    if stats.training_sharpe > 0 and stats.holdout_sharpe < floor:
        return RuleResult(
            "holdout",
            "gate",
            False,
            f"holdout collapse: Sharpe {_num(stats.holdout_sharpe)} over the {window} < "
            f"{config.holdout_min_sharpe_fraction:g} × training Sharpe {_num(stats.training_sharpe)}",
        )
    return RuleResult(
        "holdout",
        "gate",
        True,
        f"holdout holds: Sharpe {_num(stats.holdout_sharpe)} over the {window} ({_runs(stats.holdout_runs)}) vs "
        f"training {_num(stats.training_sharpe)}, mean {stats.holdout_mean:.6f} ≥ 0",
    )


# --------------------------------------------------------------------------------------------- regimes


@dataclass(frozen=True)
class BucketResult:
    """One bucket of one regime dimension: runs, decay-weighted mean return and weighted profit."""

    label: str
    runs: int
    weighted_mean: float
    weighted_profit: float  # Σ w·r


def normalized_hhi(shares: Sequence[float]) -> float:
    """(HHI − 1/K)/(1 − 1/K) of shares summing to 1 over K ≥ 2 buckets: 0 = even, 1 = all in one; 1 for K = 1."""
    k = len(shares)
    if k == 0:
        raise ValueError("normalized_hhi needs at least one share")
    if k == 1:
        return 1.0
    hhi = math.fsum(s * s for s in shares)
    return max(0.0, (hhi - 1.0 / k) / (1.0 - 1.0 / k))


def regime_rule(dimension: str, buckets: Sequence[BucketResult], config: SelectorConfig) -> RuleResult:
    """SCALING needs, per dimension, a positive decay-weighted mean in ≥ ``regime_min_positive_buckets``
    buckets with ≥ ``regime_min_runs_per_bucket`` runs each, and positive profit no more concentrated than
    ``regime_max_concentration`` (normalized HHI over those buckets)."""
    rule = f"regime_{dimension}"
    counted = [b for b in buckets if b.runs >= config.regime_min_runs_per_bucket]
    positive = [b for b in counted if b.weighted_mean > 0]
    listing = ", ".join(f"{b.label} {b.runs}×{b.weighted_mean:+.5f}" for b in sorted(buckets, key=lambda b: b.label))
    listing = listing or "no runs with this feature"
    need = config.regime_min_positive_buckets
    if len(positive) < need:
        return RuleResult(
            rule,
            "gate",
            False,
            f"{dimension}: profitable in {len(positive)} bucket(s) with ≥ {config.regime_min_runs_per_bucket} runs, "
            f"{need} needed ({listing})",
        )
    gains = [max(b.weighted_profit, 0.0) for b in counted]
    total = math.fsum(gains)
    concentration = normalized_hhi([g / total for g in gains]) if total > 0 else 1.0
    if concentration > config.regime_max_concentration:
        return RuleResult(
            rule,
            "gate",
            False,
            f"{dimension}: profit concentrated, normalized HHI {concentration:.2f} > "
            f"{config.regime_max_concentration:g} ({listing})",
        )
    return RuleResult(
        rule,
        "gate",
        True,
        f"{dimension}: profitable in {len(positive)} buckets, normalized HHI {concentration:.2f} ≤ "
        f"{config.regime_max_concentration:g} ({listing})",
    )


# --------------------------------------------------------------------------------------------- multiple testing


def psr_rule(psr: float | None, config: SelectorConfig) -> RuleResult:
    """PSR (probability that the true Sharpe ratio exceeds 0) must reach ``psr_threshold``."""
    if psr is None:
        return RuleResult("psr", "gate", False, "PSR undefined (constant returns or too few runs)")
    ok = psr >= config.psr_threshold
    sign = "≥" if ok else "<"
    return RuleResult("psr", "gate", ok, f"PSR {psr:.3f} {sign} {config.psr_threshold:g}")


def dsr_rule(dsr: float | None, threshold_sharpe: float | None, n_trials: int, config: SelectorConfig) -> RuleResult:
    """DSR (PSR against the expected maximum Sharpe ratio of ``n_trials`` zero-skill trials) must reach
    ``dsr_threshold``."""
    if dsr is None or threshold_sharpe is None:
        return RuleResult("dsr", "gate", False, "DSR undefined (constant returns or too few runs)")
    ok = dsr >= config.dsr_threshold
    sign = "≥" if ok else "<"
    return RuleResult(
        "dsr",
        "gate",
        ok,
        f"DSR {dsr:.3f} {sign} {config.dsr_threshold:g} with N = {n_trials} trial(s) (expected maximum Sharpe of "
        f"zero-skill trials {threshold_sharpe:.3f})",
    )


def min_trl_rule(min_trl: float | None, effective_n: float | None, config: SelectorConfig) -> RuleResult:
    """The effective track record must reach MinTRL (at the DSR's benchmark, α = 1 − dsr_threshold)."""
    if min_trl is None or effective_n is None:
        return RuleResult("min_trl", "gate", False, "MinTRL undefined (constant returns or too few runs)")
    if math.isinf(min_trl):
        return RuleResult(
            "min_trl", "gate", False, "MinTRL infinite: the Sharpe ratio does not beat the trials' expected maximum"
        )
    ok = effective_n >= min_trl
    sign = "≥" if ok else "<"
    return RuleResult(
        "min_trl",
        "gate",
        ok,
        f"effective n {effective_n:.1f} {sign} MinTRL {min_trl:.1f} (runs needed for the DSR to reach "
        f"{config.dsr_threshold:g})",
    )


# --------------------------------------------------------------------------------------------- kill


@dataclass(frozen=True)
class MinTotalAfterDays:
    days: int
    min_total: Decimal


@dataclass(frozen=True)
class KillConditions:
    """A process's own kill conditions (its registry document's ``kill_conditions``)."""

    max_drawdown_ratio: Decimal | None = None
    max_losing_streak_days: int | None = None
    min_total_after_days: MinTotalAfterDays | None = None


def parse_kill_conditions(document: Mapping[str, object] | None) -> KillConditions:
    """The ``kill_conditions`` of a registry document (numbers may be JSON numbers or decimal text)."""
    raw = (document or {}).get("kill_conditions")
    if not isinstance(raw, Mapping):
        return KillConditions()
    drawdown = raw.get("max_drawdown_ratio")
    streak = raw.get("max_losing_streak_days")
    after = raw.get("min_total_after_days")
    min_total = None
    if isinstance(after, Mapping) and after.get("days") is not None:
        min_total = MinTotalAfterDays(days=int(str(after["days"])), min_total=Decimal(str(after.get("min_total", 0))))
    return KillConditions(
        max_drawdown_ratio=Decimal(str(drawdown)) if drawdown is not None else None,
        max_losing_streak_days=int(str(streak)) if streak is not None else None,
        min_total_after_days=min_total,
    )


def kill_drawdown_rule(max_drawdown: float | None, limit: Decimal | None) -> RuleResult:
    """Killed when the worst drawdown of the compounded run returns so far exceeds the process's limit."""
    if limit is None:
        return RuleResult("kill_drawdown", "kill", True, "no drawdown limit in the process definition")
    dd = max_drawdown if max_drawdown is not None else 0.0
    if dd > float(limit):
        return RuleResult(
            "kill_drawdown", "kill", False, f"drawdown {dd:.3f} exceeded the process's limit {limit.normalize()}"
        )
    return RuleResult(
        "kill_drawdown", "kill", True, f"worst drawdown {dd:.3f} within the process's limit {limit.normalize()}"
    )


def kill_losing_streak_rule(longest_streak: int, limit: int | None) -> RuleResult:
    """Killed after ``limit`` consecutive runs with a negative total (at any time so far)."""
    if limit is None:
        return RuleResult("kill_losing_streak", "kill", True, "no losing-streak limit in the process definition")
    if longest_streak >= limit:
        return RuleResult(
            "kill_losing_streak",
            "kill",
            False,
            f"losing streak of {longest_streak} run days reached the process's limit {limit}",
        )
    return RuleResult(
        "kill_losing_streak",
        "kill",
        True,
        f"longest losing streak {longest_streak} run days < the process's limit {limit}",
    )


def kill_min_total_rule(
    days_since_start: int,
    cumulative_total: Decimal,
    condition: MinTotalAfterDays | None,
    first_breach: tuple[date, Decimal] | None = None,
) -> RuleResult:
    """Killed when, ``days`` days after the process's first version, its cumulative total is below
    ``min_total``: on any day from then up to the as-of day (``first_breach``: the first such day and its
    cumulative total; ``None`` checks the as-of day's ``cumulative_total`` only)."""
    if condition is None:
        return RuleResult("kill_min_total", "kill", True, "no minimum total in the process definition")
    total = cumulative_total.quantize(CENT, rounding=ROUND_HALF_UP)
    minimum = condition.min_total.normalize()
    if days_since_start < condition.days:
        return RuleResult(
            "kill_min_total",
            "kill",
            True,
            f"day {days_since_start} of {condition.days} before the minimum total applies (total {total} USDT so far)",
        )
    if first_breach is not None:
        when, breached = first_breach
        return RuleResult(
            "kill_min_total",
            "kill",
            False,
            f"cumulative total {breached.quantize(CENT, rounding=ROUND_HALF_UP)} USDT on {when.isoformat()} < "
            f"the process's minimum {minimum} after {condition.days} days",
        )
    if cumulative_total < condition.min_total:
        return RuleResult(
            "kill_min_total",
            "kill",
            False,
            f"cumulative total {total} USDT < the process's minimum {minimum} after {condition.days} days",
        )
    return RuleResult(
        "kill_min_total",
        "kill",
        True,
        f"cumulative total {total} USDT ≥ the process's minimum {minimum} after {condition.days} days",
    )


def statistical_loser_rule(loser_psr: float | None, effective_n: float | None, config: SelectorConfig) -> RuleResult:
    """Killed when the PSR of the negated returns (P(true Sharpe < 0)) reaches ``loser_psr_threshold``,
    once the effective n allows a statistical call."""
    if loser_psr is None or effective_n is None or effective_n < config.min_effective_n:
        return RuleResult(
            "statistical_loser", "kill", True, "not judged as a loser: effective n too small or returns constant"
        )
    if loser_psr >= config.loser_psr_threshold:
        return RuleResult(
            "statistical_loser",
            "kill",
            False,
            f"statistically clear loser: P(true Sharpe < 0) = {loser_psr:.3f} ≥ {config.loser_psr_threshold:g} "
            "(PSR of the negated returns)",
        )
    return RuleResult(
        "statistical_loser",
        "kill",
        True,
        f"not a clear loser: P(true Sharpe < 0) = {loser_psr:.3f} < {config.loser_psr_threshold:g}",
    )


# --------------------------------------------------------------------------------------------- decision


def decide(results: Sequence[RuleResult], config: SelectorConfig) -> tuple[Decision, tuple[str, ...]]:
    """The decision and its decisive reasons (see the module docstring for the order)."""
    registry = [r for r in results if r.role == "registry" and not r.ok]
    if registry:
        return "KILLED", tuple(r.reason for r in registry)
    breached = [r for r in results if r.role == "kill" and not r.ok]
    if not config.kill_conditions_wait_for_min_runs:
        own = [r for r in breached if r.rule in DEFINITION_KILL_RULES]
        if own:
            return "KILLED", tuple(r.reason for r in own)
    short = [r for r in results if r.role == "sample" and not r.ok]
    if short:
        return "TESTING", tuple(r.reason for r in short)
    if breached:
        return "KILLED", tuple(r.reason for r in breached)
    gates = [r for r in results if r.role == "gate"]
    failed = [r for r in gates if not r.ok]
    if gates and not failed:
        return "SCALING", tuple(r.reason for r in gates)
    if not gates:
        return "TESTING", ("no SCALING gate was evaluated",)
    return "TESTING", tuple(r.reason for r in failed)
