"""Bulk, idempotent loading of connector pages into `raw_<source>.<stream>` in DuckDB.

Pages stream into a Parquet file first (memory stays flat in the data size, and the warehouse
is not held while the APIs are slow); then one short transaction merges that file:

- rows are de-duplicated on the natural key (the last copy wins: overlapping pages repeat rows),
- rows identical to what is stored are left alone, so a re-run of a window changes nothing,
  `_loaded_at` included,
- changed or new rows replace the stored row with the same key,
- for window-owned streams (`strategy="window"`), stored rows inside the window that the API no
  longer reports are deleted: the run owns its window.

A failure before COMMIT leaves the table exactly as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.pages import pages_on_threads
from connectors.streams import StreamSpec, Window
from dagster_project.lib.crash_points import armed, pause_point


class WarehouseBusy(RuntimeError):
    pass


class LoadError(RuntimeError):
    pass


# the DuckDB buffer pool of the loads, publish and the statistics; beyond it DuckDB spills to disk.
# 256MB: at 13.6M records the fetch-and-load process peaked ~780 MiB with it, ~1,017 with 512MB
LOADER_MEMORY_LIMIT = "256MB"

# Arrow's memory for decoded pages and their tables from the C library's allocator, unless the user
# chose one (ARROW_DEFAULT_MEMORY_POOL). Pages are decoded on many short-lived reading threads, and
# Arrow's bundled mimalloc kept what they freed: at 1.3M records the refresh's process peaked at
# 1,534 MiB with it, 777–825 MiB with this (`python -m benchmarks e2e --records 1000000`).
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    pa.set_memory_pool(pa.system_memory_pool())


@dataclass(frozen=True)
class LoadResult:
    table: str
    fetched: int  # records the API returned, duplicates included
    unique: int  # distinct natural keys among them
    inserted: int  # new or changed rows written
    deleted: int  # stored rows replaced or gone from the window
    table_rows: int
    fetch_seconds: float = 0.0  # pulling the pages into the Parquet file (HTTP, JSON, Arrow)
    merge_seconds: float = 0.0  # opening the warehouse and merging the file in one transaction

    def as_metadata(self) -> dict[str, int | float]:
        return {
            "fetched": self.fetched,
            "unique": self.unique,
            "inserted": self.inserted,
            "deleted": self.deleted,
            "table_rows": self.table_rows,
            "fetch_seconds": round(self.fetch_seconds, 3),
            "merge_seconds": round(self.merge_seconds, 3),
        }


def connect(path: str | os.PathLike, read_only: bool = False, wait_seconds: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting a bounded time for another writer; the error names the holder."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            # a bounded buffer pool (DuckDB spills beyond it): memory stays flat as the tables grow
            return duckdb.connect(str(path), read_only=read_only, config={"memory_limit": LOADER_MEMORY_LIMIT})
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" not in message.lower():
                raise
            if time.monotonic() >= deadline:
                holder = re.search(r"PID (\d+)", message)
                who = f"process {holder.group(1)}" if holder else "another process"
                raise WarehouseBusy(
                    f"ENGAGEMENT_WAREHOUSE {path} is held by {who}; close it (BI tools should read "
                    f"ENGAGEMENT_SERVING instead) or wait for that run to finish"
                ) from None
            time.sleep(0.5)


def prefetched(pages: Iterable[list[dict]], depth: int = 2) -> Iterator[list[dict]]:
    """The pages, fetched by a helper thread up to `depth` ahead: the API's answer time then overlaps
    our Arrow conversion instead of adding to it. Pages already on local disk (`local`, read ahead)
    need no helper."""
    if getattr(pages, "local", False):
        return iter(pages)
    return pages_on_threads([lambda: pages], workers=1, depth=depth, name="page-prefetch")


def write_pages(pages: Iterable[list[dict] | pa.Table], spec: StreamSpec, directory: str) -> tuple[Path, int]:
    """Stream pages (lists of records, or Arrow tables a columnar connector built) into one Parquet
    file with the stream's schema; returns (file, record count)."""
    path = Path(directory) / f"{spec.source}__{spec.name}.parquet"
    count = 0
    with pq.ParquetWriter(path, spec.schema, compression="zstd") as writer:
        for page in pages:
            if not len(page):
                continue
            try:
                if isinstance(page, pa.Table):
                    batch = page.select(spec.schema.names).cast(spec.schema)
                else:
                    batch = pa.Table.from_pylist(page, schema=spec.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
                raise LoadError(f"{spec.source}.{spec.name}: a record does not fit the stream schema: {exc}") from None
            writer.write_table(batch)
            count += batch.num_rows
    return path, count


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duck_type(arrow_type: pa.DataType) -> str:
    mapping = {
        pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER",
        pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
    }
    if arrow_type in mapping:
        return mapping[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type):
        return _duck_type(arrow_type.value_type) + "[]"
    raise TypeError(f"no DuckDB type for {arrow_type}")


def ensure_table(con: duckdb.DuckDBPyConnection, spec: StreamSpec) -> bool:
    """Create the raw table, or add columns a newer connector version brought (never drop any);
    True when it was created now (so it is empty)."""
    schema, table = f"raw_{spec.source}", spec.table
    existing = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, spec.name],
    ).fetchall()}
    if not existing:
        con.execute(f"create schema if not exists {_ident(schema)}")
        columns = ", ".join(f"{_ident(f.name)} {_duck_type(f.type)}" for f in spec.schema)
        con.execute(f"create table {table} ({columns}, _loaded_at TIMESTAMPTZ)")
        return True
    for field in spec.schema:
        if field.name not in existing:
            con.execute(f"alter table {table} add column {_ident(field.name)} {_duck_type(field.type)}")
    return False


