"""Configuration errors name the variable to fix, before any request or write."""

from __future__ import annotations

import pytest

from connectors.http import ConfigError
from connectors.sandbox.server import sandbox_env
from dagster_project.lib.project import PROJECT_ROOT
from dagster_project.lib.settings import load_settings

SANDBOX = sandbox_env("http://127.0.0.1:8765")


def test_defaults_match_the_design_contract():
    settings = load_settings(SANDBOX)
    # under the project folder, whatever the current directory
    assert settings.warehouse == str(PROJECT_ROOT / "warehouse" / "engagement.duckdb")
    assert settings.serving == str(PROJECT_ROOT / "warehouse" / "serving.duckdb")
    assert settings.sources == ("ga4", "mailchimp", "x", "facebook", "linkedin", "hubspot")
    assert settings.lookback.days == 7
    assert settings.get("HUBSPOT_X_HANDLE_PROPERTY") == "twitterhandle"


def test_enabled_source_without_its_token_names_the_missing_variable():
    env = {k: v for k, v in SANDBOX.items() if k != "X_BEARER_TOKEN"}
    with pytest.raises(ConfigError, match="X_BEARER_TOKEN is not set, and source 'x' is enabled"):
        load_settings(env)


def test_disabled_source_needs_no_credentials():
    settings = load_settings({"ENGAGEMENT_SOURCES": "ga4", "ENGAGEMENT_PII_SALT": "s",
                              **{k: v for k, v in SANDBOX.items() if k.startswith("GA4")}})
    assert settings.sources == ("ga4",) and not settings.enabled("x")


def test_unknown_source_is_named():
    with pytest.raises(ConfigError, match="ENGAGEMENT_SOURCES names unknown source.*tiktok"):
        load_settings({**SANDBOX, "ENGAGEMENT_SOURCES": "ga4,tiktok"})


@pytest.mark.parametrize("value", ["-1", "seven", "3.5", "1000"])
def test_malformed_lookback_is_named(value):
    with pytest.raises(ConfigError, match="ENGAGEMENT_LOOKBACK_DAYS"):
        load_settings({**SANDBOX, "ENGAGEMENT_LOOKBACK_DAYS": value})


def test_plain_http_to_a_remote_host_is_refused():
    with pytest.raises(ConfigError, match="MAILCHIMP_API_URL"):
        load_settings({**SANDBOX, "MAILCHIMP_API_URL": "http://us21.api.mailchimp.com/3.0"})


def test_settings_repr_never_shows_credentials():
    assert SANDBOX["X_BEARER_TOKEN"] not in repr(load_settings(SANDBOX))


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_pii_salt_is_named(value):
    env = {k: v for k, v in SANDBOX.items() if k != "ENGAGEMENT_PII_SALT"}
    if value is not None:
        env["ENGAGEMENT_PII_SALT"] = value
    with pytest.raises(ConfigError, match="ENGAGEMENT_PII_SALT is not set"):
        load_settings(env)


def test_settings_repr_never_shows_the_salt():
    assert SANDBOX["ENGAGEMENT_PII_SALT"] not in repr(load_settings(SANDBOX))


def test_read_timeout_defaults_to_30_seconds_and_reaches_every_client():
    from dagster_project.lib.clients import build_client

    assert load_settings(SANDBOX).read_timeout == 30.0
    settings = load_settings({**SANDBOX, "ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS": "120"})
    assert {name: build_client(name, settings).timeout for name in settings.sources} == {
        name: (5.0, 120.0) for name in settings.sources}


@pytest.mark.parametrize("value", ["0", "-5", "soon", "7200"])
def test_malformed_read_timeout_is_named(value):
    with pytest.raises(ConfigError, match=r"ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS must be a number of seconds from 1 to 3600"):
        load_settings({**SANDBOX, "ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS": value})
