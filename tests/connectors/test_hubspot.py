"""HubSpot contacts connector against the sandbox: whole pull, incremental search, the cap, faults."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest
import requests

from connectors.http import ApiError, ConfigError, RetryPolicy, SchemaError
from connectors.hubspot import HubSpotClient
from connectors.sandbox import api_hubspot
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.world import World, WorldConfig
from connectors.streams import Window

WINDOW = Window(date(2026, 10, 3), date(2026, 10, 11))
CANARY = "pat-na1-CANARY-hubspot-7e21"
LIST, SEARCH = "hubspot.contacts", "hubspot.search"
UTC = timezone.utc


def make_client(server, policy: RetryPolicy | None = None, **kw) -> HubSpotClient:
    env = server.env()
    settings = {"access_token": env["HUBSPOT_ACCESS_TOKEN"], "base_url": env["HUBSPOT_API_URL"]}
    settings.update(kw)
    return HubSpotClient.from_settings(policy=policy or RetryPolicy(), **settings)


def read_all(client: HubSpotClient, cursor: datetime | None = None) -> list[dict]:
    return [record for page in client.read("contacts", WINDOW.with_cursor(cursor)) for record in page]


def truth(world, now: datetime, since: datetime | None = None) -> dict[str, dict]:
    """Expected records straight from the world's CRM contacts, exactly as stored."""
    return {
        c.id: {"id": c.id, "email": c.email, "site_user_id": c.site_user_id, "x_handle": c.twitterhandle,
               "facebook_user_id": c.facebook_user_id, "holdout": c.holdout, "created_at": c.created, "updated_at": c.modified,
               "archived": False}
        for c in world.contacts
        if c.created <= now and (since is None or c.modified >= since)
    }


def by_id(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in records}


def assert_duplicates_identical(records: list[dict]) -> None:
    copies = defaultdict(list)
    for r in records:
        copies[r["id"]].append(r)
    assert all(all(c == group[0] for c in group) for group in copies.values())


# --- whole pull ---------------------------------------------------------------------------


def test_whole_pull_equals_the_world_exactly_as_stored_following_paging_next(sandbox, world):
    client = make_client(sandbox)
    records = read_all(client)
    expected = truth(world, sandbox.now)
    spec = client.STREAMS[0]

    assert len(records) == len(expected) and by_id(records) == expected
    assert sandbox.requests[LIST] == math.ceil(len(expected) / 100) and sandbox.requests[SEARCH] == 0
    assert all(set(r) == set(spec.schema.names) for r in records)
    assert pa.Table.from_pylist(records, schema=spec.schema).num_rows == len(records)
    # no normalisation: spacing and case as typed into the CRM survive
    assert any(r["email"] != r["email"].strip() for r in records) and any(r["email"].isupper() for r in records)
    assert any(r["x_handle"] and r["x_handle"].startswith("@") for r in records)
    assert sum(r["site_user_id"] is None for r in records) == sum(c.site_user_id is None for c in world.contacts)


@pytest.mark.parametrize("page_size", [30, 73])
def test_list_paging_sends_exactly_one_request_per_page(sandbox, world, page_size):
    client = make_client(sandbox, page_size=page_size)
    pages = list(client.read("contacts", WINDOW))
    expected = truth(world, sandbox.now)
    assert by_id([r for p in pages for r in p]) == expected
    assert sandbox.requests[LIST] == math.ceil(len(expected) / page_size) == len(pages) == client.stats.pages


def test_contacts_created_after_the_clock_do_not_exist_yet(sandbox, world):
    sandbox.now = datetime(2026, 1, 1, tzinfo=UTC)
    records = read_all(make_client(sandbox))
    assert by_id(records) == truth(world, sandbox.now)
    assert 0 < len(records) < len(world.contacts)


def test_properties_not_asked_for_are_not_returned_and_empty_ones_are_null(sandbox):
    env = sandbox.env()
    answer = requests.get(f"{sandbox.url}/crm/v3/objects/contacts", params={"limit": 100, "properties": "email,twitterhandle"},
                          headers={"Authorization": f"Bearer {env['HUBSPOT_ACCESS_TOKEN']}"}, timeout=5).json()
    props = [r["properties"] for r in answer["results"]]
    assert all(set(p) == {"email", "twitterhandle", "createdate", "lastmodifieddate", "hs_object_id"} for p in props)
    assert any(p["twitterhandle"] is None for p in props)


def test_custom_property_names_are_asked_for_and_missing_ones_read_as_null(sandbox, world):
    records = read_all(make_client(sandbox, user_id_property="crm_site_id", x_handle_property="x_handle"))
    assert len(records) == len(truth(world, sandbox.now))
    assert all(r["site_user_id"] is None and r["x_handle"] is None for r in records)
    assert any(r["facebook_user_id"] for r in records)


