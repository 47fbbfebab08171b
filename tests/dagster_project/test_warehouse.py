"""Raw loading: bulk, merged on natural keys, idempotent, all-or-nothing, one writer."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone

import duckdb
import pyarrow as pa
import pytest

from connectors.streams import StreamSpec, Window
from dagster_project.lib.warehouse import LoadError, WarehouseBusy, cursor_of, load_stream

SCHEMA = pa.schema([("id", pa.string()), ("day", pa.date32()), ("n", pa.int64()), ("seen", pa.timestamp("us", tz="UTC"))])
WINDOWED = StreamSpec("demo", "daily", SCHEMA, ("id",), strategy="window", window_column="day")
MERGED = StreamSpec("demo", "events", SCHEMA, ("id",), cursor_column="seen")
WINDOW = Window(date(2026, 10, 1), date(2026, 10, 3))


def rec(id_, day, n):
    return {"id": id_, "day": date(2026, 10, day), "n": n, "seen": datetime(2026, 10, day, 12, tzinfo=timezone.utc)}


def rows(db, table):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select * exclude (_loaded_at) from {table} order by id").fetchall()


def loaded_at(db, table):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select id, _loaded_at from {table} order by id").fetchall()


def test_rerun_of_the_same_pages_changes_nothing_not_even_loaded_at(tmp_path):
    db = tmp_path / "w.duckdb"
    pages = [[rec("a", 1, 1), rec("b", 2, 2)]]
    first = load_stream(db, MERGED, pages, WINDOW)
    before = loaded_at(db, MERGED.table)
    second = load_stream(db, MERGED, pages, WINDOW)
    assert (first.inserted, second.inserted, second.deleted, second.table_rows) == (2, 0, 0, 2)
    assert loaded_at(db, MERGED.table) == before


def test_overlapping_pages_keep_one_row_per_key_the_last_copy(tmp_path):
    db = tmp_path / "w.duckdb"
    result = load_stream(db, MERGED, [[rec("a", 1, 1), rec("b", 1, 2)], [rec("b", 1, 3), rec("c", 2, 4)]], WINDOW)
    assert (result.fetched, result.unique, result.table_rows) == (4, 3, 3)
    assert [r[2] for r in rows(db, MERGED.table)] == [1, 3, 4]


def test_changed_rows_replace_stored_ones_and_others_stay(tmp_path):
    db = tmp_path / "w.duckdb"
    load_stream(db, MERGED, [[rec("a", 1, 1), rec("b", 2, 2)]], WINDOW)
    result = load_stream(db, MERGED, [[rec("b", 2, 20), rec("c", 2, 3)]], WINDOW)
    assert (result.inserted, result.deleted) == (2, 1)
    assert rows(db, MERGED.table) == [
        ("a", date(2026, 10, 1), 1, datetime(2026, 10, 1, 12, tzinfo=timezone.utc)),
        ("b", date(2026, 10, 2), 20, datetime(2026, 10, 2, 12, tzinfo=timezone.utc)),
        ("c", date(2026, 10, 2), 3, datetime(2026, 10, 2, 12, tzinfo=timezone.utc)),
    ]


def test_window_streams_drop_rows_the_api_no_longer_reports_inside_the_window_only(tmp_path):
    db = tmp_path / "w.duckdb"
    load_stream(db, WINDOWED, [[rec("a", 1, 1), rec("b", 2, 2), rec("z", 5, 9)]], Window(date(2026, 10, 1), date(2026, 10, 6)))
    load_stream(db, WINDOWED, [[rec("a", 1, 1)]], WINDOW)
    assert [r[0] for r in rows(db, WINDOWED.table)] == ["a", "z"]


def test_a_failure_while_fetching_leaves_the_table_exactly_as_it_was(tmp_path):
    db = tmp_path / "w.duckdb"
    load_stream(db, MERGED, [[rec("a", 1, 1)]], WINDOW)

    def failing_pages():
        yield [rec("a", 1, 100), rec("b", 1, 2)]
        raise RuntimeError("API went away on page 2")

    with pytest.raises(RuntimeError, match="page 2"):
        load_stream(db, MERGED, failing_pages(), WINDOW)
    assert [r[2] for r in rows(db, MERGED.table)] == [1]


def test_a_record_that_does_not_fit_the_schema_is_named_and_nothing_is_written(tmp_path):
    db = tmp_path / "w.duckdb"
    with pytest.raises(LoadError, match="demo.events"):
        load_stream(db, MERGED, [[{**rec("a", 1, 1), "n": "not a number"}]], WINDOW)
    assert not db.exists()


def test_a_new_column_from_a_newer_connector_extends_an_existing_table(tmp_path):
    db = tmp_path / "w.duckdb"
    load_stream(db, MERGED, [[rec("a", 1, 1)]], WINDOW)
    wider = StreamSpec("demo", "events", SCHEMA.append(pa.field("extra", pa.string())), ("id",), cursor_column="seen")
    load_stream(db, wider, [[{**rec("b", 2, 2), "extra": "new"}]], WINDOW)
    assert rows(db, MERGED.table)[0][-1] is None and rows(db, MERGED.table)[1][-1] == "new"


def test_cursor_is_the_max_of_the_cursor_column(tmp_path):
    db = tmp_path / "w.duckdb"
    assert cursor_of(db, MERGED) is None
    load_stream(db, MERGED, [[rec("a", 1, 1), rec("b", 2, 2)]], WINDOW)
    assert cursor_of(db, MERGED) == datetime(2026, 10, 2, 12, tzinfo=timezone.utc)


def test_a_warehouse_held_by_another_process_fails_naming_the_variable_and_the_holder(tmp_path):
    db = tmp_path / "w.duckdb"
    load_stream(db, MERGED, [[rec("a", 1, 1)]], WINDOW)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(db)!r}); print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusy, match=rf"ENGAGEMENT_WAREHOUSE .*w.duckdb is held by process {holder.pid}"):
            load_stream(db, MERGED, [[rec("b", 1, 1)]], WINDOW, lock_wait_seconds=1)
    finally:
        holder.kill()
        holder.wait()
    assert [r[0] for r in rows(db, MERGED.table)] == ["a"]


def test_prefetched_pages_keep_their_order_raise_the_source_error_and_stop_when_the_consumer_does():
    import threading

    from dagster_project.lib.warehouse import prefetched

    assert list(prefetched([[i] for i in range(50)])) == [[i] for i in range(50)]

    def failing():
        yield [1]
        raise ValueError("page 2: truncated JSON")

    pages = prefetched(failing())
    assert next(pages) == [1]
    with pytest.raises(ValueError, match="page 2: truncated JSON"):
        next(pages)

    produced, closed = [], threading.Event()

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                yield [i]
                i += 1
        finally:
            closed.set()

    pages = prefetched(endless(), depth=2)
    assert next(pages) == [0]
    pages.close()  # the consumer gives up (say, a record did not fit the schema)
    assert closed.wait(5), "the source generator is closed once the consumer stops"
    assert len(produced) <= 5  # at most the handed page, the queue and the one in hand
