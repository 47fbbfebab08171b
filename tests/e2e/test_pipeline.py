"""The whole pipeline on the sandbox world: fetch, load, dbt build and checks, publish.

One refresh of the world's window feeds the module; the marts must equal the world's ground
truth exactly, the snapshot must hold no PII, and the later tests re-run the same window (with a
reader holding the snapshot open) and then break a blocking check.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from connectors.sandbox import api_mailchimp, truth
from connectors.sandbox.server import SandboxServer
from dagster_project.cli import campaign_table, main, run_refresh
from dagster_project.lib import build_state
from dagster_project.lib.publish import open_snapshot, sqlalchemy_uri
from tests.conftest import copy_refresh, point_pipeline_at

pytestmark = pytest.mark.slow

MARTS = {
    "fct_web_engagement_daily": "date, campaign_key",
    "fct_social_engagement_daily": "date, platform, post_id",
    "fct_email_campaign_engagement": "campaign_id",
    "fct_email_subscriber_cadence": "person_id, list_id, period, period_start",
    "fct_campaign_engaged_users": "campaign_key, channel",
    "dim_campaign": "campaign_key",
    "dim_person": "person_id",
    "fct_identity_match_rates": "source",
    "dim_experiment": "experiment_id",
    "fct_experiment_arms": "experiment_id, arm",
    "fct_experiment_results": "experiment_id, arm, metric",
    "fct_person_value_monthly": "person_id, month",
    "fct_engagement_reconciliation": "channel, platform, item_id, measure",
    "metricflow_time_spine": "date_day",
}


@pytest.fixture(scope="module")
def pipeline(world, refreshed_world, tmp_path_factory):
    """A sandbox of the world, its environment, and a copy of one successful refresh of its whole window
    (the session's shared one: some tests here refresh again)."""
    root = copy_refresh(refreshed_world, tmp_path_factory.mktemp("pipeline"))
    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, root)
        yield {"sandbox": sandbox, "warehouse": root / "engagement.duckdb", "serving": root / "serving.duckdb"}