def merge_file(
    con: duckdb.DuckDBPyConnection, spec: StreamSpec, parquet: Path, fetched: int, window: Window | None
) -> LoadResult:
    table = spec.table
    cols = [f.name for f in spec.schema]
    col_list = ", ".join(_ident(c) for c in cols)
    key_match = " and ".join(f"t.{_ident(k)} is not distinct from s.{_ident(k)}" for k in spec.primary_key)
    key_list = ", ".join(_ident(k) for k in spec.primary_key)
    con.execute("begin transaction")
    try:
        created = ensure_table(con, spec)
        # last copy of each key wins; NULL-safe equality everywhere (keys are never NULL by design)
        con.execute(
            f"""create or replace temp table _stage as
                select {col_list} from read_parquet(?, file_row_number = true)
                qualify row_number() over (partition by {key_list} order by file_row_number desc) = 1""",
            [str(parquet)],
        )
        unique = con.execute("select count(*) from _stage").fetchone()[0]
        if created:  # nothing stored to compare with or replace (a backfill's first load): fewer statements
            inserted = con.execute(f"insert into {table} ({col_list}, _loaded_at) select {col_list}, ? from _stage",
                                   [datetime.now(timezone.utc)]).fetchone()[0]
            _pause_in_merge(con)
            con.execute("commit")
            return LoadResult(table, fetched, unique, inserted, 0, inserted)
        # a stored row equal to a staged one has its key: compare with those rows only, not the whole
        # history (a 2.8M-row table: 0.26 s instead of 0.77)
        con.execute(f"""create or replace temp table _changed as
                        select {col_list} from _stage
                        except select {col_list} from {table} t where exists (select 1 from _stage s where {key_match})""")
        deleted = con.execute(f"delete from {table} t using _changed s where {key_match}").fetchone()[0]
        if spec.strategy == "window" and window is not None:
            wc = _ident(spec.window_column)
            deleted += con.execute(
                f"""delete from {table} t where t.{wc} >= ? and t.{wc} < ?
                    and not exists (select 1 from _stage s where {key_match})""",
                [window.start, window.end],
            ).fetchone()[0]
        inserted = con.execute(
            f"insert into {table} ({col_list}, _loaded_at) select {col_list}, ? from _changed",
            [datetime.now(timezone.utc)],
        ).fetchone()[0]
        total = con.execute(f"select count(*) from {table}").fetchone()[0]
        _pause_in_merge(con)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop table if exists _stage; drop table if exists _changed")
    return LoadResult(table, fetched, unique, inserted, deleted, total)


def _pause_in_merge(con: duckdb.DuckDBPyConnection) -> None:
    if armed("raw_merge"):  # the crash tests' moment inside the transaction; else not even the query
        pause_point("raw_merge", con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()[0])


def load_stream(
    warehouse: str | os.PathLike,
    spec: StreamSpec,
    pages: Iterable[list[dict]],
    window: Window | None,
    lock_wait_seconds: float = 30.0,
) -> LoadResult:
    """Fetch everything first (into Parquet), then merge in one short transaction."""
    with tempfile.TemporaryDirectory(prefix="engagement-load-") as tmp:
        started = time.perf_counter()
        parquet, fetched = write_pages(prefetched(pages), spec, tmp)
        fetched_at = time.perf_counter()
        con = connect(warehouse, wait_seconds=lock_wait_seconds)
        try:
            # the merge keeps rows by their key and file_row_number, never by scan order, so DuckDB
            # need not hold rows back to keep it: less memory for the biggest tables' merges
            con.execute("set preserve_insertion_order = false")
            result = merge_file(con, spec, parquet, fetched, window)
        finally:
            con.close()
        return replace(result, fetch_seconds=fetched_at - started, merge_seconds=time.perf_counter() - fetched_at)


def cursor_of(warehouse: str | os.PathLike, spec: StreamSpec, lock_wait_seconds: float = 30.0) -> datetime | None:
    """The last-modified watermark of a reference stream: the max of its cursor column, if any rows."""
    if not spec.cursor_column or not Path(warehouse).exists():
        return None
    con = connect(warehouse, wait_seconds=lock_wait_seconds)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [f"raw_{spec.source}", spec.name],
        ).fetchone()[0]
        if not exists:
            return None
        value = con.execute(f"select max({_ident(spec.cursor_column)}) from {spec.table}").fetchone()[0]
    finally:
        con.close()
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value
