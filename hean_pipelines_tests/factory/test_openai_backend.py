"""The OpenAI backend against a REAL HTTP server on loopback speaking the Chat Completions API
(pytest-httpserver): request shape, re-ask, validation, safety, SDK retries, auth failures, cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from hean_pipelines.factory.backends import FactoryAuthError, FactoryBackendError, OpenAIBackend, OpenAISettings
from hean_pipelines.factory.generate import FactoryConfig, FactoryRun, generate_for_day, render_run
from hean_pipelines.factory.model import Limits
from hean_pipelines.registry import load_catalog, sync_catalog
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import writer
from hean_pipelines_tests.factory import chat_completion, reply, valid_proposal

DAY = date(2026, 1, 5)
PATH = "/v1/chat/completions"
REQUIRED_FIELDS = list(valid_proposal())


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(tmp_path / "hean.duckdb") as c:
        sync_catalog(c, load_catalog())
        yield c


def _backend(server: HTTPServer, **overrides: Any) -> OpenAIBackend:
    settings: dict[str, Any] = {
        "api_key": "sk-test-not-a-real-key",
        "model": "gpt-test",
        "base_url": server.url_for("/v1"),
        "timeout_s": 5.0,
        "max_retries": 2,
    }
    settings.update(overrides)
    return OpenAIBackend(OpenAISettings(**settings))


def _serve(server: HTTPServer, *bodies: dict[str, Any] | tuple[dict[str, Any], int, dict[str, str]]) -> None:
    for body in bodies:
        if isinstance(body, tuple):
            payload, status, headers = body
            server.expect_ordered_request(PATH, method="POST").respond_with_json(
                payload, status=status, headers=headers
            )
        else:
            server.expect_ordered_request(PATH, method="POST").respond_with_json(body)


def _requests(server: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(req.get_data(as_text=True)) for req, _ in server.log]


def _run(conn: duckdb.DuckDBPyConnection, backend: OpenAIBackend, **config: Any) -> FactoryRun:
    return generate_for_day(conn, DAY, backend, config=FactoryConfig(**config))


def _walk_objects(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _walk_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_objects(item)


# --------------------------------------------------------------------------------------------- request


def test_request_carries_seed_temperature_and_strict_json_schema(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection
) -> None:
    _serve(httpserver, chat_completion(reply(valid_proposal())))
    run = _run(conn, _backend(httpserver))

    (body,) = _requests(httpserver)
    assert body["model"] == "gpt-test"
    assert body["seed"] == 42
    assert body["temperature"] == 0.3
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "process_proposals"
    schema = fmt["json_schema"]["schema"]
    objects = list(_walk_objects(schema))
    assert objects
    for node in objects:
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])
    proposal = schema["$defs"]["ProcessProposal"]["properties"]
    assert proposal["steps"]["maxItems"] == 20
    assert proposal["human_tasks"]["maxItems"] == 5
    assert "maxLength" not in json.dumps(schema)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "edge_momentum" in body["messages"][1]["content"]  # the registry as of D is in the prompt
    auth = next(req for req, _ in httpserver.log).headers["Authorization"]
    assert auth == "Bearer sk-test-not-a-real-key"

    assert run.accepted_count == 1 and run.rejected_count == 0
    assert run.backend == "openai" and not run.offline
    assert run.model == "gpt-test"
    assert run.system_fingerprint == "fp_test123"
    assert run.total_tokens == 1500 and run.prompt_tokens == 1200 and run.completion_tokens == 300
    assert run.backend_calls == 1 and run.attempts == 1


def test_seed_and_temperature_can_be_omitted(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    _serve(httpserver, chat_completion(reply(valid_proposal())))
    _run(conn, _backend(httpserver, seed=None, temperature=None))
    (body,) = _requests(httpserver)
    assert "seed" not in body and "temperature" not in body


def test_compat_mode_sends_json_object_with_the_schema_in_the_prompt(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection
) -> None:
    _serve(httpserver, chat_completion(reply(valid_proposal())))
    run = _run(conn, _backend(httpserver, response_format="json_object"))
    (body,) = _requests(httpserver)
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert "JSON schema" in system and '"maxItems":20' in system
    assert run.accepted_count == 1


# --------------------------------------------------------------------------------------------- content


def _rows(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT candidate_id, attempt, accepted, reasons, proposed_id FROM factory.candidates ORDER BY candidate_id"
    ).fetchall()


def test_invalid_json_is_rejected_and_re_asked_exactly_once(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection
) -> None:
    _serve(httpserver, chat_completion('{"processes": [ {"id": '), chat_completion(reply(valid_proposal())))
    run = _run(conn, _backend(httpserver))

    first, second = _requests(httpserver)
    assert len(second["messages"]) == 4
    assert second["messages"][2] == {"role": "assistant", "content": '{"processes": [ {"id": '}
    assert "not valid JSON" in second["messages"][3]["content"]
    assert second["seed"] == 42 and first["response_format"] == second["response_format"]

    assert run.attempts == 2 and run.backend_calls == 2
    assert run.accepted_count == 1
    rows = _rows(conn)
    assert [(r[0], r[1], r[2]) for r in rows] == [("a1-00", 1, False), ("a2-01", 2, True)]
    assert "not valid JSON" in json.loads(rows[0][3])[0]
    assert run.total_tokens == 3000  # both replies count


def test_invalid_json_twice_stops_after_two_requests(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    _serve(httpserver, chat_completion("not json"), chat_completion("still {not json"))
    run = _run(conn, _backend(httpserver))
    assert len(httpserver.log) == 2
    assert run.accepted_count == 0 and run.rejected_count == 2
    assert all("not valid JSON" in c.reasons[0] for c in run.rejected)
    assert conn.execute("SELECT count(*) FROM registry.processes WHERE source = 'openai'").fetchone() == (0,)


@pytest.mark.parametrize("missing", REQUIRED_FIELDS)
def test_each_missing_required_field_is_rejected(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection, missing: str
) -> None:
    broken = valid_proposal()
    del broken[missing]
    _serve(httpserver, chat_completion(reply(broken)), chat_completion(reply(broken)))
    run = _run(conn, _backend(httpserver))
    assert len(httpserver.log) == 2  # a schema violation is re-asked once
    assert run.accepted_count == 0
    for outcome in run.rejected:
        assert f"missing required field '{missing}'" in outcome.reasons


def test_a_missing_nested_field_is_named(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    broken = valid_proposal(kill_conditions={"max_drawdown_ratio": 0.2, "max_losing_streak_days": 5})
    _serve(httpserver, chat_completion(reply(broken)), chat_completion(reply(valid_proposal())))
    run = _run(conn, _backend(httpserver))
    first = run.rejected[0]
    assert "missing required field 'kill_conditions.min_total_after_days'" in first.reasons
    assert run.accepted_count == 1


@pytest.mark.parametrize(
    ("field", "count", "message"),
    [("steps", 21, "over budget: 21 steps (at most 20)"), ("human_tasks", 6, "over budget: 6 human tasks (at most 5)")],
)
def test_over_budget_is_rejected(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection, field: str, count: int, message: str
) -> None:
    item = (
        {"type": "wait", "description": "Wait one hour."}
        if field == "steps"
        else {"category": "review_performance", "description": "Review the totals."}
    )
    over = valid_proposal(**{field: [item] * count})
    _serve(httpserver, chat_completion(reply(over)), chat_completion(reply(over)))
    run = _run(conn, _backend(httpserver))
    assert run.accepted_count == 0
    assert all(message in c.reasons for c in run.rejected)
    assert len(httpserver.log) == 2


def test_a_smaller_configured_budget_is_sent_and_enforced(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection
) -> None:
    _serve(httpserver, chat_completion(reply(valid_proposal())), chat_completion(reply(valid_proposal())))
    run = _run(conn, _backend(httpserver), limits=Limits(max_steps=3, max_human_tasks=1))
    body = _requests(httpserver)[0]
    props = body["response_format"]["json_schema"]["schema"]["$defs"]["ProcessProposal"]["properties"]
    assert props["steps"]["maxItems"] == 3 and props["human_tasks"]["maxItems"] == 1
    assert "over budget: 5 steps (at most 3)" in run.rejected[-1].reasons
    assert "over budget: 2 human tasks (at most 1)" in run.rejected[-1].reasons


UNSAFE_CANDIDATES: list[tuple[str, dict[str, Any], str]] = [
    ("pass word", {"description": "Ask for the pass word before trading."}, "credentials"),
    ("fullwidth API key", {"description": "Reads the ＡＰＩ key from the desk."}, "credentials"),
    ("spelled seed phrase", {"risks": ["Losing the s e e d phrase."]}, "credentials"),
    ("2FA", {"human_tasks": [{"category": "respond_to_alert", "description": "Type the 2FA code."}]}, "credentials"),
    ("private key", {"hypothesis": "Sign with the private-key file."}, "credentials"),
    ("hxxp", {"motivation": "Idea from hxxp://forum.example"}, "urls"),
    ("url", {"description": "See https://example.com for the rule."}, "urls"),
    ("0x wallet", {"description": "Send profits to 0x52908400098527886E0F7030069857D2E4169EE7"}, "wallet_addresses"),
    ("Withdraw", {"steps": [{"type": "wait", "description": "Withdraw the profits every Friday."}]}, "funds_movement"),
    ("transfer", {"description": "Transfer USDT between accounts daily."}, "funds_movement"),
    ("zero-width", {"description": "Ask for the pass\u200bword."}, "credentials"),
    ("zero-width withdraw", {"description": "With\u200bdraw at night."}, "funds_movement"),
    ("scraping", {"steps": [{"type": "fetch_market_data", "description": "Scrape the web UI."}]}, "ui_automation"),
    ("browser", {"description": "A headless browser clicks buy."}, "ui_automation"),
]


@pytest.mark.parametrize(("label", "changes", "category"), UNSAFE_CANDIDATES, ids=[u[0] for u in UNSAFE_CANDIDATES])
def test_unsafe_content_is_rejected_and_not_re_asked(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection, label: str, changes: dict[str, Any], category: str
) -> None:
    from hean_pipelines.factory.safety import DENY_CLASSES

    _serve(httpserver, chat_completion(reply(valid_proposal(**changes))))
    run = _run(conn, _backend(httpserver))
    assert len(httpserver.log) == 1
    assert run.accepted_count == 0
    (outcome,) = run.rejected
    assert any(r.startswith(f"unsafe: {DENY_CLASSES[category]}") for r in outcome.reasons), outcome.reasons
    stored = conn.execute("SELECT accepted, reasons, document FROM factory.candidates").fetchall()
    assert stored[0][0] is False
    assert json.loads(stored[0][1]) == list(outcome.reasons)
    assert json.loads(stored[0][2])["id"] == "eth_funding_carry"  # the rejected candidate is kept for review
    assert conn.execute("SELECT count(*) FROM registry.processes WHERE source = 'openai'").fetchone() == (0,)


def test_refusal_is_a_content_failure(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    _serve(
        httpserver,
        chat_completion(None, refusal="I can't help with that."),
        chat_completion(reply(valid_proposal())),
    )
    run = _run(conn, _backend(httpserver))
    assert run.attempts == 2
    assert "the model refused: I can't help with that." in run.rejected[0].reasons
    assert run.accepted_count == 1


# --------------------------------------------------------------------------------------------- transport


def test_429_then_200_succeeds_through_the_sdk_retry(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    _serve(
        httpserver,
        (
            {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}},
            429,
            {"retry-after-ms": "1"},
        ),
        chat_completion(reply(valid_proposal())),
    )
    run = _run(conn, _backend(httpserver, max_retries=2, timeout_s=2.0))
    assert len(httpserver.log) == 2
    assert [resp.status_code for _, resp in httpserver.log] == [429, 200]
    assert run.accepted_count == 1
    assert run.backend_calls == 1  # one call from our side; the retry was the SDK's


def test_429_beyond_max_retries_fails_clearly(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    limited = ({"error": {"message": "Rate limit reached", "type": "requests"}}, 429, {"retry-after-ms": "1"})
    _serve(httpserver, limited, limited)
    with pytest.raises(FactoryBackendError, match="429"):
        _run(conn, _backend(httpserver, max_retries=1, timeout_s=2.0))
    assert len(httpserver.log) == 2


def test_401_fails_at_once_with_a_clear_message(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    error = {
        "error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}
    }
    _serve(httpserver, (error, 401, {}))
    with pytest.raises(FactoryAuthError) as info:
        _run(conn, _backend(httpserver, max_retries=3))
    message = str(info.value)
    assert "refused the credentials (HTTP 401)" in message and "OPENAI_API_KEY" in message
    assert "sk-test-not-a-real-key" not in message
    assert len(httpserver.log) == 1  # no SDK retry, no re-ask
    assert conn.execute("SELECT count(*) FROM factory.candidates").fetchone() == (0,)


def test_400_names_the_setting_to_change(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    error = {"error": {"message": "Unsupported parameter: 'temperature'", "type": "invalid_request_error"}}
    _serve(httpserver, (error, 400, {}))
    with pytest.raises(FactoryBackendError, match="HEAN_OPENAI_TEMPERATURE=none"):
        _run(conn, _backend(httpserver))
    assert len(httpserver.log) == 1


# --------------------------------------------------------------------------------------------- cache


def test_rerun_with_the_same_prompt_uses_the_cache_and_rewrites_identical_tables(
    httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection
) -> None:
    _serve(httpserver, chat_completion("oops"), chat_completion(reply(valid_proposal())))
    first = _run(conn, _backend(httpserver))
    before = {t: table_checksum(conn, t) for t in ("factory.candidates", "registry.processes")}
    assert len(httpserver.log) == 2

    second = _run(conn, _backend(httpserver))
    assert len(httpserver.log) == 2  # no new request
    assert second.backend_calls == 0 and second.cached
    assert {t: table_checksum(conn, t) for t in before} == before
    assert second.candidates == first.candidates
    assert second.system_fingerprint == "fp_test123"
    assert "no backend call" in render_run(second)


def test_stored_row_columns(httpserver: HTTPServer, conn: duckdb.DuckDBPyConnection) -> None:
    _serve(httpserver, chat_completion(reply(valid_proposal())))
    _run(conn, _backend(httpserver))
    row = conn.execute(
        "SELECT date, candidate_id, backend, model, length(prompt_hash), accepted, process_id, link_prefix, "
        "effective_from, response_raw, response_model, system_fingerprint, tokens FROM factory.candidates"
    ).fetchone()
    assert row is not None
    assert row[:9] == (DAY, "a1-01", "openai", "gpt-test", 64, True, "eth_funding_carry", row[7], date(2026, 1, 6))
    assert row[9] == reply(valid_proposal())
    assert row[10:] == ("gpt-test-2026-01-01", "fp_test123", 1500)
    registry = conn.execute(
        "SELECT status, source, kind, allocated_capital, approved_by, link_prefix, valid_from, valid_to "
        "FROM registry.processes WHERE process_id = 'eth_funding_carry'"
    ).fetchall()
    assert registry == [("proposed", "openai", "process", 0, None, row[7], date(2026, 1, 6), None)]
