"""GA4 runReport connector against the sandbox: numbers equal the world, paging, faults, errors."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import date

import pyarrow as pa
import pytest

from connectors import ga4
from connectors.ga4 import MAX_PAGE_SIZE, Ga4Client
from connectors.http import ApiError, ConfigError, RetryPolicy, SchemaError
from connectors.sandbox import api_ga4
from connectors.sandbox.faults import FaultRule
from connectors.streams import Window, page_records

WINDOW = Window(date(2026, 10, 3), date(2026, 10, 11))  # 2026-10-03 .. 2026-10-10
EMPTY = Window(date(2027, 1, 1), date(2027, 1, 4))  # after the world ends
CANARY = "ya29.CANARY-ga4-9f3c1e"
ENDPOINT = "ga4.runReport"


def make_client(sandbox, policy: RetryPolicy | None = None, **kw) -> Ga4Client:
    env = sandbox.env()
    settings = {"property_id": env["GA4_PROPERTY_ID"], "access_token": env["GA4_ACCESS_TOKEN"],
                "user_id_dimension": env["GA4_USER_ID_DIMENSION"], "base_url": env["GA4_API_URL"]}
    settings.update(kw)
    return Ga4Client.from_settings(policy=policy or RetryPolicy(), **settings)


def read_all(client: Ga4Client, stream: str, window: Window = WINDOW) -> list[dict]:
    return [record for page in client.read(stream, window) for record in page_records(page)]


def truth(world, stream: str, window: Window = WINDOW) -> dict[tuple, dict]:
    """Expected rows straight from the world's sessions, keyed like the stream."""
    def third(s):
        if stream == "campaign_daily":
            return "returning" if s.returning else "new"
        return s.site_user_id if s.site_user_id is not None else "(not set)"

    groups = defaultdict(list)
    for s in world.sessions:
        if window.start <= s.date <= window.last_day:
            groups[(s.date, s.campaign, third(s))].append(s)
    return {
        key: {
            "sessions": len(ss),
            "engaged_sessions": sum(1 for s in ss if s.engaged),
            "screen_page_views": sum(s.page_views for s in ss),
            "user_engagement_duration": float(sum(s.engagement_seconds for s in ss)),
            "active_users": len({s.pseudo_id for s in ss}),
        }
        for key, ss in groups.items()
    }


def keyed(records: list[dict], stream: str) -> dict[tuple, dict]:
    third = "new_vs_returning" if stream == "campaign_daily" else "user_id"
    metrics = ("sessions", "engaged_sessions", "screen_page_views", "user_engagement_duration", "active_users")
    return {(r["date"], r["campaign"], r[third]): {m: r[m] for m in metrics} for r in records}


def key_of(record: dict, stream: str) -> tuple:
    return (record["date"], record["campaign"], record["new_vs_returning" if stream == "campaign_daily" else "user_id"])


# --- data equals the world --------------------------------------------------------------


@pytest.mark.parametrize("stream", ["campaign_daily", "user_daily"])
def test_report_rows_equal_the_world_for_a_window(sandbox, world, stream):
    client = make_client(sandbox)
    records = read_all(client, stream)
    expected = truth(world, stream)
    spec = next(s for s in client.STREAMS if s.name == stream)

    assert len(records) == len(expected)
    assert keyed(records, stream) == expected
    in_window = [s for s in world.sessions if WINDOW.start <= s.date <= WINDOW.last_day]
    assert sum(r["sessions"] for r in records) == len(in_window)
    assert sum(r["engaged_sessions"] for r in records) == sum(1 for s in in_window if s.engaged)
    assert sum(r["screen_page_views"] for r in records) == sum(s.page_views for s in in_window)
    assert all(set(r) == set(spec.schema.names) for r in records)
    assert pa.Table.from_pylist(records, schema=spec.schema).num_rows == len(records)
    assert {r["property_time_zone"] for r in records} == {"Europe/Berlin"}
    assert not any(r["subject_to_thresholding"] or r["data_loss_from_other_row"] for r in records)
    assert client.last_metadata["timeZone"] == "Europe/Berlin"
    assert sandbox.requests[ENDPOINT] == 1


