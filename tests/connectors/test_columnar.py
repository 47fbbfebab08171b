"""Columnar pages (connectors/columnar.py): the Arrow path reads every page exactly as the record
builders do, takes the sandbox's pages itself, and hands every page it cannot read exactly to them."""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pytest
import requests

from connectors import columnar
from connectors.ga4 import REPORT_PAGE, REPORTS, Ga4Client
from connectors.http import SchemaError
from connectors.mailchimp import (
    ACTIVITY_PAGE,
    RECIPIENT_FIELDS_READ,
    RECIPIENTS_PAGE,
    MailchimpClient,
    activity_from_api,
    recipient_columns,
    recipient_from_api,
)
from connectors.sandbox.server import SandboxServer
from connectors.streams import Window, page_records

WINDOW = Window(date(2026, 10, 1), date(2026, 10, 29))
CAMPAIGN = "c0ffee1234"


@pytest.fixture(scope="module")
def server(world):
    with SandboxServer(world) as server:
        yield server


def mailchimp(server, **kw) -> MailchimpClient:
    return MailchimpClient.from_settings(api_key=server.credentials.mailchimp_key, base_url=f"{server.url}/3.0", **kw)


def ga4(server, **kw) -> Ga4Client:
    env = server.env()
    return Ga4Client.from_settings(env["GA4_PROPERTY_ID"], env["GA4_ACCESS_TOKEN"], env["GA4_USER_ID_DIMENSION"],
                                   env["GA4_API_URL"], **kw)


def read(client, stream: str) -> tuple[list, list[dict]]:
    pages = list(client.read(stream, WINDOW))
    return pages, [r for page in pages for r in page_records(page)]


# --- the sandbox's pages: the Arrow path takes them, with the builders' result -----------------


@pytest.mark.parametrize(("stream", "key"), [("email_activity", "activity_id"), ("recipients", "email_id")])
def test_mailchimp_pages_in_columns_equal_the_record_builders(server, stream, key):
    fast, slow = mailchimp(server), mailchimp(server, columnar_pages=False)
    fast_pages, fast_rows = read(fast, stream)
    slow_pages, slow_rows = read(slow, stream)

    assert len(fast_rows) == len(slow_rows) > 1000
    order = lambda r: (r["campaign_id"], r[key])  # noqa: E731 (campaigns' pages arrive as they come)
    assert sorted(fast_rows, key=order) == sorted(slow_rows, key=order)
    assert all(isinstance(p, pa.Table) for p in fast_pages) and all(isinstance(p, list) for p in slow_pages)
    assert fast.stats.requests == slow.stats.requests
    assert fast.ignored_fields() == slow.ignored_fields()
    if stream == "email_activity":
        assert fast.ignored_fields() == {"email_activity": ["campaign_id", "list_is_active"]}


@pytest.mark.parametrize("stream", sorted(REPORTS))
def test_reports_in_columns_equal_the_record_builders_across_pages(server, stream):
    fast, slow = ga4(server, page_size=29), ga4(server, page_size=29, columnar_pages=False)
    fast_pages, fast_rows = read(fast, stream)
    slow_pages, slow_rows = read(slow, stream)

    assert fast_rows == slow_rows and len(fast_rows) > 29  # more than one page, in the same order
    assert all(isinstance(p, pa.Table) for p in fast_pages) and all(isinstance(p, list) for p in slow_pages)
    assert fast.stats.requests == slow.stats.requests
    assert fast.last_metadata == slow.last_metadata
    assert fast.ignored_fields() == slow.ignored_fields()


# --- Mailchimp pages the fast path reads, and those it hands over --------------------------


def activity_page(*emails: dict) -> bytes:
    return json.dumps({"emails": list(emails), "total_items": len(emails)}).encode()


def email(email_id: str = "e1", *items: dict, **fields) -> dict:
    return {"email_id": email_id, "email_address": f"{email_id}@example.org", "list_id": "L1",
            "activity": list(items), **fields}


