"""The factory's tables: ``factory.candidates`` (every candidate, accepted or not) and its registrations
in ``registry.processes``.

``factory.candidates`` — key (``date``, ``candidate_id``); one row per candidate of each reply of the
day's run, plus one row per reply that failed as a whole (invalid JSON, a refusal, no candidate):

=====================  ==========================================================================
``date``               the day D the run is for (the registry and the scores were read as of D)
``candidate_id``       ``a<attempt>-<nn>``: ``nn`` = position in the reply from 01; ``00`` = the reply
                       itself (a reply-level failure, or a reply proposing nothing)
``attempt``            1, or 2 for the single re-ask after a content failure
``backend``            ``openai`` | ``offline``
``model``              the model asked (configuration), part of the cache key
``prompt_hash``        sha256 of the full request (messages, schema, seed/temperature/format)
``proposed_id``        the id the candidate proposed (``NULL`` when unreadable)
``accepted``           passed validation and safety and was registered
``reasons``            JSON list of plain-language sentences (why rejected; for an accepted one, what
                       was done)
``process_id``         the registered process id (accepted only)
``link_prefix``        the link prefix code assigned (accepted only)
``effective_from``     D+1 (accepted only): when the ``proposed`` registry row starts
``document``           accepted: the registry document; rejected: the candidate's JSON as received
                       (``NULL`` when the reply was not JSON)
``response_raw``       the reply's raw text, whole (the same on every row of one reply): the cache
``response_model``     the model that answered, as the API reported it
``system_fingerprint`` the API's ``system_fingerprint`` (``NULL`` offline)
``finish_reason``, ``refusal``
``prompt_tokens``, ``completion_tokens``, ``tokens``   usage of the reply (0 offline)
=====================  ==========================================================================

No wall-clock column: re-running a day with the same inputs rewrites the same rows, and the cached reply
is used instead of calling the backend again.

Registrations are ``proposed`` rows of ``registry.processes``: ``valid_from`` D+1, ``source``
``openai``/``offline``, ``kind`` ``process``, capital 0, ``approved_by`` NULL, a link prefix assigned by
:func:`assign_link_prefix`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal

import duckdb

from hean_pipelines.factory.backends import BackendResponse
from hean_pipelines.registry.catalog import MAX_LINK_PREFIX_LEN, UNATTRIBUTED
from hean_pipelines.registry.store import PROCESSES_TABLE, ensure_registry_schema

FACTORY_SCHEMA = "factory"
CANDIDATES_TABLE = "factory.candidates"
FACTORY_SOURCES: tuple[str, ...] = ("openai", "offline")

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {FACTORY_SCHEMA};
CREATE TABLE IF NOT EXISTS {CANDIDATES_TABLE} (
    date DATE NOT NULL,
    candidate_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    backend VARCHAR NOT NULL CHECK (backend IN ('openai', 'offline')),
    model VARCHAR NOT NULL,
    prompt_hash VARCHAR NOT NULL,
    proposed_id VARCHAR,
    accepted BOOLEAN NOT NULL,
    reasons JSON NOT NULL,
    process_id VARCHAR,
    link_prefix VARCHAR,
    effective_from DATE,
    document JSON,
    response_raw VARCHAR NOT NULL,
    response_model VARCHAR,
    system_fingerprint VARCHAR,
    finish_reason VARCHAR,
    refusal VARCHAR,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY (date, candidate_id),
    CHECK (NOT accepted OR (process_id IS NOT NULL AND link_prefix IS NOT NULL AND effective_from IS NOT NULL))
)
"""


def canonical_json(data: object) -> str:
    """The one JSON text of a value (sorted keys, no spaces, UTF-8): the registry's convention."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ensure_factory_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``factory`` and ``factory.candidates`` (idempotent)."""
    for statement in _DDL.split(";"):
        if statement.strip():
            conn.execute(statement)


# --------------------------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class CandidateRow:
    """One row of ``factory.candidates`` (``reasons`` and ``document`` as canonical JSON text)."""

    date: dt.date
    candidate_id: str
    attempt: int
    backend: str
    model: str
    prompt_hash: str
    proposed_id: str | None
    accepted: bool
    reasons: str
    process_id: str | None
    link_prefix: str | None
    effective_from: dt.date | None
    document: str | None
    response_raw: str
    response_model: str | None
    system_fingerprint: str | None
    finish_reason: str | None
    refusal: str | None
    prompt_tokens: int
    completion_tokens: int
    tokens: int

    def reason_list(self) -> list[str]:
        return [str(r) for r in json.loads(self.reasons)]


CANDIDATE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CandidateRow))


def read_candidates(conn: duckdb.DuckDBPyConnection, day: dt.date) -> list[CandidateRow]:
    """The stored candidates of ``day``, by candidate_id."""
    rows = conn.execute(
        f"SELECT {', '.join(CANDIDATE_COLUMNS)} FROM {CANDIDATES_TABLE} WHERE date = ? ORDER BY candidate_id",
        [day],
    ).fetchall()
    return [CandidateRow(*r) for r in rows]


def cached_responses(
    rows: Sequence[CandidateRow], *, backend: str, model: str, prompt_hash: str
) -> dict[int, BackendResponse]:
    """The replies stored for (backend, model, prompt_hash), by attempt: a re-run of the day with the
    same prompt replays them instead of calling the backend."""
    out: dict[int, BackendResponse] = {}
    for row in rows:
        if (row.backend, row.model, row.prompt_hash) != (backend, model, prompt_hash) or row.attempt in out:
            continue
        out[row.attempt] = BackendResponse(
            text=row.response_raw,
            response_model=row.response_model,
            system_fingerprint=row.system_fingerprint,
            finish_reason=row.finish_reason,
            refusal=row.refusal,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            total_tokens=row.tokens,
        )
    return out


