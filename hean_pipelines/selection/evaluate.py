"""Walk-forward evaluation of the selector: its decisions as of each day vs what followed.

For every day D in ``[first, last]`` the selector scores every process as of D (only data up to D, as
:func:`~hean_pipelines.selection.scoring.score_as_of` always does; nothing is written). Each decision is
then set against what the process earned over the *forward horizon* ``(D, D + horizon_days]``: the sum of
its run returns (total / allocated capital; a day without a run counts 0) and of its totals, read from
``selection.process_runs``. A decision is *complete* when the runs table reaches ``D + horizon_days``;
only complete decisions enter the rates.

Reported:

* the hit rate of SCALING calls (forward return > 0) and of KILLED calls (forward return < 0);
* the mean forward return per decision;
* "scale everything equally" vs the selector: per complete day, the equal-weight mean forward return of
  every scored process with runs, against that of the processes called SCALING (no SCALING call: the
  selector stays in cash, 0); both averaged over the days;
* PBO (CSCV) of the process set over the runs up to ``last``, and the first day each process was called
  SCALING or KILLED.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb

from hean_pipelines.selection.config import SelectorConfig
from hean_pipelines.selection.schema import table_exists
from hean_pipelines.selection.scoring import Run, load_runs, pbo_across_processes, score_as_of

__all__ = ["DecisionSummary", "Evaluation", "ForwardRow", "render", "to_markdown", "walk_forward"]

DECISION_ORDER: tuple[str, ...] = ("SCALING", "TESTING", "KILLED")


@dataclass(frozen=True)
class ForwardRow:
    """A decision as of a day and what the process earned over the following horizon."""

    as_of: date
    process_id: str
    decision: str
    reasons: tuple[str, ...]
    forward_runs: int
    forward_total: Decimal
    forward_return: float
    complete: bool


@dataclass(frozen=True)
class DecisionSummary:
    decision: str
    calls: int  # complete decisions
    mean_forward_return: float | None
    positive_share: float | None  # share of complete calls with a forward return > 0


@dataclass(frozen=True)
class Evaluation:
    first: date
    last: date
    horizon_days: int
    data_last: date | None
    config: SelectorConfig
    processes: tuple[str, ...]
    rows: tuple[ForwardRow, ...]
    summaries: tuple[DecisionSummary, ...]
    scaling_calls: int
    scaling_hits: int
    scaling_hit_rate: float | None
    killed_calls: int
    killed_hits: int
    killed_hit_rate: float | None
    complete_days: int
    days_with_scaling: int
    selector_mean_forward_return: float | None  # per complete day, cash (0) on days with no SCALING call
    equal_mean_forward_return: float | None  # per complete day, every scored process with runs, equally
    selector_mean_on_scaling_days: float | None  # the same two means over the days with a SCALING call only
    equal_mean_on_scaling_days: float | None
    first_scaling: tuple[tuple[str, date], ...]
    first_killed: tuple[tuple[str, date], ...]
    pbo: float | None
    pbo_note: str

    @property
    def selector_excess(self) -> float | None:
        if self.selector_mean_forward_return is None or self.equal_mean_forward_return is None:
            return None
        return self.selector_mean_forward_return - self.equal_mean_forward_return


def _forward(runs: Sequence[Run], start: date, end: date) -> tuple[int, Decimal, float]:
    chosen = [r for r in runs if start < r.date <= end]
    return len(chosen), sum((r.total for r in chosen), Decimal(0)), math.fsum(r.ret for r in chosen)


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def walk_forward(
    conn: duckdb.DuckDBPyConnection, first: date, last: date, *, horizon_days: int, config: SelectorConfig
) -> Evaluation:
    """Score every day in ``[first, last]`` as of that day and compare each decision with the process's
    runs over the next ``horizon_days`` days (read-only)."""
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be ≥ 1, got {horizon_days}")
    data_last: date | None = None
    if table_exists(conn, "selection.process_runs"):
        found = conn.execute("SELECT max(date) FROM selection.process_runs").fetchone()
        data_last = found[0] if found else None
    all_runs = load_runs(conn, data_last) if data_last is not None else []
    by_process: dict[str, list[Run]] = defaultdict(list)
    for run in all_runs:
        by_process[run.process_id].append(run)

    rows: list[ForwardRow] = []
    day = first
    while day <= last:
        end = day + timedelta(days=horizon_days)
        complete = data_last is not None and end <= data_last
        for score in score_as_of(conn, day, config, with_pbo=False):  # one PBO for the whole set, below
            n, total, ret = _forward(by_process.get(score.process_id, []), day, end)
            rows.append(ForwardRow(day, score.process_id, score.decision, score.reasons, n, total, ret, complete))
        day += timedelta(days=1)

    done = [r for r in rows if r.complete]
    summaries = []
    for decision in DECISION_ORDER:
        calls = [r for r in done if r.decision == decision]
        summaries.append(
            DecisionSummary(
                decision,
                len(calls),
                _mean([r.forward_return for r in calls]),
                (sum(1 for r in calls if r.forward_return > 0) / len(calls)) if calls else None,
            )
        )
    scaling = [r for r in done if r.decision == "SCALING"]
    killed = [r for r in done if r.decision == "KILLED"]
    scaling_hits = sum(1 for r in scaling if r.forward_return > 0)
    killed_hits = sum(1 for r in killed if r.forward_return < 0)

    per_day: dict[date, list[ForwardRow]] = defaultdict(list)
    for r in done:
        per_day[r.as_of].append(r)
    selector_days: list[float] = []
    equal_days: list[float] = []
    selector_scaling_days: list[float] = []
    equal_scaling_days: list[float] = []
    for d in sorted(per_day):
        active = [r for r in per_day[d] if any(run.date <= d for run in by_process.get(r.process_id, []))]
        if not active:
            continue
        picked = [r.forward_return for r in active if r.decision == "SCALING"]
        selector = math.fsum(picked) / len(picked) if picked else 0.0
        equal = math.fsum(r.forward_return for r in active) / len(active)
        selector_days.append(selector)
        equal_days.append(equal)
        if picked:
            selector_scaling_days.append(selector)
            equal_scaling_days.append(equal)

    first_scaling: dict[str, date] = {}
    first_killed: dict[str, date] = {}
    for r in rows:
        if r.decision == "SCALING":
            first_scaling.setdefault(r.process_id, r.as_of)
        if r.decision == "KILLED":
            first_killed.setdefault(r.process_id, r.as_of)

    upto_last: dict[str, list[Run]] = defaultdict(list)
    for run in all_runs:
        if run.date <= last:
            upto_last[run.process_id].append(run)
    pbo_set = {pid: runs for pid, runs in upto_last.items() if len(runs) >= config.min_runs}
    pbo, _, note = pbo_across_processes(pbo_set, config.pbo_splits)

    return Evaluation(
        first=first,
        last=last,
        horizon_days=horizon_days,
        data_last=data_last,
        config=config,
        processes=tuple(sorted({r.process_id for r in rows})),
        rows=tuple(rows),
        summaries=tuple(summaries),
        scaling_calls=len(scaling),
        scaling_hits=scaling_hits,
        scaling_hit_rate=scaling_hits / len(scaling) if scaling else None,
        killed_calls=len(killed),
        killed_hits=killed_hits,
        killed_hit_rate=killed_hits / len(killed) if killed else None,
        complete_days=len(selector_days),
        days_with_scaling=len(selector_scaling_days),
        selector_mean_forward_return=_mean(selector_days),
        equal_mean_forward_return=_mean(equal_days),
        selector_mean_on_scaling_days=_mean(selector_scaling_days),
        equal_mean_on_scaling_days=_mean(equal_scaling_days),
        first_scaling=tuple(sorted(first_scaling.items())),
        first_killed=tuple(sorted(first_killed.items())),
        pbo=pbo.pbo if pbo is not None else None,
        pbo_note=note,
    )


# --------------------------------------------------------------------------------------------- rendering


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.2f}%"


def _rate(hits: int, calls: int, rate: float | None) -> str:
    return "n/a (no complete call)" if rate is None else f"{rate * 100:.1f}% ({hits}/{calls})"


def _cell(row: ForwardRow | None) -> str:
    if row is None:
        return "-"
    forward = _pct(row.forward_return) if row.complete else "(open)"
    return f"{row.decision} {forward}"


def _grid(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    header = ["as of", *evaluation.processes]
    index = {(r.as_of, r.process_id): r for r in evaluation.rows}
    days = sorted({r.as_of for r in evaluation.rows})
    body = [[d.isoformat(), *(_cell(index.get((d, p))) for p in evaluation.processes)] for d in days]
    return header, body


def _summary_lines(evaluation: Evaluation) -> list[tuple[str, str]]:
    e = evaluation
    firsts_s = ", ".join(f"{p} {d.isoformat()}" for p, d in e.first_scaling) or "none"
    firsts_k = ", ".join(f"{p} {d.isoformat()}" for p, d in e.first_killed) or "none"
    excess = e.selector_excess
    return [
        ("SCALING hit rate (forward return > 0)", _rate(e.scaling_hits, e.scaling_calls, e.scaling_hit_rate)),
        ("KILLED hit rate (forward return < 0)", _rate(e.killed_hits, e.killed_calls, e.killed_hit_rate)),
        (
            "selector (equal weight over SCALING, cash otherwise)",
            f"{_pct(e.selector_mean_forward_return)} per {e.horizon_days}-day horizon, mean of {e.complete_days} days "
            f"({e.days_with_scaling} with a SCALING call)",
        ),
        (
            "scale everything equally",
            f"{_pct(e.equal_mean_forward_return)} per {e.horizon_days}-day horizon, mean of {e.complete_days} days",
        ),
        ("selector − equal", _pct(excess)),
        (
            "on the days with a SCALING call",
            f"selector {_pct(e.selector_mean_on_scaling_days)} vs equal {_pct(e.equal_mean_on_scaling_days)}",
        ),
        ("PBO of the process set", ("n/a" if e.pbo is None else f"{e.pbo:.3f}") + f" ({e.pbo_note})"),
        ("first SCALING", firsts_s),
        ("first KILLED", firsts_k),
    ]


def _title(evaluation: Evaluation) -> str:
    e = evaluation
    data = e.data_last.isoformat() if e.data_last else "no runs"
    return (
        f"Selector walk-forward {e.first.isoformat()} … {e.last.isoformat()}, forward horizon {e.horizon_days} days "
        f"(runs up to {data}); decisions as of each day, forward = Σ run returns over the next "
        f"{e.horizon_days} days, (open) = horizon not yet complete"
    )


def render(evaluation: Evaluation) -> str:
    """A readable plain-text report: the decision grid, the per-decision summary and the comparison."""
    header, body = _grid(evaluation)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [_title(evaluation), "", line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in body]
    out += ["", "decision   complete calls   mean forward return   share positive"]
    for s in evaluation.summaries:
        share = "n/a" if s.positive_share is None else f"{s.positive_share * 100:.1f}%"
        out.append(f"{s.decision:<10} {s.calls:>14}   {_pct(s.mean_forward_return):>19}   {share:>14}")
    out.append("")
    label_width = max(len(k) for k, _ in _summary_lines(evaluation))
    out += [f"{k.ljust(label_width)}  {v}" for k, v in _summary_lines(evaluation)]
    return "\n".join(out) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def to_markdown(evaluation: Evaluation) -> str:
    """The same report as Markdown (for the daily report or a PR comment)."""
    header, body = _grid(evaluation)
    out = [f"## {_title(evaluation)}", "", _md_row(header), _md_row(["---"] * len(header))]
    out += [_md_row(row) for row in body]
    out += ["", _md_row(["decision", "complete calls", "mean forward return", "share positive"])]
    out.append(_md_row(["---", "---:", "---:", "---:"]))
    for s in evaluation.summaries:
        share = "n/a" if s.positive_share is None else f"{s.positive_share * 100:.1f}%"
        out.append(_md_row([s.decision, str(s.calls), _pct(s.mean_forward_return), share]))
    out += ["", _md_row(["measure", "value"]), _md_row(["---", "---"])]
    out += [_md_row([k, v]) for k, v in _summary_lines(evaluation)]
    return "\n".join(out) + "\n"
