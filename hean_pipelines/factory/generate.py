"""The day's factory run: prompt -> backend -> validation and safety -> ``factory.candidates`` ->
``proposed`` registry rows effective D+1.

:func:`generate_for_day` is what the Dagster asset (and the CLI) call; :func:`render_run` prints its
result for a human.

**Prompt.** A fixed system message (the rules: data for human review only, v1 scope, allow-lists,
budget, the deny-list classes, no capital or prefixes) and one user message holding canonical JSON of
what is known *as of D*: the registry's processes in force on D (id, name, status, source, type,
description, kill conditions, measurement), the selector's latest decisions with reasons (from
``selection.scores`` when that table exists) and every process id already taken. No wall clock and
nothing after D enters the prompt, so re-running a day builds the same prompt; its hash (with the
schema and the backend's settings) keys the cache.

**Re-ask.** A content failure (invalid JSON, wrong shape, a schema or budget violation) is re-asked
exactly once, with the rejected reply and the problems appended to the conversation. The last reply
counts; candidates of an earlier reply are recorded as superseded. Unsafe content is rejected, never
re-asked. Transport errors are the SDK's business (``max_retries``); an authentication error stops the
run at once and nothing is written.

**Registration.** An accepted candidate becomes a ``proposed`` row of ``registry.processes`` valid from
D+1 with the candidate's id (ids are never reused: an id already in the registry is rejected), source
``openai``/``offline``, capital 0 and a link prefix assigned by code. Re-running a day first takes back
its own earlier proposals (unless a human has since added versions of them) and replaces the day's
candidates, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
from pydantic import ValidationError

from hean_pipelines.factory.backends import (
    Backend,
    BackendResponse,
    ChatMessage,
    GenerationRequest,
    ProcessSummary,
    PromptContext,
    ScoreSummary,
)
from hean_pipelines.factory.model import (
    HUMAN_TASK_CATEGORIES,
    MARKETS,
    MAX_DESCRIPTION_CHARS,
    MAX_ITEM_CHARS,
    MAX_NAME_CHARS,
    MAX_REVIEW_TEXT_CHARS,
    PROCESS_TYPES,
    STEP_TYPES,
    Limits,
    ProcessProposal,
    response_json_schema,
)
from hean_pipelines.factory.store import (
    FACTORY_SOURCES,
    CandidateRow,
    Registration,
    RegistryRow,
    apply_registrations,
    assign_link_prefix,
    cached_responses,
    canonical_json,
    ensure_factory_schema,
    read_candidates,
    read_registry_rows,
    replace_candidates,
)
from hean_pipelines.factory.validation import CandidateCheck, ResponseCheck, validate_response
from hean_pipelines.registry.catalog import UNATTRIBUTED, KillConditions, Measurement, ProcessVersion
from hean_pipelines.registry.store import ensure_registry_schema, registry_as_of
from hean_pipelines.warehouse.connection import atomic

PROMPT_VERSION = "factory-prompt-v1"
SCORES_TABLE = ("selection", "scores")
MAX_PROMPT_DESCRIPTION_CHARS = 500
MAX_ATTEMPTS = 2
"""The first ask and at most one re-ask."""


@dataclass(frozen=True)
class FactoryConfig:
    """How a day's run behaves. ``limits``: the budget (schema ``maxItems`` and validation);
    ``use_cache``: replay the reply stored for the same (day, backend, model, prompt hash) instead of
    calling the backend; ``reask``: re-ask once after a content failure."""

    limits: Limits = field(default_factory=Limits)
    use_cache: bool = True
    reask: bool = True


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CandidateOutcome:
    """What happened to one candidate (or to a reply that failed as a whole: ``proposed_id`` None)."""

    candidate_id: str
    attempt: int
    proposed_id: str | None
    name: str | None
    accepted: bool
    reasons: tuple[str, ...]
    process_id: str | None = None
    link_prefix: str | None = None


@dataclass(frozen=True)
class FactoryRun:
    """The result of :func:`generate_for_day`."""

    day: date
    effective_from: date
    backend: str
    model: str
    offline: bool
    offline_reason: str | None
    prompt_hash: str
    cached: bool
    """At least one reply came from ``factory.candidates`` instead of the backend."""
    backend_calls: int
    attempts: int
    candidates: tuple[CandidateOutcome, ...]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    system_fingerprint: str | None
    response_models: tuple[str, ...]
    withdrawn_proposals: tuple[str, ...] = ()
    """Process ids an earlier run of this day had proposed and this run took back."""
    kept_proposals: tuple[str, ...] = ()
    """Process ids an earlier run of this day proposed that a human has since changed (left as they are)."""

    @property
    def accepted(self) -> tuple[CandidateOutcome, ...]:
        return tuple(c for c in self.candidates if c.accepted)

    @property
    def rejected(self) -> tuple[CandidateOutcome, ...]:
        return tuple(c for c in self.candidates if not c.accepted)

    @property
    def accepted_count(self) -> int:
        return len(self.accepted)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    @property
    def registered(self) -> tuple[str, ...]:
        return tuple(c.process_id for c in self.accepted if c.process_id)


# --------------------------------------------------------------------------------------------- prompt


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _reason_list(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return (value,) if value.strip() else ()
        return _reason_list(parsed) if not isinstance(parsed, str) else ((parsed,) if parsed.strip() else ())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(f"{k}: {v}" for k, v in sorted(value.items()))
    return (str(value),)


def read_scores(conn: duckdb.DuckDBPyConnection, day: date) -> tuple[ScoreSummary, ...]:
    """The selector's latest decisions not after ``day`` (``selection.scores`` rows at the greatest
    ``as_of`` <= day), by process_id; empty when the table does not exist yet."""
    if not _table_exists(conn, *SCORES_TABLE):
        return ()
    rows = conn.execute(
        "SELECT as_of, process_id, decision, reasons FROM selection.scores "
        "WHERE as_of = (SELECT max(as_of) FROM selection.scores WHERE as_of <= ?) ORDER BY process_id",
        [day],
    ).fetchall()
    return tuple(
        ScoreSummary(process_id=str(pid), as_of=as_of, decision=str(decision), reasons=_reason_list(reasons))
        for as_of, pid, decision, reasons in rows
    )


def build_context(conn: duckdb.DuckDBPyConnection, day: date, limits: Limits | None = None) -> PromptContext:
    """The registry and scores as of ``day`` (nothing after it), and every id already taken by then."""
    ensure_registry_schema(conn)
    processes: list[ProcessSummary] = []
    for entry in registry_as_of(conn, day):
        if entry.kind != "process":
            continue
        doc = entry.document
        raw_proposal = doc.get("proposal")
        proposal: Mapping[str, Any] = raw_proposal if isinstance(raw_proposal, Mapping) else {}
        description = str(doc.get("description") or "")
        if len(description) > MAX_PROMPT_DESCRIPTION_CHARS:
            description = description[: MAX_PROMPT_DESCRIPTION_CHARS - 3].rstrip() + "..."
        kill = doc.get("kill_conditions")
        measurement = doc.get("measurement")
        processes.append(
            ProcessSummary(
                process_id=entry.process_id,
                name=entry.name,
                status=entry.status,
                source=entry.source,
                description=description,
                process_type=str(proposal["type"]) if proposal.get("type") else None,
                kill_conditions=kill if isinstance(kill, Mapping) else None,
                measurement=measurement if isinstance(measurement, Mapping) else None,
                instruments=tuple(str(s) for s in proposal.get("instruments") or ()),
            )
        )
    taken = conn.execute(
        "SELECT DISTINCT process_id FROM registry.processes WHERE valid_from <= ? ORDER BY process_id", [day]
    ).fetchall()
    taken_ids = sorted({str(r[0]) for r in taken} | {UNATTRIBUTED})
    return PromptContext(
        day=day,
        effective_from=day + timedelta(days=1),
        processes=tuple(processes),
        scores=read_scores(conn, day),
        taken_ids=tuple(taken_ids),
        limits=limits or Limits(),
    )


def system_prompt(limits: Limits) -> str:
    """The fixed rules (depends only on the limits)."""
    return f"""You propose new trading processes for a Bybit account, for a human reviewer.
