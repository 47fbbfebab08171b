"""The inputs fingerprint moves with every change the marts could see, and only a publish of the
same run's build makes a fingerprint the published one."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb
import pytest

from dagster_project.lib import build_state

SETTINGS = [("window", "2026-10-01..2026-10-29"), ("serving", "/srv/serving.duckdb")]


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "engagement.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_x; create table raw_x.posts (id varchar, likes int, _loaded_at timestamptz)")
        con.execute("insert into raw_x.posts values ('1', 3, '2026-10-02 03:00:00+00'), ('2', 5, '2026-10-02 03:00:00+00')")
        con.execute("create schema marts; create table marts.fct (n int)")  # not raw: never part of the fingerprint
    return str(path)


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"metadata": {"generated_at": "2026-12-01T00:00:00Z"},
                                "nodes": {"model.engagement.fct": {"checksum": {"checksum": "abc"}}}}))
    return path


def fingerprint(warehouse, manifest, settings=SETTINGS):
    return build_state.inputs_fingerprint(warehouse, manifest, settings)


def execute(warehouse, sql, *params):
    with duckdb.connect(warehouse) as con:
        con.execute(sql, list(params))


def test_the_fingerprint_is_stable_while_nothing_changes_and_ignores_non_raw_tables_and_parse_metadata(warehouse, manifest):
    first = fingerprint(warehouse, manifest)
    execute(warehouse, "insert into marts.fct values (1)")
    body = json.loads(manifest.read_text())
    body["metadata"]["generated_at"] = "2026-12-02T00:00:00Z"
    manifest.write_text(json.dumps(body))
    assert fingerprint(warehouse, manifest) == first


@pytest.mark.parametrize("change", [
    "insert into raw_x.posts values ('3', 1, '2026-10-03 03:00:00+00')",  # a new row: a newer _loaded_at
    "delete from raw_x.posts where id = '2'",  # a window-owned row the API no longer reports: fewer rows
    # the loader replaces a changed row with a new _loaded_at
    "update raw_x.posts set likes = 6, _loaded_at = '2026-10-03 03:00:00+00' where id = '2'",
    "create table raw_x.mentions (id varchar, _loaded_at timestamptz)",  # a stream loaded for the first time
])
def test_every_change_the_loader_can_make_moves_the_fingerprint(warehouse, manifest, change):
    before = fingerprint(warehouse, manifest)
    execute(warehouse, change)
    assert fingerprint(warehouse, manifest) != before


def test_a_changed_model_or_setting_moves_the_fingerprint(warehouse, manifest):
    before = fingerprint(warehouse, manifest)
    assert fingerprint(warehouse, manifest, [*SETTINGS[:1], ("serving", "/elsewhere.duckdb")]) != before
    assert fingerprint(warehouse, manifest, [("window", "2026-10-02..2026-10-29"), SETTINGS[1]]) != before
    body = json.loads(manifest.read_text())
    body["nodes"]["model.engagement.fct"]["checksum"]["checksum"] = "abd"
    manifest.write_text(json.dumps(body))
    assert fingerprint(warehouse, manifest) != before


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
