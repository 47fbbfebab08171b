"""What a new user meets before any run: help texts, .env, default paths, .env.example."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from connectors.sandbox.server import sandbox_env
from dagster_project import cli
from dagster_project.lib import project
from dagster_project.lib.project import PROJECT_ROOT, load_project_env, project_path
from dagster_project.lib.settings import load_settings

COMMANDS = ("demo", "refresh", "experiments", "sandbox", "dev")


def help_text(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "dagster_project.cli", *args, "--help"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)], ids=["engagement", *COMMANDS])
def test_help_shows_no_literal_backticks(command):
    assert "`" not in help_text(*command)


def test_refresh_help_has_a_description_the_variables_and_the_exit_codes():
    text = help_text("refresh")
    assert "Pull the days [--start, --end) (end excluded)" in text
    for variable in ("ENGAGEMENT_PII_SALT", "ENGAGEMENT_SOURCES", "ENGAGEMENT_WAREHOUSE", "ENGAGEMENT_SERVING",
                     "ENGAGEMENT_LOOKBACK_DAYS", "ENGAGEMENT_HORIZON_DAYS", "DAGSTER_HOME"):
        assert variable in text
    assert re.search(r"exit codes:\n  0  success\n  1  the run failed.*\n  2  bad configuration or arguments", text)
    assert "-v, --verbose" in text


def test_the_ui_port_is_named():
    assert "http://127.0.0.1:3000" in help_text("dev")
    assert cli.build_parser().parse_args(["dev"]).port == 3000


def test_a_relative_or_default_warehouse_path_is_under_the_project_whatever_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGEMENT_SERVING", raising=False)
    env = {**sandbox_env("http://127.0.0.1:8765")}
    settings = load_settings(env)
    assert settings.warehouse == str(PROJECT_ROOT / "warehouse" / "engagement.duckdb")
    assert settings.serving == str(PROJECT_ROOT / "warehouse" / "serving.duckdb")
    assert load_settings({**env, "ENGAGEMENT_WAREHOUSE": "other/w.duckdb"}).warehouse == str(PROJECT_ROOT / "other" / "w.duckdb")
    assert project_path(str(tmp_path / "w.duckdb"), "unused") == str(tmp_path / "w.duckdb")
    assert cli.default_serving() == PROJECT_ROOT / "warehouse" / "serving.duckdb"


def test_dot_env_fills_in_what_the_environment_does_not_set_and_never_overrides(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ENGAGEMENT_SOURCES=ga4   # a comment\nENGAGEMENT_LOOKBACK_DAYS=3\nGA4_ACCESS_TOKEN=\n")
    environ = {"ENGAGEMENT_SOURCES": "hubspot"}
    assert load_project_env(environ, env_file) == ["ENGAGEMENT_LOOKBACK_DAYS", "GA4_ACCESS_TOKEN"]
    assert environ == {"ENGAGEMENT_SOURCES": "hubspot", "ENGAGEMENT_LOOKBACK_DAYS": "3", "GA4_ACCESS_TOKEN": ""}
    assert load_project_env({}, tmp_path / "missing.env") == []


def test_engagement_refresh_reads_the_project_dot_env(tmp_path, monkeypatch, capsys):
    """Before: `dagster dev` read .env and `engagement refresh` ignored it. A malformed value in .env
    now stops the refresh, naming the variable, before any request."""
    for key, value in sandbox_env("http://127.0.0.1:9").items():
        monkeypatch.setenv(key, value)
    # set, then deleted: teardown then removes what main() reads from .env into os.environ (a bare
    # delenv of an unset variable records nothing, and 'a week' reached the worker's next modules)
    monkeypatch.setenv("ENGAGEMENT_LOOKBACK_DAYS", "7")
    monkeypatch.delenv("ENGAGEMENT_LOOKBACK_DAYS")
    (tmp_path / ".env").write_text("ENGAGEMENT_LOOKBACK_DAYS=a week\n")
    monkeypatch.setattr(project, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(cli, "load_project_env", project.load_project_env)  # the suite turns it off (tests/conftest.py)
    assert cli.main(["refresh", "--start", "2026-10-01", "--end", "2026-10-08"]) == 2
    assert capsys.readouterr().err.strip() == "engagement: ENGAGEMENT_LOOKBACK_DAYS must be a whole number of days from 0 to 365 (got 'a week')"


def test_env_example_shows_no_value_for_a_required_variable():
    values = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, rest = line.split("=", 1)
            values[name] = rest.split("#", 1)[0].strip()
    from connectors.registry import SOURCES

    required = {"ENGAGEMENT_PII_SALT", *(variable for source in SOURCES for variable in source.required)}
    assert {"GA4_USER_ID_DIMENSION", "LINKEDIN_ACCESS_TOKEN", "HUBSPOT_ACCESS_TOKEN"} <= required
    assert {name: values[name] for name in required} == {name: "" for name in required}


def test_demo_and_dev_share_the_project_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setattr(cli, "DAGSTER_HOME_DEFAULT", tmp_path / ".dagster_home")
    home = cli.project_dagster_home()
    assert home == tmp_path / ".dagster_home"
    assert (home / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster_project" / "dagster.yaml").read_text()
    assert cli.DAGSTER_HOME_DEFAULT == tmp_path / ".dagster_home"
    assert project.DAGSTER_HOME_DEFAULT == PROJECT_ROOT / ".dagster_home"
