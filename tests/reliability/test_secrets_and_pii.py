"""Secrets and PII: planted canary tokens and salt appear nowhere a run leaves text behind.

Every source's credential is a distinctive canary. Two refreshes run with the event log on disk
(DAGSTER_HOME): one with transient faults on every source (it succeeds) and one that fails (a
rejected HubSpot token and a persistent 5xx on Mailchimp), so retry and error paths all run.
Then stdout/stderr, log records, failure texts, the event log files, dbt's logs/ and target/,
the warehouse and the snapshot (bytes and every text column) are scanned for each canary and
its base64 forms.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from connectors.http import RetryPolicy
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import Credentials, SandboxServer
from dagster_project.lib import clients
from dagster_project.lib.publish import publish_snapshot
from tests.conftest import point_pipeline_at

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CANARIES = Credentials(
    ga4_token="CANARYga4tok9f3a1e",
    mailchimp_key="ca7a4e11ca7a4e11ca7a4e11ca7a4e11-us21",
    x_bearer="CANARYxbearer7c2e",
    x_user_token="CANARYxuser4b9d21",
    facebook_token="CANARYfbtok5d1b08",
    hubspot_token="pat-na1-CANARYhs8e4f",
    linkedin_token="CANARYlitok3e7a90",
)
WRONG_HUBSPOT_TOKEN = "pat-na1-CANARYwrong2b7d"
SALT = "CANARYsalt6a9d3c"
FAST = RetryPolicy(total=6, backoff_factor=0.02, backoff_max=0.05, max_wait=5.0, jitter=0.01)


def forms(secret: str) -> list[bytes]:
    """The secret as text, and base64 of it and of Basic auth built on it (Mailchimp's `anystring:KEY`)."""
    out = [secret.encode()]
    for raw in (secret, f"anystring:{secret}", f"user:{secret}"):
        out.append(base64.b64encode(raw.encode()))
    return out


SECRETS = [CANARIES.ga4_token, CANARIES.mailchimp_key, CANARIES.x_bearer, CANARIES.x_user_token, CANARIES.facebook_token,
           CANARIES.hubspot_token, CANARIES.linkedin_token, WRONG_HUBSPOT_TOKEN]


def text_columns(path: Path) -> list[str]:
    """Every value of every text column of every table in a DuckDB file."""
    values: list[str] = []
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' and table_schema not in ('information_schema', 'pg_catalog')"
        ).fetchall()
        for schema, table, column in columns:
            values += [v for (v,) in con.execute(f'select distinct "{column}" from "{schema}"."{table}"').fetchall() if v]
    return values


@pytest.fixture(scope="module")
def runs(small_world, tmp_path_factory, dbt_manifest):
    from dagster_project.cli import run_refresh

    root = tmp_path_factory.mktemp("canary")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_project" / "dagster.yaml", home / "dagster.yaml")
    with SandboxServer(small_world, credentials=CANARIES) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, root)
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("ENGAGEMENT_PII_SALT", SALT)
        for endpoint, kind in (("ga4.runReport", "429"), ("mailchimp.email_activity", "5xx"), ("x.liking_users", "429"),
                               ("facebook.reactions", "throttle"), ("hubspot.contacts", "5xx"), ("mailchimp.members", "drop")):
            sandbox.faults.add(FaultRule(endpoint, kind, times=2))
        good = run_refresh(small_world.start, small_world.end)  # fetched in the default child process, default retries
        mp.setenv("ENGAGEMENT_INGEST_PROCESS", "same")  # the bad run's quick retries are patched into this process
        mp.setattr(clients, "RetryPolicy", lambda: FAST)
        mp.setenv("HUBSPOT_ACCESS_TOKEN", WRONG_HUBSPOT_TOKEN)
        sandbox.faults.add(FaultRule("mailchimp.reports", "5xx", times=None))
        bad = run_refresh(small_world.start, small_world.end)
        query_params = {api: set(names) for api, names in sandbox.query_params.items()}
    return {"root": root, "home": home, "good": good, "bad": bad, "query_params": query_params}


