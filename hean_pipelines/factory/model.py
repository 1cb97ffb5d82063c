"""The process model the factory asks for, and the strict JSON schema sent to the model.

A model's reply is one JSON object ``{"processes": [ProcessProposal, ...]}``. The pydantic models here
are *strict* (no coercion, unknown keys refused, every field required) and carry no JSON-schema
constraint that OpenAI's strict structured outputs refuse: string lengths, id shapes and number ranges
are checked by validators, while the budget (at most ``max_steps`` steps, ``max_human_tasks`` human
tasks, ``max_candidates`` proposals per reply) is written into the schema as ``maxItems`` by
:func:`response_json_schema` *and* checked again by :mod:`hean_pipelines.factory.validation`.

Step types, human-task categories, process types and markets are closed enums (allow-lists). A
proposal never carries capital or a link prefix: code assigns both when it registers an accepted
candidate (capital 0 until a human approves).
"""

from __future__ import annotations

import copy
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hean_pipelines.registry.catalog import UNATTRIBUTED

ProcessType = Literal[
    "trend_following",
    "momentum",
    "mean_reversion",
    "breakout",
    "carry_funding",
    "basis_spread",
    "market_making",
    "statistical_arbitrage",
    "volatility",
    "hedging",
]
PROCESS_TYPES: tuple[str, ...] = typing.get_args(ProcessType)

Market = Literal["linear_perpetual", "spot"]
"""v1 scope: USDT-settled linear perpetuals (one-way mode) or spot pairs quoted in USDT."""
MARKETS: tuple[str, ...] = typing.get_args(Market)

StepType = Literal[
    "fetch_market_data",
    "compute_indicator",
    "generate_signal",
    "check_risk_limits",
    "size_position",
    "place_order",
    "amend_order",
    "cancel_order",
    "close_position",
    "monitor_position",
    "record_metrics",
    "wait",
]
"""The allow-list of step types. Nothing else (no transfers, no browser, no credentials) can be a step."""
STEP_TYPES: tuple[str, ...] = typing.get_args(StepType)

HumanTaskCategory = Literal[
    "approve_capital",
    "review_performance",
    "review_risk_limits",
    "confirm_market_conditions",
    "respond_to_alert",
    "decide_kill_or_scale",
]
"""The allow-list of what a human may be asked to do for a process."""
HUMAN_TASK_CATEGORIES: tuple[str, ...] = typing.get_args(HumanTaskCategory)

Metric = Literal["total", "return"]

# String limits (characters): checked by validators, not by maxLength (strict mode refuses it).
MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 1000
MAX_REVIEW_TEXT_CHARS = 600
"""``hypothesis`` and ``motivation``."""
MAX_ITEM_CHARS = 300
"""A step's or a human task's description, one risk."""
MAX_LIST_ITEMS = 5
"""``instruments``, ``risks``, ``based_on``."""

PROPOSAL_ID_RE = re.compile(r"^[a-z][a-z0-9_]{2,47}$")
"""A proposed process id: snake_case, 3 to 48 characters (the registry allows ``^[a-z][a-z0-9_]{1,47}$``)."""
INSTRUMENT_RE = re.compile(r"^[A-Z0-9]{2,20}USDT$")
"""A Bybit symbol quoted/settled in USDT (``BTCUSDT``): the v1 accounting scope."""

MAX_DAYS = 3650


@dataclass(frozen=True)
class Limits:
    """The budget of one reply. ``max_steps``/``max_human_tasks``/``max_candidates`` become ``maxItems``
    in the schema sent to the model and are checked again on every candidate, whatever the backend."""

    max_steps: int = 20
    max_human_tasks: int = 5
    max_candidates: int = 3

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_human_tasks", "max_candidates"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Limits.{name} must be an integer >= 1, got {value!r}")


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _text(value: str, *, limit: int, allow_empty: bool = False) -> str:
    if not allow_empty and not value.strip():
        raise ValueError("must not be blank")
    if len(value) > limit:
        raise ValueError(f"at most {limit} characters (got {len(value)})")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class Step(_Strict):
    """One step of the process's loop, as a reviewer reads it. Steps are never executed by this system."""

    type: StepType = Field(description="What kind of step this is (allow-listed).")
    description: str = Field(description=f"What the step does, concretely (at most {MAX_ITEM_CHARS} characters).")

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str) -> str:
        return _text(value, limit=MAX_ITEM_CHARS)


