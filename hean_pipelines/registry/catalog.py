"""The process catalog: the version-controlled ``catalog.yaml``, validated into pydantic models.

A *process* is a trading strategy that owns the orders whose ``orderLinkId`` starts with
``<link_prefix>-``. The catalog file lists every *version* of every process: a version is the full
definition (name, description, capital, kill conditions, measurement, status) in force from its
``valid_from`` until the next version of the same process (``valid_to`` is derived, never written).
Raising a process's capital from a date is a new version with that ``valid_from``; the old one stays.

File shape::

    processes:
      - process_id: edge_momentum      # snake_case, ^[a-z][a-z0-9_]{1,47}$
        name: Edge momentum
        description: ...
        link_prefix: edge              # letters, digits, '_' (no '-'); the process's identity
        allocated_capital: 20000       # USDT, exact decimal >= 0
        status: TESTING                # proposed | TESTING | SCALING | KILLED | retired (default TESTING)
        valid_from: 2025-12-29
        kill_conditions: {max_drawdown_ratio: 0.25, max_losing_streak_days: 10}
        measurement: {metric: total, benchmark: 0, horizon_days: 30}

Numbers are read as exact decimals (a YAML float ``0.25`` becomes ``Decimal("0.25")``, never a binary
float), and a key repeated inside one mapping is an error. Every validation failure raises
:class:`CatalogError`, which names the process and the field.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CATALOG_PATH: Path = Path(__file__).resolve().with_name("catalog.yaml")
"""The catalog shipped with the package (the sandbox account's processes)."""

CATALOG_PATH_ENV = "HEAN_CATALOG_PATH"
"""Environment variable naming another catalog file; read by :func:`load_catalog` when no path is given."""

UNATTRIBUTED = "unattributed"
"""The system process that owns every order no catalog prefix claims. Reserved as id and as prefix."""

Status = Literal["proposed", "TESTING", "SCALING", "KILLED", "retired"]
STATUSES: tuple[Status, ...] = typing.get_args(Status)

Metric = Literal["total", "return"]

PROCESS_ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
LINK_PREFIX_RE = re.compile(r"^[A-Za-z0-9_]+$")
MAX_LINK_PREFIX_LEN = 32
"""Bybit's ``orderLinkId`` holds at most 36 characters; a prefix leaves room for ``-`` and a suffix."""

Money = Annotated[Decimal, Field(max_digits=38, decimal_places=18)]
"""An exact decimal that fits DECIMAL(38,18)."""


# --------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class CatalogProblem:
    """One validation failure: which process (``None`` for file-level problems), which field, what."""

    process_id: str | None
    field: str | None
    message: str
    valid_from: str | None = None

    def __str__(self) -> str:
        if self.process_id is None:
            where = ""
        else:
            when = f" (valid_from {self.valid_from})" if self.valid_from else ""
            where = f"process {self.process_id!r}{when}"
            if self.field:
                where += f", field {self.field!r}"
            where += ": "
        return f"{where}{self.message}"


class CatalogError(ValueError):
    """The catalog is invalid. ``problems`` lists every failure; ``process_id``/``field`` name the first."""

    def __init__(self, problems: Sequence[CatalogProblem], *, source: str | None = None) -> None:
        if not problems:
            raise ValueError("CatalogError needs at least one problem")
        self.problems: tuple[CatalogProblem, ...] = tuple(problems)
        self.source = source
        self.process_id: str | None = self.problems[0].process_id
        self.field: str | None = self.problems[0].field
        head = f"invalid process catalog {source}" if source else "invalid process catalog"
        if len(self.problems) == 1:
            text = f"{head}: {self.problems[0]}"
        else:
            text = head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)

    @classmethod
    def single(
        cls,
        message: str,
        *,
        process_id: str | None = None,
        field: str | None = None,
        valid_from: date | str | None = None,
        source: str | None = None,
    ) -> CatalogError:
        vf = None if valid_from is None else str(valid_from)
        return cls([CatalogProblem(process_id, field, message, vf)], source=source)


