"""Backends: where a day's candidates come from. Both feed the same validation and safety path.

* :class:`OpenAIBackend` — the official ``openai`` SDK, **Chat Completions** (``seed`` exists only
  there), strict structured output (``response_format = {type: json_schema, json_schema: {strict:
  true, schema}}`` derived from the pydantic model), ``seed=42``, ``temperature=0.3``. Model,
  ``base_url``, timeout, ``max_retries``, seed and temperature (``None`` omits them: some models refuse
  them) are configurable; ``response_format="json_object"`` is a compatibility mode for servers without
  ``json_schema`` (the schema then goes into the system message). Transport retries (429, 5xx,
  timeouts; ``retry-after``/``retry-after-ms`` honoured) belong to the SDK (``max_retries``); this
  module never retries itself, and an authentication failure fails at once with
  :class:`FactoryAuthError`.
* :class:`OfflineBackend` — no API key: a deterministic generator of variations of the catalog's
  processes. Same input, same text, byte for byte.

:func:`backend_from_env` picks one from the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``HEAN_OPENAI_*``, ``HEAN_FACTORY_BACKEND``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from hean_pipelines.factory.model import SCHEMA_NAME, Limits

BackendName = Literal["openai", "offline"]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_SEED = 42
DEFAULT_TEMPERATURE = 0.3
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_RETRIES = 2

OFFLINE_MODEL = "offline-catalog-variations-v1"


class FactoryBackendError(RuntimeError):
    """The backend could not produce a reply (after the SDK's own retries). Nothing is written."""


class FactoryAuthError(FactoryBackendError):
    """The API refused the credentials (401/403). Never retried, never re-asked."""


# --------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class ProcessSummary:
    """A registry process as the prompt shows it (as of D)."""

    process_id: str
    name: str
    status: str
    source: str
    description: str
    process_type: str | None = None
    kill_conditions: Mapping[str, Any] | None = None
    measurement: Mapping[str, Any] | None = None
    instruments: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoreSummary:
    """A selector decision as of D (``selection.scores``)."""

    process_id: str
    as_of: date
    decision: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PromptContext:
    """What a prompt is built from: the day, the registry and the selector's scores as of D."""

    day: date
    effective_from: date
    processes: tuple[ProcessSummary, ...]
    scores: tuple[ScoreSummary, ...]
    taken_ids: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class GenerationRequest:
    """One call to a backend: the chat messages, the JSON schema of the reply and the structured
    context (which the offline generator reads instead of the text). ``attempt`` 2 is a re-ask: the
    messages then end with the rejected reply and what was wrong with it."""

    messages: tuple[ChatMessage, ...]
    schema: Mapping[str, Any]
    context: PromptContext
    schema_name: str = SCHEMA_NAME
    attempt: int = 1

    def with_feedback(self, previous_text: str, problems: list[str]) -> GenerationRequest:
        """The re-ask: the previous reply (as the assistant's message) and the problems found."""
        listed = "\n".join(f"- {p}" for p in problems[:30])
        feedback = (
            "Your previous reply was rejected by automatic validation:\n"
            f"{listed}\n"
            "Reply again with one JSON object that matches the schema exactly (every field present, "
            "allowed values only, within the limits). Do not add any text outside the JSON."
        )
        return GenerationRequest(
            messages=(
                *self.messages,
                ChatMessage("assistant", previous_text[:20000]),
                ChatMessage("user", feedback),
            ),
            schema=self.schema,
            context=self.context,
            schema_name=self.schema_name,
            attempt=self.attempt + 1,
        )


@dataclass(frozen=True)
class BackendResponse:
    """A backend's reply: the raw text (validated afterwards) and what the API said about it."""

    text: str
    response_model: str | None = None
    system_fingerprint: str | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Backend(Protocol):
    """What :func:`~hean_pipelines.factory.generate.generate_for_day` needs from a backend."""

    @property
    def name(self) -> BackendName: ...

    @property
    def model(self) -> str: ...

    def request_settings(self) -> Mapping[str, Any]:
        """Everything besides the messages and schema that shapes the reply (part of the prompt hash)."""
        ...

    def complete(self, request: GenerationRequest) -> BackendResponse: ...


# --------------------------------------------------------------------------------------------- OpenAI


def _optional_number(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in {"none", "off", "omit", "null"}:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number (or 'none' to omit the parameter)") from None


@dataclass(frozen=True)
class OpenAISettings:
    """How to call the OpenAI API. ``seed``/``temperature`` ``None``: not sent (models that refuse them)."""

    api_key: str = field(repr=False)
    model: str = DEFAULT_OPENAI_MODEL
    base_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    seed: int | None = DEFAULT_SEED
    temperature: float | None = DEFAULT_TEMPERATURE
    response_format: Literal["json_schema", "json_object"] = "json_schema"

    def __post_init__(self) -> None:
        if not self.api_key.strip():
            raise ValueError("OpenAISettings.api_key is empty")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if self.response_format not in ("json_schema", "json_object"):
            raise ValueError("response_format must be 'json_schema' or 'json_object'")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpenAISettings | None:
        """From ``OPENAI_API_KEY`` (``None`` when unset or blank), ``OPENAI_BASE_URL``,
        ``HEAN_OPENAI_MODEL``, ``HEAN_OPENAI_TIMEOUT_S``, ``HEAN_OPENAI_MAX_RETRIES``,
        ``HEAN_OPENAI_SEED`` and ``HEAN_OPENAI_TEMPERATURE`` (``none`` omits them),
        ``HEAN_OPENAI_RESPONSE_FORMAT`` (``json_schema`` | ``json_object``)."""
        env = os.environ if env is None else env
        key = env.get("OPENAI_API_KEY", "").strip()
        if not key:
            return None
        seed = _optional_number(env, "HEAN_OPENAI_SEED", DEFAULT_SEED)
        fmt = env.get("HEAN_OPENAI_RESPONSE_FORMAT", "").strip() or "json_schema"
        if fmt not in ("json_schema", "json_object"):
            raise ValueError(f"HEAN_OPENAI_RESPONSE_FORMAT={fmt!r}: use json_schema or json_object")
        timeout = _optional_number(env, "HEAN_OPENAI_TIMEOUT_S", DEFAULT_TIMEOUT_S)
        retries = _optional_number(env, "HEAN_OPENAI_MAX_RETRIES", DEFAULT_MAX_RETRIES)
        return cls(
            api_key=key,
            model=env.get("HEAN_OPENAI_MODEL", "").strip() or DEFAULT_OPENAI_MODEL,
            base_url=env.get("OPENAI_BASE_URL", "").strip() or None,
            timeout_s=DEFAULT_TIMEOUT_S if timeout is None else timeout,
            max_retries=DEFAULT_MAX_RETRIES if retries is None else int(retries),
            seed=None if seed is None else int(seed),
            temperature=_optional_number(env, "HEAN_OPENAI_TEMPERATURE", DEFAULT_TEMPERATURE),
            response_format="json_object" if fmt == "json_object" else "json_schema",
        )


def _status_hint(status: int, message: str) -> str:
    text = message.lower()
    if status == 400 and any(w in text for w in ("temperature", "seed")):
        return (
            " (this model may not accept seed/temperature: set HEAN_OPENAI_SEED=none or HEAN_OPENAI_TEMPERATURE=none)"
        )
    if status == 400 and ("response_format" in text or "json_schema" in text):
        return " (the server may not support json_schema: set HEAN_OPENAI_RESPONSE_FORMAT=json_object)"
    if status == 404:
        return " (check HEAN_OPENAI_MODEL and OPENAI_BASE_URL)"
    return ""


class OpenAIBackend:
    """Chat Completions with strict structured output through the official SDK."""

    def __init__(self, settings: OpenAISettings, *, client: Any | None = None) -> None:
        self.settings = settings
        if client is None:
            from openai import OpenAI

            client = OpenAI(
                api_key=settings.api_key,
                base_url=settings.base_url,
                timeout=settings.timeout_s,
                max_retries=settings.max_retries,
            )
        self._client = client

    @property
    def name(self) -> BackendName:
        return "openai"

    @property
    def model(self) -> str:
        return self.settings.model

    def request_settings(self) -> Mapping[str, Any]:
        return {
            "api": "chat.completions",
            "seed": self.settings.seed,
            "temperature": self.settings.temperature,
            "response_format": self.settings.response_format,
        }

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        schema = dict(request.schema)
        if self.settings.response_format == "json_object":
            # json_object mode enforces JSON only: the schema has to travel in the prompt.
            messages[0] = {
                "role": messages[0]["role"],
                "content": messages[0]["content"]
                + "\n\nReply with one JSON object that matches this JSON schema exactly:\n"
                + json.dumps(schema, sort_keys=True, separators=(",", ":")),
            }
            response_format: dict[str, Any] = {"type": "json_object"}
        else:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "strict": True, "schema": schema},
            }
        payload: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "response_format": response_format,
        }
        if self.settings.seed is not None:
            payload["seed"] = self.settings.seed
        if self.settings.temperature is not None:
            payload["temperature"] = self.settings.temperature
        return payload

    def complete(self, request: GenerationRequest) -> BackendResponse:
        import openai

        where = self.settings.base_url or "the OpenAI API"
        try:
            completion = self._client.chat.completions.create(**self._payload(request))
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise FactoryAuthError(
                f"{where} refused the credentials (HTTP {exc.status_code}): check OPENAI_API_KEY "
                f"(and the project's access to model {self.settings.model!r}). Not retried. Detail: {exc.message}"
            ) from exc
        except openai.RateLimitError as exc:
            raise FactoryBackendError(
                f"{where} kept rate-limiting the request (HTTP 429) after {self.settings.max_retries} "
                f"retries, or the quota is used up. Detail: {exc.message}"
            ) from exc
        except openai.APIStatusError as exc:
            hint = _status_hint(exc.status_code, exc.message)
            raise FactoryBackendError(f"{where} answered HTTP {exc.status_code}{hint}. Detail: {exc.message}") from exc
        except openai.APITimeoutError as exc:
            raise FactoryBackendError(
                f"{where} did not answer within {self.settings.timeout_s} s (after {self.settings.max_retries} retries)"
            ) from exc
        except openai.APIConnectionError as exc:
            raise FactoryBackendError(
                f"could not reach {where} (after {self.settings.max_retries} retries): {exc.message}"
            ) from exc
        except openai.APIError as exc:
            raise FactoryBackendError(f"{where}: {exc.message}") from exc
        usage = getattr(completion, "usage", None)
        choices = list(getattr(completion, "choices", None) or [])
        common: dict[str, Any] = {
            "response_model": getattr(completion, "model", None),
            "system_fingerprint": getattr(completion, "system_fingerprint", None),
            "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
            "total_tokens": int(getattr(usage, "total_tokens", 0) or 0),
        }
        if not choices:
            return BackendResponse(text="", finish_reason=None, **common)
        choice = choices[0]
        message = choice.message
        return BackendResponse(
            text=message.content or "",
            finish_reason=choice.finish_reason,
            refusal=getattr(message, "refusal", None),
            **common,
        )