def rows(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def mart_checksums(path: Path) -> dict[str, str]:
    return {
        mart: hashlib.sha256(repr(rows(path, f"select * from marts.{mart} order by {grain}")).encode()).hexdigest()
        for mart, grain in MARTS.items()
    }


def test_campaign_engaged_users_equal_the_world_truth_in_warehouse_and_snapshot(pipeline, world):
    expected = truth.campaign_engaged_users(world, pipeline["sandbox"].now)
    assert len(expected) == 24  # 6 campaigns x (web, email, social, any)
    for db in (pipeline["warehouse"], pipeline["serving"]):
        got = {(key, channel): {"engaged_users": engaged, "identified_users": identified}
               for key, channel, engaged, identified in rows(db, """
                   select campaign_key, channel, engaged_users, identified_users from marts.fct_campaign_engaged_users""")}
        assert got == expected


def test_web_email_and_social_daily_marts_equal_the_world(pipeline, world):
    now, db = pipeline["sandbox"].now, pipeline["serving"]
    web = {(day, key): dict(zip(["sessions", "engaged_sessions", "page_views", "engagement_seconds", "users",
                                 "returning_users"], figures, strict=True))
           for day, key, *figures in rows(db, """select date, campaign_key, sessions, engaged_sessions, page_views,
               engagement_seconds, users, returning_users from marts.fct_web_engagement_daily""")}
    assert web == truth.web_engagement_daily(world, now)

    email_columns = ["campaign_key", "recipients", "delivered", "bounces", "unique_opens", "unique_clicks", "human_unique_opens",
                     "unsubscribes"]
    email = {campaign_id: dict(zip(email_columns, figures, strict=True))
             for campaign_id, *figures in rows(db, f"select campaign_id, {', '.join(email_columns)} "
                                                   "from marts.fct_email_campaign_engagement")}
    assert email == truth.email_campaign_engagement(world, now)

    social_columns = ["post_kind", "campaign_key", "likes", "comments", "shares", "mentions", "impressions",
                      "total_interactions"]
    social = {(day, platform, post): dict(zip(social_columns, figures, strict=True))
              for day, platform, post, *figures in rows(db, f"select date, platform, post_id, {', '.join(social_columns)} "
                                                            "from marts.fct_social_engagement_daily")}
    assert social == truth.social_engagement_daily(world, now)


def test_reconciliation_holds_each_linkedin_post_to_its_latest_counters(pipeline, world):
    """Likes (all reaction types), reposts and comments of every LinkedIn post: the marts' daily sums
    beside LinkedIn's latest counters, equal when everything was read."""
    now, db = pipeline["sandbox"].now, pipeline["serving"]
    posts = [p for p in world.li_posts if p.created_at <= now]
    expected = [(measure, len(posts), sum(len(p.events_of(kind, now)) for p in posts), 0)
                for measure, kind in (("comments", "comment"), ("likes", "reaction"), ("shares", "share"))]
    assert rows(db, """select measure, count(*), sum(platform_value), sum(abs(difference))
                       from marts.fct_engagement_reconciliation where platform = 'linkedin'
                       group by measure order by measure""") == expected
    assert expected[1][2] > 0 and len(posts) > 0


def test_ratios_sit_beside_their_parts_unrounded_and_missing_metrics_are_null(pipeline):
    db = pipeline["serving"]
    assert rows(db, """select count(*) from marts.fct_web_engagement_daily
                       where engagement_rate is distinct from cast(engaged_sessions as double) / nullif(sessions, 0)""") == [(0,)]
    assert rows(db, """select count(*) from marts.fct_email_campaign_engagement
                       where open_rate is distinct from cast(unique_opens as double) / nullif(delivered, 0)
                          or human_open_rate is distinct from cast(human_unique_opens as double) / nullif(delivered, 0)
                          or human_click_to_open_rate is distinct from cast(unique_clicks as double) / nullif(human_unique_opens, 0)
                       """) == [(0,)]
    # Facebook's mentions are the posts tagging the Page: counted (0 on own posts), no longer NULL
    facebook_rows, facebook_mentions, tags = rows(db, """select count(*), count(mentions), sum(mentions) filter (where post_kind = 'mention')
                                                       from marts.fct_social_engagement_daily where platform = 'facebook'""")[0]
    assert (facebook_rows > 0, facebook_mentions == facebook_rows, tags) == (True, True, 21)
    # GA4 placeholders are no campaign: in the web mart as '(none)', never in the campaign dimension
    assert rows(db, "select count(*) > 0 from marts.fct_web_engagement_daily where campaign_key = '(none)'") == [(True,)]
    assert rows(db, "select count(*) from marts.dim_campaign where campaign_key like '(%'") == [(0,)]


def test_the_snapshot_holds_only_marts_and_no_email_handle_or_user_id(pipeline, world):
    db = pipeline["serving"]
    assert {s for (s,) in rows(db, "select distinct table_schema from information_schema.tables")} == {"marts"}
    assert {t for (t,) in rows(db, "select table_name from information_schema.tables")} == {*MARTS, "snapshot_info"}
    emails = {p.email for p in world.people} | {c.email.strip().lower() for c in world.contacts if c.email}
    handles = {name.lower() for _, name in world.x_accounts}
    site_ids = {p.site_user_id for p in world.people if p.site_user_id}
    pii = emails | handles | site_ids
    text_columns = rows(db, """select table_name, column_name from information_schema.columns
                               where data_type = 'VARCHAR'""")
    assert len(text_columns) >= 15
    for table, column in text_columns:
        values = {v for (v,) in rows(db, f'select distinct "{column}" from marts."{table}" where "{column}" is not null')}
        leaked = {v for v in values if v.lower() in pii or re.search(r"[^@\s]+@[^@\s]+\.[^@\s]+", v)}
        assert not leaked, f"{table}.{column} holds PII"
    # person ids are salted: not the warehouse's id, not an unsalted hash of an email
    snapshot_ids = {p for (p,) in rows(db, "select person_id from marts.dim_person")}
    warehouse_ids = {p for (p,) in rows(pipeline["warehouse"], "select person_id from marts.dim_person")}
    assert len(snapshot_ids) == len(warehouse_ids) > 300
    assert not snapshot_ids & warehouse_ids
    assert not snapshot_ids & {hashlib.sha256(e.encode()).hexdigest() for e in emails}
    assert b"sandbox-demo-salt" not in db.read_bytes()


def test_a_bi_tool_reads_the_snapshot_read_only_through_duckdb_engine(pipeline):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(sqlalchemy_uri(pipeline["serving"]))
    try:
        with engine.connect() as con:
            count = con.execute(sqlalchemy.text("select count(*) from marts.fct_campaign_engaged_users")).scalar()
            assert count == 24
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="read-only"):
                con.execute(sqlalchemy.text("create table marts.scratch (a int)"))
    finally:
        engine.dispose()
    # and the snapshot is in a storage format DuckDB 1.4 LTS readers (most BI drivers) open
    assert rows(pipeline["serving"], "select tags from duckdb_databases() where database_name = 'serving'") == [
        ({"storage_version": "v1.4.0+"},)
    ]


