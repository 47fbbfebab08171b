"""`engagement refresh` end to end on the sandbox: raw tables equal the world, re-runs change nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.cli import format_report, main, run_refresh
from dagster_project.lib import build_state
from dagster_project.lib.clients import all_streams
from dagster_project.lib.dbt_manifest import DBT_PROJECT_DIR
from tests.conftest import point_pipeline_at

pytestmark = pytest.mark.slow


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch, dbt_manifest):
    point_pipeline_at(monkeypatch, sandbox, tmp_path)
    return tmp_path / "engagement.duckdb"


def table_fingerprints(db) -> dict[str, tuple[int, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        out = {}
        for spec in all_streams():
            count, digest = con.execute(
                f"select count(*), coalesce(sum(hash(t)), 0)::varchar from (select * from {spec.table}) t"
            ).fetchone()
            out[spec.table] = (count, digest)
        return out


def test_refresh_loads_every_stream_matching_the_world_and_a_rerun_changes_nothing(env, sandbox, world):
    first = run_refresh(world.start, world.end)
    assert first.success, first.failures
    assert len(first.streams) == 25  # one per declared stream

    now = sandbox.now
    window_start = world.start - timedelta(days=7)
    with duckdb.connect(str(env), read_only=True) as con:
        count = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        assert count("select count(*) from raw_hubspot.contacts") == sum(c.created <= now for c in world.contacts)
        sends = [s for s in world.sends if s.send_time.date() >= window_start and s.send_time.date() < world.end]
        assert count("select count(*) from raw_mailchimp.campaigns") == len(sends)
        assert count("select count(*) from raw_mailchimp.recipients") == sum(len(s.recipients) for s in sends)
        ga4_rows = {(s.date, s.campaign, s.returning) for s in world.sessions}
        assert count("select count(*) from raw_ga4.campaign_daily") == len(ga4_rows)
        assert count("select sum(sessions) from raw_ga4.campaign_daily") == len(world.sessions)
        assert count("select count(*) from raw_x.posts") == len(world.x_posts)
        assert count("select count(distinct snapshot_date) from raw_x.posts") == 1
        assert count("select count(*) from raw_facebook.posts") == len(world.fb_posts)
        assert count("select count(*) from raw_facebook.tags") == len(world.fb_tags) == 21
        assert count("select count(*) from raw_linkedin.posts") == len(world.li_posts)
        assert count("select count(*) from raw_linkedin.mentions") == len(world.li_mentions)

    before = table_fingerprints(env)
    serving = Path(first.serving)
    published = (first.published["snapshot_id"], serving.stat().st_mtime_ns)
    second = run_refresh(world.start, world.end)
    assert second.success, second.failures
    assert table_fingerprints(env) == before
    assert sum(s.written for s in second.streams) == 0
    # nothing new: no dbt build, no statistics, no publish; the snapshot readers have is already this one
    assert second.published is None and second.unchanged_since[0] == first.run_id
    assert "nothing new" in format_report(second) and "snapshot is current" in format_report(second)
    assert not list((DBT_PROJECT_DIR / "target").glob(f"engagement_dbt_models-{second.run_id[:7]}-*"))
    assert (first.published["snapshot_id"], serving.stat().st_mtime_ns) == published

    # a build that started and did not publish (a failure, a crash) leaves nothing to match: the next run builds
    build_state.building(str(env), None, "a-run-that-died")
    third = run_refresh(world.start, world.end)
    assert third.success and third.published and third.unchanged_since is None
    assert sum(s.written for s in third.streams) == 0
    # that dbt build starts from the first one's parse state: no full re-parse of the project
    (run_log,) = (DBT_PROJECT_DIR / "target").glob(f"engagement_dbt_models-{third.run_id[:7]}-*/dbt.log")
    log = run_log.read_text()
    assert "Command `dbt build` succeeded" in log and "Unable to do partial parsing" not in log


def test_missing_credentials_fail_before_any_request_naming_the_variable(env, sandbox, monkeypatch, capsys):
    monkeypatch.delenv("MAILCHIMP_API_KEY")
    assert main(["refresh", "--start", "2026-10-01", "--end", "2026-10-08"]) == 2
    assert "MAILCHIMP_API_KEY is not set" in capsys.readouterr().err
    assert sum(sandbox.requests.values()) == 0
    assert not env.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start", "2026-10-08", "--end", "2026-10-01"], "--start 2026-10-08 must be before --end 2026-10-01"),
        (["--start", "2026-10-1x", "--end", "2026-10-08"], "--start must be a date like"),
    ],
)
def test_bad_window_is_one_line_naming_the_flag(env, sandbox, capsys, args, message):
    assert main(["refresh", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert sum(sandbox.requests.values()) == 0


def test_a_disabled_source_is_never_called_and_its_tables_are_empty(env, sandbox, world, monkeypatch):
    monkeypatch.setenv("ENGAGEMENT_SOURCES", "hubspot")
    report = run_refresh(world.start, world.start + timedelta(days=1))
    assert report.success, report.failures
    assert {k.split(".")[0] for k, v in sandbox.requests.items() if v} == {"hubspot"}
    with duckdb.connect(str(env), read_only=True) as con:
        assert con.execute("select count(*) from raw_x.posts").fetchone()[0] == 0
        assert con.execute("select count(*) from raw_hubspot.contacts").fetchone()[0] > 0


def test_a_rejected_token_fails_the_run_with_the_apis_message_and_never_leaks(env, sandbox, world, monkeypatch, capsys, caplog):
    canary = "CANARY-X-TOKEN-9f3c1a"
    monkeypatch.setenv("X_BEARER_TOKEN", canary)
    monkeypatch.setenv("ENGAGEMENT_SOURCES", "x,hubspot")
    assert main(["refresh", "--start", "2026-10-01", "--end", "2026-10-03"]) == 1
    out = capsys.readouterr()
    assert "x: users/:id/tweets failed (HTTP 401)" in out.err or "HTTP 401" in out.out
    # no retry storm on a bad token: one request per X asset (four of them list the timeline first)
    assert (sandbox.requests["x.tweets"], sandbox.requests["x.mentions"]) == (4, 1)
    text = out.out + out.err + caplog.text
    assert canary not in text
    with duckdb.connect(str(env), read_only=True) as con:  # hubspot still loaded; nothing of the token stored
        assert con.execute("select count(*) from raw_hubspot.contacts").fetchone()[0] > 0
        assert con.execute("select count(*) from information_schema.tables where table_schema = 'raw_x'").fetchone()[0] == 0
    assert canary.encode() not in env.read_bytes()


def test_the_scheduled_job_for_one_day_loads_builds_and_publishes(env, sandbox, world):
    """What the daily schedule launches: one partition (plus the lookback), dbt build, publish."""
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("refresh")
    day = world.start + timedelta(days=10)
    result = job.execute_in_process(partition_key=day.isoformat(), raise_on_error=False)
    assert result.success
    published = result.asset_materializations_for_node("publish")
    assert len(published) == 1
    metadata = {k: v.value for k, v in published[0].metadata.items()}
    assert (metadata["window_start"], metadata["window_end"]) == (str(day), str(day + timedelta(days=1)))
    assert metadata["rows_fct_campaign_engaged_users"] > 0
    with duckdb.connect(str(env.parent / "serving.duckdb"), read_only=True) as con:
        assert con.execute("select window_start from marts.snapshot_info").fetchone() == (day,)
        # the window reached back by the lookback: sends of the previous week are in
        first_send = con.execute("select min(send_time) from marts.fct_email_campaign_engagement").fetchone()[0]
        assert first_send.date() >= day - timedelta(days=7)