class HumanTask(_Strict):
    """Something a human must do for the process (approve capital, review results, ...)."""

    category: HumanTaskCategory = Field(description="What kind of human decision or check (allow-listed).")
    description: str = Field(description=f"What the human does and when (at most {MAX_ITEM_CHARS} characters).")

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str) -> str:
        return _text(value, limit=MAX_ITEM_CHARS)


class MinTotalAfterDaysSpec(_Strict):
    """Kill when, some days after the process starts, its cumulative total is below a minimum."""

    days: int = Field(description="Days after the start (1 to 3650).")
    min_total: float = Field(description="Minimum cumulative attributed total in USDT.")

    @field_validator("days")
    @classmethod
    def _check_days(cls, value: int) -> int:
        if not 1 <= value <= MAX_DAYS:
            raise ValueError(f"must be between 1 and {MAX_DAYS} (got {value})")
        return value

    @field_validator("min_total")
    @classmethod
    def _check_total(cls, value: float) -> float:
        return _finite(value)


class KillConditionsSpec(_Strict):
    """When the process must be killed (the registry's kill-condition shape)."""

    max_drawdown_ratio: float = Field(description="Kill when the drawdown ratio exceeds this; 0 < r <= 1.")
    max_losing_streak_days: int = Field(description="Kill after this many consecutive losing run days (1 to 365).")
    min_total_after_days: MinTotalAfterDaysSpec | None = Field(
        description="Optional: kill when the cumulative total is too low after some days; null for none."
    )

    @field_validator("max_drawdown_ratio")
    @classmethod
    def _check_ratio(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 < value <= 1):
            raise ValueError(f"must be greater than 0 and at most 1 (got {value})")
        return value

    @field_validator("max_losing_streak_days")
    @classmethod
    def _check_streak(cls, value: int) -> int:
        if not 1 <= value <= 365:
            raise ValueError(f"must be between 1 and 365 (got {value})")
        return value


class MeasurementSpec(_Strict):
    """What the process is judged on: a metric against a benchmark over a horizon."""

    metric: Metric = Field(
        description="'total': attributed daily total in USDT; 'return': total / allocated capital per day."
    )
    benchmark: float = Field(description="The daily benchmark (USDT for 'total', a ratio for 'return').")
    horizon_days: int = Field(description="Evaluation horizon in days (1 to 3650).")

    @field_validator("benchmark")
    @classmethod
    def _check_benchmark(cls, value: float) -> float:
        return _finite(value)

    @field_validator("horizon_days")
    @classmethod
    def _check_horizon(cls, value: int) -> int:
        if not 1 <= value <= MAX_DAYS:
            raise ValueError(f"must be between 1 and {MAX_DAYS} (got {value})")
        return value