def test_demo_table_reads_the_snapshot(pipeline):
    expected = truth.campaign_engaged_users(pipeline["sandbox"].world, pipeline["sandbox"].now)
    lines = campaign_table(pipeline["serving"]).splitlines()[3:]
    keys = sorted({key for key, _ in expected})
    assert [line.split()[0] for line in lines] == keys
    social = truth.social_engagement_daily(pipeline["sandbox"].world, pipeline["sandbox"].now)
    for line, key in zip(lines, keys, strict=True):
        counts = [expected.get((key, channel), {"engaged_users": 0})["engaged_users"]
                  for channel in ("web", "email", "social", "any")]
        interactions = [sum(r["total_interactions"] for (_, p, _), r in social.items() if p == platform and r["campaign_key"] == key)
                        for platform in ("x", "facebook", "linkedin")]
        assert line.split()[1:] == [*map(str, counts), str(expected[(key, "any")]["identified_users"]), *map(str, interactions)]


READER = textwrap.dedent(
    """
    import os, sys, time, duckdb
    path, stop, mode = sys.argv[1:4]
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None  # a dashboard keeping its connection
    answers, errors, seen = 0, 0, []
    while not os.path.exists(stop):
        try:
            # DuckDB shares one instance per file within a process: only a process holding nothing else
            # sees a new snapshot when it reconnects
            con = held or duckdb.connect(path, read_only=True)
            con.execute("select count(*), sum(engaged_users) from marts.fct_campaign_engaged_users").fetchone()
            snapshot = con.execute("select snapshot_id from marts.snapshot_info").fetchone()[0]
            if not seen or seen[-1] != snapshot:
                seen.append(snapshot)
            if held is None:
                con.close()
            answers += 1
        except Exception as exc:  # noqa: BLE001
            errors += 1
            print("ERROR", type(exc).__name__, exc, file=sys.stderr)
        time.sleep(0.02)
    print(answers, errors, ",".join(seen))
    """
)


