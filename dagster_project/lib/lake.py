"""Raw landing as Parquet under ENGAGEMENT_LAKE, for dbt on Spark (ENGAGEMENT_ENGINE=spark).

Each stream is one table folder, `<lake>/raw/<source>/<stream>`, that Spark reads as a whole
(dbt's sources are views over these folders). Streams with a date column (GA4's report dates,
the daily counter snapshots of posts) are partitioned by it, Hive style (`date=2026-01-31/`).

A load behaves exactly as the DuckDB loader's merge (`warehouse.merge_file`, reused here): the
stored table and the fetched pages meet in an in-memory DuckDB, rows are de-duplicated on the
natural key, unchanged rows keep their `_loaded_at`, window-owned streams drop what the API no
longer reports. Then:

- nothing changed: no file is touched, so a re-run of a window leaves identical Parquet;
- something changed: the whole table is written to a new version folder beside the table, and
  the table's path (a symbolic link) is swapped to it with one atomic rename. A run that fails
  or is killed before the rename leaves the previous files as they were; readers see the old
  version or the new one, never a mixture.

Writers are serialised the same way as for DuckDB (one run at a time), so no lock is taken here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors.streams import StreamSpec, Window
from dagster_project.lib.crash_points import pause_point
from dagster_project.lib.warehouse import LOADER_MEMORY_LIMIT, LoadResult, ensure_table, merge_file, prefetched, write_pages

# where an empty partitioned table keeps its one (empty) file, so readers still see its columns
EMPTY_PARTITION = "1970-01-01"


class LakeError(RuntimeError):
    pass


def lake_root(lake: str | os.PathLike) -> Path:
    """The lake as a local folder; `file://` URIs are accepted, other schemes are named as unsupported."""
    text = str(lake)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif "://" in text:
        raise LakeError(
            f"ENGAGEMENT_LAKE {text!r}: only local folders (or file:// URIs) are written by this loader; mount the object "
            "store as a folder (s3fs, gcsfuse, a Databricks volume) and point ENGAGEMENT_LAKE at the mount"
        )
    return Path(text).expanduser().resolve()


def table_path(lake: str | os.PathLike, spec: StreamSpec) -> Path:
    return lake_root(lake) / "raw" / spec.source / spec.name


def partition_column(spec: StreamSpec) -> str | None:
    """The date a table is partitioned by: the window's date column, else the first date column."""
    if spec.window_column and pa.types.is_date(spec.schema.field(spec.window_column).type):
        return spec.window_column
    return next((f.name for f in spec.schema if pa.types.is_date(f.type)), None)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(spill: str) -> duckdb.DuckDBPyConnection:
    # one thread: the files written are then the same bytes for the same rows
    return duckdb.connect(":memory:", config={
        "memory_limit": LOADER_MEMORY_LIMIT, "threads": 1, "temp_directory": spill})


def _read_current(con: duckdb.DuckDBPyConnection, spec: StreamSpec, path: Path) -> bool:
    """The stored table, typed as the stream's schema, into `raw_<source>.<stream>`; False if none yet."""
    con.execute("begin transaction")
    ensure_table(con, spec)
    con.execute("commit")
    if not path.exists():
        return False
    files = _literal(str(path / "**" / "*.parquet"))
    con.execute(f"insert into {spec.table} by name select * from read_parquet({files}, hive_partitioning = true)")
    return True


