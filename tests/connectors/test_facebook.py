"""Facebook Pages (Meta Graph) connector against the sandbox: every expected figure is computed from the world."""

from __future__ import annotations

import json
import math
import sys
import time
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest
import requests

from connectors.facebook import POST_INSIGHT_METRICS, FacebookClient
from connectors.http import ApiError, ConfigError, SchemaError
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import Response, route
from connectors.sandbox.world import FACEBOOK_PAGE_ID
from connectors.streams import Window, spec_by_name

WINDOW = Window(date(2026, 10, 1), date(2026, 10, 15))
UTC = timezone.utc


# --- test-only Graph routes: answers the world-backed sandbox never gives ---------------------
def _scenario_page(req, data: list[dict], nxt: str | None) -> Response:
    body: dict = {"data": data}
    if nxt:
        body["paging"] = {"cursors": {"after": "QUZURVI="}, "next": nxt}
    return Response(200, body)


@pytest.fixture
def sandbox(sandbox):
    """The shared sandbox, also serving this module's test routes."""
    sandbox.add_routes(sys.modules[__name__])
    return sandbox


@route("GET", r"/_fbtest/v24\.0/(?P<page>[^/]+)/published_posts", "fbtest.published_posts")
def _fbtest_posts(req):
    host, page = req.headers["host"], req.match["page"]
    post = {"id": f"{page}_1", "created_time": "2026-10-02T10:00:00+0000", "message": "hi",
            "reactions": {"data": [], "summary": {"total_count": 3}}, "comments": {"data": [], "summary": {"total_count": 0}}}
    if page == "gaps":  # privacy filtering: empty pages that still have a next
        step = int(req.arg("step", "0"))
        if step < 2:
            return _scenario_page(req, [], f"http://{host}{req.path}?step={step + 1}&access_token=echoed-token")
        return _scenario_page(req, [post], None)
    if page == "boundary":  # `until` may be inclusive: a post at the window's end belongs to the next window
        at_end = {**post, "id": f"{page}_2", "created_time": "2026-10-15T00:00:00+0000"}
        return _scenario_page(req, [at_end, post], None)
    if page == "throttled":
        usage = {page: [{"type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 40,
                         "estimated_time_to_regain_access": 60}]}
        return Response(400, {"error": {"message": "(#80001) There have been too many calls to this Page account. "
                                        "Wait a bit and try again.", "type": "OAuthException", "code": 80001,
                                        "is_transient": True, "fbtrace_id": "Tr4ce"}},
                        {"X-Business-Use-Case-Usage": json.dumps(usage)})
    port = int(host.rsplit(":", 1)[1])
    elsewhere = {"other-host": f"http://127.0.0.2:{port}", "other-port": f"http://127.0.0.1:{port + 1}",
                 "other-scheme": f"https://127.0.0.1:{port}"}[page]
    return _scenario_page(req, [post], f"{elsewhere}{req.path}?after=QUZURVI%3D&access_token=echoed-token")


# --- helpers -----------------------------------------------------------------------------------
def make_client(sandbox, policy, token: str | None = None, base: str | None = None, **kw) -> FacebookClient:
    client = FacebookClient.from_settings(
        page_id=kw.pop("page_id", FACEBOOK_PAGE_ID), access_token=token or sandbox.credentials.facebook_token,
        base_url=base or f"{sandbox.url}/v24.0", policy=policy, **kw)
    client.urls = []  # every URL the client's session really requested
    client.session.hooks["response"].append(lambda r, *a, **k: client.urls.append(r.request.url))
    return client


def read_all(client: FacebookClient, stream: str, window: Window = WINDOW) -> list[dict]:
    pages = list(client.read(stream, window))
    spec = spec_by_name(client.STREAMS, stream)
    for page in pages:
        assert page and all(list(r) == spec.schema.names for r in page)
        pa.Table.from_pylist(page, schema=spec.schema)  # fits the declared schema
    return [r for page in pages for r in page]


def posts_in(world, window: Window, now: datetime):
    return [p for p in world.fb_posts if window.start_ts <= p.created_at < window.end_ts and p.created_at <= now]


