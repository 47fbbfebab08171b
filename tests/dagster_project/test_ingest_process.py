"""The run's fetches and raw loads in a child process (ENGAGEMENT_INGEST_PROCESS=child, the default)."""

from __future__ import annotations

import os
import signal

import pytest

from connectors.errors import ApiError, ConfigError
from connectors.sandbox.faults import FaultRule
from connectors.streams import Window
from dagster_project.lib import ingest_process
from dagster_project.lib.clients import all_streams
from dagster_project.lib.settings import load_settings
from tests.conftest import point_pipeline_at
from tests.reliability.conftest import table_digests

SPECS = {spec.table: spec for spec in all_streams()}


def stored(db) -> dict[str, tuple[int, str]]:
    """{raw table: (rows, digest of its rows without the load time)}"""
    return {table: digest for table, digest in table_digests(db, ("raw_%",)).items() if table in SPECS}


def materialise_ingestion(world) -> dict[str, dict]:
    """Every ingestion asset over the world's days in one run; each stream's reported figures."""
    import dagster as dg

    from dagster_project.defs.ingestion import ingestion_assets
    from dagster_project.defs.resources import EngagementSettings
    from dagster_project.lib.run_window import range_tags
    from dagster_project.lib.throwaway_instance import throwaway_instance

    result = dg.materialize(ingestion_assets(), resources={"engagement": EngagementSettings()}, instance=throwaway_instance(),
                            tags=range_tags(world.start, world.end), raise_on_error=False)
    assert result.success, [str(e.step_failure_data.error.message) for e in result.get_step_failure_events()]
    reported = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        meta = {k: v.value for k, v in materialization.metadata.items() if not k.endswith("seconds")}  # timings differ
        reported["/".join(materialization.asset_key.path)] = meta
    return reported


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    point_pipeline_at(monkeypatch, sandbox, tmp_path)
    return tmp_path


def test_the_child_loads_and_reports_exactly_what_the_runs_own_process_does(env, sandbox, world, monkeypatch):
    monkeypatch.setenv("ENGAGEMENT_SOURCES", "ga4,mailchimp,x,facebook,linkedin")  # hubspot disabled: its table only made
    in_child = materialise_ingestion(world)
    child_tables = stored(env / "engagement.duckdb")
    monkeypatch.setenv("ENGAGEMENT_INGEST_PROCESS", "same")
    monkeypatch.setenv("ENGAGEMENT_WAREHOUSE", str(env / "same.duckdb"))
    in_process = materialise_ingestion(world)
    assert len(in_child) == len(SPECS) and in_child == in_process
    assert child_tables == stored(env / "same.duckdb")
    assert child_tables["raw_hubspot.contacts"][0] == 0 and child_tables["raw_mailchimp.email_activity"][0] > 1000
    assert in_child["raw_hubspot/contacts"] == {"enabled": False}


def plan(world, tables: list[str]) -> list:
    return [(SPECS[table], Window(world.start, world.end)) for table in tables]


def test_the_child_has_exited_when_the_last_outcome_is_taken_and_a_failed_stream_raises_its_own_error(env, sandbox, world):
    sandbox.faults.add(FaultRule("x.tweets", "5xx", status=400, times=None))  # a 400 is never retried
    settings = load_settings()
    run = ingest_process.child_for("run-1", settings, lambda: plan(world, ["raw_mailchimp.campaigns", "raw_x.posts"]))
    assert ingest_process.child_for("run-1", settings, lambda: []) is run  # one child per run
    loaded = run.outcome("raw_mailchimp.campaigns", lambda stream, stats: None)
    assert loaded.result.fetched == loaded.result.table_rows == stored(env / "engagement.duckdb")["raw_mailchimp.campaigns"][0] > 0
    with pytest.raises(ApiError) as raised:
        run.outcome("raw_x.posts", lambda stream, stats: None)
    assert (raised.value.source, raised.value.status) == ("x", 400)
    assert "Traceback" in "\n".join(raised.value.__notes__)  # the child's own traceback travels with it
    assert run.process.returncode == 0 and "run-1" not in ingest_process._runs


def test_a_killed_child_fails_the_waiting_stream_naming_the_signal_and_what_to_do(env, sandbox, world):
    run = ingest_process.ChildRun("run-2", load_settings(), plan(world, ["raw_mailchimp.campaigns"]))
    # its reading threads share 2 malloc arenas (what they free goes back to the loads), unless the user chose
    environ = dict(v.split(b"=", 1) for v in open(f"/proc/{run.process.pid}/environ", "rb").read().split(b"\0") if b"=" in v)
    assert environ[b"MALLOC_ARENA_MAX"] == os.environ.get("MALLOC_ARENA_MAX", "2").encode()
    os.kill(run.process.pid, signal.SIGKILL)
    with pytest.raises(ingest_process.IngestProcessDied) as raised:
        run.outcome("raw_mailchimp.campaigns", lambda stream, stats: None)
    assert str(raised.value) == (f"the ingestion process (pid {run.process.pid}) was killed by signal 9 before it loaded "
                                 "raw_mailchimp.campaigns; what it loaded before is stored, and a rerun reads the rest")


def test_the_child_stops_when_the_runs_process_lets_go_of_it(env, sandbox, world):
    run = ingest_process.ChildRun("run-3", load_settings(), plan(world, ["raw_mailchimp.email_activity"]))
    run.process.stdin.close()  # as when the run's process dies
    assert run.process.wait(timeout=60) == 3


def test_a_wrong_ingest_process_names_the_variable(env):
    with pytest.raises(ConfigError, match=r"ENGAGEMENT_INGEST_PROCESS must be one of child, same \(got 'fork'\)"):
        load_settings({**os.environ, "ENGAGEMENT_INGEST_PROCESS": "fork"})
    assert load_settings().ingest_process == "child"
    assert load_settings({**os.environ, "ENGAGEMENT_INGEST_PROCESS": " Same"}).ingest_process == "same"
