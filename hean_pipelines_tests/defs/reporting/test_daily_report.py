"""The daily report end to end: written by the pipeline, right against the warehouse, honest on failure."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.instance.ref import InstanceRef

from hean_pipelines.warehouse.connection import connect
from hean_pipelines_tests.conftest import SANDBOX_WEEK
from hean_pipelines_tests.corruption import add_a_cent_to_a_trade_fee
from hean_pipelines_tests.hean_cli import hean

FIRST, LAST = SANDBOX_WEEK


@pytest.fixture(scope="module")
def sql(sandbox_week: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = connect(sandbox_week / "hean.duckdb", read_only=True)
    yield conn
    conn.close()


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _rows(section: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # skip header and rule


def _cents(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def _one(conn: duckdb.DuckDBPyConnection, query: str) -> tuple:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row


def test_the_pipeline_writes_one_report_per_day_and_shows_the_last_in_the_ui(sandbox_week: Path) -> None:
    days = sorted(p.stem for p in (sandbox_week / "reports" / "daily").glob("*.md"))
    assert days == [f"2026-01-{d:02d}" for d in range(5, 12)]
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(sandbox_week / "dagster_home")))
    event = instance.get_latest_materialization_event(dg.AssetKey("daily_report"))
    assert event is not None and event.asset_materialization is not None
    shown = event.asset_materialization.metadata["report"]
    assert isinstance(shown, dg.MarkdownMetadataValue)
    assert shown.md_str == (sandbox_week / "reports" / "daily" / f"{LAST}.md").read_text()


def test_portfolio_and_processes_match_the_warehouse(sandbox_week: Path, sql: duckdb.DuckDBPyConnection) -> None:
    text = (sandbox_week / "reports" / "daily" / "2026-01-08.md").read_text()
    equity, total, fees = _one(
        sql, "SELECT equity, total, fees FROM attribution.portfolio_daily WHERE date = DATE '2026-01-08'"
    )
    portfolio = _section(text, "Portfolio")
    assert f"Equity **{_cents(equity)}** USD" in portfolio
    rows = {row[0]: row for row in _rows(portfolio)}
    assert rows["= total (truth)"][1] == _cents(total)
    assert rows["− fees"][1] == _cents(fees)
    (week_total,) = _one(
        sql,
        "SELECT sum(total) FROM attribution.portfolio_daily WHERE date BETWEEN DATE '2026-01-02' AND DATE '2026-01-08'",
    )
    assert rows["= total (truth)"][2] == _cents(week_total)

    expected = dict(
        sql.execute("SELECT process_id, total FROM attribution.process_daily WHERE date = DATE '2026-01-08'").fetchall()
    )
    shown = {row[0]: row[9] for row in _rows(_section(text, "Processes"))}
    assert shown == {pid: _cents(value) for pid, value in expected.items()}


def test_profit_illusion_flags_match_an_independent_query(sandbox_week: Path, sql: duckdb.DuckDBPyConnection) -> None:
    for day in ("2026-01-09", LAST):
        expected = {
            pid
            for (pid,) in sql.execute(
                f"""SELECT process_id FROM attribution.process_daily
                    WHERE date BETWEEN DATE '{day}' - 6 AND DATE '{day}'
                    GROUP BY 1 HAVING sum(pnl) > 0 AND sum(total) <= 0"""
            ).fetchall()
        }
        text = (sandbox_week / "reports" / "daily" / f"{day}.md").read_text()
        flagged = {row[0] for row in _rows(_section(text, "Profit illusion"))} - {"portfolio"}
        assert flagged == expected, day
        marked = {row[0] for row in _rows(_section(text, "Processes")) if "illusion" in row[-1]}
        assert marked == expected, day


def test_every_check_passed_and_the_decisions_are_listed(
    tmp_path: Path, sandbox_week: Path, sql: duckdb.DuckDBPyConnection
) -> None:
    text = (sandbox_week / "reports" / "daily" / f"{LAST}.md").read_text()
    checks = _rows(_section(text, "Checks"))
    assert len(checks) == 10 and {row[1] for row in checks} == {"PASS"}
    # Written inside the run, so the run was still going; rewritten afterwards, the run has succeeded.
    assert "All 10 checks evaluated so far passed" in text
    rewritten = hean(sandbox_week, "report", "--date", LAST, "--out", str(tmp_path))
    assert rewritten.returncode == 0, rewritten.stderr
    after = (tmp_path / "daily" / f"{LAST}.md").read_text()
    assert "All 10 checks passed; the numbers below are the truth layer's." in after
    assert (
        after.split("## Portfolio")[1].split("## Data freshness")[0]
        == text.split("## Portfolio")[1].split("## Data freshness")[0]
    )
    decisions = sql.execute(f"SELECT process_id, decision FROM selection.scores WHERE as_of = DATE '{LAST}'").fetchall()
    shown = {row[0]: row[2].strip("*") for row in _rows(_section(text, "Selector decisions"))}
    assert shown == dict(decisions)
    assert "Actions are OFF" in text


def test_a_day_whose_checks_failed_still_gets_a_report_that_says_so(tmp_path: Path, sandbox_week: Path) -> None:
    shutil.copy(sandbox_week / "hean.duckdb", tmp_path / "hean.duckdb")
    shutil.copytree(sandbox_week / "dagster_home", tmp_path / "dagster_home")
    add_a_cent_to_a_trade_fee(tmp_path / "hean.duckdb", "2026-01-08")
    run = hean(tmp_path, "run", "--source", "recorded", "--start", FIRST, "--end", LAST)
    assert run.returncode == 1
    report = hean(tmp_path, "report", "--date", "2026-01-08", "--quiet")
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "reports" / "daily" / "2026-01-08.md").read_text()
    assert "The latest run covering this day ended FAILURE" in text
    assert re.search(r"1 blocking check\(s\) FAILED for this day: `ledger_entries:transaction_log_identity`", text)
    checks = {row[0].strip("`"): row[1] for row in _rows(_section(text, "Checks"))}
    assert checks["ledger_entries:transaction_log_identity"] == "**FAIL**"
    # Blocked downstream in the failed run: the verdict shown is the earlier run's, and marked as such.
    assert checks["process_attribution:process_total_invariant"] == "PASS (earlier run)"
    # The same failed run checked Jan 7 too, and found nothing wrong with that day.
    assert hean(tmp_path, "report", "--date", "2026-01-07", "--quiet").returncode == 0
    other = (tmp_path / "reports" / "daily" / "2026-01-07.md").read_text()
    verdicts = {row[0].strip("`"): row[1] for row in _rows(_section(other, "Checks"))}
    assert verdicts["ledger_entries:transaction_log_identity"] == "PASS"
