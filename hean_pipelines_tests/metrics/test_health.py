"""The health score: each component at its boundaries, and the weighted mean over what is known."""

from __future__ import annotations

import math

import pytest

from hean_pipelines.metrics.health import HealthInputs, freshness, health_components, health_score

HOUR = 3600.0


def _inputs(**overrides: object) -> HealthInputs:
    values: dict[str, object] = {
        "staleness_seconds": 2 * HOUR,
        "failed_error_checks": 0,
        "failed_warn_checks": 0,
        "api_requests": 100,
        "api_errors": 0,
        "drawdown_ratio": 0.0,
        "drawdown_limit": 0.1,
    }
    values.update(overrides)
    return HealthInputs(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("staleness_h", "expected"),
    [(0.5, 1.0), (26, 1.0), (38, 0.5), (50, 0.0), (400, 0.0)],
)
def test_freshness_is_full_for_26_hours_then_falls_to_zero_at_50(staleness_h: float, expected: float) -> None:
    assert freshness(staleness_h * HOUR) == pytest.approx(expected)


def test_nothing_attributed_is_not_fresh() -> None:
    assert freshness(None) == 0.0


def test_a_healthy_pipeline_scores_one() -> None:
    components = health_components(_inputs())
    assert components == {"freshness": 1.0, "checks": 1.0, "api_errors": 1.0, "drawdown": 1.0}
    assert health_score(components) == 1.0


def test_checks_error_beats_warn() -> None:
    assert health_components(_inputs(failed_error_checks=1, failed_warn_checks=3))["checks"] == 0.0
    assert health_components(_inputs(failed_warn_checks=1))["checks"] == 0.5


def test_api_errors_are_a_share_and_no_requests_is_no_evidence_of_errors() -> None:
    assert health_components(_inputs(api_requests=40, api_errors=10))["api_errors"] == 0.75
    assert health_components(_inputs(api_requests=0, api_errors=0))["api_errors"] == 1.0


def test_drawdown_falls_to_zero_at_the_limit_and_stays_there() -> None:
    assert health_components(_inputs(drawdown_ratio=0.025))["drawdown"] == pytest.approx(0.75)
    assert health_components(_inputs(drawdown_ratio=0.1))["drawdown"] == 0.0
    assert health_components(_inputs(drawdown_ratio=0.3))["drawdown"] == 0.0


def test_the_score_is_the_weighted_mean_of_the_components() -> None:
    components = health_components(
        _inputs(staleness_seconds=38 * HOUR, failed_warn_checks=2, api_requests=10, api_errors=1, drawdown_ratio=0.05)
    )
    # 0.3 x 0.5 + 0.3 x 0.5 + 0.2 x 0.9 + 0.2 x 0.5, written out by hand from the README's table.
    assert math.isclose(health_score(components), 0.15 + 0.15 + 0.18 + 0.10, rel_tol=1e-12)


def test_unknown_parts_are_left_out_and_the_weights_renormalised() -> None:
    # No Dagster instance and nothing attributed: freshness 0, api_errors 1 (weights 0.3 and 0.2).
    components = health_components(_inputs(staleness_seconds=None, failed_error_checks=None, drawdown_ratio=None))
    assert components == {"freshness": 0.0, "api_errors": 1.0}
    assert math.isclose(health_score(components), 0.2 / 0.5, rel_tol=1e-12)