def test_rerunning_the_window_changes_nothing_while_readers_query_the_snapshot(pipeline, world, tmp_path):
    serving, warehouse = pipeline["serving"], pipeline["warehouse"]
    before_warehouse, before_serving = mart_checksums(warehouse), mart_checksums(serving)
    (old_id,) = rows(serving, "select snapshot_id from marts.snapshot_info")[0]
    stop = tmp_path / "stop"
    readers = {mode: subprocess.Popen([sys.executable, "-c", READER, str(serving), str(stop), mode],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for mode in ("hold", "reopen")}
    try:
        time.sleep(1.5)  # both readers are connected and answering before the refresh starts
        # as after a build that died before its publish: the re-run rebuilds and republishes the same marts
        # (a re-run after a clean publish builds nothing: tests/dagster_project/test_refresh.py)
        build_state.building(str(warehouse), None, "a-run-that-died")
        again = run_refresh(world.start, world.end)
        time.sleep(0.5)
    finally:
        stop.touch()
        results = {mode: reader.communicate(timeout=30) for mode, reader in readers.items()}
    assert again.success, again.failures
    assert sum(s.written for s in again.streams) == 0
    (new_id,) = rows(serving, "select snapshot_id from marts.snapshot_info")[0]
    assert new_id != old_id
    seen = {}
    for mode, (out, err) in results.items():
        answers, errors, ids = out.split()
        assert (int(errors), err) == (0, ""), mode
        assert int(answers) > 10, mode
        seen[mode] = ids.split(",")
    assert seen["hold"] == [old_id]  # a held connection keeps reading the old snapshot, without error
    assert seen["reopen"] == [old_id, new_id]  # a reconnecting reader moves to the new one, never anything else
    assert mart_checksums(warehouse) == before_warehouse
    assert mart_checksums(serving) == before_serving


def test_a_failing_blocking_check_leaves_the_previous_snapshot_in_place(pipeline, world, monkeypatch, capsys):
    """Mailchimp's report disagrees with its own activity feed (one more human opener than the activity
    shows): the reconciliation test fails, so the
    dbt step fails, publish is skipped and BI readers keep the last good snapshot, byte for byte."""
    serving = pipeline["serving"]
    before = hashlib.sha256(serving.read_bytes()).hexdigest()
    real_figures = api_mailchimp._figures

    def inflated(*args):
        figures = real_figures(*args)
        return {**figures, "proxy_excluded_unique_opens": figures["proxy_excluded_unique_opens"] + 1}

    monkeypatch.setattr(api_mailchimp, "_figures", inflated)
    report = run_refresh(world.start, world.end)
    assert not report.success
    assert report.published is None
    assert any("engagement_dbt_models" in failure for failure in report.failures), report.failures
    assert hashlib.sha256(serving.read_bytes()).hexdigest() == before

    # the CLI says so in one line, exit 1
    assert main(["refresh", "--start", str(world.start), "--end", str(world.end)]) == 1
    captured = capsys.readouterr()
    assert "not published: the serving snapshot is unchanged" in captured.out
    assert hashlib.sha256(serving.read_bytes()).hexdigest() == before
    with open_snapshot(serving) as con:
        assert con.execute("select count(*) from marts.fct_campaign_engaged_users").fetchone() == (24,)


def test_dbt_unit_tests_pass_here_since_refreshes_leave_them_out(pipeline, tmp_path):
    """A refresh builds with `--exclude-resource-type unit_test` (they prove SQL, not data): CI runs them all."""
    import json
    import os

    from dagster_project.defs.transform import DBT_PROJECT_DIR, dbt_resource
    from dagster_project.lib.dbt_manifest import MANIFEST
    from dagster_project.lib.engine import dbt_build_args
    from dagster_project.lib.settings import load_settings

    assert dbt_build_args(load_settings()) == ["--exclude-resource-type", "unit_test"]
    env = {**os.environ, "ENGAGEMENT_WAREHOUSE": str(pipeline["warehouse"]), "ENGAGEMENT_HORIZON_DAYS": "30"}
    proc = subprocess.run([dbt_resource().dbt_executable, "test", "--select", "test_type:unit", "--target-path", str(tmp_path),
                           "--target", "dev", "--quiet"], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    results = [r for r in json.loads((tmp_path / "run_results.json").read_text())["results"]
               if r["unique_id"].startswith("unit_test.")]  # not the on-run-start and on-run-end hooks
    declared = json.loads(MANIFEST.read_text())["unit_tests"]
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert sorted(r["unique_id"] for r in results) == sorted(declared) and len(declared) == 29
    assert {r["status"] for r in results} == {"pass"}