# --------------------------------------------------------------------------------------------- offline


@dataclass(frozen=True)
class _Variant:
    slug: str
    label: str
    idea: str
    drawdown_factor: str
    streak_delta: int
    horizon_factor: int
    instruments: tuple[str, ...] | None
    entry: str


_VARIANTS: tuple[_Variant, ...] = (
    _Variant(
        "btc_only",
        "BTCUSDT only",
        "trades only BTCUSDT, to learn whether the parent's result depends on the symbol",
        "1",
        0,
        1,
        ("BTCUSDT",),
        "Place a limit order at the best bid or ask for the target size.",
    ),
    _Variant(
        "eth_only",
        "ETHUSDT only",
        "trades only ETHUSDT, to learn whether the parent's result depends on the symbol",
        "1",
        0,
        1,
        ("ETHUSDT",),
        "Place a limit order at the best bid or ask for the target size.",
    ),
    _Variant(
        "maker",
        "maker-only entries",
        "enters only with post-only limit orders, so every fill pays the maker fee or earns the rebate",
        "1",
        0,
        1,
        None,
        "Place a post-only limit order one tick inside the spread; cancel it if not filled within 15 minutes.",
    ),
    _Variant(
        "half_size",
        "half size, tighter limits",
        "runs the parent's rule at half the position size with tighter kill conditions",
        "0.6",
        -3,
        1,
        None,
        "Place a limit order for half of the parent's target size.",
    ),
    _Variant(
        "slow",
        "slower holding",
        "holds each target position about twice as long and trades half as often, paying fewer fees",
        "1",
        2,
        2,
        None,
        "Place a limit order for the target size once the signal has held for two consecutive hours.",
    ),
)