def both_activity(content: bytes) -> tuple[object, list[dict]]:
    """(what the client makes of the decoded page, what the builders make of the parsed page)."""
    client = MailchimpClient(base_url="http://127.0.0.1:9", api_key="k-us1")
    fast = client._activity(columnar.decode(content, ACTIVITY_PAGE), CAMPAIGN)
    slow = [row for e in json.loads(content)["emails"] for row in activity_from_api(e, CAMPAIGN)]
    return fast, slow


def test_activity_timestamps_urls_and_blanks_read_as_the_builder_reads_them():
    content = activity_page(
        email("e1",
              {"action": "open", "timestamp": "2026-10-04T14:32:28+00:00"},
              {"action": "click", "timestamp": "2026-10-04T14:32:28Z", "url": "https://x.test/?utm_content=a"},
              {"action": "click", "timestamp": "2026-10-04T16:02:28.5+05:30", "url": ""},
              {"action": "open", "timestamp": "2026-10-04T14:32:28.123456-07:00", "ip": ""},
              {"action": "bounce", "timestamp": "2026-10-04T23:59:59.999+0100", "type": "hard", "ip": "10.0.0.1"}),
        email("e2"),  # no activity: no rows
        email("e3", {"action": "open", "timestamp": "2026-10-05T00:00:00+00:00"}, list_id=None),
        email("e4", {"action": "open", "timestamp": "2026-10-05T00:00:00+00:00"}, list_id=""),
    )
    fast, slow = both_activity(content)
    assert isinstance(fast, pa.Table)
    assert fast.to_pylist() == slow and len(slow) == 7
    assert slow[2]["url"] is None and slow[5]["list_id"] is None and slow[6]["list_id"] == ""


@pytest.mark.parametrize("item", [
    {"action": "open", "timestamp": "2026-10-04T14:32:28"},  # no offset: parse_ts reads it as UTC
    {"action": "open", "timestamp": " 2026-10-04T14:32:28+00:00 "},  # spaces: parse_ts strips them
    {"action": "open", "timestamp": "0999-10-04T14:32:28+00:00"},  # a year before 1000
])
def test_activity_the_fast_path_does_not_parse_goes_to_the_builder(item):
    fast, slow = both_activity(activity_page(email("e1", item)))
    assert isinstance(fast, list) and fast == slow and len(slow) == 1


@pytest.mark.parametrize(("entry", "named"), [
    (email("e1", {"action": "open", "timestamp": "2026-10-04T14:32:28+00:00"}, email_address=None), "email_address"),
    (email("e1", {"timestamp": "2026-10-04T14:32:28+00:00"}), "activity.0.action"),
    (email("e1", {"action": "open", "timestamp": ""}), "activity.0.timestamp"),
    (email("e1", {"action": "open", "timestamp": "yesterday"}), "activity.0.timestamp"),
    (email("e1", {"action": "open", "timestamp": "0000-10-04T14:32:28+00:00"}), "activity.0.timestamp"),
    (email("e1", {"action": "open", "timestamp": "2026-10-04T23:59:60+00:00"}), "activity.0.timestamp"),
    (email("e1", None), "activity.0"),
    ({"email_address": "a@example.org", "activity": []}, "email_id"),
])
def test_activity_a_broken_page_fails_with_the_builders_error(entry, named):
    content = activity_page(entry)
    with pytest.raises(SchemaError) as from_builders:
        [row for e in json.loads(content)["emails"] for row in activity_from_api(e, CAMPAIGN)]
    with pytest.raises(SchemaError) as from_client:
        MailchimpClient(base_url="http://127.0.0.1:9", api_key="k-us1")._activity(
            columnar.decode(content, ACTIVITY_PAGE), CAMPAIGN)
    assert str(from_client.value) == str(from_builders.value) and f"'{named}'" in str(from_builders.value)


