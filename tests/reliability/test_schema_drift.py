"""Schema drift: a raw column new to an existing warehouse is added in place; a mart that drifts fails its contract.

(a) A warehouse written by an older connector (a raw column missing) is refreshed by the current
one: the column is added, no stored row is lost, and the marts equal a clean run's.
(b) A mart whose SQL stops producing a contracted column, or changes its type, fails `dbt build`
with dbt's contract error naming the column, and the published table is left as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from connectors.sandbox.server import SandboxServer
from tests.conftest import point_pipeline_at
from tests.reliability.conftest import snapshot_digests, table_digests

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_a_warehouse_from_an_older_connector_gains_the_new_column_and_keeps_every_row(small_world, clean_run, tmp_path, monkeypatch):
    from dagster_project.cli import run_refresh

    warehouse = tmp_path / "engagement.duckdb"
    shutil.copy(clean_run["warehouse"], warehouse)
    with duckdb.connect(str(warehouse)) as con:  # what an older connector version wrote: no bookmark_count yet
        con.execute("alter table raw_x.posts drop column bookmark_count")
        rows_before = con.execute("select count(*) from raw_x.posts").fetchone()[0]
    with SandboxServer(small_world) as sandbox:
        point_pipeline_at(monkeypatch, sandbox, tmp_path)
        report = run_refresh(small_world.start, small_world.end)
    assert report.success, report.failures
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw_x' and table_name = 'posts'").fetchall()]
        rows_after = con.execute("select count(*) from raw_x.posts").fetchone()[0]
    assert "bookmark_count" in columns and rows_after == rows_before
    # the added column sits last, so compare raw_x.posts in the clean layout's column order
    after = table_digests(warehouse)
    assert {k: v for k, v in after.items() if k != "raw_x.posts"} == {
        k: v for k, v in clean_run["warehouse_digests"].items() if k != "raw_x.posts"}
    order = "post_id, snapshot_date, observed_at, created_at, text, conversation_id, urls, like_count, reply_count, " \
            "retweet_count, quote_count, bookmark_count, impression_count"
    query = f"select {order} from raw_x.posts order by all"
    with duckdb.connect(str(warehouse), read_only=True) as new, duckdb.connect(str(clean_run["warehouse"]), read_only=True) as old:
        assert new.execute(query).fetchall() == old.execute(query).fetchall()
    assert snapshot_digests(tmp_path / "serving.duckdb") == clean_run["snapshot_digests"]


@pytest.mark.parametrize("change, named", [
    (("as channels,", "as channel_list,"), "channels"),
    (("min(seen.first_seen_at) as first_seen_at", "cast(min(seen.first_seen_at) as varchar) as first_seen_at"), "first_seen_at"),
], ids=["renamed-column", "retyped-column"])
def test_a_mart_whose_columns_drift_fails_its_contract_and_keeps_the_old_table(clean_run, tmp_path, change, named):
    project = tmp_path / "dbt_models"
    shutil.copytree(REPO / "dbt_models", project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "marts" / "dim_campaign.sql"
    old, new = change
    assert old in model.read_text()
    model.write_text(model.read_text().replace(old, new))
    warehouse = tmp_path / "engagement.duckdb"
    shutil.copy(clean_run["warehouse"], warehouse)
    before = table_digests(warehouse, ("marts",))["marts.dim_campaign"]

    env = {**os.environ, "ENGAGEMENT_WAREHOUSE": str(warehouse)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--select", "dim_campaign", "--project-dir", str(project),
         "--profiles-dir", str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode != 0
    assert "contract" in output.lower() and named in output
    assert table_digests(warehouse, ("marts",))["marts.dim_campaign"] == before