def test_the_runs_took_both_the_retry_and_the_error_paths(runs):
    assert runs["good"].success and sum(s.retries for s in runs["good"].streams) >= 12
    assert not runs["bad"].success
    failures = "\n".join(runs["bad"].failures)
    assert "hubspot" in failures and "HTTP 401" in failures and "mailchimp" in failures and "HTTP 503" in failures


def test_no_token_in_any_log_event_log_dbt_file_failure_metadata_warehouse_or_snapshot(runs, capfd, caplog):
    captured = capfd.readouterr()
    places: dict[str, bytes] = {
        "stdout": captured.out.encode(), "stderr": captured.err.encode(), "log records": caplog.text.encode(),
        "failure texts": "\n".join(runs["good"].failures + runs["bad"].failures).encode(),
        "publish metadata": repr(runs["good"].published).encode(),
        "stream reports": repr(runs["good"].streams + runs["bad"].streams).encode(),
    }
    scanned = [*runs["home"].rglob("*"), *(REPO / "dbt_models" / "logs").rglob("*"), *(REPO / "dbt_models" / "target").rglob("*"),
               runs["root"] / "engagement.duckdb", runs["root"] / "serving.duckdb"]
    for path in scanned:
        try:
            if path.is_file():
                places[str(path)] = path.read_bytes()
        except FileNotFoundError:  # another run (a parallel test worker) pruned it meanwhile: it was never ours
            pass
    for db in ("engagement.duckdb", "serving.duckdb"):
        places[f"{db} text columns"] = "\n".join(text_columns(runs["root"] / db)).encode()
    assert len(places) > 20 and sum(map(len, places.values())) > 1_000_000
    leaks = [(place, secret) for secret in [*SECRETS, SALT] for form in forms(secret) for place, data in places.items() if form in data]
    assert leaks == []


def test_no_credential_ever_travels_in_a_url(runs):
    for api, names in runs["query_params"].items():
        assert not names & {"access_token", "apikey", "api_key", "key", "token", "bearer"}, api


def test_the_snapshot_holds_no_email_handle_or_user_id_of_anyone_in_the_world(runs, small_world):
    values = text_columns(runs["root"] / "serving.duckdb")
    assert values, "the snapshot has text to scan"
    text = "\n".join(values).lower()
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text)
    assert not re.search(r"(^|\s)@\w{2,}", text)
    identifiers = set()
    for person in small_world.people:
        identifiers |= {person.email, person.site_user_id, person.x_user_id, person.x_username, person.fb_user_id}
    identifiers |= set(small_world.li_members.values())  # LinkedIn member URNs
    identifiers = {i.lower() for i in identifiers if i}
    assert len(identifiers) > 300
    found = {i for i in identifiers if i in text}
    assert found == set()


def test_person_ids_are_salted_and_a_new_salt_changes_every_one(runs, small_world, tmp_path):
    warehouse = runs["root"] / "engagement.duckdb"
    with duckdb.connect(str(runs["root"] / "serving.duckdb"), read_only=True) as con:
        ids = {i for (i,) in con.execute("select person_id from marts.dim_person").fetchall()}
    unsalted = set()
    for person in small_world.people:
        for ident in (person.email, person.site_user_id):
            if ident:
                unsalted |= {hashlib.sha256(ident.encode()).hexdigest(), hashlib.md5(ident.encode()).hexdigest()}
    assert len(ids) > 100 and not ids & unsalted
    publish_snapshot(warehouse, tmp_path / "other.duckdb", "a-different-salt")
    with duckdb.connect(str(tmp_path / "other.duckdb"), read_only=True) as con:
        other = {i for (i,) in con.execute("select person_id from marts.dim_person").fetchall()}
    assert len(other) == len(ids) and not other & ids