def test_a_value_of_another_json_type_is_parsed_by_json_and_fails_with_the_builders_error():
    """Arrow never converts a number to text: the client hands such an answer to json, and the
    builders name the field."""
    content = activity_page(email(5, {"action": "open", "timestamp": "2026-10-04T14:32:28+00:00"}))
    with pytest.raises(pa.ArrowInvalid):
        columnar.decode(content, ACTIVITY_PAGE)
    answer = requests.models.Response()
    answer.status_code, answer._content = 200, content
    client = MailchimpClient(base_url="http://127.0.0.1:9", api_key="k-us1")
    body = client._parse(answer, content, ACTIVITY_PAGE)
    assert body == json.loads(content)  # a dict, not an ArrowBody
    with pytest.raises(SchemaError, match="'email_id' is of type int"):
        client._activity(body["emails"], CAMPAIGN)


# --- GA4 pages the fast path reads, and those it hands over ---------------------------------

HEADERS = {
    "dimensionHeaders": [{"name": "date"}, {"name": "sessionCampaignName"}, {"name": "newVsReturning"}],
    "metricHeaders": [{"name": "sessions", "type": "TYPE_INTEGER"}, {"name": "engagedSessions", "type": "TYPE_FLOAT"},
                      {"name": "screenPageViews", "type": "TYPE_INTEGER"},
                      {"name": "userEngagementDuration", "type": "TYPE_MILLISECONDS"},
                      {"name": "activeUsers", "type": "TYPE_INTEGER"}],
    "metadata": {"timeZone": "Europe/Berlin", "subjectToThresholding": True},
}


def report_page(*rows: tuple[list, list], **extra) -> bytes:
    return json.dumps({**HEADERS, "rows": [{"dimensionValues": [{"value": v} for v in dims],
                                            "metricValues": [{"value": v} for v in metrics]} for dims, metrics in rows],
                       "rowCount": len(rows), **extra}).encode()


def both_report(content: bytes) -> tuple[object, list[dict]]:
    def client() -> Ga4Client:
        return Ga4Client(base_url="http://127.0.0.1:9", property_id="1", access_token="t")
    dimensions = [(d, column) for d, column in REPORTS["campaign_daily"].dimensions]
    fast = client()._records(columnar.decode(content, REPORT_PAGE), "campaign_daily", dimensions, REPORTS["campaign_daily"])
    slow = client()._records(json.loads(content), "campaign_daily", dimensions, REPORTS["campaign_daily"])
    return fast, slow


def test_report_metric_types_and_flags_read_as_the_builder_reads_them():
    fast, slow = both_report(report_page(
        (["20261003", "spring-sale", "new"], ["3", "2.0", "7", "7059", "1"]),
        (["20261004", "(direct)", "returning"], ["-0", "1e1", "0", "0.5", "12345678901"]),
        (["20240229", "", "new"], ["1", "0", "2", "123456789.125", "1"]),
    ))
    assert isinstance(fast, pa.Table)
    assert fast.to_pylist() == slow
    assert [r["engaged_sessions"] for r in slow] == [2, 10, 0]
    assert [r["user_engagement_duration"] for r in slow] == [7.059, 0.0005, 123456.789125]
    assert {r["property_time_zone"] for r in slow} == {"Europe/Berlin"} and all(r["subject_to_thresholding"] for r in slow)


@pytest.mark.parametrize("metrics", [[" 3", "2", "7", "1", "1"], ["+3", "2", "7", "1", "1"], ["3", "2", "7", "1_000", "1"]])
def test_report_numbers_the_fast_path_does_not_parse_go_to_the_builder(metrics):
    fast, slow = both_report(report_page((["20261003", "a", "new"], metrics)))
    assert isinstance(fast, list) and fast == slow


