"""No key: the deterministic offline generator, through the same validation and safety path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.factory.backends import (
    DEFAULT_OPENAI_MODEL,
    FactoryBackendError,
    OfflineBackend,
    OpenAIBackend,
    OpenAISettings,
    backend_from_env,
)
from hean_pipelines.factory.generate import build_context, build_request, generate_for_day, render_run
from hean_pipelines.factory.model import Limits
from hean_pipelines.factory.validation import validate_response
from hean_pipelines.registry import load_catalog, sync_catalog
from hean_pipelines.warehouse.connection import writer

DAY = date(2026, 1, 5)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(tmp_path / "hean.duckdb") as c:
        sync_catalog(c, load_catalog())
        yield c


def test_no_key_means_offline() -> None:
    backend = backend_from_env({})
    assert isinstance(backend, OfflineBackend)
    assert backend.name == "offline" and backend.reason == "OPENAI_API_KEY is not set"
    assert isinstance(backend_from_env({"OPENAI_API_KEY": "  "}), OfflineBackend)


def test_a_key_means_openai_unless_forced_offline() -> None:
    backend = backend_from_env({"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert isinstance(backend, OpenAIBackend)
    assert backend.settings.base_url == "http://127.0.0.1:9/v1"
    assert backend.model == DEFAULT_OPENAI_MODEL
    forced = backend_from_env({"OPENAI_API_KEY": "sk-x", "HEAN_FACTORY_BACKEND": "offline"})
    assert isinstance(forced, OfflineBackend)
    with pytest.raises(FactoryBackendError, match="OPENAI_API_KEY is not set"):
        backend_from_env({"HEAN_FACTORY_BACKEND": "openai"})


def test_openai_settings_from_env() -> None:
    settings = OpenAISettings.from_env(
        {
            "OPENAI_API_KEY": "sk-x",
            "HEAN_OPENAI_MODEL": "gpt-other",
            "HEAN_OPENAI_TIMEOUT_S": "12.5",
            "HEAN_OPENAI_MAX_RETRIES": "4",
            "HEAN_OPENAI_SEED": "none",
            "HEAN_OPENAI_TEMPERATURE": "0",
            "HEAN_OPENAI_RESPONSE_FORMAT": "json_object",
        }
    )
    assert settings is not None
    assert (settings.model, settings.timeout_s, settings.max_retries) == ("gpt-other", 12.5, 4)
    assert settings.seed is None and settings.temperature == 0.0
    assert settings.response_format == "json_object"
    assert "sk-x" not in repr(settings)
    defaults = OpenAISettings.from_env({"OPENAI_API_KEY": "sk-x"})
    assert defaults is not None and (defaults.seed, defaults.temperature) == (42, 0.3)
    with pytest.raises(ValueError, match="HEAN_OPENAI_RESPONSE_FORMAT"):
        OpenAISettings.from_env({"OPENAI_API_KEY": "sk-x", "HEAN_OPENAI_RESPONSE_FORMAT": "xml"})


def test_offline_output_passes_validation(conn: duckdb.DuckDBPyConnection) -> None:
    backend = OfflineBackend()
    for offset in range(10):
        request = build_request(build_context(conn, DAY + timedelta(days=offset)))
        response = backend.complete(request)
        check = validate_response(response.text, Limits())
        assert not check.problems
        assert len(check.candidates) == 3
        for candidate in check.candidates:
            assert candidate.valid, candidate.reasons


def test_offline_is_deterministic_and_varies_with_the_day(conn: duckdb.DuckDBPyConnection) -> None:
    backend = OfflineBackend()
    request = build_request(build_context(conn, DAY))
    assert backend.complete(request).text == backend.complete(request).text
    other = backend.complete(build_request(build_context(conn, DAY + timedelta(days=1)))).text
    assert other != backend.complete(request).text
    # A re-ask (extra messages) does not change the proposals.
    assert backend.complete(request.with_feedback("x", ["problem"])).text == backend.complete(request).text


def test_offline_with_an_empty_registry_uses_a_baseline(tmp_path: Path) -> None:
    with writer(tmp_path / "empty.duckdb") as conn:
        run = generate_for_day(conn, DAY, OfflineBackend())
    assert run.accepted_count == 3
    assert all(c.process_id and c.process_id.startswith("baseline_trend_") for c in run.accepted)


def test_offline_skips_processes_the_selector_killed(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA selection")
    conn.execute("CREATE TABLE selection.scores (as_of DATE, process_id VARCHAR, decision VARCHAR, reasons VARCHAR)")
    conn.execute(
        "INSERT INTO selection.scores VALUES (?, 'loser_meanrev', 'KILLED', '[\"DSR 0.02 below 0.95\"]'), "
        "(?, 'edge_momentum', 'SCALING', '[\"DSR 0.97\"]')",
        [DAY, DAY],
    )
    run = generate_for_day(conn, DAY, OfflineBackend(), config=None)
    bases = {c.process_id.rsplit("_", 2)[0] for c in run.accepted if c.process_id}
    assert not any(b.startswith("loser_meanrev") for b in bases)
    assert run.accepted[0].process_id is not None and run.accepted[0].process_id.startswith("edge_momentum_")


def test_offline_run_registers_and_says_it_ran_offline(conn: duckdb.DuckDBPyConnection) -> None:
    run = generate_for_day(conn, DAY, OfflineBackend())
    assert run.offline and run.backend == "offline" and run.system_fingerprint is None
    assert run.accepted_count == 3 and run.rejected_count == 0
    rows = conn.execute(
        "SELECT source, status, allocated_capital, valid_from FROM registry.processes WHERE source = 'offline'"
    ).fetchall()
    assert rows == [("offline", "proposed", 0, DAY + timedelta(days=1))] * 3
    text = render_run(run)
    assert text.splitlines()[1].startswith("OFFLINE (OPENAI_API_KEY is not set): no model was called")
