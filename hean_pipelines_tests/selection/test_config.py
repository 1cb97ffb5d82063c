"""SelectorConfig: defaults, the documented table, and refusals at load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hean_pipelines.selection.config import (
    SelectorConfig,
    SelectorConfigError,
    defaults_table,
    kish_limit,
    load_selector_config,
)
from hean_pipelines.selection.stats import kish_effective_sample_size


def test_defaults_are_valid_and_conservative() -> None:
    config = SelectorConfig()
    assert config.min_runs == 10
    assert config.min_effective_n == 10
    assert config.actions_enabled is False
    assert config.psr_threshold == config.dsr_threshold == 0.95
    assert kish_limit(config.half_life_days) >= config.min_effective_n


def test_defaults_table_lists_every_setting_with_its_meaning() -> None:
    table = defaults_table()
    assert [name for name, _, _ in table] == list(SelectorConfig.model_fields)
    assert table == SelectorConfig.defaults_table()
    config = SelectorConfig()
    for name, value, meaning in table:
        assert getattr(config, name) == value
        assert len(meaning) > 20, name


def test_kish_limit_matches_long_daily_histories() -> None:
    for half_life in (3.5, 10.0, 30.0):
        lam = 2.0 ** (-1.0 / half_life)
        weights = [lam**k for k in range(5000)]
        assert kish_effective_sample_size(weights) == pytest.approx(kish_limit(half_life), rel=1e-9)
    # Long half-lives: about 2.885·h (2/ln 2).
    assert kish_limit(100.0) == pytest.approx(200 / math.log(2), rel=1e-3)


def test_a_half_life_that_can_never_reach_the_minimum_is_refused() -> None:
    # (1+λ)/(1−λ) = 10 ⇔ λ = 9/11 ⇔ h = −1/log2(9/11) ≈ 3.454 days.
    with pytest.raises(ValueError, match=r"can never reach min_effective_n=10.*half_life_days ≥ 3\.45"):
        SelectorConfig(half_life_days=3.0)
    assert SelectorConfig(half_life_days=3.5).half_life_days == 3.5
    with pytest.raises(ValueError, match="can never reach"):
        SelectorConfig(half_life_days=10, min_effective_n=40)


@pytest.mark.parametrize(
    "settings",
    [
        {"min_runs": 1},
        {"psr_threshold": 1.0},
        {"dsr_threshold": 0.4},
        {"loser_psr_threshold": 1.2},
        {"regime_min_positive_buckets": 1},
        {"regime_min_positive_buckets": 4},
        {"regime_max_concentration": 0.0},
        {"holdout_min_sharpe_fraction": -0.1},
        {"holdout_days": 3, "holdout_min_runs": 5},
        {"pbo_splits": 7},
        {"half_life_days": 0},
        {"no_such_setting": 1},
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(SelectorConfigError, match="selector configuration refused"):
        load_selector_config(settings, env={})


def test_config_is_frozen() -> None:
    config = SelectorConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.min_runs = 3


def test_load_from_yaml_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "selector.yaml"
    path.write_text("half_life_days: 45\nholdout_days: 21\n", encoding="utf-8")
    config = load_selector_config(path, env={})
    assert (config.half_life_days, config.holdout_days, config.actions_enabled) == (45, 21, False)

    via_env = load_selector_config(env={"HEAN_SELECTOR_CONFIG": str(path), "HEAN_ACTIONS_ENABLED": "true"})
    assert via_env.half_life_days == 45
    assert via_env.actions_enabled is True
    assert load_selector_config(env={}) == SelectorConfig()

    with pytest.raises(SelectorConfigError, match="HEAN_ACTIONS_ENABLED"):
        load_selector_config(env={"HEAN_ACTIONS_ENABLED": "maybe"})
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(SelectorConfigError, match="must be a mapping"):
        load_selector_config(path, env={})
    with pytest.raises(SelectorConfigError, match="cannot read"):
        load_selector_config(tmp_path / "missing.yaml", env={})