# --- incremental search -------------------------------------------------------------------


def test_cursor_set_searches_only_contacts_modified_at_or_after_it(sandbox, world):
    cursor = datetime(2026, 10, 20, tzinfo=UTC)
    client = make_client(sandbox, search_page_size=4)
    records = read_all(client, cursor)
    expected = truth(world, sandbox.now, since=cursor)
    assert 4 < len(expected) < len(world.contacts)
    assert by_id(records) == expected and len(records) == len(expected)
    assert [r["updated_at"] for r in records] == sorted(r["updated_at"] for r in records)
    assert sandbox.requests[SEARCH] == math.ceil(len(expected) / 4) and sandbox.requests[LIST] == 0


def test_the_cursor_itself_is_included(sandbox, world):
    newest = max(c.modified for c in world.contacts)
    records = read_all(make_client(sandbox), newest)
    assert [r["id"] for r in records] == [c.id for c in world.contacts if c.modified == newest]


def test_a_cursor_after_every_modification_gives_no_rows_and_no_error(sandbox):
    client = make_client(sandbox)
    assert list(client.read("contacts", WINDOW.with_cursor(datetime(2027, 1, 1, tzinfo=UTC)))) == []
    assert sandbox.requests[SEARCH] == 1 and client.stats.pages == 1


def test_search_restarts_from_the_last_seen_modification_at_the_result_cap(sandbox, world, monkeypatch):
    cap, size = 30, 10
    monkeypatch.setattr(api_hubspot, "SEARCH_CAP", cap)
    cursor = datetime.combine(world.start, datetime.min.time(), UTC) - timedelta(days=300)
    expected = truth(world, sandbox.now, since=cursor)
    assert len({c["updated_at"] for c in expected.values()}) == len(expected) > 3 * cap  # unique timestamps

    records = read_all(make_client(sandbox, search_page_size=size, search_cap=cap), cursor)

    assert by_id(records) == expected  # nothing lost past the cap (paging past it would be a 400)
    assert_duplicates_identical(records)
    # each restart repeats exactly the boundary contact (filter GTE its lastmodifieddate)
    passes, remaining, requests_sent = 0, len(expected), 0
    while True:
        results = remaining + (1 if passes else 0)
        if results <= cap:
            requests_sent += max(1, math.ceil(results / size))
            break
        requests_sent += cap // size
        remaining -= cap - (1 if passes else 0)
        passes += 1
    assert len(records) == len(expected) + passes
    assert sandbox.requests[SEARCH] == requests_sent and sandbox.requests[LIST] == 0


def test_a_capped_search_stuck_on_one_timestamp_falls_back_to_the_whole_pull(monkeypatch):
    tied = World(WorldConfig(seed=3, people=40, days=7))
    stamp = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
    for c in tied.contacts:  # a bulk import: every contact modified in the same millisecond
        c.modified = max(stamp, c.created)
    monkeypatch.setattr(api_hubspot, "SEARCH_CAP", 5)
    with SandboxServer(tied) as server:
        records = read_all(make_client(server, search_page_size=5, search_cap=5), datetime(2026, 10, 1, tzinfo=UTC))
        assert set(by_id(records)) == {c.id for c in tied.contacts if c.created <= server.now}
        assert server.requests[LIST] == 1 and server.requests[SEARCH] == 2
    assert_duplicates_identical(records)


# --- faults -------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_then_succeeds(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=LIST, kind="429", retry_after="1"))
    began = time.monotonic()
    records = read_all(make_client(sandbox, fast_retries))
    assert time.monotonic() - began >= 1.0
    assert by_id(records) == truth(world, sandbox.now)
    assert sandbox.requests[LIST] == math.ceil(len(records) / 100) + 1


def test_secondly_limit_429_without_retry_after_backs_off_and_succeeds(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=SEARCH, kind="429", times=2))
    cursor = datetime(2026, 10, 20, tzinfo=UTC)
    records = read_all(make_client(sandbox, fast_retries), cursor)
    assert by_id(records) == truth(world, sandbox.now, since=cursor)
    assert sandbox.requests[SEARCH] == 3


def test_three_503_then_ok_retries_the_search_post_and_sends_four_requests(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=SEARCH, kind="5xx", status=503, times=3))
    cursor = datetime(2026, 10, 20, tzinfo=UTC)
    records = read_all(make_client(sandbox, fast_retries), cursor)
    assert by_id(records) == truth(world, sandbox.now, since=cursor)
    assert sandbox.requests[SEARCH] == 4


