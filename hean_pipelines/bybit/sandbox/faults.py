"""Fault injection for the sandbox exchange: the ways the real Bybit misbehaves, on demand.

A :class:`FaultPlan` holds rules added at runtime (thread-safe). Each rule names a path (an exact path,
``"*"`` for any, or an ``fnmatch`` pattern such as ``"/v5/account/*"``), a kind, how many times it
fires (``count``) and how many matching requests it lets through first (``after``). Every rule sees
every request to a path it matches; when several rules could fire on one request the one added first
wins and only that one is consumed.

Kinds
-----
``http_429``        HTTP 429 with ``Retry-After: <retry_after_s>`` (default 0) and a 10006 JSON body.
``http_500`` / ``http_502`` / ``http_503``   a gateway-style plain error page.
``http_403``        Bybit's IP ban / region block: HTTP 403 with a plain-text body.
``http_401``        HTTP 401 with a plain-text body.
``slow``            sleep ``delay_s`` seconds (default 1), then answer normally.
``truncated_json``  HTTP 200 with valid headers (``Content-Length`` matches what is sent), the normal
                    JSON body cut in the middle.
``repeat_cursor``   a normal page whose ``nextPageCursor`` is the cursor the request sent (a broken
                    paginator that would loop forever; use with ``+1`` so it fires on a cursor request).
``duplicate_fill``  a normal page on which the first ``Trade`` execution appears twice, the copy under
                    the execId ``<execId>-dup`` (the same fill delivered under a second id: corrupt
                    data that passes every shape validation, which only the ledger's checks can catch).
``ret_code``        HTTP 200 with ``{"retCode": ret_code, "retMsg": ret_msg}`` (default 10006 "Too many
                    visits!") and ``X-Bapi-Limit-Reset-Timestamp`` = now + ``retry_after_s``.

String form (for ``hean sandbox --fault``)
------------------------------------------
::

    SPEC := RULE ( ("," | ";" | whitespace) RULE )*
    RULE := KIND ["=" ARG] [":" COUNT] ["+" AFTER] ["@" PATH]

``COUNT`` defaults to 1, ``AFTER`` to 0 and ``PATH`` to ``*``. ``ARG`` depends on the kind:
``http_429=SECONDS`` (the Retry-After), ``slow=SECONDS`` (float), ``ret_code=CODE`` or
``ret_code=CODE/SECONDS`` (SECONDS: how far in the future X-Bapi-Limit-Reset-Timestamp points); the
other kinds take none. Examples::

    http_429:3@/v5/execution/list            three 429s on executions, then normal answers
    http_502+2@*                             the third request to anything gets a 502
    ret_code=10006/1:2@/v5/account/transaction-log
    slow=0.5:1@/v5/order/history, truncated_json@/v5/position/closed-pnl
"""

from __future__ import annotations

import fnmatch
import re
import threading
from dataclasses import dataclass, replace

HTTP_429 = "http_429"
HTTP_500 = "http_500"
HTTP_502 = "http_502"
HTTP_503 = "http_503"
HTTP_403 = "http_403"
HTTP_401 = "http_401"
SLOW = "slow"
TRUNCATED_JSON = "truncated_json"
RET_CODE = "ret_code"
REPEAT_CURSOR = "repeat_cursor"
DUPLICATE_FILL = "duplicate_fill"

FAULT_KINDS: frozenset[str] = frozenset(
    {
        HTTP_429,
        HTTP_500,
        HTTP_502,
        HTTP_503,
        HTTP_403,
        HTTP_401,
        SLOW,
        TRUNCATED_JSON,
        RET_CODE,
        REPEAT_CURSOR,
        DUPLICATE_FILL,
    }
)
HTTP_STATUS_BY_KIND: dict[str, int] = {
    HTTP_429: 429,
    HTTP_500: 500,
    HTTP_502: 502,
    HTTP_503: 503,
    HTTP_403: 403,
    HTTP_401: 401,
}

