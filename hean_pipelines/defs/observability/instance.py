"""The Dagster instance as a metrics source: run and check status for :mod:`hean_pipelines.metrics`."""

import logging
import os

import dagster as dg

from hean_pipelines.defs.instance_status import (
    asset_statuses,
    last_successful_run,
    latest_check_results,
    project_check_specs,
)
from hean_pipelines.metrics.pipeline_status import PipelineStatus, PipelineStatusReader

log = logging.getLogger(__name__)


def pipeline_status(instance: dg.DagsterInstance) -> PipelineStatus:
    """Last successful daily run, latest materialization per asset, latest evaluation per check."""
    return PipelineStatus(
        last_successful_run=last_successful_run(instance),
        assets=tuple(asset_statuses(instance, list(instance.get_asset_keys()))),
        checks=tuple(latest_check_results(instance)),
    )


def status_reader_for(instance: dg.DagsterInstance) -> PipelineStatusReader:
    return lambda: pipeline_status(instance)


def configured_status_reader() -> PipelineStatusReader | None:
    """A reader over the instance in ``DAGSTER_HOME``; None (and a log line) when there is none."""
    if not os.environ.get("DAGSTER_HOME"):
        log.warning("DAGSTER_HOME is not set: run and check metrics are left out (hean_dagster_instance_up 0)")
        return None
    try:
        instance = dg.DagsterInstance.get()
        project_check_specs()  # loads the definitions once now, so the first scrape is as quick as the others
    except Exception as exc:  # a misconfigured instance must not stop the exporter
        log.warning(
            "Dagster instance unavailable (%s: %s): run and check metrics are left out", type(exc).__name__, exc
        )
        return None
    return status_reader_for(instance)
