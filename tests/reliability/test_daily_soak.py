"""A soak of the daily schedule: day by day, with faults and a crash, it converges on the platforms.

The sandbox clock moves to 03:00 of each next day and the schedule's run for that day follows
(`run_refresh(day, day + 1)`, what the 03:00 schedule does), with one transient fault armed before
each run and one run killed with SIGKILL inside its raw merge and run again. At the end:
- the web and email marts equal one clean backfill of the same days, row for row;
- every post's likes, shares and comments summed over the social mart equal the platform's
  latest counters, and `fct_engagement_reconciliation` shows no difference at all;
- engaged users per campaign equal what a daily schedule can observe (the sandbox truth's
  schedule variant) and are never below the backfill's: X lists only a post's latest 100
  likers, so the daily runs keep likers a backfill can no longer see;
- X's per-endpoint rate windows were never exceeded and no call was refused.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from connectors.registry import SOURCES
from connectors.sandbox import truth
from connectors.sandbox.api_x import RATE_LIMITS, public_metrics
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.world import SocialEvent, World
from dagster_project.cli import run_refresh
from dagster_project.lib.crash_points import PAUSE_VARIABLE
from tests.conftest import point_pipeline_at
from tests.reliability.conftest import RELIABILITY_WORLD, table_digests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the soak is one long module fixture

REPO = Path(__file__).resolve().parents[2]
EXTRA_DAYS = 3  # the schedule keeps running after the world's last day: late engagement still arrives
KILLED_RUN = 5  # this run is killed with SIGKILL inside its raw merge, then run again
FAULTS = [  # one transient fault before each run, round the sources and kinds
    FaultRule("facebook.reactions", "throttle", code=613),
    FaultRule("x.liking_users", "429", reset_in=1),
    FaultRule("mailchimp.email_activity", "5xx", status=502, times=2),
    FaultRule("ga4.runReport", "drop"),
    FaultRule("hubspot.search", "429", retry_after="1"),  # after the first run, contacts come by last-modified search
    FaultRule("x.tweets", "truncate"),
    FaultRule("mailchimp.reports", "bad_json"),
    FaultRule("facebook.published_posts", "5xx", times=2),
]
WEB_AND_EMAIL_MARTS = ("marts.fct_web_engagement_daily", "marts.fct_email_campaign_engagement",
                       "marts.fct_email_subscriber_cadence")


def at_three(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 3, tzinfo=timezone.utc)


def run_killed_in_the_raw_merge(sandbox: SandboxServer, root: Path, day: date) -> None:
    env = {**os.environ, **sandbox.env(), "ENGAGEMENT_WAREHOUSE": str(root / "engagement.duckdb"),
           "ENGAGEMENT_SERVING": str(root / "serving.duckdb"), "ENGAGEMENT_SOURCES": ",".join(s.name for s in SOURCES),
           "ENGAGEMENT_LOOKBACK_DAYS": "7", PAUSE_VARIABLE: "raw_merge"}
    env.pop("DAGSTER_HOME", None)
    args = [sys.executable, "-m", "dagster_project.cli", "refresh", "--start", str(day), "--end", str(day + timedelta(days=1))]
    proc = subprocess.Popen(args, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = Path(f"{root / 'engagement.duckdb'}.paused-raw_merge")
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the run never reached its raw merge"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        marker.unlink(missing_ok=True)


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def world_with_a_viral_post() -> World:
    """The reliability world (10 of its days), plus 80 fans who like its viral X post over its first ten days: more
    than X's 100 listed likers, so the latest 100 move from one daily run to the next."""
    world = World(dataclasses.replace(RELIABILITY_WORLD, days=10))
    post = world.x_posts[1]
    rng = random.Random(99)
    for i in range(80):
        fan = (str(1750000000000000000 + i), f"fan_{i}")
        world.x_accounts.append(fan)
        world.x_usernames[fan[0]] = fan[1]
        post.events.append(SocialEvent(fan[0], post.created_at + timedelta(hours=rng.uniform(1, 240)), "like"))
    return world


@pytest.fixture(scope="module")
def soak(tmp_path_factory, dbt_manifest) -> dict:
    world = world_with_a_viral_post()
    days = [world.start + timedelta(days=i) for i in range((world.end - world.start).days + EXTRA_DAYS)]
    final_clock = at_three(days[-1] + timedelta(days=1))
    daily_root, backfill_root = tmp_path_factory.mktemp("soak_daily"), tmp_path_factory.mktemp("soak_backfill")
    failures, reports, faults_left = [], [], []
    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, daily_root)
        for i, day in enumerate(days):
            sandbox.now = at_three(day + timedelta(days=1))
            sandbox.faults.clear()
            fault = FaultRule(**vars(FAULTS[i % len(FAULTS)]))
            sandbox.faults.add(fault)
            if i == KILLED_RUN:
                run_killed_in_the_raw_merge(sandbox, daily_root, day)
            report = run_refresh(day, day + timedelta(days=1))
            reports.append(report)
            faults_left.append(fault.times)
            failures += [f"{day}: {f}" for f in report.failures]
        rate_windows = sandbox.rate_windows
        requests = dict(sandbox.requests)

    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, backfill_root)
        sandbox.now = final_clock
        backfill = run_refresh(days[0], days[-1] + timedelta(days=1))
    assert backfill.success, backfill.failures
    return {"world": world, "days": days, "clock": final_clock, "daily": daily_root / "engagement.duckdb",
            "backfill": backfill_root / "engagement.duckdb", "failures": failures, "reports": reports,
            "rate_windows": rate_windows, "requests": requests, "published": reports[-1].published,
            "faults_left": faults_left}


