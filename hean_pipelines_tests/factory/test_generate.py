"""The day's run: prompt as of D, registration effective D+1, re-runs, determinism, rendering."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import pytest

from hean_pipelines.factory.backends import (
    BackendResponse,
    FactoryAuthError,
    GenerationRequest,
    OfflineBackend,
)
from hean_pipelines.factory.generate import (
    FactoryConfig,
    build_context,
    build_request,
    generate_for_day,
    render_run,
)
from hean_pipelines.factory.store import assign_link_prefix
from hean_pipelines.registry import load_catalog, parse_catalog, record_status_change, registry_as_of, sync_catalog
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import transaction, writer
from hean_pipelines_tests.factory import reply, valid_proposal

DAY = date(2026, 1, 5)
NEXT = DAY + timedelta(days=1)
TABLES = ("factory.candidates", "registry.processes")


@dataclass
class ScriptedBackend:
    """Answers with the given texts in turn (the last one repeats) and records every request."""

    texts: list[str]
    model: str = "scripted-model"
    name: Literal["openai", "offline"] = "openai"
    requests: list[GenerationRequest] = field(default_factory=list)

    def request_settings(self) -> Mapping[str, Any]:
        return {"scripted": True}

    def complete(self, request: GenerationRequest) -> BackendResponse:
        self.requests.append(request)
        text = self.texts[min(len(self.requests) - 1, len(self.texts) - 1)]
        return BackendResponse(text=text, response_model=self.model, system_fingerprint="fp_s", total_tokens=10)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "hean.duckdb"


@pytest.fixture
def conn(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with writer(db) as c:
        sync_catalog(c, load_catalog())
        yield c


def _checksums(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {t: table_checksum(conn, t) for t in TABLES}


def _factory_rows(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT process_id, valid_from, valid_to, status, source, kind, link_prefix, allocated_capital, approved_by "
        "FROM registry.processes WHERE source IN ('openai', 'offline') ORDER BY process_id"
    ).fetchall()


# --------------------------------------------------------------------------------------------- registration


def test_accepted_candidates_become_proposed_rows_effective_the_next_day(conn: duckdb.DuckDBPyConnection) -> None:
    second = valid_proposal(id="btc_basis_spread", name="BTC basis", type="basis_spread", instruments=["BTCUSDT"])
    run = generate_for_day(conn, DAY, ScriptedBackend([reply(valid_proposal(), second)]), config=FactoryConfig())
    assert run.accepted_count == 2
    rows = _factory_rows(conn)
    assert [r[0] for r in rows] == ["btc_basis_spread", "eth_funding_carry"]
    for r in rows:
        assert r[1:6] == (NEXT, None, "proposed", "openai", "process")
        assert r[7] == 0 and r[8] is None
        assert re.fullmatch(r"gen[0-9a-f]{8,}", r[6])
    # Not in force on D, in force (as proposed, capital 0) on D+1.
    assert "eth_funding_carry" not in {e.process_id for e in registry_as_of(conn, DAY)}
    entry = next(e for e in registry_as_of(conn, NEXT) if e.process_id == "eth_funding_carry")
    assert entry.status == "proposed" and entry.allocated_capital == 0
    assert entry.document["proposal"]["type"] == "carry_funding"
    assert entry.document["kill_conditions"]["max_drawdown_ratio"] == "0.2"
    assert entry.document["origin"]["candidate_id"] == "a1-01"
    # Every prefix is unique and none is a prefix of another (a catalog sync still accepts the table).
    prefixes = [
        p
        for (p,) in conn.execute(
            "SELECT DISTINCT link_prefix FROM registry.processes WHERE link_prefix IS NOT NULL"
        ).fetchall()
    ]
    for a in prefixes:
        for b in prefixes:
            assert a == b or not a.lower().startswith(b.lower())
    sync_catalog(conn, load_catalog())
    assert len(_factory_rows(conn)) == 2


def test_link_prefix_is_stable_and_avoids_every_clash() -> None:
    assert assign_link_prefix("eth_funding_carry", []) == assign_link_prefix("eth_funding_carry", ["edge"])
    first = assign_link_prefix("eth_funding_carry", [])
    assert re.fullmatch(r"gen[0-9a-f]{8}", first)
    longer = assign_link_prefix("eth_funding_carry", [first])
    assert longer != first and not longer.startswith(first) and not first.startswith(longer)
    assert assign_link_prefix("x", ["GEN"]).startswith("fac")  # a catalog prefix 'gen' blocks the stem
    assert assign_link_prefix("x", ["g"]).startswith("fac")


def test_ids_already_in_the_registry_and_duplicates_are_rejected(conn: duckdb.DuckDBPyConnection) -> None:
    text = reply(valid_proposal(id="edge_momentum"), valid_proposal(), valid_proposal(name="Again"))
    run = generate_for_day(conn, DAY, ScriptedBackend([text]))
    assert [c.accepted for c in run.candidates] == [False, True, False]
    assert "process id 'edge_momentum' is already in the registry (ids are never reused)" in run.candidates[0].reasons
    assert any(r.startswith("duplicate:") for r in run.candidates[2].reasons)
    # Later days cannot reuse the id either.
    later = generate_for_day(conn, NEXT, ScriptedBackend([reply(valid_proposal())]))
    assert later.accepted_count == 0
    assert "already in the registry" in later.rejected[0].reasons[0]


def test_every_candidate_is_stored_with_reasons(conn: duckdb.DuckDBPyConnection) -> None:
    text = reply(valid_proposal(), valid_proposal(id="bad id"), valid_proposal(id="btc_x", description="Withdraw"))
    generate_for_day(conn, DAY, ScriptedBackend([text, reply(valid_proposal())]), config=FactoryConfig(reask=False))
    rows = conn.execute(
        "SELECT candidate_id, accepted, reasons FROM factory.candidates ORDER BY candidate_id"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("a1-01", True), ("a1-02", False), ("a1-03", False)]
    assert json.loads(rows[0][2])[0].startswith("passed validation and safety; registered as proposed process")
    assert any("snake_case" in r for r in json.loads(rows[1][2]))
    assert json.loads(rows[2][2])[0].startswith("unsafe: moves funds")


def test_a_re_asked_reply_supersedes_the_first(conn: duckdb.DuckDBPyConnection) -> None:
    first = reply(valid_proposal(id="good_one"), valid_proposal(id="broken_one", steps="x"))
    backend = ScriptedBackend([first, reply(valid_proposal())])
    run = generate_for_day(conn, DAY, backend)
    assert len(backend.requests) == 2 and backend.requests[1].attempt == 2
    assert "processes[1]: 'steps' has the wrong type" in backend.requests[1].messages[-1].content
    by_id = {c.candidate_id: c for c in run.candidates}
    assert not by_id["a1-01"].accepted and by_id["a1-01"].reasons[-1].startswith("superseded")
    assert by_id["a2-01"].accepted
    assert [r[0] for r in _factory_rows(conn)] == ["eth_funding_carry"]


def test_backend_failure_writes_nothing(conn: duckdb.DuckDBPyConnection) -> None:
    class Refused(ScriptedBackend):
        def complete(self, request: GenerationRequest) -> BackendResponse:
            raise FactoryAuthError("refused")

    before = conn.execute("SELECT count(*) FROM registry.processes").fetchone()
    with pytest.raises(FactoryAuthError):
        generate_for_day(conn, DAY, Refused([]))
    assert conn.execute("SELECT count(*) FROM registry.processes").fetchone() == before
    assert conn.execute("SELECT count(*) FROM factory.candidates").fetchone() == (0,)


def test_backend_name_must_be_a_registry_source(conn: duckdb.DuckDBPyConnection) -> None:
    backend = ScriptedBackend([reply()])
    backend.name = "catalog"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="backend name"):
        generate_for_day(conn, DAY, backend)


def test_an_empty_reply_is_recorded(conn: duckdb.DuckDBPyConnection) -> None:
    run = generate_for_day(conn, DAY, ScriptedBackend([reply()]))
    assert run.accepted_count == 0
    assert run.rejected[0].reasons == ("the reply proposes no process",)


def test_works_inside_the_callers_transaction(conn: duckdb.DuckDBPyConnection) -> None:
    with transaction(conn):
        generate_for_day(conn, DAY, ScriptedBackend([reply(valid_proposal())]))
    assert len(_factory_rows(conn)) == 1


# --------------------------------------------------------------------------------------------- re-runs


def test_same_inputs_give_the_same_tables(tmp_path: Path) -> None:
    checksums = []
    registered = []
    for name in ("a", "b"):
        with writer(tmp_path / f"{name}.duckdb") as conn:
            sync_catalog(conn, load_catalog())
            for offset in range(3):
                generate_for_day(conn, DAY + timedelta(days=offset), OfflineBackend())
            checksums.append(_checksums(conn))
            registered.append(_factory_rows(conn))
    assert checksums[0] == checksums[1]
    assert registered[0] == registered[1]
    assert len(registered[0]) == 9


def test_rerunning_a_day_replays_the_cache_and_is_byte_identical(conn: duckdb.DuckDBPyConnection) -> None:
    backend = ScriptedBackend(["not json", reply(valid_proposal())])
    first = generate_for_day(conn, DAY, backend)
    before = _checksums(conn)
    again = generate_for_day(conn, DAY, backend)
    assert len(backend.requests) == 2  # the re-run did not call the backend
    assert again.backend_calls == 0 and again.cached
    assert again.candidates == first.candidates
    assert _checksums(conn) == before
    assert conn.execute("SELECT count(*) FROM factory.candidates").fetchone() == (2,)


def test_a_new_prompt_replaces_the_days_candidates_and_proposals(conn: duckdb.DuckDBPyConnection) -> None:
    generate_for_day(conn, DAY, ScriptedBackend([reply(valid_proposal())]))
    assert [r[0] for r in _factory_rows(conn)] == ["eth_funding_carry"]
    other = ScriptedBackend(
        [reply(valid_proposal(id="sol_breakout", type="breakout", instruments=["SOLUSDT"]))], model="m2"
    )
    run = generate_for_day(conn, DAY, other)
    assert len(other.requests) == 1  # another model: another cache key
    assert [r[0] for r in _factory_rows(conn)] == ["sol_breakout"]
    assert run.withdrawn_proposals == ("eth_funding_carry",)
    assert conn.execute("SELECT DISTINCT model FROM factory.candidates").fetchall() == [("m2",)]
    # And back: the first proposal returns, with the same prefix, and no duplicates anywhere.
    prefix_before = assign_link_prefix("eth_funding_carry", ["edge", "loser", "noise"])
    generate_for_day(conn, DAY, ScriptedBackend([reply(valid_proposal())]))
    rows = _factory_rows(conn)
    assert [(r[0], r[6]) for r in rows] == [("eth_funding_carry", prefix_before)]


def test_use_cache_false_calls_the_backend_again(conn: duckdb.DuckDBPyConnection) -> None:
    backend = ScriptedBackend([reply(valid_proposal())])
    generate_for_day(conn, DAY, backend)
    before = _checksums(conn)
    generate_for_day(conn, DAY, backend, config=FactoryConfig(use_cache=False))
    assert len(backend.requests) == 2
    assert _checksums(conn) == before


def test_a_proposal_a_human_acted_on_is_kept(conn: duckdb.DuckDBPyConnection) -> None:
    generate_for_day(conn, DAY, ScriptedBackend([reply(valid_proposal())]))
    record_status_change(
        conn,
        process_id="eth_funding_carry",
        to_status="TESTING",
        effective=NEXT + timedelta(days=1),
        source="selector",
        reason="approved by a human",
        approved_by="alice",
    )
    run = generate_for_day(
        conn, DAY, ScriptedBackend([reply(valid_proposal())], model="m2"), config=FactoryConfig(use_cache=False)
    )
    assert run.kept_proposals == ("eth_funding_carry",)
    assert run.accepted_count == 0
    assert "has since been changed in the registry" in run.rejected[0].reasons[0]
    statuses = conn.execute(
        "SELECT valid_from, status FROM registry.processes WHERE process_id = 'eth_funding_carry' ORDER BY valid_from"
    ).fetchall()
    assert statuses == [(NEXT, "proposed"), (NEXT + timedelta(days=1), "TESTING")]


# --------------------------------------------------------------------------------------------- prompt


def test_prompt_reads_registry_and_scores_as_of_the_day(conn: duckdb.DuckDBPyConnection) -> None:
    context = build_context(conn, DAY)
    assert {p.process_id for p in context.processes} == {"edge_momentum", "loser_meanrev", "noise_scalper"}
    assert context.scores == ()
    user = build_request(context).messages[1].content
    assert "The selector has not scored any process yet." in user

    conn.execute("CREATE SCHEMA selection")
    conn.execute(
        "CREATE TABLE selection.scores (as_of DATE, process_id VARCHAR, decision VARCHAR, reasons JSON, psr DOUBLE)"
    )
    conn.execute(
        "INSERT INTO selection.scores VALUES "
        "(?, 'edge_momentum', 'TESTING', '[\"fewer than 10 runs\"]', 0.5), "
        "(?, 'edge_momentum', 'SCALING', '[\"DSR 0.97 >= 0.95\"]', 0.99), "
        "(?, 'loser_meanrev', 'KILLED', '[\"lookahead\"]', 0.0)",
        [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)],
    )
    context = build_context(conn, DAY)
    assert [(s.process_id, s.decision, s.reasons) for s in context.scores] == [
        ("edge_momentum", "SCALING", ("DSR 0.97 >= 0.95",))
    ]
    user = build_request(context).messages[1].content
    assert "DSR 0.97 >= 0.95" in user and "lookahead" not in user


def test_prompt_has_no_lookahead_and_is_stable(conn: duckdb.DuckDBPyConnection) -> None:
    before = build_request(build_context(conn, DAY)).messages
    # A process starting after D does not enter D's prompt.
    catalog = load_catalog()
    later = catalog.versions[0].model_copy(
        update={"process_id": "future_proc", "link_prefix": "future", "valid_from": DAY + timedelta(days=3)}
    )
    sync_catalog(conn, parse_catalog({"processes": [v.document() for v in [*catalog.versions, later]]}))
    assert build_request(build_context(conn, DAY)).messages == before
    assert "future_proc" in build_request(build_context(conn, DAY + timedelta(days=3))).messages[1].content
    system = before[0].content
    for text in ("data only", "at most 20", "at most 5", "Do not set capital or order-link prefixes", "wallet address"):
        assert text in system, text


def test_the_previous_days_proposals_are_in_the_next_prompt(conn: duckdb.DuckDBPyConnection) -> None:
    generate_for_day(conn, DAY, ScriptedBackend([reply(valid_proposal())]))
    context = build_context(conn, NEXT)
    assert "eth_funding_carry" in context.taken_ids
    proposed = next(p for p in context.processes if p.process_id == "eth_funding_carry")
    assert (proposed.status, proposed.process_type, proposed.instruments) == ("proposed", "carry_funding", ("ETHUSDT",))


# --------------------------------------------------------------------------------------------- render


def test_render_run_lists_accepted_and_rejected_with_reasons(conn: duckdb.DuckDBPyConnection) -> None:
    text = reply(valid_proposal(), valid_proposal(id="btc_x", description="Send funds to 0xabcdefabcdefabcdefabcdef"))
    run = generate_for_day(conn, DAY, ScriptedBackend([text]))
    out = render_run(run)
    assert "Backend: openai, model scripted-model" in out and "system_fingerprint fp_s" in out
    assert "OFFLINE" not in out
    assert "Accepted: 1" in out and "+ eth_funding_carry — ETH funding carry [a1-01]" in out
    assert "Rejected: 1" in out and "- btc_x" in out
    assert "* unsafe: moves funds" in out and "* unsafe: contains a wallet address" in out
    assert "capital 0 until a human approves" in out
