"""A source is declared once: settings, .env.example, client building, sandbox exports and asset keys derive from it."""

from __future__ import annotations

from pathlib import Path

from connectors.registry import SOURCES, render_env_example
from connectors.sandbox.server import api_modules, sandbox_env
from dagster_project.lib import settings as settings_module
from dagster_project.lib.clients import build_client

ROOT = Path(__file__).resolve().parents[2]


def test_settings_know_exactly_the_declared_sources_and_variables():
    assert settings_module.ALL_SOURCES == tuple(s.name for s in SOURCES)
    assert settings_module.SOURCE_VARIABLES == {s.name: (s.required, s.url_variable) for s in SOURCES}
    declared = {setting.variable for s in SOURCES for setting in s.settings}
    assert settings_module._KNOWN == declared


def test_env_example_lists_every_declared_setting_as_the_declarations_render_it():
    text = (ROOT / ".env.example").read_text()
    assert text.endswith(render_env_example())
    assert f"\nENGAGEMENT_SOURCES={','.join(s.name for s in SOURCES)} " in text
    for s in SOURCES:
        for setting in s.settings:
            assert f"\n{setting.variable}=" in text


def test_the_sandbox_exports_every_declared_variable_it_needs_and_nothing_undeclared():
    env = sandbox_env("http://127.0.0.1:1")
    declared = {setting.variable for s in SOURCES for setting in s.settings}
    assert set(env) - declared == {"ENGAGEMENT_PII_SALT", "ENGAGEMENT_SOURCES"}
    assert env["ENGAGEMENT_SOURCES"] == ",".join(s.name for s in SOURCES)
    for s in SOURCES:
        assert set(s.required) <= set(env), s.name
        assert s.url_variable in env, s.name
    assert set(api_modules()) == {s.name for s in SOURCES}


def test_every_declared_source_builds_its_client_from_the_sandbox_settings():
    settings = settings_module.load_settings(sandbox_env("http://127.0.0.1:1"))
    assert settings.sources == tuple(s.name for s in SOURCES)
    for s in SOURCES:
        client = build_client(s.name, settings)
        assert type(client) is s.client_class and client.source == s.name


def test_asset_keys_are_the_declared_streams(dbt_manifest):
    from dagster_project.defs.ingestion import ingestion_assets

    keys = {tuple(key.path) for asset in ingestion_assets() for key in asset.keys}
    assert keys == {(f"raw_{s.name}", spec.name) for s in SOURCES for spec in s.streams}
