"""``hean`` -- the command line (also ``python -m hean_pipelines``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from hean_pipelines.settings import SOURCES, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from hean_pipelines.metrics.config import MetricsConfig
    from hean_pipelines.metrics.pipeline_status import PipelineStatusReader

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _load_dotenv() -> None:
    env_file = Path.cwd() / ".env"
    if env_file.exists():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def resolve_range(days: int | None, start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The inclusive day range of ``hean run``; defaults to the last 30 complete UTC days."""
    if start and end and days:
        raise SystemExit("hean run: give --start and --end, or --days with one of them, not all three")
    last = end or (start + timedelta(days=days - 1) if start and days else today - timedelta(days=1))
    first = start or last - timedelta(days=(days or 30) - 1)
    if first > last:
        raise SystemExit(f"hean run: start {first} is after end {last}")
    if last >= today:
        raise SystemExit(f"hean run: {last} is not a complete UTC day yet (today is {today})")
    return first, last


def _ledger_is_empty(db: Path, account: str) -> bool:
    if not db.exists():
        return True
    from hean_pipelines.warehouse.connection import reader

    with reader(db) as conn:
        exists = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ledger' AND table_name = 'days'"
        ).fetchone()
        if not exists or not exists[0]:
            return True
        row = conn.execute("SELECT count(*) FROM ledger.days WHERE account = ?", [account]).fetchone()
        return not row or not row[0]


def _align_first_sandbox_ledger_day(settings: Settings, first: date) -> date:
    """The sandbox is flat every Monday: a first-ever sandbox ledger starts on the Monday on or before."""
    if settings.source != "sandbox" or settings.ledger_start or first.weekday() == 0:
        return first
    if not _ledger_is_empty(settings.duckdb_path, settings.account):
        return first
    monday = first - timedelta(days=first.weekday())
    print(f"hean run: the ledger is empty and the sandbox is flat on Mondays: starting at {monday} instead of {first}")
    return monday


def cmd_run(args: argparse.Namespace) -> int:
    if args.source:
        os.environ["HEAN_SOURCE"] = args.source
    if args.db:
        os.environ["HEAN_DUCKDB_PATH"] = str(args.db)
    if args.sandbox_url:
        os.environ["HEAN_SANDBOX_URL"] = args.sandbox_url
    settings = load_settings()
    today = datetime.now(UTC).date()
    first, last = resolve_range(args.days, args.start, args.end, today)
    first = _align_first_sandbox_ledger_day(settings, first)
    if first < settings.start_date:
        raise SystemExit(
            f"hean run: {first} is before the partitions' start date {settings.start_date} (HEAN_START_DATE)"
        )
    from hean_pipelines.pipeline_runner import ensure_dagster_home, run_day_by_day, run_days
    from hean_pipelines.run_console import render_day_by_day, render_outcome

    home = ensure_dagster_home(PROJECT_ROOT)
    print(
        f"hean run: {first}..{last} ({(last - first).days + 1} days) source={settings.source} "
        f"db={settings.duckdb_path} DAGSTER_HOME={home}" + (" day by day" if args.day_by_day else "")
    )
    if args.day_by_day:
        outcomes = run_day_by_day(first, last)
        for outcome in outcomes:
            print("\n".join(render_outcome(outcome)))
        print("\n".join(render_day_by_day(outcomes)))
        success = all(outcome.success for outcome in outcomes)
    else:
        outcome = run_days(first, last)
        print("\n".join(render_outcome(outcome)))
        success = outcome.success
    print(f"data: {settings.duckdb_path.resolve()}  (query it read-only: README, section 'The warehouse')")
    print("UI:   make dev  ->  http://127.0.0.1:3000")
    return 0 if success else 1


# The CI gate's fixed window: four sandbox weeks from the sandbox's first (flat) Monday -- long enough
# for the selector to pass its 10-run gate and for every process and transaction type to appear.
CHECK_FIRST_DAY = date(2025, 12, 29)
CHECK_LAST_DAY = date(2026, 1, 25)