def test_user_daily_keeps_anonymous_traffic_as_not_set_and_campaigns_as_ga4_spells_them(sandbox, world):
    records = read_all(make_client(sandbox), "user_daily")
    anonymous = [r for r in records if r["user_id"] == "(not set)"]
    in_window = [s for s in world.sessions if WINDOW.start <= s.date <= WINDOW.last_day]
    assert sum(r["sessions"] for r in anonymous) == sum(1 for s in in_window if s.site_user_id is None) > 0
    assert {r["user_id"] for r in records} - {"(not set)"} == {s.site_user_id for s in in_window if s.site_user_id}
    assert {r["campaign"] for r in records} == {s.campaign for s in in_window}
    assert "Black-Friday" in {r["campaign"] for r in records}  # raw, not normalised


def test_empty_report_without_rows_or_row_count_gives_no_rows_and_no_error(sandbox):
    client = make_client(sandbox)
    pages = list(client.read("campaign_daily", EMPTY))
    assert pages == []
    assert sandbox.requests[ENDPOINT] == 1
    assert client.stats.pages == 1 and client.stats.records == 0
    assert client.last_metadata["timeZone"] == "Europe/Berlin"


# --- paging -----------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [25, 40, "all"])
def test_paging_follows_offset_until_row_count_with_exact_requests(sandbox, world, page_size):
    expected = truth(world, "campaign_daily")
    size = len(expected) if page_size == "all" else page_size
    progress = []
    client = make_client(sandbox, page_size=size, on_progress=lambda stream, stats: progress.append(stats.pages))
    pages = list(client.read("campaign_daily", WINDOW))
    assert [len(p) for p in pages[:-1]] == [size] * (len(pages) - 1)
    assert keyed([r for p in pages for r in page_records(p)], "campaign_daily") == expected
    # offset >= rowCount ends the loop: a page that exactly finishes the report is the last request
    assert sandbox.requests[ENDPOINT] == math.ceil(len(expected) / size) == len(pages)
    assert progress == list(range(1, len(pages) + 1))


def test_page_size_above_the_api_cap_is_refused(sandbox):
    with pytest.raises(ConfigError, match=str(MAX_PAGE_SIZE)):
        make_client(sandbox, page_size=MAX_PAGE_SIZE + 1)


# --- faults -----------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_then_succeeds(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind="429", retry_after="1"))
    began = time.monotonic()
    records = read_all(make_client(sandbox, fast_retries), "campaign_daily")
    assert time.monotonic() - began >= 1.0
    assert keyed(records, "campaign_daily") == truth(world, "campaign_daily")
    assert sandbox.requests[ENDPOINT] == 2


def test_resource_exhausted_429_without_retry_after_backs_off_and_succeeds(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind="429", times=2))
    client = make_client(sandbox, fast_retries)
    records = read_all(client, "campaign_daily")
    assert keyed(records, "campaign_daily") == truth(world, "campaign_daily")
    assert sandbox.requests[ENDPOINT] == 3 and client.stats.retries == 2


def test_three_503_then_ok_retries_the_post_and_sends_four_requests(sandbox, world, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind="5xx", status=503, times=3))
    records = read_all(make_client(sandbox, fast_retries), "user_daily")
    assert keyed(records, "user_daily") == truth(world, "user_daily")
    assert sandbox.requests[ENDPOINT] == 4


@pytest.mark.parametrize("kind", ["drop", "truncate", "bad_json"])
def test_broken_answers_are_retried_and_the_page_is_never_accepted_partially(sandbox, world, fast_retries, kind):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind=kind))
    records = read_all(make_client(sandbox, fast_retries, page_size=50), "campaign_daily")
    expected = truth(world, "campaign_daily")
    assert len(records) == len(expected) and keyed(records, "campaign_daily") == expected
    assert sandbox.requests[ENDPOINT] == math.ceil(len(expected) / 50) + 1


