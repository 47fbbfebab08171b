"""Incremental dbt models give the same marts as a full rebuild.

Two refreshes like a first backfill and a later daily run with its lookback ([start, start+10d),
then [start+14d, end), whose 7-day lookback overlaps the first) build the incremental models
incrementally; `dbt build --full-refresh` of the same warehouse then rebuilds them from scratch.
Every mart and every incremental model must be identical row for row, and the second build must
really have been incremental (the rows of sends outside the second window kept, not recomputed).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.sandbox.server import SandboxServer
from dagster_project.cli import run_refresh
from dagster_project.defs.transform import DBT_PROJECT_DIR
from tests.conftest import point_pipeline_at
from tests.e2e.test_pipeline import MARTS

pytestmark = pytest.mark.slow

KEPT_MARK = datetime(2000, 1, 1)  # a _loaded_at no load ever has

INCREMENTAL = {
    "staging.stg_mailchimp__email_activities": "activity_id",
    "staging.stg_mailchimp__recipients": "campaign_id, email_id",
    "intermediate.int_email__recipient_sends": "campaign_id, email",
}


def digests(path: Path) -> dict[str, tuple[int, str]]:
    tables = {f"marts.{m}": grain for m, grain in MARTS.items()} | INCREMENTAL
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for table, grain in tables.items():
            # _loaded_at says when a row was built, not what it holds
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema || '.' || table_name = ? "
                "and column_name != '_loaded_at' order by ordinal_position", [table]).fetchall()]
            rows = con.execute(f"select {', '.join(columns)} from {table} order by {grain}").fetchall()
            out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def test_incremental_builds_equal_a_full_rebuild(world, tmp_path, dbt_manifest):
    middle = world.start + timedelta(days=10)
    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, tmp_path)
        first = run_refresh(world.start, middle)
        assert first.success, first.failures
        with duckdb.connect(str(tmp_path / "engagement.duckdb")) as con:
            (first_built,) = con.execute("select max(_loaded_at) from intermediate.int_email__recipient_sends").fetchone()
            # mark the first build's rows, all but one campaign's (they keep the watermark): a rebuilt
            # campaign loses the mark, a kept one keeps it. _loaded_at is left out of the digests.
            con.execute("update intermediate.int_email__recipient_sends set _loaded_at = ? "
                        "where campaign_id != (select min(campaign_id) from intermediate.int_email__recipient_sends)",
                        [KEPT_MARK])
        # its lookback reaches back to day 7: the sends of days 0-3 are not fetched again
        second = run_refresh(middle + timedelta(days=4), world.end)
        assert second.success, second.failures
    warehouse = tmp_path / "engagement.duckdb"
    incremental = digests(warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept, rebuilt = con.execute(
            "select count(*) filter (where _loaded_at = ?), count(*) filter (where _loaded_at > ?) "
            "from intermediate.int_email__recipient_sends", [KEPT_MARK, first_built]).fetchone()
    assert kept > 0 and rebuilt > 0, "the second build kept the first window's sends and recomputed the rest"

    env = {**os.environ, "ENGAGEMENT_WAREHOUSE": str(warehouse.resolve())}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run([str(dbt), "build", "--full-refresh", "--quiet", "--target-path", str(tmp_path / "target"),
                    "--log-path", str(tmp_path / "logs")], cwd=DBT_PROJECT_DIR, env=env, check=True)
    full = digests(warehouse)
    assert all(rows for rows, _ in full.values())
    assert incremental == full
