"""Tests of the process factory. Shared builders: a valid proposal and an OpenAI chat-completion body."""

from __future__ import annotations

import copy
import json
from typing import Any

VALID_PROPOSAL: dict[str, Any] = {
    "id": "eth_funding_carry",
    "name": "ETH funding carry",
    "type": "carry_funding",
    "description": "Holds a short ETHUSDT perpetual position when the funding rate is high, to collect funding.",
    "market": "linear_perpetual",
    "instruments": ["ETHUSDT"],
    "hypothesis": "Funding stays positive for days at a time; the carry exceeds the taker fees of entry and exit.",
    "motivation": "edge_momentum is TESTING and trades ETHUSDT; no process collects funding yet.",
    "based_on": ["edge_momentum"],
    "risks": ["A sharp rally while short.", "Funding can flip negative."],
    "kill_conditions": {
        "max_drawdown_ratio": 0.2,
        "max_losing_streak_days": 7,
        "min_total_after_days": {"days": 45, "min_total": 0},
    },
    "measurement": {"metric": "total", "benchmark": 0, "horizon_days": 30},
    "steps": [
        {"type": "fetch_market_data", "description": "Read the hourly mark price and the current funding rate."},
        {"type": "generate_signal", "description": "Go short when the funding rate is above 0.03% per 8 hours."},
        {"type": "check_risk_limits", "description": "Skip when the process is past a kill condition."},
        {"type": "place_order", "description": "Place a post-only limit order at the best ask."},
        {"type": "close_position", "description": "Close when the funding rate falls below 0.01%."},
    ],
    "human_tasks": [
        {"category": "approve_capital", "description": "Decide the capital after reading the proposal."},
        {"category": "review_performance", "description": "Review the attributed total after 30 days."},
    ],
}


def valid_proposal(**changes: Any) -> dict[str, Any]:
    """A deep copy of :data:`VALID_PROPOSAL` with top-level fields replaced."""
    out = copy.deepcopy(VALID_PROPOSAL)
    out.update(changes)
    return out


def reply(*proposals: dict[str, Any]) -> str:
    """The text of a model reply proposing ``proposals``."""
    return json.dumps({"processes": list(proposals)})


def chat_completion(
    content: str | None,
    *,
    model: str = "gpt-test-2026-01-01",
    fingerprint: str | None = "fp_test123",
    finish_reason: str = "stop",
    refusal: str | None = None,
    usage: tuple[int, int] = (1200, 300),
) -> dict[str, Any]:
    """An OpenAI Chat Completions response body."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]},
    }
