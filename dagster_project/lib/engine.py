"""The engine dbt runs on (ENGAGEMENT_ENGINE): what changes between DuckDB and Spark, in one place.

- landing: DuckDB merges each stream into `raw_<source>.<stream>` of the warehouse; Spark reads
  Parquet, so the same merge lands each stream under ENGAGEMENT_LAKE instead (`lib/lake.py`);
- dbt: the `spark` target of dbt_models/profiles.yml (SPARK_METHOD `session`, a local Spark in
  dbt's process) or `spark_cluster` (`thrift` for a Spark Thrift server, `http` for Databricks);
- after dbt on Spark, the marts (and the engagement events) it exported to the lake are read
  back into the DuckDB warehouse, so the experiment statistics, the publish step and its
  metadata read one warehouse whatever the engine;
- after publish on Spark, the salted marts of the snapshot are also written under the lake.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import duckdb

from connectors.streams import StreamSpec, Window
from dagster_project.lib import lake as lake_files
from dagster_project.lib import warehouse as duckdb_warehouse
from dagster_project.lib.crash_points import pause_point
from dagster_project.lib.dbt_manifest import MANIFEST
from dagster_project.lib.publish import SCHEMA as MARTS_SCHEMA
from dagster_project.lib.publish import open_snapshot
from dagster_project.lib.settings import Settings

EXPORTS = "exports"  # <lake>/exports/<schema>/<table>: what dbt on Spark hands back
LAKE_MARTS = "marts"  # <lake>/marts/<table>.parquet: the published marts, for lake readers


def is_spark(settings: Settings) -> bool:
    return settings.engine == "spark"


def load_stream(settings: Settings, spec: StreamSpec, pages: Iterable[list[dict]], window: Window | None):
    if is_spark(settings):
        return lake_files.load_stream(settings.lake, spec, pages, window)
    return duckdb_warehouse.load_stream(settings.warehouse, spec, pages, window)


def cursor_of(settings: Settings, spec: StreamSpec) -> datetime | None:
    if is_spark(settings):
        return lake_files.cursor_of(settings.lake, spec)
    return duckdb_warehouse.cursor_of(settings.warehouse, spec)


def ensure_raw_table(settings: Settings, spec: StreamSpec) -> None:
    """An empty raw table for a disabled source, so every downstream model stays valid."""
    if is_spark(settings):
        lake_files.ensure_lake_table(settings.lake, spec)
        return
    con = duckdb_warehouse.connect(settings.warehouse)
    try:
        con.execute("begin transaction")
        duckdb_warehouse.ensure_table(con, spec)
        con.execute("commit")
    finally:
        con.close()


def dbt_target(settings: Settings) -> str:
    """The profile's target for the engine: `dev` (DuckDB), `spark` (a local session) or `spark_cluster`."""
    if not is_spark(settings):
        return "dev"
    return "spark" if settings.spark_method == "session" else "spark_cluster"


def dbt_build_args(settings: Settings) -> list[str]:
    """Extra `dbt build` arguments of a refresh, whatever the engine."""
    # Unit tests prove the models' SQL, which a scheduled run does not change: dbt advises running them in
    # development and CI only. `make test` runs them on DuckDB (tests/e2e/test_pipeline.py) and on Spark (tests/spark/).
    return ["--exclude-resource-type", "unit_test"]