def _write_version(con: duckdb.DuckDBPyConnection, spec: StreamSpec, target: Path) -> None:
    """The whole table into `target` (a new folder), ordered by the natural key."""
    target.mkdir(parents=True)
    keys = ", ".join(_ident(k) for k in spec.primary_key)
    partition = partition_column(spec)
    rows = con.execute(f"select count(*) from {spec.table}").fetchone()[0]
    if partition and rows:
        con.execute(
            f"copy (select * from {spec.table} order by {keys}) to {_literal(str(target))} "
            f"(format parquet, compression zstd, partition_by ({_ident(partition)}), filename_pattern 'part_{{i}}')"
        )
    elif partition:
        empty = target / f"{partition}={EMPTY_PARTITION}"
        empty.mkdir()
        con.execute(
            f"copy (select * exclude ({_ident(partition)}) from {spec.table}) to "
            f"{_literal(str(empty / 'part_0.parquet'))} (format parquet, compression zstd)"
        )
    else:
        con.execute(
            f"copy (select * from {spec.table} order by {keys}) to {_literal(str(target / 'part_0.parquet'))} "
            "(format parquet, compression zstd)"
        )
    for file in sorted(target.rglob("*.parquet")):
        _fsync(file)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _versions(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.v-*"))


def remove_unused_versions(path: Path) -> None:
    """Version folders the table does not point at: left by a run killed before or after its swap."""
    current = path.resolve() if path.is_symlink() else None
    for version in _versions(path):
        if version != current:
            shutil.rmtree(version, ignore_errors=True)
    for link in path.parent.glob(f".{path.name}.link-*"):
        link.unlink(missing_ok=True)


def swap_in(path: Path, version: Path) -> None:
    """Point the table at `version` with one atomic rename of a symbolic link."""
    link = path.parent / f".{path.name}.link-{os.getpid()}"
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)  # relative: the lake can move as a whole
    try:
        pause_point("lake_swap", path)
        os.replace(link, path)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    _fsync(path.parent)


def land(con: duckdb.DuckDBPyConnection, spec: StreamSpec, path: Path) -> None:
    """Write the connection's `raw_<source>.<stream>` as the table's new version and swap it in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not path.is_symlink():
        raise LakeError(f"ENGAGEMENT_LAKE: {path} is a folder this loader did not write; move it away")
    version = path.parent / f".{path.name}.v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    try:
        _write_version(con, spec, version)
        swap_in(path, version)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    remove_unused_versions(path)


def load_stream(lake: str | os.PathLike, spec: StreamSpec, pages: Iterable[list[dict]], window: Window | None) -> LoadResult:
    """Fetch everything first (into Parquet), merge it with the stored table, swap in a new version if anything changed."""
    path = table_path(lake, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_unused_versions(path)
    with tempfile.TemporaryDirectory(prefix="engagement-lake-") as tmp:
        started = time.perf_counter()
        parquet, fetched = write_pages(prefetched(pages), spec, tmp)
        fetched_at = time.perf_counter()
        con = _connect(tmp)
        try:
            existed = _read_current(con, spec, path)
            result = merge_file(con, spec, parquet, fetched, window)
            if result.inserted or result.deleted or not existed:
                land(con, spec, path)
        finally:
            con.close()
        return replace(result, table=str(path), fetch_seconds=fetched_at - started,
                       merge_seconds=time.perf_counter() - fetched_at)


def ensure_lake_table(lake: str | os.PathLike, spec: StreamSpec) -> None:
    """An empty table for a stream never loaded (a disabled source): every downstream model stays valid."""
    path = table_path(lake, spec)
    if path.exists():
        return
    with tempfile.TemporaryDirectory(prefix="engagement-lake-") as tmp:
        con = _connect(tmp)
        try:
            _read_current(con, spec, path)
            land(con, spec, path)
        finally:
            con.close()


def cursor_of(lake: str | os.PathLike, spec: StreamSpec) -> datetime | None:
    """The last-modified watermark of a reference stream in the lake: the max of its cursor column, if any rows."""
    path = table_path(lake, spec)
    if not spec.cursor_column or not path.exists():
        return None
    with duckdb.connect(":memory:") as con:
        files = _literal(str(path / "**" / "*.parquet"))
        value = con.execute(
            f"select max({_ident(spec.cursor_column)}) from read_parquet({files}, hive_partitioning = true)"
        ).fetchone()[0]
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def table_rows(lake: str | os.PathLike, spec: StreamSpec) -> int:
    path = table_path(lake, spec)
    with duckdb.connect(":memory:") as con:
        files = _literal(str(path / "**" / "*.parquet"))
        return con.execute(f"select count(*) from read_parquet({files}, hive_partitioning = true)").fetchone()[0]
