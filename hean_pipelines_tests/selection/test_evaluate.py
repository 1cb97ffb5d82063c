"""Walk-forward evaluation, on synthetic runs and (slow) on 90 sandbox days built end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from hean_pipelines.attribution.daily import ProcessCapital, build_portfolio_attribution, build_process_attribution
from hean_pipelines.ledger.build import build_ledger_day
from hean_pipelines.registry.store import link_prefixes_as_of, registry_as_of
from hean_pipelines.selection.config import SelectorConfig
from hean_pipelines.selection.evaluate import Evaluation, render, to_markdown, walk_forward
from hean_pipelines.selection.runs import build_process_runs
from hean_pipelines.selection.scoring import score_as_of, write_scores
from hean_pipelines.settings import DEFAULT_HURDLE_RATE
from hean_pipelines.warehouse.checksum import table_checksum
from hean_pipelines.warehouse.connection import connect, transaction, writer
from hean_pipelines_tests.sandbox_raw import fetch_sandbox_raw
from hean_pipelines_tests.selection.test_scoring import gaussian, insert_runs, make_runs

CONFIG = SelectorConfig()


# ------------------------------------------------------------------------------------------- synthetic


@pytest.fixture
def synthetic(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    end = date(2026, 4, 30)
    with writer(tmp_path / "hean.duckdb") as conn:
        insert_runs(conn, make_runs("good", gaussian(90, 0.01, 0.01, seed=1), end=end))
        insert_runs(conn, make_runs("bad", gaussian(90, -0.01, 0.01, seed=2), end=end))
        insert_runs(conn, make_runs("flat", gaussian(90, 0.0, 0.01, seed=4), end=end))
        yield conn


def test_walk_forward_on_synthetic_runs(synthetic: duckdb.DuckDBPyConnection) -> None:
    first, last = date(2026, 3, 1), date(2026, 4, 25)
    evaluation = walk_forward(synthetic, first, last, horizon_days=10, config=CONFIG)
    assert evaluation.data_last == date(2026, 4, 30)
    assert evaluation.processes == ("bad", "flat", "good")
    days = (last - first).days + 1
    assert len(evaluation.rows) == 3 * days
    # Horizons ending after 2026-04-30 are open and stay out of the rates.
    open_days = {r.as_of for r in evaluation.rows if not r.complete}
    assert open_days == {date(2026, 4, 21) + timedelta(days=k) for k in range(5)}  # 04-21 … 04-25
    assert evaluation.complete_days == days - len(open_days)
    row = next(r for r in evaluation.rows if r.as_of == first and r.process_id == "good")
    assert row.forward_runs == 10 and row.complete
    assert evaluation.scaling_calls > 0 and evaluation.scaling_hit_rate is not None
    assert evaluation.scaling_hit_rate > 0.9
    assert evaluation.killed_hit_rate is not None and evaluation.killed_hit_rate > 0.9
    assert evaluation.first_scaling[0][0] == "good"
    assert [p for p, _ in evaluation.first_killed] == ["bad"]
    assert evaluation.selector_excess is not None and evaluation.selector_excess > 0
    assert evaluation.pbo is not None and evaluation.pbo < 0.2
    scaling = next(s for s in evaluation.summaries if s.decision == "SCALING")
    assert scaling.calls == evaluation.scaling_calls


def test_walk_forward_writes_nothing(synthetic: duckdb.DuckDBPyConnection) -> None:
    before = table_checksum(synthetic, "selection.process_runs")
    walk_forward(synthetic, date(2026, 4, 1), date(2026, 4, 3), horizon_days=5, config=CONFIG)
    assert table_checksum(synthetic, "selection.process_runs") == before
    assert synthetic.execute("SELECT count(*) FROM selection.scores").fetchone() == (0,)
    with pytest.raises(ValueError):
        walk_forward(synthetic, date(2026, 4, 3), date(2026, 4, 1), horizon_days=5, config=CONFIG)
    with pytest.raises(ValueError):
        walk_forward(synthetic, date(2026, 4, 1), date(2026, 4, 3), horizon_days=0, config=CONFIG)


def test_render_and_markdown(synthetic: duckdb.DuckDBPyConnection) -> None:
    evaluation = walk_forward(synthetic, date(2026, 4, 10), date(2026, 4, 25), horizon_days=7, config=CONFIG)
    text = render(evaluation)
    lines = text.splitlines()
    assert lines[0].startswith("Selector walk-forward 2026-04-10 … 2026-04-25, forward horizon 7 days")
    assert any(line.startswith("as of") and "good" in line for line in lines)
    assert any(line.startswith("2026-04-25") and "(open)" in line for line in lines)
    assert "SCALING hit rate (forward return > 0)" in text
    assert "scale everything equally" in text
    assert "PBO of the process set" in text
    markdown = to_markdown(evaluation)
    assert markdown.startswith("## Selector walk-forward")
    assert "| as of | bad | flat | good |" in markdown
    assert "| --- | ---: | ---: | ---: |" in markdown


def test_walk_forward_without_runs(tmp_path: Path) -> None:
    with writer(tmp_path / "empty.duckdb") as conn:
        evaluation = walk_forward(conn, date(2026, 1, 1), date(2026, 1, 3), horizon_days=5, config=CONFIG)
    assert evaluation.rows == () and evaluation.scaling_hit_rate is None
    assert "n/a" in render(evaluation)


# ------------------------------------------------------------------------------------------- sandbox


ACCOUNT = "main"
START = date(2025, 12, 29)  # the sandbox's first day, a Monday
N_DAYS = 90
PROCESSES = ("edge_momentum", "loser_meanrev", "noise_scalper")


def _build_day(conn: duckdb.DuckDBPyConnection, day: date) -> None:
    build_ledger_day(conn, day, account=ACCOUNT, link_prefixes=link_prefixes_as_of(conn, day), first_day=START)
    capital = [ProcessCapital(e.process_id, e.allocated_capital) for e in registry_as_of(conn, day)]
    build_process_attribution(conn, day, account=ACCOUNT, capital=capital, hurdle_rate=DEFAULT_HURDLE_RATE)
    build_portfolio_attribution(conn, day, account=ACCOUNT, first_day=START)
    build_process_runs(conn, day, account=ACCOUNT)
    write_scores(conn, day, score_as_of(conn, day, CONFIG))


@pytest.fixture(scope="module")
def sandbox_90_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 sandbox days fetched over loopback HTTP, then ledger, attribution, runs and scores day by day."""
    path = tmp_path_factory.mktemp("selector") / "hean.duckdb"
    fetch_sandbox_raw(path, START, START + timedelta(days=N_DAYS - 1))
    with writer(path) as conn, transaction(conn):
        for offset in range(N_DAYS):
            _build_day(conn, START + timedelta(days=offset))
    return path


