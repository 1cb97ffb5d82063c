"""Drive Dagster's own daemon code against a temporary project instance (no re-implementation).

* the instance is a fresh DAGSTER_HOME holding a copy of the project's ``dagster.yaml`` (its run
  queue, tag limits, scheduler settings);
* the workspace is the project's ``workspace.yaml``, served by a real gRPC code server started the way
  ``dagster-daemon`` starts it (``create_test_daemon_workspace_context`` uses the daemon's registry);
* schedule ticks go through ``dagster._scheduler.scheduler.launch_scheduled_runs``, sensor ticks
  through ``dagster._daemon.sensor.execute_sensor_iteration``, and queued runs are launched by
  ``QueuedRunCoordinatorDaemon.run_iteration`` -- the default run launcher then starts the run in a
  subprocess of the code server, exactly as under ``dagster-daemon run``.

The clock is frozen (Dagster's ``freeze_time``) in this process only: it decides the schedule's tick
times and the sensors' minimum intervals; the code server and the runs keep the real clock.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster._core.remote_representation.external import RemoteSchedule, RemoteSensor
from dagster._core.scheduler import DagsterDaemonScheduler
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time, poll_for_finished_run
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs

from hean_pipelines.warehouse.connection import reader

REPO = Path(__file__).resolve().parents[3]
LOCATION = "hean_pipelines"
REPOSITORY = "__repository__"
RUN_TIMEOUT_S = 180


class LogRecords(logging.Handler):
    """Collects what the daemon logs, to show which code path it took."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def daemon_logger(name: str) -> tuple[logging.Logger, LogRecords]:
    logger = logging.getLogger(f"hean_tests.daemon.{name}")
    logger.setLevel(logging.DEBUG)
    records = LogRecords()
    logger.addHandler(records)
    return logger, records


def project_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a throw-away project: its own DAGSTER_HOME, DuckDB file and failure log."""
    home = tmp_path / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "HEAN_DUCKDB_PATH": str(tmp_path / "hean.duckdb"),
        "HEAN_SOURCE": "sandbox",
        "HEAN_RUN_FAILURE_LOG": str(tmp_path / "run_failures.log"),
    }
    env.update(extra)
    return env


@contextmanager
def project_instance(tmp_path: Path, **extra: str) -> Iterator[dg.DagsterInstance]:
    """Point this process (and the code server it will start) at a throw-away project; restore after."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("BYBIT_", "HEAN_", "DAGSTER_", "OPENAI_")):
            del os.environ[name]
    os.environ.update(project_env(tmp_path, **extra))
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def daemon_workspace(instance: dg.DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    """The project's workspace.yaml, loaded the way dagster-daemon loads it (a gRPC code server)."""
    target = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
    with create_test_daemon_workspace_context(target, instance) as context:
        yield context


def remote_schedule(context: WorkspaceProcessContext, name: str) -> RemoteSchedule:
    location = context.create_request_context().get_code_location(LOCATION)
    return location.get_repository(REPOSITORY).get_schedule(name)


def remote_sensor(context: WorkspaceProcessContext, name: str) -> RemoteSensor:
    location = context.create_request_context().get_code_location(LOCATION)
    return location.get_repository(REPOSITORY).get_sensor(name)


def tick_schedules(
    context: WorkspaceProcessContext,
    at: datetime,
    logger: logging.Logger | None = None,
    debug_crash_flags: dict | None = None,
) -> list:
    """One scheduler iteration at ``at``, with the instance's own scheduler settings (dagster.yaml)."""
    scheduler = context.instance.scheduler
    assert isinstance(scheduler, DagsterDaemonScheduler)
    with freeze_time(at):
        return list(
            launch_scheduled_runs(
                context,
                logger or logging.getLogger("hean_tests.daemon"),
                at,
                iteration_times={},
                max_catchup_runs=scheduler.max_catchup_runs,
                max_tick_retries=scheduler.max_tick_retries,
                debug_crash_flags=debug_crash_flags,
            )
        )


def only_sensor(context: WorkspaceProcessContext, name: str) -> None:
    """Stop every other sensor (as a person would in the UI), so an iteration evaluates just this one."""
    repo = context.create_request_context().get_code_location(LOCATION).get_repository(REPOSITORY)
    for sensor in repo.get_sensors():
        if sensor.name != name:
            context.instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


def tick_sensors(context: WorkspaceProcessContext, at: datetime, logger: logging.Logger | None = None) -> list:
    """One sensor-daemon iteration at ``at`` (sensors under their minimum interval are not evaluated)."""
    with freeze_time(at):
        return list(
            execute_sensor_iteration(
                context,
                logger or logging.getLogger("hean_tests.daemon"),
                threadpool_executor=None,
                submit_threadpool_executor=None,
            )
        )


def sensor_ticks(context: WorkspaceProcessContext, name: str) -> list:
    sensor = remote_sensor(context, name)
    return list(context.instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id))


def launch_queued_runs(context: WorkspaceProcessContext) -> None:
    """One run-queue daemon iteration: queued runs go to the run launcher (a subprocess per run)."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    with daemon:
        list(daemon.run_iteration(context))


def wait_for_run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    return poll_for_finished_run(instance, run_id, timeout=RUN_TIMEOUT_S)


def table_checksums(db: Path) -> dict[str, str]:
    """Checksums of every table in the warehouse except the HTTP request log (a log, not data)."""
    from hean_pipelines.warehouse.checksum import table_checksum

    with reader(db) as conn:
        tables = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() AND NOT temporary ORDER BY 1, 2"
            ).fetchall()
        ]
        return {t: table_checksum(conn, t) for t in tables if t != "raw.api_requests"}
