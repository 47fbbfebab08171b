"""X API v2 connector against the sandbox: every expected figure is computed here from the world, never via the API."""

from __future__ import annotations

import math
import sys
import time
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
import requests

from connectors.http import ApiError, ConfigError, SchemaError
from connectors.sandbox.api_x import RATE_LIMITS, RateWindows
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import Response, route
from connectors.sandbox.world import X_ACCOUNT_ID, X_ACCOUNT_USERNAME
from connectors.streams import Window, spec_by_name
from connectors.x import LIKERS_CAP, XClient, XRetry, rate_limit_wait

WINDOW = Window(date(2026, 10, 1), date(2026, 10, 15))
EMPTY = Window(date(2026, 9, 1), date(2026, 9, 8))
UTC = timezone.utc
STREAMS = ("posts", "mentions", "replies", "liking_users", "reposted_by")


# --- test-only X routes: answers the world-backed sandbox never gives -----------------------------
def _tweet(tweet_id: str, created_at: str, **extra) -> dict:
    return {"id": tweet_id, "text": f"post {tweet_id}", "created_at": created_at, "edit_history_tweet_ids": [tweet_id],
            "conversation_id": tweet_id, "public_metrics": {"retweet_count": 1, "reply_count": 2, "like_count": 3,
                                                              "quote_count": 4, "bookmark_count": 5,
                                                              "impression_count": 60}, **extra}


NOT_AUTHORIZED = {"value": "555", "detail": "Sorry, you are not authorized to see the Post with id: [555].",
                  "title": "Authorization Error", "resource_type": "tweet", "parameter": "referenced_tweets.id",
                  "resource_id": "555", "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"}
NOT_FOUND = {"value": "556", "detail": "Could not find tweet with referenced_tweets.id: [556].", "title": "Not Found Error",
             "resource_type": "tweet", "parameter": "referenced_tweets.id", "resource_id": "556",
             "type": "https://api.twitter.com/2/problems/resource-not-found"}


@pytest.fixture
def sandbox(sandbox):
    """The shared sandbox, also serving this module's test routes."""
    sandbox.add_routes(sys.modules[__name__])
    return sandbox


@route("GET", r"/_xtest/2/users/(?P<id>\d+)/tweets", "xtest.tweets")
def _xtest_tweets(req):
    # the window's bounds are inclusive on X: a post at the end second comes back in both windows
    data = [_tweet("3", "2026-10-15T00:00:00.000Z"), _tweet("2", "2026-10-02T10:00:00.000Z"),
            _tweet("1", "2026-10-01T00:00:00.000Z")]
    return Response(200, {"data": data, "meta": {"result_count": 3}})


@route("GET", r"/_xtest/2/users/(?P<id>\d+)/mentions", "xtest.mentions")
def _xtest_mentions(req):
    mention = {"id": "900", "text": "@ExampleShop look", "created_at": "2026-10-02T10:00:00.000Z", "author_id": "77",
               "conversation_id": "900", "referenced_tweets": [{"type": "quoted", "id": "555"}]}
    users = {"users": [{"id": "77", "name": "Seventy", "username": "seventy7"}]}
    scenario = req.match["id"]
    if scenario == "1":  # errors beside data: a quoted post of a protected account
        return Response(200, {"data": [mention], "includes": users, "errors": [NOT_AUTHORIZED], "meta": {"result_count": 1}})
    if scenario == "2":  # errors instead of data, and not a not-found
        return Response(200, {"errors": [NOT_AUTHORIZED]})
    if scenario == "3":  # errors instead of data, all not-found
        return Response(200, {"errors": [NOT_FOUND], "meta": {"result_count": 0}})
    # scenario 4: a paging loop
    return Response(200, {"data": [mention], "includes": users, "meta": {"result_count": 1, "next_token": "same"}})


@route("GET", r"/_xtest/2/tweets/search/recent", "xtest.search")
def _xtest_search(req):
    """25 posts in every conversation (the root and 24 replies), paged by `next_token` only."""
    if "pagination_token" in req.query:
        return Response(400, {"title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
                              "errors": [{"message": "The query parameter [pagination_token] is not one of [...]"}]})
    root = req.arg("query").removeprefix("conversation_id:")
    items = [{"id": root, "text": "the root", "created_at": "2026-10-02T10:00:00.000Z", "author_id": X_ACCOUNT_ID}] + [
        {"id": f"{root}0{i:02d}", "text": f"reply {i}", "created_at": f"2026-10-03T10:00:{i:02d}.000Z", "author_id": "77",
         "in_reply_to_user_id": X_ACCOUNT_ID} for i in range(24)]
    offset, size = int(req.arg("next_token", "0")), int(req.arg("max_results"))
    body = {"data": items[offset: offset + size], "includes": {"users": [{"id": "77", "name": "S", "username": "seventy7"}]},
            "meta": {"result_count": len(items[offset: offset + size])}}
    if offset + size < len(items):
        body["meta"]["next_token"] = str(offset + size)
    return Response(200, body)


