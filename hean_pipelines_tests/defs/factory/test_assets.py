"""The `generated_processes` asset lets the warehouse's one writer go while the model answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from hean_pipelines.defs.factory.assets import generated_processes
from hean_pipelines.defs.resources import WarehouseResource
from hean_pipelines.registry import load_catalog, sync_catalog
from hean_pipelines.warehouse.connection import writer
from hean_pipelines_tests.factory import chat_completion, reply, valid_proposal

DAY = "2026-01-05"


def test_another_process_can_write_while_the_model_answers(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "hean.duckdb"
    with writer(db) as conn:
        sync_catalog(conn, load_catalog())
    writes_during_call: list[int] = []

    def answer(_request: Request) -> Response:
        # A separate process (DuckDB's lock is per process) takes the writer lock, as a user's SQL would.
        probe = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(db)!r}).execute('CHECKPOINT')"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        writes_during_call.append(probe.returncode)
        return Response(json.dumps(chat_completion(reply(valid_proposal()))), content_type="application/json")

    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(answer)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", httpserver.url_for("/v1"))
    monkeypatch.setenv("HEAN_FACTORY_BACKEND", "openai")
    result = dg.materialize(
        [generated_processes], partition_key=DAY, resources={"warehouse": WarehouseResource(database=str(db))}
    )
    assert result.success
    assert writes_during_call == [0]
    (materialization,) = result.asset_materializations_for_node("generated_processes")
    assert materialization.metadata["accepted"].value == 1
