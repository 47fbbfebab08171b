"""The GA4 fake builds a report's grouping once, however many requests for it arrive together."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from connectors.sandbox import api_ga4
from connectors.sandbox.world import World, WorldConfig


def test_requests_arriving_together_build_a_reports_grouping_once():
    # big enough that eight unguarded requests all build it (8 cache misses without the guard, measured)
    world = World(WorldConfig(seed=7, people=3000, days=28))
    report = ("sessions", ("date", "sessionCampaignName", "customUser:site_user_id"), ("sessions",), None, False,
              world.start, world.end)
    api_ga4._grouped.cache_clear()
    start = threading.Barrier(8)

    def ask(_):
        start.wait()
        return api_ga4._grouped_once(world, *report)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert api_ga4._grouped.cache_info().misses == 1  # the other seven waited for it and read the cache
    assert all(answer is answers[0] for answer in answers)
    groups, keys = answers[0]
    assert keys == sorted(groups) and sum(len(rows) for rows in groups.values()) == sum(
        1 for s in world.sessions if world.start <= s.date <= world.end)