def _first(conn: duckdb.DuckDBPyConnection, process_id: str, decision: str) -> date | None:
    row = conn.execute(
        "SELECT min(as_of) FROM selection.scores WHERE process_id = ? AND decision = ?", [process_id, decision]
    ).fetchone()
    return row[0] if row else None


@pytest.mark.slow
def test_the_selector_finds_the_planted_edge_and_kills_the_planted_loser(sandbox_90_days: Path) -> None:
    conn = connect(sandbox_90_days, read_only=True)
    try:
        last = START + timedelta(days=N_DAYS - 1)
        # Scores for every day and every process; runs for every process every day (they all trade daily).
        grid = conn.execute(
            "SELECT count(DISTINCT as_of), count(*), count(DISTINCT process_id) FROM selection.scores"
        ).fetchone()
        assert grid == (N_DAYS, N_DAYS * len(PROCESSES), len(PROCESSES))
        assert conn.execute("SELECT DISTINCT process_id FROM selection.scores ORDER BY 1").fetchall() == [
            (p,) for p in PROCESSES
        ]
        assert conn.execute("SELECT count(*) FROM selection.process_runs").fetchone() == (N_DAYS * len(PROCESSES),)
        assert conn.execute("SELECT count(DISTINCT date) FROM selection.bucket_edges").fetchone() == (N_DAYS,)
        assert conn.execute("SELECT count(*) FROM selection.trials").fetchone() == (len(PROCESSES),)

        edge_scaling = _first(conn, "edge_momentum", "SCALING")
        loser_killed = _first(conn, "loser_meanrev", "KILLED")
        assert edge_scaling is not None and edge_scaling <= last, "the planted edge never reached SCALING"
        assert loser_killed is not None and loser_killed <= last, "the planted loser was never KILLED"
        assert _first(conn, "edge_momentum", "KILLED") is None
        assert _first(conn, "loser_meanrev", "SCALING") is None
        assert _first(conn, "noise_scalper", "SCALING") is None
        # Nobody is decided before the minimum sample.
        assert conn.execute(
            "SELECT count(*) FROM selection.scores WHERE n_runs < 10 AND decision <> 'TESTING'"
        ).fetchone() == (0,)
        # Once killed by the process's own conditions or statistically, the loser stays KILLED to the end.
        assert conn.execute(
            "SELECT count(*) FROM selection.scores WHERE process_id = 'loser_meanrev' AND as_of >= ? "
            "AND decision <> 'KILLED'",
            [loser_killed],
        ).fetchone() == (0,)

        evaluation = walk_forward(conn, START, last, horizon_days=14, config=CONFIG)
    finally:
        conn.close()
    _check_walk_forward(evaluation, edge_scaling, loser_killed)


def _check_walk_forward(evaluation: Evaluation, edge_scaling: date, loser_killed: date) -> None:
    assert dict(evaluation.first_scaling)["edge_momentum"] == edge_scaling
    assert dict(evaluation.first_killed)["loser_meanrev"] == loser_killed
    assert evaluation.scaling_hit_rate is not None and evaluation.scaling_hit_rate > 0.8
    assert evaluation.selector_excess is not None and evaluation.selector_excess > 0
    assert evaluation.pbo is not None and evaluation.pbo < 0.5
    text = render(evaluation)
    assert f"edge_momentum {edge_scaling.isoformat()}" in text
    print(text)  # the report, for `pytest -s`


@pytest.mark.slow
def test_rerunning_a_sandbox_day_is_byte_identical(sandbox_90_days: Path) -> None:
    tables = ("selection.process_runs", "selection.bucket_edges", "selection.scores", "selection.score_days")
    with writer(sandbox_90_days) as conn:
        before = {t: table_checksum(conn, t) for t in (*tables, "selection.trials")}
        day = START + timedelta(days=40)
        with transaction(conn):
            build_process_runs(conn, day, account=ACCOUNT)
            write_scores(conn, day, score_as_of(conn, day, CONFIG))
        assert {t: table_checksum(conn, t) for t in before} == before