# Bybit's messages for the retCodes a ret_code fault is likely to use.
DEFAULT_RET_MSGS: dict[int, str] = {
    10000: "Server Timeout",
    10001: "params error",
    10002: "invalid request, please check your server timestamp or recv_window param",
    10003: "API key is invalid.",
    10004: "Error sign, please check your signature generation algorithm.",
    10005: "Permission denied, please check your API key permissions.",
    10006: "Too many visits!",
    10007: "User authentication failed.",
    10009: "IP has been banned.",
    10010: "Unmatched IP, please check your API key's bound IP addresses.",
    10016: "Server error.",
    10018: "Exceeded the IP Rate Limit.",
    33004: "Your api key has expired.",
}

DEFAULT_SLOW_SECONDS = 1.0

_RULE_RE = re.compile(
    r"^(?P<kind>[a-z0-9_]+)"
    r"(?:=(?P<arg>[^:+@\s]+))?"
    r"(?::(?P<count>\d+))?"
    r"(?:\+(?P<after>\d+))?"
    r"(?:@(?P<path>\S+))?$"
)
_SPEC_SPLIT_RE = re.compile(r"[,;\s]+")


class FaultSpecError(ValueError):
    """A fault rule or its string form is malformed."""


@dataclass(frozen=True)
class Fault:
    """One firing of a rule: what the server must do to this request."""

    kind: str
    retry_after_s: float = 0.0
    delay_s: float = DEFAULT_SLOW_SECONDS
    ret_code: int = 10006
    ret_msg: str = DEFAULT_RET_MSGS[10006]

    @property
    def http_status(self) -> int | None:
        """The HTTP status the fault answers with, ``None`` for kinds that answer 200 or normally."""
        return HTTP_STATUS_BY_KIND.get(self.kind)


