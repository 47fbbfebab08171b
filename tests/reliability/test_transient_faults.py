"""Transient faults: every source's bad moments are waited out, and nothing differs from a clean run.

Per source and fault kind, the connector reads every stream of that source and must return
exactly the records of a fault-free read. Then one whole refresh with a fault of every kind
armed on every source at once must leave the warehouse and the snapshot equal to a clean run's,
row for row.
"""

from __future__ import annotations

import pytest

from connectors.http import ApiClient, RetryPolicy
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import SandboxServer
from connectors.streams import Window, page_records
from dagster_project.lib import clients
from dagster_project.lib.settings import load_settings
from tests.conftest import point_pipeline_at
from tests.reliability.conftest import snapshot_digests, table_digests

pytestmark = pytest.mark.slow

FAST = RetryPolicy(total=4, backoff_factor=0.05, backoff_max=0.2, max_wait=5.0, jitter=0.01)
READ_TIMEOUT = 0.5  # a `slow` answer takes longer than this, so it times out and is retried

# The endpoint each source's faults hit, and the faults that source's real API produces.
SOURCE_FAULTS = {
    "ga4": ("ga4.runReport", [
        FaultRule("", "429", retry_after="1"), FaultRule("", "429"), FaultRule("", "5xx", times=3),
        FaultRule("", "drop"), FaultRule("", "slow", seconds=1.5), FaultRule("", "truncate"),
    ]),
    "mailchimp": ("mailchimp.email_activity", [
        FaultRule("", "429", retry_after="1"), FaultRule("", "429"), FaultRule("", "5xx", status=502, times=3),
        FaultRule("", "drop"), FaultRule("", "slow", seconds=1.5), FaultRule("", "bad_json"),
    ]),
    "x": ("x.liking_users", [
        FaultRule("", "429", reset_in=1), FaultRule("", "429"), FaultRule("", "5xx", times=3),
        FaultRule("", "drop"), FaultRule("", "slow", seconds=1.5),
    ]),
    "facebook": ("facebook.reactions", [
        *(FaultRule("", "throttle", code=code) for code in (4, 17, 32, 613, 80001)),
        FaultRule("", "5xx", status=500, times=3), FaultRule("", "drop"), FaultRule("", "slow", seconds=1.5),
    ]),
    "linkedin": ("linkedin.reactions", [
        FaultRule("", "429"), FaultRule("", "5xx", times=3), FaultRule("", "drop"), FaultRule("", "slow", seconds=1.5),
        FaultRule("", "truncate"),
    ]),
    "hubspot": ("hubspot.contacts", [
        FaultRule("", "429", retry_after="1"), FaultRule("", "429"), FaultRule("", "5xx", times=3),
        FaultRule("", "drop"), FaultRule("", "slow", seconds=1.5),
    ]),
}
CASES = [
    pytest.param(source, endpoint, rule, id=f"{source}-{rule.kind}{'-' + str(rule.code) if rule.code else ''}"
                 f"{'-retry_after' if rule.retry_after else ''}{'-reset' if rule.reset_in else ''}")
    for source, (endpoint, rules) in SOURCE_FAULTS.items() for rule in rules
]


def read_everything(sandbox: SandboxServer, source: str) -> dict[str, list]:
    settings = load_settings(sandbox.env())
    client = clients.build_client(source, settings, policy=FAST)
    client.timeout = (2.0, READ_TIMEOUT)
    world = sandbox.world
    out = {}
    for spec in client.STREAMS:
        pages = client.read(spec.name, Window(world.start, world.end))  # pages of records
        out[spec.name] = sorted(repr(sorted(r.items())) for page in pages for r in page_records(page))
    return out, client.stats


@pytest.fixture(scope="module")
def clean_reads(small_world):
    with SandboxServer(small_world) as sandbox:
        return {source: read_everything(sandbox, source)[0] for source in SOURCE_FAULTS}


@pytest.mark.parametrize("source, endpoint, rule", CASES)
def test_a_transient_fault_is_waited_out_and_the_records_equal_a_clean_read(small_world, clean_reads, source, endpoint, rule):
    with SandboxServer(small_world) as sandbox:
        armed = sandbox.faults.add(FaultRule(endpoint, rule.kind, times=rule.times, status=rule.status,
                                             retry_after=rule.retry_after, reset_in=rule.reset_in,
                                             seconds=rule.seconds, code=rule.code))
        records, stats = read_everything(sandbox, source)
    assert armed.times == 0, "the fault never fired"
    assert stats.retries == rule.times
    assert records == clean_reads[source]


def test_one_refresh_with_every_source_faulting_at_once_equals_a_clean_run(small_world, clean_run, tmp_path, monkeypatch):
    from dagster_project.cli import run_refresh

    # a source's faults fire back to back on one endpoint here: allow that many retries in a row
    patient = RetryPolicy(total=12, backoff_factor=0.05, backoff_max=0.2, max_wait=5.0, jitter=0.01)
    monkeypatch.setattr(clients, "RetryPolicy", lambda: patient)
    monkeypatch.setattr(ApiClient, "timeout", (2.0, READ_TIMEOUT))
    monkeypatch.setenv("ENGAGEMENT_INGEST_PROCESS", "same")  # the patches live in this process, not in a child
    with SandboxServer(small_world) as sandbox:
        point_pipeline_at(monkeypatch, sandbox, tmp_path)
        armed = []
        for endpoint, rules in SOURCE_FAULTS.values():
            for rule in rules:
                armed.append(sandbox.faults.add(FaultRule(endpoint, rule.kind, times=rule.times, status=rule.status,
                                                          retry_after=rule.retry_after, reset_in=rule.reset_in,
                                                          seconds=rule.seconds, code=rule.code)))
        report = run_refresh(small_world.start, small_world.end)

    assert report.success, report.failures
    assert [r for r in armed if r.times] == [], "every armed fault fired"
    retries = {s.asset: s.retries for s in report.streams if s.retries}
    assert {a.split("/")[0] for a in retries} == {f"raw_{s}" for s in SOURCE_FAULTS}
    assert table_digests(tmp_path / "engagement.duckdb") == clean_run["warehouse_digests"]
    assert snapshot_digests(tmp_path / "serving.duckdb") == clean_run["snapshot_digests"]