# --- helpers -------------------------------------------------------------------------------------
def make_client(sandbox, policy, token: str | None = None, base: str | None = None, user_id: str = X_ACCOUNT_ID,
                **kw) -> XClient:
    kw.setdefault("user_access_token", sandbox.credentials.x_user_token)
    client = XClient.from_settings(user_id=user_id, bearer_token=token or sandbox.credentials.x_bearer,
                                   base_url=base or f"{sandbox.url}/2", policy=policy, **kw)
    client.urls = []  # every URL the client's session really requested
    client.session.hooks["response"].append(lambda r, *a, **k: client.urls.append(r.request.url))
    return client


def lift_rate_limits(sandbox) -> None:
    sandbox.rate_windows = RateWindows(limits={})


def read_all(client: XClient, stream: str, window: Window = WINDOW) -> list[dict]:
    spec = spec_by_name(client.STREAMS, stream)
    rows = []
    for page in client.read(stream, window):
        assert page and all(list(r) == spec.schema.names for r in page)
        pa.Table.from_pylist(page, schema=spec.schema)  # fits the declared schema
        rows += page
    return rows


def posts_in(world, window: Window, now: datetime):
    return [p for p in world.x_posts if window.start_ts <= p.created_at < window.end_ts and p.created_at <= now]


def metrics(post, now: datetime) -> dict:
    n = {k: len(post.events_of(k, now)) for k in ("like", "repost", "reply", "quote")}
    return {"like_count": n["like"], "reply_count": n["reply"], "retweet_count": n["repost"], "quote_count": n["quote"],
            "bookmark_count": n["like"] // 5, "impression_count": (sum(n.values()) + 1) * post.impressions_per_interaction}


def replies_truth(world, now: datetime, window: Window = WINDOW) -> set[tuple]:
    return {(e.event_id, p.id, e.user_id, world.x_usernames[e.user_id], e.ts.replace(microsecond=0),
             f"@{X_ACCOUNT_USERNAME} {e.text}", X_ACCOUNT_ID)
            for p in posts_in(world, window, now) for e in p.events_of("reply", now)}


def likers_truth(post, now: datetime) -> list[str]:
    return [e.user_id for e in sorted(post.events_of("like", now), key=lambda e: (e.ts, e.user_id), reverse=True)][:LIKERS_CAP]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))