_FALLBACK_BASE = ProcessSummary(
    process_id="baseline_trend",
    name="Baseline trend",
    status="TESTING",
    source="catalog",
    description="A baseline trend follower on the BTCUSDT and ETHUSDT linear perpetuals.",
    process_type="trend_following",
    kill_conditions={"max_drawdown_ratio": "0.25", "max_losing_streak_days": 10},
    measurement={"metric": "total", "benchmark": "0", "horizon_days": 30},
    instruments=("BTCUSDT", "ETHUSDT"),
)

_TYPE_HINTS: tuple[tuple[str, str], ...] = (
    ("momentum", "momentum"),
    ("meanrev", "mean_reversion"),
    ("mean_rev", "mean_reversion"),
    ("mean rev", "mean_reversion"),
    ("scalp", "market_making"),
    ("market mak", "market_making"),
    ("funding", "carry_funding"),
    ("carry", "carry_funding"),
    ("basis", "basis_spread"),
    ("breakout", "breakout"),
    ("vol", "volatility"),
    ("trend", "trend_following"),
)


def _process_type(base: ProcessSummary) -> str:
    from hean_pipelines.factory.model import PROCESS_TYPES

    if base.process_type in PROCESS_TYPES:
        return base.process_type
    text = f"{base.process_id} {base.name}".lower()
    for hint, kind in _TYPE_HINTS:
        if hint in text:
            return kind
    return "trend_following"


