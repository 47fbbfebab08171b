"""The sandbox's shared machinery: fault injection per endpoint, clock, control endpoints, limits."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
import requests

from connectors.http import ApiClient, ApiError
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import Response, route
from tests.conftest import ITEMS


@route("GET", r"/3\.0/_probe_slow", "mailchimp.probe_slow")
def _slow(req):
    time.sleep(0.3)
    return Response(200, {"ok": True})


class Probe(ApiClient):
    source = "probe"


def get(sandbox, client=None, **params):
    client = client or Probe(base_url=sandbox.url)
    return client.request("GET", f"{sandbox.url}/_probe/items", endpoint="items", params=params)


@pytest.mark.parametrize("kind", ["drop", "truncate", "bad_json", "5xx", "429"])
def test_each_transient_fault_is_retried_by_the_client_and_the_answer_is_whole(sandbox, fast_retries, kind):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind=kind, times=2))
    client = Probe(base_url=sandbox.url, policy=fast_retries)
    assert get(sandbox, client)["items"] == ITEMS[:5]
    assert sandbox.requests["probe.items"] == 3
    assert client.stats.retries == 2


def test_truncated_body_is_an_error_for_a_plain_client_not_a_partial_page(sandbox):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="truncate"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = requests.get(f"{sandbox.url}/_probe/items", timeout=5).content


def test_persistent_fault_ends_in_one_error_naming_source_endpoint_and_status(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="probe.*", kind="5xx", status=502, times=None))
    with pytest.raises(ApiError, match=r"probe: items failed \(HTTP 502\)"):
        get(sandbox, Probe(base_url=sandbox.url, policy=fast_retries))
    assert sandbox.requests["probe.items"] == fast_retries.total + 1


def test_slow_answer_beyond_the_read_timeout_is_retried_then_fails_bounded(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="slow", seconds=1.5, times=None))
    client = Probe(base_url=sandbox.url, policy=fast_retries, timeout=(1.0, 0.3))
    began = time.monotonic()
    with pytest.raises(ApiError, match="timed out"):
        get(sandbox, client)
    assert time.monotonic() - began < 10


def test_record_faults_reshape_records(sandbox):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="extra_fields"))
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="missing_field", field="value"))
    items = get(sandbox)["items"]
    assert "value" not in items[0] and items[1]["another_new_field"] == 42
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="overlap", rows=2))
    assert [i["id"] for i in get(sandbox, offset=5)["items"]] == ["3", "4", "5", "6", "7"]


def test_faults_and_clock_can_be_set_over_http(sandbox):
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"rules": [{"endpoint": "probe.items", "kind": "5xx", "status": 500}]}, timeout=5)
    assert requests.get(f"{sandbox.url}/_probe/items", timeout=5).status_code == 500
    requests.post(f"{sandbox.url}/_sandbox/clock", json={"now": "2026-10-05T12:00:00+00:00"}, timeout=5)
    assert sandbox.now == datetime(2026, 10, 5, 12, tzinfo=timezone.utc)
    assert requests.get(f"{sandbox.url}/_probe/items", timeout=5).headers["Date"] == "Mon, 05 Oct 2026 12:00:00 GMT"


def test_mailchimp_allows_ten_simultaneous_connections_and_answers_429_beyond(sandbox):
    statuses: list[int] = []
    sandbox.add_routes(_slow)

    def call():
        statuses.append(requests.get(f"{sandbox.url}/3.0/_probe_slow", timeout=5).status_code)

    threads = [threading.Thread(target=call) for _ in range(14)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(429) >= 1 and statuses.count(200) >= 10
