"""Late engagement: a reaction 20 days after its post and an open 15 days after its send.

Both are older than the lookback (7 days) when they happen, so only the engagement horizon brings
them in: a daily run re-reads the interactions of every post and send younger than
ENGAGEMENT_HORIZON_DAYS. With the default horizon (30) the next daily run puts them in the marts.
With a horizon shorter than their age (10) they are not read, yet not silently lost either: the
counters (read up to ENGAGEMENT_COUNTER_HORIZON_DAYS) move, and `fct_engagement_reconciliation`
and the publish metadata report the reactor and the open the pipeline did not read, without
failing the run.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import duckdb
import pytest

from connectors.sandbox import truth
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.world import EmailActivity, SocialEvent, World, WorldConfig
from dagster_project.cli import run_refresh
from tests.conftest import point_pipeline_at

pytestmark = pytest.mark.slow

REACTION_AFTER, OPEN_AFTER = timedelta(days=20), timedelta(days=15)


def at_three(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 3, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def late_world() -> dict:
    world = World(WorldConfig(seed=5, people=60, days=10))
    post = next(p for p in world.fb_posts if p.campaign_key)
    stranger = "8999000000000001"  # a newcomer, so the campaign gains exactly one engaged person
    world.fb_accounts.append((stranger, "Late Newcomer"))
    world.fb_names[stranger] = "Late Newcomer"
    post.events.append(SocialEvent(stranger, post.created_at + REACTION_AFTER, "reaction", reaction="LOVE"))
    send = next(s for s in world.sends if s.campaign_key)
    active = {a.email for a in send.activity}
    reader = next(e for e in send.recipients if e not in active)
    send.activity.append(EmailActivity(reader, "open", send.send_time + OPEN_AFTER))
    return {"world": world, "post": post, "send": send}


def schedule(world: World, post, send) -> list[tuple[date, date, datetime]]:
    """A backfill of the world's days, then the daily runs of the days the late engagement happens."""
    late_days = sorted({(post.created_at + REACTION_AFTER).date(), (send.send_time + OPEN_AFTER).date()})
    runs = [(world.start, world.end, at_three(world.end))]
    return runs + [(day, day + timedelta(days=1), at_three(day + timedelta(days=1))) for day in late_days]


def run_schedule(late_world: dict, root, env: dict[str, str]) -> dict:
    world, post, send = late_world["world"], late_world["post"], late_world["send"]
    reports = []
    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, root)
        for key, value in env.items():
            mp.setenv(key, value)
        for start, end, clock in schedule(world, post, send):
            sandbox.now = clock
            reports.append(run_refresh(start, end))
            assert reports[-1].success, reports[-1].failures
    with duckdb.connect(str(root / "engagement.duckdb"), read_only=True) as con:
        likes = con.execute("select sum(likes) from marts.fct_social_engagement_daily where post_id = ?", [post.id]).fetchone()[0]
        opens = con.execute("select human_unique_opens from marts.fct_email_campaign_engagement where campaign_id = ?",
                            [send.id]).fetchone()[0]
        engaged = {(k, c): {"engaged_users": e, "identified_users": i} for k, c, e, i in con.execute(
            "select campaign_key, channel, engaged_users, identified_users from marts.fct_campaign_engaged_users").fetchall()}
        differences = con.execute("""
            select platform, item_id, measure, platform_value, pipeline_value, difference
            from marts.fct_engagement_reconciliation where difference <> 0 order by all""").fetchall()
    return {"likes": likes, "opens": opens, "engaged": engaged, "differences": differences, "clock": clock,
            "published": reports[-1].published}


@pytest.fixture(scope="module")
def default_horizon(late_world, tmp_path_factory, dbt_manifest) -> dict:
    return run_schedule(late_world, tmp_path_factory.mktemp("horizon_30"), {})


@pytest.fixture(scope="module")
def short_horizon(late_world, tmp_path_factory, dbt_manifest) -> dict:
    env = {"ENGAGEMENT_HORIZON_DAYS": "10", "ENGAGEMENT_COUNTER_HORIZON_DAYS": "30"}
    return run_schedule(late_world, tmp_path_factory.mktemp("horizon_10"), env)


def test_late_reaction_and_late_open_are_in_the_marts_after_the_next_daily_run(late_world, default_horizon):
    world, post, send, now = late_world["world"], late_world["post"], late_world["send"], default_horizon["clock"]
    assert default_horizon["likes"] == len(post.events_of("reaction", now))
    assert default_horizon["opens"] == truth.email_campaign_engagement(world, now)[send.id]["human_unique_opens"]
    runs = [truth.Reads(clock, activity_since=start - timedelta(days=7),
                        content_since=min(start - timedelta(days=7), end - timedelta(days=30)), until=end)
            for start, end, clock in schedule(world, post, send)]
    expected = truth.campaign_engaged_users(world, now, runs=runs)
    assert default_horizon["engaged"] == expected
    before = truth.campaign_engaged_users(world, runs[0].now)
    assert expected[(post.campaign_key, "social")]["engaged_users"] == before[(post.campaign_key, "social")]["engaged_users"] + 1
    assert expected[(send.campaign_key, "email")]["engaged_users"] >= before[(send.campaign_key, "email")]["engaged_users"]
    assert default_horizon["differences"] == []
    assert default_horizon["published"]["reconciliation_mismatched_items"] == 0


def test_engagement_beyond_the_horizon_is_reported_not_silently_dropped(late_world, short_horizon):
    post, send, now = late_world["post"], late_world["send"], short_horizon["clock"]
    # the counter still moves: the post's daily likes add up to what Facebook shows
    assert short_horizon["likes"] == len(post.events_of("reaction", now))
    # who reacted and who opened were not read: the reconciliation names them, the run still published
    differences = {(platform, item, measure): diff for platform, item, measure, _, _, diff in short_horizon["differences"]}
    assert differences[("facebook", post.id, "reactors")] >= 1
    # (a person's own open: all opens may not move, when an Apple proxy opened the email already)
    assert differences[("mailchimp", send.id, "human_unique_opens")] >= 1
    # only what stops at the horizon differs (identities and activity), never the counters, and always short
    assert {measure for _, _, measure in differences} <= {"reactors", "comments", "human_unique_opens", "unique_clicks"}
    assert all(diff > 0 for diff in differences.values())
    published = short_horizon["published"]
    assert published["reconciliation_mismatched_items"] == len(differences)
    assert published["reconciliation_unread_interactions"] == sum(differences.values())
    assert published["reconciliation_mismatched_social_reactors"] >= 1 and published["reconciliation_mismatched_email_human_unique_opens"] >= 1
