"""Shared pieces of the reliability suite: a small world, a clean run to compare with, digests.

"Equal to a clean run" means equal digests: per table, the row count and a sha256 over every
row in a fixed order, with `_loaded_at` left out (it records when, not what).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from connectors.sandbox.world import World, WorldConfig
from tests.conftest import shared_refresh

pytestmark = pytest.mark.slow

# Small enough that a whole refresh is mostly Dagster's and dbt's fixed cost; messy all the same.
RELIABILITY_WORLD = WorldConfig(seed=11, people=120, days=14)
IGNORED_COLUMNS = {"_loaded_at"}


@pytest.fixture(scope="session")
def small_world() -> World:
    return World(RELIABILITY_WORLD)


def table_digests(path: Path | str, schemas: tuple[str, ...] = ("raw_%", "marts")) -> dict[str, tuple[int, str]]:
    """{schema.table: (rows, sha256 of all rows ordered by every column)} for tables in `schemas` (LIKE patterns)."""
    out: dict[str, tuple[int, str]] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        where = " or ".join("table_schema like ?" for _ in schemas)
        tables = con.execute(
            f"select table_schema, table_name from information_schema.tables where ({where}) order by 1, 2", list(schemas)
        ).fetchall()
        for schema, name in tables:
            columns = [
                c for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, name],
                ).fetchall()
                if c not in IGNORED_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'select {select} from "{schema}"."{name}" order by {select}').fetchall()
            out[f"{schema}.{name}"] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def snapshot_digests(serving: Path | str) -> dict[str, tuple[int, str]]:
    """Digests of the marts in a serving snapshot (snapshot_info says when it was made: left out)."""
    return {k: v for k, v in table_digests(serving, ("marts",)).items() if k != "marts.snapshot_info"}


def file_sha256(path: Path | str) -> str | None:
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None


@pytest.fixture(scope="session")
def clean_run(small_world, tmp_path_factory, dbt_manifest) -> dict:
    """One fault-free refresh of the small world's whole window: what every faulty run must equal.
    Made once for all workers (tests/conftest.py): tests copy its files, or open them read-only."""
    root = shared_refresh(tmp_path_factory, "clean_run", small_world)
    return {
        "root": root,
        "warehouse": root / "engagement.duckdb",
        "serving": root / "serving.duckdb",
        "warehouse_digests": table_digests(root / "engagement.duckdb"),
        "snapshot_digests": snapshot_digests(root / "serving.duckdb"),
    }
