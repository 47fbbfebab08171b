"""The ground truth's identity graph: an identifier several contacts claim links nothing."""

from __future__ import annotations

import copy
from dataclasses import replace

from connectors.sandbox.truth import identity_graph
from connectors.sandbox.world import World, WorldConfig


def _two_contacts_with_handles(world: World):
    contacts = [c for c in world.contacts if c.twitterhandle and c.created <= world.default_now]
    return contacts[0], contacts[1]


def test_a_shared_handle_merges_no_one_and_stays_a_person_of_its_own():
    world = copy.copy(World(WorldConfig(seed=7, people=300, days=28)))
    first, second = _two_contacts_with_handles(world)
    world.contacts = [replace(c, twitterhandle=first.twitterhandle) if c is second else c for c in world.contacts]
    x_id = {name.lower(): uid for uid, name in world.x_accounts}[first.twitterhandle.strip().lstrip("@").lower()]

    graph = identity_graph(world, world.default_now)

    assert graph.find(("crm", first.id)) != graph.find(("crm", second.id))
    assert graph.find(("x", x_id)) not in {graph.find(("crm", first.id)), graph.find(("crm", second.id))}
    # each contact keeps its own email
    assert graph.find(("email", first.email.strip().lower())) == graph.find(("crm", first.id))


def test_a_shared_email_still_links_two_contacts():
    world = copy.copy(World(WorldConfig(seed=7, people=300, days=28)))
    first, second = _two_contacts_with_handles(world)
    world.contacts = [replace(c, email=first.email) if c is second else c for c in world.contacts]

    graph = identity_graph(world, world.default_now)

    assert graph.find(("crm", first.id)) == graph.find(("crm", second.id))
