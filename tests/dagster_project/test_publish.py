"""Serving snapshot: marts only, PII hashed with a salt that never leaves memory, atomic swap, 1.x-readable."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timezone

import duckdb
import pytest

from dagster_project.lib import publish as publish_module
from dagster_project.lib.publish import PublishError, open_snapshot, publish_snapshot, sqlalchemy_uri

SALT = "CANARY_salt_9f3c1e77"
WINDOW = (date(2026, 10, 1), date(2026, 10, 15))

WAREHOUSE_SQL = """
create schema raw_x;
create table raw_x.contacts (id varchar, email varchar);
insert into raw_x.contacts values ('p1', 'ann@example.com'), ('p2', 'bob@example.org');
create schema staging;
create table staging.stg_contacts as select id as person_id, email from raw_x.contacts;
create schema intermediate;
create table intermediate.int_people as select person_id from staging.stg_contacts;
create schema marts;
create table marts.dim_person (person_id varchar, channels varchar[], first_seen_at timestamptz);
insert into marts.dim_person values
    ('p1', ['email', 'web'], '2026-10-01 08:00:00+00'),
    ('p2', ['x'], '2026-10-02 09:30:00+00'),
    (null, [], '2026-10-03 00:00:00+00');
create table marts.fct_person_channel_days (person_id varchar, channel varchar, day date, sessions bigint);
insert into marts.fct_person_channel_days values ('p1', 'web', '2026-10-01', 3), ('p2', 'x', '2026-10-02', 1);
create table marts.fct_campaign_engaged_users (
    campaign_key varchar, channel varchar, engaged_users bigint, identified_users bigint);
insert into marts.fct_campaign_engaged_users values
    ('spring', 'email', 10, 8), ('spring', 'web', 5, 2), ('spring', 'any', 12, 9), ('fall', 'x', 7, 0);
create view marts.v_campaign_totals as
    select campaign_key, sum(engaged_users) as engaged_users
    from marts.fct_campaign_engaged_users where channel <> 'any' group by campaign_key;