def test_persistent_5xx_raises_api_error_naming_source_endpoint_and_status(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind="5xx", status=503, times=None))
    with pytest.raises(ApiError) as caught:
        read_all(make_client(sandbox, fast_retries), "campaign_daily")
    exc = caught.value
    assert (exc.source, exc.endpoint, exc.status) == ("ga4", "runReport", 503)
    assert "ga4: runReport failed (HTTP 503)" in str(exc) and "UNAVAILABLE" in str(exc)
    assert sandbox.requests[ENDPOINT] == fast_retries.total + 1


@pytest.mark.parametrize(
    "kind, field, named",
    [("missing_field", "metricValues", "metricValues"), ("missing_field", "dimensionValues", "dimensionValues"),
     ("wrong_type", "dimensionValues", "dimensionValues.value")],
)
def test_a_missing_or_mistyped_required_field_raises_schema_error_naming_it(sandbox, kind, field, named):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind=kind, field=field))
    with pytest.raises(SchemaError) as caught:
        read_all(make_client(sandbox), "user_daily")
    assert (caught.value.source, caught.value.stream, caught.value.field) == ("ga4", "user_daily", named)
    assert f"ga4.user_daily: required field '{named}'" in str(caught.value)


def test_unknown_extra_fields_are_ignored(sandbox, world):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind="extra_fields", times=None))
    records = read_all(make_client(sandbox, page_size=60), "campaign_daily")
    assert keyed(records, "campaign_daily") == truth(world, "campaign_daily")
    assert all("sandbox_unknown_field" not in r for r in records)


@pytest.mark.parametrize("times", [1, None])  # one drift (on the second page), or every page after the first
def test_offset_drift_repeats_identical_rows_and_never_skips_any(sandbox, world, times):
    sandbox.faults.add(FaultRule(endpoint=ENDPOINT, kind="overlap", rows=3, times=times))
    records = read_all(make_client(sandbox, page_size=20), "campaign_daily")
    expected = truth(world, "campaign_daily")
    by_key = defaultdict(list)
    for r in records:
        by_key[key_of(r, "campaign_daily")].append(r)
    assert len(records) > len(expected)  # the drift repeated rows ...
    assert all(len({tuple(sorted(r.items())) for r in copies}) == 1 for copies in by_key.values())  # ... identical ones
    assert set(by_key) == set(expected)  # ... and none is missing
    assert keyed(records, "campaign_daily") == expected


# --- errors that must not be retried ------------------------------------------------------


def test_wrong_token_is_one_request_carrying_the_api_message_and_never_the_token(sandbox, fast_retries):
    client = make_client(sandbox, fast_retries, access_token=CANARY)
    with pytest.raises(ApiError) as caught:
        read_all(client, "campaign_daily")
    exc = caught.value
    assert exc.status == 401 and "UNAUTHENTICATED" in str(exc)
    assert "Request had invalid authentication credentials" in exc.api_message
    assert sandbox.requests[ENDPOINT] == 1
    assert CANARY not in str(exc) and CANARY not in repr(exc) and CANARY not in repr(client)


def test_a_property_the_token_cannot_read_is_permission_denied(sandbox, fast_retries):
    with pytest.raises(ApiError, match="PERMISSION_DENIED") as caught:
        read_all(make_client(sandbox, fast_retries, property_id="987654321"), "campaign_daily")
    assert caught.value.status == 403 and sandbox.requests[ENDPOINT] == 1