Your reply is data only: nothing in it is executed, no order is placed because of it, and a human
approves or discards every proposal. The system measures every process honestly after fees, funding,
rewards and the cost of the capital it ties up.

Rules:
1. Reply with one JSON object matching the given schema exactly: {{"processes": [...]}} with at most
   {limits.max_candidates} new processes. Fewer, or none, is fine when nothing is worth testing.
2. Scope: USDT-settled linear perpetuals in one-way mode, or spot pairs quoted in USDT. Instruments are
   Bybit symbols such as BTCUSDT.
3. Each process gets a new snake_case id (3 to 48 characters) that is not in taken_process_ids, a type
   from: {", ".join(PROCESS_TYPES)}; a market from: {", ".join(MARKETS)}.
4. steps: at most {limits.max_steps}, in order, each of a type from: {", ".join(STEP_TYPES)}.
   human_tasks: at most {limits.max_human_tasks}, each of a category from: {", ".join(HUMAN_TASK_CATEGORIES)}.
5. kill_conditions and measurement must be concrete: max_drawdown_ratio greater than 0 and at most 1,
   max_losing_streak_days 1 to 365, horizon_days 1 to 3650; min_total_after_days may be null.
6. Do not set capital or order-link prefixes: code assigns them, and capital stays 0 until a human
   approves.
