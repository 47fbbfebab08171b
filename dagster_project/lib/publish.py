"""Publish the `marts` schema of the working warehouse as a self-contained serving snapshot for BI.

BI tools never open the warehouse: DuckDB lets a read-write and a read-only process hold one file
at once only if they are the same process, and a conflicting open fails at once. So each publish
builds a new file next to the serving file, checkpoints and closes it, then `os.replace()`s it over
the old one. Readers already connected keep their old, consistent snapshot; new connections get
the new one.

- Every table and view of `marts` becomes a table of the same name, columns and types (views are
  materialized, so nothing in the snapshot refers to the warehouse or to files).
- PII columns are replaced by sha256(salt || value); the salt is bound as a parameter, never
  written into SQL text, and cleared afterwards.
- Anything that looks like an email address in a text column stops the publish.
- A failure before the swap leaves the old serving file byte-for-byte unchanged.
"""

from __future__ import annotations

import glob
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from dagster_project.lib.crash_points import pause_point

SCHEMA = "marts"
INFO_TABLE = "snapshot_info"
# DuckDB 2.0's own format cannot be opened by 1.x, which many BI drivers embed.
# 'v1.4.0' (header version 67) opens in DuckDB 1.4 LTS and later; 'v1.5.0' (68) would lock 1.4 readers out.
STORAGE_VERSION = "v1.4.0"
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
FILE_MODE = 0o444


@dataclass(frozen=True)
class PublishResult:
    path: Path  # the serving file
    snapshot_id: str  # uuid4 hex
    published_at: datetime  # UTC
    rows: dict[str, int]  # mart table (without schema) -> row count, sorted by name; snapshot_info excluded
    bytes: int
    seconds: float


class PublishError(Exception):
    pass


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def temp_path(serving: Path, pid: int | None = None) -> Path:
    return serving.with_name(f"{serving.name}.new-{os.getpid() if pid is None else pid}")


def _remove_stale(serving: Path) -> None:
    # Left by a run killed before its swap; only this serving file's pattern, only this directory.
    for stale in glob.glob(os.path.join(glob.escape(str(serving.parent)), glob.escape(serving.name) + ".new-*")):
        Path(stale).unlink(missing_ok=True)


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        p.unlink(missing_ok=True)


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _missing_marts(warehouse: Path, why: str) -> PublishError:
    return PublishError(
        f"ENGAGEMENT_WAREHOUSE {warehouse}: {why}; run dbt build first (e.g. `engagement refresh`) so the marts exist"
    )


def _mart_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        """
        select table_name from duckdb_tables() where database_name = 'wh' and schema_name = ?
        union
        select view_name from duckdb_views() where database_name = 'wh' and schema_name = ? and not internal
        order by 1
        """,
        [SCHEMA, SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        """
        select column_name, data_type from duckdb_columns()
        where database_name = ? and schema_name = ? and table_name = ? order by column_index
        """,
        [database, SCHEMA, table],
    ).fetchall()


def _copy(con: duckdb.DuckDBPyConnection, table: str, pii: set[str]) -> None:
    select = []
    for column, _type in _columns(con, "wh", table):
        col = _ident(column)
        if column in pii:
            # NULL || salt is NULL, so NULL stays NULL; the salt only ever lives in a session variable.
            select.append(f"sha256(getvariable('pii_salt') || cast({col} as varchar)) as {col}")
        else:
            select.append(col)
    name = _ident(table)
    con.execute(f"create table snap.{SCHEMA}.{name} as select {', '.join(select)} from wh.{SCHEMA}.{name}")


