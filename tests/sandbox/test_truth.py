"""The sandbox's ground truth: deterministic, and consistent with its own definitions."""

from __future__ import annotations

from datetime import timedelta

import requests

from connectors.sandbox.truth import campaign_engaged_users, campaign_key
from connectors.sandbox.world import World, WorldConfig


def test_same_seed_same_world_and_truth():
    a, b = World(WorldConfig(seed=3, people=200)), World(WorldConfig(seed=3, people=200))
    assert campaign_engaged_users(a) == campaign_engaged_users(b)
    assert campaign_engaged_users(a) != campaign_engaged_users(World(WorldConfig(seed=4, people=200)))


def test_campaign_keys_trim_lower_and_resolve_aliases_and_placeholders_mean_none():
    assert campaign_key("  Spring_Sale ") == "spring_sale"
    assert campaign_key("BF26") == "black_friday"
    assert campaign_key("(direct)") is None and campaign_key("(not set)") is None


def test_every_channel_spelling_of_the_world_resolves_to_its_campaign(world):
    for c in world.campaigns:
        assert {campaign_key(c.ga4_spelling), campaign_key(c.mailchimp_spelling), campaign_key(c.social_spelling)} == {c.key}


def test_any_counts_each_person_once_across_channels(world):
    truth = campaign_engaged_users(world)
    merged_somewhere = False
    for c in world.campaigns:
        channels = [truth.get((c.key, ch), {"engaged_users": 0})["engaged_users"] for ch in ("web", "email", "social")]
        any_ = truth[(c.key, "any")]
        assert max(channels) <= any_["engaged_users"] <= sum(channels)
        assert any_["identified_users"] <= any_["engaged_users"]
        merged_somewhere |= any_["engaged_users"] < sum(channels)
    assert merged_somewhere  # the CRM links people across channels


def test_truth_follows_the_clock(world):
    early = campaign_engaged_users(world, world.default_now - timedelta(days=20))
    late = campaign_engaged_users(world)
    assert sum(v["engaged_users"] for v in early.values()) < sum(v["engaged_users"] for v in late.values())


def test_truth_is_served_for_other_processes(sandbox):
    body = requests.get(f"{sandbox.url}/_sandbox/truth", timeout=5).json()
    expected = campaign_engaged_users(sandbox.world, sandbox.now)
    assert {(r["campaign_key"], r["channel"]): r["engaged_users"] for r in body["campaign_engaged_users"]} == {
        k: v["engaged_users"] for k, v in expected.items()
    }
