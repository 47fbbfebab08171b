"""Mailchimp connector against the sandbox: every stream equals the world, paging, faults, auth.

Expected figures are computed here straight from the `world` fixture, never through the API.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest
import requests

from connectors.http import ApiError, ConfigError, SchemaError
from connectors.mailchimp import MailchimpClient
from connectors.sandbox.faults import FaultRule
from connectors.streams import Window, page_records

WINDOW = Window(date(2026, 10, 1), date(2026, 10, 15))
EMPTY = Window(date(2027, 1, 1), date(2027, 1, 5))
UTC = timezone.utc


# --- helpers ---------------------------------------------------------------------------------
def make_client(sandbox, policy=None, **kw) -> MailchimpClient:
    if policy is not None:
        kw["policy"] = policy
    return MailchimpClient.from_settings(api_key=sandbox.credentials.mailchimp_key, base_url=f"{sandbox.url}/3.0", **kw)


def rows_of(client: MailchimpClient, stream: str, window: Window = WINDOW) -> list[dict]:
    spec = next(s for s in client.STREAMS if s.name == stream)
    rows = []
    for page in map(page_records, client.read(stream, window)):
        assert page, "no empty pages"
        assert all(set(r) == set(spec.schema.names) for r in page)
        pa.Table.from_pylist(page, schema=spec.schema)  # every page fits the declared schema
        rows += page
    return rows


def md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def sends_in(world, now, window: Window = WINDOW):
    return [s for s in world.sends if window.start_ts <= s.send_time < window.end_ts and s.send_time <= now]


def activity_truth(world, now, window: Window = WINDOW) -> Counter:
    """(campaign, email_id, action, timestamp to the second, url) for activity since the window start."""
    return Counter(
        (s.id, md5(a.email), a.action, a.ts.replace(microsecond=0), a.url)
        for s in sends_in(world, now, window) for a in s.activity if window.start_ts <= a.ts <= now
    )


def activity_key(row: dict) -> tuple:
    return (row["campaign_id"], row["email_id"], row["action"], row["timestamp"], row["url"])


def members_truth(world, now, cursor: datetime | None = None) -> set[tuple[str, str]]:
    return {(lst.id, md5(m["email"])) for lst in world.lists for m in lst.members
            if m["timestamp_opt"] <= now and (cursor is None or m["last_changed"] >= cursor)}


def pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))


# --- streams equal the world -----------------------------------------------------------------
def test_campaigns_sent_in_the_window_with_tracking_verbatim_and_the_ab_test(sandbox, world):
    rows = rows_of(make_client(sandbox), "campaigns")
    sends = sends_in(world, sandbox.now)
    assert len(rows) == len(sends) == 7
    by_id = {r["id"]: r for r in rows}
    assert [r["id"] for r in rows] == [s.id for s in sends]  # sorted by send time
    for s in sends:
        r = by_id[s.id]
        assert (r["web_id"], r["status"], r["list_id"], r["title"], r["subject_line"]) == (s.web_id, "sent", s.list_id, s.title, s.subject)
        assert (r["send_time"], r["create_time"], r["emails_sent"]) == (s.send_time, s.create_time, len(s.recipients))
        assert r["tracking_utm"] == s.tracking  # spaces and case kept
    assert any(r["tracking_utm"] != r["tracking_utm"].strip() for r in rows)
    variate = [s for s in sends if s.variate]
    assert len(variate) == 1
    r = by_id[variate[0].id]
    combos = json.loads(r["variate_combinations"])
    assert r["type"] == "variate" and len(combos) == 2 and r["variate_winner"] in {c["id"] for c in combos}
    assert all(x["type"] == "regular" and x["variate_combinations"] is None and x["variate_winner"] is None
               for x in rows if x["id"] != variate[0].id)


def test_email_activity_rows_equal_the_world_activity_since_the_window_start(sandbox, world):
    rows = rows_of(make_client(sandbox), "email_activity")
    truth = activity_truth(world, sandbox.now)
    assert len(rows) == sum(truth.values()) == 1156
    assert Counter(activity_key(r) for r in rows) == truth
    assert len({r["activity_id"] for r in rows}) == len(rows)  # the natural key is unique and never NULL
    sends = {s.id: s for s in sends_in(world, sandbox.now)}
    openers: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        assert r["email_address"] in sends[r["campaign_id"]].recipients  # verbatim, case kept
        assert r["list_id"] == sends[r["campaign_id"]].list_id
        assert (r["bounce_type"] is not None) == (r["action"] == "bounce")
        assert (r["ip"] is None) == (r["action"] == "bounce")
        if r["action"] == "open":
            openers[r["campaign_id"]].add(r["email_id"])
    for s in sends.values():
        assert len(openers[s.id]) == len({a.email for a in s.activity if a.action == "open" and a.ts <= sandbox.now})


def test_activity_before_the_window_start_is_not_read(sandbox, world):
    window = Window(date(2026, 10, 3), date(2026, 10, 10))
    rows = rows_of(make_client(sandbox), "email_activity", window)
    assert Counter(activity_key(r) for r in rows) == activity_truth(world, sandbox.now, window)
    assert min(r["timestamp"] for r in rows) >= window.start_ts


def test_reports_figures_equal_the_activity(sandbox, world):
    client = make_client(sandbox)
    reports = {r["campaign_id"]: r for r in rows_of(client, "reports")}
    activity = rows_of(client, "email_activity")
    sends = sends_in(world, sandbox.now)
    assert set(reports) == {s.id for s in sends}
    for s in sends:
        r = reports[s.id]
        mine = [a for a in activity if a["campaign_id"] == s.id]
        # the activity is read with filter_bots: people's own opens, the report's proxy-excluded figures
        human_opens = [a for a in mine if a["action"] == "open"]
        human_unique_opens = len({a["email_id"] for a in human_opens})
        machine = [a for a in s.machine_opens if a.ts <= sandbox.now]
        unique_opens = len({a["email_id"] for a in human_opens} | {md5(a.email) for a in machine})
        clickers = len({a["email_id"] for a in mine if a["action"] == "click"})
        hard = sum(1 for a in s.activity if a.action == "bounce" and a.bounce_type == "hard")
        soft = sum(1 for a in s.activity if a.action == "bounce" and a.bounce_type == "soft")
        delivered = len(s.recipients) - hard - soft
        assert (r["proxy_excluded_unique_opens"], r["proxy_excluded_opens"]) == (human_unique_opens, len(human_opens))
        assert (r["unique_opens"], r["opens_total"]) == (unique_opens, len(human_opens) + len(machine))
        assert (r["hard_bounces"], r["soft_bounces"], r["syntax_errors"]) == (hard, soft, 0)
        assert r["unique_subscriber_clicks"] == clickers
        assert r["open_rate"] == pytest.approx(unique_opens / delivered)
        assert r["proxy_excluded_open_rate"] == pytest.approx(human_unique_opens / delivered)
        assert r["click_rate"] == pytest.approx(clickers / delivered)
        assert (r["emails_sent"], r["unsubscribed"], r["list_id"], r["send_time"]) == (len(s.recipients), s.unsubscribed, s.list_id, s.send_time)
        assert r["last_open"] == max([a["timestamp"] for a in human_opens] + [a.ts.replace(microsecond=0) for a in machine])
    # Apple Mail readers who never opened an email themselves: openers only to all-opens figures
    assert sum(r["unique_opens"] - r["proxy_excluded_unique_opens"] for r in reports.values()) == 188


def test_recipients_are_every_address_each_campaign_went_to(sandbox, world):
    rows = rows_of(make_client(sandbox), "recipients")
    sends = sends_in(world, sandbox.now)
    assert len(rows) == sum(len(s.recipients) for s in sends) == 1080
    assert {(r["campaign_id"], r["email_id"]) for r in rows} == {(s.id, md5(e)) for s in sends for e in s.recipients}
    bounced = {(s.id, md5(a.email)): a.bounce_type for s in sends for a in s.activity if a.action == "bounce"}
    assert {(r["campaign_id"], r["email_id"]): r["status"] for r in rows if r["status"] != "sent"} == bounced


def test_list_members_whole_then_since_a_cursor(sandbox, world):
    client = make_client(sandbox)
    whole = rows_of(client, "list_members")
    assert {(r["list_id"], r["id"]) for r in whole} == members_truth(world, sandbox.now)
    assert len(whole) == len(members_truth(world, sandbox.now)) == 301
    assert Counter(r["status"] for r in whole) == Counter(m["status"] for lst in world.lists for m in lst.members)
    cursor = datetime(2026, 10, 15, 12, tzinfo=UTC)
    recent = rows_of(client, "list_members", WINDOW.with_cursor(cursor))
    expected = members_truth(world, sandbox.now, cursor)
    assert 0 < len(recent) == len(expected) < len(whole)
    assert {(r["list_id"], r["id"]) for r in recent} == expected
    assert min(r["last_changed"] for r in recent) >= cursor


def test_pages_of_fifty_take_exactly_the_requests_total_items_implies(sandbox, world):
    client = make_client(sandbox, page_size=50)
    now = sandbox.now
    sends = sends_in(world, now)
    activity = rows_of(client, "email_activity")
    assert Counter(activity_key(r) for r in activity) == activity_truth(world, now)
    with_activity = [len({a.email for a in s.activity if WINDOW.start_ts <= a.ts <= now}) for s in sends]
    assert sandbox.requests["mailchimp.campaigns"] == 1
    assert sandbox.requests["mailchimp.email_activity"] == sum(pages(n, 50) for n in with_activity) > len(sends)
    recipients = rows_of(client, "recipients")
    assert len(recipients) == sum(len(s.recipients) for s in sends)
    assert sandbox.requests["mailchimp.sent_to"] == sum(pages(len(s.recipients), 50) for s in sends)
    members = rows_of(client, "list_members")
    assert len(members) == len(members_truth(world, now))
    assert sandbox.requests["mailchimp.lists"] == 1
    assert sandbox.requests["mailchimp.members"] == sum(pages(sum(m["timestamp_opt"] <= now for m in lst.members), 50) for lst in world.lists)
    assert client.stats.pages >= sandbox.requests["mailchimp.sent_to"]


def test_campaigns_and_reports_follow_offset_until_total_items(sandbox, world):
    client = make_client(sandbox, page_size=3)
    assert [r["id"] for r in rows_of(client, "campaigns")] == [s.id for s in sends_in(world, sandbox.now)]
    assert len(rows_of(client, "reports")) == 7
    assert sandbox.requests["mailchimp.campaigns"] == sandbox.requests["mailchimp.reports"] == 3  # 3 + 3 + 1


def test_an_empty_window_yields_nothing_and_asks_only_for_campaigns(sandbox):
    client = make_client(sandbox)
    for stream in ("campaigns", "reports", "email_activity", "recipients"):
        assert list(client.read(stream, EMPTY)) == []
    assert sandbox.requests["mailchimp.email_activity"] == sandbox.requests["mailchimp.sent_to"] == 0
    assert sandbox.requests["mailchimp.campaigns"] == 3 and sandbox.requests["mailchimp.reports"] == 1


def test_closing_the_activity_stream_early_stops_the_workers(sandbox):
    client = make_client(sandbox, page_size=10)
    stream = client.read("email_activity", WINDOW)
    assert next(stream)
    began = time.monotonic()
    stream.close()
    assert time.monotonic() - began < 5
    requests_then = sandbox.requests["mailchimp.email_activity"]
    time.sleep(0.3)
    assert sandbox.requests["mailchimp.email_activity"] == requests_then


# --- faults ----------------------------------------------------------------------------------
def test_429_without_headers_is_retried_with_backoff(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="mailchimp.email_activity", kind="429", times=2))
    client = make_client(sandbox, fast_retries)
    rows = rows_of(client, "email_activity")
    assert Counter(activity_key(r) for r in rows) == activity_truth(world, sandbox.now)
    assert sandbox.requests["mailchimp.email_activity"] == 7 + 2
    assert client.stats.retries == 2


def test_a_burst_of_5xx_then_success(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="mailchimp.campaigns", kind="5xx", status=503, times=3))
    rows = rows_of(make_client(sandbox, fast_retries), "campaigns")
    assert len(rows) == len(sends_in(world, sandbox.now))
    assert sandbox.requests["mailchimp.campaigns"] == 4


@pytest.mark.parametrize("kind", ["drop", "truncate", "bad_json"])
def test_broken_answers_are_retried_and_the_data_is_right(sandbox, world, fast_retries, kind):
    sandbox.faults.add(FaultRule(endpoint="mailchimp.email_activity", kind=kind, times=1))
    sandbox.faults.add(FaultRule(endpoint="mailchimp.sent_to", kind=kind, times=1))
    client = make_client(sandbox, fast_retries)
    assert Counter(activity_key(r) for r in rows_of(client, "email_activity")) == activity_truth(world, sandbox.now)
    assert len(rows_of(client, "recipients")) == sum(len(s.recipients) for s in sends_in(world, sandbox.now))
    assert sandbox.requests["mailchimp.email_activity"] == sandbox.requests["mailchimp.sent_to"] == 7 + 1


def test_persistent_503_fails_naming_source_endpoint_and_status(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="mailchimp.campaigns", kind="5xx", status=503, times=None))
    with pytest.raises(ApiError) as caught:
        rows_of(make_client(sandbox, fast_retries), "campaigns")
    assert caught.value.status == 503 and caught.value.source == "mailchimp"
    assert "mailchimp: /campaigns failed (HTTP 503): Service Unavailable" in str(caught.value)
    assert sandbox.requests["mailchimp.campaigns"] == fast_retries.total + 1


def test_persistent_503_on_one_campaigns_activity_names_that_endpoint(sandbox, world, fast_retries):
    first = sends_in(world, sandbox.now)[0].id
    sandbox.faults.add(FaultRule(endpoint="mailchimp.email_activity", kind="5xx", status=503, times=None))
    with pytest.raises(ApiError, match=rf"mailchimp: /reports/{first}/email-activity failed \(HTTP 503\)"):
        rows_of(make_client(sandbox, fast_retries, workers=1), "email_activity")
    assert sandbox.requests["mailchimp.email_activity"] == fast_retries.total + 1


@pytest.mark.parametrize(
    "endpoint, stream, kind, field",
    [
        ("mailchimp.email_activity", "email_activity", "missing_field", "email_address"),
        ("mailchimp.email_activity", "email_activity", "missing_field", "activity.0.action"),
        ("mailchimp.email_activity", "email_activity", "wrong_type", "activity.0.timestamp"),
        ("mailchimp.campaigns", "campaigns", "missing_field", "send_time"),
        ("mailchimp.campaigns", "campaigns", "wrong_type", "web_id"),
        ("mailchimp.reports", "reports", "missing_field", "opens.unique_opens"),
        ("mailchimp.sent_to", "recipients", "missing_field", "email_id"),
        ("mailchimp.members", "list_members", "missing_field", "last_changed"),
    ],
)
def test_a_missing_or_mistyped_required_field_is_an_error_naming_it(sandbox, endpoint, stream, kind, field):
    sandbox.faults.add(FaultRule(endpoint=endpoint, kind=kind, field=field))
    with pytest.raises(SchemaError) as caught:
        rows_of(make_client(sandbox), stream)
    assert (caught.value.source, caught.value.stream, caught.value.field) == ("mailchimp", stream, field)
    assert f"mailchimp.{stream}: required field '{field}'" in str(caught.value)


def test_unknown_extra_fields_are_ignored(sandbox, world):
    sandbox.faults.add(FaultRule(endpoint="mailchimp.*", kind="extra_fields", times=None))
    client = make_client(sandbox, page_size=50)
    assert Counter(activity_key(r) for r in rows_of(client, "email_activity")) == activity_truth(world, sandbox.now)
    assert len(rows_of(client, "campaigns")) == len(rows_of(client, "reports")) == 7
    assert len(rows_of(client, "recipients")) == 1080
    assert len(rows_of(client, "list_members")) == 301


@pytest.mark.parametrize("times", [None, 2, 3])
def test_offset_drift_repeats_records_but_the_key_set_equals_the_world(sandbox, world, times):
    sandbox.faults.add(FaultRule(endpoint="mailchimp.email_activity", kind="overlap", rows=2, times=times))
    sandbox.faults.add(FaultRule(endpoint="mailchimp.sent_to", kind="overlap", rows=3, times=times))
    # a fault that fires a few times must hit pages past the first: one campaign at a time
    client = make_client(sandbox, page_size=50, workers=4 if times is None else 1)
    activity = rows_of(client, "email_activity")
    truth = activity_truth(world, sandbox.now)
    assert len(activity) > sum(truth.values())  # the repeats arrive ...
    assert set(Counter(activity_key(r) for r in activity)) == set(truth)  # ... and nothing is skipped
    assert len({r["activity_id"] for r in activity}) == sum(truth.values())
    recipients = rows_of(client, "recipients")
    sends = sends_in(world, sandbox.now)
    assert len(recipients) > sum(len(s.recipients) for s in sends)
    assert {(r["campaign_id"], r["email_id"]) for r in recipients} == {(s.id, md5(e)) for s in sends for e in s.recipients}


# --- auth and configuration ------------------------------------------------------------------
def test_a_wrong_key_fails_at_once_with_mailchimps_message_and_no_key(sandbox, fast_retries):
    key = "feedfacefeedfacefeedfacefeedface-us21"
    client = MailchimpClient.from_settings(api_key=key, base_url=f"{sandbox.url}/3.0", policy=fast_retries)
    with pytest.raises(ApiError) as caught:
        rows_of(client, "email_activity")
    text = str(caught.value)
    assert caught.value.status == 401
    assert "API Key Invalid: Your API key may be invalid, or you've attempted to access the wrong datacenter." in text
    assert sum(sandbox.requests.values()) == 1
    assert key not in text and key.split("-")[0] not in text
    assert base64.b64encode(f"anystring:{key}".encode()).decode() not in text
    assert key not in repr(client)


def test_auth_is_basic_with_the_key_as_password_and_both_forms_are_secrets(sandbox):
    client = make_client(sandbox)
    key = sandbox.credentials.mailchimp_key
    header = client.auth_headers()["Authorization"]
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode().split(":", 1)[1] == key
    assert set(client.secrets()) == {key, header[6:]}
    other_user = base64.b64encode(f"someone-else:{key}".encode()).decode()
    answer = requests.get(f"{sandbox.url}/3.0/lists", headers={"Authorization": f"Basic {other_user}"}, timeout=5)
    assert answer.status_code == 200  # any username will do
    assert requests.get(f"{sandbox.url}/3.0/lists", timeout=5).json()["title"] == "API Key Invalid"


@pytest.mark.parametrize("key", ["0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef-", "secret-key-!!"])
def test_a_key_without_a_data_centre_is_a_config_error_that_does_not_echo_it(key):
    with pytest.raises(ConfigError, match="MAILCHIMP_API_KEY") as caught:
        MailchimpClient.from_settings(api_key=key)
    assert key not in str(caught.value)


def test_base_url_defaults_to_the_keys_data_centre_and_an_override_is_validated():
    key = "0123456789abcdef0123456789abcdef-us7"
    assert MailchimpClient.from_settings(api_key=key).base_url == "https://us7.api.mailchimp.com/3.0"
    assert MailchimpClient.from_settings(api_key=key, base_url="https://proxy.example/3.0/").base_url == "https://proxy.example/3.0"
    with pytest.raises(ConfigError, match="MAILCHIMP_API_URL"):
        MailchimpClient.from_settings(api_key=key, base_url="http://us7.api.mailchimp.com/3.0")
    with pytest.raises(ConfigError, match="MAILCHIMP_API_KEY"):
        MailchimpClient.from_settings(api_key="")


def test_error_message_is_title_and_detail_with_field_errors():
    client = MailchimpClient(base_url="https://us21.api.mailchimp.com/3.0", api_key="k-us21")
    body = {"type": "x", "title": "Invalid Resource", "status": 400, "detail": "The resource submitted could not be validated.",
            "errors": [{"field": "since", "message": "not a date"}]}
    assert client.error_message(body, requests.Response()) == (
        "Invalid Resource: The resource submitted could not be validated. (since: not a date)")


# --- the sandbox speaks the wire format ------------------------------------------------------
def test_sandbox_answers_carry_links_noise_unless_excluded_and_activity_honours_since(sandbox, world):
    auth = {"Authorization": "Basic " + base64.b64encode(f"x:{sandbox.credentials.mailchimp_key}".encode()).decode()}
    get = lambda path, **params: requests.get(f"{sandbox.url}/3.0{path}", params=params, headers=auth, timeout=5).json()  # noqa: E731
    page = get("/campaigns", count=2)
    assert "_links" in page and "_links" in page["campaigns"][0] and len(page["campaigns"]) == 2
    page = get("/campaigns", count=2, exclude_fields="_links,campaigns._links")
    assert "_links" not in page and "_links" not in page["campaigns"][0] and page["total_items"] == len(world.sends)
    send = sends_in(world, sandbox.now)[0]
    everyone = get(f"/reports/{send.id}/email-activity", count=1000)
    assert everyone["total_items"] == len(send.recipients) and any(not e["activity"] for e in everyone["emails"])
    since = send.send_time.replace(hour=0, minute=0, second=0) .replace(day=send.send_time.day + 2)
    recent = get(f"/reports/{send.id}/email-activity", count=1000, since=since.isoformat())
    assert recent["total_items"] == len({a.email for a in send.activity if a.ts >= since})
    assert all(e["activity"] and all(a["timestamp"] >= since.isoformat() for a in e["activity"]) for e in recent["emails"])
    assert requests.get(f"{sandbox.url}/3.0/reports/nope/sent-to", headers=auth, timeout=5).json()["status"] == 404


def test_apple_proxy_opens_are_in_the_activity_unless_filter_bots_and_the_connector_asks_without_them(sandbox, world):
    auth = {"Authorization": "Basic " + base64.b64encode(f"x:{sandbox.credentials.mailchimp_key}".encode()).decode()}
    get = lambda path, **params: requests.get(f"{sandbox.url}/3.0{path}", params=params, headers=auth, timeout=5)  # noqa: E731
    send = next(s for s in sends_in(world, sandbox.now) if s.machine_opens)
    opens = lambda body: sum(a["action"] == "open" for e in body["emails"] for a in e["activity"])  # noqa: E731
    human = sum(a.action == "open" and a.ts <= sandbox.now for a in send.activity)
    machine = sum(a.ts <= sandbox.now for a in send.machine_opens)
    assert opens(get(f"/reports/{send.id}/email-activity", count=1000).json()) == human + machine
    assert opens(get(f"/reports/{send.id}/email-activity", count=1000, filter_bots="true").json()) == human
    assert get(f"/reports/{send.id}/email-activity", filter_bots="maybe").status_code == 400
    # the connector's activity holds people's own opens only: the same count as the report's proxy-excluded opens
    client = make_client(sandbox)
    report = next(r for r in rows_of(client, "reports") if r["campaign_id"] == send.id)
    assert report["proxy_excluded_opens"] == human and report["opens_total"] == human + machine