# --------------------------------------------------------------------------------------------- models


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MinTotalAfterDays(_Strict):
    """Kill when, ``days`` days after the process's first ``valid_from``, its cumulative total is below
    ``min_total`` (USDT)."""

    days: int = Field(strict=True, ge=1)
    min_total: Money


class KillConditions(_Strict):
    """When a process must be killed. Evaluated by the selector on attributed totals (as of D)."""

    max_drawdown_ratio: Money = Field(gt=0, le=1)
    """Kill when the process's drawdown ratio exceeds this (0 < r <= 1)."""
    max_losing_streak_days: int = Field(strict=True, ge=1)
    """Kill after this many consecutive run days with a negative total."""
    min_total_after_days: MinTotalAfterDays | None = None


class Measurement(_Strict):
    """What the process is judged on: ``metric`` against ``benchmark`` over ``horizon_days``.

    ``metric`` ``total`` is the attributed daily total in USDT (benchmark in USDT per day); ``return`` is
    total / allocated capital (benchmark a ratio per day).
    """

    metric: Metric = "total"
    benchmark: Money = Decimal(0)
    horizon_days: int = Field(default=30, strict=True, ge=1)


class ProcessVersion(_Strict):
    """One version of a process, in force from ``valid_from`` until the next version (or open)."""

    process_id: str
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    link_prefix: str
    allocated_capital: Money = Field(ge=0)
    """USDT tied up by the process (its opportunity cost base)."""
    kill_conditions: KillConditions
    measurement: Measurement
    status: Status = "TESTING"
    valid_from: date
    approved_by: str | None = None
    """Who approved this version (optional; the catalog's own approval is its commit)."""

    @field_validator("process_id")
    @classmethod
    def _check_process_id(cls, value: str) -> str:
        if value == UNATTRIBUTED:
            raise ValueError(f"{UNATTRIBUTED!r} is reserved for the system process that owns unclaimed orders")
        if not PROCESS_ID_RE.match(value):
            raise ValueError(
                f"must be snake_case: a lowercase letter, then 1 to 47 lowercase letters, digits or '_' "
                f"(^[a-z][a-z0-9_]{{1,47}}$); got {value!r}"
            )
        return value

    @field_validator("link_prefix")
    @classmethod
    def _check_link_prefix(cls, value: str) -> str:
        if not LINK_PREFIX_RE.match(value):
            hint = " ('-' separates the prefix from the rest of the orderLinkId)" if "-" in value else ""
            raise ValueError(f"must be letters, digits or '_' only (^[A-Za-z0-9_]+$){hint}; got {value!r}")
        if len(value) > MAX_LINK_PREFIX_LEN:
            raise ValueError(
                f"at most {MAX_LINK_PREFIX_LEN} characters (Bybit's orderLinkId holds 36); got {len(value)}"
            )
        if value.lower() == UNATTRIBUTED:
            raise ValueError(f"{value!r} is reserved (the system process {UNATTRIBUTED!r})")
        return value

    @field_validator("name", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def document(self) -> dict[str, Any]:
        """The whole version as JSON-ready data: decimals as canonical strings (``20000``, ``0.25``: the
        same number always gives the same text), dates ISO."""
        return _jsonable(self.model_dump(mode="python"))


def canonical_decimal(value: Decimal) -> str:
    """Plain (never exponent) text of a decimal without trailing zeros: ``20000.00`` -> ``20000``."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def _jsonable(value: object) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class Catalog(_Strict):
    """Every version of every process. Cross-version rules are checked on construction."""

    versions: list[ProcessVersion]

    @model_validator(mode="after")
    def _check_versions(self) -> Catalog:
        problems = catalog_problems(self.versions)
        if problems:
            raise CatalogError(problems)
        return self

    def sorted_versions(self) -> list[ProcessVersion]:
        """Versions ordered by (process_id, valid_from)."""
        return sorted(self.versions, key=lambda v: (v.process_id, v.valid_from))

    def timeline(self) -> list[tuple[ProcessVersion, date | None]]:
        """Each version with its derived ``valid_to`` (the next version's ``valid_from``; ``None``: open),
        ordered by (process_id, valid_from)."""
        ordered = self.sorted_versions()
        out: list[tuple[ProcessVersion, date | None]] = []
        for i, version in enumerate(ordered):
            nxt = ordered[i + 1] if i + 1 < len(ordered) else None
            valid_to = nxt.valid_from if nxt is not None and nxt.process_id == version.process_id else None
            out.append((version, valid_to))
        return out

    def as_of(self, day: date) -> list[ProcessVersion]:
        """The version of each process in force on ``day`` (``valid_from <= day < valid_to``), by
        process_id. Processes whose first version starts after ``day`` are absent."""
        return [
            version
            for version, valid_to in self.timeline()
            if version.valid_from <= day and (valid_to is None or day < valid_to)
        ]

    def earliest_valid_from(self) -> date:
        return min(v.valid_from for v in self.versions)

    def link_prefixes(self) -> dict[str, str]:
        """Every prefix ever assigned -> its process_id (a prefix never changes owner)."""
        return {v.link_prefix: v.process_id for v in self.sorted_versions()}


def catalog_problems(versions: Sequence[ProcessVersion]) -> list[CatalogProblem]:
    """The cross-version rules: non-empty; (process_id, valid_from) unique; a process keeps its prefix;
    prefixes unique across processes and none a prefix of another (both case-insensitive)."""
    if not versions:
        return [CatalogProblem(None, None, "the catalog lists no process (at least one is required)")]
    problems: list[CatalogProblem] = []
    seen: set[tuple[str, date]] = set()
    prefix_of: dict[str, str] = {}  # process_id -> its prefix (first version by valid_from)
    for v in sorted(versions, key=lambda v: (v.process_id, v.valid_from)):
        key = (v.process_id, v.valid_from)
        if key in seen:
            problems.append(
                CatalogProblem(
                    v.process_id,
                    "valid_from",
                    "two versions of the process start on the same day (process_id + valid_from must be unique)",
                    str(v.valid_from),
                )
            )
        seen.add(key)
        first = prefix_of.setdefault(v.process_id, v.link_prefix)
        if v.link_prefix != first:
            problems.append(
                CatalogProblem(
                    v.process_id,
                    "link_prefix",
                    f"changed from {first!r} to {v.link_prefix!r}; a process keeps its link_prefix in "
                    "every version (it is the process's identity in orderLinkIds)",
                    str(v.valid_from),
                )
            )
    owners = sorted(prefix_of.items(), key=lambda item: (item[1].lower(), item[0]))
    for i, (pid_a, prefix_a) in enumerate(owners):
        for pid_b, prefix_b in owners[i + 1 :]:
            a, b = prefix_a.lower(), prefix_b.lower()
            if a == b:
                problems.append(
                    CatalogProblem(
                        pid_b,
                        "link_prefix",
                        f"{prefix_b!r} is already the prefix of process {pid_a!r} "
                        "(prefixes are unique across processes, case-insensitively)",
                    )
                )
            elif b.startswith(a) or a.startswith(b):
                short, long_ = (prefix_a, prefix_b) if len(a) < len(b) else (prefix_b, prefix_a)
                long_pid = pid_b if long_ is prefix_b else pid_a
                short_pid = pid_a if long_pid == pid_b else pid_b
                problems.append(
                    CatalogProblem(
                        long_pid,
                        "link_prefix",
                        f"{long_!r} starts with {short!r}, the prefix of process {short_pid!r}; no prefix "
                        "may be a prefix of another (case-insensitive)",
                    )
                )
    return problems


# --------------------------------------------------------------------------------------------- loading


class _CatalogLoader(yaml.SafeLoader):
    """Safe YAML with exact decimals for floats and no repeated keys inside a mapping."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    text = str(loader.construct_scalar(node))
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:
        # .inf / .nan and sexagesimal floats: let pydantic refuse or accept what SafeLoader makes of them.
        return loader.construct_yaml_float(node)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[object, object]:
    loader.flatten_mapping(node)
    out: dict[object, object] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_CatalogLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_CatalogLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _resolve_path(path: Path | None) -> Path:
    if path is not None:
        return Path(path)
    configured = os.environ.get(CATALOG_PATH_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_CATALOG_PATH


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file.

    ``path`` ``None``: ``$HEAN_CATALOG_PATH`` if set, else the packaged :data:`DEFAULT_CATALOG_PATH`.
    Raises :class:`CatalogError` (naming the process and the field) for any problem, including a missing
    file or malformed YAML.
    """
    file = _resolve_path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = f" (set by {CATALOG_PATH_ENV})" if path is None and os.environ.get(CATALOG_PATH_ENV) else ""
        raise CatalogError.single(f"file not found{hint}", source=source) from None
    try:
        raw = yaml.load(text, Loader=_CatalogLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CatalogError.single(f"not valid YAML: {exc}", source=source) from exc
    return parse_catalog(raw, source=source)


def parse_catalog(raw: object, *, source: str | None = None) -> Catalog:
    """Validate already-parsed catalog data (``{"processes": [...]}``) into a :class:`Catalog`."""
    if not isinstance(raw, Mapping):
        raise CatalogError.single(
            "the file must be a mapping with one key, 'processes' (a list of process versions)",
            source=source,
        )
    unknown = sorted(str(k) for k in raw if k != "processes")
    if unknown:
        raise CatalogError.single(f"unknown top-level key(s) {unknown}; the only key is 'processes'", source=source)
    entries = raw.get("processes")
    if not isinstance(entries, list):
        raise CatalogError.single("'processes' must be a list of process versions", source=source)
    try:
        return Catalog.model_validate({"versions": entries})
    except ValidationError as exc:
        raise CatalogError(_problems_from(exc, entries), source=source) from None


def _describe(entries: Sequence[object], index: int) -> tuple[str, str | None]:
    entry = entries[index] if 0 <= index < len(entries) else None
    if isinstance(entry, Mapping):
        pid = entry.get("process_id")
        vf = entry.get("valid_from")
        name = str(pid) if isinstance(pid, str) and pid else f"<entry #{index + 1} without process_id>"
        return name, (None if vf is None else str(vf))
    return f"<entry #{index + 1}>", None


def _model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] = ProcessVersion
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        candidates = [field.annotation]
        if isinstance(field.annotation, types.UnionType) or typing.get_origin(field.annotation) is typing.Union:
            candidates = list(typing.get_args(field.annotation))
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _problems_from(exc: ValidationError, entries: Sequence[object]) -> list[CatalogProblem]:
    problems: list[CatalogProblem] = []
    for err in exc.errors():
        loc = err["loc"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, CatalogError):
            problems.extend(cause.problems)
            continue
        if len(loc) < 2 or loc[0] != "versions" or not isinstance(loc[1], int):
            problems.append(CatalogProblem(None, None, str(err["msg"])))
            continue
        pid, vf = _describe(entries, loc[1])
        inner = list(loc[2:])
        field = ".".join(str(p) for p in inner) or None
        kind = err["type"]
        message = str(err["msg"])
        if kind == "extra_forbidden":
            model = _model_at(inner[:-1])
            allowed = f"; allowed: {', '.join(model.model_fields)}" if model is not None else ""
            message = f"unknown key {str(inner[-1])!r}{allowed}"
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "model_type" and not inner:
            message = f"each process version must be a mapping (got {err.get('input')!r})"
        elif kind == "value_error":
            message = message.removeprefix("Value error, ")  # our own messages already quote the value
        elif not isinstance(err.get("input"), Mapping | list):
            message += f" (got {err.get('input')!r})"
        problems.append(CatalogProblem(pid, field, message, vf))
    return problems


# --------------------------------------------------------------------------------------------- lookup


def process_for_link_id(order_link_id: str | None, prefixes: Mapping[str, str]) -> str:
    """The process owning an order: ``prefixes`` maps link_prefix -> process_id.

    The prefix is the part of ``order_link_id`` before its first ``-`` (an id without ``-`` has none).
    Empty, ``None`` or an unknown prefix -> :data:`UNATTRIBUTED`. Matching is exact (case-sensitive),
    as Bybit's orderLinkIds are.
    """
    if not order_link_id:
        return UNATTRIBUTED
    prefix, sep, _rest = order_link_id.partition("-")
    if not sep or not prefix:
        return UNATTRIBUTED
    return prefixes.get(prefix, UNATTRIBUTED)
