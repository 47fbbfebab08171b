"""Landing on the lake (ENGAGEMENT_ENGINE=spark) without Spark: the same merge as the DuckDB loader,
idempotent to the byte, all-or-nothing, partitioned by date; and the engine's configuration errors."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from connectors.http import ConfigError
from connectors.streams import StreamSpec, Window
from dagster_project.lib import lake
from dagster_project.lib.engine import dbt_build_args, dbt_target
from dagster_project.lib.project import PROJECT_ROOT
from dagster_project.lib.settings import load_settings

DAYS = StreamSpec("demo", "days", pa.schema([("date", pa.date32()), ("campaign", pa.string()), ("sessions", pa.int64())]),
                  ("date", "campaign"), strategy="window", window_column="date")
CONTACTS = StreamSpec("demo", "contacts", pa.schema([("id", pa.string()), ("updated_at", pa.timestamp("us", tz="UTC"))]),
                      ("id",), cursor_column="updated_at")
WINDOW = Window(date(2026, 10, 1), date(2026, 10, 4))


def day_rows(sessions: int = 5) -> list[dict]:
    return [{"date": date(2026, 10, d), "campaign": c, "sessions": sessions + d} for d in (1, 2, 3) for c in ("a", "b")]


def files(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def stored(root: Path, spec: StreamSpec) -> list[tuple]:
    path = lake.table_path(root, spec)
    with duckdb.connect() as con:
        return con.execute(f"select * exclude (_loaded_at) from read_parquet('{path}/**/*.parquet', hive_partitioning = true) "
                           "order by all").fetchall()


def test_a_window_lands_partitioned_by_date_and_a_rerun_rewrites_no_file(tmp_path):
    first = lake.load_stream(tmp_path, DAYS, [day_rows()[:3], day_rows()[3:]], WINDOW)
    path = lake.table_path(tmp_path, DAYS)
    assert (first.inserted, first.table_rows, path.is_symlink()) == (6, 6, True)
    assert sorted(p.name for p in path.iterdir()) == ["date=2026-10-01", "date=2026-10-02", "date=2026-10-03"]
    before = files(path)
    again = lake.load_stream(tmp_path, DAYS, [day_rows()], WINDOW)
    assert (again.inserted, again.deleted, files(path)) == (0, 0, before)


def test_a_changed_window_replaces_its_rows_and_drops_what_the_api_no_longer_reports(tmp_path):
    lake.load_stream(tmp_path, DAYS, [day_rows()], WINDOW)
    changed = [r for r in day_rows(sessions=50) if r["campaign"] == "a"]
    result = lake.load_stream(tmp_path, DAYS, [changed], WINDOW)
    assert (result.inserted, result.deleted, result.table_rows) == (3, 6, 3)
    assert stored(tmp_path, DAYS) == [("a", 51, date(2026, 10, 1)), ("a", 52, date(2026, 10, 2)), ("a", 53, date(2026, 10, 3))]
    assert len(list(lake.table_path(tmp_path, DAYS).parent.glob(".days.v-*"))) == 1  # the old version is gone


def test_a_load_that_fails_midway_leaves_the_previous_files(tmp_path):
    lake.load_stream(tmp_path, DAYS, [day_rows()], WINDOW)
    path = lake.table_path(tmp_path, DAYS)
    before = files(path)

    def pages_then_a_dropped_connection():
        yield [r | {"sessions": 99} for r in day_rows()]
        raise ConnectionError("connection reset (injected)")

    with pytest.raises(ConnectionError):
        lake.load_stream(tmp_path, DAYS, pages_then_a_dropped_connection(), WINDOW)
    assert files(path) == before
    assert len(list(path.parent.iterdir())) == 2  # the table's link and its one version: nothing half-written left


def test_a_killed_swap_leaves_the_previous_version_and_the_next_load_cleans_up(tmp_path, monkeypatch):
    lake.load_stream(tmp_path, DAYS, [day_rows()], WINDOW)
    path = lake.table_path(tmp_path, DAYS)
    before = files(path)

    def killed(*_):
        raise KeyboardInterrupt  # as if the process died between writing the new version and the rename

    monkeypatch.setattr(lake, "pause_point", killed)
    with pytest.raises(KeyboardInterrupt):
        lake.load_stream(tmp_path, DAYS, [day_rows(sessions=7)], WINDOW)
    assert files(path) == before
    monkeypatch.undo()
    lake.load_stream(tmp_path, DAYS, [day_rows(sessions=7)], WINDOW)
    assert stored(tmp_path, DAYS)[0] == ("a", 8, date(2026, 10, 1))
    assert len(list(path.parent.iterdir())) == 2


def test_reference_streams_keep_a_cursor_and_an_unloaded_stream_is_an_empty_table(tmp_path):
    assert lake.cursor_of(tmp_path, CONTACTS) is None
    lake.ensure_lake_table(tmp_path, DAYS)
    assert stored(tmp_path, DAYS) == []  # readable, with its columns (one empty placeholder partition)
    newest = datetime(2026, 10, 3, 12, tzinfo=timezone.utc)
    lake.load_stream(tmp_path, CONTACTS, [[{"id": "1", "updated_at": newest}, {"id": "2", "updated_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}]], None)
    assert lake.cursor_of(tmp_path, CONTACTS) == newest


def test_object_store_lakes_are_named_as_unsupported_by_the_loader(tmp_path):
    with pytest.raises(lake.LakeError, match="ENGAGEMENT_LAKE 's3://bucket/lake'"):
        lake.table_path("s3://bucket/lake", DAYS)
    assert lake.table_path(f"file://{tmp_path}", DAYS) == tmp_path / "raw" / "demo" / "days"


def test_engine_configuration_errors_name_the_variable():
    env = {"ENGAGEMENT_PII_SALT": "s", "ENGAGEMENT_SOURCES": "hubspot", "HUBSPOT_ACCESS_TOKEN": "t"}
    with pytest.raises(ConfigError, match="ENGAGEMENT_ENGINE must be one of duckdb, spark"):
        load_settings({**env, "ENGAGEMENT_ENGINE": "postgres"})
    spark = {**env, "ENGAGEMENT_ENGINE": "Spark"}
    settings = load_settings({**spark, "ENGAGEMENT_LAKE": "/data/lake"})
    assert (settings.engine, settings.lake, settings.spark_method) == ("spark", "/data/lake", "session")
    assert load_settings(spark).lake == str(PROJECT_ROOT / "warehouse" / "lake")  # relative: under the project
    assert load_settings(env).engine == "duckdb"
    assert (dbt_target(load_settings(env)), dbt_build_args(load_settings(env))) == ("dev", ["--exclude-resource-type", "unit_test"])
    assert dbt_target(settings) == "spark" and "unit_test" in dbt_build_args(settings)
    assert dbt_target(load_settings({**spark, "SPARK_METHOD": "thrift", "SPARK_HOST": "spark.internal"})) == "spark_cluster"
    # a cluster's missing host or token is named before any request, like every configuration error
    with pytest.raises(ConfigError, match="SPARK_METHOD must be one of session, thrift, http"):
        load_settings({**spark, "SPARK_METHOD": "odbc"})
    with pytest.raises(ConfigError, match="SPARK_HOST is not set"):
        load_settings({**spark, "SPARK_METHOD": "thrift"})
    with pytest.raises(ConfigError, match="SPARK_TOKEN is not set"):
        load_settings({**spark, "SPARK_METHOD": "http", "SPARK_HOST": "adb-1.azuredatabricks.net"})
    assert load_settings({**env, "SPARK_METHOD": "odbc"}).engine == "duckdb"  # ignored unless the engine is spark
