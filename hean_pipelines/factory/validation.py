"""Validation of a backend's reply, whatever the backend: strict parse, schema, budget, safety.

A reply is checked at two levels:

* **the response** (:class:`ResponseCheck`): it must be one strict JSON object (no duplicate keys, no
  ``NaN``/``Infinity``) with exactly one field, ``processes``, a list. A refusal, an empty reply or a
  reply cut off at the token limit is a response problem too.
* **each candidate** (:class:`CandidateCheck`): the strict pydantic model
  (:class:`~hean_pipelines.factory.model.ProcessProposal`: required fields, types, allow-listed enums,
  string lengths, ranges), the budget (steps, human tasks, candidates per reply) and the safety
  deny-list (:mod:`hean_pipelines.factory.safety`) on every string.

Every reason is a plain-language sentence naming the field. A *content failure* (invalid JSON or any
schema/budget violation) is what the generator re-asks for, once; a safety rejection is not re-asked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from hean_pipelines.factory.model import Limits, ProcessProposal
from hean_pipelines.factory.safety import check_text, check_value


class _StrictJSONError(ValueError):
    pass


def _no_duplicates(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _StrictJSONError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constants(name: str) -> object:
    raise _StrictJSONError(f"{name} is not valid JSON")


def parse_strict_json(text: str) -> object:
    """``json.loads`` that refuses duplicate keys and ``NaN``/``Infinity``. Raises :class:`ValueError`
    with a plain-language message."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _StrictJSONError as exc:
        raise ValueError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CandidateCheck:
    """One candidate of a reply: its raw JSON value, the parsed proposal (``None`` when the schema
    refused it) and the reasons it fails, if any."""

    index: int
    raw: object
    proposal: ProcessProposal | None
    schema_reasons: tuple[str, ...]
    safety_reasons: tuple[str, ...]

    @property
    def valid(self) -> bool:
        """Parsed, within budget and safe."""
        return self.proposal is not None and not self.schema_reasons and not self.safety_reasons

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.schema_reasons + self.safety_reasons


@dataclass(frozen=True)
class ResponseCheck:
    """A whole reply: response-level problems and the check of each candidate (in reply order)."""

    problems: tuple[str, ...]
    safety_reasons: tuple[str, ...]
    candidates: tuple[CandidateCheck, ...]

    @property
    def content_failure(self) -> bool:
        """Invalid JSON / wrong shape, or any candidate violating the schema or the budget (what a re-ask
        may fix). Unsafe content alone is not a content failure."""
        return bool(self.problems) or any(c.schema_reasons for c in self.candidates)

    def failure_summary(self) -> list[str]:
        """The content problems, for the re-ask message (candidate reasons prefixed with their index)."""
        out = list(self.problems)
        for c in self.candidates:
            out.extend(f"processes[{c.index}]: {r}" for r in c.schema_reasons)
        return out


# --------------------------------------------------------------------------------------------- candidate


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _reasons_from(exc: ValidationError) -> list[str]:
    reasons: list[str] = []
    for err in exc.errors(include_url=False):
        path = _path(err["loc"])
        kind = err["type"]
        value = err.get("input")
        if kind == "missing":
            reasons.append(f"missing required field '{path}'")
        elif kind == "extra_forbidden":
            reasons.append(f"unexpected field '{path}' (not in the schema)")
        elif kind in {"literal_error", "enum"}:
            expected = (err.get("ctx") or {}).get("expected", "")
            reasons.append(f"'{path}' must be one of the allowed values {expected} (got {value!r})")
        elif kind == "value_error":
            reasons.append(f"'{path}' {str(err['msg']).removeprefix('Value error, ')}")
        elif kind in {"model_type", "model_attributes_type", "dict_type"} and not path:
            reasons.append(f"a candidate must be a JSON object (got {_type_name(value)})")
        elif kind.endswith("_type") or kind in {"model_type", "model_attributes_type"}:
            reasons.append(f"'{path}' has the wrong type: {err['msg'].lower()} (got {_type_name(value)})")
        else:
            reasons.append(f"'{path or 'candidate'}': {err['msg']}")
    # A null where an object is allowed reports once per union member: keep each sentence once.
    return list(dict.fromkeys(reasons))