@dataclass
class FaultRule:
    """A rule: fire ``kind`` on ``count`` requests to ``path``, after letting ``after`` through."""

    kind: str
    path: str = "*"
    count: int = 1
    after: int = 0
    retry_after_s: float = 0.0
    delay_s: float = DEFAULT_SLOW_SECONDS
    ret_code: int = 10006
    ret_msg: str | None = None
    seen: int = 0
    """Matching requests observed so far."""
    fired: int = 0
    """Times this rule has fired."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            known = ", ".join(sorted(FAULT_KINDS))
            raise FaultSpecError(f"unknown fault kind {self.kind!r} (known: {known})")
        if self.count < 0 or self.after < 0:
            raise FaultSpecError("count and after must be >= 0")
        if self.retry_after_s < 0 or self.delay_s < 0:
            raise FaultSpecError("retry_after_s and delay_s must be >= 0")
        if not self.path:
            raise FaultSpecError("a fault rule needs a path ('*' for any)")

    @property
    def remaining(self) -> int:
        return max(self.count - self.fired, 0)

    def matches(self, path: str) -> bool:
        return self.path == "*" or self.path == path or fnmatch.fnmatchcase(path, self.path)

    def to_fault(self) -> Fault:
        msg = self.ret_msg if self.ret_msg is not None else DEFAULT_RET_MSGS.get(self.ret_code, "error")
        return Fault(
            kind=self.kind,
            retry_after_s=self.retry_after_s,
            delay_s=self.delay_s,
            ret_code=self.ret_code,
            ret_msg=msg,
        )

    def spec(self) -> str:
        """This rule in the string form :meth:`FaultPlan.parse` reads."""
        arg = ""
        if self.kind == HTTP_429 and self.retry_after_s:
            arg = f"={_fmt_number(self.retry_after_s)}"
        elif self.kind == SLOW:
            arg = f"={_fmt_number(self.delay_s)}"
        elif self.kind == RET_CODE:
            arg = f"={self.ret_code}"
            if self.retry_after_s:
                arg += f"/{_fmt_number(self.retry_after_s)}"
        after = f"+{self.after}" if self.after else ""
        return f"{self.kind}{arg}:{self.count}{after}@{self.path}"


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _parse_float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(f"{what} must be a number, got {text!r}") from None
    if value < 0:
        raise FaultSpecError(f"{what} must be >= 0, got {text!r}")
    return value


def parse_rule(text: str) -> FaultRule:
    """One ``KIND[=ARG][:COUNT][+AFTER][@PATH]`` rule."""
    match = _RULE_RE.match(text.strip())
    if match is None:
        raise FaultSpecError(f"malformed fault rule {text!r}: expected KIND[=ARG][:COUNT][+AFTER][@PATH]")
    kind = match["kind"]
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"unknown fault kind {kind!r} in {text!r}")
    arg = match["arg"]
    rule = FaultRule(
        kind=kind,
        path=match["path"] or "*",
        count=int(match["count"]) if match["count"] is not None else 1,
        after=int(match["after"]) if match["after"] is not None else 0,
    )
    if arg is None:
        return rule
    if kind == HTTP_429:
        return replace(rule, retry_after_s=_parse_float(arg, "http_429 Retry-After seconds"))
    if kind == SLOW:
        return replace(rule, delay_s=_parse_float(arg, "slow seconds"))
    if kind == RET_CODE:
        code_text, _, seconds_text = arg.partition("/")
        if not code_text.isdigit():
            raise FaultSpecError(f"ret_code needs an integer code, got {code_text!r} in {text!r}")
        retry_after = _parse_float(seconds_text, "ret_code reset seconds") if seconds_text else 0.0
        return replace(rule, ret_code=int(code_text), retry_after_s=retry_after)
    raise FaultSpecError(f"fault kind {kind!r} takes no argument (in {text!r})")


class FaultPlan:
    """The fault rules of one sandbox server; safe to change while it serves."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules or [])

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """A plan from the string form (see the module docstring); an empty string is an empty plan."""
        plan = cls()
        plan.extend(spec)
        return plan

    def extend(self, spec: str) -> list[FaultRule]:
        """Add every rule of a spec string; returns them."""
        rules = [parse_rule(part) for part in _SPEC_SPLIT_RE.split(spec.strip()) if part]
        with self._lock:
            self._rules.extend(rules)
        return rules

    def add(
        self,
        kind: str,
        path: str = "*",
        count: int = 1,
        *,
        after: int = 0,
        retry_after_s: float = 0.0,
        delay_s: float = DEFAULT_SLOW_SECONDS,
        ret_code: int = 10006,
        ret_msg: str | None = None,
    ) -> FaultRule:
        """Add one rule and return it (its ``seen``/``fired`` counters update as it is used)."""
        rule = FaultRule(
            kind=kind,
            path=path,
            count=count,
            after=after,
            retry_after_s=retry_after_s,
            delay_s=delay_s,
            ret_code=ret_code,
            ret_msg=ret_msg,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def remaining(self, path: str | None = None) -> int:
        """Firings left over all rules (only rules that match ``path`` when given)."""
        with self._lock:
            return sum(r.remaining for r in self._rules if path is None or r.matches(path))

    def rules(self) -> list[FaultRule]:
        """A snapshot (copies) of the rules."""
        with self._lock:
            return [replace(r) for r in self._rules]

    def spec(self) -> str:
        """The rules still able to fire, in the string form."""
        with self._lock:
            return ", ".join(r.spec() for r in self._rules if r.remaining)

    def take(self, path: str) -> Fault | None:
        """Observe one request to ``path``; the fault it must suffer, if any (consumes one firing)."""
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(path):
                    continue
                rule.seen += 1
                if chosen is None and rule.seen > rule.after and rule.fired < rule.count:
                    chosen = rule
            if chosen is None:
                return None
            chosen.fired += 1
            return chosen.to_fault()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)