def _check_no_emails(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> None:
    pattern = _literal(EMAIL_PATTERN)
    for table in tables:
        for column, data_type in _columns(con, "snap", table):
            col = _ident(column)
            if data_type == "VARCHAR":
                condition = f"regexp_matches({col}, {pattern})"
            elif data_type == "VARCHAR[]":
                # The pattern never spans whitespace, so joining on a space cannot match across elements.
                condition = f"regexp_matches(array_to_string({col}, ' '), {pattern})"
            else:
                continue
            hit = con.execute(f"select 1 from snap.{SCHEMA}.{_ident(table)} where {condition} limit 1").fetchone()
            if hit:
                # Name the place, never the value: the message ends up in logs and alerts.
                raise PublishError(
                    f"{SCHEMA}.{table}.{column} holds values that look like email addresses; "
                    "refusing to publish (PII must be hashed or dropped in dbt)"
                )


def publish_snapshot(
    warehouse: str | Path,
    serving: str | Path,
    salt: str,
    *,
    pii_columns: Iterable[str] = ("person_id",),
    window: tuple[date, date] | None = None,
    storage_version: str = STORAGE_VERSION,
) -> PublishResult:
    """Copy `marts` of `warehouse` into a new snapshot file and swap it over `serving` atomically."""
    started = time.perf_counter()
    if not salt or not salt.strip():
        raise PublishError("ENGAGEMENT_PII_SALT is empty: set it to a long random secret before publishing")
    warehouse = Path(warehouse).expanduser().resolve()
    serving = Path(serving).expanduser().resolve()
    if window is not None and window[0] > window[1]:
        raise PublishError(f"window start {window[0]} is after its end {window[1]}")
    if not warehouse.is_file():
        raise _missing_marts(warehouse, "file not found")

    serving.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(serving)
    new = temp_path(serving)
    snapshot_id = uuid.uuid4().hex
    published_at = datetime.now(timezone.utc)
    pii = set(pii_columns)
    try:
        con = duckdb.connect(":memory:")
        try:
            try:
                con.execute(f"attach {_literal(str(warehouse))} as wh (read_only)")
            except duckdb.Error as exc:
                raise PublishError(f"ENGAGEMENT_WAREHOUSE {warehouse} cannot be opened read-only: {exc}") from None
            tables = _mart_objects(con)
            if not tables:
                raise _missing_marts(warehouse, f"no tables or views in schema {SCHEMA}")
            if INFO_TABLE in tables:
                raise PublishError(f"ENGAGEMENT_WAREHOUSE {warehouse}: {SCHEMA}.{INFO_TABLE} is reserved for the publisher")
            con.execute(f"attach {_literal(str(new))} as snap (storage_version {_literal(storage_version)})")
            con.execute(f"create schema snap.{SCHEMA}")
            con.execute("set variable pii_salt = ?", [salt])
            try:
                for table in tables:
                    _copy(con, table, pii)
            finally:
                con.execute("reset variable pii_salt")
            _check_no_emails(con, tables)
            rows = {
                t: con.execute(f"select count(*) from snap.{SCHEMA}.{_ident(t)}").fetchone()[0] for t in tables
            }
            con.execute(
                f"create table snap.{SCHEMA}.{INFO_TABLE} (snapshot_id varchar, published_at timestamptz, "
                "window_start date, window_end date, source_warehouse varchar)"
            )
            start, end = window if window is not None else (None, None)
            con.execute(
                f"insert into snap.{SCHEMA}.{INFO_TABLE} values (?, ?, ?, ?, ?)",
                [snapshot_id, published_at, start, end, warehouse.name],
            )
            con.execute("checkpoint snap")
            con.execute("detach snap")
            con.execute("detach wh")
        finally:
            con.close()
        if Path(f"{new}.wal").exists():
            raise PublishError(f"{new}.wal left after checkpoint; not publishing a snapshot that needs its WAL")
        os.chmod(new, FILE_MODE)
        _fsync(new)
        size = new.stat().st_size
        pause_point("publish_swap", serving)
        # Needs write permission on the directory only, so it also replaces a 0444 serving file.
        os.replace(new, serving)
    except BaseException:
        _remove(new)
        raise
    _fsync(serving.parent, directory=True)
    return PublishResult(
        path=serving,
        snapshot_id=snapshot_id,
        published_at=published_at,
        rows=dict(sorted(rows.items())),
        bytes=size,
        seconds=time.perf_counter() - started,
    )


def open_snapshot(serving: str | Path) -> duckdb.DuckDBPyConnection:
    """The documented way to read the serving snapshot: read-only, so any number of readers can share it.

    DuckDB reuses an open database per process and path: close every connection before reconnecting,
    or a reconnect after a publish still sees the old snapshot.
    """
    path = Path(serving).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"ENGAGEMENT_SERVING {path} does not exist yet: run a refresh to publish it")
    return duckdb.connect(str(path), read_only=True)


def sqlalchemy_uri(serving: str | Path) -> str:
    """duckdb-engine URI for BI tools; duckdb-engine passes query parameters to DuckDB's config,
    so access_mode=read_only opens the file read-only without needing connect_args. The path is
    not percent-encoded: SQLAlchemy 2.0, the series whose reflection works with duckdb-engine,
    takes the database part verbatim (a `%20` would stay in the file name)."""
    path = Path(serving).expanduser().resolve()
    return f"duckdb:///{path}?access_mode=read_only"
