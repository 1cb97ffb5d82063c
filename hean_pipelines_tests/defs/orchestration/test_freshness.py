"""Freshness checks: WARN once the last closed day's partition is missing after 02:00 UTC; never in daily_pipeline."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from hean_pipelines.definitions import defs
from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB
from hean_pipelines.defs.orchestration.freshness import DAILY_ASSETS, freshness_check_keys
from hean_pipelines.pipeline_runner import run_days
from hean_pipelines_tests.defs.orchestration.daemon import project_instance


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    """2026-01-05 and 2026-01-06 materialized, for real, in a throw-away instance."""
    with project_instance(tmp_path_factory.mktemp("fresh")) as instance:
        assert run_days(date(2026, 1, 5), date(2026, 1, 6)).success
        yield instance


def _evaluate(instance: dg.DagsterInstance, at: datetime) -> Sequence[dg.AssetCheckEvaluation]:
    job = defs().resolve_implicit_global_asset_job_def()
    checks_only = job.get_subset(asset_check_selection=set(freshness_check_keys()), asset_selection=set())
    with freeze_time(at):
        result = checks_only.execute_in_process(instance=instance)
    return result.get_asset_check_evaluations()


@pytest.mark.parametrize(
    ("at", "passed"),
    [
        # Before 02:00 the deadline in force is yesterday's: it asks for the day before yesterday.
        (datetime(2026, 1, 7, 1, 59, tzinfo=UTC), True),
        # From 02:00 it asks for yesterday (2026-01-06): there.
        (datetime(2026, 1, 7, 2, 0, tzinfo=UTC), True),
        # A day later it asks for 2026-01-07, which never ran: late, WARN.
        (datetime(2026, 1, 8, 2, 0, 1, tzinfo=UTC), False),
    ],
)
def test_every_daily_asset_warns_when_the_last_closed_day_is_missing_after_the_deadline(
    two_days: dg.DagsterInstance, at: datetime, passed: bool
) -> None:
    evaluations = _evaluate(two_days, at)
    assert {e.asset_key.to_user_string() for e in evaluations} == set(DAILY_ASSETS)
    assert all(e.passed is passed for e in evaluations)
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evaluations)


def test_daily_pipeline_runs_every_check_but_the_freshness_checks() -> None:
    # `hean run` of January days is not judged by today's clock: the checks run from their sensor only.
    definitions = defs()
    in_job = definitions.resolve_job_def(DAILY_PIPELINE_JOB).asset_layer.asset_graph.asset_check_keys
    everywhere = definitions.resolve_asset_graph().asset_check_keys
    freshness = set(freshness_check_keys())
    assert freshness <= everywhere
    assert in_job == everywhere - freshness
