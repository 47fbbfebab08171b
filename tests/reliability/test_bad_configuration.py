"""Bad configuration and input: one line naming what to fix, exit code 2, before any request or write."""

from __future__ import annotations

import pytest

from connectors.sandbox.server import SandboxServer
from dagster_project.cli import main
from tests.conftest import point_pipeline_at

URL_VARIABLES = ["GA4_API_URL", "MAILCHIMP_API_URL", "X_API_URL", "FACEBOOK_GRAPH_URL", "LINKEDIN_API_URL", "HUBSPOT_API_URL"]
BAD_URLS = [
    ("file:///etc/passwd", "must be an https:// URL (got scheme 'file')"),
    ("gopher://example.com/", "must be an https:// URL (got scheme 'gopher')"),
    ("ftp://example.com/", "must be an https:// URL (got scheme 'ftp')"),
    ("http://169.254.169.254/latest", "plain http for a non-loopback host"),
    ("http://10.0.0.1/", "plain http for a non-loopback host"),
    ("http://example.com/", "plain http for a non-loopback host"),
    ("https://user:pw@example.com/", "must not embed credentials"),
    ("http://user:pw@127.0.0.1:1/", "must not embed credentials"),
    ("https:///no-host", "has no host"),
]
REQUIRED = ["GA4_PROPERTY_ID", "GA4_ACCESS_TOKEN", "GA4_USER_ID_DIMENSION", "MAILCHIMP_API_KEY", "X_USER_ID",
            "X_BEARER_TOKEN", "FACEBOOK_PAGE_ID", "FACEBOOK_ACCESS_TOKEN", "LINKEDIN_ORGANIZATION_ID", "LINKEDIN_ACCESS_TOKEN",
            "HUBSPOT_ACCESS_TOKEN", "ENGAGEMENT_PII_SALT"]
MALFORMED = [
    ("ENGAGEMENT_LOOKBACK_DAYS", "abc", "ENGAGEMENT_LOOKBACK_DAYS must be a whole number"),
    ("ENGAGEMENT_LOOKBACK_DAYS", "-1", "ENGAGEMENT_LOOKBACK_DAYS must be a whole number"),
    ("ENGAGEMENT_LOOKBACK_DAYS", "400", "ENGAGEMENT_LOOKBACK_DAYS must be a whole number"),
    ("ENGAGEMENT_HORIZON_DAYS", "a month", "ENGAGEMENT_HORIZON_DAYS must be a whole number"),
    ("ENGAGEMENT_HORIZON_DAYS", "400", "ENGAGEMENT_HORIZON_DAYS must be a whole number"),
    ("ENGAGEMENT_COUNTER_HORIZON_DAYS", "10", "ENGAGEMENT_COUNTER_HORIZON_DAYS (10) must be at least ENGAGEMENT_HORIZON_DAYS (30)"),
    ("ENGAGEMENT_SOURCES", "ga4,tiktok", "ENGAGEMENT_SOURCES names unknown source(s) tiktok"),
    ("LINKEDIN_ORGANIZATION_ID", "acme-inc", "LINKEDIN_ORGANIZATION_ID must be the organisation's numeric id"),
    ("LINKEDIN_VERSION", "v2", "LINKEDIN_VERSION must look like 202611"),
    ("GA4_PROPERTY_ID", "properties/123", "GA4_PROPERTY_ID must be the numeric property id"),
    ("GA4_USER_ID_DIMENSION", "site user id", "GA4_USER_ID_DIMENSION must be a dimension API name"),
    ("MAILCHIMP_API_KEY", "0123456789abcdef", "MAILCHIMP_API_KEY has no data-centre suffix"),
    ("HUBSPOT_X_HANDLE_PROPERTY", "twitter handle; drop", "HUBSPOT_X_HANDLE_PROPERTY must be a contact property's internal name"),
]
BAD_ARGS = [
    (["--start", "2026-10-10", "--end", "2026-10-01"], "--start 2026-10-10 must be before --end 2026-10-01"),
    (["--start", "2026-10-01", "--end", "2026-10-01"], "--start 2026-10-01 must be before --end 2026-10-01"),
    (["--start", "10/01/2026", "--end", "2026-10-02"], "--start must be a date like 2026-10-01"),
    (["--start", "2026-10-01", "--end", "tomorrow"], "--end must be a date like 2026-10-01"),
]


@pytest.fixture(scope="module")
def quiet_sandbox(small_world):
    with SandboxServer(small_world) as server:
        yield server


def refuse(sandbox, tmp_path, capsys, args=("--start", "2026-10-01", "--end", "2026-10-08")) -> str:
    """Run `engagement refresh`; it must exit 2 with one line, having sent nothing and written nothing."""
    sent_before = sum(sandbox.requests.values())
    code = main(["refresh", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert sum(sandbox.requests.values()) == sent_before, "a request was sent"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "something was written"
    return err[0]


@pytest.mark.parametrize("variable", REQUIRED)
@pytest.mark.parametrize("value", [None, "   "], ids=["unset", "blank"])
def test_a_missing_variable_is_named(quiet_sandbox, tmp_path, monkeypatch, capsys, variable, value):
    point_pipeline_at(monkeypatch, quiet_sandbox, tmp_path)
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    line = refuse(quiet_sandbox, tmp_path, capsys)
    assert line.startswith("engagement: ") and variable in line


@pytest.mark.parametrize("variable, value, message", MALFORMED, ids=[f"{v}={x}" for v, x, _ in MALFORMED])
def test_a_malformed_variable_is_named(quiet_sandbox, tmp_path, monkeypatch, capsys, variable, value, message):
    point_pipeline_at(monkeypatch, quiet_sandbox, tmp_path)
    monkeypatch.setenv(variable, value)
    assert message in refuse(quiet_sandbox, tmp_path, capsys)


@pytest.mark.parametrize("variable", URL_VARIABLES)
@pytest.mark.parametrize("url, message", BAD_URLS, ids=[u for u, _ in BAD_URLS])
def test_a_base_url_other_than_https_or_loopback_http_is_refused(quiet_sandbox, tmp_path, monkeypatch, capsys, variable, url, message):
    point_pipeline_at(monkeypatch, quiet_sandbox, tmp_path)
    monkeypatch.setenv(variable, url)
    line = refuse(quiet_sandbox, tmp_path, capsys)
    assert f"{variable} " in line and message in line
    assert "pw" not in line.replace("pw@", "")  # the URL's password is not echoed back


@pytest.mark.parametrize("args, message", BAD_ARGS, ids=["start-after-end", "empty-window", "us-date", "word"])
def test_a_bad_window_names_the_flag(quiet_sandbox, tmp_path, monkeypatch, capsys, args, message):
    point_pipeline_at(monkeypatch, quiet_sandbox, tmp_path)
    assert message in refuse(quiet_sandbox, tmp_path, capsys, args)


def test_a_disabled_source_needs_no_credentials_and_a_bad_one_elsewhere_still_stops_everything(quiet_sandbox, tmp_path, monkeypatch, capsys):
    point_pipeline_at(monkeypatch, quiet_sandbox, tmp_path)
    monkeypatch.setenv("ENGAGEMENT_SOURCES", "mailchimp,x")
    monkeypatch.delenv("GA4_ACCESS_TOKEN")  # ga4 is disabled: not needed
    monkeypatch.setenv("X_API_URL", "gopher://example.com")
    assert "X_API_URL" in refuse(quiet_sandbox, tmp_path, capsys)