def test_every_daily_run_succeeded_through_its_fault_and_the_crash(soak):
    print(f"soak: {len(soak['reports'])} daily runs, {len(soak['reports'])} faults armed, 1 SIGKILL and re-run; "
          f"{sum(r.seconds for r in soak['reports']):.0f} s of runs")
    assert soak["failures"] == []
    assert all(r.success and r.published for r in soak["reports"])
    assert soak["faults_left"] == [0] * len(soak["reports"])  # every armed fault bit


def test_web_and_email_marts_equal_a_clean_backfill_row_for_row(soak):
    daily, backfill = table_digests(soak["daily"], ("marts",)), table_digests(soak["backfill"], ("marts",))
    for mart in WEB_AND_EMAIL_MARTS:
        assert daily[mart] == backfill[mart], mart
        assert daily[mart][0] > 0


def test_social_totals_per_post_equal_the_platforms_latest_counters(soak):
    world, now = soak["world"], soak["clock"]
    expected = {}
    for post in world.x_posts:
        if post.created_at < now:
            counters = public_metrics(post, now)
            expected[("x", post.id)] = (counters["like_count"], counters["retweet_count"] + counters["quote_count"],
                                        counters["reply_count"])
    for post in world.fb_posts:
        if post.created_at < now:
            expected[("facebook", post.id)] = tuple(len(post.events_of(k, now)) for k in ("reaction", "share", "comment"))
    for post in world.li_posts:  # LinkedIn: reactions and reposts from daily counters, comments by their own time
        if post.created_at < now:
            expected[("linkedin", post.id)] = tuple(len(post.events_of(k, now)) for k in ("reaction", "share", "comment"))
    got = {(platform, post_id): (likes, shares, comments) for platform, post_id, likes, shares, comments in query(soak["daily"], """
        select platform, post_id, sum(likes), sum(shares), sum(comments)
        from marts.fct_social_engagement_daily where post_kind = 'post' group by all""")}
    assert got == expected
    late = [e for p in world.x_posts + world.fb_posts for e in p.events if e.ts <= now and (e.ts - p.created_at).days >= 8]
    assert len(late) > 20  # engagement older than the lookback really was in play


def test_reconciliation_finds_nothing_missing_and_says_so_in_the_publish_metadata(soak):
    rows = query(soak["daily"], "select channel, measure, count(*), count(*) filter (where difference <> 0) "
                                "from marts.fct_engagement_reconciliation group by all order by all")
    assert {(c, m) for c, m, _, _ in rows} == {("email", "human_unique_opens"), ("email", "unique_clicks"), ("email", "unique_opens"),
                                              ("social", "comments"), ("social", "likes"), ("social", "reactors"),
                                              ("social", "shares")}
    assert [mismatched for *_, mismatched in rows] == [0] * len(rows)
    assert soak["published"]["reconciliation_mismatched_items"] == 0


def test_engaged_users_equal_what_a_daily_schedule_observes_and_never_fewer_than_a_backfill(soak):
    world, days = soak["world"], soak["days"]
    schedule = [truth.daily_run_reads(day, at_three(day + timedelta(days=1))) for day in days]
    daily_truth = truth.campaign_engaged_users(world, soak["clock"], runs=schedule)
    backfill_truth = truth.campaign_engaged_users(world, soak["clock"])
    sql = "select campaign_key, channel, engaged_users, identified_users from marts.fct_campaign_engaged_users"
    daily = {(k, c): {"engaged_users": e, "identified_users": i} for k, c, e, i in query(soak["daily"], sql)}
    backfill = {(k, c): {"engaged_users": e, "identified_users": i} for k, c, e, i in query(soak["backfill"], sql)}
    assert daily == daily_truth
    assert backfill == backfill_truth
    assert all(daily[k]["engaged_users"] >= backfill.get(k, {"engaged_users": 0})["engaged_users"] for k in daily)
    more = {k: (daily[k]["engaged_users"], backfill[k]["engaged_users"]) for k in daily
            if daily[k]["engaged_users"] > backfill[k]["engaged_users"]}
    print(f"daily runs saw more engaged users than the backfill for {more}")
    assert (world.x_posts[1].campaign_key, "social") in more  # the viral post's likers beyond X's latest 100


def test_x_rate_windows_were_never_exceeded(soak):
    windows = soak["rate_windows"]
    assert windows.refused == {}
    for endpoint, counts in windows.calls.items():
        assert max(counts) <= RATE_LIMITS[endpoint], endpoint
    assert sum(windows.calls["x.liking_users"]) > len(soak["days"])  # every run read likers, within the limit