7. Ground each proposal in the data: motivation names the registry processes and selector decisions
   that led to it; hypothesis says why it should earn money after costs; risks lists how it can fail;
   based_on lists the ids of the processes it varies.
8. Plain English. Length limits: name {MAX_NAME_CHARS}, description {MAX_DESCRIPTION_CHARS}, hypothesis and
   motivation {MAX_REVIEW_TEXT_CHARS}, each step, human task and risk {MAX_ITEM_CHARS} characters.
9. Never include, in any field: credentials of any kind (API keys, secrets, passwords, 2FA codes,
   seed phrases, private keys, logins); web or UI scraping and browser automation; withdrawals or
   transfers of funds; URLs or links; wallet addresses. A proposal containing any of these is
   rejected automatically."""


def user_prompt(context: PromptContext) -> str:
    """The data as of D, as canonical JSON (sorted keys) after one line of instructions."""
    data = {
        "as_of": context.day.isoformat(),
        "proposals_take_effect": context.effective_from.isoformat(),
        "registry": [
            {
                "process_id": p.process_id,
                "name": p.name,
                "status": p.status,
                "source": p.source,
                "type": p.process_type,
                "description": p.description,
                "instruments": list(p.instruments),
                "kill_conditions": dict(p.kill_conditions) if p.kill_conditions is not None else None,
                "measurement": dict(p.measurement) if p.measurement is not None else None,
            }
            for p in context.processes
        ],
        "selector_scores": [
            {
                "process_id": s.process_id,
                "as_of": s.as_of.isoformat(),
                "decision": s.decision,
                "reasons": list(s.reasons),
            }
            for s in context.scores
        ],
        "taken_process_ids": list(context.taken_ids),
    }
    note = "" if context.scores else " The selector has not scored any process yet."
    return (
        f"Propose up to {context.limits.max_candidates} new processes worth testing from "
        f"{context.effective_from.isoformat()}, given the registry and the selector's decisions as of "
        f"{context.day.isoformat()}.{note}\n\n"
        + json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, default=str)
    )


def build_request(context: PromptContext) -> GenerationRequest:
    """The first request of the day's run."""
    return GenerationRequest(
        messages=(
            ChatMessage("system", system_prompt(context.limits)),
            ChatMessage("user", user_prompt(context)),
        ),
        schema=response_json_schema(context.limits),
        context=context,
    )


