"""Persistent faults and malformed answers fail loudly, and lose or half-write nothing.

Each test starts from a copy of a clean run's warehouse and snapshot; after the failure every
raw table must hold exactly what it held before, and the snapshot must be the same bytes.
"""

from __future__ import annotations

import pytest

from connectors.http import ApiError, ConnectorError, RetryPolicy, SchemaError
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import SandboxServer
from connectors.streams import Window, page_records, spec_by_name
from dagster_project.lib import clients
from dagster_project.lib.settings import load_settings
from dagster_project.lib.warehouse import load_stream
from tests.conftest import copy_refresh, point_pipeline_at
from tests.reliability.conftest import file_sha256, table_digests

pytestmark = pytest.mark.slow

FAST = RetryPolicy(total=3, backoff_factor=0.02, backoff_max=0.05, max_wait=5.0, jitter=0.01)


@pytest.fixture
def stored(clean_run, tmp_path):
    """A copy of the clean run's warehouse and snapshot, as a user's would be before a bad day."""
    copy_refresh(clean_run["root"], tmp_path)
    (tmp_path / "serving.duckdb").chmod(0o444)
    return tmp_path


def test_a_persistent_503_fails_the_run_in_one_line_naming_source_endpoint_and_status(small_world, stored, monkeypatch, capsys):
    from dagster_project.cli import main

    monkeypatch.setattr(clients, "RetryPolicy", lambda: FAST)
    monkeypatch.setenv("ENGAGEMENT_INGEST_PROCESS", "same")  # the patch lives in this process, not in a child
    raw_before = table_digests(stored / "engagement.duckdb", ("raw_%",))
    serving_before = file_sha256(stored / "serving.duckdb")
    with SandboxServer(small_world) as sandbox:
        point_pipeline_at(monkeypatch, sandbox, stored)
        sandbox.faults.add(FaultRule("mailchimp.email_activity", "5xx", status=503, times=None))
        code = main(["refresh", "--start", str(small_world.start), "--end", str(small_world.end)])
        email_activity_requests = sandbox.requests["mailchimp.email_activity"]

    # Dagster's log goes to stderr too; the verdict is the last line, and the only one saying so
    verdicts = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("refresh failed:")]
    assert code == 1
    assert len(verdicts) == 1
    assert verdicts[0].startswith("refresh failed: raw_mailchimp__email_activity")
    assert "mailchimp: /reports/" in verdicts[0] and "/email-activity failed (HTTP 503)" in verdicts[0]
    # each campaign's read (4 in flight) retries, then gives up: a bounded count, no retry storm
    assert email_activity_requests % (FAST.total + 1) == 0
    assert email_activity_requests <= len(small_world.sends) * (FAST.total + 1)
    assert table_digests(stored / "engagement.duckdb", ("raw_%",)) == raw_before
    assert file_sha256(stored / "serving.duckdb") == serving_before


MALFORMED = [
    # (source, stream, fault endpoint, kind, field, what the error must name)
    ("mailchimp", "email_activity", "mailchimp.email_activity", "bad_json", None, "incomplete or malformed answer"),
    ("ga4", "user_daily", "ga4.runReport", "truncate", None, "incomplete or malformed answer"),
    ("mailchimp", "email_activity", "mailchimp.email_activity", "missing_field", "email_address", "'email_address' is missing"),
    ("mailchimp", "email_activity", "mailchimp.email_activity", "wrong_type", "activity.0.timestamp", "'activity.0.timestamp'"),
    ("ga4", "user_daily", "ga4.runReport", "missing_field", "metricValues", "'metricValues' is missing"),
    ("x", "liking_users", "x.liking_users", "missing_field", "username", "'username' is missing"),
    ("facebook", "reactions", "facebook.reactions", "wrong_type", "type", "'type' is of type list"),
    ("hubspot", "contacts", "hubspot.contacts", "missing_field", "properties.lastmodifieddate", "'properties.lastmodifieddate' is missing"),
    ("linkedin", "reactions", "linkedin.reactions", "missing_field", "created.time", "'created.time' is missing"),
    ("linkedin", "posts", "linkedin.socialMetadata", "bad_json", None, "incomplete or malformed answer"),
]


