"""Hostile strings travel through verbatim: stored as sent, never executed, and the marts stay right.

The sandbox world is built with a campaign whose key holds quotes, a `'; drop table` payload, a
backslash, Jinja braces, a spreadsheet formula, emoji, right-to-left marks, a newline, a NUL and
10 kB of text, and with people whose names (so their emails, X handles and Facebook names, and
the post texts naming the campaign) carry the same kinds of characters.
"""

from __future__ import annotations

import urllib.parse

import duckdb
import pytest

from connectors.sandbox import truth
from connectors.sandbox import world as world_module
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.world import World, WorldConfig
from tests.conftest import point_pipeline_at

pytestmark = pytest.mark.slow

HOSTILE_KEY = ("q4 'promo'; drop table marts.dim_campaign; -- \"quoted\" \\ {{ 7*7 }} =hyperlink(\"http://x\") "
               "🎉 \u202eevil\u200f\nline2\x00end " + "x" * 10_000)
HOSTILE_NAMES = ["o'brien", 'd"quote', "back\\slash", "emoji🎉", "r\u202etl\u200f", "nul\x00byte", "semi;drop"]


def quoted_utm_link(path: str, source: str, medium: str, campaign: str) -> str:
    """A real site percent-encodes its utm values; the sandbox's default link does not need to."""
    return world_module.LANDING + "/" + urllib.parse.quote(path) + "?" + urllib.parse.urlencode(
        {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}, quote_via=urllib.parse.quote)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, dbt_manifest):
    from dagster_project.cli import run_refresh

    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(world_module, "CAMPAIGN_KEYS", [HOSTILE_KEY, *world_module.CAMPAIGN_KEYS[1:]])
        mp.setattr(world_module, "FIRST_NAMES", HOSTILE_NAMES)
        mp.setattr(world_module, "utm_link", quoted_utm_link)
        world = World(WorldConfig(seed=11, people=120, days=14))
        with SandboxServer(world) as sandbox:
            point_pipeline_at(mp, sandbox, root)
            report = run_refresh(world.start, world.end)
            now = sandbox.now
    assert report.success, report.failures
    return {"world": world, "now": now, "warehouse": root / "engagement.duckdb", "serving": root / "serving.duckdb"}


def column(db, sql: str) -> list:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r[0] for r in con.execute(sql).fetchall()]


def test_every_table_survives_the_drop_table_payload(hostile):
    for db in (hostile["warehouse"], hostile["serving"]):
        marts = set(column(db, "select table_name from information_schema.tables where table_schema = 'marts'"))
        assert {"dim_campaign", "dim_person", "fct_campaign_engaged_users", "fct_web_engagement_daily",
                "fct_social_engagement_daily", "fct_email_campaign_engagement", "fct_email_subscriber_cadence",
                "fct_identity_match_rates"} <= marts


def test_raw_tables_hold_the_hostile_values_exactly_as_the_apis_sent_them(hostile):
    world, wh = hostile["world"], hostile["warehouse"]
    campaign = next(c for c in world.campaigns if c.key == HOSTILE_KEY)
    assert campaign.ga4_spelling in column(wh, "select distinct campaign from raw_ga4.campaign_daily")
    assert campaign.mailchimp_spelling in column(wh, "select distinct tracking_utm from raw_mailchimp.campaigns")
    stored_emails = set(column(wh, "select email from raw_hubspot.contacts"))
    sent_emails = {c.email for c in world.contacts if c.email}
    assert stored_emails == sent_emails
    assert any("\x00" in e for e in stored_emails) and any("\u202e" in e for e in stored_emails)
    handles = set(column(wh, "select username from raw_x.liking_users"))
    assert handles <= set(world.x_usernames.values())
    assert any("'" in h for h in handles) and any("\x00" in h for h in handles) and any("🎉" in h for h in handles)
    post_texts = set(column(wh, "select text from raw_x.posts"))
    assert post_texts == {p.text for p in world.x_posts if p.created_at < hostile["now"]}
    assert any(len(t) > 10_000 for t in post_texts)


def test_the_hostile_campaign_key_is_trimmed_and_lower_cased_and_the_marts_equal_truth(hostile):
    world = hostile["world"]
    expected = truth.campaign_engaged_users(world, hostile["now"])
    assert {key for key, _ in expected} >= {HOSTILE_KEY}
    for db in (hostile["warehouse"], hostile["serving"]):
        with duckdb.connect(str(db), read_only=True) as con:
            got = {(key, channel): {"engaged_users": engaged, "identified_users": identified}
                   for key, channel, engaged, identified in con.execute(
                       "select campaign_key, channel, engaged_users, identified_users from marts.fct_campaign_engaged_users").fetchall()}
            keys = {k for (k,) in con.execute("select campaign_key from marts.dim_campaign").fetchall()}
        assert got == expected
        assert HOSTILE_KEY in keys