"""
MART_ROWS = {"dim_person": 3, "fct_campaign_engaged_users": 4, "fct_person_channel_days": 2, "v_campaign_totals": 2}


def make_warehouse(path, sql=WAREHOUSE_SQL):
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(sql)
    return path


def run_sql(path, sql):
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def sha256_file(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(path, sql):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def columns(path, where):
    return query(
        path,
        "select table_name, column_name, data_type, column_index from duckdb_columns() "
        f"where schema_name = 'marts' and {where} order by table_name, column_index",
    )


def hashed(value):
    return hashlib.sha256((SALT + value).encode()).hexdigest()


@pytest.fixture
def warehouse(tmp_path):
    return make_warehouse(tmp_path / "wh" / "warehouse.duckdb")


@pytest.fixture
def serving(tmp_path):
    return tmp_path / "serve" / "serving.duckdb"


def test_copies_only_marts_as_tables_with_same_columns_types_and_exact_row_counts(warehouse, serving):
    before = sha256_file(warehouse)
    result = publish_snapshot(warehouse, serving, SALT, window=WINDOW)

    assert result.path == serving
    assert result.rows == MART_ROWS and list(result.rows) == sorted(MART_ROWS)
    assert result.bytes == serving.stat().st_size
    assert len(result.snapshot_id) == 32 and int(result.snapshot_id, 16) >= 0
    assert result.published_at.tzinfo is not None and result.published_at.utcoffset().total_seconds() == 0
    assert result.seconds > 0
    assert columns(serving, "table_name <> 'snapshot_info'") == columns(warehouse, "true")
    assert query(serving, "select distinct schema_name from duckdb_tables() order by 1") == [("marts",)]
    assert query(serving, "select table_name from duckdb_tables() order by 1") == [
        ("dim_person",), ("fct_campaign_engaged_users",), ("fct_person_channel_days",), ("snapshot_info",),
        ("v_campaign_totals",),
    ]
    assert query(serving, "select count(*) from duckdb_views() where not internal") == [(0,)]
    for table, count in MART_ROWS.items():
        assert query(serving, f"select count(*) from marts.{table}") == [(count,)]
    same = "select * from marts.fct_campaign_engaged_users order by all"
    assert query(serving, same) == query(warehouse, same)
    totals = "select * from marts.v_campaign_totals order by all"
    assert query(serving, totals) == [("fall", 7), ("spring", 15)]
    assert query(serving, "select channels, first_seen_at from marts.dim_person order by first_seen_at") == query(
        warehouse, "select channels, first_seen_at from marts.dim_person order by first_seen_at"
    )
    assert query(serving, "select * from marts.snapshot_info") == [
        (result.snapshot_id, result.published_at, date(2026, 10, 1), date(2026, 10, 15), "warehouse.duckdb")
    ]
    assert columns(serving, "table_name = 'snapshot_info'") == [
        ("snapshot_info", "snapshot_id", "VARCHAR", 1), ("snapshot_info", "published_at", "TIMESTAMP WITH TIME ZONE", 2),
        ("snapshot_info", "window_start", "DATE", 3), ("snapshot_info", "window_end", "DATE", 4),
        ("snapshot_info", "source_warehouse", "VARCHAR", 5),
    ]
    # Self-contained: every mart answers with no access to any other file.
    with duckdb.connect(str(serving), read_only=True, config={"enable_external_access": False}) as con:
        assert [con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in MART_ROWS] == list(MART_ROWS.values())
    # The warehouse was only read.
    assert sha256_file(warehouse) == before
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["warehouse.duckdb"]


def test_no_window_gives_null_window_columns(warehouse, serving):
    publish_snapshot(warehouse, serving, SALT)
    assert query(serving, "select window_start, window_end from marts.snapshot_info") == [(None, None)]


def test_person_ids_are_salted_sha256_and_the_salt_is_nowhere_in_the_snapshot(warehouse, serving, tmp_path):
    publish_snapshot(warehouse, serving, SALT)
    people = "select person_id from marts.dim_person order by first_seen_at"
    assert query(serving, people) == [(hashed("p1"),), (hashed("p2"),), (None,)]
    # Same hash in every table, so marts still join on person_id.
    assert query(serving, "select person_id, channel from marts.fct_person_channel_days order by day") == [
        (hashed("p1"), "web"), (hashed("p2"), "x"),
    ]
    assert query(serving, "select count(*) from marts.dim_person where person_id in ('p1', 'p2')") == [(0,)]

    assert SALT.encode() not in serving.read_bytes()
    text_columns = columns(serving, "data_type in ('VARCHAR', 'VARCHAR[]')")
    assert len(text_columns) == 9
    for table, column, _type, _index in text_columns:
        text = f"array_to_string({column}, ' ')" if _type == "VARCHAR[]" else column
        assert query(serving, f"select count(*) from marts.{table} where contains({text}, '{SALT}')") == [(0,)]

    other = tmp_path / "other" / "serving.duckdb"
    publish_snapshot(warehouse, other, "another-salt")
    other_ids = query(other, people)
    assert other_ids == [
        (hashlib.sha256(b"another-saltp1").hexdigest(),), (hashlib.sha256(b"another-saltp2").hexdigest(),), (None,)
    ]
    assert set(other_ids[:2]).isdisjoint(query(serving, people))


def test_pii_columns_are_configurable(warehouse, serving):
    publish_snapshot(warehouse, serving, SALT, pii_columns=("person_id", "campaign_key"))
    assert query(serving, "select distinct campaign_key from marts.v_campaign_totals order by 1") == sorted(
        [(hashed("fall"),), (hashed("spring"),)]
    )


@pytest.mark.parametrize(
    ("ddl", "where"),
    [
        (
            "create table marts.dim_campaign (campaign_key varchar, name varchar);"
            "insert into marts.dim_campaign values ('spring', 'ask carol.d@example.co.uk for details')",
            "marts.dim_campaign.name",
        ),
        ("insert into marts.dim_person values ('p3', ['web', 'carol.d@example.co.uk'], now())", "marts.dim_person.channels"),
    ],
    ids=["varchar", "varchar-list"],
)
def test_an_email_in_a_mart_blocks_publish_and_keeps_the_old_snapshot(warehouse, serving, ddl, where):
    first = publish_snapshot(warehouse, serving, SALT)
    before = sha256_file(serving)
    run_sql(warehouse, ddl)

    with pytest.raises(PublishError, match=where.replace(".", r"\.")) as raised:
        publish_snapshot(warehouse, serving, SALT)

    assert "carol" not in str(raised.value) and "example.co.uk" not in str(raised.value)
    assert sha256_file(serving) == before
    assert sorted(p.name for p in serving.parent.iterdir()) == ["serving.duckdb"]
    assert query(serving, "select snapshot_id from marts.snapshot_info") == [(first.snapshot_id,)]


def test_a_failure_at_the_swap_removes_the_temp_file_and_keeps_the_old_snapshot(warehouse, serving, monkeypatch):
    publish_snapshot(warehouse, serving, SALT)
    before = sha256_file(serving)

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish_module.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        publish_snapshot(warehouse, serving, SALT)

    assert sha256_file(serving) == before
    assert sorted(p.name for p in serving.parent.iterdir()) == ["serving.duckdb"]


@pytest.mark.parametrize("case", ["missing-file", "no-marts-schema", "empty-marts-schema"])
def test_a_warehouse_without_marts_raises_naming_the_variable_and_dbt_build(tmp_path, serving, case):
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    if case == "no-marts-schema":
        make_warehouse(warehouse, "create schema raw_x; create table raw_x.contacts (id varchar, email varchar);")
    elif case == "empty-marts-schema":
        make_warehouse(warehouse, "create schema marts; create schema staging; create table staging.s (a int);")

    with pytest.raises(PublishError) as raised:
        publish_snapshot(warehouse, serving, SALT)

    message = str(raised.value)
    assert "ENGAGEMENT_WAREHOUSE" in message and str(warehouse) in message and "dbt build" in message
    assert not serving.exists()
    assert list(serving.parent.glob("*")) == []


@pytest.mark.parametrize("salt", ["", "   ", "\t\n"])
def test_an_empty_salt_raises_naming_the_variable(warehouse, serving, salt):
    with pytest.raises(PublishError, match="ENGAGEMENT_PII_SALT"):
        publish_snapshot(warehouse, serving, salt)
    assert not serving.exists()


def test_no_wal_read_only_mode_and_a_second_publish_over_a_0444_file(warehouse, tmp_path):
    serving = tmp_path / "a" / "b" / "serving.duckdb"  # parents are created
    first = publish_snapshot(warehouse, serving, SALT)
    assert sorted(p.name for p in serving.parent.iterdir()) == ["serving.duckdb"]
    assert stat.S_IMODE(serving.stat().st_mode) == 0o444

    run_sql(warehouse, "insert into marts.fct_campaign_engaged_users values ('winter', 'web', 1, 1)")
    second = publish_snapshot(warehouse, serving, SALT)

    assert second.snapshot_id != first.snapshot_id
    assert second.rows["fct_campaign_engaged_users"] == 5
    assert sorted(p.name for p in serving.parent.iterdir()) == ["serving.duckdb"]
    assert stat.S_IMODE(serving.stat().st_mode) == 0o444
    assert query(serving, "select snapshot_id from marts.snapshot_info") == [(second.snapshot_id,)]


def test_stale_temp_files_of_a_killed_run_are_removed_and_nothing_else(warehouse, serving):
    serving.parent.mkdir(parents=True)
    for name in ["serving.duckdb.new-12345", "serving.duckdb.new-12345.wal", "other.duckdb.new-1", "serving.duckdb.bak"]:
        (serving.parent / name).write_bytes(b"half-written")

    publish_snapshot(warehouse, serving, SALT)

    assert sorted(p.name for p in serving.parent.iterdir()) == ["other.duckdb.new-1", "serving.duckdb", "serving.duckdb.bak"]


def test_relative_paths_resolve_against_the_working_directory(warehouse, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = publish_snapshot("wh/warehouse.duckdb", "rel/serving.duckdb", SALT)
    assert result.path == tmp_path / "rel" / "serving.duckdb"
    assert result.path.is_file()
    assert query(result.path, "select source_warehouse from marts.snapshot_info") == [("warehouse.duckdb",)]


def test_the_snapshot_uses_the_1x_compatible_storage_version(warehouse, serving, tmp_path):
    publish_snapshot(warehouse, serving, SALT)
    # DuckDB reports the version the file was written with; 2.0's own format shows 'v2.0.0+'.
    assert query(serving, "select tags from duckdb_databases() where database_name = 'serving'") == [
        ({"storage_version": "v1.4.0+"},)
    ]
    # File header: magic 'DUCK' at byte 8, then the storage version number (uint64 LE); 67 = v1.4 (DuckDB 1.4 LTS
    # reads 64-67), 68 = v1.5, 999 = 2.0. Checked by hand with real DuckDB 1.4.5 and 1.5.6 readers.
    header = serving.read_bytes()[:20]
    assert header[8:12] == b"DUCK"
    assert int.from_bytes(header[12:20], "little") == 67

    native = tmp_path / "native.duckdb"
    with duckdb.connect(str(native)) as con:
        con.execute("create table t as select 1 as a")
    assert int.from_bytes(native.read_bytes()[12:20], "little") != 67


READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb

    path, stop = sys.argv[1], sys.argv[2]
    seen, queries, errors = set(), 0, []

    def read(con):
        return con.execute(
            "select (select snapshot_id from marts.snapshot_info),"
            " (select sum(engaged_users) from marts.fct_campaign_engaged_users)"
        ).fetchone()

    con = duckdb.connect(path, read_only=True)
    print("ready", *read(con), flush=True)
    stopping = False
    while True:
        stopping = os.path.exists(stop)  # read once more after the stop file: that read is after the swap
        try:
            seen.add(tuple(read(con)))
            queries += 1
        except Exception as exc:
            errors.append(repr(exc))
        if stopping:
            break
        time.sleep(0.005)
    con.close()
    fresh = duckdb.connect(path, read_only=True)
    print(json.dumps({"seen": sorted(seen), "queries": queries, "errors": errors, "fresh": list(read(fresh))}), flush=True)
    """
)