@pytest.mark.parametrize("source, stream, endpoint, kind, field, named", MALFORMED,
                         ids=[f"{m[0]}.{m[1]}-{m[3]}" for m in MALFORMED])
def test_a_malformed_answer_fails_naming_the_field_before_anything_is_written(
    small_world, stored, source, stream, endpoint, kind, field, named,
):
    before = table_digests(stored / "engagement.duckdb", ("raw_%",))
    with SandboxServer(small_world) as sandbox:
        # the fault lands on a later page where the stream has several, so earlier pages were already read
        sandbox.faults.add(FaultRule(endpoint, kind, field=field, times=None if kind in ("bad_json", "truncate") else 1))
        client = clients.build_client(source, load_settings(sandbox.env()), policy=FAST)
        spec = spec_by_name(client.STREAMS, stream)
        with pytest.raises(ConnectorError) as failure:
            load_stream(stored / "engagement.duckdb", spec, client.read(stream, Window(small_world.start, small_world.end)),
                        Window(small_world.start, small_world.end))
    assert named in str(failure.value)
    assert f"{source}" in str(failure.value)
    if isinstance(failure.value, SchemaError):
        assert f"{source}.{stream}" in str(failure.value)
    assert table_digests(stored / "engagement.duckdb", ("raw_%",)) == before


def test_a_retired_insights_metric_fails_with_metas_error_naming_the_metric_and_writes_nothing(small_world, stored):
    before = table_digests(stored / "engagement.duckdb", ("raw_%",))
    with SandboxServer(small_world) as sandbox:
        client = clients.build_client("facebook", load_settings(sandbox.env()), policy=FAST)
        client.insight_metrics = ("post_impressions",)  # retired by Meta on 2025-11-15
        client.workers = 1  # one post at a time, so the request count shows any retry
        spec = spec_by_name(client.STREAMS, "post_insights")
        window = Window(small_world.start, small_world.end)
        with pytest.raises(ApiError) as failure:
            load_stream(stored / "engagement.duckdb", spec, client.read("post_insights", window), window)
        requests_sent = sandbox.requests["facebook.insights"]
    assert failure.value.status == 400
    assert "insights?metric=post_impressions failed (HTTP 400): (#100)" in str(failure.value)
    assert requests_sent == 1  # a retired metric is not a transient fault: no retries
    assert table_digests(stored / "engagement.duckdb", ("raw_%",)) == before


def test_unknown_extra_fields_are_ignored_recorded_and_the_records_equal_a_clean_read(small_world):
    window = Window(small_world.start, small_world.end)
    new_fields = ["another_new_field", "sandbox_unknown_field"]

    def read_all(extra: bool) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        with SandboxServer(small_world) as sandbox:
            if extra:
                sandbox.faults.add(FaultRule("*", "extra_fields", times=None))
            settings = load_settings(sandbox.env())
            out, ignored = {}, {}
            for source in ("ga4", "mailchimp", "hubspot", "x", "facebook"):
                for spec in clients.build_client(source, settings).STREAMS:
                    client = clients.build_client(source, settings, policy=FAST)
                    out[f"{source}.{spec.name}"] = sorted(repr(sorted(r.items())) for page in client.read(spec.name, window) for r in page_records(page))
                    ignored[f"{source}.{spec.name}"] = client.ignored_fields().get(spec.name, [])
            return out, ignored

    with_extra, ignored_extra = read_all(extra=True)
    clean, ignored_clean = read_all(extra=False)
    assert all(with_extra.values()), "every stream read records"
    assert not any(f in r for f in new_fields for rs in with_extra.values() for r in rs)
    assert with_extra == clean
    # recorded: every stream names both new fields, and a clean read names neither
    assert {s: [f for f in fs if f in new_fields] for s, fs in ignored_extra.items()} == {s: new_fields for s in clean}
    assert {s: fs for s, fs in ignored_clean.items() if set(fs) & set(new_fields)} == {}