def prompt_hash(request: GenerationRequest, backend: Backend) -> str:
    """sha256 of everything that shapes the reply: prompt version, messages, schema, backend settings."""
    payload = {
        "version": PROMPT_VERSION,
        "messages": [[m.role, m.content] for m in request.messages],
        "schema_name": request.schema_name,
        "schema": request.schema,
        "settings": dict(backend.request_settings()),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


# --------------------------------------------------------------------------------------------- decisions


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def registry_document(
    proposal: ProcessProposal,
    *,
    link_prefix: str,
    valid_from: date,
    origin: Mapping[str, Any],
) -> dict[str, Any]:
    """The registry document of an accepted proposal: the catalog's shape (validated by
    :class:`~hean_pipelines.registry.catalog.ProcessVersion`; capital 0, status proposed, the assigned
    prefix) plus ``proposal`` (type, market, instruments, review texts, steps, human tasks) and
    ``origin`` (day, backend, model, prompt hash, candidate id). Raises ``ValidationError`` when a number
    does not fit the registry's decimals."""
    kill = proposal.kill_conditions
    min_after = kill.min_total_after_days
    version = ProcessVersion(
        process_id=proposal.id,
        name=proposal.name,
        description=proposal.description,
        link_prefix=link_prefix,
        allocated_capital=Decimal(0),
        kill_conditions=KillConditions.model_validate(
            {
                "max_drawdown_ratio": _decimal(kill.max_drawdown_ratio),
                "max_losing_streak_days": kill.max_losing_streak_days,
                "min_total_after_days": None
                if min_after is None
                else {"days": min_after.days, "min_total": _decimal(min_after.min_total)},
            }
        ),
        measurement=Measurement.model_validate(
            {
                "metric": proposal.measurement.metric,
                "benchmark": _decimal(proposal.measurement.benchmark),
                "horizon_days": proposal.measurement.horizon_days,
            }
        ),
        status="proposed",
        valid_from=valid_from,
        approved_by=None,
    )
    document = version.document()
    document["kind"] = "process"
    document["proposal"] = {
        "type": proposal.type,
        "market": proposal.market,
        "instruments": list(proposal.instruments),
        "hypothesis": proposal.hypothesis,
        "motivation": proposal.motivation,
        "based_on": list(proposal.based_on),
        "risks": list(proposal.risks),
        "steps": [s.model_dump() for s in proposal.steps],
        "human_tasks": [t.model_dump() for t in proposal.human_tasks],
    }
    document["origin"] = dict(origin)
    return document


@dataclass(frozen=True)
class _Attempt:
    number: int
    response: BackendResponse
    check: ResponseCheck
    from_cache: bool


@dataclass
class _Decided:
    rows: list[CandidateRow]
    outcomes: list[CandidateOutcome]
    registrations: list[Registration]


def _reply_row_reasons(check: ResponseCheck) -> list[str]:
    reasons = list(check.problems) + list(check.safety_reasons)
    if not check.problems and not check.candidates:
        reasons.append("the reply proposes no process")
    return reasons


def _decide(
    *,
    day: date,
    backend: Backend,
    digest: str,
    attempts: Sequence[_Attempt],
    registry_rows: Sequence[RegistryRow],
    removable: set[str],
    kept: set[str],
) -> _Decided:
    effective = day + timedelta(days=1)
    ids_in_use = {r.process_id for r in registry_rows if r.process_id not in removable} | {UNATTRIBUTED}
    prefixes_in_use = {r.link_prefix for r in registry_rows if r.link_prefix and r.process_id not in removable}
    decided = _Decided(rows=[], outcomes=[], registrations=[])
    seen_ids: set[str] = set()
    last = attempts[-1].number

    def row(
        attempt: _Attempt,
        candidate_id: str,
        *,
        proposed_id: str | None,
        accepted: bool,
        reasons: Sequence[str],
        document: object,
        process_id: str | None = None,
        link_prefix: str | None = None,
    ) -> None:
        resp = attempt.response
        decided.rows.append(
            CandidateRow(
                date=day,
                candidate_id=candidate_id,
                attempt=attempt.number,
                backend=backend.name,
                model=backend.model,
                prompt_hash=digest,
                proposed_id=proposed_id,
                accepted=accepted,
                reasons=canonical_json(list(reasons)),
                process_id=process_id if accepted else None,
                link_prefix=link_prefix if accepted else None,
                effective_from=effective if accepted else None,
                document=None if document is None else canonical_json(document),
                response_raw=resp.text,
                response_model=resp.response_model,
                system_fingerprint=resp.system_fingerprint,
                finish_reason=resp.finish_reason,
                refusal=resp.refusal,
                prompt_tokens=resp.prompt_tokens,
                completion_tokens=resp.completion_tokens,
                tokens=resp.total_tokens,
            )
        )

    for attempt in attempts:
        check = attempt.check
        superseded = attempt.number != last
        reply_reasons = _reply_row_reasons(check)
        if reply_reasons:
            if superseded:
                reply_reasons.append("re-asked once because of these problems")
            cid = f"a{attempt.number}-00"
            row(attempt, cid, proposed_id=None, accepted=False, reasons=reply_reasons, document=None)
            decided.outcomes.append(CandidateOutcome(cid, attempt.number, None, None, False, tuple(reply_reasons)))
        for cand in check.candidates:
            cid = f"a{attempt.number}-{cand.index + 1:02d}"
            proposed_id, name = _identity(cand)
            reasons = list(cand.reasons)
            accepted = False
            document: object = cand.raw
            prefix: str | None = None
            if cand.valid and superseded:
                reasons.append(
                    "superseded: the reply had content problems and was re-asked; only the re-ask's candidates count"
                )
            elif cand.valid and cand.proposal is not None:
                proposal = cand.proposal
                if proposal.id in seen_ids:
                    reasons.append(f"duplicate: the reply proposes the id {proposal.id!r} more than once")
                elif proposal.id in kept:
                    reasons.append(
                        f"process id {proposal.id!r} was registered by an earlier run of this day and has "
                        "since been changed in the registry; left as it is"
                    )
                elif proposal.id in ids_in_use:
                    reasons.append(f"process id {proposal.id!r} is already in the registry (ids are never reused)")
                else:
                    prefix = assign_link_prefix(proposal.id, prefixes_in_use)
                    origin = {
                        "date": day.isoformat(),
                        "backend": backend.name,
                        "model": backend.model,
                        "prompt_hash": digest,
                        "candidate_id": cid,
                    }
                    try:
                        document = registry_document(proposal, link_prefix=prefix, valid_from=effective, origin=origin)
                    except ValidationError as exc:
                        reasons.append(f"cannot be stored in the registry: {exc.errors()[0]['msg']}")
                        document = cand.raw
                    else:
                        accepted = True
                        seen_ids.add(proposal.id)
                        prefixes_in_use.add(prefix)
                        reasons.append(
                            f"passed validation and safety; registered as proposed process {proposal.id!r} "
                            f"effective {effective.isoformat()} with link prefix {prefix!r} and capital 0 "
                            "(a human sets capital on approval)"
                        )
                        decided.registrations.append(
                            Registration(
                                process_id=proposal.id,
                                valid_from=effective,
                                source=backend.name,
                                name=proposal.name,
                                link_prefix=prefix,
                                document=canonical_json(document),
                            )
                        )
                if cand.proposal is not None and not accepted:
                    seen_ids.add(cand.proposal.id)
            row(
                attempt,
                cid,
                proposed_id=proposed_id,
                accepted=accepted,
                reasons=reasons,
                document=document,
                process_id=proposed_id if accepted else None,
                link_prefix=prefix if accepted else None,
            )
            decided.outcomes.append(
                CandidateOutcome(
                    candidate_id=cid,
                    attempt=attempt.number,
                    proposed_id=proposed_id,
                    name=name,
                    accepted=accepted,
                    reasons=tuple(reasons),
                    process_id=proposed_id if accepted else None,
                    link_prefix=prefix if accepted else None,
                )
            )
    return decided


def _identity(cand: CandidateCheck) -> tuple[str | None, str | None]:
    raw = cand.raw
    if not isinstance(raw, Mapping):
        return None, None
    pid = raw.get("id")
    name = raw.get("name")
    return (pid if isinstance(pid, str) else None), (name if isinstance(name, str) else None)


# --------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class DayPlan:
    """What a day's run asks, read from the warehouse before any backend call (see :func:`plan_day`)."""

    day: date
    request: GenerationRequest
    digest: str
    cache: dict[int, BackendResponse]


@dataclass(frozen=True)
class Replies:
    """The backend's (or the cache's) replies for a :class:`DayPlan`, validated."""

    attempts: tuple[_Attempt, ...]
    calls: int


def plan_day(
    conn: duckdb.DuckDBPyConnection, day: date, backend: Backend, config: FactoryConfig | None = None
) -> DayPlan:
    """Read what the day's request needs: the registry and the selector's scores as of ``day``, and the
    reply stored for the same (day, backend, model, prompt hash)."""
    config = config or FactoryConfig()
    if backend.name not in FACTORY_SOURCES:
        raise ValueError(f"backend name {backend.name!r} is not one of {FACTORY_SOURCES}")
    ensure_registry_schema(conn)
    ensure_factory_schema(conn)
    request = build_request(build_context(conn, day, config.limits))
    digest = prompt_hash(request, backend)
    cache = (
        cached_responses(read_candidates(conn, day), backend=backend.name, model=backend.model, prompt_hash=digest)
        if config.use_cache
        else {}
    )
    return DayPlan(day, request, digest, cache)


def ask_backend(plan: DayPlan, backend: Backend, config: FactoryConfig | None = None) -> Replies:
    """Ask (or replay) and validate; re-ask once after a content failure. Needs no warehouse connection:
    the caller can let the one writer go while a model takes its time."""
    config = config or FactoryConfig()
    request = plan.request
    attempts: list[_Attempt] = []
    calls = 0
    max_attempts = MAX_ATTEMPTS if config.reask else 1
    for number in range(1, max_attempts + 1):
        from_cache = number in plan.cache
        if from_cache:
            response = plan.cache[number]
        else:
            response = backend.complete(request)
            calls += 1
        check = validate_response(
            response.text, config.limits, refusal=response.refusal, finish_reason=response.finish_reason
        )
        attempts.append(_Attempt(number, response, check, from_cache))
        if not check.content_failure or number == max_attempts:
            break
        request = request.with_feedback(response.text, check.failure_summary())
    return Replies(tuple(attempts), calls)


def generate_for_day(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    backend: Backend,
    *,
    config: FactoryConfig | None = None,
) -> FactoryRun:
    """Run the factory for day ``day``: build the prompt from the registry and the selector's scores as
    of ``day``, ask ``backend`` (or replay the reply stored for the same day, backend, model and prompt
    hash), validate every candidate, store them all in ``factory.candidates`` and register the accepted
    ones as ``proposed`` processes effective ``day + 1``.

    Re-running a day replaces its candidates and its own earlier proposals: the same inputs give the
    same tables. Backend errors (:class:`~hean_pipelines.factory.backends.FactoryBackendError`, e.g. a
    refused API key) propagate and nothing is written. The writes happen in one transaction (or the
    caller's, if one is open). The same as :func:`plan_day`, :func:`ask_backend` and :func:`record_day`
    on one connection.
    """
    plan = plan_day(conn, day, backend, config)
    return record_day(conn, plan, backend, ask_backend(plan, backend, config))


def record_day(conn: duckdb.DuckDBPyConnection, plan: DayPlan, backend: Backend, replies: Replies) -> FactoryRun:
    """Store the replies' candidates and register the accepted ones, in one transaction (or the caller's)."""
    day, digest, attempts, calls = plan.day, plan.digest, list(replies.attempts), replies.calls
    effective = day + timedelta(days=1)
    with atomic(conn):
        registry_rows = read_registry_rows(conn)
        by_process: dict[str, list[RegistryRow]] = {}
        for r in registry_rows:
            by_process.setdefault(r.process_id, []).append(r)
        previous = {r.process_id for r in read_candidates(conn, day) if r.accepted and r.process_id}
        removable: set[str] = set()
        kept: set[str] = set()
        for pid in sorted(previous):
            rows = by_process.get(pid, [])
            own = [
                r for r in rows if r.valid_from == effective and r.source in FACTORY_SOURCES and r.status == "proposed"
            ]
            if own and len(rows) == 1:
                removable.add(pid)
            elif rows:
                kept.add(pid)
        decided = _decide(
            day=day,
            backend=backend,
            digest=digest,
            attempts=attempts,
            registry_rows=registry_rows,
            removable=removable,
            kept=kept,
        )
        apply_registrations(conn, remove=[(pid, effective) for pid in removable], add=decided.registrations)
        replace_candidates(conn, day, decided.rows)

    registered = {r.process_id for r in decided.registrations}
    responses = [a.response for a in attempts]
    return FactoryRun(
        day=day,
        effective_from=effective,
        backend=backend.name,
        model=backend.model,
        offline=backend.name == "offline",
        offline_reason=getattr(backend, "reason", None) if backend.name == "offline" else None,
        prompt_hash=digest,
        cached=any(a.from_cache for a in attempts),
        backend_calls=calls,
        attempts=len(attempts),
        candidates=tuple(decided.outcomes),
        prompt_tokens=sum(r.prompt_tokens for r in responses),
        completion_tokens=sum(r.completion_tokens for r in responses),
        total_tokens=sum(r.total_tokens for r in responses),
        system_fingerprint=responses[-1].system_fingerprint,
        response_models=tuple(dict.fromkeys(r.response_model for r in responses if r.response_model)),
        withdrawn_proposals=tuple(sorted(removable - registered)),
        kept_proposals=tuple(sorted(kept)),
    )


# --------------------------------------------------------------------------------------------- render


def render_run(run: FactoryRun) -> str:
    """A human-readable summary: how it ran (saying clearly when offline), then the accepted and the
    rejected candidates with their reasons."""
    lines: list[str] = [
        f"Process factory for {run.day.isoformat()} (proposals effective {run.effective_from.isoformat()})"
    ]
    if run.offline:
        why = f" ({run.offline_reason})" if run.offline_reason else ""
        lines.append(
            f"OFFLINE{why}: no model was called; the deterministic offline generator ({run.model}) proposed "
            "variations of the catalog's processes."
        )
    else:
        fingerprint = run.system_fingerprint or "none reported"
        answered = f", answered by {', '.join(run.response_models)}" if run.response_models else ""
        lines.append(
            f"Backend: {run.backend}, model {run.model}{answered}; system_fingerprint {fingerprint}; tokens "
            f"{run.total_tokens} (prompt {run.prompt_tokens}, completion {run.completion_tokens})."
        )
    source = (
        "replayed from factory.candidates (no backend call)"
        if run.backend_calls == 0
        else (
            f"{run.backend_calls} backend call(s)"
            + (", the rest replayed from factory.candidates" if run.cached else "")
        )
    )
    reask = "; re-asked once after a content failure" if run.attempts > 1 else ""
    lines.append(f"Replies: {run.attempts} ({source}{reask}); prompt hash {run.prompt_hash[:12]}.")
    lines.append("")
    lines.append(f"Accepted: {run.accepted_count}")
    for c in run.accepted:
        lines.append(f"  + {c.process_id} — {c.name} [{c.candidate_id}]")
        lines.append(f"      link prefix {c.link_prefix}, status proposed, capital 0 until a human approves")
    if not run.accepted:
        lines.append("  (none)")
    lines.append(f"Rejected: {run.rejected_count}")
    for c in run.rejected:
        if c.proposed_id:
            label = c.proposed_id
        elif c.candidate_id.endswith("-00"):
            label = "(the whole reply)"
        else:
            label = "(candidate without a readable id)"
        title = f" — {c.name}" if c.name else ""
        lines.append(f"  - {label}{title} [{c.candidate_id}]")
        lines.extend(f"      * {reason}" for reason in c.reasons)
    if not run.rejected:
        lines.append("  (none)")
    if run.withdrawn_proposals:
        lines.append(f"Withdrawn proposals of an earlier run of this day: {', '.join(run.withdrawn_proposals)}")
    if run.kept_proposals:
        lines.append(f"Kept (changed by a human since): {', '.join(run.kept_proposals)}")
    lines.append("Proposals are data for human review: nothing is executed and no order is placed.")
    return "\n".join(lines)
