"""The CLI and Dagster's own CLI on one sandbox world: quiet and verbose output, the shared instance,
a partition-range materialization in one run, and BI reflection of the snapshot.

Runs share the module's world: `engagement refresh` (quiet, recorded in a DAGSTER_HOME),
`dagster asset materialize --partition-range` (the README's command, same instance), and a
one-day refresh of HubSpot alone with a refused token, quiet and with -v (it fails before dbt).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from connectors.sandbox import truth
from connectors.sandbox.server import SandboxServer
from dagster_project.lib.clients import all_streams
from dagster_project.lib.dbt_manifest import MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAGSTER_LOG_LINE = re.compile(r" - dagster - (DEBUG|INFO|WARNING|ERROR) - ")
DBT_LINES = ("Running with dbt=", "Found 51 models", "Completed successfully", "OK created", "PASS ")


@pytest.fixture(scope="module")
def world_env(world, tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("cli_runs")
    # the instance's SQLite commits each fsync (minutes for a run's ~1,200 events on a busy disk); in memory-backed
    # /dev/shm they cost nothing, and durability is not what these tests check
    home = Path(tempfile.mkdtemp(prefix="cli_runs_dagster_home_", dir="/dev/shm" if Path("/dev/shm").is_dir() else root))
    shutil.copy(REPO / "dagster_project" / "dagster.yaml", home / "dagster.yaml")
    try:
        with SandboxServer(world) as sandbox:
            env = {**os.environ, **sandbox.env(), "ENGAGEMENT_WAREHOUSE": str(root / "engagement.duckdb"),
                   "ENGAGEMENT_SERVING": str(root / "serving.duckdb"),
                   "ENGAGEMENT_LOOKBACK_DAYS": "7", "DAGSTER_HOME": str(home), "COLUMNS": "200"}
            yield {"env": env, "root": root, "home": home, "sandbox": sandbox, "world": world}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=800)


@pytest.fixture(scope="module")
def quiet(world_env):
    """`engagement refresh` of the whole world, piped (no terminal: the display's plain lines), from another folder."""
    world = world_env["world"]
    result = run([str(BIN / "engagement"), "refresh", "--start", str(world.start), "--end", str(world.end)],
                 world_env["env"], cwd=world_env["root"])
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def ranged(world_env, quiet):
    """The README's `dagster asset materialize ... --partition-range` over the same days, on the same instance."""
    world = world_env["world"]
    last = world.end - timedelta(days=1)
    result = run([str(BIN / "dagster"), "asset", "materialize", "-m", "dagster_project.definitions", "--select", "*",
                  "--partition-range", f"{world.start}...{last}"], world_env["env"], cwd=world_env["root"])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


def failing(world_env, *flags: str) -> subprocess.CompletedProcess:
    """A one-day refresh of HubSpot alone with a token HubSpot refuses: quick, and it fails before dbt."""
    world = world_env["world"]
    env = {k: v for k, v in world_env["env"].items() if k != "DAGSTER_HOME"}
    env.update({"ENGAGEMENT_SOURCES": "hubspot", "HUBSPOT_ACCESS_TOKEN": "pat-na1-refused"})
    result = run([str(BIN / "engagement"), "refresh", *flags, "--start", str(world.end - timedelta(days=1)), "--end", str(world.end)],
                 env, cwd=world_env["root"])
    assert result.returncode == 1, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def verbose(world_env, ranged):
    return failing(world_env, "-v")


@pytest.fixture(scope="module")
def quiet_failure(world_env, ranged):
    return failing(world_env)


def manifest_counts() -> tuple[int, int]:
    import json

    manifest = json.loads(MANIFEST.read_text())
    kinds = [n["resource_type"] for n in manifest["nodes"].values()]
    return kinds.count("model") + kinds.count("seed"), kinds.count("test")


def test_quiet_refresh_prints_progress_and_the_report_but_no_dagster_or_dbt_log_line(quiet, world_env):
    out, err = quiet.stdout, quiet.stderr
    for line in (out + err).splitlines():
        assert not DAGSTER_LOG_LINE.search(line), line
        assert "Warning" not in line, line
        assert not any(marker in line for marker in DBT_LINES), line
    assert "\x1b[" not in out + err  # no colour codes when piped
    assert err == ""

    world, now = world_env["world"], world_env["sandbox"].now
    contacts = sum(c.created <= now for c in world.contacts)
    progress = {line.split()[0]: line for line in out.splitlines() if re.match(r"^\w+\.\w+ +[\d,]+ pages ", line)}
    assert len(progress) == len(all_streams())  # every declared stream of every source
    assert re.search(rf"^hubspot\.contacts +\d+ pages +{contacts:,} records +0 retries, waited 0\.0 s; {contacts:,} written, "
                     rf"{contacts:,} stored$", progress["hubspot.contacts"])
    x_posts = len(world.x_posts)
    assert re.search(rf" 1 pages +{x_posts} records ", progress["x.posts"])
    models, tests = manifest_counts()
    assert f"\ndbt models                         {models}/{models}: {models} success\n" in out
    assert re.search(rf"\ndbt tests +{tests}/{tests}: (\d+ pass, \d+ warn|\d+ pass)\n", out)
    assert "unit test" not in out  # CI runs them (tests/e2e/test_pipeline.py), a refresh does not
    # the report says where the warehouse and the snapshot are: absolute, whatever the current folder
    assert f"\nwarehouse: {world_env['root'] / 'engagement.duckdb'}\n" in out
    assert f"\nserving snapshot: {world_env['root'] / 'serving.duckdb'}" in out


def test_the_run_is_in_the_instance_with_engaged_users_per_channel_as_numbers(quiet, world_env):
    world, now = world_env["world"], world_env["sandbox"].now
    graph = truth.identity_graph(world, now)
    expected: dict[str, set] = defaultdict(set)
    for (_, channel), identifiers in truth.engaged_identifiers(world, now).items():
        persons = {graph.find(i) for i in identifiers}
        expected[channel] |= persons
        expected["any"] |= persons

    with dg.DagsterInstance.from_config(str(world_env["home"])) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        first = runs[-1]
        assert first.tags["dagster/asset_partition_range_start"] == str(world.start)
        event = instance.get_latest_materialization_event(dg.AssetKey("publish"))
        metadata = event.asset_materialization.metadata
        assert {c: metadata[f"engaged_users_{c}"] for c in ("web", "email", "social", "any")} == {
            c: dg.IntMetadataValue(len(expected[c])) for c in ("web", "email", "social", "any")
        }
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(["marts", "fct_experiment_results"]), "decision_in_allowed_set"), limit=5)
        assert [c.run_id for c in checks][-1] == first.run_id


