"""Whether a refresh has anything to build: the inputs of the published snapshot, remembered.

The marts and the snapshot are a pure function of the raw tables, the dbt project, the settings dbt
and publish read, and the Python that computes the statistics and the snapshot: no model reads the
clock. So a run whose inputs equal those of the snapshot already published (a re-run of the same
day, a retry after a network failure upstream) would rebuild exactly what readers already have.
Such a run skips `dbt build`, the statistics and publish, and says so.

What the fingerprint holds:
- each raw table's row count and newest `_loaded_at`: the loader stamps every inserted or changed
  row with a new `_loaded_at` and only deletes otherwise, so any change moves one of the two;
- every file of the dbt project (models, macros, tests, seeds, variables in dbt_project.yml): what
  `dbt build` compiles now, even if the definitions were loaded from an older manifest;
- the run's window, the dbt arguments and environment, the horizon, the serving path, the salt
  (hashed together with the rest, never stored alone), the statistics' and publish's source, and
  the versions of the libraries that compute values (DuckDB, dbt, numpy, scipy, statsmodels).

The state is one row in the warehouse (`_engagement.build_state`). A dbt build clears the published
fingerprint before it starts and notes its own as pending; only a successful publish of that run
makes it the published one. A build that fails, a publish that fails, or a crash in between leave
nothing to match, so the next run builds. DuckDB only: on Spark the raw data lives in the lake.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from dagster_project.lib.warehouse import connect

STATE_TABLE = "_engagement.build_state"
# the Python that turns the marts into what readers get: a change to it must rebuild
_COMPUTING_SOURCES = ("lib/experiment_stats.py", "lib/publish.py", "defs/experiments.py", "defs/publish.py")
_PACKAGE = Path(__file__).resolve().parents[1]
# libraries whose upgrade may change a value: the SQL engine and dbt, the statistics' numerics
_LIBRARIES = ("duckdb", "dbt-core", "dbt-duckdb", "numpy", "scipy", "statsmodels")


def raw_table_stamps(con) -> list[tuple[str, str, int, str | None]]:
    """(schema, table, rows, newest _loaded_at) of every raw table, in a stable order."""
    tables = con.execute(
        """select table_schema, table_name from information_schema.tables
           where table_schema like 'raw\\_%' escape '\\' and table_catalog = current_database()
           order by 1, 2"""
    ).fetchall()
    if not tables:
        return []
    query = " union all ".join(
        f"select '{schema}', '{name}', count(*), cast(max(_loaded_at) as varchar) from \"{schema}\".\"{name}\""
        for schema, name in tables
    )
    return sorted(con.execute(query).fetchall())


def inputs_fingerprint(warehouse: str, project: str, settings: Iterable[tuple[str, object]]) -> str:
    """One digest of everything the marts and the snapshot are computed from (see the module's docstring);
    `project`: the dbt project's digest (lib/dbt_manifest.py's project_digest)."""
    con = connect(warehouse, read_only=True)
    try:
        stamps = raw_table_stamps(con)
    finally:
        con.close()
    code = {name: hashlib.sha256((_PACKAGE / name).read_bytes()).hexdigest() for name in _COMPUTING_SOURCES}
    code.update({library: version(library) for library in _LIBRARIES})
    bundle = {"raw": stamps, "dbt_project": project, "settings": sorted((k, str(v)) for k, v in settings), "code": code}
    return hashlib.sha256(json.dumps(bundle, sort_keys=True).encode()).hexdigest()


def _ensure(con) -> None:
    con.execute("create schema if not exists _engagement")
    con.execute(f"""create table if not exists {STATE_TABLE} (
        published_fingerprint varchar, published_run_id varchar, published_at timestamptz,
        pending_fingerprint varchar, pending_run_id varchar)""")
    if con.execute(f"select count(*) from {STATE_TABLE}").fetchone()[0] == 0:
        con.execute(f"insert into {STATE_TABLE} values (null, null, null, null, null)")


def published(warehouse: str) -> tuple[str, str, datetime] | None:
    """(fingerprint, run id, time) of the inputs the current snapshot was published from, if known."""
    if not Path(warehouse).exists():
        return None
    con = connect(warehouse, read_only=True)
    try:
        exists = con.execute("select count(*) from information_schema.tables where table_schema = '_engagement' "
                             "and table_name = 'build_state'").fetchone()[0]
        row = con.execute(f"select published_fingerprint, published_run_id, published_at from {STATE_TABLE}").fetchone() \
            if exists else None
    finally:
        con.close()
    return tuple(row) if row and row[0] else None  # type: ignore[return-value]


def building(warehouse: str, fingerprint: str | None, run_id: str) -> None:
    """A build starts: the published fingerprint no longer describes the warehouse's models."""
    con = connect(warehouse)
    try:
        _ensure(con)
        con.execute(f"update {STATE_TABLE} set published_fingerprint = null, pending_fingerprint = ?, pending_run_id = ?",
                    [fingerprint, run_id])
    finally:
        con.close()


def mark_published(warehouse: str, run_id: str) -> bool:
    """The run's build is now what readers see: its fingerprint becomes the published one. False if this
    run built nothing it could vouch for (no pending fingerprint of its own)."""
    con = connect(warehouse)
    try:
        _ensure(con)
        changed = con.execute(
            f"""update {STATE_TABLE} set published_fingerprint = pending_fingerprint, published_run_id = pending_run_id,
                published_at = ?, pending_fingerprint = null, pending_run_id = null
                where pending_run_id = ? and pending_fingerprint is not null""",
            [datetime.now(timezone.utc), run_id],
        ).fetchone()[0]
    finally:
        con.close()
    return bool(changed)