@pytest.mark.parametrize("endpoint", [LIST, SEARCH])
@pytest.mark.parametrize("kind", ["drop", "truncate", "bad_json"])
def test_broken_answers_are_retried_and_end_with_the_right_count(sandbox, world, fast_retries, kind, endpoint):
    sandbox.faults.add(FaultRule(endpoint=endpoint, kind=kind))
    cursor = datetime(2026, 9, 1, tzinfo=UTC) if endpoint == SEARCH else None
    records = read_all(make_client(sandbox, fast_retries, page_size=50, search_page_size=50), cursor)
    expected = truth(world, sandbox.now, since=cursor)
    assert len(records) == len(expected) and by_id(records) == expected
    assert sandbox.requests[endpoint] == math.ceil(len(expected) / 50) + 1


def test_persistent_5xx_raises_api_error_naming_source_endpoint_and_status(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=LIST, kind="5xx", status=502, times=None))
    with pytest.raises(ApiError) as caught:
        read_all(make_client(sandbox, fast_retries))
    exc = caught.value
    assert (exc.source, exc.endpoint, exc.status) == ("hubspot", "crm/v3/objects/contacts", 502)
    assert str(exc).startswith("hubspot: crm/v3/objects/contacts failed (HTTP 502)")
    assert sandbox.requests[LIST] == fast_retries.total + 1


def test_persistent_rate_limit_carries_hubspots_own_message(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=SEARCH, kind="429", times=None))
    with pytest.raises(ApiError) as caught:
        read_all(make_client(sandbox, fast_retries), datetime(2026, 10, 20, tzinfo=UTC))
    assert caught.value.status == 429
    assert caught.value.api_message == "You have reached your secondly limit. (RATE_LIMIT)"


@pytest.mark.parametrize(
    "kind, field, named",
    [("missing_field", "id", "id"), ("missing_field", "createdAt", "createdAt"), ("missing_field", "properties", "properties"),
     ("missing_field", "properties.lastmodifieddate", "properties.lastmodifieddate"),
     ("wrong_type", "id", "id"), ("wrong_type", "properties.email", "properties.email"), ("wrong_type", "archived", "archived")],
)
def test_a_missing_or_mistyped_field_raises_schema_error_naming_it(sandbox, kind, field, named):
    sandbox.faults.add(FaultRule(endpoint=LIST, kind=kind, field=field))
    with pytest.raises(SchemaError) as caught:
        read_all(make_client(sandbox))
    assert (caught.value.source, caught.value.stream, caught.value.field) == ("hubspot", "contacts", named)
    assert f"hubspot.contacts: required field '{named}'" in str(caught.value)


def test_unknown_extra_fields_are_ignored(sandbox, world):
    sandbox.faults.add(FaultRule(endpoint=LIST, kind="extra_fields", times=None))
    records = read_all(make_client(sandbox))
    assert by_id(records) == truth(world, sandbox.now) and len(records) == len(world.contacts)


@pytest.mark.parametrize("endpoint", [LIST, SEARCH])
def test_overlapping_pages_repeat_identical_records_and_never_skip_any(sandbox, world, endpoint):
    sandbox.faults.add(FaultRule(endpoint=endpoint, kind="overlap", rows=3, times=None))
    cursor = datetime(2026, 1, 1, tzinfo=UTC) if endpoint == SEARCH else None
    records = read_all(make_client(sandbox, page_size=25, search_page_size=25), cursor)
    expected = truth(world, sandbox.now, since=cursor)
    assert len(records) > len(expected)
    assert_duplicates_identical(records)
    assert set(by_id(records)) == set(expected) and by_id(records) == expected


# --- errors that must not be retried ---------------------------------------------------------


@pytest.mark.parametrize("cursor", [None, datetime(2026, 10, 20, tzinfo=UTC)])
def test_wrong_token_is_one_request_carrying_the_api_message_and_never_the_token(sandbox, fast_retries, cursor):
    client = make_client(sandbox, fast_retries, access_token=CANARY)
    with pytest.raises(ApiError) as caught:
        read_all(client, cursor)
    exc = caught.value
    assert exc.status == 401 and exc.source == "hubspot"
    assert exc.api_message.startswith("Authentication credentials not found.")
    assert "INVALID_AUTHENTICATION" in str(exc)
    assert sum(sandbox.requests.values()) == 1
    assert CANARY not in str(exc) and CANARY not in repr(exc) and CANARY not in repr(client)


@pytest.mark.parametrize(
    "settings, variable",
    [({"base_url": "http://169.254.169.254/"}, "HUBSPOT_API_URL"), ({"access_token": ""}, "HUBSPOT_ACCESS_TOKEN"),
     ({"user_id_property": "site user id"}, "HUBSPOT_USER_ID_PROPERTY"),
     ({"x_handle_property": "x&limit=1"}, "HUBSPOT_X_HANDLE_PROPERTY")],
)
def test_bad_settings_are_refused_naming_the_variable_before_any_request(sandbox, settings, variable):
    with pytest.raises(ConfigError, match=variable):
        make_client(sandbox, **settings)
    assert sum(sandbox.requests.values()) == 0
