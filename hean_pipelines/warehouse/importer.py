"""``hean import-bybit``: saved Bybit v5 JSON responses -> raw tables.

Each file is one v5 response (``{"retCode": 0, "result": {...}, ...}``). Its endpoint is detected
from the shape of ``result.list`` (``kind`` overrides detection):

==================  ==========================================================
execution list      items with ``execId``
transaction log     items with ``transactionTime`` and ``cashBalance``
closed PnL          items with ``closedPnl`` and ``cumEntryValue``
order history       items with ``orderStatus``
position list       items with ``positionIdx`` and ``size``
wallet balance      items with ``accountType`` and a ``coin`` list
mark-price kline    bars of 5 strings
kline               bars of 7 strings
==================  ==========================================================

``category`` comes from ``result.category`` (executions, orders, closed PnL, positions, klines; a
kline response without one is ``linear``, Bybit's default), ``symbol`` from the kline result, the
kline ``interval`` from the ``interval`` argument or else from the spacing of the bars, and a
snapshot's ``as_of`` from the response's ``time``.

A JSON file that is not a v5 response (no ``retCode``/``result``), an empty list whose kind cannot
be told, or a v5 response of an endpoint not stored here is *skipped* with a notice. Malformed input
-- bad JSON, ``retCode != 0``, a missing required field, a non-numeric amount -- raises
:class:`RecordedImportError` naming the file and the field, and nothing from that file is written
(one transaction per file; files imported before it stay). Importing the same files again changes
nothing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from hean_pipelines.warehouse.connection import transaction
from hean_pipelines.warehouse.raw_load import KIND_TABLE, RawKind, RawValidationError, upsert_raw
from hean_pipelines.warehouse.raw_schema import ensure_raw_schema

# Bar spacing (ms) -> Bybit kline interval.
_INTERVALS_MS: dict[int, str] = {
    60_000: "1",
    180_000: "3",
    300_000: "5",
    900_000: "15",
    1_800_000: "30",
    3_600_000: "60",
    7_200_000: "120",
    14_400_000: "240",
    21_600_000: "360",
    43_200_000: "720",
    86_400_000: "D",
    604_800_000: "W",
}
_MONTH_MS = (28 * 86_400_000, 31 * 86_400_000)

_KINDS_WITH_RESULT_CATEGORY = (
    RawKind.EXECUTIONS,
    RawKind.ORDERS,
    RawKind.CLOSED_PNL,
    RawKind.POSITIONS,
)


class RecordedImportError(ValueError):
    """A recorded response could not be imported; nothing from ``file`` was written."""

    def __init__(
        self,
        file: Path | str,
        field: str,
        reason: str,
        *,
        completed: Sequence[FileImport] = (),
    ) -> None:
        self.file = Path(file)
        self.field = field
        self.reason = reason
        self.completed: tuple[FileImport, ...] = tuple(completed)
        """Files imported (and committed) before this one."""
        super().__init__(f"{self.file}: field {field!r}: {reason}; nothing from this file was written")


@dataclass(frozen=True)
class FileImport:
    path: Path
    kind: RawKind | None
    rows: int = 0
    inserted: int = 0
    already_present: int = 0
    skipped: str | None = None
    """Why the file was skipped (``None`` when it was imported)."""
    table: str | None = None

    def render(self) -> str:
        if self.skipped is not None:
            return f"{self.path}: skipped -- {self.skipped}"
        kind = self.kind.value if self.kind else "?"
        return (
            f"{self.path}: {kind} -> {self.table}: {self.rows} rows, "
            f"{self.inserted} inserted, {self.already_present} already present"
        )


@dataclass(frozen=True)
class ImportReport:
    files: tuple[FileImport, ...] = field(default_factory=tuple)

    @property
    def imported(self) -> tuple[FileImport, ...]:
        return tuple(f for f in self.files if f.skipped is None)

    @property
    def skipped(self) -> tuple[FileImport, ...]:
        return tuple(f for f in self.files if f.skipped is not None)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def already_present(self) -> int:
        return sum(f.already_present for f in self.files)

    def render(self) -> str:
        lines = [f.render() for f in self.files]
        lines.append(
            f"{len(self.imported)} file(s) imported, {len(self.skipped)} skipped: {self.rows} rows, "
            f"{self.inserted} inserted, {self.already_present} already present"
        )
        return "\n".join(lines)


# Markers, checked in this order against the union of the items' keys. The first set of each kind is
# its defining shape; the others catch a page whose defining field is missing from some row (that
# row is then rejected by validation, naming the field, instead of the file being skipped).
_MARKERS: tuple[tuple[RawKind, tuple[frozenset[str], ...]], ...] = (
    (RawKind.EXECUTIONS, (frozenset({"execId"}), frozenset({"execTime"}), frozenset({"execQty"}))),
    (
        RawKind.TRANSACTIONS,
        (
            frozenset({"transactionTime", "cashBalance"}),
            frozenset({"transactionTime"}),
            frozenset({"cashBalance"}),
        ),
    ),
    (
        RawKind.CLOSED_PNL,
        (frozenset({"closedPnl"}), frozenset({"cumEntryValue"}), frozenset({"cumExitValue"})),
    ),
    (RawKind.ORDERS, (frozenset({"orderStatus"}), frozenset({"cumExecQty"}), frozenset({"timeInForce"}))),
    (RawKind.POSITIONS, (frozenset({"positionIdx", "size"}), frozenset({"positionValue"}))),
    (RawKind.WALLET_BALANCE, (frozenset({"accountType", "coin"}), frozenset({"totalEquity"}))),
)


def detect_kind(result: Mapping[str, Any]) -> RawKind | None:
    """The endpoint a v5 ``result`` came from, judged by the shape of ``result.list``; ``None`` if unknown.

    Bars (lists) of 5 values are mark-price klines, of 7 values klines. Objects are matched on the
    union of their keys. Raises ``ValueError`` for a list mixing bars and objects, or bars of
    another width.
    """
    items = result.get("list")
    if not isinstance(items, list) or not items:
        return None
    if all(isinstance(item, list) for item in items):
        widths = sorted({len(item) for item in items})
        if widths == [5]:
            return RawKind.MARK_PRICE_KLINE
        if widths == [7]:
            return RawKind.KLINE
        raise ValueError(f"kline bars must all have 5 (mark price) or 7 (kline) values, got {widths}")
    if not all(isinstance(item, Mapping) for item in items):
        raise ValueError("items of different shapes in one response (objects and lists)")
    keys: set[str] = set()
    for item in items:
        keys.update(item)
    for kind, markers in _MARKERS:
        if any(marker <= keys for marker in markers):
            return kind
    return None


def infer_interval(bars: Sequence[object]) -> str | None:
    """Bybit's interval code from the spacing of bar start times; ``None`` when it cannot be told."""
    starts = sorted(
        {
            int(str(bar[0]))
            for bar in bars
            if isinstance(bar, (list, tuple)) and bar and str(bar[0]).lstrip("-").isdigit()
        }
    )
    gaps = [b - a for a, b in itertools.pairwise(starts) if b > a]
    if not gaps:
        return None
    step = min(gaps)
    if step in _INTERVALS_MS:
        return _INTERVALS_MS[step]
    if _MONTH_MS[0] <= step <= _MONTH_MS[1]:
        return "M"
    return None


