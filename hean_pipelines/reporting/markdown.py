"""The daily report as Markdown: what a trader reads first thing, without opening another tool.

Money is shown rounded half-up to cents (the exact values stay in ``attribution.*``); a day whose run
or checks failed still gets a report, and it says so at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hean_pipelines.reporting.daily_data import MONEY, DailyReportData
from hean_pipelines.run_status import DayStatus

CENT = Decimal("0.01")
LABELS = {
    "pnl": "PnL (mark-to-market)",
    "realized_pnl": "  of which realized",
    "unrealized_pnl_change": "  of which unrealized change",
    "funding": "+ funding",
    "rewards": "+ rewards",
    "fees": "− fees",
    "opportunity_cost": "− opportunity cost",
    "total": "= total (truth)",
}


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def usd(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def _ratio(value: Decimal | float | None) -> str:
    return "" if value is None else f"{float(value):.2%}"


def _number(value: float | None, places: int = 3) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _when(ts: float | datetime | None) -> str:
    if ts is None:
        return "never"
    moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, tz=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


IN_PROGRESS = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED"}


def _verdict(data: DailyReportData, status: DayStatus) -> list[str]:
    failed = [c for c in status.checks if not c.passed and c.severity == "ERROR"]
    warned = [c for c in status.checks if not c.passed and c.severity != "ERROR"]
    run = status.latest_run
    in_progress = run is not None and run.status in IN_PROGRESS
    lines = []
    if run is None:
        lines.append("**No run of the daily pipeline has covered this day yet.**")
    elif in_progress:
        lines.append(f"Written by run `{run.run_id}` while it ran: check results below are those evaluated so far.")
    elif run.status != "SUCCESS":
        lines.append(f"**The latest run covering this day ended {run.status}** (run `{run.run_id}`).")
    if failed:
        names = ", ".join(f"`{c.asset}:{c.check}`" for c in failed)
        lines.append(f"**{len(failed)} blocking check(s) FAILED for this day: {names}. Do not trust these numbers.**")
    if warned:
        lines.append(f"{len(warned)} warning check(s) failed: " + ", ".join(f"`{c.asset}:{c.check}`" for c in warned))
    if data.portfolio is None:
        lines.append("**No attribution for this day in the warehouse.**")
    if run is not None and not failed and not warned and data.portfolio is not None and run.status != "FAILURE":
        lines.append(
            f"All {len(status.checks)} checks {'evaluated so far ' if in_progress else ''}passed; "
            "the numbers below are the truth layer's."
        )
    return lines


def _portfolio(data: DailyReportData) -> list[str]:
    if data.portfolio is None:
        return ["_No portfolio attribution for this day._"]
    values = data.portfolio.values
    rows = [[LABELS[c], usd(values[c]), usd(data.window_totals.get(c)), usd(data.month_totals.get(c))] for c in MONEY]
    lines = [
        f"Equity **{usd(values['equity'])}** USD (opened at {usd(values['opening_equity'])}, capital flows "
        f"{usd(values['capital_flows'])}), drawdown **{_ratio(values['drawdown_ratio'])}**"
        + (f", non-withdrawable bonus {usd(values['bonus'])} (not in total or equity)" if values["bonus"] else "")
        + ".",
        "",
        markdown_table(["USD", "day", f"last {data.window_days} days", "month to date"], rows),
    ]
    return lines


def _processes(data: DailyReportData) -> list[str]:
    if not data.processes:
        return ["_No process attribution for this day._"]
    flagged = {i.scope for i in data.illusions if i.flagged}
    rows = [
        [
            p.process_id,
            p.status or "",
            usd(p.allocated_capital),
            p.n_fills,
            *(usd(p.values[c]) for c in ("pnl", "funding", "rewards", "fees", "opportunity_cost", "total")),
            usd(p.window_total),
            "⚠ illusion" if p.process_id in flagged else "",
        ]
        for p in data.processes
    ]
    columns = ["process", "status", "capital", "fills", "pnl", "funding", "rewards", "fees", "opp. cost", "total"]
    return [markdown_table([*columns, f"total {data.window_days}d", "flag"], rows)]


def _illusions(data: DailyReportData) -> list[str]:
    flagged = [i for i in data.illusions if i.flagged]
    intro = (
        f"Flagged when the headline PnL (mark-to-market) over the last {data.window_days} days is positive "
        "while the truth total (after fees, funding, rewards and opportunity cost) is zero or negative."
    )
    if not flagged:
        return [intro, "", "No profit illusion: where the headline is positive, so is the truth."]
    rows = [[i.scope, i.days, usd(i.headline_pnl), usd(i.truth_total)] for i in flagged]
    return [intro, "", markdown_table(["scope", "days", "headline PnL", "truth total"], rows)]


def _decisions(data: DailyReportData) -> list[str]:
    mode = "ON: decisions change the registry from tomorrow" if data.actions_enabled else "OFF: recommendations only"
    lines = [f"Actions are {mode}. The system never places orders.", ""]
    if not data.decisions:
        return [*lines, "_No selector scores for this day._"]
    rows = [
        [
            d.process_id,
            d.registry_status or "",
            f"**{d.decision}**",
            d.n_runs,
            _number(d.effective_n, 1),
            _number(d.psr),
            _number(d.dsr),
            "; ".join(d.reasons),
        ]
        for d in data.decisions
    ]
    lines.append(markdown_table(["process", "registry", "decision", "runs", "eff. n", "PSR", "DSR", "reasons"], rows))
    if data.status_changes:
        lines += ["", "Registry changes effective tomorrow:", ""]
        lines += [f"- `{pid}`: {old} → {new} ({reason})" for pid, old, new, reason in data.status_changes]
    return lines


def _checks(status: DayStatus) -> list[str]:
    latest = status.latest_run
    rows = []
    for c in sorted(status.checks, key=lambda c: (c.passed, c.asset, c.check)):
        # A verdict from an earlier run is about tables the latest run may have rebuilt since: say so.
        earlier = latest is not None and c.run_id != latest.run_id
        result = ("PASS" if c.passed else "**FAIL**") + (" (earlier run)" if earlier else "")
        detail = "" if c.passed else c.description
        if earlier:
            detail = ("the latest run did not evaluate it; " + detail).rstrip("; ")
        rows.append([f"`{c.asset}:{c.check}`", result, c.severity, detail, f"`{c.run_id[:8]}`"])
    rows += [[f"`{name}`", "not run", "", "no run has evaluated it for this day", ""] for name in status.unevaluated()]
    return [markdown_table(["check", "result", "severity", "detail", "run"], rows)]


def _freshness(data: DailyReportData, status: DayStatus) -> list[str]:
    run_rows = [
        [f"`{r.run_id[:8]}`", r.status, f"{r.first_day}..{r.last_day}", _when(r.start_time), _when(r.end_time)]
        for r in status.runs[:5]
    ]
    lines = [
        f"Last fetch from the exchange: {_when(data.last_fetch)}.",
        "",
        markdown_table(
            ["raw table", "rows on this day", "latest event in the table"],
            [[f"`{s.table}`", s.rows_on_day, _when(s.latest_event)] for s in data.sources],
        ),
        "",
        markdown_table(
            ["asset", "last materialized", "latest day"],
            [[a.asset, _when(a.last_materialized_at), a.last_partition or ""] for a in status.assets],
        ),
    ]
    if run_rows:
        lines += ["", "Runs that covered this day (newest first):", ""]
        lines.append(markdown_table(["run", "status", "days", "started", "ended"], run_rows))
    if data.quarantined:
        lines += ["", "Quarantined rows on this day: " + ", ".join(f"{n} × {r}" for r, n in data.quarantined)]
    return lines


def render_daily_report(data: DailyReportData, status: DayStatus, generated_at: datetime) -> str:
    """The whole report for ``data.day``."""
    sections = [
        [f"# Daily report — {data.day.isoformat()}", "", f"_Generated {_when(generated_at)}._", ""],
        [line for verdict in _verdict(data, status) for line in (verdict, "")],
        ["## Portfolio", ""],
        _portfolio(data),
        ["", "## Processes", ""],
        _processes(data),
        ["", "## Profit illusion", ""],
        _illusions(data),
        ["", "## Selector decisions", ""],
        _decisions(data),
        ["", "## Checks", ""],
        _checks(status),
        ["", "## Data freshness", ""],
        _freshness(data, status),
        ["", "_Money in USD, rounded half-up to cents for display; exact values are in `attribution.*`._", ""],
    ]
    return "\n".join(line for section in sections for line in section)
