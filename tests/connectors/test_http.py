"""The shared HTTP policy: URL rules, redaction, Retry-After handling, the request loop."""

from __future__ import annotations

import time

import pytest

from connectors.http import ApiClient, ApiError, ConfigError, redact, validate_base_url
from connectors.sandbox.faults import FaultRule


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "gopher://x", "http://169.254.169.254/", "http://user:pw@127.0.0.1/", "http://10.0.0.1", "ftp://a.b"],
)
def test_base_url_other_than_https_or_loopback_http_is_refused_naming_the_variable(url):
    with pytest.raises(ConfigError, match="X_API_URL"):
        validate_base_url(url, "X_API_URL")


@pytest.mark.parametrize("url", ["https://api.x.com/2/", "http://127.0.0.1:8765/2", "http://localhost:1/x", "http://[::1]:9/"])
def test_https_anywhere_and_http_on_loopback_are_accepted(url):
    assert validate_base_url(url, "X_API_URL") == url.rstrip("/")


def test_redact_removes_known_secrets_and_token_query_parameters():
    text = "GET https://graph.facebook.com/v24.0/me?access_token=EAAB123&limit=5 failed with SECRET-XYZ"
    assert redact(text, ("SECRET-XYZ",)) == "GET https://graph.facebook.com/v24.0/me?access_token=***&limit=5 failed with ***"


class _Probe(ApiClient):
    source = "probe"


def _client(sandbox, policy):
    return _Probe(base_url=sandbox.url, policy=policy)


def test_retry_after_seconds_is_waited_then_the_request_succeeds(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="429", retry_after="1"))
    client = _client(sandbox, fast_retries)
    began = time.monotonic()
    body = client.request("GET", f"{sandbox.url}/_probe/items", endpoint="contacts")
    assert 1.0 <= time.monotonic() - began < 2.5
    assert body["total_items"] == 10
    assert client.stats.retries == 1 and sandbox.requests["probe.items"] == 2


def test_retry_after_longer_than_the_ceiling_fails_at_once_with_the_wait_named(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="429", retry_after="86400", times=None))
    began = time.monotonic()
    with pytest.raises(ApiError, match="86400 s"):
        _client(sandbox, fast_retries).request("GET", f"{sandbox.url}/_probe/items", endpoint="contacts")
    assert time.monotonic() - began < 2


def test_unparseable_retry_after_falls_back_to_backoff(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="429", retry_after="soon", times=2))
    client = _client(sandbox, fast_retries)
    client.request("GET", f"{sandbox.url}/_probe/items", endpoint="contacts")
    assert sandbox.requests["probe.items"] == 3


def test_redirect_to_another_host_is_refused_without_following_it(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="redirect"))
    with pytest.raises(ApiError, match="refusing redirect to http://127.0.0.2:1/elsewhere"):
        _client(sandbox, fast_retries).request("GET", f"{sandbox.url}/_probe/items", endpoint="contacts")
    assert sandbox.requests["probe.items"] == 1


def test_connection_refused_is_one_clear_line(fast_retries):
    client = _Probe(base_url="http://127.0.0.1:9", policy=fast_retries)
    with pytest.raises(ApiError) as caught:
        client.request("GET", "http://127.0.0.1:9/x?access_token=SEKRET", endpoint="x")
    assert "probe: x failed (no response)" in str(caught.value)
    assert "SEKRET" not in str(caught.value)


@pytest.mark.parametrize("ordered", [False, True])
def test_a_failed_per_item_read_starts_no_further_item(ordered):
    """A permanent error (a retired metric, a revoked token) fails the read: the items not yet
    started must not each send a request that can only fail the same way."""
    from connectors.pages import pages_on_threads

    started = []

    def job(i):
        def pages():
            started.append(i)
            if i == 0:
                raise ApiError("facebook", "insights", 400, "(#100) retired")
            yield [{"item": i}]
        return pages

    with pytest.raises(ApiError, match="retired"):
        list(pages_on_threads([job(i) for i in range(10)], workers=1, depth=2, ordered=ordered))
    assert started == [0]


def test_an_answer_slower_than_the_read_timeout_fails_naming_the_setting_that_raises_it(sandbox, fast_retries):
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="slow", seconds=1.5, times=None))
    client = _Probe(base_url=sandbox.url, policy=fast_retries, timeout=(5.0, 0.5))
    with pytest.raises(ApiError, match=r"read timed out after retries \(each waited 0.5 s .*ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS"):
        client.request("GET", f"{sandbox.url}/_probe/items", endpoint="contacts")
    sandbox.faults.clear()
    patient = _Probe(base_url=sandbox.url, policy=fast_retries, timeout=(5.0, 3.0))
    sandbox.faults.add(FaultRule(endpoint="probe.items", kind="slow", seconds=1.5, times=None))
    assert patient.request("GET", f"{sandbox.url}/_probe/items", endpoint="contacts")["total_items"] == 10
