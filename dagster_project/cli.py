"""The `engagement` command: demo, refresh, experiments, sandbox, dev.

Exit codes: 0 ok; 1 the run failed (the reason on one line); 2 bad configuration or arguments.
Quiet by default (a progress line per stream and dbt phase, warnings, the report); --verbose
shows Dagster's and dbt's own logs instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from connectors.http import ConfigError
from dagster_project.lib.project import (
    DAGSTER_HOME_DEFAULT,
    DEFAULT_SERVING,
    PROJECT_ROOT,
    load_project_env,
    project_path,
)
from dagster_project.lib.run_window import range_tags

REPO_ROOT = PROJECT_ROOT

DESCRIPTION = """Cross-channel engagement metrics: pull GA4, Mailchimp, X, Facebook Pages, LinkedIn and HubSpot into DuckDB,
build the dbt models, check them and publish a read-only snapshot for BI tools."""

VARIABLES = """configuration (environment variables; the project's .env fills in any that are not set):
  ENGAGEMENT_PII_SALT        required: salt of the person ids in the serving snapshot
  ENGAGEMENT_SOURCES         enabled sources (default ga4,mailchimp,x,facebook,linkedin,hubspot)
  ENGAGEMENT_WAREHOUSE       working DuckDB file (default warehouse/engagement.duckdb in the project)
  ENGAGEMENT_SERVING         published snapshot (default warehouse/serving.duckdb in the project)
  ENGAGEMENT_LOOKBACK_DAYS   days re-read before the window for late data (default 7)
  ENGAGEMENT_HORIZON_DAYS    interactions of posts and sends younger than this are re-read (default 30)
  ENGAGEMENT_COUNTER_HORIZON_DAYS  lifetime counters of posts and sends younger than this (default 90)
  ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS  wait for an API's answer before a retry (default 30)
  ENGAGEMENT_INGEST_PROCESS  child: fetch and load in a process that exits before dbt (default); same: in this one
  ENGAGEMENT_ENGINE          where dbt runs: duckdb (default) or spark (SPARK_METHOD, see .env.example)
  ENGAGEMENT_LAKE            spark: raw Parquet, Spark's tables, the published marts (default warehouse/lake)
  per source                 credentials and base URLs, listed in .env.example
  DAGSTER_HOME               record the run in this Dagster instance (the UI's); unset: not recorded"""

EXIT_CODES = """exit codes:
  0  success
  1  the run failed (one line says which stream or step, and why); the serving snapshot is unchanged
  2  bad configuration or arguments (one line names the variable or flag to fix); nothing was requested or written"""


class CliError(Exception):
    exit_code = 2


@dataclass
class StreamReport:
    asset: str
    records: int
    pages: int
    requests: int
    retries: int
    written: int
    stored: int


@dataclass
class RefreshReport:
    start: date
    end: date
    success: bool
    streams: list[StreamReport]
    failures: list[str]
    seconds: float
    published: dict[str, object] | None = None  # the publish asset's metadata; None when it did not run
    warehouse: str = ""
    serving: str = ""
    lake: str = ""  # on Spark: where raw Parquet, Spark's tables and the published marts live
    warnings: list[str] = field(default_factory=list)  # warning log lines and failed warn-severity checks
    run_id: str = ""
    # nothing new: (run id, time) of the published snapshot whose inputs this run found unchanged (lib/build_state.py)
    unchanged_since: tuple[str, object] | None = None


def parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{flag} must be a date like 2026-10-01 (got {text!r})") from None


def check_window(start: date, end: date) -> None:
    if start >= end:
        raise CliError(f"--start {start} must be before --end {end} (the window is [start, end), end excluded)")
    if start < date(2024, 1, 1):
        raise CliError(f"--start {start} is before the first partition, 2024-01-01")


def run_refresh(start: date, end: date, *, quiet: bool = False, instance=None) -> RefreshReport:
    """Pull [start, end) (each asset adds the lookback) from every enabled source, load it, build, check, publish.

    quiet: no Dagster or dbt log lines (dbt's stdout is swallowed); progress goes to whoever listens
    (dagster_project.lib.progress), warnings come back in the report. `instance`: where the run is
    recorded; by default DAGSTER_HOME's instance when it is set, else an in-memory one (lib/throwaway_instance.py)."""
    import dagster as dg

    from dagster_project.lib.clients import check_clients
    from dagster_project.lib.dbt_manifest import ensure_manifest
    from dagster_project.lib.settings import load_settings
    from dagster_project.lib.throwaway_instance import throwaway_instance

    check_window(start, end)
    settings = load_settings()
    check_clients(settings)  # every configuration error surfaces here, before any request or write
    ensure_manifest()
    from dagster_project.definitions import defs

    if instance is None:
        instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else throwaway_instance()
    began = time.monotonic()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():  # dagster-dbt prints dbt's events
        result = dg.materialize(
            list(defs.assets),
            resources=defs.resources,
            instance=instance,
            tags=range_tags(start, end),
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL" if quiet else "INFO"}}}},
            raise_on_error=False,
        )
    streams: dict[str, StreamReport] = {}
    published = None
    for event in result.get_asset_materialization_events():  # one event per partition: keep one per asset
        mat = event.step_materialization_data.materialization
        md = {k: v.value for k, v in mat.metadata.items()}
        if mat.asset_key == dg.AssetKey("publish"):
            published = md
        if "fetched" not in md:  # dbt models, publish and disabled sources
            continue
        streams[mat.asset_key.to_user_string()] = (StreamReport(
            asset=mat.asset_key.to_user_string(), records=int(md.get("fetched", 0)), pages=int(md.get("pages", 0)),
            requests=int(md.get("requests", 0)), retries=int(md.get("retries", 0)),
            written=int(md.get("inserted", 0)), stored=int(md.get("table_rows", 0)),
        ))
    unchanged_since = None
    if result.success and published is None:
        from dagster_project.lib.build_state import published as published_inputs

        last = published_inputs(settings.warehouse)
        unchanged_since = (last[1], last[2]) if last else None
    failures = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        cause = error.cause if error and error.cause else error
        message = (cause.message if cause else "unknown error").strip().splitlines()[0]
        failures.append(f"{event.step_key}: {message}")
    return RefreshReport(start, end, result.success, list(streams.values()), failures, time.monotonic() - began, published,
                         warehouse=settings.warehouse, serving=settings.serving,
                         lake=settings.lake if settings.engine == "spark" else "", warnings=run_warnings(instance, result),
                         run_id=result.run_id, unchanged_since=unchanged_since)


def run_warnings(instance, result) -> list[str]:
    """The run's warning log lines (without Dagster's prefix) and its failed checks that do not block."""
    import dagster as dg

    lines = [entry.user_message.strip().splitlines()[0] for entry in instance.all_logs(result.run_id)
             if entry.level >= logging.WARNING and entry.dagster_event is None and entry.user_message.strip()
             and not entry.user_message.startswith("Dependencies for step")]  # a failure upstream says why
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN:
            lines.append(f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed (warn severity)")
    return lines


def dbt_phase_totals(unit_tests: bool = True) -> dict[str, int]:
    """How many nodes each dbt phase of `dbt build` runs, from the manifest (a Spark refresh runs no unit tests)."""
    from dagster_project.lib.dbt_manifest import MANIFEST

    manifest = json.loads(MANIFEST.read_text())
    kinds = [node["resource_type"] for node in manifest["nodes"].values()]
    totals = {"dbt models": kinds.count("model") + kinds.count("seed"), "dbt tests": kinds.count("test")}
    if unit_tests:
        totals["dbt unit tests"] = len(manifest.get("unit_tests", {}))
    return totals


def refresh_with_display(start: date, end: date, verbose: bool, instance=None) -> RefreshReport:
    """run_refresh as the CLI shows it: verbose gives today's logs, quiet a progress display."""
    if verbose:
        return run_refresh(start, end, instance=instance)
    import dagster as dg
    from rich.console import Console

    from dagster_project.lib import progress
    from dagster_project.lib.clients import check_clients
    from dagster_project.lib.dbt_manifest import ensure_manifest
    from dagster_project.lib.engine import dbt_build_args
    from dagster_project.lib.run_display import RunDisplay
    from dagster_project.lib.settings import load_settings

    check_window(start, end)
    settings = load_settings()
    check_clients(settings)  # configuration errors first, before dbt parses or anything is drawn
    ensure_manifest()
    console = Console(file=sys.stdout)  # bound now: dbt's prints go to a sink while the run works
    dagster_logger = logging.getLogger("dagster")
    level = dagster_logger.level
    with warnings.catch_warnings():
        for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        dagster_logger.setLevel(logging.ERROR)
        try:
            unit_tests = "unit_test" not in dbt_build_args(settings)
            with RunDisplay(console, dbt_phase_totals(unit_tests)) as display, progress.listening(display):
                return run_refresh(start, end, quiet=True, instance=instance)
        finally:
            dagster_logger.setLevel(level)


def format_report(report: RefreshReport) -> str:
    lines = [f"window [{report.start}, {report.end}) plus lookback, {report.seconds:.1f} s"]
    header = f"{'source.stream':32} {'records':>9} {'pages':>6} {'requests':>8} {'retries':>7} {'written':>8} {'stored':>8}"
    lines += [header, "-" * len(header)]
    for s in sorted(report.streams, key=lambda s: s.asset):
        name = s.asset.replace("raw_", "", 1).replace("/", ".")
        lines.append(f"{name:32} {s.records:9d} {s.pages:6d} {s.requests:8d} {s.retries:7d} {s.written:8d} {s.stored:8d}")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    for failure in report.failures:
        lines.append(f"FAILED {failure}")
    if report.published:
        lines.append(f"published {report.published['path']} (snapshot {report.published['snapshot_id']})")
    elif report.unchanged_since:
        run_id, at = report.unchanged_since
        lines.append(f"nothing new: the raw tables, models and settings are those of the snapshot published at {at} "
                     f"(run {run_id}); dbt build, the statistics and publish were skipped, and the snapshot is current")
    elif not report.success:
        lines.append("not published: the serving snapshot is unchanged")
    if report.warehouse:
        lines.append(f"warehouse: {report.warehouse}")
        lines.append(f"serving snapshot: {report.serving}")
    if report.lake:
        lines.append(f"lake: {report.lake}")
    return "\n".join(lines)


SOCIAL_PLATFORMS = ("x", "facebook", "linkedin")


def campaign_table(serving: str | Path) -> str:
    """Engaged users per campaign and channel, and social interactions per platform, read from the
    published snapshot as a BI tool would."""
    from dagster_project.lib.publish import open_snapshot

    con = open_snapshot(serving)
    try:
        rows = con.execute(
            """
            select campaign_key,
                max(case when channel = 'web' then engaged_users end),
                max(case when channel = 'email' then engaged_users end),
                max(case when channel = 'social' then engaged_users end),
                max(case when channel = 'any' then engaged_users end),
                max(case when channel = 'any' then identified_users end)
            from marts.fct_campaign_engaged_users
            group by campaign_key
            order by campaign_key
            """
        ).fetchall()
        interactions = {(key, platform): total for key, platform, total in con.execute(
            """
            select campaign_key, platform, sum(total_interactions)
            from marts.fct_social_engagement_daily
            where campaign_key is not null
            group by campaign_key, platform
            """
        ).fetchall()}
    finally:
        con.close()
    widths = (6, 6, 6, 6, 7, *(max(8, len(p)) for p in SOCIAL_PLATFORMS))
    header = (f"{'campaign_key':22} {'web':>6} {'email':>6} {'social':>6} {'any':>6} {'in CRM':>7} "
              + " ".join(f"{p:>{w}}" for p, w in zip(SOCIAL_PLATFORMS, widths[5:], strict=True)))
    lines = ["engaged users per campaign and channel (persons; 'any' counts each once), then social interactions "
             "per platform", header, "-" * len(header)]
    for key, *counts in rows:
        counts += [interactions.get((key, p)) for p in SOCIAL_PLATFORMS]
        lines.append(f"{key:22} " + " ".join(f"{c if c is not None else 0:{w}d}" for c, w in zip(counts, widths, strict=True)))
    return "\n".join(lines)


def experiments_table(database: str | Path) -> str:
    """The experiment results of a serving snapshot or a warehouse, as a short table."""
    import duckdb

    from dagster_project.lib.experiment_stats import format_results_table
    from dagster_project.lib.publish import open_snapshot

    con = open_snapshot(database)
    try:
        cursor = con.execute("select * from marts.fct_experiment_results order by experiment_id, arm, metric")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.CatalogException:
        raise CliError(f"{Path(database).resolve()} has no marts.fct_experiment_results: run a refresh first") from None
    finally:
        con.close()
    return format_results_table(rows)


def default_serving() -> Path:
    return Path(project_path(os.environ.get("ENGAGEMENT_SERVING"), DEFAULT_SERVING))


def project_dagster_home() -> Path:
    """The instance `engagement dev` and `engagement demo` share: DAGSTER_HOME, else .dagster_home/ in the project."""
    home = Path(os.environ.get("DAGSTER_HOME") or DAGSTER_HOME_DEFAULT)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster_project" / "dagster.yaml", home / "dagster.yaml")
    return home


@contextmanager
def running_sandbox(seed: int = 7, scale: float = 1.0, port: int = 0, days: int = 28, latency_ms: float = 0.0) -> Iterator[object]:
    from connectors.sandbox.server import SandboxServer
    from connectors.sandbox.world import World, WorldConfig

    server = SandboxServer(World(WorldConfig.at_scale(scale, seed=seed, days=days)), port=port, latency=latency_ms / 1000).start()
    try:
        yield server
    finally:
        server.stop()


def cmd_refresh(args: argparse.Namespace) -> int:
    report = refresh_with_display(parse_day(args.start, "--start"), parse_day(args.end, "--end"), args.verbose)
    print(format_report(report))
    if not report.success:
        print(f"refresh failed: {report.failures[0] if report.failures else 'see the log above'}", file=sys.stderr)
        return 1
    return 0


def skip_fsync_of_sqlite_under(home: Path) -> None:
    """The demo records about 1,200 events (a planned and a done event per raw stream and day) into
    the project's SQLite instance, each commit an fsync: 83 s against 25 s without, for 1,120 events
    on this project's 2-core machine. A sandbox demo's instance need not survive a power cut, so
    this process's connections to SQLite files under `home` skip the fsync."""
    import sqlite3

    import sqlalchemy

    @sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
    def _no_fsync(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            path = dbapi_connection.execute("pragma database_list").fetchone()[2]
            if path and Path(path).resolve().is_relative_to(home.resolve()):
                dbapi_connection.execute("pragma synchronous = off")


def cmd_demo(args: argparse.Namespace) -> int:
    import dagster as dg

    if args.engine:
        os.environ["ENGAGEMENT_ENGINE"] = args.engine
    home = project_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)  # the UI's instance: `engagement dev` shows this run
    skip_fsync_of_sqlite_under(home)
    with running_sandbox(seed=args.seed, scale=args.scale) as sandbox:
        os.environ.update(sandbox.env())  # every declared source, the sandbox serving them all
        world = sandbox.world
        print(f"sandbox at {sandbox.url}: seed {args.seed}, {len(world.people)} people, "
              f"{world.start} to {world.end} (exclusive)")
        with dg.DagsterInstance.get() as instance:
            report = refresh_with_display(world.start, world.end, args.verbose, instance=instance)
    print(format_report(report))
    if not report.success:
        print(f"demo failed: {report.failures[0] if report.failures else 'see the log above'}", file=sys.stderr)
        return 1
    serving = Path(str(report.published["path"])) if report.published else default_serving()
    print()
    print(campaign_table(serving))
    print()
    print(f"serving snapshot (read-only, for BI tools): {serving.resolve()}")
    print(f"working warehouse (raw, staging, intermediate, marts): {report.warehouse}")
    if report.lake:
        print(f"lake (raw Parquet, Spark's tables, the published marts): {report.lake}")
    print(f"Dagster instance (run {report.run_id[:8]}; `make dev` shows it at http://127.0.0.1:3000): {os.environ['DAGSTER_HOME']}")
    print()
    print(experiments_table(serving))
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    database = Path(args.warehouse) if args.warehouse else default_serving()
    if args.warehouse and not database.is_file():
        raise CliError(f"--warehouse {database.resolve()} does not exist")
    try:
        print(experiments_table(database))
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    if args.latency_ms < 0:
        raise CliError(f"--latency-ms must be 0 or more (got {args.latency_ms:g})")
    with running_sandbox(seed=args.seed, scale=args.scale, port=args.port, days=args.days, latency_ms=args.latency_ms) as sandbox:
        print(f"sandbox serving the five APIs at {sandbox.url} (Ctrl-C stops it); point the pipeline at it with:")
        for key, value in sandbox.env().items():
            print(f"export {key}={value}")
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI (port 3000) with a sandbox running beside it, on the instance `engagement demo` records into."""
    from connectors.sandbox.server import sandbox_env

    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(project_dagster_home())
    env.update(sandbox_env(f"http://127.0.0.1:{args.sandbox_port}"))
    # dagster-dbt's dev-mode parse looks for `dbt` on PATH: the venv's, even when it is not activated
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    sandbox = subprocess.Popen([sys.executable, "-m", "dagster_project.cli", "sandbox", "--port", str(args.sandbox_port)])
    try:
        # started outside the project folder: `dagster dev` would read .env itself, with its values over the
        # shell's; the environment it gets already holds .env under our rule (the shell's values win)
        return subprocess.call([str(Path(sys.executable).parent / "dagster"), "dev", "-m", "dagster_project.definitions",
                                "--port", str(args.port)], env=env, cwd=REPO_ROOT / "dagster_project")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def paragraphs(*texts: str) -> str:
    return "\n".join(textwrap.fill(text, width=100) for text in texts)


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="engagement", description=DESCRIPTION, epilog=EXIT_CODES, formatter_class=formatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quiet_or_verbose = argparse.ArgumentParser(add_help=False)
    quiet_or_verbose.add_argument("-v", "--verbose", action="store_true",
                                  help="show Dagster's and dbt's logs instead of the progress display")

    demo = sub.add_parser(
        "demo", parents=[quiet_or_verbose], formatter_class=formatter, epilog=EXIT_CODES,
        help="start the sandbox, pull its whole world, build, publish, print engaged users",
        description=paragraphs(
            "Start the bundled sandbox of all five APIs, refresh its whole world (28 days), publish the serving "
            "snapshot and print the load report, engaged users per campaign and channel, and the experiments.",
            "The run is recorded in the project's Dagster instance (.dagster_home/, or DAGSTER_HOME), which "
            "'engagement dev' opens at http://127.0.0.1:3000."),
    )
    demo.add_argument("--seed", type=int, default=7, help="world seed (default 7)")
    demo.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000 people (default 1.0)")
    demo.add_argument("--engine", choices=("duckdb", "spark"),
                      help="where dbt runs (sets ENGAGEMENT_ENGINE; default: ENGAGEMENT_ENGINE, else duckdb)")
    demo.set_defaults(func=cmd_demo)

    refresh = sub.add_parser(
        "refresh", parents=[quiet_or_verbose], formatter_class=formatter, epilog=f"{VARIABLES}\n\n{EXIT_CODES}",
        help="pull [--start, --end) from the configured APIs, load, build, check, publish",
        description=paragraphs(
            "Pull the days [--start, --end) (end excluded), plus ENGAGEMENT_LOOKBACK_DAYS before them, from every "
            "enabled source; load the raw tables; run dbt build (models and data tests); compute the "
            "experiment statistics; publish the serving snapshot if every blocking check passed.",
            "Prints a progress line per stream and dbt phase, then warnings and the load report (with where the "
            "warehouse and the snapshot are)."),
    )
    refresh.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    refresh.add_argument("--end", required=True, help="day after the last one, YYYY-MM-DD (excluded)")
    refresh.set_defaults(func=cmd_refresh)

    experiments = sub.add_parser("experiments", help="print the experiment results of the serving snapshot (or of --warehouse)",
                                 description="Print each experiment arm against its control, from the serving snapshot.",
                                 epilog=EXIT_CODES, formatter_class=formatter)
    experiments.add_argument("--warehouse", metavar="PATH",
                             help="read this DuckDB file (a warehouse or a snapshot) instead of ENGAGEMENT_SERVING")
    experiments.set_defaults(func=cmd_experiments)

    sandbox = sub.add_parser("sandbox", help="serve the five fake APIs on 127.0.0.1",
                             description="Serve the fake GA4, Mailchimp, X, Graph and HubSpot APIs on 127.0.0.1 and print "
                             "the export lines that point the pipeline at them.")
    sandbox.add_argument("--port", type=int, default=8765, help="default 8765")
    sandbox.add_argument("--seed", type=int, default=7)
    sandbox.add_argument("--scale", type=float, default=1.0)
    sandbox.add_argument("--days", type=int, default=28, help="days of history in the world")
    sandbox.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                         help="answer every API request this long after it arrived, as real APIs take (default 0)")
    sandbox.set_defaults(func=cmd_sandbox)

    dev = sub.add_parser("dev", help="the Dagster UI at http://127.0.0.1:3000, with the sandbox running",
                         description="Run the Dagster UI (dagster dev) at http://127.0.0.1:3000 on the project's instance "
                         "(.dagster_home/, or DAGSTER_HOME), with a sandbox serving the five APIs beside it.")
    dev.add_argument("--port", type=int, default=3000, help="the UI's port (default 3000)")
    dev.add_argument("--sandbox-port", type=int, default=8765, help="the sandbox's port (default 8765)")
    dev.set_defaults(func=cmd_dev)
    from dagster_project.metrics import add_metrics_parser

    add_metrics_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load_project_env()  # the same rule everywhere: .env fills in what the environment does not set
    try:
        return args.func(args)
    except (CliError, ConfigError) as exc:
        print(f"engagement: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line, no traceback: the reason and what failed
        print(f"engagement: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