def test_report_a_date_the_fast_path_does_not_parse_goes_to_the_builder():
    fast, slow = both_report(report_page((["2026103", "a", "new"], ["1", "1", "1", "1", "1"])))
    assert isinstance(fast, list) and fast == slow and slow[0]["date"] == date(2026, 10, 3)  # strptime's leniency


@pytest.mark.parametrize(("row", "named"), [
    ((["20260230", "a", "new"], ["1", "1", "1", "1", "1"]), "'date' is not YYYYMMDD"),
    ((["00000101", "a", "new"], ["1", "1", "1", "1", "1"]), "'date' is not YYYYMMDD"),
    ((["20261003", "a", "new"], ["1", "1.5", "1", "1", "1"]), "'engaged_sessions' is not a whole number"),
    ((["20261003", "a", "new"], ["many", "1", "1", "1", "1"]), "'sessions' is not a number"),
    ((["20261003", "a", "new"], ["1", "1", "1", "1"]), "'metricValues' is of length 4"),
])
def test_report_a_broken_row_fails_with_the_builders_error(row, named):
    content = report_page(row)
    errors = []
    for body in (json.loads(content), columnar.decode(content, REPORT_PAGE)):
        client = Ga4Client(base_url="http://127.0.0.1:9", property_id="1", access_token="t")
        with pytest.raises(SchemaError) as caught:
            client._records(body, "campaign_daily", list(REPORTS["campaign_daily"].dimensions), REPORTS["campaign_daily"])
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and named in errors[0]


@pytest.mark.parametrize(("entry", "expect"), [
    ({"email_id": "e1", "email_address": "a@example.org", "status": "sent", "absplit_group": ""}, None),
    ({"email_id": "e1", "email_address": "a@example.org", "status": "sent", "list_id": "L1", "absplit_group": "a"}, None),
    ({"email_id": "e1", "email_address": "a@example.org"}, "'status' is missing"),
])
def test_recipients_read_or_fail_as_the_builder(entry, expect):
    content = json.dumps({"sent_to": [entry], "total_items": 1}).encode()
    client = MailchimpClient(base_url="http://127.0.0.1:9", api_key="k-us1")

    def fast():
        return client._rows("recipients", "sent_to", columnar.decode(content, RECIPIENTS_PAGE), CAMPAIGN,
                            recipient_columns, RECIPIENT_FIELDS_READ, lambda rs: [recipient_from_api(r, CAMPAIGN) for r in rs])

    if expect is None:
        table = fast()
        assert isinstance(table, pa.Table) and table.to_pylist() == [recipient_from_api(entry, CAMPAIGN)]
        return
    with pytest.raises(SchemaError, match=expect):
        fast()


def test_report_metadata_beyond_the_plain_fields_is_read_as_json_reads_it():
    """Arrow would guess a date-like text's type (a timestamp): such metadata is read by json."""
    truncated = {**HEADERS["metadata"], "dataLossFromOtherRow": False,
                 "dataTruncationReasons": [{"dataTruncationType": "DATA_TRUNCATION_TYPE_PROPERTY",
                                            "dataTruncationDate": "2026-10-09"}],
                 "samplingMetadatas": [{"samplesReadCount": "500000", "samplingSpaceSize": "2000000"}]}
    row = (["20261003", "a", "new"], ["1", "1", "1", "1", "1"])
    for metadata in (truncated, HEADERS["metadata"]):
        content = report_page(row, metadata=metadata)
        seen = []
        for body in (json.loads(content), columnar.decode(content, REPORT_PAGE)):
            client = Ga4Client(base_url="http://127.0.0.1:9", property_id="1", access_token="t")
            records = client._records(body, "campaign_daily", list(REPORTS["campaign_daily"].dimensions),
                                      REPORTS["campaign_daily"])
            seen.append((page_records(records), client.last_metadata, client.run_facts("campaign_daily")))
        assert seen[0] == seen[1]
    assert seen[0][1]["timeZone"] == "Europe/Berlin"