def _decimal(value: object, default: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(default)
    return result if result.is_finite() else Decimal(default)


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


class OfflineBackend:
    """Deterministic variations of the catalog's processes, when no model is available.

    Bases: the registry's catalog processes as of D that are neither killed nor retired nor killed by
    the selector, SCALING decisions first; with none, a built-in baseline. Each proposal is one of five
    variations (single symbol, maker-only entries, half size with tighter limits, slower holding),
    chosen from a hash of the prompt, so the output changes with the day and the registry but never
    between two runs of the same input. Texts are fixed templates (nothing is copied from the registry
    but ids, names and numbers), so the output passes validation and safety.
    """

    def __init__(self, reason: str = "OPENAI_API_KEY is not set") -> None:
        self.reason = reason

    @property
    def name(self) -> BackendName:
        return "offline"

    @property
    def model(self) -> str:
        return OFFLINE_MODEL

    def request_settings(self) -> Mapping[str, Any]:
        return {"generator": OFFLINE_MODEL}

    def complete(self, request: GenerationRequest) -> BackendResponse:
        # The seed ignores a re-ask's extra messages: the same day gives the same proposals.
        base_prompt = [(m.role, m.content) for m in request.messages if m.role != "assistant"][:2]
        seed = hashlib.sha256(json.dumps(base_prompt, ensure_ascii=False).encode()).hexdigest()
        proposals = self.proposals(request.context, seed)
        text = json.dumps({"processes": proposals}, ensure_ascii=False, separators=(",", ":"))
        return BackendResponse(text=text, response_model=OFFLINE_MODEL, finish_reason="stop")

    def proposals(self, context: PromptContext, seed: str) -> list[dict[str, Any]]:
        decision = {s.process_id: s.decision for s in context.scores}
        rank = {"SCALING": 0, "TESTING": 1}
        bases = sorted(
            (
                p
                for p in context.processes
                if p.source == "catalog"
                and p.status not in {"KILLED", "retired", "proposed"}
                and decision.get(p.process_id) != "KILLED"
            ),
            key=lambda p: (rank.get(decision.get(p.process_id, ""), 1), p.process_id),
        ) or [_FALLBACK_BASE]
        start = int(seed[:8], 16) % len(_VARIANTS)
        taken = set(context.taken_ids)
        out: list[dict[str, Any]] = []
        for i in range(min(context.limits.max_candidates, len(bases) * len(_VARIANTS))):
            base = bases[i % len(bases)]
            # Base b gets variants start+b, start+b+1, ...: no (base, variant) pair twice.
            variant = _VARIANTS[(start + i // len(bases) + i % len(bases)) % len(_VARIANTS)]
            digest = hashlib.sha256(f"{seed}|{base.process_id}|{variant.slug}".encode()).hexdigest()[:6]
            process_id = f"{base.process_id[:24].rstrip('_')}_{variant.slug}_{digest}"
            if process_id in taken:
                continue
            taken.add(process_id)
            out.append(self._proposal(context, base, variant, process_id, decision.get(base.process_id)))
        return out

    def _proposal(
        self,
        context: PromptContext,
        base: ProcessSummary,
        variant: _Variant,
        process_id: str,
        decision: str | None,
    ) -> dict[str, Any]:
        kill = dict(base.kill_conditions or {})
        drawdown = _decimal(kill.get("max_drawdown_ratio"), "0.25") * Decimal(variant.drawdown_factor)
        drawdown = min(max(drawdown.quantize(Decimal("0.01")), Decimal("0.05")), Decimal(1))
        streak = min(max(_int(kill.get("max_losing_streak_days"), 10) + variant.streak_delta, 3), 365)
        measurement = dict(base.measurement or {})
        horizon = min(max(_int(measurement.get("horizon_days"), 30) * variant.horizon_factor, 7), 3650)
        instruments = list(variant.instruments or base.instruments or ("BTCUSDT", "ETHUSDT"))
        symbols = " and ".join(instruments)
        base_name = base.name[:40].rstrip()
        scored = (
            f"The selector's decision for {base.process_id} as of {context.day.isoformat()} is {decision}."
            if decision
            else f"The selector has no decision for {base.process_id} as of {context.day.isoformat()} yet."
        )
        steps = [
            ("fetch_market_data", f"Read the hourly mark prices and the top of the order book for {symbols}."),
            ("compute_indicator", f"Compute the same indicators as {base.process_id} on the hourly marks."),
            (
                "generate_signal",
                f"Derive the target side from {base.process_id}'s rule; this variation {variant.idea}.",
            ),
            ("check_risk_limits", "Skip the signal when the process is past a kill condition or the spread is wide."),
            ("size_position", "Size the position from the capital a human approves (none until approval)."),
            ("place_order", variant.entry + " Tag the order with the link prefix the registry assigns."),
            ("monitor_position", "Check the open position every hour against the target and the hourly mark."),
            ("close_position", "Close the position when the target side flips or the holding time is over."),
            ("record_metrics", "Record fills, fees and funding so the attribution can score the process."),
        ]
        return {
            "id": process_id,
            "name": f"{base_name}: {variant.label}"[:80],
            "type": _process_type(base),
            "description": (
                f"Offline variation of {base.process_id} ({base_name}) that {variant.idea}. It keeps the "
                f"parent's signal and trades {symbols} as a USDT linear perpetual in one-way mode."
            ),
            "market": "linear_perpetual",
            "instruments": instruments,
            "hypothesis": (
                f"If {base.process_id} earns its total from its signal rather than from luck, this "
                f"variation should too, and comparing the two shows whether the change ({variant.label}) "
                "helps after fees, funding and the cost of capital."
            ),
            "motivation": f"Built from {base.process_id} by the offline generator (no model was called). {scored}",
            "based_on": [base.process_id],
            "risks": [
                "The parent's result may be noise, in which case the variation inherits no edge.",
                "Fees and funding can exceed the gross result at this size.",
            ],
            "kill_conditions": {
                "max_drawdown_ratio": float(drawdown),
                "max_losing_streak_days": streak,
                "min_total_after_days": {"days": max(horizon * 2, 30), "min_total": 0.0},
            },
            "measurement": {"metric": "total", "benchmark": 0.0, "horizon_days": horizon},
            "steps": [{"type": t, "description": d} for t, d in steps],
            "human_tasks": [
                {
                    "category": "approve_capital",
                    "description": "Decide the capital to allocate; it stays 0 until a human approves.",
                },
                {
                    "category": "review_performance",
                    "description": f"After {horizon} days compare its attributed total with {base.process_id}.",
                },
                {
                    "category": "decide_kill_or_scale",
                    "description": "Act on the selector's recommendation: kill, keep testing or scale.",
                },
            ],
        }


# --------------------------------------------------------------------------------------------- choice


def backend_from_env(env: Mapping[str, str] | None = None) -> OpenAIBackend | OfflineBackend:
    """``OpenAIBackend`` when ``OPENAI_API_KEY`` is set, else :class:`OfflineBackend`.

    ``HEAN_FACTORY_BACKEND=offline`` forces the offline generator even with a key;
    ``HEAN_FACTORY_BACKEND=openai`` without a key is an error (rather than a silent offline run).
    """
    env = os.environ if env is None else env
    forced = env.get("HEAN_FACTORY_BACKEND", "").strip().lower()
    if forced not in {"", "auto", "openai", "offline"}:
        raise ValueError(f"HEAN_FACTORY_BACKEND={forced!r}: use auto, openai or offline")
    if forced == "offline":
        return OfflineBackend(reason="HEAN_FACTORY_BACKEND=offline")
    settings = OpenAISettings.from_env(env)
    if settings is None:
        if forced == "openai":
            raise FactoryBackendError("HEAN_FACTORY_BACKEND=openai but OPENAI_API_KEY is not set")
        return OfflineBackend(reason="OPENAI_API_KEY is not set")
    return OpenAIBackend(settings)