# --- data equals the world -------------------------------------------------------------------------
def test_posts_in_the_window_carry_the_lifetime_counters_as_of_the_sandbox_clock(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    rows = {r["post_id"]: r for r in read_all(client, "posts")}
    now = sandbox.now
    truth = posts_in(world, WINDOW, now)
    assert set(rows) == {p.id for p in truth} and len(truth) == 14
    for p in truth:
        assert rows[p.id] == {
            "post_id": p.id, "snapshot_date": now.date(), "observed_at": now, "created_at": p.created_at,
            "text": p.text, "conversation_id": p.id, "urls": [p.link] if p.link else [], **metrics(p, now),
        }
    viral = world.x_posts[1]
    assert rows[viral.id]["like_count"] == len(viral.events_of("like", now)) == 130
    assert any(r["urls"] == [] for r in rows.values()) and any(r["urls"] for r in rows.values())
    assert sandbox.requests["x.tweets"] == 1 and client.stats.requests == 1 and client.partial_errors == []
    sent = query_of(client.urls[0])
    assert sent == {"start_time": "2026-10-01T00:00:00Z", "end_time": "2026-10-15T00:00:00Z", "max_results": "100",
                    "tweet.fields": "created_at,public_metrics,entities,conversation_id"}
    assert not any(client.bearer_token in u for u in client.urls)


def test_moving_the_clock_earlier_lowers_counters_and_dates_the_snapshot_by_the_api(sandbox, world, fast_retries):
    late = {r["post_id"]: r for r in read_all(make_client(sandbox, fast_retries), "posts")}
    sandbox.now = datetime(2026, 10, 10, 12, 30, tzinfo=UTC)
    early = {r["post_id"]: r for r in read_all(make_client(sandbox, fast_retries), "posts")}
    truth = posts_in(world, WINDOW, sandbox.now)
    assert set(early) == {p.id for p in truth} and 0 < len(early) < len(late)
    for p in truth:
        row = early[p.id]
        assert row["snapshot_date"] == date(2026, 10, 10) != late[p.id]["snapshot_date"]
        assert row["observed_at"] == sandbox.now
        assert {k: row[k] for k in metrics(p, sandbox.now)} == metrics(p, sandbox.now)
        assert row["like_count"] <= late[p.id]["like_count"]

    def total(rows):
        return sum(rows[k]["like_count"] + rows[k]["retweet_count"] + rows[k]["reply_count"] for k in early)

    assert total(early) < total(late)


def test_mentions_are_posts_naming_the_account_including_replies_to_its_posts(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    rows = read_all(client, "mentions")
    now = sandbox.now
    in_window = lambda ts: WINDOW.start_ts <= ts < WINDOW.end_ts  # noqa: E731
    replies = {(e.event_id, e.user_id, world.x_usernames[e.user_id], e.ts.replace(microsecond=0), p.id, X_ACCOUNT_ID, (p.id,), ())
               for p in world.x_posts if p.created_at <= now for e in p.events_of("reply", now) if in_window(e.ts)}
    others = {(m["id"], m["author_id"], world.x_usernames[m["author_id"]], m["created_at"], m["id"], None, (), (m["link"],))
              for m in world.x_mentions if m["created_at"] <= now and in_window(m["created_at"])}
    got = {(r["mention_id"], r["author_id"], r["author_username"], r["created_at"], r["conversation_id"],
            r["in_reply_to_user_id"], tuple(r["referenced_post_ids"]), tuple(r["urls"])) for r in rows}
    assert got == replies | others and len(rows) == len(got)
    assert (len(replies), len(others)) == (29, 9)
    assert all(r["text"].startswith(f"@{X_ACCOUNT_USERNAME} ") for r in rows)
    assert sandbox.requests["x.mentions"] == 1
    sent = query_of(client.urls[0])
    assert sent["expansions"] == "author_id" and sent["user.fields"] == "username" and "pagination_token" not in sent
    assert set(sent["tweet.fields"].split(",")) >= {"created_at", "author_id", "in_reply_to_user_id", "referenced_tweets", "entities"}


def test_replies_are_the_conversations_of_the_window_posts_without_the_root(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    rows = read_all(client, "replies")
    now = sandbox.now
    truth = replies_truth(world, now)
    assert {tuple(r.values()) for r in rows} == truth and len(rows) == len(truth) == 37
    assert not {r["reply_id"] for r in rows} & {p.id for p in world.x_posts}
    n_posts = len(posts_in(world, WINDOW, now))
    assert sandbox.requests["x.search"] == n_posts and sandbox.requests["x.tweets"] == 1
    searches = [query_of(u) for u in client.urls if "/tweets/search/recent" in u]
    assert {s["query"] for s in searches} == {f"conversation_id:{p.id}" for p in posts_in(world, WINDOW, now)}
    assert all(s["expansions"] == "author_id" and "start_time" not in s and s["max_results"] == "100" for s in searches)


def test_liking_users_are_capped_at_100_most_recent_for_the_viral_post(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    rows = read_all(client, "liking_users")
    now = sandbox.now
    truth = posts_in(world, WINDOW, now)
    by_post: dict[str, list[str]] = {}
    for r in rows:
        assert r["observed_at"] == now and r["username"] == world.x_usernames[r["user_id"]]
        by_post.setdefault(r["post_id"], []).append(r["user_id"])
    viral = world.x_posts[1]
    assert len(viral.events_of("like", now)) == 130 and len(by_post[viral.id]) == LIKERS_CAP == 100
    for p in truth:
        assert set(by_post.get(p.id, [])) == set(likers_truth(p, now))
    assert len(rows) == sum(min(100, len(p.events_of("like", now))) for p in truth) == 402
    assert sandbox.requests["x.liking_users"] == len(truth)


def test_reposted_by_lists_every_reposter_of_the_window_posts(sandbox, world, fast_retries):
    rows = read_all(make_client(sandbox, fast_retries), "reposted_by")
    now = sandbox.now
    truth = {(p.id, e.user_id, world.x_usernames[e.user_id], now) for p in posts_in(world, WINDOW, now)
             for e in p.events_of("repost", now)}
    assert {tuple(r.values()) for r in rows} == truth and len(rows) == len(truth) == 65


# --- paging ---------------------------------------------------------------------------------------
def test_small_pages_follow_meta_next_token_with_the_exact_request_count(sandbox, world, fast_retries):
    now = sandbox.now
    truth = posts_in(world, WINDOW, now)
    client = make_client(sandbox, fast_retries, page_size=5)
    assert sorted(r["post_id"] for r in read_all(client, "posts")) == sorted(p.id for p in truth)
    assert sandbox.requests["x.tweets"] == pages(len(truth), 5) == client.stats.requests == 3
    tokens = [query_of(u).get("pagination_token") for u in client.urls]
    assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == 2

    sandbox.requests.clear()
    lift_rate_limits(sandbox)  # pages of 5 likers spend X's 75 calls per window: this test is about paging
    client = make_client(sandbox, fast_retries, page_size=5)
    likers = read_all(client, "liking_users")
    assert len(likers) == sum(min(100, len(p.events_of("like", now))) for p in truth)
    assert sandbox.requests["x.liking_users"] == sum(pages(min(100, len(p.events_of("like", now))), 5) for p in truth)

    sandbox.requests.clear()
    client = make_client(sandbox, fast_retries, page_size=5)  # search takes 10 at least: clamped
    replies = read_all(client, "replies")
    assert {tuple(r.values()) for r in replies} == replies_truth(world, now)
    # search for conversation_id:<root> finds the root post too; no conversation in the world needs a second page
    assert sandbox.requests["x.search"] == sum(pages(len(p.events_of("reply", now)) + 1, 10) for p in truth) == 14
    assert all(query_of(u)["max_results"] == "10" for u in client.urls if "/search/recent" in u)


def test_search_pages_with_next_token_not_pagination_token(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_xtest/2", page_size=10)
    rows = read_all(client, "replies")
    assert sorted(r["reply_id"] for r in rows) == sorted(f"{root}0{i:02d}" for root in ("1", "2") for i in range(24))
    assert {(r["post_id"], r["author_username"]) for r in rows} == {("1", "seventy7"), ("2", "seventy7")}
    assert sandbox.requests["xtest.search"] == 2 * pages(25, 10) == 6
    searches = [query_of(u) for u in client.urls if "/search/recent" in u]
    for root in ("1", "2"):  # each post's conversation is paged in order (posts are read at the same time)
        tokens = [q.get("next_token") for q in searches if q["query"] == f"conversation_id:{root}"]
        assert tokens == [None, "10", "20"]


def test_an_empty_window_yields_nothing_after_one_timeline_request_per_stream(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries)
    raw = requests.get(f"{sandbox.url}/2/users/{X_ACCOUNT_ID}/tweets", params={"start_time": "2026-09-01T00:00:00Z",
                       "end_time": "2026-09-08T00:00:00Z"}, headers=client.auth_headers(), timeout=5).json()
    assert raw == {"meta": {"result_count": 0}}
    sandbox.requests.clear()
    for stream in STREAMS:
        assert list(client.read(stream, EMPTY)) == []
    assert sandbox.requests["x.tweets"] == 4 and sandbox.requests["x.mentions"] == 1
    assert sandbox.requests["x.search"] == sandbox.requests["x.liking_users"] == sandbox.requests["x.retweeted_by"] == 0
    assert client.stats.pages == 2 and client.stats.records == 0  # the per-post streams had no post to page


def test_a_post_created_exactly_at_the_window_end_belongs_to_the_next_window(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_xtest/2")
    assert [r["post_id"] for r in read_all(client, "posts")] == ["2", "1"]
    assert [r["post_id"] for r in read_all(client, "posts", Window(date(2026, 10, 15), date(2026, 10, 16)))] == ["3"]
    assert read_all(client, "posts")[0]["impression_count"] == 60


def test_a_repeating_next_token_stops_the_run(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_xtest/2", user_id="4")
    with pytest.raises(ApiError, match="meta.next_token repeats"):
        read_all(client, "mentions")
    assert sandbox.requests["xtest.mentions"] == 2


# --- partial errors in 200 answers ----------------------------------------------------------------
def test_errors_beside_data_are_recorded_and_the_data_kept(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_xtest/2", user_id="1")
    rows = read_all(client, "mentions")
    assert [(r["mention_id"], r["author_username"], r["referenced_post_ids"]) for r in rows] == [("900", "seventy7", ["555"])]
    assert client.partial_errors == [{
        "stream": "mentions", "endpoint": "users/:id/mentions", "resource_type": "tweet", "resource_id": "555",
        "title": "Authorization Error", "detail": "Sorry, you are not authorized to see the Post with id: [555].",
        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"}]


def test_errors_instead_of_data_fail_unless_every_one_is_not_found(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_xtest/2", user_id="2")
    with pytest.raises(ApiError, match=r"x: users/:id/mentions failed \(HTTP 200\): Authorization Error - Sorry, you are "
                                       r"not authorized to see the Post with id: \[555\]\.") as caught:
        read_all(client, "mentions")
    assert caught.value.status == 200 and sandbox.requests["xtest.mentions"] == 1

    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_xtest/2", user_id="3")
    assert read_all(client, "mentions") == []
    assert [(e["resource_id"], e["title"]) for e in client.partial_errors] == [("556", "Not Found Error")]


def test_a_post_gone_before_its_likers_are_read_is_a_recorded_not_found(sandbox, world, fast_retries, monkeypatch):
    client = make_client(sandbox, fast_retries)
    real = client._post_ids
    monkeypatch.setattr(client, "_post_ids", lambda window, stream: ["1849999999999999999", *real(window, stream)])
    rows = read_all(client, "liking_users")
    assert len(rows) == sum(min(100, len(p.events_of("like", sandbox.now))) for p in posts_in(world, WINDOW, sandbox.now))
    assert client.partial_errors == [{
        "stream": "liking_users", "endpoint": "tweets/:id/liking_users", "resource_type": "tweet",
        "resource_id": "1849999999999999999", "title": "Not Found Error",
        "detail": "Could not find tweet with id: [1849999999999999999].",
        "type": "https://api.twitter.com/2/problems/resource-not-found"}]


def test_an_unknown_account_id_fails_naming_x_user_id(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, user_id="42")
    with pytest.raises(ApiError, match=r"Not Found Error - Could not find user with id: \[42\]\..*X_USER_ID 42"):
        read_all(client, "posts")


# --- rate limits and transport faults -----------------------------------------------------------
def test_429_with_x_rate_limit_reset_waits_until_the_reset_then_succeeds(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="x.tweets", kind="429", reset_in=1))
    client = make_client(sandbox, fast_retries)
    began = time.time()
    rows = read_all(client, "posts")
    # the sandbox set the reset to int(its time + 1) >= int(began + 1): the retry came no earlier
    assert time.time() >= int(began + 1) and time.time() - began < 2.5
    assert len(rows) == len(posts_in(world, WINDOW, sandbox.now))
    assert sandbox.requests["x.tweets"] == 2 and client.stats.retries == 1 and client.stats.requests == 2


def test_429_with_retry_after_is_waited(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="x.mentions", kind="429", retry_after="1"))
    client = make_client(sandbox, fast_retries)
    began = time.monotonic()
    assert read_all(client, "mentions")
    assert 1.0 <= time.monotonic() - began < 2.5
    assert sandbox.requests["x.mentions"] == 2


def test_a_reset_beyond_the_ceiling_fails_at_once_naming_the_wait(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="x.tweets", kind="429", reset_in=60, times=None))
    began = time.monotonic()
    with pytest.raises(ApiError, match=r"x: users/:id/tweets failed \(HTTP 429\): rate limited: the API asks to wait "
                                       r"(59|60) s, longer than the 5 s ceiling") as caught:
        read_all(make_client(sandbox, fast_retries), "posts")
    assert caught.value.status == 429 and time.monotonic() - began < 1.5
    assert sandbox.requests["x.tweets"] == 1


class _FakeResponse:
    def __init__(self, status: int, headers: dict[str, str]):
        self.status, self.headers = status, headers


@pytest.mark.parametrize(
    "status, headers, wait",
    [
        (429, {"x-rate-limit-reset": "1030"}, 30.0),
        (429, {"x-rate-limit-reset": "990"}, 0.0),  # already past: back off instead
        (429, {"x-rate-limit-reset": "1030", "Retry-After": "2"}, 2.0),  # Retry-After still wins
        (429, {"x-rate-limit-reset": "soon"}, None),
        (429, {}, None),
        (503, {"x-rate-limit-reset": "1900"}, None),  # X sends the headers on every answer: only a 429 waits
        (429, {"x-rate-limit-reset": "1010", "x-app-limit-24hour-reset": "5000",
               "x-app-limit-24hour-remaining": "0"}, 4000.0),  # the spent daily window decides
        (429, {"x-rate-limit-reset": "1010", "x-app-limit-24hour-reset": "5000",
               "x-app-limit-24hour-remaining": "17"}, 10.0),
    ],
)
def test_x_retry_reads_the_reset_header_of_429s(monkeypatch, status, headers, wait):
    monkeypatch.setattr(time, "time", lambda: 1000.0)
    assert XRetry(total=1).get_retry_after(_FakeResponse(status, headers)) == wait
    assert rate_limit_wait({"x-rate-limit-reset": "1003"}, now=1000.5) == 2.5


@pytest.mark.parametrize("kind", ["5xx", "drop", "truncate", "bad_json"])
def test_transient_faults_are_retried_and_the_answer_is_whole(sandbox, world, fast_retries, kind):
    sandbox.faults.add(FaultRule(endpoint="x.liking_users", kind=kind, times=2))
    client = make_client(sandbox, fast_retries)
    rows = read_all(client, "liking_users")
    truth = posts_in(world, WINDOW, sandbox.now)
    assert len(rows) == sum(min(100, len(p.events_of("like", sandbox.now))) for p in truth)
    assert sandbox.requests["x.liking_users"] == len(truth) + 2


def test_a_5xx_burst_on_search_is_retried(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="x.search", kind="5xx", status=502, times=3))
    rows = read_all(make_client(sandbox, fast_retries), "replies")
    assert {tuple(r.values()) for r in rows} == replies_truth(world, sandbox.now)
    assert sandbox.requests["x.search"] == len(posts_in(world, WINDOW, sandbox.now)) + 3


def test_a_persistent_5xx_ends_in_one_error_naming_source_endpoint_and_status(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="x.tweets", kind="5xx", times=None))
    with pytest.raises(ApiError, match=r"x: users/:id/tweets failed \(HTTP 503\): Service Unavailable - "
                                       r"The service is currently unavailable\.") as caught:
        read_all(make_client(sandbox, fast_retries), "posts")
    assert (caught.value.source, caught.value.endpoint, caught.value.status) == ("x", "users/:id/tweets", 503)
    assert sandbox.requests["x.tweets"] == fast_retries.total + 1


# --- schema drift -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "endpoint, stream, kind, field, named",
    [
        ("x.tweets", "posts", "missing_field", "id", "id"),
        ("x.tweets", "posts", "missing_field", "public_metrics.like_count", "public_metrics.like_count"),
        ("x.tweets", "posts", "missing_field", "public_metrics", "public_metrics.like_count"),
        ("x.tweets", "posts", "wrong_type", "created_at", "created_at"),
        ("x.tweets", "posts", "wrong_type", "public_metrics.impression_count", "public_metrics.impression_count"),
        ("x.tweets", "liking_users", "missing_field", "created_at", "created_at"),
        ("x.mentions", "mentions", "missing_field", "author_id", "author_id"),
        ("x.mentions", "mentions", "wrong_type", "referenced_tweets.0.id", "referenced_tweets.0.id"),
        ("x.search", "replies", "missing_field", "text", "text"),
        ("x.liking_users", "liking_users", "missing_field", "username", "username"),
        ("x.retweeted_by", "reposted_by", "wrong_type", "id", "id"),
    ],
)
def test_a_missing_or_mistyped_required_field_is_a_schema_error_naming_it(sandbox, fast_retries, endpoint, stream, kind, field, named):
    # every answer is damaged: a search's first record can be the root post, which is skipped unread
    sandbox.faults.add(FaultRule(endpoint=endpoint, kind=kind, field=field, times=None))
    with pytest.raises(SchemaError) as caught:
        read_all(make_client(sandbox, fast_retries), stream)
    assert caught.value.source == "x" and caught.value.stream == stream and caught.value.field == named
    assert f"'{named}'" in str(caught.value)


def test_unknown_fields_are_ignored(sandbox, fast_retries):
    clean = {s: read_all(make_client(sandbox, fast_retries), s) for s in STREAMS}
    sandbox.faults.add(FaultRule(endpoint="x.*", kind="extra_fields", times=None))
    assert {s: read_all(make_client(sandbox, fast_retries), s) for s in STREAMS} == clean


@pytest.mark.parametrize("stream, endpoint, key, size", [
    ("posts", "x.tweets", ("post_id", "snapshot_date"), 5),
    ("mentions", "x.mentions", ("mention_id",), 5),
    ("liking_users", "x.liking_users", ("post_id", "user_id"), 8),
    ("reposted_by", "x.retweeted_by", ("post_id", "user_id"), 3),
])
def test_overlapping_pages_give_the_true_key_set_without_duplicates(sandbox, fast_retries, stream, endpoint, key, size):
    truth = {tuple(r[k] for k in key) for r in read_all(make_client(sandbox, fast_retries), stream)}
    lift_rate_limits(sandbox)  # small pages spend X's per-window calls: this test is about paging
    sandbox.faults.add(FaultRule(endpoint=endpoint, kind="overlap", rows=2, times=None))
    sandbox.requests.clear()
    rows = read_all(make_client(sandbox, fast_retries, page_size=size), stream)
    keys = [tuple(r[k] for k in key) for r in rows]
    assert set(keys) == truth and len(keys) == len(truth)
    assert sandbox.requests[endpoint] > (1 if stream in ("posts", "mentions") else 14)  # the fault had pages to bite


# --- credentials, settings and the sandbox's wire -----------------------------------------------------
def test_a_wrong_token_is_xs_401_message_after_one_request_and_never_leaks(sandbox, fast_retries):
    secret = "AAAAAAAAAAAAAAAAAAAAAwrong%2Bbearer%3Dtoken0123456789"
    client = make_client(sandbox, fast_retries, token=secret)
    with pytest.raises(ApiError) as caught:
        read_all(client, "posts")
    text = str(caught.value)
    assert text == "x: users/:id/tweets failed (HTTP 401): Unauthorized (the bearer token was refused: check X_BEARER_TOKEN)"
    assert secret not in text and secret not in repr(caught.value.args) and "wrong" not in repr(client)
    assert sandbox.requests["x.tweets"] == 1 and client.stats.requests == 1
    assert not any(secret in u or "wrong" in u for u in client.urls)


def test_invalid_parameters_are_xs_400_problem_with_the_first_error_message(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries)
    with pytest.raises(ApiError) as caught:
        client.request("GET", f"{sandbox.url}/2/users/{X_ACCOUNT_ID}/tweets", endpoint="users/:id/tweets", params={"max_results": 1})
    assert caught.value.status == 400 and caught.value.api_message == (
        "Invalid Request - One or more parameters to your request was invalid. - "
        "The `max_results` query parameter value [1] is not between 5 and 100")
    body = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
    assert client.error_message(body, None) == "Rate limit exceeded (code 88)"


def test_the_sandbox_speaks_x_fields_paging_tokens_and_error_bodies(sandbox):
    auth = {"Authorization": f"Bearer {sandbox.credentials.x_bearer}"}
    url = f"{sandbox.url}/2/users/{X_ACCOUNT_ID}/tweets"
    plain = requests.get(url, params={"max_results": 5}, headers=auth, timeout=5).json()
    assert set(plain["data"][0]) == {"id", "text", "edit_history_tweet_ids"} and "includes" not in plain
    assert set(plain["meta"]) == {"result_count", "newest_id", "oldest_id", "next_token"}
    page2 = requests.get(url, params={"max_results": 5, "pagination_token": plain["meta"]["next_token"]}, headers=auth, timeout=5).json()
    assert not {t["id"] for t in page2["data"]} & {t["id"] for t in plain["data"]}
    bad = requests.get(url, params={"pagination_token": "nonsense!"}, headers=auth, timeout=5)
    assert bad.status_code == 400 and "pagination_token" in bad.json()["errors"][0]["message"]
    unknown = requests.get(url, params={"tweet.fields": "created_at,impressions"}, headers=auth, timeout=5)
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["message"].startswith(
        "The `tweet.fields` query parameter value [impressions] is not one of [")
    denied = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert denied.status_code == 401 and denied.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                                           "detail": "Unauthorized"}
    mentions = requests.get(f"{sandbox.url}/2/users/{X_ACCOUNT_ID}/mentions", params={"expansions": "author_id"},
                            headers=auth, timeout=5).json()
    assert {u["id"] for u in mentions["includes"]["users"]} == {t["author_id"] for t in mentions["data"]}
    search = requests.get(f"{sandbox.url}/2/tweets/search/recent", params={"query": "conversation_id:1", "max_results": 5},
                          headers=auth, timeout=5)
    assert search.status_code == 400 and "between 10 and 100" in search.json()["errors"][0]["message"]
    for path, param in ((f"users/{X_ACCOUNT_ID}/tweets", "next_token"), ("tweets/search/recent", "pagination_token")):
        wrong = requests.get(f"{sandbox.url}/2/{path}", params={"query": "conversation_id:1", param: "x"}, headers=auth, timeout=5)
        assert wrong.status_code == 400 and wrong.json()["errors"][0]["message"].startswith(f"The query parameter [{param}]")
    sandbox.faults.add(FaultRule(endpoint="x.tweets", kind="429", reset_in=30))
    limited = requests.get(url, headers=auth, timeout=5)
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert limited.json() == {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
    assert 28 <= int(limited.headers["x-rate-limit-reset"]) - time.time() <= 31
    assert limited.headers["x-rate-limit-remaining"] == "0"


@pytest.mark.parametrize("settings, variable", [
    ({"user_id": "@ExampleShop"}, "X_USER_ID"),
    ({"user_id": ""}, "X_USER_ID"),
    ({"bearer_token": " "}, "X_BEARER_TOKEN"),
    ({"base_url": "http://api.x.example/2"}, "X_API_URL"),
])
def test_bad_settings_are_refused_naming_the_variable(settings, variable):
    kw = {"user_id": X_ACCOUNT_ID, "bearer_token": "t", "base_url": None, **settings}
    with pytest.raises(ConfigError, match=variable):
        XClient.from_settings(**kw)


def test_settings_default_to_api_x_com_with_a_bearer_header():
    client = XClient.from_settings(user_id=f" {X_ACCOUNT_ID} ", bearer_token="abc%3Ddef", base_url=None)
    assert client.base_url == "https://api.x.com/2" and client.user_id == X_ACCOUNT_ID
    assert client.auth_headers() == {"Authorization": "Bearer abc%3Ddef"} and client.secrets() == ("abc%3Ddef", "abc=def")
    assert isinstance(client.session.adapters["https://"].max_retries, XRetry)


def test_streams_declare_keys_and_unknown_streams_are_refused(sandbox, fast_retries):
    specs = {s.name: s for s in XClient.STREAMS}
    assert {n: s.primary_key for n, s in specs.items()} == {
        "posts": ("post_id", "snapshot_date"), "mentions": ("mention_id",), "replies": ("reply_id",),
        "liking_users": ("post_id", "user_id"), "reposted_by": ("post_id", "user_id")}
    assert all(s.strategy == "merge" and s.source == "x" for s in specs.values())
    posts = specs["posts"].schema
    assert posts.field("snapshot_date").type == pa.date32() and posts.field("observed_at").type == pa.timestamp("us", tz="UTC")
    assert posts.field("urls").type == pa.list_(pa.string()) and posts.field("impression_count").nullable
    assert specs["mentions"].schema.field("referenced_post_ids").type == pa.list_(pa.string())
    with pytest.raises(KeyError):
        list(make_client(sandbox, fast_retries).read("followers", WINDOW))


# --- rate limits: paced, never exceeded ----------------------------------------------------------
def test_every_answer_carries_xs_rate_headers_and_the_published_limits(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries)
    read_all(client, "liking_users")
    remaining, reset = client.rate_state["tweets/:id/liking_users"]
    calls = sandbox.requests["x.liking_users"]
    assert RATE_LIMITS["x.liking_users"] == 75 and remaining == 75 - calls
    assert abs(reset - (time.time() + sandbox.rate_windows.seconds)) < 5  # tests shorten X's 15 minutes (conftest)
    assert sandbox.rate_windows.calls["x.liking_users"] == [calls] and not sandbox.rate_windows.refused


def test_a_spent_window_is_waited_out_before_the_next_call_never_answered_with_a_429(sandbox, world, fast_retries):
    """Liking users allow 75 calls per 15 minutes; here 4 per 1.5 s, so reading every post's likers
    must wait for windows to reset, and X never has to refuse a call."""
    sandbox.rate_windows = RateWindows(seconds=1.5, limits={"x.liking_users": 4})
    now = sandbox.now
    truth = posts_in(world, WINDOW, now)
    client = make_client(sandbox, fast_retries)
    rows = read_all(client, "liking_users")
    assert len(rows) == sum(min(100, len(p.events_of("like", now))) for p in truth)
    windows = sandbox.rate_windows.calls["x.liking_users"]
    assert sum(windows) == len(truth) == 14 and max(windows) == 4 and len(windows) == math.ceil(len(truth) / 4)
    assert sandbox.rate_windows.refused == {} and client.stats.retries == 0 and client.rate_waits > 0


def test_a_reset_beyond_the_ceiling_fails_naming_the_wait(sandbox, fast_retries):
    sandbox.rate_windows = RateWindows(seconds=900, limits={"x.liking_users": 2})  # the policy waits at most 5 s
    with pytest.raises(ApiError, match=r"liking_users.*rate limit spent: the window resets in \d+ s, longer than the 5 s ceiling"):
        read_all(make_client(sandbox, fast_retries), "liking_users")
    assert sandbox.rate_windows.refused == {}


# --- liking_users needs a user-context token (X's published spec) ------------------------------
def test_without_a_user_token_liking_users_is_skipped_with_a_note(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, user_access_token=None)
    assert list(client.read("liking_users", WINDOW)) == []
    assert sandbox.requests["x.liking_users"] == 0 and sandbox.requests["x.tweets"] == 0
    note = client.run_facts("liking_users")["skipped"]
    assert note.startswith("skipped: X allows only user-context tokens on liking_users; set X_USER_ACCESS_TOKEN")
    assert client.run_facts("reposted_by") == {}  # app-only reads the rest


def test_a_run_without_a_user_token_succeeds_and_says_which_stream_it_skipped_and_why(
        sandbox, tmp_path, monkeypatch, capfd, dbt_manifest):
    import dagster as dg

    from dagster_project.defs.ingestion import ingestion_assets
    from dagster_project.defs.resources import EngagementSettings
    from tests.conftest import point_pipeline_at

    point_pipeline_at(monkeypatch, sandbox, tmp_path)
    monkeypatch.delenv("X_USER_ACCESS_TOKEN")
    likers = next(a for a in ingestion_assets() if a.key == dg.AssetKey(["raw_x", "liking_users"]))
    result = dg.materialize([likers], partition_key="2026-10-05", resources={"engagement": EngagementSettings()})
    assert result.success
    metadata = result.asset_materializations_for_node(likers.op.name)[0].metadata
    assert metadata["api_skipped"].value.startswith("skipped: X allows only user-context tokens on liking_users")
    assert metadata["fetched"].value == 0
    lines = [line for line in capfd.readouterr().err.splitlines() if "X_USER_ACCESS_TOKEN" in line]
    assert len(lines) == 1 and " - WARNING - " in lines[0] and "raw_x.liking_users skipped: X allows only user-context tokens" in lines[0]
    assert sandbox.requests["x.liking_users"] == 0


def test_with_a_user_token_liking_users_sends_it_there_and_the_bearer_elsewhere(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    likers = [r for page in client.read("liking_users", WINDOW) for r in page]
    posts = [p for p in world.x_posts if WINDOW.start_ts <= p.created_at < WINDOW.end_ts]
    expected = sum(min(len(p.events_of("like", sandbox.now)), 100) for p in posts)
    assert len(likers) == expected and expected > 0
    assert client.run_facts("liking_users") == {}
    assert set(client.secrets()) >= {sandbox.credentials.x_bearer, sandbox.credentials.x_user_token}


def test_an_app_only_token_on_liking_users_gets_xs_unsupported_authentication(sandbox):
    post = sandbox.world.x_posts[0]
    answer = requests.get(f"{sandbox.url}/2/tweets/{post.id}/liking_users",
                          headers={"Authorization": f"Bearer {sandbox.credentials.x_bearer}"}, timeout=5)
    assert answer.status_code == 403
    assert answer.json()["type"] == "https://api.twitter.com/2/problems/unsupported-authentication"


def test_a_refused_user_token_names_x_user_access_token(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, user_access_token="not-the-user-token-77")
    with pytest.raises(ApiError, match="check X_USER_ACCESS_TOKEN") as caught:
        list(client.read("liking_users", WINDOW))
    assert "not-the-user-token-77" not in str(caught.value)


# --- public_metrics as X's published spec has them: impression_count required, quote_count optional ---------
@pytest.mark.parametrize("drop, outcome", [("quote_count", None), ("impression_count", "'public_metrics.impression_count' is missing")])
def test_quote_count_is_optional_and_impression_count_required(sandbox, fast_retries, drop, outcome):
    sandbox.faults.add(FaultRule("x.tweets", "missing_field", field=f"public_metrics.{drop}"))
    client = make_client(sandbox, fast_retries)
    if outcome is None:
        assert read_all(client, "posts")[0]["quote_count"] is None
    else:
        with pytest.raises(SchemaError, match=outcome):
            read_all(client, "posts")