class ProcessProposal(_Strict):
    """One candidate process, as proposed by a backend. No capital, no link prefix: code assigns those."""

    id: str = Field(description="A new snake_case process id, 3 to 48 characters, e.g. 'eth_funding_carry'.")
    name: str = Field(description=f"A short human-readable name (at most {MAX_NAME_CHARS} characters).")
    type: ProcessType = Field(description="The kind of trading process (allow-listed).")
    description: str = Field(
        description=f"What the process trades and how, in plain words (at most {MAX_DESCRIPTION_CHARS} characters)."
    )
    market: Market = Field(description="USDT linear perpetuals (one-way mode) or USDT-quoted spot.")
    instruments: list[str] = Field(
        description=f"Bybit symbols traded, quoted in USDT, e.g. 'BTCUSDT' (1 to {MAX_LIST_ITEMS})."
    )
    hypothesis: str = Field(
        description="Why it should earn money after fees, funding and the cost of the capital it ties up "
        f"(at most {MAX_REVIEW_TEXT_CHARS} characters)."
    )
    motivation: str = Field(
        description="Which registry processes and selector decisions led to this proposal "
        f"(at most {MAX_REVIEW_TEXT_CHARS} characters)."
    )
    based_on: list[str] = Field(
        description=f"Ids of existing processes this one varies or complements (0 to {MAX_LIST_ITEMS})."
    )
    risks: list[str] = Field(
        description=f"The main ways it can lose money or fail (1 to {MAX_LIST_ITEMS}, each at most "
        f"{MAX_ITEM_CHARS} characters)."
    )
    kill_conditions: KillConditionsSpec
    measurement: MeasurementSpec
    steps: list[Step] = Field(description="The process's loop, in order, using only allow-listed step types.")
    human_tasks: list[HumanTask] = Field(description="What a human must do for this process.")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if value == UNATTRIBUTED:
            raise ValueError(f"{UNATTRIBUTED!r} is reserved for the system process")
        if not PROPOSAL_ID_RE.match(value):
            raise ValueError(
                f"must be snake_case: a lowercase letter, then 2 to 47 lowercase letters, digits or '_' (got {value!r})"
            )
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _text(value, limit=MAX_NAME_CHARS)

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str) -> str:
        return _text(value, limit=MAX_DESCRIPTION_CHARS)

    @field_validator("hypothesis", "motivation")
    @classmethod
    def _check_review_text(cls, value: str) -> str:
        return _text(value, limit=MAX_REVIEW_TEXT_CHARS)

    @field_validator("instruments")
    @classmethod
    def _check_instruments(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= MAX_LIST_ITEMS:
            raise ValueError(f"must list 1 to {MAX_LIST_ITEMS} symbols (got {len(value)})")
        bad = [s for s in value if not INSTRUMENT_RE.match(s)]
        if bad:
            raise ValueError(f"must be Bybit symbols quoted in USDT such as 'BTCUSDT' (got {bad!r})")
        if len(set(value)) != len(value):
            raise ValueError("lists a symbol twice")
        return value

    @field_validator("based_on")
    @classmethod
    def _check_based_on(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_LIST_ITEMS:
            raise ValueError(f"at most {MAX_LIST_ITEMS} ids (got {len(value)})")
        bad = [s for s in value if not re.match(r"^[a-z][a-z0-9_]{1,47}$", s)]
        if bad:
            raise ValueError(f"must be snake_case process ids (got {bad!r})")
        return value

    @field_validator("risks")
    @classmethod
    def _check_risks(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= MAX_LIST_ITEMS:
            raise ValueError(f"must list 1 to {MAX_LIST_ITEMS} risks (got {len(value)})")
        return [_text(v, limit=MAX_ITEM_CHARS) for v in value]

    @field_validator("steps")
    @classmethod
    def _check_steps(cls, value: list[Step]) -> list[Step]:
        if not value:
            raise ValueError("needs at least one step")
        return value

    @model_validator(mode="after")
    def _check_measurement(self) -> ProcessProposal:
        if self.measurement.metric == "return" and abs(self.measurement.benchmark) >= 1:
            raise ValueError("measurement.benchmark for metric 'return' is a daily ratio and must be below 1 in size")
        return self


class ProposalBatch(_Strict):
    """A whole reply: the proposed processes (possibly none)."""

    processes: list[ProcessProposal] = Field(description="The proposed new processes (may be empty).")


# --------------------------------------------------------------------------------------------- schema

SCHEMA_NAME = "process_proposals"
"""The ``json_schema.name`` sent to the API (a-z, A-Z, 0-9, '_' and '-', at most 64 characters)."""

_DROP_KEYS = frozenset({"title", "default"})


def _strictify(node: object) -> object:
    """Every object closed (``additionalProperties: false``) with every property required; titles and
    defaults dropped (strict mode needs every key present; titles only cost tokens)."""
    if isinstance(node, list):
        return [_strictify(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _strictify(prop) for name, prop in value.items()}
        else:
            out[key] = _strictify(value)
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    return out


def response_json_schema(limits: Limits | None = None) -> dict[str, Any]:
    """The JSON schema of a whole reply, for ``response_format = {type: json_schema, strict: true}``.

    Derived from :class:`ProposalBatch`: every object has ``additionalProperties: false`` and lists
    every property as required (nullable fields are ``anyOf [..., null]``), enums are the allow-lists,
    and the budget is ``maxItems`` (``processes`` <= ``max_candidates``, ``steps`` <= ``max_steps``,
    ``human_tasks`` <= ``max_human_tasks``, the short lists <= 5). No ``maxLength``/``pattern``/
    ``minimum``: those live in validators.
    """
    limits = limits or Limits()
    schema = copy.deepcopy(ProposalBatch.model_json_schema())
    strict = _strictify(schema)
    assert isinstance(strict, dict)
    strict["properties"]["processes"]["maxItems"] = limits.max_candidates
    proposal = strict["$defs"]["ProcessProposal"]["properties"]
    proposal["steps"]["maxItems"] = limits.max_steps
    proposal["human_tasks"]["maxItems"] = limits.max_human_tasks
    for name in ("instruments", "based_on", "risks"):
        proposal[name]["maxItems"] = MAX_LIST_ITEMS
    strict["description"] = (
        "Candidate trading processes for human review. Data only: nothing is executed, and capital "
        "and order-link prefixes are assigned by code, never by this reply."
    )
    return strict