def parse_state_key(settings: Settings) -> str:
    """What dbt's profile is rendered from: each keeps its own partial-parse state (lib/dbt_manifest.py)."""
    warehouse = str(Path(settings.warehouse).resolve())
    if not is_spark(settings):
        return warehouse
    return f"{warehouse}|{dbt_target(settings)}|{lake_files.lake_root(settings.lake)}"


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Variables dbt reads from its profile and hooks; dbt runs in dbt_models/, so paths are absolute."""
    env = {"ENGAGEMENT_WAREHOUSE": str(Path(settings.warehouse).resolve())}
    if is_spark(settings):
        env["ENGAGEMENT_LAKE"] = str(lake_files.lake_root(settings.lake))
        env["ENGAGEMENT_LAKE_TABLES"] = json.dumps(lake_table_layouts(), sort_keys=True)
    return env


def lake_table_layouts() -> dict[str, str]:
    """`<source>/<stream>` -> `<partition column>:<fingerprint>` of every declared stream: dbt's
    on-run-start hook (macros/lake.sql) creates a stream's Spark table again only when it changed."""
    from connectors.registry import SOURCES

    layouts = {}
    for source in SOURCES:
        for spec in source.streams:
            partition = lake_files.partition_column(spec) or ""
            digest = hashlib.sha256(f"{spec.schema}|{partition}|_loaded_at".encode()).hexdigest()[:16]
            layouts[f"{spec.source}/{spec.name}"] = f"{partition}:{digest}"
    return layouts


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def contract_columns(manifest: Path = MANIFEST) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, table) -> [(column, DuckDB type)] of every model whose contract is declared: the
    column names, order and types BI users rely on, whichever engine built the model."""
    nodes = json.loads(Path(manifest).read_text())["nodes"].values()
    return {
        (node["schema"], node["alias"]): [(name, column["data_type"]) for name, column in node["columns"].items()]
        for node in nodes
        if node["resource_type"] == "model" and node["columns"]
        and all(column.get("data_type") for column in node["columns"].values())
    }


def _typed_select(schema: str, table: str, files: str, con: duckdb.DuckDBPyConnection,
                  contracts: Mapping[tuple[str, str], list[tuple[str, str]]]) -> str:
    contract = contracts.get((schema, table))
    if contract is None:
        return f"select * from read_parquet({files})"
    exported = {row[0] for row in con.execute(f"describe select * from read_parquet({files})").fetchall()}
    missing = [name for name, _ in contract if name not in exported]
    if missing:
        raise RuntimeError(f"{schema}.{table} built on Spark lacks the contract's column(s) {', '.join(missing)}")
    columns = ", ".join(f"cast({_ident(name)} as {data_type}) as {_ident(name)}" for name, data_type in contract)
    return f"select {columns} from read_parquet({files})"


def read_back_exports(settings: Settings, manifest: Path = MANIFEST, required: bool = True) -> dict[str, int]:
    """Replace the warehouse's copies of what dbt on Spark exported (`<lake>/exports/<schema>/<table>`)
    in one transaction, each mart cast to its contract's columns and DuckDB types (the serving
    snapshot then has one schema whatever the engine); returns rows per `schema.table`.
    `required`: the run built marts, so finding no export is an error (a run of some staging
    models alone may have none)."""
    exports = lake_files.lake_root(settings.lake) / EXPORTS
    tables = sorted((d.parent.name, d.name) for d in exports.glob("*/*") if d.is_dir())
    if not tables:
        if not required:
            return {}
        raise RuntimeError(f"ENGAGEMENT_LAKE {exports.parent}: dbt on Spark exported no marts to {exports}")
    contracts = contract_columns(manifest)
    con = duckdb_warehouse.connect(settings.warehouse)
    rows: dict[str, int] = {}
    try:
        con.execute("begin transaction")
        try:
            for schema, table in tables:
                files = _literal(str(exports / schema / table / "*.parquet"))
                con.execute(f"create schema if not exists {_ident(schema)}")
                select = _typed_select(schema, table, files, con, contracts)
                con.execute(f"create or replace table {_ident(schema)}.{_ident(table)} as {select}")
                rows[f"{schema}.{table}"] = con.execute(f"select count(*) from {_ident(schema)}.{_ident(table)}").fetchone()[0]
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.close()
    return rows


def write_lake_marts(settings: Settings) -> Path:
    """The published (salted) marts as Parquet, `<lake>/marts/<table>.parquet`, swapped in whole.

    The folder is a symbolic link to a version folder, replaced by one atomic rename after every
    file is written: lake readers see the previous publish or this one, never a mixture."""
    root = lake_files.lake_root(settings.lake)
    path = root / LAKE_MARTS
    root.mkdir(parents=True, exist_ok=True)
    version = root / f".{LAKE_MARTS}.v-{uuid.uuid4().hex[:12]}"
    version.mkdir()
    try:
        con = open_snapshot(settings.serving)
        try:
            tables = [r[0] for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = ? order by 1", [MARTS_SCHEMA]).fetchall()]
            for table in tables:
                target = _literal(str(version / f"{table}.parquet"))
                con.execute(f"copy {MARTS_SCHEMA}.{_ident(table)} to {target} (format parquet, compression zstd)")
        finally:
            con.close()
        if path.exists() and not path.is_symlink():
            raise lake_files.LakeError(f"ENGAGEMENT_LAKE: {path} is a folder the publisher did not write; move it away")
        pause_point("lake_marts_swap", path)
        lake_files.swap_in(path, version)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    lake_files.remove_unused_versions(path)
    return path


def lake_mart_rows(lake: str | os.PathLike) -> dict[str, int]:
    path = lake_files.lake_root(lake) / LAKE_MARTS
    with duckdb.connect(":memory:") as con:
        return {f.stem: con.execute(f"select count(*) from read_parquet({_literal(str(f))})").fetchone()[0]
                for f in sorted(path.glob("*.parquet"))}