def test_an_unregistered_custom_dimension_is_invalid_argument_naming_it(sandbox, fast_retries):
    with pytest.raises(ApiError) as caught:
        read_all(make_client(sandbox, fast_retries, user_id_dimension="customUser:crm_id"), "user_daily")
    assert caught.value.status == 400 and "INVALID_ARGUMENT" in str(caught.value)
    assert "customUser:crm_id is not a valid dimension" in caught.value.api_message
    assert sandbox.requests[ENDPOINT] == 1


@pytest.mark.parametrize(
    "settings, variable",
    [({"base_url": "http://10.0.0.1/v1beta"}, "GA4_API_URL"), ({"property_id": "properties/123"}, "GA4_PROPERTY_ID"),
     ({"access_token": " "}, "GA4_ACCESS_TOKEN"), ({"user_id_dimension": "custom User/x"}, "GA4_USER_ID_DIMENSION")],
)
def test_bad_settings_are_refused_naming_the_variable_before_any_request(sandbox, settings, variable):
    with pytest.raises(ConfigError, match=variable):
        make_client(sandbox, **settings)
    assert sum(sandbox.requests.values()) == 0


# --- cardinality and thresholding are surfaced, never dropped ----------------------------


def test_other_rows_are_kept_and_flagged_when_cardinality_is_exceeded(sandbox, world, monkeypatch):
    expected = truth(world, "user_daily")
    monkeypatch.setattr(api_ga4, "CARDINALITY_LIMIT", len(expected) // 2)
    client = make_client(sandbox, page_size=50)
    records = read_all(client, "user_daily")
    other = [r for r in records if r["user_id"] == "(other)"]
    assert other and all(r["campaign"] == "(other)" for r in other)
    assert len(records) == len(expected) // 2 + len({r["date"] for r in other}) - 1
    assert all(r["data_loss_from_other_row"] for r in records)
    assert client.last_metadata["dataLossFromOtherRow"] is True
    assert sum(r["sessions"] for r in records) == sum(v["sessions"] for v in expected.values())


def test_thresholding_is_recorded_on_every_row_and_in_last_metadata(sandbox, monkeypatch):
    monkeypatch.setattr(api_ga4, "SUBJECT_TO_THRESHOLDING", True)
    client = make_client(sandbox)
    users = read_all(client, "user_daily")
    assert users and all(r["subject_to_thresholding"] for r in users)
    assert client.last_metadata["subjectToThresholding"] is True
    campaigns = read_all(client, "campaign_daily")  # no user-scoped dimension, no thresholding
    assert not any(r["subject_to_thresholding"] for r in campaigns)
    assert client.last_metadata["subjectToThresholding"] is False


def test_sampling_is_surfaced_in_run_facts_never_silently_trusted(sandbox, monkeypatch):
    client = make_client(sandbox)
    read_all(client, "campaign_daily")
    assert client.run_facts("campaign_daily")["sampled"] == "False"
    monkeypatch.setattr(api_ga4, "SAMPLED", True)
    read_all(client, "campaign_daily")
    facts = client.run_facts("campaign_daily")
    assert facts["sampled"] == "True"
    assert facts["samplingMetadatas"] == '[{"samplesReadCount": "500000", "samplingSpaceSize": "2000000"}]'


@pytest.mark.parametrize("page_size, most_at_once", [(10, 6), (20, 3), (60, 1)])
def test_pages_fetched_ahead_hold_at_most_rows_ahead_rows(sandbox, world, monkeypatch, page_size, most_at_once):
    """Parsed pages cost ~2 KB a row until converted: bigger pages, fewer fetched at once."""
    monkeypatch.setattr(ga4, "ROWS_AHEAD", 60)
    sandbox.latency = 0.05  # answers overlap whenever the client sends requests together
    client = make_client(sandbox, page_size=page_size)
    assert client.workers == 10
    records = read_all(client, "user_daily")
    assert len(records) == len(truth(world, "user_daily")) > 3 * page_size  # several rounds of pages
    assert sandbox.limits_report()["apis"]["ga4"]["peak_concurrent"] == most_at_once