def test_the_readme_partition_range_command_is_one_run_whose_range_is_the_window(ranged, world_env):
    world = world_env["world"]
    with dg.DagsterInstance.from_config(str(world_env["home"])) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2  # the quiet refresh, then this one
        newest = runs[0]
        assert newest.status == dg.DagsterRunStatus.SUCCESS
        assert (newest.tags["dagster/asset_partition_range_start"], newest.tags["dagster/asset_partition_range_end"]) == (
            str(world.start), str(world.end - timedelta(days=1)))
        steps = {e.step_key for e in instance.all_logs(newest.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
        skipped = {e.step_key for e in instance.all_logs(newest.run_id, of_type=dg.DagsterEventType.STEP_SKIPPED)}
        assert "engagement_dbt_models" in steps and len(steps) == len(all_streams()) + 1
        # the same days as the quiet refresh, nothing new: the dbt step finds the published snapshot's inputs and
        # builds nothing, so Dagster skips the statistics and publish
        assert "publish" in skipped and len(skipped) == 2
        user_days = instance.get_latest_materialization_event(dg.AssetKey(["raw_ga4", "user_daily"]))
        assert user_days.run_id == newest.run_id
        md = user_days.asset_materialization.metadata
        assert (md["window_start"].value, md["window_end"].value) == (str(world.start - timedelta(days=7)), str(world.end))
    with duckdb.connect(str(world_env["root"] / "serving.duckdb"), read_only=True) as con:
        assert con.execute("select window_start, window_end from marts.snapshot_info").fetchone() == (world.start, world.end)


def test_verbose_shows_dagster_logs(verbose):
    output = verbose.stdout + verbose.stderr
    assert len([line for line in output.splitlines() if DAGSTER_LOG_LINE.search(line)]) > 20
    assert re.search(r" - raw_hubspot__contacts - STEP_FAILURE - ", output)
    assert verbose.stderr.splitlines()[-1].startswith("refresh failed: raw_hubspot__contacts: ")


def test_a_quiet_failure_is_one_line_on_stderr_and_no_log(quiet_failure):
    out, err = quiet_failure.stdout, quiet_failure.stderr
    assert not [line for line in (out + err).splitlines() if DAGSTER_LOG_LINE.search(line) or "Warning" in line]
    assert len(err.splitlines()) == 1
    assert err.startswith("refresh failed: raw_hubspot__contacts: ")
    assert re.search(r"hubspot: crm/v3/objects/contacts\S* failed \(HTTP 401\): ", err)
    assert "warning: " not in out  # the steps Dagster skipped after the failure are no warnings of their own
    assert "pat-na1-refused" not in out + err
    assert re.search(r"^ga4\.user_daily +skipped: not in ENGAGEMENT_SOURCES$", out, re.M)
    assert "not published: the serving snapshot is unchanged" in out


def test_every_mart_reflects_through_the_documented_uri(ranged, world_env):
    """SQLAlchemy's inspector and pandas.read_sql_table (what Superset does when a table is added)."""
    import pandas as pd
    import sqlalchemy as sa

    from dagster_project.lib.publish import sqlalchemy_uri

    serving = world_env["root"] / "serving.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        tables = {t: (con.execute(f"select count(*) from marts.{t}").fetchone()[0],
                      [c for (c,) in con.execute("select column_name from information_schema.columns where table_schema = 'marts' "
                                                 "and table_name = ? order by ordinal_position", [t]).fetchall()])
                  for (t,) in con.execute("select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    assert len(tables) == 15  # 13 marts, MetricFlow's time spine and snapshot_info
    engine = sa.create_engine(sqlalchemy_uri(serving))
    try:
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names(schema="marts")) == set(tables)
        for table, (rows, columns) in tables.items():
            assert [c["name"] for c in inspector.get_columns(table, schema="marts")] == columns, table
            frame = pd.read_sql_table(table, engine, schema="marts")
            assert (len(frame), list(frame.columns)) == (rows, columns), table
    finally:
        engine.dispose()