def _budget_reasons(raw: object, limits: Limits) -> list[str]:
    if not isinstance(raw, Mapping):
        return []
    reasons: list[str] = []
    for field, limit, what in (
        ("steps", limits.max_steps, "steps"),
        ("human_tasks", limits.max_human_tasks, "human tasks"),
    ):
        items = raw.get(field)
        if isinstance(items, list) and len(items) > limit:
            reasons.append(f"over budget: {len(items)} {what} (at most {limit})")
    return reasons


def validate_candidate(raw: object, limits: Limits, index: int = 0) -> CandidateCheck:
    """Check one candidate (a parsed JSON value): schema, budget, safety."""
    schema_reasons = _budget_reasons(raw, limits)
    proposal: ProcessProposal | None = None
    try:
        proposal = ProcessProposal.model_validate(raw, strict=True)
    except ValidationError as exc:
        schema_reasons.extend(_reasons_from(exc))
    safety = [v.reason for v in check_value(raw)]
    return CandidateCheck(
        index=index,
        raw=raw,
        proposal=proposal if not schema_reasons else None,
        schema_reasons=tuple(schema_reasons),
        safety_reasons=tuple(dict.fromkeys(safety)),
    )


# --------------------------------------------------------------------------------------------- response


def validate_response(
    text: str | None,
    limits: Limits | None = None,
    *,
    refusal: str | None = None,
    finish_reason: str | None = None,
) -> ResponseCheck:
    """Check a whole reply (the model's raw text)."""
    limits = limits or Limits()
    problems: list[str] = []
    if refusal:
        problems.append(f"the model refused: {refusal.strip()[:300]}")
    if finish_reason == "length":
        problems.append("the reply was cut off at the token limit (finish_reason 'length')")
    elif finish_reason == "content_filter":
        problems.append("the reply was stopped by the provider's content filter")
    if not text or not text.strip():
        if not refusal:
            problems.append("the reply is empty")
        return ResponseCheck(tuple(problems), (), ())
    try:
        data = parse_strict_json(text)
    except ValueError as exc:
        problems.append(f"the reply is not valid JSON: {exc}")
        unsafe = tuple(dict.fromkeys(v.reason for v in check_text(text, "reply")))
        return ResponseCheck(tuple(problems), unsafe, ())
    if not isinstance(data, dict):
        problems.append(f"the reply must be a JSON object with a 'processes' list (got {_type_name(data)})")
        return ResponseCheck(tuple(problems), (), ())
    extra = sorted(k for k in data if k != "processes")
    if extra:
        problems.append(f"unexpected top-level field(s) {extra} (the reply has one field, 'processes')")
    if "processes" not in data:
        problems.append("missing required field 'processes'")
        return ResponseCheck(tuple(problems), (), ())
    items = data["processes"]
    if not isinstance(items, list):
        problems.append(f"'processes' must be a list (got {_type_name(items)})")
        return ResponseCheck(tuple(problems), (), ())
    checks: list[CandidateCheck] = []
    for i, raw in enumerate(items):
        check = validate_candidate(raw, limits, i)
        if i >= limits.max_candidates:
            over = f"over budget: the reply proposes {len(items)} processes (at most {limits.max_candidates})"
            check = CandidateCheck(i, raw, None, (over, *check.schema_reasons), check.safety_reasons)
        checks.append(check)
    extra_unsafe = tuple(dict.fromkeys(v.reason for k in extra for v in check_value({k: data[k]})))
    return ResponseCheck(tuple(problems), extra_unsafe, tuple(checks))
