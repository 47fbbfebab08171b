"""The `engagement` command: demo, refresh, experiments, sandbox, dev.

Exit codes: 0 ok; 1 the run failed (the reason on one line); 2 bad configuration or arguments.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from connectors.http import ConfigError
from dagster_project.lib.run_window import range_tags

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def run_refresh(start: date, end: date) -> RefreshReport:
    """Pull [start, end) (each asset adds the lookback) from every enabled source, load it, build, check, publish."""
    import dagster as dg

    from dagster_project.lib.clients import check_clients
    from dagster_project.lib.dbt_manifest import ensure_manifest
    from dagster_project.lib.settings import load_settings

    check_window(start, end)
    check_clients(load_settings())  # every configuration error surfaces here, before any request or write
    ensure_manifest()
    from dagster_project.definitions import defs

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    began = time.monotonic()
    result = dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        instance=instance,
        tags=range_tags(start, end),
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
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
    failures = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        cause = error.cause if error and error.cause else error
        message = (cause.message if cause else "unknown error").strip().splitlines()[0]
        failures.append(f"{event.step_key}: {message}")
    return RefreshReport(start, end, result.success, list(streams.values()), failures, time.monotonic() - began, published)


def format_report(report: RefreshReport) -> str:
    lines = [f"window [{report.start}, {report.end}) plus lookback, {report.seconds:.1f} s"]
    header = f"{'source.stream':32} {'records':>9} {'pages':>6} {'requests':>8} {'retries':>7} {'written':>8} {'stored':>8}"
    lines += [header, "-" * len(header)]
    for s in sorted(report.streams, key=lambda s: s.asset):
        name = s.asset.replace("raw_", "", 1).replace("/", ".")
        lines.append(f"{name:32} {s.records:9d} {s.pages:6d} {s.requests:8d} {s.retries:7d} {s.written:8d} {s.stored:8d}")
    for failure in report.failures:
        lines.append(f"FAILED {failure}")
    if report.published:
        lines.append(f"published {report.published['path']} (snapshot {report.published['snapshot_id']})")
    elif not report.success:
        lines.append("not published: the serving snapshot is unchanged")
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
    return Path(os.environ.get("ENGAGEMENT_SERVING") or "warehouse/serving.duckdb")


@contextmanager
def running_sandbox(seed: int = 7, scale: float = 1.0, port: int = 0, days: int = 28) -> Iterator[object]:
    from connectors.sandbox.server import SandboxServer
    from connectors.sandbox.world import World, WorldConfig

    server = SandboxServer(World(WorldConfig.at_scale(scale, seed=seed, days=days)), port=port).start()
    try:
        yield server
    finally:
        server.stop()


def cmd_refresh(args: argparse.Namespace) -> int:
    report = run_refresh(parse_day(args.start, "--start"), parse_day(args.end, "--end"))
    print(format_report(report))
    if not report.success:
        print(f"refresh failed: {report.failures[0] if report.failures else 'see the log above'}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    with running_sandbox(seed=args.seed, scale=args.scale) as sandbox:
        os.environ.update(sandbox.env())  # every declared source, the sandbox serving them all
        world = sandbox.world
        print(f"sandbox at {sandbox.url}: seed {args.seed}, {len(world.people)} people, "
              f"{world.start} to {world.end} (exclusive)")
        report = run_refresh(world.start, world.end)
    print(format_report(report))
    if not report.success:
        print(f"demo failed: {report.failures[0] if report.failures else 'see the log above'}", file=sys.stderr)
        return 1
    serving = Path(str(report.published["path"])) if report.published else default_serving()
    print()
    print(campaign_table(serving))
    print()
    print(f"serving snapshot (read-only, for BI tools): {serving.resolve()}")
    print(f"working warehouse (raw, staging, intermediate, marts): {Path(os.environ.get('ENGAGEMENT_WAREHOUSE', 'warehouse/engagement.duckdb')).resolve()}")
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
    with running_sandbox(seed=args.seed, scale=args.scale, port=args.port, days=args.days) as sandbox:
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
    """The Dagster UI with a sandbox running beside it."""
    from connectors.sandbox.server import sandbox_env

    env = dict(os.environ)
    home = Path(env.setdefault("DAGSTER_HOME", str(REPO_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text((REPO_ROOT / "dagster_project" / "dagster.yaml").read_text())
    env.update(sandbox_env(f"http://127.0.0.1:{args.sandbox_port}"))
    # dagster-dbt's dev-mode parse looks for `dbt` on PATH: the venv's, even when it is not activated
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    sandbox = subprocess.Popen([sys.executable, "-m", "dagster_project.cli", "sandbox", "--port", str(args.sandbox_port)])
    try:
        return subprocess.call([str(Path(sys.executable).parent / "dagster"), "dev", "-m", "dagster_project.definitions"], env=env, cwd=REPO_ROOT)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engagement", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="start the sandbox, pull its whole world, build, publish, print engaged users")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000 people")
    demo.set_defaults(func=cmd_demo)
    refresh = sub.add_parser("refresh", help="pull [--start, --end) from the configured APIs, load, build, check, publish")
    refresh.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    refresh.add_argument("--end", required=True, help="day after the last one, YYYY-MM-DD (excluded)")
    refresh.set_defaults(func=cmd_refresh)
    experiments = sub.add_parser("experiments", help="print the experiment results of the serving snapshot (or of --warehouse)")
    experiments.add_argument("--warehouse", metavar="PATH",
                             help="read this DuckDB file (a warehouse or a snapshot) instead of ENGAGEMENT_SERVING")
    experiments.set_defaults(func=cmd_experiments)
    sandbox = sub.add_parser("sandbox", help="serve the five fake APIs on 127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--seed", type=int, default=7)
    sandbox.add_argument("--scale", type=float, default=1.0)
    sandbox.add_argument("--days", type=int, default=28, help="days of history in the world")
    sandbox.set_defaults(func=cmd_sandbox)
    dev = sub.add_parser("dev", help="the Dagster UI, with the sandbox running")
    dev.add_argument("--sandbox-port", type=int, default=8765)
    dev.set_defaults(func=cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
