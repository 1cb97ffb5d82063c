"""The selector's configuration: every threshold in one validated, documented table.

:class:`SelectorConfig` holds every number the selector's rules use; each field's description is its
meaning, and :meth:`SelectorConfig.defaults_table` renders ``(name, default, meaning)`` rows for the
README. A configuration is validated when it is loaded (pydantic, ``extra="forbid"``): an unknown key, a
value out of range or a combination that can never work is refused with a message naming the field.

The one non-obvious check is the decay half-life. Daily runs weighted ``w_k = λ^k`` (``λ = 2^(−1/h)``,
``k`` days old) have a Kish effective sample size ``(Σw)² / Σw²`` that grows with the history but never
beyond ``(1 + λ)/(1 − λ)`` (≈ 2.885·h for long half-lives). A half-life whose limit is below
``min_effective_n`` could never reach the sample the gates demand, so it is refused at load.

Defaults, and why they are defensible numbers (not tuned on the sandbox's data):

* 10 runs and 10 effective runs: the issue's minimum sample.
* half-life 30 days: a month-old run counts half, a quarter-old one an eighth; the effective sample tends
  to ≈ 87 runs, so a steady daily Sharpe ratio above ≈ 0.18 can reach PSR 0.95 (MinTRL ≈ 87), while a
  regime change shows in the statistics within weeks, not quarters.
* 14-day holdout with ≥ 5 runs: two weeks, the shortest window whose Sharpe ratio has a standard error
  (≈ 1/√13 ≈ 0.28) small next to a daily Sharpe worth scaling; collapse = negative mean, or a Sharpe
  ratio below a quarter of the training window's.
* regimes: terciles (3 buckets) per dimension, a bucket counts from 3 runs, ≥ 2 buckets must be
  profitable and no dimension's positive profit may be concentrated beyond a normalized HHI of 0.5
  (e.g. 80 %/20 % over three buckets is 0.52: refused; 60 %/40 % is 0.28: fine).
* PSR ≥ 0.95 and DSR ≥ 0.95: the conventional 5 % significance, DSR against the expected maximum
  Sharpe ratio of the trials so far; MinTRL at the same α.
* statistical loser: PSR of the negated returns ≥ 0.99 (a 1 % test), stricter than promotion because
  a kill is not reversed by the selector and the test is repeated every day.
* PBO: CSCV with 16 blocks (the paper's S), fewer when the history is short.
* actions disabled: decisions are recommendations until a human turns actions on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ACTIONS_ENABLED_ENV",
    "SELECTOR_CONFIG_ENV",
    "SelectorConfig",
    "SelectorConfigError",
    "defaults_table",
    "kish_limit",
    "load_selector_config",
]

SELECTOR_CONFIG_ENV = "HEAN_SELECTOR_CONFIG"
"""Environment variable naming a YAML file of selector settings (read by :func:`load_selector_config`)."""
ACTIONS_ENABLED_ENV = "HEAN_ACTIONS_ENABLED"
"""Environment variable that, when set (1/true/yes/on or 0/false/no/off), overrides ``actions_enabled``."""

N_REGIME_BUCKETS = 3
"""Buckets per regime dimension: three UTC sessions for the hour, terciles for volatility and slippage."""


def kish_limit(half_life_days: float) -> float:
    """Kish effective n of exponential daily weights over an unbounded history: (1 + λ)/(1 − λ), λ = 2^(−1/h)."""
    if not half_life_days > 0 or not math.isfinite(half_life_days):
        raise ValueError(f"half_life_days must be a finite number > 0, got {half_life_days!r}")
    lam = 2.0 ** (-1.0 / half_life_days)
    return (1.0 + lam) / (1.0 - lam)


class SelectorConfigError(ValueError):
    """A selector configuration was refused; the message names every offending field."""


class SelectorConfig(BaseModel):
    """Every threshold of the selector (validated at load; see the module docstring for the why)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    min_runs: int = Field(
        default=10,
        ge=2,
        description="Minimum sample: a process with fewer runs stays TESTING, whatever its numbers.",
    )
    min_effective_n: float = Field(
        default=10.0,
        ge=2.0,
        description="Kish effective n of the decay weights needed before any statistical call (SCALING or "
        "statistical loser).",
    )
    half_life_days: float = Field(
        default=30.0,
        gt=0.0,
        description="Half-life of the exponential decay weights in calendar days (a run this old counts half). "
        "Refused when even an unbounded daily history cannot reach min_effective_n.",
    )
    holdout_days: int = Field(
        default=14,
        ge=1,
        description="The most recent window held out: runs dated D−holdout_days+1…D are judged apart from the "
        "older (training) runs.",
    )
    holdout_min_runs: int = Field(
        default=5,
        ge=2,
        description="Runs the holdout window, and the training window before it, each need to be judged; fewer "
        "blocks SCALING.",
    )
    holdout_min_sharpe_fraction: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="Holdout collapse: its mean return is below zero, or its Sharpe ratio is below this "
        "fraction of the training window's. A collapse blocks SCALING.",
    )
    regime_min_runs_per_bucket: int = Field(
        default=3,
        ge=1,
        description="Runs a regime bucket needs before its result counts.",
    )
    regime_min_positive_buckets: int = Field(
        default=2,
        ge=2,
        le=N_REGIME_BUCKETS,
        description="Buckets per dimension (hour of day, volatility, slippage) that must show a positive "
        "decay-weighted mean return for SCALING (more than one).",
    )
    regime_max_concentration: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Cap on the normalized HHI of positive profit across a dimension's buckets "
        "(0 = spread evenly, 1 = all in one bucket); above it blocks SCALING.",
    )
    psr_threshold: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="SCALING needs PSR (probability that the true Sharpe ratio exceeds 0) at least this.",
    )
    dsr_threshold: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="SCALING needs DSR (PSR against the expected maximum Sharpe ratio of the N trials so far) "
        "at least this; MinTRL is computed at α = 1 − this.",
    )
    loser_psr_threshold: float = Field(
        default=0.99,
        gt=0.5,
        lt=1.0,
        description="Statistically clear loser: KILLED when the PSR of the negated returns (probability that "
        "the true Sharpe ratio is below 0) reaches this.",
    )
    pbo_splits: int = Field(
        default=16,
        ge=4,
        description="CSCV blocks S for the PBO diagnostic (even); reduced to fit when the history is short "
        "(blocks of at least 2 days).",
    )
    kill_conditions_wait_for_min_runs: bool = Field(
        default=True,
        description="The process's own kill conditions (drawdown, losing streak, min total) wait for min_runs "
        "like every other rule; false applies them from the first run.",
    )
    actions_enabled: bool = Field(
        default=False,
        description="Write decisions to the registry (status changes effective D+1). Off: recommendations "
        "only. Nothing ever places an order.",
    )

    @model_validator(mode="after")
    def _coherent(self) -> SelectorConfig:
        problems = []
        limit = kish_limit(self.half_life_days)
        if limit < self.min_effective_n:
            need = -1.0 / math.log2((self.min_effective_n - 1.0) / (self.min_effective_n + 1.0))
            problems.append(
                f"half_life_days={self.half_life_days:g} can never reach min_effective_n={self.min_effective_n:g}: "
                f"the Kish effective n of its weights tends to (1+λ)/(1−λ) = {limit:.2f} even with a run every "
                f"day for ever; use half_life_days ≥ {need:.2f}"
            )
        if self.holdout_min_runs > self.holdout_days:
            problems.append(
                f"holdout_min_runs={self.holdout_min_runs} exceeds holdout_days={self.holdout_days} "
                "(at most one run a day): the holdout could never be judged"
            )
        if self.pbo_splits % 2:
            problems.append(f"pbo_splits={self.pbo_splits} must be even (CSCV splits the blocks in halves)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def defaults_table(cls) -> list[tuple[str, Any, str]]:
        """``(name, default, meaning)`` for every setting, in declaration order (for the README)."""
        rows: list[tuple[str, Any, str]] = []
        for name, field in cls.model_fields.items():
            rows.append((name, field.default, field.description or ""))
        return rows


def defaults_table() -> list[tuple[str, Any, str]]:
    """``(name, default, meaning)`` for every selector setting (see :meth:`SelectorConfig.defaults_table`)."""
    return SelectorConfig.defaults_table()


def _env_flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SelectorConfigError(f"{ACTIONS_ENABLED_ENV}={raw!r} is not a boolean (1/true/yes/on or 0/false/no/off)")


def load_selector_config(
    source: Mapping[str, Any] | str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> SelectorConfig:
    """Load and validate the selector's settings.

    ``source`` is a mapping or a YAML file (a mapping of setting → value); ``None`` reads the file named
    by ``HEAN_SELECTOR_CONFIG`` when set, else the defaults. ``HEAN_ACTIONS_ENABLED``, when set,
    overrides ``actions_enabled``. Raises :class:`SelectorConfigError` naming every refused field.
    """
    environ = os.environ if env is None else env
    data: dict[str, Any]
    if source is None:
        named = environ.get(SELECTOR_CONFIG_ENV, "").strip()
        source = Path(named) if named else {}
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SelectorConfigError(f"cannot read selector configuration {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise SelectorConfigError(f"selector configuration {path} is not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise SelectorConfigError(f"selector configuration {path} must be a mapping of setting: value")
        data = dict(loaded)
    else:
        data = dict(source)
    flag = environ.get(ACTIONS_ENABLED_ENV)
    if flag is not None and flag.strip():
        data["actions_enabled"] = _env_flag(flag)
    try:
        return SelectorConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
        )
        raise SelectorConfigError(f"selector configuration refused: {problems}") from exc
