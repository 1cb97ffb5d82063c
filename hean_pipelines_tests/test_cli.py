"""The CLI's argument handling (the end-to-end runs live in hean_pipelines_tests/defs)."""

from __future__ import annotations

from datetime import date

import pytest

from hean_pipelines.cli import build_parser, main, resolve_range

TODAY = date(2026, 11, 23)


def test_default_range_is_the_last_30_complete_days() -> None:
    assert resolve_range(None, None, None, TODAY) == (date(2026, 10, 24), date(2026, 11, 22))


def test_end_and_days() -> None:
    assert resolve_range(30, None, date(2026, 1, 31), TODAY) == (date(2026, 1, 2), date(2026, 1, 31))


def test_start_and_days_and_start_end() -> None:
    assert resolve_range(3, date(2026, 1, 1), None, TODAY) == (date(2026, 1, 1), date(2026, 1, 3))
    assert resolve_range(None, date(2026, 1, 1), date(2026, 1, 9), TODAY) == (
        date(2026, 1, 1),
        date(2026, 1, 9),
    )


def test_incomplete_day_and_inverted_range_are_refused() -> None:
    with pytest.raises(SystemExit, match="not a complete UTC day"):
        resolve_range(1, None, TODAY, TODAY)
    with pytest.raises(SystemExit, match="after end"):
        resolve_range(None, date(2026, 1, 9), date(2026, 1, 1), TODAY)


def test_parser_knows_every_public_command() -> None:
    parser = build_parser()
    for argv in (
        ["run", "--days", "3", "--day-by-day"],
        ["sandbox", "--port", "1"],
        ["import-bybit", "f.json"],
        ["check", "--workdir", "x"],
        ["report", "--date", "2026-01-05"],
    ):
        assert parser.parse_args(argv).command == argv[0]
    serve = parser.parse_args(["metrics", "serve", "--port", "0", "--db", "x.duckdb"])
    assert (serve.command, serve.metrics_command, serve.port, serve.host) == ("metrics", "serve", 0, None)
    assert parser.parse_args(["metrics", "snapshot"]).metrics_command == "snapshot"


def test_bad_source_is_a_named_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEAN_SOURCE", "paper")
    assert main(["run", "--days", "1"]) == 2
    assert "HEAN_SOURCE='paper'" in capsys.readouterr().err
