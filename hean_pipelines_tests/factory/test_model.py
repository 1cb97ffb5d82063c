"""The process model and the strict JSON schema derived from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from hean_pipelines.factory.model import (
    HUMAN_TASK_CATEGORIES,
    MAX_NAME_CHARS,
    STEP_TYPES,
    Limits,
    ProcessProposal,
    response_json_schema,
)
from hean_pipelines_tests.factory import valid_proposal


def _objects(node: object) -> Iterator[dict[str, Any]]:
    """Every JSON-schema object node (anything with properties or type object), recursively."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield node
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    yield from _objects(prop)
            else:
                yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def _keys(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    yield from _keys(prop)
            else:
                yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def test_schema_is_strict_every_object_closed_and_every_property_required() -> None:
    schema = response_json_schema()
    assert schema["type"] == "object"
    objects = list(_objects(schema))
    assert len(objects) >= 7  # batch, proposal, kill conditions, min total, measurement, step, human task
    for node in objects:
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])


def test_schema_budget_is_max_items() -> None:
    schema = response_json_schema()
    proposal = schema["$defs"]["ProcessProposal"]["properties"]
    assert proposal["steps"]["maxItems"] == 20
    assert proposal["human_tasks"]["maxItems"] == 5
    assert schema["properties"]["processes"]["maxItems"] == 3

    custom = response_json_schema(Limits(max_steps=7, max_human_tasks=2, max_candidates=1))
    proposal = custom["$defs"]["ProcessProposal"]["properties"]
    assert proposal["steps"]["maxItems"] == 7
    assert proposal["human_tasks"]["maxItems"] == 2
    assert custom["properties"]["processes"]["maxItems"] == 1


def test_schema_has_no_keyword_strict_mode_rejects() -> None:
    keys = set(_keys(response_json_schema()))
    for keyword in ("maxLength", "minLength", "pattern", "format", "minimum", "maximum", "default", "title"):
        assert keyword not in keys, keyword


def test_schema_enums_are_the_allow_lists() -> None:
    defs = response_json_schema()["$defs"]
    assert defs["Step"]["properties"]["type"]["enum"] == list(STEP_TYPES)
    assert defs["HumanTask"]["properties"]["category"]["enum"] == list(HUMAN_TASK_CATEGORIES)
    assert "withdraw" not in json.dumps(defs["Step"])


def test_model_never_sets_capital_or_link_prefix() -> None:
    properties = response_json_schema()["$defs"]["ProcessProposal"]["properties"]
    for forbidden in ("allocated_capital", "capital", "link_prefix", "status", "process_id"):
        assert forbidden not in properties
    with pytest.raises(ValidationError, match="extra"):
        ProcessProposal.model_validate(valid_proposal(allocated_capital=1000), strict=True)
    with pytest.raises(ValidationError):
        ProcessProposal.model_validate(valid_proposal(link_prefix="edge"), strict=True)


def test_valid_proposal_parses() -> None:
    proposal = ProcessProposal.model_validate(valid_proposal(), strict=True)
    assert proposal.id == "eth_funding_carry"
    assert proposal.kill_conditions.min_total_after_days is not None
    assert len(proposal.steps) == 5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "x" * (MAX_NAME_CHARS + 1)}, "at most 80 characters"),
        ({"name": "   "}, "blank"),
        ({"description": "d" * 1001}, "at most 1000 characters"),
        ({"id": "Bad-Id"}, "snake_case"),
        ({"id": "unattributed"}, "reserved"),
        ({"instruments": ["BTCUSD"]}, "quoted in USDT"),
        ({"instruments": []}, "1 to 5"),
        ({"risks": []}, "1 to 5"),
        ({"steps": []}, "at least one step"),
        ({"type": "arbitrage_bot"}, "Input should be"),
        ({"steps": [{"type": "transfer_funds", "description": "x"}]}, "Input should be"),
        ({"human_tasks": [{"category": "enter_password", "description": "x"}]}, "Input should be"),
        ({"steps": [{"type": "wait", "description": "w" * 301}]}, "at most 300 characters"),
    ],
)
def test_validators_enforce_lengths_shapes_and_allow_lists(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProcessProposal.model_validate(valid_proposal(**changes), strict=True)


@pytest.mark.parametrize(
    ("kill", "message"),
    [
        ({"max_drawdown_ratio": 0, "max_losing_streak_days": 5, "min_total_after_days": None}, "greater than 0"),
        ({"max_drawdown_ratio": 1.5, "max_losing_streak_days": 5, "min_total_after_days": None}, "at most 1"),
        ({"max_drawdown_ratio": 0.2, "max_losing_streak_days": 0, "min_total_after_days": None}, "between 1 and 365"),
        ({"max_drawdown_ratio": 0.2, "max_losing_streak_days": 5.0, "min_total_after_days": None}, "integer"),
        ({"max_drawdown_ratio": "0.2", "max_losing_streak_days": 5, "min_total_after_days": None}, "number"),
    ],
)
def test_kill_conditions_are_checked_strictly(kill: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProcessProposal.model_validate(valid_proposal(kill_conditions=kill), strict=True)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        Limits(max_steps=0)
