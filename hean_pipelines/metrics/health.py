"""The health score: one number in [0, 1] a person can alert on, and the four components behind it.

=============  ======  =====================================================================================
component      weight  value
=============  ======  =====================================================================================
freshness      0.3     1 while the last attributed day closed at most 26 h ago (the daily run at 00:15 UTC
                       has had almost two hours), falling linearly to 0 at 50 h (a whole day missed)
checks         0.3     1 when every check's latest evaluation passed; 0.5 when only WARN checks fail; 0 when
                       an ERROR check fails. Unknown (no Dagster instance): left out
api_errors     0.2     1 - errors / requests over the request log's last 24 hours; 1 without requests
drawdown       0.2     1 - drawdown / limit, clipped to [0, 1]: 0 at the drawdown limit. Unknown (nothing
                       attributed yet): left out
=============  ======  =====================================================================================

score = Σ weight × value / Σ weight, over the known components (so an unknown part neither helps nor hurts).
Nothing attributed yet makes freshness 0: no data is not fresh data.
"""

from __future__ import annotations

from dataclasses import dataclass

FRESH_FOR_S = 26 * 3600.0
STALE_AFTER_S = 50 * 3600.0

WEIGHTS: dict[str, float] = {"freshness": 0.3, "checks": 0.3, "api_errors": 0.2, "drawdown": 0.2}


@dataclass(frozen=True)
class HealthInputs:
    staleness_seconds: float | None
    """Seconds since the last attributed day closed; None when nothing is attributed."""
    failed_error_checks: int | None
    """ERROR checks whose latest evaluation failed; None when the Dagster instance is unknown."""
    failed_warn_checks: int | None
    api_requests: int
    api_errors: int
    drawdown_ratio: float | None
    drawdown_limit: float


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def freshness(staleness_seconds: float | None) -> float:
    if staleness_seconds is None:
        return 0.0
    return _clip((STALE_AFTER_S - staleness_seconds) / (STALE_AFTER_S - FRESH_FOR_S))


def health_components(inputs: HealthInputs) -> dict[str, float]:
    """The known components, by name."""
    components = {"freshness": freshness(inputs.staleness_seconds)}
    if inputs.failed_error_checks is not None:
        if inputs.failed_error_checks > 0:
            components["checks"] = 0.0
        elif inputs.failed_warn_checks:
            components["checks"] = 0.5
        else:
            components["checks"] = 1.0
    components["api_errors"] = 1.0 - inputs.api_errors / inputs.api_requests if inputs.api_requests else 1.0
    if inputs.drawdown_ratio is not None:
        components["drawdown"] = _clip(1.0 - inputs.drawdown_ratio / inputs.drawdown_limit)
    return components


def health_score(components: dict[str, float]) -> float:
    """Weighted mean of the known components."""
    weight = sum(WEIGHTS[name] for name in components)
    return sum(WEIGHTS[name] * value for name, value in components.items()) / weight