def cmd_check(args: argparse.Namespace) -> int:
    """Materialize the whole graph for a fixed sandbox window on a fresh warehouse; fail on any failed check."""
    import shutil

    workdir = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    # A fresh warehouse and instance every time: the gate judges the code, not what an earlier run left.
    os.environ.update(
        {
            "HEAN_SOURCE": "sandbox",
            "HEAN_DUCKDB_PATH": str(workdir / "hean.duckdb"),
            "HEAN_START_DATE": args.start.isoformat(),
            "DAGSTER_HOME": str(workdir / "dagster_home"),
        }
    )
    os.environ.pop("HEAN_LEDGER_START", None)
    if args.sandbox_url:
        os.environ["HEAN_SANDBOX_URL"] = args.sandbox_url
    settings = load_settings()
    from hean_pipelines.pipeline_runner import ensure_dagster_home, run_days
    from hean_pipelines.run_console import day_ranges, gate_problems, render_check_table

    ensure_dagster_home(PROJECT_ROOT)
    faults = f" faults={settings.sandbox_faults}" if settings.sandbox_faults else ""
    print(f"hean check: {args.start}..{args.end} on a fresh sandbox warehouse in {workdir}{faults}")
    outcome = run_days(args.start, args.end)
    print("\n".join(render_check_table(outcome)))
    failed = gate_problems(outcome)
    if not failed:
        print(f"hean check: PASSED -- {len(outcome.checks)} checks over {(args.end - args.start).days + 1} days")
        return 0
    days = day_ranges(outcome.failed_days) or "(see above)"
    print(f"hean check: FAILED -- {failed} problem(s); failing days: {days}; run {outcome.run_id}", file=sys.stderr)
    return 1


def cmd_sandbox(args: argparse.Namespace) -> int:
    from hean_pipelines.bybit.sandbox.server import SandboxConfig, serve_forever
    from hean_pipelines.bybit.sandbox.simulator import SandboxAccount

    config = SandboxConfig(
        api_key=args.api_key,
        api_secret=args.api_secret,
        host=args.host,
        port=args.port,
        rate_limit_per_second=args.rate_limit,
        rate_limit_mode=args.rate_limit_mode,
        read_only_key=not args.not_read_only,
    )
    account = SandboxAccount(seed=args.seed)
    serve_forever(account, config, faults=" ".join(args.fault) or None)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from hean_pipelines.warehouse.connection import writer
    from hean_pipelines.warehouse.importer import RecordedImportError, import_files
    from hean_pipelines.warehouse.raw_load import RawKind

    if args.db:
        os.environ["HEAN_DUCKDB_PATH"] = str(args.db)
    settings = load_settings()
    kind = RawKind(args.kind) if args.kind else None
    with writer(settings.duckdb_path, lock_timeout_s=settings.duckdb_lock_timeout_s) as conn:
        try:
            report = import_files(conn, [Path(p) for p in args.files], kind=kind, account=settings.account)
        except RecordedImportError as exc:
            print(f"hean import-bybit: {exc}", file=sys.stderr)
            return 1
    print(report.render())
    return 0