def test_a_held_reader_keeps_the_old_snapshot_across_the_swap_and_a_new_connection_sees_the_new(warehouse, serving, tmp_path):
    old = publish_snapshot(warehouse, serving, SALT)
    run_sql(warehouse, "insert into marts.fct_campaign_engaged_users values ('winter', 'web', 100, 1)")
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(serving), str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().split() == ["ready", old.snapshot_id, "34"]
        time.sleep(0.05)
        started = time.monotonic()
        new = publish_snapshot(warehouse, serving, SALT)
        assert time.monotonic() - started < 2.0  # never waits on the reader
        time.sleep(0.05)
        stop.touch()
        report = json.loads(reader.stdout.readline())
        assert reader.wait(timeout=10) == 0, reader.stderr.read()
    finally:
        reader.kill()
        reader.wait()

    assert report["errors"] == []
    assert report["queries"] >= 3
    assert report["seen"] == [[old.snapshot_id, 34]]
    assert report["fresh"] == [new.snapshot_id, 134]
    with open_snapshot(serving) as con:
        assert con.execute("select snapshot_id from marts.snapshot_info").fetchone() == (new.snapshot_id,)


def test_open_snapshot_is_read_only_and_names_the_variable_when_missing(warehouse, serving):
    with pytest.raises(FileNotFoundError, match="ENGAGEMENT_SERVING"):
        open_snapshot(serving)
    publish_snapshot(warehouse, serving, SALT)
    with open_snapshot(serving) as con:
        assert con.execute("select count(*) from marts.fct_campaign_engaged_users").fetchone() == (4,)
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("create table marts.x (a int)")


def test_the_sqlalchemy_uri_reads_through_duckdb_engine_and_refuses_writes(warehouse, tmp_path):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    serving = tmp_path / "bi files" / "serving.duckdb"  # a space must survive the URI
    publish_snapshot(warehouse, serving, SALT)
    uri = sqlalchemy_uri(serving)
    assert uri == f"duckdb:///{serving}?access_mode=read_only"  # SQLAlchemy 2.0 reads the path verbatim

    engine = sqlalchemy.create_engine(uri)
    try:
        with engine.connect() as con:
            assert con.execute(sqlalchemy.text("select count(*) from marts.fct_campaign_engaged_users")).scalar() == 4
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="read-only"):
                con.execute(sqlalchemy.text("create table marts.x (a int)"))
    finally:
        engine.dispose()
    assert query(serving, "select count(*) from duckdb_tables() where table_name = 'x'") == [(0,)]


def test_published_at_is_utc_now(warehouse, serving):
    before = datetime.now(timezone.utc)
    result = publish_snapshot(warehouse, serving, SALT)
    assert before <= result.published_at <= datetime.now(timezone.utc)
    assert os.path.isabs(result.path)
