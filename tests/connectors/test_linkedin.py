"""LinkedIn (Community Management API) connector against the sandbox: every expected figure comes from the world."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import date

import pytest

from connectors.http import ApiError, ConfigError
from connectors.linkedin import LinkedInClient
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import Credentials, Response, SandboxServer, route
from connectors.sandbox.world import LINKEDIN_ORGANIZATION_ID
from connectors.streams import Window


@pytest.fixture
def sandbox(sandbox):
    """The shared sandbox, also serving this module's test routes."""
    sandbox.add_routes(sys.modules[__name__])
    return sandbox


def make_client(sandbox, retries=None, **kw) -> LinkedInClient:
    extra = {"policy": retries} if retries else {}
    settings = {"organization_id": LINKEDIN_ORGANIZATION_ID, "access_token": sandbox.credentials.linkedin_token,
                "base_url": f"{sandbox.url}/rest", **kw}
    return LinkedInClient.from_settings(**settings, **extra)


def read(client: LinkedInClient, stream: str, window: Window) -> list[dict]:
    return [r for page in client.read(stream, window) for r in page]


def whole(world) -> Window:
    return Window(world.start, world.end)


def test_counts_equal_the_worlds_truth(sandbox, world):
    now, client = sandbox.now, make_client(sandbox)
    client.page_size = 4  # several pages of every list
    posts = {r["post_id"]: r for r in read(client, "posts", whole(world))}
    expected = {p.id: p for p in world.li_posts if p.created_at <= now}
    assert set(posts) == set(expected) and len(posts) == 16
    for post_id, record in posts.items():
        post = expected[post_id]
        assert record["reaction_count"] == len(post.events_of("reaction", now))
        assert record["comment_count"] == len(post.events_of("comment", now))
        assert record["share_count"] == len(post.events_of("share", now))
        assert record["impression_count"] == post.reach(now)
        assert record["link"] == post.link and record["created_at"] == post.created_at
    reactions = read(client, "reactions", whole(world))
    assert Counter(r["post_id"] for r in reactions) == Counter(
        {p.id: len(p.events_of("reaction", now)) for p in expected.values() if p.events_of("reaction", now)})
    assert len(reactions) == sum(len(p.events_of("reaction", now)) for p in expected.values()) == 259
    comments = read(client, "comments", whole(world))
    assert sorted(c["comment_id"] for c in comments) == sorted(
        e.event_id for p in expected.values() for e in p.events_of("comment", now))
    assert len(comments) == 40
    mentions = read(client, "mentions", whole(world))
    assert sorted(m["mentioning_post"] for m in mentions) == sorted(m["generated_activity"] for m in world.li_mentions)
    assert len(mentions) == 10


def test_each_list_ends_on_its_own_signal(sandbox, world):
    """posts: paging.total and links; reactions: links only; comments: total only; notifications: a short page."""
    client = make_client(sandbox)
    client.page_size = 5
    read(client, "mentions", whole(world))  # 10 mentions: pages of 5, 5 and an empty one ends it
    assert sandbox.requests["linkedin.notifications"] == 3
    read(client, "posts", whole(world))  # 16 posts: 4 pages, the last short with no next link
    assert sandbox.requests["linkedin.posts"] == 4


def test_an_empty_window_asks_for_posts_once_and_yields_nothing(sandbox):
    client = make_client(sandbox)
    window = Window(date(2025, 1, 1), date(2025, 1, 8))
    assert read(client, "reactions", window) == []
    assert read(client, "mentions", window) == []
    assert sandbox.requests["linkedin.reactions"] == 0