def _read_response(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordedImportError(path, "<file>", f"cannot be read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordedImportError(
            path, "<json>", f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def _ret_code(path: Path, response: Mapping[str, Any]) -> int:
    code = response.get("retCode")
    if isinstance(code, bool) or not isinstance(code, (int, str)) or not str(code).lstrip("-").isdigit():
        raise RecordedImportError(path, "retCode", f"is not an integer: {code!r}")
    return int(code)


def _import_one(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    kind: RawKind | None,
    account: str,
    interval: str | None,
    category: str | None,
) -> FileImport:
    response = _read_response(path)
    if not isinstance(response, Mapping) or "retCode" not in response or "result" not in response:
        return FileImport(path, None, skipped="not a Bybit v5 response (no retCode/result)")
    code = _ret_code(path, response)
    if code != 0:
        raise RecordedImportError(
            path, "retCode", f"is {code} ({response.get('retMsg', '')!s}): an error response holds no data"
        )
    result = response["result"]
    if not isinstance(result, Mapping):
        raise RecordedImportError(path, "result", "is not a JSON object")
    items = result.get("list")
    if "list" not in result:
        if kind is None:
            return FileImport(path, None, skipped="v5 response without result.list: not a stored endpoint")
        raise RecordedImportError(path, "result.list", f"is missing (needed for {kind.value})")
    if not isinstance(items, list):
        raise RecordedImportError(path, "result.list", "is not a list")

    detected = kind
    if detected is None:
        try:
            detected = detect_kind(result)
        except ValueError as exc:
            raise RecordedImportError(path, "result.list", str(exc)) from exc
        if detected is None:
            what = "empty result.list" if not items else "unrecognised item shape"
            return FileImport(path, None, skipped=f"{what}: endpoint not detected (use --kind)")

    source = path.name
    params: dict[str, Any] = {}
    result_category = result.get("category") or None
    if detected in _KINDS_WITH_RESULT_CATEGORY:
        cat = result_category or category
        if not cat:
            raise RecordedImportError(path, "result.category", "is missing (the category of these rows)")
        params["category"] = cat
    elif detected is RawKind.TRANSACTIONS:
        params["category"] = category  # each row carries its own; this is only a fallback
    elif detected in (RawKind.MARK_PRICE_KLINE, RawKind.KLINE):
        symbol = result.get("symbol")
        if not symbol:
            raise RecordedImportError(path, "result.symbol", "is missing (the symbol of these bars)")
        bar_interval = interval or result.get("interval") or infer_interval(items)
        if not bar_interval:
            raise RecordedImportError(
                path, "interval", "cannot be told from the response (fewer than two bars): pass it"
            )
        params.update(category=result_category or category or "linear", symbol=symbol, interval=bar_interval)
    if detected in (RawKind.POSITIONS, RawKind.WALLET_BALANCE):
        as_of = response.get("time")
        if isinstance(as_of, bool) or not isinstance(as_of, (int, str)) or not str(as_of).isdigit():
            raise RecordedImportError(path, "time", f"is not an epoch-ms response time: {as_of!r}")
        params["as_of"] = int(as_of)
        source = f"file:{path.name}"

    try:
        with transaction(conn):
            loaded = upsert_raw(conn, detected, items, account=account, source=source, **params)
    except RawValidationError as exc:
        where = f"row {exc.row} of result.list" if exc.row is not None else "request"
        reason = f"{exc.reason} ({where}"
        reason += f", value {exc.value!r})" if exc.value is not None else ")"
        if exc.more:
            reason += f"; {exc.more} more problem(s) in this file"
        raise RecordedImportError(path, exc.field, reason) from exc
    return FileImport(
        path,
        detected,
        rows=loaded.received,
        inserted=loaded.inserted,
        already_present=loaded.already_present,
        table=loaded.table or KIND_TABLE[detected].name,
    )


def import_files(
    conn: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    *,
    kind: RawKind | None = None,
    account: str = "main",
    interval: str | None = None,
    category: str | None = None,
) -> ImportReport:
    """Import saved v5 responses, one transaction per file. See the module docstring.

    ``interval`` (kline files) and ``category`` (when a response lacks ``result.category``) fill in
    what a saved response may not say. Raises :class:`RecordedImportError` at the first bad file.
    """
    ensure_raw_schema(conn)
    done: list[FileImport] = []
    for raw_path in paths:
        path = Path(raw_path)
        try:
            done.append(
                _import_one(
                    conn,
                    path,
                    kind=RawKind(kind) if kind is not None else None,
                    account=account,
                    interval=interval,
                    category=category,
                )
            )
        except RecordedImportError as exc:
            exc.completed = tuple(done)
            raise
    return ImportReport(tuple(done))
