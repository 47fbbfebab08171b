"""The inputs fingerprint moves with every change the marts could see, and only a publish of the
same run's build makes a fingerprint the published one."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pytest

from dagster_project.lib import build_state, dbt_manifest

SETTINGS = [("window", "2026-10-01..2026-10-29"), ("serving", "/srv/serving.duckdb")]


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "engagement.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_x; create table raw_x.posts (id varchar, likes int, _loaded_at timestamptz)")
        con.execute("insert into raw_x.posts values ('1', 3, '2026-10-02 03:00:00+00'), ('2', 5, '2026-10-02 03:00:00+00')")
        con.execute("create schema marts; create table marts.fct (n int)")  # not raw: never part of the fingerprint
    return str(path)


PROJECT = "digest-of-the-dbt-project"


def fingerprint(warehouse, project=PROJECT, settings=SETTINGS):
    return build_state.inputs_fingerprint(warehouse, project, settings)


def execute(warehouse, sql, *params):
    with duckdb.connect(warehouse) as con:
        con.execute(sql, list(params))


def test_the_fingerprint_is_stable_while_nothing_changes_and_ignores_non_raw_tables(warehouse):
    first = fingerprint(warehouse)
    execute(warehouse, "insert into marts.fct values (1)")
    assert fingerprint(warehouse) == first


@pytest.mark.parametrize("change", [
    "insert into raw_x.posts values ('3', 1, '2026-10-03 03:00:00+00')",  # a new row: a newer _loaded_at
    "delete from raw_x.posts where id = '2'",  # a window-owned row the API no longer reports: fewer rows
    # the loader replaces a changed row with a new _loaded_at
    "update raw_x.posts set likes = 6, _loaded_at = '2026-10-03 03:00:00+00' where id = '2'",
    "create table raw_x.mentions (id varchar, _loaded_at timestamptz)",  # a stream loaded for the first time
])
def test_every_change_the_loader_can_make_moves_the_fingerprint(warehouse, change):
    before = fingerprint(warehouse)
    execute(warehouse, change)
    assert fingerprint(warehouse) != before


def test_a_changed_dbt_project_setting_or_library_moves_the_fingerprint(warehouse, monkeypatch):
    before = fingerprint(warehouse)
    assert fingerprint(warehouse, settings=[*SETTINGS[:1], ("serving", "/elsewhere.duckdb")]) != before
    assert fingerprint(warehouse, settings=[("window", "2026-10-02..2026-10-29"), SETTINGS[1]]) != before
    assert fingerprint(warehouse, project="digest-after-a-model-changed") != before
    real_version = build_state.version
    monkeypatch.setattr(build_state, "version", lambda name: "9.9" if name == "statsmodels" else real_version(name))
    assert fingerprint(warehouse) != before  # an upgraded library may compute other values


def test_the_dbt_project_digest_follows_every_source_file_and_ignores_dbts_outputs(tmp_path, monkeypatch):
    project = tmp_path / "dbt_models"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    (project / "models" / "fct.sql").write_text("select 1 as n")
    (project / "dbt_project.yml").write_text("vars: {rounds: 12}")
    monkeypatch.setattr(dbt_manifest, "DBT_PROJECT_DIR", project)
    first = dbt_manifest.project_digest()
    (project / "target" / "manifest.json").write_text("{}")
    (project / "target" / "run_results.json").write_text("{}")
    assert dbt_manifest.project_digest() == first
    (project / "dbt_project.yml").write_text("vars: {rounds: 16}")
    changed_var = dbt_manifest.project_digest()
    (project / "models" / "fct.sql").write_text("select 2 as n")
    assert len({first, changed_var, dbt_manifest.project_digest()}) == 3


def test_only_a_publish_of_the_same_runs_build_becomes_the_published_fingerprint(warehouse):
    assert build_state.published(warehouse) is None
    build_state.building(warehouse, "f1", "run-1")
    assert build_state.published(warehouse) is None  # built, not yet published
    assert not build_state.mark_published(warehouse, "run-2")  # another run's publish vouches for nothing
    assert build_state.published(warehouse) is None
    before = datetime.now(timezone.utc)
    assert build_state.mark_published(warehouse, "run-1")
    fingerprint_, run_id, at = build_state.published(warehouse)
    assert (fingerprint_, run_id) == ("f1", "run-1") and at >= before
    assert not build_state.mark_published(warehouse, "run-1")  # once: nothing is pending any more


def test_a_build_that_starts_forgets_the_published_fingerprint_until_its_own_publish(warehouse):
    build_state.building(warehouse, "f1", "run-1")
    build_state.mark_published(warehouse, "run-1")
    build_state.building(warehouse, "f2", "run-2")  # it may fail half way: the models no longer match f1
    assert build_state.published(warehouse) is None
    build_state.building(warehouse, None, "run-3")  # a build that cannot vouch for its inputs (Spark, a subset)
    assert not build_state.mark_published(warehouse, "run-3")
    assert build_state.published(warehouse) is None


def test_no_warehouse_yet_has_no_published_fingerprint(tmp_path):
    assert build_state.published(str(tmp_path / "absent.duckdb")) is None