def no_token_in_urls(sandbox, client) -> None:
    assert sandbox.query_params["facebook"]["access_token"] == 0
    assert client.urls and not any("access_token" in u or client.access_token in u for u in client.urls)


# --- data equals the world -----------------------------------------------------------------------
def test_posts_in_the_window_carry_the_lifetime_counters_as_of_the_sandbox_clock(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    rows = {r["post_id"]: r for r in read_all(client, "posts")}
    now = sandbox.now
    truth = posts_in(world, WINDOW, now)
    assert set(rows) == {p.id for p in truth} and len(truth) == 14
    for p in truth:
        shares = len(p.events_of("share", now))
        assert rows[p.id] == {
            "post_id": p.id, "snapshot_date": now.date(), "observed_at": now, "created_time": p.created_at,
            "message": p.text, "permalink_url": f"https://www.facebook.com/{FACEBOOK_PAGE_ID}/posts/{p.id.split('_')[1]}",
            "link": p.link, "reactions_total": len(p.events_of("reaction", now)),
            "comments_total": len(p.events_of("comment", now)), "shares_count": shares or None,
        }
    assert any(r["shares_count"] is None for r in rows.values()) and any(r["shares_count"] for r in rows.values())
    assert any(r["link"] is None for r in rows.values()) and any(r["link"] for r in rows.values())
    assert sandbox.requests["facebook.published_posts"] == 1
    no_token_in_urls(sandbox, client)


def test_moving_the_clock_earlier_lowers_counters_and_dates_the_snapshot_by_the_api(sandbox, world, fast_retries):
    late = {r["post_id"]: r for r in read_all(make_client(sandbox, fast_retries), "posts")}
    sandbox.now = datetime(2026, 10, 10, 12, 30, tzinfo=UTC)
    early = {r["post_id"]: r for r in read_all(make_client(sandbox, fast_retries), "posts")}
    truth = posts_in(world, WINDOW, sandbox.now)
    assert set(early) == {p.id for p in truth} and len(early) < len(late)
    for p in truth:
        row = early[p.id]
        assert row["snapshot_date"] == date(2026, 10, 10) and row["observed_at"] == sandbox.now
        assert row["reactions_total"] == len(p.events_of("reaction", sandbox.now))
        assert row["comments_total"] == len(p.events_of("comment", sandbox.now))
        assert row["shares_count"] == (len(p.events_of("share", sandbox.now)) or None)

    def total(rows):
        return sum(rows[k]["reactions_total"] + rows[k]["comments_total"] + (rows[k]["shares_count"] or 0) for k in early)

    assert total(early) < total(late)


def test_comments_of_the_window_posts_with_and_without_a_visible_author(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    rows = read_all(client, "comments")
    now = sandbox.now
    truth = {
        (f"{p.id.split('_')[1]}_{e.event_id}", p.id, e.ts.replace(microsecond=0), e.text,
         e.user_id if e.from_visible else None, world.fb_names[e.user_id] if e.from_visible else None, None)
        for p in posts_in(world, WINDOW, now) for e in p.events_of("comment", now)
    }
    got = {(r["comment_id"], r["post_id"], r["created_time"], r["message"], r["from_id"], r["from_name"], r["parent_id"])
           for r in rows}
    assert got == truth and len(rows) == len(truth) == 39
    assert sum(r["from_id"] is None for r in rows) == 4
    assert sandbox.requests["facebook.comments"] == 14
    no_token_in_urls(sandbox, client)


def test_reactions_are_who_reacted_how_observed_at_the_api_clock(sandbox, world, fast_retries):
    rows = read_all(make_client(sandbox, fast_retries), "reactions")
    now = sandbox.now
    truth = {(p.id, e.user_id, world.fb_names[e.user_id], e.reaction, now)
             for p in posts_in(world, WINDOW, now) for e in p.events_of("reaction", now)}
    assert {tuple(r.values()) for r in rows} == truth
    assert len(rows) == len(truth) == 284


def test_post_insights_are_views_one_metric_per_call(sandbox, world, fast_retries):
    rows = read_all(make_client(sandbox, fast_retries), "post_insights")
    now = sandbox.now
    truth = posts_in(world, WINDOW, now)
    expected = {(p.id, "post_media_view", "lifetime", now.date(),
                 sum(e.ts <= now for e in p.events) * p.impressions_per_interaction) for p in truth}
    assert {tuple(r.values()) for r in rows} == expected
    assert POST_INSIGHT_METRICS == ("post_media_view",)
    assert sandbox.requests["facebook.insights"] == len(truth) * len(POST_INSIGHT_METRICS)


def test_a_retired_insights_metric_fails_with_metas_100_error_and_no_retry(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, insight_metrics=("post_impressions",))
    with pytest.raises(ApiError, match=r"\(#100\) The value must be a valid insights metric") as caught:
        read_all(client, "post_insights")
    assert caught.value.source == "facebook" and caught.value.status == 400 and "insights" in caught.value.endpoint
    assert "(post_impressions was retired by Meta on 2025-11-15; its successor: post_media_view)" in str(caught.value)
    # posts are read several at a time: each was asked once, none again (a 400 is not retried)
    asked = [requests for (endpoint, _), (_, [requests]) in sandbox.usage.resources.items() if endpoint == "facebook.insights"]
    assert client.stats.retries == 0 and asked and set(asked) == {1}


# --- paging ------------------------------------------------------------------------------------
def test_small_pages_follow_paging_next_with_the_exact_request_count_and_no_token_in_any_url(sandbox, world, fast_retries):
    raw = requests.get(f"{sandbox.url}/v24.0/{FACEBOOK_PAGE_ID}/published_posts", params={"limit": 3, "since": 0},
                       headers={"Authorization": f"Bearer {sandbox.credentials.facebook_token}"}, timeout=5).json()
    assert "access_token=" in raw["paging"]["next"]  # the sandbox echoes the token like Meta: the client must strip it
    sandbox.requests.clear()

    client = make_client(sandbox, fast_retries, page_size=3)
    rows = read_all(client, "posts")
    truth = posts_in(world, WINDOW, sandbox.now)
    assert sorted(r["post_id"] for r in rows) == sorted(p.id for p in truth)
    assert sandbox.requests["facebook.published_posts"] == math.ceil(len(truth) / 3) == client.stats.requests

    client = make_client(sandbox, fast_retries, page_size=2)
    comments = read_all(client, "comments")
    per_post = [len(p.events_of("comment", sandbox.now)) for p in truth]
    assert len(comments) == sum(per_post)
    assert sandbox.requests["facebook.comments"] == sum(max(1, math.ceil(n / 2)) for n in per_post)
    assert sandbox.query_params["facebook"]["after"] > 0
    no_token_in_urls(sandbox, client)


@pytest.mark.parametrize("page", ["other-host", "other-port", "other-scheme"])
def test_a_paging_next_on_another_origin_is_refused_without_following_it(sandbox, fast_retries, page):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_fbtest/v24.0", page_id=page)
    with pytest.raises(ApiError, match="refusing paging.next on another origin") as caught:
        read_all(client, "posts")
    assert "echoed-token" not in str(caught.value) and "access_token" not in str(caught.value)
    assert sandbox.requests["fbtest.published_posts"] == 1 and len(client.urls) == 1


def test_empty_data_with_a_next_is_not_the_end_and_the_echoed_token_is_stripped(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_fbtest/v24.0", page_id="gaps")
    rows = read_all(client, "posts")
    assert [r["post_id"] for r in rows] == ["gaps_1"] and rows[0]["shares_count"] is None
    assert sandbox.requests["fbtest.published_posts"] == 3
    assert not any("access_token" in u or "echoed-token" in u for u in client.urls)


def test_a_post_created_exactly_at_the_window_end_belongs_to_the_next_window(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_fbtest/v24.0", page_id="boundary")
    assert [r["post_id"] for r in read_all(client, "posts")] == ["boundary_1"]
    assert [r["post_id"] for r in read_all(client, "posts", Window(date(2026, 10, 15), date(2026, 10, 16)))] == ["boundary_2"]


def test_the_sandbox_speaks_graph_token_param_usage_headers_and_field_errors(sandbox):
    url = f"{sandbox.url}/v24.0/{FACEBOOK_PAGE_ID}/published_posts"
    ok = requests.get(url, params={"access_token": sandbox.credentials.facebook_token, "limit": 2}, timeout=5)
    assert ok.status_code == 200 and len(ok.json()["data"]) == 2 and set(ok.json()["paging"]["cursors"]) == {"before", "after"}
    assert json.loads(ok.headers["X-App-Usage"])["call_count"] >= 0
    assert json.loads(ok.headers["X-Business-Use-Case-Usage"])[FACEBOOK_PAGE_ID][0]["estimated_time_to_regain_access"] == 0
    missing = requests.get(url, timeout=5).json()["error"]
    assert missing["code"] == 104 and missing["type"] == "OAuthException" and missing["fbtrace_id"]
    unknown = requests.get(url, params={"access_token": sandbox.credentials.facebook_token, "fields": "id,impressions"}, timeout=5)
    assert unknown.status_code == 400 and unknown.json()["error"]["message"].startswith("(#100) Tried accessing nonexisting field (impressions)")
    assert sandbox.query_params["facebook"]["access_token"] == 2


def test_an_empty_window_yields_nothing_after_one_request(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries)
    empty = Window(date(2026, 9, 1), date(2026, 9, 8))
    for stream in ("posts", "comments", "reactions", "post_insights"):
        assert list(client.read(stream, empty)) == []
    assert sandbox.requests["facebook.published_posts"] == 4
    assert sandbox.requests["facebook.comments"] == sandbox.requests["facebook.insights"] == 0


# --- throttling and transport faults -----------------------------------------------------------
@pytest.mark.parametrize("code, status", [(4, 400), (17, 400), (32, 400), (613, 400), (80001, 400), (341, 400), (4, 403)])
def test_meta_throttle_codes_in_a_4xx_body_are_retried_then_succeed(sandbox, world, fast_retries, code, status):
    sandbox.faults.add(FaultRule(endpoint="facebook.published_posts", kind="throttle", code=code, status=status, times=2))
    client = make_client(sandbox, fast_retries)
    assert len(read_all(client, "posts")) == len(posts_in(world, WINDOW, sandbox.now))
    assert sandbox.requests["facebook.published_posts"] == 3 and client.stats.retries == 2


def test_a_throttle_wait_named_by_meta_beyond_the_ceiling_fails_at_once(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, base=f"{sandbox.url}/_fbtest/v24.0", page_id="throttled")
    began = time.monotonic()
    with pytest.raises(ApiError, match="throttled for 3600 s"):
        read_all(client, "posts")
    assert time.monotonic() - began < 2 and sandbox.requests["fbtest.published_posts"] == 1


def _graph_response(status: int, error: dict, usage: dict | None = None) -> tuple[requests.Response, dict]:
    response = requests.Response()
    response.status_code = status
    if usage is not None:
        response.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
    return response, {"error": error}


@pytest.mark.parametrize(
    "status, error, usage, wait",
    [
        (400, {"code": 80001}, {"1": [{"type": "pages", "estimated_time_to_regain_access": 2}]}, 120.0),
        (403, {"code": 32}, {"1": [{"estimated_time_to_regain_access": 0}], "2": [{"estimated_time_to_regain_access": 1}]}, 60.0),
        (400, {"code": 4}, {"1": [{"estimated_time_to_regain_access": 0}]}, 0.0),
        (400, {"code": 613}, None, 0.0),
        (400, {"code": 17}, "not json", 0.0),
        (400, {"code": 190}, None, None),
        (400, {"code": 100}, None, None),
        (500, {"code": 4}, None, None),
    ],
)
def test_throttle_wait_reads_the_business_use_case_header(status, error, usage, wait):
    response, body = _graph_response(status, error, usage if isinstance(usage, dict) else None)
    if usage == "not json":
        response.headers["X-Business-Use-Case-Usage"] = "{broken"
    assert FacebookClient(base_url="https://graph.facebook.com/v24.0").throttle_wait(response, body) == wait


def test_429_with_retry_after_is_waited(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="facebook.published_posts", kind="429", retry_after="1"))
    client = make_client(sandbox, fast_retries)
    began = time.monotonic()
    assert read_all(client, "posts")
    assert 1.0 <= time.monotonic() - began < 3
    assert sandbox.requests["facebook.published_posts"] == 2


@pytest.mark.parametrize("kind", ["5xx", "drop", "truncate", "bad_json"])
def test_transient_faults_are_retried_and_the_answer_is_whole(sandbox, world, fast_retries, kind):
    sandbox.faults.add(FaultRule(endpoint="facebook.comments", kind=kind, times=2))
    client = make_client(sandbox, fast_retries)
    rows = read_all(client, "comments")
    assert len(rows) == sum(len(p.events_of("comment", sandbox.now)) for p in posts_in(world, WINDOW, sandbox.now))
    assert sandbox.requests["facebook.comments"] == 14 + 2


def test_a_persistent_5xx_ends_in_one_error_naming_source_endpoint_and_status(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="facebook.published_posts", kind="5xx", times=None))
    with pytest.raises(ApiError, match=r"facebook: published_posts failed \(HTTP 503\): \(#2\) Service temporarily unavailable"):
        read_all(make_client(sandbox, fast_retries), "posts")
    assert sandbox.requests["facebook.published_posts"] == fast_retries.total + 1


# --- schema drift ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "endpoint, stream, kind, field, named",
    [
        ("facebook.published_posts", "posts", "missing_field", "created_time", "created_time"),
        ("facebook.published_posts", "posts", "missing_field", "reactions.summary", "reactions.summary.total_count"),
        ("facebook.published_posts", "posts", "wrong_type", "comments.summary.total_count", "comments.summary.total_count"),
        ("facebook.published_posts", "comments", "missing_field", "id", "id"),
        ("facebook.comments", "comments", "missing_field", "id", "id"),
        ("facebook.comments", "comments", "wrong_type", "from.id", "from.id"),
        ("facebook.reactions", "reactions", "missing_field", "type", "type"),
        ("facebook.insights", "post_insights", "missing_field", "values", "values"),
        ("facebook.insights", "post_insights", "wrong_type", "name", "name"),
    ],
)
def test_a_missing_or_mistyped_required_field_is_a_schema_error_naming_it(sandbox, fast_retries, endpoint, stream, kind, field, named):
    sandbox.faults.add(FaultRule(endpoint=endpoint, kind=kind, field=field))
    with pytest.raises(SchemaError) as caught:
        read_all(make_client(sandbox, fast_retries), stream)
    assert caught.value.source == "facebook" and caught.value.stream == stream and caught.value.field == named
    assert f"'{named}'" in str(caught.value)


def test_unknown_fields_are_ignored(sandbox, fast_retries):
    streams = ("posts", "comments", "reactions", "post_insights")
    clean = {s: read_all(make_client(sandbox, fast_retries), s) for s in streams}
    sandbox.faults.add(FaultRule(endpoint="facebook.*", kind="extra_fields", times=None))
    assert {s: read_all(make_client(sandbox, fast_retries), s) for s in streams} == clean


@pytest.mark.parametrize("stream, endpoint, key", [("posts", "facebook.published_posts", ("post_id", "snapshot_date")),
                                                   ("reactions", "facebook.reactions", ("post_id", "user_id"))])
def test_overlapping_pages_give_the_true_key_set_without_duplicates(sandbox, fast_retries, stream, endpoint, key):
    truth = {tuple(r[k] for k in key) for r in read_all(make_client(sandbox, fast_retries), stream)}
    sandbox.faults.add(FaultRule(endpoint=endpoint, kind="overlap", rows=2, times=None))
    rows = read_all(make_client(sandbox, fast_retries, page_size=8), stream)
    keys = [tuple(r[k] for k in key) for r in rows]
    assert set(keys) == truth and len(keys) == len(truth)


# --- credentials and settings ------------------------------------------------------------------
def test_a_wrong_token_is_metas_190_message_after_one_request_and_never_leaks(sandbox, fast_retries):
    secret = "EAAB-wrong-page-token-0123456789"
    client = make_client(sandbox, fast_retries, token=secret)
    with pytest.raises(ApiError) as caught:
        read_all(client, "posts")
    text = str(caught.value)
    assert "Invalid OAuth access token - Cannot parse access token" in text and "code 190" in text
    assert "FACEBOOK_ACCESS_TOKEN" in text and caught.value.status == 400
    assert secret not in text and secret not in repr(caught.value.args)
    assert sandbox.requests["facebook.published_posts"] == 1 and client.stats.requests == 1
    assert client.urls and not any(secret in u or "access_token" in u for u in client.urls)
    assert sandbox.query_params["facebook"]["access_token"] == 0


def test_settings_validate_the_graph_url_and_default_to_graph_facebook_com():
    client = FacebookClient.from_settings(page_id="1", access_token="t", base_url=None)
    assert client.base_url == "https://graph.facebook.com/v24.0"
    assert client.auth_headers() == {"Authorization": "Bearer t"} and client.secrets() == ("t",)
    with pytest.raises(ConfigError, match="FACEBOOK_GRAPH_URL"):
        FacebookClient.from_settings(page_id="1", access_token="t", base_url="http://graph.example.com/v24.0")


def test_streams_declare_keys_and_unknown_streams_are_refused(sandbox, fast_retries):
    specs = {s.name: s for s in FacebookClient.STREAMS}
    assert {n: s.primary_key for n, s in specs.items()} == {
        "posts": ("post_id", "snapshot_date"), "comments": ("comment_id",), "reactions": ("post_id", "user_id"),
        "post_insights": ("post_id", "metric", "snapshot_date"), "tags": ("tag_post_id",)}
    assert specs["posts"].schema.field("shares_count").nullable and specs["posts"].schema.field("observed_at").type == pa.timestamp("us", tz="UTC")
    with pytest.raises(KeyError):
        list(make_client(sandbox, fast_retries).read("page_fans", WINDOW))


# --- tags: posts by others in which the Page is tagged (counted as mentions) --------------------
def test_tags_equal_the_worlds_and_page_by_next_url(sandbox, world, fast_retries):
    client = make_client(sandbox, fast_retries)
    client.page_size = 4
    tags = [r for page in client.read("tags", Window(world.start, world.end)) for r in page]
    expected = sorted(t["id"] for t in world.fb_tags if t["created_at"] <= sandbox.now)
    assert sorted(t["tag_post_id"] for t in tags) == expected and len(expected) == 21
    assert sandbox.requests["facebook.tagged"] == 6  # 21 tags, 4 a page: the last page has no paging.next
    assert {t["created_time"] for t in tags} == {t["created_at"] for t in world.fb_tags}


def test_tags_of_an_empty_window_are_nothing(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries)
    assert list(client.read("tags", Window(date(2025, 1, 1), date(2025, 1, 8)))) == []
    assert sandbox.requests["facebook.tagged"] == 1


@pytest.mark.parametrize("rule", [FaultRule("facebook.tagged", "throttle", code=32), FaultRule("facebook.tagged", "5xx", times=2),
                                  FaultRule("facebook.tagged", "drop")], ids=["throttle-32", "5xx", "drop"])
def test_tags_wait_out_throttling_5xx_and_drops(sandbox, world, fast_retries, rule):
    window = Window(world.start, world.end)
    clean = sorted(map(repr, (r for p in make_client(sandbox, fast_retries).read("tags", window) for r in p)))
    sandbox.faults.add(rule)
    client = make_client(sandbox, fast_retries)
    assert sorted(map(repr, (r for p in client.read("tags", window) for r in p))) == clean
    assert client.stats.retries >= 1