def replace_candidates(conn: duckdb.DuckDBPyConnection, day: dt.date, rows: Sequence[CandidateRow]) -> None:
    """Replace every candidate row of ``day`` (call inside a transaction)."""
    if any(r.date != day for r in rows):
        raise ValueError(f"replace_candidates({day}): a row belongs to another day")
    conn.execute(f"DELETE FROM {CANDIDATES_TABLE} WHERE date = ?", [day])
    if not rows:
        return
    placeholders = ", ".join("CAST(? AS JSON)" if c in {"reasons", "document"} else "?" for c in CANDIDATE_COLUMNS)
    conn.executemany(
        f"INSERT INTO {CANDIDATES_TABLE} ({', '.join(CANDIDATE_COLUMNS)}) VALUES ({placeholders})",
        [[getattr(r, c) for c in CANDIDATE_COLUMNS] for r in sorted(rows, key=lambda r: r.candidate_id)],
    )


# --------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class RegistryRow:
    """The parts of a ``registry.processes`` row the factory needs."""

    process_id: str
    valid_from: dt.date
    status: str
    source: str
    link_prefix: str | None


def read_registry_rows(conn: duckdb.DuckDBPyConnection) -> list[RegistryRow]:
    """Every row of ``registry.processes`` (all days), by (process_id, valid_from)."""
    ensure_registry_schema(conn)
    rows = conn.execute(
        f"SELECT process_id, valid_from, status, source, link_prefix FROM {PROCESSES_TABLE} "
        "ORDER BY process_id, valid_from"
    ).fetchall()
    return [RegistryRow(*r) for r in rows]


@dataclass(frozen=True)
class Registration:
    """A ``proposed`` registry row for an accepted candidate."""

    process_id: str
    valid_from: dt.date
    source: str
    name: str
    link_prefix: str
    document: str  # canonical JSON


PREFIX_STEMS: tuple[str, ...] = ("gen", "fac", "llm", "cand")
"""Stems of generated link prefixes, tried in order (a catalog prefix such as ``gen`` blocks the first)."""


def assign_link_prefix(process_id: str, taken: Iterable[str]) -> str:
    """``gen`` + the first 8 hex digits of sha256(process_id), lengthened (then another stem) until it
    neither equals nor starts, nor is the start of, any prefix in ``taken`` (case-insensitive).

    Letters and digits only, at most 32 characters; the same process id and registry always give the
    same prefix. Raises :class:`ValueError` when no candidate fits (not expected in practice).
    """
    lowered = [t.lower() for t in taken if t]
    digest = hashlib.sha256(process_id.encode()).hexdigest()
    for stem in PREFIX_STEMS:
        for length in range(8, MAX_LINK_PREFIX_LEN - len(stem) + 1):
            prefix = stem + digest[:length]
            low = prefix.lower()
            if low == UNATTRIBUTED:
                continue
            if not any(low.startswith(t) or t.startswith(low) for t in lowered):
                return prefix
    raise ValueError(f"no free link prefix for process {process_id!r}: every generated prefix clashes")


_REGISTRY_COLUMNS = (
    "process_id",
    "valid_from",
    "valid_to",
    "status",
    "source",
    "kind",
    "name",
    "link_prefix",
    "allocated_capital",
    "document",
    "approved_by",
)


def apply_registrations(
    conn: duckdb.DuckDBPyConnection,
    *,
    remove: Iterable[tuple[str, dt.date]],
    add: Sequence[Registration],
) -> bool:
    """Delete the factory's own earlier ``proposed`` rows ``remove`` (keys; only rows with source
    ``openai``/``offline`` and status ``proposed`` are touched) and insert ``add`` (new process ids:
    ``valid_to`` NULL). Like the registry's own writers, the table is rewritten in (process_id,
    valid_from) order, and only when it changes. Call inside a transaction. Returns whether it wrote."""
    columns = ", ".join(_REGISTRY_COLUMNS)
    existing = conn.execute(f"SELECT {columns} FROM {PROCESSES_TABLE} ORDER BY process_id, valid_from").fetchall()
    removable = set(remove)
    kept = [r for r in existing if not ((r[0], r[1]) in removable and r[4] in FACTORY_SOURCES and r[3] == "proposed")]
    new = [
        (
            r.process_id,
            r.valid_from,
            None,
            "proposed",
            r.source,
            "process",
            r.name,
            r.link_prefix,
            Decimal(0),
            r.document,
            None,
        )
        for r in add
    ]
    keys = {(r[0], r[1]) for r in kept}
    clash = sorted(f"{r[0]} ({r[1]})" for r in new if (r[0], r[1]) in keys)
    if clash:
        raise ValueError(f"registry rows already exist for {', '.join(clash)}")
    desired = sorted([*kept, *new], key=lambda r: (r[0], r[1]))
    if desired == existing:
        return False
    conn.execute(f"DELETE FROM {PROCESSES_TABLE}")
    if desired:
        conn.executemany(
            f"INSERT INTO {PROCESSES_TABLE} ({columns}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS DECIMAL(38,18)), CAST(? AS JSON), ?)",
            [list(r) for r in desired],
        )
    return True