@route("GET", r"/_litest/rest/organizationalEntityNotifications", "litest.notifications")
def _looping(req):
    """A server that keeps answering full pages and a total it never reaches: the start must still advance."""
    start = int(req.arg("start", "0"))
    element = {"action": "SHARE_MENTION", "notificationId": start, "lastModifiedAt": 1791000000000,
               "sourcePost": "urn:li:activity:1", "generatedActivity": f"urn:li:share:{start}"}
    if start >= 6:
        return Response(200, {"paging": {"start": start, "count": 2, "links": []}, "elements": []})
    return Response(200, {"paging": {"start": start, "count": 2, "links": [{"rel": "next", "href": "x"}]},
                          "elements": [element, {**element, "notificationId": start + 1,
                                                 "generatedActivity": f"urn:li:share:{start + 1}"}]})


def test_next_links_are_followed_until_an_empty_page(sandbox):
    client = make_client(sandbox, base_url=f"{sandbox.url}/_litest/rest")
    client.page_size = 2
    rows = read(client, "mentions", Window(date(2026, 10, 1), date(2026, 10, 29)))
    assert [r["notification_id"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert sandbox.requests["litest.notifications"] == 4


@pytest.mark.parametrize("rule", [FaultRule("linkedin.reactions", "429"), FaultRule("linkedin.reactions", "5xx", times=3),
                                  FaultRule("linkedin.reactions", "drop")], ids=["429", "5xx", "drop"])
def test_throttling_5xx_and_drops_are_waited_out(sandbox, world, fast_retries, rule):
    clean = sorted(map(repr, read(make_client(sandbox), "reactions", whole(world))))
    sandbox.faults.add(rule)
    client = make_client(sandbox, fast_retries)
    assert sorted(map(repr, read(client, "reactions", whole(world)))) == clean
    assert client.stats.retries >= 1


def test_a_persistent_429_fails_with_linkedins_own_message(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule("linkedin.posts", "429", times=None))
    with pytest.raises(ApiError, match="Resource level throttle limit for calls to this resource is reached") as caught:
        read(make_client(sandbox, fast_retries), "posts", whole(world))
    assert caught.value.status == 429


def test_a_wrong_token_fails_with_linkedins_401_naming_the_variable_and_never_printing_the_token(world):
    with SandboxServer(world, credentials=Credentials(linkedin_token="the-right-one")) as sandbox:
        client = make_client(sandbox, access_token="wrong-secret-token-123")
        with pytest.raises(ApiError) as caught:
            read(client, "posts", whole(world))
    text = str(caught.value)
    assert caught.value.status == 401
    assert "Invalid access token [code INVALID_ACCESS_TOKEN, serviceErrorCode 65600]" in text
    assert "LINKEDIN_ACCESS_TOKEN" in text and "wrong-secret-token-123" not in text


def test_a_sunset_version_names_linkedin_version(sandbox, world):
    with pytest.raises(ApiError, match=r"426.*Requested version 20240101 is not active.*set LINKEDIN_VERSION"):
        read(make_client(sandbox, version="202401"), "posts", whole(world))


def test_every_request_carries_the_version_and_restli_headers_and_no_credential_in_a_url(sandbox, world):
    client = make_client(sandbox)
    read(client, "posts", whole(world))
    headers = client.auth_headers()
    assert headers["LinkedIn-Version"] == "202611" and headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert not {"access_token", "oauth2_access_token"} & set(sandbox.query_params["linkedin"])


@pytest.mark.parametrize("settings, message", [
    ({"organization_id": "acme"}, "LINKEDIN_ORGANIZATION_ID must be the organisation's numeric id"),
    ({"access_token": " "}, "LINKEDIN_ACCESS_TOKEN is empty"),
    ({"version": "2026-11"}, "LINKEDIN_VERSION must look like 202611"),
    ({"base_url": "http://example.com/rest"}, "LINKEDIN_API_URL uses plain http for a non-loopback host"),
])
def test_bad_settings_are_named(settings, message):
    base = {"organization_id": "2414183", "access_token": "t", "base_url": None, **settings}
    with pytest.raises(ConfigError, match=message):
        LinkedInClient.from_settings(**base)
