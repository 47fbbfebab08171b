"""The sandbox's latency and each API's documented limits: a request beyond a limit gets that API's
own throttling error, and /_sandbox/limits records the peaks (what tests/connectors/test_concurrency_limits.py reads)."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from connectors.sandbox import api_ga4, api_hubspot, api_mailchimp
from connectors.sandbox.server import Limits, Rate, SandboxServer
from connectors.sandbox.world import FACEBOOK_PAGE_ID, GA4_PROPERTY_ID, World, WorldConfig


@pytest.fixture(scope="module")
def tiny() -> World:
    return World(WorldConfig(seed=7, people=40, days=7))


def auth(server: SandboxServer, api: str) -> dict[str, str]:
    c = server.credentials
    if api == "mailchimp":
        return {"auth": ("anystring", c.mailchimp_key)}
    token = {"ga4": c.ga4_token, "hubspot": c.hubspot_token, "facebook": c.facebook_token}[api]
    return {"headers": {"Authorization": f"Bearer {token}"}}


def call(server: SandboxServer, api: str) -> requests.Response:
    if api == "mailchimp":
        return requests.get(f"{server.url}/3.0/campaigns", params={"count": 1}, timeout=30, **auth(server, api))
    if api == "ga4":
        body = {"dateRanges": [{"startDate": "2026-10-01", "endDate": "2026-10-07"}], "dimensions": [{"name": "date"}],
                "metrics": [{"name": "sessions"}], "limit": 1}
        return requests.post(f"{server.url}/v1beta/properties/{GA4_PROPERTY_ID}:runReport", json=body, timeout=30,
                             **auth(server, api))
    if api == "hubspot":
        return requests.get(f"{server.url}/crm/v3/objects/contacts", params={"limit": 1}, timeout=30, **auth(server, api))
    if api == "hubspot-search":
        return requests.post(f"{server.url}/crm/v3/objects/contacts/search", json={"limit": 1}, timeout=30,
                             **auth(server, "hubspot"))
    return requests.get(f"{server.url}/v24.0/{FACEBOOK_PAGE_ID}/tagged", timeout=30, **auth(server, "facebook"))


def all_at_once(server: SandboxServer, api: str, n: int) -> list[requests.Response]:
    answers: list[requests.Response] = []
    start = threading.Barrier(n)

    def one() -> None:
        start.wait()
        answers.append(call(server, api))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.mark.parametrize("api, limit", [("mailchimp", api_mailchimp.limits(None).concurrent),
                                        ("ga4", api_ga4.CONCURRENT_REQUESTS)])
def test_one_request_beyond_the_simultaneous_limit_gets_the_apis_own_429_and_the_peak_is_recorded(tiny, api, limit):
    assert limit == 10  # Mailchimp's connections per user, GA4's concurrent requests per property
    with SandboxServer(tiny, latency=1.0) as server:  # each answer held 1 s: all of them overlap
        answers = all_at_once(server, api, limit + 2)
        report = requests.get(f"{server.url}/_sandbox/limits", timeout=5).json()
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 2 and sum(a.status_code == 200 for a in answers) == limit
    body = refused[0].json()
    if api == "mailchimp":
        assert body["title"] == "Too Many Requests" and "10 simultaneous connections" in body["detail"] and body["status"] == 429
        assert "Retry-After" not in refused[0].headers
    else:
        assert body["error"]["code"] == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
    usage = report["apis"][api]
    assert usage["concurrent_limit"] == limit and usage["peak_concurrent"] == limit + 2 and usage["throttled"] == 2
    assert report["latency_ms"] == 1000


def test_hubspot_beyond_its_ten_second_and_its_search_rates_answers_its_rate_limit_body(tiny):
    with SandboxServer(tiny) as server:
        server.limits["hubspot"] = Limits(rates=(Rate(3, 60.0, "hubspot.*", "TEN_SECONDLY_ROLLING"),
                                                 Rate(2, 60.0, "hubspot.search", "SECONDLY")))
        search = [call(server, "hubspot-search") for _ in range(3)]
        listing = [call(server, "hubspot") for _ in range(2)]
        report = server.limits_report()["apis"]["hubspot"]
    assert [a.status_code for a in search] == [200, 200, 429]
    assert search[2].json()["policyName"] == "SECONDLY" and search[2].json()["errorType"] == "RATE_LIMIT"
    assert [a.status_code for a in listing] == [200, 429]  # the two searches count towards the 10-second limit too
    assert listing[1].json() | {"correlationId": "x"} == {
        "status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT",
        "correlationId": "x", "policyName": "TEN_SECONDLY_ROLLING", "groupName": "publicapi"}
    assert report["throttled"] == 2 and [r["peak"] for r in report["rates"]] == [3, 2]


def test_hubspots_documented_figures_and_a_rolling_window():
    assert (api_hubspot.BURST.calls, api_hubspot.BURST.seconds) == (100, 10.0)
    assert (api_hubspot.SEARCH.calls, api_hubspot.SEARCH.seconds, api_hubspot.SEARCH.endpoints) == (4, 1.0, "hubspot.search")


def test_meta_beyond_the_pages_rate_answers_code_80001_with_the_wait_in_the_usage_header(tiny):
    with SandboxServer(tiny) as server:
        engaged = len({e.user_id for p in tiny.fb_posts for e in p.events})
        assert server.limits["facebook"].rates[0].calls == 4800 * engaged  # Meta's Page limit per 24 hours
        server.limits["facebook"] = Limits(rates=(Rate(2, 3600.0, "facebook.*", "pages"),))
        answers = [call(server, "facebook") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 400]
    error = answers[2].json()["error"]
    assert error["code"] == 80001 and error["is_transient"] is True and error["message"].startswith("(#80001)")
    usage = answers[2].headers["X-Business-Use-Case-Usage"]
    assert FACEBOOK_PAGE_ID in usage and '"estimated_time_to_regain_access": 60' in usage


def test_latency_holds_each_answer_without_holding_the_others_and_control_endpoints_answer_at_once(tiny):
    with SandboxServer(tiny, latency=0.4) as server:
        began = time.monotonic()
        answers = all_at_once(server, "mailchimp", 5)
        assert time.monotonic() - began >= 0.4 and all(a.status_code == 200 for a in answers)
        assert server.limits_report()["apis"]["mailchimp"]["peak_concurrent"] == 5  # held together, not one by one
        began = time.monotonic()
        assert requests.post(f"{server.url}/_sandbox/latency", json={"ms": 0}, timeout=5).json() == {"latency_ms": 0}
        requests.post(f"{server.url}/_sandbox/limits", json={"reset": True}, timeout=5)
        assert server.limits_report()["apis"]["mailchimp"]["peak_concurrent"] == 0 and server.latency == 0


def test_the_report_names_each_resource_read_and_its_pages(tiny):
    with SandboxServer(tiny) as server:
        for offset in (0, 1, 1):
            requests.get(f"{server.url}/3.0/campaigns", params={"count": 1, "offset": offset, "status": "sent"},
                         timeout=5, **auth(server, "mailchimp"))
        resources = server.limits_report()["resources"]
    # paging parameters name the page, not the resource: two pages, one of them asked twice
    assert resources == [["mailchimp.campaigns", "/3.0/campaigns?status=sent", 2, 3]]