def cmd_factory_generate(args: argparse.Namespace) -> int:
    """Run the factory for one day and print what it accepted and rejected, and why."""
    from hean_pipelines.factory.backends import backend_from_env
    from hean_pipelines.factory.generate import generate_for_day, render_run
    from hean_pipelines.factory.pending import DEFAULT_MAX_PENDING, pending_proposals
    from hean_pipelines.warehouse.connection import writer

    if args.db:
        os.environ["HEAN_DUCKDB_PATH"] = str(args.db)
    settings = load_settings()
    day = args.date or datetime.now(UTC).date() - timedelta(days=1)
    backend = backend_from_env()
    with writer(settings.duckdb_path, lock_timeout_s=settings.duckdb_lock_timeout_s) as conn:
        pending = pending_proposals(conn, day)
        if len(pending) >= DEFAULT_MAX_PENDING and not args.force:
            print(
                f"{len(pending)} proposals await review ({', '.join(pending)}): nothing generated "
                "(approve or retire them in the catalog, or use --force)"
            )
            return 0
        run = generate_for_day(conn, day, backend)
    print(render_run(run))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Walk forward over the last N scored days: decisions vs what the processes earned afterwards."""
    from hean_pipelines.selection.config import load_selector_config
    from hean_pipelines.selection.evaluate import render, to_markdown, walk_forward
    from hean_pipelines.warehouse.connection import reader

    if args.db:
        os.environ["HEAN_DUCKDB_PATH"] = str(args.db)
    settings = load_settings()
    config = load_selector_config()
    with reader(settings.duckdb_path, lock_timeout_s=settings.duckdb_lock_timeout_s) as conn:
        last = args.end
        if last is None:
            row = conn.execute("SELECT max(date) FROM attribution.process_daily").fetchone()
            if not row or row[0] is None:
                print("hean evaluate: no attribution yet -- run `make run` first", file=sys.stderr)
                return 1
            last = row[0]
        first = last - timedelta(days=args.days - 1)
        evaluation = walk_forward(conn, first, last, horizon_days=args.horizon, config=config)
    print(render(evaluation))
    out = Path(args.out or f"reports/evaluation-{first}-{last}-h{args.horizon}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(evaluation))
    print(f"report saved: {out}")
    return 0


def _metrics_setup(args: argparse.Namespace) -> tuple[Settings, MetricsConfig]:
    from hean_pipelines.metrics.config import load_metrics_config
    from hean_pipelines.pipeline_runner import ensure_dagster_home

    ensure_dagster_home(PROJECT_ROOT)  # the instance `hean run` records into: run and check status come from it
    if args.db:
        os.environ["HEAN_DUCKDB_PATH"] = str(args.db)
    if getattr(args, "metrics_dir", None):
        os.environ["HEAN_METRICS_DIR"] = str(args.metrics_dir)
    return load_settings(), load_metrics_config()


def _status_reader() -> PipelineStatusReader | None:
    from hean_pipelines.defs.observability.instance import configured_status_reader

    return configured_status_reader()


def cmd_metrics_serve(args: argparse.Namespace) -> int:
    """Serve /metrics until Ctrl-C or SIGTERM; a scrape reads DuckDB read-only and briefly."""
    from hean_pipelines.metrics.exporter import build_collector, serve_until_stopped, start_exporter

    settings, config = _metrics_setup(args)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the instance's storage migrations chatter at INFO
    host = args.host or config.host
    port = config.port if args.port is None else args.port
    collector = build_collector(settings.duckdb_path, config, _status_reader())
    exporter = start_exporter(collector, host, port)
    # One line a supervisor (or a test) can read: where to scrape.
    print(f"hean metrics: serving http://{host}:{exporter.port}/metrics  db={settings.duckdb_path}", flush=True)
    serve_until_stopped(exporter)
    return 0


def cmd_metrics_snapshot(args: argparse.Namespace) -> int:
    """Write metrics.json and metrics.prom now (what the metrics_snapshot asset does after a run)."""
    from hean_pipelines.metrics.files import write_snapshot_files
    from hean_pipelines.metrics.snapshot import take_snapshot
    from hean_pipelines.warehouse.connection import DuckDBLockedError

    settings, config = _metrics_setup(args)
    try:
        snapshot = take_snapshot(
            settings.duckdb_path,
            lock_timeout_s=settings.duckdb_lock_timeout_s,
            drawdown_limit=config.drawdown_limit,
            status_reader=_status_reader(),
        )
    except (FileNotFoundError, DuckDBLockedError) as exc:
        print(f"hean metrics snapshot: {exc}", file=sys.stderr)
        return 1
    files = write_snapshot_files(snapshot, config.metrics_dir)
    print(f"last attributed day: {snapshot.last_day or 'none'}; {len(snapshot.samples)} samples")
    print(f"wrote {files.json_path} and {files.prom_path}")
    return 0


def _default_report_day(db: Path) -> date:
    """The last day a run of the daily job covered, else the last attributed day, else yesterday."""
    import dagster as dg

    from hean_pipelines.defs.instance_status import run_window
    from hean_pipelines.defs.jobs import DAILY_PIPELINE_JOB

    records = dg.DagsterInstance.get().get_run_records(filters=dg.RunsFilter(job_name=DAILY_PIPELINE_JOB), limit=1)
    window = run_window(records[0].dagster_run) if records else None
    if window:
        return date.fromisoformat(window[1])
    if db.exists():
        import duckdb

        from hean_pipelines.warehouse.connection import reader

        with reader(db) as conn:
            try:
                row = conn.execute("SELECT max(date) FROM attribution.portfolio_daily").fetchone()
            except duckdb.CatalogException:  # no attribution built yet
                row = None
            if row and row[0]:
                return row[0]
    return datetime.now(UTC).date() - timedelta(days=1)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the daily Markdown report for one day (default: the last day a run covered) and print it."""
    if args.db:
        os.environ["HEAN_DUCKDB_PATH"] = str(args.db)
    settings = load_settings()
    import dagster as dg

    from hean_pipelines.defs.reporting.daily_report_writer import write_report
    from hean_pipelines.pipeline_runner import ensure_dagster_home

    ensure_dagster_home(PROJECT_ROOT)
    day = args.date or _default_report_day(settings.duckdb_path)
    reports_dir = args.out or settings.reports_dir
    path, text = write_report(
        settings.duckdb_path, dg.DagsterInstance.get(), day, reports_dir, settings.duckdb_lock_timeout_s
    )
    if not args.quiet:
        print(text)
    print(f"report saved: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hean", description="hean-pipelines: the truth layer of a Bybit account")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="materialize the whole daily pipeline for a range of days (one run)")
    run.add_argument("--days", type=int, help="number of days (default 30, ending yesterday or at --end)")
    run.add_argument("--start", type=_parse_date)
    run.add_argument("--end", type=_parse_date)
    run.add_argument("--source", choices=SOURCES, help="default: live when BYBIT keys are set, else sandbox")
    run.add_argument("--sandbox-url", help="use a running sandbox instead of starting one in-process")
    run.add_argument("--db", type=Path, help="DuckDB file (default data/hean.duckdb or HEAN_DUCKDB_PATH)")
    run.add_argument("--day-by-day", action="store_true", help="one run per day, to isolate the days that fail")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="the CI gate: every check over a fixed sandbox window, fresh warehouse")
    check.add_argument("--start", type=_parse_date, default=CHECK_FIRST_DAY)
    check.add_argument("--end", type=_parse_date, default=CHECK_LAST_DAY)
    check.add_argument("--workdir", type=Path, default=Path("data/check"), help="wiped and rebuilt every time")
    check.add_argument("--sandbox-url", help="a running sandbox instead of an in-process one")
    check.set_defaults(func=cmd_check)

    sandbox = sub.add_parser("sandbox", help="serve the Bybit-v5-compatible sandbox exchange on loopback")
    sandbox.add_argument("--port", type=int, default=18080)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--api-key", default="hean-sandbox-key")
    sandbox.add_argument("--api-secret", default="hean-sandbox-secret")
    sandbox.add_argument("--seed", type=int, default=7)
    sandbox.add_argument("--rate-limit", type=float, default=50.0, help="requests/s per key and endpoint (0: off)")
    sandbox.add_argument("--rate-limit-mode", choices=["10006", "429"], default="10006")
    sandbox.add_argument("--not-read-only", action="store_true", help="make query-api report a trading key")
    sandbox.add_argument("--fault", action="append", default=[], help="fault rule, e.g. http_429:3@/v5/execution/list")
    sandbox.set_defaults(func=cmd_sandbox)

    imp = sub.add_parser("import-bybit", help="load saved Bybit v5 JSON responses into the raw tables")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--kind", help="endpoint kind when the shape is ambiguous")
    imp.add_argument("--db", type=Path)
    imp.set_defaults(func=cmd_import)

    factory = sub.add_parser("factory", help="the process factory: propose new processes for human review")
    factory_sub = factory.add_subparsers(dest="factory_command", required=True)
    generate = factory_sub.add_parser("generate", help="run the factory for one day (default: yesterday)")
    generate.add_argument("--date", type=_parse_date)
    generate.add_argument("--db", type=Path)
    generate.add_argument("--force", action="store_true", help="generate even while 3 proposals await review")
    generate.set_defaults(func=cmd_factory_generate)

    evaluate = sub.add_parser("evaluate", help="walk-forward evaluation of the selector's decisions")
    evaluate.add_argument("--days", type=int, default=30, help="days of decisions to evaluate (default 30)")
    evaluate.add_argument("--end", type=_parse_date, help="last decision day (default: the last attributed day)")
    evaluate.add_argument("--horizon", type=int, default=7, help="forward horizon in days (default 7)")
    evaluate.add_argument("--out", help="report file (default reports/evaluation-<first>-<last>-h<H>.md)")
    evaluate.add_argument("--db", type=Path)
    evaluate.set_defaults(func=cmd_evaluate)

    metrics = sub.add_parser("metrics", help="Prometheus metrics: the exporter and the snapshot files")
    metrics_sub = metrics.add_subparsers(dest="metrics_command", required=True)
    serve = metrics_sub.add_parser("serve", help="serve /metrics over HTTP (127.0.0.1:9188 by default)")
    serve.add_argument("--port", type=int, help="port (default 9188 or HEAN_METRICS_PORT; 0: any free port)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1 or HEAN_METRICS_HOST)")
    serve.add_argument("--db", type=Path, help="DuckDB file (default data/hean.duckdb or HEAN_DUCKDB_PATH)")
    serve.add_argument("--metrics-dir", type=Path, help="where metrics.json is (default metrics/ or HEAN_METRICS_DIR)")
    serve.set_defaults(func=cmd_metrics_serve)
    snap = metrics_sub.add_parser("snapshot", help="write metrics.json and metrics.prom now")
    snap.add_argument("--db", type=Path)
    snap.add_argument("--metrics-dir", type=Path)
    snap.set_defaults(func=cmd_metrics_snapshot)

    report = sub.add_parser("report", help="write the daily Markdown report under reports/daily/ and print it")
    report.add_argument("--date", type=_parse_date, help="the day (default: the last day a run covered)")
    report.add_argument("--db", type=Path)
    report.add_argument("--out", type=Path, help="reports directory (default reports/ or HEAN_REPORTS_DIR)")
    report.add_argument("--quiet", action="store_true", help="only print where the report was saved")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _load_dotenv()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"hean: configuration error: {exc}", file=sys.stderr)
        return 2
